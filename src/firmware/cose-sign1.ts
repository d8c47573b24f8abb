// COSE_Sign1 (RFC 9052 §4.2) with ES256 over the manifest: the only signature structure and
// algorithm we produce and accept. The signature is the raw r||s pair (RFC 9053 §2.1), 64 bytes.
import { sign, verify, type KeyObject } from 'node:crypto';
import { decode, encode, rfc8949EncodeOptions, Tagged } from 'cborg';
import { FirmwarePackageError } from './firmware-package-error.js';
import { STRICT_CBOR } from './manifest.js';

/** CBOR tag of COSE_Sign1_Tagged (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;
/** COSE header labels (RFC 9052 §3.1) and the ES256 algorithm id (RFC 9053 §2.1). */
export const COSE_HEADER_ALG = 1;
export const COSE_HEADER_CRIT = 2;
export const COSE_HEADER_KID = 4;
export const COSE_ES256 = -7;
const ES256_SIGNATURE_BYTES = 64;

const NAMED_ALGS = new Map<number, string>([
  [-7, 'ES256'],
  [-35, 'ES384'],
  [-36, 'ES512'],
  [-8, 'EdDSA'],
  [-37, 'PS256'],
  [-257, 'RS256'],
  [5, 'HMAC 256/256'],
]);

/** A COSE_Sign1 taken apart, before (or without) checking the signature. */
export interface Sign1Parts {
  /** The serialized protected header exactly as received (the signature covers these bytes). */
  readonly protectedBytes: Uint8Array;
  readonly alg: number;
  readonly kid?: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** Sig_structure for COSE_Sign1 (RFC 9052 §4.4): ["Signature1", protected, external_aad, payload]. */
export function sign1SigStructure(
  protectedBytes: Uint8Array,
  payload: Uint8Array,
  externalAad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return encode(
    ['Signature1', plain(protectedBytes), plain(externalAad), plain(payload)],
    rfc8949EncodeOptions,
  );
}

// cborg encodes Buffers as byte strings too, but a plain view keeps the bytes we hash obvious.
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/**
 * Signs `payload` (the encoded manifest) as a tagged COSE_Sign1 with ES256: protected header
 * {1: -7}, unprotected {4: kid} when a kid is given. Throws FirmwarePackageError('algorithm')
 * for a key that is not a P-256 private key.
 */
export function signManifest(payload: Uint8Array, privateKey: KeyObject, kid?: Uint8Array): Uint8Array {
  if (privateKey.type !== 'private' || !isP256(privateKey))
    throw new FirmwarePackageError('algorithm', 'ES256 needs a P-256 (prime256v1) private key');
  const protectedBytes = encode(new Map([[COSE_HEADER_ALG, COSE_ES256]]), rfc8949EncodeOptions);
  const toSign = sign1SigStructure(protectedBytes, payload);
  const signature = sign('sha256', toSign, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const unprotected = kid === undefined ? new Map() : new Map([[COSE_HEADER_KID, plain(kid)]]);
  return encode(
    new Tagged(COSE_SIGN1_TAG, [protectedBytes, unprotected, plain(payload), new Uint8Array(signature)]),
    rfc8949EncodeOptions,
  );
}

const malformed = (what: string, cause?: unknown): FirmwarePackageError =>
  new FirmwarePackageError('manifest', `the COSE_Sign1 ${what}`, { cause });

/**
 * Takes a tagged COSE_Sign1 apart without trusting it. Throws FirmwarePackageError: 'manifest'
 * for a malformed structure, 'algorithm' for anything but ES256 or for critical headers.
 */
export function decodeSign1(bytes: Uint8Array): Sign1Parts {
  let top: unknown;
  try {
    top = decode(bytes, { ...STRICT_CBOR, tags: { [COSE_SIGN1_TAG]: Tagged.decoder(COSE_SIGN1_TAG) } });
  } catch (e) {
    throw malformed(`is not well-formed CBOR: ${(e as Error).message}`, e);
  }
  if (!(top instanceof Tagged) || top.tag !== COSE_SIGN1_TAG) throw malformed('lacks tag 18');
  const parts: unknown = top.value;
  if (!Array.isArray(parts) || parts.length !== 4) throw malformed('is not an array of 4 items');
  const [protectedBytes, unprotected, payload, signature] = parts as unknown[];
  if (!(protectedBytes instanceof Uint8Array) || protectedBytes.length === 0)
    throw malformed('protected header is not a non-empty byte string');
  if (!(unprotected instanceof Map)) throw malformed('unprotected header is not a map');
  if (!(payload instanceof Uint8Array))
    throw malformed('payload is missing (detached payloads are not used)');
  if (!(signature instanceof Uint8Array)) throw malformed('signature is not a byte string');
  let header: unknown;
  try {
    header = decode(protectedBytes, STRICT_CBOR);
  } catch (e) {
    throw malformed(`protected header is not well-formed CBOR: ${(e as Error).message}`, e);
  }
  if (!(header instanceof Map)) throw malformed('protected header is not a map');
  if (header.has(COSE_HEADER_CRIT))
    throw new FirmwarePackageError(
      'algorithm',
      'the COSE_Sign1 has critical header parameters we do not process',
    );
  if (unprotected.has(COSE_HEADER_ALG) || unprotected.has(COSE_HEADER_CRIT))
    throw malformed('has alg or crit in the unprotected header (they must be protected)');
  const alg: unknown = header.get(COSE_HEADER_ALG);
  if (alg !== COSE_ES256) {
    const named = typeof alg === 'number' ? NAMED_ALGS.get(alg) : undefined;
    throw new FirmwarePackageError(
      'algorithm',
      alg === undefined
        ? 'the COSE_Sign1 protected header names no algorithm'
        : `the manifest is signed with ${named ?? `algorithm ${typeof alg === 'number' || typeof alg === 'string' ? alg : '(not an integer)'}`}; this device accepts ES256 (-7) only`,
    );
  }
  const kid: unknown = unprotected.get(COSE_HEADER_KID) ?? header.get(COSE_HEADER_KID);
  if (kid !== undefined && !(kid instanceof Uint8Array)) throw malformed('kid is not a byte string');
  return { protectedBytes, alg, ...(kid === undefined ? {} : { kid }), payload, signature };
}

/**
 * Checks a tagged COSE_Sign1 against the trust anchors (P-256 public keys; others are skipped)
 * and returns its parts. The kid is only a hint, so every anchor is tried. Throws
 * FirmwarePackageError: 'signature' when no anchor verifies, else as decodeSign1.
 */
export function verifySign1(bytes: Uint8Array, trustAnchors: readonly KeyObject[]): Sign1Parts {
  const parts = decodeSign1(bytes);
  if (parts.signature.length !== ES256_SIGNATURE_BYTES)
    throw new FirmwarePackageError(
      'signature',
      `an ES256 signature is ${ES256_SIGNATURE_BYTES} bytes (r||s), this one is ${parts.signature.length}`,
    );
  const anchors = trustAnchors.filter(isP256);
  if (anchors.length === 0)
    throw new FirmwarePackageError(
      'signature',
      'the package is signed but no P-256 trust anchor is configured',
    );
  const toVerify = sign1SigStructure(parts.protectedBytes, parts.payload);
  for (const key of anchors) {
    try {
      if (verify('sha256', toVerify, { key, dsaEncoding: 'ieee-p1363' }, parts.signature)) return parts;
    } catch {
      // a key that cannot verify (e.g. a private key handed in by mistake) simply does not match
    }
  }
  throw new FirmwarePackageError('signature', 'the manifest signature does not verify with any trust anchor');
}
