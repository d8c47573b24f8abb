import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, locationPath } from '../../src/coap/options.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { SqliteRegistrationStore } from '../../src/store/sqlite-registration-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { canonical, fullRegistration, registrationStoreContract } from './registration-store-contract.js';
import { forEachSqliteDriver } from './sqlite-test-drivers.js';

forEachSqliteDriver('SqliteRegistrationStore', (driver) => {
  registrationStoreContract('SqliteRegistrationStore (file, WAL)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-'));
    const store = new SqliteRegistrationStore({ file: join(dir, 'data', 'petrel.db'), driver });
    return Promise.resolve({
      store,
      close: () => {
        store.close();
        rmSync(dir, { recursive: true, force: true });
        return Promise.resolve();
      },
    });
  });

  describe('SqliteRegistrationStore', () => {
    it('keeps registrations across a reopen of the same file (a server restart)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-'));
      const file = join(dir, 'petrel.db');
      try {
        const first = new SqliteRegistrationStore({ file, driver });
        const reg = fullRegistration();
        await first.put(reg);
        first.close();
        const second = new SqliteRegistrationStore({ file, driver });
        assert.deepEqual(canonical(await second.get(reg.endpoint)), canonical(reg));
        assert.equal(await second.size, 1);
        second.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('LwM2mServer on SQLite', () => {
    it('a restarted server on the same file still knows its clients: their Update gets 2.04', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'petrel-sqlite-'));
      const file = join(dir, 'petrel.db');
      const network = new MemoryNetwork();
      const serverPeer = { address: '10.0.0.1', port: 5683 };
      const keepAlive = setInterval(() => undefined, 1000);
      const device = new CoapEndpoint({ channel: network.channel('10.0.0.2', 56830) });
      try {
        const store1 = new SqliteRegistrationStore({ file, driver });
        const first = new LwM2mServer({
          channel: network.channel(serverPeer.address, serverPeer.port),
          store: store1,
        });
        await first.start();
        const reg = await device.request(serverPeer, {
          code: CoapCode.POST,
          options: new OptionsBuilder()
            .uriPath(['rd'])
            .uint(OptionNumber.CONTENT_FORMAT, 40)
            .uriQuery(['ep=persisted', 'lt=600', 'lwm2m=1.2'])
            .build(),
          payload: new TextEncoder().encode('</1/0>,</3/0>'),
        });
        assert.equal(reg.code, CoapCode.CREATED);
        const location = locationPath(reg);
        await first.stop();
        store1.close();

        const store2 = new SqliteRegistrationStore({ file, driver });
        const second = new LwM2mServer({
          channel: network.channel(serverPeer.address, serverPeer.port),
          store: store2,
        });
        await second.start();
        assert.equal((await second.getRegistration('persisted'))?.lifetime, 600);
        const update = await device.request(serverPeer, {
          code: CoapCode.POST,
          options: new OptionsBuilder().uriPath(location).build(),
        });
        assert.equal(update.code, CoapCode.CHANGED);
        await second.stop();
        store2.close();
      } finally {
        clearInterval(keepAlive);
        await device.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
