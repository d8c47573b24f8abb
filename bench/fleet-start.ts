// What starting one `petrel fleet` device costs on the device side (issue: fleet start rate).
//   node --import tsx bench/fleet-start.ts [count]         (default 2,000; PETREL_FLEET_START_COUNT)
// The LwM2M server runs in a child process, so this process's CPU time is the devices' alone:
//   construct_us_per_device   CPU µs to build one device (simulation + LwM2mClient), no socket.
//   start_devices_per_s       devices from startFleet() to their Register's 2.01, rate unlimited.
//   start_cpu_us_per_device   this process's CPU (user + system) over that phase, / count.
//   heap_bytes_per_device     heap with the fleet registered minus heap before (forced GC), / count.
// Profile it: node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/fleet-start.ts
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startFleet } from '../src/cli/fleet.js';
import * as fleetDevice from '../src/cli/fleet-device.js';
import { DEFAULT_OBJECT_SET, createFleetClient } from '../src/cli/fleet-device.js';
import { createCodecRegistry } from '../src/content/codec-registry.js';
import { SimulatedDevice, createSimulatorModel } from '../src/cli/simulated-device.js';
import type { LwM2mClient } from '../src/client/lwm2m-client.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { Channel } from '../src/transport/channel.js';

const args = process.argv.slice(2);
const COUNT = Number(args.find((a) => /^\d+$/.test(a)) ?? process.env.PETREL_FLEET_START_COUNT ?? 2000);
/** `--only=construct` or `--only=start`: one phase (to profile it alone). */
const ONLY = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

function cpuMicros(since?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return u.user + u.system;
}

/** The server side: an LwM2mServer on a free loopback port, until the parent says stop. */
async function serve(): Promise<void> {
  const server = new LwM2mServer({
    udp: { address: '127.0.0.1', port: 0 },
    model: createSimulatorModel(),
  });
  await server.start();
  process.send!({ port: server.address!.port });
  process.once('message', () => void server.stop().then(() => process.exit(0)));
}

/** A channel that sends nowhere: construction alone, no socket. */
const nowhere: Channel = {
  kind: 'udp',
  local: { address: '127.0.0.1', port: 1 },
  send: () => undefined,
  onReceive: () => undefined,
  close: () => Promise.resolve(),
};

/** CPU µs and heap bytes per device to build `n` simulations and clients (kept alive until measured). */
function construct(n: number): { us: number; heap: number } {
  const model = createSimulatorModel();
  // As startFleet() builds its devices (where this version of it shares timers and codecs).
  const shared =
    'createFleetShared' in fleetDevice
      ? fleetDevice.createFleetShared(undefined, createCodecRegistry())
      : undefined;
  const keep: LwM2mClient[] = [];
  const heapBefore = heapUsed();
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const simulation = new SimulatedDevice({ model, ...(shared ? { clock: shared.clock } : {}) });
    keep.push(
      createFleetClient(simulation, undefined, {
        endpoint: `construct-${i}`,
        server: 'coap://127.0.0.1:5683',
        channel: nowhere,
        lifetime: 300,
        lwm2mVersion: '1.2',
        queueMode: false,
        objects: DEFAULT_OBJECT_SET,
        random: {
          next: Math.random,
          int: (k) => Math.floor(Math.random() * k),
          bytes: (k) => new Uint8Array(k),
        },
        ...(shared ? { shared } : {}),
      }),
    );
  }
  const us = cpuMicros(before) / n;
  const heap = (heapUsed() - heapBefore) / n;
  keep.length = 0;
  return { us, heap };
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  try {
    construct(Math.min(200, COUNT)); // warm-up
    const built = ONLY === 'start' ? { us: Number.NaN, heap: Number.NaN } : construct(COUNT);
    const constructed = {
      construct_us_per_device: Math.round(built.us),
      construct_heap_bytes_per_device: Math.round(built.heap),
    };
    if (ONLY === 'construct') {
      console.log(JSON.stringify({ devices: COUNT, ...constructed }));
      return;
    }
    const heapBefore = heapUsed();
    const cpu = process.cpuUsage();
    const fleet = await startFleet({
      count: COUNT,
      server: `coap://127.0.0.1:${port}`,
      rate: 0,
      lifetime: 3600,
      interval: 3600,
    });
    const startCpuUs = cpuMicros(cpu);
    const s = fleet.summary;
    const heapPerDevice = (heapUsed() - heapBefore) / COUNT;
    await fleet.stop({ timeoutMs: 5000 });
    const figures = {
      devices: COUNT,
      registered: s.registered,
      failed: s.failed,
      ...constructed,
      start_devices_per_s: Math.round((s.registered * 1000) / s.elapsedMs),
      start_cpu_us_per_device: Math.round(startCpuUs / COUNT),
      heap_bytes_per_device: Math.round(heapPerDevice),
      register_latency_p50_ms: s.latencyMs?.p50,
      register_latency_p99_ms: s.latencyMs?.p99,
    };
    console.log(JSON.stringify(figures, null, 2));
  } finally {
    child.send('stop');
  }
}

if (process.argv.includes('--serve')) await serve();
else await main();
