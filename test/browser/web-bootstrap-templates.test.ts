// Bootstrap templates in the console (LightweightM2M-Opt-001), in a real browser against a real
// API, configuration store and Bootstrap-Server (in-process, on an in-memory network): a template
// with ${host} and ${psk} placeholders is made in the JSON editor (a misspelt field first: the
// API's 400 names it) and listed with its placeholders, ${psk} marked secret; a device is made
// "from a template" (an unfilled ${psk} is refused naming its field), stored as a reference, and
// listed as templated with the PSK shown by length only; a scripted bootstrap client then
// bootstraps it and the session succeeds; deleting the template in use is refused (409, naming
// the device); a changed template with a new ${lifetime} placeholder names the device it no
// longer resolves for, and the device's row says why; editing the device asks for the PSK again
// and sends the lifetime as a number; once the device is gone the template can be deleted.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true). Screenshots go to
// test-artifacts/web-bootstrap-templates/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { Locator, Page } from 'playwright-core';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { seededRandom } from '../../src/random.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { BS_SERVER } from '../bootstrap/bootstrap-peer.js';
import {
  bootstrapOnce as bootstrapPeerOnce,
  openConsolePage,
  settledSessionRow,
  startConsoleRig,
  stopConsoleRig,
} from '../support/browser-rig.js';
import type { ConsoleRig } from '../support/browser-rig.js';
import { browserSkip, shot, until } from './browser-fixture.js';

const SHOTS = 'web-bootstrap-templates';
const EP = 'bs-tpl-1';
const TEMPLATE = 'sensor';
const PSK = '00112233445566778899aabbccddeeff';
const HOST = 'lwm2m.example';

const template = (account: Record<string, unknown>) => ({
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://${host}:5684',
      security: { mode: 'psk', identity: '${endpoint}', key: '${psk}' },
      ...account,
    },
  ],
});

describe('web console: bootstrap templates', { skip: browserSkip, timeout: 120_000 }, () => {
  const configs = new MemoryBootstrapConfigStore();
  const network = new MemoryNetwork();
  let rig: ConsoleRig | undefined;

  before(async () => {
    rig = await startConsoleRig({
      server: { channel: new MemoryNetwork().channel('10.0.0.9', 5683) },
      bootstrap: {
        configs,
        channel: network.channel(BS_SERVER.address, BS_SERVER.port),
        random: seededRandom(8),
        requestTimeout: 5000,
      },
      stores: { bootstrapConfigs: configs },
    });
  });

  after(() => stopConsoleRig(rig));

  const bootstrapOnce = (endpoint: string): Promise<BootstrapSessionRecord> =>
    bootstrapPeerOnce(rig!.bootstrap!, network, endpoint, '10.0.0.2');

  const text = async (l: Locator): Promise<string> => (await l.textContent().catch(() => '')) ?? '';
  const configRow = (page: Page, endpoint: string): Locator =>
    page.locator(`[data-testid="config-row"][data-endpoint="${endpoint}"]`);
  const templateRow = (page: Page, name: string): Locator =>
    page.locator(`[data-testid="template-row"][data-name="${name}"]`);

  it('makes a template and a device from it, bootstraps the device, and guards the template in use', async () => {
    const { page, pageErrors } = await openConsolePage(rig!.browser, { width: 1300, height: 1100 });
    try {
      await page.goto(`http://127.0.0.1:${rig!.api.port}/`);
      await page.getByRole('link', { name: 'Bootstrap', exact: true }).click();
      await page.getByText('No template yet.').waitFor();

      // A misspelt field: the API's 400 names it, and nothing is stored.
      await page.getByLabel('Template name', { exact: true }).fill(TEMPLATE);
      const editor = page.getByLabel('Template (JSON)', { exact: true });
      await editor.fill(JSON.stringify(template({ lifetme: 300 }), null, 2));
      await page.getByRole('button', { name: 'Save template', exact: true }).click();
      const templateErrors = page.getByTestId('template-errors');
      await templateErrors.waitFor();
      assert.match(await text(templateErrors), /servers\[0\]\.lifetme: /);
      assert.equal(await configs.getTemplate(TEMPLATE), undefined);
      // Not JSON: refused before any request.
      await editor.fill('{"servers": [');
      await page.getByRole('button', { name: 'Save template', exact: true }).click();
      await until('the JSON error', async () => (await text(templateErrors)).includes('template: not JSON'));
      await shot(page, SHOTS, '01-template-error');

      // The template is stored and listed with its placeholders, ${psk} a secret.
      await editor.fill(JSON.stringify(template({ lifetime: 300 }), null, 2));
      await page.getByRole('button', { name: 'Save template', exact: true }).click();
      await until('the saved template', async () =>
        (await text(page.getByTestId('template-status'))).includes(`Saved template ${TEMPLATE}.`),
      );
      assert.deepEqual(await configs.getTemplate(TEMPLATE), template({ lifetime: 300 }));
      const tRow = templateRow(page, TEMPLATE);
      await tRow.waitFor();
      assert.deepEqual(await tRow.getByTestId('template-placeholder').allTextContents(), [
        '${host}',
        '${endpoint}',
        '${psk} (secret)',
      ]);
      assert.equal(await text(tRow.getByTestId('template-clients')), '0');
      // Its detail: the document as formatted JSON.
      const tDetail = page.locator(`[data-testid="template-detail"][data-name="${TEMPLATE}"]`);
      await tDetail.waitFor();
      await until('the template JSON', async () => (await text(tDetail.getByTestId('template-json'))) !== '');
      assert.deepEqual(
        JSON.parse(await text(tDetail.getByTestId('template-json'))),
        template({ lifetime: 300 }),
      );
      await shot(page, SHOTS, '02-template-saved');

      // A device from the template: the psk left out is refused, naming its field.
      await page.getByLabel('From a template', { exact: true }).check();
      await page.getByLabel('Endpoint', { exact: true }).fill(EP);
      await page.getByLabel('Template', { exact: true }).selectOption(TEMPLATE);
      const values = page.getByTestId('placeholder-values');
      await values.waitFor();
      assert.deepEqual(
        await Promise.all(
          (await values.locator('[data-placeholder]').all()).map((l) => l.getAttribute('data-placeholder')),
        ),
        ['host', 'psk'],
        'one input per placeholder, ${endpoint} excluded',
      );
      const pskInput = page.getByLabel('psk', { exact: true });
      assert.equal(await pskInput.getAttribute('type'), 'password');
      await page.getByLabel('host', { exact: true }).fill(HOST);
      await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
      const formErrors = page.getByTestId('form-errors');
      await formErrors.waitFor();
      assert.match(await text(formErrors), /servers\[0\]\.security\.key: no value for \$\{psk\}/);
      assert.match(
        await text(page.locator('[data-placeholder="psk"] [data-testid="field-error"]')),
        /no value/,
      );
      assert.equal(await configs.get(EP), undefined);
      await shot(page, SHOTS, '03-device-error');

      // With the psk: stored as a reference, listed as templated, the psk by length only.
      await pskInput.fill(PSK);
      await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
      await until('the saved message', async () =>
        (await text(page.getByTestId('bootstrap-status'))).includes(
          `Saved the bootstrap configuration of ${EP}.`,
        ),
      );
      assert.deepEqual(await configs.get(EP), { template: TEMPLATE, values: { host: HOST, psk: PSK } });
      const row = configRow(page, EP);
      await row.waitFor();
      assert.equal(await row.getAttribute('data-template'), TEMPLATE);
      assert.equal(await text(row.getByTestId('config-template')), `template ${TEMPLATE}`);
      assert.equal(
        await text(row.getByTestId('config-values')),
        `host = ${HOST} · psk = ${PSK.length} characters (not shown)`,
      );
      assert.match(
        await text(row.getByTestId('config-servers')),
        /101 → coaps:\/\/lwm2m\.example:5684 · PSK/,
      );
      const detail = page.locator(`[data-testid="config-detail"][data-endpoint="${EP}"]`);
      await detail.waitFor();
      const pskValue = detail.locator('[data-testid="template-value"][data-name="psk"] dd');
      await pskValue.waitFor();
      assert.equal(await text(pskValue), `${PSK.length} characters (not shown)`);
      assert.equal(
        await text(detail.locator('[data-ssid="101"]').getByTestId('secret-length')),
        '16 bytes (not shown)',
      );
      assert.match(await text(detail.locator('[data-ssid="101"]')), new RegExp(`PSK identity${EP}`));
      assert.ok(!(await page.content()).includes(PSK), 'the page does not show the psk');
      await until('the device count', async () => (await text(tRow.getByTestId('template-clients'))) === '1');
      await shot(page, SHOTS, '04-device-saved');

      // A real bootstrap of the device: the session succeeds and is shown.
      const ok = await bootstrapOnce(EP);
      assert.equal(ok.outcome?.status, 'succeeded');
      // The poll may first show the session still running: wait for its final state.
      const okRow = await settledSessionRow(page, ok.id, 'succeeded');
      assert.equal(await okRow.getAttribute('data-status'), 'succeeded');
      await detail.locator('[data-testid="latest-session"][data-status="succeeded"]').waitFor();
      await shot(page, SHOTS, '05-bootstrapped');

      // Deleting the template in use: refused with the API's 409, naming the device.
      await tRow.getByRole('button', { name: `Delete template ${TEMPLATE}`, exact: true }).click();
      await tRow.getByRole('button', { name: `Confirm delete template ${TEMPLATE}`, exact: true }).click();
      const alert = page.getByTestId('template-alert');
      await alert.waitFor();
      assert.equal(await text(alert), `template "${TEMPLATE}" is used by 1 device: "${EP}"`);
      assert.notEqual(await configs.getTemplate(TEMPLATE), undefined);
      await shot(page, SHOTS, '06-delete-refused');

      // Editing the template: a new ${lifetime} placeholder the device has no value for; the
      // answer names the device, whose row then shows why the template gives it no configuration.
      await tRow.getByRole('button', { name: `Edit template ${TEMPLATE}`, exact: true }).click();
      assert.equal(await page.getByLabel('Template name', { exact: true }).getAttribute('readonly'), '');
      assert.deepEqual(JSON.parse(await editor.inputValue()), template({ lifetime: 300 }));
      await editor.fill(JSON.stringify(template({ lifetime: '${lifetime}' }), null, 2));
      await page.getByRole('button', { name: 'Save template', exact: true }).click();
      const noLifetime = 'servers[0].lifetime: no value for ${lifetime}';
      await until('the unresolved device', async () =>
        (await text(page.getByTestId('template-status'))).includes(
          `it no longer resolves for ${EP} (${noLifetime})`,
        ),
      );
      await until('the row error', async () =>
        (await text(row.getByTestId('config-error'))).includes(`no configuration: ${noLifetime}`),
      );
      await shot(page, SHOTS, '07-template-changed');

      // Editing the device: the template form, host filled in, the psk to be entered again.
      await row.getByRole('button', { name: `Edit ${EP}`, exact: true }).click();
      assert.equal(await page.getByLabel('Endpoint', { exact: true }).getAttribute('readonly'), '');
      await until(
        'the host value',
        async () => (await page.getByLabel('host', { exact: true }).inputValue()) === HOST,
      );
      assert.equal(await page.getByLabel('psk', { exact: true }).inputValue(), '');
      assert.match(await text(page.getByTestId('reenter-secret')), /enter psk again/);
      // The new placeholder is a number field's: its value goes as a number.
      await page.getByLabel('lifetime', { exact: true }).fill('600');
      await page.getByLabel('psk', { exact: true }).fill(PSK);
      await page.getByRole('button', { name: 'Save configuration', exact: true }).click();
      await until('the stored values', async () => {
        const values = (await configs.get(EP))?.['values'];
        return isDeepStrictEqual(values, { host: HOST, lifetime: 600, psk: PSK });
      });
      await until('the row without error', async () => (await row.getByTestId('config-error').count()) === 0);
      await shot(page, SHOTS, '08-device-edited');

      // Once the device is gone, the template can go too.
      await row.getByRole('button', { name: `Delete ${EP}`, exact: true }).click();
      await row.getByRole('button', { name: `Confirm delete ${EP}`, exact: true }).click();
      await until('the device row to go', async () => (await row.count()) === 0);
      await tRow.getByRole('button', { name: `Delete template ${TEMPLATE}`, exact: true }).click();
      await tRow.getByRole('button', { name: `Confirm delete template ${TEMPLATE}`, exact: true }).click();
      await until('the template row to go', async () => (await tRow.count()) === 0);
      assert.equal(await configs.getTemplate(TEMPLATE), undefined);

      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
