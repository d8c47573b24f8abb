import { PetrelError } from '../errors.js';
import type { ObjectModel } from './object-definition.js';
import { LwM2mPath } from './path.js';
import type { LwM2mRecord, NodeSet } from './records.js';
import { inferJsonType, valueFromJson, valueToJson, type JsonValue } from './value-json.js';

/**
 * Records as one JSON object keyed by path, the form the CLI prints and reads:
 * `{"/3/0/0": "Acme", "/3/0/7/0": 3800}`. A path with no value (an empty instance or multiple
 * resource, a name in a composite request, an executable) maps to null. Historical records (SenML
 * `t`) map to an array of `{"t": seconds, "v": value}` in payload order.
 */
export type RecordsJson = Record<string, JsonValue | { t: number; v: JsonValue }[]>;

export class RecordsJsonError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_RECORDS_JSON', message);
  }
}

export function recordsToJson(records: NodeSet): RecordsJson {
  const out: RecordsJson = {};
  for (const r of records) {
    const key = r.path.toString();
    const v = r.value === undefined ? null : valueToJson(r.value);
    if (r.time === undefined) {
      out[key] = v;
      continue;
    }
    const series = out[key];
    const entry = { t: r.time, v };
    if (Array.isArray(series)) series.push(entry);
    else out[key] = [entry];
  }
  return out;
}

/**
 * Reads that JSON back into records, typing each value by the model (object versions from
 * `versions`). Paths the model does not know take the type the JSON value suggests; they are
 * listed in `inferred` so callers can say so.
 */
export function recordsFromJson(
  json: unknown,
  model: ObjectModel,
  versions?: ReadonlyMap<number, string>,
): { records: LwM2mRecord[]; inferred: string[] } {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new RecordsJsonError('expected a JSON object mapping paths to values, e.g. {"/3/0/9": 95}');
  const records: LwM2mRecord[] = [];
  const inferred: string[] = [];
  for (const [key, raw] of Object.entries(json)) {
    let path: LwM2mPath;
    try {
      path = LwM2mPath.parse(key);
    } catch (e) {
      throw new RecordsJsonError((e as Error).message);
    }
    const oid = path.objectId;
    const rid = path.resourceId;
    const def =
      oid !== undefined && rid !== undefined ? model.resource(oid, rid, versions?.get(oid)) : undefined;
    const entries: { t?: number; v: unknown }[] = Array.isArray(raw)
      ? raw.map((e: unknown, i) => {
          if (
            e === null ||
            typeof e !== 'object' ||
            typeof (e as { t?: unknown }).t !== 'number' ||
            !('v' in e)
          )
            throw new RecordsJsonError(`${key}[${i}]: expected {"t": seconds, "v": value}`);
          return e as { t: number; v: unknown };
        })
      : [{ v: raw }];
    for (const { t, v } of entries) {
      if (rid === undefined) {
        if (v !== null)
          throw new RecordsJsonError(`${key}: only resources and resource instances carry values`);
        records.push(t === undefined ? { path } : { path, time: t });
        continue;
      }
      const type = def?.type ?? inferJsonType(v);
      if (!def) inferred.push(key);
      if (v === null && type !== 'none') {
        records.push(t === undefined ? { path } : { path, time: t });
        continue;
      }
      let value;
      try {
        value = valueFromJson(type, v, key);
      } catch (e) {
        throw new RecordsJsonError((e as Error).message);
      }
      const rec: LwM2mRecord = { path, value };
      records.push(t === undefined ? rec : { ...rec, time: t });
    }
  }
  return { records, inferred: [...new Set(inferred)] };
}
