// Our DTLS client against our DTLS server over the in-memory network (FakeClock, seeded random):
// the ECDHE_ECDSA handshake with raw public keys and X.509 in both directions, suite and
// certificate type negotiation, the verifier's identity on the Peer, failures with their alerts,
// the CBC suites, and a lossy network with fragmented flights.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel, type DtlsClientOptions, type DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import type { PeerVerifier } from '../../src/dtls/dtls-credentials.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import {
  CertificateType,
  ExtensionType,
  decodeExtension,
  encodeExtension,
  type RawExtension,
} from '../../src/dtls/extensions.js';
import { HandshakeType, encodeHandshakeMessage, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import {
  ECDHE_ECDSA_CBC_SHA256,
  ECDHE_ECDSA_CCM8,
  PSK_CBC_SHA256,
  PSK_CCM8,
} from '../../src/dtls/handshake-server.js';
import { decodeClientHello, decodeServerHello, encodeClientHello } from '../../src/dtls/hello-messages.js';
import { rawPublicKeyVerifier, x509ChainValidator, x509Verifier } from '../../src/dtls/peer-verification.js';
import { ContentType, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { seededRandom } from '../../src/random.js';
import { ChannelConfigError, type ChannelError, type Peer } from '../../src/transport/channel.js';
import { LossyChannel } from '../../src/transport/lossy-channel.js';
import { MemoryNetwork, type MemoryChannel } from '../../src/transport/memory-channel.js';
import { certDer, chainOf, privateKey, spkiDer } from '../support/dtls-fixtures.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);
const KEY = Uint8Array.from(Buffer.from('0123456789abcdeffedcba9876543210', 'hex'));
const SERVER: Peer = { address: '10.0.0.1', port: 5684 };

const serverRpk = { privateKey: privateKey('server-rpk') };
const clientRpk = { privateKey: privateKey('client-rpk') };
const serverX509 = { privateKey: privateKey('server'), certificateChain: chainOf('server') };
const clientX509 = { privateKey: privateKey('client'), certificateChain: chainOf('client') };
const trustClientRpk = rawPublicKeyVerifier(spkiDer('client-rpk'));
const trustServerRpk = rawPublicKeyVerifier(spkiDer('server-rpk'));
const trustClientCa = x509ChainValidator({ trustAnchors: [certDer('root-ca')] });
const trustServerCa = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });

type ServerOpts = Omit<DtlsServerOptions, 'channel' | 'clock' | 'random'>;
type ClientOpts = Omit<DtlsClientOptions, 'channel' | 'clock' | 'random'>;

class Recording {
  readonly sent: Uint8Array[] = [];
}

function tap(
  inner: MemoryChannel,
  rec: Recording,
  rewrite?: (bytes: Uint8Array) => Uint8Array,
): MemoryChannel {
  const send = inner.send.bind(inner);
  inner.send = (peer, bytes) => {
    rec.sent.push(bytes.slice());
    send(peer, rewrite ? rewrite(bytes) : bytes);
  };
  return inner;
}

/** Rewrites the ClientHello extensions in a datagram (the cookie is computed over what arrives). */
function rewriteHello(
  edit: (extensions: RawExtension[]) => RawExtension[],
): (bytes: Uint8Array) => Uint8Array {
  return (bytes) => {
    const { records } = parseDatagram(bytes);
    const out = records.map((rec) => {
      if (rec.epoch !== 0 || rec.type !== ContentType.handshake) return encodeRecord(rec);
      const [f] = parseHandshakeFragments(rec.fragment);
      if (!f || f.msgType !== HandshakeType.client_hello) return encodeRecord(rec);
      const hello = decodeClientHello(f.body);
      const body = encodeClientHello({ ...hello, extensions: edit(hello.extensions) });
      return encodeRecord({ ...rec, fragment: encodeHandshakeMessage({ ...f, body }) });
    });
    return Buffer.concat(out);
  };
}

interface Rig {
  net: MemoryNetwork;
  clock: FakeClock;
  server: DtlsChannel;
  client: DtlsChannel;
  serverSent: Recording;
  clientSent: Recording;
  serverGot: { peer: Peer; text: string }[];
  clientGot: { peer: Peer; text: string }[];
  serverErrors: ChannelError[];
  clientErrors: ChannelError[];
  settle(): Promise<void>;
}

function rig(
  server: ServerOpts,
  client: ClientOpts,
  mtu?: number,
  rewrite?: (bytes: Uint8Array, from: 'client' | 'server') => Uint8Array,
): Rig {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ schedule: () => {} });
  const serverSent = new Recording();
  const clientSent = new Recording();
  const s = DtlsChannel.server({
    channel: tap(
      net.channel(SERVER.address, SERVER.port),
      serverSent,
      rewrite && ((b) => rewrite(b, 'server')),
    ),
    clock,
    random: seededRandom(1),
    mtu,
    ...server,
  });
  const c = DtlsChannel.client({
    channel: tap(net.channel('10.0.0.2', 40000), clientSent, rewrite && ((b) => rewrite(b, 'client'))),
    clock,
    random: seededRandom(2),
    mtu,
    ...client,
  });
  const r: Rig = {
    net,
    clock,
    server: s,
    client: c,
    serverSent,
    clientSent,
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
  s.onReceive((peer, bytes) => {
    r.serverGot.push({ peer, text: str(bytes) });
    s.send(peer, text(`re: ${str(bytes)}`));
  });
  c.onReceive((peer, bytes) => r.clientGot.push({ peer, text: str(bytes) }));
  s.onError((e) => r.serverErrors.push(e));
  c.onError((e) => r.clientErrors.push(e));
  return r;
}

/** Runs one exchange: the client sends, the server answers. */
async function exchange(r: Rig): Promise<void> {
  r.client.send(SERVER, text('ping'));
  await r.settle();
}

function assertWorked(r: Rig): void {
  assert.deepEqual(r.serverErrors, []);
  assert.deepEqual(r.clientErrors, []);
  assert.deepEqual(
    r.serverGot.map((g) => g.text),
    ['ping'],
  );
  assert.deepEqual(
    r.clientGot.map((g) => g.text),
    ['re: ping'],
  );
}

function sessionError(errors: ChannelError[]): DtlsSessionError {
  const e = errors.find((x) => x instanceof DtlsSessionError);
  assert.ok(e, `expected a DtlsSessionError, got ${errors.map((x) => x.message).join('; ')}`);
  return e;
}

/** Every unfragmented epoch-0 handshake message (type, body) in the datagrams. */
function messages(datagrams: Uint8Array[]): { type: number; body: Uint8Array }[] {
  const out: { type: number; body: Uint8Array }[] = [];
  for (const d of datagrams)
    for (const rec of parseDatagram(d).records)
      if (rec.epoch === 0 && rec.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(rec.fragment))
          if (f.fragmentOffset === 0 && f.body.length === f.length)
            out.push({ type: f.msgType, body: f.body });
  return out;
}

function chosenSuite(r: Rig): number {
  const sh = messages(r.serverSent.sent).find((m) => m.type === HandshakeType.server_hello);
  assert.ok(sh, 'no ServerHello');
  return decodeServerHello(sh.body).cipherSuite;
}

function serverHelloExtensions(r: Rig): number[] {
  const sh = messages(r.serverSent.sent).find((m) => m.type === HandshakeType.server_hello)!;
  return decodeServerHello(sh.body).extensions.map((e) => e.type);
}

describe('DTLS ECDHE_ECDSA handshake (memory network)', () => {
  it('raw public keys both ways: CCM_8, the keys as identities, certificate types echoed', async () => {
    const r = rig(
      { certificate: serverRpk, verifyPeer: trustClientRpk },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
    );
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CCM8);
    assert.deepEqual(r.serverGot[0]!.peer.identity, { rpk: spkiDer('client-rpk') });
    assert.deepEqual(r.clientGot[0]!.peer.identity, { rpk: spkiDer('server-rpk') });
    const sh = messages(r.serverSent.sent).find((m) => m.type === HandshakeType.server_hello)!;
    const exts = decodeServerHello(sh.body).extensions;
    for (const type of [ExtensionType.client_certificate_type, ExtensionType.server_certificate_type]) {
      const ext = decodeExtension(
        exts.find((e) => e.type === type)!,
        'server',
      );
      assert.ok('types' in ext);
      assert.deepEqual(ext.types, [CertificateType.raw_public_key]);
    }
    // Flight 4: ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone.
    const flight4 = messages(r.serverSent.sent)
      .map((m) => m.type)
      .filter((t) => t !== HandshakeType.hello_verify_request);
    assert.deepEqual(flight4, [
      HandshakeType.server_hello,
      HandshakeType.certificate,
      HandshakeType.server_key_exchange,
      HandshakeType.certificate_request,
      HandshakeType.server_hello_done,
    ]);
    const flight5 = messages(r.clientSent.sent)
      .map((m) => m.type)
      .filter((t) => t !== HandshakeType.client_hello);
    assert.deepEqual(flight5, [
      HandshakeType.certificate,
      HandshakeType.client_key_exchange,
      HandshakeType.certificate_verify,
    ]);
  });

  it('X.509 both ways: chains validated, subjects as identities, no certificate type extensions', async () => {
    const r = rig(
      { certificate: serverX509, verifyPeer: trustClientCa },
      {
        certificate: clientX509,
        verifyPeer: x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 }),
        serverName: 'localhost',
      },
    );
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CCM8);
    assert.deepEqual(r.serverGot[0]!.peer.identity, {
      x509: { subject: 'O=Petrel Test, CN=petrel-dev-1', der: certDer('client') },
    });
    assert.deepEqual(r.clientGot[0]!.peer.identity, {
      x509: { subject: 'O=Petrel Test, CN=localhost', der: certDer('server') },
    });
    const exts = serverHelloExtensions(r);
    assert.equal(exts.includes(ExtensionType.client_certificate_type), false);
    assert.equal(exts.includes(ExtensionType.server_certificate_type), false);
    assert.ok(exts.includes(ExtensionType.extended_master_secret));
    assert.ok(exts.includes(ExtensionType.renegotiation_info));
    // SNI in the ClientHello.
    const hello = messages(r.clientSent.sent).find((m) => m.type === HandshakeType.client_hello)!;
    const sni = decodeClientHello(hello.body).extensions.find((e) => e.type === ExtensionType.server_name)!;
    assert.deepEqual(decodeExtension(sni, 'client'), { type: 'server_name', hostNames: ['localhost'] });
  });

  it('gives the verifier the SNI on the server and waits for an asynchronous verifier', async () => {
    const seen: (string | undefined)[] = [];
    const slow: PeerVerifier = async (credential, context) => {
      seen.push(context.serverName);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return credential.type === 'rpk' ? { rpk: credential.publicKey } : undefined;
    };
    const r = rig(
      { certificate: serverRpk, verifyPeer: slow },
      { certificate: clientRpk, verifyPeer: slow, serverName: 'lwm2m.example' },
    );
    r.client.send(SERVER, text('ping'));
    for (let i = 0; i < 10 && r.clientGot.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      await r.settle();
    }
    assertWorked(r);
    assert.deepEqual(seen.sort(), ['lwm2m.example', 'lwm2m.example']);
  });

  it('picks by the server preference among the suites it has credentials for', async () => {
    const both = { psk: () => KEY, certificate: serverRpk, verifyPeer: trustClientRpk };
    const client = {
      psk: { identity: 'dev-1', key: KEY },
      certificate: clientRpk,
      verifyPeer: trustServerRpk,
    };
    let r = rig(both, client);
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CCM8);
    // The server prefers PSK: PSK is used, the identity is the PSK identity.
    r = rig({ ...both, cipherSuites: [PSK_CCM8, ECDHE_ECDSA_CCM8] }, client);
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), PSK_CCM8);
    assert.deepEqual(r.serverGot[0]!.peer.identity, { psk: 'dev-1' });
    // A PSK-only server with a client offering both.
    r = rig({ psk: () => KEY }, client);
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), PSK_CCM8);
    // A certificate-only server with a client offering both.
    r = rig({ certificate: serverRpk, verifyPeer: trustClientRpk }, client);
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CCM8);
    // The client offers only CBC.
    r = rig(both, { ...client, cipherSuites: [ECDHE_ECDSA_CBC_SHA256, PSK_CBC_SHA256] });
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CBC_SHA256);
  });

  it('runs the CBC-SHA256 suites for PSK and ECDHE', async () => {
    let r = rig({ psk: () => KEY, cipherSuites: [PSK_CBC_SHA256] }, { psk: { identity: 'dev-1', key: KEY } });
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), PSK_CBC_SHA256);
    r = rig(
      { certificate: serverX509, verifyPeer: trustClientCa, cipherSuites: [ECDHE_ECDSA_CBC_SHA256] },
      { certificate: clientX509, verifyPeer: trustServerCa },
    );
    await exchange(r);
    assertWorked(r);
    assert.equal(chosenSuite(r), ECDHE_ECDSA_CBC_SHA256);
  });

  it('fails with handshake_failure when the suites do not meet (RPK client, X.509 server)', async () => {
    const r = rig(
      { certificate: serverX509, verifyPeer: trustClientCa },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
    );
    await exchange(r);
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.handshake_failure);
    assert.match(sessionError(r.serverErrors).message, /raw public key|X\.509/);
    assert.equal(sessionError(r.clientErrors).failure, 'alert-received');
    assert.equal(r.serverGot.length, 0);
  });

  it('refuses a wrong server key: bad_certificate from the client, received by the server', async () => {
    const r = rig(
      { certificate: serverRpk, verifyPeer: trustClientRpk },
      { certificate: clientRpk, verifyPeer: rawPublicKeyVerifier(spkiDer('client-rpk')) },
    );
    await exchange(r);
    const c = sessionError(r.clientErrors);
    assert.equal(c.failure, 'handshake-failed');
    assert.equal(c.alert, AlertDescription.bad_certificate);
    const s = sessionError(r.serverErrors);
    assert.equal(s.failure, 'alert-received');
    assert.equal(s.alert, AlertDescription.bad_certificate);
    assert.equal(r.serverGot.length, 0);
  });

  it('refuses a wrong client key on the server (undefined from the verifier: bad_certificate)', async () => {
    const r = rig(
      { certificate: serverRpk, verifyPeer: () => undefined },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
    );
    await exchange(r);
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.bad_certificate);
    assert.equal(sessionError(r.clientErrors).failure, 'alert-received');
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.bad_certificate);
    assert.equal(r.serverGot.length, 0);
  });

  it('sends the alert of a DtlsError thrown by the verifier (unknown_ca for a foreign chain)', async () => {
    const r = rig(
      { certificate: serverX509, verifyPeer: x509ChainValidator({ trustAnchors: [certDer('other-ca')] }) },
      { certificate: clientX509, verifyPeer: trustServerCa },
    );
    await exchange(r);
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.unknown_ca);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.unknown_ca);
  });

  it('refuses a certificate whose key the peer does not hold: decrypt_error', async () => {
    // The server presents the real server chain but signs with another key: the chain passes
    // the verifier, the ServerKeyExchange signature does not.
    const { privateKey: stranger } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const liar = rig(
      {
        certificate: { privateKey: stranger, certificateChain: chainOf('server') },
        verifyPeer: trustClientCa,
      },
      { certificate: clientX509, verifyPeer: trustServerCa },
    );
    await exchange(liar);
    assert.equal(sessionError(liar.clientErrors).alert, AlertDescription.decrypt_error);
    assert.match(sessionError(liar.clientErrors).message, /ServerKeyExchange signature/);
    // And the other way: a client presenting the server chain with another key fails CertificateVerify.
    const liar2 = rig(
      { certificate: serverX509, verifyPeer: x509ChainValidator({ trustAnchors: [certDer('root-ca')] }) },
      {
        certificate: { privateKey: stranger, certificateChain: chainOf('client') },
        verifyPeer: trustServerCa,
      },
    );
    await exchange(liar2);
    assert.equal(sessionError(liar2.serverErrors).alert, AlertDescription.decrypt_error);
    assert.match(sessionError(liar2.serverErrors).message, /CertificateVerify/);
    assert.equal(liar2.serverGot.length, 0);
  });

  it('refuses an expired server certificate with certificate_expired', async () => {
    const r = rig(
      {
        certificate: { privateKey: privateKey('expired'), certificateChain: chainOf('expired') },
        verifyPeer: trustClientCa,
      },
      { certificate: clientX509, verifyPeer: trustServerCa },
    );
    await exchange(r);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.certificate_expired);
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.certificate_expired);
  });

  it('negotiates certificate types: the server echoes its choice from the client lists', async () => {
    const echoed = (r: Rig, type: number): number[] | undefined => {
      const sh = messages(r.serverSent.sent).find((m) => m.type === HandshakeType.server_hello);
      const raw = sh && decodeServerHello(sh.body).extensions.find((e) => e.type === type);
      if (!raw) return undefined;
      const ext = decodeExtension(raw, 'server');
      return 'types' in ext ? ext.types : undefined;
    };
    const offer = (client: number[], server: number[]) =>
      rewriteHello((exts) => [
        ...exts.filter(
          (e) =>
            e.type !== ExtensionType.client_certificate_type &&
            e.type !== ExtensionType.server_certificate_type,
        ),
        encodeExtension({ type: 'client_certificate_type', types: client }, 'client'),
        encodeExtension({ type: 'server_certificate_type', types: server }, 'client'),
      ]);
    const { x509: X, raw_public_key: R } = CertificateType;
    // An RPK server: its own kind for the client when offered, and its own type.
    let r = rig(
      { certificate: serverRpk, verifyPeer: trustClientRpk },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
      undefined,
      offer([X, R], [X, R]),
    );
    await exchange(r); // the rewritten hello breaks the transcript: only the ServerHello matters
    assert.deepEqual(echoed(r, ExtensionType.client_certificate_type), [R]);
    assert.deepEqual(echoed(r, ExtensionType.server_certificate_type), [R]);
    // An X.509 server: the first type the client lists that we support, X.509 for itself.
    r = rig(
      { certificate: serverX509, verifyPeer: trustClientCa },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
      undefined,
      offer([7, R], [R, X]),
    );
    await exchange(r);
    assert.deepEqual(echoed(r, ExtensionType.client_certificate_type), [R]);
    assert.deepEqual(echoed(r, ExtensionType.server_certificate_type), [X]);
    // No type the server can present: no ECDHE, handshake_failure.
    r = rig(
      { certificate: serverX509, verifyPeer: trustClientCa },
      { certificate: clientRpk, verifyPeer: trustServerRpk },
      undefined,
      offer([R], [R]),
    );
    await exchange(r);
    assert.equal(sessionError(r.serverErrors).alert, AlertDescription.handshake_failure);
  });

  it('refuses a ServerHello with a certificate type extension it did not send (unsupported_extension)', async () => {
    // An X.509 client sends no type extensions; make it look to the server as if it accepted a
    // raw server key: the RPK server's echo is an extension our client never sent.
    const r = rig(
      { certificate: serverRpk, verifyPeer: trustClientRpk },
      { certificate: clientX509, verifyPeer: trustServerCa },
      undefined,
      rewriteHello((exts) => [
        ...exts,
        encodeExtension(
          { type: 'server_certificate_type', types: [CertificateType.raw_public_key] },
          'client',
        ),
      ]),
    );
    await exchange(r);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.unsupported_extension);
  });

  it('checks the options: credentials, verifier, P-256', () => {
    const net = new MemoryNetwork({ schedule: () => {} });
    const channel = net.channel('10.0.0.9', 1);
    assert.throws(() => DtlsChannel.server({ channel }), ChannelConfigError);
    assert.throws(() => DtlsChannel.client({ channel, certificate: clientRpk }), /verifyPeer/);
    const { privateKey: p384 } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    assert.throws(
      () => DtlsChannel.client({ channel, certificate: { privateKey: p384 }, verifyPeer: trustServerRpk }),
      /P-256/,
    );
    assert.throws(
      () =>
        DtlsChannel.client({ channel, psk: { identity: 'a', key: KEY }, cipherSuites: [ECDHE_ECDSA_CCM8] }),
      /matches/,
    );
    assert.throws(() => DtlsChannel.server({ channel, psk: () => KEY, cipherSuites: [0x1301] }), /0x1301/);
  });

  it('an X.509 verifier refuses a raw key with unsupported_certificate', async () => {
    const r = rig(
      { certificate: serverRpk, verifyPeer: trustClientRpk },
      { certificate: clientRpk, verifyPeer: trustServerCa },
    );
    await exchange(r);
    assert.equal(sessionError(r.clientErrors).alert, AlertDescription.unsupported_certificate);
  });

  it('survives corrupted handshake messages in flight: only DtlsError alerts, no internal_error', async () => {
    const random = seededRandom(11);
    const configs: [ServerOpts, ClientOpts][] = [
      [
        { certificate: serverRpk, verifyPeer: trustClientRpk },
        { certificate: clientRpk, verifyPeer: trustServerRpk },
      ],
      [
        { certificate: serverX509, verifyPeer: trustClientCa },
        { certificate: clientX509, verifyPeer: trustServerCa },
      ],
    ];
    let failures = 0;
    for (let round = 0; round < 60; round++) {
      const [server, client] = configs[round % 2]!;
      const r = rig(server, client, undefined, (bytes) => {
        if (random.next() > 0.3 || bytes.length <= 26) return bytes;
        const out = bytes.slice();
        const at = 13 + random.int(out.length - 13); // past the first record header
        out[at] = out[at]! ^ (1 + random.int(255));
        return out;
      });
      await exchange(r);
      r.clock.advance(120_000);
      await r.settle();
      for (const e of [...r.serverErrors, ...r.clientErrors]) {
        assert.notEqual(e.code, 'PETREL_ERR_CHANNEL_SOCKET', e.message);
        assert.notEqual((e as DtlsSessionError).alert, AlertDescription.internal_error, e.message);
      }
      if (r.serverGot.length === 0) failures++;
      assert.ok(r.server.stats.handshakes <= 1);
      await r.server.close();
      await r.client.close();
    }
    assert.ok(failures > 5, `only ${failures} of 60 runs failed: the corruption did not bite`);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`completes with X.509 over a lossy network with a small MTU (seed ${seed})`, async () => {
      const clock = new FakeClock();
      const net = new MemoryNetwork({ schedule: () => {} });
      const lossy = (c: MemoryChannel, s: number): LossyChannel =>
        new LossyChannel(c, {
          seed: s,
          clock,
          send: { drop: 0.2, duplicate: 0.2, delay: { min: 0, max: 300, probability: 0.5 } },
        });
      const sent: number[] = [];
      const serverChannel = lossy(net.channel(SERVER.address, SERVER.port), seed);
      const send = serverChannel.send.bind(serverChannel);
      serverChannel.send = (p, b) => {
        sent.push(b.length);
        send(p, b);
      };
      const server = DtlsChannel.server({
        channel: serverChannel,
        clock,
        random: seededRandom(seed),
        mtu: 300,
        certificate: serverX509,
        verifyPeer: trustClientCa,
      });
      const client = DtlsChannel.client({
        channel: lossy(net.channel('10.0.0.3', 40001), seed + 100),
        clock,
        random: seededRandom(seed + 1),
        mtu: 300,
        certificate: clientX509,
        verifyPeer: trustServerCa,
      });
      const got: Peer[] = [];
      server.onReceive((p) => got.push(p));
      for (let step = 0; step < 600 && got.length === 0; step++) {
        if (step % 20 === 0) client.send(SERVER, text(`try ${step}`));
        clock.advance(100);
        for (let i = 0; i < 5; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          net.flush();
        }
      }
      assert.ok(got.length > 0, 'no data after the handshake');
      assert.equal(
        (got[0]!.identity as { x509: { subject: string } }).x509.subject,
        'O=Petrel Test, CN=petrel-dev-1',
      );
      assert.ok(Math.max(...sent) <= 300, `a datagram of ${Math.max(...sent)} bytes`);
      await client.close();
      await server.close();
    });
  }
});
