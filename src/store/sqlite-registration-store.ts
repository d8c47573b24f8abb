import type { Registration } from '../server/registration.js';
import type { Peer } from '../transport/channel.js';
import { documentFromJson } from './document-json.js';
import type { PutResult, RegistrationStore, RegistrationSummary } from './registration-store.js';
import { registrationFromJson, registrationToJson } from './registration-json.js';
import { openSqliteDatabase } from './sqlite-database.js';
import type { SqlDatabase, SqlStatement, SqliteDriverName } from './sqlite-driver.js';

/** Either a file the store opens (and closes), or a database shared with the other SQLite stores. */
export type SqliteStoreOptions =
  | {
      /** A database file (its folder is created), or `:memory:`. */
      readonly file: string;
      /** The SQLite driver (default: chooseSqliteDriver()). */
      readonly driver?: SqliteDriverName;
      readonly db?: undefined;
    }
  | {
      /** An open database (openSqliteDatabase); the store never closes it. */
      readonly db: SqlDatabase;
      readonly file?: undefined;
      readonly driver?: undefined;
    };

/** Rows per summaries() query. */
const SUMMARY_PAGE = 10_000;

interface SummaryRow {
  rowid: number;
  endpoint: string;
  id: string;
  expires_at: number | null;
  /** The peer member of the document, as JSON text. */
  peer: string;
}

interface Row {
  readonly data: string;
}

/**
 * Registrations in SQLite (node:sqlite or better-sqlite3: sqlite-driver.ts), the embedded default:
 * one row per endpoint with its id and expiry as columns (indexed lookups) and the registration as
 * JSON. WAL journal, so readers never wait for the writer; every statement is synchronous and
 * short, wrapped in promises for the RegistrationStore interface.
 */
export class SqliteRegistrationStore implements RegistrationStore {
  readonly #db: SqlDatabase;
  readonly #ownsDb: boolean;
  readonly #put: (reg: Registration) => Registration | undefined;
  readonly #get: SqlStatement<[string], Row>;
  readonly #getById: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #removeWithId: SqlStatement<[string, string], Row>;
  readonly #all: SqlStatement<[], Row>;
  readonly #expiring: SqlStatement<[number], Row>;
  readonly #count: SqlStatement<[], { n: number }>;
  readonly #summaries: SqlStatement<[number, number], SummaryRow>;

  constructor(options: SqliteStoreOptions) {
    this.#ownsDb = options.db === undefined;
    this.#db = options.db ?? openSqliteDatabase(options.file, { driver: options.driver });
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS registrations (
        endpoint   TEXT PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        expires_at REAL,            -- NULL: never (lifetime 0)
        data       TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS registrations_expiry ON registrations (expires_at);
    `);
    const selectByEndpoint = this.#db.prepare<[string], Row>(
      'SELECT data FROM registrations WHERE endpoint = ?',
    );
    const deleteById = this.#db.prepare<[string]>('DELETE FROM registrations WHERE id = ?');
    const upsert = this.#db.prepare<[string, string, number | null, string]>(
      `INSERT INTO registrations (endpoint, id, expires_at, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET id = excluded.id, expires_at = excluded.expires_at, data = excluded.data`,
    );
    // One transaction: read the replaced registration, free an id another endpoint held (the store
    // must stay consistent even if a caller reuses one), write the new row.
    this.#put = this.#db.transaction((reg: Registration) => {
      const previous = selectByEndpoint.get(reg.endpoint);
      deleteById.run(reg.id);
      upsert.run(
        reg.endpoint,
        reg.id,
        Number.isFinite(reg.expiresAt) ? reg.expiresAt : null,
        registrationToJson(reg),
      );
      return previous ? registrationFromJson(previous.data) : undefined;
    });
    this.#get = selectByEndpoint;
    this.#getById = this.#db.prepare<[string], Row>('SELECT data FROM registrations WHERE id = ?');
    this.#remove = this.#db.prepare<[string], Row>(
      'DELETE FROM registrations WHERE endpoint = ? RETURNING data',
    );
    this.#removeWithId = this.#db.prepare<[string, string], Row>(
      'DELETE FROM registrations WHERE endpoint = ? AND id = ? RETURNING data',
    );
    this.#all = this.#db.prepare<[], Row>('SELECT data FROM registrations');
    this.#summaries = this.#db.prepare<[number, number], SummaryRow>(
      `SELECT rowid, endpoint, id, expires_at, json_extract(data, '$.peer') AS peer FROM registrations
       WHERE rowid > ? ORDER BY rowid LIMIT ?`,
    );
    this.#expiring = this.#db.prepare<[number], Row>(
      'SELECT data FROM registrations WHERE expires_at IS NOT NULL AND expires_at < ?',
    );
    this.#count = this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM registrations');
  }

  put(registration: Registration): Promise<PutResult> {
    return Promise.resolve({ previous: this.#put(registration) });
  }

  get(endpoint: string): Promise<Registration | undefined> {
    return Promise.resolve(decode(this.#get.get(endpoint)));
  }

  getById(id: string): Promise<Registration | undefined> {
    return Promise.resolve(decode(this.#getById.get(id)));
  }

  remove(endpoint: string, id?: string): Promise<Registration | undefined> {
    const row = id === undefined ? this.#remove.get(endpoint) : this.#removeWithId.get(endpoint, id);
    return Promise.resolve(decode(row));
  }

  async *all(): AsyncIterable<Registration> {
    // A snapshot: callers may remove while iterating.
    for (const row of this.#all.all()) yield await Promise.resolve(registrationFromJson(row.data));
  }

  async *expiring(before: number): AsyncIterable<Registration> {
    for (const row of this.#expiring.all(before)) yield await Promise.resolve(registrationFromJson(row.data));
  }

  /** In rowid order, SUMMARY_PAGE rows per query, so a million rows are never held at once. */
  async *summaries(): AsyncIterable<RegistrationSummary> {
    let after = -Infinity;
    for (;;) {
      const rows = this.#summaries.all(after, SUMMARY_PAGE);
      for (const row of rows) {
        const summary: RegistrationSummary = {
          endpoint: row.endpoint,
          id: row.id,
          peer: documentFromJson<Peer>(row.peer),
          expiresAt: row.expires_at ?? Infinity,
        };
        yield summary;
      }
      if (rows.length < SUMMARY_PAGE) return;
      after = rows[rows.length - 1]!.rowid;
      await Promise.resolve();
    }
  }

  get size(): Promise<number> {
    return Promise.resolve(this.#count.get()?.n ?? 0);
  }

  /** Closes the database when the store opened it (`{ file }`); a shared one stays open. */
  close(): void {
    if (this.#ownsDb) this.#db.close();
  }
}

function decode(row: Row | undefined): Registration | undefined {
  return row === undefined ? undefined : registrationFromJson(row.data);
}
