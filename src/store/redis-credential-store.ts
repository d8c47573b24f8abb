import type { Redis } from 'ioredis';
import {
  type CredentialStore,
  type SecurityInfo,
  pskFor,
  pskIdentitiesOf,
  publicKeyOf,
} from './credential-store.js';
import { documentFromJson, documentToJson } from './document-json.js';
import { PublicKeyConflictError, canonicalSpkiHex } from './public-key.js';
import { scanHash } from './redis-hash-scan.js';
import type { RedisStoreOptions } from './redis-registration-store.js';
import { CredentialConflictError } from './store-errors.js';

// Keys below the prefix: cred → hash endpoint → JSON; psk → hash identity → endpoint, for both
// the current and the next PSK (one namespace, so an identity names one key of one endpoint);
// cred-psk and cred-next-psk → hash endpoint → identity (so a replace frees the old identities
// without parsing JSON). rpk → hash canonical SPKI hex → endpoint, and cred-rpk → hash endpoint →
// key, the same for the raw public key. A database written before nextPsk existed is read as it
// is; one written before the rpk hash existed is indexed once, before the first key lookup
// (INDEX_RPK per endpoint, then the rpk-indexed marker).

/**
 * put: refuses an identity another endpoint holds as current or next (returns {identity, holder,
 * 'psk'}), or a raw public key another endpoint holds (returns {key, holder, 'rpk'}), else stores
 * and re-indexes. ARGV: prefix, endpoint, psk identity, next identity ('' for none: an identity
 * is never empty), JSON, canonical key ('' for none).
 */
const PUT = `
local p, ep, cur, nxt, json, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
for _, identity in ipairs({cur, nxt}) do
  if identity ~= '' then
    local holder = redis.call('HGET', p .. 'psk', identity)
    if holder and holder ~= ep then return {identity, holder, 'psk'} end
  end
end
if key ~= '' then
  local holder = redis.call('HGET', p .. 'rpk', key)
  if holder and holder ~= ep then return {key, holder, 'rpk'} end
end
for _, field in ipairs({'cred-psk', 'cred-next-psk'}) do
  local old = redis.call('HGET', p .. field, ep)
  if old then redis.call('HDEL', p .. 'psk', old) end
end
local oldKey = redis.call('HGET', p .. 'cred-rpk', ep)
if oldKey then redis.call('HDEL', p .. 'rpk', oldKey) end
if key ~= '' then
  redis.call('HSET', p .. 'rpk', key, ep)
  redis.call('HSET', p .. 'cred-rpk', ep, key)
else
  redis.call('HDEL', p .. 'cred-rpk', ep)
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
local oldKey = redis.call('HGET', p .. 'cred-rpk', ep)
if oldKey then redis.call('HDEL', p .. 'rpk', oldKey) end
redis.call('HDEL', p .. 'cred-rpk', ep)
redis.call('HDEL', p .. 'cred', ep)
return json`;

/**
 * Indexes one endpoint's key found by the one-off scan, unless a put or remove got there first
 * (its JSON is no longer the one scanned, or it is indexed) or another endpoint holds the key
 * (rows of before one key, one endpoint: the first indexed keeps it). ARGV: prefix, endpoint,
 * the JSON scanned, canonical key.
 */
const INDEX_RPK = `
local p, ep, json, key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', p .. 'cred', ep) ~= json then return 0 end
if redis.call('HEXISTS', p .. 'cred-rpk', ep) == 1 then return 0 end
if redis.call('HSETNX', p .. 'rpk', key, ep) == 0 then return 0 end
redis.call('HSET', p .. 'cred-rpk', ep, key)
return 1`;

/**
 * Security information in Redis; put and remove are Lua scripts, so the PSK and raw public key
 * indexes never drift.
 */
export class RedisCredentialStore implements CredentialStore {
  readonly #redis: Redis;
  readonly #p: string;
  #rpkIndexed: Promise<void> | undefined;

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
      publicKeyOf(info) ?? '',
    )) as [string, string, 'psk' | 'rpk'] | null;
    if (conflict === null) return;
    const [held, holder, kind] = conflict;
    throw kind === 'rpk'
      ? new PublicKeyConflictError(held, holder, info.endpoint)
      : new CredentialConflictError(held, holder, info.endpoint);
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

  async getByPublicKey(spkiHex: string): Promise<SecurityInfo | undefined> {
    const key = canonicalSpkiHex(spkiHex);
    if (key === undefined) return undefined;
    await this.#indexOldKeys();
    const endpoint = await this.#redis.hget(`${this.#p}rpk`, key);
    if (endpoint === null) return undefined;
    const info = await this.get(endpoint);
    // Two reads: a change in between could pair the key with another info; check it.
    return publicKeyOf(info) === key ? info : undefined;
  }

  async remove(endpoint: string): Promise<SecurityInfo | undefined> {
    return decode((await this.#redis.eval(REMOVE, 0, this.#p, endpoint)) as string | null);
  }

  /** Once per database: the keys of infos put before the rpk hash existed. A failure retries. */
  #indexOldKeys(): Promise<void> {
    this.#rpkIndexed ??= this.#scanOldKeys().catch((e: unknown) => {
      this.#rpkIndexed = undefined;
      throw e;
    });
    return this.#rpkIndexed;
  }

  async #scanOldKeys(): Promise<void> {
    const marker = `${this.#p}rpk-indexed`;
    if ((await this.#redis.exists(marker)) === 1) return;
    for await (const [endpoint, json] of scanHash(this.#redis, `${this.#p}cred`)) {
      const key = publicKeyOf(documentFromJson<SecurityInfo>(json));
      if (key !== undefined) await this.#redis.eval(INDEX_RPK, 0, this.#p, endpoint, json, key);
    }
    await this.#redis.set(marker, '1');
  }

  async *all(): AsyncIterable<SecurityInfo> {
    for await (const [, json] of scanHash(this.#redis, `${this.#p}cred`))
      yield documentFromJson<SecurityInfo>(json);
  }
}

function decode(json: string | null): SecurityInfo | undefined {
  return json === null ? undefined : documentFromJson<SecurityInfo>(json);
}
