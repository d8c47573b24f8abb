import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileFirmwareStore } from '../../../src/client/firmware/file-firmware-store.js';
import { FirmwareStoreError } from '../../../src/client/firmware/firmware-store.js';
import type { StoredImage } from '../../../src/client/firmware/firmware-store.js';
import { FirmwareUpdateInstance } from '../../../src/client/firmware/firmware-update-instance.js';
import { Value } from '../../../src/model/data-types.js';
import { LwM2mPath } from '../../../src/model/path.js';

async function bytesOf(image: StoredImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of image.read()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'petrel-fw-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 3) & 0xff);

describe('FileFirmwareStore', () => {
  it('writes the image as it comes, completes it, reads it back, discards it', () =>
    withDir(async (dir) => {
      const store = new FileFirmwareStore({ directory: join(dir, 'fw') });
      assert.equal(await store.image(), undefined);
      assert.equal(await store.open(0), 0);
      await store.write(data.subarray(0, 2000));
      await store.write(data.subarray(2000));
      assert.equal(await store.image(), undefined, 'not complete before close');
      const image = await store.close();
      assert.equal(image.size, 5000);
      assert.equal(image.path, join(dir, 'fw', 'firmware.bin'));
      assert.deepEqual(await bytesOf(image), data);
      const again = await new FileFirmwareStore({ directory: join(dir, 'fw') }).image();
      assert.deepEqual(again && (await bytesOf(again)), data, 'another store on the directory sees it');
      await store.discard();
      assert.equal(await store.image(), undefined);
      await assert.rejects(stat(image.path ?? ''));
    }));

  it('open(offset) keeps that many bytes to resume after; fewer when fewer were stored', () =>
    withDir(async (dir) => {
      const store = new FileFirmwareStore({ directory: dir });
      await store.open(0);
      await store.write(data.subarray(0, 3000));
      assert.equal(await store.open(2048), 2048);
      await store.write(data.subarray(2048));
      assert.deepEqual(await bytesOf(await store.close()), data);
      assert.equal(await new FileFirmwareStore({ directory: dir }).open(99_999), 5000);
    }));

  it('refuses bytes past maxSize with reason full, and writes before open', () =>
    withDir(async (dir) => {
      const store = new FileFirmwareStore({ directory: dir, maxSize: 4096 });
      await assert.rejects(
        store.write(data),
        (e) => e instanceof FirmwareStoreError && e.reason === 'not-open',
      );
      await store.open(0);
      await store.write(data.subarray(0, 4000));
      await assert.rejects(
        store.write(data.subarray(0, 100)),
        (e) => e instanceof FirmwareStoreError && e.reason === 'full',
      );
    }));

  it('saves the state atomically; a damaged state file reads as none', () =>
    withDir(async (dir) => {
      const store = new FileFirmwareStore({ directory: dir });
      assert.equal(await store.loadState(), undefined);
      const snapshot = {
        status: { state: 1 as const, result: 0 as const, lastStateChange: 5 },
        delivery: 'pull' as const,
        uri: 'coap://h/fw',
        received: 1024,
        etag: 'ab',
      };
      await store.saveState(snapshot);
      assert.deepEqual(await store.loadState(), snapshot);
      await writeFile(join(dir, 'firmware-state.json'), '{"status":');
      assert.equal(await store.loadState(), undefined);
      await store.saveState(undefined);
      assert.equal(await store.loadState(), undefined);
    }));

  it('is the default store of a /5 instance given a directory, and Downloaded survives a restart', () =>
    withDir(async (dir) => {
      const installed: Uint8Array[] = [];
      const make = () =>
        new FirmwareUpdateInstance({
          directory: dir,
          application: {
            install: async (image) => {
              installed.push(await bytesOf(image));
              return { ok: true };
            },
          },
        });
      let fw = make();
      assert.ok(fw.store instanceof FileFirmwareStore);
      fw.write([{ path: LwM2mPath.of(5, 0, 0), value: Value.opaque(data) }]);
      await fw.settled();
      assert.equal(fw.state, 2);
      await fw.close();
      const saved = JSON.parse(await readFile(join(dir, 'firmware-state.json'), 'utf8')) as {
        status: { state: number };
      };
      assert.equal(saved.status.state, 2);
      fw = make();
      await fw.start();
      assert.equal(fw.state, 2);
      fw.execute(2, []);
      await fw.settled();
      assert.deepEqual([fw.state, fw.updateResult], [0, 1]);
      assert.deepEqual(installed, [data]);
      await assert.rejects(stat(join(dir, 'firmware.bin')), 'the image is gone after the update');
    }));

  it('a reset followed at once by a new package keeps the new one (no discard/open race)', () =>
    withDir(async (dir) => {
      const fw = new FirmwareUpdateInstance({
        directory: dir,
        application: { install: () => Promise.resolve({ ok: true }) },
      });
      const write = (bytes: Uint8Array) =>
        fw.write([{ path: LwM2mPath.of(5, 0, 0), value: Value.opaque(bytes) }]);
      assert.ok(write(data).ok);
      await fw.settled();
      const next = data.map((b) => b ^ 0xff);
      assert.ok(write(Uint8Array.of(0)).ok);
      assert.ok(write(next).ok);
      await fw.settled();
      assert.equal(fw.state, 2);
      const image = await fw.store.image();
      assert.deepEqual(image && (await bytesOf(image)), next);
    }));
});
