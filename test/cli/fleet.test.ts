import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { formatFleetSummary } from '../../src/cli/fleet-command.js';
import { FleetError, percentile, startFleet } from '../../src/cli/fleet.js';
import type { FleetSummary } from '../../src/cli/fleet.js';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Session {
  readonly io: CliIo;
  readonly out: () => string;
  readonly err: () => string;
  readonly stop: () => void;
}

function session(progress?: NodeJS.WritableStream): Session {
  let out = '';
  let err = '';
  let stop!: () => void;
  const shutdown = new Promise<void>((resolve) => (stop = resolve));
  return {
    io: {
      readStdin: () => Promise.resolve(new Uint8Array()),
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      shutdown: () => shutdown,
      ...(progress ? { progressStream: () => progress } : {}),
    },
    out: () => out,
    err: () => err,
    stop,
  };
}

/** A LwM2M server on 127.0.0.1, any port, that counts registrations and de-registrations. */
async function withServer<T>(
  fn: (
    server: LwM2mServer,
    uri: string,
    seen: { registered: string[]; deregistered: string[] },
  ) => Promise<T>,
): Promise<T> {
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    model: createSimulatorModel(),
    requestTimeout: 2000,
  });
  const seen = { registered: [] as string[], deregistered: [] as string[] };
  server.on('registered', (r: Registration) => seen.registered.push(r.endpoint));
  server.on('deregistered', (r: Registration) => seen.deregistered.push(r.endpoint));
  await server.start();
  try {
    return await fn(server, `coap://127.0.0.1:${server.address!.port}`, seen);
  } finally {
    await server.stop();
  }
}

/** A CoAP endpoint that answers every request with `code` (e.g. a server that refuses everyone). */
async function withRefusingServer<T>(code: number, fn: (uri: string) => Promise<T>): Promise<T> {
  const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const endpoint = new CoapEndpoint({ channel });
  endpoint.onRequest(() => ({ code, payload: new TextEncoder().encode('not you') }));
  try {
    return await fn(`coap://127.0.0.1:${channel.local.port}`);
  } finally {
    await endpoint.close();
  }
}

const names = (n: number, prefix: string, width: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);

describe('petrel fleet', () => {
  it('registers 20 devices, prints progress and a summary, and de-registers them all on shutdown', async () => {
    await withServer(async (server, uri, seen) => {
      const s = session();
      const exit = runCli(
        ['fleet', '--count', '20', '--server', uri, '--rate', '0', '--interval', '60'],
        s.io,
      );
      await waitFor(() => s.out().includes('running'), 'the running line');

      const endpoints = (await server.registrations()).map((r) => r.endpoint).sort();
      assert.deepEqual(endpoints, names(20, 'petrel-sim-', 2));
      const reg = (await server.getRegistration('petrel-sim-07'))!;
      assert.equal(reg.lwm2mVersion, '1.2');
      assert.equal(reg.lifetime, 300);
      for (const id of [3, 4, 6, 3303])
        assert.ok(
          reg.objects.some((o) => o.id === id),
          `object ${id}`,
        );

      const out = s.out();
      assert.match(
        out,
        /^starting 20 devices, server coap:\/\/127\.0\.0\.1:\d+, rate unlimited, lwm2m 1\.2/m,
      );
      assert.match(
        out,
        /^registered 20\/20 with coap:\/\/127\.0\.0\.1:\d+ in \d+\.\d\d s \(\d+\.\d registrations\/s\), register latency p50 \d+\.\d ms, p99 \d+\.\d ms$/m,
      );
      assert.doesNotMatch(out, /^failed/m);
      assert.match(out, /^running 20 devices registered; SIGINT or SIGTERM/m);
      // Not a terminal: at most one line per 10 % (the fleet is polled), the last at 100 %.
      const progress = s.err().trim().split('\n');
      assert.ok(progress.length >= 1 && progress.length <= 10, s.err());
      const percents = progress.map((line) => {
        const m = /^registering (\d+)% \((\d+)\/20\): (\d+) registered, 0 failed$/.exec(line);
        assert.ok(m, line);
        assert.equal(m[2], m[3]);
        return Number(m[1]);
      });
      assert.deepEqual(
        percents,
        [...percents].sort((a, b) => a - b),
      );
      assert.equal(progress.at(-1), 'registering 100% (20/20): 20 registered, 0 failed');

      s.stop();
      assert.equal(await exit, 0, s.err());
      assert.deepEqual([...seen.deregistered].sort(), names(20, 'petrel-sim-', 2));
      assert.equal((await server.registrations()).length, 0);
      assert.match(s.out(), /^stopped deregistered 20\/20 in \d+\.\d\d s$/m);
    });
  });

  it('takes --prefix, --lwm2m-version, --queue-mode, --lifetime; --json --quiet prints only the summary and report', async () => {
    await withServer(async (server, uri, seen) => {
      const s = session();
      const exit = runCli(
        [
          'fleet',
          '--count',
          '5',
          '--server',
          uri,
          '--prefix',
          'lab-',
          '--lwm2m-version',
          '1.1',
          '--queue-mode',
          '--lifetime',
          '120',
          '--rate',
          '500',
          '--address',
          '127.0.0.1',
          '--json',
          '--quiet',
        ],
        s.io,
      );
      await waitFor(() => seen.registered.length === 5 && s.out() !== '', 'the summary');
      const reg = (await server.getRegistration('lab-3'))!;
      assert.equal(reg.lwm2mVersion, '1.1');
      assert.equal(reg.queueMode, true);
      assert.equal(reg.lifetime, 120);
      assert.equal(reg.peer.address, '127.0.0.1');
      const ports = new Set((await server.registrations()).map((r) => r.peer.port));
      assert.equal(ports.size, 5, 'a socket each');
      s.stop();
      assert.equal(await exit, 0, s.err());
      assert.equal(s.err(), '', 'quiet: no progress');
      // The registration summary and the final report.
      const lines = s.out().trim().split('\n');
      assert.equal(lines.length, 2, s.out());
      const summary = JSON.parse(lines[0]!) as FleetSummary & { event: string; server: string };
      const report = JSON.parse(lines[1]!) as { event: string; operations: { deregister: { ok: number } } };
      assert.equal(report.event, 'report');
      assert.equal(report.operations.deregister.ok, 5);
      assert.equal(summary.event, 'summary');
      assert.equal(summary.server, uri);
      assert.equal(summary.total, 5);
      assert.equal(summary.registered, 5);
      assert.equal(summary.failed, 0);
      assert.deepEqual(summary.failures, []);
      assert.ok(summary.latencyMs!.p50 <= summary.latencyMs!.p99);
      assert.ok(summary.elapsedMs >= 4 * (1000 / 500) * 0.9, 'rate 500/s: 5 devices take at least 8 ms');
      assert.deepEqual([...seen.deregistered].sort(), ['lab-1', 'lab-2', 'lab-3', 'lab-4', 'lab-5']);
    });
  });

  it('draws a progress bar when stderr is a terminal', async () => {
    await withServer(async (_server, uri) => {
      let drawn = '';
      const tty = Object.assign(
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            drawn += chunk.toString();
            done();
          },
        }),
        { isTTY: true, columns: 120 },
      );
      const s = session(tty);
      const exit = runCli(['fleet', '--count', '3', '--server', uri], s.io);
      await waitFor(() => s.out().includes('running'), 'the running line');
      s.stop();
      assert.equal(await exit, 0);
      assert.match(drawn, /registering \[[░█]+\] \d+% \| \d\/3 \| \d registered, 0 failed/);
      assert.equal(s.err(), '', 'no plain progress lines');
    });
  });

  it('exits 1 with the failures by code when the server refuses every device', async () => {
    await withRefusingServer(CoapCode.FORBIDDEN, async (uri) => {
      const s = session();
      assert.equal(await runCli(['fleet', '--count', '4', '--server', uri, '--rate', '0'], s.io), 1);
      assert.match(s.out(), /^registered 0\/4 with /m);
      assert.match(s.out(), /^failed 4: 4\.03 x4 \(not you\)$/m);
      assert.match(s.err(), /petrel: no device registered with coap:\/\/127\.0\.0\.1:\d+/);
    });
  });

  it('refuses bad options with exit 2 and a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [[], /required option '--count <n>' not specified/],
      [['--count', '0'], /expected a whole number of devices, 1\.\.100000/],
      [['--count', '100001'], /expected a whole number of devices, 1\.\.100000/],
      [['--count', 'many'], /'many' is invalid/],
      [['--count', '2', '--rate', '-1'], /expected registrations per second/],
      [['--count', '2', '--rate', 'fast'], /expected registrations per second/],
      [
        ['--count', '2', '--server', 'http://127.0.0.1:5683'],
        /http:\/\/ is not supported \(expected coap:\/\/host:port\)/,
      ],
      [['--count', '2', '--server', 'nowhere'], /"nowhere" is not a URI/],
      [['--count', '2', '--prefix', 'a b'], /at most 64 visible ASCII characters/],
      [['--count', '2', '--address', 'eth0'], /expected an IP address/],
      [['--count', '2', '--lifetime', '0'], /at least 1/],
      [['--count', '2', '--interval', '0'], /between 0\.01 and 86400/],
      [['--count', '2', '--lwm2m-version', '2.0'], /Allowed choices are 1\.2, 1\.1, 1\.0/],
      [['--count', '2', '--server', 'coap://[::1]:5683', '--address', '127.0.0.1'], /another IP version/],
    ];
    for (const [args, message] of cases) {
      const s = session();
      assert.equal(await runCli(['fleet', ...args], s.io), 2, args.join(' '));
      assert.match(s.err(), message, args.join(' '));
    }
  });
});

describe('startFleet', () => {
  it('starts 3 demo devices whose sensors, device object and location the server can read', async () => {
    await withServer(async (server, uri, seen) => {
      const progress: number[] = [];
      const fleet = await startFleet({
        count: 3,
        server: uri,
        prefix: 'demo-',
        interval: 0.05,
        onProgress: (p) => progress.push(p.registered),
      });
      try {
        assert.deepEqual(progress, [1, 2, 3]);
        assert.equal(fleet.registered, 3);
        assert.deepEqual(
          fleet.devices.map((d) => [d.index, d.endpoint, d.outcome]),
          [
            [1, 'demo-1', 'registered'],
            [2, 'demo-2', 'registered'],
            [3, 'demo-3', 'registered'],
          ],
        );
        assert.deepEqual([...seen.registered].sort(), ['demo-1', 'demo-2', 'demo-3']);
        const s = fleet.summary;
        assert.deepEqual(
          [s.total, s.started, s.registered, s.failed, s.pending, s.aborted],
          [3, 3, 3, 0, 0, false],
        );
        assert.ok(s.latencyMs && s.latencyMs.p50 > 0 && s.latencyMs.p50 <= s.latencyMs.max);

        const device = await server.read('demo-2', '/3/0');
        assert.equal(device.code, '2.05');
        assert.equal(device.values['/3/0/0'], 'Petrel');
        assert.equal(typeof device.values['/3/0/1'], 'string');
        const battery = device.values['/3/0/9'] as number;
        assert.ok(battery >= 0 && battery <= 100, String(battery));
        const serials = new Set(fleet.devices.map((d) => d.simulation.device.serialNumber));
        assert.equal(serials.size, 3, 'each device its own serial number');

        const location = await server.read('demo-1', '/6/0');
        const lat = location.values['/6/0/0'] as number;
        assert.ok(Math.abs(lat - 47.3769) <= 0.06, String(lat));

        // The sensor moves (interval 50 ms, first measurement within one interval).
        const first = (await server.read('demo-3', '/3303/0/5700')).values['/3303/0/5700'] as number;
        assert.ok(first >= 10 && first <= 35, String(first));
        let now = first;
        await waitFor(() => {
          now = fleet.devices[2]!.simulation.temperature.get(5700)!.value as number;
          return now !== first;
        }, 'a new temperature');
        assert.equal((await server.read('demo-3', '/3303/0/5700')).values['/3303/0/5700'], now);
      } finally {
        const result = await fleet.stop();
        assert.deepEqual([result.registered, result.deregistered], [3, 3]);
      }
      assert.equal(fleet.registered, 0);
      assert.deepEqual([...seen.deregistered].sort(), ['demo-1', 'demo-2', 'demo-3']);
      assert.equal(await fleet.stop(), await fleet.stop(), 'idempotent');
    });
  });

  it('stops in bounded time when the server has gone away', async () => {
    let fleet: Awaited<ReturnType<typeof startFleet>> | undefined;
    await withServer(async (_server, uri) => {
      fleet = await startFleet({ count: 2, server: uri, endpointName: (i) => `gone-${i}` });
      assert.equal(fleet.registered, 2);
    });
    const started = Date.now();
    const result = await fleet!.stop({ timeoutMs: 200 });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.deepEqual([result.registered, result.deregistered], [2, 0]);
  });

  it('resolves early on abort and on registrationTimeout, with what is pending', async () => {
    await withServer(async (_server, uri) => {
      const abort = new AbortController();
      const fleet = await startFleet({
        count: 50,
        server: uri,
        rate: 20,
        signal: abort.signal,
        onProgress: (p) => {
          if (p.registered === 2) abort.abort();
        },
      });
      assert.equal(fleet.summary.aborted, true);
      assert.ok(fleet.summary.started < 10, String(fleet.summary.started));
      await fleet.stop();
    });
    // A server that never answers: the devices stay pending.
    const silent = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    try {
      const started = Date.now();
      const fleet = await startFleet({
        count: 2,
        server: `coap://127.0.0.1:${silent.local.port}`,
        registrationTimeout: 150,
      });
      assert.ok(Date.now() - started < 2000);
      assert.deepEqual([fleet.summary.registered, fleet.summary.pending], [0, 2]);
      assert.deepEqual(
        fleet.devices.map((d) => d.outcome),
        ['pending', 'pending'],
      );
      await fleet.stop({ timeoutMs: 100 });
    } finally {
      await silent.close();
    }
  });

  it('counts rejections by code', async () => {
    await withRefusingServer(CoapCode.FORBIDDEN, async (uri) => {
      const fleet = await startFleet({ count: 3, server: uri, rate: 0 });
      await fleet.stop();
      assert.equal(fleet.summary.failed, 3);
      assert.deepEqual(fleet.summary.failures, [{ code: '4.03', count: 3, reasons: ['not you'] }]);
      assert.equal(fleet.summary.latencyMs, undefined);
      assert.deepEqual(fleet.devices[0]!.failure, { code: '4.03', reason: 'not you' });
    });
  });

  it('refuses bad options with FleetError', async () => {
    const bad: [Parameters<typeof startFleet>[0], RegExp][] = [
      [{ count: 0 }, /count: expected a whole number 1\.\.100000, got 0/],
      [{ count: 1.5 }, /count/],
      [{ count: 1, server: 'coaps://x' }, /server: coaps:\/\/ is not supported/],
      [{ count: 1, rate: -1 }, /rate/],
      [{ count: 1, rate: Number.NaN }, /rate/],
      [{ count: 1, lifetime: 0 }, /lifetime/],
      [{ count: 1, interval: 0 }, /interval/],
      [{ count: 1, address: 'localhost' }, /address: expected an IP address/],
      [{ count: 1, server: 'coap://127.0.0.1', address: '::' }, /another IP version/],
    ];
    for (const [options, message] of bad)
      await assert.rejects(startFleet(options), (e: unknown) => {
        assert.ok(e instanceof FleetError);
        assert.equal(e.code, 'PETREL_ERR_FLEET_BAD_OPTION');
        assert.match(e.message, message);
        return true;
      });
  });
});

describe('fleet summary', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(values, 0.5), 50);
    assert.equal(percentile(values, 0.99), 99);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([1, 2, 3], 0), 1);
  });

  it('prints failures, pending and unstarted devices', () => {
    const text = formatFleetSummary(
      {
        total: 10,
        started: 8,
        registered: 5,
        failed: 2,
        pending: 1,
        failures: [
          { code: 'timeout', count: 1, reasons: ['no response'] },
          { code: '4.00', count: 1, reasons: ['lt is mandatory'] },
        ],
        elapsedMs: 1234.5,
        registrationsPerSecond: 4.1,
        latencyMs: { p50: 1.234, p99: 9.87, max: 12 },
        aborted: true,
      },
      'coap://h:1',
    );
    assert.equal(
      text,
      'registered 5/10 with coap://h:1 in 1.23 s (4.1 registrations/s), register latency p50 1.2 ms, p99 9.9 ms\n' +
        'failed 2: timeout x1 (no response), 4.00 x1 (lt is mandatory)\n' +
        'pending 1 (no outcome yet)\n' +
        'not started 2 (stopped early)\n',
    );
  });
});
