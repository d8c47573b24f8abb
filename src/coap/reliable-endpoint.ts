/**
 * CoAP over reliable transports (RFC 8323) on a ConnectionChannel (TCP, TLS): the messaging of
 * CoapEndpoint without its message layer. Frames carry no type and no message id, so nothing is
 * acknowledged, retransmitted or deduplicated (§2.2, §3.3); requests and responses are matched by
 * token per connection. Each connection opens with a CSM each way (§5.3); Ping/Pong, Release and
 * Abort (§5.4-5.6) are served; observe relations live as long as their connection (§7).
 */
import { systemClock, type Clock } from '../clock.js';
import { PetrelError } from '../errors.js';
import { cryptoRandom, type RandomSource } from '../random.js';
import { TimerQueue, type QueuedTimer } from '../timer-queue.js';
import {
  ChannelSendError,
  peerKey,
  type ConnectionChannel,
  type ConnectionCloseReason,
  type Peer,
} from '../transport/channel.js';
import type { CoapMessaging } from './coap-messaging.js';
import type {
  ClientObservation,
  CoapResponse,
  ObserveEndReason,
  ObserveHandlers,
  ObserveRelation,
  OutgoingRequest,
  RequestHandler,
  RequestOptions,
} from './endpoint.js';
import {
  CoapConnectionClosedError,
  CoapLimitError,
  CoapTimeoutError,
  EndpointClosedError,
} from './errors.js';
import {
  CoapCode,
  isRequest,
  isResponse,
  isSignal,
  isSuccess,
  type CoapMessage,
  type CoapOption,
} from './message.js';
import {
  OptionNumber,
  checkOptions,
  encodeString,
  encodeUint,
  firstUnrecognizedCritical,
  observe as observeOption,
} from './options.js';
import {
  BASE_MAX_MESSAGE_SIZE,
  abort as abortSignal,
  csm as csmSignal,
  decodeCoapTcp,
  encodeCoapTcp,
  ping as pingSignal,
  pong as pongSignal,
  readSignal,
  release as releaseSignal,
} from './tcp-codec.js';
import { DEFAULT_TRANSMISSION, exchangeLifetime, type TransmissionParameters } from './transmission.js';
import { CoapFormatError } from './udp-codec.js';

export interface ReliableEndpointLimits {
  /** Client-role exchanges open at once (requests awaiting a response, observations). */
  readonly maxOpenRequests: number;
  /** Server-role observe relations at once; registrations beyond it are answered without Observe. */
  readonly maxObserveRelations: number;
  /** Observe relations per connection; a new one beyond it evicts that connection's oldest. */
  readonly maxObserveRelationsPerPeer: number;
  /** Requests of one connection whose handler has not answered yet; more are answered 5.03. */
  readonly maxPendingRequestsPerPeer: number;
}

export const DEFAULT_RELIABLE_LIMITS: ReliableEndpointLimits = Object.freeze({
  maxOpenRequests: 10_000,
  maxObserveRelations: 100_000,
  maxObserveRelationsPerPeer: 1_000,
  maxPendingRequestsPerPeer: 256,
});

/**
 * The Max-Message-Size we announce by default: room for a BERT message of 8 KiB of payload with
 * its header and options. The channel must accept frames this large (its frame limit).
 */
export const DEFAULT_RELIABLE_MAX_MESSAGE_SIZE = 8192 + 256;

export interface ReliableEndpointOptions {
  readonly channel: ConnectionChannel;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** Only maxLatency and friends matter: they make the default request deadline (EXCHANGE_LIFETIME). */
  readonly transmission?: Partial<TransmissionParameters>;
  readonly limits?: Partial<ReliableEndpointLimits>;
  /** The Max-Message-Size announced in our CSM (default DEFAULT_RELIABLE_MAX_MESSAGE_SIZE). */
  readonly maxMessageSize?: number;
  /** Announce Block-Wise-Transfer in our CSM, allowing BERT (RFC 8323 §6) both ways (default false). */
  readonly bert?: boolean;
  /** Token length for requests we originate (4..8; default 8). */
  readonly tokenLength?: number;
  /**
   * RFC 8323 §5.3: a peer's first message must be its CSM. When true (default) any other first
   * message aborts the connection; when false it is processed and reported through onError.
   */
  readonly requireCsm?: boolean;
  /**
   * Keepalive (off by default): a connection silent for this many ms gets a Ping; one that does
   * not answer within the same time is disconnected.
   */
  readonly keepAliveInterval?: number;
  /** Called with faults that have no caller to reject: handler exceptions, protocol errors, send errors. */
  readonly onError?: (error: unknown) => void;
}

/** Counters for tests and diagnostics. */
export interface ReliableEndpointStats {
  /** Frames received and sent (signals included). */
  received: number;
  sent: number;
  /** Frames that did not decode (each aborts its connection). */
  malformed: number;
  /** Requests handled (server role). */
  handled: number;
  /** Responses whose token matched nothing open (late answers, forgotten observations). */
  unmatched: number;
  /** Abort messages we sent. */
  aborts: number;
}

/** A message larger than the peer's Max-Message-Size (RFC 8323 §5.3.1): it was not sent. */
export class CoapMessageTooLargeError extends PetrelError {
  constructor(
    readonly peer: string,
    readonly size: number,
    readonly maxMessageSize: number,
  ) {
    super(
      'PETREL_ERR_COAP_TOO_LARGE',
      `message of ${size} bytes exceeds the Max-Message-Size ${maxMessageSize} of ${peer}`,
    );
  }
}

export type ReliableProtocolErrorReason =
  | 'missing-csm' // the peer's first message was not a CSM
  | 'bad-csm-option' // the CSM carried a critical option we do not know
  | 'malformed' // a frame that did not decode
  | 'abort' // the peer aborted the connection
  | 'keepalive'; // a Ping went unanswered

/** A protocol fault on a connection, reported through onError (the connection is usually aborted). */
export class CoapReliableProtocolError extends PetrelError {
  constructor(
    readonly reason: ReliableProtocolErrorReason,
    readonly peer: string,
    message: string,
  ) {
    super('PETREL_ERR_COAP_PROTOCOL', `${peer}: ${message}`);
  }
}

interface ObserverState {
  readonly handlers: ObserveHandlers;
  established: boolean;
}

/** A request of ours awaiting its response. */
interface Exchange {
  readonly tokenKey: string;
  readonly conn: Connection;
  readonly resolve: (m: CoapMessage) => void;
  readonly reject: (e: unknown) => void;
  deadline: QueuedTimer | undefined;
  done: boolean;
  readonly observer: ObserverState | undefined;
  /** An observe cancel: 2.xx responses with Observe are notifications sent before the server deregistered. */
  readonly skipNotifications: boolean;
  /** A request too large for the base Max-Message-Size, waiting for the peer's CSM. */
  held:
    | {
        readonly bytes: Uint8Array;
        readonly message: CoapMessage;
        readonly onSent?: (m: CoapMessage) => void;
      }
    | undefined;
}

interface PendingPing {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly timer: QueuedTimer;
}

interface RelationState extends ObserveRelation {
  readonly conn: Connection;
  readonly tokenKey: string;
  seq: number;
  readonly listeners: ((reason: ObserveEndReason) => void)[];
  ended: boolean;
}

/** What the endpoint keeps per connection (one per peer key). */
interface Connection {
  readonly key: string;
  peer: Peer;
  /** onConnect seen (or a frame arrived). */
  connected: boolean;
  csmSent: boolean;
  /** Some frame from the peer arrived: the first must have been its CSM. */
  heard: boolean;
  peerCsm: boolean;
  peerMaxMessageSize: number;
  peerBert: boolean;
  /** Release received or sent, Abort received or sent: no new requests; the error they get. */
  closing: CoapConnectionClosedError | undefined;
  /** An Abort went either way: nothing more is sent or processed. */
  aborted: boolean;
  readonly exchanges: Map<string, Exchange>;
  readonly pings: Map<string, PendingPing>;
  readonly relations: Map<string, RelationState>;
  /** Requests waiting for the peer's CSM (see #startRequest). */
  readonly held: Exchange[];
  handling: number;
  lastHeard: number;
  keepAlive: QueuedTimer | undefined;
}

const EMPTY = new Uint8Array(0);
const NO_OPTIONS: readonly CoapOption[] = Object.freeze([]);
const NO_REQUEST_OPTIONS: RequestOptions = Object.freeze({});
const tokenText = (token: Uint8Array): string => String.fromCharCode(...token);

/**
 * A CoAP endpoint over one ConnectionChannel (RFC 8323): client and server roles at once. Our CSM
 * is the first frame on every connection, sent on onConnect or ahead of the first frame we send to
 * a peer not yet connected (a dialling channel connects on that send and writes both in order).
 * Requests are not held back until the peer's CSM arrives: until then the base values apply
 * (Max-Message-Size 1152, no BERT).
 */
export class CoapReliableEndpoint implements CoapMessaging {
  readonly stats: ReliableEndpointStats = {
    received: 0,
    sent: 0,
    malformed: 0,
    handled: 0,
    unmatched: 0,
    aborts: 0,
  };
  readonly #channel: ConnectionChannel;
  readonly #clock: Clock;
  readonly #timers: TimerQueue;
  readonly #random: RandomSource;
  readonly #params: TransmissionParameters;
  readonly #limits: ReliableEndpointLimits;
  readonly #maxMessageSize: number;
  readonly #bert: boolean;
  readonly #tokenLength: number;
  readonly #requireCsm: boolean;
  readonly #keepAliveInterval: number | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #exchangeLifetime: number;
  readonly #csmFrame: Uint8Array;
  readonly #connections = new Map<string, Connection>();
  #handler: RequestHandler | undefined;
  #openRequests = 0;
  #relationCount = 0;
  #closed = false;

  constructor(options: ReliableEndpointOptions) {
    this.#channel = options.channel;
    this.#clock = options.clock ?? systemClock;
    this.#timers = new TimerQueue(this.#clock);
    this.#random = options.random ?? cryptoRandom;
    this.#params = { ...DEFAULT_TRANSMISSION, ...options.transmission };
    this.#limits = { ...DEFAULT_RELIABLE_LIMITS, ...options.limits };
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_RELIABLE_MAX_MESSAGE_SIZE;
    if (!(Number.isSafeInteger(this.#maxMessageSize) && this.#maxMessageSize >= BASE_MAX_MESSAGE_SIZE))
      throw new RangeError(`maxMessageSize must be an integer >= ${BASE_MAX_MESSAGE_SIZE}`);
    this.#bert = options.bert ?? false;
    this.#tokenLength = options.tokenLength ?? 8;
    if (!(Number.isInteger(this.#tokenLength) && this.#tokenLength >= 4 && this.#tokenLength <= 8))
      throw new RangeError('tokenLength is 4..8');
    this.#requireCsm = options.requireCsm ?? true;
    this.#keepAliveInterval = options.keepAliveInterval;
    if (this.#keepAliveInterval !== undefined && !(this.#keepAliveInterval > 0))
      throw new RangeError('keepAliveInterval must be positive');
    this.#onError = options.onError ?? (() => {});
    this.#exchangeLifetime = exchangeLifetime(this.#params);
    this.#csmFrame = encodeCoapTcp(
      csmSignal({ maxMessageSize: this.#maxMessageSize, blockWiseTransfer: this.#bert }),
    );
    const channel = this.#channel;
    channel.onConnect((peer) => this.#connected(peer));
    channel.onDisconnect((peer, reason, error) => this.#disconnected(peer, reason, error));
    channel.onReceive((peer, bytes) => this.#receive(peer, bytes));
    channel.onError?.((error) => this.#channelError(error));
  }

  get transmission(): TransmissionParameters {
    return this.#params;
  }

  /** Sets the server-role handler. Without one, requests get 4.04. */
  onRequest(handler: RequestHandler): this {
    this.#handler = handler;
    return this;
  }

  /**
   * What the peer's CSM said (base values until it arrives): BERT is usable when both sides
   * announced Block-Wise-Transfer.
   */
  blockCapacity(peer: Peer): { readonly bert: boolean; readonly maxMessageSize: number } {
    const conn = this.#connections.get(peerKey(peer));
    return {
      bert: this.#bert && (conn?.peerBert ?? false),
      maxMessageSize: conn?.peerMaxMessageSize ?? BASE_MAX_MESSAGE_SIZE,
    };
  }

  /** The peer's CSM as received, or undefined before it arrived (or without a connection). */
  peerCapabilities(
    peer: Peer,
  ): { readonly maxMessageSize: number; readonly blockWiseTransfer: boolean } | undefined {
    const conn = this.#connections.get(peerKey(peer));
    if (!conn?.peerCsm) return undefined;
    return { maxMessageSize: conn.peerMaxMessageSize, blockWiseTransfer: conn.peerBert };
  }

  /** Peers with a live connection state. */
  get connectedPeers(): Peer[] {
    return [...this.#connections.values()].filter((c) => c.connected).map((c) => c.peer);
  }

  /** Sizes of the internal tables, to check that they stay bounded. */
  tableSizes(): { connections: number; exchanges: number; pings: number; relations: number } {
    let pings = 0;
    for (const c of this.#connections.values()) pings += c.pings.size;
    return {
      connections: this.#connections.size,
      exchanges: this.#openRequests,
      pings,
      relations: this.#relationCount,
    };
  }

  /** Server-role observe relations now held. */
  get observeRelations(): number {
    return this.#relationCount;
  }

  // ---- client role ----

  /** Sends a request and resolves with its response. `confirmable` means nothing here. */
  request(
    peer: Peer,
    request: OutgoingRequest,
    options: RequestOptions = NO_REQUEST_OPTIONS,
  ): Promise<CoapMessage> {
    return this.#startRequest(peer, request, options, undefined, false);
  }

  /**
   * Registers an observation (RFC 7641 §3.1, RFC 8323 §7): the request goes with Observe=0; the
   * first response resolves the promise, later notifications go to `handlers`. Notifications
   * arrive in order on a connection, so their sequence numbers are not compared.
   */
  async observe(
    peer: Peer,
    request: OutgoingRequest,
    handlers: ObserveHandlers,
    options: RequestOptions = NO_REQUEST_OPTIONS,
  ): Promise<ClientObservation> {
    if (this.#closed) throw new EndpointClosedError();
    const conn = this.#connection(peer);
    const token = request.token ?? this.#newToken(conn);
    const observer: ObserverState = { handlers, established: false };
    const registration = { ...request, token, options: withObserve(request.options ?? NO_OPTIONS, 0) };
    const response = await this.#startRequest(peer, registration, options, observer, false);
    return {
      response,
      established: observer.established,
      ...this.#observationControls(peer, request, token, observer),
    };
  }

  /**
   * Takes back an observation registered by an earlier incarnation of this endpoint: notifications
   * from `peer` with `token` go to `handlers`. Nothing is sent. It ends when the connection does.
   */
  adoptObservation(
    peer: Peer,
    request: OutgoingRequest & { readonly token: Uint8Array },
    handlers: ObserveHandlers,
  ): Pick<ClientObservation, 'cancel' | 'forget'> {
    if (this.#closed) throw new EndpointClosedError();
    const conn = this.#connection(peer);
    const tokenKey = tokenText(request.token);
    if (conn.exchanges.has(tokenKey)) throw new RangeError('token already in use with this peer');
    const observer: ObserverState = { handlers, established: true };
    const exchange: Exchange = {
      tokenKey,
      conn,
      resolve: () => undefined,
      reject: () => undefined,
      deadline: undefined,
      done: false,
      observer,
      skipNotifications: false,
      held: undefined,
    };
    conn.exchanges.set(tokenKey, exchange);
    this.#openRequests++;
    return this.#observationControls(peer, request, request.token, observer);
  }

  #observationControls(
    peer: Peer,
    request: OutgoingRequest,
    token: Uint8Array,
    observer: ObserverState,
  ): Pick<ClientObservation, 'cancel' | 'forget'> {
    const pk = peerKey(peer);
    const tokenKey = tokenText(token);
    // On a reliable transport there is no Reset: later notifications are just dropped.
    const forget = (): void => {
      const ex = this.#connections.get(pk)?.exchanges.get(tokenKey);
      if (ex && ex.observer === observer) {
        ex.done = true;
        this.#removeExchange(ex);
      }
    };
    return {
      forget,
      cancel: (cancelOptions?: RequestOptions) => {
        forget();
        observer.handlers.onEnd?.('cancelled');
        return this.#startRequest(
          peer,
          { ...request, token, options: withObserve(request.options ?? NO_OPTIONS, 1) },
          cancelOptions ?? NO_REQUEST_OPTIONS,
          undefined,
          true,
        );
      },
    };
  }

  #startRequest(
    peer: Peer,
    request: OutgoingRequest,
    options: RequestOptions,
    observer: ObserverState | undefined,
    skipNotifications: boolean,
  ): Promise<CoapMessage> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    if (!isRequest(request.code))
      return Promise.reject(new RangeError(`0x${request.code.toString(16)} is not a request code`));
    if (this.#openRequests >= this.#limits.maxOpenRequests)
      return Promise.reject(new CoapLimitError('maxOpenRequests', this.#limits.maxOpenRequests));
    const conn = this.#connection(peer);
    if (conn.closing) return Promise.reject(conn.closing);
    const token = request.token ?? this.#newToken(conn);
    const tokenKey = tokenText(token);
    if (conn.exchanges.has(tokenKey))
      return Promise.reject(new RangeError('token already in use with this peer'));
    const message: CoapMessage = {
      code: request.code,
      messageId: 0,
      token,
      options: request.options ?? NO_OPTIONS,
      payload: request.payload ?? EMPTY,
    };
    let bytes: Uint8Array;
    try {
      bytes = encodeCoapTcp(message);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new RangeError(String(e))); // CoapFormatError: bad token or option
    }
    // RFC 8323 §5.3.1: never more than the peer takes. Before its CSM only the base 1152 is
    // known: a larger request waits for the CSM (which may allow it) instead of failing.
    if (bytes.length > conn.peerMaxMessageSize && conn.peerCsm)
      return Promise.reject(new CoapMessageTooLargeError(conn.key, bytes.length, conn.peerMaxMessageSize));
    return new Promise<CoapMessage>((resolve, reject) => {
      const exchange: Exchange = {
        tokenKey,
        conn,
        resolve,
        reject,
        deadline: undefined,
        done: false,
        observer,
        skipNotifications,
        held: undefined,
      };
      conn.exchanges.set(tokenKey, exchange);
      this.#openRequests++;
      const timeout = options.timeout ?? this.#exchangeLifetime;
      exchange.deadline = this.#timers.schedule(
        () =>
          this.#finish(
            exchange,
            new CoapTimeoutError('no-response', conn.key, `no response within ${timeout} ms`),
          ),
        timeout,
      );
      if (bytes.length > conn.peerMaxMessageSize) {
        exchange.held = { bytes, message, onSent: options.onSent };
        conn.held.push(exchange);
        this.#send(conn, undefined); // our CSM: on a dialling channel this opens the connection
        return;
      }
      this.#transmitRequest(conn, bytes, message, options.onSent);
    });
  }

  #transmitRequest(
    conn: Connection,
    bytes: Uint8Array,
    message: CoapMessage,
    onSent: ((m: CoapMessage) => void) | undefined,
  ): void {
    this.#send(conn, bytes);
    if (!onSent) return;
    try {
      onSent(message);
    } catch (e) {
      this.#onError(e);
    }
  }

  /** The peer's CSM came: requests held for it go out, or fail if still too large. */
  #releaseHeld(conn: Connection): void {
    const held = conn.held.splice(0);
    for (const ex of held) {
      const h = ex.held!;
      ex.held = undefined;
      if (ex.done) continue;
      if (h.bytes.length <= conn.peerMaxMessageSize)
        this.#transmitRequest(conn, h.bytes, h.message, h.onSent);
      else this.#finish(ex, new CoapMessageTooLargeError(conn.key, h.bytes.length, conn.peerMaxMessageSize));
    }
  }

  /** RFC 8323 §5.4: a 7.02 Ping, resolved by the matching Pong. */
  ping(peer: Peer, options: { timeout?: number } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    const conn = this.#connection(peer);
    if (conn.closing) return Promise.reject(conn.closing);
    const token = this.#newToken(conn);
    const tokenKey = tokenText(token);
    const timeout = options.timeout ?? this.#exchangeLifetime;
    return new Promise<void>((resolve, reject) => {
      const timer = this.#timers.schedule(() => {
        conn.pings.delete(tokenKey);
        reject(new CoapTimeoutError('no-response', conn.key, `no Pong within ${timeout} ms`));
      }, timeout);
      conn.pings.set(tokenKey, { resolve, reject, timer });
      this.#send(conn, encodeCoapTcp(pingSignal({ token })));
    });
  }

  /**
   * RFC 8323 §5.5: tells the peer we are closing the connection (Release), then closes it. Open
   * exchanges on it fail once it is closed; no new request goes to it meanwhile.
   */
  release(peer: Peer, diagnostic?: string): void {
    const conn = this.#connections.get(peerKey(peer));
    if (!conn || this.#closed) return;
    conn.closing ??= new CoapConnectionClosedError(conn.key, 'closed', {
      kind: 'release',
      diagnostic: diagnostic ?? '',
    });
    if (!conn.aborted) this.#send(conn, encodeCoapTcp(releaseSignal({ diagnostic })));
    this.#channel.disconnect(conn.peer);
  }

  /** Rejects everything open, ends every relation, stops every timer and closes the channel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new EndpointClosedError();
    for (const conn of [...this.#connections.values()]) this.#fail(conn, error);
    this.#connections.clear();
    this.#timers.clear();
    await this.#channel.close();
  }

  // ---- connections ----

  #connection(peer: Peer): Connection {
    const key = peerKey(peer);
    let conn = this.#connections.get(key);
    if (conn === undefined) {
      conn = {
        key,
        peer,
        connected: false,
        csmSent: false,
        heard: false,
        peerCsm: false,
        peerMaxMessageSize: BASE_MAX_MESSAGE_SIZE,
        peerBert: false,
        closing: undefined,
        aborted: false,
        exchanges: new Map(),
        pings: new Map(),
        relations: new Map(),
        held: [],
        handling: 0,
        lastHeard: this.#clock.now(),
        keepAlive: undefined,
      };
      this.#connections.set(key, conn);
    }
    return conn;
  }

  #connected(peer: Peer): void {
    if (this.#closed) return;
    const conn = this.#connection(peer);
    conn.peer = peer;
    conn.connected = true;
    conn.lastHeard = this.#clock.now();
    if (!conn.csmSent) this.#send(conn, undefined); // RFC 8323 §5.3: our CSM first, at once
    this.#armKeepAlive(conn);
  }

  #disconnected(peer: Peer, reason: ConnectionCloseReason, error?: Error): void {
    const key = peerKey(peer);
    const conn = this.#connections.get(key);
    if (!conn) return;
    this.#connections.delete(key);
    const signal = conn.closing?.signal;
    this.#fail(conn, new CoapConnectionClosedError(key, reason, signal, error));
  }

  /** A send that failed on a connection that never came up (refused, or no connection on a listener). */
  #channelError(error: unknown): void {
    this.#onError(error);
    if (!(error instanceof ChannelSendError)) return;
    const conn = this.#connections.get(peerKey(error.peer!));
    if (!conn || conn.connected) return; // a live connection reports its end through onDisconnect
    this.#connections.delete(conn.key);
    this.#fail(conn, error);
  }

  /** Fails everything open on a connection (it is gone or going). */
  #fail(conn: Connection, error: unknown): void {
    this.#timers.cancel(conn.keepAlive);
    conn.keepAlive = undefined;
    for (const ex of [...conn.exchanges.values()]) this.#finish(ex, error);
    for (const p of conn.pings.values()) {
      this.#timers.cancel(p.timer);
      p.reject(error);
    }
    conn.pings.clear();
    conn.held.length = 0;
    for (const relation of [...conn.relations.values()]) this.#endRelation(relation, 'closed');
  }

  /**
   * Sends a frame (or only our CSM when `bytes` is undefined), preceded by our CSM when it is the
   * first frame on the connection.
   */
  #send(conn: Connection, bytes: Uint8Array | undefined): void {
    if (this.#closed || conn.aborted) return;
    try {
      if (!conn.csmSent) {
        conn.csmSent = true;
        this.stats.sent++;
        this.#channel.send(conn.peer, this.#csmFrame);
      }
      if (bytes) {
        this.stats.sent++;
        this.#channel.send(conn.peer, bytes);
      }
    } catch (e) {
      this.#onError(e);
    }
  }

  /** RFC 8323 §5.6: an Abort with a diagnostic, then the connection is closed; everything on it fails. */
  #abort(
    conn: Connection,
    reason: ReliableProtocolErrorReason,
    diagnostic: string,
    badCsmOption?: number,
  ): void {
    this.#onError(new CoapReliableProtocolError(reason, conn.key, diagnostic));
    this.#send(conn, encodeCoapTcp(abortSignal({ diagnostic, badCsmOption })));
    this.stats.aborts++;
    this.#shutDown(conn, new CoapConnectionClosedError(conn.key, 'closed', { kind: 'abort', diagnostic }));
  }

  /** An Abort went either way: fail everything now and close the connection. */
  #shutDown(conn: Connection, error: CoapConnectionClosedError): void {
    conn.aborted = true;
    conn.closing = error;
    this.#fail(conn, error);
    this.#channel.disconnect(conn.peer);
  }

  #armKeepAlive(conn: Connection): void {
    const interval = this.#keepAliveInterval;
    if (interval === undefined || conn.keepAlive) return;
    conn.keepAlive = this.#timers.schedule(() => {
      conn.keepAlive = undefined;
      if (this.#connections.get(conn.key) !== conn || conn.closing) return;
      const idle = this.#clock.now() - conn.lastHeard;
      if (idle < interval) {
        conn.keepAlive = this.#timers.schedule(() => this.#keepAliveDue(conn), interval - idle);
        return;
      }
      this.#keepAliveDue(conn);
    }, interval);
  }

  #keepAliveDue(conn: Connection): void {
    conn.keepAlive = undefined;
    if (this.#connections.get(conn.key) !== conn || conn.closing) return;
    const interval = this.#keepAliveInterval!;
    if (this.#clock.now() - conn.lastHeard < interval) {
      this.#armKeepAlive(conn);
      return;
    }
    this.ping(conn.peer, { timeout: interval }).then(
      () => this.#armKeepAlive(conn),
      (e: unknown) => {
        if (!(e instanceof CoapTimeoutError)) return;
        this.#onError(new CoapReliableProtocolError('keepalive', conn.key, 'no Pong to a keepalive Ping'));
        this.#channel.disconnect(conn.peer);
      },
    );
  }

  // ---- receiving ----

  #receive(peer: Peer, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.stats.received++;
    const conn = this.#connection(peer);
    if (!conn.connected) {
      // A frame before onConnect: the channel connected without telling; answer with our CSM.
      conn.connected = true;
      conn.peer = peer;
      this.#send(conn, undefined);
    }
    if (conn.aborted) return;
    conn.peer = peer; // the channel's latest word on the peer (its identity, on TLS)
    conn.lastHeard = this.#clock.now();
    let msg: CoapMessage;
    try {
      msg = decodeCoapTcp(bytes);
    } catch (e) {
      this.stats.malformed++;
      const detail = e instanceof CoapFormatError ? e.message : 'undecodable frame';
      this.#abort(conn, 'malformed', `malformed message: ${detail}`);
      return;
    }
    if (!conn.heard) {
      conn.heard = true;
      if (msg.code !== CoapCode.CSM) {
        if (this.#requireCsm) {
          this.#abort(conn, 'missing-csm', 'the first message must be a CSM');
          return;
        }
        this.#onError(
          new CoapReliableProtocolError('missing-csm', conn.key, 'the first message was not a CSM'),
        );
      }
    }
    const code = msg.code;
    if (isRequest(code)) this.#receiveRequest(conn, msg);
    else if (isResponse(code)) this.#receiveResponse(conn, msg);
    else if (isSignal(code)) this.#receiveSignal(conn, msg);
    // 0.00 is an empty message, allowed as a keepalive and ignored (RFC 8323 §3.3); 1.xx, 6.xx are reserved.
  }

  #receiveSignal(conn: Connection, msg: CoapMessage): void {
    const signal = readSignal(msg);
    if (!signal) return; // an unassigned 7.xx: ignored
    switch (signal.kind) {
      case 'csm': {
        const check = checkOptions(msg);
        if (!check.ok) {
          // RFC 8323 §5.3: an unknown critical CSM option aborts, naming it in Bad-CSM-Option.
          this.#abort(
            conn,
            'bad-csm-option',
            `unsupported critical CSM option ${check.problem.number}`,
            check.problem.number,
          );
          return;
        }
        conn.peerCsm = true;
        // Options a later CSM leaves out keep their values (§5.3).
        if (signal.maxMessageSize !== undefined) conn.peerMaxMessageSize = signal.maxMessageSize;
        if (signal.blockWiseTransfer) conn.peerBert = true;
        if (conn.held.length > 0) this.#releaseHeld(conn);
        return;
      }
      case 'ping':
        // §5.4: answer with the Ping's token; we answer after everything received before (Custody).
        this.#send(conn, encodeCoapTcp(pongSignal({ token: msg.token, custody: signal.custody })));
        return;
      case 'pong': {
        // libcoap 4.3 answers every Ping with an empty-token Pong (RFC 8323 §5.4 wants the Ping's
        // token): such a Pong answers our oldest Ping, as any Pong proves the peer alive.
        const key =
          msg.token.length === 0 && !conn.pings.has(tokenText(msg.token))
            ? conn.pings.keys().next().value
            : tokenText(msg.token);
        const pending = key === undefined ? undefined : conn.pings.get(key);
        if (!pending || key === undefined) return;
        conn.pings.delete(key);
        this.#timers.cancel(pending.timer);
        pending.resolve();
        return;
      }
      case 'release':
        // §5.5: no new requests on this connection; what is open may still complete.
        conn.closing ??= new CoapConnectionClosedError(conn.key, 'peer-closed', {
          kind: 'release',
          diagnostic: signal.diagnostic,
        });
        this.#closeIfIdle(conn);
        return;
      case 'abort':
        this.#onError(new CoapReliableProtocolError('abort', conn.key, `peer aborted: ${signal.diagnostic}`));
        this.#shutDown(
          conn,
          new CoapConnectionClosedError(conn.key, 'peer-closed', {
            kind: 'abort',
            diagnostic: signal.diagnostic,
          }),
        );
        return;
    }
  }

  /** A released connection is closed by us too once none of our requests wait on it. */
  #closeIfIdle(conn: Connection): void {
    if (!conn.closing || conn.aborted || this.#connections.get(conn.key) !== conn) return;
    for (const ex of conn.exchanges.values()) if (!ex.observer?.established) return;
    if (conn.pings.size > 0) return;
    this.#channel.disconnect(conn.peer);
  }

  #receiveResponse(conn: Connection, msg: CoapMessage): void {
    const ex = conn.exchanges.get(tokenText(msg.token));
    if (!ex) {
      this.stats.unmatched++; // late, or a notification of a forgotten observation: no Reset on TCP
      return;
    }
    const observer = ex.observer;
    if (observer?.established) {
      if (observeOption(msg) === undefined || !isSuccess(msg.code)) {
        this.#finish(ex, undefined, msg); // a final response ends the observation (RFC 7641 §3.2)
        return;
      }
      try {
        observer.handlers.onNotification(msg);
      } catch (e) {
        this.#onError(e);
      }
      return;
    }
    if (ex.skipNotifications && isSuccess(msg.code) && observeOption(msg) !== undefined) return;
    this.#finish(ex, undefined, msg);
  }

  #finish(ex: Exchange, error: unknown, response?: CoapMessage): void {
    if (ex.done) return;
    const observer = ex.observer;
    if (
      observer &&
      response &&
      !observer.established &&
      isSuccess(response.code) &&
      observeOption(response) !== undefined
    ) {
      // Established: the exchange stays, matched by token, for the notifications.
      observer.established = true;
      this.#timers.cancel(ex.deadline);
      ex.deadline = undefined;
      ex.resolve(response);
      return;
    }
    ex.done = true;
    this.#timers.cancel(ex.deadline);
    this.#removeExchange(ex);
    this.#closeIfIdle(ex.conn);
    if (observer?.established) {
      try {
        observer.handlers.onEnd?.(error !== undefined ? 'closed' : 'final-response', response);
      } catch (e) {
        this.#onError(e);
      }
      return;
    }
    if (error !== undefined) ex.reject(error);
    else ex.resolve(response!);
  }

  #removeExchange(ex: Exchange): void {
    if (ex.conn.exchanges.get(ex.tokenKey) !== ex) return;
    ex.conn.exchanges.delete(ex.tokenKey);
    this.#openRequests--;
  }

  #newToken(conn: Connection): Uint8Array {
    for (;;) {
      const token = this.#random.bytes(this.#tokenLength);
      const key = tokenText(token);
      if (!conn.exchanges.has(key) && !conn.pings.has(key)) return token;
    }
  }

  // ---- server role ----

  #receiveRequest(conn: Connection, msg: CoapMessage): void {
    this.stats.handled++;
    const observe = msg.options.length > 0 ? observeOption(msg) : undefined;
    // GET/FETCH with Observe=1 deregisters (RFC 7641 §3.6); the request is then served as usual.
    if (observe === 1) {
      const relation = conn.relations.get(tokenText(msg.token));
      if (relation) this.#endRelation(relation, 'deregistered');
    }
    const unrecognized =
      msg.options.length === 0 ? undefined : firstUnrecognizedCritical(msg, { reliable: true });
    if (unrecognized !== undefined) {
      this.#respond(conn, msg, {
        code: CoapCode.BAD_OPTION,
        payload: encodeString(`unrecognized critical option ${unrecognized}`),
      });
      return;
    }
    const handler = this.#handler;
    if (!handler) {
      this.#respond(conn, msg, { code: CoapCode.NOT_FOUND });
      return;
    }
    if (conn.handling >= this.#limits.maxPendingRequestsPerPeer) {
      this.#respond(conn, msg, {
        code: CoapCode.SERVICE_UNAVAILABLE,
        options: [{ number: OptionNumber.MAX_AGE, value: encodeUint(1) }],
        payload: encodeString('too many requests in progress'),
      });
      return;
    }
    let result: CoapResponse | Promise<CoapResponse>;
    try {
      result = handler({ peer: conn.peer, message: msg });
    } catch (e) {
      this.#onError(e);
      result = { code: CoapCode.INTERNAL_SERVER_ERROR };
    }
    if (!(result instanceof Promise)) {
      this.#respond(conn, msg, result);
      return;
    }
    conn.handling++;
    result.then(
      (response) => {
        conn.handling--;
        this.#respond(conn, msg, response);
      },
      (e: unknown) => {
        conn.handling--;
        this.#onError(e);
        this.#respond(conn, msg, { code: CoapCode.INTERNAL_SERVER_ERROR });
      },
    );
  }

  #respond(conn: Connection, request: CoapMessage, response: CoapResponse): void {
    // The connection may have gone while the handler ran: the response has nowhere to go.
    if (this.#closed || conn.aborted || this.#connections.get(conn.key) !== conn) return;
    let options = response.options ?? NO_OPTIONS;
    let relation: RelationState | undefined;
    if (response.observe && isSuccess(response.code) && observeOption(request) === 0) {
      relation = this.#newRelation(conn, request.token);
      if (relation) options = withObserve(options, relation.seq);
    }
    const frame = this.#frame(conn, {
      code: response.code,
      messageId: 0,
      token: request.token,
      options,
      payload: response.payload ?? EMPTY,
    });
    if (frame.fallback && relation) this.#endRelation(relation, 'cancelled');
    this.#send(conn, frame.bytes);
    if (!relation || relation.ended) return;
    const accept = response.observe!;
    const r = relation;
    queueMicrotask(() => {
      if (r.ended) return;
      try {
        accept(r);
      } catch (e) {
        this.#onError(e);
        r.cancel();
      }
    });
  }

  /**
   * The frame of a response or notification; one past the peer's Max-Message-Size (or not
   * encodable) is replaced by a 5.00 with a diagnostic (the block-wise layer above should have
   * cut it: RFC 8323 §5.3.1 forbids sending it).
   */
  #frame(conn: Connection, msg: CoapMessage): { bytes: Uint8Array; fallback: boolean } {
    let problem: unknown;
    try {
      const bytes = encodeCoapTcp(msg);
      if (bytes.length <= conn.peerMaxMessageSize) return { bytes, fallback: false };
      problem = new CoapMessageTooLargeError(conn.key, bytes.length, conn.peerMaxMessageSize);
    } catch (e) {
      problem = e;
    }
    this.#onError(problem);
    const diagnostic = problem instanceof Error ? problem.message : 'response not encodable';
    const bytes = encodeCoapTcp({
      code: CoapCode.INTERNAL_SERVER_ERROR,
      messageId: 0,
      token: msg.token,
      options: NO_OPTIONS,
      payload: encodeString(diagnostic.slice(0, 200)),
    });
    return { bytes, fallback: true };
  }

  #newRelation(conn: Connection, token: Uint8Array): RelationState | undefined {
    const tokenKey = tokenText(token);
    const existing = conn.relations.get(tokenKey);
    if (existing) this.#endRelation(existing, 'replaced');
    if (this.#relationCount >= this.#limits.maxObserveRelations) return undefined;
    if (conn.relations.size >= this.#limits.maxObserveRelationsPerPeer) {
      const oldest = conn.relations.values().next().value;
      if (oldest) this.#endRelation(oldest, 'evicted');
    }
    const notify = (r: RelationState, response: Omit<CoapResponse, 'observe'>): void =>
      this.#notify(r, response);
    const end = (r: RelationState): void => this.#endRelation(r, 'cancelled');
    const relation: RelationState = {
      conn,
      tokenKey,
      peer: conn.peer,
      token: token.slice(),
      seq: this.#random.int(0x1000),
      listeners: [],
      ended: false,
      get active() {
        return !relation.ended;
      },
      notify(response) {
        notify(relation, response); // no CON/NON on a connection: `confirmable` means nothing
      },
      cancel() {
        end(relation);
      },
      onEnd(listener) {
        relation.listeners.push(listener);
      },
    };
    conn.relations.set(tokenKey, relation);
    this.#relationCount++;
    return relation;
  }

  #notify(relation: RelationState, response: Omit<CoapResponse, 'observe'>): void {
    if (relation.ended || this.#closed) return;
    const conn = relation.conn;
    relation.seq = (relation.seq + 1) & 0xffffff;
    // A non-2.xx notification is final: it carries no Observe and ends the relation (RFC 7641 §3.2).
    const final = !isSuccess(response.code);
    const options = final
      ? (response.options ?? NO_OPTIONS)
      : withObserve(response.options ?? NO_OPTIONS, relation.seq);
    const frame = this.#frame(conn, {
      code: response.code,
      messageId: 0,
      token: relation.token,
      options,
      payload: response.payload ?? EMPTY,
    });
    this.#send(conn, frame.bytes);
    if (final || frame.fallback) this.#endRelation(relation, 'cancelled');
  }

  #endRelation(relation: RelationState, reason: ObserveEndReason): void {
    if (relation.ended) return;
    relation.ended = true;
    const conn = relation.conn;
    if (conn.relations.get(relation.tokenKey) === relation) {
      conn.relations.delete(relation.tokenKey);
      this.#relationCount--;
    }
    for (const listener of relation.listeners) {
      try {
        listener(reason);
      } catch (e) {
        this.#onError(e);
      }
    }
  }
}

/** The options with Observe set to `value` (replacing any), kept in option-number order. */
function withObserve(options: readonly CoapOption[], value: number): CoapOption[] {
  const out = options.filter((o) => o.number !== OptionNumber.OBSERVE);
  const at = out.findIndex((o) => o.number > OptionNumber.OBSERVE);
  const option = { number: OptionNumber.OBSERVE, value: encodeUint(value) };
  if (at < 0) out.push(option);
  else out.splice(at, 0, option);
  return out;
}
