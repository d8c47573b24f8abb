import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { openSqliteDatabase } from '../../src/store/sqlite-database.js';
import {
  SQLITE_DRIVER_ENV,
  type SqlDatabase,
  chooseSqliteDriver,
  loadSqliteDriver,
  sqliteDriverAvailable,
} from '../../src/store/sqlite-driver.js';
import { StoreOptionError, StoreUnavailableError } from '../../src/store/store-errors.js';
import { forEachSqliteDriver } from './sqlite-test-drivers.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
/** node:sqlite needs no flag from Node 22.13 on. */
const HAS_NODE_SQLITE = major > 22 || (major === 22 && minor >= 13);

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-driver-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function isUnavailable(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof StoreUnavailableError, String(e));
    assert.equal(e.code, 'PETREL_ERR_STORE_UNAVAILABLE');
    assert.match(e.message, pattern);
    return true;
  };
}

describe('chooseSqliteDriver', () => {
  it('picks node:sqlite where Node has it (22.13+), better-sqlite3 otherwise', () => {
    assert.equal(sqliteDriverAvailable('node:sqlite'), HAS_NODE_SQLITE);
    assert.equal(chooseSqliteDriver({}), HAS_NODE_SQLITE ? 'node:sqlite' : 'better-sqlite3');
    assert.equal(
      chooseSqliteDriver({ [SQLITE_DRIVER_ENV]: '' }),
      HAS_NODE_SQLITE ? 'node:sqlite' : 'better-sqlite3',
    );
  });

  it('on Node 24 the default driver never loads better-sqlite3 (its native module can abort there)', (t) => {
    if (major < 24) return t.skip('Node 24 only: below it better-sqlite3 runs here too');
    openSqliteDatabase(':memory:').close();
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    assert.deepEqual(
      loaded.filter((path) => /[\\/]better-sqlite3[\\/]/.test(path)),
      [],
    );
  });

  it(`follows ${SQLITE_DRIVER_ENV}, even to a driver this Node lacks (opening it then fails)`, () => {
    assert.equal(chooseSqliteDriver({ [SQLITE_DRIVER_ENV]: 'better-sqlite3' }), 'better-sqlite3');
    assert.equal(chooseSqliteDriver({ [SQLITE_DRIVER_ENV]: 'node:sqlite' }), 'node:sqlite');
  });

  for (const value of ['sqlite', 'Node:sqlite', 'better-sqlite3 ', 'x'.repeat(500)])
    it(`refuses ${SQLITE_DRIVER_ENV}=${JSON.stringify(value.slice(0, 20))} with a StoreOptionError`, () => {
      assert.throws(
        () => chooseSqliteDriver({ [SQLITE_DRIVER_ENV]: value }),
        (e: unknown) => {
          assert.ok(e instanceof StoreOptionError, String(e));
          assert.equal(e.code, 'PETREL_ERR_STORE_OPTION');
          assert.match(e.message, /PETREL_SQLITE_DRIVER must be node:sqlite or better-sqlite3, got "/);
          assert.ok(e.message.length < 200, 'a long value is cut short in the message');
          return true;
        },
      );
    });
});

describe('a driver this Node lacks', () => {
  const saved = process.env[SQLITE_DRIVER_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[SQLITE_DRIVER_ENV];
    else process.env[SQLITE_DRIVER_ENV] = saved;
  });

  it('node:sqlite below Node 22.13 is a StoreUnavailableError naming the way out', (t) => {
    if (HAS_NODE_SQLITE) return t.skip(`Node ${process.version} has node:sqlite`);
    assert.throws(
      () => loadSqliteDriver('node:sqlite'),
      isUnavailable(/node:sqlite is not available.*22\.13.*better-sqlite3/),
    );
  });

  it(`forced by ${SQLITE_DRIVER_ENV}, it fails openSqliteDatabase before anything is created`, (t) => {
    if (HAS_NODE_SQLITE) return t.skip(`Node ${process.version} has node:sqlite`);
    process.env[SQLITE_DRIVER_ENV] = 'node:sqlite';
    const folder = join(tempDir(), 'data');
    assert.throws(
      () => openSqliteDatabase(join(folder, 'petrel.db')),
      isUnavailable(/node:sqlite \(chosen by PETREL_SQLITE_DRIVER=node:sqlite\) is not available/),
    );
    assert.equal(existsSync(folder), false);
  });

  it(`a bad ${SQLITE_DRIVER_ENV} fails openSqliteDatabase with a StoreOptionError`, () => {
    process.env[SQLITE_DRIVER_ENV] = 'postgres';
    assert.throws(() => openSqliteDatabase(':memory:'), StoreOptionError);
  });
});

forEachSqliteDriver('SqlDatabase', (driver) => {
  let db: SqlDatabase;
  beforeEach(() => {
    db = loadSqliteDriver(driver).open(':memory:');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE, n REAL)');
  });
  afterEach(() => db.close());

  const values = () =>
    db
      .prepare<[], { v: string }>('SELECT v FROM t ORDER BY k')
      .all()
      .map((row) => row.v);

  it(`reports its driver (${driver}) and that it is open`, () => {
    assert.equal(db.driver, driver);
    assert.equal(db.open, true);
  });

  it('run / get / all with positional and @named parameters; integers as numbers', () => {
    const insert = db.prepare<[string, number | null]>('INSERT INTO t (v, n) VALUES (?, ?)');
    assert.deepEqual(insert.run('a', 1.5), { changes: 1 });
    assert.deepEqual(insert.run('b', null), { changes: 1 });
    const byName = db.prepare<[{ v: string }], { k: number; v: string; n: number | null }>(
      'SELECT k, v, n FROM t WHERE v = @v',
    );
    assert.deepEqual({ ...byName.get({ v: 'a' }) }, { k: 1, v: 'a', n: 1.5 });
    assert.deepEqual({ ...byName.get({ v: 'b' }) }, { k: 2, v: 'b', n: null });
    assert.equal(typeof byName.get({ v: 'a' })?.k, 'number');
    assert.deepEqual(values(), ['a', 'b']);
    assert.deepEqual(
      db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM t WHERE v > ?').get('a')?.n,
      1,
    );
  });

  it('get on no row is undefined and all on no row is empty', () => {
    const select = db.prepare<[string], { v: string }>('SELECT v FROM t WHERE v = ?');
    assert.equal(select.get('missing'), undefined);
    assert.deepEqual(select.all('missing'), []);
  });

  it('RETURNING rows through get; get/all on a statement without rows still run it', () => {
    db.prepare<[string]>('INSERT INTO t (v) VALUES (?)').run('a');
    const removed = db.prepare<[string], { v: string }>('DELETE FROM t WHERE v = ? RETURNING v').get('a');
    assert.equal(removed?.v, 'a');
    assert.equal(db.prepare<[string]>('INSERT INTO t (v) VALUES (?)').get('b'), undefined);
    assert.deepEqual(db.prepare<[string]>('INSERT INTO t (v) VALUES (?)').all('c'), []);
    assert.deepEqual(values(), ['b', 'c']);
    assert.deepEqual(db.prepare('DELETE FROM t').run(), { changes: 2 });
  });

  it('a constraint violation throws and leaves the database usable', () => {
    const insert = db.prepare<[string]>('INSERT INTO t (v) VALUES (?)');
    insert.run('a');
    assert.throws(() => insert.run('a'), /UNIQUE constraint failed/);
    insert.run('b');
    assert.deepEqual(values(), ['a', 'b']);
  });

  describe('transaction', () => {
    const insert = (v: string) => db.prepare<[string]>('INSERT INTO t (v) VALUES (?)').run(v);

    it('commits what the function did and returns its result, passing its arguments', () => {
      const both = db.transaction((a: string, b: string) => {
        insert(a);
        insert(b);
        return `${a}+${b}`;
      });
      assert.equal(both('x', 'y'), 'x+y');
      assert.deepEqual(values(), ['x', 'y']);
      assert.equal(both('z', 'w'), 'z+w', 'the wrapped function can run again');
      assert.deepEqual(values(), ['x', 'y', 'z', 'w']);
    });

    it('rolls everything back when the function throws, and rethrows that very error', () => {
      insert('before');
      const boom = new Error('boom');
      const failing = db.transaction(() => {
        insert('lost-1');
        insert('lost-2');
        throw boom;
      });
      assert.throws(failing, (e: unknown) => e === boom);
      assert.deepEqual(values(), ['before']);
      insert('after'); // no transaction left open
      assert.deepEqual(values(), ['before', 'after']);
    });

    it('rolls back on a failing statement inside (a constraint), leaving nothing half done', () => {
      insert('taken');
      const pair = db.transaction((a: string, b: string) => {
        insert(a);
        insert(b);
      });
      assert.throws(() => pair('new', 'taken'), /UNIQUE constraint failed/);
      assert.deepEqual(values(), ['taken']);
    });

    it('nests: an inner failure caught by the outer undoes only the inner work', () => {
      const inner = db.transaction((v: string, fail: boolean) => {
        insert(v);
        if (fail) throw new Error('inner');
      });
      const outer = db.transaction(() => {
        insert('outer-1');
        inner('inner-ok', false);
        assert.throws(() => inner('inner-lost', true), /inner/);
        insert('outer-2');
        return 'done';
      });
      assert.equal(outer(), 'done');
      assert.deepEqual(values(), ['outer-1', 'inner-ok', 'outer-2']);
    });

    it('nests: an outer failure undoes the inner work it had committed to its savepoint', () => {
      const inner = db.transaction((v: string) => insert(v));
      const outer = db.transaction(() => {
        inner('inner-1');
        db.transaction(() => inner('inner-2'))(); // two levels deep
        assert.deepEqual(values(), ['inner-1', 'inner-2']);
        throw new Error('outer');
      });
      assert.throws(outer, /outer/);
      assert.deepEqual(values(), []);
      insert('after');
      assert.deepEqual(values(), ['after']);
    });

    it('takes the write lock at once (BEGIN IMMEDIATE): another connection cannot write meanwhile', () => {
      const file = join(tempDir(), 'lock.db');
      const first = openSqliteDatabase(file, { driver });
      const second = openSqliteDatabase(file, { driver });
      try {
        first.exec('CREATE TABLE IF NOT EXISTS x (v TEXT)');
        second.exec('PRAGMA busy_timeout = 0');
        const write = second.prepare<[string]>('INSERT INTO x (v) VALUES (?)');
        first.transaction(() => {
          // first has not written yet, but holds the lock.
          assert.throws(() => write.run('blocked'), /locked|busy/i);
        })();
        write.run('free');
        assert.deepEqual(
          first
            .prepare<[], { v: string }>('SELECT v FROM x')
            .all()
            .map((r) => r.v),
          ['free'],
        );
      } finally {
        first.close();
        second.close();
      }
    });
  });

  it(':memory: databases are private to their handle', () => {
    db.prepare<[string]>('INSERT INTO t (v) VALUES (?)').run('mine');
    const other = loadSqliteDriver(driver).open(':memory:');
    try {
      assert.throws(() => other.prepare('SELECT v FROM t'), /no such table/);
    } finally {
      other.close();
    }
  });

  it('once closed: open is false, every call is a StoreUnavailableError, close again is harmless', () => {
    const select = db.prepare<[], { v: string }>('SELECT v FROM t');
    const tx = db.transaction(() => select.all());
    db.close();
    assert.equal(db.open, false);
    const closed = isUnavailable(/database connection is not open/);
    assert.throws(() => db.exec('SELECT 1'), closed);
    assert.throws(() => db.prepare('SELECT 1'), closed);
    assert.throws(() => select.get(), closed);
    assert.throws(() => select.all(), closed);
    assert.throws(() => select.run(), closed);
    assert.throws(tx, closed);
    db.close();
  });
});
