// Our Bootstrap-Server against a CoAP stack we did not write: libcoap's coap-client (Debian
// libcoap3-bin) over real UDP and DTLS PSK on 127.0.0.1.
// - Bootstrap-Pack-Request (Core §6.1.7.7) over UDP: 2.05 with the configured /0 and /1 instances
//   (SenML CBOR and SenML JSON, checked value by value, no Bootstrap-Server account), 4.04 for an
//   endpoint without configuration, 4.06 for a format a Pack does not come in, 4.00 for a NoSec
//   request of an endpoint that has credentials;
// - the same over DTLS PSK with coap-client-openssl and coap-client-gnutls: 2.05 for the endpoint
//   bound to the identity, 4.00 for another endpoint over it, a failed handshake for an unknown one;
// - Bootstrap-Request (Core §6.1.7.1): 2.04, then the server's Bootstrap-Discover toward
//   coap-client's source port, which serves no LwM2M: the session ends failed at that step.
// coap-client -v 6 prints each PDU it sends and receives (`v:1 t:ACK c:2.05 i:…`), which is how the
// response codes are read; -o writes the payload bytes to a file. Every process is bounded (-B and
// run's kill timer); servers are stopped in t.after.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { decode } from 'cborg';
import { createCoapServerBinding } from '../../src/binding/coap/coap-server-binding.js';
import { BootstrapServer, type BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { credentialPskLookup } from '../../src/server/credential-psk-lookup.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { requirePeer, run, type RunResult } from '../support/peers.js';

// libcoap takes -k as text: an ASCII key, stored in hex.
const KEY_TEXT = 'petrel-bs-secret';
const IDENTITY = 'libcoap-bs-id';
const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** Fast CoAP downlinks so a Bootstrap-Discover to a peer that does not answer fails quickly. */
const TRANSMISSION = { ackTimeout: 200, maxRetransmit: 1 };

/** The LwM2M server account of the device bootstrapping over DTLS: a PSK account. */
const SECURE_SERVER = {
  shortServerId: 101,
  uri: 'coaps://192.0.2.10:5684',
  lifetime: 300,
  security: { mode: 'psk', identity: 'dev-at-lwm2m', key: '000102030405060708090a0b0c0d0e0f' },
} as const;
/** The LwM2M server account of the device bootstrapping over UDP: a NoSec account. */
const PLAIN_SERVER = {
  shortServerId: 7,
  uri: 'coap://192.0.2.20:5683',
  lifetime: 120,
  security: { mode: 'nosec' },
} as const;
/** A Bootstrap-Server account in the configuration: a Pack must leave it out. */
const BS_ACCOUNT = {
  uri: 'coaps://bs.example:5684',
  security: { mode: 'psk', identity: 'rotated-bs-id', key: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' },
} as const;

/** The last response code coap-client -v 6 printed for a PDU (`c:2.05`), methods aside. */
function responseCode(output: string): string | undefined {
  const codes = [...output.matchAll(/\bc:(\d\.\d\d)\b/g)].map((m) => m[1]);
  return codes.at(-1);
}

const describeRun = (r: RunResult): string => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

interface Fixture {
  readonly bs: BootstrapServer;
  readonly udpPort: number;
  readonly coapsPort: number;
  readonly finished: BootstrapSessionRecord[];
  readonly errors: unknown[];
  /** The payload file of -o. */
  readonly out: string;
}

/**
 * A BootstrapServer on 127.0.0.1 with a UDP side and a DTLS PSK side (its own UdpChannel under a
 * DtlsChannel, keys from the credential store). `udp-dev` has a configuration and no credentials;
 * `libcoap-dev` and `other-dev` have both, bound to their PSK identities; `no-config-dev` has
 * credentials only.
 */
async function startFixture(t: TestContext): Promise<Fixture> {
  const configs = new MemoryBootstrapConfigStore();
  await configs.put('udp-dev', { servers: [PLAIN_SERVER], bootstrapServer: BS_ACCOUNT });
  await configs.put('libcoap-dev', { servers: [SECURE_SERVER], bootstrapServer: BS_ACCOUNT });
  await configs.put('other-dev', { servers: [PLAIN_SERVER] });
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint: 'libcoap-dev', psk: { identity: IDENTITY, key: hex(KEY_TEXT) } });
  await credentials.put({
    endpoint: 'other-dev',
    psk: { identity: 'other-id', key: hex('other-secret-key') },
  });
  const errors: unknown[] = [];
  const onError = (e: unknown): void => void errors.push(e);
  const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const dtls = DtlsChannel.server({
    channel: udp,
    psk: credentialPskLookup(credentials, onError),
    hint: 'petrel-bs',
  });
  const secure = createCoapServerBinding({
    channel: dtls,
    codecs: createCodecRegistry(),
    model: createDefaultRegistry(),
    transmission: TRANSMISSION,
    onError,
  });
  const bs = new BootstrapServer({
    configs,
    credentials,
    udp: { address: '127.0.0.1', port: 0 },
    bindings: [secure],
    requestTimeout: 1000,
    coap: { transmission: TRANSMISSION },
    onError,
  });
  const finished: BootstrapSessionRecord[] = [];
  bs.on('session-finished', (s) => finished.push(s));
  await bs.start();
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bs-libcoap-'));
  t.after(async () => {
    await bs.stop();
    await dtls.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    bs,
    udpPort: bs.address!.port,
    coapsPort: udp.local.port,
    finished,
    errors,
    out: join(dir, 'payload'),
  };
}

/**
 * One request of coap-client: -v 6 to see the PDUs (7 adds its session's addresses), -B 5 to
 * bound it, the payload into `out`.
 */
function coapClient(
  program: string,
  out: string,
  args: string[],
  uri: string,
  verbosity = 6,
): Promise<RunResult> {
  rmSync(out, { force: true });
  return run(program, ['-v', String(verbosity), '-B', '5', '-o', out, ...args, uri], 10_000);
}

const payloadOf = (out: string): Buffer => readFileSync(out);

/** A SenML record flattened to its full name and value (RFC 8428 §4.5; CBOR labels §6). */
interface Entry {
  readonly name: string;
  readonly value: unknown;
}

/** SenML CBOR labels: bn -2, n 0, v 2, vs 3, vb 4, vd 8. */
function senmlCborEntries(bytes: Uint8Array): Entry[] {
  const packs = decode(bytes, { useMaps: true }) as unknown;
  assert.ok(Array.isArray(packs), 'a SenML Pack is an array');
  let baseName = '';
  return packs.map((record: unknown) => {
    assert.ok(record instanceof Map, 'a SenML record is a map');
    const bn = record.get(-2) as string | undefined;
    if (bn !== undefined) baseName = bn;
    const n = (record.get(0) as string | undefined) ?? '';
    const value = [2, 3, 4, 8].map((label) => record.get(label) as unknown).find((v) => v !== undefined);
    return { name: baseName + n, value };
  });
}

/** SenML JSON: same records, `vd` base64url (RFC 8428 §4.3, §5). */
function senmlJsonEntries(text: string): Entry[] {
  const packs = JSON.parse(text) as Record<string, unknown>[];
  assert.ok(Array.isArray(packs), 'a SenML Pack is an array');
  let baseName = '';
  return packs.map((record) => {
    if (typeof record.bn === 'string') baseName = record.bn;
    const n = typeof record.n === 'string' ? record.n : '';
    const value =
      typeof record.vd === 'string'
        ? new Uint8Array(Buffer.from(record.vd, 'base64url'))
        : (record.v ?? record.vs ?? record.vb);
    return { name: baseName + n, value };
  });
}

/** The values of one entry list by name; byte strings as hex so they compare with deepEqual. */
function byName(entries: readonly Entry[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (const { name, value } of entries) {
    assert.ok(!map.has(name), `${name} twice`);
    map.set(name, value instanceof Uint8Array ? `hex:${Buffer.from(value).toString('hex')}` : value);
  }
  return map;
}

/**
 * The Pack holds exactly one LwM2M server account: /0/1 (the BS account is assumed at /0/0 when
 * the request has no `acc`) and /1/0, with the configured values, and no Bootstrap-Server account.
 */
function assertPack(
  entries: readonly Entry[],
  server: {
    shortServerId: number;
    uri: string;
    lifetime: number;
    security: { mode: string; identity?: string; key?: string };
  },
): void {
  const values = byName(entries);
  const expected: [string, unknown][] = [
    ['/0/1/0', server.uri],
    ['/0/1/1', false], // Bootstrap-Server: false
    ['/0/1/2', server.security.mode === 'psk' ? 0 : 3],
    ['/0/1/3', `hex:${server.security.identity === undefined ? '' : hex(server.security.identity)}`],
    ['/0/1/5', `hex:${server.security.key ?? ''}`],
    ['/0/1/10', server.shortServerId],
    ['/1/0/0', server.shortServerId],
    ['/1/0/1', server.lifetime],
  ];
  for (const [name, value] of expected) assert.deepEqual(values.get(name), value, name);
  const instances = new Set([...values.keys()].map((name) => name.split('/').slice(0, 3).join('/')));
  assert.deepEqual([...instances].sort(), ['/0/1', '/1/0']);
  // Nothing of the configured Bootstrap-Server account.
  assert.ok(![...values.values()].includes(BS_ACCOUNT.uri), 'the BS account URI is not in the Pack');
  assert.ok(
    ![...values.values()].includes(`hex:${BS_ACCOUNT.security.key}`),
    'the BS account key is not in the Pack',
  );
}

describe('libcoap coap-client against our Bootstrap-Server over UDP', () => {
  it('Bootstrap-Pack-Request: 2.05 in SenML CBOR and SenML JSON, 4.04 without configuration, 4.06, NoSec refused', async (t) => {
    const client = requirePeer(t, 'coap-client-openssl', 'libcoap3-bin');
    if (!client) return;
    const f = await startFixture(t);
    const uri = (ep: string): string => `coap://127.0.0.1:${f.udpPort}/bspack?ep=${ep}`;

    const cbor = await coapClient(client, f.out, ['-m', 'get', '-A', '112'], uri('udp-dev'));
    assert.equal(responseCode(cbor.stdout), '2.05', describeRun(cbor));
    assert.equal(cbor.code, 0, describeRun(cbor));
    assert.match(cbor.stdout, /Content-Format:application\/senml\+cbor/);
    assertPack(senmlCborEntries(payloadOf(f.out)), PLAIN_SERVER);

    const json = await coapClient(client, f.out, ['-m', 'get', '-A', '110'], uri('udp-dev'));
    assert.equal(responseCode(json.stdout), '2.05', describeRun(json));
    assert.match(json.stdout, /Content-Format:application\/senml\+json/);
    assertPack(senmlJsonEntries(payloadOf(f.out).toString('utf8')), PLAIN_SERVER);

    const missing = await coapClient(client, f.out, ['-m', 'get', '-A', '112'], uri('nobody'));
    assert.equal(responseCode(missing.stdout), '4.04', describeRun(missing));

    const notAcceptable = await coapClient(client, f.out, ['-m', 'get', '-A', '40'], uri('udp-dev'));
    assert.equal(responseCode(notAcceptable.stdout), '4.06', describeRun(notAcceptable));

    // libcoap-dev has credentials: its configuration (with its server keys) is not handed out over NoSec.
    const nosec = await coapClient(client, f.out, ['-m', 'get', '-A', '112'], uri('libcoap-dev'));
    assert.equal(responseCode(nosec.stdout), '4.00', describeRun(nosec));

    const packs = f.finished.filter((s) => s.kind === 'pack');
    assert.deepEqual(
      packs.map((s) => [s.endpoint, s.requestedFormat, s.transport, s.outcome?.status]),
      [
        ['udp-dev', 112, 'udp', 'succeeded'],
        ['udp-dev', 110, 'udp', 'succeeded'],
      ],
    );
    assert.deepEqual(f.errors, []);
  });

  it('Bootstrap-Request: 2.04, then the session fails at its Bootstrap-Discover (coap-client serves no LwM2M)', async (t) => {
    const client = requirePeer(t, 'coap-client-openssl', 'libcoap3-bin');
    if (!client) return;
    const f = await startFixture(t);
    const done = new Promise<BootstrapSessionRecord>((resolve) =>
      f.bs.on('session-finished', (s) => s.kind === 'request' && resolve(s)),
    );
    const request = await coapClient(
      client,
      f.out,
      ['-m', 'post'],
      `coap://127.0.0.1:${f.udpPort}/bs?ep=udp-dev&pct=112`,
      7,
    );
    assert.equal(responseCode(request.stdout), '2.04', describeRun(request));
    assert.equal(request.code, 0, describeRun(request));
    // coap-client -v 7 logs its session as `127.0.0.1:<source port> <-> 127.0.0.1:<server port> UDP`.
    const source = new RegExp(`(127\\.0\\.0\\.1:\\d+) <-> 127\\.0\\.0\\.1:${f.udpPort} UDP`).exec(
      request.stdout,
    )?.[1];
    assert.ok(source, describeRun(request));
    let timer: NodeJS.Timeout | undefined;
    const session = await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no session-finished within 5 s')), 5000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(session.endpoint, 'udp-dev');
    assert.equal(session.transport, 'udp');
    assert.equal(session.requestedFormat, 112);
    // The Discover went to where the Bootstrap-Request came from.
    assert.equal(session.peer, source);
    assert.equal(session.outcome?.status, 'failed', JSON.stringify(session));
    assert.ok(session.outcome.status === 'failed');
    assert.equal(session.outcome.operation, 'bootstrap-discover');
    assert.equal(session.outcome.path, '/');
    // Gone (timeout, no ACK), or answered by libcoap with an error code or a Reset.
    assert.ok(['timeout', 'error-code', 'closed'].includes(session.outcome.reason), JSON.stringify(session));
    assert.equal(session.steps.length, 1, JSON.stringify(session.steps));
    assert.equal(session.steps[0]!.operation, 'bootstrap-discover');
    assert.equal(session.steps[0]!.path, '/');
    // No Finish after a failed step.
    assert.ok(!session.steps.some((s) => s.operation === 'bootstrap-finish'));
    assert.deepEqual(f.errors, []);
  });
});

/** The two DTLS back ends libcoap3-bin ships its programs for. */
const BACKENDS = ['openssl', 'gnutls'] as const;

describe('libcoap coap-client against our Bootstrap-Server over DTLS (PSK)', () => {
  for (const backend of BACKENDS)
    it(`coap-client-${backend}: Pack for the bound ep (2.05), another ep over that identity (4.00), an unknown identity fails the handshake`, async (t) => {
      const client = requirePeer(t, `coap-client-${backend}`, 'libcoap3-bin');
      if (!client) return;
      const f = await startFixture(t);
      const uri = (ep: string): string => `coaps://127.0.0.1:${f.coapsPort}/bspack?ep=${ep}`;
      const psk = (identity: string, key: string): string[] => ['-u', identity, '-k', key];

      const ok = await coapClient(
        client,
        f.out,
        [...psk(IDENTITY, KEY_TEXT), '-A', '112'],
        uri('libcoap-dev'),
      );
      assert.equal(responseCode(ok.stdout), '2.05', describeRun(ok));
      assert.equal(ok.code, 0, describeRun(ok));
      assertPack(senmlCborEntries(payloadOf(f.out)), SECURE_SERVER);

      // other-dev has a configuration, but this identity is libcoap-dev's.
      const impostor = await coapClient(
        client,
        f.out,
        [...psk(IDENTITY, KEY_TEXT), '-A', '112'],
        uri('other-dev'),
      );
      assert.equal(responseCode(impostor.stdout), '4.00', describeRun(impostor));

      const unknown = await coapClient(
        client,
        f.out,
        [...psk('stranger', 'not-the-key-1234'), '-A', '112'],
        uri('libcoap-dev'),
      );
      // No response: our server refuses the identity (unknown_psk_identity, alert 115, RFC 4279 §2),
      // which libcoap reports before giving up on the request.
      const output = unknown.stdout + unknown.stderr;
      assert.equal(responseCode(unknown.stdout), undefined, describeRun(unknown));
      assert.match(output, /unknown PSK identity|Alert '115'/i, describeRun(unknown));
      assert.match(output, /cannot send CoAP pdu/, describeRun(unknown));

      const packs = f.finished.filter((s) => s.kind === 'pack');
      assert.deepEqual(
        packs.map((s) => [s.endpoint, s.transport, s.outcome?.status]),
        [['libcoap-dev', 'dtls', 'succeeded']],
      );
      assert.deepEqual(f.errors, []);
    });
});
