// Interop of our DtlsChannel in the ECDHE_ECDSA suites (X.509, mutual authentication) with
// OpenSSL's s_server and s_client over real UDP on 127.0.0.1. Every process is bounded in time.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { x509ChainValidator, x509Verifier } from '../../src/dtls/peer-verification.js';
import type { Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { certDer, chainOf, fixturePath, privateKey } from '../support/dtls-fixtures.js';
import { spawnPeer, waitUntil } from '../support/peer-process.js';
import { freeUdpPort, requirePeer } from '../support/peers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const CLIENT_SUBJECT = 'O=Petrel Test, CN=petrel-dev-1';

const suites = [
  { openssl: 'ECDHE-ECDSA-AES128-CCM8', id: 0xc0ae },
  { openssl: 'ECDHE-ECDSA-AES128-SHA256', id: 0xc023 },
];

describe('DTLS 1.2 ECDHE-ECDSA interop with OpenSSL (X.509)', () => {
  for (const suite of suites)
    it(`our client talks to openssl s_server with mutual X.509 (${suite.openssl})`, async (t) => {
      const openssl = requirePeer(t, 'openssl', 'openssl');
      if (!openssl) return;
      const port = await freeUdpPort();
      const server = spawnPeer(openssl, [
        's_server',
        '-dtls1_2',
        '-accept',
        `127.0.0.1:${port}`,
        '-cert',
        fixturePath('server.pem'),
        '-key',
        fixturePath('server.key.pem'),
        '-cert_chain',
        fixturePath('intermediate-ca.pem'),
        '-Verify',
        '1',
        '-CAfile',
        fixturePath('root-ca.pem'),
        '-verify_return_error',
        '-cipher',
        suite.openssl,
      ]);
      const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
      const client = DtlsChannel.client({
        channel: udp,
        certificate: { privateKey: privateKey('client'), certificateChain: chainOf('client') },
        verifyPeer: x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 }),
        serverName: 'localhost',
        cipherSuites: [suite.id],
      });
      const got: { peer: Peer; text: string }[] = [];
      const errors: Error[] = [];
      client.onReceive((peer, bytes) => got.push({ peer, text: str(bytes) }));
      client.onError((e) => errors.push(e));
      try {
        await server.waitFor(/ACCEPT/);
        client.send({ address: '127.0.0.1', port }, text('hello from petrel\n'));
        await server.waitFor(/hello from petrel/);
        assert.match(server.output(), new RegExp(`CIPHER is ${suite.openssl}`));
        assert.match(server.output(), /subject=.*CN\s*=\s*petrel-dev-1/);
        server.child.stdin.write('hello from openssl\n');
        await waitUntil(
          () => got.some((g) => g.text.includes('hello from openssl')),
          10_000,
          () => `data from s_server; errors: ${errors.map((e) => e.message).join('; ')}`,
        );
        assert.deepEqual(got[0]!.peer.identity, {
          x509: { subject: 'O=Petrel Test, CN=localhost', der: certDer('server') },
        });
        assert.deepEqual(errors, []);
      } finally {
        await client.close();
        await server.stop();
      }
    });

  it('our client sends no certificate when openssl s_server does not ask for one', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const port = await freeUdpPort();
    const server = spawnPeer(openssl, [
      's_server',
      '-dtls1_2',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      fixturePath('server.pem'),
      '-key',
      fixturePath('server.key.pem'),
      '-cert_chain',
      fixturePath('intermediate-ca.pem'),
      '-cipher',
      'ECDHE-ECDSA-AES128-CCM8',
    ]);
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const client = DtlsChannel.client({
      channel: udp,
      certificate: { privateKey: privateKey('client'), certificateChain: chainOf('client') },
      verifyPeer: x509Verifier({ trust: certDer('server') }), // usage 3: the leaf itself
    });
    const errors: Error[] = [];
    client.onError((e) => errors.push(e));
    try {
      await server.waitFor(/ACCEPT/);
      client.send({ address: '127.0.0.1', port }, text('no certificate\n'));
      await server.waitFor(/no certificate/);
      assert.doesNotMatch(server.output(), /subject=/); // s_server prints a client certificate's subject
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('openssl s_client with a client certificate talks to our server', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = DtlsChannel.server({
      channel: udp,
      certificate: { privateKey: privateKey('server'), certificateChain: chainOf('server') },
      verifyPeer: x509ChainValidator({ trustAnchors: [certDer('root-ca')] }),
    });
    const got: { peer: Peer; text: string }[] = [];
    const errors: Error[] = [];
    server.onReceive((peer, bytes) => {
      got.push({ peer, text: str(bytes) });
      server.send(peer, text(`pong ${str(bytes)}`));
    });
    server.onError((e) => errors.push(e));
    const client = spawnPeer(openssl, [
      's_client',
      '-dtls1_2',
      '-connect',
      `127.0.0.1:${udp.local.port}`,
      '-servername',
      'localhost',
      '-cert',
      fixturePath('client.pem'),
      '-key',
      fixturePath('client.key.pem'),
      '-cert_chain',
      fixturePath('intermediate-ca.pem'),
      '-CAfile',
      fixturePath('root-ca.pem'),
      '-verify_return_error',
      '-verify_hostname',
      'localhost',
      '-ign_eof',
    ]);
    try {
      await client.waitFor(/Cipher is ECDHE-ECDSA-AES128-CCM8|New, .*Cipher/);
      assert.match(client.output(), /Verify return code: 0 \(ok\)/);
      assert.match(client.output(), /Extended master secret: yes/);
      client.child.stdin.write('ping\n');
      await waitUntil(
        () => got.length > 0,
        10_000,
        () => `data from s_client; output:\n${client.output()}`,
      );
      assert.equal(got[0]!.text, 'ping\n');
      assert.deepEqual(got[0]!.peer.identity, { x509: { subject: CLIENT_SUBJECT, der: certDer('client') } });
      await client.waitFor(/pong ping/);
      assert.deepEqual(errors, []);
    } finally {
      await client.stop();
      await server.close();
    }
  });

  it('our server refuses an openssl s_client certificate from an unknown CA with unknown_ca', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = DtlsChannel.server({
      channel: udp,
      certificate: { privateKey: privateKey('server'), certificateChain: chainOf('server') },
      verifyPeer: x509ChainValidator({ trustAnchors: [certDer('root-ca')] }),
    });
    const errors: Error[] = [];
    server.onError((e) => errors.push(e));
    const client = spawnPeer(openssl, [
      's_client',
      '-dtls1_2',
      '-connect',
      `127.0.0.1:${udp.local.port}`,
      '-cert',
      fixturePath('other-server.pem'),
      '-key',
      fixturePath('other-server.key.pem'),
      '-CAfile',
      fixturePath('root-ca.pem'),
      '-ign_eof',
    ]);
    try {
      await client.waitFor(/alert unknown ca/i);
      await waitUntil(
        () => errors.length > 0,
        5000,
        () => 'our server to report the failure',
      );
      const failure = errors[0] as DtlsSessionError;
      assert.equal(failure.failure, 'handshake-failed');
      assert.equal(failure.alert, AlertDescription.unknown_ca);
    } finally {
      await client.stop();
      await server.close();
    }
  });
});
