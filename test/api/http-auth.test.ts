import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startApiServer } from '../../src/api/api-server.js';
import type { RunningApiServer } from '../../src/api/api-server.js';
import { bearerToken, isOpenPath, tokensEqual } from '../../src/api/http-auth.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { clientRig } from '../support/client-rig.js';
import type { ClientRig } from '../support/client-rig.js';

const TOKEN = 'auth-s3cret';

/**
 * One request written byte for byte on its own connection (no HTTP client in between to
 * normalize the request target), answered with the status line and body.
 */
function rawRequest(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    const done = (): void => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    };
    // An answer that does not end (an event stream) is cut after a while: its status is in.
    const timer = setTimeout(() => {
      socket.destroy();
      done();
    }, 1000);
    socket.on('end', done);
  });
}

/** Opens an SSE stream and resolves once its headers are in (the stream stays open). */
function openStream(port: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`http://127.0.0.1:${port}/api/events?token=${TOKEN}`, { agent: false });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

describe('REST API: bearer token', () => {
  let rig: ClientRig;
  let api: RunningApiServer;
  before(async () => {
    rig = await clientRig();
    api = await startApiServer({
      server: rig.server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 100 }), kind: 'memory' },
      token: TOKEN,
      maxEventStreams: 2,
    });
  });
  after(async () => {
    await api.close();
    await rig.close();
  });

  it('compares tokens whatever their lengths, and reads the Bearer scheme', () => {
    assert.equal(tokensEqual(TOKEN, TOKEN), true);
    assert.equal(tokensEqual(TOKEN, `${TOKEN}x`), false);
    assert.equal(tokensEqual('', TOKEN), false);
    assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN);
    assert.equal(bearerToken(`bearer   ${TOKEN} `), TOKEN);
    assert.equal(bearerToken('Basic eDp5'), undefined);
    assert.equal(bearerToken('Bearer '), undefined);
    assert.equal(isOpenPath('/api/docs/static/index.html'), true);
    assert.equal(isOpenPath('/api/clients'), false);
  });

  it('needs the token for a request target in absolute form too (RFC 9112 §3.2.2)', async () => {
    const host = `127.0.0.1:${api.port}`;
    const origin = await rawRequest(api.port, `GET /api/clients HTTP/1.1\r\nHost: ${host}`);
    assert.equal(origin.status, 401);
    for (const target of [
      `http://${host}/api/clients`,
      `http://${host}/api/clients/${rig.ep}/3/0/0`,
      `http://${host}/api/server`,
      `HTTP://other.example/api/clients`,
    ]) {
      const absolute = await rawRequest(api.port, `GET ${target} HTTP/1.1\r\nHost: ${host}`);
      assert.equal(absolute.status, 401, `${target}: ${absolute.body.slice(0, 200)}`);
      assert.deepEqual(JSON.parse(absolute.body), {
        code: 'UNAUTHORIZED',
        message: 'this API needs "Authorization: Bearer <token>"',
      });
    }
    const withToken = await rawRequest(
      api.port,
      `GET http://${host}/api/clients HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${TOKEN}`,
    );
    assert.equal(withToken.status, 200);
    const docs = await rawRequest(api.port, `GET http://${host}/api/openapi.json HTTP/1.1\r\nHost: ${host}`);
    assert.equal(docs.status, 200, 'the API description stays open');
  });

  it('takes ?token= on the event stream only, whatever the form of the target', async () => {
    const host = `127.0.0.1:${api.port}`;
    const recent = await rawRequest(
      api.port,
      `GET /api/events/recent?token=${TOKEN} HTTP/1.1\r\nHost: ${host}`,
    );
    assert.equal(recent.status, 401);
    const absolute = await rawRequest(
      api.port,
      `GET http://${host}/api/events/recent?token=${TOKEN} HTTP/1.1\r\nHost: ${host}`,
    );
    assert.equal(absolute.status, 401);
  });

  it('refuses an event stream past maxEventStreams with 503 UNAVAILABLE, and takes one again once one closes', async () => {
    const first = await openStream(api.port);
    const second = await openStream(api.port);
    assert.equal(first.statusCode, 200);
    assert.equal(second.statusCode, 200);
    const third = await rawRequest(api.port, `GET /api/events?token=${TOKEN} HTTP/1.1\r\nHost: x`);
    assert.equal(third.status, 503);
    const json = JSON.parse(third.body) as { code: string; message: string };
    assert.equal(json.code, 'UNAVAILABLE');
    assert.match(json.message, /2 event streams/);
    first.destroy();
    const end = Date.now() + 2000;
    let again: IncomingMessage | undefined;
    while (!again && Date.now() < end) {
      const attempt = await openStream(api.port);
      if (attempt.statusCode === 200) again = attempt;
      else {
        attempt.resume();
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    assert.ok(again, 'a closed stream makes room');
    again.destroy();
    second.destroy();
  });
});
