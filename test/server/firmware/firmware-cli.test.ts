// `petrel server --firmware-dir` with `petrel firmware campaign …` against it, over real sockets:
// a real LwM2mClient registers over UDP and pulls the image from the download service.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import { runCli } from '../../../src/cli/program.js';
import { cliIo, startCli, waitFor } from '../../support/cli-run.js';

async function petrel(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = cliIo();
  const code = await runCli(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

describe('petrel server --firmware-dir and petrel firmware campaign', () => {
  it('uploads, runs a pull campaign to a real device, shows per-device phases, and keeps the image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-cli-'));
    const image = Uint8Array.from({ length: 12_000 }, (_, i) => (i * 11) & 0xff);
    writeFileSync(join(dir, 'app.bin'), image);
    const args = [
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
    ];
    const fwArgs = ['--firmware-dir', join(dir, 'repo'), '--firmware-port', '0'];
    const server = startCli([...args, ...fwArgs]);
    const store = new MemoryFirmwareStore();
    let client: LwM2mClient | undefined;
    try {
      await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(server.out()), 'the http line');
      assert.match(server.out(), /listening coap:\/\/127\.0\.0\.1:\d+\/fw \(firmware downloads; images in /);
      const coapPort = Number(/^listening coap:\/\/127\.0\.0\.1:(\d+)$/m.exec(server.out())![1]);
      const api = `http://127.0.0.1:${/http:\/\/127\.0\.0\.1:(\d+)\//.exec(server.out())![1]}`;
      client = new LwM2mClient({
        endpoint: 'cli-fw',
        servers: [{ uri: `coap://127.0.0.1:${coapPort}`, lifetime: 60 }],
        device: { firmwareVersion: '1.0.0' },
        firmware: {
          application: {
            store,
            protocols: [0],
            install: () => Promise.resolve({ ok: true, version: '2.0.0' }),
          },
          pull: { retryDelay: 50 },
        },
      });
      await client.start();
      await waitFor(() => server.out().includes('registered ep=cli-fw'), 'the registration');

      const created = await petrel([
        'firmware',
        'campaign',
        'create',
        '--api',
        api,
        '--image-file',
        join(dir, 'app.bin'),
        '--targets',
        'cli-fw',
        '--method',
        'pull',
        '--name',
        'first',
      ]);
      assert.equal(created.code, 0, created.err);
      assert.match(created.err, /^uploaded .*app\.bin: image [0-9a-f]{64}\n$/);
      const id = /^campaign (\S+) \(first\): running/.exec(created.out)?.[1];
      assert.ok(id, created.out);

      let shown = '';
      for (let i = 0; i < 150 && !shown.includes(': completed;'); i++) {
        shown = (await petrel(['firmware', 'campaign', 'show', id, '--api', api])).out;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(shown, /: completed;/);
      assert.match(shown, /devices 1, finished 1: succeeded 1; 12000 bytes delivered/);
      assert.match(shown, /^ {2}cli-fw {2}succeeded {2}pull\/coap {2}12000\/12000 result 1 now 2\.0\.0$/m);
      assert.equal(store.size, 0, 'installed');

      const json = await petrel(['firmware', 'campaign', 'show', id, '--api', api, '--json']);
      assert.equal((JSON.parse(json.out) as { devices: { phase: string }[] }).devices[0]!.phase, 'succeeded');
      const missing = await petrel(['firmware', 'campaign', 'pause', 'nope', '--api', api]);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /404 NOT_FOUND no campaign nope/);
      const usage = await petrel(['firmware', 'campaign', 'create', '--api', api, '--targets', 'x']);
      assert.equal(usage.code, 2);
    } finally {
      await client?.stop().catch(() => undefined);
      server.stop();
      assert.equal(await server.exit, 0, server.err());
    }
    // The image outlives the server: the next one lists it.
    const again = startCli([...args, ...fwArgs]);
    try {
      await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(again.out()), 'the http line');
      const api = `http://127.0.0.1:${/http:\/\/127\.0\.0\.1:(\d+)\//.exec(again.out())![1]}`;
      const images = (await (await fetch(`${api}/api/firmware/images`)).json()) as {
        size: number;
        label: string;
      }[];
      assert.deepEqual(
        images.map((i) => [i.size, i.label]),
        [[12_000, 'app.bin']],
      );
    } finally {
      again.stop();
      assert.equal(await again.exit, 0, again.err());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
