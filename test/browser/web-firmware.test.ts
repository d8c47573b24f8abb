// The console's Firmware page in a real browser against a real API, LwM2M server, firmware
// repository, download service and campaign engine, with two real Petrel clients with /5 on an
// in-memory network (one pulls over http from the API's content route, one takes a push): a
// signed package and a plain image are uploaded through the file input and listed with their
// manifest facts, the plain one deleted after a confirm; a campaign started from the form runs to
// 100 % with both devices succeeded, live from the progress stream, with its chart; a second
// campaign, for a device that never comes, is paused, resumed and cancelled from its page. Behind
// an API token the campaign's progress stream still opens (fetched with the bearer header), and a
// server without firmware says so.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true). Screenshots go to
// test-artifacts/web-firmware/.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { startApiServer } from '../../src/api/api-server.js';
import type { RunningApiServer } from '../../src/api/api-server.js';
import { MemoryFirmwareStore } from '../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { buildPackage } from '../../src/firmware/package-envelope.js';
import { seededRandom } from '../../src/random.js';
import { serverGateway } from '../../src/server/firmware/campaign-gateway.js';
import { FirmwareCampaigns } from '../../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../src/server/firmware/firmware-repository.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { openConsolePage, registration } from '../support/browser-rig.js';
import { rigModel } from '../support/client-rig.js';
import { browserSkip, currentWebBuild, launchChromium, shot, until } from './browser-fixture.js';

const SHOTS = 'web-firmware';
const SERVER = { address: '10.0.0.1', port: 5683 };
const PULLER = 'fw-web-pull';
const PUSHED = 'fw-web-push';
const ABSENT = 'fw-web-absent';
const TOKEN = 'fw-web-token';

const inner = Uint8Array.from({ length: 24 * 1024 }, (_, i) => (i * 31 + 7) & 0xff);
const plain = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);

describe('web console: firmware', { skip: browserSkip, timeout: 150_000 }, () => {
  const network = new MemoryNetwork();
  const repository = new MemoryFirmwareRepository({ maxImageBytes: 1024 * 1024 });
  const installs: string[] = [];
  let server: LwM2mServer | undefined;
  let download: FirmwareDownloadService | undefined;
  let campaigns: FirmwareCampaigns | undefined;
  let api: RunningApiServer | undefined;
  /** The same server and campaigns behind an API token. */
  let tokenApi: RunningApiServer | undefined;
  let browser: Browser | undefined;
  const clients: LwM2mClient[] = [];
  // Timers of the system clock are unref'd and a memory network holds no socket.
  const keepAlive = setInterval(() => undefined, 1000);

  const device = (endpoint: string, address: string, protocols: number[]): LwM2mClient =>
    new LwM2mClient({
      endpoint,
      servers: [{ uri: `coap://${SERVER.address}:${SERVER.port}`, lifetime: 300 }],
      model: rigModel,
      channel: network.channel(address, 56830),
      random: seededRandom(clients.length + 3),
      device: { manufacturer: 'Petrel', modelNumber: 'sim-1', firmwareVersion: '1.0.0' },
      firmware: {
        application: {
          store: new MemoryFirmwareStore({ maxSize: 256 * 1024 }),
          // [2] http: pulls through the REST API; []: nothing to pull with, so pushed.
          protocols,
          install: async () => {
            installs.push(endpoint);
            // Long enough for the page to show `updating`.
            await new Promise((r) => setTimeout(r, 400));
            return { ok: true, version: '2.0.0' };
          },
        },
      },
    });

  before(async () => {
    const webRoot = await currentWebBuild();
    server = new LwM2mServer({
      channel: network.channel(SERVER.address, SERVER.port),
      model: rigModel,
      random: seededRandom(5),
      requestTimeout: 3000,
    });
    await server.start();
    download = new FirmwareDownloadService({ repository, udp: false });
    await download.start();
    campaigns = new FirmwareCampaigns({ gateway: serverGateway(server), repository, download });
    api = await startApiServer({
      server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 500 }), kind: 'memory' },
      firmware: { repository, campaigns, download, maxImageBytes: 1024 * 1024 },
      webRoot,
    });
    download.httpBase = `http://127.0.0.1:${api.port}`;
    tokenApi = await startApiServer({
      server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 50 }), kind: 'memory' },
      firmware: { repository, campaigns, download },
      webRoot,
      token: TOKEN,
    });
    for (const [ep, address, protocols] of [
      [PULLER, '10.0.0.2', [2]],
      [PUSHED, '10.0.0.3', []],
    ] as const) {
      const registered = registration(server, ep, 10_000);
      const client = device(ep, address, [...protocols]);
      clients.push(client);
      await client.start();
      await registered;
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await campaigns?.close().catch(() => undefined);
    for (const c of clients) await c.stop().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await tokenApi?.close().catch(() => undefined);
    await download?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    clearInterval(keepAlive);
  });

  const imageRow = (page: Page, label: string): Locator =>
    page.locator('[data-testid="image-row"]').filter({ hasText: label });
  const deviceRow = (page: Page, endpoint: string): Locator =>
    page.locator(`[data-testid="device-row"][data-endpoint="${endpoint}"]`);
  const steps = async (page: Page): Promise<(string | null)[]> =>
    Promise.all(
      (await page.getByTestId('campaign-steps').locator('li').all()).map((l) => l.getAttribute('data-event')),
    );
  const status = (page: Page): Promise<string | null> =>
    page.getByTestId('campaign-status').first().getAttribute('data-status');

  async function upload(page: Page, name: string, bytes: Uint8Array): Promise<void> {
    await page.getByLabel('Upload image', { exact: true }).setInputFiles({
      name,
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(bytes),
    });
    await until(`the upload of ${name}`, async () =>
      (
        (await page
          .getByTestId('upload-status')
          .textContent()
          .catch(() => '')) ?? ''
      ).includes('Added'),
    );
  }

  it('uploads images, runs a campaign to 100 %, and pauses, resumes and cancels another', async () => {
    const { page, pageErrors } = await openConsolePage(browser!, { width: 1400, height: 1100 });
    const base = `http://127.0.0.1:${api!.port}`;
    try {
      await page.goto(`${base}/`);
      await page.getByRole('link', { name: 'Firmware', exact: true }).click();
      assert.equal(new URL(page.url()).pathname, '/firmware');
      await page.getByText('No image yet', { exact: false }).waitFor();
      await page.getByText('No campaign yet.', { exact: true }).waitFor();

      // A signed package: its manifest's facts are listed.
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pkg = buildPackage(
        inner,
        { version: '2.0.0', name: 'petrel-fw', vendor: 'Petrel', deviceClass: 'sim-1' },
        privateKey,
      );
      await upload(page, 'petrel-2.0.0.pfw', pkg);
      const pkgRow = imageRow(page, 'petrel-2.0.0.pfw');
      await pkgRow.waitFor();
      assert.deepEqual(
        await Promise.all(
          ['image-name', 'image-version', 'image-signed'].map((id) => pkgRow.getByTestId(id).textContent()),
        ),
        ['petrel-fw', '2.0.0', 'yes'],
      );
      assert.match((await pkgRow.textContent()) ?? '', /Petrel.*sim-1/);
      const stored = (await repository.list())[0];
      assert.ok(stored);
      assert.equal(stored.size, pkg.length, 'the bytes arrived whole');

      // A plain image, then deleted after the confirm.
      await upload(page, 'scratch.bin', plain);
      const scratch = imageRow(page, 'scratch.bin');
      await scratch.waitFor();
      await page.getByRole('button', { name: 'Delete image scratch.bin', exact: true }).click();
      await page.getByRole('button', { name: 'Confirm delete image scratch.bin', exact: true }).click();
      await scratch.waitFor({ state: 'detached' });
      assert.equal((await repository.list()).length, 1);
      await shot(page, SHOTS, '01-images');

      // The form refuses an empty target list beside its field, then starts the campaign.
      await page.getByRole('button', { name: 'New campaign with petrel-2.0.0.pfw', exact: true }).click();
      assert.equal(await page.getByLabel('Image', { exact: true }).inputValue(), stored.id);
      await page.getByLabel('Campaign name', { exact: true }).fill('web rollout');
      await page.getByRole('button', { name: 'Start campaign', exact: true }).click();
      assert.equal(
        await page.locator('[data-field="endpoints"] [data-testid="field-error"]').textContent(),
        'name at least one endpoint',
      );
      // Every phase a device row shows, as it shows it: the view must move live, not only at the end.
      await page.evaluate(`(() => {
        const seen = (window.__phases = {});
        const note = (el) => {
          const ep = el.getAttribute('data-endpoint');
          const list = (seen[ep] ??= []);
          const phase = el.getAttribute('data-phase');
          if (list[list.length - 1] !== phase) list.push(phase);
        };
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('[data-testid="device-row"]')) note(el);
        }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-phase'] });
      })()`);
      await page.getByLabel('Endpoints', { exact: true }).fill(`${PULLER}\n${PUSHED}`);
      await page.getByLabel('Poll interval (ms)', { exact: true }).fill('100');
      await page.getByRole('button', { name: 'Start campaign', exact: true }).click();
      await page.getByTestId('campaign-view').waitFor();
      assert.match(new URL(page.url()).pathname, /^\/firmware\/campaigns\/c1-/);
      const first = (await page.getByTestId('campaign-view').getAttribute('data-campaign'))!;

      // Live to the end: 100 %, both devices succeeded with their versions, the chart at 2.
      const progress = page.getByTestId('campaign-progress');
      await until(
        'the campaign at 100 %',
        async () => (await progress.getAttribute('aria-valuenow')) === '100',
        30_000,
      );
      await until('completed', async () => (await status(page)) === 'completed', 10_000);
      for (const ep of [PULLER, PUSHED]) {
        const row = deviceRow(page, ep);
        assert.equal(await row.getAttribute('data-phase'), 'succeeded', ep);
        assert.equal(await row.getByTestId('device-progress').getAttribute('aria-valuenow'), '100');
        assert.equal(await row.getByTestId('device-version').textContent(), '1.0.0 → 2.0.0');
      }
      // What the page showed follows the server's history, and more than the outcome.
      const seen = await page.evaluate<Record<string, string[]>>('window.__phases');
      const report = campaigns!.get(first)!;
      for (const ep of [PULLER, PUSHED]) {
        const phases = seen[ep] ?? [];
        const history = report.devices.find((d) => d.endpoint === ep)!.history.map((h) => h.phase as string);
        assert.equal(phases.at(-1), 'succeeded', `${ep}: ${phases.join(' → ')}`);
        assert.ok(
          phases.some((p) => p === 'downloading' || p === 'downloaded' || p === 'updating'),
          `${ep} was shown on its way: ${phases.join(' → ')}`,
        );
        let k = 0;
        let inOrder = true;
        for (const p of phases) {
          const at = history.indexOf(p, k);
          inOrder &&= at >= 0;
          k = at + 1;
        }
        assert.ok(inOrder, `${phases.join(' → ')} follows ${history.join(' → ')}`);
      }
      assert.match((await deviceRow(page, PULLER).textContent()) ?? '', /pull \(http\)/);
      assert.match((await deviceRow(page, PUSHED).textContent()) ?? '', /push/);
      assert.equal(
        await page.getByTestId('campaign-finished').textContent(),
        '2 of 2 finished · 2 succeeded · 0 failed',
      );
      assert.equal(
        await page.locator('[data-testid="phase-count"][data-phase="succeeded"]').getAttribute('data-count'),
        '2',
      );
      const chart = page.locator('[data-testid="chart"][data-path="campaign-finished"]');
      assert.equal(await chart.getAttribute('data-points'), '3', 'the start and one point per device');
      assert.deepEqual(await steps(page), ['created', 'completed']);
      assert.equal(await page.getByTestId('campaign-stream').getAttribute('data-state'), 'ended');
      assert.deepEqual(installs.sort(), [PULLER, PUSHED].sort());
      assert.deepEqual(
        report.devices.map((d) => [d.endpoint, d.phase, d.method]),
        [
          [PULLER, 'succeeded', 'pull'],
          [PUSHED, 'succeeded', 'push'],
        ],
      );
      await shot(page, SHOTS, '02-campaign-completed');

      // A second campaign for a device that never registers: it waits; pause, resume, cancel.
      await page.getByRole('link', { name: 'All campaigns', exact: true }).click();
      await page
        .locator(`[data-testid="campaign-row"][data-campaign="${first}"][data-status="completed"]`)
        .waitFor();
      await page.getByLabel('Image', { exact: true }).selectOption(stored.id);
      await page.getByLabel('Endpoints', { exact: true }).fill(ABSENT);
      await page.getByLabel('Method', { exact: true }).selectOption('push');
      await page.getByRole('button', { name: 'Start campaign', exact: true }).click();
      await page.getByTestId('campaign-view').waitFor();
      const second = (await page.getByTestId('campaign-view').getAttribute('data-campaign'))!;
      assert.notEqual(second, first);
      await until(
        'the device waiting',
        async () => (await deviceRow(page, ABSENT).getAttribute('data-phase')) === 'waiting',
      );
      assert.equal(await page.getByTestId('campaign-stream').getAttribute('data-state'), 'open');

      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await until('paused', async () => (await status(page)) === 'paused');
      assert.equal(campaigns!.get(second)!.status, 'paused');
      await page.getByRole('button', { name: 'Resume', exact: true }).click();
      await until('running again', async () => (await status(page)) === 'running');
      assert.equal(campaigns!.get(second)!.status, 'running');

      await page.getByRole('button', { name: 'Cancel campaign…', exact: true }).click();
      await page.getByRole('button', { name: 'Confirm cancel campaign', exact: true }).click();
      await until('cancelled', async () => (await status(page)) === 'cancelled');
      await until(
        'the device row cancelled',
        async () => (await deviceRow(page, ABSENT).getAttribute('data-phase')) === 'cancelled',
      );
      assert.equal(await page.getByTestId('campaign-progress').getAttribute('aria-valuenow'), '100');
      assert.equal(
        await deviceRow(page, ABSENT).getByTestId('device-result').textContent(),
        'the campaign was cancelled',
      );
      assert.deepEqual(await steps(page), ['created', 'paused', 'resumed', 'cancelled', 'ended']);
      assert.equal(
        await page.getByRole('button', { name: 'Pause', exact: true }).count(),
        0,
        'no actions once over',
      );
      await shot(page, SHOTS, '03-campaign-cancelled');

      // Both are listed; a reload of a campaign's URL shows it again (deep link).
      await page.goto(`${base}/firmware`);
      await page
        .locator(`[data-testid="campaign-row"][data-campaign="${second}"][data-status="cancelled"]`)
        .waitFor();
      assert.equal(await page.getByTestId('campaign-row').count(), 2);
      await page.goto(`${base}/firmware/campaigns/${encodeURIComponent(first)}`);
      await until('the report of the first', async () => (await status(page)) === 'completed');
      assert.equal(await deviceRow(page, PUSHED).getAttribute('data-phase'), 'succeeded');
      await page.goto(`${base}/firmware/campaigns/nope`);
      await page.getByRole('alert').filter({ hasText: 'no campaign nope' }).waitFor();

      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  it('behind an API token: the progress stream sends the bearer header', async () => {
    const { page, pageErrors } = await openConsolePage(browser!, { width: 1300, height: 1000 });
    const base = `http://127.0.0.1:${tokenApi!.port}`;
    const c = await campaigns!.create({ image: (await repository.list())[0]!.id, targets: [`${ABSENT}-2`] });
    try {
      await page.goto(`${base}/firmware/campaigns/${encodeURIComponent(c.id)}`);
      await page.getByLabel('API token', { exact: true }).fill(TOKEN);
      await page.getByRole('button', { name: 'Use token' }).click();
      // The stream (not EventSource, which cannot send the header) opens and shows the device.
      await until(
        'the stream open',
        async () =>
          (await page
            .getByTestId('campaign-stream')
            .getAttribute('data-state')
            .catch(() => null)) === 'open',
      );
      await until(
        'the device waiting',
        async () => (await deviceRow(page, `${ABSENT}-2`).getAttribute('data-phase')) === 'waiting',
      );
      // A change made elsewhere arrives over the stream.
      campaigns!.pause(c.id);
      await until('paused', async () => (await status(page)) === 'paused');
      campaigns!.cancel(c.id);
      await until(
        'cancelled over the stream',
        async () => (await deviceRow(page, `${ABSENT}-2`).getAttribute('data-phase')) === 'cancelled',
      );
      assert.equal(await status(page), 'cancelled');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  it('a server without firmware says so on the page', async () => {
    const bare = await startApiServer({
      server: server!,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 10 }), kind: 'memory' },
      webRoot: await currentWebBuild(),
    });
    const { page, pageErrors } = await openConsolePage(browser!, { width: 1200, height: 800 });
    try {
      await page.goto(`http://127.0.0.1:${bare.port}/firmware`);
      await page.getByTestId('firmware-disabled').waitFor();
      assert.match((await page.getByTestId('firmware-disabled').textContent()) ?? '', /--firmware-dir/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
      await bare.close();
    }
  });
});
