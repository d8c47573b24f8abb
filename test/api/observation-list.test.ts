import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApiServer } from '../../src/api/api-server.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryObservationStore } from '../../src/store/memory-observation-store.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { SERVER_ADDRESS, clientRig, rigModel } from '../support/client-rig.js';

/*
 * GET /api/clients/{ep}/observations dates an observation by when the Observe was established
 * (Observation.createdAt, which the observation store keeps), not by when this process first
 * listed it, and says whether this process took it back after a restart.
 */

const ESTABLISHED = Date.UTC(2025, 0, 1, 0, 0, 5, 798);

describe('REST API: the observation list after a server restart', () => {
  it('shows createdAt from the store and restored: true for an observation taken back', async () => {
    const registrations = new MemoryRegistrationStore();
    const observations = new MemoryObservationStore();
    const rig = await clientRig({ server: { store: registrations, observationStore: observations } });
    let server2: LwM2mServer | undefined;
    try {
      const first = await rig.server.observe(rig.ep, '/3303/0/5700');
      for await (const p of observations.all()) await observations.put({ ...p, createdAt: ESTABLISHED });

      await rig.server.stop();
      server2 = new LwM2mServer({
        channel: rig.network.channel(SERVER_ADDRESS, 5683),
        model: rigModel,
        random: seededRandom(6),
        requestTimeout: 3000,
        store: registrations,
        observationStore: observations,
      });
      await server2.start();
      const app = await createApiServer({
        server: server2,
        stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 100 }), kind: 'memory' },
      });
      try {
        const fresh = await app.inject({
          method: 'POST',
          url: `/api/clients/${rig.ep}/3303/0/5701/observe`,
        });
        assert.equal(fresh.statusCode, 200, fresh.body);
        const freshId = fresh.json<{ observationId: string }>().observationId;

        const list = await app.inject({ method: 'GET', url: `/api/clients/${rig.ep}/observations` });
        assert.equal(list.statusCode, 200);
        const byId = new Map(list.json<{ id: string }[]>().map((o) => [o.id, o as Record<string, unknown>]));
        const restored = byId.get(first.id);
        assert.ok(restored, 'the taken-back observation is listed');
        assert.equal(restored.createdAt, new Date(ESTABLISHED).toISOString(), 'dated from the Observe');
        assert.equal(restored.restored, true);
        assert.equal(restored.notifications, 0);

        const made = byId.get(freshId);
        assert.ok(made);
        assert.equal(made.restored, false);
        const own = server2.observations(rig.ep).find((o) => o.id === freshId);
        assert.equal(made.createdAt, new Date(own!.createdAt).toISOString());
      } finally {
        await app.close();
      }
    } finally {
      await rig.client.stop().catch(() => undefined);
      await server2?.stop();
      await rig.close();
    }
  });
});
