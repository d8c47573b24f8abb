import type { Clock } from '../clock.js';
import type { RandomSource } from '../random.js';

/**
 * Limits on new registrations, so a server under a registration storm (a whole fleet coming back
 * after an outage) degrades gracefully: past a limit a Register gets 5.03 Service Unavailable with
 * Max-Age saying when to come back (RFC 7252 §5.9.3.4), while Updates, De-registers and Sends from
 * registered clients are always served, and memory stays bounded.
 */
export interface AdmissionOptions {
  /** Registrations held at most; a Register of an endpoint not yet registered beyond it gets 5.03. */
  readonly maxRegistrations?: number;
  /** Registers admitted per second on average (a token bucket); default unlimited. */
  readonly registerRate?: number;
  /** Registers admitted in one burst (the bucket's size); default registerRate (one second's worth). */
  readonly registerBurst?: number;
  /** Registers being handled at once (awaiting the store); default unlimited. */
  readonly maxPendingRegisters?: number;
  /**
   * Seconds a refused client is told to wait (Max-Age), before jitter; default 30. The answer
   * is spread over [retryAfter, 2 × retryAfter) so refused clients do not come back together.
   */
  readonly retryAfter?: number;
}

export type AdmissionRefusal = 'registrations' | 'rate' | 'pending';

export interface AdmissionVerdict {
  readonly admitted: boolean;
  readonly reason?: AdmissionRefusal;
  /** Seconds to wait before registering again (the Max-Age of the 5.03). */
  readonly retryAfter?: number;
}

const ADMITTED: AdmissionVerdict = Object.freeze({ admitted: true });

/** Counters of what admission refused, by reason (for the REST API and benchmarks). */
export interface AdmissionStats {
  admitted: number;
  refused: Record<AdmissionRefusal, number>;
}

export class RegisterAdmission {
  readonly #o: AdmissionOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  #tokens: number;
  #refilledAt: number;
  #pending = 0;
  readonly stats: AdmissionStats = { admitted: 0, refused: { registrations: 0, rate: 0, pending: 0 } };

  constructor(options: AdmissionOptions, clock: Clock, random: RandomSource) {
    for (const [name, value] of Object.entries(options))
      if (value !== undefined && (typeof value !== 'number' || !(value > 0)))
        throw new RangeError(`admission.${name} must be a number above 0, got ${String(value)}`);
    this.#o = options;
    this.#clock = clock;
    this.#random = random;
    this.#tokens = this.#burst;
    this.#refilledAt = clock.now();
  }

  get #burst(): number {
    return this.#o.registerBurst ?? this.#o.registerRate ?? Infinity;
  }

  /**
   * Whether a Register may proceed now. `registered`: how many registrations the server holds;
   * `known`: whether this endpoint already has one (re-registering does not grow the count).
   * An admitted Register must be followed by done() when its handling ends.
   */
  admit(registered: number, known: boolean): AdmissionVerdict {
    const { maxRegistrations, maxPendingRegisters, registerRate } = this.#o;
    if (maxRegistrations !== undefined && !known && registered >= maxRegistrations)
      return this.#refuse('registrations');
    if (maxPendingRegisters !== undefined && this.#pending >= maxPendingRegisters)
      return this.#refuse('pending');
    if (registerRate !== undefined) {
      const now = this.#clock.now();
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * registerRate);
      this.#refilledAt = now;
      if (this.#tokens < 1) return this.#refuse('rate');
      this.#tokens -= 1;
    }
    this.#pending++;
    this.stats.admitted++;
    return ADMITTED;
  }

  done(): void {
    this.#pending = Math.max(0, this.#pending - 1);
  }

  #refuse(reason: AdmissionRefusal): AdmissionVerdict {
    this.stats.refused[reason]++;
    const base = this.#o.retryAfter ?? 30;
    return { admitted: false, reason, retryAfter: Math.ceil(base * (1 + this.#random.next())) };
  }
}
