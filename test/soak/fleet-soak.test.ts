// The soak run in CI (issue 10): soak/run.ts for 3 minutes with 20% loss each way, as its own
// process (its heap and handles are what is measured), and the report it writes is checked:
// heap and handles at the end within 10% of the warm-up level, no registration lost, repeated or
// left over at either checkpoint, none expired, no 4.04 for a confirmed registration, and the
// churn, the loss and the server's Reads and observations really happened. The run's process
// group is killed if it outlives its bound. PETREL_SOAK_MINUTES and PETREL_SOAK_CLIENTS change
// the size, PETREL_SOAK_OUT keeps the report (docs/soak.md).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { SoakReport } from '../../soak/soak-runner.js';

const MINUTES = Number(process.env.PETREL_SOAK_MINUTES ?? 3);
/** The 10k devices (two simulator processes); PETREL_SOAK_CLIENTS makes it smaller. */
const CLIENTS = Number(process.env.PETREL_SOAK_CLIENTS ?? 10_000);
const LOSS = 0.2;
/** Settling twice, start-up and shut-down come on top of the churn minutes. */
const BOUND_MS = MINUTES * 60_000 + 240_000;
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs soak/run.ts in its own process group; resolves with its exit code and output. */
function runSoak(out: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      'soak/run.ts',
      '--minutes',
      String(MINUTES),
      '--clients',
      String(CLIENTS),
      '--loss',
      String(LOSS),
      '--out',
      out,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  // The simulators and the fault proxy are in the runner's group: a stuck run goes as a whole.
  const kill = setTimeout(() => {
    output += `\n(killed after ${BOUND_MS / 1000} s)`;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, BOUND_MS);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, output });
    }),
  );
}

describe(`soak: ${CLIENTS} churning devices for ${MINUTES} min through ${LOSS * 100}% loss each way`, () => {
  it(
    'keeps every registration and ends with the heap and handles of the warm-up',
    { timeout: BOUND_MS + 30_000 },
    async (t) => {
      // PETREL_SOAK_OUT keeps the report (e.g. soak/results/soak.json); else it goes with a temp dir.
      let out = process.env.PETREL_SOAK_OUT;
      if (out === undefined) {
        const dir = mkdtempSync(join(tmpdir(), 'petrel-soak-'));
        t.after(() => rmSync(dir, { recursive: true, force: true }));
        out = join(dir, 'soak.json');
      }
      const { code, output } = await runSoak(out);
      t.diagnostic(output.trim().split('\n').slice(-12).join('\n'));
      let report: SoakReport;
      try {
        report = JSON.parse(readFileSync(out, 'utf8')) as SoakReport;
      } catch {
        assert.fail(`the soak run wrote no report (exit ${code}):\n${output}`);
      }

      assert.deepEqual(report.failures, [], 'the run reported no failed check');
      assert.equal(code, 0, output);
      assert.deepEqual(
        report.checkpoints.map((c) => c.name),
        ['warm-up', 'end'],
      );
      for (const c of report.checkpoints) {
        assert.equal(c.settled, true, `${c.name}: settled`);
        assert.equal(c.comparison.believed, CLIENTS, `${c.name}: every device registered`);
        assert.equal(c.comparison.held, CLIENTS, `${c.name}: the server holds one registration a device`);
        assert.deepEqual(
          [c.comparison.missing, c.comparison.mismatched, c.comparison.duplicates, c.comparison.unexpected],
          [0, 0, 0, 0],
          `${c.name}: no registration lost, replaced behind the device's back, doubled or left over`,
        );
      }
      assert.ok(report.heapChange <= 0.1, `heap changed by ${(report.heapChange * 100).toFixed(1)}%`);
      assert.ok(report.handleChange <= 0.1, `handles changed by ${(report.handleChange * 100).toFixed(1)}%`);
      assert.equal(report.server.expired, 0);
      assert.equal(report.devices.lostRegistrations, 0);
      assert.ok(report.server.registered <= report.devices.registersSent, 'no Register handled twice');

      // The run did what it claims: churn, loss, downlinks.
      assert.ok(
        report.server.deregistered > 0 && report.server.registered > CLIENTS,
        'devices left and came back',
      );
      assert.ok(report.devices.sleeps > 0, 'queue-mode devices slept');
      assert.ok(report.server.updated > CLIENTS, 'devices updated');
      assert.ok(
        report.load.readsOk > 0 && report.load.notifications > 0,
        'Reads answered, notifications received',
      );
      const proxy = report.proxy!;
      const lossSeen = proxy.dropped / (proxy.dropped + proxy.forwarded - proxy.duplicated);
      assert.ok(Math.abs(lossSeen - LOSS) < 0.03, `the proxy dropped ${(lossSeen * 100).toFixed(1)}%`);
    },
  );
});
