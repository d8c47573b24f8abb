import { type CredentialStore, type SecurityInfo, pskIdentitiesOf, publicKeyOf } from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { PublicKeyConflictError, canonicalSpkiHex } from './public-key.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlDatabase, SqlStatement } from './sqlite-driver.js';
import { CredentialConflictError } from './store-errors.js';

interface Row {
  readonly data: string;
}

/**
 * The table, and its migrations from earlier schemas (no next_psk_identity, no rpk_key): SQLite
 * cannot ADD a UNIQUE column, so a column is added plain and its uniqueness is a UNIQUE index, the
 * same on a new file and on a migrated one.
 */
function createSchema(db: SqlDatabase): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS credentials (
      endpoint          TEXT PRIMARY KEY,
      psk_identity      TEXT UNIQUE,      -- NULL: no PSK
      next_psk_identity TEXT,             -- NULL: no PSK being rotated in
      data              TEXT NOT NULL,
      rpk_key           TEXT              -- canonical SPKI hex; NULL: no (readable) raw public key
    );
  `);
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(credentials)').all();
  if (!columns.some((c) => c.name === 'next_psk_identity'))
    db.exec('ALTER TABLE credentials ADD COLUMN next_psk_identity TEXT');
  db.exec(
    'CREATE UNIQUE INDEX IF NOT EXISTS credentials_next_psk_identity ON credentials (next_psk_identity)',
  );
  if (!columns.some((c) => c.name === 'rpk_key')) {
    db.exec('ALTER TABLE credentials ADD COLUMN rpk_key TEXT');
    backfillPublicKeys(db);
  }
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS credentials_rpk_key ON credentials (rpk_key)');
}

/**
 * Fills rpk_key of the rows written before it existed. Those rows were never held to one key, one
 * endpoint: of endpoints sharing a key, the first (by name) gets it indexed; the others keep their
 * info but are not found by the key (so refused at the handshake) until they are given their own.
 */
function backfillPublicKeys(db: SqlDatabase): void {
  const rows = db
    .prepare<[], { endpoint: string; data: string }>(
      'SELECT endpoint, data FROM credentials ORDER BY endpoint',
    )
    .all();
  const set = db.prepare<[string, string]>('UPDATE credentials SET rpk_key = ? WHERE endpoint = ?');
  const taken = new Set<string>();
  for (const row of rows) {
    const key = publicKeyOf(documentFromJson<SecurityInfo>(row.data));
    if (key === undefined || taken.has(key)) continue;
    taken.add(key);
    set.run(key, row.endpoint);
  }
}

/**
 * Security information in SQLite: one row per endpoint, the PSK identities (current and next) and
 * the canonical raw public key UNIQUE columns (the handshake's lookup is an index seek), the rest
 * JSON. That an identity is in only one of the two PSK columns across rows, and that a key is
 * another endpoint's, is checked in the put's transaction.
 */
export class SqliteCredentialStore implements CredentialStore {
  readonly #put: (info: SecurityInfo) => void;
  readonly #get: SqlStatement<[string], Row>;
  readonly #getByPsk: SqlStatement<[string, string], Row>;
  readonly #getByKey: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #all: SqlStatement<[], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    // BEGIN IMMEDIATE: two processes opening an old file at once do not both ALTER it.
    db.transaction(createSchema)(db);
    const holder = db.prepare<[string, string, string], { endpoint: string }>(
      'SELECT endpoint FROM credentials WHERE (psk_identity = ? OR next_psk_identity = ?) AND endpoint <> ?',
    );
    const keyHolder = db.prepare<[string, string], { endpoint: string }>(
      'SELECT endpoint FROM credentials WHERE rpk_key = ? AND endpoint <> ?',
    );
    const upsert = db.prepare<[string, string | null, string | null, string | null, string]>(
      `INSERT INTO credentials (endpoint, psk_identity, next_psk_identity, rpk_key, data)
       VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET psk_identity = excluded.psk_identity,
         next_psk_identity = excluded.next_psk_identity, rpk_key = excluded.rpk_key,
         data = excluded.data`,
    );
    // One transaction: the identity checks and the write see the same table.
    this.#put = db.transaction((info: SecurityInfo) => {
      for (const identity of pskIdentitiesOf(info)) {
        const owner = holder.get(identity, identity, info.endpoint)?.endpoint;
        if (owner !== undefined) throw new CredentialConflictError(identity, owner, info.endpoint);
      }
      const key = publicKeyOf(info);
      const keyOwner = key === undefined ? undefined : keyHolder.get(key, info.endpoint)?.endpoint;
      if (key !== undefined && keyOwner !== undefined)
        throw new PublicKeyConflictError(key, keyOwner, info.endpoint);
      upsert.run(
        info.endpoint,
        info.psk?.identity ?? null,
        info.nextPsk?.identity ?? null,
        key ?? null,
        documentToJson(info),
      );
    });
    this.#get = db.prepare('SELECT data FROM credentials WHERE endpoint = ?');
    this.#getByPsk = db.prepare(
      'SELECT data FROM credentials WHERE psk_identity = ? OR next_psk_identity = ?',
    );
    this.#getByKey = db.prepare('SELECT data FROM credentials WHERE rpk_key = ?');
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

  getByPublicKey(spkiHex: string): Promise<SecurityInfo | undefined> {
    const key = canonicalSpkiHex(spkiHex);
    return sqliteStep(() => (key === undefined ? undefined : decode(this.#getByKey.get(key))));
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
