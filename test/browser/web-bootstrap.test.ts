// The console's Bootstrap page in a real browser against a real API, configuration store and
// Bootstrap-Server (in-process, on an in-memory network): a configuration made in the form (a
// NoSec and a PSK server account, the key generated) is stored and listed, its key never shown;
// a bad key is refused next to its field; a scripted bootstrap client then bootstraps twice
// (succeeding, then refusing a Write) and the sessions appear, newest first, with their steps and
// outcomes; editing asks for the PSK again; delete works after a confirm. An invalid stored
// document is listed with its error.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true). Screenshots go to
// test-artifacts/web-bootstrap/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { seededRandom } from '../../src/random.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { BS_SERVER } from '../bootstrap/bootstrap-peer.js';
import type { Override } from '../bootstrap/bootstrap-peer.js';
import {
  bootstrapOnce as bootstrapPeerOnce,
  openConsolePage,
  settledSessionRow,
  startConsoleRig,
  stopConsoleRig,
} from '../support/browser-rig.js';
import type { ConsoleRig } from '../support/browser-rig.js';
import { browserSkip, shot, until } from './browser-fixture.js';

const SHOTS = 'web-bootstrap';
const EP = 'bs-web-1';
const PSK_ID = 'bs-web-id';
const BROKEN = 'bs-broken';

describe('web console: bootstrap', { skip: browserSkip, timeout: 120_000 }, () => {
  const configs = new MemoryBootstrapConfigStore();
  const network = new MemoryNetwork();
  let rig: ConsoleRig | undefined;
  let peers = 0;

  before(async () => {
    rig = await startConsoleRig({
      server: { channel: new MemoryNetwork().channel('10.0.0.9', 5683) },
      bootstrap: {
        configs,
        channel: network.channel(BS_SERVER.address, BS_SERVER.port),
        random: seededRandom(5),
        requestTimeout: 5000,
      },
      stores: { bootstrapConfigs: configs },
    });
    // Written to the store some other way: not a valid configuration (no server account).
    await configs.put(BROKEN, { servers: [] });
  });

  after(() => stopConsoleRig(rig));

  // A new address each time: the peer's message ids repeat (seeded), and the server would take
  // a repeated id from the same address for a retransmission.
  const bootstrapOnce = (endpoint: string, override?: Override): Promise<BootstrapSessionRecord> =>
    bootstrapPeerOnce(rig!.bootstrap!, network, endpoint, `10.0.0.${++peers + 1}`, override);

  const configRow = (page: Page, endpoint: string): Locator =>
    page.locator(`[data-testid="config-row"][data-endpoint="${endpoint}"]`);
  const account = (page: Page, n: number): Locator =>
    page.getByRole('group', { name: `Server account ${n}`, exact: true });
  const fieldError = (page: Page, field: string): Locator =>
    page.locator(`[data-field="${field}"] [data-testid="field-error"]`);

  const attributes = async (list: Locator, name: string): Promise<(string | null)[]> =>
    Promise.all((await list.all()).map((l) => l.getAttribute(name)));

  async function save(page: Page): Promise<void> {
    await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
    await until(`the saved message for ${EP}`, async () =>
      (
        (await page
          .getByTestId('bootstrap-status')
          .textContent()
          .catch(() => '')) ?? ''
      ).includes(`Saved the bootstrap configuration of ${EP}.`),
    );
  }

  it('creates, lists, edits and deletes a configuration and shows the sessions it drives', async () => {
    const { page, pageErrors } = await openConsolePage(rig!.browser, { width: 1300, height: 1100 });
    try {
      await page.goto(`http://127.0.0.1:${rig!.api.port}/`);
      await page.getByRole('link', { name: 'Bootstrap', exact: true }).click();
      assert.equal(new URL(page.url()).pathname, '/bootstrap');

      // The invalid stored document is listed with its error, and no session ran yet.
      const broken = configRow(page, BROKEN);
      await broken.waitFor();
      assert.match(
        (await broken.getByTestId('config-error').textContent()) ?? '',
        /servers: needs at least one server/,
      );
      await page.getByText('No bootstrap sessions yet.').waitFor();

      // A new configuration: a NoSec account and a PSK account.
      await page.getByLabel('Endpoint', { exact: true }).fill(EP);
      const first = account(page, 1);
      await first.getByLabel('Short Server ID', { exact: true }).fill('101');
      await first.getByLabel('Server URI', { exact: true }).fill('coap://10.0.0.1:5683');
      await first.getByLabel('Lifetime (s)', { exact: true }).fill('300');
      await page.getByRole('button', { name: 'Add server account', exact: true }).click();
      const second = account(page, 2);
      await second.getByLabel('Short Server ID', { exact: true }).fill('102');
      await second.getByLabel('PSK', { exact: true }).check();
      await second.getByLabel('Server URI', { exact: true }).fill('coaps://lwm2m.example:5684');
      await second.getByLabel('PSK identity', { exact: true }).fill(PSK_ID);
      const keyInput = second.getByLabel('Key (hex)', { exact: true });

      // A bad key is refused next to its field, and nothing is stored.
      await keyInput.fill('abc');
      await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
      const keyError = fieldError(page, 'servers[1].security.key');
      await keyError.waitFor();
      assert.equal(await keyError.textContent(), 'must be hex with an even number of digits');
      assert.equal(await keyInput.getAttribute('aria-invalid'), 'true');
      assert.match(
        (await page.getByTestId('form-errors').textContent()) ?? '',
        /servers\[1\]\.security\.key: must be hex/,
      );
      await shot(page, SHOTS, '01-bad-key');
      assert.equal(await configs.get(EP), undefined);

      // A generated key is accepted; the configuration is stored and listed, the key not shown.
      await second.getByRole('button', { name: 'Generate key', exact: true }).click();
      await until('a generated key', async () => /^[0-9a-f]{32}$/.test(await keyInput.inputValue()));
      const key = await keyInput.inputValue();
      await save(page);
      const row = configRow(page, EP);
      await row.waitFor();
      assert.deepEqual(await row.getByTestId('config-servers').locator('div').allTextContents(), [
        '101 → coap://10.0.0.1:5683 · NoSec',
        '102 → coaps://lwm2m.example:5684 · PSK',
      ]);
      assert.equal(await row.getByTestId('config-bs-rewrite').textContent(), 'no');
      assert.deepEqual(await configs.get(EP), {
        servers: [
          { shortServerId: 101, uri: 'coap://10.0.0.1:5683', lifetime: 300, security: { mode: 'nosec' } },
          {
            shortServerId: 102,
            uri: 'coaps://lwm2m.example:5684',
            security: { mode: 'psk', identity: PSK_ID, key },
          },
        ],
        deleteFirst: true,
      });
      const detail = page.locator(`[data-testid="config-detail"][data-endpoint="${EP}"]`);
      await detail.waitFor();
      assert.equal(
        await detail.locator('[data-ssid="102"]').getByTestId('secret-length').textContent(),
        '16 bytes (not shown)',
      );
      await detail.getByText('This device has not bootstrapped yet.').waitFor();
      assert.equal(await keyInput.count(), 0, 'the form is reset once saved');
      assert.ok(!(await page.content()).includes(key), 'the page does not show the stored key');
      await shot(page, SHOTS, '02-saved');

      // A device bootstraps: the session appears (polled) with its steps, all answered.
      const ok = await bootstrapOnce(EP);
      assert.equal(ok.outcome?.status, 'succeeded');
      // The poll may first show the session still running: wait for its final state.
      const okRow = await settledSessionRow(page, ok.id, 'succeeded');
      assert.equal(await okRow.getAttribute('data-status'), 'succeeded');
      assert.equal(await okRow.getByTestId('session-status').textContent(), 'succeeded');
      await okRow.getByRole('button', { name: new RegExp(`^Steps of ${EP} at `) }).click();
      const steps = page.locator(`#bs-steps-${ok.id} [data-testid="session-step"]`);
      await steps.first().waitFor();
      assert.deepEqual(
        await attributes(steps, 'data-operation'),
        ok.steps.map((s) => s.operation),
      );
      assert.equal(ok.steps[0]?.operation, 'bootstrap-discover');
      assert.equal(ok.steps.at(-1)?.operation, 'bootstrap-finish');
      assert.deepEqual(
        await steps.getByTestId('step-path').allTextContents(),
        ok.steps.map((s) => s.path ?? ''),
      );
      assert.deepEqual(
        await steps.getByTestId('step-code').allTextContents(),
        ok.steps.map((s) => s.code ?? ''),
      );
      assert.ok(
        (await steps.getByTestId('step-operation').allTextContents()).includes('Write'),
        'the Writes are listed',
      );
      await shot(page, SHOTS, '03-session-succeeded');

      // The device refuses a Write of its /1 instance: a failed session, listed first.
      const refusing: Override = (method, path) =>
        method === 'PUT' && path.startsWith('/1/') ? '4.00' : undefined;
      const failed = await bootstrapOnce(EP, refusing);
      assert.equal(failed.outcome?.status, 'failed');
      const failedRow = await settledSessionRow(page, failed.id, 'failed');
      assert.equal(await failedRow.getAttribute('data-status'), 'failed');
      assert.match(
        (await failedRow.getByTestId('session-failure').textContent()) ?? '',
        /^error-code: bootstrap-write \/1\/\d+ → 4\.00/,
      );
      const order = await attributes(page.locator('[data-testid="session-row"]'), 'data-session');
      assert.deepEqual(order, [failed.id, ok.id], 'newest first');
      // The list can be narrowed to one endpoint (and reloaded on demand).
      const filter = page.getByLabel('Session endpoint', { exact: true });
      await filter.fill('someone-else');
      await page.getByText('No bootstrap sessions yet.').waitFor();
      await filter.fill(EP);
      await page.getByRole('button', { name: 'Refresh sessions', exact: true }).click();
      await until('both sessions again', async () => (await page.getByTestId('session-row').count()) === 2);
      // The detail shows the latest session of the device (polled too), with its steps.
      const latest = detail.locator(`[data-testid="latest-session"][data-status="failed"]`);
      await latest.waitFor();
      assert.equal(await latest.getByTestId('session-step').count(), failed.steps.length);
      await shot(page, SHOTS, '04-session-failed');

      // Edit: every shown field is filled in, the PSK must be entered again.
      await row.getByRole('button', { name: `Edit ${EP}`, exact: true }).click();
      assert.equal(await page.getByLabel('Endpoint', { exact: true }).getAttribute('readonly'), '');
      assert.equal(await second.getByLabel('PSK identity', { exact: true }).inputValue(), PSK_ID);
      assert.equal(await second.getByLabel('Key (hex)', { exact: true }).inputValue(), '');
      assert.match(
        (await second.getByTestId('reenter-secret').textContent()) ?? '',
        /16 bytes.*enter it again/,
      );
      await first.getByLabel('Lifetime (s)', { exact: true }).fill('600');
      await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
      await until('the re-enter error', async () =>
        (
          (await fieldError(page, 'servers[1].security.key')
            .textContent()
            .catch(() => '')) ?? ''
        ).includes('enter it again'),
      );
      assert.equal((await configs.get(EP))?.['servers'] instanceof Array, true);
      await shot(page, SHOTS, '05-edit-reenter');
      const newKey = 'ffeeddccbbaa99887766554433221100';
      await second.getByLabel('Key (hex)', { exact: true }).fill(newKey.toUpperCase());
      await save(page);
      const stored = (await configs.get(EP)) as { servers: { lifetime?: number; security: unknown }[] };
      assert.equal(stored.servers[0]?.lifetime, 600);
      assert.deepEqual(stored.servers[1]?.security, { mode: 'psk', identity: PSK_ID, key: newKey });

      // Delete, after a confirm.
      await row.getByRole('button', { name: `Delete ${EP}`, exact: true }).click();
      await row.getByRole('button', { name: `Confirm delete ${EP}`, exact: true }).click();
      await until('the row to go', async () => (await row.count()) === 0);
      assert.equal(await configs.get(EP), undefined);
      assert.equal(await broken.count(), 1);
      await shot(page, SHOTS, '06-deleted');

      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
