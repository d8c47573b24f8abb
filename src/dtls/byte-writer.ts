import { AlertDescription } from './alert.js';
import { DtlsError } from './dtls-errors.js';

/**
 * Builds TLS presentation-language structures (RFC 5246 §4): big-endian integers and vectors.
 * Writes into one growing buffer: the handshake and record paths build many small structures,
 * and an array per integer was a measurable share of their garbage.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private size = 0;

  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Room for `n` more bytes; returns where they go. */
  private reserve(n: number): number {
    const at = this.size;
    const need = at + n;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, at));
      this.buf = next;
    }
    this.size = need;
    return at;
  }

  u8(v: number): this {
    const at = this.reserve(1);
    this.buf[at] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    const at = this.reserve(2);
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
    return this;
  }

  u24(v: number): this {
    const at = this.reserve(3);
    this.buf[at] = (v >>> 16) & 0xff;
    this.buf[at + 1] = (v >>> 8) & 0xff;
    this.buf[at + 2] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    return this.u16(Math.floor(v / 0x10000)).u16(v % 0x10000);
  }

  u48(v: number): this {
    return this.u16(Math.floor(v / 0x1_0000_0000)).u32(v % 0x1_0000_0000);
  }

  bytes(b: Uint8Array): this {
    const at = this.reserve(b.length); // before reading this.buf: reserve may replace it
    this.buf.set(b, at);
    return this;
  }

  /** A vector with a `lengthBytes`-byte length prefix; refuses contents the prefix cannot carry. */
  vector(lengthBytes: 1 | 2 | 3, b: Uint8Array, field = 'vector'): this {
    const max = 2 ** (8 * lengthBytes) - 1;
    if (b.length > max)
      throw new DtlsError(
        'too-large',
        `${field}: ${b.length} bytes do not fit a ${lengthBytes}-byte length`,
        {
          alert: AlertDescription.internal_error,
        },
      );
    if (lengthBytes === 1) this.u8(b.length);
    else if (lengthBytes === 2) this.u16(b.length);
    else this.u24(b.length);
    return this.bytes(b);
  }

  /** Everything written, as one array (a view: the writer is not used after this). */
  finish(): Uint8Array {
    return this.size === this.buf.length ? this.buf : this.buf.subarray(0, this.size);
  }
}
