// Interop of our DtlsChannel (PSK, TLS_PSK_WITH_AES_128_CCM_8) with OpenSSL's s_server and
// s_client over real UDP on 127.0.0.1, and libcoap's coap-client-openssl against a CoAP endpoint
// running over our DTLS server. Every external process is bounded in time and killed in finally.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { uriPath } from '../../src/coap/options.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import type { Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { freeUdpPort, requirePeer, run } from '../support/peers.js';

const KEY_HEX = '0123456789abcdeffedcba9876543210';
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, 'hex'));
const IDENTITY = 'petrel-dev-1';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Peer2 {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  waitFor: (pattern: RegExp, ms?: number) => Promise<void>;
  stop: () => Promise<void>;
}

/** A peer program with stdin open, its stdout+stderr collected, killed after `limitMs` at the latest. */
function spawnPeer(program: string, args: string[], limitMs = 20_000): Peer2 {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.on('error', () => {});
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  return {
    child,
    output: () => out,
    waitFor: (pattern, ms = 10_000) =>
      waitUntil(
        () => pattern.test(out),
        ms,
        () => `${pattern} in:\n${out}`,
      ),
    stop: () =>
      new Promise<void>((resolve) => {
        clearTimeout(limit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('close', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      }),
  };
}

async function waitUntil(test: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('DTLS 1.2 PSK interop with OpenSSL', () => {
  it('our client talks to openssl s_server (PSK-AES128-CCM8, with a hint)', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const port = await freeUdpPort();
    const server = spawnPeer(openssl, [
      's_server',
      '-dtls1_2',
      '-accept',
      `127.0.0.1:${port}`,
      '-nocert',
      '-psk',
      KEY_HEX,
      '-psk_identity',
      IDENTITY,
      '-psk_hint',
      'openssl-hint',
      '-cipher',
      'PSK-AES128-CCM8',
    ]);
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const client = DtlsChannel.client({ channel: udp, psk: { identity: IDENTITY, key: KEY } });
    const got: { peer: Peer; text: string }[] = [];
    const errors: Error[] = [];
    client.onReceive((peer, bytes) => got.push({ peer, text: str(bytes) }));
    client.onError((e) => errors.push(e));
    try {
      await server.waitFor(/ACCEPT/);
      const peer = { address: '127.0.0.1', port };
      client.send(peer, text('hello from petrel\n'));
      await server.waitFor(/hello from petrel/);
      assert.match(server.output(), /CIPHER is PSK-AES128-CCM8/);
      assert.match(server.output(), /Secure Renegotiation IS supported/);
      server.child.stdin.write('hello from openssl\n');
      await waitUntil(
        () => got.some((g) => g.text.includes('hello from openssl')),
        10_000,
        () => `data from s_server; errors: ${errors.map((e) => e.message).join('; ')}`,
      );
      assert.deepEqual(got[0]!.peer.identity, { psk: IDENTITY });
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('openssl s_client talks to our server and gets our answer', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = DtlsChannel.server({
      channel: udp,
      hint: 'petrel-hint',
      psk: (id) => (str(id) === IDENTITY ? KEY : undefined),
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
      '-psk',
      KEY_HEX,
      '-psk_identity',
      IDENTITY,
      '-cipher',
      'PSK-AES128-CCM8',
      '-ign_eof',
    ]);
    try {
      await client.waitFor(/Cipher is PSK-AES128-CCM8|New, .*Cipher/);
      assert.match(client.output(), /Extended master secret: yes/);
      client.child.stdin.write('ping\n');
      await waitUntil(
        () => got.length > 0,
        10_000,
        () => `data from s_client; output:\n${client.output()}`,
      );
      assert.equal(got[0]!.text, 'ping\n');
      assert.deepEqual(got[0]!.peer.identity, { psk: IDENTITY });
      await client.waitFor(/pong ping/);
      assert.deepEqual(errors, []);
      assert.deepEqual(server.stats, { handshakes: 0, sessions: 1 });
    } finally {
      await client.stop();
      await server.close();
    }
  });

  const refusals = [
    {
      name: 'a wrong PSK gets bad_record_mac',
      key: 'ffeeddccbbaa99887766554433221100',
      identity: IDENTITY,
      alert: AlertDescription.bad_record_mac,
      printed: /alert bad record mac/i,
    },
    {
      name: 'an unknown identity gets unknown_psk_identity',
      key: KEY_HEX,
      identity: 'nobody',
      alert: AlertDescription.unknown_psk_identity,
      printed: /alert unknown psk identity/i,
    },
  ];
  for (const refusal of refusals)
    it(`openssl s_client with ${refusal.name} from our server`, async (t) => {
      const openssl = requirePeer(t, 'openssl', 'openssl');
      if (!openssl) return;
      const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
      const server = DtlsChannel.server({
        channel: udp,
        psk: (id) => (str(id) === IDENTITY ? KEY : undefined),
      });
      const errors: Error[] = [];
      const got: string[] = [];
      server.onReceive((_peer, bytes) => got.push(str(bytes)));
      server.onError((e) => errors.push(e));
      const client = spawnPeer(openssl, [
        's_client',
        '-dtls1_2',
        '-connect',
        `127.0.0.1:${udp.local.port}`,
        '-psk',
        refusal.key,
        '-psk_identity',
        refusal.identity,
        '-cipher',
        'PSK-AES128-CCM8',
        '-ign_eof',
      ]);
      try {
        await client.waitFor(refusal.printed);
        await waitUntil(
          () => errors.length > 0,
          5000,
          () => 'our server to report the failure',
        );
        const failure = errors[0] as DtlsSessionError;
        assert.equal(failure.failure, 'handshake-failed');
        assert.equal(failure.alert, refusal.alert);
        assert.deepEqual(got, []);
        assert.deepEqual(server.stats, { handshakes: 0, sessions: 0 });
      } finally {
        await client.stop();
        await server.close();
      }
    });

  it('libcoap coap-client-openssl GETs a resource from a CoAP endpoint over our DTLS server', async (t) => {
    const coapClient = requirePeer(t, 'coap-client-openssl', 'libcoap3-bin');
    if (!coapClient) return;
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    // libcoap's -k takes the key as text: its bytes are the PSK.
    const asciiKey = 'petrel-secret-key';
    const server = DtlsChannel.server({
      channel: udp,
      psk: (id) => (str(id) === IDENTITY ? text(asciiKey) : undefined),
    });
    const errors: Error[] = [];
    server.onError((e) => errors.push(e));
    const endpoint = new CoapEndpoint({ channel: server });
    endpoint.onRequest(({ peer, message }) => ({
      code: CoapCode.CONTENT,
      payload: text(
        `${uriPath(message).join('/')} for ${peer.identity && 'psk' in peer.identity ? peer.identity.psk : 'nobody'}`,
      ),
    }));
    try {
      const result = await run(
        coapClient,
        ['-k', asciiKey, '-u', IDENTITY, '-B', '10', `coaps://127.0.0.1:${udp.local.port}/x`],
        15_000,
      );
      assert.match(result.stdout, /x for petrel-dev-1/, `${result.stdout}\n${result.stderr}`);
      assert.deepEqual(errors, []);
    } finally {
      await endpoint.close();
      await server.close();
    }
  });
});
