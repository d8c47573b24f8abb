import type { LwM2mValue } from '../model/data-types.js';
import {
  TypeConversionError,
  Value,
  parseDecimalFloat,
  parseDecimalInteger,
  valueFromText,
  valueToText,
} from '../model/data-types.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import { convertForEncode, lookupResource, singleRecordToEncode, singleValueFault } from './typing.js';

const FORMAT = lookupContentFormat('text') as ContentFormat;
// Keeps a BOM as data (the value is exactly the bytes sent). Fatal, non-streaming decoding keeps no
// state between calls, so one instance serves every call.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();

function fail(reason: ContentFormatReason, message: string, offset?: number): never {
  throw new ContentFormatError(
    reason,
    message,
    offset === undefined ? { format: 'text' } : { format: 'text', offset },
  );
}

// Lone surrogates would silently become U+FFFD in UTF-8; refuse them instead of changing the value.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Parses the text as `def.type`, mapping each conversion fault to its ContentFormatError reason. */
function typedValue(def: ResourceDefinition, text: string, path: LwM2mPath): LwM2mValue {
  try {
    return valueFromText(def.type, text);
  } catch (e) {
    if (!(e instanceof TypeConversionError)) throw e;
    if (def.type === 'opaque') return fail('bad-base64', `${path.toString()}: opaque text is not base64`);
    const integral = def.type === 'integer' || def.type === 'unsigned' || def.type === 'time';
    const number = integral
      ? parseDecimalInteger(text.trim())
      : def.type === 'float'
        ? parseDecimalFloat(text.trim())
        : undefined;
    // A well-formed number the type cannot hold (2^64, 1e400) is out of range, not of the wrong type.
    if (number !== undefined)
      return fail('out-of-range', `${path.toString()}: ${text.trim()} is out of range for ${def.type}`);
    return fail('type-mismatch', `${path.toString()}: ${e.message}`);
  }
}

/**
 * text/plain (CF 0, Core §7.3): one value, in the text form of its type (decimal numbers, `0`/`1`,
 * base64 opaque, `oid:iid`). Typed by the model; an unknown resource decodes to a string marked
 * `inferred`.
 */
export const textCodec: ContentCodec = {
  format: FORMAT,

  decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
    const path = ctx.path;
    const def = lookupResource(ctx, path);
    const fault = singleValueFault(path, def, 'text/plain');
    if (fault !== undefined) fail(path.depth < 3 ? 'invalid-path' : 'type-mismatch', fault);
    let text: string;
    try {
      text = UTF8.decode(bytes);
    } catch {
      return fail('bad-utf8', 'payload is not valid UTF-8');
    }
    if (def === undefined) return [{ path, value: Value.string(text), inferred: true }];
    return [{ path, value: typedValue(def, text, path) }];
  },

  encode(records: NodeSet, ctx: CodecContext): Uint8Array {
    const record = singleRecordToEncode(records, ctx, 'text', 'text/plain');
    const def = lookupResource(ctx, ctx.path);
    const fault = singleValueFault(ctx.path, def, 'text/plain');
    if (fault !== undefined) return fail('not-encodable', fault);
    const value = convertForEncode(record.value, def, ctx.path, 'text');
    const text = valueToText(value);
    if (LONE_SURROGATE.test(text))
      return fail('not-encodable', `${ctx.path.toString()}: string is not valid Unicode`);
    return UTF8_ENCODER.encode(text);
  },
};
