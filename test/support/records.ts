// Records in tests: a short builder, two comparable views, and a comparison that ignores what a
// format may legitimately change (payload order when asked) but nothing else.
import assert from 'node:assert/strict';
import { valuesEqual, type LwM2mValue } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { sortRecords, type LwM2mRecord } from '../../src/model/records.js';

/** A record from a path text, with an optional value and time. */
export function rec(path: string, value?: LwM2mValue, time?: number): LwM2mRecord {
  return {
    path: LwM2mPath.parse(path),
    ...(value !== undefined ? { value } : {}),
    ...(time !== undefined ? { time } : {}),
  };
}

/**
 * Records as plain data for deepEqual: `{path, type, value, time?, inferred?}`, opaque as hex,
 * numbers as decimal text (so -0, NaN and bigints compare exactly).
 */
export function plain(records: readonly LwM2mRecord[]): unknown[] {
  return records.map((r) => {
    const out: Record<string, unknown> = { path: r.path.toString() };
    if (r.value !== undefined) {
      out.type = r.value.type;
      const v = r.value.value;
      out.value =
        v instanceof Uint8Array
          ? Buffer.from(v).toString('hex')
          : typeof v === 'bigint' || typeof v === 'number'
            ? Object.is(v, -0)
              ? '-0'
              : String(v)
            : v;
    }
    if (r.time !== undefined) out.time = r.time;
    if (r.inferred === true) out.inferred = true;
    return out;
  });
}

/** Records as one line each: `/3/0/9@t = integer:100`, `?` after the type when inferred, opaque as hex. */
export function showRecords(records: readonly LwM2mRecord[]): string[] {
  return records.map((r) => {
    const at = r.time === undefined ? '' : `@${r.time}`;
    if (r.value === undefined) return `${r.path.toString()}${at}`;
    const v = r.value;
    const shown =
      v.type === 'opaque'
        ? Buffer.from(v.value).toString('hex')
        : v.type === 'objlnk'
          ? `${v.value.objectId}:${v.value.instanceId}`
          : String(v.value);
    return `${r.path.toString()}${at} = ${v.type}${r.inferred ? '?' : ''}:${shown}`;
  });
}

export interface SameRecordsOptions {
  /** Compare in tree order (sortRecords) rather than in the given order. */
  sort?: boolean;
  /** Also require the same `inferred` marks. */
  inferred?: boolean;
  /** Floats by Object.is: -0 differs from 0 (for formats that keep the sign of zero). */
  exact?: boolean;
}

/**
 * The same records: paths, times, value presence, and values by valuesEqual (type and exact value;
 * a float -0 equals 0 unless `exact`, NaN equals NaN).
 */
export function assertSameRecords(
  actual: readonly LwM2mRecord[],
  expected: readonly LwM2mRecord[],
  options: SameRecordsOptions = {},
): void {
  const a = options.sort ? sortRecords(actual) : actual;
  const e = options.sort ? sortRecords(expected) : expected;
  assert.equal(a.length, e.length, `${showRecords(a).join('\n')}\nvs\n${showRecords(e).join('\n')}`);
  a.forEach((x, i) => {
    const y = e[i]!;
    const msg = `record ${i}: ${showRecords([x])[0]} vs ${showRecords([y])[0]}`;
    assert.ok(x.path.equals(y.path), msg);
    assert.equal(x.time, y.time, msg);
    assert.equal(x.value === undefined, y.value === undefined, msg);
    if (x.value && y.value) assert.ok(valuesEqual(x.value, y.value), msg);
    if (options.exact && x.value?.type === 'float') assert.ok(Object.is(x.value.value, y.value?.value), msg);
    if (options.inferred) assert.equal(x.inferred === true, y.inferred === true, msg);
  });
}
