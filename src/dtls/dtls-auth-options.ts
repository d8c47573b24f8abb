import { ChannelConfigError } from '../transport/channel.js';
import { cipherSuite } from './cipher-suites.js';
import type { EcdsaCredentials, PeerVerifier } from './dtls-credentials.js';
import { isP256 } from './ecdhe.js';

/** The certificate side of a DtlsChannel's options, the same in both roles. */
export interface DtlsAuthOptions {
  /**
   * Our P-256 key for the ECDHE_ECDSA suites (RFC 7251), presented as a raw public key (RFC 7250)
   * or, with `certificateChain`, as X.509. Needs `verifyPeer`.
   */
  certificate?: EcdsaCredentials;
  /** Decides on the peer's certificate or raw public key (see peer-verification.ts). */
  verifyPeer?: PeerVerifier;
  /**
   * The cipher suites to use, in order of preference (server: the order it chooses by; client:
   * the order it offers). Default: ECDHE_ECDSA_CCM_8, PSK_CCM_8, ECDHE_ECDSA_CBC_SHA256,
   * PSK_CBC_SHA256, each only when the matching credentials are configured.
   */
  cipherSuites?: number[];
}

/** Checks the credentials of a channel; throws ChannelConfigError with what to fix. */
export function checkAuthOptions(options: DtlsAuthOptions & { psk?: unknown }): void {
  const { certificate, verifyPeer, cipherSuites } = options;
  if (options.psk === undefined && certificate === undefined)
    throw new ChannelConfigError('a DTLS channel needs `psk` or `certificate`');
  if (certificate) {
    if (!verifyPeer)
      throw new ChannelConfigError(
        'a DTLS `certificate` needs `verifyPeer` to check the peer (mutual authentication)',
      );
    if (certificate.privateKey.type !== 'private' || !isP256(certificate.privateKey))
      throw new ChannelConfigError('the DTLS certificate key must be an EC P-256 (prime256v1) private key');
    if (certificate.certificateChain && certificate.certificateChain.length === 0)
      throw new ChannelConfigError('the DTLS certificateChain is empty (omit it for a raw public key)');
  }
  if (cipherSuites) {
    const unknown = cipherSuites.filter((id) => !cipherSuite(id));
    if (unknown.length > 0 || cipherSuites.length === 0)
      throw new ChannelConfigError(
        `DTLS cipherSuites must list implemented suites (0xc0a8, 0xc0ae, 0x00ae, 0xc023)${
          unknown.length > 0 ? `; unknown: ${unknown.map((id) => `0x${id.toString(16)}`).join(', ')}` : ''
        }`,
      );
    const usable = cipherSuites.some((id) =>
      cipherSuite(id)!.keyExchange === 'psk' ? options.psk !== undefined : certificate !== undefined,
    );
    if (!usable)
      throw new ChannelConfigError('none of the DTLS cipherSuites matches the configured credentials');
  }
}
