import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStores } from '../../src/store/open-stores.js';
import { SqliteBootstrapConfigStore } from '../../src/store/sqlite-bootstrap-config-store.js';
import { SqliteCredentialStore } from '../../src/store/sqlite-credential-store.js';
import { openSqliteDatabase } from '../../src/store/sqlite-database.js';
import { SQLITE_DRIVER_ENV, type SqlDatabase, type SqliteDriverName } from '../../src/store/sqlite-driver.js';
import { SqliteEventLog } from '../../src/store/sqlite-event-log.js';
import { SqliteObservationStore } from '../../src/store/sqlite-observation-store.js';
import { SqliteRegistrationStore } from '../../src/store/sqlite-registration-store.js';
import { SqliteTagStore } from '../../src/store/sqlite-tag-store.js';
import { StoreUnavailableError } from '../../src/store/store-errors.js';
import { canonical, fullRegistration, registrationStoreContract } from './registration-store-contract.js';
import {
  bootstrapConfig,
  bootstrapConfigStoreContract,
  credentialStoreContract,
  eventLogContract,
  fullObservation,
  observationStoreContract,
  tagStoreContract,
} from './store-contract.js';
import { forEachSqliteDriver } from './sqlite-test-drivers.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-'));
  dirs.push(dir);
  return join(dir, 'data', 'petrel.db');
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A store on its own database file (every store shares its file with none but itself here). */
function onFile<T>(driver: SqliteDriverName, build: (db: SqlDatabase) => T) {
  return () => {
    const db = openSqliteDatabase(tempFile(), { driver });
    return Promise.resolve({
      store: build(db),
      close: () => {
        db.close();
        return Promise.resolve();
      },
    });
  };
}

/** openStores picks its driver from the environment: the suite's own while it runs. */
function forceDriver(driver: SqliteDriverName): void {
  const saved = process.env[SQLITE_DRIVER_ENV];
  before(() => {
    process.env[SQLITE_DRIVER_ENV] = driver;
  });
  after(() => {
    if (saved === undefined) delete process.env[SQLITE_DRIVER_ENV];
    else process.env[SQLITE_DRIVER_ENV] = saved;
  });
}

forEachSqliteDriver('SQLite stores', (driver) => {
  observationStoreContract(
    'SqliteObservationStore',
    onFile(driver, (db) => new SqliteObservationStore({ db })),
  );
  credentialStoreContract(
    'SqliteCredentialStore',
    onFile(driver, (db) => new SqliteCredentialStore({ db })),
  );
  bootstrapConfigStoreContract('SqliteBootstrapConfigStore', () => {
    const file = tempFile();
    const open = () => {
      const db = openSqliteDatabase(file, { driver });
      const close = () => {
        db.close();
        return Promise.resolve();
      };
      return { db, store: new SqliteBootstrapConfigStore({ db }), close };
    };
    const { db, store, close } = open();
    return Promise.resolve({
      store,
      close,
      reopen: () => {
        const next = open();
        return Promise.resolve({ store: next.store, close: next.close });
      },
      writeRawPending: (endpoint: string, text: string) => {
        db.prepare<[string, string]>(
          'INSERT OR REPLACE INTO bootstrap_pending (endpoint, data) VALUES (?, ?)',
        ).run(endpoint, text);
        return Promise.resolve();
      },
    });
  });
  tagStoreContract(
    'SqliteTagStore',
    onFile(driver, (db) => new SqliteTagStore({ db })),
  );
  eventLogContract('SqliteEventLog', (options) =>
    onFile(driver, (db) => new SqliteEventLog({ db, ...options }))(),
  );
  registrationStoreContract(
    'SqliteRegistrationStore (shared database)',
    onFile(driver, (db) => new SqliteRegistrationStore({ db })),
  );

  describe('SQLite stores', () => {
    forceDriver(driver);

    it('keep everything across a close and reopen of the file (a server restart)', async () => {
      const file = tempFile();
      const first = await openStores(`sqlite:${file}`);
      assert.equal(first.kind, 'sqlite');
      const reg = fullRegistration();
      const obs = fullObservation({ endpoint: reg.endpoint, registrationId: reg.id });
      await first.registrations.put(reg);
      await first.observations.put(obs);
      await first.credentials.put({ endpoint: reg.endpoint, psk: { identity: 'id-1', key: '00ff' } });
      await first.bootstrapConfigs.put(reg.endpoint, bootstrapConfig());
      await first.tags.set(reg.endpoint, ['site:paris', 'fw-beta']);
      const e1 = await first.events.append({
        type: 'registered',
        time: 1,
        endpoint: reg.endpoint,
        data: { id: reg.id },
      });
      await first.close();
      await first.close(); // idempotent

      const second = await openStores(`sqlite:${file}`);
      try {
        assert.deepEqual(canonical(await second.registrations.get(reg.endpoint)), canonical(reg));
        assert.deepEqual(canonical(await second.observations.byEndpoint(reg.endpoint)), canonical([obs]));
        assert.equal((await second.credentials.getByPskIdentity('id-1'))?.endpoint, reg.endpoint);
        assert.deepEqual(
          canonical(await second.bootstrapConfigs.get(reg.endpoint)),
          canonical(bootstrapConfig()),
        );
        assert.deepEqual([...(await second.tags.get(reg.endpoint))], ['site:paris', 'fw-beta']);
        assert.deepEqual(await second.tags.endpointsWith('fw-beta'), [reg.endpoint]);
        assert.deepEqual(canonical(await second.events.recent()), canonical([e1]));
        const e2 = await second.events.append({ type: 'updated', time: 2, data: {} });
        assert.ok(e2.seq > e1.seq, 'seq continues after a restart');
      } finally {
        await second.close();
      }
    });

    it('a log reopened with a smaller capacity keeps only the newest that fit', async () => {
      const file = tempFile();
      const first = await openStores(`sqlite:${file}`, { eventCapacity: 10 });
      for (let i = 0; i < 10; i++) await first.events.append({ type: `e${i}`, time: i, data: {} });
      await first.close();
      const second = await openStores(`sqlite:${file}`, { eventCapacity: 3 });
      try {
        assert.deepEqual(
          (await second.events.recent({ limit: 100 })).map((e) => e.type),
          ['e7', 'e8', 'e9'],
        );
      } finally {
        await second.close();
      }
    });

    it('seq never repeats, even when every event but the newest was trimmed', async () => {
      const db = openSqliteDatabase(tempFile(), { driver });
      try {
        const log = new SqliteEventLog({ db, capacity: 1 });
        const seqs: number[] = [];
        for (let i = 0; i < 5; i++) seqs.push((await log.append({ type: 't', time: i, data: {} })).seq);
        assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
        assert.deepEqual(
          (await log.recent()).map((e) => e.seq),
          [5],
        );
      } finally {
        db.close();
      }
    });

    it('a registration store on a shared database leaves it open when closed', async () => {
      const db = openSqliteDatabase(tempFile(), { driver });
      try {
        const registrations = new SqliteRegistrationStore({ db });
        const tags = new SqliteTagStore({ db });
        registrations.close();
        assert.deepEqual([...(await tags.set('dev', ['still-open']))], ['still-open']);
        assert.ok(db.open);
      } finally {
        db.close();
      }
    });

    it('a database error surfaces as a rejected promise, not a synchronous throw', async () => {
      const db = openSqliteDatabase(tempFile(), { driver });
      const tags = new SqliteTagStore({ db });
      db.close();
      const result = tags.set('dev', ['x']);
      assert.ok(result instanceof Promise);
      await assert.rejects(result, (e: unknown) => {
        assert.ok(e instanceof StoreUnavailableError, String(e));
        assert.match(e.message, /database connection is not open/);
        return true;
      });
    });

    it('opens the file with the driver asked for, in WAL, synchronous=NORMAL, busy_timeout=5000', () => {
      const db = openSqliteDatabase(tempFile(), { driver });
      try {
        assert.equal(db.driver, driver);
        const pragma = (name: string) => ({
          ...db.prepare<[], Record<string, unknown>>(`PRAGMA ${name}`).get(),
        });
        assert.deepEqual(pragma('journal_mode'), { journal_mode: 'wal' });
        assert.deepEqual(pragma('synchronous'), { synchronous: 1 });
        assert.deepEqual(pragma('busy_timeout'), { timeout: 5000 });
      } finally {
        db.close();
      }
    });

    it('a file that cannot be opened is a StoreUnavailableError', async () => {
      const file = tempFile();
      const blocker = openSqliteDatabase(file, { driver });
      blocker.close();
      // The database path is a folder now: SQLite cannot open it as a file.
      await assert.rejects(openStores(`sqlite:${join(file, '..')}`), StoreUnavailableError);
    });
  });
});
