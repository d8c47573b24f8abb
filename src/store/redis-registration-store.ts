import type { Redis } from 'ioredis';
import type { Registration } from '../server/registration.js';
import type { PutResult, RegistrationStore } from './registration-store.js';
import { registrationFromJson, registrationToJson } from './registration-json.js';

export interface RedisStoreOptions {
  /** A connected (or lazily connecting) ioredis client; the store never closes it. */
  readonly redis: Redis;
  /**
   * Key prefix. The default `{petrel}:` carries a hash tag, so every key lands in one cluster slot
   * and the store's scripts stay atomic on a Redis Cluster too.
   */
  readonly prefix?: string;
}

// Keys below the prefix: reg:<endpoint> → JSON, id:<id> → endpoint, endpoints → set of
// endpoints, expiry → sorted set of endpoints by expiresAt (finite ones only).

/** put: replaces the endpoint's registration, frees its old id and an id another endpoint held. */
const PUT = `
local p, ep, id, json, exp = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local prev = redis.call('GET', p .. 'reg:' .. ep)
if prev then redis.call('DEL', p .. 'id:' .. cjson.decode(prev)['id']) end
local owner = redis.call('GET', p .. 'id:' .. id)
if owner and owner ~= ep then
  redis.call('DEL', p .. 'reg:' .. owner)
  redis.call('SREM', p .. 'endpoints', owner)
  redis.call('ZREM', p .. 'expiry', owner)
end
redis.call('SET', p .. 'reg:' .. ep, json)
redis.call('SET', p .. 'id:' .. id, ep)
redis.call('SADD', p .. 'endpoints', ep)
if exp == '' then redis.call('ZREM', p .. 'expiry', ep) else redis.call('ZADD', p .. 'expiry', exp, ep) end
return prev`;

/** remove: by endpoint, and only if the stored id matches when one is given. */
const REMOVE = `
local p, ep, id = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('GET', p .. 'reg:' .. ep)
if not cur then return false end
local curId = cjson.decode(cur)['id']
if id ~= '' and curId ~= id then return false end
redis.call('DEL', p .. 'reg:' .. ep, p .. 'id:' .. curId)
redis.call('SREM', p .. 'endpoints', ep)
redis.call('ZREM', p .. 'expiry', ep)
return cur`;

/**
 * Registrations in Redis (ioredis), for a cluster of server processes sharing one fleet: every
 * change is one Lua script, so concurrent servers never see half of one.
 */
export class RedisRegistrationStore implements RegistrationStore {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
  }

  async put(registration: Registration): Promise<PutResult> {
    const expiry = Number.isFinite(registration.expiresAt) ? String(registration.expiresAt) : '';
    const prev = (await this.#redis.eval(
      PUT,
      0,
      this.#p,
      registration.endpoint,
      registration.id,
      registrationToJson(registration),
      expiry,
    )) as string | null;
    return { previous: prev ? registrationFromJson(prev) : undefined };
  }

  async get(endpoint: string): Promise<Registration | undefined> {
    return decode(await this.#redis.get(`${this.#p}reg:${endpoint}`));
  }

  async getById(id: string): Promise<Registration | undefined> {
    const endpoint = await this.#redis.get(`${this.#p}id:${id}`);
    if (endpoint === null) return undefined;
    const reg = await this.get(endpoint);
    return reg?.id === id ? reg : undefined;
  }

  async remove(endpoint: string, id?: string): Promise<Registration | undefined> {
    const removed = (await this.#redis.eval(REMOVE, 0, this.#p, endpoint, id ?? '')) as string | null;
    return decode(removed);
  }

  async *all(): AsyncIterable<Registration> {
    yield* await this.#load(await this.#redis.smembers(`${this.#p}endpoints`));
  }

  async *expiring(before: number): AsyncIterable<Registration> {
    const endpoints = await this.#redis.zrangebyscore(`${this.#p}expiry`, '-inf', `(${before}`);
    yield* await this.#load(endpoints);
  }

  get size(): Promise<number> {
    return this.#redis.scard(`${this.#p}endpoints`);
  }

  /** The registrations of `endpoints` as they are now (a snapshot; removed ones drop out). */
  async #load(endpoints: readonly string[]): Promise<Registration[]> {
    const out: Registration[] = [];
    // MGET in slices: one round trip per 500 registrations, bounded reply size.
    for (let i = 0; i < endpoints.length; i += 500) {
      const keys = endpoints.slice(i, i + 500).map((ep) => `${this.#p}reg:${ep}`);
      for (const json of await this.#redis.mget(...keys))
        if (json !== null) out.push(registrationFromJson(json));
    }
    return out;
  }
}

function decode(json: string | null | undefined): Registration | undefined {
  return json === null || json === undefined ? undefined : registrationFromJson(json);
}
