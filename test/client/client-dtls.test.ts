// Our client against our server over coaps:// (DTLS 1.2), with the client's credentials in /0:
// PSK registration, a Read over the session, Update and De-register; wrong and unknown keys and
// the back-off; a NoSec client for a credentialed endpoint; lost sessions (server restarts); RPK
// and X.509 against a bare DTLS server and against LwM2mServer; real UDP.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { LwM2mClient, LwM2mClientError } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientEvents, LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import { SecurityConfigError } from '../../src/client/security-credentials.js';
import type { ServerSecurityConfig } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import { rawPublicKeyVerifier } from '../../src/dtls/peer-verification.js';
import type { PeerIdentity } from '../../src/transport/channel.js';
import { systemClock } from '../../src/clock.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { CoapsOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Channel, ChannelErrorHandler, Peer, ReceiveHandler } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import { freeUdpPort } from '../support/peers.js';

const KEY = '000102030405060708090a0b0c0d0e0f';
const OTHER_KEY = 'f0e0d0c0b0a090807060504030201000';
const SERVER = '10.0.0.1';
/** Fast CoAP retransmission, so a lost session is noticed in well under a second. */
const FAST_COAP = { transmission: { ackTimeout: 100, ackRandomFactor: 1, maxRetransmit: 1 } };

const keepAlive = setInterval(() => undefined, 1000);
after(() => clearInterval(keepAlive));

/** A channel that can go silent: what a crashed server's socket looks like from outside. */
class Switchable implements Channel {
  readonly kind = 'memory' as const;
  mute = false;
  constructor(readonly inner: Channel) {}
  get local(): Channel['local'] {
    return this.inner.local;
  }
  send(peer: Peer, datagram: Uint8Array): void {
    if (!this.mute) this.inner.send(peer, datagram);
  }
  onReceive(handler: ReceiveHandler): void {
    this.inner.onReceive((peer, bytes) => {
      if (!this.mute) handler(peer, bytes);
    });
  }
  onError(handler: ChannelErrorHandler): void {
    this.inner.onError?.(handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function rig(options: { allowNoSec?: boolean } = {}) {
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint: 'dev-1', psk: { identity: 'dev-1-id', key: KEY } });
  let secureSocket: Switchable | undefined;
  const startServer = async (): Promise<LwM2mServer> => {
    secureSocket = new Switchable(network.channel(SERVER, 5684));
    const server = new LwM2mServer({
      channel: network.channel(SERVER, 5683),
      coaps: { channel: secureSocket, credentials, allowNoSec: options.allowNoSec ?? false },
      random: seededRandom(7),
      requestTimeout: 3000,
    });
    await server.start();
    return server;
  };
  let port = 40000;
  const clients: LwM2mClient[] = [];
  const client = (overrides: Partial<LwM2mClientOptions> = {}): LwM2mClient => {
    const c = new LwM2mClient({
      endpoint: 'dev-1',
      servers: [
        {
          uri: `coaps://${SERVER}:5684`,
          lifetime: 300,
          security: { securityMode: 0, publicKeyOrIdentity: 'dev-1-id', secretKey: Buffer.from(KEY, 'hex') },
        },
      ],
      channel: network.channel('10.0.0.2', 56830),
      secureTransport: () => network.channel('10.0.0.2', port++),
      random: seededRandom(9),
      ...overrides,
    });
    clients.push(c);
    return c;
  };
  return {
    network,
    credentials,
    startServer,
    client,
    crash: () => {
      secureSocket!.mute = true;
    },
    close: async (...servers: LwM2mServer[]) => {
      for (const c of clients) await c.stop();
      for (const s of servers) await s.stop();
    },
  };
}

function next<K extends keyof LwM2mClientEvents>(
  client: LwM2mClient,
  event: K,
): Promise<LwM2mClientEvents[K]> {
  return once(client, event) as Promise<LwM2mClientEvents[K]>;
}

describe('LwM2mClient over coaps:// (PSK from /0)', () => {
  it('registers over DTLS, answers a Read through the session, updates and de-registers', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client();
      const registered = once(server, 'registered') as Promise<[Registration]>;
      const clientSide = next(client, 'registered');
      await client.start();
      const [reg] = await registered;
      await clientSide;
      assert.equal(reg.endpoint, 'dev-1');
      assert.equal(reg.transport, 'dtls');
      assert.deepEqual(reg.peer.identity, { psk: 'dev-1-id' });
      assert.equal(reg.peer.port, 40000, 'registered from the DTLS socket');
      assert.equal(client.status(1)?.state, 'registered');

      const read = await server.read('dev-1', '/3/0/0');
      assert.equal(read.code, '2.05');
      assert.deepEqual(read.records[0]?.value, { type: 'string', value: 'Petrel' });

      const updated = once(server, 'updated');
      await client.update();
      await updated;

      const deregistered = once(server, 'deregistered');
      await client.stop();
      await deregistered;
      assert.equal(await server.getRegistration('dev-1'), undefined);
    } finally {
      await t.close(server);
    }
  });

  it('reads its credentials from /0 (a write to /0/x/5 is what the next session uses)', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client({
        servers: [
          {
            uri: `coaps://${SERVER}:5684`,
            lifetime: 300,
            security: {
              securityMode: 0,
              publicKeyOrIdentity: 'dev-1-id',
              secretKey: Buffer.from(OTHER_KEY, 'hex'),
            },
            values: { 17: 1 },
          },
        ],
      });
      // The key the application passed is wrong; the one in /0 (as a bootstrap would write it) is right.
      client.set('/0/0/5', Buffer.from(KEY, 'hex'));
      const registered = next(client, 'registered');
      await client.start();
      await registered;
      assert.ok(await server.getRegistration('dev-1'));
    } finally {
      await t.close(server);
    }
  });

  it('a wrong key: the handshake fails, the client says so, and nothing is registered', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client({
        servers: [
          {
            uri: `coaps://${SERVER}:5684`,
            security: {
              securityMode: 0,
              publicKeyOrIdentity: 'dev-1-id',
              secretKey: Buffer.from(OTHER_KEY, 'hex'),
            },
            values: { 17: 1, 20: 1 }, // one attempt, one sequence
          },
        ],
      });
      const sessionFailed = next(client, 'secure-session-failed');
      const failed = next(client, 'registration-failed');
      await client.start();
      const [info] = await sessionFailed;
      assert.equal(info.shortServerId, 1);
      assert.ok(info.failure === 'alert-received' || info.failure === 'handshake-failed', info.failure);
      assert.equal(info.fatal, false, 'bad_record_mac is an alert to retry on (Transport TS)');
      const [failure] = await failed;
      assert.match(failure.reason, /DTLS with server 1 failed/);
      assert.equal(client.status(1)?.state, 'failed');
      assert.equal(await server.getRegistration('dev-1'), undefined);
    } finally {
      await t.close(server);
    }
  });

  it('a wrong key is retried after the /1 back-off, not at once', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client({
        servers: [
          {
            uri: `coaps://${SERVER}:5684`,
            security: {
              securityMode: 0,
              publicKeyOrIdentity: 'dev-1-id',
              secretKey: Buffer.from(OTHER_KEY, 'hex'),
            },
            values: { 17: 3, 18: 30 }, // three attempts, 30 s apart at first
          },
        ],
      });
      const attemptFailed = once(client.registration, 'attempt-failed');
      await client.start();
      await attemptFailed;
      await new Promise((r) => setTimeout(r, 50));
      const status = client.status(1);
      assert.equal(status?.state, 'waiting-retry');
      assert.equal(status?.attempt, 2);
      const wait = (status?.nextAttemptAt ?? 0) - systemClock.now();
      assert.ok(wait > 29_000 && wait <= 30_000, `next attempt in ${wait} ms`);
    } finally {
      await t.close(server);
    }
  });

  it('an unknown PSK identity (alert 115) fails the registration at once, without retries', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client({
        servers: [
          {
            uri: `coaps://${SERVER}:5684`,
            security: { securityMode: 0, publicKeyOrIdentity: 'nobody', secretKey: Buffer.from(KEY, 'hex') },
          },
        ],
      });
      const sessionFailed = next(client, 'secure-session-failed');
      const failed = next(client, 'registration-failed');
      await client.start();
      const [info] = await sessionFailed;
      assert.equal(info.alert, 115);
      assert.equal(info.fatal, true);
      await failed;
      const status = client.status(1);
      assert.equal(status?.state, 'failed');
      assert.equal(status?.attempt, 1, 'no second attempt after a "fail" alert');
      assert.equal(await server.getRegistration('dev-1'), undefined);
      assert.deepEqual(
        client.read('/1/0/11')[0]?.value,
        { type: 'unsigned', value: 115 },
        '/1/x/11 keeps the alert',
      );
    } finally {
      await t.close(server);
    }
  });

  it("a close_notify from the server (a restart) ends the client's session: the next request runs on a new one", async () => {
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'dev-1', psk: { identity: 'dev-1-id', key: KEY } });
    const store = new MemoryRegistrationStore();
    const start = async (): Promise<LwM2mServer> => {
      const server = new LwM2mServer({
        channel: network.channel(SERVER, 5683),
        coaps: { channel: network.channel(SERVER, 5684), credentials },
        store,
        random: seededRandom(7),
        requestTimeout: 3000,
      });
      await server.start();
      return server;
    };
    let port = 41000;
    const client = new LwM2mClient({
      endpoint: 'dev-1',
      servers: [
        {
          uri: `coaps://${SERVER}:5684`,
          lifetime: 300,
          security: { securityMode: 0, publicKeyOrIdentity: 'dev-1-id', secretKey: Buffer.from(KEY, 'hex') },
        },
      ],
      channel: network.channel('10.0.0.2', 56830),
      secureTransport: () => network.channel('10.0.0.2', port++),
      random: seededRandom(9),
    });
    let server = await start();
    try {
      const registered = next(client, 'registered');
      await client.start();
      await registered;
      // The server restarts: its DtlsChannel.close() sends close_notify to the device.
      await server.stop();
      server = await start();
      const failures: unknown[] = [];
      client.registration.on('attempt-failed', (info) => failures.push(info));
      await client.update();
      assert.deepEqual(failures, [], 'the Update went through at the first attempt');
      assert.equal(client.status(1)?.state, 'registered');
      assert.ok(await server.getRegistration('dev-1'), 'the restarted server has the Update');
      assert.equal(port, 41002, 'one new DTLS session, on a fresh socket');
    } finally {
      await client.stop();
      await server.stop();
    }
  });

  it('a NoSec client is refused (4.03) for an endpoint that has credentials', async () => {
    const t = await rig();
    const server = await t.startServer();
    try {
      const client = t.client({ servers: [{ uri: `coap://${SERVER}:5683`, values: { 17: 1 } }] });
      const failed = next(client, 'registration-failed');
      await client.start();
      const [info] = await failed;
      assert.match(info.reason, /^4\.03/);
      assert.equal(await server.getRegistration('dev-1'), undefined);
    } finally {
      await t.close(server);
    }
  });

  it('refuses a Security Mode that does not fit the URI scheme, EST, and unusable credentials', () => {
    const make = (uri: string, security?: NonNullable<LwM2mClientOptions['servers'][number]['security']>) =>
      new LwM2mClient({ endpoint: 'x', servers: [{ uri, ...(security ? { security } : {}) }] });
    const refused = (fn: () => unknown, reason: string): void =>
      assert.throws(fn, (e: unknown) => e instanceof SecurityConfigError && e.reason === reason);
    refused(() => make('coaps://example.com'), 'mode-mismatch');
    refused(() => make('coaps://example.com', { securityMode: 3 }), 'mode-mismatch');
    refused(
      () =>
        make('coap://example.com', {
          securityMode: 0,
          publicKeyOrIdentity: 'a',
          secretKey: new Uint8Array(16),
        }),
      'mode-mismatch',
    );
    refused(() => make('coaps://example.com', { securityMode: 4 }), 'est-unsupported');
    refused(() => make('coaps://example.com', { securityMode: 0, publicKeyOrIdentity: 'a' }), 'bad-psk-key');
    refused(
      () =>
        make('coaps://example.com', {
          securityMode: 0,
          publicKeyOrIdentity: 'a'.repeat(129),
          secretKey: new Uint8Array(16),
        }),
      'bad-psk-identity',
    );
    assert.throws(
      () => make('coap+ws://example.com'),
      (e: unknown) => e instanceof LwM2mClientError && e.reason === 'bad-uri',
    );
    refused(() => make('coaps+tcp://example.com'), 'mode-mismatch');
    // coap:// without security stays exactly as before.
    assert.ok(make('coap://example.com'));
  });

  it('checks /0 again at connect: a mode written into /0 that does not fit the URI fails at once', async () => {
    const t = await rig({ allowNoSec: true });
    const server = await t.startServer();
    try {
      const client = t.client({ servers: [{ uri: `coap://${SERVER}:5683` }] });
      client.set('/0/0/2', 0); // PSK for a coap:// URI, as a faulty bootstrap could write it
      const failed = next(client, 'registration-failed');
      await client.start();
      const [info] = await failed;
      assert.match(info.reason, /needs a coaps:\/\/ server URI/);
      assert.equal(client.status(1)?.attempt, 1, 'not retried');
      assert.equal(await server.getRegistration('dev-1'), undefined);
    } finally {
      await t.close(server);
    }
  });

  it('after the server restarts, a lost session is replaced: Update fails, the client registers again', async () => {
    const t = await rig();
    let server = await t.startServer();
    try {
      const client = t.client({ coap: FAST_COAP });
      const registered = next(client, 'registered');
      await client.start();
      await registered;
      // A crash: the server's state and DTLS sessions vanish without a close_notify.
      t.crash();
      await server.stop();
      server = await t.startServer();
      const again = once(server, 'registered') as Promise<[Registration]>;
      await client.update().catch(() => undefined);
      const [reg] = await again;
      assert.equal(reg.transport, 'dtls');
      assert.notEqual(reg.peer.port, 40000, 'a new session from a fresh socket');
      assert.equal((await server.read('dev-1', '/3/0/0')).code, '2.05');
    } finally {
      await t.close(server);
    }
  });

  it('after a clean server restart (close_notify) the next Update handshakes again and re-registers', async () => {
    const t = await rig();
    let server = await t.startServer();
    try {
      // An Update may still leave over the old session before the close_notify arrives: its CoAP
      // retransmission then goes through the new handshake (fast CoAP timers keep this short).
      const client = t.client({ coap: FAST_COAP });
      const registered = next(client, 'registered');
      await client.start();
      await registered;
      await server.stop(); // close_notify to every session
      server = await t.startServer();
      const again = once(server, 'registered') as Promise<[Registration]>;
      const clientSide = next(client, 'registered');
      const started = Date.now();
      await client.update(); // 4.04 from the new server, over a new handshake on the same channel
      await Promise.all([again, clientSide]);
      assert.equal(client.status(1)?.state, 'registered');
      assert.ok(Date.now() - started < 1000, 'no waiting for a timeout');
    } finally {
      await t.close(server);
    }
  });
});

/** A self-signed P-256 server certificate (CN and SAN lwm2m.example.com) and its key (openssl). */
const SERVER_CERT = Buffer.from(
  'MIIBrjCCAVOgAwIBAgIUaOMxrRUB92gy/JL3SZQAwC3VmN4wCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRbHdtMm0uZXhhbXBsZS5jb20wIBcNMjYxMTI2MDEwMTQ4WhgPMjEyNjExMDIwMTAxNDhaMBwxGjAYBgNVBAMMEWx3bTJtLmV4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwtiLH97sAzUlLx1mmi6IgXiNKwdwmyraAcUTtZ7BvERcFqPOUU+cQ7Wh2saJOgBXFGvWoLZdaPuseaDbLs1WaaNxMG8wHQYDVR0OBBYEFN3rQaSycaXnEsz9ux/5lR1pQ/XcMB8GA1UdIwQYMBaAFN3rQaSycaXnEsz9ux/5lR1pQ/XcMA8GA1UdEwEB/wQFMAMBAf8wHAYDVR0RBBUwE4IRbHdtMm0uZXhhbXBsZS5jb20wCgYIKoZIzj0EAwIDSQAwRgIhAKAyYZmF+wr5HBrO8dmvvCjCSN3ZAyiV4EhSBo23dsFpAiEAg7uOYYNUbN7LWsyRSdf0YZDtJZ0RfbljeFpQ7nNsT4c=',
  'base64',
);
const SERVER_CERT_KEY = Buffer.from(
  'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsjGdQY7SmgudaoQ863nrLDrkVaLiHnI6bXMwBvCuOM6hRANCAATC2Isf3uwDNSUvHWaaLoiBeI0rB3CbKtoBxRO1nsG8RFwWo85RT5xDtaHaxok6AFcUa9agtl1o+6x5oNsuzVZp',
  'base64',
);
/** The client's certificate (CN dev-1) and key: the same pair as in security-credentials.test.ts. */
const CLIENT_CERT = Buffer.from(
  'MIIBeDCCAR2gAwIBAgIUYAasxY3hamHNFFzDMa54GdHVR+cwCgYIKoZIzj0EAwIwEDEOMAwGA1UEAwwFZGV2LTEwIBcNMjYxMTI2MDA1NTQ3WhgPMjEyNjExMDIwMDU1NDdaMBAxDjAMBgNVBAMMBWRldi0xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hqNTMFEwHQYDVR0OBBYEFD9byOFzBv6vd8yoXSjZMMcG+VM2MB8GA1UdIwQYMBaAFD9byOFzBv6vd8yoXSjZMMcG+VM2MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANo9rCVk9zakeZg3AhJOQkZt+6Ubz3j3MjbPL8Qr8n1bAiEArkYvwBgtm6nfBuq4Q3hs0IbfQ3nui8slQES+N9YTCmA=',
  'base64',
);
const CLIENT_CERT_KEY = Buffer.from(
  'MHcCAQEEIASCLHgWg7k9BBb179wcEINdEOt0qCfZP9mj8yzdt6CUoAoGCCqGSM49AwEHoUQDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hg==',
  'base64',
); // SEC1 DER

/**
 * A bare DTLS server (ECDHE_ECDSA) with a CoAP endpoint that accepts Register and De-register:
 * LwM2mServer's coaps side has PSK only for now, so this checks the client's side of RPK/X.509.
 */
function certificateRig(
  auth: Pick<DtlsServerOptions, 'certificate' | 'verifyPeer'>,
  security: ServerSecurityConfig,
  uri = `coaps://${SERVER}:5684`,
) {
  const network = new MemoryNetwork();
  const dtls = DtlsChannel.server({ channel: network.channel(SERVER, 5684), ...auth });
  const endpoint = new CoapEndpoint({ channel: dtls, random: seededRandom(3) });
  const identities: (PeerIdentity | undefined)[] = [];
  endpoint.onRequest(({ peer, message }) => {
    identities.push(peer.identity);
    return message.code === CoapCode.POST
      ? {
          code: CoapCode.CREATED,
          options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'r1']).build(),
        }
      : { code: CoapCode.DELETED };
  });
  let port = 41000;
  const client = new LwM2mClient({
    endpoint: 'dev-1',
    servers: [{ uri, lifetime: 300, security, values: { 17: 1, 20: 1 } }],
    channel: network.channel('10.0.0.2', 56830),
    secureTransport: () => network.channel('10.0.0.2', port++),
    random: seededRandom(9),
  });
  return {
    client,
    identities,
    close: async () => {
      await client.stop();
      await endpoint.close();
    },
  };
}

describe('LwM2mClient over coaps:// with RPK and X.509 (credentials from /0)', () => {
  const serverKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = (k: typeof serverKeys): Uint8Array => k.publicKey.export({ format: 'der', type: 'spki' });
  const pkcs8 = (k: typeof serverKeys): Uint8Array => k.privateKey.export({ format: 'der', type: 'pkcs8' });

  it('RPK (mode 1): registers with its raw public key; the server is checked against /0/x/4', async () => {
    const t = certificateRig(
      {
        certificate: { privateKey: serverKeys.privateKey },
        verifyPeer: rawPublicKeyVerifier(spki(clientKeys)),
      },
      {
        securityMode: 1,
        publicKeyOrIdentity: spki(clientKeys),
        secretKey: pkcs8(clientKeys),
        serverPublicKey: spki(serverKeys),
      },
    );
    try {
      const registered = next(t.client, 'registered');
      await t.client.start();
      await registered;
      assert.deepEqual(t.identities[0], { rpk: new Uint8Array(spki(clientKeys)) });
    } finally {
      await t.close();
    }
  });

  it('RPK: a server with another key is refused (bad_certificate, a "fail" alert: no retry)', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const t = certificateRig(
      { certificate: { privateKey: other.privateKey }, verifyPeer: rawPublicKeyVerifier(spki(clientKeys)) },
      { securityMode: 1, secretKey: pkcs8(clientKeys), serverPublicKey: spki(serverKeys) },
    );
    try {
      const sessionFailed = next(t.client, 'secure-session-failed');
      const failed = next(t.client, 'registration-failed');
      await t.client.start();
      const [info] = await sessionFailed;
      assert.equal(info.failure, 'handshake-failed');
      assert.equal(info.alert, 42);
      assert.equal(info.fatal, true);
      await failed;
      assert.equal(t.identities.length, 0, 'nothing reached the server');
    } finally {
      await t.close();
    }
  });

  it('X.509 (mode 2): registers with its certificate; the server certificate matches /0/x/4 (usage 3)', async () => {
    const t = certificateRig(
      {
        certificate: {
          privateKey: createPrivateKey({ key: SERVER_CERT_KEY, format: 'der', type: 'pkcs8' }),
          certificateChain: [SERVER_CERT],
        },
        verifyPeer: (credential) =>
          credential.type === 'x509'
            ? { x509: { subject: 'CN=dev-1', der: credential.chain[0]! } }
            : undefined,
      },
      {
        securityMode: 2,
        publicKeyOrIdentity: CLIENT_CERT,
        secretKey: CLIENT_CERT_KEY,
        serverPublicKey: SERVER_CERT,
        certificateUsage: 3,
        sni: 'lwm2m.example.com',
      },
    );
    try {
      const registered = next(t.client, 'registered');
      await t.client.start();
      await registered;
      assert.deepEqual(t.identities[0], { x509: { subject: 'CN=dev-1', der: new Uint8Array(CLIENT_CERT) } });
    } finally {
      await t.close();
    }
  });
});

describe('LwM2mClient over coaps:// against LwM2mServer with RPK and X.509', () => {
  const serverKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = (k: typeof serverKeys): Uint8Array => k.publicKey.export({ format: 'der', type: 'spki' });

  async function serverRig(
    coaps: Pick<CoapsOptions, 'certificate' | 'trustAnchors'>,
    info: Parameters<MemoryCredentialStore['put']>[0],
    security: ServerSecurityConfig,
  ) {
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    await credentials.put(info);
    const server = new LwM2mServer({
      channel: network.channel(SERVER, 5683),
      coaps: { channel: network.channel(SERVER, 5684), credentials, ...coaps },
      random: seededRandom(7),
      requestTimeout: 3000,
    });
    await server.start();
    let port = 42000;
    const client = new LwM2mClient({
      endpoint: info.endpoint,
      servers: [{ uri: `coaps://${SERVER}:5684`, lifetime: 300, security, values: { 17: 1, 20: 1 } }],
      channel: network.channel('10.0.0.2', 56830),
      secureTransport: () => network.channel('10.0.0.2', port++),
      random: seededRandom(9),
    });
    return {
      server,
      client,
      close: async () => {
        await client.stop();
        await server.stop();
      },
    };
  }

  it('RPK: registers with the key the credential store holds, and is read over the session', async () => {
    const t = await serverRig(
      { certificate: { privateKey: serverKeys.privateKey } },
      { endpoint: 'dev-rpk', rpk: { publicKey: Buffer.from(spki(clientKeys)).toString('hex') } },
      {
        securityMode: 1,
        secretKey: clientKeys.privateKey.export({ format: 'der', type: 'pkcs8' }),
        serverPublicKey: spki(serverKeys),
      },
    );
    try {
      const registered = once(t.server, 'registered') as Promise<[Registration]>;
      const clientSide = next(t.client, 'registered');
      await t.client.start();
      const [reg] = await registered;
      await clientSide;
      assert.equal(reg.transport, 'dtls');
      assert.ok(reg.peer.identity !== undefined && 'rpk' in reg.peer.identity);
      assert.equal((await t.server.read('dev-rpk', '/3/0/0')).code, '2.05');
    } finally {
      await t.close();
    }
  });

  it('X.509: registers with a certificate whose CN is the endpoint (server certificate pinned, usage 3)', async () => {
    const t = await serverRig(
      {
        certificate: {
          privateKey: createPrivateKey({ key: SERVER_CERT_KEY, format: 'der', type: 'pkcs8' }),
          certificateChain: [SERVER_CERT],
        },
        trustAnchors: [CLIENT_CERT],
      },
      { endpoint: 'dev-1', x509: true },
      {
        securityMode: 2,
        publicKeyOrIdentity: CLIENT_CERT,
        secretKey: CLIENT_CERT_KEY,
        serverPublicKey: SERVER_CERT,
      },
    );
    try {
      const registered = once(t.server, 'registered') as Promise<[Registration]>;
      await t.client.start();
      const [reg] = await registered;
      assert.equal(reg.transport, 'dtls');
      assert.ok(reg.peer.identity !== undefined && 'x509' in reg.peer.identity);
      assert.equal((await t.server.read('dev-1', '/3/0/0')).code, '2.05');
    } finally {
      await t.close();
    }
  });
});

describe('LwM2mClient over coaps:// on real UDP loopback', () => {
  it('registers, is read over DTLS, updates and de-registers', async () => {
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'udp-dev', psk: { identity: 'udp-dev-id', key: KEY } });
    const [plainPort, securePort] = [await freeUdpPort(), await freeUdpPort()];
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: plainPort },
      coaps: { address: '127.0.0.1', port: securePort, credentials },
      requestTimeout: 3000,
    });
    await server.start();
    const client = new LwM2mClient({
      endpoint: 'udp-dev',
      servers: [
        {
          uri: `coaps://127.0.0.1:${securePort}`,
          lifetime: 300,
          security: {
            securityMode: 0,
            publicKeyOrIdentity: 'udp-dev-id',
            secretKey: Buffer.from(KEY, 'hex'),
          },
        },
      ],
      udp: { address: '127.0.0.1' },
    });
    try {
      const registered = once(server, 'registered') as Promise<[Registration]>;
      await client.start();
      const [reg] = await registered;
      assert.equal(reg.transport, 'dtls');
      assert.deepEqual(reg.peer.identity, { psk: 'udp-dev-id' });
      assert.equal((await server.read('udp-dev', '/3/0/0')).code, '2.05');
      const updated = once(server, 'updated');
      await client.update();
      await updated;
      const deregistered = once(server, 'deregistered');
      await client.stop();
      await deregistered;
    } finally {
      await client.stop();
      await server.stop();
    }
  });
});
