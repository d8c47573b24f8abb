import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import { INT64_MIN, normalizeInteger } from '../model/data-types.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CborValue } from './cbor/cbor-reader.js';
import { CborFloat, CborMap, CborTagged, decodeCbor } from './cbor/cbor-reader.js';
import { CborWriter } from './cbor/cbor-writer.js';
import { writeLwM2mValue } from './cbor/write-value.js';
import { parseRfc3339 } from './rfc3339.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import { hasLoneSurrogate, parseSenmlObjLink } from './senml-record.js';
import {
  convertForEncode,
  inferNumber,
  lookupResource,
  numberAs,
  singleRecordToEncode,
  singleValueFault,
} from './typing.js';

const FORMAT = lookupContentFormat('cbor') as ContentFormat;

function fail(reason: ContentFormatReason, message: string): never {
  throw new ContentFormatError(reason, message, { format: 'cbor' });
}

/** One item, optionally inside one tag (0/1 date-times); nothing deeper is needed. */
const CBOR_SINGLE_DEPTH = 2;

function describe(item: CborValue): string {
  if (item === null) return 'null';
  if (item === undefined) return 'undefined';
  if (typeof item === 'number' || typeof item === 'bigint') return 'an integer';
  if (typeof item === 'string') return 'a text string';
  if (typeof item === 'boolean') return 'a boolean';
  if (item instanceof Uint8Array) return 'a byte string';
  if (item instanceof CborFloat) return 'a float';
  if (item instanceof CborTagged) return `tag ${item.tag}`;
  if (item instanceof CborMap) return 'a map';
  return 'an array';
}

/** A Time value from a tag 0 or tag 1 item, or undefined if the item is not one. */
function taggedTime(item: CborTagged, path: LwM2mPath): LwM2mValue | undefined {
  let seconds: number | bigint | undefined;
  const inner = item.value;
  if (item.tag === 1) {
    if (typeof inner === 'number' || typeof inner === 'bigint') seconds = inner;
    else if (inner instanceof CborFloat && Number.isFinite(inner.value)) seconds = Math.floor(inner.value);
  } else if (item.tag === 0 && typeof inner === 'string') {
    seconds = parseRfc3339(inner);
    if (seconds === undefined)
      return fail(
        'type-mismatch',
        `${path.toString()}: tag 0 "${inner.slice(0, 40)}" is not an RFC 3339 date-time`,
      );
  }
  if (seconds === undefined) return undefined;
  return numberAs(seconds, 'time', 'cbor', path);
}

/** The value of `item` as the model's type (`type-mismatch` when the CBOR type does not fit). */
function typedValue(item: CborValue, type: ResourceType, path: LwM2mPath): LwM2mValue {
  const wrong = (): never =>
    fail('type-mismatch', `${path.toString()}: ${describe(item)} cannot be a ${type} value`);
  switch (type) {
    case 'string':
    case 'corelnk':
      return typeof item === 'string' ? { type, value: item } : wrong();
    case 'integer':
    case 'unsigned':
      return typeof item === 'number' || typeof item === 'bigint'
        ? numberAs(item, type, 'cbor', path)
        : wrong();
    case 'time':
      if (typeof item === 'number' || typeof item === 'bigint') return numberAs(item, type, 'cbor', path);
      return (item instanceof CborTagged && taggedTime(item, path)) || wrong();
    case 'float':
      if (item instanceof CborFloat) return { type, value: item.value };
      return typeof item === 'number' || typeof item === 'bigint' ? { type, value: Number(item) } : wrong();
    case 'boolean':
      return typeof item === 'boolean' ? { type, value: item } : wrong();
    case 'opaque':
      return item instanceof Uint8Array ? { type, value: item } : wrong();
    case 'objlnk': {
      if (typeof item !== 'string') return wrong();
      const link = parseSenmlObjLink(item);
      return link
        ? { type, value: link }
        : fail('type-mismatch', `${path.toString()}: "${item.slice(0, 40)}" is not "oid:iid"`);
    }
    case 'none':
      return item === null ? { type, value: null } : wrong();
  }
}

/** The type a CBOR item carries by itself, for resources the model does not know. */
function inferredValue(item: CborValue, path: LwM2mPath): LwM2mValue {
  if (typeof item === 'number' || typeof item === 'bigint') {
    if (typeof item === 'bigint' && item < INT64_MIN)
      return fail('out-of-range', `${path.toString()}: ${item} is below the 64-bit range`);
    return inferNumber(typeof item === 'bigint' ? item : normalizeInteger(item));
  }
  if (item instanceof CborFloat) return { type: 'float', value: item.value };
  if (typeof item === 'string') return { type: 'string', value: item };
  if (typeof item === 'boolean') return { type: 'boolean', value: item };
  if (item instanceof Uint8Array) return { type: 'opaque', value: item };
  if (item === null) return { type: 'none', value: null };
  if (item instanceof CborTagged) {
    const time = taggedTime(item, path);
    if (time) return time;
  }
  return fail('type-mismatch', `${path.toString()}: ${describe(item)} is not a LwM2M value`);
}

/**
 * CBOR (CF 60, Core §7.4.x): one value at the request path (a resource or resource instance) as one
 * CBOR item: text for String/Corelnk/Objlnk (`"oid:iid"`), an integer for Integer/Unsigned/Time, a
 * float (smallest exact width) for Float, a boolean, a byte string for Opaque, and `null` for the
 * `none` type (Appendix C lists null for executables). Decoding is typed by the model and also
 * accepts an integer for a Float, and tag 1 (epoch seconds, floored) or tag 0 (RFC 3339, floored)
 * for a Time; an unknown resource takes the type the item carries and is marked `inferred`.
 */
export const cborCodec: ContentCodec = {
  format: FORMAT,

  decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
    const path = ctx.path;
    const def = lookupResource(ctx, path);
    const fault = singleValueFault(path, def, 'CBOR (60)');
    if (fault !== undefined) fail(path.depth < 3 ? 'invalid-path' : 'type-mismatch', fault);
    const item = decodeCbor(bytes, {
      format: 'cbor',
      maxDepth: Math.min(resolveLimits(ctx).maxDepth, CBOR_SINGLE_DEPTH),
    });
    if (def === undefined) return [{ path, value: inferredValue(item, path), inferred: true }];
    return [{ path, value: typedValue(item, def.type, path) }];
  },

  encode(records: NodeSet, ctx: CodecContext): Uint8Array {
    const record = singleRecordToEncode(records, ctx, 'cbor', 'CBOR (60)');
    const def = lookupResource(ctx, ctx.path);
    const fault = singleValueFault(ctx.path, def, 'CBOR (60)');
    if (fault !== undefined) return fail('not-encodable', fault);
    const value = convertForEncode(record.value, def, ctx.path, 'cbor');
    if ((value.type === 'string' || value.type === 'corelnk') && hasLoneSurrogate(value.value))
      return fail('not-encodable', `${ctx.path.toString()}: string is not valid Unicode (lone surrogate)`);
    const w = new CborWriter(16);
    writeLwM2mValue(w, value);
    return w.finish();
  },
};
