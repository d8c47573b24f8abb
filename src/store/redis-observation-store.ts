import type { Redis } from 'ioredis';
import { documentFromJson, documentToJson } from './document-json.js';
import type { ObservationStore, PersistedObservation } from './observation-store.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';

// Keys below the prefix: obs → hash id → JSON, obs-owner → hash id → endpoint, obs-ep:<endpoint>
// → sorted set of ids by createdAt (ties in id order, as SQL's ORDER BY created_at, id).

/** put: stores the observation and moves it to its endpoint's index (it may have changed). */
const PUT = `
local p, id, ep, score, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local old = redis.call('HGET', p .. 'obs-owner', id)
if old and old ~= ep then redis.call('ZREM', p .. 'obs-ep:' .. old, id) end
redis.call('HSET', p .. 'obs', id, json)
redis.call('HSET', p .. 'obs-owner', id, ep)
redis.call('ZADD', p .. 'obs-ep:' .. ep, score, id)`;

const REMOVE = `
local p, id = ARGV[1], ARGV[2]
local json = redis.call('HGET', p .. 'obs', id)
if not json then return false end
local ep = redis.call('HGET', p .. 'obs-owner', id)
redis.call('HDEL', p .. 'obs', id)
redis.call('HDEL', p .. 'obs-owner', id)
if ep then redis.call('ZREM', p .. 'obs-ep:' .. ep, id) end
return json`;

const REMOVE_BY_ENDPOINT = `
local p, ep = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGE', p .. 'obs-ep:' .. ep, 0, -1)
for _, id in ipairs(ids) do
  redis.call('HDEL', p .. 'obs', id)
  redis.call('HDEL', p .. 'obs-owner', id)
end
redis.call('DEL', p .. 'obs-ep:' .. ep)
return #ids`;

/** Observations in Redis; every change is one Lua script, so other server processes never see half of one. */
export class RedisObservationStore implements ObservationStore {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
  }

  async put(observation: PersistedObservation): Promise<void> {
    await this.#redis.eval(
      PUT,
      0,
      this.#p,
      observation.id,
      observation.endpoint,
      String(observation.createdAt),
      documentToJson(observation),
    );
  }

  async get(id: string): Promise<PersistedObservation | undefined> {
    return decode(await this.#redis.hget(`${this.#p}obs`, id));
  }

  async remove(id: string): Promise<PersistedObservation | undefined> {
    return decode((await this.#redis.eval(REMOVE, 0, this.#p, id)) as string | null);
  }

  async byEndpoint(endpoint: string): Promise<PersistedObservation[]> {
    const ids = await this.#redis.zrange(`${this.#p}obs-ep:${endpoint}`, 0, '-1');
    if (ids.length === 0) return [];
    const out: PersistedObservation[] = [];
    // A concurrent remove may leave an id without a value: it is gone, so it is skipped.
    for (const json of await this.#redis.hmget(`${this.#p}obs`, ...ids)) {
      const obs = decode(json);
      if (obs) out.push(obs);
    }
    return out;
  }

  async removeByEndpoint(endpoint: string): Promise<number> {
    return (await this.#redis.eval(REMOVE_BY_ENDPOINT, 0, this.#p, endpoint)) as number;
  }

  async *all(): AsyncIterable<PersistedObservation> {
    for await (const [, json] of scanHash(this.#redis, `${this.#p}obs`))
      yield documentFromJson<PersistedObservation>(json);
  }
}

function decode(json: string | null | undefined): PersistedObservation | undefined {
  return json === null || json === undefined ? undefined : documentFromJson<PersistedObservation>(json);
}
