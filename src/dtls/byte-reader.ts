import { AlertDescription } from './alert.js';
import { DtlsError } from './dtls-errors.js';

/**
 * A bounds-checked cursor over TLS presentation-language fields (RFC 5246 §4): big-endian
 * integers and length-prefixed vectors. Every overrun is a DtlsError ('truncated'), so decoders
 * built on it throw nothing else.
 */
export class ByteReader {
  private pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    /** Names the structure in error messages. */
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n > this.remaining)
      throw new DtlsError(
        'truncated',
        `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`,
        { alert: AlertDescription.decode_error },
      );
  }

  u8(field = 'u8'): number {
    this.need(1, field);
    return this.bytes[this.pos++]!;
  }

  u16(field = 'u16'): number {
    this.need(2, field);
    const v = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(field = 'u24'): number {
    this.need(3, field);
    const b = this.bytes;
    const v = (b[this.pos]! << 16) | (b[this.pos + 1]! << 8) | b[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(field = 'u32'): number {
    return this.u16(field) * 0x10000 + this.u16(field);
  }

  /** A 48-bit unsigned integer (DTLS sequence numbers): exact as a number, below 2^48. */
  u48(field = 'u48'): number {
    return this.u16(field) * 0x1_0000_0000 + this.u32(field);
  }

  /** `n` bytes, as a view into the input (no copy). */
  bytesOf(n: number, field = 'bytes'): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the input. */
  rest(): Uint8Array {
    return this.bytesOf(this.remaining);
  }

  /** A vector with a `lengthBytes`-byte length prefix, checked against [min, max]. */
  vector(lengthBytes: 1 | 2 | 3, field: string, min = 0, max = Infinity): Uint8Array {
    const n = lengthBytes === 1 ? this.u8(field) : lengthBytes === 2 ? this.u16(field) : this.u24(field);
    if (n < min || n > max)
      throw new DtlsError('malformed', `${this.what}: ${field} length ${n} outside ${min}..${max}`, {
        alert: AlertDescription.decode_error,
      });
    return this.bytesOf(n, field);
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.remaining !== 0)
      throw new DtlsError('malformed', `${this.what}: ${this.remaining} trailing bytes`, {
        alert: AlertDescription.decode_error,
      });
  }
}
