import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { cipherSuite } from '../dtls/cipher-suites.js';
import type { KeyExchange } from '../dtls/cipher-suites.js';
import { PetrelError } from '../errors.js';

/*
 * From the values of one /0 LwM2M Security instance to what the (D)TLS client needs (Transport TS
 * §Security, LWM2M-1.2.md §3.4 and §4.1). Resource ids (OMA registry 0.xml, object version 1.2):
 * 0 Server URI, 2 Security Mode, 3 Public Key or Identity, 4 Server Public Key, 5 Secret Key,
 * 13 Matching Type, 14 SNI, 15 Certificate Usage, 16 DTLS/TLS Ciphersuite (multiple).
 */

/** /0/x/2 Security Mode. */
export const SecurityMode = Object.freeze({
  psk: 0,
  rpk: 1,
  certificate: 2,
  noSec: 3,
  certificateWithEst: 4,
} as const);
export type SecurityModeValue = (typeof SecurityMode)[keyof typeof SecurityMode];

/** The /0 resources the security layer reads; absent ones are undefined. */
export interface SecurityResources {
  /** /0/x/2; absent reads as NoSec (3). */
  readonly securityMode?: number;
  /** /0/x/3: PSK identity, our SubjectPublicKeyInfo (RPK) or our certificate (X.509). */
  readonly publicKeyOrIdentity?: Uint8Array;
  /** /0/x/4: the server's SubjectPublicKeyInfo (RPK), or its certificate / trust anchor (X.509). */
  readonly serverPublicKey?: Uint8Array;
  /** /0/x/5: the PSK, or our private key (RFC 5958 OneAsymmetricKey, DER). */
  readonly secretKey?: Uint8Array;
  /** /0/x/13: 0 exact (default), 1 SHA-256, 2 SHA-384, 3 SHA-512. */
  readonly matchingType?: number;
  /** /0/x/14 Server Name Indication. */
  readonly sni?: string;
  /** /0/x/15 (RFC 6698): 0 CA constraint, 1 service certificate constraint, 2 trust anchor assertion, 3 domain-issued (default). */
  readonly certificateUsage?: number;
  /** /0/x/16: the suites to propose, as 16-bit integers (0xC0,0xA8 → 49320). */
  readonly cipherSuites?: readonly number[];
  /** /0/x/18 Groups To Use by Client (RFC 8446 codes, most preferred first; TLS). */
  readonly groups?: readonly number[];
  /** /0/x/20 Signature Algorithms To Use by Client (RFC 8446 codes; TLS). */
  readonly signatureAlgorithms?: readonly number[];
  /** /0/x/22 TLS 1.3 Features To Use by Client: b0 PSK, b1 0-RTT, b2 PSK with (EC)DHE, b3 certificates. */
  readonly tls13Features?: number;
  /** /0/x/24 TLS Extensions To Use by Client (bitmap; b0 SNI … b12 Connection ID). */
  readonly tlsExtensions?: number;
}

/** How the client checks the server (turned into a PeerVerifier by the transport). */
export type ServerVerification =
  | {
      readonly kind: 'rpk';
      /** The server's SubjectPublicKeyInfo, DER: matched exactly. */ readonly publicKey: Uint8Array;
    }
  | {
      readonly kind: 'x509';
      /** /0/x/4: the trust anchor or the server certificate (DER), or its hash (matching type 1-3). */
      readonly trust: Uint8Array;
      readonly certificateUsage: 0 | 1 | 2 | 3;
      readonly matchingType: 0 | 1 | 2 | 3;
    };

/** The client side of a DTLS session with one server, as /0 describes it. */
export interface DtlsClientCredentials {
  readonly mode: 'psk' | 'rpk' | 'x509';
  /** Mode 0. */
  readonly psk?: { readonly identity: Uint8Array; readonly key: Uint8Array };
  /** Modes 1 and 2: our P-256 key, and our certificate in mode 2 (leaf, DER). */
  readonly certificate?: {
    readonly privateKey: KeyObject;
    readonly certificateChain?: readonly Uint8Array[];
  };
  /** Modes 1 and 2. */
  readonly verification?: ServerVerification;
  /** /0/x/16 when set; else the transport's defaults for the mode. */
  readonly cipherSuites?: readonly number[];
  /** SNI to send (Transport TS: the client MUST set it): /0/x/14, else the URI's DNS name. */
  readonly serverName?: string;
  /** The TLS settings of /0/x/18-24 (coaps+tcp:// only; DTLS has its own fixed set). */
  readonly tls?: Pick<
    SecurityResources,
    'groups' | 'signatureAlgorithms' | 'tls13Features' | 'tlsExtensions'
  >;
}

/** What the client needs to reach a server: plain CoAP, or DTLS with these credentials. */
export type ClientSecurity = { readonly kind: 'nosec' } | ({ readonly kind: 'dtls' } & DtlsClientCredentials);

export type SecurityConfigErrorReason =
  | 'bad-uri'
  | 'bad-security-mode'
  | 'mode-mismatch'
  | 'est-unsupported'
  | 'bad-psk-identity'
  | 'bad-psk-key'
  | 'bad-private-key'
  | 'bad-public-key'
  | 'bad-certificate'
  | 'bad-server-key'
  | 'bad-matching-type'
  | 'bad-certificate-usage'
  | 'unknown-cipher-suite'
  | 'cipher-suite-mismatch'
  | 'tls-unsupported';

/** A /0 instance the client cannot use as it is. */
export class SecurityConfigError extends PetrelError {
  readonly reason: SecurityConfigErrorReason;
  constructor(reason: SecurityConfigErrorReason, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_SECURITY_CONFIG', message, options);
    this.reason = reason;
  }
}

/** Transport TS: PSK identities up to 128 bytes, keys up to 64 bytes must be supported. */
export const MAX_PSK_IDENTITY_BYTES = 128;
export const MAX_PSK_KEY_BYTES = 64;

/** The URI schemes this client speaks, and their default ports (RFC 7252 §6). */
/** The server URI schemes the client can use (Core §6.2.1.2; binding letter in comments). */
export type ServerScheme = 'coap' | 'coaps' | 'coap+tcp' | 'coaps+tcp' | 'mqtt' | 'mqtts';

/** Default ports by scheme (RFC 7252 §6, RFC 8323 §8, the MQTT registrations). */
export const DEFAULT_PORTS: Readonly<Record<ServerScheme, number>> = Object.freeze({
  coap: 5683, // U
  coaps: 5684, // U over DTLS
  'coap+tcp': 5683, // T
  'coaps+tcp': 5684, // T over TLS
  mqtt: 1883, // M
  mqtts: 8883, // M over TLS to the broker
});

/** True for the schemes whose transport authenticates the server ((D)TLS): /0 must hold credentials. */
export function isSecureScheme(scheme: ServerScheme): boolean {
  return scheme === 'coaps' || scheme === 'coaps+tcp' || scheme === 'mqtts';
}

export interface ServerAddress {
  readonly scheme: ServerScheme;
  /** Without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
}

const isServerScheme = (scheme: string): scheme is ServerScheme => Object.hasOwn(DEFAULT_PORTS, scheme);

/** `coap[s][+tcp]://host[:port]` or `mqtt[s]://host[:port]` (default ports in DEFAULT_PORTS). */
export function parseServerAddress(uri: string): ServerAddress {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (e) {
    throw new SecurityConfigError('bad-uri', `"${uri.slice(0, 80)}" is not a URI`, { cause: e });
  }
  const scheme = url.protocol.slice(0, -1);
  if (!isServerScheme(scheme))
    throw new SecurityConfigError(
      'bad-uri',
      `${url.protocol}// is not a binding this client has (coap://, coaps://, coap+tcp://, coaps+tcp://, mqtt://, mqtts://)`,
    );
  if (url.hostname === '') throw new SecurityConfigError('bad-uri', `"${uri.slice(0, 80)}" has no host`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { scheme, host, port: url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port) };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function modeOf(value: number | undefined): SecurityModeValue {
  const mode = value ?? SecurityMode.noSec;
  if (!Number.isInteger(mode) || mode < 0 || mode > 4)
    throw new SecurityConfigError('bad-security-mode', `Security Mode (/0/x/2) ${mode} is not 0..4`);
  return mode as SecurityModeValue;
}

/**
 * What the client needs to talk to the server at `uri` with the credentials of its /0 instance.
 * coap:// goes with NoSec (3) only and coaps:// with PSK (0), RPK (1) or Certificate (2); EST (4)
 * is refused. Throws SecurityConfigError for anything the handshake could not use.
 */
export function clientSecurity(uri: string, resources: SecurityResources): ClientSecurity {
  const address = parseServerAddress(uri);
  const mode = modeOf(resources.securityMode);
  if (mode === SecurityMode.certificateWithEst)
    throw new SecurityConfigError(
      'est-unsupported',
      'Security Mode 4 (Certificate with EST) is not supported: provision a certificate (mode 2) instead',
    );
  const scheme = address.scheme;
  if (!isSecureScheme(scheme)) {
    if (mode !== SecurityMode.noSec)
      throw new SecurityConfigError(
        'mode-mismatch',
        `Security Mode ${mode} (${MODE_NAMES[mode]}) needs a ${scheme.replace(/^(coap|mqtt)/, '$1s')}:// server URI, not ${scheme}://`,
      );
    return { kind: 'nosec' };
  }
  // mqtts:// is TLS to the broker: NoSec there means the broker's certificate is checked against
  // the system's CAs and the client authenticates with its /24 User Name and Password.
  if (mode === SecurityMode.noSec && scheme === 'mqtts') return { kind: 'nosec' };
  if (mode === SecurityMode.noSec)
    throw new SecurityConfigError(
      'mode-mismatch',
      `a ${scheme}:// server needs Security Mode 0 (PSK), 1 (RPK) or 2 (Certificate), not 3 (NoSec)`,
    );
  const serverName = serverNameFor(address.host, resources.sni);
  const { groups, signatureAlgorithms, tls13Features, tlsExtensions } = resources;
  const tls = Object.fromEntries(
    Object.entries({ groups, signatureAlgorithms, tls13Features, tlsExtensions }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  const common = {
    ...(serverName === undefined ? {} : { serverName }),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
  switch (mode) {
    case SecurityMode.psk:
      return {
        kind: 'dtls',
        mode: 'psk',
        psk: pskOf(resources),
        ...suitesFor('psk', resources.cipherSuites),
        ...common,
      };
    case SecurityMode.rpk: {
      const privateKey = privateKeyOf(resources.secretKey);
      if (resources.publicKeyOrIdentity !== undefined && resources.publicKeyOrIdentity.length > 0)
        checkOwnPublicKey(resources.publicKeyOrIdentity, privateKey);
      return {
        kind: 'dtls',
        mode: 'rpk',
        certificate: { privateKey },
        verification: { kind: 'rpk', publicKey: serverSpkiOf(resources.serverPublicKey) },
        ...suitesFor('ecdhe_ecdsa', resources.cipherSuites),
        ...common,
      };
    }
    default: {
      const privateKey = privateKeyOf(resources.secretKey);
      const certificate = certificateOf(resources.publicKeyOrIdentity, privateKey);
      const matchingType = smallEnum(
        resources.matchingType,
        0,
        'bad-matching-type',
        'Matching Type (/0/x/13)',
      );
      return {
        kind: 'dtls',
        mode: 'x509',
        certificate: { privateKey, certificateChain: [certificate] },
        verification: {
          kind: 'x509',
          trust: trustOf(resources.serverPublicKey, matchingType),
          certificateUsage: smallEnum(
            resources.certificateUsage,
            3,
            'bad-certificate-usage',
            'Certificate Usage (/0/x/15)',
          ),
          matchingType,
        },
        ...suitesFor('ecdhe_ecdsa', resources.cipherSuites),
        ...common,
      };
    }
  }
}

const MODE_NAMES = ['PSK', 'RPK', 'Certificate', 'NoSec', 'Certificate with EST'] as const;

/** /0/x/14 when set; else the host when it is a DNS name (SNI never carries an IP literal, RFC 6066 §3). */
export function serverNameFor(host: string, sni: string | undefined): string | undefined {
  if (sni !== undefined && sni !== '') return sni;
  return isIP(host) === 0 ? host : undefined;
}

function pskOf(resources: SecurityResources): { identity: Uint8Array; key: Uint8Array } {
  const identity = resources.publicKeyOrIdentity ?? new Uint8Array();
  const key = resources.secretKey ?? new Uint8Array();
  if (identity.length === 0 || identity.length > MAX_PSK_IDENTITY_BYTES)
    throw new SecurityConfigError(
      'bad-psk-identity',
      `the PSK identity (/0/x/3) must be 1..${MAX_PSK_IDENTITY_BYTES} bytes, not ${identity.length}`,
    );
  try {
    utf8.decode(identity); // RFC 4279 §5.1: identities are UTF-8 strings
  } catch (e) {
    throw new SecurityConfigError('bad-psk-identity', 'the PSK identity (/0/x/3) is not UTF-8', { cause: e });
  }
  if (key.length === 0 || key.length > MAX_PSK_KEY_BYTES)
    throw new SecurityConfigError(
      'bad-psk-key',
      `the PSK (/0/x/5) must be 1..${MAX_PSK_KEY_BYTES} bytes, not ${key.length}`,
    );
  return { identity, key };
}

const PEM = /^\s*-----BEGIN /;
const ascii = new TextDecoder('latin1');

/** DER bytes, or PEM text in the bytes (Core 1.2.1 lets /0 hold PEM), as node:crypto takes them. */
function keyInput(bytes: Uint8Array): { key: Buffer | string; format: 'der' | 'pem' } {
  const text = ascii.decode(bytes.subarray(0, 64));
  return PEM.test(text)
    ? { key: ascii.decode(bytes), format: 'pem' }
    : { key: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), format: 'der' };
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** /0/x/5: RFC 5958 OneAsymmetricKey (PKCS#8) DER, or SEC1 ECPrivateKey DER, or PEM; P-256 only. */
export function privateKeyOf(secretKey: Uint8Array | undefined): KeyObject {
  if (secretKey === undefined || secretKey.length === 0)
    throw new SecurityConfigError(
      'bad-private-key',
      'the Secret Key (/0/x/5) is empty: a P-256 private key is needed',
    );
  const input = keyInput(secretKey);
  let key: KeyObject | undefined;
  let cause: unknown;
  for (const type of input.format === 'pem' ? [undefined] : (['pkcs8', 'sec1'] as const)) {
    try {
      key =
        input.format === 'pem'
          ? createPrivateKey({ key: input.key, format: 'pem' })
          : createPrivateKey({ key: input.key, format: 'der', type: type! });
      break;
    } catch (e) {
      cause = e;
    }
  }
  if (key === undefined)
    throw new SecurityConfigError(
      'bad-private-key',
      'the Secret Key (/0/x/5) is not a private key (expected RFC 5958 OneAsymmetricKey DER)',
      { cause },
    );
  if (!isP256(key))
    throw new SecurityConfigError(
      'bad-private-key',
      `the Secret Key (/0/x/5) is a ${describeKey(key)} key; LwM2M needs P-256 (secp256r1)`,
    );
  return key;
}

function describeKey(key: KeyObject): string {
  return key.asymmetricKeyType === 'ec'
    ? `EC ${key.asymmetricKeyDetails?.namedCurve ?? '?'}`
    : (key.asymmetricKeyType ?? 'unknown');
}

function spkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

function publicKeyOf(bytes: Uint8Array, reason: SecurityConfigErrorReason, what: string): KeyObject {
  let key: KeyObject;
  try {
    const input = keyInput(bytes);
    key =
      input.format === 'pem'
        ? createPublicKey({ key: input.key, format: 'pem' })
        : createPublicKey({ key: input.key, format: 'der', type: 'spki' });
  } catch (e) {
    throw new SecurityConfigError(reason, `${what} is not a SubjectPublicKeyInfo`, { cause: e });
  }
  if (!isP256(key)) throw new SecurityConfigError(reason, `${what} is a ${describeKey(key)} key, not P-256`);
  return key;
}

/** RPK /0/x/3, when set, must be the public half of /0/x/5. */
function checkOwnPublicKey(bytes: Uint8Array, privateKey: KeyObject): void {
  const own = publicKeyOf(bytes, 'bad-public-key', 'the Public Key (/0/x/3)');
  if (!equalBytes(spkiOf(own), spkiOf(createPublicKey(privateKey))))
    throw new SecurityConfigError(
      'bad-public-key',
      'the Public Key (/0/x/3) does not belong to the Secret Key (/0/x/5)',
    );
}

/** RPK /0/x/4: the server's SubjectPublicKeyInfo, as DER (it is matched byte for byte). */
function serverSpkiOf(bytes: Uint8Array | undefined): Uint8Array {
  if (bytes === undefined || bytes.length === 0)
    throw new SecurityConfigError(
      'bad-server-key',
      "the Server Public Key (/0/x/4) is empty: the server's public key is needed",
    );
  return spkiOf(publicKeyOf(bytes, 'bad-server-key', 'the Server Public Key (/0/x/4)'));
}

/** X.509 /0/x/3: our certificate, whose key must be the one in /0/x/5; returned as DER. */
function certificateOf(bytes: Uint8Array | undefined, privateKey: KeyObject): Uint8Array {
  if (bytes === undefined || bytes.length === 0)
    throw new SecurityConfigError('bad-certificate', 'the certificate (/0/x/3) is empty');
  const cert = parseCertificate(bytes, 'bad-certificate', 'the certificate (/0/x/3)');
  if (!equalBytes(spkiOf(cert.publicKey), spkiOf(createPublicKey(privateKey))))
    throw new SecurityConfigError(
      'bad-certificate',
      'the certificate (/0/x/3) is not for the Secret Key (/0/x/5)',
    );
  return new Uint8Array(cert.raw);
}

function parseCertificate(
  bytes: Uint8Array,
  reason: SecurityConfigErrorReason,
  what: string,
): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (e) {
    throw new SecurityConfigError(reason, `${what} is not an X.509 certificate (DER or PEM)`, { cause: e });
  }
}

/** Hash lengths of matching types 1..3 (RFC 6698 §2.1.3). */
const HASH_LENGTHS = [undefined, 32, 48, 64] as const;

/** X.509 /0/x/4: a certificate (DER) for matching type 0, else a SHA-2 hash of one. */
function trustOf(bytes: Uint8Array | undefined, matchingType: 0 | 1 | 2 | 3): Uint8Array {
  if (bytes === undefined || bytes.length === 0)
    throw new SecurityConfigError(
      'bad-server-key',
      'the Server Public Key (/0/x/4) is empty: a server certificate or trust anchor is needed',
    );
  const hashLength = HASH_LENGTHS[matchingType];
  if (hashLength !== undefined) {
    if (bytes.length !== hashLength)
      throw new SecurityConfigError(
        'bad-server-key',
        `with Matching Type ${matchingType} the Server Public Key (/0/x/4) is a ${hashLength}-byte hash, not ${bytes.length} bytes`,
      );
    return bytes;
  }
  return new Uint8Array(parseCertificate(bytes, 'bad-server-key', 'the Server Public Key (/0/x/4)').raw);
}

function smallEnum(
  value: number | undefined,
  fallback: 0 | 1 | 2 | 3,
  reason: SecurityConfigErrorReason,
  what: string,
): 0 | 1 | 2 | 3 {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > 3)
    throw new SecurityConfigError(reason, `${what} ${value} is not 0..3`);
  return value as 0 | 1 | 2 | 3;
}

/** /0/x/16: every suite must be one we implement, and fit the mode's key exchange. */
function suitesFor(
  exchange: KeyExchange,
  suites: readonly number[] | undefined,
): { cipherSuites?: readonly number[] } {
  if (suites === undefined || suites.length === 0) return {};
  for (const id of suites) {
    const suite = cipherSuite(id);
    if (suite === undefined)
      throw new SecurityConfigError(
        'unknown-cipher-suite',
        `cipher suite ${id} (0x${id.toString(16).padStart(4, '0')}) in /0/x/16 is not supported (49320, 49326, 174, 49187 are)`,
      );
    if (suite.keyExchange !== exchange)
      throw new SecurityConfigError(
        'cipher-suite-mismatch',
        `cipher suite ${suite.name} in /0/x/16 does not fit the Security Mode (${exchange === 'psk' ? 'PSK' : 'ECDHE_ECDSA'} suites only)`,
      );
  }
  return { cipherSuites: [...new Set(suites)] };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Transport TS §Security sorts (D)TLS alerts into retry, fail and ignore. The "fail" ones (42-46
 * bad/unsupported/revoked/expired/unknown certificate, 48 unknown_ca, 49 access_denied, 112-115
 * unrecognized_name … unknown_psk_identity) end the registration procedure; others are retried.
 */
const FAIL_ALERTS: ReadonlySet<number> = new Set([42, 43, 44, 45, 46, 48, 49, 112, 113, 114, 115]);

export function isFatalAlert(alert: number | undefined): boolean {
  return alert !== undefined && FAIL_ALERTS.has(alert);
}
