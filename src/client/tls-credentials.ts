import type { TlsClientOptions } from '../transport/tls-channel.js';
import { type DtlsClientCredentials, SecurityConfigError } from './security-credentials.js';

/** OpenSSL names of the /0/x/16 suites node:tls can use (IANA numbers, RFC 6655, RFC 7251, RFC 8446). */
const TLS_SUITE_NAMES: ReadonlyMap<number, string> = new Map([
  [0xc0a8, 'PSK-AES128-CCM8'],
  [0x00ae, 'PSK-AES128-CBC-SHA256'],
  [0x00a8, 'PSK-AES128-GCM-SHA256'],
  [0xc0ae, 'ECDHE-ECDSA-AES128-CCM8'],
  [0xc023, 'ECDHE-ECDSA-AES128-SHA256'],
  [0xc02b, 'ECDHE-ECDSA-AES128-GCM-SHA256'],
]);

/** TLS 1.3 suites whose hash is SHA-256: the ones a PSK binds to through node:tls. */
const TLS13_SHA256 = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The TlsChannel dialer options of /0 credentials, for `coaps+tcp://` (and `mqtts://`): PSK (mode
 * 0) and X.509 (mode 2). What node:tls cannot do is refused with a reason (SecurityConfigError
 * 'tls-unsupported'): raw public keys (RFC 7250 is not in OpenSSL's TLS API as Node exposes it),
 * a PSK identity that is not UTF-8 (Node passes identities as strings), and a server certificate
 * given by hash (Matching Type 1-3: node:tls takes trust anchors as certificates).
 */
export function tlsClientOptions(credentials: DtlsClientCredentials): TlsClientOptions {
  const ciphers = cipherString(credentials);
  const common = {
    ...(credentials.serverName === undefined ? {} : { servername: credentials.serverName }),
    ...(ciphers === undefined ? {} : { ciphers }),
  };
  switch (credentials.mode) {
    case 'psk': {
      const psk = credentials.psk!;
      let identity: string;
      try {
        identity = utf8.decode(psk.identity);
      } catch (e) {
        throw new SecurityConfigError(
          'tls-unsupported',
          'the PSK identity (/0/x/3) is not UTF-8 text, which node:tls needs: use coaps:// (DTLS) for binary identities',
          { cause: e },
        );
      }
      return { psk: { identity, key: psk.key }, ...common };
    }
    case 'rpk':
      throw new SecurityConfigError(
        'tls-unsupported',
        'raw public keys (Security Mode 1) are not available over TLS (node:tls has no RFC 7250): use coaps:// (DTLS) or a certificate',
      );
    case 'x509': {
      const verification = credentials.verification;
      if (verification?.kind !== 'x509' || verification.matchingType !== 0)
        throw new SecurityConfigError(
          'tls-unsupported',
          'over TLS the server certificate (/0/x/4) must be given whole (Matching Type 0), not by hash',
        );
      return {
        key: credentials.certificate!.privateKey,
        cert: [...(credentials.certificate!.certificateChain ?? [])],
        // Certificate Usage 0/2 name a CA or trust anchor, 1/3 the server's own certificate: either
        // way it is where the server's chain must end.
        ca: [verification.trust],
        // A pinned server certificate or an intermediate is where verification may end.
        allowPartialTrustChain: true,
        ...common,
      };
    }
  }
}

function cipherString(credentials: DtlsClientCredentials): string | undefined {
  if (credentials.cipherSuites === undefined) return undefined;
  const names = credentials.cipherSuites.map((n) => TLS_SUITE_NAMES.get(n)).filter((n) => n !== undefined);
  if (names.length === 0) return undefined;
  return `${names.join(':')}:${TLS13_SHA256}`;
}
