import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReplayWindow } from '../../src/dtls/replay-window.js';

describe('anti-replay window (RFC 6347 §4.1.2.6)', () => {
  it('accepts new numbers, refuses duplicates and numbers left of the window', () => {
    const w = new ReplayWindow(64);
    assert.ok(w.accepts(0));
    w.mark(0);
    assert.ok(!w.accepts(0));
    w.mark(100);
    assert.equal(w.highest, 100);
    assert.ok(w.accepts(99));
    assert.ok(w.accepts(37), '100 - 63 is inside');
    assert.ok(!w.accepts(36), '100 - 64 is outside');
    w.mark(50);
    assert.ok(!w.accepts(50));
    w.mark(1000);
    assert.ok(w.accepts(999) && w.accepts(937) && !w.accepts(936) && !w.accepts(1000));
    w.reset();
    assert.ok(w.accepts(0));
    assert.throws(() => new ReplayWindow(0), { reason: 'too-large' });
  });

  it('agrees with a model (a set of marked numbers and the window edge)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
        (size, seqs) => {
          const w = new ReplayWindow(size);
          const seen = new Set<number>();
          let top = -1;
          for (const s of seqs) {
            const expected = !seen.has(s) && s > top - size;
            assert.equal(w.accepts(s), expected, `seq ${s}`);
            if (expected) {
              w.mark(s);
              seen.add(s);
              top = Math.max(top, s);
            }
          }
        },
      ),
    );
  });

  it('works at the top of the 48-bit range', () => {
    const w = new ReplayWindow();
    w.mark(2 ** 48 - 1);
    assert.ok(!w.accepts(2 ** 48 - 1));
    assert.ok(w.accepts(2 ** 48 - 2));
  });
});
