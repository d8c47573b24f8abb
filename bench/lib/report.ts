import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** One figure with its unit. */
export interface Metric {
  value: number;
  unit: string;
  /** Every run's value, when `value` is the median of several runs. */
  runs?: number[];
}

/** The shape every benchmark writes to bench/results/<name>.json. */
export interface BenchResult {
  name: string;
  node: string;
  machine: string;
  metrics: Record<string, Metric>;
  baselines: Record<string, Record<string, Metric>>;
  ratios: Record<string, number>;
  /** Every run's ratio, when a ratio is the median of several runs. */
  ratioRuns?: Record<string, number[]>;
}

export function machineDescription(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

export function newResult(name: string): BenchResult {
  return {
    name,
    node: process.version,
    machine: machineDescription(),
    metrics: {},
    baselines: {},
    ratios: {},
  };
}

/** Times `fn` for about `ms` milliseconds after a warm-up; returns operations per second. */
export function opsPerSecond(fn: () => unknown, ms = 600): number {
  const warmEnd = performance.now() + Math.min(200, ms / 3);
  while (performance.now() < warmEnd) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) fn();
    ops += 16;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

/** Writes the result JSON and prints it as a table. */
export function writeResult(result: BenchResult): void {
  mkdirSync(resultsDir, { recursive: true });
  const file = `${resultsDir}${result.name}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  const rows: string[][] = [['metric', 'value', 'unit']];
  const runs = (values: number[] | undefined, f: (v: number) => string): string =>
    values && values.length > 1 ? ` (median of ${values.map(f).join(', ')})` : '';
  for (const [k, m] of Object.entries(result.metrics))
    rows.push([k, fmt(m.value), m.unit + runs(m.runs, fmt)]);
  for (const [b, ms] of Object.entries(result.baselines))
    for (const [k, m] of Object.entries(ms))
      rows.push([`${b}: ${k}`, fmt(m.value), m.unit + runs(m.runs, fmt)]);
  for (const [k, r] of Object.entries(result.ratios))
    rows.push([k, r.toFixed(2), 'x' + runs(result.ratioRuns?.[k], (v) => v.toFixed(2))]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  console.log(`\n# ${result.name} (${result.node}, ${result.machine})`);
  for (const r of rows) console.log(`${r[0]!.padEnd(w0)}  ${r[1]!.padStart(w1)}  ${r[2]}`);
  console.log(`-> ${file}`);
}

function fmt(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}
