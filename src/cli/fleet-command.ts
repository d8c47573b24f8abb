import { Command, InvalidArgumentError, Option } from 'commander';
import { isIP } from 'node:net';
import { PetrelError } from '../errors.js';
import type { LwM2mVersion } from '../operations/version.js';
import { intervalSeconds, lifetimeSeconds } from './client-command.js';
import { formatChurn, parseChurn } from './fleet-churn.js';
import type { ChurnSpec } from './fleet-churn.js';
import { DEFAULT_OBJECT_SET, formatObjectSet, parseAddressRange, parseObjectSet } from './fleet-device.js';
import type { FleetObjectSet } from './fleet-device.js';
import { FleetLoad, MAX_PROCESSES } from './fleet-load.js';
import type { FleetLoadStatus } from './fleet-load.js';
import { fleetView } from './fleet-progress.js';
import { FLEET_OPERATIONS } from './fleet-stats.js';
import type { FleetStopResult } from './fleet.js';
import { FLEET_DEFAULTS, FLEET_MAX_COUNT, FleetError, checkServerUri } from './fleet.js';
import type { FleetSummary } from './fleet.js';
import { CliError, type CliIo } from './io.js';
import { waitForSignal } from './signals.js';

interface FleetCommandOptions {
  count: number;
  server: string;
  prefix: string;
  lifetime: number;
  lwm2mVersion: LwM2mVersion;
  queueMode?: boolean;
  rate: number;
  interval: number;
  address?: string;
  addresses?: string[];
  objects: FleetObjectSet;
  churn: ChurnSpec;
  duration?: number;
  processes: number;
  reportEvery: number;
  json?: boolean;
  quiet?: boolean;
}

function countOption(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > FLEET_MAX_COUNT)
    throw new InvalidArgumentError(`expected a whole number of devices, 1..${FLEET_MAX_COUNT}`);
  return n;
}

function rateOption(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || n > 1_000_000)
    throw new InvalidArgumentError('expected registrations per second, 0 (as fast as possible) to 1000000');
  return n;
}

function serverOption(text: string): string {
  const problem = checkServerUri(text);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return text;
}

/** The names go into `ep=` (a Uri-Query option of its own), so anything visible is fine. */
function prefixOption(text: string): string {
  if (!/^[\x21-\x7e]{0,64}$/.test(text))
    throw new InvalidArgumentError('expected at most 64 visible ASCII characters (no spaces)');
  return text;
}

function ipOption(text: string): string {
  if (isIP(text) === 0)
    throw new InvalidArgumentError('expected an IP address such as 0.0.0.0, :: or 10.0.0.5');
  return text;
}

/** Wraps a parser whose typed errors (PetrelError) become commander's usage errors. */
function parsed<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (e) {
      if (e instanceof PetrelError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

function durationOption(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || !(n > 0) || n > 31_536_000)
    throw new InvalidArgumentError('expected seconds above 0 (at most a year)');
  return n;
}

function processesOption(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n > MAX_PROCESSES)
    throw new InvalidArgumentError(`expected 0 (automatic) to ${MAX_PROCESSES} processes`);
  return n;
}

function reportEveryOption(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || !(n >= 0.1) || n > 3600)
    throw new InvalidArgumentError('expected seconds between 0.1 and 3600');
  return n;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

/** The summary's text lines. */
export function formatFleetSummary(s: FleetSummary, server: string): string {
  const lines = [
    `registered ${s.registered}/${s.total} with ${server} in ${seconds(s.elapsedMs)} s ` +
      `(${s.registrationsPerSecond.toFixed(1)} registrations/s)` +
      (s.latencyMs
        ? `, register latency p50 ${s.latencyMs.p50.toFixed(1)} ms, p99 ${s.latencyMs.p99.toFixed(1)} ms`
        : ''),
  ];
  if (s.failed > 0)
    lines.push(
      `failed ${s.failed}: ` +
        s.failures.map((f) => `${f.code} x${f.count} (${f.reasons.join('; ')})`).join(', '),
    );
  if (s.pending > 0) lines.push(`pending ${s.pending} (no outcome yet)`);
  if (s.started < s.total) lines.push(`not started ${s.total - s.started} (stopped early)`);
  return `${lines.join('\n')}\n`;
}

/** The final report's text: the devices when the run ended, then a line per operation and the errors. */
export function formatFleetReport(
  s: FleetLoadStatus,
  devices: Pick<FleetLoadStatus, 'registered' | 'asleep' | 'unregistered'>,
): string {
  const lines = [
    `report after ${seconds(s.elapsedMs)} s, ${s.total} devices in ${s.processes} ` +
      `${s.processes === 1 ? 'process' : 'processes'}: at the end ${devices.registered} registered ` +
      `(${devices.asleep} asleep), ${devices.unregistered} unregistered`,
  ];
  const errors: string[] = [];
  for (const k of FLEET_OPERATIONS) {
    const op = s.operations[k];
    if (op.ok + op.failed === 0) continue;
    const latency = op.latencyMs
      ? `, p50 ${op.latencyMs.p50.toFixed(1)} ms, p99 ${op.latencyMs.p99.toFixed(1)} ms`
      : '';
    lines.push(`  ${k.padEnd(10)} ${op.ok} ok, ${op.failed} failed, ${op.perSecond.toFixed(1)}/s${latency}`);
    for (const e of op.errors) errors.push(`${k} ${e.code} x${e.count} (${e.reasons.join('; ')})`);
  }
  if (errors.length > 0) lines.push(`  errors: ${errors.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `petrel fleet`: `--count` simulated devices, in this process or in worker processes, each
 * with its own UDP socket (and on loopback its own address), registered at `--rate` per second;
 * then `--churn` until `--duration` ends or SIGINT/SIGTERM; then it de-registers them all and
 * prints a report.
 */
export function fleetCommand(io: CliIo): Command {
  return new Command('fleet')
    .description('run many simulated devices against a server: a load generator and a demo')
    .requiredOption('--count <n>', `how many devices (1..${FLEET_MAX_COUNT})`, countOption)
    .option('--server <uri>', 'LwM2M server, coap://host:port', serverOption, FLEET_DEFAULTS.server)
    .option('--prefix <text>', 'endpoint names are <prefix><index>', prefixOption, FLEET_DEFAULTS.prefix)
    .option('--lifetime <seconds>', 'registration lifetime', lifetimeSeconds, FLEET_DEFAULTS.lifetime)
    .addOption(
      new Option('--lwm2m-version <version>', 'LwM2M version to register with (falls back on 4.12)')
        .choices(['1.2', '1.1', '1.0'])
        .default(FLEET_DEFAULTS.lwm2mVersion),
    )
    .option('--queue-mode', 'register in queue mode (b=UQ / Q); needed by sleep and wake churn')
    .option(
      '--rate <n>',
      'Registers started per second over the whole fleet in the registration phase; 0 = as fast as possible',
      rateOption,
      FLEET_DEFAULTS.rate,
    )
    .option(
      '--objects <list>',
      'objects besides /0 /1 /3: ids from 4, 6, 3303, and 3303*N for N temperature sensors',
      parsed(parseObjectSet),
      DEFAULT_OBJECT_SET,
    )
    .option(
      '--churn <spec>',
      'after registering: op=rate pairs, op update|sleep|wake|deregister|register, rate per device and minute or N/s fleet-wide',
      parsed(parseChurn),
      {},
    )
    .option(
      '--duration <seconds>',
      'after the registration phase, run (churn) this long, then de-register and exit',
      durationOption,
    )
    .option(
      '--processes <n>',
      'worker processes (0 = automatic: one per 15000 devices; 1 = this process only)',
      processesOption,
      0,
    )
    .option(
      '--interval <seconds>',
      'seconds between sensor measurements',
      intervalSeconds,
      FLEET_DEFAULTS.interval,
    )
    .option('--address <ip>', 'one local IP address for every device (each its own free port)', ipOption)
    .option(
      '--addresses <range>',
      'spread the devices over an IPv4 range, e.g. 127.0.0.1-127.0.0.254 (default for a loopback server on Linux)',
      parsed(parseAddressRange),
    )
    .option(
      '--report-every <seconds>',
      'seconds between status lines (not on a terminal)',
      reportEveryOption,
      5,
    )
    .option('--json', 'print one JSON object per line')
    .option('--quiet', 'print only the summaries and errors')
    .action((opts: FleetCommandOptions) => runFleet(io, opts));
}

/** Polls the fleet for the view every 100 ms. */
const POLL_MS = 100;

async function runFleet(io: CliIo, opts: FleetCommandOptions): Promise<void> {
  const json = opts.json === true;
  const quiet = opts.quiet === true;
  const log = (event: string, text: string, data: Record<string, unknown>): void => {
    if (quiet) return;
    io.stdout(
      json ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n` : `${event} ${text}\n`,
    );
  };
  let load: FleetLoad;
  try {
    load = new FleetLoad({
      count: opts.count,
      server: opts.server,
      prefix: opts.prefix,
      lifetime: opts.lifetime,
      lwm2mVersion: opts.lwm2mVersion,
      queueMode: opts.queueMode === true,
      rate: opts.rate,
      interval: opts.interval,
      objects: opts.objects,
      churn: opts.churn,
      processes: opts.processes,
      ...(opts.address === undefined ? {} : { address: opts.address }),
      ...(opts.addresses === undefined ? {} : { addresses: opts.addresses }),
    });
  } catch (e) {
    if (e instanceof FleetError) throw new CliError(e.message, 2);
    throw e;
  }
  // Stop on a signal, or when --duration is over.
  let stopRequested = false;
  let durationTimer: ReturnType<typeof setTimeout> | undefined;
  let endOfDuration!: () => void;
  const stopping = new Promise<void>((resolve) => {
    void (io.shutdown ?? waitForSignal)().then(resolve);
    endOfDuration = resolve;
  }).then(() => {
    stopRequested = true;
    load.abortRegistration();
  });
  log(
    'starting',
    `${opts.count} devices, server ${opts.server}, rate ${opts.rate === 0 ? 'unlimited' : `${opts.rate}/s`}, ` +
      `lwm2m ${opts.lwm2mVersion}, lifetime ${opts.lifetime} s, objects ${formatObjectSet(opts.objects)}, ` +
      `churn ${formatChurn(opts.churn)}, ${load.processes} ${load.processes === 1 ? 'process' : 'processes'}` +
      (opts.duration === undefined ? '' : `, then ${opts.duration} s running`),
    {
      count: opts.count,
      server: opts.server,
      rate: opts.rate,
      lwm2m: opts.lwm2mVersion,
      lifetime: opts.lifetime,
      objects: formatObjectSet(opts.objects),
      churn: opts.churn,
      processes: load.processes,
      ...(opts.duration === undefined ? {} : { duration: opts.duration }),
    },
  );
  const view = fleetView(io, { quiet, json, reportEvery: opts.reportEvery, duration: opts.duration });
  view.update(load.status());
  const poll = setInterval(() => view.update(load.status()), POLL_MS);
  let stop: { stop: FleetStopResult; report: FleetLoadStatus } | undefined;
  try {
    let s: FleetSummary;
    try {
      s = await load.registration;
    } catch (e) {
      await load.stop(1000);
      throw new CliError(e instanceof Error ? e.message : String(e), 1);
    }
    view.registered(load.status());
    io.stdout(
      json
        ? `${JSON.stringify({ event: 'summary', server: opts.server, ...s })}\n`
        : formatFleetSummary(s, opts.server),
    );
    // The devices that failed keep retrying, so with any registered the fleet runs; with none it
    // has nothing to show.
    if (s.registered === 0 && !stopRequested) {
      await load.stop(FLEET_DEFAULTS.stopTimeoutMs);
      throw new CliError(`no device registered with ${opts.server}`, 1);
    }
    if (!stopRequested) {
      // --duration counts from here: the churn phase, whatever the registration phase took.
      if (opts.duration !== undefined) durationTimer = setTimeout(endOfDuration, opts.duration * 1000);
      const registered = load.status().registered;
      log(
        'running',
        `${registered} devices registered; ` +
          (opts.duration === undefined
            ? 'SIGINT or SIGTERM de-registers them and exits'
            : `de-registering them after ${opts.duration} s (or on SIGINT or SIGTERM)`),
        { registered },
      );
      await stopping;
    }
    const before = load.status();
    // Bounded: 10 s, plus 1 ms per device for large fleets.
    stop = await load.stop(FLEET_DEFAULTS.stopTimeoutMs + opts.count);
    view.stop();
    const r = stop.stop;
    log('stopped', `deregistered ${r.deregistered}/${r.registered} in ${seconds(r.elapsedMs)} s`, { ...r });
    io.stdout(
      json
        ? `${JSON.stringify({
            event: 'report',
            server: opts.server,
            ...stop.report,
            atEnd: {
              registered: before.registered,
              asleep: before.asleep,
              unregistered: before.unregistered,
            },
            stop: r,
          })}\n`
        : formatFleetReport(stop.report, before),
    );
  } finally {
    clearInterval(poll);
    clearTimeout(durationTimer);
    view.stop();
  }
}
