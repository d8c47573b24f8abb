import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelSendError,
  type Channel,
  type ChannelError,
  type Peer,
} from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

interface Received {
  peer: Peer;
  bytes: Uint8Array;
}

function record(channel: Channel): Received[] {
  const got: Received[] = [];
  channel.onReceive((peer, b) => got.push({ peer, bytes: b }));
  return got;
}

function errors(channel: Channel): ChannelError[] {
  const got: ChannelError[] = [];
  channel.onError?.((e) => got.push(e));
  return got;
}

/** A scheduler the test steps by hand. */
function manualScheduler(): { schedule: (task: () => void) => void; run: () => number } {
  const tasks: (() => void)[] = [];
  return {
    schedule: (task) => void tasks.push(task),
    run: () => {
      let n = 0;
      while (tasks.length > 0) {
        tasks.shift()?.();
        n++;
      }
      return n;
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemoryNetwork', () => {
  it('delivers between channels asynchronously, with the sender as peer', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 5683);
    const b = net.channel('10.0.0.2', 5683);
    const atB = record(b);
    a.send({ address: '10.0.0.2', port: 5683 }, bytes(1, 2, 3));
    assert.equal(atB.length, 0, 'not delivered synchronously');
    assert.equal(net.pending, 1);
    await tick();
    assert.equal(atB.length, 1);
    assert.deepEqual(atB[0]?.peer, { address: '10.0.0.1', port: 5683 });
    assert.deepEqual(atB[0]?.bytes, bytes(1, 2, 3));
    // Reply to the peer as given.
    const atA = record(a);
    if (atB[0]) b.send(atB[0].peer, bytes(9));
    await tick();
    assert.deepEqual(
      atA.map((r) => [r.peer.address, r.peer.port, [...r.bytes]]),
      [['10.0.0.2', 5683, [9]]],
    );
    assert.deepEqual(net.stats, { sent: 2, delivered: 2, undeliverable: 0 });
    assert.equal(a.kind, 'memory');
    assert.deepEqual(a.local, { address: '10.0.0.1', port: 5683 });
  });

  it('keeps the order of sending across senders', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 1);
    const b = net.channel('10.0.0.2', 1);
    const c = net.channel('10.0.0.3', 1);
    const atC = record(c);
    const to = { address: '10.0.0.3', port: 1 };
    for (let i = 0; i < 10; i++) (i % 2 === 0 ? a : b).send(to, bytes(i));
    await tick();
    assert.deepEqual(
      atC.map((r) => r.bytes[0]),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(
      atC.map((r) => r.peer.address),
      [
        '10.0.0.1',
        '10.0.0.2',
        '10.0.0.1',
        '10.0.0.2',
        '10.0.0.1',
        '10.0.0.2',
        '10.0.0.1',
        '10.0.0.2',
        '10.0.0.1',
        '10.0.0.2',
      ],
    );
  });

  it('copies the datagram at send time', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 1);
    const atB = record(net.channel('10.0.0.2', 1));
    const buf = bytes(1, 2);
    a.send({ address: '10.0.0.2', port: 1 }, buf);
    buf[0] = 99;
    await tick();
    assert.deepEqual(atB[0]?.bytes, bytes(1, 2));
  });

  it('steps with an injected scheduler; replies wait for the next round', () => {
    const s = manualScheduler();
    const net = new MemoryNetwork({ schedule: s.schedule });
    const a = net.channel('10.0.0.1', 1);
    const b = net.channel('10.0.0.2', 1);
    const atA = record(a);
    b.onReceive((peer, data) => b.send(peer, data)); // echo
    a.send({ address: '10.0.0.2', port: 1 }, bytes(7));
    a.send({ address: '10.0.0.2', port: 1 }, bytes(8));
    assert.equal(net.pending, 2);
    assert.equal(net.flush(), 2);
    assert.equal(atA.length, 0, 'echoes are queued, not delivered in the same round');
    assert.equal(net.pending, 2);
    assert.equal(s.run(), 1, 'one round was scheduled for both sends');
    assert.deepEqual(
      atA.map((r) => r.bytes[0]),
      [7, 8],
    );
    assert.equal(net.pending, 0);
  });

  it('drops datagrams to nobody, and to a channel closed before they arrive', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 1);
    const b = net.channel('10.0.0.2', 1);
    const atB = record(b);
    a.send({ address: '10.0.0.9', port: 1 }, bytes(1));
    a.send({ address: '10.0.0.2', port: 2 }, bytes(2));
    a.send({ address: '10.0.0.2', port: 1 }, bytes(3));
    await b.close();
    await tick();
    assert.equal(atB.length, 0);
    assert.deepEqual(net.stats, { sent: 3, delivered: 0, undeliverable: 3 });
  });

  it('matches IPv4-mapped and differently spelt IPv6 destinations', async () => {
    const net = new MemoryNetwork();
    const v4 = net.channel('10.0.0.2', 5683);
    const v6 = net.channel('2001:db8::2', 5683);
    const from = net.channel('2001:db8::1', 5683);
    const at4 = record(v4);
    const at6 = record(v6);
    from.send({ address: '::ffff:10.0.0.2', port: 5683 }, bytes(4));
    from.send({ address: '2001:DB8:0:0:0:0:0:2', port: 5683 }, bytes(6));
    await tick();
    assert.deepEqual(at4[0]?.bytes, bytes(4));
    assert.deepEqual(at6[0]?.bytes, bytes(6));
    assert.equal(at6[0]?.peer.address, '2001:db8::1');
    assert.equal(net.channel('::ffff:10.0.0.7', 1).local.address, '10.0.0.7');
  });

  it('allocates distinct ephemeral ports and refuses a taken address', async () => {
    const net = new MemoryNetwork();
    const p1 = net.channel('10.0.0.1').local.port;
    const p2 = net.channel('10.0.0.1', 0).local.port;
    assert.ok(p1 >= 49152 && p2 >= 49152 && p1 !== p2);
    const taken = net.channel('10.0.0.1', 5683);
    assert.throws(
      () => net.channel('10.0.0.1', 5683),
      (e) => e instanceof ChannelBindError && e.systemCode === 'EADDRINUSE',
    );
    await taken.close();
    assert.doesNotThrow(() => net.channel('10.0.0.1', 5683), 'closing frees the address');
  });

  it('rejects bad bind options with a typed error', () => {
    const net = new MemoryNetwork();
    assert.throws(() => net.channel('server.example', 1), ChannelConfigError);
    assert.throws(() => net.channel('10.0.0.1', 70000), ChannelConfigError);
    assert.throws(() => net.channel('10.0.0.1', 1.5), ChannelConfigError);
  });

  it('reports bad peers and oversized datagrams to the error handler, never throwing', async () => {
    const net = new MemoryNetwork({ maxDatagramSize: 1152 });
    const a = net.channel('10.0.0.1', 1);
    const errs = errors(a);
    net.channel('10.0.0.2', 1);
    assert.doesNotThrow(() => a.send({ address: '10.0.0.2', port: 0 }, bytes(1)));
    assert.doesNotThrow(() => a.send({ address: 'nowhere', port: 1 }, bytes(1)));
    assert.doesNotThrow(() => a.send({ address: '10.0.0.2', port: 1 }, new Uint8Array(1153)));
    a.send({ address: '10.0.0.2', port: 1 }, new Uint8Array(1152));
    assert.equal(errs.length, 0, 'errors arrive asynchronously');
    await tick();
    assert.deepEqual(
      errs.map((e) => (e instanceof ChannelSendError ? [e.failure, e.systemCode] : e.code)),
      [
        ['invalid-peer', undefined],
        ['invalid-peer', undefined],
        ['too-large', 'EMSGSIZE'],
      ],
    );
    assert.equal(net.stats.delivered, 1);
  });

  it('closes: send throws ChannelClosedError, close twice is fine, nothing arrives after', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 1);
    const atA = record(a);
    const b = net.channel('10.0.0.2', 1);
    b.send({ address: '10.0.0.1', port: 1 }, bytes(1));
    const first = a.close();
    assert.equal(a.close(), first);
    await first;
    assert.throws(() => a.send({ address: '10.0.0.2', port: 1 }, bytes(1)), ChannelClosedError);
    await tick();
    assert.equal(atA.length, 0);
  });

  it('attaches the sender identity and kind it was given', async () => {
    const net = new MemoryNetwork();
    const device = net.channel('10.0.0.5', 40000, { identity: { psk: 'urn:imei:1' }, kind: 'dtls' });
    const server = net.channel('10.0.0.1', 5684, { kind: 'dtls' });
    const got = record(server);
    device.send({ address: '10.0.0.1', port: 5684 }, bytes(1));
    await tick();
    assert.deepEqual(got[0]?.peer, { address: '10.0.0.5', port: 40000, identity: { psk: 'urn:imei:1' } });
    assert.equal(device.kind, 'dtls');
    await device.close();
    assert.throws(
      () => device.send({ address: '10.0.0.1', port: 5684 }, bytes()),
      (e) => e instanceof ChannelClosedError && /dtls/.test(e.message),
    );
  });

  it('keeps running when a receive handler throws', async () => {
    const net = new MemoryNetwork();
    const a = net.channel('10.0.0.1', 1);
    const b = net.channel('10.0.0.2', 1);
    const errs = errors(b);
    let calls = 0;
    b.onReceive(() => {
      calls++;
      throw new Error('handler bug');
    });
    a.send({ address: '10.0.0.2', port: 1 }, bytes(1));
    a.send({ address: '10.0.0.2', port: 1 }, bytes(2));
    await tick();
    assert.equal(calls, 2);
    assert.deepEqual(
      errs.map((e) => e.code),
      ['PETREL_ERR_CHANNEL_HANDLER', 'PETREL_ERR_CHANNEL_HANDLER'],
    );
  });
});
