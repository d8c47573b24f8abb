// PackageStream.checkpoint: what a download needs to resume in another process (the envelope
// before the image), and packageVerifier's currentVersion asked at every begin().
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildPackage } from '../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../src/firmware/package-verifier.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
const PACKAGE = buildPackage(IMAGE, { version: '2.0.0', deviceClass: 'c1' }, keys.privateKey);
const verifier = packageVerifier({
  trustAnchors: [keys.publicKey],
  deviceClass: 'c1',
  requireSignature: true,
});

describe('PackageStream.checkpoint', () => {
  it('undefined before the image, the envelope after; replayed with the stored image it resumes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PACKAGE.length }), (cut) => {
        const first = verifier.begin();
        const stored = first.push(PACKAGE.subarray(0, cut));
        const checkpoint = first.checkpoint?.();
        const envelope = PACKAGE.length - IMAGE.length;
        if (cut < envelope) {
          assert.equal(checkpoint, undefined);
          return;
        }
        assert.deepEqual(checkpoint, PACKAGE.subarray(0, envelope));
        assert.deepEqual(stored, IMAGE.subarray(0, cut - envelope));
        // Another process: envelope, then the stored image, then the rest of the transfer.
        const next = verifier.begin();
        assert.equal(next.push(checkpoint).length, 0, 'the envelope yields no image');
        next.push(stored);
        assert.deepEqual(next.push(PACKAGE.subarray(cut)), IMAGE.subarray(cut - envelope));
        assert.equal(next.end().ok, true);
      }),
      { numRuns: 60 },
    );
  });

  it('stored bytes that changed while the device was off fail the digest', () => {
    const first = verifier.begin();
    const stored = first.push(PACKAGE.subarray(0, 2000)).slice();
    stored[stored.length - 1]! ^= 0xff;
    const next = verifier.begin();
    next.push(first.checkpoint!()!);
    next.push(stored);
    next.push(PACKAGE.subarray(2000));
    const verdict = next.end();
    assert.equal(verdict.ok, false);
    assert.equal(!verdict.ok && verdict.phase, 'digest');
  });

  it('the replayed envelope is checked again: another trust anchor refuses it', () => {
    const first = verifier.begin();
    first.push(PACKAGE.subarray(0, 1000));
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const next = packageVerifier({ trustAnchors: [other.publicKey] }).begin();
    next.push(first.checkpoint!()!);
    assert.equal(next.checkpoint?.(), undefined, 'refused: nothing to resume');
    const verdict = next.end();
    assert.equal(!verdict.ok && verdict.phase, 'signature');
  });

  it('a plain image checkpoints as empty', () => {
    const plain = packageVerifier().begin();
    plain.push(Uint8Array.of(1, 2, 3));
    assert.deepEqual(plain.checkpoint?.(), new Uint8Array(0));
  });
});

describe('packageVerifier currentVersion as a function', () => {
  it('is asked at every begin(): after an install the old package is a downgrade', () => {
    let running = '1.0.0';
    const v = packageVerifier({ trustAnchors: [keys.publicKey], currentVersion: () => running });
    const run = () => {
      const s = v.begin();
      s.push(PACKAGE);
      return s.end();
    };
    assert.equal(run().ok, true);
    running = '2.1.0';
    const verdict = run();
    assert.equal(!verdict.ok && verdict.phase, 'version');
  });
});
