// RequestOptions.onQueued: the server says, at the moment it happens, that a request went into
// the queue of a sleeping queue-mode client (Transport TS §Queue Mode) rather than out at once or
// refused — what the REST API answers 202 on, whatever the registration store's latency.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, observe } from '../../src/coap/options.js';
import { PetrelError } from '../../src/errors.js';
import { ServerRequestError } from '../../src/server/errors.js';
import type { RequestOptions } from '../../src/server/lwm2m-server.js';
import { drive, settle, track } from '../support/coap-driver.js';
import { startHarness } from './server-harness.js';
import type { Harness } from './server-harness.js';

const utf8 = new TextEncoder();
const AWAKE_MS = 1_000;

/** Counts calls, and what the server looked like at each one. */
function probe(h: Harness, endpoint: string): RequestOptions & { calls: { awake: boolean; sent: number }[] } {
  const calls: { awake: boolean; sent: number }[] = [];
  return {
    calls,
    onQueued: () => calls.push({ awake: h.server.isAwake(endpoint), sent: h.device.received.length }),
  };
}

/** A queue-mode client `q` (and a plain client `p` on another address), `q` awake. */
async function withQueueClient(
  body: (h: Harness, clock: FakeClock) => Promise<void>,
  maxQueued = 100,
): Promise<void> {
  const clock = new FakeClock(0);
  const h = await startHarness({ queueMode: { awakeTime: AWAKE_MS, deadline: 60_000, maxQueued } }, clock);
  try {
    h.device.handler = (req) => ({
      code: CoapCode.CONTENT,
      options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
      payload: utf8.encode('50'),
      ...(observe(req.message) === 0 ? { observe: () => undefined } : {}),
    });
    const reg = track(h.device.register(['ep=q', 'lt=600', 'lwm2m=1.2', 'Q'], '</1/0>,</3/0>,</3303/0>'));
    await drive(clock, () => reg.settled, { network: h.network });
    assert.equal(h.server.isAwake('q'), true);
    await body(h, clock);
  } finally {
    await h.close();
  }
}

const sleep = async (clock: FakeClock, h: Harness): Promise<void> => {
  clock.advance(AWAKE_MS + 1);
  await settle();
  assert.equal(h.server.isAwake('q'), false);
};

describe('LwM2mServer RequestOptions.onQueued', () => {
  it('is called once, at queueing, for a request to a sleeping client; not again when it is sent', async () => {
    await withQueueClient(async (h, clock) => {
      await sleep(clock, h);
      const sentBefore = h.device.received.length;
      const p = probe(h, 'q');
      const read = track(h.server.read('q', '/3/0/9', p));
      await settle();
      assert.deepEqual(p.calls, [{ awake: false, sent: sentBefore }], 'queued, nothing sent');
      assert.equal(read.settled, false);
      const up = track(h.device.update());
      await drive(clock, () => up.settled && read.settled, { network: h.network });
      assert.equal((read.value as { code: string } | undefined)?.code, '2.05');
      assert.equal(p.calls.length, 1, 'not called again when the request leaves');
    });
  });

  it('is called before the request settles, so a caller can answer "queued" at once', async () => {
    await withQueueClient(async (h, clock) => {
      await sleep(clock, h);
      let queuedFirst: boolean | undefined;
      let called = false;
      const read = h.server.read('q', '/3/0/9', { onQueued: () => (called = true) });
      void read.then(
        () => (queuedFirst ??= called),
        () => (queuedFirst ??= called),
      );
      await settle();
      assert.equal(called, true);
      await h.close(); // rejects what waits ('stopped')
      await read.catch(() => undefined);
      assert.equal(queuedFirst, true);
    });
  });

  it('is not called for an awake queue-mode client or a client without queue mode', async () => {
    await withQueueClient(async (h, clock) => {
      const p = probe(h, 'q');
      const read = track(h.server.read('q', '/3/0/9', p));
      await drive(clock, () => read.settled, { network: h.network });
      assert.equal((read.value as { code: string } | undefined)?.code, '2.05');
      assert.deepEqual(p.calls, []);

      const plain = h.newDevice('10.0.0.9');
      plain.handler = h.device.handler;
      const reg = track(plain.register(['ep=p', 'lt=600', 'lwm2m=1.2']));
      await drive(clock, () => reg.settled, { network: h.network });
      const p2 = probe(h, 'p');
      const other = track(h.server.read('p', '/3/0/9', p2));
      await drive(clock, () => other.settled, { network: h.network });
      assert.equal((other.value as { code: string } | undefined)?.code, '2.05');
      assert.deepEqual(p2.calls, []);
    });
  });

  it('is not called for what the server refuses before queueing', async () => {
    await withQueueClient(async (h, clock) => {
      await sleep(clock, h);
      const p = probe(h, 'q');
      const refused = (promise: Promise<unknown>): Promise<unknown> =>
        promise.then(
          () => undefined,
          (e: unknown) => e,
        );
      const refusals: [string, Promise<unknown>][] = [
        ['wrong type', refused(h.server.write('q', '/3/0/14', 42, p))],
        ['execute on an object', refused(h.server.execute('q', '/3', undefined, p))],
        ['unknown client', refused(h.server.read('nobody', '/3/0/9', p))],
        ['bad attributes', refused(h.server.writeAttributes('q', '/3/0', { gt: 1 }, p))],
        [
          'unknown format',
          refused(Promise.resolve().then(() => h.server.read('q', '/3/0/9', { ...p, format: 'yaml' }))),
        ],
      ];
      for (const [what, promise] of refusals) {
        const e = await promise;
        assert.ok(e instanceof PetrelError, `${what}: refused (${String(e)})`);
      }
      assert.ok((await refusals[2]![1]) instanceof ServerRequestError);
      assert.deepEqual(p.calls, [], 'none of them queued');
    });
  });

  it('is not called for a request refused because the queue is full', async () => {
    await withQueueClient(async (h, clock) => {
      await sleep(clock, h);
      const first = probe(h, 'q');
      const queued = track(h.server.read('q', '/3/0/9', first));
      const second = probe(h, 'q');
      const full = await h.server.read('q', '/3/0/10', second).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal(first.calls.length, 1);
      assert.ok(full instanceof ServerRequestError);
      assert.equal(full.reason, 'queue-full');
      assert.deepEqual(second.calls, []);
      assert.equal(queued.settled, false);
    }, 1);
  });

  it('covers Observe, Observe-Composite and the cancel of an observation, each with its own callback', async () => {
    await withQueueClient(async (h, clock) => {
      const observeProbe = probe(h, 'q');
      const obs = track(h.server.observe('q', '/3/0/9', observeProbe));
      await drive(clock, () => obs.settled, { network: h.network });
      assert.deepEqual(observeProbe.calls, [], 'awake: sent at once');
      const observation = obs.value as Awaited<ReturnType<typeof h.server.observe>>;
      assert.equal(observation.active, true);

      await sleep(clock, h);
      const cancelProbe = probe(h, 'q');
      const cancel = track(observation.cancel(cancelProbe));
      await settle();
      assert.equal(cancelProbe.calls.length, 1, 'the cancel waits for the client');
      assert.deepEqual(observeProbe.calls, [], "the Observe's callback is not the cancel's");

      const single = probe(h, 'q');
      const composite = probe(h, 'q');
      const later = [
        track(h.server.observe('q', '/3303/0', single)),
        track(h.server.observeComposite('q', ['/3/0/9', '/3303/0'], composite)),
      ];
      await settle();
      assert.equal(single.calls.length, 1);
      assert.equal(composite.calls.length, 1);
      assert.ok(!cancel.settled && later.every((t) => !t.settled), 'all wait for the client');
    });
  });

  it('is called when a request waiting behind one in flight to an awake client finds it asleep', async () => {
    await withQueueClient(async (h, clock) => {
      // The device stops answering: the request in flight times out and the client sleeps.
      h.device.handler = () => new Promise(() => undefined);
      const first = track(h.server.read('q', '/3/0/9', { timeout: 5_000 }));
      await settle();
      const p = probe(h, 'q');
      const waiting = track(h.server.read('q', '/3/0/10', p));
      await settle();
      assert.equal(p.calls.length, 0, 'awake, behind the first: not queued yet');
      await drive(clock, () => first.settled, { network: h.network });
      assert.equal(h.server.isAwake('q'), false, 'the timeout put the client to sleep');
      assert.equal(p.calls.length, 1, 'queued for the next wake-up, and said so');
      assert.equal(p.calls[0]!.awake, false);
      assert.equal(waiting.settled, false);
    });
  });
});
