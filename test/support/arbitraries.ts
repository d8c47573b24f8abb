// fast-check arbitraries shared by the codec and model tests: values of every LwM2M type with the
// edges binary formats care about, and record sets (trees of every type and multiplicity) drawn
// from the shared test model.
import fc from 'fast-check';
import {
  INT64_MAX,
  INT64_MIN,
  RESOURCE_TYPES,
  UINT64_MAX,
  Value,
  type LwM2mValue,
  type ResourceType,
} from '../../src/model/data-types.js';
import type { ObjectModel, ResourceDefinition } from '../../src/model/object-definition.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { testModel } from './test-model.js';

// ---- values ----

/** Width boundaries of TLV and CBOR integers, and the edges of the exactly representable doubles. */
const SIGNED_EDGES: readonly bigint[] = [
  INT64_MIN,
  INT64_MAX,
  0n,
  -1n,
  23n,
  24n,
  -24n,
  -25n,
  127n,
  128n,
  -128n,
  -129n,
  255n,
  256n,
  32767n,
  32768n,
  -32768n,
  -32769n,
  65535n,
  65536n,
  2n ** 31n - 1n,
  2n ** 31n,
  -(2n ** 31n),
  -(2n ** 31n) - 1n,
  2n ** 32n,
  -(2n ** 32n) - 1n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  -(2n ** 53n) - 1n,
];
const UNSIGNED_EDGES: readonly bigint[] = [
  0n,
  23n,
  24n,
  255n,
  256n,
  65535n,
  65536n,
  2n ** 32n,
  2n ** 53n + 1n,
  INT64_MAX,
  INT64_MAX + 1n,
  UINT64_MAX,
];

/** Any signed 64-bit integer, often a small one or an edge. */
export const int64Arb: fc.Arbitrary<bigint> = fc.oneof(
  fc.integer().map(BigInt),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.constantFrom(...SIGNED_EDGES),
);

/** Any unsigned 64-bit integer, often a small one or an edge. */
export const uint64Arb: fc.Arbitrary<bigint> = fc.oneof(
  fc.nat().map(BigInt),
  fc.bigInt({ min: 0n, max: UINT64_MAX }),
  fc.constantFrom(...UNSIGNED_EDGES),
);

export interface ValueOptions {
  /** Floats may be NaN or ±Infinity (JSON formats cannot carry them). Default true. */
  nonFinite?: boolean;
  /** Floats may be -0 (text and JSON write it as 0). Default true. */
  negativeZero?: boolean;
  /** Longest opaque value. Default 40. */
  maxBytes?: number;
  /** Longest string or core link, in characters. Default 20. */
  maxChars?: number;
}

/**
 * Floats that fit a half (16 bits), a single (32 bits) or only a double, integral ones among them,
 * and (unless excluded) NaN, ±Infinity and -0.
 */
export function floatArb(options: ValueOptions = {}): fc.Arbitrary<number> {
  const finite = fc.oneof(
    fc.integer({ min: -2048, max: 2048 }).map((n) => n / 8), // exact halves, integral ones too
    fc.float({ noNaN: true, noDefaultInfinity: true }), // exact singles
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(
      65504, // largest half
      5.960464477539063e-8, // smallest subnormal half
      6.103515625e-5, // smallest normal half
      100000, // a single, not a half
      3.4028234663852886e38, // largest single
      1e39, // just past a single
      0.1,
      -4.1,
      12.34,
      1e300,
      Number.MIN_VALUE,
      2 ** 53 + 2, // integral, past the exact integers
    ),
  );
  const special = fc.constantFrom(NaN, Infinity, -Infinity, -0);
  const all = options.nonFinite === false ? fc.oneof(finite, fc.constant(-0)) : fc.oneof(finite, special);
  return all.filter(
    (f) =>
      (options.nonFinite !== false || Number.isFinite(f)) &&
      (options.negativeZero !== false || !Object.is(f, -0)),
  );
}

/** One Unicode scalar value: any code point but a surrogate (cheaper than fc's 'binary' unit to set up). */
const scalarValue: fc.Arbitrary<string> = fc
  .oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff }))
  .map((c) => String.fromCodePoint(c));

/**
 * Text of any Unicode scalar values (never a lone surrogate: every format refuses those).
 *
 * Strings that start with U+FEFF are included: every decoder must keep it (a byte order mark
 * inside a value is data, not a marker).
 */
export function textArb(maxLength = 20): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.string({ unit: scalarValue, maxLength }),
  );
}

/** A value of `type`. */
export function valueArb(type: ResourceType, options: ValueOptions = {}): fc.Arbitrary<LwM2mValue> {
  switch (type) {
    case 'string':
      return textArb(options.maxChars).map((v) => Value.string(v));
    case 'corelnk':
      return textArb(options.maxChars).map((v) => Value.corelnk(v));
    case 'integer':
      return int64Arb.map((v) => Value.integer(v));
    case 'unsigned':
      return uint64Arb.map((v) => Value.unsigned(v));
    case 'time':
      return int64Arb.map((v) => Value.time(v));
    case 'float':
      return floatArb(options).map((v) => Value.float(v));
    case 'boolean':
      return fc.boolean().map((v) => Value.boolean(v));
    case 'opaque':
      return fc.uint8Array({ maxLength: options.maxBytes ?? 40 }).map((v) => Value.opaque(v));
    case 'objlnk':
      return fc
        .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
        .map(([o, i]) => Value.objlnk(o, i));
    case 'none':
      return fc.constant(Value.none());
  }
}

/** A value of any of `types` (default: every type but `none`). */
export function anyValueArb(
  options: ValueOptions = {},
  types: readonly ResourceType[] = RESOURCE_TYPES.filter((t) => t !== 'none'),
): fc.Arbitrary<LwM2mValue> {
  return fc.constantFrom(...types).chain((t) => valueArb(t, options));
}

/** A record time in Unix seconds, integral or not (never -0, which formats write as 0). */
export const timeArb: fc.Arbitrary<number> = fc
  .oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.double({ min: -1e12, max: 1e12, noNaN: true }))
  .map((t) => (t === 0 ? 0 : t));

// ---- record trees ----

/** Instance and resource-instance ids: mostly small, sometimes anywhere in 0..65534. */
export const idArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 30 }),
  fc.integer({ min: 0, max: 65534 }),
);

export interface TreeOptions {
  /** Default: the shared test model. */
  model?: ObjectModel;
  values?: ValueOptions;
  /** Include executable resources, as `none` values. Default false. */
  executables?: boolean;
  /**
   * Which empty containers may appear, each as one valueless record: an object without instances,
   * an instance without resources, a multiple resource without instances. Default: none.
   */
  empty?: { objects?: boolean; instances?: boolean; multiples?: boolean };
  /** Default 3. */
  maxInstances?: number;
  /** Default 4. */
  maxResourceInstances?: number;
  /**
   * Values for objects the model does not know (random resource ids, single or multiple).
   * Without it, an unknown object is a mistake in the test.
   */
  unknownValues?: fc.Arbitrary<LwM2mValue>;
}

/** Ids below some container, and the value there (undefined: an empty container). */
type Entry = [ids: number[], value: LwM2mValue | undefined];

function entriesOfResource(
  rid: number,
  multiple: boolean,
  value: fc.Arbitrary<LwM2mValue>,
  options: TreeOptions,
): fc.Arbitrary<Entry[]> {
  if (!multiple) return value.map((v): Entry[] => [[[rid], v]]);
  return fc
    .uniqueArray(idArb, {
      minLength: options.empty?.multiples ? 0 : 1,
      maxLength: options.maxResourceInstances ?? 4,
    })
    .chain((riids) =>
      riids.length === 0
        ? fc.constant<Entry[]>([[[rid], undefined]])
        : fc.tuple(...riids.map((ri) => value.map((v): Entry => [[rid, ri], v]))),
    );
}

function entriesOfInstance(oid: number, options: TreeOptions): fc.Arbitrary<Entry[]> {
  const def = (options.model ?? testModel).object(oid);
  let resources: fc.Arbitrary<Entry[][]>;
  if (def) {
    const defs = [...def.resources.values()].filter(
      (d: ResourceDefinition) => options.executables || d.type !== 'none',
    );
    resources = fc
      .subarray(defs)
      .chain((chosen) =>
        fc.tuple(
          ...chosen.map((d) =>
            entriesOfResource(d.id, d.multiple, valueArb(d.type, options.values), options),
          ),
        ),
      );
  } else {
    const unknown = options.unknownValues;
    if (!unknown) throw new Error(`object ${oid} is not in the model and no unknownValues were given`);
    resources = fc
      .uniqueArray(idArb, { maxLength: 5 })
      .chain((rids) =>
        fc.tuple(
          ...rids.map((rid) =>
            fc.boolean().chain((multi) => entriesOfResource(rid, multi, unknown, options)),
          ),
        ),
      );
  }
  return resources.map((lists): Entry[] =>
    lists.length > 0 ? lists.flat() : options.empty?.instances ? [[[], undefined]] : [],
  );
}

function entriesOfObject(oid: number, options: TreeOptions): fc.Arbitrary<Entry[]> {
  return fc
    .uniqueArray(idArb, { minLength: options.empty?.objects ? 0 : 1, maxLength: options.maxInstances ?? 3 })
    .chain((iids) =>
      iids.length === 0
        ? fc.constant<Entry[]>([[[], undefined]])
        : fc
            .tuple(
              ...iids.map((iid) =>
                entriesOfInstance(oid, options).map((es) =>
                  es.map(([rest, v]): Entry => [[iid, ...rest], v]),
                ),
              ),
            )
            .map((lists) => lists.flat()),
    );
}

function toRecords(base: LwM2mPath, entries: Entry[]): LwM2mRecord[] {
  return entries.map(([rest, value]) => {
    const path = new LwM2mPath([...base.ids, ...rest], base.prefix);
    return value === undefined ? { path } : { path, value };
  });
}

/** The records of one instance: a random subset of its resources (maybe none: no records). */
export function instanceRecordsArb(
  oid: number,
  iid: number,
  options: TreeOptions = {},
): fc.Arbitrary<LwM2mRecord[]> {
  return entriesOfInstance(oid, options).map((es) => toRecords(LwM2mPath.of(oid, iid), es));
}

/** The records of one object: 1..maxInstances random instances (0 too with `empty.objects`). */
export function objectRecordsArb(oid: number, options: TreeOptions = {}): fc.Arbitrary<LwM2mRecord[]> {
  return entriesOfObject(oid, options).map((es) => toRecords(LwM2mPath.of(oid), es));
}

/**
 * A composite record set: 1..maxObjects distinct objects from `objects` (each maybe behind one of
 * the gateway `prefixes`), each a random object tree.
 */
export function compositeRecordsArb(
  options: TreeOptions & { objects: readonly number[]; prefixes?: readonly string[]; maxObjects?: number },
): fc.Arbitrary<LwM2mRecord[]> {
  const prefix =
    options.prefixes && options.prefixes.length > 0
      ? fc.option(fc.constantFrom(...options.prefixes), { nil: undefined })
      : fc.constant(undefined);
  return fc
    .uniqueArray(fc.tuple(prefix, fc.constantFrom(...options.objects)), {
      minLength: 1,
      maxLength: options.maxObjects ?? 4,
      selector: ([p, oid]) => `${p}/${oid}`,
    })
    .chain((groups) =>
      fc.tuple(
        ...groups.map(([p, oid]) =>
          entriesOfObject(oid, options).map((es) => toRecords(new LwM2mPath([oid], p), es)),
        ),
      ),
    )
    .map((lists) => lists.flat());
}

/**
 * A flat list of valued records on any valued resource of `objects`, some with a time (so a path
 * may repeat with other times), unique by path and time.
 */
export function valuedRecordsArb(options: {
  objects: readonly number[];
  model?: ObjectModel;
  values?: ValueOptions;
  /** Default 0..3. */
  instanceId?: fc.Arbitrary<number>;
  /** Default 0..3. */
  resourceInstanceId?: fc.Arbitrary<number>;
  /** When given, records may carry a time from it. */
  time?: fc.Arbitrary<number>;
  /** Default 12. */
  maxLength?: number;
}): fc.Arbitrary<LwM2mRecord[]> {
  const model = options.model ?? testModel;
  const defs = options.objects.flatMap((oid) =>
    [...(model.object(oid)?.resources.values() ?? [])]
      .filter((d) => d.type !== 'none')
      .map((d) => [oid, d] as const),
  );
  const small = fc.integer({ min: 0, max: 3 });
  const time = options.time ? fc.option(options.time, { nil: undefined }) : fc.constant(undefined);
  const record = fc
    .tuple(fc.constantFrom(...defs), options.instanceId ?? small, options.resourceInstanceId ?? small, time)
    .chain(([[oid, def], iid, riid, t]) =>
      valueArb(def.type, options.values).map((value): LwM2mRecord => {
        const path = def.multiple ? LwM2mPath.of(oid, iid, def.id, riid) : LwM2mPath.of(oid, iid, def.id);
        return t === undefined ? { path, value } : { path, value, time: t };
      }),
    );
  return fc.uniqueArray(record, {
    maxLength: options.maxLength ?? 12,
    selector: (r) => `${r.path.toString()}@${r.time}`,
  });
}
