import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import type { FleetLoadStatus } from '../../src/cli/fleet-load.js';
import type { FleetSummary } from '../../src/cli/fleet.js';
import { FLEET_OPERATIONS } from '../../src/cli/fleet-stats.js';
import { cliIo } from '../support/cli-run.js';

interface Seen {
  registered: string[];
  updated: number;
  deregistered: string[];
}

/** A LwM2M server on 127.0.0.1 that counts what the fleet does to it. */
async function withServer<T>(
  fn: (server: LwM2mServer, uri: string, seen: Seen) => Promise<T>,
  options: Partial<LwM2mServerOptions> = {},
): Promise<T> {
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    model: createSimulatorModel(),
    requestTimeout: 2000,
    ...options,
  });
  const seen: Seen = { registered: [], updated: 0, deregistered: [] };
  server.on('registered', (r: Registration) => seen.registered.push(r.endpoint));
  server.on('updated', () => seen.updated++);
  server.on('deregistered', (r: Registration) => seen.deregistered.push(r.endpoint));
  await server.start();
  try {
    return await fn(server, `coap://127.0.0.1:${server.address!.port}`, seen);
  } finally {
    await server.stop();
  }
}

type Report = FleetLoadStatus & {
  event: 'report';
  atEnd: { registered: number; asleep: number; unregistered: number };
  stop: { registered: number; deregistered: number };
};

/** Runs `petrel fleet … --json` to the end (--duration); returns its JSON lines by event. */
async function runJson(args: string[]) {
  const c = cliIo();
  const code = await runCli(['fleet', ...args, '--json'], c.io);
  assert.equal(code, 0, c.err());
  const lines = c
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string });
  const one = <T>(event: string): T => {
    const found = lines.filter((l) => l.event === event);
    assert.equal(found.length, 1, `one ${event} line`);
    return found[0] as T;
  };
  return {
    lines,
    summary: one<FleetSummary & { event: 'summary' }>('summary'),
    report: one<Report>('report'),
    stats: lines.filter((l) => l.event === 'stats') as unknown as (FleetLoadStatus & {
      counts: Record<string, { ok: number; failed: number }>;
    })[],
    err: c.err(),
  };
}

/** The report's own arithmetic: latencies ordered, errors adding up to the failures. */
function assertConsistent(report: Report): void {
  for (const k of FLEET_OPERATIONS) {
    const op = report.operations[k];
    assert.equal(
      op.errors.reduce((n, e) => n + e.count, 0),
      op.failed,
      `${k}: errors by code add up to the failures`,
    );
    if (op.latencyMs) {
      assert.ok(op.latencyMs.p50 <= op.latencyMs.p99, `${k}: p50 <= p99`);
      assert.ok(op.latencyMs.p99 <= op.latencyMs.max, `${k}: p99 <= max`);
    }
  }
}

describe('petrel fleet as a load generator', () => {
  it('runs 200 devices with churn; the server sees what the fleet counts', async () => {
    await withServer(async (server, uri, seen) => {
      const run = await runJson([
        '--count',
        '200',
        '--server',
        uri,
        '--rate',
        '0',
        '--queue-mode',
        '--interval',
        '60',
        '--churn',
        'update=30,sleep=10,wake=40,deregister=6,register=60',
        '--duration',
        '3',
        '--report-every',
        '0.5',
      ]);
      const { summary, report } = run;
      assert.equal(summary.registered, 200, JSON.stringify(summary));
      const ops = report.operations;
      // Every kind of churn happened.
      for (const k of ['update', 'sleep', 'wake', 'deregister'] as const) assert.ok(ops[k].ok > 0, k);
      assert.ok(ops.register.ok > 200, 'some devices registered again');
      // What the server saw is what the fleet counted (stop() de-registered the rest).
      assert.equal(seen.registered.length, ops.register.ok);
      assert.equal(seen.updated, ops.update.ok + ops.wake.ok);
      assert.equal(seen.deregistered.length, ops.deregister.ok);
      assert.equal(
        seen.registered.length,
        seen.deregistered.length,
        'everything registered was de-registered',
      );
      assert.equal((await server.registrations()).length, 0);
      assert.equal(report.stop.registered, report.stop.deregistered);
      assert.equal(report.registered, 0);
      // Devices at the end: registered (some asleep) or not; none lost.
      assert.ok(report.atEnd.registered + report.atEnd.unregistered <= 200);
      assert.ok(report.atEnd.asleep <= report.atEnd.registered);
      assert.equal(report.atEnd.registered, report.stop.registered);
      assertConsistent(report);
      for (const k of ['update', 'wake', 'deregister'] as const) assert.ok(ops[k].latencyMs, `${k} timed`);
      assert.equal(ops.sleep.latencyMs, undefined, 'sleeping sends nothing to time');
      // Periodic lines: counts only grow, and never pass the report's.
      assert.ok(run.stats.length >= 2, `${run.stats.length} stats lines`);
      for (let i = 1; i < run.stats.length; i++)
        for (const k of FLEET_OPERATIONS) {
          assert.ok(run.stats[i]!.counts[k]!.ok >= run.stats[i - 1]!.counts[k]!.ok, k);
          assert.ok(run.stats[i]!.counts[k]!.ok <= ops[k].ok, k);
        }
    });
  });

  it('reports errors by code when the server refuses (admission limit: 5.03)', async () => {
    await withServer(
      async (_server, uri, seen) => {
        const c = cliIo();
        const code = await runCli(
          [
            'fleet',
            '--count',
            '60',
            '--server',
            uri,
            '--rate',
            '0',
            '--duration',
            '2',
            '--churn',
            'update=30',
          ],
          c.io,
        );
        assert.equal(code, 0, c.err());
        const out = c.out();
        assert.equal(seen.registered.length, 40);
        assert.match(out, /^registered 40\/60 with /m);
        assert.match(out, /^failed 20: 5\.03 x20 \(/m);
        assert.match(out, /^report after \d+\.\d\d s, 60 devices in 1 process: at the end 40 registered/m);
        const register =
          /^ {2}register +(\d+) ok, (\d+) failed, [\d.]+\/s, p50 ([\d.]+) ms, p99 ([\d.]+) ms$/m.exec(out);
        assert.ok(register, out);
        assert.deepEqual([register[1], register[2]], ['40', '20']);
        assert.ok(Number(register[3]) <= Number(register[4]));
        assert.match(out, /^ {2}update +\d+ ok, 0 failed/m);
        assert.match(out, /^ {2}errors: register 5\.03 x20 \(/m);
        assert.match(out, /^stopped deregistered 40\/40 /m);
      },
      { admission: { maxRegistrations: 40, retryAfter: 60 } },
    );
  });

  it('spreads the fleet over 2 worker processes and merges their counts', async () => {
    await withServer(async (server, uri, seen) => {
      const run = await runJson([
        '--count',
        '30',
        '--server',
        uri,
        '--rate',
        '0',
        '--processes',
        '2',
        '--churn',
        'update=60/s',
        '--duration',
        '2',
        '--report-every',
        '0.5',
      ]);
      assert.equal(run.report.processes, 2);
      assert.equal(run.summary.registered, 30);
      // Endpoint names run on across the processes, padded to the width of the whole fleet.
      assert.deepEqual(
        [...new Set(seen.registered)].sort(),
        Array.from({ length: 30 }, (_, i) => `petrel-sim-${String(i + 1).padStart(2, '0')}`),
      );
      const ops = run.report.operations;
      assert.equal(ops.register.ok, 30);
      assert.ok(ops.update.ok > 0);
      assert.equal(seen.updated, ops.update.ok);
      assert.equal(seen.deregistered.length, 30);
      assert.equal(ops.deregister.ok, 30);
      assert.deepEqual([run.report.stop.registered, run.report.stop.deregistered], [30, 30]);
      assert.ok(ops.register.latencyMs!.p50 <= ops.register.latencyMs!.p99);
      assertConsistent(run.report);
      assert.equal((await server.registrations()).length, 0);
    });
  });

  it('gives the devices the --objects set; the server can observe every sensor', async () => {
    await withServer(async (server, uri, seen) => {
      const c = cliIo();
      const exit = runCli(
        [
          'fleet',
          '--count',
          '2',
          '--server',
          uri,
          '--objects',
          '3303*3',
          '--interval',
          '0.05',
          '--quiet',
          '--json',
        ],
        c.io,
      );
      const until = Date.now() + 8000;
      while (seen.registered.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      const reg = (await server.getRegistration('petrel-sim-2'))!;
      const ids = reg.objects.map((o) => o.id);
      assert.ok(!ids.includes(4) && !ids.includes(6), ids.join(' '));
      assert.deepEqual(reg.objects.find((o) => o.id === 3303)?.instances, [0, 1, 2]);
      // Devices bind loopback addresses of their own (127.0.0.1 and .2) on Linux.
      if (process.platform === 'linux')
        assert.equal(new Set((await server.registrations()).map((r) => r.peer.address)).size, 2);
      const observation = await server.observe('petrel-sim-2', '/3303/2/5700');
      let notifications = 0;
      observation.on('notification', () => notifications++);
      while (notifications < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.ok(notifications >= 2, 'the third sensor moves');
      c.stop();
      assert.equal(await exit, 0, c.err());
      const report = JSON.parse(c.out().trim().split('\n').at(-1)!) as Report;
      assert.ok(report.operations.served.ok >= 1, 'the Observe was served');
    });
  });

  it('draws a registration bar and a devices bar with the rates on a terminal', async () => {
    await withServer(async (_server, uri) => {
      let drawn = '';
      const tty = Object.assign(
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            drawn += chunk.toString();
            done();
          },
        }),
        { isTTY: true, columns: 160 },
      );
      const c = cliIo();
      const io = { ...c.io, progressStream: () => tty };
      const args = ['fleet', '--count', '5', '--server', uri, '--churn', 'update=600', '--duration', '1.5'];
      assert.equal(await runCli(args, io), 0, c.err());
      assert.match(drawn, /registering \[[░█]+\] 100% \| 5\/5 \| 5 registered, 0 failed/);
      assert.match(
        drawn,
        /devices +\[[░█]+\] 5\/5 registered, 0 asleep \| [^|]*update [\d.]+\/s[^|]* \| 0 errors \| \d s left/,
      );
      assert.doesNotMatch(c.out(), /^stats /m, 'no status lines under the bars');
      assert.match(c.out(), /^report after /m);
    });
  });

  it('refuses bad load options with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--churn', 'update'], /"update" is not op=rate/],
      [['--churn', 'jump=1'], /unknown operation "jump"/],
      [['--churn', 'sleep=1'], /sleep and wake need queue mode/],
      [['--objects', '5'], /5 is not simulated/],
      [['--objects', '3303*99'], /3303\*N takes N from 1 to 16/],
      [['--addresses', '127.0.0.9-127.0.0.1'], /comes before/],
      [['--processes', '65'], /expected 0 \(automatic\) to 64 processes/],
      [['--duration', '0'], /expected seconds above 0/],
      [['--report-every', '0'], /between 0\.1 and 3600/],
    ];
    for (const [args, message] of cases) {
      const c = cliIo();
      assert.equal(await runCli(['fleet', '--count', '2', ...args], c.io), 2, args.join(' '));
      assert.match(c.err(), message, args.join(' '));
    }
  });
});
