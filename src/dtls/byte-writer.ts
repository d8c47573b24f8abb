import { AlertDescription } from './alert.js';
import { DtlsError } from './dtls-errors.js';

/** Builds TLS presentation-language structures (RFC 5246 §4): big-endian integers and vectors. */
export class ByteWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  private push(part: Uint8Array): this {
    this.parts.push(part);
    this.size += part.length;
    return this;
  }

  u8(v: number): this {
    return this.push(Uint8Array.of(v & 0xff));
  }

  u16(v: number): this {
    return this.push(Uint8Array.of((v >>> 8) & 0xff, v & 0xff));
  }

  u24(v: number): this {
    return this.push(Uint8Array.of((v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }

  u32(v: number): this {
    return this.u16(Math.floor(v / 0x10000)).u16(v % 0x10000);
  }

  u48(v: number): this {
    return this.u16(Math.floor(v / 0x1_0000_0000)).u32(v % 0x1_0000_0000);
  }

  bytes(b: Uint8Array): this {
    return this.push(b);
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
    return this.push(b);
  }

  /** Everything written, as one array. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
