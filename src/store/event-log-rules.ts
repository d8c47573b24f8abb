import type { EventQuery, LoggedEvent, StoredEvent } from './event-log.js';
import { StoreOptionError } from './store-errors.js';

/** Options every EventLog implementation takes. */
export interface EventLogOptions {
  /** Most events kept (default 10 000); the oldest go first. */
  readonly capacity?: number;
  /** Called with what a listener threw (a listener never breaks append or the other listeners). */
  readonly onError?: (error: unknown) => void;
}

export const DEFAULT_EVENT_CAPACITY = 10_000;
export const DEFAULT_EVENT_LIMIT = 100;

export function resolveCapacity(capacity: number | undefined): number {
  if (capacity === undefined) return DEFAULT_EVENT_CAPACITY;
  if (!Number.isSafeInteger(capacity) || capacity < 1)
    throw new StoreOptionError(`event log capacity must be a positive integer, got ${String(capacity)}`);
  return capacity;
}

/** A query with its defaults applied: limit in [0, capacity], `after` an integer or undefined. */
export interface ResolvedQuery {
  readonly limit: number;
  readonly endpoint: string | undefined;
  readonly types: ReadonlySet<string> | undefined;
  readonly after: number | undefined;
}

export function resolveQuery(query: EventQuery | undefined, capacity: number): ResolvedQuery {
  const raw = query?.limit;
  // NaN (an unparsable query parameter) means "not given"; Infinity means "all there is".
  const limit =
    raw === undefined || Number.isNaN(raw)
      ? DEFAULT_EVENT_LIMIT
      : Math.min(capacity, Math.max(0, Math.floor(raw)));
  const after = query?.after;
  return {
    limit,
    endpoint: query?.endpoint,
    // An empty list filters nothing, like an absent one (`?types=` in a query string).
    types: query?.types && query.types.length > 0 ? new Set(query.types) : undefined,
    after: after === undefined || !Number.isFinite(after) ? undefined : Math.floor(after),
  };
}

/** Whether an event passes the query's endpoint, types and `after` filters (not the limit). */
export function matchesQuery(event: StoredEvent, query: ResolvedQuery): boolean {
  return (
    (query.after === undefined || event.seq > query.after) &&
    (query.endpoint === undefined || event.endpoint === query.endpoint) &&
    (query.types === undefined || query.types.has(event.type))
  );
}

/** The stored form of an event: its known members only, `endpoint` absent when it has none. */
export function storedEvent(seq: number, event: LoggedEvent): StoredEvent {
  const { type, time, endpoint, data } = event;
  return endpoint === undefined ? { seq, type, time, data } : { seq, type, time, endpoint, data };
}

/**
 * Live listeners of one event log. Each subscribe is its own entry (the same function twice is
 * two deliveries, two unsubscribes); a throwing listener is reported and the rest still run.
 */
export class EventListeners {
  readonly #entries = new Set<{ readonly listener: (event: StoredEvent) => void }>();
  readonly #onError: ((error: unknown) => void) | undefined;

  constructor(onError?: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Adds a listener; the function returned removes it (once; later calls do nothing). */
  add(listener: (event: StoredEvent) => void): () => void {
    const entry = { listener };
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  emit(event: StoredEvent): void {
    for (const entry of [...this.#entries]) {
      // One removed by an earlier listener of this same event gets no more.
      if (!this.#entries.has(entry)) continue;
      try {
        entry.listener(event);
      } catch (e) {
        try {
          this.#onError?.(e);
        } catch {
          // An error handler that throws has nowhere else to report to.
        }
      }
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
