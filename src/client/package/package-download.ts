/**
 * The download half of /5 Firmware Update and /9 Software Management (LWM2M-1.2.md §6, §4.8): a
 * package pushed (one Write, or Block1 streamed by the client's block-wise layer, RFC 7959) or
 * pulled from a URI (pull-transfer.ts: coap(s), coap(s)+tcp, http(s)) passes every byte through
 * a PackageStream (signed manifests verified) into a bounded FirmwareStore; a pull may resume
 * from the offset saved before a restart.
 *
 * One PackageDownloader per instance holds the download under way. The instance keeps its own
 * State and Update Result: it decides whether a download may start, and is told how one ended
 * (a spec-neutral DownloadFailure, or the stored image and the package's verdict) to map to its
 * object's codes.
 */
import { systemClock } from '../../clock.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Block1Sink } from '../../coap/blockwise.js';
import type { CoapResponse } from '../../coap/endpoint.js';
import { CoapCode } from '../../coap/message.js';
import { OptionNumber, encodeUint } from '../../coap/options.js';
import type { PackageStream, PackageVerdict, PackageVerifier } from '../../firmware/package-stream.js';
import type { CoapPullSession } from '../firmware/coap-pull.js';
import { coapPull } from '../firmware/coap-pull.js';
import type { FirmwareStore, StoredImage } from '../firmware/firmware-store.js';
import { FirmwareStoreError } from '../firmware/firmware-store.js';
import type { HttpPullOptions } from '../firmware/http-pull.js';
import { httpPull } from '../firmware/http-pull.js';
import type { PullFetcher, PullTransfer } from '../firmware/pull-transfer.js';
import { PullError } from '../firmware/pull-transfer.js';

/** How pulls are made (FirmwareUpdateOptions.pull, SoftwareManagementOptions.pull). */
export interface FirmwarePullOptions {
  /** CoAP Block2 size asked for (default 1024). */
  readonly blockSize?: number;
  /** Failed exchanges or connections in a row before Update Result 4 (default 4). */
  readonly retries?: number;
  /** Pause before a retry, ms (default 1000). */
  readonly retryDelay?: number;
  /** Deadline of one CoAP block exchange, ms (default the endpoint's). */
  readonly timeout?: number;
  readonly http?: Omit<HttpPullOptions, 'retries' | 'retryDelay' | 'clock'>;
}

/** CoAP endpoints for pulls, and the schemes (`coap:`, `coap+tcp:`...) they reach. */
export interface CoapPullEndpoints {
  readonly schemes: readonly string[];
  readonly open: (uri: URL) => Promise<CoapPullSession>;
}

/**
 * Why a download ended, before the object names it: /5 Update Result, /9 Update Result.
 *   full                  the package exceeds the store          /5: 2   /9: 50
 *   store-io              the store failed                       /5: 2   /9: 57
 *   connection-lost       the transfer broke (or anything else)  /5: 4   /9: 52
 *   timeout               no byte for downloadTimeout            /5: 4   /9: 52
 *   invalid-uri           not an absolute URI with a host        /5: 7   /9: 56
 *   unsupported-protocol  no fetcher for its scheme              /5: 9   /9: 56
 *   integrity             signature, digest or size refused      /5: 5   (/9 stores first: 53)
 *   unsupported-package   envelope, device class, version        /5: 6   (/9 stores first: 54)
 */
export type DownloadFailureKind =
  | 'full'
  | 'store-io'
  | 'connection-lost'
  | 'timeout'
  | 'invalid-uri'
  | 'unsupported-protocol'
  | 'integrity'
  | 'unsupported-package';

export interface DownloadFailure {
  readonly kind: DownloadFailureKind;
  readonly phase: 'download' | 'uri' | 'store' | 'verify';
  /** A stable code, e.g. 'download-timeout'; a refusal's is the verifier's step ('signature'). */
  readonly code: string;
  readonly message: string;
}

/** What a download that stops now needs to resume after a restart (the /5 snapshot). */
export interface DownloadProgress {
  readonly delivery: 'push' | 'pull';
  /** Transfer bytes taken when progress was last saved (the offset a resumed pull asks for). */
  readonly received: number;
  readonly etag: string | undefined;
  /** The package stream's envelope so far (pulls only; PackageStream.checkpoint). */
  readonly checkpoint: Uint8Array | undefined;
}

export interface PackageDownloaderOptions {
  readonly store: FirmwareStore;
  readonly verifier: PackageVerifier;
  /** The verifier is the application's: a resumed pull replays the stored bytes through it. */
  readonly replays?: boolean;
  /**
   * /5: the package's verdict comes before the store closes the image, and a refusal fails the
   * download (`onFailed`, kind integrity or unsupported-package). /9 (false): the image is stored
   * (DOWNLOADED) whatever the verdict, and `onDownloaded` gets the verdict to deliver or refuse.
   */
  readonly verifyBeforeStore: boolean;
  readonly clock?: Clock | undefined;
  /** A download with no byte for this long fails (kind timeout), ms (default 120 000). */
  readonly downloadTimeout?: number | undefined;
  readonly pull?: FirmwarePullOptions | undefined;
  readonly coap?: CoapPullEndpoints | undefined;
  /** Fetchers by scheme (`'http:'`), replacing or adding to the built-in ones. */
  readonly fetchers?: ReadonlyMap<string, PullFetcher> | undefined;
  /** The download under way failed; it is no longer the current one. */
  readonly onFailed: (failure: DownloadFailure) => void;
  /** Every byte is in and stored; the download is no longer the current one. */
  readonly onDownloaded: (image: StoredImage, verdict: PackageVerdict) => void;
  /** A pull's progress is worth saving (a new representation began, or SAVE_EVERY more bytes). */
  readonly onProgress?: () => void;
}

/** One push or pull, from its first byte (or the offset it resumes at) to its end. */
export class PackageDownload {
  readonly delivery: 'push' | 'pull';
  readonly uri: string | undefined;
  /** Push through a Block1 sink (as opposed to one whole Write or a pull). */
  readonly streamed: boolean;
  stream: PackageStream;
  /** Transfer bytes taken (the offset of the next block). */
  received = 0;
  etag: string | undefined;
  /** `received` when progress was last saved. */
  savedAt = 0;
  /** Settles once the store is open (and a resumed pull replayed). */
  opened: Promise<unknown> = Promise.resolve();
  readonly abort = new AbortController();
  timer: TimerHandle | undefined;

  constructor(request: DownloadRequest, stream: PackageStream) {
    this.delivery = request.delivery;
    this.uri = request.uri;
    this.streamed = request.streamed;
    this.etag = request.etag;
    this.stream = stream;
  }
}

export interface DownloadRequest {
  readonly delivery: 'push' | 'pull';
  /** The URI a pull fetches. */
  readonly uri?: string | undefined;
  readonly streamed: boolean;
  /** A resumed pull: the image bytes stored to keep, the ETag they came from, the envelope. */
  readonly offset?: number;
  readonly etag?: string | undefined;
  readonly checkpoint?: Uint8Array | undefined;
}

/** The download this call worked for is over (reset, cancelled, failed or restarted meanwhile). */
class StaleDownload extends Error {}

const DEFAULT_DOWNLOAD_TIMEOUT = 120_000;
/** A pull saves its offset at least this often (bytes), for resuming after a restart. */
export const SAVE_EVERY = 64 * 1024;

export class PackageDownloader {
  readonly store: FirmwareStore;
  /** The verifier is the application's (PackageDownloaderOptions.replays). */
  readonly replays: boolean;
  readonly #o: PackageDownloaderOptions;
  readonly #clock: Clock;
  readonly #fetchers: Map<string, PullFetcher>;
  #current: PackageDownload | undefined;

  constructor(options: PackageDownloaderOptions) {
    this.#o = options;
    this.store = options.store;
    this.replays = options.replays ?? false;
    this.#clock = options.clock ?? systemClock;
    this.#fetchers = pullFetchers(this.#clock, options.pull, options.coap, options.fetchers);
  }

  /** The URI schemes a pull can use. */
  schemes(): string[] {
    return [...this.#fetchers.keys()];
  }

  /** A Block1 push is under way. */
  get pushing(): boolean {
    return this.#current?.streamed ?? false;
  }

  /** The current download's progress (undefined: none). */
  progress(): DownloadProgress | undefined {
    const dl = this.#current;
    if (!dl) return undefined;
    return {
      delivery: dl.delivery,
      received: dl.savedAt,
      etag: dl.etag,
      checkpoint: dl.delivery === 'pull' ? dl.stream.checkpoint?.() : undefined,
    };
  }

  /** Starts a download (the caller's State allowed it); it replaces any under way. */
  start(request: DownloadRequest): PackageDownload {
    const dl = new PackageDownload(request, this.#o.verifier.begin());
    const checkpoint = request.checkpoint;
    dl.opened = this.store.open(request.offset ?? 0).then(
      async (kept) => {
        const envelope = kept > 0 && checkpoint ? checkpoint.length : 0;
        if (envelope > 0 || (kept > 0 && this.replays)) await this.#replay(dl, checkpoint, kept);
        dl.received = kept + envelope;
        dl.savedAt = dl.received;
        if (kept === 0) dl.etag = undefined;
      },
      (e: unknown) => this.#failWith(dl, e),
    );
    this.#current = dl;
    this.#arm(dl);
    return dl;
  }

  /** Stops the download under way, if any, reporting nothing (reset, cancel, shutdown). */
  stop(): void {
    const dl = this.#current;
    if (!dl) return;
    this.#current = undefined;
    this.#halt(dl);
  }

  // ---- push ----

  /**
   * The Block1 sink for block `num` of a push: block 0 restarts the push under way (the server
   * starts its transfer over) or asks `begin` to start one, which returns a refusal when the
   * State or the object refuses it; a later block continues the push under way, undefined when
   * there is none (the block-wise layer answers 4.08). A Size1 past the store: 4.13 (RFC 7959
   * §2.9.3) and the download fails (kind full).
   */
  block1Sink(
    num: number,
    size1: number | undefined,
    begin: () => PackageDownload | CoapResponse,
  ): Block1Sink | CoapResponse | undefined {
    const current = this.#current;
    if (num > 0) return current?.streamed ? this.#sinkOf(current) : undefined;
    let dl: PackageDownload;
    if (current?.streamed) {
      this.#halt(current);
      dl = this.start({ delivery: 'push', streamed: true });
    } else {
      const begun = begin();
      if (!(begun instanceof PackageDownload)) return begun;
      dl = begun;
    }
    const maxSize = this.store.maxSize;
    if (size1 !== undefined && size1 > maxSize) {
      this.#fail(dl, 'full', 'store', 'not-enough-storage', `Size1 ${size1} exceeds ${maxSize} bytes`);
      return tooLarge(maxSize);
    }
    return this.#sinkOf(dl);
  }

  /** A whole package in one Write: takes a copy now, stores and verifies it. Never rejects. */
  deliver(dl: PackageDownload, bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice();
    return (async () => {
      await this.#take(dl, copy);
      await this.#finish(dl);
    })().catch(() => undefined);
  }

  #sinkOf(dl: PackageDownload): Block1Sink {
    return {
      get received() {
        return dl.received;
      },
      write: async (chunk) => {
        try {
          await this.#take(dl, chunk);
          return undefined;
        } catch (e) {
          return this.#blockRefusal(e);
        }
      },
      end: async (chunk) => {
        try {
          await this.#take(dl, chunk);
        } catch (e) {
          return this.#blockRefusal(e);
        }
        await this.#finish(dl);
        // The package's verdict is reported through Update Result (and /9 Status Reason), not
        // the code of the last block.
        return { code: CoapCode.CHANGED };
      },
    };
  }

  #blockRefusal(e: unknown): CoapResponse {
    if (e instanceof FirmwareStoreError && e.reason === 'full') return tooLarge(this.store.maxSize);
    if (e instanceof StaleDownload) return refusal('4.08', 'the download is no longer in progress');
    return refusal('5.00', errorText(e));
  }

  // ---- pull ----

  /**
   * Fetches `dl.uri` with the fetcher of its scheme, from the offset the download resumed at.
   * `credentials` (/9/x/14-15) go into an http(s) URI as userinfo (node:http sends them as HTTP
   * Basic). Never rejects for the transfer's sake: its end is reported through the hooks.
   */
  async pull(
    dl: PackageDownload,
    credentials?: { readonly userName: string; readonly password: string },
  ): Promise<void> {
    let url: URL;
    try {
      url = new URL(dl.uri ?? '');
      if (url.host === '') throw new TypeError('no host');
    } catch {
      this.#fail(dl, 'invalid-uri', 'uri', 'invalid-uri', `"${dl.uri}" is not an absolute URI with a host`);
      return;
    }
    const fetcher = this.#fetchers.get(url.protocol);
    if (!fetcher) {
      const known = this.schemes().join(' ');
      const message = `${url.protocol} is not supported (${known})`;
      this.#fail(dl, 'unsupported-protocol', 'uri', 'unsupported-protocol', message);
      return;
    }
    if (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      credentials &&
      credentials.userName !== ''
    ) {
      url.username = encodeURIComponent(credentials.userName);
      url.password = encodeURIComponent(credentials.password);
    }
    await dl.opened;
    if (this.#current !== dl) return;
    const transfer: PullTransfer = {
      offset: dl.received,
      etag: dl.etag,
      signal: dl.abort.signal,
      begin: async (etag, offset) => {
        this.#check(dl);
        if (offset === 0 && dl.received > 0) {
          // Another representation, or a server that cannot continue: start over.
          dl.stream = this.#o.verifier.begin();
          dl.received = 0;
          dl.savedAt = 0;
          await this.store.open(0);
        } else if (offset !== dl.received) throw new PullError(4, `cannot continue at ${offset}`);
        dl.etag = etag;
        this.#o.onProgress?.();
      },
      write: (chunk) => this.#take(dl, chunk),
    };
    try {
      await fetcher(url, transfer);
    } catch (e) {
      if (e instanceof PullError) {
        const kind = pullFailureKind(e);
        this.#fail(dl, kind, 'download', kind, e.message);
      } else this.#failWith(dl, e);
      return;
    }
    await this.#finish(dl);
  }

  // ---- the pipeline ----

  /**
   * A pull resumed after a restart: the saved envelope, then the image bytes stored, through the
   * fresh stream (which checks the header again and hashes the image so far).
   */
  async #replay(dl: PackageDownload, checkpoint: Uint8Array | undefined, kept: number): Promise<void> {
    if (checkpoint && checkpoint.length > 0) dl.stream.push(checkpoint);
    let replayed = 0;
    for await (const chunk of this.store.kept?.() ?? []) {
      const part = chunk.subarray(0, Math.max(0, kept - replayed));
      replayed += part.length;
      dl.stream.push(part);
      if (replayed >= kept) break;
    }
  }

  /** Restarts the no-progress timer: a download silent for downloadTimeout fails. */
  #arm(dl: PackageDownload): void {
    if (dl.timer) this.#clock.clearTimeout(dl.timer);
    const ms = this.#o.downloadTimeout ?? DEFAULT_DOWNLOAD_TIMEOUT;
    dl.timer = this.#clock.setTimeout(
      () => this.#fail(dl, 'timeout', 'download', 'download-timeout', `no data for ${ms} ms`),
      ms,
    );
  }

  #check(dl: PackageDownload): void {
    if (this.#current !== dl || dl.abort.signal.aborted) throw new StaleDownload();
  }

  /** Transfer bytes in: through the package stream, into the store. */
  async #take(dl: PackageDownload, chunk: Uint8Array): Promise<void> {
    this.#check(dl);
    await dl.opened;
    this.#check(dl);
    this.#arm(dl);
    const image = dl.stream.push(chunk);
    try {
      if (image.length > 0) await this.store.write(image);
    } catch (e) {
      this.#failWith(dl, e);
      throw e;
    }
    this.#check(dl);
    dl.received += chunk.length;
    if (dl.delivery === 'pull' && dl.received - dl.savedAt >= SAVE_EVERY) {
      dl.savedAt = dl.received;
      this.#o.onProgress?.();
    }
  }

  /** Every byte is in: the store closes the image, the package stream gives its verdict. */
  async #finish(dl: PackageDownload): Promise<void> {
    try {
      this.#check(dl);
      await dl.opened;
      this.#check(dl);
    } catch {
      return;
    }
    let verdict: PackageVerdict | undefined;
    if (this.#o.verifyBeforeStore) {
      verdict = dl.stream.end();
      if (!verdict.ok) {
        const kind = verdict.updateResult === 5 ? 'integrity' : 'unsupported-package';
        this.#fail(dl, kind, 'verify', verdict.phase, verdict.reason);
        return;
      }
    }
    let image: StoredImage;
    try {
      image = await this.store.close();
      this.#check(dl);
    } catch (e) {
      this.#failWith(dl, e);
      return;
    }
    this.#halt(dl);
    this.#current = undefined;
    this.#o.onDownloaded(image, verdict ?? dl.stream.end());
  }

  /** A thrown error → the failure it means (nothing when the download is already over). */
  #failWith(dl: PackageDownload, e: unknown): void {
    if (e instanceof StaleDownload) return;
    if (e instanceof FirmwareStoreError && e.reason === 'full')
      this.#fail(dl, 'full', 'store', 'not-enough-storage', e.message);
    else if (e instanceof FirmwareStoreError) this.#fail(dl, 'store-io', 'store', 'store-io', e.message);
    else this.#fail(dl, 'connection-lost', 'download', 'connection-lost', errorText(e));
  }

  #fail(
    dl: PackageDownload,
    kind: DownloadFailureKind,
    phase: DownloadFailure['phase'],
    code: string,
    message: string,
  ): void {
    if (this.#current !== dl) return;
    this.#current = undefined;
    this.#halt(dl);
    this.#o.onFailed({ kind, phase, code, message });
  }

  /** Stops the timer and aborts the transfer: later calls for `dl` find it stale. */
  #halt(dl: PackageDownload): void {
    if (dl.timer) this.#clock.clearTimeout(dl.timer);
    dl.timer = undefined;
    dl.abort.abort();
  }
}

/** The fetchers by scheme: http(s) always, CoAP's schemes with endpoints, then the given ones. */
export function pullFetchers(
  clock: Clock,
  pull: FirmwarePullOptions = {},
  coap?: CoapPullEndpoints,
  extra?: ReadonlyMap<string, PullFetcher>,
): Map<string, PullFetcher> {
  const fetchers = new Map<string, PullFetcher>();
  const retry = {
    clock,
    ...(pull.retries === undefined ? {} : { retries: pull.retries }),
    ...(pull.retryDelay === undefined ? {} : { retryDelay: pull.retryDelay }),
  };
  const http: PullFetcher = (uri, transfer) => httpPull(uri, transfer, { ...pull.http, ...retry });
  fetchers.set('http:', http).set('https:', http);
  if (coap) {
    const fetch: PullFetcher = (uri, transfer) =>
      coapPull(uri, transfer, {
        session: coap.open,
        ...retry,
        ...(pull.blockSize === undefined ? {} : { blockSize: pull.blockSize }),
        ...(pull.timeout === undefined ? {} : { timeout: pull.timeout }),
      });
    for (const scheme of coap.schemes) fetchers.set(scheme, fetch);
  }
  for (const [scheme, fetcher] of extra ?? []) fetchers.set(scheme, fetcher);
  return fetchers;
}

/** A fetcher's PullError (its /5 Update Result 4, 7 or 9) as a failure kind. */
export function pullFailureKind(e: PullError): DownloadFailureKind {
  return e.updateResult === 7
    ? 'invalid-uri'
    : e.updateResult === 9
      ? 'unsupported-protocol'
      : 'connection-lost';
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A CoAP error response with a diagnostic payload (`code` as '4.05'). */
export function refusal(code: string, diagnostic: string): CoapResponse {
  const [c, d] = code.split('.').map(Number) as [number, number];
  return { code: (c << 5) | d, payload: new TextEncoder().encode(diagnostic) };
}

function tooLarge(maxSize: number): CoapResponse {
  // RFC 7959 §2.9.3: Size1 tells the server the largest body taken.
  return {
    code: CoapCode.REQUEST_ENTITY_TOO_LARGE,
    options: [{ number: OptionNumber.SIZE1, value: encodeUint(maxSize) }],
  };
}
