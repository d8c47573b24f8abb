import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../transport/channel.js';

/**
 * Our own identity for the ECDHE_ECDSA suites (RFC 7251, RFC 8422): a P-256 key pair, presented
 * as a raw public key (RFC 7250) or as an X.509 chain.
 */
export interface EcdsaCredentials {
  /** The P-256 private key. */
  readonly privateKey: KeyObject;
  /**
   * Our X.509 chain, leaf first (DER). Absent: we present the raw public key (the
   * SubjectPublicKeyInfo of `privateKey`) and negotiate certificate type raw_public_key.
   */
  readonly certificateChain?: readonly Uint8Array[];
}

/** What a peer presented in its Certificate message. */
export type PeerCredential =
  | { readonly type: 'rpk'; /** SubjectPublicKeyInfo, DER. */ readonly publicKey: Uint8Array }
  | { readonly type: 'x509'; /** DER certificates, leaf first. */ readonly chain: readonly Uint8Array[] };

export interface PeerVerificationContext {
  /** Client: the server name we asked for (SNI). Server: the name the client sent, if any. */
  readonly serverName?: string;
}

/**
 * Decides whether a peer's credential is trusted, and what identity the application sees. It
 * returns the identity, or undefined to refuse (the handshake fails with bad_certificate or
 * unknown_ca, as the verifier says through a thrown DtlsError). Proof of possession of the private
 * key (CertificateVerify, the signed ServerKeyExchange) is the handshake's job, not the verifier's.
 * May be asynchronous (a credential store lookup).
 */
export type PeerVerifier = (
  credential: PeerCredential,
  context: PeerVerificationContext,
) => PeerIdentity | undefined | Promise<PeerIdentity | undefined>;
