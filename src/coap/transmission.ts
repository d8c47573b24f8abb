/**
 * CoAP transmission parameters (RFC 7252 §4.8) and the times derived from them (§4.8.2). LwM2M's
 * UDP binding uses the RFC defaults (LWM2M-1.2 §3.2); tests shorten them.
 */
export interface TransmissionParameters {
  /** ACK_TIMEOUT in ms (2000). */
  readonly ackTimeout: number;
  /** ACK_RANDOM_FACTOR (1.5). */
  readonly ackRandomFactor: number;
  /** MAX_RETRANSMIT (4). */
  readonly maxRetransmit: number;
  /** NSTART: outstanding confirmable requests per peer (1). */
  readonly nstart: number;
  /** MAX_LATENCY in ms (100 s), used for EXCHANGE_LIFETIME and NON_LIFETIME. */
  readonly maxLatency: number;
}

export const DEFAULT_TRANSMISSION: TransmissionParameters = Object.freeze({
  ackTimeout: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  maxLatency: 100_000,
});

/** MAX_TRANSMIT_SPAN: first to last transmission of a CON (45 s by default). */
export function maxTransmitSpan(p: TransmissionParameters): number {
  return p.ackTimeout * (2 ** p.maxRetransmit - 1) * p.ackRandomFactor;
}

/** MAX_TRANSMIT_WAIT: first transmission to giving up (93 s by default). */
export function maxTransmitWait(p: TransmissionParameters): number {
  return p.ackTimeout * (2 ** (p.maxRetransmit + 1) - 1) * p.ackRandomFactor;
}

/** EXCHANGE_LIFETIME: how long a message id is remembered for deduplication (247 s by default). */
export function exchangeLifetime(p: TransmissionParameters): number {
  return maxTransmitSpan(p) + 2 * p.maxLatency + p.ackTimeout; // PROCESSING_DELAY = ACK_TIMEOUT
}

/** NON_LIFETIME: how long a NON message id is remembered (145 s by default). */
export function nonLifetime(p: TransmissionParameters): number {
  return maxTransmitSpan(p) + p.maxLatency;
}

/** The first retransmission timeout, random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]. */
export function initialTimeout(p: TransmissionParameters, random: number): number {
  return p.ackTimeout * (1 + random * (p.ackRandomFactor - 1));
}
