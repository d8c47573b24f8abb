import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { ObservationNotification } from '../../src/server/observation.js';
import { MemoryObservationStore } from '../../src/store/memory-observation-store.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import type { PersistedObservation } from '../../src/store/observation-store.js';
import { seededRandom } from '../../src/random.js';
import { SERVER_ADDRESS, clientRig, rigModel } from '../support/client-rig.js';
import type { ClientRig } from '../support/client-rig.js';

/*
 * Observations outlive a server restart: the first server persists what it observes, a second one
 * started on the same stores (and address) takes them back, and the client's notifications keep
 * arriving, under the same observation id, without a new Observe or a new Register.
 */

async function storedObservations(store: MemoryObservationStore): Promise<PersistedObservation[]> {
  const out: PersistedObservation[] = [];
  for await (const o of store.all()) out.push(o);
  return out;
}

async function restartedServer(
  rig: ClientRig,
  registrations: MemoryRegistrationStore,
  observations: MemoryObservationStore,
): Promise<LwM2mServer> {
  await rig.server.stop();
  const server = new LwM2mServer({
    channel: rig.network.channel(SERVER_ADDRESS, 5683),
    model: rigModel,
    random: seededRandom(6),
    requestTimeout: 3000,
    store: registrations,
    observationStore: observations,
  });
  await server.start();
  return server;
}

interface Restart {
  readonly rig: ClientRig;
  readonly observations: MemoryObservationStore;
  /** Stops the rig's server and starts a second one on the same stores and address. */
  readonly restart: () => Promise<LwM2mServer>;
}

/** A rig whose server persists observations, and a second server started by `restart()`. */
async function withRestart(body: (r: Restart) => Promise<void>): Promise<void> {
  const registrations = new MemoryRegistrationStore();
  const observations = new MemoryObservationStore();
  const rig = await clientRig({ server: { store: registrations, observationStore: observations } });
  let server2: LwM2mServer | undefined;
  try {
    await body({
      rig,
      observations,
      restart: async () => (server2 = await restartedServer(rig, registrations, observations)),
    });
  } finally {
    // The client de-registers from the server that is up; then both go.
    await rig.client.stop().catch(() => undefined);
    await server2?.stop();
    await rig.close();
  }
}

function nextNotification(server: LwM2mServer): Promise<ObservationNotification> {
  return (once(server, 'notification') as Promise<[ObservationNotification]>).then(([n]) => n);
}

describe('observations across a server restart', () => {
  it('are persisted with their token and taken back by the next server process', () =>
    withRestart(async ({ rig, observations, restart }) => {
      const observation = await rig.server.observe(rig.ep, '/3303/0/5700');
      assert.equal(observation.response.values['/3303/0/5700'], 21.5);
      const [stored] = await storedObservations(observations);
      assert.ok(stored, 'the observation is in the store');
      assert.equal(stored.id, observation.id);
      assert.equal(stored.registrationId, rig.reg!.id);
      assert.deepEqual(stored.paths, ['/3303/0/5700']);
      assert.equal(stored.token, observation.response.token);

      const server2 = await restart();
      const restored = server2.observations(rig.ep);
      assert.equal(restored.length, 1);
      assert.equal(restored[0]!.id, observation.id);
      assert.equal(restored[0]!.restored, true);

      const notified = nextNotification(server2);
      rig.temperature.set(5700, 23.25);
      const n = await notified;
      assert.equal(n.observation.id, observation.id);
      assert.deepEqual(n.result.values, { '/3303/0/5700': 23.25 });
      assert.equal(rig.client.status(1)?.state, 'registered', 'the client did not re-register');

      // Cancelling the restored observation reaches the client and empties the store.
      const cancelled = await restored[0]!.cancel();
      assert.equal(cancelled?.code, '2.05');
      assert.deepEqual(await storedObservations(observations), []);
    }));

  it('drops stored observations whose registration is gone or replaced', () =>
    withRestart(async ({ rig, observations, restart }) => {
      const observation = await rig.server.observe(rig.ep, '/3303/0/5700');
      // A record from an older registration of the same endpoint, and one of an unknown endpoint.
      const stale: PersistedObservation = {
        id: 'stale-1',
        endpoint: rig.ep,
        registrationId: 'an-old-registration',
        token: '0102',
        paths: ['/3/0/9'],
        composite: false,
        resume: false,
        createdAt: 1,
      };
      await observations.put(stale);
      await observations.put({ ...stale, id: 'gone-1', endpoint: 'no-such-device' });
      const server2 = await restart();
      assert.deepEqual(
        server2.observations(rig.ep).map((o) => o.id),
        [observation.id],
      );
      assert.deepEqual(
        (await storedObservations(observations)).map((o) => o.id),
        [observation.id],
      );
    }));

  it('a graceful stop keeps them; a de-registration removes them', () =>
    withRestart(async ({ rig, observations, restart }) => {
      await rig.server.observeComposite(rig.ep, ['/3303/0/5700', '/3/0/9'], {
        attributes: { pmin: 1 },
      });
      const server2 = await restart();
      const [restored] = server2.observations(rig.ep);
      assert.ok(restored);
      assert.equal(restored.composite, true);
      assert.deepEqual(
        restored.paths.map((p) => p.toString()),
        ['/3303/0/5700', '/3/0/9'],
      );
      assert.deepEqual(restored.attributes, { pmin: 1 });
      const ended = once(restored, 'end');
      const deregistered = once(server2, 'deregistered');
      await rig.client.stop();
      await deregistered;
      assert.deepEqual(await ended, ['deregistered']);
      // The store's removal is not awaited by the server; give it its turn.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(await storedObservations(observations), []);
    }));
});
