import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hex } from '../src/hex.js';

test('hex agrees with Buffer hex for short and long byte strings, views included', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(5), (bytes, skip) => {
      const view = bytes.subarray(Math.min(skip, bytes.length));
      assert.equal(hex(view), Buffer.from(view).toString('hex'));
    }),
    { numRuns: 500 },
  );
  assert.equal(hex(Uint8Array.of(0x00, 0x0f, 0xa0, 0xff)), '000fa0ff');
});

test('hex of bytes[start..end) is the hex of that view, short and long', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 150 }), fc.nat(150), fc.nat(150), (bytes, x, y) => {
      const start = Math.min(x, y, bytes.length);
      const end = Math.min(Math.max(x, y), bytes.length);
      assert.equal(hex(bytes, start, end), Buffer.from(bytes.subarray(start, end)).toString('hex'));
    }),
    { numRuns: 500 },
  );
});
