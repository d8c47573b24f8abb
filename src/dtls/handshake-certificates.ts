import { X509Certificate, type KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../transport/channel.js';
import { AlertDescription } from './alert.js';
import type { Certificate } from './certificate-messages.js';
import type {
  EcdsaCredentials,
  PeerCredential,
  PeerVerificationContext,
  PeerVerifier,
} from './dtls-credentials.js';
import { DtlsError } from './dtls-errors.js';
import { isP256, p256PublicKey, subjectPublicKeyInfo } from './ecdhe.js';
import { CertificateType } from './extensions.js';
import type { HandshakeMessage } from './handshake.js';
import { encodeHandshakeMessage } from './handshake.js';

/** ClientCertificateType ecdsa_sign (RFC 8422 §5.5), the one type our CertificateRequest asks for. */
export const ECDSA_SIGN = 64;

/** The certificate type (RFC 7250 §3) our credentials are presented as. */
export function ownCertificateType(credentials: EcdsaCredentials): number {
  return credentials.certificateChain ? CertificateType.x509 : CertificateType.raw_public_key;
}

/** Our Certificate message: the X.509 chain, or the raw public key of the private key. */
export function ownCertificate(credentials: EcdsaCredentials): Certificate {
  return credentials.certificateChain
    ? { type: 'x509', chain: [...credentials.certificateChain] }
    : { type: 'raw_public_key', subjectPublicKeyInfo: subjectPublicKeyInfo(credentials.privateKey) };
}

/** The decoder's name for a negotiated certificate type. */
export function certificateForm(type: number): Certificate['type'] {
  return type === CertificateType.raw_public_key ? 'raw_public_key' : 'x509';
}

/** What the verifier sees of a received Certificate, and the key that must have signed. */
export interface ReceivedCertificate {
  credential: PeerCredential;
  publicKey: KeyObject;
}

/**
 * The peer's credential and its P-256 key. An empty chain is a peer without a certificate, which
 * LwM2M's mutual authentication does not allow (RFC 5246 §7.4.6: handshake_failure).
 */
export function receivedCertificate(certificate: Certificate): ReceivedCertificate {
  try {
    return readCertificate(certificate);
  } catch (e) {
    if (e instanceof DtlsError) throw e;
    // A certificate that parses but whose key does not (a corrupt point, say).
    throw new DtlsError('bad-certificate', 'peer certificate key does not parse', {
      alert: AlertDescription.bad_certificate,
      cause: e,
    });
  }
}

function readCertificate(certificate: Certificate): ReceivedCertificate {
  if (certificate.type === 'raw_public_key')
    return {
      credential: { type: 'rpk', publicKey: certificate.subjectPublicKeyInfo },
      publicKey: p256PublicKey(certificate.subjectPublicKeyInfo),
    };
  const leafDer = certificate.chain[0];
  if (!leafDer)
    throw new DtlsError('bad-certificate', 'peer sent no certificate', {
      alert: AlertDescription.handshake_failure,
    });
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(Buffer.from(leafDer));
  } catch (e) {
    throw new DtlsError('bad-certificate', 'peer certificate does not parse', {
      alert: AlertDescription.bad_certificate,
      cause: e,
    });
  }
  if (!isP256(leaf.publicKey))
    throw new DtlsError('bad-certificate', 'peer certificate key is not ECDSA P-256', {
      alert: AlertDescription.unsupported_certificate,
    });
  return { credential: { type: 'x509', chain: certificate.chain }, publicKey: leaf.publicKey };
}

/**
 * Runs the verifier. Undefined means refused: bad_certificate. A DtlsError it throws keeps its
 * alert (unknown_ca, certificate_expired ...); anything else thrown becomes bad_certificate too.
 */
export function verifyPeer(
  verifier: PeerVerifier,
  credential: PeerCredential,
  context: PeerVerificationContext,
): PeerIdentity | Promise<PeerIdentity> {
  const refuse = (e?: unknown): never => {
    if (e instanceof DtlsError && e.alert !== undefined) throw e;
    throw new DtlsError('bad-certificate', 'peer credential not trusted', {
      alert: AlertDescription.bad_certificate,
      cause: e,
    });
  };
  let result: PeerIdentity | undefined | Promise<PeerIdentity | undefined>;
  try {
    result = verifier(credential, context);
  } catch (e) {
    return refuse(e);
  }
  if (result instanceof Promise) return result.then((id) => id ?? refuse(), refuse);
  return result ?? refuse();
}

/**
 * The handshake messages in order, kept only for ECDHE suites: CertificateVerify signs all of
 * them, not their hash (RFC 5246 §7.4.8), and node:crypto cannot sign a precomputed digest.
 */
export class HandshakeLog {
  readonly #parts: Uint8Array[] = [];

  add(message: HandshakeMessage): void {
    this.#parts.push(encodeHandshakeMessage(message));
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.#parts);
  }
}
