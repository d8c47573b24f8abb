/**
 * The transport seam: a Channel sends bytes to a peer and delivers bytes with the peer's address
 * and, on secure transports, its authenticated identity. The CoAP endpoint, DTLS and the bindings
 * run over any Channel (UDP, DTLS, TCP, TLS, in-memory for tests), so none of them knows sockets.
 */
import { hex } from '../hex.js';
import { isIP } from 'node:net';
import { PetrelError } from '../errors.js';

/** Who sent a datagram, as authenticated by a secure transport (DTLS/TLS). */
export type PeerIdentity =
  | { readonly psk: string }
  | { readonly rpk: Uint8Array }
  | { readonly x509: { readonly subject: string; readonly der: Uint8Array } };

/**
 * A remote endpoint. `address` is an IP literal; IPv4 peers are always given in plain dotted
 * form, never as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), whatever the socket's family. Peers are
 * immutable: layers may cache what they derive from one (its key, its socket address) by object.
 */
export interface Peer {
  readonly address: string;
  readonly port: number;
  readonly identity?: PeerIdentity;
  /** DTLS Connection ID (RFC 9146) when the record carried one. */
  readonly connectionId?: Uint8Array;
}

export type ChannelKind = 'udp' | 'dtls' | 'tcp' | 'tls' | 'websocket' | 'mqtt' | 'sms' | 'memory';

export interface LocalAddress {
  readonly address: string;
  readonly port: number;
}

export type ReceiveHandler = (peer: Peer, bytes: Uint8Array) => void;
export type ChannelErrorHandler = (error: ChannelError) => void;

export interface Channel {
  readonly kind: ChannelKind;
  /** Where this channel is bound, when that means something (sockets, memory addresses). */
  readonly local?: LocalAddress;
  /**
   * Fire-and-forget. Network failures (unreachable, too large, bad peer address) never throw:
   * they reach the error handlers, asynchronously. The channel may read `datagram` after this
   * returns, so the caller must not change it. Throws ChannelClosedError after close().
   * Stream channels frame the bytes themselves.
   */
  send(peer: Peer, datagram: Uint8Array): void;
  /** Adds a handler; every handler sees every datagram, in registration order. */
  onReceive(handler: ReceiveHandler): void;
  onError?(handler: ChannelErrorHandler): void;
  /** Stops delivery and releases the socket. Idempotent: later calls return the same promise. */
  close(): Promise<void>;
}

/** Why a connection of a ConnectionChannel ended. */
export type ConnectionCloseReason =
  | 'closed' // we closed it (disconnect() or close())
  | 'peer-closed' // the peer ended it (FIN)
  | 'error' // a socket or TLS error (reset, handshake failure...)
  | 'idle' // no traffic for the idle timeout
  | 'evicted' // the connection limit was reached
  | 'framing'; // the byte stream did not parse as frames (RFC 8323 §5.6: abort)

/**
 * A Channel over connections (TCP, TLS): `send` takes one whole frame (CoAP over TCP, RFC 8323
 * §3.2) and every delivery is one whole frame, cut from the byte stream by the channel. A peer is
 * one connection: the layers above keep per-connection state (CSM, exchanges, observations) and
 * drop it when the connection closes. The listening side sends only over connections it has; the
 * dialling side opens a connection on the first send to a peer without one.
 */
export interface ConnectionChannel extends Channel {
  readonly connectionOriented: true;
  /** A connection is up (accepted, or dialled and, for TLS, its handshake done). */
  onConnect(handler: (peer: Peer) => void): void;
  /** A connection ended; pending sends to it are lost. */
  onDisconnect(handler: (peer: Peer, reason: ConnectionCloseReason, error?: Error) => void): void;
  /** Ends the connection to `peer` after writing what was already sent (no-op when none). */
  disconnect(peer: Peer): void;
}

/** True for channels that carry frames over connections (TCP, TLS). */
export function isConnectionChannel(channel: Channel): channel is ConnectionChannel {
  return (channel as Partial<ConnectionChannel>).connectionOriented === true;
}

// ---- errors ----

/** Base of every transport error, so callers can catch the layer as a whole. */
export class ChannelError extends PetrelError {
  /** The peer concerned, when there is one. */
  readonly peer: Peer | undefined;
  /** The OS or Node error code behind it (EMSGSIZE, EADDRINUSE, ERR_SOCKET_BAD_PORT...), if any. */
  readonly systemCode: string | undefined;

  constructor(
    code: string,
    message: string,
    details: { peer?: Peer; systemCode?: string; cause?: unknown } = {},
  ) {
    super(code, message, { cause: details.cause });
    this.peer = details.peer;
    this.systemCode = details.systemCode;
  }
}

/** send() (or another operation) on a channel that was closed: a programming error, so thrown. */
export class ChannelClosedError extends ChannelError {
  constructor(kind: ChannelKind, operation = 'send') {
    super('PETREL_ERR_CHANNEL_CLOSED', `${operation} on a closed ${kind} channel`);
  }
}

/**
 * Why a datagram could not be sent: the peer is not a usable address, the socket's family cannot
 * reach it (IPv6 peer on an IPv4 socket, IPv4 peer on an IPv6-only socket), the datagram exceeds
 * what the path can carry (EMSGSIZE), or the OS refused it for another reason.
 */
export type SendFailure = 'invalid-peer' | 'address-family' | 'too-large' | 'network';

export class ChannelSendError extends ChannelError {
  readonly failure: SendFailure;
  constructor(
    failure: SendFailure,
    peer: Peer,
    message: string,
    details: { systemCode?: string; cause?: unknown } = {},
  ) {
    super('PETREL_ERR_CHANNEL_SEND', `send to ${describePeer(peer)} failed: ${message}`, {
      ...details,
      peer,
    });
    this.failure = failure;
  }
}

/** An error the socket reported outside any send (after binding). */
export class ChannelSocketError extends ChannelError {
  constructor(message: string, details: { systemCode?: string; cause?: unknown } = {}) {
    super('PETREL_ERR_CHANNEL_SOCKET', message, details);
  }
}

/** A receive handler threw; the channel keeps running and reports it here. */
export class ChannelHandlerError extends ChannelError {
  constructor(peer: Peer, cause: unknown) {
    super('PETREL_ERR_CHANNEL_HANDLER', `receive handler threw on a datagram from ${describePeer(peer)}`, {
      peer,
      cause,
    });
  }
}

/** The channel could not take its local address (EADDRINUSE, EADDRNOTAVAIL, EACCES...). */
export class ChannelBindError extends ChannelError {
  constructor(
    address: string,
    port: number,
    message: string,
    details: { systemCode?: string; cause?: unknown } = {},
  ) {
    super('PETREL_ERR_CHANNEL_BIND', `cannot bind ${describePeer({ address, port })}: ${message}`, details);
  }
}

/** Options that cannot work (a host name where an IP literal is needed, a port out of range...). */
export class ChannelConfigError extends ChannelError {
  constructor(message: string) {
    super('PETREL_ERR_CHANNEL_CONFIG', message);
  }
}

/** A feature this Node or platform lacks; `requirement` says what would provide it. */
export class ChannelUnsupportedError extends ChannelError {
  readonly feature: string;
  readonly requirement: string;
  constructor(feature: string, requirement: string, message: string) {
    super('PETREL_ERR_CHANNEL_UNSUPPORTED', message);
    this.feature = feature;
    this.requirement = requirement;
  }
}

// ---- handler bookkeeping shared by the channel implementations ----

/**
 * The receive and error handler lists of one channel. A throwing receive handler must not stop
 * the others nor kill the socket: it becomes a ChannelHandlerError for the error handlers (and is
 * rethrown only when nobody listens for errors, so a bug is never swallowed silently).
 */
export class ChannelEvents {
  readonly #receive: ReceiveHandler[] = [];
  readonly #error: ChannelErrorHandler[] = [];

  onReceive(handler: ReceiveHandler): void {
    this.#receive.push(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#error.push(handler);
  }

  deliver(peer: Peer, bytes: Uint8Array): void {
    for (const handler of this.#receive) {
      try {
        handler(peer, bytes);
      } catch (e) {
        if (this.#error.length === 0) throw e;
        this.error(new ChannelHandlerError(peer, e));
      }
    }
  }

  /** Reports to every error handler now; with none registered the error is dropped, as UDP would. */
  error(error: ChannelError): void {
    for (const handler of this.#error) handler(error);
  }

  /** Reports on a later microtask, so a failing send never re-enters its caller. */
  errorLater(error: ChannelError): void {
    queueMicrotask(() => this.error(error));
  }
}

// ---- peer keys ----

const IPV6_CACHE_LIMIT = 1024;
const ipv6Cache = new Map<string, string>();

/**
 * The canonical text of an IP address, so one host always reads the same: IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`) becomes plain IPv4, IPv6 takes the RFC 5952 form
 * (lower case, no leading zeros, the longest zero run as `::`), a zone id (`%eth0`) is kept.
 * Anything that is not an IP literal is returned unchanged.
 */
export function normalizeAddress(address: string): string {
  if (!address.includes(':')) return address; // IPv4 literals are already canonical
  const cached = ipv6Cache.get(address);
  if (cached !== undefined) return cached;
  const result = canonicalIPv6(address);
  if (ipv6Cache.size >= IPV6_CACHE_LIMIT) ipv6Cache.clear(); // bounded: a flood of sources cannot grow it
  ipv6Cache.set(address, result);
  return result;
}

/**
 * A stable key for tables keyed by peer (exchanges, dedup, observe relations, registrations):
 * `127.0.0.1:5683`, `[::1]:5683`, or `cid:…` for a DTLS session with a Connection ID, whose
 * address may change under it. The identity does not count.
 */
export function peerKey(peer: Peer): string {
  // A DTLS session with a Connection ID keeps its name when its address changes (RFC 9146 §6),
  // so the layers above (exchanges, registrations) follow it.
  if (peer.connectionId !== undefined && peer.connectionId.length > 0) return `cid:${hex(peer.connectionId)}`;
  const { address, port } = peer;
  if (!address.includes(':')) return `${address}:${port}`;
  const a = normalizeAddress(address);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

/** `peerKey` for messages: readable and safe for any (even malformed) peer. */
export function describePeer(peer: { address: string; port: number }): string {
  return peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
}

function canonicalIPv6(address: string): string {
  if (isIP(address) !== 6) return address;
  const zoneAt = address.indexOf('%');
  const zone = zoneAt === -1 ? '' : address.slice(zoneAt);
  const groups = ipv6Groups((zoneAt === -1 ? address : address.slice(0, zoneAt)).toLowerCase());
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6] ?? 0;
    const lo = groups[7] ?? 0;
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return formatIPv6(groups) + zone;
}

/** The eight 16-bit groups of a valid IPv6 literal (validated by net.isIP beforehand). */
function ipv6Groups(text: string): number[] | undefined {
  let hex = text;
  const lastColon = hex.lastIndexOf(':');
  const tail = hex.slice(lastColon + 1);
  if (tail.includes('.')) {
    // Embedded IPv4 (RFC 4291 §2.2 form 3): rewrite as two hex groups.
    const octets = tail.split('.').map(Number);
    if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    hex = `${hex.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16));
  const head = parse(halves[0]);
  const rest = parse(halves[1]);
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const zeros = 8 - head.length - rest.length;
  if (zeros < 1) return undefined;
  return [...head, ...new Array<number>(zeros).fill(0), ...rest];
}

/** RFC 5952 §4: compress the longest run of two or more zero groups (the first on a tie). */
function formatIPv6(groups: number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt === -1) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** True for a literal in 224.0.0.0/4 or ff00::/8 (RFC 5771, RFC 4291 §2.7). */
export function isMulticastAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) {
    const first = Number(address.slice(0, address.indexOf('.')));
    return first >= 224 && first <= 239;
  }
  if (family === 6) {
    // The first group must be ffXX: `ff::1` is 00ff::1, not multicast.
    return /^ff[0-9a-f]{2}:/.test(normalizeAddress(address));
  }
  return false;
}
