// One part of the fleet benchmark alone, for profiling and for the server's CPU per operation:
//   node --import tsx bench/fleet-phase.ts reads|notifications [--baselines]
//   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/fleet-phase.ts reads
// The devices run in a child process, so this process (and its profile) is the server. The
// `*_server_cpu_us` metrics are this process's CPU (user + system) per operation: on a shared
// machine they move far less than the rates do. PETREL_BENCH_MS sets the measured time.
//
// The same loads without sockets, the devices answering in this process through an in-memory
// channel (the server's own CPU, and what it allocates, with no system calls in the figure):
//   node --import tsx bench/fleet-phase.ts reads-in-process|notifications-in-process [--heap]
// PETREL_FLEET_OPERATIONS sets how many (default 300,000), PETREL_FLEET_DEVICES how many devices
// (default 1,000 for Reads, 10,000 for notifications); --heap samples every allocation (slower)
// and prints the bytes allocated per operation.
import { Session } from 'node:inspector';
import { CoapCode } from '../src/coap/message.js';
import { OptionNumber, encodeUint } from '../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../src/coap/udp-codec.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { Channel, Peer, ReceiveHandler } from '../src/transport/channel.js';
import { notifications, reads } from './fleet.js';
import { newResult } from './lib/report.js';

const parts = { reads, notifications } as const;
const inProcess = { 'reads-in-process': readsInProcess, 'notifications-in-process': notificationsInProcess };
const name = process.argv[2] ?? '';
const encoder = new TextEncoder();
const TEMPERATURE = encoder.encode('21.5');

/**
 * Devices behind an in-memory channel: a Register is answered by the server, a GET by the device
 * (2.05 text/plain, with Observe 1 when asked to observe: the observation is remembered).
 */
class Devices implements Channel {
  readonly kind = 'udp' as const;
  readonly local = { address: '10.255.255.254', port: 5683 };
  readonly handlers: ReceiveHandler[] = [];
  readonly registering = new Map<Peer, () => void>();
  readonly observations: { peer: Peer; token: Uint8Array; seq: number }[] = [];

  send(peer: Peer, bytes: Uint8Array): void {
    const m = decodeCoapUdp(bytes);
    if (m.code >= 64) {
      const done = this.registering.get(peer);
      this.registering.delete(peer);
      done?.();
      return;
    }
    const observe = m.options.some((o) => o.number === OptionNumber.OBSERVE);
    if (observe) this.observations.push({ peer, token: m.token, seq: 2 });
    const reply = encodeCoapUdp({
      type: 'ACK',
      code: CoapCode.CONTENT,
      messageId: m.messageId,
      token: m.token,
      options: [
        ...(observe ? [{ number: OptionNumber.OBSERVE, value: encodeUint(1) }] : []),
        { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(0) },
      ],
      payload: TEMPERATURE,
    });
    // Answered on a later turn of the event loop, as a socket would.
    setImmediate(() => this.deliver(peer, reply));
  }

  deliver(peer: Peer, bytes: Uint8Array): void {
    for (const h of this.handlers) h(peer, bytes);
  }

  onReceive(handler: ReceiveHandler): void {
    this.handlers.push(handler);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A server on Devices with `count` devices registered (`d0`, `d1`, ...). */
async function fleet(count: number): Promise<{ server: LwM2mServer; devices: Devices; endpoints: string[] }> {
  const devices = new Devices();
  const server = new LwM2mServer({ channel: devices });
  await server.start();
  const endpoints: string[] = [];
  for (let i = 0; i < count; i++) {
    const peer: Peer = Object.freeze({ address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, port: 40000 });
    const query = [`ep=d${i}`, 'lt=86400', 'lwm2m=1.2', 'b=U'];
    const register = encodeCoapUdp({
      type: 'CON',
      code: CoapCode.POST,
      messageId: i & 0xffff,
      token: Uint8Array.of(i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255),
      options: [
        { number: OptionNumber.URI_PATH, value: encoder.encode('rd') },
        { number: OptionNumber.CONTENT_FORMAT, value: Uint8Array.of(40) },
        ...query.map((q) => ({ number: OptionNumber.URI_QUERY, value: encoder.encode(q) })),
      ],
      payload: encoder.encode('</3303/0>'),
    });
    await new Promise<void>((resolve) => {
      devices.registering.set(peer, resolve);
      devices.deliver(peer, register);
    });
    endpoints.push(`d${i}`);
  }
  return { server, devices, endpoints };
}

async function readsInProcess(): Promise<void> {
  const total = Number(process.env.PETREL_FLEET_OPERATIONS ?? 300_000);
  const { server, endpoints } = await fleet(Number(process.env.PETREL_FLEET_DEVICES ?? 1000));
  let next = 0;
  const measured = await measure(() =>
    Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) {
          const r = await server.read(endpoints[next++ % endpoints.length]!, '/3303/0/5700');
          if (!r.success) throw new Error(`Read answered ${r.code}`);
        }
      }),
    ),
  );
  report('read', total, measured);
  await server.stop();
}

async function notificationsInProcess(): Promise<void> {
  const total = Number(process.env.PETREL_FLEET_OPERATIONS ?? 300_000);
  const { server, devices, endpoints } = await fleet(Number(process.env.PETREL_FLEET_DEVICES ?? 10_000));
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (next < endpoints.length) await server.observe(endpoints[next++]!, '/3303/0/5700');
    }),
  );
  let received = 0;
  server.on('notification', () => received++);
  const observations = devices.observations;
  let mid = 0;
  const measured = await measure(async () => {
    // NON notifications round-robin, 200 per turn of the event loop (what a socket delivers).
    for (let sent = 0; sent < total;) {
      for (let burst = 0; burst < 200 && sent < total; burst++, sent++) {
        const o = observations[sent % observations.length]!;
        mid = (mid + 1) & 0xffff;
        const datagram = encodeCoapUdp({
          type: 'NON',
          code: CoapCode.CONTENT,
          messageId: mid,
          token: o.token,
          options: [
            { number: OptionNumber.OBSERVE, value: encodeUint(o.seq++ & 0xffffff) },
            { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(0) },
          ],
          payload: TEMPERATURE,
        });
        devices.deliver(o.peer, datagram);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  if (received !== total) throw new Error(`${received} of ${total} notifications reached the server`);
  report('notification', total, measured);
  await server.stop();
}

interface Measured {
  readonly ms: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly heapBytes: number | undefined;
}

/** Runs `work`; with --heap, samples every allocation it makes (collected objects included). */
async function measure(work: () => Promise<unknown>): Promise<Measured> {
  const heap = process.argv.includes('--heap');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  if (heap)
    await post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - start;
  let heapBytes: number | undefined;
  if (heap) {
    const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: { head: SampleNode } };
    heapBytes = sampledBytes(profile.head);
  }
  session.disconnect();
  return { ms, cpu, heapBytes };
}

interface SampleNode {
  readonly selfSize: number;
  readonly children: readonly SampleNode[];
}

function sampledBytes(node: SampleNode): number {
  let bytes = node.selfSize;
  for (const child of node.children) bytes += sampledBytes(child);
  return bytes;
}

function report(what: string, total: number, m: Measured): void {
  print(`${what}s_per_s_in_process`, (total * 1000) / m.ms, `${what}s/s`);
  print(`${what}_cpu_us_in_process`, (m.cpu.user + m.cpu.system) / total, `µs/${what}`);
  if (m.heapBytes !== undefined)
    print(`${what}_heap_bytes_in_process`, m.heapBytes / total, `bytes/${what} (devices' side included)`);
}

function print(key: string, value: number, unit: string): void {
  const v = value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
  console.log(`${key.padEnd(32)} ${v} ${unit}`);
}

async function main(): Promise<void> {
  if (name === 'reads' || name === 'notifications') {
    const result = newResult(`fleet-${name}`);
    await parts[name](result, { baselines: process.argv.includes('--baselines') });
    for (const [key, m] of Object.entries(result.metrics)) print(key, m.value, m.unit);
    for (const [base, ms] of Object.entries(result.baselines))
      for (const [key, m] of Object.entries(ms)) print(`${base}: ${key}`, m.value, m.unit);
  } else if (name in inProcess) {
    await inProcess[name as keyof typeof inProcess]();
  } else {
    console.error(
      'usage: fleet-phase.ts reads|notifications [--baselines] | reads-in-process|notifications-in-process [--heap]',
    );
    process.exit(2);
  }
}

// Last: the classes and constants above are initialised by now.
await main();
