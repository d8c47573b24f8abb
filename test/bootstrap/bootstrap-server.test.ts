// The Bootstrap-Server against scripted peers that behave like the two captured clients (client
// A, LwM2M 1.2, tries Bootstrap-Pack first; client B, 1.1, SenML JSON), over an in-memory network.
import assert from 'node:assert/strict';
import { describe as suite, it, type TestContext } from 'node:test';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapServerOptions, BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { parseBootstrapConfig } from '../../src/bootstrap/bootstrap-config.js';
import {
  bootstrapPackRecords,
  bootstrapWriteRequests,
  emptyInventory,
  layoutInstances,
} from '../../src/bootstrap/bootstrap-plan.js';
import { BindingError } from '../../src/binding/binding.js';
import type {
  BindingObservation,
  ServerBinding,
  UplinkContext,
  UplinkHandler,
} from '../../src/binding/binding.js';
import { createCoapServerBinding } from '../../src/binding/coap/coap-server-binding.js';
import { encodeUplinkResponse } from '../../src/binding/coap/uplink-codec.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { CoapMessage } from '../../src/coap/message.js';
import type { BootstrapPackRequest, DownlinkResponse } from '../../src/operations/requests.js';
import { formatCode } from '../../src/coap/message.js';
import { OptionNumber, getUint } from '../../src/coap/options.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { seededRandom } from '../../src/random.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { PeerIdentity } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { readCapture } from '../support/captures.js';
import { requireShared } from '../support/shared.js';
import { BS_SERVER, BootstrapPeer, describe, profileFromCapture } from './bootstrap-peer.js';
import type { PeerProfile } from './bootstrap-peer.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();

/** The capture's configuration (NoSec account 1, lifetime 300), plus a 1.2-only resource. */
const CONFIG = {
  servers: [
    {
      shortServerId: 1,
      uri: 'coap://127.0.0.1:5683',
      lifetime: 300,
      binding: 'U',
      notificationStoring: false,
      supportedServerVersions: ['1.1', '1.2'],
      security: { mode: 'nosec' },
    },
  ],
};

/** A stale account the device holds before bootstrap (SSID 7 at /0/1 and /1/0). */
const STALE = {
  security: [
    { path: LwM2mPath.of(0, 1, 0), value: Value.string('coap://old.example:5683') },
    { path: LwM2mPath.of(0, 1, 1), value: Value.boolean(false) },
    { path: LwM2mPath.of(0, 1, 10), value: Value.integer(7) },
  ],
  server: [{ path: LwM2mPath.of(1, 0, 0), value: Value.integer(7) }],
};

const CLIENT_A = 'bootstrap-1.2-client.jsonl';
const CLIENT_B = 'bootstrap-1.1-client.jsonl';

function profile(t: TestContext, file: string): PeerProfile | undefined {
  const dir = requireShared(t);
  return dir ? profileFromCapture(readCapture(dir, file)) : undefined;
}

interface Rig {
  server: BootstrapServer;
  peer: BootstrapPeer;
  network: MemoryNetwork;
  configs: MemoryBootstrapConfigStore;
  finished: BootstrapSessionRecord[];
  /** Resolves with the next finished session. */
  nextFinished(): Promise<BootstrapSessionRecord>;
}

async function rig(
  t: TestContext,
  p: PeerProfile,
  options: Partial<BootstrapServerOptions> & { config?: unknown; identity?: PeerIdentity } = {},
): Promise<Rig> {
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  if (options.config !== null)
    await configs.put(p.endpoint, (options.config ?? CONFIG) as Record<string, unknown>);
  const server = new BootstrapServer({
    configs,
    channel: network.channel(BS_SERVER.address, BS_SERVER.port),
    random: seededRandom(5),
    requestTimeout: 300,
    ...options,
  });
  await server.start();
  const peer = new BootstrapPeer(
    network,
    p,
    options.identity === undefined ? {} : { identity: options.identity },
  );
  const finished: BootstrapSessionRecord[] = [];
  const waiters: ((s: BootstrapSessionRecord) => void)[] = [];
  server.on('session-finished', (s) => {
    finished.push(s);
    waiters.shift()?.(s);
  });
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(async () => {
    clearInterval(keepAlive);
    await peer.close();
    await server.stop();
  });
  return {
    server,
    peer,
    network,
    configs,
    finished,
    nextFinished: () => new Promise((r) => waiters.push(r)),
  };
}

const code = (m: CoapMessage): string => formatCode(m.code);

/** What the configuration should leave on a device of this version (the plan, independently checked below). */
function expectedInstances(version: string): Map<string, string[]> {
  const config = parseBootstrapConfig(CONFIG);
  const inventory = emptyInventory(version, [0]);
  const out = new Map<string, string[]>();
  for (const w of bootstrapWriteRequests(config, inventory, layoutInstances(config, inventory)))
    out.set(w.path.toString(), describe(w.records));
  return out;
}

suite('BootstrapServer with the captured clients', () => {
  it('configures client B (1.1, pct=110): Discover, Delete the stale account, SenML JSON Writes, Finish', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    assert.equal(p.lwm2mVersion, '1.1');
    const r = await rig(t, p);
    r.peer.seed(STALE.security);
    r.peer.seed(STALE.server);
    const done = r.nextFinished();
    const res = await r.peer.bootstrapRequest();
    assert.equal(code(res), '2.04');
    const session = await done;
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    assert.equal(session.lwm2mVersion, '1.1');
    assert.equal(session.requestedFormat, 110);
    assert.deepEqual(r.peer.log, [
      'GET /',
      'DELETE /1/0',
      'DELETE /0/1',
      'PUT /0/1 110',
      'PUT /1/0 110',
      'POST /bs',
    ]);
    assert.deepEqual(
      session.steps.map((s) => `${s.operation} ${s.path ?? ''} ${s.code}`),
      [
        'bootstrap-discover / 2.05',
        'bootstrap-delete /1/0 2.02',
        'bootstrap-delete /0/1 2.02',
        'bootstrap-write /0/1 2.04',
        'bootstrap-write /1/0 2.04',
        'bootstrap-finish  2.04',
      ],
    );
    // The device holds the BS account, the new /0/1 and /1/0, and nothing of the stale account.
    assert.deepEqual([...r.peer.instances.keys()].sort(), ['/0/0', '/0/1', '/1/0']);
    const expected = expectedInstances('1.1');
    assert.deepEqual(describe(r.peer.instances.get('/0/1')!), expected.get('/0/1'));
    assert.deepEqual(describe(r.peer.instances.get('/1/0')!), expected.get('/1/0'));
    // Spot checks against the configuration itself, not the plan.
    const server = describe(r.peer.instances.get('/1/0')!);
    assert.ok(server.includes('/1/0/0 integer 1'));
    assert.ok(server.includes('/1/0/1 integer 300'));
    assert.ok(server.includes('/1/0/6 boolean false'));
    assert.ok(server.includes('/1/0/7 string U'));
    // /1/x/25 Supported Server Versions is a 1.2 resource: not written to a 1.1 client.
    assert.ok(!server.some((l) => l.startsWith('/1/0/25')), server.join('\n'));
    const security = describe(r.peer.instances.get('/0/1')!);
    assert.ok(security.includes('/0/1/0 string coap://127.0.0.1:5683'));
    assert.ok(security.includes('/0/1/1 boolean false'));
    assert.ok(security.includes('/0/1/2 integer 3'));
    assert.ok(security.includes('/0/1/10 integer 1'));
  });

  it('configures client A (1.2): its Pack-Request first, or the Bootstrap-Request flow in SenML CBOR', async (t) => {
    const p = profile(t, CLIENT_A);
    if (!p) return;
    assert.equal(p.lwm2mVersion, '1.2');
    assert.deepEqual(p.pack?.accept, 112);
    const r = await rig(t, p);
    const pack = await r.peer.packRequest();
    if (code(pack) === '2.05') {
      assert.equal(getUint(pack, OptionNumber.CONTENT_FORMAT), 112);
      r.peer.applyPack(codecs.decode(112, pack.payload, { path: LwM2mPath.ROOT, model }));
      assert.equal(r.finished.at(-1)?.kind, 'pack');
    } else {
      // Core §6.1.7.7: any error answer to the Pack → the client falls back to Bootstrap-Request.
      const done = r.nextFinished();
      assert.equal(code(await r.peer.bootstrapRequest()), '2.04');
      const session = await done;
      assert.deepEqual(session.outcome, { status: 'succeeded' });
      assert.deepEqual(r.peer.log, ['GET /', 'PUT /0/1 112', 'PUT /1/0 112', 'POST /bs']);
    }
    const expected = expectedInstances('1.2');
    assert.deepEqual([...r.peer.instances.keys()].sort(), ['/0/0', '/0/1', '/1/0']);
    assert.deepEqual(describe(r.peer.instances.get('/0/1')!), expected.get('/0/1'));
    const server = describe(r.peer.instances.get('/1/0')!);
    assert.deepEqual(server, expected.get('/1/0'));
    // The 1.2 client gets /1/x/25 Supported Server Versions.
    assert.ok(server.includes('/1/0/25/0 string 1.1'));
    assert.ok(server.includes('/1/0/25/1 string 1.2'));
  });

  it('runs the Bootstrap-Request flow for client A without Pack (pct=112 → SenML CBOR)', async (t) => {
    const p = profile(t, CLIENT_A);
    if (!p) return;
    const r = await rig(t, p);
    const done = r.nextFinished();
    assert.equal(code(await r.peer.bootstrapRequest()), '2.04');
    const session = await done;
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    assert.equal(session.lwm2mVersion, '1.2');
    assert.deepEqual(
      session.steps.filter((s) => s.operation === 'bootstrap-write').map((s) => s.format),
      [112, 112],
    );
    assert.ok(session.steps.every((s) => s.latencyMs >= 0));
    assert.deepEqual(describe(r.peer.instances.get('/1/0')!), expectedInstances('1.2').get('/1/0'));
  });
});

suite('BootstrapServer error paths', () => {
  it('a Write answered 4.00 fails the session at that step, without Finish', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p);
    r.peer.override = (method, path) => (method === 'PUT' && path === '/1/0' ? '4.00' : undefined);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    const session = await done;
    assert.deepEqual(session.outcome, {
      status: 'failed',
      operation: 'bootstrap-write',
      path: '/1/0',
      reason: 'error-code',
      code: '4.00',
      message: 'bootstrap-write /1/0 answered 4.00',
    });
    assert.ok(!r.peer.log.includes('POST /bs'));
  });

  it('a request the client never answers fails the session with a timeout', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p);
    r.peer.override = (method, path) => (method === 'PUT' && path === '/0/1' ? 'drop' : undefined);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    const session = await done;
    assert.equal(session.outcome?.status, 'failed');
    assert.equal(session.outcome.status === 'failed' && session.outcome.reason, 'timeout');
    assert.equal(session.outcome.status === 'failed' && session.outcome.path, '/0/1');
    const last = session.steps.at(-1)!;
    assert.equal(last.code, undefined);
    assert.ok(last.latencyMs >= 250, `latency ${last.latencyMs}`);
  });

  it('answers 4.00 to an endpoint without configuration and starts nothing', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p, { config: null });
    const started: unknown[] = [];
    r.server.on('session-started', (s) => started.push(s));
    assert.equal(code(await r.peer.bootstrapRequest()), '4.00');
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(r.peer.log, []);
    assert.deepEqual(started, []);
  });

  it('a Finish answered 4.06 fails the session with that code', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p);
    r.peer.override = (method, path) => (method === 'POST' && path === '/bs' ? '4.06' : undefined);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    const session = await done;
    assert.equal(session.outcome?.status, 'failed');
    assert.ok(session.outcome.status === 'failed');
    assert.equal(session.outcome.operation, 'bootstrap-finish');
    assert.equal(session.outcome.code, '4.06');
    assert.equal(session.steps.length, 4);
  });

  it('a Discover answered 4.04 fails the session at the Discover', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p);
    r.peer.override = (method, path) => (method === 'GET' && path === '/' ? '4.04' : undefined);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    const session = await done;
    assert.ok(session.outcome?.status === 'failed');
    assert.equal(session.outcome.operation, 'bootstrap-discover');
    assert.equal(session.outcome.code, '4.04');
    assert.deepEqual(r.peer.log, ['GET /']);
  });

  it('stopping the server ends a running session as stopped', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p, { requestTimeout: 5000 });
    r.peer.override = (method) => (method === 'GET' ? 'drop' : undefined);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    await new Promise((res) => setTimeout(res, 20));
    await r.server.stop();
    const session = await done;
    assert.ok(session.outcome?.status === 'failed');
    assert.equal(session.outcome.reason, 'stopped');
  });

  it('without deleteFirst, deletes nothing and rewrites the SSID in place', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const config = { ...CONFIG, deleteFirst: false };
    const r = await rig(t, p, { config });
    r.peer.seed([
      { path: LwM2mPath.of(0, 4, 0), value: Value.string('coap://old.example') },
      { path: LwM2mPath.of(0, 4, 1), value: Value.boolean(false) },
      { path: LwM2mPath.of(0, 4, 10), value: Value.integer(1) },
    ]);
    r.peer.seed([{ path: LwM2mPath.of(1, 2, 0), value: Value.integer(1) }]);
    r.peer.seed(STALE.server);
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    assert.deepEqual((await done).outcome, { status: 'succeeded' });
    assert.deepEqual(r.peer.log, ['GET /', 'PUT /0/4 110', 'PUT /1/2 110', 'POST /bs']);
    assert.ok(describe(r.peer.instances.get('/0/4')!).includes('/0/4/0 string coap://127.0.0.1:5683'));
    // The other account (SSID 7 at /1/0) is left alone.
    assert.ok(r.peer.instances.has('/1/0'));
  });

  it('a new Bootstrap-Request restarts the endpoint session', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p, { requestTimeout: 2000 });
    let first = true;
    r.peer.override = (method, path) => {
      if (method === 'GET' && path === '/' && first) {
        first = false;
        return 'drop';
      }
      return undefined;
    };
    const replaced = r.nextFinished();
    const succeeded = r.nextFinished();
    await r.peer.bootstrapRequest();
    await new Promise((res) => setTimeout(res, 20));
    await r.peer.bootstrapRequest();
    const a = await replaced;
    const b = await succeeded;
    assert.ok(a.outcome?.status === 'failed');
    assert.equal(a.outcome.reason, 'replaced');
    assert.deepEqual(b.outcome, { status: 'succeeded' });
    assert.notEqual(a.id, b.id);
    // The replaced session's Discover answer never arrives; it records no further step.
    assert.deepEqual(a.steps, []);
  });

  it('emits session-started, session-step per request and session-finished', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p);
    const events: string[] = [];
    r.server.on('session-started', (s) => events.push(`started ${s.endpoint}`));
    r.server.on('session-step', (_s, step) => events.push(`step ${step.operation}`));
    r.server.on('session-finished', (s) => events.push(`finished ${s.outcome?.status}`));
    const done = r.nextFinished();
    await r.peer.bootstrapRequest();
    await done;
    assert.deepEqual(events, [
      `started ${p.endpoint}`,
      'step bootstrap-discover',
      'step bootstrap-write',
      'step bootstrap-write',
      'step bootstrap-finish',
      'finished succeeded',
    ]);
    assert.equal(r.server.session(p.endpoint)?.outcome?.status, 'succeeded');
  });

  it('keeps a bounded list of recent sessions', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p, { maxSessions: 2 });
    for (let i = 0; i < 3; i++) {
      const done = r.nextFinished();
      await r.peer.bootstrapRequest();
      await done;
    }
    const sessions = r.server.sessions();
    assert.equal(sessions.length, 2);
    assert.deepEqual(
      sessions.map((s) => s.id),
      ['bs-2', 'bs-3'],
    );
  });

  it('refuses an invalid stored configuration with 5.00', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const errors: unknown[] = [];
    const r = await rig(t, p, { config: { servers: [] }, onError: (e) => errors.push(e) });
    assert.equal(code(await r.peer.bootstrapRequest()), '5.00');
    assert.equal(errors.length, 1);
  });
});

suite('BootstrapServer endpoint identity', () => {
  it('answers 4.00 when ep is not the endpoint bound to the DTLS identity', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'someone-else', psk: { identity: 'id-b', key: '00112233' } });
    const r = await rig(t, p, { credentials, identity: { psk: 'id-b' } });
    assert.equal(code(await r.peer.bootstrapRequest()), '4.00');
  });

  it('accepts ep that matches the DTLS identity', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: p.endpoint, psk: { identity: 'id-b', key: '00112233' } });
    const r = await rig(t, p, { credentials, identity: { psk: 'id-b' } });
    const done = r.nextFinished();
    assert.equal(code(await r.peer.bootstrapRequest()), '2.04');
    assert.equal((await done).outcome?.status, 'succeeded');
  });

  it('answers 4.00 over DTLS when there is no credential store to check ep against', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const r = await rig(t, p, { identity: { psk: 'id-b' } });
    assert.equal(code(await r.peer.bootstrapRequest()), '4.00');
  });

  it('refuses a NoSec request for an endpoint that has credentials', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: p.endpoint, psk: { identity: 'id-b', key: '00112233' } });
    const r = await rig(t, p, { credentials });
    assert.equal(code(await r.peer.bootstrapRequest()), '4.00');
  });
});

suite('Bootstrap-Pack-Request', () => {
  for (const format of [112, 110, 11544]) {
    it(`answers 2.05 with the configuration as one Pack in ${format}, which decodes back to it`, async (t) => {
      const p = profile(t, CLIENT_A);
      if (!p) return;
      const r = await rig(t, p);
      const res = await r.peer.packRequest(format);
      assert.equal(code(res), '2.05');
      assert.equal(getUint(res, OptionNumber.CONTENT_FORMAT), format);
      const records = codecs.decode(format, res.payload, { path: LwM2mPath.ROOT, model });
      const config = parseBootstrapConfig(CONFIG);
      const expected = bootstrapPackRecords(config, layoutInstances(config, emptyInventory('1.2', [0])));
      assert.deepEqual(describe(records), describe(expected));
      assert.ok(describe(records).includes('/0/1/2 integer 3'));
      assert.ok(describe(records).includes('/1/0/1 integer 300'));
      // No Finish after a Pack; the session is recorded as a pack.
      await new Promise((res2) => setTimeout(res2, 20));
      assert.deepEqual(r.peer.log, []);
      assert.equal(r.finished.at(-1)?.kind, 'pack');
      assert.deepEqual(r.finished.at(-1)?.outcome, { status: 'succeeded' });
    });
  }

  it('answers 4.06 to a Pack in a format that cannot carry one', async (t) => {
    const p = profile(t, CLIENT_A);
    if (!p) return;
    const r = await rig(t, p);
    assert.equal(code(await r.peer.packRequest(11542)), '4.06');
  });

  it('answers 4.04 to a Pack for an endpoint without configuration', async (t) => {
    const p = profile(t, CLIENT_A);
    if (!p) return;
    const r = await rig(t, p, { config: null });
    assert.equal(code(await r.peer.packRequest(112)), '4.04');
  });
});

/** A ServerBinding that hands a test the uplink handler (the seam every binding implements). */
class StubBinding implements ServerBinding {
  handler: UplinkHandler | undefined;
  onUplink(handler: UplinkHandler): void {
    this.handler = handler;
  }
  onRefused(): void {}
  onActivity(): void {}
  send(): Promise<DownlinkResponse> {
    return Promise.reject(new BindingError('closed', 'stub'));
  }
  observe(): Promise<BindingObservation> {
    return Promise.reject(new BindingError('closed', 'stub'));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

suite('Bootstrap-Pack at the binding seam', () => {
  const context: UplinkContext = {
    peer: { address: '10.0.0.2', port: 56830 },
    transport: 'udp',
    identity: { token: '01' },
  };

  async function packServer(t: TestContext): Promise<StubBinding> {
    const configs = new MemoryBootstrapConfigStore();
    await configs.put('dev-1', CONFIG);
    const binding = new StubBinding();
    const server = new BootstrapServer({ configs, binding });
    await server.start();
    t.after(() => server.stop());
    return binding;
  }

  for (const format of [112, 110, 11544] as const) {
    it(`a Pack in ${format} encodes and decodes back to the configuration`, async (t) => {
      const binding = await packServer(t);
      const request: BootstrapPackRequest = {
        kind: 'bootstrap-pack-request',
        endpoint: 'dev-1',
        accept: format,
        accounts: undefined,
      };
      const response = await binding.handler!(request, context);
      assert.equal(response.code, '2.05');
      assert.equal(response.format, format);
      const encoded = encodeUplinkResponse(response, request, { codecs, model });
      assert.equal(
        getUint({ options: encoded.options ?? [] } as unknown as CoapMessage, OptionNumber.CONTENT_FORMAT),
        format,
      );
      const records = codecs.decode(format, encoded.payload!, { path: LwM2mPath.ROOT, model });
      const lines = describe(records);
      // Every value of the configuration, by resource id (LWM2M-1.2.md §4.1, §4.2).
      for (const line of [
        '/0/1/0 string coap://127.0.0.1:5683',
        '/0/1/1 boolean false',
        '/0/1/2 integer 3',
        '/0/1/3 opaque ',
        '/0/1/4 opaque ',
        '/0/1/5 opaque ',
        '/0/1/10 integer 1',
        '/1/0/0 integer 1',
        '/1/0/1 integer 300',
        '/1/0/6 boolean false',
        '/1/0/7 string U',
        '/1/0/25/0 string 1.1',
        '/1/0/25/1 string 1.2',
      ])
        assert.ok(lines.includes(line), `${line} missing from\n${lines.join('\n')}`);
      assert.equal(lines.length, 13);
    });
  }

  it('keeps clear of the BS account instances the client names in acc', async (t) => {
    const binding = await packServer(t);
    const response = await binding.handler!(
      {
        kind: 'bootstrap-pack-request',
        endpoint: 'dev-1',
        accept: 112,
        accounts: [LwM2mPath.of(0, 0), LwM2mPath.of(0, 1)],
      },
      context,
    );
    const paths = new Set(response.records!.map((r) => `/${r.path.objectId}/${r.path.instanceId}`));
    assert.deepEqual([...paths].sort(), ['/0/2', '/1/0']);
  });

  it('answers 4.00 when ep is missing and the peer has no identity', async (t) => {
    const binding = await packServer(t);
    const response = await binding.handler!(
      { kind: 'bootstrap-pack-request', endpoint: undefined, accept: 112, accounts: undefined },
      context,
    );
    assert.equal(response.code, '4.00');
  });

  it('answers 4.04 to uplinks a bootstrap server does not take (Register)', async (t) => {
    const binding = await packServer(t);
    const response = await binding.handler!({ kind: 'deregister', registrationId: '0' }, context);
    assert.equal(response.code, '4.04');
  });
});

suite('BootstrapServer over DTLS (PSK)', () => {
  it('runs client B’s session through a CoAP binding over a DtlsChannel, checking ep against the PSK identity', async (t) => {
    const p = profile(t, CLIENT_B);
    if (!p) return;
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    const KEY = '000102030405060708090a0b0c0d0e0f';
    await credentials.put({ endpoint: p.endpoint, psk: { identity: 'id-b', key: KEY } });
    await credentials.put({ endpoint: 'other', psk: { identity: 'id-o', key: KEY } });
    const configs = new MemoryBootstrapConfigStore();
    await configs.put(p.endpoint, CONFIG);
    const SECURE = { address: '10.0.0.1', port: 5684 };
    const dtls = DtlsChannel.server({
      channel: network.channel(SECURE.address, SECURE.port),
      random: seededRandom(9),
      psk: async (identity) => {
        const info = await credentials.getByPskIdentity(new TextDecoder().decode(identity));
        return info?.psk ? Buffer.from(info.psk.key, 'hex') : undefined;
      },
    });
    const secure = createCoapServerBinding({ channel: dtls, codecs, model, random: seededRandom(10) });
    const server = new BootstrapServer({
      configs,
      credentials,
      channel: network.channel(BS_SERVER.address, BS_SERVER.port),
      bindings: [secure],
      requestTimeout: 2000,
    });
    await server.start();
    const client = (identity: string, address: string): BootstrapPeer =>
      new BootstrapPeer(network, p, {
        server: SECURE,
        channel: DtlsChannel.client({
          channel: network.channel(address, 56840),
          psk: { identity, key: Buffer.from(KEY, 'hex') },
          random: seededRandom(address.length),
        }),
      });
    const good = client('id-b', '10.0.0.5');
    const impostor = client('id-o', '10.0.0.6');
    const keepAlive = setInterval(() => undefined, 1000);
    t.after(async () => {
      clearInterval(keepAlive);
      await good.close();
      await impostor.close();
      await server.stop();
      await dtls.close();
    });
    // ep=client-b-bs over id-o's session: not the endpoint bound to that identity.
    assert.equal(code(await impostor.bootstrapRequest()), '4.00');
    const done = new Promise<BootstrapSessionRecord>((r) => server.once('session-finished', r));
    assert.equal(code(await good.bootstrapRequest()), '2.04');
    const session = await done;
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    assert.equal(session.transport, 'dtls');
    assert.deepEqual(good.log, ['GET /', 'PUT /0/1 110', 'PUT /1/0 110', 'POST /bs']);
    assert.deepEqual(describe(good.instances.get('/1/0')!), expectedInstances('1.1').get('/1/0'));
  });
});
