import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import {
  INT64_MAX,
  INT64_MIN,
  TypeConversionError,
  UINT64_MAX,
  Value,
  convertValue,
  decodeBase64,
  formatObjLink,
  normalizeInteger,
  parseObjLink,
  valueToText,
} from '../model/data-types.js';
import { InvalidPathError, LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import { findConflict } from '../model/records.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import { lookupResource, numberAs } from './typing.js';

/*
 * The legacy OMA LwM2M JSON format (CF 11543, LwM2M 1.0 §6.4.4; 1.1+ servers must still accept it):
 *   {"bn":"/3/0/","bt":1000,"e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"7/0","v":3800,"t":-5}]}
 * Entry keys: n (name, appended to bn), exactly one of v (number), sv (string; opaque as base64),
 * bv (boolean), ov ("oid:iid"), and t (time, added to bt).
 *
 * Choices (documented in the report):
 * - Names: the full path is bn + n as strings (client B sends `"bn":"/3/0/","n":"7/0"`, client A
 *   `"bn":"/3/0","n":"/7/0"`). Without bn, n is relative to the request path.
 * - Unknown keys are ignored, except keys ending in "_", which (as in SenML, RFC 8428 §4.4) must be
 *   understood and so are 'malformed'. A duplicate key in one JSON object is 'malformed'.
 * - Exact integers: JSON.parse turns 2^53+1 into a double. Node 20 has no reviver source access, so
 *   a small scanner (`numberSources`) walks the text JSON.parse already validated and keeps the
 *   source of every entry's "v"; Integer/Unsigned/Time values are read from that text with BigInt.
 *   One code path on every Node version; JSON.parse itself is iterative in V8, and the scanner keeps
 *   an explicit stack, so deep nesting cannot overflow the call stack.
 * - Encoding writes no bt, a t per record that has a time, bn = the request path (or its parent
 *   when a value sits at the request path itself) with a trailing "/", and names relative to it.
 *   Value-less records (empty containers) have no form here and are left out.
 */

const FORMAT = lookupContentFormat('lwm2m-json') as ContentFormat;
// A BOM is dropped (RFC 8259 §8.1 lets parsers ignore it). Fatal, non-streaming decoding keeps no
// state between calls, so one instance serves every call.
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();

function fail(reason: ContentFormatReason, message: string): never {
  throw new ContentFormatError(reason, message, { format: 'lwm2m-json' });
}

// ---------------------------------------------------------------- number sources

const VALUE_KEYS = ['v', 'sv', 'bv', 'ov'] as const;
type ValueKey = (typeof VALUE_KEYS)[number];

interface Frame {
  readonly array: boolean;
  /** For objects: the keys seen so far, and the latest one; for arrays: the current index. */
  readonly keys: Set<string>;
  key: string;
  index: number;
  expectKey: boolean;
}

function unescapeKey(raw: string): string {
  return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
}

/**
 * Scans JSON text (already validated by JSON.parse) and returns the source text of each `e[k].v`
 * number by entry index. Also enforces the nesting limit and refuses duplicate keys, which
 * JSON.parse would silently resolve to the last one.
 */
function numberSources(text: string, maxDepth: number): Map<number, string> {
  const out = new Map<number, string>();
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const top = stack[stack.length - 1];
    if (c === '{' || c === '[') {
      if (stack.length >= maxDepth) fail('too-deep', `JSON nesting deeper than ${maxDepth}`);
      stack.push({ array: c === '[', keys: new Set(), key: '', index: 0, expectKey: c === '{' });
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === ',') {
      if (top?.array === true) top.index++;
      else if (top !== undefined) top.expectKey = true;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top !== undefined && !top.array && top.expectKey) {
        const key = unescapeKey(text.slice(i + 1, j));
        if (top.keys.has(key)) fail('malformed', `duplicate key "${key}"`);
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text[j] as string)) j++;
      const [root, entries, entry] = stack;
      if (stack.length === 3 && root?.key === 'e' && entries?.array === true && entry?.key === 'v')
        out.set(entries.index, text.slice(i, j));
      i = j;
    } else {
      i++; // whitespace, ':', and the letters of true/false/null
    }
  }
  return out;
}

/**
 * Refuses nesting past `maxDepth` before JSON.parse sees the text: V8 parses deep nesting in
 * super-linear time (1.6 MB of `[` took 1.4 s, found by test/fuzz), so the limit must hold first.
 */
function checkNesting(text: string, maxDepth: number): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote (escapes skip the next character).
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) fail('too-deep', `JSON nesting deeper than ${maxDepth}`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

// ---------------------------------------------------------------- decoding

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkMustUnderstand(obj: { [key: string]: Json }, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj))
    if (!known.includes(key) && key.endsWith('_'))
      fail('malformed', `${where}: unknown must-understand key "${key}"`);
}

/** The full path of an entry: bn + n, or n relative to the request path without bn. */
function resolveName(bn: string | undefined, n: string, ctx: CodecContext, index: number): LwM2mPath {
  let full: string;
  if (bn !== undefined) full = bn + n;
  else {
    const base = ctx.path.toString();
    const trimmed = base === '/' ? '' : base;
    full = n === '' ? base : n.startsWith('/') ? trimmed + n : `${trimmed}/${n}`;
  }
  let parsed: LwM2mPath;
  try {
    parsed = LwM2mPath.parse(
      full,
      ctx.path.alternatePath === undefined ? {} : { alternatePath: ctx.path.alternatePath },
    );
  } catch (e) {
    if (e instanceof InvalidPathError)
      return fail('invalid-path', `e[${index}]: "${full}" is not a path (${e.reason})`);
    throw e;
  }
  if (parsed.prefix !== undefined && parsed.prefix !== ctx.path.prefix)
    fail('invalid-path', `e[${index}]: "${full}" has another gateway prefix than ${ctx.path.toString()}`);
  const path = new LwM2mPath(parsed.ids, ctx.path.prefix, ctx.path.alternatePath);
  if (!ctx.path.covers(path))
    fail('invalid-path', `e[${index}]: ${path.toString()} is not below ${ctx.path.toString()}`);
  if (path.depth < 3) fail('invalid-path', `e[${index}]: ${path.toString()} cannot hold a value`);
  return path;
}

const INTEGER_LITERAL = /^-?(0|[1-9][0-9]*)$/;

/** The exact value of a JSON number from its source text: a bigint for an integer literal. */
function exactNumber(source: string | undefined, parsed: number): number | bigint {
  return source !== undefined && INTEGER_LITERAL.test(source) ? BigInt(source) : parsed;
}

function inferValue(key: ValueKey, raw: Json, source: string | undefined, path: LwM2mPath): LwM2mValue {
  switch (key) {
    case 'v': {
      const n = exactNumber(source, raw as number);
      if (typeof n === 'number') return Number.isSafeInteger(n) ? Value.integer(n) : Value.float(n);
      if (n >= INT64_MIN && n <= INT64_MAX) return { type: 'integer', value: normalizeInteger(n) };
      if (n > INT64_MAX && n <= UINT64_MAX) return { type: 'unsigned', value: n };
      return Value.float(raw as number);
    }
    case 'sv':
      return Value.string(raw as string);
    case 'bv':
      return Value.boolean(raw as boolean);
    case 'ov': {
      const link = parseObjLink(raw as string);
      if (link === undefined)
        return fail('type-mismatch', `${path.toString()}: "${raw as string}" is not "oid:iid"`);
      return { type: 'objlnk', value: link };
    }
  }
}

/** The value key each type travels in. */
const KEY_OF: Readonly<Record<ResourceType, ValueKey | undefined>> = {
  string: 'sv',
  corelnk: 'sv',
  opaque: 'sv',
  integer: 'v',
  unsigned: 'v',
  time: 'v',
  float: 'v',
  boolean: 'bv',
  objlnk: 'ov',
  none: undefined,
};

function typedValue(
  type: ResourceType,
  key: ValueKey,
  raw: Json,
  source: string | undefined,
  path: LwM2mPath,
): LwM2mValue {
  if (KEY_OF[type] !== key)
    return fail('type-mismatch', `${path.toString()}: a ${type} value cannot come as "${key}"`);
  switch (type) {
    case 'integer':
    case 'unsigned':
    case 'time':
    case 'float':
      return numberAs(
        type === 'float' ? (raw as number) : exactNumber(source, raw as number),
        type,
        'lwm2m-json',
        path,
      );
    case 'opaque': {
      const bytes = decodeBase64(raw as string);
      if (bytes === undefined) return fail('bad-base64', `${path.toString()}: opaque value is not base64`);
      return Value.opaque(bytes);
    }
    case 'string':
      return Value.string(raw as string);
    case 'corelnk':
      return Value.corelnk(raw as string);
    default:
      return inferValue(key, raw, source, path);
  }
}

const JSON_TYPE_OF: Readonly<Record<ValueKey, string>> = {
  v: 'number',
  sv: 'string',
  bv: 'boolean',
  ov: 'string',
};
const ENTRY_KEYS = ['n', 't', ...VALUE_KEYS];

function decodeEntry(
  entry: Json | undefined,
  index: number,
  bn: string | undefined,
  bt: number | undefined,
  source: string | undefined,
  ctx: CodecContext,
): LwM2mRecord {
  if (!isObject(entry)) return fail('malformed', `e[${index}] is not an object`);
  checkMustUnderstand(entry, ENTRY_KEYS, `e[${index}]`);
  const n = entry.n ?? '';
  if (typeof n !== 'string') return fail('malformed', `e[${index}].n is not a string`);
  const t = entry.t;
  if (t !== undefined && typeof t !== 'number') return fail('malformed', `e[${index}].t is not a number`);
  const keys = VALUE_KEYS.filter((k) => entry[k] !== undefined);
  const key = keys[0];
  if (key === undefined || keys.length > 1)
    return fail('malformed', `e[${index}] must have exactly one of v, sv, bv, ov (has ${keys.length})`);
  const raw = entry[key] as Json;
  if (typeof raw !== JSON_TYPE_OF[key])
    return fail('malformed', `e[${index}].${key} is not a ${JSON_TYPE_OF[key]}`);
  const path = resolveName(bn, n, ctx, index);
  // JSON numbers are finite by grammar; one that overflows a double (1e400) is out of range.
  if (typeof raw === 'number' && !Number.isFinite(raw))
    return fail('out-of-range', `${path.toString()}: ${source ?? raw} is beyond a 64-bit float`);
  const def = lookupResource(ctx, path);
  if (def !== undefined && def.multiple !== (path.depth === 4))
    fail(
      'type-mismatch',
      def.multiple
        ? `${path.toString()} is a multiple resource; its values need resource-instance names`
        : `${path.toString()} names an instance of a single resource`,
    );
  const value =
    def === undefined ? inferValue(key, raw, source, path) : typedValue(def.type, key, raw, source, path);
  const time = bt === undefined && t === undefined ? undefined : (bt ?? 0) + (t ?? 0);
  const record: LwM2mRecord = time === undefined ? { path, value } : { path, value, time };
  return def === undefined ? { ...record, inferred: true } : record;
}

function decodeJson(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
  const limits = resolveLimits(ctx);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return fail('bad-utf8', 'payload is not valid UTF-8');
  }
  checkNesting(text, limits.maxDepth);
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    if (e instanceof RangeError) return fail('too-deep', 'JSON nesting too deep to parse');
    return fail('malformed', `not JSON: ${(e as Error).message}`);
  }
  const sources = numberSources(text, limits.maxDepth);
  if (!isObject(doc)) return fail('malformed', 'the payload is not a JSON object');
  checkMustUnderstand(doc, ['bn', 'bt', 'e'], 'top level');
  const { bn, bt, e } = doc;
  if (bn !== undefined && typeof bn !== 'string') return fail('malformed', 'bn is not a string');
  if (bt !== undefined && typeof bt !== 'number') return fail('malformed', 'bt is not a number');
  if (!Array.isArray(e)) return fail('malformed', 'e is not an array');
  if (e.length > limits.maxRecords) return fail('too-large', `more than ${limits.maxRecords} entries`);
  const records = e.map((entry, index) => decodeEntry(entry, index, bn, bt, sources.get(index), ctx));
  const conflict = findConflict(records);
  if (conflict !== undefined)
    fail(
      conflict.reason === 'duplicate' ? 'duplicate' : 'malformed',
      conflict.reason === 'duplicate'
        ? `${conflict.record.path.toString()} appears twice`
        : `${conflict.record.path.toString()} has a value and so does a path above it`,
    );
  return records;
}

// ---------------------------------------------------------------- encoding

function jsonNumber(n: number, what: string): string {
  if (!Number.isFinite(n)) return fail('not-encodable', `${what}: ${n} has no JSON form`);
  return JSON.stringify(n);
}

function valueMember(value: LwM2mValue, path: LwM2mPath): string {
  switch (value.type) {
    case 'integer':
    case 'unsigned':
    case 'time':
      return `"v":${String(value.value)}`;
    case 'float':
      return `"v":${jsonNumber(value.value, path.toString())}`;
    case 'boolean':
      return `"bv":${value.value}`;
    case 'objlnk':
      return `"ov":${JSON.stringify(formatObjLink(value.value))}`;
    case 'string':
    case 'corelnk':
    case 'opaque':
      return `"sv":${JSON.stringify(valueToText(value))}`;
    case 'none':
      return fail('not-encodable', `${path.toString()}: an executable resource has no JSON value`);
  }
}

function encodeJson(records: NodeSet, ctx: CodecContext): Uint8Array {
  const valued = records.filter((r) => r.value !== undefined);
  for (const r of records)
    if (!ctx.path.covers(r.path))
      fail(
        'not-encodable',
        `record ${r.path.toString()} is not below the request path ${ctx.path.toString()}`,
      );
  const conflict = findConflict(valued);
  if (conflict !== undefined) fail('not-encodable', `${conflict.record.path.toString()} appears twice`);
  // A value at the request path itself is named relative to its parent: bn "/3/0/", n "9".
  const base = valued.some((r) => r.path.depth === ctx.path.depth) ? ctx.path.parent() : ctx.path;
  const bn = base.toString() === '/' ? '/' : `${base.toString()}/`;
  const entries = valued.map((r) => {
    const def = lookupResource(ctx, r.path);
    let value = r.value as LwM2mValue;
    if (def !== undefined) {
      if (def.multiple !== (r.path.depth === 4))
        fail(
          'not-encodable',
          `${r.path.toString()} does not match the ${def.multiple ? 'multiple' : 'single'} resource in the model`,
        );
      try {
        value = convertValue(value, def.type);
      } catch (e) {
        if (!(e instanceof TypeConversionError)) throw e;
        fail('not-encodable', `${r.path.toString()}: ${e.message}`);
      }
    }
    if (r.path.depth < 3) fail('not-encodable', `${r.path.toString()} cannot hold a value`);
    const n = r.path.ids.slice(base.depth).join('/');
    const time = r.time === undefined ? '' : `,"t":${jsonNumber(r.time, `${r.path.toString()} time`)}`;
    return `{"n":${JSON.stringify(n)},${valueMember(value, r.path)}${time}}`;
  });
  return UTF8_ENCODER.encode(`{"bn":${JSON.stringify(bn)},"e":[${entries.join(',')}]}`);
}

/**
 * The legacy OMA LwM2M JSON format (CF 11543): decode and encode, with timestamps (the same name
 * with different `t` is a historical series). Typed by the model; unknown resources take the type
 * their value key carries and are marked `inferred`.
 */
export const lwm2mJsonCodec: ContentCodec = {
  format: FORMAT,
  decode: decodeJson,
  encode: encodeJson,
};
