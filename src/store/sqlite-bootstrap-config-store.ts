import type { BootstrapConfig, BootstrapConfigStore } from './bootstrap-config-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';

interface Row {
  readonly endpoint: string;
  readonly data: string;
}

/** Bootstrap configurations in SQLite: one row per endpoint, the configuration as JSON. */
export class SqliteBootstrapConfigStore implements BootstrapConfigStore {
  readonly #put: SqlStatement<[string, string]>;
  readonly #get: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #all: SqlStatement<[], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    db.exec(`
      CREATE TABLE IF NOT EXISTS bootstrap_configs (
        endpoint TEXT PRIMARY KEY,
        data     TEXT NOT NULL
      );
    `);
    this.#put = db.prepare(
      `INSERT INTO bootstrap_configs (endpoint, data) VALUES (?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET data = excluded.data`,
    );
    this.#get = db.prepare('SELECT endpoint, data FROM bootstrap_configs WHERE endpoint = ?');
    this.#remove = db.prepare('DELETE FROM bootstrap_configs WHERE endpoint = ? RETURNING endpoint, data');
    this.#all = db.prepare('SELECT endpoint, data FROM bootstrap_configs');
  }

  put(endpoint: string, config: BootstrapConfig): Promise<void> {
    return sqliteStep(() => void this.#put.run(endpoint, documentToJson(config)));
  }

  get(endpoint: string): Promise<BootstrapConfig | undefined> {
    return sqliteStep(() => decode(this.#get.get(endpoint)));
  }

  remove(endpoint: string): Promise<BootstrapConfig | undefined> {
    return sqliteStep(() => decode(this.#remove.get(endpoint)));
  }

  async *all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }> {
    for (const row of this.#all.all())
      yield await Promise.resolve({
        endpoint: row.endpoint,
        config: documentFromJson<BootstrapConfig>(row.data),
      });
  }
}

function decode(row: Row | undefined): BootstrapConfig | undefined {
  return row === undefined ? undefined : documentFromJson<BootstrapConfig>(row.data);
}
