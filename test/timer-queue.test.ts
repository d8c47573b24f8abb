import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../src/clock.js';
import { seededRandom } from '../src/random.js';
import { TimerQueue } from '../src/timer-queue.js';

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
