import { CborFloat, CborMap, CborTagged, type CborValue } from './cbor-reader.js';

/**
 * Our own CBOR encoder: preferred serialisation (RFC 8949 §4.1) — the shortest head for every
 * argument and the smallest float (half, single, double) that holds the value exactly.
 */
export class CborWriter {
  private buf: Uint8Array;
  private view: DataView;
  private length = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Writes a head: major type and argument, in its shortest form. */
  head(major: number, arg: number | bigint): this {
    const mt = major << 5;
    if (typeof arg === 'bigint') {
      if (arg <= 0xffffffffn) return this.head(major, Number(arg));
      this.reserve(9);
      this.buf[this.length] = mt | 27;
      this.view.setBigUint64(this.length + 1, arg);
      this.length += 9;
      return this;
    }
    if (arg < 24) {
      this.reserve(1);
      this.buf[this.length++] = mt | arg;
    } else if (arg < 0x100) {
      this.reserve(2);
      this.buf[this.length] = mt | 24;
      this.buf[this.length + 1] = arg;
      this.length += 2;
    } else if (arg < 0x10000) {
      this.reserve(3);
      this.buf[this.length] = mt | 25;
      this.view.setUint16(this.length + 1, arg);
      this.length += 3;
    } else if (arg < 0x100000000) {
      this.reserve(5);
      this.buf[this.length] = mt | 26;
      this.view.setUint32(this.length + 1, arg);
      this.length += 5;
    } else {
      this.reserve(9);
      this.buf[this.length] = mt | 27;
      this.view.setUint32(this.length + 1, Math.floor(arg / 4294967296));
      this.view.setUint32(this.length + 5, arg >>> 0);
      this.length += 9;
    }
    return this;
  }

  /** An integer (major 0 or 1); range −2^64 .. 2^64−1. */
  int(n: number | bigint): this {
    if (typeof n === 'number') {
      if (!Number.isInteger(n)) throw new RangeError(`CBOR int: ${n} is not an integer`);
      if (n >= 0 && Number.isSafeInteger(n)) return this.head(0, n);
      if (n < 0 && Number.isSafeInteger(n)) return this.head(1, -1 - n);
      return this.int(BigInt(n));
    }
    if (n >= 0n) {
      if (n > 0xffffffffffffffffn) throw new RangeError(`CBOR int: ${n} is beyond 64 bits`);
      return this.head(0, n);
    }
    const m = -1n - n;
    if (m > 0xffffffffffffffffn) throw new RangeError(`CBOR int: ${n} is beyond 64 bits`);
    return this.head(1, m);
  }

  /** A float in the smallest of half, single and double precision that is exact. */
  float(f: number): this {
    const half = encodeHalfExact(f);
    if (half !== undefined) {
      this.reserve(3);
      this.buf[this.length] = 0xf9;
      this.view.setUint16(this.length + 1, half);
      this.length += 3;
    } else if (Math.fround(f) === f) {
      this.reserve(5);
      this.buf[this.length] = 0xfa;
      this.view.setFloat32(this.length + 1, f);
      this.length += 5;
    } else {
      this.reserve(9);
      this.buf[this.length] = 0xfb;
      this.view.setFloat64(this.length + 1, f);
      this.length += 9;
    }
    return this;
  }

  bool(b: boolean): this {
    this.reserve(1);
    this.buf[this.length++] = b ? 0xf5 : 0xf4;
    return this;
  }

  null(): this {
    this.reserve(1);
    this.buf[this.length++] = 0xf6;
    return this;
  }

  undefined(): this {
    this.reserve(1);
    this.buf[this.length++] = 0xf7;
    return this;
  }

  text(s: string): this {
    // ASCII fast path: one byte per char, no encoder round trip.
    let ascii = s.length < 128;
    if (ascii)
      for (let i = 0; i < s.length; i++)
        if (s.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
    if (ascii) {
      this.head(3, s.length);
      this.reserve(s.length);
      for (let i = 0; i < s.length; i++) this.buf[this.length + i] = s.charCodeAt(i);
      this.length += s.length;
      return this;
    }
    return this.rawString(3, utf8Encoder.encode(s));
  }

  bytes(b: Uint8Array): this {
    return this.rawString(2, b);
  }

  private rawString(major: number, b: Uint8Array): this {
    this.head(major, b.length);
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }

  arrayHeader(n: number): this {
    return this.head(4, n);
  }

  mapHeader(n: number): this {
    return this.head(5, n);
  }

  tag(t: number | bigint): this {
    return this.head(6, t);
  }

  /** Writes a generic value (numbers that are integers as ints; CborFloat for floats). */
  value(v: CborValue): this {
    if (v === null) return this.null();
    if (v === undefined) return this.undefined();
    switch (typeof v) {
      case 'number':
        return Number.isInteger(v) ? this.int(v) : this.float(v);
      case 'bigint':
        return this.int(v);
      case 'string':
        return this.text(v);
      case 'boolean':
        return this.bool(v);
    }
    if (v instanceof Uint8Array) return this.bytes(v);
    if (v instanceof CborFloat) return this.float(v.value);
    if (v instanceof CborTagged) return this.tag(v.tag).value(v.value);
    if (v instanceof CborMap) {
      this.mapHeader(v.entries.length);
      for (const [k, val] of v.entries) this.value(k).value(val);
      return this;
    }
    this.arrayHeader(v.length);
    for (const item of v) this.value(item);
    return this;
  }

  /** The bytes written so far (a copy, so the writer can be reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const utf8Encoder = new TextEncoder();

/** Encodes one value with preferred serialisation. */
export function encodeCbor(v: CborValue): Uint8Array {
  return new CborWriter().value(v).finish();
}

/** The binary16 bits of `f` if it is exactly representable as a half float, else undefined. */
export function encodeHalfExact(f: number): number | undefined {
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a >= 65520) return undefined; // beyond the largest half (65504) after rounding
  if (a < 2 ** -14) {
    // Subnormal: a multiple of 2^-24.
    const m = a / 2 ** -24;
    return Number.isInteger(m) ? sign | m : undefined;
  }
  const exp = Math.floor(Math.log2(a));
  // log2 can be off by one at boundaries; correct it.
  const e = 2 ** exp > a ? exp - 1 : 2 ** (exp + 1) <= a ? exp + 1 : exp;
  if (e > 15) return undefined;
  const mant = a / 2 ** e - 1; // in [0, 1)
  const m = mant * 1024;
  if (!Number.isInteger(m)) return undefined;
  return sign | ((e + 15) << 10) | m;
}
