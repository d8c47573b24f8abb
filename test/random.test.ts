import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cryptoRandom, seededRandom } from '../src/random.js';

describe('random sources', () => {
  for (const [name, source] of [
    ['crypto', cryptoRandom],
    ['seeded', seededRandom(42)],
  ] as const) {
    it(`${name}: next() in [0, 1), int(max) in [0, max), bytes(n) of length n`, () => {
      let min = 1;
      let max = 0;
      for (let i = 0; i < 5000; i++) {
        const x = source.next();
        assert.ok(x >= 0 && x < 1, String(x));
        min = Math.min(min, x);
        max = Math.max(max, x);
        const k = source.int(7);
        assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
      }
      assert.ok(min < 0.01 && max > 0.99, 'spread over the interval');
      assert.equal(source.bytes(8).length, 8);
    });
  }
  it('seeded sources repeat', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    assert.deepEqual([a.next(), a.next(), a.bytes(4)], [b.next(), b.next(), b.bytes(4)]);
  });
});
