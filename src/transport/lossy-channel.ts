/**
 * Fault injection for any Channel: drops, duplicates and delays datagrams on the way out and/or
 * in, with a seeded random source and injected timers, so a lossy run is reproducible exactly.
 * Different delays per datagram reorder them. Used to prove the CoAP endpoint's retransmission
 * and deduplication (RFC 7252 §4.2, §4.5) against a hostile network.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { seededRandom, type RandomSource } from '../random.js';
import {
  ChannelClosedError,
  ChannelConfigError,
  ChannelError,
  ChannelEvents,
  ChannelSocketError,
  type Channel,
  type ChannelErrorHandler,
  type ChannelKind,
  type LocalAddress,
  type Peer,
  type ReceiveHandler,
} from './channel.js';

/** What happens to datagrams in one direction. Probabilities are in [0, 1]. */
export interface LossProfile {
  /** Chance a datagram is lost. */
  readonly drop?: number;
  /** Chance a surviving datagram arrives twice (each copy delayed on its own). */
  readonly duplicate?: number;
  /** Uniform delay in ms, drawn per copy; `probability` (default 1) of a copy being delayed at all. */
  readonly delay?: { readonly min: number; readonly max: number; readonly probability?: number };
}

export interface LossyChannelOptions {
  /** Seed for the built-in PRNG (default 1); ignored when `random` is given. */
  readonly seed?: number;
  readonly random?: RandomSource;
  /** Timers for delays (default the system clock); pass a FakeClock for deterministic runs. */
  readonly clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  /** Faults on datagrams this side sends. */
  readonly send?: LossProfile;
  /** Faults on datagrams this side receives. */
  readonly receive?: LossProfile;
}

/** What the lossy layer did in one direction. When no delay is pending: delivered = seen - dropped + duplicated. */
export interface LossCounters {
  /** Datagrams offered to the lossy layer. */
  seen: number;
  dropped: number;
  /** Datagrams that were sent on twice. */
  duplicated: number;
  /** Copies held back by a timer. */
  delayed: number;
  /** Copies handed on (to the inner channel, or to the receive handlers). */
  delivered: number;
}

export interface LossyStats {
  readonly send: LossCounters;
  readonly receive: LossCounters;
}

interface Profile {
  readonly drop: number;
  readonly duplicate: number;
  readonly delayMin: number;
  readonly delayMax: number;
  readonly delayProbability: number;
}

export class LossyChannel implements Channel {
  readonly stats: LossyStats = { send: counters(), receive: counters() };
  readonly #inner: Channel;
  readonly #random: RandomSource;
  readonly #clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  readonly #send: Profile;
  readonly #receive: Profile;
  readonly #events = new ChannelEvents();
  readonly #timers = new Set<TimerHandle>();
  #closing: Promise<void> | undefined;

  constructor(inner: Channel, options: LossyChannelOptions = {}) {
    this.#inner = inner;
    this.#random = options.random ?? seededRandom(options.seed ?? 1);
    this.#clock = options.clock ?? systemClock;
    this.#send = profile('send', options.send);
    this.#receive = profile('receive', options.receive);
    inner.onReceive((peer, bytes) => {
      if (this.#closing) return;
      this.#apply(this.#receive, this.stats.receive, bytes, (copy) => this.#events.deliver(peer, copy));
    });
    inner.onError?.((e) => this.#events.error(e));
  }

  get kind(): ChannelKind {
    return this.#inner.kind;
  }

  get local(): LocalAddress | undefined {
    return this.#inner.local;
  }

  /** Delayed copies not yet handed on. */
  get pending(): number {
    return this.#timers.size;
  }

  send(peer: Peer, datagram: Uint8Array): void {
    if (this.#closing) throw new ChannelClosedError(this.#inner.kind);
    this.#apply(this.#send, this.stats.send, datagram, (copy) => {
      try {
        this.#inner.send(peer, copy);
      } catch (e) {
        // The inner channel was closed on its own (a delayed copy firing late, say): report, never throw.
        this.#events.error(e instanceof ChannelError ? e : new ChannelSocketError(String(e), { cause: e }));
      }
    });
  }

  onReceive(handler: ReceiveHandler): void {
    this.#events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#events.onError(handler);
  }

  /** Cancels every delayed copy (none is delivered afterwards) and closes the inner channel. */
  close(): Promise<void> {
    if (!this.#closing) {
      for (const timer of this.#timers) this.#clock.clearTimeout(timer);
      this.#timers.clear();
      this.#closing = this.#inner.close();
    }
    return this.#closing;
  }

  /**
   * One datagram through a profile. Random draws happen in a fixed order (drop, duplicate, then
   * per copy: delay chance, delay length), each only when that fault is configured, so a seed and
   * a profile always give the same run.
   */
  #apply(p: Profile, c: LossCounters, bytes: Uint8Array, forward: (copy: Uint8Array) => void): void {
    c.seen++;
    if (p.drop > 0 && this.#random.next() < p.drop) {
      c.dropped++;
      return;
    }
    let copies = 1;
    if (p.duplicate > 0 && this.#random.next() < p.duplicate) {
      c.duplicated++;
      copies = 2;
    }
    for (let i = 0; i < copies; i++) {
      const delay = this.#delay(p);
      if (delay === 0) {
        c.delivered++;
        // The second copy is its own buffer, so a receiver that mutates one cannot touch the other.
        forward(i === 0 ? bytes : bytes.slice());
        continue;
      }
      c.delayed++;
      // Copy: the caller may reuse its buffer once send() returns.
      const held = bytes.slice();
      const timer = this.#clock.setTimeout(() => {
        this.#timers.delete(timer);
        if (this.#closing) return;
        c.delivered++;
        forward(held);
      }, delay);
      this.#timers.add(timer);
    }
  }

  #delay(p: Profile): number {
    if (p.delayMax <= 0) return 0;
    if (p.delayProbability < 1 && this.#random.next() >= p.delayProbability) return 0;
    return p.delayMin + this.#random.next() * (p.delayMax - p.delayMin);
  }
}

function counters(): LossCounters {
  return { seen: 0, dropped: 0, duplicated: 0, delayed: 0, delivered: 0 };
}

function profile(direction: string, p: LossProfile = {}): Profile {
  const probability = (name: string, v: number | undefined): number => {
    if (v === undefined) return 0;
    if (!(v >= 0 && v <= 1))
      throw new ChannelConfigError(`${direction}.${name} must be a probability in [0, 1], got ${v}`);
    return v;
  };
  const delay = p.delay;
  if (delay && !(delay.min >= 0 && delay.max >= delay.min && Number.isFinite(delay.max))) {
    throw new ChannelConfigError(`${direction}.delay needs 0 <= min <= max, got ${delay.min}..${delay.max}`);
  }
  return {
    drop: probability('drop', p.drop),
    duplicate: probability('duplicate', p.duplicate),
    delayMin: delay?.min ?? 0,
    delayMax: delay?.max ?? 0,
    delayProbability: delay
      ? delay.probability === undefined
        ? 1
        : probability('delay.probability', delay.probability)
      : 0,
  };
}
