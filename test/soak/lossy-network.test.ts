// Our client and server over real UDP through a hostile network: a proxy process (test/support/
// udp-fault-proxy.ts) loses 30% of the datagrams each way, duplicates 10% and delays each copy by
// 0-30 ms (so they reorder). With the retransmission limit raised (and a short ACK_TIMEOUT, so
// the test is quick) every procedure completes, and nothing is done twice: the CoAP layers
// deduplicate what the network repeats.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { MemoryInstance } from '../../src/client/instance.js';
import type { ExecuteArgumentInput, TreeResult } from '../../src/client/instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { TEMPERATURE_DEFINITION } from '../support/model-device.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from '../support/test-model.js';
import { startFaultProxy, type FaultProxy } from '../support/udp-fault-proxy.js';

const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION).add(TEST_OBJECT_DEFINITION);
/** Short timers, many retransmissions: at 30% loss each way a round trip fails half the time. */
const transmission = { ackTimeout: 60, ackRandomFactor: 1.5, maxRetransmit: 16 };
const FAULTS = { drop: 0.3, duplicate: 0.1, delay: { min: 0, max: 30 } };

/** TEST_OBJECT /42769/0 that counts what reaches the application. */
class CountingInstance extends MemoryInstance {
  writes: LwM2mRecord[][] = [];
  executes = 0;

  override write(records: readonly LwM2mRecord[], mode: 'replace' | 'update'): TreeResult<void> {
    this.writes.push([...records]);
    return super.write(records, mode);
  }

  override execute(
    resourceId: number,
    args: readonly ExecuteArgumentInput[],
  ): ReturnType<MemoryInstance['execute']> {
    if (resourceId === 9) this.executes++;
    return super.execute(resourceId, args);
  }
}

describe('LwM2M over a lossy network (UDP fault proxy: 30% loss, 10% duplicates, reordering)', () => {
  let channel: UdpChannel;
  let server: LwM2mServer;
  let proxy: FaultProxy;
  let client: LwM2mClient;
  let registration: Registration;
  const registered: Registration[] = [];
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 20).set(5701, 'Cel');
  const counting = new CountingInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0).set(5, 'start').onExecute(9);
  let keepAlive: ReturnType<typeof setInterval>;

  before(async () => {
    keepAlive = setInterval(() => undefined, 1000);
    channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    server = new LwM2mServer({ channel, model, requestTimeout: 60_000, coap: { transmission } });
    server.on('registered', (reg) => registered.push(reg));
    await server.start();
    proxy = await startFaultProxy({
      upstream: { address: '127.0.0.1', port: channel.local.port },
      seed: 7,
      ...FAULTS,
    });
    client = new LwM2mClient({
      endpoint: 'lossy-1',
      servers: [{ uri: `coap://127.0.0.1:${proxy.port}`, lifetime: 600 }],
      model,
      udp: { address: '127.0.0.1', port: 0 },
      coap: { transmission },
      instances: [temperature, counting],
    });
    const first = once(server, 'registered');
    const accepted = once(client.registration, 'registered'); // the 2.01 too may need retries
    await client.start();
    [registration] = (await first) as [Registration];
    await accepted;
  });

  after(async () => {
    await client?.stop();
    await proxy?.close();
    await server?.stop();
    await channel?.close();
    clearInterval(keepAlive);
  });

  it('registers once, and every Update is one Update', async () => {
    let updates = 0;
    server.on('updated', () => updates++);
    for (let i = 0; i < 5; i++) await client.update();
    assert.equal(updates, 5);
    assert.equal(registered.length, 1, 'one Register reached the application');
    const regs = await server.registrations();
    assert.deepEqual(
      regs.map((r) => [r.endpoint, r.id]),
      [['lossy-1', registration.id]],
    );
  });

  it('20 Writes and 20 Executes reach the client exactly once each, in order', async () => {
    for (let i = 0; i < 20; i++) {
      const w = await server.write('lossy-1', `/${TEST_OBJECT}/0/5`, `v${i}`);
      assert.equal(w.code, '2.04', `write ${i}: ${w.code}`);
      const x = await server.execute('lossy-1', `/${TEST_OBJECT}/0/9`);
      assert.equal(x.code, '2.04', `execute ${i}: ${x.code}`);
    }
    assert.equal(counting.writes.length, 20);
    assert.deepEqual(
      counting.writes.map((records) => records[0]?.value?.value),
      Array.from({ length: 20 }, (_, i) => `v${i}`),
    );
    assert.equal(counting.executes, 20);
  });

  it('a 12 KiB opaque value goes both ways block-wise, intact and written once', async () => {
    const image = Uint8Array.from({ length: 12 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
    const before = counting.writes.length;
    const hex = Buffer.from(image).toString('hex');
    const w = await server.write('lossy-1', `/${TEST_OBJECT}/0/3`, { hex });
    assert.equal(w.code, '2.04');
    assert.equal(counting.writes.length, before + 1, 'the reassembled body was written once');
    const r = await server.read('lossy-1', `/${TEST_OBJECT}/0/3`);
    assert.equal(r.code, '2.05');
    assert.deepEqual(r.values?.[`/${TEST_OBJECT}/0/3`], { hex });
  });

  it('confirmable notifications all arrive, each once, newest last', async () => {
    const observation = await server.observe('lossy-1', '/3303/0/5700', { attributes: { con: 1 } });
    const seen: number[] = [];
    observation.on('notification', (n) => seen.push(n.result.values?.['/3303/0/5700'] as number));
    for (let i = 1; i <= 20; i++) {
      temperature.set(5700, 20 + i);
      // One change at a time: a change while the previous notification is in flight may be merged.
      const deadline = Date.now() + 20_000;
      while (!seen.includes(20 + i) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => 21 + i),
    );
    const stats = await proxy.stats();
    assert.ok(
      stats.dropped > 50 && stats.duplicated > 10,
      `the network was hostile: ${JSON.stringify(stats)}`,
    );
  });
});

describe('Bootstrap over a lossy network (Bootstrap-Server and DM server each behind a fault proxy)', () => {
  it('one bootstrap session succeeds, then the client registers once with the server it was given', async (t) => {
    const keepAlive = setInterval(() => undefined, 1000);
    const bsChannel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const dmChannel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const dm = new LwM2mServer({ channel: dmChannel, model, requestTimeout: 60_000, coap: { transmission } });
    await dm.start();
    const dmProxy = await startFaultProxy({
      upstream: { address: '127.0.0.1', port: dmChannel.local.port },
      seed: 11,
      ...FAULTS,
    });
    const configs = new MemoryBootstrapConfigStore();
    await configs.put('lossy-bs', {
      servers: [
        {
          shortServerId: 101,
          uri: `coap://127.0.0.1:${dmProxy.port}`,
          lifetime: 600,
          supportedServerVersions: ['1.2'],
          security: { mode: 'nosec' },
        },
      ],
    });
    const bs = new BootstrapServer({
      configs,
      channel: bsChannel,
      requestTimeout: 60_000,
      coap: { transmission },
    });
    const sessions: BootstrapSessionRecord[] = [];
    bs.on('session-finished', (s) => sessions.push(s));
    await bs.start();
    const bsProxy = await startFaultProxy({
      upstream: { address: '127.0.0.1', port: bsChannel.local.port },
      seed: 13,
      ...FAULTS,
    });
    const client = new LwM2mClient({
      endpoint: 'lossy-bs',
      servers: [],
      bootstrap: { server: { uri: `coap://127.0.0.1:${bsProxy.port}` } },
      model,
      udp: { address: '127.0.0.1', port: 0 },
      coap: { transmission },
    });
    t.after(async () => {
      await client.stop();
      await bsProxy.close();
      await dmProxy.close();
      await bs.stop();
      await dm.stop();
      await bsChannel.close();
      await dmChannel.close();
      clearInterval(keepAlive);
    });
    const registeredEvents: Registration[] = [];
    dm.on('registered', (reg) => registeredEvents.push(reg));
    const bootstrapped = once(client, 'bootstrapped');
    const registered = once(client.registration, 'registered');
    await client.start();
    await bootstrapped;
    await registered;
    // The Bootstrap-Server closes its session when the answer to Bootstrap-Finish reaches it,
    // which over this network may be after the client has moved on.
    const deadline = Date.now() + 30_000;
    while (sessions.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      sessions.map((s) => s.outcome?.status),
      ['succeeded'],
    );
    assert.deepEqual(
      registeredEvents.map((r) => r.endpoint),
      ['lossy-bs'],
    );
    const read = await dm.read('lossy-bs', '/1/0/0');
    assert.deepEqual(read.values, { '/1/0/0': 101 });
  });
});
