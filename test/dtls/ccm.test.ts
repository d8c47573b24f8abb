import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { CCM8_TAG_LENGTH, Ccm8Key, MAX_KEYS_WITH_CONTEXTS } from '../../src/dtls/ccm.js';

function nodeSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, p: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
  if (aad.length > 0) c.setAAD(aad, { plaintextLength: p.length });
  const body = c.update(p);
  c.final();
  return Buffer.concat([body, c.getAuthTag()]);
}

function seal(k: Ccm8Key, nonce: Uint8Array, aad: Uint8Array, p: Uint8Array): Buffer {
  const out = Buffer.alloc(p.length + CCM8_TAG_LENGTH);
  k.seal(nonce, aad, p, out);
  return out;
}

const key16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const nonce12 = fc.uint8Array({ minLength: 12, maxLength: 12 });
/** Key, nonce, AAD and plaintext of a CCM_8 case. */
const ccmCase = fc.tuple(key16, nonce12, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }));

test('a record-sized case (13-byte AAD, 23-byte payload) agrees with node:crypto', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => i);
  const aad = Uint8Array.from({ length: 13 }, (_, i) => 0x10 + i);
  const p = new TextEncoder().encode('21.5 degrees and rising');
  assert.equal(
    seal(new Ccm8Key(key), nonce, aad, p).toString('hex'),
    nodeSeal(key, nonce, aad, p).toString('hex'),
  );
});

test('seal agrees with node:crypto and open returns the plaintext, at every length and AAD size', () => {
  fc.assert(
    fc.property(ccmCase, ([key, nonce, aad, p]) => {
      const k = new Ccm8Key(key);
      const sealed = seal(k, nonce, aad, p);
      assert.equal(sealed.toString('hex'), nodeSeal(key, nonce, aad, p).toString('hex'));
      assert.deepEqual(k.open(nonce, aad, sealed), p);
      // Opened where it lies inside a larger buffer: the same plaintext.
      const around = new Uint8Array(5 + sealed.length + 3).fill(0xee);
      around.set(sealed, 5);
      assert.deepEqual(k.open(nonce, aad, around, 5, 5 + sealed.length), p);
      // node:crypto opens what we sealed.
      const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
      d.setAuthTag(sealed.subarray(p.length));
      if (aad.length > 0) d.setAAD(aad, { plaintextLength: p.length });
      const plain = d.update(sealed.subarray(0, p.length));
      d.final();
      assert.deepEqual(new Uint8Array(plain), p);
    }),
    { numRuns: 400 },
  );
});

test('sealing in place (the plaintext already where its ciphertext goes) gives the same record', () => {
  fc.assert(
    fc.property(ccmCase, ([key, nonce, aad, p]) => {
      const k = new Ccm8Key(key);
      const at = 5;
      const wire = new Uint8Array(at + p.length + CCM8_TAG_LENGTH + 3).fill(0xee);
      wire.set(p, at);
      k.seal(nonce, aad, wire.subarray(at, at + p.length), wire, at);
      assert.equal(
        Buffer.from(wire.subarray(at, at + p.length + CCM8_TAG_LENGTH)).toString('hex'),
        nodeSeal(key, nonce, aad, p).toString('hex'),
      );
      assert.deepEqual(
        [...wire.subarray(0, at), ...wire.subarray(at + p.length + CCM8_TAG_LENGTH)],
        Array(at + 3).fill(0xee),
      );
    }),
    { numRuns: 200 },
  );
});

test('open refuses any changed bit of ciphertext, tag, nonce or AAD', () => {
  fc.assert(
    fc.property(
      key16,
      nonce12,
      fc.uint8Array({ minLength: 1, maxLength: 30 }),
      fc.uint8Array({ maxLength: 60 }),
      fc.nat(),
      fc.constantFrom('sealed', 'nonce', 'aad'),
      (key, nonce, aad, p, where, what) => {
        const k = new Ccm8Key(key);
        const sealed = seal(k, nonce, aad, p);
        const target =
          what === 'sealed' ? sealed : what === 'nonce' ? Uint8Array.from(nonce) : Uint8Array.from(aad);
        target[where % target.length]! ^= 1 << (where % 8);
        assert.equal(
          k.open(
            what === 'nonce' ? target : nonce,
            what === 'aad' ? target : aad,
            what === 'sealed' ? target : sealed,
          ),
          undefined,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('keys used in turn, and keys whose contexts were dropped, still agree with node:crypto', () => {
  const keys = Array.from({ length: MAX_KEYS_WITH_CONTEXTS + 50 }, (_, i) =>
    Uint8Array.from({ length: 16 }, (_, j) => (i * 7 + j) & 0xff),
  );
  const ccm = keys.map((k) => new Ccm8Key(k));
  const nonce = new Uint8Array(12).fill(3);
  const aad = new Uint8Array(13).fill(9);
  // Twice round: the second pass finds the first keys' contexts dropped (bounded) and remade.
  for (let round = 0; round < 2; round++)
    for (const [i, k] of ccm.entries()) {
      if (i % 97 !== 0 && i < ccm.length - 3) continue;
      const p = Uint8Array.from({ length: 20 + (i % 17) }, (_, j) => j + round);
      assert.equal(seal(k, nonce, aad, p).toString('hex'), nodeSeal(keys[i]!, nonce, aad, p).toString('hex'));
    }
  // Interleaved use of a few keys: each context's chaining carries over correctly.
  for (let n = 0; n < 50; n++) {
    const i = (n * 13) % 5;
    const p = Uint8Array.from({ length: n }, (_, j) => j);
    assert.equal(
      seal(ccm[i]!, nonce, aad, p).toString('hex'),
      nodeSeal(keys[i]!, nonce, aad, p).toString('hex'),
    );
  }
});

test('a key whose contexts were released seals and opens as before', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i * 3);
  const k = new Ccm8Key(key);
  const nonce = new Uint8Array(12).fill(1);
  const aad = new Uint8Array(13).fill(2);
  const p = new TextEncoder().encode('after release');
  const before = seal(k, nonce, aad, p);
  k.release();
  k.release(); // twice is harmless
  assert.equal(seal(k, nonce, aad, p).toString('hex'), before.toString('hex'));
  assert.deepEqual(k.open(nonce, aad, before), p);
  assert.equal(before.toString('hex'), nodeSeal(key, nonce, aad, p).toString('hex'));
});

test('nonces in sequence (keystreams made ahead) agree with node:crypto, with gaps, repeats and long records', () => {
  fc.assert(
    fc.property(
      key16,
      fc.uint8Array({ minLength: 6, maxLength: 6 }),
      fc.integer({ min: 0, max: 2 ** 48 - 40 }),
      fc.array(
        fc.record({ step: fc.constantFrom(1, 1, 1, 1, 0, 2, -3), length: fc.nat(200), open: fc.boolean() }),
        {
          minLength: 1,
          maxLength: 40,
        },
      ),
      (key, prefix, start, steps) => {
        const k = new Ccm8Key(key);
        const aad = new Uint8Array(13).fill(4);
        let counter = start;
        for (const { step, length, open } of steps) {
          counter = Math.max(0, counter + step);
          const nonce = new Uint8Array(12);
          nonce.set(prefix);
          nonce[6] = Math.floor(counter / 2 ** 40) & 0xff;
          nonce[7] = Math.floor(counter / 2 ** 32) & 0xff;
          nonce[8] = (counter >>> 24) & 0xff;
          nonce[9] = (counter >>> 16) & 0xff;
          nonce[10] = (counter >>> 8) & 0xff;
          nonce[11] = counter & 0xff;
          const p = Uint8Array.from({ length }, (_, i) => (i * 7 + counter) & 0xff);
          const expected = nodeSeal(key, nonce, aad, p);
          if (open) assert.deepEqual(k.open(nonce, aad, expected), p);
          else assert.equal(seal(k, nonce, aad, p).toString('hex'), expected.toString('hex'));
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('a nonce or key of the wrong size is a RangeError', () => {
  assert.throws(() => new Ccm8Key(new Uint8Array(15)), RangeError);
  const k = new Ccm8Key(new Uint8Array(16));
  assert.throws(
    () => k.seal(new Uint8Array(8), new Uint8Array(), new Uint8Array(), new Uint8Array(8)),
    RangeError,
  );
});
