import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatFleetReport } from '../../src/cli/fleet-command.js';
import { ChurnSpecError, churnDue, formatChurn, parseChurn } from '../../src/cli/fleet-churn.js';
import {
  FleetDeviceError,
  FleetSensors,
  createFleetShared,
  defaultAddresses,
  formatObjectSet,
  parseAddressRange,
  parseObjectSet,
} from '../../src/cli/fleet-device.js';
import { HISTOGRAM_BUCKETS, LatencyHistogram, bucketLimit, bucketOf } from '../../src/cli/fleet-histogram.js';
import { FleetLoad, mergeRegistrations, processCount, splitCount } from '../../src/cli/fleet-load.js';
import type { FleetLoadStatus } from '../../src/cli/fleet-load.js';
import { FleetStats } from '../../src/cli/fleet-stats.js';
import { FleetError, percentile } from '../../src/cli/fleet.js';
import { Temperature } from '../../src/cli/simulated-device.js';
import { FakeClock } from '../../src/clock.js';

describe('LatencyHistogram', () => {
  it('keeps percentiles within 2 % of the exact nearest-rank ones, in fixed memory', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.02, max: 100_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom(0.5, 0.9, 0.99),
        (samples, p) => {
          const h = new LatencyHistogram();
          for (const s of samples) h.record(s);
          const exact = percentile(
            [...samples].sort((a, b) => a - b),
            p,
          );
          const approx = h.quantile(p)!;
          assert.ok(approx >= exact * 0.999 && approx <= exact * 1.021, `${approx} vs ${exact}`);
          assert.ok(h.quantile(0.5)! <= h.quantile(0.99)!);
          assert.ok(h.snapshot().buckets.length <= samples.length);
        },
      ),
    );
    assert.ok(HISTOGRAM_BUCKETS < 1000);
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(-5), 0);
    assert.ok(bucketLimit(bucketOf(12.3)) >= 12.3 && bucketLimit(bucketOf(12.3) - 1) < 12.3);
  });

  it('merges snapshots as if the samples were recorded in one', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 1; i <= 500; i++) {
      // Quarter milliseconds: sums exact in binary, whatever the order.
      (i % 3 === 0 ? a : b).record(i / 4);
      all.record(i / 4);
    }
    const merged = LatencyHistogram.from(a.snapshot()).merge(b.snapshot());
    assert.deepEqual(merged.snapshot(), all.snapshot());
    assert.deepEqual(merged.summary(), all.summary());
    assert.equal(new LatencyHistogram().summary(), undefined);
    // A bad bucket index from a peer is ignored, not written out of bounds.
    const odd = new LatencyHistogram().merge({ count: 1, sum: 1, min: 1, max: 1, buckets: [[99_999, 1]] });
    assert.equal(odd.count, 1);
  });
});

describe('FleetStats', () => {
  it('counts per operation, keeps three reasons per code, and merges', () => {
    const s = new FleetStats();
    s.ok('register', 2);
    s.ok('register', 4);
    s.ok('update');
    for (const reason of ['full', 'busy', 'later', 'again']) s.fail('register', '5.03', reason);
    s.fail('update', 'timeout', 'no response');
    const r = s.report(2000);
    assert.deepEqual([r.register.ok, r.register.failed, r.register.perSecond], [2, 4, 3]);
    assert.deepEqual(r.register.errors, [{ code: '5.03', count: 4, reasons: ['full', 'busy', 'later'] }]);
    assert.equal(r.update.latencyMs, undefined, 'an Update the fleet did not time');
    const twice = FleetStats.from([s.snapshot(), s.snapshot()]).report(2000);
    assert.deepEqual([twice.register.ok, twice.register.failed], [4, 8]);
    assert.deepEqual(twice.register.errors, [{ code: '5.03', count: 8, reasons: ['full', 'busy', 'later'] }]);
    assert.equal(twice.update.failed, 2);
    assert.equal(twice.register.latencyMs!.p50, r.register.latencyMs!.p50);
  });
});

describe('churn spec', () => {
  it('parses per device-minute and fleet-wide rates', () => {
    const spec = parseChurn('update=0.5, sleep=2,wake=3,deregister=0.1,register=100/s');
    assert.deepEqual(spec, {
      update: { value: 0.5, per: 'device-minute' },
      sleep: { value: 2, per: 'device-minute' },
      wake: { value: 3, per: 'device-minute' },
      deregister: { value: 0.1, per: 'device-minute' },
      register: { value: 100, per: 'second' },
    });
    assert.equal(formatChurn(spec), 'update=0.5,sleep=2,wake=3,deregister=0.1,register=100/s');
    assert.deepEqual(parseChurn(''), {});
    assert.equal(formatChurn({}), 'none');
  });

  it('refuses what it cannot read', () => {
    for (const [text, message] of [
      ['update', /not op=rate/],
      ['update=-1', /not op=rate/],
      ['update=1/m', /not op=rate/],
      ['fly=1', /unknown operation "fly"/],
      ['update=1,update=2', /given twice/],
      ['update=2000000', /above 1000000/],
      ['x'.repeat(600), /too long/],
    ] as const)
      assert.throws(
        () => parseChurn(text),
        (e: unknown) =>
          e instanceof ChurnSpecError && e.code === 'PETREL_ERR_FLEET_CHURN' && message.test(e.message),
        text,
      );
  });

  it('spreads rates over time, the eligible devices and the process share', () => {
    // 0.5 per device and minute, 600 devices: 5 a second, so 0.5 in 100 ms.
    assert.equal(churnDue({ value: 0.5, per: 'device-minute' }, 600, 100, 1), 0.5);
    // 100/s fleet-wide, this process holds a quarter: 2.5 in 100 ms.
    assert.equal(churnDue({ value: 100, per: 'second' }, 10, 100, 0.25), 2.5);
    assert.equal(churnDue({ value: 100, per: 'second' }, 0, 100, 1), 0, 'nobody to do it');
    assert.equal(churnDue(undefined, 10, 100, 1), 0);
  });
});

describe('object sets and addresses', () => {
  it('parses --objects', () => {
    assert.deepEqual(parseObjectSet('4,6,3303'), { connectivity: true, location: true, temperatures: 1 });
    assert.deepEqual(parseObjectSet('3'), { connectivity: false, location: false, temperatures: 0 });
    assert.deepEqual(parseObjectSet('3303*4, 6'), { connectivity: false, location: true, temperatures: 4 });
    assert.equal(formatObjectSet(parseObjectSet('6,3303*4')), '3,6,3303*4');
    for (const bad of ['', '5', '4*2', '3303*0', '3303*17', 'abc', '4;6'])
      assert.throws(() => parseObjectSet(bad), FleetDeviceError, bad);
  });

  it('parses --addresses ranges and picks loopback spreads on Linux', () => {
    assert.deepEqual(parseAddressRange('127.0.0.254-127.0.1.1'), [
      '127.0.0.254',
      '127.0.0.255',
      '127.0.1.0',
      '127.0.1.1',
    ]);
    assert.deepEqual(parseAddressRange('10.0.0.5'), ['10.0.0.5']);
    for (const bad of [
      '127.0.0.2-127.0.0.1',
      '::1-::2',
      '10.0.0.1-10.0.255.255',
      'a-b',
      '1.2.3.4-1.2.3.5-1.2.3.6',
    ])
      assert.throws(() => parseAddressRange(bad), FleetDeviceError, bad);
    const spread = defaultAddresses('coap://127.0.0.1:5683', 'linux');
    assert.deepEqual([spread.length, spread[0], spread.at(-1)], [254, '127.0.0.1', '127.0.0.254']);
    assert.deepEqual(defaultAddresses('coap://127.0.0.1:5683', 'darwin'), ['0.0.0.0']);
    assert.deepEqual(defaultAddresses('coap://10.1.2.3:5683', 'linux'), ['0.0.0.0']);
    assert.deepEqual(defaultAddresses('coap://[::1]:5683', 'linux'), ['::']);
  });
});

describe('fleet processes', () => {
  it('picks one process per 15000 devices and splits the indexes', () => {
    assert.equal(processCount(200), 1);
    assert.equal(processCount(15_000), 1);
    assert.equal(processCount(15_001), 2);
    assert.equal(processCount(100_000), 7);
    assert.equal(processCount(10, 4), 4);
    assert.equal(processCount(3, 8), 3, 'never more processes than devices');
    assert.deepEqual(splitCount(10, 3), [
      { first: 1, count: 4 },
      { first: 5, count: 3 },
      { first: 8, count: 3 },
    ]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 64 }), (count, n) => {
        const parts = splitCount(count, Math.min(n, count));
        assert.equal(
          parts.reduce((s, p) => s + p.count, 0),
          count,
        );
        parts.forEach((p, i) => i > 0 && assert.equal(p.first, parts[i - 1]!.first + parts[i - 1]!.count));
      }),
    );
  });

  it('merges the registration phases of the processes', () => {
    const h = (ms: number[]) => {
      const l = new LatencyHistogram();
      for (const m of ms) l.record(m);
      return l.snapshot();
    };
    const base = { total: 0, started: 0, registered: 0, failed: 0, pending: 0, failures: [], aborted: false };
    const merged = mergeRegistrations(
      [
        {
          summary: {
            ...base,
            started: 5,
            registered: 4,
            failed: 1,
            elapsedMs: 1000,
            registrationsPerSecond: 4,
            latencyMs: undefined,
            failures: [{ code: '5.03', count: 1, reasons: ['full'] }],
          },
          latency: h([1, 2, 3, 4]),
        },
        {
          summary: {
            ...base,
            started: 5,
            registered: 3,
            pending: 2,
            elapsedMs: 2000,
            registrationsPerSecond: 1.5,
            latencyMs: undefined,
            failures: [{ code: '5.03', count: 2, reasons: ['busy'] }],
            aborted: true,
          },
          latency: h([10, 20, 30]),
        },
      ],
      10,
    );
    assert.deepEqual(
      [merged.total, merged.started, merged.registered, merged.failed, merged.pending, merged.aborted],
      [10, 10, 7, 1, 2, true],
    );
    assert.equal(merged.elapsedMs, 2000);
    assert.equal(merged.registrationsPerSecond, 3.5);
    assert.deepEqual(merged.failures, [{ code: '5.03', count: 3, reasons: ['full', 'busy'] }]);
    assert.equal(merged.latencyMs!.max, 30);
    assert.ok(merged.latencyMs!.p50 >= 3.9 && merged.latencyMs!.p50 <= 4.1, String(merged.latencyMs!.p50));
  });

  it('refuses bad load options before starting anything', () => {
    assert.throws(() => new FleetLoad({ count: 5, processes: 65 }), FleetError);
    assert.throws(
      () => new FleetLoad({ count: 5, churn: { wake: { value: 1, per: 'second' } } }),
      /queue mode/,
    );
    assert.throws(() => new FleetLoad({ count: 0 }), /count/);
  });
});

describe('fleet report', () => {
  it('prints a line per operation that happened, and the errors by code', () => {
    const empty = { ok: 0, failed: 0, perSecond: 0, latencyMs: undefined, errors: [] };
    const status: FleetLoadStatus = {
      phase: 'stopped',
      processes: 2,
      elapsedMs: 12_345,
      total: 100,
      started: 100,
      firstRegistered: 90,
      firstFailed: 10,
      registered: 0,
      asleep: 0,
      unregistered: 100,
      operations: {
        register: {
          ok: 95,
          failed: 10,
          perSecond: 8.5,
          latencyMs: { p50: 1.23, p99: 9.87, max: 12, mean: 2 },
          errors: [{ code: '5.03', count: 10, reasons: ['too many registrations'] }],
        },
        update: { ...empty, ok: 40, perSecond: 3.2 },
        wake: empty,
        sleep: empty,
        deregister: { ...empty, ok: 95, perSecond: 7.7 },
        served: empty,
      },
    };
    assert.equal(
      formatFleetReport(status, { registered: 85, asleep: 3, unregistered: 15 }),
      'report after 12.35 s, 100 devices in 2 processes: at the end 85 registered (3 asleep), 15 unregistered\n' +
        '  register   95 ok, 10 failed, 8.5/s, p50 1.2 ms, p99 9.9 ms\n' +
        '  update     40 ok, 0 failed, 3.2/s\n' +
        '  deregister 95 ok, 0 failed, 7.7/s\n' +
        '  errors: register 5.03 x10 (too many registrations)\n',
    );
  });
});

describe('fleet shared timers', () => {
  it('runs every device timer on one host timer, in due order, and cancels them', () => {
    const base = new FakeClock();
    const shared = createFleetShared(base);
    const fired: string[] = [];
    shared.clock.setTimeout(() => fired.push('b'), 200);
    const cancelled = shared.clock.setTimeout(() => fired.push('x'), 100);
    shared.clock.setTimeout(() => fired.push('a'), 50);
    assert.equal(base.pending, 1, 'one host timer for three device timers');
    shared.clock.clearTimeout(cancelled);
    assert.equal(shared.clock.now(), base.now());
    base.advance(60);
    assert.deepEqual(fired, ['a']);
    base.advance(1000);
    assert.deepEqual(fired, ['a', 'b']);
    assert.equal(shared.timers.size, 0);
  });

  it('moves extra temperature sensors on the shared clock until stopped', () => {
    const base = new FakeClock();
    const shared = createFleetShared(base);
    const values = [0.1, 0.9, 0.5, 0.3];
    let n = 0;
    const random = {
      next: () => values[n++ % values.length]!,
      int: () => 0,
      bytes: (k: number) => new Uint8Array(k),
    };
    const sensors = new FleetSensors(2, random, shared.clock);
    const read = (): unknown[] => sensors.instances.map((t) => t.get(Temperature.sensorValue)?.value);
    const start = read();
    sensors.start(1000, 10);
    base.advance(10);
    const moved = read();
    assert.notDeepEqual(moved, start);
    sensors.stop();
    base.advance(10_000);
    assert.deepEqual(read(), moved);
    assert.equal(shared.timers.size, 0);
  });
});
