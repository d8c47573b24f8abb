// BootstrapServer with configurations that name a template (LightweightM2M-Opt-001): two devices
// of one type bootstrap from the same template with their own PSK and identity; a reference that
// cannot be resolved answers like an invalid configuration. Scripted 1.2 peers, in-memory network.
import assert from 'node:assert/strict';
import { describe as suite, it, type TestContext } from 'node:test';
import { BindingError } from '../../src/binding/binding.js';
import type {
  BindingObservation,
  ServerBinding,
  UplinkContext,
  UplinkHandler,
} from '../../src/binding/binding.js';
import { BootstrapConfigError } from '../../src/bootstrap/bootstrap-config.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { formatCode } from '../../src/coap/message.js';
import type { DownlinkResponse } from '../../src/operations/requests.js';
import { seededRandom } from '../../src/random.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { BS_SERVER, BootstrapPeer, describe } from './bootstrap-peer.js';
import type { PeerProfile } from './bootstrap-peer.js';

const TEMPLATE = {
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://${host}:5684',
      lifetime: '${lifetime}',
      security: { mode: 'psk', identity: 'id-${endpoint}', key: '${psk}' },
    },
  ],
};

const KEY_A = '000102030405060708090a0b0c0d0e0f';
const KEY_B = 'f0e0d0c0b0a090807060504030201000';

const profile = (endpoint: string): PeerProfile => ({
  endpoint,
  lwm2mVersion: '1.2',
  requestQuery: [`ep=${endpoint}`, 'pct=112'],
  pack: undefined,
  otherLinks: [],
});

async function rig(t: TestContext) {
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  await configs.putTemplate('sensor', TEMPLATE);
  const errors: unknown[] = [];
  const server = new BootstrapServer({
    configs,
    channel: network.channel(BS_SERVER.address, BS_SERVER.port),
    random: seededRandom(5),
    requestTimeout: 300,
    onError: (e) => errors.push(e),
  });
  await server.start();
  const peers: BootstrapPeer[] = [];
  t.after(async () => {
    for (const p of peers) await p.close();
    await server.stop();
  });
  const peer = (endpoint: string, address: string): BootstrapPeer => {
    const p = new BootstrapPeer(network, profile(endpoint), { address });
    peers.push(p);
    return p;
  };
  const finished = (endpoint: string): Promise<BootstrapSessionRecord> =>
    new Promise((resolve) => {
      const on = (s: BootstrapSessionRecord): void => {
        if (s.endpoint !== endpoint) return;
        server.off('session-finished', on);
        resolve(s);
      };
      server.on('session-finished', on);
    });
  return { server, configs, errors, peer, finished };
}

suite('BootstrapServer with templates', () => {
  it('bootstraps two devices of one template, each with its own PSK, identity and lifetime', async (t) => {
    const r = await rig(t);
    const devices = [
      { ep: 'dev-a', address: '10.0.0.2', values: { host: 'lwm2m.example', lifetime: 300, psk: KEY_A } },
      { ep: 'dev-b', address: '10.0.0.3', values: { host: 'lwm2m.example', lifetime: 600, psk: KEY_B } },
    ];
    for (const d of devices) await r.configs.put(d.ep, { template: 'sensor', values: d.values });
    for (const d of devices) {
      const peer = r.peer(d.ep, d.address);
      const done = r.finished(d.ep);
      assert.equal(formatCode((await peer.bootstrapRequest()).code), '2.04');
      const session = await done;
      assert.deepEqual(session.outcome, { status: 'succeeded' });
      const security = describe(peer.instances.get('/0/1') ?? []);
      const server = describe(peer.instances.get('/1/0') ?? []);
      for (const line of [
        '/0/1/0 string coaps://lwm2m.example:5684',
        '/0/1/2 integer 0',
        `/0/1/3 opaque ${Buffer.from(`id-${d.ep}`).toString('hex')}`,
        `/0/1/5 opaque ${d.values.psk}`,
        '/0/1/10 integer 101',
      ])
        assert.ok(security.includes(line), `${line} missing from\n${security.join('\n')}`);
      assert.ok(server.includes(`/1/0/1 integer ${d.values.lifetime}`), server.join('\n'));
    }
    assert.deepEqual(r.errors, []);
  });

  it('a change of the template reaches its devices at their next bootstrap', async (t) => {
    const r = await rig(t);
    await r.configs.put('dev-a', {
      template: 'sensor',
      values: { host: 'lwm2m.example', lifetime: 300, psk: KEY_A },
    });
    await r.configs.putTemplate('sensor', {
      servers: [{ ...TEMPLATE.servers[0], uri: 'coaps://${host}:15684' }],
    });
    const peer = r.peer('dev-a', '10.0.0.2');
    const done = r.finished('dev-a');
    await peer.bootstrapRequest();
    assert.equal((await done).outcome?.status, 'succeeded');
    assert.ok(
      describe(peer.instances.get('/0/1') ?? []).includes('/0/1/0 string coaps://lwm2m.example:15684'),
    );
  });

  it('answers 5.00 when the template is missing or a placeholder has no value, as for an invalid configuration', async (t) => {
    const r = await rig(t);
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ['dev-x', { template: 'meter', values: {} }, 'template', /no template "meter"/],
      [
        'dev-y',
        { template: 'sensor', values: { host: 'h.example', lifetime: 60 } },
        'servers[0].security.key',
        /no value for \$\{psk\}/,
      ],
      [
        'dev-z',
        { template: 'sensor', values: { host: 'h.example', lifetime: 60, psk: 'zz' } },
        'servers[0].security.key',
        /must be hex/,
      ],
    ];
    let address = 2;
    for (const [ep, doc, field, message] of cases) {
      await r.configs.put(ep, doc);
      const peer = r.peer(ep, `10.0.0.${address++}`);
      const answer = await peer.bootstrapRequest();
      assert.equal(formatCode(answer.code), '5.00', ep);
      assert.match(new TextDecoder().decode(answer.payload), /the bootstrap configuration is invalid/);
      assert.deepEqual(peer.log, [], 'no downlink follows');
      const error = r.errors.at(-1);
      assert.ok(error instanceof BootstrapConfigError, String(error));
      assert.equal(error.field, field);
      assert.match(error.message, message);
    }
    assert.equal(r.server.sessions().length, 0);
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

suite('Bootstrap-Pack of a templated device (binding seam)', () => {
  const context: UplinkContext = {
    peer: { address: '10.0.0.2', port: 56830 },
    transport: 'udp',
    identity: { token: '01' },
  };

  it('packs the resolved configuration; an unresolvable one is 5.00', async (t) => {
    const configs = new MemoryBootstrapConfigStore();
    await configs.putTemplate('sensor', TEMPLATE);
    await configs.put('dev-a', {
      template: 'sensor',
      values: { host: 'h.example', lifetime: 90, psk: KEY_A },
    });
    await configs.put('dev-b', { template: 'sensor', values: {} });
    const binding = new StubBinding();
    const server = new BootstrapServer({ configs, binding, onError: () => undefined });
    await server.start();
    t.after(() => server.stop());
    const pack = (endpoint: string) =>
      binding.handler!(
        { kind: 'bootstrap-pack-request', endpoint, accept: 112, accounts: undefined },
        context,
      );
    const ok = await pack('dev-a');
    assert.equal(ok.code, '2.05');
    const lines = describe(ok.records ?? []);
    for (const line of [
      '/0/1/0 string coaps://h.example:5684',
      `/0/1/3 opaque ${Buffer.from('id-dev-a').toString('hex')}`,
      `/0/1/5 opaque ${KEY_A}`,
      '/1/0/1 integer 90',
    ])
      assert.ok(lines.includes(line), `${line} missing from\n${lines.join('\n')}`);
    const bad = await pack('dev-b');
    assert.equal(bad.code, '5.00');
    assert.match(bad.diagnostic ?? '', /servers\[0\]\.uri: no value for \$\{host\}/);
  });
});
