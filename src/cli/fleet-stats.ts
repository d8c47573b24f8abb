import { LatencyHistogram } from './fleet-histogram.js';
import type { HistogramSnapshot, LatencySummary } from './fleet-histogram.js';

/**
 * What a fleet counts. register / update / deregister: a Register, Update or De-register that
 * got an answer (or none: `timeout`). wake: the Update a queue-mode device sends on waking.
 * sleep: a device going quiet (no message). served: a request of the server the devices answered
 * (Read, Observe, Write …), by the code they answered.
 */
export const FLEET_OPERATIONS = ['register', 'update', 'wake', 'sleep', 'deregister', 'served'] as const;
export type FleetOperation = (typeof FLEET_OPERATIONS)[number];

/** Distinct reasons remembered per code (the rest are only counted). */
const REASONS_PER_CODE = 3;

export interface FleetErrorCount {
  /** A CoAP code (`5.03`), `timeout` (no answer) or `error` (could not send). */
  readonly code: string;
  readonly count: number;
  /** Up to three distinct reasons seen with this code. */
  readonly reasons: readonly string[];
}

export interface OperationSnapshot {
  readonly ok: number;
  readonly failed: number;
  readonly latency: HistogramSnapshot;
  readonly errors: readonly FleetErrorCount[];
}

/** The JSON form of FleetStats, sent between processes. */
export type FleetStatsSnapshot = Readonly<Record<FleetOperation, OperationSnapshot>>;

export interface OperationReport {
  readonly ok: number;
  readonly failed: number;
  /** (ok + failed) per second over the report's time. */
  readonly perSecond: number;
  /** Over the operations the fleet timed (those it started itself), ms. */
  readonly latencyMs: LatencySummary | undefined;
  /** By count, largest first. */
  readonly errors: readonly FleetErrorCount[];
}

export type FleetStatsReport = Readonly<Record<FleetOperation, OperationReport>>;

class Operation {
  ok = 0;
  failed = 0;
  readonly latency = new LatencyHistogram();
  readonly errors = new Map<string, { count: number; reasons: Set<string> }>();

  fail(code: string, reason: string, count = 1, reasons: readonly string[] = [reason]): void {
    this.failed += count;
    let entry = this.errors.get(code);
    if (entry === undefined) this.errors.set(code, (entry = { count: 0, reasons: new Set() }));
    entry.count += count;
    for (const r of reasons) if (entry.reasons.size < REASONS_PER_CODE) entry.reasons.add(r);
  }

  errorList(): FleetErrorCount[] {
    return [...this.errors]
      .map(([code, e]) => ({ code, count: e.count, reasons: [...e.reasons] }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Counts, latency histograms and errors by code, per operation; fixed memory. */
export class FleetStats {
  readonly #ops = Object.fromEntries(FLEET_OPERATIONS.map((k) => [k, new Operation()])) as Record<
    FleetOperation,
    Operation
  >;

  /** A success; `latencyMs` when the fleet timed it. */
  ok(kind: FleetOperation, latencyMs?: number): void {
    const op = this.#ops[kind];
    op.ok++;
    if (latencyMs !== undefined) op.latency.record(latencyMs);
  }

  fail(kind: FleetOperation, code: string, reason: string): void {
    this.#ops[kind].fail(code, reason);
  }

  count(kind: FleetOperation): { ok: number; failed: number } {
    const op = this.#ops[kind];
    return { ok: op.ok, failed: op.failed };
  }

  snapshot(): FleetStatsSnapshot {
    return Object.fromEntries(
      FLEET_OPERATIONS.map((k) => {
        const op = this.#ops[k];
        return [k, { ok: op.ok, failed: op.failed, latency: op.latency.snapshot(), errors: op.errorList() }];
      }),
    ) as unknown as FleetStatsSnapshot;
  }

  /** Adds another FleetStats' snapshot (another process's). */
  merge(s: FleetStatsSnapshot): this {
    for (const k of FLEET_OPERATIONS) {
      const from = s[k];
      const op = this.#ops[k];
      op.ok += from.ok;
      op.latency.merge(from.latency);
      for (const e of from.errors) op.fail(e.code, '', e.count, e.reasons);
      // fail() counted the errors; failures without an error entry (none today) would be lost.
      op.failed += from.failed - from.errors.reduce((n, e) => n + e.count, 0);
    }
    return this;
  }

  static from(snapshots: readonly FleetStatsSnapshot[]): FleetStats {
    const stats = new FleetStats();
    for (const s of snapshots) stats.merge(s);
    return stats;
  }

  report(elapsedMs: number): FleetStatsReport {
    return Object.fromEntries(
      FLEET_OPERATIONS.map((k) => {
        const op = this.#ops[k];
        const done = op.ok + op.failed;
        return [
          k,
          {
            ok: op.ok,
            failed: op.failed,
            perSecond: elapsedMs > 0 ? round1((done * 1000) / elapsedMs) : 0,
            latencyMs: op.latency.summary(),
            errors: op.errorList(),
          },
        ];
      }),
    ) as unknown as FleetStatsReport;
  }
}
