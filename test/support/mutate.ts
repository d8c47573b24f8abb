// Seeded mutation of valid payloads, for the decoder robustness loops: the same seed gives the same
// mutants on every run, so a failure names an input that reproduces it.
import assert from 'node:assert/strict';
import type { ContentCodec } from '../../src/content/content-codec.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import { ctxAt } from './test-model.js';

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MutateOptions {
  /** At most this many edits per mutant (at least one). Default 3. */
  maxEdits?: number;
  /** Bytes worth writing over a position (format heads, delimiters). */
  interesting?: readonly number[];
  /** Whole tokens worth inserting (`"v":`, `\u`, a CBOR head and its argument). */
  tokens?: readonly Uint8Array[];
  /** Other payloads, from which a short slice is spliced in. */
  donors?: readonly Uint8Array[];
}

const DEFAULT_INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff];

/**
 * One mutant of `input`: 1..maxEdits edits, each a bit flip, a random or interesting byte written
 * over one, an inserted random byte, 1-4 deleted bytes, a truncation, a duplicated slice, an
 * inserted token, or a slice of a donor.
 */
export function mutate(input: Uint8Array, rand: () => number, options: MutateOptions = {}): Uint8Array {
  const bytes = [...input];
  const pick = (n: number): number => Math.floor(rand() * n);
  const interesting = options.interesting ?? DEFAULT_INTERESTING;
  const tokens = options.tokens ?? [];
  const donors = options.donors ?? [];
  const edits = 1 + pick(options.maxEdits ?? 3);
  for (let e = 0; e < edits; e++) {
    const at = pick(bytes.length + 1);
    const inside = at < bytes.length;
    switch (pick(9)) {
      case 0:
        if (inside) bytes[at] = bytes[at]! ^ (1 << pick(8));
        break;
      case 1:
        if (inside) bytes[at] = pick(256);
        break;
      case 2:
        if (inside) bytes[at] = interesting[pick(interesting.length)]!;
        break;
      case 3:
        bytes.splice(at, 0, pick(256));
        break;
      case 4:
        bytes.splice(at, 1 + pick(4));
        break;
      case 5:
        bytes.length = at;
        break;
      case 6:
        bytes.splice(pick(bytes.length + 1), 0, ...bytes.slice(at, at + 1 + pick(8)));
        break;
      case 7:
        if (tokens.length > 0) bytes.splice(at, 0, ...tokens[pick(tokens.length)]!);
        break;
      default:
        if (donors.length > 0) {
          const donor = donors[pick(donors.length)]!;
          const from = pick(donor.length + 1);
          bytes.splice(at, 0, ...donor.subarray(from, from + 1 + pick(8)));
        }
    }
  }
  return Uint8Array.from(bytes);
}

export interface MutationRun {
  /** How many mutants decoded. */
  decoded: number;
  /** How many mutants failed, by ContentFormatError reason. */
  reasons: Map<string, number>;
}

/**
 * Decodes `count` mutants of the seeds (round robin, seed i for mutant i) and fails on any error
 * other than a ContentFormatError, naming the input. `decode` gets the mutant and its index;
 * `check`, if given, runs on each successful result outside the error trap.
 */
export function runMutations<T>(options: {
  seeds: readonly Uint8Array[];
  seed: number;
  count: number;
  mutate?: MutateOptions;
  decode: (input: Uint8Array, i: number) => T;
  check?: (result: T, input: Uint8Array, i: number) => void;
}): MutationRun {
  const rand = mulberry32(options.seed);
  const reasons = new Map<string, number>();
  let decoded = 0;
  for (let i = 0; i < options.count; i++) {
    const input = mutate(options.seeds[i % options.seeds.length]!, rand, options.mutate);
    let result: T;
    try {
      result = options.decode(input, i);
    } catch (e) {
      if (!(e instanceof ContentFormatError))
        assert.fail(`mutant ${i} (${Buffer.from(input).toString('hex')}) threw ${String(e)}`);
      reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
      continue;
    }
    decoded++;
    options.check?.(result, input, i);
  }
  return { decoded, reasons };
}

/**
 * runMutations for one codec: each seed payload decoded at its own request path, on the shared test
 * model. Default 5000 mutants.
 */
export function mutateCodec(
  codec: ContentCodec,
  seeds: readonly (readonly [payload: Uint8Array, path: string])[],
  seed: number,
  options: { count?: number; mutate?: MutateOptions } = {},
): MutationRun {
  const contexts = seeds.map(([, path]) => ctxAt(path));
  return runMutations({
    seeds: seeds.map(([payload]) => payload),
    seed,
    count: options.count ?? 5000,
    mutate: options.mutate,
    decode: (input, i) => codec.decode(input, contexts[i % contexts.length]!),
  });
}
