import { PetrelError } from '../errors.js';
import { MAX_ID } from './ids.js';

/** Why a path was refused; stable values for callers and tests. */
export type InvalidPathReason =
  | 'not-absolute'
  | 'empty-segment'
  | 'not-a-number'
  | 'reserved-id'
  | 'out-of-range'
  | 'too-deep'
  | 'bad-prefix'
  | 'bad-alternate-path';

export class InvalidPathError extends PetrelError {
  readonly reason: InvalidPathReason;
  readonly path: string;
  constructor(reason: InvalidPathReason, path: string, detail: string) {
    super('PETREL_ERR_INVALID_PATH', `invalid LwM2M path "${path}": ${detail}`);
    this.reason = reason;
    this.path = path;
  }
}

export interface PathParseOptions {
  /**
   * The client's alternate path (from `</lwm2m>;rt="oma.lwm2m"` in its Register payload), e.g. `/lwm2m`.
   * When given, a path starting with it has it stripped and recorded; `/` means none.
   */
  alternatePath?: string;
  /** Accept a gateway prefix (`/d01/3303/0`). Default true. */
  allowPrefix?: boolean;
}

// Gateway TS: the prefix is a text segment that must not look like an identifier.
const PREFIX_RE = /^[A-Za-z_~.-][A-Za-z0-9_~.-]*$/;
const DIGITS_RE = /^(0|[1-9][0-9]*)$/;
const TRUSTED = Symbol('trusted');

function checkId(text: string, id: number): void {
  if (!Number.isInteger(id) || id < 0)
    throw new InvalidPathError('out-of-range', text, `${id} is not a uint16`);
  if (id > MAX_ID) throw new InvalidPathError('out-of-range', text, `${id} is larger than 65535`);
  if (id === MAX_ID) throw new InvalidPathError('reserved-id', text, '65535 is reserved (MAX_ID)');
}

/**
 * The common case, a purely numeric canonical path (`/3/0/9`), parsed in one pass without regular
 * expressions. Returns undefined for anything else (including every invalid path), which the full
 * parser then handles and explains.
 */
function parseNumericPath(text: string): readonly number[] | undefined {
  if (typeof text !== 'string' || text.length < 2 || text.charCodeAt(0) !== 47) return undefined;
  const ids: number[] = [];
  let n = -1;
  let digits = 0;
  for (let i = 1; i <= text.length; i++) {
    const c = i === text.length ? 47 : text.charCodeAt(i);
    if (c === 47) {
      if (digits === 0 || ids.length === 4 || n >= MAX_ID) return undefined;
      ids.push(n);
      n = -1;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && n === 0) return undefined; // leading zero
      n = digits === 0 ? c - 48 : n * 10 + (c - 48);
      if (++digits > 5) return undefined;
    } else return undefined;
  }
  return Object.freeze(ids);
}

/** Normalises an alternate path option to `/seg[/seg]` (or '' for none) and validates it. */
export function normalizeAlternatePath(alt: string): string {
  if (alt === '' || alt === '/') return '';
  if (!alt.startsWith('/'))
    throw new InvalidPathError('bad-alternate-path', alt, 'an alternate path starts with "/"');
  const trimmed = alt.endsWith('/') ? alt.slice(0, -1) : alt;
  for (const seg of trimmed.slice(1).split('/')) {
    if (seg === '') throw new InvalidPathError('bad-alternate-path', alt, 'empty segment');
    // Core §6.2.1: the alternate path MUST NOT contain a numeric segment.
    if (DIGITS_RE.test(seg) || /^[0-9]+$/.test(seg))
      throw new InvalidPathError('bad-alternate-path', alt, `numeric segment "${seg}" is not allowed`);
  }
  return trimmed;
}

/**
 * A LwM2M path: the root `/`, `/o`, `/o/i`, `/o/i/r` or `/o/i/r/ri`, optionally behind a gateway
 * prefix (`/d01/3303/0`) and an alternate path (`/lwm2m/3/0`). Immutable.
 */
export class LwM2mPath {
  static readonly ROOT = new LwM2mPath([]);

  /** Numeric segments, 0 to 4 of them. */
  readonly ids: readonly number[];
  /** Gateway prefix of an end device (Gateway TS), without slashes. */
  readonly prefix: string | undefined;
  /** The registration's alternate path (`/lwm2m`), or undefined for the default `/`. */
  readonly alternatePath: string | undefined;

  /** Memo of toString(): paths are immutable, and codecs ask for the text form often. */
  private text: string | undefined;

  constructor(ids: readonly number[], prefix?: string, alternatePath?: string, trust?: typeof TRUSTED) {
    if (trust === TRUSTED) {
      // Derived from a valid path (append/parent): already checked.
      this.ids = ids;
      this.prefix = prefix;
      this.alternatePath = alternatePath;
      return;
    }
    // The text form is built only when there is a fault to report.
    if (ids.length > 4)
      throw new InvalidPathError('too-deep', `/${ids.join('/')}`, 'at most 4 numeric segments');
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= MAX_ID) checkId(`/${ids.join('/')}`, id);
    if (prefix !== undefined && !PREFIX_RE.test(prefix))
      throw new InvalidPathError(
        'bad-prefix',
        `/${ids.join('/')}`,
        `"${prefix}" is not a valid gateway prefix`,
      );
    this.ids = Object.freeze([...ids]);
    this.prefix = prefix;
    this.alternatePath =
      alternatePath === undefined ? undefined : normalizeAlternatePath(alternatePath) || undefined;
  }

  /** Builds a path from identifiers: `LwM2mPath.of(3, 0, 9)`. */
  static of(...ids: number[]): LwM2mPath {
    return new LwM2mPath(ids);
  }

  /**
   * Parses `/3/0/9`, `/`, `/d01/3303/0` (gateway prefix) or, given `alternatePath`, `/lwm2m/3/0`.
   * Throws InvalidPathError naming the fault.
   */
  static parse(text: string, options: PathParseOptions = {}): LwM2mPath {
    if (options.alternatePath === undefined) {
      const fast = parseNumericPath(text);
      if (fast) return new LwM2mPath(fast, undefined, undefined, TRUSTED);
    }
    if (typeof text !== 'string' || !text.startsWith('/'))
      throw new InvalidPathError('not-absolute', String(text), 'a path starts with "/"');
    let rest = text;
    let alternatePath: string | undefined;
    if (options.alternatePath !== undefined) {
      const alt = normalizeAlternatePath(options.alternatePath);
      if (alt !== '' && (rest === alt || rest.startsWith(alt + '/'))) {
        alternatePath = alt;
        rest = rest.slice(alt.length) || '/';
      }
    }
    if (rest === '/') return new LwM2mPath([], undefined, alternatePath);
    const segments = rest.slice(1).split('/');
    let prefix: string | undefined;
    const ids: number[] = [];
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      if (seg === '')
        throw new InvalidPathError('empty-segment', text, 'empty segment (double or trailing "/")');
      if (DIGITS_RE.test(seg)) {
        if (ids.length === 4) throw new InvalidPathError('too-deep', text, 'at most 4 numeric segments');
        const id = Number(seg);
        checkId(text, id);
        ids.push(id);
        continue;
      }
      if (/^[0-9]+$/.test(seg))
        throw new InvalidPathError('not-a-number', text, `"${seg}" has leading zeros`);
      if (i === 0 && options.allowPrefix !== false && PREFIX_RE.test(seg)) {
        prefix = seg;
        continue;
      }
      if (i === 0 && options.allowPrefix !== false)
        throw new InvalidPathError(
          'bad-prefix',
          text,
          `"${seg}" is neither an identifier nor a gateway prefix`,
        );
      throw new InvalidPathError('not-a-number', text, `"${seg}" is not an identifier (0..65534)`);
    }
    return new LwM2mPath(ids, prefix, alternatePath);
  }

  /** Like parse, but returns undefined instead of throwing. */
  static tryParse(text: string, options?: PathParseOptions): LwM2mPath | undefined {
    try {
      return LwM2mPath.parse(text, options);
    } catch {
      return undefined;
    }
  }

  get objectId(): number | undefined {
    return this.ids[0];
  }
  get instanceId(): number | undefined {
    return this.ids[1];
  }
  get resourceId(): number | undefined {
    return this.ids[2];
  }
  get resourceInstanceId(): number | undefined {
    return this.ids[3];
  }
  /** 0 = root, 1 = object, 2 = instance, 3 = resource, 4 = resource instance. */
  get depth(): number {
    return this.ids.length;
  }
  isRoot(): boolean {
    return this.ids.length === 0;
  }
  isObject(): boolean {
    return this.ids.length === 1;
  }
  isObjectInstance(): boolean {
    return this.ids.length === 2;
  }
  isResource(): boolean {
    return this.ids.length === 3;
  }
  isResourceInstance(): boolean {
    return this.ids.length === 4;
  }

  /** The path one level down: `/3/0`.append(9) is `/3/0/9`. */
  append(id: number): LwM2mPath {
    if (this.ids.length >= 4)
      throw new InvalidPathError('too-deep', `${this.toString()}/${id}`, 'at most 4 numeric segments');
    checkId(`${this.toString()}/${id}`, id);
    return new LwM2mPath(Object.freeze([...this.ids, id]), this.prefix, this.alternatePath, TRUSTED);
  }

  /** The path one level up (the root's parent is the root). */
  parent(): LwM2mPath {
    return this.ids.length === 0
      ? this
      : new LwM2mPath(this.ids.slice(0, -1), this.prefix, this.alternatePath);
  }

  /** The same identifiers without gateway prefix and alternate path. */
  withoutPrefix(): LwM2mPath {
    return this.prefix === undefined && this.alternatePath === undefined ? this : new LwM2mPath(this.ids);
  }

  /** True when `other` is this path or lies below it (same prefix). */
  covers(other: LwM2mPath): boolean {
    if (this.prefix !== other.prefix || this.ids.length > other.ids.length) return false;
    for (let i = 0; i < this.ids.length; i++) if (this.ids[i] !== other.ids[i]) return false;
    return true;
  }

  equals(other: LwM2mPath): boolean {
    return this.prefix === other.prefix && this.ids.length === other.ids.length && this.covers(other);
  }

  /** Canonical LwM2M form without the alternate path: `/3/0/9`, `/d01/3303/0`, `/`. */
  toString(): string {
    if (this.text !== undefined) return this.text;
    const head = this.prefix === undefined ? '' : `/${this.prefix}`;
    let text: string;
    if (this.ids.length === 0) text = head === '' ? '/' : head;
    else text = `${head}/${this.ids.join('/')}`;
    this.text = text;
    return text;
  }

  /** The path as sent on the wire to the client: alternate path, prefix, identifiers. */
  toUriPath(): string {
    const alt = this.alternatePath ?? '';
    const s = this.toString();
    if (alt === '') return s;
    return s === '/' ? alt : alt + s;
  }

  /** Uri-Path segments for CoAP (no leading empty segment). */
  toSegments(): string[] {
    const p = this.toUriPath();
    return p === '/' ? [] : p.slice(1).split('/');
  }

  /** Compares paths in tree order (prefix, then identifiers), for stable sorting. */
  static compare(a: LwM2mPath, b: LwM2mPath): number {
    const pa = a.prefix ?? '';
    const pb = b.prefix ?? '';
    if (pa !== pb) return pa < pb ? -1 : 1;
    const n = Math.min(a.ids.length, b.ids.length);
    for (let i = 0; i < n; i++) {
      const d = a.ids[i]! - b.ids[i]!;
      if (d !== 0) return d;
    }
    return a.ids.length - b.ids.length;
  }
}
