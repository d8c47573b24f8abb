import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryObservationStore } from '../../src/store/memory-observation-store.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { StoreOptionError } from '../../src/store/store-errors.js';
import {
  bootstrapConfigStoreContract,
  credentialStoreContract,
  eventLogContract,
  observationStoreContract,
  tagStoreContract,
} from './store-contract.js';

const subject = <T>(store: T) => Promise.resolve({ store, close: () => Promise.resolve() });

observationStoreContract('MemoryObservationStore', () => subject(new MemoryObservationStore()));
credentialStoreContract('MemoryCredentialStore', () => subject(new MemoryCredentialStore()));
bootstrapConfigStoreContract('MemoryBootstrapConfigStore', () => subject(new MemoryBootstrapConfigStore()));
tagStoreContract('MemoryTagStore', () => subject(new MemoryTagStore()));
eventLogContract('MemoryEventLog', (options) => subject(new MemoryEventLog(options)));

describe('MemoryEventLog', () => {
  it('refuses a capacity that is not a positive integer', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN, Infinity])
      assert.throws(() => new MemoryEventLog({ capacity }), StoreOptionError, String(capacity));
  });

  it('delivers synchronously within append, and reports a listener’s throw to onError', async () => {
    const errors: unknown[] = [];
    const log = new MemoryEventLog({ onError: (e) => errors.push(e) });
    const seen: number[] = [];
    log.subscribe(() => {
      throw new Error('boom');
    });
    log.subscribe((e) => seen.push(e.seq));
    const stored = await log.append({ type: 't', time: 1, data: {} });
    assert.deepEqual(seen, [stored.seq]);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /boom/);
  });

  it('a listener removed by an earlier listener of the same event gets no more', async () => {
    const log = new MemoryEventLog();
    const late: number[] = [];
    let offLate = (): void => undefined;
    log.subscribe(() => offLate());
    offLate = log.subscribe((e) => late.push(e.seq));
    await log.append({ type: 't', time: 1, data: {} });
    assert.deepEqual(late, []);
  });

  it('treats a capacity-sized ring as a ring: many wraps keep the newest in order', async () => {
    const log = new MemoryEventLog({ capacity: 3 });
    for (let i = 0; i < 100; i++) await log.append({ type: `e${i}`, time: i, data: {} });
    assert.deepEqual(
      (await log.recent()).map((e) => e.type),
      ['e97', 'e98', 'e99'],
    );
    assert.deepEqual(
      (await log.recent({ limit: Infinity })).map((e) => e.seq),
      [98, 99, 100],
    );
    assert.deepEqual(
      (await log.recent({ limit: Number.NaN })).map((e) => e.seq),
      [98, 99, 100],
      'an unparsable limit means the default',
    );
    assert.deepEqual(await log.recent({ limit: -4 }), []);
  });

  it('an empty types list filters nothing', async () => {
    const log = new MemoryEventLog();
    await log.append({ type: 'a', time: 1, data: {} });
    assert.equal((await log.recent({ types: [] })).length, 1);
  });
});
