// `petrel client` over coaps://: the flags fill the simulated device's /0 instance, the client
// reads its credentials from there. In-process (runCli with injected io) against a real server
// on loopback UDP.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { securityFromFlags } from '../../src/cli/client-command.js';
import { CliError } from '../../src/cli/io.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';

const KEY = '000102030405060708090a0b0c0d0e0f';

/** The client certificate and key of test/client/security-credentials.test.ts (CN dev-1, P-256). */
const CERT_DER = Buffer.from(
  'MIIBeDCCAR2gAwIBAgIUYAasxY3hamHNFFzDMa54GdHVR+cwCgYIKoZIzj0EAwIwEDEOMAwGA1UEAwwFZGV2LTEwIBcNMjYxMTI2MDA1NTQ3WhgPMjEyNjExMDIwMDU1NDdaMBAxDjAMBgNVBAMMBWRldi0xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hqNTMFEwHQYDVR0OBBYEFD9byOFzBv6vd8yoXSjZMMcG+VM2MB8GA1UdIwQYMBaAFD9byOFzBv6vd8yoXSjZMMcG+VM2MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANo9rCVk9zakeZg3AhJOQkZt+6Ubz3j3MjbPL8Qr8n1bAiEArkYvwBgtm6nfBuq4Q3hs0IbfQ3nui8slQES+N9YTCmA=',
  'base64',
);
const CERT_KEY_SEC1 = Buffer.from(
  'MHcCAQEEIASCLHgWg7k9BBb179wcEINdEOt0qCfZP9mj8yzdt6CUoAoGCCqGSM49AwEHoUQDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hg==',
  'base64',
);

const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-dtls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function waitFor(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** io for an unattended client: output captured, stopped by the test. */
function session() {
  let out = '';
  let err = '';
  let stop!: () => void;
  const shutdown = new Promise<void>((resolve) => (stop = resolve));
  const io: CliIo = {
    readStdin: () => Promise.resolve(new Uint8Array()),
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    shutdown: () => shutdown,
  };
  return { io, out: () => out, err: () => err, stop };
}

/** The server's key pair (RPK devices) and an RPK device's key. */
const serverKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const deviceKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function withServer<T>(fn: (server: LwM2mServer, uri: string) => Promise<T>): Promise<T> {
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint: 'sim-psk', psk: { identity: 'sim-psk-id', key: KEY } });
  const deviceSpki = deviceKeys.publicKey.export({ format: 'der', type: 'spki' });
  await credentials.put({ endpoint: 'sim-rpk', rpk: { publicKey: deviceSpki.toString('hex') } });
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    coaps: {
      address: '127.0.0.1',
      port: 0,
      credentials,
      certificate: { privateKey: serverKeys.privateKey },
    },
    model: createSimulatorModel(),
    requestTimeout: 3000,
  });
  await server.start();
  try {
    return await fn(server, `coaps://127.0.0.1:${server.secureAddress!.port}`);
  } finally {
    await server.stop();
  }
}

describe('petrel client over coaps://', () => {
  it('PSK: registers over DTLS, is read through the session, and de-registers on exit', async () => {
    await withServer(async (server, uri) => {
      const s = session();
      const registered = once(server, 'registered') as Promise<[Registration]>;
      const exit = runCli(
        [
          'client',
          '--endpoint',
          'sim-psk',
          '--server',
          uri,
          '--psk-identity',
          'sim-psk-id',
          '--psk-key',
          KEY,
          '--no-stdin',
          '--interval',
          '60',
        ],
        s.io,
      );
      try {
        const [reg] = await Promise.race([
          registered,
          exit.then((code) => {
            throw new Error(`petrel client exited ${code}: ${s.err()}`);
          }),
        ]);
        assert.equal(reg.transport, 'dtls');
        assert.deepEqual(reg.peer.identity, { psk: 'sim-psk-id' });
        assert.match(s.out(), /started ep=sim-psk lwm2m=1\.2 security=psk/);
        const read = await server.read('sim-psk', '/3/0/0');
        assert.equal(read.code, '2.05');
        await waitFor(() => s.out().includes('request read /3/0/0 2.05'), 'the request line');
        const gone = once(server, 'deregistered');
        s.stop();
        await gone;
        assert.equal(await exit, 0, s.err());
      } finally {
        s.stop();
        await exit;
      }
    });
  });

  it('RPK: --key and --server-key files; the server knows the device by its public key', async () => {
    await withServer(async (server, uri) => {
      const key = file('device.pem', deviceKeys.privateKey.export({ format: 'pem', type: 'sec1' }));
      const serverKey = file('server.pub.der', serverKeys.publicKey.export({ format: 'der', type: 'spki' }));
      const s = session();
      const registered = once(server, 'registered') as Promise<[Registration]>;
      const exit = runCli(
        [
          'client',
          '--endpoint',
          'sim-rpk',
          '--server',
          uri,
          '--key',
          key,
          '--server-key',
          serverKey,
          '--no-stdin',
        ],
        s.io,
      );
      try {
        const [reg] = await Promise.race([
          registered,
          exit.then((code) => {
            throw new Error(`petrel client exited ${code}: ${s.err()}`);
          }),
        ]);
        assert.equal(reg.endpoint, 'sim-rpk');
        assert.ok(reg.peer.identity !== undefined && 'rpk' in reg.peer.identity);
        assert.match(s.out(), /security=rpk/);
        assert.equal((await server.read('sim-rpk', '/3/0/0')).code, '2.05');
      } finally {
        s.stop();
        assert.equal(await exit, 0, s.err());
      }
    });
  });

  it('a wrong PSK: the DTLS failure is reported and nothing registers', async () => {
    await withServer(async (server, uri) => {
      const s = session();
      const exit = runCli(
        [
          'client',
          '--endpoint',
          'sim-psk',
          '--server',
          uri,
          '--psk-identity',
          'sim-psk-id',
          '--psk-key',
          'ff'.repeat(16),
          '--no-stdin',
        ],
        s.io,
      );
      try {
        await waitFor(() => s.err().includes('DTLS with'), 'the DTLS failure');
        assert.match(s.err(), new RegExp(`DTLS with ${uri.replaceAll('.', '\\.')} failed: .*alert`));
        assert.equal(await server.getRegistration('sim-psk'), undefined);
      } finally {
        s.stop();
        assert.equal(await exit, 0);
      }
    });
  });

  it('refuses missing and contradicting flags with a usage error', async () => {
    const key = file(
      'k.pem',
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    const cases: [string[], RegExp][] = [
      [
        ['--server', 'coap://127.0.0.1', '--psk-identity', 'a', '--psk-key', KEY],
        /--psk-identity, --psk-key: only for a coaps:\/\/ server/,
      ],
      [['--server', 'coaps://127.0.0.1'], /a coaps:\/\/ server needs credentials/],
      [
        ['--server', 'coaps://127.0.0.1', '--psk-identity', 'a'],
        /PSK needs both --psk-identity and --psk-key/,
      ],
      [['--server', 'coaps://127.0.0.1', '--psk-identity', 'a', '--psk-key', KEY, '--key', key], /not both/],
      [
        ['--server', 'coaps://127.0.0.1', '--psk-identity', 'a', '--psk-key', 'xyz'],
        /--psk-key.*1 to 64 bytes in hex/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--psk-identity', 'a'.repeat(129), '--psk-key', KEY],
        /at most 128 bytes/,
      ],
      [['--server', 'coaps://127.0.0.1', '--key', key], /needs --server-key/],
      [['--server', 'coaps://127.0.0.1', '--cert', key], /--cert needs --key/],
      [
        ['--server', 'coaps://127.0.0.1', '--key', join(dir, 'missing.pem'), '--server-key', key],
        /--key: cannot read the private key .*missing\.pem: ENOENT/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--key', file('bad.pem', 'nonsense'), '--server-key', key],
        /--key: .*not a private key/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--key', key, '--cert', key, '--server-cert', key],
        /--cert: .*has no CERTIFICATE block/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--key', key, '--server-key', key, '--cert-usage', '1'],
        /--cert-usage are for X\.509/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--psk-identity', 'a', '--psk-key', KEY, '--cert-usage', '5'],
        /--cert-usage.*expected 0/,
      ],
      [
        ['--server', 'coaps://127.0.0.1', '--psk-identity', 'a', '--psk-key', KEY, '--server-key', key],
        /go with --key, not with PSK/,
      ],
    ];
    for (const [args, message] of cases) {
      const s = session();
      s.stop();
      const code = await runCli(['client', '--endpoint', 'x', '--no-stdin', ...args], s.io);
      assert.equal(code, 2, `${args.join(' ')}: ${s.err()}`);
      assert.match(s.err(), message, args.join(' '));
    }
  });
});

describe('securityFromFlags (what the flags write into /0)', () => {
  const base = { endpoint: 'x', lifetime: 60, lwm2mVersion: '1.2' as const, interval: 10, stdin: false };

  it('PSK: mode 0, identity /0/x/3, key /0/x/5, SNI /0/x/14; coap:// has none', () => {
    assert.equal(securityFromFlags({ ...base, server: 'coap://h' }), undefined);
    assert.deepEqual(
      securityFromFlags({
        ...base,
        server: 'coaps://h',
        pskIdentity: 'id',
        pskKey: Buffer.from(KEY, 'hex'),
        sni: 'h.example',
      }),
      { securityMode: 0, publicKeyOrIdentity: 'id', secretKey: Buffer.from(KEY, 'hex'), sni: 'h.example' },
    );
  });

  it('RPK: mode 1 with our SPKI derived from --key (PEM or DER), the server SPKI from --server-key', () => {
    const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const security = securityFromFlags({
      ...base,
      server: 'coaps://h',
      key: file('ours.der', ours.privateKey.export({ format: 'der', type: 'sec1' })),
      serverKey: file('theirs.pem', theirs.publicKey.export({ format: 'pem', type: 'spki' })),
    });
    assert.deepEqual(security, {
      securityMode: 1,
      publicKeyOrIdentity: new Uint8Array(ours.publicKey.export({ format: 'der', type: 'spki' })),
      secretKey: new Uint8Array(ours.privateKey.export({ format: 'der', type: 'pkcs8' })),
      serverPublicKey: new Uint8Array(theirs.publicKey.export({ format: 'der', type: 'spki' })),
    });
  });

  it('X.509: mode 2, certificates as DER (PEM files converted), Certificate Usage /0/x/15', () => {
    const pem = new X509Certificate(CERT_DER).toString();
    const security = securityFromFlags({
      ...base,
      server: 'coaps://h',
      key: file('cert.key', CERT_KEY_SEC1),
      cert: file('cert.pem', pem),
      serverCert: file('server.der', CERT_DER),
      certUsage: 2,
    });
    assert.deepEqual(security, {
      securityMode: 2,
      publicKeyOrIdentity: new Uint8Array(CERT_DER),
      secretKey: new Uint8Array(
        createPrivateKey({ key: CERT_KEY_SEC1, format: 'der', type: 'sec1' }).export({
          format: 'der',
          type: 'pkcs8',
        }),
      ),
      serverPublicKey: new Uint8Array(CERT_DER),
      certificateUsage: 2,
    });
    assert.throws(
      () =>
        securityFromFlags({
          ...base,
          server: 'coaps://h',
          key: file('k2', CERT_KEY_SEC1),
          cert: file('c2', CERT_DER),
        }),
      (e: unknown) => e instanceof CliError && /needs --server-cert/.test(e.message),
    );
  });
});
