/**
 * A client registered over CoAP over TCP or TLS (RFC 8323) reconnects by itself when its
 * connection drops on the server's side: over TCP or TLS the server cannot dial the client, so
 * without a connection every downlink fails until the client's next uplink. The client sends an
 * Update 0.5-2 s after the drop, which dials again; it does not when it closed the connection
 * itself (queue-mode sleep), nor after a De-register.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions, ServerConfig } from '../../src/client/lwm2m-client.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Peer } from '../../src/transport/channel.js';
import { TcpChannel } from '../../src/transport/tcp-channel.js';
import { seededRandom } from '../../src/random.js';
import { startTcpProxy } from '../support/firmware-e2e-tcp-proxy.js';

const KEY_HEX = '00112233445566778899aabbccddeeff';
/** Long enough that no lifetime Update falls inside a test. */
const LIFETIME = 3600;

interface Rig {
  readonly server: LwM2mServer;
  readonly client: LwM2mClient;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(
  serverOptions: LwM2mServerOptions,
  server: (s: LwM2mServer) => ServerConfig,
  clientOptions: Partial<LwM2mClientOptions> = {},
): Promise<Rig> {
  const lwm2m = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, ...serverOptions });
  await lwm2m.start();
  const client = new LwM2mClient({
    endpoint: 'dev-reconnect',
    servers: [server(lwm2m)],
    udp: { address: '127.0.0.1' },
    device: { supportedBindings: 'UT' },
    ...clientOptions,
  });
  const registered = once(lwm2m, 'registered') as Promise<[Registration]>;
  const accepted = once(client, 'registered');
  await client.start();
  await Promise.all([registered, accepted]);
  const close = async (): Promise<void> => {
    await client.stop();
    await lwm2m.stop();
  };
  cleanups.push(close);
  return { server: lwm2m, client, close };
}

/** A TCP listener the server runs on, whose accepted connections the test can end (a FIN). */
async function ownedTcpSide(): Promise<{ channel: TcpChannel; peers: Peer[] }> {
  const channel = await TcpChannel.listen({ address: '127.0.0.1', port: 0 });
  const peers: Peer[] = [];
  channel.onConnect((peer) => peers.push(peer));
  channel.onDisconnect((peer) => peers.splice(peers.indexOf(peer) >>> 0, 1));
  return { channel, peers };
}

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await delay(20);
  }
}

describe('client over TCP/TLS: reconnects after the server side drops the connection', () => {
  it('coap+tcp: the server ends the connection (FIN); an Update reconnects and a Read succeeds', async () => {
    const side = await ownedTcpSide();
    const r = await rig({ tcp: { channel: side.channel } }, () => ({
      uri: `coap+tcp://127.0.0.1:${side.channel.local!.port}`,
      lifetime: LIFETIME,
    }));
    assert.equal((await r.server.read('dev-reconnect', '/3/0/0')).code, '2.05');
    assert.equal(side.peers.length, 1);
    const updated = once(r.client, 'updated');
    const droppedAt = Date.now();
    side.channel.disconnect(side.peers[0]!);
    await waitFor(() => side.peers.length === 0, 2000, 'the connection to close');
    await updated;
    const took = Date.now() - droppedAt;
    assert.ok(took >= 400 && took < 5000, `reconnected after ${took} ms (0.5-2 s expected)`);
    assert.equal(side.peers.length, 1, 'a new connection');
    const read = await r.server.read('dev-reconnect', '/3/0/0');
    assert.equal(read.code, '2.05', 'a downlink reaches the client without waiting for the lifetime Update');
    assert.equal(r.client.status(1)?.state, 'registered');
  });

  it('coaps+tcp: a connection reset (a NAT, a proxy) is followed by a reconnect over a new TLS session', async () => {
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'dev-reconnect', psk: { identity: 'tls-id', key: KEY_HEX } });
    // The proxy needs the server's port and the client the proxy's: built by hand.
    const lwm2m = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      tls: { address: '127.0.0.1', port: 0, credentials },
    });
    await lwm2m.start();
    const proxy = await startTcpProxy({ address: '127.0.0.1', port: lwm2m.listening('tls')!.port });
    const client = new LwM2mClient({
      endpoint: 'dev-reconnect',
      servers: [
        {
          uri: `coaps+tcp://127.0.0.1:${proxy.port}`,
          lifetime: LIFETIME,
          security: {
            securityMode: 0,
            publicKeyOrIdentity: 'tls-id',
            secretKey: Buffer.from(KEY_HEX, 'hex'),
          },
        },
      ],
      udp: { address: '127.0.0.1' },
      device: { supportedBindings: 'UT' },
    });
    cleanups.push(async () => {
      await client.stop();
      await lwm2m.stop();
      await proxy.close();
    });
    const registered = [once(lwm2m, 'registered'), once(client, 'registered')];
    await client.start();
    await Promise.all(registered);
    assert.equal((await lwm2m.read('dev-reconnect', '/3/0/0')).code, '2.05');
    const updated = once(client, 'updated');
    assert.equal(proxy.dropAll(), 1);
    await updated;
    assert.equal(proxy.accepted, 2, 'one new connection');
    assert.equal((await lwm2m.read('dev-reconnect', '/3/0/0')).code, '2.05');
  });

  it('does not reconnect after a De-register, nor when it closed the connection to sleep (queue mode)', async () => {
    // random 0: the reconnect would come 500 ms after the drop.
    const zero = { ...seededRandom(1), next: () => 0 };
    const side = await ownedTcpSide();
    const uri = `coap+tcp://127.0.0.1:${side.channel.local!.port}`;
    const queued = await rig(
      { tcp: { channel: side.channel } },
      () => ({ uri, lifetime: LIFETIME, queueMode: true }),
      { random: zero, awakeTime: 60_000 },
    );
    let updates = 0;
    queued.client.on('updated', () => updates++);
    queued.client.sleep();
    await waitFor(() => side.peers.length === 0, 2000, 'the sleeping client to close its connection');
    await delay(800);
    assert.equal(updates, 0, 'asleep by design: no reconnect');
    assert.equal(side.peers.length, 0);
    await queued.client.wake(); // the wake-up Update dials again
    assert.equal(updates, 1);
    assert.equal(side.peers.length, 1);
    await queued.client.deregister();
    side.channel.disconnect(side.peers[0]!);
    await waitFor(() => side.peers.length === 0, 2000, 'the connection to close');
    await delay(800);
    assert.equal(updates, 0 + 1, 'de-registered: no reconnect');
    assert.equal(side.peers.length, 0);
  });
});
