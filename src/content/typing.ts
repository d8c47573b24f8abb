import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import {
  INT64_MAX,
  INT64_MIN,
  TypeConversionError,
  UINT64_MAX,
  convertValue,
  normalizeInteger,
} from '../model/data-types.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CodecContext } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatName } from './content-format.js';

/** The resource definition for a resource or resource-instance path, honouring declared versions. */
export function lookupResource(ctx: CodecContext, path: LwM2mPath): ResourceDefinition | undefined {
  const o = path.objectId;
  const r = path.resourceId;
  if (o === undefined || r === undefined) return undefined;
  return ctx.model.resource(o, r, ctx.versions?.get(o));
}

/**
 * Types a number read from the wire (JSON number, CBOR integer or float) as `type`: integers must be
 * integral and in range, floats take any number. Throws ContentFormatError naming the path.
 */
export function numberAs(
  n: number | bigint,
  type: ResourceType,
  format: ContentFormatName,
  path: LwM2mPath,
): LwM2mValue {
  switch (type) {
    case 'float':
      return { type, value: Number(n) };
    case 'integer':
    case 'time':
    case 'unsigned': {
      if (typeof n === 'number' && !Number.isInteger(n))
        throw new ContentFormatError(
          'type-mismatch',
          `${path.toString()}: ${n} is not an integer (${type})`,
          { format },
        );
      const big = typeof n === 'bigint' ? n : BigInt(n);
      const lo = type === 'unsigned' ? 0n : INT64_MIN;
      const hi = type === 'unsigned' ? UINT64_MAX : INT64_MAX;
      if (big < lo || big > hi)
        throw new ContentFormatError(
          'out-of-range',
          `${path.toString()}: ${big} is out of range for ${type}`,
          { format },
        );
      return { type, value: normalizeInteger(big) };
    }
    default:
      throw new ContentFormatError(
        'type-mismatch',
        `${path.toString()}: a number cannot be a ${type} value`,
        { format },
      );
  }
}

/** The type a number carries by itself, for resources the model does not know. */
export function inferNumber(n: number | bigint): LwM2mValue {
  if (typeof n === 'bigint')
    return n > INT64_MAX ? { type: 'unsigned', value: n } : { type: 'integer', value: normalizeInteger(n) };
  return Number.isSafeInteger(n) ? { type: 'integer', value: n } : { type: 'float', value: n };
}

/**
 * A single-value format (text, opaque, CBOR 60) addresses exactly one value: a single-instance
 * resource (`/o/i/r`) or one resource instance (`/o/i/r/ri`). Returns why `path` does not fit.
 */
export function singleValueFault(
  path: LwM2mPath,
  def: ResourceDefinition | undefined,
  formatLabel: string,
): string | undefined {
  if (path.depth < 3) return `${path.toString()} is not a resource; ${formatLabel} carries one value`;
  if (def === undefined) return undefined;
  if (path.depth === 3 && def.multiple)
    return `${path.toString()} is a multiple resource; ${formatLabel} carries one value`;
  if (path.depth === 4 && !def.multiple) return `${path.toString()} names an instance of a single resource`;
  return undefined;
}

/**
 * The one record a single-value format may encode: exactly one valued, timeless record at the
 * request path. Throws ContentFormatError 'not-encodable' naming what is wrong.
 */
export function singleRecordToEncode(
  records: NodeSet,
  ctx: CodecContext,
  format: ContentFormatName,
  formatLabel: string,
): LwM2mRecord & { value: LwM2mValue } {
  const record = records.length === 1 ? records[0] : undefined;
  const fail = (message: string): never => {
    throw new ContentFormatError('not-encodable', message, { format });
  };
  if (record?.value === undefined) return fail(`${formatLabel} carries exactly one value`);
  if (record.time !== undefined) return fail(`${formatLabel} cannot carry a timestamp`);
  if (!record.path.equals(ctx.path))
    return fail(`record ${record.path.toString()} is not the request path ${ctx.path.toString()}`);
  return record as LwM2mRecord & { value: LwM2mValue };
}

/**
 * Converts a value to the model's type for encoding; a conversion that is not exact is
 * 'not-encodable' (the 4.06 a server answers for an Accept it cannot honour).
 */
export function convertForEncode(
  value: LwM2mValue,
  def: ResourceDefinition | undefined,
  path: LwM2mPath,
  format: ContentFormatName,
): LwM2mValue {
  if (def === undefined) return value;
  try {
    return convertValue(value, def.type);
  } catch (e) {
    if (!(e instanceof TypeConversionError)) throw e;
    throw new ContentFormatError('not-encodable', `${path.toString()}: ${e.message}`, { format });
  }
}
