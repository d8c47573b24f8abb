// Bindings benchmark: LwM2M Reads per second and their latency (p50, p99), our server reading
// /3303/0/5700 from our client with 32 requests in flight, over each binding in one run: CoAP over
// UDP (the baseline), DTLS (PSK, CCM_8), TCP, TLS (PSK, TLS 1.3) and MQTT (through a Mosquitto
// broker when the machine has one, else the embedded aedes broker). Both ends in this process.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../src/binding/mqtt/embedded-broker.js';
import { LwM2mClient } from '../src/client/lwm2m-client.js';
import type { ServerConfig } from '../src/client/lwm2m-client.js';
import { MemoryInstance } from '../src/client/instance.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../src/store/memory-credential-store.js';
import { TEMPERATURE_DEFINITION } from '../src/cli/simulated-device.js';
import { createDefaultRegistry } from '../src/model/object-registry.js';
import { newResult, writeResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 3000);
const IN_FLIGHT = 32;
const KEY_HEX = '00112233445566778899aabbccddeeff';
const ENDPOINT = 'bench-dev';

export interface BindingUnderTest {
  readonly name: string;
  /** Server options for this binding, and the client's account once the server listens. */
  server(credentials: MemoryCredentialStore): Promise<LwM2mServerOptions> | LwM2mServerOptions;
  account(server: LwM2mServer): ServerConfig;
  /** Releases what the binding started beside the server (a broker). */
  close?(): Promise<void>;
}

const psk = { securityMode: 0, publicKeyOrIdentity: 'bench-id', secretKey: Buffer.from(KEY_HEX, 'hex') };
const local = { address: '127.0.0.1', port: 0 };

export const COAP_BINDINGS: readonly BindingUnderTest[] = [
  {
    name: 'udp',
    server: () => ({}),
    account: (s) => ({ uri: `coap://127.0.0.1:${s.address!.port}` }),
  },
  {
    name: 'dtls',
    server: (credentials) => ({ coaps: { ...local, credentials } }),
    account: (s) => ({ uri: `coaps://127.0.0.1:${s.listening('dtls')!.port}`, security: psk }),
  },
  {
    name: 'tcp',
    server: () => ({ tcp: local }),
    account: (s) => ({ uri: `coap+tcp://127.0.0.1:${s.listening('tcp')!.port}` }),
  },
  {
    name: 'tls',
    server: (credentials) => ({ tls: { ...local, credentials } }),
    account: (s) => ({ uri: `coaps+tcp://127.0.0.1:${s.listening('tls')!.port}`, security: psk }),
  },
];

/** A free TCP port on loopback (for the broker). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * A broker for the MQTT figure: Debian's mosquitto when installed (the real deployment shape),
 * else the embedded aedes broker (the name says which).
 */
async function startBroker(): Promise<{ name: string; url: string; close(): Promise<void> }> {
  if (spawnSync('sh', ['-c', 'command -v mosquitto']).status === 0) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-mosquitto-'));
    const config = join(dir, 'mosquitto.conf');
    writeFileSync(config, `listener ${port} 127.0.0.1\nallow_anonymous true\nuser root\n`);
    const daemon = spawn('mosquitto', ['-c', config], { stdio: 'ignore' });
    const url = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = createServer().listen(port, '127.0.0.1');
        socket.once('listening', () => socket.close(() => resolve(false)));
        socket.once('error', () => resolve(true));
      });
      if (up) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      name: 'mqtt',
      url,
      close: async () => {
        daemon.kill('SIGTERM');
        await new Promise((r) => daemon.once('exit', r));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const broker = await startEmbeddedBroker({ address: '127.0.0.1', port: 0 });
  return { name: 'mqtt_embedded', url: broker.url, close: () => broker.close() };
}

/** The MQTT binding through a broker started for the run. */
async function mqttBinding(): Promise<BindingUnderTest> {
  const broker = await startBroker();
  return {
    name: broker.name,
    server: () => ({ mqtt: { url: broker.url } }),
    account: () => ({ uri: broker.url }),
    close: () => broker.close(),
  };
}

interface Figures {
  readsPerSecond: number;
  p50: number;
  p99: number;
}

async function measure(binding: BindingUnderTest): Promise<Figures> {
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint: ENDPOINT, psk: { identity: 'bench-id', key: KEY_HEX } });
  const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION);
  const server = new LwM2mServer({ udp: local, model, ...(await binding.server(credentials)) });
  await server.start();
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5);
  const client = new LwM2mClient({
    endpoint: ENDPOINT,
    servers: [{ ...binding.account(server), lifetime: 600 }],
    udp: { address: '127.0.0.1' },
    model,
    instances: [temperature],
    device: { supportedBindings: 'UTM' },
  });
  const registered = new Promise((resolve) => server.once('registered', resolve));
  await client.start();
  await registered;
  try {
    const latencies: number[] = [];
    let reads = 0;
    let stopAt = performance.now() + DURATION_MS / 4; // warm-up
    const worker = async (record: boolean): Promise<void> => {
      while (performance.now() < stopAt) {
        const t0 = performance.now();
        const result = await server.read(ENDPOINT, '/3303/0/5700');
        if (result.code !== '2.05') throw new Error(`${binding.name}: read answered ${result.code}`);
        if (record) {
          reads++;
          latencies.push(performance.now() - t0);
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker(false)));
    const start = performance.now();
    stopAt = start + DURATION_MS;
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker(true)));
    const elapsed = performance.now() - start;
    latencies.sort((a, b) => a - b);
    const at = (q: number): number =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    return { readsPerSecond: (reads * 1000) / elapsed, p50: at(0.5), p99: at(0.99) };
  } finally {
    await client.stop();
    await server.stop();
    await binding.close?.();
  }
}

export async function runBindingsBench(): Promise<void> {
  const result = newResult('bindings');
  const figures = new Map<string, Figures>();
  for (const binding of COAP_BINDINGS) figures.set(binding.name, await measure(binding));
  const mqtt = await mqttBinding();
  figures.set(mqtt.name, await measure(mqtt));
  const udp = figures.get('udp')!;
  result.baselines['plain-udp'] = {
    reads_per_s: { value: udp.readsPerSecond, unit: 'reads/s' },
    read_p50_ms: { value: udp.p50, unit: 'ms' },
    read_p99_ms: { value: udp.p99, unit: 'ms' },
  };
  for (const [name, f] of figures) {
    if (name === 'udp') continue;
    result.metrics[`${name}_reads_per_s`] = { value: f.readsPerSecond, unit: 'reads/s' };
    result.metrics[`${name}_read_p50_ms`] = { value: f.p50, unit: 'ms' };
    result.metrics[`${name}_read_p99_ms`] = { value: f.p99, unit: 'ms' };
    result.ratios[`${name}_vs_udp`] = f.readsPerSecond / udp.readsPerSecond;
  }
  writeResult(result);
}
