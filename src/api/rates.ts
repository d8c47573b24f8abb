/**
 * A count of events over a sliding window (default the last 10 s), kept in one-second buckets so
 * memory stays constant whatever the traffic. `perSecond()` is the windowed count over the window.
 */
export class SlidingCounter {
  readonly windowMs: number;
  readonly #bucketMs: number;
  readonly #counts: number[];
  /** The bucket index (time / bucketMs) each slot last counted for. */
  readonly #slots: number[];
  readonly #now: () => number;

  constructor(options: { windowMs?: number; buckets?: number; now?: () => number } = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    const buckets = options.buckets ?? 10;
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError('buckets must be a positive integer');
    if (!(this.windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.#bucketMs = this.windowMs / buckets;
    this.#counts = new Array<number>(buckets).fill(0);
    this.#slots = new Array<number>(buckets).fill(-Infinity);
    this.#now = options.now ?? Date.now;
  }

  /** Counts `n` events now. */
  add(n = 1): void {
    const index = Math.floor(this.#now() / this.#bucketMs);
    const slot = ((index % this.#counts.length) + this.#counts.length) % this.#counts.length;
    if (this.#slots[slot] !== index) {
      this.#slots[slot] = index;
      this.#counts[slot] = 0;
    }
    this.#counts[slot]! += n;
  }

  /** Events in the window (the current bucket and the ones before it that the window covers). */
  count(): number {
    const current = Math.floor(this.#now() / this.#bucketMs);
    const oldest = current - this.#counts.length + 1;
    let total = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      const index = this.#slots[i]!;
      if (index >= oldest && index <= current) total += this.#counts[i]!;
    }
    return total;
  }

  perSecond(): number {
    return this.count() / (this.windowMs / 1000);
  }
}
