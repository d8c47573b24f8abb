// Our LwM2mClient against our LwM2mServer over time, on a FakeClock shared by both (no real
// sleeps): notification attributes end to end (pmin, pmax, gt/lt, st), queue mode, hqmax history
// sent with SenML times, two servers in Registration Priority Order with access control between
// them, lifetime Updates, Disable with its timeout, and version fallback to 1.1
// (LWM2M-1.2.md §1.2, §1.4, §5; Transport TS Queue Mode).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { FakeClock } from '../../src/clock.js';
import type { NotificationAttributes } from '../../src/model/attributes.js';
import { OperationError } from '../../src/operations/result-code.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Observation, ObservationNotification } from '../../src/server/observation.js';
import type { OperationResult } from '../../src/server/operation-result.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import {
  CLIENT_ADDRESS,
  SECOND_SERVER_ADDRESS,
  SERVER_ADDRESS,
  rigInstances,
  rigModel,
  withClientRig,
} from '../support/client-rig.js';
import type { ClientRig, ExecuteCall } from '../support/client-rig.js';
import { drive, settle, track } from '../support/coap-driver.js';
import { TEST_OBJECT } from '../support/test-model.js';

const T = `/${TEST_OBJECT}`;
const STEP = 100;

/** Moves fake time forward by `ms` in small steps, letting datagrams move between steps. */
async function advance(clock: FakeClock, ms: number, step = STEP): Promise<void> {
  const end = clock.now() + ms;
  while (clock.now() < end) {
    await settle(3);
    clock.advance(Math.min(step, end - clock.now()));
  }
  await settle(5);
}

/** Whether `at` is `expected` give or take one step (notifications leave at a timer's exact time). */
function near(at: number, expected: number, slack = STEP): boolean {
  return at >= expected - 1 && at <= expected + slack;
}

interface Arrival {
  readonly at: number;
  readonly value: unknown;
  readonly result: OperationResult;
}

/** Records each notification the server receives for `path`: when (ms after `t0`) and what. */
function arrivals(observation: Observation, clock: FakeClock, path: string, t0: number): Arrival[] {
  const out: Arrival[] = [];
  observation.on('notification', (n: ObservationNotification) =>
    out.push({ at: clock.now() - t0, value: n.result.values[path], result: n.result }),
  );
  return out;
}

const fake = (): { clock: FakeClock } => ({ clock: new FakeClock(1_000_000) });

/** Observes /3303/0/5700 with observation attributes, and moves the value through `sequence`, 1 s apart. */
async function valueSequence(
  rig: ClientRig,
  attributes: NotificationAttributes,
  sequence: readonly number[],
): Promise<Arrival[]> {
  const clock = rig.clock!;
  const observe = track(rig.server.observe(rig.ep, '/3303/0/5700', { attributes }));
  await drive(clock, () => observe.settled, { network: rig.network });
  const observation = observe.value!;
  assert.equal(observation.response.code, '2.05');
  const got = arrivals(observation, clock, '/3303/0/5700', clock.now());
  for (const v of sequence) {
    await advance(clock, 1000);
    rig.temperature.set(5700, v);
  }
  await advance(clock, 1000);
  return got;
}

describe('Notification attributes end to end', () => {
  it('pmin (inherited from the instance) delays a change until pmin has passed since the last notification', () =>
    withClientRig(fake(), async (rig) => {
      const { server, ep, clock, network, temperature } = rig;
      const set = track(server.writeAttributes(ep, '/3303/0', { pmin: 10 }));
      await drive(clock!, () => set.settled, { network });
      assert.equal(set.value?.code, '2.04');
      const observe = track(server.observe(ep, '/3303/0/5700'));
      await drive(clock!, () => observe.settled, { network });
      const t0 = clock!.now();
      const got = arrivals(observe.value!, clock!, '/3303/0/5700', t0);
      await advance(clock!, 2000);
      temperature.set(5700, 22);
      await advance(clock!, 7000);
      assert.equal(got.length, 0, 'nothing inside pmin');
      await advance(clock!, 1500);
      assert.equal(got.length, 1);
      assert.ok(near(got[0]!.at, 10_000), `sent at pmin expiry, not ${got[0]!.at}`);
      assert.equal(got[0]!.value, 22);
      await advance(clock!, 2000);
      temperature.set(5700, 23);
      temperature.set(5700, 23.5);
      await advance(clock!, 9000);
      assert.equal(got.length, 2, 'one notification for both changes');
      assert.ok(near(got[1]!.at, 20_000), `pmin restarts at each notification, not ${got[1]!.at}`);
      assert.equal(got[1]!.value, 23.5, 'the value current at pmin expiry');
    }));

  it('pmax sends the unchanged value every pmax seconds', () =>
    withClientRig(fake(), async (rig) => {
      const { server, ep, clock, network } = rig;
      const observe = track(server.observe(ep, '/3303/0/5700', { attributes: { pmax: 30 } }));
      await drive(clock!, () => observe.settled, { network });
      const got = arrivals(observe.value!, clock!, '/3303/0/5700', clock!.now());
      await advance(clock!, 95_000, 500);
      assert.deepEqual(
        got.map((a) => a.value),
        [21.5, 21.5, 21.5],
      );
      got.forEach((a, i) => assert.ok(near(a.at, 30_000 * (i + 1), 500), `#${i}: ${a.at}`));
    }));

  it('pmax from Write-Attributes restarts after a change notification', () =>
    withClientRig(fake(), async (rig) => {
      const { server, ep, clock, network, temperature } = rig;
      const set = track(server.writeAttributes(ep, '/3303/0/5700', { pmax: 20 }));
      await drive(clock!, () => set.settled, { network });
      const observe = track(server.observe(ep, '/3303/0/5700'));
      await drive(clock!, () => observe.settled, { network });
      const got = arrivals(observe.value!, clock!, '/3303/0/5700', clock!.now());
      await advance(clock!, 15_000);
      temperature.set(5700, 30);
      await advance(clock!, 100);
      await advance(clock!, 30_000, 500);
      assert.deepEqual(
        got.map((a) => a.value),
        [30, 30],
      );
      assert.ok(near(got[0]!.at, 15_000), String(got[0]!.at));
      assert.ok(near(got[1]!.at, 35_000, 600), `pmax counts from the last notification: ${got[1]!.at}`);
    }));

  it('gt and lt notify on each crossing, both ways, and not while the value stays on one side', () =>
    withClientRig(fake(), async (rig) => {
      const got = await valueSequence(rig, { gt: 25, lt: 15 }, [24, 26, 27, 24, 14, 13, 16, 17]);
      assert.deepEqual(
        got.map((a) => a.value),
        [26, 24, 14, 16],
      );
    }));

  it('st notifies when the value moved by st since the last notified value', () =>
    withClientRig(fake(), async (rig) => {
      const got = await valueSequence(rig, { st: 2 }, [22.5, 23.6, 24, 22, 21.5, 21]);
      // 23.6 − 21.5 ≥ 2; then 24, 22 stay within 2 of 23.6; 21.5 is 2.1 below it; 21 within 2 of 21.5.
      assert.deepEqual(
        got.map((a) => a.value),
        [23.6, 21.5],
      );
    }));

  it('with no value condition, every change notifies at once', () =>
    withClientRig(fake(), async (rig) => {
      const got = await valueSequence(rig, {}, [22, 22, 23]);
      assert.deepEqual(
        got.map((a) => a.value),
        [22, 23],
      );
      got.forEach((a, i) => assert.ok(near(a.at, [1000, 3000][i]!), String(a.at)));
    }));

  it('pmin and gt together: a crossing inside pmin waits for pmin', () =>
    withClientRig(fake(), async (rig) => {
      const got = await valueSequence(rig, { pmin: 5, gt: 25 }, [26]);
      assert.equal(got.length, 0, 'the crossing at 1 s waits');
      await advance(rig.clock!, 4000);
      assert.deepEqual(
        got.map((a) => a.value),
        [26],
      );
      assert.ok(near(got[0]!.at, 5000), String(got[0]!.at));
    }));
});

// ---- Queue mode ----

const QUEUE = { awakeTime: 10_000 };

describe('Queue mode', () => {
  it('the client sleeps after awakeTime; a request waits; wake() sends an Update and the request follows', () =>
    withClientRig(
      {
        ...fake(),
        client: {
          servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 3600, queueMode: true }],
          ...QUEUE,
        },
        server: { queueMode: QUEUE },
      },
      async ({ server, client, ep, clock, network, reg }) => {
        assert.equal(reg?.queueMode, true);
        let clientAsleep = false;
        client.on('sleeping', () => (clientAsleep = true));
        const serverSleeping = track(once(server, 'sleeping'));
        await advance(clock!, 10_500, 500);
        assert.ok(clientAsleep, 'the client went to sleep after awakeTime');
        assert.ok(serverSleeping.settled, 'the server considers it asleep');
        assert.equal(server.isAwake(ep), false);

        const sent = network.stats.sent;
        const read = track(server.read(ep, '/3303/0/5700'));
        await advance(clock!, 5000, 500);
        assert.equal(read.settled, false, 'queued while the client sleeps');
        assert.equal(network.stats.sent, sent, 'nothing sent to a sleeping client');

        const order: string[] = [];
        server.on('updated', () => order.push('update'));
        server.on('response', (e) => order.push(`${e.operation} ${e.code ?? ''}`));
        const woke = track(client.wake());
        await drive(clock!, () => read.settled && woke.settled, { network });
        assert.deepEqual(order, ['update', 'read 2.05'], 'the wake-up Update, then the queued request');
        assert.equal(read.value?.code, '2.05', String(read.error));
        assert.deepEqual(read.value?.values, { '/3303/0/5700': 21.5 });
        assert.equal(server.isAwake(ep), true);
      },
    ));

  it('hqmax: notifications made while asleep are stored (at most hqmax) and sent on wake with SenML times', () =>
    withClientRig(
      {
        ...fake(),
        client: {
          servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 3600, queueMode: true }],
          ...QUEUE,
        },
        server: { queueMode: QUEUE },
      },
      async ({ server, client, ep, clock, network, temperature }) => {
        const observe = track(
          server.observe(ep, '/3303/0/5700', { format: 'senml-json', attributes: { hqmax: 3 } }),
        );
        await drive(clock!, () => observe.settled, { network });
        const observation = observe.value!;
        const got = arrivals(observation, clock!, '/3303/0/5700', 0);
        client.sleep();
        const times: number[] = [];
        for (const v of [10, 11, 12, 13]) {
          await advance(clock!, 2000);
          temperature.set(5700, v);
          times.push(clock!.now() / 1000);
        }
        await advance(clock!, 1000);
        assert.equal(got.length, 0, 'nothing sent while asleep');
        const woke = track(client.wake());
        await drive(clock!, () => woke.settled && got.length > 0, { network, maxMs: 5000 });
        assert.equal(got.length, 1, 'the history goes out as one notification');
        // The oldest is dropped: the last hqmax values, each with the time it was recorded.
        assert.deepEqual(got[0]!.value, [
          { t: times[1], v: 11 },
          { t: times[2], v: 12 },
          { t: times[3], v: 13 },
        ]);
        assert.equal(got[0]!.result.format, 'senml-json');
        // Live notifications follow.
        temperature.set(5700, 14);
        await advance(clock!, 500);
        assert.equal(got.at(-1)?.value, 14);
      },
    ));

  it('hqmax works for an observation in the default (text) format too: the history needs a format with times', () =>
    withClientRig(
      {
        ...fake(),
        client: {
          servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 3600, queueMode: true }],
          ...QUEUE,
        },
        server: { queueMode: QUEUE },
      },
      async ({ server, client, ep, clock, network, temperature }) => {
        const errors: string[] = [];
        client.on('error', (e) => errors.push(e.message));
        const observe = track(server.observe(ep, '/3303/0/5700', { attributes: { hqmax: 2 } }));
        await drive(clock!, () => observe.settled, { network });
        assert.equal(observe.value?.response.format, 'text');
        const got = arrivals(observe.value, clock!, '/3303/0/5700', 0);
        client.sleep();
        await advance(clock!, 1000);
        temperature.set(5700, 10);
        const t1 = clock!.now() / 1000;
        await advance(clock!, 1000);
        temperature.set(5700, 11);
        const t2 = clock!.now() / 1000;
        const woke = track(client.wake());
        await drive(clock!, () => woke.settled, { network });
        await advance(clock!, 500);
        assert.deepEqual(errors, []);
        assert.deepEqual(got[0]?.value, [
          { t: t1, v: 10 },
          { t: t2, v: 11 },
        ]);
      },
    ));

  it('without hqmax, a sleeping client sends the current value once on wake', () =>
    withClientRig(
      {
        ...fake(),
        client: {
          servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 3600, queueMode: true }],
          ...QUEUE,
        },
        server: { queueMode: QUEUE },
      },
      async ({ server, client, ep, clock, network, temperature }) => {
        const observe = track(server.observe(ep, '/3303/0/5700'));
        await drive(clock!, () => observe.settled, { network });
        const got = arrivals(observe.value!, clock!, '/3303/0/5700', 0);
        client.sleep();
        for (const v of [10, 11, 12]) {
          await advance(clock!, 1000);
          temperature.set(5700, v);
        }
        const woke = track(client.wake());
        await drive(clock!, () => woke.settled, { network });
        await advance(clock!, 500);
        assert.deepEqual(
          got.map((a) => a.value),
          [12],
        );
      },
    ));
});

// ---- Two servers ----

describe('Two servers: Registration Priority Order and access control', () => {
  it('registers with server 2 only after server 1 completed, even when server 1 answers late', async () => {
    const clock = new FakeClock(1_000_000);
    const network = new MemoryNetwork();
    const timing = { clock, now: () => clock.now() };
    const executed: ExecuteCall[] = [];
    const { temperature, test0, test1 } = rigInstances(executed);
    const second = new LwM2mServer({
      channel: network.channel(SECOND_SERVER_ADDRESS, 5683),
      model: rigModel,
      random: seededRandom(2),
      ...timing,
    });
    await second.start();
    const client = new LwM2mClient({
      endpoint: 'ordered',
      servers: [
        // Listed in the opposite order: the priority decides, not the list.
        { uri: `coap://${SECOND_SERVER_ADDRESS}:5683`, shortServerId: 2, lifetime: 3600, values: { 13: 2 } },
        {
          uri: `coap://${SERVER_ADDRESS}:5683`,
          shortServerId: 1,
          lifetime: 3600,
          values: { 13: 1, 17: 5, 18: 2 },
        },
      ],
      model: rigModel,
      channel: network.channel(CLIENT_ADDRESS, 56830),
      random: seededRandom(3),
      instances: [temperature, test0, test1],
      ...timing,
    });
    const registeredAt: Record<string, number> = {};
    second.on('registered', () => (registeredAt.second = clock.now()));
    let first: LwM2mServer | undefined;
    try {
      await client.start();
      // Server 1 is not there yet: the client retries it and leaves server 2 alone meanwhile.
      await advance(clock, 30_000, 500);
      assert.equal(registeredAt.second, undefined, 'server 2 waits for server 1');
      assert.notEqual(client.status(1)?.state, 'registered');
      first = new LwM2mServer({
        channel: network.channel(SERVER_ADDRESS, 5683),
        model: rigModel,
        random: seededRandom(1),
        ...timing,
      });
      first.on('registered', () => (registeredAt.first = clock.now()));
      await first.start();
      await drive(clock, () => registeredAt.second !== undefined, { network, stepMs: 500, maxMs: 600_000 });
      assert.ok(registeredAt.first !== undefined, 'server 1 registered');
      assert.ok(
        registeredAt.second! >= registeredAt.first,
        `${registeredAt.second} >= ${registeredAt.first}`,
      );
      assert.equal(client.status(1)?.state, 'registered');
      assert.equal(client.status(2)?.state, 'registered');
    } finally {
      await client.stop().catch(() => undefined);
      await first?.stop();
      await second.stop();
    }
  });

  it('server 2 cannot read an instance server 1 created until server 1 grants it Read in /2', async () => {
    const clock = new FakeClock(1_000_000);
    const network = new MemoryNetwork();
    const timing = { clock, now: () => clock.now() };
    const make = (address: string, seed: number) =>
      new LwM2mServer({
        channel: network.channel(address, 5683),
        model: rigModel,
        random: seededRandom(seed),
        ...timing,
      });
    const first = make(SERVER_ADDRESS, 1);
    const second = make(SECOND_SERVER_ADDRESS, 2);
    await first.start();
    await second.start();
    const executed: ExecuteCall[] = [];
    const { temperature, test0, test1 } = rigInstances(executed);
    const { createAccessControlInstance } = await import('../../src/client/core-instances.js');
    const client = new LwM2mClient({
      endpoint: 'acl',
      servers: [
        { uri: `coap://${SERVER_ADDRESS}:5683`, shortServerId: 1, lifetime: 3600, values: { 13: 1 } },
        { uri: `coap://${SECOND_SERVER_ADDRESS}:5683`, shortServerId: 2, lifetime: 3600, values: { 13: 2 } },
      ],
      model: rigModel,
      channel: network.channel(CLIENT_ADDRESS, 56830),
      random: seededRandom(3),
      instances: [
        temperature,
        test0,
        test1,
        // Access-Control-Enabled: everyone may Create TEST_OBJECT instances (default entry).
        createAccessControlInstance({
          instanceId: 0,
          objectId: TEST_OBJECT,
          objectInstanceId: 65535,
          owner: 65535,
          acl: new Map([[0, 16]]),
        }),
      ],
      ...timing,
    });
    const run = async <R>(p: Promise<R>): Promise<R> => {
      const t = track(p);
      await drive(clock, () => t.settled, { network });
      if (t.error !== undefined)
        throw t.error instanceof Error ? t.error : new Error('request failed', { cause: t.error });
      return t.value as R;
    };
    try {
      await client.start();
      await drive(
        clock,
        () => client.status(1)?.state === 'registered' && client.status(2)?.state === 'registered',
        {
          network,
        },
      );
      const created = await run(first.create('acl', T, { '/5': 'secret' }, { format: 'tlv' }));
      assert.equal(created.code, '2.01');
      const iid = Number(created.location!.split('/').at(-1));
      const entry = client.access.entry(TEST_OBJECT, iid);
      assert.ok(entry);
      assert.equal(entry.owner, 1, 'the creating server owns it');
      assert.equal((await run(second.read('acl', `${T}/${iid}/5`))).code, '4.01');
      assert.equal((await run(second.write('acl', `${T}/${iid}/5`, 'mine'))).code, '4.01');
      assert.equal((await run(first.read('acl', `${T}/${iid}/5`))).code, '2.05');
      // The owner grants server 2 Read in the ACL of the instance's /2 entry.
      const grant = await run(
        first.write(
          'acl',
          `/2/${entry.id}/2`,
          { [`/2/${entry.id}/2/2`]: 1 },
          { mode: 'update', format: 'tlv' },
        ),
      );
      assert.equal(grant.code, '2.04', grant.diagnostic);
      assert.equal(
        (await run(second.read('acl', `/2/${entry.id}`))).code,
        '4.01',
        'only the owner reads /2/x',
      );
      const read = await run(second.read('acl', `${T}/${iid}/5`));
      assert.equal(read.code, '2.05');
      assert.deepEqual(read.values, { [`${T}/${iid}/5`]: 'secret' });
      assert.equal((await run(second.write('acl', `${T}/${iid}/5`, 'mine'))).code, '4.01', 'Read only');
    } finally {
      await client.stop().catch(() => undefined);
      await first.stop();
      await second.stop();
    }
  });
});

// ---- Lifetime, Disable, version ----

describe('Registration over time', () => {
  it('sends lifetime Updates before expiry: the server never expires the registration', () =>
    withClientRig(
      { ...fake(), client: { servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 60 }] } },
      async ({ server, ep, clock }) => {
        let expired = false;
        const updates: number[] = [];
        const t0 = clock!.now();
        server.on('expired', () => (expired = true));
        server.on('updated', () => updates.push(clock!.now() - t0));
        await advance(clock!, 600_000, 1000);
        assert.equal(expired, false);
        // lt 60 s: each Update between lt/2 and lt − max(lt/10, 10 s) after the previous message
        // (earlier within that window when the client spreads its Updates).
        const gaps = updates.map((at, i) => at - (i === 0 ? 0 : updates[i - 1]!));
        assert.ok(updates.length >= 11, `${updates.length} Updates`);
        for (const gap of gaps) assert.ok(gap >= 30_000 && gap <= 50_000 + 1000, `gaps ${gaps.join(', ')}`);
        const reg = await server.getRegistration(ep);
        assert.ok(reg, 'still registered');
        assert.ok(reg.expiresAt > clock!.now(), `${reg.expiresAt} > ${clock!.now()}`);
      },
    ));

  it('Disable (execute /1/0/4): de-registers now, registers again after the Disable Timeout', () =>
    withClientRig(
      {
        ...fake(),
        client: { servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 3600, values: { 5: 30 } }] },
      },
      async ({ server, client, ep, clock, network }) => {
        const deregistered = track(once(server, 'deregistered'));
        const executed = track(server.execute(ep, '/1/0/4'));
        await drive(clock!, () => executed.settled && deregistered.settled, { network, maxMs: 5000 });
        assert.equal(executed.value?.code, '2.04');
        assert.ok(deregistered.settled, 'De-register after the answer');
        assert.equal(client.status(1)?.state, 'disabled');
        const t0 = clock!.now();
        const registered = track(once(server, 'registered'));
        await advance(clock!, 29_000, 500);
        assert.equal(registered.settled, false, 'silent during the Disable Timeout');
        assert.equal(await server.getRegistration(ep), undefined);
        await drive(clock!, () => registered.settled, { network, maxMs: 10_000 });
        assert.ok(clock!.now() - t0 >= 30_000 - 1, `re-registered at ${clock!.now() - t0} ms`);
        assert.equal(client.status(1)?.state, 'registered');
      },
    ));

  it('falls back from 1.2 to 1.1 against a 1.1 server, and 1.2 features are then refused locally', () =>
    withClientRig(
      { ...fake(), server: { versions: ['1.1'] } },
      async ({ server, ep, clock, network, reg }) => {
        assert.equal(reg?.lwm2mVersion, '1.1');
        const sent = network.stats.sent;
        await assert.rejects(server.discover(ep, '/3/0', { depth: 1 }), OperationError);
        await assert.rejects(server.observe(ep, '/3/0/0', { attributes: { pmin: 1 } }), OperationError);
        await assert.rejects(server.read(ep, '/3/0', { format: 'lwm2m-cbor' }), OperationError);
        await assert.rejects(server.writeAttributes(ep, '/3303/0/5700', { hqmax: 2 }), OperationError);
        assert.equal(network.stats.sent, sent, 'nothing sent');
        const discover = track(server.discover(ep, '/3303/0'));
        await drive(clock!, () => discover.settled, { network });
        assert.equal(discover.value?.code, '2.05');
        const read = track(server.read(ep, '/3303/0'));
        await drive(clock!, () => read.settled, { network });
        assert.equal(read.value?.code, '2.05');
        assert.notEqual(read.value?.format, 'lwm2m-cbor', 'the client answers in a 1.1 format');
        assert.deepEqual(read.value?.values, { '/3303/0/5700': 21.5, '/3303/0/5701': 'Cel' });
      },
    ));
});
