// Every store on a real redis-server (Debian redis-server) on a free loopback port, started and
// stopped here: the same contract suites as the memory and SQLite stores, run through
// openStores(redis://…) bundles, plus what only a shared Redis gives: several server processes
// (here: several bundles, each with its own connections) seeing one fleet and one event stream.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { EventLog, StoredEvent } from '../../src/store/event-log.js';
import { openStores } from '../../src/store/open-stores.js';
import { RedisEventLog } from '../../src/store/redis-event-log.js';
import type { Stores } from '../../src/store/stores.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import {
  fullRegistration,
  registrationStoreContract,
  simpleRegistration,
} from '../store/registration-store-contract.js';
import {
  bootstrapConfigStoreContract,
  credentialStoreContract,
  eventLogContract,
  fullObservation,
  observationStoreContract,
  tagStoreContract,
  waitFor,
} from '../store/store-contract.js';
import { withRedisServer } from '../support/redis-server.js';

withRedisServer('Redis stores', (server) => {
  let n = 0;

  /** A bundle of its own key prefix (the tests share one redis-server). */
  const open = (eventCapacity?: number): Promise<Stores> =>
    openStores(server().url, {
      prefix: `{t${++n}}:`,
      ...(eventCapacity === undefined ? {} : { eventCapacity }),
    });
  const part =
    <T>(pick: (stores: Stores) => T) =>
    async () => {
      const stores = await open();
      return { store: pick(stores), close: () => stores.close() };
    };

  registrationStoreContract(
    'Redis (openStores)',
    part((s) => s.registrations),
  );
  observationStoreContract(
    'RedisObservationStore',
    part((s) => s.observations),
  );
  credentialStoreContract(
    'RedisCredentialStore',
    part((s) => s.credentials),
  );
  bootstrapConfigStoreContract('RedisBootstrapConfigStore', async () => {
    const prefix = `{t${++n}}:`;
    const stores = await openStores(server().url, { prefix });
    return {
      store: stores.bootstrapConfigs,
      close: () => stores.close(),
      // A new bundle (new connections) on the same server and prefix: a restarted server.
      reopen: async () => {
        const again = await openStores(server().url, { prefix });
        return { store: again.bootstrapConfigs, close: () => again.close() };
      },
      writeRawPending: async (endpoint: string, text: string) => {
        await server().probe.hset(`${prefix}bootstrap-pending`, endpoint, text);
      },
    };
  });
  tagStoreContract(
    'RedisTagStore',
    part((s) => s.tags),
  );
  eventLogContract('RedisEventLog', async ({ capacity }) => {
    const stores = await open(capacity);
    return { store: stores.events, close: () => stores.close() };
  });

  const pubsubClients = async (): Promise<number> =>
    ((await server().probe.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string)
      .split('\n')
      .filter((l) => l.trim()).length;

  describe('Redis stores shared by several server processes', () => {
    it('an event appended by one is delivered to a subscriber of the other; a registration put by one is seen by the other', async () => {
      const prefix = `{shared${++n}}:`;
      const a = await openStores(server().url, { prefix });
      const b = await openStores(server().url, { prefix });
      try {
        const got: StoredEvent[] = [];
        const off = b.events.subscribe((e) => got.push(e));
        assert.ok(b.events instanceof RedisEventLog);
        await b.events.whenSubscribed();
        const stored = await a.events.append({
          type: 'registered',
          time: 5,
          endpoint: 'dev',
          data: { via: 'a' },
        });
        await waitFor(() => got.length === 1, 'the event from the other process');
        assert.deepEqual(got, [stored]);
        assert.deepEqual(await b.events.recent(), [stored], 'and it is in the shared log');

        const reg = fullRegistration();
        await a.registrations.put(reg);
        assert.equal((await b.registrations.get(reg.endpoint))?.id, reg.id);
        await b.registrations.put(simpleRegistration(reg.endpoint, 'newer'));
        assert.equal(
          await a.registrations.getById(reg.id),
          undefined,
          'the replaced id is gone for everyone',
        );

        await a.observations.put(fullObservation({ endpoint: reg.endpoint }));
        assert.equal((await b.observations.byEndpoint(reg.endpoint)).length, 1);
        await b.tags.set(reg.endpoint, ['site:paris']);
        assert.deepEqual(await a.tags.endpointsWith('site:paris'), [reg.endpoint]);
        await a.credentials.put({ endpoint: 'dev-1', psk: { identity: 'shared-id', key: '00' } });
        await assert.rejects(
          b.credentials.put({ endpoint: 'dev-2', psk: { identity: 'shared-id', key: '01' } }),
          {
            code: 'PETREL_ERR_CREDENTIAL_CONFLICT',
          },
        );
        off();
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('seq is shared: appends from two processes interleave without a repeat', async () => {
      const prefix = `{shared${++n}}:`;
      const a = await openStores(server().url, { prefix });
      const b = await openStores(server().url, { prefix });
      try {
        const appends: Promise<StoredEvent>[] = [];
        for (let i = 0; i < 40; i++)
          appends.push((i % 2 ? a : b).events.append({ type: 't', time: i, data: { i } }));
        const seqs = (await Promise.all(appends)).map((e) => e.seq).sort((x, y) => x - y);
        assert.equal(new Set(seqs).size, 40);
        assert.deepEqual(
          (await a.events.recent()).map((e) => e.seq),
          seqs,
        );
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  describe('RedisEventLog subscriber connection', () => {
    it('opens on the first subscribe, closes with the last unsubscribe and on close()', async () => {
      const stores = await open();
      const log = stores.events as EventLog & RedisEventLog;
      try {
        assert.equal(await pubsubClients(), 0);
        const off1 = log.subscribe(() => undefined);
        const off2 = log.subscribe(() => undefined);
        await log.whenSubscribed();
        assert.equal(await pubsubClients(), 1, 'one connection for every listener');
        off1();
        assert.equal(await pubsubClients(), 1, 'still one listener');
        off2();
        await waitForAsync(async () => (await pubsubClients()) === 0, 'the subscriber connection to close');
        log.subscribe(() => undefined);
        await log.whenSubscribed();
        assert.equal(await pubsubClients(), 1, 'reopened for a new listener');
      } finally {
        await stores.close();
      }
      await waitForAsync(async () => (await pubsubClients()) === 0, 'close() to close the subscriber');
    });
  });

  describe('Redis registrations and expiry', () => {
    it('keeps a registration whose lifetime ran out (no TTL): a server started later expires it', async () => {
      const stores = await open();
      const network = new MemoryNetwork();
      const keepAlive = setInterval(() => undefined, 1000);
      const device = new CoapEndpoint({ channel: network.channel('10.0.0.2', 56830) });
      try {
        const stale = simpleRegistration('dev-stale', 'stale00001', Date.now() - 60_000);
        await stores.registrations.put(stale);
        const keys = (await server().probe.keys('*')).filter((k) => k.includes('stale'));
        assert.ok(keys.length > 0);
        for (const key of keys) assert.equal(await server().probe.ttl(key), -1, `${key} has no TTL`);
        const expired: string[] = [];
        const lwm2m = new LwM2mServer({
          channel: network.channel('10.0.0.1', 5683),
          store: stores.registrations,
        });
        lwm2m.on('expired', (reg) => expired.push(reg.endpoint));
        await lwm2m.start();
        await waitFor(() => expired.length === 1, 'the expired event');
        assert.deepEqual(expired, ['dev-stale']);
        assert.equal(await stores.registrations.get('dev-stale'), undefined);
        await lwm2m.stop();
      } finally {
        clearInterval(keepAlive);
        await device.close();
        await stores.close();
      }
    });
  });

  describe('Redis key namespace', () => {
    it('every key a bundle writes starts with its prefix', async () => {
      const prefix = `{ns${++n}}:`;
      const stores = await openStores(server().url, { prefix });
      try {
        await stores.registrations.put(fullRegistration());
        await stores.observations.put(fullObservation());
        await stores.credentials.put({ endpoint: 'dev', psk: { identity: 'i', key: '00' } });
        await stores.bootstrapConfigs.put('dev', { a: 1 });
        await stores.tags.set('dev', ['x']);
        await stores.events.append({ type: 't', time: 1, data: {} });
        const before = new Set(await server().probe.keys('*'));
        const mine = [...before].filter((k) => k.startsWith(prefix)).sort();
        assert.deepEqual(
          mine.map((k) => k.slice(prefix.length).replace(/:.*/, ':…')),
          [
            'bootstrap',
            'cred',
            'cred-psk',
            'endpoints',
            'events',
            'events:…',
            'expiry',
            'id:…',
            'obs',
            'obs-ep:…',
            'obs-owner',
            'psk',
            'reg:…',
            'tag:…',
            'tagged',
            'tags:…',
          ],
        );
      } finally {
        await stores.close();
      }
    });
  });

  describe('Redis connections', () => {
    it('every bundle closed its connections (only the probe is left)', async () => {
      await waitForAsync(
        async () => ((await server().probe.call('CLIENT', 'LIST')) as string).trim().split('\n').length === 1,
        'connections to close',
      );
    });
  });
});

async function waitForAsync(condition: () => Promise<boolean>, label: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
