import { Value } from '../model/data-types.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import { lookupResource, singleRecordToEncode } from './typing.js';

const FORMAT = lookupContentFormat('opaque') as ContentFormat;

function fail(reason: ContentFormatReason, message: string): never {
  throw new ContentFormatError(reason, message, { format: 'opaque' });
}

/** Why `path` cannot hold one opaque value, or undefined when it can (unknown resources can). */
function opaqueFault(path: LwM2mPath, def: ResourceDefinition | undefined): string | undefined {
  if (path.depth < 3)
    return `${path.toString()} is not a resource; application/octet-stream carries one value`;
  if (def === undefined) return undefined;
  if (def.type !== 'opaque') return `${path.toString()} is a ${def.type} resource, not opaque`;
  if (path.depth === 3 && def.multiple) return `${path.toString()} is a multiple resource`;
  if (path.depth === 4 && !def.multiple) return `${path.toString()} names an instance of a single resource`;
  return undefined;
}

/**
 * application/octet-stream (CF 42, Core §7.3): the raw bytes of one Opaque resource or resource
 * instance. Other types have no opaque form, so encoding them is 'not-encodable' (4.06 for an
 * Accept of 42 on, say, a string resource).
 */
export const opaqueCodec: ContentCodec = {
  format: FORMAT,

  decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
    const def = lookupResource(ctx, ctx.path);
    const fault = opaqueFault(ctx.path, def);
    if (fault !== undefined) fail(ctx.path.depth < 3 ? 'invalid-path' : 'type-mismatch', fault);
    // Copy: the record must not alias a buffer the transport may reuse.
    const value = Value.opaque(bytes.slice());
    return def === undefined ? [{ path: ctx.path, value, inferred: true }] : [{ path: ctx.path, value }];
  },

  encode(records: NodeSet, ctx: CodecContext): Uint8Array {
    const record = singleRecordToEncode(records, ctx, 'opaque', 'application/octet-stream');
    const fault = opaqueFault(ctx.path, lookupResource(ctx, ctx.path));
    if (fault !== undefined) return fail('not-encodable', fault);
    if (record.value.type !== 'opaque')
      return fail('not-encodable', `${ctx.path.toString()}: a ${record.value.type} value has no opaque form`);
    return record.value.value.slice();
  },
};
