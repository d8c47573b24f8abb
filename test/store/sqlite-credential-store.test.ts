// SqliteCredentialStore's schema migration: a database file written before nextPsk existed (the
// first schema, no next_psk_identity column) opens, keeps its rows, and takes rotations.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { SqliteCredentialStore } from '../../src/store/sqlite-credential-store.js';
import { openSqliteDatabase } from '../../src/store/sqlite-database.js';
import type { SqlDatabase, SqliteDriverName } from '../../src/store/sqlite-driver.js';
import { CredentialConflictError } from '../../src/store/store-errors.js';
import { forEachSqliteDriver } from './sqlite-test-drivers.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-cred-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The credentials table exactly as the first schema made it, with one PSK row and one RPK row. */
function oldDatabase(driver: SqliteDriverName): SqlDatabase {
  const db = openSqliteDatabase(join(dir, `old-${files++}.db`), { driver });
  db.exec(`
    CREATE TABLE credentials (
      endpoint     TEXT PRIMARY KEY,
      psk_identity TEXT UNIQUE,
      data         TEXT NOT NULL
    );
  `);
  const insert = db.prepare<[string, string | null, string]>('INSERT INTO credentials VALUES (?, ?, ?)');
  insert.run('dev-a', 'id-a', JSON.stringify({ endpoint: 'dev-a', psk: { identity: 'id-a', key: '00ff' } }));
  insert.run('dev-r', null, JSON.stringify({ endpoint: 'dev-r', rpk: { publicKey: '30' } }));
  return db;
}

function columns(db: SqlDatabase): string[] {
  return db
    .prepare<[], { name: string }>('PRAGMA table_info(credentials)')
    .all()
    .map((c) => c.name);
}

forEachSqliteDriver('SqliteCredentialStore migration', (driver) => {
  it('adds next_psk_identity to a database of the first schema, keeping its rows', async () => {
    const db = oldDatabase(driver);
    try {
      assert.ok(!columns(db).includes('next_psk_identity'));
      const store = new SqliteCredentialStore({ db });
      assert.deepEqual(columns(db), ['endpoint', 'psk_identity', 'data', 'next_psk_identity']);
      assert.deepEqual(await store.get('dev-a'), {
        endpoint: 'dev-a',
        psk: { identity: 'id-a', key: '00ff' },
      });
      assert.equal((await store.getByPskIdentity('id-a'))?.endpoint, 'dev-a');
      assert.deepEqual(await store.get('dev-r'), { endpoint: 'dev-r', rpk: { publicKey: '30' } });

      await store.put({
        endpoint: 'dev-a',
        psk: { identity: 'id-a', key: '00ff' },
        nextPsk: { identity: 'id-a2', key: '0102' },
      });
      assert.equal((await store.getByPskIdentity('id-a2'))?.endpoint, 'dev-a');
      assert.equal((await store.getByPskIdentity('id-a'))?.endpoint, 'dev-a');
      await assert.rejects(
        store.put({ endpoint: 'dev-r', rpk: { publicKey: '30' }, nextPsk: { identity: 'id-a2', key: '01' } }),
        CredentialConflictError,
      );
      // The old psk_identity UNIQUE constraint still holds next to the new index.
      assert.throws(() =>
        db.prepare('INSERT INTO credentials VALUES (?, ?, ?, ?)').run('x', 'id-a', '{}', null),
      );
      assert.throws(() =>
        db.prepare('INSERT INTO credentials VALUES (?, ?, ?, ?)').run('y', null, '{}', 'id-a2'),
      );
    } finally {
      db.close();
    }
  });

  it('opening a migrated (or new) database again changes nothing', async () => {
    const db = oldDatabase(driver);
    try {
      const first = new SqliteCredentialStore({ db });
      await first.put({
        endpoint: 'dev-b',
        psk: { identity: 'id-b', key: '01' },
        nextPsk: { identity: 'id-b2', key: '02' },
      });
      const second = new SqliteCredentialStore({ db });
      assert.equal(columns(db).filter((c) => c === 'next_psk_identity').length, 1);
      assert.equal((await second.getByPskIdentity('id-b2'))?.nextPsk?.key, '02');
      assert.equal((await second.getByPskIdentity('id-a'))?.psk?.key, '00ff');
    } finally {
      db.close();
    }
    const fresh = openSqliteDatabase(join(dir, `new-${files++}.db`), { driver });
    try {
      new SqliteCredentialStore({ db: fresh });
      new SqliteCredentialStore({ db: fresh });
      assert.deepEqual(columns(fresh), ['endpoint', 'psk_identity', 'next_psk_identity', 'data']);
    } finally {
      fresh.close();
    }
  });
});
