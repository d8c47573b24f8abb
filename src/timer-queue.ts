import type { Clock, TimerHandle } from './clock.js';

/** A handle to a scheduled task; `cancelled` makes it a no-op when its time comes. */
export interface QueuedTimer {
  readonly due: number;
  cancelled: boolean;
}

interface Entry extends QueuedTimer {
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * Many short-lived timers on one host timer: a binary heap by due time with lazy cancellation.
 * CoAP arms a retransmission timer for every CON and cancels it a millisecond later when the ACK
 * arrives; creating and clearing a host timer for each costs more than the exchange itself (coap
 * benchmark). Cancelling here is a flag; cancelled entries fall out when they come due.
 */
export class TimerQueue {
  readonly #clock: Clock;
  readonly #heap: Entry[] = [];
  #seq = 0;
  #armed: { handle: TimerHandle; at: number } | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Entries held (including cancelled ones not yet due). */
  get size(): number {
    return this.#heap.length;
  }

  schedule(fn: () => void, delayMs: number): QueuedTimer {
    const entry: Entry = {
      due: this.#clock.now() + Math.max(0, delayMs),
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    this.#push(entry);
    if (!this.#armed || entry.due < this.#armed.at) this.#arm(entry.due);
    return entry;
  }

  cancel(timer: QueuedTimer | undefined): void {
    if (timer) timer.cancelled = true;
  }

  /** Cancels everything and stops the host timer. */
  clear(): void {
    for (const e of this.#heap) e.cancelled = true;
    this.#heap.length = 0;
    if (this.#armed) this.#clock.clearTimeout(this.#armed.handle);
    this.#armed = undefined;
  }

  #arm(at: number): void {
    if (this.#armed) this.#clock.clearTimeout(this.#armed.handle);
    const handle = this.#clock.setTimeout(() => this.#fire(), Math.max(0, at - this.#clock.now()));
    this.#armed = { handle, at };
  }

  #fire(): void {
    this.#armed = undefined;
    const now = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now) {
      const e = this.#pop()!;
      if (!e.cancelled) {
        e.cancelled = true;
        e.fn();
      }
    }
    // Drop cancelled entries at the top so a host timer is not armed for nothing.
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    if (this.#heap.length > 0 && !this.#armed) this.#arm(this.#heap[0]!.due);
  }

  #less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
