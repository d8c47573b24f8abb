// Firmware push and pull end to end over DTLS (PSK) through a hostile network: the UDP fault proxy
// sits under DTLS (30% loss each way, duplicates, reordering), on the LwM2M coaps:// link and in
// front of the download service's new coaps:// side. The device lists only coaps (1) in /5/0/8,
// so the campaign hands it a coaps:// URI; it pulls with the PSK of the server that wrote the URI,
// which the download service looks up in the same credential store as the LwM2M server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoapEndpoint } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import { OptionsBuilder } from '../../../src/coap/options.js';
import { DtlsChannel } from '../../../src/dtls/dtls-channel.js';
import { UdpChannel } from '../../../src/transport/udp-channel.js';
import {
  DTLS_TIMING,
  LOOPBACK,
  PSK_KEY,
  assertWrittenOnceInOrder,
  imageOf,
  packageOf,
  sha256,
  startFirmwareRig,
  type FirmwareRig,
} from '../../support/firmware-e2e.js';

const IMAGE = imageOf(16 * 1024, 5);
const PACKAGE = packageOf(IMAGE, { version: '2.1.0' });

describe('firmware end to end over DTLS (PSK) with 30% loss', { timeout: 120_000 }, () => {
  let rig: FirmwareRig;
  let imageId: string;

  before(async () => {
    rig = await startFirmwareRig({
      link: 'dtls',
      lossy: true,
      downloads: { udp: true, coaps: true },
      protocols: [1],
      seed: 21,
    });
    imageId = (await rig.repository.add(PACKAGE)).id;
  });
  after(() => rig?.close());

  it('registers over DTLS through the lossy proxy', async () => {
    const reg = await rig.server.getRegistration(rig.endpoint);
    assert.equal(reg?.transport, 'dtls');
    assert.deepEqual(rig.download.schemes(), ['coap', 'coaps']);
  });

  it('push over the DTLS link: installed, each block stored once in order', async () => {
    const created = await rig.campaign({ image: imageId, method: 'push' });
    const report = await rig.finished(created.id, 50_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.equal(device.method, 'push');
    assert.equal(device.attempts, 1);
    assert.equal(device.version, '2.1.0');
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.deepEqual(rig.store.opens(), [{ offset: 0, kept: 0 }]);
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
  });

  it('pull from the coaps:// side (the device lists only coaps): a DTLS PSK session of its own', async () => {
    rig.store.events.length = 0;
    rig.installed.length = 0;
    const served: number[] = [];
    rig.download.on('progress', (p) => served.push(p.offset));
    const created = await rig.campaign({ image: imageId, method: 'pull' });
    const report = await rig.finished(created.id, 60_000);
    const device = report.devices[0]!;
    assert.equal(device.phase, 'succeeded', device.reason);
    assert.equal(device.method, 'pull');
    assert.equal(device.scheme, 'coaps');
    assert.equal(device.attempts, 1);
    assert.deepEqual(rig.installed, [sha256(IMAGE)]);
    assert.deepEqual(rig.store.opens(), [{ offset: 0, kept: 0 }]);
    assertWrittenOnceInOrder(rig.store, IMAGE.length);
    assert.equal(served.at(-1), PACKAGE.length, 'the coaps side served the last byte');
    const f = await rig.faults();
    assert.ok(f.dropped > 0, 'the proxies dropped datagrams');
  });

  it('the coaps:// side refuses a download without a token, and a handshake with an unknown PSK', async () => {
    const peer = { address: LOOPBACK, port: rig.download.coapsAddress!.port };
    const get = async (identity: string, key: Uint8Array, query: string[]): Promise<number> => {
      const channel = DtlsChannel.client({
        channel: await UdpChannel.open({ address: LOOPBACK, port: 0 }),
        psk: { identity, key },
        timing: { ...DTLS_TIMING, handshakeTimeout: 1500 },
      });
      const failed = new Promise<never>((_, reject) => channel.onError(reject));
      failed.catch(() => undefined);
      const endpoint = new CoapEndpoint({ channel });
      try {
        const options = new OptionsBuilder().uriPath(['fw', imageId]).uriQuery(query).build();
        const r = await Promise.race([
          endpoint.request(peer, { code: CoapCode.GET, options }, { timeout: 5000 }),
          failed,
        ]);
        return r.code;
      } finally {
        await endpoint.close();
        await channel.close();
      }
    };
    assert.equal(await get(`${rig.endpoint}-id`, PSK_KEY, []), CoapCode.UNAUTHORIZED);
    const grant = rig.download.issue(imageId, rig.endpoint);
    assert.equal(await get(`${rig.endpoint}-id`, PSK_KEY, [`t=${grant.token}`]), CoapCode.CONTENT);
    rig.download.grants.revoke(grant.token);
    await assert.rejects(get('nobody', PSK_KEY, [`t=${grant.token}`]), /unknown_psk_identity|alert/i);
  });
});
