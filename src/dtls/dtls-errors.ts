import { PetrelError } from '../errors.js';
import type { AlertDescription } from './alert.js';

/**
 * Why DTLS input was refused. Stable values: callers branch on them (drop the record silently, or
 * answer with `alert`).
 */
export type DtlsErrorReason =
  | 'truncated' // input ends inside a field
  | 'malformed' // a field the protocol does not allow (bad vector length, trailing bytes ...)
  | 'too-large' // a length beyond a configured or protocol bound
  | 'too-many' // more records / extensions / pending fragments than the bound
  | 'bad-version' // a record or hello version we do not speak
  | 'unknown-content-type'
  | 'unexpected-cid' // a tls12_cid record where no CID length is configured (RFC 9146 §4)
  | 'duplicate-extension' // RFC 5246 §7.4.1.4: at most one extension of each type
  | 'inconsistent-fragment' // fragments of one message that disagree (type, length)
  | 'bad-record-mac' // record authentication failed (RFC 6347 §4.1.2.7: drop silently)
  | 'bad-certificate' // a peer certificate or raw public key that is not trusted (alert says why)
  | 'unsupported'; // a cipher suite / key exchange / parameter we do not implement

export class DtlsError extends PetrelError {
  readonly reason: DtlsErrorReason;
  /** The alert a peer would be sent for this fault, if the caller decides to send one. */
  readonly alert: AlertDescription | undefined;

  constructor(
    reason: DtlsErrorReason,
    message: string,
    details: { alert?: AlertDescription; cause?: unknown } = {},
  ) {
    super('PETREL_ERR_DTLS', message, { cause: details.cause });
    this.reason = reason;
    this.alert = details.alert;
  }
}
