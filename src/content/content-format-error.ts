import { PetrelError } from '../errors.js';
import type { ContentFormatName } from './content-format.js';

/**
 * Why a payload could not be decoded or encoded. Stable values; `coapCode` maps them to the code
 * the spec names: an unsupported format is 4.15, a value the format cannot carry is 4.06 (for
 * an Accept we cannot honour), everything malformed is 4.00.
 */
export type ContentFormatReason =
  | 'truncated' // input ends inside an item
  | 'malformed' // syntax the format does not allow
  | 'trailing-bytes' // bytes after a complete payload
  | 'type-mismatch' // the value's wire type does not fit the resource type
  | 'out-of-range' // a value outside the resource type's range
  | 'duplicate' // the same path twice (and not historical)
  | 'invalid-path' // a name/path that is not a valid LwM2M path, or not below the request path
  | 'too-deep' // nesting beyond the limit
  | 'too-large' // a declared length or count beyond the limit or the input
  | 'bad-utf8'
  | 'bad-base64'
  | 'unsupported-format' // no codec for that content format
  | 'not-encodable'; // these records cannot be carried by this format (e.g. several values in text/plain)

export class ContentFormatError extends PetrelError {
  readonly reason: ContentFormatReason;
  readonly format: ContentFormatName | undefined;
  /** Byte offset in the input where the fault was found, when known. */
  readonly offset: number | undefined;

  constructor(
    reason: ContentFormatReason,
    message: string,
    details: { format?: ContentFormatName; offset?: number; cause?: unknown } = {},
  ) {
    const where = details.offset === undefined ? '' : ` at byte ${details.offset}`;
    const fmt = details.format === undefined ? '' : `${details.format}: `;
    super('PETREL_ERR_CONTENT_FORMAT', `${fmt}${message}${where}`, { cause: details.cause });
    this.reason = reason;
    this.format = details.format;
    this.offset = details.offset;
  }

  /** The CoAP response code for this fault (RFC 7252 §5.9 / Core TS operation tables). */
  get coapCode(): '4.00' | '4.06' | '4.15' {
    if (this.reason === 'unsupported-format') return '4.15';
    if (this.reason === 'not-encodable') return '4.06';
    return '4.00';
  }
}
