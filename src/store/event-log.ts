/**
 * The server's recent traffic and events (registrations, sleep/wake, notifications, sends, and a
 * trace of requests and responses), bounded: the oldest go when the log is full. Every process
 * that shares the store sees every event (Redis: published on a channel), so a REST API in one
 * server process streams what a client registered with another one did.
 */
export interface LoggedEvent {
  /** Event type: `registered`, `updated`, `notification`, `request`, `response`, ... */
  readonly type: string;
  /** Wall-clock ms. */
  readonly time: number;
  readonly endpoint?: string;
  /** The event's fields, plain JSON. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** A logged event with its place in the log (increasing; unique within one store). */
export interface StoredEvent extends LoggedEvent {
  readonly seq: number;
}

export interface EventQuery {
  /** Most events to return (the newest ones), default 100; clamped to [0, capacity]. */
  readonly limit?: number;
  readonly endpoint?: string;
  /** Only these types; an empty list filters nothing (like an absent one). */
  readonly types?: readonly string[];
  /** Only events with seq greater than this (resuming a stream). */
  readonly after?: number;
}

export interface EventLog {
  /** Appends and delivers to every subscriber (of every process sharing the store). */
  append(event: LoggedEvent): Promise<StoredEvent>;
  /** Matching events, oldest first, at most `limit` (the newest ones). */
  recent(query?: EventQuery): Promise<StoredEvent[]>;
  /**
   * Live events from now on, each exactly once; returns the unsubscribe function. Delivery may be
   * asynchronous (Redis: through pub/sub); a listener that throws breaks neither append nor the
   * other listeners.
   */
  subscribe(listener: (event: StoredEvent) => void): () => void;
  /** Most events kept. */
  readonly capacity: number;
}
