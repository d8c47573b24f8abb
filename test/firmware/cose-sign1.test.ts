import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeSign1, sign1SigStructure, signManifest, verifySign1 } from '../../src/firmware/cose-sign1.js';
import { FirmwarePackageError } from '../../src/firmware/firmware-package-error.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

// A CBOR byte-string head written from RFC 8949 §3.1 (major type 2), independent of any encoder.
function bstrHead(length: number): string {
  if (length < 24) return (0x40 + length).toString(16).padStart(2, '0');
  if (length < 256) return '58' + length.toString(16).padStart(2, '0');
  return '59' + length.toString(16).padStart(4, '0');
}

// RFC 9052 §4.4: Sig_structure = [ "Signature1", body_protected, external_aad, payload ]
//   84                       array(4)
//   6a 5369676e617475726531  text(10) "Signature1"
//   43 a10126                bstr(3) << {1: -7} >>
//   40                       bstr(0) external_aad
//   <bstr head> payload
const expectedSigStructure = (payload: Uint8Array): string =>
  '84' +
  '6a' +
  Buffer.from('Signature1', 'ascii').toString('hex') +
  '43a10126' +
  '40' +
  bstrHead(payload.length) +
  hex(payload);

const es256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

// RFC 9052 Appendix C.2.1 (single ECDSA signature) with the example key "11" (Appendix C.7.1).
const RFC_KEY_11 = createPublicKey({
  key: {
    kty: 'EC',
    crv: 'P-256',
    x: 'usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8',
    y: 'IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4',
  },
  format: 'jwk',
});
const RFC_C21 = fromHex(
  'd2 84 43 a10126 a1 04 42 3131 54 546869732069732074686520636f6e74656e742e 5840' +
    '8eb33e4ca31d1c465ab05aac34cc6b23d58fef5c083106c4d25a91aef0b0117e' +
    '2af9a291aa32e14ab834dc56ed2a223444547e01f11d3b0916e5a4c345cacb36',
);

function refusedWith(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => e instanceof FirmwarePackageError && e.reason === reason);
}

describe('COSE_Sign1 ES256', () => {
  it('encodes the Sig_structure byte for byte as RFC 9052 §4.4 lays it out', () => {
    for (const size of [0, 5, 23, 24, 200, 255, 256, 1000]) {
      const payload = new Uint8Array(size).map((_, i) => (i * 7) & 255);
      assert.equal(hex(sign1SigStructure(fromHex('a10126'), payload)), expectedSigStructure(payload));
    }
  });

  it('verifies the RFC 9052 Appendix C.2.1 example and reads its kid', () => {
    const parts = verifySign1(RFC_C21, [RFC_KEY_11]);
    assert.equal(Buffer.from(parts.payload).toString(), 'This is the content.');
    assert.equal(Buffer.from(parts.kid!).toString(), '11');
    assert.equal(parts.alg, -7);
  });

  it('produces the hand-written layout, and its r||s verifies over the hand-written Sig_structure', () => {
    const { privateKey, publicKey } = es256();
    const payload = fromHex('a201020304');
    const bytes = signManifest(payload, privateKey);
    // d2 tag(18), 84 array(4), 43 a10126 protected, a0 {} unprotected, 45 payload, 5840 signature
    const head = 'd284' + '43a10126' + 'a0' + bstrHead(5) + hex(payload) + '5840';
    assert.equal(hex(bytes.subarray(0, head.length / 2)), head);
    const signature = bytes.subarray(head.length / 2);
    assert.equal(signature.length, 64);
    const ok = verify(
      'sha256',
      fromHex(expectedSigStructure(payload)),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      signature,
    );
    assert.equal(ok, true);
  });

  it('accepts a COSE_Sign1 assembled by hand with a kid', () => {
    const { privateKey, publicKey } = es256();
    const payload = new Uint8Array(40).fill(0x61);
    const sig = sign('sha256', fromHex(expectedSigStructure(payload)), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    const bytes = fromHex(
      'd284' + '43a10126' + 'a1' + '04' + '43' + '6b6579' + bstrHead(40) + hex(payload) + '5840' + hex(sig),
    );
    const parts = verifySign1(bytes, [publicKey]);
    assert.equal(hex(parts.kid!), '6b6579');
    assert.deepEqual(parts.payload, payload);
  });

  it('puts the kid in the unprotected header', () => {
    const { privateKey, publicKey } = es256();
    const bytes = signManifest(fromHex('01'), privateKey, fromHex('abcd'));
    assert.equal(hex(bytes.subarray(0, 12)), 'd28443a10126a10442abcd41');
    assert.equal(hex(verifySign1(bytes, [publicKey]).kid!), 'abcd');
  });

  it('tries every trust anchor and refuses when none verifies', () => {
    const a = es256();
    const b = es256();
    const bytes = signManifest(fromHex('01'), a.privateKey);
    assert.doesNotThrow(() => verifySign1(bytes, [b.publicKey, a.publicKey]));
    refusedWith(() => verifySign1(bytes, [b.publicKey]), 'signature');
    refusedWith(() => verifySign1(bytes, []), 'signature');
    const ed = generateKeyPairSync('ed25519');
    refusedWith(() => verifySign1(bytes, [ed.publicKey]), 'signature');
  });

  it('refuses other algorithms, critical headers and a signature of the wrong length', () => {
    const payload = fromHex('01');
    const sig64 = '5840' + '00'.repeat(64);
    // {1: -35} ES384
    refusedWith(() => decodeSign1(fromHex('d284' + '44a1013822' + 'a0' + '4101' + sig64)), 'algorithm');
    // {1: -8} EdDSA
    refusedWith(() => decodeSign1(fromHex('d284' + '43a10127' + 'a0' + '4101' + sig64)), 'algorithm');
    // no alg at all: protected {4: h''}
    refusedWith(() => decodeSign1(fromHex('d284' + '43a10440' + 'a0' + '4101' + sig64)), 'algorithm');
    // crit [3] beside alg
    refusedWith(() => decodeSign1(fromHex('d284' + '46a20126028103' + 'a0' + '4101' + sig64)), 'algorithm');
    // a 63-byte signature
    const { publicKey } = es256();
    refusedWith(
      () => verifySign1(fromHex('d284' + '43a10126' + 'a0' + '4101' + '583f' + '00'.repeat(63)), [publicKey]),
      'signature',
    );
    refusedWith(
      () => signManifest(payload, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey),
      'algorithm',
    );
  });

  it('refuses malformed structures as "manifest"', () => {
    const sig64 = '5840' + '00'.repeat(64);
    for (const h of [
      '', // nothing
      '84' + '43a10126' + 'a0' + '4101' + sig64, // untagged
      'd1' + '84' + '43a10126' + 'a0' + '4101' + sig64, // tag 17 (COSE_Mac0)
      'd283' + '43a10126' + 'a0' + '4101', // 3 items
      'd284' + '40' + 'a0' + '4101' + sig64, // empty protected header
      'd284' + '43a10126' + 'a0' + 'f6' + sig64, // detached payload (nil)
      'd284' + '43a10126' + '80' + '4101' + sig64, // unprotected is an array
      'd284' + '43a10126' + 'a10126' + '4101' + sig64, // alg unprotected
      'd284' + '43a10126' + 'a0' + '4101' + sig64 + '00', // trailing byte
      'd284' + '4201' + 'a0' + '4101' + sig64, // protected bytes are not CBOR
      'd284' + '43a10126' + 'a10401' + '4101' + sig64, // kid is not bytes
    ])
      refusedWith(() => decodeSign1(fromHex(h)), 'manifest');
  });
});
