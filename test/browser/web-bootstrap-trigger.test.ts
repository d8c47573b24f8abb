// "Send to bootstrap" (Core-001) and PSK rotation (BS-001) in the console, in a real browser
// against a real API, LwM2M server, Bootstrap-Server and a real LwM2mClient that bootstrapped and
// registered over an in-memory network: a rotate of the NoSec device is refused (409) beside the
// control; Reconfigure executes /1/x/9 and the device bootstraps again; Unbootstrap, after a
// confirm, leaves it only its Bootstrap-Server account and its session is listed with the reason;
// a rotate of a PSK device that is not registered here is recorded for its next bootstrap with a
// generated next PSK, which the Security page then shows as a pending rotation.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true). Screenshots go to
// test-artifacts/web-bootstrap-trigger/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import type { BootstrapReason, BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import {
  openConsolePage,
  settledSessionRow,
  registration,
  startConsoleRig,
  stopConsoleRig,
} from '../support/browser-rig.js';
import type { ConsoleRig } from '../support/browser-rig.js';
import { browserSkip, shot, until } from './browser-fixture.js';

const SHOTS = 'web-bootstrap-trigger';
const EP = 'trig-web-1';
const PSK_EP = 'trig-web-psk';
const DM = { address: '10.0.0.1', port: 5683 };
const BS = { address: '10.0.0.5', port: 5783 };
const model = createDefaultRegistry();

const nosecAccount = {
  servers: [
    {
      shortServerId: 101,
      uri: `coap://${DM.address}:${DM.port}`,
      lifetime: 300,
      security: { mode: 'nosec' },
    },
  ],
};

describe('web console: send to bootstrap', { skip: browserSkip, timeout: 120_000 }, () => {
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  const credentials = new MemoryCredentialStore();
  let rig: ConsoleRig | undefined;
  let client: LwM2mClient | undefined;
  const finished: BootstrapSessionRecord[] = [];

  before(async () => {
    await configs.put(EP, nosecAccount);
    await configs.put(PSK_EP, nosecAccount);
    await credentials.put({
      endpoint: PSK_EP,
      psk: { identity: PSK_EP, key: '00112233445566778899aabbccddeeff' },
    });
    rig = await startConsoleRig({
      server: { channel: network.channel(DM.address, DM.port), model, random: seededRandom(2) },
      bootstrap: {
        configs,
        credentials,
        allowNoSec: true,
        channel: network.channel(BS.address, BS.port),
        random: seededRandom(4),
        requestTimeout: 5000,
      },
      stores: { bootstrapConfigs: configs, credentials },
    });
    rig.bootstrap!.on('session-finished', (s) => finished.push(s));
    // A device with only its Bootstrap-Server account: it bootstraps, then registers with DM.
    client = new LwM2mClient({
      endpoint: EP,
      servers: [],
      bootstrap: { server: { uri: `coap://${BS.address}:${BS.port}` } },
      model,
      channel: network.channel('10.0.0.2', 56830),
      random: seededRandom(5),
      coap: { transmission: { ackTimeout: 500, maxRetransmit: 2 } },
    });
    const registered = registration(rig.server, EP);
    await client.start();
    await registered;
  });

  after(() => stopConsoleRig(rig, client ? [client] : []));

  const sessionOf = async (reason: BootstrapReason): Promise<BootstrapSessionRecord> => {
    let found: BootstrapSessionRecord | undefined;
    await until(`a finished ${reason} session`, () => {
      found = finished.find((s) => s.endpoint === EP && s.reason === reason);
      return Promise.resolve(found !== undefined);
    });
    return found!;
  };

  const text = async (l: Locator): Promise<string> => (await l.textContent()) ?? '';

  async function openDetail(page: Page, endpoint: string): Promise<Locator> {
    await page
      .locator(`[data-testid="config-row"][data-endpoint="${endpoint}"]`)
      .getByRole('button', { name: `Show ${endpoint}`, exact: true })
      .click();
    const detail = page.locator(`[data-testid="config-detail"][data-endpoint="${endpoint}"]`);
    await detail.waitFor();
    return detail;
  }

  it('sends a device to bootstrap for each reason and shows the answers', async () => {
    const { page, pageErrors } = await openConsolePage(rig!.browser, { width: 1300, height: 1100 });
    try {
      await page.goto(`http://127.0.0.1:${rig!.api.port}/`);
      await page.getByRole('link', { name: 'Bootstrap', exact: true }).click();
      const detail = await openDetail(page, EP);
      const trigger = detail.getByTestId('bootstrap-trigger');
      const reason = trigger.getByLabel('Bootstrap reason', { exact: true });
      const result = trigger.getByTestId('trigger-result');
      const error = trigger.getByTestId('trigger-error');
      // The device's first bootstrap is listed, quietly (a reconfigure).
      await detail.locator('[data-testid="latest-session"][data-status="succeeded"]').waitFor();
      assert.equal(await detail.getByTestId('session-reason').count(), 0);

      // Rotate asks first; the NoSec device has no PSK to rotate: 409, shown beside the control.
      await reason.selectOption('rotate');
      await trigger.getByRole('button', { name: 'Send to bootstrap…', exact: true }).click();
      const confirm = trigger.getByTestId('trigger-confirm');
      assert.match(await text(confirm), new RegExp(`^Rotate the PSK of ${EP}\\?`));
      await confirm.getByRole('button', { name: 'Confirm Rotate PSK', exact: true }).click();
      await error.waitFor();
      assert.equal(await error.getAttribute('data-code'), 'CONFLICT');
      assert.match(await text(error), /no PSK to rotate/);
      assert.equal(await rig!.bootstrap!.pendingBootstrap(EP), undefined, 'nothing recorded');
      await shot(page, SHOTS, '01-rotate-refused');

      // Reconfigure goes without a confirm: /1/x/9 is executed and the device bootstraps again.
      await reason.selectOption('reconfigure');
      await trigger.getByRole('button', { name: 'Send to bootstrap', exact: true }).click();
      await result.waitFor();
      assert.equal(await error.count(), 0, 'the earlier error is gone');
      assert.match(await text(result), /^Recorded; \/1\/\d+\/9 executed: 2\.04$/);
      const again = await sessionOf('reconfigure');
      assert.equal(again.outcome?.status, 'succeeded');
      await page.locator(`[data-testid="session-row"][data-session="${again.id}"]`).waitFor();
      await shot(page, SHOTS, '02-reconfigured');

      // Unbootstrap, after a confirm (a Cancel sends nothing).
      await reason.selectOption('unbootstrap');
      await trigger.getByRole('button', { name: 'Send to bootstrap…', exact: true }).click();
      await confirm.getByRole('button', { name: 'Cancel', exact: true }).click();
      assert.equal(await confirm.count(), 0);
      assert.equal(await rig!.bootstrap!.pendingBootstrap(EP), undefined, 'cancel sent nothing');
      await trigger.getByRole('button', { name: 'Send to bootstrap…', exact: true }).click();
      assert.match(await text(confirm), /every LwM2M Server account/);
      await confirm.getByRole('button', { name: 'Confirm Unbootstrap', exact: true }).click();
      await until(
        'the unbootstrap answer',
        async () => (await result.getAttribute('data-reason')) === 'unbootstrap',
      );
      assert.match(await text(result), /^Recorded; \/1\/\d+\/9 executed: 2\.04$/);
      const removed = await sessionOf('unbootstrap');
      assert.equal(removed.outcome?.status, 'succeeded');
      await until('the accounts to go', () => Promise.resolve(client!.accounts().length === 0));
      assert.ok(client!.bootstrapAccount(), 'the Bootstrap-Server account stays');
      // The session is listed with its reason, in the list and as the device's latest.
      const row = await settledSessionRow(page, removed.id, 'succeeded');
      assert.equal(await row.getAttribute('data-status'), 'succeeded');
      assert.equal(await text(row.getByTestId('session-reason')), 'Unbootstrap');
      const latest = detail.getByTestId('latest-session');
      await until(
        'the latest session to be the unbootstrap',
        async () => (await latest.getByTestId('session-reason').count()) === 1,
      );
      assert.equal(await text(latest.getByTestId('session-reason')), 'Unbootstrap');
      await shot(page, SHOTS, '03-unbootstrapped');

      // A PSK device not registered here: the rotation is recorded for its next bootstrap.
      const pskDetail = await openDetail(page, PSK_EP);
      const pskTrigger = pskDetail.getByTestId('bootstrap-trigger');
      await pskTrigger.getByLabel('Bootstrap reason', { exact: true }).selectOption('rotate');
      await pskTrigger.getByRole('button', { name: 'Send to bootstrap…', exact: true }).click();
      await pskTrigger
        .getByTestId('trigger-confirm')
        .getByRole('button', { name: 'Confirm Rotate PSK', exact: true })
        .click();
      const pskResult = pskTrigger.getByTestId('trigger-result');
      await pskResult.waitFor();
      const lines = await pskResult.locator('p').allTextContents();
      assert.equal(lines[0], "Recorded for the device's next bootstrap: the device is not registered here");
      const next = (await credentials.get(PSK_EP))?.nextPsk;
      assert.ok(next, 'the next PSK is stored');
      assert.match(next.identity, new RegExp(`^${PSK_EP}~[0-9a-f]{8}$`));
      assert.equal(
        lines[1],
        `Next PSK identity ${next.identity} (16 bytes) stored beside the current one; ` +
          'the old PSK is retired once the device has used the new one.',
      );
      assert.ok(!(await page.content()).includes(next.key), 'the next key is not shown');
      assert.equal((await rig!.bootstrap!.pendingBootstrap(PSK_EP))?.reason, 'rotate');
      await shot(page, SHOTS, '04-rotation-recorded');

      // The Security page shows the rotation under way.
      await page.getByRole('link', { name: 'Security', exact: true }).click();
      const credential = page.locator(`[data-testid="credential-row"][data-endpoint="${PSK_EP}"]`);
      await credential.waitFor();
      assert.equal(
        await text(credential.getByTestId('credential-next-psk')),
        `rotation pending: next identity ${next.identity} (16 bytes)`,
      );
      await shot(page, SHOTS, '05-security-rotation-pending');

      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
