import { createConnectivityMonitoringInstance, createLocationInstance } from '../client/core-instances.js';
import type { DeviceInstanceOptions } from '../client/core-instances.js';
import { MemoryInstance } from '../client/instance.js';
import { LwM2mClient } from '../client/lwm2m-client.js';
import type { LwM2mClientOptions, ServerSecurityConfig } from '../client/lwm2m-client.js';
import { systemClock } from '../clock.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { ResourceType } from '../model/data-types.js';
import { objectUrn, parseRangeEnumeration } from '../model/ddf-loader.js';
import type { ObjectDefinition, Operations, ResourceDefinition } from '../model/object-definition.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import type { ObjectRegistry } from '../model/object-registry.js';
import type { LwM2mVersion } from '../operations/version.js';
import { cryptoRandom } from '../random.js';
import type { RandomSource } from '../random.js';
import type { Channel } from '../transport/channel.js';
import type { KeyObject } from 'node:crypto';
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  FirmwareUpdateOptions,
  InstallOutcome,
  UpdateDecision,
} from '../client/firmware/firmware-update-instance.js';
import { packageVerifier } from '../firmware/package-verifier.js';
import type { SoftwareManagementOptions } from '../client/software/software-management-instance.js';

/** IPSO Temperature (OMA registry, object 3303). */
export const TEMPERATURE_OBJECT_ID = 3303;

/** Resource ids of 3303 used here (OMA registry). */
export const Temperature = {
  minMeasuredValue: 5601,
  maxMeasuredValue: 5602,
  minRangeValue: 5603,
  maxRangeValue: 5604,
  resetMinMax: 5605,
  sensorValue: 5700,
  sensorUnits: 5701,
  applicationType: 5750,
  timestamp: 5518,
} as const;

type Row = readonly [
  id: number,
  name: string,
  operations: Operations,
  mandatory: boolean,
  type: ResourceType,
  range?: string,
  units?: string,
];

/** 3303 version 1.1 as the OMA registry defines it: all resources single-instance. */
const TEMPERATURE_ROWS: readonly Row[] = [
  [5700, 'Sensor Value', 'R', true, 'float'],
  [5601, 'Min Measured Value', 'R', false, 'float'],
  [5602, 'Max Measured Value', 'R', false, 'float'],
  [5603, 'Min Range Value', 'R', false, 'float'],
  [5604, 'Max Range Value', 'R', false, 'float'],
  [5701, 'Sensor Units', 'R', false, 'string'],
  [5605, 'Reset Min and Max Measured Values', 'E', false, 'none'],
  [5750, 'Application Type', 'RW', false, 'string'],
  [5518, 'Timestamp', 'R', false, 'time'],
  [6050, 'Fractional Timestamp', 'R', false, 'float', '0..1', 's'],
  [6042, 'Measurement Quality Indicator', 'R', false, 'integer', '0..23'],
  [6049, 'Measurement Quality Level', 'R', false, 'integer', '0..100'],
];

function resourceOf([id, name, operations, mandatory, type, rangeText, units]: Row): ResourceDefinition {
  const range = rangeText === undefined ? undefined : parseRangeEnumeration(rangeText, type);
  return Object.freeze({
    id,
    name,
    operations,
    multiple: false,
    mandatory,
    type,
    ...(rangeText === undefined ? {} : { rangeText }),
    ...(range === undefined ? {} : { range }),
    ...(units === undefined ? {} : { units }),
  });
}

/** The 3303 Temperature definition (not among the built-in core objects). */
export const TEMPERATURE_DEFINITION: ObjectDefinition = Object.freeze({
  id: TEMPERATURE_OBJECT_ID,
  name: 'Temperature',
  version: '1.1',
  lwm2mVersion: '1.0',
  urn: objectUrn(TEMPERATURE_OBJECT_ID, '1.1'),
  multiple: true,
  mandatory: false,
  resources: new Map(TEMPERATURE_ROWS.map((row) => [row[0], resourceOf(row)])),
});

/** The built-in core objects plus 3303: what the simulated device (and a server talking to it) uses. */
export function createSimulatorModel(): ObjectRegistry {
  return createDefaultRegistry().add(TEMPERATURE_DEFINITION);
}

export interface SimulatedDeviceOptions {
  /** Seconds between measurements; default 10. */
  readonly interval?: number;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** Wall-clock ms, for Time resources; default Date.now. */
  readonly now?: () => number;
  /** /3/0/2; default `PS-` and 8 random hex digits. */
  readonly serialNumber?: string;
  /** /4/0/4; default 127.0.0.1. */
  readonly ipAddress?: string;
  /** Start of the temperature walk, °C; default 21.5. */
  readonly temperature?: number;
  /** Where the walk stays, °C; default 10..35 (inside the sensor's -40..85 range). */
  readonly temperatureBounds?: readonly [min: number, max: number];
  readonly latitude?: number;
  readonly longitude?: number;
  /** /3/0/9 at start, %; default 87. */
  readonly batteryLevel?: number;
  /** The object model; default a new createSimulatorModel(). A fleet shares one. */
  readonly model?: ObjectRegistry;
  /** /3/0/3 at start; default 1.0.0. */
  readonly firmwareVersion?: string;
}

/** Largest temperature step per measurement, °C. */
const TEMPERATURE_STEP = 0.4;
/** Largest position step per measurement, degrees (about 2 m). */
const POSITION_STEP = 0.00002;
const METRES_PER_DEGREE = 111_320;

const round = (n: number, digits: number): number => Number(n.toFixed(digits));

/** Keeps a random walk inside [min, max] by reflecting at the bounds. */
export function reflect(value: number, min: number, max: number): number {
  if (max <= min) return min;
  let v = value;
  for (let i = 0; i < 4 && (v < min || v > max); i++) v = v < min ? 2 * min - v : 2 * max - v;
  return Math.min(max, Math.max(min, v));
}

/**
 * The device behind `petrel client`: /3 Device values, /4 Connectivity Monitoring, /6 Location
 * drifting slowly, and a 3303 Temperature sensor whose Sensor Value moves as a bounded random walk
 * each `interval`, with Min/Max Measured Value tracked and Reset Min and Max executable. The /3/0
 * instance itself is built by the client from `device`; `start` takes it to keep it current.
 */
export class SimulatedDevice {
  readonly model: ObjectRegistry;
  readonly device: DeviceInstanceOptions;
  readonly connectivity: MemoryInstance;
  readonly location: MemoryInstance;
  readonly temperature: MemoryInstance;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #bounds: readonly [number, number];
  #deviceInstance: MemoryInstance | undefined;
  #timer: TimerHandle | undefined;
  #charging = false;

  constructor(options: SimulatedDeviceOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#now = options.now ?? Date.now;
    this.#intervalMs = (options.interval ?? 10) * 1000;
    this.#bounds = options.temperatureBounds ?? [10, 35];
    this.model = options.model ?? createSimulatorModel();
    const serial =
      options.serialNumber ??
      `PS-${Array.from(this.#random.bytes(4), (b) => b.toString(16).padStart(2, '0')).join('')}`;
    this.device = {
      manufacturer: 'Petrel',
      modelNumber: 'Petrel simulated sensor T1',
      serialNumber: serial,
      firmwareVersion: options.firmwareVersion ?? '1.0.0',
      supportedBindings: 'UTMQ',
      now: () => this.#unixNow(),
      values: {
        6: [1, 5], // internal battery, USB
        7: [3700, 5000], // mV
        8: [120, 0], // mA
        9: options.batteryLevel ?? 87,
        10: 512, // KiB
        14: '+00:00',
        15: 'Etc/UTC',
        17: 'temperature sensor',
        18: '1.0',
        19: '1.0.0',
        20: 0, // normal
        21: 1024,
      },
    };
    this.connectivity = createConnectivityMonitoringInstance({
      networkBearer: 6, // LTE-FDD
      availableNetworkBearers: [6, 7], // LTE-FDD, NB-IoT
      radioSignalStrength: -85,
      ipAddresses: [options.ipAddress ?? '127.0.0.1'],
      values: { 3: 42, 7: ['internet'], 8: 0x1a2b3c, 9: 1, 10: 1 },
    });
    this.location = createLocationInstance({
      latitude: options.latitude ?? 47.3769,
      longitude: options.longitude ?? 8.5417,
      altitude: 408,
      radius: 10,
      speed: 0,
      timestamp: this.#unixNow(),
    });
    const start = options.temperature ?? 21.5;
    this.temperature = new MemoryInstance(TEMPERATURE_DEFINITION, TEMPERATURE_OBJECT_ID, 0)
      .set(Temperature.sensorValue, start)
      .set(Temperature.minMeasuredValue, start)
      .set(Temperature.maxMeasuredValue, start)
      .set(Temperature.minRangeValue, -40)
      .set(Temperature.maxRangeValue, 85)
      .set(Temperature.sensorUnits, 'Cel')
      .set(Temperature.applicationType, 'room temperature')
      .set(Temperature.timestamp, this.#unixNow())
      .onExecute(Temperature.resetMinMax, () => this.resetMinMax());
    // Any new Sensor Value (a measurement or `set`) moves Min/Max Measured Value along.
    this.temperature.onChange((paths) => {
      if (paths.some((p) => p.resourceId === Temperature.sensorValue)) this.#trackMinMax();
    });
  }

  /** The instances to give the client besides /3/0. */
  get instances(): MemoryInstance[] {
    return [this.connectivity, this.location, this.temperature];
  }

  /**
   * Starts measuring every interval; `device` is the client's /3/0, kept current too. The first
   * measurement comes after `firstDelayMs` (default one interval): a fleet staggers its devices.
   */
  start(device?: MemoryInstance, firstDelayMs: number = this.#intervalMs): void {
    this.#deviceInstance = device;
    this.stop();
    this.#schedule(firstDelayMs);
  }

  /** start() with the client's own /3/0 instance. */
  startWith(client: LwM2mClient, firstDelayMs?: number): void {
    const own = client.tree.instance(3, 0);
    this.start(own instanceof MemoryInstance ? own : undefined, firstDelayMs);
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One measurement: temperature, position, radio, battery and clock move on. */
  tick(): void {
    const now = this.#unixNow();
    const current = this.#number(this.temperature, Temperature.sensorValue) ?? 21.5;
    const step = (this.#random.next() * 2 - 1) * TEMPERATURE_STEP;
    this.temperature
      .set(Temperature.sensorValue, round(reflect(current + step, ...this.#bounds), 2))
      .set(Temperature.timestamp, now);
    this.#drift(now);
    const rssi = this.#number(this.connectivity, 2) ?? -85;
    this.connectivity.set(2, Math.round(reflect(rssi + this.#random.int(5) - 2, -110, -60)));
    const device = this.#deviceInstance;
    if (device) {
      this.#battery(device);
      device.set(13, now);
    }
  }

  /** 5605: Min and Max Measured Value become the current value (IPSO). */
  resetMinMax(): void {
    const value = this.#number(this.temperature, Temperature.sensorValue);
    if (value === undefined) return;
    this.temperature.set(Temperature.minMeasuredValue, value).set(Temperature.maxMeasuredValue, value);
  }

  #schedule(delayMs: number = this.#intervalMs): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.tick();
      this.#schedule();
    }, delayMs);
  }

  #trackMinMax(): void {
    const value = this.#number(this.temperature, Temperature.sensorValue);
    if (value === undefined) return;
    const min = this.#number(this.temperature, Temperature.minMeasuredValue);
    const max = this.#number(this.temperature, Temperature.maxMeasuredValue);
    if (min === undefined || value < min) this.temperature.set(Temperature.minMeasuredValue, value);
    if (max === undefined || value > max) this.temperature.set(Temperature.maxMeasuredValue, value);
  }

  /** Location moves a few metres per measurement; Speed follows from the distance. */
  #drift(now: number): void {
    const lat = this.#number(this.location, 0) ?? 0;
    const lon = this.#number(this.location, 1) ?? 0;
    const dLat = (this.#random.next() * 2 - 1) * POSITION_STEP;
    const dLon = (this.#random.next() * 2 - 1) * POSITION_STEP;
    const nextLat = reflect(lat + dLat, -90, 90);
    const nextLon = reflect(lon + dLon, -180, 180);
    const metres = Math.hypot(
      dLat * METRES_PER_DEGREE,
      dLon * METRES_PER_DEGREE * Math.cos((nextLat * Math.PI) / 180),
    );
    this.location
      .set(0, round(nextLat, 6))
      .set(1, round(nextLon, 6))
      .set(6, round(metres / (this.#intervalMs / 1000), 2))
      .set(5, now);
  }

  /** Drains slowly; at 10 % it charges back to 100 (Battery Status 1 charging, 0 normal, 4 low). */
  #battery(device: MemoryInstance): void {
    let level = this.#number(device, 9) ?? 100;
    if (this.#charging) level = Math.min(100, level + 5);
    else if (this.#random.next() < 0.2) level = Math.max(0, level - 1);
    if (level <= 10) this.#charging = true;
    if (level >= 100) this.#charging = false;
    device.set(9, level).set(20, this.#charging ? 1 : level <= 20 ? 4 : 0);
    device.set(8, [this.#charging ? 0 : 120, this.#charging ? 450 : 0]);
  }

  #number(instance: MemoryInstance, rid: number): number | undefined {
    const v = instance.get(rid)?.value;
    return typeof v === 'number' ? v : undefined;
  }

  #unixNow(): number {
    return Math.floor(this.#now() / 1000);
  }
}

/** The one server account of a simulated device. */
export const SIMULATED_SSID = 1;

/** The socket family the server's address needs (`coap://[::1]` needs udp6). */
export function bindAddressFor(uri: string): string {
  try {
    return new URL(uri).hostname.startsWith('[') ? '::' : '0.0.0.0';
  } catch {
    return '0.0.0.0';
  }
}

export interface SimulatedClientOptions {
  /** ep=. */
  readonly endpoint: string;
  /** coap://host:port: the one server account the device starts with (none: it bootstraps). */
  readonly server?: string;
  /** The device's socket (the caller owns and closes it). */
  readonly channel: Channel;
  /** Seconds; default the client's (86400 s, /1 default). */
  readonly lifetime?: number;
  readonly lwm2mVersion?: LwM2mVersion;
  readonly queueMode?: boolean;
  readonly profileId?: string;
  /** Spreads the lifetime Updates of many clients (registration engine). */
  readonly random?: RandomSource;
  /** The account's /0 security resources (required for coaps://). */
  readonly security?: ServerSecurityConfig;
  /** MQTT binding settings (mqtt://, mqtts://): the topic prefix. */
  readonly mqtt?: LwM2mClientOptions['mqtt'];
  /** The DTLS sessions' sockets and wrapper (coaps://). */
  readonly secure?: Pick<LwM2mClientOptions, 'secureTransport' | 'wrapSecureChannel'>;
  /** Bootstrap: the BS account, Pack-first, policy; a factory document, a smartcard, a saved state. */
  readonly provisioning?: Pick<LwM2mClientOptions, 'bootstrap' | 'factoryConfig' | 'smartcard' | 'state'>;
  /** Firmware Update (/5) and its diagnostics (/33000), e.g. SimulatedFirmware.options(). */
  readonly firmware?: FirmwareUpdateOptions;
  /** Software Management (/9), e.g. from `petrel client --software-dir`. */
  readonly software?: SoftwareManagementOptions;
}

/**
 * The LwM2M client of a simulated device: one server account (SSID 1) when `server` is given,
 * /3/0 from `device.device`, and the device's other instances. Throws LwM2mClientError('bad-uri')
 * for a server it cannot use.
 */
export function createSimulatedClient(device: SimulatedDevice, options: SimulatedClientOptions): LwM2mClient {
  return new LwM2mClient({
    endpoint: options.endpoint,
    servers:
      options.server === undefined
        ? []
        : [
            {
              uri: options.server,
              shortServerId: SIMULATED_SSID,
              ...(options.lifetime === undefined ? {} : { lifetime: options.lifetime }),
              queueMode: options.queueMode === true,
              ...(options.security === undefined ? {} : { security: options.security }),
            },
          ],
    ...options.secure,
    ...options.provisioning,
    ...(options.mqtt === undefined ? {} : { mqtt: options.mqtt }),
    model: device.model,
    device: device.device,
    instances: device.instances,
    channel: options.channel,
    ...(options.lwm2mVersion === undefined ? {} : { version: options.lwm2mVersion }),
    ...(options.profileId === undefined ? {} : { profileId: options.profileId }),
    ...(options.random === undefined ? {} : { random: options.random }),
    ...(options.firmware === undefined ? {} : { firmware: options.firmware }),
    ...(options.software === undefined ? {} : { software: options.software }),
  });
}

export interface SimulatedFirmwareOptions {
  /** The image, the /5 state, and `installed-version` (the version "installed" last). */
  readonly directory: string;
  /** Release keys: with any, only packages signed by one of them are taken (requireSignature). */
  readonly trustAnchors?: readonly KeyObject[];
  /** The device class and vendor a package must name. */
  readonly deviceClass?: string;
  readonly vendor?: string;
  /** How long "installing" takes, seconds (default 5). */
  readonly installSeconds?: number;
  /** Defer the first update decision of each image by this many seconds (default 0: accept). */
  readonly deferSeconds?: number;
  readonly clock?: Clock;
}

const INSTALLED_VERSION = 'installed-version';

/**
 * The firmware of a simulated device, which cannot flash itself: after a verified download,
 * "installing" waits `installSeconds`, then records the package's version in
 * `<directory>/installed-version`, and the client shows it in /3/0/3 (read back at the next start).
 */
export class SimulatedFirmware {
  readonly #o: SimulatedFirmwareOptions;
  readonly #clock: Clock;
  #version: string;

  private constructor(options: SimulatedFirmwareOptions, version: string) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#version = version;
  }

  /** Reads the version recorded by an earlier install (else `fallback`). */
  static async open(options: SimulatedFirmwareOptions, fallback = '1.0.0'): Promise<SimulatedFirmware> {
    let version = fallback;
    try {
      const text = (await readFile(join(options.directory, INSTALLED_VERSION), 'utf8')).trim();
      if (text !== '' && text.length <= 255) version = text;
    } catch {
      // none recorded yet
    }
    return new SimulatedFirmware(options, version);
  }

  /** The version running now (/3/0/3). */
  get version(): string {
    return this.#version;
  }

  /** LwM2mClientOptions.firmware for this device. */
  options(): FirmwareUpdateOptions {
    const o = this.#o;
    const anchors = o.trustAnchors ?? [];
    return {
      directory: o.directory,
      // Packages are always read (their manifest names the version); with trust anchors only
      // signed ones are taken. Without, plain images and unsigned packages are.
      verifier: packageVerifier({
        trustAnchors: anchors,
        requireSignature: anchors.length > 0,
        currentVersion: () => this.#version,
        ...(o.deviceClass === undefined ? {} : { deviceClass: o.deviceClass }),
        ...(o.vendor === undefined ? {} : { vendor: o.vendor }),
      }),
      application: {
        decide: (info): UpdateDecision =>
          (o.deferSeconds ?? 0) > 0 && info.deferrals === 0 && info.deferAllowed > 0
            ? { action: 'defer', seconds: o.deferSeconds! }
            : { action: 'accept' },
        install: (_image, { facts }) => this.#install(facts.version),
        // A restart while "installing": done if the version was recorded.
        interruptedInstall: ({ facts }) =>
          facts.version !== undefined && facts.version === this.#version ? { ok: true } : undefined,
      },
    };
  }

  async #install(version: string | undefined): Promise<InstallOutcome> {
    const ms = Math.max(0, (this.#o.installSeconds ?? 5) * 1000);
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, ms));
    if (version === undefined) return { ok: true };
    try {
      await mkdir(this.#o.directory, { recursive: true });
      const path = join(this.#o.directory, INSTALLED_VERSION);
      await writeFile(`${path}.tmp`, `${version}\n`);
      await rename(`${path}.tmp`, path);
    } catch (e) {
      return { ok: false, updateResult: 8, reason: `cannot record the version: ${String(e)}` };
    }
    this.#version = version;
    return { ok: true, version };
  }
}
