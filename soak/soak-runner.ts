// The soak run (issue 10): a real LwM2mServer on UDP 127.0.0.1 in this process, the UDP fault
// proxy (test/support/udp-fault-proxy.ts) in front of it losing `loss` of the datagrams each way,
// and churning devices in simulator processes (soak/soak-simulator.ts, 5,000 a process: the file
// limit is 20,000 per process and the proxy holds one socket per device too). The server Reads
// devices and observes a share of them (soak/server-load.ts).
//
// Timeline: the devices register (spread over a ramp), churn for `warmup` of the run, then settle
// (no churn, every device registered and awake, nothing in flight, every observation made): the
// registrations are compared and heap (after forced GCs) and handles measured. Churn resumes for
// the rest of the run, and the same settle, comparison and measure close it. The run passes when
// heap and handle count at the end are within `tolerance` of the warm-up level, no registration
// was lost, repeated or left over, none expired, and the devices never got a 4.04 for a
// registration the server had confirmed.
//
// Time is compressed: the CoAP timers are shorter than RFC 7252's defaults (ACK_TIMEOUT 0.5 s,
// MAX_LATENCY 5 s; loopback plus the proxy's 0-20 ms delay is far below either). The server
// remembers requests for EXCHANGE_LIFETIME to deduplicate them (RFC 7252 §4.5): 21.75 s with these
// instead of 247 s, so that window reaches its steady size within the warm-up of a 3-minute run;
// the devices use the same ACK_TIMEOUT, so every retransmission still falls inside it, and the
// slowest exchange (MAX_TRANSMIT_WAIT, 23 s) bounds how long settling takes.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import { startFaultProxy, type FaultProxy, type FaultProxyStats } from '../test/support/udp-fault-proxy.js';
import { CountingClock } from './counting-clock.js';
import { ServerLoad, type ServerLoadStats } from './server-load.js';
import { SimulatorProcess } from './simulator-process.js';
import {
  compareRegistrations,
  registrationsIntact,
  relativeChange,
  type RegistrationComparison,
} from './soak-checks.js';
import type { ChurnProfile, SimulatorReply, SimulatorStats } from './soak-protocol.js';
import { emptySimulatorStats } from './soak-protocol.js';

export interface SoakOptions {
  readonly minutes: number;
  readonly clients: number;
  /** Chance a datagram is lost, each way. */
  readonly loss: number;
  /** Chance a datagram that got through is delivered twice. */
  readonly duplicate: number;
  /** Share of the run spent warming up before the first measure. */
  readonly warmup: number;
  /** Largest allowed relative change of heap and handles between the two measures. */
  readonly tolerance: number;
  /** Share of devices the server observes. */
  readonly observedShare: number;
  readonly seed: number;
  /**
   * Keep the server's last registration events per device (ids, times) to print beside the trace
   * of a device that got a 4.04 for a confirmed registration. Off by default: it adds to the
   * heap that the run measures.
   */
  readonly traceServer?: boolean;
  readonly log: (line: string) => void;
}

export const DEFAULT_SOAK_OPTIONS: Omit<SoakOptions, 'log'> = {
  minutes: 3,
  clients: 10_000,
  loss: 0.2,
  duplicate: 0.02,
  warmup: 0.2,
  tolerance: 0.1,
  observedShare: 0.1,
  seed: 1,
};

/** Devices per simulator process. */
const DEVICES_PER_SIMULATOR = 5000;
const ACK_TIMEOUT = 500;
const TRANSMISSION = {
  ackTimeout: ACK_TIMEOUT,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  maxLatency: 5000,
};
const AWAKE_TIME = 5000;
const PROFILE: ChurnProfile = {
  lifetime: 300,
  actEvery: { min: 10_000, max: 30_000 },
  deregister: 0.05,
  reregister: 0.05,
  rejoinAfter: { min: 2000, max: 10_000 },
  queueShare: 0.3,
  sleep: { min: 10_000, max: 30_000 },
  // Longer than the server's awake time, so the server never sends to a device that sleeps.
  awake: AWAKE_TIME + 3000,
  notifyEvery: { min: 5000, max: 15_000 },
  ackTimeout: ACK_TIMEOUT,
  maxRetransmit: TRANSMISSION.maxRetransmit,
};
const SETTLE_TIMEOUT = 120_000;
/** Server events kept per device when options.traceServer is set. */
const SERVER_TRACE_LINES = 24;
const WARMUP_AFTER_RAMP = 30_000;
const HANDLE_WINDOW = 5000;
const HANDLE_WINDOW_MAX = 30_000;
const PREFIX = 'soak-';

/** Heap and handles of this process, measured after forced GCs. */
export interface ResourceSample {
  readonly atS: number;
  readonly heapUsed: number;
  readonly rss: number;
  /** The least handle count seen over a few seconds (and the most). */
  readonly handles: number;
  readonly handlesMax: number;
  /** Active resources by kind (process.getActiveResourcesInfo()), and the server's timers (ServerTimer). */
  readonly resources: Record<string, number>;
  /** The server's live timers when the measure began, by the delay they were set with (ms). */
  readonly serverTimerDelays: Record<string, number>;
  readonly registrations: number;
  readonly observations: number;
}

export interface Checkpoint {
  readonly name: 'warm-up' | 'end';
  readonly settled: boolean;
  readonly settleMs: number;
  /** ms from the start of settling to the end of each phase. */
  readonly phases: Readonly<Record<string, number>>;
  /** Observed devices whose observation had to be made again (its Observe failed). */
  readonly reobserved: number;
  readonly comparison: Omit<
    RegistrationComparison,
    'missing' | 'mismatched' | 'duplicates' | 'unexpected'
  > & {
    readonly missing: number;
    readonly mismatched: number;
    readonly duplicates: number;
    readonly unexpected: number;
    /** A few of the endpoints in question, for the report. */
    readonly examples: readonly string[];
  };
  readonly sample: ResourceSample;
}

export interface SoakReport {
  readonly options: Omit<SoakOptions, 'log'>;
  readonly node: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly checkpoints: readonly Checkpoint[];
  readonly heapChange: number;
  readonly handleChange: number;
  readonly server: {
    registered: number;
    updated: number;
    deregistered: number;
    expired: number;
    errors: number;
  };
  readonly load: ServerLoadStats;
  readonly devices: SimulatorStats;
  readonly proxy: FaultProxyStats | undefined;
  /** Heap (no GC) and handles every 10 s: the shape of the run. */
  readonly timeline: readonly { atS: number; heapUsed: number; handles: number }[];
  readonly failures: readonly string[];
  readonly passed: boolean;
}

function forcedGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function countKinds(kinds: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of kinds) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function sumStats(all: readonly SimulatorStats[]): SimulatorStats {
  const out = emptySimulatorStats();
  for (const s of all)
    for (const key of Object.keys(s) as (keyof SimulatorStats)[]) {
      if (key === 'errorCodes')
        for (const [code, n] of Object.entries(s.errorCodes))
          out.errorCodes[code] = (out.errorCodes[code] ?? 0) + n;
      else if (key === 'lost') out.lost.push(...s.lost);
      else out[key] += s[key];
    }
  return out;
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

/** Runs the soak and returns its report (never throws for a failed check: see `failures`). */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const gc = forcedGc();
  const log = options.log;
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const elapsedS = (): number => (performance.now() - t0) / 1000;
  const failures: string[] = [];
  const counts = { registered: 0, updated: 0, deregistered: 0, expired: 0, errors: 0 };
  const endpoints = Array.from({ length: options.clients }, (_, i) => `${PREFIX}${i}`);
  const observedEvery = Math.max(1, Math.round(1 / options.observedShare));
  const observed = (endpoint: string): boolean => Number(endpoint.slice(PREFIX.length)) % observedEvery === 0;

  const clock = new CountingClock();
  /** Active resources (sockets, processes, pipes, ref'd timers) plus the server's unref'd timers. */
  const handles = (): { total: number; kinds: Record<string, number> } => {
    const kinds = countKinds(process.getActiveResourcesInfo());
    kinds.ServerTimer = clock.liveTimers;
    return { total: Object.values(kinds).reduce((a, b) => a + b, 0), kinds };
  };
  const server = new LwM2mServer({
    clock,
    udp: { address: '127.0.0.1', port: 0 },
    requestTimeout: 30_000,
    queueMode: { awakeTime: AWAKE_TIME, deadline: 60_000 },
    coap: { transmission: TRANSMISSION },
  });
  server.on('registered', () => counts.registered++);
  server.on('updated', () => counts.updated++);
  server.on('deregistered', () => counts.deregistered++);
  server.on('expired', () => counts.expired++);
  // By the device's address at the server (a failed Update names no endpoint); endpoint -> address.
  const serverTrace = new Map<string, string[]>();
  const addressOf = new Map<string, string>();
  const traceAt = (peer: string, line: string): void => {
    let lines = serverTrace.get(peer);
    if (!lines) serverTrace.set(peer, (lines = []));
    lines.push(`${Date.now()} server: ${line}`);
    if (lines.length > SERVER_TRACE_LINES) lines.shift();
  };
  /** A registration event: its id is what tells a second Register from the first. */
  const traceEvent = (endpoint: string, line: string): void => {
    const peer = addressOf.get(endpoint);
    if (peer !== undefined) traceAt(peer, `${line} (${endpoint})`);
  };
  if (options.traceServer) {
    server.on('uplink', (u) => {
      if (u.endpoint !== undefined) addressOf.set(u.endpoint, u.peer);
      traceAt(
        u.peer,
        `${u.operation} mid=${u.messageId ?? '-'} from ${u.peer} -> ${u.code}${u.diagnostic ? ` (${u.diagnostic})` : ''}`,
      );
    });
    server.on('registered', (r, previous) =>
      traceEvent(r.endpoint, `registered ${r.id}${previous ? ` replacing ${previous.id}` : ''}`),
    );
    server.on('updated', (r) => traceEvent(r.endpoint, `updated ${r.id}`));
    server.on('deregistered', (r) => traceEvent(r.endpoint, `deregistered ${r.id}`));
    server.on('expired', (r) => traceEvent(r.endpoint, `expired ${r.id}`));
  }
  server.on('error', () => counts.errors++);
  const load = new ServerLoad({
    server,
    endpoints,
    observed,
    readsPerSecond: Math.max(5, options.clients / 200),
    maxReadsInFlight: 64,
    timeout: 30_000,
  });
  let proxy: FaultProxy | undefined;
  const simulators: SimulatorProcess[] = [];
  const timeline: { atS: number; heapUsed: number; handles: number }[] = [];
  const checkpoints: Checkpoint[] = [];
  let sampler: ReturnType<typeof setInterval> | undefined;
  let devices: SimulatorStats | undefined;
  let proxyStats: FaultProxyStats | undefined;

  const askAll = (
    command: Parameters<SimulatorProcess['ask']>[0],
    timeoutMs?: number,
  ): Promise<SimulatorReply[]> => Promise.all(simulators.map((s) => s.ask(command, timeoutMs)));
  const simulatorStats = async (): Promise<SimulatorStats> =>
    sumStats((await askAll({ cmd: 'stats' })).map((r) => (r as { stats: SimulatorStats }).stats));

  /** Stops the churn, waits for everything to settle, compares registrations, measures. */
  const checkpoint = async (name: Checkpoint['name']): Promise<void> => {
    const started = performance.now();
    load.pause();
    type Settled = { settled: boolean; registrations: (readonly [string, string])[]; stats: SimulatorStats };
    const settleReplies = (await askAll(
      { cmd: 'settle', timeoutMs: SETTLE_TIMEOUT },
      SETTLE_TIMEOUT + 10_000,
    )) as Settled[];
    const phases: Record<string, number> = {};
    const mark = (phase: string): void => {
      phases[phase] = Math.round(performance.now() - started);
    };
    let settled = settleReplies.every((r) => r.settled);
    mark('devicesSettled');
    settled = (await load.idle(SETTLE_TIMEOUT)) && settled;
    mark('requestsDone');
    // Observations whose Observe was lost are made again, so both measures see the same set.
    const reobserved = await load.completeObservations(await server.registrations(), SETTLE_TIMEOUT);
    mark('observationsMade');
    const replies = (await askAll(
      { cmd: 'quiet', timeoutMs: SETTLE_TIMEOUT },
      SETTLE_TIMEOUT + 10_000,
    )) as Settled[];
    settled = replies.every((r) => r.settled) && settled;
    mark('quiet');
    await sleep(2000); // late duplicates and answers drain
    const believed = replies.flatMap((r) => r.registrations);
    const held = await server.registrations();
    const c = compareRegistrations(
      believed,
      held.map((r) => ({ endpoint: r.endpoint, id: r.id })),
    );
    const settleMs = performance.now() - started;
    await new Promise((r) => setImmediate(r));
    gc();
    gc();
    const memory = process.memoryUsage();
    // Handles: the least seen over HANDLE_WINDOW ms. A timer of a request finishing its last
    // retransmission or deadline is gone a moment later; a leaked handle stays in every look.
    // Above the warm-up's count, the look goes on up to HANDLE_WINDOW_MAX: a server CON still
    // being retransmitted to a device holds its timer up to MAX_TRANSMIT_WAIT (23 s here).
    let live = handles();
    let most = live.total;
    const delays = clock.liveDelays();
    const before = checkpoints[0]?.sample.handles ?? Infinity;
    for (
      let waited = 0;
      waited < HANDLE_WINDOW || (live.total > before && waited < HANDLE_WINDOW_MAX);
      waited += 250
    ) {
      await sleep(250);
      const now = handles();
      most = Math.max(most, now.total);
      if (now.total < live.total) live = now;
    }
    const sample: ResourceSample = {
      atS: elapsedS(),
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      handles: live.total,
      handlesMax: most,
      resources: live.kinds,
      serverTimerDelays: delays,
      registrations: held.length,
      observations: load.snapshot().observationsNow,
    };
    checkpoints.push({
      name,
      settled,
      settleMs,
      phases,
      reobserved,
      comparison: {
        believed: c.believed,
        held: c.held,
        missing: c.missing.length,
        mismatched: c.mismatched.length,
        duplicates: c.duplicates.length,
        unexpected: c.unexpected.length,
        examples: [...c.missing, ...c.mismatched, ...c.duplicates, ...c.unexpected].slice(0, 10),
      },
      sample,
    });
    log(
      `[${sample.atS.toFixed(0)} s] ${name}: settled=${settled} in ${(settleMs / 1000).toFixed(1)} s ${JSON.stringify(phases)}; ` +
        `devices believe ${c.believed}, server holds ${c.held} (missing ${c.missing.length}, ` +
        `mismatched ${c.mismatched.length}, duplicates ${c.duplicates.length}, unexpected ${c.unexpected.length}); ` +
        `heap ${mib(sample.heapUsed)}, rss ${mib(sample.rss)}, handles ${sample.handles} (at most ${sample.handlesMax}; server timers by delay ${JSON.stringify(sample.serverTimerDelays)}), ` +
        `observations ${sample.observations}`,
    );
    if (!settled) failures.push(`${name}: the fleet did not settle within ${SETTLE_TIMEOUT / 1000} s`);
    if (!registrationsIntact(c))
      failures.push(
        `${name}: registrations differ: ${c.missing.length} lost, ${c.mismatched.length} with another id, ` +
          `${c.duplicates.length} duplicated, ${c.unexpected.length} unexpected (e.g. ${checkpoints.at(-1)!.comparison.examples.join(', ')})`,
      );
    if (c.believed !== options.clients)
      failures.push(`${name}: ${c.believed} of ${options.clients} devices registered after settling`);
  };

  try {
    await server.start();
    const port = server.address!.port;
    proxy = await startFaultProxy({
      upstream: { address: '127.0.0.1', port },
      drop: options.loss,
      duplicate: options.duplicate,
      delay: { min: 0, max: 20 },
      seed: options.seed,
    });
    const processes = Math.ceil(options.clients / DEVICES_PER_SIMULATOR);
    for (let i = 0; i < processes; i++) simulators.push(await SimulatorProcess.start());
    const rampMs = Math.min(30_000, Math.max(5000, options.clients * 3));
    log(
      `soak: ${options.clients} devices in ${processes} simulator process(es), ${options.minutes} min, ` +
        `loss ${options.loss * 100}% each way through the fault proxy, server on 127.0.0.1:${port}`,
    );
    await Promise.all(
      simulators.map((s, i) => {
        const first = i * DEVICES_PER_SIMULATOR;
        return s.ask(
          {
            cmd: 'start',
            server: { address: '127.0.0.1', port: proxy!.port },
            first,
            count: Math.min(DEVICES_PER_SIMULATOR, options.clients - first),
            prefix: PREFIX,
            seed: options.seed * 1000 + i,
            rampMs,
            profile: PROFILE,
          },
          120_000,
        );
      }),
    );
    load.resume();
    let nextLog = 0;
    sampler = setInterval(() => {
      const m = process.memoryUsage();
      const snapshot = load.snapshot();
      const point = {
        atS: Math.round(elapsedS()),
        heapUsed: m.heapUsed,
        handles: handles().total,
      };
      timeline.push(point);
      if (point.atS >= nextLog) {
        nextLog = point.atS + 30;
        log(
          `[${point.atS} s] heap ${mib(m.heapUsed)} (no GC), handles ${point.handles}; registered ${counts.registered}, ` +
            `updated ${counts.updated}, deregistered ${counts.deregistered}; reads ${snapshot.readsOk}/${snapshot.reads}, ` +
            `observations ${snapshot.observationsNow}, notifications ${snapshot.notifications}`,
        );
      }
    }, 10_000);

    const runMs = options.minutes * 60_000;
    // At least the ramp plus a deduplication window (EXCHANGE_LIFETIME, 21.75 s) of churn.
    const warmupMs = Math.min(runMs / 2, Math.max(runMs * options.warmup, rampMs + WARMUP_AFTER_RAMP));
    await sleep(warmupMs);
    await checkpoint('warm-up');
    await askAll({ cmd: 'resume' });
    load.resume();
    await sleep(runMs - warmupMs);
    await checkpoint('end');
    devices = await simulatorStats();
  } catch (e) {
    failures.push(`the run failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  } finally {
    clearInterval(sampler);
    load.pause();
    await Promise.allSettled(simulators.map((s) => s.close()));
    proxyStats = await proxy?.stats().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    await server.stop();
  }

  const [warm, end] = checkpoints;
  const heapChange = warm && end ? relativeChange(warm.sample.heapUsed, end.sample.heapUsed) : NaN;
  const handleChange = warm && end ? relativeChange(warm.sample.handles, end.sample.handles) : NaN;
  if (warm && end) {
    if (!(heapChange <= options.tolerance))
      failures.push(
        `heap after GC went from ${mib(warm.sample.heapUsed)} to ${mib(end.sample.heapUsed)} ` +
          `(${(heapChange * 100).toFixed(1)}%, more than ${options.tolerance * 100}%)`,
      );
    if (!(handleChange <= options.tolerance))
      failures.push(
        `handles went from ${warm.sample.handles} to ${end.sample.handles} ` +
          `(${(handleChange * 100).toFixed(1)}%, more than ${options.tolerance * 100}%): ` +
          `${JSON.stringify(warm.sample.resources)} -> ${JSON.stringify(end.sample.resources)}`,
      );
  } else if (failures.length === 0) failures.push('the run did not reach both measures');
  if (counts.expired > 0)
    failures.push(`${counts.expired} registrations expired (no device stays away that long)`);
  if (devices && devices.lostRegistrations > 0)
    failures.push(
      `${devices.lostRegistrations} Updates or De-registers of a confirmed registration got 4.04; ` +
        devices.lost
          .map(
            (l) =>
              `\n${l.endpoint} (${l.kind} of ${l.location}):\n  ` +
              [...l.trace, ...(serverTrace.get(addressOf.get(l.endpoint) ?? '') ?? [])]
                .map(
                  (line) =>
                    [Number(line.slice(0, line.indexOf(' '))), line.slice(line.indexOf(' '))] as const,
                )
                .sort((a, b) => a[0] - b[0])
                .map(([at, rest]) => new Date(at).toISOString().slice(11, 23) + rest)
                .join('\n  '),
          )
          .join(''),
    );
  if (devices && counts.registered > devices.registersSent)
    failures.push(
      `the server registered ${counts.registered} times for ${devices.registersSent} Register exchanges`,
    );
  if (counts.errors > 0) failures.push(`the server emitted ${counts.errors} 'error' events`);

  const { log: _log, ...reportedOptions } = options;
  return {
    options: reportedOptions,
    node: process.version,
    startedAt,
    durationS: Math.round(elapsedS()),
    checkpoints,
    heapChange,
    handleChange,
    server: counts,
    load: load.snapshot(),
    devices: devices ?? sumStats([]),
    proxy: proxyStats,
    timeline,
    failures,
    passed: failures.length === 0,
  };
}
