// DTLS 1.2 (RFC 6347) with Connection ID (RFC 9146): DtlsChannel in both roles, its credentials
// and peer verifiers, and the errors it reports. The codecs below it stay internal.
export {
  DtlsChannel,
  type DtlsChannelStats,
  type DtlsClientOptions,
  type DtlsCommonOptions,
  type DtlsLimits,
  type DtlsServerOptions,
} from './dtls-channel.js';
export type { DtlsAuthOptions } from './dtls-auth-options.js';
export type {
  EcdsaCredentials,
  PeerCredential,
  PeerVerificationContext,
  PeerVerifier,
} from './dtls-credentials.js';
export {
  anyRawPublicKeyVerifier,
  rawPublicKeyVerifier,
  subjectCommonName,
  x509ChainValidator,
  x509Verifier,
  type CertificateUsage,
  type MatchingType,
  type X509ChainValidatorOptions,
  type X509VerifierOptions,
} from './peer-verification.js';
export {
  ECDHE_ECDSA_CBC_SHA256,
  ECDHE_ECDSA_CCM8,
  PSK_CBC_SHA256,
  PSK_CCM8,
  type PskLookup,
} from './handshake-server.js';
export { CIPHER_SUITES, cipherSuite, type CipherSuite } from './cipher-suites.js';
export { AlertDescription, AlertLevel, alertName } from './alert.js';
export { DtlsError, type DtlsErrorReason } from './dtls-errors.js';
export { DtlsSessionError, type DtlsSessionFailure } from './dtls-session-error.js';
export type { HandshakeTiming } from './dtls-connection.js';
export { SessionCache, type CachedSession, type SessionCacheOptions } from './session-cache.js';
