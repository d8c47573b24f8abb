import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type SqlDatabase, type SqliteDriverName, loadSqliteDriver } from './sqlite-driver.js';
import { StoreUnavailableError } from './store-errors.js';

/** What every SQLite store takes: the shared database. */
export interface SqliteDatabaseOptions {
  /** An open database (openSqliteDatabase); the store never closes it. */
  readonly db: SqlDatabase;
}

export interface OpenSqliteDatabaseOptions {
  /** The driver (default: chooseSqliteDriver(), i.e. PETREL_SQLITE_DRIVER, else node:sqlite if present). */
  readonly driver?: SqliteDriverName;
}

/**
 * Opens (creating it and its folder) the SQLite file every SQLite store of one server shares.
 * WAL journal: readers never wait for the writer and a killed process loses nothing committed;
 * synchronous=NORMAL is safe with WAL against a process crash (only a power loss can drop the last
 * transactions). busy_timeout lets a second process on the same file wait for the lock instead of
 * failing at once. `:memory:` gives a private in-memory database. A driver this runtime lacks, or
 * a file that cannot be opened, is a StoreUnavailableError.
 */
export function openSqliteDatabase(file: string, options: OpenSqliteDatabaseOptions = {}): SqlDatabase {
  const driver = loadSqliteDriver(options.driver);
  try {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = driver.open(file);
    try {
      if (file !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA busy_timeout = 5000');
    } catch (e) {
      db.close();
      throw e;
    }
    return db;
  } catch (e) {
    throw new StoreUnavailableError(
      `cannot open SQLite database ${JSON.stringify(file)}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/**
 * A synchronous SQLite step as the promise the store interfaces return: what it throws (a
 * constraint, a closed database, a conflict) becomes a rejection, never a synchronous throw.
 */
export function sqliteStep<T>(step: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(step()));
}
