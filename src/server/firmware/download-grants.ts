// Per-device download tokens: a campaign gives each device its own URI, and the download service
// serves an image only to a request that carries a live token for that image (issue 11). A token
// is 128 random bits (base64url), so it cannot be guessed; it expires and is revoked when the
// device's transfer is over.
import type { RandomSource } from '../../random.js';
import { cryptoRandom } from '../../random.js';

export interface DownloadGrant {
  readonly token: string;
  readonly imageId: string;
  readonly endpoint: string;
  /** Wall-clock ms. */
  readonly expiresAt: number;
}

export interface DownloadGrantsOptions {
  /** How long a token lives, ms (default 24 h). */
  readonly lifetime?: number;
  /** Most live tokens (default 100 000); the oldest goes first. */
  readonly maxGrants?: number;
  readonly now?: () => number;
  readonly random?: RandomSource;
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export class DownloadGrants {
  readonly #grants = new Map<string, DownloadGrant>();
  readonly #lifetime: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #random: RandomSource;

  constructor(options: DownloadGrantsOptions = {}) {
    this.#lifetime = options.lifetime ?? 24 * 3600_000;
    this.#max = options.maxGrants ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? cryptoRandom;
  }

  get size(): number {
    return this.#grants.size;
  }

  issue(imageId: string, endpoint: string, lifetime = this.#lifetime): DownloadGrant {
    const token = Buffer.from(this.#random.bytes(16)).toString('base64url');
    const grant = { token, imageId, endpoint, expiresAt: this.#now() + lifetime };
    while (this.#grants.size >= this.#max) {
      const oldest = this.#grants.keys().next().value;
      if (oldest === undefined) break;
      this.#grants.delete(oldest);
    }
    this.#grants.set(token, grant);
    return grant;
  }

  /** The live grant of `token` for `imageId`, else undefined (unknown, expired, another image). */
  check(imageId: string, token: string | undefined): DownloadGrant | undefined {
    if (token === undefined || !TOKEN_PATTERN.test(token)) return undefined;
    const grant = this.#grants.get(token);
    if (!grant) return undefined;
    if (grant.expiresAt <= this.#now()) {
      this.#grants.delete(token);
      return undefined;
    }
    return grant.imageId === imageId ? grant : undefined;
  }

  revoke(token: string): boolean {
    return this.#grants.delete(token);
  }

  /** Revokes every token of an image (it was deleted). */
  revokeImage(imageId: string): void {
    for (const [token, grant] of this.#grants) if (grant.imageId === imageId) this.#grants.delete(token);
  }
}
