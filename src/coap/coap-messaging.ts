import type { Peer } from '../transport/channel.js';
import type {
  ClientObservation,
  ObserveHandlers,
  OutgoingRequest,
  RequestHandler,
  RequestOptions,
} from './endpoint.js';
import type { CoapMessage } from './message.js';
import type { TransmissionParameters } from './transmission.js';

/**
 * What the block-wise layer and the bindings need of a CoAP endpoint, whatever carries it:
 * CoapEndpoint on datagrams (UDP, DTLS; RFC 7252 messaging) and CoapReliableEndpoint on
 * connections (TCP, TLS; RFC 8323 messaging). Everything above this seam is transport-neutral.
 */
export interface CoapMessaging {
  /** Timing parameters; on reliable transports only EXCHANGE_LIFETIME-like deadlines use them. */
  readonly transmission: TransmissionParameters;
  onRequest(handler: RequestHandler): this;
  request(peer: Peer, request: OutgoingRequest, options?: RequestOptions): Promise<CoapMessage>;
  observe(
    peer: Peer,
    request: OutgoingRequest,
    handlers: ObserveHandlers,
    options?: RequestOptions,
  ): Promise<ClientObservation>;
  adoptObservation(
    peer: Peer,
    request: OutgoingRequest & { readonly token: Uint8Array },
    handlers: ObserveHandlers,
  ): Pick<ClientObservation, 'cancel' | 'forget'>;
  /** A liveness check: an empty CON (UDP) or a 7.02 Ping (TCP). */
  ping(peer: Peer): Promise<void>;
  /**
   * The largest block the peer takes, when the transport negotiates one: BERT (RFC 8323 §6) is
   * usable when this returns more than 1024. Undefined on datagram transports.
   */
  blockCapacity?(peer: Peer): { readonly bert: boolean; readonly maxMessageSize: number } | undefined;
  close(): Promise<void>;
}
