// Firmware push and pull end to end over CoAP/UDP through a hostile network: a real LwM2mServer
// runs a campaign against a real LwM2mClient with a signed package while the UDP fault proxy loses
// 30% of the datagrams each way, duplicates 10% and reorders them, on the LwM2M link and in front
// of the download service. The campaign succeeds, the installed image is the one released, and
// every byte reached the client's store once, in order (retransmissions and duplicates are
// absorbed by the CoAP layers, never written twice).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertWrittenOnceInOrder,
  imageOf,
  packageOf,
  sha256,
  startFirmwareRig,
  type FirmwareRig,
} from '../../support/firmware-e2e.js';

const IMAGE = imageOf(20 * 1024, 3);
const PACKAGE = packageOf(IMAGE);

describe('firmware end to end over UDP with 30% loss', { timeout: 90_000 }, () => {
  let rig: FirmwareRig;
  let imageId: string;

  before(async () => {
    rig = await startFirmwareRig({ link: 'udp', lossy: true });
    imageId = (await rig.repository.add(PACKAGE)).id;
  });
  after(() => rig?.close());

  /** The proxies really were hostile: about 30% lost. */
  async function assertLossy(): Promise<void> {
    const f = await rig.faults();
    const share = f.dropped / (f.dropped + f.forwarded);
    assert.ok(share > 0.15 && share < 0.45, `${f.dropped} of ${f.dropped + f.forwarded} dropped`);
    assert.ok(f.duplicated > 0);
  }

  it('push: Block1 Write through the lossy link; installed, each block stored once in order', async () => {
    const created = await rig.campaign({ image: imageId, method: 'push' });
    const report = await rig.finished(created.id, 40_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.equal(device.method, 'push');
    assert.equal(device.attempts, 1, 'no retry was needed');
    assert.equal(device.version, '2.0.0');
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.deepEqual(rig.store.opens(), [{ offset: 0, kept: 0 }], 'one download, from the start');
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
    await assertLossy();
  });

  it('pull: coap:// from the download service through the lossy proxy; each block stored once in order', async () => {
    rig.store.events.length = 0;
    rig.installed.length = 0;
    const created = await rig.campaign({ image: imageId, method: 'pull' });
    const report = await rig.finished(created.id, 40_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.equal(device.method, 'pull');
    assert.equal(device.scheme, 'coap');
    assert.equal(device.attempts, 1);
    assert.ok(device.bytes >= PACKAGE.length, `the service served ${device.bytes} bytes`);
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.deepEqual(rig.store.opens(), [{ offset: 0, kept: 0 }]);
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
    assert.equal(rig.download.grants.size, 0, 'the download token was revoked');
    await assertLossy();
  });
});
