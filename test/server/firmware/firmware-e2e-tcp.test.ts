// Firmware pull and push end to end over CoAP over TCP (RFC 8323) with the connection cut halfway:
// a TCP proxy in front of the download service (pull) or the LwM2M server (push) resets every
// connection once part of the image went through. The pull reconnects and goes on from the last
// byte stored; the push is a Block1 transfer that the server starts over, so the campaign retries
// it once the device is reachable again. Either way the campaign ends succeeded with the released
// image, and the store saw each byte of the last transfer once, in order.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertWrittenOnceInOrder,
  imageOf,
  packageOf,
  sha256,
  startFirmwareRig,
  within,
  type FirmwareRig,
} from '../../support/firmware-e2e.js';

const IMAGE = imageOf(96 * 1024, 7);
const PACKAGE = packageOf(IMAGE, { version: '2.2.0' });
/** Bytes downstream after which the proxy resets its connections: about a third of the image. */
const CUT_AFTER = 32 * 1024;

describe('firmware end to end over TCP with the connection dropped mid-download', { timeout: 90_000 }, () => {
  let rig: FirmwareRig;
  let imageId: string;

  before(async () => {
    rig = await startFirmwareRig({ link: 'tcp', tcpProxy: true, downloads: { tcp: true }, seed: 31 });
    imageId = (await rig.repository.add(PACKAGE)).id;
  });
  after(() => rig?.close());

  it('pull over coap+tcp: the download reconnects and resumes where it was cut', async () => {
    const proxy = rig.downloadProxy!;
    const served: number[] = [];
    rig.download.on('progress', (p) => served.push(p.offset));
    const cut = proxy.dropAfter(CUT_AFTER);
    const created = await rig.campaign({ image: imageId, method: 'pull' });
    await within(cut, 20_000, 'the cut');
    const servedBeforeCut = served.length;
    const report = await rig.finished(created.id, 40_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.equal(device.scheme, 'coap+tcp');
    assert.equal(device.attempts, 1, 'the client resumed by itself: no campaign retry');
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.equal(proxy.dropped, 1);
    assert.equal(proxy.accepted, 2, 'one new connection after the cut');
    // Resumed, not restarted: the store was opened once and no byte was asked for twice but the
    // block in flight when the connection was cut.
    assert.deepEqual(rig.store.opens(), [{ offset: 0, kept: 0 }]);
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
    const blocks = Math.ceil(PACKAGE.length / 1024);
    assert.ok(servedBeforeCut > 0 && servedBeforeCut < blocks, `cut after ${servedBeforeCut} blocks`);
    assert.ok(served.length <= blocks + 1, `${served.length} blocks served for ${blocks}`);
    assert.equal(served.at(-1), PACKAGE.length);
  });

  /** A push cut by the proxy; `reconnect`: the device opens a new connection with an Update. */
  async function cutPush(reconnect: boolean) {
    rig.store.events.length = 0;
    rig.installed.length = 0;
    const proxy = rig.linkProxy!;
    const acceptedBefore = proxy.accepted;
    const cut = proxy.dropAfter(CUT_AFTER);
    const created = await rig.campaign({ image: imageId, method: 'push' });
    await within(cut, 20_000, 'the cut');
    if (reconnect) await within(rig.client.update(), 10_000, 'the Update after the cut');
    const report = await rig.finished(created.id, 40_000);
    return { device: report.devices[0]!, reconnected: proxy.accepted > acceptedBefore };
  }

  it('push over coap+tcp: the Block1 Write is cut, the device reconnects, the campaign pushes again', async () => {
    const { device, reconnected } = await cutPush(true);
    assert.equal(device.phase, 'succeeded', `${device.reason} (history ${JSON.stringify(device.history)})`);
    assert.equal(device.method, 'push');
    assert.ok(device.attempts >= 2, 'the cut push was retried');
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.ok(reconnected, 'the client connected again');
    // The first transfer was abandoned part way; the last started over and stored each byte once.
    const opens = rig.store.opens();
    assert.ok(opens.length >= 2 && opens.every((o) => o.offset === 0), JSON.stringify(opens));
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
  });

  // Last: when it fails, the device is left Downloading a push nobody finishes.
  it('push over coap+tcp: after the server side connection drops, the client reconnects by itself', async () => {
    const { device, reconnected } = await cutPush(false);
    assert.ok(reconnected, 'the client connected again');
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
  });
});
