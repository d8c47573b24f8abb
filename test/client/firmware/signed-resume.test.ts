// A pull of a signed package survives a client restart: the /5 snapshot keeps the package's
// envelope (PackageStream.checkpoint), the new process replays it and the stored image bytes
// through a fresh verifier, and asks the repository only for the rest. /5/0/11, /5/0/13 and
// /5/0/14 as the server wrote them survive too.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCoapStack } from '../../../src/binding/coap/coap-stack.js';
import type { FirmwareUpdateOptions } from '../../../src/client/firmware/firmware-update-instance.js';
import { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import { BlockwiseLayer } from '../../../src/coap/blockwise.js';
import type { CoapMessaging } from '../../../src/coap/coap-messaging.js';
import { CoapCode } from '../../../src/coap/message.js';
import { block2, uriPath } from '../../../src/coap/options.js';
import { buildPackage } from '../../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../../src/firmware/package-verifier.js';
import { Value } from '../../../src/model/data-types.js';
import { seededRandom } from '../../../src/random.js';
import {
  CLIENT_ADDRESS,
  RIG_ENDPOINT,
  SERVER_ADDRESS,
  rigModel,
  withClientRig,
} from '../../support/client-rig.js';
import type { ClientRig } from '../../support/client-rig.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = Uint8Array.from({ length: 100 * 1024 }, (_, i) => (i * 7 + 3) & 0xff);
const PACKAGE = buildPackage(
  IMAGE,
  { version: '3.1.0', name: 'big-fw', deviceClass: 'meter' },
  release.privateKey,
);
const BLOCK = 512;
/** Past the first saved offset (64 KiB of transfer). */
const STALL_AT = 140;

async function value(rig: ClientRig, path: string): Promise<unknown> {
  const r = await rig.server.read(rig.ep, path);
  assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
  return r.records[0]?.value?.value;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('signed pull resumed after a restart', () => {
  it('stop() mid-pull, a new client on the same directory resumes, verifies and keeps the settings', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'petrel-fw-resume-'));
    const firmware = (): FirmwareUpdateOptions => ({
      directory,
      application: { install: () => Promise.resolve({ ok: true }) },
      pull: { blockSize: BLOCK, retryDelay: 20, retries: 50, timeout: 200 },
      verifier: packageVerifier({
        trustAnchors: [release.publicKey],
        deviceClass: 'meter',
        requireSignature: true,
      }),
    });
    try {
      await withClientRig({ client: { firmware: firmware() } }, async (rig) => {
        const { endpoint } = createCoapStack({ channel: rig.network.channel('10.0.0.5', 5683) });
        const asked: number[] = [];
        let stalled = true;
        // A repository that stops answering at block STALL_AT while `stalled`.
        const repository: CoapMessaging = {
          transmission: endpoint.transmission,
          onRequest(handler) {
            endpoint.onRequest((req) => {
              const num = block2(req.message)?.num ?? 0;
              asked.push(num);
              return stalled && num >= STALL_AT ? new Promise(() => undefined) : handler(req);
            });
            return repository;
          },
          request: (p, r, o) => endpoint.request(p, r, o),
          observe: (p, r, h, o) => endpoint.observe(p, r, h, o),
          adoptObservation: (p, r, h) => endpoint.adoptObservation(p, r, h),
          ping: (p) => endpoint.ping(p),
          close: () => endpoint.close(),
        };
        new BlockwiseLayer(repository, { blockSize: 1024 }).onRequest(({ message }) =>
          uriPath(message).join('/') === 'fw/big.pfw'
            ? { code: CoapCode.CONTENT, payload: PACKAGE }
            : { code: CoapCode.NOT_FOUND },
        );
        try {
          for (const [path, v] of [
            ['/5/0/11', Value.integer(0)],
            ['/5/0/13', Value.unsigned(600)],
            ['/5/0/14', Value.boolean(false)],
          ] as const)
            assert.equal((await rig.server.write(rig.ep, path, v)).code, '2.04', path);
          assert.equal((await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/big.pfw')).code, '2.04');
          await waitFor(() => asked.includes(STALL_AT), `block ${STALL_AT}`);
          await rig.client.stop();
          const saved = JSON.parse(await readFile(join(directory, 'firmware-state.json'), 'utf8')) as {
            status: { state: number };
            received: number;
            checkpoint: string;
            settings: unknown;
          };
          assert.equal(saved.status.state, 1, 'saved while Downloading');
          assert.ok(
            saved.received >= 64 * 1024 && saved.received < STALL_AT * BLOCK,
            `saved at ${saved.received}`,
          );
          assert.ok(saved.checkpoint.length > 0, 'the envelope is saved');
          assert.deepEqual(saved.settings, { severity: 0, maxDeferPeriod: 600, automaticUpgrade: false });

          // "Restart": a new client process on the same directory, same address.
          stalled = false;
          asked.length = 0;
          const client = new LwM2mClient({
            endpoint: RIG_ENDPOINT,
            servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300 }],
            model: rigModel,
            channel: rig.network.channel(CLIENT_ADDRESS, 56831),
            random: seededRandom(11),
            device: { firmwareVersion: '3.0.0' },
            firmware: firmware(),
          });
          const registered = once(rig.server, 'registered');
          await client.start();
          try {
            await registered;
            await waitFor(() => client.firmware?.state === 2, 'Downloaded');
            assert.equal(client.firmware?.lastError, undefined);
            assert.equal(Math.min(...asked), Math.floor(saved.received / BLOCK), 'resumed, not from block 0');
            assert.deepEqual(new Uint8Array(await readFile(join(directory, 'firmware.bin'))), IMAGE);
            assert.equal(await value(rig, '/5/0/7'), '3.1.0');
            assert.equal(await value(rig, '/5/0/6'), 'big-fw');
            assert.equal(await value(rig, '/5/0/11'), 0);
            assert.equal(await value(rig, '/5/0/13'), 600);
          } finally {
            await client.stop();
          }
        } finally {
          await endpoint.close();
        }
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
