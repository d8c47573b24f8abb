import { Presets, SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isIP } from 'node:net';
import type { LwM2mVersion } from '../operations/version.js';
import { intervalSeconds, lifetimeSeconds } from './client-command.js';
import { FLEET_DEFAULTS, FLEET_MAX_COUNT, FleetError, checkServerUri, startFleet } from './fleet.js';
import type { Fleet, FleetProgress, FleetSummary } from './fleet.js';
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

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

/** Progress of the registration phase: a bar on a terminal, else a line per 10 %. */
interface ProgressView {
  update(progress: FleetProgress): void;
  stop(): void;
}

function progressView(io: CliIo, total: number, quiet: boolean): ProgressView {
  if (quiet) return { update: () => undefined, stop: () => undefined };
  const stream = io.progressStream?.();
  if (stream) {
    const bar = new SingleBar(
      {
        stream,
        format:
          'registering [{bar}] {percentage}% | {value}/{total} | {registered} registered, {failed} failed',
        hideCursor: true,
        clearOnComplete: true,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { registered: 0, failed: 0 });
    return {
      update: (p) => bar.update(p.registered + p.failed, { registered: p.registered, failed: p.failed }),
      stop: () => bar.stop(),
    };
  }
  let decile = 0;
  return {
    update(p) {
      const done = p.registered + p.failed;
      const now = Math.floor((done * 10) / total);
      if (now <= decile) return;
      decile = now;
      io.stderr(
        `registering ${Math.floor((done * 100) / total)}% (${done}/${total}): ` +
          `${p.registered} registered, ${p.failed} failed\n`,
      );
    },
    stop: () => undefined,
  };
}

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

/**
 * `petrel fleet`: `--count` simulated devices in one process, each with its own UDP socket,
 * registered at `--rate` per second; prints a summary, keeps them running until SIGINT/SIGTERM,
 * then de-registers them all.
 */
export function fleetCommand(io: CliIo): Command {
  return new Command('fleet')
    .description('run many simulated devices against a server, for load tests and demos')
    .requiredOption('--count <n>', `how many devices (1..${FLEET_MAX_COUNT})`, countOption)
    .option('--server <uri>', 'LwM2M server, coap://host:port', serverOption, FLEET_DEFAULTS.server)
    .option('--prefix <text>', 'endpoint names are <prefix><index>', prefixOption, FLEET_DEFAULTS.prefix)
    .option('--lifetime <seconds>', 'registration lifetime', lifetimeSeconds, FLEET_DEFAULTS.lifetime)
    .addOption(
      new Option('--lwm2m-version <version>', 'LwM2M version to register with (falls back on 4.12)')
        .choices(['1.2', '1.1', '1.0'])
        .default(FLEET_DEFAULTS.lwm2mVersion),
    )
    .option('--queue-mode', 'register in queue mode (b=UQ / Q)')
    .option(
      '--rate <n>',
      'devices started (registrations) per second; 0 = as fast as possible',
      rateOption,
      FLEET_DEFAULTS.rate,
    )
    .option(
      '--interval <seconds>',
      'seconds between sensor measurements',
      intervalSeconds,
      FLEET_DEFAULTS.interval,
    )
    .option('--address <ip>', 'local IP address to bind (each device its own free port)', ipOption)
    .option('--json', 'print one JSON object per line')
    .option('--quiet', 'print only the summary and errors')
    .action((opts: FleetCommandOptions) => runFleet(io, opts));
}

async function runFleet(io: CliIo, opts: FleetCommandOptions): Promise<void> {
  const json = opts.json === true;
  const quiet = opts.quiet === true;
  const log = (event: string, text: string, data: Record<string, unknown>): void => {
    if (quiet) return;
    io.stdout(
      json ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n` : `${event} ${text}\n`,
    );
  };
  const stopping = (io.shutdown ?? waitForSignal)();
  const abort = new AbortController();
  let stopRequested = false;
  void stopping.then(() => {
    stopRequested = true;
    abort.abort();
  });
  log(
    'starting',
    `${opts.count} devices, server ${opts.server}, rate ${opts.rate === 0 ? 'unlimited' : `${opts.rate}/s`}, ` +
      `lwm2m ${opts.lwm2mVersion}, lifetime ${opts.lifetime} s`,
    {
      count: opts.count,
      server: opts.server,
      rate: opts.rate,
      lwm2m: opts.lwm2mVersion,
      lifetime: opts.lifetime,
    },
  );
  const progress = progressView(io, opts.count, quiet);
  let fleet: Fleet;
  try {
    fleet = await startFleet({
      count: opts.count,
      server: opts.server,
      prefix: opts.prefix,
      lifetime: opts.lifetime,
      lwm2mVersion: opts.lwm2mVersion,
      queueMode: opts.queueMode === true,
      rate: opts.rate,
      interval: opts.interval,
      ...(opts.address === undefined ? {} : { address: opts.address }),
      onProgress: (p) => progress.update(p),
      signal: abort.signal,
    });
  } catch (e) {
    if (e instanceof FleetError) throw new CliError(e.message, 2);
    throw e;
  } finally {
    progress.stop();
  }
  const s = fleet.summary;
  io.stdout(
    json
      ? `${JSON.stringify({ event: 'summary', server: opts.server, ...s })}\n`
      : formatFleetSummary(s, opts.server),
  );
  // The devices that failed keep retrying, so with any registered the fleet runs; with none it
  // has nothing to show.
  if (s.registered === 0 && !stopRequested) {
    await fleet.stop();
    throw new CliError(`no device registered with ${opts.server}`, 1);
  }
  if (!stopRequested) {
    log('running', `${fleet.registered} devices registered; SIGINT or SIGTERM de-registers them and exits`, {
      registered: fleet.registered,
    });
    await stopping;
  }
  // Bounded: 10 s, plus 1 ms per device for large fleets.
  const result = await fleet.stop({ timeoutMs: FLEET_DEFAULTS.stopTimeoutMs + opts.count });
  log(
    'stopped',
    `deregistered ${result.deregistered}/${result.registered} in ${seconds(result.elapsedMs)} s`,
    {
      ...result,
    },
  );
}
