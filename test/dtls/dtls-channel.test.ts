// Our DTLS client against our DTLS server over the in-memory network, with a fake clock: PSK
// handshake, application data, failures with alerts, retransmission, cookies, replay and tampering.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel, type DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { ExtensionType } from '../../src/dtls/extensions.js';
import { HandshakeType, encodeHandshakeMessage, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import { decodeClientHello, encodeClientHello } from '../../src/dtls/hello-messages.js';
import { ContentType, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { seededRandom } from '../../src/random.js';
import type {
  Channel,
  ChannelError,
  ChannelErrorHandler,
  Peer,
  ReceiveHandler,
} from '../../src/transport/channel.js';
import { LossyChannel } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork, type MemoryChannel } from '../../src/transport/memory-channel.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const KEY = Uint8Array.from(Buffer.from('0123456789abcdeffedcba9876543210', 'hex'));
const SERVER: Peer = { address: '10.0.0.1', port: 5684 };

/** Passes datagrams through, records what was sent, and drops those `drop` picks. */
class Tap implements Channel {
  readonly kind = 'memory' as const;
  readonly sent: Uint8Array[] = [];
  drop: (bytes: Uint8Array, index: number) => boolean = () => false;
  rewrite: (bytes: Uint8Array, index: number) => Uint8Array = (b) => b;
  constructor(readonly inner: MemoryChannel) {}
  get local() {
    return this.inner.local;
  }
  send(peer: Peer, bytes: Uint8Array): void {
    const index = this.sent.push(bytes.slice()) - 1;
    if (!this.drop(bytes, index)) this.inner.send(peer, this.rewrite(bytes, index));
  }
  onReceive(handler: ReceiveHandler): void {
    this.inner.onReceive(handler);
  }
  onError(handler: ChannelErrorHandler): void {
    this.inner.onError(handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Rig {
  clock: FakeClock;
  net: MemoryNetwork;
  server: DtlsChannel;
  client: DtlsChannel;
  serverTap: Tap;
  clientTap: Tap;
  serverGot: { peer: Peer; text: string }[];
  clientGot: { peer: Peer; text: string }[];
  serverErrors: ChannelError[];
  clientErrors: ChannelError[];
  settle(): Promise<void>;
}

function rig(
  options: {
    server?: Partial<DtlsServerOptions>;
    clientKey?: Uint8Array;
    identity?: string;
    timing?: { initialTimeout?: number; maxTimeout?: number; handshakeTimeout?: number };
  } = {},
): Rig {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ schedule: () => {} });
  const serverTap = new Tap(net.channel(SERVER.address, SERVER.port));
  const clientTap = new Tap(net.channel('10.0.0.2', 40000));
  const server = DtlsChannel.server({
    channel: serverTap,
    clock,
    random: seededRandom(1),
    psk: (id) => (str(id) === 'dev-1' ? KEY : undefined),
    timing: options.timing,
    ...options.server,
  });
  const client = DtlsChannel.client({
    channel: clientTap,
    clock,
    random: seededRandom(2),
    psk: { identity: options.identity ?? 'dev-1', key: options.clientKey ?? KEY },
    timing: options.timing,
  });
  const r: Rig = {
    clock,
    net,
    server,
    client,
    serverTap,
    clientTap,
    serverGot: [],
    clientGot: [],
    serverErrors: [],
    clientErrors: [],
    async settle() {
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        if (net.flush() === 0 && net.pending === 0) {
          await new Promise((resolve) => setImmediate(resolve));
          if (net.pending === 0) return;
        }
      }
    },
  };
  server.onReceive((peer, bytes) => r.serverGot.push({ peer, text: str(bytes) }));
  client.onReceive((peer, bytes) => r.clientGot.push({ peer, text: str(bytes) }));
  server.onError((e) => r.serverErrors.push(e));
  client.onError((e) => r.clientErrors.push(e));
  return r;
}

/** Handshake message types in the epoch-0 records of a datagram. */
function handshakeTypes(datagram: Uint8Array): number[] {
  return parseDatagram(datagram)
    .records.filter((r) => r.epoch === 0 && r.type === ContentType.handshake)
    .map((r) => r.fragment[0]!);
}

function sessionError(errors: ChannelError[]): DtlsSessionError {
  const e = errors.find((x) => x instanceof DtlsSessionError);
  assert.ok(e, `expected a DtlsSessionError, got ${errors.map((x) => x.message).join('; ')}`);
  return e;
}

describe('DtlsChannel PSK handshake (memory network)', () => {
  it('completes the cookie exchange and handshake, then carries data both ways with the identity', async () => {
    const r = rig();
    r.client.send(SERVER, text('hello'));
    r.client.send(SERVER, text('second'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['hello', 'second'],
    );
    const from = r.serverGot[0]!.peer;
    assert.deepEqual(from.identity, { psk: 'dev-1' });
    assert.equal(from.address, '10.0.0.2');
    r.server.send(from, text('back'));
    await r.settle();
    assert.deepEqual(r.clientGot, [{ peer: { ...SERVER, identity: { psk: 'dev-1' } }, text: 'back' }]);
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 1 });
    // Flight 1 (ClientHello), HVR, flight 3 (ClientHello + cookie), flight 4 without a hint.
    assert.deepEqual(handshakeTypes(r.clientTap.sent[0]!), [HandshakeType.client_hello]);
    assert.deepEqual(handshakeTypes(r.serverTap.sent[0]!), [HandshakeType.hello_verify_request]);
    assert.deepEqual(handshakeTypes(r.serverTap.sent[1]!), [
      HandshakeType.server_hello,
      HandshakeType.server_hello_done,
    ]);
    assert.deepEqual(r.serverErrors, []);
    assert.deepEqual(r.clientErrors, []);
    // Application data travels in epoch 1 only.
    const last = parseDatagram(r.serverTap.sent.at(-1)!).records[0]!;
    assert.equal(last.epoch, 1);
    assert.equal(last.type, ContentType.application_data);
    assert.equal(Buffer.from(last.fragment).includes(Buffer.from('back')), false);
  });

  it('sends a ServerKeyExchange with the hint, and accepts an asynchronous PSK lookup', async () => {
    const r = rig({
      server: {
        hint: 'petrel-hint',
        psk: async (id) => {
          await new Promise((resolve) => setImmediate(resolve));
          return str(id) === 'dev-1' ? KEY : undefined;
        },
      },
    });
    r.client.send(SERVER, text('x'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['x'],
    );
    assert.deepEqual(handshakeTypes(r.serverTap.sent[1]!), [
      HandshakeType.server_hello,
      HandshakeType.server_key_exchange,
      HandshakeType.server_hello_done,
    ]);
  });

  it('fails a wrong PSK with bad_record_mac on both sides and delivers nothing', async () => {
    const r = rig({ clientKey: new Uint8Array(16).fill(9) });
    r.client.send(SERVER, text('secret'));
    await r.settle();
    assert.equal(r.serverGot.length, 0);
    const s = sessionError(r.serverErrors);
    assert.equal(s.failure, 'handshake-failed');
    assert.equal(s.alert, AlertDescription.bad_record_mac);
    const c = sessionError(r.clientErrors);
    assert.equal(c.failure, 'alert-received');
    assert.equal(c.alert, AlertDescription.bad_record_mac);
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 0 });
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 0 });
  });

  it('refuses an unknown identity with unknown_psk_identity (115)', async () => {
    const r = rig({ identity: 'stranger' });
    r.client.send(SERVER, text('hi'));
    await r.settle();
    assert.equal(sessionError(r.serverErrors).alert, 115);
    const c = sessionError(r.clientErrors);
    assert.equal(c.failure, 'alert-received');
    assert.equal(c.alert, 115);
    assert.equal(r.serverGot.length, 0);
  });

  it('retransmits a lost flight on the timer and completes', async () => {
    const r = rig();
    r.clientTap.drop = (_b, i) => i === 0; // the first ClientHello is lost
    r.serverTap.drop = (b) =>
      handshakeTypes(b).includes(HandshakeType.server_hello) && r.serverTap.sent.length === 2; // flight 4 once
    r.client.send(SERVER, text('late'));
    await r.settle();
    assert.equal(r.serverGot.length, 0);
    r.clock.advance(1000); // client resends its hello
    await r.settle();
    assert.equal(r.serverGot.length, 0);
    r.clock.advance(1000); // the server resends flight 4
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['late'],
    );
    assert.deepEqual(r.clientErrors, []);
  });

  it('doubles the retransmission timeout up to the cap, then gives up', async () => {
    const r = rig({ timing: { initialTimeout: 1000, maxTimeout: 4000, handshakeTimeout: 20_000 } });
    r.clientTap.drop = () => true;
    r.client.send(SERVER, text('lost'));
    const times: number[] = [];
    const original = r.clientTap.send.bind(r.clientTap);
    r.clientTap.send = (peer, bytes) => {
      times.push(r.clock.now());
      original(peer, bytes);
    };
    for (let t = 0; t < 25; t++) {
      r.clock.advance(1000);
      await r.settle();
    }
    assert.deepEqual(times, [1000, 3000, 7000, 11_000, 15_000, 19_000]);
    assert.equal(sessionError(r.clientErrors).failure, 'handshake-timeout');
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 0 });
  });

  it("resends the server's last flight when the client repeats its own", async () => {
    const r = rig();
    r.client.send(SERVER, text('a'));
    await r.settle();
    const flight5 = r.clientTap.sent.find((d) =>
      handshakeTypes(d).includes(HandshakeType.client_key_exchange),
    )!;
    const before = r.serverTap.sent.length;
    r.clientTap.inner.send(SERVER, flight5);
    await r.settle();
    assert.equal(r.serverTap.sent.length, before + 1);
    const resent = parseDatagram(r.serverTap.sent.at(-1)!).records;
    assert.deepEqual(
      resent.map((x) => [x.type, x.epoch]),
      [
        [ContentType.change_cipher_spec, 0],
        [ContentType.handshake, 1],
      ],
    );
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 1 });
  });

  it('answers a flood of cookie-less ClientHellos with HelloVerifyRequests and keeps no state', async () => {
    const r = rig();
    const hello = encodeHandshakeMessage({
      msgType: HandshakeType.client_hello,
      messageSeq: 0,
      body: encodeClientHello({
        clientVersion: 0xfefd,
        random: new Uint8Array(32).fill(1),
        sessionId: new Uint8Array(0),
        cookie: new Uint8Array(16), // a made-up cookie is no better than none
        cipherSuites: [0xc0a8],
        compressionMethods: [0],
        extensions: [],
      }),
    });
    const datagram = encodeRecord({
      type: ContentType.handshake,
      version: 0xfefd,
      epoch: 0,
      sequenceNumber: 0,
      fragment: hello,
    });
    const spoofers = Array.from({ length: 200 }, (_, i) => r.net.channel('10.9.0.1', 20000 + i));
    for (const s of spoofers) s.send(SERVER, datagram);
    await r.settle();
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 0 });
    assert.equal(r.serverTap.sent.length, 200);
    assert.ok(r.serverTap.sent.every((d) => handshakeTypes(d)[0] === HandshakeType.hello_verify_request));
  });

  it('ignores a replayed ClientHello of the current session, and a new handshake replaces it', async () => {
    const r = rig();
    r.client.send(SERVER, text('one'));
    await r.settle();
    r.clientTap.inner.send(SERVER, r.clientTap.sent[1]!); // the hello with the cookie, again
    await r.settle();
    r.client.send(SERVER, text('two'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['one', 'two'],
    );
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
    // The client restarts without close_notify (new channel, same address): its new handshake
    // replaces the session.
    await r.clientTap.inner.close();
    const again = DtlsChannel.client({
      channel: r.net.channel('10.0.0.2', 40000),
      clock: r.clock,
      random: seededRandom(99),
      psk: { identity: 'dev-1', key: KEY },
    });
    again.send(SERVER, text('three'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['one', 'two', 'three'],
    );
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
  });

  it('lets a client that restarts mid-handshake start over at once', async () => {
    const r = rig();
    r.clientTap.drop = (_b, i) => i >= 2; // flight 5 never leaves: the server waits for it
    r.client.send(SERVER, text('lost'));
    await r.settle();
    assert.deepEqual(r.server.stats, { handshakes: 1, sessions: 0 });
    await r.clientTap.inner.close();
    const again = DtlsChannel.client({
      channel: r.net.channel('10.0.0.2', 40000),
      clock: r.clock,
      random: seededRandom(42),
      psk: { identity: 'dev-1', key: KEY },
    });
    again.send(SERVER, text('fresh'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['fresh'],
    );
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
  });

  it('keeps an established session whatever epoch-0 records arrive from its address', async () => {
    const r = rig();
    r.client.send(SERVER, text('one'));
    await r.settle();
    const plain = (type: number, fragment: Uint8Array): Uint8Array =>
      encodeRecord({ type, version: 0xfefd, epoch: 0, sequenceNumber: 99, fragment });
    for (const forged of [
      plain(ContentType.handshake, Uint8Array.of(1, 0, 0)), // truncated header
      plain(
        ContentType.handshake,
        encodeHandshakeMessage({ msgType: 20, messageSeq: 9, body: new Uint8Array(12) }),
      ),
      plain(ContentType.change_cipher_spec, Uint8Array.of(7)),
      plain(ContentType.alert, Uint8Array.of(2, 40)),
    ]) {
      r.clientTap.inner.send(SERVER, forged);
      r.serverTap.inner.send({ address: '10.0.0.2', port: 40000 }, forged);
    }
    await r.settle();
    r.client.send(SERVER, text('two'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['one', 'two'],
    );
    assert.deepEqual(r.serverErrors, []);
    assert.deepEqual(r.clientErrors, []);
  });

  it('drops replayed and tampered application records and keeps the session', async () => {
    const r = rig();
    r.client.send(SERVER, text('one'));
    await r.settle();
    const record = r.clientTap.sent.at(-1)!;
    r.clientTap.inner.send(SERVER, record); // replay
    const tampered = record.slice();
    tampered[tampered.length - 1]! ^= 0x01;
    r.clientTap.inner.send(SERVER, tampered);
    await r.settle();
    r.client.send(SERVER, text('two'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['one', 'two'],
    );
    assert.deepEqual(r.serverErrors, []);
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
  });

  it('sends close_notify on close, and closes idle sessions', async () => {
    const r = rig({ server: { limits: { idleTimeout: 30_000 } } });
    r.client.send(SERVER, text('x'));
    await r.settle();
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
    r.clock.advance(30_000);
    await r.settle();
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 0 });
    // The client got the server's close_notify.
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 0 });
    assert.deepEqual(r.clientErrors, []); // close_notify is a clean end, not an error
    assert.ok(r.serverTap.sent.length > 0);
    const alert = parseDatagram(r.serverTap.sent.at(-1)!).records[0]!;
    assert.deepEqual([alert.type, alert.epoch], [ContentType.alert, 1]);

    const r2 = rig();
    r2.client.send(SERVER, text('y'));
    await r2.settle();
    await r2.client.close();
    await r2.settle();
    assert.deepEqual(r2.server.stats, { handshakes: 0, sessions: 0 });
    assert.throws(() => r2.client.send(SERVER, text('z')), { code: 'PETREL_ERR_CHANNEL_CLOSED' });
  });

  it('reports each end of an established session with its reason (onSessionClosed)', async () => {
    const r = rig({ server: { limits: { idleTimeout: 30_000 } } });
    const serverSaw: string[] = [];
    const clientSaw: string[] = [];
    r.server.onSessionClosed(({ reason }) => serverSaw.push(reason));
    r.client.onSessionClosed(({ peer, reason }) => clientSaw.push(`${peer.address}:${peer.port} ${reason}`));
    r.client.send(SERVER, text('x'));
    await r.settle();
    assert.deepEqual([serverSaw, clientSaw], [[], []], 'nothing while the session lives');
    r.clock.advance(30_000);
    await r.settle();
    assert.deepEqual(serverSaw, ['closed'], 'the server ended it (idle)');
    assert.deepEqual(
      clientSaw,
      [`${SERVER.address}:${SERVER.port} peer-closed`],
      'the client got close_notify',
    );
    // A handler that throws does not break the channel: the error is reported.
    r.client.onSessionClosed(() => {
      throw new Error('application bug');
    });
    r.client.send(SERVER, text('y'));
    await r.settle();
    await r.server.close();
    await r.settle();
    assert.equal(clientSaw.at(-1), `${SERVER.address}:${SERVER.port} peer-closed`);
    assert.ok(
      r.clientErrors.some((e) => /session-closed handler failed/.test(e.message)),
      'reported',
    );
  });

  it('runs a CoAP endpoint over it unchanged', async () => {
    const r = rig();
    const server = new CoapEndpoint({ channel: r.server, clock: r.clock });
    server.onRequest(({ peer }) => ({
      code: CoapCode.CONTENT,
      payload: text(`hello ${peer.identity && 'psk' in peer.identity ? peer.identity.psk : '?'}`),
    }));
    const client = new CoapEndpoint({ channel: r.client, clock: r.clock });
    const pending = client.request(SERVER, { code: CoapCode.GET, options: [], payload: new Uint8Array(0) });
    await r.settle();
    const response = await pending;
    assert.equal(response.code, CoapCode.CONTENT);
    assert.equal(str(response.payload), 'hello dev-1');
  });

  it('detects a ClientHello stripped of extended_master_secret in transit: the Finished fails (decrypt_error)', async () => {
    const r = rig();
    r.clientTap.rewrite = (bytes, index) => {
      if (index !== 1) return bytes; // the ClientHello with the cookie
      const record = parseDatagram(bytes).records[0]!;
      const f = parseHandshakeFragments(record.fragment)[0]!;
      const hello = decodeClientHello(f.body);
      const body = encodeClientHello({
        ...hello,
        extensions: hello.extensions.filter((e) => e.type !== ExtensionType.extended_master_secret),
      });
      const fragment = encodeHandshakeMessage({ msgType: f.msgType, messageSeq: f.messageSeq, body });
      return encodeRecord({ ...record, fragment });
    };
    r.client.send(SERVER, text('x'));
    await r.settle();
    assert.equal(r.serverGot.length, 0);
    const s = sessionError(r.serverErrors);
    assert.equal(s.alert, AlertDescription.decrypt_error);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.decrypt_error);
  });

  it('refuses a client without extended_master_secret when required', async () => {
    const r = rig({ server: { requireExtendedMasterSecret: true } });
    r.clientTap.rewrite = (bytes, index) => {
      if (index !== 1) return bytes;
      const record = parseDatagram(bytes).records[0]!;
      const f = parseHandshakeFragments(record.fragment)[0]!;
      const hello = decodeClientHello(f.body);
      const body = encodeClientHello({ ...hello, extensions: [] });
      return encodeRecord({
        ...record,
        fragment: encodeHandshakeMessage({ msgType: 1, messageSeq: f.messageSeq, body }),
      });
    };
    r.client.send(SERVER, text('x'));
    await r.settle();
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.handshake_failure);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.handshake_failure);
  });

  it('reports an application datagram over 2^14 bytes as too large instead of throwing', async () => {
    const r = rig();
    r.client.send(SERVER, text('x'));
    await r.settle();
    r.client.send(SERVER, new Uint8Array(2 ** 14 + 1));
    await r.settle();
    assert.equal((r.clientErrors[0] as { failure?: string } | undefined)?.failure, 'too-large');
    assert.deepEqual(r.client.stats, { handshakes: 0, sessions: 1 });
  });

  it('evicts the least recently active session beyond maxSessions and bounds half-open handshakes', async () => {
    const r = rig({ server: { limits: { maxSessions: 2, maxHandshakes: 1 } } });
    const clients = [1, 2, 3].map((i) =>
      DtlsChannel.client({
        channel: r.net.channel('10.0.1.1', 41000 + i),
        clock: r.clock,
        random: seededRandom(10 + i),
        psk: { identity: 'dev-1', key: KEY },
      }),
    );
    for (const [i, c] of clients.entries()) {
      r.clock.advance(10);
      c.send(SERVER, text(`c${i}`));
      await r.settle();
    }
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['c0', 'c1', 'c2'],
    );
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 2 });
    assert.deepEqual(clients[0]!.stats, { handshakes: 0, sessions: 0 }); // got close_notify
    assert.deepEqual(clients[2]!.stats, { handshakes: 0, sessions: 1 });
    // Two clients start at once: only one handshake is admitted, the other's hello is dropped
    // until a retransmission finds room.
    const late = [4, 5].map((i) =>
      DtlsChannel.client({
        channel: r.net.channel('10.0.1.1', 41000 + i),
        clock: r.clock,
        random: seededRandom(10 + i),
        psk: { identity: 'dev-1', key: KEY },
      }),
    );
    late[0]!.send(SERVER, text('a'));
    late[1]!.send(SERVER, text('b'));
    r.net.flush(); // both first hellos
    r.net.flush(); // both HVRs
    r.net.flush(); // both hellos with cookies: one admitted
    assert.equal(r.server.stats.handshakes, 1);
    await r.settle();
    r.clock.advance(1000);
    await r.settle();
    assert.deepEqual(
      r.serverGot
        .map((g) => g.text)
        .slice(3)
        .sort(),
      ['a', 'b'],
    );
  });

  it('fragments a flight larger than the MTU and the peer reassembles it', async () => {
    const r = rig({ server: { hint: 'h'.repeat(600), mtu: 256 } });
    r.client.send(SERVER, text('big'));
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['big'],
    );
    const flight4 = r.serverTap.sent.slice(1, -2);
    assert.ok(flight4.length >= 3, `flight 4 took ${flight4.length} datagrams`);
    assert.ok(flight4.every((d) => d.length <= 256));
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`completes over a lossy, duplicating, reordering network (seed ${seed})`, async () => {
      const clock = new FakeClock();
      const net = new MemoryNetwork({ schedule: () => {} });
      const lossy = (c: MemoryChannel, s: number): LossyChannel =>
        new LossyChannel(c, {
          seed: s,
          clock,
          send: { drop: 0.3, duplicate: 0.2, delay: { min: 0, max: 300, probability: 0.5 } },
        });
      const server = DtlsChannel.server({
        channel: lossy(net.channel(SERVER.address, SERVER.port), seed),
        clock,
        random: seededRandom(seed),
        psk: () => KEY,
      });
      const client = DtlsChannel.client({
        channel: lossy(net.channel('10.0.0.3', 40001), seed + 100),
        clock,
        random: seededRandom(seed + 1),
        psk: { identity: 'dev-1', key: KEY },
      });
      const got: string[] = [];
      const errors: unknown[] = [];
      server.onReceive((_p, b) => got.push(str(b)));
      server.onError((e) => errors.push(e));
      client.onError((e) => errors.push(e));
      for (let step = 0; step < 400 && got.length === 0; step++) {
        if (step % 20 === 0) client.send(SERVER, text(`try ${step}`)); // like CoAP retransmitting
        clock.advance(100);
        for (let i = 0; i < 5; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          net.flush();
        }
      }
      assert.ok(got.length > 0, `no data after the handshake; errors: ${errors.length}`);
      assert.deepEqual(server.stats.sessions, 1);
      await client.close();
      await server.close();
    });
  }

  it('survives mutated handshake datagrams from the peer without throwing or leaking state', async () => {
    const random = seededRandom(7);
    for (let round = 0; round < 30; round++) {
      const r = rig();
      r.client.send(SERVER, text('x'));
      await r.settle();
      const recorded = [...r.clientTap.sent, ...r.serverTap.sent];
      const attacker = r.net.channel('10.0.0.66', 1000 + round);
      for (let i = 0; i < 40; i++) {
        const base = recorded[random.int(recorded.length)]!.slice();
        for (let k = 0; k <= random.int(4); k++) base[random.int(base.length)] = random.int(256);
        // from the client's own address (into its session) and from a stranger
        r.clientTap.inner.send(SERVER, base);
        attacker.send(SERVER, base);
        r.serverTap.inner.send({ address: '10.0.0.2', port: 40000 }, base);
      }
      await r.settle();
      r.clock.advance(120_000);
      await r.settle();
      // No exception escaped a decoder: no socket-level report, no internal_error alert.
      for (const e of [...r.serverErrors, ...r.clientErrors]) {
        assert.notEqual(e.code, 'PETREL_ERR_CHANNEL_SOCKET', e.message);
        assert.notEqual((e as DtlsSessionError).alert, AlertDescription.internal_error, e.message);
      }
      assert.ok(r.server.stats.handshakes <= 1);
      assert.ok(r.server.stats.sessions <= 1);
      await r.server.close();
      await r.client.close();
    }
  });
});
