/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call --
   The answers are untyped JSON; the assertions check them field by field. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Registration } from '../../src/server/registration.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import type { PutResult, RegistrationStore } from '../../src/store/registration-store.js';
import { apiFixture } from './api-fixture.js';
import type { ApiFixture } from './api-fixture.js';
import { SERVER_ADDRESS } from '../support/client-rig.js';

/** A memory store whose lookups take a network round trip, as a Redis store's do. */
class SlowLookupStore implements RegistrationStore {
  readonly #inner = new MemoryRegistrationStore();
  readonly #delayMs: number;
  lookups = 0;
  constructor(delayMs: number) {
    this.#delayMs = delayMs;
  }
  put(registration: Registration): Promise<PutResult> {
    return this.#inner.put(registration);
  }
  async get(endpoint: string): Promise<Registration | undefined> {
    this.lookups++;
    await new Promise((r) => setTimeout(r, this.#delayMs));
    return this.#inner.get(endpoint);
  }
  getById(id: string): Promise<Registration | undefined> {
    return this.#inner.getById(id);
  }
  remove(endpoint: string, id?: string): Promise<Registration | undefined> {
    return this.#inner.remove(endpoint, id);
  }
  all(): AsyncIterable<Registration> {
    return this.#inner.all();
  }
  expiring(before: number): AsyncIterable<Registration> {
    return this.#inner.expiring(before);
  }
  get size(): Promise<number> {
    return this.#inner.size;
  }
}

/** Until the server considers the client asleep (its awake time ran out since the last message). */
async function untilSleeping(f: ApiFixture): Promise<void> {
  const end = Date.now() + 3000;
  while (f.rig.server.isAwake(f.rig.ep)) {
    if (Date.now() > end) throw new Error('the client did not fall asleep');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('REST API: queue mode (a sleeping client gets 202 and a queued-result event)', () => {
  let f: ApiFixture;
  let ep: string;
  before(async () => {
    f = await apiFixture({
      rig: {
        client: { servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300, queueMode: true }] },
        server: { queueMode: { awakeTime: 150, deadline: 600 } },
      },
    });
    ep = f.rig.ep;
  });
  after(() => f.close());

  /** Until the server considers the client asleep (its awake time ran out since the last message). */
  const sleeping = async (): Promise<void> => {
    const end = Date.now() + 3000;
    while (f.rig.server.isAwake(ep)) {
      if (Date.now() > end) throw new Error('the client did not fall asleep');
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('shows the client sleeping', async () => {
    await sleeping();
    const event = await f.waitForEvent((e) => e.type === 'sleeping');
    assert.deepEqual(event.data, { endpoint: ep });
    const list = await f.call('GET', '/api/clients?status=sleeping');
    assert.deepEqual(
      list.json.items.map((c: { endpoint: string; queueMode: boolean }) => [c.endpoint, c.queueMode]),
      [[ep, true]],
    );
    const server = await f.call('GET', '/api/server');
    assert.deepEqual(server.json.counts, { registrations: 1, awake: 0, sleeping: 1, observations: 0 });
  });

  it('answers 202 with a requestId and delivers the result when the client wakes', async () => {
    const queued = await f.call('GET', `/api/clients/${ep}/3303/0/5700`);
    assert.equal(queued.status, 202);
    assert.equal(queued.json.queued, true);
    assert.match(queued.json.requestId, /^[0-9a-f]{16}$/);
    assert.equal(queued.json.endpoint, ep);
    assert.equal(queued.json.operation, 'read');
    assert.deepEqual(queued.json.paths, ['/3303/0/5700']);

    const write = await f.call('PUT', `/api/clients/${ep}/3303/0/5701`, { value: 'K' });
    assert.equal(write.status, 202, 'a second request queues behind the first');

    await f.rig.client.update();
    const result = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === queued.json.requestId,
    );
    assert.equal(result.endpoint, ep);
    const body = result.data.result as { code: string; values: Record<string, unknown>; operation: string };
    assert.equal(body.operation, 'read');
    assert.equal(body.code, '2.05');
    assert.deepEqual(body.values, { '/3303/0/5700': 21.5 });
    const second = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === write.json.requestId,
    );
    assert.equal(
      (second.data.result as { code: string }).code,
      '4.05',
      'a read-only resource refuses the write',
    );
  });

  it('answers what the server refuses before queueing at once, not with 202', async () => {
    await sleeping();
    const bad = await f.call('PUT', `/api/clients/${ep}/3303/0/5700`, { value: 'warm' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'BAD_VALUE');
    const badPath = await f.call('POST', `/api/clients/${ep}/3303/execute`);
    assert.equal(badPath.status, 400);
    assert.equal(badPath.json.code, 'NOT_ALLOWED');
  });

  it('reports a request that waited past the deadline as a queued-result error', async () => {
    await sleeping();
    const queued = await f.call('GET', `/api/clients/${ep}/3/0/0`);
    assert.equal(queued.status, 202);
    const result = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === queued.json.requestId,
      3000,
    );
    assert.equal(result.data.result, undefined);
    assert.equal((result.data.error as { code: string }).code, 'TIMEOUT');
    assert.match((result.data.error as { message: string }).message, /queue|wait|expired/i);
  });
});

describe('REST API: queue mode with a registration store whose lookups are slow (20 ms)', () => {
  let f: ApiFixture;
  let ep: string;
  const store = new SlowLookupStore(20);
  before(async () => {
    f = await apiFixture({
      rig: {
        client: { servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300, queueMode: true }] },
        server: { store, queueMode: { awakeTime: 400, deadline: 3000 } },
      },
    });
    ep = f.rig.ep;
  });
  after(() => f.close());

  it('still answers what the server refuses before queueing with its 4xx, not 202', async () => {
    await untilSleeping(f);
    const lookups = store.lookups;
    const bad = await f.call('PUT', `/api/clients/${ep}/3303/0/5700`, { value: 'warm' });
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.equal(bad.json.code, 'BAD_VALUE');
    const badPath = await f.call('POST', `/api/clients/${ep}/3303/execute`);
    assert.equal(badPath.status, 400, JSON.stringify(badPath.json));
    assert.equal(badPath.json.code, 'NOT_ALLOWED');
    const badAttributes = await f.call('PUT', `/api/clients/${ep}/3303/0/attributes`, { gt: 1 });
    assert.equal(badAttributes.status, 400, JSON.stringify(badAttributes.json));
    assert.equal(badAttributes.json.code, 'BAD_ATTRIBUTES');
    assert.ok(store.lookups > lookups, 'the lookups went through the slow store');
  });

  it('answers 202 for a sleeping client and delivers the result when it wakes', async () => {
    await untilSleeping(f);
    const queued = await f.call('GET', `/api/clients/${ep}/3303/0/5700`);
    assert.equal(queued.status, 202, JSON.stringify(queued.json));
    assert.equal(queued.json.queued, true);
    const observe = await f.call('POST', `/api/clients/${ep}/composite/observe`, { paths: ['/3303/0/5700'] });
    assert.equal(observe.status, 202, 'Observe-Composite queues too');
    await f.rig.client.update();
    const result = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === queued.json.requestId,
    );
    assert.deepEqual((result.data.result as { values: unknown }).values, { '/3303/0/5700': 21.5 });
    const observed = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === observe.json.requestId,
    );
    const observationId = (observed.data.result as { observationId: string }).observationId;
    assert.match(observationId, /^[0-9a-f]{16}$/);

    await untilSleeping(f);
    const cancel = await f.call('DELETE', `/api/clients/${ep}/observations/${observationId}`);
    assert.equal(cancel.status, 202, 'the cancel waits for the client too');
    assert.equal(cancel.json.operation, 'cancel-observation');
    await f.rig.client.update();
    const cancelled = await f.waitForEvent(
      (e) => e.type === 'queued-result' && e.data.requestId === cancel.json.requestId,
    );
    assert.equal((cancelled.data.result as { code: string }).code, '2.05');
  });

  it('answers an awake client at once', async () => {
    await f.rig.client.update();
    assert.equal(f.rig.server.isAwake(ep), true);
    const read = await f.call('GET', `/api/clients/${ep}/3303/0/5701`);
    assert.equal(read.status, 200);
    assert.equal(read.json.values['/3303/0/5701'], 'Cel');
  });
});
