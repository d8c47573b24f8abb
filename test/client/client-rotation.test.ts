// PSK rotation (BS-001) end to end over DTLS on an in-memory network: our client bootstraps and
// registers with its factory PSK; the operator starts a rotation and the server triggers /1/x/9;
// the Bootstrap-Server writes the next PSK into the device's Bootstrap-Server and server accounts;
// the device proves it holds it and the old PSK is retired. The device loses power at each step
// (before the Finish, after it) and must always come back able to reach both servers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createCoapServerBinding } from '../../src/binding/coap/coap-server-binding.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { MemoryClientStateStore } from '../../src/client/client-state.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { credentialPskLookup } from '../../src/server/credential-psk-lookup.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Channel, Peer, ReceiveHandler } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const model = createDefaultRegistry();
const EP = 'rot-dev-1';
const OLD = { identity: 'rot-dev-1', key: '00112233445566778899aabbccddeeff' };
const NEXT = { identity: 'rot-dev-1~next', key: 'ffeeddccbbaa99887766554433221100' };
const DM = '10.0.0.1';
const BS = '10.0.0.5';
const FAST = { ackTimeout: 200, maxRetransmit: 2 };

/** A device's power: while off, its channels neither send nor receive (a power loss). */
class Power {
  on = true;
}

class PoweredChannel implements Channel {
  readonly kind;
  readonly #inner: Channel;
  readonly #power: Power;

  constructor(inner: Channel, power: Power) {
    this.#inner = inner;
    this.#power = power;
    this.kind = inner.kind;
  }

  get local() {
    return this.#inner.local;
  }

  send(peer: Peer, datagram: Uint8Array): void {
    if (this.#power.on) this.#inner.send(peer, datagram);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#inner.onReceive((peer, bytes) => {
      if (this.#power.on) handler(peer, bytes);
    });
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

async function rig(t: TestContext) {
  const keepAlive = setInterval(() => undefined, 1000);
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint: EP, psk: OLD });
  const configs = new MemoryBootstrapConfigStore();
  await configs.put(EP, {
    servers: [
      {
        shortServerId: 101,
        uri: `coaps://${DM}:5684`,
        lifetime: 300,
        security: { mode: 'psk', identity: OLD.identity, key: OLD.key },
      },
    ],
  });
  const dm = new LwM2mServer({
    channel: network.channel(DM, 5683),
    coaps: { channel: network.channel(DM, 5684), credentials },
    model,
    random: seededRandom(3),
    requestTimeout: 3000,
  });
  const dtls = DtlsChannel.server({
    channel: network.channel(BS, 5784),
    random: seededRandom(4),
    psk: credentialPskLookup(credentials, (e) => assert.fail(String(e))),
  });
  const bs = new BootstrapServer({
    configs,
    credentials,
    channel: network.channel(BS, 5783),
    bindings: [
      createCoapServerBinding({
        channel: dtls,
        codecs: createCodecRegistry(),
        model,
        random: seededRandom(5),
      }),
    ],
    requestTimeout: 3000,
    coap: { transmission: FAST },
  });
  await dm.start();
  await bs.start();
  const sessions: BootstrapSessionRecord[] = [];
  bs.on('session-finished', (s) => sessions.push(s));
  const state = new MemoryClientStateStore();
  const devices: LwM2mClient[] = [];
  let port = 40000;
  let host = 20;
  t.after(async () => {
    for (const d of devices) await d.stop().catch(() => undefined);
    await bs.stop();
    await dm.stop();
    await dtls.close().catch(() => undefined);
    // Last: the stops above wait on the stack's (unref'd) timers.
    clearInterval(keepAlive);
  });

  /** A device (each boot on a fresh address, as after a power cycle) sharing the saved state. */
  function boot(power = new Power(), packFirst = false): { client: LwM2mClient; power: Power } {
    const address = `10.0.1.${host++}`;
    const client = new LwM2mClient({
      endpoint: EP,
      servers: [],
      bootstrap: {
        server: {
          uri: `coaps://${BS}:5784`,
          security: {
            securityMode: 0,
            publicKeyOrIdentity: OLD.identity,
            secretKey: Buffer.from(OLD.key, 'hex'),
          },
        },
        // The factory's BS account is meant to be rotated (BOOT-PROV-002 policy).
        policy: { networkMayChange: ['factory'] },
        packFirst,
      },
      state,
      model,
      channel: new PoweredChannel(network.channel(address, 5683), power),
      secureTransport: () => new PoweredChannel(network.channel(address, port++), power),
      random: seededRandom(host),
      coap: { transmission: FAST },
    });
    devices.push(client);
    return { client, power };
  }

  return { network, credentials, dm, bs, sessions, boot };
}

const registeredAt = (server: LwM2mServer) => once(server, 'registered') as Promise<[Registration]>;

describe('Bootstrap over DTLS PSK', () => {
  it('an empty client bootstraps from a Bootstrap-Pack over DTLS and registers over DTLS', async (t) => {
    const r = await rig(t);
    const device = r.boot(new Power(), true);
    const bootstrapped = once(device.client, 'bootstrapped');
    const registered = registeredAt(r.dm);
    await device.client.start();
    assert.deepEqual((await bootstrapped)[0], { trigger: 'no-servers', mode: 'pack' });
    const [reg] = await registered;
    assert.equal(reg.endpoint, EP);
    const session = r.sessions.at(-1)!;
    assert.equal(session.kind, 'pack');
    assert.equal(session.transport, 'dtls');
    assert.equal(accountIdentity(device.client, false), OLD.identity);
  });

  it('while a rotation is pending, the Pack is refused (4.05) and the client falls back to Bootstrap-Request', async (t) => {
    const r = await rig(t);
    await r.bs.startRotation(EP, NEXT);
    const device = r.boot(new Power(), true);
    const fallback = once(device.client, 'bootstrap-pack-fallback');
    const bootstrapped = once(device.client, 'bootstrapped');
    await device.client.start();
    assert.equal(((await fallback)[0] as { code: string }).code, '4.05');
    assert.deepEqual((await bootstrapped)[0], { trigger: 'no-servers', mode: 'request' });
    assert.equal(accountIdentity(device.client, true), NEXT.identity, 'the rotation reached the device');
  });
});

describe('PSK rotation (BS-001)', () => {
  it('rotates the Bootstrap-Server and server PSK with a power loss before and after the Finish', async (t) => {
    const r = await rig(t);
    // 1. First boot: bootstrap with the factory PSK, register over DTLS with the same PSK.
    const first = r.boot();
    let registered = registeredAt(r.dm);
    await first.client.start();
    await registered;

    // 2. The operator starts a rotation; the server sends the device to bootstrap. The device
    //    loses power as soon as the first Bootstrap-Write of that session has been applied.
    const next = await r.bs.startRotation(EP, NEXT);
    assert.deepEqual(next, NEXT);
    assert.deepEqual((await r.credentials.get(EP))?.nextPsk, NEXT, 'both PSKs authenticate now');
    first.client.on('request', (info) => {
      if (info.kind === 'bootstrap-write' && info.code === '2.04') first.power.on = false;
    });
    const iid = first.client.tree.instanceIds(1)[0]!;
    assert.equal((await r.dm.execute(EP, `/1/${iid}/9`)).code, '2.04');
    await waitUntil(() => !first.power.on, 'the power loss in the middle of the session');
    const cut = r.sessions.length;

    // 3. Second boot, from the saved state: the session never finished, so the device still has
    //    the current PSK, which still works at both servers.
    const second = r.boot();
    registered = registeredAt(r.dm);
    await second.client.start();
    await registered;
    assert.equal(accountIdentity(second.client, false), OLD.identity);
    assert.equal(accountIdentity(second.client, true), OLD.identity);
    // The rotation is still pending; this time the device loses power just after the Finish
    // (the configuration is committed and saved).
    second.client.on('bootstrapped', () => (second.power.on = false));
    const iid2 = second.client.tree.instanceIds(1)[0]!;
    assert.equal((await r.dm.execute(EP, `/1/${iid2}/9`)).code, '2.04');
    await waitUntil(() => !second.power.on, 'the power loss after the Finish');
    const written = r.sessions.slice(cut).find((s) => s.outcome?.status === 'succeeded');
    assert.equal(written?.rotation, 'writing');
    assert.equal(written?.reason, 'rotate');
    assert.ok(
      written.steps.some((s) => s.operation === 'bootstrap-write' && /^\/0\/\d+\/5$/.test(s.path ?? '')),
      'the BS account got the next key',
    );

    // 4. Third boot: the device holds the next PSK everywhere and registers with it.
    const third = r.boot();
    assert.equal(third.client.status(101), undefined);
    registered = registeredAt(r.dm);
    await third.client.start();
    const [reg] = await registered;
    assert.equal(reg.endpoint, EP);
    assert.equal(accountIdentity(third.client, false), NEXT.identity);
    assert.equal(accountIdentity(third.client, true), NEXT.identity);

    // 5. Its next bootstrap uses the next PSK: confirmed, the old one is retired.
    // The client's `bootstrapped` can come before the server has the Finish's answer: wait for
    // the session itself.
    const confirmed = new Promise<BootstrapSessionRecord>((resolve) =>
      r.bs.on('session-finished', (s) => {
        if (s.rotation === 'confirmed') resolve(s);
      }),
    );
    const iid3 = third.client.tree.instanceIds(1)[0]!;
    assert.equal((await r.dm.execute(EP, `/1/${iid3}/9`)).code, '2.04');
    const session = await confirmed;
    assert.equal(session.outcome?.status, 'succeeded');
    const info = await r.credentials.get(EP);
    assert.deepEqual(info?.psk, NEXT);
    assert.equal(info?.nextPsk, undefined);
    assert.equal(await r.bs.pendingBootstrap(EP), undefined, 'nothing left to do');
    assert.equal(await r.credentials.getByPskIdentity(OLD.identity), undefined, 'the old PSK is gone');
  });
});

/** /0/x/3 of the Bootstrap-Server account or of the server account, as text. */
function accountIdentity(client: LwM2mClient, bootstrap: boolean): string | undefined {
  const records = client.read('/0');
  for (const iid of client.tree.instanceIds(0)) {
    const isBs = records.some((r) => r.path.toString() === `/0/${iid}/1` && r.value?.value === true);
    if (isBs !== bootstrap) continue;
    const id = records.find((r) => r.path.toString() === `/0/${iid}/3`)?.value;
    return id?.type === 'opaque' ? new TextDecoder().decode(id.value) : undefined;
  }
  return undefined;
}

async function waitUntil(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
