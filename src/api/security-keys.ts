// Key material for the /api/security routes: checking a device's raw public key, and fresh PSKs
// and P-256 key pairs for an operator to provision (nothing generated here is kept).
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { ApiError } from './api-errors.js';

/** RFC 4279 §5.3 and the LwM2M Security object: keys up to 64 bytes. */
export const MAX_PSK_KEY = 64;
export const MIN_GENERATED_PSK = 16;
export const DEFAULT_GENERATED_PSK = 16;

/**
 * A P-256 SubjectPublicKeyInfo is 91 bytes (uncompressed point) or 59 (compressed); this bound
 * keeps the DER parser away from huge inputs while leaving room for explicit parameters.
 */
export const MAX_SPKI_BYTES = 512;

/**
 * The device's raw public key (RFC 7250) as hex SPKI DER, checked to be an EC key on P-256
 * (secp256r1, the curve of TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, Core §7.1.6), and returned in its
 * canonical form (named curve, uncompressed point, lower-case hex), so one key has one spelling. Anything else is
 * 400 BAD_REQUEST naming what is wrong.
 */
export function canonicalP256PublicKey(hex: string): string {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex))
    throw new ApiError('BAD_REQUEST', 'rpk.publicKey must be hex (an even number of hex digits)');
  if (hex.length / 2 > MAX_SPKI_BYTES)
    throw new ApiError('BAD_REQUEST', `rpk.publicKey is longer than ${MAX_SPKI_BYTES} bytes`);
  let key;
  try {
    key = createPublicKey({ key: Buffer.from(hex, 'hex'), format: 'der', type: 'spki' });
  } catch (e) {
    throw new ApiError('BAD_REQUEST', 'rpk.publicKey is not a DER SubjectPublicKeyInfo', { cause: e });
  }
  if (key.asymmetricKeyType !== 'ec')
    throw new ApiError(
      'BAD_REQUEST',
      `rpk.publicKey must be an EC P-256 key, not ${key.asymmetricKeyType ?? 'an unknown type'}`,
    );
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'prime256v1')
    throw new ApiError(
      'BAD_REQUEST',
      `rpk.publicKey must be on P-256 (prime256v1), not ${curve ?? 'an unnamed curve'}`,
    );
  // Through JWK (x, y): OpenSSL keeps a compressed point compressed when re-encoding the DER.
  const uncompressed = createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' });
  return uncompressed.export({ format: 'der', type: 'spki' }).toString('hex');
}

/** `bytes` random bytes as lower-case hex: a fresh pre-shared key. */
export function generatePsk(bytes: number = DEFAULT_GENERATED_PSK): string {
  if (!Number.isInteger(bytes) || bytes < MIN_GENERATED_PSK || bytes > MAX_PSK_KEY)
    throw new ApiError('BAD_REQUEST', `bytes must be an integer from ${MIN_GENERATED_PSK} to ${MAX_PSK_KEY}`);
  return randomBytes(bytes).toString('hex');
}

export interface GeneratedKeyPair {
  /** SubjectPublicKeyInfo, DER, hex: what `PUT /api/security/clients/{ep}` takes as rpk.publicKey. */
  readonly publicKey: string;
  /** PKCS#8 PrivateKeyInfo, DER, hex: for the device. */
  readonly privateKey: string;
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** A fresh P-256 key pair, in DER (hex) and PEM. */
export function generateP256KeyPair(): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('hex'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}
