import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NotificationEngine,
  NotificationEngineError,
  type NotificationDefaults,
  type ObserveOptions,
} from '../../src/client/notification-engine.js';
import { FakeClock } from '../../src/clock.js';
import type { NotificationAttributes } from '../../src/model/attributes.js';
import { Value, type LwM2mValue } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { TimerQueue } from '../../src/timer-queue.js';

const P = (s: string): LwM2mPath => LwM2mPath.parse(s);
const WALL0 = 1_700_000_000_000; // wall clock (ms since epoch) at FakeClock time 0

interface Sent {
  readonly at: number; // seconds on the fake clock
  readonly confirmable: boolean;
  readonly records: readonly { path: string; value: unknown; time?: number }[];
}

/** A tiny device: values by path, an engine on a fake clock, every notification recorded. */
function device(options: { defaults?: NotificationDefaults; historyLimit?: number } = {}) {
  const clock = new FakeClock(0);
  const engine = new NotificationEngine({
    clock,
    wallClock: () => WALL0 + clock.now(),
    ...(options.historyLimit === undefined ? {} : { historyLimit: options.historyLimit }),
  });
  const values = new Map<string, LwM2mValue>();
  const sent: Sent[] = [];
  let defaults: NotificationDefaults = options.defaults ?? {};
  const read = (paths: readonly LwM2mPath[]) => (): LwM2mRecord[] =>
    [...values]
      .map(([k, value]) => ({ path: P(k), value }))
      .filter((r) => paths.some((p) => p.covers(r.path)))
      .sort((a, b) => LwM2mPath.compare(a.path, b.path));
  return {
    clock,
    engine,
    sent,
    setDefaults(d: NotificationDefaults) {
      defaults = d;
    },
    /** Sets a value without telling the engine (a sensor that is only sampled). */
    setSilently(path: string, v: number | boolean) {
      values.set(path, typeof v === 'boolean' ? Value.boolean(v) : Value.float(v));
    },
    set(path: string, v: number | boolean) {
      this.setSilently(path, v);
      engine.changed([P(path)]);
    },
    observe(
      key: string,
      paths: string[],
      extra: { serverId?: number; observationAttributes?: NotificationAttributes; composite?: boolean } = {},
    ) {
      const parsed = paths.map(P);
      const opts: ObserveOptions = {
        composite: extra.composite ?? paths.length > 1,
        read: read(parsed),
        send: (records, confirmable) =>
          sent.push({
            at: clock.now() / 1000,
            confirmable,
            records: records.map((r) => ({
              path: r.path.toString(),
              value: r.value?.value,
              ...(r.time === undefined ? {} : { time: r.time }),
            })),
          }),
        defaults: () => defaults,
        ...(extra.observationAttributes ? { observationAttributes: extra.observationAttributes } : {}),
      };
      engine.observe(extra.serverId ?? 1, key, parsed, opts);
    },
    /** Advances the fake clock by `s` seconds. */
    advance(s: number) {
      clock.advance(s * 1000);
    },
  };
}

/**
 * src/timer-queue.ts re-arms its host timer for a task scheduled from inside a running task even
 * when an earlier task is already queued, so that earlier task fires late. Tests whose timing
 * depends on it are `todo` until `#fire` re-arms for the heap head (reported to the lead).
 */

const times = (sent: readonly Sent[]): number[] => sent.map((s) => s.at);
const vals = (sent: readonly Sent[]): unknown[] => sent.map((s) => s.records.map((r) => r.value));

describe('NotificationEngine: timing', () => {
  it('pmax attached to the resource: periodic notifications with the current value', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 20);
    d.engine.attributes.apply(1, P('/3303/0/5700'), { pmax: 10 });
    d.observe('a', ['/3303/0/5700']);
    d.advance(5);
    d.setSilently('/3303/0/5700', 21);
    d.advance(30);
    assert.deepEqual(times(d.sent), [10, 20, 30]);
    assert.deepEqual(vals(d.sent), [[21], [21], [21]]);
    assert.deepEqual(d.sent[0]!.records, [{ path: '/3303/0/5700', value: 21 }], 'live records carry no time');
  });

  it('pmin from /1/x/2 delays a change; pmax from /1/x/3 repeats', () => {
    const d = device({ defaults: { pmin: 5, pmax: 20 } });
    d.setSilently('/3303/0/5700', 1);
    d.observe('a', ['/3303/0/5700']);
    d.advance(1);
    d.set('/3303/0/5700', 2);
    d.advance(2);
    d.set('/3303/0/5700', 3);
    d.advance(30);
    assert.deepEqual(times(d.sent), [5, 25]);
    assert.deepEqual(vals(d.sent), [[3], [3]]);
  });

  it('attributes are inherited: object pmin, resource gt', () => {
    const d = device();
    d.engine.attributes.apply(1, P('/3303'), { pmin: 10 });
    d.engine.attributes.apply(1, P('/3303/0/5700'), { gt: 30 });
    d.setSilently('/3303/0/5700', 20);
    d.observe('a', ['/3303/0/5700']);
    d.advance(1);
    d.set('/3303/0/5700', 25); // below gt: no condition
    d.advance(11);
    assert.deepEqual(d.sent, []);
    d.set('/3303/0/5700', 35); // crossing, pmin elapsed
    d.advance(1);
    d.set('/3303/0/5700', 20); // crossing back inside pmin: sent at 12 + 10
    d.advance(20);
    assert.deepEqual(times(d.sent), [12, 22]);
    assert.deepEqual(vals(d.sent), [[35], [20]]);
  });

  it('attributes of another server do not apply', () => {
    const d = device();
    d.engine.attributes.apply(2, P('/3303/0/5700'), { pmax: 1 });
    d.setSilently('/3303/0/5700', 20);
    d.observe('a', ['/3303/0/5700'], { serverId: 1 });
    d.advance(10);
    assert.deepEqual(d.sent, []);
  });

  it('epmax: a sensor that only changes silently is sampled every epmax', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 20);
    d.observe('a', ['/3303/0/5700'], { observationAttributes: { epmax: 5 } });
    d.advance(3);
    d.setSilently('/3303/0/5700', 21);
    d.advance(10);
    assert.deepEqual(times(d.sent), [5]);
    assert.deepEqual(vals(d.sent), [[21]]);
  });

  it('a Write-Attributes mid-observation takes effect (attributesChanged)', () => {
    const d = device();
    d.setSilently('/3/0/13', 1);
    d.engine.attributes.apply(1, P('/3/0/13'), { pmax: 100 });
    d.observe('a', ['/3/0/13']);
    d.advance(5);
    d.engine.attributes.apply(1, P('/3/0/13'), { pmax: 10 });
    d.engine.attributesChanged(1);
    d.advance(20);
    assert.deepEqual(times(d.sent), [10, 20], 'the running period restarts from the last notification');
  });
});

describe('NotificationEngine: what counts as a change', () => {
  it('a change under an observed instance or object notifies with the whole container', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 1);
    d.setSilently('/3303/0/5701', 2);
    d.setSilently('/3303/1/5700', 3);
    d.observe('inst', ['/3303/0']);
    d.observe('obj', ['/3303']);
    d.set('/3303/0/5700', 5);
    assert.deepEqual(
      d.sent.map((s) => s.records.map((r) => r.path)),
      [
        ['/3303/0/5700', '/3303/0/5701'],
        ['/3303/0/5700', '/3303/0/5701', '/3303/1/5700'],
      ],
    );
    d.sent.length = 0;
    d.set('/3303/1/5700', 6);
    assert.equal(d.sent.length, 1, 'only the object observation sees instance 1');
    d.sent.length = 0;
    d.engine.changed([P('/3304/0/5700')]);
    assert.deepEqual(d.sent, []);
  });

  it('a write to a whole instance reaches an observed resource below it; an unchanged value does not notify', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 1);
    d.observe('a', ['/3303/0/5700']);
    d.setSilently('/3303/0/5700', 2);
    d.engine.changed([P('/3303/0')]);
    assert.deepEqual(vals(d.sent), [[2]]);
    d.engine.changed([P('/3303/0/5700')]);
    assert.equal(d.sent.length, 1, 'value unchanged: no notification');
  });

  it('one changed() call with several paths notifies an observation once', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.setSilently('/3/0/13', 1);
    d.observe('a', ['/3/0']);
    d.setSilently('/3/0/9', 2);
    d.setSilently('/3/0/13', 2);
    d.engine.changed([P('/3/0/9'), P('/3/0/13')]);
    assert.equal(d.sent.length, 1);
  });
});

describe('NotificationEngine: observation attributes (1.2)', () => {
  it('replace attached and inherited attributes for that observation only', () => {
    const d = device();
    d.engine.attributes.apply(1, P('/3303'), { pmin: 100 });
    d.setSilently('/3303/0/5700', 1);
    d.observe('plain', ['/3303/0/5700']);
    d.observe('own', ['/3303/0/5700'], { observationAttributes: { pmax: 5 } });
    d.advance(1);
    d.set('/3303/0/5700', 2);
    d.advance(11);
    assert.deepEqual(times(d.sent), [1, 6, 11], 'the own observation ignores the attached pmin=100');
    assert.deepEqual(d.engine.attributes.attached(1, P('/3303')), { pmin: 100 }, 'attached ones stay');
    d.advance(90);
    assert.equal(d.sent.filter((s) => s.at === 100).length, 1, 'the plain one waits for pmin=100');
  });

  it('the /1/x/2 default still fills pmin when the observation does not set it', () => {
    const d = device({ defaults: { pmin: 3 } });
    d.setSilently('/3303/0/5700', 1);
    d.observe('a', ['/3303/0/5700'], { observationAttributes: { pmax: 50 } });
    d.advance(1);
    d.set('/3303/0/5700', 2);
    d.advance(5);
    assert.deepEqual(times(d.sent), [3]);
  });
});

describe('NotificationEngine: composite', () => {
  it('every notification carries all listed paths; a change to any of them triggers it', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 20);
    d.setSilently('/3/0/9', 80);
    d.setSilently('/3/0/13', 1);
    d.observe('c', ['/3303/0/5700', '/3/0/9'], { composite: true, observationAttributes: { pmin: 2 } });
    d.set('/3/0/9', 79);
    d.set('/3/0/13', 2); // not observed
    d.advance(3);
    assert.deepEqual(d.sent, [
      {
        at: 2,
        confirmable: false,
        records: [
          { path: '/3/0/9', value: 79 },
          { path: '/3303/0/5700', value: 20 },
        ],
      },
    ]);
  });

  it('a notification restarts the timers of every part', () => {
    const d = device();
    d.setSilently('/1/0/1', 1);
    d.setSilently('/3/0/9', 1);
    d.engine.attributes.apply(1, P('/3/0/9'), { pmax: 10 });
    d.observe('c', ['/1/0/1', '/3/0/9'], { composite: true });
    d.advance(4);
    d.set('/1/0/1', 2);
    d.advance(12);
    assert.deepEqual(times(d.sent), [4, 14]);
  });

  it('rejects several paths without composite, and no path at all', () => {
    const d = device();
    assert.throws(
      () => d.observe('x', ['/3/0/9', '/3/0/13'], { composite: false }),
      (e: unknown) => e instanceof NotificationEngineError && e.reason === 'not-composite',
    );
    assert.throws(
      () => d.observe('x', [], { composite: true }),
      (e: unknown) => e instanceof NotificationEngineError && e.reason === 'no-paths',
    );
    assert.equal(d.engine.size, 0);
  });
});

describe('NotificationEngine: con and Default Notification Mode (/1/x/26)', () => {
  it('con=1 attached makes notifications CON; otherwise /1/x/26 decides', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.setSilently('/3/0/13', 1);
    d.engine.attributes.apply(1, P('/3/0/9'), { con: 1 });
    d.observe('con', ['/3/0/9']);
    d.observe('plain', ['/3/0/13']);
    d.set('/3/0/9', 2);
    d.set('/3/0/13', 2);
    d.setDefaults({ notificationMode: 1 });
    d.set('/3/0/13', 3);
    d.setDefaults({ notificationMode: 0 });
    d.set('/3/0/13', 4);
    assert.deepEqual(
      d.sent.map((s) => s.confirmable),
      [true, false, true, false],
    );
  });

  it('composite: con=1 on any part makes the whole message CON', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.setSilently('/3/0/13', 1);
    d.engine.attributes.apply(1, P('/3/0/13'), { con: 1 });
    d.observe('c', ['/3/0/9', '/3/0/13'], { composite: true });
    d.set('/3/0/9', 2);
    assert.deepEqual(
      d.sent.map((s) => s.confirmable),
      [true],
    );
  });
});

describe('NotificationEngine: offline history (hqmax)', () => {
  it('stores at most hqmax notifications, oldest dropped, flushed with SenML times, then live', () => {
    const d = device();
    d.setSilently('/3303/0/5700', 20);
    d.observe('a', ['/3303/0/5700'], { observationAttributes: { pmax: 10, hqmax: 3 } });
    d.engine.setOnline(1, false);
    assert.equal(d.engine.isOnline(1), false);
    for (let t = 1; t <= 5; t++) {
      d.advance(10);
      d.setSilently('/3303/0/5700', 20 + t); // value for the next pmax sample
    }
    d.advance(5); // t = 55
    assert.deepEqual(d.sent, [], 'nothing goes out while offline');
    d.engine.setOnline(1, true);
    assert.deepEqual(d.sent, [
      {
        at: 55,
        confirmable: false,
        records: [
          { path: '/3303/0/5700', value: 22, time: (WALL0 + 30_000) / 1000 },
          { path: '/3303/0/5700', value: 23, time: (WALL0 + 40_000) / 1000 },
          { path: '/3303/0/5700', value: 24, time: (WALL0 + 50_000) / 1000 },
        ],
      },
    ]);
    d.advance(5);
    assert.deepEqual(d.sent[1], {
      at: 60,
      confirmable: false,
      records: [{ path: '/3303/0/5700', value: 25 }],
    });
  });

  it('changes while offline are stored too, each as the value notified then', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.engine.attributes.apply(1, P('/3/0/9'), { hqmax: 10 });
    d.observe('a', ['/3/0/9']);
    d.engine.setOnline(1, false);
    d.advance(1);
    d.set('/3/0/9', 2);
    d.advance(1);
    d.set('/3/0/9', 3);
    d.engine.setOnline(1, true);
    assert.equal(d.sent.length, 1);
    assert.deepEqual(d.sent[0]!.records, [
      { path: '/3/0/9', value: 2, time: (WALL0 + 1000) / 1000 },
      { path: '/3/0/9', value: 3, time: (WALL0 + 2000) / 1000 },
    ]);
    d.engine.setOnline(1, true);
    assert.equal(d.sent.length, 1, 'coming online twice flushes once');
  });

  it('composite: only parts with hqmax > 0 are stored', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.setSilently('/3/0/13', 1);
    d.engine.attributes.apply(1, P('/3/0/9'), { hqmax: 2 });
    d.observe('c', ['/3/0/9', '/3/0/13'], { composite: true });
    d.engine.setOnline(1, false);
    d.set('/3/0/13', 2);
    d.engine.setOnline(1, true);
    assert.deepEqual(d.sent[0]!.records, [{ path: '/3/0/9', value: 1, time: WALL0 / 1000 }]);
  });

  it('without hqmax: the missed notification goes out once, live, when back online', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.observe('a', ['/3/0/9']);
    d.engine.setOnline(1, false);
    d.set('/3/0/9', 2);
    d.set('/3/0/9', 3);
    d.advance(4);
    d.engine.setOnline(1, true);
    assert.deepEqual(d.sent, [{ at: 4, confirmable: false, records: [{ path: '/3/0/9', value: 3 }] }]);
  });

  it('/1/x/6 false: notifications due while offline are discarded', () => {
    const d = device({ defaults: { notificationStoring: false } });
    d.setSilently('/3/0/9', 1);
    d.observe('a', ['/3/0/9'], { observationAttributes: { hqmax: 5 } });
    d.engine.setOnline(1, false);
    d.set('/3/0/9', 2);
    d.engine.setOnline(1, true);
    assert.deepEqual(d.sent, []);
    d.set('/3/0/9', 3);
    assert.equal(d.sent.length, 1, 'live again');
  });

  it('offline is per server', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.observe('s1', ['/3/0/9'], { serverId: 1 });
    d.observe('s2', ['/3/0/9'], { serverId: 2 });
    d.engine.setOnline(2, false);
    d.set('/3/0/9', 2);
    assert.equal(d.sent.length, 1);
  });

  it('hqmax is capped by historyLimit', () => {
    const d = device({ historyLimit: 2 });
    d.setSilently('/3/0/9', 0);
    d.observe('a', ['/3/0/9'], { observationAttributes: { hqmax: 1_000_000 } });
    d.engine.setOnline(1, false);
    for (let v = 1; v <= 5; v++) d.set('/3/0/9', v);
    d.engine.setOnline(1, true);
    assert.deepEqual(
      d.sent[0]!.records.map((r) => r.value),
      [4, 5],
    );
  });
});

describe('NotificationEngine: lifecycle', () => {
  it('cancel, cancelServer, replacing a key, size', () => {
    const d = device();
    d.setSilently('/3/0/9', 1);
    d.observe('a', ['/3/0/9'], { serverId: 1, observationAttributes: { pmax: 1 } });
    d.observe('b', ['/3/0/9'], { serverId: 1 });
    d.observe('c', ['/3/0/9'], { serverId: 2 });
    assert.equal(d.engine.size, 3);
    d.observe('a', ['/3/0/9'], { serverId: 1 }); // same key: replaces, without pmax
    assert.equal(d.engine.size, 3);
    d.advance(5);
    assert.deepEqual(d.sent, [], 'the replaced observation’s pmax timer is gone');
    assert.equal(d.engine.cancel('b'), true);
    assert.equal(d.engine.cancel('b'), false);
    assert.equal(d.engine.cancelServer(1), 1);
    assert.equal(d.engine.has('c'), true);
    d.set('/3/0/9', 2);
    assert.equal(d.sent.length, 1, 'only the server 2 observation is left');
    d.engine.close();
    assert.equal(d.engine.size, 0);
    assert.equal(d.clock.pending, 0);
  });

  it('a read or send that throws ends the observation and reports the error', () => {
    const clock = new FakeClock();
    const engine = new NotificationEngine({ clock });
    const errors: unknown[] = [];
    let fail = false;
    const base = {
      composite: false,
      read: (): LwM2mRecord[] => {
        if (fail) throw new Error('gone');
        return [{ path: P('/3/0/9'), value: Value.integer(clock.now()) }];
      },
      defaults: () => ({}),
      onError: (e: unknown) => errors.push(e),
    };
    engine.observe(1, 'r', [P('/3/0/9')], { ...base, send: () => {} });
    engine.observe(1, 's', [P('/3/0/9')], {
      ...base,
      send: () => {
        throw new Error('no route');
      },
    });
    clock.advance(1);
    engine.changed([P('/3/0/9')]);
    assert.equal(engine.has('s'), false);
    assert.equal(engine.has('r'), true);
    fail = true;
    engine.changed([P('/3/0/9')]);
    assert.equal(engine.size, 0);
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['no route', 'gone'],
    );
  });
});

describe('NotificationEngine: scale', () => {
  it('5000 observations run on one host timer and each keeps its own pmax', () => {
    const clock = new FakeClock();
    const engine = new NotificationEngine({ clock });
    const counts = new Array<number>(5000).fill(0);
    const record = [{ path: P('/3303/0/5700'), value: Value.float(1) }];
    for (let i = 0; i < 5000; i++)
      engine.observe(1 + (i % 7), `k${i}`, [P('/3303/0/5700')], {
        composite: false,
        observationAttributes: { pmax: 1 + (i % 60) },
        read: () => record,
        send: () => counts[i]!++,
        defaults: () => ({}),
      });
    assert.equal(engine.size, 5000);
    assert.equal(clock.pending, 1, 'one host timer for all observations');
    for (let s = 0; s < 120; s++) {
      clock.advance(1000);
      assert.ok(clock.pending <= 1);
    }
    for (let i = 0; i < 5000; i++)
      assert.equal(counts[i], Math.floor(120 / (1 + (i % 60))), `observation ${i}`);
    engine.close();
    assert.equal(clock.pending, 0);
  });

  it('many engines (simulated clients) can share one TimerQueue', () => {
    const clock = new FakeClock();
    const timers = new TimerQueue(clock);
    let sent = 0;
    const engines = Array.from({ length: 50 }, () => new NotificationEngine({ clock, timers }));
    engines.forEach((engine, e) => {
      for (let i = 0; i < 100; i++)
        engine.observe(1, `k${i}`, [P('/3/0/13')], {
          composite: false,
          observationAttributes: { pmax: 5 + ((e + i) % 10) },
          read: () => [{ path: P('/3/0/13'), value: Value.time(0) }],
          send: () => sent++,
          defaults: () => ({}),
        });
    });
    assert.equal(timers.size, 5000);
    assert.equal(clock.pending, 1);
    clock.advance(14_000);
    let expected = 0;
    for (let e = 0; e < 50; e++)
      for (let i = 0; i < 100; i++) expected += Math.floor(14 / (5 + ((e + i) % 10)));
    assert.equal(sent, expected, 'every observation notified at each of its pmax expiries');
    engines[0]!.close();
    assert.equal(timers.size, 4900, 'closing one engine leaves the shared queue to the others');
  });
});
