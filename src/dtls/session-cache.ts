import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { PeerIdentity } from '../transport/channel.js';
import { ChannelConfigError } from '../transport/channel.js';
import { sha256 } from './sha256.js';

/**
 * What a full handshake leaves behind for an abbreviated one (RFC 5246 §7.3, §F.1.4): never a PSK,
 * only the master secret and what the session was agreed on.
 */
export interface CachedSession {
  /** The session_id the server gave (1..32 bytes). */
  readonly sessionId: Uint8Array;
  readonly masterSecret: Uint8Array;
  readonly cipherSuite: number;
  /** Whether the master secret is an extended one (RFC 7627 §5.3: resumption must agree). */
  readonly extendedMasterSecret: boolean;
  /** The peer identity authenticated by the full handshake (the resumed session reports it). */
  readonly identity: PeerIdentity;
  /** Server, PSK suites: the client's identity and a SHA-256 of its key, checked again on resumption. */
  readonly pskIdentity?: Uint8Array;
  readonly pskKeyHash?: Uint8Array;
  /** Server: the SNI of the full handshake (RFC 6066 §3: a resumption must name the same server). */
  readonly serverName?: string;
  /** Client: which of our credentials made the session (a shared cache may serve several channels). */
  readonly credentialTag?: string;
}

export interface SessionCacheOptions {
  /** Sessions kept at most; the least recently used goes first. Default 10000. */
  maxEntries?: number;
  /** A session can be resumed for this long after its full handshake (ms). Default 24 h (RFC 5246 §F.1.4). */
  lifetime?: number;
}

interface Slot {
  session: CachedSession;
  expires: number;
}

/**
 * A bounded LRU of resumable sessions with a lifetime: the server keys it by session_id, the
 * client by the server's address. The clock is injected (tests use a FakeClock).
 */
export class SessionCache {
  readonly maxEntries: number;
  readonly lifetime: number;
  readonly #clock: Pick<Clock, 'now'>;
  /** Map order is the LRU order: the first entry is the least recently used. */
  readonly #slots = new Map<string, Slot>();

  constructor(clock: Pick<Clock, 'now'>, options: SessionCacheOptions = {}) {
    this.#clock = clock;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.lifetime = options.lifetime ?? 24 * 3600_000;
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries >= 1))
      throw new ChannelConfigError('sessionCache.maxEntries must be a positive integer');
    if (!(this.lifetime > 0)) throw new ChannelConfigError('sessionCache.lifetime must be positive');
  }

  get size(): number {
    return this.#slots.size;
  }

  /** The live session under `key` (now the most recently used), or undefined; expired ones go. */
  get(key: string): CachedSession | undefined {
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    this.#slots.delete(key);
    if (slot.expires <= this.#clock.now()) return undefined;
    this.#slots.set(key, slot);
    return slot.session;
  }

  /** Keeps `session` for `lifetime` from now, pushing out the least recently used beyond `maxEntries`. */
  set(key: string, session: CachedSession): void {
    this.#slots.delete(key);
    this.#slots.set(key, { session, expires: this.#clock.now() + this.lifetime });
    for (const k of this.#slots.keys()) {
      if (this.#slots.size <= this.maxEntries) break;
      this.#slots.delete(k);
    }
  }

  delete(key: string): void {
    this.#slots.delete(key);
  }

  clear(): void {
    this.#slots.clear();
  }
}

/** The hash of a PSK kept in the server's cache in place of the key. */
export function pskKeyHash(key: Uint8Array): Uint8Array {
  return sha256(key);
}

/** Whether `key` is the one whose hash was cached. */
export function sameKey(key: Uint8Array | undefined, hash: Uint8Array | undefined): boolean {
  if (key === undefined || key.length === 0 || hash === undefined) return false;
  return timingSafeEqual(pskKeyHash(key), hash);
}

/** The cache key of a session_id. */
export function sessionIdKey(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}
