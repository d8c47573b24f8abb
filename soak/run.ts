// The soak run from the command line (issue 10; soak/soak-runner.ts says what it does):
//   node --expose-gc --import tsx soak/run.ts --minutes N [--clients 10000] [--loss 0.2]
//        [--duplicate 0.02] [--warmup 0.2] [--tolerance 0.1] [--seed 1] [--out FILE]
//        [--trace-server]  (keep the server's answers to each device for a 4.04 report)
// Prints progress and a summary, writes the report as JSON (default soak/results/soak.json) and
// exits 1 when a check failed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SOAK_OPTIONS, runSoak, type SoakOptions } from './soak-runner.js';

const DEFAULT_OUT = fileURLToPath(new URL('./results/soak.json', import.meta.url));

function numberOption(
  values: Record<string, string | boolean | undefined>,
  name: string,
  fallback: number,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(n) || n < 0) {
    process.stderr.write(`soak: --${name} must be a non-negative number, not ${String(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    clients: { type: 'string' },
    loss: { type: 'string' },
    duplicate: { type: 'string' },
    warmup: { type: 'string' },
    tolerance: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    'trace-server': { type: 'boolean' },
  },
  strict: true,
});
const d = DEFAULT_SOAK_OPTIONS;
const options: SoakOptions = {
  minutes: numberOption(values, 'minutes', d.minutes),
  clients: Math.max(1, Math.round(numberOption(values, 'clients', d.clients))),
  loss: Math.min(0.9, numberOption(values, 'loss', d.loss)),
  duplicate: Math.min(0.9, numberOption(values, 'duplicate', d.duplicate)),
  warmup: Math.min(0.9, numberOption(values, 'warmup', d.warmup)),
  tolerance: numberOption(values, 'tolerance', d.tolerance),
  observedShare: d.observedShare,
  seed: Math.round(numberOption(values, 'seed', d.seed)),
  traceServer: values['trace-server'] === true,
  log: (line) => process.stdout.write(`${line}\n`),
};
const out = resolve(values.out ?? DEFAULT_OUT);

const report = await runSoak(options);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const [warm, end] = report.checkpoints;
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const lines = [
  '',
  `soak ${report.passed ? 'PASSED' : 'FAILED'}: ${options.clients} devices, ${report.durationS} s, loss ${pct(options.loss)} each way`,
  warm && end
    ? `  heap after GC ${(warm.sample.heapUsed / 1048576).toFixed(1)} -> ${(end.sample.heapUsed / 1048576).toFixed(1)} MiB ` +
      `(${pct(report.heapChange)}), handles ${warm.sample.handles} -> ${end.sample.handles} (${pct(report.handleChange)})`
    : '  (no measure)',
  `  server: ${report.server.registered} Registers, ${report.server.updated} Updates, ` +
    `${report.server.deregistered} De-registers, ${report.server.expired} expired; ` +
    `reads ${report.load.readsOk}/${report.load.reads}, observes ${report.load.observesOk}/${report.load.observes}, ` +
    `notifications ${report.load.notifications}`,
  `  devices: ${report.devices.retransmissions} retransmissions, ${report.devices.timeouts} exchanges unanswered, ` +
    `${report.devices.sleeps} sleeps, ${report.devices.lostRegistrations} lost registrations`,
  report.proxy
    ? `  proxy: ${report.proxy.forwarded} forwarded, ${report.proxy.dropped} dropped, ${report.proxy.duplicated} duplicated`
    : '  proxy: no stats',
  ...report.failures.map((f) => `  FAIL ${f}`),
  `  report: ${out}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
process.exitCode = report.passed ? 0 : 1;
