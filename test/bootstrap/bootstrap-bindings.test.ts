// The Bootstrap-Server over CoAP over TCP (coap+tcp://) and over the MQTT binding's `bs`
// interface: an empty client bootstraps there and registers where its configuration sends it
// (a coap+tcp:// and an mqtt:// LwM2M server), on real loopback sockets and an embedded broker.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { startEmbeddedBroker } from '../../src/binding/mqtt/embedded-broker.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const local = { address: '127.0.0.1', port: 0 };

function configTo(uri: string) {
  return {
    servers: [
      {
        shortServerId: 101,
        uri,
        lifetime: 300,
        binding: uri.startsWith('mqtt') ? 'M' : 'T',
        security: { mode: 'nosec' },
      },
    ],
  };
}

describe('bootstrap over other bindings', () => {
  it('coap+tcp://: Bootstrap-Request, the configuration, then Register over TCP', async () => {
    const dm = new LwM2mServer({ udp: local, tcp: local });
    await dm.start();
    closers.push(() => dm.stop());
    const configs = new MemoryBootstrapConfigStore();
    await configs.put('bs-tcp', configTo(`coap+tcp://127.0.0.1:${dm.listening('tcp')!.port}`));
    const bs = new BootstrapServer({ configs, udp: local, tcp: local });
    await bs.start();
    closers.push(() => bs.stop());
    const client = new LwM2mClient({
      endpoint: 'bs-tcp',
      servers: [],
      bootstrap: { server: { uri: `coap+tcp://127.0.0.1:${bs.listening('tcp')!.port}` } },
      device: { supportedBindings: 'UT' },
    });
    closers.push(() => client.stop());
    const finished = once(bs, 'session-finished') as Promise<
      [{ outcome?: { status: string }; transport: string }]
    >;
    const registered = once(dm, 'registered') as Promise<[Registration]>;
    await client.start();
    const [session] = await finished;
    assert.equal(session.outcome?.status, 'succeeded');
    assert.equal(session.transport, 'tcp');
    const [reg] = await registered;
    assert.equal(reg.transport, 'tcp');
  });

  it('mqtt:// (the bs interface): Bootstrap-Request over the broker, then Register over MQTT', async () => {
    const broker = await startEmbeddedBroker(local);
    closers.push(() => broker.close());
    const dm = new LwM2mServer({ udp: local, mqtt: { url: broker.url } });
    await dm.start();
    closers.push(() => dm.stop());
    const configs = new MemoryBootstrapConfigStore();
    await configs.put('bs-mqtt', configTo(broker.url));
    const bs = new BootstrapServer({ configs, udp: local, mqtt: { url: broker.url } });
    await bs.start();
    closers.push(() => bs.stop());
    const client = new LwM2mClient({
      endpoint: 'bs-mqtt',
      servers: [],
      bootstrap: { server: { uri: broker.url } },
      device: { supportedBindings: 'UM' },
    });
    closers.push(() => client.stop());
    const finished = once(bs, 'session-finished') as Promise<
      [{ outcome?: { status: string }; transport: string }]
    >;
    const registered = once(dm, 'registered') as Promise<[Registration]>;
    await client.start();
    const [session] = await finished;
    assert.equal(session.outcome?.status, 'succeeded');
    assert.equal(session.transport, 'mqtt');
    const [reg] = await registered;
    assert.equal(reg.transport, 'mqtt');
    assert.equal(reg.peer.address, 'lwm2m/rd/bs-mqtt');
  });
});
