import { PetrelError } from '../errors.js';
import type { ResourceType } from './data-types.js';
import type { LinkParam } from './link-format.js';
import type { LwM2mPath } from './path.js';

/** The `<NOTIFICATION>` class attributes (Core §5.1.2), in the order the spec's table lists them. */
export type NotificationAttributeName =
  'pmin' | 'pmax' | 'gt' | 'lt' | 'st' | 'epmin' | 'epmax' | 'edge' | 'con' | 'hqmax';

/** Where an attribute may be attached: O = object, OI = object instance, R = resource, RI = resource instance. */
export type AttributeLevel = 'object' | 'object-instance' | 'resource' | 'resource-instance';

/** The value syntax of each attribute. */
export type AttributeSyntax =
  | 'uint' // 1*DIGIT (seconds or a count)
  | 'signed-decimal' // gt/lt: thresholds may be negative
  | 'decimal' // st: a step is a distance, never negative
  | 'bit'; // edge/con: 0 or 1

export interface NotificationAttributeSpec {
  readonly syntax: AttributeSyntax;
  /** R-attributes (gt, lt, st, edge) live only on resources and resource instances. */
  readonly resourceOnly: boolean;
  /** The enabler version that introduced the attribute. */
  readonly since: '1.0' | '1.1' | '1.2';
}

/** Core §5.1.2 table (see LWM2M-1.2.md §1.4). */
export const NOTIFICATION_ATTRIBUTES: Readonly<Record<NotificationAttributeName, NotificationAttributeSpec>> =
  Object.freeze({
    pmin: { syntax: 'uint', resourceOnly: false, since: '1.0' },
    pmax: { syntax: 'uint', resourceOnly: false, since: '1.0' },
    gt: { syntax: 'signed-decimal', resourceOnly: true, since: '1.0' },
    lt: { syntax: 'signed-decimal', resourceOnly: true, since: '1.0' },
    st: { syntax: 'decimal', resourceOnly: true, since: '1.0' },
    epmin: { syntax: 'uint', resourceOnly: false, since: '1.1' },
    epmax: { syntax: 'uint', resourceOnly: false, since: '1.1' },
    edge: { syntax: 'bit', resourceOnly: true, since: '1.2' },
    con: { syntax: 'bit', resourceOnly: false, since: '1.2' },
    hqmax: { syntax: 'uint', resourceOnly: false, since: '1.2' },
  });

export const NOTIFICATION_ATTRIBUTE_NAMES: readonly NotificationAttributeName[] = Object.freeze(
  Object.keys(NOTIFICATION_ATTRIBUTES) as NotificationAttributeName[],
);

/** Attributes attached at one level (or in effect for one target); absent = not set. */
export type NotificationAttributes = { readonly [K in NotificationAttributeName]?: number };

/**
 * A Write-Attributes request (or Observe query): a number sets the attribute, `null` unsets it
 * (the value-less form `?pmin`, Core §5.1.2 / §6.3 Write-Attributes).
 */
export type NotificationAttributeChanges = { readonly [K in NotificationAttributeName]?: number | null };

export type AttributeErrorReason =
  | 'unknown-attribute'
  | 'duplicate-attribute'
  | 'bad-value' // syntax or range of one value
  | 'bad-level' // attribute not allowed at the target's level
  | 'bad-type' // attribute not allowed on the resource's data type
  | 'inconsistent' // lt/gt/st or epmin/epmax combination
  | 'not-allowed'; // not allowed in this operation (Observe-Composite)

/** A bad or inconsistent notification attribute; always answered with 4.00 Bad Request. */
export class AttributeError extends PetrelError {
  readonly reason: AttributeErrorReason;
  readonly attribute: string | undefined;
  readonly coapCode = '4.00' as const;
  constructor(reason: AttributeErrorReason, attribute: string | undefined, message: string) {
    super('PETREL_ERR_ATTRIBUTE', message);
    this.reason = reason;
    this.attribute = attribute;
  }
}

export function isNotificationAttributeName(name: string): name is NotificationAttributeName {
  return Object.hasOwn(NOTIFICATION_ATTRIBUTES, name);
}

const SYNTAX_RE: Readonly<Record<AttributeSyntax, RegExp>> = {
  uint: /^[0-9]+$/,
  'signed-decimal': /^-?[0-9]+(\.[0-9]+)?$/,
  decimal: /^[0-9]+(\.[0-9]+)?$/,
  bit: /^[01]$/,
};

// Bounds parsing cost; long enough for any finite double written out in plain decimal.
const MAX_VALUE_TEXT = 400;

/** Parses one attribute value per its syntax (Core §5.1.2 ABNF). Throws AttributeError. */
export function parseNotificationAttributeValue(name: NotificationAttributeName, text: string): number {
  const { syntax } = NOTIFICATION_ATTRIBUTES[name];
  if (text.length > MAX_VALUE_TEXT || !SYNTAX_RE[syntax].test(text))
    throw new AttributeError(
      'bad-value',
      name,
      `${name}: "${clip(text)}" does not match its syntax (${syntax})`,
    );
  const n = Number(text);
  checkValue(name, n);
  return n;
}

/** Checks a value given as a number (a programmatic set, or after parsing). */
function checkValue(name: NotificationAttributeName, n: number): void {
  const { syntax } = NOTIFICATION_ATTRIBUTES[name];
  const ok =
    syntax === 'uint'
      ? Number.isSafeInteger(n) && n >= 0
      : syntax === 'bit'
        ? n === 0 || n === 1
        : Number.isFinite(n) && (syntax === 'signed-decimal' || n >= 0);
  if (!ok) throw new AttributeError('bad-value', name, `${name}: ${n} is out of range (${syntax})`);
}

function clip(text: string): string {
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

/**
 * Parses a CoAP query (`['pmin=1', 'pmax=5', 'gt=50', 'st']`) into changes; a value-less
 * attribute means unset (null). `ignore` lists query parameters that belong to the operation
 * rather than to the attributes (e.g. `depth`). Unknown names and duplicates are errors.
 */
export function parseAttributeQuery(
  query: readonly string[],
  options: { ignore?: readonly string[] } = {},
): NotificationAttributeChanges {
  const out: { [K in NotificationAttributeName]?: number | null } = {};
  for (const item of query) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (options.ignore?.includes(name)) continue;
    if (!isNotificationAttributeName(name))
      throw new AttributeError('unknown-attribute', name, `unknown attribute "${clip(name)}"`);
    if (out[name] !== undefined)
      throw new AttributeError('duplicate-attribute', name, `attribute "${name}" given twice`);
    out[name] = eq < 0 ? null : parseNotificationAttributeValue(name, item.slice(eq + 1));
  }
  return out;
}

/**
 * Formats a number the way the attribute ABNF writes it: plain decimal, never exponent notation
 * (`1e21` becomes `1000000000000000000000`), shortest round-trip digits.
 */
export function formatAttributeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new AttributeError('bad-value', undefined, `${n} is not a finite number`);
  if (Object.is(n, -0)) return '0';
  const s = String(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const point = (dot < 0 ? mantissa.length : dot) + exp; // position of the decimal point in `digits`
  let body: string;
  if (point <= 0) body = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) body = digits + '0'.repeat(point - digits.length);
  else body = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${body}` : body;
}

function present<T>(attrs: { readonly [K in NotificationAttributeName]?: T }): [
  NotificationAttributeName,
  T,
][] {
  const out: [NotificationAttributeName, T][] = [];
  for (const name of NOTIFICATION_ATTRIBUTE_NAMES) {
    const v = attrs[name];
    if (v !== undefined) out.push([name, v]);
  }
  return out;
}

/** Formats changes as CoAP query items in table order; unset (null) is the value-less form. */
export function formatAttributeQuery(changes: NotificationAttributeChanges): string[] {
  return present(changes).map(([name, v]) => {
    if (v === null) return name;
    checkValue(name, v);
    return `${name}=${formatAttributeNumber(v)}`;
  });
}

/** Attributes as link params (for a Discover response), in table order. */
export function attributesToLinkParams(attrs: NotificationAttributes): LinkParam[] {
  return present(attrs).map(([name, value]) => {
    checkValue(name, value);
    return { name, value };
  });
}

/**
 * The notification attributes among link params (as parsed by parseLinkFormat, which already
 * typed them as numbers). Other params are ignored; the first occurrence of a name wins.
 */
export function attributesFromLinkParams(params: readonly LinkParam[]): NotificationAttributes {
  const out: { [K in NotificationAttributeName]?: number } = {};
  for (const p of params) {
    if (!isNotificationAttributeName(p.name) || out[p.name] !== undefined) continue;
    const v = p.value;
    out[p.name] = typeof v === 'number' ? v : parseNotificationAttributeValue(p.name, String(v));
  }
  return out;
}

/** The attribute level of a path; the root has none (attributes cannot be attached there). */
export function attributeLevelOf(path: LwM2mPath): AttributeLevel | undefined {
  switch (path.depth) {
    case 1:
      return 'object';
    case 2:
      return 'object-instance';
    case 3:
      return 'resource';
    case 4:
      return 'resource-instance';
    default:
      return undefined;
  }
}

const NUMERIC_TYPES: readonly ResourceType[] = ['integer', 'unsigned', 'float'];

/**
 * Checks a set of attributes for one target (Core §5.1.2):
 * - every value fits its syntax;
 * - gt/lt/st/edge only on resources and resource instances;
 * - when the resource type is known: gt/lt/st only on numeric types, edge only on Boolean;
 * - lt < gt, lt + 2·st < gt, epmin < epmax, when the attributes involved are all set.
 * pmax < pmin is allowed (pmax is then ignored, see effectivePmax). Throws AttributeError.
 */
export function validateNotificationAttributes(
  attrs: NotificationAttributes,
  target: LwM2mPath | AttributeLevel,
  resourceType?: ResourceType,
): void {
  const level = typeof target === 'string' ? target : attributeLevelOf(target);
  for (const [name, value] of present(attrs)) {
    checkValue(name, value);
    if (level === undefined)
      throw new AttributeError('bad-level', name, `${name} cannot be attached to the root path`);
    const spec = NOTIFICATION_ATTRIBUTES[name];
    if (spec.resourceOnly && level !== 'resource' && level !== 'resource-instance')
      throw new AttributeError('bad-level', name, `${name} is only allowed on resources, not on an ${level}`);
    if (resourceType === undefined || !spec.resourceOnly) continue;
    if (name === 'edge' && resourceType !== 'boolean')
      throw new AttributeError(
        'bad-type',
        name,
        `edge is only allowed on Boolean resources, not ${resourceType}`,
      );
    if (name !== 'edge' && !NUMERIC_TYPES.includes(resourceType))
      throw new AttributeError(
        'bad-type',
        name,
        `${name} is only allowed on numeric resources, not ${resourceType}`,
      );
  }
  const { gt, lt, st, epmin, epmax } = attrs;
  if (gt !== undefined && lt !== undefined) {
    if (!(lt < gt)) throw new AttributeError('inconsistent', 'lt', `lt (${lt}) must be less than gt (${gt})`);
    if (st !== undefined && !(lt + 2 * st < gt))
      throw new AttributeError(
        'inconsistent',
        'st',
        `lt + 2*st (${lt} + 2*${st}) must be less than gt (${gt})`,
      );
  }
  if (epmin !== undefined && epmax !== undefined && !(epmin < epmax))
    throw new AttributeError('inconsistent', 'epmin', `epmin (${epmin}) must be less than epmax (${epmax})`);
}

/**
 * Applies a Write-Attributes (sets and unsets) to the attributes already attached at that target
 * and returns the new set, re-validated as a whole: a request that leaves an inconsistent
 * combination is refused (4.00) and the caller keeps the old set.
 */
export function applyWriteAttributes(
  current: NotificationAttributes,
  changes: NotificationAttributeChanges,
  target: LwM2mPath | AttributeLevel,
  resourceType?: ResourceType,
): NotificationAttributes {
  const next: { [K in NotificationAttributeName]?: number } = { ...current };
  for (const [name, v] of present(changes)) {
    if (v === null) delete next[name];
    else next[name] = v;
  }
  validateNotificationAttributes(next, target, resourceType);
  return next;
}

/** Attributes attached at each level of one target's path; missing levels have none. */
export interface AttributeLevels {
  readonly object?: NotificationAttributes;
  readonly objectInstance?: NotificationAttributes;
  readonly resource?: NotificationAttributes;
  readonly resourceInstance?: NotificationAttributes;
}

/**
 * The attributes in effect for a target: per attribute, the most specific level wins
 * (Resource-Instance > Resource > Object-Instance > Object, Core §5.1.2). R-attributes found on
 * an object or instance level are ignored, since they are not allowed there. `defaults` fills
 * pmin/pmax from the Server object (/1/x/2, /1/x/3) when no level sets them.
 */
export function resolveEffectiveAttributes(
  levels: AttributeLevels,
  defaults: { readonly pmin?: number; readonly pmax?: number } = {},
): NotificationAttributes {
  const out: { [K in NotificationAttributeName]?: number } = {};
  const order: [NotificationAttributes | undefined, boolean][] = [
    [levels.resourceInstance, true],
    [levels.resource, true],
    [levels.objectInstance, false],
    [levels.object, false],
  ];
  for (const name of NOTIFICATION_ATTRIBUTE_NAMES) {
    const rOnly = NOTIFICATION_ATTRIBUTES[name].resourceOnly;
    for (const [attrs, isResourceLevel] of order) {
      const v = attrs?.[name];
      if (v === undefined || (rOnly && !isResourceLevel)) continue;
      out[name] = v;
      break;
    }
  }
  if (out.pmin === undefined && defaults.pmin !== undefined) out.pmin = defaults.pmin;
  if (out.pmax === undefined && defaults.pmax !== undefined) out.pmax = defaults.pmax;
  return out;
}

/**
 * The maximum period actually in force: undefined when pmax is unset, 0 (no maximum, as for the
 * /1/x/3 default), or less than pmin (Core §5.1.2: pmax is then ignored).
 */
export function effectivePmax(attrs: NotificationAttributes): number | undefined {
  const { pmin, pmax } = attrs;
  if (pmax === undefined || pmax === 0) return undefined;
  if (pmin !== undefined && pmax < pmin) return undefined;
  return pmax;
}

/** The attributes an Observe-Composite may carry: the object-level-capable ones (Core §6.4). */
export const OBSERVE_COMPOSITE_ATTRIBUTES: readonly NotificationAttributeName[] = Object.freeze([
  'pmin',
  'pmax',
  'epmin',
  'epmax',
  'con',
]);

export function isObserveCompositeAttribute(name: string): boolean {
  return (OBSERVE_COMPOSITE_ATTRIBUTES as readonly string[]).includes(name);
}

/** Refuses (4.00) attributes an Observe-Composite may not carry. */
export function checkObserveCompositeAttributes(attrs: NotificationAttributeChanges): void {
  for (const [name] of present(attrs))
    if (!isObserveCompositeAttribute(name))
      throw new AttributeError('not-allowed', name, `${name} is not allowed on Observe-Composite`);
}

function versionKey(version: string): number {
  const m = /^([0-9]{1,4})\.([0-9]{1,4})$/.exec(version);
  return m ? Number(m[1]) * 10000 + Number(m[2]) : Number.POSITIVE_INFINITY;
}

/**
 * Drops attributes the peer's enabler version does not know: epmin/epmax are 1.1, edge/con/hqmax
 * are 1.2 (LWM2M-1.2.md §5: do not send them to a 1.1 client). An unparsable version keeps all.
 */
export function filterAttributesForVersion<T extends { readonly [K in NotificationAttributeName]?: unknown }>(
  attrs: T,
  version: string,
): T {
  const peer = versionKey(version);
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (isNotificationAttributeName(name) && versionKey(NOTIFICATION_ATTRIBUTES[name].since) > peer) continue;
    out[name] = v;
  }
  return out as T;
}
