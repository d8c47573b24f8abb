import type { Redis } from 'ioredis';
import { normalizeTags } from './normalize-tags.js';
import type { RedisStoreOptions } from './redis-registration-store.js';
import type { TagStore } from './tag-store.js';

// Keys below the prefix: tags:<endpoint> → list of its tags in order, tag:<tag> → set of
// endpoints, tagged → set of endpoints with at least one tag.

/** set: unlinks the endpoint from its old tags, then links the new ones (none: forgets it). */
const SET = `
local p, ep = ARGV[1], ARGV[2]
local key = p .. 'tags:' .. ep
for _, tag in ipairs(redis.call('LRANGE', key, 0, -1)) do redis.call('SREM', p .. 'tag:' .. tag, ep) end
redis.call('DEL', key)
if #ARGV > 2 then
  for i = 3, #ARGV do
    redis.call('RPUSH', key, ARGV[i])
    redis.call('SADD', p .. 'tag:' .. ARGV[i], ep)
  end
  redis.call('SADD', p .. 'tagged', ep)
else
  redis.call('SREM', p .. 'tagged', ep)
end`;

/** Tags in Redis; a set is one Lua script, so the per-tag sets never drift from the lists. */
export class RedisTagStore implements TagStore {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
  }

  async set(endpoint: string, tags: readonly string[]): Promise<readonly string[]> {
    const next = normalizeTags(endpoint, tags);
    await this.#redis.eval(SET, 0, this.#p, endpoint, ...next);
    return next;
  }

  get(endpoint: string): Promise<readonly string[]> {
    return this.#redis.lrange(`${this.#p}tags:${endpoint}`, 0, -1);
  }

  async endpointsWith(tag: string): Promise<string[]> {
    return (await this.#redis.smembers(`${this.#p}tag:${tag}`)).sort();
  }

  async all(): Promise<Map<string, readonly string[]>> {
    const endpoints = (await this.#redis.smembers(`${this.#p}tagged`)).sort();
    const out = new Map<string, readonly string[]>();
    // One pipelined LRANGE per 500 endpoints: one round trip each, bounded replies.
    for (let i = 0; i < endpoints.length; i += 500) {
      const slice = endpoints.slice(i, i + 500);
      const pipeline = this.#redis.pipeline();
      for (const ep of slice) pipeline.lrange(`${this.#p}tags:${ep}`, 0, -1);
      const replies = (await pipeline.exec()) ?? [];
      slice.forEach((ep, j) => {
        const [error, tags] = replies[j] ?? [null, []];
        if (error) throw error;
        // Untagged between the two reads: it has no tags now.
        if (Array.isArray(tags) && tags.length > 0) out.set(ep, tags as string[]);
      });
    }
    return out;
  }
}
