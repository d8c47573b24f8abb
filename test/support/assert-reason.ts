import assert from 'node:assert/strict';
import { ContentFormatError, type ContentFormatReason } from '../../src/content/content-format-error.js';

/**
 * Asserts that `fn` throws a ContentFormatError with this reason; `check` may look further at it
 * (its format, CoAP code, message).
 */
export function assertReason(
  fn: () => unknown,
  reason: ContentFormatReason,
  label = '',
  check?: (e: ContentFormatError) => void,
): void {
  const where = label === '' ? '' : `${label}: `;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ContentFormatError, `${where}expected ContentFormatError, got ${String(e)}`);
    assert.equal(e.reason, reason, `${where}${e.message}`);
    check?.(e);
    return true;
  });
}
