// PackageDownloader: the push/pull machinery shared by /5 Firmware Update and /9 Software
// Management, driven directly (no instance, no network): fake clock, memory store, fake fetchers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../../src/clock.js';
import { FirmwareStoreError, MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { StoredImage } from '../../../src/client/firmware/firmware-store.js';
import { plainImageVerifier } from '../../../src/client/firmware/plain-image-verifier.js';
import type { PullFetcher, PullTransfer } from '../../../src/client/firmware/pull-transfer.js';
import { PullError } from '../../../src/client/firmware/pull-transfer.js';
import type {
  DownloadFailure,
  PackageDownloaderOptions,
} from '../../../src/client/package/package-download.js';
import { PackageDownloader, SAVE_EVERY } from '../../../src/client/package/package-download.js';
import type { Block1Sink } from '../../../src/coap/blockwise.js';
import type { CoapResponse } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import { OptionNumber } from '../../../src/coap/options.js';
import type { PackageVerdict, PackageVerifier } from '../../../src/firmware/package-stream.js';

const BODY = Uint8Array.from({ length: 1000 }, (_, i) => (i * 13 + 5) & 0xff);
const BLOCK = 64;
const blockOf = (body: Uint8Array, num: number) => body.subarray(num * BLOCK, num * BLOCK + BLOCK);

async function bytesOf(image: StoredImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of image.read()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

interface Rig {
  downloads: PackageDownloader;
  clock: FakeClock;
  store: MemoryFirmwareStore;
  failures: DownloadFailure[];
  done: { image: StoredImage; verdict: PackageVerdict }[];
  saves: number[];
  begun: number;
}

function rig(
  options: Partial<PackageDownloaderOptions> & { store?: MemoryFirmwareStore; fetcher?: PullFetcher } = {},
): Rig {
  const clock = new FakeClock(0);
  const store = options.store ?? new MemoryFirmwareStore({ maxSize: 4096 });
  const r: Rig = {
    downloads: undefined as unknown as PackageDownloader,
    clock,
    store,
    failures: [],
    done: [],
    saves: [],
    begun: 0,
  };
  r.downloads = new PackageDownloader({
    store,
    verifier: plainImageVerifier,
    verifyBeforeStore: true,
    clock,
    downloadTimeout: 5000,
    ...(options.fetcher ? { fetchers: new Map([['test:', options.fetcher]]) } : {}),
    onFailed: (f) => r.failures.push(f),
    onDownloaded: (image, verdict) => r.done.push({ image, verdict }),
    onProgress: () => r.saves.push(r.downloads.progress()?.received ?? -1),
    ...options,
  });
  return r;
}

/** Block 0 of a push that the object admits (counts the admissions). */
function pushSink(r: Rig, size1?: number): Block1Sink | CoapResponse | undefined {
  return r.downloads.block1Sink(0, size1, () => {
    r.begun++;
    return r.downloads.start({ delivery: 'push', streamed: true });
  });
}

function sinkOf(result: Block1Sink | CoapResponse | undefined): Block1Sink {
  assert.ok(result && 'received' in result, 'a sink');
  return result;
}

/** A fetcher serving `body` from the offset asked for, or from 0 when `restart` says so. */
function serving(
  body: Uint8Array,
  seen: PullTransfer[],
  options: { etag?: string; restart?: boolean; chunk?: number } = {},
): PullFetcher {
  return async (_uri, transfer) => {
    seen.push(transfer);
    const from = options.restart ? 0 : transfer.offset;
    await transfer.begin(options.etag, from);
    const step = options.chunk ?? 100;
    for (let at = from; at < body.length; at += step) await transfer.write(body.subarray(at, at + step));
  };
}

/** A store holding the first `n` bytes of `body` from an earlier run (as after a restart). */
async function storeWith(body: Uint8Array, n: number, maxSize = 4096): Promise<MemoryFirmwareStore> {
  const store = new MemoryFirmwareStore({ maxSize });
  await store.open(0);
  await store.write(body.subarray(0, n));
  return store;
}

describe('PackageDownloader: push', () => {
  it('streams Block1 blocks into the store; the last one completes the download', async () => {
    const r = rig();
    const sink = sinkOf(pushSink(r));
    const last = Math.ceil(BODY.length / BLOCK) - 1;
    for (let n = 0; n < last; n++) assert.equal(await sink.write(blockOf(BODY, n)), undefined);
    assert.equal(sink.received, last * BLOCK);
    assert.equal(r.downloads.pushing, true);
    // A later block finds the push under way.
    assert.equal(
      sinkOf(r.downloads.block1Sink(3, undefined, () => assert.fail('not asked'))).received,
      sink.received,
    );
    const response = await sink.end(blockOf(BODY, last));
    assert.equal(response.code, CoapCode.CHANGED);
    assert.equal(r.done.length, 1);
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY);
    assert.deepEqual(r.done[0]!.verdict, { ok: true, facts: { size: BODY.length } });
    assert.equal(r.downloads.pushing, false);
    assert.equal(r.clock.pending, 0, 'no timer left');
    assert.deepEqual(r.failures, []);
  });

  it('a push interrupted and restarted by block 0: the old sink is stale, the new one starts at 0', async () => {
    const r = rig();
    const first = sinkOf(pushSink(r));
    await first.write(blockOf(BODY, 0));
    await first.write(blockOf(BODY, 1));
    assert.equal(first.received, 2 * BLOCK);
    // The server starts its transfer over: same download (not admitted again), from byte 0.
    const second = sinkOf(pushSink(r));
    assert.equal(r.begun, 1);
    assert.equal(second.received, 0);
    const stale = await first.write(blockOf(BODY, 2));
    assert.equal(stale?.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    const other = Uint8Array.from(BODY.subarray(0, 200), (b) => b ^ 0xff);
    await second.write(other.subarray(0, 100));
    await second.end(other.subarray(100));
    assert.equal(r.done.length, 1);
    assert.deepEqual(await bytesOf(r.done[0]!.image), other, 'only the restarted transfer is kept');
    assert.deepEqual(r.failures, []);
  });

  it('a later block with no push under way gets no sink; a refusal of block 0 is passed on', () => {
    const r = rig();
    assert.equal(
      r.downloads.block1Sink(2, undefined, () => assert.fail('not asked')),
      undefined,
    );
    const refused: CoapResponse = { code: CoapCode.METHOD_NOT_ALLOWED };
    assert.equal(
      r.downloads.block1Sink(0, undefined, () => refused),
      refused,
    );
    assert.equal(r.downloads.pushing, false);
  });

  it('Size1 past the store: 4.13 with Size1 = maxSize, and the download fails as full', () => {
    const r = rig({ store: new MemoryFirmwareStore({ maxSize: 500 }) });
    const response = pushSink(r, 501) as CoapResponse;
    assert.equal(response.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    const size1 = response.options?.find((o) => o.number === OptionNumber.SIZE1);
    assert.deepEqual([...(size1?.value ?? [])], [0x01, 0xf4]);
    assert.equal(r.failures.length, 1);
    assert.equal(r.failures[0]!.kind, 'full');
    assert.equal(r.failures[0]!.phase, 'store');
    assert.match(r.failures[0]!.message, /Size1 501 exceeds 500/);
    assert.equal(r.downloads.pushing, false);
  });

  it('bytes past the store: 4.13 for the block, kind full, and later blocks are stale', async () => {
    const r = rig({ store: new MemoryFirmwareStore({ maxSize: 100 }) });
    const sink = sinkOf(pushSink(r));
    assert.equal(await sink.write(blockOf(BODY, 0)), undefined);
    const refused = await sink.write(blockOf(BODY, 1));
    assert.equal(refused?.code, CoapCode.REQUEST_ENTITY_TOO_LARGE);
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.phase, f.code]),
      [['full', 'store', 'not-enough-storage']],
    );
    assert.equal((await sink.end(blockOf(BODY, 2))).code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    assert.equal(r.failures.length, 1, 'reported once');
  });

  it('a store that fails: store-io (5.00 for the block); any other error: connection-lost', async () => {
    class FailingStore extends MemoryFirmwareStore {
      error: Error = new FirmwareStoreError('io', 'the flash is worn out');
      override write(): Promise<void> {
        return Promise.reject(this.error);
      }
    }
    const store = new FailingStore();
    const r = rig({ store });
    const refused = await sinkOf(pushSink(r)).write(blockOf(BODY, 0));
    assert.equal(refused?.code, CoapCode.INTERNAL_SERVER_ERROR);
    assert.equal(new TextDecoder().decode(refused?.payload), 'the flash is worn out');
    store.error = new Error('bus error');
    await r.downloads.deliver(r.downloads.start({ delivery: 'push', streamed: false }), BODY);
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.phase, f.code, f.message]),
      [
        ['store-io', 'store', 'store-io', 'the flash is worn out'],
        ['connection-lost', 'download', 'connection-lost', 'bus error'],
      ],
    );
    assert.equal(r.done.length, 0);
  });

  it('a store that cannot open: the download fails with store-io before any byte', async () => {
    class ClosedStore extends MemoryFirmwareStore {
      override open(): Promise<number> {
        return Promise.reject(new FirmwareStoreError('io', 'no medium'));
      }
    }
    const r = rig({ store: new ClosedStore() });
    await r.downloads.deliver(r.downloads.start({ delivery: 'push', streamed: false }), BODY);
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.message]),
      [['store-io', 'no medium']],
    );
    assert.equal(r.done.length, 0);
  });

  it('one whole Write: the bytes are copied at once (the caller may reuse its buffer)', async () => {
    const r = rig();
    const buffer = BODY.slice();
    const done = r.downloads.deliver(r.downloads.start({ delivery: 'push', streamed: false }), buffer);
    buffer.fill(0);
    await done;
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY);
  });

  it('no byte for downloadTimeout: kind timeout; stop() ends a download and reports nothing', async () => {
    const r = rig();
    const sink = sinkOf(pushSink(r));
    await sink.write(blockOf(BODY, 0));
    r.clock.advance(4999);
    assert.equal(r.failures.length, 0);
    r.clock.advance(1);
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.code, f.message]),
      [['timeout', 'download-timeout', 'no data for 5000 ms']],
    );
    const next = sinkOf(pushSink(r));
    r.downloads.stop();
    assert.equal(r.clock.pending, 0);
    assert.equal((await next.write(blockOf(BODY, 0)))?.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
    assert.equal(r.failures.length, 1);
  });
});

describe('PackageDownloader: verdicts', () => {
  const refusing: PackageVerifier = {
    begin: () => ({
      push: (chunk) => chunk,
      end: () => ({ ok: false, updateResult: 5, phase: 'digest', reason: 'the digest differs' }),
    }),
  };

  it('verifyBeforeStore (/5): a refusal fails the download and the image is never completed', async () => {
    const r = rig({ verifier: refusing, verifyBeforeStore: true });
    await r.downloads.deliver(r.downloads.start({ delivery: 'push', streamed: false }), BODY);
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.phase, f.code, f.message]),
      [['integrity', 'verify', 'digest', 'the digest differs']],
    );
    assert.equal(r.done.length, 0);
    assert.equal(await r.store.image(), undefined);
  });

  it('verify after store (/9): the image is stored and the refusal comes with it', async () => {
    const r = rig({ verifier: refusing, verifyBeforeStore: false });
    await r.downloads.deliver(r.downloads.start({ delivery: 'push', streamed: false }), BODY);
    assert.deepEqual(r.failures, []);
    assert.equal(r.done.length, 1);
    assert.equal(r.done[0]!.verdict.ok, false);
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY);
  });
});

describe('PackageDownloader: pull', () => {
  it('fetches the URI from 0, saves its progress, completes', async () => {
    const seen: PullTransfer[] = [];
    const body = Uint8Array.from({ length: SAVE_EVERY + 1000 }, (_, i) => (i * 31) & 0xff);
    const r = rig({
      store: new MemoryFirmwareStore({ maxSize: 256 * 1024 }),
      fetcher: serving(body, seen, { etag: 'e1', chunk: 4096 }),
    });
    await r.downloads.pull(r.downloads.start({ delivery: 'pull', uri: 'test://host/pkg', streamed: false }));
    assert.equal(seen[0]!.offset, 0);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(await bytesOf(r.done[0]!.image), body);
    // Saved once when the representation began, then each SAVE_EVERY bytes.
    assert.deepEqual(r.saves, [0, SAVE_EVERY]);
  });

  it('a pull resumed from an offset asks for the rest of the same representation', async () => {
    const seen: PullTransfer[] = [];
    const r = rig({ store: await storeWith(BODY, 300), fetcher: serving(BODY, seen, { etag: 'e1' }) });
    const dl = r.downloads.start({
      delivery: 'pull',
      uri: 'test://host/pkg',
      streamed: false,
      offset: 300,
      etag: 'e1',
    });
    await r.downloads.pull(dl);
    assert.equal(seen[0]!.offset, 300);
    assert.equal(seen[0]!.etag, 'e1');
    assert.deepEqual(r.failures, []);
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY, 'the kept bytes and the rest');
  });

  it('resumed at an offset the store no longer holds: from what it kept; none kept: from 0, no ETag', async () => {
    const seen: PullTransfer[] = [];
    const r = rig({ store: await storeWith(BODY, 120), fetcher: serving(BODY, seen, { etag: 'e1' }) });
    await r.downloads.pull(
      r.downloads.start({ delivery: 'pull', uri: 'test://h/p', streamed: false, offset: 300, etag: 'e1' }),
    );
    assert.equal(seen[0]!.offset, 120);
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY);

    const fresh = rig({ fetcher: serving(BODY, seen) });
    await fresh.downloads.pull(
      fresh.downloads.start({
        delivery: 'pull',
        uri: 'test://h/p',
        streamed: false,
        offset: 300,
        etag: 'e1',
      }),
    );
    assert.equal(seen[1]!.offset, 0);
    assert.equal(seen[1]!.etag, undefined);
    assert.deepEqual(await bytesOf(fresh.done[0]!.image), BODY);
  });

  it('a resumed pull the server restarts from 0 (new representation) drops the kept bytes', async () => {
    const seen: PullTransfer[] = [];
    const other = BODY.map((b) => b ^ 0x5a);
    const r = rig({
      store: await storeWith(BODY, 300),
      fetcher: serving(other, seen, { etag: 'e2', restart: true }),
    });
    await r.downloads.pull(
      r.downloads.start({ delivery: 'pull', uri: 'test://h/p', streamed: false, offset: 300, etag: 'e1' }),
    );
    assert.equal(seen[0]!.offset, 300);
    assert.deepEqual(await bytesOf(r.done[0]!.image), other);
    assert.equal(r.saves[0], 0, 'the restart is saved from 0');
  });

  it('a fetcher that continues elsewhere than the offset: connection-lost', async () => {
    const fetcher: PullFetcher = (_uri, transfer) => transfer.begin(undefined, transfer.offset + 10);
    const r = rig({ store: await storeWith(BODY, 300), fetcher });
    await r.downloads.pull(
      r.downloads.start({ delivery: 'pull', uri: 'test://h/p', streamed: false, offset: 300 }),
    );
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.message]),
      [['connection-lost', 'cannot continue at 310']],
    );
  });

  it('a resumed pull replays the checkpoint and the kept bytes through an application verifier', async () => {
    const pushed: number[][] = [];
    const recording: PackageVerifier = {
      begin: () => {
        const seen: number[] = [];
        pushed.push(seen);
        return {
          push: (chunk) => {
            seen.push(...chunk);
            return chunk.subarray(Math.min(chunk.length, Math.max(0, 4 - (seen.length - chunk.length))));
          },
          end: () => ({ ok: true, facts: { name: 'pkg' } }),
        };
      },
    };
    const envelope = Uint8Array.of(0xee, 0xee, 0xee, 0xee);
    const r = rig({
      store: await storeWith(BODY, 200),
      verifier: recording,
      replays: true,
      fetcher: serving(Buffer.concat([envelope, BODY]), []),
    });
    const dl = r.downloads.start({
      delivery: 'pull',
      uri: 'test://h/p',
      streamed: false,
      offset: 200,
      checkpoint: envelope,
    });
    await r.downloads.pull(dl);
    assert.deepEqual(r.failures, []);
    // The fresh stream saw the envelope, the 200 stored bytes, then the rest of the transfer.
    assert.deepEqual(pushed.length, 1);
    assert.deepEqual(pushed[0], [...envelope, ...BODY]);
    assert.deepEqual(await bytesOf(r.done[0]!.image), BODY);
  });

  it('URI and fetcher failures map to kinds: invalid-uri, unsupported-protocol, a PullError', async () => {
    const r = rig({ fetcher: () => Promise.reject(new PullError(9, 'the server speaks no CoAP')) });
    const pull = (uri: string) =>
      r.downloads.pull(r.downloads.start({ delivery: 'pull', uri, streamed: false }));
    await pull('not a uri');
    await pull('gopher://host/pkg');
    await pull('test://host/pkg');
    assert.deepEqual(
      r.failures.map((f) => [f.kind, f.phase, f.code]),
      [
        ['invalid-uri', 'uri', 'invalid-uri'],
        ['unsupported-protocol', 'uri', 'unsupported-protocol'],
        ['unsupported-protocol', 'download', 'unsupported-protocol'],
      ],
    );
    assert.match(r.failures[1]!.message, /gopher: is not supported \(http: https: test:\)/);
  });

  it('credentials go into an http(s) URI only, and only with a user name', async () => {
    const urls: string[] = [];
    const record: PullFetcher = async (uri, transfer) => {
      urls.push(uri.href);
      await transfer.begin(undefined, 0);
      await transfer.write(BODY);
    };
    const r = rig({
      fetchers: new Map([
        ['http:', record],
        ['test:', record],
      ]),
    });
    const pull = (uri: string, userName: string) =>
      r.downloads.pull(r.downloads.start({ delivery: 'pull', uri, streamed: false }), {
        userName,
        password: 'p@ss',
      });
    await pull('http://host/pkg', 'dev ice');
    await pull('http://host/pkg', '');
    await pull('test://host/pkg', 'device');
    assert.deepEqual(urls, ['http://dev%20ice:p%40ss@host/pkg', 'http://host/pkg', 'test://host/pkg']);
  });

  it('progress() tells what a restart needs; a push has no checkpoint', async () => {
    const during: ReturnType<PackageDownloader['progress']>[] = [];
    const fetcher: PullFetcher = async (_uri, transfer) => {
      await transfer.begin('e9', 0);
      await transfer.write(BODY.subarray(0, 500));
      during.push(r.downloads.progress());
      await transfer.write(BODY.subarray(500));
    };
    const r = rig({ fetcher });
    assert.equal(r.downloads.progress(), undefined);
    sinkOf(pushSink(r));
    assert.deepEqual(r.downloads.progress(), {
      delivery: 'push',
      received: 0,
      etag: undefined,
      checkpoint: undefined,
    });
    r.downloads.stop();
    assert.equal(r.downloads.progress(), undefined, 'none once stopped');
    await r.downloads.pull(r.downloads.start({ delivery: 'pull', uri: 'test://h/p', streamed: false }));
    // Saved at the start of the representation; 500 bytes are less than SAVE_EVERY.
    assert.deepEqual(during, [{ delivery: 'pull', received: 0, etag: 'e9', checkpoint: new Uint8Array(0) }]);
    assert.equal(r.downloads.progress(), undefined, 'none once complete');
  });
});
