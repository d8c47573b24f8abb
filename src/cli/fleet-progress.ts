import { MultiBar, Presets } from 'cli-progress';
import type { SingleBar } from 'cli-progress';
import type { CliIo } from './io.js';
import type { FleetLoadStatus } from './fleet-load.js';
import { FLEET_OPERATIONS } from './fleet-stats.js';
import type { FleetOperation } from './fleet-stats.js';

/** Operations per second between two statuses (what the fleet does now, not since the start). */
export function ratesBetween(
  before: FleetLoadStatus | undefined,
  now: FleetLoadStatus,
): Record<FleetOperation, number> {
  const dt = (now.elapsedMs - (before?.elapsedMs ?? 0)) / 1000;
  return Object.fromEntries(
    FLEET_OPERATIONS.map((k) => {
      const done = (s: FleetLoadStatus | undefined): number =>
        s === undefined ? 0 : s.operations[k].ok + s.operations[k].failed;
      return [k, dt > 0 ? Math.round(((done(now) - done(before)) / dt) * 10) / 10 : 0];
    }),
  ) as Record<FleetOperation, number>;
}

const failures = (s: FleetLoadStatus): number =>
  FLEET_OPERATIONS.reduce((n, k) => n + s.operations[k].failed, 0);

/** The text of a periodic status line. */
export function formatStatusLine(s: FleetLoadStatus, rates: Record<FleetOperation, number>): string {
  const active = FLEET_OPERATIONS.filter((k) => rates[k] > 0).map((k) => `${k} ${rates[k]}/s`);
  return (
    `stats ${(s.elapsedMs / 1000).toFixed(1)} s: ${s.registered}/${s.total} registered` +
    ` (${s.asleep} asleep, ${s.unregistered} unregistered)` +
    ` | ${active.length === 0 ? 'idle' : active.join(', ')} | ${failures(s)} errors\n`
  );
}

/** What the command shows while the fleet runs. */
export interface FleetView {
  /** A new status (several a second). */
  update(status: FleetLoadStatus): void;
  /** The registration phase ended. */
  registered(status: FleetLoadStatus): void;
  stop(): void;
}

export interface FleetViewOptions {
  readonly quiet: boolean;
  readonly json: boolean;
  /** Seconds between plain status lines. */
  readonly reportEvery: number;
  /** Seconds the run lasts, when bounded. */
  readonly duration: number | undefined;
}

/**
 * On a terminal (and without --json): progress bars on stderr, one for the registration phase
 * and one for the registered devices with the current rates. Otherwise: the registration phase
 * as a stderr line per 10 %, then a `stats` line (or JSON object) on stdout every reportEvery s.
 */
export function fleetView(io: CliIo, o: FleetViewOptions): FleetView {
  if (o.quiet) return { update: () => undefined, registered: () => undefined, stop: () => undefined };
  const stream = o.json ? undefined : io.progressStream?.();
  return stream ? barView(stream, o) : lineView(io, o);
}

function barView(stream: NodeJS.WritableStream, o: FleetViewOptions): FleetView {
  const multi = new MultiBar(
    { stream, hideCursor: true, clearOnComplete: true, format: '{bar}' },
    Presets.shades_classic,
  );
  let registering: SingleBar | undefined;
  let running: SingleBar | undefined;
  let last: FleetLoadStatus | undefined;
  let lastRatesAt: FleetLoadStatus | undefined;
  let rates: Record<FleetOperation, number> | undefined;
  let runningSince = 0;
  return {
    update(s) {
      if (registering === undefined)
        registering = multi.create(
          s.total,
          0,
          { registered: 0, failed: 0 },
          {
            format:
              'registering [{bar}] {percentage}% | {value}/{total} | {registered} registered, {failed} failed',
          },
        );
      if (running === undefined)
        registering?.update(s.firstRegistered + s.firstFailed, {
          registered: s.firstRegistered,
          failed: s.firstFailed,
        });
      else {
        if (lastRatesAt === undefined || s.elapsedMs - lastRatesAt.elapsedMs >= 1000) {
          rates = ratesBetween(lastRatesAt, s);
          lastRatesAt = s;
        }
        const r = rates ?? ratesBetween(lastRatesAt, s);
        running.update(s.registered, {
          asleep: s.asleep,
          rates:
            FLEET_OPERATIONS.filter((k) => r[k] > 0)
              .map((k) => `${k} ${r[k]}/s`)
              .join(', ') || 'idle',
          errors: failures(s),
          left:
            o.duration === undefined
              ? ''
              : ` | ${Math.max(0, o.duration - (s.elapsedMs - runningSince) / 1000).toFixed(0)} s left`,
        });
      }
      last = s;
    },
    registered(s) {
      runningSince = s.elapsedMs;
      // The registration bar stays, complete; the devices bar goes under it.
      registering?.update(s.firstRegistered + s.firstFailed, {
        registered: s.firstRegistered,
        failed: s.firstFailed,
      });
      multi.update();
      running = multi.create(
        s.total,
        s.registered,
        { asleep: 0, rates: 'idle', errors: 0, left: '' },
        {
          format:
            'devices     [{bar}] {value}/{total} registered, {asleep} asleep | {rates} | {errors} errors{left}',
        },
      );
      lastRatesAt = last;
    },
    stop: () => multi.stop(),
  };
}

function lineView(io: CliIo, o: FleetViewOptions): FleetView {
  let decile = 0;
  let phaseOver = false;
  let lastLine: FleetLoadStatus | undefined;
  const decileLine = (s: FleetLoadStatus): void => {
    const done = s.firstRegistered + s.firstFailed;
    const now = Math.floor((done * 10) / s.total);
    if (now <= decile) return;
    decile = now;
    io.stderr(
      `registering ${Math.floor((done * 100) / s.total)}% (${done}/${s.total}): ` +
        `${s.firstRegistered} registered, ${s.firstFailed} failed\n`,
    );
  };
  return {
    update(s) {
      if (!phaseOver) {
        decileLine(s);
        return;
      }
      if (s.phase !== 'running') return; // the report follows
      if (lastLine !== undefined && s.elapsedMs - lastLine.elapsedMs < o.reportEvery * 1000) return;
      const rates = ratesBetween(lastLine, s);
      lastLine = s;
      io.stdout(
        o.json
          ? `${JSON.stringify({
              time: new Date().toISOString(),
              event: 'stats',
              elapsedMs: s.elapsedMs,
              total: s.total,
              registered: s.registered,
              asleep: s.asleep,
              unregistered: s.unregistered,
              perSecond: rates,
              counts: Object.fromEntries(
                FLEET_OPERATIONS.map((k) => [k, { ok: s.operations[k].ok, failed: s.operations[k].failed }]),
              ),
            })}\n`
          : formatStatusLine(s, rates),
      );
    },
    registered(s) {
      decileLine(s);
      phaseOver = true;
      lastLine = s;
    },
    stop: () => undefined,
  };
}
