import { documentFromJson, documentToJson } from './document-json.js';
import type { EventLog, EventQuery, LoggedEvent, StoredEvent } from './event-log.js';
import {
  EventListeners,
  type EventLogOptions,
  resolveCapacity,
  resolveQuery,
  storedEvent,
} from './event-log-rules.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';

interface Row {
  readonly seq: number;
  readonly type: string;
  readonly time: number;
  readonly endpoint: string | null;
  readonly data: string;
}

interface QueryParams {
  readonly after: number;
  readonly endpoint: string | null;
  readonly types: string | null;
  readonly limit: number;
}

/**
 * The event log in an SQLite table, trimmed to `capacity` rows on every append (the newest stay).
 * seq is an AUTOINCREMENT key, so it never repeats, even across restarts. Subscribers are this
 * process's own: another process appending to the same file does not reach them.
 */
export class SqliteEventLog implements EventLog {
  readonly capacity: number;
  readonly #append: (event: LoggedEvent) => StoredEvent;
  readonly #recent: SqlStatement<[QueryParams], Row>;
  readonly #listeners: EventListeners;

  constructor(options: SqliteDatabaseOptions & EventLogOptions) {
    const { db } = options;
    this.capacity = resolveCapacity(options.capacity);
    this.#listeners = new EventListeners(options.onError);
    db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        type     TEXT NOT NULL,
        time     REAL NOT NULL,
        endpoint TEXT,
        data     TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_by_endpoint ON events (endpoint, seq);
    `);
    const insert = db.prepare<[string, number, string | null, string], { seq: number }>(
      'INSERT INTO events (type, time, endpoint, data) VALUES (?, ?, ?, ?) RETURNING seq',
    );
    const trim = db.prepare<[number]>('DELETE FROM events WHERE seq <= ?');
    const capacity = this.capacity;
    this.#append = db.transaction((event: LoggedEvent) => {
      const row = insert.get(event.type, event.time, event.endpoint ?? null, documentToJson(event.data));
      const seq = row?.seq ?? 0;
      trim.run(seq - capacity);
      return storedEvent(seq, event);
    });
    // A log reopened with a smaller capacity drops its surplus now, not at the next append.
    const newest = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events').get()?.seq;
    if (newest !== null && newest !== undefined) trim.run(newest - capacity);
    this.#recent = db.prepare(
      `SELECT seq, type, time, endpoint, data FROM events
       WHERE seq > @after
         AND (@endpoint IS NULL OR endpoint = @endpoint)
         AND (@types IS NULL OR type IN (SELECT value FROM json_each(@types)))
       ORDER BY seq DESC LIMIT @limit`,
    );
  }

  append(event: LoggedEvent): Promise<StoredEvent> {
    return sqliteStep(() => {
      const stored = this.#append(event);
      this.#listeners.emit(stored);
      return stored;
    });
  }

  recent(query?: EventQuery): Promise<StoredEvent[]> {
    const q = resolveQuery(query, this.capacity);
    return sqliteStep(() =>
      this.#recent
        .all({
          after: q.after ?? -1,
          endpoint: q.endpoint ?? null,
          types: q.types ? JSON.stringify([...q.types]) : null,
          limit: q.limit,
        })
        .reverse()
        .map(fromRow),
    );
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    return this.#listeners.add(listener);
  }
}

function fromRow(row: Row): StoredEvent {
  return storedEvent(row.seq, {
    type: row.type,
    time: row.time,
    endpoint: row.endpoint ?? undefined,
    data: documentFromJson<Record<string, unknown>>(row.data),
  });
}
