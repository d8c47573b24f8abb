import {
  type BootstrapConfig,
  type BootstrapConfigStore,
  type BootstrapTemplateDocument,
  type PendingBootstrapRecord,
  pendingBootstrapFromJson,
  pendingBootstrapToJson,
} from './bootstrap-config-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';

interface Row {
  readonly endpoint: string;
  readonly data: string;
}

interface TemplateRow {
  readonly name: string;
  readonly data: string;
}

/**
 * Bootstrap configurations in SQLite: one row per endpoint, the configuration as JSON; templates
 * likewise, one row per name in their own table, and pending bootstrap reasons one row per
 * endpoint in a third (each added with IF NOT EXISTS, so older files gain them).
 */
export class SqliteBootstrapConfigStore implements BootstrapConfigStore {
  readonly #put: SqlStatement<[string, string]>;
  readonly #get: SqlStatement<[string], Row>;
  readonly #remove: SqlStatement<[string], Row>;
  readonly #all: SqlStatement<[], Row>;
  readonly #putTemplate: SqlStatement<[string, string]>;
  readonly #getTemplate: SqlStatement<[string], TemplateRow>;
  readonly #removeTemplate: SqlStatement<[string], TemplateRow>;
  readonly #templates: SqlStatement<[], TemplateRow>;
  readonly #setPending: SqlStatement<[string, string]>;
  readonly #getPending: SqlStatement<[string], Row>;
  readonly #removePending: SqlStatement<[string], Row>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    db.exec(`
      CREATE TABLE IF NOT EXISTS bootstrap_configs (
        endpoint TEXT PRIMARY KEY,
        data     TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS bootstrap_templates (
        name TEXT PRIMARY KEY,
        data TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS bootstrap_pending (
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
    this.#putTemplate = db.prepare(
      `INSERT INTO bootstrap_templates (name, data) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET data = excluded.data`,
    );
    this.#getTemplate = db.prepare('SELECT name, data FROM bootstrap_templates WHERE name = ?');
    this.#removeTemplate = db.prepare('DELETE FROM bootstrap_templates WHERE name = ? RETURNING name, data');
    this.#templates = db.prepare('SELECT name, data FROM bootstrap_templates');
    this.#setPending = db.prepare(
      `INSERT INTO bootstrap_pending (endpoint, data) VALUES (?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET data = excluded.data`,
    );
    this.#getPending = db.prepare('SELECT endpoint, data FROM bootstrap_pending WHERE endpoint = ?');
    this.#removePending = db.prepare(
      'DELETE FROM bootstrap_pending WHERE endpoint = ? RETURNING endpoint, data',
    );
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

  putTemplate(name: string, template: BootstrapTemplateDocument): Promise<void> {
    return sqliteStep(() => void this.#putTemplate.run(name, documentToJson(template)));
  }

  getTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    return sqliteStep(() => decodeTemplate(this.#getTemplate.get(name)));
  }

  removeTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    return sqliteStep(() => decodeTemplate(this.#removeTemplate.get(name)));
  }

  async *templates(): AsyncIterable<{ readonly name: string; readonly template: BootstrapTemplateDocument }> {
    for (const row of this.#templates.all())
      yield await Promise.resolve({
        name: row.name,
        template: documentFromJson<BootstrapTemplateDocument>(row.data),
      });
  }

  setPending(endpoint: string, pending: PendingBootstrapRecord): Promise<void> {
    return sqliteStep(() => void this.#setPending.run(endpoint, pendingBootstrapToJson(pending)));
  }

  getPending(endpoint: string): Promise<PendingBootstrapRecord | undefined> {
    return sqliteStep(() => {
      const row = this.#getPending.get(endpoint);
      // A hand-edited row may hold anything, even a number where text belongs.
      return row === undefined ? undefined : pendingBootstrapFromJson(String(row.data));
    });
  }

  removePending(endpoint: string): Promise<boolean> {
    return sqliteStep(() => this.#removePending.get(endpoint) !== undefined);
  }
}

function decodeTemplate(row: TemplateRow | undefined): BootstrapTemplateDocument | undefined {
  return row === undefined ? undefined : documentFromJson<BootstrapTemplateDocument>(row.data);
}

function decode(row: Row | undefined): BootstrapConfig | undefined {
  return row === undefined ? undefined : documentFromJson<BootstrapConfig>(row.data);
}
