// LwM2mServer over coaps:// (PSK) next to plain CoAP: raw CoAP devices over our DTLS client on an
// in-memory network, with the endpoint binding rules of Core §7.1.3.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, locationPath } from '../../src/coap/options.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { EcdsaCredentials, PeerVerifier } from '../../src/dtls/dtls-credentials.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { rawPublicKeyVerifier, x509Verifier } from '../../src/dtls/peer-verification.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { certDer, chainOf, privateKey, spkiDer } from '../support/dtls-fixtures.js';
import { RebindableChannel } from '../support/rebindable-channel.js';

const PLAIN: Peer = { address: '10.0.0.1', port: 5683 };
const SECURE: Peer = { address: '10.0.0.1', port: 5684 };
const KEY_A = '000102030405060708090a0b0c0d0e0f';
const KEY_B = 'f0e0d0c0b0a090807060504030201000';
const utf8 = new TextEncoder();

/** A raw CoAP device talking to one server address; remembers its registration's Location. */
class Device {
  readonly endpoint: CoapEndpoint;
  readonly server: Peer;
  readonly received: CoapMessage[] = [];
  location: string[] = [];

  constructor(endpoint: CoapEndpoint, server: Peer) {
    this.endpoint = endpoint;
    this.server = server;
    endpoint.onRequest(({ message }) => {
      this.received.push(message);
      return {
        code: CoapCode.CONTENT,
        options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 0).build(),
        payload: utf8.encode('Petrel'),
      };
    });
  }

  request(code: number, path: string[], query: string[] = [], payload?: string): Promise<CoapMessage> {
    const b = new OptionsBuilder();
    for (const seg of path) b.string(OptionNumber.URI_PATH, seg);
    if (payload !== undefined) b.uint(OptionNumber.CONTENT_FORMAT, 40);
    for (const q of query) b.string(OptionNumber.URI_QUERY, q);
    return this.endpoint.request(
      this.server,
      { code, options: b.build(), ...(payload === undefined ? {} : { payload: utf8.encode(payload) }) },
      { timeout: 5000 },
    );
  }

  async register(ep: string): Promise<string> {
    const res = await this.request(CoapCode.POST, ['rd'], [`ep=${ep}`, 'lt=300', 'lwm2m=1.2'], '</3/0>');
    if (res.code === CoapCode.CREATED) this.location = locationPath(res);
    return formatCode(res.code);
  }

  async update(location = this.location): Promise<string> {
    return formatCode((await this.request(CoapCode.POST, location)).code);
  }
}

describe('LwM2mServer over coaps:// (PSK)', () => {
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  let server: LwM2mServer;
  const endpoints: CoapEndpoint[] = [];
  let n = 0;
  const keepAlive = setInterval(() => undefined, 1000);

  const plainDevice = (address: string): Device => {
    const ep = new CoapEndpoint({
      channel: network.channel(address, 56830),
      random: seededRandom(100 + n++),
    });
    endpoints.push(ep);
    return new Device(ep, PLAIN);
  };
  const secureDevice = (address: string, identity: string, key: string): Device => {
    const channel = DtlsChannel.client({
      channel: network.channel(address, 56840),
      psk: { identity, key: Buffer.from(key, 'hex') },
      random: seededRandom(200 + n),
    });
    const ep = new CoapEndpoint({ channel, random: seededRandom(300 + n++) });
    endpoints.push(ep);
    return new Device(ep, SECURE);
  };

  before(async () => {
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a', key: KEY_A } });
    await credentials.put({ endpoint: 'dev-b', psk: { identity: 'id-b', key: KEY_B } });
    server = new LwM2mServer({
      channel: network.channel(PLAIN.address, PLAIN.port),
      coaps: { channel: network.channel(SECURE.address, SECURE.port), credentials, hint: 'petrel' },
      random: seededRandom(7),
      requestTimeout: 5000,
    });
    await server.start();
  });

  after(async () => {
    clearInterval(keepAlive);
    await server.stop();
    for (const ep of endpoints) await ep.close();
  });

  it('registers over DTLS with the bound ep, and its downlinks go through DTLS', async () => {
    const device = secureDevice('10.0.0.2', 'id-a', KEY_A);
    assert.equal(await device.register('dev-a'), '2.01');
    const reg = await server.getRegistration('dev-a');
    assert.equal(reg?.transport, 'dtls');
    assert.deepEqual(reg?.peer.identity, { psk: 'id-a' });
    assert.deepEqual(server.secureAddress, { address: '10.0.0.1', port: 5684 });
    const result = await server.read('dev-a', '/3/0/0');
    assert.equal(result.code, '2.05');
    assert.deepEqual(result.records[0]?.value, { type: 'string', value: 'Petrel' });
    assert.equal(device.received.length, 1, 'the Read reached the device over its DTLS session');
  });

  it('serves plain CoAP at the same time, for endpoints without credentials', async () => {
    const device = plainDevice('10.0.0.3');
    assert.equal(await device.register('plain-1'), '2.01');
    assert.equal((await server.getRegistration('plain-1'))?.transport, 'memory');
    assert.equal((await server.read('plain-1', '/3/0/0')).code, '2.05');
    assert.equal(device.received.length, 1);
  });

  it('refuses a Register whose ep is not the endpoint bound to the PSK identity (4.00)', async () => {
    const device = secureDevice('10.0.0.4', 'id-b', KEY_B);
    assert.equal(await device.register('dev-a'), '4.00');
    assert.deepEqual(
      (await server.getRegistration('dev-a'))?.peer.address,
      '10.0.0.2',
      'dev-a kept its registration',
    );
    assert.equal(await device.register('unbound-ep'), '4.00');
    assert.equal(await server.getRegistration('unbound-ep'), undefined);
  });

  it('refuses an Update of a registration from another identity', async () => {
    const owner = secureDevice('10.0.0.5', 'id-b', KEY_B);
    assert.equal(await owner.register('dev-b'), '2.01');
    const other = secureDevice('10.0.0.6', 'id-a', KEY_A);
    assert.equal(await other.update(owner.location), '4.04');
    const plain = plainDevice('10.0.0.7');
    assert.equal(await plain.update(owner.location), '4.04', 'nor from a NoSec peer');
    assert.equal(await owner.update(), '2.04');
    const deregister = await other.request(CoapCode.DELETE, owner.location);
    assert.equal(formatCode(deregister.code), '4.04', 'nor a De-register from another identity');
    assert.equal((await server.getRegistration('dev-b'))?.peer.address, '10.0.0.5');
  });

  it('keeps a DTLS registration across NAT rebinding (Connection ID): Update and Read follow the device', async () => {
    await credentials.put({ endpoint: 'dev-nat', psk: { identity: 'id-nat', key: KEY_A } });
    const socket = new RebindableChannel(network.channel('10.0.0.20', 56840));
    const ep = new CoapEndpoint({
      channel: DtlsChannel.client({
        channel: socket,
        psk: { identity: 'id-nat', key: Buffer.from(KEY_A, 'hex') },
        random: seededRandom(500),
      }),
      random: seededRandom(501),
    });
    endpoints.push(ep);
    const device = new Device(ep, SECURE);
    assert.equal(await device.register('dev-nat'), '2.01');
    const reg = await server.getRegistration('dev-nat');
    assert.ok(reg?.peer.connectionId, 'the session has a Connection ID');
    socket.rebind(network.channel('10.0.0.21', 61000));
    assert.equal(await device.update(), '2.04', 'the Update from the new address finds its session');
    const moved = await server.getRegistration('dev-nat');
    assert.equal(moved?.id, reg.id);
    assert.equal(moved?.peer.address, '10.0.0.21');
    assert.equal(moved?.peer.port, 61000);
    const read = await server.read('dev-nat', '/3/0/0');
    assert.equal(read.code, '2.05');
    assert.equal(device.received.length, 1, 'the Read went to the new address, in the same session');
  });

  it('refuses a NoSec Register for an endpoint that has credentials (4.03)', async () => {
    const device = plainDevice('10.0.0.8');
    assert.equal(await device.register('dev-a'), '4.03');
    assert.equal((await server.getRegistration('dev-a'))?.transport, 'dtls');
  });

  it('fails the handshake of an unknown PSK identity (unknown_psk_identity)', async () => {
    const channel = DtlsChannel.client({
      channel: network.channel('10.0.0.9', 56840),
      psk: { identity: 'nobody', key: Buffer.from(KEY_A, 'hex') },
      random: seededRandom(400),
    });
    const failed = new Promise<unknown>((resolve) => channel.onError(resolve));
    const ep = new CoapEndpoint({ channel, random: seededRandom(401) });
    endpoints.push(ep);
    const device = new Device(ep, SECURE);
    void device.register('nobody').catch(() => undefined);
    const error = (await failed) as { failure?: string };
    assert.equal(error.failure, 'alert-received');
    assert.equal(await server.getRegistration('nobody'), undefined);
  });
});

describe('LwM2mServer coaps allowNoSec', () => {
  it('lets a NoSec peer register a credentialed endpoint, but not take over a DTLS registration', async () => {
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a', key: KEY_A } });
    const server = new LwM2mServer({
      channel: network.channel(PLAIN.address, PLAIN.port),
      coaps: { channel: network.channel(SECURE.address, SECURE.port), credentials, allowNoSec: true },
      random: seededRandom(8),
    });
    await server.start();
    const keepAlive = setInterval(() => undefined, 1000);
    const plain = new Device(
      new CoapEndpoint({ channel: network.channel('10.0.0.2', 56830), random: seededRandom(1) }),
      PLAIN,
    );
    const secure = new Device(
      new CoapEndpoint({
        channel: DtlsChannel.client({
          channel: network.channel('10.0.0.3', 56840),
          psk: { identity: 'id-a', key: Buffer.from(KEY_A, 'hex') },
          random: seededRandom(2),
        }),
        random: seededRandom(3),
      }),
      SECURE,
    );
    try {
      assert.equal(await plain.register('dev-a'), '2.01');
      assert.equal(
        await secure.register('dev-a'),
        '2.01',
        'the authenticated device takes its endpoint back',
      );
      assert.equal(await plain.register('dev-a'), '4.03');
      assert.equal((await server.getRegistration('dev-a'))?.transport, 'dtls');
    } finally {
      clearInterval(keepAlive);
      await server.stop();
      await plain.endpoint.close();
      await secure.endpoint.close();
    }
  });
});

describe('LwM2mServer coaps refuseNoSec', () => {
  it('refuses every plain-CoAP Register (4.03) and keeps serving DTLS', async () => {
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a', key: KEY_A } });
    const server = new LwM2mServer({
      channel: network.channel(PLAIN.address, PLAIN.port),
      coaps: { channel: network.channel(SECURE.address, SECURE.port), credentials, refuseNoSec: true },
      random: seededRandom(10),
    });
    await server.start();
    const keepAlive = setInterval(() => undefined, 1000);
    const plain = new Device(
      new CoapEndpoint({ channel: network.channel('10.0.0.2', 56830), random: seededRandom(11) }),
      PLAIN,
    );
    const secure = new Device(
      new CoapEndpoint({
        channel: DtlsChannel.client({
          channel: network.channel('10.0.0.3', 56840),
          psk: { identity: 'id-a', key: Buffer.from(KEY_A, 'hex') },
          random: seededRandom(12),
        }),
        random: seededRandom(13),
      }),
      SECURE,
    );
    try {
      assert.equal(await plain.register('no-credentials-at-all'), '4.03');
      assert.equal(await server.getRegistration('no-credentials-at-all'), undefined);
      assert.equal(await secure.register('dev-a'), '2.01');
    } finally {
      clearInterval(keepAlive);
      await server.stop();
      await plain.endpoint.close();
      await secure.endpoint.close();
    }
  });
});

describe('LwM2mServer coaps with a failing credential store', () => {
  it('fails the handshake and reports the store error, without crashing', async () => {
    const network = new MemoryNetwork();
    const credentials = new MemoryCredentialStore();
    credentials.getByPskIdentity = () => Promise.reject(new Error('store down'));
    const server = new LwM2mServer({
      channel: network.channel(PLAIN.address, PLAIN.port),
      coaps: { channel: network.channel(SECURE.address, SECURE.port), credentials },
      random: seededRandom(9),
    });
    const errors: Error[] = [];
    server.on('error', (e) => errors.push(e));
    await server.start();
    const keepAlive = setInterval(() => undefined, 1000);
    const channel = DtlsChannel.client({
      channel: network.channel('10.0.0.2', 56840),
      psk: { identity: 'id-a', key: Buffer.from(KEY_A, 'hex') },
      random: seededRandom(4),
    });
    const failed = new Promise<unknown>((resolve) => channel.onError(resolve));
    const device = new Device(new CoapEndpoint({ channel, random: seededRandom(5) }), SECURE);
    try {
      void device.register('dev-a').catch(() => undefined);
      assert.equal(((await failed) as { failure?: string }).failure, 'alert-received');
      assert.ok(errors.some((e) => e.message === 'store down'));
      assert.equal(await server.getRegistration('dev-a'), undefined);
    } finally {
      clearInterval(keepAlive);
      await server.stop();
      await device.endpoint.close();
    }
  });
});

describe('LwM2mServer coaps with raw public keys and X.509 (ECDHE-ECDSA)', () => {
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  const endpoints: CoapEndpoint[] = [];
  const servers: LwM2mServer[] = [];
  const keepAlive = setInterval(() => undefined, 1000);
  let n = 0;

  /** A server at `address` presenting its raw public key, or its X.509 chain. */
  const startServer = async (
    address: string,
    form: 'rpk' | 'x509',
    store = credentials,
  ): Promise<LwM2mServer> => {
    const server = new LwM2mServer({
      channel: network.channel(address, PLAIN.port),
      coaps: {
        channel: network.channel(address, SECURE.port),
        credentials: store,
        certificate:
          form === 'rpk'
            ? { privateKey: privateKey('server-rpk') }
            : { privateKey: privateKey('server'), certificateChain: chainOf('server') },
        trustAnchors: [certDer('root-ca')],
      },
      random: seededRandom(600 + n++),
      requestTimeout: 5000,
    });
    await server.start();
    servers.push(server);
    return server;
  };

  const device = (
    server: string,
    own: EcdsaCredentials,
    verifyPeer: PeerVerifier,
    onError: (e: Error) => void = () => undefined,
  ): Device => {
    const channel = DtlsChannel.client({
      channel: network.channel(`10.0.1.${++n}`, 56840),
      certificate: own,
      verifyPeer,
      random: seededRandom(700 + n),
    });
    channel.onError(onError);
    const ep = new CoapEndpoint({ channel, random: seededRandom(800 + n) });
    endpoints.push(ep);
    return new Device(ep, { address: server, port: SECURE.port });
  };

  before(async () => {
    await credentials.put({ endpoint: 'rpk-dev', rpk: { publicKey: hex(spkiDer('client-rpk')) } });
    // petrel-dev-1 is the CN of the client certificate; psk-only has a PSK, not a certificate.
    await credentials.put({ endpoint: 'psk-only', psk: { identity: 'id-psk-only', key: KEY_A } });
  });

  after(async () => {
    clearInterval(keepAlive);
    for (const s of servers) await s.stop();
    for (const ep of endpoints) await ep.close();
  });

  it('registers an RPK device only as the endpoint whose stored key it holds (else 4.00)', async () => {
    const server = await startServer('10.0.2.1', 'rpk');
    const trustServer = rawPublicKeyVerifier(spkiDer('server-rpk'));
    const owner = device('10.0.2.1', { privateKey: privateKey('client-rpk') }, trustServer);
    assert.equal(await owner.register('rpk-dev'), '2.01');
    const reg = await server.getRegistration('rpk-dev');
    assert.equal(reg?.transport, 'dtls');
    assert.ok(reg?.peer.identity && 'rpk' in reg.peer.identity);
    assert.equal(hex((reg.peer.identity as { rpk: Uint8Array }).rpk), hex(spkiDer('client-rpk')));
    assert.equal((await server.read('rpk-dev', '/3/0/0')).code, '2.05');
    // A known key stays bound to its endpoint at Register.
    assert.equal(await owner.register('someone-else'), '4.00');
  });

  it('refuses a raw public key the store does not know in the handshake: no Register reaches the server', async () => {
    const server = await startServer('10.0.2.2', 'rpk');
    const serverErrors: Error[] = [];
    server.on('error', (e) => serverErrors.push(e));
    const uplinks: unknown[] = [];
    server.on('uplink', (e) => uplinks.push(e));
    const trustServer = rawPublicKeyVerifier(spkiDer('server-rpk'));
    const error = await new Promise<Error>((resolve) => {
      const stranger = device('10.0.2.2', { privateKey: privateKey('server') }, trustServer, resolve);
      void stranger.register('rpk-dev').catch(() => undefined);
    });
    assert.ok(error instanceof DtlsSessionError && error.failure === 'alert-received', error.message);
    assert.equal(error.alert, AlertDescription.access_denied);
    assert.ok(
      serverErrors.some((e) => /raw public key is not in the credential store/.test(e.message)),
      serverErrors.map((e) => e.message).join('; '),
    );
    assert.deepEqual(uplinks, [], 'no Register reached the server');
    assert.equal(await server.getRegistration('rpk-dev'), undefined);
    // The key is known once the store has it (for some endpoint): the handshake goes through.
    await credentials.put({ endpoint: 'stranger', rpk: { publicKey: hex(spkiDer('server')) } });
    try {
      const known = device('10.0.2.2', { privateKey: privateKey('server') }, trustServer);
      assert.equal(await known.register('rpk-dev'), '4.00', 'known key, but not rpk-dev’s');
      assert.equal(await known.register('stranger'), '2.01');
    } finally {
      await credentials.remove('stranger');
    }
  });

  it('a credential store that fails refuses the raw public key, and reports the failure', async () => {
    const store = new MemoryCredentialStore();
    await store.put({ endpoint: 'rpk-dev', rpk: { publicKey: hex(spkiDer('client-rpk')) } });
    store.getByPublicKey = () => Promise.reject(new Error('store down'));
    const server = await startServer('10.0.2.3', 'rpk', store);
    const serverErrors: Error[] = [];
    server.on('error', (e) => serverErrors.push(e));
    const trustServer = rawPublicKeyVerifier(spkiDer('server-rpk'));
    const error = await new Promise<Error>((resolve) => {
      const owner = device('10.0.2.3', { privateKey: privateKey('client-rpk') }, trustServer, resolve);
      void owner.register('rpk-dev').catch(() => undefined);
    });
    assert.ok(
      error instanceof DtlsSessionError && error.alert === AlertDescription.access_denied,
      error.message,
    );
    assert.ok(serverErrors.some((e) => e.message === 'store down'));
    assert.equal(await server.getRegistration('rpk-dev'), undefined);
  });

  it("registers an X.509 device as its certificate's CN, checked against the trust anchors", async () => {
    const server = await startServer('10.0.3.1', 'x509');
    const trustServer = x509Verifier({
      trust: certDer('root-ca'),
      certificateUsage: 2,
      serverName: 'localhost',
    });
    const own = { privateKey: privateKey('client'), certificateChain: chainOf('client') };
    const dev = device('10.0.3.1', own, trustServer);
    assert.equal(await dev.register('someone-else'), '4.00');
    assert.equal(await dev.register('petrel-dev-1'), '2.01');
    const reg = await server.getRegistration('petrel-dev-1');
    assert.match((reg?.peer.identity as { x509: { subject: string } }).x509.subject, /CN=petrel-dev-1/);
    assert.equal((await server.read('petrel-dev-1', '/3/0/0')).code, '2.05');
  });

  it('refuses a certificate from an unknown CA in the handshake, and a CN whose endpoint uses a PSK', async () => {
    const store = new MemoryCredentialStore();
    await store.put({ endpoint: 'petrel-dev-1', psk: { identity: 'id-dev-1', key: KEY_B } });
    await startServer('10.0.4.1', 'x509', store);
    const trustServer = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    const error = await new Promise<Error>((resolve) => {
      const outsider = device(
        '10.0.4.1',
        { privateKey: privateKey('other-server'), certificateChain: [certDer('other-server')] },
        trustServer,
        resolve,
      );
      void outsider.register('other-server').catch(() => undefined);
    });
    assert.ok(error instanceof DtlsSessionError && error.failure === 'alert-received', error?.message);
    assert.equal(error.alert, AlertDescription.unknown_ca);
    const own = { privateKey: privateKey('client'), certificateChain: chainOf('client') };
    const dev = device('10.0.4.1', own, trustServer);
    assert.equal(await dev.register('petrel-dev-1'), '4.00', 'the store says petrel-dev-1 uses a PSK');
  });
});
