import type { Clock } from '../../clock.js';
import { BlockwiseLayer } from '../../coap/blockwise.js';
import type { BlockwiseOptions } from '../../coap/blockwise.js';
import type { CoapMessaging } from '../../coap/coap-messaging.js';
import { CoapEndpoint } from '../../coap/endpoint.js';
import { CoapReliableEndpoint, DEFAULT_RELIABLE_MAX_MESSAGE_SIZE } from '../../coap/reliable-endpoint.js';
import type { EndpointLimits } from '../../coap/endpoint.js';
import type { ReliableEndpointLimits } from '../../coap/reliable-endpoint.js';
import type { CoapMessage } from '../../coap/message.js';
import type { WireIdentity } from '../binding.js';
import type { TransmissionParameters } from '../../coap/transmission.js';
import type { RandomSource } from '../../random.js';
import { isConnectionChannel, type Channel } from '../../transport/channel.js';

/**
 * The frame limit of TCP/TLS channels that carry our CoAP: the Max-Message-Size our reliable
 * endpoint announces, with room for the frame header.
 */
export const STREAM_FRAME_LIMIT = DEFAULT_RELIABLE_MAX_MESSAGE_SIZE + 64;

/** The CoAP settings both bindings (server and client role) take. */
export interface CoapStackOptions {
  readonly channel: Channel;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly transmission?: Partial<TransmissionParameters>;
  readonly limits?: Partial<EndpointLimits>;
  readonly blockwise?: BlockwiseOptions;
  readonly onError?: (error: unknown) => void;
}

/**
 * One CoAP endpoint on the channel with the block-wise layer over it: what a binding talks through.
 * Datagram channels (UDP, DTLS) get RFC 7252 messaging; connection channels (TCP, TLS) get RFC 8323
 * messaging (CSM, Ping/Pong, Release/Abort, BERT). Nothing above the endpoint differs.
 */
export function createCoapStack(options: CoapStackOptions): {
  endpoint: CoapMessaging;
  blockwise: BlockwiseLayer;
} {
  const channel = options.channel;
  const endpoint: CoapMessaging = isConnectionChannel(channel)
    ? new CoapReliableEndpoint({
        channel,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.random ? { random: options.random } : {}),
        ...(options.transmission ? { transmission: options.transmission } : {}),
        ...(options.limits ? { limits: reliableLimits(options.limits) } : {}),
        bert: true,
        ...(options.onError ? { onError: options.onError } : {}),
      })
    : datagramEndpoint(options);
  const blockwise = new BlockwiseLayer(endpoint, {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...options.blockwise,
  });
  return { endpoint, blockwise };
}

/** The limits both endpoints share, from the datagram endpoint's set. */
function reliableLimits(limits: Partial<EndpointLimits>): Partial<ReliableEndpointLimits> {
  const { maxOpenRequests, maxObserveRelations, maxObserveRelationsPerPeer } = limits;
  return Object.fromEntries(
    Object.entries({ maxOpenRequests, maxObserveRelations, maxObserveRelationsPerPeer }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

function datagramEndpoint(options: CoapStackOptions): CoapEndpoint {
  return new CoapEndpoint({
    channel: options.channel,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.transmission ? { transmission: options.transmission } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}

/** A message's wire identity for traces (Msg-Iden-001): token in hex and message id. */
export function identityOf(message: CoapMessage): WireIdentity {
  const t = message.token;
  return {
    token: Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('hex'),
    messageId: message.messageId,
  };
}
