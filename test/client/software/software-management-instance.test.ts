import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../src/clock.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { PullFetcher } from '../../../src/client/firmware/pull-transfer.js';
import { PullError } from '../../../src/client/firmware/pull-transfer.js';
import type {
  SoftwareApplication,
  SoftwareInstallOutcome,
  SoftwareInstanceOptions,
} from '../../../src/client/software/software-management-instance.js';
import {
  SoftwareManagementInstance,
  uninstallArgument,
} from '../../../src/client/software/software-management-instance.js';
import {
  FileSoftwareStateStore,
  MemorySoftwareStateStore,
  validSoftwareSnapshot,
} from '../../../src/client/software/software-state-store.js';
import type { Block1Sink } from '../../../src/coap/blockwise.js';
import type { CoapResponse } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import { Value } from '../../../src/model/data-types.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { LwM2mRecord } from '../../../src/model/records.js';

const PKG = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);

interface Fixture {
  sw: SoftwareManagementInstance;
  clock: FakeClock;
  store: MemoryFirmwareStore;
  state: MemorySoftwareStateStore;
  errors: unknown[];
  changed: number;
}

function fixture(
  options: Partial<SoftwareInstanceOptions> & {
    install?: () => Promise<SoftwareInstallOutcome>;
    store?: MemoryFirmwareStore;
    state?: MemorySoftwareStateStore;
  } = {},
): Fixture {
  const clock = new FakeClock(0);
  const store = options.store ?? new MemoryFirmwareStore({ maxSize: 8 * 1024 });
  const state = options.state ?? new MemorySoftwareStateStore();
  const errors: unknown[] = [];
  const application: SoftwareApplication = {
    install: options.install ?? (() => Promise.resolve({ ok: true, name: 'app', version: '1.0' })),
  };
  const f: Fixture = {
    clock,
    store,
    state,
    errors,
    changed: 0,
    sw: new SoftwareManagementInstance({
      instanceId: 2,
      application,
      clock,
      now: () => 1_700_000_000,
      downloadTimeout: 5000,
      onError: (e) => errors.push(e),
      ...options,
      store,
      stateStore: state,
    }),
  };
  f.sw.onChange(() => f.changed++);
  return f;
}

const write = (f: Fixture, rid: number, value: LwM2mRecord['value']) =>
  f.sw.write([{ path: LwM2mPath.of(9, 2, rid), value }], 'update');

async function deliver(f: Fixture, bytes = PKG): Promise<void> {
  assert.equal(write(f, 2, Value.opaque(bytes)).ok, true);
  await f.sw.settled();
  assert.deepEqual([f.sw.state, f.sw.updateResult], [3, 3]);
}

const isSink = (s: Block1Sink | CoapResponse | undefined): s is Block1Sink =>
  s !== undefined && 'received' in s;

describe('SoftwareManagementInstance', () => {
  it('reads the /9 resources; W-only ones (2, 3, 14, 15) never show', async () => {
    const f = fixture();
    const read = (): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const r of f.sw.read()) out[String(r.path.resourceId)] = r.value?.value;
      return out;
    };
    assert.deepEqual(read(), { 0: '', 1: '', 7: 0, 8: false, 9: 0, 12: false, 16: '' });
    assert.equal(write(f, 14, Value.string('user')).ok, true);
    assert.equal(write(f, 15, Value.string('secret')).ok, true);
    await deliver(f);
    assert.deepEqual(read(), { 0: '', 1: '', 7: 3, 8: false, 9: 3, 12: false, 16: '' });
    assert.ok(f.changed >= 3, 'State changes are reported');
    assert.deepEqual(f.sw.resourceIds(), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16]);
  });

  it('Uninstall arguments: none, 0, 1 only', () => {
    assert.equal(uninstallArgument([]), false);
    assert.equal(uninstallArgument([{ digit: 0 }]), false);
    assert.equal(uninstallArgument([{ digit: 1 }]), true);
    assert.equal(uninstallArgument([{ digit: 2 }]), undefined);
    assert.equal(uninstallArgument([{ digit: 1, value: '1' }]), undefined);
    assert.equal(uninstallArgument([{ digit: 0 }, { digit: 1 }]), undefined);
  });

  it('Block1: Size1 beyond the store gets 4.13 and 50; a later block with no push gets none', () => {
    const f = fixture();
    assert.equal(f.sw.block1Sink(3, undefined), undefined);
    const r = f.sw.block1Sink(0, 9000);
    assert.ok(r && !isSink(r));
    assert.equal(r.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.lastError?.code], [0, 50, 'not-enough-storage']);
  });

  it('Block1: bytes past the store stop the push with 4.13 and 50; block 0 again restarts it', async () => {
    const f = fixture();
    let sink = f.sw.block1Sink(0, undefined);
    assert.ok(isSink(sink));
    assert.equal(await sink.write(PKG.subarray(0, 1024)), undefined);
    // The server starts over: same download, from byte 0.
    sink = f.sw.block1Sink(0, undefined);
    assert.ok(isSink(sink));
    assert.equal(sink.received, 0);
    for (let i = 0; i < 8; i++) assert.equal(await sink.write(new Uint8Array(1024)), undefined);
    const refused = await sink.write(new Uint8Array(1024));
    assert.equal(refused?.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    await f.sw.settled();
    assert.deepEqual([f.sw.state, f.sw.updateResult], [0, 50]);
  });

  it('a download silent for downloadTimeout fails with 52', async () => {
    const f = fixture();
    const sink = f.sw.block1Sink(0, undefined);
    assert.ok(isSink(sink));
    await sink.write(PKG.subarray(0, 512));
    assert.deepEqual([f.sw.state, f.sw.updateResult], [1, 1]);
    f.clock.advance(5000);
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.lastError?.code], [0, 52, 'download-timeout']);
    assert.equal(f.sw.statusReason, 'download/download-timeout: no data for 5000 ms');
    const late = await sink.write(PKG.subarray(512, 1024));
    assert.equal(late?.code, CoapCode.REQUEST_ENTITY_INCOMPLETE, 'a block of a dead download: 4.08');
  });

  it('pull: User Name and Password go into an http:// URI; pull failures map to 52 and 56', async () => {
    const seen: string[] = [];
    const outcomes: (Error | undefined)[] = [undefined, new PullError(4, 'gone'), new PullError(7, '404')];
    const http: PullFetcher = async (uri, transfer) => {
      seen.push(uri.href);
      const failure = outcomes.shift();
      if (failure) throw failure;
      await transfer.begin(undefined, 0);
      await transfer.write(PKG);
    };
    const f = fixture({ fetchers: new Map([['http:', http]]) });
    write(f, 14, Value.string('dev ice'));
    write(f, 15, Value.string('p@ss'));
    assert.equal(write(f, 3, Value.string('http://repo.example/sw.bin')).ok, true);
    await f.sw.settled();
    assert.deepEqual(seen, ['http://dev%20ice:p%40ss@repo.example/sw.bin']);
    assert.deepEqual([f.sw.state, f.sw.updateResult], [3, 3]);
    assert.equal(f.sw.execute(6, []).ok, true);
    await f.sw.settled();
    write(f, 3, Value.string('http://repo.example/sw.bin'));
    await f.sw.settled();
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.lastError?.code], [0, 52, 'connection-lost']);
    write(f, 3, Value.string('http://repo.example/sw.bin'));
    await f.sw.settled();
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.lastError?.code], [0, 56, 'invalid-uri']);
    write(f, 3, Value.string('not a uri'));
    await f.sw.settled();
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.lastError?.phase], [0, 56, 'uri']);
    // An empty URI starts nothing.
    assert.equal(write(f, 3, Value.string('')).ok, true);
    assert.equal(f.sw.state, 0);
  });

  it('one hook at a time: a second Install or an Uninstall during an install gets 4.05', async () => {
    let release: ((o: SoftwareInstallOutcome) => void) | undefined;
    const f = fixture({ install: () => new Promise((r) => (release = r)) });
    await deliver(f);
    assert.equal(f.sw.execute(4, []).ok, true);
    await new Promise((r) => setImmediate(r));
    const again = f.sw.execute(4, []);
    assert.deepEqual(again.ok ? undefined : [again.code, again.message], ['4.05', 'Install is in progress']);
    const uninstall = f.sw.execute(6, []);
    assert.equal(uninstall.ok, false);
    release?.({ ok: true, version: '9.9' });
    await f.sw.settled();
    assert.deepEqual([f.sw.state, f.sw.updateResult, f.sw.installed?.version], [4, 2, '9.9']);
    assert.equal(f.sw.execute(5, []).ok, false, '/9/x/5 is not executable');
  });

  it('Update Supported Objects true: an install tells the client the objects may have changed', async () => {
    let told = 0;
    const f = fixture({ updateSupportedObjects: true, onObjectsChanged: () => told++ });
    await deliver(f);
    f.sw.execute(4, []);
    await f.sw.settled();
    assert.equal(told, 1);
    f.sw.execute(6, [{ digit: 1 }]);
    await f.sw.settled();
    assert.equal(told, 1, 'ForUpdate removes nothing');
    assert.equal(f.sw.installed?.name, 'app');
  });

  it('restart: DELIVERED stays with its package, a download under way fails with 52, a lost package 57', async () => {
    const store = new MemoryFirmwareStore({ maxSize: 8 * 1024 });
    const state = new MemorySoftwareStateStore();
    const first = fixture({ store, state });
    await deliver(first);
    await first.sw.close();
    const second = fixture({ store, state });
    await second.sw.start();
    assert.deepEqual([second.sw.state, second.sw.updateResult], [3, 3]);
    second.sw.execute(4, []);
    await second.sw.settled();
    assert.deepEqual([second.sw.state, second.sw.installed?.name], [4, 'app']);

    const third = fixture({ store: new MemoryFirmwareStore(), state });
    await state.save({ status: { state: 1, result: 1, active: false } });
    await third.sw.start();
    await third.sw.settled();
    assert.deepEqual([third.sw.state, third.sw.updateResult, third.sw.lastError?.phase], [0, 52, 'restart']);

    await state.save({ status: { state: 3, result: 3, active: false } });
    const fourth = fixture({ store: new MemoryFirmwareStore(), state });
    await fourth.sw.start();
    assert.deepEqual([fourth.sw.state, fourth.sw.updateResult], [0, 57]);
  });

  it('restart: Status Reason of the last failure comes back as it was', async () => {
    const store = new MemoryFirmwareStore({ maxSize: 8 * 1024 });
    const state = new MemorySoftwareStateStore();
    const first = fixture({
      store,
      state,
      install: () => Promise.resolve({ ok: false, reason: 'no space' }),
    });
    await deliver(first);
    first.sw.execute(4, []);
    await first.sw.settled();
    assert.deepEqual([first.sw.state, first.sw.updateResult], [3, 58]);
    await first.sw.close();
    const second = fixture({ store, state });
    await second.sw.start();
    assert.deepEqual([second.sw.state, second.sw.updateResult], [3, 58]);
    assert.equal(second.sw.statusReason, 'install/install-failed: no space');
  });

  it('pre-installed software starts INSTALLED and active unless told otherwise', () => {
    const on = fixture({ installed: { name: 'base', version: '1' } });
    assert.deepEqual([on.sw.state, on.sw.active, on.sw.installed?.name], [4, true, 'base']);
    const off = fixture({ installed: { name: 'base', version: '1', active: false } });
    assert.equal(off.sw.active, false);
  });

  it('the state file: saved atomically, read back; a damaged or foreign one is ignored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-sw-state-'));
    try {
      const file = new FileSoftwareStateStore(join(dir, 'x', 'software-state.json'));
      assert.equal(await file.load(), undefined);
      const snapshot = {
        status: { state: 4 as const, result: 2 as const, active: true },
        installed: { name: 'a', version: '1' },
        lastError: { phase: 'activate', code: 'activate-failed', updateResult: 2, message: 'no', at: 5 },
        updateSupportedObjects: true,
      };
      await file.save(snapshot);
      assert.deepEqual(await file.load(), snapshot);
      await writeFile(file.path, '{"status":{"state":9,"result":0,"active":false}}');
      assert.equal(await file.load(), undefined);
      await writeFile(file.path, 'not json');
      assert.equal(await file.load(), undefined);
      for (const bad of [
        null,
        3,
        {},
        { status: { state: 0, result: 55, active: false } },
        { status: { state: 0, result: 0, active: 1 } },
      ])
        assert.equal(validSoftwareSnapshot(bad), undefined, JSON.stringify(bad));
      assert.equal(
        validSoftwareSnapshot({ status: { state: 0, result: 0, active: false }, installed: { name: 1 } }),
        undefined,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
