// Two Petrel server nodes (each a LwM2mServer with its REST API and its own openStores bundle) on
// one real redis-server: a device registers with node A; node B's API lists it, shows its tags,
// and streams its events, including those A records after B subscribed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src/api/api-server.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { StoredEvent } from '../../src/store/event-log.js';
import { openStores } from '../../src/store/open-stores.js';
import type { Stores } from '../../src/store/stores.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { rigModel } from '../support/client-rig.js';
import { withRedisServer } from '../support/redis-server.js';

interface Node {
  readonly server: LwM2mServer;
  readonly stores: Stores;
  readonly api: FastifyInstance;
}

async function startNode(network: MemoryNetwork, address: string, redisUrl: string): Promise<Node> {
  const stores = await openStores(redisUrl, { prefix: '{fleet}:' });
  const server = new LwM2mServer({
    channel: network.channel(address, 5683),
    model: rigModel,
    random: seededRandom(address.length),
    store: stores.registrations,
    observationStore: stores.observations,
  });
  await server.start();
  const api = await createApiServer({ server, stores });
  return { server, stores, api };
}

async function getJson(api: FastifyInstance, url: string): Promise<unknown> {
  const res = await api.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, res.body);
  return JSON.parse(res.body) as unknown;
}

withRedisServer('two server nodes on one Redis', (redis) => {
  describe('two server nodes on one Redis', () => {
    it('node B lists, tags and streams a device that registered with node A', async () => {
      const network = new MemoryNetwork();
      const a = await startNode(network, '10.0.0.1', redis().url);
      const b = await startNode(network, '10.0.0.5', redis().url);
      const client = new LwM2mClient({
        endpoint: 'shared-dev',
        servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 300 }],
        model: rigModel,
        channel: network.channel('10.0.0.2', 56830),
        random: seededRandom(3),
      });
      const keepAlive = setInterval(() => undefined, 1000);
      const seenByB: StoredEvent[] = [];
      const unsubscribe = b.stores.events.subscribe((e) => seenByB.push(e));
      // B's subscriber connection must be listening before A publishes (pub/sub keeps nothing).
      await (b.stores.events as { whenSubscribed?: () => Promise<void> }).whenSubscribed?.();
      try {
        await client.start();
        const reg = await waitFor(async () => a.server.getRegistration('shared-dev'), 'the registration');

        const list = (await getJson(b.api, '/api/clients')) as {
          total: number;
          items: { endpoint: string; registrationId: string }[];
        };
        assert.deepEqual(
          list.items.map((c) => [c.endpoint, c.registrationId]),
          [['shared-dev', reg.id]],
        );

        // Tags put through A's API filter B's list.
        const tagged = await a.api.inject({
          method: 'PUT',
          url: '/api/clients/shared-dev/tags',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify({ tags: ['site:zurich'] }),
        });
        assert.equal(tagged.statusCode, 200, tagged.body);
        const filtered = (await getJson(b.api, '/api/clients?tag=site:zurich')) as { total: number };
        assert.equal(filtered.total, 1);

        // A recorded the registration; B's log has it, and B's subscriber got it live.
        await waitFor(
          () => Promise.resolve(seenByB.some((e) => e.type === 'registered' && e.endpoint === 'shared-dev')),
          'the live registered event on B',
        );
        const recent = (await getJson(b.api, '/api/events/recent?endpoint=shared-dev')) as StoredEvent[];
        assert.ok(recent.some((e) => e.type === 'registered'));

        // An Update to A reaches B's subscribers as well.
        await client.update(1);
        await waitFor(
          () => Promise.resolve(seenByB.some((e) => e.type === 'updated' && e.endpoint === 'shared-dev')),
          'the live updated event on B',
        );
      } finally {
        clearInterval(keepAlive);
        unsubscribe();
        await client.stop().catch(() => undefined);
        for (const node of [a, b]) {
          await node.api.close();
          await node.server.stop();
          await node.stores.close();
        }
      }
    });
  });
});

async function waitFor<T>(check: () => Promise<T | undefined | false>, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
