// libcoap's coap-client-notls (Debian libcoap3-bin) downloads an image from Petrel's firmware
// download service with Block2 (-b), over UDP and TCP on 127.0.0.1, and the bytes match; without a
// token it gets 4.01.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FirmwareDownloadService } from '../../src/server/firmware/firmware-download-service.js';
import type { DownloadProgress } from '../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../src/server/firmware/firmware-repository.js';
import { requirePeer, run } from '../support/peers.js';

const img = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 29 + 5) & 0xff);

describe('firmware download service with libcoap', () => {
  it('coap-client-notls fetches the image in Block2 blocks; no token: 4.01', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    if (!client) return;
    const repository = new MemoryFirmwareRepository();
    const { id } = await repository.add(img);
    const service = new FirmwareDownloadService({
      repository,
      udp: { address: '127.0.0.1', port: 0 },
      tcp: { address: '127.0.0.1', port: 0 },
    });
    await service.start();
    const dir = await mkdtemp(join(tmpdir(), 'petrel-fw-libcoap-'));
    const progress: DownloadProgress[] = [];
    service.on('progress', (p) => progress.push(p));
    try {
      for (const [scheme, block] of [
        ['coap', 64],
        ['coap', 1024],
        ['coap+tcp', 256],
      ] as const) {
        progress.length = 0;
        const grant = service.issue(id, `libcoap-${scheme}-${block}`);
        const out = join(dir, `${scheme}-${block}.bin`);
        const r = await run(client, [
          '-m',
          'get',
          '-b',
          String(block),
          '-o',
          out,
          service.uri(scheme, id, grant.token)!,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(new Uint8Array(await readFile(out)), img, `${scheme} -b ${block}`);
        assert.equal(progress.length, Math.ceil(img.length / block), `blocks of ${block} bytes`);
        assert.ok(progress.every((p) => p.grant.token === grant.token));
      }
      const refused = await run(client, [
        '-m',
        'get',
        '-b',
        '64',
        `coap://127.0.0.1:${service.udpAddress!.port}/fw/${id}`,
      ]);
      assert.match(refused.stdout + refused.stderr, /4\.01/);
    } finally {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
