import { systemClock, type Clock } from '../clock.js';
import { TimerQueue, type QueuedTimer } from '../timer-queue.js';
import { cryptoRandom, type RandomSource } from '../random.js';
import { peerKey, type Channel, type Peer } from '../transport/channel.js';
import { CoapLimitError, CoapResetError, CoapTimeoutError, EndpointClosedError } from './errors.js';
import {
  CoapCode,
  isRequest,
  isResponse,
  isSuccess,
  type CoapMessage,
  type CoapOption,
  type CoapType,
} from './message.js';
import {
  OptionNumber,
  encodeUint,
  firstUnrecognizedCritical,
  getOption,
  observe as observeOption,
  sortOptions,
} from './options.js';
import { CoapFormatError, decodeCoapUdp, encodeCoapUdp } from './udp-codec.js';
import {
  DEFAULT_TRANSMISSION,
  exchangeLifetime,
  initialTimeout,
  nonLifetime,
  type TransmissionParameters,
} from './transmission.js';

/** What a request handler (server role) answers. */
export interface CoapResponse {
  readonly code: number;
  readonly options?: readonly CoapOption[];
  readonly payload?: Uint8Array;
  /**
   * Accepts an Observe registration (RFC 7641): on a 2.xx answer to a request with Observe=0, the
   * endpoint adds the Observe option, keeps a relation and hands it here to send notifications.
   */
  readonly observe?: (relation: ObserveRelation) => void;
}

/** Why an observe relation ended. */
export type ObserveEndReason =
  'cancelled' | 'deregistered' | 'reset' | 'timeout' | 'replaced' | 'closed' | 'evicted';

/** The server side of one observation: the application calls notify() when the state changes. */
export interface ObserveRelation {
  readonly peer: Peer;
  readonly token: Uint8Array;
  readonly active: boolean;
  /** Sends a notification: NON by default, CON when asked or when none was CON for 24 hours. */
  notify(response: Omit<CoapResponse, 'observe'>, options?: { confirmable?: boolean }): void;
  /** Ends the relation from our side. */
  cancel(): void;
  onEnd(listener: (reason: ObserveEndReason) => void): void;
}

/** The client side of one observation. */
export interface ClientObservation {
  /** The first response (the registration's answer). */
  readonly response: CoapMessage;
  /** False when the server answered without Observe: no notifications will follow. */
  readonly established: boolean;
  /** Proactive cancel (GET/FETCH with Observe=1 and the same token); resolves with its response. */
  cancel(options?: RequestOptions): Promise<CoapMessage>;
  /** Reactive cancel: forget the token, so the next notification is answered with RST. */
  forget(): void;
}

export interface ObserveHandlers {
  /** A fresh notification (stale, reordered ones are dropped per RFC 7641 §3.4). */
  onNotification(message: CoapMessage): void;
  /** The observation ended: a final (non-2.xx or Observe-less) response, or the endpoint closed. */
  onEnd?(reason: 'final-response' | 'closed' | 'cancelled', message?: CoapMessage): void;
}

export interface IncomingRequest {
  readonly peer: Peer;
  readonly message: CoapMessage;
  /** True when the request came to a group address (a channel added with addGroupChannel). */
  readonly multicast?: boolean;
}

/** One member's answer to a group request. */
export interface GroupResponse {
  readonly peer: Peer;
  readonly message: CoapMessage;
}

export interface GroupRequestOptions {
  /** How long to collect responses, in ms (members answer within their leisure; RFC 7252 §8.2). */
  readonly timeout: number;
  /** Called for each response as it arrives. */
  readonly onResponse?: (response: GroupResponse) => void;
}

/** RFC 7252 §8.2: DEFAULT_LEISURE, the window a member spreads its response over. */
export const DEFAULT_LEISURE = 5000;

export type RequestHandler = (request: IncomingRequest) => CoapResponse | Promise<CoapResponse>;

/** A request to send (client role). */
export interface OutgoingRequest {
  readonly code: number;
  readonly options?: readonly CoapOption[];
  readonly payload?: Uint8Array;
  /** CON (default) or NON. */
  readonly confirmable?: boolean;
  /** Normally chosen by the endpoint; give one to continue a conversation (observe, block-wise). */
  readonly token?: Uint8Array;
}

export interface RequestOptions {
  /** Overall deadline in ms for the response (default: EXCHANGE_LIFETIME). */
  readonly timeout?: number;
}

export interface EndpointLimits {
  /** Client-role requests open at once (sent or queued). */
  readonly maxOpenRequests: number;
  /** Requests waiting for NSTART, per peer. */
  readonly maxQueuedPerPeer: number;
  /** Message ids remembered for deduplication (oldest evicted first). */
  readonly maxDedupEntries: number;
  /** Server-role observe relations at once; registrations beyond it are answered without Observe. */
  readonly maxObserveRelations: number;
  /** Observe relations per peer; a new one beyond it evicts that peer's oldest. */
  readonly maxObserveRelationsPerPeer: number;
}

export const DEFAULT_ENDPOINT_LIMITS: EndpointLimits = Object.freeze({
  maxOpenRequests: 10_000,
  maxQueuedPerPeer: 1_000,
  maxDedupEntries: 100_000,
  maxObserveRelations: 100_000,
  maxObserveRelationsPerPeer: 1_000,
});

export interface EndpointOptions {
  readonly channel: Channel;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly transmission?: Partial<TransmissionParameters>;
  readonly limits?: Partial<EndpointLimits>;
  /**
   * How long a handler may take before a CON request gets an empty ACK and the response is sent
   * separately (RFC 7252 §5.2.2). Well under ACK_TIMEOUT, so the peer does not retransmit.
   */
  readonly piggybackTimeout?: number;
  /** Token length for requests we originate (1..8; default 8). */
  readonly tokenLength?: number;
  /** Repeat a request answered 4.01 with an Echo option, carrying the Echo (RFC 9175 §2.4); default true. */
  readonly echoRetry?: boolean;
  /** Called with faults that have no caller to reject: handler exceptions, send errors. */
  readonly onError?: (error: unknown) => void;
}

/** Counters for tests, diagnostics and benchmarks. */
export interface EndpointStats {
  received: number;
  sent: number;
  retransmissions: number;
  duplicates: number;
  malformed: number;
  handled: number;
}

/** A confirmable message of ours awaiting its ACK or RST (requests, separate responses). */
interface PendingCon {
  readonly key: string;
  readonly peer: Peer;
  readonly bytes: Uint8Array;
  attempts: number;
  timeout: number;
  timer: QueuedTimer | undefined;
  /** What to do on ACK, RST or giving up; `context` is passed back (one shared handler object for all requests). */
  readonly handlers: ConHandlers<never>;
  readonly context: unknown;
}

interface ConHandlers<T> {
  onAck(context: T, ack: CoapMessage): void;
  onReset(context: T): void;
  onGiveUp(context: T): void;
}

/** Handlers for one-off CONs (pings, separate responses, notifications) that need no context. */
function conHandlers(h: {
  onAck?: (ack: CoapMessage) => void;
  onReset?: () => void;
  onGiveUp?: () => void;
}): ConHandlers<undefined> {
  return {
    onAck: (_c, ack) => h.onAck?.(ack),
    onReset: () => h.onReset?.(),
    onGiveUp: () => h.onGiveUp?.(),
  };
}

/** A request of ours awaiting its response (matched by peer and token). */
interface ClientExchange {
  readonly tokenKey: string;
  readonly peerKey: string;
  readonly peer: Peer;
  readonly confirmable: boolean;
  readonly message: CoapMessage;
  readonly resolve: (m: CoapMessage) => void;
  readonly reject: (e: unknown) => void;
  deadline: QueuedTimer | undefined;
  con: PendingCon | undefined;
  /** Counted against NSTART until the CON is acknowledged or the exchange ends. */
  holdsSlot: boolean;
  done: boolean;
  /** Set for an observation: the exchange outlives its first response. */
  observer?: ObserverState;
  /** Set when a 4.01 with Echo may be answered by repeating the request once (RFC 9175 §2.4). */
  echoRetry?: { readonly request: OutgoingRequest; readonly options: RequestOptions };
}

interface ObserverState {
  readonly handlers: ObserveHandlers;
  established: boolean;
  lastSeq: number;
  lastTime: number;
}

interface RelationState extends ObserveRelation {
  readonly key: string;
  seq: number;
  lastConAt: number;
  pendingConKey: string | undefined;
  listeners: ((reason: ObserveEndReason) => void)[];
  ended: boolean;
}

/** RFC 7641 §4.5: a CON notification at least this often (24 h). */
const CON_NOTIFICATION_INTERVAL = 24 * 3600 * 1000;
/** RFC 7641 §3.4: a notification more than 128 s after the last one is fresh whatever its number. */
const OBSERVE_FRESHNESS = 128_000;

/** What we remember of a request we received, for deduplication (RFC 7252 §4.5). */
interface DedupEntry {
  readonly token: string;
  readonly code: number;
  readonly expiresAt: number;
  /** The ACK we sent (piggybacked response or empty ACK), resent for a duplicate CON. */
  ack: CoapMessage | undefined;
  /** A NON response we sent, resent for a duplicate NON. */
  response: CoapMessage | undefined;
}

/** A token as a map key: one char per byte (tokens are at most 8 bytes; cheaper than hex). */
function tokenText(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i++) out += String.fromCharCode(b[i]!);
  return out;
}
const EMPTY = new Uint8Array(0);

/**
 * A CoAP endpoint over one Channel (RFC 7252 message layer): client and server roles at once, as
 * LwM2M needs. It matches exchanges, deduplicates, retransmits CONs with exponential back-off,
 * limits NSTART per peer with a queue, piggybacks responses or sends them separately, and answers
 * CoAP pings. Every table is bounded.
 */
export class CoapEndpoint {
  readonly stats: EndpointStats = {
    received: 0,
    sent: 0,
    retransmissions: 0,
    duplicates: 0,
    malformed: 0,
    handled: 0,
  };
  readonly #channel: Channel;
  readonly #clock: Clock;
  /** Every timer of the endpoint, on one host timer. */
  readonly #timers: TimerQueue;
  readonly #random: RandomSource;
  readonly #params: TransmissionParameters;
  readonly #limits: EndpointLimits;
  readonly #piggybackTimeout: number;
  readonly #tokenLength: number;
  readonly #onError: (error: unknown) => void;
  readonly #echoRetry: boolean;
  #handler: RequestHandler | undefined;
  #nextMid: number;
  #closed = false;

  /** Our CONs awaiting ACK/RST, by `peer|mid`. */
  readonly #pendingCon = new Map<string, PendingCon>();
  /** Our requests awaiting a response, by `peer|token`. */
  readonly #exchanges = new Map<string, ClientExchange>();
  /** CON requests in flight per peer (NSTART) and the queue behind them. */
  readonly #inFlight = new Map<string, number>();
  readonly #queues = new Map<string, ClientExchange[]>();
  /** Requests received, by `peer|mid`, in arrival order (so the oldest is evicted first). */
  readonly #dedup = new Map<string, DedupEntry>();
  /** CON responses received (separate responses), by `peer|mid`, to re-ACK duplicates. */
  readonly #seenResponses = new Map<string, number>();
  /** Group requests of ours collecting responses, by token. */
  readonly #groupRequests = new Map<string, { onResponse: (r: GroupResponse) => void }>();
  /** Channels bound to group addresses (server role). */
  readonly #groupChannels: Channel[] = [];
  /** Server-role observe relations, by `peer|token`. */
  readonly #relations = new Map<string, RelationState>();
  /** The same relations per peer, oldest first, for the per-peer bound. */
  readonly #relationsByPeer = new Map<string, Set<RelationState>>();
  /** NON notifications we sent, by `peer|mid` → relation key, so a RST can end the relation. */
  readonly #nonNotifications = new Map<string, string>();
  readonly #nonNotificationExpiry = new Map<string, number>();

  constructor(options: EndpointOptions) {
    this.#channel = options.channel;
    this.#clock = options.clock ?? systemClock;
    this.#timers = new TimerQueue(this.#clock);
    this.#random = options.random ?? cryptoRandom;
    this.#params = { ...DEFAULT_TRANSMISSION, ...options.transmission };
    this.#limits = { ...DEFAULT_ENDPOINT_LIMITS, ...options.limits };
    this.#piggybackTimeout = options.piggybackTimeout ?? Math.min(500, this.#params.ackTimeout / 4);
    this.#tokenLength = options.tokenLength ?? 8;
    if (!(this.#tokenLength >= 1 && this.#tokenLength <= 8)) throw new RangeError('tokenLength is 1..8');
    this.#onError = options.onError ?? (() => {});
    this.#echoRetry = options.echoRetry ?? true;
    this.#nextMid = this.#random.int(0x10000);
    this.#channel.onReceive((peer, bytes) => this.#receive(peer, bytes));
  }

  get transmission(): TransmissionParameters {
    return this.#params;
  }

  /** Sets the server-role handler. Without one, requests get 4.04. */
  onRequest(handler: RequestHandler): this {
    this.#handler = handler;
    return this;
  }

  /** Sends a request and resolves with the response (piggybacked or separate). */
  request(peer: Peer, request: OutgoingRequest, options: RequestOptions = {}): Promise<CoapMessage> {
    return this.#startRequest(
      peer,
      request,
      options,
      undefined,
      this.#echoRetry ? { request, options } : undefined,
    );
  }

  /**
   * Registers an observation (RFC 7641 §3.1): the request (GET or FETCH) goes with Observe=0; the
   * first response resolves the promise, later notifications go to `handlers`.
   */
  async observe(
    peer: Peer,
    request: OutgoingRequest,
    handlers: ObserveHandlers,
    options: RequestOptions = {},
  ): Promise<ClientObservation> {
    const token = request.token ?? this.#newToken(peerKey(peer));
    const observer: ObserverState = { handlers, established: false, lastSeq: 0, lastTime: 0 };
    const registration = { ...request, token, options: withObserve(request.options ?? [], 0) };
    const response = await this.#startRequest(peer, registration, options, observer);
    const tokenKey = `${peerKey(peer)}|${tokenText(token)}`;
    const forget = (): void => {
      const ex = this.#exchanges.get(tokenKey);
      if (ex && ex.observer === observer) {
        ex.done = true;
        this.#exchanges.delete(tokenKey);
      }
    };
    return {
      response,
      established: observer.established,
      forget,
      cancel: (cancelOptions?: RequestOptions) => {
        forget();
        handlers.onEnd?.('cancelled');
        return this.request(
          peer,
          { ...request, token, options: withObserve(request.options ?? [], 1) },
          cancelOptions,
        );
      },
    };
  }

  #startRequest(
    peer: Peer,
    request: OutgoingRequest,
    options: RequestOptions,
    observer: ObserverState | undefined,
    echoRetry?: ClientExchange['echoRetry'],
  ): Promise<CoapMessage> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    if (!isRequest(request.code))
      return Promise.reject(new RangeError(`0x${request.code.toString(16)} is not a request code`));
    if (this.#exchanges.size >= this.#limits.maxOpenRequests)
      return Promise.reject(new CoapLimitError('maxOpenRequests', this.#limits.maxOpenRequests));
    const pk = peerKey(peer);
    const token = request.token ?? this.#newToken(pk);
    const tokenKey = `${pk}|${tokenText(token)}`;
    if (this.#exchanges.has(tokenKey))
      return Promise.reject(new RangeError('token already in use with this peer'));
    const confirmable = request.confirmable ?? true;
    return new Promise<CoapMessage>((resolve, reject) => {
      const message: CoapMessage = {
        type: confirmable ? 'CON' : 'NON',
        code: request.code,
        messageId: 0, // assigned when sent
        token,
        options: request.options ?? [],
        payload: request.payload ?? EMPTY,
      };
      const exchange: ClientExchange = {
        tokenKey,
        peerKey: pk,
        peer,
        confirmable,
        message,
        resolve,
        reject,
        deadline: undefined,
        con: undefined,
        holdsSlot: false,
        done: false,
        observer,
        echoRetry,
      };
      this.#exchanges.set(tokenKey, exchange);
      // The deadline timer is armed up front only when the caller set one or the request is NON;
      // a CON is bounded by its retransmissions until an empty ACK says a separate response
      // follows (one timer per request instead of two on the common, piggybacked path).
      if (options.timeout !== undefined || !confirmable)
        this.#armDeadline(exchange, options.timeout ?? exchangeLifetime(this.#params));
      if (confirmable && (this.#inFlight.get(pk) ?? 0) >= this.#params.nstart) {
        const queue = this.#queues.get(pk) ?? [];
        if (queue.length >= this.#limits.maxQueuedPerPeer) {
          this.#finish(exchange, new CoapLimitError('maxQueuedPerPeer', this.#limits.maxQueuedPerPeer));
          return;
        }
        queue.push(exchange);
        this.#queues.set(pk, queue);
        return;
      }
      this.#start(exchange);
    });
  }

  /** CoAP ping (RFC 7252 §4.3): an empty CON answered by RST. Resolves when the peer answers. */
  ping(peer: Peer): Promise<void> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    const pk = peerKey(peer);
    const mid = this.#newMid(pk);
    const bytes = encodeCoapUdp({
      type: 'CON',
      code: CoapCode.EMPTY,
      messageId: mid,
      token: EMPTY,
      options: [],
      payload: EMPTY,
    });
    return new Promise<void>((resolve, reject) => {
      this.#sendConfirmable(
        peer,
        `${pk}|${mid}`,
        bytes,
        conHandlers({
          onAck: () => resolve(), // an empty ACK is also an answer
          onReset: () => resolve(),
          onGiveUp: () => reject(new CoapTimeoutError('no-ack', pk, 'no answer to ping')),
        }),
        undefined,
      );
    });
  }

  /** Sizes of the internal tables, to check that they stay bounded. */
  tableSizes(): {
    exchanges: number;
    pendingCon: number;
    queued: number;
    dedup: number;
    seenResponses: number;
    relations: number;
    nonNotifications: number;
  } {
    let queued = 0;
    for (const q of this.#queues.values()) queued += q.length;
    return {
      exchanges: this.#exchanges.size,
      pendingCon: this.#pendingCon.size,
      queued,
      dedup: this.#dedup.size,
      seenResponses: this.#seenResponses.size,
      relations: this.#relations.size,
      nonNotifications: this.#nonNotifications.size,
    };
  }

  /** Rejects everything open, stops every timer and closes the channel. */
  /**
   * Sends a request to a multicast group (RFC 7252 §8.1: always NON) and collects the members'
   * responses, matched by token from whatever unicast address each member answers from.
   */
  groupRequest(
    group: Peer,
    request: OutgoingRequest,
    options: GroupRequestOptions,
  ): Promise<GroupResponse[]> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    if (!isRequest(request.code)) return Promise.reject(new RangeError('not a request code'));
    const gk = peerKey(group);
    let token = request.token;
    if (!token)
      do token = this.#random.bytes(this.#tokenLength);
      while (this.#groupRequests.has(tokenText(token)));
    const key = tokenText(token);
    const responses: GroupResponse[] = [];
    this.#groupRequests.set(key, {
      onResponse: (r) => {
        responses.push(r);
        try {
          options.onResponse?.(r);
        } catch (e) {
          this.#onError(e);
        }
      },
    });
    const bytes = encodeCoapUdp({
      type: 'NON',
      code: request.code,
      messageId: this.#newMid(gk),
      token,
      options: request.options ?? [],
      payload: request.payload ?? EMPTY,
    });
    this.#transmit(group, bytes);
    return new Promise((resolve) => {
      this.#timers.schedule(() => {
        this.#groupRequests.delete(key);
        resolve(responses);
      }, options.timeout);
    });
  }

  /**
   * Serves requests sent to a group (server role, RFC 7252 §8.2): `channel` is bound to the group
   * address. Its requests reach the same handler with `multicast: true`; only NON requests are
   * served; a response goes out from this endpoint's own channel after a random delay within
   * `leisure`, and error responses are not sent at all.
   */
  addGroupChannel(channel: Channel, options: { leisure?: number } = {}): this {
    const leisure = options.leisure ?? DEFAULT_LEISURE;
    this.#groupChannels.push(channel);
    channel.onReceive((peer, bytes) => this.#receiveGroup(peer, bytes, leisure));
    return this;
  }

  #receiveGroup(peer: Peer, bytes: Uint8Array, leisure: number): void {
    if (this.#closed) return;
    let msg: CoapMessage;
    try {
      msg = decodeCoapUdp(bytes);
    } catch {
      this.stats.malformed++; // never answered: a group request gets no RST (§8.1)
      return;
    }
    if (msg.type !== 'NON' || !isRequest(msg.code)) return;
    const pk = peerKey(peer);
    const key = `group|${pk}|${msg.messageId}`;
    const seen = this.#dedup.get(key);
    if (seen && seen.token === tokenText(msg.token) && seen.expiresAt > this.#clock.now()) {
      this.stats.duplicates++;
      return;
    }
    this.#dedup.set(key, {
      token: tokenText(msg.token),
      code: msg.code,
      expiresAt: this.#clock.now() + nonLifetime(this.#params),
      ack: undefined,
      response: undefined,
    });
    this.#evictDedup();
    this.stats.handled++;
    const handler = this.#handler;
    if (!handler || firstUnrecognizedCritical(msg) !== undefined) return;
    const send = (response: CoapResponse): void => {
      // §8.2: a member should not answer a group request with an error.
      if (!isSuccess(response.code) || this.#closed) return;
      const delay = this.#random.next() * leisure;
      this.#timers.schedule(() => {
        const out = encodeCoapUdp({
          type: 'NON',
          code: response.code,
          messageId: this.#newMid(pk),
          token: msg.token,
          options: response.options ?? [],
          payload: response.payload ?? EMPTY,
        });
        this.#transmit(peer, out);
      }, delay);
    };
    try {
      const result = handler({ peer, message: msg, multicast: true });
      if (result instanceof Promise) result.then(send, (e: unknown) => this.#onError(e));
      else send(result);
    } catch (e) {
      this.#onError(e);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const ex of [...this.#exchanges.values()]) this.#finish(ex, new EndpointClosedError());
    for (const relation of [...this.#relations.values()]) this.#endRelation(relation, 'closed');
    this.#timers.clear();
    this.#pendingCon.clear();
    this.#dedup.clear();
    this.#seenResponses.clear();
    this.#groupRequests.clear();
    await Promise.all([this.#channel.close(), ...this.#groupChannels.map((c) => c.close())]);
  }

  // ---- client role ----

  #start(exchange: ClientExchange): void {
    const mid = this.#newMid(exchange.peerKey);
    const bytes = encodeCoapUdp({ ...exchange.message, messageId: mid });
    if (!exchange.confirmable) {
      this.#transmit(exchange.peer, bytes);
      return;
    }
    exchange.holdsSlot = true;
    this.#inFlight.set(exchange.peerKey, (this.#inFlight.get(exchange.peerKey) ?? 0) + 1);
    exchange.con = this.#sendConfirmable(
      exchange.peer,
      `${exchange.peerKey}|${mid}`,
      bytes,
      this.#requestCon,
      exchange,
    );
  }

  /** One handler object for every request's CON (no closures per request). */
  readonly #requestCon: ConHandlers<ClientExchange> = {
    onAck: (exchange, ack) => {
      exchange.con = undefined;
      this.#releaseSlot(exchange);
      // A piggybacked response completes the exchange; an empty ACK means a separate one follows.
      if (ack.code !== CoapCode.EMPTY) this.#finish(exchange, undefined, ack);
      else if (!exchange.deadline) this.#armDeadline(exchange, exchangeLifetime(this.#params));
    },
    onReset: (exchange) => {
      exchange.con = undefined;
      this.#finish(exchange, new CoapResetError(exchange.peerKey));
    },
    onGiveUp: (exchange) => {
      exchange.con = undefined;
      this.#finish(
        exchange,
        new CoapTimeoutError(
          'no-ack',
          exchange.peerKey,
          `${this.#params.maxRetransmit} retransmissions unacknowledged`,
        ),
      );
    },
  };

  #armDeadline(exchange: ClientExchange, timeout: number): void {
    exchange.deadline = this.#timers.schedule(
      () =>
        this.#finish(
          exchange,
          new CoapTimeoutError('no-response', exchange.peerKey, `no response within ${timeout} ms`),
        ),
      timeout,
    );
  }

  #releaseSlot(exchange: ClientExchange): void {
    if (!exchange.holdsSlot) return;
    exchange.holdsSlot = false;
    const n = (this.#inFlight.get(exchange.peerKey) ?? 1) - 1;
    if (n > 0) this.#inFlight.set(exchange.peerKey, n);
    else this.#inFlight.delete(exchange.peerKey);
    const queue = this.#queues.get(exchange.peerKey);
    const next = queue?.shift();
    if (queue && queue.length === 0) this.#queues.delete(exchange.peerKey);
    if (next && !this.#closed) this.#start(next);
  }

  #finish(exchange: ClientExchange, error: unknown, response?: CoapMessage): void {
    if (exchange.done) return;
    const observer = exchange.observer;
    if (
      observer &&
      response &&
      !observer.established &&
      isSuccess(response.code) &&
      observeOption(response) !== undefined
    ) {
      // The observation is established: the exchange stays, matched by token, for notifications.
      observer.established = true;
      observer.lastSeq = observeOption(response)!;
      observer.lastTime = this.#clock.now();
      if (exchange.deadline) this.#timers.cancel(exchange.deadline);
      exchange.deadline = undefined;
      if (exchange.con) {
        if (exchange.con.timer) this.#timers.cancel(exchange.con.timer);
        this.#pendingCon.delete(exchange.con.key);
        exchange.con = undefined;
      }
      this.#releaseSlot(exchange);
      exchange.resolve(response);
      return;
    }
    exchange.done = true;
    this.#exchanges.delete(exchange.tokenKey);
    if (observer?.established) {
      observer.handlers.onEnd?.(error instanceof EndpointClosedError ? 'closed' : 'final-response', response);
      return;
    }
    if (exchange.deadline) this.#timers.cancel(exchange.deadline);
    if (exchange.con) {
      if (exchange.con.timer) this.#timers.cancel(exchange.con.timer);
      this.#pendingCon.delete(exchange.con.key);
      exchange.con = undefined;
    }
    const queue = this.#queues.get(exchange.peerKey);
    if (queue) {
      const i = queue.indexOf(exchange);
      if (i >= 0) queue.splice(i, 1);
      if (queue.length === 0) this.#queues.delete(exchange.peerKey);
    }
    this.#releaseSlot(exchange);
    if (error !== undefined) {
      exchange.reject(error);
      return;
    }
    // RFC 9175 §2.4: a 4.01 with an Echo option asks us to prove freshness: repeat the request
    // once, carrying that Echo value. Done here, not in a wrapper, so plain requests pay no extra
    // promise (coap-endpoint benchmark).
    const retry = exchange.echoRetry;
    const echo =
      retry && response!.code === CoapCode.UNAUTHORIZED ? getOption(response!, OptionNumber.ECHO) : undefined;
    if (retry && echo !== undefined && !hasOption(retry.request, OptionNumber.ECHO)) {
      const options = sortOptions([
        ...(retry.request.options ?? []),
        { number: OptionNumber.ECHO, value: echo.slice() },
      ]);
      this.#startRequest(exchange.peer, { ...retry.request, options }, retry.options, undefined).then(
        exchange.resolve,
        exchange.reject,
      );
      return;
    }
    exchange.resolve(response!);
  }

  #newToken(pk: string): Uint8Array {
    for (;;) {
      const token = this.#random.bytes(this.#tokenLength);
      if (!this.#exchanges.has(`${pk}|${tokenText(token)}`)) return token;
    }
  }

  #newMid(pk: string): number {
    for (let i = 0; i < 0x10000; i++) {
      const mid = this.#nextMid;
      this.#nextMid = (this.#nextMid + 1) & 0xffff;
      if (!this.#pendingCon.has(`${pk}|${mid}`)) return mid;
    }
    throw new CoapLimitError('message ids in use with one peer', 0x10000);
  }

  // ---- reliability (RFC 7252 §4.2) ----

  #sendConfirmable<T>(
    peer: Peer,
    key: string,
    bytes: Uint8Array,
    handlers: ConHandlers<T>,
    context: T,
  ): PendingCon {
    const con: PendingCon = {
      key,
      peer,
      bytes,
      attempts: 0,
      timeout: initialTimeout(this.#params, this.#random.next()),
      timer: undefined,
      handlers: handlers,
      context,
    };
    this.#pendingCon.set(key, con);
    const fire = (): void => {
      if (this.#pendingCon.get(key) !== con) return;
      if (con.attempts >= this.#params.maxRetransmit) {
        this.#pendingCon.delete(key);
        con.handlers.onGiveUp(con.context as never);
        return;
      }
      con.attempts++;
      con.timeout *= 2;
      this.stats.retransmissions++;
      this.#transmit(peer, bytes);
      con.timer = this.#timers.schedule(fire, con.timeout);
    };
    this.#transmit(peer, bytes);
    con.timer = this.#timers.schedule(fire, con.timeout);
    return con;
  }

  #transmit(peer: Peer, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.stats.sent++;
    try {
      this.#channel.send(peer, bytes);
    } catch (e) {
      this.#onError(e);
    }
  }

  // ---- receiving ----

  #receive(peer: Peer, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.stats.received++;
    let msg: CoapMessage;
    try {
      msg = decodeCoapUdp(bytes);
    } catch (e) {
      this.stats.malformed++;
      // RFC 7252 §4.2: a CON with a format error is rejected with RST; anything else is ignored.
      if (e instanceof CoapFormatError && e.type === 'CON' && e.messageId !== undefined)
        this.#sendReset(peer, e.messageId);
      return;
    }
    const pk = peerKey(peer);
    if (msg.type === 'ACK' || msg.type === 'RST') {
      const con = this.#pendingCon.get(`${pk}|${msg.messageId}`);
      if (!con) {
        // A RST to a NON notification ends its observation (RFC 7641 §3.6).
        const relationKey =
          msg.type === 'RST' ? this.#nonNotifications.get(`${pk}|${msg.messageId}`) : undefined;
        const relation = relationKey === undefined ? undefined : this.#relations.get(relationKey);
        if (relation) this.#endRelation(relation, 'reset');
        return; // otherwise a late or duplicate ACK: nothing waits for it
      }
      this.#pendingCon.delete(con.key);
      if (con.timer) this.#timers.cancel(con.timer);
      if (msg.type === 'RST') con.handlers.onReset(con.context as never);
      else con.handlers.onAck(con.context as never, msg);
      return;
    }
    if (msg.code === CoapCode.EMPTY) {
      // An empty CON is a ping: answer RST (§4.3). An empty NON is meaningless: ignore it.
      if (msg.type === 'CON') this.#sendReset(peer, msg.messageId);
      return;
    }
    if (isRequest(msg.code)) {
      this.#receiveRequest(peer, pk, msg);
      return;
    }
    if (isResponse(msg.code)) {
      this.#receiveResponse(peer, pk, msg);
      return;
    }
    // Reserved classes (1.xx, 6.xx, 7.xx on UDP): reject.
    if (msg.type === 'CON') this.#sendReset(peer, msg.messageId);
  }

  #receiveResponse(peer: Peer, pk: string, msg: CoapMessage): void {
    const midKey = `${pk}|${msg.messageId}`;
    if (this.#seenResponses.has(midKey)) {
      // A retransmission of a separate response we already took: acknowledge it again (§4.5).
      this.stats.duplicates++;
      if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
      return;
    }
    const exchange = this.#exchanges.get(`${pk}|${tokenText(msg.token)}`);
    if (!exchange) {
      const group = this.#groupRequests.get(tokenText(msg.token));
      if (group) {
        // A member's answer to our group request, from its own unicast address (§8.1).
        this.#remember(this.#seenResponses, midKey, this.#clock.now() + nonLifetime(this.#params));
        if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
        group.onResponse({ peer, message: msg });
        return;
      }
      // Nobody asked for this (a late answer, a stale notification): a Reset tells the peer (§5.3.2,
      // RFC 7641 §3.6).
      this.#sendReset(peer, msg.messageId);
      return;
    }
    const lifetime = msg.type === 'CON' ? exchangeLifetime(this.#params) : nonLifetime(this.#params);
    this.#remember(this.#seenResponses, midKey, this.#clock.now() + lifetime);
    if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
    const observer = exchange.observer;
    if (observer?.established) {
      const seq = observeOption(msg);
      if (seq === undefined || !isSuccess(msg.code)) {
        // A final response ends the observation (RFC 7641 §3.2).
        this.#finish(exchange, undefined, msg);
        return;
      }
      const now = this.#clock.now();
      if (!isFresher(observer.lastSeq, seq, now - observer.lastTime)) return; // stale or reordered
      observer.lastSeq = seq;
      observer.lastTime = now;
      try {
        observer.handlers.onNotification(msg);
      } catch (e) {
        this.#onError(e);
      }
      return;
    }
    this.#finish(exchange, undefined, msg);
  }

  #receiveRequest(peer: Peer, pk: string, msg: CoapMessage): void {
    const key = `${pk}|${msg.messageId}`;
    const token = tokenText(msg.token);
    const seen = this.#dedup.get(key);
    // A repeated message id with the same token and code is a duplicate; a different token means
    // the peer reused the id (it wrapped around): treat it as new rather than answer it wrongly.
    if (seen && seen.token === token && seen.code === msg.code && seen.expiresAt > this.#clock.now()) {
      this.stats.duplicates++;
      // The message is kept, not its bytes: re-encoding a rare duplicate is cheaper than holding
      // an ArrayBuffer per remembered request (GC, measured in the in-process benchmark).
      if (msg.type === 'CON' && seen.ack) this.#transmit(peer, encodeCoapUdp(seen.ack));
      if (msg.type === 'NON' && seen.response) this.#transmit(peer, encodeCoapUdp(seen.response));
      return;
    }
    const entry: DedupEntry = {
      token,
      code: msg.code,
      expiresAt:
        this.#clock.now() + (msg.type === 'CON' ? exchangeLifetime(this.#params) : nonLifetime(this.#params)),
      ack: undefined,
      response: undefined,
    };
    this.#dedup.delete(key);
    this.#dedup.set(key, entry);
    this.#evictDedup();
    this.stats.handled++;

    // GET/FETCH with Observe=1 deregisters (RFC 7641 §3.6); the request is then served as usual.
    if (observeOption(msg) === 1) {
      const relation = this.#relations.get(`${pk}|${token}`);
      if (relation) this.#endRelation(relation, 'deregistered');
    }
    const unrecognized = firstUnrecognizedCritical(msg);
    if (unrecognized !== undefined) {
      // RFC 7252 §5.4.1: an unrecognised critical option in a request gets 4.02 Bad Option.
      this.#respond(peer, pk, msg, entry, {
        code: CoapCode.BAD_OPTION,
        payload: new TextEncoder().encode(`unrecognized critical option ${unrecognized}`),
      });
      return;
    }
    const handler = this.#handler;
    if (!handler) {
      this.#respond(peer, pk, msg, entry, { code: CoapCode.NOT_FOUND });
      return;
    }
    let result: CoapResponse | Promise<CoapResponse>;
    try {
      result = handler({ peer, message: msg });
    } catch (e) {
      this.#onError(e);
      result = { code: CoapCode.INTERNAL_SERVER_ERROR };
    }
    if (!(result instanceof Promise)) {
      this.#respond(peer, pk, msg, entry, result);
      return;
    }
    let ackTimer: QueuedTimer | undefined;
    if (msg.type === 'CON')
      ackTimer = this.#timers.schedule(() => {
        ackTimer = undefined;
        entry.ack = emptyMessage('ACK', msg.messageId);
        this.#transmit(peer, encodeCoapUdp(entry.ack));
      }, this.#piggybackTimeout);
    result.then(
      (response) => {
        if (ackTimer) this.#timers.cancel(ackTimer);
        this.#respond(peer, pk, msg, entry, response);
      },
      (e: unknown) => {
        if (ackTimer) this.#timers.cancel(ackTimer);
        this.#onError(e);
        this.#respond(peer, pk, msg, entry, { code: CoapCode.INTERNAL_SERVER_ERROR });
      },
    );
  }

  /** Piggybacks the response on the ACK when none was sent yet; otherwise sends it separately. */
  #respond(peer: Peer, pk: string, request: CoapMessage, entry: DedupEntry, response: CoapResponse): void {
    if (this.#closed) return;
    let options = response.options ?? [];
    let relation: RelationState | undefined;
    if (response.observe && isSuccess(response.code) && observeOption(request) === 0) {
      relation = this.#newRelation(peer, pk, request.token);
      if (relation) options = withObserve(options, relation.seq);
    }
    const base = { code: response.code, token: request.token, options, payload: response.payload ?? EMPTY };
    if (relation) {
      const accept = response.observe!;
      const r = relation;
      queueMicrotask(() => {
        if (!r.ended) accept(r);
      });
    }
    if (request.type === 'CON' && !entry.ack) {
      entry.ack = { ...base, type: 'ACK', messageId: request.messageId };
      this.#transmit(peer, encodeCoapUdp(entry.ack));
      return;
    }
    const mid = this.#newMid(pk);
    const type: CoapType = request.type === 'CON' ? 'CON' : 'NON';
    const message: CoapMessage = { ...base, type, messageId: mid };
    const bytes = encodeCoapUdp(message);
    if (type === 'NON') {
      entry.response = message;
      this.#transmit(peer, bytes);
      return;
    }
    // A separate response to a CON is itself a CON, retransmitted until acknowledged (§5.2.2).
    this.#sendConfirmable(
      peer,
      `${pk}|${mid}`,
      bytes,
      conHandlers({
        onAck: () => {},
        onReset: () => {},
        onGiveUp: () => this.#onError(new CoapTimeoutError('no-ack', pk, 'separate response unacknowledged')),
      }),
      undefined,
    );
  }

  /** Server-role observe relations now held. */
  get observeRelations(): number {
    return this.#relations.size;
  }

  #newRelation(peer: Peer, pk: string, token: Uint8Array): RelationState | undefined {
    const key = `${pk}|${tokenText(token)}`;
    const existing = this.#relations.get(key);
    if (existing) this.#endRelation(existing, 'replaced');
    if (this.#relations.size >= this.#limits.maxObserveRelations) return undefined;
    let mine = this.#relationsByPeer.get(pk);
    if (!mine) this.#relationsByPeer.set(pk, (mine = new Set()));
    if (mine.size >= this.#limits.maxObserveRelationsPerPeer) {
      const oldest = mine.values().next().value;
      if (oldest) this.#endRelation(oldest, 'evicted');
    }
    const notify = (r: RelationState, response: Omit<CoapResponse, 'observe'>, confirmable: boolean): void =>
      this.#notify(r, response, confirmable);
    const end = (r: RelationState): void => this.#endRelation(r, 'cancelled');
    const relation: RelationState = {
      key,
      peer,
      token: token.slice(),
      seq: this.#random.int(0x1000), // any start; then rising by one per notification
      lastConAt: this.#clock.now(),
      pendingConKey: undefined,
      listeners: [],
      ended: false,
      get active() {
        return !relation.ended;
      },
      notify(response, options = {}) {
        notify(relation, response, options.confirmable ?? false);
      },
      cancel() {
        end(relation);
      },
      onEnd(listener) {
        relation.listeners.push(listener);
      },
    };
    this.#relations.set(key, relation);
    mine.add(relation);
    return relation;
  }

  #notify(relation: RelationState, response: Omit<CoapResponse, 'observe'>, confirmable: boolean): void {
    if (relation.ended || this.#closed) return;
    relation.seq = (relation.seq + 1) & 0xffffff;
    const now = this.#clock.now();
    // At least one CON every 24 hours tells us the client is still there (RFC 7641 §4.5).
    const con = confirmable || now - relation.lastConAt >= CON_NOTIFICATION_INTERVAL;
    const pk = peerKey(relation.peer);
    const mid = this.#newMid(pk);
    // A non-2.xx notification is final: it carries no Observe and ends the relation (§3.2).
    const final = !isSuccess(response.code);
    const options = final ? (response.options ?? []) : withObserve(response.options ?? [], relation.seq);
    const bytes = encodeCoapUdp({
      type: con ? 'CON' : 'NON',
      code: response.code,
      messageId: mid,
      token: relation.token,
      options,
      payload: response.payload ?? EMPTY,
    });
    // A newer notification replaces one still being retransmitted (§4.5.2).
    if (relation.pendingConKey) {
      const old = this.#pendingCon.get(relation.pendingConKey);
      if (old?.timer) this.#timers.cancel(old.timer);
      this.#pendingCon.delete(relation.pendingConKey);
      relation.pendingConKey = undefined;
    }
    const key = `${pk}|${mid}`;
    if (con) {
      relation.lastConAt = now;
      relation.pendingConKey = key;
      this.#sendConfirmable(
        relation.peer,
        key,
        bytes,
        conHandlers({
          onAck: () => {
            if (relation.pendingConKey === key) relation.pendingConKey = undefined;
          },
          onReset: () => this.#endRelation(relation, 'reset'),
          onGiveUp: () => this.#endRelation(relation, 'timeout'),
        }),
        undefined,
      );
    } else {
      this.#nonNotifications.set(key, relation.key);
      this.#remember(this.#nonNotificationExpiry, key, now + nonLifetime(this.#params), (k) =>
        this.#nonNotifications.delete(k),
      );
      this.#transmit(relation.peer, bytes);
    }
    if (final) this.#endRelation(relation, 'cancelled', true);
  }

  #endRelation(relation: RelationState, reason: ObserveEndReason, keepPending = false): void {
    if (relation.ended) return;
    relation.ended = true;
    if (this.#relations.get(relation.key) === relation) this.#relations.delete(relation.key);
    const pk = peerKey(relation.peer);
    const mine = this.#relationsByPeer.get(pk);
    mine?.delete(relation);
    if (mine?.size === 0) this.#relationsByPeer.delete(pk);
    if (relation.pendingConKey && !keepPending) {
      const pending = this.#pendingCon.get(relation.pendingConKey);
      if (pending?.timer) this.#timers.cancel(pending.timer);
      this.#pendingCon.delete(relation.pendingConKey);
    }
    for (const listener of relation.listeners) {
      try {
        listener(reason);
      } catch (e) {
        this.#onError(e);
      }
    }
  }

  #sendEmptyAck(peer: Peer, messageId: number): Uint8Array {
    const bytes = encodeCoapUdp({
      type: 'ACK',
      code: CoapCode.EMPTY,
      messageId,
      token: EMPTY,
      options: [],
      payload: EMPTY,
    });
    this.#transmit(peer, bytes);
    return bytes;
  }

  #sendReset(peer: Peer, messageId: number): void {
    this.#transmit(
      peer,
      encodeCoapUdp({
        type: 'RST',
        code: CoapCode.EMPTY,
        messageId,
        token: EMPTY,
        options: [],
        payload: EMPTY,
      }),
    );
  }

  #evictDedup(): void {
    const now = this.#clock.now();
    for (const [key, entry] of this.#dedup) {
      if (this.#dedup.size <= this.#limits.maxDedupEntries && entry.expiresAt > now) break;
      this.#dedup.delete(key);
    }
  }

  #remember(map: Map<string, number>, key: string, expiresAt: number, onEvict?: (key: string) => void): void {
    map.set(key, expiresAt);
    const now = this.#clock.now();
    for (const [k, at] of map) {
      if (map.size <= this.#limits.maxDedupEntries && at > now) break;
      map.delete(k);
      onEvict?.(k);
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

/**
 * RFC 7641 §3.4: notification V2 is newer than V1 if V1 < V2 and V2 - V1 < 2^23, or V1 > V2 and
 * V1 - V2 > 2^23 (24-bit wrap-around), or more than 128 s passed since V1 arrived.
 */
export function isFresher(v1: number, v2: number, elapsedMs: number): boolean {
  return (v1 < v2 && v2 - v1 < 2 ** 23) || (v1 > v2 && v1 - v2 > 2 ** 23) || elapsedMs > OBSERVE_FRESHNESS;
}

function hasOption(request: OutgoingRequest, number: number): boolean {
  return (request.options ?? []).some((o) => o.number === number);
}

function emptyMessage(type: CoapType, messageId: number): CoapMessage {
  return { type, code: CoapCode.EMPTY, messageId, token: EMPTY, options: [], payload: EMPTY };
}
