/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any --
   The answers are untyped JSON; the assertions check them field by field. */
// POST /api/bootstrap/clients/{ep}/trigger (Core-001): the reason is recorded, the server executes
// /1/x/9 on the registered device, and the device's next bootstrap acts on it: a new configuration
// (reconfigure) moves it to another server; unbootstrap leaves it only its Bootstrap-Server
// account. Bad requests get the code that names the problem.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createApiServer } from '../../src/api/api-server.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const model = createDefaultRegistry();
const EP = 'trig-1';
const FAST = { ackTimeout: 200, maxRetransmit: 1 };
const account = (address: string, ssid: number) => ({
  servers: [
    { shortServerId: ssid, uri: `coap://${address}:5683`, lifetime: 300, security: { mode: 'nosec' } },
  ],
});

async function rig(t: TestContext) {
  const keepAlive = setInterval(() => undefined, 1000);
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  await configs.put(EP, account('10.0.0.1', 101));
  const credentials = new MemoryCredentialStore();
  const dm = new LwM2mServer({ channel: network.channel('10.0.0.1', 5683), model, random: seededRandom(2) });
  const dm2 = new LwM2mServer({ channel: network.channel('10.0.0.3', 5683), model, random: seededRandom(3) });
  const bs = new BootstrapServer({
    configs,
    credentials,
    allowNoSec: true,
    channel: network.channel('10.0.0.5', 5783),
    random: seededRandom(4),
    requestTimeout: 2000,
  });
  await dm.start();
  await dm2.start();
  await bs.start();
  const app = await createApiServer({
    server: dm,
    stores: {
      tags: new MemoryTagStore(),
      events: new MemoryEventLog({ capacity: 10 }),
      kind: 'memory',
      bootstrapConfigs: configs,
      credentials,
    },
    bootstrap: bs,
    record: false,
  });
  const client = new LwM2mClient({
    endpoint: EP,
    servers: [],
    bootstrap: { server: { uri: 'coap://10.0.0.5:5783' } },
    model,
    channel: network.channel('10.0.0.2', 56830),
    random: seededRandom(5),
    coap: { transmission: FAST },
  });
  t.after(async () => {
    await client.stop();
    await app.close();
    await bs.stop();
    await dm.stop();
    await dm2.stop();
    clearInterval(keepAlive);
  });
  const registered = once(dm, 'registered');
  await client.start();
  await registered;
  const post = async (ep: string, body: unknown) => {
    const res = await app.inject({
      method: 'POST',
      url: `/api/bootstrap/clients/${ep}/trigger`,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    return { status: res.statusCode, json: JSON.parse(res.body) as Record<string, any> };
  };
  const sessionDone = (reason: string) =>
    new Promise<BootstrapSessionRecord>((resolve) =>
      bs.on('session-finished', (s) => {
        if (s.reason === reason) resolve(s);
      }),
    );
  return { configs, credentials, dm, dm2, bs, client, post, sessionDone };
}

describe('POST /api/bootstrap/clients/{ep}/trigger', () => {
  it('reconfigure: the device is sent to bootstrap through /1/x/9 and moves to its new server', async (t) => {
    const r = await rig(t);
    await r.configs.put(EP, account('10.0.0.3', 102));
    const moved = once(r.dm2, 'registered') as Promise<[Registration]>;
    const done = r.sessionDone('reconfigure');
    const res = await r.post(EP, { reason: 'reconfigure' });
    assert.equal(res.status, 202);
    assert.equal(res.json.reason, 'reconfigure');
    assert.match(res.json.trigger.path, /^\/1\/\d+\/9$/);
    assert.equal(res.json.trigger.code, '2.04');
    assert.equal((await done).outcome?.status, 'succeeded');
    const [reg] = await moved;
    assert.equal(reg.endpoint, EP);
    assert.equal(await r.bs.pendingBootstrap(EP), undefined, 'done: nothing pending');
  });

  it('unbootstrap: every server account goes, the Bootstrap-Server account stays', async (t) => {
    const r = await rig(t);
    const done = r.sessionDone('unbootstrap');
    const res = await r.post(EP, { reason: 'unbootstrap' });
    assert.equal(res.status, 202);
    const session = await done;
    assert.equal(session.outcome?.status, 'succeeded');
    assert.ok(!session.steps.some((s) => s.operation === 'bootstrap-write'), 'nothing written');
    await waitUntil(() => r.client.accounts().length === 0, 'the accounts to go');
    assert.ok(r.client.bootstrapAccount(), 'the BS account stays');
  });

  it('answers 400, 404 and 409 with what is wrong, and records nothing', async (t) => {
    const r = await rig(t);
    assert.equal((await r.post(EP, { reason: 'reboot' })).status, 400);
    assert.equal(
      (await r.post(EP, { reason: 'reconfigure', nextPsk: { identity: 'x', key: '00' } })).status,
      400,
    );
    const unknown = await r.post('nobody', { reason: 'reconfigure' });
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.message, /no bootstrap configuration/);
    // A NoSec device has no PSK to rotate.
    const rotate = await r.post(EP, { reason: 'rotate' });
    assert.equal(rotate.status, 409);
    assert.match(rotate.json.message, /no PSK to rotate/);
    assert.equal(await r.bs.pendingBootstrap(EP), undefined);
  });

  it('rotate: stores a generated next PSK beside the current one (shown by length only)', async (t) => {
    const r = await rig(t);
    await r.credentials.put({
      endpoint: 'psk-dev',
      psk: { identity: 'psk-dev', key: '00112233445566778899aabbccddeeff' },
    });
    await r.configs.put('psk-dev', account('10.0.0.1', 101));
    const res = await r.post('psk-dev', { reason: 'rotate' });
    assert.equal(res.status, 202);
    assert.equal(res.json.nextPsk.keyLength, 16);
    assert.match(res.json.nextPsk.identity, /^psk-dev~[0-9a-f]{8}$/);
    assert.equal(res.json.trigger.skipped, 'the device is not registered here');
    const info = await r.credentials.get('psk-dev');
    assert.equal(info?.nextPsk?.identity, res.json.nextPsk.identity);
    assert.equal(info?.psk?.identity, 'psk-dev', 'the current PSK still works');
    assert.equal((await r.bs.pendingBootstrap('psk-dev'))?.reason, 'rotate');
    // Asking again keeps the next PSK the device may already hold.
    const again = await r.post('psk-dev', { reason: 'rotate' });
    assert.equal(again.json.nextPsk.identity, res.json.nextPsk.identity);
    const other = await r.post('psk-dev', { reason: 'rotate', nextPsk: { identity: 'new-id', key: 'aabb' } });
    assert.equal(other.status, 409);
  });
});

async function waitUntil(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
