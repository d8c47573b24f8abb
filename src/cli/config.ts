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
 * (models, cors) are replaced, not merged: the first place that sets one wins.
 */

/** Where a value came from. */
export type ConfigSource = 'cli' | 'env' | 'file' | 'default';

export interface ServerSettings {
  /** CoAP bind address (IP literal). */
  readonly address: string;
  readonly coapPort: number;
  /** CoAP over DTLS (coaps://) UDP port; undefined = coaps off. */
  readonly coapsPort: number | undefined;
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
  readonly paths?: (value: T, resolve: (path: string) => string) => T;
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
  json: flag,
  token,
  cors: list(origin),
  demo: flag,
  webRoot: folder,
};

export const SETTING_NAMES = Object.keys(KINDS) as readonly ServerSettingName[];

/** `coapPort` → `PETREL_COAP_PORT`. */
export function envName(name: ServerSettingName): string {
  return `PETREL_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `coapPort` → `--coap-port`. */
export function flagName(name: ServerSettingName): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Defaults; httpAddress follows the resolved address (see resolve). */
export const SERVER_DEFAULTS: Omit<ServerSettings, 'httpAddress'> = Object.freeze({
  address: '0.0.0.0',
  coapPort: 5683,
  coapsPort: undefined,
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
  json: false,
  token: undefined,
  cors: [],
  demo: false,
  webRoot: undefined,
});

export type PartialSettings = { -readonly [K in ServerSettingName]?: ServerSettings[K] };

function parseWith<K extends ServerSettingName>(
  name: K,
  source: string,
  read: (kind: Kinds[K]) => Exclude<ServerSettings[K], undefined>,
): Exclude<ServerSettings[K], undefined> {
  try {
    return read(KINDS[name]);
  } catch (e) {
    if (e instanceof BadValue) throw new ConfigError(source, e.message);
    throw e;
  }
}

/**
 * The settings the environment sets: PETREL_<SETTING> (PETREL_COAP_PORT, PETREL_MODELS comma
 * separated, PETREL_JSON=true …). An empty variable counts as unset; other PETREL_ variables
 * (PETREL_SHARED, PETREL_CONFIG …) are not settings and are left alone.
 */
export function parseEnvConfig(env: NodeJS.ProcessEnv): PartialSettings {
  const out: PartialSettings = {};
  for (const name of SETTING_NAMES) {
    const variable = envName(name);
    const text = env[variable];
    if (text === undefined || text === '') continue;
    (out as Record<string, unknown>)[name] = parseWith(name, variable, (kind) => kind.text(text));
  }
  return out;
}

/** Keys compared loosely, to suggest `coapPort` for `coap_port` or `COAP-PORT`. */
const loose = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');

/**
 * The settings of a JSON config file: an object whose keys are the setting names (`coapPort`,
 * `models` as an array …); `$schema` is allowed and ignored. Relative paths (models, webRoot,
 * an SQLite file) are taken relative to the file's folder.
 */
export function parseConfigFile(text: string, file: string): PartialSettings {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new ConfigError(file, 'expected a JSON object of settings, e.g. {"coapPort": 5683}');
  const base = dirname(file);
  const resolve = (p: string): string => (isAbsolute(p) ? p : join(base, p));
  const out: PartialSettings = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === '$schema') continue;
    if (!(SETTING_NAMES as readonly string[]).includes(key)) {
      const near = SETTING_NAMES.find((n) => loose(n) === loose(key));
      throw new ConfigError(
        file,
        `unknown key "${key.slice(0, 60)}"` +
          (near ? ` (did you mean "${near}"?)` : ` (known keys: ${SETTING_NAMES.join(', ')})`),
      );
    }
    const name = key as ServerSettingName;
    if (value === null) continue; // null: not set here
    const parsed = parseWith(name, `${file}: ${key}`, (kind) => kind.json(value));
    const kind = KINDS[name] as Kind<unknown>;
    (out as Record<string, unknown>)[name] = kind.paths ? kind.paths(parsed, resolve) : parsed;
  }
  return out;
}

export interface ConfigLayers {
  readonly cli: PartialSettings;
  readonly env: PartialSettings;
  readonly file: PartialSettings;
  readonly configFile?: string | undefined;
}

/** Merges the layers: command line > environment > file > defaults. */
export function mergeServerConfig(layers: ConfigLayers): ServerConfig {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const name of SETTING_NAMES) {
    const from: [ConfigSource, PartialSettings][] = [
      ['cli', layers.cli],
      ['env', layers.env],
      ['file', layers.file],
    ];
    const hit = from.find(([, layer]) => layer[name] !== undefined);
    if (hit) {
      values[name] = hit[1][name];
      sources[name] = hit[0];
    } else {
      values[name] = name === 'httpAddress' ? undefined : SERVER_DEFAULTS[name];
      sources[name] = 'default';
    }
  }
  // One --address confines everything (e.g. 127.0.0.1); --http-address splits them.
  values.httpAddress ??= values.address;
  return {
    ...(values as unknown as ServerSettings),
    configFile: layers.configFile,
    sources: sources as Record<ServerSettingName, ConfigSource>,
  };
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
function cliSettings(cmd: Command): PartialSettings {
  const opts = cmd.opts<Record<string, unknown>>();
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) if (cmd.getOptionValueSource(name) === 'cli') out[name] = opts[name];
  return out;
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
  const explicit: [string, string] | undefined =
    cmd.getOptionValueSource('config') === 'cli'
      ? ['--config', cmd.opts<{ config: string }>().config]
      : env[CONFIG_ENV]
        ? [CONFIG_ENV, env[CONFIG_ENV]]
        : undefined;
  const path = explicit?.[1] ?? DEFAULT_CONFIG_FILE;
  const text = readFile(path);
  if (text === undefined && explicit) throw new ConfigError(explicit[0], `no such file: ${path}`);
  return mergeServerConfig({
    cli: cliSettings(cmd),
    env: parseEnvConfig(env),
    file: text === undefined ? {} : parseConfigFile(text, path),
    configFile: text === undefined ? undefined : path,
  });
}

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x. */
export function isLoopback(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/** The shortest token we accept without a warning. */
export const MIN_TOKEN_LENGTH = 16;

/** Things worth a warning line at start-up (none is fatal). */
export function serverConfigWarnings(config: ServerConfig): string[] {
  const warnings: string[] = [];
  if (config.token === undefined && !isLoopback(config.httpAddress))
    warnings.push(
      `the HTTP API and UI on ${config.httpAddress}:${config.httpPort} have no token: anyone who can ` +
        `reach that port can read and change your devices. Set PETREL_TOKEN (or --token), or listen ` +
        `on 127.0.0.1 with --http-address`,
    );
  if (config.token !== undefined && config.token.length < MIN_TOKEN_LENGTH)
    warnings.push(
      `the token is short (${config.token.length} characters); use at least ${MIN_TOKEN_LENGTH} random ones`,
    );
  if (config.sources.token === 'cli')
    warnings.push(
      '--token on the command line is visible to other users of this machine; prefer PETREL_TOKEN',
    );
  return warnings;
}

const DESCRIPTIONS: { readonly [K in ServerSettingName]: readonly [argument: string, description: string] } =
  {
    address: ['<ip>', 'CoAP address to listen on (default 0.0.0.0)'],
    coapPort: ['<port>', 'CoAP UDP port, 0 = any free port (default 5683)'],
    coapsPort: ['<port>', 'also serve coaps:// (DTLS) on this UDP port, e.g. 5684 (default off)'],
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
    json: ['', 'log one JSON object per line instead of text'],
    token: ['<token>', 'bearer token the HTTP API requires (the variable keeps it out of ps)'],
    cors: ['<origins>', "origins allowed to call the API from a browser, comma separated, or '*'"],
    demo: ['', 'also run 3 simulated devices in this process'],
    webRoot: ['<dir>', 'folder of the web UI to serve (default: the packaged UI)'],
  };

/** A commander parser from a setting kind; lists given several times add up. */
function cliParser(name: ServerSettingName): (text: string, previous: unknown) => unknown {
  const kind = KINDS[name] as Kind<unknown>;
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

/**
 * Declares every server setting as a flag (no commander defaults: resolveServerConfig applies
 * them after the environment and the file), plus --config. Descriptions name the variables.
 */
export function addServerOptions(cmd: Command): Command {
  cmd.option(
    '--config <file>',
    `JSON settings file (default ${DEFAULT_CONFIG_FILE} when present) [env ${CONFIG_ENV}]`,
  );
  for (const name of SETTING_NAMES) {
    const [argument, description] = DESCRIPTIONS[name];
    const text = `${description} [env ${envName(name)}]`;
    if (argument === '') cmd.option(flagName(name), text);
    else cmd.option(`${flagName(name)} ${argument}`, text, cliParser(name));
  }
  return cmd;
}
