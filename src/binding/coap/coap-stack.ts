import type { Clock } from '../../clock.js';
import { BlockwiseLayer } from '../../coap/blockwise.js';
import type { BlockwiseOptions } from '../../coap/blockwise.js';
import { CoapEndpoint } from '../../coap/endpoint.js';
import type { EndpointLimits } from '../../coap/endpoint.js';
import type { CoapMessage } from '../../coap/message.js';
import type { WireIdentity } from '../binding.js';
import type { TransmissionParameters } from '../../coap/transmission.js';
import type { RandomSource } from '../../random.js';
import type { Channel } from '../../transport/channel.js';

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

/** One CoAP endpoint on the channel with the block-wise layer over it: what a binding talks through. */
export function createCoapStack(options: CoapStackOptions): {
  endpoint: CoapEndpoint;
  blockwise: BlockwiseLayer;
} {
  const endpoint = new CoapEndpoint({
    channel: options.channel,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.transmission ? { transmission: options.transmission } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.onError ? { onError: options.onError } : {}),
  });
  const blockwise = new BlockwiseLayer(endpoint, {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...options.blockwise,
  });
  return { endpoint, blockwise };
}

/** A message's wire identity for traces (Msg-Iden-001): token in hex and message id. */
export function identityOf(message: CoapMessage): WireIdentity {
  const t = message.token;
  return {
    token: Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('hex'),
    messageId: message.messageId,
  };
}
