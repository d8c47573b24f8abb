// `petrel server --firmware-dir` keeps campaigns across a restart: a campaign over a device that
// finishes and one that has not registered yet is stopped with the server, comes back with it, and
// completes when the second device registers, without updating the first one again.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import { runCli } from '../../../src/cli/program.js';
import { cliIo, startCli, waitFor } from '../../support/cli-run.js';

function serverArgs(dir: string, coapPort: string): string[] {
  return [
    'server',
    '--address',
    '127.0.0.1',
    '--coap-port',
    coapPort,
    '--store',
    `sqlite:${join(dir, 'petrel.db')}`,
    '--http-port',
    '0',
    '--firmware-dir',
    join(dir, 'repo'),
    '--firmware-port',
    '0',
  ];
}

const ports = (out: string) => ({
  coap: Number(/^listening coap:\/\/127\.0\.0\.1:(\d+)$/m.exec(out)?.[1]),
  api: `http://127.0.0.1:${/http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]}`,
});

function device(endpoint: string, coapPort: number, installs: string[]): LwM2mClient {
  return new LwM2mClient({
    endpoint,
    servers: [{ uri: `coap://127.0.0.1:${coapPort}`, lifetime: 60 }],
    udp: { address: '127.0.0.1' },
    device: { firmwareVersion: '1.0.0' },
    firmware: {
      application: {
        store: new MemoryFirmwareStore(),
        install: () => {
          installs.push(endpoint);
          return Promise.resolve({ ok: true, version: '2.0.0' });
        },
      },
      pull: { retryDelay: 50 },
    },
  });
}

async function until(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function campaign(
  api: string,
  id: string,
): Promise<{ status: string; devices: { endpoint: string; phase: string }[] }> {
  const res = await fetch(`${api}/api/firmware/campaigns/${id}`);
  assert.ok(res.ok, await res.clone().text());
  return (await res.json()) as { status: string; devices: { endpoint: string; phase: string }[] };
}

describe('petrel server keeps firmware campaigns across a restart', { timeout: 90_000 }, () => {
  it('a campaign stopped with the server goes on after it restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-restart-'));
    writeFileSync(
      join(dir, 'app.bin'),
      Uint8Array.from({ length: 6000 }, (_, i) => (i * 13) & 0xff),
    );
    const installs: string[] = [];
    const first = startCli(serverArgs(dir, '0'));
    let a: LwM2mClient | undefined;
    let b: LwM2mClient | undefined;
    let second: ReturnType<typeof startCli> | undefined;
    try {
      await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(first.out()), 'the http line');
      const p1 = ports(first.out());
      a = device('restart-a', p1.coap, installs);
      await a.start();
      await waitFor(() => first.out().includes('registered ep=restart-a'), 'the registration');
      const c = cliIo();
      const code = await runCli(
        [
          'firmware',
          'campaign',
          'create',
          '--api',
          p1.api,
          '--image-file',
          join(dir, 'app.bin'),
          '--targets',
          'restart-a,restart-b',
        ],
        c.io,
      );
      assert.equal(code, 0, c.err());
      const id = /^campaign ([^\s:]+)/.exec(c.out())?.[1];
      assert.ok(id, c.out());
      await until(
        async () =>
          (await campaign(p1.api, id)).devices.find((d) => d.endpoint === 'restart-a')?.phase === 'succeeded',
        'restart-a updated',
        30_000,
      );
      first.stop();
      assert.equal(await first.exit, 0, first.err());
      assert.deepEqual(readdirSync(join(dir, 'repo', 'campaigns')), [`${id}.json`]);

      // The same port, so restart-a's Updates reach the new process.
      second = startCli(serverArgs(dir, String(p1.coap)));
      const s = second;
      await waitFor(
        () => s.out().includes('1 firmware campaigns restored, 1 going on'),
        'the restore',
        20_000,
      );
      const p2 = ports(s.out());
      const restored = await campaign(p2.api, id);
      assert.equal(restored.status, 'running');
      b = device('restart-b', p2.coap, installs);
      await b.start();
      await until(
        async () => (await campaign(p2.api, id)).status === 'completed',
        'the campaign completes',
        30_000,
      );
      const done = await campaign(p2.api, id);
      assert.deepEqual(
        done.devices.map((d) => [d.endpoint, d.phase]),
        [
          ['restart-a', 'succeeded'],
          ['restart-b', 'succeeded'],
        ],
      );
      assert.deepEqual(installs.sort(), ['restart-a', 'restart-b'], 'each device updated once');
      // `campaign watch` of an ended campaign: its last state and report, exit 0 (none failed).
      const w = cliIo();
      assert.equal(await runCli(['firmware', 'campaign', 'watch', id, '--api', p2.api], w.io), 0, w.err());
      assert.match(
        w.out(),
        new RegExp(`^${id} completed: 2/2 finished \\(succeeded 2\\); 12000 bytes \\(100%\\)$`, 'm'),
      );
      assert.match(w.out(), /^ {2}restart-b {2}succeeded /m);
      // Its history on the server, kept across the restart.
      const h = cliIo();
      assert.equal(
        await runCli(['firmware', 'campaign', 'history', 'restart-a', '--api', p2.api], h.io),
        0,
        h.err(),
      );
      assert.match(
        h.out(),
        new RegExp(`^\\S+Z {2}${id} {2}succeeded {2}1\\.0\\.0 -> 2\\.0\\.0 result 1$`, 'm'),
      );
    } finally {
      await a?.stop().catch(() => undefined);
      await b?.stop().catch(() => undefined);
      first.stop();
      second?.stop();
      await first.exit;
      await second?.exit;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
