import type { LwM2mValue } from '../model/data-types.js';
import type { LwM2mRecord } from '../model/records.js';
import { parseBinding } from '../operations/registration-parameters.js';
import type { SecurityResources } from './security-credentials.js';

/**
 * One LwM2M Server account as the registration engine sees it: the /0 Security instance that is
 * not a Bootstrap-Server account, joined to the /1 Server instance with the same Short Server ID
 * (/0/x/10 ↔ /1/x/0). Optional fields are absent when the resource is; the engine applies the
 * spec defaults (see REGISTRATION_DEFAULTS in registration-engine.ts).
 */
export interface ServerAccount {
  /** /1/x/0 (= /0/x/10), 1..65534. */
  readonly shortServerId: number;
  /** /0/x/0 LwM2M Server URI. */
  readonly uri: string;
  /** /0/x/25 Secondary LwM2M Server URIs: the same server over other schemes (1.2). */
  readonly secondaryUris?: readonly string[];
  /** /1/x/22 Preferred Transport: one binding letter (1.1). */
  readonly preferredTransport?: string;
  /** /0/x/26 MQTT Server: the /24 instance with the broker session settings (mqtt://, mqtts://). */
  readonly mqttServer?: number;
  /** /0/x/27 LwM2M COSE Security: the (first) /23 instance whose keys protect MQTT payloads. */
  readonly cose?: number;
  /** /1/x/1 in seconds; 0 = the registration never expires. */
  readonly lifetime: number;
  /** /1/x/7 without a 1.0 `Q` (that goes to queueMode). */
  readonly binding: string;
  readonly queueMode?: boolean;
  /** /1/x/13 Registration Priority Order; absent = the server is registered independently. */
  readonly priorityOrder?: number;
  /** /1/x/14 Initial Registration Delay Timer, s (default 0). */
  readonly initialDelay?: number;
  /** /1/x/15 Registration Failure Block (default false). */
  readonly failureBlock?: boolean;
  /** /1/x/16 Bootstrap on Registration Failure (default true). */
  readonly bootstrapOnFailure?: boolean;
  /** /1/x/17 Communication Retry Count (default 5). */
  readonly retryCount?: number;
  /** /1/x/18 Communication Retry Timer, s (default 60). */
  readonly retryTimer?: number;
  /** /1/x/19 Communication Sequence Delay Timer, s (default 86400). */
  readonly sequenceDelay?: number;
  /** /1/x/20 Communication Sequence Retry Count (default 1). */
  readonly sequenceRetryCount?: number;
  /** /1/x/25 Supported Server Versions (`1.1`, `1.2.1` …). */
  readonly supportedVersions?: readonly string[];
  /** The client's MSISDN or External Identifier for the `sms` parameter (not held in /0 or /1). */
  readonly sms?: string;
  /** /1/x/5 Disable Timeout, s (default 86400). */
  readonly disableTimeout?: number;
  /** /1/x/23 Mute Send. */
  readonly muteSend?: boolean;
  /** /1/x/26 Default Notification Mode: 0 NON, 1 CON. */
  readonly defaultNotificationMode?: 0 | 1;
  /** /1/x/6 Notification Storing When Disabled or Offline (absent: true). */
  readonly notificationStoring?: boolean;
  /** The (D)TLS resources of the /0 instance (/0/x/2-5, 13-16); absent when it has none. */
  readonly security?: SecurityResources;
}

export interface AccountsFromRecordsOptions {
  /** The client's `sms` number, copied into every account. */
  readonly sms?: string;
}

/** Short Server IDs 1..65534 (/1/x/0; 0 and 65535 are reserved). */
const isShortServerId = (n: number | undefined): n is number =>
  n !== undefined && Number.isInteger(n) && n >= 1 && n <= 65534;

function numberOf(v: LwM2mValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  switch (v.type) {
    case 'integer':
    case 'unsigned':
    case 'time':
    case 'float': {
      const n = Number(v.value);
      return Number.isFinite(n) && n >= 0 ? n : undefined;
    }
    case 'string':
      return /^[0-9]{1,15}$/.test(v.value) ? Number(v.value) : undefined;
    default:
      return undefined;
  }
}

function booleanOf(v: LwM2mValue | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'boolean') return v.value;
  const n = numberOf(v);
  return n === 0 ? false : n === 1 ? true : undefined;
}

function stringOf(v: LwM2mValue | undefined): string | undefined {
  return v?.type === 'string' ? v.value : undefined;
}

const utf8 = new TextEncoder();

function bytesOf(v: LwM2mValue | undefined): Uint8Array | undefined {
  if (v?.type === 'opaque') return v.value;
  return v?.type === 'string' ? utf8.encode(v.value) : undefined;
}

/** /0/x/2-5 and 13-16 of a Security instance; a value of the wrong type reads as absent. */
function securityOf(sec: InstanceValues): SecurityResources {
  const res = (rid: number): LwM2mValue | undefined => sec.single.get(rid);
  const mode = numberOf(res(2));
  const numbers = (rid: number): number[] | undefined => {
    const list = (sec.multiple.get(rid) ?? []).map(numberOf).filter((n): n is number => n !== undefined);
    return list.length > 0 ? list : undefined;
  };
  const suites = numbers(16) ?? [];
  const resources: { -readonly [K in keyof SecurityResources]: SecurityResources[K] } = {
    securityMode: mode,
    publicKeyOrIdentity: bytesOf(res(3)),
    serverPublicKey: bytesOf(res(4)),
    secretKey: bytesOf(res(5)),
    matchingType: numberOf(res(13)),
    sni: stringOf(res(14)),
    certificateUsage: numberOf(res(15)),
    cipherSuites: suites.length > 0 ? suites : undefined,
    groups: numbers(18),
    signatureAlgorithms: numbers(20),
    tls13Features: numberOf(res(22)),
    tlsExtensions: numberOf(res(24)),
  };
  return definedOnly(resources);
}

/** The resources of one instance: resource id → single value, and → resource instance values. */
interface InstanceValues {
  readonly single: Map<number, LwM2mValue>;
  readonly multiple: Map<number, LwM2mValue[]>;
}

function instancesOf(records: readonly LwM2mRecord[], objectId: number): Map<number, InstanceValues> {
  const out = new Map<number, InstanceValues>();
  for (const r of records) {
    const [oid, iid, rid, riid] = r.path.ids;
    if (r.path.prefix !== undefined || oid !== objectId || iid === undefined) continue;
    let inst = out.get(iid);
    if (inst === undefined) {
      inst = { single: new Map(), multiple: new Map() };
      out.set(iid, inst);
    }
    if (rid === undefined || r.value === undefined) continue;
    if (riid === undefined) {
      if (!inst.single.has(rid)) inst.single.set(rid, r.value);
    } else {
      const list = inst.multiple.get(rid) ?? [];
      list.push(r.value);
      inst.multiple.set(rid, list);
    }
  }
  return out;
}

/**
 * The LwM2M Server accounts of a client's tree (records of /0 and /1, as the object tree flattens
 * them). Choices: Bootstrap-Server accounts (/0/x/1 = true) are skipped, as are /0 instances with
 * no URI, an invalid SSID or no matching /1 instance; a second /1 instance with an SSID already
 * seen is ignored. Missing mandatory /1 resources take the 1.0 defaults (lifetime 86400, binding
 * `U`); a binding that does not parse skips the account (it cannot be registered). A 1.0 `Q` in
 * /1/x/7 (`UQ`) sets queueMode. Sorted by Short Server ID.
 */
export function accountsFromRecords(
  records: readonly LwM2mRecord[],
  options: AccountsFromRecordsOptions = {},
): ServerAccount[] {
  const servers = new Map<number, InstanceValues>();
  for (const inst of instancesOf(records, 1).values()) {
    const ssid = numberOf(inst.single.get(0));
    if (isShortServerId(ssid) && !servers.has(ssid)) servers.set(ssid, inst);
  }
  const accounts = new Map<number, ServerAccount>();
  for (const sec of instancesOf(records, 0).values()) {
    if (booleanOf(sec.single.get(1)) === true) continue;
    const uri = stringOf(sec.single.get(0));
    const ssid = numberOf(sec.single.get(10));
    if (uri === undefined || uri === '' || !isShortServerId(ssid) || accounts.has(ssid)) continue;
    const server = servers.get(ssid);
    if (server === undefined) continue;
    const account = accountOf(ssid, uri, server, options);
    if (account === undefined) continue;
    const security = securityOf(sec);
    const secondaryUris = (sec.multiple.get(25) ?? (sec.single.get(25) ? [sec.single.get(25)!] : []))
      .map(stringOf)
      .filter((v): v is string => v !== undefined && v !== '');
    const mqtt = sec.single.get(26);
    const mqttServer =
      mqtt?.type === 'objlnk' && mqtt.value.objectId === 24 ? mqtt.value.instanceId : undefined;
    // /0/x/27 is multiple: the first link to a /23 instance.
    const coseLink = (sec.multiple.get(27) ?? []).find((v) => v.type === 'objlnk' && v.value.objectId === 23);
    const cose = coseLink?.type === 'objlnk' ? coseLink.value.instanceId : undefined;
    accounts.set(ssid, {
      ...account,
      ...(secondaryUris.length > 0 ? { secondaryUris } : {}),
      ...(mqttServer === undefined ? {} : { mqttServer }),
      ...(cose === undefined ? {} : { cose }),
      ...(Object.keys(security).length === 0 ? {} : { security }),
    });
  }
  return [...accounts.values()].sort((a, b) => a.shortServerId - b.shortServerId);
}

function accountOf(
  ssid: number,
  uri: string,
  server: InstanceValues,
  options: AccountsFromRecordsOptions,
): ServerAccount | undefined {
  const res = (rid: number): LwM2mValue | undefined => server.single.get(rid);
  let binding = 'U';
  let queueMode: boolean | undefined;
  const bindingText = stringOf(res(7));
  if (bindingText !== undefined) {
    try {
      const parsed = parseBinding(bindingText);
      binding = parsed.binding;
      if (parsed.queueMode) queueMode = true;
    } catch {
      return undefined;
    }
  }
  const versions = (server.multiple.get(25) ?? (res(25) ? [res(25)!] : []))
    .map(stringOf)
    .filter((v): v is string => v !== undefined);
  const mode = numberOf(res(26));
  const optional: Omit<ServerAccount, 'shortServerId' | 'uri' | 'lifetime' | 'binding'> = {
    queueMode,
    priorityOrder: numberOf(res(13)),
    initialDelay: numberOf(res(14)),
    failureBlock: booleanOf(res(15)),
    bootstrapOnFailure: booleanOf(res(16)),
    retryCount: numberOf(res(17)),
    retryTimer: numberOf(res(18)),
    sequenceDelay: numberOf(res(19)),
    sequenceRetryCount: numberOf(res(20)),
    supportedVersions: versions.length > 0 ? versions : undefined,
    sms: options.sms,
    disableTimeout: numberOf(res(5)),
    muteSend: booleanOf(res(23)),
    defaultNotificationMode: mode === 0 ? 0 : mode === 1 ? 1 : undefined,
    notificationStoring: booleanOf(res(6)),
    preferredTransport: stringOf(res(22)) || undefined,
  };
  return {
    shortServerId: ssid,
    uri,
    lifetime: numberOf(res(1)) ?? 86400,
    binding,
    ...definedOnly(optional),
  };
}

/** The fields of `o` that are not undefined, so an absent resource leaves its field absent. */
function definedOnly<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The Bootstrap-Server account (/0 instance with /0/x/1 true) as the bootstrap engine uses it. */
export interface BootstrapAccount {
  readonly instanceId: number;
  /** /0/x/0 Bootstrap-Server URI. */
  readonly uri: string;
  /** /0/x/11 Client Hold Off Time, s (0 when absent). */
  readonly holdOffTime: number;
  /** /0/x/12 Bootstrap-Server Account Timeout, s (0 when absent: kept for ever). */
  readonly accountTimeout: number;
  readonly security?: SecurityResources;
}

/** The first /0 instance that is a Bootstrap-Server account with a URI, if any. */
export function bootstrapAccountFromRecords(records: readonly LwM2mRecord[]): BootstrapAccount | undefined {
  for (const [iid, sec] of instancesOf(records, 0)) {
    if (booleanOf(sec.single.get(1)) !== true) continue;
    const uri = stringOf(sec.single.get(0));
    if (uri === undefined || uri === '') continue;
    const security = securityOf(sec);
    return {
      instanceId: iid,
      uri,
      holdOffTime: numberOf(sec.single.get(11)) ?? 0,
      accountTimeout: numberOf(sec.single.get(12)) ?? 0,
      ...(Object.keys(security).length === 0 ? {} : { security }),
    };
  }
  return undefined;
}
