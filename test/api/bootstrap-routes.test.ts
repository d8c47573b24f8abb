/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument --
   The answers are untyped JSON; the assertions check them field by field. */
// /api/bootstrap: per-endpoint bootstrap configurations (validated, secrets never shown) and the
// sessions of a Bootstrap-Server that a scripted peer bootstraps over an in-memory network.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src/api/api-server.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { BS_SERVER, BootstrapPeer } from '../bootstrap/bootstrap-peer.js';
import type { PeerProfile } from '../bootstrap/bootstrap-peer.js';

const PSK = '00112233445566778899AABBCCDDEEFF';
const PRIVATE = 'a1'.repeat(40);

const NOSEC = {
  servers: [
    {
      shortServerId: 101,
      uri: 'coap://127.0.0.1:5683',
      lifetime: 300,
      binding: 'U',
      security: { mode: 'nosec' },
    },
  ],
};

const SECRET = {
  servers: [
    {
      shortServerId: 1,
      uri: 'coaps://lwm2m.example:5684',
      security: { mode: 'psk', identity: 'dev-psk', key: PSK },
    },
    {
      shortServerId: 2,
      uri: 'coaps://other.example:5684',
      security: { mode: 'rpk', publicKey: 'b2'.repeat(30), privateKey: PRIVATE, serverPublicKey: 'c3c3' },
    },
  ],
  bootstrapServer: {
    uri: 'coaps://bs.example:5684',
    security: {
      mode: 'x509',
      certificate: 'd4d4',
      privateKey: PRIVATE,
      serverCertificate: 'e5e5',
      certificateUsage: 3,
    },
  },
  deleteFirst: false,
};

interface Rig {
  app: FastifyInstance;
  configs: MemoryBootstrapConfigStore;
  network: MemoryNetwork;
  bootstrap: BootstrapServer | undefined;
  close(): Promise<void>;
}

async function rig(withBootstrap: boolean): Promise<Rig> {
  const configs = new MemoryBootstrapConfigStore();
  const server = new LwM2mServer({ channel: new MemoryNetwork().channel('10.0.0.9', 5683) });
  const network = new MemoryNetwork();
  let bootstrap: BootstrapServer | undefined;
  if (withBootstrap) {
    bootstrap = new BootstrapServer({
      configs,
      channel: network.channel(BS_SERVER.address, BS_SERVER.port),
      random: seededRandom(5),
      requestTimeout: 300,
    });
    await bootstrap.start();
  }
  const app = await createApiServer({
    server,
    stores: {
      tags: new MemoryTagStore(),
      events: new MemoryEventLog({ capacity: 10 }),
      kind: 'memory',
      bootstrapConfigs: configs,
    },
    ...(bootstrap ? { bootstrap } : {}),
    record: false,
  });
  return {
    app,
    configs,
    network,
    bootstrap,
    async close() {
      await app.close();
      await bootstrap?.stop();
    },
  };
}

function caller(get: () => FastifyInstance) {
  return async (
    method: 'GET' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, read by assertions
  ): Promise<{ status: number; json: any; body: string }> => {
    const res = await get().inject({
      method,
      url,
      ...(body === undefined
        ? {}
        : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    return {
      status: res.statusCode,
      body: res.body,
      json: res.body === '' ? undefined : (JSON.parse(res.body) as unknown),
    };
  };
}

describe('/api/bootstrap/clients', () => {
  let r: Rig;
  const call = caller(() => r.app);
  before(async () => {
    r = await rig(false);
  });
  after(() => r.close());

  it('PUT validates and stores the configuration, answering it with defaults filled in', async () => {
    const res = await call('PUT', '/api/bootstrap/clients/dev-1', NOSEC);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json, { endpoint: 'dev-1', ...NOSEC, deleteFirst: true });
    assert.deepEqual(await r.configs.get('dev-1'), { ...NOSEC, deleteFirst: true });
    const got = await call('GET', '/api/bootstrap/clients/dev-1');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, res.json);
  });

  it('never shows PSKs or private keys: identities, public parts and lengths only', async () => {
    const put = await call('PUT', '/api/bootstrap/clients/dev-2', SECRET);
    assert.equal(put.status, 200, put.body);
    const got = await call('GET', '/api/bootstrap/clients/dev-2');
    assert.equal(got.status, 200);
    for (const body of [put.body, got.body]) {
      assert.doesNotMatch(body, /00112233445566778899/i);
      assert.doesNotMatch(body, /a1a1a1/);
    }
    assert.deepEqual(got.json.servers[0].security, { mode: 'psk', identity: 'dev-psk', keyLength: 16 });
    assert.deepEqual(got.json.servers[1].security, {
      mode: 'rpk',
      publicKey: 'b2'.repeat(30),
      serverPublicKey: 'c3c3',
      privateKeyLength: 40,
    });
    assert.deepEqual(got.json.bootstrapServer, {
      uri: 'coaps://bs.example:5684',
      security: {
        mode: 'x509',
        certificate: 'd4d4',
        serverCertificate: 'e5e5',
        certificateUsage: 3,
        privateKeyLength: 40,
      },
    });
    assert.equal(got.json.deleteFirst, false);
    // The store keeps the key (lower-cased): the Bootstrap-Server writes it to the device.
    const stored = (await r.configs.get('dev-2')) as { servers: { security: { key?: string } }[] };
    assert.equal(stored.servers[0]?.security.key, PSK.toLowerCase());
  });

  it('a bad configuration is 400 BAD_REQUEST naming the field, and nothing is stored', async () => {
    const cases: [unknown, RegExp][] = [
      [{ servers: [{ ...NOSEC.servers[0], lifetme: 3 }] }, /^servers\[0\]\.lifetme: is not a field/],
      [
        { servers: [{ ...SECRET.servers[0], security: { mode: 'psk', identity: 'x', key: 'xyz' } }] },
        /^servers\[0\]\.security\.key: must be hex/,
      ],
      [{ servers: [{ ...NOSEC.servers[0], uri: 'coaps://a.example' }] }, /^servers\[0\]\.uri: /],
      [{ servers: [] }, /^servers: needs at least one server/],
      [{}, /^servers: is required/],
    ];
    for (const [body, message] of cases) {
      const res = await call('PUT', '/api/bootstrap/clients/bad', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'BAD_REQUEST');
      assert.match(res.json.message, message);
    }
    const notObject = await call('PUT', '/api/bootstrap/clients/bad', [1, 2]);
    assert.equal(notObject.status, 400);
    assert.equal(notObject.json.code, 'BAD_REQUEST');
    assert.equal(await r.configs.get('bad'), undefined);
  });

  it('GET of an endpoint without a configuration is 404 NOT_FOUND', async () => {
    const res = await call('GET', '/api/bootstrap/clients/nobody');
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 'NOT_FOUND');
  });

  it('lists configurations sorted and paged; a stored document that is invalid shows its error', async () => {
    await r.configs.put('dev-0', { servers: 'nope' });
    const all = await call('GET', '/api/bootstrap/clients');
    assert.equal(all.status, 200);
    assert.equal(all.json.total, 3);
    assert.deepEqual(
      all.json.items.map((i: { endpoint: string }) => i.endpoint),
      ['dev-0', 'dev-1', 'dev-2'],
    );
    assert.deepEqual(all.json.items[0], { endpoint: 'dev-0', error: 'servers: must be a list' });
    assert.doesNotMatch(all.body, /00112233445566778899/i);
    const page = await call('GET', '/api/bootstrap/clients?offset=1&limit=1');
    assert.deepEqual(
      [page.json.total, page.json.offset, page.json.limit, page.json.items[0].endpoint],
      [3, 1, 1, 'dev-1'],
    );
    assert.equal((await call('GET', '/api/bootstrap/clients?limit=0')).status, 400);
  });

  it('DELETE removes (204), then 404', async () => {
    assert.equal((await call('DELETE', '/api/bootstrap/clients/dev-0')).status, 204);
    assert.equal(await r.configs.get('dev-0'), undefined);
    const again = await call('DELETE', '/api/bootstrap/clients/dev-0');
    assert.equal(again.status, 404);
    assert.equal(again.json.code, 'NOT_FOUND');
  });

  it('sessions are 503 UNAVAILABLE without a bootstrap server', async () => {
    for (const url of ['/api/bootstrap/sessions', '/api/bootstrap/sessions/dev-1']) {
      const res = await call('GET', url);
      assert.equal(res.status, 503);
      assert.equal(res.json.code, 'UNAVAILABLE');
    }
  });

  it('documents the routes in /api/openapi.json', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json;
    for (const path of [
      '/api/bootstrap/clients',
      '/api/bootstrap/clients/{ep}',
      '/api/bootstrap/sessions',
      '/api/bootstrap/sessions/{ep}',
    ])
      assert.ok(doc.paths[path], path);
    assert.ok(doc.paths['/api/bootstrap/clients/{ep}'].put);
  });
});

describe('/api/bootstrap/sessions', () => {
  let r: Rig;
  const call = caller(() => r.app);
  before(async () => {
    r = await rig(true);
  });
  after(() => r.close());

  const profile = (endpoint: string): PeerProfile => ({
    endpoint,
    lwm2mVersion: '1.2',
    requestQuery: [`ep=${endpoint}`],
    pack: undefined,
    otherLinks: [],
  });

  async function bootstrapOnce(endpoint: string): Promise<BootstrapSessionRecord> {
    const bs = r.bootstrap!;
    const finished = new Promise<BootstrapSessionRecord>((resolve) => {
      const on = (s: BootstrapSessionRecord): void => {
        if (s.endpoint !== endpoint) return;
        bs.off('session-finished', on);
        resolve(s);
      };
      bs.on('session-finished', on);
    });
    const peer = new BootstrapPeer(r.network, profile(endpoint), { address: '10.0.0.2' });
    try {
      const answer = await peer.bootstrapRequest();
      assert.equal(answer.code, 0x44); // 2.04
      return await finished;
    } finally {
      await peer.close();
    }
  }

  it('shows the session a peer ran through PUT configuration, with its steps and outcome', async () => {
    assert.deepEqual((await call('GET', '/api/bootstrap/sessions')).json, { items: [] });
    assert.equal((await call('PUT', '/api/bootstrap/clients/bs-dev', NOSEC)).status, 200);
    const done = await bootstrapOnce('bs-dev');
    assert.equal(done.outcome?.status, 'succeeded');

    const list = await call('GET', '/api/bootstrap/sessions');
    assert.equal(list.status, 200);
    assert.equal(list.json.items.length, 1);
    const s = list.json.items[0];
    assert.equal(s.endpoint, 'bs-dev');
    assert.equal(s.kind, 'request');
    assert.equal(s.lwm2mVersion, '1.2');
    assert.deepEqual(s.outcome, { status: 'succeeded' });
    assert.deepEqual(
      s.steps.map(
        (st: { operation: string; path?: string; code?: string }) =>
          `${st.operation} ${st.path ?? '-'} ${st.code}`,
      ),
      [
        'bootstrap-discover / 2.05',
        'bootstrap-write /0/1 2.04',
        'bootstrap-write /1/0 2.04',
        'bootstrap-finish - 2.04',
      ],
    );
    const one = await call('GET', '/api/bootstrap/sessions/bs-dev');
    assert.equal(one.status, 200);
    assert.deepEqual(one.json, s);
  });

  it('a failed session shows the failing step; filters by endpoint; 404 for an unknown endpoint', async () => {
    assert.equal((await call('PUT', '/api/bootstrap/clients/bs-bad', NOSEC)).status, 200);
    const bs = r.bootstrap!;
    const finished = new Promise<BootstrapSessionRecord>((resolve) => bs.once('session-finished', resolve));
    const peer = new BootstrapPeer(r.network, profile('bs-bad'), { address: '10.0.0.3' });
    peer.override = (method, path) => (method === 'PUT' && path === '/1/0' ? '4.00' : undefined);
    try {
      await peer.bootstrapRequest();
      await finished;
    } finally {
      await peer.close();
    }
    const one = await call('GET', '/api/bootstrap/sessions/bs-bad');
    assert.equal(one.status, 200);
    assert.equal(one.json.outcome.status, 'failed');
    assert.equal(one.json.outcome.reason, 'error-code');
    assert.equal(one.json.outcome.operation, 'bootstrap-write');
    assert.equal(one.json.outcome.path, '/1/0');
    assert.equal(one.json.outcome.code, '4.00');
    const filtered = await call('GET', '/api/bootstrap/sessions?endpoint=bs-bad');
    assert.deepEqual(
      filtered.json.items.map((i: { endpoint: string }) => i.endpoint),
      ['bs-bad'],
    );
    assert.equal((await call('GET', '/api/bootstrap/sessions')).json.items.length, 2);
    const missing = await call('GET', '/api/bootstrap/sessions/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'NOT_FOUND');
  });
});
