// Fleet benchmark (issue 10), the in-process part: one LwM2mServer fed Register datagrams from N
// distinct peers through an in-memory channel (no sockets, so the figure is the server alone).
//   heap_bytes_per_registration     heap after N registrations (forced GC) minus heap before, / N.
//                                   It includes the CoAP state still held for the last requests
//                                   (dedup entries, at most maxDedupEntries = 100k peers).
//   registrations_per_s_in_process  Registers answered 2.01 per second, 512 in flight.
//   restart_ready_s                 the same N registrations in SQLite: a new server on that file
//                                   (restore: 'background') has answered an Update of one of them;
//   restart_restore_complete_s      ... and has re-armed every registration's expiry.
// Baseline in the same run: the CoAP work alone (decode each Register datagram, encode a 2.01
// with its Location-Path), so the ratio shows what registration handling costs on top.
// PETREL_FLEET_REGISTRATIONS sets N (default 1,000,000).
//
// Then over real UDP on loopback, with the devices in a child process (bench/lib/device-simulator.ts):
//   registrations_per_s      a storm of PETREL_FLEET_STORM devices (default 100,000) registering,
//                            2,000 in flight, none lost or twice; again after a server restart.
//   reads_per_s              Reads of /3303/0/5700 from 1,000 devices, 32 in flight in all.
//   notifications_per_s      notifications received from 10,000 observations (NON, round-robin).
//   read_server_cpu_us, notification_server_cpu_us
//                            this process's CPU (user + system) per Read / per notification over
//                            the measured part: the server's cost, which a busy machine moves far
//                            less than the rates (bench/fleet-phase.ts runs one part alone).
// Baselines in the same run, same simulator: a raw dgram loop (decode, answer, nothing else) and
// node-coap doing the same CoAP work (answering the Registers; sending the GETs).
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as nodeCoap from 'coap';
import { CoapCode } from '../src/coap/message.js';
import { OptionNumber } from '../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../src/coap/udp-codec.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { Registration } from '../src/server/registration.js';
import { openStores } from '../src/store/open-stores.js';
import type { RegistrationStore } from '../src/store/registration-store.js';
import type { Channel, Peer, ReceiveHandler } from '../src/transport/channel.js';
import { UdpChannel } from '../src/transport/udp-channel.js';
import type { RegisterReport, SimulatorCommand } from './lib/device-simulator.js';
import { ChildCommands } from './lib/child-commands.js';
import { newResult, writeResult } from './lib/report.js';

const COUNT = Number(process.env.PETREL_FLEET_REGISTRATIONS ?? 1_000_000);
const STORM = Number(process.env.PETREL_FLEET_STORM ?? 100_000);
/** The simulator's sockets for the storm (the file limit here is 20,000 per process). */
const STORM_SOCKETS = Math.min(STORM, 5000);
const STORM_IN_FLIGHT = 2000;
const READ_DEVICES = 1000;
const READS_IN_FLIGHT = 32;
const OBSERVATIONS = Number(process.env.PETREL_FLEET_OBSERVATIONS ?? 10_000);
const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 5000);
const LOOPBACK = '127.0.0.1';
const IN_FLIGHT = 512;
const encoder = new TextEncoder();
/** A typical device: 10 object instances and the root link with its content formats. */
const OBJECT_LIST = encoder.encode(
  '</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1/0>,</3/0>,</4/0>,</5/0>,</6/0>,' +
    '</3303/0>,</3303/1>,</3304/0>,</3323/0>,</3347/0>',
);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Device i's Register: CON POST /rd?ep=…&lt=86400&lwm2m=1.2&b=U with the object list. */
function registerDatagram(i: number): Uint8Array {
  const query = [`ep=urn:dev:${i.toString().padStart(8, '0')}`, 'lt=86400', 'lwm2m=1.2', 'b=U'];
  return encodeCoapUdp({
    type: 'CON',
    code: CoapCode.POST,
    messageId: i & 0xffff,
    token: Uint8Array.of(i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255),
    options: [
      { number: OptionNumber.URI_PATH, value: encoder.encode('rd') },
      { number: OptionNumber.CONTENT_FORMAT, value: Uint8Array.of(40) },
      ...query.map((q) => ({ number: OptionNumber.URI_QUERY, value: encoder.encode(q) })),
    ],
    payload: OBJECT_LIST,
  });
}

/** Device i's address: 10.x.y.z, one port each (what a NAT in front of a fleet looks like). */
function peerOf(i: number): Peer {
  return { address: `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, port: 20000 + (i % 40000) };
}

/**
 * The server's side of an in-memory link: datagrams are handed to the server's handler as if they
 * came from `peer`, and what it sends back settles the waiting request (matched by token).
 */
class InProcessChannel implements Channel {
  readonly kind = 'udp' as const;
  readonly local = { address: '10.255.255.254', port: 5683 };
  handler: ReceiveHandler | undefined;
  readonly waiting = new Map<number, (code: number) => void>();

  send(_peer: Peer, datagram: Uint8Array): void {
    const m = decodeCoapUdp(datagram);
    const key = ((m.token[0]! << 24) | (m.token[1]! << 16) | (m.token[2]! << 8) | m.token[3]!) >>> 0;
    const done = this.waiting.get(key);
    this.waiting.delete(key);
    done?.(m.code);
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  request(i: number, datagram = registerDatagram(i)): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.set(i >>> 0, resolve);
      this.handler!(peerOf(i), datagram);
    });
  }
}

/** Device i's Update (CON POST /rd/{id}, nothing changed) of registration `id`. */
function updateDatagram(i: number, id: string): Uint8Array {
  return encodeCoapUdp({
    type: 'CON',
    code: CoapCode.POST,
    messageId: (i + 1) & 0xffff,
    token: Uint8Array.of(i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255),
    options: [
      { number: OptionNumber.URI_PATH, value: encoder.encode('rd') },
      { number: OptionNumber.URI_PATH, value: encoder.encode(id) },
    ],
    payload: new Uint8Array(),
  });
}

/** Registers devices 0..count-1, IN_FLIGHT at a time; returns the rate and checks every 2.01. */
async function storm(channel: InProcessChannel, count: number): Promise<number> {
  let next = 0;
  let created = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const i = next++;
        if ((await channel.request(i)) === CoapCode.CREATED) created++;
        // Let the event loop turn (timers, setImmediate) as it does between datagrams on a socket.
        if ((i & 1023) === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  const rate = (count * 1000) / (performance.now() - start);
  if (created !== count) throw new Error(`${count - created} of ${count} Registers were not answered 2.01`);
  return rate;
}

/** The same CoAP work without LwM2M: decode each Register, encode a 2.01 with a Location-Path. */
function codecOnlyRate(count: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const m = decodeCoapUdp(registerDatagram(i));
    encodeCoapUdp({
      type: 'ACK',
      code: CoapCode.CREATED,
      messageId: m.messageId,
      token: m.token,
      options: [
        { number: OptionNumber.LOCATION_PATH, value: encoder.encode('rd') },
        { number: OptionNumber.LOCATION_PATH, value: encoder.encode(i.toString(32).padStart(10, 'a')) },
      ],
      payload: new Uint8Array(),
    });
  }
  return (count * 1000) / (performance.now() - start);
}

async function copyInto(from: RegistrationStore, to: RegistrationStore): Promise<number> {
  let n = 0;
  const batch: Registration[] = [];
  const flush = async () => {
    await Promise.all(batch.map((r) => to.put(r)));
    batch.length = 0;
  };
  for await (const reg of from.all()) {
    batch.push(reg);
    n++;
    if (batch.length === 1000) await flush();
  }
  await flush();
  return n;
}

/** The device simulator in its own process, driven command by command. */
export type Simulator = ChildCommands<SimulatorCommand>;
export const Simulator = {
  start: (): Promise<Simulator> =>
    ChildCommands.start<SimulatorCommand>(
      new URL('./lib/device-simulator.ts', import.meta.url),
      'device simulator',
    ),
};

export async function openServerChannel(port = 0): Promise<UdpChannel> {
  return UdpChannel.open({ address: LOOPBACK, port, receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
}

function checkStorm(report: RegisterReport, expected: number, label: string): void {
  if (report.registered !== expected || report.failed !== 0)
    throw new Error(
      `${label}: ${report.registered} of ${expected} registered, ${report.failed} failed (${JSON.stringify(report.codes)})`,
    );
}

/** The storm against a Petrel server, then again against a new server on the same port. */
/** The simulator registers STORM devices with the server on `port`; fails on any lost or refused. */
async function stormOnce(port: number, label: string): Promise<RegisterReport> {
  const sim = await Simulator.start();
  try {
    const report = await sim.command<RegisterReport>({
      cmd: 'register',
      server: { address: LOOPBACK, port },
      devices: STORM,
      sockets: STORM_SOCKETS,
      inFlight: STORM_IN_FLIGHT,
      prefix: 'storm-',
    });
    checkStorm(report, STORM, label);
    return report;
  } finally {
    await sim.close();
  }
}

/** A Petrel server on `port` (0: any) through one storm; checks none was lost or counted twice. */
async function petrelStorm(port: number, label: string): Promise<{ port: number; report: RegisterReport }> {
  const channel = await openServerChannel(port);
  const server = new LwM2mServer({ channel });
  let registeredEvents = 0;
  server.on('registered', () => registeredEvents++);
  await server.start();
  try {
    const report = await stormOnce(channel.local.port, label);
    const stored = (await server.registrations()).length;
    if (stored !== STORM || registeredEvents !== STORM)
      throw new Error(
        `${label}: ${stored} stored, ${registeredEvents} registered events, for ${STORM} devices`,
      );
    return { port: channel.local.port, report };
  } finally {
    await server.stop();
    await channel.close();
  }
}

/** Exported for profiling one part at a time. */
export async function udpStorm(result: ReturnType<typeof newResult>): Promise<number> {
  const { port, report } = await petrelStorm(0, 'storm');
  const rate = (STORM * 1000) / report.elapsedMs;
  result.metrics.registrations_per_s = { value: rate, unit: 'registrations/s' };
  result.metrics.storm_devices = { value: STORM, unit: 'devices' };
  result.metrics.storm_sockets = { value: STORM_SOCKETS, unit: 'sockets' };
  result.metrics.storm_p99_ms = { value: report.p99, unit: 'ms' };
  result.metrics.storm_retransmissions = { value: report.retransmissions, unit: 'datagrams' };
  // A restart: a new server on the same port, and every device registers again.
  const second = (await petrelStorm(port, 'storm after restart')).report;
  result.metrics.registrations_per_s_after_restart = {
    value: (STORM * 1000) / second.elapsedMs,
    unit: 'registrations/s',
  };
  return rate;
}

/** The same storm against a baseline server (`listen` starts it). */
async function baselineStorm(listen: () => Promise<{ port: number; close: () => void }>): Promise<number> {
  const { port, close } = await listen();
  try {
    return (STORM * 1000) / (await stormOnce(port, 'baseline storm')).elapsedMs;
  } finally {
    close();
  }
}

/** Raw dgram: decode each Register and send its 2.01 ACK (no dedup, no state). */
async function rawRegisterServer(): Promise<{ port: number; close: () => void }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  let n = 0;
  socket.on('message', (buf, from) => {
    const m = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    socket.send(
      encodeCoapUdp({
        type: 'ACK',
        code: CoapCode.CREATED,
        messageId: m.messageId,
        token: m.token,
        options: [
          { number: OptionNumber.LOCATION_PATH, value: encoder.encode('rd') },
          { number: OptionNumber.LOCATION_PATH, value: encoder.encode((n++).toString(32)) },
        ],
        payload: new Uint8Array(),
      }),
      from.port,
      from.address,
    );
  });
  return { port: socket.address().port, close: () => socket.close() };
}

interface NodeCoapResponse {
  code: string;
  setOption(name: string, value: Buffer[]): void;
  end(payload?: Buffer): void;
}

/** node-coap: a server answering every Register 2.01 with a Location-Path (its own dedup). */
async function nodeCoapRegisterServer(): Promise<{ port: number; close: () => void }> {
  const server = nodeCoap.createServer({ type: 'udp4' });
  let n = 0;
  server.on('request', (_req: unknown, res: NodeCoapResponse) => {
    res.code = '2.01';
    res.setOption('Location-Path', [Buffer.from('rd'), Buffer.from((n++).toString(32))]);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, () => resolve()));
  const port = (server as unknown as { _sock: Socket })._sock.address().port;
  return { port, close: () => server.close() };
}

interface LoadRun {
  rate: number;
  p50: number;
  p99: number;
  /** This process's CPU (user + system) per operation over the measured part, in µs. */
  cpuUs: number;
  /** The user part of it (the system part is mostly the sendto/recvmsg system calls). */
  userUs: number;
}

/** Options for running one part alone (bench/fleet-phase.ts). */
export interface PartOptions {
  /** Also measure the baselines (default true). */
  readonly baselines?: boolean;
}

/** Keeps `inFlight` operations going for DURATION_MS over `targets` round-robin. */
async function keepBusy<T>(targets: readonly T[], once: (target: T) => Promise<void>): Promise<LoadRun> {
  let i = 0;
  const latencies: number[] = [];
  const warm = performance.now() + 500;
  while (performance.now() < warm) await once(targets[i++ % targets.length]!);
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: READS_IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await once(targets[i++ % targets.length]!);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const pct = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]!;
  return {
    rate: (latencies.length * 1000) / elapsed,
    p50: pct(0.5),
    p99: pct(0.99),
    cpuUs: (used.user + used.system) / latencies.length,
    userUs: used.user / latencies.length,
  };
}

/** Reads from READ_DEVICES devices: Petrel's server, then node-coap and raw GETs to the same devices. */
/** Exported for profiling one part at a time. */
export async function reads(result: ReturnType<typeof newResult>, options: PartOptions = {}): Promise<void> {
  const channel = await openServerChannel();
  const server = new LwM2mServer({ channel });
  await server.start();
  const sim = await Simulator.start();
  try {
    const report = await sim.command<RegisterReport>({
      cmd: 'serve',
      server: { address: LOOPBACK, port: channel.local.port },
      devices: READ_DEVICES,
      sockets: READ_DEVICES,
      inFlight: 500,
      prefix: 'reader-',
    });
    checkStorm(report, READ_DEVICES, 'read devices');
    const registrations = await server.registrations();
    const endpoints = registrations.map((r) => r.endpoint);
    const petrel = await keepBusy(endpoints, async (ep) => {
      const r = await server.read(ep, '/3303/0/5700');
      if (!r.success) throw new Error(`Read answered ${r.code}`);
    });
    result.metrics.reads_per_s = { value: petrel.rate, unit: 'reads/s' };
    result.metrics.read_p50_ms = { value: petrel.p50, unit: 'ms' };
    result.metrics.read_p99_ms = { value: petrel.p99, unit: 'ms' };
    // The server's CPU per Read (this process: the devices are in the simulator's): unlike the
    // rate, it hardly depends on what else the machine is doing.
    result.metrics.read_server_cpu_us = { value: petrel.cpuUs, unit: 'µs/read' };
    result.metrics.read_server_user_us = { value: petrel.userUs, unit: 'µs/read' };
    if (options.baselines === false) return;
    const peers = registrations.map((r) => r.peer);

    const agent = new nodeCoap.Agent({ type: 'udp4' });
    const viaNodeCoap = await keepBusy(
      peers,
      (peer) =>
        new Promise<void>((resolve, reject) => {
          const req = nodeCoap.request({
            hostname: peer.address,
            port: peer.port,
            pathname: '/3303/0/5700',
            agent,
          });
          req.on('response', (res: { code: string }) =>
            res.code === '2.05' ? resolve() : reject(new Error(`node-coap got ${res.code}`)),
          );
          req.on('error', reject);
          req.end();
        }),
    );
    agent.close();
    const raw = await rawGets(peers);
    result.baselines['node-coap'] = {
      ...result.baselines['node-coap'],
      reads_per_s: { value: viaNodeCoap.rate, unit: 'reads/s' },
    };
    result.baselines['raw-dgram'] = {
      ...result.baselines['raw-dgram'],
      reads_per_s: { value: raw.rate, unit: 'reads/s' },
      read_cpu_us: { value: raw.cpuUs, unit: 'µs/read' },
      read_user_us: { value: raw.userUs, unit: 'µs/read' },
    };
    result.ratios.reads_vs_node_coap = petrel.rate / viaNodeCoap.rate;
    result.ratios.reads_vs_raw_dgram = petrel.rate / raw.rate;
  } finally {
    await sim.close();
    await server.stop();
    await channel.close();
  }
}

/** GETs from one dgram socket, matched by token, nothing else (the floor for a Read). */
async function rawGets(peers: readonly Peer[]): Promise<LoadRun> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  const waiting = new Map<number, () => void>();
  let mid = 0;
  socket.on('message', (buf) => {
    const m = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const done = waiting.get(m.messageId);
    waiting.delete(m.messageId);
    done?.();
  });
  const path = ['3303', '0', '5700'].map((v) => ({
    number: OptionNumber.URI_PATH,
    value: encoder.encode(v),
  }));
  try {
    return await keepBusy(
      peers,
      (peer) =>
        new Promise<void>((resolve) => {
          mid = (mid + 1) & 0xffff;
          waiting.set(mid, resolve);
          socket.send(
            encodeCoapUdp({
              type: 'CON',
              code: CoapCode.GET,
              messageId: mid,
              token: Uint8Array.of(mid >> 8, mid & 255),
              options: path,
              payload: new Uint8Array(),
            }),
            peer.port,
            peer.address,
          );
        }),
    );
  } finally {
    socket.close();
  }
}

/** Notifications from OBSERVATIONS observations, received by Petrel's server and by a raw socket. */
/** Exported for profiling one part at a time. */
export async function notifications(
  result: ReturnType<typeof newResult>,
  options: PartOptions = {},
): Promise<void> {
  const channel = await openServerChannel();
  const server = new LwM2mServer({ channel });
  await server.start();
  const sim = await Simulator.start();
  const raw = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  try {
    const report = await sim.command<RegisterReport>({
      cmd: 'serve',
      server: { address: LOOPBACK, port: channel.local.port },
      devices: OBSERVATIONS,
      sockets: OBSERVATIONS,
      inFlight: 1000,
      prefix: 'observed-',
    });
    checkStorm(report, OBSERVATIONS, 'observed devices');
    const endpoints = (await server.registrations()).map((r) => r.endpoint);
    let next = 0;
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        while (next < endpoints.length) await server.observe(endpoints[next++]!, '/3303/0/5700');
      }),
    );
    let received = 0;
    server.on('notification', () => received++);
    const cpu = process.cpuUsage();
    const sent = await sim.command<{ sent: number; observations: number }>({
      cmd: 'notify',
      ms: DURATION_MS,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const used = process.cpuUsage(cpu);
    result.metrics.notification_server_cpu_us = {
      value: (used.user + used.system) / received,
      unit: 'µs/notification',
    };
    result.metrics.notification_server_user_us = { value: used.user / received, unit: 'µs/notification' };
    const rate = (received * 1000) / DURATION_MS;
    result.metrics.notifications_per_s = { value: rate, unit: 'notifications/s' };
    result.metrics.observations = { value: sent.observations, unit: 'observations' };
    result.metrics.notifications_sent_per_s = {
      value: (sent.sent * 1000) / DURATION_MS,
      unit: 'notifications/s',
    };
    if (options.baselines === false) return;

    // The floor: the same blast into a socket that only decodes each datagram.
    await new Promise<void>((resolve) => raw.bind(0, LOOPBACK, resolve));
    let decoded = 0;
    raw.on('message', (buf) => {
      decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      decoded++;
    });
    const rawCpu = process.cpuUsage();
    await sim.command({
      cmd: 'notify',
      ms: DURATION_MS,
      to: { address: LOOPBACK, port: raw.address().port },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rawUsed = process.cpuUsage(rawCpu);
    const rawRate = (decoded * 1000) / DURATION_MS;
    result.baselines['raw-dgram'] = {
      ...result.baselines['raw-dgram'],
      notifications_per_s: { value: rawRate, unit: 'notifications/s' },
      notification_cpu_us: { value: (rawUsed.user + rawUsed.system) / decoded, unit: 'µs/notification' },
      notification_user_us: { value: rawUsed.user / decoded, unit: 'µs/notification' },
    };
    result.ratios.notifications_vs_raw_dgram = rate / rawRate;
  } finally {
    raw.close();
    await sim.close();
    await server.stop();
    await channel.close();
  }
}

/**
 * The in-process part: its million registrations (and both servers) are unreachable once it
 * returns, so the UDP parts do not pay for collecting a gigabyte of live heap.
 */
async function inProcess(result: ReturnType<typeof newResult>): Promise<number> {
  const channel = new InProcessChannel();
  const server = new LwM2mServer({ channel });
  await server.start();
  const before = heapUsed();
  const rate = await storm(channel, COUNT);
  const after = heapUsed();
  result.metrics.registrations = { value: COUNT, unit: 'registrations' };
  result.metrics.registrations_per_s_in_process = { value: rate, unit: 'registrations/s' };
  result.metrics.heap_bytes_per_registration = { value: (after - before) / COUNT, unit: 'bytes' };
  result.metrics.rss_after_registrations = { value: process.memoryUsage().rss / 2 ** 20, unit: 'MiB' };

  // Restart on SQLite: the registrations are written to a database file, then a new server opens it.
  const dir = mkdtempSync(join(tmpdir(), 'petrel-fleet-'));
  try {
    const file = join(dir, 'petrel.db');
    const filling = await openStores(`sqlite:${file}`);
    const copied = await copyInto(server.store, filling.registrations);
    // A device from the middle of the fleet, to show the restarted server serving it.
    const probe = Math.floor(COUNT / 2);
    const probeId = (await server.store.get(`urn:dev:${probe.toString().padStart(8, '0')}`))!.id;
    await server.stop();
    await filling.close();
    const started = performance.now();
    const stores = await openStores(`sqlite:${file}`);
    const again = new InProcessChannel();
    const restarted = new LwM2mServer({ channel: again, store: stores.registrations, restore: 'background' });
    await restarted.start();
    const answer = await again.request(probe, updateDatagram(probe, probeId));
    if (answer !== CoapCode.CHANGED) throw new Error(`the restarted server answered the Update ${answer}`);
    result.metrics.restart_ready_s = { value: (performance.now() - started) / 1000, unit: 's' };
    const restoredCount = await restarted.restored;
    result.metrics.restart_restore_complete_s = { value: (performance.now() - started) / 1000, unit: 's' };
    result.metrics.restart_registrations = { value: restoredCount, unit: 'registrations' };
    if (restoredCount !== copied) throw new Error(`restored ${restoredCount} of ${copied} registrations`);
    await restarted.stop();
    await stores.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  return rate;
}

export async function runFleetBench(): Promise<void> {
  const result = newResult('fleet');
  const rate = await inProcess(result);
  heapUsed(); // collect the in-process part before the UDP parts
  const codec = codecOnlyRate(Math.min(COUNT, 200_000));
  result.baselines['coap-codec-only'] = { register_roundtrips_per_s: { value: codec, unit: 'roundtrips/s' } };
  result.ratios.registrations_in_process_vs_codec_only = rate / codec;

  const stormRate = await udpStorm(result);
  const rawStorm = await baselineStorm(rawRegisterServer);
  const nodeCoapStorm = await baselineStorm(nodeCoapRegisterServer);
  result.baselines['raw-dgram'] = { registrations_per_s: { value: rawStorm, unit: 'registrations/s' } };
  result.baselines['node-coap'] = { registrations_per_s: { value: nodeCoapStorm, unit: 'registrations/s' } };
  result.ratios.registrations_vs_raw_dgram = stormRate / rawStorm;
  result.ratios.registrations_vs_node_coap = stormRate / nodeCoapStorm;
  await reads(result);
  await notifications(result);
  writeResult(result);
}
