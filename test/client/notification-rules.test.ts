import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  markNotified,
  nextCheckAt,
  notificationIsConfirmable,
  onTimer,
  onValue,
  periodsOf,
  samplesEqual,
  startObservation,
  valueConditionHolds,
  withAttributes,
  type Sample,
  type Transition,
} from '../../src/client/notification-rules.js';
import type { NotificationAttributes } from '../../src/model/attributes.js';
import { Value, type LwM2mValue } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';

type Raw = number | boolean | string;
/** [time in s, new value, 'silent' = the value changes without the application signalling it] */
type Event = readonly [number, Raw] | readonly [number, Raw, 'silent'];

function toValue(v: Raw): LwM2mValue {
  if (typeof v === 'boolean') return Value.boolean(v);
  if (typeof v === 'string') return Value.string(v);
  return Number.isInteger(v) ? Value.integer(v) : Value.float(v);
}

function raw(s: Sample): Raw {
  assert.ok(s !== undefined && !Array.isArray(s));
  const v = (s as LwM2mValue).value;
  return typeof v === 'bigint' ? Number(v) : (v as Raw);
}

/**
 * Drives one state the way the engine does: timers fire at nextCheckAt (sampling the current
 * value) before a change at the same instant; signalled changes call onValue. Returns the
 * notifications as [time in s, value].
 */
function simulate(
  attributes: NotificationAttributes,
  initial: Raw,
  events: readonly Event[],
  until: number,
): [number, Raw][] {
  let current = toValue(initial);
  let state = startObservation(attributes, current, 0);
  let next = nextCheckAt(state);
  const out: [number, Raw][] = [];
  const take = (at: number, t: Transition): void => {
    state = t.state;
    next = t.nextCheckAt;
    if (t.notify) out.push([at / 1000, raw(current)]);
  };
  const runTimers = (upTo: number): void => {
    for (let guard = 0; next !== undefined && next <= upTo; guard++) {
      assert.ok(guard < 10_000, 'timer loop does not settle');
      const at = next;
      take(at, onTimer(state, at, current));
      assert.ok(next === undefined || next > at, `timer at ${at} asked to run again at ${next}`);
    }
  };
  for (const [t, v, silent] of events) {
    const at = t * 1000;
    runTimers(at);
    current = toValue(v);
    if (silent === undefined) take(at, onValue(state, current, at));
  }
  runTimers(until * 1000);
  return out;
}

interface Case {
  readonly name: string;
  readonly attributes: NotificationAttributes;
  readonly initial: Raw;
  readonly events: readonly Event[];
  readonly until: number;
  readonly expect: readonly (readonly [number, Raw])[];
}

const CASES: readonly Case[] = [
  // --- no attribute: plain Observe, every real change (R8)
  {
    name: 'no attributes: each change notifies at once, an unchanged value does not',
    attributes: {},
    initial: 1,
    events: [
      [1, 2],
      [2, 2],
      [3, 3],
    ],
    until: 100,
    expect: [
      [1, 2],
      [3, 3],
    ],
  },
  // --- pmin (R2)
  {
    name: 'pmin delays a change to pmin expiry and sends the value current then',
    attributes: { pmin: 10 },
    initial: 1,
    events: [
      [1, 2],
      [3, 3],
      [15, 4],
      [31, 5],
    ],
    until: 100,
    expect: [
      [10, 3],
      [20, 4],
      [31, 5],
    ],
  },
  {
    name: 'pmin: a change after pmin elapsed goes out at once',
    attributes: { pmin: 5 },
    initial: 1,
    events: [[7, 2]],
    until: 100,
    expect: [[7, 2]],
  },
  {
    name: 'pmin 0 is no minimum',
    attributes: { pmin: 0 },
    initial: 1,
    events: [
      [0.001, 2],
      [0.002, 3],
    ],
    until: 1,
    expect: [
      [0.001, 2],
      [0.002, 3],
    ],
  },
  // --- pmax (R3, R4)
  {
    name: 'pmax: periodic notifications without any change',
    attributes: { pmax: 10 },
    initial: 7,
    events: [],
    until: 35,
    expect: [
      [10, 7],
      [20, 7],
      [30, 7],
    ],
  },
  {
    name: 'pmax: a change notification restarts the pmax period',
    attributes: { pmax: 10 },
    initial: 7,
    events: [[4, 8]],
    until: 25,
    expect: [
      [4, 8],
      [14, 8],
      [24, 8],
    ],
  },
  {
    name: 'pmax carries a value that changed silently',
    attributes: { pmax: 10 },
    initial: 7,
    events: [[4, 9, 'silent']],
    until: 10,
    expect: [[10, 9]],
  },
  {
    name: 'pmin and pmax together',
    attributes: { pmin: 5, pmax: 20 },
    initial: 1,
    events: [[1, 2]],
    until: 50,
    expect: [
      [5, 2],
      [25, 2],
      [45, 2],
    ],
  },
  {
    name: 'pmax < pmin: pmax is ignored',
    attributes: { pmin: 10, pmax: 5 },
    initial: 1,
    events: [[3, 2]],
    until: 60,
    expect: [[10, 2]],
  },
  {
    name: 'pmax = pmin is kept',
    attributes: { pmin: 5, pmax: 5 },
    initial: 1,
    events: [],
    until: 12,
    expect: [
      [5, 1],
      [10, 1],
    ],
  },
  {
    name: 'pmax 0 means no maximum period (/1/x/3 default)',
    attributes: { pmax: 0 },
    initial: 1,
    events: [],
    until: 1000,
    expect: [],
  },
  // --- gt / lt (R5)
  {
    name: 'gt: crossing upward and downward both notify; moves on one side do not',
    attributes: { gt: 50 },
    initial: 40,
    events: [
      [1, 45],
      [2, 55],
      [3, 60],
      [4, 50],
      [5, 49],
      [6, 51],
    ],
    until: 100,
    expect: [
      [2, 55],
      [4, 50],
      [6, 51],
    ],
  },
  {
    name: 'lt: crossing downward and upward both notify',
    attributes: { lt: 10 },
    initial: 20,
    events: [
      [1, 15],
      [2, 9],
      [3, 5],
      [4, 10],
      [5, 12],
    ],
    until: 100,
    expect: [
      [2, 9],
      [4, 10],
    ],
  },
  {
    name: 'lt and gt: a band; a jump across both is one notification',
    attributes: { lt: 10, gt: 50 },
    initial: 30,
    events: [
      [1, 5],
      [2, 60],
      [3, 30],
      [4, 35],
    ],
    until: 100,
    expect: [
      [1, 5],
      [2, 60],
      [3, 30],
    ],
  },
  {
    name: 'gt with float values and a float threshold',
    attributes: { gt: 21.5 },
    initial: 21.4,
    events: [
      [1, 21.5],
      [2, 21.51],
    ],
    until: 100,
    expect: [[2, 21.51]],
  },
  {
    name: 'gt with pmin: the crossing goes out at pmin expiry',
    attributes: { gt: 50, pmin: 10 },
    initial: 40,
    events: [
      [2, 60],
      [4, 61],
    ],
    until: 100,
    expect: [[10, 61]],
  },
  {
    name: 'gt with pmax: crossings plus the periodic notification',
    attributes: { gt: 50, pmax: 10 },
    initial: 40,
    events: [
      [3, 55],
      [5, 58],
    ],
    until: 25,
    expect: [
      [3, 55],
      [13, 58],
      [23, 58],
    ],
  },
  // --- st (R6)
  {
    name: 'st: a move of at least st since the last notified value',
    attributes: { st: 5 },
    initial: 10,
    events: [
      [1, 12],
      [2, 14],
      [3, 15],
      [4, 18],
      [5, 20],
      [6, 16],
      [7, 15],
    ],
    until: 100,
    expect: [
      [3, 15],
      [5, 20],
      [7, 15],
    ],
  },
  {
    name: 'st counts downward moves too',
    attributes: { st: 2.5 },
    initial: 0,
    events: [
      [1, -2],
      [2, -2.5],
    ],
    until: 100,
    expect: [[2, -2.5]],
  },
  {
    name: 'st 0: any move, but not an unchanged value',
    attributes: { st: 0 },
    initial: 1,
    events: [
      [1, 1],
      [2, 1.5],
    ],
    until: 100,
    expect: [[2, 1.5]],
  },
  {
    name: 'st with pmin: the due notification stays due and carries the value at pmin expiry',
    attributes: { st: 5, pmin: 10 },
    initial: 0,
    events: [
      [1, 6],
      [5, 2],
    ],
    until: 100,
    expect: [[10, 2]],
  },
  {
    name: 'st with gt: either condition notifies',
    attributes: { st: 10, gt: 50 },
    initial: 40,
    events: [
      [1, 49],
      [2, 51],
      [3, 60],
      [4, 61],
    ],
    until: 100,
    expect: [
      [2, 51],
      [4, 61],
    ],
  },
  // --- edge (R7)
  {
    name: 'edge=1: rising edges only',
    attributes: { edge: 1 },
    initial: false,
    events: [
      [1, true],
      [2, false],
      [3, true],
    ],
    until: 100,
    expect: [
      [1, true],
      [3, true],
    ],
  },
  {
    name: 'edge=0: falling edges only',
    attributes: { edge: 0 },
    initial: false,
    events: [
      [1, true],
      [2, false],
      [3, true],
      [4, false],
    ],
    until: 100,
    expect: [
      [2, false],
      [4, false],
    ],
  },
  {
    name: 'edge=1 after an unnotified falling edge still sees the rising edge',
    attributes: { edge: 1 },
    initial: true,
    events: [
      [1, false],
      [2, true],
    ],
    until: 100,
    expect: [[2, true]],
  },
  {
    name: 'edge with pmin: a rising edge inside pmin is sent at pmin expiry',
    attributes: { edge: 1, pmin: 10 },
    initial: false,
    events: [[1, true]],
    until: 100,
    expect: [[10, true]],
  },
  {
    name: 'edge with pmax: periodic notifications regardless of edges',
    attributes: { edge: 1, pmax: 10 },
    initial: true,
    events: [[1, false]],
    until: 21,
    expect: [
      [10, false],
      [20, false],
    ],
  },
  // --- rules that do not fit the value (R8)
  {
    name: 'gt/lt/st on a Boolean value are ignored: any change notifies',
    attributes: { gt: 50, lt: 10, st: 5 },
    initial: false,
    events: [
      [1, true],
      [2, true],
      [3, false],
    ],
    until: 100,
    expect: [
      [1, true],
      [3, false],
    ],
  },
  {
    name: 'edge on a numeric value is ignored: any change notifies',
    attributes: { edge: 1 },
    initial: 1,
    events: [
      [1, 2],
      [2, 2],
    ],
    until: 100,
    expect: [[1, 2]],
  },
  {
    name: 'numeric rules on a string value are ignored: any change notifies',
    attributes: { st: 5 },
    initial: 'a',
    events: [
      [1, 'b'],
      [2, 'b'],
      [3, 'c'],
    ],
    until: 100,
    expect: [
      [1, 'b'],
      [3, 'c'],
    ],
  },
  // --- epmin / epmax (R9-R11)
  {
    name: 'epmin: a change inside epmin is evaluated at epmin expiry with the value then',
    attributes: { epmin: 5 },
    initial: 0,
    events: [
      [1, 1],
      [3, 3],
      [7, 4],
    ],
    until: 100,
    expect: [
      [5, 3],
      [10, 4],
    ],
  },
  {
    name: 'epmin: a change inside epmin that moved back is no change',
    attributes: { epmin: 5 },
    initial: 0,
    events: [
      [1, 1],
      [3, 0],
    ],
    until: 100,
    expect: [],
  },
  {
    name: 'epmax: the client evaluates every epmax and catches silent changes',
    attributes: { epmax: 10 },
    initial: 0,
    events: [
      [3, 5, 'silent'],
      [12, 5, 'silent'],
      [25, 7, 'silent'],
    ],
    until: 35,
    expect: [
      [10, 5],
      [30, 7],
    ],
  },
  {
    name: 'epmax: a signalled change restarts the evaluation period',
    attributes: { epmax: 10 },
    initial: 0,
    events: [
      [4, 1],
      [6, 2, 'silent'],
    ],
    until: 20,
    expect: [
      [4, 1],
      [14, 2],
    ],
  },
  {
    name: 'epmax with gt: the evaluation notifies only when the condition holds',
    attributes: { epmax: 10, gt: 50 },
    initial: 40,
    events: [
      [3, 45, 'silent'],
      [13, 55, 'silent'],
    ],
    until: 30,
    expect: [[20, 55]],
  },
  {
    name: 'epmin and epmax together',
    attributes: { epmin: 2, epmax: 10 },
    initial: 0,
    events: [
      [1, 1],
      [5, 2, 'silent'],
      [13, 3],
    ],
    until: 20,
    expect: [
      [2, 1],
      [12, 2],
      [14, 3],
    ],
  },
  {
    name: 'epmin >= epmax (mixed by inheritance): epmin is ignored',
    attributes: { epmin: 10, epmax: 5 },
    initial: 0,
    events: [[1, 1]],
    until: 3,
    expect: [[1, 1]],
  },
  {
    name: 'epmin with pmin: evaluation at epmin, notification at pmin',
    attributes: { epmin: 2, pmin: 6 },
    initial: 0,
    events: [[1, 1]],
    until: 100,
    expect: [[6, 1]],
  },
];

describe('notification rules: value sequences -> notification times', () => {
  for (const c of CASES)
    it(c.name, () => {
      assert.deepEqual(simulate(c.attributes, c.initial, c.events, c.until), c.expect);
    });
});

describe('notification rules: transitions', () => {
  it('onValue reports the next check time and marks the notified state', () => {
    const s0 = startObservation({ pmin: 10, pmax: 60 }, Value.integer(1), 0);
    assert.equal(nextCheckAt(s0), 60_000, 'only pmax is pending');
    const t1 = onValue(s0, Value.integer(2), 1000);
    assert.equal(t1.notify, false);
    assert.equal(t1.state.pending, true);
    assert.equal(t1.nextCheckAt, 10_000, 'pmin expiry');
    const t2 = onTimer(t1.state, 10_000, Value.integer(2));
    assert.equal(t2.notify, true);
    assert.equal(t2.state.lastNotifiedAt, 10_000);
    assert.deepEqual(t2.state.lastNotifiedValue, Value.integer(2));
    assert.equal(t2.nextCheckAt, 70_000, 'pmax restarts at the notification');
  });

  it('is pure: the input state is not changed', () => {
    const s0 = startObservation({ st: 1 }, Value.float(1), 0);
    const copy = { ...s0 };
    onValue(s0, Value.float(5), 10);
    onTimer(s0, 20, Value.float(5));
    markNotified(s0, Value.float(5), 30);
    assert.deepEqual(s0, copy);
  });

  it('a timer with nothing due changes nothing', () => {
    const s0 = startObservation({ pmax: 10 }, Value.integer(1), 0);
    const t = onTimer(s0, 5000, Value.integer(1));
    assert.equal(t.notify, false);
    assert.deepEqual(t.state, s0);
    assert.equal(t.nextCheckAt, 10_000);
  });

  it('no attributes and no change: nothing to wait for', () => {
    assert.equal(nextCheckAt(startObservation({}, Value.integer(1), 0)), undefined);
  });

  it('withAttributes keeps timing and takes the new periods', () => {
    const s0 = startObservation({ pmax: 10 }, Value.integer(1), 1000);
    const s1 = withAttributes(s0, { pmax: 30 });
    assert.equal(s1.lastNotifiedAt, 1000);
    assert.equal(nextCheckAt(s1), 31_000);
  });

  it('periodsOf converts seconds to milliseconds and drops what is not in force', () => {
    assert.deepEqual(periodsOf({ pmin: 2, pmax: 1, epmin: 3, epmax: 3 }), {
      pmin: 2000,
      pmax: undefined,
      epmin: undefined,
      epmax: 3000,
    });
    assert.deepEqual(periodsOf({}), { pmin: 0, pmax: undefined, epmin: undefined, epmax: undefined });
    assert.deepEqual(periodsOf({ epmin: 1, epmax: 4, pmax: 9 }), {
      pmin: 0,
      pmax: 9000,
      epmin: 1000,
      epmax: 4000,
    });
  });
});

describe('notification rules: value conditions', () => {
  const i = (n: number): LwM2mValue => Value.integer(n);

  it('gt and lt compare with the previous evaluated value, st with the last notified one', () => {
    // previous 49, last notified 40: crossing gt=50 happens between previous and current.
    assert.equal(valueConditionHolds({ gt: 50 }, i(49), i(60), i(51)), true);
    assert.equal(valueConditionHolds({ gt: 50 }, i(51), i(40), i(52)), false);
    assert.equal(valueConditionHolds({ st: 5 }, i(14), i(10), i(15)), true);
    assert.equal(valueConditionHolds({ st: 5 }, i(10), i(14), i(15)), false);
  });

  it('integer values past 2^53 compare numerically', () => {
    const big = Value.integer(2n ** 60n);
    assert.equal(valueConditionHolds({ gt: 1e10 }, i(5), i(5), big), true);
  });

  it('a resource that disappears is a change; a crossing needs a numeric value on both sides', () => {
    assert.equal(valueConditionHolds({ gt: 50 }, i(60), i(60), undefined), true);
    assert.equal(valueConditionHolds({ gt: 50 }, undefined, undefined, i(60)), false);
  });

  it('containers (records) notify on any change of their records', () => {
    const p = LwM2mPath.parse('/3/0/1');
    const a = [{ path: p, value: Value.string('x') }];
    const b = [{ path: p, value: Value.string('y') }];
    assert.equal(valueConditionHolds({}, a, a, [{ path: p, value: Value.string('x') }]), false);
    assert.equal(valueConditionHolds({}, a, a, b), true);
    assert.equal(samplesEqual(a, [...a, { path: LwM2mPath.parse('/3/0/2') }]), false);
    assert.equal(samplesEqual(a, Value.string('x')), false);
    assert.equal(samplesEqual(undefined, undefined), true);
  });
});

describe('notification rules: con and Default Notification Mode', () => {
  it('con=1 on any part makes the whole notification CON', () => {
    assert.equal(notificationIsConfirmable([{ con: 0 }, { con: 1 }], 0), true);
    assert.equal(notificationIsConfirmable([{ con: 1 }], undefined), true);
  });
  it('without con the server default mode (/1/x/26) decides; absent = NON', () => {
    assert.equal(notificationIsConfirmable([{}], 1), true);
    assert.equal(notificationIsConfirmable([{}], 0), false);
    assert.equal(notificationIsConfirmable([{}], undefined), false);
    assert.equal(notificationIsConfirmable([{ con: 0 }], 1), false, 'an explicit con=0 beats the default');
    assert.equal(notificationIsConfirmable([{ con: 0 }, {}], 1), true, 'the part without con is CON');
  });
});

describe('notification rules: properties', () => {
  it('notifications are never closer than pmin nor further apart than an effective pmax', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 40,
        }),
        (pmin, pmax, changes) => {
          const attributes: NotificationAttributes = pmax === undefined ? { pmin } : { pmin, pmax };
          const events = changes.sort((a, b) => a[0] - b[0]).map(([ms, v]): Event => [ms / 1000, v]);
          const until = 250;
          const times = [0, ...simulate(attributes, 0, events, until).map(([t]) => t)];
          const periods = periodsOf(attributes);
          for (let k = 1; k < times.length; k++) {
            const gap = (times[k]! - times[k - 1]!) * 1000;
            assert.ok(gap >= periods.pmin - 1e-6, `gap ${gap} < pmin`);
            if (periods.pmax !== undefined) assert.ok(gap <= periods.pmax + 1e-6, `gap ${gap} > pmax`);
          }
          if (periods.pmax !== undefined)
            assert.ok(
              (until - times[times.length - 1]!) * 1000 <= periods.pmax + 1e-6,
              'pmax kept to the end',
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every change is eventually reported: after the last change the server gets the final value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 0, max: 3 })), {
          minLength: 1,
          maxLength: 30,
        }),
        (pmin, changes) => {
          const events = changes.sort((a, b) => a[0] - b[0]).map(([ms, v]): Event => [ms / 1000, v]);
          const notes = simulate({ pmin }, 0, events, 1000);
          const final = events[events.length - 1]![1];
          const lastNotified = notes.length > 0 ? notes[notes.length - 1]![1] : 0;
          assert.equal(lastNotified, final);
        },
      ),
      { numRuns: 300 },
    );
  });
});
