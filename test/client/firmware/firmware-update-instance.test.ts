import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../src/clock.js';
import type {
  FirmwareApplication,
  FirmwareInstanceOptions,
  InstallOutcome,
  UpdateDecision,
  UpdateDecisionInfo,
} from '../../../src/client/firmware/firmware-update-instance.js';
import { FirmwareUpdateInstance } from '../../../src/client/firmware/firmware-update-instance.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { StoredImage } from '../../../src/client/firmware/firmware-store.js';
import type { PullFetcher } from '../../../src/client/firmware/pull-transfer.js';
import { PullError } from '../../../src/client/firmware/pull-transfer.js';
import type { Block1Sink } from '../../../src/coap/blockwise.js';
import type { CoapResponse } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import type { PackageVerifier } from '../../../src/firmware/package-stream.js';
import { Value } from '../../../src/model/data-types.js';
import { LwM2mPath } from '../../../src/model/path.js';

const IMAGE = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);

async function bytesOf(image: StoredImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of image.read()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

interface Fixture {
  fw: FirmwareUpdateInstance;
  clock: FakeClock;
  store: MemoryFirmwareStore;
  installed: Uint8Array[];
  versions: (string | undefined)[];
  decisions: UpdateDecisionInfo[];
  errors: unknown[];
  now: { value: number };
}

function fixture(
  options: Partial<FirmwareInstanceOptions> & {
    decide?: (info: UpdateDecisionInfo) => UpdateDecision | Promise<UpdateDecision>;
    install?: () => InstallOutcome | Promise<InstallOutcome>;
    store?: MemoryFirmwareStore;
    deliveryMethod?: 0 | 1 | 2;
    interrupted?: () => InstallOutcome | undefined;
  } = {},
): Fixture {
  const clock = new FakeClock(0);
  const store = options.store ?? new MemoryFirmwareStore({ maxSize: 64 * 1024 });
  const installed: Uint8Array[] = [];
  const versions: (string | undefined)[] = [];
  const decisions: UpdateDecisionInfo[] = [];
  const errors: unknown[] = [];
  const now = { value: 1_700_000_000 };
  const application: FirmwareApplication = {
    store,
    ...(options.deliveryMethod === undefined ? {} : { deliveryMethod: options.deliveryMethod }),
    ...(options.interrupted ? { interruptedInstall: options.interrupted } : {}),
    decide: (info) => {
      decisions.push(info);
      return options.decide?.(info) ?? { action: 'accept' };
    },
    install: async (image) => {
      installed.push(await bytesOf(image));
      return (await options.install?.()) ?? { ok: true, version: '2.0.0' };
    },
  };
  const fw = new FirmwareUpdateInstance({
    clock,
    now: () => now.value,
    downloadTimeout: 5000,
    onInstalled: (v) => versions.push(v),
    onError: (e) => errors.push(e),
    ...options,
    application,
  });
  return { fw, clock, store, installed, versions, decisions, errors, now };
}

const write = (fw: FirmwareUpdateInstance, rid: number, value: Parameters<typeof Value.opaque>[0] | string) =>
  fw.write(
    [
      {
        path: LwM2mPath.of(5, 0, rid),
        value: typeof value === 'string' ? Value.string(value) : Value.opaque(value),
      },
    ],
    'replace',
  );

const value = (fw: FirmwareUpdateInstance, rid: number) =>
  fw.read().find((r) => r.path.resourceId === rid && r.path.depth === 3)?.value?.value;

function sinkOf(result: Block1Sink | CoapResponse | undefined): Block1Sink {
  assert.ok(result && 'received' in result, 'a sink');
  return result;
}

async function downloaded(f: Fixture): Promise<void> {
  assert.ok(write(f.fw, 0, IMAGE).ok);
  assert.equal(f.fw.state, 1);
  await f.fw.settled();
  assert.equal(f.fw.state, 2);
}

describe('FirmwareUpdateInstance', () => {
  it('reads like a 1.2 /5/0: Idle, 0, protocols, both deliveries, Severity 1', () => {
    const { fw } = fixture({ fetchers: new Map<string, PullFetcher>([['coap:', () => Promise.resolve()]]) });
    assert.equal(value(fw, 3), 0);
    assert.equal(value(fw, 5), 0);
    assert.equal(value(fw, 1), '');
    assert.equal(value(fw, 9), 2);
    assert.equal(value(fw, 11), 1);
    assert.equal(value(fw, 13), 86_400);
    assert.equal(value(fw, 14), false);
    assert.equal(value(fw, 12), undefined, 'no state change yet');
    const protocols = fw
      .read()
      .filter((r) => r.path.resourceId === 8)
      .map((r) => r.value?.value);
    assert.deepEqual(protocols, [0, 2, 3]);
    assert.deepEqual(fw.resourceIds(), [0, 1, 2, 3, 5, 8, 9, 10, 11, 13, 14]);
  });

  it('one whole Write, Execute Update: Idle → Downloading → Downloaded → Updating → Idle/1 and the version', async () => {
    const f = fixture();
    const seen: number[] = [];
    f.fw.onChange(() => seen.push(f.fw.state));
    await downloaded(f);
    assert.equal(value(f.fw, 12), 1_700_000_000);
    assert.deepEqual(f.store.bytes(), IMAGE);
    f.now.value += 10;
    assert.ok(f.fw.execute(2, []).ok);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 1]);
    assert.deepEqual(f.installed, [IMAGE]);
    assert.deepEqual(f.versions, ['2.0.0']);
    assert.deepEqual(seen, [1, 2, 3, 0]);
    assert.equal(value(f.fw, 12), 1_700_000_010);
    assert.equal(f.decisions[0]?.trigger, 'execute');
    assert.equal(f.decisions[0]?.severity, 1);
    assert.equal(f.store.size, 0, 'the image is dropped after the update');
  });

  it('Update outside Downloaded is 4.05', async () => {
    const f = fixture({ install: () => new Promise<InstallOutcome>(() => undefined) });
    assert.deepEqual(f.fw.execute(2, []), {
      ok: false,
      code: '4.05',
      message: 'update is not allowed in State 0 (Idle): Update is executable only in Downloaded',
    });
    await downloaded(f);
    assert.ok(f.fw.execute(2, []).ok);
    await new Promise((r) => setImmediate(r));
    assert.equal(f.fw.state, 3);
    const again = f.fw.execute(2, []);
    assert.equal(again.ok, false);
  });

  it('resets by a single NUL in /5/0/0 and by an empty /5/0/1, dropping the image', async () => {
    for (const reset of [
      (fw: FirmwareUpdateInstance) => write(fw, 0, Uint8Array.of(0)),
      (fw: FirmwareUpdateInstance) => write(fw, 1, ''),
    ]) {
      const f = fixture();
      await downloaded(f);
      assert.ok(reset(f.fw).ok);
      await f.fw.settled();
      assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 0]);
      assert.equal(f.store.size, 0);
    }
  });

  it('a reset during a download stops it: later blocks find no download', async () => {
    const f = fixture();
    const sink = sinkOf(f.fw.block1Sink(0, undefined));
    assert.equal(await sink.write(IMAGE.subarray(0, 1024)), undefined);
    assert.ok(write(f.fw, 1, '').ok);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 0]);
    assert.equal((await sink.write(IMAGE.subarray(1024, 2048)))?.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    assert.equal(f.fw.block1Sink(2, undefined), undefined);
  });

  it('Cancel: 10 before the update, 4.05 while Updating and once installed', async () => {
    let f = fixture();
    assert.ok(f.fw.execute(10, []).ok, 'Idle');
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 10]);

    f = fixture();
    sinkOf(f.fw.block1Sink(0, undefined));
    assert.ok(f.fw.execute(10, []).ok, 'Downloading');
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 10]);

    f = fixture();
    await downloaded(f);
    assert.ok(f.fw.execute(10, []).ok, 'Downloaded');
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.store.size], [0, 10, 0]);

    let finish: (o: InstallOutcome) => void = () => undefined;
    f = fixture({ install: () => new Promise<InstallOutcome>((r) => (finish = r)) });
    await downloaded(f);
    f.fw.execute(2, []);
    await new Promise((r) => setImmediate(r));
    assert.equal(f.fw.state, 3);
    const refused = f.fw.execute(10, []);
    assert.equal(refused.ok ? '' : refused.code, '4.05', 'Updating');
    const reset = write(f.fw, 0, Uint8Array.of(0));
    assert.equal(reset.ok ? '' : reset.code, '4.05', 'no reset while Updating');
    finish({ ok: true });
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 1]);
    const installed = f.fw.execute(10, []);
    assert.equal(installed.ok ? '' : installed.code, '4.05', 'installed');
  });

  it('a new package while one is in hand is 4.05 (reset first)', async () => {
    const f = fixture();
    await downloaded(f);
    assert.equal(write(f.fw, 0, IMAGE).ok, false);
    assert.equal(write(f.fw, 1, 'coap://10.0.0.9/fw').ok, false);
    const sink = f.fw.block1Sink(0, undefined);
    assert.equal(sink && !('received' in sink) ? sink.code : 0, CoapCode.METHOD_NOT_ALLOWED);
  });

  it('a Block1 push streams block by block and is Downloaded after the last', async () => {
    const f = fixture();
    const sink = sinkOf(f.fw.block1Sink(0, IMAGE.length));
    for (let at = 0; at < 2048; at += 1024) {
      assert.equal(sink.received, at);
      assert.equal(await sink.write(IMAGE.subarray(at, at + 1024)), undefined);
    }
    assert.equal(f.fw.state, 1);
    assert.equal(sinkOf(f.fw.block1Sink(2, undefined)).received, 2048, 'block 2 continues the push');
    const last = await sinkOf(f.fw.block1Sink(2, undefined)).end(IMAGE.subarray(2048));
    assert.equal(last.code, CoapCode.CHANGED);
    assert.equal(f.fw.state, 2);
    assert.deepEqual(f.store.bytes(), IMAGE);
  });

  it('block 0 again restarts the push under way', async () => {
    const f = fixture();
    const first = sinkOf(f.fw.block1Sink(0, undefined));
    await first.write(Uint8Array.from({ length: 1024 }, () => 9));
    const second = sinkOf(f.fw.block1Sink(0, undefined));
    assert.equal(second.received, 0);
    assert.equal((await first.write(IMAGE.subarray(0, 1024)))?.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    await second.end(IMAGE.subarray(0, 500));
    assert.deepEqual(f.store.bytes(), IMAGE.subarray(0, 500));
    assert.equal(f.fw.state, 2);
  });

  it('an image larger than the store: Size1 or a block past the bound → 4.13 and Update Result 2', async () => {
    let f = fixture({ store: new MemoryFirmwareStore({ maxSize: 2000 }) });
    const refused = f.fw.block1Sink(0, 5000);
    assert.equal(refused && !('received' in refused) ? refused.code : 0, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 2]);
    assert.equal(f.fw.lastError?.code, 'not-enough-flash');

    f = fixture({ store: new MemoryFirmwareStore({ maxSize: 2000 }) });
    const sink = sinkOf(f.fw.block1Sink(0, undefined));
    assert.equal(await sink.write(IMAGE.subarray(0, 1024)), undefined);
    assert.equal((await sink.write(IMAGE.subarray(1024, 2048)))?.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 2]);
  });

  it('no block for downloadTimeout: Idle with 4', async () => {
    const f = fixture();
    const sink = sinkOf(f.fw.block1Sink(0, undefined));
    await sink.write(IMAGE.subarray(0, 1024));
    f.clock.advance(4999);
    assert.equal(f.fw.state, 1);
    await sink.write(IMAGE.subarray(1024, 2048));
    f.clock.advance(4999);
    assert.equal(f.fw.state, 1, 'each block restarts the timer');
    f.clock.advance(1);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 4]);
    assert.equal(f.fw.lastError?.code, 'download-timeout');
  });

  it('a package the verifier refuses ends in Idle with its result and reason', async () => {
    const verifier: PackageVerifier = {
      begin: () => ({
        push: (c) => c,
        end: () => ({ ok: false, updateResult: 5, phase: 'digest', reason: 'SHA-256 differs' }),
      }),
    };
    const f = fixture({ verifier });
    write(f.fw, 0, IMAGE);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 5]);
    assert.deepEqual(
      { phase: f.fw.lastError?.phase, code: f.fw.lastError?.code, message: f.fw.lastError?.message },
      { phase: 'verify', code: 'digest', message: 'SHA-256 differs' },
    );
    assert.equal(f.store.size, 0);
  });

  it('verified facts show as PkgName/PkgVersion and become /3/0/3', async () => {
    const verifier: PackageVerifier = {
      begin: () => ({
        push: (c) => c.subarray(1),
        end: () => ({ ok: true, facts: { name: 'app', version: '3.1' } }),
      }),
    };
    const f = fixture({ verifier, install: () => ({ ok: true }) });
    await downloaded(f);
    assert.equal(value(f.fw, 6), 'app');
    assert.equal(value(f.fw, 7), '3.1');
    assert.deepEqual(f.store.bytes(), IMAGE.subarray(1), 'the store gets what the stream yields');
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual(f.versions, ['3.1']);
  });

  it('defers within the Maximum Defer Period, is asked again, then installs', async () => {
    const answers: UpdateDecision[] = [
      { action: 'defer', seconds: 60 },
      { action: 'defer', seconds: 600 },
      { action: 'accept' },
    ];
    const f = fixture({ decide: () => answers.shift()!, maxDeferPeriod: 100 });
    await downloaded(f);
    const changed = value(f.fw, 12);
    f.now.value += 5;
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 11]);
    assert.equal(value(f.fw, 12), changed, 'a deferral is no State change');
    assert.equal(f.decisions[0]?.deferAllowed, 100);
    f.clock.advance(60_000);
    await f.fw.settled();
    assert.equal(f.decisions[1]?.trigger, 'deferral-over');
    assert.equal(f.decisions[1]?.deferAllowed, 40);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 11]);
    f.clock.advance(39_999);
    await f.fw.settled();
    assert.equal(f.decisions.length, 2, 'the second deferral is cut to what /5/0/13 leaves');
    f.clock.advance(1);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 1]);
    assert.equal(f.installed.length, 1);
  });

  it('a deferral /5/0/13 does not allow fails the update with 8, never forcing it', async () => {
    const f = fixture({ decide: () => ({ action: 'defer', seconds: 30 }) });
    assert.ok(f.fw.write([{ path: LwM2mPath.of(5, 0, 13), value: Value.unsigned(0) }], 'replace').ok);
    await downloaded(f);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 8]);
    assert.equal(f.fw.lastError?.code, 'deferral-not-allowed');
    assert.equal(f.installed.length, 0);
  });

  it('refuse keeps the image in Downloaded with 8 and the reason', async () => {
    const f = fixture({ decide: () => ({ action: 'refuse', reason: 'battery low' }) });
    await downloaded(f);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 8]);
    assert.deepEqual([f.fw.lastError?.phase, f.fw.lastError?.message], ['decide', 'battery low']);
    assert.equal(f.store.size, IMAGE.length);
  });

  it('a failed install: 8 keeps Downloaded, 5 goes Idle and drops the image', async () => {
    let f = fixture({ install: () => ({ ok: false, updateResult: 8, reason: 'flash write error' }) });
    await downloaded(f);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.store.size], [2, 8, IMAGE.length]);
    assert.deepEqual([f.fw.lastError?.phase, f.fw.lastError?.message], ['install', 'flash write error']);
    assert.deepEqual(f.versions, []);

    f = fixture({ install: () => ({ ok: false, updateResult: 5, reason: 'bad signature' }) });
    await downloaded(f);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.store.size], [0, 5, 0]);

    f = fixture({ install: () => Promise.reject(new Error('boom')) });
    await downloaded(f);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.message], [2, 8, 'boom']);
  });

  it('Automatic Upgrade at Download installs without an Execute', async () => {
    const f = fixture();
    assert.ok(f.fw.write([{ path: LwM2mPath.of(5, 0, 14), value: Value.boolean(true) }], 'replace').ok);
    write(f.fw, 0, IMAGE);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 1]);
    assert.equal(f.decisions[0]?.trigger, 'automatic');
  });

  it('pull: invalid URI → 7, unknown scheme → 9, each through Downloading', async () => {
    const f = fixture();
    const states: number[] = [];
    f.fw.onChange(() => states.push(f.fw.state));
    assert.ok(write(f.fw, 1, 'not a uri').ok);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.code], [0, 7, 'invalid-uri']);
    assert.ok(write(f.fw, 1, 'ftp://10.0.0.9/fw.bin').ok);
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.code], [0, 9, 'unsupported-protocol']);
    assert.deepEqual(states, [1, 0, 1, 0]);
    assert.equal(value(f.fw, 1), 'ftp://10.0.0.9/fw.bin');
  });

  it('pull: a fetcher that loses the connection → 4; a URI while downloading → 4.05', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const fetcher: PullFetcher = async (_uri, t) => {
      await gate;
      await t.begin(undefined, 0);
      throw new PullError(4, 'gone');
    };
    const f = fixture({ fetchers: new Map([['coap:', fetcher]]) });
    assert.ok(write(f.fw, 1, 'coap://10.0.0.9/fw').ok);
    const again = write(f.fw, 1, 'coap://10.0.0.9/other');
    assert.equal(again.ok ? '' : again.code, '4.05');
    release();
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.message], [0, 4, 'gone']);
  });

  it('push-only devices refuse a URI, pull-only ones a package (4.05)', () => {
    const push = fixture({ deliveryMethod: 1 });
    assert.equal(write(push.fw, 1, 'coap://10.0.0.9/fw').ok, false);
    const pull = fixture({ deliveryMethod: 0 });
    assert.equal(write(pull.fw, 0, IMAGE).ok, false);
    const refused = pull.fw.block1Sink(0, undefined);
    assert.equal(refused && !('received' in refused) ? refused.code : 0, CoapCode.METHOD_NOT_ALLOWED);
  });

  it('restart: Downloaded stays Downloaded; a pull resumes from the saved offset', async () => {
    const store = new MemoryFirmwareStore();
    let f = fixture({ store });
    await downloaded(f);
    await f.fw.close();
    f = fixture({ store });
    await f.fw.start();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 0]);
    f.fw.execute(2, []);
    await f.fw.settled();
    assert.deepEqual(f.installed, [IMAGE]);

    // A pull that stops after 80 KiB (the offset is saved every 64 KiB), then a restart.
    const big = Uint8Array.from({ length: 100 * 1024 }, (_, i) => i % 251);
    const offsets: number[] = [];
    const stalling: PullFetcher = async (_uri, t) => {
      offsets.push(t.offset);
      await t.begin('e1', t.offset);
      for (let at = t.offset; at < 80 * 1024; at += 1024) await t.write(big.subarray(at, at + 1024));
      await new Promise(() => undefined);
    };
    const store2 = new MemoryFirmwareStore({ maxSize: 1 << 20 });
    f = fixture({ store: store2, fetchers: new Map([['coap:', stalling]]) });
    write(f.fw, 1, 'coap://10.0.0.9/fw');
    for (let i = 0; i < 100 && store2.size < 80 * 1024; i++) await new Promise((r) => setImmediate(r));
    await f.fw.close();
    const finishing: PullFetcher = async (_uri, t) => {
      offsets.push(t.offset);
      assert.equal(t.etag, 'e1');
      await t.begin('e1', t.offset);
      for (let at = t.offset; at < big.length; at += 1024) await t.write(big.subarray(at, at + 1024));
    };
    f = fixture({ store: store2, fetchers: new Map([['coap:', finishing]]) });
    await f.fw.start();
    await f.fw.settled();
    assert.deepEqual(offsets, [0, 64 * 1024]);
    assert.deepEqual([f.fw.state, f.fw.updateResult], [2, 0]);
    assert.deepEqual(store2.bytes(), big);
  });

  it('restart: a push under way fails with 4 (its transfer is gone)', async () => {
    const store = new MemoryFirmwareStore();
    let f = fixture({ store });
    await sinkOf(f.fw.block1Sink(0, undefined)).write(IMAGE.subarray(0, 1024));
    await f.fw.close();
    f = fixture({ store });
    await f.fw.start();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.phase], [0, 4, 'restart']);
  });

  it('restart in Updating: the application says how the install ended; without it, 8', async () => {
    const store = new MemoryFirmwareStore();
    const hanging = () => new Promise<InstallOutcome>(() => undefined);
    let f = fixture({ store, install: hanging });
    await downloaded(f);
    f.fw.execute(2, []);
    await new Promise((r) => setImmediate(r));
    assert.equal(f.fw.state, 3);
    await f.fw.close();

    f = fixture({ store, interrupted: () => ({ ok: true, version: '9.9' }) });
    await f.fw.start();
    await f.fw.settled();
    assert.deepEqual([f.fw.state, f.fw.updateResult], [0, 1]);
    assert.deepEqual(f.versions, ['9.9']);

    f = fixture({ store: new MemoryFirmwareStore(), install: hanging });
    const store2 = f.store;
    await downloaded(f);
    f.fw.execute(2, []);
    await new Promise((r) => setImmediate(r));
    await f.fw.close();
    f = fixture({ store: store2 });
    await f.fw.start();
    assert.deepEqual([f.fw.state, f.fw.updateResult, f.fw.lastError?.phase], [2, 8, 'restart']);
  });
});
