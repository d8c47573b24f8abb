import type { CodecContext, ContentCodec } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import { lookupContentFormat, type ContentFormat } from './content-format.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import { cborCodec } from './cbor-codec.js';
import { lwm2mCborCodec } from './lwm2m-cbor-codec.js';
import { lwm2mJsonCodec } from './lwm2m-json-codec.js';
import { opaqueCodec } from './opaque-codec.js';
import { senmlCborCodec, senmlEtchCborCodec } from './senml-cbor-codec.js';
import { senmlEtchJsonCodec, senmlJsonCodec } from './senml-json-codec.js';
import { textCodec } from './text-codec.js';
import { tlvCodec } from './tlv-codec.js';

/**
 * Codecs by content-format number and canonical name. Link format (40) carries links, not values:
 * it has its own parser in model/link-format and is not a value codec here.
 */
export class CodecRegistry {
  private readonly byId = new Map<number, ContentCodec>();

  constructor(codecs: Iterable<ContentCodec> = []) {
    for (const c of codecs) this.register(c);
  }

  register(codec: ContentCodec): this {
    this.byId.set(codec.format.id, codec);
    return this;
  }

  /** The codec for a number (`112`, `"112"`) or name (`senml-cbor`), or undefined. */
  find(key: number | string): ContentCodec | undefined {
    const format = lookupContentFormat(key);
    return format ? this.byId.get(format.id) : undefined;
  }

  /** The codec for `key`; an unknown or value-less format is a ContentFormatError (4.15). */
  get(key: number | string): ContentCodec {
    const codec = this.find(key);
    if (codec) return codec;
    const format = lookupContentFormat(key);
    const why = format
      ? `${format.name} (${format.id}) carries links, not resource values`
      : `unknown content format "${key}"`;
    throw new ContentFormatError('unsupported-format', why);
  }

  formats(): ContentFormat[] {
    return [...this.byId.values()].map((c) => c.format).sort((a, b) => a.id - b.id);
  }

  decode(key: number | string, bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
    return this.get(key).decode(bytes, ctx);
  }

  encode(key: number | string, records: NodeSet, ctx: CodecContext): Uint8Array {
    return this.get(key).encode(records, ctx);
  }
}

/** Every value codec LwM2M 1.2 defines. */
export const ALL_CODECS: readonly ContentCodec[] = [
  textCodec,
  opaqueCodec,
  cborCodec,
  senmlJsonCodec,
  senmlCborCodec,
  senmlEtchJsonCodec,
  senmlEtchCborCodec,
  tlvCodec,
  lwm2mJsonCodec,
  lwm2mCborCodec,
];

export function createCodecRegistry(): CodecRegistry {
  return new CodecRegistry(ALL_CODECS);
}
