// Firmware campaigns (issue 11): one image to many devices through /5 (LWM2M-1.2.md §6), with
// bounded concurrency, a start rate, retries with back-off, pause/resume/cancel, and an exact
// per-device report. Each device goes
//   queued → waiting (asleep or unregistered) → checking (Read /5/0, /3/0/3) → downloading
//   (push: Write /5/0/0; pull: Write /5/0/1 with a URI whose scheme it lists in /5/0/8) →
//   downloaded → updating (Execute /5/0/2; deferred while Update Result is 11) →
//   succeeded | failed | skipped | cancelled.
import { EventEmitter, setMaxListeners } from 'node:events';
import { PetrelError } from '../../errors.js';
import type { TagStore } from '../../store/tag-store.js';
import type { CampaignGateway, DeviceAnswer } from './campaign-gateway.js';
import type { CampaignStore, StoredCampaign, StoredDevice } from './campaign-store.js';
import type { DownloadGrant } from './download-grants.js';
import type { FirmwareDownloadService } from './firmware-download-service.js';
import { PROTOCOL_SCHEMES } from './firmware-download-service.js';
import type { FirmwareImageInfo, FirmwareRepository } from './firmware-repository.js';

export type CampaignErrorReason =
  'unknown-image' | 'unknown-campaign' | 'bad-spec' | 'no-targets' | 'too-many';

export class FirmwareCampaignError extends PetrelError {
  readonly reason: CampaignErrorReason;
  constructor(reason: CampaignErrorReason, message: string) {
    super('PETREL_ERR_FIRMWARE_CAMPAIGN', message);
    this.reason = reason;
  }
}

export type DevicePhase =
  | 'queued'
  | 'waiting'
  | 'checking'
  | 'downloading'
  | 'downloaded'
  | 'updating'
  | 'deferred'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export const DEVICE_PHASES: readonly DevicePhase[] = [
  'queued',
  'waiting',
  'checking',
  'downloading',
  'downloaded',
  'updating',
  'deferred',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
];

const FINAL: ReadonlySet<DevicePhase> = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

export type CampaignMethod = 'push' | 'pull' | 'auto';
export type CampaignStatus = 'running' | 'paused' | 'cancelled' | 'completed';

export interface TargetFilter {
  /** Registered endpoints whose name starts with this. */
  readonly endpointPrefix?: string;
  /** Endpoints carrying every one of these tags (registered or not: they are waited for). */
  readonly tags?: readonly string[];
  /** Only devices whose /3/0/3 Firmware Version is this (others end `skipped`). */
  readonly currentVersion?: string;
}

export interface CampaignTimeouts {
  /** One request to a device, ms (default 60 000). */
  readonly request?: number;
  /** The whole download, ms (default 600 000). */
  readonly download?: number;
  /** Execute → outcome, ms, not counting deferrals within /5/0/13 (default 600 000). */
  readonly update?: number;
  /** How long an unregistered or sleeping device is waited for, ms (default 86 400 000). */
  readonly wait?: number;
}

export interface CampaignSpec {
  /** The image id in the repository. */
  readonly image: string;
  readonly targets: readonly string[] | TargetFilter;
  /** `auto` (default): pull when the device and the download service share a scheme, else push. */
  readonly method?: CampaignMethod;
  readonly name?: string;
  /** Devices in progress at once (default 10). */
  readonly concurrency?: number;
  /** Device starts per second (default: no limit). */
  readonly rate?: number;
  /** Attempts after the first, for failures that may pass (timeouts, connection lost) (default 2). */
  readonly retries?: number;
  /** Back-off before the first retry, ms, doubled each time (default 5 000). */
  readonly retryDelay?: number;
  readonly timeouts?: CampaignTimeouts;
  /** Between two reads of /5/0 while a download or update runs, ms (default 1 000). */
  readonly pollInterval?: number;
  /**
   * Observe /5/0 while a device downloads and updates (default true, when the gateway can): each
   * notification reads /5/0 at once instead of at the next poll, which stays as the fallback.
   */
  readonly observe?: boolean;
  /** While deferred (Update Result 11), Execute /5/0/2 again after this, ms (default 60 000). */
  readonly deferRetry?: number;
}

export interface DeviceTimings {
  readonly queuedAt: number;
  readonly startedAt?: number;
  readonly downloadStartedAt?: number;
  readonly downloadEndedAt?: number;
  /** Execute /5/0/2 sent. */
  readonly executedAt?: number;
  /** The device accepted (State became Updating, or the update ended first). */
  readonly acceptedAt?: number;
  readonly finishedAt?: number;
  readonly downloadMs?: number;
  /** executedAt → acceptedAt (deferrals included). */
  readonly acceptanceMs?: number;
  /** acceptedAt → finishedAt. */
  readonly updateMs?: number;
}

export interface DeviceReport {
  readonly endpoint: string;
  readonly phase: DevicePhase;
  readonly method?: 'push' | 'pull';
  /** Pull: the URI scheme used. */
  readonly scheme?: string;
  readonly attempts: number;
  /** Bytes delivered (push: when the Write completed; pull: served by the download service). */
  readonly bytes: number;
  readonly size: number;
  readonly previousVersion?: string;
  readonly version?: string;
  /** The last /5/0/5 Update Result seen. */
  readonly updateResult?: number;
  readonly reason?: string;
  readonly deferrals: number;
  readonly timings: DeviceTimings;
  readonly history: readonly { readonly phase: DevicePhase; readonly at: number }[];
}

export interface CampaignTotals {
  readonly devices: number;
  readonly phases: Readonly<Record<DevicePhase, number>>;
  /** Devices in a final phase. */
  readonly finished: number;
  readonly bytes: number;
}

export interface TimelineEntry {
  readonly at: number;
  /**
   * `ended`: the last device of a cancelled campaign finished; `restored`: the campaign was read
   * back from the store after a restart (its unfinished devices start again from `queued`).
   */
  readonly event:
    'created' | 'paused' | 'resumed' | 'cancelled' | 'completed' | 'ended' | 'restored' | 'phase';
  readonly endpoint?: string;
  readonly phase?: DevicePhase;
}

export interface CampaignSettings {
  readonly method: CampaignMethod;
  readonly concurrency: number;
  readonly rate: number | null;
  readonly retries: number;
  readonly retryDelay: number;
  readonly pollInterval: number;
  readonly observe: boolean;
  readonly deferRetry: number;
  readonly timeouts: Required<CampaignTimeouts>;
  readonly filter?: TargetFilter;
}

export interface CampaignSummary {
  readonly id: string;
  readonly name?: string;
  readonly image: Pick<FirmwareImageInfo, 'id' | 'size' | 'kind'> & { readonly version?: string };
  readonly status: CampaignStatus;
  readonly createdAt: number;
  readonly finishedAt?: number;
  readonly settings: CampaignSettings;
  readonly totals: CampaignTotals;
}

export interface CampaignReport extends CampaignSummary {
  readonly devices: readonly DeviceReport[];
  readonly timeline: readonly TimelineEntry[];
  /** Timeline entries dropped (it keeps the newest `maxTimeline`). */
  readonly timelineDropped: number;
}

/** One campaign's part in a device's update history. */
export interface DeviceUpdateRecord {
  readonly campaign: string;
  readonly name?: string;
  readonly image: CampaignImage;
  readonly status: CampaignStatus;
  readonly createdAt: number;
  readonly device: DeviceReport;
}

/** A progress event, forwarded by the REST API over SSE. */
export interface CampaignEvent {
  readonly campaign: string;
  readonly seq: number;
  readonly at: number;
  readonly type: 'device' | 'status';
  readonly status?: CampaignStatus;
  readonly device?: DeviceReport;
  readonly totals: CampaignTotals;
}

export interface FirmwareCampaignsEvents {
  event: [event: CampaignEvent];
  error: [error: unknown];
}

export interface FirmwareCampaignsOptions {
  readonly gateway: CampaignGateway;
  readonly repository: FirmwareRepository;
  /** Needed for pull (and `auto` pulls); without it every campaign pushes. */
  readonly download?: FirmwareDownloadService;
  /** For `targets.tags`. */
  readonly tags?: TagStore;
  readonly now?: () => number;
  /** Campaigns kept, finished ones dropped oldest first (default 100). */
  readonly maxCampaigns?: number;
  /** Devices per campaign (default 100 000). */
  readonly maxTargets?: number;
  /** Timeline entries kept per campaign (default 10 000). */
  readonly maxTimeline?: number;
  /**
   * Keeps campaigns across restarts (`restore()` reads them back). Without it campaigns live in
   * memory only.
   */
  readonly store?: CampaignStore;
  /** A campaign whose devices move is saved at most this often, ms (default 1 000). */
  readonly saveInterval?: number;
}

/** What Update Result (/5/0/5) values mean (object 5). */
export const UPDATE_RESULT_TEXT: Readonly<Record<number, string>> = {
  0: 'initial value',
  1: 'firmware updated successfully',
  2: 'not enough flash memory for the new firmware package',
  3: 'out of RAM during the download',
  4: 'connection lost during the download',
  5: 'integrity check failure for the new firmware package',
  6: 'unsupported package type',
  7: 'invalid URI',
  8: 'firmware update failed',
  9: 'unsupported protocol',
  10: 'firmware update cancelled',
  11: 'firmware update deferred',
};

const resultText = (r: number): string => `Update Result ${r}: ${UPDATE_RESULT_TEXT[r] ?? 'unknown'}`;
/** Update Results after which another attempt may succeed. */
const RETRYABLE_RESULTS: ReadonlySet<number> = new Set([3, 4]);
const MAX_HISTORY = 64;
/** Least ms between two byte-progress events of one device. */
const PROGRESS_INTERVAL = 1000;

class Cancelled extends Error {}

/** Phases after which a device restored from the store may hold our package (or be installing it). */
const PAST_DOWNLOAD_START: ReadonlySet<DevicePhase> = new Set([
  'downloading',
  'downloaded',
  'updating',
  'deferred',
]);

/** The image facts a campaign keeps (the image itself may leave the repository). */
export type CampaignImage = Pick<FirmwareImageInfo, 'id' | 'size' | 'kind' | 'version'>;

class StepFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly updateResult?: number,
  ) {
    super(message);
  }
}

interface Device {
  endpoint: string;
  /** Changed only through Campaign.move, which keeps the campaign's counts. */
  readonly phase: DevicePhase;
  method?: 'push' | 'pull';
  scheme?: string;
  attempts: number;
  /** Changed only through Campaign.setBytes, which keeps the campaign's byte total. */
  readonly bytes: number;
  previousVersion?: string;
  version?: string;
  updateResult?: number;
  reason?: string;
  deferrals: number;
  timings: {
    queuedAt: number;
    startedAt?: number;
    downloadStartedAt?: number;
    downloadEndedAt?: number;
    executedAt?: number;
    acceptedAt?: number;
    finishedAt?: number;
  };
  history: { phase: DevicePhase; at: number }[];
  grant?: DownloadGrant;
  /** Ends the current pause between two reads of /5/0 (a notification came). */
  nudge?: () => void;
  /**
   * A notification came while no pause ran (over UDP a device's notifications often arrive before
   * its answer to the Execute): the next pause ends at once instead of waiting a poll interval.
   */
  nudged?: boolean;
  /** Restored from the store: the phase it was in when the server stopped. */
  resumeFrom?: DevicePhase;
  /** When a progress event for its bytes was last sent. */
  progressAt?: number;
}

interface FirmwareState {
  readonly state: number | undefined;
  readonly result: number | undefined;
  readonly protocols: number[];
  readonly delivery: number | undefined;
  readonly maxDefer: number | undefined;
}

function intOf(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function firmwareState(values: Readonly<Record<string, unknown>> | undefined): FirmwareState {
  const v = values ?? {};
  const protocols: number[] = [];
  for (const [k, x] of Object.entries(v)) {
    const n = intOf(x);
    if (k.startsWith('/5/0/8/') && n !== undefined) protocols.push(n);
  }
  return {
    state: intOf(v['/5/0/3']),
    result: intOf(v['/5/0/5']),
    protocols,
    delivery: intOf(v['/5/0/9']),
    maxDefer: intOf(v['/5/0/13']),
  };
}

function clampInt(v: number | undefined, def: number, min: number, max: number, name: string): number {
  if (v === undefined) return def;
  if (!Number.isFinite(v) || v < min || v > max)
    throw new FirmwareCampaignError('bad-spec', `${name} must be ${min} .. ${max}, not ${v}`);
  return v;
}

function campaignSettings(spec: CampaignSpec, method: CampaignMethod): CampaignSettings {
  const t = spec.timeouts ?? {};
  return {
    method,
    concurrency: clampInt(spec.concurrency, 10, 1, 10_000, 'concurrency'),
    rate: spec.rate === undefined ? null : clampInt(spec.rate, 0, 0.001, 100_000, 'rate'),
    retries: clampInt(spec.retries, 2, 0, 100, 'retries'),
    retryDelay: clampInt(spec.retryDelay, 5000, 0, 86_400_000, 'retryDelay'),
    pollInterval: clampInt(spec.pollInterval, 1000, 1, 3_600_000, 'pollInterval'),
    observe: spec.observe ?? true,
    deferRetry: clampInt(spec.deferRetry, 60_000, 1, 86_400_000, 'deferRetry'),
    timeouts: {
      request: clampInt(t.request, 60_000, 1, 86_400_000, 'timeouts.request'),
      download: clampInt(t.download, 600_000, 1, 7 * 86_400_000, 'timeouts.download'),
      update: clampInt(t.update, 600_000, 1, 7 * 86_400_000, 'timeouts.update'),
      wait: clampInt(t.wait, 86_400_000, 1, 30 * 86_400_000, 'timeouts.wait'),
    },
    ...(Array.isArray(spec.targets) ? {} : { filter: spec.targets as TargetFilter }),
  };
}

/** One campaign: its devices, its scheduler and its report. */
class Campaign {
  readonly id: string;
  readonly spec: CampaignSpec;
  readonly settings: CampaignSettings;
  readonly image: CampaignImage;
  readonly createdAt: number;
  status: CampaignStatus = 'running';
  finishedAt: number | undefined;
  readonly devices: Device[];
  readonly byEndpoint = new Map<string, Device>();
  timeline: TimelineEntry[] = [];
  timelineDropped = 0;
  readonly abort = new AbortController();
  inFlight = 0;
  nextStartAt = 0;
  readonly slotWaiters: (() => void)[] = [];
  pumpTimer: NodeJS.Timeout | undefined;
  bytesCache: Promise<Uint8Array | undefined> | undefined;
  /** The server is stopping: devices keep the phase they are in (to be resumed after a restart). */
  shutdown = false;
  /** Changed since it was last saved. */
  dirty = false;
  saveTimer: NodeJS.Timeout | undefined;
  saving: Promise<void> = Promise.resolve();
  readonly done: Promise<void>;
  resolveDone!: () => void;
  /**
   * The totals, kept as devices move rather than counted at each event: a campaign emits an event
   * per phase change and per byte-progress report, and a count would walk every device each time.
   */
  #phases: Record<DevicePhase, number> = zeroPhases();
  #finished = 0;
  #bytes = 0;

  constructor(
    id: string,
    spec: CampaignSpec,
    settings: CampaignSettings,
    image: CampaignImage,
    now: number,
    endpoints: readonly string[],
  ) {
    this.id = id;
    this.spec = spec;
    this.settings = settings;
    this.image = image;
    this.createdAt = now;
    this.devices = endpoints.map((endpoint) => ({
      endpoint,
      phase: 'queued',
      attempts: 0,
      bytes: 0,
      deferrals: 0,
      timings: { queuedAt: now },
      history: [{ phase: 'queued', at: now }],
    }));
    for (const d of this.devices) this.byEndpoint.set(d.endpoint, d);
    this.#phases.queued = this.devices.length;
    // Every device in progress waits on the signal: `concurrency` listeners, not a leak.
    setMaxListeners(0, this.abort.signal);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Moves `d` to `phase`, keeping the counts. */
  move(d: Device, phase: DevicePhase): void {
    this.#phases[d.phase]--;
    if (FINAL.has(d.phase)) this.#finished--;
    (d as { phase: DevicePhase }).phase = phase;
    this.#phases[phase]++;
    if (FINAL.has(phase)) this.#finished++;
  }

  /** Sets the bytes delivered to `d`, keeping the total. */
  setBytes(d: Device, bytes: number): void {
    this.#bytes += bytes - d.bytes;
    (d as { bytes: number }).bytes = bytes;
  }

  /** Counts anew from the devices (once, after their fields were read back from the store). */
  recount(): void {
    const t = recountTotals(this.devices);
    this.#phases = { ...t.phases };
    this.#finished = t.finished;
    this.#bytes = t.bytes;
  }

  get allFinished(): boolean {
    return this.#finished === this.devices.length;
  }

  totals(): CampaignTotals {
    return {
      devices: this.devices.length,
      phases: { ...this.#phases },
      finished: this.#finished,
      bytes: this.#bytes,
    };
  }
}

const zeroPhases = (): Record<DevicePhase, number> =>
  Object.fromEntries(DEVICE_PHASES.map((p) => [p, 0])) as Record<DevicePhase, number>;

/**
 * The totals of `devices` counted from scratch (what a campaign's kept totals must always equal;
 * exported for tests).
 */
export function recountTotals(
  devices: readonly { readonly phase: DevicePhase; readonly bytes: number }[],
): CampaignTotals {
  const phases = zeroPhases();
  let bytes = 0;
  let finished = 0;
  for (const d of devices) {
    phases[d.phase]++;
    bytes += d.bytes;
    if (FINAL.has(d.phase)) finished++;
  }
  return { devices: devices.length, phases, finished, bytes };
}

function deviceReport(d: Device, size: number): DeviceReport {
  const t = d.timings;
  const span = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : b - a;
  const downloadMs = span(t.downloadStartedAt, t.downloadEndedAt);
  const acceptanceMs = span(t.executedAt, t.acceptedAt);
  const updateMs = span(
    t.acceptedAt,
    d.phase === 'succeeded' || d.phase === 'failed' ? t.finishedAt : undefined,
  );
  return {
    endpoint: d.endpoint,
    phase: d.phase,
    ...(d.method === undefined ? {} : { method: d.method }),
    ...(d.scheme === undefined ? {} : { scheme: d.scheme }),
    attempts: d.attempts,
    bytes: d.bytes,
    size,
    ...(d.previousVersion === undefined ? {} : { previousVersion: d.previousVersion }),
    ...(d.version === undefined ? {} : { version: d.version }),
    ...(d.updateResult === undefined ? {} : { updateResult: d.updateResult }),
    ...(d.reason === undefined ? {} : { reason: d.reason }),
    deferrals: d.deferrals,
    timings: {
      ...t,
      ...(downloadMs === undefined ? {} : { downloadMs }),
      ...(acceptanceMs === undefined ? {} : { acceptanceMs }),
      ...(updateMs === undefined ? {} : { updateMs }),
    },
    history: d.history.slice(),
  };
}

/** The image facts a report and the store keep (a plain copy, not the repository's entry). */
function imageFacts(image: CampaignImage): CampaignImage {
  return {
    id: image.id,
    size: image.size,
    kind: image.kind,
    ...(image.version === undefined ? {} : { version: image.version }),
  };
}

/** A device as the store keeps it (no grant: download tokens do not outlive the process). */
function deviceToStore(d: Device): StoredDevice {
  return {
    endpoint: d.endpoint,
    phase: d.phase,
    ...(d.method === undefined ? {} : { method: d.method }),
    ...(d.scheme === undefined ? {} : { scheme: d.scheme }),
    attempts: d.attempts,
    bytes: d.bytes,
    ...(d.previousVersion === undefined ? {} : { previousVersion: d.previousVersion }),
    ...(d.version === undefined ? {} : { version: d.version }),
    ...(d.updateResult === undefined ? {} : { updateResult: d.updateResult }),
    ...(d.reason === undefined ? {} : { reason: d.reason }),
    deferrals: d.deferrals,
    timings: d.timings,
    history: d.history,
  };
}

const isPhase = (p: string): p is DevicePhase => (DEVICE_PHASES as readonly string[]).includes(p);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The fields of a stored device, checked (a hand-edited file must not put the engine in a bad state). */
function deviceFromStore(sd: StoredDevice): Partial<Device> {
  const timings: Device['timings'] = { queuedAt: num(sd.timings.queuedAt) ?? 0 };
  for (const k of [
    'startedAt',
    'downloadStartedAt',
    'downloadEndedAt',
    'executedAt',
    'acceptedAt',
    'finishedAt',
  ] as const) {
    const t = num(sd.timings[k]);
    if (t !== undefined) timings[k] = t;
  }
  return {
    phase: isPhase(sd.phase) ? sd.phase : 'queued',
    ...(sd.method === 'push' || sd.method === 'pull' ? { method: sd.method } : {}),
    ...(typeof sd.scheme === 'string' ? { scheme: sd.scheme } : {}),
    attempts: num(sd.attempts) ?? 0,
    bytes: num(sd.bytes) ?? 0,
    ...(typeof sd.previousVersion === 'string' ? { previousVersion: sd.previousVersion } : {}),
    ...(typeof sd.version === 'string' ? { version: sd.version } : {}),
    ...(num(sd.updateResult) === undefined ? {} : { updateResult: sd.updateResult! }),
    ...(typeof sd.reason === 'string' ? { reason: sd.reason } : {}),
    deferrals: num(sd.deferrals) ?? 0,
    timings,
    history: sd.history
      .filter((h) => isPhase(h.phase) && num(h.at) !== undefined)
      .slice(-MAX_HISTORY)
      .map((h) => ({ phase: h.phase as DevicePhase, at: h.at })),
  };
}

/**
 * Runs firmware campaigns against a CampaignGateway (serverGateway(server) for a LwM2mServer).
 * Campaigns live in memory, and in `store` when one is given (`restore()` after a restart); `event`
 * reports every phase change and status change.
 */
export class FirmwareCampaigns extends EventEmitter<FirmwareCampaignsEvents> {
  readonly #gateway: CampaignGateway;
  readonly #repository: FirmwareRepository;
  readonly #download: FirmwareDownloadService | undefined;
  readonly #tags: TagStore | undefined;
  readonly #now: () => number;
  readonly #maxCampaigns: number;
  readonly #maxTargets: number;
  readonly #maxTimeline: number;
  readonly #store: CampaignStore | undefined;
  readonly #saveInterval: number;
  readonly #campaigns = new Map<string, Campaign>();
  readonly #byToken = new Map<string, { campaign: Campaign; device: Device }>();
  readonly #wakeWaiters = new Map<string, Set<() => void>>();
  readonly #offWake: () => void;
  readonly #offProgress: () => void;
  #seq = 0;
  #nextId = 1;
  #closed = false;

  constructor(options: FirmwareCampaignsOptions) {
    super();
    this.#gateway = options.gateway;
    this.#repository = options.repository;
    this.#download = options.download;
    this.#tags = options.tags;
    this.#now = options.now ?? Date.now;
    this.#maxCampaigns = options.maxCampaigns ?? 100;
    this.#maxTargets = options.maxTargets ?? 100_000;
    this.#maxTimeline = options.maxTimeline ?? 10_000;
    this.#store = options.store;
    this.#saveInterval = options.saveInterval ?? 1000;
    this.#offWake = this.#gateway.onWake((ep) => {
      const waiters = this.#wakeWaiters.get(ep);
      if (!waiters) return;
      this.#wakeWaiters.delete(ep);
      for (const w of waiters) w();
    });
    const onProgress = (p: { grant: DownloadGrant; offset: number }): void => {
      const hit = this.#byToken.get(p.grant.token);
      if (!hit || p.offset <= hit.device.bytes) return;
      const d = hit.device;
      hit.campaign.setBytes(d, p.offset);
      // A pull's bytes as they are served, at most once a second per device (for progress bars).
      const now = this.#now();
      if (now - (d.progressAt ?? 0) < PROGRESS_INTERVAL && p.offset < hit.campaign.image.size) return;
      d.progressAt = now;
      this.#emit(hit.campaign, { type: 'device', device: deviceReport(d, hit.campaign.image.size) });
    };
    this.#download?.on('progress', onProgress);
    this.#offProgress = () => this.#download?.off('progress', onProgress);
  }

  /** Validates the spec, resolves the targets and starts the campaign. */
  async create(spec: CampaignSpec): Promise<CampaignReport> {
    if (this.#closed) throw new FirmwareCampaignError('bad-spec', 'the campaign engine is closed');
    const image = await this.#repository.get(spec.image);
    if (!image)
      throw new FirmwareCampaignError(
        'unknown-image',
        `no image ${String(spec.image).slice(0, 80)} in the repository`,
      );
    const method = spec.method ?? 'auto';
    if (!['push', 'pull', 'auto'].includes(method))
      throw new FirmwareCampaignError(
        'bad-spec',
        `method must be push, pull or auto, not ${String(method).slice(0, 20)}`,
      );
    if (method === 'pull' && (!this.#download || this.#download.schemes().length === 0))
      throw new FirmwareCampaignError('bad-spec', 'a pull campaign needs the firmware download service');
    const settings = campaignSettings(spec, method);
    const endpoints = await this.#resolveTargets(spec.targets);
    if (endpoints.length === 0) throw new FirmwareCampaignError('no-targets', 'the targets name no device');
    if (endpoints.length > this.#maxTargets)
      throw new FirmwareCampaignError(
        'too-many',
        `${endpoints.length} devices (the most is ${this.#maxTargets})`,
      );
    this.#makeRoom();
    const id = `c${this.#nextId++}-${this.#now().toString(36)}`;
    const campaign = new Campaign(id, spec, settings, image, this.#now(), endpoints);
    this.#campaigns.set(id, campaign);
    this.#timeline(campaign, { at: campaign.createdAt, event: 'created' });
    this.#emitStatus(campaign);
    for (const d of campaign.devices) void this.#runDevice(campaign, d);
    return this.#report(campaign);
  }

  get(id: string): CampaignReport | undefined {
    const c = this.#campaigns.get(id);
    return c && this.#report(c);
  }

  list(): CampaignSummary[] {
    return [...this.#campaigns.values()].map((c) => this.#summary(c));
  }

  /**
   * A device's update history (FW-003): its part in every campaign kept (and restored), oldest
   * first, each with phase, attempts, versions, Update Result, reason, timings and phase history.
   */
  deviceHistory(endpoint: string): DeviceUpdateRecord[] {
    const out: DeviceUpdateRecord[] = [];
    for (const c of this.#campaigns.values()) {
      const d = c.byEndpoint.get(endpoint);
      if (!d) continue;
      out.push({
        campaign: c.id,
        ...(c.spec.name === undefined ? {} : { name: c.spec.name }),
        image: imageFacts(c.image),
        status: c.status,
        createdAt: c.createdAt,
        device: deviceReport(d, c.image.size),
      });
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Resolves with the report once every device is in a final phase. */
  async finished(id: string): Promise<CampaignReport> {
    const c = this.#require(id);
    await c.done;
    return this.#report(c);
  }

  /** Starts no more devices (those under way go on). */
  pause(id: string): CampaignReport {
    const c = this.#require(id);
    if (c.status === 'running') {
      c.status = 'paused';
      this.#timeline(c, { at: this.#now(), event: 'paused' });
      this.#emitStatus(c);
    }
    return this.#report(c);
  }

  resume(id: string): CampaignReport {
    const c = this.#require(id);
    if (c.status === 'paused') {
      c.status = 'running';
      this.#timeline(c, { at: this.#now(), event: 'resumed' });
      this.#emitStatus(c);
      this.#pump(c);
    }
    return this.#report(c);
  }

  /**
   * Stops the campaign: queued and waiting devices end `cancelled`; a download under way is
   * cancelled on the device (Execute /5/0/10). An update already under way cannot be undone and is
   * reported as it ends.
   */
  cancel(id: string): CampaignReport {
    const c = this.#require(id);
    if (c.status === 'running' || c.status === 'paused') {
      c.status = 'cancelled';
      this.#timeline(c, { at: this.#now(), event: 'cancelled' });
      c.abort.abort();
      for (const w of c.slotWaiters.splice(0)) w();
      this.#emitStatus(c);
    }
    return this.#report(c);
  }

  /**
   * Reads the stored campaigns back (call once, before `create`). Finished ones are kept for their
   * reports; running and paused ones go on: devices that had finished stay as they were, the others
   * start again from `queued`, and one that was downloading, installing or deferring is first asked
   * where it stands (/5/0): an update that completed meanwhile is counted, a package already
   * downloaded is installed without being sent again. Returns the campaigns restored.
   */
  async restore(): Promise<CampaignSummary[]> {
    if (!this.#store) return [];
    const docs = (await this.#store.load()).sort((a, b) => a.createdAt - b.createdAt);
    const out: CampaignSummary[] = [];
    for (const doc of docs) {
      if (this.#campaigns.has(doc.id)) continue;
      const c = await this.#revive(doc);
      if (!c) continue;
      this.#campaigns.set(c.id, c);
      const n = /^c(\d+)-/.exec(c.id);
      if (n) this.#nextId = Math.max(this.#nextId, Number(n[1]) + 1);
      out.push(this.#summary(c));
    }
    return out;
  }

  /**
   * Stops every campaign where it is and lets go of the gateway and the download service. With a
   * store, unfinished campaigns are saved as they stand, for `restore()` after a restart; nothing is
   * cancelled on the devices.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#campaigns.values()) {
      c.shutdown = true;
      c.abort.abort();
      clearTimeout(c.pumpTimer);
      for (const w of c.slotWaiters.splice(0)) w();
    }
    this.#offWake();
    this.#offProgress();
    if (this.#store)
      await Promise.all(
        [...this.#campaigns.values()].map((c) => {
          clearTimeout(c.saveTimer);
          return this.#save(c);
        }),
      );
  }

  async #revive(doc: StoredCampaign): Promise<Campaign | undefined> {
    const spec = doc.spec as unknown as CampaignSpec;
    let settings: CampaignSettings;
    try {
      settings = campaignSettings(spec, spec.method ?? 'auto');
    } catch (e) {
      this.#emitError(e);
      return undefined;
    }
    const known = await this.#repository.get(doc.imageId);
    const stored = doc.image;
    const image: CampaignImage = known ?? {
      id: doc.imageId,
      size: stored?.size ?? 0,
      kind: stored?.kind ?? 'plain',
      ...(stored?.version === undefined ? {} : { version: stored.version }),
    };
    const now = this.#now();
    const c = new Campaign(
      doc.id,
      spec,
      settings,
      image,
      doc.createdAt,
      doc.devices.map((d) => d.endpoint),
    );
    c.timeline = doc.timeline.slice() as unknown as TimelineEntry[];
    c.timelineDropped = doc.timelineDropped;
    const status = (['running', 'paused', 'cancelled', 'completed'] as const).find((x) => x === doc.status);
    c.status = status ?? 'completed';
    if (doc.finishedAt !== undefined) c.finishedAt = doc.finishedAt;
    for (const [i, sd] of doc.devices.entries()) Object.assign(c.devices[i]!, deviceFromStore(sd));
    c.recount();
    if (c.finishedAt !== undefined) {
      c.resolveDone();
      return c;
    }
    this.#timeline(c, { at: now, event: 'restored' });
    for (const d of c.devices) {
      if (FINAL.has(d.phase)) continue;
      if (c.status === 'cancelled') {
        d.reason = 'the campaign was cancelled';
        this.#phase(c, d, 'cancelled');
      } else if (!known) {
        d.reason = 'the image is no longer in the repository';
        this.#phase(c, d, 'failed');
      } else {
        if (PAST_DOWNLOAD_START.has(d.phase)) d.resumeFrom = d.phase;
        this.#phase(c, d, 'queued');
      }
    }
    this.#dirty(c, true);
    for (const d of c.devices) if (!FINAL.has(d.phase)) void this.#runDevice(c, d);
    this.#checkDone(c);
    return c;
  }

  // ---- persistence ----

  /** Marks the campaign changed; `urgent` (a status change) saves at once, else within the interval. */
  #dirty(c: Campaign, urgent = false): void {
    if (!this.#store || c.shutdown) return;
    c.dirty = true;
    if (urgent) {
      clearTimeout(c.saveTimer);
      c.saveTimer = undefined;
      void this.#save(c);
    } else if (c.saveTimer === undefined) {
      c.saveTimer = setTimeout(() => {
        c.saveTimer = undefined;
        void this.#save(c);
      }, this.#saveInterval);
      c.saveTimer.unref();
    }
  }

  /** Saves are chained per campaign, each writing the campaign as it is when its turn comes. */
  #save(c: Campaign): Promise<void> {
    const store = this.#store;
    if (!store) return Promise.resolve();
    c.saving = c.saving.then(async () => {
      if (!c.dirty) return;
      c.dirty = false;
      try {
        await store.save(this.#stored(c));
      } catch (e) {
        c.dirty = true;
        this.#emitError(e);
      }
    });
    return c.saving;
  }

  #stored(c: Campaign): StoredCampaign {
    return {
      format: 1,
      id: c.id,
      spec: c.spec as unknown as Record<string, unknown>,
      settings: c.settings as unknown as Record<string, unknown>,
      imageId: c.image.id,
      image: imageFacts(c.image),
      status: c.status,
      createdAt: c.createdAt,
      ...(c.finishedAt === undefined ? {} : { finishedAt: c.finishedAt }),
      devices: c.devices.map(deviceToStore),
      timeline: c.timeline as unknown as Record<string, unknown>[],
      timelineDropped: c.timelineDropped,
    };
  }

  #emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  #require(id: string): Campaign {
    const c = this.#campaigns.get(id);
    if (!c) throw new FirmwareCampaignError('unknown-campaign', `no campaign ${id.slice(0, 80)}`);
    return c;
  }

  #makeRoom(): void {
    if (this.#campaigns.size < this.#maxCampaigns) return;
    for (const c of this.#campaigns.values())
      if (c.finishedAt !== undefined) {
        this.#campaigns.delete(c.id);
        void c.saving.then(() => this.#store?.delete(c.id)).catch((e: unknown) => this.#emitError(e));
        if (this.#campaigns.size < this.#maxCampaigns) return;
      }
    throw new FirmwareCampaignError(
      'too-many',
      `${this.#campaigns.size} campaigns are running, the most kept`,
    );
  }

  async #resolveTargets(targets: CampaignSpec['targets']): Promise<string[]> {
    if (Array.isArray(targets)) {
      const out = new Set<string>();
      for (const t of targets as unknown[]) {
        if (typeof t !== 'string' || t === '' || t.length > 1024)
          throw new FirmwareCampaignError(
            'bad-spec',
            'targets must be endpoint names (1 .. 1024 characters)',
          );
        out.add(t);
        if (out.size > this.#maxTargets) break;
      }
      return [...out];
    }
    if (targets === null || typeof targets !== 'object')
      throw new FirmwareCampaignError('bad-spec', 'targets must be a list of endpoints or a filter');
    const filter = targets as TargetFilter;
    let candidates: string[];
    if (filter.tags !== undefined && filter.tags.length > 0) {
      if (!this.#tags) throw new FirmwareCampaignError('bad-spec', 'a filter by tags needs the tag store');
      const sets = await Promise.all(filter.tags.map((tag) => this.#tags!.endpointsWith(tag)));
      candidates = sets.reduce((acc, s) => acc.filter((e) => s.includes(e)));
    } else {
      candidates = await this.#gateway.endpoints();
    }
    const prefix = filter.endpointPrefix;
    if (prefix !== undefined) candidates = candidates.filter((e) => e.startsWith(prefix));
    return [...new Set(candidates)].sort();
  }

  // ---- scheduling ----

  /** Waits for a slot: the campaign running, fewer than `concurrency` under way, the rate allowing. */
  #acquire(c: Campaign): Promise<void> {
    return new Promise((resolve) => {
      c.slotWaiters.push(resolve);
      this.#pump(c);
    });
  }

  #release(c: Campaign): void {
    c.inFlight--;
    this.#pump(c);
  }

  #pump(c: Campaign): void {
    if (c.status === 'cancelled') {
      for (const w of c.slotWaiters.splice(0)) w();
      return;
    }
    while (c.status === 'running' && c.slotWaiters.length > 0 && c.inFlight < c.settings.concurrency) {
      const now = this.#now();
      if (c.settings.rate !== null && now < c.nextStartAt) {
        if (c.pumpTimer === undefined)
          c.pumpTimer = setTimeout(() => {
            c.pumpTimer = undefined;
            this.#pump(c);
          }, c.nextStartAt - now);
        return;
      }
      if (c.settings.rate !== null) c.nextStartAt = Math.max(now, c.nextStartAt) + 1000 / c.settings.rate;
      c.inFlight++;
      c.slotWaiters.shift()!();
    }
  }

  /** Sleeps `ms`; rejects with Cancelled on cancel (unless `settling`); a nudge of `d` ends it early. */
  #sleep(c: Campaign, ms: number, d?: Device, settling = false): Promise<void> {
    // A shutdown ends even an update's wait: its outcome is asked for again after the restart.
    const stop = (): boolean => c.abort.signal.aborted && (!settling || c.shutdown);
    return new Promise((resolve, reject) => {
      if (stop()) return reject(new Cancelled());
      if (d?.nudged) {
        d.nudged = false;
        return resolve();
      }
      const done = (error?: Error): void => {
        clearTimeout(timer);
        c.abort.signal.removeEventListener('abort', onAbort);
        if (d) delete d.nudge;
        if (error) reject(error);
        else resolve();
      };
      const onAbort = (): void => {
        if (stop()) done(new Cancelled());
      };
      const timer = setTimeout(() => done(), ms);
      if (d) d.nudge = () => done();
      c.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves when the device registers, updates or wakes; rejects after `ms` or on cancel. */
  #waitForWake(c: Campaign, endpoint: string, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let waiters = this.#wakeWaiters.get(endpoint);
      if (!waiters) this.#wakeWaiters.set(endpoint, (waiters = new Set()));
      const set = waiters;
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        set.delete(wake);
        c.abort.signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const wake = (): void => finish();
      const onAbort = (): void => finish(new Cancelled());
      const timer = setTimeout(
        () => finish(new StepFailure(`the device did not register or wake within ${ms} ms`, false)),
        ms,
      );
      set.add(wake);
      if (c.abort.signal.aborted) onAbort();
      else c.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- one device ----

  #phase(c: Campaign, d: Device, phase: DevicePhase): void {
    if (d.phase === phase || c.shutdown) return;
    c.move(d, phase);
    const at = this.#now();
    if (d.history.length >= MAX_HISTORY) d.history.splice(1, 1);
    d.history.push({ phase, at });
    if (FINAL.has(phase)) d.timings.finishedAt = at;
    this.#timeline(c, { at, event: 'phase', endpoint: d.endpoint, phase });
    this.#emit(c, { type: 'device', device: deviceReport(d, c.image.size) });
    this.#dirty(c);
  }

  async #runDevice(c: Campaign, d: Device): Promise<void> {
    try {
      for (;;) {
        d.attempts++;
        try {
          await this.#attempt(c, d);
          break;
        } catch (e) {
          // A failure of an update that went on after a cancel is still a failure.
          if (e instanceof Cancelled || (c.abort.signal.aborted && d.phase !== 'updating'))
            throw new Cancelled();
          const failure =
            e instanceof StepFailure ? e : new StepFailure(e instanceof Error ? e.message : String(e), true);
          this.#revoke(d);
          if (failure.updateResult !== undefined) d.updateResult = failure.updateResult;
          d.reason = failure.message;
          if (!failure.retryable || d.attempts > c.settings.retries) {
            this.#phase(c, d, 'failed');
            break;
          }
          this.#phase(c, d, 'queued');
          await this.#sleep(c, c.settings.retryDelay * 2 ** (d.attempts - 1));
        }
      }
    } catch (e) {
      this.#revoke(d);
      // Stopping, not cancelling: the device stays as it is, for restore() to take up.
      if (c.shutdown) return;
      if (!(e instanceof Cancelled)) {
        d.reason = e instanceof Error ? e.message : String(e);
        this.#phase(c, d, 'failed');
      } else if (!FINAL.has(d.phase)) {
        // A package in hand (or a deferred update the device would ask about again) is dropped.
        if (d.phase === 'downloading' || d.phase === 'downloaded' || d.phase === 'deferred')
          void this.#gateway
            .execute(d.endpoint, '/5/0/10', c.settings.timeouts.request)
            .catch(() => undefined);
        d.reason = 'the campaign was cancelled';
        this.#phase(c, d, 'cancelled');
      }
    }
    this.#checkDone(c);
  }

  #revoke(d: Device): void {
    if (!d.grant) return;
    this.#download?.grants.revoke(d.grant.token);
    this.#byToken.delete(d.grant.token);
    delete d.grant;
  }

  #checkDone(c: Campaign): void {
    if (c.shutdown || c.finishedAt !== undefined || !c.allFinished) return;
    c.finishedAt = this.#now();
    if (c.status !== 'cancelled') c.status = 'completed';
    this.#timeline(c, { at: c.finishedAt, event: c.status === 'cancelled' ? 'ended' : 'completed' });
    c.bytesCache = undefined;
    clearTimeout(c.pumpTimer);
    this.#emitStatus(c);
    c.resolveDone();
  }

  /** One attempt from the slot to a final phase; throws StepFailure or Cancelled. */
  async #attempt(c: Campaign, d: Device): Promise<void> {
    const { timeouts } = c.settings;
    const gw = this.#gateway;
    const ep = d.endpoint;
    // A device that is not reachable holds no slot while it is waited for.
    for (;;) {
      await this.#acquire(c);
      if (c.abort.signal.aborted) throw new Cancelled();
      const reg = await gw.registration(ep);
      if (reg && (!reg.queueMode || gw.isAwake(ep))) break;
      this.#release(c);
      this.#phase(c, d, 'waiting');
      await this.#waitForWake(c, ep, timeouts.wait);
      this.#phase(c, d, 'queued');
    }
    try {
      await this.#update(c, d);
    } finally {
      this.#release(c);
    }
  }

  /** One request; `settling`: an update under way, whose outcome is wanted even after a cancel. */
  async #ask(
    c: Campaign,
    run: () => Promise<DeviceAnswer>,
    what: string,
    settling = false,
  ): Promise<DeviceAnswer> {
    const stop = (): boolean => c.abort.signal.aborted && (!settling || c.shutdown);
    if (stop()) throw new Cancelled();
    try {
      return await run();
    } catch (e) {
      if (stop()) throw new Cancelled();
      throw new StepFailure(`${what}: ${e instanceof Error ? e.message : String(e)}`, true);
    }
  }

  async #readState(c: Campaign, d: Device, settling = false): Promise<FirmwareState> {
    const r = await this.#ask(
      c,
      () => this.#gateway.read(d.endpoint, '/5/0', c.settings.timeouts.request),
      'Read /5/0',
      settling,
    );
    if (r.code !== '2.05')
      throw new StepFailure(
        `Read /5/0 answered ${r.code}${r.diagnostic ? ` (${r.diagnostic})` : ''}`,
        r.code.startsWith('5'),
      );
    const s = firmwareState(r.values);
    if (s.result !== undefined) d.updateResult = s.result;
    return s;
  }

  async #update(c: Campaign, d: Device): Promise<void> {
    const { timeouts } = c.settings;
    const gw = this.#gateway;
    const ep = d.endpoint;
    // Kept until the device answers: one that is restarting to install is asked again on retry.
    const resumed = d.resumeFrom;
    d.timings.startedAt ??= this.#now();
    this.#phase(c, d, 'checking');
    let s = await this.#readState(c, d);
    const v = await this.#ask(c, () => gw.read(ep, '/3/0/3', timeouts.request), 'Read /3/0/3');
    const current = v.code === '2.05' ? v.values?.['/3/0/3'] : undefined;
    delete d.resumeFrom;
    if (resumed !== undefined && (await this.#settleResumed(c, d, resumed, s, current))) return;
    if (typeof current === 'string') d.previousVersion = current;
    const filter = c.settings.filter;
    if (filter?.currentVersion !== undefined && d.previousVersion !== filter.currentVersion) {
      d.reason = `its firmware version is ${d.previousVersion ?? 'unknown'}, not ${filter.currentVersion}`;
      this.#phase(c, d, 'skipped');
      return;
    }
    if (s.state === 3) throw new StepFailure('the device is installing another update (State 3)', false);
    if (s.state === 1 || s.state === 2) {
      // Another package in hand: a new one never overwrites it, so it is cancelled first (/5/0/10).
      const cancel = await this.#ask(c, () => gw.execute(ep, '/5/0/10', timeouts.request), 'Execute /5/0/10');
      if (cancel.code !== '2.04')
        throw new StepFailure(
          `the device holds another package (State ${s.state}) and Cancel answered ${cancel.code}`,
          false,
        );
      s = await this.#readState(c, d);
    }
    const choice = this.#choose(c, s);
    d.method = choice.method;
    if (choice.scheme !== undefined) d.scheme = choice.scheme;
    await this.#watching(c, d, async () => {
      await this.#deliverPackage(c, d, choice);
      await this.#install(c, d, true);
    });
  }

  /** Runs `step` with /5/0 observed (when the campaign observes and the gateway can). */
  async #watching(c: Campaign, d: Device, step: () => Promise<void>): Promise<void> {
    const gw = this.#gateway;
    const stopWatch =
      c.settings.observe && gw.watch
        ? await gw
            .watch(
              d.endpoint,
              '/5/0',
              () => {
                if (d.nudge) d.nudge();
                else d.nudged = true;
              },
              c.settings.timeouts.request,
            )
            .catch(() => undefined)
        : undefined;
    try {
      await step();
    } finally {
      stopWatch?.();
    }
  }

  /**
   * A device restored in the middle of its update (the server restarted): where does it stand?
   * Settled (true) when the update completed or failed meanwhile, or when it holds the package
   * (State 2) or installs it (State 3), which goes on from there; false: start over.
   */
  async #settleResumed(
    c: Campaign,
    d: Device,
    resumed: DevicePhase,
    s: FirmwareState,
    current: unknown,
  ): Promise<boolean> {
    const executed = d.timings.executedAt !== undefined;
    if (executed && s.state === 0 && s.result === 1) {
      if (typeof current === 'string') d.version = current;
      d.timings.acceptedAt ??= this.#now();
      delete d.reason;
      this.#phase(c, d, 'succeeded');
      return true;
    }
    // A failure after Execute (Idle, or Downloaded with 8) is the update's outcome; 11 is a deferral.
    if (executed && s.result !== undefined && s.result > 1 && s.result !== 11)
      throw new StepFailure(resultText(s.result), false, s.result);
    if (s.state !== 2 && s.state !== 3) return false;
    await this.#watching(c, d, async () => {
      d.timings.downloadEndedAt ??= this.#now();
      if (s.state === 2) this.#phase(c, d, 'downloaded');
      // Downloaded (told to update before the restart or not): Execute; the device decides anew.
      await this.#install(c, d, s.state === 2);
    });
    return true;
  }

  /** Downloading until the device says Downloaded (push or pull). */
  async #deliverPackage(
    c: Campaign,
    d: Device,
    choice: { method: 'push' | 'pull'; scheme?: string },
  ): Promise<void> {
    const { timeouts } = c.settings;
    const gw = this.#gateway;
    const ep = d.endpoint;
    let s: FirmwareState;

    this.#phase(c, d, 'downloading');
    d.timings.downloadStartedAt = this.#now();
    c.setBytes(d, 0);
    const deadline = this.#now() + timeouts.download;
    if (choice.method === 'push') {
      c.bytesCache ??= this.#repository.read(c.image.id);
      const bytes = await c.bytesCache;
      if (!bytes) throw new StepFailure('the image is no longer in the repository', false);
      const w = await this.#ask(
        c,
        () => gw.writeOpaque(ep, '/5/0/0', bytes, timeouts.download),
        'Write /5/0/0',
      );
      if (w.code !== '2.04')
        throw new StepFailure(
          w.code === '4.13'
            ? 'the image is larger than the device can store (4.13)'
            : `Write /5/0/0 answered ${w.code}`,
          w.code.startsWith('5'),
          w.code === '4.13' ? 2 : undefined,
        );
      c.setBytes(d, c.image.size);
    } else {
      const grant = this.#download!.issue(c.image.id, ep);
      d.grant = grant;
      this.#byToken.set(grant.token, { campaign: c, device: d });
      const uri = this.#download!.uri(choice.scheme!, c.image.id, grant.token)!;
      const w = await this.#ask(c, () => gw.writeString(ep, '/5/0/1', uri, timeouts.request), 'Write /5/0/1');
      if (w.code !== '2.04') throw new StepFailure(`Write /5/0/1 answered ${w.code}`, w.code.startsWith('5'));
    }
    // Downloaded (2) ends the download; Idle (0) with a failure code ends it too.
    for (;;) {
      try {
        s = await this.#readState(c, d);
      } catch (e) {
        // No answer (the device restarts, its connection dropped): a pull goes on by itself and
        // resumes where it stopped, so the token stays valid and the campaign keeps asking until
        // the download deadline instead of cancelling and starting over.
        if (!(e instanceof StepFailure) || this.#now() > deadline) throw e;
        await this.#sleep(c, c.settings.pollInterval, d);
        continue;
      }
      if (s.state === 2) break;
      if (s.state === 0 && s.result !== undefined && s.result !== 0)
        throw new StepFailure(
          `download failed: ${resultText(s.result)}`,
          RETRYABLE_RESULTS.has(s.result),
          s.result,
        );
      if (this.#now() > deadline) throw new StepFailure(`no Downloaded within ${timeouts.download} ms`, true);
      await this.#sleep(c, c.settings.pollInterval, d);
    }
    if (d.method === 'push') c.setBytes(d, c.image.size);
    this.#revoke(d);
    d.timings.downloadEndedAt = this.#now();
    this.#phase(c, d, 'downloaded');
  }

  /** Execute /5/0/2 (when `execute`) and follow the update to its outcome. */
  async #install(c: Campaign, d: Device, execute: boolean): Promise<void> {
    const { timeouts } = c.settings;
    const gw = this.#gateway;
    const ep = d.endpoint;
    let s: FirmwareState;
    if (c.abort.signal.aborted) throw new Cancelled();
    if (execute) {
      await this.#execute(c, d);
      d.timings.executedAt = this.#now();
    }
    let updateDeadline = this.#now() + timeouts.update;
    let deferredAt: number | undefined;
    let lastExecute = this.#now();
    for (;;) {
      // An update under way is not undone by a cancel: its outcome is still reported.
      const settling = d.phase === 'updating';
      await this.#sleep(c, c.settings.pollInterval, d, settling);
      try {
        s = await this.#readState(c, d, settling);
      } catch (e) {
        // A device often restarts to install (it is unreachable, or registers again): no answer
        // is no outcome. Keep asking until the deadline rather than start the download over.
        if (!(e instanceof StepFailure)) throw e;
        if (this.#now() > updateDeadline)
          throw new StepFailure(
            `no outcome within ${timeouts.update} ms of Execute /5/0/2 (${e.message})`,
            false,
          );
        continue;
      }
      const now = this.#now();
      if (s.state === 3) {
        d.timings.acceptedAt ??= now;
        this.#phase(c, d, 'updating');
      } else if (s.state === 0 && s.result === 1) {
        d.timings.acceptedAt ??= now;
        const after = await this.#ask(
          c,
          () => gw.read(ep, '/3/0/3', timeouts.request),
          'Read /3/0/3',
          true,
        ).catch(() => undefined);
        const version = after?.code === '2.05' ? after.values?.['/3/0/3'] : undefined;
        if (typeof version === 'string') d.version = version;
        delete d.reason;
        this.#phase(c, d, 'succeeded');
        return;
      } else if (s.state === 2 && s.result === 11) {
        if (deferredAt === undefined) {
          deferredAt = now;
          d.deferrals++;
          // The device may defer for up to /5/0/13 seconds (LWM2M-1.2.md §6).
          const maxDefer = (s.maxDefer ?? 0) * 1000;
          updateDeadline = Math.max(updateDeadline, now + maxDefer + timeouts.update);
        }
        this.#phase(c, d, 'deferred');
        if (now - lastExecute >= c.settings.deferRetry) {
          await this.#execute(c, d);
          lastExecute = this.#now();
        }
      } else if (s.state === 2 && s.result === 0) {
        if (deferredAt !== undefined) deferredAt = undefined; // asked again, deciding
      } else if (s.state !== undefined && s.result !== undefined && s.result !== 0) {
        throw new StepFailure(
          s.result === 8 && deferredAt !== undefined
            ? `${resultText(8)} (deferred past the Maximum Defer Period /5/0/13, or refused)`
            : resultText(s.result),
          false,
          s.result,
        );
      }
      if (this.#now() > updateDeadline)
        throw new StepFailure(`no outcome within ${timeouts.update} ms of Execute /5/0/2`, false);
    }
  }

  async #execute(c: Campaign, d: Device): Promise<void> {
    const x = await this.#ask(
      c,
      () => this.#gateway.execute(d.endpoint, '/5/0/2', c.settings.timeouts.request),
      'Execute /5/0/2',
    );
    if (x.code !== '2.04') throw new StepFailure(`Execute /5/0/2 answered ${x.code}`, x.code.startsWith('5'));
  }

  /** Push or pull, and the scheme, from /5/0/9 and /5/0/8 (the server MUST NOT offer an unlisted scheme). */
  #choose(c: Campaign, s: FirmwareState): { method: 'push' | 'pull'; scheme?: string } {
    const delivery = s.delivery ?? 2;
    const takesPull = delivery === 0 || delivery === 2;
    const takesPush = delivery === 1 || delivery === 2;
    const offered = this.#download?.schemes() ?? [];
    const listed = s.protocols.map((p) => PROTOCOL_SCHEMES[p]).filter((x): x is string => x !== undefined);
    const scheme = offered.find((x) => listed.includes(x));
    const method = c.settings.method;
    if (method === 'push') {
      if (!takesPush) throw new StepFailure('the device takes no push (/5/0/9 = 0)', false);
      return { method: 'push' };
    }
    if (method === 'pull') {
      if (!takesPull) throw new StepFailure('the device takes no pull (/5/0/9 = 1)', false);
      if (scheme === undefined)
        throw new StepFailure(
          `no URI scheme the device lists in /5/0/8 (${listed.join(', ') || 'none'}) is served (${offered.join(', ') || 'none'})`,
          false,
        );
      return { method: 'pull', scheme };
    }
    if (takesPull && scheme !== undefined) return { method: 'pull', scheme };
    if (takesPush) return { method: 'push' };
    throw new StepFailure(
      `the device takes only pull and no scheme it lists in /5/0/8 (${listed.join(', ') || 'none'}) is served`,
      false,
    );
  }

  // ---- reports ----

  #timeline(c: Campaign, entry: TimelineEntry): void {
    c.timeline.push(entry);
    if (c.timeline.length > this.#maxTimeline) {
      const drop = c.timeline.length - this.#maxTimeline;
      c.timeline.splice(0, drop);
      c.timelineDropped += drop;
    }
  }

  #summary(c: Campaign): CampaignSummary {
    return {
      id: c.id,
      ...(c.spec.name === undefined ? {} : { name: c.spec.name }),
      image: imageFacts(c.image),
      status: c.status,
      createdAt: c.createdAt,
      ...(c.finishedAt === undefined ? {} : { finishedAt: c.finishedAt }),
      settings: c.settings,
      totals: c.totals(),
    };
  }

  #report(c: Campaign): CampaignReport {
    return {
      ...this.#summary(c),
      devices: c.devices.map((d) => deviceReport(d, c.image.size)),
      timeline: c.timeline.slice(),
      timelineDropped: c.timelineDropped,
    };
  }

  #emitStatus(c: Campaign): void {
    this.#emit(c, { type: 'status', status: c.status });
    this.#dirty(c, true);
  }

  #emit(c: Campaign, e: Pick<CampaignEvent, 'type' | 'status' | 'device'>): void {
    const event: CampaignEvent = {
      campaign: c.id,
      seq: ++this.#seq,
      at: this.#now(),
      ...e,
      totals: c.totals(),
    };
    try {
      this.emit('event', event);
    } catch (err) {
      this.#emitError(err);
    }
  }
}
