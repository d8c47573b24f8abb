/**
 * The CoAP message format over UDP (RFC 7252 §3): a 4-byte header (version, type, token length,
 * code, message id), the token, options as delta/length nibbles, and the payload after 0xFF.
 * The option section is shared with the reliable-transport framing (RFC 8323 §3.2).
 *
 * Decoding copies the token and small option values (cheaper than views, and they pin nothing);
 * a payload or value over 64 bytes is a view into the input bytes.
 */
import { PetrelError } from '../errors.js';
import { COAP_TYPES, type CoapMessage, type CoapOption, type CoapType } from './message.js';
import { MAX_OPTION_LENGTH, MAX_OPTION_NUMBER, sortOptions } from './options.js';

/** Why bytes are not a CoAP message (or a message cannot be encoded). Stable values. */
export type CoapFormatReason =
  | 'truncated' // the bytes end inside the header, token, an option or a frame
  | 'bad-version' // not version 1: RFC 7252 §3 says ignore silently (no RST)
  | 'bad-token-length' // TKL 9-15
  | 'bad-option-nibble' // delta 15 in a byte that is not 0xFF, or length 15
  | 'bad-option-number' // option numbers summing past 65535
  | 'empty-payload' // a payload marker with no payload after it
  | 'bad-empty-message' // code 0.00 with a token, options or payload (RFC 7252 §4.1)
  | 'too-large' // a frame announcing more than the receiver's limit (RFC 8323 §5.3.1)
  | 'trailing-bytes' // bytes after a complete frame where exactly one was expected
  | 'not-encodable'; // a message the wire format cannot carry

/**
 * Bytes that are not a CoAP message. When the header was readable, `type` and `messageId` let the
 * endpoint reject a malformed CON with a RST (RFC 7252 §4.2) and ignore anything else.
 */
export class CoapFormatError extends PetrelError {
  readonly reason: CoapFormatReason;
  readonly type: CoapType | undefined;
  readonly messageId: number | undefined;
  /** Byte offset of the fault in the input, when known. */
  readonly offset: number | undefined;
  /** The frame size a too-large frame announced. */
  readonly size: number | undefined;

  constructor(
    reason: CoapFormatReason,
    message: string,
    details: { type?: CoapType; messageId?: number; offset?: number; size?: number } = {},
  ) {
    const where = details.offset === undefined ? '' : ` at byte ${details.offset}`;
    super('PETREL_ERR_COAP_FORMAT', `${message}${where}`);
    this.reason = reason;
    this.type = details.type;
    this.messageId = details.messageId;
    this.offset = details.offset;
    this.size = details.size;
  }
}

/** What a decode error can say about the message it was reading. */
export interface HeaderContext {
  readonly type?: CoapType;
  readonly messageId?: number;
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);
const PAYLOAD_MARKER = 0xff;
const MAX_TOKEN_LENGTH = 8;

// ---- the option section (RFC 7252 §3.1), shared with RFC 8323 framing ----

/**
 * Reads options and payload from bytes[start, end). Linear in the input, whatever it holds.
 * Small values are copied (see `piece`), larger ones are views into `bytes`.
 */
export function decodeOptionsAndPayload(
  bytes: Uint8Array,
  start: number,
  end: number,
  ctx: HeaderContext,
): { options: CoapOption[]; payload: Uint8Array } {
  const options: CoapOption[] = [];
  const payload = readOptions(bytes, start, end, ctx.type, ctx.messageId, options);
  return { options, payload };
}

/**
 * Appends the options of bytes[start, end) to `options` and returns the payload. Written without
 * closures or result objects: it runs for every datagram (coap-endpoint benchmark).
 */
function readOptions(
  bytes: Uint8Array,
  start: number,
  end: number,
  type: CoapType | undefined,
  messageId: number | undefined,
  options: CoapOption[],
): Uint8Array {
  let number = 0;
  let i = start;
  while (i < end) {
    const at = i;
    const head = bytes[i++]!;
    if (head === PAYLOAD_MARKER) {
      if (i === end) fail('empty-payload', 'payload marker without a payload', type, messageId, at);
      return piece(bytes, i, end);
    }
    let delta = head >> 4;
    let length = head & 0x0f;
    if (delta === 15)
      fail('bad-option-nibble', 'option delta 15 outside the payload marker', type, messageId, at);
    if (length === 15) fail('bad-option-nibble', 'option length 15', type, messageId, at);
    if (delta === 13) {
      if (i + 1 > end) fail('truncated', 'extended option delta cut off', type, messageId, i);
      delta = bytes[i++]! + 13;
    } else if (delta === 14) {
      if (i + 2 > end) fail('truncated', 'extended option delta cut off', type, messageId, i);
      delta = ((bytes[i]! << 8) | bytes[i + 1]!) + 269;
      i += 2;
    }
    if (length === 13) {
      if (i + 1 > end) fail('truncated', 'extended option length cut off', type, messageId, i);
      length = bytes[i++]! + 13;
    } else if (length === 14) {
      if (i + 2 > end) fail('truncated', 'extended option length cut off', type, messageId, i);
      length = ((bytes[i]! << 8) | bytes[i + 1]!) + 269;
      i += 2;
    }
    number += delta;
    if (number > MAX_OPTION_NUMBER)
      fail('bad-option-number', `option number ${number} past 65535`, type, messageId, at);
    if (length > end - i)
      fail('truncated', `option ${number} value of ${length} bytes cut off`, type, messageId, i);
    options.push({ number, value: length === 0 ? EMPTY_BYTES : piece(bytes, i, i + length) });
    i += length;
  }
  return EMPTY_BYTES;
}

/**
 * bytes[start, end): a copy when small, a view otherwise. A small copy lives on the JS heap; a
 * view of a heap-allocated array first moves that array off the heap, and a kept view pins the
 * whole datagram (measured: a copy of a few bytes is 2-5 times cheaper than a view).
 */
function piece(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return end - start <= SMALL_PIECE ? bytes.slice(start, end) : bytes.subarray(start, end);
}
/** V8 keeps typed arrays up to 64 bytes on the JS heap. */
const SMALL_PIECE = 64;

function fail(
  reason: CoapFormatReason,
  message: string,
  type: CoapType | undefined,
  messageId: number | undefined,
  offset: number,
): never {
  const details: { type?: CoapType; messageId?: number; offset: number } = { offset };
  if (type !== undefined) details.type = type;
  if (messageId !== undefined) details.messageId = messageId;
  throw new CoapFormatError(reason, message, details);
}

/** The sorted option list (the same array when already sorted), checked for what the format can carry. */
export function encodableOptions(options: readonly CoapOption[]): readonly CoapOption[] {
  let sorted = true;
  for (let k = 0; k < options.length; k++) {
    const o = options[k]!;
    if (!Number.isInteger(o.number) || o.number < 0 || o.number > MAX_OPTION_NUMBER)
      throw new CoapFormatError('not-encodable', `option number out of range: ${o.number}`);
    if (o.value.length > MAX_OPTION_LENGTH)
      throw new CoapFormatError('not-encodable', `option ${o.number} value of ${o.value.length} bytes`);
    if (k > 0 && options[k - 1]!.number > o.number) sorted = false;
  }
  return sorted ? options : sortOptions(options);
}

/** Bytes that these (sorted) options and this payload take, marker included. */
export function optionsAndPayloadSize(options: readonly CoapOption[], payload: Uint8Array): number {
  let size = payload.length > 0 ? 1 + payload.length : 0;
  let previous = 0;
  for (const o of options) {
    size += 1 + extSize(o.number - previous) + extSize(o.value.length) + o.value.length;
    previous = o.number;
  }
  return size;
}

const extSize = (n: number): number => (n < 13 ? 0 : n < 269 ? 1 : 2);
const nibble = (n: number): number => (n < 13 ? n : n < 269 ? 13 : 14);

/** Writes the (sorted) options and the payload at `at`; returns the offset after them. */
export function writeOptionsAndPayload(
  out: Uint8Array,
  at: number,
  options: readonly CoapOption[],
  payload: Uint8Array,
): number {
  let i = at;
  let previous = 0;
  for (const o of options) {
    const delta = o.number - previous;
    const length = o.value.length;
    previous = o.number;
    out[i++] = (nibble(delta) << 4) | nibble(length);
    i = writeExt(out, i, delta);
    i = writeExt(out, i, length);
    i = copyInto(out, i, o.value);
  }
  if (payload.length > 0) {
    out[i++] = PAYLOAD_MARKER;
    i = copyInto(out, i, payload);
  }
  return i;
}

/** Copies `bytes` to out[at...]; a loop beats TypedArray#set for the few bytes of most options. */
function copyInto(out: Uint8Array, at: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n > 32) out.set(bytes, at);
  else for (let k = 0; k < n; k++) out[at + k] = bytes[k]!;
  return at + n;
}

function writeExt(out: Uint8Array, i: number, n: number): number {
  if (n < 13) return i;
  if (n < 269) {
    out[i] = n - 13;
    return i + 1;
  }
  out[i] = (n - 269) >> 8;
  out[i + 1] = (n - 269) & 0xff;
  return i + 2;
}

/** Checks the token and code every transport shares. */
export function checkTokenAndCode(msg: CoapMessage): void {
  if (msg.token.length > MAX_TOKEN_LENGTH)
    throw new CoapFormatError('not-encodable', `token of ${msg.token.length} bytes (at most 8)`);
  if (!Number.isInteger(msg.code) || msg.code < 0 || msg.code > 255)
    throw new CoapFormatError('not-encodable', `code out of range: ${msg.code}`);
}

// ---- UDP ----

/**
 * Datagrams are carved from shared 16 KiB blocks outside the JS heap. A fresh small Uint8Array
 * lives on the JS heap, and a socket send first has to move it out (an allocation and a copy per
 * datagram; measured 0.7 µs per send); a view of a block is sent as is. A block is freed when no
 * datagram cut from it is referenced any more.
 */
const BLOCK_SIZE = 16 * 1024;
let block = new ArrayBuffer(BLOCK_SIZE);
let blockUsed = 0;

function allocate(size: number): Uint8Array {
  if (size > BLOCK_SIZE / 8) return new Uint8Array(size);
  if (blockUsed + size > BLOCK_SIZE) {
    block = new ArrayBuffer(BLOCK_SIZE);
    blockUsed = 0;
  }
  const out = new Uint8Array(block, blockUsed, size);
  blockUsed += size;
  return out;
}

/** The datagram of a message (RFC 7252 §3). Options are written in number order, shortest forms. */
export function encodeCoapUdp(msg: CoapMessage): Uint8Array {
  checkTokenAndCode(msg);
  const typeIndex = msg.type === undefined ? -1 : COAP_TYPES.indexOf(msg.type);
  if (typeIndex < 0) throw new CoapFormatError('not-encodable', `a UDP message needs a type`);
  const mid = msg.messageId;
  if (!Number.isInteger(mid) || mid < 0 || mid > 0xffff)
    throw new CoapFormatError('not-encodable', `message id out of range: ${mid}`);
  if (msg.code === 0 && (msg.token.length > 0 || msg.options.length > 0 || msg.payload.length > 0))
    throw new CoapFormatError(
      'bad-empty-message',
      'an empty message (0.00) has no token, options or payload',
    );
  const options = encodableOptions(msg.options);
  const tkl = msg.token.length;
  const out = allocate(4 + tkl + optionsAndPayloadSize(options, msg.payload));
  out[0] = 0x40 | (typeIndex << 4) | tkl;
  out[1] = msg.code;
  out[2] = mid >> 8;
  out[3] = mid & 0xff;
  copyInto(out, 4, msg.token);
  writeOptionsAndPayload(out, 4 + tkl, options, msg.payload);
  return out;
}

/**
 * The message in a datagram. Throws only CoapFormatError. Token and small option values are
 * copies; a payload or option value over 64 bytes is a view into `bytes` (copy it if the buffer
 * is reused).
 */
export function decodeCoapUdp(bytes: Uint8Array): CoapMessage {
  const n = bytes.length;
  if (n < 4) throw new CoapFormatError('truncated', `${n} bytes, shorter than the CoAP header`);
  const b0 = bytes[0]!;
  if (b0 >> 6 !== 1) throw new CoapFormatError('bad-version', `CoAP version ${b0 >> 6}`, { offset: 0 });
  const type = COAP_TYPES[(b0 >> 4) & 3]!;
  const tkl = b0 & 0x0f;
  const code = bytes[1]!;
  const messageId = (bytes[2]! << 8) | bytes[3]!;
  if (tkl > MAX_TOKEN_LENGTH) fail('bad-token-length', `token length ${tkl}`, type, messageId, 0);
  if (code === 0 && (tkl !== 0 || n !== 4))
    fail('bad-empty-message', 'an empty message (0.00) with a token or bytes after it', type, messageId, 4);
  if (4 + tkl > n) fail('truncated', `token of ${tkl} bytes cut off`, type, messageId, 4);
  const token = tkl === 0 ? EMPTY_BYTES : bytes.slice(4, 4 + tkl);
  const options: CoapOption[] = [];
  const payload = readOptions(bytes, 4 + tkl, n, type, messageId, options);
  return { type, code, messageId, token, options, payload };
}
