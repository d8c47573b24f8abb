import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { peerKey, type Peer } from '../transport/channel.js';

/**
 * Echo freshness for the server role (RFC 9175 §2): a server that needs proof that a request is
 * fresh (LwM2M: Register, Bootstrap-Request under OSCORE) answers 4.01 Unauthorized with an Echo
 * value; the client repeats the request with that value, and `verify` checks it. Values are
 * stateless: a timestamp and an HMAC over it and the peer, so nothing is stored per peer.
 */
export class EchoFreshness {
  readonly #key: Buffer;
  readonly #clock: Clock;
  readonly #windowMs: number;

  constructor(options: { key?: Uint8Array; clock?: Clock; windowMs?: number } = {}) {
    this.#key = Buffer.from(options.key ?? randomBytes(32));
    this.#clock = options.clock ?? systemClock;
    this.#windowMs = options.windowMs ?? 30_000;
  }

  /** A fresh Echo value for `peer`: 6 bytes of time (ms) and 8 bytes of HMAC-SHA256 (14 of 40 allowed). */
  challenge(peer: Peer): Uint8Array {
    const stamp = Buffer.alloc(6);
    stamp.writeUIntBE(Math.max(0, Math.floor(this.#clock.now())) % 2 ** 48, 0, 6);
    return new Uint8Array(Buffer.concat([stamp, this.#mac(peer, stamp)]));
  }

  /** True when `echo` was issued by us to this peer within the freshness window. */
  verify(peer: Peer, echo: Uint8Array | undefined): boolean {
    if (!echo || echo.length !== 14) return false;
    const stamp = Buffer.from(echo.subarray(0, 6));
    if (!timingSafeEqual(this.#mac(peer, stamp), Buffer.from(echo.subarray(6)))) return false;
    const age = this.#clock.now() - stamp.readUIntBE(0, 6);
    return age >= 0 && age <= this.#windowMs;
  }

  #mac(peer: Peer, stamp: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(peerKey(peer)).update(stamp).digest().subarray(0, 8);
  }
}
