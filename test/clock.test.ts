import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock, systemClock } from '../src/clock.js';

describe('FakeClock', () => {
  it('fires timers in time order as time advances, and not before', () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@300'), 300);
    clock.setTimeout(() => fired.push('a@100'), 100);
    const c = clock.setTimeout(() => fired.push('c@200'), 200);
    clock.clearTimeout(c);
    clock.advance(99);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, ['a@100']);
    assert.equal(clock.now(), 1100);
    clock.advance(1000);
    assert.deepEqual(fired, ['a@100', 'b@300']);
    assert.equal(clock.now(), 2100);
    assert.equal(clock.pending, 0);
  });

  it('runs timers set by timers, at their own times; runAll is bounded', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const tick = (): void => {
      at.push(clock.now());
      if (at.length < 3) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.runAll();
    assert.deepEqual(at, [10, 20, 30]);
    const forever = (): void => void clock.setTimeout(forever, 1);
    clock.setTimeout(forever, 1);
    clock.runAll(100);
    assert.equal(clock.pending, 1, 'stopped after 100 timers instead of hanging');
  });

  it('systemClock timers fire and can be cleared', async () => {
    let fired = false;
    const h = systemClock.setTimeout(() => (fired = true), 1);
    systemClock.clearTimeout(h);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(fired, false);
    // systemClock timers are unref'd: keep the loop alive with a plain timer while waiting.
    const keepAlive = setTimeout(() => {}, 1000);
    await new Promise<void>((r) => systemClock.setTimeout(r, 1));
    clearTimeout(keepAlive);
    assert.ok(systemClock.now() > 0);
  });
});
