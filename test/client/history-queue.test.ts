import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HistoryQueue } from '../../src/client/history-queue.js';

describe('HistoryQueue', () => {
  it('keeps the newest items up to capacity, returning what it drops', () => {
    const q = new HistoryQueue<number>(3);
    assert.equal(q.push(1), undefined);
    assert.equal(q.push(2), undefined);
    assert.equal(q.push(3), undefined);
    assert.equal(q.push(4), 1);
    assert.equal(q.push(5), 2);
    assert.deepEqual(q.toArray(), [3, 4, 5]);
    assert.deepEqual(q.drain(), [3, 4, 5]);
    assert.equal(q.size, 0);
    q.push(6);
    assert.deepEqual(q.toArray(), [6]);
  });

  it('capacity 0 (or a nonsense capacity) stores nothing', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) {
      const q = new HistoryQueue<string>(c);
      assert.equal(q.push('a'), 'a');
      assert.equal(q.size, 0);
    }
  });

  it('resize keeps the newest items', () => {
    const q = new HistoryQueue<number>(4);
    for (let i = 1; i <= 6; i++) q.push(i);
    q.resize(2);
    assert.deepEqual(q.toArray(), [5, 6]);
    q.resize(5);
    q.push(7);
    assert.deepEqual(q.toArray(), [5, 6, 7]);
    assert.equal(q.capacity, 5);
  });

  it('behaves like "append, then keep the last capacity items"', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.array(fc.integer(), { maxLength: 50 }), (cap, items) => {
        const q = new HistoryQueue<number>(cap);
        for (const x of items) q.push(x);
        assert.deepEqual(q.toArray(), cap === 0 ? [] : items.slice(-cap));
      }),
    );
  });
});
