// Interop of our DtlsChannel with raw public keys (RFC 7250, ECDHE-ECDSA with AES-128-CCM_8) against
// GnuTLS's gnutls-serv and gnutls-cli over real UDP on 127.0.0.1. Every process is bounded in time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { rawPublicKeyVerifier } from '../../src/dtls/peer-verification.js';
import type { Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { fixturePath, privateKey, spkiDer } from '../support/dtls-fixtures.js';
import { spawnPeer, waitUntil } from '../support/peer-process.js';
import { freeUdpPort, requirePeer } from '../support/peers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
// DTLS 1.2 only, raw public keys for both ends, and the LwM2M suite (not in NORMAL by default).
const PRIORITY = 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:+AES-128-CCM-8';

describe('DTLS 1.2 raw public key interop with GnuTLS', () => {
  it('our client talks to gnutls-serv (echo), both sides with raw public keys', async (t) => {
    const gnutlsServ = requirePeer(t, 'gnutls-serv', 'gnutls-bin');
    if (!gnutlsServ) return;
    const port = await freeUdpPort();
    const server = spawnPeer(gnutlsServ, [
      '--udp',
      '--port',
      String(port),
      '--echo',
      '--rawpkkeyfile',
      fixturePath('server-rpk.key.pem'),
      '--rawpkfile',
      fixturePath('server-rpk.pub.pem'),
      '--require-client-cert',
      '--priority',
      PRIORITY,
    ]);
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const client = DtlsChannel.client({
      channel: udp,
      certificate: { privateKey: privateKey('client-rpk') },
      verifyPeer: rawPublicKeyVerifier(spkiDer('server-rpk')),
    });
    const got: { peer: Peer; text: string }[] = [];
    const errors: Error[] = [];
    client.onReceive((peer, bytes) => got.push({ peer, text: str(bytes) }));
    client.onError((e) => errors.push(e));
    try {
      await server.waitFor(/listening on IPv4/);
      client.send({ address: '127.0.0.1', port }, text('hello from petrel\n'));
      await waitUntil(
        () => got.length > 0,
        10_000,
        () =>
          `the echo; errors: ${errors.map((e) => e.message).join('; ')}; gnutls-serv:\n${server.output()}`,
      );
      assert.equal(got[0]!.text, 'hello from petrel\n');
      assert.deepEqual(got[0]!.peer.identity, { rpk: spkiDer('server-rpk') });
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('gnutls-cli with a raw public key talks to our server', async (t) => {
    const gnutlsCli = requirePeer(t, 'gnutls-cli', 'gnutls-bin');
    if (!gnutlsCli) return;
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = DtlsChannel.server({
      channel: udp,
      certificate: { privateKey: privateKey('server-rpk') },
      verifyPeer: rawPublicKeyVerifier(spkiDer('client-rpk')),
    });
    const got: { peer: Peer; text: string }[] = [];
    const errors: Error[] = [];
    server.onReceive((peer, bytes) => {
      got.push({ peer, text: str(bytes) });
      server.send(peer, text(`pong ${str(bytes)}`));
    });
    server.onError((e) => errors.push(e));
    const client = spawnPeer(gnutlsCli, [
      '--udp',
      '--port',
      String(udp.local.port),
      '127.0.0.1',
      '--rawpkkeyfile',
      fixturePath('client-rpk.key.pem'),
      '--rawpkfile',
      fixturePath('client-rpk.pub.pem'),
      '--priority',
      PRIORITY,
      // gnutls-cli has no way to pin a raw key here; our side does the pinning under test.
      '--insecure',
    ]);
    try {
      await client.waitFor(/Handshake was completed/);
      assert.match(client.output(), /Raw Public Key.*ECDHE-SECP256R1.*ECDSA-SHA256.*AES-128-CCM-8/);
      assert.match(client.output(), /extended master secret/);
      client.child.stdin.write('ping\n');
      await waitUntil(
        () => got.length > 0,
        10_000,
        () => `data from gnutls-cli; output:\n${client.output()}`,
      );
      assert.equal(got[0]!.text, 'ping\n');
      assert.deepEqual(got[0]!.peer.identity, { rpk: spkiDer('client-rpk') });
      await client.waitFor(/pong ping/);
      assert.deepEqual(errors, []);
    } finally {
      await client.stop();
      await server.close();
    }
  });
});
