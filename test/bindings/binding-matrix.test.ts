/**
 * One LwM2M operation suite over every transport binding (UDP, DTLS, TCP, TLS, MQTT), our client
 * against our server on loopback sockets. The cases are the same for each binding; the capability
 * table (test/support/binding-capabilities.ts) says which ones a binding cannot carry, and those
 * are reported as skipped with the spec reason, never passed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { OperationResult } from '../../src/server/operation-result.js';
import type { ObservationNotification } from '../../src/server/observation.js';
import type { Registration } from '../../src/server/registration.js';
import {
  BINDINGS,
  BINDING_LETTER,
  LARGE_PAYLOAD_MECHANISM,
  notApplicable,
} from '../support/binding-capabilities.js';
import type { BindingName, CaseName } from '../support/binding-capabilities.js';
import { runBootstrap, startRig } from '../support/binding-rigs.js';
import type { BindingRig } from '../support/binding-rigs.js';
import { TEST_OBJECT } from '../support/test-model.js';

/** Bindings whose rig cannot start here: every case is skipped with this message (none today). */
const PENDING_RIGS: Partial<Record<BindingName, string>> = {};

/** Cases marked todo while a bug in src/ makes them fail over a binding (none open). */
const KNOWN_BUGS: Partial<Record<BindingName, Partial<Record<CaseName, string>>>> = {};

const T = `/${TEST_OBJECT}/0`;
/** Bounds each wait on an event, so a lost message fails the case instead of hanging the run. */
const WAIT_MS = 5000;

function event<T extends unknown[]>(emitter: NodeJS.EventEmitter, name: string): Promise<T> {
  return once(emitter, name, { signal: AbortSignal.timeout(WAIT_MS) }) as Promise<T>;
}

/** The length of a text value (undefined for anything else), to compare large values briefly. */
const lengthOf = (value: unknown): number | undefined =>
  typeof value === 'string' ? value.length : undefined;

type Body = (rig: BindingRig, t: TestContext) => Promise<void> | void;

for (const binding of BINDINGS) {
  describe(`LwM2M operations over ${binding}`, () => {
    const pending = PENDING_RIGS[binding];
    let shared: BindingRig | undefined;
    /** Rigs a case starts for itself (queue mode, Profile ID), closed with the shared one. */
    const own: BindingRig[] = [];

    before(async () => {
      if (!pending) shared = await startRig(binding);
    });
    after(async () => {
      for (const rig of own.splice(0)) await rig.close();
      await shared?.close();
    });

    /** One case: skipped with the table's reason where the binding cannot carry it. */
    const matrixCase = (name: CaseName, title: string, body: Body): void => {
      const bug = KNOWN_BUGS[binding]?.[name];
      it(`${title} [${name}]`, { timeout: 15_000, ...(bug ? { todo: bug } : {}) }, async (t) => {
        if (pending) return t.skip(pending);
        const reason = notApplicable(binding, name);
        if (reason !== undefined) return t.skip(`not applicable over ${binding}: ${reason}`);
        assert.ok(shared, `the ${binding} rig did not start`);
        await body(shared, t);
      });
    };

    const ownRig = async (options: Parameters<typeof startRig>[1]): Promise<BindingRig> => {
      const rig = await startRig(binding, options);
      own.push(rig);
      return rig;
    };

    matrixCase(
      'register',
      'registers, with its transport and binding letter',
      ({ registration: reg, endpoint }) => {
        assert.equal(reg.transport, binding);
        assert.equal(reg.binding, BINDING_LETTER[binding]);
        // Over DTLS/TLS the registration is bound to the PSK identity the handshake used.
        const secure = binding === 'dtls' || binding === 'tls';
        assert.deepEqual(reg.peer.identity, secure ? { psk: `${endpoint}-id` } : undefined);
        assert.equal(reg.lwm2mVersion, '1.2');
        assert.equal(reg.lifetime, 300);
        const ids = reg.objects.map((o) => o.id);
        for (const id of [1, 3, 3303, TEST_OBJECT]) assert.ok(ids.includes(id), `/${id} in ${ids.join(',')}`);
      },
    );

    matrixCase('register-profile-id', 'registers by Profile ID (pid)', async () => {
      const rig = await ownRig({ profileId: 'dynamic', endpoint: `matrix-${binding}-pid` });
      assert.equal(rig.registration.transport, binding);
      assert.equal(rig.registration.profileIds.length, 1);
      assert.match(rig.registration.profileIds[0]!, /^6:[0-9a-f]{8}$/);
      assert.equal((await rig.server.read(rig.endpoint, '/3303/0/5700')).code, '2.05');
    });

    matrixCase('read', 'Read of a resource, an instance and an object', async ({ server, endpoint }) => {
      const single = await server.read(endpoint, '/3303/0/5700');
      assert.equal(single.code, '2.05');
      assert.deepEqual(single.values, { '/3303/0/5700': 21.5 });
      const instance = await server.read(endpoint, '/3/0');
      assert.equal(instance.code, '2.05');
      assert.equal(instance.values['/3/0/0'], 'Petrel');
      assert.equal(instance.values['/3/0/1'], 'matrix');
      const object = await server.read(endpoint, '/3303');
      assert.equal(object.code, '2.05');
      assert.equal(object.values['/3303/0/5700'], 21.5);
      assert.equal(object.values['/3303/0/5701'], 'Cel');
      assert.equal((await server.read(endpoint, '/3303/9')).code, '4.04');
      assert.equal((await server.read(endpoint, '/3/0/4')).code, '4.05', 'Reboot is not readable');
      // Every content format a 1.2 client speaks travels the same way.
      for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor', 'lwm2m-json']) {
        const result = await server.read(endpoint, '/3/0', { format });
        assert.equal(result.code, '2.05', format);
        assert.equal(result.format, format);
        assert.equal(result.values['/3/0/0'], 'Petrel', format);
      }
      // Requests in flight together are told apart (tokens, message ids) and all answered.
      const parallel = await Promise.all(
        Array.from({ length: 10 }, (_, k) => server.read(endpoint, k % 2 ? '/3303/0/5700' : '/3/0/0')),
      );
      assert.deepEqual(
        parallel.map((r) => Object.values(r.values)[0]),
        Array.from({ length: 10 }, (_, k) => (k % 2 ? 21.5 : 'Petrel')),
      );
    });

    matrixCase('write', 'Write: replace and partial update', async ({ server, endpoint, testInstance }) => {
      assert.equal((await server.write(endpoint, `${T}/5`, 'written')).code, '2.04');
      assert.equal(testInstance.get(5)?.value, 'written');
      // Partial update keeps the instances it does not name; replace drops them (Core §6.3.3).
      const partial = await server.write(
        endpoint,
        `${T}/15`,
        { [`${T}/15/1`]: 'Yellow', [`${T}/15/3`]: 'Blue' },
        { mode: 'update' },
      );
      assert.equal(partial.code, '2.04');
      assert.deepEqual((await server.read(endpoint, `${T}/15`)).values, {
        [`${T}/15/0`]: 'Red',
        [`${T}/15/1`]: 'Yellow',
        [`${T}/15/3`]: 'Blue',
      });
      const replace = await server.write(endpoint, `${T}/15`, { [`${T}/15/7`]: 'Only' });
      assert.equal(replace.code, '2.04');
      assert.deepEqual((await server.read(endpoint, `${T}/15`)).values, { [`${T}/15/7`]: 'Only' });
    });

    matrixCase('execute', 'Execute with arguments', async ({ server, endpoint, executions }) => {
      const before = executions.length;
      assert.equal((await server.execute(endpoint, `${T}/9`, "0='run',1")).code, '2.04');
      assert.equal((await server.execute(endpoint, `${T}/5`)).code, '4.05', 'a readable resource');
      assert.deepEqual(executions.slice(before), [[{ digit: 0, value: 'run' }, { digit: 1 }]]);
    });

    matrixCase('create-delete', 'Create an instance, then Delete it', async ({ server, endpoint }) => {
      const created = await server.create(endpoint, `/${TEST_OBJECT}`, { '/5': 'made', '/6': -4 });
      assert.equal(created.code, '2.01');
      assert.equal(created.location, `/${TEST_OBJECT}/1`);
      assert.deepEqual((await server.read(endpoint, `/${TEST_OBJECT}/1/6`)).values, {
        [`/${TEST_OBJECT}/1/6`]: -4,
      });
      assert.equal((await server.delete(endpoint, `/${TEST_OBJECT}/1`)).code, '2.02');
      assert.equal((await server.read(endpoint, `/${TEST_OBJECT}/1`)).code, '4.04');
    });

    matrixCase('discover', 'Discover an instance', async ({ server, endpoint }) => {
      const found = await server.discover(endpoint, '/3303/0');
      assert.equal(found.code, '2.05');
      const targets = found.links?.map((l) => l.target) ?? [];
      assert.ok(targets.includes('/3303/0/5700'), targets.join(','));
      assert.ok(targets.includes('/3303/0/5701'), targets.join(','));
    });

    /** Writes attributes on /42769/0/0 and returns what Discover shows on that link afterwards. */
    const attributesAfter = async (
      { server, endpoint }: BindingRig,
      attributes: Parameters<BindingRig['server']['writeAttributes']>[2],
    ): Promise<Record<string, string>> => {
      assert.equal((await server.writeAttributes(endpoint, `${T}/0`, attributes)).code, '2.04');
      const found = await server.discover(endpoint, T);
      const link = found.links?.find((l) => l.target === `${T}/0`);
      assert.ok(link, `Discover lists ${T}/0`);
      return Object.fromEntries(link.params.map((p) => [p.name, String(p.value)]));
    };

    matrixCase('write-attributes', 'Write-Attributes pmin/pmax', async (rig) => {
      const shown = await attributesAfter(rig, { pmin: 1, pmax: 60 });
      assert.equal(shown.pmin, '1');
      assert.equal(shown.pmax, '60');
    });

    matrixCase('write-attributes-gt', 'Write-Attributes gt', async (rig) => {
      assert.equal((await attributesAfter(rig, { gt: 30 })).gt, '30');
    });

    matrixCase('write-attributes-lt', 'Write-Attributes lt', async (rig) => {
      assert.equal((await attributesAfter(rig, { lt: 5 })).lt, '5');
    });

    matrixCase('write-attributes-con', 'Write-Attributes con', async (rig) => {
      assert.equal((await attributesAfter(rig, { con: 1 })).con, '1');
    });

    matrixCase(
      'observe',
      'Observe, a notification, proactive cancel',
      async ({ server, endpoint, temperature }) => {
        temperature.set(5700, 21.5);
        const observation = await server.observe(endpoint, '/3303/0/5700');
        assert.equal(observation.response.code, '2.05');
        assert.deepEqual(observation.response.values, { '/3303/0/5700': 21.5 });
        const next = event<[ObservationNotification]>(observation, 'notification');
        temperature.set(5700, 23.25);
        const [n] = await next;
        assert.deepEqual(n.result.values, { '/3303/0/5700': 23.25 });
        const cancelled = await observation.cancel();
        assert.equal(cancelled?.code, '2.05');
        assert.equal(observation.active, false);
        assert.equal(server.observations(endpoint).includes(observation), false);
        // Cancelled on the client too: a later change is not notified.
        const late: unknown[] = [];
        const listener = (e: ObservationNotification): void => void late.push(e);
        server.on('notification', listener);
        temperature.set(5700, 25.5);
        await new Promise((resolve) => setTimeout(resolve, 150));
        server.off('notification', listener);
        assert.deepEqual(late, []);
      },
    );

    matrixCase(
      'confirmable-notification',
      'a notification with con=1 is confirmable',
      async ({ server, endpoint, temperature }) => {
        const observation = await server.observe(endpoint, '/3303/0/5700', { attributes: { con: 1 } });
        assert.equal(observation.response.code, '2.05');
        const next = event<[ObservationNotification]>(observation, 'notification');
        temperature.set(5700, 24.5);
        const [n] = await next;
        assert.equal(n.confirmable, true);
        assert.deepEqual(n.result.values, { '/3303/0/5700': 24.5 });
        await observation.cancel();
      },
    );

    matrixCase(
      'observe-composite',
      'Observe-Composite, a notification, cancel',
      async ({ server, endpoint, temperature }) => {
        temperature.set(5700, 20);
        const observation = await server.observeComposite(endpoint, ['/3303/0/5700', '/3/0/0']);
        assert.equal(observation.response.code, '2.05');
        assert.deepEqual(observation.response.values, { '/3303/0/5700': 20, '/3/0/0': 'Petrel' });
        const next = event<[ObservationNotification]>(observation, 'notification');
        temperature.set(5700, 19.5);
        const [n] = await next;
        assert.equal(n.result.values['/3303/0/5700'], 19.5);
        const cancelled = await observation.cancel();
        assert.equal(cancelled?.code, '2.05');
        assert.equal(observation.active, false);
      },
    );

    matrixCase('read-composite', 'Read-Composite', async ({ server, endpoint, temperature }) => {
      temperature.set(5700, 22);
      const result = await server.readComposite(endpoint, ['/3303/0/5700', '/3/0/0', `${T}/3`]);
      assert.equal(result.code, '2.05');
      assert.equal(result.values['/3303/0/5700'], 22);
      assert.equal(result.values['/3/0/0'], 'Petrel');
      assert.ok(`${T}/3` in result.values, Object.keys(result.values).join(','));
    });

    matrixCase('write-composite', 'Write-Composite', async ({ server, endpoint, client }) => {
      const result = await server.writeComposite(endpoint, { '/3/0/14': '+01:00', [`${T}/5`]: 'composite' });
      assert.equal(result.code, '2.04');
      assert.deepEqual(
        client.read('/3/0/14').map((r) => r.value?.value),
        ['+01:00'],
      );
      assert.deepEqual(
        client.read(`${T}/5`).map((r) => r.value?.value),
        ['composite'],
      );
    });

    matrixCase('send', 'Send (client to server)', async ({ server, client, temperature, endpoint }) => {
      temperature.set(5700, 18.75);
      const sent = event<[{ registration: Registration; result: { values: Record<string, unknown> } }]>(
        server,
        'send',
      );
      const response = await client.send(['/3303/0/5700', '/3/0/0']);
      assert.equal(response.code, '2.04');
      const [e] = await sent;
      assert.equal(e.registration.endpoint, endpoint);
      assert.deepEqual(e.result.values, { '/3303/0/5700': 18.75, '/3/0/0': 'Petrel' });
    });

    matrixCase(
      'large-value',
      `a 20 kB value both ways (${LARGE_PAYLOAD_MECHANISM[binding]})`,
      async ({ server, client, endpoint, testInstance, clientMessages }) => {
        const big = 'x'.repeat(20_000);
        testInstance.set(5, big);
        const mark = clientMessages?.length ?? 0;
        const read = await server.read(endpoint, `${T}/5`);
        assert.equal(read.code, '2.05');
        assert.equal(read.values[`${T}/5`], big);
        if (clientMessages) {
          // Over UDP/DTLS the answer left in Block2 pieces, none near the 20 kB (RFC 7959).
          const pieces = clientMessages.slice(mark);
          assert.ok(pieces.length >= 10, `${pieces.length} messages`);
          assert.ok(Math.max(...pieces.map((m) => m.length)) <= 1200, 'every piece fits a datagram');
        }
        const back = 'y'.repeat(20_000);
        assert.equal((await server.write(endpoint, `${T}/5`, back)).code, '2.04');
        assert.equal(testInstance.get(5)?.value, back);
        // The composite operations and Send carry it as well (FETCH, iPATCH, POST /dp).
        const composite = await server.readComposite(endpoint, [`${T}/5`, '/3/0/0']);
        assert.equal(composite.code, '2.05');
        assert.equal(composite.values[`${T}/5`], back);
        const patched = 'p'.repeat(20_000);
        assert.equal((await server.writeComposite(endpoint, { [`${T}/5`]: patched })).code, '2.04');
        assert.equal(testInstance.get(5)?.value, patched);
        const sent = event<[{ result: { values: Record<string, unknown> } }]>(server, 'send');
        assert.equal((await client.send([`${T}/5`])).code, '2.04');
        assert.equal((await sent)[0].result.values[`${T}/5`], patched);
        testInstance.set(5, 'hello');
      },
    );

    /** Observes a 20 kB value on a rig of its own, so a failure leaves the shared rig alone. */
    matrixCase(
      'large-observe',
      'Observe and Observe-Composite of a 20 kB value: the answers carry it whole',
      async () => {
        const rig = await ownRig({ endpoint: `matrix-${binding}-big-observe` });
        const big = 'o'.repeat(20_000);
        rig.testInstance.set(5, big);
        const observation = await rig.server.observe(rig.endpoint, `${T}/5`);
        assert.equal(observation.response.code, '2.05');
        assert.equal(lengthOf(observation.response.values[`${T}/5`]), big.length, 'Observe answer');
        const cancelled = await observation.cancel();
        assert.equal(lengthOf(cancelled?.values[`${T}/5`]), big.length, 'Cancel answer');
        const composite = await rig.server.observeComposite(rig.endpoint, [`${T}/5`, '/3/0/0']);
        assert.equal(lengthOf(composite.response.values[`${T}/5`]), big.length, 'Observe-Composite answer');
        await composite.cancel();
      },
    );

    matrixCase(
      'large-notification',
      `a 20 kB notification (${LARGE_PAYLOAD_MECHANISM[binding]})`,
      async () => {
        const rig = await ownRig({ endpoint: `matrix-${binding}-big-notify` });
        const observation = await rig.server.observe(rig.endpoint, `${T}/5`);
        assert.equal(observation.response.values[`${T}/5`], 'hello');
        const mark = rig.clientMessages?.length ?? 0;
        const next = once(observation, 'notification', { signal: AbortSignal.timeout(2000) }) as Promise<
          [ObservationNotification]
        >;
        const big = 'n'.repeat(20_000);
        rig.testInstance.set(5, big);
        const [n] = await next;
        assert.equal(lengthOf(n.result.values[`${T}/5`]), big.length);
        if (rig.clientMessages) {
          // Over UDP/DTLS the notification carries the first block; the server GETs the rest.
          const sizes = rig.clientMessages.slice(mark).map((m) => m.length);
          assert.ok(Math.max(...sizes) <= 1200, `message sizes ${sizes.join(',')}`);
        }
      },
    );

    matrixCase(
      'update',
      'Update: on demand, and when the lifetime is written',
      async ({ server, client, endpoint }) => {
        let updated = event<[Registration]>(server, 'updated');
        await client.update();
        assert.equal((await updated)[0].transport, binding);
        updated = event<[Registration]>(server, 'updated');
        assert.equal((await server.write(endpoint, '/1/0/1', 120)).code, '2.04');
        const [reg] = await updated;
        assert.equal(reg.lifetime, 120);
        assert.equal(reg.transport, binding);
        // The Registration Update Trigger (/1/x/8) without an argument: an Update, same binding.
        updated = event<[Registration]>(server, 'updated');
        assert.equal((await server.execute(endpoint, '/1/0/8')).code, '2.04');
        const [triggered] = await updated;
        assert.equal(triggered.transport, binding);
        assert.equal(triggered.id, reg.id, 'the same registration');
        assert.equal((await server.read(endpoint, '/3/0/0')).code, '2.05', 'downlinks still reach it');
      },
    );

    matrixCase(
      'queue-mode',
      'queue mode: a Read waits while the client sleeps, and follows its wake-up',
      async () => {
        const rig = await ownRig({ queueMode: true, awakeTime: 300, endpoint: `matrix-${binding}-queue` });
        assert.equal(rig.registration.queueMode, true);
        await event(rig.server, 'sleeping');
        assert.equal(rig.server.isAwake(rig.endpoint), false);
        const served: string[] = [];
        rig.client.on('request', (info) => served.push(info.kind));
        let read: Promise<OperationResult> | undefined;
        // onQueued: the Read went into the queue of the sleeping client instead of being sent.
        const queued = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the Read was not queued')), WAIT_MS);
          read = rig.server.read(rig.endpoint, '/3303/0/5700', {
            onQueued: () => {
              clearTimeout(timer);
              resolve();
            },
          });
        });
        await queued;
        assert.ok(read);
        read.catch(() => undefined); // awaited below; a failed assertion must not leave it unhandled
        assert.deepEqual(served, [], 'nothing reaches the client while it sleeps');
        const updated = event<[Registration]>(rig.server, 'updated');
        await rig.client.wake();
        const [woken] = await updated;
        assert.equal(woken.transport, binding);
        const result = await read;
        assert.equal(result.code, '2.05');
        assert.deepEqual(result.values, { '/3303/0/5700': 21.5 });
        assert.deepEqual(served, ['read']);
      },
    );

    matrixCase('bootstrap', 'Bootstrap, then Register where the Bootstrap-Server sent it', async (rig, t) => {
      if (binding === 'mqtt')
        return t.skip(`bootstrap over ${binding}: covered in test/bootstrap/bootstrap-bindings.test.ts`);
      const run = await runBootstrap(binding, rig);
      try {
        assert.equal(run.session.transport, binding);
        assert.deepEqual(run.session.outcome, { status: 'succeeded' });
        assert.equal(run.registration.transport, binding);
        assert.equal(run.registration.binding, BINDING_LETTER[binding]);
        const secure = binding === 'dtls' || binding === 'tls';
        const identity = secure ? { psk: `${run.registration.endpoint}-id` } : undefined;
        assert.deepEqual(run.registration.peer.identity, identity, 'the PSK the Bootstrap-Server handed out');
        assert.equal((await rig.server.read(run.registration.endpoint, '/3/0/0')).code, '2.05');
      } finally {
        await run.close();
      }
    });

    matrixCase('deregister', 'De-register on stop', async ({ server, client, endpoint }) => {
      const observation = await server.observe(endpoint, '/3303/0/5700');
      const ended = event<[string]>(observation, 'end');
      const gone = event<[Registration]>(server, 'deregistered');
      await client.stop();
      const [reg] = await gone;
      assert.equal(reg.endpoint, endpoint);
      assert.equal(await server.getRegistration(endpoint), undefined);
      assert.deepEqual(await ended, ['deregistered'], 'its observations end with it');
    });
  });
}
