import type { Clock } from '../clock.js';
import { PetrelError } from '../errors.js';
import type { NotificationAttributes } from '../model/attributes.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { TimerQueue, type TimerTask } from '../timer-queue.js';
import { AttributeStore } from './attribute-store.js';
import { HistoryQueue } from './history-queue.js';
import {
  markNotified,
  nextCheckAt,
  notificationIsConfirmable,
  onTimer,
  onValue,
  startObservation,
  withAttributes,
  type ObservationState,
  type Sample,
  type Transition,
} from './notification-rules.js';

/** What the server account (/1/x) says about notifications. */
export interface NotificationDefaults {
  /** /1/x/2 Default Minimum Period, seconds. */
  readonly pmin?: number;
  /** /1/x/3 Default Maximum Period, seconds (0 or absent: none). */
  readonly pmax?: number;
  /** /1/x/26 Default Notification Mode: 0 NON (also when absent), 1 CON. */
  readonly notificationMode?: 0 | 1;
  /** /1/x/6 Notification Storing When Disabled or Offline; absent = true (its default). */
  readonly notificationStoring?: boolean;
}

export interface ObserveOptions {
  /**
   * 1.2 observation attributes (Observe / Observe-Composite query). When any is present, the
   * attributes attached to or inherited by the target are ignored for this observation (Core
   * §5.1.2 / §6.4, LWM2M-1.2.md §1.4); /1/x/2 and /1/x/3 still fill pmin/pmax.
   */
  readonly observationAttributes?: NotificationAttributes;
  /** Observe-Composite: several paths, every notification carries all of them. */
  readonly composite: boolean;
  /** Current values of all observed paths (what a Read / Read-Composite would return). */
  readonly read: () => readonly LwM2mRecord[];
  /** Sends one notification; `records` with `time` set are history (hqmax flush). */
  readonly send: (records: LwM2mRecord[], confirmable: boolean) => void;
  readonly defaults: () => NotificationDefaults;
  /** Called when `read` or `send` throws; the observation has then ended. */
  readonly onError?: (error: unknown) => void;
}

export interface NotificationEngineOptions {
  readonly clock: Clock;
  /** Write-Attributes per server; a fresh store by default. */
  readonly attributes?: AttributeStore;
  /** Shared by many engines (one per simulated client) so they all run on one host timer. */
  readonly timers?: TimerQueue;
  /** Wall-clock milliseconds since the Unix epoch, for history record times. Default Date.now. */
  readonly wallClock?: () => number;
  /** Caps hqmax per observation, so a server cannot make the client store without bound. Default 1000. */
  readonly historyLimit?: number;
}

export type NotificationEngineErrorReason = 'no-paths' | 'not-composite';

export class NotificationEngineError extends PetrelError {
  readonly reason: NotificationEngineErrorReason;
  constructor(reason: NotificationEngineErrorReason, message: string) {
    super('PETREL_ERR_NOTIFICATION_ENGINE', message);
    this.reason = reason;
  }
}

interface Part {
  readonly path: LwM2mPath;
  attributes: NotificationAttributes;
  state: ObservationState;
}

interface Observation {
  readonly serverId: number;
  readonly key: string;
  readonly options: ObserveOptions;
  readonly parts: readonly Part[];
  readonly task: TimerTask;
  /** Notifications stored while offline (hqmax > 0). */
  history: HistoryQueue<LwM2mRecord[]> | undefined;
  /** A notification fell due while offline and was not stored (no hqmax): sent live on return. */
  missed: boolean;
}

export const DEFAULT_HISTORY_LIMIT = 1000;

/**
 * The client's notification engine (Core §6.4, §5.1.2): keeps the observations of every server,
 * evaluates the notification attributes (see notification-rules.ts) on value changes and on time,
 * and hands each due notification to the observation's `send`. All observations share one
 * TimerQueue, hence one host timer, so thousands of simulated clients stay cheap.
 */
export class NotificationEngine {
  readonly attributes: AttributeStore;
  readonly #clock: Clock;
  readonly #timers: TimerQueue;
  readonly #ownTimers: boolean;
  readonly #wallClock: () => number;
  readonly #historyLimit: number;
  readonly #byKey = new Map<string, Observation>();
  readonly #byServer = new Map<number, Set<Observation>>();
  /** Observations by the object id of each part, so `changed` looks at few candidates. */
  readonly #byObject = new Map<number, Set<Observation>>();
  /** Observations with a part on the root path (a composite may list `/`). */
  readonly #onRoot = new Set<Observation>();
  readonly #offline = new Set<number>();

  constructor(options: NotificationEngineOptions) {
    this.#clock = options.clock;
    this.attributes = options.attributes ?? new AttributeStore();
    this.#ownTimers = options.timers === undefined;
    this.#timers = options.timers ?? new TimerQueue(options.clock);
    this.#wallClock = options.wallClock ?? Date.now;
    const limit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    this.#historyLimit = Number.isSafeInteger(limit) && limit > 0 ? limit : 0;
  }

  /** Observations in force. */
  get size(): number {
    return this.#byKey.size;
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /**
   * Starts an observation, right after its Observe response (the first notification) went out: the
   * values `read` returns now are what the server last received. A `key` already in use is replaced
   * (a new Observe on the same token). `read` throwing here propagates.
   */
  observe(serverId: number, key: string, paths: readonly LwM2mPath[], options: ObserveOptions): void {
    if (paths.length === 0) throw new NotificationEngineError('no-paths', 'an observation needs a path');
    if (!options.composite && paths.length !== 1)
      throw new NotificationEngineError('not-composite', 'only Observe-Composite observes several paths');
    this.cancel(key);
    const records = options.read();
    const now = this.#clock.now();
    const defaults = options.defaults();
    const parts = paths.map((path) => {
      const attributes = this.#attributesFor(serverId, path, options.observationAttributes, defaults);
      return { path, attributes, state: startObservation(attributes, sampleOf(records, path), now) };
    });
    const obs: Observation = {
      serverId,
      key,
      options,
      parts,
      task: { due: 0, seq: 0, heapIndex: -1, cancelled: true, run: () => this.#onTimer(obs) },
      history: undefined,
      missed: false,
    };
    this.#byKey.set(key, obs);
    addTo(this.#byServer, serverId, obs);
    for (const p of parts) {
      const oid = p.path.objectId;
      if (oid === undefined) this.#onRoot.add(obs);
      else addTo(this.#byObject, oid, obs);
    }
    this.#schedule(obs);
  }

  /** Ends an observation (Cancel Observation, RST to a notification). */
  cancel(key: string): boolean {
    const obs = this.#byKey.get(key);
    if (!obs) return false;
    this.#byKey.delete(key);
    removeFrom(this.#byServer, obs.serverId, obs);
    for (const p of obs.parts) {
      const oid = p.path.objectId;
      if (oid === undefined) this.#onRoot.delete(obs);
      else removeFrom(this.#byObject, oid, obs);
    }
    this.#timers.cancel(obs.task);
    return true;
  }

  /** Ends every observation of a server (De-register, re-Register, account removed). */
  cancelServer(serverId: number): number {
    const observations = [...(this.#byServer.get(serverId) ?? [])];
    for (const obs of observations) this.cancel(obs.key);
    return observations.length;
  }

  /** Ends everything; stops the timer queue when the engine owns it. */
  close(): void {
    for (const key of [...this.#byKey.keys()]) this.cancel(key);
    if (this.#ownTimers) this.#timers.clear();
  }

  /**
   * Values changed at these paths. An observation is affected when one of its paths lies at,
   * above (a resource under an observed instance or object) or below (a whole instance was
   * written) a changed path.
   */
  changed(paths: readonly LwM2mPath[]): void {
    const affected = new Map<Observation, Set<Part>>();
    for (const changed of paths) {
      const oid = changed.objectId;
      const candidates = oid === undefined ? this.#byKey.values() : this.#candidates(oid);
      for (const obs of candidates)
        for (const part of obs.parts)
          if (part.path.covers(changed) || changed.covers(part.path)) {
            const set = affected.get(obs);
            if (set) set.add(part);
            else affected.set(obs, new Set([part]));
          }
    }
    for (const [obs, parts] of affected)
      this.#evaluate(obs, (part, sample, now) =>
        parts.has(part) ? onValue(part.state, sample, now) : undefined,
      );
  }

  /**
   * The client went offline (or the server account was disabled) for `serverId`, or came back.
   * While offline, due notifications are stored per observation (hqmax, with /1/x/6 true), at most
   * hqmax of them, the oldest dropped. On return each observation first flushes its history as
   * one notification whose records carry their SenML time; an observation that missed
   * notifications without hqmax sends its current values once; live notifications follow.
   */
  setOnline(serverId: number, online: boolean): void {
    if (!online) {
      this.#offline.add(serverId);
      return;
    }
    if (!this.#offline.delete(serverId)) return;
    for (const obs of [...(this.#byServer.get(serverId) ?? [])]) {
      if (this.#byKey.get(obs.key) !== obs) continue; // ended by an earlier send
      const history = obs.history?.drain() ?? [];
      obs.history = undefined;
      const missed = obs.missed;
      obs.missed = false;
      if (history.length > 0) this.#send(obs, history.flat());
      else if (missed) this.#evaluate(obs, () => undefined, true);
    }
  }

  isOnline(serverId: number): boolean {
    return !this.#offline.has(serverId);
  }

  /**
   * Attributes or /1/x defaults changed (Write-Attributes, a write to /1/x/2, /3, /26): the
   * server's observations (all when no server is given) take the new effective attributes and
   * keep their timing state (Core §5.1.2 leaves the effect mid-observation to the implementation).
   */
  attributesChanged(serverId?: number): void {
    const observations = serverId === undefined ? this.#byKey.values() : (this.#byServer.get(serverId) ?? []);
    for (const obs of observations) {
      const defaults = obs.options.defaults();
      for (const part of obs.parts) {
        part.attributes = this.#attributesFor(
          obs.serverId,
          part.path,
          obs.options.observationAttributes,
          defaults,
        );
        part.state = withAttributes(part.state, part.attributes);
      }
      obs.history?.resize(this.#historyCapacity(obs));
      this.#schedule(obs);
    }
  }

  *#candidates(oid: number): Iterable<Observation> {
    yield* this.#byObject.get(oid) ?? [];
    yield* this.#onRoot;
  }

  /**
   * Observation attributes, when any is given, replace the attached and inherited ones wholesale
   * ("all attached or assigned attributes of the target are ignored for that observation").
   */
  #attributesFor(
    serverId: number,
    path: LwM2mPath,
    observationAttributes: NotificationAttributes | undefined,
    defaults: NotificationDefaults,
  ): NotificationAttributes {
    const fallback = { pmin: defaults.pmin, pmax: defaults.pmax };
    if (observationAttributes && Object.values(observationAttributes).some((v) => v !== undefined)) {
      const out: { -readonly [K in keyof NotificationAttributes]: number } = {};
      if (fallback.pmin !== undefined) out.pmin = fallback.pmin;
      if (fallback.pmax !== undefined) out.pmax = fallback.pmax;
      for (const [name, v] of Object.entries(observationAttributes) as [
        keyof NotificationAttributes,
        number,
      ][])
        if (v !== undefined) out[name] = v;
      return out;
    }
    return this.attributes.effective(serverId, path, fallback);
  }

  #onTimer(obs: Observation): void {
    this.#evaluate(obs, (part, sample, now) => onTimer(part.state, now, sample));
  }

  /**
   * Reads the observation's values once, moves each part's state with `step`, and notifies with
   * every listed path when any part is due (or when `force`). A notification restarts every part's
   * pmin/pmax (R4).
   */
  #evaluate(
    obs: Observation,
    step: (part: Part, sample: Sample, now: number) => Transition | undefined,
    force = false,
  ): void {
    if (this.#byKey.get(obs.key) !== obs) return;
    let records: readonly LwM2mRecord[];
    try {
      records = obs.options.read();
    } catch (error) {
      this.#fail(obs, error);
      return;
    }
    const now = this.#clock.now();
    const samples = obs.parts.map((p) => sampleOf(records, p.path));
    let notify = force;
    obs.parts.forEach((part, i) => {
      const t = step(part, samples[i], now);
      if (!t) return;
      part.state = t.state;
      notify ||= t.notify;
    });
    if (notify) {
      obs.parts.forEach((part, i) => (part.state = markNotified(part.state, samples[i], now)));
      this.#deliver(obs, records);
    }
    if (this.#byKey.get(obs.key) === obs) this.#schedule(obs);
  }

  /** Sends now, or (offline) stores per hqmax and /1/x/6. */
  #deliver(obs: Observation, records: readonly LwM2mRecord[]): void {
    if (!this.#offline.has(obs.serverId)) {
      this.#send(obs, [...records]);
      return;
    }
    // /1/x/6 false: "discards all the Notify operations" while offline.
    if (obs.options.defaults().notificationStoring === false) return;
    const capacity = this.#historyCapacity(obs);
    if (capacity === 0) {
      obs.missed = true;
      return;
    }
    // Only parts with hqmax > 0 are included in stored notifications; SenML time marks them.
    const time = this.#wallClock() / 1000;
    const stored = records
      .filter((r) => obs.parts.some((p) => (p.attributes.hqmax ?? 0) > 0 && p.path.covers(r.path)))
      .map((r) => ({ ...r, time }));
    obs.history ??= new HistoryQueue(capacity);
    obs.history.push(stored);
  }

  #send(obs: Observation, records: LwM2mRecord[]): void {
    const mode = obs.options.defaults().notificationMode;
    const confirmable = notificationIsConfirmable(
      obs.parts.map((p) => p.attributes),
      mode,
    );
    try {
      obs.options.send(records, confirmable);
    } catch (error) {
      this.#fail(obs, error);
    }
  }

  /** The observation's history size: the largest hqmax of its parts, capped by historyLimit. */
  #historyCapacity(obs: Observation): number {
    let hqmax = 0;
    for (const p of obs.parts) hqmax = Math.max(hqmax, p.attributes.hqmax ?? 0);
    return Math.min(hqmax, this.#historyLimit);
  }

  #schedule(obs: Observation): void {
    let at = Infinity;
    for (const p of obs.parts) {
      const n = nextCheckAt(p.state);
      if (n !== undefined && n < at) at = n;
    }
    if (at === Infinity) this.#timers.cancel(obs.task);
    else this.#timers.scheduleTask(obs.task, at - this.#clock.now());
  }

  #fail(obs: Observation, error: unknown): void {
    this.cancel(obs.key);
    obs.options.onError?.(error);
  }
}

/**
 * The sample of one observed path among the records read: the value itself for a single
 * resource (or resource instance), the records below it for a container, undefined when absent.
 */
function sampleOf(records: readonly LwM2mRecord[], path: LwM2mPath): Sample {
  const under: LwM2mRecord[] = [];
  for (const r of records) if (path.covers(r.path)) under.push(r);
  const only = under[0];
  if (under.length === 1 && only && only.value !== undefined && only.path.equals(path)) return only.value;
  return under.length === 0 ? undefined : under;
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
