// The console's Security page in a real browser against a real server (in-process) and a real
// credential store: add a PSK (generated key, never shown back), rotate it, add a raw public key
// from a generated key pair (private key shown once), an X.509 rule, remove one; bad input gets
// the API's message. A device then registers over coaps:// (real DTLS 1.2 PSK handshake, on an
// in-memory network) with the identity and the generated key the page showed, and the client
// list and detail show its security next to a NoSec client's.
// Needs Chromium at /usr/bin/chromium (skipped without it unless CI=true). Screenshots go to
// test-artifacts/web-security/.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { ServerSecurityConfig } from '../../src/client/lwm2m-client.js';
import { SimulatedDevice, createSimulatorModel } from '../../src/cli/simulated-device.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { openConsolePage, registration, startConsoleRig, stopConsoleRig } from '../support/browser-rig.js';
import type { ConsoleRig } from '../support/browser-rig.js';
import { browserSkip, shot, until } from './browser-fixture.js';

const SHOTS = 'web-security';
const SERVER = '10.0.0.1';
const PSK_EP = 'sec-psk';
const PSK_ID = 'sec-psk-id';
const NOSEC_EP = 'sec-nosec';

describe('web console: security', { skip: browserSkip, timeout: 120_000 }, () => {
  const credentials = new MemoryCredentialStore();
  const network = new MemoryNetwork();
  const clients: LwM2mClient[] = [];
  let rig: ConsoleRig | undefined;

  /** A simulated device on the in-memory network: NoSec over coap://, or PSK over coaps://. */
  async function startClient(
    endpoint: string,
    address: string,
    security?: ServerSecurityConfig,
  ): Promise<void> {
    const device = new SimulatedDevice({ interval: 60, serialNumber: endpoint });
    const client = new LwM2mClient({
      endpoint,
      servers: [
        security
          ? { uri: `coaps://${SERVER}:5684`, lifetime: 300, security }
          : { uri: `coap://${SERVER}:5683`, lifetime: 300 },
      ],
      model: device.model,
      device: device.device,
      instances: device.instances,
      channel: network.channel(address, 56830),
      secureTransport: () => network.channel(address, 56840),
    });
    clients.push(client);
    const registered = registration(rig!.server, endpoint, 10_000);
    await client.start();
    await registered;
  }

  before(async () => {
    const model = createSimulatorModel();
    rig = await startConsoleRig({
      server: {
        channel: network.channel(SERVER, 5683),
        coaps: { channel: network.channel(SERVER, 5684), credentials },
        model,
        requestTimeout: 5000,
      },
      stores: { credentials },
      model,
    });
    await startClient(NOSEC_EP, '10.0.0.21');
  });

  after(() => stopConsoleRig(rig, clients));

  const row = (page: Page, endpoint: string) =>
    page.locator(`[data-testid="credential-row"][data-endpoint="${endpoint}"]`);

  async function save(page: Page, endpoint: string): Promise<void> {
    await page.getByRole('button', { name: 'Save credentials', exact: true }).click();
    await until(`the saved message for ${endpoint}`, async () =>
      ((await page.getByTestId('security-status').textContent()) ?? '').includes(`for ${endpoint}.`),
    );
  }

  it('adds, rotates and removes credentials, generates keys, and shows client security', async () => {
    const { page, pageErrors } = await openConsolePage(rig!.browser, { width: 1300, height: 1000 });
    try {
      await page.goto(`http://127.0.0.1:${rig!.api.port}/`);
      await page.getByRole('link', { name: 'Security', exact: true }).click();
      assert.equal(new URL(page.url()).pathname, '/security');
      await page.getByText('No device has credentials yet.').waitFor();
      await page.locator('[data-testid="server-identity"][data-state="none"]').waitFor();

      // Add a PSK with a generated key: stored, listed by identity and length, the key not shown.
      await page.getByLabel('Endpoint', { exact: true }).fill(PSK_EP);
      await page.getByLabel('PSK identity', { exact: true }).fill(PSK_ID);
      const keyInput = page.getByLabel('Key (hex)', { exact: true });
      await page.getByRole('button', { name: 'Generate key', exact: true }).click();
      await until('a generated key', async () => /^[0-9a-f]{32}$/.test(await keyInput.inputValue()));
      const firstKey = await keyInput.inputValue();
      await shot(page, SHOTS, '01-psk-generated');
      await save(page, PSK_EP);
      const pskRow = row(page, PSK_EP);
      await pskRow.waitFor();
      assert.equal(await pskRow.getByTestId('credential-mode').textContent(), 'PSK');
      assert.equal(await pskRow.getByTestId('credential-identity').textContent(), `${PSK_ID} (16-byte key)`);
      assert.deepEqual((await credentials.get(PSK_EP))?.psk, { identity: PSK_ID, key: firstKey });
      assert.equal(await keyInput.inputValue(), '', 'the key leaves the form once stored');
      assert.ok(!(await page.content()).includes(firstKey), 'the page does not show the stored key');
      await shot(page, SHOTS, '02-psk-listed');

      // The device, given that identity and key, registers over DTLS (Core §7.1.3 binds it to PSK_EP).
      await startClient(PSK_EP, '10.0.0.22', {
        securityMode: 0,
        publicKeyOrIdentity: PSK_ID,
        secretKey: Buffer.from(firstKey, 'hex'),
      });

      // Rotate: the form comes prefilled (endpoint, identity); a 32-byte key replaces the old one.
      await pskRow.getByRole('button', { name: `Rotate ${PSK_EP}`, exact: true }).click();
      assert.equal(await page.getByLabel('Endpoint', { exact: true }).inputValue(), PSK_EP);
      assert.equal(await page.getByLabel('PSK identity', { exact: true }).inputValue(), PSK_ID);
      await page.getByLabel('Generated key length', { exact: true }).selectOption('32');
      await page.getByRole('button', { name: 'Generate key', exact: true }).click();
      await until('a 32-byte key', async () => /^[0-9a-f]{64}$/.test(await keyInput.inputValue()));
      const rotatedKey = await keyInput.inputValue();
      await save(page, PSK_EP);
      await until('the 32-byte key in the list', async () =>
        ((await pskRow.getByTestId('credential-identity').textContent()) ?? '').includes('32-byte'),
      );
      assert.equal((await credentials.get(PSK_EP))?.psk?.key, rotatedKey);

      // A raw public key from a generated pair: the private key is shown once, and matches.
      await page.getByRole('button', { name: 'Clear', exact: true }).click();
      await page.getByLabel('Endpoint', { exact: true }).fill('sec-rpk');
      await page.getByLabel('Raw public key', { exact: true }).check();
      await page.getByRole('button', { name: 'Generate key pair', exact: true }).click();
      const notice = page.getByTestId('private-key-notice');
      await notice.waitFor();
      assert.match((await notice.textContent()) ?? '', /will not show it again/);
      const privatePem = await page.getByTestId('private-key').inputValue();
      assert.match(privatePem, /^-----BEGIN PRIVATE KEY-----/);
      const publicHex = await page
        .getByLabel('Device public key (hex SubjectPublicKeyInfo DER, or PEM)', { exact: true })
        .inputValue();
      assert.equal(
        createPublicKey(createPrivateKey(privatePem)).export({ format: 'der', type: 'spki' }).toString('hex'),
        publicHex,
        'the shown private key is the public key’s other half',
      );
      await shot(page, SHOTS, '03-keypair-generated');
      await save(page, 'sec-rpk');
      const rpkRow = row(page, 'sec-rpk');
      await rpkRow.waitFor();
      assert.equal(await rpkRow.getByTestId('credential-mode').textContent(), 'RPK');
      assert.equal(await rpkRow.getByTestId('credential-identity').getAttribute('title'), publicHex);
      assert.deepEqual(await credentials.get('sec-rpk'), {
        endpoint: 'sec-rpk',
        rpk: { publicKey: publicHex },
      });
      await page.getByRole('button', { name: 'I have saved it', exact: true }).click();
      assert.equal(await notice.count(), 0, 'the private key is gone from the page');

      // X.509: the rule names the endpoint as the certificate CN.
      await page.getByLabel('Endpoint', { exact: true }).fill('sec-cert');
      await page.getByLabel('X.509 certificate', { exact: true }).check();
      assert.match((await page.getByTestId('x509-rule').textContent()) ?? '', /subject CN sec-cert/);
      await save(page, 'sec-cert');
      assert.equal(
        await row(page, 'sec-cert').getByTestId('credential-identity').textContent(),
        'CN=sec-cert',
      );
      assert.deepEqual(await credentials.get('sec-cert'), { endpoint: 'sec-cert', x509: true });

      // What the API refuses shows its message.
      await page.getByLabel('Endpoint', { exact: true }).fill('sec-bad');
      await page.getByLabel('Raw public key', { exact: true }).check();
      await page
        .getByLabel('Device public key (hex SubjectPublicKeyInfo DER, or PEM)', { exact: true })
        .fill('abcd');
      await page.getByRole('button', { name: 'Save credentials', exact: true }).click();
      await until('the API error', async () =>
        (
          (await page
            .getByTestId('form-error')
            .textContent()
            .catch(() => '')) ?? ''
        ).includes('not a DER SubjectPublicKeyInfo'),
      );
      assert.equal(await credentials.get('sec-bad'), undefined);

      // Remove, after a confirm.
      await rpkRow.getByRole('button', { name: 'Remove sec-rpk', exact: true }).click();
      await shot(page, SHOTS, '04-confirm-remove');
      await rpkRow.getByRole('button', { name: 'Confirm remove sec-rpk', exact: true }).click();
      await until('the row to go', async () => (await rpkRow.count()) === 0);
      assert.equal(await credentials.get('sec-rpk'), undefined);
      const rows = await page.locator('[data-testid="credential-row"]').all();
      assert.deepEqual(await Promise.all(rows.map((r) => r.getAttribute('data-endpoint'))), [
        'sec-cert',
        PSK_EP,
      ]);

      // The clients: security mode and identity in the list and in the detail.
      await page.getByRole('link', { name: 'Clients', exact: true }).click();
      const pskClient = page.locator(`[data-testid="client-row"][data-endpoint="${PSK_EP}"]`);
      const nosecClient = page.locator(`[data-testid="client-row"][data-endpoint="${NOSEC_EP}"]`);
      await pskClient.waitFor();
      assert.equal(await pskClient.getByTestId('client-security').getAttribute('data-mode'), 'psk');
      assert.equal(await pskClient.getByTestId('client-security').textContent(), `PSK ${PSK_ID}`);
      assert.equal(await nosecClient.getByTestId('client-security').textContent(), 'NoSec');
      await shot(page, SHOTS, '05-client-list');
      await page.getByRole('link', { name: `Open client ${PSK_EP}`, exact: true }).click();
      const security = page.getByTestId('client-summary').getByTestId('client-security');
      await security.waitFor();
      assert.equal(await security.getAttribute('data-mode'), 'psk');
      assert.equal(await page.getByTestId('client-identity').textContent(), PSK_ID);
      assert.match((await page.getByTestId('client-summary').textContent()) ?? '', /\(dtls\)/);
      await shot(page, SHOTS, '06-client-detail');

      assert.deepEqual(pageErrors, []);
    } finally {
      await page.close();
    }
  });
});
