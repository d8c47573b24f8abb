import type { BlockwiseLayer } from '../../coap/blockwise.js';
import type { CoapMessaging } from '../../coap/coap-messaging.js';
import type { CoapResponse, ObserveRelation } from '../../coap/endpoint.js';
import type { CoapMessage } from '../../coap/message.js';
import type { CodecRegistry } from '../../content/codec-registry.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import type { ObjectModel } from '../../model/object-definition.js';
import type {
  ClientBinding,
  DownlinkHandler,
  DownlinkOptions,
  NotificationSink,
  ObservationEndReason,
  UplinkTarget,
} from '../binding.js';
import type { DownlinkRequest, UplinkRequest, UplinkResponse } from '../../operations/requests.js';
import { OperationError } from '../../operations/result-code.js';
import type { Peer } from '../../transport/channel.js';
import { decodeDownlinkRequest, encodeDownlinkResponse, encodeNotification } from './downlink-codec.js';
import type { ClientDownlinkContext } from './downlink-codec.js';
import { bindingError } from './binding-errors.js';
import { createCoapStack, identityOf } from './coap-stack.js';
import type { CoapStackOptions } from './coap-stack.js';
import { errorResponse } from './error-response.js';
import { decodeUplinkResponse, encodeUplinkRequest } from './uplink-codec.js';

export interface CoapClientBindingOptions extends CoapStackOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  /** The alternate path the client registers (`/lwm2m`); DM requests must come under it. */
  readonly alternatePath?: string;
  /** Object versions the client implements, for typing values. */
  readonly versions?: ReadonlyMap<number, string>;
  /** Peers that are Bootstrap-Servers: their PUT/GET/DELETE are Bootstrap-* operations. */
  readonly isBootstrapServer?: (peer: Peer) => boolean;
}

function endReason(reason: string): ObservationEndReason {
  switch (reason) {
    case 'cancelled':
    case 'reset':
    case 'timeout':
    case 'replaced':
    case 'closed':
      return reason;
    default:
      return 'ended';
  }
}

/**
 * A notification sink over an endpoint's observe relation. A notification larger than a block
 * goes out as its first block, and the server fetches the rest with GETs (RFC 7959 §2.6) that
 * `blockwise` serves from its cache (on TCP/TLS: BERT-sized, under the peer's Max-Message-Size).
 */
function sinkOf(
  relation: ObserveRelation,
  request: Extract<DownlinkRequest, { kind: 'observe' | 'observe-composite' }>,
  ctx: ClientDownlinkContext,
  onError: (e: unknown) => void,
  firstBlock: (response: CoapResponse) => CoapResponse,
): NotificationSink {
  return {
    get active() {
      return relation.active;
    },
    notify(notification, confirmable) {
      if (!relation.active) return;
      let response: CoapResponse;
      try {
        response = encodeNotification(
          {
            code: '2.05',
            records: notification.records,
            ...(notification.format === undefined ? {} : { format: notification.format }),
          },
          request,
          ctx,
        );
      } catch (e) {
        onError(e);
        return;
      }
      relation.notify(firstBlock(response), { confirmable });
    },
    end: () => relation.cancel(),
    onEnd: (listener) => relation.onEnd((reason) => listener(endReason(reason))),
  };
}

/**
 * The LwM2M client's CoAP binding (Transport TS §CoAP): one endpoint with block-wise on a channel.
 * Uplinks (Register, Update, De-register, Send, Bootstrap-Request) go out as CoAP requests;
 * requests from servers are decoded into operations, answered by the handler and encoded back.
 */
export class CoapClientBinding implements ClientBinding {
  readonly endpoint: CoapMessaging;
  readonly blockwise: BlockwiseLayer;
  readonly #options: CoapClientBindingOptions;
  #handler: DownlinkHandler | undefined;

  constructor(options: CoapClientBindingOptions) {
    this.#options = options;
    ({ endpoint: this.endpoint, blockwise: this.blockwise } = createCoapStack(options));
    this.blockwise.onRequest(({ peer, message }) => this.#onRequest(peer, message));
  }

  onDownlink(handler: DownlinkHandler): void {
    this.#handler = handler;
  }

  async sendUplink(
    target: UplinkTarget,
    request: UplinkRequest,
    options?: DownlinkOptions,
  ): Promise<UplinkResponse> {
    const encodeOptions = {
      codecs: this.#options.codecs,
      model: this.#options.model,
      lwm2mVersion: target.lwm2mVersion,
    };
    const outgoing = encodeUplinkRequest(request, encodeOptions);
    let sent = false;
    let message: CoapMessage;
    try {
      message = await this.blockwise.request(target.peer, outgoing, {
        ...(options?.timeout === undefined ? {} : { timeout: options.timeout }),
        onSent: (m: CoapMessage) => {
          if (sent) return;
          sent = true;
          options?.onSent?.(identityOf(m));
        },
      });
    } catch (e) {
      throw bindingError(e);
    }
    return decodeUplinkResponse(message, request, {
      codecs: this.#options.codecs,
      model: this.#options.model,
    });
  }

  async close(): Promise<void> {
    await this.endpoint.close();
  }

  #context(peer: Peer): ClientDownlinkContext {
    const bootstrap = this.#options.isBootstrapServer?.(peer) ?? false;
    return {
      codecs: this.#options.codecs,
      model: this.#options.model,
      ...(this.#options.alternatePath === undefined || bootstrap
        ? {}
        : { alternatePath: this.#options.alternatePath }),
      ...(this.#options.versions ? { versions: this.#options.versions } : {}),
      ...(bootstrap ? { bootstrap } : {}),
    };
  }

  async #onRequest(peer: Peer, message: CoapMessage): Promise<CoapResponse> {
    const ctx = this.#context(peer);
    let request: DownlinkRequest;
    try {
      request = decodeDownlinkRequest(message, ctx);
    } catch (e) {
      if (e instanceof OperationError) return errorResponse(e.resultCode, e.message);
      this.#options.onError?.(e);
      return errorResponse('5.00', 'internal error');
    }
    const handler = this.#handler;
    if (!handler) return errorResponse('5.03', 'client not ready');
    let answer;
    try {
      answer = await handler(request, {
        peer,
        transport: this.#options.channel.kind,
        identity: identityOf(message),
      });
    } catch (e) {
      this.#options.onError?.(e);
      return errorResponse('5.00', 'internal error');
    }
    let response: CoapResponse;
    try {
      response = encodeDownlinkResponse(answer.response, request, ctx);
    } catch (e) {
      // The values do not fit the format asked for (opaque for a string, text for an instance):
      // that is the peer's Accept we cannot honour (4.06), not an internal error.
      if (e instanceof OperationError) return errorResponse(e.resultCode, e.message);
      if (e instanceof ContentFormatError) return errorResponse('4.06', e.message);
      this.#options.onError?.(e);
      return errorResponse('5.00', 'the answer could not be encoded');
    }
    const accept = answer.observe;
    if (
      accept &&
      (request.kind === 'observe' || request.kind === 'observe-composite') &&
      answer.response.code === '2.05'
    ) {
      const onError = this.#options.onError ?? (() => undefined);
      const firstBlock = (r: CoapResponse): CoapResponse => this.blockwise.firstBlock(peer, message, r);
      return {
        ...response,
        observe: (relation) => accept(sinkOf(relation, request, ctx, onError, firstBlock)),
      };
    }
    return response;
  }
}
