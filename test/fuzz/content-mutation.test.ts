// Mutation fuzzing of every decoder: valid payloads of every format, mutated (bit flips, byte
// insertions, deletions, truncation, splices), must decode or fail with ContentFormatError only,
// and never hang. Budget: PETREL_FUZZ_BUDGET mutated inputs per codec (default 2000 in
// `npm test`; `npm run fuzz` uses 200000).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import type { ContentFormatName } from '../../src/content/content-format.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 2000);
const model = createDefaultRegistry();
const codecs = createCodecRegistry();

/** A small seeded PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Uint8Array, rand: () => number, corpus: Uint8Array[]): Uint8Array {
  const bytes = Array.from(input);
  const n = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    switch (Math.floor(rand() * 6)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1:
        bytes.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 2:
        bytes.splice(at, 1 + Math.floor(rand() * 4));
        break;
      case 3:
        bytes.length = Math.min(bytes.length, at);
        break;
      case 4:
        if (bytes.length)
          bytes[at % bytes.length] = [0x00, 0xff, 0x7f, 0x80, 0x1b, 0x9f, 0xbf, 0x22, 0x5b][
            Math.floor(rand() * 9)
          ]!;
        break;
      default: {
        const other = corpus[Math.floor(rand() * corpus.length)]!;
        const from = Math.floor(rand() * other.length);
        bytes.splice(at, 0, ...other.subarray(from, from + 1 + Math.floor(rand() * 8)));
      }
    }
  }
  return Uint8Array.from(bytes);
}

const device = LwM2mPath.of(3, 0);
const instance: LwM2mRecord[] = [
  { path: device.append(0), value: Value.string('Open Mobile Alliance') },
  { path: device.append(7).append(0), value: Value.integer(3800) },
  { path: device.append(7).append(1), value: Value.integer(5000) },
  { path: device.append(9), value: Value.integer(100) },
  { path: device.append(13), value: Value.time(1367491215) },
  { path: LwM2mPath.of(3, 0, 16), value: Value.string('U') },
];
const objects: LwM2mRecord[] = [
  ...instance,
  { path: LwM2mPath.of(1, 0, 0), value: Value.integer(101) },
  { path: LwM2mPath.of(1, 0, 6), value: Value.boolean(true) },
  { path: LwM2mPath.of(6, 0, 0), value: Value.float(43.61092) },
  { path: LwM2mPath.of(0, 1, 3), value: Value.opaque(Uint8Array.of(1, 2, 3, 250)) },
];

interface Seed {
  format: ContentFormatName;
  path: LwM2mPath;
  records: LwM2mRecord[];
}
const seeds: Seed[] = [
  { format: 'text', path: device.append(0), records: [instance[0]!] },
  { format: 'text', path: device.append(9), records: [instance[3]!] },
  { format: 'opaque', path: LwM2mPath.of(0, 1, 3), records: [objects[9]!] },
  { format: 'cbor', path: device.append(9), records: [instance[3]!] },
  { format: 'cbor', path: LwM2mPath.of(6, 0, 0), records: [objects[8]!] },
  ...(['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'] as const).flatMap((format) => [
    { format, path: device, records: instance },
    { format, path: LwM2mPath.of(3), records: instance },
  ]),
  ...(['senml-json', 'senml-cbor', 'lwm2m-cbor', 'senml-etch-json', 'senml-etch-cbor'] as const).map(
    (format) => ({
      format,
      path: LwM2mPath.ROOT,
      records: objects,
    }),
  ),
];

describe(`mutation fuzzing (${BUDGET} inputs per codec)`, () => {
  const byFormat = new Map<ContentFormatName, Seed[]>();
  for (const s of seeds) byFormat.set(s.format, [...(byFormat.get(s.format) ?? []), s]);
  let seedBase = 1;
  for (const [format, list] of byFormat) {
    const seed = seedBase++;
    // The timeout is a hang guard (a decoder stuck in a loop), not a speed check.
    it(`${format} (seed ${seed})`, { timeout: 10 * 60_000 }, () => {
      const rand = rng(seed);
      const corpus = list.map((s) => codecs.encode(format, s.records, { path: s.path, model }));
      const reasons = new Map<string, number>();
      let ok = 0;
      for (let i = 0; i < BUDGET; i++) {
        const k = i % list.length;
        const input = mutate(corpus[k]!, rand, corpus);
        try {
          codecs.decode(format, input, { path: list[k]!.path, model });
          ok++;
        } catch (e) {
          if (!(e instanceof ContentFormatError))
            assert.fail(
              `${format}: ${String(e)} on input ${Buffer.from(input).toString('hex')} (path ${list[k]!.path.toString()})`,
            );
          reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
        }
      }
      // Opaque takes any bytes; every other format must refuse some mutants, or the mutator is not
      // reaching the decoder's checks.
      if (format !== 'opaque') assert.ok(reasons.size > 0, `${format}: no mutated input was refused`);
      else assert.equal(ok, BUDGET);
      assert.ok(ok + [...reasons.values()].reduce((a, b) => a + b, 0) === BUDGET);
    });
  }
});
