/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return --
   The answers are untyped JSON; the assertions check them field by field. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startApiServer } from '../../src/api/api-server.js';
import type { RunningApiServer } from '../../src/api/api-server.js';
import { formatSseMessage, matchesEvent, parseLastEventId, parseTypes } from '../../src/api/events-routes.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { clientRig } from '../support/client-rig.js';
import type { ClientRig } from '../support/client-rig.js';

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** A plain HTTP call on its own connection (no keep-alive pool holding the test process open). */
function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, read by assertions
): Promise<{ status: number; headers: IncomingHttpHeaders; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            json: text ? JSON.parse(text) : undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** An SSE client: collects messages, waits for one that matches, bounded in time. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const messages: SseMessage[] = [];
  const waiters: { match: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = [];
  let buffer = '';
  const req = request(url, { agent: false, headers });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const msg: SseMessage = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) msg.comment = line.slice(1).trim();
        else {
          const colon = line.indexOf(':');
          const field = line.slice(0, colon) as keyof SseMessage;
          msg[field] = line.slice(colon + 1).replace(/^ /, '');
        }
      }
      messages.push(msg);
      for (const w of [...waiters])
        if (w.match(msg)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg);
        }
    }
  });
  const ended = new Promise<void>((resolve) => res.on('close', () => resolve()));
  res.on('error', () => undefined);
  return {
    res,
    messages,
    ended,
    next(match: (m: SseMessage) => boolean, ms = 3000): Promise<SseMessage> {
      const seen = messages.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching SSE message in ${ms} ms`)), ms);
        waiters.push({
          match,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
    async close() {
      req.destroy();
      await ended;
    },
  };
}

const json = (
  m: SseMessage,
): { seq: number; type: string; endpoint?: string; data: Record<string, unknown> } => JSON.parse(m.data!);

describe('REST API: event stream (SSE over a real socket)', () => {
  let rig: ClientRig;
  let api: RunningApiServer;
  let base: string;
  const events = new MemoryEventLog({ capacity: 1000 });
  before(async () => {
    rig = await clientRig({ noStart: true });
    api = await startApiServer({
      server: rig.server,
      stores: { tags: new MemoryTagStore(), events, kind: 'memory' },
      token: 'let-me-in',
      heartbeatMs: 100,
      address: '127.0.0.1',
      port: 0,
    });
    base = `http://127.0.0.1:${api.port}`;
    await rig.start();
  });
  after(async () => {
    await api.close();
    await rig.close();
  });

  it('streams a notification of an observation made through the API', async () => {
    const stream = await openStream(
      `${base}/api/events?token=let-me-in&types=notification&endpoint=${rig.ep}`,
    );
    try {
      assert.equal(stream.res.statusCode, 200);
      assert.match(stream.res.headers['content-type']!, /^text\/event-stream/);
      assert.equal(stream.res.headers['cache-control'], 'no-cache, no-transform');
      const observe = await call(`${base}/api/clients/${rig.ep}/3303/0/5700/observe`, {
        method: 'POST',
        headers: { authorization: 'Bearer let-me-in' },
        body: { attributes: { pmin: 0 } },
      });
      assert.equal(observe.status, 200);
      const { observationId } = observe.json as { observationId: string };
      rig.client.set('/3303/0/5700', 27.75);
      const msg = await stream.next((m) => m.event === 'notification');
      const event = json(msg);
      assert.equal(msg.id, String(event.seq));
      assert.equal(event.type, 'notification');
      assert.equal(event.endpoint, rig.ep);
      assert.equal(event.data.observationId, observationId);
      assert.deepEqual(event.data.values, { '/3303/0/5700': 27.75 });
      assert.ok(
        stream.messages.every((m) => m.event === undefined || m.event === 'notification'),
        'types filter',
      );
      const heartbeat = await stream.next((m) => m.comment === 'heartbeat', 1000);
      assert.equal(heartbeat.comment, 'heartbeat');
    } finally {
      await stream.close();
    }
  });

  it('replays from Last-Event-ID, then goes on live, without duplicates', async () => {
    const logged = await events.recent({ limit: 1000 });
    const registered = logged.find((e) => e.type === 'registered');
    assert.ok(registered, 'the registration was logged');
    const stream = await openStream(`${base}/api/events?types=registered,response,tags`, {
      authorization: 'Bearer let-me-in',
      'last-event-id': String(registered.seq - 1),
    });
    try {
      const first = await stream.next((m) => m.event === 'registered');
      assert.equal(json(first).seq, registered.seq);
      assert.equal(json(first).data.endpoint, rig.ep);
      const tagged = await call(`${base}/api/clients/${rig.ep}/tags`, {
        method: 'PUT',
        headers: { authorization: 'Bearer let-me-in' },
        body: { tags: ['live'] },
      });
      assert.equal(tagged.status, 200);
      const live = await stream.next((m) => m.event === 'tags');
      assert.deepEqual(json(live).data.tags, ['live']);
      const seqs = stream.messages.filter((m) => m.id !== undefined).map((m) => Number(m.id));
      assert.deepEqual(
        seqs,
        [...new Set(seqs)].sort((a, b) => a - b),
        'increasing, each once',
      );
      assert.ok(seqs[0]! >= registered.seq);
    } finally {
      await stream.close();
    }
  });

  it('needs the token: 401 without it, also on the stream', async () => {
    const res = await call(`${base}/api/events`);
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    assert.deepEqual(res.json, {
      code: 'UNAUTHORIZED',
      message: 'this API needs "Authorization: Bearer <token>"',
    });
    const wrong = await call(`${base}/api/events?token=nope`);
    assert.equal(wrong.status, 401);
    const notHere = await call(`${base}/api/server?token=let-me-in`);
    assert.equal(notHere.status, 401, '?token= is for the event stream only');
  });

  it('reports where it listens', async () => {
    const res = await call(`${base}/api/server`, { headers: { authorization: 'Bearer let-me-in' } });
    assert.deepEqual((res.json as { endpoints: { http: unknown } }).endpoints.http, {
      address: '127.0.0.1',
      port: api.port,
    });
    assert.equal(api.address, '127.0.0.1');
  });

  it('serves recent events oldest first, filtered', async () => {
    for (let i = 0; i < 2; i++) await rig.server.read(rig.ep, '/3/0/0');
    const res = await call(`${base}/api/events/recent?limit=3&types=request,response&endpoint=${rig.ep}`, {
      headers: { authorization: 'Bearer let-me-in' },
    });
    assert.equal(res.status, 200);
    const list = res.json as { seq: number; type: string }[];
    assert.equal(list.length, 3);
    assert.ok(list.every((e) => e.type === 'request' || e.type === 'response'));
    assert.ok(list[0]!.seq < list[1]!.seq && list[1]!.seq < list[2]!.seq);
    const newest = await events.recent({ limit: 1, types: ['request', 'response'] });
    assert.equal(list[2]!.seq, newest[0]!.seq);
  });

  it('ends open streams when the API closes', async () => {
    const rig2 = await clientRig();
    const api2 = await startApiServer({
      server: rig2.server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog(), kind: 'memory' },
    });
    try {
      const stream = await openStream(`http://127.0.0.1:${api2.port}/api/events`);
      assert.equal(stream.res.statusCode, 200);
      const closed = api2.close();
      let timer: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([
        closed.then(() => true),
        new Promise((r) => (timer = setTimeout(() => r(false), 2000))),
      ]);
      clearTimeout(timer);
      assert.equal(inTime, true, 'close() does not wait for the stream');
      await stream.ended;
    } finally {
      await rig2.close();
    }
  });
});

describe('event stream helpers', () => {
  const event = { seq: 7, type: 'notification', time: 1, endpoint: 'dev', data: { a: 'x\ny' } };
  it('formats one SSE message with the JSON on one data line', () => {
    assert.equal(
      formatSseMessage(event),
      'id: 7\nevent: notification\ndata: {"seq":7,"type":"notification","time":1,"endpoint":"dev","data":{"a":"x\\ny"}}\n\n',
    );
    assert.equal(formatSseMessage({ ...event, type: 'a\nb' }).split('\n')[1], 'event: a b');
  });

  it('parses filters and Last-Event-ID', () => {
    assert.deepEqual(parseTypes('registered, notification,,'), ['registered', 'notification']);
    assert.equal(parseTypes(',,'), undefined);
    assert.equal(parseTypes(undefined), undefined);
    assert.equal(parseLastEventId('42'), 42);
    assert.equal(parseLastEventId(' 42 '), 42);
    assert.equal(parseLastEventId('abc'), undefined);
    assert.equal(parseLastEventId('1e9'), undefined);
    assert.equal(matchesEvent(event, { endpoint: 'dev', types: ['notification'] }), true);
    assert.equal(matchesEvent(event, { endpoint: 'other' }), false);
    assert.equal(matchesEvent(event, { types: ['send'] }), false);
  });
});
