// The loop every parser-level fuzz file shares: a budget, a per-input hang guard, a tally of the
// typed errors seen, and the two kinds of input: byte mutation of a corpus of valid messages
// (test/support/mutate.ts) and fast-check generation. A failure names the parser and the input
// (hex), so it can go to test/fuzz/regressions/ as it is.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FuzzTarget } from './fuzz-targets.js';
import { mulberry32, mutate, type MutateOptions } from './mutate.js';

/**
 * PETREL_FUZZ_BUDGET: the unit every fuzz file scales by. `npm test` (CI) leaves it unset (2000);
 * `npm run fuzz` sets 200000 (scripts/run-tests.mjs).
 */
export const FUZZ_BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 2000);

/**
 * Inputs of each kind (mutation, generation) per parser: 2.5 × the budget, so the full run
 * (budget 200000) gives every parser 500000 mutated and 500000 generated inputs, 1,000,000 in all.
 */
export function inputsPerKind(scale = 1): number {
  return Math.max(1, Math.ceil(FUZZ_BUDGET * 2.5 * scale));
}

/**
 * The node:test timeout of one fuzz test (one parser, one kind): 10 ms per input, at least 2 min.
 * A parser stuck in a loop never returns to the per-call check, so this bounds the whole test.
 */
export const FUZZ_TIMEOUT_MS = Math.max(120_000, inputsPerKind() * 10);

/** A single parser call on fuzz input longer than this is a hang (parsers are synchronous). */
export const HANG_MS = 1000;

export const toHex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The hex of an input for a failure message: whole up to 4 KiB, else its head and its length. */
export function inputHex(b: Uint8Array): string {
  return b.length <= 4096 ? toHex(b) : `${toHex(b.subarray(0, 256))}… (${b.length} bytes)`;
}

/** What a run of one target saw. */
export class FuzzTally {
  inputs = 0;
  accepted = 0;
  readonly reasons = new Map<string, number>();
  slowestMs = 0;

  get refused(): number {
    return this.inputs - this.accepted;
  }

  summary(): string {
    const reasons = [...this.reasons.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ');
    return `${this.inputs} inputs: ${this.accepted} accepted, ${this.refused} refused (${reasons}); slowest ${this.slowestMs.toFixed(1)} ms`;
  }
}

/**
 * Runs `target` on one input: a typed error is tallied, any other error or a call over HANG_MS
 * fails with the parser and the input. Returns the parser's result, or undefined when it refused.
 */
export function fuzzOne(
  target: FuzzTarget,
  tally: FuzzTally,
  input: Uint8Array,
  arg?: string,
  where = '',
): unknown {
  tally.inputs++;
  const start = performance.now();
  let result: unknown;
  try {
    result = target.call(input, arg);
    tally.accepted++;
  } catch (e) {
    if (!target.typed(e))
      assert.fail(
        `${target.name}${arg === undefined ? '' : `@${arg}`} ${where} threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)} on hex ${inputHex(input)}`,
      );
    const reason = e.reason ?? e.constructor.name;
    tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
  }
  let ms = performance.now() - start;
  if (ms > HANG_MS) {
    // Once more, so a GC pause or a busy machine is not taken for a hang; a slow input is slow twice.
    const again = performance.now();
    try {
      target.call(input, arg);
    } catch {
      // its outcome was judged above
    }
    ms = Math.min(ms, performance.now() - again);
  }
  if (ms > tally.slowestMs) tally.slowestMs = ms;
  if (ms > HANG_MS)
    assert.fail(
      `${target.name} ${where} took ${ms.toFixed(0)} ms twice (hang guard ${HANG_MS} ms) on hex ${inputHex(input)}`,
    );
  return result;
}

/** Byte mutation: `count` mutants of the corpus (round robin), seeded. */
export function fuzzMutations(options: {
  target: FuzzTarget;
  corpus: readonly Uint8Array[];
  /** The arg (request path) for corpus entry i, when the target takes one. */
  args?: readonly (string | undefined)[];
  count: number;
  seed: number;
  mutate?: MutateOptions;
}): FuzzTally {
  const { target, corpus, args } = options;
  assert.ok(corpus.length > 0, `${target.name}: empty corpus`);
  const tally = new FuzzTally();
  const rand = mulberry32(options.seed);
  const mutation: MutateOptions = { maxEdits: 4, donors: corpus, ...options.mutate };
  for (let i = 0; i < options.count; i++) {
    const k = i % corpus.length;
    const input = mutate(corpus[k]!, rand, mutation);
    fuzzOne(target, tally, input, args?.[k], `(seed ${options.seed}, mutant ${i})`);
  }
  return tally;
}

/**
 * Generation: `count` inputs drawn from `arb` by fast-check (seeded; a failure is shrunk and
 * reported with its seed and path). Each input is bytes, or bytes with the target's arg.
 */
export function fuzzGenerated(options: {
  target: FuzzTarget;
  arb: fc.Arbitrary<Uint8Array | readonly [Uint8Array, string]>;
  count: number;
  seed: number;
  /** Checked on each input the parser accepted (a property beyond "no crash"). */
  check?: (result: unknown, input: Uint8Array, arg: string | undefined) => void;
}): FuzzTally {
  const tally = new FuzzTally();
  fc.assert(
    fc.property(options.arb, (drawn) => {
      const [input, arg] = drawn instanceof Uint8Array ? [drawn, undefined] : drawn;
      const before = tally.accepted;
      const result = fuzzOne(options.target, tally, input, arg, '(generated)');
      if (tally.accepted > before) options.check?.(result, input, arg);
    }),
    { numRuns: options.count, seed: options.seed, endOnFailure: false },
  );
  return tally;
}

/** Text as UTF-8 bytes. */
export const utf8Bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
