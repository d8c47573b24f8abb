// TlsChannel over real sockets on 127.0.0.1: PSK and X.509 (client certificates) on TLS 1.2 and
// 1.3, identities on the Peer, handshake failures, the PSK-over-certificate choice of a server
// holding both, and interop with OpenSSL's s_client and s_server.
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { CoapCode, type CoapMessage } from '../../src/coap/message.js';
import { csm, encodeCoapTcp } from '../../src/coap/tcp-codec.js';
import { subjectCommonName } from '../../src/dtls/peer-verification.js';
import {
  ChannelConfigError,
  type ChannelError,
  type ConnectionCloseReason,
  type Peer,
} from '../../src/transport/channel.js';
import {
  ChannelHandshakeError,
  TlsChannel,
  defaultCiphers,
  type TlsDialOptions,
  type TlsListenOptions,
} from '../../src/transport/tls-channel.js';
import { certDer, fixturePath } from '../support/dtls-fixtures.js';
import { spawnPeer, waitUntil } from '../support/peer-process.js';
import { requirePeer } from '../support/peers.js';

const WAIT_MS = 5000;
const KEY_HEX = '0123456789abcdeffedcba9876543210';
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, 'hex'));
const IDENTITY = 'petrel-dev-1';
const pem = (name: string): string => readFileSync(fixturePath(name), 'utf8');

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const CSM = encodeCoapTcp(csm({ maxMessageSize: 1152 }));
function content(text: string): Uint8Array {
  const msg: CoapMessage = {
    code: CoapCode.CONTENT,
    messageId: 0,
    token: Uint8Array.of(7),
    options: [],
    payload: new TextEncoder().encode(text),
  };
  return encodeCoapTcp(msg);
}

interface Watch {
  frames: { peer: Peer; bytes: Buffer }[];
  connects: Peer[];
  disconnects: { peer: Peer; reason: ConnectionCloseReason; error?: Error }[];
  errors: ChannelError[];
}

function watch(channel: TlsChannel): Watch {
  const w: Watch = { frames: [], connects: [], disconnects: [], errors: [] };
  channel.onReceive((peer, bytes) => w.frames.push({ peer, bytes: Buffer.from(bytes) }));
  channel.onConnect((peer) => w.connects.push(peer));
  channel.onDisconnect((peer, reason, error) => w.disconnects.push({ peer, reason, error }));
  channel.onError((e) => w.errors.push(e));
  return w;
}

const until = (test: () => boolean, what: () => string): Promise<void> => waitUntil(test, WAIT_MS, what);

async function listener(options: Omit<TlsListenOptions, 'address' | 'port'>): Promise<TlsChannel> {
  const channel = await TlsChannel.listen({ address: '127.0.0.1', port: 0, ...options });
  cleanups.push(() => channel.close());
  return channel;
}

function dialer(options: TlsDialOptions): TlsChannel {
  const channel = TlsChannel.dialer(options);
  cleanups.push(() => channel.close());
  return channel;
}

const pskLookup = (identity: string): Uint8Array | undefined => (identity === IDENTITY ? KEY : undefined);
const SERVER_CERT = { key: pem('server.key.pem'), cert: pem('server-chain.pem') };

/** Dials `server`, sends a CSM, answers it, and returns both sides' views. */
async function exchange(server: TlsChannel, client: TlsChannel): Promise<{ sw: Watch; cw: Watch }> {
  const sw = watch(server);
  const cw = watch(client);
  const target = { address: '127.0.0.1', port: server.local!.port };
  client.send(target, CSM);
  const describe = (): string =>
    `server ${JSON.stringify(sw.errors.map((e) => e.message))} client ${JSON.stringify(
      [...cw.errors, ...cw.disconnects.map((d) => d.error)].map((e) => e?.message),
    )}`;
  await until(
    () => sw.frames.length === 1,
    () => `the CSM at the server: ${describe()}`,
  );
  assert.deepEqual(sw.frames[0]!.bytes, Buffer.from(CSM));
  server.send(sw.frames[0]!.peer, content('hello'));
  await until(
    () => cw.frames.length === 1,
    () => `the answer at the client: ${describe()}`,
  );
  assert.deepEqual(cw.frames[0]!.bytes, Buffer.from(content('hello')));
  assert.equal(sw.connects[0], sw.frames[0]!.peer, 'onConnect and delivery share the Peer');
  assert.equal(cw.connects[0], cw.frames[0]!.peer);
  return { sw, cw };
}

describe('TlsChannel with PSK', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`connects over ${version}, the identity on both Peers`, async () => {
      const server = await listener({ pskLookup, pskIdentityHint: 'petrel' });
      const client = dialer({
        psk: { identity: IDENTITY, key: KEY },
        minVersion: version,
        maxVersion: version,
      });
      const { sw, cw } = await exchange(server, client);
      const peer = sw.frames[0]!.peer;
      assert.deepEqual(peer.identity, { psk: IDENTITY });
      assert.equal(peer.address, '127.0.0.1');
      assert.deepEqual(cw.frames[0]!.peer, {
        address: '127.0.0.1',
        port: server.local!.port,
        identity: { psk: IDENTITY },
      });
      const info = server.sessionInfo(peer);
      assert.equal(info?.protocol, version);
      if (version === 'TLSv1.2') assert.equal(info?.cipher, 'PSK-AES128-CCM8');
      else assert.match(info?.cipher ?? '', /^TLS_.*_SHA256$/);
      assert.deepEqual(client.sessionInfo(cw.frames[0]!.peer), info);
      assert.equal(server.sessionInfo({ address: '127.0.0.1', port: 1 }), undefined);
      assert.equal(server.kind, 'tls');
    });

    it(`reports a wrong key over ${version} on both sides`, async () => {
      const server = await listener({ pskLookup });
      const sw = watch(server);
      const client = dialer({
        psk: { identity: IDENTITY, key: new Uint8Array(16).fill(9) },
        maxVersion: version,
        minVersion: version,
      });
      const cw = watch(client);
      client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
      await until(
        () => cw.disconnects.length === 1 && sw.errors.length >= 1,
        () => 'both failures',
      );
      assert.equal(cw.disconnects[0]!.reason, 'error');
      assert.ok(cw.disconnects[0]!.error instanceof ChannelHandshakeError, String(cw.disconnects[0]!.error));
      assert.ok(sw.errors[0] instanceof ChannelHandshakeError, String(sw.errors[0]));
      assert.equal(sw.errors[0].code, 'PETREL_ERR_CHANNEL_HANDSHAKE');
      assert.deepEqual(sw.connects, []);
      assert.deepEqual(sw.frames, []);
      assert.ok(
        cw.errors.some((e) => /queued frame/.test(e.message)),
        'the queued CSM reported',
      );
    });
  }

  it('refuses an unknown identity', async () => {
    const server = await listener({ pskLookup });
    const sw = watch(server);
    const client = dialer({ psk: { identity: 'stranger', key: KEY } });
    const cw = watch(client);
    client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => cw.disconnects.length === 1 && sw.errors.length >= 1,
      () => 'both failures',
    );
    assert.ok(cw.disconnects[0]!.error instanceof ChannelHandshakeError);
    assert.equal(server.connections, 0);
  });

  it('a server with a certificate and PSK gives a PSK client PSK over TLS 1.3', async () => {
    const server = await listener({ ...SERVER_CERT, pskLookup });
    const client = dialer({ psk: { identity: IDENTITY, key: KEY }, minVersion: 'TLSv1.3' });
    const { sw, cw } = await exchange(server, client);
    assert.deepEqual(sw.frames[0]!.peer.identity, { psk: IDENTITY });
    assert.deepEqual(cw.frames[0]!.peer.identity, { psk: IDENTITY });
    assert.equal(server.sessionInfo(sw.frames[0]!.peer)?.protocol, 'TLSv1.3');
  });

  it('a server with PSK, a certificate and trust anchors takes PSK and certificate clients', async () => {
    const server = await listener({ ...SERVER_CERT, ca: pem('root-ca.pem'), pskLookup });
    const pskClient = dialer({ psk: { identity: IDENTITY, key: KEY }, maxVersion: 'TLSv1.2' });
    const { sw } = await exchange(server, pskClient);
    assert.deepEqual(sw.frames[0]!.peer.identity, { psk: IDENTITY });
    assert.equal(server.sessionInfo(sw.frames[0]!.peer)?.cipher, 'PSK-AES128-CCM8');
    const certClient = dialer({
      ca: pem('root-ca.pem'),
      key: pem('client.key.pem'),
      cert: pem('client-chain.pem'),
    });
    const certWatch = watch(certClient);
    certClient.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => sw.frames.length === 2,
      () => 'the certificate client',
    );
    const identity = sw.frames[1]!.peer.identity;
    assert.ok(identity && 'x509' in identity && subjectCommonName(identity.x509.subject) === 'petrel-dev-1');
    assert.equal(server.sessionInfo(sw.frames[1]!.peer)?.protocol, 'TLSv1.3');
    assert.deepEqual(certWatch.disconnects, []);
  });

  it('a PSK-only client refuses a server that falls back to its certificate', async () => {
    // With a SHA-384 suite first the PSK no longer fits and the server silently uses its
    // certificate: the reason the default suites are SHA-256 only when a PSK is configured.
    const ciphers = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
    const server = await listener({ ...SERVER_CERT, pskLookup, ciphers });
    const client = dialer({ psk: { identity: IDENTITY, key: KEY }, minVersion: 'TLSv1.3', ciphers });
    const cw = watch(client);
    client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => cw.disconnects.length === 1,
      () => 'the refusal',
    );
    assert.ok(cw.disconnects[0]!.error instanceof ChannelHandshakeError);
    assert.match(cw.disconnects[0]!.error.message, /certificate/);
    assert.deepEqual(cw.connects, []);
  });

  it('at the connection limit, evicts a pending handshake before an authenticated connection', async () => {
    const server = await listener({ pskLookup, maxConnections: 2 });
    const client = dialer({ psk: { identity: IDENTITY, key: KEY } });
    const { sw } = await exchange(server, client);
    const raw = (): Promise<{ socket: net.Socket; closed: () => boolean }> =>
      new Promise((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: server.local!.port });
        cleanups.push(() => socket.destroy());
        let closed = false;
        socket.on('close', () => (closed = true));
        socket.on('error', () => {});
        socket.once('connect', () => resolve({ socket, closed: () => closed }));
      });
    const first = await raw(); // never shakes hands
    await new Promise((r) => setTimeout(r, 50));
    const second = await raw();
    await until(
      () => first.closed(),
      () => 'the first pending connection evicted',
    );
    assert.equal(second.closed(), false);
    assert.deepEqual(sw.disconnects, [], 'the authenticated connection stays');
    assert.equal(server.connections, 2);
  });

  it('ends a handshake that does not complete within connectTimeout', async () => {
    const silent = net.createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          silent.close(() => r());
        }),
    );
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    const client = dialer({ psk: { identity: IDENTITY, key: KEY }, connectTimeout: 200 });
    const cw = watch(client);
    client.send({ address: '127.0.0.1', port }, CSM);
    await until(
      () => cw.disconnects.length === 1,
      () => 'the timeout',
    );
    assert.equal(cw.disconnects[0]!.reason, 'error');
    assert.equal((cw.disconnects[0]!.error as ChannelError).systemCode, 'ETIMEDOUT');
    assert.equal(cw.errors.length, 1);
    assert.match(cw.errors[0]!.message, /1 queued frame\(s\) dropped/);
    assert.equal(client.connections, 0);
  });
});

describe('TlsChannel with certificates', () => {
  it('authenticates both sides, the client certificate subject on the Peer', async () => {
    // DER inputs for the server (converted), PEM for the client.
    const server = await listener({
      key: createPrivateKey(pem('server.key.pem')).export({ format: 'der', type: 'pkcs8' }),
      cert: [certDer('server'), certDer('intermediate-ca')],
      ca: certDer('root-ca'),
    });
    const client = dialer({
      ca: pem('root-ca.pem'),
      key: pem('client.key.pem'),
      cert: pem('client-chain.pem'),
      maxVersion: 'TLSv1.2',
    });
    const { sw, cw } = await exchange(server, client);
    const identity = sw.frames[0]!.peer.identity;
    assert.ok(identity && 'x509' in identity);
    assert.equal(identity.x509.subject, 'O=Petrel Test, CN=petrel-dev-1');
    assert.equal(subjectCommonName(identity.x509.subject), 'petrel-dev-1');
    assert.deepEqual(identity.x509.der, certDer('client'));
    const serverIdentity = cw.frames[0]!.peer.identity;
    assert.ok(serverIdentity && 'x509' in serverIdentity);
    assert.equal(subjectCommonName(serverIdentity.x509.subject), 'localhost');
    const info = server.sessionInfo(sw.frames[0]!.peer);
    assert.deepEqual(info, { protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-CCM8' });
  });

  it('works over TLS 1.3 with SNI', async () => {
    const server = await listener({ ...SERVER_CERT, ca: pem('root-ca.pem') });
    const client = dialer({
      ca: pem('root-ca.pem'),
      key: pem('client.key.pem'),
      cert: pem('client-chain.pem'),
      servername: 'localhost',
    });
    const { sw } = await exchange(server, client);
    assert.equal(server.sessionInfo(sw.frames[0]!.peer)?.protocol, 'TLSv1.3');
    const identity = sw.frames[0]!.peer.identity;
    assert.ok(identity && 'x509' in identity && identity.x509.subject.endsWith('CN=petrel-dev-1'));
  });

  it('pins the server leaf as trust anchor with allowPartialTrustChain, a KeyObject key', async () => {
    const server = await listener({ ...SERVER_CERT, ca: pem('root-ca.pem') });
    const options = {
      ca: pem('server.pem'), // the leaf itself, as LwM2M Certificate Usage 3 gives it
      key: createPrivateKey(pem('client.key.pem')),
      cert: [certDer('client'), certDer('intermediate-ca')],
    };
    const { sw } = await exchange(server, dialer({ ...options, allowPartialTrustChain: true }));
    const identity = sw.frames[0]!.peer.identity;
    assert.ok(identity && 'x509' in identity);
    assert.equal(subjectCommonName(identity.x509.subject), 'petrel-dev-1');
    // Without it, the leaf is no trust anchor.
    const strict = dialer(options);
    const w = watch(strict);
    strict.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => w.disconnects.length === 1,
      () => 'the refusal',
    );
    assert.ok(w.disconnects[0]!.error instanceof ChannelHandshakeError);
  });

  it('refuses a client without a certificate when the server has trust anchors', async () => {
    const server = await listener({ ...SERVER_CERT, ca: pem('root-ca.pem') });
    const sw = watch(server);
    const client = dialer({ ca: pem('root-ca.pem'), maxVersion: 'TLSv1.2' });
    const cw = watch(client);
    client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => sw.errors.length === 1 && cw.disconnects.length === 1,
      () => 'the refusal',
    );
    assert.ok(sw.errors[0] instanceof ChannelHandshakeError);
    assert.match(sw.errors[0].message, /neither a PSK nor a certificate/);
    assert.deepEqual(sw.connects, []);
  });

  it('refuses a client certificate from an unknown CA', async () => {
    const server = await listener({ ...SERVER_CERT, ca: pem('root-ca.pem') });
    const sw = watch(server);
    const client = dialer({
      ca: pem('root-ca.pem'),
      key: pem('other-server.key.pem'),
      cert: pem('other-server.pem'),
    });
    watch(client);
    client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => sw.errors.length === 1,
      () => 'the refusal',
    );
    assert.match(sw.errors[0]!.message, /client certificate refused/);
    assert.deepEqual(sw.frames, []);
  });

  it('the client refuses a server certificate it cannot verify', async () => {
    const server = await listener({ key: pem('other-server.key.pem'), cert: pem('other-server.pem') });
    const client = dialer({ ca: pem('root-ca.pem') });
    const cw = watch(client);
    client.send({ address: '127.0.0.1', port: server.local!.port }, CSM);
    await until(
      () => cw.disconnects.length === 1,
      () => 'the refusal',
    );
    assert.ok(cw.disconnects[0]!.error instanceof ChannelHandshakeError);
  });

  it('rejects unusable options', async () => {
    await assert.rejects(TlsChannel.listen({ address: '127.0.0.1', port: 0 }), ChannelConfigError);
    await assert.rejects(
      TlsChannel.listen({ address: '127.0.0.1', port: 0, key: pem('server.key.pem') }),
      ChannelConfigError,
    );
    await assert.rejects(
      TlsChannel.listen({ address: '127.0.0.1', port: 0, ...SERVER_CERT, ca: Uint8Array.of(1, 2, 3) }),
      ChannelConfigError,
    );
    await assert.rejects(
      TlsChannel.listen({
        address: '127.0.0.1',
        port: 0,
        key: pem('client.key.pem'),
        cert: pem('server.pem'),
      }),
      ChannelConfigError,
    );
    assert.throws(
      () => TlsChannel.dialer({ psk: { identity: 'x', key: new Uint8Array(0) } }),
      ChannelConfigError,
    );
    assert.throws(
      () => TlsChannel.dialer({ psk: { identity: 'x'.repeat(129), key: KEY } }),
      ChannelConfigError,
    );
    assert.throws(
      () => TlsChannel.dialer({ psk: { identity: 'x', key: KEY }, ciphers: 'NO-SUCH-CIPHER' }),
      ChannelConfigError,
    );
    assert.throws(
      () => TlsChannel.dialer({ key: Uint8Array.of(1, 2, 3), cert: pem('client.pem') }),
      ChannelConfigError,
    );
  });

  it('restricts TLS 1.3 to SHA-256 suites when a PSK is in play', () => {
    assert.doesNotMatch(defaultCiphers(true, true), /SHA384/);
    assert.match(defaultCiphers(true, false), /PSK-AES128-CCM8/);
    assert.match(defaultCiphers(false, true), /TLS_AES_256_GCM_SHA384/);
    assert.doesNotMatch(defaultCiphers(false, true), /PSK/);
  });
});

/** A TCP port nobody listens on right now. */
async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('TlsChannel interop with OpenSSL', () => {
  for (const version of ['tls1_2', 'tls1_3'] as const) {
    it(`openssl s_client (${version}, PSK) sends a frame to our listener and gets ours`, async (t) => {
      const openssl = requirePeer(t, 'openssl', 'openssl');
      if (!openssl) return;
      const server = await listener({ pskLookup });
      const sw = watch(server);
      const client = spawnPeer(openssl, [
        's_client',
        '-connect',
        `127.0.0.1:${server.local!.port}`,
        `-${version}`,
        '-psk',
        KEY_HEX,
        '-psk_identity',
        IDENTITY,
        '-quiet',
      ]);
      cleanups.push(() => client.stop());
      await until(
        () => sw.connects.length === 1,
        () => `the connection; s_client said:\n${client.output()}`,
      );
      client.child.stdin.write(CSM);
      await until(
        () => sw.frames.length === 1,
        () => `the CSM; s_client said:\n${client.output()}`,
      );
      const { peer, bytes } = sw.frames[0]!;
      assert.deepEqual(bytes, Buffer.from(CSM));
      assert.deepEqual(peer.identity, { psk: IDENTITY });
      assert.equal(server.sessionInfo(peer)?.protocol, version === 'tls1_2' ? 'TLSv1.2' : 'TLSv1.3');
      server.send(peer, content('pong-from-petrel'));
      await client.waitFor(/pong-from-petrel/, WAIT_MS);
      await client.stop();
    });

    it(`our dialler talks to openssl s_server (${version}, PSK, no certificate)`, async (t) => {
      const openssl = requirePeer(t, 'openssl', 'openssl');
      if (!openssl) return;
      const port = await freeTcpPort();
      const server = spawnPeer(openssl, [
        's_server',
        '-accept',
        `127.0.0.1:${port}`,
        `-${version}`,
        '-nocert',
        '-psk',
        KEY_HEX,
        '-psk_identity',
        IDENTITY,
        '-psk_hint',
        'openssl-hint',
      ]);
      cleanups.push(() => server.stop());
      await server.waitFor(/ACCEPT/);
      const client = dialer({ psk: { identity: IDENTITY, key: KEY } });
      const cw = watch(client);
      client.send({ address: '127.0.0.1', port }, content('hello-from-petrel'));
      await server.waitFor(/hello-from-petrel/, WAIT_MS);
      assert.equal(cw.connects.length, 1);
      assert.deepEqual(cw.connects[0]!.identity, { psk: IDENTITY });
      assert.equal(
        client.sessionInfo(cw.connects[0]!)?.protocol,
        version === 'tls1_2' ? 'TLSv1.2' : 'TLSv1.3',
      );
      server.child.stdin.write(CSM);
      await until(
        () => cw.frames.length === 1,
        () => `the CSM from s_server:\n${server.output()}`,
      );
      assert.deepEqual(cw.frames[0]!.bytes, Buffer.from(CSM));
      assert.equal(cw.frames[0]!.peer, cw.connects[0]);
      await server.stop();
    });
  }
});
