// Campaigns kept across a server restart (CampaignStore): a campaign stopped half way goes on
// after restore() without updating any device twice; finished, paused and cancelled campaigns come
// back as they were; a damaged file is skipped with a reason.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DirectoryCampaignStore,
  MemoryCampaignStore,
  isStoredCampaign,
} from '../../../src/server/firmware/campaign-store.js';
import type { CampaignStore } from '../../../src/server/firmware/campaign-store.js';
import { FirmwareCampaigns } from '../../../src/server/firmware/firmware-campaigns.js';
import type { CampaignEvent } from '../../../src/server/firmware/firmware-campaigns.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { SimulatedGateway } from './simulated-gateway.js';
import type { Behaviour } from './simulated-gateway.js';

const FAST = { pollInterval: 5, retryDelay: 5, timeouts: { request: 1000, download: 5000, update: 5000 } };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'petrel-campaigns-'));
  dirs.push(d);
  return d;
}

function untilFinished(campaigns: FirmwareCampaigns, count: number): Promise<void> {
  return new Promise((resolve) => {
    const on = (e: CampaignEvent): void => {
      if (e.totals.finished < count) return;
      campaigns.off('event', on);
      resolve();
    };
    campaigns.on('event', on);
  });
}

async function fleet(count: number, behaviourOf: (i: number) => Behaviour = () => 'ok') {
  const gateway = new SimulatedGateway();
  const repository = new MemoryFirmwareRepository();
  const info = await repository.add(Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const ep = `dev-${String(i).padStart(4, '0')}`;
    names.push(ep);
    gateway.add(ep, behaviourOf(i));
  }
  return { gateway, repository, info, names };
}

describe('firmware campaigns across a restart', () => {
  it('a campaign stopped half way goes on after restore(): every device updated once, the report exact', async () => {
    const dir = await tempDir();
    const f = await fleet(300, (i) => (i % 10 === 0 ? 'fail' : i % 10 === 4 ? 'reboot' : 'ok'));
    try {
      const first = new FirmwareCampaigns({
        gateway: f.gateway,
        repository: f.repository,
        store: new DirectoryCampaignStore(dir),
        saveInterval: 20,
      });
      const created = await first.create({ image: f.info.id, targets: f.names, concurrency: 25, ...FAST });
      await untilFinished(first, 100);
      await first.close();
      const stopped = first.get(created.id)!;
      assert.ok(stopped.totals.finished >= 100 && stopped.totals.finished < 300, 'stopped half way');
      assert.equal(stopped.status, 'running', 'a shutdown is not a cancel');
      assert.equal(stopped.totals.phases.cancelled, 0);
      assert.deepEqual(await readdir(dir), [`${created.id}.json`]);

      const second = new FirmwareCampaigns({
        gateway: f.gateway,
        repository: f.repository,
        store: new DirectoryCampaignStore(dir),
      });
      try {
        const restored = await second.restore();
        assert.deepEqual(
          restored.map((c) => [c.id, c.status]),
          [[created.id, 'running']],
        );
        const report = await second.finished(created.id);
        assert.equal(report.status, 'completed');
        assert.equal(report.totals.finished, 300);
        assert.equal(report.totals.phases.succeeded, 270);
        assert.equal(report.totals.phases.failed, 30);
        for (const d of report.devices) {
          const sim = f.gateway.devices.get(d.endpoint)!;
          // Nothing done twice: one download and one install per device, restart or not.
          assert.equal(sim.downloads, 1, `${d.endpoint} downloaded once`);
          assert.equal(sim.executes, 1, `${d.endpoint} told to update once`);
          if (sim.behaviour === 'fail') {
            assert.equal(d.phase, 'failed');
            assert.equal(d.updateResult, 8);
          } else {
            assert.equal(d.phase, 'succeeded', `${d.endpoint}: ${d.reason}`);
            assert.equal(d.version, '2.0.0');
            assert.equal(d.previousVersion, '1.0.0');
          }
        }
        assert.equal(report.timeline.filter((e) => e.event === 'restored').length, 1);
        // New campaigns get ids after the restored ones.
        const next = await second.create({ image: f.info.id, targets: ['dev-0001'], ...FAST });
        assert.notEqual(next.id, created.id);
        assert.match(next.id, /^c2-/);
        await second.finished(next.id);
        // The device's history spans both campaigns, oldest first.
        const history = second.deviceHistory('dev-0001');
        assert.deepEqual(
          history.map((h) => [h.campaign, h.device.phase, h.device.version]),
          [
            [created.id, 'succeeded', '2.0.0'],
            [next.id, 'succeeded', '2.0.0'],
          ],
        );
        assert.deepEqual(second.deviceHistory('nobody'), []);
      } finally {
        await second.close();
      }
      // The finished campaign is still there after another restart, as it was.
      const third = new FirmwareCampaigns({
        gateway: f.gateway,
        repository: f.repository,
        store: new DirectoryCampaignStore(dir),
      });
      const again = await third.restore();
      assert.equal(again.length, 2);
      const kept = third.get(created.id)!;
      assert.equal(kept.status, 'completed');
      assert.equal(kept.totals.phases.succeeded, 270);
      await third.close();
    } finally {
      f.gateway.close();
    }
  });

  it('a device whose update completed while the server was down is counted, not updated again', async () => {
    const f = await fleet(4, () => 'reboot');
    const store = new MemoryCampaignStore();
    try {
      const first = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      const c = await first.create({ image: f.info.id, targets: f.names, concurrency: 4, ...FAST });
      // Wait until every device restarts to install (Updating, no answer), then stop.
      const deadline = Date.now() + 5000;
      while (![...f.gateway.devices.values()].every((d) => d.executes === 1 && d.rebooting)) {
        assert.ok(Date.now() < deadline, 'every device installing within 5 s');
        await new Promise((r) => setTimeout(r, 2));
      }
      await first.close();
      // The devices finish installing meanwhile.
      await new Promise((r) => setTimeout(r, 120));
      for (const sim of f.gateway.devices.values()) assert.equal(sim.result, 1);
      const second = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      await second.restore();
      const report = await second.finished(c.id);
      assert.equal(report.totals.phases.succeeded, 4);
      for (const sim of f.gateway.devices.values()) {
        assert.equal(sim.downloads, 1);
        assert.equal(sim.executes, 1);
      }
      await second.close();
    } finally {
      f.gateway.close();
    }
  });

  it('paused and cancelled campaigns come back paused and cancelled; a paused one resumes', async () => {
    const f = await fleet(20);
    const store = new MemoryCampaignStore();
    try {
      const first = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      const paused = await first.create({ image: f.info.id, targets: f.names.slice(0, 10), ...FAST });
      first.pause(paused.id);
      const cancelled = await first.create({
        image: f.info.id,
        targets: f.names.slice(10),
        rate: 0.001,
        ...FAST,
      });
      first.cancel(cancelled.id);
      await first.close();

      const second = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      const restored = await second.restore();
      const status = Object.fromEntries(restored.map((c) => [c.id, c.status]));
      assert.equal(status[paused.id], 'paused');
      assert.equal(status[cancelled.id], 'cancelled');
      const gone = await second.finished(cancelled.id);
      assert.equal(gone.totals.phases.cancelled + gone.totals.phases.succeeded, 10);
      second.resume(paused.id);
      const done = await second.finished(paused.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.totals.phases.succeeded, done.totals.devices);
      await second.close();
    } finally {
      f.gateway.close();
    }
  });

  it('an image gone from the repository fails the unfinished devices with the reason', async () => {
    const f = await fleet(5);
    const store = new MemoryCampaignStore();
    try {
      const first = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      const c = await first.create({ image: f.info.id, targets: f.names, ...FAST });
      first.pause(c.id);
      await first.close();
      await f.repository.delete(f.info.id);
      const second = new FirmwareCampaigns({ gateway: f.gateway, repository: f.repository, store });
      await second.restore();
      const report = await second.finished(c.id);
      assert.equal(report.image.size, 3000, 'the image facts are kept with the campaign');
      for (const d of report.devices) {
        assert.equal(d.phase, 'failed');
        assert.equal(d.reason, 'the image is no longer in the repository');
      }
      await second.close();
    } finally {
      f.gateway.close();
    }
  });

  it('a damaged or foreign file in the directory is skipped with a reason', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'c1-abc.json'), '{"format":1,"id":"c1-abc"'); // truncated
    await writeFile(join(dir, 'c2-abc.json'), JSON.stringify({ format: 1, id: 'c2-abc' }));
    await writeFile(join(dir, 'notes.txt'), 'hello');
    const skipped: string[] = [];
    const store: CampaignStore = new DirectoryCampaignStore(dir, {
      onSkip: (file, reason) => skipped.push(`${file}: ${reason.split(':')[0]}`),
    });
    assert.deepEqual(await store.load(), []);
    assert.deepEqual(skipped, ['c1-abc.json: unreadable', 'c2-abc.json: not a stored campaign']);
    assert.equal(isStoredCampaign({ format: 2 }), false);
    await assert.rejects(
      store.save({ format: 1, id: '../x' } as never),
      (e: Error & { code?: string }) => e.code === 'PETREL_ERR_CAMPAIGN_STORE',
    );
  });
});
