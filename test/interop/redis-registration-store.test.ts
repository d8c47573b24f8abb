// The Redis registration store against a real redis-server (Debian redis-server) on a free
// loopback port, started and stopped here: the same contract suite as the memory and SQLite stores.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisRegistrationStore } from '../../src/store/redis-registration-store.js';
import { withRedisServer } from '../support/redis-server.js';
import {
  fullRegistration,
  registrationStoreContract,
  simpleRegistration,
} from '../store/registration-store-contract.js';

withRedisServer('RedisRegistrationStore', (redisServer) => {
  const clients: Redis[] = [];
  let n = 0;

  after(() => {
    for (const c of clients) c.disconnect();
  });

  const connect = (): Redis => {
    const redis = new Redis({ port: redisServer().port, host: '127.0.0.1', maxRetriesPerRequest: 2 });
    clients.push(redis);
    return redis;
  };

  // Each store gets its own key prefix: the tests share one redis-server.
  registrationStoreContract('RedisRegistrationStore', () =>
    Promise.resolve({
      store: new RedisRegistrationStore({ redis: connect(), prefix: `{t${++n}}:` }),
      close: () => Promise.resolve(),
    }),
  );

  describe('RedisRegistrationStore across processes', () => {
    it('two server processes (two connections) see the same fleet', async () => {
      const prefix = `{shared${++n}}:`;
      const a = new RedisRegistrationStore({ redis: connect(), prefix });
      const b = new RedisRegistrationStore({ redis: connect(), prefix });
      const reg = fullRegistration();
      await a.put(reg);
      assert.equal((await b.get(reg.endpoint))?.id, reg.id);
      await b.put(simpleRegistration(reg.endpoint, 'newer'));
      assert.equal(await a.getById(reg.id), undefined, 'the replaced id is gone for everyone');
      assert.equal((await a.getById('newer'))?.endpoint, reg.endpoint);
      assert.equal(await a.size, 1);
    });
  });
});
