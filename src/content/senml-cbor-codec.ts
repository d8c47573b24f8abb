import type { LwM2mValue } from '../model/data-types.js';
import { formatObjLink } from '../model/data-types.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
import type { CborValue } from './cbor/cbor-reader.js';
import { CborFloat, CborMap, CborTagged, decodeCbor } from './cbor/cbor-reader.js';
import { CborWriter } from './cbor/cbor-writer.js';
import type { CodecContext, ContentCodec } from './content-codec.js';
import { resolveLimits } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import type { ContentFormatReason } from './content-format-error.js';
import type { ContentFormat, ContentFormatName } from './content-format.js';
import { lookupContentFormat } from './content-format.js';
import type { SenmlField, SenmlOutRecord, SenmlRecord, SenmlScalar } from './senml-record.js';
import {
  SenmlNumber,
  assignSenmlField,
  buildSenmlPack,
  isMustUnderstand,
  resolveSenmlPack,
} from './senml-record.js';

/**
 * SenML CBOR (CF 112, RFC 8428 §6) and SenML-ETCH CBOR (CF 322, RFC 8790) on our own CBOR core.
 * Fields use the RFC 8428 integer labels; LwM2M's object link uses the text key "vlo".
 */

/** RFC 8428 §6 Table 4 labels. */
export const SENML_CBOR_LABELS: ReadonlyMap<number, SenmlField> = new Map<number, SenmlField>([
  [-1, 'bver'],
  [-2, 'bn'],
  [-3, 'bt'],
  [-4, 'bu'],
  [-5, 'bv'],
  [-6, 'bs'],
  [0, 'n'],
  [1, 'u'],
  [2, 'v'],
  [3, 'vs'],
  [4, 'vb'],
  [5, 's'],
  [6, 't'],
  [7, 'ut'],
  [8, 'vd'],
]);

const LABEL_OF = new Map<SenmlField, number>([...SENML_CBOR_LABELS].map(([k, v]) => [v, k]));

/** A pack is array -> map -> value, plus one tag (epoch time); anything deeper is refused early. */
const SENML_CBOR_DEPTH = 4;

/** The field a map key names; undefined for keys we ignore (unknown labels, RFC 8428 §4.4). */
function fieldOf(
  key: CborValue,
  fail: (reason: ContentFormatReason, message: string) => never,
): SenmlField | undefined {
  if (typeof key === 'number') return SENML_CBOR_LABELS.get(key);
  if (typeof key === 'bigint') return undefined;
  if (typeof key === 'string') {
    if (key === 'vlo') return 'vlo';
    if (isMustUnderstand(key))
      fail('malformed', `must-understand field "${key}" is not supported (RFC 8428 §4.4)`);
    return undefined;
  }
  return fail('malformed', 'a SenML CBOR key is an integer label or a text string');
}

function scalarOf(
  field: SenmlField,
  v: CborValue,
  fail: (reason: ContentFormatReason, message: string) => never,
): SenmlScalar {
  if (typeof v === 'number' || typeof v === 'bigint') return SenmlNumber.int(v);
  if (v instanceof CborFloat) return SenmlNumber.float(v.value);
  if (typeof v === 'string' || typeof v === 'boolean' || v === null || v instanceof Uint8Array) return v;
  // RFC 8949 §3.4.2: tag 1 = epoch-based date/time; accepted around a value (Time resources).
  if (v instanceof CborTagged && v.tag === 1 && field === 'v') {
    if (typeof v.value === 'number' || typeof v.value === 'bigint')
      return new SenmlNumber(Number(v.value), false, true, BigInt(v.value), true);
    if (v.value instanceof CborFloat) return SenmlNumber.float(v.value.value, true);
  }
  return fail('malformed', `field "${field}" holds a CBOR item SenML does not allow`);
}

/** Parses a SenML CBOR pack into raw records (no resolution yet). */
export function parseSenmlCbor(
  bytes: Uint8Array,
  format: ContentFormatName,
  maxDepth: number,
  maxRecords: number,
): SenmlRecord[] {
  const fail = (reason: ContentFormatReason, message: string): never => {
    throw new ContentFormatError(reason, message, { format });
  };
  const item = decodeCbor(bytes, { format, maxDepth: Math.min(maxDepth, SENML_CBOR_DEPTH) });
  if (!Array.isArray(item)) return fail('malformed', 'a SenML pack is a CBOR array');
  if (item.length > maxRecords) fail('too-large', `${item.length} records exceed the limit of ${maxRecords}`);
  // One failure callback for the whole pack (not one per record); it names the current record.
  let index = 0;
  const at = (reason: ContentFormatReason, message: string): never =>
    fail(reason, `record ${index}: ${message}`);
  const pack: SenmlRecord[] = [];
  for (; index < item.length; index++) {
    const entry = item[index];
    if (Array.isArray(entry)) return fail('malformed', `record ${index} is a nested array, not a map`);
    if (!(entry instanceof CborMap)) return fail('malformed', `record ${index} is not a CBOR map`);
    const rec: SenmlRecord = {};
    const entries = entry.entries;
    for (let k = 0; k < entries.length; k++) {
      const pair = entries[k]!;
      const field = fieldOf(pair[0], at);
      if (field === undefined) continue;
      assignSenmlField(rec, field, scalarOf(field, pair[1], at), true, at);
    }
    pack.push(rec);
  }
  return pack;
}

// ---- writing ----

function writeNumber(w: CborWriter, n: number): void {
  if (Number.isSafeInteger(n)) w.int(n);
  else w.float(n);
}

function writeValue(w: CborWriter, v: LwM2mValue, format: ContentFormatName): void {
  switch (v.type) {
    case 'integer':
    case 'unsigned':
    case 'time':
      w.int(LABEL_OF.get('v')!).int(v.value);
      return;
    case 'float':
      w.int(LABEL_OF.get('v')!).float(v.value);
      return;
    case 'string':
    case 'corelnk':
      w.int(LABEL_OF.get('vs')!).text(v.value);
      return;
    case 'boolean':
      w.int(LABEL_OF.get('vb')!).bool(v.value);
      return;
    case 'opaque':
      w.int(LABEL_OF.get('vd')!).bytes(v.value);
      return;
    case 'objlnk':
      w.text('vlo').text(formatObjLink(v.value));
      return;
    case 'none':
      throw new ContentFormatError('not-encodable', 'an executable resource has no SenML value', { format });
  }
}

/** Writes raw records as a SenML CBOR pack: ints in their shortest form, floats in the smallest exact width. */
export function writeSenmlCbor(pack: readonly SenmlOutRecord[], format: ContentFormatName): Uint8Array {
  const w = new CborWriter();
  w.arrayHeader(pack.length);
  for (const rec of pack) {
    const size =
      (rec.bn !== undefined ? 1 : 0) +
      (rec.bt !== undefined ? 1 : 0) +
      (rec.n !== undefined ? 1 : 0) +
      (rec.value !== undefined ? 1 : 0) +
      (rec.t !== undefined ? 1 : 0);
    w.mapHeader(size);
    if (rec.bn !== undefined) w.int(LABEL_OF.get('bn')!).text(rec.bn);
    if (rec.bt !== undefined) writeNumber(w.int(LABEL_OF.get('bt')!), rec.bt);
    if (rec.n !== undefined) w.int(LABEL_OF.get('n')!).text(rec.n);
    if (rec.value === null) w.int(LABEL_OF.get('v')!).null();
    else if (rec.value !== undefined) writeValue(w, rec.value, format);
    if (rec.t !== undefined) writeNumber(w.int(LABEL_OF.get('t')!), rec.t);
  }
  return w.finish();
}

function makeCodec(name: 'senml-cbor' | 'senml-etch-cbor', etch: boolean): ContentCodec {
  const format = lookupContentFormat(name) as ContentFormat;
  return {
    format,
    decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
      const limits = resolveLimits(ctx);
      return resolveSenmlPack(
        parseSenmlCbor(bytes, name, limits.maxDepth, limits.maxRecords),
        ctx,
        name,
        etch,
      );
    },
    encode(records: NodeSet, ctx: CodecContext): Uint8Array {
      return writeSenmlCbor(buildSenmlPack(records, ctx, name, etch), name);
    },
  };
}

/** SenML CBOR (CF 112). Name-only records are allowed (Read-Composite bodies, empty containers). */
export const senmlCborCodec: ContentCodec = makeCodec('senml-cbor', false);

/**
 * SenML-ETCH CBOR (CF 322, RFC 8790): a Fetch pack of names, or a Patch pack where every record has
 * a value and a CBOR `null` value deletes a resource instance (decoded as a record without value).
 */
export const senmlEtchCborCodec: ContentCodec = makeCodec('senml-etch-cbor', true);
