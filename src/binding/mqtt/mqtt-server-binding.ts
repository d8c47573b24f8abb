import type { CodecRegistry } from '../../content/codec-registry.js';
import type { ObjectModel } from '../../model/object-definition.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  ObserveCompositeRequest,
  ObserveRequest,
  UplinkRequest,
  UplinkResponse,
} from '../../operations/requests.js';
import { OperationError, type ResultCode } from '../../operations/result-code.js';
import type { Peer } from '../../transport/channel.js';
import { BindingError } from '../binding.js';
import type {
  BindingObservation,
  DownlinkOptions,
  DownlinkTarget,
  NotificationHandlers,
  RestoredObservation,
  ServerBinding,
  UplinkContext,
  UplinkHandler,
  UplinkRefusal,
  WireIdentity,
} from '../binding.js';
import { MqttConnection, type IncomingRequest, type MqttConnectionOptions } from './mqtt-connection.js';
import {
  decodeDownlinkResponse,
  decodeNotification,
  encodeDownlinkRequest,
  type MqttDownlinkContext,
  type MqttFields,
} from './mqtt-downlink-codec.js';
import {
  RdOperationCode,
  codeToResult,
  tokenHex,
  tokenKey,
  type MqttMessage,
  type MqttToken,
} from './mqtt-message-map.js';
import { checkPrefix, parseTopic, subscriptionFor, topicFor, type MqttInterface } from './mqtt-topics.js';
import { decodeUplinkRequest, encodeUplinkResponse, uplinkOperationOf } from './mqtt-uplink-codec.js';

export interface MqttServerBindingOptions extends MqttConnectionOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  /** Deployment prefix of the topics (`tenant1` → `tenant1/lwm2m/rd/+`); none by default. */
  readonly prefix?: string;
  /** `rd` for an LwM2M Server (default), `bs` for a Bootstrap-Server. */
  readonly iface?: MqttInterface;
  /** Keep Register parameters the spec does not define instead of answering 4.00 (none can arrive over MQTT). */
  readonly allowUnknownParameters?: boolean;
  /** Enabler versions served; a Register with another gets 4.12. */
  readonly supportedVersions?: readonly string[];
}

/** The transport name registrations record for this binding. */
export const MQTT_TRANSPORT = 'mqtt';

/** Peer objects kept, one per topic seen. */
const MAX_CACHED_PEERS = 100_000;

/** Notifies kept while an Observe's answer is being handled. */
const MAX_EARLY_NOTIFIES = 16;

interface ServerObservation {
  readonly key: string;
  readonly request: ObserveRequest | ObserveCompositeRequest;
  readonly ctx: MqttDownlinkContext;
  readonly handlers: NotificationHandlers;
  established: boolean;
  sequence: number;
  /** Notifies that came before the answer was handled (same TCP read); delivered once established. */
  early?: { message: MqttMessage; confirmable: boolean }[];
}

/**
 * The LwM2M server's (or Bootstrap-Server's) MQTT binding (Transport TS §MQTT): subscribes
 * `{prefix}/lwm2m/{iface}/+`, turns clients' requests into typed uplinks and publishes the answer
 * on the same topic, and sends typed downlinks as maps awaiting the answer with the same token.
 *
 * A client's Peer is `{ address: <its topic>, port: 0 }`: the topic is the only stable address a
 * client has over a broker (Peer.address is an IP literal on the other bindings). One Peer object
 * per topic, so layers that cache by object keep working.
 */
export class MqttServerBinding implements ServerBinding {
  readonly connection: MqttConnection;
  readonly iface: MqttInterface;
  readonly #options: MqttServerBindingOptions;
  readonly #prefix: string | undefined;
  #uplink: UplinkHandler | undefined;
  readonly #activity: ((peer: Peer) => void)[] = [];
  readonly #refused: ((refusal: UplinkRefusal) => void)[] = [];
  readonly #peers = new Map<string, Peer>();
  /** The registration id each topic got in its last 2.01, for an Update without `uri`. */
  readonly #registrations = new Map<string, string>();
  readonly #observations = new Map<string, ServerObservation>();

  private constructor(connection: MqttConnection, options: MqttServerBindingOptions) {
    this.connection = connection;
    this.#options = options;
    this.#prefix = checkPrefix(options.prefix);
    this.iface = options.iface ?? 'rd';
    connection.onActivity((topic) => {
      const peer = this.#peerOf(topic);
      if (peer === undefined) return;
      for (const listener of this.#activity) listener(peer);
    });
    connection.onRequest((request) => this.#onRequest(request));
    connection.onMalformed(({ topic, error }) => {
      const peer = this.#peerOf(topic);
      options.onError?.(error);
      if (peer === undefined) return;
      this.#refuse({
        context: { peer, transport: MQTT_TRANSPORT, identity: { token: '' } },
        operation: undefined,
        code: '4.00',
        diagnostic: `malformed message: ${error.message}`,
      });
    });
  }

  /** Connects to the broker and subscribes the interface's topics. */
  static async start(options: MqttServerBindingOptions): Promise<MqttServerBinding> {
    checkPrefix(options.prefix);
    const connection = await MqttConnection.open(options);
    const binding = new MqttServerBinding(connection, options);
    try {
      await connection.subscribe(subscriptionFor(binding.#prefix, binding.iface));
    } catch (e) {
      await connection.close();
      throw e;
    }
    return binding;
  }

  /** The Peer of a client's topic (undefined for a topic outside this binding's interface). */
  peerFor(ep: string): Peer | undefined {
    return this.#peerOf(topicFor(this.#prefix, this.iface, ep));
  }

  #peerOf(topic: string): Peer | undefined {
    let peer = this.#peers.get(topic);
    if (peer !== undefined) return peer;
    const parsed = parseTopic(this.#prefix, topic);
    if (parsed === undefined || parsed.iface !== this.iface) return undefined;
    peer = Object.freeze({ address: topic, port: 0 });
    // Bounded: anyone may publish on many topics. Past the bound, peers are made afresh.
    if (this.#peers.size < MAX_CACHED_PEERS) this.#peers.set(topic, peer);
    return peer;
  }

  onUplink(handler: UplinkHandler): void {
    this.#uplink = handler;
  }

  onRefused(listener: (refusal: UplinkRefusal) => void): void {
    this.#refused.push(listener);
  }

  onActivity(listener: (peer: Peer) => void): void {
    this.#activity.push(listener);
  }

  #refuse(refusal: UplinkRefusal): void {
    for (const listener of this.#refused) listener(refusal);
  }

  #context(target: DownlinkTarget): MqttDownlinkContext {
    return {
      codecs: this.#options.codecs,
      model: this.#options.model,
      peer: { lwm2mVersion: target.lwm2mVersion, contentFormats: target.contentFormats },
      versions: target.objectVersions,
    };
  }

  /** The topic of a target, checked against the interface the request belongs to. */
  #topicOf(target: DownlinkTarget, request: DownlinkRequest): string {
    const topic = target.peer.address;
    const parsed = parseTopic(this.#prefix, topic);
    if (parsed === undefined || parsed.iface !== this.iface)
      throw new BindingError('rejected', `${topic} is not a ${this.iface} topic of this binding`);
    const bootstrap = request.kind.startsWith('bootstrap-');
    if (bootstrap !== (this.iface === 'bs'))
      throw new BindingError('rejected', `${request.kind} does not travel on the ${this.iface} topic`);
    return topic;
  }

  #decode(message: MqttMessage, request: DownlinkRequest, ctx: MqttDownlinkContext): DownlinkResponse {
    try {
      return decodeDownlinkResponse(message, request, ctx);
    } catch (e) {
      throw new BindingError(
        'decode',
        `the answer to ${request.kind} could not be decoded: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  async send(
    target: DownlinkTarget,
    request: DownlinkRequest,
    options?: DownlinkOptions,
  ): Promise<DownlinkResponse> {
    const topic = this.#topicOf(target, request);
    const ctx = this.#context(target);
    const fields = encodeDownlinkRequest(request, ctx);
    const message = await this.connection.request(topic, fields, requestOptions(options));
    return this.#decode(message, request, ctx);
  }

  async observe(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    handlers: NotificationHandlers,
    options?: DownlinkOptions,
  ): Promise<BindingObservation> {
    const topic = this.#topicOf(target, request);
    const ctx = this.#context(target);
    const fields = encodeDownlinkRequest(request, ctx);
    const token = this.connection.newToken();
    const key = `${topic}|${tokenKey(token)}`;
    // Registered before sending: the client's first Notify may follow its answer closely.
    const entry: ServerObservation = { key, request, ctx, handlers, established: false, sequence: 0 };
    this.#observations.set(key, entry);
    let message: MqttMessage;
    try {
      message = await this.connection.request(topic, fields, { ...requestOptions(options), token });
    } catch (e) {
      if (this.#observations.get(key) === entry) this.#observations.delete(key);
      throw e;
    }
    let response: DownlinkResponse;
    try {
      response = this.#decode(message, request, ctx);
    } catch (e) {
      this.#observations.delete(key);
      throw e;
    }
    const established = response.code === '2.05';
    const early = entry.early ?? [];
    entry.early = undefined;
    if (established) entry.established = true;
    else this.#observations.delete(key);
    const observation = { response, established, ...this.#controls(topic, token, entry) };
    // After the caller has the observation: its notifications follow its first answer.
    if (established && early.length > 0)
      setImmediate(() => {
        for (const n of early) this.#deliver(entry, n.message, n.confirmable);
      });
    return observation;
  }

  restoreObservation(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    identity: WireIdentity,
    handlers: NotificationHandlers,
  ): RestoredObservation {
    const topic = this.#topicOf(target, request);
    if (!/^(?:[0-9a-f]{2}){1,64}$/i.test(identity.token))
      throw new BindingError('rejected', `not an MQTT binding token: '${identity.token}'`);
    const token = new Uint8Array(Buffer.from(identity.token, 'hex'));
    const key = `${topic}|${tokenKey(token)}`;
    const entry: ServerObservation = {
      key,
      request,
      ctx: this.#context(target),
      handlers,
      established: true,
      sequence: 0,
    };
    this.#observations.set(key, entry);
    return this.#controls(topic, token, entry);
  }

  /** cancel(): a Cancel (22) with the observation's token and its uri/paths; forget(): drop it. */
  #controls(topic: string, token: MqttToken, entry: ServerObservation): RestoredObservation {
    const key = `${topic}|${tokenKey(token)}`;
    const forget = (): void => {
      if (this.#observations.get(key) === entry) this.#observations.delete(key);
    };
    const { request } = entry;
    const cancelRequest: DownlinkRequest =
      request.kind === 'observe'
        ? {
            kind: 'cancel-observation',
            path: request.path,
            ...(request.accept === undefined ? {} : { accept: request.accept }),
          }
        : {
            kind: 'cancel-observation-composite',
            paths: request.paths,
            ...(request.accept === undefined ? {} : { accept: request.accept }),
          };
    return {
      identity: { token: tokenHex(token) },
      forget,
      cancel: async (options) => {
        forget();
        entry.handlers.onEnd?.('cancelled');
        const fields = encodeDownlinkRequest(cancelRequest, entry.ctx);
        const message = await this.connection.request(topic, fields, { ...requestOptions(options), token });
        return this.#decode(message, cancelRequest, entry.ctx);
      },
    };
  }

  #onRequest(incoming: IncomingRequest): void {
    const { topic, message } = incoming;
    const peer = this.#peerOf(topic);
    if (peer === undefined) return;
    if (this.iface === 'rd' && message.operation === RdOperationCode.NOTIFY) {
      this.#onNotify(topic, message, incoming.qos > 0);
      return;
    }
    const identity = { token: tokenHex(message.token) };
    const context: UplinkContext = { peer, transport: MQTT_TRANSPORT, identity };
    let onSent: (() => void) | undefined;
    this.connection
      .answer(incoming, async () => {
        const answer = await this.#handleUplink(message, context);
        onSent = answer.onSent;
        return answer.fields;
      })
      .then(() => onSent?.())
      .catch((e: unknown) => this.#options.onError?.(e));
  }

  async #handleUplink(
    message: MqttMessage,
    context: UplinkContext,
  ): Promise<{ fields: MqttFields; onSent?: () => void }> {
    const topic = context.peer.address;
    const codecOptions = {
      codecs: this.#options.codecs,
      model: this.#options.model,
      ...(this.#options.allowUnknownParameters === undefined
        ? {}
        : { allowUnknownParameters: this.#options.allowUnknownParameters }),
      ...(this.#options.supportedVersions === undefined
        ? {}
        : { supportedVersions: this.#options.supportedVersions }),
    };
    let request: UplinkRequest;
    try {
      request = decodeUplinkRequest(message, this.iface, codecOptions, this.#registrations.get(topic));
    } catch (e) {
      const known = e instanceof OperationError;
      if (!known) this.#options.onError?.(e);
      const code: ResultCode = known ? e.resultCode : '5.00';
      const diagnostic = known ? e.message : 'internal error';
      this.#refuse({
        context,
        operation: uplinkOperationOf(this.iface, message.operation),
        code,
        diagnostic,
      });
      return { fields: { result: codeToResult(code), payload: new TextEncoder().encode(diagnostic) } };
    }
    const handler = this.#uplink;
    if (!handler) return { fields: { result: 503, payload: new TextEncoder().encode('server not ready') } };
    let response: UplinkResponse;
    try {
      response = await handler(request, context);
    } catch (e) {
      this.#options.onError?.(e);
      return { fields: { result: 500, payload: new TextEncoder().encode('internal error') } };
    }
    let fields: MqttFields;
    try {
      fields = encodeUplinkResponse(response, request, {
        codecs: this.#options.codecs,
        model: this.#options.model,
      });
    } catch (e) {
      this.#options.onError?.(e);
      return {
        fields: { result: 500, payload: new TextEncoder().encode('the answer could not be encoded') },
      };
    }
    if (request.kind === 'register' && response.code === '2.01' && response.registrationId !== undefined)
      this.#registrations.set(topic, response.registrationId);
    if (request.kind === 'deregister' && response.code === '2.02') this.#registrations.delete(topic);
    return response.onSent === undefined ? { fields } : { fields, onSent: response.onSent };
  }

  #onNotify(topic: string, message: MqttMessage, confirmable: boolean): void {
    const entry = this.#observations.get(`${topic}|${tokenKey(message.token)}`);
    if (entry === undefined) return;
    if (!entry.established) {
      if ((entry.early ??= []).length < MAX_EARLY_NOTIFIES) entry.early.push({ message, confirmable });
      return;
    }
    this.#deliver(entry, message, confirmable);
  }

  #deliver(entry: ServerObservation, message: MqttMessage, confirmable: boolean): void {
    if (this.#observations.get(entry.key) !== entry) return;
    let notification;
    try {
      notification = decodeNotification(message, entry.request, entry.ctx, ++entry.sequence, confirmable);
    } catch (e) {
      this.#options.onError?.(e);
      return;
    }
    entry.handlers.onNotification(notification, { token: tokenHex(message.token) });
  }

  /** Unsubscribes, ends pending requests and observations ('closed'), disconnects. */
  async close(): Promise<void> {
    const observations = [...this.#observations.values()];
    this.#observations.clear();
    for (const o of observations) o.handlers.onEnd?.('closed');
    await this.connection.unsubscribe(subscriptionFor(this.#prefix, this.iface));
    await this.connection.close();
  }
}

function requestOptions(options: DownlinkOptions | undefined): {
  timeout?: number;
  onSent?: (token: MqttToken) => void;
} {
  const onSent = options?.onSent;
  return {
    ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(onSent === undefined ? {} : { onSent: (token: MqttToken) => onSent({ token: tokenHex(token) }) }),
  };
}

export function createMqttServerBinding(options: MqttServerBindingOptions): Promise<MqttServerBinding> {
  return MqttServerBinding.start(options);
}
