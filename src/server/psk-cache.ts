import type { Clock } from '../clock.js';
import { type CredentialStore, pskFor } from '../store/credential-store.js';

export interface PskCacheOptions {
  /** A cached key is checked against the store again when used after this many ms (default 60 s). */
  readonly revalidateAfter?: number;
  /** Most identities kept (default 1,000,000); the least recently used go first. */
  readonly maxEntries?: number;
  readonly onError?: (error: unknown) => void;
}

interface Entry {
  key: Uint8Array | undefined;
  checkedAt: number;
}

/**
 * The PSKs of a credential store, held in memory for node:tls, whose PSK callback is synchronous
 * (OpenSSL asks in the middle of the handshake). `load()` fills it from the store; a miss fetches
 * the identity from the store in the background, so the device's next attempt finds it (its first
 * fails with unknown_psk_identity: LwM2M clients retry). A hit older than `revalidateAfter` is
 * served and refreshed in the background. A revoked PSK may therefore still complete a handshake
 * for that long, but not register: the Register's endpoint check reads the store itself.
 */
export class PskCache {
  readonly #store: CredentialStore;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #revalidateAfter: number;
  readonly #maxEntries: number;
  readonly #onError: (error: unknown) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #fetching = new Set<string>();

  constructor(store: CredentialStore, clock: Pick<Clock, 'now'>, options: PskCacheOptions = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#revalidateAfter = options.revalidateAfter ?? 60_000;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#onError = options.onError ?? (() => undefined);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Reads every PSK (current and next) of the store. */
  async load(): Promise<void> {
    const now = this.#clock.now();
    for await (const info of this.#store.all()) {
      for (const psk of [info.psk, info.nextPsk])
        if (psk) this.#set(psk.identity, { key: Buffer.from(psk.key, 'hex'), checkedAt: now });
    }
  }

  /** The key of `identity` as far as the cache knows now (never waits). */
  lookup(identity: string): Uint8Array | undefined {
    const entry = this.#entries.get(identity);
    if (entry === undefined || this.#clock.now() - entry.checkedAt >= this.#revalidateAfter)
      this.#fetch(identity);
    if (entry === undefined) return undefined;
    // Least recently used goes first: a hit moves the identity to the end.
    this.#entries.delete(identity);
    this.#entries.set(identity, entry);
    return entry.key;
  }

  /** Fetches `identity` from the store now (e.g. after a credential was written through the API). */
  async refresh(identity: string): Promise<void> {
    try {
      const key = pskFor(await this.#store.getByPskIdentity(identity), identity)?.key;
      this.#set(identity, {
        key: key === undefined ? undefined : Buffer.from(key, 'hex'),
        checkedAt: this.#clock.now(),
      });
    } catch (e) {
      this.#onError(e);
    }
  }

  #fetch(identity: string): void {
    if (this.#fetching.has(identity) || this.#fetching.size >= 1024) return; // bounded under a flood
    this.#fetching.add(identity);
    void this.refresh(identity).finally(() => this.#fetching.delete(identity));
  }

  #set(identity: string, entry: Entry): void {
    this.#entries.delete(identity);
    if (entry.key === undefined) return; // unknown identities are not kept: a flood cannot fill the cache
    this.#entries.set(identity, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}

/**
 * A credential store that reports the PSK identities each write or removal touched (before and
 * after), so an in-process PskCache can refresh them at once instead of after a failed handshake.
 */
export function watchCredentialWrites(
  store: CredentialStore,
  onChange: (identities: readonly string[]) => void,
): CredentialStore {
  const identitiesOf = (info: { psk?: { identity: string }; nextPsk?: { identity: string } } | undefined) =>
    [info?.psk?.identity, info?.nextPsk?.identity].filter((i) => i !== undefined);
  return {
    put: async (info) => {
      const before = await store.get(info.endpoint);
      await store.put(info);
      onChange([...identitiesOf(before), ...identitiesOf(info)]);
    },
    get: (endpoint) => store.get(endpoint),
    getByPskIdentity: (identity) => store.getByPskIdentity(identity),
    getByPublicKey: (spki) => store.getByPublicKey(spki),
    remove: async (endpoint) => {
      const removed = await store.remove(endpoint);
      onChange(identitiesOf(removed));
      return removed;
    },
    all: () => store.all(),
  };
}
