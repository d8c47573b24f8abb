// Values of each LwM2M data type (Core TS Appendix C) between the console's inputs and the API's
// JSON value convention (`petrel codec`): drafts (what an input holds), their validation and
// conversion, and the text a value is shown as.
import type { JsonValue, ResourceType } from '../api-types.js';

/** What an input holds while the user edits it, per data type. */
export type Draft =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'opaque'; readonly text: string; readonly encoding: 'hex' | 'base64' }
  | { readonly kind: 'objlnk'; readonly oid: string; readonly iid: string }
  | { readonly kind: 'time'; readonly text: string }
  | { readonly kind: 'none' };

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;
export const MAX_ID = 65535;
/** Most bytes an opaque input takes (the console is not a firmware uploader). */
export const MAX_OPAQUE_BYTES = 65536;

export interface NumericRange {
  readonly min?: number;
  readonly max?: number;
}

/** The model's range (`"0..100"`, `"-40..85"`, `{min, max}`); enumerations and other text give none. */
export function parseRange(range: unknown): NumericRange | undefined {
  if (typeof range === 'string') {
    const m = /^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*\.\.\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$/.exec(range);
    if (!m) return undefined;
    return { min: Number(m[1]), max: Number(m[2]) };
  }
  if (range !== null && typeof range === 'object') {
    const r = range as { min?: unknown; max?: unknown };
    const out: { min?: number; max?: number } = {};
    if (typeof r.min === 'number') out.min = r.min;
    if (typeof r.max === 'number') out.max = r.max;
    return out.min === undefined && out.max === undefined ? undefined : out;
  }
  return undefined;
}

export function describeRange(range: NumericRange | undefined): string {
  if (!range) return '';
  if (range.min !== undefined && range.max !== undefined) return `${range.min}..${range.max}`;
  if (range.min !== undefined) return `≥ ${range.min}`;
  return `≤ ${range.max}`;
}

/** The empty input of a data type. */
export function emptyDraft(type: ResourceType): Draft {
  switch (type) {
    case 'boolean':
      return { kind: 'bool', value: false };
    case 'opaque':
      return { kind: 'opaque', text: '', encoding: 'hex' };
    case 'objlnk':
      return { kind: 'objlnk', oid: '', iid: '' };
    case 'time':
      return { kind: 'time', text: '' };
    case 'none':
      return { kind: 'none' };
    default:
      return { kind: 'text', text: '' };
  }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Unix seconds as the value of a `datetime-local` input (read as UTC): `2024-01-02T03:04:05`. */
export function secondsToDateTimeInput(seconds: number): string {
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) return '';
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** A `datetime-local` value (UTC) or plain Unix seconds -> Unix seconds. */
export function parseTimeInput(text: string): Parsed<number> {
  const t = text.trim();
  if (/^-?[0-9]+$/.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? ok(n) : fail('time out of range');
  }
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?Z?$/.exec(
    t,
  );
  if (!m) return fail('expected a date and time (UTC) or Unix seconds');
  const part = (i: number): number => (m[i] === undefined ? 0 : Number(m[i]));
  const [y, mo, d, h, mi, s] = [part(1), part(2), part(3), part(4), part(5), part(6)];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
    return fail('not a valid date and time');
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (check.getUTCDate() !== d) return fail('not a valid date');
  return ok(Math.floor(ms / 1000));
}

const HEX_BYTE = /^[0-9a-f]$/i;

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Hex as the user may type it (spaces, colons, a 0x) -> lowercase digits, or an error. */
export function normalizeHex(text: string): Parsed<string> {
  let t = text.replace(/[\s:]/g, '');
  if (/^0x/i.test(t)) t = t.slice(2);
  if (t.length % 2 !== 0) return fail('hex needs an even number of digits');
  for (const ch of t) if (!HEX_BYTE.test(ch)) return fail(`"${ch}" is not a hex digit`);
  if (t.length / 2 > MAX_OPAQUE_BYTES) return fail(`more than ${MAX_OPAQUE_BYTES} bytes`);
  return ok(t.toLowerCase());
}

export function base64ToHex(text: string): Parsed<string> {
  const t = text.replace(/\s/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.replace(/=+$/, '').length % 4 === 1)
    return fail('not valid base64');
  if ((t.length * 3) / 4 > MAX_OPAQUE_BYTES + 3) return fail(`more than ${MAX_OPAQUE_BYTES} bytes`);
  const padded = t.replace(/=+$/, '');
  const full = padded + '='.repeat((4 - (padded.length % 4)) % 4);
  const binary = atob(full);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return ok(bytesToHex(bytes));
}

export function hexToBase64(hex: string): string {
  let binary = '';
  for (const b of hexToBytes(hex)) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** An integer as text, checked against the type's 64-bit bounds; past 2^53 it stays a decimal string. */
export function parseInteger(
  text: string,
  type: 'integer' | 'unsigned',
  range?: NumericRange,
): Parsed<JsonValue> {
  const t = text.trim();
  if (!/^[+-]?[0-9]+$/.test(t)) return fail('expected a whole number');
  const n = BigInt(t);
  const [min, max] = type === 'unsigned' ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
  if (n < min || n > max)
    return fail(type === 'unsigned' ? 'must be between 0 and 2^64-1' : 'must fit in a signed 64-bit integer');
  if (range?.min !== undefined && Number(n) < range.min) return fail(`must be at least ${range.min}`);
  if (range?.max !== undefined && Number(n) > range.max) return fail(`must be at most ${range.max}`);
  const num = Number(n);
  return ok(Number.isSafeInteger(num) ? num : n.toString());
}

export function parseFloatText(text: string, range?: NumericRange): Parsed<JsonValue> {
  const t = text.trim();
  if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(t)) return fail('expected a number');
  const n = Number(t);
  if (!Number.isFinite(n)) return fail('out of the float range');
  if (range?.min !== undefined && n < range.min) return fail(`must be at least ${range.min}`);
  if (range?.max !== undefined && n > range.max) return fail(`must be at most ${range.max}`);
  return ok(n);
}

function parseId(text: string, what: string): Parsed<number> {
  const t = text.trim();
  if (!/^[0-9]{1,5}$/.test(t) || Number(t) > MAX_ID) return fail(`${what} must be 0..${MAX_ID}`);
  return ok(Number(t));
}

/** A draft -> the JSON value the API takes for a resource of `type`, or why it cannot be. */
export function parseDraft(type: ResourceType, draft: Draft, range?: NumericRange): Parsed<JsonValue> {
  switch (type) {
    case 'string':
    case 'corelnk':
      return draft.kind === 'text' ? ok(draft.text) : fail('expected text');
    case 'integer':
    case 'unsigned':
      return draft.kind === 'text' ? parseInteger(draft.text, type, range) : fail('expected a number');
    case 'float':
      return draft.kind === 'text' ? parseFloatText(draft.text, range) : fail('expected a number');
    case 'boolean':
      return draft.kind === 'bool' ? ok(draft.value) : fail('expected true or false');
    case 'time': {
      if (draft.kind !== 'time' && draft.kind !== 'text') return fail('expected a time');
      return parseTimeInput(draft.text);
    }
    case 'opaque': {
      if (draft.kind !== 'opaque') return fail('expected bytes');
      const hex = draft.encoding === 'hex' ? normalizeHex(draft.text) : base64ToHex(draft.text);
      return hex.ok ? ok({ hex: hex.value }) : hex;
    }
    case 'objlnk': {
      if (draft.kind !== 'objlnk') return fail('expected an object link');
      const oid = parseId(draft.oid, 'object id');
      if (!oid.ok) return oid;
      const iid = parseId(draft.iid, 'instance id');
      if (!iid.ok) return iid;
      return ok(`${oid.value}:${iid.value}`);
    }
    case 'none':
      return ok(null);
  }
}

const scalarText = (v: string | number | boolean): string => String(v);

/** The input for an existing value (to edit what was read). */
export function draftFromValue(type: ResourceType, value: JsonValue | undefined): Draft {
  if (value === undefined || value === null) return emptyDraft(type);
  switch (type) {
    case 'boolean':
      return { kind: 'bool', value: value === true || value === 1 || value === 'true' };
    case 'opaque':
      return {
        kind: 'opaque',
        text: typeof value === 'object' ? value.hex : scalarText(value),
        encoding: 'hex',
      };
    case 'objlnk': {
      const [oid = '', iid = ''] = (typeof value === 'object' ? '' : scalarText(value)).split(':');
      return { kind: 'objlnk', oid, iid };
    }
    case 'time':
      return {
        kind: 'time',
        text:
          typeof value === 'number'
            ? secondsToDateTimeInput(value)
            : typeof value === 'object'
              ? ''
              : scalarText(value),
      };
    case 'none':
      return { kind: 'none' };
    default:
      return { kind: 'text', text: typeof value === 'object' ? value.hex : scalarText(value) };
  }
}

/** A value as the console shows it. */
export function formatValue(type: ResourceType | undefined, value: unknown): string {
  if (value === undefined) return '';
  if (value === null) return '—';
  if (Array.isArray(value))
    return value
      .map((e: unknown) => {
        const entry = e as { t?: unknown; v?: unknown };
        const when = typeof entry.t === 'number' ? new Date(entry.t * 1000).toISOString() : '?';
        return `${when}: ${formatValue(type, entry.v)}`;
      })
      .join(', ');
  if (typeof value === 'object') {
    const hex = (value as { hex?: unknown }).hex;
    if (typeof hex === 'string') {
      const n = hex.length / 2;
      const shown = hex.length > 64 ? `${hex.slice(0, 64)}…` : hex;
      return `0x${shown} (${n} byte${n === 1 ? '' : 's'})`;
    }
    return JSON.stringify(value);
  }
  if (type === 'time' && typeof value === 'number') {
    const d = new Date(value * 1000);
    return Number.isNaN(d.getTime()) ? String(value) : `${d.toISOString().replace('.000Z', 'Z')} (${value})`;
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : JSON.stringify(value);
}

/** The number a value charts as; undefined when it is not numeric. */
export function numericValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export const isNumericType = (type: ResourceType | undefined): boolean =>
  type === 'integer' || type === 'unsigned' || type === 'float';

export interface InstanceDraft {
  readonly id: string;
  readonly draft: Draft;
}

/**
 * The instances of a multiple resource -> flat values under `resourcePath`
 * (`{"/3/0/7/0": 3800, ...}`), checking the ids are 0..65535 and distinct.
 */
export function parseInstances(
  type: ResourceType,
  resourcePath: string,
  rows: readonly InstanceDraft[],
  range?: NumericRange,
): Parsed<Record<string, JsonValue>> {
  const out: Record<string, JsonValue> = {};
  for (const [i, row] of rows.entries()) {
    const id = parseId(row.id, `instance ${i + 1}: id`);
    if (!id.ok) return id;
    const key = `${resourcePath}/${id.value}`;
    if (key in out) return fail(`instance id ${id.value} appears twice`);
    const v = parseDraft(type, row.draft, range);
    if (!v.ok) return fail(`instance ${id.value}: ${v.error}`);
    out[key] = v.value;
  }
  return ok(out);
}

/** The instances of a multiple resource found in read values, ordered by id. */
export function instancesFromValues(
  type: ResourceType,
  resourcePath: string,
  values: Readonly<Record<string, unknown>> | undefined,
): InstanceDraft[] {
  if (!values) return [];
  const prefix = `${resourcePath}/`;
  return Object.entries(values)
    .filter(([p]) => p.startsWith(prefix) && /^[0-9]+$/.test(p.slice(prefix.length)))
    .map(([p, v]) => ({ id: p.slice(prefix.length), draft: draftFromValue(type, v as JsonValue) }))
    .sort((a, b) => Number(a.id) - Number(b.id));
}
