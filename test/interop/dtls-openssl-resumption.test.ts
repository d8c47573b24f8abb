// Session resumption interop (RFC 5246 §7.3) with OpenSSL's s_client over real UDP on 127.0.0.1:
// a full PSK handshake saves the session (-sess_out), a second s_client offers it (-sess_in) and
// our server resumes it ("Reused, " in s_client's output); and our client, in a new DtlsChannel
// given the first one's session cache, resumes with s_server ("Reused session-id"). Every process
// is bounded in time and stopped in finally.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { SessionCache } from '../../src/dtls/session-cache.js';
import type { Channel, Peer, ReceiveHandler } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { spawnPeer, waitUntil } from '../support/peer-process.js';
import { freeUdpPort, requirePeer } from '../support/peers.js';

const KEY_HEX = '0123456789abcdeffedcba9876543210';
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, 'hex'));
const IDENTITY = 'petrel-dev-1';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('DTLS session resumption interop with OpenSSL', () => {
  it('openssl s_client -sess_out, then -sess_in: our server resumes the session ("Reused")', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (!openssl) return;
    const dir = mkdtempSync(join(tmpdir(), 'petrel-resume-'));
    const sessionFile = join(dir, 'session.pem');
    const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = DtlsChannel.server({
      channel: udp,
      psk: (id) => (str(id) === IDENTITY ? KEY : undefined),
    });
    const got: { peer: Peer; text: string }[] = [];
    const errors: Error[] = [];
    server.onReceive((peer, bytes) => {
      got.push({ peer, text: str(bytes) });
      server.send(peer, text(`pong ${str(bytes)}`));
    });
    server.onError((e) => errors.push(e));
    const args = (session: string[]): string[] => [
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
      ...session,
    ];
    try {
      const first = spawnPeer(openssl, args(['-sess_out', sessionFile]));
      try {
        await first.waitFor(/New, .*Cipher is PSK-AES128-CCM8/);
        first.child.stdin.write('one\n');
        await first.waitFor(/pong one/);
      } finally {
        await first.stop();
      }
      const second = spawnPeer(openssl, args(['-sess_in', sessionFile]));
      try {
        await second.waitFor(/Reused, .*Cipher is PSK-AES128-CCM8/);
        assert.match(second.output(), /Extended master secret: yes/);
        second.child.stdin.write('two\n');
        await second.waitFor(/pong two/);
      } finally {
        await second.stop();
      }
      await waitUntil(
        () => got.length >= 2,
        5000,
        () => 'both messages',
      );
      assert.deepEqual(
        got.map((g) => g.text),
        ['one\n', 'two\n'],
      );
      assert.deepEqual(got[1]!.peer.identity, { psk: IDENTITY }, 'the resumed session keeps its identity');
      assert.deepEqual(errors, []);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('our client resumes its session with openssl s_server (a new channel given the old cache)', async (t) => {
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
      '-cipher',
      'PSK-AES128-CCM8',
    ]);
    // One socket under both channels: a channel's close (its close_notify) leaves it open.
    const socket = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    let deliver: ReceiveHandler | undefined;
    socket.onReceive((from, bytes) => deliver?.(from, bytes));
    const shared: Channel = {
      kind: socket.kind,
      get local() {
        return socket.local;
      },
      send: (to, bytes) => socket.send(to, bytes),
      onReceive: (h) => void (deliver = h),
      close: () => Promise.resolve(),
    };
    const peer = { address: '127.0.0.1', port };
    const errors: Error[] = [];
    const open = (sessionCache?: SessionCache): DtlsChannel => {
      const c = DtlsChannel.client({
        channel: shared,
        psk: { identity: IDENTITY, key: KEY },
        ...(sessionCache ? { sessionCache } : {}),
      });
      c.onError((e) => errors.push(e));
      return c;
    };
    let client = open();
    try {
      await server.waitFor(/ACCEPT/);
      client.send(peer, text('first session\n'));
      await server.waitFor(/first session/);
      const cache = client.sessionCache!;
      assert.equal(cache.size, 1, 'the session is remembered');
      await client.close(); // close_notify: s_server takes the next client
      await server.waitFor(/DONE/);
      client = open(cache);
      client.send(peer, text('resumed session\n'));
      await server.waitFor(/resumed session/);
      assert.match(server.output(), /Reused session-id/);
      assert.deepEqual(errors, []);
    } finally {
      await client.close();
      await socket.close();
      await server.stop();
    }
  });
});
