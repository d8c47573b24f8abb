import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import type { ObserveRelation } from '../../src/coap/endpoint.js';
import { CoapConnectionClosedError, CoapTimeoutError, EndpointClosedError } from '../../src/coap/errors.js';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import { OptionNumber, observe, uriPath } from '../../src/coap/options.js';
import {
  CoapMessageTooLargeError,
  CoapReliableEndpoint,
  CoapReliableProtocolError,
  DEFAULT_RELIABLE_MAX_MESSAGE_SIZE,
  type ReliableEndpointOptions,
} from '../../src/coap/reliable-endpoint.js';
import {
  BASE_MAX_MESSAGE_SIZE,
  abort,
  csm,
  decodeCoapTcp,
  encodeCoapTcp,
  ping,
  readSignal,
  release,
} from '../../src/coap/tcp-codec.js';
import { seededRandom } from '../../src/random.js';
import { ChannelSendError, type ConnectionCloseReason, type Peer } from '../../src/transport/channel.js';
import { settle, track } from '../support/coap-driver.js';
import { MemoryConnectionNetwork, type MemoryConnectionChannel } from '../support/memory-connection.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5684 };
const CLIENT_ADDRESS = '10.0.0.2';
const CLIENT: Peer = { address: CLIENT_ADDRESS, port: 40000 };

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const path = (...segs: string[]): CoapOption[] =>
  segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Lets deliveries and promise chains run until `cond` holds (bounded). */
async function until(cond: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && !cond(); i++) await settle(1);
  assert.ok(cond(), 'condition reached');
}

type Options = Partial<Omit<ReliableEndpointOptions, 'channel'>>;

function world(config: { server?: Options; client?: Options } = {}) {
  const clock = new FakeClock();
  const net = new MemoryConnectionNetwork();
  const serverChannel = net.listen(SERVER.address, SERVER.port);
  const clientChannel = net.dialler(CLIENT_ADDRESS, CLIENT.port);
  const serverErrors: unknown[] = [];
  const clientErrors: unknown[] = [];
  const serverSaw: CoapMessage[] = [];
  const clientSaw: CoapMessage[] = [];
  serverChannel.onReceive((_, b) => serverSaw.push(decodeCoapTcp(b)));
  clientChannel.onReceive((_, b) => clientSaw.push(decodeCoapTcp(b)));
  const server = new CoapReliableEndpoint({
    channel: serverChannel,
    clock,
    random: seededRandom(1),
    onError: (e) => serverErrors.push(e),
    ...config.server,
  });
  const client = new CoapReliableEndpoint({
    channel: clientChannel,
    clock,
    random: seededRandom(2),
    onError: (e) => clientErrors.push(e),
    ...config.client,
  });
  return {
    clock,
    net,
    serverChannel,
    clientChannel,
    server,
    client,
    serverErrors,
    clientErrors,
    serverSaw,
    clientSaw,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** A hand-driven peer: raw frames in and out. */
function raw(channel: MemoryConnectionChannel) {
  const got: CoapMessage[] = [];
  const disconnects: ConnectionCloseReason[] = [];
  const connects: Peer[] = [];
  channel.onReceive((_, b) => got.push(decodeCoapTcp(b)));
  channel.onDisconnect((_, reason) => disconnects.push(reason));
  channel.onConnect((p) => connects.push(p));
  return {
    channel,
    got,
    disconnects,
    connects,
    send(to: Peer, m: CoapMessage | Uint8Array) {
      channel.send(to, m instanceof Uint8Array ? m : encodeCoapTcp(m));
    },
  };
}

const get = (...segs: string[]) => ({ code: CoapCode.GET, options: path(...segs) });
const request = (code: number, token: Uint8Array, options: CoapOption[] = []): CoapMessage => ({
  code,
  messageId: 0,
  token,
  options,
  payload: new Uint8Array(0),
});

describe('CoapReliableEndpoint: CSM', () => {
  it('sends its CSM first on both sides and records the peer capabilities', async () => {
    const w = world({ server: { maxMessageSize: 4000, bert: true }, client: { maxMessageSize: 2000 } });
    w.server.onRequest(() => ({ code: CoapCode.CONTENT, payload: text('hi') }));
    assert.deepEqual(w.client.blockCapacity(SERVER), { bert: false, maxMessageSize: BASE_MAX_MESSAGE_SIZE });
    assert.equal(w.client.peerCapabilities(SERVER), undefined);
    const r = await w.client.request(SERVER, get('a'));
    assert.equal(str(r.payload), 'hi');
    assert.equal(w.serverSaw[0]!.code, CoapCode.CSM, 'the client CSM came first');
    assert.equal(w.clientSaw[0]!.code, CoapCode.CSM, 'the server CSM came first');
    assert.deepEqual(readSignal(w.serverSaw[0]!), {
      kind: 'csm',
      maxMessageSize: 2000,
      blockWiseTransfer: false,
    });
    assert.deepEqual(readSignal(w.clientSaw[0]!), {
      kind: 'csm',
      maxMessageSize: 4000,
      blockWiseTransfer: true,
    });
    assert.deepEqual(w.client.peerCapabilities(SERVER), { maxMessageSize: 4000, blockWiseTransfer: true });
    assert.deepEqual(w.server.peerCapabilities(CLIENT), { maxMessageSize: 2000, blockWiseTransfer: false });
    // BERT needs both sides to announce it.
    assert.deepEqual(w.client.blockCapacity(SERVER), { bert: false, maxMessageSize: 4000 });
    assert.deepEqual(w.server.blockCapacity(CLIENT), { bert: false, maxMessageSize: 2000 });
    assert.equal(w.serverSaw.filter((m) => m.code === CoapCode.CSM).length, 1, 'one CSM per connection');
    await w.close();
  });

  it('reports BERT when both sides announce Block-Wise-Transfer', async () => {
    const w = world({ server: { bert: true }, client: { bert: true } });
    w.server.onRequest(() => ({ code: CoapCode.CONTENT }));
    await w.client.request(SERVER, get());
    await until(() => w.server.peerCapabilities(CLIENT) !== undefined);
    assert.deepEqual(w.client.blockCapacity(SERVER), {
      bert: true,
      maxMessageSize: DEFAULT_RELIABLE_MAX_MESSAGE_SIZE,
    });
    assert.equal(w.server.blockCapacity(CLIENT).bert, true);
    await w.close();
  });

  it('a listener sends its CSM as soon as a peer connects', async () => {
    const w = world();
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    peer.send(SERVER, csm({ maxMessageSize: 1152 }));
    await until(() => peer.got.length > 0);
    assert.equal(peer.got[0]!.code, CoapCode.CSM);
    assert.equal(readSignal(peer.got[0]!)?.kind, 'csm');
    await w.close();
  });

  it('aborts when the first message is not a CSM (strict by default)', async () => {
    const w = world();
    w.server.onRequest(() => ({ code: CoapCode.CONTENT }));
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    peer.send(SERVER, request(CoapCode.GET, text('tok1')));
    await until(() => peer.disconnects.length > 0);
    const a = peer.got.find((m) => m.code === CoapCode.ABORT);
    assert.ok(a, 'an Abort was sent');
    assert.match(str(a.payload), /CSM/);
    assert.ok(!peer.got.some((m) => m.code === CoapCode.CONTENT), 'the request was not served');
    assert.deepEqual(peer.disconnects, ['peer-closed']);
    assert.ok(
      w.serverErrors.some((e) => e instanceof CoapReliableProtocolError && e.reason === 'missing-csm'),
    );
    await w.close();
  });

  it('with requireCsm false serves a peer that skipped its CSM and reports it', async () => {
    const w = world({ server: { requireCsm: false } });
    w.server.onRequest(() => ({ code: CoapCode.CONTENT, payload: text('ok') }));
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    peer.send(SERVER, request(CoapCode.GET, text('tok1')));
    await until(() => peer.got.some((m) => m.code === CoapCode.CONTENT));
    assert.equal(peer.disconnects.length, 0);
    assert.ok(
      w.serverErrors.some((e) => e instanceof CoapReliableProtocolError && e.reason === 'missing-csm'),
    );
    await w.close();
  });

  it('aborts with Bad-CSM-Option on an unknown critical CSM option', async () => {
    const w = world();
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    const bad = csm({ maxMessageSize: 2000 });
    peer.send(SERVER, { ...bad, options: [...bad.options, { number: 9, value: new Uint8Array(0) }] });
    await until(() => peer.disconnects.length > 0);
    const a = peer.got.find((m) => m.code === CoapCode.ABORT)!;
    assert.deepEqual(readSignal(a), {
      kind: 'abort',
      badCsmOption: 9,
      diagnostic: 'unsupported critical CSM option 9',
    });
    await w.close();
  });

  it('ignores an unknown elective CSM option', async () => {
    const w = world();
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    const c = csm({ maxMessageSize: 3000 });
    peer.send(SERVER, { ...c, options: [...c.options, { number: 10, value: new Uint8Array(0) }] });
    await until(() => w.server.peerCapabilities({ address: '10.0.0.9', port: 1000 }) !== undefined);
    assert.equal(w.server.peerCapabilities({ address: '10.0.0.9', port: 1000 })?.maxMessageSize, 3000);
    assert.equal(peer.got.filter((m) => m.code === CoapCode.ABORT).length, 0);
    await w.close();
  });
});

describe('CoapReliableEndpoint: requests', () => {
  it('answers a request with the request token and calls onSent', async () => {
    const w = world();
    w.server.onRequest(({ message, peer }) => ({
      code: CoapCode.CONTENT,
      payload: text(`${uriPath(message).join('/')} from ${peer.address}`),
    }));
    const sent: CoapMessage[] = [];
    const r = await w.client.request(SERVER, get('3', '0'), { onSent: (m) => sent.push(m) });
    assert.equal(r.code, CoapCode.CONTENT);
    assert.equal(str(r.payload), `3/0 from ${CLIENT_ADDRESS}`);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.type, undefined, 'no message type on TCP');
    assert.equal(sent[0]!.token.length, 8);
    assert.equal(hex(r.token), hex(sent[0]!.token));
    assert.equal(w.server.stats.handled, 1);
    await w.close();
  });

  it('matches concurrent requests by token whatever the order of the answers', async () => {
    const w = world();
    const waiting: { path: string; answer: () => void }[] = [];
    w.server.onRequest(
      ({ message }) =>
        new Promise((resolve) => {
          const p = uriPath(message).join('/');
          waiting.push({ path: p, answer: () => resolve({ code: CoapCode.CONTENT, payload: text(p) }) });
        }),
    );
    const names = ['a', 'b', 'c', 'd', 'e'];
    const pending = names.map((n) => w.client.request(SERVER, get(n)));
    await until(() => waiting.length === names.length);
    for (const wt of [...waiting].reverse()) wt.answer();
    const responses = await Promise.all(pending);
    assert.deepEqual(
      responses.map((r) => str(r.payload)),
      names,
    );
    const tokens = new Set(w.serverSaw.filter((m) => m.code === CoapCode.GET).map((m) => hex(m.token)));
    assert.equal(tokens.size, names.length, 'one token per open exchange');
    await w.close();
  });

  it('answers 4.04 without a handler and 5.00 when the handler throws', async () => {
    const w = world();
    assert.equal((await w.client.request(SERVER, get('x'))).code, CoapCode.NOT_FOUND);
    w.server.onRequest(({ message }) => {
      if (uriPath(message)[0] === 'sync') throw new Error('boom');
      return Promise.reject(new Error('async boom'));
    });
    assert.equal((await w.client.request(SERVER, get('sync'))).code, CoapCode.INTERNAL_SERVER_ERROR);
    assert.equal((await w.client.request(SERVER, get('async'))).code, CoapCode.INTERNAL_SERVER_ERROR);
    assert.deepEqual(
      w.serverErrors.map((e) => (e as Error).message),
      ['boom', 'async boom'],
    );
    await w.close();
  });

  it('answers 4.02 to an unrecognised critical option', async () => {
    const w = world();
    w.server.onRequest(() => ({ code: CoapCode.CONTENT }));
    const r = await w.client.request(SERVER, {
      code: CoapCode.GET,
      options: [{ number: 65001, value: new Uint8Array(0) }],
    });
    assert.equal(r.code, CoapCode.BAD_OPTION);
    await w.close();
  });

  it('times out a request that gets no response', async () => {
    const w = world();
    w.server.onRequest(() => new Promise(() => {}));
    const p = track(w.client.request(SERVER, get('slow'), { timeout: 5000 }));
    await until(() => w.serverSaw.some((m) => m.code === CoapCode.GET));
    w.clock.advance(4999);
    await settle();
    assert.equal(p.settled, false);
    w.clock.advance(1);
    await until(() => p.settled);
    assert.ok(p.error instanceof CoapTimeoutError);
    assert.equal(w.client.tableSizes().exchanges, 0);
    await w.close();
  });

  it('uses EXCHANGE_LIFETIME as the default deadline', async () => {
    const w = world({ client: { transmission: { maxLatency: 1000 } } });
    w.server.onRequest(() => new Promise(() => {}));
    const p = track(w.client.request(SERVER, get('slow')));
    await settle();
    // EXCHANGE_LIFETIME = 45 000 + 2 * 1000 + 2000 with these parameters.
    w.clock.advance(48_999);
    await settle();
    assert.equal(p.settled, false);
    w.clock.advance(1);
    await until(() => p.settled);
    assert.ok(p.error instanceof CoapTimeoutError);
    await w.close();
  });

  it('drops responses with an unknown token and ignores empty messages', async () => {
    const w = world();
    const peer = raw(w.net.listen('10.0.0.8', 5684));
    const target = { address: '10.0.0.8', port: 5684 };
    const p = track(w.client.request(target, get('x')));
    await until(() => peer.got.some((m) => m.code === CoapCode.GET));
    const req = peer.got.find((m) => m.code === CoapCode.GET)!;
    const from = peer.connects[0]!;
    peer.send(from, csm());
    peer.send(from, request(CoapCode.EMPTY, new Uint8Array(0)));
    peer.send(from, { ...request(CoapCode.CONTENT, text('nope')), payload: text('stray') });
    peer.send(from, { ...request(CoapCode.CONTENT, req.token), payload: text('mine') });
    await until(() => p.settled);
    assert.equal(str((p.value as CoapMessage).payload), 'mine');
    assert.equal(w.client.stats.unmatched, 1);
    assert.equal(peer.disconnects.length, 0);
    await w.close();
  });

  it('holds a request larger than the base size until the peer CSM allows it', async () => {
    const w = world({ server: { maxMessageSize: 3000 } });
    w.server.onRequest(({ message }) => ({
      code: CoapCode.CHANGED,
      payload: text(String(message.payload.length)),
    }));
    const sent: CoapMessage[] = [];
    // Nothing is known of the server yet: the base 1152 applies, so the request waits for its CSM.
    const r = await w.client.request(
      SERVER,
      { code: CoapCode.PUT, payload: new Uint8Array(2500) },
      { onSent: (m) => sent.push(m) },
    );
    assert.equal(str(r.payload), '2500');
    assert.equal(sent.length, 1);
    assert.equal(w.serverSaw[0]!.code, CoapCode.CSM);
    await w.close();
  });

  it('refuses a request larger than the peer Max-Message-Size, without sending it', async () => {
    const w = world({ server: { maxMessageSize: 3000 } });
    w.server.onRequest(() => ({ code: CoapCode.CHANGED }));
    // Held for the CSM, then refused.
    const sent: CoapMessage[] = [];
    await assert.rejects(
      w.client.request(
        SERVER,
        { code: CoapCode.PUT, payload: new Uint8Array(3000) },
        { onSent: (m) => sent.push(m) },
      ),
      (e: unknown) => e instanceof CoapMessageTooLargeError && e.maxMessageSize === 3000 && e.size > 3000,
    );
    assert.equal(sent.length, 0);
    // Once the CSM is known, at once.
    await assert.rejects(
      w.client.request(SERVER, { code: CoapCode.PUT, payload: new Uint8Array(3000) }),
      CoapMessageTooLargeError,
    );
    await settle(3);
    assert.equal(w.serverSaw.filter((m) => m.code === CoapCode.PUT).length, 0);
    assert.equal(w.client.tableSizes().exchanges, 0);
    await w.close();
  });

  it('answers 5.00 instead of a response larger than the peer takes', async () => {
    const w = world({ client: { maxMessageSize: 1152 } });
    w.server.onRequest(() => ({ code: CoapCode.CONTENT, payload: new Uint8Array(5000) }));
    const r = await w.client.request(SERVER, get('big'));
    assert.equal(r.code, CoapCode.INTERNAL_SERVER_ERROR);
    assert.match(str(r.payload), /Max-Message-Size 1152/);
    assert.ok(w.serverErrors.some((e) => e instanceof CoapMessageTooLargeError));
    await w.close();
  });

  it('rejects a request from a listener to a peer that is not connected, promptly', async () => {
    const w = world();
    const p = track(w.server.request({ address: '10.0.0.77', port: 1234 }, get('x')));
    await until(() => p.settled);
    assert.ok(p.error instanceof ChannelSendError);
    assert.equal(w.server.tableSizes().exchanges, 0);
    assert.equal(w.server.tableSizes().connections, 0);
    await w.close();
  });

  it('serves requests from the listening side to a connected client', async () => {
    const w = world();
    w.server.onRequest(() => ({ code: CoapCode.CONTENT }));
    w.client.onRequest(({ message }) => ({
      code: CoapCode.CONTENT,
      payload: text(`dev ${uriPath(message)[0]}`),
    }));
    await w.client.request(SERVER, get());
    const r = await w.server.request(CLIENT, get('3'));
    assert.equal(str(r.payload), 'dev 3');
    await w.close();
  });

  it('answers 5.03 beyond maxPendingRequestsPerPeer', async () => {
    const w = world({ server: { limits: { maxPendingRequestsPerPeer: 2 } } });
    const answers: (() => void)[] = [];
    w.server.onRequest(
      () =>
        new Promise((resolve) => {
          answers.push(() => resolve({ code: CoapCode.CONTENT }));
        }),
    );
    const a = w.client.request(SERVER, get('1'));
    const b = w.client.request(SERVER, get('2'));
    await until(() => answers.length === 2);
    const c = await w.client.request(SERVER, get('3'));
    assert.equal(c.code, CoapCode.SERVICE_UNAVAILABLE);
    for (const answer of answers) answer();
    assert.equal((await a).code, CoapCode.CONTENT);
    assert.equal((await b).code, CoapCode.CONTENT);
    const d = w.client.request(SERVER, get('4'));
    await until(() => answers.length === 3);
    answers[2]!();
    assert.equal((await d).code, CoapCode.CONTENT, 'slots come back');
    await w.close();
  });

  it('rejects beyond maxOpenRequests', async () => {
    const w = world({ client: { limits: { maxOpenRequests: 1 } } });
    w.server.onRequest(() => new Promise(() => {}));
    void w.client.request(SERVER, get('1')).catch(() => {});
    await assert.rejects(w.client.request(SERVER, get('2')), { code: 'PETREL_ERR_COAP_LIMIT' });
    await w.close();
  });
});

describe('CoapReliableEndpoint: signals', () => {
  it('answers a Ping with a Pong carrying its token, and ping() resolves on the Pong', async () => {
    const w = world();
    await w.client.ping(SERVER);
    const pings = w.serverSaw.filter((m) => m.code === CoapCode.PING);
    const pongs = w.clientSaw.filter((m) => m.code === CoapCode.PONG);
    assert.equal(pings.length, 1);
    assert.equal(pongs.length, 1);
    assert.equal(hex(pongs[0]!.token), hex(pings[0]!.token));
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    peer.send(SERVER, csm());
    peer.send(SERVER, ping({ custody: true, token: text('pp') }));
    await until(() => peer.got.some((m) => m.code === CoapCode.PONG));
    const pong = peer.got.find((m) => m.code === CoapCode.PONG)!;
    assert.equal(str(pong.token), 'pp');
    assert.deepEqual(readSignal(pong), { kind: 'pong', custody: true });
    await w.close();
  });

  it('rejects ping() with CoapTimeoutError when no Pong comes', async () => {
    const w = world();
    const peer = raw(w.net.listen('10.0.0.8', 5684));
    const target = { address: '10.0.0.8', port: 5684 };
    const p = track(w.client.ping(target, { timeout: 3000 }));
    await until(() => peer.got.some((m) => m.code === CoapCode.PING));
    w.clock.advance(3000);
    await until(() => p.settled);
    assert.ok(p.error instanceof CoapTimeoutError);
    assert.equal(w.client.tableSizes().pings, 0);
    await w.close();
  });

  it('on a peer Release: no new requests, open ones fail when the connection closes, then reconnects', async () => {
    const w = world();
    let answer: (() => void) | undefined;
    w.server.onRequest(({ message }) =>
      uriPath(message)[0] === 'slow'
        ? new Promise(() => {
            answer = () => {};
          })
        : { code: CoapCode.CONTENT },
    );
    await w.client.request(SERVER, get());
    const slow = track(w.client.request(SERVER, get('slow')));
    await until(() => answer !== undefined);
    w.server.release(CLIENT, 'maintenance');
    await until(() => w.clientSaw.some((m) => m.code === CoapCode.RELEASE));
    await until(() => slow.settled);
    const e = slow.error as CoapConnectionClosedError;
    assert.ok(e instanceof CoapConnectionClosedError);
    assert.equal(e.reason, 'peer-closed');
    assert.deepEqual(e.signal, { kind: 'release', diagnostic: 'maintenance' });
    // The dialler connects again for the next request, with a new CSM.
    const csmsBefore = w.serverSaw.filter((m) => m.code === CoapCode.CSM).length;
    const again = await w.client.request(SERVER, get());
    assert.equal(again.code, CoapCode.CONTENT);
    assert.equal(w.serverSaw.filter((m) => m.code === CoapCode.CSM).length, csmsBefore + 1);
    assert.equal(w.net.stats.connects, 2);
    await w.close();
  });

  it('refuses new requests on a released connection and closes it once idle', async () => {
    const w = world();
    const peer = raw(w.net.listen('10.0.0.8', 5684));
    const target = { address: '10.0.0.8', port: 5684 };
    const first = track(w.client.request(target, get('x')));
    await until(() => peer.got.some((m) => m.code === CoapCode.GET));
    const req = peer.got.find((m) => m.code === CoapCode.GET)!;
    const from = peer.connects[0]!;
    peer.send(from, csm());
    peer.send(from, release({ diagnostic: 'going' }));
    await settle(3);
    await assert.rejects(
      w.client.request(target, get('y')),
      (e: unknown) => e instanceof CoapConnectionClosedError && e.signal?.kind === 'release',
    );
    assert.equal(peer.disconnects.length, 0, 'still open: a request waits');
    peer.send(from, request(CoapCode.CONTENT, req.token));
    await until(() => first.settled && peer.disconnects.length > 0);
    assert.equal((first.value as CoapMessage).code, CoapCode.CONTENT);
    assert.deepEqual(peer.disconnects, ['peer-closed'], 'the client closed it');
    await w.close();
  });

  it('on a peer Abort fails everything on the connection at once', async () => {
    const w = world();
    const peer = raw(w.net.listen('10.0.0.8', 5684));
    const target = { address: '10.0.0.8', port: 5684 };
    const ended: string[] = [];
    const req = track(w.client.request(target, get('x')));
    const obs = w.client.observe(target, get('o'), {
      onNotification: () => {},
      onEnd: (r) => ended.push(r),
    });
    await until(() => peer.got.filter((m) => m.code === CoapCode.GET).length === 2);
    const from = peer.connects[0]!;
    const register = peer.got.find((m) => observe(m) === 0)!;
    peer.send(from, csm());
    peer.send(from, {
      ...request(CoapCode.CONTENT, register.token, [
        { number: OptionNumber.OBSERVE, value: new Uint8Array([5]) },
      ]),
    });
    const observation = await obs;
    assert.equal(observation.established, true);
    peer.send(from, abort({ diagnostic: 'overloaded' }));
    await until(() => req.settled);
    const e = req.error as CoapConnectionClosedError;
    assert.ok(e instanceof CoapConnectionClosedError);
    assert.deepEqual(e.signal, { kind: 'abort', diagnostic: 'overloaded' });
    assert.deepEqual(ended, ['closed']);
    await until(() => peer.disconnects.length > 0);
    assert.ok(w.clientErrors.some((x) => x instanceof CoapReliableProtocolError && x.reason === 'abort'));
    await w.close();
  });

  it('aborts a connection that sends a frame which does not decode', async () => {
    const w = world();
    const peer = raw(w.net.dialler('10.0.0.9', 1000));
    peer.send(SERVER, csm());
    // Len 1, TKL 0, code GET, then an option byte with the reserved delta nibble 15.
    peer.send(SERVER, new Uint8Array([0x10, 0x01, 0xf1]));
    await until(() => peer.disconnects.length > 0);
    const a = peer.got.find((m) => m.code === CoapCode.ABORT);
    assert.ok(a);
    assert.match(str(a.payload), /malformed/);
    assert.equal(w.server.stats.malformed, 1);
    assert.equal(w.server.stats.aborts, 1);
    await w.close();
  });

  it('sends keepalive Pings on a silent connection and drops one that does not answer', async () => {
    const w = world({ client: { keepAliveInterval: 10_000 } });
    const peer = raw(w.net.listen('10.0.0.8', 5684));
    const target = { address: '10.0.0.8', port: 5684 };
    void w.client.ping(target).catch(() => {}); // opens the connection
    await until(() => peer.connects.length > 0 && peer.got.length >= 2);
    const from = peer.connects[0]!;
    peer.send(from, csm());
    await settle(3);
    w.clock.advance(10_000);
    await until(() => peer.got.filter((m) => m.code === CoapCode.PING).length === 2);
    w.clock.advance(10_000);
    await until(() => peer.disconnects.length > 0);
    assert.ok(w.clientErrors.some((e) => e instanceof CoapReliableProtocolError && e.reason === 'keepalive'));
    await w.close();
  });
});

describe('CoapReliableEndpoint: connection loss and close', () => {
  it('fails open requests and ends observations on both sides when the connection drops', async () => {
    const w = world();
    const relations: ObserveRelation[] = [];
    const serverEnds: string[] = [];
    w.server.onRequest(({ message }) =>
      uriPath(message)[0] === 'obs'
        ? {
            code: CoapCode.CONTENT,
            observe: (r) => {
              relations.push(r);
              r.onEnd((reason) => serverEnds.push(reason));
            },
          }
        : new Promise(() => {}),
    );
    const clientEnds: string[] = [];
    const obs = await w.client.observe(SERVER, get('obs'), {
      onNotification: () => {},
      onEnd: (r) => clientEnds.push(r),
    });
    assert.equal(obs.established, true);
    const pending = track(w.client.request(SERVER, get('slow')));
    await until(() => relations.length === 1 && w.serverSaw.some((m) => uriPath(m)[0] === 'slow'));
    assert.ok(w.net.cut(w.clientChannel, w.serverChannel));
    await until(() => pending.settled && serverEnds.length > 0);
    const e = pending.error as CoapConnectionClosedError;
    assert.ok(e instanceof CoapConnectionClosedError);
    assert.equal(e.reason, 'error');
    assert.equal(e.signal, undefined);
    assert.deepEqual(clientEnds, ['closed']);
    assert.deepEqual(serverEnds, ['closed']);
    assert.equal(relations[0]!.active, false);
    assert.equal(w.server.observeRelations, 0);
    assert.deepEqual(w.client.tableSizes(), { connections: 0, exchanges: 0, pings: 0, relations: 0 });
    await w.close();
  });

  it('release() sends a Release, refuses new requests and closes the connection', async () => {
    const w = world();
    w.server.onRequest(() => new Promise(() => {}));
    const pending = track(w.client.request(SERVER, get('slow')));
    await until(() => w.serverSaw.some((m) => m.code === CoapCode.GET));
    w.client.release(SERVER, 'done');
    await assert.rejects(w.client.request(SERVER, get('more')), CoapConnectionClosedError);
    await until(() => pending.settled);
    const e = pending.error as CoapConnectionClosedError;
    assert.equal(e.reason, 'closed');
    assert.deepEqual(e.signal, { kind: 'release', diagnostic: 'done' });
    const r = w.serverSaw.find((m) => m.code === CoapCode.RELEASE)!;
    assert.deepEqual(readSignal(r), { kind: 'release', alternativeAddresses: [], diagnostic: 'done' });
    assert.equal(w.clientChannel.connections, 0);
    await w.close();
  });

  it('close() ends server relations with reason closed', async () => {
    const w = world();
    const ends: string[] = [];
    w.server.onRequest(() => ({ code: CoapCode.CONTENT, observe: (r) => r.onEnd((x) => ends.push(x)) }));
    await w.client.observe(SERVER, get('o'), { onNotification: () => {} });
    await until(() => w.server.observeRelations === 1);
    await settle(2);
    await w.server.close();
    assert.deepEqual(ends, ['closed']);
    await w.client.close();
  });

  it('close() rejects open requests with EndpointClosedError and closes the channel', async () => {
    const w = world();
    w.server.onRequest(() => new Promise(() => {}));
    const p = track(w.client.request(SERVER, get('slow')));
    await until(() => w.serverSaw.some((m) => m.code === CoapCode.GET));
    await w.client.close();
    await until(() => p.settled);
    assert.ok(p.error instanceof EndpointClosedError);
    await assert.rejects(w.client.request(SERVER, get()), EndpointClosedError);
    assert.throws(() => w.clientChannel.send(SERVER, new Uint8Array(2)), {
      code: 'PETREL_ERR_CHANNEL_CLOSED',
    });
    await w.server.close();
  });
});

describe('CoapReliableEndpoint: observe', () => {
  function observed(w: ReturnType<typeof world>) {
    const relations: ObserveRelation[] = [];
    const ends: string[] = [];
    w.server.onRequest(({ message }) => ({
      code: CoapCode.CONTENT,
      payload: text(`v0 ${uriPath(message).join('/')}`),
      observe: (r) => {
        relations.push(r);
        r.onEnd((reason) => ends.push(reason));
      },
    }));
    return { relations, ends };
  }

  it('registers, delivers notifications in order with rising Observe numbers', async () => {
    const w = world();
    const { relations } = observed(w);
    const got: CoapMessage[] = [];
    const obs = await w.client.observe(SERVER, get('3', '0', '1'), { onNotification: (m) => got.push(m) });
    assert.equal(obs.established, true);
    assert.equal(str(obs.response.payload), 'v0 3/0/1');
    await until(() => relations.length === 1);
    for (let i = 1; i <= 20; i++) relations[0]!.notify({ code: CoapCode.CONTENT, payload: text(`v${i}`) });
    await until(() => got.length === 20);
    assert.deepEqual(
      got.map((m) => str(m.payload)),
      Array.from({ length: 20 }, (_, i) => `v${i + 1}`),
    );
    const seqs = got.map((m) => observe(m)!);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1);
    assert.equal(hex(got[0]!.token), hex(obs.response.token));
    await w.close();
  });

  it('cancel() deregisters with Observe=1 and the same token', async () => {
    const w = world();
    const { relations, ends } = observed(w);
    const clientEnds: string[] = [];
    const obs = await w.client.observe(SERVER, get('o'), {
      onNotification: () => {},
      onEnd: (r) => clientEnds.push(r),
    });
    await until(() => relations.length === 1);
    // A notification in flight while the cancel goes out is not taken for its response.
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: text('late') });
    const r = await obs.cancel();
    assert.equal(r.code, CoapCode.CONTENT);
    assert.equal(observe(r), undefined);
    assert.deepEqual(ends, ['deregistered']);
    assert.deepEqual(clientEnds, ['cancelled']);
    const dereg = w.serverSaw.filter((m) => observe(m) === 1);
    assert.equal(dereg.length, 1);
    assert.equal(hex(dereg[0]!.token), hex(obs.response.token));
    assert.equal(w.server.observeRelations, 0);
    await w.close();
  });

  it('forget() drops later notifications silently', async () => {
    const w = world();
    const { relations } = observed(w);
    const got: CoapMessage[] = [];
    const obs = await w.client.observe(SERVER, get('o'), { onNotification: (m) => got.push(m) });
    await until(() => relations.length === 1);
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: text('1') });
    await until(() => got.length === 1);
    obs.forget();
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: text('2') });
    await until(() => w.client.stats.unmatched === 1);
    assert.equal(got.length, 1);
    assert.equal(w.client.tableSizes().exchanges, 0);
    await w.close();
  });

  it('a new registration with the same token replaces the relation', async () => {
    const w = world();
    const { relations, ends } = observed(w);
    const token = text('obs1');
    const first = await w.client.observe(SERVER, { ...get('o'), token }, { onNotification: () => {} });
    first.forget();
    const second = await w.client.observe(SERVER, { ...get('o'), token }, { onNotification: () => {} });
    assert.equal(second.established, true);
    await until(() => relations.length === 2);
    assert.deepEqual(ends, ['replaced']);
    assert.equal(relations[0]!.active, false);
    assert.equal(relations[1]!.active, true);
    assert.equal(w.server.observeRelations, 1);
    await w.close();
  });

  it('a non-2.xx notification ends the observation on both sides', async () => {
    const w = world();
    const { relations, ends } = observed(w);
    const clientEnds: { reason: string; code?: number }[] = [];
    await w.client.observe(SERVER, get('o'), {
      onNotification: () => {},
      onEnd: (reason, m) => clientEnds.push({ reason, code: m?.code }),
    });
    await until(() => relations.length === 1);
    relations[0]!.notify({ code: CoapCode.NOT_FOUND });
    await until(() => clientEnds.length === 1);
    assert.deepEqual(clientEnds, [{ reason: 'final-response', code: CoapCode.NOT_FOUND }]);
    assert.deepEqual(ends, ['cancelled']);
    await w.close();
  });

  it('answers without Observe beyond maxObserveRelations (established false)', async () => {
    const w = world({ server: { limits: { maxObserveRelations: 1 } } });
    observed(w);
    const a = await w.client.observe(SERVER, get('a'), { onNotification: () => {} });
    const b = await w.client.observe(SERVER, get('b'), { onNotification: () => {} });
    assert.equal(a.established, true);
    assert.equal(b.established, false);
    assert.equal(observe(b.response), undefined);
    assert.equal(w.client.tableSizes().exchanges, 1);
    await w.close();
  });

  it('evicts the oldest relation of a connection beyond maxObserveRelationsPerPeer', async () => {
    const w = world({ server: { limits: { maxObserveRelationsPerPeer: 2 } } });
    const { ends } = observed(w);
    for (const n of ['a', 'b', 'c']) await w.client.observe(SERVER, get(n), { onNotification: () => {} });
    assert.deepEqual(ends, ['evicted']);
    assert.equal(w.server.observeRelations, 2);
    await w.close();
  });

  it('adoptObservation takes notifications for a known token without sending anything', async () => {
    const w = world();
    const { relations } = observed(w);
    const obs = await w.client.observe(SERVER, get('o'), { onNotification: () => {} });
    obs.forget();
    await until(() => relations.length === 1);
    const got: string[] = [];
    const sentBefore = w.client.stats.sent;
    const adopted = w.client.adoptObservation(
      SERVER,
      { ...get('o'), token: obs.response.token },
      { onNotification: (m) => got.push(str(m.payload)) },
    );
    assert.equal(w.client.stats.sent, sentBefore);
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: text('n1') });
    await until(() => got.length === 1);
    assert.deepEqual(got, ['n1']);
    await adopted.cancel();
    assert.equal(relations[0]!.active, false);
    await w.close();
  });

  it('replaces a notification larger than the peer takes by a final 5.00', async () => {
    const w = world({ client: { maxMessageSize: 1152 } });
    const { relations, ends } = observed(w);
    const clientEnds: { reason: string; code?: number }[] = [];
    await w.client.observe(SERVER, get('o'), {
      onNotification: () => {},
      onEnd: (reason, m) => clientEnds.push({ reason, code: m?.code }),
    });
    await until(() => relations.length === 1);
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: new Uint8Array(2000) });
    await until(() => clientEnds.length === 1);
    assert.deepEqual(clientEnds, [{ reason: 'final-response', code: CoapCode.INTERNAL_SERVER_ERROR }]);
    assert.deepEqual(ends, ['cancelled']);
    await w.close();
  });

  it('hands the handler the peer with its channel identity', async () => {
    const w = world();
    const peers: Peer[] = [];
    w.server.onRequest(({ peer }) => {
      peers.push(peer);
      return { code: CoapCode.CONTENT };
    });
    const other = new CoapReliableEndpoint({
      channel: w.net.dialler('10.0.0.5', 1111, { identity: { psk: 'device-5' } }),
      clock: w.clock,
      random: seededRandom(9),
    });
    await other.request(SERVER, get());
    assert.deepEqual(peers[0], { address: '10.0.0.5', port: 1111, identity: { psk: 'device-5' } });
    await other.close();
    await w.close();
  });

  it('ignores `confirmable` and sends Observe frames with no type', async () => {
    const w = world();
    const { relations } = observed(w);
    const got: CoapMessage[] = [];
    await w.client.observe(SERVER, get('o'), { onNotification: (m) => got.push(m) });
    await until(() => relations.length === 1);
    relations[0]!.notify({ code: CoapCode.CONTENT, payload: text('c') }, { confirmable: true });
    await until(() => got.length === 1);
    assert.equal(got[0]!.type, undefined);
    assert.equal(
      w.clientSaw.filter((m) => m.code === CoapCode.CONTENT).length,
      2,
      'no acknowledgements or retransmissions',
    );
    assert.equal(w.serverSaw.filter((m) => m.code === CoapCode.EMPTY).length, 0);
    await w.close();
  });
});

describe('CoapReliableEndpoint over TcpChannel', () => {
  it('exchanges CSMs, requests, pings and a release over real sockets', async () => {
    const { TcpChannel } = await import('../../src/transport/tcp-channel.js');
    const listening = await TcpChannel.listen({ address: '127.0.0.1', port: 0, maxFrameSize: 9000 });
    const server = new CoapReliableEndpoint({ channel: listening, maxMessageSize: 9000 });
    const client = new CoapReliableEndpoint({ channel: TcpChannel.dialer({ maxFrameSize: 9000 }) });
    try {
      server.onRequest(({ message }) => ({ code: CoapCode.CONTENT, payload: message.payload }));
      const target = { address: '127.0.0.1', port: listening.local!.port };
      // Larger than the base 1152: held until the server CSM says 9000.
      const r = await client.request(target, { code: CoapCode.POST, payload: new Uint8Array(5000).fill(7) });
      assert.equal(r.code, CoapCode.CONTENT);
      assert.equal(r.payload.length, 5000);
      assert.equal(client.peerCapabilities(target)?.maxMessageSize, 9000);
      await client.ping(target);
      client.release(target, 'bye');
      // The dialler connects again for the next request.
      await until(() => client.connectedPeers.length === 0);
      const again = await client.request(target, { code: CoapCode.GET });
      assert.equal(again.code, CoapCode.CONTENT);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
