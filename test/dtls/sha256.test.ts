import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { HmacSha256Key, Sha256, hmacSha256, sha256 } from '../../src/dtls/sha256.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeSha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const nodeHmac = (k: Uint8Array, b: Uint8Array): string => createHmac('sha256', k).update(b).digest('hex');

test('SHA-256 of the FIPS 180-4 examples', () => {
  const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
  assert.equal(hex(sha256(ascii(''))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(sha256(ascii('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(
    hex(sha256(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
});

test('HMAC-SHA256 of RFC 4231 test case 2', () => {
  const key = new TextEncoder().encode('Jefe');
  const data = new TextEncoder().encode('what do ya want for nothing?');
  assert.equal(
    hex(hmacSha256(key, data)),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('SHA-256 agrees with node:crypto at every length around the block boundaries', () => {
  for (let n = 0; n <= 300; n++) {
    const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
    assert.equal(hex(sha256(data)), nodeSha(data), `length ${n}`);
  }
});

test('a running hash fed in any split agrees with node:crypto, and digest does not end it', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 150 }), { maxLength: 8 }), (parts) => {
      const running = new Sha256();
      const node = createHash('sha256');
      for (const p of parts) {
        running.update(p);
        node.update(p);
        assert.equal(hex(running.digest()), node.copy().digest('hex'));
      }
      const copy = running.copy().update(Uint8Array.of(1));
      assert.equal(hex(copy.digest()), node.copy().update(Uint8Array.of(1)).digest('hex'));
      assert.equal(hex(running.digest()), node.digest('hex'), 'the copy did not change the original');
    }),
    { numRuns: 300 },
  );
});

test('HMAC-SHA256 agrees with node:crypto for keys shorter than, equal to and longer than a block', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 140 }),
      fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 4 }),
      (key, parts) => {
        const joined = Buffer.concat(parts);
        const expected = nodeHmac(key, joined);
        assert.equal(hex(hmacSha256(key, ...parts)), expected);
        const reused = new HmacSha256Key(key);
        assert.equal(hex(reused.mac(...parts)), expected);
        assert.equal(hex(reused.mac(...parts)), expected, 'a key gives the same MAC every time');
      },
    ),
    { numRuns: 300 },
  );
});
