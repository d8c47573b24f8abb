/**
 * The /5/0 Firmware Update instance (LWM2M-1.2.md §6): the state machine of firmware-state.ts
 * driven by the server's Writes and Executes, a download (push through /5/0/0, Block1 streamed by
 * the client's block-wise layer, or pull from the URI in /5/0/1) that passes every byte through a
 * PackageStream into a bounded FirmwareStore, and the application's hooks that decide when and how
 * the image is installed (Sw-Mgmt-003: a busy device may defer, never forced).
 */
import { systemClock } from '../../clock.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Block1Sink } from '../../coap/blockwise.js';
import type { CoapResponse } from '../../coap/endpoint.js';
import { CoapCode } from '../../coap/message.js';
import { OptionNumber, encodeUint } from '../../coap/options.js';
import type { PackageFacts, PackageStream, PackageVerifier } from '../../firmware/package-stream.js';
import { Value } from '../../model/data-types.js';
import { LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import type {
  ExecuteArgumentInput,
  InstanceChangeListener,
  InstanceEnabler,
  TreeResult,
} from '../instance.js';
import { treeFail, treeOk } from '../instance.js';
import type { CoapPullSession } from './coap-pull.js';
import { coapPull } from './coap-pull.js';
import { FileFirmwareStore } from './file-firmware-store.js';
import type {
  DownloadFailureResult,
  FirmwareEvent,
  FirmwareStatus,
  FirmwareStateValue,
  UpdateResultValue,
} from './firmware-state.js';
import { FirmwareState, INITIAL_FIRMWARE_STATUS, firmwareTransition } from './firmware-state.js';
import type { FirmwareSnapshot, FirmwareStore, StoredImage } from './firmware-store.js';
import { FirmwareStoreError, MemoryFirmwareStore, snapshotFacts } from './firmware-store.js';
import type { HttpPullOptions } from './http-pull.js';
import { httpPull } from './http-pull.js';
import { plainImageVerifier } from './plain-image-verifier.js';
import type { PullFetcher, PullTransfer } from './pull-transfer.js';
import { PullError, SCHEME_PROTOCOLS } from './pull-transfer.js';

/** What the install decision hook is told. */
export interface UpdateDecisionInfo {
  /** Execute /5/0/2, Automatic Upgrade at Download (/5/0/14), or the end of a deferral. */
  readonly trigger: 'execute' | 'automatic' | 'deferral-over';
  /** /5/0/11: 0 critical, 1 mandatory, 2 optional. */
  readonly severity: number;
  readonly facts: PackageFacts;
  readonly image: StoredImage;
  /** Seconds the update may still be deferred (/5/0/13 minus the time deferred so far); 0: none. */
  readonly deferAllowed: number;
  /** Deferrals so far for this image. */
  readonly deferrals: number;
}

export type UpdateDecision =
  | { readonly action: 'accept' }
  | { readonly action: 'defer'; readonly seconds: number }
  | { readonly action: 'refuse'; readonly reason: string };

export type InstallOutcome =
  | { readonly ok: true; readonly version?: string }
  | { readonly ok: false; readonly updateResult: 5 | 8; readonly reason: string };

/** The device side of firmware update. */
export interface FirmwareApplication {
  /** Where the image goes; default a FileFirmwareStore in FirmwareUpdateOptions.directory. */
  readonly store?: FirmwareStore;
  /** /5/0/8: the protocols to offer, narrowed to those this client can fetch with (default all). */
  readonly protocols?: readonly number[];
  /** /5/0/9: 0 pull, 1 push, 2 both (default). A refused delivery method gets 4.05. */
  readonly deliveryMethod?: 0 | 1 | 2;
  /** Whether the update may start now (default accept). Asked again after a deferral. */
  decide?(info: UpdateDecisionInfo): UpdateDecision | Promise<UpdateDecision>;
  /** Installs the image; a `version` becomes /3/0/3 (else the package's version, if known). */
  install(image: StoredImage, info: { readonly facts: PackageFacts }): Promise<InstallOutcome>;
  /**
   * The client restarted in Updating (an install that reboots the device never returns): how did
   * that install end? E.g. compare the running version with `facts.version`. Undefined, or no
   * hook: it failed (Update Result 8).
   */
  interruptedInstall?(info: {
    readonly facts: PackageFacts;
  }): InstallOutcome | undefined | Promise<InstallOutcome | undefined>;
}

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

/** LwM2mClientOptions.firmware. */
export interface FirmwareUpdateOptions {
  readonly application: FirmwareApplication;
  /** Directory of the default file store (required unless application.store is given). */
  readonly directory?: string;
  /** Package verification (signed manifests); default: plain images pass through. */
  readonly verifier?: PackageVerifier;
  /** A download with no byte for this long fails with Update Result 4, ms (default 120 000). */
  readonly downloadTimeout?: number;
  readonly pull?: FirmwarePullOptions;
  /** /5/0/11 at start (default 1, mandatory). */
  readonly severity?: 0 | 1 | 2;
  /** /5/0/13 at start, seconds (default 86 400; 0 = no deferral). */
  readonly maxDeferPeriod?: number;
  /** /5/0/14 at start (default false). */
  readonly automaticUpgrade?: boolean;
  /**
   * LwM2mClient: report a failed download or update with Send (/5/0/3, /5/0/5 and /33000/0,
   * Petrel Update Diagnostics). Default true.
   */
  readonly reportFailures?: boolean;
}

/** What the client adds when it builds the instance. */
export interface FirmwareInstanceOptions extends FirmwareUpdateOptions {
  readonly clock?: Clock;
  /** Unix seconds, for /5/0/12 (default the system clock). */
  readonly now?: () => number;
  /** CoAP endpoints for pulls, and the schemes (`coap:`, `coap+tcp:`...) they reach. */
  readonly coap?: {
    readonly schemes: readonly string[];
    readonly open: (uri: URL) => Promise<CoapPullSession>;
  };
  /** Fetchers by scheme (`'http:'`), replacing or adding to the built-in ones. */
  readonly fetchers?: ReadonlyMap<string, PullFetcher>;
  /** A successful install: the new /3/0/3 (undefined when neither the outcome nor the package said). */
  readonly onInstalled?: (version: string | undefined) => void;
  readonly onError?: (error: unknown) => void;
}

/** Why the last download or update failed (a later step exposes it in a Petrel object). */
export interface FirmwareError {
  readonly phase: 'download' | 'uri' | 'store' | 'verify' | 'decide' | 'install' | 'restart';
  /** A stable code, e.g. 'download-timeout', 'integrity', 'not-enough-flash'. */
  readonly code: string;
  readonly updateResult: UpdateResultValue;
  readonly message: string;
  /** Unix seconds. */
  readonly at: number;
}

/** Told when the diagnostics change: with the failure when one was just recorded. */
export type FirmwareDiagnosticsListener = (failure: FirmwareError | undefined) => void;

const ERROR_PHASES: readonly string[] = [
  'download',
  'uri',
  'store',
  'verify',
  'decide',
  'install',
  'restart',
];

interface Download {
  readonly delivery: 'push' | 'pull';
  readonly uri: string | undefined;
  /** Push through a Block1 sink (as opposed to one whole Write). */
  readonly streamed: boolean;
  stream: PackageStream;
  /** Transfer bytes taken (the offset of the next block). */
  received: number;
  etag: string | undefined;
  savedAt: number;
  opened: Promise<unknown>;
  readonly abort: AbortController;
  timer: TimerHandle | undefined;
}

/** The download this call worked for is over (reset, cancelled, failed meanwhile). */
class StaleDownload extends Error {}

const PATHS = (ids: readonly number[]) => ids.map((rid) => LwM2mPath.of(5, 0, rid));
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const DEFAULT_DOWNLOAD_TIMEOUT = 120_000;
/** A pull saves its offset at least this often (bytes), for resuming after a restart. */
const SAVE_EVERY = 64 * 1024;

const isCount = (n: unknown): boolean => n === undefined || (Number.isSafeInteger(n) && (n as number) >= 0);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The saved failure, when it has the shape of a FirmwareError. */
function savedError(e: FirmwareSnapshot['lastError']): FirmwareError | undefined {
  if (
    e === undefined ||
    !ERROR_PHASES.includes(e.phase) ||
    typeof e.code !== 'string' ||
    typeof e.message !== 'string' ||
    !Number.isInteger(e.updateResult) ||
    e.updateResult < 0 ||
    e.updateResult > 11 ||
    !Number.isFinite(e.at)
  )
    return undefined;
  return {
    ...e,
    phase: e.phase as FirmwareError['phase'],
    updateResult: e.updateResult as UpdateResultValue,
  };
}

function validSnapshot(s: FirmwareSnapshot | undefined): s is FirmwareSnapshot {
  const st = s?.status;
  const settings = s?.settings;
  return (
    (s?.checkpoint === undefined ||
      (typeof s.checkpoint === 'string' && s.checkpoint.length <= 24_000 && BASE64.test(s.checkpoint))) &&
    (settings === undefined ||
      ([undefined, 0, 1, 2].includes(settings.severity) &&
        isCount(settings.maxDeferPeriod) &&
        (settings.automaticUpgrade === undefined || typeof settings.automaticUpgrade === 'boolean'))) &&
    isCount(s?.attempts) &&
    isCount(s?.failures) &&
    st !== undefined &&
    [0, 1, 2, 3].includes(st.state) &&
    Number.isInteger(st.result) &&
    st.result >= 0 &&
    st.result <= 11 &&
    (st.lastStateChange === undefined || Number.isFinite(st.lastStateChange)) &&
    (s?.received === undefined || (Number.isSafeInteger(s.received) && s.received >= 0)) &&
    (s?.uri === undefined || typeof s.uri === 'string') &&
    (s?.etag === undefined || typeof s.etag === 'string') &&
    (s?.facts?.name === undefined || typeof s.facts.name === 'string') &&
    (s?.facts?.version === undefined || typeof s.facts.version === 'string')
  );
}

export class FirmwareUpdateInstance implements InstanceEnabler {
  readonly objectId = 5;
  readonly instanceId = 0;
  readonly store: FirmwareStore;
  readonly #o: FirmwareInstanceOptions;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #verifier: PackageVerifier;
  /** A verifier of the application's: a resumed pull replays the stored bytes through it. */
  readonly #replays: boolean;
  readonly #fetchers = new Map<string, PullFetcher>();
  readonly #listeners = new Set<InstanceChangeListener>();
  #status: FirmwareStatus = INITIAL_FIRMWARE_STATUS;
  #uri = '';
  #severity: number;
  #maxDeferPeriod: number;
  #automatic: boolean;
  #download: Download | undefined;
  #image: StoredImage | undefined;
  #facts: PackageFacts = {};
  #deciding = false;
  #deferredSince: number | undefined;
  #deferrals = 0;
  #deferTimer: TimerHandle | undefined;
  #saving: Promise<void> = Promise.resolve();
  #lastError: FirmwareError | undefined;
  #attempts = 0;
  #failures = 0;
  readonly #diagnostics = new Set<FirmwareDiagnosticsListener>();
  /** Settles when the work started by the last event (download, update) has settled (tests). */
  #work: Promise<void> = Promise.resolve();

  constructor(options: FirmwareInstanceOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#verifier = options.verifier ?? plainImageVerifier;
    this.#replays = options.verifier !== undefined;
    this.#severity = options.severity ?? 1;
    this.#maxDeferPeriod = options.maxDeferPeriod ?? 86_400;
    this.#automatic = options.automaticUpgrade ?? false;
    const store = options.application.store;
    if (store) this.store = store;
    else if (options.directory) this.store = new FileFirmwareStore({ directory: options.directory });
    else this.store = new MemoryFirmwareStore();
    const pull = options.pull ?? {};
    const retry = {
      clock: this.#clock,
      ...(pull.retries === undefined ? {} : { retries: pull.retries }),
      ...(pull.retryDelay === undefined ? {} : { retryDelay: pull.retryDelay }),
    };
    const http: PullFetcher = (uri, transfer) => httpPull(uri, transfer, { ...pull.http, ...retry });
    this.#fetchers.set('http:', http).set('https:', http);
    const coap = options.coap;
    if (coap) {
      const fetch: PullFetcher = (uri, transfer) =>
        coapPull(uri, transfer, {
          session: coap.open,
          ...retry,
          ...(pull.blockSize === undefined ? {} : { blockSize: pull.blockSize }),
          ...(pull.timeout === undefined ? {} : { timeout: pull.timeout }),
        });
      for (const scheme of coap.schemes) this.#fetchers.set(scheme, fetch);
    }
    for (const [scheme, fetcher] of options.fetchers ?? []) this.#fetchers.set(scheme, fetcher);
  }

  // ---- what the application and tests see ----

  get status(): FirmwareStatus {
    return this.#status;
  }

  get state(): FirmwareStateValue {
    return this.#status.state;
  }

  get updateResult(): UpdateResultValue {
    return this.#status.result;
  }

  /** Why the last download or update failed, until the next one starts. */
  get lastError(): FirmwareError | undefined {
    return this.#lastError;
  }

  /** Downloads and updates started since the last successful update (object 33000). */
  get attempts(): number {
    return this.#attempts;
  }

  /** Of those, the ones that failed. */
  get failures(): number {
    return this.#failures;
  }

  /** Subscribes to changes of lastError and the counters (the diagnostics object, Send). */
  onDiagnostics(listener: FirmwareDiagnosticsListener): () => void {
    this.#diagnostics.add(listener);
    return () => this.#diagnostics.delete(listener);
  }

  /** The facts of the image in hand (verified manifest, else just its size). */
  get facts(): PackageFacts {
    return this.#facts;
  }

  /** /5/0/8: what the server may use in /5/0/1 (only protocols a fetcher exists for). */
  protocols(): number[] {
    const supported = new Set<number>();
    for (const scheme of this.#fetchers.keys()) {
      const p = SCHEME_PROTOCOLS.get(scheme);
      if (p !== undefined) supported.add(p);
    }
    const wanted = this.#o.application.protocols;
    return [...supported].filter((p) => wanted === undefined || wanted.includes(p)).sort((a, b) => a - b);
  }

  /** Resolves once the download or update under way has settled (tests, shutdown). */
  async settled(): Promise<void> {
    for (let previous; previous !== this.#work;) {
      previous = this.#work;
      await previous;
    }
    await this.#saving;
  }

  /**
   * Restores the saved state (client start): a Downloaded image stays Downloaded; a pull that
   * was under way resumes from the saved offset (plain images; otherwise it fails with 4); a push
   * cannot resume (the server's transfer is gone: 4); an interrupted install fails with 8.
   */
  async start(): Promise<void> {
    const saved = await this.store.loadState().catch((e: unknown) => {
      this.#o.onError?.(e);
      return undefined;
    });
    if (!validSnapshot(saved)) return;
    this.#status = saved.status;
    this.#uri = saved.uri ?? '';
    this.#facts = { ...saved.facts };
    this.#severity = saved.settings?.severity ?? this.#severity;
    this.#maxDeferPeriod = saved.settings?.maxDeferPeriod ?? this.#maxDeferPeriod;
    this.#automatic = saved.settings?.automaticUpgrade ?? this.#automatic;
    this.#lastError = savedError(saved.lastError);
    this.#attempts = saved.attempts ?? 0;
    this.#failures = saved.failures ?? 0;
    this.#diagnosticsChanged(undefined);
    const image = await this.store.image().catch(() => undefined);
    switch (saved.status.state) {
      case FirmwareState.Downloaded:
        if (image) this.#image = image;
        else this.#restore(FirmwareState.Idle, 5, 'the downloaded image is gone');
        return;
      case FirmwareState.Updating: {
        // The install did not report back: it failed, or it replaced this software and the
        // device restarted into the new one. The application knows which.
        if (image) this.#image = image;
        const outcome = await Promise.resolve(
          this.#o.application.interruptedInstall?.({ facts: this.#facts }),
        ).catch((e: unknown) => ({ ok: false as const, updateResult: 8 as const, reason: errorText(e) }));
        if (outcome) {
          this.#installed(outcome);
          return;
        }
        this.#restore(
          image ? FirmwareState.Downloaded : FirmwareState.Idle,
          8,
          'the install was interrupted by a restart',
        );
        return;
      }
      case FirmwareState.Downloading:
        if (saved.delivery === 'pull' && saved.uri) {
          // The image bytes stored follow the envelope the checkpoint holds; without a checkpoint
          // (the stream had not reached the image) the pull starts over.
          const checkpoint =
            saved.checkpoint !== undefined
              ? new Uint8Array(Buffer.from(saved.checkpoint, 'base64'))
              : this.#replays
                ? undefined
                : new Uint8Array(0);
          const received = saved.received ?? 0;
          const resume =
            checkpoint !== undefined && received >= checkpoint.length && (!this.#replays || this.store.kept)
              ? { checkpoint, offset: received - checkpoint.length }
              : undefined;
          const dl = this.#newDownload(
            'pull',
            saved.uri,
            false,
            resume?.offset ?? 0,
            saved.etag,
            resume?.checkpoint,
          );
          this.#run(this.#pull(dl));
          return;
        }
        this.#restore(FirmwareState.Idle, 4, 'the download was interrupted by a restart');
        return;
      default:
        return;
    }
  }

  /** Stops downloads and timers without changing the saved state (a later start resumes). */
  async close(): Promise<void> {
    const dl = this.#download;
    if (dl) {
      this.#download = undefined;
      this.#stopDownload(dl);
    }
    if (this.#deferTimer) this.#clock.clearTimeout(this.#deferTimer);
    await this.#saving;
  }

  /** A state after a restart that no event of the machine describes (the process was gone). */
  #restore(state: FirmwareStateValue, result: UpdateResultValue, message: string): void {
    this.#error('restart', 'restart', result, message);
    if (state === FirmwareState.Idle) {
      this.#image = undefined;
      this.#facts = {};
      this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
    }
    this.#status = { state, result, lastStateChange: this.#now() };
    this.#persist();
  }

  // ---- InstanceEnabler ----

  read(): LwM2mRecord[] {
    const at = (rid: number, value: LwM2mRecord['value']): LwM2mRecord => ({
      path: LwM2mPath.of(5, 0, rid),
      value,
    });
    const out: LwM2mRecord[] = [
      at(1, Value.string(this.#uri)),
      at(3, Value.integer(this.#status.state)),
      at(5, Value.integer(this.#status.result)),
    ];
    if (this.#facts.name !== undefined) out.push(at(6, Value.string(this.#facts.name)));
    if (this.#facts.version !== undefined) out.push(at(7, Value.string(this.#facts.version)));
    const protocols = this.protocols();
    if (protocols.length === 0) out.push({ path: LwM2mPath.of(5, 0, 8) });
    for (const [i, p] of protocols.entries())
      out.push({ path: LwM2mPath.of(5, 0, 8, i), value: Value.integer(p) });
    out.push(at(9, Value.integer(this.#o.application.deliveryMethod ?? 2)));
    out.push(at(11, Value.integer(this.#severity)));
    if (this.#status.lastStateChange !== undefined)
      out.push(at(12, Value.time(this.#status.lastStateChange)));
    out.push(at(13, Value.unsigned(this.#maxDeferPeriod)));
    out.push(at(14, Value.boolean(this.#automatic)));
    return out;
  }

  resourceIds(): number[] {
    const ids = [0, 1, 2, 3, 5, 8, 9, 10, 11, 13, 14];
    if (this.#facts.name !== undefined) ids.push(6);
    if (this.#facts.version !== undefined) ids.push(7);
    if (this.#status.lastStateChange !== undefined) ids.push(12);
    return ids.sort((a, b) => a - b);
  }

  onChange(listener: InstanceChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  write(records: readonly LwM2mRecord[], _mode?: 'replace' | 'update'): TreeResult<void> {
    for (const r of records) {
      const rid = r.path.resourceId;
      const v = r.value;
      if (v === undefined || rid === undefined) continue;
      let result: TreeResult<void> = treeOk();
      if (rid === 0 && v.type === 'opaque') result = this.#writePackage(v.value);
      else if (rid === 1 && v.type === 'string') result = this.#writeUri(v.value);
      else if (rid === 11 && v.type === 'integer') this.#severity = Number(v.value);
      else if (rid === 13 && (v.type === 'unsigned' || v.type === 'integer'))
        this.#maxDeferPeriod = Number(v.value);
      else if (rid === 14 && v.type === 'boolean') this.#automatic = v.value;
      if (!result.ok) return result;
      if (rid === 11 || rid === 13 || rid === 14) this.#persist();
    }
    return treeOk();
  }

  execute(resourceId: number, _args: readonly ExecuteArgumentInput[]): TreeResult<void> {
    if (resourceId === 2) {
      const t = firmwareTransition(this.#status, { type: 'update' }, this.#now());
      if (!t.ok) return treeFail(t.code, t.message);
      this.#run(this.#beginUpdate('execute'));
      return treeOk();
    }
    if (resourceId === 10) {
      const refused = this.#abandon({ type: 'cancel' });
      return refused ? treeFail(refused.code, refused.message) : treeOk();
    }
    return treeFail('4.05', `/5/0/${resourceId} is not executable`);
  }

  // ---- push ----

  /**
   * The Block1 sink of a push (the client's block-wise layer asks for block `num` of a Write to
   * /5/0/0, access already checked): block 0 starts a download (or restarts the push under way),
   * a later block continues the push under way; undefined when there is none (the layer answers
   * 4.08), a response when the State refuses it.
   */
  block1Sink(num: number, size1: number | undefined): Block1Sink | CoapResponse | undefined {
    const current = this.#download;
    if (num > 0) return current?.streamed ? this.#sinkOf(current) : undefined;
    if (!this.#pushAllowed()) return refusal('4.05', 'this device takes no push (/5/0/9)');
    let dl: Download;
    if (current?.streamed) {
      // The server starts its transfer over: same download, from byte 0.
      this.#stopDownload(current);
      dl = this.#newDownload('push', undefined, true);
    } else {
      const t = firmwareTransition(this.#status, { type: 'download', delivery: 'push' }, this.#now());
      if (!t.ok) return refusal(t.code, t.message);
      this.#uri = '';
      dl = this.#beginDownload('push', undefined, true);
    }
    if (size1 !== undefined && size1 > this.store.maxSize) {
      this.#failDownload(
        dl,
        2,
        'store',
        'not-enough-flash',
        `Size1 ${size1} exceeds ${this.store.maxSize} bytes`,
      );
      return tooLarge(this.store.maxSize);
    }
    return this.#sinkOf(dl);
  }

  #sinkOf(dl: Download): Block1Sink {
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
        // Errors after this point are reported only through Update Result (object 1.2).
        return { code: CoapCode.CHANGED };
      },
    };
  }

  #blockRefusal(e: unknown): CoapResponse {
    if (e instanceof FirmwareStoreError && e.reason === 'full') return tooLarge(this.store.maxSize);
    if (e instanceof StaleDownload) return refusal('4.08', 'the download is no longer in progress');
    return refusal('5.00', errorText(e));
  }

  #pushAllowed(): boolean {
    return (this.#o.application.deliveryMethod ?? 2) !== 0;
  }

  /** A whole package in one Write, or the single NUL (or empty value) that resets. */
  #writePackage(bytes: Uint8Array): TreeResult<void> {
    if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return this.#reset();
    if (!this.#pushAllowed()) return treeFail('4.05', 'this device takes no push (/5/0/9)');
    if (this.#download?.streamed) return treeFail('4.05', 'a block-wise push is in progress');
    const t = firmwareTransition(this.#status, { type: 'download', delivery: 'push' }, this.#now());
    if (!t.ok) return treeFail(t.code, t.message);
    this.#uri = '';
    const dl = this.#beginDownload('push', undefined, false);
    const copy = bytes.slice();
    this.#run(
      (async () => {
        await this.#take(dl, copy);
        await this.#finish(dl);
      })().catch(() => undefined),
    );
    return treeOk();
  }

  // ---- pull ----

  #writeUri(uri: string): TreeResult<void> {
    if (uri === '') return this.#reset();
    if ((this.#o.application.deliveryMethod ?? 2) === 1)
      return treeFail('4.05', 'this device takes no pull (/5/0/9)');
    const t = firmwareTransition(this.#status, { type: 'download', delivery: 'pull' }, this.#now());
    if (!t.ok) return treeFail(t.code, t.message);
    this.#uri = uri;
    const dl = this.#beginDownload('pull', uri, false);
    this.#run(this.#pull(dl));
    return treeOk();
  }

  async #pull(dl: Download): Promise<void> {
    let url: URL;
    try {
      url = new URL(dl.uri ?? '');
      if (url.host === '') throw new TypeError('no host');
    } catch {
      this.#failDownload(dl, 7, 'uri', 'invalid-uri', `"${dl.uri}" is not an absolute URI with a host`);
      return;
    }
    const fetcher = this.#fetchers.get(url.protocol);
    if (!fetcher) {
      const known = [...this.#fetchers.keys()].join(' ');
      this.#failDownload(dl, 9, 'uri', 'unsupported-protocol', `${url.protocol} is not supported (${known})`);
      return;
    }
    await dl.opened;
    if (this.#download !== dl) return;
    const transfer: PullTransfer = {
      offset: dl.received,
      etag: dl.etag,
      signal: dl.abort.signal,
      begin: async (etag, offset) => {
        this.#check(dl);
        if (offset === 0 && dl.received > 0) {
          dl.stream = this.#verifier.begin();
          dl.received = 0;
          dl.savedAt = 0;
          await this.store.open(0);
        } else if (offset !== dl.received) throw new PullError(4, `cannot continue at ${offset}`);
        dl.etag = etag;
        this.#persist();
      },
      write: (chunk) => this.#take(dl, chunk),
    };
    try {
      await fetcher(url, transfer);
    } catch (e) {
      if (e instanceof PullError) this.#failDownload(dl, e.updateResult, 'download', pullCode(e), e.message);
      else this.#failWith(dl, e);
      return;
    }
    await this.#finish(dl);
  }

  // ---- the download pipeline ----

  #beginDownload(delivery: 'push' | 'pull', uri: string | undefined, streamed: boolean): Download {
    this.#lastError = undefined;
    this.#attempts++;
    this.#diagnosticsChanged(undefined);
    this.#image = undefined;
    this.#facts = {};
    this.#apply({ type: 'download', delivery });
    return this.#newDownload(delivery, uri, streamed);
  }

  #newDownload(
    delivery: 'push' | 'pull',
    uri: string | undefined,
    streamed: boolean,
    offset = 0,
    etag?: string,
    checkpoint?: Uint8Array,
  ): Download {
    const dl: Download = {
      delivery,
      uri,
      streamed,
      stream: this.#verifier.begin(),
      received: 0,
      etag,
      savedAt: 0,
      opened: Promise.resolve(),
      abort: new AbortController(),
      timer: undefined,
    };
    dl.opened = this.store.open(offset).then(
      async (kept) => {
        const envelope = kept > 0 && checkpoint ? checkpoint.length : 0;
        if (envelope > 0 || (kept > 0 && this.#replays)) await this.#replay(dl, checkpoint, kept);
        dl.received = kept + envelope;
        dl.savedAt = dl.received;
        if (kept === 0) dl.etag = undefined;
      },
      (e: unknown) => this.#failWith(dl, e),
    );
    this.#download = dl;
    this.#arm(dl);
    return dl;
  }

  /**
   * A pull resumed after a restart: the saved envelope, then the image bytes stored, through the
   * fresh stream (which checks the header again and hashes the image so far).
   */
  async #replay(dl: Download, checkpoint: Uint8Array | undefined, kept: number): Promise<void> {
    if (checkpoint && checkpoint.length > 0) dl.stream.push(checkpoint);
    let replayed = 0;
    for await (const chunk of this.store.kept?.() ?? []) {
      const part = chunk.subarray(0, Math.max(0, kept - replayed));
      replayed += part.length;
      dl.stream.push(part);
      if (replayed >= kept) break;
    }
  }

  /** Restarts the no-progress timer: a download silent for downloadTimeout fails with 4. */
  #arm(dl: Download): void {
    if (dl.timer) this.#clock.clearTimeout(dl.timer);
    const ms = this.#o.downloadTimeout ?? DEFAULT_DOWNLOAD_TIMEOUT;
    dl.timer = this.#clock.setTimeout(
      () => this.#failDownload(dl, 4, 'download', 'download-timeout', `no data for ${ms} ms`),
      ms,
    );
  }

  #check(dl: Download): void {
    if (this.#download !== dl || dl.abort.signal.aborted) throw new StaleDownload();
  }

  /** Transfer bytes in: through the package stream, into the store. */
  async #take(dl: Download, chunk: Uint8Array): Promise<void> {
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
      this.#persist();
    }
  }

  /** All bytes are in: Downloaded only once the package stream accepts them. */
  async #finish(dl: Download): Promise<void> {
    try {
      this.#check(dl);
      await dl.opened;
      this.#check(dl);
    } catch {
      return;
    }
    const verdict = dl.stream.end();
    if (!verdict.ok) {
      this.#failDownload(dl, verdict.updateResult, 'verify', verdict.phase, verdict.reason);
      return;
    }
    let image: StoredImage;
    try {
      image = await this.store.close();
      this.#check(dl);
    } catch (e) {
      this.#failWith(dl, e);
      return;
    }
    this.#stopDownload(dl);
    this.#download = undefined;
    this.#image = image;
    this.#facts = verdict.facts;
    this.#apply({ type: 'download-complete' }, [6, 7]);
    if (this.#automatic) this.#run(this.#beginUpdate('automatic'));
  }

  #failWith(dl: Download, e: unknown): void {
    if (e instanceof StaleDownload) return;
    if (e instanceof FirmwareStoreError && e.reason === 'full')
      this.#failDownload(dl, 2, 'store', 'not-enough-flash', e.message);
    else if (e instanceof FirmwareStoreError) this.#failDownload(dl, 2, 'store', 'store-io', e.message);
    else this.#failDownload(dl, 4, 'download', 'connection-lost', errorText(e));
  }

  #failDownload(
    dl: Download,
    result: DownloadFailureResult,
    phase: FirmwareError['phase'],
    code: string,
    message: string,
  ): void {
    if (this.#download !== dl) return;
    this.#download = undefined;
    this.#stopDownload(dl);
    this.#error(phase, code, result, message);
    this.#discard();
    this.#apply({ type: 'download-failed', result });
  }

  #stopDownload(dl: Download): void {
    if (dl.timer) this.#clock.clearTimeout(dl.timer);
    dl.timer = undefined;
    dl.abort.abort();
  }

  #discard(): void {
    this.#image = undefined;
    this.#facts = {};
    this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
  }

  // ---- reset, cancel ----

  #reset(): TreeResult<void> {
    const refused = this.#abandon({ type: 'reset' });
    return refused ? treeFail(refused.code, refused.message) : treeOk();
  }

  /** Reset or Cancel: drops the download or image in hand, unless the State refuses. */
  #abandon(event: { type: 'reset' } | { type: 'cancel' }): { code: '4.05'; message: string } | undefined {
    const t = firmwareTransition(this.#status, event, this.#now());
    if (!t.ok) return t;
    const dl = this.#download;
    if (dl) {
      this.#download = undefined;
      this.#stopDownload(dl);
    }
    if (this.#deferTimer) this.#clock.clearTimeout(this.#deferTimer);
    this.#deferTimer = undefined;
    this.#deferredSince = undefined;
    this.#deferrals = 0;
    if (event.type === 'reset' && this.#lastError) {
      this.#lastError = undefined;
      this.#diagnosticsChanged(undefined);
    }
    this.#uri = '';
    this.#discard();
    this.#apply(event, [1, 6, 7]);
    return undefined;
  }

  // ---- update ----

  async #beginUpdate(trigger: UpdateDecisionInfo['trigger']): Promise<void> {
    if (this.#deciding) return;
    const image = this.#image;
    if (!image || this.#status.state !== FirmwareState.Downloaded) return;
    if (this.#deferTimer) this.#clock.clearTimeout(this.#deferTimer);
    this.#deferTimer = undefined;
    this.#deciding = true;
    try {
      const elapsed =
        this.#deferredSince === undefined ? 0 : (this.#clock.now() - this.#deferredSince) / 1000;
      const deferAllowed = Math.max(0, Math.floor(this.#maxDeferPeriod - elapsed));
      let decision: UpdateDecision;
      try {
        decision = (await this.#o.application.decide?.({
          trigger,
          severity: this.#severity,
          facts: this.#facts,
          image,
          deferAllowed,
          deferrals: this.#deferrals,
        })) ?? { action: 'accept' };
      } catch (e) {
        decision = { action: 'refuse', reason: `the decision failed: ${errorText(e)}` };
      }
      // A reset or Cancel while the application was deciding: nothing left to update.
      if (this.#image !== image || this.#status.state !== FirmwareState.Downloaded) return;
      if (decision.action === 'defer') {
        if (deferAllowed <= 0) {
          // Never forced (Sw-Mgmt-003), but never deferred past /5/0/13 either: the update fails.
          this.#error(
            'decide',
            'deferral-not-allowed',
            8,
            `deferral past the Maximum Defer Period (${this.#maxDeferPeriod} s)`,
          );
          this.#apply({ type: 'refuse' });
          return;
        }
        const asked = Number.isFinite(decision.seconds) ? Math.ceil(decision.seconds) : deferAllowed;
        const seconds = Math.min(Math.max(1, asked), deferAllowed);
        this.#deferredSince ??= this.#clock.now();
        this.#deferrals++;
        this.#apply({ type: 'defer' });
        this.#deferTimer = this.#clock.setTimeout(() => {
          this.#deferTimer = undefined;
          this.#run(this.#beginUpdate('deferral-over'));
        }, seconds * 1000);
        return;
      }
      if (decision.action === 'refuse') {
        this.#error('decide', 'refused', 8, decision.reason);
        this.#apply({ type: 'refuse' });
        return;
      }
      await this.#install(image);
    } finally {
      this.#deciding = false;
    }
  }

  async #install(image: StoredImage): Promise<void> {
    this.#deferredSince = undefined;
    this.#deferrals = 0;
    this.#lastError = undefined;
    this.#attempts++;
    this.#diagnosticsChanged(undefined);
    this.#apply({ type: 'install' });
    const facts = this.#facts;
    let outcome: InstallOutcome;
    try {
      outcome = await this.#o.application.install(image, { facts });
    } catch (e) {
      outcome = { ok: false, updateResult: 8, reason: errorText(e) };
    }
    this.#installed(outcome);
  }

  /** Updating → Idle/1, Downloaded/8 or Idle/5 as the install ended. */
  #installed(outcome: InstallOutcome): void {
    const facts = this.#facts;
    if (outcome.ok) {
      // /3/0/3 shows the new version before State says Idle/1.
      this.#o.onInstalled?.(outcome.version ?? facts.version);
      this.#attempts = 0;
      this.#failures = 0;
      this.#diagnosticsChanged(undefined);
      this.#discard();
      this.#apply({ type: 'update-succeeded' }, [6, 7]);
      return;
    }
    const result = outcome.updateResult === 5 ? 5 : 8;
    // A failure that keeps Downloaded needs the image; without it (lost in a restart): Idle.
    if (result === 8 && !this.#image) {
      this.#restore(FirmwareState.Idle, 8, `${outcome.reason} (the image is gone)`);
      return;
    }
    this.#error('install', result === 5 ? 'integrity' : 'install-failed', result, outcome.reason);
    if (result === 5) this.#discard();
    this.#apply({ type: 'update-failed', result }, [6, 7]);
  }

  // ---- state ----

  #error(
    phase: FirmwareError['phase'],
    code: string,
    updateResult: UpdateResultValue,
    message: string,
  ): void {
    const failure = { phase, code, updateResult, message, at: this.#now() };
    this.#lastError = failure;
    this.#failures++;
    this.#diagnosticsChanged(failure);
  }

  #diagnosticsChanged(failure: FirmwareError | undefined): void {
    for (const listener of [...this.#diagnostics]) {
      try {
        listener(failure);
      } catch (e) {
        this.#o.onError?.(e);
      }
    }
  }

  /** Applies an event the caller checked; persists and reports the change. */
  #apply(event: FirmwareEvent, also: readonly number[] = []): void {
    const t = firmwareTransition(this.#status, event, this.#now());
    if (!t.ok) {
      this.#o.onError?.(new Error(`firmware state machine: ${t.message}`));
      return;
    }
    this.#status = t.status;
    this.#persist();
    const paths = PATHS([1, 3, 5, 12, ...also]);
    for (const listener of [...this.#listeners]) listener(paths);
  }

  #persist(): void {
    const dl = this.#download;
    const snapshot: FirmwareSnapshot = {
      status: this.#status,
      ...(this.#uri ? { uri: this.#uri } : {}),
      ...(dl ? this.#downloadSnapshot(dl) : {}),
      ...(snapshotFacts(this.#facts) ? { facts: snapshotFacts(this.#facts) } : {}),
      settings: {
        severity: this.#severity,
        maxDeferPeriod: this.#maxDeferPeriod,
        automaticUpgrade: this.#automatic,
      },
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
      attempts: this.#attempts,
      failures: this.#failures,
    };
    this.#saving = this.#saving
      .then(() => this.store.saveState(snapshot))
      .catch((e: unknown) => this.#o.onError?.(e));
  }

  #downloadSnapshot(dl: Download): Partial<FirmwareSnapshot> {
    const checkpoint = dl.delivery === 'pull' ? dl.stream.checkpoint?.() : undefined;
    return {
      delivery: dl.delivery,
      received: dl.savedAt,
      ...(dl.etag === undefined ? {} : { etag: dl.etag }),
      ...(checkpoint === undefined ? {} : { checkpoint: Buffer.from(checkpoint).toString('base64') }),
    };
  }

  #run(work: Promise<void>): void {
    const all = Promise.all([this.#work, work]).then(() => undefined);
    this.#work = all.catch((e: unknown) => this.#o.onError?.(e));
  }
}

function refusal(code: string, diagnostic: string): CoapResponse {
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

function pullCode(e: PullError): string {
  return e.updateResult === 7
    ? 'invalid-uri'
    : e.updateResult === 9
      ? 'unsupported-protocol'
      : 'connection-lost';
}
