import type { FakeClock } from '../../src/clock.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';

/** Lets scheduled deliveries (setImmediate) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/**
 * Runs a simulation until `done` says so: while datagrams are moving on `network`, only lets
 * deliveries run (so a long exchange sequence takes no fake time); when the network is idle,
 * advances the fake clock by `stepMs` (retransmissions, delays, lifetimes). Bounded in fake time.
 */
export async function drive(
  clock: FakeClock,
  done: () => boolean,
  options: { network?: MemoryNetwork; stepMs?: number; maxMs?: number } = {},
): Promise<void> {
  const { network, stepMs = 50, maxMs = 600_000 } = options;
  const end = clock.now() + maxMs;
  let seen = -1;
  while (!done() && clock.now() <= end) {
    await settle(2);
    if (done()) return;
    const sent = network?.stats.sent ?? 0;
    if (network && (sent !== seen || network.pending > 0)) {
      seen = sent;
      continue;
    }
    clock.advance(stepMs);
  }
  await settle();
}

/** The state of a promise, readable synchronously. */
export function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (v) => Object.assign(state, { settled: true, value: v }),
    (e: unknown) => Object.assign(state, { settled: true, error: e }),
  );
  return state;
}
