import { DtlsError } from './dtls-errors.js';

/**
 * The anti-replay sliding window of one epoch (RFC 6347 §4.1.2.6, the IPsec ESP scheme of
 * RFC 4303 §3.4.3). Check a record with `accepts` before spending a decryption on it, and
 * `mark` it only after it authenticated, so forged records cannot move the window.
 */
export class ReplayWindow {
  /** Highest sequence number marked; -1 before the first. */
  private top = -1;
  /** bits[seq % size]: seq seen, for seq in (top - size, top]. */
  private readonly bits: Uint8Array;

  constructor(readonly size = 64) {
    if (!Number.isInteger(size) || size < 1 || size > 65536)
      throw new DtlsError('too-large', `replay window size ${size} outside 1..65536`);
    this.bits = new Uint8Array(size);
  }

  /** The highest sequence number received so far (-1 if none). */
  get highest(): number {
    return this.top;
  }

  /** False for a sequence number already marked or too old for the window. */
  accepts(seq: number): boolean {
    if (seq > this.top) return true;
    if (seq <= this.top - this.size) return false;
    return this.bits[seq % this.size] === 0;
  }

  /** Records `seq` as received, sliding the window forward when it is the new highest. */
  mark(seq: number): void {
    if (seq > this.top) {
      // Clear the slots of the numbers the window skips over (at most `size` of them).
      const from = Math.max(this.top + 1, seq - this.size + 1);
      for (let s = from; s < seq; s++) this.bits[s % this.size] = 0;
      this.top = seq;
      this.bits[seq % this.size] = 1;
    } else if (seq > this.top - this.size) {
      this.bits[seq % this.size] = 1;
    }
  }

  /** Forgets everything (a new epoch). */
  reset(): void {
    this.top = -1;
    this.bits.fill(0);
  }
}
