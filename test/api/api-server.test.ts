/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call --
   The answers are untyped JSON; the assertions check them field by field. */
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { redactToken } from '../../src/api/api-server.js';
import { apiFixture } from './api-fixture.js';
import type { ApiFixture } from './api-fixture.js';

/** Every operation of the API, as OpenAPI paths. */
const ROUTES: [string, string][] = [
  ['get', '/api/server'],
  ['get', '/api/models'],
  ['get', '/api/models/{objectId}'],
  ['get', '/api/clients'],
  ['get', '/api/clients/{ep}'],
  ['get', '/api/clients/{ep}/tags'],
  ['put', '/api/clients/{ep}/tags'],
  ['get', '/api/clients/{ep}/{path}'],
  ['put', '/api/clients/{ep}/{path}'],
  ['post', '/api/clients/{ep}/{path}'],
  ['delete', '/api/clients/{ep}/{path}'],
  ['post', '/api/clients/{ep}/composite/read'],
  ['post', '/api/clients/{ep}/composite/write'],
  ['post', '/api/clients/{ep}/composite/observe'],
  ['get', '/api/clients/{ep}/observations'],
  ['delete', '/api/clients/{ep}/observations/{id}'],
  ['get', '/api/events'],
  ['get', '/api/events/recent'],
  ['get', '/api/security/clients'],
  ['get', '/api/security/clients/{ep}'],
  ['put', '/api/security/clients/{ep}'],
  ['delete', '/api/security/clients/{ep}'],
  ['post', '/api/security/generate/psk'],
  ['post', '/api/security/generate/keypair'],
  ['get', '/api/security/server'],
  ['get', '/api/bootstrap/clients'],
  ['get', '/api/bootstrap/clients/{ep}'],
  ['put', '/api/bootstrap/clients/{ep}'],
  ['delete', '/api/bootstrap/clients/{ep}'],
  ['get', '/api/bootstrap/sessions'],
  ['get', '/api/bootstrap/sessions/{ep}'],
  ['post', '/api/bootstrap/clients/{ep}/trigger'],
  ['get', '/api/bootstrap/templates'],
  ['get', '/api/bootstrap/templates/{name}'],
  ['put', '/api/bootstrap/templates/{name}'],
  ['delete', '/api/bootstrap/templates/{name}'],
];

type Json = Record<string, unknown>;

/** Walks every schema-like object of the document. */
function walk(node: unknown, visit: (node: Json, where: string) => void, where = '#'): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, visit, `${where}/${i}`));
  else if (node !== null && typeof node === 'object') {
    visit(node as Json, where);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${where}/${k}`);
  }
}

describe('REST API: server, models, docs, auth, CORS, limits', () => {
  let f: ApiFixture;
  const auth = { authorization: 'Bearer s3cret' };
  before(async () => {
    f = await apiFixture({ api: { token: 's3cret', cors: ['https://ui.example'] } });
  });
  after(() => f.close());

  it('describes the server with counts and rates', async () => {
    await f.call('GET', `/api/clients/${f.rig.ep}/3/0/0`, undefined, auth);
    const { status, json } = await f.call('GET', '/api/server', undefined, auth);
    assert.equal(status, 200);
    assert.equal(json.name, 'petrel');
    assert.match(json.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(json.lwm2mVersions, ['1.0', '1.1', '1.2']);
    assert.ok(Date.parse(json.startedAt) <= Date.now());
    assert.ok(json.uptimeS >= 0);
    assert.deepEqual(json.endpoints, { coap: { address: '10.0.0.1', port: 5683 }, http: null });
    assert.equal(json.store, 'memory');
    assert.deepEqual(json.counts, { registrations: 1, awake: 1, sleeping: 0, observations: 0 });
    assert.ok(json.rates.requestsPerS > 0, 'the read counts');
    assert.ok(json.rates.uplinksPerS > 0, 'the Register counts');
    assert.equal(json.rates.notificationsPerS, 0);
  });

  it('answers HEAD on a read route without reading from the device', async () => {
    const sent = f.rig.server.listenerCount('request');
    let requests = 0;
    const count = (): void => void requests++;
    f.rig.server.on('request', count);
    try {
      const res = await f.app.inject({
        method: 'HEAD',
        url: `/api/clients/${f.rig.ep}/3/0/0`,
        headers: auth,
      });
      assert.equal(res.statusCode, 404);
      assert.equal(requests, 0, 'no LwM2M request left for the device');
    } finally {
      f.rig.server.off('request', count);
    }
    assert.equal(f.rig.server.listenerCount('request'), sent);
  });

  it('lists the model and shows one object', async () => {
    const list = await f.call('GET', '/api/models', undefined, auth);
    assert.equal(list.status, 200);
    const device = list.json.find((o: { id: number }) => o.id === 3);
    assert.deepEqual(device, {
      id: 3,
      name: 'Device',
      version: '1.2',
      versions: ['1.0', '1.1', '1.2'],
      multiple: false,
      mandatory: true,
    });
    assert.ok(list.json.some((o: { id: number }) => o.id === 3303));
    const ids = list.json.map((o: { id: number }) => o.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a: number, b: number) => a - b),
    );

    const one = await f.call('GET', '/api/models/3303', undefined, auth);
    assert.equal(one.json.name, 'Temperature');
    assert.deepEqual(
      one.json.resources.find((r: { id: number }) => r.id === 5700),
      { id: 5700, name: 'Sensor Value', operations: 'R', multiple: false, mandatory: true, type: 'float' },
    );
    const old = await f.call('GET', '/api/models/3?version=1.0', undefined, auth);
    assert.equal(old.json.version, '1.0');
    const unknown = await f.call('GET', '/api/models/4242', undefined, auth);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'UNKNOWN_OBJECT');
    const bad = await f.call('GET', '/api/models/abc', undefined, auth);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'BAD_REQUEST');
  });

  it('needs the bearer token on /api, but not on the OpenAPI document and the docs', async () => {
    const none = await f.call('GET', '/api/clients');
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'UNAUTHORIZED');
    const wrong = await f.call('GET', '/api/clients', undefined, { authorization: 'Bearer s3cre' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.message, 'wrong token');
    const basic = await f.call('GET', '/api/clients', undefined, { authorization: 'Basic czNjcmV0' });
    assert.equal(basic.status, 401);
    const ok = await f.call('GET', '/api/clients', undefined, { authorization: 'bearer s3cret' });
    assert.equal(ok.status, 200);
    assert.equal((await f.call('GET', '/api/openapi.json')).status, 200);
    assert.equal((await f.call('GET', '/api/docs')).status, 200);
    const unknownRoute = await f.call('GET', '/api/nothing-here');
    assert.equal(unknownRoute.status, 401, 'no route list for strangers');
  });

  it('serves a valid OpenAPI 3 document listing every route', async () => {
    const { status, json: doc } = await f.call('GET', '/api/openapi.json');
    assert.equal(status, 200);
    assert.match(doc.openapi, /^3\.0\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    assert.deepEqual(doc.security, [{ bearer: [] }]);

    const listed: [string, string][] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>))
      for (const method of Object.keys(item)) listed.push([method, path]);
    assert.deepEqual(listed.map((r) => r.join(' ')).sort(), ROUTES.map((r) => r.join(' ')).sort());

    for (const [method, path] of ROUTES) {
      const op = (doc.paths[path] as Json)[method] as Json;
      assert.equal(typeof op.summary, 'string', `${method} ${path} summary`);
      assert.ok(
        Object.keys(op.responses as Json).some((s) => s.startsWith('2')),
        `${method} ${path} 2xx`,
      );
      const declared = ((op.parameters as Json[] | undefined) ?? [])
        .filter((p) => p.in === 'path')
        .map((p) => p.name);
      const template = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      assert.deepEqual(declared.sort(), template.sort(), `${method} ${path} path parameters`);
      for (const p of (op.parameters as Json[] | undefined) ?? [])
        if (p.in === 'path') assert.equal(p.required, true, `${method} ${path} ${String(p.name)} required`);
    }
    walk(doc, (node, where) => {
      // OpenAPI 3.0 schema types are single names (nullable instead of type arrays).
      if (Array.isArray(node.type)) assert.fail(`type array at ${where}`);
      if (typeof node.$ref === 'string') assert.fail(`unresolved $ref ${node.$ref} at ${where}`);
    });
    const read = (doc.paths['/api/clients/{ep}/{path}'] as Json).get as Json;
    const ok = (read.responses as Json)['200'] as Json;
    const schema = ((ok.content as Json)['application/json'] as Json).schema as Json;
    assert.deepEqual((schema.properties as Json).code, {
      type: 'string',
      nullable: true,
      description: "LwM2M result code, '2.05', '4.04' …",
    });
    assert.ok(((doc.paths['/api/events'] as Json).get as Json).responses);
  });

  it('serves the browsable docs with their bundled assets', async () => {
    const page = await f.call('GET', '/api/docs');
    assert.equal(page.status, 200);
    assert.match(page.response.headers['content-type'] as string, /^text\/html/);
    assert.match(page.response.body, /<div id="swagger-ui">/);
    const bundle = await f.call('GET', '/api/docs/static/swagger-ui-bundle.js');
    assert.equal(bundle.status, 200);
    assert.ok(bundle.response.body.length > 100_000);
    const init = await f.call('GET', '/api/docs/static/swagger-initializer.js');
    assert.match(init.response.body, /"validatorUrl":null/, 'no call to the online validator');
    assert.doesNotMatch(page.response.body, /https?:\/\/(?!127\.)/, 'no external assets');
  });

  it('answers CORS for configured origins only, preflight included', async () => {
    const allowed = await f.call('GET', '/api/server', undefined, { ...auth, origin: 'https://ui.example' });
    assert.equal(allowed.response.headers['access-control-allow-origin'], 'https://ui.example');
    assert.equal(allowed.response.headers.vary, 'Origin');
    const other = await f.call('GET', '/api/server', undefined, { ...auth, origin: 'https://evil.example' });
    assert.equal(other.status, 200);
    assert.equal(other.response.headers['access-control-allow-origin'], undefined);

    const preflight = await f.call('OPTIONS', `/api/clients/${f.rig.ep}/3/0/14`, undefined, {
      origin: 'https://ui.example',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization, content-type',
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.response.headers['access-control-allow-origin'], 'https://ui.example');
    assert.match(preflight.response.headers['access-control-allow-methods'] as string, /PUT/);
    assert.match(preflight.response.headers['access-control-allow-headers'] as string, /authorization/);
    const strangerPreflight = await f.call('OPTIONS', '/api/server', undefined, {
      origin: 'https://evil.example',
      'access-control-request-method': 'GET',
    });
    assert.equal(strangerPreflight.response.headers['access-control-allow-origin'], undefined);
  });

  it('refuses bodies that are too large or not JSON, and unknown routes, in the error format', async () => {
    const huge = await f.call(
      'PUT',
      `/api/clients/${f.rig.ep}/3/0/14`,
      { value: 'x'.repeat(1024 * 1024 + 1) },
      auth,
    );
    assert.equal(huge.status, 413);
    assert.equal(huge.json.code, 'TOO_LARGE');
    const notJson = await f.app.inject({
      method: 'PUT',
      url: `/api/clients/${f.rig.ep}/3/0/14`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"value": ',
    });
    assert.equal(notJson.statusCode, 400);
    assert.equal(JSON.parse(notJson.body).code, 'BAD_REQUEST');
    const text = await f.app.inject({
      method: 'PUT',
      url: `/api/clients/${f.rig.ep}/3/0/14`,
      headers: { ...auth, 'content-type': 'application/xml' },
      payload: '<value>hello</value>',
    });
    assert.equal(text.statusCode, 415);
    assert.equal(JSON.parse(text.body).code, 'UNSUPPORTED_MEDIA_TYPE');
    const missing = await f.call('GET', '/api/nothing-here', undefined, auth);
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { code: 'NOT_FOUND', message: 'no route GET /api/nothing-here' });
    const longEp = await f.call('GET', `/api/clients/${'e'.repeat(500)}`, undefined, auth);
    assert.equal(longEp.status, 404);
    assert.equal(longEp.json.code, 'UNKNOWN_CLIENT', 'long endpoint names reach the route');
  });
});

describe('REST API: web UI', () => {
  let f: ApiFixture;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'petrel-web-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Petrel UI</title>');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log("petrel")');
    f = await apiFixture({ api: { webRoot: dir } });
  });
  after(async () => {
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the UI at / with a history fallback, and keeps /api JSON', async () => {
    const index = await f.call('GET', '/');
    assert.equal(index.status, 200);
    assert.match(index.response.body, /Petrel UI/);
    const asset = await f.call('GET', '/assets/app.js');
    assert.equal(asset.status, 200);
    assert.match(asset.response.headers['content-type'] as string, /javascript/);
    const deep = await f.call('GET', '/clients/petrel-rig/3303');
    assert.equal(deep.status, 200);
    assert.match(deep.response.headers['content-type'] as string, /^text\/html/);
    assert.match(deep.response.body, /Petrel UI/);
    const api = await f.call('GET', '/api/not-a-route');
    assert.equal(api.status, 404);
    assert.equal(api.json.code, 'NOT_FOUND');
    const post = await f.call('POST', '/clients', {});
    assert.equal(post.status, 404);
    const clients = await f.call('GET', '/api/clients');
    assert.equal(clients.json.total, 1);
  });

  it('ignores a webRoot without index.html', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'petrel-web-empty-'));
    const g = await apiFixture({ api: { webRoot: empty } });
    try {
      const index = await g.call('GET', '/');
      assert.equal(index.status, 404);
      assert.equal(index.json.code, 'NOT_FOUND');
    } finally {
      await g.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('REST API: request logs', () => {
  it('never log a token given in the URL', async () => {
    assert.equal(
      redactToken('/api/events?types=a&token=abc&x=1'),
      '/api/events?types=a&token=[redacted]&x=1',
    );
    assert.equal(redactToken('/api/events?TOKEN=abc'), '/api/events?TOKEN=[redacted]');
    assert.equal(redactToken('/api/clients?tokens=1'), '/api/clients?tokens=1');
    let logged = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged += chunk.toString();
        done();
      },
    });
    const f = await apiFixture({ api: { token: 'abc-secret', logger: { level: 'info', stream } } });
    try {
      const r = await f.call('GET', '/api/events/recent?token=abc-secret');
      assert.equal(r.status, 401);
      assert.match(logged, /token=\[redacted\]/);
      assert.doesNotMatch(logged, /abc-secret/);
    } finally {
      await f.close();
    }
  });
});
