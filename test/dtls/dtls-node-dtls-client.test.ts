// The npm package node-dtls-client (a DTLS 1.2 client written independently of Petrel) as a PSK
// peer of our DtlsChannel.server over real UDP on 127.0.0.1: TLS_PSK_WITH_AES_128_CCM_8, data both
// ways, the identity reported. It needs no external program, and a handshake takes milliseconds,
// so it runs in the unit suite.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dtls } from 'node-dtls-client';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import type { ChannelError, Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

const KEY = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
const IDENTITY = 'node-dtls-id';
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Server {
  server: DtlsChannel;
  port: number;
  got: { peer: Peer; text: string }[];
  errors: ChannelError[];
}

async function startServer(): Promise<Server> {
  const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const server = DtlsChannel.server({
    channel: udp,
    hint: 'petrel-hint',
    psk: (id) => (str(id) === IDENTITY ? KEY : undefined),
  });
  const s: Server = { server, port: udp.local.port, got: [], errors: [] };
  server.onReceive((peer, bytes) => {
    s.got.push({ peer, text: str(bytes) });
    server.send(peer, new TextEncoder().encode(`pong ${str(bytes)}`));
  });
  server.onError((e) => s.errors.push(e));
  return s;
}

/** Waits for `event` on the socket, failing after `ms` (or at once on an "error"). */
function once<T extends unknown[]>(socket: dtls.Socket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    socket.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(args as T);
    });
    if (event !== 'error') socket.once('error', onError);
  });
}

function closeSocket(socket: dtls.Socket): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    try {
      socket.close(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

describe('node-dtls-client (npm) against our DTLS server', () => {
  it('completes a TLS_PSK_WITH_AES_128_CCM_8 handshake and carries data both ways with the identity', async () => {
    const s = await startServer();
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: s.port,
      psk: { [IDENTITY]: KEY },
      timeout: 5000,
      ciphers: ['TLS_PSK_WITH_AES_128_CCM_8'],
    });
    try {
      await once(socket, 'connected');
      const answer = once<[Buffer]>(socket, 'message');
      socket.send(Buffer.from('ping'));
      const [reply] = await answer;
      assert.equal(reply.toString(), 'pong ping');
      assert.deepEqual(
        s.got.map((g) => g.text),
        ['ping'],
      );
      assert.deepEqual(s.got[0]!.peer.identity, { psk: IDENTITY });
      assert.equal(s.got[0]!.peer.address, '127.0.0.1');
      // A second exchange on the same session.
      const second = once<[Buffer]>(socket, 'message');
      socket.send(Buffer.from('again'));
      assert.equal((await second)[0].toString(), 'pong again');
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 1 });
      assert.deepEqual(s.errors, []);
    } finally {
      await closeSocket(socket);
      await s.server.close();
    }
  });

  it('picks TLS_PSK_WITH_AES_128_CCM_8 from the full list node-dtls-client offers by default (CCM_8 not first)', async () => {
    const s = await startServer();
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: s.port,
      psk: { [IDENTITY]: KEY },
      timeout: 5000,
    });
    try {
      await once(socket, 'connected');
      const answer = once<[Buffer]>(socket, 'message');
      socket.send(Buffer.from('all suites'));
      assert.equal((await answer)[0].toString(), 'pong all suites');
      assert.deepEqual(s.got[0]!.peer.identity, { psk: IDENTITY });
    } finally {
      await closeSocket(socket);
      await s.server.close();
    }
  });

  it('fails a wrong PSK on both sides (our server sends bad_record_mac) and delivers nothing', async () => {
    const s = await startServer();
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: s.port,
      psk: { [IDENTITY]: Buffer.alloc(16, 9) },
      timeout: 5000,
      ciphers: ['TLS_PSK_WITH_AES_128_CCM_8'],
    });
    try {
      const [error] = await once<[Error]>(socket, 'error');
      assert.match(error.message, /bad_record_mac|20\b/i);
      const failure = s.errors.find((e) => e instanceof DtlsSessionError);
      assert.ok(failure, 'our server reports the failure');
      assert.equal(failure.failure, 'handshake-failed');
      assert.equal(failure.alert, AlertDescription.bad_record_mac);
      assert.deepEqual(s.got, []);
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 0 });
    } finally {
      await closeSocket(socket);
      await s.server.close();
    }
  });

  it('refuses an unknown identity with unknown_psk_identity', async () => {
    const s = await startServer();
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: s.port,
      psk: { stranger: KEY },
      timeout: 5000,
      ciphers: ['TLS_PSK_WITH_AES_128_CCM_8'],
    });
    try {
      const [error] = await once<[Error]>(socket, 'error');
      assert.match(error.message, /unknown_psk_identity|115/i);
      const failure = s.errors.find((e) => e instanceof DtlsSessionError);
      assert.ok(failure, 'our server reports the failure');
      assert.equal(failure.alert, AlertDescription.unknown_psk_identity);
      assert.deepEqual(s.got, []);
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 0 });
    } finally {
      await closeSocket(socket);
      await s.server.close();
    }
  });
});
