// The REST API as a fuzz target (test/fuzz/rest-inputs.test.ts and the REST entries of
// test/fuzz/regressions/): a request as bytes (URL line, then the JSON body), the fixture it runs
// against (a real server and client: test/api/api-fixture.ts, with every store the routes use),
// and the check of every answer: within the bound, no 500, errors as {code, message} with a
// documented code and its status, and only the 5xx a client can justify (docs/rest-api.md).
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { API_ERROR_STATUS } from '../../src/api/api-errors.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { apiFixture, type ApiFixture } from '../api/api-fixture.js';
import { inputHex, utf8Bytes, type FuzzTally } from './fuzz-harness.js';

export const REST_TOKEN = 'fuzz-s3cret';
/** An answer later than this is a hang: the rig's client answers in milliseconds, the server gives up at 3 s. */
export const REST_BOUND_MS = 4000;
const JUSTIFIED_5XX: Record<number, readonly string[]> = {
  502: ['CLIENT_UNREACHABLE', 'BAD_RESPONSE'],
  503: ['QUEUE_FULL', 'UNAVAILABLE'],
  504: ['TIMEOUT'],
};

export type RestMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** One request: method, URL (path and query) and JSON body text ('' for none). */
export interface RestInput {
  readonly method: RestMethod;
  readonly url: string;
  readonly body: string;
}

/** A request as bytes (`url`, newline, body), the form mutation works on and regressions keep. */
export function restBytes(r: RestInput): Uint8Array {
  return utf8Bytes(`${r.url}\n${r.body}`);
}

/**
 * The request in bytes: the first line is the URL, made an HTTP request-target (bytes outside
 * printable ASCII, `#` and `\`, %-encoded as a client library would; a leading `//` made `/%2F`,
 * which inject would otherwise read as a host), the rest the body.
 */
export function restFromBytes(method: RestMethod, bytes: Uint8Array): RestInput {
  const cut = bytes.indexOf(0x0a);
  const urlBytes = cut < 0 ? bytes : bytes.subarray(0, cut);
  const body = cut < 0 ? '' : Buffer.from(bytes.subarray(cut + 1)).toString('utf8');
  let url = '';
  for (const b of urlBytes)
    url +=
      b > 0x20 && b < 0x7f && b !== 0x23 && b !== 0x5c
        ? String.fromCharCode(b)
        : `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  const path = url.startsWith('/') ? url : `/${url}`;
  return { method, url: path.startsWith('//') ? `/%2F${path.slice(2)}` : path, body };
}

/**
 * GET /api/events is the SSE stream: it never ends by design, so no bounded call can cover it
 * (test/api/events-routes.test.ts does). A request that lands there goes to /api/events/recent.
 */
function avoidEventStream(r: RestInput): RestInput {
  const q = r.url.indexOf('?');
  const path = q < 0 ? r.url : r.url.slice(0, q);
  if (!/^\/+api\/+events\/*$/.test(path)) return r;
  return { ...r, url: `/api/events/recent${q < 0 ? '' : r.url.slice(q)}` };
}

/** Every error is {code, message}, with a documented code, its status, and no unjustified 5xx. */
function checkAnswer(r: RestInput, response: LightMyRequestResponse): void {
  const what = `${r.method} ${r.url.slice(0, 200)} body ${r.body.slice(0, 200)} (hex ${inputHex(restBytes(r))})`;
  const status = response.statusCode;
  assert.ok(
    status >= 200 && status < 600 && status !== 500,
    `${what}: status ${status} ${response.body.slice(0, 300)}`,
  );
  if (status < 400) return;
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    assert.fail(`${what}: ${status} with a body that is not JSON: ${response.body.slice(0, 200)}`);
  }
  assert.ok(
    json !== null && typeof json === 'object' && !Array.isArray(json),
    `${what}: error is not an object`,
  );
  const { code, message, ...rest } = json as Record<string, unknown>;
  assert.deepEqual(Object.keys(rest), [], `${what}: only code and message`);
  assert.ok(
    typeof code === 'string' && Object.hasOwn(API_ERROR_STATUS, code),
    `${what}: code ${String(code)}`,
  );
  assert.equal(
    API_ERROR_STATUS[code as keyof typeof API_ERROR_STATUS],
    status,
    `${what}: ${code} goes with its status`,
  );
  assert.ok(typeof message === 'string' && message.trim() !== '', `${what}: message`);
  if (status >= 500)
    assert.ok((JUSTIFIED_5XX[status] ?? []).includes(code), `${what}: ${status} ${code}: ${message}`);
}

/** The API on a real server and client, with the token, tags, events, credentials and bootstrap configs. */
export function restFixture(): Promise<ApiFixture> {
  return apiFixture({
    api: {
      token: REST_TOKEN,
      stores: {
        tags: new MemoryTagStore(),
        events: new MemoryEventLog({ capacity: 200 }),
        credentials: new MemoryCredentialStore(),
        bootstrapConfigs: new MemoryBootstrapConfigStore(),
        kind: 'memory',
      },
    },
  });
}

/** Sends one request, checks the answer, and tallies it by status (`2xx`, `400 BAD_PATH` ...). */
export async function sendRest(
  f: ApiFixture,
  input: RestInput,
  tally: FuzzTally,
): Promise<LightMyRequestResponse> {
  const r = avoidEventStream(input);
  const options: InjectOptions = {
    method: r.method,
    url: r.url,
    headers: {
      authorization: `Bearer ${REST_TOKEN}`,
      ...(r.body === '' ? {} : { 'content-type': 'application/json' }),
    },
    ...(r.body === '' ? {} : { payload: r.body }),
  };
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no answer within ${REST_BOUND_MS} ms: ${r.method} ${r.url} (hex ${inputHex(restBytes(r))})`,
          ),
        ),
      REST_BOUND_MS,
    );
  });
  const response = await Promise.race([f.app.inject(options), bound]).finally(() => clearTimeout(timer));
  const ms = performance.now() - start;
  tally.inputs++;
  if (ms > tally.slowestMs) tally.slowestMs = ms;
  checkAnswer(r, response);
  const status = response.statusCode;
  if (status < 400) tally.accepted++;
  const key =
    status < 400
      ? `${Math.floor(status / 100)}xx`
      : `${status} ${(JSON.parse(response.body) as { code: string }).code}`;
  tally.reasons.set(key, (tally.reasons.get(key) ?? 0) + 1);
  return response;
}
