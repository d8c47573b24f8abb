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

/** /0/x/18: RFC 8446 §4.2.7 group codes → OpenSSL names. */
const GROUP_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0017, 'P-256'],
  [0x0018, 'P-384'],
  [0x0019, 'P-521'],
  [0x001d, 'X25519'],
  [0x001e, 'X448'],
]);

/** /0/x/20: RFC 8446 §4.2.3 signature scheme codes → OpenSSL names. */
const SIGNATURE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0403, 'ecdsa_secp256r1_sha256'],
  [0x0503, 'ecdsa_secp384r1_sha384'],
  [0x0603, 'ecdsa_secp521r1_sha512'],
  [0x0804, 'rsa_pss_rsae_sha256'],
  [0x0805, 'rsa_pss_rsae_sha384'],
  [0x0806, 'rsa_pss_rsae_sha512'],
  [0x0807, 'ed25519'],
  [0x0808, 'ed448'],
  [0x0809, 'rsa_pss_pss_sha256'],
  [0x0401, 'rsa_pkcs1_sha256'],
  [0x0501, 'rsa_pkcs1_sha384'],
  [0x0601, 'rsa_pkcs1_sha512'],
]);

/** /0/x/22 bits. */
const FEATURE_PSK = 1 << 0;
const FEATURE_PSK_DHE = 1 << 2;
const FEATURE_CERTIFICATE = 1 << 3;
/** /0/x/24 bit 0: Server Name Indication. */
const EXTENSION_SNI = 1 << 0;

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

function names(codes: readonly number[] | undefined, table: ReadonlyMap<number, string>, what: string) {
  if (codes === undefined) return undefined;
  return codes
    .map((code) => {
      const name = table.get(code);
      if (name === undefined)
        throw new SecurityConfigError('tls-unsupported', `${what} ${hex4(code)} is not one node:tls can use`);
      return name;
    })
    .join(':');
}

/**
 * The TLS settings of /0/x/18-24 as node:tls options. Used: the groups (18) and signature
 * algorithms (20) in the order given; the TLS 1.3 features (22) as permissions, so a mode they do
 * not allow is refused; SNI (24 bit 0) sent only when allowed. Not used, with the reason: 0-RTT
 * (22 bit 1; node:tls has no early data), the extensions node:tls does not offer (24: Max Fragment
 * Length, Status Request, Heartbeat, Record Size Limit, Ticket Pinning, Connection ID, which
 * belongs to DTLS). 19, 21 and 23 describe the server and change nothing on our side.
 */
function tlsSettings(credentials: DtlsClientCredentials): {
  options: Pick<TlsClientOptions, 'groups' | 'signatureAlgorithms'>;
  sni: boolean;
} {
  const tls = credentials.tls ?? {};
  const features = tls.tls13Features;
  if (features !== undefined) {
    const allowed =
      credentials.mode === 'psk'
        ? (features & (FEATURE_PSK | FEATURE_PSK_DHE)) !== 0
        : (features & FEATURE_CERTIFICATE) !== 0;
    if (!allowed)
      throw new SecurityConfigError(
        'tls-unsupported',
        `TLS 1.3 Features (/0/x/22 = ${features}) do not allow ${credentials.mode === 'psk' ? 'PSK' : 'certificate'} authentication, the mode /0/x/2 asks for`,
      );
  }
  const groups = names(tls.groups, GROUP_NAMES, 'group (/0/x/18)');
  const signatureAlgorithms = names(
    tls.signatureAlgorithms,
    SIGNATURE_NAMES,
    'signature algorithm (/0/x/20)',
  );
  return {
    options: {
      ...(groups === undefined ? {} : { groups }),
      ...(signatureAlgorithms === undefined ? {} : { signatureAlgorithms }),
    },
    sni: tls.tlsExtensions === undefined || (tls.tlsExtensions & EXTENSION_SNI) !== 0,
  };
}

/**
 * The TlsChannel dialer options of /0 credentials, for `coaps+tcp://` (and `mqtts://`): PSK (mode
 * 0) and X.509 (mode 2). What node:tls cannot do is refused with a reason (SecurityConfigError
 * 'tls-unsupported'): raw public keys (RFC 7250 is not in OpenSSL's TLS API as Node exposes it),
 * a PSK identity that is not UTF-8 (Node passes identities as strings), and a server certificate
 * given by hash (Matching Type 1-3: node:tls takes trust anchors as certificates).
 */
export function tlsClientOptions(credentials: DtlsClientCredentials): TlsClientOptions {
  const ciphers = cipherString(credentials);
  const settings = tlsSettings(credentials);
  const common = {
    ...(credentials.serverName === undefined || !settings.sni ? {} : { servername: credentials.serverName }),
    ...(ciphers === undefined ? {} : { ciphers }),
    ...settings.options,
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
