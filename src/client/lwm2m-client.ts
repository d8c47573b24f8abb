import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { CoapClientBinding } from '../binding/coap/coap-client-binding.js';
import { systemClock } from '../clock.js';
import { DEFAULT_TRANSMISSION } from '../coap/transmission.js';
import type { TransmissionParameters } from '../coap/transmission.js';
import type { Clock } from '../clock.js';
import type { TimerQueue } from '../timer-queue.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import type { CodecRegistry } from '../content/codec-registry.js';
import { lookupContentFormat } from '../content/content-format.js';
import { PetrelError } from '../errors.js';
import type { ObjectDefinition, ObjectModel } from '../model/object-definition.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { Value } from '../model/data-types.js';
import type { RegistrationPayloadInput } from '../model/registration-payload.js';
import { BindingError } from '../binding/binding.js';
import type { ClientBinding, DownlinkAnswer, DownlinkSource } from '../binding/binding.js';
import { mqttSessionOptions, mqttTlsOptions } from './mqtt-session.js';
import type { DownlinkRequest, UplinkRequest, UplinkResponse } from '../operations/requests.js';
import type { LwM2mVersion } from '../operations/version.js';
import { isBootstrapOnlyObject } from '../operations/validation.js';
import { versionFeatures } from '../operations/version.js';
import { cryptoRandom } from '../random.js';
import type { RandomSource } from '../random.js';
import type { DtlsChannel, DtlsCommonOptions } from '../dtls/dtls-channel.js';
import { DtlsSessionError } from '../dtls/dtls-session-error.js';
import type { DtlsSessionFailure } from '../dtls/dtls-session-error.js';
import type { Channel, ConnectionChannel, Peer } from '../transport/channel.js';
import { peerKey } from '../transport/channel.js';
import { AccessControl } from './access-control.js';
import { BootstrapEngine } from './bootstrap-engine.js';
import type { BootstrapFailureReason, BootstrapTrigger } from './bootstrap-engine.js';
import { BootstrapSession } from './bootstrap-session.js';
import type { ProvisioningPolicy, ProvisioningSource } from './bootstrap-session.js';
import type { ClientStateStore } from './client-state.js';
import { factoryRecords, smartcardRecords } from './provisioning.js';
import type { SecureElement } from './provisioning.js';
import { createDeviceInstance, createSecurityInstance, createServerInstance } from './core-instances.js';
import type { DeviceInstanceOptions, SecurityInstanceOptions } from './core-instances.js';
import type { InstanceEnabler } from './instance.js';
import { MemoryInstance, type ResourceInput } from './instance.js';
import { NotificationEngine } from './notification-engine.js';
import type { NotificationDefaults } from './notification-engine.js';
import { ObjectTree } from './object-tree.js';
import type { ObjectTreeOptions } from './object-tree.js';
import { RegistrationEngine, RegistrationEngineError, UplinkRefusedError } from './registration-engine.js';
import type { RegistrationEngineEvents, ServerStatus } from './registration-engine.js';
import { RequestHandler } from './request-handler.js';
import type { RequestingServer } from './request-handler.js';
import {
  clientSecurity,
  isFatalAlert,
  parseServerAddress,
  type ClientSecurity,
  type ServerAddress,
  type ServerScheme,
  SecurityConfigError,
} from './security-credentials.js';
import type { SecurityResources } from './security-credentials.js';
import { dtlsClientOptions, securityFingerprint } from './secure-session.js';
import { tlsClientOptions } from './tls-credentials.js';
import {
  type BindingLetter,
  type TransportChoiceInput,
  chooseTransport,
  isBindingLetter,
  isTransportChoiceFailure,
  uriBinding,
} from './binding-choice.js';
import { STREAM_FRAME_LIMIT } from '../binding/coap/coap-stack.js';
import type { StreamLimits } from '../transport/stream-connections.js';
import { accountsFromRecords, bootstrapAccountFromRecords } from './server-account.js';
import type { Block1Sink } from '../coap/blockwise.js';
import type { CoapResponse } from '../coap/endpoint.js';
import { CoapCode, formatCode } from '../coap/message.js';
import type { CoapMessage } from '../coap/message.js';
import { contentFormat, getUint, OptionNumber, uriPath } from '../coap/options.js';
import type { BlockOption } from '../coap/options.js';
import { errorResponse } from '../binding/coap/error-response.js';
import { createCoapStack } from '../binding/coap/coap-stack.js';
import { FirmwareUpdateInstance } from './firmware/firmware-update-instance.js';
import type { FirmwareUpdateOptions } from './firmware/firmware-update-instance.js';
import type { CoapPullSession } from './firmware/coap-pull.js';
import { PullError } from './firmware/pull-transfer.js';
import { withUpdateDiagnostics } from './firmware/firmware-model.js';
import { UpdateDiagnosticsInstance } from './firmware/update-diagnostics-instance.js';
import { FileFirmwareStore } from './firmware/file-firmware-store.js';
import { SoftwareManagementInstance } from './software/software-management-instance.js';
import type { SoftwareManagementOptions } from './software/software-management-instance.js';
import { FileSoftwareStateStore } from './software/software-state-store.js';
import type { BootstrapAccount, ServerAccount } from './server-account.js';

/**
 * The (D)TLS credentials of a server account, written into its /0 instance (the client reads them
 * back from /0 when it connects). Resource ids: Transport TS §Security, LWM2M-1.2.md §4.1.
 */
export interface ServerSecurityConfig {
  /** /0/x/2: 0 PSK, 1 RPK, 2 Certificate, 3 NoSec (default). 4 (EST) is refused. */
  readonly securityMode: number;
  /** /0/x/3: PSK identity (a string is UTF-8), our SubjectPublicKeyInfo (RPK) or our certificate (DER). */
  readonly publicKeyOrIdentity?: Uint8Array | string;
  /** /0/x/4: the server's SubjectPublicKeyInfo (RPK), or its certificate / trust anchor (X.509). */
  readonly serverPublicKey?: Uint8Array;
  /** /0/x/5: the PSK, or our P-256 private key (RFC 5958 OneAsymmetricKey DER). */
  readonly secretKey?: Uint8Array;
  /** /0/x/13, /0/x/14, /0/x/15, /0/x/16. */
  readonly matchingType?: number;
  readonly sni?: string;
  readonly certificateUsage?: number;
  readonly cipherSuites?: readonly number[];
}

/** A LwM2M server the client registers with (it becomes a /0 + /1 instance pair). */
export interface ServerConfig {
  /**
   * `coap://` (NoSec), `coaps://` (DTLS 1.2), `coap+tcp://`, `coaps+tcp://` (TLS 1.2/1.3),
   * `host[:port]` with the scheme's default port.
   */
  readonly uri: string;
  /** The /0 security resources; required for coaps://, absent (NoSec) for coap://. */
  readonly security?: ServerSecurityConfig;
  /**
   * /0/x/25 Secondary LwM2M Server URIs: the same server over other schemes (e.g. `coap+tcp://`
   * next to `coap://`), with the same credentials. The binding rules pick among them.
   */
  readonly secondaryUris?: readonly string[];
  /**
   * The broker session of an `mqtt://`/`mqtts://` server, kept in a /24 MQTT Server instance that
   * /0/x/26 links: Client Identifier (/24/x/6; default the endpoint name), User Name, Password,
   * Keep Alive (s), Clean Session, and the Will.
   */
  readonly mqtt?: MqttServerConfig;
  /** Short Server ID (/1/x/0); default 1, 2, ... in order. */
  readonly shortServerId?: number;
  /** Seconds (/1/x/1); default 86400. */
  readonly lifetime?: number;
  /** /1/x/7; default the URI's binding (`U` for coap/coaps, `T` for coap+tcp/coaps+tcp). */
  readonly binding?: string;
  /** Register with `Q`. */
  readonly queueMode?: boolean;
  /** /1/x/23 Mute Send; default false here (absent would mean muted, Core §6.4.6). */
  readonly muteSend?: boolean;
  /** /1/x/2, /1/x/3: default pmin/pmax of observations. */
  readonly defaultMinPeriod?: number;
  readonly defaultMaxPeriod?: number;
  /** /1/x/13 Registration Priority Order and the other /1/x/14..20 resources, by resource id. */
  readonly values?: Readonly<Record<number, string | number | boolean>>;
}

/** /24 MQTT Server resources (Transport §MQTT). */
export interface MqttServerConfig {
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  readonly keepAlive?: number;
  readonly cleanSession?: boolean;
  readonly will?: {
    readonly topic: string;
    readonly message: string;
    readonly qos?: 0 | 1 | 2;
    readonly retain?: boolean;
  };
}

/** The Bootstrap-Server account a client is built with (it becomes a /0 instance with /0/x/1 true). */
export interface BootstrapServerConfig {
  /** `coap://host[:port]` or `coaps://host[:port]`. */
  readonly uri: string;
  readonly security?: ServerSecurityConfig;
  /** /0/x/11 Client Hold Off Time, s (default 0). */
  readonly holdOffTime?: number;
  /** /0/x/12 Bootstrap-Server Account Timeout, s (default 0 = kept). */
  readonly accountTimeout?: number;
}

/** How the client bootstraps (Core §6.1). */
export interface ClientBootstrapOptions {
  /** A Bootstrap-Server account the client starts with (part of its factory configuration). */
  readonly server?: BootstrapServerConfig;
  /** Try Bootstrap-Pack-Request (1.2) first; any error falls back to Bootstrap-Request. Default false. */
  readonly packFirst?: boolean;
  /** Accept of the Pack-Request (default 112 SenML CBOR). */
  readonly packFormat?: number;
  /** `pct` of Bootstrap-Request (default: SenML CBOR for 1.1+, none for 1.0). */
  readonly preferredFormat?: number;
  /** ms without a request from the Bootstrap-Server before the session fails (default 247 s). */
  readonly finishTimeout?: number;
  /** Back-off between failed bootstraps while no server works (ms; default 30 s doubling to 1 h). */
  readonly retry?: { readonly initial?: number; readonly max?: number };
  /** Which provisioned instances a network Bootstrap-Server may change (default: none). */
  readonly policy?: ProvisioningPolicy;
}

export interface LwM2mClientOptions {
  /** `ep`. */
  readonly endpoint: string;
  /** LwM2M Server accounts the client starts with (part of its factory configuration); may be empty. */
  readonly servers: readonly ServerConfig[];
  /** Bootstrap: the Bootstrap-Server account and how to use it. */
  readonly bootstrap?: ClientBootstrapOptions;
  /**
   * A factory configuration document (docs/bootstrap.md format: `servers`, `bootstrapServer`): used
   * instead of `servers`/`bootstrap.server` when no smartcard provisions the client.
   */
  readonly factoryConfig?: unknown;
  /** A smartcard: tried first (Core §6.1.4); its /0 and /1 replace the factory's. */
  readonly smartcard?: SecureElement;
  /**
   * Where the client keeps /0, /1 and /2 across restarts. With a saved state the client starts from
   * it (a bootstrapped device stays bootstrapped) instead of the smartcard or factory.
   */
  readonly state?: ClientStateStore;
  /** Object definitions; default: the built-in core objects. */
  readonly model?: ObjectModel;
  /** Device object values (/3/0). */
  readonly device?: DeviceInstanceOptions;
  /** More instances (application objects); their objects are announced in Register. */
  readonly instances?: readonly InstanceEnabler[];
  /** Run plain CoAP (coap://) over this channel (tests); default a UDP socket on an ephemeral port. */
  readonly channel?: Channel;
  readonly udp?: { readonly address?: string; readonly port?: number };
  /**
   * The datagram channel a coaps:// server's DTLS session runs over; called for every new
   * session (after a lost one the client starts over on a fresh channel), and closed with it.
   * Default: a UDP socket on an ephemeral port (on `udp.address` when set).
   */
  readonly secureTransport?: (server: { shortServerId: number; peer: Peer }) => Channel | Promise<Channel>;
  /** Wraps each DTLS channel before CoAP runs over it (e.g. a radio that can be switched off). */
  readonly wrapSecureChannel?: (channel: Channel, shortServerId: number) => Channel;
  /** DTLS settings (timing, limits, mtu); clock and random default to the client's. */
  readonly dtls?: Omit<DtlsCommonOptions, 'channel'>;
  /** TCP/TLS connection settings (coap+tcp://, coaps+tcp://): frame size, timeouts, buffers. */
  readonly stream?: { readonly limits?: StreamLimits };
  /**
   * MQTT binding settings the /24 object does not hold: the deployment's topic prefix
   * (`{prefix}/lwm2m/rd/{ep}`), the protocol version (4 = 3.1.1, default; 5), QoS (default 1).
   */
  readonly mqtt?: { readonly prefix?: string; readonly protocolVersion?: 4 | 5; readonly qos?: 0 | 1 };
  readonly clock?: Clock;
  /**
   * The timer queue of the notification engine (pmin/pmax timers), on `clock`; default one of
   * its own. A fleet shares one among its clients, so they all run on one host timer.
   */
  readonly timers?: TimerQueue;
  /** Content codecs; default a registry of every built-in format. A fleet shares one. */
  readonly codecs?: CodecRegistry;
  /** Wall-clock ms (historical notification times). */
  readonly now?: () => number;
  readonly random?: RandomSource;
  /** The enabler version to register with first (falls back on 4.12). Default 1.2. */
  readonly version?: LwM2mVersion;
  /** Profile ID: 'none' (default), 'dynamic' or a pre-configured `oma:…`/`v:…`. */
  readonly profileId?: string;
  /** Root-link content formats to announce (`ct=`). */
  readonly contentFormats?: readonly number[];
  /** Refuse a Create (DMSE-001): return a result code, e.g. '4.00' or '4.05'. */
  readonly onCreate?: ObjectTreeOptions['onCreate'];
  /** Refuse a Delete (DMSE-001). */
  readonly onDelete?: ObjectTreeOptions['onDelete'];
  /** Queue mode: ms of silence after which the client sleeps (Transport TS: 93 s). */
  readonly awakeTime?: number;
  /** CoAP transmission settings (tests shorten ACK_TIMEOUT). */
  readonly coap?: {
    readonly transmission?: Partial<TransmissionParameters>;
  };
  /**
   * Firmware Update (/5, docs/firmware-client.md): installs the /5/0 instance, streams Block1
   * pushes to /5/0/0 into its store and pulls /5/0/1 URIs over CoAP, CoAP/TCP and HTTP(S).
   */
  readonly firmware?: FirmwareUpdateOptions;
  /**
   * Software Management (/9, docs/software-client.md): one /9 instance per software component,
   * pushes to /9/x/2 streamed like /5/0/0, pulls of /9/x/3 URIs over the /5 schemes.
   */
  readonly software?: SoftwareManagementOptions;
}

export interface LwM2mClientEvents {
  registered: [info: { shortServerId: number; registrationId: string; version: LwM2mVersion }];
  updated: [info: { shortServerId: number }];
  deregistered: [info: { shortServerId: number }];
  'registration-failed': [info: { shortServerId: number; reason: string }];
  /** Every request a server made and the code it got. */
  request: [
    info: { shortServerId: number | undefined; kind: DownlinkRequest['kind']; path: string; code: string },
  ];
  'bootstrap-requested': [info: { shortServerId: number }];
  /** A client-initiated bootstrap started (Pack-Request or Bootstrap-Request). */
  'bootstrap-started': [info: { trigger: BootstrapTrigger; mode: 'request' | 'pack' }];
  /** A Bootstrap-Pack-Request failed (error code, unusable Pack, no answer): Bootstrap-Request follows. */
  'bootstrap-pack-fallback': [info: { code: string | undefined; reason: string }];
  /** A bootstrap completed and its configuration is in use. */
  bootstrapped: [info: { trigger: BootstrapTrigger; mode: 'request' | 'pack' }];
  'bootstrap-failed': [
    info: { trigger: BootstrapTrigger; reason: BootstrapFailureReason; code?: string; message: string },
  ];
  /** Where the /0 and /1 instances came from at start (the saved state counts as 'state'). */
  provisioned: [info: { source: ProvisioningSource | 'state' | 'options' }];
  /**
   * A DTLS handshake or session with a coaps:// server failed. The request in flight fails; the
   * registration engine retries after its back-off, or gives up at once when `fatal` (a "Fail"
   * alert of Transport TS §Security, e.g. 115 unknown_psk_identity).
   */
  'secure-session-failed': [
    info: {
      shortServerId: number;
      failure: DtlsSessionFailure;
      alert: number | undefined;
      fatal: boolean;
      message: string;
    },
  ];
  sleeping: [];
  awake: [];
  error: [error: Error];
}

export type LwM2mClientErrorReason =
  | 'bad-uri'
  | 'not-registered'
  | 'send-muted'
  | 'send-failed'
  | 'not-started'
  | 'secure-session-failed'
  | 'bad-state';

export class LwM2mClientError extends PetrelError {
  readonly reason: LwM2mClientErrorReason;
  constructor(reason: LwM2mClientErrorReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_CLIENT_${reason.toUpperCase().replaceAll('-', '_')}`, message, options);
    this.reason = reason;
  }
}

/**
 * Server URIs parsed before, and NoSec URIs whose /0 check passed: a fleet process builds
 * thousands of clients of one server, and each uplink looks its URI up again. Bounded: cleared
 * when full.
 */
const parsedUris = new Map<string, ServerAddress>();
const checkedNoSecUris = new Set<string>();
const URI_MEMO_LIMIT = 256;

/** `coap://host:port` → scheme, host and port (defaults by scheme: DEFAULT_PORTS). */
function parseServerUri(uri: string): ServerAddress {
  const known = parsedUris.get(uri);
  if (known !== undefined) return known;
  let address: ServerAddress;
  try {
    address = Object.freeze(parseServerAddress(uri));
  } catch (e) {
    throw new LwM2mClientError('bad-uri', e instanceof Error ? e.message : String(e), { cause: e });
  }
  if (parsedUris.size >= URI_MEMO_LIMIT) parsedUris.clear();
  parsedUris.set(uri, address);
  return address;
}

/**
 * The transport session with one server over anything but plain coap://: DTLS (coaps://), a TCP
 * or TLS connection (coap+tcp://, coaps+tcp://): its own channel and CoAP binding.
 */
interface SecureSession {
  readonly fingerprint: string;
  readonly binding: ClientBinding;
  /** The DTLS channel (coaps://); undefined on the stream schemes. */
  readonly dtls: DtlsChannel | undefined;
  /** Why it ended, when a handshake or the session failed. */
  failure: DtlsSessionError | undefined;
  /** The server ended it with close_notify (a restart, an idle timeout on its side). */
  peerClosed: boolean;
  closed: boolean;
}

/** A server's dropped connections (#scheduleReconnect). */
interface ReconnectState {
  /** Clock ms of the last drop, and the drops that came each within a minute of the one before. */
  readonly at: number;
  readonly drops: number;
  timer: ReturnType<Clock['setTimeout']> | undefined;
}

/** The accounts /0 and /1 hold, as last read. */
interface AccountsSnapshot {
  readonly servers: readonly ServerAccount[];
  readonly bootstrap: BootstrapAccount | undefined;
}

/**
 * The key of the Bootstrap-Server in the per-server maps (peers, DTLS sessions). Short Server ID 0
 * is reserved (Core: /1/x/0 is 1..65534), so it names no LwM2M Server.
 */
const BOOTSTRAP_KEY = 0;
/** The objects a client state keeps (Security, Server, Access Control). */
const STATE_OBJECTS: readonly number[] = [0, 1, 2];

/** A client keeps its DTLS sessions for as long as it is registered (the server may call in). */
const CLIENT_DTLS_IDLE_MS = 24 * 3600_000;

/**
 * The reconnect Update after a dropped TCP/TLS connection: its jitter window in units of
 * ACK_TIMEOUT (0.5-2 s with the default 2 s), and its back-off.
 */
const RECONNECT_MIN_ACK_TIMEOUTS = 0.25;
const RECONNECT_MAX_ACK_TIMEOUTS = 1;
const RECONNECT_MAX_DOUBLINGS = 6;
const RECONNECT_RESET_MS = 60_000;

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/**
 * The LwM2M client (Core §6): an object tree answering the server's operations, a registration
 * engine that decides where and when to register, a notification engine, and Send. It speaks only
 * in operations; the CoAP binding owns the wire.
 */
export class LwM2mClient extends EventEmitter<LwM2mClientEvents> {
  readonly tree: ObjectTree;
  readonly model: ObjectModel;
  readonly codecs: CodecRegistry;
  readonly access: AccessControl;
  readonly notifications: NotificationEngine;
  readonly registration: RegistrationEngine;
  readonly bootstrap: BootstrapEngine;
  /** The /5/0 instance, when the `firmware` option is given. */
  readonly firmware: FirmwareUpdateInstance | undefined;
  /** /33000/0 Petrel Update Diagnostics for /5/0 (with `firmware`). */
  readonly firmwareDiagnostics: UpdateDiagnosticsInstance | undefined;
  /** The /9 instances by instance id, with the `software` option. */
  readonly software: ReadonlyMap<number, SoftwareManagementInstance>;
  readonly #options: LwM2mClientOptions;
  /** Source of each /0 and /1 instance a smartcard or the factory provisioned (`/o/i`). */
  readonly #sources = new Map<string, ProvisioningSource>();
  /** Saves run one after another; the last one always sees the newest tree. */
  #saving: Promise<void> = Promise.resolve();
  #saveQueued = false;
  #accountTimer: ReturnType<Clock['setTimeout']> | undefined;
  /** True while a committed bootstrap is being applied (the tree listener leaves it to that). */
  #committing = false;
  readonly #clock: Clock;
  readonly #handler: RequestHandler;
  #binding: CoapClientBinding | undefined;
  #ownedChannel: Channel | undefined;
  /**
   * DTLS sessions by Short Server ID (coaps:// servers), and those being opened. The maps few
   * clients ever fill (#opening, #settling, #bindingOverride) are made at first use: a fleet
   * process holds thousands of clients.
   */
  readonly #secure = new Map<number, SecureSession>();
  #opening: Map<number, Promise<SecureSession>> | undefined;
  /** Server peers resolved from their URIs, by Short Server ID, and back. */
  readonly #peers = new Map<number, { uri: string; peer: Peer }>();
  /** One wait per server for a registration in flight, shared by every request that arrives meanwhile. */
  #settling: Map<number, Promise<void>> | undefined;
  readonly #byPeer = new Map<string, number>();
  /** The URI (and binding) each server's transport session uses, by Short Server ID. */
  readonly #chosen = new Map<number, { uri: string; letter: BindingLetter }>();
  /** A Registration Update Trigger's binding argument, for the next transport session only. */
  #bindingOverride: Map<number, BindingLetter> | undefined;
  #awakeTimer: ReturnType<Clock['setTimeout']> | undefined;
  /**
   * By Short Server ID: when its TCP/TLS connection last dropped, how many drops came in a row,
   * and the pending reconnect Update. Made at the first drop (most clients never see one).
   */
  #reconnects: Map<number, ReconnectState> | undefined;
  #started = false;
  /** accounts() and bootstrapAccount() as last built (undefined: /0 or /1 changed since). */
  #accountsCache: AccountsSnapshot | undefined;
  /** The server that last wrote to /5 (whose /0 credentials protect a coaps:// pull). */
  #firmwareWriter: number | undefined;
  /** A firmware failure no registered server has been told of yet (reported at the next Register). */
  #firmwareReportPending = false;
  /** The server that last wrote to /9 (whose /0 credentials protect a coaps:// pull). */
  #softwareWriter: number | undefined;

  constructor(options: LwM2mClientOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const model = options.model ?? createDefaultRegistry();
    // Firmware: the client's own object 33000 (Petrel Update Diagnostics) is known to its model.
    this.model = options.firmware ? withUpdateDiagnostics(model) : model;
    this.codecs = options.codecs ?? createCodecRegistry();
    this.tree = new ObjectTree({
      model: this.model,
      onListenerError: (e) => this.#error(e),
      ...(options.onCreate ? { onCreate: options.onCreate } : {}),
      ...(options.onDelete ? { onDelete: options.onDelete } : {}),
    });
    // First listener: the others (registration, saving) read the accounts afresh.
    this.tree.onChange((paths) => {
      if (paths.some((p) => p.objectId === undefined || p.objectId === 0 || p.objectId === 1))
        this.#accountsCache = undefined;
    });
    this.tree.addObject(0);
    this.tree.addObject(1, { factory: (iid, records, def) => this.#serverInstance(iid, records, def) });
    for (const [i, server] of options.servers.entries()) this.#addServer(server, i);
    if (options.bootstrap?.server) this.#addBootstrapServer(options.bootstrap.server);
    for (const oid of [0, 1])
      for (const iid of this.tree.instanceIds(oid)) this.#sources.set(`/${oid}/${iid}`, 'factory');
    this.tree.addInstance(createDeviceInstance(options.device));
    this.firmware = options.firmware && this.#firmwareInstance(options.firmware);
    if (this.firmware) this.tree.addInstance(this.firmware);
    this.firmwareDiagnostics = this.firmware && this.#firmwareDiagnostics(this.firmware);
    this.software = this.#softwareInstances(options.software);
    for (const instance of this.software.values()) this.tree.addInstance(instance);
    for (const instance of options.instances ?? []) {
      if (!this.tree.hasObject(instance.objectId)) this.tree.addObject(instance.objectId);
      this.tree.addInstance(instance);
    }
    this.access = new AccessControl(this.tree);
    this.notifications = new NotificationEngine({
      clock: this.#clock,
      wallClock: options.now ?? Date.now,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    this.#handler = new RequestHandler({
      tree: this.tree,
      model: this.model,
      access: this.access,
      attributes: this.notifications.attributes,
      notifications: this.notifications,
      onError: (e) => this.#error(e),
    });
    this.registration = new RegistrationEngine({
      clock: this.#clock,
      endpoint: options.endpoint,
      accounts: () => this.accounts(),
      objects: () => this.#objects(),
      send: (account, request) => this.#sendRegistration(account, request),
      ...(options.version ? { preferredVersion: options.version } : {}),
      ...(options.profileId ? { profileId: options.profileId } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    // TRAN-BIND: a Registration Update Trigger's binding is for the next connection only; its
    // Update goes out over it (a different binding drops the current connection first).
    this.registration.on('binding-requested', ({ shortServerId, binding }) => {
      if (isBindingLetter(binding)) (this.#bindingOverride ??= new Map()).set(shortServerId, binding);
    });
    const pct = options.bootstrap?.preferredFormat ?? defaultPct(options.version);
    this.bootstrap = new BootstrapEngine({
      clock: this.#clock,
      endpoint: options.endpoint,
      account: () => this.bootstrapAccount(),
      send: (request) => this.#bootstrapUplink(request),
      openSession: () =>
        new BootstrapSession({
          tree: this.tree,
          lwm2mVersion: options.version ?? '1.2',
          sourceOf: (oid, iid) => this.#sources.get(`/${oid}/${iid}`),
          ...(pct === undefined ? {} : { readFormat: pct }),
          ...(options.bootstrap?.policy ? { policy: options.bootstrap.policy } : {}),
        }),
      onCommitted: (session) => this.#bootstrapCommitted(session),
      ...(options.bootstrap?.packFirst ? { packFirst: true } : {}),
      ...(options.bootstrap?.packFormat === undefined ? {} : { packFormat: options.bootstrap.packFormat }),
      ...(pct === undefined ? {} : { preferredFormat: pct }),
      packAccounts: () => {
        const bs = this.bootstrapAccount();
        return bs ? [LwM2mPath.of(0, bs.instanceId)] : undefined;
      },
      ...(options.bootstrap?.finishTimeout === undefined
        ? {}
        : { finishTimeout: options.bootstrap.finishTimeout }),
      ...(options.bootstrap?.retry ? { retry: options.bootstrap.retry } : {}),
    });
    this.bootstrap.on('started', (info) => this.emit('bootstrap-started', info));
    this.bootstrap.on('succeeded', (info) => this.emit('bootstrapped', info));
    this.bootstrap.on('failed', (info) => this.emit('bootstrap-failed', info));
    this.bootstrap.on('pack-fallback', (info) => this.emit('bootstrap-pack-fallback', info));
    this.bootstrap.on('error', (e) => this.#error(e));
    this.#forward('bootstrap-needed', () => {
      if (this.#started) void this.bootstrap.request('registration-failed');
    });
    this.#forward('registered', (info) => this.emit('registered', info));
    this.#forward('updated', (info) => this.emit('updated', { shortServerId: info.shortServerId }));
    this.#forward('deregistered', (info) => this.emit('deregistered', { shortServerId: info.shortServerId }));
    // Observations are void once a registration ends, however it ended: De-register (answered or
    // not), Disable, a failed Update followed by a new Register (Core §6.4).
    this.#forward('state', (change) => {
      if (change.from === 'registered' && change.to !== 'registered')
        this.#handler.endServer(change.shortServerId);
    });
    this.#forward('failed', (info) =>
      this.emit('registration-failed', {
        shortServerId: info.shortServerId,
        reason: `${info.failure.code}: ${info.failure.message}`,
      }),
    );
    this.#forward('error', (e) => this.#error(e));
    this.tree.onChange((paths, kind) => {
      if (kind === 'values') this.notifications.changed(paths);
      // A bootstrap session's changes count only once it commits (#bootstrapCommitted acts on them).
      if (!this.#started || this.bootstrap.inSession || this.#committing) return;
      if (paths.some((p) => p.objectId !== undefined && STATE_OBJECTS.includes(p.objectId))) this.#save();
      if (kind === 'structure') void this.registration.objectsChanged().catch((e: unknown) => this.#error(e));
      // A write to /0 or /1 (URI, lifetime, binding) changes a registration: Update, or a
      // Register with the new server (Core §6.2.2).
      else if (paths.some((p) => p.objectId === 0 || p.objectId === 1))
        void this.registration.accountsChanged().catch((e: unknown) => this.#error(e));
      // New default pmin/pmax (/1/x/2, /1/x/3) reach running observations.
      if (paths.some((p) => p.objectId === 1 && (p.resourceId === 2 || p.resourceId === 3)))
        this.notifications.attributesChanged();
    });
  }

  /**
   * The server accounts the tree holds now (/0 + /1). Built once and kept until /0 or /1 changes
   * (the tree reports every change: writes, creates, deletes, application `set`s): the queue-mode
   * check runs on every request and Block1 block.
   */
  accounts(): ServerAccount[] {
    return [...this.#accountsNow().servers];
  }

  /** The Bootstrap-Server account the tree holds now, if any (kept like accounts()). */
  bootstrapAccount(): BootstrapAccount | undefined {
    return this.#accountsNow().bootstrap;
  }

  /** Both kinds of account, from one read of /0 and /1 (kept until either changes). */
  #accountsNow(): AccountsSnapshot {
    if (this.#accountsCache === undefined) {
      const security = this.tree.read(LwM2mPath.of(0));
      const server = this.tree.read(LwM2mPath.of(1));
      const records = [...(security.ok ? security.value : []), ...(server.ok ? server.value : [])];
      this.#accountsCache = {
        servers: accountsFromRecords(records),
        bootstrap: security.ok ? bootstrapAccountFromRecords(security.value) : undefined,
      };
    }
    return this.#accountsCache;
  }

  /** Where the client's socket is bound (after start). */
  get address(): { address: string; port: number } | undefined {
    return (this.#ownedChannel ?? this.#options.channel)?.local;
  }

  status(shortServerId: number): ServerStatus | undefined {
    return this.registration.status(shortServerId);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    await this.#provision();
    let channel = this.#options.channel;
    if (!channel) {
      const { UdpChannel } = await import('../transport/udp-channel.js');
      channel = await UdpChannel.open({
        address: this.#options.udp?.address ?? '0.0.0.0',
        port: this.#options.udp?.port ?? 0,
      });
      this.#ownedChannel = channel;
    }
    for (const account of this.accounts()) await this.#resolve(account);
    const binding = this.#newBinding(channel);
    this.#binding = binding;
    this.#started = true;
    await this.firmware?.start();
    for (const instance of this.software.values()) await instance.start();
    this.registration.start();
    this.#scheduleAccountTimeout();
    // Core §6.1.4: with no LwM2M Server account, Client-Initiated Bootstrap.
    if (this.accounts().length === 0) void this.bootstrap.request('no-servers');
  }

  /** Starts a Client-Initiated Bootstrap now (or joins the one running); true when it succeeded. */
  requestBootstrap(): Promise<boolean> {
    this.#requireBinding();
    return this.bootstrap.request('application');
  }

  /** De-registers from every server and closes the socket. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    if (this.#awakeTimer) this.#clock.clearTimeout(this.#awakeTimer);
    if (this.#accountTimer) this.#clock.clearTimeout(this.#accountTimer);
    this.#cancelReconnects();
    this.bootstrap.stop();
    // De-register while the binding is still up; only then refuse further work.
    await this.registration.stop();
    this.#started = false;
    await this.firmware?.close();
    for (const instance of this.software.values()) await instance.close();
    this.notifications.close();
    await Promise.all([...(this.#opening?.values() ?? [])].map((p) => p.catch(() => undefined)));
    await Promise.all(
      [...this.#secure.entries()].map(([ssid, session]) => this.#closeSession(ssid, session)),
    );
    await this.#binding?.close();
    await this.#ownedChannel?.close();
    await this.#saving;
  }

  /** Sets a resource value from the application side (notifications follow). */
  set(path: string | LwM2mPath, value: string | number | boolean | bigint | Uint8Array): void {
    const p = typeof path === 'string' ? LwM2mPath.parse(path) : path;
    const instance = this.tree.instance(p.objectId!, p.instanceId!);
    if (!(instance instanceof MemoryInstance))
      throw new LwM2mClientError('not-started', `${p.toString()} is not a value this client holds in memory`);
    instance.set(p, value);
  }

  /** Reads values from the tree, as the application sees them. */
  read(path: string | LwM2mPath): LwM2mRecord[] {
    const result = this.tree.read(typeof path === 'string' ? LwM2mPath.parse(path) : path);
    return result.ok ? result.value : [];
  }

  /**
   * Send (Core §6.4.6): reports `paths` to a server (the first registered one by default) with
   * POST /dp. Refused locally when that server's Mute Send (/1/x/23) is true or absent.
   */
  async send(
    paths: readonly (string | LwM2mPath)[],
    options: { shortServerId?: number; format?: string | number } = {},
  ): Promise<UplinkResponse> {
    this.#requireBinding();
    const account = this.#account(options.shortServerId);
    const version = this.registration.versionFor(account.shortServerId) ?? '1.2';
    if (!versionFeatures(version).send)
      throw new LwM2mClientError(
        'send-failed',
        `Send is a LwM2M 1.1 feature; this registration is ${version}`,
      );
    if (account.muteSend !== false)
      throw new LwM2mClientError(
        'send-muted',
        `Mute Send of server ${account.shortServerId} is on (/1/x/23)`,
      );
    const records = this.tree.readComposite(
      paths.map((p) => (typeof p === 'string' ? LwM2mPath.parse(p) : p)),
      {
        filter: (oid, iid) =>
          !isBootstrapOnlyObject(oid) && this.access.allows(account.shortServerId, 'read', oid, iid),
      },
    );
    const format = lookupContentFormat(
      options.format ?? (versionFeatures(version).cbor ? 'senml-cbor' : 'senml-json'),
    );
    if (!format)
      throw new LwM2mClientError('send-failed', `unknown content format ${String(options.format)}`);
    return this.#uplink(account, { kind: 'send', format: format.id, records }, version);
  }

  /** Sends a registration Update to one server (or all). */
  update(shortServerId?: number): Promise<void> {
    return this.registration.update(shortServerId);
  }

  /** De-registers from one server (or all) without stopping. */
  deregister(shortServerId?: number): Promise<void> {
    return this.registration.deregister(shortServerId);
  }

  /** Queue mode by hand: go quiet now / wake with an Update. */
  sleep(): void {
    this.registration.sleep();
    this.#cancelReconnects();
    for (const account of this.accounts()) this.notifications.setOnline(account.shortServerId, false);
    // Queue mode over TCP/TLS: the connection is closed while the radio sleeps (a NAT would drop
    // it anyway); the Update that wakes the client dials a new one (Transport §Queue Mode).
    for (const [ssid, session] of this.#secure)
      if (session.dtls === undefined) void this.#closeSession(ssid, session);
    this.emit('sleeping');
  }

  async wake(): Promise<void> {
    for (const account of this.accounts()) this.notifications.setOnline(account.shortServerId, true);
    this.emit('awake');
    await this.registration.wake();
  }

  // ---- internals ----

  #forward<K extends keyof RegistrationEngineEvents>(
    event: K,
    listener: (...args: RegistrationEngineEvents[K]) => void,
  ): void {
    (this.registration.on as (e: K, l: (...args: RegistrationEngineEvents[K]) => void) => unknown)(
      event,
      listener,
    );
  }

  #addServer(server: ServerConfig, index: number): void {
    const ssid = server.shortServerId ?? index + 1;
    for (const uri of server.secondaryUris ?? []) parseServerUri(uri);
    const mqttInstance = server.mqtt ? this.#addMqttServerInstance(server.mqtt) : undefined;
    const values: Record<number, ResourceInput> = {};
    if (server.secondaryUris?.length) values[25] = [...server.secondaryUris];
    if (mqttInstance !== undefined) values[26] = Value.objlnk(24, mqttInstance);
    this.#addSecurityInstance(server.uri, server.security, { shortServerId: ssid, values });
    const instance = createServerInstance({
      instanceId: this.#freeInstanceId(1),
      shortServerId: ssid,
      ...(server.lifetime === undefined ? {} : { lifetime: server.lifetime }),
      binding: (server.binding ?? uriBinding(server.uri) ?? 'U') + (server.queueMode ? 'Q' : ''),
      ...(server.defaultMinPeriod === undefined ? {} : { defaultMinPeriod: server.defaultMinPeriod }),
      ...(server.defaultMaxPeriod === undefined ? {} : { defaultMaxPeriod: server.defaultMaxPeriod }),
      values: { 23: server.muteSend ?? false, ...(server.values ?? {}) },
    });
    this.tree.addInstance(this.#withServerHandlers(instance));
  }

  #addBootstrapServer(server: BootstrapServerConfig): void {
    this.#addSecurityInstance(server.uri, server.security, {
      bootstrapServer: true,
      ...(server.holdOffTime === undefined ? {} : { clientHoldOffTime: server.holdOffTime }),
      ...(server.accountTimeout === undefined ? {} : { values: { 12: server.accountTimeout } }),
    });
  }

  /** A /24 MQTT Server instance; returns its id. */
  #addMqttServerInstance(config: MqttServerConfig): number {
    const instanceId = this.#freeInstanceId(24);
    if (!this.tree.hasObject(24)) this.tree.addObject(24);
    const instance = new MemoryInstance(this.model.object(24), 24, instanceId);
    const values: Record<number, ResourceInput | undefined> = {
      0: config.will?.retain,
      1: config.will?.topic,
      2: config.will?.message,
      3: config.cleanSession,
      4: config.will?.qos,
      5: config.keepAlive,
      6: config.clientId,
      7: config.username,
      8: typeof config.password === 'string' ? new TextEncoder().encode(config.password) : config.password,
    };
    for (const [rid, value] of Object.entries(values))
      if (value !== undefined) instance.set(Number(rid), value);
    this.tree.addInstance(instance);
    return instanceId;
  }

  /** A /0 instance; what a handshake could never use is refused at once (the check runs at every connect too). */
  #addSecurityInstance(
    uri: string,
    config: ServerSecurityConfig | undefined,
    extra: Omit<SecurityInstanceOptions, 'serverUri' | 'instanceId'>,
  ): void {
    parseServerUri(uri);
    const security = securityInstanceValues(config);
    if (config !== undefined || !checkedNoSecUris.has(uri)) {
      const checked = clientSecurity(uri, security);
      if (checked.kind === 'dtls') dtlsClientOptions(checked);
      else if (config === undefined) {
        if (checkedNoSecUris.size >= URI_MEMO_LIMIT) checkedNoSecUris.clear();
        checkedNoSecUris.add(uri);
      }
    }
    this.tree.addInstance(
      createSecurityInstance({ instanceId: this.#freeInstanceId(0), serverUri: uri, ...security, ...extra }),
    );
  }

  #freeInstanceId(objectId: number): number {
    const used = new Set(this.tree.instanceIds(objectId));
    let id = 0;
    while (used.has(id)) id++;
    return id;
  }

  /** A /1 instance a Bootstrap-Write, a Pack or a saved state brings. */
  #serverInstance(
    instanceId: number,
    records: readonly LwM2mRecord[],
    definition: ObjectDefinition | undefined,
  ): MemoryInstance {
    return this.#withServerHandlers(new MemoryInstance(definition, 1, instanceId, records));
  }

  /**
   * Disable, Registration Update Trigger and Bootstrap-Request Trigger of a /1 instance. The Short
   * Server ID is read when the Execute arrives: a bootstrap may have rewritten it.
   */
  #withServerHandlers(instance: MemoryInstance): MemoryInstance {
    const ssidNow = (): number | undefined => {
      const v = instance.get(0)?.value;
      return typeof v === 'number' ? v : undefined;
    };
    return instance
      .onExecute(4, () => {
        const ssid = ssidNow();
        // After the Execute's answer has left: De-register, then stay silent (Core §6.2.1 Disable).
        if (ssid !== undefined)
          setImmediate(() => void this.registration.disable(ssid).catch((e: unknown) => this.#error(e)));
        return { ok: true, value: undefined };
      })
      .onExecute(8, (args) => {
        const ssid = ssidNow();
        if (ssid === undefined) return { ok: true, value: undefined };
        const binding = args.find((a) => a.digit === 0)?.value;
        // The client MUST send an Update; a binding it cannot use is ignored (TRAN-BIND-003).
        setImmediate(
          () =>
            void this.registration
              .registrationUpdateTrigger(ssid, binding)
              .catch((e: unknown) => {
                if (
                  binding !== undefined &&
                  e instanceof RegistrationEngineError &&
                  e.reason === 'bad-binding'
                )
                  return this.registration.registrationUpdateTrigger(ssid);
                throw e;
              })
              .catch((e: unknown) => this.#error(e)),
        );
        return { ok: true, value: undefined };
      })
      .onExecute(9, () => {
        const ssid = ssidNow() ?? 0;
        // Server-Initiated Bootstrap (Core §6.1.4): the answer first, then a Client-Initiated one.
        setImmediate(() => {
          this.emit('bootstrap-requested', { shortServerId: ssid });
          void this.bootstrap.request('server-initiated');
        });
        return { ok: true, value: undefined };
      });
  }

  #newBinding(channel: Channel): CoapClientBinding {
    const binding = new CoapClientBinding({
      channel,
      codecs: this.codecs,
      model: this.model,
      clock: this.#clock,
      random: this.#options.random ?? cryptoRandom,
      ...(this.#options.coap?.transmission ? { transmission: this.#options.coap.transmission } : {}),
      ...(this.firmware || this.software.size > 0
        ? { blockwise: { block1Sink: (peer, message, block) => this.#packageBlock1(peer, message, block) } }
        : {}),
      isBootstrapServer: (peer) => this.#byPeer.get(peerKey(peer)) === BOOTSTRAP_KEY,
      onError: (e) => this.#error(e),
    });
    binding.onDownlink((request, source) => this.#onDownlink(request, source));
    return binding;
  }

  // ---- firmware update (/5) ----

  #firmwareInstance(options: FirmwareUpdateOptions): FirmwareUpdateInstance {
    const wallClock = this.#options.now ?? Date.now;
    return new FirmwareUpdateInstance({
      ...options,
      clock: this.#clock,
      now: () => Math.floor(wallClock() / 1000),
      coap: {
        schemes: ['coap:', 'coaps:', 'coap+tcp:', 'coaps+tcp:'],
        open: (uri) => this.#coapPullSession(uri, this.#firmwareWriter),
      },
      onInstalled: (version) => {
        const device = this.tree.instance(3, 0);
        if (version !== undefined && device instanceof MemoryInstance) device.set(3, version);
      },
      onError: (e) => this.#error(e),
    });
  }

  /**
   * /33000/0 for /5/0, reported with Send (Core §6.4.6) to the server that last wrote to /5 (else
   * the first registered one whose Mute Send is off) when a download or update fails; with every
   * server muted it stays readable and observable, and a failure seen before any registration is
   * reported at the next one.
   */
  #firmwareDiagnostics(firmware: FirmwareUpdateInstance): UpdateDiagnosticsInstance {
    const diagnostics = new UpdateDiagnosticsInstance(firmware);
    this.tree.addInstance(diagnostics);
    if (this.#options.firmware?.reportFailures !== false) {
      // The instance records a failure before it changes State: report once State is Idle again.
      firmware.onDiagnostics((failure) => {
        if (failure) queueMicrotask(() => void this.#reportFirmwareFailure());
      });
      this.on('registered', () => {
        if (this.#firmwareReportPending) void this.#reportFirmwareFailure();
      });
    }
    return diagnostics;
  }

  async #reportFirmwareFailure(): Promise<void> {
    const diagnostics = this.firmwareDiagnostics;
    if (!diagnostics || !this.#started) {
      this.#firmwareReportPending = true;
      return;
    }
    const candidates = this.accounts().filter(
      (a) => a.muteSend === false && this.registration.state(a.shortServerId) === 'registered',
    );
    const account = candidates.find((a) => a.shortServerId === this.#firmwareWriter) ?? candidates[0];
    this.#firmwareReportPending = account === undefined;
    if (!account) return;
    try {
      await this.send(['/5/0/3', '/5/0/5', diagnostics.path], { shortServerId: account.shortServerId });
    } catch {
      // A 1.0 registration, no answer: the object stays readable and observable.
    }
  }

  // ---- software management (/9) ----

  #softwareInstances(
    options: SoftwareManagementOptions | undefined,
  ): Map<number, SoftwareManagementInstance> {
    const instances = new Map<number, SoftwareManagementInstance>();
    if (!options) return instances;
    const wallClock = this.#options.now ?? Date.now;
    const { packages, directory, verifier, ...common } = options;
    for (const pkg of packages) {
      const dir = directory === undefined ? undefined : join(directory, String(pkg.instanceId));
      const store = pkg.store ?? (dir === undefined ? undefined : new FileFirmwareStore({ directory: dir }));
      const pkgVerifier = pkg.verifier ?? verifier;
      instances.set(
        pkg.instanceId,
        new SoftwareManagementInstance({
          ...common,
          instanceId: pkg.instanceId,
          ...(store ? { store } : {}),
          ...(dir === undefined
            ? {}
            : { stateStore: new FileSoftwareStateStore(join(dir, 'software-state.json')) }),
          ...(pkgVerifier ? { verifier: pkgVerifier } : {}),
          ...(pkg.installed ? { installed: pkg.installed } : {}),
          clock: this.#clock,
          now: () => Math.floor(wallClock() / 1000),
          coap: {
            schemes: ['coap:', 'coaps:', 'coap+tcp:', 'coaps+tcp:'],
            open: (uri) => this.#coapPullSession(uri, this.#softwareWriter),
          },
          onObjectsChanged: () =>
            void this.registration.objectsChanged().catch((e: unknown) => this.#error(e)),
          onError: (e) => this.#error(e),
        }),
      );
    }
    return instances;
  }

  /**
   * Block1 Writes of an opaque package to /5/0/0 or /9/x/2 stream into the instance's store
   * instead of being reassembled (BlockwiseOptions.block1Sink). The checks the request handler
   * makes for a Write are made here, on every block: a registered server, W on the resource.
   */
  #packageBlock1(
    peer: Peer,
    message: CoapMessage,
    block: BlockOption,
  ): Block1Sink | CoapResponse | undefined {
    if (message.code !== CoapCode.PUT && message.code !== CoapCode.POST) return undefined;
    const path = uriPath(message);
    const target =
      path.join('/') === '5/0/0'
        ? this.firmware
        : path.length === 3 && path[0] === '9' && path[2] === '2' && /^\d+$/.test(path[1] ?? '')
          ? this.software.get(Number(path[1]))
          : undefined;
    if (!target) return undefined;
    const format = contentFormat(message);
    if (format !== undefined && format !== 42) return undefined;
    const ssid = this.#byPeer.get(peerKey(peer));
    if (ssid === BOOTSTRAP_KEY) return undefined;
    if (ssid === undefined || this.registration.state(ssid) !== 'registered')
      return errorResponse('4.01', 'not registered with this server');
    const resource = LwM2mPath.of(target.objectId, target.instanceId, target.objectId === 5 ? 0 : 2);
    const check = this.access.check(ssid, 'write', resource);
    if (!check.ok) return errorResponse(check.code, check.message);
    this.#touched();
    if (target.objectId === 9) this.#softwareWriter = ssid;
    const sink = target.block1Sink(block.num, getUint(message, OptionNumber.SIZE1));
    if (block.num === 0)
      this.emit('request', {
        shortServerId: ssid,
        kind: 'write',
        path: resource.toString(),
        code: sink === undefined || 'received' in sink ? '2.31' : formatCode(sink.code),
      });
    return sink;
  }

  /**
   * A CoAP endpoint for a pull from /5/0/1 or /9/x/3: coap:// goes through the client's own
   * endpoint (its socket); the other schemes get a session of their own, closed after the
   * download: coaps:// and coaps+tcp:// with the /0 credentials of the server that wrote the URI
   * (`writer`; Core: the repository link is protected by them), or of the only server when that
   * is unknown.
   */
  async #coapPullSession(uri: URL, writer: number | undefined): Promise<CoapPullSession> {
    const host = uri.hostname.replace(/^\[(.*)\]$/, '$1');
    const address = isIP(host) ? host : (await lookup(host)).address;
    const secure = uri.protocol === 'coaps:' || uri.protocol === 'coaps+tcp:';
    const peer: Peer = { address, port: Number(uri.port || (secure ? 5684 : 5683)) };
    if (uri.protocol === 'coap:') return { messaging: this.#requireBinding().endpoint, peer };
    let security: ClientSecurity | undefined;
    let ssid = 0;
    if (secure) {
      const accounts = this.accounts();
      const account =
        accounts.find((a) => a.shortServerId === writer) ?? (accounts.length === 1 ? accounts[0] : undefined);
      if (!account) throw new PullError(9, `no server account whose credentials protect ${uri.protocol}//`);
      ssid = account.shortServerId;
      try {
        security = clientSecurity(`${uri.protocol}//${uri.host}`, account.security ?? {});
      } catch (e) {
        throw new PullError(
          9,
          `the /0 credentials of server ${ssid} do not fit ${uri.protocol}//: ${errorMessage(e)}`,
          {
            cause: e,
          },
        );
      }
      if (security.kind !== 'dtls')
        throw new PullError(9, `server ${ssid} has no (D)TLS credentials for ${uri.protocol}//`);
    }
    let channel: Channel;
    if (uri.protocol === 'coaps:' && security?.kind === 'dtls') {
      const { DtlsChannel } = await import('../dtls/dtls-channel.js');
      channel = DtlsChannel.client({
        clock: this.#clock,
        random: this.#options.random ?? cryptoRandom,
        ...this.#options.dtls,
        channel: this.#options.secureTransport
          ? await this.#options.secureTransport({ shortServerId: ssid, peer })
          : await this.#udpFor(peer),
        ...dtlsClientOptions(security),
      });
    } else {
      const limits = { maxFrameSize: STREAM_FRAME_LIMIT, ...this.#options.stream?.limits };
      if (security?.kind === 'dtls') {
        const { TlsChannel } = await import('../transport/tls-channel.js');
        channel = TlsChannel.dialer({ ...limits, ...tlsClientOptions(security) });
      } else {
        const { TcpChannel } = await import('../transport/tcp-channel.js');
        channel = TcpChannel.dialer(limits);
      }
    }
    const { endpoint } = createCoapStack({
      channel,
      clock: this.#clock,
      random: this.#options.random ?? cryptoRandom,
      ...(uri.protocol === 'coaps:' && this.#options.coap?.transmission
        ? { transmission: this.#options.coap.transmission }
        : {}),
      onError: (e) => this.#error(e),
    });
    return {
      messaging: endpoint,
      peer,
      // Closing the endpoint closes its channel (and a DTLS channel its datagram transport).
      close: () => endpoint.close().catch(() => undefined),
    };
  }

  // ---- provisioning, bootstrap, saved state ----

  /**
   * The start of the bootstrap sequence (Core §6.1.4): a saved state if there is one; else the
   * smartcard's accounts if a card is present; else the factory configuration (or the options).
   */
  async #provision(): Promise<void> {
    const saved = await this.#options.state?.load(this.model);
    if (saved) {
      this.#replaceInstances(saved.objects, saved.records);
      this.#sources.clear();
      for (const [k, v] of Object.entries(saved.sources)) this.#sources.set(k, v);
      this.emit('provisioned', { source: 'state' });
      return;
    }
    const card = await this.#options.smartcard?.readBootstrapData();
    if (card !== undefined) {
      this.#provisionFrom('smartcard', smartcardRecords(card, this.codecs, this.model));
    } else if (this.#options.factoryConfig !== undefined) {
      this.#provisionFrom(
        'factory',
        factoryRecords(this.#options.factoryConfig, this.#options.version ?? '1.2'),
      );
    } else this.emit('provisioned', { source: 'options' });
    await this.#saveNow();
  }

  #provisionFrom(source: ProvisioningSource, records: readonly LwM2mRecord[]): void {
    this.#replaceInstances([0, 1], records);
    this.#sources.clear();
    for (const oid of [0, 1])
      for (const iid of this.tree.instanceIds(oid)) this.#sources.set(`/${oid}/${iid}`, source);
    this.emit('provisioned', { source });
  }

  /** Every instance of `objectIds` goes; the records' instances come in (through the factories). */
  #replaceInstances(objectIds: readonly number[], records: readonly LwM2mRecord[]): void {
    for (const oid of objectIds) {
      if (!this.tree.hasObject(oid)) this.tree.addObject(oid);
      for (const iid of this.tree.instanceIds(oid)) this.tree.removeInstance(oid, iid);
      const mine = records.filter((r) => r.path.objectId === oid);
      if (mine.length > 0) {
        const written = this.tree.write(LwM2mPath.of(oid), mine, 'replace', { bootstrap: true });
        if (!written.ok)
          throw new LwM2mClientError('bad-state', `cannot restore /${oid}: ${written.message}`);
      }
    }
  }

  /** The Bootstrap-Server's uplinks go out like any server's (plain CoAP or its DTLS session). */
  #bootstrapUplink(
    request: Extract<UplinkRequest, { kind: 'bootstrap-request' | 'bootstrap-pack-request' }>,
  ): Promise<UplinkResponse> {
    const bs = this.bootstrapAccount();
    if (!bs) throw new LwM2mClientError('not-started', 'no Bootstrap-Server account');
    const account: ServerAccount = {
      shortServerId: BOOTSTRAP_KEY,
      uri: bs.uri,
      lifetime: 0,
      binding: 'U',
      ...(bs.security ? { security: bs.security } : {}),
    };
    return this.#uplink(account, request, this.#options.version ?? '1.2');
  }

  /**
   * A bootstrap's configuration is in place: registrations follow it (a deleted account counts as
   * de-registered, new ones register), and it is saved.
   */
  async #bootstrapCommitted(session: BootstrapSession): Promise<void> {
    this.#committing = true;
    try {
      await this.#applyBootstrap(session);
    } finally {
      this.#committing = false;
    }
  }

  async #applyBootstrap(session: BootstrapSession): Promise<void> {
    // Instances the network wrote are the network's, unless a source still protects them.
    for (const oid of [0, 1]) {
      for (const key of [...this.#sources.keys()])
        if (key.startsWith(`/${oid}/`) && !this.tree.instance(oid, Number(key.split('/')[2])))
          this.#sources.delete(key);
    }
    for (const ssid of session.removedServers) this.#handler.endServer(ssid);
    // /1/x/12 Last Bootstrapped, on every server account the bootstrap left.
    const now = Math.floor((this.#options.now ?? Date.now)() / 1000);
    for (const iid of this.tree.instanceIds(1)) {
      const inst = this.tree.instance(1, iid);
      if (inst instanceof MemoryInstance) inst.set(12, { type: 'time', value: now });
    }
    this.registration.bootstrapped();
    await this.#saveNow();
    this.#scheduleAccountTimeout();
    if (!this.#started) return;
    for (const account of this.accounts()) await this.#resolve(account).catch((e: unknown) => this.#error(e));
    // Registrations follow once `bootstrapped` is out (the engine emits it when this returns).
    setImmediate(() => {
      if (!this.#started) return;
      void this.registration
        .accountsChanged()
        .then(() => this.registration.objectsChanged())
        .catch((e: unknown) => this.#error(e));
    });
  }

  /** /0/x/12: the Bootstrap-Server account is purged that long after a bootstrap (0 = kept). */
  #scheduleAccountTimeout(): void {
    if (this.#accountTimer) this.#clock.clearTimeout(this.#accountTimer);
    this.#accountTimer = undefined;
    const bs = this.bootstrapAccount();
    if (!bs || bs.accountTimeout <= 0) return;
    this.#accountTimer = this.#clock.setTimeout(() => {
      this.#accountTimer = undefined;
      if (this.bootstrap.inSession) return;
      const current = this.bootstrapAccount();
      if (current?.instanceId !== bs.instanceId) return;
      this.tree.removeInstance(0, bs.instanceId);
      this.#sources.delete(`/0/${bs.instanceId}`);
    }, bs.accountTimeout * 1000);
  }

  /** Saves the state soon (coalesced); errors go to 'error'. */
  #save(): void {
    if (!this.#options.state || this.#saveQueued) return;
    this.#saveQueued = true;
    this.#saving = this.#saving.then(() => {
      this.#saveQueued = false;
      return this.#writeState();
    });
  }

  async #saveNow(): Promise<void> {
    if (!this.#options.state) return;
    this.#saving = this.#saving.then(() => this.#writeState());
    await this.#saving;
  }

  async #writeState(): Promise<void> {
    const store = this.#options.state;
    if (!store) return;
    const records: LwM2mRecord[] = [];
    for (const oid of STATE_OBJECTS) {
      if (!this.tree.hasObject(oid)) continue;
      const read = this.tree.read(LwM2mPath.of(oid));
      if (read.ok) records.push(...read.value.filter((r) => r.path.depth >= 3));
    }
    try {
      await store.save({
        objects: STATE_OBJECTS.filter((oid) => this.tree.hasObject(oid)),
        records,
        sources: Object.fromEntries(this.#sources),
      });
    } catch (e) {
      this.#error(e);
    }
  }

  #objects(): RegistrationPayloadInput {
    return {
      objects: this.tree.registrationObjects(),
      ...(this.#options.contentFormats ? { contentFormats: this.#options.contentFormats } : {}),
    };
  }

  #account(shortServerId: number | undefined): ServerAccount {
    const accounts = this.accounts();
    const account =
      shortServerId === undefined
        ? accounts.find((a) => this.registration.state(a.shortServerId) === 'registered')
        : accounts.find((a) => a.shortServerId === shortServerId);
    if (!account || this.registration.state(account.shortServerId) !== 'registered')
      throw new LwM2mClientError(
        'not-registered',
        shortServerId === undefined
          ? 'not registered with any server'
          : `not registered with server ${shortServerId}`,
      );
    return account;
  }

  #requireBinding(): CoapClientBinding {
    if (!this.#binding || !this.#started)
      throw new LwM2mClientError('not-started', 'the client is not started');
    return this.#binding;
  }

  async #resolve(account: ServerAccount, uri = this.#transportUri(account, false)): Promise<Peer> {
    const known = this.#peers.get(account.shortServerId);
    const { host, port } = parseServerUri(uri);
    if (known && known.uri === uri) return known.peer;
    const address = isIP(host) ? host : (await lookup(host)).address;
    const peer: Peer = { address, port };
    // A server whose URI changed: its old address no longer speaks for it.
    if (known && this.#byPeer.get(peerKey(known.peer)) === account.shortServerId)
      this.#byPeer.delete(peerKey(known.peer));
    this.#peers.set(account.shortServerId, { uri, peer });
    this.#byPeer.set(peerKey(peer), account.shortServerId);
    return peer;
  }

  /**
   * Sends an uplink to a server, over plain CoAP or its DTLS session (opened on demand). A failed
   * DTLS handshake or session rejects with UplinkRefusedError (a "Fail" alert, or credentials that
   * cannot work: no retry) or LwM2mClientError('secure-session-failed') (retried after back-off).
   */
  async #uplink(
    account: ServerAccount,
    request: UplinkRequest,
    version: string,
    retried = false,
  ): Promise<UplinkResponse> {
    const plain = this.#requireBinding();
    const uri = this.#transportUri(account, request.kind === 'register');
    const peer = await this.#resolve(account, uri);
    if (parseServerUri(uri).scheme === 'coap') {
      try {
        clientSecurity(uri, account.security ?? {}); // /0 may have changed since the start
      } catch (e) {
        throw new UplinkRefusedError(`${serverName(account)}: ${errorMessage(e)}`, { cause: e });
      }
      this.#touched();
      return plain.sendUplink({ peer, lwm2mVersion: version }, request);
    }
    let session: SecureSession;
    try {
      session = await this.#session(account, uri, peer);
    } catch (e) {
      if (e instanceof SecurityConfigError)
        throw new UplinkRefusedError(`${serverName(account)}: ${e.message}`, { cause: e });
      throw e;
    }
    this.#touched();
    try {
      return await session.binding.sendUplink({ peer, lwm2mVersion: version }, request);
    } catch (e) {
      // The server closed the session under this request: once more, over a new handshake.
      if (session.peerClosed && !retried && e instanceof BindingError && e.reason === 'closed')
        return this.#uplink(account, request, version, true);
      const failure = session.failure;
      if (failure !== undefined && e instanceof BindingError && e.reason === 'closed') {
        const text = `DTLS with ${serverName(account)} failed: ${failure.message}`;
        if (isFatalAlert(failure.alert)) throw new UplinkRefusedError(text, { cause: failure });
        throw new LwM2mClientError('secure-session-failed', text, { cause: failure });
      }
      // No answer over DTLS: the server may have lost the session (a restart without
      // close_notify), so the next request starts a new handshake on a fresh channel.
      if (e instanceof BindingError && e.reason === 'timeout')
        void this.#closeSession(account.shortServerId, session);
      throw e;
    }
  }

  /**
   * The session with a server reached over DTLS, TCP or TLS: the current one, or a new one
   * (credentials from /0).
   */
  #session(account: ServerAccount, uri: string, peer: Peer): Promise<SecureSession> {
    const ssid = account.shortServerId;
    const fingerprint = securityFingerprint(uri, peer, account.security);
    const current = this.#secure.get(ssid);
    if (current && !current.closed && current.fingerprint === fingerprint) return Promise.resolve(current);
    const pending = this.#opening?.get(ssid);
    if (pending)
      return pending.then((s) => (s.fingerprint === fingerprint ? s : this.#session(account, uri, peer)));
    const opening = this.#openSession(account, uri, peer, fingerprint, current).finally(() =>
      this.#opening?.delete(ssid),
    );
    (this.#opening ??= new Map()).set(ssid, opening);
    return opening;
  }

  async #openSession(
    account: ServerAccount,
    uri: string,
    peer: Peer,
    fingerprint: string,
    previous: SecureSession | undefined,
  ): Promise<SecureSession> {
    const ssid = account.shortServerId;
    if (previous) await this.#closeSession(ssid, previous);
    const security = clientSecurity(uri, account.security ?? {});
    const scheme = parseServerUri(uri).scheme;
    if (scheme !== 'coaps') return this.#openStreamSession(ssid, uri, scheme, security, fingerprint);
    if (security.kind !== 'dtls')
      throw new SecurityConfigError('mode-mismatch', 'a coaps:// server needs DTLS credentials');
    const credentials = dtlsClientOptions(security);
    const { DtlsChannel } = await import('../dtls/dtls-channel.js');
    const transport = this.#options.secureTransport
      ? await this.#options.secureTransport({ shortServerId: ssid, peer })
      : await this.#udpFor(peer);
    const dtls = DtlsChannel.client({
      clock: this.#clock,
      random: this.#options.random ?? cryptoRandom,
      ...this.#options.dtls,
      limits: { idleTimeout: CLIENT_DTLS_IDLE_MS, ...this.#options.dtls?.limits },
      channel: transport,
      ...credentials,
    });
    const channel = this.#options.wrapSecureChannel?.(dtls, ssid) ?? dtls;
    const binding = this.#newBinding(channel);
    const session: SecureSession = {
      fingerprint,
      binding,
      dtls,
      failure: undefined,
      peerClosed: false,
      closed: false,
    };
    dtls.onError((e) => this.#secureError(ssid, session, e));
    // A close_notify from the server: the next request (and one in flight) starts a new handshake
    // at once instead of waiting out CoAP retransmissions on a session the server has forgotten.
    dtls.onSessionClosed(({ reason }) => {
      if (reason !== 'peer-closed' || session.closed) return;
      session.peerClosed = true;
      void this.#closeSession(ssid, session);
    });
    this.#secure.set(ssid, session);
    return session;
  }

  /**
   * A TCP or TLS connection to a coap+tcp:// or coaps+tcp:// server (RFC 8323): a dialling channel
   * that connects on the first request and again after the connection is lost (a queue-mode
   * client that slept reconnects to wake), with the CoAP binding over it.
   */
  async #openStreamSession(
    ssid: number,
    uri: string,
    scheme: ServerScheme,
    security: ClientSecurity,
    fingerprint: string,
  ): Promise<SecureSession> {
    const limits = { maxFrameSize: STREAM_FRAME_LIMIT, ...this.#options.stream?.limits };
    const local = this.#options.udp?.address ? { localAddress: this.#options.udp.address } : {};
    let channel: ConnectionChannel;
    if (scheme === 'coap+tcp') {
      const { TcpChannel } = await import('../transport/tcp-channel.js');
      channel = TcpChannel.dialer({ ...limits, ...local });
    } else if (scheme === 'coaps+tcp') {
      if (security.kind !== 'dtls')
        throw new SecurityConfigError('mode-mismatch', 'a coaps+tcp:// server needs TLS credentials');
      const { TlsChannel } = await import('../transport/tls-channel.js');
      channel = TlsChannel.dialer({ ...limits, ...local, ...tlsClientOptions(security) });
    } else {
      return this.#openMqttSession(ssid, uri, security, fingerprint);
    }
    const session: SecureSession = {
      fingerprint,
      binding: this.#newBinding(channel),
      dtls: undefined,
      failure: undefined,
      peerClosed: false,
      closed: false,
    };
    channel.onError?.((e) => this.#error(e));
    this.#watchConnection(ssid, session, channel);
    this.#secure.set(ssid, session);
    return session;
  }

  /**
   * Over TCP/TLS the server can reach a client only while the client's connection is up (the
   * listening side never dials, RFC 8323 §3). When a connection that was up ends for any reason
   * but our own close ('closed': sleep, stop, a new binding), a registered client that is not
   * asleep sends an Update soon after, which dials again; if that fails, the engine's re-Register
   * and retry policy take over. A failed dial is the failing request's business, not a drop.
   */
  #watchConnection(ssid: number, session: SecureSession, channel: ConnectionChannel): void {
    let up = false;
    channel.onConnect(() => {
      up = true;
    });
    channel.onDisconnect((_peer, reason) => {
      const wasUp = up;
      up = false;
      if (wasUp && reason !== 'closed' && !session.closed) this.#scheduleReconnect(ssid);
    });
  }

  /**
   * The Update that reconnects, after a jittered delay (so a fleet whose server restarted does
   * not come back at once): 0.25-1 ACK_TIMEOUT (0.5-2 s by default; tests that shorten the CoAP
   * timers shorten it too), doubled for each drop within a minute of the last one (a server that
   * keeps dropping us), up to 64×.
   */
  #scheduleReconnect(ssid: number): void {
    const reconnects = (this.#reconnects ??= new Map<number, ReconnectState>());
    const last = reconnects.get(ssid);
    if (!this.#started || last?.timer !== undefined || !this.#mayReconnect(ssid)) return;
    const now = this.#clock.now();
    const drops = last !== undefined && now - last.at < RECONNECT_RESET_MS ? last.drops + 1 : 0;
    const state: ReconnectState = { at: now, drops, timer: undefined };
    reconnects.set(ssid, state);
    const random = this.#options.random ?? cryptoRandom;
    const ackTimeout = this.#options.coap?.transmission?.ackTimeout ?? DEFAULT_TRANSMISSION.ackTimeout;
    const window = RECONNECT_MAX_ACK_TIMEOUTS - RECONNECT_MIN_ACK_TIMEOUTS;
    const base = ackTimeout * (RECONNECT_MIN_ACK_TIMEOUTS + random.next() * window);
    const delay = base * 2 ** Math.min(drops, RECONNECT_MAX_DOUBLINGS);
    state.timer = this.#clock.setTimeout(() => {
      state.timer = undefined;
      if (!this.#started || !this.#mayReconnect(ssid)) return;
      this.registration.update(ssid).catch((e: unknown) => this.#error(e));
    }, delay);
  }

  /** Registered with `ssid` and not asleep by design (a queue-mode client reconnects when it wakes). */
  #mayReconnect(ssid: number): boolean {
    return !this.registration.asleep && this.registration.state(ssid) === 'registered';
  }

  #cancelReconnects(): void {
    for (const state of this.#reconnects?.values() ?? []) {
      if (state.timer !== undefined) this.#clock.clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /**
   * The broker session of an mqtt:// or mqtts:// server (Transport §MQTT): the /24 instance /0/x/26
   * links gives the CONNECT settings; uplinks and the server's requests share the topic
   * `[prefix/]lwm2m/rd/{ep}` (`bs` for the Bootstrap-Server).
   */
  async #openMqttSession(
    ssid: number,
    uri: string,
    security: ClientSecurity,
    fingerprint: string,
  ): Promise<SecureSession> {
    const { MqttClientBinding } = await import('../binding/mqtt/mqtt-client-binding.js');
    const account =
      ssid === BOOTSTRAP_KEY ? undefined : this.accounts().find((a) => a.shortServerId === ssid);
    const iface = ssid === BOOTSTRAP_KEY ? 'bs' : 'rd';
    // 1.2.2: with /0/x/27 set the client MUST wrap its MQTT payloads in COSE, which this client
    // does not do: refuse rather than send them unprotected.
    if (account?.cose !== undefined)
      throw new SecurityConfigError(
        'tls-unsupported',
        `/0/x/27 links /23/${account.cose}: COSE protection of MQTT payloads (Outer_Wrapper) is not supported; remove the link or use mqtts://`,
      );
    const binding = await MqttClientBinding.start({
      url: uri,
      endpoint: this.#options.endpoint,
      iface,
      codecs: this.codecs,
      model: this.model,
      clock: this.#clock,
      random: this.#options.random ?? cryptoRandom,
      onError: (e) => this.#error(e),
      ...(this.#options.mqtt?.prefix === undefined ? {} : { prefix: this.#options.mqtt.prefix }),
      ...(this.#options.mqtt?.protocolVersion === undefined
        ? {}
        : { protocolVersion: this.#options.mqtt.protocolVersion }),
      ...(this.#options.mqtt?.qos === undefined ? {} : { qos: this.#options.mqtt.qos }),
      ...mqttSessionOptions(this.tree, account?.mqttServer),
      ...(security.kind === 'dtls' ? { tls: mqttTlsOptions(security) } : {}),
    });
    binding.onDownlink((request, source) => this.#onDownlink(request, source));
    this.#byPeer.set(peerKey(binding.peer(iface)), ssid);
    const session: SecureSession = {
      fingerprint,
      binding,
      dtls: undefined,
      failure: undefined,
      peerClosed: false,
      closed: false,
    };
    this.#secure.set(ssid, session);
    return session;
  }

  /**
   * The URI to reach a server at (Core §6.2.1.2, Transport §Binding): chosen among /0/x/0 and the
   * secondary URIs /0/x/25 when a transport session starts (a Register), by binding-choice.ts, and
   * kept for the session's later requests; configuration changes apply to the next session only.
   * A Registration Update Trigger with a binding argument makes the next request choose again.
   */
  #transportUri(account: ServerAccount, newSession: boolean): string {
    const ssid = account.shortServerId;
    const kept = this.#chosen.get(ssid);
    const override = this.#bindingOverride?.get(ssid);
    if (kept && !newSession && override === undefined && this.#candidateUris(account).includes(kept.uri))
      return kept.uri;
    if (ssid === BOOTSTRAP_KEY) return account.uri;
    this.#bindingOverride?.delete(ssid);
    const choice = chooseTransportMemo({
      serverUris: this.#candidateUris(account),
      ...(account.preferredTransport === undefined ? {} : { preferredTransport: account.preferredTransport }),
      binding: account.binding,
      supported: this.#supportedBindings(),
      ...this.#pdnType(),
      ...(override === undefined ? {} : { triggerOverride: override }),
    });
    if (isTransportChoiceFailure(choice)) {
      // Nothing fits the rules: the primary URI, as a 1.0/1.1 client would do.
      this.#chosen.set(ssid, { uri: account.uri, letter: uriBinding(account.uri) ?? 'U' });
      return account.uri;
    }
    if (kept && kept.uri !== choice.uri) this.#dropSession(ssid);
    this.#chosen.set(ssid, { uri: choice.uri, letter: choice.letter });
    return choice.uri;
  }

  #candidateUris(account: ServerAccount): string[] {
    return [account.uri, ...(account.secondaryUris ?? [])];
  }

  /** /11/x/24 PDN Type of the first APN Connection Profile that has one (TRAN-BIND: preferred when /1/x/7 lists it). */
  #pdnType(): { pdnType?: number } {
    for (const id of this.tree.hasObject(11) ? this.tree.instanceIds(11) : []) {
      const read = this.tree.read(LwM2mPath.of(11, id, 24));
      const value = read.ok ? read.value[0]?.value : undefined;
      if (value && (value.type === 'integer' || value.type === 'unsigned'))
        return { pdnType: Number(value.value) };
    }
    return {};
  }

  /** /3/0/16 Supported Binding and Modes, without the queue flag. */
  #supportedBindings(): string {
    const v = this.tree.read(LwM2mPath.of(3, 0, 16));
    const value = v.ok ? v.value[0]?.value : undefined;
    return value?.type === 'string' ? value.value.replace(/Q/g, '') || 'U' : 'U';
  }

  /** Closes a server's transport session (a new binding was chosen): the next request opens one. */
  #dropSession(ssid: number): void {
    const session = this.#secure.get(ssid);
    if (session) void this.#closeSession(ssid, session);
  }

  async #udpFor(peer: Peer): Promise<Channel> {
    const { UdpChannel } = await import('../transport/udp-channel.js');
    return UdpChannel.open({
      address: this.#options.udp?.address ?? (isIP(peer.address) === 6 ? '::' : '0.0.0.0'),
      port: 0,
    });
  }

  /**
   * A failed handshake or session (an alert either way, or no answer to our flights): the client
   * hears of it, the session closes (its requests in flight fail at once) and the next request
   * starts over. Transport TS §Security sorts alerts into retry and fail; #uplink applies that.
   */
  #secureError(ssid: number, session: SecureSession, e: Error): void {
    if (session.closed) return;
    const lost: readonly DtlsSessionFailure[] = ['handshake-failed', 'alert-received', 'handshake-timeout'];
    if (!(e instanceof DtlsSessionError) || !lost.includes(e.failure)) {
      this.#error(e);
      return;
    }
    session.failure = e;
    // /1/x/11 TLS-DTLS Alert Code: the last alert of this server's session (Core §E.2).
    if (e.alert !== undefined && ssid !== BOOTSTRAP_KEY) this.#serverInstanceOf(ssid)?.set(11, e.alert);
    this.emit('secure-session-failed', {
      shortServerId: ssid,
      failure: e.failure,
      alert: e.alert,
      fatal: isFatalAlert(e.alert),
      message: e.message,
    });
    void this.#closeSession(ssid, session);
  }

  async #closeSession(ssid: number, session: SecureSession): Promise<void> {
    if (this.#secure.get(ssid) === session) this.#secure.delete(ssid);
    if (session.closed) return;
    session.closed = true;
    try {
      await session.binding.close(); // closes the DTLS channel (close_notify) and its transport
    } catch (e) {
      this.#error(e);
    }
  }

  async #sendRegistration(
    account: ServerAccount,
    request: Extract<UplinkRequest, { kind: 'register' | 'update' | 'deregister' }>,
  ): Promise<UplinkResponse | 'timeout'> {
    const version =
      request.kind === 'register'
        ? request.lwm2mVersion
        : (this.registration.versionFor(account.shortServerId) ?? '1.2');
    try {
      return await this.#uplink(account, request, version);
    } catch (e) {
      if (e instanceof BindingError && e.reason === 'timeout') return 'timeout';
      throw e;
    }
  }

  async #onDownlink(request: DownlinkRequest, source: DownlinkSource): Promise<DownlinkAnswer> {
    const ssid = this.#byPeer.get(peerKey(source.peer));
    this.#touched();
    if (ssid === BOOTSTRAP_KEY) {
      const answer = this.bootstrap.handle(request);
      this.emit('request', {
        shortServerId: undefined,
        kind: request.kind,
        path: describe(request),
        code: answer.response.code,
      });
      return answer;
    }
    // A request can overtake the 2.01 in the network (or in our own event loop): give a
    // registration in flight a moment to complete before refusing.
    if (ssid !== undefined && this.registration.state(ssid) === 'registering') await this.#settled(ssid);
    // Core §6.3: requests from a server the client has not completed registration with are ignored.
    if (ssid === undefined || this.registration.state(ssid) !== 'registered') {
      const response = { code: '4.01' as const, diagnostic: 'not registered with this server' };
      this.emit('request', {
        shortServerId: ssid,
        kind: request.kind,
        path: describe(request),
        code: response.code,
      });
      return { response };
    }
    const server: RequestingServer = {
      shortServerId: ssid,
      lwm2mVersion: this.registration.versionFor(ssid) ?? '1.2',
      notificationDefaults: () => this.#notificationDefaults(ssid),
    };
    // A pull over coaps:// uses the /0 credentials of the server that wrote the Package URI.
    if (this.firmware && request.kind === 'write' && request.path.objectId === 5) this.#firmwareWriter = ssid;
    if (this.software.size > 0 && request.kind === 'write' && request.path.objectId === 9)
      this.#softwareWriter = ssid;
    const answer = await this.#handler.handle(server, request);
    this.emit('request', {
      shortServerId: ssid,
      kind: request.kind,
      path: describe(request),
      code: answer.response.code,
    });
    return answer;
  }

  /** Resolves when server `ssid` leaves the registering state, or after 2 s. */
  #settled(ssid: number): Promise<void> {
    const pending = this.#settling?.get(ssid);
    if (pending) return pending;
    const wait = new Promise<void>((resolve) => {
      const done = (): void => {
        this.registration.off('state', onState);
        this.#clock.clearTimeout(timer);
        resolve();
      };
      const onState = (change: { shortServerId: number; to: string }): void => {
        if (change.shortServerId === ssid && change.to !== 'registering') done();
      };
      const timer = this.#clock.setTimeout(done, 2000);
      this.registration.on('state', onState);
    }).finally(() => this.#settling?.delete(ssid));
    (this.#settling ??= new Map()).set(ssid, wait);
    return wait;
  }

  /** The /1 instance of a server account (a MemoryInstance: the client builds them). */
  #serverInstanceOf(ssid: number): MemoryInstance | undefined {
    for (const iid of this.tree.instanceIds(1)) {
      const inst = this.tree.instance(1, iid);
      if (inst instanceof MemoryInstance && inst.get(0)?.value === ssid) return inst;
    }
    return undefined;
  }

  #notificationDefaults(ssid: number): NotificationDefaults {
    const account = this.accounts().find((a) => a.shortServerId === ssid);
    const instance = this.tree
      .instanceIds(1)
      .map((iid) => this.tree.instance(1, iid))
      .find((inst) => {
        const read = inst?.read().find((r) => r.path.resourceId === 0);
        return read?.value?.value === ssid;
      });
    const value = (rid: number): number | undefined => {
      const r = instance?.read().find((rec) => rec.path.resourceId === rid && rec.path.depth === 3);
      return typeof r?.value?.value === 'number' ? r.value.value : undefined;
    };
    const pmin = value(2);
    const pmax = value(3);
    return {
      ...(pmin === undefined ? {} : { pmin }),
      ...(pmax === undefined ? {} : { pmax }),
      ...(account?.defaultNotificationMode === undefined
        ? {}
        : { notificationMode: account.defaultNotificationMode }),
      ...(account?.notificationStoring === undefined
        ? {}
        : { notificationStoring: account.notificationStoring }),
    };
  }

  /** Queue mode: any traffic keeps the client awake for awakeTime; then it sleeps. */
  #touched(): void {
    if (!this.accounts().some((a) => a.queueMode)) return;
    if (this.#awakeTimer) this.#clock.clearTimeout(this.#awakeTimer);
    this.#awakeTimer = this.#clock.setTimeout(() => {
      this.#awakeTimer = undefined;
      if (this.#started) this.sleep();
    }, this.#options.awakeTime ?? 93_000);
  }

  #error(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', asError(e));
  }
}

const transportChoices = new Map<string, ReturnType<typeof chooseTransport>>();

/**
 * chooseTransport is pure: a fleet of clients with one configuration asks it the same question
 * at every Register, so the answers are kept (bounded: cleared when full).
 */
function chooseTransportMemo(input: TransportChoiceInput): ReturnType<typeof chooseTransport> {
  // Every field of the input (a new one fails to compile here until it is added).
  const fields = {
    serverUris: input.serverUris,
    preferredTransport: input.preferredTransport,
    binding: input.binding,
    supported: input.supported,
    pdnType: input.pdnType,
    triggerOverride: input.triggerOverride,
    clientPreference: input.clientPreference,
  } satisfies Record<keyof TransportChoiceInput, unknown>;
  const key = JSON.stringify(Object.values(fields));
  let choice = transportChoices.get(key);
  if (choice === undefined) {
    choice = chooseTransport(input);
    if (transportChoices.size >= URI_MEMO_LIMIT) transportChoices.clear();
    transportChoices.set(key, choice);
  }
  return choice;
}

/** How messages name a server account: `server 101`, or the Bootstrap-Server. */
function serverName(account: ServerAccount): string {
  return account.shortServerId === BOOTSTRAP_KEY ? 'the Bootstrap-Server' : `server ${account.shortServerId}`;
}

/** `pct` by version: SenML CBOR from 1.1 on (the capture's 1.2 client does the same), none for 1.0. */
function defaultPct(version: LwM2mVersion | undefined): number | undefined {
  return version === '1.0' ? undefined : 112;
}

/** ServerSecurityConfig as the /0 instance's values (the ones the factory takes). */
function securityInstanceValues(security: ServerSecurityConfig | undefined): SecurityResources {
  if (security === undefined) return {};
  const identity = security.publicKeyOrIdentity;
  return {
    securityMode: security.securityMode,
    ...(identity === undefined
      ? {}
      : {
          publicKeyOrIdentity: typeof identity === 'string' ? new TextEncoder().encode(identity) : identity,
        }),
    ...(security.serverPublicKey === undefined ? {} : { serverPublicKey: security.serverPublicKey }),
    ...(security.secretKey === undefined ? {} : { secretKey: security.secretKey }),
    ...(security.matchingType === undefined ? {} : { matchingType: security.matchingType }),
    ...(security.sni === undefined ? {} : { sni: security.sni }),
    ...(security.certificateUsage === undefined ? {} : { certificateUsage: security.certificateUsage }),
    ...(security.cipherSuites === undefined ? {} : { cipherSuites: security.cipherSuites }),
  };
}

function describe(request: DownlinkRequest): string {
  if ('paths' in request) return request.paths.map(String).join(',');
  if ('path' in request) return request.path.toString();
  if ('records' in request) return request.records.map((r) => r.path.toString()).join(',');
  return '/';
}
