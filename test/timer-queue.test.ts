import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../src/clock.js';
import { seededRandom } from '../src/random.js';
import { TimerQueue, type TimerTask } from '../src/timer-queue.js';

describe('TimerQueue', () => {
  it('runs tasks at their due times, in order, on one host timer', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const ran: string[] = [];
    q.schedule(() => ran.push(`c@${clock.now()}`), 300);
    q.schedule(() => ran.push(`a@${clock.now()}`), 100);
    q.schedule(() => ran.push(`b@${clock.now()}`), 100);
    assert.equal(clock.pending, 1, 'one host timer whatever the number of tasks');
    clock.advance(99);
    assert.deepEqual(ran, []);
    clock.advance(1);
    assert.deepEqual(ran, ['a@100', 'b@100']);
    clock.advance(500);
    assert.deepEqual(ran, ['a@100', 'b@100', 'c@300']);
    assert.equal(clock.pending, 0);
  });

  it('cancelled tasks never run, and a cancelled head does not keep a host timer', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    let ran = 0;
    const t = q.schedule(() => ran++, 50);
    q.schedule(() => ran++, 1000);
    q.cancel(t);
    clock.advance(60);
    assert.equal(ran, 0);
    clock.advance(1000);
    assert.equal(ran, 1);
    assert.equal(q.size, 0);
  });

  it('matches a plain sort for random schedules, including tasks scheduled by tasks', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const rand = seededRandom(9);
    const fired: number[] = [];
    const expected: number[] = [];
    for (let i = 0; i < 500; i++) {
      const delay = Math.floor(rand.next() * 10_000);
      expected.push(delay);
      const t = q.schedule(() => {
        fired.push(clock.now());
        if (i % 50 === 0) {
          const again = clock.now() + 7;
          expected.push(again);
          q.schedule(() => fired.push(clock.now()), 7);
        }
      }, delay);
      if (i % 10 === 9) {
        q.cancel(t);
        expected.pop();
      }
    }
    clock.runAll();
    assert.deepEqual(
      fired,
      [...fired].sort((a, b) => a - b),
      'in time order',
    );
    assert.equal(fired.length, expected.length);
    q.clear();
    assert.equal(clock.pending, 0);
  });
});

describe('TimerQueue: removal and reusable tasks', () => {
  it('a cancelled task leaves the heap at once, wherever it sits', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const timers = Array.from({ length: 100 }, (_, i) => q.schedule(() => {}, 1000 + ((i * 37) % 100)));
    assert.equal(q.size, 100);
    for (let i = 0; i < 100; i += 3) q.cancel(timers[i]);
    assert.equal(q.size, 66);
    q.cancel(timers[0]); // twice: no effect
    assert.equal(q.size, 66);
    for (const t of timers) q.cancel(t);
    assert.equal(q.size, 0);
  });

  it('runs a task object again and again without a closure; rescheduling a queued task moves it', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const runs: number[] = [];
    const task: TimerTask = {
      due: 0,
      seq: 0,
      heapIndex: -1,
      cancelled: true,
      run() {
        runs.push(clock.now());
        if (runs.length < 3) q.scheduleTask(task, 100);
      },
    };
    q.scheduleTask(task, 50);
    q.scheduleTask(task, 200); // moved, not duplicated
    assert.equal(q.size, 1);
    clock.advance(1000);
    assert.deepEqual(runs, [200, 300, 400]);
    assert.equal(task.cancelled, true);
    assert.equal(task.heapIndex, -1);
    q.scheduleTask(task, 10);
    q.cancel(task);
    clock.advance(100);
    assert.equal(runs.length, 3);
  });

  it('keeps heap order under random schedule, cancel and reschedule (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 30 }), fc.nat(500)), {
          maxLength: 80,
        }),
        (ops) => {
          const clock = new FakeClock();
          const q = new TimerQueue(clock);
          const fired: number[] = [];
          const tasks: TimerTask[] = Array.from({ length: 31 }, (_, id) => ({
            due: 0,
            seq: 0,
            heapIndex: -1,
            cancelled: true,
            run: () => fired.push(id),
          }));
          const expected = new Map<number, number>();
          for (const [op, id, delay] of ops) {
            const task = tasks[id]!;
            if (op === 2) {
              q.cancel(task);
              expected.delete(id);
            } else {
              q.scheduleTask(task, delay);
              expected.set(id, delay);
            }
          }
          assert.equal(q.size, expected.size);
          clock.runAll();
          const order = [...expected.entries()].sort((a, b) => a[1] - b[1]).map(([, d]) => d);
          assert.deepEqual(
            fired.map((id) => expected.get(id)),
            order,
          );
          assert.equal(q.size, 0);
        },
      ),
    );
  });
});

describe('TimerQueue: re-arming', () => {
  it('a task that schedules a later one from inside its run does not delay an earlier queued task', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const ran: string[] = [];
    q.schedule(() => {
      ran.push(`a@${clock.now()}`);
      q.schedule(() => ran.push(`c@${clock.now()}`), 500); // due at 600
    }, 100);
    q.schedule(() => ran.push(`b@${clock.now()}`), 200);
    clock.advance(100);
    assert.deepEqual(ran, ['a@100']);
    clock.advance(100);
    assert.deepEqual(ran, ['a@100', 'b@200'], 'b fires on time, not with c');
    clock.advance(400);
    assert.deepEqual(ran, ['a@100', 'b@200', 'c@600']);
    assert.equal(clock.pending, 0);
  });
});
