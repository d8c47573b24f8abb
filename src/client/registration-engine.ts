import { EventEmitter } from 'node:events';
import type { Clock } from '../clock.js';
import { PetrelError } from '../errors.js';
import { formatRegistrationPayload } from '../model/registration-payload.js';
import type { RegistrationPayload } from '../model/registration-payload.js';
import { sharedRegistrationPayloads } from '../model/registration-payload-cache.js';
import type { RegistrationPayloadInput } from '../model/registration-payload.js';
import { parseProfileId } from '../operations/profile-id.js';
import { BINDING_LETTERS } from '../operations/registration-parameters.js';
import type {
  DeregisterRequest,
  RegisterRequest,
  UpdateRequest,
  UplinkResponse,
} from '../operations/requests.js';
import type { ResultCode } from '../operations/result-code.js';
import { BOOTSTRAP_ONLY_OBJECTS } from '../operations/validation.js';
import { compareLwM2mVersions, parseLwM2mVersion, versionFeatures } from '../operations/version.js';
import type { LwM2mVersion } from '../operations/version.js';
import type { RandomSource } from '../random.js';
import { dynamicProfileId } from './profile-hash.js';
import type { ServerAccount } from './server-account.js';

/*
 * The client's registration engine (Core §6.2.1.1, §6.2.2, §6.2.3; LWM2M-1.2.md §1.2, §3.3, §5,
 * §8). It decides which servers to register with, when, and what to send; the network is the
 * `send` callback. Our reading of the procedures (the spec's flowcharts are images we do not have):
 *
 * Ordered Servers procedure: the accounts with /1/x/13 Registration Priority Order, ascending (ties
 * by Short Server ID). Each runs the Single Ordered Server procedure in turn, the next one only
 * after the previous one completed (registered or failed). Before each, its /1/x/14 Initial
 * Registration Delay, counted from that completion (from start() for the first), applied only
 * until the account's first successful registration after a bootstrap. If a server fails and its
 * /1/x/15 Registration Failure Block is true, the later servers are blocked, and its /1/x/16
 * Bootstrap on Registration Failure asks for a bootstrap; with Failure Block false the order
 * simply moves on (/1/x/16 is recommended only together with Failure Block, so we read it as
 * applying to the blocking case).
 *
 * Single Unordered Server procedure: every account without /1/x/13, independently, after its own
 * Initial Registration Delay counted from start(); on failure /1/x/16 asks for a bootstrap.
 *
 * Both single procedures retry the same way. A sequence is up to /1/x/17 Retry Count attempts;
 * after failed attempt n (< count) the next comes /1/x/18 Retry Timer × 2^(n−1) later (60, 120,
 * 240, 480 s by default). After the last attempt of a sequence the next sequence starts /1/x/19
 * Sequence Delay later, attempts counted from 1 again; after /1/x/20 Sequence Retry Count
 * sequences (or with a Sequence Delay of MAX_VALUE, 2^32−1) the registration has failed.
 *
 * What counts as a failed attempt: no response (the binding's 'timeout'), a 5.xx, a `send` that
 * throws, or a 2.xx without a location. A 4.xx is an explicit rejection: the registration fails at
 * once (/1/x/16 names a rejection as a failure of its own), except 4.12 (try the next lower version) and
 * 4.09 after a `pid` (register again at once with the full list and no pid).
 *
 * Updates: sent at lt − max(lt/10, 10 s) after the Register/Update left (never earlier than lt/2;
 * with a RandomSource the margin is stretched by a random factor up to 2, to spread a fleet);
 * none for lt = 0 (infinite). An Update carries only what differs from what the server last
 * accepted. A failed Update (4.04, or any other failure) starts a full Register procedure at once,
 * with the retry policy; Core §6.2.2 requires that after 4.04, and after a timeout the
 * registration's state on the server is unknown. Leaving queue mode from 1.1 on takes a new
 * Register, since an Update's `Q` can only switch it on.
 *
 * Versions: the first Register offers the preferred version (1.2), narrowed by /1/x/25; a 4.12
 * moves to the next lower one at once. The version that succeeded is kept per server and later
 * Registers start from it (bootstrapped() forgets it).
 *
 * Profile ID (1.2 only): 'dynamic' sends `pid` = dynamicProfileId(list) with the full list until a
 * Register (or an Update carrying list + pid) with that pid has succeeded, then the pid alone; a
 * pre-configured id is sent alone from the start. A 4.09 is answered at once with a Register with
 * the full list and no pid. The list is never left out when it has a root link (alternate path or
 * content formats), which a pid cannot carry.
 */

/** Spec defaults of the /1 registration resources (LWM2M-1.2.md §1.2 table, §4.2). */
export const REGISTRATION_DEFAULTS = Object.freeze({
  initialDelay: 0,
  failureBlock: false,
  bootstrapOnFailure: true,
  retryCount: 5,
  retryTimer: 60,
  sequenceDelay: 86400,
  sequenceRetryCount: 1,
  disableTimeout: 86400,
});

/** /1/x/19 at this value or above: never start another sequence. */
export const NEVER_SEQUENCE_DELAY = 0xffff_ffff;

/** Host timers hold at most 2^31−1 ms; longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const CLIENT_VERSIONS: readonly LwM2mVersion[] = ['1.2', '1.1', '1.0'];

export type ServerState = 'idle' | 'registering' | 'registered' | 'waiting-retry' | 'disabled' | 'failed';

export interface RegistrationFailure {
  readonly operation: 'register' | 'update' | 'deregister';
  /** The response code, or 'timeout' (no response), or 'error' (`send` threw, bad objects()). */
  readonly code: ResultCode | 'timeout' | 'error';
  readonly message: string;
  /** Clock time (ms). */
  readonly at: number;
  /** Seconds the server asked to wait (Max-Age of a 5.03 or 4.29); the next attempt waits at least that. */
  readonly retryAfter?: number;
}

/** A snapshot of one server's registration. */
export interface ServerStatus {
  readonly shortServerId: number;
  readonly state: ServerState;
  /** The registration id (last Location-Path segment) while registered. */
  readonly registrationId: string | undefined;
  /** The enabler version negotiated with this server (the last successful Register). */
  readonly version: LwM2mVersion | undefined;
  readonly lastError: RegistrationFailure | undefined;
  /** Attempt and sequence of the current (or last) registration procedure, from 1. */
  readonly attempt: number;
  readonly sequence: number;
  /** When the next Register attempt (or the re-Register after Disable) is due (clock ms). */
  readonly nextAttemptAt: number | undefined;
  /** When the next lifetime Update is due (clock ms). */
  readonly nextUpdateAt: number | undefined;
  /** The server whose failure blocks this one (Registration Failure Block). */
  readonly blockedBy: number | undefined;
  /** The binding last asked for by a Registration Update Trigger argument. */
  readonly requestedBinding: string | undefined;
}

export interface BootstrapNeeded {
  readonly shortServerId: number;
  /** 'rejected': a 4.xx; 'failed': the retry policy ran out. */
  readonly reason: 'rejected' | 'failed';
  readonly failure: RegistrationFailure;
}

/** Why a message is sent, for the binding (e.g. a wake-up Update goes CON, T12 §Queue Mode). */
export type SendReason =
  | 'register'
  | 'lifetime'
  | 'update'
  | 'trigger'
  | 'objects-changed'
  | 'wake'
  | 'deregister'
  | 'disable'
  | 'stop';

export interface SendContext {
  readonly reason: SendReason;
}

export type RegistrationSend = (
  account: ServerAccount,
  request: RegisterRequest | UpdateRequest | DeregisterRequest,
  context: SendContext,
) => Promise<UplinkResponse | 'timeout'>;

export interface RegistrationEngineOptions {
  readonly clock: Clock;
  /** `ep`; undefined lets the server take the security identity. */
  readonly endpoint: string | undefined;
  /** The current server accounts (read again at every attempt, so writes to /1 take effect). */
  readonly accounts: () => readonly ServerAccount[];
  /** The current object list. /0, /21, /23, /24 are dropped (never announced, Core §6.2.1). */
  readonly objects: () => RegistrationPayloadInput;
  readonly send: RegistrationSend;
  /** The version to register with first (default 1.2). */
  readonly preferredVersion?: LwM2mVersion;
  /** 'none' (default), 'dynamic' (`6:` + hash of the list) or a pre-configured `oma:`/`v:` id. */
  readonly profileId?: string;
  readonly onBootstrapNeeded?: (needed: BootstrapNeeded) => void;
  /** Spreads the lifetime Updates of many clients; without it, Update times are exact. */
  readonly random?: RandomSource;
}

/** One-shot values for an Update, for callers whose accounts() does not show them yet. */
export interface RegistrationChanges {
  readonly lifetime?: number;
  readonly binding?: string;
  readonly queueMode?: boolean;
  readonly sms?: string;
}

export type RegistrationEngineEvents = {
  state: [change: { shortServerId: number; from: ServerState; to: ServerState }];
  registered: [info: { shortServerId: number; registrationId: string; version: LwM2mVersion }];
  updated: [info: { shortServerId: number; request: UpdateRequest }];
  deregistered: [info: { shortServerId: number; registrationId: string }];
  'attempt-failed': [
    info: { shortServerId: number; failure: RegistrationFailure; attempt: number; sequence: number },
  ];
  'version-fallback': [info: { shortServerId: number; from: LwM2mVersion; to: LwM2mVersion }];
  failed: [info: { shortServerId: number; failure: RegistrationFailure }];
  blocked: [info: { shortServerId: number; blockedBy: number }];
  'bootstrap-needed': [needed: BootstrapNeeded];
  'binding-requested': [info: { shortServerId: number; binding: string }];
  sleep: [];
  wake: [];
  error: [error: unknown];
};

export type RegistrationEngineErrorReason = 'unknown-server' | 'bad-binding' | 'bad-option';

export class RegistrationEngineError extends PetrelError {
  readonly reason: RegistrationEngineErrorReason;
  constructor(reason: RegistrationEngineErrorReason, message: string) {
    super('PETREL_ERR_REGISTRATION_ENGINE', message);
    this.reason = reason;
  }
}

/**
 * Thrown by a RegistrationSend when the transport refused the server for good, e.g. a fatal
 * (D)TLS alert of the "Fail" class (Transport TS §Security: 42-46, 48, 49, 112-115): the
 * registration fails at once, as after a 4.xx, instead of being retried.
 */
export class UplinkRefusedError extends PetrelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_UPLINK_REFUSED', message, options);
  }
}

/**
 * The versions to offer a server, best first: ours up to `preferred`, narrowed to those /1/x/25
 * names (patch levels ignored, 1.2.1 = 1.2). When /1/x/25 names none of ours (only newer ones, or
 * nothing valid), all of ours: a newer server should accept an older client (Core §5.2).
 */
export function versionCandidates(
  preferred: LwM2mVersion = '1.2',
  supportedVersions?: readonly string[],
): LwM2mVersion[] {
  const ours = CLIENT_VERSIONS.filter((v) => compareLwM2mVersions(v, preferred) <= 0);
  if (supportedVersions === undefined || supportedVersions.length === 0) return ours;
  const theirs = new Set<string>();
  for (const text of supportedVersions) {
    try {
      theirs.add(parseLwM2mVersion(text).enabler);
    } catch {
      // a malformed /1/x/25 entry names no version
    }
  }
  const both = ours.filter((v) => theirs.has(v));
  return both.length > 0 ? both : ours;
}

/**
 * When the lifetime Update is due, in ms after the last Register/Update left: lt − max(lt/10,
 * 10 s), at least lt/2; `stretch` (1..2) widens the margin. undefined for lt = 0 (never expires).
 */
export function updateDelayMs(lifetime: number, stretch = 1): number | undefined {
  if (!(lifetime > 0)) return undefined;
  const margin = Math.max(lifetime / 10, 10) * stretch;
  return Math.round(Math.max(lifetime - margin, lifetime / 2) * 1000);
}

/** What the server last accepted from us (Register, then each Update). */
interface Registered {
  readonly lifetime: number;
  readonly binding: string;
  readonly queueMode: boolean;
  readonly sms: string | undefined;
  /** The formatted object list (with its root link): compared as text. */
  readonly objectsText: string;
}

interface Desired extends Registered {
  readonly input: RegistrationPayloadInput;
}

type Outcome =
  | { readonly kind: 'response'; readonly response: UplinkResponse }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly error: unknown };

type ProcedureOutcome = 'registered' | 'rejected' | 'failed' | 'cancelled';

interface UpdateOptions {
  readonly reason: SendReason;
  readonly forceObjects?: boolean;
  readonly changes?: RegistrationChanges;
}

interface Entry {
  readonly ssid: number;
  account: ServerAccount;
  state: ServerState;
  registrationId: string | undefined;
  version: LwM2mVersion | undefined;
  registered: Registered | undefined;
  lastError: RegistrationFailure | undefined;
  attempt: number;
  sequence: number;
  /** Versions to try in the current procedure, and which one is next. */
  versions: LwM2mVersion[];
  versionIndex: number;
  /** The pid the server accepted in the last successful Register or Update that carried one. */
  knownPid: string | undefined;
  /** After a 4.09: the next Register goes with the full list and no pid. */
  skipPid: boolean;
  /** Initial Registration Delay applies until this is true (reset by bootstrapped()). */
  registeredSinceBootstrap: boolean;
  /** Bumped whenever the entry's work is cancelled: a response for an older epoch is stale. */
  epoch: number;
  timer: (() => void) | undefined;
  nextAttemptAt: number | undefined;
  nextUpdateAt: number | undefined;
  blockedBy: number | undefined;
  requestedBinding: string | undefined;
  onDone: ((outcome: ProcedureOutcome) => void) | undefined;
  /** Updates run one after the other. */
  updates: Promise<void>;
}

interface OrderedRun {
  readonly queue: number[];
}

/**
 * The registration state machine of an LwM2M client, one entry per server account. States:
 * idle → registering (→ waiting-retry → registering …) → registered | failed; registered →
 * disabled (Disable) → registering; any → idle (de-register, stop).
 */
export class RegistrationEngine extends EventEmitter<RegistrationEngineEvents> {
  readonly #o: RegistrationEngineOptions;
  readonly #clock: Clock;
  readonly #preferred: LwM2mVersion;
  readonly #pidMode: 'none' | 'dynamic' | 'pre-configured';
  readonly #entries = new Map<number, Entry>();
  #running = false;
  #ordered: OrderedRun | undefined;
  #asleep = false;

  constructor(options: RegistrationEngineOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock;
    this.#preferred = options.preferredVersion ?? '1.2';
    if (!CLIENT_VERSIONS.includes(this.#preferred))
      throw new RegistrationEngineError(
        'bad-option',
        `preferredVersion ${String(this.#preferred)} is not 1.0, 1.1 or 1.2`,
      );
    const pid = options.profileId ?? 'none';
    if (pid === 'none' || pid === 'dynamic') this.#pidMode = pid;
    else {
      let kind: string | undefined;
      try {
        kind = parseProfileId(pid).kind;
      } catch {
        // reported below
      }
      if (kind !== 'pre-configured')
        throw new RegistrationEngineError(
          'bad-option',
          `profileId "${pid.slice(0, 24)}" is not 'none', 'dynamic' or a pre-configured oma:…/v:… id`,
        );
      this.#pidMode = 'pre-configured';
    }
  }

  get running(): boolean {
    return this.#running;
  }

  /** True between sleep() and the next uplink. */
  get asleep(): boolean {
    return this.#asleep;
  }

  // ---- reading state ----

  state(ssid: number): ServerState | undefined {
    return this.#entries.get(ssid)?.state;
  }

  status(ssid: number): ServerStatus | undefined {
    const e = this.#entries.get(ssid);
    return e === undefined ? undefined : statusOf(e);
  }

  statuses(): ServerStatus[] {
    return [...this.#entries.values()].map(statusOf);
  }

  /** The enabler version in use with a server, so the request handler can restrict features. */
  versionFor(ssid: number): LwM2mVersion | undefined {
    return this.#entries.get(ssid)?.version;
  }

  // ---- control ----

  /** Starts the Ordered and Single Unordered procedures for every account not yet registered. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#syncEntries();
    const ordered: Entry[] = [];
    for (const e of this.#entries.values()) {
      if (e.state !== 'idle' && e.state !== 'failed') continue;
      if (e.account.priorityOrder !== undefined) ordered.push(e);
      else this.#beginProcedure(e, this.#initialDelayMs(e));
    }
    ordered.sort(byPriority);
    this.#ordered = { queue: ordered.map((e) => e.ssid) };
    this.#nextOrdered(this.#ordered);
  }

  /** De-registers from every server and cancels every timer; start() begins again. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#ordered = undefined;
    await Promise.all([...this.#entries.values()].map((e) => this.#deregisterEntry(e, 'idle', 'stop')));
  }

  /**
   * De-registers from one server (or all) and leaves it idle: no re-registration until start()
   * (after stop()) or accountsChanged() brings it back.
   */
  async deregister(ssid?: number): Promise<void> {
    if (ssid === undefined) this.#ordered = undefined;
    await Promise.all(this.#targets(ssid).map((e) => this.#deregisterEntry(e, 'idle', 'deregister')));
  }

  /**
   * Execute /1/x/4 Disable: De-register, stay silent for /1/x/5 Disable Timeout, then Register
   * again. Call it after the Execute has been answered (the answer goes first, Core §5.4.5).
   */
  async disable(ssid: number): Promise<void> {
    const entry = this.#entry(ssid);
    const account = this.#account(entry);
    const seconds = account.disableTimeout ?? REGISTRATION_DEFAULTS.disableTimeout;
    const deregistered = this.#deregisterEntry(entry, 'disabled', 'disable');
    entry.nextAttemptAt = this.#clock.now() + seconds * 1000;
    entry.timer = this.#after(seconds * 1000, () => {
      entry.timer = undefined;
      entry.nextAttemptAt = undefined;
      if (this.#running) this.#beginProcedure(entry, 0);
      else this.#setState(entry, 'idle');
    });
    await deregistered;
  }

  /**
   * An Update to one server (or every registered one) with the parameters that changed since the
   * server last accepted them (lt, b, Q, sms, object list); with nothing changed it only refreshes
   * the lifetime. `changes` are one-shot values over the account's.
   */
  async update(ssid?: number, changes?: RegistrationChanges): Promise<void> {
    const opts: UpdateOptions = changes === undefined ? { reason: 'update' } : { reason: 'update', changes };
    await Promise.all(this.#targets(ssid).map((e) => this.#update(e, opts)));
  }

  /** The object list changed: an Update with the full new list to every registered server. */
  async objectsChanged(): Promise<void> {
    await Promise.all(
      [...this.#entries.values()].map((e) =>
        this.#update(e, { reason: 'objects-changed', forceObjects: true }),
      ),
    );
  }

  /**
   * Execute /1/x/8 Registration Update Trigger: an Update now (a server waiting for its next
   * attempt is tried at once). `binding` is the optional argument (`0='U'`): one letter of the
   * account's /1/x/7, recorded (status.requestedBinding, 'binding-requested') for the transport
   * layer, which does the switch. Throws RegistrationEngineError 'unknown-server' / 'bad-binding'.
   */
  async registrationUpdateTrigger(ssid: number, binding?: string): Promise<void> {
    const entry = this.#entry(ssid);
    if (binding !== undefined) {
      const account = this.#account(entry);
      if (
        binding.length !== 1 ||
        !(BINDING_LETTERS as readonly string[]).includes(binding) ||
        !account.binding.includes(binding)
      )
        throw new RegistrationEngineError(
          'bad-binding',
          `binding "${binding.slice(0, 8)}" is not one of server ${ssid}'s bindings "${account.binding}"`,
        );
      entry.requestedBinding = binding;
      this.emit('binding-requested', { shortServerId: ssid, binding });
    }
    if (entry.state === 'waiting-retry') {
      this.#cancelTimer(entry);
      await this.#attempt(entry);
    } else await this.#update(entry, { reason: 'trigger' });
  }

  /** Queue mode: the client goes to sleep (the binding stops listening). */
  sleep(): void {
    if (this.#asleep) return;
    this.#asleep = true;
    this.emit('sleep');
  }

  /** Queue mode: the client is awake again and says so with an Update to every registered server. */
  async wake(): Promise<void> {
    this.#awake();
    await Promise.all([...this.#entries.values()].map((e) => this.#update(e, { reason: 'wake' })));
  }

  /**
   * Reads accounts() again: new accounts start registering (in the running ordered procedure if
   * it has not finished, else on their own), removed ones are dropped without a De-register (their
   * URI and credentials are gone), a changed URI counts as removed + new, and other changes
   * (lifetime, binding …) go out in an Update.
   */
  async accountsChanged(): Promise<void> {
    const fresh = new Map(this.#o.accounts().map((a) => [a.shortServerId, a]));
    const updates: Promise<void>[] = [];
    for (const entry of [...this.#entries.values()]) {
      const account = fresh.get(entry.ssid);
      if (account === undefined || account.uri !== entry.account.uri) {
        this.#drop(entry);
        continue;
      }
      const before = entry.account;
      entry.account = account;
      if (String(before.supportedVersions) !== String(account.supportedVersions)) entry.version = undefined;
      if (entry.state === 'registered') updates.push(this.#update(entry, { reason: 'update' }));
    }
    for (const account of fresh.values()) {
      if (this.#entries.has(account.shortServerId)) continue;
      const entry = this.#newEntry(account);
      if (!this.#running) continue;
      const run = this.#ordered;
      if (account.priorityOrder !== undefined && run !== undefined) {
        run.queue.push(entry.ssid);
        run.queue.sort((a, b) => byPriority(this.#entries.get(a)!, this.#entries.get(b)!));
      } else this.#beginProcedure(entry, this.#initialDelayMs(entry));
    }
    await Promise.all(updates);
  }

  /**
   * A bootstrap completed: Initial Registration Delays apply again, and versions and profile ids
   * are negotiated afresh.
   */
  bootstrapped(): void {
    for (const e of this.#entries.values()) {
      e.registeredSinceBootstrap = false;
      e.version = undefined;
      e.knownPid = undefined;
    }
  }

  // ---- procedures ----

  #syncEntries(): void {
    for (const account of this.#o.accounts()) {
      const entry = this.#entries.get(account.shortServerId);
      if (entry === undefined) this.#newEntry(account);
      else if (entry.account.uri !== account.uri) {
        this.#drop(entry);
        this.#newEntry(account);
      } else entry.account = account;
    }
  }

  #newEntry(account: ServerAccount): Entry {
    const entry: Entry = {
      ssid: account.shortServerId,
      account,
      state: 'idle',
      registrationId: undefined,
      version: undefined,
      registered: undefined,
      lastError: undefined,
      attempt: 0,
      sequence: 0,
      versions: [],
      versionIndex: 0,
      knownPid: undefined,
      skipPid: false,
      registeredSinceBootstrap: false,
      epoch: 0,
      timer: undefined,
      nextAttemptAt: undefined,
      nextUpdateAt: undefined,
      blockedBy: undefined,
      requestedBinding: undefined,
      onDone: undefined,
      updates: Promise.resolve(),
    };
    this.#entries.set(entry.ssid, entry);
    return entry;
  }

  #drop(entry: Entry): void {
    this.#cancel(entry);
    this.#entries.delete(entry.ssid);
    this.#setState(entry, 'idle');
    this.#finish(entry, 'cancelled');
  }

  #initialDelayMs(entry: Entry): number {
    if (entry.registeredSinceBootstrap) return 0;
    return (entry.account.initialDelay ?? REGISTRATION_DEFAULTS.initialDelay) * 1000;
  }

  /** Ordered Servers procedure: the next server in the order, once the previous one completed. */
  #nextOrdered(run: OrderedRun): void {
    if (this.#ordered !== run) return;
    const ssid = run.queue.shift();
    if (ssid === undefined) {
      this.#ordered = undefined;
      return;
    }
    const entry = this.#entries.get(ssid);
    if (entry === undefined || (entry.state !== 'idle' && entry.state !== 'failed')) {
      this.#nextOrdered(run);
      return;
    }
    this.#beginProcedure(entry, this.#initialDelayMs(entry), (outcome) => {
      if (this.#ordered !== run) return;
      const account = entry.account;
      const failed = outcome === 'failed' || outcome === 'rejected';
      if (failed && (account.failureBlock ?? REGISTRATION_DEFAULTS.failureBlock)) {
        this.#ordered = undefined;
        for (const blocked of run.queue) {
          const b = this.#entries.get(blocked);
          if (b === undefined) continue;
          b.blockedBy = entry.ssid;
          this.emit('blocked', { shortServerId: blocked, blockedBy: entry.ssid });
        }
        if (account.bootstrapOnFailure ?? REGISTRATION_DEFAULTS.bootstrapOnFailure)
          this.#bootstrapNeeded(entry, outcome);
        return;
      }
      this.#nextOrdered(run);
    });
  }

  /** A Single (Ordered or Unordered) Server procedure: sequence 1, attempt 1, after `delayMs`. */
  #beginProcedure(entry: Entry, delayMs: number, onDone?: (outcome: ProcedureOutcome) => void): void {
    this.#cancel(entry);
    entry.onDone = onDone;
    entry.attempt = 1;
    entry.sequence = 1;
    entry.blockedBy = undefined;
    const account = this.#account(entry);
    let versions = versionCandidates(this.#preferred, account.supportedVersions);
    const remembered = entry.version;
    if (remembered !== undefined) {
      const lower = versions.filter((v) => compareLwM2mVersions(v, remembered) <= 0);
      if (lower.length > 0) versions = lower;
    }
    entry.versions = versions;
    entry.versionIndex = 0;
    if (delayMs > 0) this.#waitThenAttempt(entry, delayMs, 'registering');
    else void this.#attempt(entry);
  }

  #waitThenAttempt(entry: Entry, delayMs: number, state: ServerState): void {
    this.#cancelTimer(entry);
    this.#setState(entry, state);
    entry.nextAttemptAt = this.#clock.now() + delayMs;
    entry.timer = this.#after(delayMs, () => {
      entry.timer = undefined;
      void this.#attempt(entry);
    });
  }

  /** One Register attempt (and the immediate re-sends after 4.12 and 4.09). Never rejects. */
  async #attempt(entry: Entry): Promise<void> {
    try {
      await this.#attemptOnce(entry);
    } catch (e) {
      this.emit('error', e);
    }
  }

  async #attemptOnce(entry: Entry): Promise<void> {
    for (;;) {
      const epoch = entry.epoch;
      entry.nextAttemptAt = undefined;
      this.#setState(entry, 'registering');
      const account = this.#account(entry);
      const version = entry.versions[entry.versionIndex] ?? this.#preferred;
      let built: { request: RegisterRequest; registered: Registered; pid: string | undefined };
      try {
        built = this.#buildRegister(entry, account, version);
      } catch (e) {
        this.#attemptFailed(entry, this.#failure('register', 'error', message(e)));
        return;
      }
      const sentAt = this.#clock.now();
      const outcome = await this.#send(account, built.request, 'register');
      if (entry.epoch !== epoch || this.#entries.get(entry.ssid) !== entry) {
        this.#cleanUpStale(account, outcome);
        return;
      }
      if (outcome.kind === 'error' && outcome.error instanceof UplinkRefusedError) {
        this.#procedureFailed(entry, this.#outcomeFailure('register', outcome), 'rejected');
        return;
      }
      if (outcome.kind !== 'response') {
        this.#attemptFailed(entry, this.#outcomeFailure('register', outcome));
        return;
      }
      const { response } = outcome;
      const code = response.code;
      if (code.startsWith('2.')) {
        if (response.registrationId === undefined || response.registrationId === '') {
          this.#attemptFailed(
            entry,
            this.#failure('register', 'error', `${code} without a registration location`),
          );
          return;
        }
        this.#registered(entry, version, built, response.registrationId, sentAt);
        return;
      }
      const failure: RegistrationFailure = {
        ...this.#failure('register', code, response.diagnostic ?? `Register answered ${code}`),
        ...(response.retryAfter === undefined ? {} : { retryAfter: response.retryAfter }),
      };
      if (code === '4.12' && entry.versionIndex + 1 < entry.versions.length) {
        entry.lastError = failure;
        entry.versionIndex++;
        const to = entry.versions[entry.versionIndex]!;
        this.emit('version-fallback', { shortServerId: entry.ssid, from: version, to });
        continue;
      }
      if (code === '4.09' && built.pid !== undefined) {
        entry.lastError = failure;
        entry.knownPid = undefined;
        entry.skipPid = true;
        continue;
      }
      // 4.29 Too Many Requests (RFC 8516) is a "later", not a refusal: retried after its Max-Age.
      if (code.startsWith('4.') && code !== '4.29') this.#procedureFailed(entry, failure, 'rejected');
      else this.#attemptFailed(entry, failure);
      return;
    }
  }

  #buildRegister(
    entry: Entry,
    account: ServerAccount,
    version: LwM2mVersion,
  ): { request: RegisterRequest; registered: Registered; pid: string | undefined } {
    const desired = this.#desired(account);
    let pid: string | undefined;
    let omitList = false;
    if (versionFeatures(version).profileId && !entry.skipPid && this.#pidMode !== 'none') {
      const hasRootLink =
        desired.input.alternatePath !== undefined || desired.input.contentFormats !== undefined;
      if (this.#pidMode === 'dynamic') {
        pid = dynamicProfileId(desired.input.objects);
        omitList = entry.knownPid === pid && !hasRootLink;
      } else {
        pid = parseProfileId(this.#o.profileId!).text;
        omitList = !hasRootLink;
      }
    }
    entry.skipPid = false;
    const request: RegisterRequest = {
      kind: 'register',
      endpoint: this.#o.endpoint,
      lifetime: desired.lifetime,
      lwm2mVersion: version,
      binding: desired.binding,
      queueMode: desired.queueMode,
      sms: desired.sms,
      profileIds: pid === undefined ? [] : [pid],
      objects: omitList ? undefined : objectList(desired.objectsText),
      extraParameters: new Map(),
    };
    const { input: _input, ...registered } = desired;
    return { request, registered, pid };
  }

  #registered(
    entry: Entry,
    version: LwM2mVersion,
    built: { registered: Registered; pid: string | undefined },
    registrationId: string,
    sentAt: number,
  ): void {
    entry.registrationId = registrationId;
    entry.version = version;
    entry.registered = built.registered;
    entry.knownPid = built.pid;
    entry.registeredSinceBootstrap = true;
    this.#setState(entry, 'registered');
    this.emit('registered', { shortServerId: entry.ssid, registrationId, version });
    this.#scheduleUpdate(entry, sentAt);
    this.#finish(entry, 'registered');
  }

  /** A failed attempt: the next one after the back-off, the next sequence, or the end. */
  #attemptFailed(entry: Entry, failure: RegistrationFailure): void {
    entry.lastError = failure;
    this.emit('attempt-failed', {
      shortServerId: entry.ssid,
      failure,
      attempt: entry.attempt,
      sequence: entry.sequence,
    });
    const a = entry.account;
    const retryCount = Math.max(1, a.retryCount ?? REGISTRATION_DEFAULTS.retryCount);
    const retryTimer = a.retryTimer ?? REGISTRATION_DEFAULTS.retryTimer;
    const sequenceRetryCount = Math.max(1, a.sequenceRetryCount ?? REGISTRATION_DEFAULTS.sequenceRetryCount);
    const sequenceDelay = a.sequenceDelay ?? REGISTRATION_DEFAULTS.sequenceDelay;
    if (entry.attempt < retryCount) {
      // An overloaded server's Max-Age (5.03, 4.29) stretches the back-off, never shortens it.
      const delay = Math.max(retryTimer * 2 ** (entry.attempt - 1), failure.retryAfter ?? 0) * 1000;
      entry.attempt++;
      this.#waitThenAttempt(entry, delay, 'waiting-retry');
    } else if (entry.sequence < sequenceRetryCount && sequenceDelay < NEVER_SEQUENCE_DELAY) {
      entry.sequence++;
      entry.attempt = 1;
      this.#waitThenAttempt(entry, sequenceDelay * 1000, 'waiting-retry');
    } else this.#procedureFailed(entry, failure, 'failed');
  }

  #procedureFailed(entry: Entry, failure: RegistrationFailure, reason: 'rejected' | 'failed'): void {
    entry.lastError = failure;
    entry.nextAttemptAt = undefined;
    this.#setState(entry, 'failed');
    this.emit('failed', { shortServerId: entry.ssid, failure });
    if (entry.onDone !== undefined) {
      this.#finish(entry, reason);
      return;
    }
    const a = entry.account;
    const bootstrap =
      a.priorityOrder === undefined
        ? (a.bootstrapOnFailure ?? REGISTRATION_DEFAULTS.bootstrapOnFailure)
        : (a.failureBlock ?? REGISTRATION_DEFAULTS.failureBlock) &&
          (a.bootstrapOnFailure ?? REGISTRATION_DEFAULTS.bootstrapOnFailure);
    if (bootstrap) this.#bootstrapNeeded(entry, reason);
  }

  #bootstrapNeeded(entry: Entry, reason: 'rejected' | 'failed'): void {
    const failure = entry.lastError ?? this.#failure('register', 'error', 'registration failed');
    const needed: BootstrapNeeded = { shortServerId: entry.ssid, reason, failure };
    this.emit('bootstrap-needed', needed);
    this.#o.onBootstrapNeeded?.(needed);
  }

  #finish(entry: Entry, outcome: ProcedureOutcome): void {
    const done = entry.onDone;
    entry.onDone = undefined;
    done?.(outcome);
  }

  // ---- updates ----

  /** Queues an Update behind the entry's previous one; the chain survives a failed one. */
  #update(entry: Entry, opts: UpdateOptions): Promise<void> {
    const run = entry.updates.then(() => this.#updateOnce(entry, opts));
    entry.updates = run.catch(() => undefined);
    return run;
  }

  async #updateOnce(entry: Entry, opts: UpdateOptions): Promise<void> {
    const registrationId = entry.registrationId;
    const last = entry.registered;
    const version = entry.version;
    if (
      entry.state !== 'registered' ||
      registrationId === undefined ||
      last === undefined ||
      version === undefined
    )
      return;
    const epoch = entry.epoch;
    const account = this.#account(entry);
    // A faulty objects() must not let the registration expire: the Update then keeps the last list.
    let objects: { input: RegistrationPayloadInput; objectsText: string } | undefined;
    try {
      objects = this.#objectList();
    } catch (e) {
      entry.lastError = this.#failure('update', 'error', message(e));
    }
    const desired = this.#desired(
      account,
      opts.changes,
      objects ?? { input: { objects: [] }, objectsText: last.objectsText },
    );
    const legacy = !versionFeatures(version).queueModeFlag;
    if (last.queueMode && !desired.queueMode && !legacy) {
      // From 1.1 `Q` is a flag an Update can only set; leaving queue mode takes a new Register.
      this.#reRegister(entry);
      return;
    }
    const request: { -readonly [K in keyof UpdateRequest]: UpdateRequest[K] } = {
      kind: 'update',
      registrationId,
    };
    if (desired.lifetime !== last.lifetime) request.lifetime = desired.lifetime;
    const bindingChanged = desired.binding !== last.binding;
    const queueChanged = desired.queueMode !== last.queueMode;
    if (legacy) {
      // 1.0 writes queue mode into `b` (UQ): both travel together.
      if (bindingChanged || queueChanged) {
        request.binding = desired.binding;
        request.queueMode = desired.queueMode;
      }
    } else {
      if (bindingChanged) request.binding = desired.binding;
      if (queueChanged) request.queueMode = true;
    }
    if (desired.sms !== undefined && desired.sms !== last.sms) request.sms = desired.sms;
    let pid: string | undefined;
    if (objects !== undefined && (opts.forceObjects === true || desired.objectsText !== last.objectsText)) {
      request.objects = objectList(desired.objectsText);
      if (this.#pidMode === 'dynamic' && versionFeatures(version).profileId) {
        // The new list under its new id, so the server learns it (Core §6.2.1).
        pid = dynamicProfileId(desired.input.objects);
        request.profileIds = [pid];
      }
    }
    this.#cancelTimer(entry);
    entry.nextUpdateAt = undefined;
    const sentAt = this.#clock.now();
    const outcome = await this.#send(account, request, opts.reason);
    if (entry.epoch !== epoch || entry.state !== 'registered') return;
    if (outcome.kind === 'response' && outcome.response.code.startsWith('2.')) {
      const { input: _input, ...registered } = desired;
      entry.registered = registered;
      if (pid !== undefined) entry.knownPid = pid;
      this.emit('updated', { shortServerId: entry.ssid, request });
      this.#scheduleUpdate(entry, sentAt);
      return;
    }
    entry.lastError = this.#outcomeFailure('update', outcome);
    const retryAfter = outcome.kind === 'response' ? outcome.response.retryAfter : undefined;
    if (retryAfter !== undefined) {
      // The server is busy (5.03) or this client sends too much (4.29): the registration still
      // stands, so the Update is sent again after the Max-Age rather than a Register now.
      entry.timer = this.#after(retryAfter * 1000, () => {
        entry.timer = undefined;
        this.#update(entry, opts).catch((e: unknown) => this.emit('error', e));
      });
      return;
    }
    this.#reRegister(entry);
  }

  /** The registration is gone or in doubt: a full Register procedure, at once. */
  #reRegister(entry: Entry): void {
    entry.registrationId = undefined;
    entry.registered = undefined;
    this.#beginProcedure(entry, 0);
  }

  #scheduleUpdate(entry: Entry, fromMs: number): void {
    const stretch = this.#o.random === undefined ? 1 : 1 + this.#o.random.next();
    const delay = updateDelayMs(this.#account(entry).lifetime, stretch);
    this.#cancelTimer(entry);
    entry.nextUpdateAt = undefined;
    if (delay === undefined) return;
    const due = fromMs + delay;
    entry.nextUpdateAt = due;
    entry.timer = this.#after(due - this.#clock.now(), () => {
      entry.timer = undefined;
      entry.nextUpdateAt = undefined;
      this.#update(entry, { reason: 'lifetime' }).catch((e: unknown) => this.emit('error', e));
    });
  }

  // ---- de-registration ----

  /** Cancels the entry's work, sets `state`, and sends a De-register if it was registered. */
  async #deregisterEntry(entry: Entry, state: ServerState, reason: SendReason): Promise<void> {
    const registrationId = entry.state === 'registered' ? entry.registrationId : undefined;
    this.#cancel(entry);
    entry.registrationId = undefined;
    entry.registered = undefined;
    this.#setState(entry, state);
    this.#finish(entry, 'cancelled');
    if (registrationId === undefined) return;
    const account = entry.account;
    const outcome = await this.#send(account, { kind: 'deregister', registrationId }, reason);
    if (outcome.kind === 'response' && outcome.response.code.startsWith('2.'))
      this.emit('deregistered', { shortServerId: entry.ssid, registrationId });
    else entry.lastError = this.#outcomeFailure('deregister', outcome);
  }

  /** A Register answered after its procedure was cancelled: undo it (best effort). */
  #cleanUpStale(account: ServerAccount, outcome: Outcome): void {
    if (outcome.kind !== 'response' || !outcome.response.code.startsWith('2.')) return;
    const registrationId = outcome.response.registrationId;
    const current = this.#entries.get(account.shortServerId);
    if (registrationId === undefined || current?.registrationId === registrationId) return;
    void this.#send(account, { kind: 'deregister', registrationId }, 'deregister');
  }

  // ---- helpers ----

  /** objects() without the objects a Register never lists, and its formatted text. */
  #objectList(): { input: RegistrationPayloadInput; objectsText: string } {
    const raw = this.#o.objects();
    const input: RegistrationPayloadInput = {
      ...raw,
      objects: raw.objects.filter((o) => o.prefix !== undefined || !BOOTSTRAP_ONLY_OBJECTS.includes(o.id)),
    };
    return { input, objectsText: formattedObjectList(input) };
  }

  #desired(
    account: ServerAccount,
    changes?: RegistrationChanges,
    objects: { input: RegistrationPayloadInput; objectsText: string } = this.#objectList(),
  ): Desired {
    return {
      lifetime: changes?.lifetime ?? account.lifetime,
      binding: changes?.binding ?? account.binding,
      queueMode: changes?.queueMode ?? account.queueMode ?? false,
      sms: changes?.sms ?? account.sms,
      ...objects,
    };
  }

  /** The account as accounts() has it now (the last snapshot if it is gone). */
  #account(entry: Entry): ServerAccount {
    const fresh = this.#o.accounts().find((a) => a.shortServerId === entry.ssid);
    if (fresh !== undefined && fresh.uri === entry.account.uri) entry.account = fresh;
    return entry.account;
  }

  async #send(
    account: ServerAccount,
    request: RegisterRequest | UpdateRequest | DeregisterRequest,
    reason: SendReason,
  ): Promise<Outcome> {
    if (request.kind !== 'deregister') this.#awake();
    try {
      const res = await this.#o.send(account, request, { reason });
      return res === 'timeout' ? { kind: 'timeout' } : { kind: 'response', response: res };
    } catch (error) {
      return { kind: 'error', error };
    }
  }

  #awake(): void {
    if (!this.#asleep) return;
    this.#asleep = false;
    this.emit('wake');
  }

  #failure(
    operation: RegistrationFailure['operation'],
    code: RegistrationFailure['code'],
    text: string,
  ): RegistrationFailure {
    return { operation, code, message: text, at: this.#clock.now() };
  }

  #outcomeFailure(operation: RegistrationFailure['operation'], outcome: Outcome): RegistrationFailure {
    switch (outcome.kind) {
      case 'timeout':
        return this.#failure(operation, 'timeout', 'no response');
      case 'error':
        return this.#failure(operation, 'error', message(outcome.error));
      case 'response':
        return this.#failure(
          operation,
          outcome.response.code,
          outcome.response.diagnostic ?? `answered ${outcome.response.code}`,
        );
    }
  }

  #setState(entry: Entry, to: ServerState): void {
    const from = entry.state;
    if (from === to) return;
    entry.state = to;
    this.emit('state', { shortServerId: entry.ssid, from, to });
  }

  /** Cancels the entry's timer and invalidates its in-flight responses. */
  #cancel(entry: Entry): void {
    this.#cancelTimer(entry);
    entry.epoch++;
    entry.nextAttemptAt = undefined;
    entry.nextUpdateAt = undefined;
  }

  #cancelTimer(entry: Entry): void {
    entry.timer?.();
    entry.timer = undefined;
  }

  /** A timer of any length (chained past the host's 2^31−1 ms); returns its cancel function. */
  #after(ms: number, fn: () => void): () => void {
    const due = this.#clock.now() + Math.max(0, ms);
    let handle = this.#clock.setTimeout(step, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    const clock = this.#clock;
    function step(): void {
      const left = due - clock.now();
      if (left > 0) handle = clock.setTimeout(step, Math.min(left, MAX_TIMER_MS));
      else fn();
    }
    return () => clock.clearTimeout(handle);
  }

  #entry(ssid: number): Entry {
    const e = this.#entries.get(ssid);
    if (e === undefined)
      throw new RegistrationEngineError('unknown-server', `no server account with SSID ${ssid}`);
    return e;
  }

  #targets(ssid: number | undefined): Entry[] {
    return ssid === undefined ? [...this.#entries.values()] : [this.#entry(ssid)];
  }
}

const utf8 = new TextEncoder();

/**
 * Object lists formatted before, by a key of their input: the clients of a fleet announce the
 * same objects and instances, so each Register reuses one text (and its parsed form, below)
 * instead of formatting links again. Bounded: cleared when full. Inputs that fail to format are
 * not kept (the error is thrown each time).
 */
const formattedLists = new Map<string, string>();
const FORMATTED_LIST_LIMIT = 256;

function formattedObjectList(input: RegistrationPayloadInput): string {
  const key = objectListKey(input);
  let text = formattedLists.get(key);
  if (text === undefined) {
    text = formatRegistrationPayload(input);
    if (formattedLists.size >= FORMATTED_LIST_LIMIT) formattedLists.clear();
    formattedLists.set(key, text);
  }
  return text;
}

/** Everything formatRegistrationPayload reads, as text (JSON quotes strings, so nothing collides). */
function objectListKey(input: RegistrationPayloadInput): string {
  let key = `${JSON.stringify(input.alternatePath ?? null)}|${input.contentFormats?.join(',') ?? '-'}`;
  for (const o of input.objects)
    key += `|${o.id};${JSON.stringify(o.version ?? null)};${JSON.stringify(o.prefix ?? null)};${o.instances?.join(',') ?? '-'}`;
  return key;
}

/**
 * The object list of a Register/Update from its text: parsed once per distinct list and shared
 * (frozen) by every client that sends it, as the server side does.
 */
function objectList(text: string): RegistrationPayload {
  return sharedRegistrationPayloads.parse(utf8.encode(text));
}

function byPriority(a: Entry, b: Entry): number {
  return (a.account.priorityOrder ?? 0) - (b.account.priorityOrder ?? 0) || a.ssid - b.ssid;
}

function statusOf(e: Entry): ServerStatus {
  return {
    shortServerId: e.ssid,
    state: e.state,
    registrationId: e.registrationId,
    version: e.version,
    lastError: e.lastError,
    attempt: e.attempt,
    sequence: e.sequence,
    nextAttemptAt: e.nextAttemptAt,
    nextUpdateAt: e.nextUpdateAt,
    blockedBy: e.blockedBy,
    requestedBinding: e.requestedBinding,
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
