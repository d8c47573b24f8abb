import { CORE_OBJECTS, CORE_OBJECT_VERSIONS } from '../model/core-objects.js';
import type { ObjectDefinition } from '../model/object-definition.js';
import type { ExecuteHandler, ResourceInput } from './instance.js';
import { MemoryInstance } from './instance.js';

/** The built-in definition of a core object, at the version a 1.2 client implies unless told. */
export function coreDefinition(objectId: number, version?: string): ObjectDefinition | undefined {
  const wanted = version ?? CORE_OBJECT_VERSIONS.get(objectId);
  return coreDefinitions().get(`${objectId}@${wanted}`);
}

let byIdAndVersion: ReadonlyMap<string, ObjectDefinition> | undefined;

/** CORE_OBJECTS by `id@version` (built once: every client builds its core instances from them). */
function coreDefinitions(): ReadonlyMap<string, ObjectDefinition> {
  if (byIdAndVersion === undefined) {
    const map = new Map<string, ObjectDefinition>();
    for (const d of CORE_OBJECTS) if (!map.has(`${d.id}@${d.version}`)) map.set(`${d.id}@${d.version}`, d);
    byIdAndVersion = map;
  }
  return byIdAndVersion;
}

/** What every factory takes besides its object's own settings. */
export interface CoreInstanceOptions {
  /** Default 0. */
  readonly instanceId?: number;
  /** Another definition (e.g. an older object version); default: the built-in 1.2-era one. */
  readonly definition?: ObjectDefinition;
  /** More resources, or overrides of the defaults, by resource id. */
  readonly values?: Readonly<Record<number, ResourceInput>>;
}

/** Seconds since the Unix epoch, for Time resources. */
const unixNow = (): number => Math.floor(Date.now() / 1000);

function build(
  objectId: number,
  options: CoreInstanceOptions,
  defaults: Readonly<Record<number, ResourceInput | undefined>>,
): MemoryInstance {
  const instance = new MemoryInstance(
    options.definition ?? coreDefinition(objectId),
    objectId,
    options.instanceId ?? 0,
  );
  // The defaults, each unless `values` names its resource, then `values` (what { ...defaults,
  // ...values } gives, without building that object: every fleet device builds these).
  const values = options.values;
  for (const key in defaults) {
    const value = defaults[key];
    if (value !== undefined && (values === undefined || !(key in values))) instance.set(Number(key), value);
  }
  if (values !== undefined)
    for (const key in values) {
      const value = values[key];
      if (value !== undefined) instance.set(Number(key), value);
    }
  return instance;
}

// ---- /0 LwM2M Security ----

export interface SecurityInstanceOptions extends CoreInstanceOptions {
  /** /0/x/0, e.g. `coap://localhost:5683`. */
  readonly serverUri: string;
  /** /0/x/1; default false. */
  readonly bootstrapServer?: boolean;
  /** /0/x/2: 0 PSK, 1 RPK, 2 certificate, 3 NoSec (default), 4 certificate with EST. */
  readonly securityMode?: number;
  readonly publicKeyOrIdentity?: Uint8Array;
  readonly serverPublicKey?: Uint8Array;
  readonly secretKey?: Uint8Array;
  /** /0/x/10; the spec requires it when the account is not a Bootstrap-Server's. */
  readonly shortServerId?: number;
  /** /0/x/11, seconds. */
  readonly clientHoldOffTime?: number;
  /** /0/x/13 Matching Type: 0 exact, 1 SHA-256, 2 SHA-384, 3 SHA-512. */
  readonly matchingType?: number;
  /** /0/x/14 Server Name Indication. */
  readonly sni?: string;
  /** /0/x/15 Certificate Usage (RFC 6698), 0..3. */
  readonly certificateUsage?: number;
  /** /0/x/16 DTLS/TLS Ciphersuite: the suites to propose (e.g. 49320 = 0xC0A8). */
  readonly cipherSuites?: readonly number[];
}

/** A /0 instance (bootstrap-only: DM operations never reach it). Keys default to empty. */
export function createSecurityInstance(options: SecurityInstanceOptions): MemoryInstance {
  return build(0, options, {
    0: options.serverUri,
    1: options.bootstrapServer ?? false,
    2: options.securityMode ?? 3,
    3: options.publicKeyOrIdentity ?? new Uint8Array(),
    4: options.serverPublicKey ?? new Uint8Array(),
    5: options.secretKey ?? new Uint8Array(),
    10: options.shortServerId,
    11: options.clientHoldOffTime,
    13: options.matchingType,
    14: options.sni,
    15: options.certificateUsage,
    16: options.cipherSuites,
  });
}

// ---- /1 LwM2M Server ----

export interface ServerInstanceOptions extends CoreInstanceOptions {
  /** /1/x/0, 1..65534. */
  readonly shortServerId: number;
  /** /1/x/1 seconds; default 86400. */
  readonly lifetime?: number;
  readonly defaultMinPeriod?: number;
  readonly defaultMaxPeriod?: number;
  /** /1/x/5 seconds; default 86400 (the spec's default). */
  readonly disableTimeout?: number;
  /** /1/x/6; default true. */
  readonly notificationStoring?: boolean;
  /** /1/x/7; default `U`. */
  readonly binding?: string;
  /** /1/x/4 Disable. */
  readonly onDisable?: ExecuteHandler;
  /** /1/x/8 Registration Update Trigger (arguments: the 1.2 binding argument). */
  readonly onRegistrationUpdateTrigger?: ExecuteHandler;
  /** /1/x/9 Bootstrap-Request Trigger. */
  readonly onBootstrapRequestTrigger?: ExecuteHandler;
}

/**
 * A /1 instance. Disable (4), Registration Update Trigger (8) and Bootstrap-Request Trigger (9) are
 * executable; without handlers they succeed and do nothing until the registration engine attaches
 * its own (`onExecute`).
 */
export function createServerInstance(options: ServerInstanceOptions): MemoryInstance {
  const instance = build(1, options, {
    0: options.shortServerId,
    1: options.lifetime ?? 86400,
    2: options.defaultMinPeriod,
    3: options.defaultMaxPeriod,
    5: options.disableTimeout ?? 86400,
    6: options.notificationStoring ?? true,
    7: options.binding ?? 'U',
  });
  return instance
    .onExecute(4, options.onDisable)
    .onExecute(8, options.onRegistrationUpdateTrigger)
    .onExecute(9, options.onBootstrapRequestTrigger);
}

// ---- /2 Access Control ----

export interface AccessControlInstanceOptions extends CoreInstanceOptions {
  /** /2/x/0: the object the instance governs. */
  readonly objectId: number;
  /** /2/x/1: the instance it governs; 65535 = the object-level instance (Create rights). */
  readonly objectInstanceId: number;
  /** /2/x/2: rights by Short Server ID (0 = default entry); bits R=1 W=2 E=4 D=8 C=16. */
  readonly acl?: ReadonlyMap<number, number>;
  /** /2/x/3: the owner's Short Server ID; 65535 = managed by the Bootstrap-Server. */
  readonly owner: number;
}

export function createAccessControlInstance(options: AccessControlInstanceOptions): MemoryInstance {
  return build(2, options, {
    0: options.objectId,
    1: options.objectInstanceId,
    2: options.acl ?? new Map<number, number>(),
    3: options.owner,
  });
}

// ---- /3 Device ----

export interface DeviceInstanceOptions extends CoreInstanceOptions {
  readonly manufacturer?: string;
  readonly modelNumber?: string;
  readonly serialNumber?: string;
  readonly firmwareVersion?: string;
  /** /3/0/16; default `U`. */
  readonly supportedBindings?: string;
  /** /3/0/11; default [0] (no error). */
  readonly errorCodes?: readonly number[];
  /** /3/0/13 Current Time source, Unix seconds; default the system clock. */
  readonly now?: () => number;
  readonly onReboot?: ExecuteHandler;
  /** Declares /3/0/5 Factory Reset. */
  readonly onFactoryReset?: ExecuteHandler;
}

/**
 * The /3/0 Device instance of a simulated device. Reboot (4) is executable (a no-op unless
 * `onReboot`); Reset Error Code (12) resets /3/0/11 to [0]; Factory Reset (5) exists when a
 * handler is given. Current Time (13) is set once from `now`; update it with `set`.
 */
export function createDeviceInstance(options: DeviceInstanceOptions = {}): MemoryInstance {
  const instance = build(
    3,
    { ...options, instanceId: 0 },
    {
      0: options.manufacturer ?? 'Petrel',
      1: options.modelNumber ?? 'Petrel simulated device',
      2: options.serialNumber ?? '0001',
      3: options.firmwareVersion ?? '1.0.0',
      11: options.errorCodes ?? [0],
      13: (options.now ?? unixNow)(),
      16: options.supportedBindings ?? 'U',
    },
  );
  instance.onExecute(4, options.onReboot).onExecute(12, (_args, self) => {
    self.set(11, [0]);
  });
  if (options.onFactoryReset) instance.onExecute(5, options.onFactoryReset);
  return instance;
}

// ---- /4 Connectivity Monitoring ----

export interface ConnectivityMonitoringOptions extends CoreInstanceOptions {
  /** /4/0/0: 41 Ethernet (default), 21 WLAN, 6 LTE-FDD, … (Core Tbl: Network Bearer). */
  readonly networkBearer?: number;
  readonly availableNetworkBearers?: readonly number[];
  /** /4/0/2 dBm; default 0 (mandatory even on a wired bearer). */
  readonly radioSignalStrength?: number;
  readonly ipAddresses?: readonly string[];
  readonly routerIpAddresses?: readonly string[];
}

export function createConnectivityMonitoringInstance(
  options: ConnectivityMonitoringOptions = {},
): MemoryInstance {
  const bearer = options.networkBearer ?? 41;
  return build(
    4,
    { ...options, instanceId: 0 },
    {
      0: bearer,
      1: options.availableNetworkBearers ?? [bearer],
      2: options.radioSignalStrength ?? 0,
      4: options.ipAddresses ?? ['127.0.0.1'],
      5: options.routerIpAddresses,
    },
  );
}

// ---- /6 Location ----

export interface LocationOptions extends CoreInstanceOptions {
  readonly latitude?: number;
  readonly longitude?: number;
  readonly altitude?: number;
  readonly radius?: number;
  readonly speed?: number;
  /** /6/0/5, Unix seconds; default now. */
  readonly timestamp?: number;
}

export function createLocationInstance(options: LocationOptions = {}): MemoryInstance {
  return build(
    6,
    { ...options, instanceId: 0 },
    {
      0: options.latitude ?? 0,
      1: options.longitude ?? 0,
      2: options.altitude,
      3: options.radius,
      5: options.timestamp ?? unixNow(),
      6: options.speed,
    },
  );
}

// ---- /7 Connectivity Statistics ----

/** The counters Start resets: SMS Tx/Rx, Tx/Rx Data, Max and Average Message Size. */
const STATISTICS_COUNTERS = [0, 1, 2, 3, 4, 5] as const;

export interface ConnectivityStatisticsOptions extends CoreInstanceOptions {
  /** /7/0/8 seconds; default 0 (collect until Stop). */
  readonly collectionPeriod?: number;
  readonly onStart?: ExecuteHandler;
  readonly onStop?: ExecuteHandler;
}

/**
 * /7/0 with its counters at 0. Start (6) resets the counters and then calls `onStart`; Stop (7)
 * calls `onStop`. Counting itself is the application's (`set`).
 */
export function createConnectivityStatisticsInstance(
  options: ConnectivityStatisticsOptions = {},
): MemoryInstance {
  const counters = Object.fromEntries(STATISTICS_COUNTERS.map((rid) => [rid, 0]));
  const instance = build(
    7,
    { ...options, instanceId: 0 },
    {
      ...counters,
      8: options.collectionPeriod ?? 0,
    },
  );
  return instance
    .onExecute(6, async (args, self) => {
      for (const rid of STATISTICS_COUNTERS) self.set(rid, 0);
      return options.onStart?.(args, self);
    })
    .onExecute(7, options.onStop);
}
