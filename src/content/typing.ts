import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import { INT64_MAX, INT64_MIN, UINT64_MAX, normalizeInteger } from '../model/data-types.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import type { LwM2mPath } from '../model/path.js';
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
