// Mutation fuzzing of every decoder: valid payloads of every format, mutated (bit flips, byte
// insertions, deletions, truncation, splices), must decode or fail with ContentFormatError only,
// and never hang. Budget: PETREL_FUZZ_BUDGET mutated inputs per codec (default 2000 in
// `npm test`; `npm run fuzz` uses 200000).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import type { ContentFormatName } from '../../src/content/content-format.js';
import { INT64_MIN, UINT64_MAX, Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { runMutations } from '../support/mutate.js';
import { rec } from '../support/records.js';
import { TEST_OBJECT, testModel } from '../support/test-model.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 2000);
const codecs = createCodecRegistry();

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
/** One value of every type, single and multiple (TEST_OBJECT: k single, 10 + k multiple). */
const every = LwM2mPath.of(TEST_OBJECT, 0);
const e = every.toString();
const everyType: LwM2mRecord[] = [
  rec(`${e}/0`, Value.float(-4.1)),
  rec(`${e}/1`, Value.objlnk(3, 0)),
  rec(`${e}/2`, Value.boolean(true)),
  rec(`${e}/3`, Value.opaque(Uint8Array.of(1, 2, 3))),
  rec(`${e}/4`, Value.unsigned(UINT64_MAX)),
  rec(`${e}/5`, Value.string('é')),
  rec(`${e}/6`, Value.integer(INT64_MIN)),
  rec(`${e}/7`, Value.time(1700000000)),
  rec(`${e}/8`, Value.corelnk('</3/0>')),
  rec(`${e}/10/0`, Value.float(0.5)),
  rec(`${e}/11/1`, Value.objlnk(1, 0)),
  rec(`${e}/12/0`, Value.boolean(false)),
  rec(`${e}/13/2`, Value.opaque(new Uint8Array(0))),
  rec(`${e}/14/0`, Value.unsigned(7)),
  rec(`${e}/15/3`, Value.string('x')),
  rec(`${e}/16/0`, Value.integer(-1)),
  rec(`${e}/17/0`, Value.time(5)),
  rec(`${e}/18/0`, Value.corelnk('</1>')),
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
    { format, path: every, records: everyType },
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
      const corpus = list.map((s) => codecs.encode(format, s.records, { path: s.path, model: testModel }));
      const { decoded: ok, reasons } = runMutations({
        seeds: corpus,
        seed,
        count: BUDGET,
        // Heads and delimiters of the binary and JSON formats; slices of the other seeds.
        mutate: {
          maxEdits: 4,
          interesting: [0x00, 0xff, 0x7f, 0x80, 0x1b, 0x9f, 0xbf, 0x22, 0x5b],
          donors: corpus,
        },
        decode: (input, i) =>
          codecs.decode(format, input, { path: list[i % list.length]!.path, model: testModel }),
      });
      // Opaque takes any bytes; every other format must refuse some mutants, or the mutator is not
      // reaching the decoder's checks.
      if (format !== 'opaque') assert.ok(reasons.size > 0, `${format}: no mutated input was refused`);
      else assert.equal(ok, BUDGET);
      assert.ok(ok + [...reasons.values()].reduce((a, b) => a + b, 0) === BUDGET);
    });
  }
});
