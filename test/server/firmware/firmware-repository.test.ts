import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildPackage } from '../../../src/firmware/package-envelope.js';
import {
  DirectoryFirmwareRepository,
  FirmwareRepositoryError,
  MemoryFirmwareRepository,
} from '../../../src/server/firmware/firmware-repository.js';
import type { FirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const reason = (r: string) => (e: unknown) => e instanceof FirmwareRepositoryError && e.reason === r;

function contract(
  name: string,
  make: (limits?: { maxImageBytes?: number; maxImages?: number }) => FirmwareRepository,
) {
  describe(name, () => {
    it('stores plain images under their SHA-256 and reads ranges', async () => {
      const repo = make();
      const img = bytes(3000);
      const info = await repo.add(img, { label: 'app.bin' });
      assert.deepEqual(
        { ...info, addedAt: 0 },
        { id: sha(img), size: 3000, kind: 'plain', label: 'app.bin', addedAt: 0 },
      );
      assert.equal((await repo.add(img)).addedAt, info.addedAt, 'the same bytes: the same entry');
      assert.deepEqual(await repo.read(info.id), img);
      assert.deepEqual(await repo.read(info.id, 1024, 2048), img.subarray(1024, 2048));
      assert.deepEqual(await repo.read(info.id, 2990, 9999), img.subarray(2990));
      assert.equal((await repo.read(info.id, 5000, 6000))?.length, 0);
      assert.equal(await repo.read('0'.repeat(64)), undefined);
      assert.deepEqual(
        (await repo.list()).map((i) => i.id),
        [info.id],
      );
      assert.equal(await repo.delete(info.id), true);
      assert.equal(await repo.delete(info.id), false);
      assert.equal(await repo.get(info.id), undefined);
    });

    it('records what a package says about itself', async () => {
      const repo = make();
      const inner = bytes(2000, 3);
      const pkg = buildPackage(
        inner,
        { version: '2.4.1', name: 'acme-fw', vendor: 'Acme', deviceClass: 'meter', minVersion: '2.0' },
        keys.privateKey,
      );
      const info = await repo.add(pkg);
      assert.deepEqual(
        { ...info, addedAt: 0 },
        {
          id: sha(pkg),
          size: pkg.length,
          kind: 'package',
          signed: true,
          version: '2.4.1',
          name: 'acme-fw',
          vendor: 'Acme',
          deviceClass: 'meter',
          minVersion: '2.0',
          imageDigest: sha(inner),
          addedAt: 0,
        },
      );
      assert.equal((await repo.add(buildPackage(inner, { version: '3' }))).signed, false);
    });

    it('refuses empty, oversized, broken and mismatched packages, and past its bounds', async () => {
      const repo = make({ maxImageBytes: 10_000, maxImages: 2 });
      await assert.rejects(repo.add(new Uint8Array(0)), reason('empty'));
      await assert.rejects(repo.add(bytes(10_001)), reason('too-large'));
      const pkg = buildPackage(bytes(500), { version: '1' });
      await assert.rejects(repo.add(pkg.subarray(0, 20)), reason('bad-package'));
      const tampered = pkg.slice();
      tampered[tampered.length - 1]! ^= 1;
      await assert.rejects(repo.add(tampered), reason('bad-package'));
      await assert.rejects(repo.add(pkg.subarray(0, pkg.length - 1)), reason('bad-package'));
      await repo.add(bytes(100, 1));
      await repo.add(bytes(100, 2));
      await assert.rejects(repo.add(bytes(100, 3)), reason('full'));
      assert.equal((await repo.list()).length, 2);
    });
  });
}

contract('MemoryFirmwareRepository', (limits) => new MemoryFirmwareRepository(limits));

const dirs: string[] = [];
contract('DirectoryFirmwareRepository', (limits) => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-repo-'));
  dirs.push(dir);
  return new DirectoryFirmwareRepository(dir, limits);
});

describe('DirectoryFirmwareRepository on disk', () => {
  it('a new instance on the same folder finds the images; a stray file is not one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-repo-'));
    try {
      const img = bytes(5000, 9);
      const info = await new DirectoryFirmwareRepository(dir).add(img);
      assert.deepEqual(readdirSync(dir).sort(), [`${info.id}.bin`, `${info.id}.json`]);
      const again = new DirectoryFirmwareRepository(dir);
      assert.deepEqual(await again.get(info.id), info);
      assert.deepEqual(await again.read(info.id, 100, 200), img.subarray(100, 200));
      rmSync(join(dir, `${info.id}.bin`));
      assert.equal(await new DirectoryFirmwareRepository(dir).get(info.id), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
