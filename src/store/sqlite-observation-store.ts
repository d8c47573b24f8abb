import { documentFromJson, documentToJson } from './document-json.js';
import type { ObservationStore, PersistedObservation } from './observation-store.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';

interface Row {
  readonly data: string;
}

/** Observations in SQLite: one row per id, endpoint and creation time as indexed columns, the rest JSON. */
export class SqliteObservationStore implements ObservationStore {
  readonly #put: SqlStatement<[string, string, number, string]>;
  readonly #get: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #byEndpoint: SqlStatement<[string], Row>;
  readonly #removeByEndpoint: SqlStatement<[string]>;
  readonly #all: SqlStatement<[], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    db.exec(`
      CREATE TABLE IF NOT EXISTS observations (
        id         TEXT PRIMARY KEY,
        endpoint   TEXT NOT NULL,
        created_at REAL NOT NULL,
        data       TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS observations_by_endpoint ON observations (endpoint, created_at, id);
    `);
    this.#put = db.prepare(
      `INSERT INTO observations (id, endpoint, created_at, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET endpoint = excluded.endpoint, created_at = excluded.created_at, data = excluded.data`,
    );
    this.#get = db.prepare('SELECT data FROM observations WHERE id = ?');
    this.#remove = db.prepare('DELETE FROM observations WHERE id = ? RETURNING data');
    this.#byEndpoint = db.prepare('SELECT data FROM observations WHERE endpoint = ? ORDER BY created_at, id');
    this.#removeByEndpoint = db.prepare('DELETE FROM observations WHERE endpoint = ?');
    this.#all = db.prepare('SELECT data FROM observations');
  }

  put(observation: PersistedObservation): Promise<void> {
    return sqliteStep(
      () =>
        void this.#put.run(
          observation.id,
          observation.endpoint,
          observation.createdAt,
          documentToJson(observation),
        ),
    );
  }

  get(id: string): Promise<PersistedObservation | undefined> {
    return sqliteStep(() => decode(this.#get.get(id)));
  }

  remove(id: string): Promise<PersistedObservation | undefined> {
    return sqliteStep(() => decode(this.#remove.get(id)));
  }

  byEndpoint(endpoint: string): Promise<PersistedObservation[]> {
    return sqliteStep(() =>
      this.#byEndpoint.all(endpoint).map((row) => documentFromJson<PersistedObservation>(row.data)),
    );
  }

  removeByEndpoint(endpoint: string): Promise<number> {
    return sqliteStep(() => this.#removeByEndpoint.run(endpoint).changes);
  }

  async *all(): AsyncIterable<PersistedObservation> {
    // A snapshot: callers may remove while iterating.
    for (const row of this.#all.all())
      yield await Promise.resolve(documentFromJson<PersistedObservation>(row.data));
  }
}

function decode(row: Row | undefined): PersistedObservation | undefined {
  return row === undefined ? undefined : documentFromJson<PersistedObservation>(row.data);
}
