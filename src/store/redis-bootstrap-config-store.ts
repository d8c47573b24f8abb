import type { Redis } from 'ioredis';
import type { BootstrapConfig, BootstrapConfigStore } from './bootstrap-config-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';

// Key below the prefix: bootstrap → hash endpoint → JSON.

/** Bootstrap configurations in one Redis hash. */
export class RedisBootstrapConfigStore implements BootstrapConfigStore {
  readonly #redis: Redis;
  readonly #key: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#key = `${options.prefix ?? '{petrel}:'}bootstrap`;
  }

  async put(endpoint: string, config: BootstrapConfig): Promise<void> {
    await this.#redis.hset(this.#key, endpoint, documentToJson(config));
  }

  async get(endpoint: string): Promise<BootstrapConfig | undefined> {
    return decode(await this.#redis.hget(this.#key, endpoint));
  }

  async remove(endpoint: string): Promise<BootstrapConfig | undefined> {
    // MULTI: the value read is the one deleted, whatever another process does meanwhile.
    const replies = await this.#redis.multi().hget(this.#key, endpoint).hdel(this.#key, endpoint).exec();
    const [error, json] = replies?.[0] ?? [null, null];
    if (error) throw error;
    return decode(json as string | null);
  }

  async *all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }> {
    for await (const [endpoint, json] of scanHash(this.#redis, this.#key))
      yield { endpoint, config: documentFromJson<BootstrapConfig>(json) };
  }
}

function decode(json: string | null): BootstrapConfig | undefined {
  return json === null ? undefined : documentFromJson<BootstrapConfig>(json);
}
