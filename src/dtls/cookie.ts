import { timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { cryptoRandom, type RandomSource } from '../random.js';
import { peerKey, type Peer } from '../transport/channel.js';
import { ByteWriter } from './byte-writer.js';
import type { ClientHello } from './hello-messages.js';
import { HmacSha256Key } from './sha256.js';

export interface CookieJarOptions {
  clock?: Pick<Clock, 'now'>;
  random?: RandomSource;
  /** A secret is used this long before it becomes the previous one. Default 5 minutes. */
  rotateAfterMs?: number;
  /** Cookie length: the HMAC-SHA256 truncated to this many bytes (16..32). Default 16. */
  length?: number;
}

const SECRET_LENGTH = 32;
const encoder = new TextEncoder();

/**
 * Stateless HelloVerifyRequest cookies (RFC 6347 §4.2.1): Cookie = HMAC(Secret, Client-IP,
 * Client-Parameters), where the parameters are those the client must repeat unchanged in its
 * second ClientHello (version, random, session_id, cipher_suites, compression_methods). The
 * secret rotates; a cookie made with the previous secret is still accepted, so a rotation between
 * a client's two hellos does not fail its handshake. Nothing is stored per client.
 */
export class CookieJar {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #random: RandomSource;
  readonly #rotateAfter: number;
  readonly #length: number;
  /** The secrets as HMAC keys (their pads hashed once, not per cookie). */
  #current: HmacSha256Key;
  #previous: HmacSha256Key | undefined;
  #rotatedAt: number;

  constructor(options: CookieJarOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#rotateAfter = options.rotateAfterMs ?? 5 * 60_000;
    const length = options.length ?? 16;
    this.#length = Math.min(32, Math.max(16, Math.floor(length)));
    this.#current = new HmacSha256Key(this.#random.bytes(SECRET_LENGTH));
    this.#rotatedAt = this.#clock.now();
  }

  /** The cookie this client must echo. */
  cookieFor(peer: Peer, hello: ClientHello): Uint8Array {
    this.#rotate();
    return this.#mac(this.#current, peer, hello);
  }

  /** True when `hello.cookie` was made by cookieFor for this address and these parameters. */
  verify(peer: Peer, hello: ClientHello): boolean {
    this.#rotate();
    if (hello.cookie.length !== this.#length) return false;
    for (const secret of [this.#current, this.#previous]) {
      if (secret && timingSafeEqual(this.#mac(secret, peer, hello), hello.cookie)) return true;
    }
    return false;
  }

  #rotate(): void {
    const now = this.#clock.now();
    if (now - this.#rotatedAt < this.#rotateAfter) return;
    // After a long pause both secrets are stale: drop the previous one too.
    this.#previous = now - this.#rotatedAt < 2 * this.#rotateAfter ? this.#current : undefined;
    this.#current = new HmacSha256Key(this.#random.bytes(SECRET_LENGTH));
    this.#rotatedAt = now;
  }

  #mac(secret: HmacSha256Key, peer: Peer, hello: ClientHello): Uint8Array {
    const suites = new ByteWriter();
    for (const s of hello.cipherSuites) suites.u16(s);
    const input = new ByteWriter()
      .vector(1, encoder.encode(peerKey(peer)), 'address')
      .u16(hello.clientVersion)
      .bytes(hello.random)
      .vector(1, hello.sessionId, 'session_id')
      .vector(2, suites.finish(), 'cipher_suites')
      .vector(1, Uint8Array.from(hello.compressionMethods), 'compression_methods')
      .finish();
    return secret.mac(input).subarray(0, this.#length);
  }
}
