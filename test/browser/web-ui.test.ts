// The web console in a real browser against a real server: a simulated device registers over
// UDP, and the UI lists it live, browses its tree, reads, writes, executes, observes (the chart
// fills) and shows the message trace; a second API with a token makes the UI ask for it.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true) and the built UI in
// dist/web (built here once with Vite when missing). Screenshots go to test-artifacts/web-ui/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startApiServer } from '../../src/api/api-server.js';
import type { RunningApiServer } from '../../src/api/api-server.js';
import type { LwM2mClient } from '../../src/client/lwm2m-client.js';
import {
  SimulatedDevice,
  Temperature,
  createSimulatedClient,
  createSimulatorModel,
} from '../../src/cli/simulated-device.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WEB_ROOT = join(ROOT, 'dist', 'web');
const SHOTS = join(ROOT, 'test-artifacts', 'web-ui');
const CHROMIUM = '/usr/bin/chromium';
const ENDPOINT = 'web-ui-sim';
const TOKEN = 'web-ui-test-token';

const skip = existsSync(CHROMIUM)
  ? false
  : process.env.CI === 'true'
    ? false
    : `Chromium not found at ${CHROMIUM}: browser test skipped (it fails under CI=true)`;

/** Builds the UI with Vite once when dist/web has none (the test needs no prior `npm run build`). */
async function ensureWebBuild(): Promise<void> {
  if (existsSync(join(WEB_ROOT, 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
  assert.ok(existsSync(join(WEB_ROOT, 'index.html')), 'the Vite build wrote dist/web/index.html');
}

async function shot(page: Page, name: string): Promise<void> {
  // A sticky header would be drawn mid-page in a full-page capture.
  await page.addStyleTag({ content: '.top { position: static !important; }' });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Polls `probe` until it returns true, at most `ms`. */
async function until(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('web console', { skip, timeout: 120_000 }, () => {
  let server: LwM2mServer | undefined;
  let api: RunningApiServer | undefined;
  let tokenApi: RunningApiServer | undefined;
  let browser: Browser | undefined;
  let client: LwM2mClient | undefined;
  let channel: UdpChannel | undefined;
  let device: SimulatedDevice | undefined;
  const executed: string[] = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureWebBuild();
    const model = createSimulatorModel();
    server = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, model, requestTimeout: 5000 });
    await server.start();
    api = await startApiServer({
      server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 2000 }), kind: 'memory' },
      model,
      webRoot: WEB_ROOT,
    });
    tokenApi = await startApiServer({
      server,
      stores: { tags: new MemoryTagStore(), events: new MemoryEventLog({ capacity: 100 }), kind: 'memory' },
      model,
      webRoot: WEB_ROOT,
      token: TOKEN,
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    device?.stop();
    await browser?.close().catch(() => undefined);
    await api?.close().catch(() => undefined);
    await tokenApi?.close().catch(() => undefined);
    await client?.stop().catch(() => undefined);
    await channel?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
  });

  /** Starts the simulated device (temperature every 250 ms); 5605 also records each Execute. */
  async function startDevice(): Promise<void> {
    const port = server!.address!.port;
    device = new SimulatedDevice({ interval: 0.25, serialNumber: 'PS-WEBUI' });
    device.temperature.onExecute(Temperature.resetMinMax, () => {
      executed.push('/3303/0/5605');
      device!.resetMinMax();
    });
    channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    client = createSimulatedClient(device, {
      endpoint: ENDPOINT,
      server: `coap://127.0.0.1:${port}`,
      channel,
      lifetime: 300,
    });
    // A created sensor starts at 0 °C (Sensor Value is mandatory and read-only, Core §6.3.7).
    client.tree.addObject(3303, { defaults: [{ path: LwM2mPath.parse('/5700'), value: Value.float(0) }] });
    await client.start();
    device.startWith(client);
  }

  it('lists a client live, browses, reads, writes, executes, observes with a chart, and traces', async () => {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await page.goto(`http://127.0.0.1:${api!.port}/`);
      await page.locator('[data-testid="event-stream"][data-state="open"]').waitFor();
      await page.getByTestId('client-table').waitFor();

      // The device registers after the page is open: the row arrives through the event stream.
      await startDevice();
      const row = page.locator(`[data-testid="client-row"][data-endpoint="${ENDPOINT}"]`);
      await row.waitFor();
      assert.equal(await row.getByTestId('client-status').textContent(), 'awake');
      assert.match((await row.textContent()) ?? '', /1\.2/);
      await until('the header to count the client', async () => {
        return (await page.getByTestId('count-registrations').textContent()) === '1';
      });
      await shot(page, '01-client-list');

      // Open the client; the object tree comes from its registration and the models.
      await page.getByRole('link', { name: `Open client ${ENDPOINT}`, exact: true }).click();
      await page.getByTestId('client-summary').waitFor();
      assert.equal(new URL(page.url()).pathname, `/clients/${ENDPOINT}`);
      await page.getByRole('button', { name: 'Expand /3', exact: true }).click();
      const manufacturer = page.locator('[data-testid="resource-row"][data-path="/3/0/0"]');
      await manufacturer.waitFor();
      assert.match((await manufacturer.textContent()) ?? '', /Manufacturer/);

      // Read: value and 2.05.
      await page.getByRole('button', { name: 'Read /3/0/0', exact: true }).click();
      await manufacturer.locator('[data-testid="op-result"][data-state="done"]').waitFor();
      assert.equal(await manufacturer.getByTestId('result-code').first().textContent(), '2.05');
      assert.equal(await manufacturer.getByTestId('resource-value').textContent(), 'Petrel');
      assert.match((await manufacturer.getByTestId('result-latency').textContent()) ?? '', /ms$/);

      // Write the UTC offset, then read it back.
      const utc = page.locator('[data-testid="resource-row"][data-path="/3/0/14"]');
      await page.getByRole('button', { name: 'Write /3/0/14', exact: true }).click();
      await page.getByLabel('Value for /3/0/14', { exact: true }).fill('+02:00');
      await page.getByRole('button', { name: 'Send write /3/0/14', exact: true }).click();
      await until('the write result 2.04', async () => {
        return (await utc.getByTestId('result-code').first().textContent()) === '2.04';
      });
      assert.deepEqual(recordsToJson(client!.read(LwM2mPath.parse('/3/0/14'))), { '/3/0/14': '+02:00' });
      await page.getByRole('button', { name: 'Read /3/0/14', exact: true }).click();
      await until('the read-back 2.05', async () => {
        return (await utc.getByTestId('result-code').first().textContent()) === '2.05';
      });
      assert.equal(await utc.getByTestId('resource-value').textContent(), '+02:00');
      await shot(page, '02-read-write');

      // Execute Reset Min and Max on the temperature sensor.
      await page.getByRole('button', { name: 'Expand /3303', exact: true }).click();
      const reset = page.locator('[data-testid="resource-row"][data-path="/3303/0/5605"]');
      await page.getByRole('button', { name: 'Execute /3303/0/5605', exact: true }).click();
      await page.getByRole('button', { name: 'Send execute /3303/0/5605', exact: true }).click();
      await until('the execute result 2.04', async () => {
        return (await reset.getByTestId('result-code').first().textContent()) === '2.04';
      });
      assert.deepEqual(executed, ['/3303/0/5605']);

      // Observe the sensor value with attributes: the chart gets points from notifications.
      const sensor = page.locator('[data-testid="resource-row"][data-path="/3303/0/5700"]');
      await page.getByRole('button', { name: 'Observe /3303/0/5700', exact: true }).click();
      await page.getByLabel('pmax for /3303/0/5700', { exact: true }).fill('60');
      await page.getByRole('button', { name: 'Start observe /3303/0/5700', exact: true }).click();
      await until('the observe result 2.05', async () => {
        return (await sensor.getByTestId('result-code').first().textContent()) === '2.05';
      });
      const chart = page.locator('[data-testid="chart"][data-path="/3303/0/5700"]');
      await chart.waitFor();
      await until(
        'the chart to hold at least 3 points',
        async () => (await chart.locator('[data-testid="chart-point"]').count()) >= 3,
        15_000,
      );
      assert.ok(Number(await chart.getAttribute('data-points')) >= 3);
      await page.locator('[data-testid="observation"][data-paths="/3303/0/5700"]').waitFor();
      await shot(page, '03-observe-chart');

      // The trace shows each command with its CoAP identity, code and latency.
      const traceRows = page.getByTestId('trace-row');
      await until('trace rows', async () => (await traceRows.count()) >= 5);
      const readRow = page.locator('[data-testid="trace-row"][data-direction="down"]', { hasText: '/3/0/0' });
      const readText = (await readRow.first().textContent()) ?? '';
      assert.match(readText, /read/);
      assert.match(readText, /2\.05/);
      assert.match(readText, /[0-9a-f]{2,16}/, 'a token');
      assert.ok(
        (await page.locator('[data-testid="trace-row"][data-direction="notify"]').count()) >= 2,
        'notifications in the trace',
      );
      await page.getByRole('heading', { name: 'Message trace' }).scrollIntoViewIfNeeded();
      await shot(page, '04-trace');

      // Cancel the observation: it leaves the list.
      await page.getByRole('button', { name: 'Cancel observe /3303/0/5700', exact: true }).click();
      await until('the observation to be gone', async () => {
        return (await page.locator('[data-testid="observation"]').count()) === 0;
      });
      assert.equal(server!.observations(ENDPOINT).length, 0);

      // Tags: edit on the client page, then filter the list by one.
      await page.getByRole('button', { name: `Edit tags of ${ENDPOINT}`, exact: true }).click();
      await page.getByLabel(`Tags of ${ENDPOINT}`, { exact: true }).fill('site:lab beta');
      await page.getByRole('button', { name: `Save tags of ${ENDPOINT}`, exact: true }).click();
      await page.getByTestId('client-summary').getByText('site:lab', { exact: true }).waitFor();
      await page.getByRole('link', { name: 'Clients', exact: true }).first().click();
      await page.getByLabel('Add tag filter', { exact: true }).fill('beta');
      await page.getByLabel('Add tag filter', { exact: true }).press('Enter');
      await row.waitFor();
      await page.getByLabel('Add tag filter', { exact: true }).fill('nope');
      await page.getByLabel('Add tag filter', { exact: true }).press('Enter');
      await until('the filtered list to be empty', async () => (await row.count()) === 0);

      // The server page: counts and the trace of every client.
      await page.getByRole('link', { name: 'Server', exact: true }).click();
      await page.getByTestId('server-view').waitFor();
      assert.equal(await page.getByTestId('server-registrations').textContent(), '1');
      await shot(page, '05-server');
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  it('runs composite read, discover with depth, write-attributes, create and delete', async () => {
    if (!client) await startDevice();
    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const resultOf = (path: string) =>
      page.locator(`[data-testid="resource-row"][data-path="${path}"], .path-actions[data-path="${path}"]`);
    const codeOf = async (path: string): Promise<string | null> =>
      resultOf(path).getByTestId('result-code').first().textContent();
    try {
      await page.goto(`http://127.0.0.1:${api!.port}/clients/${ENDPOINT}`);
      await page.getByRole('button', { name: 'Expand /3', exact: true }).click();
      await page.getByRole('button', { name: 'Expand /3303', exact: true }).click();

      // Multiple resource: its instances are listed after a read.
      await page.getByRole('button', { name: 'Read /3/0/7', exact: true }).click();
      await until('the instances of /3/0/7', async () => {
        return (await resultOf('/3/0/7').getByTestId('resource-value').locator('li').count()) === 2;
      });

      // Composite read across objects.
      await page.getByLabel('Select /3/0/9', { exact: true }).check();
      await page.getByLabel('Select /3303/0/5701', { exact: true }).check();
      assert.equal(await page.getByTestId('selected-count').textContent(), '2 selected');
      await page.getByRole('button', { name: 'Read selected', exact: true }).click();
      const composite = page.getByTestId('composite-panel');
      await composite.getByTestId('result-values').waitFor();
      assert.equal(await composite.getByTestId('result-code').first().textContent(), '2.05');
      assert.match(
        (await composite.getByTestId('result-values').textContent()) ?? '',
        /\/3303\/0\/5701\s*Cel/,
      );

      // Discover /3/0 with depth 1 (LwM2M 1.2): links of the resources.
      await page.getByRole('button', { name: 'Discover /3/0', exact: true }).click();
      await page.getByLabel('Discover depth for /3/0', { exact: true }).selectOption('1');
      await page.getByRole('button', { name: 'Send discover /3/0', exact: true }).click();
      const links = page.locator('.path-actions[data-path="/3/0"]').getByTestId('result-links');
      await links.waitFor();
      assert.match((await links.textContent()) ?? '', /<\/3\/0\/0>/);

      // Write-Attributes on a numeric resource, then Discover shows them.
      await page.getByRole('button', { name: 'Attributes /3/0/9', exact: true }).click();
      await page.getByLabel('pmin for /3/0/9', { exact: true }).fill('10');
      await page.getByLabel('gt for /3/0/9', { exact: true }).fill('50');
      await page.getByRole('button', { name: 'Send attributes /3/0/9', exact: true }).click();
      await until('the write-attributes 2.04', async () => (await codeOf('/3/0/9')) === '2.04');
      await page.getByRole('button', { name: 'Discover /3/0/9', exact: true }).click();
      await page.getByRole('button', { name: 'Send discover /3/0/9', exact: true }).click();
      await until('the attributes in a discover', async () => {
        const text =
          (await resultOf('/3/0/9')
            .getByTestId('result-links')
            .textContent()
            .catch(() => '')) ?? '';
        return /pmin=10/.test(text) && /gt=50/.test(text);
      });

      // Create /3303/7 with an application type, then delete it.
      await page.getByRole('button', { name: 'Create instance /3303', exact: true }).click();
      await page.getByLabel('New instance id for /3303', { exact: true }).fill('7');
      await page
        .getByLabel('Value of resource 5750 in the new instance', { exact: true })
        .fill('spare probe');
      await page.getByRole('button', { name: 'Send create /3303', exact: true }).click();
      const created = page.locator('.path-actions[data-path="/3303"]').getByTestId('result-code');
      await until('the create result', async () => (await created.count()) > 0);
      assert.equal(await created.first().textContent(), '2.01');
      assert.deepEqual(recordsToJson(client!.read(LwM2mPath.parse('/3303/7/5750'))), {
        '/3303/7/5750': 'spare probe',
      });
      await page.locator('[data-testid="instance-node"][data-path="/3303/7"]').waitFor();
      await shot(page, '07-create');
      await page.getByRole('button', { name: 'Delete /3303/7', exact: true }).click();
      await page.getByRole('button', { name: 'Confirm delete /3303/7', exact: true }).click();
      await page.locator('[data-testid="instance-node"][data-path="/3303/7"]').waitFor({ state: 'detached' });
      assert.equal(client!.tree.instance(3303, 7), undefined);

      // Invalid input is refused before anything is sent.
      await page.getByRole('button', { name: 'Expand /1', exact: true }).click();
      await page.getByRole('button', { name: 'Write /1/0/1', exact: true }).click();
      await page.getByLabel('Value for /1/0/1', { exact: true }).fill('1.5');
      await page.getByText('expected a whole number').waitFor();
      assert.equal(
        await page.getByRole('button', { name: 'Send write /1/0/1', exact: true }).isDisabled(),
        true,
      );
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });

  it('asks for the API token on 401 and keeps it', async () => {
    if (!client) await startDevice();
    const context = await browser!.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    try {
      await page.goto(`http://127.0.0.1:${tokenApi!.port}/`);
      const dialog = page.getByTestId('token-dialog');
      await dialog.waitFor();
      await shot(page, '06-token-dialog');
      await page.getByLabel('API token', { exact: true }).fill(TOKEN);
      await page.getByRole('button', { name: 'Use token' }).click();
      await dialog.waitFor({ state: 'detached' });
      // Authorised now: the list and the event stream work (EventSource takes ?token=).
      await page.locator(`[data-testid="client-row"][data-endpoint="${ENDPOINT}"]`).waitFor();
      await page.locator('[data-testid="event-stream"][data-state="open"]').waitFor();
      assert.equal(await page.evaluate("localStorage.getItem('petrel.apiToken')"), TOKEN);
      // A reload keeps the token: no dialog.
      await page.reload();
      await page.locator(`[data-testid="client-row"][data-endpoint="${ENDPOINT}"]`).waitFor();
      assert.equal(await dialog.count(), 0);
    } finally {
      await context.close();
    }
  });
});
