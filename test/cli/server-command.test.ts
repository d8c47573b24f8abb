import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { describeSession } from '../../src/cli/server-command.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { x509Verifier } from '../../src/dtls/peer-verification.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { certDer, chainOf, fixturePath, privateKey } from '../support/dtls-fixtures.js';
import { BootstrapPeer } from '../bootstrap/bootstrap-peer.js';
import { startCli, waitFor } from '../support/cli-run.js';

/** Registers over real UDP with a CoAP client of our own, then de-registers. */
async function registerAndLeave(port: number, query: string[]): Promise<string[]> {
  const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const ep = new CoapEndpoint({ channel });
  try {
    const reg = await ep.request(
      { address: '127.0.0.1', port },
      {
        code: CoapCode.POST,
        options: new OptionsBuilder()
          .uriPath(['rd'])
          .uint(OptionNumber.CONTENT_FORMAT, 40)
          .uriQuery(query)
          .build(),
        payload: new TextEncoder().encode('</1/0>,</3/0>'),
      },
    );
    const codes = [formatCode(reg.code)];
    const location = reg.options
      .filter((o) => o.number === OptionNumber.LOCATION_PATH)
      .map((o) => new TextDecoder().decode(o.value));
    if (reg.code === CoapCode.CREATED) {
      const del = await ep.request(
        { address: '127.0.0.1', port },
        { code: CoapCode.DELETE, options: new OptionsBuilder().uriPath(location).build() },
      );
      codes.push(formatCode(del.code));
    }
    return codes;
  } finally {
    await ep.close();
  }
}

/** A Register of `ep` (with /3/0) through `ep`'s channel (DTLS in these tests); the answer code. */
async function registerOver(endpoint: CoapEndpoint, port: number, ep: string): Promise<string> {
  const res = await endpoint.request(
    { address: '127.0.0.1', port },
    {
      code: CoapCode.POST,
      options: new OptionsBuilder()
        .uriPath(['rd'])
        .uint(OptionNumber.CONTENT_FORMAT, 40)
        .uriQuery([`ep=${ep}`, 'lt=60', 'lwm2m=1.2'])
        .build(),
      payload: new TextEncoder().encode('</3/0>'),
    },
  );
  return formatCode(res.code);
}

describe('petrel server', () => {
  it('listens, logs registrations, refusals and de-registrations, and stops on shutdown', async () => {
    let out = '';
    let err = '';
    let stop!: () => void;
    const io: CliIo = {
      readStdin: () => Promise.resolve(new Uint8Array()),
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      shutdown: () => new Promise<void>((resolve) => (stop = resolve)),
    };
    const exit = runCli(
      ['server', '--address', '127.0.0.1', '--coap-port', '0', '--store', 'memory', '--http-port', '0'],
      io,
    );
    await waitFor(() => /listening coap:\/\/127\.0\.0\.1:\d+/.test(out), 'the listening line');
    const port = Number(/listening coap:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    assert.ok(port > 0);

    assert.deepEqual(await registerAndLeave(port, ['ep=cli-dev', 'lt=60', 'lwm2m=1.2']), ['2.01', '2.02']);
    await waitFor(() => out.includes('deregistered ep=cli-dev'), 'the deregistered line');
    assert.match(out, /registered ep=cli-dev id=\w+ lwm2m=1\.2 lt=60 b=U from 127\.0\.0\.1:\d+ objects=1,3/);
    assert.deepEqual(await registerAndLeave(port, ['ep=cli-dev', 'lwm2m=1.2']), ['4.00']);
    await waitFor(() => out.includes('refused register'), 'the refused line');
    assert.match(out, /refused register from 127\.0\.0\.1:\d+: 4\.00 .*lt/);

    stop();
    assert.equal(await exit, 0, err);
    assert.match(out, /stopped/);
  });

  it('logs JSON lines with --json', async () => {
    let out = '';
    let stop!: () => void;
    const io: CliIo = {
      readStdin: () => Promise.resolve(new Uint8Array()),
      stdout: (s) => void (out += s),
      stderr: () => undefined,
      shutdown: () => new Promise<void>((resolve) => (stop = resolve)),
    };
    const exit = runCli(
      [
        'server',
        '--address',
        '127.0.0.1',
        '--coap-port',
        '0',
        '--json',
        '--store',
        'memory',
        '--http-port',
        '0',
      ],
      io,
    );
    await waitFor(() => out.includes('"listening"'), 'the listening event');
    const listening = JSON.parse(out.split('\n')[0]!) as { event: string; port: number };
    assert.equal(listening.event, 'listening');
    await registerAndLeave(listening.port, ['ep=json-dev', 'lt=60', 'lwm2m=1.1']);
    await waitFor(() => out.includes('"deregistered"'), 'the deregistered event');
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; endpoint?: string; lwm2m?: string });
    const reg = events.find((e) => e.event === 'registered');
    assert.equal(reg?.endpoint, 'json-dev');
    assert.equal(reg?.lwm2m, '1.1');
    stop();
    assert.equal(await exit, 0);
  });

  it('serves coaps:// with --coaps-port: a PSK set through the API registers over DTLS', async () => {
    let out = '';
    let err = '';
    let stop!: () => void;
    const io: CliIo = {
      readStdin: () => Promise.resolve(new Uint8Array()),
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      shutdown: () => new Promise<void>((resolve) => (stop = resolve)),
    };
    const exit = runCli(
      [
        'server',
        '--address',
        '127.0.0.1',
        '--coap-port',
        '0',
        '--coaps-port',
        '0',
        '--psk-hint',
        'petrel',
        '--store',
        'memory',
        '--http-port',
        '0',
      ],
      io,
    );
    await waitFor(() => /http:\/\/\S+/.test(out), 'the http line');
    const coapsPort = Number(/listening coaps:\/\/127\.0\.0\.1:(\d+) \(DTLS: PSK\)/.exec(out)?.[1]);
    assert.ok(coapsPort > 0, out);
    const url = /http (http:\/\/\S+\/) /.exec(out)![1]!;
    const put = await fetch(`${url}api/security/clients/cli-secure`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ psk: { identity: 'cli-id', key: '00112233445566778899aabbccddeeff' } }),
    });
    assert.equal(put.status, 200);
    const dtls = DtlsChannel.client({
      channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
      psk: { identity: 'cli-id', key: Buffer.from('00112233445566778899aabbccddeeff', 'hex') },
    });
    const ep = new CoapEndpoint({ channel: dtls });
    try {
      assert.equal(await registerOver(ep, coapsPort, 'cli-secure'), '2.01');
      await waitFor(() => out.includes('registered ep=cli-secure'), 'the registered line');
    } finally {
      await ep.close();
    }
    stop();
    assert.equal(await exit, 0, err);
  });

  it('runs a Bootstrap-Server with --bootstrap-port: a configuration PUT through the API bootstraps a device', async () => {
    const cli = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--bootstrap-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(cli.out()), 'the http line');
    const bsPort = Number(/listening bootstrap coap:\/\/127\.0\.0\.1:(\d+)/.exec(cli.out())?.[1]);
    assert.ok(bsPort > 0, cli.out());
    const coapPort = Number(/listening coap:\/\/127\.0\.0\.1:(\d+)/.exec(cli.out())?.[1]);
    const url = /http (http:\/\/\S+\/) /.exec(cli.out())![1]!;
    const config = {
      servers: [
        {
          shortServerId: 101,
          uri: `coap://127.0.0.1:${coapPort}`,
          lifetime: 300,
          binding: 'U',
          security: { mode: 'nosec' },
        },
      ],
    };
    const put = await fetch(`${url}api/bootstrap/clients/cli-bs`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
    });
    assert.equal(put.status, 200);
    const peer = new BootstrapPeer(
      // A real UDP channel is given: the in-memory network is not used.
      undefined as unknown as MemoryNetwork,
      {
        endpoint: 'cli-bs',
        lwm2mVersion: '1.2',
        requestQuery: ['ep=cli-bs'],
        pack: undefined,
        otherLinks: [],
      },
      {
        channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
        server: { address: '127.0.0.1', port: bsPort },
      },
    );
    try {
      assert.equal(formatCode((await peer.bootstrapRequest()).code), '2.04');
      await peer.whenFinished();
      await waitFor(() => cli.out().includes('bootstrap ep=cli-bs succeeded'), 'the bootstrap line');
    } finally {
      await peer.close();
    }
    // The device now holds the configured account: /0/1 (the BS account stays at /0/0) and /1/0.
    const uri = peer.instances.get('/0/1')?.find((r) => r.path.resourceId === 0)?.value?.value;
    assert.equal(uri, `coap://127.0.0.1:${coapPort}`);
    assert.ok(peer.instances.has('/1/0'));
    const sessions = (await (await fetch(`${url}api/bootstrap/sessions`)).json()) as {
      items: { endpoint: string; outcome?: { status: string }; steps: unknown[] }[];
    };
    assert.equal(sessions.items.length, 1);
    assert.equal(sessions.items[0]?.endpoint, 'cli-bs');
    assert.deepEqual(sessions.items[0]?.outcome, { status: 'succeeded' });
    assert.equal(sessions.items[0]?.steps.length, 4);
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('runs the Bootstrap-Server on coaps:// with --bootstrap-coaps-port: a device bootstraps with its PSK', async () => {
    const cli = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--bootstrap-coaps-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(cli.out()), 'the http line');
    assert.doesNotMatch(cli.out(), /listening bootstrap coap:/);
    const port = Number(
      /listening bootstrap coaps:\/\/127\.0\.0\.1:(\d+) \(DTLS: PSK\)/.exec(cli.out())?.[1],
    );
    assert.ok(port > 0, cli.out());
    const url = /http (http:\/\/\S+\/) /.exec(cli.out())![1]!;
    const KEY = '00112233445566778899aabbccddeeff';
    const json = { 'content-type': 'application/json' };
    const psk = await fetch(`${url}api/security/clients/bs-secure`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ psk: { identity: 'bs-id', key: KEY } }),
    });
    assert.equal(psk.status, 200);
    const config = await fetch(`${url}api/bootstrap/clients/bs-secure`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({
        servers: [
          {
            shortServerId: 1,
            uri: 'coaps://127.0.0.1:5684',
            security: { mode: 'psk', identity: 'bs-secure-dm', key: KEY },
          },
        ],
      }),
    });
    assert.equal(config.status, 200);
    const dtls = DtlsChannel.client({
      channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
      psk: { identity: 'bs-id', key: Buffer.from(KEY, 'hex') },
    });
    const peer = new BootstrapPeer(
      undefined as unknown as MemoryNetwork,
      {
        endpoint: 'bs-secure',
        lwm2mVersion: '1.1',
        requestQuery: ['ep=bs-secure'],
        pack: undefined,
        otherLinks: [],
      },
      { channel: dtls, server: { address: '127.0.0.1', port } },
    );
    try {
      assert.equal(formatCode((await peer.bootstrapRequest()).code), '2.04');
      await peer.whenFinished();
      await waitFor(() => cli.out().includes('bootstrap ep=bs-secure succeeded'), 'the bootstrap line');
    } finally {
      await peer.close();
    }
    // The PSK of the configured server account reached the device's /0/1 (Secret Key, /0/x/5).
    const secret = peer.instances.get('/0/1')?.find((r) => r.path.resourceId === 5)?.value?.value;
    assert.equal(Buffer.from(secret as Uint8Array).toString('hex'), KEY);
    const session = (await (await fetch(`${url}api/bootstrap/sessions/bs-secure`)).json()) as {
      transport: string;
      outcome: unknown;
    };
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('logs a finished bootstrap session as one line: succeeded, or failed at the step with its code', () => {
    const base = {
      id: '1',
      endpoint: 'dev',
      kind: 'request' as const,
      peer: '127.0.0.1:1',
      transport: 'udp',
      startedAt: 0,
      reason: 'reconfigure' as const,
      steps: [],
    };
    assert.equal(describeSession({ ...base, outcome: { status: 'succeeded' } }), 'ep=dev succeeded');
    assert.equal(
      describeSession({
        ...base,
        outcome: {
          status: 'failed',
          reason: 'error-code',
          operation: 'bootstrap-write',
          path: '/1/0',
          code: '4.00',
          message: 'refused',
        },
      }),
      'ep=dev failed at bootstrap-write /1/0: 4.00 (refused)',
    );
    assert.equal(
      describeSession({
        ...base,
        kind: 'pack',
        outcome: { status: 'failed', reason: 'stopped', message: 'the bootstrap server stopped' },
      }),
      'ep=dev (pack) failed: stopped (the bootstrap server stopped)',
    );
  });

  it('answers 503 on /api/bootstrap/sessions without --bootstrap-port', async () => {
    const cli = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(cli.out()), 'the http line');
    assert.doesNotMatch(cli.out(), /listening bootstrap/);
    const url = /http (http:\/\/\S+\/) /.exec(cli.out())![1]!;
    const res = await fetch(`${url}api/bootstrap/sessions`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { code: string }).code, 'UNAVAILABLE');
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('serves X.509 devices with --coaps-key, --coaps-cert and --trust-anchors', async () => {
    const cli = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--coaps-port',
      '0',
      '--coaps-key',
      fixturePath('server.key.pem'),
      '--coaps-cert',
      fixturePath('server-chain.pem'),
      '--trust-anchors',
      fixturePath('root-ca.pem'),
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    await waitFor(() => /http:\/\/\S+/.test(cli.out()), 'the http line');
    const coapsPort = Number(
      /listening coaps:\/\/127\.0\.0\.1:(\d+) \(DTLS: PSK, RPK, X\.509\)/.exec(cli.out())?.[1],
    );
    assert.ok(coapsPort > 0, cli.out());
    const url = /http (http:\/\/\S+\/) /.exec(cli.out())![1]!;
    const identity = (await (await fetch(`${url}api/security/server`)).json()) as {
      certificate?: { subject: string };
    };
    assert.match(identity.certificate?.subject ?? '', /CN=localhost/);
    const dtls = DtlsChannel.client({
      channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
      certificate: { privateKey: privateKey('client'), certificateChain: chainOf('client') },
      verifyPeer: x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2, serverName: 'localhost' }),
      serverName: 'localhost',
    });
    const ep = new CoapEndpoint({ channel: dtls });
    try {
      assert.equal(await registerOver(ep, coapsPort, 'petrel-dev-1'), '2.01');
      await waitFor(() => cli.out().includes('registered ep=petrel-dev-1'), 'the registered line');
    } finally {
      await ep.close();
    }
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('exits 1 naming the file when a DTLS key or certificate cannot be used', async () => {
    for (const [flags, message] of [
      [['--coaps-key', fixturePath('root-ca.pem')], /is not a private key/],
      [
        ['--coaps-key', fixturePath('client.key.pem'), '--coaps-cert', fixturePath('server-chain.pem')],
        /is not for the key/,
      ],
      [['--coaps-cert', fixturePath('server-chain.pem')], /--coaps-cert needs --coaps-key/],
      [['--trust-anchors', fixturePath('no-such-file.pem')], /cannot read the certificate file/],
    ] as const) {
      const cli = startCli([
        'server',
        '--coap-port',
        '0',
        '--coaps-port',
        '0',
        '--store',
        'memory',
        ...flags,
      ]);
      assert.equal(await cli.exit, 1);
      assert.match(cli.err(), message);
    }
  });

  it('exits 1 with a clear message when the port is taken or a models folder is missing', async () => {
    const blocker = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    try {
      let err = '';
      const io: CliIo = {
        readStdin: () => Promise.resolve(new Uint8Array()),
        stdout: () => undefined,
        stderr: (s) => void (err += s),
        shutdown: () => Promise.resolve(),
      };
      const taken = await runCli(
        [
          'server',
          '--address',
          '127.0.0.1',
          '--coap-port',
          String(blocker.local.port),
          '--store',
          'memory',
          '--http-port',
          '0',
        ],
        io,
      );
      assert.equal(taken, 1);
      assert.match(err, /cannot start the server/);
      err = '';
      assert.equal(await runCli(['server', '--models', '/nonexistent/models', '--store', 'memory'], io), 1);
      assert.match(err, /cannot load models from \/nonexistent\/models/);
      assert.equal(await runCli(['server', '--coap-port', '70000'], io), 2);
    } finally {
      await blocker.close();
    }
  });

  it('runs as a process and stops on SIGTERM', async () => {
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        main,
        'server',
        '--address',
        '127.0.0.1',
        '--coap-port',
        '0',
        '--store',
        'memory',
        '--http-port',
        '0',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('listening'), 'the child to listen', 15_000);
      const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      assert.equal(await closed, 0);
      assert.match(out, /stopped/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('petrel server --store', () => {
  it('keeps registrations in an SQLite file across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-store-'));
    const file = join(dir, 'petrel.db');
    const start = async (port: string) => {
      let out = '';
      let stop!: () => void;
      const io: CliIo = {
        readStdin: () => Promise.resolve(new Uint8Array()),
        stdout: (s) => void (out += s),
        stderr: () => undefined,
        shutdown: () => new Promise<void>((resolve) => (stop = resolve)),
      };
      const exit = runCli(
        [
          'server',
          '--address',
          '127.0.0.1',
          '--coap-port',
          port,
          '--store',
          `sqlite:${file}`,
          '--http-port',
          '0',
        ],
        io,
      );
      await waitFor(() => /listening coap:\/\/127\.0\.0\.1:\d+/.test(out), 'the listening line');
      return {
        exit,
        stop: () => stop(),
        port: Number(/:(\d+)/.exec(out.split('\n')[0]!)![1]),
        out: () => out,
      };
    };
    try {
      const first = await start('0');
      const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
      const ep = new CoapEndpoint({ channel });
      const reg = await ep.request(
        { address: '127.0.0.1', port: first.port },
        {
          code: CoapCode.POST,
          options: new OptionsBuilder()
            .uriPath(['rd'])
            .uint(OptionNumber.CONTENT_FORMAT, 40)
            .uriQuery(['ep=stored-dev', 'lt=600', 'lwm2m=1.2'])
            .build(),
          payload: new TextEncoder().encode('</3/0>'),
        },
      );
      assert.equal(formatCode(reg.code), '2.01');
      const location = reg.options
        .filter((o) => o.number === OptionNumber.LOCATION_PATH)
        .map((o) => new TextDecoder().decode(o.value));
      first.stop();
      assert.equal(await first.exit, 0);
      const second = await start(String(first.port));
      const update = await ep.request(
        { address: '127.0.0.1', port: second.port },
        { code: CoapCode.POST, options: new OptionsBuilder().uriPath(location).build() },
      );
      assert.equal(formatCode(update.code), '2.04', 'the restarted server knows the registration');
      await waitFor(() => second.out().includes('updated ep=stored-dev'), 'the updated line');
      await ep.close();
      second.stop();
      assert.equal(await second.exit, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('petrel server killed with SIGKILL', () => {
  it('comes back on the same SQLite store: clients keep working, a lapsed lifetime expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-kill-'));
    const file = join(dir, 'petrel.db');
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const launch = (port: number) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          main,
          'server',
          '--address',
          '127.0.0.1',
          '--coap-port',
          String(port),
          '--store',
          `sqlite:${file}`,
          '--http-port',
          '0',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return { child, out: () => out };
    };
    const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const ep = new CoapEndpoint({ channel });
    const register = (port: number, name: string, lt: number) =>
      ep.request(
        { address: '127.0.0.1', port },
        {
          code: CoapCode.POST,
          options: new OptionsBuilder()
            .uriPath(['rd'])
            .uint(OptionNumber.CONTENT_FORMAT, 40)
            .uriQuery([`ep=${name}`, `lt=${lt}`, 'lwm2m=1.2'])
            .build(),
          payload: new TextEncoder().encode('</3/0>'),
        },
      );
    let second: ReturnType<typeof launch> | undefined;
    const first = launch(0);
    try {
      await waitFor(() => first.out().includes('listening'), 'the first server', 15_000);
      const port = Number(/:(\d+)/.exec(first.out())![1]);
      const kept = await register(port, 'kept', 600);
      await register(port, 'lapsing', 1);
      await waitFor(() => first.out().includes('registered ep=lapsing'), 'both registrations');
      const killed = new Promise((resolve) => first.child.once('close', resolve));
      first.child.kill('SIGKILL');
      await killed;
      await new Promise((r) => setTimeout(r, 1200)); // "lapsing" runs out while nobody serves
      second = launch(port);
      await waitFor(() => second!.out().includes('listening'), 'the second server', 15_000);
      await waitFor(() => second!.out().includes('expired ep=lapsing'), 'the lapsed registration to expire');
      const location = kept.options
        .filter((o) => o.number === OptionNumber.LOCATION_PATH)
        .map((o) => new TextDecoder().decode(o.value));
      const update = await ep.request(
        { address: '127.0.0.1', port },
        { code: CoapCode.POST, options: new OptionsBuilder().uriPath(location).build() },
      );
      assert.equal(formatCode(update.code), '2.04', 'the client keeps working without registering again');
    } finally {
      await ep.close();
      for (const c of [first.child, second?.child]) if (c && c.exitCode === null) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
