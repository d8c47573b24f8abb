// P-256 ECDH and ECDSA helpers: agreement, point validation, signatures, key checks.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import {
  ecdsaSign,
  ecdsaVerify,
  ephemeralKey,
  isP256,
  p256PublicKey,
  serverParams,
  serverParamsSignedData,
  subjectPublicKeyInfo,
} from '../../src/dtls/ecdhe.js';
import { NamedGroup } from '../../src/dtls/extensions.js';
import { encodeServerEcdhParams } from '../../src/dtls/key-exchange-messages.js';
import { privateKey, spkiDer } from '../support/dtls-fixtures.js';

function alertOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DtlsError);
    return e.alert;
  }
  assert.fail('did not throw');
}

describe('ECDHE on P-256', () => {
  it('both sides agree on a 32-byte premaster secret from uncompressed points', () => {
    const a = ephemeralKey();
    const b = ephemeralKey();
    assert.equal(a.point.length, 65);
    assert.equal(a.point[0], 4);
    const s1 = a.sharedSecret(b.point);
    assert.equal(s1.length, 32);
    assert.deepEqual(s1, b.sharedSecret(a.point));
    assert.notDeepEqual(s1, ephemeralKey().sharedSecret(a.point));
  });

  it('refuses compressed, short and off-curve points with illegal_parameter', () => {
    const a = ephemeralKey();
    const b = ephemeralKey();
    const compressed = Uint8Array.from([2 + (b.point[64]! & 1), ...b.point.subarray(1, 33)]);
    assert.equal(
      alertOf(() => a.sharedSecret(compressed)),
      AlertDescription.illegal_parameter,
    );
    assert.equal(
      alertOf(() => a.sharedSecret(b.point.subarray(0, 64))),
      AlertDescription.illegal_parameter,
    );
    const off = b.point.slice();
    off[64] = off[64]! ^ 1;
    assert.equal(
      alertOf(() => a.sharedSecret(off)),
      AlertDescription.illegal_parameter,
    );
    assert.equal(
      alertOf(() => a.sharedSecret(new Uint8Array(65).fill(0).fill(4, 0, 1))),
      AlertDescription.illegal_parameter,
    );
  });

  it('signs and verifies ECDSA-SHA256 (DER); a changed byte or key fails without throwing', () => {
    const key = privateKey('server-rpk');
    const pub = p256PublicKey(spkiDer('server-rpk'));
    const data = new TextEncoder().encode('client_random server_random params');
    const sig = ecdsaSign(key, data);
    assert.equal(sig[0], 0x30); // DER SEQUENCE
    assert.ok(ecdsaVerify(pub, data, sig));
    const changed = data.slice();
    changed[0] = changed[0]! ^ 1;
    assert.equal(ecdsaVerify(pub, changed, sig), false);
    assert.equal(ecdsaVerify(p256PublicKey(spkiDer('client-rpk')), data, sig), false);
    assert.equal(ecdsaVerify(pub, data, Uint8Array.of(1, 2, 3)), false);
  });

  it('signs client_random + server_random + ServerECDHParams (RFC 8422 §5.4)', () => {
    const k = ephemeralKey();
    const params = serverParams(k);
    assert.equal(params.namedCurve, NamedGroup.secp256r1);
    const cr = new Uint8Array(32).fill(1);
    const sr = new Uint8Array(32).fill(2);
    const data = serverParamsSignedData(cr, sr, params);
    assert.deepEqual(data, Buffer.concat([cr, sr, encodeServerEcdhParams(params)]));
    assert.deepEqual([...data.subarray(64, 68)], [3, 0, 23, 65]);
  });

  it('gives the SPKI of a key and accepts only P-256 public keys', () => {
    assert.deepEqual(subjectPublicKeyInfo(privateKey('client-rpk')), spkiDer('client-rpk'));
    assert.deepEqual(subjectPublicKeyInfo(createPublicKey(privateKey('client-rpk'))), spkiDer('client-rpk'));
    assert.ok(isP256(privateKey('client')));
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    assert.equal(isP256(p384), false);
    assert.equal(
      alertOf(() => p256PublicKey(subjectPublicKeyInfo(p384))),
      AlertDescription.unsupported_certificate,
    );
    assert.equal(
      alertOf(() => p256PublicKey(subjectPublicKeyInfo(ed))),
      AlertDescription.unsupported_certificate,
    );
    assert.equal(
      alertOf(() => p256PublicKey(Uint8Array.of(0x30, 0))),
      AlertDescription.bad_certificate,
    );
  });
});
