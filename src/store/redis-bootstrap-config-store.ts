import type { Redis } from 'ioredis';
import {
  type BootstrapConfig,
  type BootstrapConfigStore,
  type BootstrapTemplateDocument,
  type PendingBootstrapRecord,
  pendingBootstrapFromJson,
  pendingBootstrapToJson,
} from './bootstrap-config-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';

// Keys below the prefix: bootstrap → hash endpoint → JSON; bootstrap-templates → hash name → JSON;
// bootstrap-pending → hash endpoint → pending record JSON.

/** Bootstrap configurations in one Redis hash, templates in another, pending reasons in a third. */
export class RedisBootstrapConfigStore implements BootstrapConfigStore {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #templatesKey: string;
  readonly #pendingKey: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#key = `${options.prefix ?? '{petrel}:'}bootstrap`;
    this.#templatesKey = `${options.prefix ?? '{petrel}:'}bootstrap-templates`;
    this.#pendingKey = `${options.prefix ?? '{petrel}:'}bootstrap-pending`;
  }

  async put(endpoint: string, config: BootstrapConfig): Promise<void> {
    await this.#redis.hset(this.#key, endpoint, documentToJson(config));
  }

  async get(endpoint: string): Promise<BootstrapConfig | undefined> {
    return decode(await this.#redis.hget(this.#key, endpoint));
  }

  remove(endpoint: string): Promise<BootstrapConfig | undefined> {
    return this.#take(this.#key, endpoint);
  }

  /** HGET and HDEL in one MULTI: the value read is the one deleted, whatever another process does. */
  async #take(key: string, field: string): Promise<Readonly<Record<string, unknown>> | undefined> {
    const replies = await this.#redis.multi().hget(key, field).hdel(key, field).exec();
    const [error, json] = replies?.[0] ?? [null, null];
    if (error) throw error;
    return decode(json as string | null);
  }

  async *all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }> {
    for await (const [endpoint, json] of scanHash(this.#redis, this.#key))
      yield { endpoint, config: documentFromJson<BootstrapConfig>(json) };
  }

  async putTemplate(name: string, template: BootstrapTemplateDocument): Promise<void> {
    await this.#redis.hset(this.#templatesKey, name, documentToJson(template));
  }

  async getTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    return decode(await this.#redis.hget(this.#templatesKey, name));
  }

  removeTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    return this.#take(this.#templatesKey, name);
  }

  async *templates(): AsyncIterable<{ readonly name: string; readonly template: BootstrapTemplateDocument }> {
    for await (const [name, json] of scanHash(this.#redis, this.#templatesKey))
      yield { name, template: documentFromJson<BootstrapTemplateDocument>(json) };
  }

  async setPending(endpoint: string, pending: PendingBootstrapRecord): Promise<void> {
    await this.#redis.hset(this.#pendingKey, endpoint, pendingBootstrapToJson(pending));
  }

  async getPending(endpoint: string): Promise<PendingBootstrapRecord | undefined> {
    const json = await this.#redis.hget(this.#pendingKey, endpoint);
    return json === null ? undefined : pendingBootstrapFromJson(json);
  }

  async removePending(endpoint: string): Promise<boolean> {
    return (await this.#redis.hdel(this.#pendingKey, endpoint)) > 0;
  }
}

function decode(json: string | null): BootstrapConfig | undefined {
  return json === null ? undefined : documentFromJson<BootstrapConfig>(json);
}
