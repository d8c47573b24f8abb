import { type CredentialStore, type SecurityInfo, pskIdentitiesOf } from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlDatabase, SqlStatement } from './sqlite-driver.js';
import { CredentialConflictError } from './store-errors.js';

interface Row {
  readonly data: string;
}

/**
 * The table, and its migration from the first schema (no next_psk_identity): SQLite cannot ADD a
 * UNIQUE column, so the column is added plain and its uniqueness is a UNIQUE index, the same on
 * a new file and on a migrated one.
 */
function createSchema(db: SqlDatabase): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS credentials (
      endpoint          TEXT PRIMARY KEY,
      psk_identity      TEXT UNIQUE,      -- NULL: no PSK
      next_psk_identity TEXT,             -- NULL: no PSK being rotated in
      data              TEXT NOT NULL
    );
  `);
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(credentials)').all();
  if (!columns.some((c) => c.name === 'next_psk_identity'))
    db.exec('ALTER TABLE credentials ADD COLUMN next_psk_identity TEXT');
  db.exec(
    'CREATE UNIQUE INDEX IF NOT EXISTS credentials_next_psk_identity ON credentials (next_psk_identity)',
  );
}

/**
 * Security information in SQLite: one row per endpoint, the PSK identities (current and next)
 * UNIQUE columns (the handshake's lookup is an index seek on either), the rest JSON. That an
 * identity is in only one of the two columns across rows is checked in the put's transaction.
 */
export class SqliteCredentialStore implements CredentialStore {
  readonly #put: (info: SecurityInfo) => void;
  readonly #get: SqlStatement<[string], Row>;
  readonly #getByPsk: SqlStatement<[string, string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #all: SqlStatement<[], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    // BEGIN IMMEDIATE: two processes opening an old file at once do not both ALTER it.
    db.transaction(createSchema)(db);
    const holder = db.prepare<[string, string, string], { endpoint: string }>(
      'SELECT endpoint FROM credentials WHERE (psk_identity = ? OR next_psk_identity = ?) AND endpoint <> ?',
    );
    const upsert = db.prepare<[string, string | null, string | null, string]>(
      `INSERT INTO credentials (endpoint, psk_identity, next_psk_identity, data) VALUES (?, ?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET psk_identity = excluded.psk_identity,
         next_psk_identity = excluded.next_psk_identity, data = excluded.data`,
    );
    // One transaction: the identity checks and the write see the same table.
    this.#put = db.transaction((info: SecurityInfo) => {
      for (const identity of pskIdentitiesOf(info)) {
        const owner = holder.get(identity, identity, info.endpoint)?.endpoint;
        if (owner !== undefined) throw new CredentialConflictError(identity, owner, info.endpoint);
      }
      upsert.run(
        info.endpoint,
        info.psk?.identity ?? null,
        info.nextPsk?.identity ?? null,
        documentToJson(info),
      );
    });
    this.#get = db.prepare('SELECT data FROM credentials WHERE endpoint = ?');
    this.#getByPsk = db.prepare(
      'SELECT data FROM credentials WHERE psk_identity = ? OR next_psk_identity = ?',
    );
    this.#remove = db.prepare('DELETE FROM credentials WHERE endpoint = ? RETURNING data');
    this.#all = db.prepare('SELECT data FROM credentials');
  }

  put(info: SecurityInfo): Promise<void> {
    return sqliteStep(() => this.#put(info));
  }

  get(endpoint: string): Promise<SecurityInfo | undefined> {
    return sqliteStep(() => decode(this.#get.get(endpoint)));
  }

  getByPskIdentity(identity: string): Promise<SecurityInfo | undefined> {
    return sqliteStep(() => decode(this.#getByPsk.get(identity, identity)));
  }

  remove(endpoint: string): Promise<SecurityInfo | undefined> {
    return sqliteStep(() => decode(this.#remove.get(endpoint)));
  }

  async *all(): AsyncIterable<SecurityInfo> {
    for (const row of this.#all.all()) yield await Promise.resolve(documentFromJson<SecurityInfo>(row.data));
  }
}

function decode(row: Row | undefined): SecurityInfo | undefined {
  return row === undefined ? undefined : documentFromJson<SecurityInfo>(row.data);
}
