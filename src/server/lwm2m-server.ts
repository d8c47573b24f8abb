import { EventEmitter } from 'node:events';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import type { CodecRegistry } from '../content/codec-registry.js';
import { lookupContentFormat } from '../content/content-format.js';
import type { ContentFormatId } from '../content/content-format.js';
import type { CreateInstance } from '../content/create-payload.js';
import type { NotificationAttributeChanges, NotificationAttributes } from '../model/attributes.js';
import { RESOURCE_TYPES } from '../model/data-types.js';
import type { LwM2mValue } from '../model/data-types.js';
import type { ObjectModel } from '../model/object-definition.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { UPDATE_DIAGNOSTICS_OBJECT } from '../firmware/update-diagnostics-object.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { recordsFromJson } from '../model/records-json.js';
import { inferJsonType, valueFromJson } from '../model/value-json.js';
import { BindingError } from '../binding/binding.js';
import type {
  BindingObservation,
  DownlinkOptions,
  NotificationHandlers,
  ServerBinding,
  UplinkContext,
  WireIdentity,
} from '../binding/binding.js';
import { parseExecuteArguments } from '../operations/execute-arguments.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  ExecuteArgument,
  Notification,
  ObserveCompositeRequest,
  ObserveRequest,
  SendRequest,
  UplinkRequest,
  UplinkResponse,
} from '../operations/requests.js';
import { OperationError } from '../operations/result-code.js';
import type { DownlinkOperationName, ResultCode, UplinkOperationName } from '../operations/result-code.js';
import { validateDownlinkRequest } from '../operations/validation.js';
import { cryptoRandom } from '../random.js';
import type { RandomSource } from '../random.js';
import { MemoryRegistrationStore } from '../store/memory-registration-store.js';
import type { ObservationStore, PersistedObservation } from '../store/observation-store.js';
import type { RegistrationStore } from '../store/registration-store.js';
import { TimerQueue } from '../timer-queue.js';
import type { QueuedTimer } from '../timer-queue.js';
import type { Channel, ConnectionChannel, LocalAddress } from '../transport/channel.js';
import type { DtlsCommonOptions, DtlsServerOptions } from '../dtls/dtls-channel.js';
import type { EcdsaCredentials } from '../dtls/dtls-credentials.js';
import { credentialPskLookup } from './credential-psk-lookup.js';
import { credentialRawKeyCheck } from './credential-raw-key-check.js';
import { devicePeerVerifier } from './device-peer-verifier.js';
import type { CredentialStore } from '../store/credential-store.js';
import { createEndpointSecurity } from './endpoint-security.js';
import type { MqttServerBindingOptions } from '../binding/mqtt/mqtt-server-binding.js';
import type { PskCache } from './psk-cache.js';
import { openTcpChannel, openTlsChannel } from './stream-sides.js';
import type { TcpSideOptions, TlsSideOptions } from './stream-sides.js';
import { ServerRequestError } from './errors.js';
import { PetrelError } from '../errors.js';
import { Observation } from './observation.js';
import type { ObservationEndReason, ObservationNotification } from './observation.js';
import { OperationResult } from './operation-result.js';
import { ProfileRegistry } from './profile-registry.js';
import { downlinkTarget, hasRegisteredObject, sameIdentity } from './registration.js';
import type { Registration } from './registration.js';
import { RegistrationService } from './registration-service.js';
import { RegisterAdmission } from './admission.js';
import { PeerRateLimiter } from './peer-rate-limit.js';
import type {
  NotificationRateLimitOptions,
  NotificationRateLimitStats,
  PeerRateLimitOptions,
  PeerRateLimitStats,
} from './peer-rate-limit.js';
import type { AdmissionOptions, AdmissionRefusal, AdmissionStats } from './admission.js';
import { RequestQueue } from './request-queue.js';

// ---- options and events ----

export interface LwM2mServerOptions {
  /** Listen on UDP (CoAP). Default `{ address: '0.0.0.0', port: 5683 }` when no channel/binding is given. */
  readonly udp?: { readonly address?: string; readonly port?: number };
  /** Run CoAP over this channel instead (in-memory tests, DTLS later). */
  readonly channel?: Channel;
  /** A binding built elsewhere (MQTT, or a CoAP binding with custom settings). */
  readonly binding?: ServerBinding;
  /** Object definitions for typing values; default: the built-in core objects and /33000. */
  readonly model?: ObjectModel;
  readonly store?: RegistrationStore;
  /**
   * Where observations are kept so they outlive a restart: on start, those of registrations still
   * current are taken back (notifications keep arriving under their tokens) and the rest dropped.
   */
  readonly observationStore?: ObservationStore;
  readonly clock?: Clock;
  /** Wall-clock ms for timestamps (default Date.now). */
  readonly now?: () => number;
  readonly random?: RandomSource;
  /** Enabler versions served (default 1.0, 1.1, 1.2); a Register with another gets 4.12. */
  readonly versions?: readonly string[];
  /** Seconds a registration lives past its lifetime before it expires (default 0). */
  readonly lifetimeGrace?: number;
  /** Default deadline of a request to a client, ms (default 60 000). */
  readonly requestTimeout?: number;
  readonly queueMode?: {
    /** How long a queue-mode client stays reachable after its last message, ms (default 93 000). */
    readonly awakeTime?: number;
    /** Most requests waiting per client (default 100). */
    readonly maxQueued?: number;
    /** How long a queued request waits for the client to wake, ms (default 3 600 000). */
    readonly deadline?: number;
  };
  /** Pre-configured Profile IDs (`oma:…`/`v:…`) → object list in link format. */
  readonly profiles?: Readonly<Record<string, string>>;
  /** Keep Register parameters the spec does not define instead of answering 4.00. */
  readonly allowUnknownParameters?: boolean;
  /** Refuse a Register: return '4.03' (or '4.00'/'4.01') to reject it. */
  readonly authorize?: (
    request: Extract<UplinkRequest, { kind: 'register' }>,
    context: UplinkContext,
  ) => '4.00' | '4.01' | '4.03' | undefined;
  /**
   * Send (`/dp`) policy: 'mute-send' (default) refuses a Send when the server last saw the
   * client's Mute Send (/1/x/23) true; 'accept' takes every Send from a registered client.
   */
  readonly sendPolicy?: 'mute-send' | 'accept';
  /**
   * Limits on new registrations (count, rate, concurrency): past them a Register gets 5.03 with
   * Max-Age, and registered clients keep being served (docs/server.md#overload).
   */
  readonly admission?: AdmissionOptions;
  /**
   * Requests each peer may send on the built-in CoAP sides (UDP, DTLS, TCP, TLS), one bucket per
   * peer shared by the sides: past it, 4.29 Too Many Requests with Max-Age (docs/security.md).
   */
  readonly peerRateLimit?: PeerRateLimitOptions;
  /**
   * Notifications each device (registered endpoint) may send on the built-in CoAP sides, all its
   * observations together: past it a notification is dropped undecoded (a CON one still gets its
   * ACK), counted, and reported by the `notificationsDropped` event (docs/security.md). Off by
   * default.
   */
  readonly notificationRateLimit?: NotificationRateLimitOptions;
  /**
   * When start() re-arms the registrations a persistent store holds: 'before-start' (default:
   * start() resolves after) or 'background' (the server serves at once and restores meanwhile;
   * `server.restored` and the 'restored' event tell when it is done). A million registrations
   * take seconds; registrations that change meanwhile are not overwritten by older state.
   */
  readonly restore?: 'before-start' | 'background';
  /** Settings of the built-in CoAP binding. */
  readonly coap?: Record<string, unknown>;
  /**
   * Also serve CoAP over DTLS 1.2 (`coaps://`, PSK), next to the binding above. Registrations
   * remember their transport and every downlink leaves through the binding they came in on.
   */
  readonly coaps?: CoapsOptions;
  /** Also serve CoAP over TCP (`coap+tcp://`, RFC 8323; NoSec rules as for plain UDP). */
  readonly tcp?: TcpSideOptions;
  /**
   * Also serve CoAP over TLS 1.2/1.3 (`coaps+tcp://`): PSKs from the credential store (the
   * coaps:// side's unless given), device certificates by trust anchor, the same endpoint checks.
   */
  readonly tls?: TlsSideOptions;
  /**
   * Also serve the LwM2M 1.2 MQTT binding through a broker (`mqtt://`, `mqtts://`): topics
   * `[prefix/]lwm2m/rd/{ep}`, messages as the 1.2.2 CBOR maps (docs/mqtt.md). Codecs, model,
   * clock and random are the server's.
   */
  readonly mqtt?: Omit<MqttServerBindingOptions, 'codecs' | 'model' | 'iface'>;
}

/** A binding served next to the main one, and the channels the server opened for it. */
interface ServerSide {
  readonly transport: string;
  readonly binding: ServerBinding;
  /** The channel the binding runs on (where it listens), when it has one. */
  readonly channel?: Channel;
  /** Channels to close after the binding, outermost first. */
  readonly owned: Channel[];
}

/** How long the coaps:// server keeps a silent DTLS session by default (ms): a day. */
const SESSION_IDLE_TIMEOUT = 24 * 3600_000;

/** The `coaps://` side of the server: DTLS with PSKs from a credential store. */
export interface CoapsOptions {
  /** Where DTLS listens over UDP (default `0.0.0.0:5684`) when no channel is given. */
  readonly address?: string;
  readonly port?: number;
  /** Run DTLS over this channel instead of a UDP socket (tests); closed with the server. */
  readonly channel?: Channel;
  /**
   * PSKs by identity for the handshake, and the endpoint each identity is bound to (Core §7.1.3):
   * a Register over DTLS whose `ep` is not that endpoint gets 4.00.
   */
  readonly credentials: CredentialStore;
  /** PSK identity hint sent in ServerKeyExchange (RFC 4279 §2). */
  readonly hint?: string;
  /**
   * The server's own P-256 key pair for the ECDHE_ECDSA suites (RPK and X.509 devices): presented
   * as a raw public key, or as X.509 with `certificateChain`. Without it only PSK is offered.
   */
  readonly certificate?: EcdsaCredentials;
  /**
   * CAs (DER) that issue device certificates. A device's chain must lead to one of them, and its
   * subject CN is the endpoint name it may register. Without anchors, X.509 devices are refused.
   */
  readonly trustAnchors?: readonly Uint8Array[];
  /**
   * Let plain-UDP (NoSec) peers register endpoints that have credentials (default false: 4.03).
   * A NoSec peer never replaces a registration an authenticated peer made.
   */
  readonly allowNoSec?: boolean;
  /**
   * Refuse every Register over plain CoAP (NoSec), credentials or not (4.03): a server for
   * secure devices only. Default false.
   */
  readonly refuseNoSec?: boolean;
  /**
   * DTLS settings (timing, limits, mtu, Connection ID length, cipher suites; clock/random default
   * to the server's).
   */
  readonly dtls?: Omit<DtlsCommonOptions, 'channel'> &
    Pick<DtlsServerOptions, 'connectionIdLength' | 'cipherSuites' | 'cookieRotation'>;
}

/** A command to a client, for traces (Msg-Iden-001). */
export interface CommandEvent {
  readonly id: string;
  readonly endpoint: string;
  readonly operation: DownlinkOperationName;
  readonly paths: readonly string[];
  readonly token?: string;
  readonly messageId?: number;
  readonly code?: ResultCode;
  readonly error?: Error;
  readonly durationMs?: number;
}

/** An uplink from a client, for traces. */
export interface UplinkEvent {
  readonly id: string;
  /** Undefined for a message that was not any uplink operation (a wrong path or method). */
  readonly operation: UplinkOperationName | undefined;
  readonly endpoint: string | undefined;
  readonly peer: string;
  readonly token: string;
  readonly messageId?: number;
  readonly code: ResultCode;
  readonly diagnostic?: string;
}

/**
 * A device's notifications dropped by `notificationRateLimit`: at once for the first, then at most
 * once per `reportInterval` while it goes on, and at once when an observation is cancelled.
 */
export interface NotificationsDroppedEvent {
  readonly endpoint: string;
  /** Dropped since the previous event about this device. */
  readonly dropped: number;
  /** Dropped since the device went over its budget (reset after a reportInterval without any). */
  readonly total: number;
  /** The observation just ended for flooding (`cancelAfter`), if that is why the event came now. */
  readonly cancelled?: Observation;
}

export type { NotificationRateLimitOptions, NotificationRateLimitStats } from './peer-rate-limit.js';

export interface SendEvent {
  readonly id: string;
  readonly registration: Registration;
  readonly result: OperationResult;
}

/**
 * A notification of a live observation whose payload could not be decoded (a bad payload for its
 * Content-Format, or a format the server cannot read). It is dropped; the observation goes on and
 * its next notification is delivered as usual. `cause` is the binding's error (and its cause the codec's).
 */
export class NotificationDecodeError extends PetrelError {
  constructor(
    readonly endpoint: string,
    readonly paths: readonly LwM2mPath[],
    options: { cause: unknown },
  ) {
    super(
      'PETREL_ERR_NOTIFICATION_DECODE',
      `a notification from ${endpoint} on ${paths.map((p) => p.toString()).join(',')} could not be ` +
        `decoded and was dropped: ${innermostMessage(options.cause)}`,
      options,
    );
  }
}

export interface LwM2mServerEvents {
  registered: [registration: Registration, previous: Registration | undefined];
  updated: [registration: Registration, previous: Registration];
  deregistered: [registration: Registration];
  expired: [registration: Registration];
  /** start()'s restore of the stored registrations is done: how many (see the `restore` option). */
  restored: [count: number];
  awake: [registration: Registration];
  sleeping: [registration: Registration];
  notification: [notification: ObservationNotification];
  send: [event: SendEvent];
  /** A command leaves for a client (after queueing, with its wire identity). */
  request: [event: CommandEvent];
  /** A command's answer, or why it got none (`error`). */
  response: [event: CommandEvent];
  uplink: [event: UplinkEvent];
  notificationsDropped: [event: NotificationsDroppedEvent];
  error: [error: Error];
}

// ---- request options ----

export interface RequestOptions {
  /** Deadline in ms (default: the server's requestTimeout). */
  readonly timeout?: number;
  /**
   * Called synchronously when the request goes into the queue of a queue-mode client that is
   * asleep at that moment (Transport TS §Queue Mode): it leaves when the client next wakes. Not
   * called for a request sent at once (or queued behind one in flight to an awake client), nor for
   * one refused before queueing (bad input, unknown client, full queue).
   */
  readonly onQueued?: () => void;
}

export interface FormatOption {
  /** Canonical format name (`'lwm2m-cbor'`) or number. */
  readonly format?: string | number;
}

export type WriteInput =
  | LwM2mValue
  | readonly LwM2mRecord[]
  | Readonly<Record<string, unknown>>
  | string
  | number
  | boolean
  | bigint
  | null
  | { readonly hex: string };

export interface ObserveOptions extends RequestOptions, FormatOption {
  /** 1.2 observation attributes, valid for this observation only. */
  readonly attributes?: NotificationAttributes;
  /** Re-establish automatically after the client registers again. */
  readonly resume?: boolean;
}

const DEFAULT_AWAKE_TIME = 93_000;

const ADMISSION_DIAGNOSTICS: Readonly<Record<AdmissionRefusal, string>> = {
  registrations: 'the server holds as many registrations as it may: try again later',
  rate: 'too many Registers at once: try again after Max-Age seconds',
  pending: 'too many Registers in progress: try again after Max-Age seconds',
};
const DEFAULT_REQUEST_TIMEOUT = 60_000;
/** notificationRateLimit.reportInterval's default (ms). */
const DEFAULT_DROP_REPORT_INTERVAL = 10_000;

/** A device's dropped notifications between two `notificationsDropped` events. */
interface DropReport {
  pending: number;
  total: number;
  timer: QueuedTimer | undefined;
}

function formatId(format: string | number | undefined): ContentFormatId | undefined {
  if (format === undefined) return undefined;
  const f = lookupContentFormat(format);
  if (!f) throw new OperationError('unsupported-format', '4.15', `unknown content format "${format}"`);
  return f.id;
}

function timeoutOf(options: RequestOptions): RequestOptions {
  return options.timeout === undefined ? {} : { timeout: options.timeout };
}

/**
 * Paths given as text, parsed once: an application reads the same few paths from a whole fleet,
 * and LwM2mPath is immutable (its text form is memoised on it, so that is shared too). Bounded:
 * emptied when full.
 */
const parsedPaths = new Map<string, LwM2mPath>();
const PARSED_PATHS_LIMIT = 1024;

function toPath(path: string | LwM2mPath): LwM2mPath {
  if (typeof path !== 'string') return path;
  let parsed = parsedPaths.get(path);
  if (parsed === undefined) {
    parsed = LwM2mPath.parse(path);
    if (parsedPaths.size >= PARSED_PATHS_LIMIT) parsedPaths.clear();
    parsedPaths.set(path, parsed);
  }
  return parsed;
}

function pathsOf(request: DownlinkRequest): string[] {
  if ('paths' in request) return request.paths.map(String);
  if ('path' in request) return [request.path.toString()];
  return [];
}

function notRegistered(endpoint: string): ServerRequestError {
  return new ServerRequestError('not-registered', endpoint, `"${endpoint}" is not registered`);
}

/** A command on its way: what its trace events name, and its wire identity once sent. */
interface SentCommand {
  readonly id: string;
  readonly endpoint: string;
  readonly request: DownlinkRequest;
  wire: Partial<WireIdentity>;
  /** Clock ms when it was handed to the binding (for the trace's durationMs). */
  readonly started: number;
  /** The binding's answer. */
  pending: Promise<DownlinkResponse> | undefined;
}

/** What the 'request' and 'response' trace events of a command start with. */
function traceBase(
  id: string,
  endpoint: string,
  request: DownlinkRequest,
): { id: string; endpoint: string; operation: DownlinkRequest['kind']; paths: string[] } {
  return { id, endpoint, operation: request.kind, paths: pathsOf(request) };
}

/** Char codes of the lower-case hex digits. */
const HEX_DIGITS = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * Lower-case hex. A command id (8 bytes) is built in one call: a Buffer round trip or a string
 * grown digit by digit allocated more than the rest of naming the command.
 */
function hex(bytes: Uint8Array): string {
  if (bytes.length !== 8)
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  const d = HEX_DIGITS;
  const b = bytes;
  // prettier-ignore
  return String.fromCharCode(
    d[b[0]! >> 4]!, d[b[0]! & 15]!, d[b[1]! >> 4]!, d[b[1]! & 15]!,
    d[b[2]! >> 4]!, d[b[2]! & 15]!, d[b[3]! >> 4]!, d[b[3]! & 15]!,
    d[b[4]! >> 4]!, d[b[4]! & 15]!, d[b[5]! >> 4]!, d[b[5]! & 15]!,
    d[b[6]! >> 4]!, d[b[6]! & 15]!, d[b[7]! >> 4]!, d[b[7]! & 15]!,
  );
}

const RESOURCE_TYPE_SET: ReadonlySet<string> = new Set(RESOURCE_TYPES);

function isLwM2mValue(v: unknown): v is LwM2mValue {
  return (
    v !== null &&
    typeof v === 'object' &&
    'type' in v &&
    'value' in v &&
    RESOURCE_TYPE_SET.has((v as { type: unknown }).type as string) &&
    Object.keys(v).length === 2
  );
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** What a NotificationSink hands on (one pair of functions per server, shared by every sink). */
interface SinkEvents {
  notification(sink: NotificationSink, notification: Notification, identity: WireIdentity): void;
  end(sink: NotificationSink, reason: 'final-response' | 'closed' | 'cancelled'): void;
}

/**
 * A binding's notification handlers for one observation: its Observation once built (notifications
 * may race its construction). One object per observation rather than closures over a holder: at
 * 10,000 observations a notification's cost is mostly the objects it has to reach.
 */
class NotificationSink implements NotificationHandlers {
  constructor(
    readonly kind: 'observe' | 'observe-composite',
    readonly events: SinkEvents,
    public observation: Observation | undefined = undefined,
  ) {}

  onNotification(notification: Notification, identity: WireIdentity): void {
    this.events.notification(this, notification, identity);
  }

  onEnd(reason: 'final-response' | 'closed' | 'cancelled'): void {
    this.events.end(this, reason);
  }
}

/**
 * The LwM2M server (Core §6.2-6.4): accepts registrations, sends every DM/IR operation to
 * registered clients, holds observations, takes Sends, and runs queue mode. It speaks only in
 * operations/ types; the binding (CoAP by default) owns the wire.
 */
export class LwM2mServer extends EventEmitter<LwM2mServerEvents> {
  readonly model: ObjectModel;
  readonly codecs: CodecRegistry;
  readonly store: RegistrationStore;
  readonly #options: LwM2mServerOptions;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #timers: TimerQueue;
  readonly #registrations: RegistrationService;
  readonly #admission: RegisterAdmission | undefined;
  readonly #peerRateLimit: PeerRateLimiter | undefined;
  readonly #notificationRateLimit: PeerRateLimiter | undefined;
  /** Notifications dropped per endpoint not yet reported, while a report interval runs. */
  readonly #dropReports = new Map<string, DropReport>();
  #cancelledForFlooding = 0;
  readonly #profiles: ProfileRegistry;
  readonly #queues = new Map<string, RequestQueue>();
  readonly #observations = new Map<string, Set<Observation>>();
  /** onQueued callbacks of requests waiting behind one in flight to an awake queue-mode client. */
  readonly #sleepWaiters = new Map<string, Set<() => void>>();
  /** Observations whose store record is removed when they end. */
  readonly #persisted = new WeakSet<Observation>();
  /** Last Mute Send (/1/x/23) value the server saw per endpoint. */
  readonly #muteSend = new Map<string, boolean>();
  /** Resumable observations of a replaced registration, until the new one's 2.01 has left. */
  readonly #pendingResume = new Map<string, Observation[]>();
  #binding: ServerBinding | undefined;
  #ownedChannel: Channel | undefined;
  /**
   * The bindings served next to the main one (coaps://, coap+tcp://, coaps+tcp://, mqtt://), by
   * the transport their registrations record, with the channels the server opened for them.
   */
  readonly #sides: ServerSide[] = [];
  /** The coaps+tcp:// side's PSKs (node:tls asks for them synchronously). */
  #pskCache: PskCache | undefined;
  #started = false;
  #stopped = false;

  constructor(options: LwM2mServerOptions = {}) {
    super();
    this.#options = options;
    // Petrel's own Update Diagnostics (/33000, what a Petrel client reports with Send) is known too.
    this.model = options.model ?? createDefaultRegistry().add(UPDATE_DIAGNOSTICS_OBJECT, { builtIn: true });
    this.codecs = createCodecRegistry();
    this.store = options.store ?? new MemoryRegistrationStore();
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? cryptoRandom;
    this.#timers = new TimerQueue(this.#clock);
    this.#profiles = new ProfileRegistry(
      options.profiles === undefined ? {} : { profiles: options.profiles },
    );
    this.#registrations = new RegistrationService({
      store: this.store,
      profiles: this.#profiles,
      clock: this.#clock,
      now: this.#now,
      random: this.#random,
      versions: options.versions ?? ['1.0', '1.1', '1.2'],
      lifetimeGrace: (options.lifetimeGrace ?? 0) * 1000,
      ...(options.authorize ? { authorize: options.authorize } : {}),
      ...(this.#credentials()
        ? {
            security: createEndpointSecurity({
              credentials: this.#credentials()!,
              store: this.store,
              allowNoSec: options.coaps?.allowNoSec ?? false,
              refuseNoSec: options.coaps?.refuseNoSec ?? false,
            }),
          }
        : {}),
      onExpired: (reg) => this.#ended(reg, 'expired'),
      onError: (e) => this.#emitError(e),
    });
    this.#admission = options.admission
      ? new RegisterAdmission(options.admission, this.#clock, this.#random)
      : undefined;
    this.#peerRateLimit = options.peerRateLimit
      ? new PeerRateLimiter(options.peerRateLimit, this.#clock)
      : undefined;
    const notificationLimit = options.notificationRateLimit;
    if (notificationLimit) {
      const { reportInterval, cancelAfter } = notificationLimit;
      if (reportInterval !== undefined && !(reportInterval >= 0 && Number.isFinite(reportInterval)))
        throw new RangeError(
          `notificationRateLimit.reportInterval must be a number of ms, 0 or more, got ${String(reportInterval)}`,
        );
      if (cancelAfter !== undefined && !(Number.isInteger(cancelAfter) && cancelAfter >= 1))
        throw new RangeError(
          `notificationRateLimit.cancelAfter must be an integer above 0 (dropped notifications), got ${String(cancelAfter)}`,
        );
      const { rate, burst, maxPeers } = notificationLimit;
      this.#notificationRateLimit = new PeerRateLimiter(
        {
          rate,
          ...(burst === undefined ? {} : { burst }),
          ...(maxPeers === undefined ? {} : { maxPeers }),
        },
        this.#clock,
        'notificationRateLimit',
      );
    }
  }

  /** Requests let through and refused by `peerRateLimit` (undefined without it). */
  get peerRateLimitStats(): PeerRateLimitStats | undefined {
    return this.#peerRateLimit?.stats;
  }

  /** Notifications let through and dropped by `notificationRateLimit` (undefined without it). */
  get notificationRateLimitStats(): NotificationRateLimitStats | undefined {
    const stats = this.#notificationRateLimit?.stats;
    return (
      stats && {
        allowed: stats.allowed,
        dropped: stats.refused,
        tracked: stats.tracked,
        cancelled: this.#cancelledForFlooding,
      }
    );
  }

  /** What the admission limits let through and refused (undefined without `admission`). */
  get admissionStats(): AdmissionStats | undefined {
    return this.#admission?.stats;
  }

  /** Where the built-in UDP channel listens (after start). */
  get address(): LocalAddress | undefined {
    return this.#ownedChannel?.local ?? this.#options.channel?.local;
  }

  /** Where the coaps:// (DTLS) side listens (after start, when `coaps` is set). */
  get secureAddress(): LocalAddress | undefined {
    return this.#side('dtls')?.channel?.local;
  }

  /** Where a side listens by its transport ('dtls', 'tcp', 'tls'), after start. */
  listening(transport: string): LocalAddress | undefined {
    return transport === 'udp' ? this.address : this.#side(transport)?.channel?.local;
  }

  #side(transport: string): ServerSide | undefined {
    // A loop, not find(): every command looks its side up (no closure per call).
    for (const side of this.#sides) if (side.transport === transport) return side;
    return undefined;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    let binding = this.#options.binding;
    if (!binding) {
      let channel = this.#options.channel;
      if (!channel) {
        const { UdpChannel } = await import('../transport/udp-channel.js');
        channel = await UdpChannel.open({
          address: this.#options.udp?.address ?? '0.0.0.0',
          port: this.#options.udp?.port ?? 5683,
        });
        this.#ownedChannel = channel;
      }
      binding = await this.#coapBinding(channel);
    }
    try {
      await this.#openSides();
    } catch (e) {
      await this.#closeSides();
      await binding.close();
      await this.#ownedChannel?.close();
      throw e;
    }
    this.#started = true;
    this.#binding = binding;
    this.#wire(binding);
    for (const side of this.#sides) this.#wire(side.binding);
    const restoring = (async () => {
      const count = await this.#registrations.restore();
      await this.#restoreObservations();
      this.emit('restored', count);
      return count;
    })();
    this.#restored = restoring;
    if (this.#options.restore === 'background') restoring.catch((e: unknown) => this.#emitError(e));
    else await restoring;
  }

  #restored: Promise<number> = Promise.resolve(0);

  /**
   * Settles once the registrations (and observations) found in the stores at start() are tracked
   * again: their expiry timers armed. With `restore: 'background'` start() returns before that.
   */
  get restored(): Promise<number> {
    return this.#restored;
  }

  /** The credential store of the secure sides (coaps://, coaps+tcp://), if any. */
  #credentials(): CredentialStore | undefined {
    return this.#options.coaps?.credentials ?? this.#options.tls?.credentials;
  }

  /** Opens the sides the options ask for; each one is in #sides as soon as it exists. */
  async #openSides(): Promise<void> {
    const { coaps, tcp, tls, mqtt } = this.#options;
    if (coaps) await this.#coapsSide(coaps);
    if (tcp) await this.#streamSide('tcp', await openTcpChannel(tcp));
    if (tls) {
      const { channel, cache } = await openTlsChannel(
        {
          ...tls,
          // What the coaps:// side has serves here too unless the TLS side names its own.
          ...(tls.certificate || !coaps?.certificate ? {} : { certificate: coaps.certificate }),
          ...(tls.trustAnchors || !coaps?.trustAnchors ? {} : { trustAnchors: coaps.trustAnchors }),
          ...(tls.hint !== undefined || coaps?.hint === undefined ? {} : { hint: coaps.hint }),
        },
        { credentials: this.#credentials(), clock: this.#clock, onError: (e) => this.#emitError(e) },
      );
      this.#pskCache = cache;
      await this.#streamSide('tls', channel);
    }
    if (mqtt) {
      const { MqttServerBinding } = await import('../binding/mqtt/mqtt-server-binding.js');
      const binding = await MqttServerBinding.start({
        clock: this.#clock,
        random: this.#random,
        onError: (e) => this.#emitError(e),
        ...(this.#options.versions ? { supportedVersions: this.#options.versions } : {}),
        ...mqtt,
        codecs: this.codecs,
        model: this.model,
        iface: 'rd',
      });
      this.#sides.push({ transport: 'mqtt', binding, owned: [] });
    }
  }

  /**
   * The credential store changed for these PSK identities (written through this process): the
   * coaps+tcp:// side's PSK cache reads them again, so the device's next handshake sees the change.
   */
  async refreshPskIdentities(identities: readonly string[]): Promise<void> {
    const cache = this.#pskCache;
    if (cache) await Promise.all(identities.map((identity) => cache.refresh(identity)));
  }

  /** CoAP over a connection channel (TCP or TLS). */
  async #streamSide(transport: 'tcp' | 'tls', channel: ConnectionChannel): Promise<void> {
    channel.onError?.((e) => this.#emitError(e));
    const owned = [channel];
    this.#sides.push({ transport, binding: await this.#coapBinding(channel), channel, owned });
  }

  async #closeSides(): Promise<void> {
    for (const side of this.#sides.splice(0)) {
      await side.binding.close();
      for (const channel of side.owned) await channel.close();
    }
  }

  /** DTLS (PSKs and raw public keys from the credential store) over UDP, and a CoAP binding over it. */
  async #coapsSide(coaps: CoapsOptions): Promise<void> {
    const { DtlsChannel } = await import('../dtls/dtls-channel.js');
    const owned: Channel[] = [];
    let inner = coaps.channel;
    if (!inner) {
      const { UdpChannel } = await import('../transport/udp-channel.js');
      inner = await UdpChannel.open({ address: coaps.address ?? '0.0.0.0', port: coaps.port ?? 5684 });
      owned.push(inner);
    }
    const credentials = coaps.credentials;
    const channel = DtlsChannel.server({
      clock: this.#clock,
      random: this.#random,
      ...coaps.dtls,
      // A device sleeps between Updates (queue mode, long lifetimes): its session must outlive
      // that, or downlinks fail until it comes back. Memory stays bounded by maxSessions (LRU).
      limits: { idleTimeout: SESSION_IDLE_TIMEOUT, ...coaps.dtls?.limits },
      channel: inner,
      psk: credentialPskLookup(credentials, (e) => this.#emitError(e)),
      ...(coaps.hint === undefined ? {} : { hint: coaps.hint }),
      ...(coaps.certificate === undefined
        ? {}
        : {
            certificate: coaps.certificate,
            // An unknown raw public key fails the handshake (access_denied), before any Register.
            verifyPeer: devicePeerVerifier(coaps.trustAnchors, {
              knownRawKey: credentialRawKeyCheck(credentials, (e) => this.#emitError(e)),
            }),
          }),
    });
    channel.onError((e) => this.#emitError(e));
    owned.unshift(channel);
    const binding = await this.#coapBinding(channel);
    this.#sides.push({ transport: 'dtls', binding, channel, owned });
  }

  /** The built-in CoAP binding (endpoint + block-wise) on a channel, with the server's settings. */
  async #coapBinding(channel: Channel): Promise<ServerBinding> {
    const { createCoapServerBinding } = await import('../binding/coap/coap-server-binding.js');
    return createCoapServerBinding({
      channel,
      codecs: this.codecs,
      model: this.model,
      clock: this.#clock,
      random: this.#random,
      allowUnknownParameters: this.#options.allowUnknownParameters ?? false,
      ...(this.#peerRateLimit ? { peerRateLimit: this.#peerRateLimit } : {}),
      ...(this.#notificationRateLimit ? { admitNotification: this.#admitNotification } : {}),
      onNotificationError: this.#notificationUndecodable,
      ...(this.#options.coap ?? {}),
    });
  }

  #wire(binding: ServerBinding): void {
    // Any message keeps an awake queue-mode client awake; only a completed Register/Update (or a
    // notification) wakes a sleeping one, so a queued request never overtakes the 2.01/2.04.
    binding.onActivity((peer) => {
      // Every datagram comes through here: without a queue-mode client there is nothing to touch,
      // and the peer lookup (a key built per datagram) is skipped.
      if (this.#queues.size === 0) return;
      const endpoint = this.#registrations.endpointAt(peer);
      if (endpoint !== undefined) this.#queues.get(endpoint)?.touch();
    });
    // A queue-mode client whose connection (TCP, TLS) closed is asleep: requests wait for the
    // Update it sends over its next connection instead of failing on the closed one.
    binding.onUnreachable?.((peer) => {
      const endpoint = this.#registrations.endpointAt(peer);
      if (endpoint !== undefined) this.#queues.get(endpoint)?.sleep();
    });
    binding.onUplink((request, context) => this.#onUplink(request, context));
    binding.onRefused(({ context, operation, code, diagnostic }) =>
      this.emit('uplink', {
        id: this.#commandId(),
        operation,
        endpoint: undefined,
        peer: `${context.peer.address}:${context.peer.port}`,
        token: context.identity.token,
        ...(context.identity.messageId === undefined ? {} : { messageId: context.identity.messageId }),
        code,
        diagnostic,
      }),
    );
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const set of this.#observations.values()) for (const o of set) o.end('stopped');
    this.#observations.clear();
    for (const [endpoint, q] of this.#queues)
      q.close(new ServerRequestError('stopped', endpoint, 'the server stopped'));
    this.#queues.clear();
    this.#registrations.stop();
    this.#timers.clear();
    this.#dropReports.clear();
    await this.#binding?.close();
    await this.#ownedChannel?.close();
    await this.#closeSides();
  }

  // ---- registrations ----

  getRegistration(endpoint: string): Promise<Registration | undefined> {
    return this.store.get(endpoint);
  }

  async registrations(): Promise<Registration[]> {
    const out: Registration[] = [];
    for await (const reg of this.store.all()) out.push(reg);
    return out;
  }

  /** Whether a queue-mode client is reachable now (always true for other clients). */
  isAwake(endpoint: string): boolean {
    return this.#queues.get(endpoint)?.awake ?? true;
  }

  /** The observations held with a client. */
  observations(endpoint: string): Observation[] {
    const out: Observation[] = [];
    for (const set of this.#observations.values())
      for (const o of set) if (o.endpoint === endpoint) out.push(o);
    return out;
  }

  // ---- Device Management and Service Enablement ----

  /**
   * Sends any typed DM operation (operations/requests.ts), for callers that build requests
   * themselves (the REST API, replays). Observe and the cancels go through observe()/cancel().
   */
  request(
    endpoint: string,
    request: DownlinkRequest,
    options: RequestOptions = {},
  ): Promise<OperationResult> {
    if (request.kind === 'observe' || request.kind === 'observe-composite')
      return Promise.reject(new TypeError(`use observe()/observeComposite() for ${request.kind}`));
    if (request.kind === 'cancel-observation' || request.kind === 'cancel-observation-composite')
      return Promise.reject(new TypeError('cancel an observation with observation.cancel()'));
    if (request.kind.startsWith('bootstrap-'))
      return Promise.reject(
        new TypeError(`${request.kind} belongs to the Bootstrap-Server, not to a registration`),
      );
    return this.#request(endpoint, request, options);
  }

  read(
    endpoint: string,
    path: string | LwM2mPath,
    options: RequestOptions & FormatOption = {},
  ): Promise<OperationResult> {
    const accept = formatId(options.format);
    const request: DownlinkRequest =
      accept === undefined
        ? { kind: 'read', path: toPath(path) }
        : { kind: 'read', path: toPath(path), accept };
    return this.#request(endpoint, request, options);
  }

  discover(
    endpoint: string,
    path: string | LwM2mPath,
    options: RequestOptions & { depth?: 0 | 1 | 2 | 3 } = {},
  ): Promise<OperationResult> {
    const { depth } = options;
    return this.#request(
      endpoint,
      { kind: 'discover', path: toPath(path), ...(depth === undefined ? {} : { depth }) },
      options,
    );
  }

  async write(
    endpoint: string,
    path: string | LwM2mPath,
    value: WriteInput,
    options: RequestOptions & FormatOption & { mode?: 'replace' | 'update' } = {},
  ): Promise<OperationResult> {
    const target = toPath(path);
    const reg = await this.#registration(endpoint);
    const mode = options.mode ?? 'replace';
    if (mode === 'update' && target.isResource()) {
      // Partial Update targets a resource only when it is multiple (Core §6.3.3).
      const versions = downlinkTarget(reg).objectVersions;
      const def = this.model.resource(target.objectId!, target.resourceId!, versions.get(target.objectId!));
      if (def && !def.multiple)
        throw new OperationError(
          'bad-path',
          '4.05',
          `Partial Update of the single resource ${target.toString()}: write it with mode 'replace'`,
        );
    }
    const records = this.#records(target, value, reg);
    const format = formatId(options.format);
    return this.#request(
      endpoint,
      {
        kind: 'write',
        path: target,
        mode,
        records,
        ...(format === undefined ? {} : { format }),
      },
      options,
    );
  }

  execute(
    endpoint: string,
    path: string | LwM2mPath,
    args?: string | readonly ExecuteArgument[],
    options: RequestOptions = {},
  ): Promise<OperationResult> {
    const parsed = typeof args === 'string' ? parseExecuteArguments(args) : args;
    return this.#request(
      endpoint,
      { kind: 'execute', path: toPath(path), ...(parsed && parsed.length > 0 ? { arguments: parsed } : {}) },
      options,
    );
  }

  /**
   * Create (POST /o). `path` is the object (`/3303`, the client picks the id) or the new instance
   * (`/3303/4`). `values`: resources of the new instance, keyed by resource path below it
   * (`{"/5700": 21.5}` or `{"/3303/4/5700": 21.5}`), or records; may be empty (1.2).
   */
  async create(
    endpoint: string,
    path: string | LwM2mPath,
    values: Readonly<Record<string, unknown>> | readonly LwM2mRecord[] = {},
    options: RequestOptions & FormatOption = {},
  ): Promise<OperationResult> {
    const target = toPath(path);
    if (target.depth < 1 || target.depth > 2)
      throw new OperationError(
        'bad-path',
        '4.05',
        `Create targets an object (/3303) or a new instance (/3303/4), not ${target.toString()}`,
      );
    const reg = await this.#registration(endpoint);
    const objectPath = new LwM2mPath(target.ids.slice(0, 1), target.prefix);
    const instanceId = target.instanceId;
    const instance = this.#createInstance(objectPath, instanceId, values, reg);
    const format = formatId(options.format);
    return this.#request(
      endpoint,
      { kind: 'create', path: objectPath, instance, ...(format === undefined ? {} : { format }) },
      options,
    );
  }

  delete(endpoint: string, path: string | LwM2mPath, options: RequestOptions = {}): Promise<OperationResult> {
    return this.#request(endpoint, { kind: 'delete', path: toPath(path) }, options);
  }

  writeAttributes(
    endpoint: string,
    path: string | LwM2mPath,
    attributes: NotificationAttributeChanges,
    options: RequestOptions = {},
  ): Promise<OperationResult> {
    return this.#request(endpoint, { kind: 'write-attributes', path: toPath(path), attributes }, options);
  }

  readComposite(
    endpoint: string,
    paths: readonly (string | LwM2mPath)[],
    options: RequestOptions & FormatOption & { requestFormat?: string | number } = {},
  ): Promise<OperationResult> {
    const accept = formatId(options.format);
    const format = formatId(options.requestFormat);
    return this.#request(
      endpoint,
      {
        kind: 'read-composite',
        paths: paths.map(toPath),
        ...(accept === undefined ? {} : { accept }),
        ...(format === undefined ? {} : { format }),
      },
      options,
    );
  }

  /** Write-Composite (iPATCH /): `values` keyed by path, or records; null deletes (SenML-ETCH). */
  async writeComposite(
    endpoint: string,
    values: Readonly<Record<string, unknown>> | readonly LwM2mRecord[],
    options: RequestOptions & FormatOption = {},
  ): Promise<OperationResult> {
    const reg = await this.#registration(endpoint);
    const records = Array.isArray(values)
      ? (values as readonly LwM2mRecord[])
      : this.#jsonRecords(values as Record<string, unknown>, reg);
    const format = formatId(options.format);
    return this.#request(
      endpoint,
      { kind: 'write-composite', records, ...(format === undefined ? {} : { format }) },
      options,
    );
  }

  // ---- Information Reporting ----

  observe(endpoint: string, path: string | LwM2mPath, options: ObserveOptions = {}): Promise<Observation> {
    const accept = formatId(options.format);
    const request: ObserveRequest = {
      kind: 'observe',
      path: toPath(path),
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(accept === undefined ? {} : { accept }),
    };
    return this.#observe(endpoint, request, options);
  }

  observeComposite(
    endpoint: string,
    paths: readonly (string | LwM2mPath)[],
    options: ObserveOptions & { requestFormat?: string | number } = {},
  ): Promise<Observation> {
    const accept = formatId(options.format);
    const format = formatId(options.requestFormat);
    const request: ObserveCompositeRequest = {
      kind: 'observe-composite',
      paths: paths.map(toPath),
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(accept === undefined ? {} : { accept }),
      ...(format === undefined ? {} : { format }),
    };
    return this.#observe(endpoint, request, options);
  }

  // ---- internals: downlink ----

  async #registration(endpoint: string): Promise<Registration> {
    const reg = await this.store.get(endpoint);
    if (!reg) throw notRegistered(endpoint);
    return reg;
  }

  #commandId(): string {
    return hex(this.#random.bytes(8));
  }

  /**
   * Sends one command, through the client's queue when it is in queue mode. The common case, a
   * client not in queue mode, is one async frame from the store read to the result: every layer
   * of async functions cost a Read its frame and promise (a fleet benchmark counts them).
   */
  async #request(
    endpoint: string,
    request: DownlinkRequest,
    options: RequestOptions,
  ): Promise<OperationResult> {
    const reg = await this.store.get(endpoint);
    if (!reg) throw notRegistered(endpoint);
    validateDownlinkRequest(request, reg);
    const id = this.#commandId();
    if (reg.queueMode || this.#queues.has(reg.endpoint))
      return this.#requestQueued(id, endpoint, reg, request, options);
    // It runs at once, with the registration just read.
    const command = this.#startCommand(id, endpoint, reg, request, options);
    let response: DownlinkResponse;
    try {
      response = await command.pending!;
      this.#traceResponse(command, response);
    } catch (e) {
      throw this.#commandFailed(command, e);
    }
    return this.#commandResult(command, response);
  }

  /** A command for a queue-mode client: it waits in the client's queue unless the client is awake. */
  #requestQueued(
    id: string,
    endpoint: string,
    reg: Registration,
    request: DownlinkRequest,
    options: RequestOptions,
  ): Promise<OperationResult> {
    // A command that runs at once uses the registration just read; a queued one reads it again
    // when it runs (the client may have updated meanwhile).
    let current: Registration | undefined = reg;
    const result = this.#schedule(reg, options, () => {
      const known = current;
      current = undefined;
      return this.#command(id, endpoint, request, options, known);
    });
    current = undefined;
    return result;
  }

  /** One command's round trip and its result (`known`: the registration, when just read). */
  async #command(
    id: string,
    endpoint: string,
    request: DownlinkRequest,
    options: RequestOptions,
    known: Registration | undefined,
  ): Promise<OperationResult> {
    const reg = known ?? (await this.#registration(endpoint));
    const command = this.#startCommand(id, endpoint, reg, request, options);
    let response: DownlinkResponse;
    try {
      response = await command.pending!;
      this.#traceResponse(command, response);
    } catch (e) {
      throw this.#commandFailed(command, e);
    }
    return this.#commandResult(command, response);
  }

  /** Hands a command to the binding of its registration; the trace events follow it. */
  #startCommand(
    id: string,
    endpoint: string,
    reg: Registration,
    request: DownlinkRequest,
    options: RequestOptions,
  ): SentCommand {
    const binding = this.#requireBinding(reg);
    const sent: SentCommand = {
      id,
      endpoint,
      request,
      wire: {},
      started: this.#clock.now(),
      pending: undefined,
    };
    // The trace events are built only for listeners (the REST API's recorder, a log): a fleet
    // benchmark without them spent more on these objects than on the request.
    const downlink: DownlinkOptions = {
      timeout: options.timeout ?? this.#options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
      onSent: this.#onSent(sent),
    };
    try {
      sent.pending = binding.send(downlinkTarget(reg), request, downlink);
    } catch (e) {
      // A binding that throws instead of rejecting fails the command the same way.
      sent.pending = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return sent;
  }

  #traceResponse(command: SentCommand, response: DownlinkResponse): void {
    if (this.listenerCount('response') > 0)
      this.emit('response', {
        ...traceBase(command.id, command.endpoint, command.request),
        ...command.wire,
        code: response.code,
        durationMs: this.#clock.now() - command.started,
      });
  }

  /** The error a failed command rejects with, traced for listeners. */
  #commandFailed(command: SentCommand, e: unknown): Error {
    const error = this.#wrap(command.endpoint, e);
    if (this.listenerCount('response') > 0)
      this.emit('response', {
        ...traceBase(command.id, command.endpoint, command.request),
        ...command.wire,
        error,
        durationMs: this.#clock.now() - command.started,
      });
    return error;
  }

  #commandResult(command: SentCommand, response: DownlinkResponse): OperationResult {
    const result = new OperationResult(
      command.id,
      command.endpoint,
      command.request.kind,
      response,
      command.wire,
    );
    this.#learn(command.endpoint, result);
    return result;
  }

  /** Runs a command now, or when the queue-mode client wakes. */
  #schedule<T>(reg: Registration, options: RequestOptions, run: () => Promise<T>): Promise<T> {
    // A queue that is draining (the client left queue mode) still orders what follows it.
    const existing = this.#queues.get(reg.endpoint);
    if (!reg.queueMode && !existing) return run();
    return this.#enqueue(existing, reg, options, run);
  }

  async #enqueue<T>(
    existing: RequestQueue | undefined,
    reg: Registration,
    options: RequestOptions,
    run: () => Promise<T>,
  ): Promise<T> {
    const queue = existing ?? this.#queue(reg);
    const waiting = queue.size;
    const onQueued = options.onQueued;
    let started = false;
    const result = queue.enqueue(() => {
      started = true;
      return run();
    }, this.#options.queueMode?.deadline ?? 3_600_000);
    // enqueue() pushes synchronously, and a sleeping queue keeps the job: one more waiting means
    // queued (a closed or full queue refused it; an awake one may have started it already).
    if (onQueued && queue.size > waiting) {
      if (!queue.awake) onQueued();
      else {
        // Waiting behind a request in flight to an awake client: if the client falls asleep
        // (that request timed out) before this one starts, it is queued for the next wake-up.
        const waiters = this.#sleepWaiters.get(reg.endpoint) ?? new Set<() => void>();
        this.#sleepWaiters.set(reg.endpoint, waiters);
        const notify = (): void => {
          if (!started) onQueued();
        };
        waiters.add(notify);
        void result.then(
          () => waiters.delete(notify),
          () => waiters.delete(notify),
        );
      }
    }
    return result;
  }

  #queue(reg: Registration): RequestQueue {
    let q = this.#queues.get(reg.endpoint);
    if (!q) {
      q = new RequestQueue({
        endpoint: reg.endpoint,
        timers: this.#timers,
        maxQueued: this.#options.queueMode?.maxQueued ?? 100,
        awakeTime: this.#options.queueMode?.awakeTime ?? DEFAULT_AWAKE_TIME,
        onAwake: () => void this.#emitForEndpoint(reg.endpoint, 'awake'),
        onSleeping: () => {
          const waiters = this.#sleepWaiters.get(reg.endpoint);
          this.#sleepWaiters.delete(reg.endpoint);
          for (const notify of waiters ?? []) notify();
          void this.#emitForEndpoint(reg.endpoint, 'sleeping');
        },
      });
      this.#queues.set(reg.endpoint, q);
    }
    return q;
  }

  async #emitForEndpoint(endpoint: string, event: 'awake' | 'sleeping'): Promise<void> {
    try {
      const reg = await this.store.get(endpoint);
      if (reg) this.emit(event, reg);
    } catch (e) {
      this.#emitError(e);
    }
  }

  /**
   * A command's onSent: keeps its wire identity and traces it for listeners. Returned from here
   * rather than written inline: an arrow assigned to a property is named at run time by the tsx
   * transform the benchmarks run under (a defineProperty per request).
   */
  #onSent(sent: SentCommand): (identity: WireIdentity) => void {
    return (identity) => {
      sent.wire = identity;
      if (this.listenerCount('request') > 0)
        this.emit('request', { ...traceBase(sent.id, sent.endpoint, sent.request), ...identity });
    };
  }

  /** The binding a registration came in on: its downlinks leave the same way. */
  #requireBinding(reg: Pick<Registration, 'endpoint' | 'transport'>): ServerBinding {
    if (!this.#binding || this.#stopped)
      throw new ServerRequestError('stopped', reg.endpoint, 'the server is not running (call start())');
    return this.#bindingOf(reg) ?? this.#binding;
  }

  #bindingOf(reg: Pick<Registration, 'transport'>): ServerBinding | undefined {
    return this.#side(reg.transport)?.binding ?? this.#binding;
  }

  #wrap(endpoint: string, e: unknown): Error {
    if (e instanceof BindingError) {
      const reason = e.reason === 'closed' ? 'stopped' : e.reason === 'too-large' ? 'decode' : e.reason;
      return new ServerRequestError(reason, endpoint, `${endpoint}: ${e.message}`, { cause: e });
    }
    return asError(e);
  }

  async #observe(
    endpoint: string,
    request: ObserveRequest | ObserveCompositeRequest,
    options: ObserveOptions,
  ): Promise<Observation> {
    this.#requireBinding({ endpoint, transport: '' });
    const queued = await this.#registration(endpoint);
    validateDownlinkRequest(request, { lwm2mVersion: queued.lwm2mVersion });
    const id = this.#commandId();
    return this.#schedule(queued, options, async () => {
      // The registration may have changed while the request waited (queue mode).
      const reg = await this.#registration(endpoint);
      // Notifications may race the construction below; they find the observation through this.
      const sink = new NotificationSink(request.kind, this.#sinkEvents);
      const { binding, result } = await this.#establish(id, reg, request, options, sink);
      const observation = new Observation({
        id,
        endpoint,
        registrationId: reg.id,
        paths: request.kind === 'observe' ? [request.path] : request.paths,
        composite: request.kind === 'observe-composite',
        attributes: request.attributes,
        resume: options.resume ?? false,
        response: result,
        binding,
        createdAt: this.#now(),
        // The cancel is a request of its own: the Observe's onQueued is not its to call.
        cancel: (o, cancelOptions) =>
          this.#cancelObservation(o, request, { ...timeoutOf(options), ...cancelOptions }),
      });
      sink.observation = observation;
      if (!binding.established || !result.success) {
        observation.end('rejected', false);
        return observation;
      }
      // The client may have de-registered or registered again while the Observe was in flight:
      // the observation is then void (Core §6.4) and must not stay attached to a dead registration.
      const current = await this.store.get(endpoint);
      if (current?.id !== reg.id) {
        observation.end(current ? 'replaced' : 'deregistered');
        return observation;
      }
      this.#track(observation);
      this.#persist(observation, request, binding.identity);
      return observation;
    });
  }

  /** Sends the Observe and wires its notifications to the Observation `current()` returns. */
  async #establish(
    id: string,
    reg: Registration,
    request: ObserveRequest | ObserveCompositeRequest,
    options: RequestOptions,
    sink: NotificationSink,
  ): Promise<{ binding: BindingObservation; result: OperationResult }> {
    const binding = this.#requireBinding(reg);
    const base = { id, endpoint: reg.endpoint, operation: request.kind, paths: pathsOf(request) };
    const started = this.#clock.now();
    let wire: Partial<WireIdentity> = {};
    try {
      const observation = await binding.observe(downlinkTarget(reg), request, sink, {
        timeout: options.timeout ?? this.#options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
        onSent: (identity) => {
          wire = identity;
          this.emit('request', { ...base, ...identity });
        },
      });
      const result = new OperationResult(id, reg.endpoint, request.kind, observation.response, wire);
      this.#learn(reg.endpoint, result);
      this.emit('response', { ...base, ...wire, code: result.code, durationMs: this.#clock.now() - started });
      return { binding: observation, result };
    } catch (e) {
      const error = this.#wrap(reg.endpoint, e);
      this.emit('response', { ...base, ...wire, error, durationMs: this.#clock.now() - started });
      throw error;
    }
  }

  // ---- internals: persisted observations ----

  /** Saves an established observation; it leaves the store when it ends (not when the server stops). */
  #persist(o: Observation, request: ObserveRequest | ObserveCompositeRequest, identity: WireIdentity): void {
    const store = this.#options.observationStore;
    if (!store || !o.active) return;
    const record: PersistedObservation = {
      id: o.id,
      endpoint: o.endpoint,
      registrationId: o.registrationId,
      token: identity.token,
      paths: o.paths.map((p) => p.toString()),
      composite: o.composite,
      ...(o.attributes ? { attributes: { ...o.attributes } } : {}),
      ...(request.accept === undefined ? {} : { accept: request.accept }),
      ...(request.kind === 'observe-composite' && request.format !== undefined
        ? { format: request.format }
        : {}),
      resume: o.resume,
      createdAt: o.createdAt,
    };
    store.put(record).catch((e: unknown) => this.#emitError(e));
    this.#unpersistOnEnd(o, store);
  }

  #unpersistOnEnd(o: Observation, store: ObservationStore): void {
    if (this.#persisted.has(o)) return;
    this.#persisted.add(o);
    o.once('end', (reason) => {
      if (reason !== 'stopped') store.remove(o.id).catch((e: unknown) => this.#emitError(e));
    });
  }

  /** Takes back the stored observations of registrations that are still current (on start). */
  async #restoreObservations(): Promise<void> {
    const store = this.#options.observationStore;
    if (!store || !this.#binding) return;
    const stored: PersistedObservation[] = [];
    for await (const p of store.all()) stored.push(p);
    for (const p of stored) {
      const reg = await this.store.get(p.endpoint);
      const binding = reg && this.#bindingOf(reg);
      if (reg?.id !== p.registrationId || !binding?.restoreObservation) {
        await store.remove(p.id);
        continue;
      }
      try {
        this.#adopt(p, reg, binding);
      } catch (e) {
        await store.remove(p.id);
        this.#emitError(e);
      }
    }
  }

  #adopt(p: PersistedObservation, reg: Registration, binding: ServerBinding): void {
    const paths = p.paths.map((text) => LwM2mPath.parse(text));
    const attributes = p.attributes as NotificationAttributes | undefined;
    const request: ObserveRequest | ObserveCompositeRequest = p.composite
      ? {
          kind: 'observe-composite',
          paths,
          ...(attributes ? { attributes } : {}),
          ...(p.format === undefined ? {} : { format: p.format as ContentFormatId }),
          ...(p.accept === undefined ? {} : { accept: p.accept as ContentFormatId }),
        }
      : {
          kind: 'observe',
          path: paths[0]!,
          ...(attributes ? { attributes } : {}),
          ...(p.accept === undefined ? {} : { accept: p.accept as ContentFormatId }),
        };
    const sink = new NotificationSink(request.kind, this.#sinkEvents);
    const restored = binding.restoreObservation!(downlinkTarget(reg), request, { token: p.token }, sink);
    const observation = new Observation({
      id: p.id,
      endpoint: p.endpoint,
      registrationId: reg.id,
      paths,
      composite: p.composite,
      attributes,
      resume: p.resume,
      response: new OperationResult(p.id, p.endpoint, request.kind, { code: '2.05' }, { token: p.token }),
      binding: restored,
      restored: true,
      createdAt: p.createdAt,
      cancel: (o, cancelOptions) => this.#cancelObservation(o, request, cancelOptions ?? {}),
    });
    sink.observation = observation;
    this.#track(observation);
    this.#unpersistOnEnd(observation, this.#options.observationStore!);
  }

  /** Where every NotificationSink delivers: to its Observation, while that is active. */
  readonly #sinkEvents: SinkEvents = {
    notification: (sink, notification, identity) => {
      const o = sink.observation;
      if (!o?.active) return;
      const result = new OperationResult(o.id, o.endpoint, sink.kind, notification, identity);
      this.#learn(o.endpoint, result);
      const event: ObservationNotification = {
        observation: o,
        sequence: notification.sequence,
        confirmable: notification.confirmable,
        result,
      };
      o.emit('notification', event);
      this.emit('notification', event);
      if (!result.success) this.#endObservation(o, 'rejected');
    },
    end: (sink, reason) => {
      const o = sink.observation;
      if (o?.active && reason !== 'cancelled') this.#endObservation(o, 'rejected');
    },
  };

  /**
   * The notification rate limit, asked by the CoAP binding before decoding: one token of the
   * device's bucket (by endpoint name, so a NAT rebinding or a new DTLS session gains nothing).
   */
  readonly #admitNotification = (handlers: NotificationHandlers): boolean => {
    if (!(handlers instanceof NotificationSink)) return true;
    const o = handlers.observation;
    // Not built yet, or ended: #sinkEvents would drop it after decoding; drop it before.
    if (!o?.active) return false;
    if (this.#notificationRateLimit!.takeKey(o.endpoint).allowed) return true;
    const cancelAfter = this.#options.notificationRateLimit!.cancelAfter;
    const flooding = o.countDropped() >= (cancelAfter ?? Infinity);
    let report = this.#dropReports.get(o.endpoint);
    if (!report) {
      report = { pending: 0, total: 0, timer: undefined };
      this.#dropReports.set(o.endpoint, report);
    }
    report.pending++;
    report.total++;
    if (flooding) {
      // Reactive cancel (RFC 7641 §3.6): the token is forgotten, the next notification gets RST.
      this.#cancelledForFlooding++;
      this.#endObservation(o, 'rate-limited');
    }
    if (report.timer === undefined || flooding)
      this.#reportDrops(o.endpoint, report, flooding ? o : undefined);
    return false;
  };

  /** docs/server.md: an undecodable notification reaches `error`, naming the device; nothing else changes. */
  readonly #notificationUndecodable = (error: BindingError, handlers: NotificationHandlers): void => {
    const o = handlers instanceof NotificationSink ? handlers.observation : undefined;
    this.#emitError(o ? new NotificationDecodeError(o.endpoint, o.paths, { cause: error }) : error);
  };

  /** Emits what was dropped since the last event and holds the next one back for reportInterval. */
  #reportDrops(endpoint: string, report: DropReport, cancelled: Observation | undefined): void {
    const dropped = report.pending;
    report.pending = 0;
    this.#timers.cancel(report.timer);
    report.timer = this.#timers.schedule(() => {
      report.timer = undefined;
      // A quiet interval ends the episode: the device's entry goes, memory stays bounded.
      if (report.pending === 0) this.#dropReports.delete(endpoint);
      else this.#reportDrops(endpoint, report, undefined);
    }, this.#options.notificationRateLimit?.reportInterval ?? DEFAULT_DROP_REPORT_INTERVAL);
    this.emit('notificationsDropped', {
      endpoint,
      dropped,
      total: report.total,
      ...(cancelled ? { cancelled } : {}),
    });
  }

  #track(o: Observation): void {
    let set = this.#observations.get(o.registrationId);
    if (!set) {
      set = new Set();
      this.#observations.set(o.registrationId, set);
    }
    set.add(o);
  }

  #endObservation(o: Observation, reason: ObservationEndReason): void {
    this.#observations.get(o.registrationId)?.delete(o);
    o.end(reason);
  }

  async #cancelObservation(
    o: Observation,
    request: ObserveRequest | ObserveCompositeRequest,
    options: RequestOptions,
  ): Promise<OperationResult | undefined> {
    if (!o.active) return undefined;
    const binding = o.bindingObservation;
    this.#observations.get(o.registrationId)?.delete(o);
    o.end('cancelled', false);
    const reg = await this.store.get(o.endpoint);
    if (!binding || !reg || reg.id !== o.registrationId) {
      binding?.forget();
      return undefined;
    }
    const id = this.#commandId();
    const base = {
      id,
      endpoint: o.endpoint,
      operation:
        request.kind === 'observe'
          ? ('cancel-observation' as const)
          : ('cancel-observation-composite' as const),
      paths: pathsOf(request),
    };
    return this.#schedule(reg, options, async () => {
      const started = this.#clock.now();
      let wire: Partial<WireIdentity> = {};
      try {
        const response = await binding.cancel({
          timeout: options.timeout ?? this.#options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
          onSent: (identity) => {
            wire = identity;
            this.emit('request', { ...base, ...identity });
          },
        });
        this.emit('response', {
          ...base,
          ...wire,
          code: response.code,
          durationMs: this.#clock.now() - started,
        });
        return new OperationResult(id, o.endpoint, base.operation, response, wire);
      } catch (e) {
        binding.forget();
        const error = this.#wrap(o.endpoint, e);
        this.emit('response', { ...base, ...wire, error, durationMs: this.#clock.now() - started });
        throw error;
      }
    });
  }

  /** Re-observes the resumable observations of a replaced registration on the new one. */
  #resume(observations: readonly Observation[], reg: Registration): void {
    for (const o of observations) {
      if (!o.active) continue;
      const request: ObserveRequest | ObserveCompositeRequest = o.composite
        ? { kind: 'observe-composite', paths: o.paths, ...(o.attributes ? { attributes: o.attributes } : {}) }
        : { kind: 'observe', path: o.path, ...(o.attributes ? { attributes: o.attributes } : {}) };
      void this.#schedule(reg, {}, async () => {
        if (!o.active) return;
        const { binding, result } = await this.#establish(
          o.id,
          reg,
          request,
          {},
          new NotificationSink(request.kind, this.#sinkEvents, o),
        );
        const current = await this.store.get(reg.endpoint);
        if (!o.active || current?.id !== reg.id) {
          // Cancelled, or the registration changed again, while the Observe was in flight.
          binding.forget();
          o.end(current ? 'replaced' : 'deregistered', false);
          return;
        }
        if (!binding.established || !result.success) {
          binding.forget();
          o.end('rejected', false);
          return;
        }
        o.rebind(binding, reg.id, result);
        this.#track(o);
        this.#persist(o, request, binding.identity);
      }).catch((e: unknown) => {
        o.end('replaced', false);
        this.#emitError(e);
      });
    }
  }

  // ---- internals: values ----

  #records(path: LwM2mPath, value: WriteInput, reg: Registration): LwM2mRecord[] {
    if (Array.isArray(value)) return [...(value as readonly LwM2mRecord[])];
    if (isLwM2mValue(value)) return [{ path, value }];
    if (value !== null && typeof value === 'object' && !('hex' in value)) {
      const json = value as Record<string, unknown>;
      const absolute: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(json))
        absolute[
          k.startsWith(path.toString() + '/') || k === path.toString()
            ? k
            : `${path.toString()}${k.startsWith('/') ? '' : '/'}${k}`
        ] = v;
      return this.#jsonRecords(absolute, reg);
    }
    if (path.resourceId === undefined)
      throw new OperationError(
        'bad-payload',
        '4.00',
        `a single value needs a resource path, not ${path.toString()}`,
      );
    const versions = downlinkTarget(reg).objectVersions;
    const def = this.model.resource(path.objectId!, path.resourceId, versions.get(path.objectId!));
    const type = def?.type ?? inferJsonType(value);
    return [
      { path, value: valueFromJson(type === 'none' ? inferJsonType(value) : type, value, path.toString()) },
    ];
  }

  #jsonRecords(json: Record<string, unknown>, reg: Registration): LwM2mRecord[] {
    return recordsFromJson(json, this.model, downlinkTarget(reg).objectVersions).records;
  }

  #createInstance(
    objectPath: LwM2mPath,
    instanceId: number | undefined,
    values: Readonly<Record<string, unknown>> | readonly LwM2mRecord[],
    reg: Registration,
  ): CreateInstance {
    const oid = objectPath.objectId!;
    const placeholder = instanceId ?? 0;
    let records: readonly LwM2mRecord[];
    if (Array.isArray(values)) records = values as readonly LwM2mRecord[];
    else {
      const absolute: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(values)) {
        const p = LwM2mPath.parse(k);
        absolute[p.depth <= 2 ? `/${oid}/${placeholder}${k}` : k] = v;
      }
      records = this.#jsonRecords(absolute, reg);
    }
    // A value addressed outside the new instance (another object, another instance) is a
    // caller's mistake: moving it into the instance would write a resource nobody named.
    const outside = records.find(
      (r) =>
        r.path.objectId !== oid ||
        (r.path.depth >= 2 && r.path.instanceId !== placeholder && !Array.isArray(values)) ||
        (instanceId !== undefined && r.path.depth >= 2 && r.path.instanceId !== instanceId),
    );
    if (outside)
      throw new OperationError(
        'bad-payload',
        '4.00',
        `${outside.path.toString()} is not inside the instance being created in ${objectPath.toString()}${instanceId === undefined ? '' : `/${instanceId}`}`,
      );
    const resources = records
      .filter((r) => r.path.depth >= 3)
      .map((r) => ({ ...r, path: new LwM2mPath(r.path.ids.slice(2)) }));
    return { instanceId, resources };
  }

  /** Tracks what the server learns from answers: the client's Mute Send. */
  #learn(endpoint: string, result: OperationResult): void {
    // The value's type first: it is a field, the path's ids are getters (this runs per notification).
    for (const r of result.records)
      if (r.value?.type === 'boolean' && r.path.objectId === 1 && r.path.resourceId === 23)
        this.#muteSend.set(endpoint, r.value.value);
  }

  // ---- internals: uplink ----

  async #onUplink(request: UplinkRequest, context: UplinkContext): Promise<UplinkResponse> {
    const id = this.#commandId();
    let endpoint: string | undefined;
    let response: UplinkResponse;
    try {
      const handled = await this.#handleUplink(request, context);
      endpoint = handled.endpoint;
      response = handled.response;
    } catch (e) {
      if (!(e instanceof OperationError)) {
        this.#emitError(e);
        response = { code: '5.00', diagnostic: 'internal error' };
      } else response = { code: e.resultCode, diagnostic: e.message };
      endpoint ??= request.kind === 'register' ? (request.endpoint ?? undefined) : undefined;
    }
    this.emit('uplink', {
      id,
      operation: request.kind,
      endpoint,
      peer: `${context.peer.address}:${context.peer.port}`,
      token: context.identity.token,
      ...(context.identity.messageId === undefined ? {} : { messageId: context.identity.messageId }),
      code: response.code,
      ...(response.diagnostic === undefined ? {} : { diagnostic: response.diagnostic }),
    });
    return response;
  }

  async #handleUplink(
    request: UplinkRequest,
    context: UplinkContext,
  ): Promise<{ endpoint: string | undefined; response: UplinkResponse }> {
    switch (request.kind) {
      case 'register': {
        const admission = this.#admission;
        if (admission) {
          const name = request.endpoint ?? '';
          const verdict = admission.admit(this.#registrations.count, this.#registrations.has(name));
          if (!verdict.admitted)
            return {
              endpoint: request.endpoint ?? undefined,
              response: {
                code: '5.03',
                diagnostic: ADMISSION_DIAGNOSTICS[verdict.reason!],
                retryAfter: verdict.retryAfter,
              },
            };
        }
        let admitted: Awaited<ReturnType<RegistrationService['register']>>;
        try {
          admitted = await this.#registrations.register(request, context);
        } finally {
          admission?.done();
        }
        const { registration, previous } = admitted;
        if (previous) this.#ended(previous, 'replaced');
        return {
          endpoint: registration.endpoint,
          response: {
            code: '2.01',
            registrationId: registration.id,
            onSent: () => {
              // A De-register or a newer Register may have been handled while the 2.01 left.
              if (!this.#registrations.isCurrent(registration)) return;
              this.#afterRegistration(registration);
              const resumable = this.#pendingResume.get(registration.endpoint);
              this.#pendingResume.delete(registration.endpoint);
              if (resumable) this.#resume(resumable, registration);
              this.#safeEmit('registered', registration, previous);
            },
          },
        };
      }
      case 'update': {
        const { registration, previous } = await this.#registrations.update(request, context);
        return {
          endpoint: registration.endpoint,
          response: {
            code: '2.04',
            onSent: () => {
              if (!this.#registrations.isCurrent(registration)) return;
              this.#afterRegistration(registration);
              this.#safeEmit('updated', registration, previous);
            },
          },
        };
      }
      case 'deregister': {
        const reg = await this.#registrations.deregister(request, context);
        this.#ended(reg, 'deregistered');
        return { endpoint: reg.endpoint, response: { code: '2.02' } };
      }
      case 'send':
        return this.#onSend(request, context);
      case 'bootstrap-request':
      case 'bootstrap-pack-request':
        // This is a DM server; the Bootstrap-Server is its own role.
        throw new OperationError('not-allowed', '4.00', 'this is not a Bootstrap-Server');
    }
  }

  /**
   * Starts or refreshes queue mode once the 2.01/2.04 has left: the client is awake now. A client
   * that left queue mode has its queue drained in order (then requests go straight out again).
   */
  #afterRegistration(reg: Registration): void {
    const q = this.#queues.get(reg.endpoint);
    if (!reg.queueMode) {
      if (q) {
        q.drain();
        void q.idle().then(() => {
          if (this.#queues.get(reg.endpoint) === q && q.size === 0 && !q.busy)
            this.#queues.delete(reg.endpoint);
        });
      }
      return;
    }
    this.#queue(reg).wake();
  }

  /** A registration ended: its observations are void (Core §6.4), its queue rejects what waits. */
  #ended(reg: Registration, reason: 'deregistered' | 'expired' | 'replaced'): void {
    const set = this.#observations.get(reg.id);
    this.#observations.delete(reg.id);
    const resumable: Observation[] = [];
    for (const o of set ?? []) {
      if (reason === 'replaced' && o.resume) {
        o.suspend();
        resumable.push(o);
      } else o.end(reason);
    }
    if (reason !== 'replaced') {
      this.#muteSend.delete(reg.endpoint);
      const q = this.#queues.get(reg.endpoint);
      this.#queues.delete(reg.endpoint);
      q?.close(new ServerRequestError('registration-ended', reg.endpoint, `${reg.endpoint} ${reason}`));
      this.emit(reason, reg);
    } else if (resumable.length > 0) {
      // Re-observed once the new registration's 2.01 has left (see the register case).
      this.#pendingResume.set(reg.endpoint, resumable);
    }
  }

  async #onSend(
    request: SendRequest,
    context: UplinkContext,
  ): Promise<{ endpoint: string | undefined; response: UplinkResponse }> {
    const endpoint = this.#registrations.endpointAt(context.peer);
    const reg = endpoint === undefined ? undefined : await this.store.get(endpoint);
    if (!reg || !sameIdentity(reg.peer.identity, context.peer.identity))
      throw new OperationError('not-registered', '4.04', 'Send from a client that is not registered');
    if (
      (this.#options.sendPolicy ?? 'mute-send') === 'mute-send' &&
      this.#muteSend.get(reg.endpoint) === true
    )
      throw new OperationError(
        'not-allowed',
        '4.00',
        'Send is muted for this client (Mute Send /1/x/23 is true)',
      );
    for (const r of request.records) {
      const { objectId, instanceId } = r.path;
      if (objectId === undefined || !hasRegisteredObject(reg, objectId, instanceId))
        throw new OperationError(
          'not-registered',
          '4.04',
          `Send reports ${r.path.toString()}, which is not registered`,
        );
    }
    const result = new OperationResult(
      this.#commandId(),
      reg.endpoint,
      'send',
      {
        code: '2.04',
        format: request.format,
        records: request.records,
      },
      context.identity,
    );
    this.#learn(reg.endpoint, result);
    return {
      endpoint: reg.endpoint,
      response: {
        code: '2.04',
        onSent: () => this.emit('send', { id: result.id, registration: reg, result }),
      },
    };
  }

  /** Emits an event whose listeners are application code: a throwing listener must not crash the binding. */
  #safeEmit<K extends keyof LwM2mServerEvents>(event: K, ...args: LwM2mServerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: LwM2mServerEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.#emitError(e);
    }
  }

  #emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', asError(e));
  }
}

/** The message of the deepest `cause` (the codec's, under the binding's wrapper). */
function innermostMessage(e: unknown): string {
  let inner = e;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  return inner instanceof Error ? inner.message : String(inner);
}
