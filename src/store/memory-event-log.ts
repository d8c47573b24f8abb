import type { EventLog, EventQuery, LoggedEvent, StoredEvent } from './event-log.js';
import {
  EventListeners,
  type EventLogOptions,
  matchesQuery,
  resolveCapacity,
  resolveQuery,
  storedEvent,
} from './event-log-rules.js';

/**
 * The event log in a ring buffer of `capacity` slots (default 10 000): appending to a full log
 * overwrites the oldest event. Subscribers are this process's own, called synchronously by append.
 */
export class MemoryEventLog implements EventLog {
  readonly capacity: number;
  readonly #ring: (StoredEvent | undefined)[];
  readonly #listeners: EventListeners;
  /** Slot of the next append; the ring holds `#count` events ending just before it. */
  #next = 0;
  #count = 0;
  #seq = 0;

  constructor(options: EventLogOptions = {}) {
    this.capacity = resolveCapacity(options.capacity);
    // Slots are allocated as events arrive: a large capacity costs nothing until it fills.
    this.#ring = [];
    this.#listeners = new EventListeners(options.onError);
  }

  append(event: LoggedEvent): Promise<StoredEvent> {
    const stored = storedEvent(++this.#seq, event);
    this.#ring[this.#next] = stored;
    this.#next = (this.#next + 1) % this.capacity;
    this.#count = Math.min(this.#count + 1, this.capacity);
    this.#listeners.emit(stored);
    return Promise.resolve(stored);
  }

  recent(query?: EventQuery): Promise<StoredEvent[]> {
    const q = resolveQuery(query, this.capacity);
    const out: StoredEvent[] = [];
    // Newest to oldest until the limit is met or `after` is reached (seq only decreases).
    for (let i = 1; i <= this.#count && out.length < q.limit; i++) {
      const event = this.#ring[(this.#next - i + this.capacity) % this.capacity];
      if (!event || (q.after !== undefined && event.seq <= q.after)) break;
      if (matchesQuery(event, q)) out.push(event);
    }
    return Promise.resolve(out.reverse());
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    return this.#listeners.add(listener);
  }
}
