import type { LwM2mValue, ObjLink, ResourceType } from '../model/data-types.js';
import {
  INT64_MIN,
  NULL_OBJLNK,
  TypeConversionError,
  UINT64_MAX,
  convertValue,
  decodeBase64,
  parseObjLink,
} from '../model/data-types.js';
import type { ResourceDefinition } from '../model/object-definition.js';
import { InvalidPathError, LwM2mPath } from '../model/path.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import { findConflict } from '../model/records.js';
import type { CodecContext } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormatName } from './content-format.js';
import { inferNumber, lookupResource, numberAs } from './typing.js';

/**
 * The SenML model shared by SenML JSON (110), SenML CBOR (112) and their ETCH forms (320, 322):
 * raw records as the wire carries them, their resolution into LwM2M records (RFC 8428 §4.5, Core
 * SenML section), and the reverse: LwM2M records into raw records with base name and base time.
 */

/**
 * A number as SenML carries it: the nearest double, and the exact integer when the number is
 * integral (a JSON `18446744073709551615` stays exact; Node's JSON.parse would round it).
 */
export class SenmlNumber {
  constructor(
    /** The nearest double. */
    readonly approx: number,
    /** Written as a float: a JSON fraction or exponent, a CBOR float. Used only to infer a type. */
    readonly float: boolean,
    /** True when the value is mathematically an integer. */
    readonly integral: boolean,
    /** The exact value when integral and at most 40 digits long; undefined otherwise. */
    readonly exact: bigint | undefined,
    /** CBOR tag 1 (epoch-based date/time) around the number. */
    readonly epochTag = false,
  ) {}

  static int(n: number | bigint): SenmlNumber {
    return new SenmlNumber(Number(n), false, true, BigInt(n));
  }

  static float(f: number, epochTag = false): SenmlNumber {
    const integral = Number.isInteger(f);
    return new SenmlNumber(
      f,
      true,
      integral,
      integral && Math.abs(f) < 1e40 ? BigInt(f) : undefined,
      epochTag,
    );
  }

  /**
   * A JSON number from its source text (already checked against the JSON number grammar), with the
   * integer value computed from the digits, not from the double.
   */
  static decimal(text: string): SenmlNumber {
    let i = 0;
    const negative = text.charCodeAt(0) === 0x2d;
    if (negative) i++;
    let fracLength = 0;
    let exponent = 0;
    let float = false;
    const start = i;
    while (i < text.length && isDigit(text.charCodeAt(i))) i++;
    let digits = text.slice(start, i);
    if (text.charCodeAt(i) === 0x2e) {
      float = true;
      const f = ++i;
      while (i < text.length && isDigit(text.charCodeAt(i))) i++;
      digits += text.slice(f, i);
      fracLength = i - f;
    }
    if (i < text.length) {
      float = true; // 'e' or 'E'
      i++;
      let sign = 1;
      if (text[i] === '-' || text[i] === '+') sign = text[i++] === '-' ? -1 : 1;
      const expDigits = text.slice(i).replace(/^0+(?=.)/, '');
      // Beyond nine digits the number is far outside every LwM2M range either way.
      exponent = sign * (expDigits.length > 9 ? 1e9 : Number(expDigits));
    }
    const approx = Number(text);
    // Exact integer: drop leading zeros, move trailing zeros into the scale.
    let lead = 0;
    while (lead < digits.length && digits.charCodeAt(lead) === 0x30) lead++;
    if (lead === digits.length) return new SenmlNumber(approx, float, true, 0n);
    let end = digits.length;
    while (digits.charCodeAt(end - 1) === 0x30) end--;
    const scale = exponent - fracLength + (digits.length - end);
    if (scale < 0) return new SenmlNumber(approx, float, false, undefined);
    const significant = digits.slice(lead, end);
    if (significant.length + scale > 40) return new SenmlNumber(approx, float, true, undefined);
    const magnitude = BigInt(significant) * 10n ** BigInt(scale);
    return new SenmlNumber(approx, float, true, negative ? -magnitude : magnitude);
  }

  /** RFC 8428 §4.5.1: a base value adds to the value. Exact when both are exact integers. */
  plus(other: SenmlNumber): SenmlNumber {
    const float = this.float || other.float;
    if (this.exact !== undefined && other.exact !== undefined) {
      const sum = this.exact + other.exact;
      return new SenmlNumber(Number(sum), float, true, sum, this.epochTag);
    }
    const approx = this.approx + other.approx;
    const integral = Number.isInteger(approx);
    return new SenmlNumber(
      approx,
      float,
      integral,
      integral && Math.abs(approx) < 1e40 ? BigInt(approx) : undefined,
    );
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The SenML fields (RFC 8428 §4 plus LwM2M's `vlo`). */
export type SenmlField =
  'bver' | 'bn' | 'bt' | 'bu' | 'bv' | 'bs' | 'n' | 'u' | 'v' | 'vs' | 'vb' | 's' | 't' | 'ut' | 'vd' | 'vlo';

/** The value fields; a record carries at most one. */
export const SENML_VALUE_FIELDS = ['v', 'vs', 'vb', 'vd', 'vlo'] as const;
export type SenmlValueField = (typeof SENML_VALUE_FIELDS)[number];

/** What a field holds on the wire, before checking (`null` only means something in SenML-ETCH). */
export type SenmlScalar = string | boolean | null | Uint8Array | SenmlNumber;

/**
 * One record as the wire carries it. Value fields may be `null`: in a SenML-ETCH Patch pack that
 * deletes the named resource instance (RFC 8790 §4); plain SenML refuses it.
 */
export interface SenmlRecord {
  bver?: number;
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: SenmlNumber;
  bs?: SenmlNumber;
  n?: string;
  u?: string;
  s?: SenmlNumber;
  t?: number;
  ut?: number;
  v?: SenmlNumber | null;
  vs?: string | null;
  vb?: boolean | null;
  /** Base64/base64url text in JSON, bytes in CBOR. */
  vd?: string | Uint8Array | null;
  vlo?: string | null;
  /** Byte offset of the record in the payload, when the parser knows it (for error messages). */
  offset?: number;
}

/** The SenML version this implementation understands (RFC 8428 §4.4: bver defaults to 10). */
export const SENML_VERSION = 10;

type Fail = (reason: ContentFormatReason, message: string) => never;

/**
 * Stores one parsed field into `rec`, checking its wire type. Both parsers call this, so JSON and
 * CBOR apply the same rules. Throws through `fail` (duplicate field, wrong type); `binary` is true
 * for CBOR, where `vd` is a byte string rather than base64 text.
 */
export function assignSenmlField(
  rec: SenmlRecord,
  field: SenmlField,
  value: SenmlScalar,
  binary: boolean,
  fail: Fail,
): void {
  if (rec[field] !== undefined) fail('malformed', `field "${field}" appears twice in one record`);
  // No per-call closures: this runs once per field of every record.
  switch (field) {
    case 'bn':
    case 'n':
    case 'bu':
    case 'u':
      if (typeof value !== 'string') return wrongField(field, 'a string', fail);
      rec[field] = value;
      return;
    case 'bt':
    case 't':
    case 'ut':
      if (!(value instanceof SenmlNumber) || value.epochTag) return wrongField(field, 'a number', fail);
      rec[field] = value.approx;
      return;
    case 'bver':
      if (!(value instanceof SenmlNumber) || !value.integral || value.approx < 1)
        return wrongField(field, 'a positive integer', fail);
      if (value.approx > SENML_VERSION)
        fail('malformed', `SenML version ${value.approx} is newer than ${SENML_VERSION}`);
      rec.bver = value.approx;
      return;
    case 'bv':
    case 'bs':
    case 's':
      if (!(value instanceof SenmlNumber) || value.epochTag) return wrongField(field, 'a number', fail);
      rec[field] = value;
      return;
    // Value fields may be null (SenML-ETCH delete; resolveSenmlPack decides whether it is allowed).
    case 'v':
      if (value !== null && !(value instanceof SenmlNumber)) return wrongField(field, 'a number', fail);
      rec.v = value;
      return;
    case 'vs':
    case 'vlo':
      if (value !== null && typeof value !== 'string') return wrongField(field, 'a string', fail);
      rec[field] = value;
      return;
    case 'vb':
      if (value !== null && typeof value !== 'boolean') return wrongField(field, 'a boolean', fail);
      rec.vb = value;
      return;
    case 'vd':
      if (value !== null && !(binary ? value instanceof Uint8Array : typeof value === 'string'))
        return wrongField(field, binary ? 'a byte string' : 'a base64 string', fail);
      rec.vd = value as string | Uint8Array | null;
      return;
  }
}

function wrongField(field: SenmlField, what: string, fail: Fail): never {
  return fail('malformed', `field "${field}" must be ${what}`);
}

/**
 * RFC 8428 §4.4: a field whose name ends in `_` must be understood; we understand none, so the pack
 * is refused. Other unknown fields are ignored.
 */
export function isMustUnderstand(name: string): boolean {
  return name.endsWith('_');
}

// ---------------------------------------------------------------------------------------------
// Decoding: raw records -> LwM2M records
// ---------------------------------------------------------------------------------------------

interface Resolver {
  readonly ctx: CodecContext;
  readonly format: ContentFormatName;
}

function failAt(r: Resolver, reason: ContentFormatReason, message: string, rec?: SenmlRecord): never {
  const offset = rec?.offset;
  throw new ContentFormatError(
    reason,
    message,
    offset === undefined ? { format: r.format } : { format: r.format, offset },
  );
}

function valueFieldsOf(rec: SenmlRecord): SenmlValueField[] {
  return SENML_VALUE_FIELDS.filter((f) => rec[f] !== undefined);
}

/** The record's first value field (in SENML_VALUE_FIELDS order) without allocating; see valueFieldsOf. */
function firstValueField(rec: SenmlRecord): SenmlValueField | undefined {
  if (rec.v !== undefined) return 'v';
  if (rec.vs !== undefined) return 'vs';
  if (rec.vb !== undefined) return 'vb';
  if (rec.vd !== undefined) return 'vd';
  if (rec.vlo !== undefined) return 'vlo';
  return undefined;
}

function valueFieldCount(rec: SenmlRecord): number {
  return (
    (rec.v !== undefined ? 1 : 0) +
    (rec.vs !== undefined ? 1 : 0) +
    (rec.vb !== undefined ? 1 : 0) +
    (rec.vd !== undefined ? 1 : 0) +
    (rec.vlo !== undefined ? 1 : 0)
  );
}

/**
 * Resource definitions by (object id, resource id), looked up once per pack: a pack typically
 * names the same few resources over and over (instances, historical series).
 */
class DefinitionCache {
  private readonly cache = new Map<number, ResourceDefinition | undefined>();
  constructor(private readonly ctx: CodecContext) {}

  get(path: LwM2mPath): ResourceDefinition | undefined {
    const o = path.objectId;
    const r = path.resourceId;
    if (o === undefined || r === undefined) return undefined;
    const key = o * 0x10000 + r;
    let def = this.cache.get(key);
    if (def === undefined && !this.cache.has(key)) {
      def = lookupResource(this.ctx, path);
      this.cache.set(key, def);
    }
    return def;
  }
}

/**
 * Resolves a pack into LwM2M records (RFC 8428 §4.5, Core SenML section):
 * - `bn`, `bt`, `bv`, `bs` carry forward to later records until replaced;
 * - the name `bn + n` must parse as a LwM2M path (gateway prefix and the request's alternate path
 *   allowed) lying at or below the request path (`invalid-path`);
 * - the time is `bt + t`; a record with neither has no time;
 * - at most one value field per record (`malformed` otherwise), typed by the model: `v` for
 *   Integer/Unsigned/Float/Time, `vs` for String/Corelnk, `vb` for Boolean, `vd` for Opaque, `vlo`
 *   for Objlnk (`type-mismatch` otherwise); unknown resources take the type the field carries and
 *   are marked `inferred`;
 * - `bv` is added to `v` (RFC 8428 §4.5.1). `s`/`bs` (sums) are checked as numbers and dropped:
 *   LwM2M has no sum values;
 * - a record without a value field is a name (Read-Composite, Fetch pack) or an empty container;
 * - the same name twice at the same time is `duplicate`; the same name at different times is a
 *   historical series, kept in payload order.
 *
 * With `etch` (SenML-ETCH, RFC 8790): a pack with any value field is a Patch pack, where every
 * record needs a value field and `null` deletes a resource instance (returned as a record without
 * value at that resource-instance path); otherwise it is a Fetch pack of names, which may carry
 * only n, bn, t, bt, u, bu, bver.
 */
export function resolveSenmlPack(
  pack: readonly SenmlRecord[],
  ctx: CodecContext,
  format: ContentFormatName,
  etch: boolean,
): LwM2mRecord[] {
  const r: Resolver = { ctx, format };
  const limits = resolveLimits(ctx);
  if (pack.length > limits.maxRecords)
    failAt(r, 'too-large', `${pack.length} records exceed the limit of ${limits.maxRecords}`);
  let patch = false;
  if (etch) for (const rec of pack) if (firstValueField(rec) !== undefined) patch = true;
  const parseOptions = ctx.path.alternatePath === undefined ? {} : { alternatePath: ctx.path.alternatePath };
  const defs = new DefinitionCache(ctx);
  const out: LwM2mRecord[] = [];
  let bn = '';
  let bt: number | undefined;
  let bv: SenmlNumber | undefined;
  for (const rec of pack) {
    if (rec.bn !== undefined) bn = rec.bn;
    if (rec.bt !== undefined) bt = rec.bt;
    if (rec.bv !== undefined) bv = rec.bv;
    const field = firstValueField(rec);
    if (field !== undefined && valueFieldCount(rec) > 1)
      failAt(
        r,
        'malformed',
        `a record carries ${valueFieldsOf(rec).join(' and ')}; at most one value field`,
        rec,
      );
    if (
      etch &&
      !patch &&
      (rec.bv !== undefined || rec.bs !== undefined || rec.s !== undefined || rec.ut !== undefined)
    )
      failAt(r, 'malformed', 'a SenML-ETCH Fetch pack carries names only (n, bn, t, bt, u, bu)', rec);
    if (patch && field === undefined)
      failAt(r, 'malformed', 'every record of a SenML-ETCH Patch pack needs a value', rec);

    const name = bn + (rec.n ?? '');
    if (name === '') failAt(r, 'malformed', 'a record has no name (neither bn nor n)', rec);
    let path: LwM2mPath;
    try {
      path = LwM2mPath.parse(name, parseOptions);
    } catch (e) {
      if (!(e instanceof InvalidPathError)) throw e;
      return failAt(r, 'invalid-path', `name "${clip(name)}" is not a LwM2M path: ${e.message}`, rec);
    }
    if (!requestCovers(ctx.path, path))
      failAt(
        r,
        'invalid-path',
        `${path.toString()} is not at or below the request path ${ctx.path.toString()}`,
        rec,
      );
    const time = bt === undefined && rec.t === undefined ? undefined : (bt ?? 0) + (rec.t ?? 0);

    if (field === undefined || rec[field] === null) {
      if (field !== undefined) {
        if (!etch)
          failAt(r, 'malformed', `${path.toString()}: null "${field}" is only meaningful in SenML-ETCH`, rec);
        if (!path.isResourceInstance())
          failAt(
            r,
            'invalid-path',
            `${path.toString()}: null deletes resource instances only (RFC 8790, Core §Write-Composite)`,
            rec,
          );
      }
      out.push(time === undefined ? { path } : { path, time });
      continue;
    }
    const def = defs.get(path);
    checkValuePath(r, path, def, rec);
    const typed = typedValue(r, rec, field, def, path, bv);
    if (def !== undefined)
      out.push(time === undefined ? { path, value: typed } : { path, value: typed, time });
    else
      out.push(
        time === undefined
          ? { path, value: typed, inferred: true }
          : { path, value: typed, time, inferred: true },
      );
  }
  const conflict = findConflict(out);
  if (conflict) {
    const what = conflict.reason === 'duplicate' ? 'appears twice' : 'has a value and values below it';
    const at = conflict.record.time === undefined ? '' : ` at time ${conflict.record.time}`;
    failAt(r, 'duplicate', `${conflict.record.path.toString()} ${what}${at}`);
  }
  return out;
}

/**
 * Whether a record path lies at or below the request path. A composite request on the plain root
 * (`/`) covers everything, gateway-prefixed end-device paths included (Gateway TS: one Send or
 * Read-Composite may mix the gateway's own objects and its end devices').
 */
export function requestCovers(request: LwM2mPath, path: LwM2mPath): boolean {
  if (request.isRoot() && request.prefix === undefined) return true;
  return request.covers(path);
}

/** Values live on resources and resource instances, shaped as the model says. */
function checkValuePath(
  r: Resolver,
  path: LwM2mPath,
  def: ResourceDefinition | undefined,
  rec: SenmlRecord,
): void {
  if (path.depth < 3)
    failAt(r, 'invalid-path', `${path.toString()}: a value needs a resource or resource-instance name`, rec);
  if (def === undefined) return;
  if (path.depth === 3 && def.multiple)
    failAt(
      r,
      'invalid-path',
      `${path.toString()} is a multiple resource; its values need resource-instance names`,
      rec,
    );
  if (path.depth === 4 && !def.multiple)
    failAt(r, 'invalid-path', `${path.toString()} names an instance of a single resource`, rec);
}

function mismatch(
  r: Resolver,
  path: LwM2mPath,
  field: SenmlValueField,
  type: ResourceType,
  rec: SenmlRecord,
): never {
  return failAt(r, 'type-mismatch', `${path.toString()}: "${field}" cannot carry a ${type} value`, rec);
}

/** The LwM2M value of the record's (single, non-null) value field. */
function typedValue(
  r: Resolver,
  rec: SenmlRecord,
  field: SenmlValueField,
  def: ResourceDefinition | undefined,
  path: LwM2mPath,
  bv: SenmlNumber | undefined,
): LwM2mValue {
  const type = def?.type;
  switch (field) {
    case 'v': {
      const raw = rec.v as SenmlNumber;
      const num = bv === undefined ? raw : raw.plus(bv);
      if (type === undefined)
        return num.epochTag ? integerAs(r, num, 'time', path, rec) : inferSenmlNumber(num);
      if (num.epochTag && type !== 'time') return mismatch(r, path, field, type, rec);
      if (type === 'float') return { type, value: num.approx };
      if (type !== 'integer' && type !== 'unsigned' && type !== 'time')
        return mismatch(r, path, field, type, rec);
      return integerAs(r, num, type, path, rec);
    }
    case 'vs': {
      const text = rec.vs as string;
      if (type === undefined || type === 'string') return { type: 'string', value: text };
      if (type === 'corelnk') return { type, value: text };
      return mismatch(r, path, field, type, rec);
    }
    case 'vb':
      if (type !== undefined && type !== 'boolean') return mismatch(r, path, field, type, rec);
      return { type: 'boolean', value: rec.vb as boolean };
    case 'vd': {
      if (type !== undefined && type !== 'opaque') return mismatch(r, path, field, type, rec);
      const vd = rec.vd as string | Uint8Array;
      if (vd instanceof Uint8Array) return { type: 'opaque', value: vd };
      const bytes = decodeBase64(vd) ?? decodeBase64(stripBase64urlPadding(vd));
      if (bytes === undefined)
        return failAt(r, 'bad-base64', `${path.toString()}: "vd" is not base64 or base64url`, rec);
      return { type: 'opaque', value: bytes };
    }
    case 'vlo': {
      if (type !== undefined && type !== 'objlnk') return mismatch(r, path, field, type, rec);
      const link = parseSenmlObjLink(rec.vlo as string);
      if (link === undefined)
        return failAt(
          r,
          'type-mismatch',
          `${path.toString()}: "vlo" ${JSON.stringify(clip(rec.vlo as string))} is not "oid:iid"`,
          rec,
        );
      return { type: 'objlnk', value: link };
    }
  }
}

/** Padded base64url (`-_8=`) is still base64url (RFC 4648 §5); decodeBase64 wants it unpadded. */
function stripBase64urlPadding(text: string): string {
  return /^[A-Za-z0-9_-]*={1,2}$/.test(text) && text.length % 4 === 0 ? text.replace(/=+$/, '') : text;
}

/** An integer-typed value from a number: integral (`type-mismatch` if not), in range (`out-of-range`). */
function integerAs(
  r: Resolver,
  num: SenmlNumber,
  type: 'integer' | 'unsigned' | 'time',
  path: LwM2mPath,
  rec: SenmlRecord,
): LwM2mValue {
  let exact = num.exact;
  // A tagged epoch time is a date-time: LwM2M Time has second resolution, so it is floored.
  if (num.epochTag && !num.integral && Number.isFinite(num.approx)) exact = BigInt(Math.floor(num.approx));
  else if (!num.integral)
    return failAt(r, 'type-mismatch', `${path.toString()}: ${num.approx} is not an integer (${type})`, rec);
  if (exact === undefined)
    return failAt(r, 'out-of-range', `${path.toString()}: ${num.approx} is out of range for ${type}`, rec);
  try {
    return numberAs(exact, type, r.format, path);
  } catch (e) {
    if (e instanceof ContentFormatError && rec.offset !== undefined)
      throw new ContentFormatError(e.reason, e.message, { format: r.format, offset: rec.offset });
    throw e;
  }
}

/**
 * The type an untagged SenML number carries by itself: an integer written as an integer within the
 * 64-bit ranges is Integer (Unsigned past 2^63), anything else is Float.
 */
export function inferSenmlNumber(num: SenmlNumber): LwM2mValue {
  if (!num.float && num.exact !== undefined && num.exact >= INT64_MIN && num.exact <= UINT64_MAX)
    return inferNumber(num.exact);
  return { type: 'float', value: num.approx };
}

/** `oid:iid`, or the `FFFF:FFFF` spelling of the null link some spec examples show. */
export function parseSenmlObjLink(text: string): ObjLink | undefined {
  if (/^ffff:ffff$/i.test(text)) return NULL_OBJLNK;
  return parseObjLink(text);
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

// ---------------------------------------------------------------------------------------------
// Encoding: LwM2M records -> raw records
// ---------------------------------------------------------------------------------------------

/** A record ready to write. `value: null` is a SenML-ETCH delete; no value is a name only. */
export interface SenmlOutRecord {
  readonly bn?: string;
  readonly bt?: number;
  readonly n?: string;
  readonly t?: number;
  readonly value?: LwM2mValue | null;
}

/** The SenML value field that carries a type; undefined for `none` (executables have no value). */
export function senmlValueField(type: ResourceType): SenmlValueField | undefined {
  switch (type) {
    case 'integer':
    case 'unsigned':
    case 'float':
    case 'time':
      return 'v';
    case 'string':
    case 'corelnk':
      return 'vs';
    case 'boolean':
      return 'vb';
    case 'opaque':
      return 'vd';
    case 'objlnk':
      return 'vlo';
    case 'none':
      return undefined;
  }
}

// Lone surrogates would silently become U+FFFD in UTF-8; refuse them instead of changing the value.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when the string has a lone surrogate and so no UTF-8 form. */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/**
 * Turns LwM2M records into raw SenML records, in the given order.
 *
 * Base name: when the records name at least two distinct paths sharing one or more leading
 * segments, the first record carries `bn` = those shared segments with a trailing `/` and every
 * record's `n` is the rest (`/3/0/` + `0`, `9`, `7/0`, as the Core examples show); the shared part
 * always stops short of a whole name, so no `n` is empty. Otherwise (one distinct name, or nothing
 * shared) there is no `bn` and every `n` is the full path. Names are written as sent on the wire
 * (alternate path and gateway prefix included).
 *
 * Time: when every record has a time, the first record carries `bt` = its time and later records a
 * relative `t` (omitted when 0), provided `bt + t` gives each time back exactly as a double;
 * otherwise each timed record carries its absolute `t`.
 *
 * Values are converted to the model's type when the resource is known (exact conversions only);
 * `none` values, and values on objects or instances, are `not-encodable`. With `etch`, a pack with
 * any value is a Patch pack: valueless records at resource-instance paths become `null` (delete),
 * valueless records elsewhere are `not-encodable`; a pack without values is a Fetch pack of names.
 */
export function buildSenmlPack(
  records: NodeSet,
  ctx: CodecContext,
  format: ContentFormatName,
  etch: boolean,
): SenmlOutRecord[] {
  const fail = (reason: ContentFormatReason, message: string): never => {
    throw new ContentFormatError(reason, message, { format });
  };
  const conflict = findConflict(records);
  if (conflict)
    fail(
      'duplicate',
      `${conflict.record.path.toString()} ${conflict.reason === 'duplicate' ? 'appears twice' : 'overlaps a value above it'}`,
    );
  const patch = etch && records.some((rec) => rec.value !== undefined);
  const values: (LwM2mValue | null | undefined)[] = records.map((rec) => {
    const path = rec.path;
    if (!requestCovers(ctx.path, path))
      return fail(
        'invalid-path',
        `${path.toString()} is not at or below the request path ${ctx.path.toString()}`,
      );
    if (rec.time !== undefined && !Number.isFinite(rec.time))
      return fail('not-encodable', `${path.toString()}: time ${rec.time}`);
    if (rec.value === undefined) {
      if (!patch) return undefined;
      if (!path.isResourceInstance())
        return fail(
          'not-encodable',
          `${path.toString()}: a SenML-ETCH Patch pack can only delete resource instances`,
        );
      return null;
    }
    return encodableValue(rec.value, path, lookupResource(ctx, path), fail);
  });

  const names = records.map((rec) => rec.path.toUriPath());
  const base = baseName(names);
  const baseTime = chooseBaseTime(records);
  return records.map((rec, i) => {
    const name = names[i]!;
    const out: { bn?: string; bt?: number; n?: string; t?: number; value?: LwM2mValue | null } = {};
    if (i === 0 && base !== undefined) out.bn = base;
    if (i === 0 && baseTime !== undefined) out.bt = baseTime;
    out.n = base === undefined ? name : name.slice(base.length);
    const value = values[i];
    if (value !== undefined) out.value = value;
    if (rec.time !== undefined) {
      const t = baseTime === undefined ? rec.time : rec.time - baseTime;
      if (t !== 0 || baseTime === undefined) out.t = t;
    }
    return out;
  });
}

function encodableValue(
  value: LwM2mValue,
  path: LwM2mPath,
  def: ResourceDefinition | undefined,
  fail: (reason: ContentFormatReason, message: string) => never,
): LwM2mValue {
  if (path.depth < 3)
    return fail('not-encodable', `${path.toString()}: values belong to resources or resource instances`);
  if (def !== undefined && path.depth === 3 && def.multiple)
    return fail(
      'not-encodable',
      `${path.toString()} is a multiple resource; its values need resource-instance paths`,
    );
  if (def !== undefined && path.depth === 4 && !def.multiple)
    return fail('not-encodable', `${path.toString()} names an instance of a single resource`);
  let v = value;
  if (def !== undefined && def.type !== v.type) {
    try {
      v = convertValue(v, def.type);
    } catch (e) {
      if (!(e instanceof TypeConversionError)) throw e;
      return fail('not-encodable', `${path.toString()}: ${e.message}`);
    }
  }
  if (v.type === 'none')
    return fail('not-encodable', `${path.toString()}: an executable resource has no SenML value`);
  if ((v.type === 'string' || v.type === 'corelnk') && hasLoneSurrogate(v.value))
    return fail('not-encodable', `${path.toString()}: string is not valid Unicode (lone surrogate)`);
  return v;
}

/** The base name per the rule in buildSenmlPack, or undefined for none. */
export function baseName(names: readonly string[]): string | undefined {
  const distinct = [...new Set(names)];
  if (distinct.length < 2) return undefined;
  const split = distinct.map((n) => (n === '/' ? [] : n.slice(1).split('/')));
  let shared = split.reduce((min, s) => Math.min(min, s.length), Infinity) - 1; // stop short of a whole name
  const first = split[0]!;
  for (let k = 0; k < shared; k++) {
    if (!split.every((s) => s[k] === first[k])) {
      shared = k;
      break;
    }
  }
  return shared >= 1 ? `/${first.slice(0, shared).join('/')}/` : undefined;
}

function chooseBaseTime(records: NodeSet): number | undefined {
  const first = records[0]?.time;
  if (first === undefined) return undefined;
  for (const r of records) if (r.time === undefined || first + (r.time - first) !== r.time) return undefined;
  return first;
}
