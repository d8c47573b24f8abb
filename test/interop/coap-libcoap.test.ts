// Interop with libcoap (Debian libcoap3-bin): our endpoint as a server for coap-client-notls, and
// as a client of coap-server-notls, over real UDP on 127.0.0.1.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, contentFormat, getUint, uriPath } from '../../src/coap/options.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { freeUdpPort, requirePeer, run, startDaemon } from '../support/peers.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

async function ourServer() {
  const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const endpoint = new CoapEndpoint({ channel });
  const store = new Map<string, string>([['hello', 'world']]);
  endpoint.onRequest(({ message }) => {
    const key = uriPath(message).join('/');
    switch (message.code) {
      case CoapCode.GET:
        return store.has(key)
          ? {
              code: CoapCode.CONTENT,
              options: [{ number: OptionNumber.CONTENT_FORMAT, value: new Uint8Array() }],
              payload: text(store.get(key)!),
            }
          : { code: CoapCode.NOT_FOUND };
      case CoapCode.PUT:
        store.set(key, str(message.payload));
        return { code: CoapCode.CHANGED };
      case CoapCode.POST:
        store.set(key, (store.get(key) ?? '') + str(message.payload));
        return { code: CoapCode.CREATED };
      case CoapCode.DELETE:
        store.delete(key);
        return { code: CoapCode.DELETED };
      case CoapCode.FETCH:
        return { code: CoapCode.CONTENT, payload: text(`fetched ${str(message.payload)}`) };
      default:
        return { code: CoapCode.METHOD_NOT_ALLOWED };
    }
  });
  return { endpoint, port: channel.local.port, store };
}

describe('libcoap coap-client-notls against our server', () => {
  it('GET, PUT, POST, DELETE, FETCH, CON and NON', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const { endpoint, port, store } = await ourServer();
    try {
      const uri = (p: string) => `coap://127.0.0.1:${port}/${p}`;
      const get = await run(client, ['-B', '5', uri('hello')]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout.trim(), 'world');
      const put = await run(client, ['-B', '5', '-m', 'put', '-e', 'v1', uri('a/b')]);
      assert.equal(put.code, 0, put.stderr);
      assert.equal(store.get('a/b'), 'v1');
      const post = await run(client, ['-B', '5', '-m', 'post', '-e', '+v2', uri('a/b')]);
      assert.equal(post.code, 0, post.stderr);
      assert.equal(store.get('a/b'), 'v1+v2');
      const non = await run(client, ['-B', '5', '-N', uri('a/b')]);
      assert.equal(non.stdout.trim(), 'v1+v2');
      const fetch = await run(client, ['-B', '5', '-m', 'fetch', '-e', 'q', uri('f')]);
      assert.equal(fetch.stdout.trim(), 'fetched q');
      const del = await run(client, ['-B', '5', '-m', 'delete', uri('a/b')]);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(store.has('a/b'), false);
      const missing = await run(client, ['-B', '5', uri('a/b')]);
      assert.match(missing.stderr + missing.stdout, /4\.04/);
    } finally {
      await endpoint.close();
    }
  });
});

describe('our client against libcoap coap-server-notls', () => {
  it('GET, PUT (dynamic resource), NON, DELETE, ping', async (t) => {
    const serverBin = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!serverBin) return;
    const port = await freeUdpPort();
    const daemon = startDaemon(serverBin, ['-A', '127.0.0.1', '-p', String(port), '-d', '10']);
    const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const endpoint = new CoapEndpoint({ channel });
    const server = { address: '127.0.0.1', port };
    const path = (...segs: string[]) => segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));
    try {
      // The daemon needs a moment to bind: retry the first request briefly.
      let root;
      for (let i = 0; i < 50 && !root; i++) {
        try {
          root = await endpoint.request(server, { code: CoapCode.GET }, { timeout: 300 });
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(root, `coap-server-notls did not answer: ${daemon.output()}`);
      assert.equal(root.code, CoapCode.CONTENT);
      assert.match(str(root.payload), /libcoap/);
      // libcoap's example server answers with Max-Age 0x2ffff and no Content-Format.
      assert.equal(getUint(root, OptionNumber.MAX_AGE), 0x2ffff);
      assert.equal(contentFormat(root), undefined);
      const put = await endpoint.request(server, {
        code: CoapCode.PUT,
        options: path('petrel'),
        payload: text('from petrel'),
      });
      assert.equal(put.code, CoapCode.CREATED);
      const got = await endpoint.request(server, {
        code: CoapCode.GET,
        options: path('petrel'),
        confirmable: false,
      });
      assert.equal(got.type, 'NON');
      assert.equal(str(got.payload), 'from petrel');
      const del = await endpoint.request(server, { code: CoapCode.DELETE, options: path('petrel') });
      assert.equal(del.code, CoapCode.DELETED);
      const gone = await endpoint.request(server, { code: CoapCode.GET, options: path('petrel') });
      assert.equal(gone.code, CoapCode.NOT_FOUND);
      await endpoint.ping(server);
    } finally {
      await endpoint.close();
      await daemon.stop();
    }
  });
});

describe('observe with libcoap', () => {
  it('coap-client-notls observes our server and sees 5+ notifications', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const endpoint = new CoapEndpoint({ channel });
    let counter = 0;
    const timers: ReturnType<typeof setInterval>[] = [];
    endpoint.onRequest(() => ({
      code: CoapCode.CONTENT,
      payload: text(`n${counter}`),
      observe: (relation) => {
        const timer = setInterval(() => {
          counter++;
          relation.notify({ code: CoapCode.CONTENT, payload: text(`n${counter}`) });
        }, 150);
        timers.push(timer);
        relation.onEnd(() => clearInterval(timer));
      },
    }));
    try {
      // -s 2: subscribe for 2 seconds; libcoap prints each payload as it arrives (no separator).
      const r = await run(client, ['-s', '2', '-B', '3', `coap://127.0.0.1:${channel.local.port}/obs`]);
      const lines = r.stdout.match(/n\d+/g) ?? [];
      assert.ok(
        lines.length >= 6,
        `expected the first response and 5+ notifications, got ${JSON.stringify(r.stdout)}`,
      );
      const values = lines.map((l) => Number(l.slice(1)));
      for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, 'in order');
    } finally {
      for (const timer of timers) clearInterval(timer);
      await endpoint.close();
    }
  });

  it('our client observes coap-server-notls /time and cancels', async (t) => {
    const serverBin = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!serverBin) return;
    const port = await freeUdpPort();
    const daemon = startDaemon(serverBin, ['-A', '127.0.0.1', '-p', String(port)]);
    const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const endpoint = new CoapEndpoint({ channel });
    const server = { address: '127.0.0.1', port };
    try {
      for (let i = 0; i < 50; i++) {
        try {
          await endpoint.ping(server);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const seen: string[] = [];
      let enough!: () => void;
      const got = new Promise<void>((r) => (enough = r));
      const obs = await endpoint.observe(
        server,
        { code: CoapCode.GET, options: [{ number: OptionNumber.URI_PATH, value: text('time') }] },
        {
          onNotification: (m) => {
            seen.push(str(m.payload));
            if (seen.length >= 5) enough();
          },
        },
      );
      assert.equal(obs.established, true, daemon.output());
      // libcoap's /time resource notifies once a second.
      await Promise.race([got, new Promise((r) => setTimeout(r, 8000))]);
      assert.ok(seen.length >= 5, `notifications: ${JSON.stringify(seen)}`);
      const final = await obs.cancel();
      assert.equal(final.code, CoapCode.CONTENT);
    } finally {
      await endpoint.close();
      await daemon.stop();
    }
  });
});
