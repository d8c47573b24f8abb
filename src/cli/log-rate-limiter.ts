/**
 * Keeps a flood of one kind of log line (failed DTLS handshakes from a misconfigured fleet, a
 * scanner) from drowning the rest: at most `burst` lines of a kind per window; the lines held
 * back are counted and reported once, with the first line of that kind in a later window.
 */
export class LogRateLimiter {
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #burst: number;
  readonly #windowMs: number;
  readonly #kinds = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    write: (line: string) => void,
    options: { now?: () => number; burst?: number; windowMs?: number } = {},
  ) {
    this.#write = write;
    this.#now = options.now ?? Date.now;
    this.#burst = options.burst ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Writes `line` unless `kind` already had its burst in the current window. */
  log(kind: string, line: string): void {
    const now = this.#now();
    let state = this.#kinds.get(kind);
    if (state === undefined || now - state.start >= this.#windowMs) {
      if (state !== undefined && state.suppressed > 0)
        this.#write(
          `${state.suppressed} more "${kind}" messages were not shown (at most ${this.#burst} a window)`,
        );
      if (state === undefined && this.#kinds.size >= 1000) this.#kinds.clear(); // bounded by kinds
      state = { start: now, count: 0, suppressed: 0 };
      this.#kinds.set(kind, state);
    }
    if (state.count < this.#burst) {
      state.count++;
      this.#write(line);
    } else state.suppressed++;
  }
}
