// Signed firmware packages end to end: our LwM2mServer pushes (Block1) or the client pulls (Block2
// from a CoAP file server) a package built by buildPackage, the client's packageVerifier checks it
// while it streams, and a refusal reaches the server twice: /5/0/5 Update Result, and a Send of
// Petrel Update Diagnostics (/33000/0) saying which check failed (FW-003).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCoapStack } from '../../../src/binding/coap/coap-stack.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { FirmwareApplication } from '../../../src/client/firmware/firmware-update-instance.js';
import { BlockwiseLayer } from '../../../src/coap/blockwise.js';
import { CoapCode } from '../../../src/coap/message.js';
import { uriPath } from '../../../src/coap/options.js';
import { buildPackage } from '../../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../../src/firmware/package-verifier.js';
import { UPDATE_DIAGNOSTICS_OBJECT } from '../../../src/firmware/update-diagnostics-object.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import type { LwM2mRecord } from '../../../src/model/records.js';
import type { SendEvent } from '../../../src/server/lwm2m-server.js';
import { withClientRig } from '../../support/client-rig.js';
import type { ClientRig, ClientRigOptions } from '../../support/client-rig.js';
import { TEMPERATURE_DEFINITION } from '../../support/model-device.js';
import { TEST_OBJECT_DEFINITION } from '../../support/test-model.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const CLASS = 'sensor-v2';
const image = (size: number, seed = 1) => Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
const IMAGE = image(20 * 1024);
const FIELDS = { version: '1.4.0', name: 'acme-fw', deviceClass: CLASS };
const signed = (fields: Partial<typeof FIELDS> = {}, key = release.privateKey) =>
  buildPackage(IMAGE, { ...FIELDS, ...fields }, key);
const tampered = () => {
  const bytes = signed();
  bytes[bytes.length - 1]! ^= 0x01;
  return bytes;
};

/** The server knows object 33000 from the DDF the repository ships. */
function serverModel() {
  const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION).add(TEST_OBJECT_DEFINITION);
  model.loadDirectory(fileURLToPath(new URL('../../../ddf', import.meta.url)));
  return model;
}

function rigOptions(store: MemoryFirmwareStore, muteSend = false): ClientRigOptions {
  const application: FirmwareApplication = { store, install: () => Promise.resolve({ ok: true }) };
  return {
    server: { model: serverModel() },
    client: {
      servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 300, muteSend }],
      device: { manufacturer: 'Petrel', firmwareVersion: '1.0.0' },
      firmware: {
        application,
        pull: { blockSize: 512, retryDelay: 20 },
        verifier: packageVerifier({
          trustAnchors: [release.publicKey],
          deviceClass: CLASS,
          currentVersion: '1.0.0',
        }),
      },
    },
  };
}

async function value(rig: ClientRig, path: string): Promise<unknown> {
  const r = await rig.server.read(rig.ep, path);
  assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
  return r.records[0]?.value?.value;
}

async function until(rig: ClientRig, state: number, result: number): Promise<void> {
  let last: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    last = [await value(rig, '/5/0/3'), await value(rig, '/5/0/5')];
    if (last[0] === state && last[1] === result) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`State/Update Result ${last.join('/')} never became ${state}/${result}`);
}

const byPath = (records: readonly LwM2mRecord[]) =>
  Object.fromEntries(records.map((r) => [r.path.toString(), r.value?.value]));

/** Pushes `bytes`; resolves with the Send the failure (if any) brings. */
async function push(rig: ClientRig, bytes: Uint8Array): Promise<void> {
  const written = await rig.server.write(rig.ep, '/5/0/0', Value.opaque(bytes), { format: 'opaque' });
  assert.equal(written.code, '2.04', written.diagnostic);
}

async function refusedWith(
  rig: ClientRig,
  bytes: Uint8Array,
  expected: { result: number; code: string; failures: number },
): Promise<void> {
  const sent = once(rig.server, 'send') as Promise<[SendEvent]>;
  await push(rig, bytes);
  await until(rig, 0, expected.result);
  const fw = rig.client.firmware!;
  assert.equal(fw.lastError?.phase, 'verify');
  assert.equal(fw.lastError?.code, expected.code);
  assert.equal(fw.lastError?.updateResult, expected.result);
  const [event] = await sent;
  const report = byPath(event.result.records);
  assert.equal(report['/5/0/3'], 0);
  assert.equal(report['/5/0/5'], expected.result);
  assert.equal(report['/33000/0/1'], 'verify');
  assert.equal(report['/33000/0/2'], expected.code);
  assert.equal(report['/33000/0/3'], expected.result);
  assert.equal(report['/33000/0/4'], fw.lastError?.message);
  assert.equal(report['/33000/0/7'], expected.failures);
  // And a Read of the object says the same, typed by the shipped DDF.
  const read = await rig.server.read(rig.ep, '/33000/0');
  assert.equal(read.code, '2.05', read.diagnostic);
  const values = byPath(read.records);
  assert.deepEqual(values['/33000/0/0'], { objectId: 5, instanceId: 0 });
  assert.equal(values['/33000/0/2'], expected.code);
  assert.equal(values['/33000/0/3'], expected.result);
  assert.equal(read.records.find((r) => r.path.resourceId === 5)?.value?.type, 'time');
}

describe('signed firmware packages through a real server', () => {
  it('the shipped DDF of object 33000 is the definition the client uses', async () => {
    const model = createDefaultRegistry();
    const { readFileSync } = await import('node:fs');
    const { parseDdf } = await import('../../../src/model/ddf-loader.js');
    const path = join(fileURLToPath(new URL('../../../ddf', import.meta.url)), '33000.xml');
    assert.deepEqual(parseDdf(readFileSync(path, 'utf8')), [UPDATE_DIAGNOSTICS_OBJECT]);
    assert.equal(model.object(33000), undefined, 'not built in: the client adds it itself');
  });

  it('push: verified, PkgName/PkgVersion from the manifest, Execute installs the manifest version', async () => {
    const store = new MemoryFirmwareStore();
    await withClientRig(rigOptions(store), async (rig) => {
      await push(rig, signed());
      await until(rig, 2, 0);
      assert.deepEqual(store.bytes(), IMAGE, 'only the image is stored');
      assert.equal(await value(rig, '/5/0/6'), 'acme-fw');
      assert.equal(await value(rig, '/5/0/7'), '1.4.0');
      assert.equal(await value(rig, '/33000/0/6'), 1, 'one attempt');
      assert.equal((await rig.server.execute(rig.ep, '/5/0/2')).code, '2.04');
      await until(rig, 0, 1);
      assert.equal(await value(rig, '/3/0/3'), '1.4.0');
      assert.equal(await value(rig, '/33000/0/6'), 0, 'counters restart after a success');
      const read = await rig.server.read(rig.ep, '/33000/0');
      assert.equal(byPath(read.records)['/33000/0/2'], '', 'no failure');
    });
  });

  it('refusals: tampered image 5 digest, foreign key 5 signature, wrong class 6 device-class, each Sent', async () => {
    const store = new MemoryFirmwareStore();
    await withClientRig(rigOptions(store), async (rig) => {
      await refusedWith(rig, tampered(), { result: 5, code: 'digest', failures: 1 });
      assert.equal(store.size, 0, 'the refused image is dropped');
      await refusedWith(rig, signed({}, stranger.privateKey), { result: 5, code: 'signature', failures: 2 });
      await refusedWith(rig, signed({ deviceClass: 'gateway-v1' }), {
        result: 6,
        code: 'device-class',
        failures: 3,
      });
      assert.equal(await value(rig, '/33000/0/6'), 3, 'three attempts');
    });
  });

  it('Mute Send on: no Send, the diagnostics stay readable', async () => {
    await withClientRig(rigOptions(new MemoryFirmwareStore(), true), async (rig) => {
      let sends = 0;
      rig.server.on('send', () => sends++);
      await push(rig, tampered());
      await until(rig, 0, 5);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(sends, 0);
      assert.equal(await value(rig, '/33000/0/2'), 'digest');
    });
  });

  it('pull over CoAP Block2: verified and installed; tampered 5 digest, foreign key 5 signature, wrong class 6', async () => {
    const store = new MemoryFirmwareStore();
    await withClientRig(rigOptions(store), async (rig) => {
      const files = new Map([
        ['fw/good.pfw', signed()],
        ['fw/bad.pfw', tampered()],
        ['fw/foreign.pfw', signed({}, stranger.privateKey)],
        ['fw/class.pfw', signed({ deviceClass: 'gateway-v1' })],
      ]);
      const { endpoint } = createCoapStack({ channel: rig.network.channel('10.0.0.5', 5683) });
      new BlockwiseLayer(endpoint, { blockSize: 1024 }).onRequest(({ message }) => {
        const file = files.get(uriPath(message).join('/'));
        return file ? { code: CoapCode.CONTENT, payload: file } : { code: CoapCode.NOT_FOUND };
      });
      try {
        assert.equal((await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/good.pfw')).code, '2.04');
        await until(rig, 2, 0);
        assert.deepEqual(store.bytes(), IMAGE);
        assert.equal(await value(rig, '/5/0/7'), '1.4.0');
        await rig.server.write(rig.ep, '/5/0/1', '');
        const sent = once(rig.server, 'send') as Promise<[SendEvent]>;
        await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/bad.pfw');
        await until(rig, 0, 5);
        const [event] = await sent;
        assert.equal(byPath(event.result.records)['/33000/0/2'], 'digest');
        for (const [file, result, code] of [
          ['foreign', 5, 'signature'],
          ['class', 6, 'device-class'],
        ] as const) {
          await rig.server.write(rig.ep, '/5/0/1', '');
          await rig.server.write(rig.ep, '/5/0/1', `coap://10.0.0.5/fw/${file}.pfw`);
          await until(rig, 0, result);
          assert.equal(rig.client.firmware?.lastError?.code, code);
        }
        // The good one again, installed: /3/0/3 is the manifest's version.
        await rig.server.write(rig.ep, '/5/0/1', '');
        await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/good.pfw');
        await until(rig, 2, 0);
        assert.equal((await rig.server.execute(rig.ep, '/5/0/2')).code, '2.04');
        await until(rig, 0, 1);
        assert.equal(await value(rig, '/3/0/3'), '1.4.0');
      } finally {
        await endpoint.close();
      }
    });
  });
});
