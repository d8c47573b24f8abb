import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapEndpoint, type CoapResponse, type EndpointOptions } from '../../src/coap/endpoint.js';
import {
  CoapLimitError,
  CoapResetError,
  CoapTimeoutError,
  EndpointClosedError,
} from '../../src/coap/errors.js';
import { CoapCode, type CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, getOption, getUint, uriPath } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { Channel, Peer } from '../../src/transport/channel.js';
import { LossyChannel } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive, settle, track } from '../support/coap-driver.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const CLIENT: Peer = { address: '10.0.0.2', port: 5683 };
const get = (path: string) => ({
  code: CoapCode.GET,
  options: path
    .split('/')
    .filter(Boolean)
    .map((seg) => ({ number: OptionNumber.URI_PATH, value: text(seg) })),
});

interface Setup {
  clock: FakeClock;
  network: MemoryNetwork;
  client: CoapEndpoint;
  server: CoapEndpoint;
  serverChannel: Channel;
  clientChannel: Channel;
}

function setup(opts: Partial<EndpointOptions> = {}, wrap?: (c: Channel, clock: FakeClock) => Channel): Setup {
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const serverChannel = network.channel(SERVER.address, SERVER.port);
  const clientRaw = network.channel(CLIENT.address, CLIENT.port);
  const clientChannel = wrap ? wrap(clientRaw, clock) : clientRaw;
  const common = { clock, ...opts };
  const server = new CoapEndpoint({ channel: serverChannel, random: seededRandom(1), ...common });
  const client = new CoapEndpoint({ channel: clientChannel, random: seededRandom(2), ...common });
  return { clock, network, client, server, serverChannel, clientChannel };
}

describe('CoapEndpoint: exchanges', () => {
  it('piggybacks a quick response on the ACK', async () => {
    const { clock, client, server, network } = setup();
    server.onRequest(({ message }) => ({
      code: CoapCode.CONTENT,
      payload: text(`hello ${uriPath(message).join('/')}`),
    }));
    const r = track(client.request(SERVER, get('/a/b')));
    await drive(clock, () => r.settled);
    assert.equal(r.error, undefined);
    assert.equal(r.value!.code, CoapCode.CONTENT);
    assert.equal(r.value!.type, 'ACK');
    assert.equal(str(r.value!.payload), 'hello a/b');
    assert.equal(network.stats.sent, 2, 'one CON, one piggybacked ACK');
    await client.close();
    await server.close();
  });

  it('sends an empty ACK for a slow handler, then a CON response that the client acknowledges', async () => {
    const { clock, client, server, network } = setup({ piggybackTimeout: 100 });
    let release!: (r: CoapResponse) => void;
    server.onRequest(() => new Promise<CoapResponse>((resolve) => (release = resolve)));
    const r = track(client.request(SERVER, get('/slow')));
    await drive(clock, () => network.stats.sent >= 2, { stepMs: 10 });
    assert.equal(r.settled, false, 'an empty ACK does not complete the request');
    release({ code: CoapCode.CHANGED });
    await drive(clock, () => r.settled);
    assert.equal(r.value!.code, CoapCode.CHANGED);
    assert.equal(r.value!.type, 'CON');
    await drive(clock, () => server.tableSizes().pendingCon === 0);
    assert.equal(server.tableSizes().pendingCon, 0, 'the separate response was acknowledged');
    assert.equal(network.stats.sent, 4, 'CON, empty ACK, CON response, empty ACK');
    await client.close();
    await server.close();
  });

  it('answers a NON request with a NON response', async () => {
    const { clock, client, server } = setup();
    server.onRequest(() => ({ code: CoapCode.CONTENT, payload: text('x') }));
    const r = track(client.request(SERVER, { ...get('/n'), confirmable: false }));
    await drive(clock, () => r.settled);
    assert.equal(r.value!.type, 'NON');
    await client.close();
    await server.close();
  });

  it('retransmits with exponential back-off and gives up with a typed timeout after MAX_RETRANSMIT', async () => {
    const { clock, client, network } = setup(); // nobody serves 10.0.0.9
    const sendTimes: number[] = [];
    const sink = network.channel('10.0.0.9', 5683);
    sink.onReceive(() => sendTimes.push(clock.now()));
    const r = track(client.request({ address: '10.0.0.9', port: 5683 }, get('/x')));
    await drive(clock, () => r.settled, { stepMs: 100 });
    assert.ok(r.error instanceof CoapTimeoutError && r.error.phase === 'no-ack', String(r.error));
    assert.equal(sendTimes.length, 5, 'first transmission plus 4 retransmissions');
    const gaps = sendTimes.slice(1).map((t, i) => t - sendTimes[i]!);
    // The fake clock moves in 100 ms steps, so each gap is known to within 100 ms.
    for (let i = 1; i < gaps.length; i++)
      assert.ok(Math.abs(gaps[i]! - 2 * gaps[i - 1]!) <= 300, `gaps ${gaps.join(',')} double`);
    assert.ok(
      gaps[0]! >= 2000 - 100 && gaps[0]! <= 3000 + 100,
      `first timeout ${gaps[0]} in [ACK_TIMEOUT, 1.5 ACK_TIMEOUT]`,
    );
    assert.equal(client.stats.retransmissions, 4);
    await client.close();
  });

  it('answers a ping with RST and resolves its own pings', async () => {
    const { clock, client, server } = setup();
    const r = track(client.ping(SERVER));
    await drive(clock, () => r.settled);
    assert.equal(r.error, undefined);
    await client.close();
    await server.close();
  });

  it('rejects with CoapResetError when the peer resets the request', async () => {
    const { clock, client, network } = setup();
    const raw = network.channel('10.0.0.7', 5683);
    raw.onReceive((peer, bytes) => {
      const m = decodeCoapUdp(bytes);
      raw.send(
        peer,
        encodeCoapUdp({
          type: 'RST',
          code: 0,
          messageId: m.messageId,
          token: new Uint8Array(),
          options: [],
          payload: new Uint8Array(),
        }),
      );
    });
    const r = track(client.request({ address: '10.0.0.7', port: 5683 }, get('/x')));
    await drive(clock, () => r.settled);
    assert.ok(r.error instanceof CoapResetError);
    await client.close();
  });

  it('answers 4.02 to an unrecognised critical option and 4.04 without a handler', async () => {
    const { clock, client, server } = setup();
    const r1 = track(
      client.request(SERVER, { code: CoapCode.GET, options: [{ number: 65001, value: text('?') }] }),
    );
    await drive(clock, () => r1.settled);
    assert.equal(r1.value!.code, CoapCode.BAD_OPTION);
    const r2 = track(client.request(SERVER, get('/x')));
    await drive(clock, () => r2.settled);
    assert.equal(r2.value!.code, CoapCode.NOT_FOUND);
    await client.close();
    await server.close();
  });

  it('resets a malformed CON and ignores a malformed NON', async () => {
    const { clock, server, network } = setup();
    const raw = network.channel('10.0.0.8', 5683);
    const got: CoapMessage[] = [];
    raw.onReceive((_p, bytes) => got.push(decodeCoapUdp(bytes)));
    // Version 1, CON, TKL 0, GET, mid 0x1234, then option nibble 15 (reserved): a format error.
    raw.send(SERVER, Uint8Array.of(0x40, 0x01, 0x12, 0x34, 0xf0));
    raw.send(SERVER, Uint8Array.of(0x50, 0x01, 0x12, 0x35, 0xf0));
    await drive(clock, () => got.length >= 1);
    await settle();
    assert.equal(got.length, 1);
    assert.equal(got[0]!.type, 'RST');
    assert.equal(got[0]!.messageId, 0x1234);
    assert.equal(server.stats.malformed, 2);
    await server.close();
  });

  it('keeps NSTART=1 per peer: requests queue and run one at a time, in order', async () => {
    const { clock, client, server } = setup({ piggybackTimeout: 10 });
    let running = 0;
    let maxRunning = 0;
    const order: string[] = [];
    server.onRequest(async ({ message }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      order.push(uriPath(message)[0]!);
      await new Promise<void>((r) => setImmediate(r));
      running--;
      return { code: CoapCode.CONTENT };
    });
    const all = ['a', 'b', 'c', 'd', 'e'].map((p) => track(client.request(SERVER, get(`/${p}`))));
    await drive(clock, () => all.every((r) => r.settled), { stepMs: 10 });
    assert.ok(all.every((r) => r.value?.code === CoapCode.CONTENT));
    assert.equal(maxRunning, 1);
    assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
    await client.close();
    await server.close();
  });

  it('bounds open requests and queues, and close() rejects what is open', async () => {
    const { clock, client, server } = setup({ limits: { maxOpenRequests: 3, maxQueuedPerPeer: 1 } });
    server.onRequest(() => new Promise<CoapResponse>(() => {})); // never answers
    const a = track(client.request(SERVER, get('/1')));
    const b = track(client.request(SERVER, get('/2'))); // queued behind NSTART
    const c = track(client.request(SERVER, get('/3'))); // queue full
    await settle();
    assert.ok(c.error instanceof CoapLimitError, String(c.error));
    const d = track(client.request(SERVER, get('/4'), { timeout: 1000 }));
    await settle();
    assert.ok(d.error instanceof CoapLimitError);
    await drive(clock, () => false, { stepMs: 50, maxMs: 500 });
    await client.close();
    await settle();
    assert.ok(a.error instanceof EndpointClosedError);
    assert.ok(b.error instanceof EndpointClosedError);
    await assert.rejects(client.request(SERVER, get('/5')), EndpointClosedError);
    await server.close();
  });

  it('remembers at most maxDedupEntries message ids, evicting the oldest', async () => {
    const { clock, server, network } = setup({ limits: { maxDedupEntries: 100 } });
    server.onRequest(() => ({ code: CoapCode.CONTENT }));
    const raw = network.channel('10.0.0.5', 5683);
    for (let mid = 0; mid < 1000; mid++)
      raw.send(
        SERVER,
        encodeCoapUdp({
          type: 'NON',
          code: CoapCode.GET,
          messageId: mid,
          token: Uint8Array.of(mid & 0xff),
          options: [],
          payload: new Uint8Array(),
        }),
      );
    await drive(clock, () => server.stats.handled >= 1000);
    assert.equal(server.stats.handled, 1000);
    assert.ok(server.tableSizes().dedup <= 100, `dedup table ${server.tableSizes().dedup}`);
    await server.close();
  });
});

describe('CoapEndpoint: duplicates and separate responses, from a raw peer', () => {
  it('a duplicate CON of a slow request gets the empty ACK again; the handler runs once; the CON response is retransmitted until acknowledged', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const server = new CoapEndpoint({
      channel: network.channel(SERVER.address, SERVER.port),
      clock,
      random: seededRandom(1),
      piggybackTimeout: 100,
    });
    let calls = 0;
    let release!: (r: CoapResponse) => void;
    server.onRequest(() => {
      calls++;
      return new Promise<CoapResponse>((r) => (release = r));
    });
    const raw = network.channel('10.0.0.3', 5683);
    const got: CoapMessage[] = [];
    raw.onReceive((_p, bytes) => got.push(decodeCoapUdp(bytes)));
    const request = encodeCoapUdp({
      type: 'CON',
      code: CoapCode.GET,
      messageId: 0x4242,
      token: Uint8Array.of(9, 9),
      options: [],
      payload: new Uint8Array(),
    });
    raw.send(SERVER, request);
    await drive(clock, () => got.length >= 1, { stepMs: 20 });
    assert.deepEqual(
      [got[0]!.type, got[0]!.code, got[0]!.messageId],
      ['ACK', 0, 0x4242],
      'empty ACK for the slow handler',
    );
    raw.send(SERVER, request); // the client did not see the ACK and retransmits
    await settle();
    assert.equal(got.length, 2);
    assert.deepEqual(
      [got[1]!.type, got[1]!.code, got[1]!.messageId],
      ['ACK', 0, 0x4242],
      'the same empty ACK again',
    );
    assert.equal(calls, 1, 'the handler ran once');
    release({ code: CoapCode.CONTENT, payload: text('late') });
    await settle();
    const response = got[2]!;
    assert.equal(response.type, 'CON');
    assert.equal(str(response.payload), 'late');
    assert.deepEqual([...response.token], [9, 9]);
    // We do not acknowledge: the server retransmits the same CON response with back-off.
    await drive(clock, () => got.length >= 4, { stepMs: 100, maxMs: 10_000 });
    assert.equal(got[3]!.messageId, response.messageId);
    assert.equal(server.stats.retransmissions, 1);
    raw.send(
      SERVER,
      encodeCoapUdp({
        type: 'ACK',
        code: 0,
        messageId: response.messageId,
        token: new Uint8Array(),
        options: [],
        payload: new Uint8Array(),
      }),
    );
    await settle();
    assert.equal(server.tableSizes().pendingCon, 0, 'acknowledged: no more retransmissions');
    await server.close();
  });

  it('a client delivers a retransmitted separate response once and acknowledges every copy', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const client = new CoapEndpoint({
      channel: network.channel(CLIENT.address, CLIENT.port),
      clock,
      random: seededRandom(2),
    });
    const raw = network.channel(SERVER.address, SERVER.port);
    const acks: CoapMessage[] = [];
    let token = new Uint8Array();
    raw.onReceive((_p, bytes) => {
      const m = decodeCoapUdp(bytes);
      if (m.code === CoapCode.GET) {
        token = m.token.slice();
        raw.send(
          CLIENT,
          encodeCoapUdp({
            type: 'ACK',
            code: 0,
            messageId: m.messageId,
            token: new Uint8Array(),
            options: [],
            payload: new Uint8Array(),
          }),
        );
      } else acks.push(m);
    });
    const r = track(client.request(SERVER, get('/x')));
    await settle();
    const separate = () =>
      encodeCoapUdp({
        type: 'CON',
        code: CoapCode.CONTENT,
        messageId: 777,
        token,
        options: [],
        payload: text('once'),
      });
    raw.send(CLIENT, separate());
    raw.send(CLIENT, separate());
    await drive(clock, () => r.settled && acks.length >= 2);
    assert.equal(str(r.value!.payload), 'once');
    assert.equal(acks.length, 2, 'both copies acknowledged');
    assert.ok(acks.every((a) => a.type === 'ACK' && a.messageId === 777));
    assert.equal(client.stats.duplicates, 1);
    await client.close();
  });
});

describe('CoapEndpoint over a lossy channel', () => {
  for (const [label, transmission, expectAll] of [
    ['raised retransmit limit, short ACK_TIMEOUT', { ackTimeout: 200, maxRetransmit: 12 }, true],
    ['RFC defaults', {}, false],
  ] as const) {
    it(`no handler runs twice and no response is delivered twice (${label})`, async () => {
      const handled = new Map<string, number>();
      const { clock, client, server } = setup(
        { transmission, piggybackTimeout: 20 },
        (c, clk) =>
          new LossyChannel(c, {
            seed: 7,
            clock: clk,
            send: { drop: 0.3, duplicate: 0.1, delay: { min: 0, max: 300, probability: 0.3 } },
            receive: { drop: 0.3, duplicate: 0.1, delay: { min: 0, max: 300, probability: 0.3 } },
          }),
      );
      server.onRequest(({ message }) => {
        const id = uriPath(message)[0]!;
        handled.set(id, (handled.get(id) ?? 0) + 1);
        return { code: CoapCode.CONTENT, payload: text(id) };
      });
      const results = Array.from({ length: 40 }, (_, i) => track(client.request(SERVER, get(`/r${i}`))));
      await drive(clock, () => results.every((r) => r.settled), { stepMs: 100, maxMs: 2_000_000 });
      for (const [id, n] of handled) assert.equal(n, 1, `handler ran ${n} times for ${id}`);
      let ok = 0;
      for (const [i, r] of results.entries()) {
        if (r.value) {
          assert.equal(str(r.value.payload), `r${i}`, 'each response matches its request');
          ok++;
        } else assert.ok(r.error instanceof CoapTimeoutError, `request ${i}: ${String(r.error)}`);
      }
      if (expectAll) assert.equal(ok, 40, 'every request completes with enough retransmissions');
      else assert.ok(ok > 0, 'some requests complete with RFC defaults');
      await client.close();
      await server.close();
    });
  }
});

describe('CoapEndpoint: RequestOptions.onSent', () => {
  it('reports each request once, as sent (message id and token assigned), queued ones when NSTART lets them out', async () => {
    const { clock, client, server, serverChannel } = setup();
    const arrived: CoapMessage[] = [];
    serverChannel.onReceive((_peer, bytes) => arrived.push(decodeCoapUdp(bytes)));
    const pending: (() => void)[] = [];
    server.onRequest(
      () => new Promise<CoapResponse>((resolve) => pending.push(() => resolve({ code: CoapCode.CONTENT }))),
    );
    const reported: string[] = [];
    const sent: CoapMessage[] = [];
    const requests = ['a', 'b'].map((p) =>
      track(
        client.request(SERVER, get(`/${p}`), {
          onSent: (m) => {
            reported.push(p);
            sent.push(m);
          },
        }),
      ),
    );
    assert.deepEqual(reported, ['a'], 'reported synchronously; b waits behind NSTART=1');
    await drive(clock, () => pending.length === 1);
    pending.shift()!();
    await drive(clock, () => pending.length === 1);
    assert.deepEqual(reported, ['a', 'b'], 'b is reported when it leaves the queue');
    pending.shift()!();
    await drive(clock, () => requests.every((r) => r.settled));
    assert.equal(sent.length, 2);
    for (const [i, m] of sent.entries()) {
      const wire = arrived.find((a) => a.messageId === m.messageId && a.type === 'CON');
      assert.ok(wire, `request ${i} arrived with message id ${m.messageId}`);
      assert.equal(m.type, 'CON');
      assert.deepEqual([...m.token], [...wire.token]);
      assert.equal(m.token.length, 8);
      assert.deepEqual(uriPath(m), uriPath(wire));
    }
    assert.notEqual(sent[0]!.messageId, sent[1]!.messageId);
    await client.close();
    await server.close();
  });

  it('is not called again for retransmissions; a throwing listener goes to onError and the request still goes', async () => {
    const errors: unknown[] = [];
    const { clock, client, network } = setup({ onError: (e) => errors.push(e) });
    const sink = network.channel('10.0.0.9', 5683);
    const mids: number[] = [];
    sink.onReceive((_p, bytes) => mids.push(decodeCoapUdp(bytes).messageId));
    let calls = 0;
    const r = track(
      client.request({ address: '10.0.0.9', port: 5683 }, get('/x'), {
        onSent: () => {
          calls++;
          throw new Error('listener bug');
        },
      }),
    );
    await drive(clock, () => r.settled, { stepMs: 100 });
    assert.ok(r.error instanceof CoapTimeoutError);
    assert.equal(calls, 1);
    assert.equal(mids.length, 5, 'sent and retransmitted despite the throwing listener');
    assert.ok(mids.every((m) => m === mids[0]));
    assert.equal(errors.length, 1);
    await client.close();
  });

  it('works through observe(): the registration is reported with Observe=0 and its token', async () => {
    const { clock, client, server } = setup();
    const tokens: Uint8Array[] = [];
    server.onRequest(({ message }) => {
      tokens.push(message.token.slice());
      return { code: CoapCode.CONTENT, observe: () => {} };
    });
    const reported: CoapMessage[] = [];
    const obs = track(
      client.observe(SERVER, get('/t'), { onNotification: () => {} }, { onSent: (m) => reported.push(m) }),
    );
    await drive(clock, () => obs.settled);
    assert.equal(obs.value?.established, true);
    assert.equal(reported.length, 1);
    assert.equal(getUint(reported[0]!, OptionNumber.OBSERVE), 0);
    assert.deepEqual([...reported[0]!.token], [...tokens[0]!]);
    await client.close();
    await server.close();
  });

  it('an Echo repeat (RFC 9175) is not reported again', async () => {
    const { clock, client, server } = setup();
    let seen = 0;
    server.onRequest((req) => {
      seen++;
      return getOption(req.message, OptionNumber.ECHO)
        ? { code: CoapCode.CHANGED }
        : { code: CoapCode.UNAUTHORIZED, options: [{ number: OptionNumber.ECHO, value: Uint8Array.of(7) }] };
    });
    let calls = 0;
    const r = track(client.request(SERVER, { code: CoapCode.POST }, { onSent: () => calls++ }));
    await drive(clock, () => r.settled);
    assert.equal(r.value?.code, CoapCode.CHANGED);
    assert.equal(seen, 2);
    assert.equal(calls, 1);
    await client.close();
    await server.close();
  });
});

describe('CoapEndpoint: deduplication table', () => {
  const request = (type: 'CON' | 'NON', messageId: number, token: Uint8Array, path = 'x') =>
    encodeCoapUdp({
      type,
      code: CoapCode.GET,
      messageId,
      token,
      options: [{ number: OptionNumber.URI_PATH, value: text(path) }],
      payload: new Uint8Array(),
    });

  function rawSetup(opts: Partial<EndpointOptions> = {}) {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const server = new CoapEndpoint({
      channel: network.channel(SERVER.address, SERVER.port),
      clock,
      random: seededRandom(1),
      ...opts,
    });
    const calls: string[] = [];
    let n = 0;
    server.onRequest(({ message }) => {
      calls.push(uriPath(message).join('/'));
      return { code: CoapCode.CONTENT, payload: text(`r${n++}`) };
    });
    const peers = [network.channel('10.0.0.7', 5683), network.channel('10.0.0.8', 5683)];
    const got: CoapMessage[][] = [[], []];
    peers.forEach((p, i) => p.onReceive((_from, bytes) => got[i]!.push(decodeCoapUdp(bytes))));
    return { clock, server, calls, peers, got };
  }

  it('answers duplicates with the very same response after the table has grown, per peer and token', async () => {
    const { clock, server, calls, peers, got } = rawSetup();
    const tokenOf = (i: number) => Uint8Array.of(i & 0xff, i >> 8, 0x5a);
    // 1500 CON and NON requests from two peers with overlapping message ids: the table grows
    // several times (it starts at 256 slots) while entries are kept.
    for (let i = 0; i < 1500; i++) {
      const type = i % 3 === 0 ? 'NON' : 'CON';
      peers[i % 2]!.send(SERVER, request(type, i >> 1, tokenOf(i), `p${i}`));
    }
    await drive(clock, () => server.stats.handled >= 1500);
    assert.equal(server.stats.handled, 1500);
    assert.equal(server.tableSizes().dedup, 1500);
    const first = got.map((list) => list.slice());
    // Every request again: each gets its first answer back (same id, token, code, payload); no handler runs.
    for (let i = 0; i < 1500; i++) {
      const type = i % 3 === 0 ? 'NON' : 'CON';
      peers[i % 2]!.send(SERVER, request(type, i >> 1, tokenOf(i), `p${i}`));
    }
    await drive(clock, () => server.stats.duplicates >= 1500);
    assert.equal(server.stats.duplicates, 1500);
    assert.equal(calls.length, 1500, 'no handler ran twice');
    for (const side of [0, 1]) {
      const again = got[side]!.slice(first[side]!.length);
      assert.equal(again.length, first[side]!.length);
      const key = (m: CoapMessage) =>
        `${m.type}|${m.messageId}|${m.token.join(',')}|${m.code}|${str(m.payload)}`;
      assert.deepEqual(again.map(key), first[side]!.map(key));
    }
    await server.close();
  });

  it('a reused message id with another token or code is a new request, and an expired one is forgotten', async () => {
    const { clock, server, calls, peers } = rawSetup();
    peers[0]!.send(SERVER, request('CON', 7, Uint8Array.of(1), 'a'));
    await drive(clock, () => calls.length === 1);
    peers[0]!.send(SERVER, request('CON', 7, Uint8Array.of(2), 'b')); // same id, other token
    await drive(clock, () => calls.length === 2);
    peers[0]!.send(SERVER, request('CON', 7, Uint8Array.of(2), 'b')); // a true duplicate
    await settle();
    assert.equal(calls.length, 2);
    assert.equal(server.tableSizes().dedup, 1, 'the reused id replaced its entry');
    clock.advance(247_001); // EXCHANGE_LIFETIME
    peers[0]!.send(SERVER, request('CON', 7, Uint8Array.of(2), 'c'));
    await drive(clock, () => calls.length === 3);
    assert.deepEqual(calls, ['a', 'b', 'c']);
    await server.close();
  });

  it("a peer's request that evicts its own last expired entry is still remembered (its retransmission runs no handler)", async () => {
    // Found by the soak run: the request that came first after a peer's only entry expired
    // evicted that entry, the peer's state was forgotten as idle, and the new entry went into the
    // forgotten state, so a retransmission was handled again (a second De-register got 4.04).
    const { clock, server, calls, peers, got } = rawSetup();
    peers[0]!.send(SERVER, request('CON', 1, Uint8Array.of(1), 'first'));
    await drive(clock, () => calls.length === 1);
    clock.advance(247_001); // past EXCHANGE_LIFETIME: the entry of 'first' has expired
    peers[0]!.send(SERVER, request('CON', 2, Uint8Array.of(2), 'second'));
    await drive(clock, () => calls.length === 2);
    assert.equal(server.tableSizes().dedup, 1);
    peers[0]!.send(SERVER, request('CON', 2, Uint8Array.of(2), 'second')); // its ACK was lost
    await drive(clock, () => server.stats.duplicates === 1);
    assert.deepEqual(calls, ['first', 'second'], 'the retransmission ran no handler');
    const answers = got[0]!.filter((m) => m.messageId === 2);
    assert.equal(answers.length, 2);
    assert.deepEqual(answers[1], answers[0], 'the retransmission got the same answer');
    await server.close();
  });

  it('under random traffic with expiries, a handler runs once per request and every retransmission within EXCHANGE_LIFETIME is a duplicate', async () => {
    const { clock, server, calls, peers } = rawSetup();
    const rand = seededRandom(11);
    const LIFETIME = 247_000;
    const sent: { peer: number; mid: number; at: number }[] = [];
    const nextMid = [100, 5000];
    let retransmissions = 0;
    for (let step = 0; step < 600; step++) {
      // Steps of up to a third of the lifetime: entries expire all along, often just before the
      // same peer's next request (the case that lost entries).
      clock.advance(Math.floor(rand.next() * (LIFETIME / 3)));
      const peer = rand.next() < 0.5 ? 0 : 1;
      const live = sent.filter((s) => s.peer === peer && clock.now() - s.at < LIFETIME - 1000);
      if (live.length > 0 && rand.next() < 0.4) {
        const s = live[Math.floor(rand.next() * live.length)]!;
        peers[peer]!.send(
          SERVER,
          request('CON', s.mid, Uint8Array.of(peer, s.mid & 0xff, s.mid >> 8), `p${peer}m${s.mid}`),
        );
        retransmissions++;
      } else {
        const mid = nextMid[peer]!++;
        sent.push({ peer, mid, at: clock.now() });
        peers[peer]!.send(
          SERVER,
          request('CON', mid, Uint8Array.of(peer, mid & 0xff, mid >> 8), `p${peer}m${mid}`),
        );
      }
      await settle();
    }
    assert.ok(retransmissions > 100, `${retransmissions} retransmissions`);
    assert.equal(calls.length, sent.length, 'one handler call per request');
    assert.equal(new Set(calls).size, calls.length);
    assert.equal(server.stats.duplicates, retransmissions);
    await server.close();
  });

  it('a slow answer whose entry was evicted meanwhile is still sent, separately', async () => {
    const { clock, server, peers, got } = rawSetup({ limits: { maxDedupEntries: 4 }, piggybackTimeout: 50 });
    let release!: (r: CoapResponse) => void;
    server.onRequest(({ message }) =>
      uriPath(message)[0] === 'slow'
        ? new Promise<CoapResponse>((r) => (release = r))
        : { code: CoapCode.CONTENT },
    );
    peers[0]!.send(SERVER, request('CON', 100, Uint8Array.of(0xaa), 'slow'));
    await drive(clock, () => got[0]!.length >= 1, { stepMs: 10 });
    assert.equal(got[0]![0]!.code, 0, 'empty ACK');
    for (let i = 0; i < 10; i++) peers[1]!.send(SERVER, request('CON', i, Uint8Array.of(i), 'fast'));
    await drive(clock, () => got[1]!.length >= 10);
    assert.ok(server.tableSizes().dedup <= 4);
    release({ code: CoapCode.CHANGED });
    await drive(clock, () => got[0]!.length >= 2);
    const late = got[0]![1]!;
    assert.deepEqual([late.type, late.code, [...late.token]], ['CON', CoapCode.CHANGED, [0xaa]]);
    await server.close();
  });
});

describe('CoapEndpoint: many exchanges at once', () => {
  it('matches 300 concurrent requests answered separately in shuffled order (exchange and CON tables under churn)', async () => {
    const { clock, client, server } = setup({ transmission: { nstart: 300 }, piggybackTimeout: 10 });
    const pending: { id: string; answer: (r: CoapResponse) => void }[] = [];
    server.onRequest(
      ({ message }) =>
        new Promise<CoapResponse>((answer) => pending.push({ id: uriPath(message)[0]!, answer })),
    );
    const results = Array.from({ length: 300 }, (_, i) => track(client.request(SERVER, get(`/q${i}`))));
    await drive(clock, () => pending.length === 300, { stepMs: 5 });
    await drive(clock, () => server.stats.sent >= 300, { stepMs: 5 }); // the empty ACKs
    const rand = seededRandom(5);
    while (pending.length > 0) {
      const [p] = pending.splice(Math.floor(rand.next() * pending.length), 1);
      p!.answer({ code: CoapCode.CONTENT, payload: text(p!.id) });
      if (pending.length % 7 === 0) await settle(1);
    }
    await drive(clock, () => results.every((r) => r.settled), { stepMs: 5 });
    for (const [i, r] of results.entries()) assert.equal(r.value && str(r.value.payload), `q${i}`);
    assert.deepEqual(
      { exchanges: client.tableSizes().exchanges, pendingCon: client.tableSizes().pendingCon },
      { exchanges: 0, pendingCon: 0 },
    );
    await drive(clock, () => server.tableSizes().pendingCon === 0, { stepMs: 5 });
    await client.close();
    await server.close();
  });
});

describe('CoapEndpoint: per-peer state', () => {
  it('keeps the peer table bounded: a peer is forgotten when its last remembered request leaves the dedup table', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const server = new CoapEndpoint({
      channel: network.channel(SERVER.address, SERVER.port),
      clock,
      random: seededRandom(1),
      limits: { maxDedupEntries: 16 },
    });
    server.onRequest(() => ({ code: CoapCode.CONTENT }));
    let peak = 0;
    for (let i = 0; i < 5000; i++) {
      const raw = network.channel(`10.1.${i >> 8}.${i & 0xff}`, 5683);
      raw.send(
        SERVER,
        encodeCoapUdp({
          type: 'NON',
          code: CoapCode.GET,
          messageId: i,
          token: Uint8Array.of(1),
          options: [],
          payload: new Uint8Array(),
        }),
      );
      if (i % 500 === 499) {
        await drive(clock, () => server.stats.handled > i);
        peak = Math.max(peak, server.tableSizes().peers);
      }
    }
    assert.equal(server.stats.handled, 5000);
    // Each new request evicts the oldest entry (16 at most), and with it that peer's state.
    assert.ok(peak <= 16 + 1, `peer table peaked at ${peak}`);
    assert.ok(server.tableSizes().peers <= 17);
    await server.close();
  });
});
