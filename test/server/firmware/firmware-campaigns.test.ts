// Firmware campaigns as an operator meets them: a real LwM2mServer drives real LwM2mClients' /5
// over a memory network, pushing with Block1 or having them pull from the download service.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CampaignEvent, DeviceReport } from '../../../src/server/firmware/firmware-campaigns.js';
import { deviceApp, image, startFleet } from './firmware-fleet.js';
import type { Fleet } from './firmware-fleet.js';

const FAST = {
  pollInterval: 10,
  retryDelay: 10,
  timeouts: { request: 2000, download: 10_000, update: 10_000 },
};

const phasesOf = (d: DeviceReport): string[] => d.history.map((h) => h.phase);

describe('FirmwareCampaigns with real clients', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startFleet();
  });
  after(async () => {
    await fleet.close();
  });

  it('a push campaign to 3 clients succeeds, with an exact per-device report', async () => {
    const fw = image(20_000, 3);
    const info = await fleet.repository.add(fw, { label: 'app.bin' });
    // A 400 ms install, so that a busy machine still sees Updating (3) between two reads of /5/0.
    for (const ep of ['push-a', 'push-b', 'push-c']) await fleet.addDevice(ep, deviceApp({ installMs: 400 }));
    const events: CampaignEvent[] = [];
    fleet.campaigns.on('event', (e) => events.push(e));
    const created = await fleet.campaigns.create({
      image: info.id,
      targets: ['push-c', 'push-a', 'push-b', 'push-a'],
      method: 'push',
      concurrency: 2,
      ...FAST,
    });
    assert.equal(created.status, 'running');
    assert.equal(created.totals.devices, 3, 'duplicates dropped');
    const report = await fleet.campaigns.finished(created.id);
    assert.equal(report.status, 'completed');
    assert.deepEqual(report.totals.phases.succeeded, 3);
    assert.equal(report.totals.finished, 3);
    assert.equal(report.totals.bytes, 3 * fw.length);
    for (const d of report.devices) {
      assert.deepEqual(
        {
          phase: d.phase,
          method: d.method,
          attempts: d.attempts,
          bytes: d.bytes,
          size: d.size,
          previousVersion: d.previousVersion,
          version: d.version,
          updateResult: d.updateResult,
          deferrals: d.deferrals,
          reason: d.reason,
        },
        {
          phase: 'succeeded',
          method: 'push',
          attempts: 1,
          bytes: fw.length,
          size: fw.length,
          previousVersion: '1.0.0',
          version: '2.0.0',
          updateResult: 1,
          deferrals: 0,
          reason: undefined,
        },
        d.endpoint,
      );
      assert.deepEqual(phasesOf(d), [
        'queued',
        'checking',
        'downloading',
        'downloaded',
        'updating',
        'succeeded',
      ]);
      const t = d.timings;
      assert.ok(t.downloadStartedAt! <= t.downloadEndedAt! && t.downloadEndedAt! <= t.executedAt!);
      assert.ok(t.acceptedAt! >= t.executedAt! && t.finishedAt! >= t.acceptedAt!);
      assert.ok(t.updateMs! >= 40, `the install takes 400 ms, measured ${t.updateMs}`);
      assert.deepEqual(fleet.apps.get(d.endpoint)!.installed, [fw]);
    }
    assert.deepEqual(
      report.devices.map((d) => d.endpoint),
      ['push-c', 'push-a', 'push-b'],
    );
    // Events: every phase change of every device, then completed.
    const mine = events.filter((e) => e.campaign === created.id);
    assert.equal(mine.filter((e) => e.type === 'device').length, 3 * 5);
    assert.deepEqual(mine.at(-1)?.status, 'completed');
    assert.equal(mine.at(-1)?.totals.phases.succeeded, 3);
    assert.deepEqual(
      report.timeline.filter((e) => e.event !== 'phase').map((e) => e.event),
      ['created', 'completed'],
    );
  });

  it('a pull campaign: the clients fetch from the download service with their own token', async () => {
    const fw = image(30_000, 5);
    const info = await fleet.repository.add(fw);
    for (const ep of ['pull-a', 'pull-b']) await fleet.addDevice(ep);
    const refused: string[] = [];
    fleet.download.on('refused', (id) => refused.push(id));
    const report = await fleet.campaigns.finished(
      (
        await fleet.campaigns.create({
          image: info.id,
          targets: ['pull-a', 'pull-b'],
          method: 'pull',
          ...FAST,
        })
      ).id,
    );
    for (const d of report.devices) {
      assert.equal(d.phase, 'succeeded', d.reason);
      assert.equal(d.method, 'pull');
      assert.equal(d.scheme, 'coap');
      assert.equal(d.bytes, fw.length, 'bytes served to it');
      assert.deepEqual(fleet.apps.get(d.endpoint)!.installed, [fw]);
    }
    assert.deepEqual(refused, []);
    assert.equal(fleet.download.grants.size, 0, 'tokens revoked once downloaded');
    // The URI left in /5/0/1 is the device's own and no longer opens the image.
    const uri = (await fleet.server.read('pull-a', '/5/0/1')).values['/5/0/1'];
    assert.equal(typeof uri, 'string');
    assert.match(
      uri as string,
      new RegExp(`^coap://10\\.0\\.0\\.5:5685/fw/${info.id}\\?t=[A-Za-z0-9_-]{22}$`),
    );
  });

  it('never offers a scheme the device does not list in /5/0/8; auto falls back to push', async () => {
    const info = await fleet.repository.add(image(2000, 9));
    await fleet.addDevice('http-only', deviceApp({ protocols: [2] }));
    const pull = await fleet.campaigns.finished(
      (await fleet.campaigns.create({ image: info.id, targets: ['http-only'], method: 'pull', ...FAST })).id,
    );
    assert.equal(pull.devices[0]!.phase, 'failed');
    assert.equal(pull.devices[0]!.reason, 'no URI scheme the device lists in /5/0/8 (http) is served (coap)');
    assert.equal(pull.devices[0]!.attempts, 1, 'not retried');
    const auto = await fleet.campaigns.finished(
      (await fleet.campaigns.create({ image: info.id, targets: ['http-only'], method: 'auto', ...FAST })).id,
    );
    assert.equal(auto.devices[0]!.phase, 'succeeded');
    assert.equal(auto.devices[0]!.method, 'push');
  });

  it('a device that defers and then accepts; a device whose install fails', async () => {
    const info = await fleet.repository.add(image(4000, 11));
    const deferring = deviceApp();
    deferring.decisions.push({ action: 'defer', seconds: 1 }, { action: 'accept' });
    await fleet.addDevice('defers', deferring, 60);
    const failing = deviceApp();
    failing.outcomes.push({ ok: false, updateResult: 8, reason: 'flash write error' });
    await fleet.addDevice('fails', failing);
    const report = await fleet.campaigns.finished(
      (await fleet.campaigns.create({ image: info.id, targets: ['defers', 'fails'], ...FAST })).id,
    );
    const [defers, fails] = report.devices;
    assert.equal(defers!.phase, 'succeeded');
    assert.equal(defers!.deferrals, 1);
    assert.deepEqual(phasesOf(defers!).slice(3), ['downloaded', 'deferred', 'updating', 'succeeded']);
    assert.ok(
      defers!.timings.acceptanceMs! >= 900,
      `accepted after the 1 s deferral: ${defers!.timings.acceptanceMs}`,
    );
    assert.equal(fails!.phase, 'failed');
    assert.equal(fails!.updateResult, 8);
    assert.equal(fails!.reason, 'Update Result 8: firmware update failed');
    assert.equal(fails!.attempts, 1);
    assert.deepEqual(report.totals.phases.failed, 1);
  });

  it('pause holds the queue, resume goes on; cancel ends the queued devices', async () => {
    const info = await fleet.repository.add(image(3000, 13));
    for (const ep of ['q-1', 'q-2', 'q-3']) await fleet.addDevice(ep, deviceApp({ installMs: 150 }));
    const c = await fleet.campaigns.create({
      image: info.id,
      targets: ['q-1', 'q-2', 'q-3'],
      concurrency: 1,
      ...FAST,
    });
    assert.equal(fleet.campaigns.pause(c.id).status, 'paused');
    await new Promise((r) => setTimeout(r, 700));
    let now = fleet.campaigns.get(c.id)!;
    assert.deepEqual(
      now.devices.map((d) => d.phase),
      ['succeeded', 'queued', 'queued'],
      'the device under way finished; no other started',
    );
    fleet.campaigns.resume(c.id);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (fleet.campaigns.get(c.id)!.devices[1]!.phase === 'updating') {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
    now = fleet.campaigns.cancel(c.id);
    assert.equal(now.status, 'cancelled');
    const done = await fleet.campaigns.finished(c.id);
    assert.deepEqual(
      done.devices.map((d) => d.phase),
      ['succeeded', 'succeeded', 'cancelled'],
      'an update under way is reported as it ends',
    );
    assert.equal(done.devices[2]!.reason, 'the campaign was cancelled');
    assert.deepEqual(fleet.apps.get('q-3')!.installed, []);
    assert.deepEqual(
      done.timeline.filter((e) => e.event !== 'phase').map((e) => e.event),
      ['created', 'paused', 'resumed', 'cancelled', 'ended'],
    );
  });

  it('notifications of /5/0 drive the campaign: with a 60 s poll it still completes at once', async () => {
    const info = await fleet.repository.add(image(8000, 19));
    await fleet.addDevice('observed');
    // Installs at once: its notifications (Updating, then Idle with result 1) can come before the
    // answer to the Execute, while no pause runs; they still count.
    await fleet.addDevice('observed-fast', deviceApp({ installMs: 0 }));
    const started = Date.now();
    const report = await fleet.campaigns.finished(
      (
        await fleet.campaigns.create({
          image: info.id,
          targets: ['observed', 'observed-fast'],
          method: 'push',
          ...FAST,
          pollInterval: 60_000,
        })
      ).id,
    );
    assert.deepEqual(
      report.devices.map((d) => d.phase),
      ['succeeded', 'succeeded'],
    );
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    for (let i = 0; i < 100 && fleet.server.observations('observed').length > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(fleet.server.observations('observed'), [], 'the observation is cancelled');
  });

  it('a queue-mode device that sleeps is waited for, and updated once it wakes', async () => {
    const sleepy = await startFleet({ queueMode: { awakeTime: 150 } });
    try {
      const info = await sleepy.repository.add(image(5000, 17));
      const client = await sleepy.addDevice('sleepy', deviceApp(), undefined, true);
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(sleepy.server.isAwake('sleepy'), false);
      const c = await sleepy.campaigns.create({ image: info.id, targets: ['sleepy'], ...FAST });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sleepy.campaigns.get(c.id)!.devices[0]!.phase, 'waiting');
      await client.update(); // the device wakes: a Registration Update
      const report = await sleepy.campaigns.finished(c.id);
      assert.deepEqual(
        report.devices[0]!.history.map((h) => h.phase),
        ['queued', 'waiting', 'queued', 'checking', 'downloading', 'downloaded', 'updating', 'succeeded'],
      );
    } finally {
      await sleepy.close();
    }
  });
});
