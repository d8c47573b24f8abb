// `petrel server --coaps-port --firmware-dir --firmware-coaps-port` over real sockets: a device
// registered over DTLS with a PSK set through the REST API, listing only coaps in /5/0/8, pulls a
// campaign's image from the coaps:// download side with that same PSK.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import { cliIo, startCli, waitFor } from '../../support/cli-run.js';
import { runCli } from '../../../src/cli/program.js';

const KEY = '00112233445566778899aabbccddeeff';

describe('petrel server --firmware-coaps-port', { timeout: 60_000 }, () => {
  it('refuses a bad port', async () => {
    const c = cliIo();
    const code = await runCli(
      ['server', '--store', 'memory', '--firmware-dir', tmpdir(), '--firmware-coaps-port', '70000'],
      c.io,
    );
    assert.notEqual(code, 0);
    assert.match(c.err(), /--firmware-coaps-port 70000: expected 0 \.\. 65535/);
  });

  it('serves coaps:// downloads with the PSKs of the credential store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-coaps-cli-'));
    const image = Uint8Array.from({ length: 9000 }, (_, i) => (i * 7) & 0xff);
    writeFileSync(join(dir, 'app.bin'), image);
    const server = startCli([
      'server',
      '--address',
      '127.0.0.1',
      '--coap-port',
      '0',
      '--coaps-port',
      '0',
      '--store',
      'memory',
      '--http-port',
      '0',
      '--firmware-dir',
      join(dir, 'repo'),
      '--firmware-port',
      '0',
      '--firmware-coaps-port',
      '0',
    ]);
    const store = new MemoryFirmwareStore();
    let client: LwM2mClient | undefined;
    try {
      await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(server.out()), 'the http line');
      const out = server.out();
      assert.match(out, /^listening coaps:\/\/127\.0\.0\.1:\d+\/fw \(firmware downloads over DTLS\)$/m);
      const coapsPort = Number(/^listening coaps:\/\/127\.0\.0\.1:(\d+) \(DTLS/m.exec(out)![1]);
      const api = `http://127.0.0.1:${/http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)![1]}`;
      const put = await fetch(`${api}/api/security/clients/cli-fw-dtls`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ psk: { identity: 'cli-fw-id', key: KEY } }),
      });
      assert.ok(put.ok, await put.text());
      client = new LwM2mClient({
        endpoint: 'cli-fw-dtls',
        servers: [
          {
            uri: `coaps://127.0.0.1:${coapsPort}`,
            lifetime: 60,
            security: {
              securityMode: 0,
              publicKeyOrIdentity: 'cli-fw-id',
              secretKey: Buffer.from(KEY, 'hex'),
            },
          },
        ],
        udp: { address: '127.0.0.1' },
        device: { firmwareVersion: '1.0.0' },
        firmware: {
          application: {
            store,
            protocols: [1],
            install: () => Promise.resolve({ ok: true, version: '2.0.0' }),
          },
          pull: { retryDelay: 50 },
        },
      });
      await client.start();
      await waitFor(() => server.out().includes('registered ep=cli-fw-dtls'), 'the registration');

      const c = cliIo();
      const code = await runCli(
        [
          'firmware',
          'campaign',
          'create',
          '--api',
          api,
          '--image-file',
          join(dir, 'app.bin'),
          '--targets',
          'cli-fw-dtls',
          '--method',
          'pull',
        ],
        c.io,
      );
      assert.equal(code, 0, c.err());
      const id = /^campaign ([^\s:]+)/.exec(c.out())?.[1];
      assert.ok(id, c.out());
      let shown = '';
      for (let i = 0; i < 150 && !shown.includes(': completed;'); i++) {
        const s = cliIo();
        await runCli(['firmware', 'campaign', 'show', id, '--api', api], s.io);
        shown = s.out() + s.err();
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(
        shown,
        /^ {2}cli-fw-dtls {2}succeeded {2}pull\/coaps {2}9000\/9000 result 1 now 2\.0\.0$/m,
      );
    } finally {
      await client?.stop().catch(() => undefined);
      server.stop();
      assert.equal(await server.exit, 0, server.err());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
