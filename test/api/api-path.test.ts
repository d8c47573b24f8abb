import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiError } from '../../src/api/api-errors.js';
import { API_ACTIONS, RESERVED_WORDS, formatApiPath, parseApiPath } from '../../src/api/api-path.js';
import { LwM2mPath } from '../../src/model/path.js';

function parsed(suffix: string): { path: string; prefix: string | undefined; action: string | undefined } {
  const { path, action } = parseApiPath(suffix);
  return { path: path.toString(), prefix: path.prefix, action };
}

function badPath(suffix: string, pattern?: RegExp): void {
  assert.throws(
    () => parseApiPath(suffix),
    (e: unknown) => {
      assert.ok(e instanceof ApiError, `ApiError for ${JSON.stringify(suffix)}`);
      assert.equal(e.code, 'BAD_PATH');
      assert.equal(e.status, 400);
      if (pattern) assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('parseApiPath', () => {
  it('reads plain paths of every depth', () => {
    assert.deepEqual(parsed('3'), { path: '/3', prefix: undefined, action: undefined });
    assert.deepEqual(parsed('3/0'), { path: '/3/0', prefix: undefined, action: undefined });
    assert.deepEqual(parsed('3/0/7'), { path: '/3/0/7', prefix: undefined, action: undefined });
    assert.deepEqual(parsed('3/0/7/1'), { path: '/3/0/7/1', prefix: undefined, action: undefined });
  });

  it('splits off a trailing action word', () => {
    for (const action of API_ACTIONS)
      assert.deepEqual(parsed(`3303/0/5700/${action}`), { path: '/3303/0/5700', prefix: undefined, action });
  });

  it('reads a gateway prefix, with and without an action', () => {
    assert.deepEqual(parsed('dev1/3/0'), { path: '/dev1/3/0', prefix: 'dev1', action: undefined });
    assert.deepEqual(parsed('dev1/3/0/observe'), { path: '/dev1/3/0', prefix: 'dev1', action: 'observe' });
    // A prefix may be named like an action when ids follow: only the last word is an action.
    assert.deepEqual(parsed('observe/3/0'), { path: '/observe/3/0', prefix: 'observe', action: undefined });
    assert.deepEqual(parsed('dev1'), { path: '/dev1', prefix: 'dev1', action: undefined });
  });

  it('refuses a reserved word as a prefix and tells how to escape it', () => {
    for (const word of RESERVED_WORDS) badPath(`${word}/3/0`, new RegExp(`"~${word}"`));
  });

  it('unescapes one leading ~ of a prefix', () => {
    assert.deepEqual(parsed('~tags/3/0'), { path: '/tags/3/0', prefix: 'tags', action: undefined });
    assert.deepEqual(parsed('~composite/3/0/read'.replace('/read', '')), {
      path: '/composite/3/0',
      prefix: 'composite',
      action: undefined,
    });
    assert.deepEqual(parsed('~~x/3'), { path: '/~x/3', prefix: '~x', action: undefined });
    assert.deepEqual(parsed('~x/3'), { path: '/x/3', prefix: 'x', action: undefined });
    assert.deepEqual(parsed('~observe'), { path: '/observe', prefix: 'observe', action: undefined });
    assert.deepEqual(parsed('~observations/3/0/discover'), {
      path: '/observations/3/0',
      prefix: 'observations',
      action: 'discover',
    });
  });

  it('refuses malformed paths with a precise message', () => {
    badPath('', /no LwM2M path/);
    badPath('observe', /no LwM2M path before \/observe/);
    badPath('3/0/', /empty segment/);
    badPath('3//0', /empty segment/);
    badPath('3/x', /not an identifier/);
    badPath('3/0/1/2/3', /at most 4/);
    badPath('65535', /reserved/);
    badPath('70000', /larger than 65535/);
    badPath('03', /leading zeros/);
    badPath('~', /escapes a gateway prefix/);
    badPath('~3/0', /escapes a gateway prefix/);
    badPath('dev 1/3', /gateway prefix/);
    badPath('x'.repeat(600), /longer than/);
  });

  it('never throws anything but BAD_PATH on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        try {
          const { path } = parseApiPath(text);
          assert.ok(path instanceof LwM2mPath);
        } catch (e) {
          assert.ok(e instanceof ApiError);
          assert.equal(e.code, 'BAD_PATH');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('formatApiPath', () => {
  it('escapes reserved prefixes, ~ prefixes and lone action-named prefixes', () => {
    assert.equal(formatApiPath(LwM2mPath.parse('/3/0/9')), '3/0/9');
    assert.equal(formatApiPath(LwM2mPath.parse('/3/0/9'), 'observe'), '3/0/9/observe');
    assert.equal(formatApiPath(LwM2mPath.parse('/tags/3/0')), '~tags/3/0');
    assert.equal(formatApiPath(LwM2mPath.parse('/~x/3')), '~~x/3');
    assert.equal(formatApiPath(LwM2mPath.parse('/execute')), '~execute');
    assert.equal(formatApiPath(LwM2mPath.parse('/execute/3')), 'execute/3');
  });

  it('round-trips through parseApiPath (property)', () => {
    const prefix = fc.oneof(
      fc.constantFrom(...RESERVED_WORDS, ...API_ACTIONS, '~', '~~tags', 'dev1', '_x', '.-'),
      fc.stringMatching(/^[A-Za-z_~.-][A-Za-z0-9_~.-]{0,12}$/),
    );
    const ids = fc.array(fc.integer({ min: 0, max: 65534 }), { minLength: 0, maxLength: 4 });
    const action = fc.option(fc.constantFrom(...API_ACTIONS), { nil: undefined });
    fc.assert(
      fc.property(fc.option(prefix, { nil: undefined }), ids, action, (p, idList, act) => {
        fc.pre(p !== undefined || idList.length > 0);
        const path = new LwM2mPath(idList, p);
        const back = parseApiPath(formatApiPath(path, act));
        assert.ok(back.path.equals(path), `${path.toString()} came back as ${back.path.toString()}`);
        assert.equal(back.path.prefix, path.prefix);
        assert.equal(back.action, act);
      }),
      { numRuns: 1000 },
    );
  });
});
