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

const SENSOR_TEMPLATE = {
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://${host}:5684',
      lifetime: '${lifetime}',
      security: { mode: 'psk', identity: '${endpoint}', key: '${psk}' },
    },
  ],
  bootstrapServer: {
    uri: 'coaps://bs.example:5684',
    security: { mode: 'rpk', publicKey: 'b2b2', privateKey: PRIVATE, serverPublicKey: 'c3c3' },
  },
};

const SENSOR_VALUES = { host: 'lwm2m.example', lifetime: 600, psk: PSK };

describe('/api/bootstrap/templates', () => {
  let r: Rig;
  const call = caller(() => r.app);
  before(async () => {
    r = await rig(false);
  });
  after(() => r.close());

  it('PUT validates and stores a template; GET shows it with its placeholders, fixed secrets as *', async () => {
    const put = await call('PUT', '/api/bootstrap/templates/sensor', SENSOR_TEMPLATE);
    assert.equal(put.status, 200, put.body);
    const expected = {
      name: 'sensor',
      placeholders: ['host', 'lifetime', 'endpoint', 'psk'],
      secretPlaceholders: ['psk'],
      template: {
        ...SENSOR_TEMPLATE,
        bootstrapServer: {
          ...SENSOR_TEMPLATE.bootstrapServer,
          security: { ...SENSOR_TEMPLATE.bootstrapServer.security, privateKey: '*'.repeat(80) },
        },
      },
      clients: 0,
    };
    assert.deepEqual(put.json, expected);
    const got = await call('GET', '/api/bootstrap/templates/sensor');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, expected);
    for (const body of [put.body, got.body]) assert.doesNotMatch(body, /a1a1a1/);
    // The store keeps the template as given (the fixed key included).
    assert.deepEqual(await r.configs.getTemplate('sensor'), SENSOR_TEMPLATE);
  });

  it('a bad template or name is 400 BAD_REQUEST naming the field, and nothing is stored', async () => {
    const server = SENSOR_TEMPLATE.servers[0]!;
    const cases: [unknown, RegExp][] = [
      [{ servers: [{ ...server, lifetme: 1 }] }, /^servers\[0\]\.lifetme: is not a field/],
      [
        { servers: [{ ...server, security: { mode: '${mode}', identity: 'x', key: '00' } }] },
        /^servers\[0\]\.security\.mode: cannot be a placeholder/,
      ],
      [
        { servers: [{ ...server, uri: 'coaps://${host' }] },
        /^servers\[0\]\.uri: has a malformed placeholder/,
      ],
      [{ servers: [{ ...server, uri: 'coap://${host}' }] }, /^servers\[0\]\.uri: security mode psk needs/],
      [{ template: 'other' }, /^template: is not a field/],
    ];
    for (const [body, message] of cases) {
      const res = await call('PUT', '/api/bootstrap/templates/bad', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'BAD_REQUEST');
      assert.match(res.json.message, message);
    }
    for (const name of ['-x', 'a%20b', 'x'.repeat(65), '.hidden']) {
      const res = await call('PUT', `/api/bootstrap/templates/${name}`, SENSOR_TEMPLATE);
      assert.equal(res.status, 400, name);
      assert.equal(res.json.code, 'BAD_REQUEST');
    }
    assert.equal(await r.configs.getTemplate('bad'), undefined);
    assert.equal((await call('GET', '/api/bootstrap/templates/nothing')).status, 404);
  });

  it('a device of a template: values with secrets by length, and the resolved configuration', async () => {
    const put = await call('PUT', '/api/bootstrap/clients/dev-t1', {
      template: 'sensor',
      values: { ...SENSOR_VALUES, unused: true },
    });
    assert.equal(put.status, 200, put.body);
    const expected = {
      endpoint: 'dev-t1',
      template: 'sensor',
      values: { host: 'lwm2m.example', lifetime: 600, psk: { length: 32 }, unused: true },
      resolved: {
        endpoint: 'dev-t1',
        servers: [
          {
            shortServerId: 101,
            uri: 'coaps://lwm2m.example:5684',
            lifetime: 600,
            security: { mode: 'psk', identity: 'dev-t1', keyLength: 16 },
          },
        ],
        bootstrapServer: {
          uri: 'coaps://bs.example:5684',
          security: { mode: 'rpk', publicKey: 'b2b2', serverPublicKey: 'c3c3', privateKeyLength: 40 },
        },
        deleteFirst: true,
      },
    };
    assert.deepEqual(put.json, expected);
    const got = await call('GET', '/api/bootstrap/clients/dev-t1');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, expected);
    const list = await call('GET', '/api/bootstrap/clients');
    assert.deepEqual(
      list.json.items.find((i: { endpoint: string }) => i.endpoint === 'dev-t1'),
      expected,
    );
    for (const body of [put.body, got.body, list.body]) {
      assert.doesNotMatch(body, /00112233445566778899/i);
      assert.doesNotMatch(body, /a1a1a1/);
    }
    // Stored as the reference, so a changed template reaches the device.
    assert.deepEqual(await r.configs.get('dev-t1'), {
      template: 'sensor',
      values: { ...SENSOR_VALUES, unused: true },
    });
    assert.equal((await call('GET', '/api/bootstrap/templates/sensor')).json.clients, 1);
  });

  it('PUT of a device refuses an unknown template, unfilled placeholders and values that do not fit', async () => {
    const cases: [unknown, RegExp][] = [
      [{ template: 'meter', values: SENSOR_VALUES }, /^template: there is no template "meter"/],
      [
        { template: 'sensor', values: { host: 'h.example', lifetime: 1 } },
        /^servers\[0\]\.security\.key: no value for \$\{psk\}$/,
      ],
      [
        { template: 'sensor', values: { ...SENSOR_VALUES, psk: 'xyz' } },
        /^servers\[0\]\.security\.key: must be hex/,
      ],
      [{ template: 'sensor', values: { ...SENSOR_VALUES, lifetime: '600' } }, /^servers\[0\]\.lifetime: /],
      [{ template: 'sensor', values: { ...SENSOR_VALUES, endpoint: 'x' } }, /^values\.endpoint: is built in/],
      [{ template: 'sensor', values: SENSOR_VALUES, servers: [] }, /^servers: is not a field of a template/],
    ];
    for (const [body, message] of cases) {
      const res = await call('PUT', '/api/bootstrap/clients/dev-bad', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'BAD_REQUEST');
      assert.match(res.json.message, message);
      assert.doesNotMatch(res.body, /00112233445566778899/i);
    }
    assert.equal(await r.configs.get('dev-bad'), undefined);
  });

  it('a stored reference to a missing template shows the error, every value by length', async () => {
    await r.configs.put('orphan', { template: 'gone', values: { host: 'abc', n: 12 } });
    const got = await call('GET', '/api/bootstrap/clients/orphan');
    assert.equal(got.status, 200);
    assert.deepEqual(got.json, {
      endpoint: 'orphan',
      template: 'gone',
      values: { host: { length: 3 }, n: { length: 2 } },
      resolved: { endpoint: 'orphan', error: 'template: there is no template "gone"' },
    });
    await r.configs.remove('orphan');
  });

  it('PUT of a template names the devices it no longer resolves for', async () => {
    const changed = {
      ...SENSOR_TEMPLATE,
      servers: [{ ...SENSOR_TEMPLATE.servers[0]!, binding: '${binding}' }],
    };
    const put = await call('PUT', '/api/bootstrap/templates/sensor', changed);
    assert.equal(put.status, 200, put.body);
    assert.equal(put.json.clients, 1);
    assert.deepEqual(put.json.unresolved, [
      { endpoint: 'dev-t1', error: 'servers[0].binding: no value for ${binding}' },
    ]);
    const got = await call('GET', '/api/bootstrap/clients/dev-t1');
    assert.equal(got.json.resolved.error, 'servers[0].binding: no value for ${binding}');
    const back = await call('PUT', '/api/bootstrap/templates/sensor', SENSOR_TEMPLATE);
    assert.equal(back.json.unresolved, undefined);
  });

  it('lists templates sorted and paged', async () => {
    assert.equal((await call('PUT', '/api/bootstrap/templates/a-meter', SENSOR_TEMPLATE)).status, 200);
    assert.equal((await call('PUT', '/api/bootstrap/templates/z_tracker.v2', SENSOR_TEMPLATE)).status, 200);
    const all = await call('GET', '/api/bootstrap/templates');
    assert.equal(all.status, 200);
    assert.equal(all.json.total, 3);
    assert.deepEqual(
      all.json.items.map((i: { name: string; clients: number }) => `${i.name}:${i.clients}`),
      ['a-meter:0', 'sensor:1', 'z_tracker.v2:0'],
    );
    assert.doesNotMatch(all.body, /a1a1a1/);
    const page = await call('GET', '/api/bootstrap/templates?offset=1&limit=1');
    assert.deepEqual(
      [page.json.total, page.json.offset, page.json.limit, page.json.items[0].name],
      [3, 1, 1, 'sensor'],
    );
    assert.equal((await call('GET', '/api/bootstrap/templates?limit=0')).status, 400);
  });

  it('DELETE of a template devices use is 409 CONFLICT naming them; then 204, then 404', async () => {
    assert.equal(
      (await call('PUT', '/api/bootstrap/clients/dev-t2', { template: 'sensor', values: SENSOR_VALUES }))
        .status,
      200,
    );
    const refused = await call('DELETE', '/api/bootstrap/templates/sensor');
    assert.equal(refused.status, 409);
    assert.equal(refused.json.code, 'CONFLICT');
    assert.match(refused.json.message, /used by 2 devices: "dev-t1", "dev-t2"$/);
    assert.ok(await r.configs.getTemplate('sensor'));
    assert.equal((await call('DELETE', '/api/bootstrap/clients/dev-t1')).status, 204);
    assert.equal((await call('DELETE', '/api/bootstrap/clients/dev-t2')).status, 204);
    assert.equal((await call('DELETE', '/api/bootstrap/templates/sensor')).status, 204);
    assert.equal(await r.configs.getTemplate('sensor'), undefined);
    const again = await call('DELETE', '/api/bootstrap/templates/sensor');
    assert.equal(again.status, 404);
    assert.equal(again.json.code, 'NOT_FOUND');
  });

  it('documents the template routes in /api/openapi.json', async () => {
    const doc = (await call('GET', '/api/openapi.json')).json;
    assert.ok(doc.paths['/api/bootstrap/templates']?.get);
    const one = doc.paths['/api/bootstrap/templates/{name}'];
    assert.ok(one?.get && one.put && one.delete);
    assert.ok(one.delete.responses['409']);
  });

  it('is 503 UNAVAILABLE without a configuration store', async () => {
    const app = await createApiServer({
      server: new LwM2mServer({ channel: new MemoryNetwork().channel('10.0.0.9', 5683) }),
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 10 }), kind: 'memory' },
      record: false,
    });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/bootstrap/templates' });
      assert.equal(res.statusCode, 503);
    } finally {
      await app.close();
    }
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
