// notificationRateLimit: a device's notifications past its budget are dropped undecoded (CON ones
// still acknowledged), counted, and reported at a bounded rate; other devices are not affected.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, getBlock } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { NotificationsDroppedEvent } from '../../src/server/lwm2m-server.js';
import type { Observation, ObservationEndReason } from '../../src/server/observation.js';
import { PeerRateLimiter } from '../../src/server/peer-rate-limit.js';
import type { MemoryChannel } from '../../src/transport/memory-channel.js';
import { settle } from '../support/coap-driver.js';
import { RawDevice, SERVER, startHarness } from './server-harness.js';
import type { Harness } from './server-harness.js';

const utf8 = new TextEncoder();

/** A registered device whose /3/0/9 the server observes; notifications are written raw. */
interface ObservedDevice {
  readonly observation: Observation;
  /** Battery levels the server delivered, in order. */
  readonly delivered: number[];
  /** Everything the server sent the device (ACKs, RSTs, requests). */
  readonly inbox: CoapMessage[];
  readonly device: RawDevice;
  /** Sends notification `seq` carrying `value` (NON unless `con`); returns its message id. */
  notify(seq: number, value: number, options?: { con?: boolean; firstBlock?: boolean }): number;
}

async function observedDevice(h: Harness, address: string, ep: string): Promise<ObservedDevice> {
  const channel: MemoryChannel = h.network.channel(address, 56830);
  const inbox: CoapMessage[] = [];
  channel.onReceive((_peer, bytes) => inbox.push(decodeCoapUdp(bytes)));
  const endpoint = new CoapEndpoint({ channel, clock: h.clock, random: seededRandom(address.length) });
  const device = new RawDevice(endpoint);
  closeWith(h, () => endpoint.close());
  assert.equal((await device.register([`ep=${ep}`, 'lt=300', 'lwm2m=1.2'])).code, CoapCode.CREATED);
  device.handler = () => ({
    code: CoapCode.CONTENT,
    options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
    payload: utf8.encode('50'),
    observe: () => undefined,
  });
  const observation = await h.server.observe(ep, '/3/0/9');
  const token = device.received.at(-1)!.token;
  const delivered: number[] = [];
  observation.on('notification', (n) => delivered.push(n.result.values['/3/0/9'] as number));
  let mid = 40_000;
  return {
    observation,
    delivered,
    inbox,
    device,
    notify(seq, value, options = {}) {
      // Above the Observe number of the first response (the device endpoint starts below 0x1000).
      const b = new OptionsBuilder()
        .uint(OptionNumber.OBSERVE, 0x2000 + seq)
        .uint(OptionNumber.CONTENT_FORMAT, 0);
      // A first block of 16 bytes with more to come: admitted, the server fetches the rest (RFC 7959 §2.6).
      if (options.firstBlock) b.block(OptionNumber.BLOCK2, { num: 0, more: true, szx: 0 });
      const messageId = ++mid;
      channel.send(
        SERVER,
        encodeCoapUdp({
          type: options.con ? 'CON' : 'NON',
          code: CoapCode.CONTENT,
          messageId,
          token,
          options: b.build(),
          payload: utf8.encode(options.firstBlock ? String(value).padStart(16, '0') : String(value)),
        }),
      );
      return messageId;
    },
  };
}

const closers = new WeakMap<Harness, (() => Promise<void>)[]>();
function closeWith(h: Harness, close: () => Promise<void>): void {
  const list = closers.get(h) ?? [];
  list.push(close);
  closers.set(h, list);
}
async function closeAll(h: Harness): Promise<void> {
  await h.close();
  for (const close of closers.get(h) ?? []) await close();
}

const acks = (d: ObservedDevice) => d.inbox.filter((m) => m.type === 'ACK').map((m) => m.messageId);
const resets = (d: ObservedDevice) => d.inbox.filter((m) => m.type === 'RST').map((m) => m.messageId);

describe('LwM2mServer with notificationRateLimit', () => {
  it('drops NON notifications past the budget undecoded, delivers the rest in order, spares other devices', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ notificationRateLimit: { rate: 1, burst: 3 } }, clock);
    try {
      const events: NotificationsDroppedEvent[] = [];
      h.server.on('notificationsDropped', (e) => events.push(e));
      const a = await observedDevice(h, '10.0.0.12', 'dev-a');
      const b = await observedDevice(h, '10.0.0.13', 'dev-b');
      for (let seq = 1; seq <= 6; seq++) a.notify(seq, 10 + seq);
      for (let seq = 1; seq <= 3; seq++) b.notify(seq, 20 + seq);
      await settle(10);
      assert.deepEqual(a.delivered, [11, 12, 13], 'the burst passes, the surplus is dropped');
      assert.deepEqual(b.delivered, [21, 22, 23], 'another device has its own budget');
      assert.equal(a.observation.droppedNotifications, 3);
      assert.equal(b.observation.droppedNotifications, 0);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 6,
        dropped: 3,
        tracked: 2,
        cancelled: 0,
      });
      // One event at once for the first drop, the rest held back for the report interval.
      assert.deepEqual(
        events.map((e) => [e.endpoint, e.dropped, e.total]),
        [['dev-a', 1, 1]],
      );
      // An over-budget first block is not followed up: no GET for the rest goes to the device.
      a.notify(7, 17, { firstBlock: true });
      await settle(10);
      const blockFetches = () =>
        a.device.received.filter((m) => m.code === CoapCode.GET && getBlock(m, OptionNumber.BLOCK2)).length;
      assert.equal(blockFetches(), 0);
      assert.equal(a.observation.droppedNotifications, 4);

      clock.advance(10_000); // the report interval: the three held back come in one event; tokens are back
      await settle(2);
      assert.deepEqual(
        events.map((e) => [e.endpoint, e.dropped, e.total]),
        [
          ['dev-a', 1, 1],
          ['dev-a', 3, 4],
        ],
      );
      a.notify(8, 18, { firstBlock: true }); // within budget: the server fetches the rest
      a.notify(9, 19);
      await settle(10);
      assert.equal(blockFetches(), 1, 'an admitted first block is followed up');
      assert.deepEqual(a.delivered, [11, 12, 13, 19]);

      clock.advance(10_000); // a quiet interval ends the episode: no event, and the count starts over
      await settle(2);
      assert.equal(events.length, 2);
      for (let seq = 10; seq <= 13; seq++) a.notify(seq, 10 + seq); // the bucket is full again: 3 pass
      await settle(10);
      assert.deepEqual(a.delivered, [11, 12, 13, 19, 20, 21, 22]);
      assert.deepEqual(
        events.map((e) => [e.dropped, e.total]),
        [
          [1, 1],
          [3, 4],
          [1, 1],
        ],
      );
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 11,
        dropped: 5,
        tracked: 2,
        cancelled: 0,
      });
      assert.equal(a.observation.droppedNotifications, 5);
      assert.equal(a.observation.active, true, 'without cancelAfter the observation stays');
    } finally {
      await closeAll(h);
    }
  });

  it('acknowledges a CON notification it drops (RFC 7641 §4.5), so the device does not retransmit it', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ notificationRateLimit: { rate: 1, burst: 2 } }, clock);
    try {
      const a = await observedDevice(h, '10.0.0.12', 'dev-a');
      const sent: number[] = [];
      for (let seq = 1; seq <= 5; seq++) {
        sent.push(a.notify(seq, 30 + seq, { con: true }));
        await settle(5);
      }
      assert.deepEqual(acks(a).slice(-5), sent, 'every CON notification was acknowledged');
      assert.deepEqual(resets(a), []);
      assert.deepEqual(a.delivered, [31, 32]);
      assert.equal(a.observation.droppedNotifications, 3);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 2,
        dropped: 3,
        tracked: 1,
        cancelled: 0,
      });
    } finally {
      await closeAll(h);
    }
  });

  it('lets copies and stale notifications go to the freshness check (RFC 7641 §3.4) without taking a token', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ notificationRateLimit: { rate: 1, burst: 2 } }, clock);
    try {
      const a = await observedDevice(h, '10.0.0.12', 'dev-a');
      a.notify(5, 5);
      a.notify(5, 5); // a copy the network repeated
      a.notify(3, 3); // reordered: older than 5
      a.notify(6, 6);
      await settle(10);
      assert.deepEqual(a.delivered, [5, 6]);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 2,
        dropped: 0,
        tracked: 1,
        cancelled: 0,
      });
      a.notify(7, 7); // over budget: dropped
      await settle(10);
      clock.advance(1000);
      await settle(2);
      a.notify(7, 7); // the dropped one again: no longer fresh
      a.notify(8, 8);
      await settle(10);
      assert.deepEqual(a.delivered, [5, 6, 8]);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 3,
        dropped: 1,
        tracked: 1,
        cancelled: 0,
      });
    } finally {
      await closeAll(h);
    }
  });

  it('with cancelAfter, ends a flooding observation and answers its next notification with RST (RFC 7641 §3.6)', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ notificationRateLimit: { rate: 1, burst: 1, cancelAfter: 2 } }, clock);
    try {
      const events: NotificationsDroppedEvent[] = [];
      h.server.on('notificationsDropped', (e) => events.push(e));
      const a = await observedDevice(h, '10.0.0.12', 'dev-a');
      const b = await observedDevice(h, '10.0.0.13', 'dev-b');
      const ended: ObservationEndReason[] = [];
      a.observation.on('end', (reason) => ended.push(reason));
      a.notify(1, 1);
      a.notify(2, 2);
      a.notify(3, 3);
      await settle(10);
      assert.deepEqual(ended, ['rate-limited']);
      assert.equal(a.observation.active, false);
      assert.deepEqual(h.server.observations('dev-a'), []);
      assert.equal(h.server.observations('dev-b').length, 1);
      assert.deepEqual(
        events.map((e) => [e.dropped, e.total, e.cancelled === a.observation]),
        [
          [1, 1, false],
          [1, 2, true],
        ],
      );
      assert.deepEqual(resets(a), []);
      const next = a.notify(4, 4, { con: true });
      await settle(10);
      assert.deepEqual(resets(a), [next], 'the next notification is refused with RST');
      assert.deepEqual(a.delivered, [1]);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 1,
        dropped: 2,
        tracked: 1,
        cancelled: 1,
      });
      b.notify(1, 1);
      await settle(10);
      assert.deepEqual(b.delivered, [1]);
      assert.deepEqual(h.server.notificationRateLimitStats, {
        allowed: 2,
        dropped: 2,
        tracked: 2,
        cancelled: 1,
      });
    } finally {
      await closeAll(h);
    }
  });

  it('tracks at most maxPeers devices', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ notificationRateLimit: { rate: 1, burst: 1, maxPeers: 2 } }, clock);
    try {
      const devices = [];
      for (let i = 0; i < 4; i++) devices.push(await observedDevice(h, `10.0.1.${i}`, `dev-${i}`));
      for (const d of devices) d.notify(1, 1);
      await settle(10);
      assert.deepEqual(
        devices.map((d) => d.delivered),
        [[1], [1], [1], [1]],
      );
      assert.equal(h.server.notificationRateLimitStats?.tracked, 2);
    } finally {
      await closeAll(h);
    }
  });

  it('refuses settings that make no sense, saying which', async () => {
    const { LwM2mServer } = await import('../../src/server/lwm2m-server.js');
    assert.throws(
      () => new LwM2mServer({ notificationRateLimit: { rate: -1 } }),
      /notificationRateLimit\.rate must be a number above 0/,
    );
    assert.throws(
      () => new LwM2mServer({ notificationRateLimit: { rate: 1, cancelAfter: 0 } }),
      /notificationRateLimit\.cancelAfter must be an integer above 0/,
    );
    assert.throws(
      () => new LwM2mServer({ notificationRateLimit: { rate: 1, reportInterval: Number.NaN } }),
      /notificationRateLimit\.reportInterval/,
    );
  });
});

describe('PeerRateLimiter.takeKey', () => {
  it('keeps one bucket per key, bounded by maxPeers however many keys come', () => {
    const clock = new FakeClock(0);
    const l = new PeerRateLimiter({ rate: 1, burst: 1, maxPeers: 3 }, clock, 'notificationRateLimit');
    assert.deepEqual([l.takeKey('dev-1').allowed, l.takeKey('dev-1').allowed], [true, false]);
    assert.equal(l.takeKey('dev-2').allowed, true);
    for (let i = 0; i < 10_000; i++) l.takeKey(`flood-${i}`);
    assert.equal(l.stats.tracked, 3);
  });
});
