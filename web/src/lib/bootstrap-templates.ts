// The Bootstrap page's template logic (docs/bootstrap.md#templates): which view is a device of a
// template, the inputs a template asks for (one per placeholder, `${endpoint}` excluded, secrets
// marked, numbers and booleans where the placeholder stands alone in such a field), the body of
// PUT /api/bootstrap/clients/{ep} that names a template, a template's JSON text, and how values
// read (secrets by length only, as the API shows them).
import type {
  BootstrapClientView,
  BootstrapTemplateReferenceBody,
  BootstrapTemplateValueView,
  BootstrapTemplateView,
  BootstrapTemplatedView,
} from '../api-types.js';
import type { FieldError } from './bootstrap-form.js';

/** The placeholder the server fills in itself: the device's endpoint name. */
export const ENDPOINT_PLACEHOLDER = 'endpoint';
/** A template's name (it goes into URLs), as the API checks it. */
export const TEMPLATE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
/** Fields whose content is a secret (/0/x/5 Secret Key). */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['key', 'privateKey']);
/** Configuration fields that hold numbers or booleans (src/bootstrap/bootstrap-config.ts). */
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
/** Deeper than any configuration: a hostile document costs no stack. */
const MAX_DEPTH = 8;

const PLACEHOLDER_RE = /\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}/g;
const WHOLE_RE = /^\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}$/;

export function isTemplated(view: BootstrapClientView): view is BootstrapTemplatedView {
  return 'template' in view && typeof view.template === 'string' && 'resolved' in view;
}

// ---- placeholders of a template ----

export type PlaceholderKind = 'string' | 'number' | 'boolean';

/** One input of the "from a template" form. */
export interface PlaceholderInput {
  readonly name: string;
  /** It stands in a key or privateKey field: a password-style input, never pre-filled. */
  readonly secret: boolean;
  /** `number`/`boolean` when it stands alone in such a field (its value is then sent as one). */
  readonly kind: PlaceholderKind;
}

interface Use {
  readonly name: string;
  readonly key: string;
  readonly whole: boolean;
}

/** Each placeholder appearance of a document with the key of its field, in document order. */
function usesOf(doc: unknown): Use[] {
  const uses: Use[] = [];
  const walk = (v: unknown, key: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (typeof v === 'string') {
      const whole = WHOLE_RE.test(v);
      for (const m of v.matchAll(PLACEHOLDER_RE)) uses.push({ name: m[1]!, key, whole });
    } else if (Array.isArray(v)) for (const x of v) walk(x, key, depth + 1);
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, k, depth + 1);
  };
  walk(doc, '', 0);
  return uses;
}

/** Distinct placeholder names of a document in document order (for a view without `placeholders`). */
export function placeholderNames(doc: unknown): string[] {
  return [...new Set(usesOf(doc).map((u) => u.name))];
}

/**
 * The inputs a template asks for: its placeholders (the API's list, else the document's) without
 * `${endpoint}`. Secret: the API's list, else a use in a key/privateKey field. Kind: number or
 * boolean when every use stands alone in a field of that type (`"lifetime": "${lifetime}"`).
 */
export function templateInputs(view: BootstrapTemplateView): PlaceholderInput[] {
  const uses = usesOf(view.template);
  const names = view.placeholders.length > 0 ? view.placeholders : placeholderNames(view.template);
  const secrets = new Set(view.secretPlaceholders);
  for (const u of uses) if (SECRET_FIELDS.has(u.key)) secrets.add(u.name);
  return names
    .filter((name) => name !== ENDPOINT_PLACEHOLDER)
    .map((name) => {
      const kinds = new Set(
        uses
          .filter((u) => u.name === name)
          .map((u): PlaceholderKind | 'text' =>
            !u.whole
              ? 'text'
              : NUMBER_FIELDS.has(u.key)
                ? 'number'
                : BOOLEAN_FIELDS.has(u.key)
                  ? 'boolean'
                  : 'string',
          ),
      );
      // A number is also fine inside text (it becomes its digits); a mix with booleans is not.
      let kind: PlaceholderKind = 'string';
      if (kinds.has('number') && !kinds.has('boolean') && !kinds.has('string')) kind = 'number';
      else if (kinds.size === 1 && kinds.has('boolean')) kind = 'boolean';
      return { name, secret: secrets.has(name), kind };
    });
}

// ---- the "from a template" form ----

export interface TemplatedForm {
  readonly endpoint: string;
  /** Editing the stored configuration of `endpoint` (which then cannot change). */
  readonly editing: boolean;
  readonly template: string;
  /** Text of each placeholder's input; `''` = not given. */
  readonly values: Readonly<Record<string, string>>;
  /** Editing: the length of each stored secret value (never shown, so entered again). */
  readonly storedSecrets: Readonly<Record<string, number>>;
}

export const EMPTY_TEMPLATED_FORM: TemplatedForm = {
  endpoint: '',
  editing: false,
  template: '',
  values: {},
  storedSecrets: {},
};

const isSecretView = (v: BootstrapTemplateValueView): v is { readonly length: number } =>
  typeof v === 'object' && v !== null;

/** The form to edit a device of a template: plain values as shown, secrets empty. */
export function templatedFormFromView(view: BootstrapTemplatedView): TemplatedForm {
  const values: Record<string, string> = {};
  const storedSecrets: Record<string, number> = {};
  for (const [name, v] of Object.entries(view.values)) {
    if (isSecretView(v)) storedSecrets[name] = v.length;
    else values[name] = String(v);
  }
  return { endpoint: view.endpoint, editing: true, template: view.template, values, storedSecrets };
}

const NUMBER_TEXT_RE = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** An input's text as the value it stands for: numbers and booleans for such placeholders. */
export function templateValue(text: string, kind: PlaceholderKind): string | number | boolean {
  const t = text.trim();
  if (kind === 'number' && NUMBER_TEXT_RE.test(t)) return Number(t);
  if (kind === 'boolean' && (t === 'true' || t === 'false')) return t === 'true';
  // Anything else goes as typed: the API says why it does not fit, naming the field.
  return kind === 'string' ? text : t;
}

export type TemplatedCheck =
  | {
      readonly ok: true;
      readonly endpoint: string;
      readonly body: BootstrapTemplateReferenceBody;
    }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/**
 * The body of PUT /api/bootstrap/clients/{ep} for the form: `{template, values}` with a value for
 * each filled input of the template's placeholders (empty ones left out: the API names the field
 * that needs one). Only the endpoint and the template's name are checked here.
 */
export function templateReferenceBody(
  form: TemplatedForm,
  inputs: readonly PlaceholderInput[],
): TemplatedCheck {
  const errors: FieldError[] = [];
  const endpoint = form.endpoint.trim();
  if (endpoint === '') errors.push({ field: 'endpoint', message: 'is required' });
  if (form.template === '') errors.push({ field: 'template', message: 'choose a template' });
  else if (!TEMPLATE_NAME_RE.test(form.template))
    errors.push({ field: 'template', message: 'is not a template name' });
  if (errors.length > 0) return { ok: false, errors };
  const values: Record<string, string | number | boolean> = {};
  for (const input of inputs) {
    const text = form.values[input.name] ?? '';
    if (text.trim() === '') continue;
    values[input.name] = templateValue(text, input.kind);
  }
  return { ok: true, endpoint, body: { template: form.template, values } };
}

/** Secret inputs still empty while editing (their stored values are never shown). */
export function secretsToReenterOf(form: TemplatedForm, inputs: readonly PlaceholderInput[]): string[] {
  return inputs
    .filter((i) => i.secret && form.storedSecrets[i.name] !== undefined && (form.values[i.name] ?? '') === '')
    .map((i) => i.name);
}

// ---- how values and templates read ----

/** One value as shown: a secret by length only. */
export function describeValue(v: BootstrapTemplateValueView): string {
  if (isSecretView(v)) return `${v.length} characters (not shown)`;
  return typeof v === 'string' ? v : String(v);
}

/** The values in one line, names sorted: `host = h.example · psk = 32 characters (not shown)`. */
export function describeValues(values: Readonly<Record<string, BootstrapTemplateValueView>>): string {
  return Object.keys(values)
    .sort()
    .map((name) => `${name} = ${describeValue(values[name]!)}`)
    .join(' · ');
}

/** A template document as the editor's text. */
export function templateJson(template: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(template, null, 2);
}

/** Whether a shown template has fixed secret text (shown as `*`) that must be entered again. */
export function hasRedactedSecrets(template: unknown): boolean {
  let found = false;
  const walk = (v: unknown, key: string, depth: number): void => {
    if (found || depth > MAX_DEPTH) return;
    if (typeof v === 'string') {
      if (SECRET_FIELDS.has(key) && v.replace(PLACEHOLDER_RE, '').includes('*')) found = true;
    } else if (Array.isArray(v)) for (const x of v) walk(x, key, depth + 1);
    else if (typeof v === 'object' && v !== null)
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, k, depth + 1);
  };
  walk(template, '', 0);
  return found;
}

export type TemplateTextCheck =
  | { readonly ok: true; readonly document: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly error: string };

/** The editor's text as a template document: JSON, and an object. */
export function parseTemplateText(text: string): TemplateTextCheck {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return { ok: false, error: 'a template is a JSON object (a configuration document)' };
  return { ok: true, document: doc as Record<string, unknown> };
}

/** A starting point for a new template: one PSK server account, the key per device. */
export const TEMPLATE_EXAMPLE = templateJson({
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://${host}:5684',
      lifetime: 300,
      security: { mode: 'psk', identity: '${endpoint}', key: '${psk}' },
    },
  ],
});
