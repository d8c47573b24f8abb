// Churning LwM2M devices for the soak run, as a child process of soak/soak-runner.ts: raw CoAP over
// dgram (no LwM2mClient objects), one socket per device (the server must see one peer per device;
// the file limit here is 20,000 per process, so 10k devices take two of these processes). Each
// device registers, then acts every few seconds: an Update (most often), a De-register followed by
// a Register a little later, or a new Register (a reboot). Queue-mode devices (`Q`) sleep between
// their Updates and ignore everything while asleep. Devices answer the server's Reads and Observes
// of /3303/0/5700 and notify on their observations (confirmable when nothing else is in flight).
// Every confirmable message is retransmitted as RFC 7252 §4.2 says; a device that gets no answer
// to an Update or De-register does not know its state and registers again.
//
// A device "believes it is registered" only while it holds a location the server confirmed (2.01)
// and no later exchange put it in doubt: those are the registrations the server must still hold.
// Driven over IPC (soak/soak-protocol.ts): start, settle (stop churning, every device registered
// and awake), quiet (nothing in flight; reply with the registrations), resume, stats, close.
import { createSocket, type Socket } from 'node:dgram';
import { CoapCode, type CoapMessage } from '../src/coap/message.js';
import { OptionNumber, encodeUint } from '../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../src/coap/udp-codec.js';
import { createCodecRegistry } from '../src/content/codec-registry.js';
import { Value } from '../src/model/data-types.js';
import { createDefaultRegistry } from '../src/model/object-registry.js';
import { LwM2mPath } from '../src/model/path.js';
import type {
  ChurnProfile,
  LostRegistration,
  SimulatorCommand,
  SimulatorReply,
  SimulatorStats,
  StartCommand,
} from './soak-protocol.js';
import { emptySimulatorStats } from './soak-protocol.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const OBJECT_LIST = encoder.encode(
  '</>;rt="oma.lwm2m";ct="60 110 112 11542 11543",</1/0>,</3/0>,</4/0>,</3303/0>,</3303/1>',
);
const TEMPERATURE = LwM2mPath.of(3303, 0, 5700);
/** How long a device waits for a separate response after an empty ACK (RFC 7252 §5.2.2). */
const SEPARATE_RESPONSE_WAIT = 20_000;
/** Server requests remembered per device for deduplication (RFC 7252 §4.5). */
const RECENT_REQUESTS = 8;

type ExchangeKind = 'register' | 'update' | 'deregister' | 'notify';

interface Exchange {
  readonly kind: ExchangeKind;
  readonly mid: number;
  readonly token: Uint8Array;
  readonly bytes: Uint8Array;
  readonly observation?: string;
  attempts: number;
  acked: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface DeviceObservation {
  readonly token: Uint8Array;
  readonly format: number;
  seq: number;
}

interface Device {
  readonly endpoint: string;
  readonly socket: Socket;
  readonly queueMode: boolean;
  /** The registration id the server confirmed; undefined while unregistered or in doubt. */
  location: string | undefined;
  exchange: Exchange | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  notifyTimer: ReturnType<typeof setTimeout> | undefined;
  /** A timer fired while an exchange was in flight: run it when the exchange ends. */
  tickDue: boolean;
  asleep: boolean;
  lastSent: number;
  mid: number;
  tokenSeq: number;
  readonly observations: Map<string, DeviceObservation>;
  /** Message id and answer of the last requests from the server (a ring). */
  readonly recent: { mid: number; reply: Uint8Array }[];
  /** The device's last exchanges, for the report of a registration the server lost (a ring). */
  readonly trace: string[];
}

/** Lines of trace kept per device, and lost registrations reported with theirs. */
const TRACE_LINES = 24;
const LOST_REPORTED = 10;
const lost: LostRegistration[] = [];

/** Lines start with the wall-clock ms, so a device's trace interleaves with the runner's server trace. */
function trace(d: Device, line: string): void {
  d.trace.push(`${Date.now()} ${line}`);
  if (d.trace.length > TRACE_LINES) d.trace.shift();
}

const stats: SimulatorStats = emptySimulatorStats();

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

/** mulberry32: a run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let random: () => number = Math.random;
let devices: Device[] = [];
let profile: ChurnProfile;
let server: { address: string; port: number };
let settling = false;
/** Settled and told to go quiet: no heartbeats, nothing in flight. */
let quiet = false;

const between = (r: { min: number; max: number }): number => r.min + random() * (r.max - r.min);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const codeText = (code: number): string => `${code >> 5}.${String(code & 31).padStart(2, '0')}`;

function arm(d: Device, ms: number): void {
  clearTimeout(d.timer);
  d.timer = setTimeout(() => tick(d), Math.max(0, ms));
}

function transmit(d: Device, bytes: Uint8Array): void {
  d.lastSent = performance.now();
  d.socket.send(bytes, server.port, server.address);
}

function nextMid(d: Device): number {
  d.mid = (d.mid + 1) & 0xffff;
  return d.mid;
}

function nextToken(d: Device): Uint8Array {
  d.tokenSeq = (d.tokenSeq + 1) >>> 0;
  const t = d.tokenSeq;
  return Uint8Array.of(t >>> 24, (t >>> 16) & 255, (t >>> 8) & 255, t & 255);
}

function uplink(
  d: Device,
  kind: 'register' | 'update' | 'deregister',
  type: 'CON' | 'NON' = 'CON',
): Exchange {
  const mid = nextMid(d);
  const token = nextToken(d);
  const path = kind === 'register' ? ['rd'] : ['rd', d.location!];
  const query =
    kind === 'register'
      ? [`ep=${d.endpoint}`, `lt=${profile.lifetime}`, 'lwm2m=1.2', 'b=U', ...(d.queueMode ? ['Q'] : [])]
      : [];
  const bytes = encodeCoapUdp({
    type,
    code: kind === 'deregister' ? CoapCode.DELETE : CoapCode.POST,
    messageId: mid,
    token,
    options: [
      ...path.map((p) => ({ number: OptionNumber.URI_PATH, value: encoder.encode(p) })),
      ...(kind === 'register' ? [{ number: OptionNumber.CONTENT_FORMAT, value: Uint8Array.of(40) }] : []),
      ...query.map((q) => ({ number: OptionNumber.URI_QUERY, value: encoder.encode(q) })),
    ],
    payload: kind === 'register' ? OBJECT_LIST : new Uint8Array(0),
  });
  return { kind, mid, token, bytes, attempts: 1, acked: false, timer: undefined };
}

function begin(d: Device, exchange: Exchange): void {
  d.exchange = exchange;
  trace(d, `${exchange.kind} mid=${exchange.mid} token=${hex(exchange.token)} location=${d.location ?? '-'}`);
  if (exchange.kind === 'register') stats.registersSent++;
  else if (exchange.kind === 'update') stats.updatesSent++;
  else if (exchange.kind === 'deregister') stats.deregistersSent++;
  send(d, exchange);
}

function send(d: Device, x: Exchange): void {
  transmit(d, x.bytes);
  const timeout = profile.ackTimeout * (1 + random() * 0.5) * 2 ** (x.attempts - 1);
  x.timer = setTimeout(() => {
    if (x.attempts > profile.maxRetransmit) return finish(d, x, undefined);
    x.attempts++;
    stats.retransmissions++;
    trace(d, `retransmit ${x.kind} mid=${x.mid} attempt ${x.attempts}`);
    send(d, x);
  }, timeout);
}

/** The exchange ended: with a response, a Reset ('reset') or no answer at all (undefined). */
function finish(d: Device, x: Exchange, answer: CoapMessage | 'reset' | undefined): void {
  if (d.exchange !== x) return;
  clearTimeout(x.timer);
  d.exchange = undefined;
  if (answer === undefined) stats.timeouts++;
  const code = answer === undefined || answer === 'reset' ? undefined : answer.code;
  trace(
    d,
    `end ${x.kind} mid=${x.mid}: ${answer === undefined ? 'no answer' : answer === 'reset' ? 'RST' : `${answer.type} ${codeText(answer.code)} mid=${answer.messageId}${locationOf(answer)}`}`,
  );
  if (code !== undefined && code >= 128) {
    const text = codeText(code);
    stats.errorCodes[text] = (stats.errorCodes[text] ?? 0) + 1;
  }
  switch (x.kind) {
    case 'notify':
      if (code === undefined && x.observation !== undefined && d.observations.delete(x.observation))
        stats.observationsDropped++; // Reset or no ACK: the server no longer wants it (RFC 7641 §4.5)
      if (d.tickDue) {
        d.tickDue = false;
        tick(d);
      }
      return;
    case 'register':
      d.observations.clear(); // a new registration voids the old observations (Core §6.4)
      if (code === CoapCode.CREATED && answer !== 'reset' && answer !== undefined) {
        const location = answer.options
          .filter((o) => o.number === OptionNumber.LOCATION_PATH)
          .map((o) => decoder.decode(o.value));
        d.location = location[1];
        stats.registered++;
      } else d.location = undefined;
      break;
    case 'update':
      if (code === CoapCode.CHANGED) stats.updated++;
      else {
        if (code === CoapCode.NOT_FOUND) reportLost(d, x);
        d.location = undefined; // in doubt: register again
      }
      break;
    case 'deregister':
      if (code === CoapCode.DELETED) stats.deregistered++;
      else if (code === CoapCode.NOT_FOUND) reportLost(d, x);
      d.location = undefined;
      d.observations.clear();
      break;
  }
  d.tickDue = false;
  afterAction(d, x.kind === 'deregister');
}

/** A 4.04 to an Update or De-register of the location the server confirmed: keep the device's trace. */
function reportLost(d: Device, x: Exchange): void {
  stats.lostRegistrations++;
  if (lost.length < LOST_REPORTED)
    lost.push({ endpoint: d.endpoint, location: d.location ?? '-', kind: x.kind, trace: [...d.trace] });
}

function locationOf(m: CoapMessage): string {
  const path = m.options
    .filter((o) => o.number === OptionNumber.LOCATION_PATH)
    .map((o) => decoder.decode(o.value));
  return path.length > 0 ? ` location=${path.join('/')}` : '';
}

/** Arms the device's next step once an action ended. */
function afterAction(d: Device, left: boolean): void {
  if (d.location === undefined) {
    // Unregistered (on purpose: rejoin later; refused or in doubt: retry soon).
    arm(
      d,
      settling
        ? between({ min: 200, max: 1000 })
        : left
          ? between(profile.rejoinAfter)
          : between({ min: 1000, max: 5000 }),
    );
    return;
  }
  if (settling) {
    // Heartbeat Updates keep the server seeing a queue-mode device awake, so what it queued goes out.
    if (d.queueMode && !quiet) arm(d, profile.awake / 2);
    return;
  }
  if (d.queueMode) arm(d, d.lastSent + profile.awake - performance.now());
  else arm(d, between(profile.actEvery));
}

function tick(d: Device): void {
  d.timer = undefined;
  if (d.exchange) {
    d.tickDue = true;
    return;
  }
  if (d.location === undefined) return begin(d, uplink(d, 'register'));
  if (settling) {
    if (d.asleep) {
      d.asleep = false;
      begin(d, uplink(d, 'update'));
    } else if (d.queueMode && !quiet) {
      // A non-confirmable heartbeat Update: it keeps the server seeing the device awake without an
      // exchange whose retransmissions would hold the settling up (a lost one changes nothing).
      const heartbeat = uplink(d, 'update', 'NON');
      trace(d, `NON update mid=${heartbeat.mid} location=${d.location}`);
      transmit(d, heartbeat.bytes);
      arm(d, profile.awake / 2);
    }
    return;
  }
  if (d.queueMode && !d.asleep) {
    const awakeUntil = d.lastSent + profile.awake;
    if (performance.now() < awakeUntil) return arm(d, awakeUntil - performance.now());
    d.asleep = true;
    stats.sleeps++;
    return arm(d, between(profile.sleep));
  }
  d.asleep = false;
  const r = random();
  if (r < profile.deregister) begin(d, uplink(d, 'deregister'));
  else if (r < profile.deregister + profile.reregister) begin(d, uplink(d, 'register'));
  else begin(d, uplink(d, 'update'));
}

/** Notifies on one of the device's observations: confirmable when nothing else is in flight. */
function notifyTick(d: Device): void {
  d.notifyTimer = setTimeout(() => notifyTick(d), between(profile.notifyEvery));
  if (settling || d.asleep || d.location === undefined) return;
  for (const [key, o] of d.observations) {
    const con = d.exchange === undefined;
    const mid = nextMid(d);
    const bytes = encodeCoapUdp({
      type: con ? 'CON' : 'NON',
      code: CoapCode.CONTENT,
      messageId: mid,
      token: o.token,
      options: [
        { number: OptionNumber.OBSERVE, value: encodeUint(o.seq++ & 0xffffff) },
        { number: OptionNumber.CONTENT_FORMAT, value: encodeUint(o.format) },
      ],
      payload: temperature(o.format),
    });
    stats.notificationsSent++;
    if (con)
      begin(d, {
        kind: 'notify',
        mid,
        token: o.token,
        bytes,
        observation: key,
        attempts: 1,
        acked: false,
        timer: undefined,
      });
    else transmit(d, bytes);
  }
}

function onDatagram(d: Device, bytes: Buffer): void {
  if (d.asleep) return; // the radio is off
  let m: CoapMessage;
  try {
    m = decodeCoapUdp(bytes);
  } catch {
    return;
  }
  const x = d.exchange;
  if (m.type === 'ACK' || m.type === 'RST') {
    if (!x || m.messageId !== x.mid) return; // late, for an exchange that already ended
    if (m.type === 'RST') return finish(d, x, 'reset');
    if (m.code !== 0) return finish(d, x, m);
    // An empty ACK: the answer comes separately; stop retransmitting and wait for it.
    if (!x.acked) trace(d, `empty ACK mid=${m.messageId} for ${x.kind}`);
    x.acked = true;
    clearTimeout(x.timer);
    if (x.kind === 'notify') return finish(d, x, m);
    x.timer = setTimeout(() => finish(d, x, undefined), SEPARATE_RESPONSE_WAIT);
    return;
  }
  if (m.code === 0) {
    if (m.type === 'CON') transmit(d, encodeCoapUdp(empty('RST', m.messageId))); // CoAP ping
    return;
  }
  if (m.code >= 64) {
    // A separate response (RFC 7252 §5.2.2): acknowledge it, and take it if it is ours.
    if (m.type === 'CON') transmit(d, encodeCoapUdp(empty('ACK', m.messageId)));
    if (x && hex(m.token) === hex(x.token) && x.kind !== 'notify') finish(d, x, m);
    return;
  }
  serveRequest(d, m);
}

function empty(type: 'ACK' | 'RST', messageId: number): CoapMessage {
  return { type, code: 0, messageId, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) };
}

/** A Read, Observe or cancel of /3303/0/5700 from the server; a repeat gets the same answer. */
function serveRequest(d: Device, m: CoapMessage): void {
  const seen = d.recent.find((r) => r.mid === m.messageId);
  if (seen) return transmit(d, seen.reply);
  let format = 0;
  let observe: number | undefined;
  const path: string[] = [];
  for (const o of m.options) {
    if (o.number === OptionNumber.ACCEPT) format = o.value.reduce((n, b) => n * 256 + b, 0);
    if (o.number === OptionNumber.OBSERVE) observe = o.value.reduce((n, b) => n * 256 + b, 0);
    if (o.number === OptionNumber.URI_PATH) path.push(decoder.decode(o.value));
  }
  const options: { number: number; value: Uint8Array }[] = [];
  let code: number = CoapCode.CONTENT;
  let payload: Uint8Array = new Uint8Array(0);
  if (m.code !== CoapCode.GET) code = CoapCode.METHOD_NOT_ALLOWED;
  else if (path.join('/') !== '3303/0/5700') code = CoapCode.NOT_FOUND;
  else {
    payload = temperature(format);
    options.push({ number: OptionNumber.CONTENT_FORMAT, value: encodeUint(format) });
    const key = hex(m.token);
    if (observe === 0) {
      d.observations.set(key, { token: m.token, format, seq: 2 });
      options.unshift({ number: OptionNumber.OBSERVE, value: encodeUint(1) });
      stats.observesAnswered++;
      if (d.notifyTimer === undefined)
        d.notifyTimer = setTimeout(() => notifyTick(d), between(profile.notifyEvery));
    } else {
      if (observe === 1) d.observations.delete(key);
      stats.readsAnswered++;
    }
  }
  const reply = encodeCoapUdp({
    type: m.type === 'CON' ? 'ACK' : 'NON',
    code,
    messageId: m.type === 'CON' ? m.messageId : nextMid(d),
    token: m.token,
    options,
    payload,
  });
  d.recent.push({ mid: m.messageId, reply });
  if (d.recent.length > RECENT_REQUESTS) d.recent.shift();
  transmit(d, reply);
}

async function openSocket(index: number): Promise<Socket> {
  // Spread over 127.0.0.2..127.0.0.251 so the ephemeral ports of 10k devices never run short.
  const address = `127.0.0.${2 + (index % 250)}`;
  const socket = createSocket({ type: 'udp4', recvBufferSize: 1 << 18, sendBufferSize: 1 << 18 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

async function start(command: StartCommand): Promise<void> {
  random = prng(command.seed);
  profile = command.profile;
  server = { ...command.server };
  for (let i = 0; i < command.count; i++) {
    const index = command.first + i;
    const socket = await openSocket(index);
    const d: Device = {
      endpoint: `${command.prefix}${index}`,
      socket,
      queueMode: random() < profile.queueShare,
      location: undefined,
      exchange: undefined,
      timer: undefined,
      notifyTimer: undefined,
      tickDue: false,
      asleep: false,
      lastSent: 0,
      mid: Math.floor(random() * 0xffff),
      tokenSeq: Math.floor(random() * 0xffffff),
      observations: new Map(),
      recent: [],
      trace: [],
    };
    socket.on('message', (bytes) => onDatagram(d, bytes));
    socket.on('error', () => undefined); // ICMP errors and the like: the device retransmits
    devices.push(d);
    arm(d, random() * command.rampMs);
  }
}

function snapshot(): SimulatorStats {
  let registeredNow = 0;
  let asleepNow = 0;
  let inFlightNow = 0;
  for (const d of devices) {
    if (d.location !== undefined) registeredNow++;
    if (d.asleep) asleepNow++;
    if (d.exchange) inFlightNow++;
  }
  return {
    ...stats,
    errorCodes: { ...stats.errorCodes },
    lost: [...lost],
    registeredNow,
    asleepNow,
    inFlightNow,
  };
}

/** Every device registered and awake, with nothing in flight. */
const isSettled = (): boolean =>
  devices.every((d) => d.location !== undefined && !d.asleep && d.exchange === undefined);

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  return done();
}

/**
 * Stops the churn; every device registers and wakes, and what is in flight ends; queue-mode
 * devices send heartbeat Updates from then on.
 */
async function settle(timeoutMs: number): Promise<SimulatorReply> {
  settling = true;
  quiet = false;
  for (const d of devices)
    if (!d.exchange) {
      clearTimeout(d.timer);
      d.timer = undefined;
      if (d.location === undefined || d.asleep || d.queueMode) arm(d, random() * 2000);
    }
  const settled = await until(isSettled, timeoutMs);
  return { settled, registrations: [], stats: snapshot() };
}

/** Stops the heartbeats; replies with the registrations once nothing is in flight. */
async function goQuiet(timeoutMs: number): Promise<SimulatorReply> {
  quiet = true;
  for (const d of devices)
    if (d.location !== undefined) {
      clearTimeout(d.timer);
      d.timer = undefined;
    }
  const settled = await until(isSettled, timeoutMs);
  return {
    settled,
    registrations: devices
      .filter((d) => d.location !== undefined)
      .map((d) => [d.endpoint, d.location!] as const),
    stats: snapshot(),
  };
}

function resume(): void {
  settling = false;
  quiet = false;
  for (const d of devices) if (!d.exchange) afterAction(d, false);
}

function reply(message: SimulatorReply): void {
  process.send!(message);
}

process.on('message', (command: SimulatorCommand) => {
  void (async () => {
    switch (command.cmd) {
      case 'start':
        await start(command);
        reply({ started: true });
        break;
      case 'settle':
        reply(await settle(command.timeoutMs));
        break;
      case 'quiet':
        reply(await goQuiet(command.timeoutMs));
        break;
      case 'resume':
        resume();
        reply({ resumed: true });
        break;
      case 'stats':
        reply({ stats: snapshot() });
        break;
      case 'close':
        for (const d of devices) {
          clearTimeout(d.timer);
          clearTimeout(d.notifyTimer);
          clearTimeout(d.exchange?.timer);
          d.socket.close();
        }
        devices = [];
        reply({ closed: true });
        process.exit(0);
    }
  })().catch((e: unknown) => reply({ error: String(e instanceof Error ? e.stack : e) }));
});
// The runner's IPC channel closing means the runner is gone: do not outlive it.
process.on('disconnect', () => process.exit(0));
reply({ ready: true });
