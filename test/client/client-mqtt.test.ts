// Our client against our server over the MQTT binding (mqtt://, through the embedded broker):
// registration, operations, observation, Update, De-register, and the /24 session settings.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedBroker } from '../../src/binding/mqtt/embedded-broker.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { TEMPERATURE_DEFINITION } from '../support/model-device.js';

const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION);

describe('LwM2mClient over mqtt:// (MQTT binding)', () => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let server: LwM2mServer;
  let client: LwM2mClient;
  let registration: Registration;
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5);

  before(async () => {
    broker = await startEmbeddedBroker({ address: '127.0.0.1', port: 0 });
    server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      model,
      mqtt: { url: broker.url, prefix: 'tenant-1' },
    });
    await server.start();
    client = new LwM2mClient({
      endpoint: 'mqtt-dev',
      servers: [
        {
          uri: broker.url,
          lifetime: 60,
          mqtt: { clientId: 'mqtt-dev-c1', keepAlive: 30, cleanSession: true },
        },
      ],
      mqtt: { prefix: 'tenant-1' },
      model,
      instances: [temperature],
      device: { supportedBindings: 'UM' },
    });
    const registered = once(server, 'registered') as Promise<[Registration]>;
    await client.start();
    [registration] = await registered;
  });

  after(async () => {
    await client?.stop();
    await server?.stop();
    await broker?.close();
  });

  it('registers over the binding: transport mqtt, binding M, the topic as the peer', () => {
    assert.equal(registration.transport, 'mqtt');
    assert.equal(registration.binding, 'M');
    assert.equal(registration.peer.address, 'tenant-1/lwm2m/rd/mqtt-dev');
  });

  it('keeps the broker session settings in /24, linked from /0/x/26', () => {
    const link = client.tree.read(LwM2mPath.of(0, 0, 26));
    assert.ok(link.ok);
    assert.deepEqual(link.value[0]?.value, { type: 'objlnk', value: { objectId: 24, instanceId: 0 } });
    const id = client.tree.read(LwM2mPath.of(24, 0, 6));
    assert.ok(id.ok);
    assert.equal(id.value[0]?.value?.value, 'mqtt-dev-c1');
  });

  it('serves Read, Write and Discover, and notifies an observation', async () => {
    assert.deepEqual((await server.read('mqtt-dev', '/3303/0/5700')).values, { '/3303/0/5700': 21.5 });
    assert.equal((await server.write('mqtt-dev', '/1/0/1', 120)).code, '2.04');
    assert.equal((await server.discover('mqtt-dev', '/3303/0')).code, '2.05');
    const observation = await server.observe('mqtt-dev', '/3303/0/5700');
    const next = once(observation, 'notification') as Promise<[{ result: { values: unknown } }]>;
    temperature.set(5700, 19);
    const [n] = await next;
    assert.deepEqual(n.result.values, { '/3303/0/5700': 19 });
  });

  it('sends an Update over the binding and De-registers on stop', async () => {
    const updated = once(server, 'updated') as Promise<[Registration]>;
    await client.registration.update();
    const [u] = await updated;
    assert.equal(u.transport, 'mqtt');
    const gone = once(server, 'deregistered');
    await client.stop();
    await gone;
  });
});

describe('LwM2mClient over mqtt:// with /0/x/27 (LwM2M COSE)', () => {
  it('refuses to register rather than send payloads the account wants COSE-protected', async () => {
    const broker = await startEmbeddedBroker({ address: '127.0.0.1', port: 0 });
    const client = new LwM2mClient({
      endpoint: 'mqtt-cose',
      servers: [{ uri: broker.url, lifetime: 60 }],
      model,
    });
    try {
      (client.tree.instance(0, 0) as MemoryInstance).set(27, [Value.objlnk(23, 0)]);
      const failed = once(client, 'registration-failed') as Promise<[{ reason: string }]>;
      await client.start();
      const [failure] = await failed;
      assert.match(failure.reason, /COSE protection of MQTT payloads \(Outer_Wrapper\) is not supported/);
    } finally {
      await client.stop();
      await broker.close();
    }
  });
});
