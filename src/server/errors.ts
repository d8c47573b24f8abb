import { PetrelError } from '../errors.js';

/**
 * Why a server request did not get an answer from the client. Operation errors (a bad path, an
 * attribute the client's version lacks) are OperationError from operations/; these are the rest.
 */
export type ServerRequestErrorReason =
  | 'not-registered' // no registration for that endpoint
  | 'timeout' // the client did not answer in time (CoAP: retransmissions exhausted / deadline)
  | 'rejected' // the client refused the message itself (CoAP RST)
  | 'queue-full' // a queue-mode client has too many requests waiting
  | 'queue-expired' // a queued request waited longer than its deadline for the client to wake
  | 'registration-ended' // the registration ended (De-register, expiry, new Register) first
  | 'stopped' // the server was stopped
  | 'decode'; // the client's answer could not be decoded

export class ServerRequestError extends PetrelError {
  readonly reason: ServerRequestErrorReason;
  readonly endpoint: string;
  constructor(
    reason: ServerRequestErrorReason,
    endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`PETREL_ERR_SERVER_${reason.toUpperCase().replaceAll('-', '_')}`, message, options);
    this.reason = reason;
    this.endpoint = endpoint;
  }
}
