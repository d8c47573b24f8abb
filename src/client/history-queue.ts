/**
 * A bounded FIFO that drops its oldest item when full: the `hqmax` history queue a client keeps
 * per observation while it is offline or its server account is disabled (Core §5.1.2 `hqmax`:
 * "when full, drop the oldest"). A ring buffer, so a long offline period costs O(1) per push.
 */
export class HistoryQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #size = 0;
  #capacity: number;

  /** `capacity` 0 stores nothing. */
  constructor(capacity: number) {
    this.#capacity = clampCapacity(capacity);
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Adds an item; returns the item dropped to make room (or `item` itself when capacity is 0). */
  push(item: T): T | undefined {
    if (this.#capacity === 0) return item;
    if (this.#size < this.#capacity) {
      const index = (this.#head + this.#size) % this.#capacity;
      if (index === this.#items.length) this.#items.push(item);
      else this.#items[index] = item;
      this.#size++;
      return undefined;
    }
    const dropped = this.#items[this.#head];
    this.#items[this.#head] = item;
    this.#head = (this.#head + 1) % this.#capacity;
    return dropped;
  }

  /** Changes the capacity, keeping the newest items (the oldest are dropped when it shrinks). */
  resize(capacity: number): void {
    const next = clampCapacity(capacity);
    if (next === this.#capacity) return;
    const kept = this.toArray().slice(Math.max(0, this.#size - next));
    this.#capacity = next;
    this.#items = kept;
    this.#head = 0;
    this.#size = kept.length;
  }

  /** Items oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(this.#head + i) % this.#capacity] as T);
    return out;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out = this.toArray();
    this.#items = [];
    this.#head = 0;
    this.#size = 0;
    return out;
  }
}

function clampCapacity(capacity: number): number {
  return Number.isSafeInteger(capacity) && capacity > 0 ? capacity : 0;
}
