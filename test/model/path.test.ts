import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidPathError, LwM2mPath } from '../../src/model/path.js';

describe('LwM2mPath', () => {
  it('parses every depth and formats it back', () => {
    for (const text of ['/', '/3', '/3/0', '/3/0/7', '/3/0/7/1', '/65534/65534/65534/65534']) {
      const p = LwM2mPath.parse(text);
      assert.equal(p.toString(), text);
      assert.equal(p.depth, text === '/' ? 0 : text.split('/').length - 1);
    }
    const p = LwM2mPath.parse('/3/0/7/1');
    assert.deepEqual([p.objectId, p.instanceId, p.resourceId, p.resourceInstanceId], [3, 0, 7, 1]);
    assert.ok(p.isResourceInstance());
  });

  it('reads a gateway prefix and an alternate path', () => {
    const gw = LwM2mPath.parse('/d01/3303/0');
    assert.equal(gw.prefix, 'd01');
    assert.deepEqual(gw.ids, [3303, 0]);
    assert.equal(gw.toString(), '/d01/3303/0');
    const alt = LwM2mPath.parse('/lwm2m/3/0', { alternatePath: '/lwm2m' });
    assert.equal(alt.alternatePath, '/lwm2m');
    assert.equal(alt.prefix, undefined);
    assert.equal(alt.toString(), '/3/0');
    assert.equal(alt.toUriPath(), '/lwm2m/3/0');
    const both = LwM2mPath.parse('/lwm2m/d01/3303/0', { alternatePath: '/lwm2m/' });
    assert.equal(both.prefix, 'd01');
    assert.equal(both.toUriPath(), '/lwm2m/d01/3303/0');
    assert.deepEqual(both.toSegments(), ['lwm2m', 'd01', '3303', '0']);
  });

  it('names the fault of an invalid path', () => {
    const cases: [string, string][] = [
      ['3/0', 'not-absolute'],
      ['/3//0', 'empty-segment'],
      ['/3/0/', 'empty-segment'],
      ['/3/65535', 'reserved-id'],
      ['/3/70000', 'out-of-range'],
      ['/1/2/3/4/5', 'too-deep'],
      ['/3/x', 'not-a-number'],
      ['/3/00', 'not-a-number'],
      ['/3/-1', 'not-a-number'],
    ];
    for (const [text, reason] of cases) {
      assert.throws(
        () => LwM2mPath.parse(text),
        (e: unknown) =>
          e instanceof InvalidPathError && e.reason === reason && e.code === 'PETREL_ERR_INVALID_PATH',
        text,
      );
    }
    assert.throws(() => LwM2mPath.parse('/3', { alternatePath: '/lwm2m/1' }), InvalidPathError);
  });

  it('orders and relates paths', () => {
    const a = LwM2mPath.of(3, 0);
    assert.ok(a.covers(LwM2mPath.of(3, 0, 7, 1)));
    assert.ok(!a.covers(LwM2mPath.of(3, 1)));
    assert.ok(LwM2mPath.ROOT.covers(a));
    assert.equal(a.append(9).toString(), '/3/0/9');
    assert.equal(a.parent().toString(), '/3');
    const sorted = ['/3/0/10', '/3/0/9', '/1', '/3']
      .map((s) => LwM2mPath.parse(s))
      .sort((a, b) => LwM2mPath.compare(a, b));
    assert.deepEqual(sorted.map(String), ['/1', '/3', '/3/0/9', '/3/0/10']);
  });
});
