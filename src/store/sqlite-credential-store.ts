import type { CredentialStore, SecurityInfo } from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';
import { CredentialConflictError } from './store-errors.js';

interface Row {
  readonly data: string;
}

/**
 * Security information in SQLite: one row per endpoint, the PSK identity a UNIQUE column (the
 * handshake's lookup is an index seek), the rest JSON.
 */
export class SqliteCredentialStore implements CredentialStore {
  readonly #put: (info: SecurityInfo) => void;
  readonly #get: SqlStatement<[string], Row>;
  readonly #getByPsk: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #all: SqlStatement<[], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    db.exec(`
      CREATE TABLE IF NOT EXISTS credentials (
        endpoint     TEXT PRIMARY KEY,
        psk_identity TEXT UNIQUE,      -- NULL: no PSK
        data         TEXT NOT NULL
      );
    `);
    const holder = db.prepare<[string], { endpoint: string }>(
      'SELECT endpoint FROM credentials WHERE psk_identity = ?',
    );
    const upsert = db.prepare<[string, string | null, string]>(
      `INSERT INTO credentials (endpoint, psk_identity, data) VALUES (?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET psk_identity = excluded.psk_identity, data = excluded.data`,
    );
    // One transaction: the identity check and the write see the same table.
    this.#put = db.transaction((info: SecurityInfo) => {
      const identity = info.psk?.identity;
      if (identity !== undefined) {
        const owner = holder.get(identity)?.endpoint;
        if (owner !== undefined && owner !== info.endpoint)
          throw new CredentialConflictError(identity, owner, info.endpoint);
      }
      upsert.run(info.endpoint, identity ?? null, documentToJson(info));
    });
    this.#get = db.prepare('SELECT data FROM credentials WHERE endpoint = ?');
    this.#getByPsk = db.prepare('SELECT data FROM credentials WHERE psk_identity = ?');
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
    return sqliteStep(() => decode(this.#getByPsk.get(identity)));
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
