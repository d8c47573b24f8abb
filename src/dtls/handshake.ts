import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';

/** Handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2, RFC 5077 §3.3). */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  hello_verify_request: 3,
  new_session_ticket: 4,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
} as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

/** msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) (RFC 6347 §4.2.2). */
export const HANDSHAKE_HEADER_LENGTH = 12;
const MAX_U24 = 0xffffff;

/** One handshake fragment as carried in a record; `body.length` is its fragment_length. */
export interface HandshakeFragment {
  msgType: number;
  /** The whole message's body length. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  body: Uint8Array;
}

/** A complete handshake message. */
export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Uint8Array;
}

/**
 * The handshake fragments of one record's plaintext (a record may carry several, RFC 6347
 * §4.2.3). Throws DtlsError on a truncated header or body, or a fragment that does not fit inside
 * its message's length.
 */
export function parseHandshakeFragments(fragment: Uint8Array): HandshakeFragment[] {
  const r = new ByteReader(fragment, 'handshake');
  const out: HandshakeFragment[] = [];
  while (r.remaining > 0) {
    const msgType = r.u8('msg_type');
    const length = r.u24('length');
    const messageSeq = r.u16('message_seq');
    const fragmentOffset = r.u24('fragment_offset');
    const fragmentLength = r.u24('fragment_length');
    if (fragmentOffset + fragmentLength > length)
      throw new DtlsError(
        'malformed',
        `handshake fragment ${fragmentOffset}+${fragmentLength} exceeds message length ${length}`,
        { alert: AlertDescription.decode_error },
      );
    const body = r.bytesOf(fragmentLength, 'fragment');
    out.push({ msgType, length, messageSeq, fragmentOffset, body });
  }
  return out;
}

/** The wire form of one fragment (header + body). */
export function encodeHandshakeFragment(f: HandshakeFragment): Uint8Array {
  if (f.length > MAX_U24 || f.fragmentOffset + f.body.length > f.length)
    throw new DtlsError('too-large', `handshake fragment does not fit its message length ${f.length}`);
  return new ByteWriter()
    .u8(f.msgType)
    .u24(f.length)
    .u16(f.messageSeq)
    .u24(f.fragmentOffset)
    .u24(f.body.length)
    .bytes(f.body)
    .finish();
}

/**
 * A whole message as one fragment: the form that is sent when it fits, and the form the handshake
 * hash covers ("as if each message had been sent as a single fragment", RFC 6347 §4.2.6).
 */
export function encodeHandshakeMessage(m: HandshakeMessage): Uint8Array {
  return encodeHandshakeFragment({ ...m, length: m.body.length, fragmentOffset: 0 });
}

/** The message of a single, complete fragment (offset 0, full length), else undefined. */
export function wholeMessage(f: HandshakeFragment): HandshakeMessage | undefined {
  if (f.fragmentOffset !== 0 || f.body.length !== f.length) return undefined;
  return { msgType: f.msgType, messageSeq: f.messageSeq, body: f.body };
}

/**
 * Splits a message into fragments whose encoded size (header included) is at most `maxFragment`
 * bytes, for the record space left under the path MTU (RFC 6347 §4.2.3). An empty body gives one
 * empty fragment.
 */
export function fragmentHandshakeMessage(m: HandshakeMessage, maxFragment: number): HandshakeFragment[] {
  const room = maxFragment - HANDSHAKE_HEADER_LENGTH;
  if (!Number.isInteger(room) || room < 1)
    throw new DtlsError('too-large', `no room for a handshake fragment in ${maxFragment} bytes`);
  const out: HandshakeFragment[] = [];
  let offset = 0;
  do {
    const body = m.body.subarray(offset, offset + room);
    out.push({
      msgType: m.msgType,
      length: m.body.length,
      messageSeq: m.messageSeq,
      fragmentOffset: offset,
      body,
    });
    offset += body.length;
  } while (offset < m.body.length);
  return out;
}
