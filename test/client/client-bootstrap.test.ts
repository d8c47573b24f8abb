// Our client's bootstrap against our Bootstrap-Server and LwM2M server over an in-memory network:
// an empty client bootstraps (Bootstrap-Request and Pack) and registers where it was sent; a 1.1
// client gets a 1.1 configuration; a saved state keeps it bootstrapped across a restart (and a
// restart in the middle of a session leaves the old configuration); a server's /1/x/9 sends it back
// to bootstrap; a smartcard's accounts are protected from the network; a Finish the client finds
// inconsistent is answered 4.06 and the old configuration stays.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { FileClientStateStore, MemoryClientStateStore } from '../../src/client/client-state.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import { FileSecureElement } from '../../src/client/provisioning.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value, valueToText } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const model = createDefaultRegistry();
const codecs = createCodecRegistry();
const BS = { address: '10.0.0.1', port: 5783 };
const DM = { address: '10.0.0.1', port: 5683 };
const DM2 = { address: '10.0.0.3', port: 5683 };
const CLIENT = { address: '10.0.0.2', port: 56830 };
const FAST = { ackTimeout: 200, maxRetransmit: 1 };

const serversTo = (address: string, ssid = 101) => ({
  servers: [
    {
      shortServerId: ssid,
      uri: `coap://${address}:5683`,
      lifetime: 300,
      supportedServerVersions: ['1.2'],
      security: { mode: 'nosec' },
    },
  ],
});

interface Rig {
  readonly network: MemoryNetwork;
  readonly configs: MemoryBootstrapConfigStore;
  readonly bs: BootstrapServer;
  readonly dm: LwM2mServer;
  readonly sessions: BootstrapSessionRecord[];
  client(options?: Partial<LwM2mClientOptions>): LwM2mClient;
}

async function rig(t: TestContext, endpoint = 'bs-client-1'): Promise<Rig> {
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  await configs.put(endpoint, serversTo(DM.address));
  const bs = new BootstrapServer({
    configs,
    channel: network.channel(BS.address, BS.port),
    random: seededRandom(5),
    requestTimeout: 2000,
    coap: { transmission: FAST },
  });
  const dm = new LwM2mServer({
    channel: network.channel(DM.address, DM.port),
    model,
    random: seededRandom(6),
    requestTimeout: 2000,
  });
  await bs.start();
  await dm.start();
  const sessions: BootstrapSessionRecord[] = [];
  bs.on('session-finished', (s) => sessions.push(s));
  const clients: LwM2mClient[] = [];
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(async () => {
    for (const c of clients) await c.stop().catch(() => undefined);
    await bs.stop();
    await dm.stop();
    clearInterval(keepAlive); // last: the stops wait on the stack's unref'd timers
  });
  return {
    network,
    configs,
    bs,
    dm,
    sessions,
    client(options = {}) {
      const c = new LwM2mClient({
        endpoint,
        servers: [],
        bootstrap: { server: { uri: `coap://${BS.address}:${BS.port}` } },
        model,
        channel: network.channel(CLIENT.address, CLIENT.port + clients.length),
        random: seededRandom(9 + clients.length),
        coap: { transmission: FAST },
        ...options,
      });
      clients.push(c);
      return c;
    },
  };
}

const registeredAt = (server: LwM2mServer) => once(server, 'registered') as Promise<[Registration]>;

/** /0 and /1 as the client holds them, as `path type value` lines (keys by length). */
function accountsOf(client: LwM2mClient): string[] {
  return [...client.read('/0'), ...client.read('/1')]
    .filter((r) => r.value !== undefined)
    .map((r) => {
      const v = r.value!;
      const text =
        v.type === 'opaque'
          ? `${v.value.length} bytes`
          : v.type === 'boolean'
            ? String(v.value)
            : valueToText(v);
      return `${r.path.toString()} ${text}`;
    });
}

describe('LwM2mClient bootstrap', () => {
  it('an empty client bootstraps with Bootstrap-Request and registers with the server it was given', async (t) => {
    const r = await rig(t);
    const client = r.client();
    const started = once(client, 'bootstrap-started');
    const registered = registeredAt(r.dm);
    const bootstrapped = once(client, 'bootstrapped');
    await client.start();
    assert.deepEqual((await started)[0], { trigger: 'no-servers', mode: 'request' });
    assert.deepEqual((await bootstrapped)[0], { trigger: 'no-servers', mode: 'request' });
    const [reg] = await registered;
    assert.equal(reg.endpoint, 'bs-client-1');
    assert.equal(reg.lwm2mVersion, '1.2');
    assert.equal(reg.lifetime, 300);
    const session = r.sessions.at(-1)!;
    assert.equal(session.outcome?.status, 'succeeded');
    assert.equal(session.kind, 'request');
    assert.equal(session.lwm2mVersion, '1.2');
    assert.ok(
      session.steps.every((s) => s.code?.startsWith('2.')),
      session.steps.map((s) => `${s.operation} ${s.path ?? ''} ${s.code}`).join('\n'),
    );
    // The BS account is still there, the new account beside it; /1/x/25 reached a 1.2 client.
    const lines = accountsOf(client);
    assert.ok(lines.includes('/0/0/0 coap://10.0.0.1:5783'), lines.join('\n'));
    assert.ok(lines.includes('/0/0/1 true'));
    assert.ok(
      lines.some((l) => /^\/0\/\d\/0 coap:\/\/10\.0\.0\.1:5683$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^\/1\/\d\/25\/0 1\.2$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /^\/1\/\d\/12 \d+$/.test(l)),
      `/1/x/12 Last Bootstrapped is set:\n${lines.join('\n')}`,
    );
    // The server can read the client: the registration is real.
    const read = await r.dm.read('bs-client-1', '/3/0/0');
    assert.equal(read.code, '2.05');
  });

  it('with packFirst, bootstraps from one Bootstrap-Pack (no Finish) and registers', async (t) => {
    const r = await rig(t);
    const client = r.client({
      bootstrap: { server: { uri: `coap://${BS.address}:${BS.port}` }, packFirst: true },
    });
    const registered = registeredAt(r.dm);
    const bootstrapped = once(client, 'bootstrapped');
    const fallbacks: unknown[] = [];
    client.on('bootstrap-pack-fallback', (info) => fallbacks.push(info));
    await client.start();
    const [done] = (await bootstrapped) as [unknown];
    assert.deepEqual(fallbacks, []);
    assert.deepEqual(done, { trigger: 'no-servers', mode: 'pack' });
    await registered;
    const session = r.sessions.at(-1)!;
    assert.equal(session.kind, 'pack');
    assert.equal(session.outcome?.status, 'succeeded');
    assert.ok(!session.steps.some((s) => s.operation === 'bootstrap-finish'), 'a Pack has no Finish');
  });

  it('a 1.1 client is given a 1.1 configuration (no 1.2 resources) and registers as 1.1', async (t) => {
    const r = await rig(t);
    const client = r.client({ version: '1.1' });
    const registered = registeredAt(r.dm);
    await client.start();
    const [reg] = await registered;
    assert.equal(reg.lwm2mVersion, '1.1');
    const session = r.sessions.at(-1)!;
    assert.equal(session.lwm2mVersion, '1.1');
    const lines = accountsOf(client);
    assert.ok(
      !lines.some((l) => /^\/1\/\d\/25/.test(l)),
      `no /1/x/25 for a 1.1 client:\n${lines.join('\n')}`,
    );
  });

  it('keeps its bootstrapped configuration in its state, and registers without bootstrap after a restart', async (t) => {
    const r = await rig(t);
    const dir = await mkdtemp(join(tmpdir(), 'petrel-client-state-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const state = new FileClientStateStore(join(dir, 'state.json'));
    const first = r.client({ state });
    const registered = registeredAt(r.dm);
    await first.start();
    await registered;
    const before = accountsOf(first);
    await first.stop();

    // The Bootstrap-Server forgets the device: only the saved state can bring it back.
    await r.configs.remove('bs-client-1');
    const second = r.client({ state });
    let bootstrapStarted = false;
    second.on('bootstrap-started', () => (bootstrapStarted = true));
    const provisioned = once(second, 'provisioned');
    const again = registeredAt(r.dm);
    await second.start();
    assert.deepEqual((await provisioned)[0], { source: 'state' });
    await again;
    assert.equal(bootstrapStarted, false, 'a bootstrapped client does not bootstrap again');
    assert.deepEqual(accountsOf(second), before);
  });

  it('a restart in the middle of a session (no Finish yet) comes back with the old configuration', async (t) => {
    const r = await rig(t);
    const state = new MemoryClientStateStore();
    // First life: bootstrapped to server 101 and saved.
    const first = r.client({ state });
    const registered = registeredAt(r.dm);
    await first.start();
    await registered;
    const before = accountsOf(first);
    await first.stop();

    // Second life: a scripted Bootstrap-Server (in the real one's place) deletes everything and
    // writes a new account, and the power goes before its Finish.
    await r.bs.stop();
    const fake = new CoapEndpoint({
      channel: r.network.channel(BS.address, BS.port),
      random: seededRandom(3),
    });
    t.after(() => fake.close());
    const second = r.client({ state });
    await second.start();
    const client = { address: CLIENT.address, port: CLIENT.port + 1 };
    const requested = new Promise<void>((resolve) =>
      fake.onRequest(({ message }) => {
        resolve();
        return { code: message.code === CoapCode.POST ? CoapCode.CHANGED : CoapCode.BAD_REQUEST };
      }),
    );
    void second.requestBootstrap();
    await requested;
    const del = await fake.request(client, { code: CoapCode.DELETE, options: new OptionsBuilder().build() });
    assert.equal(formatCode(del.code), '2.02');
    const write = await fake.request(client, {
      code: CoapCode.PUT,
      options: new OptionsBuilder().uriPath(['1', '7']).uint(OptionNumber.CONTENT_FORMAT, 110).build(),
      payload: codecs.encode(110, [{ path: LwM2mPath.of(1, 7, 0), value: Value.integer(7) }], {
        path: LwM2mPath.of(1, 7),
        model,
      }),
    });
    assert.equal(formatCode(write.code), '2.04');
    assert.ok(
      accountsOf(second).some((l) => l.startsWith('/1/7/0')),
      'the write landed in the session',
    );
    // Power loss: the process ends without stop() (no save happens after the session started).
    const third = r.client({ state });
    const provisioned = once(third, 'provisioned');
    const back = registeredAt(r.dm);
    await third.start();
    await provisioned;
    await back;
    const after = accountsOf(third);
    assert.deepEqual(
      after,
      before.map((l) => l),
    );
  });

  it('a server executing /1/x/9 sends the client back to bootstrap; it re-registers where the BS says', async (t) => {
    const r = await rig(t);
    const dm2 = new LwM2mServer({
      channel: r.network.channel(DM2.address, DM2.port),
      model,
      random: seededRandom(8),
    });
    await dm2.start();
    t.after(() => dm2.stop());
    const client = r.client();
    const first = registeredAt(r.dm);
    await client.start();
    await first;
    // The operator moves the device to the second server, then triggers the bootstrap.
    await r.configs.put('bs-client-1', serversTo(DM2.address, 102));
    const iid = client.tree.instanceIds(1)[0]!;
    const moved = registeredAt(dm2);
    const trigger = once(client, 'bootstrap-started');
    const result = await r.dm.execute('bs-client-1', `/1/${iid}/9`);
    assert.equal(result.code, '2.04');
    assert.deepEqual((await trigger)[0], { trigger: 'server-initiated', mode: 'request' });
    const [reg] = await moved;
    assert.equal(reg.endpoint, 'bs-client-1');
    assert.deepEqual(
      client.accounts().map((a) => `${a.shortServerId} ${a.uri}`),
      [`102 coap://${DM2.address}:5683`],
    );
  });

  it('answers a Finish that leaves an inconsistent configuration with 4.06 and keeps the old one', async (t) => {
    const r = await rig(t);
    const client = r.client({
      bootstrap: { server: { uri: 'coap://10.0.0.9:5783' } },
      servers: [{ uri: `coap://${DM.address}:5683`, shortServerId: 101 }],
    });
    const fake = new CoapEndpoint({ channel: r.network.channel('10.0.0.9', 5783), random: seededRandom(3) });
    t.after(() => fake.close());
    const requested = new Promise<void>((resolve) =>
      fake.onRequest(() => {
        resolve();
        return { code: CoapCode.CHANGED };
      }),
    );
    const registered = registeredAt(r.dm);
    await client.start();
    await registered;
    const before = accountsOf(client);
    const failed = once(client, 'bootstrap-failed');
    void client.requestBootstrap();
    await requested;
    const peer = { address: CLIENT.address, port: CLIENT.port };
    // A /1 instance for a server that has no /0 instance.
    const write = await fake.request(peer, {
      code: CoapCode.PUT,
      options: new OptionsBuilder().uriPath(['1', '5']).uint(OptionNumber.CONTENT_FORMAT, 110).build(),
      payload: codecs.encode(
        110,
        [
          { path: LwM2mPath.of(1, 5, 0), value: Value.integer(55) },
          { path: LwM2mPath.of(1, 5, 1), value: Value.integer(60) },
        ],
        { path: LwM2mPath.of(1, 5), model },
      ),
    });
    assert.equal(formatCode(write.code), '2.04');
    const finish = await fake.request(peer, {
      code: CoapCode.POST,
      options: new OptionsBuilder().uriPath(['bs']).build(),
    });
    assert.equal(formatCode(finish.code), '4.06');
    assert.match(new TextDecoder().decode(finish.payload), /server 55/);
    const [info] = (await failed) as [{ reason: string }];
    assert.equal(info.reason, 'inconsistent');
    assert.deepEqual(accountsOf(client), before, 'the old configuration is back');
    assert.equal(client.status(101)?.state, 'registered', 'and still in use');
    // Bootstrap operations outside a session are refused.
    const late = await fake.request(peer, { code: CoapCode.DELETE, options: new OptionsBuilder().build() });
    assert.equal(formatCode(late.code), '4.01');
  });

  it('protects what the smartcard provisioned from a network Bootstrap-Server', async (t) => {
    const r = await rig(t);
    const dir = await mkdtemp(join(tmpdir(), 'petrel-card-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const card: LwM2mRecord[] = [
      { path: LwM2mPath.of(0, 0, 0), value: Value.string('coap://10.0.0.9:5783') },
      { path: LwM2mPath.of(0, 0, 1), value: Value.boolean(true) },
      { path: LwM2mPath.of(0, 0, 2), value: Value.integer(3) },
      { path: LwM2mPath.of(0, 1, 0), value: Value.string(`coap://${DM.address}:5683`) },
      { path: LwM2mPath.of(0, 1, 1), value: Value.boolean(false) },
      { path: LwM2mPath.of(0, 1, 2), value: Value.integer(3) },
      { path: LwM2mPath.of(0, 1, 10), value: Value.integer(101) },
      { path: LwM2mPath.of(1, 0, 0), value: Value.integer(101) },
      { path: LwM2mPath.of(1, 0, 1), value: Value.integer(120) },
      { path: LwM2mPath.of(1, 0, 7), value: Value.string('U') },
    ];
    const file = join(dir, 'card.cbor');
    await writeFile(file, codecs.encode(112, card, { path: LwM2mPath.ROOT, model }));
    const client = r.client({ smartcard: new FileSecureElement(file), bootstrap: {} });
    const provisioned = once(client, 'provisioned');
    const registered = registeredAt(r.dm);
    await client.start();
    assert.deepEqual((await provisioned)[0], { source: 'smartcard' });
    const [reg] = await registered;
    assert.equal(reg.lifetime, 120);

    const fake = new CoapEndpoint({ channel: r.network.channel('10.0.0.9', 5783), random: seededRandom(3) });
    t.after(() => fake.close());
    const requested = new Promise<void>((resolve) =>
      fake.onRequest(() => {
        resolve();
        return { code: CoapCode.CHANGED };
      }),
    );
    void client.requestBootstrap();
    await requested;
    const peer = { address: CLIENT.address, port: CLIENT.port };
    const overwrite = await fake.request(peer, {
      code: CoapCode.PUT,
      options: new OptionsBuilder().uriPath(['0', '1', '0']).uint(OptionNumber.CONTENT_FORMAT, 0).build(),
      payload: new TextEncoder().encode('coap://10.0.0.66:5683'),
    });
    assert.equal(formatCode(overwrite.code), '4.01');
    const deleteOne = await fake.request(peer, {
      code: CoapCode.DELETE,
      options: new OptionsBuilder().uriPath(['1', '0']).build(),
    });
    assert.equal(formatCode(deleteOne.code), '4.01');
    const deleteAll = await fake.request(peer, {
      code: CoapCode.DELETE,
      options: new OptionsBuilder().build(),
    });
    assert.equal(formatCode(deleteAll.code), '2.02');
    const finish = await fake.request(peer, {
      code: CoapCode.POST,
      options: new OptionsBuilder().uriPath(['bs']).build(),
    });
    assert.equal(formatCode(finish.code), '2.04');
    assert.deepEqual(
      client.accounts().map((a) => `${a.shortServerId} ${a.uri}`),
      [`101 coap://${DM.address}:5683`],
      'the smartcard account survived Delete /',
    );
  });

  it('purges the Bootstrap-Server account /0/x/12 seconds after a bootstrap', async (t) => {
    const r = await rig(t);
    const client = r.client({
      bootstrap: { server: { uri: `coap://${BS.address}:${BS.port}`, accountTimeout: 1 } },
    });
    const registered = registeredAt(r.dm);
    await client.start();
    await registered;
    assert.ok(client.bootstrapAccount(), 'kept right after the bootstrap');
    const end = Date.now() + 5000;
    while (client.bootstrapAccount() !== undefined && Date.now() < end)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(client.bootstrapAccount(), undefined, 'purged');
    assert.equal(client.accounts().length, 1, 'the server account stays');
  });
});
