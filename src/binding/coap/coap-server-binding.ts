import type { BlockwiseLayer } from '../../coap/blockwise.js';
import type { CoapMessaging } from '../../coap/coap-messaging.js';
import type {
  ClientObservation,
  CoapResponse,
  ObserveHandlers,
  OutgoingRequest,
  RequestOptions,
} from '../../coap/endpoint.js';
import { getBlock, OptionNumber, OptionsBuilder } from '../../coap/options.js';
import type { CoapMessage } from '../../coap/message.js';
import type { CodecRegistry } from '../../content/codec-registry.js';
import type { ObjectModel } from '../../model/object-definition.js';
import { BindingError } from '../binding.js';
import type {
  BindingObservation,
  DownlinkOptions,
  DownlinkTarget,
  NotificationHandlers,
  RestoredObservation,
  ServerBinding,
  UplinkHandler,
  UplinkRefusal,
  WireIdentity,
} from '../binding.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  ObserveCompositeRequest,
  ObserveRequest,
  UplinkRequest,
} from '../../operations/requests.js';
import { OperationError } from '../../operations/result-code.js';
import type { ResultCode, UplinkOperationName } from '../../operations/result-code.js';
import { uriPath } from '../../coap/options.js';
import { CoapCode } from '../../coap/message.js';
import { isConnectionChannel, type Peer } from '../../transport/channel.js';
import { decodeDownlinkResponse, decodeNotification, encodeDownlinkRequest } from './downlink-codec.js';
import type { DownlinkContext } from './downlink-codec.js';
import { bindingError } from './binding-errors.js';
import { createCoapStack, identityOf } from './coap-stack.js';
import type { CoapStackOptions } from './coap-stack.js';
import { errorResponse } from './error-response.js';
import type { PeerRateLimiter } from '../../server/peer-rate-limit.js';
import { decodeUplinkRequest, encodeUplinkResponse } from './uplink-codec.js';

export interface CoapServerBindingOptions extends CoapStackOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  /** Keep Register parameters the spec does not define instead of answering 4.00. */
  readonly allowUnknownParameters?: boolean;
  /** Requests per peer (server/peer-rate-limit.ts): past it, 4.29 with Max-Age before any decoding. */
  readonly peerRateLimit?: PeerRateLimiter;
  /**
   * Asked for each fresh notification (RFC 7641 §3.4 freshness checked, a CON one acknowledged,
   * both by the endpoint) before its payload is decoded or the rest of a block-wise one fetched:
   * false drops it. `handlers` are the ones given to observe()/restoreObservation(), telling
   * which observation it is (the server's notification rate limit).
   */
  readonly admitNotification?: (handlers: NotificationHandlers, peer: Peer) => boolean;
  /**
   * A notification that was admitted but could not be decoded (a BindingError 'decode', the
   * codec's error as its cause): it is dropped and the observation goes on. `handlers` tell which
   * observation. Without it such errors go to onError.
   */
  readonly onNotificationError?: (error: BindingError, handlers: NotificationHandlers, peer: Peer) => void;
}

/** Calls `fn` once with the first message sent (block-wise calls onSent per block). */
function firstSent(options: DownlinkOptions | undefined): RequestOptions['onSent'] {
  const onSent = options?.onSent;
  if (!onSent) return undefined;
  let done = false;
  return (m: CoapMessage) => {
    if (done) return;
    done = true;
    onSent(identityOf(m));
  };
}

function requestOptions(options: DownlinkOptions | undefined): RequestOptions {
  const onSent = firstSent(options);
  return {
    ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
    ...(onSent ? { onSent } : {}),
  };
}

/**
 * The LwM2M server's CoAP binding (Transport TS §CoAP): one CoAP endpoint with block-wise on a
 * channel (UDP now; DTLS, TCP, TLS later), mapping uplink requests to operations and operations
 * to downlink requests. Stateless about LwM2M: registrations and observations live in server/.
 */
export class CoapServerBinding implements ServerBinding {
  readonly endpoint: CoapMessaging;
  readonly blockwise: BlockwiseLayer;
  readonly #options: CoapServerBindingOptions;
  #uplink: UplinkHandler | undefined;
  readonly #activity: ((peer: Peer) => void)[] = [];
  readonly #unreachable: ((peer: Peer) => void)[] = [];
  readonly #refused: ((refusal: UplinkRefusal) => void)[] = [];
  readonly #transport: string;

  constructor(options: CoapServerBindingOptions) {
    this.#options = options;
    this.#transport = options.channel.kind;
    // Registered before the endpoint's own handler: a queue-mode client is marked awake before
    // its Update is handled (channels call handlers in registration order).
    options.channel.onReceive((peer) => {
      for (const listener of this.#activity) listener(peer);
    });
    const limiter = options.peerRateLimit;
    ({ endpoint: this.endpoint, blockwise: this.blockwise } = createCoapStack(
      limiter
        ? {
            ...options,
            blockwise: {
              ...options.blockwise,
              admit: (peer, message) => this.#admit(limiter, peer, message),
            },
          }
        : options,
    ));
    this.blockwise.onRequest(({ peer, message }) => this.#onRequest(peer, message));
    const channel = options.channel;
    if (isConnectionChannel(channel))
      channel.onDisconnect((peer) => {
        for (const listener of this.#unreachable) listener(peer);
      });
  }

  onUnreachable(listener: (peer: Peer) => void): void {
    this.#unreachable.push(listener);
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

  async send(
    target: DownlinkTarget,
    request: DownlinkRequest,
    options?: DownlinkOptions,
  ): Promise<DownlinkResponse> {
    const ctx = this.#context(target);
    const outgoing = encodeDownlinkRequest(request, ctx);
    let message: CoapMessage;
    try {
      message = await this.blockwise.request(target.peer, outgoing, requestOptions(options));
    } catch (e) {
      throw bindingError(e);
    }
    return this.#decode(message, request, ctx);
  }

  async observe(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    handlers: NotificationHandlers,
    options?: DownlinkOptions,
  ): Promise<BindingObservation> {
    const ctx = this.#context(target);
    const outgoing = encodeDownlinkRequest(request, ctx);
    let observation;
    let first: CoapMessage;
    try {
      observation = await this.endpoint.observe(
        target.peer,
        outgoing,
        this.#notificationHandlers(request, ctx, handlers, target.peer, outgoing),
        requestOptions(options),
      );
      // RFC 7959 §2.6: a representation larger than a block comes as its first block; the rest
      // is fetched with GETs/FETCHes without Observe.
      first = await this.blockwise.fetchRemaining(
        target.peer,
        outgoing,
        observation.response,
        requestOptions(options),
      );
    } catch (e) {
      throw bindingError(e);
    }
    return {
      response: this.#decode(first, request, ctx),
      established: observation.established,
      ...this.#controls(observation, request, ctx, identityOf(observation.response), target.peer, outgoing),
    };
  }

  restoreObservation(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    identity: WireIdentity,
    handlers: NotificationHandlers,
  ): RestoredObservation {
    const ctx = this.#context(target);
    const token = Buffer.from(identity.token, 'hex');
    if (token.length > 8 || token.toString('hex') !== identity.token.toLowerCase())
      throw new BindingError('rejected', `not a CoAP token: '${identity.token}'`);
    const outgoing = { ...encodeDownlinkRequest(request, ctx), token: new Uint8Array(token) };
    let observation;
    try {
      observation = this.endpoint.adoptObservation(
        target.peer,
        outgoing,
        this.#notificationHandlers(request, ctx, handlers, target.peer, outgoing),
      );
    } catch (e) {
      throw bindingError(e);
    }
    return this.#controls(observation, request, ctx, identity, target.peer, outgoing);
  }

  #notificationHandlers(
    request: ObserveRequest | ObserveCompositeRequest,
    ctx: DownlinkContext,
    handlers: NotificationHandlers,
    peer: Peer,
    outgoing: OutgoingRequest,
  ): ObserveHandlers {
    const deliver = (message: CoapMessage, whole: CoapMessage): void => {
      let notification;
      try {
        notification = decodeNotification(whole, request, ctx);
      } catch (e) {
        const error = new BindingError(
          'decode',
          `a notification of ${request.kind === 'observe' ? request.path.toString() : request.paths.map((p) => p.toString()).join(',')} could not be decoded: ${(e as Error).message}`,
          { cause: e },
        );
        const report = this.#options.onNotificationError;
        if (report) report(error, handlers, peer);
        else this.#options.onError?.(error);
        return;
      }
      handlers.onNotification(notification, identityOf(message));
    };
    const admit = this.#options.admitNotification;
    return {
      onNotification: (message) => {
        if (admit !== undefined && !admit(handlers, peer)) return;
        // A notification larger than a block is its first block (RFC 7959 §2.6): fetch the rest.
        if (getBlock(message, OptionNumber.BLOCK2)?.more === true) {
          this.blockwise.fetchRemaining(peer, outgoing, message).then(
            (whole) => deliver(message, whole),
            (e: unknown) => this.#options.onError?.(e),
          );
          return;
        }
        deliver(message, message);
      },
      onEnd: (reason) => handlers.onEnd?.(reason),
    };
  }

  /** The binding's cancel()/forget() over the endpoint's. */
  #controls(
    observation: Pick<ClientObservation, 'cancel' | 'forget'>,
    request: ObserveRequest | ObserveCompositeRequest,
    ctx: DownlinkContext,
    identity: WireIdentity,
    peer: Peer,
    outgoing: OutgoingRequest,
  ): RestoredObservation {
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
            ...(request.format === undefined ? {} : { format: request.format }),
            ...(request.accept === undefined ? {} : { accept: request.accept }),
          };
    return {
      identity,
      forget: () => observation.forget(),
      cancel: async (cancelOptions) => {
        let message: CoapMessage;
        try {
          const first = await observation.cancel(requestOptions(cancelOptions));
          message = await this.blockwise.fetchRemaining(peer, outgoing, first, requestOptions(cancelOptions));
        } catch (e) {
          throw bindingError(e);
        }
        return this.#decode(message, cancelRequest, ctx);
      },
    };
  }

  async close(): Promise<void> {
    await this.endpoint.close();
  }

  #context(target: DownlinkTarget): DownlinkContext {
    return {
      codecs: this.#options.codecs,
      model: this.#options.model,
      peer: { lwm2mVersion: target.lwm2mVersion, contentFormats: target.contentFormats },
      ...(target.alternatePath === undefined ? {} : { alternatePath: target.alternatePath }),
      versions: target.objectVersions,
    };
  }

  #decode(message: CoapMessage, request: DownlinkRequest, ctx: DownlinkContext): DownlinkResponse {
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

  /** RFC 8516: 4.29 Too Many Requests, Max-Age = seconds until the peer's next request is taken. */
  #admit(limiter: PeerRateLimiter, peer: Peer, message: CoapMessage): CoapResponse | undefined {
    const verdict = limiter.take(peer);
    if (verdict.allowed) return undefined;
    const diagnostic = `too many requests from this peer; retry in ${verdict.retryAfter} s`;
    const refusal: UplinkRefusal = {
      context: { peer, transport: this.#transport, identity: identityOf(message) },
      operation: guessOperation(message),
      code: '4.29',
      diagnostic,
    };
    for (const listener of this.#refused) listener(refusal);
    return {
      code: CoapCode.TOO_MANY_REQUESTS,
      options: new OptionsBuilder()
        .uint(OptionNumber.CONTENT_FORMAT, 0)
        .uint(OptionNumber.MAX_AGE, verdict.retryAfter)
        .build(),
      payload: new TextEncoder().encode(diagnostic),
    };
  }

  async #onRequest(peer: Peer, message: CoapMessage): Promise<CoapResponse> {
    let request: UplinkRequest;
    try {
      request = decodeUplinkRequest(message, {
        codecs: this.#options.codecs,
        model: this.#options.model,
        allowUnknownParameters: this.#options.allowUnknownParameters ?? false,
      });
    } catch (e) {
      const known = e instanceof OperationError;
      if (!known) this.#options.onError?.(e);
      const code: ResultCode = known ? e.resultCode : '5.00';
      const diagnostic = known ? e.message : 'internal error';
      const refusal: UplinkRefusal = {
        context: { peer, transport: this.#transport, identity: identityOf(message) },
        operation: guessOperation(message),
        code,
        diagnostic,
      };
      for (const listener of this.#refused) listener(refusal);
      return errorResponse(code, diagnostic);
    }
    const handler = this.#uplink;
    if (!handler) return errorResponse('5.03', 'server not ready');
    const response = await handler(request, {
      peer,
      transport: this.#transport,
      identity: identityOf(message),
    });
    const onSent = response.onSent;
    // The endpoint sends the answer as soon as this promise settles; onSent runs after that.
    if (onSent) setImmediate(onSent);
    // The codecs encode a Bootstrap-Pack answer's records in the Accept format.
    return encodeUplinkResponse(response, request, {
      codecs: this.#options.codecs,
      model: this.#options.model,
    });
  }
}

/** What an uplink was meant as, from its method and path alone (for traces of refused ones). */
function guessOperation(message: CoapMessage): UplinkOperationName | undefined {
  const [first, second, ...rest] = uriPath(message);
  if (rest.length > 0) return undefined;
  if (first === 'rd' && message.code === CoapCode.POST) return second === undefined ? 'register' : 'update';
  if (first === 'rd' && message.code === CoapCode.DELETE && second !== undefined) return 'deregister';
  if (first === 'dp' && second === undefined && message.code === CoapCode.POST) return 'send';
  if (first === 'bs' && second === undefined && message.code === CoapCode.POST) return 'bootstrap-request';
  if (first === 'bspack' && second === undefined && message.code === CoapCode.GET)
    return 'bootstrap-pack-request';
  return undefined;
}

export function createCoapServerBinding(options: CoapServerBindingOptions): CoapServerBinding {
  return new CoapServerBinding(options);
}
