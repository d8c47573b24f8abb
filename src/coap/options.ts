/**
 * CoAP options: the registry of every option LwM2M needs (and the RFC 8323 signalling options),
 * typed access to the raw option bytes of a `CoapMessage`, the uint and Block value codecs, and
 * the check of a received option list against the registry (RFC 7252 §5.4).
 */
import { isUtf8 } from 'node:buffer';
import { PetrelError } from '../errors.js';
import { CoapCode, isRequest, isSignal, type CoapMessage, type CoapOption } from './message.js';

/** Option value formats (RFC 7252 §3.2). */
export type OptionFormat = 'empty' | 'opaque' | 'uint' | 'string';

export interface OptionDefinition {
  readonly number: number;
  readonly name: string;
  readonly format: OptionFormat;
  readonly repeatable: boolean;
  /** Value length bounds in bytes (RFC 7252 §5.4.3: outside them the option counts as unrecognised). */
  readonly minLength: number;
  readonly maxLength: number;
  readonly critical: boolean;
  readonly unsafe: boolean;
  readonly noCacheKey: boolean;
}

// RFC 7252 §5.4.6: the option number itself says how a recipient that does not know it must treat
// it: odd = critical, bit 1 = unsafe to forward, bits 1-4 = 0b1110 (with bit 1 clear) = NoCacheKey.
export const isCritical = (number: number): boolean => (number & 1) === 1;
export const isUnsafe = (number: number): boolean => (number & 2) === 2;
export const isNoCacheKey = (number: number): boolean => (number & 0x1e) === 0x1c;

/** Option numbers by name (RFC 7252 §12.2, 7641, 7959, 8613, 7967, 9175). */
export const OptionNumber = {
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  OSCORE: 9,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
  ECHO: 252,
  NO_RESPONSE: 258,
  REQUEST_TAG: 292,
} as const;

/** Signalling option numbers (RFC 8323 §5): their meaning depends on the signal code. */
export const SignalOptionNumber = {
  MAX_MESSAGE_SIZE: 2, // CSM
  BLOCK_WISE_TRANSFER: 4, // CSM
  CUSTODY: 2, // Ping, Pong
  ALTERNATIVE_ADDRESS: 2, // Release
  HOLD_OFF: 4, // Release
  BAD_CSM_OPTION: 2, // Abort
} as const;

function define(
  number: number,
  name: string,
  format: OptionFormat,
  repeatable: boolean,
  minLength: number,
  maxLength: number,
): OptionDefinition {
  return Object.freeze({
    number,
    name,
    format,
    repeatable,
    minLength,
    maxLength,
    critical: isCritical(number),
    unsafe: isUnsafe(number),
    noCacheKey: isNoCacheKey(number),
  });
}

/** Every option LwM2M uses, in number order. */
export const OPTIONS: readonly OptionDefinition[] = Object.freeze([
  define(1, 'If-Match', 'opaque', true, 0, 8),
  define(3, 'Uri-Host', 'string', false, 1, 255),
  define(4, 'ETag', 'opaque', true, 1, 8), // repeatable in requests only (RFC 7252 §5.10.6)
  define(5, 'If-None-Match', 'empty', false, 0, 0),
  define(6, 'Observe', 'uint', false, 0, 3), // RFC 7641 §2
  define(7, 'Uri-Port', 'uint', false, 0, 2),
  define(8, 'Location-Path', 'string', true, 0, 255),
  define(9, 'OSCORE', 'opaque', false, 0, 255), // RFC 8613 §2, carried as is
  define(11, 'Uri-Path', 'string', true, 0, 255),
  define(12, 'Content-Format', 'uint', false, 0, 2),
  define(14, 'Max-Age', 'uint', false, 0, 4),
  define(15, 'Uri-Query', 'string', true, 0, 255),
  define(17, 'Accept', 'uint', false, 0, 2),
  define(20, 'Location-Query', 'string', true, 0, 255),
  define(23, 'Block2', 'uint', false, 0, 3), // RFC 7959 §2.1
  define(27, 'Block1', 'uint', false, 0, 3),
  define(28, 'Size2', 'uint', false, 0, 4),
  define(35, 'Proxy-Uri', 'string', false, 1, 1034),
  define(39, 'Proxy-Scheme', 'string', false, 1, 255),
  define(60, 'Size1', 'uint', false, 0, 4),
  define(252, 'Echo', 'opaque', false, 1, 40), // RFC 9175 §2.2.1
  define(258, 'No-Response', 'uint', false, 0, 1), // RFC 7967 §2
  define(292, 'Request-Tag', 'opaque', true, 0, 8), // RFC 9175 §3.2
]);

/** The signalling options of RFC 8323 §5, by signal code. */
export const SIGNAL_OPTIONS: ReadonlyMap<number, readonly OptionDefinition[]> = new Map([
  [
    CoapCode.CSM,
    [
      define(2, 'Max-Message-Size', 'uint', false, 0, 4),
      define(4, 'Block-Wise-Transfer', 'empty', false, 0, 0),
    ],
  ],
  [CoapCode.PING, [define(2, 'Custody', 'empty', false, 0, 0)]],
  [CoapCode.PONG, [define(2, 'Custody', 'empty', false, 0, 0)]],
  [
    CoapCode.RELEASE,
    [define(2, 'Alternative-Address', 'string', true, 1, 255), define(4, 'Hold-Off', 'uint', false, 0, 3)],
  ],
  [CoapCode.ABORT, [define(2, 'Bad-CSM-Option', 'uint', false, 0, 2)]],
]);

const BY_NUMBER = new Map(OPTIONS.map((d) => [d.number, d]));

/** The registry entry of a (non-signalling) option number, if LwM2M knows it. */
export function optionDefinition(number: number): OptionDefinition | undefined {
  return BY_NUMBER.get(number);
}

/** The entry for an option of a message with this code: signalling codes have their own numbers. */
export function optionDefinitionFor(code: number, number: number): OptionDefinition | undefined {
  if (!isSignal(code)) return BY_NUMBER.get(number);
  return SIGNAL_OPTIONS.get(code)?.find((d) => d.number === number);
}

/** `Uri-Path`, or `Option 2048` for a number we do not know. */
export function optionName(number: number, code = 0): string {
  return optionDefinitionFor(code, number)?.name ?? `Option ${number}`;
}

// ---- errors ----

export type CoapOptionReason =
  | 'bad-value' // not a value this format or option can hold (negative uint, num past 2^20 ...)
  | 'bad-length' // a value longer or shorter than the option allows
  | 'format-mismatch'; // a typed setter used on an option of another format

/** A value that cannot be put into (or read from) an option: a caller's mistake, never wire input. */
export class CoapOptionError extends PetrelError {
  readonly reason: CoapOptionReason;
  readonly number: number | undefined;
  /** `code`: the message code, which names signalling options. */
  constructor(reason: CoapOptionReason, message: string, number?: number, code = 0) {
    super(
      'PETREL_ERR_COAP_OPTION',
      number === undefined ? message : `${optionName(number, code)}: ${message}`,
    );
    this.reason = reason;
    this.number = number;
  }
}

// ---- uint values (RFC 7252 §3.2: big-endian, as few bytes as possible, 0 = empty) ----

const EMPTY: Uint8Array = new Uint8Array(0);
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The minimal big-endian bytes of an unsigned integer: a number up to 2^53 - 1, or a bigint up to
 * 2^64 - 1. Zero is the empty value.
 */
export function encodeUint(value: number | bigint): Uint8Array {
  if (typeof value === 'bigint') {
    if (value < 0n || value > UINT64_MAX)
      throw new CoapOptionError('bad-value', `uint out of range: ${value}`);
    if (value <= BigInt(Number.MAX_SAFE_INTEGER)) return encodeUint(Number(value));
    const out = new Uint8Array(value > 0xffffffffffffffn ? 8 : 7);
    for (let i = out.length - 1, v = value; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  }
  if (!Number.isSafeInteger(value) || value < 0)
    throw new CoapOptionError('bad-value', `uint out of range: ${value}`);
  if (value === 0) return EMPTY;
  let length = 0;
  for (let v = value; v > 0; v = Math.floor(v / 256)) length++;
  const out = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

/**
 * The value of up to 4 bytes (every uint option LwM2M uses fits). Leading zero bytes are accepted
 * (the RFC asks senders, not receivers, for the shortest form).
 */
export function decodeUint(bytes: Uint8Array): number {
  if (bytes.length > 4)
    throw new CoapOptionError('bad-length', `uint of ${bytes.length} bytes (at most 4 fit a number)`);
  let v = 0;
  for (const b of bytes) v = v * 256 + b;
  return v;
}

/** The value of up to 8 bytes, as a bigint. */
export function decodeUintBig(bytes: Uint8Array): bigint {
  if (bytes.length > 8) throw new CoapOptionError('bad-length', `uint of ${bytes.length} bytes (at most 8)`);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

// ---- strings (UTF-8, RFC 7252 §3.2) ----

const utf8 = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF as part of the value; invalid bytes decode as U+FFFD (checkOptions
// reports them, so a getter never throws on wire input).
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Strings up to this many chars try the ASCII path (the array stays on the JS heap, see udp-codec). */
const SHORT_STRING = 64;

/**
 * UTF-8 bytes of `s`. A short ASCII string (a Uri-Path segment, a query parameter) is copied char
 * by char into a small array on the JS heap: TextEncoder gives every result its own off-heap
 * buffer, which cost more than the rest of building a Read's options.
 */
export function encodeString(s: string): Uint8Array {
  const n = s.length;
  if (n > SHORT_STRING) return utf8.encode(s);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return utf8.encode(s);
    out[i] = c;
  }
  return out;
}
export const decodeString = (bytes: Uint8Array): string => utf8Decoder.decode(bytes);

// ---- Block options (RFC 7959 §2.2) ----

/** A Block1/Block2 value: block number, more flag and size exponent (size = 2^(szx + 4)). */
export interface BlockOption {
  readonly num: number;
  readonly more: boolean;
  readonly szx: number;
}

/** SZX 7 is BERT on reliable transports (RFC 8323 §6) and reserved on UDP (RFC 7959 §2.2). */
export const BERT_SZX = 7;
/** Block numbers are 20 bits (3 bytes minus the 4 bits of M and SZX). */
export const MAX_BLOCK_NUM = 0xfffff;

/** The block size of an SZX: 16 .. 1024; a BERT block (SZX 7) counts in units of 1024 bytes. */
export function blockSize(szx: number): number {
  return szx >= BERT_SZX ? 1024 : 1 << (szx + 4);
}

/** The SZX of a block size (16, 32 ... 1024); undefined for any other size. */
export function sizeToSzx(size: number): number | undefined {
  for (let szx = 0; szx < BERT_SZX; szx++) if (1 << (szx + 4) === size) return szx;
  return undefined;
}

/** The shortest value of a Block option (0-3 bytes). */
export function encodeBlock(block: BlockOption): Uint8Array {
  const { num, more, szx } = block;
  if (!Number.isInteger(num) || num < 0 || num > MAX_BLOCK_NUM)
    throw new CoapOptionError('bad-value', `block number out of range: ${num}`);
  if (!Number.isInteger(szx) || szx < 0 || szx > BERT_SZX)
    throw new CoapOptionError('bad-value', `SZX out of range: ${szx}`);
  return encodeUint(num * 16 + (more ? 8 : 0) + szx);
}

/** The block a value carries; undefined for a value longer than 3 bytes. */
export function decodeBlock(bytes: Uint8Array): BlockOption | undefined {
  if (bytes.length > 3) return undefined;
  const v = decodeUint(bytes);
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx: v & 7 };
}

// ---- reading options from a message ----

/** The first value of option `number`, if present. */
export function getOption(msg: CoapMessage, number: number): Uint8Array | undefined {
  for (const o of msg.options) if (o.number === number) return o.value;
  return undefined;
}

/** Every value of option `number`, in message order. */
export function getOptions(msg: CoapMessage, number: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const o of msg.options) if (o.number === number) out.push(o.value);
  return out;
}

export const hasOption = (msg: CoapMessage, number: number): boolean => getOption(msg, number) !== undefined;

/** The first value as an unsigned integer; undefined when absent or longer than 4 bytes. */
export function getUint(msg: CoapMessage, number: number): number | undefined {
  const v = getOption(msg, number);
  return v === undefined || v.length > 4 ? undefined : decodeUint(v);
}

/** The first value as a string (invalid UTF-8 becomes U+FFFD; checkOptions reports it). */
export function getString(msg: CoapMessage, number: number): string | undefined {
  const v = getOption(msg, number);
  return v === undefined ? undefined : decodeString(v);
}

/** Every value as a string, in order (Uri-Path segments, Uri-Query parameters ...). */
export function getStrings(msg: CoapMessage, number: number): string[] {
  const out: string[] = [];
  for (const o of msg.options) if (o.number === number) out.push(decodeString(o.value));
  return out;
}

/** The Block1/Block2 value; undefined when absent or malformed (longer than 3 bytes). */
export function getBlock(msg: CoapMessage, number: number): BlockOption | undefined {
  const v = getOption(msg, number);
  return v === undefined ? undefined : decodeBlock(v);
}

/** The Uri-Path segments (`[]` for the root). */
export const uriPath = (msg: CoapMessage): string[] => getStrings(msg, OptionNumber.URI_PATH);
/** The Uri-Query parameters, each `name=value` or `name` as sent. */
export const uriQuery = (msg: CoapMessage): string[] => getStrings(msg, OptionNumber.URI_QUERY);
export const locationPath = (msg: CoapMessage): string[] => getStrings(msg, OptionNumber.LOCATION_PATH);
export const locationQuery = (msg: CoapMessage): string[] => getStrings(msg, OptionNumber.LOCATION_QUERY);
export const contentFormat = (msg: CoapMessage): number | undefined =>
  getUint(msg, OptionNumber.CONTENT_FORMAT);
export const accept = (msg: CoapMessage): number | undefined => getUint(msg, OptionNumber.ACCEPT);
export const observe = (msg: CoapMessage): number | undefined => getUint(msg, OptionNumber.OBSERVE);
export const block1 = (msg: CoapMessage): BlockOption | undefined => getBlock(msg, OptionNumber.BLOCK1);
export const block2 = (msg: CoapMessage): BlockOption | undefined => getBlock(msg, OptionNumber.BLOCK2);

// ---- building option lists ----

/** The longest option value the wire format can carry (RFC 7252 §3.1: 65535 + 269). */
export const MAX_OPTION_LENGTH = 65804;
/** Option numbers are 16 bits (RFC 7252 §12.2). */
export const MAX_OPTION_NUMBER = 65535;

function checkValue(number: number, value: Uint8Array, code: number): void {
  if (!Number.isInteger(number) || number < 0 || number > MAX_OPTION_NUMBER)
    throw new CoapOptionError('bad-value', `option number out of range: ${number}`);
  const def = optionDefinitionFor(code, number);
  const min = def ? def.minLength : 0;
  const max = def ? def.maxLength : MAX_OPTION_LENGTH;
  if (value.length < min || value.length > max)
    throw new CoapOptionError(
      'bad-length',
      `value of ${value.length} bytes (allowed ${min}-${max})`,
      number,
      code,
    );
}

function checkFormat(number: number, format: OptionFormat, code: number): void {
  const def = optionDefinitionFor(code, number);
  if (def && def.format !== format)
    throw new CoapOptionError('format-mismatch', `is ${def.format}, not ${format}`, number, code);
}

/** The options sorted by number; repeated options keep their order (a stable sort). */
export function sortOptions(options: readonly CoapOption[]): CoapOption[] {
  const out = [...options];
  // Insertion sort: stable, and linear for the (usual) list that is already sorted.
  for (let i = 1; i < out.length; i++) {
    const o = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]!.number > o.number) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = o;
  }
  return out;
}

/**
 * Builds a sorted option list. Values are checked against the registry (lengths, and the format of
 * typed adders); options of one number keep the order they were added in.
 */
export class OptionsBuilder {
  readonly #options: CoapOption[] = [];
  readonly #code: number;

  /** `code` selects the signalling option table for 7.xx messages. */
  constructor(code = 0) {
    this.#code = code;
  }

  add(number: number, value: Uint8Array): this {
    checkValue(number, value, this.#code);
    this.#options.push({ number, value });
    return this;
  }

  empty(number: number): this {
    checkFormat(number, 'empty', this.#code);
    return this.add(number, EMPTY);
  }

  uint(number: number, value: number | bigint): this {
    checkFormat(number, 'uint', this.#code);
    return this.add(number, encodeUint(value));
  }

  string(number: number, value: string): this {
    checkFormat(number, 'string', this.#code);
    return this.add(number, encodeString(value));
  }

  strings(number: number, values: readonly string[]): this {
    for (const v of values) this.string(number, v);
    return this;
  }

  block(number: number, block: BlockOption): this {
    return this.add(number, encodeBlock(block));
  }

  uriPath(segments: readonly string[]): this {
    if (isSignal(this.#code)) return this.strings(OptionNumber.URI_PATH, segments);
    for (const segment of segments) this.#options.push(uriPathOption(segment));
    return this;
  }

  uriQuery(parameters: readonly string[]): this {
    return this.strings(OptionNumber.URI_QUERY, parameters);
  }

  build(): CoapOption[] {
    return sortOptions(this.#options);
  }
}

/**
 * Uri-Path options by segment, built and checked once and then shared: a server reads the same
 * few paths from a whole fleet, and an option's bytes are never written once built (messages are
 * immutable). Bounded: emptied when full.
 */
const uriPathOptions = new Map<string, CoapOption>();
const URI_PATH_OPTIONS_LIMIT = 1024;

function uriPathOption(segment: string): CoapOption {
  let option = uriPathOptions.get(segment);
  if (option === undefined) {
    const value = encodeString(segment);
    checkValue(OptionNumber.URI_PATH, value, 0);
    option = Object.freeze({ number: OptionNumber.URI_PATH, value });
    if (segment.length <= SHORT_STRING) {
      if (uriPathOptions.size >= URI_PATH_OPTIONS_LIMIT) uriPathOptions.clear();
      uriPathOptions.set(segment, option);
    }
  }
  return option;
}

// ---- changing the options of a message (messages are immutable: these return new ones) ----

function valuesOf(value: Uint8Array | readonly Uint8Array[]): readonly Uint8Array[] {
  return value instanceof Uint8Array ? [value] : value;
}

/** Adds values of option `number` after any it already has. */
export function addOption(
  msg: CoapMessage,
  number: number,
  value: Uint8Array | readonly Uint8Array[],
): CoapMessage {
  const values = valuesOf(value);
  for (const v of values) checkValue(number, v, msg.code);
  let at = msg.options.length;
  while (at > 0 && msg.options[at - 1]!.number > number) at--;
  const options = [...msg.options];
  options.splice(at, 0, ...values.map((v) => ({ number, value: v })));
  return { ...msg, options };
}

/** Removes every value of option `number`. */
export function removeOption(msg: CoapMessage, number: number): CoapMessage {
  if (!hasOption(msg, number)) return msg;
  return { ...msg, options: msg.options.filter((o) => o.number !== number) };
}

/** Replaces every value of option `number` with these (none: removes it). */
export function setOption(
  msg: CoapMessage,
  number: number,
  value: Uint8Array | readonly Uint8Array[],
): CoapMessage {
  return addOption(removeOption(msg, number), number, value);
}

export function setEmpty(msg: CoapMessage, number: number): CoapMessage {
  checkFormat(number, 'empty', msg.code);
  return setOption(msg, number, EMPTY);
}

export function setUint(msg: CoapMessage, number: number, value: number | bigint): CoapMessage {
  checkFormat(number, 'uint', msg.code);
  return setOption(msg, number, encodeUint(value));
}

export function setString(msg: CoapMessage, number: number, value: string): CoapMessage {
  return setStrings(msg, number, [value]);
}

export function setStrings(msg: CoapMessage, number: number, values: readonly string[]): CoapMessage {
  checkFormat(number, 'string', msg.code);
  return setOption(msg, number, values.map(encodeString));
}

export function setBlock(msg: CoapMessage, number: number, block: BlockOption): CoapMessage {
  return setOption(msg, number, encodeBlock(block));
}

export const setUriPath = (msg: CoapMessage, segments: readonly string[]): CoapMessage =>
  setStrings(msg, OptionNumber.URI_PATH, segments);
export const setUriQuery = (msg: CoapMessage, parameters: readonly string[]): CoapMessage =>
  setStrings(msg, OptionNumber.URI_QUERY, parameters);

// ---- checking a received option list (RFC 7252 §5.4) ----

export type OptionProblemKind =
  | 'unrecognized' // a number the registry does not know (RFC 7252 §5.4.1)
  | 'bad-length' // a known option with a length outside its bounds (§5.4.3)
  | 'not-repeatable' // a second occurrence of a non-repeatable option (§5.4.5)
  | 'bad-utf8' // a string option that is not UTF-8 (§3.2)
  | 'reserved-szx'; // a Block option with SZX 7 on UDP (RFC 7959 §2.2)

export interface OptionProblem {
  readonly kind: OptionProblemKind;
  readonly number: number;
  /** Position in `msg.options`. */
  readonly index: number;
  /** Whether the option is critical (odd number): then the message cannot be processed. */
  readonly critical: boolean;
  readonly message: string;
}

export interface CheckOptionsConfig {
  /** Default: from the code (a request code is a request). ETag repeats only in requests. */
  readonly role?: 'request' | 'response';
  /** A reliable transport (RFC 8323): SZX 7 means BERT there and is reserved on UDP. */
  readonly reliable?: boolean;
}

/**
 * The result of checkOptions. `problem` is the first problem with a critical option: a CON request
 * gets 4.02 (problemCode), a response is rejected (RFC 7252 §5.4.1). `ignored` lists the problems
 * with elective options, which must be silently ignored (dropIgnored removes them).
 */
export type OptionCheck =
  | { readonly ok: true; readonly ignored: readonly OptionProblem[] }
  | { readonly ok: false; readonly problem: OptionProblem; readonly ignored: readonly OptionProblem[] };

/** Checks the options of a received message against the registry (signalling codes: their table). */
export function checkOptions(msg: CoapMessage, config: CheckOptionsConfig = {}): OptionCheck {
  const role = config.role ?? (isRequest(msg.code) ? 'request' : 'response');
  const ignored: OptionProblem[] = [];
  let problem: OptionProblem | undefined;
  const report = (kind: OptionProblemKind, number: number, index: number, message: string): void => {
    const p: OptionProblem = { kind, number, index, critical: isCritical(number), message };
    if (!p.critical) ignored.push(p);
    else problem ??= p;
  };
  let previous = -1;
  for (let i = 0; i < msg.options.length; i++) {
    const { number, value } = msg.options[i]!;
    const repeated = number === previous;
    previous = number;
    const def = optionDefinitionFor(msg.code, number);
    if (!def) {
      report('unrecognized', number, i, `unrecognized option ${number}`);
      continue;
    }
    const repeatable = def.repeatable && !(number === OptionNumber.ETAG && role === 'response');
    if (repeated && !repeatable) {
      report('not-repeatable', number, i, `${def.name} must not repeat`);
    } else if (value.length < def.minLength || value.length > def.maxLength) {
      report(
        'bad-length',
        number,
        i,
        `${def.name} of ${value.length} bytes (allowed ${def.minLength}-${def.maxLength})`,
      );
    } else if (def.format === 'string' && !isUtf8(value)) {
      report('bad-utf8', number, i, `${def.name} is not UTF-8`);
    } else if (
      !config.reliable &&
      !isSignal(msg.code) &&
      (number === OptionNumber.BLOCK1 || number === OptionNumber.BLOCK2) &&
      (decodeUint(value) & 7) === BERT_SZX
    ) {
      report('reserved-szx', number, i, `${def.name} with the reserved SZX 7`);
    }
  }
  return problem ? { ok: false, problem, ignored } : { ok: true, ignored };
}

/**
 * The response code for a critical option problem: 4.02 Bad Option for an unrecognised option
 * (also a bad length or a repetition, RFC 7252 §5.4.3, §5.4.5), 4.00 for a bad value.
 */
export function problemCode(problem: OptionProblem): number {
  return problem.kind === 'bad-utf8' || problem.kind === 'reserved-szx'
    ? CoapCode.BAD_REQUEST
    : CoapCode.BAD_OPTION;
}

/**
 * The number of the first critical option that makes the message unprocessable (unrecognised,
 * bad length, repeated, or a bad value: see checkOptions and problemCode for the exact kind).
 */
export function firstUnrecognizedCritical(
  msg: CoapMessage,
  config: CheckOptionsConfig = {},
): number | undefined {
  // Every request runs this: a message with nothing to report (the usual case) is recognised by a
  // loop that allocates nothing; only one with a possible problem gets the full check.
  if (plainlyValid(msg, config)) return undefined;
  const check = checkOptions(msg, config);
  return check.ok ? undefined : check.problem.number;
}

/**
 * True when checkOptions would report nothing at all: every option known, of a valid length, not
 * repeated unless repeatable, string values plain ASCII, and no Block option on UDP. False means
 * "maybe not": the caller runs the full check.
 */
function plainlyValid(msg: CoapMessage, config: CheckOptionsConfig): boolean {
  if (isSignal(msg.code)) return false;
  const options = msg.options;
  let previous = -1;
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    const number = o.number;
    const def = BY_NUMBER.get(number);
    if (def === undefined) return false;
    if (number === previous && (!def.repeatable || number === OptionNumber.ETAG)) return false;
    previous = number;
    const value = o.value;
    const length = value.length;
    if (length < def.minLength || length > def.maxLength) return false;
    if (def.format === 'string') {
      for (let k = 0; k < length; k++) if (value[k]! >= 0x80) return false;
    } else if (!config.reliable && (number === OptionNumber.BLOCK1 || number === OptionNumber.BLOCK2))
      return false;
  }
  return true;
}

/** The message without the elective options a check said to ignore. */
export function dropIgnored(msg: CoapMessage, check: OptionCheck): CoapMessage {
  if (check.ignored.length === 0) return msg;
  const drop = new Set(check.ignored.map((p) => p.index));
  return { ...msg, options: msg.options.filter((_, i) => !drop.has(i)) };
}
