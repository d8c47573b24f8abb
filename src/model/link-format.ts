import { PetrelError } from '../errors.js';
import {
  AttributeError,
  formatAttributeNumber,
  isNotificationAttributeName,
  parseNotificationAttributeValue,
} from './attributes.js';

/**
 * A link param value: `true` for a value-less param (`;obs`), a number for the LwM2M attributes
 * that are numbers (dim, ssid, pmin, gt, …), a list of numbers for `ct`, otherwise the string
 * (a quoted string arrives unquoted and unescaped).
 */
export type LinkParamValue = string | number | true | readonly number[];

export interface LinkParam {
  readonly name: string;
  readonly value: LinkParamValue;
}

/** One CoRE link (RFC 6690 §2): the URI-reference inside `<>` and its params, in order. */
export interface Link {
  readonly target: string;
  readonly params: readonly LinkParam[];
}

export type LinkFormatErrorReason =
  | 'too-large' // payload over maxLength
  | 'too-many-links' // more than maxLinks links
  | 'bad-utf8'
  | 'expected-link' // something other than `<` where a link must start
  | 'unterminated-target' // `<` without `>`
  | 'bad-target' // a character a URI-reference cannot hold, or a bad %-escape
  | 'bad-param-name'
  | 'bad-param-value' // an empty or malformed token after `=`
  | 'unterminated-quote'
  | 'bad-character' // a control character inside a quoted string
  | 'unexpected-character' // junk after a link or param
  | 'bad-attribute-value'; // a known LwM2M attribute whose value does not fit its type

/** A malformed link-format payload (RFC 6690); a request carrying one gets 4.00. */
export class LinkFormatError extends PetrelError {
  readonly reason: LinkFormatErrorReason;
  /** Index in the payload text where the fault was found; undefined when formatting. */
  readonly offset: number | undefined;
  readonly coapCode = '4.00' as const;
  constructor(
    reason: LinkFormatErrorReason,
    message: string,
    offset?: number,
    options?: { cause?: unknown },
  ) {
    super(
      'PETREL_ERR_LINK_FORMAT',
      offset === undefined ? message : `${message} at offset ${offset}`,
      options,
    );
    this.reason = reason;
    this.offset = offset;
  }
}

export interface LinkFormatLimits {
  /** Maximum payload length in characters (bytes when given bytes). */
  readonly maxLength: number;
  readonly maxLinks: number;
}

export const DEFAULT_LINK_FORMAT_LIMITS: LinkFormatLimits = Object.freeze({
  maxLength: 65536,
  maxLinks: 4096,
});

export interface LinkFormatOptions {
  readonly limits?: Partial<LinkFormatLimits>;
  /**
   * Accept the LwM2M 1.0 Bootstrap-Discover form whose first entry is params without a target
   * (`lwm2m="1.0",</0/0>,…`); that entry becomes a link to `/`.
   */
  readonly legacyRootParams?: boolean;
}

// RFC 3986 URI-reference characters (unreserved, reserved, "%").
const URI_CHAR = /[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/;
// RFC 5987 attr-char, the characters of a parmname (RFC 6690 link-extension).
const PARMNAME_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;
// RFC 6690 ptokenchar.
const PTOKEN_CHAR = /[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]/;
const PTOKEN_RE = /^[!#$%&'()*+\-./0-9:<=>?@A-Z[\]^_`a-z{|}~]+$/;
const HEX = /[0-9A-Fa-f]/;
const VERSION_RE = /^[0-9]{1,4}\.[0-9]{1,4}$/;

type Kind = 'version' | 'uint16' | 'ssid' | 'string' | 'ct';

/** The LwM2M link params that get a type (Core §5.1.2 / §6.2.1 / §6.3.3, RFC 6690 §3.2). */
const KNOWN_PARAMS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ['ver', 'version'],
  ['lwm2m', 'version'],
  ['dim', 'uint16'],
  ['ssid', 'ssid'],
  ['uri', 'string'],
  ['rt', 'string'],
  ['if', 'string'],
  ['anchor', 'string'],
  ['title', 'string'],
  ['ct', 'ct'],
]);

// String params LwM2M and RFC 6690 always write quoted, even when they would be plain tokens.
const ALWAYS_QUOTED = new Set(['uri', 'rt', 'if', 'anchor', 'title']);

function isWs(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

/** Types a known LwM2M param; `text` is the raw token or the unescaped quoted content. */
function typeParam(name: string, text: string | true, offset: number | undefined): LinkParamValue {
  const kind = KNOWN_PARAMS.get(name);
  const fail = (why: string, cause?: unknown): never => {
    throw new LinkFormatError('bad-attribute-value', `link param ${name}: ${why}`, offset, { cause });
  };
  if (kind === undefined && !isNotificationAttributeName(name)) return text;
  if (text === true) return fail('a value is required');
  if (isNotificationAttributeName(name)) {
    try {
      return parseNotificationAttributeValue(name, text);
    } catch (e) {
      if (e instanceof AttributeError) return fail(e.message, e);
      throw e;
    }
  }
  switch (kind) {
    case 'version':
      return VERSION_RE.test(text) ? text : fail(`"${clip(text)}" is not a major.minor version`);
    case 'uint16':
    case 'ssid': {
      const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
      const min = kind === 'ssid' ? 1 : 0;
      const max = kind === 'ssid' ? 65534 : 65535;
      return n >= min && n <= max ? n : fail(`"${clip(text)}" is not an integer in ${min}..${max}`);
    }
    case 'ct': {
      // One content format, or several separated by spaces (quoted): `ct=40`, `ct="110 112"`.
      const out: number[] = [];
      for (const p of text.trim().split(/ +/)) {
        const n = /^[0-9]{1,5}$/.test(p) ? Number(p) : NaN;
        if (!(n <= 65535)) return fail(`"${clip(text)}" is not a list of content formats`);
        out.push(n);
      }
      return out;
    }
    default:
      return text;
  }
}

function clip(text: string): string {
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

/** A cursor over the payload; every method either advances or throws a LinkFormatError. */
class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(): string | undefined {
    return this.text[this.pos];
  }
  skipWs(): void {
    while (isWs(this.text[this.pos])) this.pos++;
  }

  target(): string {
    const start = ++this.pos; // past "<"
    const t = this.text;
    for (;;) {
      const c = t[this.pos];
      if (c === undefined)
        throw new LinkFormatError('unterminated-target', 'link target without ">"', start - 1);
      if (c === '>') break;
      if (!URI_CHAR.test(c))
        throw new LinkFormatError('bad-target', `character ${JSON.stringify(c)} in a link target`, this.pos);
      if (c === '%' && !(HEX.test(t[this.pos + 1] ?? '') && HEX.test(t[this.pos + 2] ?? '')))
        throw new LinkFormatError('bad-target', 'bad percent-escape in a link target', this.pos);
      this.pos++;
    }
    const target = t.slice(start, this.pos);
    this.pos++; // past ">"
    return target;
  }

  param(): LinkParam {
    const t = this.text;
    const start = this.pos;
    while (this.pos < t.length && PARMNAME_CHAR.test(t[this.pos]!)) this.pos++;
    if (t[this.pos] === '*' && this.pos > start) this.pos++; // RFC 8187 ext-name-star (`title*`)
    if (this.pos === start) throw new LinkFormatError('bad-param-name', 'expected a link param name', start);
    const name = t.slice(start, this.pos);
    if (t[this.pos] !== '=') return { name, value: typeParam(name, true, start) };
    this.pos++;
    const valueAt = this.pos;
    const raw = t[this.pos] === '"' ? this.quoted() : this.ptoken();
    return { name, value: typeParam(name, raw, valueAt) };
  }

  ptoken(): string {
    const start = this.pos;
    while (this.pos < this.text.length && PTOKEN_CHAR.test(this.text[this.pos]!)) this.pos++;
    if (this.pos === start) throw new LinkFormatError('bad-param-value', 'expected a value after "="', start);
    return this.text.slice(start, this.pos);
  }

  /** RFC 7230 quoted-string: `\` escapes the next character. */
  quoted(): string {
    const open = this.pos++;
    const t = this.text;
    let out = '';
    let chunk = this.pos;
    for (;;) {
      const c = t[this.pos];
      if (c === undefined)
        throw new LinkFormatError('unterminated-quote', 'quoted string without closing quote', open);
      if (c === '"') break;
      if (c === '\\') {
        out += t.slice(chunk, this.pos);
        const next = t[this.pos + 1];
        if (next === undefined)
          throw new LinkFormatError('unterminated-quote', 'quoted string without closing quote', open);
        if (isControl(next.charCodeAt(0)))
          throw new LinkFormatError('bad-character', 'control character in a quoted string', this.pos + 1);
        this.pos += 2;
        chunk = this.pos - 1;
        continue;
      }
      if (isControl(c.charCodeAt(0)))
        throw new LinkFormatError('bad-character', 'control character in a quoted string', this.pos);
      this.pos++;
    }
    out += t.slice(chunk, this.pos);
    this.pos++; // past the closing quote
    return out;
  }

  /** Params `;a=1;b` (the first one without `;` in the legacy root form). */
  params(leadingSemicolon: boolean): LinkParam[] {
    const params: LinkParam[] = [];
    if (!leadingSemicolon) params.push(this.param());
    for (;;) {
      this.skipWs();
      if (this.peek() !== ';') return params;
      this.pos++;
      this.skipWs();
      params.push(this.param());
    }
  }
}

function decode(input: string | Uint8Array, maxLength: number): string {
  if (typeof input === 'string') {
    if (input.length > maxLength)
      throw new LinkFormatError(
        'too-large',
        `payload of ${input.length} characters is over ${maxLength}`,
        maxLength,
      );
    return input;
  }
  if (input.length > maxLength)
    throw new LinkFormatError(
      'too-large',
      `payload of ${input.length} bytes is over ${maxLength}`,
      maxLength,
    );
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
  } catch (e) {
    throw new LinkFormatError('bad-utf8', 'payload is not valid UTF-8', 0, { cause: e });
  }
}

/**
 * Parses a CoRE Link Format payload (RFC 6690 §2), e.g. `</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1`.
 * Whitespace (including newlines) is allowed around `,` and `;`; an empty payload has no links.
 * Known LwM2M params are typed (see LinkParamValue); unknown ones are kept as strings or `true`.
 * Throws LinkFormatError, and nothing else, for any malformed input.
 */
export function parseLinkFormat(input: string | Uint8Array, options: LinkFormatOptions = {}): Link[] {
  const limits = { ...DEFAULT_LINK_FORMAT_LIMITS, ...options.limits };
  const s = new Scanner(decode(input, limits.maxLength));
  const links: Link[] = [];
  s.skipWs();
  if (s.done) return links;
  if (options.legacyRootParams && s.peek() !== '<') {
    links.push({ target: '/', params: s.params(false) });
    s.skipWs();
    if (s.done) return links;
    if (s.peek() !== ',') throw new LinkFormatError('unexpected-character', 'expected "," or ";"', s.pos);
    s.pos++;
    s.skipWs();
  }
  for (;;) {
    if (links.length >= limits.maxLinks)
      throw new LinkFormatError('too-many-links', `more than ${limits.maxLinks} links`, s.pos);
    if (s.peek() !== '<') throw new LinkFormatError('expected-link', 'expected "<" to start a link', s.pos);
    const target = s.target();
    const params = s.params(true);
    links.push({ target, params });
    s.skipWs();
    if (s.done) return links;
    if (s.peek() !== ',') throw new LinkFormatError('unexpected-character', 'expected "," or ";"', s.pos);
    s.pos++;
    s.skipWs();
  }
}

function quote(text: string): string {
  let out = '"';
  for (const c of text) {
    if (isControl(c.charCodeAt(0)))
      throw new LinkFormatError('bad-character', 'a link param value cannot hold control characters');
    out += c === '"' || c === '\\' ? `\\${c}` : c;
  }
  return `${out}"`;
}

function formatParam(p: LinkParam): string {
  const { name, value } = p;
  if (!/^[A-Za-z0-9!#$&+\-.^_`|~]+\*?$/.test(name))
    throw new LinkFormatError('bad-param-name', `"${clip(name)}" is not a link param name`);
  if (value === true) {
    typeParam(name, true, undefined);
    return `;${name}`;
  }
  let text: string;
  let plain: string; // the value as typeParam reads it back, to check known params
  try {
    if (typeof value === 'number') {
      plain = text = formatAttributeNumber(value);
    } else if (typeof value === 'string') {
      plain = value;
      text = !ALWAYS_QUOTED.has(name) && PTOKEN_RE.test(value) ? value : quote(value);
    } else {
      plain = value.map((n) => formatAttributeNumber(n)).join(' ');
      text = value.length === 1 ? plain : quote(plain);
    }
  } catch (e) {
    if (!(e instanceof AttributeError)) throw e;
    throw new LinkFormatError('bad-param-value', `link param ${name}: ${e.message}`, undefined, { cause: e });
  }
  typeParam(name, plain, undefined);
  return `;${name}=${text}`;
}

/**
 * Serialises links canonically: `<target>` then each param; plain tokens and numbers unquoted,
 * anything else quoted (with `"` and `\` escaped), and `uri`, `rt`, `if`, `anchor`, `title` and
 * multi-value `ct` always quoted, as LwM2M writes them. Throws LinkFormatError for a link that
 * cannot be written (bad target or name, a control character, a known param of the wrong type).
 */
export function formatLinkFormat(links: readonly Link[]): string {
  return links
    .map((link) => {
      for (let i = 0; i < link.target.length; i++) {
        const c = link.target[i]!;
        if (!URI_CHAR.test(c) || (c === '%' && !/^%[0-9A-Fa-f]{2}/.test(link.target.slice(i, i + 3))))
          throw new LinkFormatError('bad-target', `"${clip(link.target)}" is not a URI-reference`);
      }
      return `<${link.target}>${link.params.map(formatParam).join('')}`;
    })
    .join(',');
}

/** The value of the first param with that name, or undefined. */
export function linkParamValue(link: Link, name: string): LinkParamValue | undefined {
  return link.params.find((p) => p.name === name)?.value;
}
