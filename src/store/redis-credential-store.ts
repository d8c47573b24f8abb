import type { Redis } from 'ioredis';
import { type CredentialStore, type SecurityInfo, pskFor, pskIdentitiesOf } from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';
import { CredentialConflictError } from './store-errors.js';

// Keys below the prefix: cred → hash endpoint → JSON; psk → hash identity → endpoint, for both
// the current and the next PSK (one namespace, so an identity names one key of one endpoint);
// cred-psk and cred-next-psk → hash endpoint → identity (so a replace frees the old identities
// without parsing JSON). A database written before nextPsk existed is read as it is.

/**
 * put: refuses an identity another endpoint holds as current or next (returns {identity,
 * holder}), else stores and re-indexes. ARGV: prefix, endpoint, psk identity, next identity
 * ('' for none: an identity is never empty), JSON.
 */
const PUT = `
local p, ep, cur, nxt, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for _, identity in ipairs({cur, nxt}) do
  if identity ~= '' then
    local holder = redis.call('HGET', p .. 'psk', identity)
    if holder and holder ~= ep then return {identity, holder} end
  end
end
for _, field in ipairs({'cred-psk', 'cred-next-psk'}) do
  local old = redis.call('HGET', p .. field, ep)
  if old then redis.call('HDEL', p .. 'psk', old) end
end
redis.call('HSET', p .. 'cred', ep, json)
local fields = {{'cred-psk', cur}, {'cred-next-psk', nxt}}
for _, pair in ipairs(fields) do
  if pair[2] ~= '' then
    redis.call('HSET', p .. 'psk', pair[2], ep)
    redis.call('HSET', p .. pair[1], ep, pair[2])
  else
    redis.call('HDEL', p .. pair[1], ep)
  end
end
return false`;

const REMOVE = `
local p, ep = ARGV[1], ARGV[2]
local json = redis.call('HGET', p .. 'cred', ep)
if not json then return false end
for _, field in ipairs({'cred-psk', 'cred-next-psk'}) do
  local old = redis.call('HGET', p .. field, ep)
  if old then redis.call('HDEL', p .. 'psk', old) end
  redis.call('HDEL', p .. field, ep)
end
redis.call('HDEL', p .. 'cred', ep)
return json`;

/** Security information in Redis; put and remove are Lua scripts, so the PSK indexes never drift. */
export class RedisCredentialStore implements CredentialStore {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(options: RedisStoreOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
  }

  async put(info: SecurityInfo): Promise<void> {
    pskIdentitiesOf(info); // the same identity as psk and nextPsk: refused before Redis
    const conflict = (await this.#redis.eval(
      PUT,
      0,
      this.#p,
      info.endpoint,
      info.psk?.identity ?? '',
      info.nextPsk?.identity ?? '',
      documentToJson(info),
    )) as [string, string] | null;
    if (conflict !== null) throw new CredentialConflictError(conflict[0], conflict[1], info.endpoint);
  }

  async get(endpoint: string): Promise<SecurityInfo | undefined> {
    return decode(await this.#redis.hget(`${this.#p}cred`, endpoint));
  }

  async getByPskIdentity(identity: string): Promise<SecurityInfo | undefined> {
    const endpoint = await this.#redis.hget(`${this.#p}psk`, identity);
    if (endpoint === null) return undefined;
    const info = await this.get(endpoint);
    // Two reads: a change in between could pair the identity with another info; check it.
    return pskFor(info, identity) === undefined ? undefined : info;
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
