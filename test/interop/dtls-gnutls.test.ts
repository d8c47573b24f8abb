// Interop of our DtlsChannel (PSK: TLS_PSK_WITH_AES_128_CCM_8, and TLS_PSK_WITH_AES_128_CBC_SHA256)
// with GnuTLS (Debian gnutls-bin) over real UDP on 127.0.0.1: gnutls-cli against our server (with
// and without extended master secret, session resumption (RFC 5246 §7.3) with the cache on and
// off, CBC without encrypt_then_mac, refusals), and our client against gnutls-serv --echo. Every
// external process is bounded in time and stopped in finally.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel, type DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import type { HandshakeTiming } from '../../src/dtls/dtls-connection.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import type { ChannelError, Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { spawnPeer, waitUntil } from '../support/peer-process.js';
import { freeUdpPort, requirePeer } from '../support/peers.js';

const KEY_HEX = '0123456789abcdeffedcba9876543210';
const KEY = Uint8Array.from(Buffer.from(KEY_HEX, 'hex'));
const IDENTITY = 'petrel-gnutls';
/** DTLS 1.2 only, with the PSK key exchange and the CCM_8 cipher GnuTLS leaves out of NORMAL. */
const PRIORITY = 'NORMAL:+PSK:+AES-128-CCM-8:-VERS-ALL:+VERS-DTLS1.2';
/** DTLS 1.2 with TLS_PSK_WITH_AES_128_CBC_SHA256 only (GnuTLS offers encrypt_then_mac with it). */
const PRIORITY_CBC = 'NONE:+VERS-DTLS1.2:+PSK:+AES-128-CBC:+SHA256:+COMP-NULL:+SIGN-ALL:+CURVE-ALL';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

interface OurServer {
  server: DtlsChannel;
  port: number;
  got: { peer: Peer; text: string }[];
  errors: ChannelError[];
  lookups: string[];
}

/** Our DTLS server on 127.0.0.1, answering every datagram with "pong <datagram>". */
async function ourServer(options: Partial<DtlsServerOptions> = {}): Promise<OurServer> {
  const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const s: OurServer = {
    server: undefined as unknown as DtlsChannel,
    port: udp.local.port,
    got: [],
    errors: [],
    lookups: [],
  };
  s.server = DtlsChannel.server({
    channel: udp,
    hint: 'petrel-hint',
    psk: (id) => {
      s.lookups.push(str(id));
      return str(id) === IDENTITY ? KEY : undefined;
    },
    ...options,
  });
  s.server.onReceive((peer, bytes) => {
    s.got.push({ peer, text: str(bytes) });
    s.server.send(peer, text(`pong ${str(bytes)}`));
  });
  s.server.onError((e) => s.errors.push(e));
  return s;
}

function gnutlsCli(
  program: string,
  port: number,
  options: { key?: string; identity?: string; priority?: string; extra?: string[] } = {},
) {
  return spawnPeer(program, [
    '--udp',
    '--port',
    String(port),
    '--pskusername',
    options.identity ?? IDENTITY,
    '--pskkey',
    options.key ?? KEY_HEX,
    '--priority',
    options.priority ?? PRIORITY,
    ...(options.extra ?? []),
    '127.0.0.1',
  ]);
}

function sessionError(errors: ChannelError[]): DtlsSessionError {
  const e = errors.find((x) => x instanceof DtlsSessionError);
  assert.ok(e, `expected a DtlsSessionError, got: ${errors.map((x) => x.message).join('; ')}`);
  return e;
}

function cli(t: TestContext): string | undefined {
  return requirePeer(t, 'gnutls-cli', 'gnutls-bin');
}

describe('DTLS 1.2 PSK interop with GnuTLS: gnutls-cli against our server', () => {
  it('handshakes with PSK and AES-128-CCM-8 (hint, EMS), carries data both ways, the identity reaches us', async (t) => {
    const program = cli(t);
    if (!program) return;
    const s = await ourServer();
    const client = gnutlsCli(program, s.port);
    try {
      await client.waitFor(/Handshake was completed/);
      const out = client.output();
      assert.match(out, /\(DTLS1\.2[^)]*\)-\(PSK\)-\(AES-128-CCM-8\)/);
      assert.match(out, /PSK hint 'petrel-hint'/);
      assert.match(out, new RegExp(`Connected as '${IDENTITY}'`));
      assert.match(out, /Options: .*extended master secret/);
      assert.match(out, /Options: .*safe renegotiation/);
      client.child.stdin.write('hello from gnutls\n');
      await client.waitFor(/pong hello from gnutls/);
      assert.deepEqual(
        s.got.map((g) => g.text),
        ['hello from gnutls\n'],
      );
      assert.deepEqual(s.got[0]!.peer.identity, { psk: IDENTITY });
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 1 });
      assert.deepEqual(s.errors, []);
      // gnutls-cli sends close_notify when its input ends: the session goes quietly.
      client.child.stdin.end();
      await client.exited();
      await waitUntil(
        () => s.server.stats.sessions === 0,
        5000,
        () => 'the session to end on close_notify',
      );
      assert.deepEqual(s.errors, []);
    } finally {
      await client.stop();
      await s.server.close();
    }
  });

  it('serves a client without extended master secret, and refuses it when EMS is required', async (t) => {
    const program = cli(t);
    if (!program) return;
    const noEms = `${PRIORITY}:%NO_SESSION_HASH`;
    const s = await ourServer();
    const client = gnutlsCli(program, s.port, { priority: noEms });
    try {
      await client.waitFor(/Handshake was completed/);
      assert.doesNotMatch(client.output(), /extended master secret/);
      client.child.stdin.write('no ems\n');
      await client.waitFor(/pong no ems/);
      assert.deepEqual(s.got[0]!.peer.identity, { psk: IDENTITY });
    } finally {
      await client.stop();
      await s.server.close();
    }

    const strict = await ourServer({ requireExtendedMasterSecret: true });
    const refused = gnutlsCli(program, strict.port, { priority: noEms });
    try {
      await refused.waitFor(/Received alert \[40\]/);
      await refused.exited();
      assert.equal(sessionError(strict.errors).alert, AlertDescription.handshake_failure);
      assert.deepEqual(strict.got, []);
      assert.deepEqual(strict.server.stats, { handshakes: 0, sessions: 0 });
    } finally {
      await refused.stop();
      await strict.server.close();
    }
  });

  it('resumes the session gnutls-cli offers back (-r): the abbreviated handshake keeps the identity', async (t) => {
    const program = cli(t);
    if (!program) return;
    const s = await ourServer();
    const client = gnutlsCli(program, s.port, { extra: ['--resume'] });
    try {
      await client.waitFor(/Connecting again/);
      await client.waitFor(/Simple Client Mode/);
      assert.match(client.output(), /This is a resumed session/);
      client.child.stdin.write('resumed\n');
      await client.waitFor(/pong resumed/);
      // RFC 5246 §7.3: the resumed session has the first handshake's master secret and identity.
      // The cached identity is looked up once more (its key may have changed or gone since).
      assert.deepEqual(s.lookups, [IDENTITY, IDENTITY]);
      assert.deepEqual(
        s.got.map((g) => [g.text, g.peer.identity]),
        [['resumed\n', { psk: IDENTITY }]],
      );
      assert.deepEqual(s.errors, []);
    } finally {
      await client.stop();
      await s.server.close();
    }
  });

  it('answers a resumption attempt with a full handshake when the session cache is off', async (t) => {
    const program = cli(t);
    if (!program) return;
    const s = await ourServer({ sessionCache: false });
    const client = gnutlsCli(program, s.port, { extra: ['--resume'] });
    try {
      await client.waitFor(/Connecting again/);
      await client.waitFor(/Simple Client Mode/);
      client.child.stdin.write('second connection\n');
      await client.waitFor(/pong second connection/);
      assert.deepEqual(s.lookups, [IDENTITY, IDENTITY]);
      assert.deepEqual(s.got[0]!.peer.identity, { psk: IDENTITY });
      assert.doesNotMatch(client.output(), /This is a resumed session/);
      assert.deepEqual(s.errors, []);
    } finally {
      await client.stop();
      await s.server.close();
    }
  });

  it('handshakes with TLS_PSK_WITH_AES_128_CBC_SHA256, without encrypt_then_mac, and carries data', async (t) => {
    const program = cli(t);
    if (!program) return;
    const s = await ourServer();
    const client = gnutlsCli(program, s.port, { priority: PRIORITY_CBC });
    try {
      await client.waitFor(/Handshake was completed/);
      const out = client.output();
      assert.match(out, /\(DTLS1\.2[^)]*\)-\(PSK\)-\(AES-128-CBC\)-\(SHA256\)/);
      // GnuTLS offers encrypt_then_mac (RFC 7366); we do not implement it, so must not accept it.
      assert.doesNotMatch(out, /EtM/);
      assert.match(out, /Options: .*extended master secret/);
      client.child.stdin.write('over cbc\n');
      await client.waitFor(/pong over cbc/);
      assert.deepEqual(
        s.got.map((g) => [g.text, g.peer.identity]),
        [['over cbc\n', { psk: IDENTITY }]],
      );
      assert.deepEqual(s.errors, []);
    } finally {
      await client.stop();
      await s.server.close();
    }
  });

  const refusals = [
    {
      name: 'a wrong PSK with bad_record_mac',
      key: 'ffeeddccbbaa99887766554433221100',
      identity: IDENTITY,
      alert: AlertDescription.bad_record_mac,
    },
    {
      name: 'an unknown identity with unknown_psk_identity',
      key: KEY_HEX,
      identity: 'nobody',
      alert: AlertDescription.unknown_psk_identity,
    },
  ];
  for (const refusal of refusals)
    it(`refuses ${refusal.name}`, async (t) => {
      const program = cli(t);
      if (!program) return;
      const s = await ourServer();
      const client = gnutlsCli(program, s.port, { key: refusal.key, identity: refusal.identity });
      try {
        await client.waitFor(new RegExp(`Received alert \\[${refusal.alert}\\]`));
        await client.exited();
        const failure = sessionError(s.errors);
        assert.equal(failure.failure, 'handshake-failed');
        assert.equal(failure.alert, refusal.alert);
        assert.deepEqual(s.got, []);
        assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 0 });
      } finally {
        await client.stop();
        await s.server.close();
      }
    });
});

describe('DTLS 1.2 PSK interop with GnuTLS: our client against gnutls-serv', () => {
  async function withGnutlsServ(
    t: TestContext,
    run: (port: number, output: () => string) => Promise<void>,
    priority = PRIORITY,
  ): Promise<void> {
    const program = requirePeer(t, 'gnutls-serv', 'gnutls-bin');
    if (!program) return;
    const dir = mkdtempSync(join(tmpdir(), 'petrel-gnutls-'));
    const passwd = join(dir, 'psk.passwd');
    writeFileSync(passwd, `${IDENTITY}:${KEY_HEX}\n`);
    const port = await freeUdpPort();
    const server = spawnPeer(
      program,
      [
        '--udp',
        '--port',
        String(port),
        '--pskpasswd',
        passwd,
        '--pskhint',
        'gnutls-hint',
        '--echo',
        '--priority',
        priority,
        '-d',
        '2', // prints the suites of its priority list and those it checks
      ],
      30_000,
    );
    try {
      await server.waitFor(/listening on IPv4 .*done/);
      await run(port, server.output);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  function ourClient(udp: UdpChannel, identity = IDENTITY, key = KEY, timing?: Partial<HandshakeTiming>) {
    const client = DtlsChannel.client({ channel: udp, psk: { identity, key }, timing });
    const got: { peer: Peer; text: string }[] = [];
    const errors: ChannelError[] = [];
    client.onReceive((peer, bytes) => got.push({ peer, text: str(bytes) }));
    client.onError((e) => errors.push(e));
    return { client, got, errors };
  }

  it('gnutls-serv --echo returns our datagrams, on one session', (t) =>
    withGnutlsServ(t, async (port, output) => {
      const { client, got, errors } = ourClient(await UdpChannel.open({ address: '127.0.0.1', port: 0 }));
      try {
        const peer = { address: '127.0.0.1', port };
        client.send(peer, text('hello from petrel\n'));
        await waitUntil(
          () => got.length > 0,
          10_000,
          () => `the echo; errors: ${errors.map((e) => e.message).join('; ')}\n${output()}`,
        );
        assert.equal(got[0]!.text, 'hello from petrel\n');
        assert.deepEqual(got[0]!.peer.identity, { psk: IDENTITY });
        client.send(peer, text('second\n'));
        await waitUntil(
          () => got.length > 1,
          10_000,
          () => 'the second echo',
        );
        assert.equal(got[1]!.text, 'second\n');
        assert.match(output(), /Processing 18 bytes command: hello from petrel/);
        assert.deepEqual(client.stats, { handshakes: 0, sessions: 1 });
        assert.deepEqual(errors, []);
      } finally {
        await client.close();
      }
    }));

  it('gnutls-serv restricted to TLS_PSK_WITH_AES_128_CBC_SHA256 echoes over it', (t) =>
    withGnutlsServ(
      t,
      async (port, output) => {
        const { client, got, errors } = ourClient(await UdpChannel.open({ address: '127.0.0.1', port: 0 }));
        try {
          client.send({ address: '127.0.0.1', port }, text('cbc from petrel\n'));
          await waitUntil(
            () => got.length > 0,
            10_000,
            () => `the echo; errors: ${errors.map((e) => e.message).join('; ')}\n${output()}`,
          );
          assert.equal(got[0]!.text, 'cbc from petrel\n');
          // Its priority list held that one suite, and it was the one checked and taken.
          assert.match(output(), /added \d+ protocols, 1 ciphersuites/);
          assert.match(output(), /00\.ae \(GNUTLS_PSK_AES_128_CBC_SHA256\)/);
          assert.deepEqual(errors, []);
        } finally {
          await client.close();
        }
      },
      PRIORITY_CBC,
    ));

  // GnuTLS hides which identities it knows: an unknown one gets a random key (RFC 4279 §2 allows
  // it), so both cases look like a wrong key. Our Finished then fails to decrypt at gnutls-serv,
  // which drops it silently as DTLS allows (RFC 6347 §4.1.2.7) and sends no alert: our client
  // retransmits flight 5 until its handshake timeout.
  for (const wrong of [
    { name: 'an identity gnutls-serv does not know', identity: 'stranger', key: KEY },
    { name: 'a wrong key', identity: IDENTITY, key: new Uint8Array(16).fill(7) },
  ])
    it(`${wrong.name} ends in handshake-timeout, with nothing delivered and no state left`, (t) =>
      withGnutlsServ(t, async (port, output) => {
        const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
        const { client, got, errors } = ourClient(udp, wrong.identity, wrong.key, {
          initialTimeout: 200,
          maxTimeout: 400,
          handshakeTimeout: 1500,
        });
        try {
          client.send({ address: '127.0.0.1', port }, text('x\n'));
          await waitUntil(
            () => errors.length > 0,
            10_000,
            () => `an error; output:\n${output()}`,
          );
          const failure = sessionError(errors);
          assert.equal(failure.failure, 'handshake-timeout', failure.message);
          assert.equal(errors.length, 1);
          assert.match(output(), /Discarded message\[\d+\] due to invalid decryption/);
          assert.deepEqual(got, []);
          assert.deepEqual(client.stats, { handshakes: 0, sessions: 0 });
        } finally {
          await client.close();
        }
      }));
});
