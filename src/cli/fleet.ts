import { isIP } from 'node:net';
import type { LwM2mClient } from '../client/lwm2m-client.js';
import { PetrelError } from '../errors.js';
import type { LwM2mVersion } from '../operations/version.js';
import { cryptoRandom } from '../random.js';
import type { RandomSource } from '../random.js';
import { UdpChannel } from '../transport/udp-channel.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import {
  DEFAULT_OBJECT_SET,
  FleetSensors,
  createFleetClient,
  createFleetShared,
  defaultAddresses,
} from './fleet-device.js';
import type { FleetObjectSet } from './fleet-device.js';
import { LatencyHistogram } from './fleet-histogram.js';
import type { HistogramSnapshot } from './fleet-histogram.js';
import { SIMULATED_SSID, SimulatedDevice, createSimulatorModel } from './simulated-device.js';

/** The most devices one fleet runs (each has its own UDP socket, so the file limit matters too: see fleet-load.ts). */
export const FLEET_MAX_COUNT = 100_000;
export const FLEET_DEFAULTS = Object.freeze({
  server: 'coap://127.0.0.1:5683',
  prefix: 'petrel-sim-',
  lifetime: 300,
  lwm2mVersion: '1.2',
  rate: 200,
  interval: 10,
  stopTimeoutMs: 10_000,
});
/** Devices started in one go when the rate is unlimited, before yielding to the event loop. */
const BURST = 64;
/** Devices starting (socket, client start) at once. */
const STARTING_AT_ONCE = 32;
/** De-registrations in flight at once during stop(). */
const STOP_CONCURRENCY = 1000;
/** Distinct failure reasons remembered per code (the rest are only counted). */
const REASONS_PER_CODE = 3;
/** Where the devices' positions scatter around (Zürich), degrees. */
const CENTRE = { latitude: 47.3769, longitude: 8.5417, spread: 0.05 } as const;

export class FleetError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_FLEET_BAD_OPTION', message);
  }
}

export interface FleetOptions {
  /** How many devices, 1..100000. */
  readonly count: number;
  /** coap://host:port; default coap://127.0.0.1:5683. */
  readonly server?: string;
  /** Endpoint names are `<prefix><index>`, the index from 1, zero-padded to the digits of count. */
  readonly prefix?: string;
  /** Overrides the endpoint names (index from 1). */
  readonly endpointName?: (index: number) => string;
  /** Registration lifetime, seconds; default 300. */
  readonly lifetime?: number;
  /** Default 1.2 (falls back on 4.12). */
  readonly lwm2mVersion?: LwM2mVersion;
  readonly queueMode?: boolean;
  /** Devices started per second; 0 = as fast as possible. Default 200. */
  readonly rate?: number;
  /** Seconds between sensor measurements; default 10. */
  readonly interval?: number;
  /** Local IP address each device's socket binds (port 0); wins over `addresses`. */
  readonly address?: string;
  /**
   * Local IP addresses the devices' sockets bind, device i the ((i - 1) mod n)th, each on a free
   * port. Default defaultAddresses(server): 127.0.0.1..127.0.0.254 for a server on IPv4 loopback
   * (on Linux), else every interface of the server's family.
   */
  readonly addresses?: readonly string[];
  /** The objects of each device besides /0, /1, /3; default /4, /6, one 3303. */
  readonly objects?: FleetObjectSet;
  /** Index of the first device (default 1): the processes of one fleet number theirs apart. */
  readonly firstIndex?: number;
  /** Digits the index in endpoint names is padded to; default those of firstIndex + count - 1. */
  readonly nameWidth?: number;
  /** Called with each device's client before it starts (to listen to its events). */
  readonly onClient?: (device: FleetDevice, client: LwM2mClient) => void;
  /** Called whenever a device gets its first outcome (or cannot start). */
  readonly onProgress?: (progress: FleetProgress) => void;
  /** Stops starting devices and resolves startFleet() at once; stop() the fleet afterwards. */
  readonly signal?: AbortSignal;
  /**
   * Milliseconds after which startFleet() resolves even if some devices have no outcome yet (they
   * go on trying). Default: wait for every outcome, which a CoAP timeout bounds (93 s).
   */
  readonly registrationTimeout?: number;
  readonly random?: RandomSource;
}

/** What happened to a device's first registration procedure attempt. */
export type FleetOutcome = 'pending' | 'registered' | 'failed';

export interface FleetFailure {
  /** A result code (`4.03`), `timeout`, `error` (the client could not send) or `socket`. */
  readonly code: string;
  readonly reason: string;
}

export interface FleetDevice {
  /** From 1 (firstIndex). */
  readonly index: number;
  readonly endpoint: string;
  readonly simulation: SimulatedDevice;
  /** Undefined when the device could not start (no socket). */
  readonly client: LwM2mClient | undefined;
  readonly outcome: FleetOutcome;
  /** From client start to the Register's 2.01, ms. */
  readonly latencyMs: number | undefined;
  readonly failure: FleetFailure | undefined;
}

export interface FleetProgress {
  readonly total: number;
  /** Devices started so far. */
  readonly started: number;
  readonly registered: number;
  readonly failed: number;
}

export interface FleetFailureCount {
  readonly code: string;
  readonly count: number;
  /** Up to three distinct reasons seen with this code. */
  readonly reasons: readonly string[];
}

export interface FleetSummary {
  readonly total: number;
  readonly started: number;
  readonly registered: number;
  readonly failed: number;
  /** Started, no outcome yet (registrationTimeout or abort). */
  readonly pending: number;
  /** By count, largest first. */
  readonly failures: readonly FleetFailureCount[];
  /** From startFleet() to the end of the registration phase. */
  readonly elapsedMs: number;
  /** registered / elapsed. */
  readonly registrationsPerSecond: number;
  /** Register latency over the registered devices (nearest rank), ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number } | undefined;
  /** The signal stopped the registration phase. */
  readonly aborted: boolean;
}

export interface FleetStopResult {
  /** Devices registered when stop() began. */
  readonly registered: number;
  /** Of those, how many De-registers the server acknowledged in time. */
  readonly deregistered: number;
  readonly elapsedMs: number;
}

export interface Fleet {
  readonly devices: readonly FleetDevice[];
  /** Devices registered right now. */
  readonly registered: number;
  /** The registration phase, as startFleet() resolved. */
  readonly summary: FleetSummary;
  /** The first Register latencies of the registration phase (to merge across processes). */
  readonly registerLatency: HistogramSnapshot;
  /**
   * Stops the measurements, de-registers every device (at most `timeoutMs`, default 10 s, then
   * the sockets close anyway) and closes the sockets. Idempotent.
   */
  stop(options?: { readonly timeoutMs?: number }): Promise<FleetStopResult>;
}

interface Resolved {
  readonly count: number;
  readonly server: string;
  readonly endpointName: (index: number) => string;
  readonly lifetime: number;
  readonly lwm2mVersion: LwM2mVersion;
  readonly queueMode: boolean;
  readonly rate: number;
  readonly interval: number;
  readonly addresses: readonly string[];
  readonly objects: FleetObjectSet;
  readonly firstIndex: number;
}

/** Checks a coap:// server URI; the message says what is wrong, or undefined when it is fine. */
export function checkServerUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `"${uri}" is not a URI (expected coap://host:port)`;
  }
  if (url.protocol !== 'coap:') return `${url.protocol}// is not supported (expected coap://host:port)`;
  if (url.hostname === '') return `"${uri}" has no host (expected coap://host:port)`;
  return undefined;
}

const isWhole = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max;

function resolveOptions(o: FleetOptions): Resolved {
  if (!isWhole(o.count, 1, FLEET_MAX_COUNT))
    throw new FleetError(`count: expected a whole number 1..${FLEET_MAX_COUNT}, got ${o.count}`);
  const server = o.server ?? FLEET_DEFAULTS.server;
  const uriProblem = checkServerUri(server);
  if (uriProblem !== undefined) throw new FleetError(`server: ${uriProblem}`);
  const rate = o.rate ?? FLEET_DEFAULTS.rate;
  if (!(Number.isFinite(rate) && rate >= 0))
    throw new FleetError(`rate: expected registrations per second >= 0 (0 = unlimited), got ${rate}`);
  const lifetime = o.lifetime ?? FLEET_DEFAULTS.lifetime;
  if (!isWhole(lifetime, 1, 0xffff_ffff))
    throw new FleetError(`lifetime: expected whole seconds >= 1, got ${lifetime}`);
  const interval = o.interval ?? FLEET_DEFAULTS.interval;
  if (!(Number.isFinite(interval) && interval >= 0.01))
    throw new FleetError(`interval: expected seconds >= 0.01, got ${interval}`);
  const addresses = o.address !== undefined ? [o.address] : (o.addresses ?? defaultAddresses(server));
  if (addresses.length === 0) throw new FleetError('addresses: expected at least one IP address');
  const host = new URL(server).hostname.replace(/^\[|\]$/g, '');
  for (const address of addresses) {
    if (isIP(address) === 0) throw new FleetError(`address: expected an IP address, got "${address}"`);
    if (isIP(host) !== 0 && isIP(host) !== isIP(address))
      throw new FleetError(`address: ${address} cannot reach ${host} (another IP version)`);
  }
  const firstIndex = o.firstIndex ?? 1;
  if (!isWhole(firstIndex, 1, FLEET_MAX_COUNT))
    throw new FleetError(`firstIndex: expected a whole number 1..${FLEET_MAX_COUNT}, got ${firstIndex}`);
  const prefix = o.prefix ?? FLEET_DEFAULTS.prefix;
  const width = o.nameWidth ?? String(firstIndex + o.count - 1).length;
  return {
    count: o.count,
    server,
    endpointName: o.endpointName ?? ((i) => `${prefix}${String(i).padStart(width, '0')}`),
    lifetime,
    lwm2mVersion: o.lwm2mVersion ?? FLEET_DEFAULTS.lwm2mVersion,
    queueMode: o.queueMode === true,
    rate,
    interval,
    addresses,
    objects: o.objects ?? DEFAULT_OBJECT_SET,
    firstIndex,
  };
}

/** Throws FleetError when startFleet() would refuse `options` (checked before forking workers). */
export function checkFleetOptions(options: FleetOptions): void {
  resolveOptions(options);
}

/** Nearest-rank percentile of ascending `sorted` (non-empty). */
export function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits: number): number => Number(n.toFixed(digits));

class Member implements FleetDevice {
  outcome: FleetOutcome = 'pending';
  latencyMs: number | undefined;
  failure: FleetFailure | undefined;
  client: LwM2mClient | undefined;
  channel: UdpChannel | undefined;
  sensors: FleetSensors | undefined;
  stopping = false;

  constructor(
    readonly index: number,
    readonly endpoint: string,
    readonly simulation: SimulatedDevice,
  ) {}

  get registered(): boolean {
    return this.client?.registration.state(SIMULATED_SSID) === 'registered';
  }
}

/** The registration phase: starts the devices at the rate and collects their outcomes. */
class Launch {
  readonly members: Member[] = [];
  readonly #failures = new Map<string, { count: number; reasons: Set<string> }>();
  readonly #o: Resolved;
  readonly #options: FleetOptions;
  readonly #random: RandomSource;
  readonly #model = createSimulatorModel();
  /** One timer queue and codec registry for every device of this process. */
  readonly #shared = createFleetShared(undefined, createCodecRegistry());
  readonly #startedAt = performance.now();
  readonly latency = new LatencyHistogram();
  #registered = 0;
  #failed = 0;
  #launching = true;
  #closed = false;
  #settle: (() => void) | undefined;

  constructor(o: Resolved, options: FleetOptions) {
    this.#o = o;
    this.#options = options;
    this.#random = options.random ?? cryptoRandom;
  }

  /** Starts every device and resolves once each has an outcome, or on abort or timeout. */
  async run(): Promise<FleetSummary> {
    const { signal } = this.#options;
    const settled = new Promise<void>((resolve) => (this.#settle = resolve));
    const onAbort = (): void => this.#settle?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.#options.registrationTimeout !== undefined)
      timer = setTimeout(() => this.#settle?.(), this.#options.registrationTimeout);
    try {
      void this.#launchAll().finally(() => {
        this.#launching = false;
        this.#check();
      });
      await settled;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    return this.summary(signal?.aborted === true);
  }

  /** No more devices start (stop() during or after the registration phase). */
  close(): void {
    this.#closed = true;
    this.#settle?.();
  }

  summary(aborted: boolean): FleetSummary {
    const elapsedMs = performance.now() - this.#startedAt;
    const latency = this.latency.summary();
    const failures = [...this.#failures]
      .map(([code, f]) => ({ code, count: f.count, reasons: [...f.reasons] }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
    return {
      total: this.#o.count,
      started: this.members.length,
      registered: this.#registered,
      failed: this.#failed,
      pending: this.members.length - this.#registered - this.#failed,
      failures,
      elapsedMs: round(elapsedMs, 1),
      registrationsPerSecond: elapsedMs > 0 ? round((this.#registered * 1000) / elapsedMs, 1) : 0,
      latencyMs: latency === undefined ? undefined : { p50: latency.p50, p99: latency.p99, max: latency.max },
      aborted,
    };
  }

  async #launchAll(): Promise<void> {
    const { count, rate } = this.#o;
    const interval = rate > 0 ? 1000 / rate : 0;
    // Starting a device waits on its socket and its client's start: several start at once, so
    // the rate is not bounded by one start's latency.
    const starting = new Set<Promise<void>>();
    for (let i = 0; i < count; i++) {
      if (this.#stopped()) break;
      if (interval > 0) {
        const wait = this.#startedAt + i * interval - performance.now();
        if (wait >= 1) await sleep(wait);
      } else if (i % BURST === BURST - 1) await new Promise((resolve) => setImmediate(resolve));
      if (this.#stopped()) break;
      const p: Promise<void> = this.#launch(this.#o.firstIndex + i).finally(() => starting.delete(p));
      starting.add(p);
      if (starting.size >= STARTING_AT_ONCE) await Promise.race(starting);
    }
    await Promise.all(starting);
  }

  #stopped(): boolean {
    return this.#closed || this.#options.signal?.aborted === true;
  }

  /** One device: its own socket, client and simulation. Never rejects. */
  async #launch(index: number): Promise<void> {
    const o = this.#o;
    const r = this.#random;
    const simulation = new SimulatedDevice({
      model: this.#model,
      clock: this.#shared.clock,
      random: r,
      interval: o.interval,
      temperature: round(18 + r.next() * 8, 1),
      batteryLevel: 40 + r.int(60),
      latitude: round(CENTRE.latitude + (r.next() * 2 - 1) * CENTRE.spread, 6),
      longitude: round(CENTRE.longitude + (r.next() * 2 - 1) * CENTRE.spread * 1.5, 6),
    });
    const member = new Member(index, o.endpointName(index), simulation);
    this.members.push(member);
    const address = o.addresses[(index - 1) % o.addresses.length]!;
    try {
      member.channel = await UdpChannel.open({ address, port: 0 });
    } catch (e) {
      this.#outcome(member, { code: 'socket', reason: errorText(e) });
      return;
    }
    if (this.#closed) {
      await member.channel.close(); // stop() came while the socket opened
      return;
    }
    let client: LwM2mClient;
    if (o.objects.temperatures > 1)
      member.sensors = new FleetSensors(o.objects.temperatures - 1, r, this.#shared.clock);
    try {
      client = createFleetClient(simulation, member.sensors, {
        endpoint: member.endpoint,
        server: o.server,
        channel: member.channel,
        lifetime: o.lifetime,
        lwm2mVersion: o.lwm2mVersion,
        queueMode: o.queueMode,
        objects: o.objects,
        random: r,
        shared: this.#shared,
      });
    } catch (e) {
      await member.channel.close();
      this.#outcome(member, { code: 'error', reason: errorText(e) });
      return;
    }
    member.client = client;
    // A failed registration arrives as attempt-failed / failed below; other errors (a malformed
    // request, a send on a socket stop() closed) change nothing the fleet reports.
    client.on('error', () => undefined);
    const startedAt = performance.now();
    client.on('registered', () => {
      if (member.outcome !== 'pending') return;
      member.latencyMs = performance.now() - startedAt;
      this.#outcome(member, undefined);
    });
    const fail = (info: { failure: { code: string; message: string } }): void => {
      if (member.outcome === 'pending')
        this.#outcome(member, { code: info.failure.code, reason: info.failure.message });
    };
    client.registration.on('attempt-failed', fail);
    client.registration.on('failed', fail);
    this.#options.onClient?.(member, client);
    try {
      await client.start();
    } catch (e) {
      await member.channel.close();
      this.#outcome(member, { code: 'error', reason: errorText(e) });
      return;
    }
    if (this.#closed && !member.stopping) {
      // stop() passed this device while it was starting: undo the start.
      member.stopping = true;
      await client.stop().catch(() => undefined);
      await member.channel.close();
      return;
    }
    // Measurements start at a random point of the first interval, so a fleet does not tick in step.
    simulation.startWith(client, r.next() * o.interval * 1000);
    member.sensors?.start(o.interval * 1000, r.next() * o.interval * 1000);
  }

  #outcome(member: Member, failure: FleetFailure | undefined): void {
    if (failure === undefined) {
      member.outcome = 'registered';
      this.#registered++;
      if (member.latencyMs !== undefined) this.latency.record(member.latencyMs);
    } else {
      member.outcome = 'failed';
      member.failure = failure;
      this.#failed++;
      let entry = this.#failures.get(failure.code);
      if (entry === undefined) this.#failures.set(failure.code, (entry = { count: 0, reasons: new Set() }));
      entry.count++;
      if (entry.reasons.size < REASONS_PER_CODE) entry.reasons.add(failure.reason);
    }
    this.#options.onProgress?.({
      total: this.#o.count,
      started: this.members.length,
      registered: this.#registered,
      failed: this.#failed,
    });
    this.#check();
  }

  #check(): void {
    if (!this.#launching && this.#registered + this.#failed >= this.members.length) this.#settle?.();
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function stopFleet(launch: Launch, timeoutMs: number): Promise<FleetStopResult> {
  const startedAt = performance.now();
  launch.close();
  const members = launch.members;
  for (const m of members) {
    m.simulation.stop();
    m.sensors?.stop();
  }
  const registered = members.filter((m) => m.registered);
  let deregistered = 0;
  for (const m of registered) m.client?.once('deregistered', () => deregistered++);
  const stopOne = async (m: Member): Promise<void> => {
    if (m.stopping) return;
    m.stopping = true;
    await m.client?.stop().catch(() => undefined);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  // Registered devices first: theirs are the De-registers that matter.
  const order = [...registered, ...members.filter((m) => !m.registered)];
  await Promise.race([pool(order, STOP_CONCURRENCY, stopOne), deadline]);
  clearTimeout(timer);
  // Past the deadline: cancel what is left (its timers go at once) and close every socket, so
  // nothing keeps the process alive; a De-register still in flight just fails.
  for (const m of order) if (!m.stopping) void stopOne(m);
  await Promise.all(members.map((m) => m.channel?.close() ?? Promise.resolve()));
  return { registered: registered.length, deregistered, elapsedMs: round(performance.now() - startedAt, 1) };
}

/**
 * Starts `count` simulated devices (Device, Connectivity Monitoring, Location and a 3303
 * temperature sensor each, as `petrel client` has), each with its own UDP socket, at `rate`
 * devices per second, and resolves once every device's first registration has an outcome (or
 * on abort / registrationTimeout). The devices keep running (measuring, Updating, answering the
 * server) until stop(). Throws FleetError for bad options.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const resolved = resolveOptions(options);
  const launch = new Launch(resolved, options);
  const summary = await launch.run();
  let stopping: Promise<FleetStopResult> | undefined;
  return {
    devices: launch.members,
    get registered() {
      return launch.members.reduce((n, m) => n + (m.registered ? 1 : 0), 0);
    },
    summary,
    registerLatency: launch.latency.snapshot(),
    stop(stopOptions = {}) {
      stopping ??= stopFleet(launch, stopOptions.timeoutMs ?? FLEET_DEFAULTS.stopTimeoutMs);
      return stopping;
    },
  };
}
