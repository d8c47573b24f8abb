// Waiting on a device that moves on its own (a simulated device run by `petrel client`): its
// resource is read through the server until it holds a value.
import assert from 'node:assert/strict';
import type { LwM2mServer } from '../../src/server/lwm2m-server.js';

export interface UntilResourceOptions {
  /** Give up after this, ms (default 8000). */
  readonly ms?: number;
  /** Fail at once on a read that does not answer 2.05 (default: such a read is polled again). */
  readonly strict?: boolean;
}

/** Reads `path` of `ep` every 25 ms until its value is `expected` (===); fails with the last value seen. */
export async function untilResource(
  server: LwM2mServer,
  ep: string,
  path: string,
  expected: unknown,
  options: UntilResourceOptions = {},
): Promise<void> {
  const { ms = 8000, strict = false } = options;
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    const r = await server.read(ep, path);
    if (strict) assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
    last = r.records[0]?.value?.value;
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`${path} is ${String(last)}, never ${String(expected)}`);
}
