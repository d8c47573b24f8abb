/**
 * One /9/x Software Management instance (LWM2M-1.2.md §4.8; 9.xml, object 1.0): one software
 * component. The state machines of software-state.ts driven by the server's Writes and Executes,
 * a download (push through /9/x/2, Block1 streamed by the client's block-wise layer, or pull from
 * the URI in /9/x/3) by the PackageDownloader /5 uses (package-download.ts): every byte passes
 * through a PackageStream (signed manifests verified) into a bounded FirmwareStore, pulls use the
 * /5 fetchers. The application's hooks install, uninstall, activate and deactivate.
 */
import { systemClock } from '../../clock.js';
import type { Clock } from '../../clock.js';
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
import type { FirmwareStore, StoredImage } from '../firmware/firmware-store.js';
import { MemoryFirmwareStore } from '../firmware/firmware-store.js';
import { plainImageVerifier } from '../firmware/plain-image-verifier.js';
import type { PullFetcher } from '../firmware/pull-transfer.js';
import type {
  CoapPullEndpoints,
  DownloadFailure,
  DownloadFailureKind,
  FirmwarePullOptions,
  PackageDownload,
} from '../package/package-download.js';
import { PackageDownloader, errorText, refusal } from '../package/package-download.js';
import type {
  SoftwareDownloadFailure,
  SoftwareEvent,
  SoftwareResultValue,
  SoftwareStateValue,
  SoftwareStatus,
} from './software-state.js';
import { INITIAL_SOFTWARE_STATUS, SoftwareState, softwareTransition } from './software-state.js';
import type { SoftwareSnapshot, SoftwareStateStore } from './software-state-store.js';
import { MemorySoftwareStateStore } from './software-state-store.js';

/** The software in place: what /9/x/0 and /9/x/1 show once installed. */
export interface SoftwareComponent {
  readonly instanceId: number;
  readonly name: string;
  readonly version: string;
}

export type SoftwareInstallOutcome =
  | { readonly ok: true; readonly name?: string; readonly version?: string }
  | { readonly ok: false; readonly reason: string };

export type SoftwareActionOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The device side of software management; every hook may be async. A thrown error is a failure. */
export interface SoftwareApplication {
  /**
   * Installs the delivered package (Execute /9/x/4). `previous`: the software it replaces (after
   * Uninstall ForUpdate). The outcome's name and version, else the manifest's, become /9/x/0-1.
   */
  install(
    image: StoredImage,
    info: {
      readonly instanceId: number;
      readonly facts: PackageFacts;
      readonly previous?: SoftwareComponent;
    },
  ): Promise<SoftwareInstallOutcome>;
  /**
   * Execute /9/x/6: removes the software (`forUpdate` false; also a delivered package never
   * installed, then `installed` is false), or prepares to receive its upgrade (`forUpdate` true).
   * Default: ok.
   */
  uninstall?(
    info: SoftwareComponent & { readonly forUpdate: boolean; readonly installed: boolean },
  ): SoftwareActionOutcome | Promise<SoftwareActionOutcome>;
  /** Execute /9/x/10 (default ok). */
  activate?(info: SoftwareComponent): SoftwareActionOutcome | Promise<SoftwareActionOutcome>;
  /** Execute /9/x/11 (default ok). */
  deactivate?(info: SoftwareComponent): SoftwareActionOutcome | Promise<SoftwareActionOutcome>;
}

/** One software component (one /9 instance) of LwM2mClientOptions.software. */
export interface SoftwarePackageOptions {
  readonly instanceId: number;
  /** Where its package goes; default a FileFirmwareStore in `<software.directory>/<instanceId>`. */
  readonly store?: FirmwareStore;
  /** Its package verification; default `software.verifier`, else plain packages pass through. */
  readonly verifier?: PackageVerifier;
  /**
   * Software already on the device at the first start: INSTALLED with this name and version
   * (active unless `active: false`). A saved state wins over it.
   */
  readonly installed?: { readonly name: string; readonly version: string; readonly active?: boolean };
}

/** LwM2mClientOptions.software. */
export interface SoftwareManagementOptions {
  readonly packages: readonly SoftwarePackageOptions[];
  readonly application: SoftwareApplication;
  /** Packages and state in `<directory>/<instanceId>/`; without it (and a store) memory only. */
  readonly directory?: string;
  /** Package verification of every component without its own (signed manifests). */
  readonly verifier?: PackageVerifier;
  /** A download with no byte for this long fails with Update Result 52, ms (default 120 000). */
  readonly downloadTimeout?: number;
  /** Pull settings, as for /5. */
  readonly pull?: FirmwarePullOptions;
  /** /9/x/8 Update Supported Objects at the first start (default false). */
  readonly updateSupportedObjects?: boolean;
}

/** What the client adds when it builds one instance. */
export interface SoftwareInstanceOptions {
  readonly instanceId: number;
  readonly application: SoftwareApplication;
  readonly store?: FirmwareStore;
  readonly stateStore?: SoftwareStateStore;
  readonly verifier?: PackageVerifier;
  readonly installed?: SoftwarePackageOptions['installed'];
  readonly downloadTimeout?: number;
  readonly pull?: FirmwarePullOptions;
  readonly updateSupportedObjects?: boolean;
  readonly clock?: Clock;
  readonly now?: () => number;
  /** CoAP endpoints for pulls, and the schemes they reach (as for /5). */
  readonly coap?: CoapPullEndpoints;
  /** Fetchers by scheme (`'http:'`), replacing or adding to the built-in ones. */
  readonly fetchers?: ReadonlyMap<string, PullFetcher>;
  /** An install or uninstall done with /9/x/8 true: tell the servers the objects now (Update). */
  readonly onObjectsChanged?: () => void;
  readonly onError?: (error: unknown) => void;
}

/** Why the last operation failed; /9/x/16 Status Reason shows it as `<phase>/<code>: <message>`. */
export interface SoftwareError {
  readonly phase: 'download' | 'uri' | 'store' | 'verify' | 'install' | 'uninstall' | 'activate' | 'restart';
  readonly code: string;
  readonly updateResult: SoftwareResultValue;
  readonly message: string;
  /** Unix seconds. */
  readonly at: number;
}

/** Resources that change with the status. */
const STATUS_RESOURCES = [0, 1, 7, 9, 12, 16];

export class SoftwareManagementInstance implements InstanceEnabler {
  readonly objectId = 9;
  readonly instanceId: number;
  readonly store: FirmwareStore;
  readonly #o: SoftwareInstanceOptions;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #stateStore: SoftwareStateStore;
  readonly #downloads: PackageDownloader;
  readonly #listeners = new Set<InstanceChangeListener>();
  #status: SoftwareStatus = INITIAL_SOFTWARE_STATUS;
  #userName = '';
  #password = '';
  #updateSupportedObjects: boolean;
  #installed: { name: string; version: string } | undefined;
  #image: StoredImage | undefined;
  #facts: PackageFacts = {};
  /** An install, uninstall, activate or deactivate hook is running. */
  #busy: string | undefined;
  #lastError: SoftwareError | undefined;
  #saving: Promise<void> = Promise.resolve();
  #work: Promise<void> = Promise.resolve();

  constructor(options: SoftwareInstanceOptions) {
    this.#o = options;
    this.instanceId = options.instanceId;
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.store = options.store ?? new MemoryFirmwareStore();
    this.#stateStore = options.stateStore ?? new MemorySoftwareStateStore();
    this.#updateSupportedObjects = options.updateSupportedObjects ?? false;
    const installed = options.installed;
    if (installed) {
      this.#installed = { name: installed.name, version: installed.version };
      this.#status = {
        ...INITIAL_SOFTWARE_STATUS,
        state: SoftwareState.Installed,
        active: installed.active ?? true,
      };
    }
    this.#downloads = new PackageDownloader({
      store: this.store,
      verifier: options.verifier ?? plainImageVerifier,
      // DOWNLOADED first (every byte stored), then the verdict: DELIVERED or INITIAL with 53/54.
      verifyBeforeStore: false,
      clock: this.#clock,
      downloadTimeout: options.downloadTimeout,
      pull: options.pull,
      coap: options.coap,
      fetchers: options.fetchers,
      onFailed: (failure) => this.#downloadFailed(failure),
      onDownloaded: (image, verdict) => this.#downloaded(image, verdict),
    });
  }

  // ---- what the application and tests see ----

  get status(): SoftwareStatus {
    return this.#status;
  }

  get state(): SoftwareStateValue {
    return this.#status.state;
  }

  get updateResult(): SoftwareResultValue {
    return this.#status.result;
  }

  get active(): boolean {
    return this.#status.active;
  }

  /** The software in place, if any. */
  get installed(): SoftwareComponent | undefined {
    return this.#installed && { instanceId: this.instanceId, ...this.#installed };
  }

  /** The facts of the package in hand (verified manifest, else just its size). */
  get facts(): PackageFacts {
    return this.#facts;
  }

  /** Why the last operation failed, until the next one starts. */
  get lastError(): SoftwareError | undefined {
    return this.#lastError;
  }

  /** /9/x/16. */
  get statusReason(): string {
    const e = this.#lastError;
    return e ? `${e.phase}/${e.code}: ${e.message}` : '';
  }

  /** Resolves once the download or hook under way has settled (tests, shutdown). */
  async settled(): Promise<void> {
    for (let previous; previous !== this.#work;) {
      previous = this.#work;
      await previous;
    }
    await this.#saving;
  }

  /**
   * Restores the saved state (client start): DELIVERED stays DELIVERED while its package is still
   * stored; a download under way at the restart failed (52: neither a push nor a pull survives).
   */
  async start(): Promise<void> {
    const saved = await this.#stateStore.load().catch((e: unknown) => {
      this.#o.onError?.(e);
      return undefined;
    });
    if (!saved) return;
    this.#status = saved.status;
    this.#installed = saved.installed && { ...saved.installed };
    this.#facts = { ...saved.facts };
    this.#updateSupportedObjects = saved.updateSupportedObjects ?? this.#updateSupportedObjects;
    this.#lastError = saved.lastError && {
      ...saved.lastError,
      phase: saved.lastError.phase as SoftwareError['phase'],
      updateResult: saved.lastError.updateResult as SoftwareResultValue,
    };
    switch (saved.status.state) {
      case SoftwareState.Delivered: {
        const image = await this.store.image().catch(() => undefined);
        if (image) this.#image = image;
        else this.#restore(57, 'the delivered package is gone');
        return;
      }
      case SoftwareState.DownloadStarted:
      case SoftwareState.Downloaded:
        this.#restore(52, 'the download was interrupted by a restart');
        return;
      default:
        return;
    }
  }

  /** Stops the download and timers without changing the saved state. */
  async close(): Promise<void> {
    this.#downloads.stop();
    await this.#saving;
  }

  /** After a restart: back to INITIAL with `result` (no event of the machine describes it). */
  #restore(result: SoftwareResultValue, message: string): void {
    this.#error('restart', 'restart', result, message);
    this.#image = undefined;
    this.#facts = {};
    this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
    this.#status = {
      state: SoftwareState.Initial,
      result,
      active: this.#installed ? this.#status.active : false,
    };
    this.#persist();
  }

  // ---- InstanceEnabler ----

  read(): LwM2mRecord[] {
    const at = (rid: number, value: LwM2mRecord['value']): LwM2mRecord => ({
      path: LwM2mPath.of(9, this.instanceId, rid),
      value,
    });
    const { name, version } = this.#shown();
    return [
      at(0, Value.string(name)),
      at(1, Value.string(version)),
      at(7, Value.integer(this.#status.state)),
      at(8, Value.boolean(this.#updateSupportedObjects)),
      at(9, Value.integer(this.#status.result)),
      at(12, Value.boolean(this.#status.active)),
      at(16, Value.string(this.statusReason)),
    ];
  }

  /** PkgName/PkgVersion: the package in hand once delivered, else the software in place. */
  #shown(): { name: string; version: string } {
    const state = this.#status.state;
    const inHand = state === SoftwareState.Delivered || state === SoftwareState.Downloaded;
    if (inHand && (this.#facts.name !== undefined || this.#facts.version !== undefined))
      return { name: this.#facts.name ?? '', version: this.#facts.version ?? '' };
    return this.#installed ?? { name: '', version: '' };
  }

  resourceIds(): number[] {
    return [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16];
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
      if (rid === 2 && v.type === 'opaque') result = this.#writePackage(v.value);
      else if (rid === 3 && v.type === 'string') result = this.#writeUri(v.value);
      else if (rid === 8 && v.type === 'boolean') {
        this.#updateSupportedObjects = v.value;
        this.#persist();
      } else if (rid === 14 && v.type === 'string') this.#userName = v.value;
      else if (rid === 15 && v.type === 'string') this.#password = v.value;
      if (!result.ok) return result;
    }
    return treeOk();
  }

  execute(resourceId: number, args: readonly ExecuteArgumentInput[]): TreeResult<void> {
    if (resourceId !== 4 && resourceId !== 6 && resourceId !== 10 && resourceId !== 11)
      return treeFail('4.05', `/9/${this.instanceId}/${resourceId} is not executable`);
    let event: SoftwareEvent;
    if (resourceId === 6) {
      const forUpdate = uninstallArgument(args);
      if (forUpdate === undefined)
        return treeFail('4.00', 'Uninstall takes no argument, 0 (uninstall) or 1 (ForUpdate)');
      event = { type: 'uninstall', forUpdate };
    } else event = { type: resourceId === 4 ? 'install' : resourceId === 10 ? 'activate' : 'deactivate' };
    const t = softwareTransition(this.#status, event);
    if (!t.ok) return treeFail(t.code, t.message);
    if (this.#busy) return treeFail('4.05', `${this.#busy} is in progress`);
    if (event.type === 'install') this.#run(this.#install());
    else if (event.type === 'uninstall') this.#run(this.#uninstall(event.forUpdate));
    else if (event.type === 'activate' || event.type === 'deactivate')
      this.#run(this.#activation(event.type));
    return treeOk();
  }

  // ---- install, uninstall, activation ----

  async #install(): Promise<void> {
    const image = this.#image;
    if (!image) return;
    this.#busy = 'Install';
    this.#clearError();
    const facts = this.#facts;
    let outcome: SoftwareInstallOutcome;
    try {
      outcome = await this.#o.application.install(image, {
        instanceId: this.instanceId,
        facts,
        ...(this.#installed ? { previous: { instanceId: this.instanceId, ...this.#installed } } : {}),
      });
    } catch (e) {
      outcome = { ok: false, reason: errorText(e) };
    } finally {
      this.#busy = undefined;
    }
    if (!outcome.ok) {
      this.#error('install', 'install-failed', 58, outcome.reason);
      this.#apply({ type: 'install-failed' });
      return;
    }
    this.#installed = {
      name: outcome.name ?? facts.name ?? this.#installed?.name ?? '',
      version: outcome.version ?? facts.version ?? '',
    };
    this.#image = undefined;
    this.#facts = {};
    this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
    this.#apply({ type: 'install-succeeded' });
    if (this.#updateSupportedObjects) this.#o.onObjectsChanged?.();
  }

  async #uninstall(forUpdate: boolean): Promise<void> {
    const installed = this.#status.state === SoftwareState.Installed;
    const component = installed
      ? { instanceId: this.instanceId, ...(this.#installed ?? { name: '', version: '' }) }
      : { instanceId: this.instanceId, ...this.#shown() };
    this.#busy = 'Uninstall';
    this.#clearError();
    let outcome: SoftwareActionOutcome;
    try {
      outcome = (await this.#o.application.uninstall?.({ ...component, forUpdate, installed })) ?? {
        ok: true,
      };
    } catch (e) {
      outcome = { ok: false, reason: errorText(e) };
    } finally {
      this.#busy = undefined;
    }
    if (!outcome.ok) {
      this.#error('uninstall', 'uninstall-failed', 59, outcome.reason);
      this.#apply({ type: 'uninstall-failed' });
      return;
    }
    if (!installed) {
      // A delivered package dropped before it was installed: the software in place (if any) stays.
      this.#image = undefined;
      this.#facts = {};
      this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
    } else if (!forUpdate) this.#installed = undefined;
    this.#apply({ type: 'uninstall', forUpdate });
    if (installed && !forUpdate && this.#updateSupportedObjects) this.#o.onObjectsChanged?.();
  }

  async #activation(type: 'activate' | 'deactivate'): Promise<void> {
    const component = { instanceId: this.instanceId, ...(this.#installed ?? { name: '', version: '' }) };
    this.#busy = type === 'activate' ? 'Activate' : 'Deactivate';
    let outcome: SoftwareActionOutcome;
    try {
      outcome = (await this.#o.application[type]?.(component)) ?? { ok: true };
    } catch (e) {
      outcome = { ok: false, reason: errorText(e) };
    } finally {
      this.#busy = undefined;
    }
    if (!outcome.ok) {
      // No Update Result speaks of activation: Activation State stays, Status Reason says why.
      this.#error('activate', `${type}-failed`, this.#status.result, outcome.reason);
      this.#changed([16]);
      this.#persist();
      return;
    }
    this.#clearError();
    this.#apply({ type });
  }

  // ---- push ----

  /**
   * The Block1 sink of a push to /9/x/2 (access already checked): block 0 starts a download (or
   * restarts the push under way), a later block continues it; undefined when there is none (the
   * layer answers 4.08), a response when the State refuses it.
   */
  block1Sink(num: number, size1: number | undefined): Block1Sink | CoapResponse | undefined {
    return this.#downloads.block1Sink(num, size1, () => {
      const t = softwareTransition(this.#status, { type: 'download', delivery: 'push' });
      if (!t.ok) return refusal(t.code, t.message);
      return this.#beginDownload('push', undefined, true);
    });
  }

  /** A whole package in one Write (no Block1). An empty one is ignored. */
  #writePackage(bytes: Uint8Array): TreeResult<void> {
    if (bytes.length === 0) return treeOk();
    if (this.#downloads.pushing) return treeFail('4.05', 'a block-wise push is in progress');
    const t = softwareTransition(this.#status, { type: 'download', delivery: 'push' });
    if (!t.ok) return treeFail(t.code, t.message);
    const dl = this.#beginDownload('push', undefined, false);
    this.#run(this.#downloads.deliver(dl, bytes));
    return treeOk();
  }

  // ---- pull ----

  /** A URI starts a pull; an empty one is ignored (9.xml defines no reset through it). */
  #writeUri(uri: string): TreeResult<void> {
    if (uri === '') return treeOk();
    const t = softwareTransition(this.#status, { type: 'download', delivery: 'pull' });
    if (!t.ok) return treeFail(t.code, t.message);
    const dl = this.#beginDownload('pull', uri, false);
    // /9/x/14-15: HTTP Basic credentials of an http(s) pull.
    this.#run(this.#downloads.pull(dl, { userName: this.#userName, password: this.#password }));
    return treeOk();
  }

  // ---- the download (package-download.ts) ----

  #beginDownload(delivery: 'push' | 'pull', uri: string | undefined, streamed: boolean): PackageDownload {
    this.#clearError();
    this.#image = undefined;
    this.#facts = {};
    this.#apply({ type: 'download', delivery });
    return this.#downloads.start({ delivery, uri, streamed });
  }

  /**
   * Every byte is in: DOWNLOADED, then the package's verdict (signature, digest, size, device
   * checks) decides between DELIVERED (Update Result 3) and INITIAL (53 or 54).
   */
  #downloaded(image: StoredImage, verdict: PackageVerdict): void {
    this.#apply({ type: 'download-complete' });
    if (!verdict.ok) {
      const result = verdict.updateResult === 5 ? 53 : 54;
      this.#error('verify', verdict.phase, result, verdict.reason);
      this.#discard();
      this.#apply({ type: 'verify-failed', result });
      return;
    }
    this.#image = image;
    this.#facts = verdict.facts;
    this.#apply({ type: 'verified' });
  }

  #downloadFailed(failure: DownloadFailure): void {
    const result = softwareDownloadResult(failure.kind);
    this.#error(failure.phase, failure.code, result, failure.message);
    this.#discard();
    this.#apply({ type: 'download-failed', result });
  }

  #discard(): void {
    this.#image = undefined;
    this.#facts = {};
    this.#run(this.store.discard().catch((e: unknown) => this.#o.onError?.(e)));
  }

  // ---- state ----

  #error(
    phase: SoftwareError['phase'],
    code: string,
    updateResult: SoftwareResultValue,
    message: string,
  ): void {
    this.#lastError = { phase, code, updateResult, message, at: this.#now() };
  }

  #clearError(): void {
    this.#lastError = undefined;
  }

  /** Applies an event the caller checked; persists and reports the change. */
  #apply(event: SoftwareEvent): void {
    const t = softwareTransition(this.#status, event);
    if (!t.ok) {
      this.#o.onError?.(new Error(`software state machine: ${t.message}`));
      return;
    }
    this.#status = t.status;
    this.#persist();
    this.#changed(STATUS_RESOURCES);
  }

  #changed(rids: readonly number[]): void {
    const paths = rids.map((rid) => LwM2mPath.of(9, this.instanceId, rid));
    for (const listener of [...this.#listeners]) listener(paths);
  }

  #persist(): void {
    const facts = this.#facts;
    const snapshot: SoftwareSnapshot = {
      status: this.#status,
      ...(this.#installed ? { installed: { ...this.#installed } } : {}),
      ...(facts.name !== undefined || facts.version !== undefined
        ? {
            facts: {
              ...(facts.name === undefined ? {} : { name: facts.name }),
              ...(facts.version === undefined ? {} : { version: facts.version }),
            },
          }
        : {}),
      ...(this.#lastError ? { lastError: { ...this.#lastError } } : {}),
      updateSupportedObjects: this.#updateSupportedObjects,
    };
    this.#saving = this.#saving
      .then(() => this.#stateStore.save(snapshot))
      .catch((e: unknown) => this.#o.onError?.(e));
  }

  #run(work: Promise<void>): void {
    const all = Promise.all([this.#work, work]).then(() => undefined);
    this.#work = all.catch((e: unknown) => this.#o.onError?.(e));
  }
}

/** Uninstall's argument: none or `0` → false, `1` (ForUpdate) → true, anything else undefined. */
export function uninstallArgument(args: readonly ExecuteArgumentInput[]): boolean | undefined {
  if (args.length === 0) return false;
  const [arg] = args;
  if (args.length > 1 || arg === undefined || arg.value !== undefined) return undefined;
  return arg.digit === 0 ? false : arg.digit === 1 ? true : undefined;
}

/**
 * How a download ended, in /9/x/9 Update Result terms: 50 not enough storage, 57 device error
 * (the store failed), 56 invalid URI (/9 has no "unsupported protocol": the URI is invalid for
 * this device), 52 connection lost. A package is verified only once stored (53, 54: #downloaded).
 */
function softwareDownloadResult(kind: DownloadFailureKind): SoftwareDownloadFailure {
  switch (kind) {
    case 'full':
      return 50;
    case 'store-io':
      return 57;
    case 'invalid-uri':
    case 'unsupported-protocol':
      return 56;
    default:
      return 52;
  }
}
