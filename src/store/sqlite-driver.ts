import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { StoreOptionError, StoreUnavailableError, quote } from './store-errors.js';

/**
 * The SQLite engines Petrel runs on: Node's built-in `node:sqlite` (Node >= 22.13, no flag) and the
 * native better-sqlite3 package (Node 20, which has no `node:sqlite`). better-sqlite3 12 can abort
 * a Node 24 process (a statement finalised after the environment is gone), so Node 24 must never
 * load it unless asked to.
 */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

export const SQLITE_DRIVERS: readonly SqliteDriverName[] = ['node:sqlite', 'better-sqlite3'];

/** The environment variable that forces a driver (`node:sqlite` or `better-sqlite3`). */
export const SQLITE_DRIVER_ENV = 'PETREL_SQLITE_DRIVER';

/** What a write reports: how many rows it changed. */
export interface SqlRunResult {
  readonly changes: number;
}

/**
 * A prepared statement. Parameters are positional values, or one object whose keys bind `@name`
 * parameters. Rows are plain records keyed by column (their prototype may be null: compare their
 * members, not their identity); integers come back as numbers.
 */
export interface SqlStatement<Params extends unknown[] = unknown[], Row = unknown> {
  run(...params: Params): SqlRunResult;
  /** The first row, or undefined when there is none. */
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
}

/** One open SQLite database, whichever driver runs it. Every call is synchronous. */
export interface SqlDatabase {
  readonly driver: SqliteDriverName;
  /** False once closed; every call but close() then throws StoreUnavailableError. */
  readonly open: boolean;
  /** Runs one or more statements, ignoring their rows (DDL, PRAGMA settings). */
  exec(sql: string): void;
  prepare<Params extends unknown[] = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row>;
  /**
   * Wraps a synchronous function in a write transaction (BEGIN IMMEDIATE, so a read-then-write never
   * meets a lock upgrade): committed when it returns, rolled back when it throws. Called inside
   * another transaction it becomes a savepoint, so its failure undoes only its own work.
   */
  transaction<Args extends unknown[], Result>(fn: (...args: Args) => Result): (...args: Args) => Result;
  /** Closes the database; closing twice is harmless. */
  close(): void;
}

/** A loaded driver: it opens databases (`:memory:` for a private one). */
export interface SqliteDriver {
  readonly name: SqliteDriverName;
  /** Opens the file as it is (no folder created, no PRAGMA set); SQLite's own errors pass through. */
  open(file: string): SqlDatabase;
}

/**
 * The driver to use: the one PETREL_SQLITE_DRIVER names, else node:sqlite when this Node has it,
 * else better-sqlite3. A value that names no driver is a StoreOptionError.
 */
export function chooseSqliteDriver(env: NodeJS.ProcessEnv = process.env): SqliteDriverName {
  const forced = env[SQLITE_DRIVER_ENV];
  if (forced !== undefined && forced !== '') {
    if (!isSqliteDriverName(forced))
      throw new StoreOptionError(
        `${SQLITE_DRIVER_ENV} must be ${SQLITE_DRIVERS.join(' or ')}, got ${quote(forced)}`,
      );
    return forced;
  }
  return nodeSqlite() !== undefined ? 'node:sqlite' : 'better-sqlite3';
}

/** Whether the driver can be loaded here (loads it: for better-sqlite3, the native module). */
export function sqliteDriverAvailable(name: SqliteDriverName): boolean {
  if (name === 'node:sqlite') return nodeSqlite() !== undefined;
  return !(betterSqlite3() instanceof Error);
}

/**
 * Loads a driver (default: chooseSqliteDriver()). One that this runtime lacks is a
 * StoreUnavailableError saying why and what to do instead.
 */
export function loadSqliteDriver(name: SqliteDriverName = chooseSqliteDriver()): SqliteDriver {
  const how = process.env[SQLITE_DRIVER_ENV] === name ? ` (chosen by ${SQLITE_DRIVER_ENV}=${name})` : '';
  if (name === 'node:sqlite') {
    const mod = nodeSqlite();
    if (mod === undefined)
      throw new StoreUnavailableError(
        `the SQLite driver node:sqlite${how} is not available on Node ${process.version}: ` +
          'it needs Node 22.13 or later; use better-sqlite3 instead',
      );
    return { name, open: (file) => new NodeSqliteDatabase(new mod.DatabaseSync(file)) };
  }
  const ctor = betterSqlite3();
  if (ctor instanceof Error)
    throw new StoreUnavailableError(
      `the SQLite driver better-sqlite3${how} cannot be loaded: ${ctor.message}`,
      { cause: ctor },
    );
  return { name, open: (file) => new BetterSqliteDatabase(new ctor(file)) };
}

/** Whether the text names a driver (the check PETREL_SQLITE_DRIVER gets). */
export function isSqliteDriverName(text: string): text is SqliteDriverName {
  return (SQLITE_DRIVERS as readonly string[]).includes(text);
}

function closedError(): StoreUnavailableError {
  return new StoreUnavailableError('the SQLite database connection is not open');
}

// --- node:sqlite ------------------------------------------------------------------------------

// The part of node:sqlite used here (@types/node 20 does not describe the module).
interface NodeSqliteStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface NodeSqliteHandle {
  exec(sql: string): void;
  prepare(sql: string): NodeSqliteStatement;
  close(): void;
  /** Node >= 22.16: whether a transaction is open (one begun by exec('BEGIN') too). */
  readonly isTransaction?: boolean;
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeSqliteHandle;
}

let nodeSqliteModule: NodeSqliteModule | null | undefined;

/** node:sqlite, or undefined where this Node lacks it (Node 20; Node 22 before 22.13 without a flag). */
function nodeSqlite(): NodeSqliteModule | undefined {
  if (nodeSqliteModule === undefined) {
    let mod: unknown;
    try {
      mod = process.getBuiltinModule('node:sqlite');
    } catch {
      mod = undefined;
    }
    nodeSqliteModule =
      typeof (mod as Partial<NodeSqliteModule> | undefined)?.DatabaseSync === 'function'
        ? (mod as NodeSqliteModule)
        : null;
  }
  return nodeSqliteModule ?? undefined;
}

class NodeSqliteDatabase implements SqlDatabase {
  readonly driver = 'node:sqlite';
  readonly #db: NodeSqliteHandle;
  #open = true;
  /** How many transaction() calls are running: 0 = none, 1 = the outer one, more = savepoints. */
  #depth = 0;

  constructor(db: NodeSqliteHandle) {
    this.#db = db;
  }

  get open(): boolean {
    return this.#open;
  }

  exec(sql: string): void {
    this.#ensureOpen();
    this.#db.exec(sql);
  }

  prepare<Params extends unknown[] = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row> {
    this.#ensureOpen();
    const statement = this.#db.prepare(sql);
    return {
      run: (...params) => {
        this.#ensureOpen();
        return { changes: Number(statement.run(...params).changes) };
      },
      get: (...params) => {
        this.#ensureOpen();
        return statement.get(...params) as Row | undefined;
      },
      all: (...params) => {
        this.#ensureOpen();
        return statement.all(...params) as Row[];
      },
    };
  }

  transaction<Args extends unknown[], Result>(fn: (...args: Args) => Result): (...args: Args) => Result {
    return (...args) => {
      this.#ensureOpen();
      const nested = this.#depth > 0 || this.#db.isTransaction === true;
      const savepoint = nested ? `petrel_tx_${this.#depth}` : undefined;
      this.#db.exec(savepoint === undefined ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
      this.#depth++;
      try {
        const result = fn(...args);
        this.#db.exec(savepoint === undefined ? 'COMMIT' : `RELEASE ${savepoint}`);
        return result;
      } catch (e) {
        this.#rollback(savepoint);
        throw e;
      } finally {
        this.#depth--;
      }
    };
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#db.close();
  }

  /** Undoes the failed transaction or savepoint; the error that caused it is what the caller sees. */
  #rollback(savepoint: string | undefined): void {
    if (!this.#open) return;
    try {
      this.#db.exec(savepoint === undefined ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
    } catch {
      // SQLite already rolled back (a failed COMMIT can end the transaction itself).
    }
  }

  #ensureOpen(): void {
    if (!this.#open) throw closedError();
  }
}

// --- better-sqlite3 ---------------------------------------------------------------------------

type BetterSqlite3Constructor = typeof BetterSqlite3;

let betterSqlite3Module: BetterSqlite3Constructor | Error | undefined;

/** better-sqlite3, required on first use only (a static import would load it on Node 24 too). */
function betterSqlite3(): BetterSqlite3Constructor | Error {
  if (betterSqlite3Module === undefined) {
    try {
      betterSqlite3Module = createRequire(import.meta.url)('better-sqlite3') as BetterSqlite3Constructor;
    } catch (e) {
      betterSqlite3Module = e instanceof Error ? e : new Error(String(e));
    }
  }
  return betterSqlite3Module;
}

class BetterSqliteDatabase implements SqlDatabase {
  readonly driver = 'better-sqlite3';
  readonly #db: BetterSqlite3.Database;

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
  }

  get open(): boolean {
    return this.#db.open;
  }

  exec(sql: string): void {
    this.#ensureOpen();
    this.#db.exec(sql);
  }

  prepare<Params extends unknown[] = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row> {
    this.#ensureOpen();
    const statement = this.#db.prepare<unknown[], Row>(sql);
    // Only statements that return rows may call get/all in better-sqlite3; node:sqlite gives
    // undefined / [] for the others, and so does this adapter.
    const reader = statement.reader;
    return {
      run: (...params) => {
        this.#ensureOpen();
        return { changes: statement.run(...params).changes };
      },
      get: (...params) => {
        this.#ensureOpen();
        if (!reader) {
          statement.run(...params);
          return undefined;
        }
        return statement.get(...params);
      },
      all: (...params) => {
        this.#ensureOpen();
        if (!reader) {
          statement.run(...params);
          return [];
        }
        return statement.all(...params);
      },
    };
  }

  transaction<Args extends unknown[], Result>(fn: (...args: Args) => Result): (...args: Args) => Result {
    // better-sqlite3 nests with savepoints itself; .immediate begins with BEGIN IMMEDIATE.
    const tx = this.#db.transaction(fn);
    return (...args) => {
      this.#ensureOpen();
      return tx.immediate(...args);
    };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #ensureOpen(): void {
    if (!this.#db.open) throw closedError();
  }
}
