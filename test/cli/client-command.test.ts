import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import {
  SimulatedDevice,
  TEMPERATURE_DEFINITION,
  Temperature,
  createSimulatorModel,
  reflect,
} from '../../src/cli/simulated-device.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { FakeClock } from '../../src/clock.js';
import { LwM2mPath } from '../../src/model/path.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { SendEvent } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';

async function waitFor(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Interactive input fed by the test: push lines, then end (EOF). */
class Lines implements AsyncIterable<string> {
  readonly #queue: string[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(...lines: string[]): void {
    this.#queue.push(...lines);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const line = this.#queue.shift();
      if (line !== undefined) {
        yield line;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

interface Session {
  readonly io: CliIo & { readLines(): AsyncIterable<string> };
  readonly lines: Lines;
  readonly out: () => string;
  readonly err: () => string;
  readonly stop: () => void;
}

/** Sessions still running, stopped after each server test so a failure cannot leave one behind. */
const running = new Set<Promise<number>>();
const stoppers: (() => void)[] = [];

function session(): Session {
  const lines = new Lines();
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
      readLines: () => lines,
    },
    lines,
    out: () => out,
    err: () => err,
    stop,
  };
}

async function withServer<T>(
  fn: (server: LwM2mServer, uri: string) => Promise<T>,
  requestTimeout = 2000,
): Promise<T> {
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    model: createSimulatorModel(),
    requestTimeout,
  });
  await server.start();
  try {
    return await fn(server, `coap://127.0.0.1:${server.address!.port}`);
  } finally {
    for (const stop of stoppers.splice(0)) stop();
    await Promise.all([...running].map((exit) => exit.catch(() => undefined)));
    await server.stop();
  }
}

/** Runs `petrel client` in-process; resolves with the exit promise once the server has it registered. */
async function startClient(
  server: LwM2mServer,
  s: Session,
  args: string[],
): Promise<{ exit: Promise<number>; registration: Registration }> {
  const registered = once(server, 'registered') as Promise<[Registration]>;
  const exit = runCli(['client', ...args], s.io);
  running.add(exit);
  stoppers.push(s.stop);
  const forget = (): boolean => running.delete(exit);
  void exit.then(forget, forget);
  const [registration] = await Promise.race([
    registered,
    exit.then((code) => {
      throw new Error(`petrel client exited ${code}: ${s.err()}`);
    }),
  ]);
  return { exit, registration };
}

describe('petrel client', () => {
  it('registers, answers reads, and runs set, send, show, unknown and quit', async () => {
    await withServer(async (server, uri) => {
      const s = session();
      const { exit, registration } = await startClient(server, s, [
        '--endpoint',
        'sim-1',
        '--server',
        uri,
        '--lifetime',
        '60',
        '--interval',
        '60',
      ]);
      assert.equal(registration.endpoint, 'sim-1');
      assert.equal(registration.lwm2mVersion, '1.2');
      assert.equal(registration.lifetime, 60);
      const ids = registration.objects.map((o) => o.id);
      for (const id of [3, 4, 6, 3303]) assert.ok(ids.includes(id), `object ${id} in ${ids.join(',')}`);
      await waitFor(() => /registered server=coap:\S+ location=\/rd\/\S+ lwm2m=1\.2/.test(s.out()), 'log');

      const first = await server.read('sim-1', '/3303/0/5700');
      assert.equal(first.code, '2.05');
      const value = first.values['/3303/0/5700'];
      assert.equal(typeof value, 'number');
      assert.ok((value as number) >= 10 && (value as number) <= 35, JSON.stringify(value));
      await waitFor(() => s.out().includes('request read /3303/0/5700 2.05'), 'the request line');

      s.lines.push('set /3303/0/5700 40');
      await waitFor(() => s.out().includes('set /3303/0/5700 40'), 'the set line');
      assert.deepEqual((await server.read('sim-1', '/3303/0/5700')).values, { '/3303/0/5700': 40 });
      assert.equal((await server.read('sim-1', '/3303/0/5602')).values['/3303/0/5602'], 40, 'max tracked');
      s.lines.push('set /3303/0/5700 30');
      await waitFor(() => s.out().includes('set /3303/0/5700 30'), 'the second set');
      assert.deepEqual((await server.read('sim-1', '/3303/0/5700')).values, { '/3303/0/5700': 30 });
      assert.equal((await server.execute('sim-1', '/3303/0/5605')).code, '2.04');
      const minMax = await server.read('sim-1', '/3303/0');
      assert.equal(minMax.values['/3303/0/5601'], 30, 'Reset Min and Max');
      assert.equal(minMax.values['/3303/0/5602'], 30, 'Reset Min and Max');

      const sent = once(server, 'send') as Promise<[SendEvent]>;
      s.lines.push('send /3303/0/5700');
      const [event] = await sent;
      assert.equal(event.registration.endpoint, 'sim-1');
      assert.deepEqual(event.result.values, { '/3303/0/5700': 30 });
      await waitFor(() => s.out().includes('sent 2.04 /3303/0/5700'), 'the sent line');

      s.lines.push('show /3/0');
      await waitFor(() => s.out().includes('"/3/0/0"'), 'the show output');
      const shown = JSON.parse(/\{\n[\s\S]*?\n\}/.exec(s.out())![0]) as Record<string, unknown>;
      assert.equal(shown['/3/0/0'], 'Petrel');
      assert.equal(shown['/3/0/16'], 'UTMQ');
      assert.equal(typeof shown['/3/0/9'], 'number');

      s.lines.push('frobnicate /3/0', 'set /3/0/9 "many"', 'show /9/9');
      await waitFor(() => s.err().includes('show /9/9'), 'the errors');
      assert.match(s.err(), /unknown command "frobnicate" \(try help\)/);
      assert.match(s.err(), /set: \/3\/0\/9: .*integer/);
      assert.match(s.err(), /show \/9\/9: 4\.04/);

      const gone = once(server, 'deregistered') as Promise<[Registration]>;
      s.lines.push('quit');
      assert.equal((await gone)[0].endpoint, 'sim-1');
      assert.equal(await exit, 0, s.err());
      assert.match(s.out(), /deregistered server=/);
    });
  });

  it('registers as 1.1 with --lwm2m-version, prints only output with --quiet --json, ends at EOF', async () => {
    await withServer(async (server, uri) => {
      const s = session();
      const { exit, registration } = await startClient(server, s, [
        '--endpoint',
        'sim-11',
        '--server',
        uri,
        '--lwm2m-version',
        '1.1',
        '--queue-mode',
        '--quiet',
        '--json',
      ]);
      assert.equal(registration.lwm2mVersion, '1.1');
      assert.equal(registration.queueMode, true);
      assert.equal((await server.read('sim-11', '/6/0/0')).code, '2.05');
      const sent = once(server, 'send') as Promise<[SendEvent]>;
      s.lines.push('set /3303/0/5701 "K"', 'send /3303/0/5701', 'show /3303/0/5701');
      assert.deepEqual((await sent)[0].result.values, { '/3303/0/5701': 'K' });
      await waitFor(() => s.out().includes('"show"'), 'the show output');
      const gone = once(server, 'deregistered');
      s.lines.end();
      await gone;
      assert.equal(await exit, 0, s.err());
      const events = s
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; values?: unknown; code?: string });
      assert.deepEqual(
        events.map((e) => e.event),
        ['sent', 'show'],
        'quiet: no event lines',
      );
      assert.equal(events[0]!.code, '2.04');
      assert.deepEqual(events[1]!.values, { '/3303/0/5701': 'K' });
    });
  });

  it('goes offline and online, and de-registers on shutdown', async () => {
    await withServer(async (server, uri) => {
      const s = session();
      const { exit } = await startClient(server, s, ['--endpoint', 'sim-q', '--server', uri]);
      s.lines.push('offline');
      await waitFor(() => s.out().includes('sleeping'), 'sleeping');
      const unanswered = await server.read('sim-q', '/3/0/0').then(
        (r) => r.code,
        (e: Error) => e.name,
      );
      assert.notEqual(unanswered, '2.05', 'a sleeping device does not answer');
      const updated = once(server, 'updated');
      s.lines.push('online');
      await updated;
      assert.equal((await server.read('sim-q', '/3/0/0')).values['/3/0/0'], 'Petrel');
      s.lines.push('deregister');
      await once(server, 'deregistered');
      s.lines.push('update');
      await waitFor(() => s.err().includes('update: not registered'), 'the refusal');
      const again = once(server, 'registered');
      s.lines.push('register');
      await again;
      s.lines.push('register');
      await waitFor(() => s.err().includes('register: already registered'), 'the second refusal');
      const gone = once(server, 'deregistered');
      s.stop();
      await gone;
      assert.equal(await exit, 0, s.err());
      assert.match(s.out(), /stopped/);
    }, 400);
  });

  it('runs as a process: reads commands from stdin and de-registers on SIGTERM', async () => {
    await withServer(async (server, uri) => {
      const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
      const registered = once(server, 'registered');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', main, 'client', '--endpoint', 'sim-proc', '--server', uri],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      try {
        await registered;
        child.stdin.write('show /3303/0/5701\n');
        await waitFor(() => out.includes('"/3303/0/5701": "Cel"'), 'the show output', 5000);
        const gone = once(server, 'deregistered');
        const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
        child.kill('SIGTERM');
        await gone;
        assert.equal(await closed, 0, 'exits 0 with stdin still open');
        assert.match(out, /stopped/);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });

  it('exits 1 on a server URI it cannot use and 2 on bad options', async () => {
    const s = session();
    s.lines.end();
    assert.equal(await runCli(['client', '--endpoint', 'x', '--server', 'http://127.0.0.1:5683'], s.io), 1);
    assert.match(s.err(), /cannot use --server http:\/\/127\.0\.0\.1:5683: .*coap:\/\//);
    assert.equal(await runCli(['client', '--endpoint', 'x', '--server', 'no uri'], s.io), 1);
    assert.match(s.err(), /cannot use --server no uri: "no uri" is not a URI/);
    const usage = (args: string[]): Promise<number> =>
      runCli(['client', '--endpoint', 'x', '--server', 'coap://127.0.0.1', ...args], s.io);
    assert.equal(await usage(['--interval', '0']), 2);
    assert.equal(await usage(['--lifetime', 'soon']), 2);
    assert.equal(await usage(['--lwm2m-version', '2.0']), 2);
    assert.equal(await usage(['--profile-id', '1:abc']), 2);
    assert.equal(await runCli(['client', '--server', 'coap://127.0.0.1'], s.io), 2, 'no --endpoint');
  });
});

describe('SimulatedDevice', () => {
  it('walks the temperature within its bounds, tracks min/max and resets them', async () => {
    const clock = new FakeClock();
    const sim = new SimulatedDevice({
      clock,
      random: seededRandom(3),
      now: () => 1_700_000_000_000 + clock.now(),
      interval: 5,
      temperatureBounds: [18, 24],
    });
    const device = new MemoryInstance(undefined, 3, 0).set(9, 50);
    sim.start(device);
    const temperature = (rid: number): number => sim.temperature.get(rid)!.value as number;
    const seen: number[] = [];
    for (let i = 0; i < 300; i++) {
      clock.advance(5000);
      seen.push(temperature(Temperature.sensorValue));
    }
    assert.equal(seen.length, 300);
    assert.ok(
      seen.every((v) => v >= 18 && v <= 24),
      'bounded',
    );
    assert.ok(new Set(seen).size > 50, 'it moves');
    assert.ok(
      seen.slice(1).every((v, i) => Math.abs(v - seen[i]!) <= 0.41),
      'small steps',
    );
    assert.equal(temperature(Temperature.minMeasuredValue), Math.min(21.5, ...seen));
    assert.equal(temperature(Temperature.maxMeasuredValue), Math.max(21.5, ...seen));
    assert.equal(sim.temperature.get(Temperature.timestamp)!.value, 1_700_000_000 + 1500);
    assert.equal(device.get(13)!.value, 1_700_000_000 + 1500, 'Current Time');
    const battery = device.get(9)!.value as number;
    assert.ok(battery >= 0 && battery <= 100 && battery !== 50, String(battery));

    assert.ok((await sim.temperature.execute(Temperature.resetMinMax, [])).ok);
    const now = temperature(Temperature.sensorValue);
    assert.equal(temperature(Temperature.minMeasuredValue), now);
    assert.equal(temperature(Temperature.maxMeasuredValue), now);

    const lat = sim.location.get(0)!.value as number;
    assert.ok(Math.abs(lat - 47.3769) < 0.01 && lat !== 47.3769, `latitude drifts slowly: ${lat}`);
    sim.stop();
    assert.equal(clock.pending, 0);
  });

  it('defines 3303 from the OMA registry facts and reflects walks into range', () => {
    const r = (id: number) => TEMPERATURE_DEFINITION.resources.get(id)!;
    assert.equal(TEMPERATURE_DEFINITION.urn, 'urn:oma:lwm2m:ext:3303:1.1');
    assert.equal(TEMPERATURE_DEFINITION.multiple, true);
    assert.deepEqual([r(5700).type, r(5700).operations, r(5700).mandatory], ['float', 'R', true]);
    assert.deepEqual([r(5605).type, r(5605).operations], ['none', 'E']);
    assert.deepEqual([r(5750).type, r(5750).operations], ['string', 'RW']);
    assert.equal(r(5518).type, 'time');
    assert.deepEqual(r(6049).range, { min: 0, max: 100 });
    assert.equal(createSimulatorModel().resource(3303, 5601)?.name, 'Min Measured Value');
    assert.equal(reflect(25, 10, 20), 15);
    assert.equal(reflect(7, 10, 20), 13);
    assert.equal(reflect(15, 10, 20), 15);
    assert.equal(reflect(1e9, 10, 20), 20);
    assert.ok(LwM2mPath.parse('/3303/0/5700').resourceId === Temperature.sensorValue);
  });
});
