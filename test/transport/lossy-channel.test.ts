import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import {
  ChannelClosedError,
  ChannelConfigError,
  ChannelEvents,
  ChannelSendError,
  type Channel,
  type ChannelError,
  type ChannelErrorHandler,
  type Peer,
  type ReceiveHandler,
} from '../../src/transport/channel.js';
import { LossyChannel, type LossyChannelOptions } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const PEER: Peer = { address: '10.0.0.2', port: 5683 };

/** An inner channel that records what is sent and lets the test inject what is received. */
class StubChannel implements Channel {
  readonly kind = 'udp' as const;
  readonly local = { address: '10.0.0.1', port: 5683 };
  readonly sent: { peer: Peer; bytes: Uint8Array }[] = [];
  readonly events = new ChannelEvents();
  closed = 0;
  send(peer: Peer, datagram: Uint8Array): void {
    if (this.closed > 0) throw new ChannelClosedError('udp');
    this.sent.push({ peer, bytes: datagram });
  }
  onReceive(handler: ReceiveHandler): void {
    this.events.onReceive(handler);
  }
  onError(handler: ChannelErrorHandler): void {
    this.events.onError(handler);
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

/** 4-byte big-endian sequence numbers, so order and duplicates are visible. */
const seq = (n: number): Uint8Array => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const unseq = (b: Uint8Array): number =>
  ((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0);

function lossy(options: LossyChannelOptions): { inner: StubChannel; ch: LossyChannel; clock: FakeClock } {
  const inner = new StubChannel();
  const clock = new FakeClock();
  return { inner, ch: new LossyChannel(inner, { clock, ...options }), clock };
}

/** Sends 0..n-1 through a send-side profile and returns the sequence numbers that reached the inner channel. */
function runSend(n: number, options: LossyChannelOptions): { order: number[]; ch: LossyChannel } {
  const { inner, ch, clock } = lossy(options);
  for (let i = 0; i < n; i++) ch.send(PEER, seq(i));
  clock.runAll();
  return { order: inner.sent.map((s) => unseq(s.bytes)), ch };
}

describe('LossyChannel', () => {
  it('passes everything through untouched with no faults configured', () => {
    const { inner, ch } = lossy({});
    const data = seq(7);
    ch.send(PEER, data);
    assert.equal(inner.sent.length, 1, 'synchronous when nothing is delayed');
    assert.equal(inner.sent[0]?.bytes, data);
    assert.equal(inner.sent[0]?.peer, PEER);
    assert.deepEqual(ch.stats.send, { seen: 1, dropped: 0, duplicated: 0, delayed: 0, delivered: 1 });
    assert.equal(ch.kind, 'udp');
    assert.deepEqual(ch.local, inner.local);
  });

  it('gives exact counts and order for a seed', () => {
    const options: LossyChannelOptions = {
      seed: 42,
      send: { drop: 0.2, duplicate: 0.1, delay: { min: 0, max: 50 } },
    };
    const first = runSend(1000, options);
    assert.deepEqual(first.ch.stats.send, {
      seen: 1000,
      dropped: 203,
      duplicated: 72,
      delayed: 869,
      delivered: 869,
    });
    // All 1000 leave at once with 0..50 ms delays: the earliest to arrive are pinned too.
    assert.deepEqual(first.order.slice(0, 12), [213, 562, 174, 239, 845, 560, 789, 901, 182, 730, 44, 970]);
    const again = runSend(1000, options);
    assert.deepEqual(again.order, first.order, 'same seed, same run');
    const other = runSend(1000, { ...options, seed: 43 });
    assert.notDeepEqual(other.order, first.order, 'another seed, another run');
  });

  it('loses close to the configured share over 10k datagrams', () => {
    for (const drop of [0.1, 0.3, 0.5]) {
      const { order, ch } = runSend(10_000, { seed: 7, send: { drop } });
      const rate = ch.stats.send.dropped / 10_000;
      assert.ok(Math.abs(rate - drop) < 0.015, `drop ${drop}: observed ${rate}`);
      assert.equal(order.length, 10_000 - ch.stats.send.dropped);
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'without delays, survivors keep their order',
      );
    }
  });

  it('delivers duplicates twice, as separate buffers', () => {
    const { inner, ch } = lossy({ seed: 3, receive: { duplicate: 1 } });
    const got: Uint8Array[] = [];
    ch.onReceive((peer, b) => {
      assert.equal(peer, PEER);
      got.push(b);
    });
    inner.events.deliver(PEER, seq(1));
    inner.events.deliver(PEER, seq(2));
    assert.deepEqual(got.map(unseq), [1, 1, 2, 2]);
    assert.notEqual(got[0], got[1]);
    assert.deepEqual(ch.stats.receive, { seen: 2, dropped: 0, duplicated: 2, delayed: 0, delivered: 4 });

    const half = runSend(2000, { seed: 5, send: { duplicate: 0.5 } });
    const counts = new Map<number, number>();
    for (const n of half.order) counts.set(n, (counts.get(n) ?? 0) + 1);
    const twice = [...counts.values()].filter((c) => c === 2).length;
    assert.equal(counts.size, 2000, 'nothing lost');
    assert.equal(twice, half.ch.stats.send.duplicated);
    assert.ok(twice > 900 && twice < 1100, `about half duplicated, got ${twice}`);
  });

  it('delays by the configured range and thereby reorders', () => {
    const { inner, ch, clock } = lossy({ seed: 11, send: { delay: { min: 10, max: 100 } } });
    for (let i = 0; i < 100; i++) ch.send(PEER, seq(i));
    assert.equal(inner.sent.length, 0);
    assert.equal(ch.pending, 100);
    clock.advance(9);
    assert.equal(inner.sent.length, 0, 'nothing before min');
    clock.advance(91);
    assert.equal(inner.sent.length, 100, 'everything by max');
    const order = inner.sent.map((s) => unseq(s.bytes));
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.notDeepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'reordered',
    );
    assert.equal(ch.stats.send.delayed, 100);
    assert.equal(ch.pending, 0);
  });

  it('delays only the configured share when a probability is given', () => {
    const { order, ch } = runSend(1000, { seed: 2, send: { delay: { min: 5, max: 5, probability: 0.25 } } });
    assert.ok(Math.abs(ch.stats.send.delayed - 250) < 50, `delayed ${ch.stats.send.delayed}`);
    assert.equal(order.length, 1000);
  });

  it('holds a copy of delayed datagrams, so the sender may reuse its buffer', () => {
    const { inner, ch, clock } = lossy({ seed: 1, send: { delay: { min: 1, max: 1 } } });
    const buf = seq(5);
    ch.send(PEER, buf);
    buf.fill(0);
    clock.runAll();
    assert.equal(unseq(inner.sent[0]?.bytes ?? new Uint8Array()), 5);
  });

  it('applies the receive profile to incoming datagrams', () => {
    const { inner, ch, clock } = lossy({ seed: 9, receive: { drop: 0.3, delay: { min: 1, max: 20 } } });
    const got: number[] = [];
    ch.onReceive((_p, b) => got.push(unseq(b)));
    for (let i = 0; i < 1000; i++) inner.events.deliver(PEER, seq(i));
    clock.runAll();
    const r = ch.stats.receive;
    assert.equal(got.length, r.delivered);
    assert.equal(r.delivered, r.seen - r.dropped + r.duplicated);
    assert.ok(Math.abs(r.dropped - 300) < 60, `dropped ${r.dropped}`);
    assert.deepEqual(ch.stats.send.seen, 0);
  });

  it('delivers nothing after close, cancels its timers and closes the inner channel once', async () => {
    const { inner, ch, clock } = lossy({
      seed: 4,
      send: { delay: { min: 5, max: 10 } },
      receive: { delay: { min: 5, max: 10 } },
    });
    const got: Uint8Array[] = [];
    ch.onReceive((_p, b) => got.push(b));
    for (let i = 0; i < 10; i++) {
      ch.send(PEER, seq(i));
      inner.events.deliver(PEER, seq(i));
    }
    assert.equal(clock.pending, 20);
    const closing = ch.close();
    assert.equal(ch.close(), closing);
    await closing;
    assert.equal(clock.pending, 0);
    assert.equal(ch.pending, 0);
    inner.events.deliver(PEER, seq(99)); // arrives after close
    clock.runAll();
    assert.equal(inner.sent.length, 0);
    assert.equal(got.length, 0);
    assert.equal(inner.closed, 1);
    assert.throws(() => ch.send(PEER, seq(1)), ChannelClosedError);
  });

  it('reports, not throws, when a delayed copy meets an inner channel closed on its own', async () => {
    const { inner, ch, clock } = lossy({ seed: 1, send: { delay: { min: 5, max: 5 } } });
    const errs: ChannelError[] = [];
    ch.onError((e) => errs.push(e));
    ch.send(PEER, seq(1));
    await inner.close();
    assert.doesNotThrow(() => clock.runAll());
    assert.ok(errs[0] instanceof ChannelClosedError);
  });

  it('forwards the inner channel errors', () => {
    const { inner, ch } = lossy({});
    const errs: ChannelError[] = [];
    ch.onError((e) => errs.push(e));
    const e = new ChannelSendError('too-large', PEER, 'EMSGSIZE');
    inner.events.error(e);
    assert.deepEqual(errs, [e]);
  });

  it('rejects impossible profiles with a typed error', () => {
    const inner = new StubChannel();
    assert.throws(() => new LossyChannel(inner, { send: { drop: 1.5 } }), ChannelConfigError);
    assert.throws(() => new LossyChannel(inner, { receive: { duplicate: -0.1 } }), ChannelConfigError);
    assert.throws(() => new LossyChannel(inner, { send: { drop: Number.NaN } }), ChannelConfigError);
    assert.throws(
      () => new LossyChannel(inner, { send: { delay: { min: 10, max: 5 } } }),
      ChannelConfigError,
    );
    assert.throws(
      () => new LossyChannel(inner, { send: { delay: { min: 0, max: 5, probability: 2 } } }),
      ChannelConfigError,
    );
  });

  it('works over a memory network in both directions', async () => {
    const net = new MemoryNetwork();
    const clock = new FakeClock();
    const a = new LossyChannel(net.channel('10.0.0.1', 1), { seed: 21, clock, send: { drop: 0.5 } });
    const b = net.channel('10.0.0.2', 1);
    const atB: number[] = [];
    b.onReceive((peer, bytes) => {
      atB.push(unseq(bytes));
      b.send(peer, bytes); // echo
    });
    const atA: number[] = [];
    a.onReceive((_p, bytes) => atA.push(unseq(bytes)));
    for (let i = 0; i < 200; i++) a.send({ address: '10.0.0.2', port: 1 }, seq(i));
    for (let round = 0; round < 10 && net.pending > 0; round++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(net.pending, 0);
    assert.equal(atB.length, 200 - a.stats.send.dropped);
    assert.deepEqual(atA, atB, 'echoes come back unharmed: only the send side is lossy');
    await a.close();
    await b.close();
  });
});
