// Block-wise transfer (RFC 7959) interop with libcoap (Debian libcoap3-bin) over real UDP on
// 127.0.0.1: coap-client-notls uploads to and downloads from our server, and our client uploads to
// and downloads from coap-server-notls, 64 KiB with block sizes 16, 64, 256 and 1024.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlockwiseLayer } from '../../src/coap/blockwise.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, uriPath } from '../../src/coap/options.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { freeUdpPort, requirePeer, run, startDaemon } from '../support/peers.js';

const SIZES = [16, 64, 256, 1024];
const KIB64 = 64 * 1024;
const text = (s: string) => new TextEncoder().encode(s);
const path = (...segs: string[]) => segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));
const body = (seed: number) => seededRandom(seed).bytes(KIB64);

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-blockwise-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Our server: PUT stores the whole body, GET returns it (in blocks, by the layer). */
async function ourServer() {
  const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const endpoint = new CoapEndpoint({ channel });
  const layer = new BlockwiseLayer(endpoint);
  const store = new Map<string, Uint8Array>();
  let handled = 0;
  layer.onRequest(({ message }) => {
    handled++;
    const key = uriPath(message).join('/');
    if (message.code === CoapCode.PUT) {
      const created = !store.has(key);
      store.set(key, message.payload);
      return { code: created ? CoapCode.CREATED : CoapCode.CHANGED };
    }
    const v = store.get(key);
    return v ? { code: CoapCode.CONTENT, payload: v } : { code: CoapCode.NOT_FOUND };
  });
  return { endpoint, port: channel.local.port, store, handled: () => handled };
}

describe('libcoap coap-client-notls against our block-wise server', () => {
  for (const size of SIZES) {
    it(`uploads and downloads 64 KiB in blocks of ${size}`, { timeout: 20_000 }, async (t) => {
      const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
      if (!client) return;
      const { endpoint, port, store, handled } = await ourServer();
      try {
        const uri = `coap://127.0.0.1:${port}/big`;
        const input = join(dir, `up-${size}.bin`);
        const output = join(dir, `down-${size}.bin`);
        const payload = body(size);
        await writeFile(input, payload);
        const put = await run(client, ['-B', '15', '-m', 'put', '-b', String(size), '-f', input, uri]);
        assert.equal(put.code, 0, put.stderr);
        assert.ok(store.get('big'), `nothing stored: ${put.stderr}`);
        assert.equal(store.get('big')!.length, KIB64);
        assert.deepEqual(store.get('big'), payload);
        assert.equal(handled(), 1, 'the handler saw the body once, whole');
        assert.equal(endpoint.stats.handled, KIB64 / size, 'one request per block');
        const get = await run(client, ['-B', '15', '-b', String(size), '-o', output, uri]);
        assert.equal(get.code, 0, get.stderr);
        assert.deepEqual(new Uint8Array(await readFile(output)), payload);
        assert.equal(endpoint.stats.handled, (2 * KIB64) / size, 'downloaded block by block');
        assert.equal(handled(), 2, 'later blocks came from the cache');
      } finally {
        await endpoint.close();
      }
    });
  }
});

describe('our block-wise client against libcoap coap-server-notls', () => {
  for (const size of SIZES) {
    it(`uploads and downloads 64 KiB in blocks of ${size}`, { timeout: 20_000 }, async (t) => {
      const serverBin = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
      if (!serverBin) return;
      const port = await freeUdpPort();
      const daemon = startDaemon(serverBin, ['-A', '127.0.0.1', '-p', String(port), '-d', '10']);
      const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
      const endpoint = new CoapEndpoint({ channel });
      const layer = new BlockwiseLayer(endpoint, { blockSize: size });
      const server: Peer = { address: '127.0.0.1', port };
      try {
        // The daemon needs a moment to bind: retry the first request briefly.
        let up = false;
        for (let i = 0; i < 50 && !up; i++) {
          try {
            await endpoint.request(server, { code: CoapCode.GET }, { timeout: 300 });
            up = true;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        assert.ok(up, `coap-server-notls did not answer: ${daemon.output()}`);
        const payload = body(100 + size);
        const put = await layer.request(server, { code: CoapCode.PUT, options: path('big'), payload });
        assert.equal(put.code, CoapCode.CREATED, daemon.output());
        const sentUp = endpoint.stats.sent;
        assert.ok(sentUp >= KIB64 / size, `${sentUp} datagrams for ${KIB64 / size} blocks`);
        const got = await layer.request(
          server,
          { code: CoapCode.GET, options: path('big') },
          { block2Size: size },
        );
        assert.equal(got.code, CoapCode.CONTENT);
        assert.equal(got.payload.length, KIB64);
        assert.deepEqual(got.payload, payload);
        assert.ok(endpoint.stats.sent - sentUp >= KIB64 / size, 'downloaded block by block');
      } finally {
        await endpoint.close();
        await daemon.stop();
      }
    });
  }
});
