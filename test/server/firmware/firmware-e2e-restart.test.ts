// A client restarted in the middle of a campaign's pull: the device process stops (stop()
// deregisters) while the package downloads over CoAP/UDP, and a new client starts on the same
// firmware directory. It resumes the pull from the offset it saved, not from zero, and the
// campaign, which waited for the device to come back, ends succeeded with the released image.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeviceReport } from '../../../src/server/firmware/firmware-campaigns.js';
import {
  assertWrittenOnceInOrder,
  imageOf,
  packageOf,
  sha256,
  startFirmwareRig,
  waitUntil,
  type FirmwareRig,
} from '../../support/firmware-e2e.js';

const IMAGE = imageOf(200 * 1024, 9);
const PACKAGE = packageOf(IMAGE, { version: '2.3.0' });
/** Past the first saved offset (the client saves every 64 KiB of transfer). */
const STOP_AT = 120 * 1024;

describe('firmware pull across a client restart', { timeout: 90_000 }, () => {
  let rig: FirmwareRig;
  let directory: string;
  let imageId: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'petrel-fw-e2e-'));
    rig = await startFirmwareRig({ link: 'udp', directory, pull: { blockSize: 512 } });
    imageId = (await rig.repository.add(PACKAGE)).id;
  });
  after(async () => {
    await rig?.close();
    await rm(directory, { recursive: true, force: true });
  });

  /**
   * Starts a pull campaign, stops the client once STOP_AT bytes were served, waits until `ready`, and
   * starts a new client on the same directory; resolves with the campaign's device report.
   */
  async function restartMidPull(
    spec: { pollInterval: number; observe: boolean },
    ready: (campaign: string) => Promise<void>,
  ) {
    rig.installed.length = 0;
    const served: number[] = [];
    const onProgress = (p: { offset: number }): void => void served.push(p.offset);
    rig.download.on('progress', onProgress);
    try {
      const created = await rig.campaign({ image: imageId, method: 'pull', ...spec });
      await waitUntil(() => (served.at(-1) ?? 0) >= STOP_AT, 20_000, `${STOP_AT} bytes served`);
      const first = rig.store;
      await rig.client.stop();
      const stored = Math.max(...first.events.flatMap((e) => (e.op === 'write' ? [e.at + e.length] : [])));
      assert.ok(stored >= 64 * 1024, `the first client stored ${stored} bytes`);
      const before = served.length;
      await ready(created.id);
      await rig.restartClient();
      const report = await rig.finished(created.id, 40_000);
      return { device: report.devices[0]!, servedAfter: served.length - before };
    } finally {
      rig.download.off('progress', onProgress);
    }
  }

  /** The new client resumed from its saved offset, stored the rest once, and installed the image. */
  function assertResumed(device: DeviceReport, servedAfter: number): void {
    assert.equal(device.phase, 'succeeded', `${device.reason} (history ${JSON.stringify(device.history)})`);
    assert.equal(device.method, 'pull');
    assert.equal(device.version, '2.3.0');
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    const opens = rig.store.opens();
    assert.equal(
      opens.length,
      1,
      `one open, the download not started over: ${JSON.stringify(rig.store.events.filter((e) => e.op !== 'write'))}`,
    );
    assert.ok(opens[0]!.offset > 0 && opens[0]!.kept === opens[0]!.offset, JSON.stringify(opens));
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
    // The service served the rest, not the whole package again.
    const blocks = Math.ceil(PACKAGE.length / 512);
    assert.ok(servedAfter < blocks, `${servedAfter} blocks after the restart (${blocks} in all)`);
  }

  it('a restart between two polls of /5/0: the new client resumes from its saved offset', async () => {
    const { device, servedAfter } = await restartMidPull({ pollInterval: 4000, observe: false }, () =>
      Promise.resolve(),
    );
    assertResumed(device, servedAfter);
    assert.equal(device.attempts, 1);
  });

  it('a restart the campaign sees (Read /5/0 fails meanwhile): it waits and the resumed download finishes', async () => {
    const { device, servedAfter } = await restartMidPull({ pollInterval: 100, observe: true }, (campaign) =>
      // Down for 1.5 s (many polls of /5/0 go unanswered), or until the campaign gives up on it.
      waitUntil(
        () => rig.campaigns.get(campaign)?.devices[0]?.phase !== 'downloading',
        1500,
        'the campaign to give up',
      ).catch(() => undefined),
    );
    assertResumed(device, servedAfter);
    assert.equal(device.attempts, 1, 'the campaign waited: no second attempt');
  });
});
