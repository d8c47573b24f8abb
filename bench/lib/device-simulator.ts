// A light LwM2M device simulator for the fleet benchmark, run as a child process (so the server
// under test has its own process and core): raw CoAP over dgram sockets, no LwM2mClient objects,
// so one process can stand for 100k devices. Driven over the IPC channel:
//   {cmd:'register', ...}  Registers `devices` endpoints over `sockets` sockets (several devices
//                          share a socket when there are more devices than sockets: the machine's
//                          file limit is 20,000), `inFlight` at a time, retransmitting CONs
//                          (RFC 7252 timing, 4 retransmissions); replies with counts and latency.
//   {cmd:'serve', ...}     the same, one socket per device, then answers GETs (Read: 2.05 with a
//                          temperature; Observe: 2.05 with Observe and remembers the observation).
//   {cmd:'notify', ms}     sends NON notifications on every observation, round-robin, for `ms`.
//   {cmd:'close'}          closes the sockets and exits.
import { createSocket, type Socket } from 'node:dgram';
import { CoapCode, type CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, encodeUint } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { Value } from '../../src/model/data-types.js';

export interface RegisterCommand {
  readonly cmd: 'register' | 'serve';
  readonly server: { readonly address: string; readonly port: number };
  readonly devices: number;
  /** Sockets to spread the devices over ('serve': one per device, this is ignored). */
  readonly sockets: number;
  readonly inFlight: number;
  readonly prefix: string;
  /** First index (so a second run can register other endpoints). */
  readonly first?: number;
}

export interface RegisterReport {
  readonly registered: number;
  readonly failed: number;
  readonly retransmissions: number;
  readonly codes: Record<string, number>;
  readonly elapsedMs: number;
  readonly p50: number;
  readonly p99: number;
}

export type SimulatorCommand =
  | RegisterCommand
  | {
      readonly cmd: 'notify';
      readonly ms: number;
      /** Send them here instead of to the observer (a baseline receiver). */
      readonly to?: { readonly address: string; readonly port: number };
    }
  | { readonly cmd: 'close' };

const encoder = new TextEncoder();
const OBJECT_LIST = encoder.encode(
  '</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1/0>,</3/0>,</4/0>,</5/0>,</6/0>,' +
    '</3303/0>,</3303/1>,</3304/0>,</3323/0>,</3347/0>',
);
const ACK_TIMEOUT = 2000;
const MAX_RETRANSMIT = 4;
const TEMPERATURE = LwM2mPath.of(3303, 0, 5700);

interface Pending {
  readonly device: number;
  readonly socket: Sock;
  readonly bytes: Uint8Array;
  readonly sentAt: number;
  attempts: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Observation {
  readonly socket: Sock;
  readonly peer: { address: string; port: number };
  readonly token: Uint8Array;
  readonly format: number;
  seq: number;
}

class Sock {
  mid = Math.floor(Math.random() * 0xffff);
  constructor(readonly socket: Socket) {}
  nextMid(): number {
    this.mid = (this.mid + 1) & 0xffff;
    return this.mid;
  }
}

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const payloads = new Map<number, Uint8Array>();
/** The temperature in the format the server asked for (Accept), encoded once per format. */
function temperature(format: number): Uint8Array {
  let p = payloads.get(format);
  if (p === undefined) {
    p = codecs.encode(format, [{ path: TEMPERATURE, value: Value.float(21.5) }], {
      path: TEMPERATURE,
      model,
    });
    payloads.set(format, p);
  }
  return p;
}

let sockets: Sock[] = [];
const observations: Observation[] = [];
let serving = false;

async function openSockets(count: number): Promise<Sock[]> {
  const out: Sock[] = [];
  for (let i = 0; i < count; i++) {
    // Spread over 127.0.0.2..127.0.0.251: each device (or group) has its own address and port.
    const address = `127.0.0.${2 + (i % 250)}`;
    const socket = createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    out.push(new Sock(socket));
  }
  return out;
}

function registerDatagram(device: number, prefix: string, mid: number): Uint8Array {
  const query = [`ep=${prefix}${device}`, 'lt=86400', 'lwm2m=1.2', 'b=U'];
  return encodeCoapUdp({
    type: 'CON',
    code: CoapCode.POST,
    messageId: mid,
    token: tokenOf(device),
    options: [
      { number: OptionNumber.URI_PATH, value: encoder.encode('rd') },
      { number: OptionNumber.CONTENT_FORMAT, value: Uint8Array.of(40) },
      ...query.map((q) => ({ number: OptionNumber.URI_QUERY, value: encoder.encode(q) })),
    ],
    payload: OBJECT_LIST,
  });
}

function tokenOf(device: number): Uint8Array {
  return Uint8Array.of(device >>> 24, (device >>> 16) & 255, (device >>> 8) & 255, device & 255);
}

function tokenKey(token: Uint8Array): number {
  return token.length === 4
    ? ((token[0]! << 24) | (token[1]! << 16) | (token[2]! << 8) | token[3]!) >>> 0
    : -1;
}

async function register(command: RegisterCommand): Promise<RegisterReport> {
  const serve = command.cmd === 'serve';
  const count = serve ? command.devices : Math.min(command.sockets, command.devices);
  sockets = await openSockets(count);
  const first = command.first ?? 0;
  const pending = new Map<number, Pending>();
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let registered = 0;
  let failed = 0;
  let retransmissions = 0;
  let next = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now();

  const send = (p: Pending): void => {
    p.socket.socket.send(p.bytes, command.server.port, command.server.address);
    const timeout = ACK_TIMEOUT * (1 + Math.random() * 0.5) * 2 ** (p.attempts - 1);
    p.timer = setTimeout(() => {
      if (p.attempts > MAX_RETRANSMIT) {
        pending.delete(p.device);
        failed++;
        pump();
        return;
      }
      p.attempts++;
      retransmissions++;
      send(p);
    }, timeout);
  };
  const pump = (): void => {
    while (pending.size < command.inFlight && next < command.devices) {
      const device = first + next;
      const socket = sockets[next % sockets.length]!;
      next++;
      const p: Pending = {
        device,
        socket,
        bytes: registerDatagram(device, command.prefix, socket.nextMid()),
        sentAt: performance.now(),
        attempts: 1,
        timer: undefined,
      };
      pending.set(device, p);
      send(p);
    }
    if (pending.size === 0 && next >= command.devices) finish();
  };
  const onMessage = (sock: Sock) => (bytes: Buffer, from: { address: string; port: number }) => {
    let m: CoapMessage;
    try {
      m = decodeCoapUdp(bytes);
    } catch {
      return;
    }
    if (m.code >= 64) {
      const p = pending.get(tokenKey(m.token));
      if (p === undefined) return; // a duplicate answer to a retransmission
      clearTimeout(p.timer);
      pending.delete(p.device);
      const code = `${m.code >> 5}.${String(m.code & 31).padStart(2, '0')}`;
      codes[code] = (codes[code] ?? 0) + 1;
      if (m.code === CoapCode.CREATED) {
        registered++;
        latencies.push(performance.now() - p.sentAt);
      } else failed++;
      pump();
      return;
    }
    if (serving && m.code === CoapCode.GET) answer(sock, from, m);
  };
  for (const sock of sockets) sock.socket.on('message', onMessage(sock));
  pump();
  await done;
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const pct = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
  serving = serve;
  return { registered, failed, retransmissions, codes, elapsedMs, p50: pct(0.5), p99: pct(0.99) };
}

/** A Read or an Observe from the server: piggybacked 2.05 with the temperature. */
function answer(sock: Sock, from: { address: string; port: number }, m: CoapMessage): void {
  let format = 0;
  let observe = false;
  for (const o of m.options) {
    if (o.number === OptionNumber.ACCEPT) format = o.value.reduce((n, b) => n * 256 + b, 0);
    if (o.number === OptionNumber.OBSERVE && o.value.every((b) => b === 0)) observe = true;
  }
  const options: { number: number; value: Uint8Array }[] = [
    { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(format) },
  ];
  if (observe) {
    observations.push({
      socket: sock,
      peer: { address: from.address, port: from.port },
      token: m.token,
      format,
      seq: 2,
    });
    options.unshift({ number: OptionNumber.OBSERVE, value: encodeUint(1) });
  }
  sock.socket.send(
    encodeCoapUdp({
      type: m.type === 'CON' ? 'ACK' : 'NON',
      code: CoapCode.CONTENT,
      messageId: m.type === 'CON' ? m.messageId : sock.nextMid(),
      token: m.token,
      options,
      payload: temperature(format),
    }),
    from.port,
    from.address,
  );
}

/** NON notifications on every observation, round-robin, in bursts, for `ms`; returns how many. */
async function notify(
  ms: number,
  to?: { address: string; port: number },
): Promise<{ sent: number; observations: number }> {
  let sent = 0;
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end && observations.length > 0) {
    for (let burst = 0; burst < 200; burst++) {
      const o = observations[i++ % observations.length]!;
      o.socket.socket.send(
        encodeCoapUdp({
          type: 'NON',
          code: CoapCode.CONTENT,
          messageId: o.socket.nextMid(),
          token: o.token,
          options: [
            { number: OptionNumber.OBSERVE, value: encodeUint(o.seq++ & 0xffffff) },
            { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(o.format) },
          ],
          payload: temperature(o.format),
        }),
        to?.port ?? o.peer.port,
        to?.address ?? o.peer.address,
      );
      sent++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { sent, observations: observations.length };
}

process.on('message', (command: SimulatorCommand) => {
  void (async () => {
    switch (command.cmd) {
      case 'register':
      case 'serve':
        process.send!(await register(command));
        break;
      case 'notify':
        process.send!(await notify(command.ms, command.to));
        break;
      case 'close':
        for (const s of sockets) s.socket.close();
        process.send!({ closed: true });
        process.exit(0);
    }
  })().catch((e: unknown) => {
    process.send!({ error: String(e instanceof Error ? e.stack : e) });
  });
});
process.send!({ ready: true });
