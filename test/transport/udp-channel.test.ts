import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelHandlerError,
  ChannelSendError,
  ChannelUnsupportedError,
  peerKey,
  type ChannelError,
  type Peer,
} from '../../src/transport/channel.js';
import { MulticastError, UdpChannel, type UdpChannelOptions } from '../../src/transport/udp-channel.js';

const WAIT_MS = 2000;
const open: UdpChannel[] = [];

after(async () => {
  await Promise.all(open.map((c) => c.close()));
});

async function udp(options: UdpChannelOptions): Promise<UdpChannel> {
  const channel = await UdpChannel.open(options);
  open.push(channel);
  return channel;
}

interface Inbox {
  next(): Promise<{ peer: Peer; bytes: Uint8Array }>;
  readonly count: number;
}

/** Collects datagrams; next() waits for the following one, at most WAIT_MS. */
function inbox(channel: UdpChannel): Inbox {
  const queue: { peer: Peer; bytes: Uint8Array }[] = [];
  const waiters: ((v: { peer: Peer; bytes: Uint8Array }) => void)[] = [];
  let count = 0;
  channel.onReceive((peer, bytes) => {
    count++;
    const waiter = waiters.shift();
    if (waiter) waiter({ peer, bytes });
    else queue.push({ peer, bytes });
  });
  return {
    get count() {
      return count;
    },
    next() {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no datagram within ${WAIT_MS} ms`)), WAIT_MS);
        waiters.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    },
  };
}

/** Collects errors; next() waits for the following one, at most WAIT_MS. */
function errorInbox(channel: UdpChannel): { next(): Promise<ChannelError>; all: ChannelError[] } {
  const all: ChannelError[] = [];
  let waiter: ((e: ChannelError) => void) | undefined;
  let read = 0;
  channel.onError((e) => {
    all.push(e);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      read++;
      w(e);
    }
  });
  return {
    all,
    next() {
      const ready = all[read];
      if (ready) {
        read++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no error within ${WAIT_MS} ms`)), WAIT_MS);
        waiter = (e) => {
          clearTimeout(timer);
          resolve(e);
        };
      });
    },
  };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const untext = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Opens on ::1, or skips (fails under CI=true) when this machine has no IPv6 loopback. */
async function ipv6OrSkip(
  t: TestContext,
  options: Partial<UdpChannelOptions> = {},
): Promise<UdpChannel | undefined> {
  try {
    return await udp({ address: '::1', port: 0, ...options });
  } catch (e) {
    if (!(e instanceof ChannelBindError)) throw e;
    const msg = `no IPv6 loopback on this machine (binding ::1 failed: ${e.systemCode ?? e.message})`;
    if (process.env.CI === 'true') throw new Error(msg, { cause: e });
    t.skip(msg);
    return undefined;
  }
}

describe('UdpChannel', () => {
  it('round-trips over IPv4 loopback, with the sender as peer', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    assert.equal(a.kind, 'udp');
    assert.equal(a.type, 'udp4');
    assert.equal(a.local.address, '127.0.0.1');
    assert.ok(a.local.port > 0 && a.local.port !== b.local.port);
    const atA = inbox(a);
    const atB = inbox(b);
    a.send({ address: '127.0.0.1', port: b.local.port }, text('ping'));
    const got = await atB.next();
    assert.equal(untext(got.bytes), 'ping');
    assert.deepEqual(got.peer, { address: '127.0.0.1', port: a.local.port });
    b.send(got.peer, text('pong'));
    const back = await atA.next();
    assert.equal(untext(back.bytes), 'pong');
    assert.equal(peerKey(back.peer), `127.0.0.1:${b.local.port}`);
  });

  it('hands out one frozen Peer object per sender, and answers it through the cached address', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    const c = await udp({ address: '127.0.0.1', port: 0 });
    const atA = inbox(a);
    b.send({ address: '127.0.0.1', port: a.local.port }, text('1'));
    c.send({ address: '127.0.0.1', port: a.local.port }, text('2'));
    b.send({ address: '127.0.0.1', port: a.local.port }, text('3'));
    const got = [await atA.next(), await atA.next(), await atA.next()];
    const from = (s: string) => got.find((g) => untext(g.bytes) === s)!.peer;
    assert.equal(from('1'), from('3'), 'the same object for the same sender');
    assert.notEqual(from('1'), from('2'));
    assert.deepEqual(from('2'), { address: '127.0.0.1', port: c.local.port });
    assert.ok(Object.isFrozen(from('1')));
    const atB = inbox(b);
    a.send(from('1'), text('reply'));
    a.send(from('1'), text('again'));
    assert.equal(untext((await atB.next()).bytes), 'reply');
    assert.equal(untext((await atB.next()).bytes), 'again');
  });

  it('sends to IP literals without a DNS lookup (dgram would test each and defer it a tick)', async (t) => {
    const calls: string[] = [];
    const real = dns.lookup;
    t.mock.method(dns, 'lookup', ((host: string, ...rest: unknown[]) => {
      calls.push(host);
      return (real as (...args: unknown[]) => unknown)(host, ...rest);
    }) as typeof dns.lookup);
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    const atB = inbox(b);
    calls.length = 0;
    for (let i = 0; i < 3; i++) a.send({ address: '127.0.0.1', port: b.local.port }, text(`n${i}`));
    for (let i = 0; i < 3; i++) assert.equal(untext((await atB.next()).bytes), `n${i}`);
    assert.deepEqual(calls, []);
  });

  it('carries a large datagram (65000 bytes) and an empty one', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    const atB = inbox(b);
    const big = new Uint8Array(65000).map((_, i) => i & 0xff);
    a.send({ address: '127.0.0.1', port: b.local.port }, big);
    a.send({ address: '127.0.0.1', port: b.local.port }, new Uint8Array(0));
    assert.deepEqual((await atB.next()).bytes, big);
    assert.equal((await atB.next()).bytes.length, 0);
  });

  it('round-trips over IPv6 loopback', async (t) => {
    const a = await ipv6OrSkip(t);
    if (!a) return;
    const b = await udp({ address: '::1', port: 0 });
    assert.equal(a.type, 'udp6');
    assert.equal(a.local.family, 'IPv6');
    const atA = inbox(a);
    const atB = inbox(b);
    // A long-hand spelling of ::1 reaches it too.
    a.send({ address: '0:0:0:0:0:0:0:1', port: b.local.port }, text('hello6'));
    const got = await atB.next();
    assert.equal(untext(got.bytes), 'hello6');
    assert.deepEqual(got.peer, { address: '::1', port: a.local.port });
    assert.equal(peerKey(got.peer), `[::1]:${a.local.port}`);
    b.send(got.peer, text('back6'));
    assert.equal(untext((await atA.next()).bytes), 'back6');
  });

  it('reports IPv4 peers of a dual-stack socket in plain IPv4 and answers them', async (t) => {
    const probe = await ipv6OrSkip(t);
    if (!probe) return;
    const server = await udp({ address: '::', port: 0 });
    const client = await udp({ address: '127.0.0.1', port: 0 });
    const atServer = inbox(server);
    const atClient = inbox(client);
    client.send({ address: '127.0.0.1', port: server.local.port }, text('v4 in'));
    const got = await atServer.next();
    assert.deepEqual(got.peer, { address: '127.0.0.1', port: client.local.port }, 'not ::ffff:127.0.0.1');
    assert.equal(peerKey(got.peer), `127.0.0.1:${client.local.port}`);
    server.send(got.peer, text('v4 out'));
    const back = await atClient.next();
    assert.equal(untext(back.bytes), 'v4 out');
    assert.deepEqual(back.peer, { address: '127.0.0.1', port: server.local.port });
    // A mapped spelling of the peer works the same.
    server.send({ address: '::ffff:127.0.0.1', port: client.local.port }, text('mapped'));
    assert.equal(untext((await atClient.next()).bytes), 'mapped');
    // And the same socket still speaks IPv6.
    const atProbe = inbox(probe);
    server.send({ address: '::1', port: probe.local.port }, text('v6 out'));
    assert.equal(untext((await atProbe.next()).bytes), 'v6 out');
  });

  it('refuses peers of the wrong family through the error handler', async (t) => {
    const v4 = await udp({ address: '127.0.0.1', port: 0 });
    const errs4 = errorInbox(v4);
    v4.send({ address: '::1', port: 5683 }, text('x'));
    const e4 = await errs4.next();
    assert.ok(e4 instanceof ChannelSendError);
    assert.equal(e4.failure, 'address-family');
    // A mapped IPv4 address is still IPv4: an IPv4 socket reaches it.
    const atV4 = inbox(v4);
    const other = await udp({ address: '127.0.0.1', port: 0 });
    other.send({ address: '::ffff:127.0.0.1', port: v4.local.port }, text('ok'));
    assert.equal(untext((await atV4.next()).bytes), 'ok');

    const v6only = await ipv6OrSkip(t, { address: '::', ipv6Only: true });
    if (!v6only) return;
    const errs6 = errorInbox(v6only);
    v6only.send({ address: '127.0.0.1', port: v4.local.port }, text('x'));
    const e6 = await errs6.next();
    assert.ok(e6 instanceof ChannelSendError);
    assert.equal(e6.failure, 'address-family');
  });

  it('delivers send errors to the handler instead of throwing, and keeps working', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    const errs = errorInbox(a);
    const atB = inbox(b);
    const to = { address: '127.0.0.1', port: b.local.port };
    assert.doesNotThrow(() => a.send({ address: '127.0.0.1', port: 0 }, text('x')));
    assert.doesNotThrow(() => a.send({ address: 'server.example', port: 5683 }, text('x')));
    assert.doesNotThrow(() => a.send(to, new Uint8Array(70000)));
    assert.equal(errs.all.length, 0, 'never synchronously');

    const badPort = await errs.next();
    assert.ok(badPort instanceof ChannelSendError);
    assert.equal(badPort.failure, 'invalid-peer');
    assert.equal(badPort.peer?.port, 0);
    const badHost = await errs.next();
    assert.ok(badHost instanceof ChannelSendError);
    assert.equal(badHost.failure, 'invalid-peer');
    const tooBig = await errs.next();
    assert.ok(tooBig instanceof ChannelSendError);
    assert.equal(tooBig.failure, 'too-large');
    assert.equal(tooBig.systemCode, 'EMSGSIZE');
    assert.equal(tooBig.code, 'PETREL_ERR_CHANNEL_SEND');
    assert.deepEqual(tooBig.peer, to);

    a.send(to, text('still alive'));
    assert.equal(untext((await atB.next()).bytes), 'still alive');
    assert.equal(atB.count, 1, 'the oversized datagram never arrived');
  });

  it('survives a throwing receive handler', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    b.onReceive(() => {
      throw new Error('handler bug');
    });
    const atB = inbox(b);
    const errs = errorInbox(b);
    a.send({ address: '127.0.0.1', port: b.local.port }, text('one'));
    a.send({ address: '127.0.0.1', port: b.local.port }, text('two'));
    assert.equal(untext((await atB.next()).bytes), 'one');
    assert.equal(untext((await atB.next()).bytes), 'two');
    const e = await errs.next();
    assert.ok(e instanceof ChannelHandlerError);
    assert.equal(e.peer?.port, a.local.port);
  });

  it('closes: send and multicast throw ChannelClosedError, close twice is fine', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const port = a.local.port;
    const first = a.close();
    assert.equal(a.close(), first);
    await first;
    await a.close();
    assert.throws(() => a.send({ address: '127.0.0.1', port: 9 }, text('x')), ChannelClosedError);
    assert.throws(
      () => a.send({ address: '127.0.0.1', port: 9 }, text('x')),
      (e) => e instanceof ChannelClosedError && e.code === 'PETREL_ERR_CHANNEL_CLOSED',
    );
    assert.throws(() => a.joinGroup('224.0.1.187'), ChannelClosedError);
    assert.throws(() => a.receiveBufferSize, ChannelClosedError);
    assert.equal(a.local.port, port, 'local address stays readable');
    // The port is free again.
    const again = await udp({ address: '127.0.0.1', port });
    assert.equal(again.local.port, port);
  });

  it('delivers nothing after close', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    const b = await udp({ address: '127.0.0.1', port: 0 });
    let received = 0;
    b.onReceive(() => received++);
    a.send({ address: '127.0.0.1', port: b.local.port }, text('late'));
    await b.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(received, 0);
  });

  it('fails to bind with typed errors', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0 });
    await assert.rejects(
      UdpChannel.open({ address: '127.0.0.1', port: a.local.port }),
      (e) =>
        e instanceof ChannelBindError &&
        e.systemCode === 'EADDRINUSE' &&
        e.code === 'PETREL_ERR_CHANNEL_BIND',
    );
    await assert.rejects(UdpChannel.open({ address: 'localhost', port: 0 }), ChannelConfigError);
    await assert.rejects(UdpChannel.open({ address: '127.0.0.1', port: 65536 }), ChannelConfigError);
    await assert.rejects(
      UdpChannel.open({ address: '127.0.0.1', port: 0, type: 'udp6' }),
      ChannelConfigError,
    );
    await assert.rejects(
      UdpChannel.open({ address: '127.0.0.1', port: 0, ipv6Only: true }),
      ChannelConfigError,
    );
    await assert.rejects(
      UdpChannel.open({ address: '127.0.0.1', port: 0, receiveBufferSize: 0 }),
      ChannelConfigError,
    );
    // An address this host does not have.
    await assert.rejects(
      UdpChannel.open({ address: '192.0.2.1', port: 0 }),
      (e) => e instanceof ChannelBindError && e.systemCode === 'EADDRNOTAVAIL',
    );
  });

  it('sets and reports socket buffer sizes', async () => {
    const a = await udp({ address: '127.0.0.1', port: 0, receiveBufferSize: 65536, sendBufferSize: 65536 });
    assert.ok(a.receiveBufferSize >= 65536, `receive buffer ${a.receiveBufferSize}`);
    assert.ok(a.sendBufferSize >= 65536, `send buffer ${a.sendBufferSize}`);
    const small = await udp({ address: '127.0.0.1', port: 0, receiveBufferSize: 4096 });
    assert.ok(small.receiveBufferSize < a.receiveBufferSize);
  });

  it('knows which Node versions and platforms have reusePort', () => {
    const cases: [string, string, boolean][] = [
      ['20.19.0', 'linux', false],
      ['20.20.2', 'linux', false],
      ['22.11.0', 'linux', false],
      ['22.12.0', 'linux', true],
      ['v22.13.1', 'linux', true],
      ['23.0.0', 'linux', false],
      ['23.1.0', 'linux', true],
      ['24.0.0', 'linux', true],
      ['24.0.0', 'freebsd', true],
      ['24.0.0', 'win32', false],
      ['24.0.0', 'darwin', false],
    ];
    for (const [version, platform, expected] of cases) {
      assert.equal(UdpChannel.supportsReusePort(version, platform), expected, `${version} on ${platform}`);
    }
  });

  it('gives reusePort where supported, and a typed error naming the Node version where not', async () => {
    if (!UdpChannel.supportsReusePort()) {
      await assert.rejects(UdpChannel.open({ address: '127.0.0.1', port: 0, reusePort: true }), (e) => {
        assert.ok(e instanceof ChannelUnsupportedError);
        assert.equal(e.code, 'PETREL_ERR_CHANNEL_UNSUPPORTED');
        assert.equal(e.feature, 'reusePort');
        if (process.platform === 'linux') {
          assert.match(e.message, /22\.12/);
          assert.match(e.message, /23\.1/);
          assert.ok(e.message.includes(process.versions.node), e.message);
        }
        return true;
      });
      return;
    }
    const a = await udp({ address: '127.0.0.1', port: 0, reusePort: true });
    const b = await udp({ address: '127.0.0.1', port: a.local.port, reusePort: true });
    assert.equal(b.local.port, a.local.port);
  });

  it('refuses invalid multicast requests with MulticastError', async () => {
    const a = await udp({ address: '0.0.0.0', port: 0 });
    for (const group of ['127.0.0.1', '10.0.0.1', 'ff::1', 'not-a-group']) {
      assert.throws(
        () => a.joinGroup(group),
        (e) =>
          e instanceof MulticastError && e.code === 'PETREL_ERR_MULTICAST' && e.operation === 'joinGroup',
        group,
      );
    }
    assert.throws(() => a.leaveGroup('192.168.0.1'), MulticastError);
    assert.throws(() => a.joinGroup('ff02::fd'), /IPv4 socket/);
    assert.throws(() => a.setMulticastTTL(256), MulticastError);
    assert.throws(() => a.setMulticastTTL(-1), MulticastError);
    assert.throws(
      () => a.setMulticastInterface('not-an-interface'),
      (e) => e instanceof MulticastError && e.operation === 'setMulticastInterface',
    );
    // Leaving a group never joined is refused by the OS: still typed.
    assert.throws(
      () => a.leaveGroup('224.0.1.187'),
      (e) => e instanceof MulticastError && e.systemCode !== undefined,
    );
    assert.doesNotThrow(() => a.setMulticastTTL(1));
    assert.doesNotThrow(() => a.setMulticastLoopback(false));
  });
});
