import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DownloadGrants } from '../../../src/server/firmware/download-grants.js';

const IMAGE = 'a'.repeat(64);

describe('DownloadGrants', () => {
  it('a token opens one image until it expires or is revoked', () => {
    let now = 1000;
    const grants = new DownloadGrants({ lifetime: 500, now: () => now });
    const g = grants.issue(IMAGE, 'dev-1');
    assert.match(g.token, /^[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(grants.check(IMAGE, g.token), {
      token: g.token,
      imageId: IMAGE,
      endpoint: 'dev-1',
      expiresAt: 1500,
    });
    assert.equal(grants.check('b'.repeat(64), g.token), undefined, 'another image');
    assert.equal(grants.check(IMAGE, undefined), undefined);
    assert.equal(grants.check(IMAGE, `${g.token}x`), undefined);
    now = 1500;
    assert.equal(grants.check(IMAGE, g.token), undefined, 'expired');
    assert.equal(grants.size, 0, 'an expired token is dropped when met');
    const h = grants.issue(IMAGE, 'dev-2');
    assert.equal(grants.revoke(h.token), true);
    assert.equal(grants.check(IMAGE, h.token), undefined);
  });

  it('keeps at most maxGrants, the oldest going first; revokeImage drops an image', () => {
    const grants = new DownloadGrants({ maxGrants: 3 });
    const tokens = [1, 2, 3, 4].map((i) => grants.issue(IMAGE, `dev-${i}`).token);
    assert.equal(grants.size, 3);
    assert.equal(grants.check(IMAGE, tokens[0]), undefined);
    assert.equal(grants.check(IMAGE, tokens[3])?.endpoint, 'dev-4');
    assert.equal(new Set(tokens).size, 4, 'distinct tokens');
    grants.issue('c'.repeat(64), 'dev-5');
    grants.revokeImage(IMAGE);
    assert.equal(grants.size, 1);
  });
});
