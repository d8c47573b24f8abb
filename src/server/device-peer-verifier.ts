import { AlertDescription } from '../dtls/alert.js';
import type { PeerVerifier } from '../dtls/dtls-credentials.js';
import { DtlsError } from '../dtls/dtls-errors.js';
import { anyRawPublicKeyVerifier, x509ChainValidator } from '../dtls/peer-verification.js';

/**
 * How the coaps:// server checks a device's certificate in the handshake. A raw public key is
 * accepted once the device proves it holds the private key; whose key it is, the credential store
 * says at Register (endpoint-security.ts). An X.509 chain must lead to one of `trustAnchors`; its CN
 * is checked against the endpoint name at Register. Without anchors, certificates are refused.
 */
export function devicePeerVerifier(trustAnchors: readonly Uint8Array[] = []): PeerVerifier {
  const rawKey = anyRawPublicKeyVerifier();
  const chain = trustAnchors.length > 0 ? x509ChainValidator({ trustAnchors }) : undefined;
  return (credential, context) => {
    if (credential.type === 'rpk') return rawKey(credential, context);
    if (!chain)
      throw new DtlsError('bad-certificate', 'this server has no trust anchors for device certificates', {
        alert: AlertDescription.unsupported_certificate,
      });
    return chain(credential, context);
  };
}
