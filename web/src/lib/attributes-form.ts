// The notification attributes form (Core §5.1.2) -> the body of Write-Attributes and Observe.
// The server checks again; checking here tells the operator before anything is sent.
import type { AttributesBody, ResourceType } from '../api-types.js';
import type { Parsed } from './value-input.js';

export type AttributeName =
  'pmin' | 'pmax' | 'gt' | 'lt' | 'st' | 'epmin' | 'epmax' | 'edge' | 'con' | 'hqmax';

type Syntax = 'uint' | 'signed-decimal' | 'decimal' | 'bit';

interface AttributeSpec {
  readonly syntax: Syntax;
  /** gt, lt, st, edge live only on resources and resource instances. */
  readonly resourceOnly: boolean;
  /** Enabler version that introduced it. */
  readonly since: '1.0' | '1.1' | '1.2';
  readonly label: string;
}

/** In the order of the spec's table. */
export const ATTRIBUTES: Readonly<Record<AttributeName, AttributeSpec>> = {
  pmin: { syntax: 'uint', resourceOnly: false, since: '1.0', label: 'Minimum period (s)' },
  pmax: { syntax: 'uint', resourceOnly: false, since: '1.0', label: 'Maximum period (s)' },
  gt: { syntax: 'signed-decimal', resourceOnly: true, since: '1.0', label: 'Greater than' },
  lt: { syntax: 'signed-decimal', resourceOnly: true, since: '1.0', label: 'Less than' },
  st: { syntax: 'decimal', resourceOnly: true, since: '1.0', label: 'Step' },
  epmin: { syntax: 'uint', resourceOnly: false, since: '1.1', label: 'Min. evaluation period (s)' },
  epmax: { syntax: 'uint', resourceOnly: false, since: '1.1', label: 'Max. evaluation period (s)' },
  edge: { syntax: 'bit', resourceOnly: true, since: '1.2', label: 'Edge (0 falling, 1 rising)' },
  con: { syntax: 'bit', resourceOnly: false, since: '1.2', label: 'Confirmable (0/1)' },
  hqmax: { syntax: 'uint', resourceOnly: false, since: '1.2', label: 'Max. historical queue' },
};

export const ATTRIBUTE_NAMES = Object.keys(ATTRIBUTES) as AttributeName[];

/** Observe-Composite carries only these (Core §6.4). */
export const COMPOSITE_ATTRIBUTES: readonly AttributeName[] = ['pmin', 'pmax', 'epmin', 'epmax', 'con'];

export interface AttributeField {
  readonly text: string;
  /** Write-Attributes only: send the value-less form, which unsets the attribute. */
  readonly clear: boolean;
}

export type AttributeForm = Readonly<Record<AttributeName, AttributeField>>;

export function emptyAttributeForm(): AttributeForm {
  const form = {} as Record<AttributeName, AttributeField>;
  for (const name of ATTRIBUTE_NAMES) form[name] = { text: '', clear: false };
  return form;
}

export type AttributeLevel = 'object' | 'object-instance' | 'resource' | 'resource-instance';

export interface AttributeContext {
  readonly operation: 'write-attributes' | 'observe' | 'observe-composite';
  /** Level of the target path; unknown for composite. */
  readonly level?: AttributeLevel;
  /** Data type of the target resource, when known. */
  readonly resourceType?: ResourceType;
  /** The client's enabler version; attributes it does not know are refused. */
  readonly lwm2mVersion?: string;
}

const SYNTAX_RE: Readonly<Record<Syntax, RegExp>> = {
  uint: /^[0-9]+$/,
  'signed-decimal': /^-?[0-9]+(\.[0-9]+)?$/,
  decimal: /^[0-9]+(\.[0-9]+)?$/,
  bit: /^[01]$/,
};

const SYNTAX_HELP: Readonly<Record<Syntax, string>> = {
  uint: 'a whole number ≥ 0',
  'signed-decimal': 'a decimal number',
  decimal: 'a decimal number ≥ 0',
  bit: '0 or 1',
};

const NUMERIC: readonly ResourceType[] = ['integer', 'unsigned', 'float'];

function versionKey(v: string | undefined): number {
  const m = v === undefined ? null : /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(v);
  return m ? Number(m[1]) * 10000 + Number(m[2]) : Number.POSITIVE_INFINITY;
}

/** The level of an LwM2M path by its depth (`/3` object ... `/3/0/7/1` resource instance). */
export function levelOfPath(path: string): AttributeLevel | undefined {
  const depth = path.split('/').filter((p) => /^[0-9]+$/.test(p)).length;
  return (['object', 'object-instance', 'resource', 'resource-instance'] as const)[depth - 1];
}

/** Attributes the form may offer for this target (the others are hidden). */
export function applicableAttributes(ctx: AttributeContext): AttributeName[] {
  const peer = versionKey(ctx.lwm2mVersion);
  return ATTRIBUTE_NAMES.filter((name) => {
    const spec = ATTRIBUTES[name];
    if (versionKey(spec.since) > peer) return false;
    if (ctx.operation === 'observe-composite') return COMPOSITE_ATTRIBUTES.includes(name);
    if (spec.resourceOnly && ctx.level !== 'resource' && ctx.level !== 'resource-instance') return false;
    if (spec.resourceOnly && ctx.resourceType !== undefined) {
      if (name === 'edge') return ctx.resourceType === 'boolean';
      return NUMERIC.includes(ctx.resourceType);
    }
    return true;
  });
}

/**
 * The form -> request body: filled fields become numbers, cleared ones null (Write-Attributes
 * only), empty ones are left out. Checks syntax, what the target allows, and the combinations
 * the spec requires: lt < gt, lt + 2·st < gt, epmin < epmax.
 */
export function attributesBody(form: AttributeForm, ctx: AttributeContext): Parsed<AttributesBody> {
  const allowed = new Set(applicableAttributes(ctx));
  const body: Record<string, number | null> = {};
  for (const name of ATTRIBUTE_NAMES) {
    const field = form[name];
    const text = field.text.trim();
    if (field.clear) {
      if (ctx.operation !== 'write-attributes')
        return { ok: false, error: `${name}: only Write-Attributes can clear an attribute` };
      if (!allowed.has(name)) return { ok: false, error: `${name} does not apply here` };
      body[name] = null;
      continue;
    }
    if (text === '') continue;
    if (!allowed.has(name)) return { ok: false, error: `${name} does not apply here` };
    const spec = ATTRIBUTES[name];
    if (!SYNTAX_RE[spec.syntax].test(text) || text.length > 40)
      return { ok: false, error: `${name}: expected ${SYNTAX_HELP[spec.syntax]}` };
    const n = Number(text);
    if (!Number.isFinite(n) || (spec.syntax === 'uint' && !Number.isSafeInteger(n)))
      return { ok: false, error: `${name}: out of range` };
    body[name] = n;
  }
  const num = (k: AttributeName): number | undefined => {
    const v = body[k];
    return typeof v === 'number' ? v : undefined;
  };
  const gt = num('gt');
  const lt = num('lt');
  const st = num('st');
  const epmin = num('epmin');
  const epmax = num('epmax');
  if (gt !== undefined && lt !== undefined) {
    if (!(lt < gt)) return { ok: false, error: `lt (${lt}) must be less than gt (${gt})` };
    if (st !== undefined && !(lt + 2 * st < gt))
      return { ok: false, error: `lt + 2·st (${lt} + 2·${st}) must be less than gt (${gt})` };
  }
  if (epmin !== undefined && epmax !== undefined && !(epmin < epmax))
    return { ok: false, error: `epmin (${epmin}) must be less than epmax (${epmax})` };
  // Every key is an attribute name and edge/con passed the 0|1 syntax above.
  const attributes: AttributesBody = body;
  return { ok: true, value: attributes };
}

/** Attributes as the text of a link's params (`pmin=5&pmax=60`), for showing. */
export function formatAttributes(attrs: AttributesBody | undefined): string {
  if (!attrs) return '';
  return Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (v === null ? k : `${k}=${String(v)}`))
    .join('&');
}
