import { PetrelError } from '../errors.js';
import type { ConnectionCloseReason } from '../transport/channel.js';

/**
 * A request that got no answer: `no-ack` when every retransmission of a CON went unacknowledged
 * (RFC 7252 §4.2, MAX_RETRANSMIT), `no-response` when the overall deadline passed (a separate
 * response or a NON response that never came).
 */
export class CoapTimeoutError extends PetrelError {
  constructor(
    readonly phase: 'no-ack' | 'no-response',
    readonly peer: string,
    detail: string,
  ) {
    super('PETREL_ERR_COAP_TIMEOUT', `CoAP request to ${peer} timed out (${phase}): ${detail}`);
  }
}

/** The peer answered our message with a Reset (RFC 7252 §4.2/4.3): it could not process it. */
export class CoapResetError extends PetrelError {
  constructor(readonly peer: string) {
    super('PETREL_ERR_COAP_RESET', `CoAP peer ${peer} answered with a Reset`);
  }
}

/** A configured bound was reached (open exchanges, queued requests per peer, ...). */
export class CoapLimitError extends PetrelError {
  constructor(
    readonly limit: string,
    readonly value: number,
  ) {
    super('PETREL_ERR_COAP_LIMIT', `CoAP endpoint limit reached: ${limit} = ${value}`);
  }
}

/** The endpoint was closed while the request was open, or a request was made after close. */
export class EndpointClosedError extends PetrelError {
  constructor() {
    super('PETREL_ERR_COAP_CLOSED', 'the CoAP endpoint is closed');
  }
}

/**
 * The connection (CoAP over TCP/TLS, RFC 8323) that carried the request or observation ended
 * before it completed: `reason` says how; `signal` is set when the peer announced it with a
 * Release or an Abort (RFC 8323 §5.5, §5.6), whose diagnostic payload is kept.
 */
export class CoapConnectionClosedError extends PetrelError {
  constructor(
    readonly peer: string,
    readonly reason: ConnectionCloseReason,
    readonly signal?: { readonly kind: 'release' | 'abort'; readonly diagnostic: string },
    cause?: unknown,
  ) {
    const by = signal ? ` after ${signal.kind}${signal.diagnostic ? ` (${signal.diagnostic})` : ''}` : '';
    super('PETREL_ERR_COAP_CONNECTION_CLOSED', `connection to ${peer} closed: ${reason}${by}`, { cause });
  }
}
