import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareVersions, parseDottedVersion } from '../../src/firmware/version-order.js';

describe('firmware version order', () => {
  it('orders dotted numbers numerically, component by component', () => {
    assert.equal(compareVersions('1.10', '1.9'), 1);
    assert.equal(compareVersions('1.9', '1.10'), -1);
    assert.equal(compareVersions('2', '1.99.99'), 1);
    assert.equal(compareVersions('1.2', '1.2.0'), 0);
    assert.equal(compareVersions('1.2.0.1', '1.2'), 1);
    assert.equal(compareVersions('01.02', '1.2'), 0);
  });

  it('does not order anything else', () => {
    for (const v of ['', 'v1.2', '1.2-beta', '1..2', '.1', '1.', ' 1', '1.2.x', '1'.repeat(16)])
      assert.equal(compareVersions(v, '1.0'), undefined, v);
    assert.equal(parseDottedVersion('1.2.3')?.join(','), '1,2,3');
  });

  it('is a total order on dotted versions (antisymmetric and transitive)', () => {
    const version = fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 4 }).map((a) => a.join('.'));
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        const ab = compareVersions(a, b)!;
        assert.equal(compareVersions(b, a), ab === 0 ? 0 : -ab);
        if (ab <= 0 && compareVersions(b, c)! <= 0) assert.ok(compareVersions(a, c)! <= 0);
      }),
      { numRuns: 300 },
    );
  });
});
