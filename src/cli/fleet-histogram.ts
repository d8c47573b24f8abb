/**
 * A latency histogram of fixed size (about 7 KB) whatever the number of samples: buckets grow
 * geometrically by 2 %, from 10 µs to 1000 s, so a percentile is within 2 % of the true value.
 * Histograms merge by adding buckets (a fleet spread over processes sends them over IPC).
 */
const MIN_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds everything up to MIN_MS; the last one everything past 1000 s. */
export const HISTOGRAM_BUCKETS = Math.ceil(Math.log(1e6 / MIN_MS) / LOG_GROWTH) + 2;

/** The JSON form: bucket counts as [index, count] pairs, only the non-empty ones. */
export interface HistogramSnapshot {
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly buckets: readonly (readonly [index: number, count: number])[];
}

export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The bucket of `ms`. */
export function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  return Math.min(HISTOGRAM_BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH));
}

/** The upper bound of bucket `index`, ms. */
export function bucketLimit(index: number): number {
  return index === 0 ? MIN_MS : MIN_MS * GROWTH ** index;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

export class LatencyHistogram {
  readonly #buckets = new Uint32Array(HISTOGRAM_BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  /** Adds one sample (ms); negative and non-finite samples count as 0. */
  record(ms: number): void {
    const v = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#buckets[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v < this.#min) this.#min = v;
    if (v > this.#max) this.#max = v;
  }

  /**
   * Nearest-rank percentile (0 < p <= 1): the upper bound of the bucket holding that rank, kept
   * inside [min, max] of the samples. Undefined with no samples.
   */
  quantile(p: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.min(this.#count, Math.max(1, Math.ceil(p * this.#count)));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, bucketLimit(i)));
    }
    return this.#max;
  }

  summary(): LatencySummary | undefined {
    if (this.#count === 0) return undefined;
    return {
      p50: round2(this.quantile(0.5)!),
      p99: round2(this.quantile(0.99)!),
      max: round2(this.#max),
      mean: round2(this.#sum / this.#count),
    };
  }

  snapshot(): HistogramSnapshot {
    const buckets: [number, number][] = [];
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++)
      if (this.#buckets[i]! > 0) buckets.push([i, this.#buckets[i]!]);
    return {
      count: this.#count,
      sum: this.#sum,
      min: this.#count === 0 ? 0 : this.#min,
      max: this.#max,
      buckets,
    };
  }

  /** Adds another histogram's samples (its snapshot); bad bucket indexes are ignored. */
  merge(s: HistogramSnapshot): this {
    if (s.count === 0) return this;
    for (const [index, count] of s.buckets)
      if (Number.isInteger(index) && index >= 0 && index < HISTOGRAM_BUCKETS && count > 0)
        this.#buckets[index]! += count;
    this.#count += s.count;
    this.#sum += s.sum;
    if (s.min < this.#min) this.#min = s.min;
    if (s.max > this.#max) this.#max = s.max;
    return this;
  }

  static from(snapshot: HistogramSnapshot): LatencyHistogram {
    return new LatencyHistogram().merge(snapshot);
  }
}
