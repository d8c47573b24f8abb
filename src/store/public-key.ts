import { createPublicKey } from 'node:crypto';
import { CredentialConflictError } from './store-errors.js';

/**
 * One spelling per raw public key (RFC 7250): the SubjectPublicKeyInfo DER, re-encoded with an
 * uncompressed point, in lower-case hex, whether the device or the store has it compressed or in
 * upper case. OpenSSL re-encodes a compressed point as it came, so go through the JWK (x, y).
 * `spki`: DER bytes or hex. Undefined when it is no SubjectPublicKeyInfo Node can read: such a key
 * can never match one a device presents in a handshake.
 */
export function canonicalSpkiHex(spki: Uint8Array | string): string | undefined {
  if (typeof spki === 'string' && !/^(?:[0-9a-fA-F]{2})+$/.test(spki)) return undefined;
  try {
    const key = createPublicKey({
      key: typeof spki === 'string' ? Buffer.from(spki, 'hex') : Buffer.from(spki),
      format: 'der',
      type: 'spki',
    });
    return createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' })
      .export({ format: 'der', type: 'spki' })
      .toString('hex');
  } catch {
    return undefined;
  }
}

/**
 * A raw public key is bound to one endpoint only (the handshake finds the device by it): a put
 * giving a key another endpoint holds. `identity` is the key's canonical hex.
 */
export class PublicKeyConflictError extends CredentialConflictError {
  constructor(key: string, holder: string, endpoint: string) {
    super(key, holder, endpoint);
    this.message = `raw public key ${shortKey(key)} of endpoint ${JSON.stringify(endpoint)} is already bound to endpoint ${JSON.stringify(holder)}`;
  }
}

/** The key's tail (the point's last bytes tell keys apart; the DER header is the same for all). */
function shortKey(key: string): string {
  return key.length > 24 ? `…${key.slice(-16)}` : key;
}
