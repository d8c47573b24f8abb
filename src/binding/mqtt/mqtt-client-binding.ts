import type { CodecRegistry } from '../../content/codec-registry.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import type { ObjectModel } from '../../model/object-definition.js';
import type { DownlinkRequest, UplinkRequest, UplinkResponse } from '../../operations/requests.js';
import { OperationError } from '../../operations/result-code.js';
import type { Peer } from '../../transport/channel.js';
import { BindingError } from '../binding.js';
import type {
  ClientBinding,
  DownlinkAnswer,
  DownlinkHandler,
  DownlinkOptions,
  NotificationSink,
  ObservationEndReason,
  UplinkTarget,
} from '../binding.js';
import { MqttConnection, type IncomingRequest, type MqttConnectionOptions } from './mqtt-connection.js';
import {
  decodeDownlinkRequest,
  encodeDownlinkResponse,
  encodeNotification,
  type MqttClientDownlinkContext,
  type MqttFields,
} from './mqtt-downlink-codec.js';
import { RdOperationCode, codeToResult, tokenHex, tokenKey, type MqttToken } from './mqtt-message-map.js';
import { checkPrefix, checkTopicEndpoint, parseTopic, topicFor, type MqttInterface } from './mqtt-topics.js';
import { decodeUplinkResponse, encodeUplinkRequest } from './mqtt-uplink-codec.js';
import { MQTT_TRANSPORT } from './mqtt-server-binding.js';

export interface MqttClientBindingOptions extends MqttConnectionOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly versions?: ReadonlyMap<number, string>;
  readonly prefix?: string;
  /** The ENDPOINT topic level: the endpoint name (or the security identity without `ep`). */
  readonly endpoint: string;
  /**
   * Topics to subscribe: `rd`, `bs`, or both (default). A client that bootstraps over MQTT
   * needs `bs`; it may drop it once bootstrapped.
   */
  readonly iface?: MqttInterface | 'both';
}

/**
 * The LwM2M client's MQTT binding (Transport TS §MQTT): subscribes `{prefix}/lwm2m/rd/{ep}` (and
 * `…/bs/{ep}`), publishes uplinks there and awaits the answer with the same token, answers the
 * server's requests on the same topic, and publishes Notify maps (operation 23, the observation's
 * token) for observations it accepted. A Cancel (22) with an observation's token ends that sink
 * ('cancelled') and is then answered like a CoAP cancel (the current value).
 *
 * The CONNECT ClientId defaults to the endpoint name (/24/x/6 absent: the spec's default). The
 * UplinkTarget's peer is not used: the topic is fixed by prefix and endpoint.
 */
export class MqttClientBinding implements ClientBinding {
  readonly connection: MqttConnection;
  readonly #options: MqttClientBindingOptions;
  readonly #prefix: string | undefined;
  #handler: DownlinkHandler | undefined;
  readonly #sinks = new Map<string, Sink>();
  /** The binding letters of the last Register, for an Update that sets queue mode alone. */
  #binding: string | undefined;

  private constructor(connection: MqttConnection, options: MqttClientBindingOptions) {
    this.connection = connection;
    this.#options = options;
    this.#prefix = checkPrefix(options.prefix);
    connection.onRequest((request) => this.#onRequest(request));
    connection.onMalformed(({ error }) => options.onError?.(error));
  }

  /** Connects (ClientId = endpoint unless given) and subscribes the client's topics. */
  static async start(options: MqttClientBindingOptions): Promise<MqttClientBinding> {
    checkPrefix(options.prefix);
    checkTopicEndpoint(options.endpoint);
    const connection = await MqttConnection.open({
      ...options,
      clientId: options.clientId ?? options.endpoint,
    });
    const binding = new MqttClientBinding(connection, options);
    try {
      for (const iface of binding.#interfaces()) await connection.subscribe(binding.topic(iface));
    } catch (e) {
      await connection.close();
      throw e;
    }
    return binding;
  }

  #interfaces(): MqttInterface[] {
    const iface = this.#options.iface ?? 'both';
    return iface === 'both' ? ['rd', 'bs'] : [iface];
  }

  /** `{prefix}/lwm2m/{iface}/{ep}`. */
  topic(iface: MqttInterface): string {
    return topicFor(this.#prefix, iface, this.#options.endpoint);
  }

  /** The Peer that stands for the server on `iface` (the topic, as on the server side). */
  peer(iface: MqttInterface = 'rd'): Peer {
    return { address: this.topic(iface), port: 0 };
  }

  onDownlink(handler: DownlinkHandler): void {
    this.#handler = handler;
  }

  async sendUplink(
    target: UplinkTarget,
    request: UplinkRequest,
    options?: DownlinkOptions,
  ): Promise<UplinkResponse> {
    const iface: MqttInterface = request.kind.startsWith('bootstrap-') ? 'bs' : 'rd';
    if (!this.#interfaces().includes(iface))
      throw new BindingError(
        'rejected',
        `${request.kind} goes on the ${iface} topic, which this binding does not use`,
      );
    const codec = { codecs: this.#options.codecs, model: this.#options.model };
    const fields = encodeUplinkRequest(request, {
      ...codec,
      lwm2mVersion: target.lwm2mVersion,
      ...(this.#binding === undefined ? {} : { binding: this.#binding }),
    });
    const onSent = options?.onSent;
    const message = await this.connection.request(this.topic(iface), fields, {
      ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
      ...(onSent === undefined ? {} : { onSent: (token: MqttToken) => onSent({ token: tokenHex(token) }) }),
    });
    const response = decodeUplinkResponse(message, request, codec, this.#options.endpoint);
    if (request.kind === 'register' && response.code === '2.01') this.#binding = request.binding;
    if (request.kind === 'update' && request.binding !== undefined && response.code === '2.04')
      this.#binding = request.binding;
    return response;
  }

  #context(bootstrap: boolean): MqttClientDownlinkContext {
    return {
      codecs: this.#options.codecs,
      model: this.#options.model,
      ...(this.#options.versions ? { versions: this.#options.versions } : {}),
      ...(bootstrap ? { bootstrap } : {}),
    };
  }

  #onRequest(incoming: IncomingRequest): void {
    const parsed = parseTopic(this.#prefix, incoming.topic);
    if (parsed === undefined || parsed.ep !== this.#options.endpoint) return;
    const { message } = incoming;
    // Another client's Notify cannot reach this topic; our own are echoes. Nothing to answer.
    if (parsed.iface === 'rd' && message.operation === RdOperationCode.NOTIFY) return;
    const sinkKey = `${incoming.topic}|${tokenKey(message.token)}`;
    if (parsed.iface === 'rd' && message.operation === RdOperationCode.CANCEL)
      this.#sinks.get(sinkKey)?.close('cancelled');
    const ctx = this.#context(parsed.iface === 'bs');
    let accept: DownlinkAnswer['observe'];
    let request: DownlinkRequest | undefined;
    this.connection
      .answer(
        incoming,
        async () => {
          const out = await this.#handle(incoming, ctx);
          accept = out.observe;
          request = out.request;
          return out.fields;
        },
        // The sink starts once the 2.05 is queued, so every Notify follows it on the wire.
        () => {
          if (accept === undefined || request === undefined) return;
          if (request.kind !== 'observe' && request.kind !== 'observe-composite') return;
          const onError = (e: unknown): void => this.#options.onError?.(e);
          const qos = this.#options.qos ?? 1;
          const publish = (fields: MqttFields, confirmable: boolean): void => {
            this.connection
              .publish(incoming.topic, { ...fields, token: message.token }, confirmable ? 1 : qos)
              .catch(onError);
          };
          const sink = new Sink(publish, onError, request, ctx);
          this.#sinks.get(sinkKey)?.close('replaced');
          this.#sinks.set(sinkKey, sink);
          sink.onEnd(() => {
            if (this.#sinks.get(sinkKey) === sink) this.#sinks.delete(sinkKey);
          });
          accept(sink);
        },
      )
      .catch((e: unknown) => this.#options.onError?.(e));
  }

  async #handle(
    incoming: IncomingRequest,
    ctx: MqttClientDownlinkContext,
  ): Promise<{ fields: MqttFields; request?: DownlinkRequest; observe?: DownlinkAnswer['observe'] }> {
    const error = (code: string, diagnostic: string): { fields: MqttFields } => ({
      fields: { result: codeToResult(code as `4.${string}`), payload: new TextEncoder().encode(diagnostic) },
    });
    let request: DownlinkRequest;
    try {
      request = decodeDownlinkRequest(incoming.message, ctx);
    } catch (e) {
      if (e instanceof OperationError) return error(e.resultCode, e.message);
      this.#options.onError?.(e);
      return error('5.00', 'internal error');
    }
    const handler = this.#handler;
    if (!handler) return error('5.03', 'client not ready');
    let answer: DownlinkAnswer;
    try {
      answer = await handler(request, {
        peer: this.peer(ctx.bootstrap ? 'bs' : 'rd'),
        transport: MQTT_TRANSPORT,
        identity: { token: tokenHex(incoming.message.token) },
      });
    } catch (e) {
      this.#options.onError?.(e);
      return error('5.00', 'internal error');
    }
    let fields: MqttFields;
    try {
      fields = encodeDownlinkResponse(answer.response, request, ctx);
    } catch (e) {
      if (e instanceof OperationError) return error(e.resultCode, e.message);
      if (e instanceof ContentFormatError) return error('4.06', e.message);
      this.#options.onError?.(e);
      return error('5.00', 'the answer could not be encoded');
    }
    const observe = answer.response.code === '2.05' ? answer.observe : undefined;
    return observe === undefined ? { fields, request } : { fields, request, observe };
  }

  /** Ends the sinks ('closed'), unsubscribes and disconnects. */
  async close(): Promise<void> {
    for (const sink of [...this.#sinks.values()]) sink.close('closed');
    this.#sinks.clear();
    for (const iface of this.#interfaces()) await this.connection.unsubscribe(this.topic(iface));
    await this.connection.close();
  }
}

/** An accepted observation: Notify maps with the Observe's token until cancelled or ended. */
class Sink implements NotificationSink {
  #active = true;
  readonly #listeners: ((reason: ObservationEndReason) => void)[] = [];

  constructor(
    private readonly publish: (fields: MqttFields, confirmable: boolean) => void,
    private readonly onError: (e: unknown) => void,
    private readonly request: Extract<DownlinkRequest, { kind: 'observe' | 'observe-composite' }>,
    private readonly ctx: MqttClientDownlinkContext,
  ) {}

  get active(): boolean {
    return this.#active;
  }

  notify(notification: Parameters<NotificationSink['notify']>[0], confirmable: boolean): void {
    if (!this.#active) return;
    let fields: MqttFields;
    try {
      fields = encodeNotification(notification, this.request, this.ctx);
    } catch (e) {
      this.onError(e);
      return;
    }
    this.publish(fields, confirmable);
  }

  /** The client ends it: nothing goes on the wire (MQTT has no message for it). */
  end(): void {
    this.close('ended');
  }

  onEnd(listener: (reason: ObservationEndReason) => void): void {
    this.#listeners.push(listener);
  }

  close(reason: ObservationEndReason): void {
    if (!this.#active) return;
    this.#active = false;
    for (const listener of this.#listeners) listener(reason);
  }
}

export function createMqttClientBinding(options: MqttClientBindingOptions): Promise<MqttClientBinding> {
  return MqttClientBinding.start(options);
}
