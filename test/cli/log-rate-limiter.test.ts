import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogRateLimiter } from '../../src/cli/log-rate-limiter.js';

describe('LogRateLimiter', () => {
  it('writes a burst per kind and window, then reports how many it held back', () => {
    const lines: string[] = [];
    let now = 0;
    const limiter = new LogRateLimiter((l) => lines.push(l), { now: () => now, burst: 2, windowMs: 1000 });
    for (let i = 0; i < 5; i++) limiter.log('dtls', `fail ${i}`);
    limiter.log('other', 'other 0');
    assert.deepEqual(lines, ['fail 0', 'fail 1', 'other 0']);
    now = 1000;
    limiter.log('dtls', 'fail 5');
    assert.deepEqual(lines.slice(3), [
      '3 more "dtls" messages were not shown (at most 2 a window)',
      'fail 5',
    ]);
    now = 2500;
    limiter.log('dtls', 'fail 6');
    assert.deepEqual(lines.slice(5), ['fail 6'], 'nothing was held back in the last window');
  });
});
