/**
 * The connection table shared by TcpChannel and TlsChannel: one entry per connection, keyed by
 * the remote address and port, each with one Peer object, its own frame reader (RFC 8323 §3.2
 * framing), a queue while a dialled connection comes up, and the limits that keep a flood of
 * connections or a stalled reader from growing memory without bound.
 */
import type { Server, Socket } from 'node:net';
import { isIP } from 'node:net';
import { coapTcpFrameLength, DEFAULT_MAX_FRAME_SIZE } from '../coap/tcp-codec.js';
import { CoapFormatError } from '../coap/udp-codec.js';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelError,
  ChannelEvents,
  ChannelHandlerError,
  ChannelSendError,
  ChannelSocketError,
  describePeer,
  normalizeAddress,
  peerKey,
  type ChannelErrorHandler,
  type ConnectionChannel,
  type ConnectionCloseReason,
  type LocalAddress,
  type ReceiveHandler,
  type Peer,
  type PeerIdentity,
} from './channel.js';

/** Limits of a TCP or TLS channel; every one has a default. */
export interface StreamLimits {
  /** The largest frame accepted, header and token included (default DEFAULT_MAX_FRAME_SIZE). */
  readonly maxFrameSize?: number;
  /**
   * Connections at most, those still connecting or in their TLS handshake included (default
   * 10_000). A new connection beyond it evicts ('evicted') the oldest one not up yet, else the
   * least recently active one.
   */
  readonly maxConnections?: number;
  /** Ends a connection with no traffic either way for this many ms ('idle'); 0 = never (default). */
  readonly idleTimeout?: number;
  /**
   * Bytes a connection may have waiting in its socket for a peer that does not read (default
   * 4 MiB); past it the connection is dropped with 'error' rather than buffering on.
   */
  readonly maxWriteBuffer?: number;
  /** A dialled connection (and a TLS handshake) must be up within this many ms (default 10_000). */
  readonly connectTimeout?: number;
  /** Bytes of frames queued for a dialled connection until it is up (default 64 KiB). */
  readonly maxQueuedBytes?: number;
}

export interface StreamListenOptions {
  /** IP literal to listen on (default `::`, every interface, IPv4 too where the OS allows). */
  readonly address?: string;
  /** 0 for an ephemeral port, read back from `local.port`. */
  readonly port?: number;
  /** With `::`: refuse IPv4 connections. */
  readonly ipv6Only?: boolean;
}

export interface StreamDialOptions {
  /** The local IP address to connect from. */
  readonly localAddress?: string;
}

export type ResolvedStreamLimits = Required<StreamLimits>;

export const DEFAULT_STREAM_LIMITS: ResolvedStreamLimits = Object.freeze({
  maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
  maxConnections: 10_000,
  idleTimeout: 0,
  maxWriteBuffer: 4 * 1024 * 1024,
  connectTimeout: 10_000,
  maxQueuedBytes: 64 * 1024,
});

/** How long a gracefully ended connection may take to close before it is destroyed. */
const END_GRACE_MS = 2000;
/** Len/TKL and up to 4 extended length bytes (RFC 8323 §3.2). */
const MAX_HEADER = 5;

export function resolveStreamLimits(limits: StreamLimits): ResolvedStreamLimits {
  const out = { ...DEFAULT_STREAM_LIMITS };
  for (const key of Object.keys(DEFAULT_STREAM_LIMITS) as (keyof StreamLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    const min = key === 'idleTimeout' ? 0 : key === 'maxFrameSize' ? 2 : 1;
    if (!Number.isSafeInteger(value) || value < min)
      throw new ChannelConfigError(`${key} must be an integer >= ${min}, got ${value}`);
    out[key] = value;
  }
  return out;
}

/** A connection being dialled: its socket and the event that says it is up. */
export interface DialAttempt {
  readonly socket: Socket;
  readonly readyEvent: 'connect' | 'secureConnect';
  /** The peer's identity once up (TLS); throws a ChannelError to refuse the connection. */
  identify?(): PeerIdentity | undefined;
  /** The error to report when the socket fails before it is up. */
  failure?(error: Error): ChannelError;
}

export type Dial = (target: Peer) => DialAttempt;
type ConnectHandler = (peer: Peer) => void;
type DisconnectHandler = (peer: Peer, reason: ConnectionCloseReason, error?: Error) => void;

interface Connection {
  readonly key: string;
  peer: Peer;
  socket: Socket;
  state: 'pending' | 'open' | 'dropped';
  readonly dialled: boolean;
  /** Frames sent before a dialled connection was up, in order. */
  queue: Uint8Array[];
  queuedBytes: number;
  timer: NodeJS.Timeout | undefined;
  /** An incomplete frame header, then the frame itself once its length is known. */
  readonly head: Uint8Array;
  headLength: number;
  frame: Uint8Array | undefined;
  filled: number;
}

export class StreamConnections {
  readonly events = new ChannelEvents();
  readonly limits: ResolvedStreamLimits;
  readonly #dial: Dial | undefined;
  /** In least-recently-active order (a Map keeps insertion order; activity re-inserts). */
  readonly #connections = new Map<string, Connection>();
  readonly #connect: ConnectHandler[] = [];
  readonly #disconnect: DisconnectHandler[] = [];
  /** Sockets not yet closed, awaited by closeAll(). */
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(limits: ResolvedStreamLimits, dial?: Dial) {
    this.limits = limits;
    this.#dial = dial;
  }

  get size(): number {
    return this.#connections.size;
  }

  onConnect(handler: ConnectHandler): void {
    this.#connect.push(handler);
  }

  onDisconnect(handler: DisconnectHandler): void {
    this.#disconnect.push(handler);
  }

  /** An accepted socket that is up now (TCP). */
  accept(socket: Socket): void {
    const conn = this.#admit(socket, false);
    if (conn) this.#open(conn, socket, undefined);
  }

  /** An accepted socket whose TLS handshake has yet to finish: it counts toward the limit. */
  acceptPending(socket: Socket): void {
    this.#admit(socket, false);
  }

  /**
   * The handshake on an accepted socket finished: `secure` (wrapping the pending socket) carries
   * the connection from now on. False when its pending entry is gone (evicted, closed).
   */
  promote(secure: Socket, identity: PeerIdentity | undefined): boolean {
    const key = remoteKey(secure);
    const conn = key === undefined ? undefined : this.#connections.get(key);
    if (!conn || conn.state !== 'pending' || conn.dialled) {
      secure.destroy();
      return false;
    }
    this.#open(conn, secure, identity);
    return true;
  }

  /** The socket carrying the open connection to `peer`, if any. */
  socketOf(peer: Peer): Socket | undefined {
    const conn = this.#connections.get(peerKey(peer));
    return conn?.state === 'open' ? conn.socket : undefined;
  }

  send(peer: Peer, frame: Uint8Array): void {
    const conn = this.#connections.get(peerKey(peer));
    if (conn?.state === 'open') return this.#write(conn, frame);
    if (conn?.dialled) return this.#enqueue(conn, frame);
    if (!this.#dial) {
      const why = conn ? 'its connection is not up yet' : 'no connection to it';
      return this.events.errorLater(new ChannelSendError('network', peer, why));
    }
    const target = dialTarget(peer);
    if (target instanceof ChannelSendError) return this.events.errorLater(target);
    this.#startDial(target, frame);
  }

  disconnect(peer: Peer): void {
    const conn = this.#connections.get(peerKey(peer));
    if (conn) this.#drop(conn, 'closed', undefined, conn.state === 'open');
  }

  /** Ends every connection (writing what was sent); resolves once all their sockets closed. */
  closeAll(): Promise<void> {
    this.#closed = true;
    for (const conn of [...this.#connections.values()])
      this.#drop(conn, 'closed', undefined, conn.state === 'open');
    return Promise.all([...this.#closing]).then(() => undefined);
  }

  // ---- connections ----

  #admit(socket: Socket, dialled: boolean, target?: Peer): Connection | undefined {
    const peer = target ?? remotePeer(socket);
    if (this.#closed || peer === undefined) {
      socket.destroy();
      return undefined;
    }
    socket.setNoDelay(true);
    const key = peerKey(peer);
    // A new connection from the same address and port means the old one is gone.
    const stale = this.#connections.get(key);
    if (stale) this.#drop(stale, 'peer-closed');
    while (this.#connections.size >= this.limits.maxConnections) {
      const victim = this.#victim();
      if (!victim) break;
      this.#drop(victim, 'evicted');
    }
    const conn: Connection = {
      key,
      peer,
      socket,
      state: 'pending',
      dialled,
      queue: [],
      queuedBytes: 0,
      timer: undefined,
      head: new Uint8Array(MAX_HEADER),
      headLength: 0,
      frame: undefined,
      filled: 0,
    };
    this.#connections.set(key, conn);
    this.#track(socket);
    // Until it is up, a failure ends the attempt (reported for dialled ones only).
    socket.on('error', (e) => {
      if (conn.socket === socket && conn.state === 'pending') this.#drop(conn, 'error', e);
    });
    socket.on('close', () => {
      if (conn.socket === socket && conn.state === 'pending')
        this.#drop(
          conn,
          'error',
          new ChannelSocketError(`connection to ${describePeer(peer)} closed before it was up`),
        );
    });
    return conn;
  }

  /**
   * Whom a new connection evicts at the limit: the oldest one not up yet (a handshake flood
   * then evicts itself, not the authenticated connections), else the least recently active.
   */
  #victim(): Connection | undefined {
    let oldest: Connection | undefined;
    for (const conn of this.#connections.values()) {
      if (conn.state === 'pending') return conn;
      oldest ??= conn;
    }
    return oldest;
  }

  #startDial(target: Peer, frame: Uint8Array): void {
    let attempt: DialAttempt;
    try {
      attempt = this.#dial!(target);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.events.errorLater(
        new ChannelSendError('network', target, `cannot connect: ${reason}`, { cause: e }),
      );
      return;
    }
    const { socket } = attempt;
    const conn = this.#admit(socket, true, target);
    if (!conn) return;
    this.#enqueue(conn, frame);
    const fail = (e: Error): void => {
      if (conn.state === 'pending')
        this.#drop(conn, 'error', attempt.failure ? attempt.failure(e) : socketError(target, e));
    };
    socket.prependListener('error', fail);
    conn.timer = setTimeout(() => {
      const error = new ChannelSocketError(
        `connection to ${describePeer(target)} not up within ${this.limits.connectTimeout} ms`,
        { systemCode: 'ETIMEDOUT' },
      );
      this.#drop(conn, 'error', error);
    }, this.limits.connectTimeout);
    socket.once(attempt.readyEvent, () => {
      if (conn.state !== 'pending') return;
      clearTimeout(conn.timer);
      let identity: PeerIdentity | undefined;
      try {
        identity = attempt.identify?.();
      } catch (e) {
        this.#drop(conn, 'error', e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.#open(conn, socket, identity);
    });
  }

  #open(conn: Connection, socket: Socket, identity: PeerIdentity | undefined): void {
    if (socket !== conn.socket) {
      conn.socket = socket;
      this.#track(socket);
    }
    if (identity !== undefined) conn.peer = Object.freeze({ ...conn.peer, identity });
    conn.state = 'open';
    if (this.limits.idleTimeout > 0) {
      socket.setTimeout(this.limits.idleTimeout);
      socket.on('timeout', () => this.#drop(conn, 'idle', undefined, true));
    }
    socket.on('data', (chunk: Buffer) => this.#read(conn, chunk));
    socket.on('end', () => this.#drop(conn, 'peer-closed', undefined, true));
    socket.on('error', (e) => this.#drop(conn, 'error', socketError(conn.peer, e)));
    socket.on('close', () => this.#drop(conn, 'peer-closed'));
    this.#touch(conn);
    for (const handler of this.#connect) this.#call(conn.peer, () => handler(conn.peer));
    // Frames sent from onConnect (a CSM, RFC 8323 §5.3) go first, then what was queued.
    const queued = conn.queue;
    conn.queue = [];
    conn.queuedBytes = 0;
    for (const frame of queued) if (conn.state === 'open') this.#write(conn, frame);
  }

  /** Closing and closed sockets are awaited by closeAll(). */
  #track(socket: Socket): void {
    if ((socket as Socket & { [TRACKED]?: true })[TRACKED]) return;
    (socket as Socket & { [TRACKED]?: true })[TRACKED] = true;
    const closed = new Promise<void>((resolve) => {
      if (socket.closed) resolve();
      else socket.once('close', () => resolve());
    });
    this.#closing.add(closed);
    void closed.then(() => this.#closing.delete(closed));
  }

  /**
   * Ends a connection once: out of the table, its queue reported, onDisconnect for connections
   * that were up or dialled (an accepted connection that never came up is nobody's yet).
   */
  #drop(conn: Connection, reason: ConnectionCloseReason, error?: Error, graceful = false): void {
    if (conn.state === 'dropped') return;
    const wasOpen = conn.state === 'open';
    conn.state = 'dropped';
    if (this.#connections.get(conn.key) === conn) this.#connections.delete(conn.key);
    clearTimeout(conn.timer);
    conn.frame = undefined;
    const { socket } = conn;
    socket.setTimeout(0);
    socket.on('error', () => {}); // late errors of a socket we are done with
    if (graceful && !socket.destroyed) {
      socket.end();
      const timer = setTimeout(() => socket.destroy(), END_GRACE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    } else socket.destroy();
    const lost = conn.queue.length;
    conn.queue = [];
    conn.queuedBytes = 0;
    if (wasOpen || conn.dialled)
      for (const handler of this.#disconnect) this.#call(conn.peer, () => handler(conn.peer, reason, error));
    if (lost > 0) {
      const message = `${lost} queued frame(s) dropped: the connection ended (${reason})`;
      this.events.error(new ChannelSendError('network', conn.peer, message, { cause: error }));
    }
  }

  #touch(conn: Connection): void {
    if (this.#connections.get(conn.key) !== conn) return;
    this.#connections.delete(conn.key);
    this.#connections.set(conn.key, conn);
  }

  #call(peer: Peer, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.events.error(new ChannelHandlerError(peer, e));
    }
  }

  // ---- writing ----

  #enqueue(conn: Connection, frame: Uint8Array): void {
    if (conn.queuedBytes + frame.length > this.limits.maxQueuedBytes) {
      const message = `the queue for a connection not yet up is full (${this.limits.maxQueuedBytes} bytes)`;
      return this.events.errorLater(new ChannelSendError('network', conn.peer, message));
    }
    conn.queue.push(frame);
    conn.queuedBytes += frame.length;
  }

  #write(conn: Connection, frame: Uint8Array): void {
    this.#touch(conn);
    conn.socket.write(frame);
    const backlog = conn.socket.writableLength;
    if (backlog > this.limits.maxWriteBuffer) {
      const message = `the peer does not read: ${backlog} bytes waiting, limit ${this.limits.maxWriteBuffer}`;
      this.#drop(conn, 'error', new ChannelSendError('network', conn.peer, message));
    }
  }

  // ---- reading: cut the stream into frames ----

  #read(conn: Connection, chunk: Buffer): void {
    if (conn.state !== 'open') return;
    this.#touch(conn);
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    try {
      this.#cut(conn, bytes);
    } catch (e) {
      if (!(e instanceof CoapFormatError)) throw e;
      this.#drop(conn, 'framing', e);
    }
  }

  /**
   * Delivers the frames `bytes` completes. Frames lying whole in the chunk are views into it;
   * a frame spanning chunks gets one buffer of its declared size, allocated only once its header
   * is complete and within maxFrameSize.
   */
  #cut(conn: Connection, bytes: Uint8Array): void {
    const max = this.limits.maxFrameSize;
    const n = bytes.length;
    let i = 0;
    while (i < n && conn.state === 'open') {
      const frame = conn.frame;
      if (frame) {
        const take = Math.min(frame.length - conn.filled, n - i);
        frame.set(bytes.subarray(i, i + take), conn.filled);
        conn.filled += take;
        i += take;
        if (conn.filled === frame.length) {
          conn.frame = undefined;
          this.events.deliver(conn.peer, frame);
        }
        continue;
      }
      if (conn.headLength === 0) {
        const size = coapTcpFrameLength(bytes, i, n, max);
        if (size >= 0 && size <= n - i) {
          this.events.deliver(conn.peer, bytes.subarray(i, i + size));
          i += size;
          continue;
        }
        if (size >= 0) {
          conn.frame = new Uint8Array(size);
          conn.frame.set(bytes.subarray(i, n));
          conn.filled = n - i;
          return;
        }
      }
      conn.head[conn.headLength++] = bytes[i++]!;
      const size = coapTcpFrameLength(conn.head, 0, conn.headLength, max);
      if (size < 0) continue;
      conn.frame = new Uint8Array(size);
      conn.frame.set(conn.head.subarray(0, conn.headLength));
      conn.filled = conn.headLength;
      conn.headLength = 0;
    }
  }
}

const TRACKED = Symbol('petrel.tracked');

/** The key of a socket's remote end, as peerKey gives it. */
function remoteKey(socket: Socket): string | undefined {
  const peer = remotePeer(socket);
  return peer && peerKey(peer);
}

function remotePeer(socket: Socket): Peer | undefined {
  const { remoteAddress, remotePort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return Object.freeze({ address: normalizeAddress(remoteAddress), port: remotePort });
}

/** The Peer a dialled connection is known by until it is up (normalized address, no identity). */
function dialTarget(peer: Peer): Peer | ChannelSendError {
  if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535)
    return new ChannelSendError('invalid-peer', peer, 'port must be 1..65535');
  const address = normalizeAddress(peer.address);
  if (isIP(address) === 0) return new ChannelSendError('invalid-peer', peer, 'address is not an IP literal');
  return Object.freeze({ address, port: peer.port });
}

export function systemCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A socket failure (ECONNREFUSED, ECONNRESET, EPIPE...) as a ChannelError. */
export function socketError(peer: Peer, e: Error): ChannelError {
  if (e instanceof ChannelError) return e;
  return new ChannelSocketError(`connection to ${describePeer(peer)}: ${e.message}`, {
    systemCode: systemCode(e),
    cause: e,
  });
}

// ---- shared by TcpChannel and TlsChannel ----

/** Stops accepting, ends every connection, resolves once the server and all sockets closed. */
export async function closeStreamChannel(
  table: StreamConnections,
  server: Server | undefined,
): Promise<void> {
  const serverClosed = server
    ? new Promise<void>((resolve) => server.close(() => resolve()))
    : Promise.resolve();
  await Promise.all([table.closeAll(), serverClosed]);
}

/** server.listen, as a promise with our errors. */
export async function listenOn(
  server: Server,
  options: StreamListenOptions,
  defaultPort: number,
): Promise<void> {
  const address = options.address ?? '::';
  const port = options.port ?? defaultPort;
  if (isIP(address) === 0)
    throw new ChannelConfigError(`listen address must be an IP literal, got "${address}"`);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ChannelConfigError(`port must be an integer 0..65535, got ${port}`);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      reject(new ChannelBindError(address, port, e.message, { systemCode: systemCode(e), cause: e }));
    };
    server.once('error', onError);
    server.listen({ host: address, port, ipv6Only: options.ipv6Only === true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export function checkLocalAddress(address: string | undefined): string | undefined {
  if (address !== undefined && isIP(address) === 0)
    throw new ChannelConfigError(`localAddress must be an IP literal, got "${address}"`);
  return address;
}

/**
 * What TcpChannel and TlsChannel share: a ConnectionChannel over a StreamConnections table and,
 * when listening, its server. The subclasses only say how connections are made.
 */
export abstract class StreamChannel implements ConnectionChannel {
  readonly kind: 'tcp' | 'tls';
  readonly connectionOriented = true as const;
  readonly local: LocalAddress | undefined;
  protected readonly table: StreamConnections;
  readonly #server: Server | undefined;
  #closing: Promise<void> | undefined;

  protected constructor(kind: 'tcp' | 'tls', table: StreamConnections, server?: Server) {
    this.kind = kind;
    this.table = table;
    this.#server = server;
    const bound = server?.address();
    this.local =
      bound && typeof bound === 'object' ? { address: bound.address, port: bound.port } : undefined;
  }

  /** Open connections (and ones still connecting or in their handshake). */
  get connections(): number {
    return this.table.size;
  }

  send(peer: Peer, frame: Uint8Array): void {
    if (this.#closing) throw new ChannelClosedError(this.kind);
    this.table.send(peer, frame);
  }

  onReceive(handler: ReceiveHandler): void {
    this.table.events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.table.events.onError(handler);
  }

  onConnect(handler: (peer: Peer) => void): void {
    this.table.onConnect(handler);
  }

  onDisconnect(handler: (peer: Peer, reason: ConnectionCloseReason, error?: Error) => void): void {
    this.table.onDisconnect(handler);
  }

  disconnect(peer: Peer): void {
    this.table.disconnect(peer);
  }

  close(): Promise<void> {
    this.#closing ??= closeStreamChannel(this.table, this.#server);
    return this.#closing;
  }
}
