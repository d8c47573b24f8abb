// Petrel Update Diagnostics (/33000) on the client: the instance over FirmwareUpdateInstance's
// lastError and counters, what the /5 snapshot keeps across a restart, and a failure found at
// start (before any registration) reported with Send once the client registers.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { FirmwareUpdateInstance } from '../../../src/client/firmware/firmware-update-instance.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import { UpdateDiagnosticsInstance } from '../../../src/client/firmware/update-diagnostics-instance.js';
import { withUpdateDiagnostics } from '../../../src/client/firmware/firmware-model.js';
import { FakeClock } from '../../../src/clock.js';
import { buildPackage } from '../../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../../src/firmware/package-verifier.js';
import { UPDATE_DIAGNOSTICS_OBJECT } from '../../../src/firmware/update-diagnostics-object.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { LwM2mRecord } from '../../../src/model/records.js';
import type { SendEvent } from '../../../src/server/lwm2m-server.js';
import { withClientRig } from '../../support/client-rig.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = Uint8Array.from({ length: 2000 }, (_, i) => (i * 3) & 0xff);
const byPath = (records: readonly LwM2mRecord[]) =>
  Object.fromEntries(records.map((r) => [r.path.toString(), r.value?.value]));

function instance(store: MemoryFirmwareStore) {
  const fw = new FirmwareUpdateInstance({
    application: { store, install: () => Promise.resolve({ ok: true }) },
    verifier: packageVerifier({ trustAnchors: [keys.publicKey], requireSignature: true }),
    clock: new FakeClock(0),
    now: () => 1_700_000_000,
  });
  return { fw, diagnostics: new UpdateDiagnosticsInstance(fw) };
}

describe('UpdateDiagnosticsInstance', () => {
  it('shows no failure, then the refusal of an unsigned package; read-only; tells observers', async () => {
    const store = new MemoryFirmwareStore();
    const { fw, diagnostics } = instance(store);
    await fw.start();
    assert.deepEqual(byPath(diagnostics.read()), {
      '/33000/0/0': { objectId: 5, instanceId: 0 },
      '/33000/0/1': '',
      '/33000/0/2': '',
      '/33000/0/3': 0,
      '/33000/0/6': 0,
      '/33000/0/7': 0,
    });
    const changed: string[][] = [];
    diagnostics.onChange((paths) => changed.push(paths.map(String)));
    assert.equal(
      fw.write([{ path: LwM2mPath.of(5, 0, 0), value: Value.opaque(buildPackage(IMAGE, { version: '1' })) }])
        .ok,
      true,
    );
    await fw.settled();
    assert.equal(fw.updateResult, 6);
    assert.deepEqual(byPath(diagnostics.read()), {
      '/33000/0/0': { objectId: 5, instanceId: 0 },
      '/33000/0/1': 'verify',
      '/33000/0/2': 'unsigned',
      '/33000/0/3': 6,
      '/33000/0/4': fw.lastError?.message,
      '/33000/0/5': 1_700_000_000,
      '/33000/0/6': 1,
      '/33000/0/7': 1,
    });
    assert.ok(changed.length >= 2, 'the attempt and the failure');
    assert.ok(changed.at(-1)!.includes('/33000/0/2'));
    assert.deepEqual(diagnostics.resourceIds(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(diagnostics.write().ok, false);
    assert.equal(diagnostics.execute(1).ok, false);
  });

  it('lastError, counters and /5/0/11, 13, 14 survive a restart on the same store', async () => {
    const store = new MemoryFirmwareStore();
    const first = instance(store);
    await first.fw.start();
    first.fw.write([
      { path: LwM2mPath.of(5, 0, 11), value: Value.integer(2) },
      { path: LwM2mPath.of(5, 0, 13), value: Value.unsigned(30) },
      { path: LwM2mPath.of(5, 0, 14), value: Value.boolean(true) },
    ]);
    first.fw.write([
      { path: LwM2mPath.of(5, 0, 0), value: Value.opaque(buildPackage(IMAGE, { version: '1' })) },
    ]);
    await first.fw.settled();
    await first.fw.close();

    const second = instance(store);
    await second.fw.start();
    assert.deepEqual(second.fw.lastError, first.fw.lastError);
    assert.equal(second.fw.failures, 1);
    assert.equal(second.fw.attempts, 1);
    const values = byPath(second.fw.read());
    assert.equal(values['/5/0/11'], 2);
    assert.equal(values['/5/0/13'], 30);
    assert.equal(values['/5/0/14'], true);
    assert.equal(byPath(second.diagnostics.read())['/33000/0/2'], 'unsigned');
  });

  it('a damaged saved failure is dropped, the rest of the state kept', async () => {
    const store = new MemoryFirmwareStore();
    await store.saveState({
      status: { state: 0, result: 6, lastStateChange: 1_699_999_000 },
      lastError: { phase: 'nonsense', code: 'x', updateResult: 6, message: 'm', at: 1 },
      attempts: 3,
    });
    const { fw } = instance(store);
    await fw.start();
    assert.equal(fw.lastError, undefined);
    assert.equal(fw.attempts, 3);
    assert.equal(fw.updateResult, 6);
    await store.saveState({ status: { state: 0, result: 0, lastStateChange: 1_699_999_000 }, attempts: -1 });
    const again = instance(store);
    await again.fw.start();
    assert.equal(again.fw.attempts, 0, 'a snapshot with a bad counter is ignored whole');
  });

  it('withUpdateDiagnostics adds 33000 to a model without changing it; a model that has it is kept', () => {
    const registry = createDefaultRegistry();
    const model = withUpdateDiagnostics(registry);
    assert.equal(model.object(33000), UPDATE_DIAGNOSTICS_OBJECT);
    assert.equal(model.resource(33000, 3)?.type, 'integer');
    assert.equal(model.resource(3, 0)?.name, 'Manufacturer');
    assert.equal(registry.object(33000), undefined);
    registry.add({ ...UPDATE_DIAGNOSTICS_OBJECT, name: 'mine' });
    assert.equal(withUpdateDiagnostics(registry), registry);
  });
});

describe('LwM2mClient reports firmware failures with Send', () => {
  it('a push cut by a restart: Send of /33000/0 (restart, 4) once the client registers', async () => {
    const store = new MemoryFirmwareStore();
    await store.saveState({
      status: { state: 1, result: 0, lastStateChange: 1_699_999_000 },
      delivery: 'push',
    });
    await withClientRig(
      {
        noStart: true,
        client: { firmware: { application: { store, install: () => Promise.resolve({ ok: true }) } } },
      },
      async (rig) => {
        const sent = once(rig.server, 'send') as Promise<[SendEvent]>;
        await rig.start();
        const [event] = await sent;
        const report = byPath(event.result.records);
        assert.equal(report['/5/0/3'], 0);
        assert.equal(report['/5/0/5'], 4);
        assert.equal(report['/33000/0/1'], 'restart');
        assert.equal(report['/33000/0/3'], 4);
      },
    );
  });

  it('reportFailures: false sends nothing', async () => {
    const store = new MemoryFirmwareStore();
    await store.saveState({
      status: { state: 1, result: 0, lastStateChange: 1_699_999_000 },
      delivery: 'push',
    });
    await withClientRig(
      {
        noStart: true,
        client: {
          firmware: {
            reportFailures: false,
            application: { store, install: () => Promise.resolve({ ok: true }) },
          },
        },
      },
      async (rig) => {
        let sends = 0;
        rig.server.on('send', () => sends++);
        await rig.start();
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(sends, 0);
        assert.equal(rig.client.firmware?.lastError?.phase, 'restart');
      },
    );
  });
});
