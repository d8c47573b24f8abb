import type { LwM2mValue, ResourceType } from '../model/data-types.js';
import {
  INT64_MAX,
  TypeConversionError,
  Value,
  convertValue,
  normalizeInteger,
} from '../model/data-types.js';
import { MAX_ID } from '../model/ids.js';
import type { InstanceNode, NodeTree, ResourceNode } from '../model/node-tree.js';
import { NodeTreeError, buildTree } from '../model/node-tree.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CodecContext, ContentCodec, DecodeLimits } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import { lookupResource } from './typing.js';

/*
 * OMA TLV (CF 11542, Core §7.4.3). Each item is: a type byte, an 8- or 16-bit identifier, an
 * optional 8/16/24-bit length, then the value. Type byte:
 *   bits 7-6  00 Object Instance, 01 Resource Instance, 10 Multiple Resource, 11 Resource
 *   bit 5     identifier width: 0 = 8 bits, 1 = 16 bits
 *   bits 4-3  length field width: 00 = none (length in bits 2-0), 01/10/11 = 8/16/24 bits
 *   bits 2-0  the length when bits 4-3 are 00 (ignored otherwise, as the spec defines them only then)
 * Nesting: Object Instance > Multiple Resource > Resource Instance, at most 3 levels.
 *
 * Choices where the spec leaves room (documented in the report):
 * - Integer, Time and Unsigned values are 1, 2, 4 or 8 bytes; other lengths are 'type-mismatch'.
 *   Unsigned values are encoded in the smallest width whose *signed* reading is the same value (so
 *   peers that read them as Integer agree); only values >= 2^63 use 8 unsigned bytes.
 * - TLV has no object identifier, so a request on the root cannot be carried ('invalid-path' on
 *   decode of a non-empty payload, 'not-encodable' on encode).
 * - At object level the Object Instance wrapper is mandatory (Core §7.4.3). A Create on an object
 *   whose payload has no wrapper (the client picks the instance id) is decoded by passing the new
 *   instance's path as ctx.path.
 */

const FORMAT = lookupContentFormat('tlv') as ContentFormat;

type TlvKind = 'instance' | 'resource-instance' | 'multiple' | 'resource';
const KIND_BY_BITS: readonly TlvKind[] = ['instance', 'resource-instance', 'multiple', 'resource'];
const BITS_BY_KIND: Readonly<Record<TlvKind, number>> = {
  instance: 0b00,
  'resource-instance': 0b01,
  multiple: 0b10,
  resource: 0b11,
};
const MAX_LENGTH = 0xffffff;
// Fatal, non-streaming decoding keeps no state between calls, so one instance serves every call.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const UTF8_ENCODER = new TextEncoder();

/** One parsed TLV header; the value is bytes[start, end). */
interface TlvItem {
  readonly kind: TlvKind;
  readonly id: number;
  readonly offset: number;
  readonly start: number;
  readonly end: number;
}

function fail(reason: ContentFormatReason, message: string, offset?: number): never {
  throw new ContentFormatError(
    reason,
    message,
    offset === undefined ? { format: 'tlv' } : { format: 'tlv', offset },
  );
}

// ---------------------------------------------------------------- decoding

/** Decoder state: the input, the request context and the records produced so far. */
interface DecodeState {
  readonly bytes: Uint8Array;
  readonly ctx: CodecContext;
  readonly limits: DecodeLimits;
  readonly out: LwM2mRecord[];
}

/**
 * Reads the sibling items in bytes[start, end); a length past `end` is 'truncated' (nothing is
 * allocated for it). Every item yields at least one record, so more items than the records still
 * allowed is 'too-large' before they are all held in memory.
 */
function readItems(state: DecodeState, start: number, end: number): TlvItem[] {
  const { bytes } = state;
  const budget = state.limits.maxRecords - state.out.length;
  const items: TlvItem[] = [];
  let pos = start;
  while (pos < end) {
    const offset = pos;
    if (items.length >= budget) fail('too-large', `more than ${state.limits.maxRecords} records`, offset);
    const type = bytes[pos++] as number;
    const kind = KIND_BY_BITS[type >> 6] as TlvKind;
    const idWidth = type & 0x20 ? 2 : 1;
    const lengthWidth = (type >> 3) & 0x03;
    if (pos + idWidth + lengthWidth > end)
      fail('truncated', 'TLV header runs past the end of its container', offset);
    let id = 0;
    for (let i = 0; i < idWidth; i++) id = (id << 8) | (bytes[pos++] as number);
    let length = type & 0x07;
    if (lengthWidth > 0) {
      length = 0;
      for (let i = 0; i < lengthWidth; i++) length = length * 256 + (bytes[pos++] as number);
    }
    if (length > end - pos)
      fail('truncated', `TLV value of ${length} bytes runs past the end of its container`, offset);
    items.push({ kind, id, offset, start: pos, end: pos + length });
    pos += length;
  }
  return items;
}

function emit(state: DecodeState, record: LwM2mRecord, offset: number): void {
  if (state.out.length >= state.limits.maxRecords)
    fail('too-large', `more than ${state.limits.maxRecords} records`, offset);
  state.out.push(record);
}

function childPath(parent: LwM2mPath, item: TlvItem): LwM2mPath {
  if (item.id === MAX_ID) fail('invalid-path', 'identifier 65535 is reserved', item.offset);
  return parent.append(item.id);
}

function checkKinds(items: readonly TlvItem[], allowed: readonly TlvKind[], where: string): void {
  for (const item of items)
    if (!allowed.includes(item.kind))
      fail('malformed', `a ${item.kind} TLV cannot appear ${where}`, item.offset);
}

function checkUnique(items: readonly TlvItem[]): void {
  const seen = new Set<number>();
  for (const item of items) {
    if (seen.has(item.id)) fail('duplicate', `identifier ${item.id} appears twice at one level`, item.offset);
    seen.add(item.id);
  }
}

function checkDepth(state: DecodeState, level: number, offset: number): void {
  if (level > state.limits.maxDepth)
    fail('too-deep', `TLV nesting deeper than ${state.limits.maxDepth}`, offset);
}

const signedBig = (view: DataView, n: number): bigint =>
  n === 1
    ? BigInt(view.getInt8(0))
    : n === 2
      ? BigInt(view.getInt16(0))
      : n === 4
        ? BigInt(view.getInt32(0))
        : view.getBigInt64(0);

const unsignedBig = (view: DataView, n: number): bigint =>
  n === 1
    ? BigInt(view.getUint8(0))
    : n === 2
      ? BigInt(view.getUint16(0))
      : n === 4
        ? BigInt(view.getUint32(0))
        : view.getBigUint64(0);

/** Decodes one TLV value as `type` (Core §7.4.3 value encodings). */
function decodeValue(state: DecodeState, item: TlvItem, type: ResourceType, path: LwM2mPath): LwM2mValue {
  const raw = state.bytes.subarray(item.start, item.end);
  const n = raw.length;
  const view = new DataView(raw.buffer, raw.byteOffset, n);
  const mismatch = (what: string): never =>
    fail('type-mismatch', `${path.toString()}: ${what} for ${type} (${n} bytes)`, item.offset);
  switch (type) {
    case 'integer':
    case 'time':
    case 'unsigned': {
      if (n !== 1 && n !== 2 && n !== 4 && n !== 8) return mismatch('length must be 1, 2, 4 or 8');
      const big = type === 'unsigned' ? unsignedBig(view, n) : signedBig(view, n);
      return { type, value: normalizeInteger(big) };
    }
    case 'float':
      if (n === 4) return Value.float(view.getFloat32(0));
      if (n === 8) return Value.float(view.getFloat64(0));
      return mismatch('length must be 4 or 8');
    case 'boolean':
      if (n !== 1) return mismatch('length must be 1');
      if (raw[0] !== 0 && raw[0] !== 1) return mismatch(`byte ${raw[0]} is not 0 or 1`);
      return Value.boolean(raw[0] === 1);
    case 'objlnk':
      if (n !== 4) return mismatch('length must be 4');
      return Value.objlnk(view.getUint16(0), view.getUint16(2));
    case 'string':
    case 'corelnk': {
      let text: string;
      try {
        text = UTF8.decode(raw);
      } catch {
        return fail('bad-utf8', `${path.toString()}: value is not valid UTF-8`, item.offset);
      }
      return type === 'string' ? Value.string(text) : Value.corelnk(text);
    }
    case 'opaque':
      return Value.opaque(raw.slice());
    case 'none':
      if (n !== 0) return mismatch('an executable resource has no value');
      return Value.none();
  }
}

/** Emits the record of one resource instance (or, at `/o/i/r/ri` requests, the top-level one). */
function decodeResourceInstance(state: DecodeState, path: LwM2mPath, item: TlvItem): void {
  const def = lookupResource(state.ctx, path);
  if (def !== undefined && !def.multiple)
    fail(
      'type-mismatch',
      `${path.parent().toString()} is a single resource but carries instances`,
      item.offset,
    );
  const value = decodeValue(state, item, def?.type ?? 'opaque', path);
  emit(state, def === undefined ? { path, value, inferred: true } : { path, value }, item.offset);
}

/** Emits the records of a Resource or Multiple Resource TLV placed at `path`. */
function decodeResource(state: DecodeState, path: LwM2mPath, item: TlvItem, level: number): void {
  checkDepth(state, level, item.offset);
  const def = lookupResource(state.ctx, path);
  if (item.kind === 'resource') {
    // Core §7.4.3: a multi-instance resource always travels as a Multiple Resource TLV.
    if (def?.multiple === true)
      fail(
        'type-mismatch',
        `${path.toString()} is a multiple resource but came as a single Resource TLV`,
        item.offset,
      );
    const value = decodeValue(state, item, def?.type ?? 'opaque', path);
    emit(state, def === undefined ? { path, value, inferred: true } : { path, value }, item.offset);
    return;
  }
  if (def !== undefined && !def.multiple)
    fail(
      'type-mismatch',
      `${path.toString()} is a single resource but came as a Multiple Resource TLV`,
      item.offset,
    );
  const children = readItems(state, item.start, item.end);
  checkKinds(children, ['resource-instance'], 'inside a Multiple Resource TLV');
  checkUnique(children);
  if (children.length === 0) emit(state, { path }, item.offset);
  else checkDepth(state, level + 1, item.offset);
  for (const child of children) decodeResourceInstance(state, childPath(path, child), child);
}

/** Emits the resources of one object instance, found at nesting `level`. */
function decodeResources(
  state: DecodeState,
  instancePath: LwM2mPath,
  items: readonly TlvItem[],
  level: number,
): void {
  checkKinds(items, ['resource', 'multiple'], 'among the resources of an object instance');
  checkUnique(items);
  for (const item of items) decodeResource(state, childPath(instancePath, item), item, level);
}

/** Emits an Object Instance TLV's resources; an empty instance becomes a value-less record. */
function decodeInstance(state: DecodeState, path: LwM2mPath, item: TlvItem): void {
  checkDepth(state, 1, item.offset);
  const children = readItems(state, item.start, item.end);
  if (children.length === 0) emit(state, { path }, item.offset);
  decodeResources(state, path, children, 2);
}

/** Only one TLV may answer a request for one resource (instance); anything after it is trailing. */
function single(items: readonly TlvItem[]): TlvItem {
  const extra = items[1];
  if (extra !== undefined) fail('trailing-bytes', 'more than one TLV for a single target', extra.offset);
  return items[0] as TlvItem;
}

function decodeTop(state: DecodeState): void {
  const { bytes, ctx } = state;
  const path = ctx.path;
  if (path.depth === 0)
    fail('invalid-path', 'TLV cannot name objects; a request on the root has no TLV form', 0);
  const items = readItems(state, 0, bytes.length);
  if (items.length === 0) return;
  const first = items[0] as TlvItem;
  switch (path.depth) {
    case 1:
      // The instance wrapper is mandatory when the request names no instance.
      checkKinds(items, ['instance'], `at the top level of object ${path.toString()}`);
      checkUnique(items);
      for (const item of items) decodeInstance(state, childPath(path, item), item);
      return;
    case 2:
      if (first.kind === 'instance') {
        // The wrapper is optional here; when present it must name the requested instance.
        checkKinds(items, ['instance'], 'beside an Object Instance TLV');
        for (const item of items)
          if (item.id !== path.instanceId)
            fail('invalid-path', `instance ${item.id} is not the requested ${path.toString()}`, item.offset);
        checkUnique(items);
        decodeInstance(state, path, single(items));
        return;
      }
      decodeResources(state, path, items, 1);
      return;
    case 3: {
      if (items.every((item) => item.kind === 'resource-instance')) {
        // The instances of the requested multiple resource, without their Multiple Resource TLV.
        checkUnique(items);
        for (const item of items) decodeResourceInstance(state, childPath(path, item), item);
        return;
      }
      checkKinds([first], ['resource', 'multiple'], `at the top level of resource ${path.toString()}`);
      const item = single(items);
      if (item.id !== path.resourceId)
        fail('invalid-path', `resource ${item.id} is not the requested ${path.toString()}`, item.offset);
      decodeResource(state, path, item, 1);
      return;
    }
    default: {
      checkKinds([first], ['resource-instance'], `at the top level of resource instance ${path.toString()}`);
      const item = single(items);
      if (item.id !== path.resourceInstanceId)
        fail(
          'invalid-path',
          `resource instance ${item.id} is not the requested ${path.toString()}`,
          item.offset,
        );
      decodeResourceInstance(state, path, item);
    }
  }
}

// ---------------------------------------------------------------- encoding

function header(kind: TlvKind, id: number, length: number): Uint8Array {
  if (length > MAX_LENGTH)
    fail('not-encodable', `a TLV value of ${length} bytes exceeds the 24-bit length field`);
  const wideId = id > 0xff;
  const lengthWidth = length < 8 ? 0 : length <= 0xff ? 1 : length <= 0xffff ? 2 : 3;
  const out = new Uint8Array(1 + (wideId ? 2 : 1) + lengthWidth);
  out[0] =
    (BITS_BY_KIND[kind] << 6) | (wideId ? 0x20 : 0) | (lengthWidth << 3) | (lengthWidth === 0 ? length : 0);
  let pos = 1;
  if (wideId) out[pos++] = id >> 8;
  out[pos++] = id & 0xff;
  for (let i = lengthWidth - 1; i >= 0; i--) out[pos++] = (length >> (8 * i)) & 0xff;
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function tlv(kind: TlvKind, id: number, value: Uint8Array): Uint8Array {
  return concat([header(kind, id, value.length), value]);
}

/** Big-endian two's complement of `v` in `width` bytes. */
function intBytes(v: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let x = BigInt.asUintN(width * 8, v);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** The smallest of 1/2/4/8 bytes holding `v` as a signed integer. */
function signedWidth(v: bigint): number {
  for (const w of [1, 2, 4]) {
    const half = 1n << BigInt(w * 8 - 1);
    if (v >= -half && v < half) return w;
  }
  return 8;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function encodeValue(value: LwM2mValue, path: LwM2mPath): Uint8Array {
  switch (value.type) {
    case 'integer':
    case 'time':
    case 'unsigned': {
      const v = BigInt(value.value);
      return intBytes(v, value.type === 'unsigned' && v > INT64_MAX ? 8 : signedWidth(v));
    }
    case 'float': {
      // Four bytes only when the float32 is the same number (NaN and -0 included).
      const f = value.value;
      const narrow = Object.is(Math.fround(f), f);
      const out = new Uint8Array(narrow ? 4 : 8);
      const view = new DataView(out.buffer);
      if (narrow) view.setFloat32(0, f);
      else view.setFloat64(0, f);
      return out;
    }
    case 'boolean':
      return Uint8Array.of(value.value ? 1 : 0);
    case 'objlnk':
      return Uint8Array.of(
        value.value.objectId >> 8,
        value.value.objectId & 0xff,
        value.value.instanceId >> 8,
        value.value.instanceId & 0xff,
      );
    case 'string':
    case 'corelnk':
      if (LONE_SURROGATE.test(value.value))
        return fail('not-encodable', `${path.toString()}: string is not valid Unicode`);
      return UTF8_ENCODER.encode(value.value);
    case 'opaque':
      return value.value;
    case 'none':
      return new Uint8Array(0);
  }
}

/** The value converted to the model's type, so the reader's typed decoding reads it back. */
function typedForModel(ctx: CodecContext, path: LwM2mPath, value: LwM2mValue): LwM2mValue {
  const def = lookupResource(ctx, path);
  if (def === undefined) return value;
  try {
    return convertValue(value, def.type);
  } catch (e) {
    if (!(e instanceof TypeConversionError)) throw e;
    return fail('not-encodable', `${path.toString()}: ${e.message}`);
  }
}

function sortedIds(keys: Iterable<number>): number[] {
  return [...keys].sort((a, b) => a - b);
}

function encodeResource(ctx: CodecContext, path: LwM2mPath, node: ResourceNode): Uint8Array {
  const def = lookupResource(ctx, path);
  if (def !== undefined && def.multiple !== (node.kind === 'multiple'))
    fail(
      'not-encodable',
      `${path.toString()} is a ${def.multiple ? 'multiple' : 'single'} resource in the model`,
    );
  if (node.kind === 'single')
    return tlv('resource', node.id, encodeValue(typedForModel(ctx, path, node.value), path));
  const parts: Uint8Array[] = [];
  for (const ri of sortedIds(node.instances.keys())) {
    const riPath = path.append(ri);
    const value = typedForModel(ctx, riPath, node.instances.get(ri) as LwM2mValue);
    parts.push(tlv('resource-instance', ri, encodeValue(value, riPath)));
  }
  return tlv('multiple', node.id, concat(parts));
}

function encodeResources(ctx: CodecContext, path: LwM2mPath, inst: InstanceNode | undefined): Uint8Array {
  if (inst === undefined) return new Uint8Array(0);
  return concat(
    sortedIds(inst.resources.keys()).map((rid) =>
      encodeResource(ctx, path.append(rid), inst.resources.get(rid) as ResourceNode),
    ),
  );
}

function buildRecordTree(records: NodeSet, ctx: CodecContext): NodeTree {
  for (const r of records) {
    if (!ctx.path.covers(r.path))
      fail(
        'not-encodable',
        `record ${r.path.toString()} is not below the request path ${ctx.path.toString()}`,
      );
    if (r.time !== undefined)
      fail('not-encodable', `record ${r.path.toString()} has a timestamp; TLV carries none`);
  }
  try {
    return buildTree(records);
  } catch (e) {
    if (e instanceof NodeTreeError) return fail('not-encodable', e.message);
    throw e;
  }
}

function encodeTop(records: NodeSet, ctx: CodecContext): Uint8Array {
  const path = ctx.path;
  if (records.length === 0) return new Uint8Array(0);
  if (path.depth === 0)
    return fail('not-encodable', 'TLV cannot name objects; a request on the root has no TLV form');
  const tree = buildRecordTree(records, ctx);
  const [o, i, r, ri] = path.ids as [number, number?, number?, number?];
  const object = tree.get(o);
  if (i === undefined) {
    // Core §7.4.3: at object level every instance is wrapped, however many there are.
    if (object === undefined) return new Uint8Array(0);
    return concat(
      sortedIds(object.instances.keys()).map((iid) => {
        const inst = object.instances.get(iid) as InstanceNode;
        return tlv('instance', iid, encodeResources(ctx, path.append(iid), inst));
      }),
    );
  }
  const inst = object?.instances.get(i);
  if (r === undefined) return encodeResources(ctx, path, inst);
  const node = inst?.resources.get(r);
  if (node === undefined) return new Uint8Array(0);
  if (ri === undefined) return encodeResource(ctx, path, node);
  const value = node.kind === 'multiple' ? node.instances.get(ri) : undefined;
  if (value === undefined) return fail('not-encodable', `no value for ${path.toString()}`);
  const def = lookupResource(ctx, path);
  if (def !== undefined && !def.multiple)
    fail('not-encodable', `${path.parent().toString()} is a single resource in the model`);
  return tlv('resource-instance', ri, encodeValue(typedForModel(ctx, path, value), path));
}

/**
 * OMA TLV (CF 11542), relative to the request path: object-instance TLVs at object level,
 * resources at instance level (the instance wrapper is accepted there too), one resource or its
 * instances at resource level. Typed by the model; unknown resources decode as opaque, `inferred`.
 */
export const tlvCodec: ContentCodec = {
  format: FORMAT,

  decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
    const state: DecodeState = { bytes, ctx, limits: resolveLimits(ctx), out: [] };
    if (bytes.length === 0) return [];
    decodeTop(state);
    return state.out;
  },

  encode(records: NodeSet, ctx: CodecContext): Uint8Array {
    return encodeTop(records, ctx);
  },
};
