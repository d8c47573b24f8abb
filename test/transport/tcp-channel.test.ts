// TcpChannel over real sockets on 127.0.0.1: RFC 8323 framing of a byte stream cut anywhere,
// one Peer object per connection, the dialler's queue, close reasons and the limits.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { CoapCode, type CoapMessage } from '../../src/coap/message.js';
import { coapTcpFrameLength, csm, encodeCoapTcp } from '../../src/coap/tcp-codec.js';
import { CoapFormatError } from '../../src/coap/udp-codec.js';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelSendError,
  isConnectionChannel,
  type ChannelError,
  type ConnectionCloseReason,
  type Peer,
} from '../../src/transport/channel.js';
import { TcpChannel } from '../../src/transport/tcp-channel.js';
import { waitUntil } from '../support/peer-process.js';

const WAIT_MS = 3000;
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function frame(code: number, payloadLength: number, token = Uint8Array.of(0xa1, 0xb2)): Uint8Array {
  const payload = new Uint8Array(payloadLength).map((_, i) => (i * 7 + payloadLength) & 0xff);
  const msg: CoapMessage = { code, messageId: 0, token, options: [], payload };
  return encodeCoapTcp(msg);
}

/** Frames with 0-, 1- and 2-byte extended lengths (RFC 8323 §3.2) and a signal. */
const FRAMES = [
  encodeCoapTcp(csm({ maxMessageSize: 1152, blockWiseTransfer: true })),
  frame(CoapCode.GET, 0, new Uint8Array(0)),
  frame(CoapCode.CONTENT, 20),
  frame(CoapCode.CONTENT, 300, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
];
const STREAM = Buffer.concat(FRAMES);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Watch {
  frames: { peer: Peer; bytes: Buffer }[];
  connects: Peer[];
  disconnects: { peer: Peer; reason: ConnectionCloseReason; error?: Error }[];
  errors: ChannelError[];
}

function watch(channel: TcpChannel): Watch {
  const w: Watch = { frames: [], connects: [], disconnects: [], errors: [] };
  // Copies: a delivery may be a view into the socket's chunk.
  channel.onReceive((peer, bytes) => w.frames.push({ peer, bytes: Buffer.from(bytes) }));
  channel.onConnect((peer) => w.connects.push(peer));
  channel.onDisconnect((peer, reason, error) => w.disconnects.push({ peer, reason, error }));
  channel.onError((e) => w.errors.push(e));
  return w;
}

const until = (test: () => boolean, what: string): Promise<void> => waitUntil(test, WAIT_MS, () => what);

async function listener(options: Parameters<typeof TcpChannel.listen>[0] = {}): Promise<TcpChannel> {
  const channel = await TcpChannel.listen({ address: '127.0.0.1', port: 0, ...options });
  cleanups.push(() => channel.close());
  return channel;
}

function dialer(options: Parameters<typeof TcpChannel.dialer>[0] = {}): TcpChannel {
  const channel = TcpChannel.dialer(options);
  cleanups.push(() => channel.close());
  return channel;
}

interface RawClient {
  socket: net.Socket;
  /** Our local port (the socket forgets it once closed). */
  port: number;
  received: () => Buffer;
  closed: () => boolean;
  ended: () => boolean;
}

/** A plain socket we drive byte by byte, standing for a peer we did not write. */
async function rawClient(port: number): Promise<RawClient> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  cleanups.push(() => socket.destroy());
  const chunks: Buffer[] = [];
  let closed = false;
  let ended = false;
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    port: socket.localPort!,
    received: () => Buffer.concat(chunks),
    closed: () => closed,
    ended: () => ended,
  };
}

async function write(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.write(bytes, (e) => (e ? reject(e) : resolve())));
}

describe('coapTcpFrameLength', () => {
  it('gives the frame length once the header is complete, -1 before', () => {
    const long = FRAMES[3]!; // Len 14: two extended length bytes
    assert.equal(coapTcpFrameLength(long, 0, 1, 2000), -1);
    assert.equal(coapTcpFrameLength(long, 0, 2, 2000), -1);
    assert.equal(coapTcpFrameLength(long, 0, 3, 2000), long.length);
    assert.equal(coapTcpFrameLength(FRAMES[1]!, 0, 1, 2000), FRAMES[1]!.length);
    assert.throws(
      () => coapTcpFrameLength(long, 0, 3, 100),
      (e: unknown) => e instanceof CoapFormatError,
    );
    assert.throws(() => coapTcpFrameLength(Uint8Array.of(0x09), 0, 1, 100), CoapFormatError);
  });
});

describe('TcpChannel framing', () => {
  it('is a ConnectionChannel listening on an ephemeral port', async () => {
    const server = await listener();
    assert.equal(server.kind, 'tcp');
    assert.ok(isConnectionChannel(server));
    assert.equal(server.local?.address, '127.0.0.1');
    assert.ok((server.local?.port ?? 0) > 0);
  });

  it('delivers whole frames in order, whatever the split, with one Peer per connection', async () => {
    const server = await listener();
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await until(() => w.connects.length === 1, 'onConnect');
    const connected = w.connects[0]!;
    assert.deepEqual(connected, { address: '127.0.0.1', port: client.port });
    let expected = 0;
    // Every split point of the stream of four frames, the two halves written apart.
    for (let at = 1; at < STREAM.length; at++) {
      await write(client.socket, STREAM.subarray(0, at));
      if (at % 8 === 0) await sleep(1);
      else await new Promise((r) => setImmediate(r));
      await write(client.socket, STREAM.subarray(at));
      expected += FRAMES.length;
    }
    // Byte by byte, then everything in one write.
    for (let i = 0; i < STREAM.length; i++) {
      await write(client.socket, STREAM.subarray(i, i + 1));
      if (i % 16 === 0) await sleep(1);
    }
    expected += FRAMES.length;
    await write(client.socket, Buffer.concat([STREAM, STREAM, STREAM]));
    expected += 3 * FRAMES.length;
    await until(() => w.frames.length >= expected, `${expected} frames, got ${w.frames.length}`);
    assert.equal(w.frames.length, expected);
    w.frames.forEach((f, i) => {
      assert.deepEqual(f.bytes, Buffer.from(FRAMES[i % FRAMES.length]!), `frame ${i}`);
      assert.equal(f.peer, connected, 'the same Peer object for every frame');
    });
    assert.deepEqual(w.disconnects, []);
  });

  it('gives IPv4 peers of a dual-stack listener in plain form', async (t) => {
    let server: TcpChannel;
    try {
      server = await TcpChannel.listen({ address: '::', port: 0 });
    } catch (e) {
      t.skip(`no IPv6 here: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    cleanups.push(() => server.close());
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await until(() => w.connects.length === 1, 'onConnect');
    assert.deepEqual(w.connects[0], { address: '127.0.0.1', port: client.port });
    server.send({ address: '127.0.0.1', port: client.port }, FRAMES[0]!);
    await until(() => client.received().length === FRAMES[0]!.length, 'the frame');
  });

  it('gives each connection its own Peer and sends back over it, by an equal peer too', async () => {
    const server = await listener();
    const w = watch(server);
    const a = await rawClient(server.local!.port);
    const b = await rawClient(server.local!.port);
    await until(() => w.connects.length === 2, 'two connections');
    assert.notEqual(w.connects[0], w.connects[1]);
    assert.equal(server.connections, 2);
    const toA = w.connects.find((p) => p.port === a.port)!;
    server.send(toA, FRAMES[2]!);
    server.send({ address: '127.0.0.1', port: b.port }, FRAMES[0]!);
    await until(() => a.received().length === FRAMES[2]!.length, 'the frame at a');
    await until(() => b.received().length === FRAMES[0]!.length, 'the frame at b');
    assert.deepEqual(a.received(), Buffer.from(FRAMES[2]!));
    assert.deepEqual(b.received(), Buffer.from(FRAMES[0]!));
  });

  it('refuses an oversized frame before buffering it: disconnect with framing', async () => {
    const server = await listener({ maxFrameSize: 64 });
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await until(() => w.connects.length === 1, 'onConnect');
    await write(client.socket, FRAMES[0]!); // a good frame first
    await write(client.socket, Uint8Array.of(0xe0, 0xff)); // Len 14 with the first length byte only
    await sleep(20);
    assert.equal(w.disconnects.length, 0, 'the length is not complete yet');
    await write(client.socket, Uint8Array.of(0xff)); // 2 + 2 + 65804 bytes declared
    await until(() => w.disconnects.length === 1, 'onDisconnect');
    const [gone] = w.disconnects;
    assert.equal(gone!.reason, 'framing');
    assert.equal(gone!.peer, w.connects[0]);
    assert.ok(gone!.error instanceof CoapFormatError);
    assert.equal(gone!.error.reason, 'too-large');
    assert.equal(w.frames.length, 1);
    await until(() => client.closed(), 'the socket closed');
    assert.equal(server.connections, 0);
  });

  it('refuses a frame with a token length over 8', async () => {
    const server = await listener();
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await write(client.socket, Uint8Array.of(0x09, 0x01));
    await until(() => w.disconnects.length === 1, 'onDisconnect');
    assert.equal(w.disconnects[0]!.reason, 'framing');
    assert.equal((w.disconnects[0]!.error as CoapFormatError).reason, 'bad-token-length');
  });
});

describe('TcpChannel connections', () => {
  it('the dialler connects on the first send, queues until up, and keeps one Peer', async () => {
    const server = await listener();
    const sw = watch(server);
    const client = dialer();
    const cw = watch(client);
    const target = { address: '127.0.0.1', port: server.local!.port };
    assert.equal(client.local, undefined);
    client.send(target, FRAMES[0]!);
    client.send(target, FRAMES[1]!);
    client.send({ ...target }, FRAMES[3]!);
    assert.equal(client.connections, 1, 'one connection for equal peers');
    await until(() => sw.frames.length === 3, 'three frames at the server');
    sw.frames.forEach((f, i) => assert.deepEqual(f.bytes, Buffer.from(FRAMES[[0, 1, 3][i]!]!)));
    assert.equal(cw.connects.length, 1);
    const up = cw.connects[0]!;
    assert.deepEqual(up, target);
    server.send(sw.frames[0]!.peer, FRAMES[2]!);
    await until(() => cw.frames.length === 1, 'the reply');
    assert.equal(cw.frames[0]!.peer, up);
    assert.deepEqual(cw.frames[0]!.bytes, Buffer.from(FRAMES[2]!));
    // A later send rides the same connection.
    client.send(target, FRAMES[2]!);
    await until(() => sw.frames.length === 4, 'a fourth frame');
    assert.equal(sw.connects.length, 1);
    assert.deepEqual([...cw.errors, ...sw.errors], []);
  });

  it('frames sent from onConnect go before the queued ones', async () => {
    const server = await listener();
    const sw = watch(server);
    const client = dialer();
    client.onConnect((peer) => client.send(peer, FRAMES[0]!));
    client.send({ address: '127.0.0.1', port: server.local!.port }, FRAMES[2]!);
    await until(() => sw.frames.length === 2, 'two frames');
    assert.deepEqual(
      sw.frames.map((f) => f.bytes),
      [Buffer.from(FRAMES[0]!), Buffer.from(FRAMES[2]!)],
    );
  });

  it('a listener reports a send to a peer without a connection, never throws', async () => {
    const server = await listener();
    const w = watch(server);
    server.send({ address: '127.0.0.1', port: 9 }, FRAMES[0]!);
    assert.equal(w.errors.length, 0, 'reported later, not during send');
    await until(() => w.errors.length === 1, 'the error');
    const [e] = w.errors;
    assert.ok(e instanceof ChannelSendError);
    assert.equal(e.failure, 'network');
    assert.equal(e.peer?.port, 9);
  });

  it('a refused dial ends with onDisconnect error and reports the queued frames', async () => {
    const probe = await listener();
    const port = probe.local!.port;
    await probe.close(); // nothing listens there now
    const client = dialer();
    const w = watch(client);
    client.send({ address: '127.0.0.1', port }, FRAMES[0]!);
    client.send({ address: '127.0.0.1', port }, FRAMES[1]!);
    await until(() => w.disconnects.length === 1 && w.errors.length === 1, 'the failure');
    const [gone] = w.disconnects;
    assert.equal(gone!.reason, 'error');
    assert.equal((gone!.error as ChannelError).systemCode, 'ECONNREFUSED');
    assert.ok(w.errors[0] instanceof ChannelSendError);
    assert.match(w.errors[0].message, /2 queued frame/);
    assert.equal(w.connects.length, 0);
    assert.equal(client.connections, 0);
  });

  it('a dialler refuses a peer that is not an IP literal', async () => {
    const client = dialer();
    const w = watch(client);
    client.send({ address: 'localhost', port: 5683 }, FRAMES[0]!);
    client.send({ address: '127.0.0.1', port: 0 }, FRAMES[0]!);
    await until(() => w.errors.length === 2, 'two errors');
    for (const e of w.errors) assert.equal((e as ChannelSendError).failure, 'invalid-peer');
    assert.equal(client.connections, 0);
  });

  it('bounds the queue of a connection not yet up', async () => {
    const server = await listener();
    const sw = watch(server);
    const client = dialer({ maxQueuedBytes: 400 });
    const w = watch(client);
    const target = { address: '127.0.0.1', port: server.local!.port };
    client.send(target, FRAMES[3]!); // 311 bytes
    client.send(target, FRAMES[3]!); // over 400: refused
    client.send(target, FRAMES[0]!);
    await until(() => sw.frames.length === 2, 'the queued frames');
    assert.equal(w.errors.length, 1);
    assert.match(w.errors[0]!.message, /queue/);
  });

  it('reports the peer closing as peer-closed, and disconnect() as closed', async () => {
    const server = await listener();
    const w = watch(server);
    const a = await rawClient(server.local!.port);
    const b = await rawClient(server.local!.port);
    await until(() => w.connects.length === 2, 'two connections');
    a.socket.end();
    await until(() => w.disconnects.length === 1, 'a gone');
    assert.equal(w.disconnects[0]!.reason, 'peer-closed');
    assert.equal(w.disconnects[0]!.peer.port, a.port);
    const peerB = w.connects.find((p) => p.port === b.port)!;
    server.send(peerB, FRAMES[3]!);
    server.disconnect(peerB); // after writing what was sent
    await until(() => w.disconnects.length === 2, 'b gone');
    assert.equal(w.disconnects[1]!.reason, 'closed');
    assert.equal(w.disconnects[1]!.peer, peerB);
    await until(() => b.ended(), 'b sees the end');
    assert.deepEqual(b.received(), Buffer.from(FRAMES[3]!));
    server.disconnect(peerB); // no connection: a no-op
    assert.equal(w.disconnects.length, 2);
    assert.equal(server.connections, 0);
  });

  it('reports a reset connection as error', async () => {
    const server = await listener();
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await until(() => w.connects.length === 1, 'onConnect');
    client.socket.resetAndDestroy();
    await until(() => w.disconnects.length === 1, 'onDisconnect');
    assert.equal(w.disconnects[0]!.reason, 'error');
    assert.equal((w.disconnects[0]!.error as ChannelError).systemCode, 'ECONNRESET');
  });

  it('ends idle connections after idleTimeout', async () => {
    const server = await listener({ idleTimeout: 150 });
    const w = watch(server);
    const started = Date.now();
    const busy = await rawClient(server.local!.port);
    const idle = await rawClient(server.local!.port);
    await until(() => w.connects.length === 2, 'two connections');
    const timer = setInterval(() => busy.socket.write(FRAMES[1]!), 40);
    try {
      await until(() => w.disconnects.length === 1, 'the idle one ends');
      assert.ok(Date.now() - started >= 140);
      assert.equal(w.disconnects[0]!.reason, 'idle');
      assert.equal(w.disconnects[0]!.peer.port, idle.port);
      await until(() => idle.closed(), 'its socket closed');
      assert.equal(server.connections, 1);
    } finally {
      clearInterval(timer);
    }
  });

  it('evicts the least recently active connection past maxConnections', async () => {
    const server = await listener({ maxConnections: 2 });
    const w = watch(server);
    const a = await rawClient(server.local!.port);
    const b = await rawClient(server.local!.port);
    await until(() => w.connects.length === 2, 'two connections');
    await write(a.socket, FRAMES[1]!); // a is now more recent than b
    await until(() => w.frames.length === 1, 'a frame from a');
    const c = await rawClient(server.local!.port);
    await until(() => w.connects.length === 3 && w.disconnects.length === 1, 'c in, one out');
    assert.equal(w.disconnects[0]!.reason, 'evicted');
    assert.equal(w.disconnects[0]!.peer.port, b.port);
    await until(() => b.closed(), 'b closed');
    assert.equal(server.connections, 2);
    assert.equal(a.closed() || c.closed(), false);
  });

  it('drops a connection whose peer does not read past maxWriteBuffer', async () => {
    const server = await listener({ maxWriteBuffer: 256 * 1024 });
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    client.socket.pause();
    await until(() => w.connects.length === 1, 'onConnect');
    const big = frame(CoapCode.CONTENT, 64 * 1024);
    const peer = w.connects[0]!;
    for (let i = 0; i < 2000 && w.disconnects.length === 0; i++) server.send(peer, big);
    assert.equal(w.disconnects.length, 1, 'dropped before 128 MB were buffered');
    assert.equal(w.disconnects[0]!.reason, 'error');
    assert.ok(w.disconnects[0]!.error instanceof ChannelSendError);
    assert.match(w.disconnects[0]!.error.message, /does not read/);
  });

  it('close() ends every connection, is idempotent, and send then throws', async () => {
    const server = await TcpChannel.listen({ address: '127.0.0.1', port: 0 });
    const w = watch(server);
    const client = await rawClient(server.local!.port);
    await until(() => w.connects.length === 1, 'onConnect');
    const first = server.close();
    assert.equal(server.close(), first);
    await first;
    assert.equal(w.disconnects.length, 1);
    assert.equal(w.disconnects[0]!.reason, 'closed');
    await until(() => client.closed(), 'the client sees the close');
    assert.throws(() => server.send(w.connects[0]!, FRAMES[0]!), ChannelClosedError);
    const refused = net.connect({ host: '127.0.0.1', port: server.local!.port });
    const error = await new Promise<Error>((resolve) => refused.once('error', resolve));
    assert.equal((error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  });

  it('rejects bad options and a port in use', async () => {
    await assert.rejects(
      TcpChannel.listen({ address: '127.0.0.1', port: 0, maxFrameSize: 1 }),
      ChannelConfigError,
    );
    await assert.rejects(TcpChannel.listen({ address: 'localhost', port: 0 }), ChannelConfigError);
    assert.throws(() => TcpChannel.dialer({ idleTimeout: -1 }), ChannelConfigError);
    const server = await listener();
    await assert.rejects(
      TcpChannel.listen({ address: '127.0.0.1', port: server.local!.port }),
      (e: unknown) => {
        assert.ok(e instanceof ChannelBindError);
        assert.equal(e.systemCode, 'EADDRINUSE');
        return true;
      },
    );
  });
});
