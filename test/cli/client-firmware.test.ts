// `petrel client --firmware-*`: the simulated device takes a signed package from an in-process
// LwM2mServer over UDP, "installs" it (records the version), and /3/0/3 follows; a tampered one is
// refused and reported.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { buildPackage } from '../../src/firmware/package-envelope.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { SendEvent } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { cliIo, startCli, waitFor } from '../support/cli-run.js';
import { untilResource } from '../support/until.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = Uint8Array.from({ length: 6000 }, (_, i) => (i * 5) & 0xff);

async function read(server: LwM2mServer, ep: string, path: string): Promise<unknown> {
  const r = await server.read(ep, path);
  assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
  return r.records[0]?.value?.value;
}

/** Polls `path` until it is `expected`; a read that does not answer 2.05 fails at once. */
const until = (server: LwM2mServer, ep: string, path: string, expected: unknown): Promise<void> =>
  untilResource(server, ep, path, expected, { strict: true });

describe('petrel client --firmware-dir', () => {
  it('a signed package pushed, verified, executed: /3/0/3 shows its version; a tampered one is refused', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-cli-fw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const pub = join(dir, 'release.pub');
    await writeFile(pub, release.publicKey.export({ format: 'pem', type: 'spki' }));
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      model: createSimulatorModel(),
      requestTimeout: 5000,
    });
    await server.start();
    const registered = once(server, 'registered') as Promise<[Registration]>;
    const cli = startCli([
      'client',
      '--endpoint',
      'cli-fw-1',
      '--server',
      `coap://127.0.0.1:${server.address!.port}`,
      '--firmware-dir',
      join(dir, 'fw'),
      '--firmware-trust',
      pub,
      '--firmware-class',
      'sensor-v2',
      '--firmware-install-seconds',
      '0.1',
      '--no-stdin',
      '--interval',
      '3600',
    ]);
    t.after(async () => {
      cli.stop();
      await cli.exit;
      await server.stop();
    });
    const [reg] = await registered;
    const ep = reg.endpoint;
    assert.deepEqual(
      reg.objects.filter((o) => o.id === 5 || o.id === 33000).map((o) => [o.id, o.instances]),
      [
        [5, [0]],
        [33000, [0]],
      ],
    );
    assert.equal(await read(server, ep, '/3/0/3'), '1.0.0');

    const pkg = buildPackage(
      IMAGE,
      { version: '1.1.0', deviceClass: 'sensor-v2', name: 'sim' },
      release.privateKey,
    );
    const written = await server.write(ep, '/5/0/0', Value.opaque(pkg), { format: 'opaque' });
    assert.equal(written.code, '2.04', written.diagnostic);
    await until(server, ep, '/5/0/3', 2);
    assert.equal(await read(server, ep, '/5/0/7'), '1.1.0');
    assert.equal((await server.execute(ep, '/5/0/2')).code, '2.04');
    await until(server, ep, '/3/0/3', '1.1.0');
    await until(server, ep, '/5/0/5', 1);
    assert.equal((await readFile(join(dir, 'fw', 'installed-version'), 'utf8')).trim(), '1.1.0');
    assert.match(cli.out(), /firmware state=downloaded result=0 version=1\.1\.0/);

    // A tampered package: refused (5), logged, and reported with Send.
    const bad = buildPackage(IMAGE, { version: '1.2.0', deviceClass: 'sensor-v2' }, release.privateKey);
    bad[bad.length - 1]! ^= 1;
    const sent = once(server, 'send') as Promise<[SendEvent]>;
    assert.equal((await server.write(ep, '/5/0/0', Value.opaque(bad), { format: 'opaque' })).code, '2.04');
    await until(server, ep, '/5/0/5', 5);
    const [event] = await sent;
    const code = event.result.records.find((r) => r.path.toString() === '/33000/0/2');
    assert.equal(code?.value?.value, 'digest');
    await waitFor(() => /firmware-failed verify\/digest result=5/.test(cli.out()), 'the failure line');
    assert.equal(await read(server, ep, '/3/0/3'), '1.1.0', 'still the installed version');

    cli.stop();
    assert.equal(await cli.exit, 0, cli.err());
  });

  it('--firmware-defer defers the update once; a restart keeps the installed version', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-cli-fw-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      model: createSimulatorModel(),
      requestTimeout: 5000,
    });
    await server.start();
    const args = [
      'client',
      '--endpoint',
      'cli-fw-2',
      '--server',
      `coap://127.0.0.1:${server.address!.port}`,
      '--firmware-dir',
      dir,
      '--firmware-install-seconds',
      '0',
      '--firmware-defer',
      '1',
      '--no-stdin',
      '--interval',
      '3600',
    ];
    let registered = once(server, 'registered');
    const first = startCli(args);
    t.after(async () => {
      first.stop();
      await first.exit;
      await server.stop();
    });
    await registered;
    // Without --firmware-trust an unsigned package is taken, and its manifest names the version.
    const pkg = buildPackage(IMAGE, { version: '2.0.0' });
    assert.equal(
      (await server.write('cli-fw-2', '/5/0/0', Value.opaque(pkg), { format: 'opaque' })).code,
      '2.04',
    );
    await until(server, 'cli-fw-2', '/5/0/3', 2);
    const executed = Date.now();
    assert.equal((await server.execute('cli-fw-2', '/5/0/2')).code, '2.04');
    await until(server, 'cli-fw-2', '/5/0/5', 11);
    await until(server, 'cli-fw-2', '/3/0/3', '2.0.0');
    assert.ok(Date.now() - executed >= 900, 'deferred about a second');
    first.stop();
    assert.equal(await first.exit, 0, first.err());

    registered = once(server, 'registered');
    const second = startCli(args);
    t.after(async () => {
      second.stop();
      await second.exit;
    });
    await registered;
    assert.equal(await read(server, 'cli-fw-2', '/3/0/3'), '2.0.0');
    second.stop();
    assert.equal(await second.exit, 0, second.err());
  });

  it('the firmware flags without --firmware-dir are a usage error', async () => {
    const c = cliIo();
    const code = await runCli(
      ['client', '--endpoint', 'x', '--server', 'coap://127.0.0.1:9', '--firmware-class', 'c', '--no-stdin'],
      c.io,
    );
    assert.equal(code, 2);
    assert.match(c.err(), /--firmware-class: only with --firmware-dir/);
  });
});
