import { normalizeTags } from './normalize-tags.js';
import { type SqliteDatabaseOptions, sqliteStep } from './sqlite-database.js';
import type { SqlStatement } from './sqlite-driver.js';
import type { TagStore } from './tag-store.js';

/** Tags in SQLite: one row per (endpoint, tag) with its position, indexed by tag for endpointsWith. */
export class SqliteTagStore implements TagStore {
  readonly #set: (endpoint: string, tags: readonly string[]) => void;
  readonly #get: SqlStatement<[string], { tag: string }>;
  readonly #endpointsWith: SqlStatement<[string], { endpoint: string }>;
  readonly #all: SqlStatement<[], { endpoint: string; tag: string }>;

  constructor(options: SqliteDatabaseOptions) {
    const { db } = options;
    db.exec(`
      CREATE TABLE IF NOT EXISTS tags (
        endpoint TEXT NOT NULL,
        tag      TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (endpoint, tag)
      );
      CREATE INDEX IF NOT EXISTS tags_by_tag ON tags (tag, endpoint);
    `);
    const clear = db.prepare<[string]>('DELETE FROM tags WHERE endpoint = ?');
    const insert = db.prepare<[string, string, number]>(
      'INSERT INTO tags (endpoint, tag, position) VALUES (?, ?, ?)',
    );
    this.#set = db.transaction((endpoint: string, tags: readonly string[]) => {
      clear.run(endpoint);
      tags.forEach((tag, i) => insert.run(endpoint, tag, i));
    });
    this.#get = db.prepare('SELECT tag FROM tags WHERE endpoint = ? ORDER BY position');
    this.#endpointsWith = db.prepare('SELECT endpoint FROM tags WHERE tag = ?');
    this.#all = db.prepare('SELECT endpoint, tag FROM tags ORDER BY endpoint, position');
  }

  set(endpoint: string, tags: readonly string[]): Promise<readonly string[]> {
    return sqliteStep(() => {
      const next = normalizeTags(endpoint, tags);
      this.#set(endpoint, next);
      return next;
    });
  }

  get(endpoint: string): Promise<readonly string[]> {
    return sqliteStep(() => this.#get.all(endpoint).map((row) => row.tag));
  }

  endpointsWith(tag: string): Promise<string[]> {
    // Sorted here, not in SQL: every store sorts the same way (JavaScript string order).
    return sqliteStep(() =>
      this.#endpointsWith
        .all(tag)
        .map((row) => row.endpoint)
        .sort(),
    );
  }

  all(): Promise<Map<string, readonly string[]>> {
    return sqliteStep(() => {
      const grouped = new Map<string, string[]>();
      for (const { endpoint, tag } of this.#all.all()) {
        let tags = grouped.get(endpoint);
        if (!tags) grouped.set(endpoint, (tags = []));
        tags.push(tag);
      }
      const endpoints = [...grouped.keys()].sort();
      return new Map(endpoints.map((ep) => [ep, grouped.get(ep) ?? []]));
    });
  }
}
