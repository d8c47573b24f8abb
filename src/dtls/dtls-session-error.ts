import { ChannelError, type Peer } from '../transport/channel.js';
import { alertName } from './alert.js';

/** Why a DTLS session (or its handshake) ended or could not carry a datagram. */
export type DtlsSessionFailure =
  | 'handshake-failed' // we refused the peer's handshake and sent `alert`
  | 'handshake-timeout' // the peer stopped answering our flights (RFC 6347 §4.2.4.1)
  | 'alert-received' // the peer sent a fatal alert (`alert`)
  | 'queue-full' // too many datagrams waiting for a handshake to finish
  | 'limit' // no room for another handshake or session
  | 'no-session'; // a server cannot start a handshake: the peer must connect first

/** A DTLS session-level failure, reported through the channel's error handlers. */
export class DtlsSessionError extends ChannelError {
  readonly failure: DtlsSessionFailure;
  /** The alert sent (handshake-failed) or received (alert-received). */
  readonly alert: number | undefined;

  constructor(
    failure: DtlsSessionFailure,
    peer: Peer,
    message: string,
    details: { alert?: number; cause?: unknown } = {},
  ) {
    const suffix = details.alert === undefined ? '' : ` (${alertName(details.alert)})`;
    super('PETREL_ERR_DTLS_SESSION', `${message}${suffix}`, { peer, cause: details.cause });
    this.failure = failure;
    this.alert = details.alert;
  }
}
