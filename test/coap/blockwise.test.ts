import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { BlockwiseError, BlockwiseLayer, type BlockwiseOptions } from '../../src/coap/blockwise.js';
import { CoapEndpoint, type CoapResponse, type EndpointOptions } from '../../src/coap/endpoint.js';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import {
  OptionNumber,
  block1,
  block2,
  encodeBlock,
  encodeUint,
  getOption,
  getUint,
  sizeToSzx,
  uriPath,
} from '../../src/coap/options.js';
import { decodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { Channel, Peer } from '../../src/transport/channel.js';
import { LossyChannel } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive, track } from '../support/coap-driver.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const CLIENT: Peer = { address: '10.0.0.2', port: 5683 };
const CLIENT2: Peer = { address: '10.0.0.3', port: 5683 };
const SIZES = [16, 32, 64, 128, 256, 512, 1024];
const KIB64 = 64 * 1024;

const text = (s: string) => new TextEncoder().encode(s);
const path = (...segs: string[]): CoapOption[] =>
  segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));
const body = (n: number, seed = 1) => seededRandom(seed).bytes(n);
const b1 = (num: number, more: boolean, size: number): CoapOption => ({
  number: OptionNumber.BLOCK1,
  value: encodeBlock({ num, more, szx: sizeToSzx(size)! }),
});
const tag = (t: string): CoapOption => ({ number: OptionNumber.REQUEST_TAG, value: text(t) });

interface World {
  clock: FakeClock;
  network: MemoryNetwork;
  server: CoapEndpoint;
  serverLayer: BlockwiseLayer;
  client: CoapEndpoint;
  client2: CoapEndpoint;
  clientLayer: BlockwiseLayer;
  client2Layer: BlockwiseLayer;
  /** Every datagram the server received, decoded. */
  received: CoapMessage[];
  run<T>(p: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A server and two clients on a memory network, each endpoint wrapped in a BlockwiseLayer. */
function world(
  config: {
    server?: BlockwiseOptions;
    client?: BlockwiseOptions;
    endpoint?: Partial<EndpointOptions>;
    wrapClient?: (c: Channel, clock: FakeClock) => Channel;
  } = {},
): World {
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const serverChannel = network.channel(SERVER.address, SERVER.port);
  const received: CoapMessage[] = [];
  serverChannel.onReceive((_, bytes) => received.push(decodeCoapUdp(bytes)));
  const wrap = config.wrapClient ?? ((c: Channel) => c);
  const common = { clock, ...config.endpoint };
  const server = new CoapEndpoint({ channel: serverChannel, random: seededRandom(1), ...common });
  const client = new CoapEndpoint({
    channel: wrap(network.channel(CLIENT.address, CLIENT.port), clock),
    random: seededRandom(2),
    ...common,
  });
  const client2 = new CoapEndpoint({
    channel: network.channel(CLIENT2.address, CLIENT2.port),
    random: seededRandom(3),
    ...common,
  });
  const layer = (e: CoapEndpoint, seed: number, o?: BlockwiseOptions) =>
    new BlockwiseLayer(e, { clock, random: seededRandom(seed), ...o });
  return {
    clock,
    network,
    server,
    client,
    client2,
    received,
    serverLayer: layer(server, 10, config.server),
    clientLayer: layer(client, 11, config.client),
    client2Layer: layer(client2, 12, config.client),
    async run<T>(p: Promise<T>): Promise<T> {
      const state = track(p);
      await drive(clock, () => state.settled, { network });
      assert.ok(state.settled, 'the exchange completed');
      return p;
    },
    async close() {
      await client.close();
      await client2.close();
      await server.close();
    },
  };
}

/** A store: PUT saves the whole body, GET returns it. Counts handler calls. */
function store(w: World) {
  const data = new Map<string, Uint8Array>();
  const calls: CoapMessage[] = [];
  w.serverLayer.onRequest(({ message }) => {
    calls.push(message);
    const key = uriPath(message).join('/');
    if (message.code === CoapCode.PUT) {
      data.set(key, message.payload);
      return { code: CoapCode.CHANGED };
    }
    const v = data.get(key);
    return v ? { code: CoapCode.CONTENT, payload: v } : { code: CoapCode.NOT_FOUND };
  });
  return { data, calls };
}

describe('BlockwiseLayer: whole transfers', () => {
  for (const size of SIZES) {
    it(`uploads and downloads 64 KiB in blocks of ${size}`, async () => {
      const w = world({ client: { blockSize: size }, server: { blockSize: size } });
      const { data, calls } = store(w);
      const payload = body(KIB64, size);
      const put = await w.run(
        w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('big'), payload }),
      );
      assert.equal(put.code, CoapCode.CHANGED);
      assert.deepEqual(block1(put), { num: KIB64 / size - 1, more: false, szx: sizeToSzx(size) });
      assert.deepEqual(data.get('big'), payload);
      assert.equal(calls.length, 1, 'the handler saw one whole body');
      assert.equal(getOption(calls[0]!, OptionNumber.BLOCK1), undefined, 'and no Block1');
      const puts = w.received.filter((m) => m.code === CoapCode.PUT);
      assert.equal(puts.length, KIB64 / size, 'one exchange per block');
      assert.equal(new Set(puts.map((m) => Buffer.from(m.token).toString('hex'))).size, puts.length);
      assert.equal(getUint(puts[0]!, OptionNumber.SIZE1), KIB64, 'Size1 in the first block');
      const tags = new Set(
        puts.map((m) => Buffer.from(getOption(m, OptionNumber.REQUEST_TAG)!).toString('hex')),
      );
      assert.equal(tags.size, 1, 'one Request-Tag for the body');

      const got = await w.run(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('big') }));
      assert.equal(got.code, CoapCode.CONTENT);
      assert.deepEqual(got.payload, payload);
      assert.equal(block2(got), undefined);
      const gets = w.received.filter((m) => m.code === CoapCode.GET);
      assert.equal(gets.length, KIB64 / size);
      assert.deepEqual(
        gets.map((m) => block2(m)?.num ?? 0),
        gets.map((_, i) => i),
      );
      assert.equal(calls.length, 2, 'later blocks come from the cache');
      assert.equal(w.serverLayer.tableSizes().transfers, 0);
      await w.close();
    });
  }

  it('passes small bodies and responses through without block options', async () => {
    const w = world();
    const { data } = store(w);
    const put = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('s'), payload: text('tiny') }),
    );
    assert.equal(put.code, CoapCode.CHANGED);
    assert.equal(put.options.length, 0);
    assert.deepEqual(data.get('s'), text('tiny'));
    assert.equal(w.received.length, 1);
    assert.equal(
      w.received[0]!.options.some((o) => o.number === OptionNumber.REQUEST_TAG),
      false,
    );
    await w.close();
  });

  it('uploads a large POST body and downloads its large response (Block1 then Block2)', async () => {
    const w = world({ client: { blockSize: 256 }, server: { blockSize: 128 } });
    w.serverLayer.onRequest(({ message }) => ({
      code: CoapCode.CHANGED,
      payload: Uint8Array.from(message.payload).reverse(),
    }));
    const payload = body(3000, 4);
    const r = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.POST, options: path('echo'), payload }),
    );
    assert.equal(r.code, CoapCode.CHANGED);
    assert.deepEqual(r.payload, Uint8Array.from(payload).reverse());
    const later = w.received.filter((m) => (block2(m)?.num ?? 0) > 0);
    assert.ok(later.length > 0);
    for (const m of later) {
      assert.equal(m.payload.length, 0, 'Block2 requests after the upload carry no body');
      assert.equal(getOption(m, OptionNumber.BLOCK1), undefined);
    }
    await w.close();
  });

  it('repeats a FETCH body in each Block2 request, and re-runs the handler when the cache is gone', async () => {
    const w = world({ server: { blockSize: 64, maxTransfers: 1 } });
    let calls = 0;
    w.serverLayer.onRequest(({ message }) => {
      calls++;
      return { code: CoapCode.CONTENT, payload: body(500, message.payload[0]) };
    });
    const fetch = (n: number) =>
      w.clientLayer.request(SERVER, { code: CoapCode.FETCH, options: path('f'), payload: Uint8Array.of(n) });
    const [a, b] = await Promise.all([w.run(fetch(7)), w.run(fetch(8))]);
    assert.deepEqual(a.payload, body(500, 7));
    assert.deepEqual(b.payload, body(500, 8));
    assert.ok(calls > 2, `with one cache slot for two bodies the handler runs again (${calls})`);
    await w.close();
  });
});

describe('BlockwiseLayer: size negotiation', () => {
  it('continues with the smaller Block1 size the server asks for', async () => {
    const w = world({ client: { blockSize: 1024 }, server: { blockSize: 64 } });
    const { data } = store(w);
    const payload = body(KIB64, 9);
    const r = await w.run(w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('n'), payload }));
    assert.equal(r.code, CoapCode.CHANGED);
    assert.deepEqual(data.get('n'), payload);
    const sizes = w.received.map((m) => m.payload.length);
    assert.equal(sizes[0], 1024);
    assert.ok(sizes.slice(1).every((s) => s === 64));
    assert.equal(w.received.length, 1 + (KIB64 - 1024) / 64);
    assert.deepEqual(block1(w.received[1]!), { num: 16, more: true, szx: 2 }, 'offset 1024 in blocks of 64');
    await w.close();
  });

  it('asks for smaller Block2 blocks in the first request (early negotiation)', async () => {
    const w = world({ server: { blockSize: 1024 } });
    const { data } = store(w);
    data.set('e', body(4096, 5));
    const r = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('e') }, { block2Size: 32 }),
    );
    assert.deepEqual(r.payload, body(4096, 5));
    assert.deepEqual(block2(w.received[0]!), { num: 0, more: false, szx: 1 });
    assert.equal(w.received.length, 4096 / 32);
    await w.close();
  });

  it('follows a server that serves smaller Block2 blocks than asked for', async () => {
    const w = world({ server: { blockSize: 128 } });
    const { data } = store(w);
    data.set('e', body(1000, 6));
    const r = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('e') }, { block2Size: 512 }),
    );
    assert.deepEqual(r.payload, body(1000, 6));
    assert.equal(w.received.length, Math.ceil(1000 / 128));
    await w.close();
  });

  it('answers a Block2 request for a small response with Block2 M=0', async () => {
    const w = world();
    store(w).data.set('s', text('short'));
    const r = await w.run(
      w.client.request(SERVER, {
        code: CoapCode.GET,
        options: [
          ...path('s'),
          { number: OptionNumber.BLOCK2, value: encodeBlock({ num: 0, more: false, szx: 2 }) },
        ],
      }),
    );
    assert.deepEqual(block2(r), { num: 0, more: false, szx: 2 });
    assert.deepEqual(r.payload, text('short'));
    await w.close();
  });

  it('rejects a block size that is not a power of two in 16..1024', () => {
    const w = world();
    assert.throws(() => new BlockwiseLayer(w.client, { blockSize: 100 }), BlockwiseError);
    assert.throws(() => new BlockwiseLayer(w.client, { blockSize: 2048 }), BlockwiseError);
    return w.close();
  });
});

describe('BlockwiseLayer: errors', () => {
  it('answers 4.08 for a block without its predecessors, and 4.00 for a wrong block length', async () => {
    const w = world();
    store(w);
    const send = (opts: CoapOption[], payload: Uint8Array) =>
      w.run(w.client.request(SERVER, { code: CoapCode.PUT, options: [...path('x'), ...opts], payload }));
    const orphan = await send([b1(1, true, 16)], body(16));
    assert.equal(orphan.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    assert.equal((await send([b1(0, true, 16)], body(16))).code, CoapCode.CONTINUE);
    const gap = await send([b1(2, true, 16)], body(16));
    assert.equal(gap.code, CoapCode.REQUEST_ENTITY_INCOMPLETE, 'block 1 is missing');
    assert.equal((await send([b1(1, true, 16)], body(16))).code, CoapCode.CONTINUE, 'the transfer goes on');
    const again = await send([b1(1, true, 16)], body(16));
    assert.equal(again.code, CoapCode.CONTINUE, 'a repeated block is acknowledged again');
    const short = await send([b1(2, true, 16)], body(10));
    assert.equal(short.code, CoapCode.BAD_REQUEST);
    assert.equal((await send([b1(2, false, 16)], body(10))).code, CoapCode.CHANGED);
    await w.close();
  });

  it('answers 4.13 with Size1 for a body past maxBodySize, announced or not', async () => {
    const w = world({ server: { maxBodySize: 1000 } });
    const { calls } = store(w);
    const r = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('t'), payload: body(4000) }),
    );
    assert.equal(r.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.equal(getUint(r, OptionNumber.SIZE1), 1000);
    assert.equal(w.received.length, 1, 'Size1 in the first block was enough');
    // Without Size1 the limit is found while reassembling.
    const send = (num: number) =>
      w.run(
        w.client.request(SERVER, {
          code: CoapCode.PUT,
          options: [...path('t'), b1(num, true, 512)],
          payload: body(512),
        }),
      );
    assert.equal((await send(0)).code, CoapCode.CONTINUE);
    const over = await send(1);
    assert.equal(over.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.equal(getUint(over, OptionNumber.SIZE1), 1000);
    assert.equal(w.serverLayer.tableSizes().transfers, 0, 'the partial body is dropped');
    assert.equal(calls.length, 0);
    await w.close();
  });

  it('restarts with the block size a 4.13 names in Block1', async () => {
    const w = world({ client: { blockSize: 1024 } });
    let seen = 0;
    w.server.onRequest(({ message }) => {
      const b = block1(message)!;
      seen++;
      if (b.szx > 4) return { code: CoapCode.REQUEST_ENTITY_TOO_LARGE, options: [b1(0, false, 256)] };
      return b.more
        ? { code: CoapCode.CONTINUE, options: [b1(b.num, true, 256)] }
        : { code: CoapCode.CHANGED, options: [b1(b.num, false, 256)] };
    });
    const r = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('r'), payload: body(2048) }),
    );
    assert.equal(r.code, CoapCode.CHANGED);
    assert.equal(seen, 1 + 2048 / 256);
    await w.close();
  });

  it('fails with etag-mismatch when the representation changes between blocks', async () => {
    const w = world();
    let n = 0;
    w.server.onRequest(({ message }) => {
      const num = block2(message)?.num ?? 0;
      return {
        code: CoapCode.CONTENT,
        options: [
          { number: OptionNumber.ETAG, value: Uint8Array.of(num < 2 ? 1 : 2) },
          { number: OptionNumber.BLOCK2, value: encodeBlock({ num, more: num < 3, szx: 0 }) },
        ],
        payload: body(16, ++n),
      };
    });
    const r = track(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('e') }));
    await drive(w.clock, () => r.settled, { network: w.network });
    assert.ok(r.error instanceof BlockwiseError && r.error.reason === 'etag-mismatch', String(r.error));
    await w.close();
  });

  it('fails with bad-block when the server skips a block, and too-large past maxBodySize', async () => {
    const w = world({ client: { maxBodySize: 100 } });
    w.server.onRequest(({ message }) => {
      const num = block2(message)?.num ?? 0;
      return {
        code: CoapCode.CONTENT,
        options: [
          {
            number: OptionNumber.BLOCK2,
            value: encodeBlock({ num: num === 1 ? 5 : num, more: true, szx: 0 }),
          },
        ],
        payload: body(16),
      };
    });
    const skip = track(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('a') }));
    await drive(w.clock, () => skip.settled, { network: w.network });
    assert.ok(skip.error instanceof BlockwiseError && skip.error.reason === 'bad-block', String(skip.error));
    w.server.onRequest(({ message }) => ({
      code: CoapCode.CONTENT,
      options: [
        {
          number: OptionNumber.BLOCK2,
          value: encodeBlock({ num: block2(message)?.num ?? 0, more: true, szx: 0 }),
        },
      ],
      payload: body(16),
    }));
    const endless = track(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('b') }));
    await drive(w.clock, () => endless.settled, { network: w.network });
    assert.ok(
      endless.error instanceof BlockwiseError && endless.error.reason === 'too-large',
      String(endless.error),
    );
    w.server.onRequest(() => ({
      code: CoapCode.CONTENT,
      options: [
        { number: OptionNumber.BLOCK2, value: encodeBlock({ num: 0, more: true, szx: 0 }) },
        { number: OptionNumber.SIZE2, value: encodeUint(5000) },
      ],
      payload: body(16),
    }));
    const announced = track(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('c') }));
    await drive(w.clock, () => announced.settled, { network: w.network });
    assert.ok(announced.error instanceof BlockwiseError && announced.error.reason === 'too-large');
    await w.close();
  });
});

describe('BlockwiseLayer: concurrent bodies', () => {
  it('keeps uploads to one URI from two peers apart', async () => {
    const w = world({ client: { blockSize: 64 } });
    const bodies: Uint8Array[] = [];
    w.serverLayer.onRequest(({ message }) => {
      bodies.push(message.payload);
      return { code: CoapCode.CHANGED };
    });
    const a = body(5000, 21);
    const b = body(4000, 22);
    const put = (l: BlockwiseLayer, payload: Uint8Array) =>
      l.request(SERVER, { code: CoapCode.PUT, options: path('same'), payload });
    const [ra, rb] = await Promise.all([w.run(put(w.clientLayer, a)), w.run(put(w.client2Layer, b))]);
    assert.equal(ra.code, CoapCode.CHANGED);
    assert.equal(rb.code, CoapCode.CHANGED);
    assert.equal(bodies.length, 2);
    assert.deepEqual(
      new Set(bodies.map((x) => Buffer.from(x).toString('hex'))),
      new Set([a, b].map((x) => Buffer.from(x).toString('hex'))),
    );
    await w.close();
  });

  it('keeps two bodies from one peer to one URI apart by Request-Tag', async () => {
    const w = world({ client: { blockSize: 64 } });
    const bodies: string[] = [];
    w.serverLayer.onRequest(({ message }) => {
      bodies.push(Buffer.from(message.payload).toString('hex'));
      return { code: CoapCode.CHANGED };
    });
    const a = body(3000, 31);
    const b = body(2000, 32);
    const put = (payload: Uint8Array) =>
      w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('same'), payload });
    await Promise.all([w.run(put(a)), w.run(put(b))]);
    // The blocks of both bodies did interleave on the wire.
    const tags = w.received.map((m) => Buffer.from(getOption(m, OptionNumber.REQUEST_TAG)!).toString('hex'));
    assert.equal(new Set(tags).size, 2);
    assert.notEqual(tags.indexOf(tags.at(-1)!), tags.lastIndexOf(tags[0]!) + 1, 'interleaved');
    assert.deepEqual(new Set(bodies), new Set([a, b].map((x) => Buffer.from(x).toString('hex'))));
    await w.close();
  });

  it('keys by Request-Tag and not by token (a block 0 without a tag restarts only the untagged body)', async () => {
    const w = world();
    store(w);
    const send = (opts: CoapOption[], num: number) =>
      w.run(
        w.client.request(SERVER, {
          code: CoapCode.PUT,
          options: [...path('k'), ...opts, b1(num, true, 16)],
          payload: body(16),
        }),
      );
    assert.equal((await send([tag('A')], 0)).code, CoapCode.CONTINUE);
    assert.equal((await send([], 0)).code, CoapCode.CONTINUE);
    assert.equal((await send([tag('B')], 0)).code, CoapCode.CONTINUE);
    assert.equal((await send([tag('A')], 1)).code, CoapCode.CONTINUE, 'a new token per block is fine');
    assert.equal((await send([], 1)).code, CoapCode.CONTINUE);
    assert.equal((await send([tag('C')], 1)).code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    assert.equal(w.serverLayer.tableSizes().transfers, 3);
    await w.close();
  });
});

describe('BlockwiseLayer: bounds', () => {
  it('keeps at most maxTransfers reassemblies, evicting the oldest', async () => {
    const w = world({ server: { maxTransfers: 3 } });
    store(w);
    const send = (t: string, num: number) =>
      w.run(
        w.client.request(SERVER, {
          code: CoapCode.PUT,
          options: [...path('b'), tag(t), b1(num, true, 16)],
          payload: body(16),
        }),
      );
    for (const t of ['1', '2', '3', '4', '5']) assert.equal((await send(t, 0)).code, CoapCode.CONTINUE);
    assert.deepEqual(w.serverLayer.tableSizes(), {
      transfers: 3,
      transferBytes: 48,
      cached: 0,
      cachedBytes: 0,
    });
    assert.equal((await send('1', 1)).code, CoapCode.REQUEST_ENTITY_INCOMPLETE, 'the oldest was evicted');
    assert.equal((await send('3', 1)).code, CoapCode.CONTINUE);
    await w.close();
  });

  it('bounds the bytes held by reassemblies', async () => {
    const w = world({ server: { maxBufferedBytes: 100 } });
    store(w);
    for (const t of ['1', '2', '3', '4', '5', '6', '7', '8']) {
      await w.run(
        w.client.request(SERVER, {
          code: CoapCode.PUT,
          options: [...path('b'), tag(t), b1(0, true, 32)],
          payload: body(32),
        }),
      );
      assert.ok(w.serverLayer.tableSizes().transferBytes <= 100);
    }
    assert.equal(w.serverLayer.tableSizes().transfers, 3);
    await w.close();
  });

  it('forgets a transfer after its lifetime', async () => {
    const w = world({ server: { transferLifetime: 10_000 } });
    store(w);
    const send = (num: number) =>
      w.run(
        w.client.request(SERVER, {
          code: CoapCode.PUT,
          options: [...path('l'), b1(num, true, 16)],
          payload: body(16),
        }),
      );
    assert.equal((await send(0)).code, CoapCode.CONTINUE);
    w.clock.advance(9_000);
    assert.equal((await send(1)).code, CoapCode.CONTINUE, 'each block renews the lifetime');
    w.clock.advance(10_001);
    assert.equal((await send(2)).code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    await w.close();
  });

  it('bounds the Block2 cache and serves an evicted block by running a GET handler again', async () => {
    const w = world({ server: { maxTransfers: 2, blockSize: 16 } });
    const { data, calls } = store(w);
    for (const k of ['a', 'b', 'c']) data.set(k, body(100, k.charCodeAt(0)));
    const first = async (k: string) =>
      w.run(w.client.request(SERVER, { code: CoapCode.GET, options: path(k) }));
    for (const k of ['a', 'b', 'c']) assert.equal(block2(await first(k))?.more, true);
    assert.equal(w.serverLayer.tableSizes().cached, 2);
    assert.equal(w.serverLayer.tableSizes().cachedBytes, 200);
    const before = calls.length;
    const block = await w.run(
      w.client.request(SERVER, {
        code: CoapCode.GET,
        options: [
          ...path('a'),
          { number: OptionNumber.BLOCK2, value: encodeBlock({ num: 3, more: false, szx: 0 }) },
        ],
      }),
    );
    assert.equal(calls.length, before + 1, 'the handler ran again');
    assert.deepEqual(block.payload, body(100, 'a'.charCodeAt(0)).subarray(48, 64));
    assert.deepEqual(block2(block), { num: 3, more: true, szx: 0 });
    assert.equal(w.serverLayer.tableSizes().cached, 2);
    const past = await w.run(
      w.client.request(SERVER, {
        code: CoapCode.GET,
        options: [
          ...path('a'),
          { number: OptionNumber.BLOCK2, value: encodeBlock({ num: 7, more: false, szx: 0 }) },
        ],
      }),
    );
    assert.equal(past.code, CoapCode.BAD_OPTION, 'a block past the end');
    await w.close();
  });

  it('answers 4.08 for a later Block2 block of an evicted POST response', async () => {
    const w = world({ server: { maxTransfers: 1, blockSize: 16 } });
    w.serverLayer.onRequest(() => ({ code: CoapCode.CHANGED, payload: body(64) }));
    const post = (p: string, opts: CoapOption[] = []) =>
      w.run(w.client.request(SERVER, { code: CoapCode.POST, options: [...path(p), ...opts] }));
    await post('x');
    await post('y');
    const r = await post('x', [
      { number: OptionNumber.BLOCK2, value: encodeBlock({ num: 1, more: false, szx: 0 }) },
    ]);
    assert.equal(r.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    await w.close();
  });
});

describe('BlockwiseLayer: lossy channel', () => {
  it('completes an upload and a download through loss, duplication and reordering, each handled once', async () => {
    const w = world({
      client: { blockSize: 128 },
      server: { blockSize: 128 },
      endpoint: { transmission: { ackTimeout: 200, maxRetransmit: 10 } },
      wrapClient: (c, clock) =>
        new LossyChannel(c, {
          seed: 5,
          clock,
          send: { drop: 0.2, duplicate: 0.1, delay: { min: 0, max: 150, probability: 0.3 } },
          receive: { drop: 0.2, duplicate: 0.1, delay: { min: 0, max: 150, probability: 0.3 } },
        }),
    });
    const { data, calls } = store(w);
    const payload = body(8192, 77);
    const put = await w.run(
      w.clientLayer.request(SERVER, { code: CoapCode.PUT, options: path('l'), payload }),
    );
    assert.equal(put.code, CoapCode.CHANGED);
    assert.deepEqual(data.get('l'), payload);
    assert.equal(calls.length, 1);
    const got = await w.run(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('l') }));
    assert.deepEqual(got.payload, payload);
    assert.equal(calls.length, 2);
    assert.ok(w.client.stats.retransmissions > 0, 'the channel did lose datagrams');
    await w.close();
  });
});

describe('BlockwiseLayer: handler results', () => {
  it('serves an async handler and passes its own options through, adding Size2 to block 0', async () => {
    const w = world({ server: { blockSize: 256 } });
    w.serverLayer.onRequest(async (): Promise<CoapResponse> => {
      await new Promise((r) => setImmediate(r)); // answers on a later turn
      return {
        code: CoapCode.CONTENT,
        options: [{ number: OptionNumber.CONTENT_FORMAT, value: encodeUint(42) }],
        payload: body(600),
      };
    });
    const first = await w.run(w.client.request(SERVER, { code: CoapCode.GET, options: path('a') }));
    assert.equal(getUint(first, OptionNumber.CONTENT_FORMAT), 42);
    assert.equal(getUint(first, OptionNumber.SIZE2), 600);
    assert.deepEqual(block2(first), { num: 0, more: true, szx: 4 });
    const whole = await w.run(w.clientLayer.request(SERVER, { code: CoapCode.GET, options: path('a') }));
    assert.deepEqual(whole.payload, body(600));
    assert.equal(getUint(whole, OptionNumber.CONTENT_FORMAT), 42);
    await w.close();
  });

  it('lets a notification-like response be served in blocks and completed by the client', async () => {
    const w = world({ server: { blockSize: 64 } });
    const { calls } = store(w);
    const rep = body(300, 40);
    const request = {
      code: CoapCode.GET,
      options: [...path('obs'), { number: OptionNumber.OBSERVE, value: new Uint8Array(0) }],
    };
    const sent = w.serverLayer.firstBlock(
      CLIENT,
      { ...request, messageId: 0, token: Uint8Array.of(1), payload: new Uint8Array(0) },
      { code: CoapCode.CONTENT, payload: rep },
    );
    assert.deepEqual(sent.payload, rep.subarray(0, 64));
    const first: CoapMessage = {
      type: 'CON',
      code: sent.code,
      messageId: 1,
      token: Uint8Array.of(1),
      options: sent.options ?? [],
      payload: sent.payload ?? new Uint8Array(0),
    };
    const whole = await w.run(w.clientLayer.fetchRemaining(SERVER, request, first));
    assert.deepEqual(whole.payload, rep);
    assert.equal(calls.length, 0, 'the later blocks came from the cache');
    assert.ok(
      w.received.every((m) => getOption(m, OptionNumber.OBSERVE) === undefined),
      'without Observe',
    );
    await w.close();
  });
});
