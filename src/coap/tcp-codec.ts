/**
 * CoAP over reliable transports (RFC 8323 §3.2): each message is a frame of Len/TKL, an extended
 * length (0, 1, 2 or 4 bytes), the code, the token, and the options and payload of RFC 7252.
 * No type and no message id. Also the signalling messages of RFC 8323 §5 (CSM, Ping, Pong,
 * Release, Abort).
 */
import { CoapCode, type CoapMessage } from './message.js';
import {
  OptionsBuilder,
  SignalOptionNumber,
  decodeString,
  encodeString,
  getStrings,
  getUint,
  hasOption,
} from './options.js';
import {
  CoapFormatError,
  EMPTY_BYTES,
  checkTokenAndCode,
  decodeOptionsAndPayload,
  encodableOptions,
  optionsAndPayloadSize,
  writeOptionsAndPayload,
} from './udp-codec.js';

/** The Max-Message-Size every peer may assume before a CSM says otherwise (RFC 8323 §5.3.1). */
export const BASE_MAX_MESSAGE_SIZE = 1152;
/**
 * The stream decoder's default frame limit: the base value plus headroom for peers that leave the
 * frame header and token out of their count.
 */
export const DEFAULT_MAX_FRAME_SIZE = BASE_MAX_MESSAGE_SIZE + 64;

// Len nibble 13/14/15: the length minus this offset follows in 1/2/4 bytes.
const EXT8 = 13;
const EXT16 = 269;
const EXT32 = 65805;
const MAX_LENGTH = EXT32 + 0xffffffff;
const MAX_TOKEN_LENGTH = 8;

/** The frame of a message. Options are written in number order, shortest forms. */
export function encodeCoapTcp(msg: CoapMessage): Uint8Array {
  checkTokenAndCode(msg);
  const options = encodableOptions(msg.options);
  const length = optionsAndPayloadSize(options, msg.payload);
  if (length > MAX_LENGTH) throw new CoapFormatError('not-encodable', `frame body of ${length} bytes`);
  const ext = length < EXT8 ? 0 : length < EXT16 ? 1 : length < EXT32 ? 2 : 4;
  const tkl = msg.token.length;
  const out = new Uint8Array(2 + ext + tkl + length);
  const nibble = ext === 0 ? length : ext === 1 ? 13 : ext === 2 ? 14 : 15;
  out[0] = (nibble << 4) | tkl;
  if (ext === 1) out[1] = length - EXT8;
  else if (ext === 2) {
    out[1] = (length - EXT16) >> 8;
    out[2] = (length - EXT16) & 0xff;
  } else if (ext === 4) {
    const v = length - EXT32;
    out[1] = Math.floor(v / 0x1000000) & 0xff;
    out[2] = (v >>> 16) & 0xff;
    out[3] = (v >>> 8) & 0xff;
    out[4] = v & 0xff;
  }
  out[1 + ext] = msg.code;
  out.set(msg.token, 2 + ext);
  writeOptionsAndPayload(out, 2 + ext + tkl, options, msg.payload);
  return out;
}

/**
 * The size of the frame starting at `start`, or -1 when bytes[start, end) does not yet hold its
 * length fields. Throws on a bad TKL and on a frame past `limit`, before any of it is buffered.
 */
function frameSize(bytes: Uint8Array, start: number, end: number, limit: number): number {
  if (end <= start) return -1;
  const b0 = bytes[start]!;
  const tkl = b0 & 0x0f;
  if (tkl > MAX_TOKEN_LENGTH)
    throw new CoapFormatError('bad-token-length', `token length ${tkl}`, { offset: start });
  const len = b0 >> 4;
  const ext = len < 13 ? 0 : len === 13 ? 1 : len === 14 ? 2 : 4;
  if (end - start < 1 + ext) return -1;
  let length = len;
  const at = start + 1;
  if (ext === 1) length = bytes[at]! + EXT8;
  else if (ext === 2) length = ((bytes[at]! << 8) | bytes[at + 1]!) + EXT16;
  else if (ext === 4)
    length =
      bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) + EXT32;
  const size = 2 + ext + tkl + length;
  if (size > limit)
    throw new CoapFormatError('too-large', `frame of ${size} bytes, limit ${limit}`, { offset: start, size });
  return size;
}

/**
 * The length of the whole frame (header, token, options and payload) starting at bytes[offset],
 * once bytes[offset, end) holds its length fields; -1 while more header bytes are needed (at most
 * 5). Throws CoapFormatError on a bad TKL and on a frame past `maxFrameSize`, so a stream reader
 * can refuse a frame before buffering any of it (RFC 8323 §3.2, §5.3.1).
 */
export function coapTcpFrameLength(
  bytes: Uint8Array,
  offset: number,
  end: number,
  maxFrameSize: number,
): number {
  return frameSize(bytes, offset, end, maxFrameSize);
}

/**
 * Decodes the complete frame bytes[start, end). Unlike UDP, an empty (0.00) frame may carry a
 * token and options: RFC 8323 only asks the recipient to ignore it.
 */
function decodeFrame(bytes: Uint8Array, start: number, end: number): CoapMessage {
  const b0 = bytes[start]!;
  const len = b0 >> 4;
  const ext = len < 13 ? 0 : len === 13 ? 1 : len === 14 ? 2 : 4;
  const tkl = b0 & 0x0f;
  const code = bytes[start + 1 + ext]!;
  const tokenStart = start + 2 + ext;
  const token = bytes.subarray(tokenStart, tokenStart + tkl);
  const { options, payload } = decodeOptionsAndPayload(bytes, tokenStart + tkl, end, {});
  return { code, messageId: 0, token, options, payload };
}

/**
 * The message in exactly one complete frame (a frame that came whole, e.g. in tests). Throws only
 * CoapFormatError; values are views into `bytes`.
 */
export function decodeCoapTcp(bytes: Uint8Array, maxFrameSize = Number.MAX_SAFE_INTEGER): CoapMessage {
  const size = frameSize(bytes, 0, bytes.length, maxFrameSize);
  if (size < 0 || size > bytes.length)
    throw new CoapFormatError('truncated', `frame cut off after ${bytes.length} bytes`);
  if (size < bytes.length)
    throw new CoapFormatError('trailing-bytes', `${bytes.length - size} bytes after the frame`, {
      offset: size,
    });
  return decodeFrame(bytes, 0, size);
}

export interface StreamDecoderOptions {
  /** The largest frame accepted, header included (default DEFAULT_MAX_FRAME_SIZE). */
  readonly maxMessageSize?: number;
}

/**
 * Cuts a byte stream into messages. Chunks may split frames anywhere, even inside the length
 * fields, and may hold several frames. It holds at most one partial frame, allocated once its
 * length is known and only if within `maxMessageSize`. After an error the stream is out of step
 * and the decoder fails every later push: the connection is to be aborted (RFC 8323 §5.6).
 * Messages of frames that came whole in one chunk are views into that chunk.
 */
export class CoapStreamDecoder {
  readonly maxMessageSize: number;
  readonly #head = new Uint8Array(6); // Len/TKL, up to 4 extended length bytes
  #headLength = 0;
  #frame: Uint8Array | undefined;
  #filled = 0;
  #failure: CoapFormatError | undefined;

  constructor(options: StreamDecoderOptions = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#frame ? this.#filled : this.#headLength;
  }

  /** The error that stopped the stream, if any. */
  get failure(): CoapFormatError | undefined {
    return this.#failure;
  }

  /** The messages completed by this chunk, in stream order. Throws only CoapFormatError. */
  push(chunk: Uint8Array): CoapMessage[] {
    if (this.#failure) throw this.#failure;
    try {
      return this.#push(chunk);
    } catch (e) {
      if (e instanceof CoapFormatError) {
        this.#failure = e;
        this.#frame = undefined;
        this.#headLength = 0;
      }
      throw e;
    }
  }

  #push(chunk: Uint8Array): CoapMessage[] {
    const out: CoapMessage[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const frame = this.#frame;
      if (frame) {
        const take = Math.min(frame.length - this.#filled, n - i);
        frame.set(chunk.subarray(i, i + take), this.#filled);
        this.#filled += take;
        i += take;
        if (this.#filled === frame.length) {
          this.#frame = undefined;
          out.push(decodeFrame(frame, 0, frame.length));
        }
        continue;
      }
      if (this.#headLength === 0) {
        // A frame that lies whole in this chunk is decoded in place.
        const size = frameSize(chunk, i, n, this.maxMessageSize);
        if (size >= 0 && size <= n - i) {
          out.push(decodeFrame(chunk, i, i + size));
          i += size;
          continue;
        }
      }
      this.#head[this.#headLength++] = chunk[i++]!;
      const size = frameSize(this.#head, 0, this.#headLength, this.maxMessageSize);
      if (size < 0) continue;
      const started = new Uint8Array(size);
      started.set(this.#head.subarray(0, this.#headLength));
      this.#filled = this.#headLength;
      this.#headLength = 0;
      if (this.#filled === size) out.push(decodeFrame(started, 0, size));
      else this.#frame = started;
    }
    return out;
  }
}

// ---- signalling messages (RFC 8323 §5) ----

function signal(
  code: number,
  builder: OptionsBuilder,
  token: Uint8Array | undefined,
  payload: Uint8Array = EMPTY_BYTES,
): CoapMessage {
  return { code, messageId: 0, token: token ?? EMPTY_BYTES, options: builder.build(), payload };
}

const diagnosticPayload = (diagnostic: string | undefined): Uint8Array =>
  diagnostic ? encodeString(diagnostic) : EMPTY_BYTES;

/** 7.01 CSM: the sender's capabilities (RFC 8323 §5.3). */
export function csm(
  params: { maxMessageSize?: number; blockWiseTransfer?: boolean; token?: Uint8Array } = {},
): CoapMessage {
  const b = new OptionsBuilder(CoapCode.CSM);
  if (params.maxMessageSize !== undefined) b.uint(SignalOptionNumber.MAX_MESSAGE_SIZE, params.maxMessageSize);
  if (params.blockWiseTransfer) b.empty(SignalOptionNumber.BLOCK_WISE_TRANSFER);
  return signal(CoapCode.CSM, b, params.token);
}

/** 7.02 Ping (RFC 8323 §5.4); Custody asks the peer to answer only once it has processed everything before. */
export function ping(params: { custody?: boolean; token?: Uint8Array } = {}): CoapMessage {
  const b = new OptionsBuilder(CoapCode.PING);
  if (params.custody) b.empty(SignalOptionNumber.CUSTODY);
  return signal(CoapCode.PING, b, params.token);
}

/** 7.03 Pong, the answer to a Ping: pass the Ping's token. */
export function pong(params: { custody?: boolean; token?: Uint8Array } = {}): CoapMessage {
  const b = new OptionsBuilder(CoapCode.PONG);
  if (params.custody) b.empty(SignalOptionNumber.CUSTODY);
  return signal(CoapCode.PONG, b, params.token);
}

/** 7.04 Release: the sender wants to close the connection (RFC 8323 §5.5). */
export function release(
  params: {
    alternativeAddresses?: readonly string[];
    holdOff?: number;
    diagnostic?: string;
    token?: Uint8Array;
  } = {},
): CoapMessage {
  const b = new OptionsBuilder(CoapCode.RELEASE);
  b.strings(SignalOptionNumber.ALTERNATIVE_ADDRESS, params.alternativeAddresses ?? []);
  if (params.holdOff !== undefined) b.uint(SignalOptionNumber.HOLD_OFF, params.holdOff);
  return signal(CoapCode.RELEASE, b, params.token, diagnosticPayload(params.diagnostic));
}

/** 7.05 Abort: the connection is being closed because of an error (RFC 8323 §5.6). */
export function abort(
  params: { badCsmOption?: number; diagnostic?: string; token?: Uint8Array } = {},
): CoapMessage {
  const b = new OptionsBuilder(CoapCode.ABORT);
  if (params.badCsmOption !== undefined) b.uint(SignalOptionNumber.BAD_CSM_OPTION, params.badCsmOption);
  return signal(CoapCode.ABORT, b, params.token, diagnosticPayload(params.diagnostic));
}

/** A signalling message, read. Values that do not fit their option are left out. */
export type Signal =
  | { readonly kind: 'csm'; readonly maxMessageSize?: number; readonly blockWiseTransfer: boolean }
  | { readonly kind: 'ping' | 'pong'; readonly custody: boolean }
  | {
      readonly kind: 'release';
      readonly alternativeAddresses: string[];
      readonly holdOff?: number;
      readonly diagnostic: string;
    }
  | { readonly kind: 'abort'; readonly badCsmOption?: number; readonly diagnostic: string };

/** The signal a 7.xx message carries; undefined for any other code. */
export function readSignal(msg: CoapMessage): Signal | undefined {
  switch (msg.code) {
    case CoapCode.CSM: {
      const maxMessageSize = getUint(msg, SignalOptionNumber.MAX_MESSAGE_SIZE);
      const blockWiseTransfer = hasOption(msg, SignalOptionNumber.BLOCK_WISE_TRANSFER);
      return maxMessageSize === undefined
        ? { kind: 'csm', blockWiseTransfer }
        : { kind: 'csm', maxMessageSize, blockWiseTransfer };
    }
    case CoapCode.PING:
    case CoapCode.PONG:
      return {
        kind: msg.code === CoapCode.PING ? 'ping' : 'pong',
        custody: hasOption(msg, SignalOptionNumber.CUSTODY),
      };
    case CoapCode.RELEASE: {
      const holdOff = getUint(msg, SignalOptionNumber.HOLD_OFF);
      const base = {
        kind: 'release' as const,
        alternativeAddresses: getStrings(msg, SignalOptionNumber.ALTERNATIVE_ADDRESS),
        diagnostic: decodeString(msg.payload),
      };
      return holdOff === undefined ? base : { ...base, holdOff };
    }
    case CoapCode.ABORT: {
      const badCsmOption = getUint(msg, SignalOptionNumber.BAD_CSM_OPTION);
      const diagnostic = decodeString(msg.payload);
      return badCsmOption === undefined
        ? { kind: 'abort', diagnostic }
        : { kind: 'abort', badCsmOption, diagnostic };
    }
    default:
      return undefined;
  }
}
