import type { LwM2mVersion } from '../operations/version.js';
import { CHURN_OPERATIONS, churnNeedsQueueMode } from './fleet-churn.js';
import type { ChurnSpec } from './fleet-churn.js';
import { DEFAULT_OBJECT_SET, defaultAddresses } from './fleet-device.js';
import type { FleetObjectSet } from './fleet-device.js';
import { LatencyHistogram } from './fleet-histogram.js';
import { WorkerSlice } from './fleet-processes.js';
import type { SliceHandle } from './fleet-processes.js';
import { FleetSlice } from './fleet-slice.js';
import type { SliceOptions, SlicePhase, SliceRegistration, SliceStatus } from './fleet-slice.js';
import { FleetStats } from './fleet-stats.js';
import type { FleetStatsReport } from './fleet-stats.js';
import { FLEET_DEFAULTS, FLEET_MAX_COUNT, FleetError, checkFleetOptions } from './fleet.js';
import type { FleetFailureCount, FleetStopResult, FleetSummary } from './fleet.js';

/**
 * Devices one process runs at most when --processes is automatic. Each device holds a UDP socket
 * and the file limit here is 20,000 per process, so 100,000 devices take 7 worker processes; the
 * rest of the limit is left for the process's own files.
 */
export const DEVICES_PER_PROCESS = 15_000;
export const MAX_PROCESSES = 64;

export interface FleetLoadOptions {
  readonly count: number;
  readonly server?: string;
  readonly prefix?: string;
  readonly lifetime?: number;
  readonly lwm2mVersion?: LwM2mVersion;
  readonly queueMode?: boolean;
  /** Registers started per second over the whole fleet during the registration phase; 0 = unlimited. */
  readonly rate?: number;
  readonly interval?: number;
  /** One local address for every device (wins over `addresses`). */
  readonly address?: string;
  readonly addresses?: readonly string[];
  readonly objects?: FleetObjectSet;
  readonly churn?: ChurnSpec;
  /**
   * 1 = every device in this process; N > 1 = N worker processes (forked) with count / N devices
   * each; default (0) ceil(count / 15000), i.e. in this process up to 15,000 devices.
   */
  readonly processes?: number;
  readonly registrationTimeoutMs?: number;
  /** How often workers report their status, ms; default 250. */
  readonly statusEveryMs?: number;
}

/** The whole fleet now, summed over its processes. */
export interface FleetLoadStatus {
  readonly phase: SlicePhase;
  readonly processes: number;
  /** Since start, ms. */
  readonly elapsedMs: number;
  readonly total: number;
  readonly started: number;
  readonly firstRegistered: number;
  readonly firstFailed: number;
  readonly registered: number;
  readonly asleep: number;
  readonly unregistered: number;
  /** Per operation: counts, rates over elapsedMs, latency, errors by code. */
  readonly operations: FleetStatsReport;
}

export interface FleetLoadResult {
  readonly stop: FleetStopResult;
  /** The final status (after the de-registrations). */
  readonly report: FleetLoadStatus;
}

/** `processes` resolved: 0 = automatic. */
export function processCount(count: number, processes = 0): number {
  if (processes > 0) return Math.min(processes, count);
  return Math.max(1, Math.ceil(count / DEVICES_PER_PROCESS));
}

/** Splits `count` devices over `n` slices: sizes differing by at most one, in index order. */
export function splitCount(count: number, n: number): { first: number; count: number }[] {
  const base = Math.floor(count / n);
  const extra = count % n;
  const out: { first: number; count: number }[] = [];
  let first = 1;
  for (let i = 0; i < n; i++) {
    const c = base + (i < extra ? 1 : 0);
    out.push({ first, count: c });
    first += c;
  }
  return out;
}

/** The registration phases of the slices as one FleetSummary. */
export function mergeRegistrations(parts: readonly SliceRegistration[], total: number): FleetSummary {
  const latency = new LatencyHistogram();
  const failures = new Map<string, { count: number; reasons: Set<string> }>();
  let started = 0;
  let registered = 0;
  let failed = 0;
  let pending = 0;
  let elapsedMs = 0;
  let aborted = false;
  for (const { summary: s, latency: l } of parts) {
    latency.merge(l);
    started += s.started;
    registered += s.registered;
    failed += s.failed;
    pending += s.pending;
    elapsedMs = Math.max(elapsedMs, s.elapsedMs);
    aborted ||= s.aborted;
    for (const f of s.failures) {
      let entry = failures.get(f.code);
      if (entry === undefined) failures.set(f.code, (entry = { count: 0, reasons: new Set() }));
      entry.count += f.count;
      for (const r of f.reasons) if (entry.reasons.size < 3) entry.reasons.add(r);
    }
  }
  const summary = latency.summary();
  const failureList: FleetFailureCount[] = [...failures]
    .map(([code, f]) => ({ code, count: f.count, reasons: [...f.reasons] }))
    .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  return {
    total,
    started,
    registered,
    failed,
    pending,
    failures: failureList,
    elapsedMs,
    registrationsPerSecond: elapsedMs > 0 ? Math.round((registered * 10_000) / elapsedMs) / 10 : 0,
    latencyMs: summary === undefined ? undefined : { p50: summary.p50, p99: summary.p99, max: summary.max },
    aborted,
  };
}

const PHASES: readonly SlicePhase[] = ['registering', 'running', 'stopping', 'stopped'];

/**
 * A load-generating fleet: `count` simulated devices in this process or spread over worker
 * processes, a registration phase at `rate`, then `churn` until stop(). Throws FleetError for
 * bad options (before anything starts).
 */
export class FleetLoad {
  readonly processes: number;
  /** The registration phase of every slice, merged; rejects when a worker fails. */
  readonly registration: Promise<FleetSummary>;
  readonly #slices: SliceHandle[];
  readonly #count: number;
  readonly #startedAt = performance.now();
  #final: FleetLoadStatus | undefined;

  constructor(options: FleetLoadOptions) {
    const server = options.server ?? FLEET_DEFAULTS.server;
    const churn = options.churn ?? {};
    checkFleetOptions({ ...options, server });
    if (churnNeedsQueueMode(churn) && options.queueMode !== true)
      throw new FleetError('churn: sleep and wake need queue mode (--queue-mode)');
    const processes = options.processes ?? 0;
    if (!(Number.isInteger(processes) && processes >= 0 && processes <= MAX_PROCESSES))
      throw new FleetError(`processes: expected 0 (automatic) to ${MAX_PROCESSES}, got ${processes}`);
    this.#count = options.count;
    this.processes = processCount(options.count, processes);
    const rate = options.rate ?? FLEET_DEFAULTS.rate;
    const addresses =
      options.address !== undefined ? [options.address] : (options.addresses ?? defaultAddresses(server));
    const width = String(Math.min(FLEET_MAX_COUNT, options.count)).length;
    const statusEveryMs = options.statusEveryMs ?? 250;
    this.#slices = splitCount(options.count, this.processes).map(({ first, count }) => {
      const slice: SliceOptions = {
        count,
        firstIndex: first,
        nameWidth: width,
        prefix: options.prefix ?? FLEET_DEFAULTS.prefix,
        server,
        lifetime: options.lifetime ?? FLEET_DEFAULTS.lifetime,
        lwm2mVersion: options.lwm2mVersion ?? FLEET_DEFAULTS.lwm2mVersion,
        queueMode: options.queueMode === true,
        rate: (rate * count) / options.count,
        interval: options.interval ?? FLEET_DEFAULTS.interval,
        addresses,
        objects: options.objects ?? DEFAULT_OBJECT_SET,
        churn,
        share: count / options.count,
        ...(options.registrationTimeoutMs === undefined
          ? {}
          : { registrationTimeoutMs: options.registrationTimeoutMs }),
      };
      return this.processes === 1 ? new FleetSlice(slice) : new WorkerSlice(slice, statusEveryMs);
    });
    this.registration = Promise.all(this.#slices.map((s) => s.registration)).then((parts) =>
      mergeRegistrations(parts, options.count),
    );
  }

  /** Whether the options ask for any churn. */
  static churns(spec: ChurnSpec): boolean {
    return CHURN_OPERATIONS.some((op) => spec[op] !== undefined);
  }

  status(): FleetLoadStatus {
    if (this.#final !== undefined) return this.#final;
    return this.#merge(this.#slices.map((s) => s.status()));
  }

  /** Ends the registration phase of every slice now. */
  abortRegistration(): void {
    for (const s of this.#slices) s.abortRegistration();
  }

  /** Stops churn and de-registers every device (each slice bounded by `timeoutMs`). */
  async stop(timeoutMs: number): Promise<FleetLoadResult> {
    const stopped = await Promise.all(this.#slices.map((s) => s.stop(timeoutMs)));
    const stop: FleetStopResult = {
      registered: stopped.reduce((n, s) => n + s.result.registered, 0),
      deregistered: stopped.reduce((n, s) => n + s.result.deregistered, 0),
      elapsedMs: Math.max(0, ...stopped.map((s) => s.result.elapsedMs)),
    };
    this.#final ??= this.#merge(stopped.map((s) => s.status));
    return { stop, report: this.#final };
  }

  #merge(statuses: readonly (SliceStatus | undefined)[]): FleetLoadStatus {
    const known = statuses.filter((s): s is SliceStatus => s !== undefined);
    const sum = (
      key: 'started' | 'firstRegistered' | 'firstFailed' | 'registered' | 'asleep' | 'unregistered',
    ) => known.reduce((n, s) => n + s[key], 0);
    // The fleet is as far as its slowest slice (a worker not heard from yet is registering).
    const phase =
      known.length < statuses.length
        ? 'registering'
        : (PHASES[Math.min(...known.map((s) => PHASES.indexOf(s.phase)))] ?? 'registering');
    const elapsedMs = performance.now() - this.#startedAt;
    return {
      phase,
      processes: this.processes,
      elapsedMs: Math.round(elapsedMs),
      total: this.#count,
      started: sum('started'),
      firstRegistered: sum('firstRegistered'),
      firstFailed: sum('firstFailed'),
      registered: sum('registered'),
      asleep: sum('asleep'),
      unregistered: sum('unregistered'),
      operations: FleetStats.from(known.map((s) => s.stats)).report(elapsedMs),
    };
  }
}
