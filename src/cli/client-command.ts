import { Command, InvalidArgumentError, Option } from 'commander';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createInterface } from 'node:readline';
import { MemoryInstance } from '../client/instance.js';
import { readFile } from 'node:fs/promises';
import { FileClientStateStore } from '../client/client-state.js';
import type { BootstrapServerConfig, LwM2mClient, ServerSecurityConfig } from '../client/lwm2m-client.js';
import { FileSecureElement } from '../client/provisioning.js';
import { PetrelError } from '../errors.js';
import type { LwM2mValue } from '../model/data-types.js';
import { LwM2mPath } from '../model/path.js';
import { recordsToJson } from '../model/records-json.js';
import { inferJsonType, valueFromJson } from '../model/value-json.js';
import { parseProfileId } from '../operations/profile-id.js';
import type { LwM2mVersion } from '../operations/version.js';
import type { Channel, ChannelErrorHandler, Peer, ReceiveHandler } from '../transport/channel.js';
import { UdpChannel } from '../transport/udp-channel.js';
import { waitForSignal } from './signals.js';
import { CliError, type CliIo } from './io.js';
import { KeyFileError, readCertificates, readPrivateKey, readPublicKey } from './key-files.js';
import { packageVerifier } from '../firmware/package-verifier.js';
import type { SoftwareManagementOptions } from '../client/software/software-management-instance.js';
import { softwareStateName } from '../client/software/software-state.js';
import {
  SIMULATED_SSID,
  SimulatedDevice,
  SimulatedFirmware,
  bindAddressFor,
  createSimulatedClient,
} from './simulated-device.js';

/** The server account the commands act on: the device's first (SSID 1 unless a bootstrap said otherwise). */
const ssidOf = (client: LwM2mClient): number => client.accounts()[0]?.shortServerId ?? SIMULATED_SSID;
/** How long quit / end of input waits for a Register in flight before stopping anyway. */
const QUIT_SETTLE_MS = 5000;

interface ClientCommandOptions {
  endpoint: string;
  server?: string;
  mqttPrefix?: string;
  bootstrap?: string;
  bootstrapPskIdentity?: string;
  bootstrapPskKey?: Uint8Array;
  pack?: boolean;
  factory?: string;
  smartcard?: string;
  state?: string;
  networkMayChange?: ('factory' | 'smartcard')[];
  lifetime: number;
  lwm2mVersion: LwM2mVersion;
  queueMode?: boolean;
  profileId?: string;
  interval: number;
  quiet?: boolean;
  json?: boolean;
  /** false with --no-stdin: run unattended until a signal. */
  stdin: boolean;
  pskIdentity?: string;
  pskKey?: Uint8Array;
  key?: string;
  cert?: string;
  serverKey?: string;
  serverCert?: string;
  certUsage?: number;
  sni?: string;
  firmwareDir?: string;
  firmwareTrust?: string[];
  firmwareClass?: string;
  firmwareVendor?: string;
  firmwareInstallSeconds?: number;
  firmwareDefer?: number;
  softwareDir?: string;
  softwareComponents?: number;
}

/** /0/x/2 as the log shows it. */
const SECURITY_MODE_NAMES: Readonly<Record<number, string>> = { 0: 'psk', 1: 'rpk', 2: 'x509' };

/** commander parser of --psk-key: 1..64 bytes in hex (Transport TS §Security). */
function pskKeyOption(text: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}){1,64}$/.test(text))
    throw new InvalidArgumentError('expected 1 to 64 bytes in hex, e.g. 000102030405060708090a0b0c0d0e0f');
  return new Uint8Array(Buffer.from(text, 'hex'));
}

/** commander parser of --cert-usage (/0/x/15, RFC 6698). */
function certUsageOption(text: string): number {
  if (!/^[0-3]$/.test(text))
    throw new InvalidArgumentError(
      'expected 0 (CA constraint), 1 (service certificate), 2 (trust anchor) or 3 (domain-issued)',
    );
  return Number(text);
}

/** Runs a key-file reader; its KeyFileError becomes a usage error naming the flag. */
function fromFile<T>(flag: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof KeyFileError) throw new CliError(`${flag}: ${e.message}`);
    throw e;
  }
}

/** A private key file (PEM or DER: PKCS#8 or SEC1) as RFC 5958 OneAsymmetricKey DER, for /0/x/5. */
function privateKeyFile(file: string): Uint8Array {
  const key = fromFile('--key', () => readPrivateKey(file));
  return new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
}

/** A public key file (PEM or SubjectPublicKeyInfo DER), or a certificate's key, as SPKI DER (/0/x/4). */
function publicKeyFile(file: string): Uint8Array {
  const key = fromFile('--server-key', () => readPublicKey(file));
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }));
}

/** A certificate file (PEM or DER) as DER (/0/x/3, /0/x/4): its first certificate. */
function certificateFile(flag: string, file: string): Uint8Array {
  return fromFile(flag, () => readCertificates(file)[0]!);
}

/** The server URI schemes whose transport is (D)TLS: /0 takes credentials from the flags. */
const SECURE_PROTOCOLS: ReadonlySet<string> = new Set(['coaps:', 'coaps+tcp:', 'mqtts:']);

/**
 * The /0 security resources of the simulated device's account from the flags: PSK (mode 0) with
 * --psk-identity/--psk-key, RPK (1) with --key and --server-key, Certificate (2) with --key,
 * --cert and --server-cert; nothing (NoSec) for coap://. Contradictions are usage errors.
 */
export function securityFromFlags(opts: ClientCommandOptions): ServerSecurityConfig | undefined {
  let secure: boolean;
  try {
    secure = opts.server !== undefined && SECURE_PROTOCOLS.has(new URL(opts.server).protocol);
  } catch {
    return undefined; // the client reports the URI
  }
  const given = (
    [
      ['--psk-identity', opts.pskIdentity],
      ['--psk-key', opts.pskKey],
      ['--key', opts.key],
      ['--cert', opts.cert],
      ['--server-key', opts.serverKey],
      ['--server-cert', opts.serverCert],
      ['--cert-usage', opts.certUsage],
      ['--sni', opts.sni],
    ] as const
  )
    .filter(([, v]) => v !== undefined)
    .map(([flag]) => flag);
  // mqtts:// without credentials: TLS to the broker checked against the system's CAs (NoSec).
  if (secure && given.length === 0 && new URL(opts.server!).protocol === 'mqtts:') return undefined;
  if (!secure) {
    if (given.length > 0)
      throw new CliError(
        `${given.join(', ')}: only for a coaps:// server (or coaps+tcp://; --server is ${opts.server ?? 'not given'})`,
      );
    return undefined;
  }
  const psk = opts.pskIdentity !== undefined || opts.pskKey !== undefined;
  const sni = opts.sni === undefined ? {} : { sni: opts.sni };
  if (psk) {
    if (opts.key !== undefined || opts.cert !== undefined)
      throw new CliError('choose PSK (--psk-identity, --psk-key) or a key pair (--key …), not both');
    if (opts.serverKey !== undefined || opts.serverCert !== undefined || opts.certUsage !== undefined)
      throw new CliError('--server-key, --server-cert and --cert-usage go with --key, not with PSK');
    if (opts.pskIdentity === undefined || opts.pskKey === undefined)
      throw new CliError('PSK needs both --psk-identity and --psk-key');
    if (Buffer.byteLength(opts.pskIdentity) > 128) throw new CliError('--psk-identity: at most 128 bytes');
    if (opts.pskIdentity === '') throw new CliError('--psk-identity: must not be empty');
    return { securityMode: 0, publicKeyOrIdentity: opts.pskIdentity, secretKey: opts.pskKey, ...sni };
  }
  if (opts.key === undefined) {
    if (opts.cert !== undefined) throw new CliError("--cert needs --key (the certificate's private key)");
    throw new CliError(
      `a ${new URL(opts.server!).protocol}// server needs credentials: --psk-identity and --psk-key, or --key with --server-key (RPK) or --cert and --server-cert (X.509)`,
    );
  }
  const secretKey = privateKeyFile(opts.key);
  if (opts.cert === undefined) {
    if (opts.serverCert !== undefined || opts.certUsage !== undefined)
      throw new CliError(
        '--server-cert and --cert-usage are for X.509 (with --cert); RPK takes --server-key',
      );
    if (opts.serverKey === undefined)
      throw new CliError("RPK (--key without --cert) needs --server-key, the server's public key");
    const own = createPublicKey(
      createPrivateKey({ key: Buffer.from(secretKey), format: 'der', type: 'pkcs8' }),
    );
    return {
      securityMode: 1,
      publicKeyOrIdentity: new Uint8Array(own.export({ format: 'der', type: 'spki' })),
      secretKey,
      serverPublicKey: publicKeyFile(opts.serverKey),
      ...sni,
    };
  }
  if (opts.serverKey !== undefined)
    throw new CliError(
      '--server-key is for RPK; with --cert give the server certificate or trust anchor as --server-cert',
    );
  if (opts.serverCert === undefined)
    throw new CliError('X.509 (--cert) needs --server-cert, the server certificate or its trust anchor');
  return {
    securityMode: 2,
    publicKeyOrIdentity: certificateFile('--cert', opts.cert),
    secretKey,
    serverPublicKey: certificateFile('--server-cert', opts.serverCert),
    ...(opts.certUsage === undefined ? {} : { certificateUsage: opts.certUsage }),
    ...sni,
  };
}

/**
 * The Bootstrap-Server account from --bootstrap: NoSec for coap://, PSK (--bootstrap-psk-identity,
 * --bootstrap-psk-key) for coaps:// (other modes come from a --factory file).
 */
export function bootstrapFromFlags(opts: ClientCommandOptions): BootstrapServerConfig | undefined {
  const psk = opts.bootstrapPskIdentity !== undefined || opts.bootstrapPskKey !== undefined;
  if (opts.bootstrap === undefined) {
    if (psk) throw new CliError('--bootstrap-psk-identity and --bootstrap-psk-key go with --bootstrap');
    return undefined;
  }
  let secure: boolean;
  try {
    secure = new URL(opts.bootstrap).protocol === 'coaps:';
  } catch {
    throw new CliError(`--bootstrap: "${opts.bootstrap}" is not a coap:// or coaps:// URI`);
  }
  if (!secure) {
    if (psk) throw new CliError(`--bootstrap-psk-*: only for a coaps:// Bootstrap-Server`);
    return { uri: opts.bootstrap };
  }
  if (opts.bootstrapPskIdentity === undefined || opts.bootstrapPskKey === undefined)
    throw new CliError(
      'a coaps:// Bootstrap-Server needs --bootstrap-psk-identity and --bootstrap-psk-key (RPK and X.509: a --factory file)',
    );
  if (Buffer.byteLength(opts.bootstrapPskIdentity) > 128 || opts.bootstrapPskIdentity === '')
    throw new CliError('--bootstrap-psk-identity: 1 to 128 bytes');
  return {
    uri: opts.bootstrap,
    security: {
      securityMode: 0,
      publicKeyOrIdentity: opts.bootstrapPskIdentity,
      secretKey: opts.bootstrapPskKey,
    },
  };
}

/** A JSON file for a flag; unreadable or not JSON is a usage error naming it. */
async function readJsonFile(flag: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`${flag}: cannot read ${file}: ${errorText(e)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`${flag}: ${file} is not JSON: ${errorText(e)}`);
  }
}

/** commander parser of --network-may-change: the sources a network Bootstrap-Server may change. */
function sourcesOption(text: string): ('factory' | 'smartcard')[] {
  const list = text.split(',').map((s) => s.trim());
  for (const s of list)
    if (s !== 'factory' && s !== 'smartcard')
      throw new InvalidArgumentError('expected factory, smartcard or factory,smartcard');
  return list as ('factory' | 'smartcard')[];
}

/** commander parser of a registration lifetime (also `petrel fleet`). */
export function lifetimeSeconds(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > 0xffff_ffff)
    throw new InvalidArgumentError('expected a whole number of seconds, at least 1');
  return n;
}

/** commander parser of a measurement interval (also `petrel fleet`). */
export function intervalSeconds(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || !(n >= 0.01) || n > 86400)
    throw new InvalidArgumentError('expected seconds between 0.01 and 86400');
  return n;
}

/** `dynamic` (hash of the object list) or a pre-configured `oma:…` / `v:…` id (Identifiers-001). */
function profileIdOption(text: string): string {
  if (text === 'dynamic') return text;
  try {
    if (parseProfileId(text).kind === 'pre-configured') return text;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError("expected 'dynamic' or a pre-configured id such as oma:temperature-sensor");
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** commander parser of --software-components. */
function softwareCount(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > 64)
    throw new InvalidArgumentError('expected a number of components, 1 .. 64');
  return n;
}

/**
 * /9 from --software-dir: `--software-components` instances whose simulated install always works
 * (name and version from a signed manifest); with --firmware-trust only packages signed by one of
 * those keys are taken.
 */
export function softwareFromFlags(opts: ClientCommandOptions): SoftwareManagementOptions | undefined {
  if (opts.softwareDir === undefined) {
    if (opts.softwareComponents !== undefined)
      throw new CliError('--software-components: only with --software-dir');
    return undefined;
  }
  const anchors = (opts.firmwareTrust ?? []).map((file) =>
    fromFile('--firmware-trust', () => readPublicKey(file)),
  );
  return {
    directory: opts.softwareDir,
    packages: Array.from({ length: opts.softwareComponents ?? 1 }, (_, instanceId) => ({ instanceId })),
    ...(anchors.length > 0
      ? { verifier: packageVerifier({ trustAnchors: anchors, requireSignature: true }) }
      : {}),
    application: { install: () => Promise.resolve({ ok: true }) },
  };
}

/** commander parser of --firmware-install-seconds and --firmware-defer. */
function firmwareSeconds(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || n > 86400)
    throw new InvalidArgumentError('expected seconds between 0 and 86400');
  return n;
}

/** commander collector of a repeatable flag. */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * The simulated device's firmware from --firmware-*: /5 with a FileFirmwareStore in
 * --firmware-dir, signed packages only when --firmware-trust is given; undefined without
 * --firmware-dir (the other flags then are a usage error).
 */
export async function firmwareFromFlags(opts: ClientCommandOptions): Promise<SimulatedFirmware | undefined> {
  if (opts.firmwareDir === undefined) {
    const given = (
      [
        // The release keys serve /9 too (--software-dir).
        ['--firmware-trust', opts.softwareDir === undefined ? opts.firmwareTrust : undefined],
        ['--firmware-class', opts.firmwareClass],
        ['--firmware-vendor', opts.firmwareVendor],
        ['--firmware-defer', opts.firmwareDefer],
      ] as const
    )
      .filter(([, v]) => v !== undefined)
      .map(([flag]) => flag);
    if (given.length > 0) throw new CliError(`${given.join(', ')}: only with --firmware-dir`);
    return undefined;
  }
  const trustAnchors = (opts.firmwareTrust ?? []).map((file) =>
    fromFile('--firmware-trust', () => readPublicKey(file)),
  );
  return SimulatedFirmware.open({
    directory: opts.firmwareDir,
    trustAnchors,
    ...(opts.firmwareInstallSeconds === undefined ? {} : { installSeconds: opts.firmwareInstallSeconds }),
    ...(opts.firmwareClass === undefined ? {} : { deviceClass: opts.firmwareClass }),
    ...(opts.firmwareVendor === undefined ? {} : { vendor: opts.firmwareVendor }),
    ...(opts.firmwareDefer === undefined ? {} : { deferSeconds: opts.firmwareDefer }),
  });
}

const FIRMWARE_STATES = ['idle', 'downloading', 'downloaded', 'updating'] as const;

/** Software lines: every change of a /9 instance's Update State, Update Result or Activation State. */
function watchSoftware(client: LwM2mClient, print: Printer): void {
  for (const [id, sw] of client.software) {
    let last = '';
    sw.onChange(() => {
      const state = softwareStateName(sw.state).toLowerCase().replace(' ', '-');
      const now = `${state} ${sw.updateResult} ${sw.active}`;
      if (now === last) return;
      last = now;
      const installed = sw.installed;
      print.log(
        'software',
        `/9/${id} state=${state} result=${sw.updateResult} active=${sw.active}` +
          (installed ? ` ${installed.name} ${installed.version}` : ''),
        {
          instance: id,
          state,
          result: sw.updateResult,
          active: sw.active,
          ...(installed ? { name: installed.name, version: installed.version } : {}),
        },
      );
    });
  }
}

/** Firmware lines: every change of /5 State or Update Result, and why a download or update failed. */
function watchFirmware(client: LwM2mClient, print: Printer): void {
  const firmware = client.firmware;
  if (!firmware) return;
  let last = '';
  firmware.onChange(() => {
    const state = FIRMWARE_STATES[firmware.state] ?? String(firmware.state);
    const now = `${state} ${firmware.updateResult}`;
    if (now === last) return;
    last = now;
    const version = firmware.facts.version;
    print.log(
      'firmware',
      `state=${state} result=${firmware.updateResult}${version ? ` version=${version}` : ''}`,
      {
        state,
        result: firmware.updateResult,
        ...(version === undefined ? {} : { version }),
      },
    );
  });
  firmware.onDiagnostics((failure) => {
    if (failure)
      print.log(
        'firmware-failed',
        `${failure.phase}/${failure.code} result=${failure.updateResult}: ${failure.message}`,
        { ...failure },
      );
  });
}

/**
 * The device's radio: a Channel over the UDP socket that, when off, drops the server's requests
 * (CoAP codes 0.01-0.31) as a sleeping device would not hear them. Answers to the device's own
 * uplinks still arrive, since a device wakes for those (queue mode, Transport §6.2).
 */
class Radio implements Channel {
  readonly kind: Channel['kind'];
  readonly #inner: Channel;
  readonly #power: Power;
  readonly #handlers: ReceiveHandler[] = [];

  /** Over plain UDP, or over a DTLS session (where the CoAP code is readable). */
  constructor(inner: Channel, power: Power) {
    this.kind = inner.kind;
    this.#inner = inner;
    this.#power = power;
    inner.onReceive((peer, bytes) => {
      const code = bytes[1] ?? 0;
      if (!this.#power.on && code >= 1 && code <= 31) return;
      for (const handler of this.#handlers) handler(peer, bytes);
    });
  }

  get local(): Channel['local'] {
    return this.#inner.local;
  }

  send(peer: Peer, datagram: Uint8Array): void {
    this.#inner.send(peer, datagram);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#handlers.push(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#inner.onError?.(handler);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Whether the device's radios hear the server's requests (all of them: UDP and DTLS sessions). */
interface Power {
  on: boolean;
}

/** Event lines (suppressed by --quiet), command output, and errors (always, on stderr). */
class Printer {
  constructor(
    private readonly io: CliIo,
    private readonly json: boolean,
    private readonly quiet: boolean,
  ) {}

  log(event: string, text: string, data: Record<string, unknown> = {}): void {
    if (this.quiet) return;
    this.io.stdout(
      this.json
        ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n`
        : `${event}${text === '' ? '' : ` ${text}`}\n`,
    );
  }

  out(event: string, text: string, data: Record<string, unknown>): void {
    this.io.stdout(this.json ? `${JSON.stringify({ event, ...data })}\n` : `${text}\n`);
  }

  fail(message: string): void {
    this.io.stderr(`petrel: ${message}\n`);
  }
}

const HELP: readonly (readonly [string, string])[] = [
  ['show [path]', 'print the values at path (default: every object) as JSON'],
  ['set <path> <json>', 'change a value, e.g. set /3303/0/5700 25.5 (text that is not JSON is a string)'],
  ['send <path>...', 'report values to the server (Send, LwM2M 1.1+)'],
  ['update', 'send a registration Update'],
  ['deregister', 'de-register and stay quiet'],
  ['register', 'register again after deregister'],
  ['offline', 'go to sleep: server requests go unanswered, notifications are held'],
  ['online', 'wake up with an Update; held notifications follow'],
  ['help', 'this list'],
  ['quit', 'de-register and exit (also end of input, SIGINT, SIGTERM)'],
];

/** The interactive commands, on a started client. */
class Commands {
  constructor(
    private readonly client: LwM2mClient,
    private readonly radio: Power,
    private readonly print: Printer,
    private readonly stopping: Promise<void>,
  ) {}

  /** Runs one line; false when the session should end. */
  async run(line: string): Promise<boolean> {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) return true;
    const [name = '', ...args] = text.split(/\s+/);
    try {
      switch (name) {
        case 'show':
          return this.#show(args[0] ?? '/');
        case 'set':
          return this.#set(text);
        case 'send':
          return await this.#send(args);
        case 'update':
          return await this.#update();
        case 'deregister':
          await this.settled();
          if (this.client.registration.state(ssidOf(this.client)) !== 'registered')
            this.print.fail('deregister: not registered');
          else await this.client.deregister();
          return true;
        case 'register':
          return await this.#register();
        case 'offline':
          this.radio.on = false;
          this.client.sleep();
          return true;
        case 'online':
          this.radio.on = true;
          await this.settled();
          await this.client.wake();
          return true;
        case 'help':
          this.print.out('help', HELP.map(([cmd, what]) => `  ${cmd.padEnd(18)} ${what}`).join('\n'), {
            commands: HELP.map(([cmd]) => cmd),
          });
          return true;
        case 'quit':
          return false;
        default:
          this.print.fail(`unknown command "${name.slice(0, 40)}" (try help)`);
          return true;
      }
    } catch (e) {
      this.print.fail(`${name}: ${errorText(e)}`);
      return true;
    }
  }

  /** Resolves once no Register is in flight (or on shutdown, or after `maxMs`). */
  settled(maxMs?: number): Promise<void> {
    const engine = this.client.registration;
    const ssid = ssidOf(this.client);
    if (engine.state(ssid) !== 'registering') return Promise.resolve();
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        engine.off('state', onState);
        clearTimeout(timer);
        resolve();
      };
      const onState = (change: { shortServerId: number; to: string }): void => {
        if (change.shortServerId === ssid && change.to !== 'registering') done();
      };
      engine.on('state', onState);
      if (maxMs !== undefined) timer = setTimeout(done, maxMs);
      void this.stopping.then(done);
    });
  }

  #show(pathText: string): boolean {
    const path = LwM2mPath.parse(pathText);
    const result = this.client.tree.read(path);
    if (!result.ok) {
      this.print.fail(`show ${pathText}: ${result.code} ${result.message}`);
      return true;
    }
    const values = recordsToJson(result.value);
    this.print.out('show', JSON.stringify(values, null, 2), { path: path.toString(), values });
    return true;
  }

  #set(text: string): boolean {
    const m = /^set\s+(\S+)\s+(.+)$/.exec(text);
    if (!m) {
      this.print.fail('usage: set <path> <json-value>');
      return true;
    }
    const path = LwM2mPath.parse(m[1]!);
    const [oid, iid, rid] = path.ids;
    if (oid === undefined || iid === undefined || rid === undefined)
      throw new CliError(`${path.toString()} is not a resource or resource instance`);
    const instance = this.client.tree.instance(oid, iid);
    if (!(instance instanceof MemoryInstance))
      throw new CliError(`${path.toString()}: no such instance in this device`);
    let json: unknown;
    try {
      json = JSON.parse(m[2]!);
    } catch {
      json = m[2]!;
    }
    instance.set(path, this.#typed(path, json));
    this.print.log('set', `${path.toString()} ${JSON.stringify(json)}`, {
      path: path.toString(),
      value: json,
    });
    return true;
  }

  /** A JSON value typed by the model (`petrel codec` JSON); an array fills a multiple resource. */
  #typed(path: LwM2mPath, json: unknown): LwM2mValue | LwM2mValue[] {
    const def = this.client.model.resource(path.objectId!, path.resourceId!);
    const where = path.toString();
    if (Array.isArray(json)) {
      if (path.depth !== 3 || (def !== undefined && !def.multiple))
        throw new CliError(`${where}: an array only fits a multiple resource`);
      return json.map((v, i) => valueFromJson(def?.type ?? inferJsonType(v), v, `${where}/${i}`));
    }
    return valueFromJson(def?.type ?? inferJsonType(json), json, where);
  }

  async #send(args: readonly string[]): Promise<boolean> {
    if (args.length === 0) {
      this.print.fail('usage: send <path> [<path>...]');
      return true;
    }
    const paths = args.map((p) => LwM2mPath.parse(p));
    await this.settled();
    const response = await this.client.send(paths);
    const shown = paths.map(String);
    this.print.out('sent', `sent ${response.code} ${shown.join(' ')}`, { code: response.code, paths: shown });
    return true;
  }

  async #update(): Promise<boolean> {
    await this.settled();
    if (this.client.registration.state(ssidOf(this.client)) !== 'registered') {
      this.print.fail('update: not registered');
      return true;
    }
    await this.client.update();
    return true;
  }

  /** The engine registers idle servers on start(); stop() first, which leaves idle ones alone. */
  async #register(): Promise<boolean> {
    const state = this.client.registration.state(ssidOf(this.client));
    if (state === 'registered' || state === 'registering' || state === 'waiting-retry') {
      this.print.fail(
        `register: ${state === 'registered' ? 'already registered' : 'registration in progress'}`,
      );
      return true;
    }
    await this.client.registration.stop();
    this.client.registration.start();
    await this.settled();
    return true;
  }
}

/** Lines from the injected source, else from stdin (SIGINT on a terminal ends the input). */
function openLines(io: CliIo): { lines: AsyncIterable<string>; close: () => void } {
  if (io.readLines) return { lines: io.readLines(), close: () => undefined };
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('SIGINT', () => rl.close());
  return { lines: rl, close: () => rl.close() };
}

/** No input at all (--no-stdin): the session ends only on a signal. */
async function* noLines(): AsyncIterable<string> {
  yield* [];
  await new Promise<never>(() => undefined);
}

/** Reads lines until end of input, `quit`, or `stopping`. */
async function readLoop(
  lines: AsyncIterable<string>,
  commands: Commands,
  stopping: Promise<void>,
): Promise<void> {
  const iterator = lines[Symbol.asyncIterator]();
  const stop = stopping.then(() => 'stop' as const);
  for (;;) {
    const next = await Promise.race([iterator.next(), stop]);
    if (next === 'stop' || next.done === true) break;
    if (!(await Promise.race([commands.run(next.value), stop.then(() => false)]))) break;
  }
  void iterator.return?.()?.catch(() => undefined);
}

function watch(client: LwM2mClient, print: Printer): void {
  // The URI of a server account (a bootstrap may have written it).
  const uriOf = (ssid: number): string =>
    client.accounts().find((a) => a.shortServerId === ssid)?.uri ?? `server ${ssid}`;
  client.on('registered', (info) => {
    const server = uriOf(info.shortServerId);
    const location = info.registrationId.startsWith('/') ? info.registrationId : `/rd/${info.registrationId}`;
    print.log('registered', `server=${server} location=${location} lwm2m=${info.version}`, {
      server,
      location,
      lwm2m: info.version,
    });
  });
  client.on('updated', (info) => {
    const server = uriOf(info.shortServerId);
    print.log('updated', `server=${server}`, { server });
  });
  client.on('deregistered', (info) => {
    const server = uriOf(info.shortServerId);
    print.log('deregistered', `server=${server}`, { server });
  });
  client.on('registration-failed', (info) =>
    print.fail(`registration with ${uriOf(info.shortServerId)} failed: ${info.reason}`),
  );
  client.on('request', (info) =>
    print.log('request', `${info.kind} ${info.path} ${info.code}`, {
      operation: info.kind,
      path: info.path,
      code: info.code,
    }),
  );
  client.on('sleeping', () => print.log('sleeping', '', {}));
  client.on('awake', () => print.log('awake', '', {}));
  client.on('provisioned', (info) =>
    print.log('provisioned', `from ${info.source}`, { source: info.source }),
  );
  client.on('bootstrap-requested', (info) =>
    print.log('bootstrap-requested', `by server ${info.shortServerId}`, { server: info.shortServerId }),
  );
  client.on('bootstrap-started', (info) =>
    print.log(
      'bootstrap',
      `started (${info.trigger}, ${info.mode === 'pack' ? 'Bootstrap-Pack' : 'Bootstrap-Request'})`,
      {
        trigger: info.trigger,
        mode: info.mode,
      },
    ),
  );
  client.on('bootstrap-pack-fallback', (info) =>
    print.log('bootstrap', `Pack refused (${info.code ?? info.reason}): Bootstrap-Request instead`, {
      ...info,
    }),
  );
  client.on('bootstrapped', (info) => {
    const servers = client.accounts().map((a) => `${a.shortServerId}=${a.uri}`);
    print.log('bootstrapped', `${info.mode} servers ${servers.join(' ') || '(none)'}`, { ...info, servers });
  });
  client.on('bootstrap-failed', (info) =>
    print.fail(`bootstrap failed (${info.reason}${info.code ? ` ${info.code}` : ''}): ${info.message}`),
  );
  client.on('secure-session-failed', (info) =>
    print.fail(
      `DTLS with ${info.shortServerId === 0 ? 'the Bootstrap-Server' : uriOf(info.shortServerId)} failed: ${info.message}${info.fatal ? ' (not retried)' : ''}`,
    ),
  );
  client.on('error', (e) => print.fail(e.message));
}

/**
 * `petrel client`: a simulated device (Device, Connectivity Monitoring, Location and a 3303
 * temperature sensor whose value moves) that registers with a server, logs what happens, and
 * takes interactive commands from stdin until `quit`, end of input, or SIGINT/SIGTERM.
 */
export function clientCommand(io: CliIo): Command {
  return new Command('client')
    .description('run a simulated LwM2M device against a server and take commands on stdin')
    .requiredOption('--endpoint <ep>', 'endpoint client name (ep=)')
    .option(
      '--server <uri>',
      'LwM2M server: coap://, coaps:// (DTLS), coap+tcp://, coaps+tcp:// (TLS), mqtt:// or mqtts:// host:port',
    )
    .option(
      '--bootstrap <uri>',
      'Bootstrap-Server account, coap:// or coaps:// (PSK below); bootstraps when no server works',
    )
    .option('--bootstrap-psk-identity <id>', 'coaps:// Bootstrap-Server PSK identity')
    .option('--bootstrap-psk-key <hex>', 'coaps:// Bootstrap-Server PSK in hex', pskKeyOption)
    .option('--pack', 'try Bootstrap-Pack-Request first (falls back to Bootstrap-Request)')
    .option(
      '--factory <file>',
      'factory configuration (the Bootstrap-Server JSON format) instead of --server/--bootstrap',
    )
    .option('--smartcard <file>', 'smartcard bootstrap data (SenML CBOR of /0 and /1), tried first')
    .option(
      '--state <file>',
      'keep /0, /1, /2 here across restarts (a bootstrapped device stays bootstrapped)',
    )
    .option(
      '--network-may-change <sources>',
      'sources whose /0 and /1 a network Bootstrap-Server may change: factory, smartcard',
      sourcesOption,
    )
    .option('--psk-identity <id>', 'coaps:// PSK identity (/0/x/3, UTF-8, up to 128 bytes)')
    .option('--psk-key <hex>', 'coaps:// pre-shared key in hex (/0/x/5, up to 64 bytes)', pskKeyOption)
    .option('--key <file>', 'coaps:// our P-256 private key, PEM or DER (/0/x/5): RPK, or X.509 with --cert')
    .option('--cert <file>', 'coaps:// X.509: our certificate, PEM or DER (/0/x/3)')
    .option('--server-key <file>', "coaps:// RPK: the server's public key, PEM or DER (/0/x/4)")
    .option('--server-cert <file>', 'coaps:// X.509: the server certificate or trust anchor (/0/x/4)')
    .option(
      '--cert-usage <0..3>',
      'coaps:// X.509 Certificate Usage (/0/x/15; default 3, domain-issued)',
      certUsageOption,
    )
    .option('--mqtt-prefix <prefix>', 'mqtt:// topic prefix: {prefix}/lwm2m/rd/{ep} (default none)')
    .option('--sni <name>', 'coaps:// server name to send (/0/x/14; default the URI host name)')
    .option('--lifetime <seconds>', 'registration lifetime', lifetimeSeconds, 300)
    .addOption(
      new Option('--lwm2m-version <version>', 'LwM2M version to register with (falls back on 4.12)')
        .choices(['1.2', '1.1', '1.0'])
        .default('1.2'),
    )
    .option('--queue-mode', 'register in queue mode (b=UQ / Q)')
    .option(
      '--profile-id <id>',
      "send a Profile ID: 'dynamic' or a pre-configured oma:… / v:… id",
      profileIdOption,
    )
    .option('--interval <seconds>', 'seconds between sensor measurements', intervalSeconds, 10)
    .option('--firmware-dir <dir>', 'enable Firmware Update (/5): keep the image and its state here')
    .option(
      '--firmware-trust <file>',
      'a release public key (PEM or DER; repeatable): install only packages (/5 and /9) signed by one of them',
      collect,
    )
    .option('--firmware-class <class>', 'the device class a firmware package must name')
    .option('--firmware-vendor <vendor>', 'the vendor a firmware package must name')
    .option(
      '--firmware-install-seconds <seconds>',
      'how long the simulated install takes before /3/0/3 shows the new version',
      firmwareSeconds,
      5,
    )
    .option('--firmware-defer <seconds>', 'defer each update once by this many seconds', firmwareSeconds)
    .option(
      '--software-dir <dir>',
      'enable Software Management (/9): keep packages and state here (signed packages only with --firmware-trust)',
    )
    .option('--software-components <n>', 'software components, /9/0 .. /9/n-1 (default 1)', softwareCount)
    .option('--quiet', 'print only command output and errors')
    .option('--json', 'print one JSON object per line')
    .option('--no-stdin', 'ignore standard input: run unattended until SIGINT/SIGTERM')
    .action((opts: ClientCommandOptions) => runClient(io, opts));
}

async function runClient(io: CliIo, opts: ClientCommandOptions): Promise<void> {
  const print = new Printer(io, opts.json === true, opts.quiet === true);
  if (
    opts.server === undefined &&
    opts.bootstrap === undefined &&
    opts.factory === undefined &&
    opts.smartcard === undefined &&
    opts.state === undefined
  )
    throw new CliError('give --server <uri>, or --bootstrap <uri> (or --factory, --smartcard, --state)');
  const security = securityFromFlags(opts);
  const bootstrapServer = bootstrapFromFlags(opts);
  const factoryConfig =
    opts.factory === undefined ? undefined : await readJsonFile('--factory', opts.factory);
  const target = opts.server ?? opts.bootstrap ?? '';
  const firmware = await firmwareFromFlags(opts);
  const software = softwareFromFlags(opts);
  const stopping = (io.shutdown ?? waitForSignal)();
  let socket: UdpChannel;
  try {
    socket = await UdpChannel.open({ address: bindAddressFor(target), port: 0 });
  } catch (e) {
    throw new CliError(`cannot open a UDP socket: ${errorText(e)}`, 1);
  }
  const power: Power = { on: true };
  const radio = new Radio(socket, power);
  const device = new SimulatedDevice({
    interval: opts.interval,
    ...(firmware ? { firmwareVersion: firmware.version } : {}),
  });
  let client: LwM2mClient;
  try {
    client = createSimulatedClient(device, {
      endpoint: opts.endpoint,
      ...(opts.server === undefined ? {} : { server: opts.server }),
      channel: radio,
      lifetime: opts.lifetime,
      lwm2mVersion: opts.lwm2mVersion,
      queueMode: opts.queueMode === true,
      ...(opts.profileId === undefined ? {} : { profileId: opts.profileId }),
      ...(security === undefined ? {} : { security }),
      ...(opts.mqttPrefix === undefined ? {} : { mqtt: { prefix: opts.mqttPrefix } }),
      ...(firmware ? { firmware: firmware.options() } : {}),
      ...(software ? { software } : {}),
      // Each DTLS session (a coaps:// server, given or bootstrapped) on its own socket; the radio
      // sits above DTLS, on the plaintext.
      secure: {
        secureTransport: () => UdpChannel.open({ address: bindAddressFor(target), port: 0 }),
        wrapSecureChannel: (channel: Channel) => new Radio(channel, power),
      },
      provisioning: {
        bootstrap: {
          ...(bootstrapServer ? { server: bootstrapServer } : {}),
          ...(opts.pack ? { packFirst: true } : {}),
          ...(opts.networkMayChange ? { policy: { networkMayChange: opts.networkMayChange } } : {}),
        },
        ...(factoryConfig === undefined ? {} : { factoryConfig }),
        ...(opts.smartcard === undefined ? {} : { smartcard: new FileSecureElement(opts.smartcard) }),
        ...(opts.state === undefined ? {} : { state: new FileClientStateStore(opts.state) }),
      },
    });
  } catch (e) {
    await radio.close();
    if (e instanceof PetrelError)
      throw new CliError(
        `cannot use ${opts.server === undefined ? `--bootstrap ${opts.bootstrap}` : `--server ${opts.server}`}: ${e.message}`,
        1,
      );
    throw e;
  }
  watch(client, print);
  watchFirmware(client, print);
  watchSoftware(client, print);
  try {
    await client.start();
  } catch (e) {
    await radio.close();
    throw new CliError(`cannot start the client: ${errorText(e)}`, 1);
  }
  const local = radio.local;
  if (security === undefined)
    print.log(
      'started',
      `ep=${opts.endpoint} lwm2m=${opts.lwm2mVersion} from ${local?.address ?? '?'}:${local?.port ?? '?'}`,
      { endpoint: opts.endpoint, lwm2m: opts.lwm2mVersion, address: local?.address, port: local?.port },
    );
  else {
    // Over coaps:// every DTLS session has a socket of its own.
    const mode = SECURITY_MODE_NAMES[security.securityMode] ?? String(security.securityMode);
    print.log('started', `ep=${opts.endpoint} lwm2m=${opts.lwm2mVersion} security=${mode}`, {
      endpoint: opts.endpoint,
      lwm2m: opts.lwm2mVersion,
      security: mode,
    });
  }
  device.startWith(client);
  const commands = new Commands(client, power, print, stopping);
  const { lines, close } = opts.stdin ? openLines(io) : { lines: noLines(), close: () => undefined };
  try {
    await readLoop(lines, commands, stopping);
  } finally {
    close();
    device.stop();
    await commands.settled(QUIT_SETTLE_MS);
    await client.stop();
    await radio.close();
    print.log('stopped', '', {});
  }
}
