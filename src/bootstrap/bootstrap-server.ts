import { EventEmitter } from 'node:events';
import { PetrelError } from '../errors.js';
import { BindingError } from '../binding/binding.js';
import type { DownlinkTarget, ServerBinding, UplinkContext } from '../binding/binding.js';
import { systemClock } from '../clock.js';
import { PeerRateLimiter } from '../server/peer-rate-limit.js';
import type { PeerRateLimitOptions } from '../server/peer-rate-limit.js';
import type { Clock } from '../clock.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import type { CodecRegistry } from '../content/codec-registry.js';
import type { ContentFormatId } from '../content/content-format.js';
import { subjectCommonName } from '../dtls/peer-verification.js';
import { formatLinkFormat } from '../model/link-format.js';
import type { ObjectModel } from '../model/object-definition.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mPath } from '../model/path.js';
import { parseDiscoverPayload } from '../model/registration-payload.js';
import type {
  BootstrapPackRequest,
  BootstrapRequestRequest,
  DownlinkRequest,
  DownlinkResponse,
  UplinkRequest,
  UplinkResponse,
} from '../operations/requests.js';
import { OperationError } from '../operations/result-code.js';
import type { ResultCode } from '../operations/result-code.js';
import { cryptoRandom } from '../random.js';
import type { RandomSource } from '../random.js';
import { createEndpointSecurity, hasCredentials } from '../server/endpoint-security.js';
import type { EndpointSecurityCheck } from '../server/endpoint-security.js';
import { openTcpChannel, openTlsChannel } from '../server/stream-sides.js';
import type { TcpSideOptions, TlsSideOptions } from '../server/stream-sides.js';
import type { MqttServerBindingOptions } from '../binding/mqtt/mqtt-server-binding.js';
import type { BootstrapConfigStore } from '../store/bootstrap-config-store.js';
import type { CredentialStore, SecurityInfo } from '../store/credential-store.js';
import { MemoryRegistrationStore } from '../store/memory-registration-store.js';
import type { Channel, LocalAddress } from '../transport/channel.js';
import { BootstrapConfigError } from './bootstrap-config.js';
import type { BootstrapConfiguration } from './bootstrap-config.js';
import { bootstrapAccountPskWrites, generatePsk, rotatedConfig } from './bootstrap-rotation.js';
import type { Psk } from './bootstrap-rotation.js';
import { resolveConfigDocument } from './bootstrap-template.js';
import {
  bootstrapPackRecords,
  bootstrapWriteRequests,
  compareVersions,
  emptyInventory,
  inventoryFromDiscover,
  layoutInstances,
} from './bootstrap-plan.js';
import type { DeviceInventory } from './bootstrap-plan.js';

// ---- options, records, events ----

export interface BootstrapServerOptions {
  /** Where each endpoint's configuration comes from. */
  readonly configs: BootstrapConfigStore;
  /**
   * Listen on UDP (CoAP). Default `{ address: '0.0.0.0', port: 5683 }` when no channel/binding is
   * given; `false`: no plain CoAP side (a server on TCP, TLS or MQTT only).
   */
  readonly udp?: { readonly address?: string; readonly port?: number } | false;
  /** Run CoAP over this channel instead (in-memory tests). */
  readonly channel?: Channel;
  /** A binding built elsewhere, instead of the built-in CoAP one. */
  readonly binding?: ServerBinding;
  /** More bindings served next to the first (e.g. CoAP over DTLS); closed with the server. */
  readonly bindings?: readonly ServerBinding[];
  /** Also serve CoAP over TCP (`coap+tcp://`, RFC 8323). */
  readonly tcp?: TcpSideOptions;
  /** Also serve CoAP over TLS (`coaps+tcp://`): PSKs from `credentials`, certificates as configured. */
  readonly tls?: TlsSideOptions;
  /** Also serve the MQTT binding's `bs` interface through a broker (`[prefix/]lwm2m/bs/{ep}`). */
  readonly mqtt?: Omit<MqttServerBindingOptions, 'codecs' | 'model' | 'iface'>;
  /**
   * Who may act as which endpoint (Transport TS §Security): a request over an authenticated
   * channel whose `ep` is not the identity's endpoint gets 4.00; without a store such requests
   * are refused. A NoSec request for an endpoint that has credentials is refused too (4.00),
   * unless `allowNoSec`: its configuration would hand out the device's secrets.
   */
  readonly credentials?: CredentialStore;
  readonly allowNoSec?: boolean;
  readonly model?: ObjectModel;
  readonly clock?: Clock;
  /** Wall-clock ms for session timestamps (default Date.now). */
  readonly now?: () => number;
  readonly random?: RandomSource;
  /** Deadline of each request to a client, ms (default 60 000). */
  readonly requestTimeout?: number;
  /** Finished sessions kept for sessions() (default 100). */
  readonly maxSessions?: number;
  /** Settings of the built-in CoAP binding. */
  readonly coap?: Record<string, unknown>;
  /** Requests each peer may send on the CoAP sides; past it 4.29 with Max-Age (docs/security.md). */
  readonly peerRateLimit?: PeerRateLimitOptions;
  /** Internal errors (a failing store, a codec bug); default: the 'error' event when it has listeners. */
  readonly onError?: (error: unknown) => void;
}

export type BootstrapOperation =
  'bootstrap-discover' | 'bootstrap-delete' | 'bootstrap-write' | 'bootstrap-read' | 'bootstrap-finish';

/** One request of a session and its answer. */
export interface BootstrapStep {
  readonly operation: BootstrapOperation;
  /** The target path (`/`, `/0/1`); undefined for Finish. */
  readonly path: string | undefined;
  /** The client's answer; undefined when none came (timeout, closed). */
  readonly code: ResultCode | undefined;
  /** Content-Format of a Write. */
  readonly format?: number;
  readonly latencyMs: number;
  /** Why the step got no usable answer. */
  readonly error?: string;
}

export type BootstrapFailureReason =
  | 'error-code' // the client answered with an error
  | 'timeout' // no answer in time
  | 'closed' // the binding closed under the session
  | 'bad-answer' // an answer that could not be decoded
  | 'replaced' // a new Bootstrap-Request from the same endpoint
  | 'stopped' // the server stopped
  | 'internal';

export type BootstrapOutcome =
  | { readonly status: 'succeeded' }
  | {
      readonly status: 'failed';
      readonly reason: BootstrapFailureReason;
      /** The step that failed (absent for replaced/stopped between steps). */
      readonly operation?: BootstrapOperation;
      readonly path?: string;
      readonly code?: ResultCode;
      readonly message: string;
    };

export interface BootstrapSessionRecord {
  readonly id: string;
  readonly endpoint: string;
  /** 'request': Bootstrap-Request and the downlinks; 'pack': one Bootstrap-Pack-Request. */
  readonly kind: 'request' | 'pack';
  /** `address:port` of the client. */
  readonly peer: string;
  readonly transport: string;
  /** Wall-clock ms. */
  readonly startedAt: number;
  readonly finishedAt?: number;
  /** `pct` of the Bootstrap-Request, or the Accept of the Pack. */
  readonly requestedFormat?: number;
  /** The client's enabler version from its Bootstrap-Discover. */
  readonly lwm2mVersion?: string;
  /** What the session was for: the reason recorded with requestBootstrap, else 'reconfigure'. */
  readonly reason: BootstrapReason;
  /**
   * Credential rotation (BS-001): 'writing' when the session writes the next PSK, 'confirmed' when
   * the device authenticated with it (the old one is then retired).
   */
  readonly rotation?: 'writing' | 'confirmed';
  readonly steps: readonly BootstrapStep[];
  /** Undefined while the session runs. */
  readonly outcome?: BootstrapOutcome;
}

/**
 * Why a device is sent back to bootstrap (Core-001: the Execute of /1/x/9 carries no reason, so it
 * is recorded here first): apply the configuration again, rotate the credentials, or remove every
 * LwM2M Server account (the Bootstrap-Server account stays).
 */
export type BootstrapReason = 'reconfigure' | 'rotate' | 'unbootstrap';
export const BOOTSTRAP_REASONS: readonly BootstrapReason[] = ['reconfigure', 'rotate', 'unbootstrap'];

/** The reason waiting for an endpoint's next bootstrap. */
export interface PendingBootstrap {
  readonly reason: BootstrapReason;
  /** Wall-clock ms. */
  readonly requestedAt: number;
}

export class BootstrapServerError extends PetrelError {
  readonly reason: 'no-credentials' | 'not-psk' | 'bad-psk';
  constructor(reason: BootstrapServerError['reason'], message: string) {
    super(`PETREL_ERR_BOOTSTRAP_${reason.toUpperCase().replaceAll('-', '_')}`, message);
    this.reason = reason;
  }
}

export interface BootstrapServerEvents {
  'session-started': [session: BootstrapSessionRecord];
  'session-step': [session: BootstrapSessionRecord, step: BootstrapStep];
  'session-finished': [session: BootstrapSessionRecord];
  error: [error: Error];
}

// ---- internals ----

interface Session {
  readonly id: string;
  readonly endpoint: string;
  readonly kind: 'request' | 'pack';
  readonly peer: UplinkContext['peer'];
  readonly peerText: string;
  readonly transport: string;
  readonly binding: ServerBinding;
  /** undefined only for 'unbootstrap' of an endpoint without configuration. */
  readonly config: BootstrapConfiguration | undefined;
  readonly reason: BootstrapReason;
  /** The PSKs of a rotation this session writes (the device authenticated with `current`). */
  readonly rotate?: { readonly current: Psk; readonly next: Psk };
  rotation?: 'writing' | 'confirmed';
  readonly startedAt: number;
  finishedAt?: number;
  requestedFormat?: number;
  lwm2mVersion?: string;
  steps: BootstrapStep[];
  outcome?: BootstrapOutcome;
}

/** Thrown inside a run when its session ended from outside (replaced, stopped). */
class SessionEnded extends Error {}

/** A step that failed: the run ends with this outcome. */
class StepFailed extends Error {
  readonly outcome: BootstrapOutcome;
  constructor(outcome: BootstrapOutcome) {
    super('step failed');
    this.outcome = outcome;
  }
}

/** Formats a Bootstrap-Pack can come in (Core §6.1.7.7). */
const PACK_FORMATS: ReadonlySet<number> = new Set([110, 112, 11544]);
const DEFAULT_PACK_FORMAT = 112;

/**
 * The Bootstrap-Write format for a client: its `pct` when its version has that format (LwM2M CBOR
 * came with 1.2, SenML with 1.1), else SenML CBOR for 1.2 and TLV (which every version has) before.
 */
export function writeFormatFor(pct: number | undefined, lwm2mVersion: string): ContentFormatId {
  const v12 = compareVersions(lwm2mVersion, '1.2') >= 0;
  const v11 = compareVersions(lwm2mVersion, '1.1') >= 0;
  if (pct === 11542 || (pct === 11544 && v12) || ((pct === 110 || pct === 112) && v11)) return pct;
  // The binding's policy for a client that announced no formats (format-choice.ts).
  return v12 ? 112 : 11542;
}

const pathText = (request: DownlinkRequest): string | undefined =>
  'path' in request ? request.path.toString() : undefined;

/**
 * A LwM2M Bootstrap-Server (Core §6.1, Client-Initiated bootstrap): answers Bootstrap-Request with
 * 2.04 and then configures the client from its stored configuration: Bootstrap-Discover `/`,
 * Bootstrap-Delete of its /1 and /0 instances (never the Bootstrap-Server account), a
 * Bootstrap-Write per /0 and /1 instance, Bootstrap-Finish. Also answers Bootstrap-Pack-Request
 * (1.2) with the whole configuration in one response. Runs over any ServerBinding (CoAP over UDP
 * or DTLS).
 */
export class BootstrapServer extends EventEmitter<BootstrapServerEvents> {
  readonly model: ObjectModel;
  readonly codecs: CodecRegistry;
  readonly #options: BootstrapServerOptions;
  readonly #clock: Clock;
  readonly #peerRateLimit: PeerRateLimiter | undefined;
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #security: EndpointSecurityCheck | undefined;
  readonly #running = new Map<string, Session>();
  readonly #recent: Session[] = [];
  #bindings: ServerBinding[] = [];
  #ownedChannel: Channel | undefined;
  /** The TCP and TLS sides' channels, by transport. */
  readonly #sideChannels = new Map<'tcp' | 'tls', Channel>();
  #nextId = 1;
  #started = false;
  #stopped = false;

  constructor(options: BootstrapServerOptions) {
    super();
    this.#options = options;
    this.model = options.model ?? createDefaultRegistry();
    this.codecs = createCodecRegistry();
    this.#clock = options.clock ?? systemClock;
    this.#peerRateLimit = options.peerRateLimit && new PeerRateLimiter(options.peerRateLimit, this.#clock);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? cryptoRandom;
    // The LwM2M server's ep-vs-identity rule, reused; it reads the registration store only for
    // NoSec peers, which this server never passes to it.
    this.#security =
      options.credentials === undefined
        ? undefined
        : createEndpointSecurity({ credentials: options.credentials, store: new MemoryRegistrationStore() });
  }

  /** Where the built-in UDP channel listens (after start). */
  get address(): LocalAddress | undefined {
    return this.#ownedChannel?.local ?? this.#options.channel?.local;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    let binding = this.#options.binding;
    const udp = this.#options.udp;
    if (!binding && (udp !== false || this.#options.channel)) {
      let channel = this.#options.channel;
      if (!channel) {
        const { UdpChannel } = await import('../transport/udp-channel.js');
        channel = await UdpChannel.open({
          address: (udp || undefined)?.address ?? '0.0.0.0',
          port: (udp || undefined)?.port ?? 5683,
        });
        this.#ownedChannel = channel;
      }
      const { createCoapServerBinding } = await import('../binding/coap/coap-server-binding.js');
      binding = createCoapServerBinding({
        channel,
        codecs: this.codecs,
        model: this.model,
        clock: this.#clock,
        random: this.#random,
        ...(this.#peerRateLimit ? { peerRateLimit: this.#peerRateLimit } : {}),
        ...(this.#options.coap ?? {}),
      });
    }
    let sides: ServerBinding[];
    try {
      sides = await this.#openSides();
    } catch (e) {
      await binding?.close();
      await this.#ownedChannel?.close();
      throw e;
    }
    this.#started = true;
    this.#bindings = [...(binding ? [binding] : []), ...(this.#options.bindings ?? []), ...sides];
    for (const b of this.#bindings) b.onUplink((request, context) => this.#onUplink(b, request, context));
  }

  /** Where a side listens by its transport ('tcp', 'tls'), after start. */
  listening(transport: 'tcp' | 'tls'): LocalAddress | undefined {
    return this.#sideChannels.get(transport)?.local;
  }

  /** The TCP, TLS and MQTT sides the options ask for (closed with the server as bindings). */
  async #openSides(): Promise<ServerBinding[]> {
    const { tcp, tls, mqtt } = this.#options;
    const sides: ServerBinding[] = [];
    const { createCoapServerBinding } = await import('../binding/coap/coap-server-binding.js');
    const coap = (channel: Channel): ServerBinding =>
      createCoapServerBinding({
        channel,
        codecs: this.codecs,
        model: this.model,
        clock: this.#clock,
        random: this.#random,
        ...(this.#peerRateLimit ? { peerRateLimit: this.#peerRateLimit } : {}),
        ...(this.#options.coap ?? {}),
      });
    try {
      if (tcp) {
        const channel = await openTcpChannel(tcp);
        this.#sideChannels.set('tcp', channel);
        sides.push(coap(channel));
      }
      if (tls) {
        const { channel } = await openTlsChannel(tls, {
          credentials: this.#options.credentials,
          clock: this.#clock,
          onError: (e) => this.#emitError(e),
        });
        this.#sideChannels.set('tls', channel);
        sides.push(coap(channel));
      }
      if (mqtt) {
        const { MqttServerBinding } = await import('../binding/mqtt/mqtt-server-binding.js');
        sides.push(
          await MqttServerBinding.start({
            clock: this.#clock,
            random: this.#random,
            onError: (e) => this.#emitError(e),
            ...mqtt,
            codecs: this.codecs,
            model: this.model,
            iface: 'bs',
          }),
        );
      }
    } catch (e) {
      for (const side of sides) await side.close();
      for (const channel of this.#sideChannels.values()) await channel.close();
      throw e;
    }
    return sides;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of [...this.#running.values()])
      this.#finish(s, { status: 'failed', reason: 'stopped', message: 'the bootstrap server stopped' });
    for (const b of this.#bindings) await b.close();
    await this.#ownedChannel?.close();
  }

  /** Recent sessions, oldest first (running ones included). */
  sessions(): BootstrapSessionRecord[] {
    return this.#recent.map((s) => snapshot(s));
  }

  /** The running or latest session of an endpoint. */
  session(endpoint: string): BootstrapSessionRecord | undefined {
    for (let i = this.#recent.length - 1; i >= 0; i--) {
      const s = this.#recent[i]!;
      if (s.endpoint === endpoint) return snapshot(s);
    }
    return undefined;
  }

  /**
   * Records why an endpoint's next bootstrap happens (the LwM2M server then executes /1/x/9); its
   * next Bootstrap-Request acts on it, and a successful session clears it.
   */
  async requestBootstrap(endpoint: string, reason: BootstrapReason): Promise<PendingBootstrap> {
    const pending = { reason, requestedAt: this.#now() };
    await this.#options.configs.setPending(endpoint, pending);
    return pending;
  }

  pendingBootstrap(endpoint: string): Promise<PendingBootstrap | undefined> {
    return this.#options.configs.getPending(endpoint);
  }

  cancelBootstrap(endpoint: string): Promise<boolean> {
    return this.#options.configs.removePending(endpoint);
  }

  /**
   * Starts a PSK rotation (BS-001, bootstrap-rotation.ts): stores `next` (generated when absent)
   * as the endpoint's next PSK beside the current one and records 'rotate'. A rotation already
   * under way keeps its next PSK (the device may hold it already) unless `next` repeats it.
   */
  async startRotation(endpoint: string, next?: Psk): Promise<Psk> {
    const credentials = this.#options.credentials;
    if (!credentials) throw new BootstrapServerError('no-credentials', 'rotation needs a credential store');
    const info = await credentials.get(endpoint);
    if (!info?.psk)
      throw new BootstrapServerError('not-psk', `${JSON.stringify(endpoint)} has no PSK to rotate`);
    if (info.nextPsk !== undefined) {
      if (next !== undefined && (next.identity !== info.nextPsk.identity || next.key !== info.nextPsk.key))
        throw new BootstrapServerError(
          'bad-psk',
          `a rotation to ${JSON.stringify(info.nextPsk.identity)} is under way: the device may hold it already`,
        );
      await this.requestBootstrap(endpoint, 'rotate');
      return info.nextPsk;
    }
    const chosen = next ?? generatePsk(endpoint, this.#random);
    if (chosen.identity === info.psk.identity)
      throw new BootstrapServerError('bad-psk', 'the next PSK needs an identity of its own');
    await credentials.put({ ...info, nextPsk: chosen });
    await this.requestBootstrap(endpoint, 'rotate');
    return chosen;
  }

  // ---- uplinks ----

  async #onUplink(
    binding: ServerBinding,
    request: UplinkRequest,
    context: UplinkContext,
  ): Promise<UplinkResponse> {
    try {
      switch (request.kind) {
        case 'bootstrap-request':
          return await this.#bootstrapRequest(binding, request, context);
        case 'bootstrap-pack-request':
          return await this.#packRequest(binding, request, context);
        default:
          return { code: '4.04', diagnostic: 'this is a LwM2M Bootstrap-Server' };
      }
    } catch (e) {
      if (e instanceof OperationError) return { code: e.resultCode, diagnostic: e.message };
      this.#emitError(e);
      return { code: '5.00', diagnostic: 'internal error' };
    }
  }

  /**
   * The endpoint a request acts for: `ep`, checked against an authenticated identity; or, when
   * `ep` is absent, the endpoint the identity stands for (Core §6.1.7.1: ep MAY be left out when
   * it equals the security identity). Throws OperationError 4.00.
   */
  async #endpointOf(endpoint: string | undefined, context: UplinkContext): Promise<string> {
    const identity = context.peer.identity;
    const credentials = this.#options.credentials;
    if (endpoint === undefined) {
      let derived: string | undefined;
      if (identity !== undefined && 'psk' in identity)
        derived = (await credentials?.getByPskIdentity(identity.psk))?.endpoint;
      else if (identity !== undefined && 'x509' in identity)
        derived = subjectCommonName(identity.x509.subject);
      if (derived === undefined)
        throw new OperationError(
          'bad-parameter',
          '4.00',
          'ep is missing and the peer has no identity that names it',
        );
      return derived;
    }
    if (identity !== undefined) {
      if (!this.#security)
        throw new OperationError(
          'not-allowed',
          '4.00',
          'no credential store to check ep against the peer identity',
        );
      await this.#security(endpoint, context);
      return endpoint;
    }
    if (credentials && !this.#options.allowNoSec && hasCredentials(await credentials.get(endpoint)))
      throw new OperationError(
        'not-allowed',
        '4.00',
        `${JSON.stringify(endpoint)} has credentials: bootstrap over DTLS`,
      );
    return endpoint;
  }

  /**
   * The endpoint's configuration, validated; undefined when it has none. A document that names a
   * template is resolved with its values first; one that cannot be is invalid like a bad document.
   */
  async #configOf(endpoint: string): Promise<BootstrapConfiguration | undefined> {
    const configs = this.#options.configs;
    const doc = await configs.get(endpoint);
    if (doc === undefined) return undefined;
    try {
      return await resolveConfigDocument(doc, endpoint, (name) => configs.getTemplate(name));
    } catch (e) {
      if (!(e instanceof BootstrapConfigError)) throw e;
      this.#emitError(e);
      throw new OperationError('bad-payload', '5.00', `the bootstrap configuration is invalid: ${e.message}`);
    }
  }

  async #bootstrapRequest(
    binding: ServerBinding,
    request: BootstrapRequestRequest,
    context: UplinkContext,
  ): Promise<UplinkResponse> {
    const endpoint = await this.#endpointOf(request.endpoint, context);
    const reason = (await this.pendingBootstrap(endpoint))?.reason ?? 'reconfigure';
    const config = await this.#configOf(endpoint);
    if (config === undefined && reason !== 'unbootstrap')
      return { code: '4.00', diagnostic: `no bootstrap configuration for ${JSON.stringify(endpoint)}` };
    if (this.#stopped) return { code: '5.03', diagnostic: 'the bootstrap server is stopping' };
    const rotation = await this.#rotation(endpoint, context);
    const previous = this.#running.get(endpoint);
    if (previous)
      this.#finish(previous, {
        status: 'failed',
        reason: 'replaced',
        message: 'a new Bootstrap-Request arrived from the endpoint',
      });
    const session = this.#open(binding, endpoint, 'request', context, config, request.preferredFormat, {
      reason,
      ...rotation,
    });
    // The first downlink leaves only once the 2.04 has (Core §6.1.7.1: the server starts after
    // answering); the binding calls onSent then.
    return { code: '2.04', onSent: () => void this.#run(session) };
  }

  /**
   * The rotation state of a Bootstrap-Request (bootstrap-rotation.ts): a device that authenticated
   * with its next PSK has proven it holds it (the next becomes current: 'confirmed'); one that
   * used its current PSK while a next one waits gets it written ('writing').
   */
  async #rotation(
    endpoint: string,
    context: UplinkContext,
  ): Promise<{ rotate?: { current: Psk; next: Psk }; rotation?: 'writing' | 'confirmed' }> {
    const identity = context.peer.identity;
    const credentials = this.#options.credentials;
    if (!credentials || identity === undefined || !('psk' in identity)) return {};
    const info = await credentials.get(endpoint);
    if (!info?.psk || !info.nextPsk) return {};
    if (identity.psk === info.nextPsk.identity) {
      await credentials.put(promoted(info));
      return { rotation: 'confirmed' };
    }
    if (identity.psk === info.psk.identity)
      return { rotate: { current: info.psk, next: info.nextPsk }, rotation: 'writing' };
    return {};
  }

  async #packRequest(
    binding: ServerBinding,
    request: BootstrapPackRequest,
    context: UplinkContext,
  ): Promise<UplinkResponse> {
    const format = request.accept ?? DEFAULT_PACK_FORMAT;
    if (!PACK_FORMATS.has(format))
      return { code: '4.06', diagnostic: 'a Bootstrap-Pack comes as SenML JSON, SenML CBOR or LwM2M CBOR' };
    const endpoint = await this.#endpointOf(request.endpoint, context);
    // A Pack has no Finish and no Bootstrap-Server account (bootstrapPackRecords): rotations and
    // unbootstrapping go through Bootstrap-Request, which the client falls back to (4.05).
    const pending = await this.pendingBootstrap(endpoint);
    if (pending !== undefined && pending.reason !== 'reconfigure')
      return { code: '4.05', diagnostic: `a ${pending.reason} is pending: use Bootstrap-Request` };
    if ((await this.#options.credentials?.get(endpoint))?.nextPsk)
      return { code: '4.05', diagnostic: 'a credential rotation is pending: use Bootstrap-Request' };
    const config = await this.#configOf(endpoint);
    if (config === undefined)
      return { code: '4.04', diagnostic: `no bootstrap configuration for ${JSON.stringify(endpoint)}` };
    // Without `acc` (1.2.1) the BS account's instance is unknown: assume /0/0, the usual one.
    const accounts = request.accounts?.filter((p) => p.objectId === 0 && p.instanceId !== undefined);
    const bsIds = accounts === undefined || accounts.length === 0 ? [0] : accounts.map((p) => p.instanceId!);
    const layout = layoutInstances({ ...config, deleteFirst: true }, emptyInventory('1.2', bsIds));
    const records = bootstrapPackRecords(config, layout);
    const session = this.#open(binding, endpoint, 'pack', context, config, format, { reason: 'reconfigure' });
    this.#finish(session, { status: 'succeeded' });
    if (pending !== undefined) await this.cancelBootstrap(endpoint);
    return { code: '2.05', records, format };
  }

  // ---- sessions ----

  #open(
    binding: ServerBinding,
    endpoint: string,
    kind: Session['kind'],
    context: UplinkContext,
    config: BootstrapConfiguration | undefined,
    requestedFormat: number | undefined,
    purpose: Pick<Session, 'reason' | 'rotate' | 'rotation'>,
  ): Session {
    const session: Session = {
      ...purpose,
      id: `bs-${this.#nextId++}`,
      endpoint,
      kind,
      peer: context.peer,
      peerText: `${context.peer.address}:${context.peer.port}`,
      transport: context.transport,
      binding,
      config,
      startedAt: this.#now(),
      steps: [],
      ...(requestedFormat === undefined ? {} : { requestedFormat }),
    };
    if (kind === 'request') this.#running.set(endpoint, session);
    this.#recent.push(session);
    this.#trim();
    this.emit('session-started', snapshot(session));
    return session;
  }

  #trim(): void {
    const max = Math.max(1, this.#options.maxSessions ?? 100);
    while (this.#recent.length > max) {
      // Drop the oldest finished session; running ones stay until they end.
      const i = this.#recent.findIndex((s) => s.outcome !== undefined);
      if (i < 0) break;
      this.#recent.splice(i, 1);
    }
  }

  #finish(session: Session, outcome: BootstrapOutcome): void {
    if (session.outcome !== undefined) return;
    session.outcome = outcome;
    session.finishedAt = this.#now();
    if (this.#running.get(session.endpoint) === session) this.#running.delete(session.endpoint);
    this.#trim();
    this.emit('session-finished', snapshot(session));
  }

  async #run(session: Session): Promise<void> {
    try {
      await this.#configure(session);
      this.#finish(session, { status: 'succeeded' });
      // Done what was asked; a rotation stays pending until the device shows it holds the new PSK.
      const pending = await this.pendingBootstrap(session.endpoint);
      const done =
        pending?.reason === 'rotate'
          ? session.rotation === 'confirmed'
          : pending !== undefined && pending.reason === session.reason;
      if (done) await this.cancelBootstrap(session.endpoint);
    } catch (e) {
      if (e instanceof SessionEnded) return;
      if (e instanceof StepFailed) {
        this.#finish(session, e.outcome);
        return;
      }
      this.#emitError(e);
      this.#finish(session, { status: 'failed', reason: 'internal', message: (e as Error).message });
    }
  }

  /**
   * The session's steps (Core §6.1.7): Discover, Delete, Write..., Finish. 'unbootstrap' deletes
   * every LwM2M Server account and writes nothing; a rotation writes the next PSK into the
   * Bootstrap-Server account and the accounts that used the current one.
   */
  async #configure(session: Session): Promise<void> {
    let inventory: DeviceInventory = emptyInventory('1.0');
    const discover = await this.#step(
      session,
      inventory,
      { kind: 'bootstrap-discover', path: LwM2mPath.ROOT },
      ['2.05'],
    );
    try {
      inventory = inventoryFromDiscover(parseDiscoverPayload(formatLinkFormat(discover.links ?? [])));
    } catch (e) {
      throw new StepFailed({
        status: 'failed',
        reason: 'bad-answer',
        operation: 'bootstrap-discover',
        path: '/',
        code: discover.code,
        message: `the Bootstrap-Discover answer is not a LwM2M link list: ${(e as Error).message}`,
      });
    }
    session.lwm2mVersion = inventory.lwm2mVersion;
    const unbootstrap = session.reason === 'unbootstrap' || session.config === undefined;
    const config =
      session.config && session.rotate
        ? rotatedConfig(session.config, session.rotate.current, session.rotate.next)
        : session.config;
    if (unbootstrap || config?.deleteFirst) {
      // /1 first: deleting a /0 instance first would make the client unbootstrap (and delete)
      // the paired /1 itself, and the /1 Delete would then find nothing.
      const bs = new Set(inventory.bootstrapAccounts);
      const deletes = [
        ...inventory.serverInstances.map((i) => LwM2mPath.of(1, i)),
        ...inventory.securityInstances.filter((i) => !bs.has(i)).map((i) => LwM2mPath.of(0, i)),
      ];
      // 4.04: already gone (a client may have removed it with its /0 pair).
      for (const path of deletes)
        await this.#step(session, inventory, { kind: 'bootstrap-delete', path }, ['2.02', '4.04']);
    }
    const format = writeFormatFor(session.requestedFormat, inventory.lwm2mVersion);
    if (!unbootstrap && config) {
      const layout = layoutInstances(config, inventory);
      for (const write of bootstrapWriteRequests(config, inventory, layout, format))
        await this.#step(session, inventory, write, ['2.04']);
      if (session.rotate) {
        const account = inventory.bootstrapAccounts[0];
        if (account === undefined)
          throw new StepFailed({
            status: 'failed',
            reason: 'internal',
            operation: 'bootstrap-discover',
            path: '/',
            message: 'the device lists no Bootstrap-Server account: its PSK cannot be rotated',
          });
        for (const write of bootstrapAccountPskWrites(account, session.rotate.next, format))
          await this.#step(session, inventory, write, ['2.04']);
      }
    }
    await this.#step(session, inventory, { kind: 'bootstrap-finish' }, ['2.04']);
  }

  /** Sends one request, records it, and throws StepFailed unless the answer is one of `expected`. */
  async #step(
    session: Session,
    inventory: DeviceInventory,
    request: DownlinkRequest & { kind: BootstrapOperation },
    expected: readonly ResultCode[],
  ): Promise<DownlinkResponse> {
    if (session.outcome !== undefined) throw new SessionEnded();
    const target: DownlinkTarget = {
      peer: session.peer,
      lwm2mVersion: inventory.lwm2mVersion,
      contentFormats: undefined,
      alternatePath: undefined,
      objectVersions: inventory.objectVersions,
    };
    const t0 = this.#clock.now();
    let format: number | undefined;
    let response: DownlinkResponse | undefined;
    let failure: { reason: BootstrapFailureReason; message: string } | undefined;
    try {
      response = await session.binding.send(target, request, {
        timeout: this.#options.requestTimeout ?? 60_000,
      });
    } catch (e) {
      failure = failureOf(e);
      if (failure === undefined) throw e;
    }
    if (request.kind === 'bootstrap-write') format = request.format;
    const path = pathText(request);
    const step: BootstrapStep = {
      operation: request.kind,
      path,
      code: response?.code,
      ...(format === undefined ? {} : { format }),
      latencyMs: this.#clock.now() - t0,
      ...(failure === undefined ? {} : { error: failure.message }),
    };
    if (session.outcome !== undefined) throw new SessionEnded();
    session.steps.push(step);
    this.emit('session-step', snapshot(session), step);
    const where = { operation: request.kind, ...(path === undefined ? {} : { path }) };
    if (failure !== undefined)
      throw new StepFailed({ status: 'failed', ...where, reason: failure.reason, message: failure.message });
    if (!expected.includes(response!.code))
      throw new StepFailed({
        status: 'failed',
        ...where,
        reason: 'error-code',
        code: response!.code,
        message: `${request.kind}${path === undefined ? '' : ` ${path}`} answered ${response!.code}${
          response!.diagnostic === undefined ? '' : ` (${response!.diagnostic})`
        }`,
      });
    return response!;
  }

  #emitError(e: unknown): void {
    if (this.#options.onError) this.#options.onError(e);
    else if (this.listenerCount('error') > 0)
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
  }
}

/** A binding failure as a session outcome; undefined for anything else (a bug: rethrown). */
function failureOf(e: unknown): { reason: BootstrapFailureReason; message: string } | undefined {
  if (e instanceof BindingError) {
    const reason: BootstrapFailureReason =
      e.reason === 'timeout' ? 'timeout' : e.reason === 'closed' ? 'closed' : 'bad-answer';
    return { reason, message: e.message };
  }
  if (e instanceof OperationError) return { reason: 'internal', message: e.message };
  return undefined;
}

/** The next PSK made current; the old one is retired. */
function promoted(info: SecurityInfo): SecurityInfo {
  const { nextPsk, ...rest } = info;
  return nextPsk === undefined ? info : { ...rest, psk: nextPsk };
}

function snapshot(s: Session): BootstrapSessionRecord {
  return {
    id: s.id,
    endpoint: s.endpoint,
    kind: s.kind,
    peer: s.peerText,
    transport: s.transport,
    startedAt: s.startedAt,
    ...(s.finishedAt === undefined ? {} : { finishedAt: s.finishedAt }),
    ...(s.requestedFormat === undefined ? {} : { requestedFormat: s.requestedFormat }),
    ...(s.lwm2mVersion === undefined ? {} : { lwm2mVersion: s.lwm2mVersion }),
    reason: s.reason,
    ...(s.rotation === undefined ? {} : { rotation: s.rotation }),
    steps: [...s.steps],
    ...(s.outcome === undefined ? {} : { outcome: s.outcome }),
  };
}
