import { ContentFormatError } from '../content-format-error.js';
import type { ContentFormatName } from '../content-format.js';

/**
 * Our own strict, bounded CBOR (RFC 8949) decoder for the CBOR-based content formats (60, 112, 322,
 * 11544). It never allocates more than the input can justify (declared lengths are checked against
 * the bytes left before anything is allocated), never recurses past `maxDepth`, and throws only
 * ContentFormatError.
 */

/** A CBOR float kept apart from integers, so `1.0` and `1` stay distinguishable. */
export class CborFloat {
  constructor(readonly value: number) {}
}

/** A tagged item (tag 0/1 date-times, bignums 2/3, ...). */
export class CborTagged {
  constructor(
    readonly tag: number | bigint,
    readonly value: CborValue,
  ) {}
}

/** A map in wire order; keys may be any item (LwM2M CBOR uses arrays as keys). */
export class CborMap {
  constructor(readonly entries: [CborValue, CborValue][]) {}
}

/** `undefined` is CBOR's simple value 23. */
export type CborValue =
  | number
  | bigint
  | string
  | Uint8Array
  | boolean
  | null
  | undefined
  | CborFloat
  | CborTagged
  | CborMap
  | CborValue[];

export interface CborReadOptions {
  /** The content format being decoded, for error messages. */
  format?: ContentFormatName;
  /** Maximum nesting of arrays, maps and tags (default 16). */
  maxDepth?: number;
  /** Maximum number of data items in the whole payload (default 1,000,000). */
  maxItems?: number;
}

const BREAK = Symbol('break');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const TWO_32 = 4294967296;

/** Decodes exactly one CBOR item filling all of `bytes`. */
export function decodeCbor(bytes: Uint8Array, options: CborReadOptions = {}): CborValue {
  const reader = new CborReader(bytes, options);
  if (bytes.length === 0) reader.fail('truncated', 'empty payload');
  const value = reader.readItem(0);
  if (reader.offset !== bytes.length)
    reader.fail('trailing-bytes', `${bytes.length - reader.offset} bytes after the item`);
  return value;
}

export class CborReader {
  offset = 0;
  private items = 0;
  private readonly view: DataView;
  private readonly maxDepth: number;
  private readonly maxItems: number;
  private readonly format: ContentFormatName | undefined;

  constructor(
    private readonly bytes: Uint8Array,
    options: CborReadOptions = {},
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxDepth = options.maxDepth ?? 16;
    this.maxItems = options.maxItems ?? 1_000_000;
    this.format = options.format;
  }

  fail(
    reason: ConstructorParameters<typeof ContentFormatError>[0],
    message: string,
    at = this.offset,
  ): never {
    throw new ContentFormatError(reason, `CBOR: ${message}`, { format: this.format, offset: at });
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number): void {
    if (n > this.bytes.length - this.offset)
      this.fail('truncated', `needs ${n} more bytes, ${this.remaining} left`);
  }

  /** Reads the argument of a head; returns -1 for indefinite length (ai 31). */
  private readArgument(ai: number, start: number): number | bigint {
    if (ai < 24) return ai;
    switch (ai) {
      case 24:
        this.need(1);
        return this.bytes[this.offset++]!;
      case 25: {
        this.need(2);
        const v = this.view.getUint16(this.offset);
        this.offset += 2;
        return v;
      }
      case 26: {
        this.need(4);
        const v = this.view.getUint32(this.offset);
        this.offset += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const hi = this.view.getUint32(this.offset);
        const lo = this.view.getUint32(this.offset + 4);
        this.offset += 8;
        // Below 2^53 a number is exact; above, a bigint.
        if (hi < 0x200000) return hi * TWO_32 + lo;
        return (BigInt(hi) << 32n) | BigInt(lo);
      }
      case 31:
        return -1;
      default:
        return this.fail('malformed', `reserved additional information ${ai}`, start);
    }
  }

  /** A length that must fit in what is left of the input, `unit` bytes per element at least. */
  private checkedLength(arg: number | bigint, unit: number, start: number): number {
    if (typeof arg === 'bigint' || arg * unit > this.remaining)
      this.fail('too-large', `declared length ${arg} exceeds the ${this.remaining} bytes left`, start);
    return arg;
  }

  private countItem(start: number): void {
    if (++this.items > this.maxItems) this.fail('too-large', `more than ${this.maxItems} data items`, start);
  }

  /** Reads one complete data item at nesting `depth`. */
  readItem(depth: number): CborValue {
    const v = this.readItemOrBreak(depth);
    if (v === BREAK)
      this.fail('malformed', 'unexpected "break" outside an indefinite-length item', this.offset - 1);
    return v;
  }

  private readItemOrBreak(depth: number): CborValue | typeof BREAK {
    const start = this.offset;
    this.need(1);
    const ib = this.bytes[this.offset++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ib === 0xff) return BREAK;
    this.countItem(start);
    switch (major) {
      case 0: {
        const arg = this.readArgument(ai, start);
        if (arg === -1) this.fail('malformed', 'indefinite length on an integer', start);
        return arg;
      }
      case 1: {
        const arg = this.readArgument(ai, start);
        if (arg === -1) this.fail('malformed', 'indefinite length on an integer', start);
        if (typeof arg === 'bigint') return -1n - arg;
        return arg < Number.MAX_SAFE_INTEGER ? -1 - arg : -1n - BigInt(arg);
      }
      case 2:
      case 3: {
        const arg = this.readArgument(ai, start);
        const raw =
          arg === -1 ? this.readChunks(major, start) : this.readSlice(this.checkedLength(arg, 1, start));
        return major === 2 ? raw : this.decodeText(raw, start);
      }
      case 4: {
        if (depth >= this.maxDepth) this.fail('too-deep', `nesting deeper than ${this.maxDepth}`, start);
        const arg = this.readArgument(ai, start);
        const out: CborValue[] = [];
        if (arg === -1) {
          for (;;) {
            const item = this.readItemOrBreak(depth + 1);
            if (item === BREAK) return out;
            out.push(item);
          }
        }
        const n = this.checkedLength(arg, 1, start);
        for (let i = 0; i < n; i++) out.push(this.readItem(depth + 1));
        return out;
      }
      case 5: {
        if (depth >= this.maxDepth) this.fail('too-deep', `nesting deeper than ${this.maxDepth}`, start);
        const arg = this.readArgument(ai, start);
        const entries: [CborValue, CborValue][] = [];
        if (arg === -1) {
          for (;;) {
            const key = this.readItemOrBreak(depth + 1);
            if (key === BREAK) return new CborMap(entries);
            entries.push([key, this.readItem(depth + 1)]);
          }
        }
        const n = this.checkedLength(arg, 2, start);
        for (let i = 0; i < n; i++) {
          const key = this.readItem(depth + 1);
          entries.push([key, this.readItem(depth + 1)]);
        }
        return new CborMap(entries);
      }
      case 6: {
        if (depth >= this.maxDepth) this.fail('too-deep', `nesting deeper than ${this.maxDepth}`, start);
        const tag = this.readArgument(ai, start);
        if (tag === -1) this.fail('malformed', 'indefinite length on a tag', start);
        return new CborTagged(tag, this.readItem(depth + 1));
      }
      default:
        return this.readSimple(ai, start);
    }
  }

  private readSimple(ai: number, start: number): CborValue {
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24: {
        this.need(1);
        const sv = this.bytes[this.offset++]!;
        return this.fail('malformed', `unassigned simple value ${sv}`, start);
      }
      case 25: {
        this.need(2);
        const half = this.view.getUint16(this.offset);
        this.offset += 2;
        return new CborFloat(decodeHalf(half));
      }
      case 26: {
        this.need(4);
        const f = this.view.getFloat32(this.offset);
        this.offset += 4;
        return new CborFloat(f);
      }
      case 27: {
        this.need(8);
        const f = this.view.getFloat64(this.offset);
        this.offset += 8;
        return new CborFloat(f);
      }
      default:
        return this.fail('malformed', `unassigned or reserved simple value (ai ${ai})`, start);
    }
  }

  private readSlice(n: number): Uint8Array {
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Indefinite-length string: definite chunks of the same major type until break. */
  private readChunks(major: number, start: number): Uint8Array {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      this.need(1);
      const ib = this.bytes[this.offset++]!;
      if (ib === 0xff) break;
      if (ib >> 5 !== major)
        this.fail('malformed', 'indefinite string chunk of another type', this.offset - 1);
      const arg = this.readArgument(ib & 0x1f, this.offset - 1);
      if (arg === -1) this.fail('malformed', 'nested indefinite string chunk', this.offset - 1);
      const chunk = this.readSlice(this.checkedLength(arg, 1, start));
      if (major === 3) this.decodeText(chunk, start); // each chunk must be valid UTF-8 by itself
      chunks.push(chunk);
      total += chunk.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private decodeText(raw: Uint8Array, start: number): string {
    // Short ASCII is the common case (SenML names, LwM2M strings); skip TextDecoder for it.
    if (raw.length < 64) {
      let ascii = true;
      for (let i = 0; i < raw.length; i++) {
        if (raw[i]! >= 0x80) {
          ascii = false;
          break;
        }
      }
      // apply() takes the typed array as an array-like; spreading it goes through the iterator.
      if (ascii) return String.fromCharCode.apply(null, raw as unknown as number[]);
    }
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail('bad-utf8', 'text string is not valid UTF-8', start);
    }
  }
}

/** 2 ** (exp - 25) for the normal binary16 exponents 1..30 (index = exp); powers of two are exact. */
const HALF_SCALE: readonly number[] = Array.from({ length: 31 }, (_, exp) => 2 ** (exp - 25));

/** IEEE 754 binary16 to a double (RFC 8949 Appendix D). */
export function decodeHalf(half: number): number {
  const exp = (half >> 10) & 0x1f;
  const mant = half & 0x3ff;
  let val: number;
  if (exp === 0) val = mant * 2 ** -24;
  else if (exp !== 31) val = (mant + 1024) * HALF_SCALE[exp]!;
  else val = mant === 0 ? Infinity : NaN;
  return half & 0x8000 ? -val : val;
}
