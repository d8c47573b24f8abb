import { isIP } from 'node:net';
import { MemoryInstance } from '../client/instance.js';
import { LwM2mClient } from '../client/lwm2m-client.js';
import { systemClock } from '../clock.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { CodecRegistry } from '../content/codec-registry.js';
import { TimerQueue } from '../timer-queue.js';
import type { QueuedTimer } from '../timer-queue.js';
import type { LwM2mVersion } from '../operations/version.js';
import type { RandomSource } from '../random.js';
import type { Channel } from '../transport/channel.js';
import { PetrelError } from '../errors.js';
import {
  SIMULATED_SSID,
  TEMPERATURE_DEFINITION,
  TEMPERATURE_OBJECT_ID,
  Temperature,
  bindAddressFor,
  reflect,
} from './simulated-device.js';
import type { SimulatedDevice } from './simulated-device.js';

/**
 * The objects a fleet device has besides /0, /1 and /3 (always there): /4 Connectivity
 * Monitoring, /6 Location, and `temperatures` 3303 sensors (instances 0..n-1), whose Sensor Value
 * moves every measurement interval, so a server observing it gets notifications.
 */
export interface FleetObjectSet {
  readonly connectivity: boolean;
  readonly location: boolean;
  readonly temperatures: number;
}

export const DEFAULT_OBJECT_SET: FleetObjectSet = Object.freeze({
  connectivity: true,
  location: true,
  temperatures: 1,
});
export const MAX_TEMPERATURES = 16;
/** Addresses in one --addresses range at most. */
export const MAX_ADDRESSES = 4096;

export class FleetDeviceError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_FLEET_BAD_OPTION', message);
  }
}

/**
 * `--objects`: object ids separated by commas, from 3, 4, 6 and 3303; `3303*N` gives N
 * temperature sensors (1..16). `3` alone is the Device object only.
 */
export function parseObjectSet(text: string): FleetObjectSet {
  let connectivity = false;
  let location = false;
  let temperatures = 0;
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const m = /^(\d{1,5})(?:\*(\d{1,3}))?$/.exec(item);
    if (m === null) throw new FleetDeviceError(`objects: "${item}" is not an object id (e.g. 4,6,3303*2)`);
    const id = Number(m[1]);
    const times = m[2] === undefined ? 1 : Number(m[2]);
    if (id === TEMPERATURE_OBJECT_ID) {
      if (!(times >= 1 && times <= MAX_TEMPERATURES))
        throw new FleetDeviceError(`objects: 3303*N takes N from 1 to ${MAX_TEMPERATURES}`);
      temperatures = times;
      continue;
    }
    if (m[2] !== undefined) throw new FleetDeviceError(`objects: only 3303 takes *N (got "${item}")`);
    if (id === 4) connectivity = true;
    else if (id === 6) location = true;
    else if (id !== 3) throw new FleetDeviceError(`objects: ${id} is not simulated (3, 4, 6 and 3303 are)`);
  }
  return { connectivity, location, temperatures };
}

export function formatObjectSet(set: FleetObjectSet): string {
  const ids = ['3'];
  if (set.connectivity) ids.push('4');
  if (set.location) ids.push('6');
  if (set.temperatures > 0) ids.push(set.temperatures === 1 ? '3303' : `3303*${set.temperatures}`);
  return ids.join(',');
}

const ipv4ToNumber = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const numberToIpv4 = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** `--addresses 127.0.0.1-127.0.0.254`: an IPv4 range, first to last, at most 4096 addresses. */
export function parseAddressRange(text: string): string[] {
  const parts = text.split('-').map((s) => s.trim());
  const first = parts[0] ?? '';
  const last = parts[1] ?? first;
  if (parts.length > 2 || isIP(first) !== 4 || isIP(last) !== 4)
    throw new FleetDeviceError(
      `addresses: expected an IPv4 range such as 127.0.0.1-127.0.0.254, got "${text}"`,
    );
  const from = ipv4ToNumber(first);
  const to = ipv4ToNumber(last);
  if (to < from) throw new FleetDeviceError(`addresses: ${last} comes before ${first}`);
  if (to - from + 1 > MAX_ADDRESSES)
    throw new FleetDeviceError(`addresses: at most ${MAX_ADDRESSES} addresses, got ${to - from + 1}`);
  return Array.from({ length: to - from + 1 }, (_, i) => numberToIpv4(from + i));
}

/**
 * Where devices bind when the user did not say: a server on IPv4 loopback on Linux gets devices
 * spread over 127.0.0.1..127.0.0.254 (Linux answers for all of 127/8), so each has its own
 * address and port as a real fleet would; otherwise the wildcard of the server's family.
 */
export function defaultAddresses(server: string, platform: string = process.platform): string[] {
  let host = '';
  try {
    host = new URL(server).hostname;
  } catch {
    // checked elsewhere
  }
  if (platform === 'linux' && isIP(host) === 4 && host.startsWith('127.'))
    return parseAddressRange('127.0.0.1-127.0.0.254');
  return [bindAddressFor(server)];
}

/**
 * What the devices of one fleet process share instead of each holding its own: one timer queue
 * (so thousands of devices' measurement, lifetime, retransmission and pmin/pmax timers run on one
 * host timer instead of a Node timer each) and one content codec registry.
 */
export interface FleetShared {
  readonly clock: Clock;
  readonly timers: TimerQueue;
  readonly codecs?: CodecRegistry;
}

/**
 * A Clock whose timers are tasks of `queue` (one host timer for all), reading time as `base` does.
 * Its handles are the queue's tasks: only this clock's clearTimeout takes them.
 */
export function queueClock(queue: TimerQueue, base: Clock = systemClock): Clock {
  return {
    now: () => base.now(),
    setTimeout: (fn, ms) => queue.schedule(fn, ms) as unknown as TimerHandle,
    clearTimeout: (handle) => queue.cancel(handle as unknown as QueuedTimer),
  };
}

/** A FleetShared on `base` (the system clock by default). */
export function createFleetShared(base: Clock = systemClock, codecs?: CodecRegistry): FleetShared {
  const timers = new TimerQueue(base);
  return { clock: queueClock(timers, base), timers, ...(codecs ? { codecs } : {}) };
}

export interface FleetClientOptions {
  readonly endpoint: string;
  readonly server: string;
  readonly channel: Channel;
  readonly lifetime: number;
  readonly lwm2mVersion: LwM2mVersion;
  readonly queueMode: boolean;
  readonly objects: FleetObjectSet;
  readonly random: RandomSource;
  /** Timers and codecs shared with the fleet's other devices; default the client's own. */
  readonly shared?: FleetShared;
}

/** The client of a fleet device: the simulation's instances that the object set names. */
export function createFleetClient(
  simulation: SimulatedDevice,
  extra: FleetSensors | undefined,
  o: FleetClientOptions,
): LwM2mClient {
  const instances: MemoryInstance[] = [];
  if (o.objects.connectivity) instances.push(simulation.connectivity);
  if (o.objects.location) instances.push(simulation.location);
  if (o.objects.temperatures > 0) instances.push(simulation.temperature);
  if (extra) instances.push(...extra.instances);
  return new LwM2mClient({
    endpoint: o.endpoint,
    servers: [{ uri: o.server, shortServerId: SIMULATED_SSID, lifetime: o.lifetime, queueMode: o.queueMode }],
    model: simulation.model,
    device: simulation.device,
    instances,
    channel: o.channel,
    version: o.lwm2mVersion,
    random: o.random,
    ...(o.shared ? { clock: o.shared.clock, timers: o.shared.timers } : {}),
    ...(o.shared?.codecs ? { codecs: o.shared.codecs } : {}),
  });
}

/** Temperature sensors 1..n-1 (0 is the simulation's), walking like it on their own timer. */
export class FleetSensors {
  readonly instances: MemoryInstance[];
  readonly #random: RandomSource;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;

  constructor(count: number, random: RandomSource, clock: Clock = systemClock) {
    this.#random = random;
    this.#clock = clock;
    this.instances = Array.from({ length: count }, (_, i) => {
      const start = Math.round((15 + random.next() * 10) * 10) / 10;
      return new MemoryInstance(TEMPERATURE_DEFINITION, TEMPERATURE_OBJECT_ID, i + 1)
        .set(Temperature.sensorValue, start)
        .set(Temperature.minRangeValue, -40)
        .set(Temperature.maxRangeValue, 85)
        .set(Temperature.sensorUnits, 'Cel');
    });
  }

  start(intervalMs: number, firstDelayMs: number): void {
    this.stop();
    const tick = (): void => {
      for (const t of this.instances) {
        const v = t.get(Temperature.sensorValue)?.value;
        const now = typeof v === 'number' ? v : 20;
        const next = reflect(now + (this.#random.next() * 2 - 1) * 0.4, 10, 35);
        t.set(Temperature.sensorValue, Math.round(next * 100) / 100);
      }
      this.#timer = this.#clock.setTimeout(tick, intervalMs);
    };
    this.#timer = this.#clock.setTimeout(tick, firstDelayMs);
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
