/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call --
   The answers are untyped JSON; the assertions check them field by field. */
// /api/security/clients: per-device PSKs in the credential store, keys never shown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src/api/api-server.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const KEY = '000102030405060708090A0B0C0D0E0F';

function apiWith(credentials: MemoryCredentialStore | undefined): Promise<FastifyInstance> {
  const server = new LwM2mServer({ channel: new MemoryNetwork().channel('10.0.0.1', 5683) });
  return createApiServer({
    server,
    stores: {
      tags: new MemoryTagStore(),
      events: new MemoryEventLog({ capacity: 10 }),
      kind: 'memory',
      ...(credentials ? { credentials } : {}),
    },
    record: false,
  });
}

describe('/api/security/clients', () => {
  const credentials = new MemoryCredentialStore();
  let app: FastifyInstance;
  const call = async (
    method: 'GET' | 'PUT' | 'DELETE',
    url: string,
    body?: unknown,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, read by assertions
  ): Promise<{ status: number; json: any }> => {
    const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, json: res.body === '' ? undefined : (JSON.parse(res.body) as unknown) };
  };

  before(async () => {
    app = await apiWith(credentials);
  });
  after(() => app.close());

  it('PUT stores the PSK (hex, lower-cased) and answers without the key', async () => {
    const res = await call('PUT', '/api/security/clients/dev-1', { psk: { identity: 'id-1', key: KEY } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { endpoint: 'dev-1', mode: 'psk', psk: { identity: 'id-1', keyLength: 16 } });
    assert.deepEqual(await credentials.get('dev-1'), {
      endpoint: 'dev-1',
      psk: { identity: 'id-1', key: KEY.toLowerCase() },
    });
    assert.equal((await credentials.getByPskIdentity('id-1'))?.endpoint, 'dev-1');
  });

  it('GET shows identity and key length, never the key', async () => {
    const res = await call('GET', '/api/security/clients/dev-1');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { endpoint: 'dev-1', mode: 'psk', psk: { identity: 'id-1', keyLength: 16 } });
    assert.doesNotMatch(JSON.stringify(res.json), /0001020304/i);
    const missing = await call('GET', '/api/security/clients/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'NOT_FOUND');
  });

  it('an identity bound to another endpoint is 409 CONFLICT', async () => {
    const res = await call('PUT', '/api/security/clients/dev-2', { psk: { identity: 'id-1', key: 'aa' } });
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'CONFLICT');
    assert.equal(typeof res.json.message, 'string');
    assert.equal(await credentials.get('dev-2'), undefined);
  });

  it('validates the identity (1-128 bytes of UTF-8) and the key (hex, 1-64 bytes)', async () => {
    const bad = [
      { psk: { identity: '', key: 'aa' } },
      { psk: { identity: 'x'.repeat(129), key: 'aa' } },
      { psk: { identity: 'é'.repeat(65), key: 'aa' } }, // 65 characters, 130 bytes
      { psk: { identity: 'id', key: 'abc' } },
      { psk: { identity: 'id', key: 'zz' } },
      { psk: { identity: 'id', key: 'aa'.repeat(65) } },
      { psk: { identity: 'id' } },
      { psk: { identity: 'id', key: 'aa', extra: 1 } },
      {},
    ];
    for (const body of bad) {
      const res = await call('PUT', '/api/security/clients/dev-3', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'BAD_REQUEST');
    }
    assert.equal(await credentials.get('dev-3'), undefined);
    const max = await call('PUT', '/api/security/clients/dev-3', {
      psk: { identity: 'x'.repeat(128), key: 'ab'.repeat(64) },
    });
    assert.equal(max.status, 200);
    assert.equal(max.json.psk.keyLength, 64);
  });

  it('GET lists every device sorted by endpoint; DELETE removes one (then 404)', async () => {
    await call('PUT', '/api/security/clients/a-dev', { psk: { identity: 'id-a', key: 'aabb' } });
    const list = await call('GET', '/api/security/clients');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.items.map((i: { endpoint: string }) => i.endpoint),
      ['a-dev', 'dev-1', 'dev-3'],
    );
    assert.doesNotMatch(JSON.stringify(list.json), /"key"/);
    assert.equal((await call('DELETE', '/api/security/clients/dev-1')).status, 204);
    assert.equal(await credentials.get('dev-1'), undefined);
    assert.equal(await credentials.getByPskIdentity('id-1'), undefined);
    const again = await call('DELETE', '/api/security/clients/dev-1');
    assert.equal(again.status, 404);
    // The freed identity can be bound to another endpoint now.
    assert.equal(
      (await call('PUT', '/api/security/clients/dev-2', { psk: { identity: 'id-1', key: 'aa' } })).status,
      200,
    );
  });

  it('appears in /api/openapi.json', async () => {
    const res = await call('GET', '/api/openapi.json');
    const paths = res.json.paths as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(paths['/api/security/clients/{ep}'] ?? {}).sort(), ['delete', 'get', 'put']);
    assert.ok(paths['/api/security/clients']?.get);
  });
});

describe('/api/security/clients without a credential store', () => {
  it('answers 503 UNAVAILABLE', async () => {
    const app = await apiWith(undefined);
    try {
      const res = await app.inject({ method: 'GET', url: '/api/security/clients' });
      assert.equal(res.statusCode, 503);
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'UNAVAILABLE');
    } finally {
      await app.close();
    }
  });
});
