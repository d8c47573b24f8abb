import { PetrelError } from '../errors.js';
import { MAX_ID } from './ids.js';

/** The LwM2M data types (Core §7.1 / Appendix C). `none` is the type of executable resources. */
export type ResourceType =
  'string' | 'integer' | 'unsigned' | 'float' | 'boolean' | 'opaque' | 'time' | 'objlnk' | 'corelnk' | 'none';

export const RESOURCE_TYPES: readonly ResourceType[] = [
  'string',
  'integer',
  'unsigned',
  'float',
  'boolean',
  'opaque',
  'time',
  'objlnk',
  'corelnk',
  'none',
];

/** An object link `oid:iid`; `65535:65535` is the null link. */
export interface ObjLink {
  readonly objectId: number;
  readonly instanceId: number;
}

export const NULL_OBJLNK: ObjLink = Object.freeze({ objectId: MAX_ID, instanceId: MAX_ID });

/**
 * A typed LwM2M value. Integers are numbers while they are safe integers and bigints past 2^53, so
 * every 64-bit value is exact; `normalizeInteger` keeps that invariant. Time is signed Unix seconds.
 */
export type LwM2mValue =
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'integer'; readonly value: number | bigint }
  | { readonly type: 'unsigned'; readonly value: number | bigint }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'opaque'; readonly value: Uint8Array }
  | { readonly type: 'time'; readonly value: number | bigint }
  | { readonly type: 'objlnk'; readonly value: ObjLink }
  | { readonly type: 'corelnk'; readonly value: string }
  | { readonly type: 'none'; readonly value: null };

export type ValueOf<T extends ResourceType> = Extract<LwM2mValue, { type: T }>['value'];

export class TypeConversionError extends PetrelError {
  readonly from: ResourceType | 'text' | 'json';
  readonly to: ResourceType;
  constructor(from: ResourceType | 'text' | 'json', to: ResourceType, detail: string) {
    super('PETREL_ERR_TYPE_CONVERSION', `cannot convert ${from} to ${to}: ${detail}`);
    this.from = from;
    this.to = to;
  }
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;

/** A safe integer as a number, anything larger as a bigint: the one canonical form of an integer value. */
export function normalizeInteger(v: number | bigint): number | bigint {
  if (typeof v === 'number') return v;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function toBig(v: number | bigint): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

export function isInt64(v: number | bigint): boolean {
  if (typeof v === 'number')
    return Number.isSafeInteger(v) || (Number.isInteger(v) && inRange(BigInt(v), INT64_MIN, INT64_MAX));
  return inRange(v, INT64_MIN, INT64_MAX);
}

export function isUint64(v: number | bigint): boolean {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && inRange(BigInt(v), 0n, UINT64_MAX);
  return inRange(v, 0n, UINT64_MAX);
}

function inRange(v: bigint, lo: bigint, hi: bigint): boolean {
  return v >= lo && v <= hi;
}

// ---- constructors: each validates its input and throws TypeConversionError on a bad one ----

export const Value = {
  string(value: string): LwM2mValue {
    return { type: 'string', value };
  },
  integer(value: number | bigint): LwM2mValue {
    if (!isInt64(value))
      throw new TypeConversionError('integer', 'integer', `${value} is not a 64-bit signed integer`);
    return { type: 'integer', value: normalizeInteger(typeof value === 'number' ? BigInt(value) : value) };
  },
  unsigned(value: number | bigint): LwM2mValue {
    if (!isUint64(value))
      throw new TypeConversionError('unsigned', 'unsigned', `${value} is not a 64-bit unsigned integer`);
    return { type: 'unsigned', value: normalizeInteger(typeof value === 'number' ? BigInt(value) : value) };
  },
  float(value: number): LwM2mValue {
    if (typeof value !== 'number')
      throw new TypeConversionError('float', 'float', `${String(value)} is not a number`);
    return { type: 'float', value };
  },
  boolean(value: boolean): LwM2mValue {
    return { type: 'boolean', value };
  },
  opaque(value: Uint8Array): LwM2mValue {
    return { type: 'opaque', value };
  },
  time(value: number | bigint): LwM2mValue {
    if (!isInt64(value))
      throw new TypeConversionError('time', 'time', `${value} is not a 64-bit signed integer of seconds`);
    return { type: 'time', value: normalizeInteger(typeof value === 'number' ? BigInt(value) : value) };
  },
  objlnk(objectId: number, instanceId: number): LwM2mValue {
    if (!isObjLinkPart(objectId) || !isObjLinkPart(instanceId))
      throw new TypeConversionError('objlnk', 'objlnk', `${objectId}:${instanceId} is not two uint16 values`);
    return { type: 'objlnk', value: { objectId, instanceId } };
  },
  corelnk(value: string): LwM2mValue {
    return { type: 'corelnk', value };
  },
  none(): LwM2mValue {
    return { type: 'none', value: null };
  },
} as const;

function isObjLinkPart(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_ID;
}

// ---- text form (text/plain, link attributes, CLI) ----

const INT_RE = /^[+-]?[0-9]+$/;
// RFC 7159-ish decimal with optional exponent; no hex, no Infinity words except the explicit ones below.
const FLOAT_RE = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** Parses a decimal integer exactly (no float rounding), or undefined if the text is not one. */
export function parseDecimalInteger(text: string): bigint | undefined {
  if (!INT_RE.test(text)) return undefined;
  return BigInt(text);
}

export function parseDecimalFloat(text: string): number | undefined {
  if (FLOAT_RE.test(text)) return Number(text);
  if (text === 'NaN') return NaN;
  if (text === 'Infinity' || text === '+Infinity') return Infinity;
  if (text === '-Infinity') return -Infinity;
  return undefined;
}

/** Parses an objlnk "oid:iid" (decimal, each 0..65535). */
export function parseObjLink(text: string): ObjLink | undefined {
  const m = /^([0-9]{1,5}):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const objectId = Number(m[1]);
  const instanceId = Number(m[2]);
  if (objectId > MAX_ID || instanceId > MAX_ID) return undefined;
  return { objectId, instanceId };
}

export function formatObjLink(link: ObjLink): string {
  return `${link.objectId}:${link.instanceId}`;
}

/** Formats a float in the shortest decimal that reads back to the same double. */
export function formatFloat(n: number): string {
  return String(n);
}

/**
 * The text/plain (CF 0) form of a value: decimal numbers, `0`/`1` booleans, base64 opaque,
 * `oid:iid` links (Core §7.3 plain text).
 */
export function valueToText(v: LwM2mValue): string {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return v.value;
    case 'integer':
    case 'unsigned':
    case 'time':
      return String(v.value);
    case 'float':
      return formatFloat(v.value);
    case 'boolean':
      return v.value ? '1' : '0';
    case 'opaque':
      return Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('base64');
    case 'objlnk':
      return formatObjLink(v.value);
    case 'none':
      return '';
  }
}

const BASE64_RE =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]{3})?$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*={0,2}$/;

/** Decodes standard base64 (with or without padding) or base64url; undefined if it is neither. */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (BASE64_RE.test(text)) return new Uint8Array(Buffer.from(text, 'base64'));
  if (BASE64URL_RE.test(text)) {
    const bare = text.replace(/=+$/, '');
    // Padding, when present, must complete a 4-character group; a lone trailing character is never valid.
    if (bare.length % 4 === 1 || (bare.length !== text.length && text.length % 4 !== 0)) return undefined;
    return new Uint8Array(Buffer.from(bare, 'base64url'));
  }
  return undefined;
}

/** Parses the text/plain form of a value of `type`; throws TypeConversionError on text that is not one. */
export function valueFromText(type: ResourceType, text: string): LwM2mValue {
  switch (type) {
    case 'string':
      return Value.string(text);
    case 'corelnk':
      return Value.corelnk(text);
    case 'integer':
    case 'unsigned':
    case 'time': {
      const n = parseDecimalInteger(text.trim());
      if (n === undefined)
        throw new TypeConversionError('text', type, `"${clip(text)}" is not a decimal integer`);
      const ok = type === 'unsigned' ? isUint64(n) : isInt64(n);
      if (!ok)
        throw new TypeConversionError(
          'text',
          type,
          `${clip(text)} is out of the ${type === 'unsigned' ? 'unsigned' : 'signed'} 64-bit range`,
        );
      return type === 'integer' ? Value.integer(n) : type === 'unsigned' ? Value.unsigned(n) : Value.time(n);
    }
    case 'float': {
      const f = parseDecimalFloat(text.trim());
      if (f === undefined)
        throw new TypeConversionError('text', type, `"${clip(text)}" is not a decimal number`);
      if (!Number.isFinite(f) && /[0-9]/.test(text))
        throw new TypeConversionError('text', type, `${clip(text)} is beyond the range of a 64-bit float`);
      return Value.float(f);
    }
    case 'boolean':
      if (text === '1' || text === '0') return Value.boolean(text === '1');
      throw new TypeConversionError('text', type, `"${clip(text)}" is not 0 or 1`);
    case 'opaque': {
      const bytes = decodeBase64(text);
      if (!bytes) throw new TypeConversionError('text', type, 'not valid base64');
      return Value.opaque(bytes);
    }
    case 'objlnk': {
      const link = parseObjLink(text);
      if (!link) throw new TypeConversionError('text', type, `"${clip(text)}" is not "oid:iid"`);
      return { type: 'objlnk', value: link };
    }
    case 'none':
      if (text === '') return Value.none();
      throw new TypeConversionError('text', type, 'an executable resource has no value');
  }
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

// ---- explicit, range-checked conversions between types ----

/**
 * Converts a value to another type, refusing lossy or out-of-range conversions with
 * TypeConversionError: a float becomes an integer only if integral and in range; an integer becomes
 * a float only if the double is exact; strings parse by the text rules.
 */
export function convertValue(v: LwM2mValue, to: ResourceType): LwM2mValue {
  if (v.type === to) return v;
  const fail = (detail: string): never => {
    throw new TypeConversionError(v.type, to, detail);
  };
  switch (to) {
    case 'string':
    case 'corelnk':
      if (v.type === 'opaque') {
        const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
        try {
          return to === 'string' ? Value.string(text.decode(v.value)) : Value.corelnk(text.decode(v.value));
        } catch {
          return fail('bytes are not UTF-8');
        }
      }
      if (v.type === 'none') return fail('an executable resource has no value');
      return to === 'string' ? Value.string(valueToText(v)) : Value.corelnk(valueToText(v));
    case 'integer':
    case 'unsigned':
    case 'time': {
      let n: bigint;
      switch (v.type) {
        case 'integer':
        case 'unsigned':
        case 'time':
          n = toBig(v.value);
          break;
        case 'float':
          if (!Number.isInteger(v.value)) return fail(`${clip(String(v.value))} is not integral`);
          n = BigInt(v.value);
          break;
        case 'boolean':
          n = v.value ? 1n : 0n;
          break;
        case 'string':
        case 'corelnk': {
          const parsed = parseDecimalInteger(v.value.trim());
          if (parsed === undefined) return fail(`"${clip(v.value)}" is not a decimal integer`);
          n = parsed;
          break;
        }
        default:
          return fail('no numeric meaning');
      }
      if (to === 'unsigned') {
        if (!isUint64(n)) return fail(`${clip(String(n))} is out of the unsigned 64-bit range`);
        return Value.unsigned(n);
      }
      if (!isInt64(n)) return fail(`${clip(String(n))} is out of the signed 64-bit range`);
      return to === 'integer' ? Value.integer(n) : Value.time(n);
    }
    case 'float':
      switch (v.type) {
        case 'integer':
        case 'unsigned':
        case 'time': {
          const f = Number(v.value);
          if (BigInt(f) !== toBig(v.value)) return fail(`${v.value} has no exact double`);
          return Value.float(f);
        }
        case 'boolean':
          return Value.float(v.value ? 1 : 0);
        case 'string': {
          const f = parseDecimalFloat(v.value.trim());
          if (f === undefined) return fail(`"${clip(v.value)}" is not a decimal number`);
          return Value.float(f);
        }
        default:
          return fail('no numeric meaning');
      }
    case 'boolean':
      switch (v.type) {
        case 'integer':
        case 'unsigned':
          if (v.value === 0 || v.value === 1) return Value.boolean(v.value === 1);
          return fail(`${v.value} is not 0 or 1`);
        case 'float':
          if (v.value === 0 || v.value === 1) return Value.boolean(v.value === 1);
          return fail(`${v.value} is not 0 or 1`);
        case 'string':
          if (v.value === 'true' || v.value === '1') return Value.boolean(true);
          if (v.value === 'false' || v.value === '0') return Value.boolean(false);
          return fail(`"${clip(v.value)}" is not a boolean`);
        default:
          return fail('no boolean meaning');
      }
    case 'opaque':
      if (v.type === 'string' || v.type === 'corelnk') return Value.opaque(new TextEncoder().encode(v.value));
      return fail('only text converts to bytes');
    case 'objlnk':
      if (v.type === 'string') {
        const link = parseObjLink(v.value);
        if (!link) return fail(`"${clip(v.value)}" is not "oid:iid"`);
        return { type: 'objlnk', value: link };
      }
      return fail('only "oid:iid" text converts to an object link');
    case 'none':
      return fail('an executable resource has no value');
  }
}

/** Structural equality of two values (bytes compared by content, integers by value). */
export function valuesEqual(a: LwM2mValue, b: LwM2mValue): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'opaque': {
      const bv = b.value as Uint8Array;
      return a.value.length === bv.length && a.value.every((x, i) => x === bv[i]);
    }
    case 'objlnk': {
      const bl = b.value as ObjLink;
      return a.value.objectId === bl.objectId && a.value.instanceId === bl.instanceId;
    }
    case 'integer':
    case 'unsigned':
    case 'time':
      return toBig(a.value) === toBig(b.value as number | bigint);
    case 'float':
      return Object.is(a.value, b.value) || a.value === b.value;
    default:
      return a.value === b.value;
  }
}
