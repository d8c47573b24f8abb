import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { verifySign1 } from '../../src/firmware/cose-sign1.js';
import { FirmwarePackageError } from '../../src/firmware/firmware-package-error.js';
import { decodeManifest } from '../../src/firmware/manifest.js';
import { buildPackage, inspectPackage, MAX_HEADER_BYTES } from '../../src/firmware/package-envelope.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = new Uint8Array(500).map((_, i) => i & 255);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('firmware package envelope', () => {
  it('lays out marker, layout version, kind, header length, header, image', () => {
    const pkg = buildPackage(IMAGE, { version: '1.0.0' }, keys.privateKey);
    assert.equal(hex(pkg.subarray(0, 10)), '895046570d0a1a0a' + '01' + '01');
    const length = new DataView(pkg.buffer, pkg.byteOffset).getUint32(10);
    const header = pkg.subarray(14, 14 + length);
    assert.equal(header[0], 0xd2, 'the header is a tagged COSE_Sign1');
    const manifest = decodeManifest(verifySign1(header, [keys.publicKey]).payload);
    assert.equal(hex(manifest.digest), createHash('sha256').update(IMAGE).digest('hex'));
    assert.deepEqual(pkg.subarray(14 + length), IMAGE);
    const unsigned = buildPackage(IMAGE, { version: '1.0.0' });
    assert.equal(unsigned[9], 2, 'an unsigned package says so in its kind byte');
    assert.ok(unsigned.length < pkg.length);
  });

  it('inspects a package without trusting it', () => {
    const pkg = buildPackage(IMAGE, { version: '3', name: 'n', installHints: { slot: 1 } }, keys.privateKey, {
      kid: Buffer.from('k1'),
    });
    const info = inspectPackage(pkg);
    assert.equal(info.kind, 'package');
    if (info.kind !== 'package') return;
    assert.equal(info.signed, true);
    assert.equal(info.alg, -7);
    assert.equal(Buffer.from(info.kid!).toString(), 'k1');
    assert.equal(info.imageOffset, 14 + info.headerBytes);
    assert.equal(info.imageBytes, IMAGE.length);
    assert.equal(info.manifest.version, '3');
    assert.deepEqual(info.manifest.installHints, { slot: 1 });
    assert.equal(info.digestMatches, true);
    assert.equal(info.sizeMatches, true);
    const tampered = pkg.slice();
    tampered[tampered.length - 1]! ^= 1;
    const t = inspectPackage(tampered);
    assert.ok(t.kind === 'package' && !t.digestMatches && t.sizeMatches);
    const cut = inspectPackage(pkg.subarray(0, pkg.length - 1));
    assert.ok(cut.kind === 'package' && !cut.sizeMatches);
  });

  it('calls anything without the marker a plain image', () => {
    assert.deepEqual(inspectPackage(IMAGE), { kind: 'plain', imageBytes: IMAGE.length });
    assert.deepEqual(inspectPackage(new Uint8Array(0)), { kind: 'plain', imageBytes: 0 });
  });

  it('throws typed errors for packages it cannot read', () => {
    const pkg = buildPackage(IMAGE, { version: '1' }, keys.privateKey);
    const reasonOf = (bytes: Uint8Array): string => {
      try {
        inspectPackage(bytes);
      } catch (e) {
        assert.ok(e instanceof FirmwarePackageError);
        return e.reason;
      }
      return 'none';
    };
    assert.equal(reasonOf(pkg.subarray(0, 12)), 'envelope');
    assert.equal(reasonOf(pkg.subarray(0, 40)), 'envelope');
    const garbled = pkg.slice();
    garbled[15] = 0xff;
    assert.equal(reasonOf(garbled), 'manifest');
    assert.throws(
      () => buildPackage(IMAGE, { version: '1' }, generateKeyPairSync('ed25519').privateKey),
      (e: unknown) => e instanceof FirmwarePackageError && e.reason === 'algorithm',
    );
    assert.equal(MAX_HEADER_BYTES, 16384);
  });

  it('throws nothing but FirmwarePackageError on mutated packages and random bytes', () => {
    const pkg = buildPackage(
      IMAGE.subarray(0, 40),
      { version: '1', installHints: { a: 1 } },
      keys.privateKey,
      {
        kid: Uint8Array.of(1),
      },
    );
    const typedOnly = (bytes: Uint8Array): void => {
      try {
        inspectPackage(bytes);
      } catch (e) {
        assert.ok(e instanceof FirmwarePackageError, String(e));
      }
      try {
        decodeManifest(bytes);
      } catch (e) {
        assert.ok(e instanceof FirmwarePackageError, String(e));
      }
      try {
        verifySign1(bytes.subarray(14), [keys.publicKey]);
      } catch (e) {
        assert.ok(e instanceof FirmwarePackageError, String(e));
      }
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
        (flips) => {
          const m = pkg.slice();
          for (const [at, xor] of flips) m[at % m.length]! ^= xor;
          typedOnly(m);
        },
      ),
      { numRuns: 500 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), typedOnly), { numRuns: 500 });
  });
});
