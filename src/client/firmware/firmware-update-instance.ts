/**
 * The /5/0 Firmware Update instance (LWM2M-1.2.md §6): the state machine of firmware-state.ts
 * driven by the server's Writes and Executes, a download (push through /5/0/0, Block1 streamed by
 * the client's block-wise layer, or pull from the URI in /5/0/1) that passes every byte through a
 * PackageStream into a bounded FirmwareStore (the PackageDownloader of package-download.ts, shared
 * with /9), and the application's hooks that decide when and how the image is installed
 * (Sw-Mgmt-003: a busy device may defer, never forced).
 */
import { systemClock } from '../../clock.js';
import type { Clock, TimerHandle } from '../../clock.js';
import type { Block1Sink } from '../../coap/blockwise.js';
import type { CoapResponse } from '../../coap/endpoint.js';
import type { PackageFacts, PackageVerdict, PackageVerifier } from '../../firmware/package-stream.js';
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
import type {
  CoapPullEndpoints,
  DownloadFailure,
  DownloadFailureKind,
  FirmwarePullOptions,
  PackageDownload,
} from '../package/package-download.js';
import { PackageDownloader, errorText, refusal } from '../package/package-download.js';
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
import { MemoryFirmwareStore, snapshotFacts } from './firmware-store.js';
import { plainImageVerifier } from './plain-image-verifier.js';
import type { PullFetcher } from './pull-transfer.js';
import { SCHEME_PROTOCOLS } from './pull-transfer.js';

export type { FirmwarePullOptions } from '../package/package-download.js';

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
  readonly coap?: CoapPullEndpoints;
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

/** How a download ended, in /5/0/5 Update Result terms (a refused package: the verifier's 5 or 6). */
const DOWNLOAD_RESULTS: Readonly<Record<DownloadFailureKind, DownloadFailureResult>> = {
  full: 2,
  'store-io': 2,
  'connection-lost': 4,
  timeout: 4,
  'invalid-uri': 7,
  'unsupported-protocol': 9,
  integrity: 5,
  'unsupported-package': 6,
};

const PATHS = (ids: readonly number[]) => ids.map((rid) => LwM2mPath.of(5, 0, rid));

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
  readonly #downloads: PackageDownloader;
  readonly #listeners = new Set<InstanceChangeListener>();
  #status: FirmwareStatus = INITIAL_FIRMWARE_STATUS;
  #uri = '';
  #severity: number;
  #maxDeferPeriod: number;
  #automatic: boolean;
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
    this.#severity = options.severity ?? 1;
    this.#maxDeferPeriod = options.maxDeferPeriod ?? 86_400;
    this.#automatic = options.automaticUpgrade ?? false;
    const store = options.application.store;
    if (store) this.store = store;
    else if (options.directory) this.store = new FileFirmwareStore({ directory: options.directory });
    else this.store = new MemoryFirmwareStore();
    this.#downloads = new PackageDownloader({
      store: this.store,
      verifier: options.verifier ?? plainImageVerifier,
      replays: options.verifier !== undefined,
      // Downloaded only once the package stream accepts every byte: a refusal fails the download.
      verifyBeforeStore: true,
      clock: this.#clock,
      downloadTimeout: options.downloadTimeout,
      pull: options.pull,
      coap: options.coap,
      fetchers: options.fetchers,
      onFailed: (failure) => this.#downloadFailed(failure),
      onDownloaded: (image, verdict) => this.#downloaded(image, verdict),
      onProgress: () => this.#persist(),
    });
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
    for (const scheme of this.#downloads.schemes()) {
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
              : this.#downloads.replays
                ? undefined
                : new Uint8Array(0);
          const received = saved.received ?? 0;
          const resume =
            checkpoint !== undefined &&
            received >= checkpoint.length &&
            (!this.#downloads.replays || this.store.kept)
              ? { checkpoint, offset: received - checkpoint.length }
              : undefined;
          const dl = this.#downloads.start({
            delivery: 'pull',
            uri: saved.uri,
            streamed: false,
            offset: resume?.offset ?? 0,
            etag: saved.etag,
            checkpoint: resume?.checkpoint,
          });
          this.#run(this.#downloads.pull(dl));
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
    this.#downloads.stop();
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
    if (num === 0 && !this.#pushAllowed()) return refusal('4.05', 'this device takes no push (/5/0/9)');
    return this.#downloads.block1Sink(num, size1, () => {
      const t = firmwareTransition(this.#status, { type: 'download', delivery: 'push' }, this.#now());
      if (!t.ok) return refusal(t.code, t.message);
      this.#uri = '';
      return this.#beginDownload('push', undefined, true);
    });
  }

  #pushAllowed(): boolean {
    return (this.#o.application.deliveryMethod ?? 2) !== 0;
  }

  /** A whole package in one Write, or the single NUL (or empty value) that resets. */
  #writePackage(bytes: Uint8Array): TreeResult<void> {
    if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return this.#reset();
    if (!this.#pushAllowed()) return treeFail('4.05', 'this device takes no push (/5/0/9)');
    if (this.#downloads.pushing) return treeFail('4.05', 'a block-wise push is in progress');
    const t = firmwareTransition(this.#status, { type: 'download', delivery: 'push' }, this.#now());
    if (!t.ok) return treeFail(t.code, t.message);
    this.#uri = '';
    const dl = this.#beginDownload('push', undefined, false);
    this.#run(this.#downloads.deliver(dl, bytes));
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
    this.#run(this.#downloads.pull(dl));
    return treeOk();
  }

  // ---- the download (package-download.ts) ----

  #beginDownload(delivery: 'push' | 'pull', uri: string | undefined, streamed: boolean): PackageDownload {
    this.#lastError = undefined;
    this.#attempts++;
    this.#diagnosticsChanged(undefined);
    this.#image = undefined;
    this.#facts = {};
    this.#apply({ type: 'download', delivery });
    return this.#downloads.start({ delivery, uri, streamed });
  }

  /** The package stream accepted every byte and the store holds the image: Downloaded. */
  #downloaded(image: StoredImage, verdict: PackageVerdict): void {
    // verifyBeforeStore: a refused package came to #downloadFailed instead.
    if (!verdict.ok) return;
    this.#image = image;
    this.#facts = verdict.facts;
    this.#apply({ type: 'download-complete' }, [6, 7]);
    if (this.#automatic) this.#run(this.#beginUpdate('automatic'));
  }

  #downloadFailed(failure: DownloadFailure): void {
    const result = DOWNLOAD_RESULTS[failure.kind];
    const code = failure.kind === 'full' ? 'not-enough-flash' : failure.code;
    this.#error(failure.phase, code, result, failure.message);
    this.#discard();
    this.#apply({ type: 'download-failed', result });
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
    this.#downloads.stop();
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
    const snapshot: FirmwareSnapshot = {
      status: this.#status,
      ...(this.#uri ? { uri: this.#uri } : {}),
      ...this.#downloadSnapshot(),
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

  /** The download under way, for a pull to resume after a restart (package-download.ts). */
  #downloadSnapshot(): Partial<FirmwareSnapshot> {
    const progress = this.#downloads.progress();
    if (!progress) return {};
    const { delivery, received, etag, checkpoint } = progress;
    return {
      delivery,
      received,
      ...(etag === undefined ? {} : { etag }),
      ...(checkpoint === undefined ? {} : { checkpoint: Buffer.from(checkpoint).toString('base64') }),
    };
  }

  #run(work: Promise<void>): void {
    const all = Promise.all([this.#work, work]).then(() => undefined);
    this.#work = all.catch((e: unknown) => this.#o.onError?.(e));
  }
}
