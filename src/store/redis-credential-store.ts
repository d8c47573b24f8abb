import type { Redis } from 'ioredis';
import type { CredentialStore, SecurityInfo } from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';
import { CredentialConflictError } from './store-errors.js';

// Keys below the prefix: cred → hash endpoint → JSON, psk → hash identity → endpoint,
// cred-psk → hash endpoint → identity (so a replace frees the old identity without parsing JSON).

/** put: refuses an identity another endpoint holds (returns that endpoint), else stores and re-indexes. */
const PUT = `
local p, ep, hasPsk, identity, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if hasPsk == '1' then
  local holder = redis.call('HGET', p .. 'psk', identity)
  if holder and holder ~= ep then return holder end
end
local old = redis.call('HGET', p .. 'cred-psk', ep)
if old then redis.call('HDEL', p .. 'psk', old) end
redis.call('HSET', p .. 'cred', ep, json)
if hasPsk == '1' then
  redis.call('HSET', p .. 'psk', identity, ep)
  redis.call('HSET', p .. 'cred-psk', ep, identity)
else
  redis.call('HDEL', p .. 'cred-psk', ep)
end
return false`;

const REMOVE = `
local p, ep = ARGV[1], ARGV[2]
local json = redis.call('HGET', p .. 'cred', ep)
if not json then return false end
local old = redis.call('HGET', p .. 'cred-psk', ep)
if old then redis.call('HDEL', p .. 'psk', old) end
redis.call('HDEL', p .. 'cred-psk', ep)
redis.call('HDEL', p .. 'cred', ep)
return json`;

/** Security information in Redis; put and remove are Lua scripts, so the PSK index never drifts. */
export class RedisCredentialStore implements CredentialStore {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
  }

  async put(info: SecurityInfo): Promise<void> {
    const identity = info.psk?.identity;
    const holder = (await this.#redis.eval(
      PUT,
      0,
      this.#p,
      info.endpoint,
      identity === undefined ? '0' : '1',
      identity ?? '',
      documentToJson(info),
    )) as string | null;
    if (holder !== null && identity !== undefined)
      throw new CredentialConflictError(identity, holder, info.endpoint);
  }

  async get(endpoint: string): Promise<SecurityInfo | undefined> {
    return decode(await this.#redis.hget(`${this.#p}cred`, endpoint));
  }

  async getByPskIdentity(identity: string): Promise<SecurityInfo | undefined> {
    const endpoint = await this.#redis.hget(`${this.#p}psk`, identity);
    if (endpoint === null) return undefined;
    const info = await this.get(endpoint);
    // Two reads: a change in between could pair the identity with another info; check it.
    return info?.psk?.identity === identity ? info : undefined;
  }

  async remove(endpoint: string): Promise<SecurityInfo | undefined> {
    return decode((await this.#redis.eval(REMOVE, 0, this.#p, endpoint)) as string | null);
  }

  async *all(): AsyncIterable<SecurityInfo> {
    for await (const [, json] of scanHash(this.#redis, `${this.#p}cred`))
      yield documentFromJson<SecurityInfo>(json);
  }
}

function decode(json: string | null): SecurityInfo | undefined {
  return json === null ? undefined : documentFromJson<SecurityInfo>(json);
}
