import type { LwM2mClient } from '../client/lwm2m-client.js';
import type { LwM2mVersion } from '../operations/version.js';
import { CHURN_OPERATIONS, churnDue } from './fleet-churn.js';
import type { ChurnOperation, ChurnSpec } from './fleet-churn.js';
import type { FleetObjectSet } from './fleet-device.js';
import type { HistogramSnapshot } from './fleet-histogram.js';
import { FleetStats } from './fleet-stats.js';
import type { FleetOperation, FleetStatsSnapshot } from './fleet-stats.js';
import { startFleet } from './fleet.js';
import type { Fleet, FleetStopResult, FleetSummary } from './fleet.js';
import { SIMULATED_SSID } from './simulated-device.js';

/** The devices one process runs: plain data, so it crosses the IPC channel to a worker. */
export interface SliceOptions {
  readonly count: number;
  readonly firstIndex: number;
  readonly nameWidth: number;
  readonly prefix: string;
  readonly server: string;
  readonly lifetime: number;
  readonly lwm2mVersion: LwM2mVersion;
  readonly queueMode: boolean;
  /** Registers started per second by this slice; 0 = as fast as possible. */
  readonly rate: number;
  readonly interval: number;
  readonly addresses: readonly string[];
  readonly objects: FleetObjectSet;
  readonly churn: ChurnSpec;
  /** This slice's part of the fleet (count / total): it does that part of fleet-wide `/s` rates. */
  readonly share: number;
  /** Ms after which the registration phase ends even with devices still pending. */
  readonly registrationTimeoutMs?: number;
}

export type SlicePhase = 'registering' | 'running' | 'stopping' | 'stopped';

/** A slice now: device gauges and the stats so far (plain data). */
export interface SliceStatus {
  readonly phase: SlicePhase;
  readonly total: number;
  /** Devices started (socket and client). */
  readonly started: number;
  /** First Register outcomes (the registration phase). */
  readonly firstRegistered: number;
  readonly firstFailed: number;
  /** Devices registered right now, of them asleep (queue mode), and not registered (de-registered or given up). */
  readonly registered: number;
  readonly asleep: number;
  readonly unregistered: number;
  readonly stats: FleetStatsSnapshot;
}

export interface SliceRegistration {
  readonly summary: FleetSummary;
  readonly latency: HistogramSnapshot;
}

export interface SliceStopped {
  readonly result: FleetStopResult;
  readonly status: SliceStatus;
}

/** Churn operations in flight at once per slice, at most. */
const MAX_IN_FLIGHT = 2000;
/** How long stop() waits at most for churn operations in flight. */
const DRAIN_MS = 5000;
/** How often the churn scheduler runs. */
const TICK_MS = 100;

interface Device {
  readonly client: LwM2mClient;
  /** The operation the fleet started and times, until its outcome. */
  pending: { readonly kind: FleetOperation; readonly at: number; readonly churn: boolean } | undefined;
}

/**
 * One process's devices: the registration phase (startFleet), then churn, counting every
 * Register, Update, De-register, sleep, wake and served request in FleetStats.
 */
export class FleetSlice {
  readonly stats = new FleetStats();
  readonly registration: Promise<SliceRegistration>;
  readonly #o: SliceOptions;
  readonly #devices: Device[] = [];
  readonly #abort = new AbortController();
  readonly #carry = new Map<ChurnOperation, number>();
  readonly #fleet: Promise<Fleet>;
  #phase: SlicePhase = 'registering';
  #started = 0;
  #firstRegistered = 0;
  #firstFailed = 0;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #lastTick = 0;
  #inFlight = 0;
  #stopping: Promise<SliceStopped> | undefined;

  constructor(options: SliceOptions) {
    this.#o = options;
    this.#fleet = startFleet({
      count: options.count,
      firstIndex: options.firstIndex,
      nameWidth: options.nameWidth,
      prefix: options.prefix,
      server: options.server,
      lifetime: options.lifetime,
      lwm2mVersion: options.lwm2mVersion,
      queueMode: options.queueMode,
      rate: options.rate,
      interval: options.interval,
      addresses: options.addresses,
      objects: options.objects,
      signal: this.#abort.signal,
      ...(options.registrationTimeoutMs === undefined
        ? {}
        : { registrationTimeout: options.registrationTimeoutMs }),
      onClient: (_device, client) => this.#watch(client),
      onProgress: (p) => {
        this.#started = p.started;
        this.#firstRegistered = p.registered;
        this.#firstFailed = p.failed;
      },
    });
    this.registration = this.#fleet.then((fleet) => {
      if (this.#phase === 'registering') {
        this.#phase = 'running';
        this.#startChurn();
      }
      return { summary: fleet.summary, latency: fleet.registerLatency };
    });
  }

  status(): SliceStatus {
    let registered = 0;
    let asleep = 0;
    let unregistered = 0;
    for (const d of this.#devices) {
      const state = d.client.registration.state(SIMULATED_SSID);
      if (state === 'registered') {
        registered++;
        if (d.client.registration.asleep) asleep++;
      } else if (state === 'idle' || state === 'failed') unregistered++;
    }
    return {
      phase: this.#phase,
      total: this.#o.count,
      started: Math.max(this.#started, this.#devices.length),
      firstRegistered: this.#firstRegistered,
      firstFailed: this.#firstFailed,
      registered,
      asleep,
      unregistered,
      stats: this.stats.snapshot(),
    };
  }

  /** Ends the registration phase now (devices not started yet never start). */
  abortRegistration(): void {
    this.#abort.abort();
  }

  /** Stops churn and de-registers every device (bounded by `timeoutMs`). Idempotent. */
  stop(timeoutMs: number): Promise<SliceStopped> {
    this.#stopping ??= (async () => {
      clearInterval(this.#ticker);
      this.#phase = 'stopping';
      this.#abort.abort();
      const fleet = await this.#fleet;
      // Let the churn operations in flight get their answers (so the counts match the server's).
      const drainUntil = performance.now() + Math.min(DRAIN_MS, timeoutMs / 2);
      while (this.#inFlight > 0 && performance.now() < drainUntil)
        await new Promise((resolve) => setTimeout(resolve, 10));
      const result = await fleet.stop({ timeoutMs });
      this.#phase = 'stopped';
      return { result, status: this.status() };
    })();
    return this.#stopping;
  }

  /** Counts what the device's registration engine reports. */
  #watch(client: LwM2mClient): void {
    const d: Device = { client, pending: { kind: 'register', at: performance.now(), churn: false } };
    this.#devices.push(d);
    const engine = client.registration;
    const settle = (kind: FleetOperation): number | undefined => {
      const p = d.pending;
      if (p === undefined || p.kind !== kind) return undefined;
      d.pending = undefined;
      if (p.churn) this.#inFlight--;
      return performance.now() - p.at;
    };
    engine.on('registered', () => this.stats.ok('register', settle('register')));
    let lastAttempt: unknown;
    engine.on('attempt-failed', ({ failure }) => {
      lastAttempt = failure;
      settle('register');
      this.stats.fail('register', failure.code, failure.message);
    });
    // A 4.xx ends the procedure with 'failed' only; after the retries run out 'failed' repeats
    // the last attempt's failure, counted already.
    engine.on('failed', ({ failure }) => {
      if (failure === lastAttempt) return;
      settle('register');
      this.stats.fail('register', failure.code, failure.message);
    });
    engine.on('updated', () => {
      if (d.pending?.kind === 'wake') this.stats.ok('wake', settle('wake'));
      else this.stats.ok('update', settle('update'));
    });
    engine.on('deregistered', () => this.stats.ok('deregister', settle('deregister')));
    client.on('request', ({ code, kind }) => {
      if (code.startsWith('2.')) this.stats.ok('served');
      else this.stats.fail('served', code, kind);
    });
  }

  #startChurn(): void {
    if (!CHURN_OPERATIONS.some((op) => this.#o.churn[op] !== undefined)) return;
    this.#lastTick = performance.now();
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
  }

  #eligible(op: ChurnOperation, d: Device): boolean {
    if (d.pending !== undefined) return false;
    const state = d.client.registration.state(SIMULATED_SSID);
    const asleep = d.client.registration.asleep;
    switch (op) {
      case 'update':
      case 'sleep':
      case 'deregister':
        return state === 'registered' && !asleep;
      case 'wake':
        return state === 'registered' && asleep;
      case 'register':
        return state === 'idle' || state === 'failed';
    }
  }

  #tick(): void {
    const now = performance.now();
    const dt = now - this.#lastTick;
    this.#lastTick = now;
    for (const op of CHURN_OPERATIONS) {
      const rate = this.#o.churn[op];
      if (rate === undefined) continue;
      const eligible = this.#devices.filter((d) => this.#eligible(op, d));
      const carry = (this.#carry.get(op) ?? 0) + churnDue(rate, eligible.length, dt, this.#o.share);
      const n = Math.min(Math.floor(carry), eligible.length, Math.max(0, MAX_IN_FLIGHT - this.#inFlight));
      // What could not start (no device eligible, too many in flight) is not saved up past a tick.
      this.#carry.set(op, Math.min(carry - n, 1));
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(Math.random() * (eligible.length - i));
        const d = eligible[j]!;
        eligible[j] = eligible[i]!;
        this.#run(op, d);
      }
    }
  }

  /** Starts one churn operation on `d`; its outcome arrives as an engine event or a fresh lastError. */
  #run(op: ChurnOperation, d: Device): void {
    const { client } = d;
    if (op === 'sleep') {
      client.sleep();
      this.stats.ok('sleep');
      return;
    }
    this.#inFlight++;
    d.pending = { kind: op, at: performance.now(), churn: true };
    if (op === 'register') {
      // The engine re-registers only after stop() + start(); stop() sends nothing when idle.
      void client.registration.stop().then(() => client.registration.start());
      return;
    }
    const before = client.status(SIMULATED_SSID)?.lastError;
    const sent =
      op === 'update'
        ? client.update(SIMULATED_SSID)
        : op === 'wake'
          ? client.wake()
          : client.deregister(SIMULATED_SSID);
    void sent
      .catch(() => undefined)
      .then(() => {
        if (d.pending?.kind !== op) return;
        d.pending = undefined;
        this.#inFlight--;
        const after = client.status(SIMULATED_SSID)?.lastError;
        // No event and no new error: the engine did not send (the registration went away meanwhile).
        if (after !== undefined && after !== before) this.stats.fail(op, after.code, after.message);
      });
  }
}
