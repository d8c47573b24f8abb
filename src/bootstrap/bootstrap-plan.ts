import type { ContentFormatId } from '../content/content-format.js';
import { Value } from '../model/data-types.js';
import type { LwM2mValue } from '../model/data-types.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { DiscoverEntry } from '../model/registration-payload.js';
import type { BootstrapWriteRequest } from '../operations/requests.js';
import type {
  BootstrapAccountConfig,
  BootstrapConfiguration,
  SecurityConfig,
  ServerAccountConfig,
} from './bootstrap-config.js';

/**
 * The pure part of a bootstrap session: what the device has (from its Bootstrap-Discover), which
 * instance ids the configuration's accounts get, and the records of each /0 and /1 instance for
 * the device's enabler version.
 */

const SECURITY = 0;
const SERVER = 1;

/** /0 Security resources (registry 0.xml, object 1.2). */
export const SecurityResource = {
  SERVER_URI: 0,
  BOOTSTRAP_SERVER: 1,
  SECURITY_MODE: 2,
  PUBLIC_KEY_OR_IDENTITY: 3,
  SERVER_PUBLIC_KEY: 4,
  SECRET_KEY: 5,
  SHORT_SERVER_ID: 10,
  CLIENT_HOLD_OFF_TIME: 11,
  BOOTSTRAP_SERVER_ACCOUNT_TIMEOUT: 12,
  CERTIFICATE_USAGE: 15,
} as const;

/** /1 Server resources (registry 1.xml, object 1.2). */
export const ServerResource = {
  SHORT_SERVER_ID: 0,
  LIFETIME: 1,
  DEFAULT_MIN_PERIOD: 2,
  DEFAULT_MAX_PERIOD: 3,
  NOTIFICATION_STORING: 6,
  BINDING: 7,
  SUPPORTED_SERVER_VERSIONS: 25,
} as const;

/** /0/x/2 Security Mode values (Core Appendix E.1). */
export const SECURITY_MODE_VALUES: Readonly<Record<SecurityConfig['mode'], number>> = {
  psk: 0,
  rpk: 1,
  x509: 2,
  nosec: 3,
};

/**
 * The object version a resource first appeared in (LWM2M-1.2.md §4.1/§4.2): /0 13-17 and /1 9-23
 * came with 1.1, /0 18-30 and /1 24-27 with 1.2; the rest were in 1.0.
 */
export function resourceSince(objectId: number, resourceId: number): '1.0' | '1.1' | '1.2' {
  if (objectId === SECURITY) return resourceId >= 18 ? '1.2' : resourceId >= 13 ? '1.1' : '1.0';
  if (objectId === SERVER) return resourceId >= 24 ? '1.2' : resourceId >= 9 ? '1.1' : '1.0';
  return '1.0';
}

/** Compares `a.b` versions numerically (a missing or malformed part counts as 0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// ---- what the device has ----

/** The device's state as its Bootstrap-Discover `/` answer describes it (Core §6.1.7.5). */
export interface DeviceInventory {
  /** `lwm2m=` of the root link; `'1.0'` when absent (the 1.0 form may have no root link). */
  readonly lwm2mVersion: string;
  /** `ver=` of object links. */
  readonly objectVersions: ReadonlyMap<number, string>;
  /** /0 instances without `ssid` (Core: only the Bootstrap-Server account has none). */
  readonly bootstrapAccounts: readonly number[];
  /** /0 instances with `ssid`, by Short Server ID. */
  readonly securityBySsid: ReadonlyMap<number, number>;
  /** /1 instances, by Short Server ID (undefined key when a client left `ssid` out). */
  readonly serverBySsid: ReadonlyMap<number, number>;
  readonly securityInstances: readonly number[];
  readonly serverInstances: readonly number[];
}

export function inventoryFromDiscover(entries: readonly DiscoverEntry[]): DeviceInventory {
  let version = '1.0';
  const objectVersions = new Map<number, string>();
  const bootstrapAccounts: number[] = [];
  const securityBySsid = new Map<number, number>();
  const serverBySsid = new Map<number, number>();
  const securityInstances: number[] = [];
  const serverInstances: number[] = [];
  for (const e of entries) {
    const p = e.path;
    if (p.isRoot()) {
      if (e.lwm2m !== undefined) version = e.lwm2m;
      continue;
    }
    if (p.isObject() && e.version !== undefined) objectVersions.set(p.objectId!, e.version);
    if (!p.isObjectInstance()) continue;
    const iid = p.instanceId!;
    if (p.objectId === SECURITY) {
      securityInstances.push(iid);
      if (e.ssid === undefined) bootstrapAccounts.push(iid);
      else securityBySsid.set(e.ssid, iid);
    } else if (p.objectId === SERVER) {
      serverInstances.push(iid);
      if (e.ssid !== undefined) serverBySsid.set(e.ssid, iid);
    }
  }
  return {
    lwm2mVersion: version,
    objectVersions,
    bootstrapAccounts,
    securityBySsid,
    serverBySsid,
    securityInstances,
    serverInstances,
  };
}

/** What the device has before anything is known: nothing (a Pack, or a device that never said). */
export function emptyInventory(
  lwm2mVersion: string,
  bootstrapAccounts: readonly number[] = [],
): DeviceInventory {
  return {
    lwm2mVersion,
    objectVersions: new Map(),
    bootstrapAccounts,
    securityBySsid: new Map(),
    serverBySsid: new Map(),
    securityInstances: [...bootstrapAccounts],
    serverInstances: [],
  };
}

// ---- instance ids ----

/** Instance ids of the configuration's accounts on the device. */
export interface InstanceLayout {
  /** /0 instance per Short Server ID. */
  readonly security: ReadonlyMap<number, number>;
  /** /1 instance per Short Server ID. */
  readonly server: ReadonlyMap<number, number>;
  /** /0 instance of the Bootstrap-Server account, when the configuration rewrites it. */
  readonly bootstrapAccount: number | undefined;
}

/**
 * Picks instance ids. An account keeps the ids the device already uses for its Short Server ID
 * (so without deleteFirst a Write replaces it in place); new accounts take the lowest ids free,
 * never the Bootstrap-Server account's. With deleteFirst only that account survives, so only its
 * id is taken.
 */
export function layoutInstances(config: BootstrapConfiguration, inventory: DeviceInventory): InstanceLayout {
  const keep = !config.deleteFirst;
  const usedSecurity = new Set<number>(keep ? inventory.securityInstances : inventory.bootstrapAccounts);
  const usedServer = new Set<number>(keep ? inventory.serverInstances : []);
  const free = (used: Set<number>): number => {
    let id = 0;
    while (used.has(id)) id++;
    used.add(id);
    return id;
  };
  const security = new Map<number, number>();
  const server = new Map<number, number>();
  for (const s of config.servers) {
    const sec = keep ? inventory.securityBySsid.get(s.shortServerId) : undefined;
    security.set(s.shortServerId, sec ?? free(usedSecurity));
    const srv = keep ? inventory.serverBySsid.get(s.shortServerId) : undefined;
    server.set(s.shortServerId, srv ?? free(usedServer));
  }
  const bootstrapAccount =
    config.bootstrapServer === undefined ? undefined : (inventory.bootstrapAccounts[0] ?? free(usedSecurity));
  return { security, server, bootstrapAccount };
}

// ---- records ----

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** /0/x/3, /0/x/4, /0/x/5 per mode (Core Appendix E.1). Empty opaques where a mode has none. */
function keyResources(security: SecurityConfig): [Uint8Array, Uint8Array, Uint8Array] {
  switch (security.mode) {
    case 'nosec':
      return [EMPTY, EMPTY, EMPTY];
    case 'psk':
      return [utf8.encode(security.identity), EMPTY, fromHex(security.key)];
    case 'rpk':
      return [fromHex(security.publicKey), fromHex(security.serverPublicKey), fromHex(security.privateKey)];
    case 'x509':
      return [
        fromHex(security.certificate),
        fromHex(security.serverCertificate),
        fromHex(security.privateKey),
      ];
  }
}

/** Resource records of one instance, leaving out resources the device's object version lacks. */
function instanceRecords(
  objectId: number,
  instanceId: number,
  values: readonly (readonly [number, LwM2mValue | readonly LwM2mValue[] | undefined])[],
  objectVersion: string,
): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  for (const [rid, value] of values) {
    if (value === undefined) continue;
    if (compareVersions(resourceSince(objectId, rid), objectVersion) > 0) continue;
    const path = LwM2mPath.of(objectId, instanceId, rid);
    if (Array.isArray(value))
      value.forEach((v: LwM2mValue, i) => out.push({ path: path.append(i), value: v }));
    else out.push({ path, value: value as LwM2mValue });
  }
  return out;
}

function securityValues(
  uri: string,
  bootstrap: boolean,
  security: SecurityConfig,
  extra: readonly (readonly [number, LwM2mValue | undefined])[],
): (readonly [number, LwM2mValue | undefined])[] {
  const [identity, serverKey, secret] = keyResources(security);
  return [
    [SecurityResource.SERVER_URI, Value.string(uri)],
    [SecurityResource.BOOTSTRAP_SERVER, Value.boolean(bootstrap)],
    [SecurityResource.SECURITY_MODE, Value.integer(SECURITY_MODE_VALUES[security.mode])],
    [SecurityResource.PUBLIC_KEY_OR_IDENTITY, Value.opaque(identity)],
    [SecurityResource.SERVER_PUBLIC_KEY, Value.opaque(serverKey)],
    [SecurityResource.SECRET_KEY, Value.opaque(secret)],
    ...extra,
    [
      SecurityResource.CERTIFICATE_USAGE,
      security.mode === 'x509' && security.certificateUsage !== undefined
        ? Value.unsigned(security.certificateUsage)
        : undefined,
    ],
  ];
}

/** The /0 instance of a LwM2M Server account. */
export function serverSecurityRecords(
  account: ServerAccountConfig,
  instanceId: number,
  objectVersion: string,
): LwM2mRecord[] {
  return instanceRecords(
    SECURITY,
    instanceId,
    securityValues(account.uri, false, account.security, [
      [SecurityResource.SHORT_SERVER_ID, Value.integer(account.shortServerId)],
    ]),
    objectVersion,
  );
}

/** The /0 instance of the Bootstrap-Server account (no Short Server ID: Core Appendix E.1). */
export function bootstrapSecurityRecords(
  account: BootstrapAccountConfig,
  instanceId: number,
  objectVersion: string,
): LwM2mRecord[] {
  const opt = (n: number | undefined): LwM2mValue | undefined =>
    n === undefined ? undefined : Value.integer(n);
  return instanceRecords(
    SECURITY,
    instanceId,
    securityValues(account.uri, true, account.security, [
      [SecurityResource.CLIENT_HOLD_OFF_TIME, opt(account.clientHoldOffTime)],
      [SecurityResource.BOOTSTRAP_SERVER_ACCOUNT_TIMEOUT, opt(account.accountTimeout)],
    ]),
    objectVersion,
  );
}

/** Default /1/x/1 Lifetime when the configuration has none (Core Appendix E.2 suggests 86400). */
export const DEFAULT_LIFETIME = 86400;

/** The /1 instance of a LwM2M Server account. */
export function serverRecords(
  account: ServerAccountConfig,
  instanceId: number,
  objectVersion: string,
): LwM2mRecord[] {
  const opt = (n: number | undefined): LwM2mValue | undefined =>
    n === undefined ? undefined : Value.integer(n);
  return instanceRecords(
    SERVER,
    instanceId,
    [
      [ServerResource.SHORT_SERVER_ID, Value.integer(account.shortServerId)],
      [ServerResource.LIFETIME, Value.integer(account.lifetime ?? DEFAULT_LIFETIME)],
      [ServerResource.DEFAULT_MIN_PERIOD, opt(account.defaultMinPeriod)],
      [ServerResource.DEFAULT_MAX_PERIOD, opt(account.defaultMaxPeriod)],
      [ServerResource.NOTIFICATION_STORING, Value.boolean(account.notificationStoring ?? true)],
      [ServerResource.BINDING, Value.string(account.binding ?? 'U')],
      [
        ServerResource.SUPPORTED_SERVER_VERSIONS,
        account.supportedServerVersions?.map((v) => Value.string(v)),
      ],
    ],
    objectVersion,
  );
}

/** Object version of /0 or /1 on the device: its `ver=`, else the one its enabler bundles. */
export function objectVersionOf(inventory: DeviceInventory, objectId: number): string {
  const announced = inventory.objectVersions.get(objectId);
  if (announced !== undefined) return announced;
  const enabler = inventory.lwm2mVersion;
  // Core objects /0 and /1 carry the enabler's own minor version (1.0, 1.1, 1.2).
  return compareVersions(enabler, '1.2') >= 0 ? '1.2' : compareVersions(enabler, '1.1') >= 0 ? '1.1' : '1.0';
}

/**
 * The Bootstrap-Writes of a configuration, one per instance: each server's /0 then /1 instance in
 * configuration order, then the Bootstrap-Server account (last, so a failure before it leaves the
 * old BS credentials in place: Core §6.1.7.6).
 */
export function bootstrapWriteRequests(
  config: BootstrapConfiguration,
  inventory: DeviceInventory,
  layout: InstanceLayout,
  format?: ContentFormatId,
): BootstrapWriteRequest[] {
  const v0 = objectVersionOf(inventory, SECURITY);
  const v1 = objectVersionOf(inventory, SERVER);
  const out: BootstrapWriteRequest[] = [];
  const write = (objectId: number, instanceId: number, records: readonly LwM2mRecord[]): void => {
    out.push({
      kind: 'bootstrap-write',
      path: LwM2mPath.of(objectId, instanceId),
      records,
      ...(format === undefined ? {} : { format }),
    });
  };
  for (const s of config.servers) {
    const sec = layout.security.get(s.shortServerId)!;
    const srv = layout.server.get(s.shortServerId)!;
    write(SECURITY, sec, serverSecurityRecords(s, sec, v0));
    write(SERVER, srv, serverRecords(s, srv, v1));
  }
  if (config.bootstrapServer !== undefined && layout.bootstrapAccount !== undefined)
    write(
      SECURITY,
      layout.bootstrapAccount,
      bootstrapSecurityRecords(config.bootstrapServer, layout.bootstrapAccount, v0),
    );
  return out;
}

/**
 * The records of a Bootstrap-Pack (Core §6.1.7.7): every server's /0 and /1 instance for a 1.2
 * device. The Bootstrap-Server account is left out: without a Bootstrap-Finish there is no point at
 * which the device confirms the new BS account is complete, so credential rotation goes through
 * the Bootstrap-Request flow.
 */
export function bootstrapPackRecords(config: BootstrapConfiguration, layout: InstanceLayout): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  for (const s of config.servers)
    out.push(...serverSecurityRecords(s, layout.security.get(s.shortServerId)!, '1.2'));
  for (const s of config.servers) out.push(...serverRecords(s, layout.server.get(s.shortServerId)!, '1.2'));
  return out;
}
