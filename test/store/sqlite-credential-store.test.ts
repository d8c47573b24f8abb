// SqliteCredentialStore's schema migrations: a database file written before nextPsk existed (the
// first schema, no next_psk_identity column) opens, keeps its rows, and takes rotations; one
// written before raw public keys were indexed (no rpk_key) gets its keys indexed.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { SqliteCredentialStore } from '../../src/store/sqlite-credential-store.js';
import { openSqliteDatabase } from '../../src/store/sqlite-database.js';
import type { SqlDatabase, SqliteDriverName } from '../../src/store/sqlite-driver.js';
import { PublicKeyConflictError } from '../../src/store/public-key.js';
import { CredentialConflictError } from '../../src/store/store-errors.js';
import { forEachSqliteDriver } from './sqlite-test-drivers.js';

const spki = (): string =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .publicKey.export({ format: 'der', type: 'spki' })
    .toString('hex');

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
      assert.deepEqual(columns(db), ['endpoint', 'psk_identity', 'data', 'next_psk_identity', 'rpk_key']);
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
        db.prepare('INSERT INTO credentials VALUES (?, ?, ?, ?, ?)').run('x', 'id-a', '{}', null, null),
      );
      assert.throws(() =>
        db.prepare('INSERT INTO credentials VALUES (?, ?, ?, ?, ?)').run('y', null, '{}', 'id-a2', null),
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
      assert.equal(columns(db).filter((c) => c === 'rpk_key').length, 1);
      assert.equal((await second.getByPskIdentity('id-b2'))?.nextPsk?.key, '02');
      assert.equal((await second.getByPskIdentity('id-a'))?.psk?.key, '00ff');
    } finally {
      db.close();
    }
    const fresh = openSqliteDatabase(join(dir, `new-${files++}.db`), { driver });
    try {
      new SqliteCredentialStore({ db: fresh });
      new SqliteCredentialStore({ db: fresh });
      assert.deepEqual(columns(fresh), ['endpoint', 'psk_identity', 'next_psk_identity', 'data', 'rpk_key']);
    } finally {
      fresh.close();
    }
  });

  it('indexes the raw public keys of a database from before rpk_key, first holder of a shared key winning', async () => {
    const db = openSqliteDatabase(join(dir, `rpk-${files++}.db`), { driver });
    try {
      // The schema of the nextPsk session, before rpk_key.
      db.exec(`
        CREATE TABLE credentials (
          endpoint          TEXT PRIMARY KEY,
          psk_identity      TEXT UNIQUE,
          next_psk_identity TEXT,
          data              TEXT NOT NULL
        );
        CREATE UNIQUE INDEX credentials_next_psk_identity ON credentials (next_psk_identity);
      `);
      const [k1, k2] = [spki(), spki()];
      const insert = db.prepare<[string, string]>('INSERT INTO credentials (endpoint, data) VALUES (?, ?)');
      insert.run('dev-a', JSON.stringify({ endpoint: 'dev-a', rpk: { publicKey: k1.toUpperCase() } }));
      insert.run('dev-c', JSON.stringify({ endpoint: 'dev-c', rpk: { publicKey: k2 } }));
      insert.run('dev-b', JSON.stringify({ endpoint: 'dev-b', rpk: { publicKey: k2 } }));
      insert.run('dev-d', JSON.stringify({ endpoint: 'dev-d', rpk: { publicKey: '30' } }));
      const store = new SqliteCredentialStore({ db });
      assert.equal((await store.getByPublicKey(k1))?.endpoint, 'dev-a', 'found in another spelling');
      assert.equal(
        (await store.getByPublicKey(k2))?.endpoint,
        'dev-b',
        'the first by name keeps a shared key',
      );
      assert.equal((await store.get('dev-c'))?.rpk?.publicKey, k2, 'the other keeps its info');
      await assert.rejects(store.put({ endpoint: 'dev-c', rpk: { publicKey: k2 } }), PublicKeyConflictError);
      assert.throws(
        () => db.prepare('UPDATE credentials SET rpk_key = ? WHERE endpoint = ?').run(k1, 'dev-d'),
        'rpk_key is UNIQUE',
      );
      new SqliteCredentialStore({ db }); // again: no second backfill, nothing changes
      assert.equal((await store.getByPublicKey(k2))?.endpoint, 'dev-b');
    } finally {
      db.close();
    }
  });
});
