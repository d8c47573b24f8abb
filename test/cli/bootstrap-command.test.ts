import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import { formatCode } from '../../src/coap/message.js';
import {
  BOOTSTRAP_SETTING_NAMES,
  ConfigError,
  DEFAULT_BOOTSTRAP_CONFIG_FILE,
  addBootstrapOptions,
  bootstrapConfigWarnings,
  bootstrapEnvName,
  flagName,
  resolveBootstrapConfig,
} from '../../src/cli/config.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { Channel } from '../../src/transport/channel.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { BootstrapPeer } from '../bootstrap/bootstrap-peer.js';
import { fixturePath } from '../support/dtls-fixtures.js';
import { startCli, waitFor } from '../support/cli-run.js';
import type { Cli } from '../support/cli-run.js';

/** The ports of the `listening bootstrap …` lines and the API's URL, once the `http` line is out. */
async function started(cli: Cli): Promise<{ port?: number; coapsPort?: number; url?: string }> {
  await waitFor(() => /^http /m.test(cli.out()), `the command to start ${cli.err()}`);
  const port = /listening bootstrap coap:\/\/127\.0\.0\.1:(\d+)/.exec(cli.out())?.[1];
  const coapsPort = /listening bootstrap coaps:\/\/127\.0\.0\.1:(\d+)/.exec(cli.out())?.[1];
  const url = /^http (http:\/\/\S+\/)api /m.exec(cli.out())?.[1];
  return {
    ...(port === undefined ? {} : { port: Number(port) }),
    ...(coapsPort === undefined ? {} : { coapsPort: Number(coapsPort) }),
    ...(url === undefined ? {} : { url }),
  };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const KEY = '00112233445566778899aabbccddeeff';

function put(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'PUT', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });
}

const nosecConfig = {
  servers: [
    { shortServerId: 101, uri: 'coap://192.0.2.10:5683', lifetime: 300, security: { mode: 'nosec' } },
  ],
};

/** A scripted device (test/bootstrap/bootstrap-peer.ts) on a real channel, talking to `port`. */
function device(endpoint: string, channel: Channel, port: number, lwm2mVersion = '1.2'): BootstrapPeer {
  return new BootstrapPeer(
    // A real channel is given: the in-memory network is not used.
    undefined as unknown as MemoryNetwork,
    { endpoint, lwm2mVersion, requestQuery: [`ep=${endpoint}`], pack: undefined, otherLinks: [] },
    { channel, server: { address: '127.0.0.1', port } },
  );
}

/** Sends the Bootstrap-Request; on 2.04 waits for Bootstrap-Finish. The request's answer code. */
async function bootstrap(peer: BootstrapPeer): Promise<string> {
  try {
    const code = formatCode((await peer.bootstrapRequest()).code);
    if (code === '2.04') await peer.whenFinished();
    return code;
  } finally {
    await peer.close();
  }
}

describe('petrel bootstrap', () => {
  it('serves a configuration PUT through its REST API to a device over CoAP/UDP, logs the session, stops on shutdown', async () => {
    const cli = startCli([
      'bootstrap',
      '--address',
      '127.0.0.1',
      '--port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    const { port, coapsPort, url } = await started(cli);
    assert.ok(port !== undefined && port > 0, cli.out() + cli.err());
    assert.equal(coapsPort, undefined, 'no coaps:// side without --coaps-port');
    assert.ok(url, cli.out());
    assert.equal((await put(`${url}api/bootstrap/clients/bs-dev`, nosecConfig)).status, 200);

    const peer = device('bs-dev', await UdpChannel.open({ address: '127.0.0.1', port: 0 }), port);
    assert.equal(await bootstrap(peer), '2.04');
    await waitFor(() => cli.out().includes('bootstrap ep=bs-dev succeeded'), 'the session line');
    // The configured account reached the device: /0/1 (the BS account stays at /0/0) and /1/0.
    const uri = peer.instances.get('/0/1')?.find((r) => r.path.resourceId === 0)?.value?.value;
    assert.equal(uri, 'coap://192.0.2.10:5683');
    assert.ok(peer.instances.has('/1/0'));

    const session = (await (await fetch(`${url}api/bootstrap/sessions/bs-dev`)).json()) as {
      endpoint: string;
      outcome: unknown;
      steps: unknown[];
    };
    assert.equal(session.endpoint, 'bs-dev');
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    assert.equal(session.steps.length, 4); // Discover, Write /0/1, Write /1/0, Finish (nothing to delete)
    // Only the bootstrap and security routes: there is no LwM2M server here.
    assert.equal((await fetch(`${url}api/clients`)).status, 404);
    assert.equal((await fetch(`${url}api/server`)).status, 404);
    assert.equal((await fetch(`${url}api/security/clients`)).status, 200);
    assert.equal((await fetch(`${url}api/openapi.json`)).status, 200);

    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
    assert.match(cli.out(), /^stopped/m);
  });

  it('reports a failed session with its step and code', async () => {
    const cli = startCli([
      'bootstrap',
      '--address',
      '127.0.0.1',
      '--port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    const { port, url } = await started(cli);
    assert.equal((await put(`${url}api/bootstrap/clients/bs-refuser`, nosecConfig)).status, 200);
    const peer = device('bs-refuser', await UdpChannel.open({ address: '127.0.0.1', port: 0 }), port!);
    peer.override = (method, path) => (method === 'PUT' && path === '/1/0' ? '4.00' : undefined);
    assert.equal(formatCode((await peer.bootstrapRequest()).code), '2.04');
    try {
      await waitFor(() => /bootstrap ep=bs-refuser failed/.test(cli.out()), 'the failed line');
    } finally {
      await peer.close();
    }
    assert.match(cli.out(), /^bootstrap ep=bs-refuser failed at bootstrap-write \/1\/0: 4\.00 \(/m);
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('runs coaps:// only with --coaps-port: a device bootstraps with the PSK set through /api/security', async () => {
    const cli = startCli([
      'bootstrap',
      '--address',
      '127.0.0.1',
      '--coaps-port',
      '0',
      '--psk-hint',
      'petrel-bs',
      '--store',
      'memory',
      '--http-port',
      '0',
    ]);
    const { port, coapsPort, url } = await started(cli);
    assert.equal(port, undefined, 'no plain CoAP port unless asked for');
    assert.ok(coapsPort !== undefined && coapsPort > 0, cli.out() + cli.err());
    assert.match(cli.out(), /listening bootstrap coaps:\/\/127\.0\.0\.1:\d+ \(DTLS: PSK\)/);
    const psk = await put(`${url}api/security/clients/bs-secure`, { psk: { identity: 'bs-id', key: KEY } });
    assert.equal(psk.status, 200);
    const config = {
      servers: [
        {
          shortServerId: 1,
          uri: 'coaps://192.0.2.10:5684',
          security: { mode: 'psk', identity: 'bs-secure-dm', key: KEY },
        },
      ],
    };
    assert.equal((await put(`${url}api/bootstrap/clients/bs-secure`, config)).status, 200);
    assert.deepEqual(await (await fetch(`${url}api/security/server`)).json(), { pskHint: 'petrel-bs' });

    const dtls = DtlsChannel.client({
      channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
      psk: { identity: 'bs-id', key: Buffer.from(KEY, 'hex') },
    });
    const peer = device('bs-secure', dtls, coapsPort, '1.1');
    assert.equal(await bootstrap(peer), '2.04');
    await waitFor(() => cli.out().includes('bootstrap ep=bs-secure succeeded'), 'the session line');
    // The server account's PSK reached the device's /0/1 (Secret Key, /0/x/5).
    const secret = peer.instances.get('/0/1')?.find((r) => r.path.resourceId === 5)?.value?.value;
    assert.equal(Buffer.from(secret as Uint8Array).toString('hex'), KEY);
    const session = (await (await fetch(`${url}api/bootstrap/sessions/bs-secure`)).json()) as {
      outcome: unknown;
    };
    assert.deepEqual(session.outcome, { status: 'succeeded' });
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('refuses a NoSec device that has credentials unless --allow-nosec; logs JSON with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-bs-'));
    const store = `sqlite:${join(dir, 'petrel.db')}`;
    try {
      const run = async (extra: string[]) => {
        const cli = startCli([
          'bootstrap',
          '--address',
          '127.0.0.1',
          '--port',
          '0',
          '--store',
          store,
          '--json',
          ...extra,
        ]);
        await waitFor(() => cli.out().includes('"listening"') || cli.err() !== '', 'the listening event');
        const listening = JSON.parse(cli.out().split('\n')[0]!) as {
          event: string;
          port: number;
          bootstrap: boolean;
        };
        assert.deepEqual([listening.event, listening.bootstrap], ['listening', true]);
        return { cli, port: listening.port };
      };
      // First run: configure through the API (both kept in the SQLite store).
      const first = await run(['--http-port', '0']);
      const url = (
        JSON.parse(
          first.cli
            .out()
            .split('\n')
            .find((l) => l.includes('"http"'))!,
        ) as { url: string }
      ).url;
      assert.equal(
        (await put(`${url}/security/clients/bs-locked`, { psk: { identity: 'locked', key: KEY } })).status,
        200,
      );
      assert.equal((await put(`${url}/bootstrap/clients/bs-locked`, nosecConfig)).status, 200);
      const refused = device(
        'bs-locked',
        await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
        first.port,
      );
      assert.equal(await bootstrap(refused), '4.00');
      first.cli.stop();
      assert.equal(await first.cli.exit, 0, first.cli.err());

      // Second run on the same store, no API, --allow-nosec: the plain request is served.
      const second = await run(['--allow-nosec']);
      assert.doesNotMatch(second.cli.out(), /"http"/);
      const allowed = device(
        'bs-locked',
        await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
        second.port,
      );
      assert.equal(await bootstrap(allowed), '2.04');
      await waitFor(() => second.cli.out().includes('"event":"bootstrap"'), 'the bootstrap event');
      const event = second.cli
        .out()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { event: string; endpoint?: string; outcome?: unknown })
        .find((e) => e.event === 'bootstrap');
      assert.equal(event?.endpoint, 'bs-locked');
      assert.deepEqual(event?.outcome, { status: 'succeeded' });
      second.cli.stop();
      assert.equal(await second.cli.exit, 0, second.cli.err());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shares petrel server's SQLite store: a configuration PUT through the server's API bootstraps a device", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-bs-shared-'));
    const store = `sqlite:${join(dir, 'petrel.db')}`;
    const server = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--store',
      store,
      '--http-port',
      '0',
    ]);
    const bs = startCli(['bootstrap', '--address', '127.0.0.1', '--port', '0', '--store', store]);
    try {
      await waitFor(() => /^http /m.test(server.out()), `the server ${server.err()}`);
      await waitFor(() => /^listening bootstrap/m.test(bs.out()), `the bootstrap server ${bs.err()}`);
      const url = /^http (http:\/\/\S+\/) /m.exec(server.out())![1]!;
      const port = Number(/listening bootstrap coap:\/\/127\.0\.0\.1:(\d+)/.exec(bs.out())![1]);
      assert.equal((await put(`${url}api/bootstrap/clients/bs-shared`, nosecConfig)).status, 200);
      const peer = device('bs-shared', await UdpChannel.open({ address: '127.0.0.1', port: 0 }), port);
      assert.equal(await bootstrap(peer), '2.04');
      await waitFor(() => bs.out().includes('bootstrap ep=bs-shared succeeded'), 'the session line');
    } finally {
      server.stop();
      bs.stop();
      assert.equal(await server.exit, 0, server.err());
      assert.equal(await bs.exit, 0, bs.err());
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requires the --token on its REST API', async () => {
    const token = 'bootstrap-token-0123456789';
    const cli = startCli([
      'bootstrap',
      '--address',
      '127.0.0.1',
      '--port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
      '--token',
      token,
    ]);
    const { url } = await started(cli);
    assert.match(cli.err(), /--token on the command line is visible/);
    assert.equal((await put(`${url}api/bootstrap/clients/bs-tok`, nosecConfig)).status, 401);
    const ok = await put(`${url}api/bootstrap/clients/bs-tok`, nosecConfig, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(ok.status, 200);
    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('gives a usage error (exit 2) for no port at all, a bad store or a bad port', async () => {
    for (const [args, message] of [
      [
        ['bootstrap', '--store', 'memory'],
        /^petrel: no port to listen on: give --port .* and\/or --coaps-port/,
      ],
      [
        ['bootstrap', '--port', '0', '--store', 'mongodb://x'],
        /--store.*expected memory, sqlite:<file> or redis/,
      ],
      [['bootstrap', '--port', '70000'], /--port.*expected a port number 0\.\.65535/],
      [['bootstrap', '--port', '0', '--http-port', 'x'], /--http-port.*expected a port number/],
      [['bootstrap', '--coap-port', '5683'], /unknown option '--coap-port'/],
    ] as const) {
      const cli = startCli([...args]);
      assert.equal(await cli.exit, 2, args.join(' '));
      assert.match(cli.err(), message);
    }
  });

  it('exits 1 when the port is taken or a DTLS key cannot be used', async () => {
    const blocker = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    try {
      for (const flag of ['--port', '--coaps-port']) {
        const taken = startCli([
          'bootstrap',
          '--address',
          '127.0.0.1',
          flag,
          String(blocker.local.port),
          '--store',
          'memory',
        ]);
        assert.equal(await taken.exit, 1);
        assert.match(taken.err(), /cannot start the bootstrap server/);
      }
    } finally {
      await blocker.close();
    }
    const badKey = startCli([
      'bootstrap',
      '--coaps-port',
      '0',
      '--store',
      'memory',
      '--coaps-key',
      fixturePath('root-ca.pem'),
    ]);
    assert.equal(await badKey.exit, 1);
    assert.match(badKey.err(), /cannot set up coaps:\/\/: .*is not a private key/);
  });
});

describe('petrel bootstrap settings', () => {
  const parsed = (args: string[]): Command => {
    const cmd = addBootstrapOptions(new Command('bootstrap'))
      .exitOverride()
      .configureOutput({ writeErr: () => undefined })
      .action(() => undefined);
    cmd.parse(args, { from: 'user' });
    return cmd;
  };
  const files =
    (disk: Record<string, string>) =>
    (path: string): string | undefined =>
      disk[path];
  const resolve = (args: string[], env: NodeJS.ProcessEnv = {}, disk: Record<string, string> = {}) =>
    resolveBootstrapConfig(parsed(args), env, files(disk));

  it('takes each setting from the flag, then PETREL_BOOTSTRAP_*, then its own config file, then the default', () => {
    const disk = {
      [DEFAULT_BOOTSTRAP_CONFIG_FILE]: JSON.stringify({
        port: 15683,
        coapsPort: 15684,
        store: 'sqlite:bs.db',
      }),
    };
    const env = { PETREL_BOOTSTRAP_COAPS_PORT: '25684', PETREL_COAPS_PORT: '9', PETREL_STORE: 'memory' };
    const config = resolve(['--port', '5683'], env, disk);
    assert.deepEqual([config.port, config.sources.port], [5683, 'cli']);
    assert.deepEqual([config.coapsPort, config.sources.coapsPort], [25684, 'env']);
    // The server's variables are not this command's: PETREL_STORE is left alone.
    assert.deepEqual([config.store, config.sources.store], ['sqlite:bs.db', 'file']);
    assert.deepEqual(
      [config.address, config.httpAddress, config.httpPort],
      ['0.0.0.0', '0.0.0.0', undefined],
    );
    assert.equal(config.allowNosec, false);
    assert.deepEqual([resolve([]).port, resolve([]).coapsPort], [undefined, undefined], 'no default port');
    assert.equal(resolve(['--port', '1', '--address', '127.0.0.1']).httpAddress, '127.0.0.1');
    assert.equal(resolve(['--port', '1'], { PETREL_BOOTSTRAP_ALLOW_NOSEC: 'yes' }).allowNosec, true);
    assert.equal(resolve(['--port', '1', '--allow-nosec']).sources.allowNosec, 'cli');
    // The server's file is not read: its keys would mean something else here.
    assert.equal(
      resolve(['--port', '1'], {}, { './petrel.config.json': '{"coapsPort": 1}' }).coapsPort,
      undefined,
    );
  });

  it('reads --config or PETREL_BOOTSTRAP_CONFIG and names the file and key of a bad value', () => {
    assert.equal(resolve(['--config', 'a.json'], {}, { 'a.json': '{"port": 7}' }).port, 7);
    assert.equal(
      resolve([], { PETREL_BOOTSTRAP_CONFIG: 'b.json' }, { 'b.json': '{"coapsPort": 8}' }).coapsPort,
      8,
    );
    assert.throws(
      () => resolve([], { PETREL_BOOTSTRAP_CONFIG: 'missing.json' }),
      (e) =>
        e instanceof ConfigError && /^PETREL_BOOTSTRAP_CONFIG: no such file: missing\.json/.test(e.message),
    );
    assert.throws(
      () => resolve(['--config', 'c.json'], {}, { 'c.json': '{"coap_port": 1}' }),
      (e) =>
        e instanceof ConfigError &&
        /c\.json: unknown key "coap_port" \(known keys: address, port, /.test(e.message),
    );
    assert.throws(
      () => resolve(['--config', 'd.json'], {}, { 'd.json': '{"allow_nosec": true}' }),
      (e) => e instanceof ConfigError && /did you mean "allowNosec"/.test(e.message),
    );
    assert.throws(
      () => resolve(['--port', '1'], { PETREL_BOOTSTRAP_HTTP_PORT: 'abc' }),
      (e) =>
        e instanceof ConfigError && /^PETREL_BOOTSTRAP_HTTP_PORT: expected a port number/.test(e.message),
    );
    assert.throws(() => parsed(['--port', '-1']), CommanderError);
  });

  it('declares a flag and a PETREL_BOOTSTRAP_ variable for every setting, and warns about an open API', () => {
    const cmd = addBootstrapOptions(new Command('bootstrap'));
    for (const name of BOOTSTRAP_SETTING_NAMES) {
      const option = cmd.options.find((o) => o.long === flagName(name));
      assert.ok(option, flagName(name));
      assert.ok(option.description.includes(bootstrapEnvName(name)), option.description);
      assert.equal(option.defaultValue, undefined);
    }
    assert.equal(bootstrapEnvName('coapsPort'), 'PETREL_BOOTSTRAP_COAPS_PORT');
    assert.equal(flagName('allowNosec'), '--allow-nosec');
    assert.deepEqual(bootstrapConfigWarnings(resolve(['--port', '1'])), [], 'no API, nothing to warn about');
    const [open] = bootstrapConfigWarnings(resolve(['--port', '1', '--http-port', '8081']));
    assert.match(open!, /REST API .* on 0\.0\.0\.0:8081 has no token/);
    assert.match(open!, /PETREL_BOOTSTRAP_TOKEN/);
    assert.deepEqual(
      bootstrapConfigWarnings(resolve(['--port', '1', '--http-port', '1', '--address', '::1'])),
      [],
    );
  });
});

describe('petrel bootstrap --config on disk', () => {
  it('starts from a config file whose relative SQLite path is relative to the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-bs-conf-'));
    try {
      const file = join(dir, 'bs.json');
      writeFileSync(
        file,
        JSON.stringify({ address: '127.0.0.1', port: 0, store: 'sqlite:./bs.db', json: true }),
      );
      const cli = startCli(['bootstrap', '--config', file]);
      await waitFor(() => cli.out().includes('"listening"') || cli.err() !== '', 'the listening event');
      const listening = JSON.parse(cli.out().split('\n')[0]!) as { address: string; port: number };
      assert.equal(listening.address, '127.0.0.1');
      assert.ok(listening.port > 0);
      cli.stop();
      assert.equal(await cli.exit, 0, cli.err());
      assert.ok(existsSync(join(dir, 'bs.db')), 'the store is beside the file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
