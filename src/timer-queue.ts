import type { Clock, TimerHandle } from './clock.js';

/** A handle to a scheduled task; `cancelled` is true once it ran or was cancelled. */
export interface QueuedTimer {
  readonly due: number;
  cancelled: boolean;
}

/**
 * A task object the queue can hold without wrapping it in a closure: the owner keeps one per
 * exchange and schedules it again and again (CoAP retransmissions). The queue owns `due`,
 * `cancelled`, `seq` and `heapIndex`: create it with `heapIndex: -1` (not queued).
 */
export interface TimerTask extends QueuedTimer {
  due: number;
  /** Tie-break for equal due times: first scheduled, first run. */
  seq: number;
  /** Position in the heap; -1 when not queued. */
  heapIndex: number;
  run(): void;
}

/**
 * Many short-lived timers on one host timer: a binary heap by due time. CoAP arms a
 * retransmission timer for every CON and cancels it a millisecond later when the ACK arrives;
 * creating and clearing a host timer for each costs more than the exchange itself (coap
 * benchmark). A cancelled task leaves the heap at once (O(log n)), so the heap holds only live
 * timers and nothing an exchange referenced is kept alive for seconds after it ended (which cost
 * old-generation GC in the coap-endpoint benchmark). The host timer is not cleared on cancel: it
 * fires, finds nothing due and re-arms for the new head.
 */
/** The longest delay setTimeout honours (2^31 − 1 ms). */
const MAX_HOST_DELAY = 0x7fff_ffff;

export class TimerQueue {
  readonly #clock: Clock;
  readonly #heap: TimerTask[] = [];
  #seq = 0;
  #armedHandle: TimerHandle | undefined;
  #armedAt = Infinity;
  readonly #onHostTimer = (): void => this.#fire();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Tasks queued (cancelled ones leave at once). */
  get size(): number {
    return this.#heap.length;
  }

  schedule(fn: () => void, delayMs: number): QueuedTimer {
    const task: TimerTask = { due: 0, seq: 0, heapIndex: -1, cancelled: true, run: fn };
    this.scheduleTask(task, delayMs);
    return task;
  }

  /** Queues `task` to run in `delayMs`; a task already queued is moved to the new time. */
  scheduleTask(task: TimerTask, delayMs: number): void {
    if (task.heapIndex >= 0) this.#remove(task.heapIndex);
    task.due = this.#clock.now() + (delayMs > 0 ? delayMs : 0);
    task.seq = this.#seq++;
    task.cancelled = false;
    this.#push(task);
    if (task.due < this.#armedAt) this.#arm(task.due);
  }

  cancel(timer: QueuedTimer | undefined): void {
    if (!timer || timer.cancelled) return;
    timer.cancelled = true;
    const index = (timer as Partial<TimerTask>).heapIndex;
    if (index !== undefined && index >= 0) this.#remove(index);
  }

  /** Cancels everything and stops the host timer. */
  clear(): void {
    for (const t of this.#heap) {
      t.cancelled = true;
      t.heapIndex = -1;
    }
    this.#heap.length = 0;
    if (this.#armedHandle !== undefined) this.#clock.clearTimeout(this.#armedHandle);
    this.#armedHandle = undefined;
    this.#armedAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#armedHandle !== undefined) this.#clock.clearTimeout(this.#armedHandle);
    // Node turns a delay past 2^31 − 1 ms (24.8 days) into 1 ms: a 30-day lifetime would fire the
    // host timer every millisecond. Wake up at the limit instead; #fire re-arms for what is left.
    const delay = Math.min(MAX_HOST_DELAY, Math.max(0, at - this.#clock.now()));
    this.#armedHandle = this.#clock.setTimeout(this.#onHostTimer, delay);
    this.#armedAt = this.#clock.now() + delay;
  }

  #fire(): void {
    this.#armedHandle = undefined;
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    const h = this.#heap;
    while (h.length > 0 && h[0]!.due <= now) {
      const t = h[0]!;
      this.#remove(0);
      t.cancelled = true;
      t.run();
    }
    // A task run above may have armed the host timer for a task of its own that is due after the
    // head: the head decides.
    if (h.length > 0 && (this.#armedHandle === undefined || h[0]!.due < this.#armedAt)) this.#arm(h[0]!.due);
  }

  #push(t: TimerTask): void {
    const h = this.#heap;
    h.push(t);
    this.#up(h.length - 1, t);
  }

  /** Takes the task at `index` out of the heap. */
  #remove(index: number): void {
    const h = this.#heap;
    const removed = h[index]!;
    removed.heapIndex = -1;
    const last = h.pop()!;
    if (index === h.length) return;
    h[index] = last;
    last.heapIndex = index;
    if (index > 0 && less(last, h[(index - 1) >> 1]!)) this.#up(index, last);
    else this.#down(index, last);
  }

  #up(index: number, t: TimerTask): void {
    const h = this.#heap;
    let i = index;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = h[parentIndex]!;
      if (!less(t, parent)) break;
      h[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    h[i] = t;
    t.heapIndex = i;
  }

  #down(index: number, t: TimerTask): void {
    const h = this.#heap;
    const n = h.length;
    let i = index;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let m = l;
      if (r < n && less(h[r]!, h[l]!)) m = r;
      const child = h[m]!;
      if (!less(child, t)) break;
      h[i] = child;
      child.heapIndex = i;
      i = m;
    }
    h[i] = t;
    t.heapIndex = i;
  }
}

function less(a: TimerTask, b: TimerTask): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}
