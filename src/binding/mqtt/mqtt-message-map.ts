import { CborFloat, CborMap, decodeCbor, type CborValue } from '../../content/cbor/cbor-reader.js';
import { encodeCbor } from '../../content/cbor/cbor-writer.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import { PetrelError } from '../../errors.js';
import type { ResultCode } from '../../operations/result-code.js';

/*
 * The LwM2M 1.2 MQTT binding's message (Transport TS §MQTT; LWM2M-1.2.md §3.9): every MQTT
 * PUBLISH payload is one CBOR map with small integer keys. The 1.2-era text and the 1.2.2 text
 * number the operations and keys differently; this module is the one place that holds the
 * numbering, and it follows 1.2.2 (docs/mqtt.md explains why).
 */

/** Operation codes on the `bs` topic (Bootstrap interface). */
export const BootstrapOperationCode = Object.freeze({
  BOOTSTRAP_REQUEST: 0,
  BOOTSTRAP_WRITE: 1,
  BOOTSTRAP_READ: 2,
  BOOTSTRAP_DELETE: 3,
  BOOTSTRAP_DISCOVER: 4,
  BOOTSTRAP_FINISH: 5,
  BOOTSTRAP_PACK_REQUEST: 6,
} as const);

/**
 * Operation codes on the `rd` topic (Registration, DM and Information Reporting interfaces).
 * Register shares 6 with Bootstrap-Pack-Request: the topic's `bs`/`rd` level tells them apart.
 * CANCEL is Cancel Observation and Cancel Observation-Composite alike: `paths` marks the composite.
 */
export const RdOperationCode = Object.freeze({
  REGISTER: 6,
  UPDATE: 7,
  DEREGISTER: 8,
  READ: 9,
  READ_COMPOSITE: 10,
  DISCOVER: 11,
  WRITE_REPLACE: 12,
  WRITE_PARTIAL: 13,
  WRITE_ATTRIBUTES: 14,
  WRITE_COMPOSITE: 15,
  EXECUTE: 16,
  CREATE: 17,
  DELETE: 18,
  OBSERVE: 20,
  OBSERVE_COMPOSITE: 21,
  CANCEL: 22,
  NOTIFY: 23,
  SEND: 24,
} as const);

/** The CBOR map keys (1.2.2 numbering). */
export const MapKey = Object.freeze({
  operation: 1,
  token: 2,
  ep: 3,
  pct: 4,
  uri: 5,
  paths: 6,
  payload: 7,
  lifetime: 8,
  version: 9,
  b: 10,
  sms: 11,
  pmin: 12,
  pmax: 13,
  gt: 14,
  st: 15,
  epmin: 16,
  epmax: 17,
  result: 18,
  ct: 19,
  edge: 20,
  hqmax: 21,
  depth: 22,
} as const);

export type MapKeyName = keyof typeof MapKey;

/**
 * The correlation token. Petrel writes byte strings; it reads byte strings, text strings and
 * unsigned integers (the spec only says a token "needs no randomness"), and answers with the
 * token exactly as received.
 */
export type MqttToken = Uint8Array | string | number;

/** One message, typed. A request has `operation`; a response has `result`; a Notify may have both. */
export interface MqttMessage {
  readonly operation?: number;
  readonly token: MqttToken;
  /** CoAP-like integer: 205 = 2.05 Content. */
  readonly result?: number;
  readonly ep?: string;
  readonly pct?: number;
  readonly uri?: string;
  /** SenML CBOR names (a composite operation's path list). */
  readonly paths?: Uint8Array;
  readonly payload?: Uint8Array;
  readonly lifetime?: number;
  readonly version?: string;
  readonly b?: string;
  readonly sms?: string;
  /** Attribute keys: a number sets, null unsets (Write-Attributes `?pmin`). */
  readonly pmin?: number | null;
  readonly pmax?: number | null;
  readonly gt?: number | null;
  readonly st?: number | null;
  readonly epmin?: number | null;
  readonly epmax?: number | null;
  readonly edge?: number | null;
  readonly hqmax?: number | null;
  readonly ct?: number;
  readonly depth?: number;
}

export type MqttMessageErrorReason =
  | 'not-cbor' // the payload is not one well-formed CBOR item
  | 'not-a-map' // a CBOR item other than a map
  | 'too-large' // more bytes than the binding accepts
  | 'duplicate-key'
  | 'bad-value' // a known key with a value of the wrong type or range
  | 'missing-token'
  | 'missing-kind'; // neither operation nor result

/** A message that is not a valid LwM2M MQTT map. The only error decodeMqttMessage throws. */
export class MqttMessageError extends PetrelError {
  readonly reason: MqttMessageErrorReason;
  /** The key at fault, when one is. */
  readonly key: number | undefined;
  constructor(reason: MqttMessageErrorReason, message: string, key?: number, options?: { cause?: unknown }) {
    super('PETREL_ERR_MQTT_MESSAGE', message, options);
    this.reason = reason;
    this.key = key;
  }
}

/** Attribute keys in the order they are written. */
export const ATTRIBUTE_KEYS = Object.freeze([
  'pmin',
  'pmax',
  'gt',
  'st',
  'epmin',
  'epmax',
  'edge',
  'hqmax',
] as const satisfies readonly MapKeyName[]);
export type MqttAttributeName = (typeof ATTRIBUTE_KEYS)[number];

/** Default bound on a message (a CBOR map with one payload); the binding may lower or raise it. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_TOKEN_BYTES = 64;
const MAX_TEXT_BYTES: Readonly<Record<'ep' | 'uri' | 'version' | 'b' | 'sms', number>> = {
  ep: 255,
  uri: 1024,
  version: 16,
  b: 8,
  sms: 255,
};
const UINT32 = 0xffff_ffff;
const UINT16 = 0xffff;

const encoder = new TextEncoder();

type Kind = 'uint16' | 'uint32' | 'text' | 'bytes' | 'attr-uint' | 'attr-number' | 'attr-bit';
const KIND: Readonly<Record<MapKeyName, Kind | 'token' | 'result' | 'operation' | 'depth'>> = {
  operation: 'operation',
  token: 'token',
  ep: 'text',
  pct: 'uint16',
  uri: 'text',
  paths: 'bytes',
  payload: 'bytes',
  lifetime: 'uint32',
  version: 'text',
  b: 'text',
  sms: 'text',
  pmin: 'attr-uint',
  pmax: 'attr-uint',
  gt: 'attr-number',
  st: 'attr-number',
  epmin: 'attr-uint',
  epmax: 'attr-uint',
  result: 'result',
  ct: 'uint16',
  edge: 'attr-bit',
  hqmax: 'attr-uint',
  depth: 'depth',
};

const NAME_OF_KEY: ReadonlyMap<number, MapKeyName> = new Map(
  (Object.entries(MapKey) as [MapKeyName, number][]).map(([name, key]) => [key, name]),
);

/** `205` → `'2.05'`; undefined for integers that are not a class 2, 4 or 5 code. */
export function resultToCode(result: number): ResultCode | undefined {
  if (!Number.isInteger(result) || result < 200 || result > 599) return undefined;
  const cls = Math.floor(result / 100);
  if (cls === 3) return undefined;
  const detail = result % 100;
  return `${cls as 2 | 4 | 5}.${String(detail).padStart(2, '0')}`;
}

/** `'2.05'` → `205`. */
export function codeToResult(code: ResultCode): number {
  const [cls, detail] = code.split('.');
  return Number(cls) * 100 + Number(detail);
}

/** A token as a lookup key (distinguishes bytes, text and integers). */
export function tokenKey(token: MqttToken): string {
  if (typeof token === 'number') return `u:${token}`;
  if (typeof token === 'string') return `t:${token}`;
  return `b:${Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('hex')}`;
}

/** A token as the WireIdentity's hex (bytes as hex; text and integers in their UTF-8 bytes' hex). */
export function tokenHex(token: MqttToken): string {
  if (token instanceof Uint8Array)
    return Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('hex');
  return Buffer.from(String(token), 'utf8').toString('hex');
}

function fail(reason: MqttMessageErrorReason, message: string, key?: number): never {
  throw new MqttMessageError(reason, message, key);
}

function readToken(v: CborValue): MqttToken {
  if (v instanceof Uint8Array) {
    if (v.length === 0 || v.length > MAX_TOKEN_BYTES)
      fail('bad-value', `token: ${v.length} bytes (1..${MAX_TOKEN_BYTES})`, MapKey.token);
    return v;
  }
  if (typeof v === 'string') {
    if (v === '' || encoder.encode(v).length > MAX_TOKEN_BYTES)
      fail('bad-value', `token: text of 1..${MAX_TOKEN_BYTES} bytes expected`, MapKey.token);
    return v;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  return fail('bad-value', 'token: a byte string, text string or unsigned integer expected', MapKey.token);
}

function readUint(v: CborValue, max: number, name: string, key: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    fail('bad-value', `${name}: an unsigned integer 0..${max} expected`, key);
  return v;
}

function readText(v: CborValue, name: keyof typeof MAX_TEXT_BYTES, key: number): string {
  if (typeof v !== 'string') fail('bad-value', `${name}: a text string expected`, key);
  if (encoder.encode(v).length > MAX_TEXT_BYTES[name])
    fail('bad-value', `${name}: longer than ${MAX_TEXT_BYTES[name]} bytes`, key);
  return v;
}

/** `payload` and `paths`: a byte string; a text string is taken as its UTF-8 bytes (lenient). */
function readBytes(v: CborValue, name: string, key: number): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return encoder.encode(v);
  return fail('bad-value', `${name}: a byte string expected`, key);
}

function readAttribute(v: CborValue, name: MqttAttributeName, kind: Kind, key: number): number | null {
  if (v === null) return null;
  const n = v instanceof CborFloat ? v.value : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) fail('bad-value', `${name}: a number expected`, key);
  if (kind === 'attr-bit' && n !== 0 && n !== 1) fail('bad-value', `${name}: 0 or 1 expected`, key);
  if (kind === 'attr-uint' && (!Number.isSafeInteger(n) || n < 0))
    fail('bad-value', `${name}: an unsigned integer expected`, key);
  if (name === 'st' && n < 0) fail('bad-value', 'st: a step is never negative', key);
  return n === 0 ? 0 : n; // -0 reads as 0
}

/**
 * Decodes one PUBLISH payload. Strict: one CBOR map, integer keys each at most once, every known
 * key with a value of its type and range, a token, and `operation` or `result` (both only on a
 * Notify). Unknown keys (integers past the table, or other items) are ignored, so a later
 * revision's keys do not break the binding (1.2.2 added 20..22). Throws only MqttMessageError.
 */
export function decodeMqttMessage(bytes: Uint8Array, options: { maxBytes?: number } = {}): MqttMessage {
  const max = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (bytes.length > max) fail('too-large', `${bytes.length} bytes (at most ${max})`);
  let item: CborValue;
  try {
    item = decodeCbor(bytes, { maxDepth: 4, maxItems: 256 });
  } catch (e) {
    if (e instanceof ContentFormatError)
      throw new MqttMessageError('not-cbor', e.message, undefined, { cause: e });
    throw e;
  }
  if (!(item instanceof CborMap)) return fail('not-a-map', 'the message is not a CBOR map');
  const seen = new Set<number>();
  const out: Record<string, unknown> = {};
  for (const [k, v] of item.entries) {
    if (typeof k !== 'number') continue;
    if (seen.has(k)) fail('duplicate-key', `key ${k} appears twice`, k);
    seen.add(k);
    const name = NAME_OF_KEY.get(k);
    if (name === undefined) continue;
    out[name] = readField(name, v, k);
  }
  if (out.token === undefined) fail('missing-token', 'the message has no token', MapKey.token);
  if (out.operation === undefined && out.result === undefined)
    fail('missing-kind', 'the message has neither operation nor result');
  if (out.operation !== undefined && out.result !== undefined && out.operation !== RdOperationCode.NOTIFY)
    fail('bad-value', 'only a Notify carries both operation and result', MapKey.result);
  return out as unknown as MqttMessage;
}

function readField(name: MapKeyName, v: CborValue, key: number): unknown {
  const kind = KIND[name];
  switch (kind) {
    case 'operation':
      return readUint(v, 0xff, name, key);
    case 'token':
      return readToken(v);
    case 'result': {
      const n = readUint(v, 599, name, key);
      if (resultToCode(n) === undefined) fail('bad-value', `result: ${n} is not a 2xx, 4xx or 5xx code`, key);
      return n;
    }
    case 'depth':
      return readUint(v, 3, name, key);
    case 'uint16':
      return readUint(v, UINT16, name, key);
    case 'uint32':
      return readUint(v, UINT32, name, key);
    case 'text':
      return readText(v, name as keyof typeof MAX_TEXT_BYTES, key);
    case 'bytes':
      return readBytes(v, name, key);
    default:
      return readAttribute(v, name as MqttAttributeName, kind, key);
  }
}

/**
 * Encodes a message: keys in ascending order, absent fields left out, attributes set to null
 * written as CBOR null. Validates like decodeMqttMessage (a message this writes, it reads back).
 */
export function encodeMqttMessage(message: MqttMessage): Uint8Array {
  const entries: [CborValue, CborValue][] = [];
  const names = (Object.keys(MapKey) as MapKeyName[]).sort((a, b) => MapKey[a] - MapKey[b]);
  for (const name of names) {
    const value = (message as unknown as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const key = MapKey[name];
    // Validate with the reader's rules before writing.
    const cbor = toCbor(name, value);
    readField(name, cbor, key);
    entries.push([key, cbor]);
  }
  if (message.operation === undefined && message.result === undefined)
    fail('missing-kind', 'a message needs an operation or a result');
  return encodeCbor(new CborMap(entries));
}

function toCbor(name: MapKeyName, value: unknown): CborValue {
  if (value === null) return null;
  if (typeof value === 'number') {
    // gt/st may be fractional: the writer picks an int or the shortest exact float.
    if (!Number.isFinite(value)) fail('bad-value', `${name}: ${value} is not finite`, MapKey[name]);
    // A whole number beyond CBOR's 64-bit integers (gt=1e300) goes as a float, as it would arrive.
    if (Math.abs(value) >= 2 ** 64) return new CborFloat(value);
    return Object.is(value, -0) ? 0 : value;
  }
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  return fail('bad-value', `${name}: unsupported value`, MapKey[name]);
}
