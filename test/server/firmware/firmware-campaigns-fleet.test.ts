// The campaign engine over simulated devices (the CampaignGateway seam): a thousand devices with
// failures, deferrals, lost downloads and sleepers; targets by filter; rate; bad specs; totals kept
// as devices move that always equal a count over the devices.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryCampaignStore } from '../../../src/server/firmware/campaign-store.js';
import {
  FirmwareCampaignError,
  FirmwareCampaigns,
  recountTotals,
} from '../../../src/server/firmware/firmware-campaigns.js';
import type {
  CampaignEvent,
  CampaignSpec,
  CampaignTotals,
  DevicePhase,
} from '../../../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { MemoryTagStore } from '../../../src/store/memory-tag-store.js';
import { MemoryNetwork } from '../../../src/transport/memory-channel.js';
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

  it('the totals of every event equal a count over the devices: pulls, pushes, mixed outcomes, pause, resume, cancel, restart', async () => {
    const gateway = new SimulatedGateway();
    const repository = new MemoryFirmwareRepository();
    const info = await repository.add(Uint8Array.from({ length: 5000 }, (_, i) => (i * 3) & 0xff));
    const network = new MemoryNetwork();
    const download = new FirmwareDownloadService({
      repository,
      channel: network.channel('10.0.0.5', 5685),
      publicHost: '10.0.0.5',
    });
    await download.start();
    // The devices pull through the service's grants, 1024 bytes a block, so its progress events
    // reach the engine as a real pull's would.
    gateway.serve = (uri, offset) => {
      const url = new URL(uri);
      const grant = download.grants.check(url.pathname.split('/')[2]!, url.searchParams.get('t') ?? '');
      if (!grant) return undefined;
      const bytes = Math.min(1024, info.size - offset);
      download.served(grant, offset + bytes, info.size, bytes);
      return { bytes, size: info.size };
    };
    const behaviours: Behaviour[] = ['ok', 'fail', 'defer', 'flaky', 'asleep', 'reboot'];
    const add = (prefix: string, count: number): string[] =>
      Array.from({ length: count }, (_, i) => {
        const ep = `${prefix}${String(i).padStart(3, '0')}`;
        const sim = gateway.add(ep, behaviours[i % behaviours.length]);
        if (i % 7 === 3) sim.delivery = 1; // takes push only
        if (i % 11 === 5) sim.version = '0.9.0'; // skipped by the currentVersion filter
        return ep;
      });
    add('mix-', 120);
    const cancelled = add('cx-', 20);
    const store = new MemoryCampaignStore();
    // Each reading of this clock is 250 ms on, so a pull's progress (at most one event a second per
    // device) makes events in the middle of a download too, not only at its end.
    let clock = 1_000_000;
    const engine = (): FirmwareCampaigns =>
      new FirmwareCampaigns({ gateway, repository, download, store, now: () => (clock += 250) });
    const spec = {
      image: info.id,
      pollInterval: 5,
      retryDelay: 5,
      deferRetry: 86_400_000,
      timeouts: { request: 1000, download: 7 * 86_400_000, update: 7 * 86_400_000, wait: 5000 },
    };
    // Checked from inside the listener (an exception there would be swallowed by the emitter).
    const mismatches: string[] = [];
    const seen = { events: 0, restoring: 0, progress: 0 };
    // Each campaign's devices as its events last showed them: while restore() revives a campaign
    // it is not yet listed, and only phase events (no byte changes) come.
    const lastSeen = new Map<string, Map<string, { phase: DevicePhase; bytes: number }>>();
    const check = (campaigns: FirmwareCampaigns) => (e: CampaignEvent) => {
      seen.events++;
      let devices = lastSeen.get(e.campaign);
      if (e.device) devices?.set(e.device.endpoint, { phase: e.device.phase, bytes: e.device.bytes });
      const report = campaigns.get(e.campaign);
      if (report) devices = new Map(report.devices.map((d) => [d.endpoint, d]));
      else seen.restoring++;
      if (e.device?.phase === 'downloading' && e.device.bytes > 0 && e.device.bytes < info.size)
        seen.progress++;
      const want = devices && recountTotals([...devices.values()]);
      if (!want || !sameTotals(e.totals, want))
        mismatches.push(
          `event ${e.seq} (${e.type} ${e.device?.endpoint ?? e.status}): ${JSON.stringify(e.totals)}`,
        );
      if (report && !sameTotals(report.totals, e.totals)) mismatches.push(`report after event ${e.seq}`);
      if (devices) lastSeen.set(e.campaign, devices);
    };
    const until = (campaigns: FirmwareCampaigns, id: string, finished: number): Promise<void> =>
      new Promise((resolve) => {
        const on = (e: CampaignEvent): void => {
          if (e.campaign !== id || e.totals.finished < finished) return;
          campaigns.off('event', on);
          resolve();
        };
        campaigns.on('event', on);
      });

    const first = engine();
    first.on('event', check(first));
    try {
      const mix = await first.create({
        ...spec,
        targets: { endpointPrefix: 'mix-', currentVersion: '1.0.0' },
        concurrency: 20,
      });
      const cx = await first.create({ ...spec, targets: cancelled, concurrency: 5, rate: 50 });
      await until(first, cx.id, 3);
      first.cancel(cx.id);
      await until(first, mix.id, 20);
      first.pause(mix.id);
      await new Promise((r) => setTimeout(r, 20));
      first.resume(mix.id);
      await until(first, mix.id, 60);
      await first.close();
      assert.ok(first.get(mix.id)!.totals.finished < 120, 'stopped half way');

      const second = engine();
      second.on('event', check(second));
      for (const doc of await store.load())
        lastSeen.set(
          doc.id,
          new Map(doc.devices.map((d) => [d.endpoint, d as { phase: DevicePhase; bytes: number }])),
        );
      try {
        await second.restore();
        const report = await second.finished(mix.id);
        const ended = await second.finished(cx.id);
        assert.equal(report.status, 'completed');
        assert.equal(ended.status, 'cancelled');
        assert.deepEqual(report.totals, recountTotals(report.devices));
        assert.deepEqual(ended.totals, recountTotals(ended.devices));
        const { phases } = report.totals;
        assert.equal(report.totals.finished, 120);
        assert.ok(phases.succeeded > 0 && phases.failed > 0 && phases.skipped > 0, JSON.stringify(phases));
        assert.ok(ended.totals.phases.cancelled > 0, JSON.stringify(ended.totals.phases));
        assert.ok(
          report.devices.some((d) => d.method === 'pull') && report.devices.some((d) => d.method === 'push'),
        );
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      gateway.close();
      await download.stop();
    }
    assert.deepEqual(mismatches, []);
    assert.ok(seen.events > 500, `${seen.events} events checked`);
    assert.ok(seen.restoring > 0, 'events while a campaign was restored');
    assert.ok(seen.progress > 0, 'progress events in the middle of a pull');
  });
});

/** Equal totals, the phases compared in their order (as JSON shows them). */
function sameTotals(a: CampaignTotals, b: CampaignTotals): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
