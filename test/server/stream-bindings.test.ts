/**
 * LwM2M over CoAP over TCP and TLS (RFC 8323; binding T), our client against our server on real
 * loopback sockets: registration, the DM operations, observe, block-wise (BERT), queue mode with
 * reconnection, TLS 1.2/1.3 with PSK and X.509, the endpoint-name check, and the binding switch a
 * Registration Update Trigger with an argument asks for.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions, ServerConfig } from '../../src/client/lwm2m-client.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { certDer, chainOf, privateKey } from '../support/dtls-fixtures.js';
import { TEMPERATURE_DEFINITION } from '../support/model-device.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from '../support/test-model.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';

const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION).add(TEST_OBJECT_DEFINITION);

const KEY_HEX = '00112233445566778899aabbccddeeff';

interface Rig {
  server: LwM2mServer;
  client: LwM2mClient;
  registration: Registration;
  close(): Promise<void>;
}

const rigs: Rig[] = [];
after(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});

async function rig(
  serverOptions: LwM2mServerOptions,
  server: (s: LwM2mServer) => ServerConfig,
  clientOptions: Partial<LwM2mClientOptions> = {},
): Promise<Rig> {
  const lwm2m = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, model, ...serverOptions });
  await lwm2m.start();
  const client = new LwM2mClient({
    endpoint: 'dev-tcp',
    servers: [server(lwm2m)],
    udp: { address: '127.0.0.1' },
    model,
    device: { supportedBindings: 'UT' },
    ...clientOptions,
  });
  const registered = once(lwm2m, 'registered') as Promise<[Registration]>;
  await client.start();
  const [registration] = await registered;
  const r: Rig = {
    server: lwm2m,
    client,
    registration,
    close: async () => {
      await client.stop();
      await lwm2m.stop();
    },
  };
  rigs.push(r);
  return r;
}

const tcpUri = (s: LwM2mServer): string => `coap+tcp://127.0.0.1:${s.listening('tcp')!.port}`;
const tlsUri = (s: LwM2mServer): string => `coaps+tcp://127.0.0.1:${s.listening('tls')!.port}`;
const udpUri = (s: LwM2mServer): string => `coap://127.0.0.1:${s.address!.port}`;

describe('CoAP over TCP (coap+tcp://)', () => {
  it('registers with b=T and serves Read, Write, Execute, Discover and Observe over the connection', async () => {
    const executed: string[] = [];
    const big = 'x'.repeat(20_000);
    const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5);
    const test0 = new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0).set(5, big).onExecute(9, () => {
      executed.push('run');
    });
    const r = await rig(
      { tcp: { address: '127.0.0.1', port: 0 } },
      (s) => ({ uri: tcpUri(s), lifetime: 60 }),
      {
        instances: [temperature, test0],
      },
    );
    assert.equal(r.registration.transport, 'tcp');
    assert.equal(r.registration.binding, 'T');
    assert.equal((await r.server.read('dev-tcp', '/3/0/0')).code, '2.05');
    // 20 kB in one Read: block-wise over the connection (BERT: both sides announce it).
    const large = await r.server.read('dev-tcp', `/${TEST_OBJECT}/0/5`);
    assert.equal(large.code, '2.05');
    assert.equal(large.values[`/${TEST_OBJECT}/0/5`], big);
    // ... and as much the other way, in a Write.
    const back = 'y'.repeat(30_000);
    assert.equal((await r.server.write('dev-tcp', `/${TEST_OBJECT}/0/5`, back)).code, '2.04');
    assert.equal(test0.get(5)?.value, back);
    assert.equal((await r.server.execute('dev-tcp', `/${TEST_OBJECT}/0/9`)).code, '2.04');
    assert.deepEqual(executed, ['run']);
    assert.equal((await r.server.discover('dev-tcp', '/3303/0')).code, '2.05');

    const observation = await r.server.observe('dev-tcp', '/3303/0/5700');
    assert.deepEqual(observation.response.values, { '/3303/0/5700': 21.5 });
    const next = once(observation, 'notification') as Promise<[{ result: { values: unknown } }]>;
    temperature.set(5700, 23.25);
    const [n] = await next;
    assert.deepEqual(n.result.values, { '/3303/0/5700': 23.25 });
  });

  it('queue mode: the client drops the connection while asleep and a new one wakes it; queued requests follow', async () => {
    const r = await rig(
      { tcp: { address: '127.0.0.1', port: 0 } },
      (s) => ({ uri: tcpUri(s), lifetime: 60, queueMode: true }),
      { awakeTime: 200 },
    );
    const first = r.registration.peer;
    assert.equal(r.registration.queueMode, true);
    // The client closes its connection as it falls asleep; the server takes that as "asleep".
    await once(r.server, 'sleeping');
    // Asleep: the Read waits in the server's queue until the client's next Update.
    const read = r.server.read('dev-tcp', '/3/0/0');
    const updated = once(r.server, 'updated') as Promise<[Registration]>;
    await r.client.wake();
    const [woken] = await updated;
    assert.equal((await read).code, '2.05');
    assert.equal(woken.transport, 'tcp');
    assert.notEqual(woken.peer.port, first.port, 'a new connection, from a new port');
  });

  it('Preferred Transport (/1/x/22) T picks the coap+tcp:// secondary URI over the coap:// primary', async () => {
    const r = await rig({ tcp: { address: '127.0.0.1', port: 0 } }, (s) => ({
      uri: udpUri(s),
      secondaryUris: [tcpUri(s)],
      binding: 'UT',
      lifetime: 60,
      values: { 22: 'T' },
    }));
    assert.equal(r.registration.transport, 'tcp');
    assert.equal((await r.server.read('dev-tcp', '/1/0/22')).values['/1/0/22'], 'T');
  });

  it('a Registration Update Trigger with T moves a UDP registration to TCP (secondary URI), and U moves it back', async () => {
    const r = await rig({ tcp: { address: '127.0.0.1', port: 0 } }, (s) => ({
      uri: udpUri(s),
      binding: 'UT',
      lifetime: 60,
      secondaryUris: [tcpUri(s)],
    }));
    assert.equal(r.registration.transport, 'udp');
    let updated = once(r.server, 'updated') as Promise<[Registration]>;
    assert.equal((await r.server.execute('dev-tcp', '/1/0/8', "0='T'")).code, '2.04');
    let [moved] = await updated;
    assert.equal(moved.transport, 'tcp');
    assert.equal((await r.server.read('dev-tcp', '/3/0/0')).code, '2.05', 'downlinks follow over TCP');
    updated = once(r.server, 'updated') as Promise<[Registration]>;
    assert.equal((await r.server.execute('dev-tcp', '/1/0/8', "0='U'")).code, '2.04');
    [moved] = await updated;
    assert.equal(moved.transport, 'udp');
    assert.equal((await r.server.read('dev-tcp', '/3/0/0')).code, '2.05');
  });
});

describe('CoAP over TLS (coaps+tcp://)', () => {
  const credentials = new MemoryCredentialStore();

  it('PSK over TLS 1.3 and TLS 1.2: registers, the identity is bound to the endpoint', async () => {
    await credentials.put({ endpoint: 'dev-tcp', psk: { identity: 'tls-id', key: KEY_HEX } });
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const r = await rig({ tls: { address: '127.0.0.1', port: 0, credentials, maxVersion } }, (s) => ({
        uri: tlsUri(s),
        lifetime: 60,
        security: { securityMode: 0, publicKeyOrIdentity: 'tls-id', secretKey: Buffer.from(KEY_HEX, 'hex') },
      }));
      assert.equal(r.registration.transport, 'tls');
      assert.deepEqual(r.registration.peer.identity, { psk: 'tls-id' });
      assert.equal((await r.server.read('dev-tcp', '/3/0/0')).code, '2.05');
      await r.close();
    }
  });

  it('refuses a Register whose ep is not the endpoint of the PSK identity (4.00)', async () => {
    await credentials.put({ endpoint: 'someone-else', psk: { identity: 'other-id', key: KEY_HEX } });
    const lwm2m = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      tls: { address: '127.0.0.1', port: 0, credentials },
    });
    await lwm2m.start();
    const client = new LwM2mClient({
      endpoint: 'dev-tcp',
      servers: [
        {
          uri: tlsUri(lwm2m),
          lifetime: 60,
          security: {
            securityMode: 0,
            publicKeyOrIdentity: 'other-id',
            secretKey: Buffer.from(KEY_HEX, 'hex'),
          },
        },
      ],
    });
    rigs.push({
      server: lwm2m,
      client,
      registration: undefined as never,
      close: async () => {
        await client.stop();
        await lwm2m.stop();
      },
    });
    const failed = once(client, 'registration-failed') as Promise<[{ reason: string }]>;
    await client.start();
    const [failure] = await failed;
    assert.match(failure.reason, /^4\.00: .*not the endpoint bound to this PSK identity/);
  });

  it("X.509: the device's certificate CN is its endpoint; the client checks the server's chain against /0/x/4", async () => {
    const r = await rig(
      {
        tls: {
          address: '127.0.0.1',
          port: 0,
          certificate: { privateKey: privateKey('server'), certificateChain: chainOf('server') },
          trustAnchors: [certDer('root-ca'), certDer('intermediate-ca')],
        },
      },
      (s) => ({
        uri: tlsUri(s),
        lifetime: 60,
        security: {
          securityMode: 2,
          publicKeyOrIdentity: certDer('client'),
          secretKey: privateKey('client').export({ format: 'der', type: 'pkcs8' }),
          serverPublicKey: certDer('root-ca'),
          certificateUsage: 2,
        },
      }),
      { endpoint: 'petrel-dev-1' },
    );
    assert.equal(r.registration.transport, 'tls');
    const identity = r.registration.peer.identity;
    assert.ok(identity && 'x509' in identity && identity.x509.subject.includes('CN=petrel-dev-1'));
  });
});
