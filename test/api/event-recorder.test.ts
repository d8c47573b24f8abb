import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordServerEvents } from '../../src/api/event-recorder.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { EventLog, LoggedEvent, StoredEvent } from '../../src/store/event-log.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { clientRig } from '../support/client-rig.js';

async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const byType = (events: StoredEvent[], type: string): StoredEvent[] => events.filter((e) => e.type === type);

describe('recordServerEvents', () => {
  it('logs registration, traces and notifications of a real client, in order', async () => {
    const rig = await clientRig({ noStart: true });
    const events = new MemoryEventLog({ capacity: 500 });
    const tags = new MemoryTagStore();
    await tags.set(rig.ep, ['site:paris']);
    const stop = recordServerEvents(rig.server, events, { tags, now: () => 1_700_000_000_000 });
    try {
      await rig.start();
      const read = await rig.server.read(rig.ep, '/3303/0/5700');
      const obs = await rig.server.observe(rig.ep, '/3303/0/5700', { attributes: { pmin: 0 } });
      rig.client.set('/3303/0/5700', 30.5);
      await until(async () => byType(await events.recent(), 'notification').length > 0);
      await stop.flush();
      const all = await events.recent();

      const [registered] = byType(all, 'registered');
      assert.ok(registered);
      assert.equal(registered.endpoint, rig.ep);
      assert.equal(registered.time, 1_700_000_000_000);
      assert.equal(registered.data.endpoint, rig.ep);
      assert.equal(registered.data.lwm2mVersion, '1.2');
      assert.equal(registered.data.status, 'awake');
      assert.deepEqual(registered.data.tags, ['site:paris']);

      const request = byType(all, 'request').find((e) => e.data.commandId === read.id);
      assert.deepEqual(request?.data, {
        commandId: read.id,
        operation: 'read',
        paths: ['/3303/0/5700'],
        token: read.token,
        messageId: read.messageId,
      });
      const response = byType(all, 'response').find((e) => e.data.commandId === read.id);
      assert.equal(response?.data.code, '2.05');
      assert.equal(typeof response?.data.latencyMs, 'number');
      assert.ok(request.seq < response.seq, 'request logged before its response');

      const uplink = byType(all, 'uplink')[0];
      assert.equal(uplink?.data.operation, 'register');
      assert.equal(uplink?.data.code, '2.01');
      assert.equal(uplink?.data.peer, '10.0.0.2:56830');

      const [notification] = byType(all, 'notification');
      assert.equal(notification?.endpoint, rig.ep);
      assert.equal(notification?.data.observationId, obs.id);
      assert.deepEqual(notification?.data.paths, ['/3303/0/5700']);
      assert.equal(notification?.data.code, '2.05');
      assert.deepEqual(notification?.data.values, { '/3303/0/5700': 30.5 });
      assert.deepEqual(notification?.data.records, [{ path: '/3303/0/5700', type: 'float', value: 30.5 }]);
      assert.equal(typeof notification?.data.sequence, 'number');

      const sent = await rig.client.send(['/3303/0/5700']);
      assert.equal(sent.code, '2.04');
      await until(async () => byType(await events.recent(), 'send').length > 0);
      const [send] = byType(await events.recent(), 'send');
      assert.equal(send?.endpoint, rig.ep);
      assert.deepEqual(send?.data.values, { '/3303/0/5700': 30.5 });
      assert.match(send?.data.commandId as string, /^[0-9a-f]{16}$/);

      await rig.client.stop();
      await until(async () => byType(await events.recent(), 'deregistered').length > 0);
      const [dereg] = byType(await events.recent(), 'deregistered');
      assert.deepEqual(dereg?.data, { endpoint: rig.ep, registrationId: rig.reg!.id });
    } finally {
      stop();
      await rig.close();
    }
  });

  it('leaves out values larger than maxValueBytes, keeping their size', async () => {
    const rig = await clientRig();
    const events = new MemoryEventLog();
    const stop = recordServerEvents(rig.server, events, { maxValueBytes: 10, types: ['notification'] });
    try {
      await rig.server.observe(rig.ep, '/3303/0/5700', { attributes: { pmin: 0 } });
      rig.client.set('/3303/0/5700', 22.5);
      await until(async () => (await events.recent()).length > 0);
      const [n] = await events.recent();
      assert.equal(n?.data.truncated, true);
      assert.equal(typeof n?.data.size, 'number');
      assert.ok((n?.data.size as number) > 10);
      assert.equal('values' in n.data, false);
      assert.equal(
        (await events.recent()).every((e) => e.type === 'notification'),
        true,
        'types filter',
      );
    } finally {
      stop();
      await rig.close();
    }
  });

  it('never throws into the server: append failures and a slow log are reported', async () => {
    const rig = await clientRig({ noStart: true });
    const errors: Error[] = [];
    const failing: EventLog = {
      capacity: 10,
      append: (_e: LoggedEvent) => Promise.reject(new Error('disk full')),
      recent: () => Promise.resolve([]),
      subscribe: () => () => undefined,
    };
    const stop = recordServerEvents(rig.server, failing, { onError: (e) => errors.push(e) });
    try {
      await rig.start();
      const read = await rig.server.read(rig.ep, '/3/0/0');
      assert.equal(read.code, '2.05', 'the server works on');
      await stop.flush();
      assert.ok(errors.length >= 3);
      assert.ok(errors.every((e) => e.message === 'disk full'));
    } finally {
      stop();
      await rig.close();
    }

    const rig2 = await clientRig({ noStart: true });
    const hung: EventLog = { ...failing, append: () => new Promise<StoredEvent>(() => undefined) };
    const reported: Error[] = [];
    const stop2 = recordServerEvents(rig2.server, hung, { maxPending: 2, onError: (e) => reported.push(e) });
    try {
      await rig2.start();
      await rig2.server.read(rig2.ep, '/3/0/0');
      assert.equal(reported.length, 1, 'dropping is reported once');
      assert.match(reported[0]!.message, /dropping events/);
    } finally {
      stop2();
      await rig2.close();
    }
  });

  it('stops recording when unsubscribed', async () => {
    const rig = await clientRig();
    const events = new MemoryEventLog();
    const stop = recordServerEvents(rig.server, events);
    stop();
    try {
      await rig.server.read(rig.ep, '/3/0/0');
      await stop.flush();
      assert.equal((await events.recent()).length, 0);
    } finally {
      await rig.close();
    }
  });

  it('logs the Bootstrap-Server finished sessions as bootstrap events, failures with their step', async () => {
    const rig = await clientRig({ noStart: true });
    const bs = new BootstrapServer({
      configs: new MemoryBootstrapConfigStore(),
      channel: new MemoryNetwork().channel('10.9.9.9', 5683),
    });
    const events = new MemoryEventLog({ capacity: 50 });
    const stop = recordServerEvents(rig.server, events, { bootstrap: bs, now: () => 42 });
    try {
      const base: BootstrapSessionRecord = {
        id: 'bs-1',
        endpoint: 'dev-9',
        kind: 'request',
        peer: '10.0.0.2:5683',
        transport: 'udp',
        startedAt: 1,
        reason: 'rotate',
        rotation: 'writing',
        steps: [{ operation: 'bootstrap-discover', path: '/', code: '2.05', latencyMs: 1 }],
      };
      bs.emit('session-finished', { ...base, outcome: { status: 'succeeded' } });
      bs.emit('session-finished', {
        ...base,
        id: 'bs-2',
        reason: 'reconfigure',
        outcome: {
          status: 'failed',
          reason: 'error-code',
          operation: 'bootstrap-write',
          path: '/0/1',
          code: '4.01',
          message: 'protected',
        },
      });
      await stop.flush();
      const logged = byType(await events.recent(), 'bootstrap');
      assert.equal(logged.length, 2);
      assert.equal(logged[0]!.endpoint, 'dev-9');
      assert.equal(logged[0]!.time, 42);
      assert.deepEqual(
        { ...logged[0]!.data },
        {
          sessionId: 'bs-1',
          kind: 'request',
          reason: 'rotate',
          rotation: 'writing',
          peer: '10.0.0.2:5683',
          transport: 'udp',
          lwm2mVersion: null,
          status: 'succeeded',
          steps: 1,
        },
      );
      assert.deepEqual(logged[1]!.data.failure, {
        reason: 'error-code',
        operation: 'bootstrap-write',
        path: '/0/1',
        code: '4.01',
        message: 'protected',
      });
      stop();
      bs.emit('session-finished', { ...base, id: 'bs-3', outcome: { status: 'succeeded' } });
      await stop.flush();
      assert.equal(byType(await events.recent(), 'bootstrap').length, 2, 'nothing after stop');
    } finally {
      stop();
      await rig.close();
    }
  });
});
