// Hostile input against the whole REST API (a real LwM2mServer and LwM2mClient behind it): random
// methods, URL paths (%-encodings, `~`, reserved words, huge numbers, empty segments, unicode,
// `..`), query strings, and JSON or non-JSON bodies. Whatever comes in, the API answers in
// bounded time; every error is `{code, message}` with a code of docs/rest-api.md and its status;
// and the only 5xx are the ones the table justifies by the client or the store (502 the client
// reset or answered garbage, 503 its queue is full or the server stopped, 504 it did not answer
// in time — `timeout=1` asks for that one), never 500.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { API_ERROR_STATUS } from '../../src/api/api-errors.js';
import { TEST_OBJECT } from '../support/test-model.js';
import { apiFixture } from './api-fixture.js';
import type { ApiFixture } from './api-fixture.js';

const TOKEN = 'hostile-s3cret';
/** Longest a call may take: the rig's client answers in milliseconds, the server times out at 3 s. */
const CALL_BOUND_MS = 4000;
/** The 5xx an API may give for a reason outside it (docs/rest-api.md "Errors"). */
const JUSTIFIED_5XX: Record<number, readonly string[]> = {
  502: ['CLIENT_UNREACHABLE', 'BAD_RESPONSE'],
  503: ['QUEUE_FULL', 'UNAVAILABLE'],
  504: ['TIMEOUT'],
};

type Method = NonNullable<InjectOptions['method']>;

// ---- arbitraries ----

const unicodeText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });

/** One URL path segment as it goes on the wire (already %-encoded where it has to be). */
const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('3', '0', '1', '5700', '3303', String(TEST_OBJECT), '14', '9') },
  { weight: 2, arbitrary: fc.nat({ max: 70_000 }).map(String) },
  fc.constantFrom('99999999999999999999999', '-1', '1e5', '0x10', '00003', '65535', '65534', '4294967296'),
  fc.constantFrom('', '.', '..', '~', '~~', '~tags', '~~x', '~3', '~composite', 'dev1', '~dev1'),
  fc.constantFrom('tags', 'composite', 'observations', 'execute', 'discover', 'attributes', 'observe'),
  fc.constantFrom('read', 'write', '__proto__', 'constructor', 'prototype', 'toString'),
  fc.constantFrom('%', '%2', '%zz', '%00', '%2F', '%2f', '%7E', '%E0%A4%A', '%FF', '%C0%AF', '%2e%2e', '%25'),
  unicodeText.map(encodeURIComponent),
  fc.string({
    unit: fc.constantFrom(
      'a',
      'Z',
      '9',
      '-',
      '_',
      '.',
      '~',
      '!',
      '$',
      "'",
      '(',
      '*',
      ':',
      '@',
      ',',
      ';',
      '=',
    ),
    maxLength: 8,
  }),
  fc.nat({ max: 3 }).map((n) => 'x'.repeat([300, 600, 1100, 5000][n]!)),
);

const endpoint = (ep: string): fc.Arbitrary<string> =>
  fc.oneof({ weight: 5, arbitrary: fc.constant(ep) }, { weight: 2, arbitrary: segment });

const segments = fc.array(segment, { minLength: 0, maxLength: 6 }).map((s) => s.join('/'));

function urlPath(ep: string): fc.Arbitrary<string> {
  const e = endpoint(ep);
  return fc.oneof(
    { weight: 8, arbitrary: fc.tuple(e, segments).map(([x, s]) => `/api/clients/${x}/${s}`) },
    fc
      .tuple(e, fc.constantFrom('read', 'write', 'observe', 'x', '', 'read/3'))
      .map(([x, a]) => `/api/clients/${x}/composite/${a}`),
    fc
      .tuple(
        e,
        fc.oneof(
          fc.constant(''),
          segment.map((s) => `/${s}`),
        ),
      )
      .map(([x, id]) => `/api/clients/${x}/observations${id}`),
    e.map((x) => `/api/clients/${x}/tags`),
    e.map((x) => `/api/clients/${x}`),
    fc.constantFrom(
      '/api/clients',
      '/api/clients/',
      '/api/server',
      '/api/models',
      '/api/events/recent',
      '/api',
      '/api/',
      '/',
    ),
    segment.map((s) => `/api/models/${s}`),
    segments.map((s) => `/api/${s}`),
    segments.map((s) => `/${s}`),
  );
}

const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.nat({ max: 400_000 }).map(String),
  fc.constantFrom(
    '1',
    '0',
    '-1',
    '1e400',
    '-1e400',
    'Infinity',
    'NaN',
    '1.5',
    '0x10',
    '',
    ' 5',
    '99999999999999999999',
  ),
  fc.constantFrom(
    'senml-cbor',
    'tlv',
    'text',
    '112',
    '11542',
    'yaml',
    'update',
    'replace',
    'awake',
    'sleeping',
  ),
  fc.constantFrom('registered,notification', ',,,', 'U', 'UQ', '1.2', 'site:paris', '%', '%E0%A4%A', '%00'),
  unicodeText.map(encodeURIComponent),
);
const queryKey = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('format', 'timeout', 'depth', 'mode', 'limit', 'offset', 'tag', 'search'),
  },
  fc.constantFrom('status', 'version', 'binding', 'endpoint', 'types', 'lastEventId', 'token', 'version'),
  fc.constantFrom('__proto__', 'constructor', 'x', '', '%', 'a[b]', 'timeout[]'),
);
const queryString = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  fc
    .array(fc.tuple(queryKey, fc.option(queryValue, { nil: undefined })), { minLength: 1, maxLength: 4 })
    .map((pairs) => `?${pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&')}`),
);

const jsonLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    21.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 53 + 2,
    'x',
    '',
    '3:0',
    '+02',
  ),
  fc.constantFrom('18446744073709551615', '-9223372036854775809', '/3/0/14', '../1', '~', '%'),
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
  'edge',
  'epmin',
  'epmax',
  'con',
  'hqmax',
  'x',
);
const pathKey = fc.oneof(
  fc.constantFrom('/3/0/14', '/3/0/15', '/3303/0/5700', `/${TEST_OBJECT}/0/5`, '5', '/5', '5700', '14'),
  fc.constantFrom('/3/0', '/', '', 'x', '../1', '/3//0', '/70000/0/0', 'dev1/3/0/1', '__proto__', '5700/0/9'),
  fc.constantFrom('/3/0/0', '/1/0/1', `/${TEST_OBJECT}/0/15/0`, '/3303/0/5700/0', '/3/0/99'),
);
const structuredBody: fc.Arbitrary<unknown> = fc.dictionary(
  bodyKey,
  fc.oneof(
    { weight: 3, arbitrary: jsonLeaf },
    fc.dictionary(pathKey, jsonLeaf, { maxKeys: 4 }),
    fc.dictionary(bodyKey, jsonLeaf, { maxKeys: 3 }),
    fc.array(fc.oneof(pathKey, jsonLeaf), { maxLength: 4 }),
  ),
  { maxKeys: 4 },
);

interface Body {
  readonly payload?: string;
  readonly contentType?: string;
}
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  {
    weight: 6,
    arbitrary: structuredBody.map((b) => ({ payload: JSON.stringify(b), contentType: 'application/json' })),
  },
  fc.jsonValue({ maxDepth: 3 }).map((b) => ({ payload: JSON.stringify(b), contentType: 'application/json' })),
  fc
    .constantFrom(
      '',
      '{',
      '{"value":',
      'null',
      '[]',
      '"x"',
      '12',
      '{"__proto__":{"x":1}}',
      '{"values":{"__proto__":1}}',
    )
    .map((payload) => ({ payload, contentType: 'application/json' })),
  fc
    .tuple(
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/cbor',
        'multipart/form-data',
        'application/json; charset=latin1',
        'application/jsonx',
        '',
      ),
      fc.constantFrom('', '{"value":1}', 'value=1', 'garbage', '\u0000\u00ff'),
    )
    .map(([contentType, payload]) => ({ payload, contentType })),
);

const method: fc.Arbitrary<Method> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom<Method>('GET', 'PUT', 'POST', 'DELETE') },
  fc.constantFrom<Method>('PATCH', 'HEAD', 'OPTIONS'),
);

const authorization = fc.oneof(
  { weight: 8, arbitrary: fc.constant(`Bearer ${TOKEN}`) },
  fc.constantFrom(
    undefined,
    '',
    'Bearer',
    'Bearer ',
    `bearer ${TOKEN}`,
    `Bearer ${TOKEN}x`,
    'Basic eDp5',
    'Bearer %',
  ),
);

interface HostileRequest {
  readonly method: Method;
  readonly url: string;
  readonly body: Body;
  readonly authorization: string | undefined;
}

/** Paths of the rig's client that exist (or nearly), so requests get as far as the client. */
const devicePath = fc.constantFrom(
  '3/0/0',
  '3/0/14',
  '3/0/13',
  '3/0/4',
  '3/0',
  '3303/0/5700',
  '3303/0/5701',
  '3303/0',
  '3303',
  `${TEST_OBJECT}/0/5`,
  `${TEST_OBJECT}/0/15`,
  `${TEST_OBJECT}/0/15/0`,
  `${TEST_OBJECT}/0/9`,
  `${TEST_OBJECT}/1`,
  `${TEST_OBJECT}`,
  'dev1/3303/0/5700',
  '~tags/3/0',
  '3303/7',
  `${'p'.repeat(300)}/3303/0`,
);

const attributeName = fc.constantFrom(
  'pmin',
  'pmax',
  'gt',
  'lt',
  'st',
  'edge',
  'epmin',
  'epmax',
  'con',
  'hqmax',
);
const attributeValue = fc.oneof(
  fc.constantFrom<unknown>(null, 0, 1, 5, 30.5, -1, 0.5, 2 ** 53, '5', true, 'x'),
  // Far from 1 in either direction: hundreds of digits once written out in decimal.
  fc.constantFrom<unknown>(1e308, -1e308, 1e-300, -5e-324, 1e200),
  fc.double(),
);
const attributes = fc.dictionary(attributeName, attributeValue, { minKeys: 1, maxKeys: 3 });
const pathList = fc.array(
  fc.oneof(
    pathKey,
    devicePath.map((p) => `/${p}`),
  ),
  { maxLength: 4 },
);
const valueMap = fc.dictionary(pathKey, jsonLeaf, { maxKeys: 3 });
const executeArguments = fc.oneof(
  fc.constantFrom("0='abc',1", '0', "0='", '99999999999=1', '', "9='x'", ',', '0=1,0=2'),
  fc.string({ maxLength: 12 }),
);
const json = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<Body> =>
  arb.map((b) => ({ payload: JSON.stringify(b), contentType: 'application/json' }));

/** The body a route takes, with hostile values (and now and then a hostile shape). */
function routeBody(m: Method, action: string): fc.Arbitrary<Body> {
  let shaped: fc.Arbitrary<unknown>;
  if (m === 'PUT' && action === '/attributes') shaped = attributes;
  else if (m === 'PUT') shaped = fc.oneof(fc.record({ value: jsonLeaf }), fc.record({ values: valueMap }));
  else if (action === '/execute') shaped = fc.record({ arguments: executeArguments }, { requiredKeys: [] });
  else if (action === '/observe')
    shaped = fc.record({ attributes, format: fc.constantFrom('tlv', 'x', '112') }, { requiredKeys: [] });
  else if (action === '/read')
    shaped = fc.record(
      { paths: pathList, format: fc.constantFrom('senml-cbor', 'x') },
      { requiredKeys: ['paths'] },
    );
  else if (action === '/write') shaped = fc.record({ values: valueMap });
  else if (m === 'POST')
    shaped = fc.record(
      { instanceId: fc.oneof(fc.nat({ max: 70_000 }), fc.constant(-1)), values: valueMap },
      { requiredKeys: [] },
    );
  else return fc.constant({});
  return fc.oneof({ weight: 6, arbitrary: json(shaped) }, { weight: 2, arbitrary: fc.constant({}) }, body);
}

/** A query that fits the route, with hostile values. */
function routeQuery(m: Method): fc.Arbitrary<string> {
  const keys =
    m === 'GET' ? ['format', 'timeout', 'depth'] : m === 'PUT' ? ['mode', 'format', 'timeout'] : ['timeout'];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    fc
      .array(fc.tuple(fc.constantFrom(...keys), queryValue), { minLength: 1, maxLength: 2 })
      .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
    queryString,
  );
}

/** A request of the right shape for its route, with hostile values in its query and body. */
function plausibleRequest(ep: string): fc.Arbitrary<HostileRequest> {
  const route = fc.oneof(
    fc.tuple(fc.constant<Method>('GET'), devicePath, fc.constantFrom('', '/discover')),
    fc.tuple(fc.constant<Method>('PUT'), devicePath, fc.constantFrom('', '/attributes')),
    fc.tuple(fc.constant<Method>('POST'), devicePath, fc.constantFrom('', '/execute', '/observe')),
    fc.tuple(fc.constant<Method>('DELETE'), devicePath, fc.constantFrom('', '/observe')),
    fc.tuple(
      fc.constant<Method>('POST'),
      fc.constant('composite'),
      fc.constantFrom('/read', '/write', '/observe'),
    ),
  );
  return route.chain(([m, path, action]) =>
    fc.record({ query: routeQuery(m), body: routeBody(m, action) }).map(({ query, body: b }) => ({
      method: m,
      url: `/api/clients/${ep}/${path}${action}${query}`,
      body: b,
      authorization: `Bearer ${TOKEN}`,
    })),
  );
}

function hostileRequest(ep: string): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    fc.record({
      method,
      url: fc.tuple(urlPath(ep), queryString).map(([p, q]) => p + q),
      body,
      authorization,
    }),
    { weight: 2, arbitrary: plausibleRequest(ep) },
  );
}

// ---- checks ----

/** The SSE stream never ends by design: it is the one route a bounded call cannot cover. */
function isEventStream(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === '/api/events';
}

function withBound<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${CALL_BOUND_MS} ms: ${what}`)),
      CALL_BOUND_MS,
    );
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** The shape every error answer has (docs/rest-api.md "Errors"). */
function checkError(status: number, contentType: string | undefined, text: string, what: string): void {
  assert.match(contentType ?? '', /^application\/json/, `${what}: an error is JSON, got ${contentType}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`${what}: error body is not JSON: ${text.slice(0, 200)}`);
  }
  assert.ok(json !== null && typeof json === 'object' && !Array.isArray(json), `${what}: not an object`);
  const { code, message, ...rest } = json as Record<string, unknown>;
  assert.deepEqual(Object.keys(rest), [], `${what}: only code and message (${text.slice(0, 200)})`);
  assert.equal(typeof code, 'string', `${what}: code`);
  assert.ok(
    Object.hasOwn(API_ERROR_STATUS, code as string),
    `${what}: ${String(code)} is not a documented code`,
  );
  assert.equal(
    API_ERROR_STATUS[code as keyof typeof API_ERROR_STATUS],
    status,
    `${what}: ${String(code)} goes with its status`,
  );
  assert.equal(typeof message, 'string', `${what}: message`);
  assert.ok((message as string).trim().length > 0, `${what}: message is empty`);
  assert.ok(
    (message as string).length <= 1024,
    `${what}: message of ${(message as string).length} characters`,
  );
  if (status >= 500) {
    assert.ok(
      (JUSTIFIED_5XX[status] ?? []).includes(code as string),
      `${what}: ${status} ${String(code)} is not a justified 5xx (${String(message)})`,
    );
  }
  if (code === 'NOT_FOUND') assert.match(message as string, /no route/, `${what}: NOT_FOUND names the route`);
}

describe('REST API: hostile input', () => {
  let f: ApiFixture;
  before(async () => {
    f = await apiFixture({ api: { token: TOKEN, cors: ['https://ui.example'] } });
  });
  after(() => f.close());

  const inject = async (r: HostileRequest) => {
    const headers: Record<string, string> = {};
    if (r.authorization !== undefined) headers.authorization = r.authorization;
    if (r.body.contentType !== undefined && r.body.contentType !== '')
      headers['content-type'] = r.body.contentType;
    const what = `${r.method} ${r.url.slice(0, 300)} [${r.body.contentType ?? '-'}] ${(r.body.payload ?? '').slice(0, 200)}`;
    const response = await withBound(
      f.app.inject({
        method: r.method,
        url: r.url,
        headers,
        ...(r.body.payload === undefined ? {} : { payload: r.body.payload }),
      }),
      what,
    );
    return { response, what };
  };

  it('answers every request in bounded time, errors as {code, message}, no unjustified 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(hostileRequest(f.rig.ep), async (r) => {
        fc.pre(!isEventStream(r.url));
        const { response, what } = await inject(r);
        const status = response.statusCode;
        assert.ok(status >= 200 && status < 600, `${what}: status ${status}`);
        // HEAD answers carry no body (RFC 9110 §9.3.2): only the status and type are checked there.
        if (status >= 400 && r.method !== 'HEAD')
          checkError(status, response.headers['content-type'] as string | undefined, response.body, what);
        if (status >= 500 && r.method === 'HEAD') assert.ok(status !== 500, `${what}: 500`);
        if (status === 401) assert.equal(response.headers['www-authenticate'], 'Bearer', what);
      }),
      { numRuns: 300 },
    );
  });

  it('names what it refuses: a bad path segment, an unknown field, a malformed %-encoding, an unknown client', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const ep = f.rig.ep;
    const bad = fc.oneof(
      fc.constantFrom('x', '70000', '99999999999999999999999', '-1', 'read', '1e5', '%7E', '%25'),
      fc.string({ unit: fc.constantFrom('a', 'b', 'q'), minLength: 1, maxLength: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(
        bad,
        fc.nat({ max: 2 }),
        fc.constantFrom<Method>('GET', 'DELETE'),
        async (seg, at, m) => {
          const ids = ['3303', '0', '5700'];
          ids.splice(at + 1, 0, seg);
          const url = `/api/clients/${ep}/${ids.join('/')}`;
          const r = await withBound(f.app.inject({ method: m, url, headers: auth }), url);
          assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
          const json = r.json<{ code: string; message: string }>();
          assert.equal(json.code, 'BAD_PATH', url);
          assert.ok(json.message.includes(decodeURIComponent(seg)), `${url}: "${json.message}" names ${seg}`);
        },
      ),
      { numRuns: 40 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^z[a-z0-9_]{0,20}$/),
        fc.constantFrom('/api/clients', `/api/clients/${ep}/3/0/0`, '/api/events/recent', '/api/models/3'),
        async (key, path) => {
          const url = `${path}?${key}=1`;
          const r = await withBound(f.app.inject({ method: 'GET', url, headers: auth }), url);
          assert.equal(r.statusCode, 400, url);
          const json = r.json<{ code: string; message: string }>();
          assert.equal(json.code, 'BAD_REQUEST');
          assert.ok(json.message.includes(`"${key}"`), `${url}: "${json.message}" names ${key}`);
        },
      ),
      { numRuns: 20 },
    );
    for (const url of [`/api/clients/${ep}/3/%E0%A4%A`, '/api/clients/%zz/3', `/api/clients/${ep}/%`]) {
      const r = await f.app.inject({ method: 'GET', url, headers: auth });
      assert.equal(r.statusCode, 400, url);
      const json = r.json<{ code: string; message: string }>();
      assert.deepEqual(Object.keys(json).sort(), ['code', 'message'], r.body);
      assert.equal(json.code, 'BAD_REQUEST');
      assert.ok(json.message.includes(url), `${url}: "${json.message}"`);
    }
    const unknown = await f.app.inject({
      method: 'GET',
      url: '/api/clients/nobody%20here/3/0',
      headers: auth,
    });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.json<{ message: string }>().message, /nobody here/);
  });
});

describe('REST API: hostile input, one case each', () => {
  let f: ApiFixture;
  let ep: string;
  const auth = { authorization: `Bearer ${TOKEN}` };
  before(async () => {
    f = await apiFixture({ api: { token: TOKEN } });
    ep = f.rig.ep;
  });
  after(() => f.close());

  const call = async (method: Method, url: string, body?: unknown, contentType = 'application/json') => {
    const r = await withBound(
      f.app.inject({
        method,
        url,
        headers: { ...auth, ...(body === undefined ? {} : { 'content-type': contentType }) },
        ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
      url,
    );
    if (r.statusCode >= 400)
      checkError(r.statusCode, r.headers['content-type'] as string | undefined, r.body, url);
    return { status: r.statusCode, ...r.json<{ code: string; message: string }>() };
  };

  it('refuses a malformed %-encoding and an over-long URL segment as {code, message}', async () => {
    const bad = await call('GET', `/api/clients/${ep}/3/%E0%A4%A`);
    assert.deepEqual([bad.status, bad.code], [400, 'BAD_REQUEST']);
    assert.match(bad.message, /%-encoding/);
    const long = await call('GET', `/api/clients/${'e'.repeat(2000)}/3/0`);
    assert.deepEqual([long.status, long.code], [400, 'BAD_REQUEST']);
    assert.match(long.message, /longer than 1024/);
    assert.ok(long.message.length < 400, 'the message does not repeat the whole URL');
  });

  it('refuses numbers past the double range in the URL (Infinity would skip minimum/maximum)', async () => {
    for (const [url, field] of [
      [`/api/clients/${ep}/3/0/0?timeout=1e400`, 'timeout'],
      [`/api/clients/${ep}/3/0/0?timeout=-1e400`, 'timeout'],
      [`/api/clients/${ep}/3/discover?depth=1e999`, 'depth'],
      ['/api/events/recent?limit=1e400', 'limit'],
      ['/api/clients?offset=1e400', 'offset'],
      ['/api/clients?limit=-1e400', 'limit'],
      ['/api/models/1e400', 'objectId'],
    ] as const) {
      const r = await call('GET', url);
      assert.deepEqual([r.status, r.code], [400, 'BAD_REQUEST'], url);
      assert.match(r.message, new RegExp(`${field} must be a finite number`), url);
    }
  });

  it('answers a non-JSON body with 415 naming its type', async () => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded']) {
      const r = await call('PUT', `/api/clients/${ep}/3/0/14`, '{"value": "+02"}', type);
      assert.deepEqual([r.status, r.code], [415, 'UNSUPPORTED_MEDIA_TYPE'], type);
      assert.ok(r.message.includes(type), `${type}: ${r.message}`);
    }
  });

  it('refuses attribute values whose decimal form does not fit a CoAP Uri-Query (not a 500)', async () => {
    const write = await call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, { gt: 1e308 });
    assert.deepEqual([write.status, write.code], [400, 'BAD_ATTRIBUTES']);
    assert.match(write.message, /^gt: /);
    const tiny = await call('PUT', `/api/clients/${ep}/3303/0/5700/attributes`, { lt: -1e-300 });
    assert.deepEqual([tiny.status, tiny.code], [400, 'BAD_ATTRIBUTES']);
    assert.match(tiny.message, /^lt: /);
    const observe = await call('POST', `/api/clients/${ep}/3303/0/5700/observe`, {
      attributes: { st: 1e300 },
    });
    assert.deepEqual([observe.status, observe.code], [400, 'BAD_ATTRIBUTES']);
    assert.match(observe.message, /^st: /);
    const fine = await f.app.inject({
      method: 'PUT',
      url: `/api/clients/${ep}/3303/0/5700/attributes`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ gt: 1e30 }),
    });
    assert.equal(fine.statusCode, 200, 'a large value that fits goes out');
  });

  it('refuses a gateway prefix longer than a CoAP Uri-Path option as the caller’s mistake', async () => {
    const r = await call('GET', `/api/clients/${ep}/${'p'.repeat(300)}/3/0`);
    assert.deepEqual([r.status, r.code], [400, 'BAD_REQUEST']);
    assert.match(r.message, /Uri-Path/);
  });

  it('refuses Create values that lie outside the new instance instead of moving them into it', async () => {
    const T = TEST_OBJECT;
    const before = f.rig.values(`/${T}`);
    for (const [url, values, key] of [
      [`/api/clients/${ep}/${T}`, { '/3/0/1': 'x', '5': 'y' }, '/3/0/1'],
      [`/api/clients/${ep}/${T}`, { '5/0/9': 'x' }, '5/0/9'],
      [`/api/clients/${ep}/${T}/7`, { [`/${T}/8/5`]: 'x' }, `/${T}/8/5`],
      [`/api/clients/${ep}/${T}/7`, { [`dev1/${T}/7/5`]: 'x' }, `dev1/${T}/7/5`],
    ] as const) {
      const r = await call('POST', url, { values });
      assert.deepEqual([r.status, r.code], [400, 'BAD_PATH'], `${url} ${JSON.stringify(values)}`);
      assert.ok(r.message.includes(key), r.message);
    }
    assert.deepEqual(f.rig.values(`/${T}`), before, 'nothing was created');
    const ok = await f.app.inject({
      method: 'POST',
      url: `/api/clients/${ep}/${T}/7`,
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ values: { [`/${T}/7/5`]: 'absolute', '15/0': 'relative' } }),
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json<{ code: string }>().code, '2.01', ok.body);
    const created = f.rig.values(`/${T}/7`);
    assert.equal(created[`/${T}/7/5`], 'absolute');
    assert.equal(created[`/${T}/7/15/0`], 'relative');
  });
});
