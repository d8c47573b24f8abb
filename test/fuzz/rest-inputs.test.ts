// Mutation and generation fuzzing of the REST API's inputs (src/api, through fastify `inject`, on
// the real routes of a real LwM2mServer with a real LwM2mClient behind it: test/api/api-fixture.ts).
// Mutation: a corpus of valid requests of every route (reads, writes, attributes, execute, observe,
// composites, create, tags, models, events, security, bootstrap configurations and templates),
// whose URL (path and query) and JSON body are mutated as bytes. Generation: requests drawn by
// fast-check, with paths, query strings and JSON bodies shaped like the routes' and hostile values.
// Every answer must come within the bound; no 500, ever; every error is {code, message} with a
// documented code and its status, and the only other 5xx are the ones a client can justify (502
// unreachable / bad response, 503 queue full / unavailable, 504 timeout: docs/rest-api.md).
// Budget: 2.5 × PETREL_FUZZ_BUDGET requests per kind.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { ApiFixture } from '../api/api-fixture.js';
import { FuzzTally, inputsPerKind, FUZZ_TIMEOUT_MS } from '../support/fuzz-harness.js';
import { mulberry32, mutate } from '../support/mutate.js';
import {
  restBytes,
  restFixture,
  restFromBytes,
  sendRest,
  type RestInput,
  type RestMethod,
} from '../support/rest-fuzz.js';
import { TEST_OBJECT } from '../support/test-model.js';

const COUNT = inputsPerKind();

/** A P-256 public key as DER SubjectPublicKeyInfo, hex (an RPK credential). */
const RPK = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'der' })
  .toString('hex');

/** The corpus: valid requests of every route, for the rig's client `ep`. */
function corpus(ep: string): RestInput[] {
  const c = `/api/clients/${ep}`;
  const t = TEST_OBJECT;
  const j = (v: unknown): string => JSON.stringify(v);
  return [
    { method: 'GET', url: '/api/clients?limit=10&offset=0', body: '' },
    { method: 'GET', url: '/api/clients?search=petrel&status=awake&tag=site:paris', body: '' },
    { method: 'GET', url: c, body: '' },
    { method: 'GET', url: `${c}/3/0?format=senml-json`, body: '' },
    { method: 'GET', url: `${c}/3/0/0`, body: '' },
    { method: 'GET', url: `${c}/3303/0/5700?format=tlv`, body: '' },
    { method: 'GET', url: `${c}/${t}/1?format=lwm2m-cbor`, body: '' },
    { method: 'GET', url: `${c}/3/discover?depth=2`, body: '' },
    { method: 'PUT', url: `${c}/3303/0/5701`, body: j({ value: 'Cel' }) },
    {
      method: 'PUT',
      url: `${c}/${t}/0?mode=update&format=senml-cbor`,
      body: j({ values: { '5': 'hi', '15/0': 'Red' } }),
    },
    { method: 'PUT', url: `${c}/${t}/0/3`, body: j({ value: { hex: 'cafe' } }) },
    { method: 'PUT', url: `${c}/3303/0/5700/attributes`, body: j({ pmin: 1, pmax: 60, gt: 30.5, st: 0.5 }) },
    { method: 'POST', url: `${c}/3303/0/5605/execute`, body: j({ arguments: "0='abc',1" }) },
    {
      method: 'POST',
      url: `${c}/3303/0/5700/observe`,
      body: j({ attributes: { pmin: 1 }, format: 'senml-json' }),
    },
    { method: 'DELETE', url: `${c}/3303/0/5700/observe`, body: '' },
    {
      method: 'POST',
      url: `${c}/composite/read`,
      body: j({ paths: ['/3/0/0', '/3303/0/5700'], format: 'senml-cbor' }),
    },
    {
      method: 'POST',
      url: `${c}/composite/write`,
      body: j({ values: { '/3303/0/5701': 'C', [`/${t}/0/5`]: 'x' } }),
    },
    { method: 'POST', url: `${c}/composite/observe`, body: j({ paths: ['/3303/0/5700'] }) },
    { method: 'POST', url: `${c}/${t}`, body: j({ instanceId: 7, values: { '5': 'new', '2': true } }) },
    { method: 'DELETE', url: `${c}/${t}/7`, body: '' },
    { method: 'GET', url: `${c}/observations`, body: '' },
    { method: 'PUT', url: `${c}/tags`, body: j({ tags: ['site:paris', 'fleet'] }) },
    { method: 'GET', url: `${c}/tags`, body: '' },
    { method: 'GET', url: '/api/models/3303?version=1.1', body: '' },
    { method: 'GET', url: '/api/models', body: '' },
    { method: 'GET', url: '/api/events/recent?limit=5&types=registered,updated', body: '' },
    { method: 'GET', url: '/api/server', body: '' },
    {
      method: 'PUT',
      url: '/api/security/clients/dev-1',
      body: j({ psk: { identity: 'dev-1', key: '000102030405060708090a0b0c0d0e0f' } }),
    },
    { method: 'PUT', url: '/api/security/clients/dev-2', body: j({ rpk: { publicKey: RPK } }) },
    { method: 'GET', url: '/api/security/clients', body: '' },
    { method: 'POST', url: '/api/security/generate/psk?bytes=16', body: '' },
    {
      method: 'PUT',
      url: '/api/bootstrap/clients/dev-1',
      body: j({
        servers: [
          {
            shortServerId: 101,
            uri: 'coap://127.0.0.1:5683',
            lifetime: 300,
            binding: 'U',
            security: { mode: 'nosec' },
          },
        ],
      }),
    },
    { method: 'GET', url: '/api/bootstrap/clients?offset=0&limit=5', body: '' },
    {
      method: 'PUT',
      url: '/api/bootstrap/templates/t1',
      body: j({ servers: [{ shortServerId: 1, uri: 'coap://h:5683', security: { mode: 'nosec' } }] }),
    },
  ];
}

// ---- generation ----

const pathSegment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('3', '0', '1', '5700', '5701', '3303', String(TEST_OBJECT), '14', '9', '15'),
  },
  fc.nat({ max: 70_000 }).map(String),
  fc.constantFrom(
    '',
    '.',
    '..',
    '~',
    '~~',
    '~tags',
    'dev1',
    'composite',
    'observations',
    'execute',
    'discover',
    'attributes',
    'observe',
    'tags',
  ),
  fc.constantFrom(
    '__proto__',
    'constructor',
    '%',
    '%zz',
    '%00',
    '%2F',
    '%E0%A4%A',
    '-1',
    '1e5',
    '0x10',
    '99999999999999999999999',
  ),
  fc.string({ maxLength: 6 }).map(encodeURIComponent),
);
const queryValue = fc.oneof(
  fc.nat({ max: 400_000 }).map(String),
  fc.constantFrom(
    '',
    '-1',
    '1e400',
    'NaN',
    '1.5',
    'senml-cbor',
    'tlv',
    'text',
    '112',
    'yaml',
    'update',
    'replace',
    '%',
    '%00',
    'a,b',
  ),
);
const queryKey = fc.constantFrom(
  'format',
  'depth',
  'mode',
  'limit',
  'offset',
  'tag',
  'search',
  'status',
  'types',
  'version',
  'bytes',
  'endpoint',
  '__proto__',
  'x',
  '',
);
const query = fc.oneof(
  fc.constant(''),
  fc
    .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { minLength: 1, maxLength: 3 })
    .map((ps) => `?${ps.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`),
);
const jsonLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 53 + 2,
    '',
    'x',
    '3:0',
    '18446744073709551615',
    '/3/0/14',
    '~',
  ),
  fc.record({ hex: fc.constantFrom('cafe', 'zz', '', 'c') }),
  fc.string({ maxLength: 8 }),
  fc.double(),
  fc.integer(),
);
const bodyKey = fc.constantFrom(
  'value',
  'values',
  'arguments',
  'instanceId',
  'attributes',
  'format',
  'paths',
  'tags',
  'pmin',
  'pmax',
  'gt',
  'lt',
  'st',
  'psk',
  'rpk',
  'x509',
  'nextPsk',
  'servers',
  'bootstrapServer',
  'identity',
  'key',
  'publicKey',
  '__proto__',
);
const jsonBody: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: jsonLeaf },
    fc.dictionary(fc.oneof(bodyKey, fc.constantFrom('/3/0/14', '5', '/3303/0/5700', '')), tie('v'), {
      maxKeys: 4,
    }),
    fc.array(tie('v'), { maxLength: 3 }),
  ),
})).v;
function generatedRequest(ep: string): fc.Arbitrary<RestInput> {
  const prefix = fc.oneof(
    { weight: 6, arbitrary: fc.constant(`/api/clients/${ep}`) },
    fc.constantFrom(
      '/api/clients',
      '/api/models',
      '/api/events',
      '/api/security/clients',
      '/api/bootstrap/clients',
      '/api/bootstrap/templates',
      '/api',
      '/api/security/generate',
    ),
  );
  return fc
    .record({
      method: fc.constantFrom<RestMethod>('GET', 'PUT', 'POST', 'DELETE'),
      prefix,
      segments: fc.array(pathSegment, { maxLength: 5 }),
      query,
      body: fc.oneof(
        { weight: 2, arbitrary: fc.constant('') },
        { weight: 6, arbitrary: jsonBody.map((b) => JSON.stringify(b) ?? '') },
        fc.constantFrom('{', '{"value":', 'null', '[]', '12', '{"__proto__":{"x":1}}', '\u0000'),
      ),
    })
    .map((r) => ({
      method: r.method,
      url: `${r.prefix}${r.segments.length > 0 ? `/${r.segments.join('/')}` : ''}${r.query}`,
      body: r.method === 'GET' || r.method === 'DELETE' ? '' : r.body,
    }));
}

describe(`REST input fuzzing (${COUNT} mutated + ${COUNT} generated requests)`, () => {
  let f: ApiFixture;
  before(async () => {
    f = await restFixture();
  });
  after(() => f.close());
  const send = (r: RestInput, tally: FuzzTally) => sendRest(f, r, tally);

  it('every valid request of the corpus is answered without an error', async () => {
    const tally = new FuzzTally();
    const refused: string[] = [];
    for (const r of corpus(f.rig.ep)) {
      const response = await send(r, tally);
      if (response.statusCode >= 400) refused.push(`${r.method} ${r.url}: ${response.body}`);
    }
    assert.deepEqual(refused, [], tally.summary());
  });

  it('big bodies: deep nesting, many values, long strings, past the body limit', async (t) => {
    const c = `/api/clients/${f.rig.ep}`;
    const big: RestInput[] = [
      {
        method: 'PUT',
        url: `${c}/3303/0/5701`,
        body: `{"value":${'['.repeat(400_000)}${']'.repeat(400_000)}}`,
      },
      { method: 'PUT', url: `${c}/3303/0/5701`, body: `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}` },
      {
        method: 'POST',
        url: `${c}/composite/read`,
        body: JSON.stringify({ paths: Array.from({ length: 20_000 }, (_, i) => `/3/0/${i}`) }),
      },
      { method: 'PUT', url: `${c}/3303/0/5701`, body: JSON.stringify({ value: 'x'.repeat(900_000) }) },
      { method: 'PUT', url: `${c}/3303/0/5701`, body: JSON.stringify({ value: 'x'.repeat(3_000_000) }) },
      { method: 'PUT', url: `${c}/3303/0/5701`, body: `{"value":${'9'.repeat(500_000)}}` },
      { method: 'PUT', url: `${c}/3303/0/5701`, body: JSON.stringify({ value: 'Cel' }) }, // as it was
    ];
    const tally = new FuzzTally();
    for (const r of big) {
      const start = performance.now();
      const response = await send(r, tally);
      t.diagnostic(
        `${r.body.length} B to ${r.url.slice(c.length)}: ${response.statusCode} in ${(performance.now() - start).toFixed(0)} ms`,
      );
    }
    assert.ok(tally.slowestMs < 1000, `slowest answer ${tally.slowestMs.toFixed(0)} ms`);
  });

  it('rest: mutated URLs and JSON bodies of the corpus', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
    const requests = corpus(f.rig.ep);
    const bytes = requests.map(restBytes);
    const rand = mulberry32(0x4e57);
    const tally = new FuzzTally();
    for (let i = 0; i < COUNT; i++) {
      const k = i % requests.length;
      const mutant = mutate(bytes[k]!, rand, {
        maxEdits: 3,
        interesting: [
          0x2f, 0x3f, 0x26, 0x3d, 0x25, 0x7e, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x30, 0x39, 0x2d,
          0x00, 0xff,
        ],
        donors: bytes,
      });
      await send(restFromBytes(requests[k]!.method, mutant), tally);
    }
    t.diagnostic(`rest mutation: ${tally.summary()}`);
    assert.equal(tally.inputs, COUNT);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });

  it('rest: generated requests', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
    const tally = new FuzzTally();
    await fc.assert(
      fc.asyncProperty(generatedRequest(f.rig.ep), async (r) => {
        await send(r, tally);
      }),
      { numRuns: COUNT, seed: 0x4e58, endOnFailure: false },
    );
    t.diagnostic(`rest generation: ${tally.summary()}`);
    assert.ok(tally.inputs >= COUNT);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });
});
