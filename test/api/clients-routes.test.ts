/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   The answers are untyped JSON; the assertions check them field by field. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture } from './api-fixture.js';
import type { ApiFixture } from './api-fixture.js';

describe('REST API: clients', () => {
  let f: ApiFixture;
  before(async () => {
    f = await apiFixture();
    await f.addClient('urn:imei:0001', '10.0.0.11', { version: '1.1' });
    await f.addClient('urn:imei:0002', '10.0.0.12', {
      servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 600, queueMode: true, binding: 'U' }],
    });
    await f.addClient('beta-sensor', '10.0.0.13');
  });
  after(() => f.close());

  it('lists registered clients sorted by endpoint', async () => {
    const { status, json } = await f.call('GET', '/api/clients');
    assert.equal(status, 200);
    assert.equal(json.total, 4);
    assert.equal(json.offset, 0);
    assert.equal(json.limit, 50);
    assert.deepEqual(
      json.items.map((c: { endpoint: string }) => c.endpoint),
      ['beta-sensor', 'petrel-rig', 'urn:imei:0001', 'urn:imei:0002'],
    );
    const rig = json.items[1];
    assert.equal(rig.lwm2mVersion, '1.2');
    assert.equal(rig.binding, 'U');
    assert.equal(rig.lifetime, 300);
    assert.equal(rig.status, 'awake');
    assert.equal(rig.address, '10.0.0.2:56830');
    assert.equal(rig.transport, 'memory');
    assert.equal(rig.registrationId, f.rig.reg!.id);
    assert.equal(rig.registeredAt, new Date(f.rig.reg!.registeredAt).toISOString());
    assert.ok(Date.parse(rig.expiresAt) > Date.parse(rig.registeredAt));
    assert.ok(Date.parse(rig.lastSeen) >= Date.parse(rig.registeredAt));
    assert.deepEqual(rig.tags, []);
    const queued = json.items[3];
    assert.equal(queued.queueMode, true);
    assert.equal(queued.lifetime, 600);
  });

  it('filters by search, version, binding and status', async () => {
    const names = async (query: string): Promise<string[]> => {
      const { status, json } = await f.call('GET', `/api/clients?${query}`);
      assert.equal(status, 200, query);
      return json.items.map((c: { endpoint: string }) => c.endpoint);
    };
    assert.deepEqual(await names('search=IMEI'), ['urn:imei:0001', 'urn:imei:0002']);
    assert.deepEqual(await names('version=1.1'), ['urn:imei:0001']);
    assert.deepEqual(await names('binding=U&search=beta'), ['beta-sensor']);
    assert.deepEqual(await names('binding=S'), []);
    assert.deepEqual(await names('status=sleeping'), []);
    assert.equal((await names('status=awake')).length, 4);
  });

  it('pages with offset and limit, and bounds the limit', async () => {
    const page = await f.call('GET', '/api/clients?offset=1&limit=2');
    assert.equal(page.json.total, 4);
    assert.deepEqual(
      page.json.items.map((c: { endpoint: string }) => c.endpoint),
      ['petrel-rig', 'urn:imei:0001'],
    );
    const past = await f.call('GET', '/api/clients?offset=10');
    assert.equal(past.json.total, 4);
    assert.deepEqual(past.json.items, []);
    const tooMany = await f.call('GET', '/api/clients?limit=1001');
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.json.code, 'BAD_REQUEST');
    assert.match(tooMany.json.message, /querystring\/limit must be <= 1000/);
    const unknown = await f.call('GET', '/api/clients?colour=red');
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.message, /"colour"/);
  });

  it('sets tags (any endpoint name), filters by them, and logs a tags event', async () => {
    const put = await f.call('PUT', '/api/clients/urn%3Aimei%3A0001/tags', {
      tags: ['site:paris', 'beta', 'beta'],
    });
    assert.equal(put.status, 200);
    assert.deepEqual(put.json, { endpoint: 'urn:imei:0001', tags: ['site:paris', 'beta'] });
    await f.call('PUT', '/api/clients/beta-sensor/tags', { tags: ['beta'] });
    const ghost = await f.call('PUT', '/api/clients/not-registered-yet/tags', { tags: ['later'] });
    assert.equal(ghost.status, 200);
    assert.deepEqual((await f.call('GET', '/api/clients/not-registered-yet/tags')).json, {
      endpoint: 'not-registered-yet',
      tags: ['later'],
    });

    const names = async (query: string): Promise<string[]> =>
      (await f.call('GET', `/api/clients?${query}`)).json.items.map((c: { endpoint: string }) => c.endpoint);
    assert.deepEqual(await names('tag=beta'), ['beta-sensor', 'urn:imei:0001']);
    assert.deepEqual(await names('tag=beta&tag=site:paris'), ['urn:imei:0001']);
    assert.deepEqual(await names('tag=nothing'), []);

    const event = await f.waitForEvent((e) => e.type === 'tags' && e.endpoint === 'urn:imei:0001');
    assert.deepEqual(event.data, { endpoint: 'urn:imei:0001', tags: ['site:paris', 'beta'] });
  });

  it('refuses tags that break the rules with BAD_REQUEST', async () => {
    const spaced = await f.call('PUT', '/api/clients/x/tags', { tags: ['has space'] });
    assert.equal(spaced.status, 400);
    assert.equal(spaced.json.code, 'BAD_REQUEST');
    assert.match(spaced.json.message, /body\/tags\/0 must match pattern/);
    const many = await f.call('PUT', '/api/clients/x/tags', {
      tags: Array.from({ length: 33 }, (_, i) => `t${i}`),
    });
    assert.equal(many.status, 400);
    assert.match(many.json.message, /must NOT have more than 32 items/);
    const missing = await f.call('PUT', '/api/clients/x/tags', {});
    assert.equal(missing.status, 400);
    assert.match(missing.json.message, /must have required property 'tags'/);
  });

  it('shows one client in detail', async () => {
    const { status, json } = await f.call('GET', `/api/clients/${f.rig.ep}`);
    assert.equal(status, 200);
    assert.equal(json.endpoint, f.rig.ep);
    assert.equal(json.observations, 0);
    assert.equal(json.sms, null);
    assert.deepEqual(json.profileIds, []);
    assert.equal(json.alternatePath, null);
    assert.deepEqual(
      json.objects.map((o: { id: number; instances: number[] }) => [o.id, o.instances]),
      [
        [1, [0]],
        [3, [0]],
        [3303, [0]],
        [42769, [0, 1]],
      ],
    );
    assert.ok(
      json.objectLinks.some(
        (l: { target: string; params: Record<string, unknown> }) =>
          l.target === '/3303' && l.params.ver === '1.1',
      ),
    );
    assert.deepEqual(json.extraParameters, {});
  });

  it('answers 404 UNKNOWN_CLIENT for an unknown endpoint, on every client route', async () => {
    for (const [method, url, body] of [
      ['GET', '/api/clients/nobody'],
      ['GET', '/api/clients/nobody/3/0'],
      ['PUT', '/api/clients/nobody/3/0/14', { value: '+01' }],
      ['POST', '/api/clients/nobody/3/0/4/execute'],
      ['GET', '/api/clients/nobody/observations'],
      ['POST', '/api/clients/nobody/composite/read', { paths: ['/3/0/0'] }],
    ] as const) {
      const r = await f.call(method, url, body);
      assert.equal(r.status, 404, `${method} ${url}`);
      assert.equal(r.json.code, 'UNKNOWN_CLIENT');
      assert.match(r.json.message, /nobody/);
    }
  });
});

describe('REST API: clients, security', () => {
  let f: ApiFixture;
  before(async () => {
    f = await apiFixture();
    const net = f.rig.network;
    await f.addClient('psk-dev', '10.0.0.21', {
      channel: net.channel('10.0.0.21', 56830, { identity: { psk: 'psk-dev-id' } }),
    });
    await f.addClient('rpk-dev', '10.0.0.22', {
      channel: net.channel('10.0.0.22', 56830, { identity: { rpk: Uint8Array.of(0x30, 0x59, 0x01) } }),
    });
  });
  after(() => f.close());

  it('shows each client’s security mode and identity, in the list and in detail', async () => {
    const { json } = await f.call('GET', '/api/clients');
    assert.deepEqual(
      json.items.map((c: { endpoint: string; security: unknown }) => [c.endpoint, c.security]),
      [
        ['petrel-rig', { mode: 'nosec' }],
        ['psk-dev', { mode: 'psk', identity: 'psk-dev-id' }],
        ['rpk-dev', { mode: 'rpk', identity: '305901' }],
      ],
    );
    const detail = await f.call('GET', '/api/clients/psk-dev');
    assert.deepEqual(detail.json.security, { mode: 'psk', identity: 'psk-dev-id' });
  });
});
