import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { PetrelError } from '../errors.js';

/*
 * The settings of `petrel server`, from four places, each setting on its own: command-line flags,
 * then environment variables (PETREL_<SETTING> in upper snake case), then the JSON config file
 * (--config <file>, PETREL_CONFIG, or ./petrel.config.json when present), then defaults. Lists
 * (models, cors) are replaced, not merged: the first place that sets one wins. `petrel bootstrap`
 * follows the same rules with its own settings (see BootstrapSettings at the end).
 */

/** Where a value came from. */
export type ConfigSource = 'cli' | 'env' | 'file' | 'default';

export interface ServerSettings {
  /** CoAP bind address (IP literal). */
  readonly address: string;
  readonly coapPort: number;
  /** CoAP over DTLS (coaps://) UDP port; undefined = coaps off. */
  readonly coapsPort: number | undefined;
  /** CoAP over TCP (coap+tcp://, RFC 8323) port; undefined = off. */
  readonly tcpPort: number | undefined;
  /** CoAP over TLS (coaps+tcp://) TCP port: PSKs from the store, the --coaps-key/--coaps-cert identity; undefined = off. */
  readonly tlsPort: number | undefined;
  /** The MQTT binding: `embedded` (a built-in broker) or a broker URL (mqtt://, mqtts://); undefined = off. */
  readonly mqtt: string | undefined;
  /** Port of the embedded MQTT broker (default 1883). */
  readonly mqttPort: number | undefined;
  /** Topic prefix of the MQTT binding (`{prefix}/lwm2m/rd/{ep}`); undefined = none. */
  readonly mqttPrefix: string | undefined;
  /** PSK identity hint the DTLS server sends (RFC 4279 §2); undefined = none. */
  readonly pskHint: string | undefined;
  /** The server's P-256 private key file (PEM or DER) for RPK and X.509 devices; undefined = PSK only. */
  readonly coapsKey: string | undefined;
  /** The server's certificate chain file (PEM, leaf first); undefined = present the raw public key. */
  readonly coapsCert: string | undefined;
  /** Files of CA certificates (PEM or DER) that issue device certificates. */
  readonly trustAnchors: readonly string[];
  /** Length of the DTLS Connection IDs handed to devices (0 = none); undefined = the default (6). */
  readonly coapsCidLength: number | undefined;
  /** With coaps: refuse every plain-CoAP (NoSec) Register. */
  readonly secureOnly: boolean;
  /** UDP port of the Bootstrap-Server (coap://) run beside the LwM2M server; undefined = off. */
  readonly bootstrapPort: number | undefined;
  /** UDP port of the Bootstrap-Server's coaps:// (DTLS, the --coaps-* identity) side; undefined = off. */
  readonly bootstrapCoapsPort: number | undefined;
  /** HTTP API and UI bind address; default: `address`. */
  readonly httpAddress: string;
  readonly httpPort: number;
  /** `memory`, `sqlite:<file>` or `redis://…` / `rediss://…`. */
  readonly store: string;
  /** Folders of DDF XML files. */
  readonly models: readonly string[];
  readonly lifetimeGrace: number;
  /** Requests per second each device (address and port) may send; 0 = no limit (docs/security.md). */
  readonly peerRate: number;
  /** Requests a device may send in one burst; undefined = twice peerRate. */
  readonly peerBurst: number | undefined;
  /** Notifications per second each device may send, all its observations together; 0 = no limit. */
  readonly notificationRate: number;
  /** Notifications a device may send in one burst; undefined = twice notificationRate. */
  readonly notificationBurst: number | undefined;
  /** End an observation once this many of its notifications were dropped; undefined = never. */
  readonly notificationCancelAfter: number | undefined;
  readonly json: boolean;
  /** Bearer token the HTTP API requires; undefined = none. */
  readonly token: string | undefined;
  /** Origins allowed by CORS (`*` for any); empty = CORS off. */
  readonly cors: readonly string[];
  /** Start a few simulated devices in-process. */
  readonly demo: boolean;
  /** Folder of the built web UI; undefined = the packaged one. */
  readonly webRoot: string | undefined;
}

export type ServerSettingName = keyof ServerSettings;

export interface ServerConfig extends ServerSettings {
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
  readonly sources: Readonly<Record<ServerSettingName, ConfigSource>>;
}

/** Reads a config file: its text, or undefined when there is no such file. */
export type ReadConfigFile = (path: string) => string | undefined;

export const DEFAULT_CONFIG_FILE = './petrel.config.json';
export const CONFIG_ENV = 'PETREL_CONFIG';

/** A bad setting; the message starts with where it came from (flag, variable, file and key). */
export class ConfigError extends PetrelError {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super('PETREL_ERR_CONFIG', `${source}: ${message}`);
  }
}

/** What a parser throws; the caller adds where the value came from. */
class BadValue extends Error {}

/** Shown in messages: quoted, cut short, control characters escaped. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return JSON.stringify(cut).slice(1, -1).replaceAll('\\"', '"');
}

type Kind<T> = {
  /** A flag argument or an environment variable. */
  readonly text: (text: string) => T;
  /** A config file value. */
  readonly json: (value: unknown) => T;
  /** The value is a secret: never echo it. */
  readonly secret?: boolean;
  /** Relative paths in it are relative to the config file's folder. */
  // A method, so a Kind<string> is also a Kind<unknown> in the generic setting tables.
  paths?(value: T, resolve: (path: string) => string): T;
};

const expect = (what: string, value: unknown, secret = false): BadValue =>
  new BadValue(
    `expected ${what}, got ${secret ? `something else (${String(value).length} characters, not shown)` : shown(value)}`,
  );

/** A kind whose file value is a string (or a number, for the `numeric` kinds) read like the text. */
function textual<T>(
  what: string,
  parse: (text: string) => T | undefined,
  extra: Pick<Kind<T>, 'secret' | 'paths'> & { readonly numeric?: boolean } = {},
): Kind<T> {
  const text = (t: string): T => {
    const v = parse(t);
    if (v === undefined) throw expect(what, t, extra.secret);
    return v;
  };
  return {
    text,
    json: (value) => {
      if (typeof value === 'string' || (extra.numeric === true && typeof value === 'number'))
        return text(String(value));
      throw expect(what, value, extra.secret);
    },
    ...(extra.secret === undefined ? {} : { secret: extra.secret }),
    ...(extra.paths === undefined ? {} : { paths: extra.paths }),
  };
}

const wholeNumber = (max: number) => (t: string) =>
  /^[0-9]+$/.test(t) && Number(t) <= max ? Number(t) : undefined;

const port = textual('a port number 0..65535', wholeNumber(65535), { numeric: true });
const seconds = textual('a whole number of seconds', wholeNumber(0xffff_ffff), { numeric: true });
/** RFC 4279 §2 allows longer hints; 128 bytes of UTF-8, like an identity, is plenty. */
const pskHint = textual('a PSK identity hint of 1-128 bytes of UTF-8', (t) =>
  t !== '' && Buffer.byteLength(t, 'utf8') <= 128 ? t : undefined,
);
const ip = textual('an IP address such as 0.0.0.0, :: or 127.0.0.1', (t) => (isIP(t) === 0 ? undefined : t));
/** mqtt://host[:port] or mqtts://host[:port]. */
function brokerUrl(t: string): string | undefined {
  try {
    const url = new URL(t);
    return (url.protocol === 'mqtt:' || url.protocol === 'mqtts:') && url.hostname !== '' ? t : undefined;
  } catch {
    return undefined;
  }
}
const mqttBroker = textual(
  "'embedded' or a broker URL such as mqtt://broker:1883 or mqtts://broker:8883",
  (t) => (t === 'embedded' ? t : brokerUrl(t)),
);
/** A broker URL only (the Bootstrap-Server alone runs no embedded broker). */
const mqttBrokerUrl = textual('a broker URL such as mqtt://broker:1883 or mqtts://broker:8883', brokerUrl);
/** MQTT topic levels without wildcards (+, #) or empty levels. */
const mqttPrefix = textual('a topic prefix such as tenant-1 or site/a (no +, # or empty levels)', (t) =>
  t !== '' && !/[+#]/.test(t) && !t.includes(String.fromCharCode(0)) && !t.split('/').includes('')
    ? t
    : undefined,
);

/** RFC 6750 b64token: what an `Authorization: Bearer` header (and a `?token=` query) carries as is. */
const token = textual(
  'a bearer token: letters, digits and - . _ ~ + / (then optional =), at most 512',
  (t) => (/^[A-Za-z0-9\-._~+/]{1,512}=*$/.test(t) ? t : undefined),
  { secret: true },
);

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
const flag: Kind<boolean> = {
  text: (t) => {
    const v = t.trim().toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw expect('true or false (also 1/0, yes/no, on/off)', t);
  },
  json: (value) => {
    if (typeof value === 'boolean') return value;
    throw expect('true or false', value);
  },
};

function storeText(t: string): string | undefined {
  if (t === 'memory') return t;
  if (t.startsWith('sqlite:')) return t.length > 'sqlite:'.length ? t : undefined;
  if (t.startsWith('redis://') || t.startsWith('rediss://')) {
    try {
      return new URL(t).hostname === '' ? undefined : t;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const SQLITE_MEMORY = ':memory:';
const store = textual('memory, sqlite:<file> or redis://host:port', storeText, {
  paths: (v, resolve) => {
    if (!v.startsWith('sqlite:')) return v;
    const file = v.slice('sqlite:'.length);
    return file === SQLITE_MEMORY ? v : `sqlite:${resolve(file)}`;
  },
});

const folder = textual('a folder path', (t) => (t === '' ? undefined : t), {
  paths: (v, resolve) => resolve(v),
});
const file = textual('a file path', (t) => (t === '' ? undefined : t), {
  paths: (v, resolve) => resolve(v),
});
/** A rate: a number of at least 0, decimals allowed (0.5 = one every two seconds). */
const rate = textual(
  'a number of requests per second, 0 or more (e.g. 50 or 0.5)',
  (t) => (/^[0-9]+(\.[0-9]+)?$/.test(t) && Number(t) <= 1_000_000 ? Number(t) : undefined),
  { numeric: true },
);
const burst = textual(
  'a whole number of requests, 1 or more',
  (t) => (/^[0-9]+$/.test(t) && Number(t) >= 1 && Number(t) <= 1_000_000 ? Number(t) : undefined),
  { numeric: true },
);
/** The notification limit's kinds: like the request ones, counted in notifications. */
const notificationRate = textual(
  'a number of notifications per second, 0 or more (e.g. 50 or 0.5)',
  (t) => (/^[0-9]+(\.[0-9]+)?$/.test(t) && Number(t) <= 1_000_000 ? Number(t) : undefined),
  { numeric: true },
);
const notificationBurst = textual(
  'a whole number of notifications, 1 or more',
  (t) => (/^[0-9]+$/.test(t) && Number(t) >= 1 && Number(t) <= 1_000_000 ? Number(t) : undefined),
  { numeric: true },
);
const cancelAfter = textual(
  'a whole number of dropped notifications, 1 or more',
  (t) => (/^[0-9]+$/.test(t) && Number(t) >= 1 && Number(t) <= 0xffff_ffff ? Number(t) : undefined),
  { numeric: true },
);
const cidLength = textual('a Connection ID length 0..32', wholeNumber(32), { numeric: true });

/** A comma-separated list in text; an array of strings (or one comma-separated string) in JSON. */
function list(item: Kind<string>): Kind<readonly string[]> {
  const text = (t: string): string[] =>
    t
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => item.text(s));
  return {
    text,
    json: (value) => {
      if (typeof value === 'string') return text(value);
      if (Array.isArray(value)) return value.map((v) => item.json(v));
      throw expect('an array of strings', value);
    },
    ...(item.paths ? { paths: (v, resolve) => v.map((p) => item.paths!(p, resolve)) } : {}),
  };
}

/** `*` or a browser origin: scheme, host and port, no path. */
function originText(t: string): string | undefined {
  if (t === '*') return t;
  try {
    const url = new URL(t);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === t ? t : undefined;
  } catch {
    return undefined;
  }
}
const origin = textual(
  "'*' or an origin such as https://ops.example.com (no path or trailing /)",
  originText,
);

type Kinds = { readonly [K in ServerSettingName]: Kind<Exclude<ServerSettings[K], undefined>> };
const KINDS: Kinds = {
  address: ip,
  coapPort: port,
  coapsPort: port,
  tcpPort: port,
  tlsPort: port,
  mqtt: mqttBroker,
  mqttPort: port,
  mqttPrefix,
  pskHint,
  coapsKey: file,
  coapsCert: file,
  trustAnchors: list(file),
  coapsCidLength: cidLength,
  secureOnly: flag,
  bootstrapPort: port,
  bootstrapCoapsPort: port,
  httpAddress: ip,
  httpPort: port,
  store,
  models: list(folder),
  lifetimeGrace: seconds,
  peerRate: rate,
  peerBurst: burst,
  notificationRate,
  notificationBurst,
  notificationCancelAfter: cancelAfter,
  json: flag,
  token,
  cors: list(origin),
  demo: flag,
  webRoot: folder,
};

export const SETTING_NAMES = Object.keys(KINDS) as readonly ServerSettingName[];

/** `coapPort` → `PETREL_COAP_PORT`. */
export function envName(name: ServerSettingName): string {
  return prefixedEnvName(SERVER_ENV_PREFIX, name);
}

const SERVER_ENV_PREFIX = 'PETREL_';

function prefixedEnvName(prefix: string, name: string): string {
  return `${prefix}${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `coapPort` → `--coap-port` (the same rule for every command's settings). */
export function flagName(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Defaults; httpAddress follows the resolved address (see resolve). */
export const SERVER_DEFAULTS: Omit<ServerSettings, 'httpAddress'> = Object.freeze({
  address: '0.0.0.0',
  coapPort: 5683,
  coapsPort: undefined,
  tcpPort: undefined,
  tlsPort: undefined,
  mqtt: undefined,
  mqttPort: undefined,
  mqttPrefix: undefined,
  pskHint: undefined,
  coapsKey: undefined,
  coapsCert: undefined,
  trustAnchors: [],
  coapsCidLength: undefined,
  secureOnly: false,
  bootstrapPort: undefined,
  bootstrapCoapsPort: undefined,
  httpPort: 8080,
  store: 'sqlite:./data/petrel.db',
  models: [],
  lifetimeGrace: 0,
  // A device sends a few requests a minute; 50/s with a burst of 100 only stops one gone wrong.
  peerRate: 50,
  peerBurst: undefined,
  // Far above what pmin/pmax let a constrained device send; stops only a device gone wrong.
  notificationRate: 50,
  notificationBurst: undefined,
  notificationCancelAfter: undefined,
  json: false,
  token: undefined,
  cors: [],
  demo: false,
  webRoot: undefined,
});

export type PartialSettings = { -readonly [K in ServerSettingName]?: ServerSettings[K] };

/**
 * One command's settings, for the generic layer functions below: the kind, default and help of
 * each, the prefix of its variables, and the variable and default path of its config file.
 */
interface SettingsSpec {
  readonly kinds: Readonly<Record<string, Kind<unknown>>>;
  /** Every setting's default; `httpAddress`, when the command has it, follows `address`. */
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly descriptions: Readonly<Record<string, readonly [argument: string, description: string]>>;
  readonly envPrefix: string;
  readonly configEnv: string;
  readonly defaultConfigFile: string;
  /** Shown when the file is not a JSON object. */
  readonly example: string;
}

type Layer = Record<string, unknown>;

const namesOf = (spec: SettingsSpec): readonly string[] => Object.keys(spec.kinds);

function parseWith(spec: SettingsSpec, name: string, source: string, read: (kind: Kind<unknown>) => unknown) {
  try {
    return read(spec.kinds[name]!);
  } catch (e) {
    if (e instanceof BadValue) throw new ConfigError(source, e.message);
    throw e;
  }
}

function parseEnvLayer(spec: SettingsSpec, env: NodeJS.ProcessEnv): Layer {
  const out: Layer = {};
  for (const name of namesOf(spec)) {
    const variable = prefixedEnvName(spec.envPrefix, name);
    const text = env[variable];
    if (text === undefined || text === '') continue;
    out[name] = parseWith(spec, name, variable, (kind) => kind.text(text));
  }
  return out;
}

/**
 * The settings the environment sets: PETREL_<SETTING> (PETREL_COAP_PORT, PETREL_MODELS comma
 * separated, PETREL_JSON=true …). An empty variable counts as unset; other PETREL_ variables
 * (PETREL_SHARED, PETREL_CONFIG …) are not settings and are left alone.
 */
export function parseEnvConfig(env: NodeJS.ProcessEnv): PartialSettings {
  return parseEnvLayer(SERVER_SPEC, env);
}

/** Keys compared loosely, to suggest `coapPort` for `coap_port` or `COAP-PORT`. */
const loose = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');

function parseFileLayer(spec: SettingsSpec, text: string, file: string): Layer {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new ConfigError(file, `expected a JSON object of settings, e.g. ${spec.example}`);
  const base = dirname(file);
  const resolve = (p: string): string => (isAbsolute(p) ? p : join(base, p));
  const names = namesOf(spec);
  const out: Layer = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === '$schema') continue;
    if (!names.includes(key)) {
      const near = names.find((n) => loose(n) === loose(key));
      throw new ConfigError(
        file,
        `unknown key "${key.slice(0, 60)}"` +
          (near ? ` (did you mean "${near}"?)` : ` (known keys: ${names.join(', ')})`),
      );
    }
    if (value === null) continue; // null: not set here
    const parsed = parseWith(spec, key, `${file}: ${key}`, (kind) => kind.json(value));
    const kind = spec.kinds[key]!;
    out[key] = kind.paths ? kind.paths(parsed, resolve) : parsed;
  }
  return out;
}

/**
 * The settings of a JSON config file: an object whose keys are the setting names (`coapPort`,
 * `models` as an array …); `$schema` is allowed and ignored. Relative paths (models, webRoot,
 * an SQLite file) are taken relative to the file's folder.
 */
export function parseConfigFile(text: string, file: string): PartialSettings {
  return parseFileLayer(SERVER_SPEC, text, file);
}

export interface ConfigLayers<P = PartialSettings> {
  readonly cli: P;
  readonly env: P;
  readonly file: P;
  readonly configFile?: string | undefined;
}

/** Merges the layers: command line > environment > file > defaults. */
function mergeLayers(
  spec: SettingsSpec,
  layers: ConfigLayers<Layer>,
): Layer & { configFile: string | undefined; sources: Record<string, ConfigSource> } {
  const values: Layer = {};
  const sources: Record<string, ConfigSource> = {};
  for (const name of namesOf(spec)) {
    const from: [ConfigSource, Layer][] = [
      ['cli', layers.cli],
      ['env', layers.env],
      ['file', layers.file],
    ];
    const hit = from.find(([, layer]) => layer[name] !== undefined);
    if (hit) {
      values[name] = hit[1][name];
      sources[name] = hit[0];
    } else {
      values[name] = spec.defaults[name];
      sources[name] = 'default';
    }
  }
  // One --address confines everything (e.g. 127.0.0.1); --http-address splits them.
  if ('httpAddress' in spec.kinds) values.httpAddress ??= values.address;
  return { ...values, configFile: layers.configFile, sources };
}

/** Merges the layers: command line > environment > file > defaults. */
export function mergeServerConfig(layers: ConfigLayers): ServerConfig {
  return mergeLayers(SERVER_SPEC, layers) as unknown as ServerConfig;
}

/** Reads a file from disk; undefined when it does not exist. */
export const readConfigFile: ReadConfigFile = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(path, `cannot read: ${(e as Error).message}`);
  }
};

/** The values the user gave on the command line (commander's value source 'cli'). */
function cliSettings(spec: SettingsSpec, cmd: Command): Layer {
  const opts = cmd.opts<Record<string, unknown>>();
  const out: Layer = {};
  for (const name of namesOf(spec)) if (cmd.getOptionValueSource(name) === 'cli') out[name] = opts[name];
  return out;
}

function resolveLayers(spec: SettingsSpec, cmd: Command, env: NodeJS.ProcessEnv, readFile: ReadConfigFile) {
  const fromEnv = env[spec.configEnv];
  const explicit: [string, string] | undefined =
    cmd.getOptionValueSource('config') === 'cli'
      ? ['--config', cmd.opts<{ config: string }>().config]
      : fromEnv
        ? [spec.configEnv, fromEnv]
        : undefined;
  const path = explicit?.[1] ?? spec.defaultConfigFile;
  const text = readFile(path);
  if (text === undefined && explicit) throw new ConfigError(explicit[0], `no such file: ${path}`);
  return mergeLayers(spec, {
    cli: cliSettings(spec, cmd),
    env: parseEnvLayer(spec, env),
    file: text === undefined ? {} : parseFileLayer(spec, text, path),
    configFile: text === undefined ? undefined : path,
  });
}

/**
 * The server command's settings. `cmd` is the command whose action runs (its options as
 * addServerOptions declares them); `env` usually process.env. Throws ConfigError naming the
 * variable, or the file and key, of a bad value; flags were checked by commander already.
 */
export function resolveServerConfig(
  cmd: Command,
  env: NodeJS.ProcessEnv,
  readFile: ReadConfigFile = readConfigFile,
): ServerConfig {
  return resolveLayers(SERVER_SPEC, cmd, env, readFile) as unknown as ServerConfig;
}

/**
 * Where a resolved setting came from, as a user would name it: its flag, its variable, or the
 * config file and key (for messages about settings that do not fit together).
 */
export function settingOrigin(
  config: Partial<Pick<ServerConfig, 'sources' | 'configFile'>>,
  name: ServerSettingName,
): string {
  switch (config.sources?.[name] ?? 'cli') {
    case 'env':
      return envName(name);
    case 'file':
      return `${config.configFile ?? 'the config file'}: ${name}`;
    case 'default':
      return `the default ${flagName(name)}`;
    case 'cli':
      return flagName(name);
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x. */
export function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** The shortest token we accept without a warning. */
export const MIN_TOKEN_LENGTH = 16;

/** Warnings about an HTTP API's token: none on an open address, a short one, one on the command line. */
function tokenWarnings(
  api: { token: string | undefined; httpAddress: string; httpPort: number; tokenSource: ConfigSource },
  what: readonly [noun: string, verb: 'has' | 'have'],
  envVariable: string,
): string[] {
  const warnings: string[] = [];
  if (api.token === undefined && !isLoopback(api.httpAddress))
    warnings.push(
      `the ${what[0]} on ${api.httpAddress}:${api.httpPort} ${what[1]} no token: anyone who can ` +
        `reach that port can read and change your devices. Set ${envVariable} (or --token), or listen ` +
        `on 127.0.0.1 with --http-address`,
    );
  if (api.token !== undefined && api.token.length < MIN_TOKEN_LENGTH)
    warnings.push(
      `the token is short (${api.token.length} characters); use at least ${MIN_TOKEN_LENGTH} random ones`,
    );
  if (api.tokenSource === 'cli')
    warnings.push(
      `--token on the command line is visible to other users of this machine; prefer ${envVariable}`,
    );
  return warnings;
}

/** Things worth a warning line at start-up (none is fatal). */
export function serverConfigWarnings(config: ServerConfig): string[] {
  return tokenWarnings(
    { ...config, tokenSource: config.sources.token },
    ['HTTP API and UI', 'have'],
    envName('token'),
  );
}

const DESCRIPTIONS: { readonly [K in ServerSettingName]: readonly [argument: string, description: string] } =
  {
    address: ['<ip>', 'CoAP address to listen on (default 0.0.0.0)'],
    coapPort: ['<port>', 'CoAP UDP port, 0 = any free port (default 5683)'],
    coapsPort: ['<port>', 'also serve coaps:// (DTLS) on this UDP port, e.g. 5684 (default off)'],
    tcpPort: ['<port>', 'also serve coap+tcp:// (CoAP over TCP) on this port, e.g. 5683 (default off)'],
    tlsPort: [
      '<port>',
      'also serve coaps+tcp:// (CoAP over TLS 1.2/1.3: PSK, --coaps-key/--coaps-cert) on this port, e.g. 5684',
    ],
    mqtt: ['<broker>', "serve the MQTT binding: 'embedded' (built-in broker) or mqtt[s]://host:port"],
    mqttPort: ['<port>', 'port of the embedded MQTT broker (default 1883, 0 = any free port)'],
    mqttPrefix: ['<prefix>', 'topic prefix of the MQTT binding: {prefix}/lwm2m/rd/{ep} (default none)'],
    pskHint: ['<text>', 'PSK identity hint the DTLS server sends (default none)'],
    coapsKey: ['<file>', "the server's P-256 private key (PEM/DER) for RPK and X.509 devices"],
    coapsCert: [
      '<file>',
      "the server's certificate chain (PEM, leaf first); without it the key is a raw public key",
    ],
    trustAnchors: ['<files>', 'CA certificates (PEM/DER) of device certificates, comma separated'],
    coapsCidLength: ['<bytes>', 'DTLS Connection ID length given to devices, 0 = none (default 6)'],
    secureOnly: ['', 'with --coaps-port: refuse every plain-CoAP (NoSec) registration'],
    bootstrapPort: [
      '<port>',
      'also run a Bootstrap-Server (coap://) on this UDP port, e.g. 5783, 0 = any free port (default off)',
    ],
    bootstrapCoapsPort: [
      '<port>',
      'also run the Bootstrap-Server on coaps:// (DTLS) on this UDP port, e.g. 5784 (default off)',
    ],
    httpAddress: ['<ip>', 'HTTP API and web UI address (default: the --address)'],
    httpPort: ['<port>', 'HTTP API and web UI port, 0 = any free port (default 8080)'],
    store: ['<store>', 'memory, sqlite:<file> or redis://host:port (default sqlite:./data/petrel.db)'],
    models: ['<dir>', 'folder of OMA DDF XML object definitions to add (repeatable)'],
    lifetimeGrace: ['<seconds>', 'extra seconds before a registration expires (default 0)'],
    peerRate: [
      '<per-second>',
      'requests each device (address and port) may send per second, past it 4.29 (default 50; 0 = no limit)',
    ],
    peerBurst: ['<requests>', 'requests a device may send in one burst (default twice --peer-rate)'],
    notificationRate: [
      '<per-second>',
      'notifications each device may send per second, all its observations together; past it they are dropped undecoded, CON ones acknowledged (default 50; 0 = no limit)',
    ],
    notificationBurst: [
      '<notifications>',
      'notifications a device may send in one burst (default twice --notification-rate)',
    ],
    notificationCancelAfter: [
      '<dropped>',
      'end an observation once this many of its notifications were dropped; its next one gets RST (default off)',
    ],
    json: ['', 'log one JSON object per line instead of text'],
    token: ['<token>', 'bearer token the HTTP API requires (the variable keeps it out of ps)'],
    cors: ['<origins>', "origins allowed to call the API from a browser, comma separated, or '*'"],
    demo: ['', 'also run 3 simulated devices in this process'],
    webRoot: ['<dir>', 'folder of the web UI to serve (default: the packaged UI)'],
  };

const SERVER_SPEC: SettingsSpec = {
  kinds: KINDS,
  defaults: SERVER_DEFAULTS,
  descriptions: DESCRIPTIONS,
  envPrefix: SERVER_ENV_PREFIX,
  configEnv: CONFIG_ENV,
  defaultConfigFile: DEFAULT_CONFIG_FILE,
  example: '{"coapPort": 5683}',
};

/** A commander parser from a setting kind; lists given several times add up. */
function cliParser(kind: Kind<unknown>): (text: string, previous: unknown) => unknown {
  return (text, previous) => {
    try {
      const value = kind.text(text);
      return Array.isArray(value) && Array.isArray(previous)
        ? [...(previous as unknown[]), ...(value as unknown[])]
        : value;
    } catch (e) {
      if (e instanceof BadValue) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

function addOptions(spec: SettingsSpec, cmd: Command): Command {
  cmd.option(
    '--config <file>',
    `JSON settings file (default ${spec.defaultConfigFile} when present) [env ${spec.configEnv}]`,
  );
  for (const name of namesOf(spec)) {
    const [argument, description] = spec.descriptions[name]!;
    const text = `${description} [env ${prefixedEnvName(spec.envPrefix, name)}]`;
    if (argument === '') cmd.option(flagName(name), text);
    else cmd.option(`${flagName(name)} ${argument}`, text, cliParser(spec.kinds[name]!));
  }
  return cmd;
}

/**
 * Declares every server setting as a flag (no commander defaults: resolveServerConfig applies
 * them after the environment and the file), plus --config. Descriptions name the variables.
 */
export function addServerOptions(cmd: Command): Command {
  return addOptions(SERVER_SPEC, cmd);
}

// ---- `petrel bootstrap`: the same conventions, its variables prefixed PETREL_BOOTSTRAP_ ----

/**
 * The settings of `petrel bootstrap`, a Bootstrap-Server alone. Its variables are
 * PETREL_BOOTSTRAP_<SETTING> (so PETREL_BOOTSTRAP_PORT and PETREL_BOOTSTRAP_COAPS_PORT mean what
 * they mean for `petrel server`, and one environment can hold both commands' settings), and its
 * config file is its own (`--config`, PETREL_BOOTSTRAP_CONFIG, or ./petrel-bootstrap.config.json).
 */
export interface BootstrapSettings {
  readonly address: string;
  /** CoAP/UDP port; undefined = no plain CoAP (at least one of port and coapsPort is needed). */
  readonly port: number | undefined;
  /** coaps:// (DTLS) UDP port; undefined = off. */
  readonly coapsPort: number | undefined;
  /** coap+tcp:// port; undefined = off. */
  readonly tcpPort: number | undefined;
  /** coaps+tcp:// (TLS) port; undefined = off. */
  readonly tlsPort: number | undefined;
  /** A broker URL: serve the MQTT binding's bs interface there; undefined = off. */
  readonly mqtt: string | undefined;
  readonly mqttPrefix: string | undefined;
  readonly pskHint: string | undefined;
  readonly coapsKey: string | undefined;
  readonly coapsCert: string | undefined;
  readonly trustAnchors: readonly string[];
  readonly coapsCidLength: number | undefined;
  /** Let a NoSec peer bootstrap an endpoint that has credentials (BootstrapServer allowNoSec). */
  readonly allowNosec: boolean;
  /** REST API bind address; default: `address`. */
  readonly httpAddress: string;
  /** REST API port; undefined = no REST API. */
  readonly httpPort: number | undefined;
  readonly store: string;
  readonly json: boolean;
  readonly token: string | undefined;
  readonly cors: readonly string[];
}

export type BootstrapSettingName = keyof BootstrapSettings;

export interface BootstrapCommandConfig extends BootstrapSettings {
  readonly configFile: string | undefined;
  readonly sources: Readonly<Record<BootstrapSettingName, ConfigSource>>;
}

export const DEFAULT_BOOTSTRAP_CONFIG_FILE = './petrel-bootstrap.config.json';
export const BOOTSTRAP_CONFIG_ENV = 'PETREL_BOOTSTRAP_CONFIG';
const BOOTSTRAP_ENV_PREFIX = 'PETREL_BOOTSTRAP_';

const BOOTSTRAP_KINDS: {
  readonly [K in BootstrapSettingName]: Kind<Exclude<BootstrapSettings[K], undefined>>;
} = {
  address: ip,
  port,
  coapsPort: port,
  tcpPort: port,
  tlsPort: port,
  mqtt: mqttBrokerUrl,
  mqttPrefix,
  pskHint,
  coapsKey: file,
  coapsCert: file,
  trustAnchors: list(file),
  coapsCidLength: cidLength,
  allowNosec: flag,
  httpAddress: ip,
  httpPort: port,
  store,
  json: flag,
  token,
  cors: list(origin),
};

export const BOOTSTRAP_SETTING_NAMES = Object.keys(BOOTSTRAP_KINDS) as readonly BootstrapSettingName[];

/** `coapsPort` → `PETREL_BOOTSTRAP_COAPS_PORT`. */
export function bootstrapEnvName(name: BootstrapSettingName): string {
  return prefixedEnvName(BOOTSTRAP_ENV_PREFIX, name);
}

/** The store is the server's default one: a Bootstrap-Server beside `petrel server` shares its file. */
export const BOOTSTRAP_DEFAULTS: Omit<BootstrapSettings, 'httpAddress'> = Object.freeze({
  address: '0.0.0.0',
  port: undefined,
  coapsPort: undefined,
  tcpPort: undefined,
  tlsPort: undefined,
  mqtt: undefined,
  mqttPrefix: undefined,
  pskHint: undefined,
  coapsKey: undefined,
  coapsCert: undefined,
  trustAnchors: [],
  coapsCidLength: undefined,
  allowNosec: false,
  httpPort: undefined,
  store: SERVER_DEFAULTS.store,
  json: false,
  token: undefined,
  cors: [],
});

const BOOTSTRAP_SPEC: SettingsSpec = {
  kinds: BOOTSTRAP_KINDS,
  defaults: BOOTSTRAP_DEFAULTS,
  descriptions: {
    address: DESCRIPTIONS.address,
    port: ['<port>', 'CoAP UDP port of the Bootstrap-Server, e.g. 5683, 0 = any free port'],
    coapsPort: ['<port>', 'coaps:// (DTLS) UDP port of the Bootstrap-Server, e.g. 5684, 0 = any free port'],
    tcpPort: ['<port>', 'coap+tcp:// (CoAP over TCP) port of the Bootstrap-Server, 0 = any free port'],
    tlsPort: ['<port>', 'coaps+tcp:// (TLS: PSK, --coaps-key/--coaps-cert) port of the Bootstrap-Server'],
    mqtt: ['<broker>', 'serve the MQTT binding (bs topics) through this broker: mqtt[s]://host:port'],
    mqttPrefix: DESCRIPTIONS.mqttPrefix,
    pskHint: DESCRIPTIONS.pskHint,
    coapsKey: DESCRIPTIONS.coapsKey,
    coapsCert: DESCRIPTIONS.coapsCert,
    trustAnchors: DESCRIPTIONS.trustAnchors,
    coapsCidLength: DESCRIPTIONS.coapsCidLength,
    allowNosec: ['', 'let a plain-CoAP (NoSec) device bootstrap an endpoint that has credentials'],
    httpAddress: ['<ip>', 'REST API address (default: the --address)'],
    httpPort: [
      '<port>',
      'serve the REST API (bootstrap configurations, credentials) on this port, 0 = any free port (default off)',
    ],
    store: DESCRIPTIONS.store,
    json: DESCRIPTIONS.json,
    token: ['<token>', 'bearer token the REST API requires (the variable keeps it out of ps)'],
    cors: DESCRIPTIONS.cors,
  },
  envPrefix: BOOTSTRAP_ENV_PREFIX,
  configEnv: BOOTSTRAP_CONFIG_ENV,
  defaultConfigFile: DEFAULT_BOOTSTRAP_CONFIG_FILE,
  example: '{"port": 5683}',
};

/** Declares every `petrel bootstrap` setting as a flag, plus --config (no commander defaults). */
export function addBootstrapOptions(cmd: Command): Command {
  return addOptions(BOOTSTRAP_SPEC, cmd);
}

/**
 * The bootstrap command's settings, flags > PETREL_BOOTSTRAP_* > its config file > defaults.
 * Throws ConfigError on a bad value. Both ports may be unset here: the command refuses that.
 */
export function resolveBootstrapConfig(
  cmd: Command,
  env: NodeJS.ProcessEnv,
  readFile: ReadConfigFile = readConfigFile,
): BootstrapCommandConfig {
  return resolveLayers(BOOTSTRAP_SPEC, cmd, env, readFile) as unknown as BootstrapCommandConfig;
}

/** Warning lines at start-up of `petrel bootstrap` (none is fatal). */
export function bootstrapConfigWarnings(config: BootstrapCommandConfig): string[] {
  if (config.httpPort === undefined)
    return config.token === undefined ? [] : ['--token has no effect without --http-port'];
  return tokenWarnings(
    { ...config, httpPort: config.httpPort, tokenSource: config.sources.token },
    ['REST API (bootstrap configurations and credentials)', 'has'],
    bootstrapEnvName('token'),
  );
}
