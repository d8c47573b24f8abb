import { BootstrapConfigError, parseBootstrapConfig } from './bootstrap-config.js';
import type { BootstrapConfiguration } from './bootstrap-config.js';

/**
 * Bootstrap configuration templates (LightweightM2M-Opt-001: one configuration for a device type,
 * per-device values such as PSKs filled in). A template is a configuration document
 * (parseBootstrapConfig's shape) whose strings may hold `${name}` placeholders; a per-endpoint
 * configuration may be `{ "template": "<name>", "values": { … } }` instead of a full document.
 *
 * - In a string, each `${name}` is replaced by the value's text.
 * - A string that is exactly `${name}` becomes the value as given, so numbers and booleans can come
 *   from values too: `"lifetime": "${lifetime}"` with `{ "lifetime": 300 }`.
 * - `${endpoint}` is built in: the device's endpoint name.
 * - The result is validated by parseBootstrapConfig: a value that does not fit fails there.
 */

export type TemplateValue = string | number | boolean;
export type TemplateValues = Readonly<Record<string, TemplateValue>>;

/** A placeholder's name: `[A-Za-z_][A-Za-z0-9_]{0,63}`. */
export const PLACEHOLDER_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** A template's name (it goes into URLs): letters, digits, `.`, `_`, `-`; 1..64 characters. */
export const TEMPLATE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
/** The placeholder every resolution fills in itself. */
export const ENDPOINT_PLACEHOLDER = 'endpoint';
/** Fields whose content is a secret (/0/x/5 Secret Key): never shown, nor the values put in them. */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['key', 'privateKey']);

/** Most values in one set, and characters in one value (a hex private key of 8 KiB). */
export const MAX_TEMPLATE_VALUES = 256;
export const MAX_VALUE_LENGTH = 16_384;
/** Most characters all strings of one resolved document may have together. */
const MAX_RESOLVED_CHARS = 1 << 20;
/** Deeper than any configuration (root → servers → [i] → security → key is 4). */
const MAX_DEPTH = 8;

/** Where a placeholder appears: `field` as BootstrapConfigError names fields (`servers[0].security.key`). */
export interface PlaceholderUse {
  readonly name: string;
  readonly field: string;
  /** The string is exactly `${name}` (so the value replaces it with its own type). */
  readonly whole: boolean;
}

/** A validated template. */
export interface BootstrapTemplate {
  readonly document: Readonly<Record<string, unknown>>;
  /** Each appearance of a placeholder, in document order. */
  readonly placeholders: readonly PlaceholderUse[];
}

/** A per-endpoint configuration that names a template. */
export interface TemplateReference {
  readonly template: string;
  readonly values: TemplateValues;
}

/** Looks a template up by name (a BootstrapConfigStore's getTemplate). */
export type TemplateLookup = (name: string) => Promise<Readonly<Record<string, unknown>> | undefined>;

type Doc = Readonly<Record<string, unknown>>;

const isDoc = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

const at = (field: string, key: string): string => (field === '' ? key : `${field}.${key}`);

// ---- placeholders in a string ----

type Part = string | { readonly name: string };

/** A string as text and placeholders; a `${` that does not open a placeholder is an error. */
function partsOf(s: string, field: string): Part[] {
  const parts: Part[] = [];
  let from = 0;
  for (;;) {
    const open = s.indexOf('${', from);
    if (open < 0) break;
    const close = s.indexOf('}', open + 2);
    const name = close < 0 ? '' : s.slice(open + 2, close);
    if (!PLACEHOLDER_NAME_RE.test(name))
      throw new BootstrapConfigError(
        'invalid',
        field,
        'has a malformed placeholder: write ${name} (letters, digits and _, not starting with a digit)',
      );
    if (open > from) parts.push(s.slice(from, open));
    parts.push({ name });
    from = close + 1;
  }
  if (from < s.length) parts.push(s.slice(from));
  return parts;
}

/**
 * Every string of a document with its field name and parts, depth first in document order.
 * Throws for documents deeper than any configuration (a hostile one costs no stack).
 */
function visitStrings(
  v: unknown,
  field: string,
  key: string,
  depth: number,
  visit: (s: string, field: string, key: string) => void,
): void {
  if (depth > MAX_DEPTH) throw new BootstrapConfigError('out-of-range', field, 'is nested too deeply');
  if (typeof v === 'string') visit(v, field, key);
  else if (Array.isArray(v)) v.forEach((x, i) => visitStrings(x, `${field}[${i}]`, key, depth + 1, visit));
  else if (isDoc(v))
    for (const [k, x] of Object.entries(v)) visitStrings(x, at(field, k), k, depth + 1, visit);
}

/** The placeholders of a document, each appearance with its field. Throws for a malformed one. */
export function placeholdersOf(doc: unknown): PlaceholderUse[] {
  const uses: PlaceholderUse[] = [];
  visitStrings(doc, '', '', 0, (s, field) => {
    const parts = partsOf(s, field);
    for (const p of parts)
      if (typeof p !== 'string') uses.push({ name: p.name, field, whole: parts.length === 1 });
  });
  return uses;
}

/** Names of the placeholders that appear in secret fields (their values are secrets too). */
export function secretPlaceholders(doc: unknown): Set<string> {
  const names = new Set<string>();
  visitStrings(doc, '', '', 0, (s, field, key) => {
    if (!SECRET_FIELDS.has(key)) return;
    for (const p of partsOf(s, field)) if (typeof p !== 'string') names.add(p.name);
  });
  return names;
}

// ---- substitution ----

/** A copy of `v` with each placeholder replaced by its value; throws naming a field without one. */
function substitute(
  v: unknown,
  field: string,
  depth: number,
  value: (name: string, field: string) => TemplateValue,
  budget: { chars: number },
): unknown {
  if (depth > MAX_DEPTH) throw new BootstrapConfigError('out-of-range', field, 'is nested too deeply');
  if (typeof v === 'string') {
    const parts = partsOf(v, field);
    const only = parts[0];
    if (parts.length === 1 && only !== undefined && typeof only !== 'string') {
      const x = value(only.name, field);
      if (typeof x === 'string') charge(budget, x.length, field);
      return x;
    }
    let out = '';
    for (const p of parts) {
      const piece = typeof p === 'string' ? p : String(value(p.name, field));
      charge(budget, piece.length, field);
      out += piece;
    }
    return out;
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, `${field}[${i}]`, depth + 1, value, budget));
  if (isDoc(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = substitute(x, at(field, k), depth + 1, value, budget);
    return out;
  }
  return v;
}

function charge(budget: { chars: number }, n: number, field: string): void {
  budget.chars -= n;
  if (budget.chars < 0)
    throw new BootstrapConfigError('out-of-range', field, 'the resolved configuration is too large');
}

/** Checks a values set: names, types, sizes. Fields are `values.<name>`. */
export function checkTemplateValues(input: unknown, field = 'values'): TemplateValues {
  if (!isDoc(input)) throw new BootstrapConfigError('wrong-type', field, 'must be an object');
  const entries = Object.entries(input);
  if (entries.length > MAX_TEMPLATE_VALUES)
    throw new BootstrapConfigError('out-of-range', field, `has more than ${MAX_TEMPLATE_VALUES} values`);
  for (const [name, v] of entries) {
    const f = at(field, name);
    if (!PLACEHOLDER_NAME_RE.test(name))
      throw new BootstrapConfigError(
        'invalid',
        f,
        'is not a placeholder name (letters, digits and _, not starting with a digit)',
      );
    if (name === ENDPOINT_PLACEHOLDER)
      throw new BootstrapConfigError('invalid', f, 'is built in: the endpoint name');
    if (typeof v === 'string') {
      if (v.length > MAX_VALUE_LENGTH)
        throw new BootstrapConfigError('out-of-range', f, `is longer than ${MAX_VALUE_LENGTH} characters`);
    } else if (!(typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))))
      throw new BootstrapConfigError('wrong-type', f, 'must be a string, a number or true/false');
  }
  return input as TemplateValues;
}

/**
 * A template's document with the placeholders filled in from `values` and `${endpoint}`, before
 * validation. Throws BootstrapConfigError naming the field of a placeholder without a value.
 */
export function fillTemplate(template: unknown, values: TemplateValues, endpoint: string): unknown {
  const checked = checkTemplateValues(values);
  const value = (name: string, field: string): TemplateValue => {
    if (name === ENDPOINT_PLACEHOLDER) return endpoint;
    const v = Object.hasOwn(checked, name) ? checked[name] : undefined;
    if (v === undefined) throw new BootstrapConfigError('missing', field, `no value for \${${name}}`);
    return v;
  };
  return substitute(template, '', 0, value, { chars: MAX_RESOLVED_CHARS });
}

/**
 * The configuration a template gives a device: placeholders filled in from `values` and
 * `${endpoint}`, then validated with parseBootstrapConfig. Values no placeholder uses are fine.
 */
export function resolveTemplate(
  template: unknown,
  values: TemplateValues,
  endpoint: string,
): BootstrapConfiguration {
  if (!isDoc(template)) throw new BootstrapConfigError('wrong-type', '(template)', 'must be an object');
  return parseBootstrapConfig(fillTemplate(template, values, endpoint));
}

// ---- validating a template ----

const NUMBER_FIELDS: ReadonlySet<string> = new Set([
  'shortServerId',
  'lifetime',
  'defaultMinPeriod',
  'defaultMaxPeriod',
  'certificateUsage',
  'clientHoldOffTime',
  'accountTimeout',
]);
const BOOLEAN_FIELDS: ReadonlySet<string> = new Set(['notificationStoring', 'deleteFirst']);
const HEX_FIELDS: ReadonlySet<string> = new Set([
  'key',
  'publicKey',
  'privateKey',
  'serverPublicKey',
  'certificate',
  'serverCertificate',
]);

/**
 * A stand-in for a string with placeholders that fits its field, so the rest of the template can
 * be checked by parseBootstrapConfig as it stands: the structure, every literal field, and the
 * fields around the placeholders. `account` is the server or BS account the field belongs to.
 */
function standIn(
  parts: readonly Part[],
  key: string,
  field: string,
  account: Doc,
  ssid: () => number,
): unknown {
  const first = parts[0];
  const whole = parts.length === 1 && first !== undefined && typeof first !== 'string';
  if (key === 'mode')
    throw new BootstrapConfigError(
      'invalid',
      field,
      'cannot be a placeholder: the security mode decides which fields there are',
    );
  const secure = (): boolean => {
    const sec = account['security'];
    return isDoc(sec) && typeof sec['mode'] === 'string' && sec['mode'] !== 'nosec';
  };
  if (whole) {
    if (key === 'shortServerId') return ssid();
    // 0 is in range for each of them and passes the defaultMaxPeriod ≥ defaultMinPeriod rule.
    if (NUMBER_FIELDS.has(key)) return 0;
    if (BOOLEAN_FIELDS.has(key)) return true;
  }
  // A placeholder in the scheme (or the whole URI): a URI of the scheme the mode wants.
  if (key === 'uri' && (typeof first !== 'string' || !first.includes('://')))
    return `${secure() ? 'coaps' : 'coap'}://template.invalid`;
  if (key === 'supportedServerVersions') return '1.0';
  const literal = parts.filter((p) => typeof p === 'string').join('');
  const holes = parts.length - parts.filter((p) => typeof p === 'string').length;
  let filler = 'x';
  if (HEX_FIELDS.has(key)) filler = '0';
  else if (key === 'binding') filler = '';
  let out = parts.map((p) => (typeof p === 'string' ? p : filler)).join('');
  // Hex needs an even number of digits: one more where the text has an odd count.
  if (HEX_FIELDS.has(key) && (literal.length + holes) % 2 === 1) out += '0';
  if (key === 'binding' && out === '') out = 'U';
  return out;
}

/**
 * Validates a template: each placeholder well-formed and not in `mode`, and the document a
 * configuration once each placeholder is replaced by a stand-in that fits its field (a number for
 * a number field given as exactly `${name}`, hex digits in keys, a host in URIs …). A template that
 * passes can still fail with values that do not fit; resolveTemplate says so then.
 */
export function parseTemplate(input: unknown): BootstrapTemplate {
  if (!isDoc(input)) throw new BootstrapConfigError('wrong-type', '(template)', 'must be an object');
  const placeholders = placeholdersOf(input);
  // Stand-in Short Server IDs from the top of the range down, clear of the literal ones.
  const taken = new Set<unknown>();
  const servers = input['servers'];
  if (Array.isArray(servers)) for (const s of servers) if (isDoc(s)) taken.add(s['shortServerId']);
  let next = 65534;
  const ssid = (): number => {
    while (taken.has(next)) next--;
    return next--;
  };
  const fill = (v: unknown, field: string, key: string, account: Doc, depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new BootstrapConfigError('out-of-range', field, 'is nested too deeply');
    if (typeof v === 'string') {
      const parts = partsOf(v, field);
      return parts.some((p) => typeof p !== 'string') ? standIn(parts, key, field, account, ssid) : v;
    }
    if (Array.isArray(v)) return v.map((x, i) => fill(x, `${field}[${i}]`, key, account, depth + 1));
    if (isDoc(v)) {
      // A server or BS account is the object that holds `security`.
      const here = 'security' in v ? v : account;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = fill(x, at(field, k), k, here, depth + 1);
      return out;
    }
    return v;
  };
  parseBootstrapConfig(fill(input, '', '', {}, 0));
  return { document: input, placeholders };
}

// ---- per-endpoint documents that name a template ----

/** Whether a stored per-endpoint document names a template rather than being a configuration. */
export function isTemplateReference(doc: unknown): boolean {
  return isDoc(doc) && Object.hasOwn(doc, 'template');
}

/** Validates `{ "template": name, "values": { … } }` (values optional). */
export function parseTemplateReference(input: unknown): TemplateReference {
  if (!isDoc(input)) throw new BootstrapConfigError('wrong-type', '(configuration)', 'must be an object');
  for (const key of Object.keys(input))
    if (key !== 'template' && key !== 'values')
      throw new BootstrapConfigError(
        'unknown-field',
        key,
        'is not a field of a template reference (expected template, values)',
      );
  const name = input['template'];
  if (typeof name !== 'string') throw new BootstrapConfigError('wrong-type', 'template', 'must be a string');
  if (!TEMPLATE_NAME_RE.test(name))
    throw new BootstrapConfigError(
      'invalid',
      'template',
      'must be 1 to 64 letters, digits, ".", "_" or "-" (not starting with "." or "-")',
    );
  const values = input['values'] === undefined ? {} : checkTemplateValues(input['values']);
  return { template: name, values };
}

/**
 * The configuration a stored per-endpoint document stands for: the document itself, or the
 * template it names resolved with its values. Throws BootstrapConfigError (`template: …` for a
 * template that does not exist).
 */
export async function resolveConfigDocument(
  doc: unknown,
  endpoint: string,
  lookup: TemplateLookup,
): Promise<BootstrapConfiguration> {
  if (!isTemplateReference(doc)) return parseBootstrapConfig(doc);
  const ref = parseTemplateReference(doc);
  const template = await lookup(ref.template);
  if (template === undefined)
    throw new BootstrapConfigError(
      'missing',
      'template',
      `there is no template ${JSON.stringify(ref.template)}`,
    );
  return resolveTemplate(template, ref.values, endpoint);
}

/**
 * A template as it may be shown: in secret fields (key, privateKey) fixed text is replaced by `*`
 * per character, placeholders are kept (`"key": "${psk}"`).
 */
export function redactTemplate(doc: Doc): Doc {
  const redact = (v: unknown, field: string, key: string, depth: number): unknown => {
    if (depth > MAX_DEPTH) return null;
    if (typeof v === 'string') {
      if (!SECRET_FIELDS.has(key)) return v;
      let parts: Part[];
      try {
        parts = partsOf(v, field);
      } catch {
        return '*'.repeat(v.length);
      }
      return parts.map((p) => (typeof p === 'string' ? '*'.repeat(p.length) : `\${${p.name}}`)).join('');
    }
    if (Array.isArray(v)) return v.map((x, i) => redact(x, `${field}[${i}]`, key, depth + 1));
    if (isDoc(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = redact(x, at(field, k), k, depth + 1);
      return out;
    }
    return v;
  };
  return redact(doc, '', '', 0) as Doc;
}
