/**
 * CoAP over TLS (RFC 8323 §3.1, coaps+tcp) as a ConnectionChannel over node:tls, with the
 * credentials LwM2M uses (LwM2M 1.2 Transport §5.2): pre-shared keys, X.509 certificates, or
 * both. A connection is up (onConnect) once its handshake is done; its Peer carries the
 * authenticated identity. The framing and limits are those of TcpChannel (StreamConnections).
 */
import { constants as cryptoConstants, createPrivateKey, KeyObject, X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import {
  ChannelConfigError,
  ChannelError,
  ChannelSocketError,
  describePeer,
  normalizeAddress,
  type Peer,
  type PeerIdentity,
} from './channel.js';
import {
  checkLocalAddress,
  listenOn,
  resolveStreamLimits,
  socketError,
  StreamChannel,
  StreamConnections,
  systemCode,
  type Dial,
  type StreamDialOptions,
  type StreamLimits,
  type StreamListenOptions,
} from './stream-connections.js';

/** The default port of coaps+tcp (RFC 8323 §8.2). */
export const COAP_TLS_PORT = 5684;

/** A private key: PEM (text or bytes), DER (PKCS#8 or SEC1), or a KeyObject. */
export type TlsPrivateKey = string | Uint8Array | KeyObject;
/** A certificate: PEM (text or bytes, possibly several) or DER. */
export type TlsCertificate = string | Uint8Array;

/** A TLS handshake that failed, or a peer whose credentials we refused. */
export class ChannelHandshakeError extends ChannelError {
  constructor(
    peer: Peer | undefined,
    message: string,
    details: { systemCode?: string; cause?: unknown } = {},
  ) {
    super(
      'PETREL_ERR_CHANNEL_HANDSHAKE',
      `TLS handshake${peer ? ` with ${describePeer(peer)}` : ''} failed: ${message}`,
      peer ? { ...details, peer } : details,
    );
  }
}

export interface TlsCommonOptions {
  /** Default 'TLSv1.2' (LwM2M 1.2 Transport §5.2 requires 1.2 at least). */
  readonly minVersion?: tls.SecureVersion;
  /** Default 'TLSv1.3'. */
  readonly maxVersion?: tls.SecureVersion;
  /**
   * OpenSSL cipher string, TLS 1.3 suites (TLS_*) included; default: the LwM2M suites for the
   * credentials given (see defaultCiphers).
   */
  readonly ciphers?: string;
  /** Trust anchors: a peer certificate must chain to one of these. */
  readonly ca?: TlsCertificate | readonly TlsCertificate[];
  /** Key exchange groups, most preferred first, as OpenSSL names them (`P-256:X25519`). */
  readonly groups?: string;
  /** Signature algorithms, most preferred first (`ecdsa_secp256r1_sha256:...`). */
  readonly signatureAlgorithms?: string;
  /**
   * Trust a `ca` entry that is not a self-signed root (an intermediate, or the peer's own leaf
   * as LwM2M Certificate Usage 1/3 pins it): OpenSSL's partial chain (Node >= 20.18).
   */
  readonly allowPartialTrustChain?: boolean;
}

export interface TlsServerOptions extends TlsCommonOptions {
  /** Our private key and certificate (chain, leaf first), for certificate mode. */
  readonly key?: TlsPrivateKey;
  readonly cert?: TlsCertificate | readonly TlsCertificate[];
  /** Ask clients for a certificate (default: true when `ca` is given). */
  readonly requestCert?: boolean;
  /**
   * Refuse clients that did not authenticate, by a PSK or a certificate chaining to `ca`
   * (default: true when `ca` is given). When false, a client certificate that did not verify
   * still reaches the Peer's identity: the caller must then check it itself.
   */
  readonly rejectUnauthorized?: boolean;
  readonly pskIdentityHint?: string;
  /**
   * The key of a PSK identity, or undefined to refuse it. Synchronous, as OpenSSL asks in the
   * middle of the handshake: the caller keeps what it needs in memory.
   */
  readonly pskLookup?: (identity: string) => Uint8Array | undefined;
}

export interface TlsClientOptions extends TlsCommonOptions {
  /** Our PSK identity and key, for PSK mode. */
  readonly psk?: { readonly identity: string; readonly key: Uint8Array };
  /** Our client certificate (chain, leaf first) and key. */
  readonly key?: TlsPrivateKey;
  readonly cert?: TlsCertificate | readonly TlsCertificate[];
  /** SNI and the name the server certificate must match; without it, the peer's IP address. */
  readonly servername?: string;
  /** Replaces the host name check of the server certificate (return an Error to refuse). */
  readonly checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** Refuse an unauthenticated server (default true, except PSK-only without `ca`). */
  readonly rejectUnauthorized?: boolean;
}

export type TlsListenOptions = StreamListenOptions & StreamLimits & TlsServerOptions;
export type TlsDialOptions = StreamDialOptions & StreamLimits & TlsClientOptions;

export interface TlsSessionInfo {
  /** 'TLSv1.2', 'TLSv1.3'. */
  readonly protocol: string;
  /** The OpenSSL name of the cipher suite ('PSK-AES128-CCM8', 'TLS_AES_128_GCM_SHA256'). */
  readonly cipher: string;
}

/**
 * TLS 1.3 suites whose hash is SHA-256. Node hands OpenSSL a PSK through the TLS 1.2 style
 * callback, which OpenSSL binds to SHA-256 (RFC 8446 §4.2.11 default); with a SHA-384 suite
 * chosen, the PSK no longer applies and a server with a certificate silently uses that instead.
 */
const TLS13_SHA256_SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_CCM_SHA256',
];
const TLS13_ALL_SUITES = [...TLS13_SHA256_SUITES, 'TLS_AES_256_GCM_SHA384'];
/** LwM2M 1.2 Transport §5.2.1 (PSK) and §5.2.2 (certificates), plus RSA for RSA certificates. */
const PSK_CIPHERS = ['PSK-AES128-CCM8', 'PSK-AES128-GCM-SHA256', 'PSK-AES128-CBC-SHA256'];
const CERT_CIPHERS = [
  'ECDHE-ECDSA-AES128-CCM8',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
];

/** The default cipher string for the credentials in use. */
export function defaultCiphers(psk: boolean, certificate: boolean): string {
  const suites = psk ? TLS13_SHA256_SUITES : TLS13_ALL_SUITES;
  return withCcm8([...suites, ...(psk ? PSK_CIPHERS : []), ...(certificate ? CERT_CIPHERS : [])].join(':'));
}

/**
 * OpenSSL 3.5 (Node 24) ranks the CCM_8 suites (64-bit tags) below its default security level 2,
 * so they would silently drop out of the list, yet LwM2M mandates them (Transport §5.2: PSK and
 * ECDHE_ECDSA with AES_128_CCM_8; constrained devices often offer nothing else). A cipher string
 * that names a CCM_8 suite therefore asks for security level 0. The lists are explicit (AEAD or
 * SHA-256 suites, TLS 1.2 at least), so what level 0 re-admits is CCM_8 itself and small
 * certificate keys, which LwM2M's P-256 profile does not use.
 */
export function withCcm8(ciphers: string): string {
  return /CCM8/i.test(ciphers) && !/@SECLEVEL=/i.test(ciphers) ? `${ciphers}:@SECLEVEL=0` : ciphers;
}

export class TlsChannel extends StreamChannel {
  private constructor(table: StreamConnections, server?: tls.Server) {
    super('tls', table, server);
  }

  /**
   * Listens; resolves once listening. Needs a certificate (key + cert), a pskLookup, or both.
   * Accepted connections whose handshake fails are reported to onError as ChannelHandshakeError.
   */
  static async listen(options: TlsListenOptions): Promise<TlsChannel> {
    const limits = resolveStreamLimits(options);
    const table = new StreamConnections(limits);
    const { secure, requireAuth } = serverOptions(options);
    const pskIdentities = new WeakMap<tls.TLSSocket, string>();
    const lookup = options.pskLookup;
    const pskCallback = (socket: tls.TLSSocket, identity: string): Uint8Array | null => {
      let key: Uint8Array | undefined;
      try {
        key = lookup!(identity);
      } catch (e) {
        const reason = `pskLookup threw: ${e instanceof Error ? e.message : String(e)}`;
        table.events.error(new ChannelHandshakeError(remotePeerOf(socket), reason, { cause: e }));
      }
      if (key === undefined || key.length === 0) return null;
      pskIdentities.set(socket, identity);
      return key;
    };
    const server = configured(() =>
      tls.createServer({
        ...secure,
        handshakeTimeout: limits.connectTimeout,
        ...(lookup && { pskCallback }),
      }),
    );
    // The raw socket counts toward the limit from the start; the TLS socket replaces it when up.
    server.on('connection', (socket: Socket) => table.acceptPending(socket));
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const identity = acceptedIdentity(socket, pskIdentities.get(socket), requireAuth);
      if (identity instanceof ChannelHandshakeError) {
        table.events.error(identity);
        socket.destroy();
        return;
      }
      table.promote(socket, identity);
    });
    server.on('tlsClientError', (e: Error, socket: tls.TLSSocket) => {
      table.events.error(handshakeError(remotePeerOf(socket), e));
    });
    await listenOn(server, options, COAP_TLS_PORT);
    server.on('error', (e: Error) =>
      table.events.error(new ChannelSocketError(e.message, { systemCode: systemCode(e), cause: e })),
    );
    return new TlsChannel(table, server);
  }

  /**
   * A channel that listens nowhere and connects (and shakes hands) on the first send to a peer
   * without a connection. A failed handshake ends it with onDisconnect(peer, 'error', error).
   */
  static dialer(options: TlsDialOptions): TlsChannel {
    const limits = resolveStreamLimits(options);
    const localAddress = checkLocalAddress(options.localAddress);
    const { secure, pskOnly } = clientOptions(options);
    // Built once: bad keys, certificates or cipher strings fail here rather than on every dial.
    secure.secureContext = configured(() => tls.createSecureContext(secure));
    const dial: Dial = (target) => {
      // tls.connect passes socket.connect() options (localAddress) through; its types leave them out.
      const connect: tls.ConnectionOptions & { localAddress?: string } = {
        ...secure,
        host: target.address,
        port: target.port,
        localAddress,
      };
      const socket = tls.connect(connect);
      // Once TCP is up, any failure before secureConnect is the handshake's (alerts, refused certificates).
      let connected = false;
      socket.once('connect', () => (connected = true));
      return {
        socket,
        readyEvent: 'secureConnect',
        identify: () => dialledIdentity(socket, target, options.psk?.identity, pskOnly),
        failure: (e) => (connected ? handshakeError(target, e) : socketError(target, e)),
      };
    };
    return new TlsChannel(new StreamConnections(limits, dial));
  }

  /** The protocol and cipher of the connection to `peer`, when it is up. */
  sessionInfo(peer: Peer): TlsSessionInfo | undefined {
    const socket = this.table.socketOf(peer) as tls.TLSSocket | undefined;
    const protocol = socket?.getProtocol();
    const cipher = socket?.getCipher();
    if (!protocol || !cipher) return undefined;
    return { protocol, cipher: cipher.name };
  }
}

// ---- options ----

/** Options both sides pass to the secure context as they are. */
function common(options: TlsCommonOptions): tls.SecureContextOptions {
  return {
    minVersion: options.minVersion ?? 'TLSv1.2',
    maxVersion: options.maxVersion ?? 'TLSv1.3',
    ...(options.allowPartialTrustChain && { allowPartialTrustChain: true }),
    ...(options.groups !== undefined && { ecdhCurve: options.groups }),
    ...(options.signatureAlgorithms !== undefined && { sigalgs: options.signatureAlgorithms }),
  };
}

function serverOptions(options: TlsServerOptions): { secure: tls.TlsOptions; requireAuth: boolean } {
  const hasCert = options.key !== undefined || options.cert !== undefined;
  if (hasCert && (options.key === undefined || options.cert === undefined))
    throw new ChannelConfigError('a TLS certificate needs both key and cert');
  const psk = options.pskLookup !== undefined;
  if (!hasCert && !psk)
    throw new ChannelConfigError('a TLS server needs a certificate (key, cert) or a pskLookup');
  const ca = options.ca === undefined ? undefined : certificatesPem(options.ca, 'ca');
  const requestCert = options.requestCert ?? ca !== undefined;
  const secure: tls.TlsOptions = {
    ...common(options),
    ciphers: options.ciphers === undefined ? defaultCiphers(psk, hasCert) : withCcm8(options.ciphers),
    requestCert,
    // Checked in secureConnection instead, so a refused client is reported, and PSK clients
    // (who present no certificate) pass.
    rejectUnauthorized: false,
    // No resumption: every connection authenticates afresh, so its identity is known.
    secureOptions: cryptoConstants.SSL_OP_NO_TICKET,
  };
  if (hasCert) {
    secure.key = privateKeyPem(options.key!);
    secure.cert = certificatesPem(options.cert!, 'cert').join('\n'); // one chain, leaf first;
  }
  if (ca) secure.ca = ca;
  if (options.pskIdentityHint !== undefined) secure.pskIdentityHint = options.pskIdentityHint;
  return { secure, requireAuth: options.rejectUnauthorized ?? ca !== undefined };
}

function clientOptions(options: TlsClientOptions): { secure: tls.ConnectionOptions; pskOnly: boolean } {
  const hasCert = options.key !== undefined || options.cert !== undefined;
  if (hasCert && (options.key === undefined || options.cert === undefined))
    throw new ChannelConfigError('a TLS client certificate needs both key and cert');
  const { psk } = options;
  const ca = options.ca === undefined ? undefined : certificatesPem(options.ca, 'ca');
  // Without trust anchors a PSK client has nothing to check a server certificate against.
  const pskOnly = psk !== undefined && ca === undefined;
  const secure: tls.ConnectionOptions = {
    ...common(options),
    ciphers:
      options.ciphers === undefined ? defaultCiphers(psk !== undefined, !pskOnly) : withCcm8(options.ciphers),
    rejectUnauthorized: options.rejectUnauthorized ?? !pskOnly,
  };
  if (psk) {
    if (psk.key.length === 0) throw new ChannelConfigError('the PSK key is empty');
    // RFC 4279 §5.3 allows 2^16 - 1 bytes; OpenSSL takes at most 128 (PSK_MAX_IDENTITY_LEN).
    const identityBytes = Buffer.byteLength(psk.identity);
    if (identityBytes === 0 || identityBytes > 128)
      throw new ChannelConfigError(`the PSK identity must be 1..128 bytes, got ${identityBytes}`);
    const key = Buffer.from(psk.key);
    secure.pskCallback = () => ({ identity: psk.identity, psk: key });
  }
  if (hasCert) {
    secure.key = privateKeyPem(options.key!);
    secure.cert = certificatesPem(options.cert!, 'cert').join('\n'); // one chain, leaf first;
  }
  if (ca) secure.ca = ca;
  if (options.servername !== undefined) secure.servername = options.servername;
  if (options.checkServerIdentity) secure.checkServerIdentity = options.checkServerIdentity;
  // A PSK session has no certificate to check a name against (TLS 1.2 runs the check anyway).
  else if (pskOnly) secure.checkServerIdentity = () => undefined;
  return { secure, pskOnly };
}

/** Runs a node:tls constructor, its option errors (bad cipher string, key mismatch) as ChannelConfigError. */
function configured<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof ChannelError) throw e;
    throw new ChannelConfigError(`unusable TLS options: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function privateKeyPem(key: TlsPrivateKey): string {
  try {
    if (key instanceof KeyObject) return exportPem(key);
    if (typeof key === 'string') return key;
    const buffer = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    if (isPem(buffer)) return buffer.toString('latin1');
    try {
      return exportPem(createPrivateKey({ key: buffer, format: 'der', type: 'pkcs8' }));
    } catch {
      return exportPem(createPrivateKey({ key: buffer, format: 'der', type: 'sec1' }));
    }
  } catch (e) {
    throw new ChannelConfigError(
      `the TLS private key is unusable: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

function exportPem(key: KeyObject): string {
  if (key.type !== 'private') throw new ChannelConfigError('the TLS key is not a private key');
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** PEM text of certificates given as PEM or DER. */
function certificatesPem(certs: TlsCertificate | readonly TlsCertificate[], what: string): string[] {
  const list: readonly TlsCertificate[] =
    typeof certs === 'string' || certs instanceof Uint8Array ? [certs] : certs;
  return list.map((cert) => {
    if (typeof cert === 'string') return cert;
    const buffer = Buffer.from(cert.buffer, cert.byteOffset, cert.byteLength);
    if (isPem(buffer)) return buffer.toString('latin1');
    try {
      return new X509Certificate(buffer).toString();
    } catch (e) {
      throw new ChannelConfigError(
        `${what}: not a PEM or DER certificate (${e instanceof Error ? e.message : String(e)})`,
      );
    }
  });
}

function isPem(bytes: Buffer): boolean {
  return bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN');
}

// ---- identities ----

/** The identity of an accepted client, or why it is refused. */
function acceptedIdentity(
  socket: tls.TLSSocket,
  pskIdentity: string | undefined,
  requireAuth: boolean,
): PeerIdentity | undefined | ChannelHandshakeError {
  const peer = remotePeerOf(socket);
  const cert = socket.getPeerX509Certificate();
  if (cert) {
    if (requireAuth && !socket.authorized)
      return new ChannelHandshakeError(
        peer,
        `client certificate refused: ${String(socket.authorizationError)}`,
      );
    return x509Identity(cert);
  }
  if (pskIdentity !== undefined && usedPsk(socket)) return { psk: pskIdentity };
  if (requireAuth)
    return new ChannelHandshakeError(peer, 'the client authenticated with neither a PSK nor a certificate');
  return undefined;
}

/** The server's identity as the dialler sees it: the PSK identity we used, or its certificate. */
function dialledIdentity(
  socket: tls.TLSSocket,
  target: Peer,
  pskIdentity: string | undefined,
  pskOnly: boolean,
): PeerIdentity | undefined {
  const cert = socket.getPeerX509Certificate();
  if (cert && !usedPsk(socket)) {
    if (pskOnly)
      throw new ChannelHandshakeError(target, 'the server used a certificate; only a PSK was configured');
    return x509Identity(cert);
  }
  if (pskIdentity !== undefined && usedPsk(socket)) return { psk: pskIdentity };
  return undefined;
}

/** Whether the session was keyed by the PSK: a PSK suite in TLS 1.2, an accepted PSK in TLS 1.3. */
function usedPsk(socket: tls.TLSSocket): boolean {
  if (socket.getProtocol() === 'TLSv1.3') return socket.isSessionReused();
  return socket.getCipher().name.includes('PSK');
}

/** Same form as the DTLS x509Identity: the one-line subject, whose CN subjectCommonName reads. */
function x509Identity(cert: X509Certificate): PeerIdentity {
  const subject = cert.subject.split('\n').filter(Boolean).join(', ');
  return { x509: { subject, der: new Uint8Array(cert.raw) } };
}

function remotePeerOf(socket: Socket): Peer | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined
    ? undefined
    : { address: normalizeAddress(remoteAddress), port: remotePort };
}

function handshakeError(peer: Peer | undefined, e: Error): ChannelError {
  if (e instanceof ChannelError) return e;
  return new ChannelHandshakeError(peer, e.message, { systemCode: systemCode(e), cause: e });
}
