import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlidingCounter } from '../../src/api/rates.js';

describe('SlidingCounter', () => {
  it('counts events over the last 10 s and forgets older ones', () => {
    let now = 1_000_000;
    const c = new SlidingCounter({ now: () => now });
    assert.equal(c.perSecond(), 0);
    for (let i = 0; i < 20; i++) c.add();
    assert.equal(c.count(), 20);
    assert.equal(c.perSecond(), 2);
    now += 5_000;
    c.add(10);
    assert.equal(c.count(), 30);
    now += 5_500; // the first 20 are now older than the window
    assert.equal(c.count(), 10);
    assert.equal(c.perSecond(), 1);
    now += 60_000;
    assert.equal(c.count(), 0);
  });

  it('reuses buckets without mixing an old count into a new second', () => {
    let now = 0;
    const c = new SlidingCounter({ windowMs: 3000, buckets: 3, now: () => now });
    c.add(5);
    now = 3000; // same slot as t=0, one window later
    c.add(1);
    assert.equal(c.count(), 1);
  });

  it('refuses a nonsensical configuration', () => {
    assert.throws(() => new SlidingCounter({ buckets: 0 }), RangeError);
    assert.throws(() => new SlidingCounter({ windowMs: 0 }), RangeError);
  });
});
