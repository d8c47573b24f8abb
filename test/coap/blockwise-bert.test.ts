import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { BlockwiseLayer, type BlockwiseOptions } from '../../src/coap/blockwise.js';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import { BERT_SZX, OptionNumber, block1, block2, uriPath } from '../../src/coap/options.js';
import { CoapReliableEndpoint, type ReliableEndpointOptions } from '../../src/coap/reliable-endpoint.js';
import { decodeCoapTcp } from '../../src/coap/tcp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryConnectionNetwork } from '../support/memory-connection.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5684 };
const KIB100 = 100 * 1024;

const text = (s: string) => new TextEncoder().encode(s);
const path = (...segs: string[]): CoapOption[] =>
  segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));
const body = (n: number, seed = 1) => seededRandom(seed).bytes(n);

type EndpointConfig = Partial<Omit<ReliableEndpointOptions, 'channel'>>;

/** A client and a server CoapReliableEndpoint on in-memory connections, each under a BlockwiseLayer storing bodies. */
function world(
  config: {
    server?: EndpointConfig;
    client?: EndpointConfig;
    serverLayer?: BlockwiseOptions;
    clientLayer?: BlockwiseOptions;
  } = {},
) {
  const clock = new FakeClock();
  const net = new MemoryConnectionNetwork();
  const serverChannel = net.listen(SERVER.address, SERVER.port);
  const clientChannel = net.dialler('10.0.0.2', 40000);
  const toServer: CoapMessage[] = [];
  const toClient: CoapMessage[] = [];
  serverChannel.onReceive((_, b) => toServer.push(decodeCoapTcp(b)));
  clientChannel.onReceive((_, b) => toClient.push(decodeCoapTcp(b)));
  const server = new CoapReliableEndpoint({
    channel: serverChannel,
    clock,
    random: seededRandom(1),
    ...config.server,
  });
  const client = new CoapReliableEndpoint({
    channel: clientChannel,
    clock,
    random: seededRandom(2),
    ...config.client,
  });
  const serverLayer = new BlockwiseLayer(server, { clock, random: seededRandom(3), ...config.serverLayer });
  const clientLayer = new BlockwiseLayer(client, { clock, random: seededRandom(4), ...config.clientLayer });
  const data = new Map<string, Uint8Array>();
  let handled = 0;
  serverLayer.onRequest(({ message }) => {
    handled++;
    const key = uriPath(message).join('/');
    if (message.code === CoapCode.PUT) {
      data.set(key, message.payload);
      return { code: CoapCode.CHANGED };
    }
    const v = data.get(key);
    return v ? { code: CoapCode.CONTENT, payload: v } : { code: CoapCode.NOT_FOUND };
  });
  return {
    server,
    client,
    serverLayer,
    clientLayer,
    data,
    toServer,
    toClient,
    handled: () => handled,
    /** Opens the connection so that both CSMs are known before a transfer starts. */
    async connect() {
      await client.ping(SERVER);
    },
    async close() {
      await client.close();
      await server.close();
    },
  };
}

const frames = (list: CoapMessage[], code: number) => list.filter((m) => m.code === code);

describe('BlockwiseLayer over CoapReliableEndpoint: BERT (RFC 8323 §6)', () => {
  it('uploads and downloads 100 KiB in BERT messages, far fewer than 1024-byte blocks', async () => {
    const w = world({ server: { bert: true }, client: { bert: true } });
    await w.connect();
    assert.equal(w.client.blockCapacity(SERVER).bert, true);
    const payload = body(KIB100, 7);
    const put = await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('big'), payload });
    assert.equal(put.code, CoapCode.CHANGED);
    assert.deepEqual(w.data.get('big'), payload);
    assert.equal(w.handled(), 1, 'the handler saw one whole body');
    const puts = frames(w.toServer, CoapCode.PUT);
    assert.ok(puts.length < KIB100 / 1024 / 4, `${puts.length} PUT messages`);
    for (const [i, m] of puts.entries()) {
      const b = block1(m)!;
      assert.equal(b.szx, BERT_SZX);
      assert.equal(b.more, i < puts.length - 1);
      if (b.more) assert.equal(m.payload.length % 1024, 0);
    }
    // NUM counts 1024-byte units: each block starts where the previous ended.
    let offset = 0;
    for (const m of puts) {
      assert.equal(block1(m)!.num * 1024, offset);
      offset += m.payload.length;
    }
    assert.equal(offset, KIB100);
    for (const m of frames(w.toServer, CoapCode.PUT)) assert.ok(m.payload.length <= 8192);

    const got = await w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('big') });
    assert.equal(got.code, CoapCode.CONTENT);
    assert.deepEqual(got.payload, payload);
    assert.equal(block2(got), undefined);
    const contents = frames(w.toClient, CoapCode.CONTENT);
    assert.ok(contents.length < KIB100 / 1024 / 4, `${contents.length} response messages`);
    for (const m of contents) assert.equal(block2(m)!.szx, BERT_SZX);
    assert.equal(w.handled(), 2, 'later blocks come from the cache');
    await w.close();
  });

  it('keeps plain blocks for a body begun before the peer CSM; the next body uses BERT', async () => {
    const w = world({ server: { bert: true }, client: { bert: true } });
    const payload = body(50_000, 8);
    const put = await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('fresh'), payload });
    assert.equal(put.code, CoapCode.CHANGED);
    assert.deepEqual(w.data.get('fresh'), payload);
    // RFC 7959 §2.3: a block size may only shrink during a transfer (libcoap 4.3 fails on a switch).
    const first = frames(w.toServer, CoapCode.PUT);
    assert.ok(
      first.every((m) => block1(m)!.szx === 6),
      'the whole first body in plain 1024-byte blocks',
    );
    assert.equal(first.length, Math.ceil(50_000 / 1024));
    await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('next'), payload });
    const next = frames(w.toServer, CoapCode.PUT).slice(first.length);
    assert.ok(
      next.every((m) => block1(m)!.szx === BERT_SZX),
      'the CSM is known now: BERT',
    );
    assert.ok(next.length < 10);
    assert.deepEqual(w.data.get('next'), payload);
    await w.close();
  });

  it('fits BERT messages under a smaller Max-Message-Size', async () => {
    const w = world({
      server: { bert: true, maxMessageSize: 3500 },
      client: { bert: true, maxMessageSize: 5000 },
    });
    await w.connect();
    const payload = body(30_000, 9);
    await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('m'), payload });
    const puts = frames(w.toServer, CoapCode.PUT);
    for (const m of puts.slice(0, -1))
      assert.equal(m.payload.length, 3072, 'three 1024 units fit under 3500');
    const got = await w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('m') });
    assert.deepEqual(got.payload, payload);
    for (const m of frames(w.toClient, CoapCode.CONTENT).slice(0, -1)) assert.equal(m.payload.length, 4096);
    await w.close();
  });

  for (const side of ['server', 'client'] as const) {
    it(`falls back to 1024-byte blocks when the ${side} does not announce BERT`, async () => {
      const w = world(side === 'server' ? { client: { bert: true } } : { server: { bert: true } });
      await w.connect();
      assert.equal(w.client.blockCapacity(SERVER).bert, false);
      const payload = body(KIB100, 10);
      await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('p'), payload });
      assert.deepEqual(w.data.get('p'), payload);
      const puts = frames(w.toServer, CoapCode.PUT);
      assert.equal(puts.length, KIB100 / 1024);
      assert.ok(puts.every((m) => block1(m)!.szx === 6));
      const got = await w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('p') });
      assert.deepEqual(got.payload, payload);
      const contents = frames(w.toClient, CoapCode.CONTENT);
      assert.equal(contents.length, KIB100 / 1024);
      assert.ok(contents.every((m) => block2(m)!.szx === 6));
      await w.close();
    });
  }

  it('continues with plain blocks when the server layer answers a BERT block with SZX 6', async () => {
    const w = world({ server: { bert: true }, client: { bert: true }, serverLayer: { bert: false } });
    await w.connect();
    const payload = body(40_000, 11);
    await w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('d'), payload });
    assert.deepEqual(w.data.get('d'), payload);
    const puts = frames(w.toServer, CoapCode.PUT);
    assert.equal(block1(puts[0]!)!.szx, BERT_SZX);
    assert.ok(puts.slice(1).every((m) => block1(m)!.szx === 6));
    assert.equal(puts[0]!.payload.length + (puts.length - 1) * 1024 >= 40_000, true);
    // That server serves plain blocks too.
    const got = await w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('d') });
    assert.deepEqual(got.payload, payload);
    assert.ok(frames(w.toClient, CoapCode.CONTENT).every((m) => block2(m)!.szx === 6));
    await w.close();
  });

  it('serves plain blocks to a client that asks for a smaller size (early negotiation)', async () => {
    const w = world({ server: { bert: true }, client: { bert: true } });
    await w.connect();
    const payload = body(5000, 12);
    w.data.set('e', payload);
    const got = await w.clientLayer.request(
      SERVER,
      { code: CoapCode.GET, options: path('e') },
      { block2Size: 512 },
    );
    assert.deepEqual(got.payload, payload);
    const contents = frames(w.toClient, CoapCode.CONTENT);
    assert.equal(contents.length, Math.ceil(5000 / 512));
    assert.ok(contents.every((m) => block2(m)!.szx === 5));
    await w.close();
  });

  it('rejects a BERT block whose payload is not a multiple of 1024 with more to come', async () => {
    const w = world({ server: { bert: true }, client: { bert: true } });
    await w.connect();
    const r = await w.client.request(SERVER, {
      code: CoapCode.PUT,
      options: [
        ...path('x'),
        { number: OptionNumber.BLOCK1, value: new Uint8Array([0x0f]) }, // num 0, M=1, SZX 7
      ],
      payload: new Uint8Array(1500),
    });
    assert.equal(r.code, CoapCode.BAD_REQUEST);
    await w.close();
  });

  it('round-trips random bodies with and without BERT (property)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40_000 }),
        fc.integer(),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1152, max: 12_000 }),
        async (length, seed, serverBert, clientBert, maxMessageSize) => {
          const payload = body(length, seed);
          runs++;
          const w = world({
            server: { bert: serverBert, maxMessageSize },
            client: { bert: clientBert, maxMessageSize: 12_000 },
          });
          try {
            const put = await w.clientLayer.request(SERVER, {
              code: CoapCode.PUT,
              options: path('r'),
              payload,
            });
            assert.equal(put.code, CoapCode.CHANGED);
            assert.deepEqual(w.data.get('r') ?? new Uint8Array(0), payload);
            const got = await w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('r') });
            assert.deepEqual(got.payload, payload);
            const bert = serverBert && clientBert;
            const szx = [...frames(w.toServer, CoapCode.PUT), ...frames(w.toClient, CoapCode.CONTENT)]
              .map((m) => block1(m)?.szx ?? block2(m)?.szx)
              .filter((s) => s !== undefined);
            if (!bert) assert.ok(!szx.includes(BERT_SZX), 'no BERT unless both sides announced it');
            for (const m of w.toServer) assert.ok(m.payload.length <= maxMessageSize);
          } finally {
            await w.close();
          }
        },
      ),
      { numRuns: 40, seed: 8323 },
    );
    assert.equal(runs, 40);
  });
});
