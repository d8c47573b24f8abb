/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-assignment --
   The answers are untyped JSON; the assertions check them field by field. */
// /api/security: per-device PSKs, raw public keys and X.509 rules in the credential store (keys
// never shown), generated keys, and the server's own identity.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { installErrorHandler } from '../../src/api/api-errors.js';
import { createApiServer } from '../../src/api/api-server.js';
import { registerSecurityRoutes } from '../../src/api/security-routes.js';
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
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
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

  it('PUT rpk stores a P-256 public key in canonical SPKI DER and shows it', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = publicKey.export({ format: 'der', type: 'spki' }).toString('hex');
    const res = await call('PUT', '/api/security/clients/rpk-dev', { rpk: { publicKey: der.toUpperCase() } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { endpoint: 'rpk-dev', mode: 'rpk', rpk: { publicKey: der } });
    assert.deepEqual(await credentials.get('rpk-dev'), { endpoint: 'rpk-dev', rpk: { publicKey: der } });
    // A compressed point is the same key: stored uncompressed, as OpenSSL re-encodes it.
    const jwk = publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const yOdd = (Buffer.from(jwk.y!, 'base64url').at(-1)! & 1) === 1;
    const compressed = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      Buffer.from([yOdd ? 3 : 2]),
      x,
    ]).toString('hex');
    const again = await call('PUT', '/api/security/clients/rpk-dev', { rpk: { publicKey: compressed } });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.json.rpk.publicKey, der);
  });

  it('PUT rpk refuses what is not an EC P-256 SubjectPublicKeyInfo, saying why', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    const spki = (k: ReturnType<typeof createPublicKey>): string =>
      k.export({ format: 'der', type: 'spki' }).toString('hex');
    const cases: [string, RegExp][] = [
      [spki(p384), /P-256.*secp384r1/],
      [spki(ed), /EC P-256 key, not ed25519/],
      ['3059301306072a8648ce3d0201', /not a DER SubjectPublicKeyInfo/],
      ['00', /not a DER SubjectPublicKeyInfo/],
    ];
    for (const [publicKey, message] of cases) {
      const res = await call('PUT', '/api/security/clients/rpk-bad', { rpk: { publicKey } });
      assert.equal(res.status, 400, publicKey);
      assert.equal(res.json.code, 'BAD_REQUEST');
      assert.match(res.json.message, message);
    }
    for (const body of [
      { rpk: { publicKey: 'xyz' } },
      { rpk: {} },
      { rpk: { publicKey: 'aa'.repeat(513) } },
    ]) {
      const res = await call('PUT', '/api/security/clients/rpk-bad', body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    assert.equal(await credentials.get('rpk-bad'), undefined);
  });

  it('PUT x509 {} binds the certificate CN to the endpoint', async () => {
    const res = await call('PUT', '/api/security/clients/cert-dev', { x509: {} });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { endpoint: 'cert-dev', mode: 'x509', x509: { commonName: 'cert-dev' } });
    assert.deepEqual(await credentials.get('cert-dev'), { endpoint: 'cert-dev', x509: true });
    const extra = await call('PUT', '/api/security/clients/cert-dev', { x509: { subject: 'CN=x' } });
    assert.equal(extra.status, 400);
  });

  it('PUT takes exactly one mode; rotating replaces the mode and frees a PSK identity', async () => {
    const two = await call('PUT', '/api/security/clients/multi', {
      psk: { identity: 'm', key: 'aa' },
      x509: {},
    });
    assert.equal(two.status, 400);
    assert.match(two.json.message, /only one of psk, rpk or x509, not psk and x509/);
    const none = await call('PUT', '/api/security/clients/multi', {});
    assert.match(none.json.message, /give one of psk, rpk or x509/);
    await call('PUT', '/api/security/clients/multi', { psk: { identity: 'm-id', key: 'aa' } });
    const rotated = await call('PUT', '/api/security/clients/multi', {
      psk: { identity: 'm-id', key: 'bbcc' },
    });
    assert.equal(rotated.json.psk.keyLength, 2);
    assert.equal((await credentials.get('multi'))?.psk?.key, 'bbcc');
    await call('PUT', '/api/security/clients/multi', { x509: {} });
    assert.equal(await credentials.getByPskIdentity('m-id'), undefined);
    assert.equal((await call('DELETE', '/api/security/clients/multi')).status, 204);
  });

  it('PUT nextPsk rotates a PSK in: shown as identity and length, both identities bound', async () => {
    const put = await call('PUT', '/api/security/clients/rot', {
      psk: { identity: 'rot-1', key: 'aabb' },
      nextPsk: { identity: 'rot-2', key: 'CCDDEE' },
    });
    assert.equal(put.status, 200);
    const view = {
      endpoint: 'rot',
      mode: 'psk',
      psk: { identity: 'rot-1', keyLength: 2 },
      nextPsk: { identity: 'rot-2', keyLength: 3 },
    };
    assert.deepEqual(put.json, view);
    assert.deepEqual((await call('GET', '/api/security/clients/rot')).json, view);
    const listed = (await call('GET', '/api/security/clients')).json.items.find(
      (i: { endpoint: string }) => i.endpoint === 'rot',
    );
    assert.deepEqual(listed, view);
    assert.doesNotMatch(JSON.stringify(listed), /ccddee|"key"/i);
    assert.deepEqual((await credentials.get('rot'))?.nextPsk, { identity: 'rot-2', key: 'ccddee' });
    assert.equal((await credentials.getByPskIdentity('rot-2'))?.endpoint, 'rot');
    assert.equal((await credentials.getByPskIdentity('rot-1'))?.endpoint, 'rot');

    // Either identity is taken for other endpoints, as psk or as nextPsk.
    for (const body of [
      { psk: { identity: 'rot-2', key: 'aa' } },
      { psk: { identity: 'other', key: 'aa' }, nextPsk: { identity: 'rot-1', key: 'bb' } },
    ]) {
      const res = await call('PUT', '/api/security/clients/thief', body);
      assert.equal(res.status, 409, JSON.stringify(body));
      assert.equal(res.json.code, 'CONFLICT');
    }
    assert.equal(await credentials.get('thief'), undefined);

    // Promote: the next PSK becomes the PSK, the old identity is free.
    const promoted = await call('PUT', '/api/security/clients/rot', {
      psk: { identity: 'rot-2', key: 'ccddee' },
    });
    assert.deepEqual(promoted.json, {
      endpoint: 'rot',
      mode: 'psk',
      psk: { identity: 'rot-2', keyLength: 3 },
    });
    assert.equal(await credentials.getByPskIdentity('rot-1'), undefined);
    // A nextPsk beside an RPK or X.509 (a move to PSK) is shown the same way.
    const x509 = await call('PUT', '/api/security/clients/rot', {
      x509: {},
      nextPsk: { identity: 'rot-3', key: '01' },
    });
    assert.deepEqual(x509.json, {
      endpoint: 'rot',
      mode: 'x509',
      x509: { commonName: 'rot' },
      nextPsk: { identity: 'rot-3', keyLength: 1 },
    });
    assert.equal(await credentials.getByPskIdentity('rot-2'), undefined, 'replaced: the old psk is freed');
    assert.equal((await call('DELETE', '/api/security/clients/rot')).status, 204);
    assert.equal(await credentials.getByPskIdentity('rot-3'), undefined, 'removed: the nextPsk is freed');
  });

  it('validates nextPsk like psk, with an identity of its own, and never alone', async () => {
    const psk = { identity: 'v-1', key: 'aa' };
    const bad: [unknown, RegExp?][] = [
      [{ psk, nextPsk: { identity: '', key: 'aa' } }],
      [{ psk, nextPsk: { identity: 'x'.repeat(129), key: 'aa' } }],
      [
        { psk, nextPsk: { identity: 'é'.repeat(65), key: 'aa' } },
        /nextPsk identity is longer than 128 bytes/,
      ],
      [{ psk, nextPsk: { identity: 'v-2', key: 'abc' } }],
      [{ psk, nextPsk: { identity: 'v-2', key: 'aa'.repeat(65) } }],
      [{ psk, nextPsk: { identity: 'v-2' } }],
      [{ psk, nextPsk: { identity: 'v-2', key: 'aa', extra: 1 } }],
      [{ psk, nextPsk: { identity: 'v-1', key: 'bb' } }, /nextPsk needs an identity of its own/],
      [{ nextPsk: { identity: 'v-2', key: 'bb' } }, /give one of psk, rpk or x509/],
    ];
    for (const [body, message] of bad) {
      const res = await call('PUT', '/api/security/clients/val', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.code, 'BAD_REQUEST');
      if (message) assert.match(res.json.message, message);
    }
    assert.equal(await credentials.get('val'), undefined);
    const max = await call('PUT', '/api/security/clients/val', {
      psk,
      nextPsk: { identity: 'é'.repeat(64), key: 'ab'.repeat(64) },
    });
    assert.equal(max.status, 200);
    assert.deepEqual(max.json.nextPsk, { identity: 'é'.repeat(64), keyLength: 64 });
    assert.equal((await call('DELETE', '/api/security/clients/val')).status, 204);
  });

  it('POST generate/psk answers fresh random hex keys, 16 bytes unless ?bytes=16..64', async () => {
    const a = await call('POST', '/api/security/generate/psk');
    const b = await call('POST', '/api/security/generate/psk');
    assert.equal(a.status, 200);
    assert.match(a.json.key, /^[0-9a-f]{32}$/);
    assert.notEqual(a.json.key, b.json.key);
    assert.match((await call('POST', '/api/security/generate/psk?bytes=64')).json.key, /^[0-9a-f]{128}$/);
    for (const q of ['bytes=15', 'bytes=65', 'bytes=x', 'bytes=16.5', 'other=1']) {
      const res = await call('POST', `/api/security/generate/psk?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.json.code, 'BAD_REQUEST');
    }
  });

  it('POST generate/keypair answers a working P-256 pair, DER and PEM, and stores nothing', async () => {
    const before = (await call('GET', '/api/security/clients')).json.items.length;
    const res = await call('POST', '/api/security/generate/keypair');
    assert.equal(res.status, 200);
    const { publicKey, privateKey, publicKeyPem, privateKeyPem } = res.json;
    const pub = createPublicKey({ key: Buffer.from(publicKey, 'hex'), format: 'der', type: 'spki' });
    const priv = createPrivateKey({ key: Buffer.from(privateKey, 'hex'), format: 'der', type: 'pkcs8' });
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.match(privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(
      createPublicKey(publicKeyPem).export({ format: 'der', type: 'spki' }).toString('hex'),
      publicKey,
    );
    const signature = sign('sha256', Buffer.from('petrel'), priv);
    assert.ok(verify('sha256', Buffer.from('petrel'), pub, signature));
    assert.equal((await call('GET', '/api/security/clients')).json.items.length, before);
    // The public half is what PUT rpk takes.
    const put = await call('PUT', '/api/security/clients/gen-dev', { rpk: { publicKey } });
    assert.equal(put.json.rpk.publicKey, publicKey);
  });

  it('GET /api/security/server answers {} when the server has no DTLS identity', async () => {
    const res = await call('GET', '/api/security/server');
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {});
  });

  it('appears in /api/openapi.json', async () => {
    const res = await call('GET', '/api/openapi.json');
    const paths = res.json.paths as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(paths['/api/security/clients/{ep}'] ?? {}).sort(), ['delete', 'get', 'put']);
    assert.ok(paths['/api/security/clients']?.get);
    assert.ok(paths['/api/security/generate/psk']?.post);
    assert.ok(paths['/api/security/generate/keypair']?.post);
    assert.ok(paths['/api/security/server']?.get);
    const put = JSON.stringify(paths['/api/security/clients/{ep}']?.put);
    for (const mode of ['"psk"', '"rpk"', '"x509"', '"nextPsk"']) assert.ok(put.includes(mode), mode);
    const view = JSON.stringify(paths['/api/security/clients/{ep}']?.get);
    assert.match(view, /"nextPsk":\{[^}]*"keyLength"/);
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

describe('/api/security/server with a server identity', () => {
  it('shows the PSK hint, public key and certificate, and nothing else', async () => {
    const app = Fastify();
    installErrorHandler(app);
    const serverSecurity = {
      pskHint: 'petrel',
      publicKey: '3059ab',
      certificate: { subject: 'CN=petrel.example', der: '3082' },
      secret: 'never shown',
    };
    registerSecurityRoutes(app, { credentials: undefined, serverSecurity });
    try {
      const res = await app.inject({ method: 'GET', url: '/api/security/server' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(JSON.parse(res.body), {
        pskHint: 'petrel',
        publicKey: '3059ab',
        certificate: { subject: 'CN=petrel.example', der: '3082' },
      });
      // Generating keys needs no credential store.
      const gen = await app.inject({ method: 'POST', url: '/api/security/generate/psk?bytes=20' });
      assert.match((JSON.parse(gen.body) as { key: string }).key, /^[0-9a-f]{40}$/);
    } finally {
      await app.close();
    }
  });
});
