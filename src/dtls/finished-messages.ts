import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';

/** verify_data is 12 bytes for every suite Petrel implements (RFC 5246 §7.4.9). */
export const VERIFY_DATA_LENGTH = 12;

/** NewSessionTicket (RFC 5077 §3.3). */
export interface NewSessionTicket {
  /** Seconds; 0 = unspecified. */
  lifetimeHint: number;
  ticket: Uint8Array;
}

/** Finished: the body is verify_data. */
export function decodeFinished(body: Uint8Array): Uint8Array {
  if (body.length !== VERIFY_DATA_LENGTH)
    throw new DtlsError('malformed', `Finished of ${body.length} bytes, expected ${VERIFY_DATA_LENGTH}`, {
      alert: AlertDescription.decode_error,
    });
  return body;
}

export function encodeFinished(verifyData: Uint8Array): Uint8Array {
  return decodeFinished(verifyData);
}

export function decodeNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new ByteReader(body, 'NewSessionTicket');
  const lifetimeHint = r.u32('ticket_lifetime_hint');
  const ticket = r.vector(2, 'ticket');
  r.end();
  return { lifetimeHint, ticket };
}

export function encodeNewSessionTicket(m: NewSessionTicket): Uint8Array {
  return new ByteWriter().u32(m.lifetimeHint).vector(2, m.ticket, 'ticket').finish();
}

/** The ChangeCipherSpec fragment: one byte, 1 (RFC 5246 §7.1). */
export const CHANGE_CIPHER_SPEC = Uint8Array.of(1);

export function decodeChangeCipherSpec(fragment: Uint8Array): void {
  if (fragment.length !== 1 || fragment[0] !== 1)
    throw new DtlsError('malformed', 'ChangeCipherSpec must be the single byte 1', {
      alert: AlertDescription.unexpected_message,
    });
}
