import { systemClock, type Clock } from '../clock.js';
import { TimerQueue, type QueuedTimer, type TimerTask } from '../timer-queue.js';
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
import type { CoapMessaging } from './coap-messaging.js';
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
  /**
   * Called once, when the request is first transmitted (at once, or later when NSTART let it out
   * of the per-peer queue), with the message as sent: its message id and token assigned. Not
   * called for a request that never leaves the queue, nor again for retransmissions or for the
   * repeat an Echo challenge asks for (RFC 9175 §2.4), which is a new message.
   */
  readonly onSent?: (message: CoapMessage) => void;
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

/**
 * A hash table with open addressing (linear probing, deletion by backward shift) over plain
 * arrays, for the tables that see a set and a delete per message. It allocates only to grow. A
 * JS Map under that churn rehashes into a fresh backing table every few dozen operations, and the
 * obsolete table keeps its entries and a link to its successor; once one such table reaches the
 * old generation, the chain keeps every later table, and the exchanges they held, alive until a
 * full GC (coap benchmark: scavenges copying ~2 MB each instead of ~40 KB).
 */
class ProbeTable<K extends number | string, V> {
  readonly #hash: (key: K) => number;
  // Shared empty storage until the first set (never written: set grows first).
  #keys: (K | undefined)[] = NO_SLOTS as (K | undefined)[];
  #values: (V | undefined)[] = NO_SLOTS as (V | undefined)[];
  #hashes = NO_HASHES;
  #mask = -1;
  #size = 0;

  /** Allocates nothing until the first set (a peer often uses only one of its tables). */
  constructor(hash: (key: K) => number) {
    this.#hash = hash;
  }

  get size(): number {
    return this.#size;
  }

  get(key: K): V | undefined {
    if (this.#size === 0) return undefined;
    const keys = this.#keys;
    for (let i = this.#hash(key) & this.#mask; ; i = (i + 1) & this.#mask) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (k === key) return this.#values[i];
    }
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V): void {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const h = this.#hash(key);
    const keys = this.#keys;
    let i = h & this.#mask;
    for (; ; i = (i + 1) & this.#mask) {
      const k = keys[i];
      if (k === undefined) break;
      if (k === key) {
        this.#values[i] = value;
        return;
      }
    }
    keys[i] = key;
    this.#values[i] = value;
    this.#hashes[i] = h;
    this.#size++;
  }

  delete(key: K): boolean {
    if (this.#size === 0) return false;
    const keys = this.#keys;
    const mask = this.#mask;
    let i = this.#hash(key) & mask;
    for (; ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === undefined) return false;
      if (k === key) break;
    }
    // Backward shift: pull later entries of the probe run into the hole, so no tombstones.
    for (let j = (i + 1) & mask; keys[j] !== undefined; j = (j + 1) & mask) {
      const home = this.#hashes[j]! & mask;
      // The entry at j may move to i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      keys[i] = keys[j];
      this.#values[i] = this.#values[j];
      this.#hashes[i] = this.#hashes[j]!;
      i = j;
    }
    keys[i] = undefined;
    this.#values[i] = undefined;
    this.#size--;
    return true;
  }

  *values(): IterableIterator<V> {
    for (let i = 0; i < this.#keys.length; i++) if (this.#keys[i] !== undefined) yield this.#values[i]!;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#allocate(Math.max(8, keys.length * 2));
    this.#size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.set(keys[i]!, values[i]!);
  }

  #allocate(capacity: number): void {
    this.#keys = filledArray(capacity);
    this.#values = filledArray(capacity);
    this.#hashes = new Int32Array(capacity);
    this.#mask = capacity - 1;
  }
}

const NO_SLOTS: readonly undefined[] = Object.freeze([]);
const NO_HASHES = new Int32Array(0);

/**
 * Message ids are counters: used as their own hash they would fill one contiguous run of slots,
 * and a linear-probing delete walks to the end of its run. Mixed, runs stay short.
 */
function hashMid(mid: number): number {
  const h = Math.imul(mid ^ (mid >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/** FNV-1a over the token's chars (one per byte). */
function hashTokenText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h ^ (h >>> 16);
}

/**
 * What the endpoint keeps per peer. The hot tables are keyed by message id or token alone, so no
 * `peer|id` string is built and hashed per message (coap-endpoint benchmark).
 */
interface PeerState {
  readonly key: string;
  /** Our requests awaiting a response, by token text. */
  readonly exchanges: ProbeTable<string, ClientExchange>;
  /** Our CONs awaiting ACK/RST, by message id. */
  readonly pendingCon: ProbeTable<number, PendingCon>;
  /** Requests received: message id -> slot in the DedupTable (RFC 7252 §4.5). */
  readonly dedup: ProbeTable<number, number>;
  /** CON requests in flight (NSTART) and the queue behind them. */
  inFlight: number;
  queue: ClientExchange[] | undefined;
}

/**
 * A confirmable message of ours awaiting its ACK or RST (requests, separate responses,
 * notifications, pings). It is its own retransmission timer: no closure per message.
 */
class PendingCon implements TimerTask {
  due = 0;
  seq = 0;
  heapIndex = -1;
  cancelled = true;
  attempts = 0;
  timeout: number;
  readonly ps: PeerState;
  readonly mid: number;
  readonly peer: Peer;
  readonly bytes: Uint8Array;
  /** What to do on ACK, RST or giving up; `context` is passed back (one shared handler object for all requests). */
  readonly handlers: ConHandlers<never>;
  readonly context: unknown;
  readonly #onTimer: (con: PendingCon) => void;

  constructor(
    ps: PeerState,
    mid: number,
    peer: Peer,
    bytes: Uint8Array,
    timeout: number,
    handlers: ConHandlers<never>,
    context: unknown,
    onTimer: (con: PendingCon) => void,
  ) {
    this.ps = ps;
    this.mid = mid;
    this.peer = peer;
    this.bytes = bytes;
    this.timeout = timeout;
    this.handlers = handlers;
    this.context = context;
    this.#onTimer = onTimer;
  }

  run(): void {
    this.#onTimer(this);
  }
}

/** An exchange's overall deadline, queued as itself (no closure per request, as PendingCon). */
class ExchangeDeadline implements TimerTask {
  due = 0;
  seq = 0;
  heapIndex = -1;
  cancelled = true;

  constructor(
    readonly exchange: ClientExchange,
    readonly timeout: number,
    readonly onDue: (exchange: ClientExchange, timeout: number) => void,
  ) {}

  run(): void {
    this.onDue(this.exchange, this.timeout);
  }
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
  /** The token as a map key in `ps.exchanges`. */
  readonly tokenKey: string;
  readonly ps: PeerState;
  readonly peer: Peer;
  readonly confirmable: boolean;
  /** The request's token (its message is built when sent: the message id is known only then). */
  readonly token: Uint8Array;
  readonly resolve: (m: CoapMessage) => void;
  readonly reject: (e: unknown) => void;
  deadline: QueuedTimer | undefined;
  con: PendingCon | undefined;
  /** Counted against NSTART until the CON is acknowledged or the exchange ends. */
  holdsSlot: boolean;
  done: boolean;
  /** Set for an observation: the exchange outlives its first response. */
  observer: ObserverState | undefined;
  /** Set when a 4.01 with Echo may be answered by repeating the request once (RFC 9175 §2.4). */
  readonly echoRetry: boolean;
  readonly request: OutgoingRequest;
  readonly options: RequestOptions;
  /** RequestOptions.onSent, cleared once called. */
  onSent: ((message: CoapMessage) => void) | undefined;
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
  pendingCon: PendingCon | undefined;
  listeners: ((reason: ObserveEndReason) => void)[];
  ended: boolean;
}

/** RFC 7641 §4.5: a CON notification at least this often (24 h). */
const CON_NOTIFICATION_INTERVAL = 24 * 3600 * 1000;
/** RFC 7641 §3.4: a notification more than 128 s after the last one is fresh whatever its number. */
const OBSERVE_FRESHNESS = 128_000;

/** A group request we received (RFC 7252 §8.2), for deduplication. */
interface GroupSeen {
  readonly token: string;
  readonly expiresAt: number;
}

/** What a dedup entry answered a CON with: nothing yet, an empty ACK, a piggybacked response. */
const ACK_NONE = 0;
const ACK_EMPTY = 1;
const ACK_PIGGYBACKED = 2;

/**
 * The requests we received, remembered for deduplication (RFC 7252 §4.5), with what we answered
 * so a duplicate gets the same answer. Kept in typed arrays rather than one object per request:
 * an entry lives for EXCHANGE_LIFETIME (247 s), and objects kept that long are each copied by a
 * scavenge, promoted, and then marked by every full GC (about 40 bytes a slot here instead of
 * some 200 for an object, its token string and a Map entry). Slots form a ring in arrival order,
 * so the oldest is evicted first; each peer maps message id -> slot (small integers, no heap
 * objects). Only the references to response options and payload are objects.
 */
class DedupTable {
  readonly #max: number;
  #capacity = 0;
  #head = 0;
  /** Slots in the ring (live or replaced), and live ones. */
  #used = 0;
  #live = 0;
  #expiresAt = new Float64Array(0);
  #mid = new Int32Array(0);
  /** A number per entry (a running count), so a late (async) answer finds its own entry or none. */
  #gen = new Int32Array(0);
  #nextGen = 0;
  /** code | token length << 8 | ack kind << 12 | live << 15 */
  #meta = new Int32Array(0);
  #tokenLo = new Int32Array(0);
  #tokenHi = new Int32Array(0);
  #nonMid = new Int32Array(0);
  #replyCode = new Int32Array(0);
  #owner: (PeerState | undefined)[] = [];
  #replyOptions: (readonly CoapOption[] | undefined)[] = [];
  #replyPayload: (Uint8Array | undefined)[] = [];

  /**
   * `onIdle`: a peer whose last remembered request just left the table and that has nothing
   * else in flight; the endpoint forgets its state (a server that heard once from a million
   * clients must not keep a million empty peer states).
   */
  constructor(
    max: number,
    private readonly onIdle: (ps: PeerState) => void,
  ) {
    this.#max = Math.max(1, max);
  }

  get size(): number {
    return this.#live;
  }

  /** The slot of a request that repeats an earlier one (same id, token and code, not expired), or -1. */
  findDuplicate(ps: PeerState, mid: number, token: Uint8Array, code: number, now: number): number {
    const slot = ps.dedup.get(mid);
    if (slot === undefined) return -1;
    const meta = this.#meta[slot]!;
    if ((meta & 0xff) !== code || ((meta >> 8) & 0xf) !== token.length) return -1;
    if (this.#tokenLo[slot] !== tokenWord(token, 0) || this.#tokenHi[slot] !== tokenWord(token, 4)) return -1;
    return this.#expiresAt[slot]! > now ? slot : -1;
  }

  /** Remembers a request (replacing an entry for the same id); returns its slot. */
  add(ps: PeerState, mid: number, token: Uint8Array, code: number, expiresAt: number, now: number): number {
    const old = ps.dedup.get(mid);
    if (old !== undefined) {
      this.#meta[old] = this.#meta[old]! & ~LIVE;
      this.#live--;
      ps.dedup.delete(mid);
    }
    // `ps` is not forgotten even if this evicts its last entry: the new one goes into it, and a
    // forgotten state would hide that entry from the peer's retransmissions (found by the soak).
    this.#evict(now, ps);
    if (this.#used === this.#capacity) this.#grow();
    const slot = (this.#head + this.#used) % this.#capacity;
    this.#used++;
    this.#live++;
    this.#nextGen = (this.#nextGen + 1) | 0;
    this.#gen[slot] = this.#nextGen;
    this.#expiresAt[slot] = expiresAt;
    this.#mid[slot] = mid;
    this.#meta[slot] = code | (token.length << 8) | LIVE;
    this.#tokenLo[slot] = tokenWord(token, 0);
    this.#tokenHi[slot] = tokenWord(token, 4);
    this.#nonMid[slot] = -1;
    this.#owner[slot] = ps;
    ps.dedup.set(mid, slot);
    return slot;
  }

  generation(slot: number): number {
    return this.#gen[slot]!;
  }

  /** The slot of the entry `gen` (from generation()) for this peer and id now, or -1 once gone. */
  locate(ps: PeerState, mid: number, gen: number): number {
    const slot = ps.dedup.get(mid);
    return slot !== undefined && this.#gen[slot] === gen ? slot : -1;
  }

  ackKind(slot: number): number {
    return (this.#meta[slot]! >> 12) & 3;
  }

  nonMid(slot: number): number {
    return this.#nonMid[slot]!;
  }

  setEmptyAck(slot: number): void {
    this.#meta[slot] = (this.#meta[slot]! & ~(3 << 12)) | (ACK_EMPTY << 12);
  }

  /** Records the response sent: piggybacked on the ACK (nonMid -1) or as a NON with that id. */
  setReply(
    slot: number,
    nonMid: number,
    code: number,
    options: readonly CoapOption[],
    payload: Uint8Array,
  ): void {
    if (nonMid < 0) this.#meta[slot] = (this.#meta[slot]! & ~(3 << 12)) | (ACK_PIGGYBACKED << 12);
    else this.#nonMid[slot] = nonMid;
    this.#replyCode[slot] = code;
    this.#replyOptions[slot] = options;
    this.#replyPayload[slot] = payload;
  }

  /** The answer to resend for a duplicate: the ACK of a CON, or the NON response. */
  replay(slot: number, type: 'ACK' | 'NON'): CoapMessage | undefined {
    const mid = this.#mid[slot]!;
    if (type === 'ACK') {
      const kind = this.ackKind(slot);
      if (kind === ACK_NONE) return undefined;
      if (kind === ACK_EMPTY) return emptyMessage('ACK', mid);
    } else if (this.#nonMid[slot]! < 0) return undefined;
    const length = (this.#meta[slot]! >> 8) & 0xf;
    const token = new Uint8Array(length);
    for (let i = 0; i < length; i++)
      token[i] = ((i < 4 ? this.#tokenLo[slot]! : this.#tokenHi[slot]!) >>> (8 * (i & 3))) & 0xff;
    return {
      type,
      code: this.#replyCode[slot]!,
      messageId: type === 'ACK' ? mid : this.#nonMid[slot]!,
      token,
      options: this.#replyOptions[slot] ?? NO_OPTIONS,
      payload: this.#replyPayload[slot] ?? EMPTY,
    };
  }

  clear(): void {
    this.#capacity = this.#head = this.#used = this.#live = 0;
    this.#allocate(0);
  }

  /**
   * Drops entries from the oldest end: replaced ones, expired ones, and live ones beyond the
   * bound (one slot is made free for the entry being added). Arrival order is expiry order for
   * each lifetime, so this stops at the first live, unexpired entry: O(1) amortised.
   */
  #evict(now: number, keep: PeerState): void {
    const limit = this.#max + 1024; // replaced entries may sit between live ones
    while (this.#used > 0) {
      const slot = this.#head;
      const live = (this.#meta[slot]! & LIVE) !== 0;
      if (live && this.#live < this.#max && this.#expiresAt[slot]! > now && this.#used < limit) return;
      this.#head = (slot + 1) % this.#capacity;
      this.#used--;
      const owner = this.#owner[slot];
      this.#owner[slot] = undefined;
      this.#replyOptions[slot] = undefined;
      this.#replyPayload[slot] = undefined;
      if (live && owner) {
        this.#meta[slot] = this.#meta[slot]! & ~LIVE;
        this.#live--;
        owner.dedup.delete(this.#mid[slot]!);
        if (owner !== keep && isIdle(owner)) this.onIdle(owner);
      }
    }
  }

  /** Doubles the ring, moving entries to slots 0..used-1 and telling each peer its new slots. */
  #grow(): void {
    const old = {
      capacity: this.#capacity,
      head: this.#head,
      expiresAt: this.#expiresAt,
      mid: this.#mid,
      gen: this.#gen,
      meta: this.#meta,
      tokenLo: this.#tokenLo,
      tokenHi: this.#tokenHi,
      nonMid: this.#nonMid,
      replyCode: this.#replyCode,
      owner: this.#owner,
      replyOptions: this.#replyOptions,
      replyPayload: this.#replyPayload,
    };
    this.#allocate(Math.max(256, old.capacity * 2));
    for (let k = 0; k < this.#used; k++) {
      const from = (old.head + k) % old.capacity;
      this.#expiresAt[k] = old.expiresAt[from]!;
      this.#mid[k] = old.mid[from]!;
      this.#gen[k] = old.gen[from]!;
      this.#meta[k] = old.meta[from]!;
      this.#tokenLo[k] = old.tokenLo[from]!;
      this.#tokenHi[k] = old.tokenHi[from]!;
      this.#nonMid[k] = old.nonMid[from]!;
      this.#replyCode[k] = old.replyCode[from]!;
      this.#owner[k] = old.owner[from];
      this.#replyOptions[k] = old.replyOptions[from];
      this.#replyPayload[k] = old.replyPayload[from];
      const owner = old.owner[from];
      if (owner && (old.meta[from]! & LIVE) !== 0) owner.dedup.set(old.mid[from]!, k);
    }
    this.#head = 0;
  }

  #allocate(capacity: number): void {
    this.#capacity = capacity;
    this.#expiresAt = new Float64Array(capacity);
    this.#mid = new Int32Array(capacity);
    this.#gen = new Int32Array(capacity);
    this.#meta = new Int32Array(capacity);
    this.#tokenLo = new Int32Array(capacity);
    this.#tokenHi = new Int32Array(capacity);
    this.#nonMid = new Int32Array(capacity);
    this.#replyCode = new Int32Array(capacity);
    this.#owner = filledArray(capacity);
    this.#replyOptions = filledArray(capacity);
    this.#replyPayload = filledArray(capacity);
  }
}
const LIVE = 1 << 15;

/**
 * An array of `n` undefined, built by pushing: `new Array(n)` past 100 000 elements is a
 * dictionary (a hash table per write), which made every dedup entry an allocation.
 */
function filledArray<T>(n: number): (T | undefined)[] {
  if (n <= 65_536) return new Array<T | undefined>(n).fill(undefined);
  const out: (T | undefined)[] = [];
  for (let i = 0; i < n; i++) out.push(undefined);
  return out;
}

/** Four bytes of a token from `at` (missing bytes 0) as one 32-bit integer. */
function tokenWord(token: Uint8Array, at: number): number {
  let word = 0;
  const end = Math.min(token.length, at + 4);
  for (let i = at; i < end; i++) word |= token[i]! << (8 * (i - at));
  return word;
}

/** Peer keys remembered per Peer object, at most (see #keyOf). */
const PEER_KEY_CACHE_LIMIT = 32_768;

/** Idle peer states are kept until the peer table holds this many (then swept; see #prunePeers). */
const PEER_SWEEP_MIN = 1024;

function isIdle(ps: PeerState): boolean {
  return (
    ps.exchanges.size === 0 &&
    ps.pendingCon.size === 0 &&
    ps.dedup.size === 0 &&
    ps.inFlight === 0 &&
    ps.queue === undefined
  );
}

/** A token as a map key: one char per byte, built in one call (tokens are at most 8 bytes). */
function tokenText(b: Uint8Array): string {
  switch (b.length) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(b[0]!);
    case 2:
      return String.fromCharCode(b[0]!, b[1]!);
    case 4:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!);
    case 8:
      return String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!);
    default:
      return String.fromCharCode(...b);
  }
}
const EMPTY = new Uint8Array(0);
const NO_OPTIONS: readonly CoapOption[] = Object.freeze([]);
const NO_REQUEST_OPTIONS: RequestOptions = Object.freeze({});

/**
 * A CoAP endpoint over one Channel (RFC 7252 message layer): client and server roles at once, as
 * LwM2M needs. It matches exchanges, deduplicates, retransmits CONs with exponential back-off,
 * limits NSTART per peer with a queue, piggybacks responses or sends them separately, and answers
 * CoAP pings. Every table is bounded.
 */
export class CoapEndpoint implements CoapMessaging {
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
  readonly #exchangeLifetime: number;
  readonly #nonLifetime: number;
  #handler: RequestHandler | undefined;
  #nextMid: number;
  #lastPeer: Peer | undefined;
  #lastPeerKey = '';
  /**
   * peerKey per Peer object (UdpChannel hands out one per sender), for a fleet whose messages
   * interleave: the key is not built and hashed anew per datagram. Bounded, and emptied when
   * full: a WeakMap would keep a key for as long as each registration keeps its peer.
   */
  readonly #peerKeys = new Map<Peer, string>();
  #closed = false;

  /** Per-peer tables (exchanges, our CONs, dedup, NSTART), by peer key. */
  readonly #peers = new Map<string, PeerState>();
  /** The peer-table size at which idle peer states are swept (see #prunePeers). */
  #peerSweepAt = PEER_SWEEP_MIN;
  /** Exchanges and pending CONs across all peers (the tables are per peer). */
  #openRequests = 0;
  #pendingCons = 0;
  /** Requests received from every peer, with our answers, for deduplication. */
  readonly #dedup: DedupTable;
  /** Group requests received, by `peer|mid` (rare: kept apart from the per-peer tables). */
  readonly #groupDedup = new Map<string, GroupSeen>();
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
    this.#dedup = new DedupTable(this.#limits.maxDedupEntries, (ps) => {
      if (this.#peers.get(ps.key) === ps) this.#peers.delete(ps.key);
    });
    this.#piggybackTimeout = options.piggybackTimeout ?? Math.min(500, this.#params.ackTimeout / 4);
    this.#tokenLength = options.tokenLength ?? 8;
    if (!(this.#tokenLength >= 1 && this.#tokenLength <= 8)) throw new RangeError('tokenLength is 1..8');
    this.#onError = options.onError ?? (() => {});
    this.#echoRetry = options.echoRetry ?? true;
    this.#exchangeLifetime = exchangeLifetime(this.#params);
    this.#nonLifetime = nonLifetime(this.#params);
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
  request(
    peer: Peer,
    request: OutgoingRequest,
    options: RequestOptions = NO_REQUEST_OPTIONS,
  ): Promise<CoapMessage> {
    return this.#startRequest(peer, request, options, undefined, this.#echoRetry);
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
    const token = request.token ?? this.#newToken(this.#peerState(peerKey(peer)));
    const observer: ObserverState = { handlers, established: false, lastSeq: 0, lastTime: 0 };
    const registration = { ...request, token, options: withObserve(request.options ?? [], 0) };
    const response = await this.#startRequest(peer, registration, options, observer);
    return {
      response,
      established: observer.established,
      ...this.#observationControls(peer, request, token, observer),
    };
  }

  /**
   * Takes back an observation that an earlier incarnation of this endpoint registered (a server
   * restarted on persisted state): notifications from `peer` carrying `token` go to `handlers`
   * from now on, as if the Observe had just been answered. Nothing is sent. The first
   * notification is taken whatever its sequence number (RFC 7641 §3.4: none arrived for >128 s
   * as far as this endpoint knows).
   */
  adoptObservation(
    peer: Peer,
    request: OutgoingRequest & { readonly token: Uint8Array },
    handlers: ObserveHandlers,
  ): Pick<ClientObservation, 'cancel' | 'forget'> {
    if (this.#closed) throw new EndpointClosedError();
    const ps = this.#peerState(this.#keyOf(peer));
    const tokenKey = tokenText(request.token);
    if (ps.exchanges.has(tokenKey)) throw new RangeError('token already in use with this peer');
    const observer: ObserverState = {
      handlers,
      established: true,
      lastSeq: 0,
      lastTime: this.#clock.now() - OBSERVE_FRESHNESS - 1,
    };
    const exchange: ClientExchange = {
      tokenKey,
      ps,
      peer,
      confirmable: true,
      token: request.token,
      resolve: () => undefined,
      reject: () => undefined,
      deadline: undefined,
      con: undefined,
      holdsSlot: false,
      done: false,
      observer,
      echoRetry: false,
      request,
      options: NO_REQUEST_OPTIONS,
      onSent: undefined,
    };
    ps.exchanges.set(tokenKey, exchange);
    this.#openRequests++;
    return this.#observationControls(peer, request, request.token, observer);
  }

  /** forget() and cancel() of an observation held under `token`. */
  #observationControls(
    peer: Peer,
    request: OutgoingRequest,
    token: Uint8Array,
    observer: ObserverState,
  ): Pick<ClientObservation, 'cancel' | 'forget'> {
    const pk = peerKey(peer);
    const tokenKey = tokenText(token);
    const forget = (): void => {
      const ex = this.#peers.get(pk)?.exchanges.get(tokenKey);
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
    echoRetry = false,
  ): Promise<CoapMessage> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    if (!isRequest(request.code))
      return Promise.reject(new RangeError(`0x${request.code.toString(16)} is not a request code`));
    if (this.#openRequests >= this.#limits.maxOpenRequests)
      return Promise.reject(new CoapLimitError('maxOpenRequests', this.#limits.maxOpenRequests));
    const ps = this.#peerState(this.#keyOf(peer));
    const token = request.token ?? this.#newToken(ps);
    const tokenKey = tokenText(token);
    if (ps.exchanges.has(tokenKey)) {
      return Promise.reject(new RangeError('token already in use with this peer'));
    }
    const confirmable = request.confirmable ?? true;
    return new Promise<CoapMessage>((resolve, reject) => {
      const exchange: ClientExchange = {
        tokenKey,
        ps,
        peer,
        confirmable,
        token,
        resolve,
        reject,
        deadline: undefined,
        con: undefined,
        holdsSlot: false,
        done: false,
        observer,
        echoRetry,
        request,
        options,
        onSent: options.onSent,
      };
      ps.exchanges.set(tokenKey, exchange);
      this.#openRequests++;
      // The deadline timer is armed up front only when the caller set one or the request is NON;
      // a CON is bounded by its retransmissions until an empty ACK says a separate response
      // follows (one timer per request instead of two on the common, piggybacked path).
      if (options.timeout !== undefined || !confirmable)
        this.#armDeadline(exchange, options.timeout ?? this.#exchangeLifetime);
      if (confirmable && ps.inFlight >= this.#params.nstart) {
        const queue = (ps.queue ??= []);
        if (queue.length >= this.#limits.maxQueuedPerPeer) {
          this.#finish(exchange, new CoapLimitError('maxQueuedPerPeer', this.#limits.maxQueuedPerPeer));
          return;
        }
        queue.push(exchange);
        return;
      }
      this.#start(exchange);
    });
  }

  /** CoAP ping (RFC 7252 §4.3): an empty CON answered by RST. Resolves when the peer answers. */
  ping(peer: Peer): Promise<void> {
    if (this.#closed) return Promise.reject(new EndpointClosedError());
    const ps = this.#peerState(peerKey(peer));
    const mid = this.#newMid(ps);
    const bytes = encodeCoapUdp(emptyMessage('CON', mid));
    return new Promise<void>((resolve, reject) => {
      this.#sendConfirmable(
        ps,
        peer,
        mid,
        bytes,
        conHandlers({
          onAck: () => resolve(), // an empty ACK is also an answer
          onReset: () => resolve(),
          onGiveUp: () => reject(new CoapTimeoutError('no-ack', ps.key, 'no answer to ping')),
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
    /** Peers with per-peer state held (idle ones are swept as the table grows). */
    peers: number;
  } {
    let queued = 0;
    for (const ps of this.#peers.values()) queued += ps.queue?.length ?? 0;
    return {
      exchanges: this.#openRequests,
      pendingCon: this.#pendingCons,
      queued,
      dedup: this.#dedup.size + this.#groupDedup.size,
      seenResponses: this.#seenResponses.size,
      relations: this.#relations.size,
      nonNotifications: this.#nonNotifications.size,
      peers: this.#peers.size,
    };
  }

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
    const ps = this.#peerState(peerKey(group));
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
      messageId: this.#newMid(ps),
      token,
      options: request.options ?? NO_OPTIONS,
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
    const key = `${pk}|${msg.messageId}`;
    const token = tokenText(msg.token);
    const seen = this.#groupDedup.get(key);
    if (seen && seen.token === token && seen.expiresAt > this.#clock.now()) {
      this.stats.duplicates++;
      return;
    }
    this.#groupDedup.delete(key);
    this.#groupDedup.set(key, { token, expiresAt: this.#clock.now() + this.#nonLifetime });
    const now = this.#clock.now();
    for (const [k, entry] of this.#groupDedup) {
      if (this.#groupDedup.size <= this.#limits.maxDedupEntries && entry.expiresAt > now) break;
      this.#groupDedup.delete(k);
    }
    this.stats.handled++;
    const handler = this.#handler;
    if (!handler || firstUnrecognizedCritical(msg) !== undefined) return;
    const send = (response: CoapResponse): void => {
      // §8.2: a member should not answer a group request with an error.
      if (!isSuccess(response.code) || this.#closed) return;
      const delay = this.#random.next() * leisure;
      this.#timers.schedule(() => {
        const ps = this.#peerState(pk);
        const out = encodeCoapUdp({
          type: 'NON',
          code: response.code,
          messageId: this.#newMid(ps),
          token: msg.token,
          options: response.options ?? NO_OPTIONS,
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

  /** Rejects everything open, stops every timer and closes the channel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open: ClientExchange[] = [];
    for (const ps of this.#peers.values()) {
      for (const ex of ps.exchanges.values()) open.push(ex);
      for (const ex of ps.queue ?? []) if (!ps.exchanges.has(ex.tokenKey)) open.push(ex);
    }
    for (const ex of open) this.#finish(ex, new EndpointClosedError());
    for (const relation of [...this.#relations.values()]) this.#endRelation(relation, 'closed');
    this.#timers.clear();
    this.#peers.clear();
    this.#peerKeys.clear();
    this.#pendingCons = 0;
    this.#dedup.clear();
    this.#groupDedup.clear();
    this.#seenResponses.clear();
    this.#groupRequests.clear();
    await Promise.all([this.#channel.close(), ...this.#groupChannels.map((c) => c.close())]);
  }

  // ---- per-peer state ----

  /**
   * peerKey, remembered for the last Peer object seen: a client sends to one stored Peer, and
   * UdpChannel hands out one object per sender, so runs of messages skip building the key.
   */
  #keyOf(peer: Peer): string {
    if (peer !== this.#lastPeer) {
      this.#lastPeer = peer;
      let key = this.#peerKeys.get(peer);
      if (key === undefined) {
        key = peerKey(peer);
        if (this.#peerKeys.size >= PEER_KEY_CACHE_LIMIT) this.#peerKeys.clear();
        this.#peerKeys.set(peer, key);
      }
      this.#lastPeerKey = key;
    }
    return this.#lastPeerKey;
  }

  #peerState(pk: string): PeerState {
    let ps = this.#peers.get(pk);
    if (ps === undefined) {
      if (this.#peers.size >= this.#peerSweepAt) this.#prunePeers();
      ps = {
        key: pk,
        exchanges: new ProbeTable(hashTokenText),
        pendingCon: new ProbeTable(hashMid),
        dedup: new ProbeTable(hashMid),
        inFlight: 0,
        queue: undefined,
      };
      this.#peers.set(pk, ps);
    }
    return ps;
  }

  /**
   * Keeps the peer table bounded: once it has doubled since the last sweep, the states with
   * nothing left in them are dropped (amortised O(1) per new peer). Idle states are not dropped
   * one by one as they empty: a client with one request at a time would then rebuild its peer's
   * state for every request.
   */
  #prunePeers(): void {
    for (const [key, ps] of this.#peers) if (isIdle(ps)) this.#peers.delete(key);
    this.#peerSweepAt = Math.max(PEER_SWEEP_MIN, 2 * this.#peers.size);
  }

  #removeExchange(exchange: ClientExchange): void {
    const ps = exchange.ps;
    if (ps.exchanges.get(exchange.tokenKey) !== exchange) return;
    ps.exchanges.delete(exchange.tokenKey);
    this.#openRequests--;
  }

  // ---- client role ----

  #start(exchange: ClientExchange): void {
    const ps = exchange.ps;
    const mid = this.#newMid(ps);
    const request = exchange.request;
    const sent: CoapMessage = {
      type: exchange.confirmable ? 'CON' : 'NON',
      code: request.code,
      messageId: mid,
      token: exchange.token,
      options: request.options ?? NO_OPTIONS,
      payload: request.payload ?? EMPTY,
    };
    const bytes = encodeCoapUdp(sent);
    const onSent = exchange.onSent;
    if (onSent) {
      exchange.onSent = undefined;
      try {
        onSent(sent);
      } catch (e) {
        this.#onError(e);
      }
    }
    if (!exchange.confirmable) {
      this.#transmit(exchange.peer, bytes);
      return;
    }
    exchange.holdsSlot = true;
    ps.inFlight++;
    exchange.con = this.#sendConfirmable(ps, exchange.peer, mid, bytes, this.#requestCon, exchange);
  }

  /** One handler object for every request's CON (no closures per request). */
  readonly #requestCon: ConHandlers<ClientExchange> = {
    onAck: (exchange, ack) => {
      exchange.con = undefined;
      this.#releaseSlot(exchange);
      // A piggybacked response completes the exchange; an empty ACK means a separate one follows.
      if (ack.code !== CoapCode.EMPTY) this.#finish(exchange, undefined, ack);
      else if (!exchange.deadline) this.#armDeadline(exchange, this.#exchangeLifetime);
    },
    onReset: (exchange) => {
      exchange.con = undefined;
      this.#finish(exchange, new CoapResetError(exchange.ps.key));
    },
    onGiveUp: (exchange) => {
      exchange.con = undefined;
      this.#finish(
        exchange,
        new CoapTimeoutError(
          'no-ack',
          exchange.ps.key,
          `${this.#params.maxRetransmit} retransmissions unacknowledged`,
        ),
      );
    },
  };

  #armDeadline(exchange: ClientExchange, timeout: number): void {
    const task = new ExchangeDeadline(exchange, timeout, this.#onDeadline);
    this.#timers.scheduleTask(task, timeout);
    exchange.deadline = task;
  }

  readonly #onDeadline = (exchange: ClientExchange, timeout: number): void => {
    this.#finish(
      exchange,
      new CoapTimeoutError('no-response', exchange.ps.key, `no response within ${timeout} ms`),
    );
  };

  #releaseSlot(exchange: ClientExchange): void {
    if (!exchange.holdsSlot) return;
    exchange.holdsSlot = false;
    const ps = exchange.ps;
    ps.inFlight--;
    const queue = ps.queue;
    if (queue === undefined) return;
    const next = queue.shift();
    if (queue.length === 0) ps.queue = undefined;
    if (next && !this.#closed) this.#start(next);
  }

  #cancelCon(con: PendingCon | undefined): void {
    if (con === undefined) return;
    this.#timers.cancel(con);
    if (con.ps.pendingCon.get(con.mid) === con) {
      con.ps.pendingCon.delete(con.mid);
      this.#pendingCons--;
    }
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
      this.#cancelCon(exchange.con);
      exchange.con = undefined;
      this.#releaseSlot(exchange);
      exchange.resolve(response);
      return;
    }
    exchange.done = true;
    const ps = exchange.ps;
    this.#removeExchange(exchange);
    if (observer?.established) {
      observer.handlers.onEnd?.(error instanceof EndpointClosedError ? 'closed' : 'final-response', response);
      return;
    }
    if (exchange.deadline) this.#timers.cancel(exchange.deadline);
    if (exchange.con) {
      this.#cancelCon(exchange.con);
      exchange.con = undefined;
    }
    const queue = ps.queue;
    if (queue) {
      const i = queue.indexOf(exchange);
      if (i >= 0) queue.splice(i, 1);
      if (queue.length === 0) ps.queue = undefined;
    }
    this.#releaseSlot(exchange);
    if (error !== undefined) {
      exchange.reject(error);
      return;
    }
    // RFC 9175 §2.4: a 4.01 with an Echo option asks us to prove freshness: repeat the request
    // once, carrying that Echo value. Done here, not in a wrapper, so plain requests pay no extra
    // promise (coap-endpoint benchmark).
    const echo =
      exchange.echoRetry && response!.code === CoapCode.UNAUTHORIZED
        ? getOption(response!, OptionNumber.ECHO)
        : undefined;
    if (echo !== undefined && !hasOption(exchange.request, OptionNumber.ECHO)) {
      const options = sortOptions([
        ...(exchange.request.options ?? []),
        { number: OptionNumber.ECHO, value: echo.slice() },
      ]);
      // The repeat is a new message: onSent reported the first one only.
      const sent = exchange.options;
      const repeatOptions = sent.onSent ? { ...sent, onSent: undefined } : sent;
      this.#startRequest(exchange.peer, { ...exchange.request, options }, repeatOptions, undefined).then(
        exchange.resolve,
        exchange.reject,
      );
      return;
    }
    exchange.resolve(response!);
  }

  #newToken(ps: PeerState): Uint8Array {
    for (;;) {
      const token = this.#random.bytes(this.#tokenLength);
      if (!ps.exchanges.has(tokenText(token))) return token;
    }
  }

  #newMid(ps: PeerState): number {
    for (let i = 0; i < 0x10000; i++) {
      const mid = this.#nextMid;
      this.#nextMid = (this.#nextMid + 1) & 0xffff;
      if (!ps.pendingCon.has(mid)) return mid;
    }
    throw new CoapLimitError('message ids in use with one peer', 0x10000);
  }

  // ---- reliability (RFC 7252 §4.2) ----

  #sendConfirmable<T>(
    ps: PeerState,
    peer: Peer,
    mid: number,
    bytes: Uint8Array,
    handlers: ConHandlers<T>,
    context: T,
  ): PendingCon {
    const con = new PendingCon(
      ps,
      mid,
      peer,
      bytes,
      initialTimeout(this.#params, this.#random.next()),
      handlers,
      context,
      this.#onConTimer,
    );
    const previous = ps.pendingCon.get(mid);
    if (previous) this.#cancelCon(previous);
    ps.pendingCon.set(mid, con);
    this.#pendingCons++;
    this.#transmit(peer, bytes);
    this.#timers.scheduleTask(con, con.timeout);
    return con;
  }

  /** A CON's retransmission timer came due: send it again with a doubled timeout, or give up. */
  readonly #onConTimer = (con: PendingCon): void => {
    if (con.ps.pendingCon.get(con.mid) !== con) return;
    if (con.attempts >= this.#params.maxRetransmit) {
      con.ps.pendingCon.delete(con.mid);
      this.#pendingCons--;
      con.handlers.onGiveUp(con.context as never);
      return;
    }
    con.attempts++;
    con.timeout *= 2;
    this.stats.retransmissions++;
    this.#transmit(con.peer, con.bytes);
    this.#timers.scheduleTask(con, con.timeout);
  };

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
    const pk = this.#keyOf(peer);
    const type = msg.type;
    if (type === 'ACK' || type === 'RST') {
      const ps = this.#peers.get(pk);
      const con = ps?.pendingCon.get(msg.messageId);
      if (!con) {
        // A RST to a NON notification ends its observation (RFC 7641 §3.6).
        const relationKey = type === 'RST' ? this.#nonNotifications.get(`${pk}|${msg.messageId}`) : undefined;
        const relation = relationKey === undefined ? undefined : this.#relations.get(relationKey);
        if (relation) this.#endRelation(relation, 'reset');
        return; // otherwise a late or duplicate ACK: nothing waits for it
      }
      this.#cancelCon(con);
      if (type === 'RST') con.handlers.onReset(con.context as never);
      else con.handlers.onAck(con.context as never, msg);
      return;
    }
    if (msg.code === CoapCode.EMPTY) {
      // An empty CON is a ping: answer RST (§4.3). An empty NON is meaningless: ignore it.
      if (type === 'CON') this.#sendReset(peer, msg.messageId);
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
    if (type === 'CON') this.#sendReset(peer, msg.messageId);
  }

  #receiveResponse(peer: Peer, pk: string, msg: CoapMessage): void {
    const exchange = this.#peers.get(pk)?.exchanges.get(tokenText(msg.token));
    const observer = exchange?.observer;
    if (observer?.established && isSuccess(msg.code)) {
      const seq = observeOption(msg);
      if (seq !== undefined) {
        // A notification. Copies the network repeats or reorders fail the freshness check (RFC
        // 7641 §3.4), so notifications are not remembered by message id: at fleet rates that
        // table churned more than the rest of the path. A CON one is acknowledged every time.
        if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
        const now = this.#clock.now();
        if (!isFresher(observer.lastSeq, seq, now - observer.lastTime)) return; // stale or repeated
        observer.lastSeq = seq;
        observer.lastTime = now;
        try {
          observer.handlers.onNotification(msg);
        } catch (e) {
          this.#onError(e);
        }
        return;
      }
    }
    const midKey = `${pk}|${msg.messageId}`;
    if (this.#seenResponses.has(midKey)) {
      // A retransmission of a separate response we already took: acknowledge it again (§4.5).
      this.stats.duplicates++;
      if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
      return;
    }
    if (!exchange) {
      const group = this.#groupRequests.get(tokenText(msg.token));
      if (group) {
        // A member's answer to our group request, from its own unicast address (§8.1).
        this.#remember(this.#seenResponses, midKey, this.#clock.now() + this.#nonLifetime);
        if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
        group.onResponse({ peer, message: msg });
        return;
      }
      // Nobody asked for this (a late answer, a stale notification): a Reset tells the peer (§5.3.2,
      // RFC 7641 §3.6).
      this.#sendReset(peer, msg.messageId);
      return;
    }
    const lifetime = msg.type === 'CON' ? this.#exchangeLifetime : this.#nonLifetime;
    this.#remember(this.#seenResponses, midKey, this.#clock.now() + lifetime);
    if (msg.type === 'CON') this.#sendEmptyAck(peer, msg.messageId);
    // The first response, or a final one that ends an observation (RFC 7641 §3.2).
    this.#finish(exchange, undefined, msg);
  }

  #receiveRequest(peer: Peer, pk: string, msg: CoapMessage): void {
    const ps = this.#peerState(pk);
    const mid = msg.messageId;
    const now = this.#clock.now();
    // A repeated message id with the same token and code is a duplicate; a different token means
    // the peer reused the id (it wrapped around): treat it as new rather than answer it wrongly.
    const seen = this.#dedup.findDuplicate(ps, mid, msg.token, msg.code, now);
    if (seen >= 0) {
      this.stats.duplicates++;
      // What we answered is kept, not its bytes: re-encoding a rare duplicate is cheaper than
      // holding a buffer per remembered request.
      const again = this.#dedup.replay(seen, msg.type === 'CON' ? 'ACK' : 'NON');
      if (again && (msg.type === 'CON' || msg.type === 'NON')) this.#transmit(peer, encodeCoapUdp(again));
      return;
    }
    const lifetime = msg.type === 'CON' ? this.#exchangeLifetime : this.#nonLifetime;
    const slot = this.#dedup.add(ps, mid, msg.token, msg.code, now + lifetime, now);
    this.stats.handled++;

    // GET/FETCH with Observe=1 deregisters (RFC 7641 §3.6); the request is then served as usual.
    if (msg.options.length > 0 && observeOption(msg) === 1) {
      const relation = this.#relations.get(`${pk}|${tokenText(msg.token)}`);
      if (relation) this.#endRelation(relation, 'deregistered');
    }
    const unrecognized = msg.options.length === 0 ? undefined : firstUnrecognizedCritical(msg);
    if (unrecognized !== undefined) {
      // RFC 7252 §5.4.1: an unrecognised critical option in a request gets 4.02 Bad Option.
      this.#respond(peer, ps, msg, slot, false, {
        code: CoapCode.BAD_OPTION,
        payload: new TextEncoder().encode(`unrecognized critical option ${unrecognized}`),
      });
      return;
    }
    const handler = this.#handler;
    if (!handler) {
      this.#respond(peer, ps, msg, slot, false, { code: CoapCode.NOT_FOUND });
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
      this.#respond(peer, ps, msg, slot, false, result);
      return;
    }
    this.#respondLater(peer, ps, msg, this.#dedup.generation(slot), result);
  }

  /**
   * A handler's promised response: the ACK goes out empty if the handler takes longer than the
   * piggyback timeout (RFC 7252 §5.2.2), and the response follows separately. The dedup entry is
   * found again by its generation: it may have been evicted meanwhile.
   */
  #respondLater(
    peer: Peer,
    ps: PeerState,
    msg: CoapMessage,
    gen: number,
    result: Promise<CoapResponse>,
  ): void {
    let ackTimer: QueuedTimer | undefined;
    let emptyAckSent = false;
    if (msg.type === 'CON')
      ackTimer = this.#timers.schedule(() => {
        ackTimer = undefined;
        emptyAckSent = true;
        const slot = this.#dedup.locate(ps, msg.messageId, gen);
        if (slot >= 0) this.#dedup.setEmptyAck(slot);
        this.#transmit(peer, encodeCoapUdp(emptyMessage('ACK', msg.messageId)));
      }, this.#piggybackTimeout);
    const answer = (response: CoapResponse): void => {
      if (ackTimer) this.#timers.cancel(ackTimer);
      const slot = this.#dedup.locate(ps, msg.messageId, gen);
      this.#respond(peer, ps, msg, slot, emptyAckSent, response);
    };
    result.then(answer, (e: unknown) => {
      this.#onError(e);
      answer({ code: CoapCode.INTERNAL_SERVER_ERROR });
    });
  }

  /** Piggybacks the response on the ACK when none was sent yet; otherwise sends it separately. */
  #respond(
    peer: Peer,
    peerState: PeerState,
    request: CoapMessage,
    slot: number,
    emptyAckSent: boolean,
    response: CoapResponse,
  ): void {
    if (this.#closed) return;
    // A late answer's peer state may have been dropped (idle) and made anew since.
    const ps = this.#peers.get(peerState.key) === peerState ? peerState : this.#peerState(peerState.key);
    let options = response.options ?? NO_OPTIONS;
    let relation: RelationState | undefined;
    if (response.observe && isSuccess(response.code) && observeOption(request) === 0) {
      relation = this.#newRelation(peer, ps.key, request.token);
      if (relation) {
        options = withObserve(options, relation.seq);
        const accept = response.observe;
        const r = relation;
        queueMicrotask(() => {
          if (r.ended) return;
          // The application's callback runs outside any caller's try: a throw must not reach the
          // process as an uncaught exception. Report it and end the relation.
          try {
            accept(r);
          } catch (e) {
            this.#onError(e);
            r.cancel();
          }
        });
      }
    }
    const payload = response.payload ?? EMPTY;
    if (request.type === 'CON' && !emptyAckSent) {
      if (slot >= 0) this.#dedup.setReply(slot, -1, response.code, options, payload);
      const ack: CoapMessage = {
        type: 'ACK',
        code: response.code,
        messageId: request.messageId,
        token: request.token,
        options,
        payload,
      };
      this.#transmit(peer, encodeCoapUdp(ack));
      return;
    }
    const mid = this.#newMid(ps);
    const type: CoapType = request.type === 'CON' ? 'CON' : 'NON';
    const message: CoapMessage = {
      type,
      code: response.code,
      messageId: mid,
      token: request.token,
      options,
      payload,
    };
    const bytes = encodeCoapUdp(message);
    if (type === 'NON') {
      if (slot >= 0) this.#dedup.setReply(slot, mid, response.code, options, payload);
      this.#transmit(peer, bytes);
      return;
    }
    // A separate response to a CON is itself a CON, retransmitted until acknowledged (§5.2.2).
    const pk = ps.key;
    this.#sendConfirmable(
      ps,
      peer,
      mid,
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
      pendingCon: undefined,
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
    const ps = this.#peerState(pk);
    // A newer notification replaces one still being retransmitted (§4.5.2).
    if (relation.pendingCon) {
      this.#cancelCon(relation.pendingCon);
      relation.pendingCon = undefined;
    }
    const mid = this.#newMid(ps);
    // A non-2.xx notification is final: it carries no Observe and ends the relation (§3.2).
    const final = !isSuccess(response.code);
    const options = final
      ? (response.options ?? NO_OPTIONS)
      : withObserve(response.options ?? [], relation.seq);
    const bytes = encodeCoapUdp({
      type: con ? 'CON' : 'NON',
      code: response.code,
      messageId: mid,
      token: relation.token,
      options,
      payload: response.payload ?? EMPTY,
    });
    if (con) {
      relation.lastConAt = now;
      const pending = this.#sendConfirmable(
        ps,
        relation.peer,
        mid,
        bytes,
        conHandlers({
          onAck: () => {
            if (relation.pendingCon === pending) relation.pendingCon = undefined;
          },
          onReset: () => this.#endRelation(relation, 'reset'),
          onGiveUp: () => this.#endRelation(relation, 'timeout'),
        }),
        undefined,
      );
      relation.pendingCon = pending;
    } else {
      const key = `${pk}|${mid}`;
      this.#nonNotifications.set(key, relation.key);
      this.#remember(this.#nonNotificationExpiry, key, now + this.#nonLifetime, (k) =>
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
    if (relation.pendingCon && !keepPending) {
      const pending = relation.pendingCon;
      this.#cancelCon(pending);
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
    const bytes = encodeCoapUdp(emptyMessage('ACK', messageId));
    this.#transmit(peer, bytes);
    return bytes;
  }

  #sendReset(peer: Peer, messageId: number): void {
    this.#transmit(peer, encodeCoapUdp(emptyMessage('RST', messageId)));
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
  return { type, code: CoapCode.EMPTY, messageId, token: EMPTY, options: NO_OPTIONS, payload: EMPTY };
}
