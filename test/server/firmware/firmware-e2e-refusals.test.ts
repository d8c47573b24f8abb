// Packages the device must refuse, end to end over CoAP/UDP: an image altered after it was signed
// (a corrupt repository, pushed and pulled), a package signed by a key the device does not trust,
// and one made for another class of device. The client maps each refusal to the Update Result of
// object 5 (5 integrity check failure, 6 unsupported package type), installs nothing and keeps
// nothing, and the campaign reports the device failed with that result and its meaning, without
// retrying (another attempt would be refused the same way).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type {
  FirmwareImageInfo,
  FirmwareRepository,
} from '../../../src/server/firmware/firmware-repository.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { imageOf, packageOf, startFirmwareRig, type FirmwareRig } from '../../support/firmware-e2e.js';

const IMAGE = imageOf(12 * 1024, 13);

/** A repository whose stored bytes of one image went bad after it was checked: one byte flipped. */
class CorruptRepository implements FirmwareRepository {
  readonly inner = new MemoryFirmwareRepository();
  /** Image id → offset of the flipped byte. */
  readonly corrupt = new Map<string, number>();

  add(bytes: Uint8Array, options?: { label?: string }): Promise<FirmwareImageInfo> {
    return this.inner.add(bytes, options);
  }
  get(id: string): Promise<FirmwareImageInfo | undefined> {
    return this.inner.get(id);
  }
  async read(id: string, start = 0, end?: number): Promise<Uint8Array | undefined> {
    const bytes = await this.inner.read(id, start, end);
    const at = this.corrupt.get(id);
    if (!bytes || at === undefined || at < start || at >= start + bytes.length) return bytes;
    const copy = bytes.slice();
    copy[at - start]! ^= 0x5a;
    return copy;
  }
  list(): Promise<FirmwareImageInfo[]> {
    return this.inner.list();
  }
  delete(id: string): Promise<boolean> {
    return this.inner.delete(id);
  }
}

describe('firmware the device refuses, end to end', { timeout: 60_000 }, () => {
  const repository = new CorruptRepository();
  let rig: FirmwareRig;

  before(async () => {
    rig = await startFirmwareRig({ link: 'udp', repository, endpoint: 'fw-e2e-refusals' });
  });
  after(() => rig?.close());

  async function refused(
    bytes: Uint8Array,
    method: 'push' | 'pull',
    corruptAt?: number,
  ): Promise<{ updateResult?: number; reason?: string; attempts: number; code?: string }> {
    const info = await repository.add(bytes);
    if (corruptAt !== undefined) repository.corrupt.set(info.id, corruptAt);
    rig.installed.length = 0;
    const created = await rig.campaign({ image: info.id, method });
    const report = await rig.finished(created.id, 30_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'failed', `the device ended ${device.phase}`);
    assert.equal(device.method, method);
    assert.deepEqual(rig.installed, [], 'nothing installed');
    const fw = rig.client.firmware!;
    assert.equal(fw.state, 0, 'Idle again');
    assert.equal(await fw.store.image(), undefined, 'the refused package is not kept');
    return {
      ...(device.updateResult === undefined ? {} : { updateResult: device.updateResult }),
      ...(device.reason === undefined ? {} : { reason: device.reason }),
      attempts: device.attempts,
      ...(fw.lastError ? { code: fw.lastError.code } : {}),
    };
  }

  it('an image altered after signing, pushed: Update Result 5 (integrity), no retry', async () => {
    const pkg = packageOf(IMAGE, { version: '3.0.1' });
    const r = await refused(pkg, 'push', pkg.length - 100);
    assert.equal(r.updateResult, 5);
    assert.match(r.reason ?? '', /Update Result 5: integrity check failure/);
    assert.equal(r.attempts, 1);
    assert.equal(r.code, 'digest');
  });

  it('an image altered after signing, pulled: Update Result 5 (integrity)', async () => {
    const pkg = packageOf(IMAGE, { version: '3.0.2' });
    const r = await refused(pkg, 'pull', pkg.length - 5000);
    assert.equal(r.updateResult, 5);
    assert.match(r.reason ?? '', /Update Result 5: integrity check failure/);
    assert.equal(r.code, 'digest');
  });

  it('signed by a key the device does not trust: Update Result 5 (integrity)', async () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const r = await refused(packageOf(IMAGE, { version: '3.0.3' }, stranger.privateKey), 'pull');
    assert.equal(r.updateResult, 5);
    assert.match(r.reason ?? '', /Update Result 5: integrity check failure/);
    assert.equal(r.attempts, 1);
    assert.equal(r.code, 'signature');
  });

  it('for another class of device: Update Result 6 (unsupported package type)', async () => {
    const r = await refused(packageOf(IMAGE, { version: '3.0.4', deviceClass: 'toaster' }), 'push');
    assert.equal(r.updateResult, 6);
    assert.match(r.reason ?? '', /Update Result 6: unsupported package type/);
    assert.equal(r.attempts, 1);
    assert.equal(r.code, 'device-class');
  });
});
