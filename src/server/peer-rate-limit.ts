import type { Clock } from '../clock.js';
import type { Peer } from '../transport/channel.js';

/**
 * Requests each peer may send the server (Register, Update, De-register, Send, Bootstrap-Request,
 * and every block of a block-wise one; retransmissions answered from the deduplication cache do
 * not count). Past the limit a request gets 4.29 Too Many Requests with Max-Age saying when a
 * request will be taken again (RFC 8516), before it is decoded: a device gone wrong, or a host
 * flooding one port, costs a token bucket lookup per datagram.
 */
export interface PeerRateLimitOptions {
  /** Requests per second each peer may send on average (a token bucket). */
  readonly rate: number;
  /** Requests a peer may send in one burst (the bucket's size); default 2 × rate. */
  readonly burst?: number;
  /**
   * `peer` (default): one bucket per address and port (a device behind a carrier NAT shares its
   * address with thousands of others). `address`: one per IP address, for networks where a host is
   * one device, so that changing source port gains nothing.
   */
  readonly key?: 'peer' | 'address';
  /**
   * Buckets kept at most (default 100 000). Beyond it full buckets are dropped first (a peer with a
   * full bucket needs no state), else the oldest.
   */
  readonly maxPeers?: number;
}

/**
 * Notifications each device may send the server (RFC 7641 notifications of every observation the
 * server holds with it, on the built-in CoAP sides), one bucket per registered endpoint. A fresh
 * notification past the limit is dropped before its payload is decoded (and before the rest of a
 * block-wise one is fetched); a CON one is still acknowledged (RFC 7641 §4.5: otherwise it is
 * retransmitted). Copies and stale notifications are dropped by the freshness check first
 * (§3.4) and take no token.
 */
export interface NotificationRateLimitOptions {
  /** Notifications per second each device may send on average (a token bucket). */
  readonly rate: number;
  /** Notifications a device may send in one burst (the bucket's size); default 2 × rate. */
  readonly burst?: number;
  /** Devices tracked at most (default 100 000); beyond it full buckets are dropped first. */
  readonly maxPeers?: number;
  /**
   * The `notificationsDropped` event comes at once for a device's first dropped notification,
   * then at most once per this many ms while it goes on (default 10 000).
   */
  readonly reportInterval?: number;
  /**
   * Off by default. Once this many notifications of one observation were dropped, the server ends
   * it (reason 'rate-limited') and forgets its token, so the device's next notification on it is
   * answered with RST (reactive cancel, RFC 7641 §3.6).
   */
  readonly cancelAfter?: number;
}

export interface PeerRateLimitStats {
  allowed: number;
  refused: number;
  /** Buckets held now. */
  tracked: number;
}

export interface NotificationRateLimitStats {
  /** Fresh notifications let through (decoded and delivered). */
  allowed: number;
  /** Fresh notifications dropped undecoded (CON ones acknowledged). */
  dropped: number;
  /** Devices with a bucket held now. */
  tracked: number;
  /** Observations ended for flooding (`cancelAfter`). */
  cancelled: number;
}

export type PeerRateVerdict =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfter: number };

const ALLOWED: PeerRateVerdict = Object.freeze({ allowed: true });

interface Bucket {
  tokens: number;
  at: number;
}

export class PeerRateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #byAddress: boolean;
  readonly #maxPeers: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();
  readonly #stats: PeerRateLimitStats = { allowed: 0, refused: 0, tracked: 0 };

  /** `option` names the setting in errors ('peerRateLimit', 'notificationRateLimit'). */
  constructor(options: PeerRateLimitOptions, clock: Clock, option = 'peerRateLimit') {
    const { rate, burst = 2 * rate, key = 'peer', maxPeers = 100_000 } = options;
    if (!(typeof rate === 'number' && rate > 0 && Number.isFinite(rate)))
      throw new RangeError(`${option}.rate must be a number above 0, got ${String(rate)}`);
    if (!(typeof burst === 'number' && burst >= 1 && Number.isFinite(burst)))
      throw new RangeError(`${option}.burst must be a number of at least 1, got ${String(burst)}`);
    if (!Number.isInteger(maxPeers) || maxPeers < 1)
      throw new RangeError(`${option}.maxPeers must be an integer above 0, got ${String(maxPeers)}`);
    if (key !== 'peer' && key !== 'address')
      throw new RangeError(`${option}.key must be 'peer' or 'address', got ${String(key)}`);
    this.#rate = rate;
    this.#burst = burst;
    this.#byAddress = key === 'address';
    this.#maxPeers = maxPeers;
    this.#clock = clock;
  }

  get stats(): PeerRateLimitStats {
    this.#stats.tracked = this.#buckets.size;
    return { ...this.#stats };
  }

  /** Takes one request's token from the peer's bucket, or says how many seconds until one is back. */
  take(peer: Peer): PeerRateVerdict {
    return this.takeKey(this.#byAddress ? peer.address : `${peer.address}|${peer.port}`);
  }

  /** take() for a bucket named by the caller (an endpoint name: the notification limit). */
  takeKey(key: string): PeerRateVerdict {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
      bucket.at = now;
    } else {
      if (this.#buckets.size >= this.#maxPeers) this.#evict(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#stats.allowed++;
      return ALLOWED;
    }
    this.#stats.refused++;
    return { allowed: false, retryAfter: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate)) };
  }

  /** Makes room for one bucket: full ones first (scanning a bounded number), else the oldest. */
  #evict(now: number): void {
    let scanned = 0;
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#rate >= this.#burst) {
        this.#buckets.delete(key);
        return;
      }
      if (++scanned >= 64) break;
    }
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }
}
