// The campaign engine over simulated devices (the CampaignGateway seam): a thousand devices with
// failures, deferrals, lost downloads and sleepers; targets by filter; rate; bad specs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FirmwareCampaignError, FirmwareCampaigns } from '../../../src/server/firmware/firmware-campaigns.js';
import type { CampaignSpec } from '../../../src/server/firmware/firmware-campaigns.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { MemoryTagStore } from '../../../src/store/memory-tag-store.js';
import { SimulatedGateway } from './simulated-gateway.js';
import type { Behaviour } from './simulated-gateway.js';

const FAST = { pollInterval: 5, retryDelay: 5, timeouts: { request: 1000, download: 5000, update: 5000 } };

async function rig(tags?: MemoryTagStore) {
  const gateway = new SimulatedGateway();
  const repository = new MemoryFirmwareRepository();
  const info = await repository.add(Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff));
  const campaigns = new FirmwareCampaigns({ gateway, repository, ...(tags ? { tags } : {}) });
  return {
    gateway,
    campaigns,
    info,
    close: () => {
      void campaigns.close();
      gateway.close();
    },
  };
}

describe('FirmwareCampaigns over simulated fleets', () => {
  it('1,000 devices, 10% failing and 10% deferring, some lost downloads, sleepers and reboots: an exact report', async () => {
    const r = await rig();
    try {
      const behaviourOf = (i: number): Behaviour =>
        i % 10 === 0
          ? 'fail'
          : i % 10 === 1
            ? 'defer'
            : i % 10 === 2 && i < 300
              ? 'flaky'
              : i % 10 === 3 && i < 100
                ? 'asleep'
                : i % 10 === 4 && i < 100
                  ? 'reboot'
                  : 'ok';
      const names: string[] = [];
      for (let i = 0; i < 1000; i++) {
        const ep = `dev-${String(i).padStart(4, '0')}`;
        names.push(ep);
        r.gateway.add(ep, behaviourOf(i));
      }
      const started = Date.now();
      const c = await r.campaigns.create({
        image: r.info.id,
        targets: names,
        method: 'push',
        concurrency: 200,
        ...FAST,
      });
      const report = await r.campaigns.finished(c.id);
      assert.ok(Date.now() - started < 15_000, 'well under the test budget');
      assert.equal(report.status, 'completed');
      assert.deepEqual(report.totals, {
        devices: 1000,
        phases: {
          queued: 0,
          waiting: 0,
          checking: 0,
          downloading: 0,
          downloaded: 0,
          updating: 0,
          deferred: 0,
          succeeded: 900,
          failed: 100,
          skipped: 0,
          cancelled: 0,
        },
        finished: 1000,
        bytes: 1000 * 5000,
      });
      report.devices.forEach((d, i) => {
        const b = behaviourOf(i);
        assert.equal(d.endpoint, names[i]);
        assert.equal(d.phase, b === 'fail' ? 'failed' : 'succeeded', d.endpoint);
        assert.equal(d.attempts, b === 'flaky' ? 2 : 1, d.endpoint);
        assert.equal(d.deferrals, b === 'defer' ? 1 : 0, d.endpoint);
        assert.equal(d.updateResult, b === 'fail' ? 8 : 1, d.endpoint);
        assert.equal(d.version, b === 'fail' ? undefined : '2.0.0');
        if (b === 'fail') assert.equal(d.reason, 'Update Result 8: firmware update failed');
        if (b === 'asleep')
          assert.ok(
            d.history.some((h) => h.phase === 'waiting'),
            d.endpoint,
          );
        if (b === 'flaky')
          assert.deepEqual(d.history.map((h) => h.phase).slice(0, 5), [
            'queued',
            'checking',
            'downloading',
            'queued',
            'checking',
          ]);
        if (b === 'defer') assert.ok(d.history.some((h) => h.phase === 'deferred'));
        // Unreachable while it installs: followed to its outcome, not downloaded again.
        if (b === 'reboot')
          assert.deepEqual(
            d.history.map((h) => h.phase),
            ['queued', 'checking', 'downloading', 'downloaded', 'succeeded'],
          );
      });
      assert.equal(
        [...r.gateway.devices.values()].reduce((n, d) => n + d.downloads, 0),
        1030,
        'one download each, two for the 30 that lost theirs',
      );
    } finally {
      r.close();
    }
  });

  it('targets by endpoint prefix, by tags, and only devices at a version (the others skipped)', async () => {
    const tags = new MemoryTagStore();
    const r = await rig(tags);
    try {
      for (const ep of ['paris-1', 'paris-2', 'lyon-1']) r.gateway.add(ep);
      r.gateway.devices.get('paris-2')!.version = '0.9.0';
      await tags.set('lyon-1', ['beta']);
      await tags.set('paris-1', ['beta', 'site:paris']);
      const byPrefix = await r.campaigns.create({
        image: r.info.id,
        targets: { endpointPrefix: 'paris-', currentVersion: '1.0.0' },
        ...FAST,
      });
      const done = await r.campaigns.finished(byPrefix.id);
      assert.deepEqual(
        done.devices.map((d) => [d.endpoint, d.phase, d.reason]),
        [
          ['paris-1', 'succeeded', undefined],
          ['paris-2', 'skipped', 'its firmware version is 0.9.0, not 1.0.0'],
        ],
      );
      const byTags = await r.campaigns.create({ image: r.info.id, targets: { tags: ['beta'] }, ...FAST });
      assert.deepEqual(
        byTags.devices.map((d) => d.endpoint),
        ['lyon-1', 'paris-1'],
      );
      await r.campaigns.finished(byTags.id);
    } finally {
      r.close();
    }
  });

  it('starts at most `rate` devices a second', async () => {
    const r = await rig();
    try {
      const names = ['a', 'b', 'c', 'd', 'e'];
      for (const ep of names) r.gateway.add(ep);
      const c = await r.campaigns.create({
        image: r.info.id,
        targets: names,
        rate: 20,
        concurrency: 5,
        ...FAST,
      });
      const report = await r.campaigns.finished(c.id);
      const starts = report.devices.map((d) => d.timings.startedAt!).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++)
        assert.ok(starts[i]! - starts[i - 1]! >= 40, `starts ${starts.join(', ')} are 50 ms apart`);
    } finally {
      r.close();
    }
  });

  it('retries a lost download after a back-off that doubles; gives up after `retries`', async () => {
    const r = await rig();
    try {
      r.gateway.add('flaky', 'flaky');
      const lost = r.gateway.add('lost', 'flaky');
      lost.downloads = -10; // loses every download
      const report = await r.campaigns.finished(
        (
          await r.campaigns.create({
            image: r.info.id,
            targets: ['flaky', 'lost'],
            ...FAST,
            retries: 2,
            retryDelay: 60,
          })
        ).id,
      );
      const [flaky, gaveUp] = report.devices;
      assert.equal(flaky!.phase, 'succeeded');
      assert.equal(flaky!.attempts, 2);
      const h = flaky!.history;
      const requeued = h.findIndex((e, i) => i > 0 && e.phase === 'queued');
      assert.ok(h[requeued + 1]!.at - h[requeued]!.at >= 55, 'waited retryDelay');
      assert.equal(gaveUp!.phase, 'failed');
      assert.equal(gaveUp!.attempts, 3);
      assert.equal(gaveUp!.updateResult, 4);
      assert.equal(gaveUp!.reason, 'download failed: Update Result 4: connection lost during the download');
      const waits = gaveUp!.history
        .map((e, i, all) => (e.phase === 'queued' && i > 0 ? all[i + 1]!.at - e.at : undefined))
        .filter((w): w is number => w !== undefined);
      assert.equal(waits.length, 2);
      assert.ok(waits[0]! >= 55 && waits[1]! >= 115, `back-offs ${waits.join(', ')} ms: 60 then 120`);
    } finally {
      r.close();
    }
  });

  it('refuses bad campaigns with typed errors', async () => {
    const r = await rig();
    try {
      r.gateway.add('x');
      const refuse = async (spec: CampaignSpec, reason: string) =>
        assert.rejects(
          r.campaigns.create(spec),
          (e: unknown) => e instanceof FirmwareCampaignError && e.reason === reason,
        );
      await refuse({ image: 'f'.repeat(64), targets: ['x'] }, 'unknown-image');
      await refuse({ image: r.info.id, targets: [] }, 'no-targets');
      await refuse({ image: r.info.id, targets: { endpointPrefix: 'nobody' } }, 'no-targets');
      await refuse({ image: r.info.id, targets: ['x'], method: 'pull' }, 'bad-spec');
      await refuse({ image: r.info.id, targets: ['x'], concurrency: 0 }, 'bad-spec');
      await refuse({ image: r.info.id, targets: { tags: ['beta'] } }, 'bad-spec');
      assert.throws(
        () => r.campaigns.pause('nope'),
        (e: unknown) => e instanceof FirmwareCampaignError && e.reason === 'unknown-campaign',
      );
    } finally {
      r.close();
    }
  });

  it('a device that only pulls, with no download service, fails at once with the reason', async () => {
    const r = await rig();
    try {
      r.gateway.add('puller').delivery = 0;
      const report = await r.campaigns.finished(
        (await r.campaigns.create({ image: r.info.id, targets: ['puller'], ...FAST })).id,
      );
      assert.equal(report.devices[0]!.phase, 'failed');
      assert.equal(
        report.devices[0]!.reason,
        'the device takes only pull and no scheme it lists in /5/0/8 (coap) is served',
      );
    } finally {
      r.close();
    }
  });
});
