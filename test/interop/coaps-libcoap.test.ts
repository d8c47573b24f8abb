// CoAP over DTLS (PSK, X.509, raw public keys) between Petrel and libcoap (Debian libcoap3-bin) over real UDP on 127.0.0.1,
// with both of libcoap's DTLS back ends (OpenSSL and GnuTLS):
// - coap-client-openssl and coap-client-gnutls do a PSK handshake with the LwM2M server's coaps://
//   side and register, with the endpoint the credential store binds to their identity (2.01) and
//   with another one (4.00);
// - Petrel's CoAP client (a CoapEndpoint over DtlsChannel.client over UdpChannel) GETs the
//   resources coap-server-openssl and coap-server-gnutls serve by default.
// - both coap-clients register with an X.509 chain (ep = the certificate's CN), and
//   coap-client-gnutls with a raw public key (ep = the endpoint that key is stored for).
// Every external process is bounded in time and stopped in finally.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber } from '../../src/coap/options.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { ChannelError } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { certDer, chainOf, fixturePath, privateKey, spkiDer } from '../support/dtls-fixtures.js';
import { spawnPeer } from '../support/peer-process.js';
import { freeUdpPort, requirePeer, run } from '../support/peers.js';

// libcoap takes -k as text: an ASCII key, stored in hex.
const KEY_TEXT = 'petrel-secret-16';
const IDENTITY = 'libcoap-id';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** libcoap prints a non-2.xx response code on stderr/stdout as e.g. "4.00 Bad Request". */
function responseCode(output: string): string | undefined {
  return /\b([45]\.\d\d)\b/.exec(output)?.[1];
}

/** The two DTLS back ends libcoap3-bin ships its programs for. */
const BACKENDS = ['openssl', 'gnutls'] as const;

/**
 * libcoap's coap-client-<backend> registers at our LwM2M server over coaps:// with the identity
 * bound to `libcoap-dev`: accepted with that endpoint, refused (4.00) with another.
 */
async function registerOverCoaps(t: TestContext, backend: (typeof BACKENDS)[number]): Promise<void> {
  const client = requirePeer(t, `coap-client-${backend}`, 'libcoap3-bin');
  if (!client) return;
  const credentials = new MemoryCredentialStore();
  await credentials.put({
    endpoint: 'libcoap-dev',
    psk: { identity: IDENTITY, key: Buffer.from(KEY_TEXT, 'utf8').toString('hex') },
  });
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    coaps: { address: '127.0.0.1', port: 0, credentials, hint: 'petrel' },
    requestTimeout: 5000,
  });
  await server.start();
  const port = server.secureAddress!.port;
  const register = (ep: string): Promise<{ stdout: string; stderr: string }> =>
    run(client, [
      '-B',
      '5',
      '-k',
      KEY_TEXT,
      '-u',
      IDENTITY,
      '-m',
      'post',
      '-t',
      '40',
      '-e',
      '</3/0>',
      `coaps://127.0.0.1:${port}/rd?ep=${ep}&lt=60&lwm2m=1.2`,
    ]);
  try {
    const ok = await register('libcoap-dev');
    const output = ok.stdout + ok.stderr;
    assert.equal(responseCode(output), undefined, output);
    const reg = await server.getRegistration('libcoap-dev');
    assert.ok(reg, output);
    assert.equal(reg.transport, 'dtls');
    assert.deepEqual(reg.peer.identity, { psk: IDENTITY });

    const refused = await register('someone-else');
    assert.equal(responseCode(refused.stdout + refused.stderr), '4.00', refused.stdout + refused.stderr);
    assert.equal(await server.getRegistration('someone-else'), undefined);
  } finally {
    await server.stop();
  }
}

describe('libcoap clients registering over coaps:// (PSK)', () => {
  for (const backend of BACKENDS)
    it(`coap-client-${backend} registers with the bound ep (2.01) and is refused another one (4.00)`, (t) =>
      registerOverCoaps(t, backend));
});

/** A free UDP port on 127.0.0.1 whose successor is free too (libcoap's coaps port is `-p` + 1). */
async function freeUdpPortPair(): Promise<number> {
  for (let i = 0; ; i++) {
    const port = await freeUdpPort();
    const next = createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      next.once('error', () => resolve(false));
      next.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => next.close(() => resolve()));
    if (free || i >= 20) return port;
  }
}

/**
 * A libcoap coap-server-<backend> with only the PSK `-k` (any identity), on a UDP port whose
 * successor (the coaps port, `-p` + 1) is free too, and Petrel's CoAP client over DTLS to it.
 */
async function withLibcoapServer(
  t: TestContext,
  backend: (typeof BACKENDS)[number],
  body: (get: (path: string[]) => Promise<{ code: string; text: string }>) => Promise<void>,
): Promise<void> {
  const program = requirePeer(t, `coap-server-${backend}`, 'libcoap3-bin');
  if (!program) return;
  const port = await freeUdpPortPair();
  const server = spawnPeer(
    program,
    ['-A', '127.0.0.1', '-p', String(port), '-k', KEY_TEXT, '-h', 'lc-hint'],
    30_000,
  );
  const udp = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const dtls = DtlsChannel.client({ channel: udp, psk: { identity: 'petrel-client', key: text(KEY_TEXT) } });
  const errors: ChannelError[] = [];
  dtls.onError((e) => errors.push(e));
  const endpoint = new CoapEndpoint({ channel: dtls });
  const peer = { address: '127.0.0.1', port: port + 1 };
  try {
    // coap-server prints nothing when it is ready; a hello sent too early is resent by the DTLS timer.
    await body(async (path) => {
      try {
        const response = await endpoint.request(
          peer,
          {
            code: CoapCode.GET,
            options: path.map((s) => ({ number: OptionNumber.URI_PATH, value: text(s) })),
          },
          { timeout: 8000 },
        );
        return {
          code: formatCode(response.code),
          text: str(response.payload),
        };
      } catch (e) {
        throw new Error(
          `GET /${path.join('/')}: ${String(e)}; DTLS errors: ${errors.map((x) => x.message).join('; ')}; server output:\n${server.output()}`,
          { cause: e },
        );
      }
    });
    assert.deepEqual(errors, []);
    assert.deepEqual(dtls.stats, { handshakes: 0, sessions: 1 });
  } finally {
    await endpoint.close();
    await dtls.close();
    await server.stop();
  }
}

describe("Petrel's CoAP client over DTLS (PSK) against libcoap's coap-server", () => {
  for (const backend of BACKENDS)
    it(`GETs / and /time from coap-server-${backend}`, (t) =>
      withLibcoapServer(t, backend, async (get) => {
        const root = await get([]);
        assert.equal(root.code, '2.05');
        assert.match(root.text, /^This is a test server made with libcoap/);
        const time = await get(['time']);
        assert.equal(time.code, '2.05');
        // The server's clock as "Mon dd hh:mm:ss" (libcoap's default /time format).
        assert.match(time.text, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
        const missing = await get(['no-such-resource']);
        assert.equal(missing.code, '4.04');
      }));
});

describe('libcoap clients registering over coaps:// with certificates and raw public keys', () => {
  /** A LwM2M server whose coaps:// side presents `form` and trusts the test root CA. */
  async function certificateServer(form: 'x509' | 'rpk'): Promise<LwM2mServer> {
    const credentials = new MemoryCredentialStore();
    await credentials.put({
      endpoint: 'rpk-dev',
      rpk: { publicKey: Buffer.from(spkiDer('client-rpk')).toString('hex') },
    });
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      coaps: {
        address: '127.0.0.1',
        port: 0,
        credentials,
        certificate:
          form === 'x509'
            ? { privateKey: privateKey('server'), certificateChain: chainOf('server') }
            : { privateKey: privateKey('server-rpk') },
        // The issuing CA too: coap-client-openssl sends only the leaf of its -c file.
        trustAnchors: [certDer('root-ca'), certDer('intermediate-ca')],
      },
      requestTimeout: 5000,
    });
    await server.start();
    return server;
  }

  const register = (program: string, security: string[], port: number, ep: string) =>
    run(program, [
      '-B',
      '5',
      ...security,
      '-m',
      'post',
      '-t',
      '40',
      '-e',
      '</3/0>',
      `coaps://127.0.0.1:${port}/rd?ep=${ep}&lt=60&lwm2m=1.2`,
    ]);

  for (const backend of BACKENDS)
    it(`coap-client-${backend} registers with an X.509 chain as its certificate's CN (and not as another ep)`, async (t) => {
      const client = requirePeer(t, `coap-client-${backend}`, 'libcoap3-bin');
      if (!client) return;
      const server = await certificateServer('x509');
      const port = server.secureAddress!.port;
      const pki = [
        '-c',
        fixturePath('client-chain.pem'),
        '-j',
        fixturePath('client.key.pem'),
        '-C',
        fixturePath('root-ca.pem'),
      ];
      try {
        const ok = await register(client, pki, port, 'petrel-dev-1');
        const output = ok.stdout + ok.stderr;
        assert.equal(responseCode(output), undefined, output);
        const reg = await server.getRegistration('petrel-dev-1');
        assert.ok(reg, output);
        assert.match((reg.peer.identity as { x509: { subject: string } }).x509.subject, /CN=petrel-dev-1/);
        const refused = await register(client, pki, port, 'someone-else');
        assert.equal(responseCode(refused.stdout + refused.stderr), '4.00', refused.stdout + refused.stderr);
      } finally {
        await server.stop();
      }
    });

  it('coap-client-gnutls registers with a raw public key as the endpoint that key is stored for', async (t) => {
    const client = requirePeer(t, 'coap-client-gnutls', 'libcoap3-bin');
    if (!client) return;
    const server = await certificateServer('rpk');
    const port = server.secureAddress!.port;
    // GnuTLS wants the PUBLIC KEY and the PRIVATE KEY blocks in the one -M file.
    const dir = mkdtempSync(join(tmpdir(), 'petrel-libcoap-rpk-'));
    const rpkFile = join(dir, 'client-rpk.pem');
    writeFileSync(
      rpkFile,
      readFileSync(fixturePath('client-rpk.pub.pem'), 'utf8') +
        readFileSync(fixturePath('client-rpk.key.pem'), 'utf8'),
    );
    const rpk = ['-M', rpkFile];
    try {
      const ok = await register(client, rpk, port, 'rpk-dev');
      const output = ok.stdout + ok.stderr;
      assert.equal(responseCode(output), undefined, output);
      const reg = await server.getRegistration('rpk-dev');
      assert.ok(reg, output);
      assert.ok(reg.peer.identity && 'rpk' in reg.peer.identity);
      const refused = await register(client, rpk, port, 'someone-else');
      assert.equal(responseCode(refused.stdout + refused.stderr), '4.00', refused.stdout + refused.stderr);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
