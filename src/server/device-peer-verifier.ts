import { AlertDescription } from '../dtls/alert.js';
import type { PeerVerifier } from '../dtls/dtls-credentials.js';
import { DtlsError } from '../dtls/dtls-errors.js';
import { anyRawPublicKeyVerifier, x509ChainValidator } from '../dtls/peer-verification.js';

export interface DevicePeerVerifierOptions {
  /**
   * Whether a device's raw public key (SubjectPublicKeyInfo, DER) is one the server knows (a
   * credential store entry holds it: credentialRawKeyCheck). Absent: any key is accepted in the
   * handshake and only checked at Register.
   */
  readonly knownRawKey?: (spki: Uint8Array) => Promise<boolean> | boolean;
}

/**
 * How the coaps:// server checks a device's certificate in the handshake. A raw public key must
 * be a known one (`knownRawKey`), else the handshake fails with access_denied; the handshake then
 * makes the device prove it holds the private key, and the credential store binds the key to its
 * endpoint at Register (endpoint-security.ts). An X.509 chain must lead to one of `trustAnchors`;
 * its CN is checked against the endpoint name at Register. Without anchors, certificates are
 * refused.
 */
export function devicePeerVerifier(
  trustAnchors: readonly Uint8Array[] = [],
  options: DevicePeerVerifierOptions = {},
): PeerVerifier {
  const rawKey = anyRawPublicKeyVerifier();
  const { knownRawKey } = options;
  const chain = trustAnchors.length > 0 ? x509ChainValidator({ trustAnchors }) : undefined;
  return (credential, context) => {
    if (credential.type === 'rpk') {
      if (!knownRawKey) return rawKey(credential, context);
      const known = knownRawKey(credential.publicKey);
      const decide = (yes: boolean) => {
        if (!yes) throw unknownKey();
        return rawKey(credential, context);
      };
      return typeof known === 'boolean' ? decide(known) : known.then(decide);
    }
    if (!chain)
      throw new DtlsError('bad-certificate', 'this server has no trust anchors for device certificates', {
        alert: AlertDescription.unsupported_certificate,
      });
    return chain(credential, context);
  };
}

/**
 * A well-formed key this server has no entry for. access_denied, not bad_certificate or
 * certificate_unknown: nothing is wrong with the key itself (a raw public key has no signature,
 * dates or issuer to fail, RFC 7250 §3); the server's access control refuses it (RFC 5246
 * §7.2.2: "a valid certificate was received, but when access control was applied, the sender
 * decided not to proceed").
 */
function unknownKey(): DtlsError {
  return new DtlsError('bad-certificate', 'peer raw public key is not in the credential store', {
    alert: AlertDescription.access_denied,
  });
}
