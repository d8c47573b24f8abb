import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import { openStores, parseStoreSpec } from '../../src/store/open-stores.js';
import { StoreOptionError, StoreSpecError, StoreUnavailableError } from '../../src/store/store-errors.js';
import { freeTcpPort } from '../support/redis-server.js';

describe('parseStoreSpec', () => {
  it('reads the three accepted forms', () => {
    assert.deepEqual(parseStoreSpec('memory'), { kind: 'memory' });
    assert.deepEqual(parseStoreSpec('sqlite:./data/petrel.db'), { kind: 'sqlite', file: './data/petrel.db' });
    assert.deepEqual(parseStoreSpec('sqlite::memory:'), { kind: 'sqlite', file: ':memory:' });
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://localhost:6379/2',
      'redis://user:secret@cache.example:6380/0',
      'rediss://cache.example:6380',
    ])
      assert.deepEqual(parseStoreSpec(url), { kind: 'redis', url });
  });

  for (const [spec, why] of [
    ['', /unknown store/],
    ['Memory', /unknown store/],
    ['sqlite:', /sqlite: needs a file/],
    ['./petrel.db', /unknown store/],
    ['mysql://db.example/petrel', /unknown scheme/],
    ['redis://', /not a valid URL|no host/],
    ['redis://host:6379/abc', /database must be a number/],
    ['redis://host:99999', /not a valid URL/],
  ] as const)
    it(`refuses ${JSON.stringify(spec)} with a StoreSpecError listing the accepted forms`, () => {
      assert.throws(
        () => parseStoreSpec(spec),
        (e: unknown) => {
          assert.ok(e instanceof StoreSpecError, String(e));
          assert.equal(e.code, 'PETREL_ERR_STORE_SPEC');
          assert.match(e.message, why);
          assert.match(
            e.message,
            /expected memory, sqlite:<file> .* or redis:\/\/\[user:password@\]host:port\[\/db\]/,
          );
          return true;
        },
      );
    });
});

describe('openStores', () => {
  it('memory: every store, working, and a close that may be called twice', async () => {
    const stores = await openStores('memory', { eventCapacity: 2 });
    assert.equal(stores.kind, 'memory');
    assert.ok(stores.registrations instanceof MemoryRegistrationStore);
    assert.ok(stores.events instanceof MemoryEventLog);
    assert.equal(stores.events.capacity, 2);
    await stores.tags.set('dev', ['a']);
    assert.deepEqual(await stores.tags.endpointsWith('a'), ['dev']);
    await stores.close();
    await stores.close();
  });

  it('rejects a bad spec and a bad capacity before opening anything', async () => {
    await assert.rejects(openStores('postgres://x'), StoreSpecError);
    await assert.rejects(openStores('memory', { eventCapacity: 0 }), StoreOptionError);
  });

  it('fails within a few seconds, with StoreUnavailableError, when Redis is unreachable', async () => {
    const port = await freeTcpPort(); // nothing listens there now
    const started = Date.now();
    await assert.rejects(openStores(`redis://user:hunter2@127.0.0.1:${port}/0`), (e: unknown) => {
      assert.ok(e instanceof StoreUnavailableError, String(e));
      assert.equal(e.code, 'PETREL_ERR_STORE_UNAVAILABLE');
      assert.match(
        e.message,
        new RegExp(`cannot reach Redis at redis://user:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0`),
      );
      assert.doesNotMatch(e.message, /hunter2/, 'the password stays out of the message');
      return true;
    });
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
    // No reconnect timer is left behind: node:test would wait for it and this file would not end.
  });
});
