// Our client against our server, end to end over an in-memory network: registration, every
// DM operation in the formats a 1.2 client speaks, observation with notifications, Send, Update
// triggers, version fallback and Profile IDs.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { MemoryInstance } from '../../src/client/instance.js';
import { LwM2mClient, LwM2mClientError } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { TEMPERATURE_DEFINITION } from '../support/model-device.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from '../support/test-model.js';

const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION).add(TEST_OBJECT_DEFINITION);

async function rig(
  client: Partial<LwM2mClientOptions> = {},
  server: Partial<LwM2mServerOptions> = {},
  endpoint = 'petrel-client-1',
) {
  const network = new MemoryNetwork();
  const srv = new LwM2mServer({
    channel: network.channel('10.0.0.1', 5683),
    model,
    random: seededRandom(5),
    requestTimeout: 3000,
    ...server,
  });
  await srv.start();
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5).set(5701, 'Cel');
  const cli = new LwM2mClient({
    endpoint,
    servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 300 }],
    model,
    channel: network.channel('10.0.0.2', 56830),
    random: seededRandom(9),
    device: { manufacturer: 'Petrel', modelNumber: 'sim-1' },
    instances: [temperature, new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0).set(5, 'zero')],
    ...client,
  });
  const keepAlive = setInterval(() => undefined, 1000);
  return {
    server: srv,
    client: cli,
    temperature,
    close: async () => {
      clearInterval(keepAlive);
      await cli.stop();
      await srv.stop();
    },
  };
}

/** Starts the client; resolves once both sides consider it registered. */
async function registered(server: LwM2mServer, client: LwM2mClient): Promise<Registration> {
  const event = once(server, 'registered') as Promise<[Registration]>;
  const clientSide = once(client, 'registered');
  await client.start();
  await clientSide;
  return (await event)[0];
}

describe('LwM2mClient against LwM2mServer', () => {
  it('registers with its object list and answers reads in every format', async () => {
    const { server, client, close } = await rig();
    try {
      const reg = await registered(server, client);
      assert.equal(reg.endpoint, 'petrel-client-1');
      assert.equal(reg.lwm2mVersion, '1.2');
      assert.equal(reg.lifetime, 300);
      const ids = reg.objects.map((o) => o.id);
      assert.ok(ids.includes(1) && ids.includes(3) && ids.includes(3303), ids.join(','));
      assert.ok(!ids.includes(0), 'the Security object is never announced');
      for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor', 'lwm2m-json']) {
        const result = await server.read(reg.endpoint, '/3/0', { format });
        assert.equal(result.code, '2.05', format);
        assert.equal(result.format, format);
        assert.equal(result.values['/3/0/0'], 'Petrel', format);
        assert.equal(result.values['/3/0/1'], 'sim-1', format);
      }
      const single = await server.read(reg.endpoint, '/3303/0/5700');
      assert.equal(single.format, 'text');
      assert.deepEqual(single.values, { '/3303/0/5700': 21.5 });
      assert.equal((await server.read(reg.endpoint, '/3/0/4')).code, '4.05', 'Reboot is not readable');
      assert.equal((await server.read(reg.endpoint, '/3303/9')).code, '4.04');
    } finally {
      await close();
    }
  });

  it('applies writes (replace and partial), create and delete, and answers Discover with attributes', async () => {
    const { server, client, close } = await rig();
    try {
      const reg = await registered(server, client);
      assert.equal((await server.write(reg.endpoint, '/3/0/14', '+02:00')).code, '2.04');
      assert.deepEqual(
        client.read('/3/0/14').map((r) => r.value?.value),
        ['+02:00'],
      );
      assert.equal((await server.write(reg.endpoint, '/3303/0/5701', 'K')).code, '4.05', '5701 is read-only');
      // Replace vs partial update of a multiple resource (LWM2M-1.2.md §1.3, the /34 example).
      const T = `/${TEST_OBJECT}/0`;
      await server.write(reg.endpoint, `${T}/15`, { [`${T}/15/0`]: 'Red', [`${T}/15/1`]: 'Green' });
      await server.write(
        reg.endpoint,
        `${T}/15`,
        { [`${T}/15/1`]: 'Yellow', [`${T}/15/3`]: 'Blue' },
        { mode: 'update' },
      );
      assert.deepEqual((await server.read(reg.endpoint, `${T}/15`)).values, {
        [`${T}/15/0`]: 'Red',
        [`${T}/15/1`]: 'Yellow',
        [`${T}/15/3`]: 'Blue',
      });
      await server.write(reg.endpoint, `${T}/15`, { [`${T}/15/1`]: 'Yellow', [`${T}/15/3`]: 'Blue' });
      assert.deepEqual(Object.keys((await server.read(reg.endpoint, `${T}/15`)).values), [
        `${T}/15/1`,
        `${T}/15/3`,
      ]);
      const created = await server.create(reg.endpoint, `/${TEST_OBJECT}`, { '/5': 'made', '/6': -4 });
      assert.equal(created.code, '2.01');
      assert.equal(created.location, `/${TEST_OBJECT}/1`);
      assert.deepEqual((await server.read(reg.endpoint, `/${TEST_OBJECT}/1/6`)).values, {
        [`/${TEST_OBJECT}/1/6`]: -4,
      });
      assert.equal((await server.delete(reg.endpoint, `/${TEST_OBJECT}/1`)).code, '2.02');
      assert.equal((await server.read(reg.endpoint, `/${TEST_OBJECT}/1`)).code, '4.04');
      assert.equal(
        (await server.writeAttributes(reg.endpoint, '/3303/0/5700', { pmin: 5, gt: 30 })).code,
        '2.04',
      );
      const found = await server.discover(reg.endpoint, '/3303/0');
      const link = found.links?.find((l) => l.target === '/3303/0/5700');
      assert.deepEqual(
        link?.params.map((p) => `${p.name}=${String(p.value)}`),
        ['pmin=5', 'gt=30'],
      );
    } finally {
      await close();
    }
  });

  it('notifies observed values and sends an Update when its lifetime is written or the trigger runs', async () => {
    const { server, client, temperature, close } = await rig();
    try {
      const reg = await registered(server, client);
      const observation = await server.observe(reg.endpoint, '/3303/0/5700');
      assert.deepEqual(observation.response.values, { '/3303/0/5700': 21.5 });
      const next = once(observation, 'notification') as Promise<[{ result: { values: unknown } }]>;
      temperature.set(5700, 23.25);
      const [n] = await next;
      assert.deepEqual(n.result.values, { '/3303/0/5700': 23.25 });

      const updated = once(server, 'updated') as Promise<[Registration]>;
      assert.equal((await server.write(reg.endpoint, '/1/0/1', 900)).code, '2.04');
      assert.equal((await updated)[0].lifetime, 900);

      const triggered = once(server, 'updated');
      assert.equal((await server.execute(reg.endpoint, '/1/0/8')).code, '2.04');
      await triggered;
    } finally {
      await close();
    }
  });

  it('sends values to the server, and refuses to when Mute Send is on', async () => {
    const { server, client, close } = await rig();
    try {
      await registered(server, client);
      const sent = once(server, 'send') as Promise<[{ result: { values: Record<string, unknown> } }]>;
      const response = await client.send(['/3303/0/5700', '/3/0/0']);
      assert.equal(response.code, '2.04');
      const [event] = await sent;
      assert.deepEqual(event.result.values, { '/3303/0/5700': 21.5, '/3/0/0': 'Petrel' });
      await server.write('petrel-client-1', '/1/0/23', true);
      await assert.rejects(
        client.send(['/3/0/0']),
        (e: unknown) => e instanceof LwM2mClientError && e.reason === 'send-muted',
      );
    } finally {
      await close();
    }
  });

  it('falls back to LwM2M 1.1 when the server answers 4.12, and speaks 1.1 afterwards', async () => {
    const { server, client, close } = await rig({}, { versions: ['1.1'] });
    try {
      const reg = await registered(server, client);
      assert.equal(reg.lwm2mVersion, '1.1');
      const result = await server.read(reg.endpoint, '/3/0');
      assert.equal(result.code, '2.05');
      assert.ok(['tlv', 'senml-json', 'senml-cbor'].includes(String(result.format)));
    } finally {
      await close();
    }
  });

  it('registers by Profile ID: the server learns the dynamic id', async () => {
    const { server, client, close } = await rig({ profileId: 'dynamic' });
    try {
      const reg = await registered(server, client);
      assert.equal(reg.profileIds.length, 1);
      assert.match(reg.profileIds[0]!, /^6:[0-9a-f]{8}$/);
      assert.ok(reg.objects.some((o) => o.id === 3303));
    } finally {
      await close();
    }
  });

  it('de-registers on stop', async () => {
    const { server, client, close } = await rig();
    try {
      await registered(server, client);
      const gone = once(server, 'deregistered');
      await client.stop();
      await gone;
      assert.equal(await server.getRegistration('petrel-client-1'), undefined);
    } finally {
      await close();
    }
  });
});
