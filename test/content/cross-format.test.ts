// Cross-format properties: what one format decodes, every other format able to carry it encodes and
// decodes to the same records (decode A -> encode B -> decode B). The legitimate differences between
// formats are spelled out in TRAITS and checked, not skipped:
// - executables (`none`) have no SenML or LwM2M JSON value: those encoders refuse them;
// - NaN and ±Infinity have no JSON number: SenML JSON and LwM2M JSON refuse them;
// - LwM2M JSON has no form for an empty container and leaves valueless records out; SenML writes
//   them as names (records without a value), TLV and LwM2M CBOR as empty containers;
// - LwM2M CBOR cannot carry an empty record set (its top-level map must not be empty);
// - text/plain, CBOR (60) and opaque carry exactly one value, opaque only an Opaque one;
// - JSON and text write a float -0 as 0 (valuesEqual counts -0 and 0 as the same float), and an
//   integral float comes back as the same float: the model types the resource, not the number;
// - TLV and LwM2M CBOR carry no times: historical records travel in SenML and LwM2M JSON only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import type { CodecContext } from '../../src/content/content-codec.js';
import type { ContentFormatName } from '../../src/content/content-format.js';
import { Value, type ResourceType } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import {
  compositeRecordsArb,
  idArb,
  instanceRecordsArb,
  objectRecordsArb,
  timeArb,
  valueArb,
  type TreeOptions,
} from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { assertSameRecords, rec, showRecords } from '../support/records.js';
import { TEST_OBJECT, TEST_RESOURCES, ctxAt, testModel, testResourceId } from '../support/test-model.js';

const codecs = createCodecRegistry();
const RUNS = 200;

/** What a format can carry, beyond the records themselves. */
interface Traits {
  /** Executable resources (`none` values). */
  none: boolean;
  /** NaN and ±Infinity floats. */
  nonFinite: boolean;
  /** Empty containers (valueless records): kept, or left out of the payload. */
  empty: 'keep' | 'drop';
  /** A payload without records. */
  nothing: boolean;
  /** Exactly one value per payload, at the request path (text, CBOR 60, opaque). */
  one: boolean;
  /** Only values of these types (opaque). */
  types?: readonly ResourceType[];
}

const MANY = { one: false, nothing: true } as const;
const TRAITS: Record<string, Traits> = {
  tlv: { ...MANY, none: true, nonFinite: true, empty: 'keep' },
  'senml-json': { ...MANY, none: false, nonFinite: false, empty: 'keep' },
  'senml-cbor': { ...MANY, none: false, nonFinite: true, empty: 'keep' },
  'lwm2m-json': { ...MANY, none: false, nonFinite: false, empty: 'drop' },
  'lwm2m-cbor': { ...MANY, none: true, nonFinite: true, empty: 'keep', nothing: false },
  text: { none: true, nonFinite: true, empty: 'keep', nothing: false, one: true },
  cbor: { none: true, nonFinite: true, empty: 'keep', nothing: false, one: true },
  opaque: { none: false, nonFinite: false, empty: 'keep', nothing: false, one: true, types: ['opaque'] },
};

/** The records `format` gives back for `records` at `target`, or why its encoder must refuse them. */
function expectedIn(
  format: ContentFormatName,
  records: readonly LwM2mRecord[],
  target: LwM2mPath,
): LwM2mRecord[] | string {
  const t = TRAITS[format]!;
  if (records.length === 0 && !t.nothing) return 'no records';
  if (t.one && (records.length !== 1 || records[0]!.value === undefined || !records[0]!.path.equals(target)))
    return 'not exactly one value at the request path';
  for (const r of records) {
    const v = r.value;
    if (v === undefined) continue;
    if (v.type === 'none' && !t.none) return `executable ${r.path.toString()}`;
    if (v.type === 'float' && !Number.isFinite(v.value) && !t.nonFinite)
      return `${v.value} at ${r.path.toString()}`;
    if (t.types && !t.types.includes(v.type)) return `${v.type} at ${r.path.toString()}`;
  }
  return t.empty === 'drop' ? records.filter((r) => r.value !== undefined) : [...records];
}

/**
 * Encodes `records` in `format` and decodes them again, checking the result against expectedIn
 * (a refusal must be `not-encodable`). Returns the decoded records, or undefined after a refusal.
 */
function through(
  format: ContentFormatName,
  records: readonly LwM2mRecord[],
  ctx: CodecContext,
  from = '',
): LwM2mRecord[] | undefined {
  const expected = expectedIn(format, records, ctx.path);
  const label = `${from}${format} at ${ctx.path.toString()}`;
  if (typeof expected === 'string') {
    assertReason(() => codecs.encode(format, records, ctx), 'not-encodable', `${label} (${expected})`);
    return undefined;
  }
  const decoded = codecs.decode(format, codecs.encode(format, records, ctx), ctx);
  try {
    assertSameRecords(decoded, expected, { sort: true, inferred: true });
  } catch (e) {
    assert.fail(`${label}: ${(e as Error).message}\ninput:\n${showRecords(records).join('\n')}`);
  }
  return decoded;
}

/**
 * For each source format A, over RUNS record sets A can carry: decode A, then every other format B
 * carries what A decoded (or refuses it as TRAITS says).
 */
function crossCheck(
  formats: readonly ContentFormatName[],
  arb: fc.Arbitrary<{ records: LwM2mRecord[]; path: string }>,
  numRuns = RUNS,
): void {
  for (const a of formats) {
    it(`${a} -> ${formats.filter((b) => b !== a).join(', ')}`, () => {
      const carried = arb.filter(
        ({ records, path }) => typeof expectedIn(a, records, LwM2mPath.parse(path)) !== 'string',
      );
      fc.assert(
        fc.property(carried, ({ records, path }) => {
          const ctx = ctxAt(path);
          const fromA = through(a, records, ctx)!;
          for (const b of formats) if (b !== a) through(b, fromA, ctx, `${a} -> `);
        }),
        { numRuns },
      );
    });
  }
}

/**
 * Trees of every type and multiplicity. Half of them are portable (no executables, finite floats),
 * so that every pair of formats meets often; the others carry what only some formats can.
 */
function trees(options: TreeOptions): fc.Arbitrary<TreeOptions> {
  return fc.boolean().map((portable) => ({
    ...options,
    executables: !portable,
    values: { nonFinite: !portable },
  }));
}

/** Objects whose instances the tests draw: every type (TEST_OBJECT) and core objects. */
const OBJECTS = [TEST_OBJECT, TEST_OBJECT, 0, 1, 3, 5, 6, 26];

describe('cross-format: an object instance', () => {
  const arb = fc
    .tuple(fc.constantFrom(...OBJECTS), idArb, trees({ empty: { multiples: true } }))
    .chain(([oid, iid, options]) =>
      instanceRecordsArb(oid, iid, options).map((records) => ({ records, path: `/${oid}/${iid}` })),
    );
  crossCheck(['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'], arb);
});

// Whole objects repeat what instances show, a few instances at a time: fewer runs keep the file fast.
describe('cross-format: an object', () => {
  const arb = fc
    .tuple(fc.constantFrom(...OBJECTS), trees({ empty: { instances: true, multiples: true } }))
    .chain(([oid, options]) =>
      objectRecordsArb(oid, options).map((records) => ({ records, path: `/${oid}` })),
    );
  crossCheck(['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'], arb, RUNS / 2);
});

describe('cross-format: a composite at the root', () => {
  const arb = trees({ empty: { objects: true, instances: true, multiples: true } }).chain((options) =>
    compositeRecordsArb({ ...options, objects: OBJECTS, prefixes: ['d01', 'dev_2'], maxInstances: 2 }).map(
      (records) => ({
        records,
        path: '/',
      }),
    ),
  );
  crossCheck(['senml-json', 'senml-cbor', 'lwm2m-cbor'], arb);
});

describe('cross-format: one resource or resource instance', () => {
  /** One resource of TEST_OBJECT: a single value, one resource instance, or a whole multiple resource. */
  const arb = fc
    .tuple(fc.constantFrom(...TEST_RESOURCES), idArb, fc.boolean(), fc.boolean())
    .chain(([def, iid, portable, whole]) => {
      const base = `/${TEST_OBJECT}/${iid}/${def.id}`;
      const value = valueArb(def.type, { nonFinite: !portable });
      if (!def.multiple) return value.map((v) => ({ records: [rec(base, v)], path: base }));
      if (!whole)
        return fc
          .tuple(idArb, value)
          .map(([ri, v]) => ({ records: [rec(`${base}/${ri}`, v)], path: `${base}/${ri}` }));
      return fc
        .uniqueArray(fc.tuple(idArb, value), { selector: ([ri]) => ri, maxLength: 4 })
        .map((items) => ({
          records: items.length === 0 ? [rec(base)] : items.map(([ri, v]) => rec(`${base}/${ri}`, v)),
          path: base,
        }));
    });
  crossCheck(['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor', 'text', 'cbor', 'opaque'], arb);
});

/** Every valued resource of TEST_OBJECT and some core objects, with its object id. */
const VALUED = [TEST_OBJECT, 1, 3, 6].flatMap((oid) =>
  [...(testModel.object(oid)?.resources.values() ?? [])]
    .filter((d) => d.type !== 'none')
    .map((d) => [oid, d] as const),
);

describe('cross-format: historical records', () => {
  /** 1..3 resources (or resource instances), each with 1..6 records at distinct times. */
  const series = fc.tuple(fc.constantFrom(...VALUED), idArb, idArb).map(([[oid, def], iid, ri]) => ({
    path: def.multiple ? LwM2mPath.of(oid, iid, def.id, ri) : LwM2mPath.of(oid, iid, def.id),
    type: def.type,
  }));
  const arb = fc
    .uniqueArray(series, { minLength: 1, maxLength: 3, selector: ({ path }) => path.toString() })
    .chain((chosen) =>
      fc.tuple(
        ...chosen.map(({ path, type }) =>
          fc
            .uniqueArray(fc.tuple(timeArb, valueArb(type, { nonFinite: false })), {
              minLength: 1,
              maxLength: 6,
              selector: ([t]) => t,
            })
            .map((points) => points.map(([time, value]): LwM2mRecord => ({ path, value, time }))),
        ),
      ),
    )
    .map((all) => ({ records: all.flat(), path: '/' }));
  crossCheck(['senml-json', 'senml-cbor', 'lwm2m-json'], arb);
});

describe('cross-format: a string that starts with U+FEFF', () => {
  // A byte order mark inside a value is data: every format keeps it (decoders use ignoreBOM).
  const formats: ContentFormatName[] = [
    'text',
    'tlv',
    'lwm2m-json',
    'cbor',
    'senml-json',
    'senml-cbor',
    'lwm2m-cbor',
  ];
  const path = `/${TEST_OBJECT}/0/${testResourceId('string')}`;
  for (const text of ['\ufeff', '\ufeffA', 'A\ufeff', '\ufeff\ufeff']) {
    it(JSON.stringify(text).replace(/\ufeff/g, '\\ufeff'), () => {
      for (const a of formats) {
        const fromA = through(a, [rec(path, Value.string(text))], ctxAt(path))!;
        assert.equal(fromA[0]?.value?.value, text, a);
        for (const b of formats) through(b, fromA, ctxAt(path), `${a} -> `);
      }
    });
  }
});
