import type { ObjectModel } from '../model/object-definition.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { ContentFormat } from './content-format.js';

/** Bounds every decoder enforces; exceeding one is a ContentFormatError ('too-deep' / 'too-large'). */
export interface DecodeLimits {
  /** Maximum nesting of containers (CBOR maps/arrays, JSON, TLV). */
  readonly maxDepth: number;
  /** Maximum number of records one payload may produce. */
  readonly maxRecords: number;
}

export const DEFAULT_LIMITS: DecodeLimits = Object.freeze({ maxDepth: 16, maxRecords: 100_000 });

export interface CodecContext {
  /**
   * The request's target path (`/3/0` for a Read of an instance, `/` for composites). Single-value
   * formats decode to a record at exactly this path; TLV and others place relative items below it.
   */
  readonly path: LwM2mPath;
  /** Resolves resource types; unknown objects fall back to the types the format carries. */
  readonly model: ObjectModel;
  /** Object versions the client declared (`ver=`), by object id. */
  readonly versions?: ReadonlyMap<number, string>;
  readonly limits?: Partial<DecodeLimits>;
}

/**
 * One content format. `encode` and `decode` are pure; decode throws ContentFormatError and nothing
 * else, whatever the input.
 */
export interface ContentCodec {
  readonly format: ContentFormat;
  encode(records: NodeSet, ctx: CodecContext): Uint8Array;
  decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[];
}

export function resolveLimits(ctx: CodecContext): DecodeLimits {
  return ctx.limits ? { ...DEFAULT_LIMITS, ...ctx.limits } : DEFAULT_LIMITS;
}
