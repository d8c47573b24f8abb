// Session resumption (RFC 5246 §7.3, RFC 6347) between our DTLS client and server over the
// in-memory network (FakeClock): the abbreviated flights on the wire, identities and data, the
// extended master secret rules (RFC 7627 §5.3), expiry and eviction, a PSK identity removed from
// the store, an unknown session_id, loss of the client's last flight, and the SessionCache itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel, type DtlsClientOptions, type DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { ExtensionType } from '../../src/dtls/extensions.js';
import { HandshakeType, encodeHandshakeMessage, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import { decodeClientHello, decodeServerHello, encodeClientHello } from '../../src/dtls/hello-messages.js';
import { rawPublicKeyVerifier } from '../../src/dtls/peer-verification.js';
import { ContentType, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { SessionCache, type CachedSession } from '../../src/dtls/session-cache.js';
import { seededRandom } from '../../src/random.js';
import type { ChannelError, Channel, Peer } from '../../src/transport/channel.js';
import { LossyChannel } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork, type MemoryChannel } from '../../src/transport/memory-channel.js';
import { privateKey, spkiDer } from '../support/dtls-fixtures.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const KEY = Uint8Array.from(Buffer.from('0123456789abcdeffedcba9876543210', 'hex'));
const SERVER: Peer = { address: '10.0.0.1', port: 5684 };
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

type ServerOpts = Omit<DtlsServerOptions, 'channel' | 'clock' | 'random'>;
type ClientOpts = Omit<DtlsClientOptions, 'channel' | 'clock' | 'random'>;
type Rewrite = (bytes: Uint8Array) => Uint8Array | undefined;

const pskServer = (store: Map<string, Uint8Array>): ServerOpts => ({ psk: (id) => store.get(str(id)) });
const pskClient = (identity = 'dev-1', key = KEY): ClientOpts => ({ psk: { identity, key } });
const rpkServer: ServerOpts = {
  certificate: { privateKey: privateKey('server-rpk') },
  verifyPeer: rawPublicKeyVerifier(spkiDer('client-rpk')),
};
const rpkClient: ClientOpts = {
  certificate: { privateKey: privateKey('client-rpk') },
  verifyPeer: rawPublicKeyVerifier(spkiDer('server-rpk')),
};

/** Records what a channel sends; `rewrite` may change a datagram or drop it (undefined). */
function tap(inner: MemoryChannel, sent: Uint8Array[], rewrite?: Rewrite): Channel {
  const send = inner.send.bind(inner);
  inner.send = (peer, bytes) => {
    const out = rewrite ? rewrite(bytes) : bytes;
    if (!out) return;
    sent.push(out.slice());
    send(peer, out);
  };
  return inner;
}

interface Client {
  channel: DtlsChannel;
  sent: Uint8Array[];
  got: { peer: Peer; text: string }[];
  errors: ChannelError[];
}

class Rig {
  readonly clock = new FakeClock();
  readonly net = new MemoryNetwork({ schedule: () => {} });
  readonly serverSent: Uint8Array[] = [];
  readonly serverGot: { peer: Peer; text: string }[] = [];
  readonly serverErrors: ChannelError[] = [];
  readonly server: DtlsChannel;
  #port = 40000;

  constructor(server: ServerOpts) {
    this.server = DtlsChannel.server({
      channel: tap(this.net.channel(SERVER.address, SERVER.port), this.serverSent),
      clock: this.clock,
      random: seededRandom(1),
      ...server,
    });
    this.server.onReceive((peer, bytes) => {
      this.serverGot.push({ peer, text: str(bytes) });
      this.server.send(peer, text(`re: ${str(bytes)}`));
    });
    this.server.onError((e) => this.serverErrors.push(e));
  }

  /** A new client channel (own port); `options.sessionCache` may carry an earlier one's cache. */
  client(options: ClientOpts, rewrite?: Rewrite): Client {
    const port = this.#port++;
    const sent: Uint8Array[] = [];
    const channel = DtlsChannel.client({
      channel: tap(this.net.channel('10.0.0.2', port), sent, rewrite),
      clock: this.clock,
      random: seededRandom(port),
      ...options,
    });
    const c: Client = { channel, sent, got: [], errors: [] };
    channel.onReceive((peer, bytes) => c.got.push({ peer, text: str(bytes) }));
    channel.onError((e) => c.errors.push(e));
    return c;
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.net.flush() === 0 && this.net.pending === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.net.pending === 0) return;
      }
    }
  }

  /** The client sends `message`, the server answers; resolves when the network is quiet. */
  async exchange(c: Client, message = 'ping'): Promise<void> {
    c.channel.send(SERVER, text(message));
    await this.settle();
  }

  /** The server's datagrams from index `from` on. */
  serverSince(from: number): Uint8Array[] {
    return this.serverSent.slice(from);
  }
}

/** The epoch-0 handshake message types in datagrams, and how many ChangeCipherSpec records. */
function wire(datagrams: Uint8Array[]): { types: number[]; ccs: number } {
  const types: number[] = [];
  let ccs = 0;
  for (const d of datagrams)
    for (const rec of parseDatagram(d, { cidLength: 6 }).records) {
      if (rec.epoch === 0 && rec.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(rec.fragment))
          if (f.fragmentOffset === 0) types.push(f.msgType);
      if (rec.type === ContentType.change_cipher_spec) ccs++;
    }
  return { types, ccs };
}

/** The session_id of the last ServerHello in datagrams. */
function serverSessionId(datagrams: Uint8Array[]): string {
  let id: string | undefined;
  for (const d of datagrams)
    for (const rec of parseDatagram(d).records)
      if (rec.epoch === 0 && rec.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(rec.fragment))
          if (f.msgType === HandshakeType.server_hello) id = hexOf(decodeServerHello(f.body).sessionId);
  assert.ok(id !== undefined, 'no ServerHello');
  return id;
}

/** Drops the extended_master_secret extension from the client's hellos (cookie over the result). */
const withoutEms: Rewrite = (bytes) => {
  const { records } = parseDatagram(bytes);
  return Buffer.concat(
    records.map((rec) => {
      const [f] =
        rec.type === ContentType.handshake && rec.epoch === 0 ? parseHandshakeFragments(rec.fragment) : [];
      if (!f || f.msgType !== HandshakeType.client_hello) return encodeRecord(rec);
      const hello = decodeClientHello(f.body);
      const extensions = hello.extensions.filter((e) => e.type !== ExtensionType.extended_master_secret);
      const body = encodeClientHello({ ...hello, extensions });
      return encodeRecord({ ...rec, fragment: encodeHandshakeMessage({ ...f, body }) });
    }),
  );
};

function assertData(rig: Rig, c: Client, message: string): void {
  assert.deepEqual(rig.serverErrors, []);
  assert.deepEqual(c.errors, []);
  assert.equal(rig.serverGot.at(-1)?.text, message);
  assert.equal(c.got.at(-1)?.text, `re: ${message}`);
}

/** A full handshake of a first client, closed again; its cache goes to the next one. */
async function firstSession(
  rig: Rig,
  options: ClientOpts,
): Promise<{ cache: SessionCache; sessionId: string }> {
  const first = rig.client(options);
  await rig.exchange(first, 'first');
  assertData(rig, first, 'first');
  const sessionId = serverSessionId(rig.serverSent);
  assert.equal(sessionId.length, 64, 'a 32-byte session_id');
  const cache = first.channel.sessionCache!;
  await first.channel.close();
  await rig.settle();
  return { cache, sessionId };
}

describe('DTLS session resumption (abbreviated handshake)', () => {
  it('PSK: a new client channel with the old cache resumes: ServerHello+CCS+Finished, no ClientKeyExchange', async () => {
    const rig = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const { cache, sessionId } = await firstSession(rig, pskClient());
    const mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(second, 'again');
    assertData(rig, second, 'again');
    const server = wire(rig.serverSince(mark));
    // The cookie round, then the abbreviated flight.
    assert.deepEqual(server.types, [HandshakeType.hello_verify_request, HandshakeType.server_hello]);
    assert.equal(server.ccs, 1);
    const client = wire(second.sent);
    assert.deepEqual(client.types, [HandshakeType.client_hello, HandshakeType.client_hello]);
    assert.equal(client.ccs, 1);
    assert.equal(serverSessionId(rig.serverSince(mark)), sessionId, 'the same session_id');
    assert.deepEqual(rig.serverGot.at(-1)!.peer.identity, { psk: 'dev-1' });
    assert.deepEqual(second.got.at(-1)!.peer.identity, { psk: 'dev-1' });
    // The Connection ID is negotiated on resumption too (RFC 9146).
    assert.ok(rig.serverGot.at(-1)!.peer.connectionId, 'a CID session');
    // More data both ways over the resumed session.
    await rig.exchange(second, 'more');
    assertData(rig, second, 'more');
    assert.deepEqual(rig.server.stats, { handshakes: 0, sessions: 1 });
  });

  it('ECDHE with raw public keys: no Certificate, no key exchange, the verified identities kept', async () => {
    const rig = new Rig(rpkServer);
    const { cache } = await firstSession(rig, rpkClient);
    const firstServerIdentity = rig.serverGot.at(-1)!.peer.identity;
    const mark = rig.serverSent.length;
    const second = rig.client({ ...rpkClient, sessionCache: cache });
    await rig.exchange(second, 'again');
    assertData(rig, second, 'again');
    const server = wire(rig.serverSince(mark));
    assert.ok(!server.types.includes(HandshakeType.certificate), 'no server Certificate');
    assert.ok(!server.types.includes(HandshakeType.server_key_exchange));
    const client = wire(second.sent).types;
    assert.ok(
      !client.includes(HandshakeType.certificate) && !client.includes(HandshakeType.client_key_exchange),
    );
    assert.deepEqual(rig.serverGot.at(-1)!.peer.identity, firstServerIdentity);
    assert.deepEqual(rig.serverGot.at(-1)!.peer.identity, { rpk: spkiDer('client-rpk') });
    assert.deepEqual(second.got.at(-1)!.peer.identity, { rpk: spkiDer('server-rpk') });
  });

  it('the same client channel resumes after the server closed the session (idle timeout)', async () => {
    const rig = new Rig({ ...pskServer(new Map([['dev-1', KEY]])), limits: { idleTimeout: 5000 } });
    const c = rig.client(pskClient());
    await rig.exchange(c, 'one');
    rig.clock.advance(6000); // close_notify to the client
    await rig.settle();
    assert.deepEqual(rig.server.stats, { handshakes: 0, sessions: 0 });
    assert.equal(c.channel.session(SERVER), undefined);
    const mark = rig.serverSent.length;
    await rig.exchange(c, 'two');
    assertData(rig, c, 'two');
    assert.ok(!wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done), 'abbreviated');
  });

  it('a full handshake when the session is unknown (wrong session_id); the new one is then resumable', async () => {
    const rig = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const { cache, sessionId } = await firstSession(rig, pskClient());
    rig.server.sessionCache!.clear(); // the server forgot every session
    let mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(second, 'again');
    assertData(rig, second, 'again');
    assert.ok(wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done), 'full handshake');
    const newId = serverSessionId(rig.serverSince(mark));
    assert.notEqual(newId, sessionId, 'a new session_id');
    await second.channel.close();
    mark = rig.serverSent.length;
    const third = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(third, 'third');
    assertData(rig, third, 'third');
    assert.equal(serverSessionId(rig.serverSince(mark)), newId, 'the client remembered the new session');
    assert.ok(!wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done));
  });

  it('RFC 7627 §5.3: a session with EMS is not resumed by a hello without it', async () => {
    const rig = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const { cache, sessionId } = await firstSession(rig, pskClient());
    const mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient(), sessionCache: cache }, withoutEms);
    await rig.exchange(second, 'again');
    const server = wire(rig.serverSince(mark));
    assert.ok(server.types.includes(HandshakeType.server_hello_done), 'a full handshake');
    assert.notEqual(serverSessionId(rig.serverSince(mark)), sessionId);
  });

  it('RFC 7627 §5.3: a session without EMS is not resumed by a hello that offers it', async () => {
    const rig = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const { cache, sessionId } = await firstSession(rig, pskClient());
    // Make the server's entry a session that was negotiated without EMS.
    const serverCache = rig.server.sessionCache!;
    const entry = serverCache.get(sessionId)!;
    assert.ok(entry.extendedMasterSecret);
    serverCache.set(sessionId, { ...entry, extendedMasterSecret: false });
    const mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(second, 'again');
    assertData(rig, second, 'again'); // the full handshake completes
    assert.ok(wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done));
    assert.notEqual(serverSessionId(rig.serverSince(mark)), sessionId);
  });

  it('an expired or evicted session gets a full handshake; the server cache stays bounded', async () => {
    const rig = new Rig({
      ...pskServer(
        new Map([
          ['dev-1', KEY],
          ['dev-2', KEY],
        ]),
      ),
      sessionCache: { lifetime: 60_000, maxEntries: 2 },
    });
    const { cache } = await firstSession(rig, pskClient());
    rig.clock.advance(61_000);
    let mark = rig.serverSent.length;
    const late = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(late, 'late');
    assertData(rig, late, 'late');
    assert.ok(wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done), 'expired: full');
    await late.channel.close();
    // Three more sessions: the server keeps two, the oldest (dev-1's) goes.
    for (const id of ['dev-2', 'dev-2', 'dev-2']) {
      const other = rig.client(pskClient(id));
      await rig.exchange(other, id);
      await other.channel.close();
    }
    assert.equal(rig.server.sessionCache!.size, 2);
    mark = rig.serverSent.length;
    const evicted = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(evicted, 'evicted');
    assertData(rig, evicted, 'evicted');
    assert.ok(wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done), 'evicted: full');
  });

  it('a PSK identity removed from the store is not resumed: the full handshake fails with unknown_psk_identity', async () => {
    const store = new Map([['dev-1', KEY]]);
    const lookups: string[] = [];
    const rig = new Rig({
      psk: (id) => {
        lookups.push(str(id));
        return Promise.resolve(store.get(str(id))); // asynchronous, as a database would be
      },
    });
    const { cache } = await firstSession(rig, pskClient());
    store.delete('dev-1');
    lookups.length = 0;
    const mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient(), sessionCache: cache });
    await rig.exchange(second, 'again');
    assert.ok(wire(rig.serverSince(mark)).types.includes(HandshakeType.server_hello_done), 'full handshake');
    assert.deepEqual(lookups, ['dev-1', 'dev-1'], 'once for the resumption, once in the full handshake');
    const failure = rig.serverErrors.find((e) => e instanceof DtlsSessionError);
    assert.ok(failure instanceof DtlsSessionError);
    assert.equal(failure.alert, AlertDescription.unknown_psk_identity);
    assert.deepEqual(
      rig.serverGot.map((g) => g.text),
      ['first'],
    );
    assert.equal(cache.size, 0, 'the client forgot the session it could not resume');
  });

  it('a PSK whose key changed is not resumed', async () => {
    const store = new Map([['dev-1', KEY]]);
    const rig = new Rig(pskServer(store));
    const { cache } = await firstSession(rig, pskClient());
    const newKey = new Uint8Array(16).fill(9);
    store.set('dev-1', newKey);
    const mark = rig.serverSent.length;
    const second = rig.client({ ...pskClient('dev-1', newKey), sessionCache: cache });
    await rig.exchange(second, 'again');
    // The cache key includes the client's credentials: the new key offers no session at all.
    assert.equal(decodeHelloSessionId(second.sent), '');
    assertData(rig, second, 'again');
    // And a client still offering the old session (same cache entry, old key) gets a full handshake.
    const third = rig.client({ ...pskClient(), sessionCache: cache });
    const mark3 = rig.serverSent.length;
    await rig.exchange(third, 'old');
    assert.notEqual(decodeHelloSessionId(third.sent), '');
    assert.ok(wire(rig.serverSince(mark3)).types.includes(HandshakeType.server_hello_done));
    assert.ok(mark3 > mark);
  });

  it('the client final flight lost: the server retransmits its flight and the client repeats its own', async () => {
    const rig = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const { cache } = await firstSession(rig, pskClient());
    let dropped = 0;
    const second = rig.client({ ...pskClient(), sessionCache: cache }, (bytes) => {
      if (dropped === 0 && wire([bytes]).ccs > 0) {
        dropped++;
        return undefined; // the client's CCS+Finished (and the data after it) never arrive
      }
      return bytes;
    });
    second.channel.send(SERVER, text('lost'));
    await rig.settle();
    assert.equal(dropped, 1);
    assert.deepEqual(rig.server.stats, { handshakes: 1, sessions: 0 }, 'the server waits for the Finished');
    const mark = rig.serverSent.length;
    rig.clock.advance(1000); // the server's retransmission timer
    await rig.settle();
    const resent = wire(rig.serverSince(mark));
    assert.deepEqual(resent.types, [HandshakeType.server_hello]);
    assert.equal(resent.ccs, 1);
    assert.deepEqual(rig.server.stats, { handshakes: 0, sessions: 1 });
    assert.deepEqual(rig.serverErrors, []);
    await rig.exchange(second, 'after');
    assertData(rig, second, 'after');
  });

  it('completes over a lossy network (drops, duplicates, delays)', async () => {
    for (const seed of [1, 2, 3]) {
      const clock = new FakeClock();
      const net = new MemoryNetwork({ schedule: () => {} });
      const lossy = (c: MemoryChannel, s: number): LossyChannel =>
        new LossyChannel(c, {
          seed: s,
          clock,
          send: { drop: 0.25, duplicate: 0.2, delay: { min: 0, max: 300, probability: 0.5 } },
        });
      const sent: Uint8Array[] = [];
      const serverChannel = lossy(net.channel(SERVER.address, SERVER.port), seed);
      const send = serverChannel.send.bind(serverChannel);
      serverChannel.send = (p, b) => {
        sent.push(b.slice());
        send(p, b);
      };
      const server = DtlsChannel.server({
        channel: serverChannel,
        clock,
        random: seededRandom(seed),
        psk: () => KEY,
      });
      const got: Peer[] = [];
      server.onReceive((p, bytes) => {
        got.push(p);
        server.send(p, bytes);
      });
      const cache = new SessionCache(clock);
      const run = async (port: number): Promise<void> => {
        const client = DtlsChannel.client({
          channel: lossy(net.channel('10.0.0.3', port), seed + port),
          clock,
          random: seededRandom(seed + port),
          psk: { identity: 'dev-1', key: KEY },
          sessionCache: cache,
        });
        const echoed: number[] = [];
        client.onReceive(() => echoed.push(1));
        const before = got.length;
        for (let step = 0; step < 600 && (got.length === before || echoed.length === 0); step++) {
          if (step % 20 === 0) client.send(SERVER, text(`try ${step}`));
          clock.advance(100);
          for (let i = 0; i < 5; i++) {
            await new Promise((resolve) => setImmediate(resolve));
            net.flush();
          }
        }
        assert.ok(got.length > before && echoed.length > 0, `seed ${seed}: no data both ways`);
        await client.close();
      };
      await run(41000);
      const mark = sent.length;
      await run(41001);
      assert.ok(
        !wire(sent.slice(mark)).types.includes(HandshakeType.server_hello_done),
        `seed ${seed}: the second handshake was abbreviated`,
      );
      assert.deepEqual(got.at(-1)!.identity, { psk: 'dev-1' });
      await server.close();
    }
  });

  it('sessionCache: false gives no session_id on the server and offers none on the client', async () => {
    const rig = new Rig({ ...pskServer(new Map([['dev-1', KEY]])), sessionCache: false });
    assert.equal(rig.server.sessionCache, undefined);
    const c = rig.client(pskClient());
    await rig.exchange(c);
    assert.equal(serverSessionId(rig.serverSent), '');
    const rig2 = new Rig(pskServer(new Map([['dev-1', KEY]])));
    const c2 = rig2.client({ ...pskClient(), sessionCache: false });
    await rig2.exchange(c2);
    assert.equal(c2.channel.sessionCache, undefined);
    await c2.channel.close();
    const c3 = rig2.client({ ...pskClient(), sessionCache: false });
    await rig2.exchange(c3);
    assert.equal(decodeHelloSessionId(c3.sent), '');
  });
});

describe('SessionCache', () => {
  const session = (n: number): CachedSession => ({
    sessionId: new Uint8Array(32).fill(n),
    masterSecret: new Uint8Array(48),
    cipherSuite: 0xc0a8,
    extendedMasterSecret: true,
    identity: { psk: `dev-${n}` },
  });

  it('is an LRU bounded by maxEntries, with a lifetime from the full handshake', () => {
    const clock = new FakeClock();
    const cache = new SessionCache(clock, { maxEntries: 2, lifetime: 1000 });
    cache.set('a', session(1));
    cache.set('b', session(2));
    assert.ok(cache.get('a')); // a is now the most recently used
    cache.set('c', session(3));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined, 'the least recently used went');
    assert.ok(cache.get('a') && cache.get('c'));
    clock.advance(1000);
    assert.equal(cache.get('a'), undefined, 'expired');
    assert.equal(cache.size, 1);
  });

  it('checks its options', () => {
    const clock = new FakeClock();
    assert.throws(() => new SessionCache(clock, { maxEntries: 0 }), /maxEntries/);
    assert.throws(() => new SessionCache(clock, { lifetime: -1 }), /lifetime/);
  });
});

/** The session_id of the client's last ClientHello ('' for none). */
function decodeHelloSessionId(datagrams: Uint8Array[]): string {
  let id: string | undefined;
  for (const d of datagrams)
    for (const rec of parseDatagram(d).records)
      if (rec.epoch === 0 && rec.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(rec.fragment))
          if (f.msgType === HandshakeType.client_hello) id = hexOf(decodeClientHello(f.body).sessionId);
  assert.ok(id !== undefined, 'no ClientHello');
  return id;
}
