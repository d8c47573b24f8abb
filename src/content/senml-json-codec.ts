import type { LwM2mValue } from '../model/data-types.js';
import { formatObjLink } from '../model/data-types.js';
import type { LwM2mRecord, NodeSet } from '../model/records.js';
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
  hasLoneSurrogate,
  isMustUnderstand,
  resolveSenmlPack,
  senmlValueField,
} from './senml-record.js';

/**
 * SenML JSON (CF 110, RFC 8428 §5) and SenML-ETCH JSON (CF 320, RFC 8790). A pack is a JSON array
 * of flat objects, so instead of JSON.parse we read exactly that shape with a small byte-level
 * reader: nothing nested is accepted (so walking is bounded by construction), byte offsets are
 * exact, and numbers keep their source digits (an Unsigned 18446744073709551615 stays exact).
 */

const JSON_FIELDS: ReadonlySet<string> = new Set<SenmlField>([
  'bver',
  'bn',
  'bt',
  'bu',
  'bv',
  'bs',
  'n',
  'u',
  'v',
  'vs',
  'vb',
  's',
  't',
  'ut',
  'vd',
  'vlo',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads `[ {..}, {..} ]` where every member value is a string, number, true, false or null. */
class PackReader {
  private i = 0;
  /** Offset of the value being assigned, for field errors (see failField). */
  private valueAt = 0;
  /** One callback for assignSenmlField per pack (not one closure per field). */
  private readonly failField = (reason: ContentFormatReason, message: string): never =>
    this.fail(reason, message, this.valueAt);

  constructor(
    private readonly b: Uint8Array,
    private readonly format: ContentFormatName,
    private readonly maxRecords: number,
  ) {
    // RFC 8259 §8.1: a parser may ignore a leading byte order mark.
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) this.i = 3;
  }

  private fail(reason: ContentFormatReason, message: string, at = this.i): never {
    throw new ContentFormatError(reason, `JSON: ${message}`, { format: this.format, offset: at });
  }

  /** `truncated` at the end of input, `malformed` on an unexpected byte. */
  private unexpected(expected: string): never {
    if (this.i >= this.b.length) this.fail('truncated', `input ends where ${expected} was expected`);
    const c = this.b[this.i]!;
    const shown =
      c >= 0x20 && c < 0x7f ? `"${String.fromCharCode(c)}"` : `byte 0x${c.toString(16).padStart(2, '0')}`;
    return this.fail('malformed', `${shown} where ${expected} was expected`);
  }

  private ws(): void {
    const b = this.b;
    while (this.i < b.length) {
      const c = b[this.i]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.i++;
    }
  }

  private peek(): number | undefined {
    return this.b[this.i];
  }

  readPack(): SenmlRecord[] {
    this.ws();
    if (this.i >= this.b.length) this.fail('truncated', 'empty payload');
    if (this.peek() !== 0x5b) this.fail('malformed', 'a SenML pack is a JSON array');
    this.i++;
    const pack: SenmlRecord[] = [];
    this.ws();
    if (this.peek() === 0x5d) {
      this.i++;
    } else {
      for (;;) {
        if (pack.length >= this.maxRecords) this.fail('too-large', `more than ${this.maxRecords} records`);
        pack.push(this.readRecord());
        this.ws();
        const c = this.peek();
        if (c === 0x2c) {
          this.i++;
          this.ws();
          continue;
        }
        if (c === 0x5d) {
          this.i++;
          break;
        }
        this.unexpected('"," or "]"');
      }
    }
    this.ws();
    if (this.i < this.b.length) this.fail('trailing-bytes', `${this.b.length - this.i} bytes after the pack`);
    return pack;
  }

  private readRecord(): SenmlRecord {
    const start = this.i;
    const c = this.peek();
    if (c === 0x5b) this.fail('malformed', 'a record is a JSON object, not a nested array');
    if (c !== 0x7b) this.unexpected('a record (JSON object)');
    this.i++;
    const rec: SenmlRecord = { offset: start };
    this.ws();
    if (this.peek() === 0x7d) {
      this.i++;
      return rec;
    }
    for (;;) {
      if (this.peek() !== 0x22) this.unexpected('a field name (string)');
      const keyAt = this.i;
      const key = this.readString();
      this.ws();
      if (this.peek() !== 0x3a) this.unexpected('":"');
      this.i++;
      this.ws();
      const valueAt = this.i;
      const value = this.readScalar();
      if (JSON_FIELDS.has(key)) {
        this.valueAt = valueAt;
        assignSenmlField(rec, key as SenmlField, value, false, this.failField);
      } else if (isMustUnderstand(key)) {
        this.fail('malformed', `must-understand field "${key}" is not supported (RFC 8428 §4.4)`, keyAt);
      }
      this.ws();
      const d = this.peek();
      if (d === 0x2c) {
        this.i++;
        this.ws();
        continue;
      }
      if (d === 0x7d) {
        this.i++;
        return rec;
      }
      this.unexpected('"," or "}"');
    }
  }

  private readScalar(): SenmlScalar {
    const c = this.peek();
    if (c === 0x22) return this.readString();
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return this.readNumber();
    if (c === 0x74) return this.literal('true', true);
    if (c === 0x66) return this.literal('false', false);
    if (c === 0x6e) return this.literal('null', null);
    if (c === 0x7b || c === 0x5b)
      this.fail('malformed', 'a SenML record is flat; nested objects or arrays are not allowed');
    return this.unexpected('a value');
  }

  private literal<T>(word: string, value: T): T {
    for (let k = 0; k < word.length; k++) {
      if (this.b[this.i + k] !== word.charCodeAt(k)) {
        this.i += k;
        this.unexpected(`"${word}"`);
      }
    }
    this.i += word.length;
    return value;
  }

  /** A JSON number (RFC 8259 §6), kept exact through its digits. */
  private readNumber(): SenmlNumber {
    const b = this.b;
    const start = this.i;
    if (b[this.i] === 0x2d) this.i++;
    if (b[this.i] === 0x30) this.i++;
    else if (this.digits() === 0) this.unexpected('a digit');
    if (b[this.i] === 0x2e) {
      this.i++;
      if (this.digits() === 0) this.unexpected('a digit after "."');
    }
    if (b[this.i] === 0x65 || b[this.i] === 0x45) {
      this.i++;
      if (b[this.i] === 0x2b || b[this.i] === 0x2d) this.i++;
      if (this.digits() === 0) this.unexpected('an exponent digit');
    }
    // The number grammar above admits ASCII only; apply() is fastest for short runs but has an
    // argument-count limit, so long ones go through Buffer.
    const text =
      this.i - start <= 64
        ? String.fromCharCode.apply(null, b.subarray(start, this.i) as unknown as number[])
        : Buffer.from(b.buffer, b.byteOffset + start, this.i - start).toString('latin1');
    const num = SenmlNumber.decimal(text);
    if (!Number.isFinite(num.approx))
      this.fail('out-of-range', `${text.slice(0, 40)} is beyond the double range`, start);
    return num;
  }

  /** Skips a run of digits; returns how many. */
  private digits(): number {
    const b = this.b;
    const from = this.i;
    while (this.i < b.length && b[this.i]! >= 0x30 && b[this.i]! <= 0x39) this.i++;
    return this.i - from;
  }

  /** A JSON string; bytes inside must be UTF-8, escapes must be complete and pair surrogates. */
  private readString(): string {
    const b = this.b;
    const start = ++this.i; // past the opening quote
    let out = '';
    let from = start;
    let unicodeEscape = false;
    for (;;) {
      if (this.i >= b.length) this.fail('truncated', 'unterminated string', start - 1);
      const c = b[this.i]!;
      if (c === 0x22) break;
      if (c < 0x20) this.fail('malformed', 'control character in a string (must be escaped)');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += this.text(from, this.i);
      this.i++;
      const e = b[this.i];
      const simple = e === undefined ? undefined : ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        this.i++;
      } else if (e === 0x75) {
        let code = 0;
        for (let k = 1; k <= 4; k++) {
          const h = hexValue(b[this.i + k]);
          if (h < 0) {
            this.i += k;
            this.unexpected('a hex digit in a \\u escape');
          }
          code = code * 16 + h;
        }
        out += String.fromCharCode(code);
        unicodeEscape = true;
        this.i += 5;
      } else {
        this.unexpected('an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
      }
      from = this.i;
    }
    out += this.text(from, this.i);
    this.i++; // closing quote
    // Only a \u escape can leave a lone surrogate: the fatal UTF-8 decoder refuses encoded ones.
    if (unicodeEscape && hasLoneSurrogate(out))
      this.fail('malformed', 'a \\u escape leaves a lone surrogate', start - 1);
    return out;
  }

  private text(from: number, to: number): string {
    const b = this.b;
    let ascii = to - from < 256;
    for (let k = from; ascii && k < to; k++) if (b[k]! >= 0x80) ascii = false;
    if (ascii) {
      // Field names and LwM2M paths are a few ASCII bytes: build them directly. Longer runs use
      // apply(), which takes the typed array as an array-like (spreading it would iterate).
      if (to - from <= 16) {
        let s = '';
        for (let k = from; k < to; k++) s += String.fromCharCode(b[k]!);
        return s;
      }
      return String.fromCharCode.apply(null, b.subarray(from, to) as unknown as number[]);
    }
    const slice = b.subarray(from, to);
    try {
      return utf8.decode(slice);
    } catch {
      return this.fail('bad-utf8', 'string is not valid UTF-8', from);
    }
  }
}

const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: '\\',
  0x2f: '/',
  0x62: '\b',
  0x66: '\f',
  0x6e: '\n',
  0x72: '\r',
  0x74: '\t',
};

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Parses a SenML JSON pack into raw records (no resolution yet). */
export function parseSenmlJson(
  bytes: Uint8Array,
  format: ContentFormatName,
  maxRecords: number,
): SenmlRecord[] {
  return new PackReader(bytes, format, maxRecords).readPack();
}

// ---- writing ----

/** A double as a JSON number; integral floats keep a `.0` so they read back as floats. */
function jsonFloat(f: number): string {
  if (Object.is(f, -0)) return '-0.0';
  const s = String(f);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Times: integers as integers, fractional seconds as they are. */
function jsonTime(t: number): string {
  return String(t);
}

function jsonValue(v: LwM2mValue, format: ContentFormatName): string {
  const field = senmlValueField(v.type);
  switch (v.type) {
    case 'integer':
    case 'unsigned':
    case 'time':
      return `"${field}":${String(v.value)}`;
    case 'float':
      if (!Number.isFinite(v.value))
        throw new ContentFormatError('not-encodable', `${v.value} has no JSON number form`, { format });
      return `"v":${jsonFloat(v.value)}`;
    case 'string':
    case 'corelnk':
      return `"vs":${JSON.stringify(v.value)}`;
    case 'boolean':
      return `"vb":${v.value}`;
    case 'opaque':
      // CL122: base64url without padding (RFC 8428 §5 says base64url); decoders accept both.
      return `"vd":"${Buffer.from(v.value.buffer, v.value.byteOffset, v.value.byteLength).toString('base64url')}"`;
    case 'objlnk':
      return `"vlo":"${formatObjLink(v.value)}"`;
    case 'none':
      throw new ContentFormatError('not-encodable', 'an executable resource has no SenML value', { format });
  }
}

function writeRecord(rec: SenmlOutRecord, format: ContentFormatName): string {
  const parts: string[] = [];
  if (rec.bn !== undefined) parts.push(`"bn":${JSON.stringify(rec.bn)}`);
  if (rec.bt !== undefined) parts.push(`"bt":${jsonTime(rec.bt)}`);
  if (rec.n !== undefined) parts.push(`"n":${JSON.stringify(rec.n)}`);
  if (rec.value === null) parts.push('"v":null');
  else if (rec.value !== undefined) parts.push(jsonValue(rec.value, format));
  if (rec.t !== undefined) parts.push(`"t":${jsonTime(rec.t)}`);
  return `{${parts.join(',')}}`;
}

/** Writes raw records as a SenML JSON pack (no whitespace). */
export function writeSenmlJson(pack: readonly SenmlOutRecord[], format: ContentFormatName): Uint8Array {
  return new TextEncoder().encode(`[${pack.map((r) => writeRecord(r, format)).join(',')}]`);
}

function makeCodec(name: 'senml-json' | 'senml-etch-json', etch: boolean): ContentCodec {
  const format = lookupContentFormat(name) as ContentFormat;
  return {
    format,
    decode(bytes: Uint8Array, ctx: CodecContext): LwM2mRecord[] {
      const pack = parseSenmlJson(bytes, name, resolveLimits(ctx).maxRecords);
      return resolveSenmlPack(pack, ctx, name, etch);
    },
    encode(records: NodeSet, ctx: CodecContext): Uint8Array {
      return writeSenmlJson(buildSenmlPack(records, ctx, name, etch), name);
    },
  };
}

/** SenML JSON (CF 110). Name-only records are allowed (Read-Composite bodies, empty containers). */
export const senmlJsonCodec: ContentCodec = makeCodec('senml-json', false);

/**
 * SenML-ETCH JSON (CF 320, RFC 8790): a Fetch pack of names, or a Patch pack where every record has
 * a value and `"v": null` deletes a resource instance (decoded as a record without value).
 */
export const senmlEtchJsonCodec: ContentCodec = makeCodec('senml-etch-json', true);
