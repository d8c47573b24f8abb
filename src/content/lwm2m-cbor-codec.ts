import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import {
  INT64_MAX,
  INT64_MIN,
  TypeConversionError,
  UINT64_MAX,
  Value,
  convertValue,
  isInt64,
  isUint64,
  normalizeInteger,
  parseObjLink,
} from '../model/data-types.js';
import { MAX_ID, NULL_ID } from '../model/ids.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import { InvalidPathError, LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import { CborFloat, CborMap, CborTagged, decodeCbor, type CborValue } from './cbor/cbor-reader.js';
import { CborWriter } from './cbor/cbor-writer.js';
import { writeLwM2mValue } from './cbor/write-value.js';
import { parseRfc3339 } from './rfc3339.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError, type ContentFormatReason } from './content-format-error.js';
import { lookupContentFormat, type ContentFormat } from './content-format.js';
import { inferNumber, lookupResource } from './typing.js';

/**
 * LwM2M CBOR (CF 11544, new in LwM2M 1.2; LWM2M-1.2 §2.5).
 *
 * The payload is a CBOR map whose keys are identifiers (uint) or path fragments (arrays of uint, the
 * first element of a top-level key optionally a gateway prefix text); values are leaves or nested
 * maps of the same grammar, and a path is the concatenation of the keys along the nesting.
 *
 * Decoding rules we chose where the spec is silent (LWM2M-1.2 §2.5 "not defined by the spec"):
 * - The same path reached twice, or a value/empty container on a path that another entry places
 *   something below, is 'duplicate' (CL122 recommends 4.00). Containers reached twice through
 *   different key splits merge (`{[3,0]: {0: …}, [3,0,1]: …}`); identical keys within one map are
 *   'duplicate' (RFC 8949 §5.6).
 * - Top-level keys are absolute (they start at the Object ID, §2.5). Because Write/Create may send
 *   relative keys, `topLevel: 'auto'` (the default) reads a payload relative to ctx.path only when
 *   the absolute reading is impossible: a value above resource level, more than four ids, a reserved
 *   id, or a path not below ctx.path. Absolute always wins when both readings are possible.
 * - Time resources take an integer, tag 1 (epoch seconds, int or float) or tag 0 (RFC 3339 text);
 *   sub-second parts are dropped (floor). `null` is the value of an executable ('none') resource.
 * - A resource the model does not know takes its type from the CBOR item (records `inferred: true`):
 *   text→string, int→integer (unsigned past INT64_MAX), float→float, bytes→opaque, bool→boolean,
 *   null→none, tag 0/1→time. Whether it is a multiple resource follows from the nesting.
 */

const FORMAT = 'lwm2m-cbor' as const;
const LWM2M_CBOR: ContentFormat = lookupContentFormat(FORMAT)!;

/** How the top-level keys relate to the request path (see the module comment). */
export type Lwm2mCborTopLevel = 'auto' | 'absolute' | 'relative';

export interface Lwm2mCborDecodeOptions {
  /** Default 'auto': absolute, relative to ctx.path only when the absolute reading is impossible. */
  readonly topLevel?: Lwm2mCborTopLevel;
}

/**
 * A decoded or to-be-encoded Create body. `instanceId` is undefined when the payload carries the
 * instance key 65535 ("the client assigns the id", §2.5, 1.2.1). Because 65535 cannot live in an
 * LwM2mPath, `resources` carry paths RELATIVE TO THE INSTANCE: `/r` for a resource and `/r/ri` for a
 * resource instance; prepend `/oid/iid` once the id is known.
 */
export interface Lwm2mCborCreate {
  readonly instanceId: number | undefined;
  readonly resources: LwM2mRecord[];
}

function fail(reason: ContentFormatReason, message: string): never {
  throw new ContentFormatError(reason, message, { format: FORMAT });
}

/**
 * A path for an error message, built only when a message is: a callback, or the prefix and ids of
 * an entry (decoding names thousands of entries; an object it already has costs no closure each).
 */
type Where = (() => string) | { readonly prefix: string | undefined; readonly ids: readonly number[] };

function whereText(where: Where): string {
  return typeof where === 'function' ? where() : pathText(where.prefix, where.ids);
}

function pathText(prefix: string | undefined, ids: readonly number[]): string {
  return `${prefix === undefined ? '' : `/${prefix}`}/${ids.join('/')}`;
}

// ------------------------------------------------------------------------------------------------
// Decoding, phase 1: the CBOR tree to raw entries (key path + leaf), independent of the request path.

const EMPTY = Symbol('empty container');

interface RawEntry {
  readonly prefix: string | undefined;
  readonly ids: readonly number[];
  /** A leaf item, or EMPTY for an empty nested map. */
  readonly leaf: CborValue | typeof EMPTY;
}

interface ParsedKey {
  readonly prefix: string | undefined;
  readonly ids: number[];
}

/** One identifier of a key: a uint. 65535 passes here (Create's instance key); ranges are checked later. */
function keyId(item: CborValue): number {
  if (typeof item === 'number' && item >= 0) {
    if (item > MAX_ID) fail('invalid-path', `key id ${item} is larger than 65535`);
    return item;
  }
  if (typeof item === 'bigint' && item > 0n) fail('invalid-path', `key id ${item} is larger than 65535`);
  return fail('malformed', 'a key id must be an unsigned integer');
}

function parseKey(key: CborValue, topLevel: boolean): ParsedKey {
  if (!Array.isArray(key)) return { prefix: undefined, ids: [keyId(key)] };
  if (key.length === 0) fail('malformed', 'an array key must not be empty');
  // Gateway TS: only the first element of a top-level key may be the end device's prefix.
  const first = key[0];
  const prefix = typeof first === 'string' && topLevel ? first : undefined;
  const ids: number[] = [];
  for (let i = prefix === undefined ? 0 : 1; i < key.length; i++) {
    const item = key[i]!;
    if (typeof item === 'string') fail('malformed', 'a text gateway prefix may only start a top-level key');
    if (ids.length === 4) fail('invalid-path', 'a key holds at most 4 ids');
    ids.push(keyId(item));
  }
  return { prefix, ids };
}

function keyText(k: ParsedKey): string {
  return `${k.prefix ?? ''}|${k.ids.join('/')}`;
}

/** Walks a map of the LwM2M CBOR grammar, appending one raw entry per leaf or empty nested map. */
function collect(
  map: CborMap,
  topLevel: boolean,
  prefix: string | undefined,
  ids: readonly number[],
  out: RawEntry[],
  maxRecords: number,
): void {
  const entries = map.entries;
  // A map with one entry cannot repeat a key (the common case below the top: `iid: {rid: v}`).
  // Keys as keyText gives them, except that a lone id without prefix (`5` or `[5]`, the usual
  // case) is kept as the number itself, which spares building a string per entry.
  const seen = entries.length > 1 ? new Set<string | number>() : undefined;
  for (let k = 0; k < entries.length; k++) {
    const pair = entries[k]!;
    const value = pair[1];
    const key = parseKey(pair[0], topLevel);
    if (seen !== undefined) {
      const id = key.ids[0]!;
      const seenKey = key.prefix === undefined && key.ids.length === 1 ? id : keyText(key);
      if (seen.has(seenKey))
        fail('duplicate', `key ${keyText(key)} appears twice in one map under ${pathText(prefix, ids)}`);
      seen.add(seenKey);
    }
    const path = ids.concat(key.ids);
    // No reading (absolute or relative) allows more than 4 ids below the root.
    if (path.length > 4) fail('invalid-path', `${pathText(prefix, path)} is deeper than a resource instance`);
    const entryPrefix = key.prefix ?? prefix;
    if (value instanceof CborMap && value.entries.length > 0) {
      collect(value, false, entryPrefix, path, out, maxRecords);
      continue;
    }
    if (out.length >= maxRecords) fail('too-large', `more than ${maxRecords} records`);
    out.push({ prefix: entryPrefix, ids: path, leaf: value instanceof CborMap ? EMPTY : value });
  }
}

function readRawEntries(bytes: Uint8Array, ctx: CodecContext): RawEntry[] {
  const limits = resolveLimits(ctx);
  // A valid payload needs at most ~12 items per record (nested maps, key arrays, prefix, tag, value).
  const maxItems = Math.min(Number.MAX_SAFE_INTEGER, limits.maxRecords * 12 + 16);
  const top = decodeCbor(bytes, { format: FORMAT, maxDepth: limits.maxDepth, maxItems });
  if (!(top instanceof CborMap)) fail('malformed', 'the payload must be a CBOR map');
  if (top.entries.length === 0) fail('malformed', 'the payload map must have at least one entry');
  const out: RawEntry[] = [];
  collect(top, true, undefined, [], out, limits.maxRecords);
  return out;
}

// ------------------------------------------------------------------------------------------------
// Decoding, phase 2: place raw entries under the request path, check shape, duplicates and types.

interface Placed {
  readonly prefix: string | undefined;
  readonly ids: readonly number[];
  readonly leaf: CborValue | typeof EMPTY;
}

type Mode = 'read' | 'create';

/** True when the request path `base` (with its prefix) covers the entry. */
function coveredBy(base: LwM2mPath, prefix: string | undefined, ids: readonly number[]): boolean {
  if (base.prefix === undefined && base.ids.length === 0) return true; // `/` covers every device
  if (prefix !== base.prefix || ids.length < base.ids.length) return false;
  for (let i = 0; i < base.ids.length; i++) if (ids[i] !== base.ids[i]) return false;
  return true;
}

/** Resolves raw entries to absolute paths; throws 'invalid-path' when this reading is impossible. */
function place(raw: readonly RawEntry[], ctx: CodecContext, relative: boolean, mode: Mode): Placed[] {
  const base = relative ? ctx.path.ids : [];
  const out: Placed[] = [];
  for (const e of raw) {
    if (relative && e.prefix !== undefined)
      fail('invalid-path', 'a relative payload cannot carry a gateway prefix');
    if (e.prefix !== undefined && ctx.path.prefix !== undefined && e.prefix !== ctx.path.prefix)
      fail('invalid-path', `prefix "${e.prefix}" does not match the request path ${ctx.path.toString()}`);
    const prefix = e.prefix ?? ctx.path.prefix;
    // Entry ids are never mutated, so the absolute reading shares them.
    const ids = base.length === 0 ? e.ids : [...base, ...e.ids];
    const where: Where = { prefix, ids };
    if (ids.length === 0) fail('invalid-path', 'an entry must name at least an object');
    if (ids.length > 4) fail('invalid-path', `${whereText(where)} is deeper than a resource instance`);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === NULL_ID && !(mode === 'create' && i === 1))
        fail('invalid-path', `${whereText(where)}: id 65535 is reserved`);
    }
    if (e.leaf === EMPTY) {
      if (ids.length === 4) fail('invalid-path', `${whereText(where)}: a resource instance cannot be a map`);
    } else if (ids.length < 3) {
      fail(
        'invalid-path',
        `${whereText(where)}: an ${ids.length === 1 ? 'object' : 'object instance'} cannot hold a value`,
      );
    }
    if (!coveredBy(ctx.path, prefix, ids))
      fail('invalid-path', `${whereText(where)} is not below ${ctx.path.toString()}`);
    out.push({ prefix, ids, leaf: e.leaf });
  }
  return out;
}

/** Rejects a path reached twice, or an entry on a path another entry places something below (§2.5). */
function checkDuplicates(entries: readonly Placed[]): void {
  const claimed = new Set<string>();
  const interior = new Set<string>();
  let previous: Placed | undefined;
  let parentKey = '';
  for (const e of entries) {
    // Siblings usually follow each other. When this entry has the previous one's parent, its
    // ancestors were checked and marked then, and the only key claimed since (the previous
    // entry's own) is deeper than all of them, so the walk would find nothing new.
    if (previous === undefined || !sameParent(previous, e)) {
      let key = e.prefix ?? '';
      for (let n = 0; n < e.ids.length - 1; n++) {
        key += `/${e.ids[n]}`;
        if (claimed.has(key))
          fail('duplicate', `${pathText(e.prefix, e.ids)} lies below ${key}, which is given separately`);
        interior.add(key);
      }
      parentKey = key;
    }
    previous = e;
    const key = `${parentKey}/${e.ids[e.ids.length - 1]}`;
    if (claimed.has(key) || interior.has(key)) fail('duplicate', `${key} appears more than once`);
    claimed.add(key);
  }
}

/** Same prefix, same depth, same ids but the last. */
function sameParent(a: Placed, b: Placed): boolean {
  if (a.prefix !== b.prefix || a.ids.length !== b.ids.length) return false;
  for (let n = 0; n < a.ids.length - 1; n++) if (a.ids[n] !== b.ids[n]) return false;
  return true;
}

/** Resource definitions by (object id, resource id), looked up once per payload. */
type Definitions = (ids: readonly number[]) => ResourceDefinition | undefined;

function definitions(ctx: CodecContext): Definitions {
  const cache = new Map<number, ResourceDefinition | undefined>();
  return (ids) => {
    if (ids.length < 3) return undefined;
    const key = ids[0]! * 0x10000 + ids[2]!;
    if (cache.has(key)) return cache.get(key);
    // The instance id never changes a definition (so Create's 65535 needs no stand-in path).
    const def = lookupResource(ctx, LwM2mPath.of(ids[0]!, 0, ids[2]!));
    cache.set(key, def);
    return def;
  };
}

/** Types every placed entry and checks it against the model's multiplicity. */
function toRecord(e: Placed, defs: Definitions, path: LwM2mPath): LwM2mRecord {
  const where: Where = e;
  const def = defs(e.ids);
  if (e.leaf === EMPTY) {
    if (def !== undefined && e.ids.length === 3 && !def.multiple)
      fail('type-mismatch', `${whereText(where)}: a single-instance resource cannot be a map`);
    return { path };
  }
  if (def === undefined) return { path, value: inferLeaf(e.leaf, where), inferred: true };
  if (e.ids.length === 3 && def.multiple)
    fail('type-mismatch', `${whereText(where)}: a multiple resource must be a map of resource instances`);
  if (e.ids.length === 4 && !def.multiple)
    fail('type-mismatch', `${whereText(where)}: a single-instance resource has no resource instances`);
  return { path, value: typedLeaf(e.leaf, def.type, where) };
}

function makePath(ids: readonly number[], prefix: string | undefined): LwM2mPath {
  try {
    return new LwM2mPath(ids, prefix);
  } catch (err) {
    if (err instanceof InvalidPathError) fail('invalid-path', err.message);
    throw err;
  }
}

/** Tries the absolute reading, then (per `topLevel`) the relative one; see the module comment. */
function placeAll(
  raw: readonly RawEntry[],
  ctx: CodecContext,
  topLevel: Lwm2mCborTopLevel,
  mode: Mode,
): Placed[] {
  if (topLevel === 'relative') return place(raw, ctx, true, mode);
  if (topLevel === 'absolute' || ctx.path.ids.length === 0) return place(raw, ctx, false, mode);
  try {
    return place(raw, ctx, false, mode);
  } catch (absolute) {
    if (!(absolute instanceof ContentFormatError) || absolute.reason !== 'invalid-path') throw absolute;
    try {
      return place(raw, ctx, true, mode);
    } catch {
      throw absolute; // neither reading works; report the one the spec mandates
    }
  }
}

/**
 * Decodes a LwM2M CBOR payload into records with absolute paths, in payload order. An empty nested
 * map gives a valueless record (empty object, instance or multiple resource).
 */
export function decodeLwm2mCbor(
  bytes: Uint8Array,
  ctx: CodecContext,
  options: Lwm2mCborDecodeOptions = {},
): LwM2mRecord[] {
  const raw = readRawEntries(bytes, ctx);
  const placed = placeAll(raw, ctx, options.topLevel ?? 'auto', 'read');
  checkDuplicates(placed);
  const defs = definitions(ctx);
  return placed.map((e) => toRecord(e, defs, makePath(e.ids, e.prefix)));
}

/**
 * Decodes a Create body for the object at ctx.path (`/2`): exactly one instance, whose key is its
 * id or 65535 ("client assigns"): `{[2,65535]: {…}}`, `{2: {65535: {…}}}` or, relative, `{65535: {…}}`.
 */
export function decodeLwm2mCborCreate(
  bytes: Uint8Array,
  ctx: CodecContext,
  options: Lwm2mCborDecodeOptions = {},
): Lwm2mCborCreate {
  if (ctx.path.ids.length !== 1) fail('invalid-path', `Create targets an object, not ${ctx.path.toString()}`);
  const raw = readRawEntries(bytes, ctx);
  const placed = placeAll(raw, ctx, options.topLevel ?? 'auto', 'create');
  checkDuplicates(placed);
  let instanceKey: number | undefined;
  for (const e of placed) {
    const where: Where = e;
    const iid = e.ids[1];
    if (iid === undefined)
      fail('invalid-path', `${whereText(where)}: a Create body must name the instance (or 65535)`);
    if (instanceKey !== undefined && iid !== instanceKey)
      fail('invalid-path', 'a Create body carries one instance');
    instanceKey = iid;
  }
  const resources: LwM2mRecord[] = [];
  const defs = definitions(ctx);
  for (const e of placed) {
    if (e.ids.length === 2) continue; // `{[2,65535]: {}}`: an instance without resources
    resources.push(toRecord(e, defs, makePath(e.ids.slice(2), undefined)));
  }
  return { instanceId: instanceKey === NULL_ID ? undefined : instanceKey, resources };
}

// ---- leaf typing ----

type LeafKind = 'text' | 'int' | 'float' | 'bytes' | 'bool' | 'null' | 'time';

/** What LwM2M CBOR item a leaf is; anything else (arrays, undefined, other tags) is malformed. */
function leafKind(leaf: CborValue, where: Where): LeafKind {
  if (typeof leaf === 'string') return 'text';
  if (typeof leaf === 'number' || typeof leaf === 'bigint') return 'int';
  if (typeof leaf === 'boolean') return 'bool';
  if (leaf === null) return 'null';
  if (leaf instanceof CborFloat) return 'float';
  if (leaf instanceof Uint8Array) return 'bytes';
  if (leaf instanceof CborTagged && (leaf.tag === 0 || leaf.tag === 1)) return 'time';
  if (leaf instanceof CborTagged)
    return fail('malformed', `${whereText(where)}: tag ${leaf.tag} is not an LwM2M value`);
  return fail(
    'malformed',
    `${whereText(where)}: ${leaf === undefined ? 'undefined' : 'an array'} is not an LwM2M value`,
  );
}

function integerAs(n: number | bigint, type: 'integer' | 'unsigned' | 'time', where: Where): LwM2mValue {
  const big = typeof n === 'bigint' ? n : BigInt(n);
  const lo = type === 'unsigned' ? 0n : INT64_MIN;
  const hi = type === 'unsigned' ? UINT64_MAX : INT64_MAX;
  if (big < lo || big > hi) fail('out-of-range', `${whereText(where)}: ${big} is out of range for ${type}`);
  return { type, value: normalizeInteger(big) };
}

function typedLeaf(leaf: CborValue, type: ResourceType, where: Where): LwM2mValue {
  const kind = leafKind(leaf, where);
  switch (type) {
    case 'string':
    case 'corelnk':
      return kind === 'text' ? { type, value: leaf as string } : leafMismatch(kind, type, where);
    case 'integer':
    case 'unsigned':
      return kind === 'int'
        ? integerAs(leaf as number | bigint, type, where)
        : leafMismatch(kind, type, where);
    case 'time':
      if (kind === 'int') return integerAs(leaf as number | bigint, 'time', where);
      return kind === 'time' ? timeFromTag(leaf as CborTagged, where) : leafMismatch(kind, type, where);
    case 'float':
      if (kind === 'float') return Value.float((leaf as CborFloat).value);
      return kind === 'int' ? Value.float(Number(leaf)) : leafMismatch(kind, type, where);
    case 'boolean':
      return kind === 'bool' ? Value.boolean(leaf as boolean) : leafMismatch(kind, type, where);
    case 'opaque':
      return kind === 'bytes' ? Value.opaque((leaf as Uint8Array).slice()) : leafMismatch(kind, type, where);
    case 'objlnk': {
      if (kind !== 'text') return leafMismatch(kind, type, where);
      const link = parseObjLink(leaf as string);
      if (!link)
        fail(
          'type-mismatch',
          `${whereText(where)}: "${clip(leaf as string)}" is not an object link "oid:iid"`,
        );
      return { type, value: link };
    }
    case 'none':
      return kind === 'null' ? Value.none() : leafMismatch(kind, type, where);
  }
}

function leafMismatch(kind: LeafKind, type: ResourceType, where: Where): never {
  return fail('type-mismatch', `${whereText(where)}: a CBOR ${kind} cannot be a ${type} value`);
}

function inferLeaf(leaf: CborValue, where: Where): LwM2mValue {
  switch (leafKind(leaf, where)) {
    case 'text':
      return Value.string(leaf as string);
    case 'int': {
      const n = leaf as number | bigint;
      if (typeof n === 'bigint' && n < INT64_MIN)
        fail('out-of-range', `${whereText(where)}: ${n} is below the 64-bit range`);
      return inferNumber(n);
    }
    case 'float':
      return Value.float((leaf as CborFloat).value);
    case 'bytes':
      return Value.opaque((leaf as Uint8Array).slice());
    case 'bool':
      return Value.boolean(leaf as boolean);
    case 'null':
      return Value.none();
    case 'time':
      return timeFromTag(leaf as CborTagged, where);
  }
}

/** Tag 1: epoch seconds (int or float); tag 0: RFC 3339 text (RFC 8949 §3.4.1-2). Floors to seconds. */
function timeFromTag(tagged: CborTagged, where: Where): LwM2mValue {
  const inner = tagged.value;
  if (tagged.tag === 1) {
    if (typeof inner === 'number' || typeof inner === 'bigint') return integerAs(inner, 'time', where);
    if (inner instanceof CborFloat) {
      if (!Number.isFinite(inner.value))
        fail('out-of-range', `${whereText(where)}: ${inner.value} is not a time`);
      const secs = Math.floor(inner.value);
      if (Math.abs(secs) >= 2 ** 63)
        fail('out-of-range', `${whereText(where)}: ${secs} is out of range for time`);
      return integerAs(BigInt(secs), 'time', where);
    }
    return fail('malformed', `${whereText(where)}: tag 1 must hold a number`);
  }
  if (typeof inner !== 'string') return fail('malformed', `${whereText(where)}: tag 0 must hold text`);
  const secs = parseRfc3339(inner);
  if (secs === undefined)
    fail('malformed', `${whereText(where)}: "${clip(inner)}" is not an RFC 3339 date-time`);
  return Value.time(secs);
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

// ------------------------------------------------------------------------------------------------
// Encoding.
//
// Keys are always absolute (§2.5), whatever ctx.path; the model only types the values. Records go
// into a trie keyed by (gateway prefix, object id) at the top; every map lists its entries in the
// order the records first reach them, so a composite keeps the order of its request (sortRecords
// first for canonical bytes). Each entry's key follows the chain of single-child nodes below it
// ("collapse"), because `[a,b,c]: v` is smaller than `a: {b: {c: v}}`:
// - top-level keys always run down to the first node with a value, an empty map or several children
//   (`{[3,0]: {…}}`, `{[3,0,9]: 100}`, `{[1,0,1]: 86400}`), prefixed ones as `["d01",3,0]`;
// - nested keys collapse only a chain of two or more levels, where it saves bytes; a single level is
//   the same size either way and stays nested, as in the spec's `11: {0: 0}`.
// Integers take their shortest head and floats the smallest exact width (CborWriter). For resources
// the model does not know, a Time goes out as tag 1 so its type survives; Objlnk and Corelnk are
// text and an Unsigned up to INT64_MAX an integer, which a receiver reads back as String / Integer.

interface TrieNode {
  readonly children: Map<number, TrieNode>;
  /** A record names this node (with or without a value). */
  terminal?: boolean;
  value?: LwM2mValue;
  /** Unknown to the model: time goes out as tag 1 so the receiver can still tell it is a time. */
  tagTime?: boolean;
}

function newNode(): TrieNode {
  return { children: new Map() };
}

function notEncodable(message: string): never {
  return fail('not-encodable', message);
}

/** Checks one record's shape and value against the model and converts the value to the model's type. */
function prepareValue(
  defs: Definitions,
  ids: readonly number[],
  value: LwM2mValue | undefined,
  where: Where,
): { value: LwM2mValue | undefined; tagTime: boolean } {
  const def = defs(ids);
  if (value === undefined) {
    if (ids.length === 4) notEncodable(`${whereText(where)}: a resource instance needs a value`);
    if (def !== undefined && ids.length === 3 && !def.multiple)
      notEncodable(`${whereText(where)}: a single-instance resource needs a value`);
    return { value: undefined, tagTime: false };
  }
  if (ids.length < 3) notEncodable(`${whereText(where)}: only resources and resource instances hold values`);
  if (def === undefined) return { value: checkedValue(value, where), tagTime: value.type === 'time' };
  if (ids.length === 3 && def.multiple)
    notEncodable(`${whereText(where)}: ${def.name} is a multiple resource`);
  if (ids.length === 4 && !def.multiple)
    notEncodable(`${whereText(where)}: ${def.name} has no resource instances`);
  return { value: checkedValue(toModelType(value, def.type, where), where), tagTime: false };
}

function toModelType(value: LwM2mValue, type: ResourceType, where: Where): LwM2mValue {
  try {
    return convertValue(value, type);
  } catch (err) {
    if (err instanceof TypeConversionError) notEncodable(`${whereText(where)}: ${err.message}`);
    throw err;
  }
}

/** Rejects values a hand-built record may carry but CBOR cannot (integers past 64 bits, ...). */
function checkedValue(v: LwM2mValue, where: Where): LwM2mValue {
  const bad = (): never => notEncodable(`${whereText(where)}: not a valid ${v.type} value`);
  switch (v.type) {
    case 'integer':
    case 'time':
      return isInt64(v.value) ? v : bad();
    case 'unsigned':
      return isUint64(v.value) ? v : bad();
    case 'float':
      return typeof v.value === 'number' ? v : bad();
    case 'opaque':
      return v.value instanceof Uint8Array ? v : bad();
    case 'string':
    case 'corelnk':
      return typeof v.value === 'string' ? v : bad();
    default:
      return v;
  }
}

/**
 * Adds a record to the trie, refusing a path given twice and a value with records below it. A
 * valueless record with records below only says the container exists, which those records say too.
 */
function insert(
  root: TrieNode,
  ids: readonly number[],
  value: LwM2mValue | undefined,
  tagTime: boolean,
  where: Where,
): void {
  let node = root;
  for (const id of ids) {
    if (node.value !== undefined) notEncodable(`${whereText(where)}: lies below a record with a value`);
    let next = node.children.get(id);
    if (!next) node.children.set(id, (next = newNode()));
    node = next;
  }
  if (node.terminal) notEncodable(`${whereText(where)}: duplicate record`);
  if (value !== undefined && node.children.size > 0)
    notEncodable(`${whereText(where)}: a value above other records`);
  node.terminal = true;
  if (value !== undefined) {
    node.value = value;
    node.tagTime = tagTime;
  }
}

/** Follows single-child nodes below `node` (which is reached by `ids`): the collapsed key and its target. */
function chain(ids: number[], node: TrieNode): [number[], TrieNode] {
  let n = node;
  while (n.value === undefined && n.children.size === 1) {
    const [id, child] = n.children.entries().next().value!;
    ids.push(id);
    n = child;
  }
  return [ids, n];
}

function writeKey(w: CborWriter, prefix: string | undefined, ids: readonly number[]): void {
  if (prefix === undefined && ids.length === 1) {
    w.int(ids[0]!);
    return;
  }
  w.arrayHeader(ids.length + (prefix === undefined ? 0 : 1));
  if (prefix !== undefined) w.text(prefix);
  for (const id of ids) w.int(id);
}

/** Writes a node's content: its value, or a map of its children (empty map for an empty container). */
function writeNode(w: CborWriter, node: TrieNode): void {
  if (node.value !== undefined) {
    writeLwM2mValue(w, node.value, node.tagTime === true);
    return;
  }
  w.mapHeader(node.children.size);
  for (const [id, child] of node.children) {
    const [ids, target] = chain([id], child);
    // Nested: collapse only chains of two or more levels (a single level is a tie; keep it nested).
    if (ids.length > 2) {
      writeKey(w, undefined, ids);
      writeNode(w, target);
    } else {
      w.int(id);
      writeNode(w, child);
    }
  }
}

interface TopEntry {
  readonly prefix: string | undefined;
  readonly objectId: number;
  readonly node: TrieNode;
}

/** Groups records by (gateway prefix, object id), in order of first appearance. */
function buildTrie(records: NodeSet, ctx: CodecContext): TopEntry[] {
  if (records.length === 0) notEncodable('LwM2M CBOR needs at least one record');
  const defs = definitions(ctx);
  const top = new Map<string | number, TopEntry>();
  for (const r of records) {
    const where: Where = () => r.path.toString();
    if (r.time !== undefined) notEncodable(`${whereText(where)}: LwM2M CBOR carries no timestamps`);
    const [oid, ...rest] = r.path.ids;
    if (oid === undefined) notEncodable('the root cannot be a record in LwM2M CBOR');
    const { value, tagTime } = prepareValue(defs, r.path.ids, r.value, where);
    const key = r.path.prefix === undefined ? oid : `${r.path.prefix}/${oid}`;
    let entry = top.get(key);
    if (!entry) top.set(key, (entry = { prefix: r.path.prefix, objectId: oid, node: newNode() }));
    insert(entry.node, rest, value, tagTime, where);
  }
  return [...top.values()];
}

/**
 * Encodes records (absolute paths, timeless) in the smallest form the grouping rules above give.
 * Values are converted to the model's resource type (convertValue); what cannot be carried is
 * 'not-encodable'.
 */
export function encodeLwm2mCbor(records: NodeSet, ctx: CodecContext): Uint8Array {
  const top = buildTrie(records, ctx);
  const w = new CborWriter();
  w.mapHeader(top.length);
  for (const { prefix, objectId, node } of top) {
    const [ids, target] = chain([objectId], node);
    writeKey(w, prefix, ids);
    writeNode(w, target);
  }
  return w.finish();
}

/**
 * Encodes a Create body for the object at ctx.path: `{[oid, iid]: {…}}`, with iid 65535 when
 * `instanceId` is undefined (the client assigns it). `resources` have instance-relative paths
 * (`/r`, `/r/ri`), as decodeLwm2mCborCreate returns them.
 */
export function encodeLwm2mCborCreate(
  create: { readonly instanceId?: number | undefined; readonly resources: NodeSet },
  ctx: CodecContext,
): Uint8Array {
  const oid = ctx.path.objectId;
  if (oid === undefined || ctx.path.depth !== 1)
    notEncodable(`Create targets an object, not ${ctx.path.toString()}`);
  const iid = create.instanceId ?? NULL_ID;
  if (create.instanceId !== undefined && !(Number.isInteger(iid) && iid >= 0 && iid < MAX_ID))
    notEncodable(`instance id ${iid} is not in 0..65534`);
  const defs = definitions(ctx);
  const instance = newNode();
  for (const r of create.resources) {
    const ids = [oid, iid, ...r.path.ids];
    const where: Where = () => pathText(ctx.path.prefix, ids);
    if (r.path.prefix !== undefined || r.path.depth < 1 || r.path.depth > 2)
      notEncodable(`${whereText(where)}: Create resources have instance-relative paths /r or /r/ri`);
    if (r.time !== undefined) notEncodable(`${whereText(where)}: LwM2M CBOR carries no timestamps`);
    const { value, tagTime } = prepareValue(defs, ids, r.value, where);
    insert(instance, r.path.ids, value, tagTime, where);
  }
  const w = new CborWriter();
  w.mapHeader(1);
  writeKey(w, ctx.path.prefix, [oid, iid]);
  writeNode(w, instance);
  return w.finish();
}

/** The LwM2M CBOR content codec (11544). */
export const lwm2mCborCodec: ContentCodec = {
  format: LWM2M_CBOR,
  encode: encodeLwm2mCbor,
  decode: (bytes, ctx) => decodeLwm2mCbor(bytes, ctx),
};
