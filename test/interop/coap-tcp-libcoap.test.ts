// CoAP over TCP and TLS (RFC 8323) between Petrel and libcoap 4.3 (Debian libcoap3-bin), both ways,
// over real loopback sockets:
// - coap-client-notls registers, updates and de-registers at the LwM2M server's coap+tcp:// side,
//   and sends a Register too large for one block in Block1 blocks;
// - coap-client-openssl and coap-client-gnutls register at its coaps+tcp:// side with a PSK (and
//   fail the handshake with a wrong key);
// - Petrel's CoapReliableEndpoint (over TcpChannel.dialer) talks to coap-server-notls: CSM, Ping,
//   GET, and block-wise PUT/GET, plain and BERT; over TlsChannel.dialer to coap-server-openssl (PSK);
// - coap-client-notls downloads from Petrel's endpoint in BERT blocks and pings it while it waits.
//
// libcoap 4.3.1 quirks met here:
// - With -v 6 libcoap prints the messages its application sends and gets as
//   `v:1 t:CON c:2.01 i:0000 {01} [ ... ]` (a block-wise body once, whole); -v 7 adds every block on
//   the wire. It does so over TCP too, where there is no type or message id. A non-2.xx response also
//   goes to stderr as "4.00 <diagnostic>". Its requests carry Uri-Port.
// - Its daemons flush a message line only with the next log line: read their log once stopped
//   (SIGTERM ends them cleanly), not while they run.
// - Its Pong always has an empty token (and a Custody option), whatever the Ping's token: RFC 8323
//   §5.4 wants the Ping's token echoed. CoapReliableEndpoint takes an empty-token Pong as the
//   answer to its oldest Ping.
// - It never sends BERT itself (its large-body sender caps SZX at 6) but takes BERT blocks, and as
//   a server answers Block2 in BERT (8192 bytes a message) when both CSMs announce it.
// - Its default Max-Message-Size is 8388864: with it, our block-wise layer sends a 20 kB body in one
//   message (allowed), so the BERT tests lower it with -X to see blocks.
// - A Block1 body whose blocks start at SZX 6 and go on in BERT is answered 0.00 at the last block
//   by coap-server 4.3.1, and the request never completes. Our block-wise layer used to do that
//   when the peer's CSM arrived after the first block; a body now keeps the size it started with
//   (RFC 7959 §2.3 lets sizes only shrink): see the first-request test.
// - Its servers listen on UDP and TCP at -p and on DTLS and TLS at -p + 1, and print nothing when
//   ready (with -v 7 they log "created TCP endpoint").
// - coap-client-openssl/-gnutls exit 0 when the TLS handshake fails (they log "cannot send CoAP
//   pdu"): the tests check the server's side of it.
// Every process is killed in t.after; every wait is bounded.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { STREAM_FRAME_LIMIT } from '../../src/binding/coap/coap-stack.js';
import { BlockwiseLayer } from '../../src/coap/blockwise.js';
import { CoapConnectionClosedError } from '../../src/coap/errors.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, contentFormat, uriPath } from '../../src/coap/options.js';
import { CoapReliableEndpoint, DEFAULT_RELIABLE_MAX_MESSAGE_SIZE } from '../../src/coap/reliable-endpoint.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer, type LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Peer } from '../../src/transport/channel.js';
import { TcpChannel } from '../../src/transport/tcp-channel.js';
import { ChannelHandshakeError, TlsChannel } from '../../src/transport/tls-channel.js';
import { spawnPeer, waitUntil, type PeerProcess } from '../support/peer-process.js';
import { requirePeer, run } from '../support/peers.js';

// libcoap takes -k as text: the key is these ASCII bytes.
const KEY_TEXT = 'petrel-secret-16';
const IDENTITY = 'lc-id';
const WAIT = 10_000;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const path = (...segs: string[]) => segs.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) }));

/** The response codes in libcoap's -v 6/-v 7 message lines ("v:1 t:CON c:2.01 i:0000 ..."), in order. */
function responseCodes(output: string): string[] {
  return [...output.matchAll(/^v:1 t:\w+ c:(\d\.\d\d) /gm)].map((m) => m[1]!);
}

async function portFree(port: number, kind: 'tcp' | 'udp'): Promise<boolean> {
  if (kind === 'udp') {
    const sock = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => sock.close(() => resolve()));
    return ok;
  }
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((resolve) => server.close(() => resolve()));
  return ok;
}

/** A port free for both TCP and UDP on 127.0.0.1, with its successor too (libcoap's secure port). */
async function freeLibcoapPort(): Promise<number> {
  for (let i = 0; ; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const all = await Promise.all([
      portFree(port, 'udp'),
      portFree(port + 1, 'tcp'),
      portFree(port + 1, 'udp'),
    ]);
    if (all.every(Boolean) || i >= 20) return port;
  }
}

/**
 * A libcoap coap-server-* at -v 7 on a free port, ready once it logs its TCP (or TLS) endpoint;
 * killed in t.after.
 */
async function startLibcoapServer(
  t: TestContext,
  program: string,
  args: string[],
  ready: 'TCP' | 'TLS' = 'TCP',
): Promise<{ daemon: PeerProcess; port: number }> {
  const port = await freeLibcoapPort();
  const daemon = spawnPeer(program, ['-A', '127.0.0.1', '-p', String(port), '-v', '7', ...args], 30_000);
  t.after(() => daemon.stop());
  await daemon.waitFor(new RegExp(`created ${ready}\\s+endpoint`), WAIT);
  return { daemon, port };
}

/** The whole log of a libcoap daemon: stopped (SIGTERM), it flushes what it still buffers. */
async function finalLog(daemon: PeerProcess): Promise<string> {
  await daemon.stop();
  return daemon.output();
}

/** An LwM2M server on loopback with the given stream sides, stopped in t.after; events recorded. */
async function lwm2mServer(
  t: TestContext,
  options: Pick<LwM2mServerOptions, 'tcp' | 'tls'>,
): Promise<{ server: LwM2mServer; events: string[]; errors: unknown[] }> {
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    requestTimeout: 5000,
    ...options,
  });
  const events: string[] = [];
  const errors: unknown[] = [];
  for (const name of ['registered', 'updated', 'deregistered'] as const)
    server.on(name, (reg: Registration) => events.push(`${name} ${reg.endpoint} ${reg.transport}`));
  server.on('error', (e) => errors.push(e));
  await server.start();
  t.after(() => server.stop());
  return { server, events, errors };
}

describe('coap-client-notls at the LwM2M server over coap+tcp://', () => {
  it('Register (2.01, transport tcp), Update (2.04), De-register (2.02), then 4.04', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const { server, events } = await lwm2mServer(t, { tcp: { address: '127.0.0.1', port: 0 } });
    const base = `coap+tcp://127.0.0.1:${server.listening('tcp')!.port}`;
    const coap = (args: string[], uri: string) => run(client, ['-B', '5', '-v', '6', ...args, uri], WAIT);

    const reg = await coap(
      ['-m', 'post', '-t', '40', '-e', '</3/0>,</3303/0>'],
      `${base}/rd?ep=lc-tcp&lt=60&lwm2m=1.2`,
    );
    const regOut = reg.stdout + reg.stderr;
    assert.deepEqual(responseCodes(regOut), ['2.01'], regOut);
    const location = /c:2\.01 .*Location-Path:rd, Location-Path:([^\s,\]]+)/.exec(regOut)?.[1];
    assert.ok(location, regOut);
    const registration = await server.getRegistration('lc-tcp');
    assert.ok(registration);
    assert.equal(registration.transport, 'tcp');
    assert.equal(registration.lifetime, 60);
    assert.deepEqual(
      registration.objectLinks.map((l) => l.target),
      ['/3/0', '/3303/0'],
    );

    // Each coap-client run is a new connection (a new source port): the location still applies.
    const upd = await coap(['-m', 'post'], `${base}/rd/${location}?lt=90`);
    assert.deepEqual(responseCodes(upd.stdout + upd.stderr), ['2.04'], upd.stdout + upd.stderr);
    assert.equal((await server.getRegistration('lc-tcp'))?.lifetime, 90);

    const del = await coap(['-m', 'delete'], `${base}/rd/${location}`);
    assert.deepEqual(responseCodes(del.stdout + del.stderr), ['2.02'], del.stdout + del.stderr);
    assert.equal(await server.getRegistration('lc-tcp'), undefined);
    const again = await coap(['-m', 'delete'], `${base}/rd/${location}`);
    assert.deepEqual(responseCodes(again.stdout + again.stderr), ['4.04'], again.stdout + again.stderr);
    assert.deepEqual(events, ['registered lc-tcp tcp', 'updated lc-tcp tcp', 'deregistered lc-tcp tcp']);
  });

  it('a 4.4 kB Register goes in Block1 blocks of 512 (libcoap sends no BERT) and registers whole', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const { server } = await lwm2mServer(t, { tcp: { address: '127.0.0.1', port: 0 } });
    const dir = await mkdtemp(join(tmpdir(), 'petrel-lc-tcp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const links = Array.from({ length: 400 }, (_, i) => `</${10000 + i}/0>`).join(',');
    assert.ok(links.length > 4096);
    const file = join(dir, 'links.txt');
    await writeFile(file, links);
    const port = server.listening('tcp')!.port;
    const res = await run(
      client,
      [
        ...['-B', '5', '-v', '7', '-m', 'post', '-t', '40', '-b', '512', '-f', file],
        `coap+tcp://127.0.0.1:${port}/rd?ep=lc-big&lt=60&lwm2m=1.2`,
      ],
      WAIT,
    );
    const out = res.stdout + res.stderr;
    const blocks = Math.ceil(links.length / 512);
    const codes = responseCodes(out);
    // 2.31 Continue for every block but the last, then 2.01 with the Location.
    assert.deepEqual(codes, [...Array<string>(blocks - 1).fill('2.31'), '2.01'], out);
    assert.match(out, new RegExp(`Block1:${blocks - 1}/_/512`));
    assert.doesNotMatch(out, /BERT/);
    const registration = await server.getRegistration('lc-big');
    assert.ok(registration, out);
    assert.equal(registration.transport, 'tcp');
    assert.equal(registration.objectLinks.length, 400);
    assert.equal(registration.objectLinks.at(-1)?.target, '/10399/0');
  });
});

describe('libcoap clients at the LwM2M server over coaps+tcp:// (PSK)', () => {
  for (const backend of ['openssl', 'gnutls'] as const)
    it(`coap-client-${backend}: the bound ep registers (2.01), another ep gets 4.00, a wrong key fails the handshake`, async (t) => {
      const client = requirePeer(t, `coap-client-${backend}`, 'libcoap3-bin');
      if (!client) return;
      const credentials = new MemoryCredentialStore();
      await credentials.put({
        endpoint: 'lc-tls',
        psk: { identity: IDENTITY, key: Buffer.from(KEY_TEXT, 'utf8').toString('hex') },
      });
      const { server, events, errors } = await lwm2mServer(t, {
        tls: { address: '127.0.0.1', port: 0, credentials, hint: 'petrel-hint' },
      });
      const port = server.listening('tls')!.port;
      const register = async (key: string, ep: string): Promise<string> => {
        const r = await run(
          client,
          [
            ...['-B', '5', '-v', '6', '-k', key, '-u', IDENTITY, '-m', 'post', '-t', '40', '-e', '</3/0>'],
            `coaps+tcp://127.0.0.1:${port}/rd?ep=${ep}&lt=60&lwm2m=1.2`,
          ],
          WAIT,
        );
        return r.stdout + r.stderr;
      };

      const ok = await register(KEY_TEXT, 'lc-tls');
      assert.deepEqual(responseCodes(ok), ['2.01'], ok);
      // The identity hint reached libcoap's PSK callback.
      assert.match(ok, /Identity Hint 'petrel-hint' provided/);
      const registration = await server.getRegistration('lc-tls');
      assert.ok(registration, ok);
      assert.equal(registration.transport, 'tls');
      assert.deepEqual(registration.peer.identity, { psk: IDENTITY });

      const other = await register(KEY_TEXT, 'someone-else');
      assert.deepEqual(responseCodes(other), ['4.00'], other);
      assert.match(other, /not the endpoint bound to this PSK identity/);
      assert.equal(await server.getRegistration('someone-else'), undefined);

      const wrong = await register('wrong-secret-123', 'lc-tls-2');
      assert.deepEqual(responseCodes(wrong), [], wrong);
      assert.match(wrong, /cannot send CoAP pdu/);
      await waitUntil(
        () => errors.some((e) => e instanceof ChannelHandshakeError),
        WAIT,
        () => `a handshake error on the server, got ${errors.map(String).join('; ')}`,
      );
      assert.equal(await server.getRegistration('lc-tls-2'), undefined);
      assert.deepEqual(events, ['registered lc-tls tls']);
    });
});

/** Our RFC 8323 endpoint dialling over TCP, with the frame limit the CoAP stack uses; closed in t.after. */
function tcpClient(t: TestContext, bert: boolean): { endpoint: CoapReliableEndpoint; channel: TcpChannel } {
  const channel = TcpChannel.dialer({ maxFrameSize: STREAM_FRAME_LIMIT });
  const endpoint = new CoapReliableEndpoint({ channel, bert });
  t.after(async () => {
    await endpoint.close();
    await channel.close();
  });
  return { endpoint, channel };
}

describe("Petrel's CoapReliableEndpoint against coap-server-notls over coap+tcp://", () => {
  it('exchanges CSMs, GETs /.well-known/core and /time, and pings (libcoap answers with an empty-token Pong)', async (t) => {
    const program = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!program) return;
    // -X: the Max-Message-Size libcoap announces, to see it arrive in our endpoint.
    const { daemon, port } = await startLibcoapServer(t, program, ['-X', '65536']);
    const { endpoint, channel } = tcpClient(t, true);
    const peer: Peer = { address: '127.0.0.1', port };
    assert.equal(endpoint.peerCapabilities(peer), undefined);

    const wk = await endpoint.request(
      peer,
      { code: CoapCode.GET, options: path('.well-known', 'core') },
      { timeout: WAIT },
    );
    assert.equal(formatCode(wk.code), '2.05');
    assert.equal(contentFormat(wk), 40);
    assert.match(str(wk.payload), /<\/time>;if="clock";rt="ticks"/);
    // libcoap's CSM came before its response (RFC 8323 §5.3); ours reached it.
    assert.deepEqual(endpoint.peerCapabilities(peer), { maxMessageSize: 65536, blockWiseTransfer: true });
    assert.deepEqual(endpoint.blockCapacity(peer), { bert: true, maxMessageSize: 65536 });
    const time = await endpoint.request(
      peer,
      { code: CoapCode.GET, options: path('time') },
      { timeout: WAIT },
    );
    assert.equal(formatCode(time.code), '2.05');
    assert.match(str(time.payload), /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
    const missing = await endpoint.request(
      peer,
      { code: CoapCode.GET, options: path('nothing') },
      { timeout: WAIT },
    );
    assert.equal(formatCode(missing.code), '4.04');

    // libcoap's Pong carries no token (RFC 8323 §5.4 says the Ping's): an empty-token Pong
    // answers our oldest Ping.
    const pinged = await endpoint.ping(peer, { timeout: 2000 }).then(
      () => 'pong',
      (e: unknown) => e,
    );
    assert.equal(pinged, 'pong');
    // Everything went over the one connection.
    assert.equal(channel.connections, 1);
    assert.equal(endpoint.stats.malformed, 0);
    assert.equal(endpoint.stats.aborts, 0);
    const log = await finalLog(daemon);
    // Our CSM as libcoap read it.
    assert.match(
      log,
      new RegExp(
        `c:CSM i:0000 \\{\\} \\[ Max-Message-Size:${DEFAULT_RELIABLE_MAX_MESSAGE_SIZE}, Block-Wise-Transfer: \\]`,
      ),
    );
    assert.match(log, /c:Ping i:0000 \{[0-9a-f]{16}\} \[ \]\n(?:.*\n)*?v:1 t:CON c:Pong i:0000 \{\} /);
  });

  it('PUTs and GETs 20 kB through the block-wise layer: plain blocks of 1024 without BERT, BERT with it', async (t) => {
    const program = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!program) return;
    // -d: dynamic resources from PUT; -X 4200: BERT messages of a few KiB rather than one 20 kB body.
    const { daemon, port } = await startLibcoapServer(t, program, ['-d', '4', '-X', '4200']);
    const peer: Peer = { address: '127.0.0.1', port };
    const sent: Record<string, { put: number; get: number }> = {};
    for (const bert of [false, true]) {
      const { endpoint } = tcpClient(t, bert);
      const layer = new BlockwiseLayer(endpoint);
      const resource = bert ? 'bert' : 'plain';
      // A first exchange, so that the block size is chosen knowing libcoap's CSM (see the todo below).
      await endpoint.request(peer, { code: CoapCode.GET, options: path('time') }, { timeout: WAIT });
      const before = endpoint.stats.sent;
      const body = seededRandom(bert ? 2 : 1).bytes(20_000);
      const put = await layer.request(
        peer,
        { code: CoapCode.PUT, options: path(resource), payload: body },
        { timeout: WAIT },
      );
      assert.equal(formatCode(put.code), '2.01');
      const afterPut = endpoint.stats.sent;
      const got = await layer.request(
        peer,
        { code: CoapCode.GET, options: path(resource) },
        { timeout: WAIT },
      );
      assert.equal(formatCode(got.code), '2.05');
      assert.deepEqual(got.payload, body);
      sent[resource] = { put: afterPut - before, get: endpoint.stats.sent - afterPut };
    }
    // 20 blocks of 1024 each way without BERT (libcoap sends no BERT to a peer that did not offer it);
    // with BERT (SZX 7) both ways, a few multi-KiB messages.
    assert.deepEqual(sent.plain, { put: 20, get: 20 });
    assert.ok(sent.bert!.put < 10 && sent.bert!.get <= 3, JSON.stringify(sent.bert));
    const log = await finalLog(daemon);
    assert.match(log, /c:PUT .*Uri-Path:plain, Block1:19\/_\/1024/);
    assert.match(log, /c:2\.05 .*Block2:19\/_\/1024/);
    assert.match(log, /c:PUT .*Uri-Path:bert, Block1:0\/M\/BERT\(\d+\)/);
    assert.match(log, /c:2\.05 .*Block2:0\/M\/BERT\(8192\)/);
  });

  it('a 20 kB PUT as the first request of a connection, BERT on: the body keeps its first block size', async (t) => {
    const program = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!program) return;
    const { port } = await startLibcoapServer(t, program, ['-d', '4', '-X', '4200']);
    const { endpoint } = tcpClient(t, true);
    const layer = new BlockwiseLayer(endpoint);
    const put = await layer.request(
      { address: '127.0.0.1', port },
      { code: CoapCode.PUT, options: path('first'), payload: seededRandom(3).bytes(20_000) },
      { timeout: 2000 },
    );
    assert.equal(formatCode(put.code), '2.01');
  });
});

describe('coap-client-notls against our CoapReliableEndpoint over coap+tcp://', () => {
  it('downloads 20 kB in BERT blocks, and its keepalive Pings get our Pongs while a response is pending', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const channel = await TcpChannel.listen({
      address: '127.0.0.1',
      port: 0,
      maxFrameSize: STREAM_FRAME_LIMIT,
    });
    const endpoint = new CoapReliableEndpoint({ channel, bert: true });
    const timers: ReturnType<typeof setTimeout>[] = [];
    t.after(async () => {
      for (const timer of timers) clearTimeout(timer);
      await endpoint.close();
      await channel.close();
    });
    const layer = new BlockwiseLayer(endpoint);
    const body = seededRandom(7).bytes(20_000);
    layer.onRequest(({ message }) => {
      const key = uriPath(message).join('/');
      if (key === 'big') return { code: CoapCode.CONTENT, payload: body };
      if (key === 'slow')
        return new Promise((resolve) => {
          timers.push(setTimeout(() => resolve({ code: CoapCode.CONTENT, payload: text('late') }), 1500));
        });
      return { code: CoapCode.NOT_FOUND };
    });
    const base = `coap+tcp://127.0.0.1:${channel.local!.port}`;
    const dir = await mkdtemp(join(tmpdir(), 'petrel-lc-tcp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'big.bin');

    // -X 4200: libcoap's Max-Message-Size, so that our BERT blocks are a few KiB each.
    const down = await run(client, ['-B', '5', '-v', '7', '-X', '4200', '-o', file, `${base}/big`], WAIT);
    const out = down.stdout + down.stderr;
    assert.deepEqual(new Uint8Array(await readFile(file)), body, out);
    assert.match(out, /c:2\.05 .*Block2:0\/M\/BERT\(\d+\)/);
    const messages = responseCodes(out).length;
    assert.ok(messages >= 5 && messages < 20, `${messages} responses: BERT, not 1024-byte blocks\n${out}`);

    // -K 1: libcoap pings after a second without traffic; the response comes after 1.5 s.
    const slow = await run(client, ['-B', '5', '-v', '7', '-K', '1', `${base}/slow`], WAIT);
    const slowOut = slow.stdout + slow.stderr;
    assert.match(slowOut, /c:Ping i:0000 \{\} \[ \]/);
    assert.match(slowOut, /c:Pong i:0000 \{\} \[ \]/);
    assert.match(slowOut, /c:2\.05 .*:: 'late'/);
    assert.equal(endpoint.stats.malformed, 0);
    assert.equal(endpoint.stats.aborts, 0);
  });
});

describe("Petrel's CoapReliableEndpoint over TlsChannel against coap-server-openssl (PSK)", () => {
  it('GETs /.well-known/core and /time over TLS 1.3 and TLS 1.2; a wrong key fails the handshake', async (t) => {
    const program = requirePeer(t, 'coap-server-openssl', 'libcoap3-bin');
    if (!program) return;
    // -k: the PSK for any identity; TLS on -p + 1.
    const { port } = await startLibcoapServer(t, program, ['-k', KEY_TEXT, '-h', 'lc-hint'], 'TLS');
    const peer: Peer = { address: '127.0.0.1', port: port + 1 };
    const dial = (key: string, maxVersion: 'TLSv1.2' | 'TLSv1.3') => {
      const channel = TlsChannel.dialer({
        maxFrameSize: STREAM_FRAME_LIMIT,
        psk: { identity: 'petrel-client', key: text(key) },
        maxVersion,
      });
      const endpoint = new CoapReliableEndpoint({ channel, bert: true });
      const connected: Peer[] = [];
      const closed: { reason: string; error: Error | undefined }[] = [];
      channel.onConnect((p) => connected.push(p));
      channel.onDisconnect((_p, reason, error) => closed.push({ reason, error }));
      t.after(async () => {
        await endpoint.close();
        await channel.close();
      });
      return { channel, endpoint, connected, closed };
    };

    for (const [maxVersion, cipher] of [
      ['TLSv1.3', /^TLS_AES_128_GCM_SHA256$/],
      ['TLSv1.2', /^PSK-AES128-(CCM8|GCM-SHA256)$/],
    ] as const) {
      const { channel, endpoint, connected } = dial(KEY_TEXT, maxVersion);
      const wk = await endpoint.request(
        peer,
        { code: CoapCode.GET, options: path('.well-known', 'core') },
        { timeout: WAIT },
      );
      assert.equal(formatCode(wk.code), '2.05');
      assert.match(str(wk.payload), /<\/time>/);
      const time = await endpoint.request(
        peer,
        { code: CoapCode.GET, options: path('time') },
        { timeout: WAIT },
      );
      assert.equal(formatCode(time.code), '2.05');
      assert.match(str(time.payload), /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
      assert.deepEqual(endpoint.peerCapabilities(peer), { maxMessageSize: 8388864, blockWiseTransfer: true });
      assert.equal(connected.length, 1);
      assert.deepEqual(connected[0]!.identity, { psk: 'petrel-client' });
      const session = channel.sessionInfo(peer);
      assert.equal(session?.protocol, maxVersion);
      assert.match(session.cipher, cipher);
    }

    const { endpoint, closed } = dial('not-the-key', 'TLSv1.3');
    await assert.rejects(
      endpoint.request(peer, { code: CoapCode.GET, options: path('time') }, { timeout: WAIT }),
      CoapConnectionClosedError,
    );
    assert.equal(closed.length, 1);
    assert.equal(closed[0]!.reason, 'error');
    assert.ok(closed[0]!.error instanceof ChannelHandshakeError, String(closed[0]!.error));
  });
});
