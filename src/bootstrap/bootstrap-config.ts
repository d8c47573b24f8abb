import { PetrelError } from '../errors.js';

/**
 * The configuration a Bootstrap-Server writes to one device (Core §6.1): the LwM2M Server
 * accounts (a /0 Security and a /1 Server instance each) and, optionally, new credentials for the
 * Bootstrap-Server account itself (BS-001: credential rotation). Stored per endpoint as a JSON
 * document by a BootstrapConfigStore; parseBootstrapConfig validates one.
 */

/** How the device secures its link to a server (/0/x/2 Security Mode and keys /0/x/3..5). */
export type SecurityConfig =
  | { readonly mode: 'nosec' }
  /** `identity` is UTF-8 text, `key` hex. */
  | { readonly mode: 'psk'; readonly identity: string; readonly key: string }
  /** Hex DER: the device's SubjectPublicKeyInfo and PKCS#8 key, the server's SubjectPublicKeyInfo. */
  | {
      readonly mode: 'rpk';
      readonly publicKey: string;
      readonly privateKey: string;
      readonly serverPublicKey: string;
    }
  /** Hex DER certificates and PKCS#8 key; `certificateUsage` is /0/x/15 (RFC 6698 0..3, LwM2M 1.1+). */
  | {
      readonly mode: 'x509';
      readonly certificate: string;
      readonly privateKey: string;
      readonly serverCertificate: string;
      readonly certificateUsage?: number;
    };

export type SecurityModeName = SecurityConfig['mode'];

/** One LwM2M Server account. */
export interface ServerAccountConfig {
  /** /0/x/10 and /1/x/0, 1..65534. */
  readonly shortServerId: number;
  /** /0/x/0 LwM2M Server URI. */
  readonly uri: string;
  /** /1/x/1 in seconds (default 86400). */
  readonly lifetime?: number;
  /** /1/x/7 binding letters (default `U`). */
  readonly binding?: string;
  /** /1/x/2 and /1/x/3 in seconds. */
  readonly defaultMinPeriod?: number;
  readonly defaultMaxPeriod?: number;
  /** /1/x/6 (default true). */
  readonly notificationStoring?: boolean;
  /** /1/x/25 Supported Server Versions (LwM2M 1.2 clients only), e.g. `['1.1', '1.2']`. */
  readonly supportedServerVersions?: readonly string[];
  readonly security: SecurityConfig;
}

/** New settings of the Bootstrap-Server account (/0 instance with /0/x/1 = true). */
export interface BootstrapAccountConfig {
  readonly uri: string;
  readonly security: SecurityConfig;
  /** /0/x/11 Client Hold Off Time, seconds. */
  readonly clientHoldOffTime?: number;
  /** /0/x/12 Bootstrap-Server Account Timeout, seconds (0 = never purged). */
  readonly accountTimeout?: number;
}

export interface BootstrapConfiguration {
  readonly servers: readonly ServerAccountConfig[];
  readonly bootstrapServer?: BootstrapAccountConfig;
  /** Delete the device's /0 and /1 instances (but its Bootstrap-Server account) before writing. */
  readonly deleteFirst: boolean;
}

/** Most server accounts one configuration may hold (keeps a bad document from costing much). */
export const MAX_SERVER_ACCOUNTS = 32;
/** Most bytes of one key or certificate (hex is twice that). */
const MAX_KEY_BYTES = 8192;

export type BootstrapConfigErrorReason =
  'missing' | 'wrong-type' | 'out-of-range' | 'invalid' | 'unknown-field';

/** A configuration document that cannot be used; `field` names where, e.g. `servers[0].uri`. */
export class BootstrapConfigError extends PetrelError {
  readonly reason: BootstrapConfigErrorReason;
  readonly field: string;
  constructor(reason: BootstrapConfigErrorReason, field: string, message: string) {
    super(`PETREL_ERR_BOOTSTRAP_CONFIG_${reason.toUpperCase().replace('-', '_')}`, `${field}: ${message}`);
    this.reason = reason;
    this.field = field;
  }
}

// ---- field readers ----

type Doc = Readonly<Record<string, unknown>>;

function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: unknown, field: string): Doc {
  if (!isDoc(v)) throw new BootstrapConfigError('wrong-type', field, 'must be an object');
  return v;
}

function onlyFields(doc: Doc, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(doc))
    if (!allowed.includes(key))
      throw new BootstrapConfigError(
        'unknown-field',
        field === '' ? key : `${field}.${key}`,
        `is not a field (expected one of ${allowed.join(', ')})`,
      );
}

function at(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}

function required(doc: Doc, field: string, key: string): unknown {
  const v = doc[key];
  if (v === undefined) throw new BootstrapConfigError('missing', at(field, key), 'is required');
  return v;
}

function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new BootstrapConfigError('wrong-type', field, 'must be an integer');
  if (v < min || v > max)
    throw new BootstrapConfigError('out-of-range', field, `must be between ${min} and ${max}`);
  return v;
}

function optionalInteger(doc: Doc, field: string, key: string, min: number, max: number): number | undefined {
  const v = doc[key];
  return v === undefined ? undefined : integer(v, at(field, key), min, max);
}

function text(v: unknown, field: string, maxLength: number): string {
  if (typeof v !== 'string') throw new BootstrapConfigError('wrong-type', field, 'must be a string');
  if (v.length === 0) throw new BootstrapConfigError('invalid', field, 'must not be empty');
  if (v.length > maxLength)
    throw new BootstrapConfigError('out-of-range', field, `is longer than ${maxLength} characters`);
  return v;
}

function hex(v: unknown, field: string): string {
  const s = text(v, field, MAX_KEY_BYTES * 2);
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s))
    throw new BootstrapConfigError('invalid', field, 'must be hex with an even number of digits');
  return s.toLowerCase();
}

const UINT32_MAX = 0xffff_ffff;

// ---- URIs and bindings ----

/** Schemes of a LwM2M Server URI (Transport TS: CoAP over UDP/DTLS, TCP/TLS) and whether secure. */
/** Server URI schemes and whether they need credentials (mqtts:// may go with nosec: TLS to the broker). */
const URI_SCHEMES: Readonly<Record<string, boolean | 'either'>> = {
  coap: false,
  coaps: true,
  'coap+tcp': false,
  'coaps+tcp': true,
  mqtt: false,
  mqtts: 'either',
};

function serverUri(v: unknown, field: string, mode: SecurityModeName): string {
  // /0/x/0 is a String of at most 255 bytes (Core Appendix E.1).
  const uri = text(v, field, 255);
  const m = /^([a-z][a-z0-9+.-]*):\/\/[^\s/?#]+(?:[/?#]\S*)?$/i.exec(uri);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === undefined || !(scheme in URI_SCHEMES))
    throw new BootstrapConfigError(
      'invalid',
      field,
      `must be a coap://, coaps://, coap+tcp://, coaps+tcp://, mqtt:// or mqtts:// URI, not ${JSON.stringify(uri.slice(0, 64))}`,
    );
  const secure = URI_SCHEMES[scheme] === true;
  if (URI_SCHEMES[scheme] !== 'either' && secure !== (mode !== 'nosec'))
    throw new BootstrapConfigError(
      'invalid',
      field,
      secure
        ? `a ${scheme}:// server needs credentials, but the security mode is nosec`
        : `security mode ${mode} needs a secure scheme (coaps://), not ${scheme}://`,
    );
  return uri;
}

/** Binding letters of /1/x/7 (Core §6.2.1.2: U, M, H, T, S, N; Q is the 1.0 queue flag). */
function bindingLetters(v: unknown, field: string): string {
  const s = text(v, field, 8);
  if (!/^[UMHTSNQ]+$/.test(s) || new Set(s).size !== s.length)
    throw new BootstrapConfigError('invalid', field, 'must be distinct letters of U, M, H, T, S, N, Q');
  return s;
}

// ---- security ----

function security(v: unknown, field: string): SecurityConfig {
  const doc = object(v, field);
  const mode = required(doc, field, 'mode');
  switch (mode) {
    case 'nosec':
      onlyFields(doc, field, ['mode']);
      return { mode };
    case 'psk': {
      onlyFields(doc, field, ['mode', 'identity', 'key']);
      const identity = text(required(doc, field, 'identity'), at(field, 'identity'), 128);
      // RFC 4279 §5.3: identities up to 128 bytes (UTF-8).
      if (Buffer.byteLength(identity, 'utf8') > 128)
        throw new BootstrapConfigError('out-of-range', at(field, 'identity'), 'is longer than 128 bytes');
      const key = hex(required(doc, field, 'key'), at(field, 'key'));
      if (key.length > 128)
        throw new BootstrapConfigError('out-of-range', at(field, 'key'), 'is longer than 64 bytes');
      return { mode, identity, key };
    }
    case 'rpk':
      onlyFields(doc, field, ['mode', 'publicKey', 'privateKey', 'serverPublicKey']);
      return {
        mode,
        publicKey: hex(required(doc, field, 'publicKey'), at(field, 'publicKey')),
        privateKey: hex(required(doc, field, 'privateKey'), at(field, 'privateKey')),
        serverPublicKey: hex(required(doc, field, 'serverPublicKey'), at(field, 'serverPublicKey')),
      };
    case 'x509': {
      onlyFields(doc, field, ['mode', 'certificate', 'privateKey', 'serverCertificate', 'certificateUsage']);
      const usage = optionalInteger(doc, field, 'certificateUsage', 0, 3);
      return {
        mode,
        certificate: hex(required(doc, field, 'certificate'), at(field, 'certificate')),
        privateKey: hex(required(doc, field, 'privateKey'), at(field, 'privateKey')),
        serverCertificate: hex(required(doc, field, 'serverCertificate'), at(field, 'serverCertificate')),
        ...(usage === undefined ? {} : { certificateUsage: usage }),
      };
    }
    default:
      throw new BootstrapConfigError('invalid', at(field, 'mode'), 'must be one of nosec, psk, rpk, x509');
  }
}

// ---- accounts ----

const VERSION_RE = /^[0-9]{1,4}\.[0-9]{1,4}(?:\.[0-9]{1,4})?$/;

function serverAccount(v: unknown, field: string): ServerAccountConfig {
  const doc = object(v, field);
  onlyFields(doc, field, [
    'shortServerId',
    'uri',
    'lifetime',
    'binding',
    'defaultMinPeriod',
    'defaultMaxPeriod',
    'notificationStoring',
    'supportedServerVersions',
    'security',
  ]);
  const sec = security(required(doc, field, 'security'), at(field, 'security'));
  const shortServerId = integer(required(doc, field, 'shortServerId'), at(field, 'shortServerId'), 1, 65534);
  const uri = serverUri(required(doc, field, 'uri'), at(field, 'uri'), sec.mode);
  const lifetime = optionalInteger(doc, field, 'lifetime', 0, UINT32_MAX);
  const pmin = optionalInteger(doc, field, 'defaultMinPeriod', 0, UINT32_MAX);
  const pmax = optionalInteger(doc, field, 'defaultMaxPeriod', 0, UINT32_MAX);
  if (pmin !== undefined && pmax !== undefined && pmax !== 0 && pmax < pmin)
    throw new BootstrapConfigError(
      'invalid',
      at(field, 'defaultMaxPeriod'),
      'must not be below defaultMinPeriod',
    );
  const binding =
    doc['binding'] === undefined ? undefined : bindingLetters(doc['binding'], at(field, 'binding'));
  const storing = doc['notificationStoring'];
  if (storing !== undefined && typeof storing !== 'boolean')
    throw new BootstrapConfigError('wrong-type', at(field, 'notificationStoring'), 'must be true or false');
  let versions: string[] | undefined;
  const rawVersions = doc['supportedServerVersions'];
  if (rawVersions !== undefined) {
    const f = at(field, 'supportedServerVersions');
    if (!Array.isArray(rawVersions))
      throw new BootstrapConfigError('wrong-type', f, 'must be a list of strings');
    if (rawVersions.length > 16)
      throw new BootstrapConfigError('out-of-range', f, 'has more than 16 entries');
    versions = rawVersions.map((x, i) => {
      const s = text(x, `${f}[${i}]`, 14);
      // /1/x/25: 1*DIGIT "." 1*DIGIT ["." 1*DIGIT] (Core Appendix E.2).
      if (!VERSION_RE.test(s))
        throw new BootstrapConfigError('invalid', `${f}[${i}]`, 'must look like 1.2 or 1.2.1');
      return s;
    });
  }
  return {
    shortServerId,
    uri,
    ...(lifetime === undefined ? {} : { lifetime }),
    ...(binding === undefined ? {} : { binding }),
    ...(pmin === undefined ? {} : { defaultMinPeriod: pmin }),
    ...(pmax === undefined ? {} : { defaultMaxPeriod: pmax }),
    ...(storing === undefined ? {} : { notificationStoring: storing }),
    ...(versions === undefined ? {} : { supportedServerVersions: versions }),
    security: sec,
  };
}

function bootstrapAccount(v: unknown, field: string): BootstrapAccountConfig {
  const doc = object(v, field);
  onlyFields(doc, field, ['uri', 'security', 'clientHoldOffTime', 'accountTimeout']);
  const sec = security(required(doc, field, 'security'), at(field, 'security'));
  const uri = serverUri(required(doc, field, 'uri'), at(field, 'uri'), sec.mode);
  const holdOff = optionalInteger(doc, field, 'clientHoldOffTime', 0, UINT32_MAX);
  const timeout = optionalInteger(doc, field, 'accountTimeout', 0, UINT32_MAX);
  return {
    uri,
    security: sec,
    ...(holdOff === undefined ? {} : { clientHoldOffTime: holdOff }),
    ...(timeout === undefined ? {} : { accountTimeout: timeout }),
  };
}

export interface ParseBootstrapConfigOptions {
  /**
   * Let `servers` be absent or empty when there is a `bootstrapServer` (a factory configuration of
   * a device that knows only its Bootstrap-Server). A Bootstrap-Server's configurations need one.
   */
  readonly allowNoServers?: boolean;
}

/**
 * Validates a stored configuration document. Throws BootstrapConfigError naming the first bad
 * field; unknown fields are errors too (a misspelt `lifetme` would otherwise be dropped silently).
 */
export function parseBootstrapConfig(
  input: unknown,
  options: ParseBootstrapConfigOptions = {},
): BootstrapConfiguration {
  const doc = object(input, '(configuration)');
  onlyFields(doc, '', ['servers', 'bootstrapServer', 'deleteFirst']);
  const noServersOk = options.allowNoServers === true && doc['bootstrapServer'] !== undefined;
  const rawServers = noServersOk && doc['servers'] === undefined ? [] : required(doc, '', 'servers');
  if (!Array.isArray(rawServers)) throw new BootstrapConfigError('wrong-type', 'servers', 'must be a list');
  // A device left without any server account would only bootstrap again (and a Pack must hold one).
  if (rawServers.length === 0 && !noServersOk)
    throw new BootstrapConfigError('missing', 'servers', 'needs at least one server');
  if (rawServers.length > MAX_SERVER_ACCOUNTS)
    throw new BootstrapConfigError('out-of-range', 'servers', `has more than ${MAX_SERVER_ACCOUNTS} servers`);
  const servers = rawServers.map((s, i) => serverAccount(s, `servers[${i}]`));
  const seen = new Set<number>();
  servers.forEach((s, i) => {
    if (seen.has(s.shortServerId))
      throw new BootstrapConfigError(
        'invalid',
        `servers[${i}].shortServerId`,
        `${s.shortServerId} is used by another server`,
      );
    seen.add(s.shortServerId);
  });
  const deleteFirst = doc['deleteFirst'];
  if (deleteFirst !== undefined && typeof deleteFirst !== 'boolean')
    throw new BootstrapConfigError('wrong-type', 'deleteFirst', 'must be true or false');
  return {
    servers,
    ...(doc['bootstrapServer'] === undefined
      ? {}
      : { bootstrapServer: bootstrapAccount(doc['bootstrapServer'], 'bootstrapServer') }),
    deleteFirst: deleteFirst ?? true,
  };
}
