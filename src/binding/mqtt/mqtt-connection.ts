import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import { cryptoRandom, type RandomSource } from '../../random.js';
import { BindingError } from '../binding.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MqttMessageError,
  decodeMqttMessage,
  encodeMqttMessage,
  tokenKey,
  type MqttMessage,
  type MqttToken,
} from './mqtt-message-map.js';
import type { MqttFields } from './mqtt-downlink-codec.js';

/**
 * One MQTT session to the broker, shared by the server and client bindings: connects (MQTT 3.1.1
 * by default, 5 on request; no v5-only feature is used), publishes maps with fresh tokens, and
 * sorts what arrives on the subscribed topics into
 * - answers to its own requests (`result`, a token it is waiting for),
 * - its own echoes (server and client share each topic: a message it published comes back;
 *   dropped by topic + token + operation),
 * - requests from the peer (`operation`), handed to `onRequest`,
 * - undecodable maps, handed to `onMalformed` (never thrown).
 * Tokens are 8 bytes: a random 4-byte prefix per instance (unique across restarts) and a counter.
 * QoS 1 by default (at least once): a duplicate request (same topic, token and operation) is
 * answered again from a small cache rather than handled twice.
 */

export type MqttQos = 0 | 1 | 2;

export interface MqttTlsOptions {
  readonly ca?: string | Buffer | (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** Default true. */
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

export interface MqttWill {
  readonly topic: string;
  readonly payload: Uint8Array | string;
  readonly qos?: MqttQos;
  readonly retain?: boolean;
}

/** Broker connection settings, shared by both bindings. */
export interface MqttConnectionOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  readonly url: string;
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string | Uint8Array;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  readonly protocolVersion?: 4 | 5;
  /** Seconds (default 60). */
  readonly keepAlive?: number;
  /** Default true. */
  readonly cleanSession?: boolean;
  readonly will?: MqttWill;
  readonly tls?: MqttTlsOptions;
  /** QoS of every publish and subscription (default 1). */
  readonly qos?: MqttQos;
  /** Deadline of a request awaiting its answer, ms (default 30 s). */
  readonly requestTimeout?: number;
  /** Deadline of the first CONNECT, ms (default 10 s). */
  readonly connectTimeout?: number;
  /** Reconnect delay after a lost connection, ms (default 1000; 0 disables). */
  readonly reconnectPeriod?: number;
  /** Largest accepted message, bytes (default 1 MiB). */
  readonly maxMessageBytes?: number;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly onError?: (error: unknown) => void;
}

export interface IncomingRequest {
  readonly topic: string;
  readonly message: MqttMessage;
  /** The PUBLISH QoS it came with (a Notify at QoS >= 1 counts as confirmable). */
  readonly qos: MqttQos;
}

export interface MalformedMessage {
  readonly topic: string;
  readonly error: MqttMessageError;
}

interface Pending {
  resolve(message: MqttMessage): void;
  reject(error: unknown): void;
  timer: TimerHandle | undefined;
}

const ECHO_MEMORY = 1024;
const DUPLICATE_MEMORY = 256;

/** A bounded insertion-ordered map: the oldest entry goes first. */
class Recent<V> {
  readonly #map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(key: string): V | undefined {
    return this.#map.get(key);
  }
  has(key: string): boolean {
    return this.#map.has(key);
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.size) this.#map.delete(this.#map.keys().next().value!);
  }
}

/**
 * Requests and answers are small packets each awaiting the other: without TCP_NODELAY, Nagle and
 * delayed ACKs add ~40 ms to every exchange.
 */
function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

/** Waits for `promise` at most `ms` (its failure ignored): closing must not hang on a lost broker. */
async function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

const kindOf = (m: { operation?: number; result?: number }): string =>
  m.operation !== undefined ? `o${m.operation}` : `r${m.result}`;

export class MqttConnection {
  readonly client: MqttClient;
  readonly #options: MqttConnectionOptions;
  readonly #clock: Clock;
  readonly #qos: MqttQos;
  readonly #prefix: Uint8Array;
  #counter = 0;
  readonly #pending = new Map<string, Pending>();
  readonly #echoes = new Recent<true>(ECHO_MEMORY);
  readonly #answered = new Recent<Promise<MqttFields | undefined>>(DUPLICATE_MEMORY);
  #onRequest: ((request: IncomingRequest) => void) | undefined;
  #onMalformed: ((malformed: MalformedMessage) => void) | undefined;
  #onActivity: ((topic: string) => void) | undefined;
  #closed = false;

  private constructor(client: MqttClient, options: MqttConnectionOptions) {
    this.client = client;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#qos = options.qos ?? 1;
    this.#prefix = (options.random ?? cryptoRandom).bytes(4);
    client.on('message', (topic, payload, packet) => this.#receive(topic, payload, packet));
    noDelay(client);
    client.on('connect', () => noDelay(client));
    client.on('error', (e) => options.onError?.(e));
  }

  /** Connects; rejects with BindingError('closed') when the broker cannot be reached in time. */
  static async open(options: MqttConnectionOptions): Promise<MqttConnection> {
    const tls = options.tls;
    const clientOptions: IClientOptions = {
      protocolVersion: options.protocolVersion ?? 4,
      keepalive: options.keepAlive ?? 60,
      clean: options.cleanSession ?? true,
      reconnectPeriod: options.reconnectPeriod ?? 1000,
      connectTimeout: options.connectTimeout ?? 10_000,
      ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined
        ? {}
        : {
            password: typeof options.password === 'string' ? options.password : Buffer.from(options.password),
          }),
      ...(options.will === undefined
        ? {}
        : {
            will: {
              topic: options.will.topic,
              payload:
                typeof options.will.payload === 'string'
                  ? Buffer.from(options.will.payload)
                  : Buffer.from(options.will.payload),
              qos: options.will.qos ?? 0,
              retain: options.will.retain ?? false,
            },
          }),
      ...(tls === undefined
        ? {}
        : {
            ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | string[] | Buffer[] }),
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          }),
    };
    const scheme = /^([a-z]+):\/\//.exec(options.url)?.[1];
    if (scheme !== 'mqtt' && scheme !== 'mqtts')
      throw new BindingError('rejected', `an MQTT binding URL is mqtt:// or mqtts://, not ${options.url}`);
    const client = connect(options.url, clientOptions);
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        client.off('connect', onConnect);
        client.off('error', onError);
        clearTimeout(timer);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (e: Error): void => {
        cleanup();
        client.end(true);
        reject(new BindingError('closed', `MQTT connect to ${options.url}: ${e.message}`, { cause: e }));
      };
      const timer = setTimeout(
        () => onError(new Error('timed out')),
        (options.connectTimeout ?? 10_000) + 100,
      );
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    return new MqttConnection(client, options);
  }

  onRequest(handler: (request: IncomingRequest) => void): void {
    this.#onRequest = handler;
  }

  onMalformed(handler: (malformed: MalformedMessage) => void): void {
    this.#onMalformed = handler;
  }

  /** Called for every message that is not our own echo, before it is handled. */
  onActivity(handler: (topic: string) => void): void {
    this.#onActivity = handler;
  }

  async subscribe(filter: string): Promise<void> {
    try {
      await this.client.subscribeAsync(filter, { qos: this.#qos });
    } catch (e) {
      throw new BindingError('closed', `MQTT subscribe ${filter}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Best effort, bounded: skipped when the broker is gone (closing anyway). */
  async unsubscribe(filter: string): Promise<void> {
    if (!this.client.connected) return;
    await bounded(this.client.unsubscribeAsync(filter), 1000);
  }

  /** A fresh token: the instance prefix and a counter. */
  newToken(): Uint8Array {
    const token = new Uint8Array(8);
    token.set(this.#prefix, 0);
    new DataView(token.buffer).setUint32(4, this.#counter);
    this.#counter = (this.#counter + 1) >>> 0;
    return token;
  }

  /** Publishes one map; remembers it so its echo is dropped. */
  async publish(topic: string, message: MqttMessage, qos: MqttQos = this.#qos): Promise<void> {
    if (this.#closed) throw new BindingError('closed', 'the MQTT binding is closed');
    const bytes = encodeMqttMessage(message);
    this.#echoes.set(`${topic}|${tokenKey(message.token)}|${kindOf(message)}`, true);
    try {
      await this.client.publishAsync(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
        qos,
        retain: false,
      });
    } catch (e) {
      throw new BindingError('closed', `MQTT publish on ${topic}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Publishes a request and waits for the map with `result` and the same token. `token` reuses one
   * (a Cancel travels with its observation's token). Rejects with BindingError('timeout').
   */
  async request(
    topic: string,
    fields: MqttFields,
    options: { timeout?: number; token?: MqttToken; onSent?: (token: MqttToken) => void } = {},
  ): Promise<MqttMessage> {
    if (this.#closed) throw new BindingError('closed', 'the MQTT binding is closed');
    const token = options.token ?? this.newToken();
    const key = `${topic}|${tokenKey(token)}`;
    const answer = new Promise<MqttMessage>((resolve, reject) => {
      const timeout = options.timeout ?? this.#options.requestTimeout ?? 30_000;
      const pending: Pending = {
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          this.#pending.delete(key);
          reject(new BindingError('timeout', `no answer on ${topic} within ${timeout} ms`));
        }, timeout),
      };
      this.#pending
        .get(key)
        ?.reject(new BindingError('rejected', 'replaced by a request with the same token'));
      this.#pending.set(key, pending);
    });
    try {
      await this.publish(topic, { ...fields, token });
      options.onSent?.(token);
    } catch (e) {
      this.#settle(key)?.reject(e);
    }
    return answer;
  }

  #settle(key: string): Pending | undefined {
    const pending = this.#pending.get(key);
    if (pending === undefined) return undefined;
    this.#pending.delete(key);
    if (pending.timer !== undefined) this.#clock.clearTimeout(pending.timer);
    return pending;
  }

  /**
   * Answers a request once: a duplicate delivery (QoS 1) of the same request gets the same
   * answer again (once that answer exists) instead of being handled twice. `onQueued` runs once
   * the first answer is queued, before the broker acknowledges it.
   */
  async answer(
    request: IncomingRequest,
    handle: () => Promise<MqttFields | undefined>,
    onQueued?: () => void,
  ): Promise<void> {
    const key = `${request.topic}|${tokenKey(request.message.token)}|${kindOf(request.message)}`;
    const previous = this.#answered.get(key);
    let fields: MqttFields | undefined;
    if (previous !== undefined) {
      fields = await previous;
    } else {
      const handled = handle().catch((e: unknown) => {
        this.#options.onError?.(e);
        return { result: 500 } satisfies MqttFields;
      });
      this.#answered.set(key, handled);
      fields = await handled;
    }
    if (fields === undefined) return;
    const sent = this.publish(request.topic, { ...fields, token: request.message.token });
    // The answer is queued on the connection: what is published from here on follows it.
    if (previous === undefined) onQueued?.();
    await sent;
  }

  #receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    let message: MqttMessage;
    try {
      message = decodeMqttMessage(payload, {
        maxBytes: this.#options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      });
    } catch (e) {
      if (e instanceof MqttMessageError) this.#onMalformed?.({ topic, error: e });
      else this.#options.onError?.(e);
      return;
    }
    if (this.#echoes.has(`${topic}|${tokenKey(message.token)}|${kindOf(message)}`)) return;
    this.#onActivity?.(topic);
    if (message.operation === undefined) {
      // An answer: to one of our requests, or else the peer's echo of its answer to someone.
      this.#settle(`${topic}|${tokenKey(message.token)}`)?.resolve(message);
      return;
    }
    try {
      this.#onRequest?.({ topic, message, qos: packet.qos });
    } catch (e) {
      this.#options.onError?.(e);
    }
  }

  /** Ends pending requests with BindingError('closed') and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const key of [...this.#pending.keys()])
      this.#settle(key)?.reject(new BindingError('closed', 'the MQTT binding closed'));
    // A clean DISCONNECT when connected; without a broker, just drop the socket.
    await bounded(this.client.endAsync(!this.client.connected), 1000);
  }
}
