// Mutation and generation fuzzing of every value codec: TLV, SenML JSON/CBOR (and their ETCH
// forms), LwM2M JSON, LwM2M CBOR, CBOR, text and opaque. Mutation works on the real payloads of
// the captures (decoded at the path their request addressed) plus valid encodings of generated
// record trees; generation draws format-aware documents (JSON texts from SenML and LwM2M JSON
// labels with hostile numbers and names; CBOR items with SenML labels, path-array keys, tags,
// bigints; raw CBOR heads; TLV trees whose lengths may lie), valid encodings of random records,
// and plain random bytes, each decoded at a path from a pool. Only ContentFormatError may escape;
// no call takes over a second. (test/fuzz/content-mutation.test.ts mutates synthetic payloads.)
// Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind and codec.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cborg from 'cborg';
import fc from 'fast-check';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { lookupContentFormat } from '../../src/content/content-format.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { valuedRecordsArb } from '../support/arbitraries.js';
import { capturedPayloadsOf, targetPath } from '../support/captures.js';
import {
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  utf8Bytes,
  FUZZ_TIMEOUT_MS,
} from '../support/fuzz-harness.js';
import { CONTENT_FORMATS, fuzzTarget, type FuzzContentFormat } from '../support/fuzz-targets.js';
import { sharedDir } from '../support/shared.js';
import { TEST_OBJECT, UNKNOWN_OBJECT, testModel } from '../support/test-model.js';

const COUNT = inputsPerKind();
const codecs = createCodecRegistry();

/** Request paths the inputs are decoded at: root (composite, Send), object, instance, resources. */
const PATHS = [
  '/',
  '/3',
  '/3/0',
  '/3/0/7',
  '/3/0/7/0',
  '/1/0/1',
  `/${TEST_OBJECT}`,
  `/${TEST_OBJECT}/0`,
  `/${TEST_OBJECT}/0/4`,
  `/${TEST_OBJECT}/0/14`,
  `/${UNKNOWN_OBJECT}/0`,
  '/3303/0/5700',
];
const pathArb = fc.constantFrom(...PATHS);

// ---- JSON documents (SenML JSON, SenML-ETCH JSON, LwM2M JSON) ----

const pathText = fc.oneof(
  fc.constantFrom(
    ...PATHS,
    '/3/0/',
    '3/0',
    '',
    '/',
    '//',
    '/65536/0',
    '/3/0/0/0/0',
    '/-1',
    '/3/0/x',
    '\u0000',
  ),
  fc.array(fc.nat({ max: 70_000 }), { maxLength: 5 }).map((ids) => `/${ids.join('/')}`),
);
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '18446744073709551615',
    '18446744073709551616',
    '9223372036854775808',
    '-9223372036854775809',
    '9007199254740993',
    '0.1',
    '1E5',
    '-0',
    '1.0',
    '4294967296',
  ),
);
const jsonValueText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: numberText },
    { weight: 3, arbitrary: fc.string({ maxLength: 10 }).map((s) => JSON.stringify(s)) },
    { weight: 2, arbitrary: pathText.map((s) => JSON.stringify(s)) },
    fc.constantFrom(
      'true',
      'false',
      'null',
      '"AQID"',
      '"=="',
      '"3:0"',
      '"65535:65535"',
      '"</3/0>"',
      '"\\ud800"',
    ),
    fc.array(tie('value'), { maxLength: 3 }).map((vs) => `[${vs.join(',')}]`),
  ),
})).value;
const SENML_JSON_KEYS = [
  'bn',
  'bt',
  'bu',
  'bv',
  'bs',
  'bver',
  'n',
  'u',
  'v',
  'vs',
  'vb',
  'vd',
  'vlo',
  's',
  't',
  'ut',
];
const LWM2M_JSON_KEYS = ['n', 'v', 'sv', 'bv', 'ov', 't'];
function jsonObjectText(keys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...keys) },
    fc.constantFrom('x_', 'bn_', '__proto__', 'e', ''),
    fc.string({ maxLength: 4 }),
  );
  return fc
    .array(fc.tuple(key, jsonValueText), { maxLength: 5 })
    .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}
const senmlJsonText = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.array(jsonObjectText(SENML_JSON_KEYS), { maxLength: 8 }).map((rs) => `[${rs.join(',')}]`),
  },
  jsonValueText,
);
const lwm2mJsonText = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.option(pathText.map((p) => JSON.stringify(p.endsWith('/') ? p : `${p}/`))),
        fc.option(numberText),
        fc.array(jsonObjectText(LWM2M_JSON_KEYS), { maxLength: 8 }),
        fc.boolean(),
      )
      .map(([bn, bt, es, dupE]) => {
        const parts = [
          ...(bn === null ? [] : [`"bn":${bn}`]),
          ...(bt === null ? [] : [`"bt":${bt}`]),
          `"e":[${es.join(',')}]`,
          ...(dupE ? ['"e":[]'] : []),
        ];
        return `{${parts.join(',')}}`;
      }),
  },
  jsonObjectText(['bn', 'bt', 'e']),
  jsonValueText,
);

// ---- CBOR items (SenML CBOR, SenML-ETCH CBOR, LwM2M CBOR, CBOR) ----

const cborLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.double(),
  fc.string({ maxLength: 10 }),
  pathText,
  fc.uint8Array({ maxLength: 10 }),
  fc.boolean(),
  fc.constantFrom(null, undefined, 0, -1, 65535, 65536, 1.5, 2 ** 53 + 2),
);
const cborKey: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -8, max: 8 }) },
  { weight: 3, arbitrary: fc.nat({ max: 70_000 }) },
  { weight: 3, arbitrary: fc.array(fc.nat({ max: 70_000 }), { maxLength: 5 }) },
  fc.tuple(fc.constantFrom('gw1', ''), fc.nat({ max: 9 })).map(([p, n]) => [p, n]),
  fc.string({ maxLength: 4 }),
);
const cborItem: fc.Arbitrary<unknown> = fc.letrec<{ item: unknown }>((tie) => ({
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: cborLeaf },
    fc.array(tie('item'), { maxLength: 5 }),
    fc.array(fc.tuple(cborKey, tie('item')), { maxLength: 5 }).map((kv) => new Map(kv)),
  ),
})).item;
/** A SenML pack: an array of maps with SenML labels (-6..8) and stray keys. */
const senmlCborItem = fc.array(
  fc
    .array(fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -6, max: 8 }) }, cborKey), cborLeaf), {
      maxLength: 5,
    })
    .map((kv) => new Map(kv)),
  { maxLength: 6 },
);

function cborBytes(item: unknown): Uint8Array {
  try {
    return cborg.encode(item);
  } catch {
    return new Uint8Array(0); // a value cborg refuses (cycles cannot happen; odd keys might)
  }
}

/** Raw CBOR: heads of any major type and additional info (reserved 28-30, indefinite 31), argument bytes, stray bytes. */
const rawCbor = fc
  .array(
    fc.record({
      major: fc.nat({ max: 7 }),
      ai: fc.oneof(fc.nat({ max: 23 }), fc.constantFrom(24, 25, 26, 27, 28, 29, 30, 31)),
      arg: fc.uint8Array({ maxLength: 8 }),
      tail: fc.uint8Array({ maxLength: 4 }),
    }),
    { maxLength: 12 },
  )
  .map((heads) => {
    const out: number[] = [];
    for (const h of heads) {
      const width = h.ai === 24 ? 1 : h.ai === 25 ? 2 : h.ai === 26 ? 4 : h.ai === 27 ? 8 : 0;
      out.push((h.major << 5) | h.ai, ...h.arg.subarray(0, width), ...h.tail);
    }
    return Uint8Array.from(out);
  });

// ---- TLV (OMA TLV, Core §7.4.3) ----

interface TlvNode {
  kind: number;
  id: number;
  wide: boolean;
  lengthType: number;
  lie: number;
  children: readonly TlvNode[];
  value: Uint8Array;
}
const tlvNode: fc.Arbitrary<TlvNode> = fc.letrec<{ node: TlvNode }>((tie) => ({
  node: fc.record({
    kind: fc.nat({ max: 3 }),
    id: fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 20 }) }, fc.nat({ max: 65535 })),
    wide: fc.boolean(),
    lengthType: fc.nat({ max: 3 }),
    lie: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, fc.integer({ min: -4, max: 40 })),
    children: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant<readonly TlvNode[]>([]),
      fc.array(tie('node'), { maxLength: 4 }),
    ),
    value: fc.oneof(
      fc.uint8Array({ maxLength: 9 }),
      fc.constantFrom(Uint8Array.of(0x80), Uint8Array.of(0, 3, 0, 0), new Uint8Array(4).fill(0xff)),
    ),
  }),
})).node;
function tlvBytes(n: TlvNode): number[] {
  // Instances (0) and multiple resources (2) hold TLVs; resources (3) and resource instances (1) values.
  const content = n.kind === 0 || n.kind === 2 ? n.children.flatMap(tlvBytes) : [...n.value];
  const length = Math.max(0, content.length + n.lie);
  const wide = n.wide || n.id > 255;
  const lengthType = n.lengthType === 0 && length > 7 ? 1 : n.lengthType;
  const out = [(n.kind << 6) | (wide ? 0x20 : 0) | (lengthType << 3) | (lengthType === 0 ? length : 0)];
  out.push(...(wide ? [(n.id >> 8) & 0xff, n.id & 0xff] : [n.id & 0xff]));
  for (let b = lengthType - 1; b >= 0; b--) out.push((length >> (8 * b)) & 0xff);
  return [...out, ...content];
}
const tlvDocument = fc.array(tlvNode, { maxLength: 4 }).map((ns) => Uint8Array.from(ns.flatMap(tlvBytes)));

// ---- valid encodings of random records, and the per-format generator ----

/** Random record sets; with timestamps only for the SenML formats (the others cannot carry them). */
function recordsArb(format: FuzzContentFormat): fc.Arbitrary<LwM2mRecord[]> {
  const time = format.startsWith('senml') ? fc.integer({ min: 0, max: 2 ** 31 }) : undefined;
  return valuedRecordsArb({ objects: [3, TEST_OBJECT], time });
}

function encoded(format: FuzzContentFormat, records: LwM2mRecord[], at: string): Uint8Array {
  try {
    return codecs.encode(format, records, { path: LwM2mPath.parse(at), model: testModel });
  } catch {
    return new Uint8Array(0); // records this format cannot carry at that path
  }
}

/** The instance path of a record (`/3/0` for `/3/0/7/1`). */
function instanceOf(r: LwM2mRecord): string {
  return LwM2mPath.of(...r.path.ids.slice(0, 2)).toString();
}

function structured(format: FuzzContentFormat): fc.Arbitrary<Uint8Array> {
  switch (format) {
    case 'senml-json':
    case 'senml-etch-json':
      return senmlJsonText.map(utf8Bytes);
    case 'lwm2m-json':
      return lwm2mJsonText.map(utf8Bytes);
    case 'senml-cbor':
    case 'senml-etch-cbor':
      return fc.oneof(senmlCborItem.map(cborBytes), rawCbor);
    case 'lwm2m-cbor':
    case 'cbor':
      return fc.oneof(cborItem.map(cborBytes), rawCbor);
    case 'tlv':
      return tlvDocument;
    case 'text':
      return fc
        .oneof(numberText, fc.string({ maxLength: 20 }), fc.constantFrom('3:0', 'true', '1', 'AQID', '</1>'))
        .map(utf8Bytes);
    case 'opaque':
      return fc.uint8Array({ maxLength: 40 });
  }
}

function generator(format: FuzzContentFormat): fc.Arbitrary<readonly [Uint8Array, string]> {
  // Valid encodings go with the path they were encoded at (the root, or the first record's instance).
  const valid = fc.tuple(recordsArb(format), fc.nat({ max: 2 })).map(([rs, where]) => {
    // The root, the first record's instance, or (text, opaque, CBOR) the first record alone.
    const first = rs[0];
    if (where === 2 && first)
      return [encoded(format, [first], first.path.toString()), first.path.toString()] as const;
    const at = where === 0 || !first ? '/' : instanceOf(first);
    return [encoded(format, rs, at), at] as const;
  });
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(structured(format), pathArb) },
    { weight: 2, arbitrary: valid },
    fc.tuple(fc.uint8Array({ maxLength: 64 }), pathArb),
  );
}

describe(`content codec fuzzing (${COUNT} mutated + ${COUNT} generated inputs per codec)`, () => {
  const dir = sharedDir();

  let seed = 0x5e00;
  for (const format of CONTENT_FORMATS) {
    const id = lookupContentFormat(format)!.id;
    const fmtSeed = seed++;
    it(`${format}: mutated captured and encoded payloads`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const captured = dir ? capturedPayloadsOf(dir, id) : [];
      const corpus: Uint8Array[] = captured.map((c) => c.payload);
      const args: string[] = captured.map((c) => targetPath(c).toString());
      // Valid encodings of a fixed sample of random record sets: at the root, at the first record's
      // instance, and each record alone at its own path (the single-value formats).
      for (const records of fc.sample(recordsArb(format), { numRuns: 40, seed: 0xc0de })) {
        const cases: [LwM2mRecord[], string][] = [[records, '/']];
        if (records[0]) cases.push([records, instanceOf(records[0])]);
        for (const r of records.slice(0, 3)) cases.push([[r], r.path.toString()]);
        for (const [rs, at] of cases) {
          const bytes = encoded(format, rs, at);
          if (bytes.length === 0) continue;
          corpus.push(bytes);
          args.push(at);
        }
      }
      assert.ok(corpus.length > 0, `${format}: no corpus`);
      const tally = fuzzMutations({
        target: fuzzTarget(`content:${format}`),
        corpus,
        args,
        count: COUNT,
        seed: fmtSeed,
        mutate: {
          interesting: [0x00, 0xff, 0x7f, 0x80, 0x1b, 0x9f, 0xbf, 0x22, 0x5b, 0x7b, 0x3a, 0xc8, 0x08, 0xe8],
        },
      });
      t.diagnostic(
        `${format} mutation (${corpus.length} seeds, ${captured.length} captured): ${tally.summary()}`,
      );
      assert.equal(tally.inputs, COUNT);
      if (format !== 'opaque') assert.ok(tally.refused > 0, 'no mutant was refused');
    });

    it(`${format}: generated documents`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzGenerated({
        target: fuzzTarget(`content:${format}`),
        arb: generator(format),
        count: COUNT,
        seed: fmtSeed,
      });
      t.diagnostic(`${format} generation: ${tally.summary()}`);
      assert.ok(tally.inputs >= COUNT);
      assert.ok(tally.accepted > 0, 'no generated document decoded');
    });
  }
});
