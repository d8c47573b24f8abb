import type { DtlsClientOptions } from '../dtls/dtls-channel.js';
import { rawPublicKeyVerifier, x509Verifier } from '../dtls/peer-verification.js';
import type { Peer } from '../transport/channel.js';
import type { DtlsClientCredentials, SecurityResources } from './security-credentials.js';

/** The credential part of DtlsChannel.client's options for one server. */
export type DtlsCredentialOptions = Pick<
  DtlsClientOptions,
  'psk' | 'certificate' | 'verifyPeer' | 'cipherSuites' | 'serverName'
>;

/**
 * The DtlsChannel client options of credentials read from /0: the PSK (mode 0), or our P-256 key
 * (and certificate) with a verifier of the server's raw public key (mode 1) or certificate under
 * the Certificate Usage and Matching Type of /0/x/15 and /0/x/13 (mode 2). `now` is for tests.
 */
export function dtlsClientOptions(
  credentials: DtlsClientCredentials,
  options: { now?: () => number } = {},
): DtlsCredentialOptions {
  const verification = credentials.verification;
  return {
    ...(credentials.psk === undefined ? {} : { psk: credentials.psk }),
    ...(credentials.certificate === undefined ? {} : { certificate: credentials.certificate }),
    ...(verification === undefined
      ? {}
      : {
          verifyPeer:
            verification.kind === 'rpk'
              ? rawPublicKeyVerifier(verification.publicKey)
              : x509Verifier({
                  trust: verification.trust,
                  certificateUsage: verification.certificateUsage,
                  matchingType: verification.matchingType,
                  ...(credentials.serverName === undefined ? {} : { serverName: credentials.serverName }),
                  ...(options.now === undefined ? {} : { now: options.now }),
                }),
        }),
    ...(credentials.cipherSuites === undefined ? {} : { cipherSuites: [...credentials.cipherSuites] }),
    ...(credentials.serverName === undefined ? {} : { serverName: credentials.serverName }),
  };
}

const hex = (b: Uint8Array | undefined): string => (b === undefined ? '' : Buffer.from(b).toString('hex'));

/** What a DTLS session depends on: a change (a new URI, address or key in /0) means a new session. */
export function securityFingerprint(
  uri: string,
  peer: Peer,
  security: SecurityResources | undefined,
): string {
  const s = security ?? {};
  return JSON.stringify([
    uri,
    peer.address,
    peer.port,
    s.securityMode,
    hex(s.publicKeyOrIdentity),
    hex(s.serverPublicKey),
    hex(s.secretKey),
    s.matchingType,
    s.sni,
    s.certificateUsage,
    s.cipherSuites,
  ]);
}
