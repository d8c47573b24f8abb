// RedisCredentialStore on a database written before raw public keys were indexed (cred and the
// PSK hashes only): the first key lookup indexes the stored keys once, first holder winning.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisCredentialStore } from '../../src/store/redis-credential-store.js';
import { withRedisServer } from '../support/redis-server.js';

const spki = (): string =>
  generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .publicKey.export({ format: 'der', type: 'spki' })
    .toString('hex');

withRedisServer('RedisCredentialStore raw public key index', (server) => {
  it('indexes the keys of an older database once, before the first lookup', async () => {
    const redis = new Redis(server().url);
    try {
      const p = '{old}:';
      const [k1, k2] = [spki(), spki()];
      // As the store wrote them before the rpk hash: JSON only (dev-b and dev-c share k2).
      await redis.hset(`${p}cred`, {
        'dev-a': JSON.stringify({ endpoint: 'dev-a', rpk: { publicKey: k1.toUpperCase() } }),
        'dev-b': JSON.stringify({ endpoint: 'dev-b', rpk: { publicKey: k2 } }),
        'dev-c': JSON.stringify({ endpoint: 'dev-c', rpk: { publicKey: k2 } }),
        'dev-d': JSON.stringify({ endpoint: 'dev-d', rpk: { publicKey: '30' } }),
      });
      const store = new RedisCredentialStore({ redis, prefix: p });
      assert.equal((await store.getByPublicKey(k1))?.endpoint, 'dev-a');
      const shared = (await store.getByPublicKey(k2))?.endpoint;
      assert.ok(shared === 'dev-b' || shared === 'dev-c', `one holder of the shared key, got ${shared}`);
      assert.equal(await redis.get(`${p}rpk-indexed`), '1', 'done once');
      assert.equal(await redis.hlen(`${p}rpk`), 2, 'the unreadable key is not indexed');
      // From now on the index is the store's: a remove frees the key.
      await store.remove('dev-a');
      assert.equal(await store.getByPublicKey(k1), undefined);
      const other = shared === 'dev-b' ? 'dev-c' : 'dev-b';
      await store.remove(shared ?? '');
      await store.put({ endpoint: other, rpk: { publicKey: k2 } });
      assert.equal((await store.getByPublicKey(k2))?.endpoint, other, 'the other holder may take it now');
    } finally {
      redis.disconnect();
    }
  });
});
