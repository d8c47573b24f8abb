// `petrel client --bootstrap`: the simulated device bootstraps over real UDP from a
// Bootstrap-Server, registers where it was sent, keeps that in its --state file, and after a
// restart registers from the file alone. Flag mistakes are usage errors that say what to give.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { cliIo, waitFor } from '../support/cli-run.js';

async function rig(t: TestContext) {
  const dm = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, model: createSimulatorModel() });
  await dm.start();
  const configs = new MemoryBootstrapConfigStore();
  const bs = new BootstrapServer({ configs, udp: { address: '127.0.0.1', port: 0 }, requestTimeout: 3000 });
  await bs.start();
  await configs.put('cli-bs-1', {
    servers: [
      {
        shortServerId: 7,
        uri: `coap://127.0.0.1:${dm.address!.port}`,
        lifetime: 120,
        security: { mode: 'nosec' },
      },
    ],
  });
  const dir = await mkdtemp(join(tmpdir(), 'petrel-cli-state-'));
  t.after(async () => {
    await bs.stop();
    await dm.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { dm, bs, state: join(dir, 'state.json'), bsUri: `coap://127.0.0.1:${bs.address!.port}` };
}

describe('petrel client --bootstrap', () => {
  it('bootstraps, registers, saves its state, and registers from it after a restart', async (t) => {
    const r = await rig(t);
    const first = cliIo();
    let registered = once(r.dm, 'registered') as Promise<[Registration]>;
    const exit1 = runCli(
      [
        'client',
        '--endpoint',
        'cli-bs-1',
        '--bootstrap',
        r.bsUri,
        '--state',
        r.state,
        '--no-stdin',
        '--json',
      ],
      first.io,
    );
    t.after(first.stop);
    const [reg] = await registered;
    assert.equal(reg.endpoint, 'cli-bs-1');
    await waitFor(
      () => first.out().includes('"event":"registered"') && first.out().includes('"event":"bootstrapped"'),
      'the bootstrapped and registered lines',
    );
    assert.equal(reg.lifetime, 120);
    const lines = first
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; [k: string]: unknown });
    const events = lines.map((l) => l.event);
    assert.ok(events.includes('bootstrap') && events.includes('bootstrapped'), events.join(','));
    assert.ok(events.indexOf('bootstrapped') < events.lastIndexOf('registered'));
    first.stop();
    assert.equal(await exit1, 0, first.err());
    const saved = JSON.parse(await readFile(r.state, 'utf8')) as {
      format: string;
      records: Record<string, unknown>;
    };
    assert.equal(saved.format, 'petrel-client-state');
    assert.equal(saved.records['/1/0/0'], 7);

    // Second run: the state alone (no --server, no --bootstrap) is enough.
    const second = cliIo();
    registered = once(r.dm, 'registered') as Promise<[Registration]>;
    const exit2 = runCli(['client', '--endpoint', 'cli-bs-1', '--state', r.state, '--no-stdin'], second.io);
    t.after(second.stop);
    await registered;
    assert.match(second.out(), /provisioned\s+from state/);
    assert.doesNotMatch(second.out(), /bootstrapped/);
    second.stop();
    assert.equal(await exit2, 0, second.err());
  });

  it('refuses flag combinations that cannot work, saying what to give', async () => {
    const cases: [string[], RegExp][] = [
      [['client', '--endpoint', 'x', '--no-stdin'], /give --server <uri>, or --bootstrap <uri>/],
      [
        ['client', '--endpoint', 'x', '--bootstrap', 'coaps://127.0.0.1:5784', '--no-stdin'],
        /needs --bootstrap-psk-identity/,
      ],
      [
        [
          'client',
          '--endpoint',
          'x',
          '--bootstrap',
          'coap://127.0.0.1:5783',
          '--bootstrap-psk-identity',
          'a',
          '--no-stdin',
        ],
        /only for a coaps:\/\/ Bootstrap-Server/,
      ],
      [
        ['client', '--endpoint', 'x', '--bootstrap', 'not a uri', '--no-stdin'],
        /is not a coap:\/\/ or coaps:\/\/ URI/,
      ],
      [
        ['client', '--endpoint', 'x', '--factory', '/nonexistent/factory.json', '--no-stdin'],
        /--factory: cannot read/,
      ],
      [
        [
          'client',
          '--endpoint',
          'x',
          '--bootstrap',
          'coap://127.0.0.1:1',
          '--network-may-change',
          'cloud',
          '--no-stdin',
        ],
        /expected factory, smartcard/,
      ],
    ];
    for (const [args, message] of cases) {
      const c = cliIo();
      const code = await runCli(args, c.io);
      assert.equal(code, 2, `${args.join(' ')}: ${c.err()}`);
      assert.match(c.err(), message);
    }
  });
});
