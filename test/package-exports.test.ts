// The published entry points resolve (package "exports" → dist) and carry their main exports: the
// way a user imports Petrel. Needs the build (`npm install` runs it; CI builds before testing).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
// Without a build (a developer running one file before `npm run build`) these tests cannot import
// the package and skip saying so; CI builds first, and under CI=true a missing dist/ fails.

const ENTRY_POINTS: Record<string, string[]> = {
  'petrel-lwm2m': ['PetrelError', 'LwM2mPath', 'createCodecRegistry'],
  'petrel-lwm2m/model': ['LwM2mPath', 'createDefaultRegistry', 'parseRegistrationPayload'],
  'petrel-lwm2m/content': ['createCodecRegistry', 'lookupContentFormat'],
  'petrel-lwm2m/coap': ['CoapEndpoint', 'CoapReliableEndpoint', 'BlockwiseLayer', 'encodeCoapUdp'],
  'petrel-lwm2m/transport': ['UdpChannel', 'MemoryNetwork', 'TcpChannel', 'TlsChannel'],
  'petrel-lwm2m/operations': ['OperationError', 'validateDownlinkRequest', 'parseExecuteArguments'],
  'petrel-lwm2m/binding/coap': ['encodeDownlinkRequest', 'decodeUplinkRequest', 'CoapServerBinding'],
  'petrel-lwm2m/binding/mqtt': ['MqttServerBinding', 'MqttClientBinding', 'startEmbeddedBroker'],
  'petrel-lwm2m/server': ['LwM2mServer', 'MemoryRegistrationStore', 'ServerRequestError'],
  'petrel-lwm2m/client': ['LwM2mClient', 'ObjectTree', 'MemoryInstance', 'RegistrationEngine'],
  'petrel-lwm2m/store': [
    'MemoryRegistrationStore',
    'SqliteRegistrationStore',
    'RedisRegistrationStore',
    'openStores',
    'MemoryEventLog',
    'SqliteObservationStore',
    'RedisTagStore',
  ],
  'petrel-lwm2m/api': ['createApiServer', 'startApiServer', 'recordServerEvents', 'parseApiPath'],
};

describe('package entry points', () => {
  for (const [specifier, names] of Object.entries(ENTRY_POINTS)) {
    it(`${specifier} exports ${names.join(', ')}`, async (t) => {
      if (!existsSync(dist)) {
        if (process.env.CI === 'true') assert.fail('dist/ is missing: the build did not run');
        t.skip('dist/ is not built (npm run build)');
        return;
      }
      const mod = (await import(specifier)) as Record<string, unknown>;
      for (const name of names) assert.ok(mod[name] !== undefined, `${specifier} lacks ${name}`);
    });
  }

  it('starts and stops a server the way the README shows', async (t) => {
    if (!existsSync(dist)) {
      if (process.env.CI === 'true') assert.fail('dist/ is missing: the build did not run');
      t.skip('dist/ is not built (npm run build)');
      return;
    }
    const { LwM2mServer } = await import('petrel-lwm2m/server');
    const server = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 } });
    await server.start();
    assert.ok((server.address?.port ?? 0) > 0);
    assert.deepEqual(await server.registrations(), []);
    await server.stop();
  });
});
