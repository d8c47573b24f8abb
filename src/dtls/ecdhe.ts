import { createECDH, createPublicKey, sign, verify, type ECDH, type KeyObject } from 'node:crypto';
import { AlertDescription } from './alert.js';
import { DtlsError } from './dtls-errors.js';
import { NamedGroup, SignatureScheme } from './extensions.js';
import type { ServerEcdhParams } from './key-exchange-messages.js';
import { encodeServerEcdhParams } from './key-exchange-messages.js';

/** The only curve Petrel speaks (RFC 7251: LwM2M's ECDHE_ECDSA suites use secp256r1). */
const CURVE = 'prime256v1';
/** An uncompressed P-256 point: 0x04 || x (32) || y (32) (RFC 8422 §5.4.1). */
const POINT_LENGTH = 65;

/** An ephemeral ECDH key pair on P-256 for one handshake. */
export interface EphemeralKey {
  /** The uncompressed public point, as sent in ServerKeyExchange / ClientKeyExchange. */
  readonly point: Uint8Array;
  /** The premaster secret with the peer's point (RFC 8422 §5.10: the x coordinate, 32 bytes). */
  sharedSecret(peerPoint: Uint8Array): Uint8Array;
}

/** A fresh ephemeral P-256 key (from node:crypto's CSPRNG; never from an injected test source). */
export function ephemeralKey(): EphemeralKey {
  const ecdh: ECDH = createECDH(CURVE);
  const point = new Uint8Array(ecdh.generateKeys()); // uncompressed by default;
  return {
    point,
    sharedSecret(peerPoint) {
      checkPoint(peerPoint);
      try {
        return new Uint8Array(ecdh.computeSecret(peerPoint));
      } catch (e) {
        // Not on the curve (RFC 8422 §5.11: receivers must validate the point).
        throw new DtlsError('malformed', 'the peer ECDH point is not on P-256', {
          alert: AlertDescription.illegal_parameter,
          cause: e,
        });
      }
    },
  };
}

/** Only uncompressed points (RFC 8422 §5.1.2: the one format Petrel offers) of the right size. */
function checkPoint(point: Uint8Array): void {
  if (point.length !== POINT_LENGTH || point[0] !== 0x04)
    throw new DtlsError(
      'malformed',
      `ECDH point of ${point.length} bytes is not an uncompressed P-256 point`,
      {
        alert: AlertDescription.illegal_parameter,
      },
    );
}

/** True when the key (private or public) is an EC key on P-256. */
export function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVE;
}

/** The DER SubjectPublicKeyInfo of a key (the raw public key of RFC 7250). */
export function subjectPublicKeyInfo(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ format: 'der', type: 'spki' }));
}

/**
 * The P-256 public key in a DER SubjectPublicKeyInfo. Anything else (unparsable, another curve
 * or algorithm) is unsupported_certificate: we cannot check a signature made with it.
 */
export function p256PublicKey(spki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    throw new DtlsError('malformed', 'the peer public key is not a valid SubjectPublicKeyInfo', {
      alert: AlertDescription.bad_certificate,
      cause: e,
    });
  }
  if (!isP256(key))
    throw new DtlsError('unsupported', 'the peer public key is not an ECDSA P-256 key', {
      alert: AlertDescription.unsupported_certificate,
    });
  return key;
}

/** ECDSA-SHA256 signature, DER-encoded (RFC 8422 §5.4: ecdsa_secp256r1_sha256). */
export function ecdsaSign(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }));
}

/** Checks an ECDSA-SHA256 signature; false for a wrong or malformed one (never throws). */
export function ecdsaVerify(publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** The bytes the ServerKeyExchange signature covers: client_random + server_random + params (RFC 8422 §5.4). */
export function serverParamsSignedData(
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  params: ServerEcdhParams,
): Uint8Array {
  return Buffer.concat([clientRandom, serverRandom, encodeServerEcdhParams(params)]);
}

/** The ServerECDHParams for our ephemeral point on secp256r1. */
export function serverParams(key: EphemeralKey): ServerEcdhParams {
  return { namedCurve: NamedGroup.secp256r1, publicKey: key.point };
}

/** The one signature scheme Petrel uses and accepts. */
export const ECDSA_SHA256 = SignatureScheme.ecdsa_secp256r1_sha256;
