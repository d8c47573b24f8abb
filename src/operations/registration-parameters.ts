import type { RegistrationPayload } from '../model/registration-payload.js';
import { formatProfileIdParameter, parseProfileIdParameter } from './profile-id.js';
import type { RegisterRequest, UpdateRequest } from './requests.js';
import { OperationError } from './result-code.js';
import {
  DEFAULT_LWM2M_VERSION,
  parseLwM2mVersion,
  resolveLwM2mVersion,
  SUPPORTED_LWM2M_VERSIONS,
  versionFeatures,
} from './version.js';

/*
 * Register and Update parameters (Core §6.2.1 "Registration Parameters", §6.2.2; LWM2M-1.2.md
 * §1.2, §3.1, §5). Choices where the spec leaves room:
 * - `ep`: 1..255 UTF-8 bytes, no control characters, well-formed Unicode. (A CoAP Uri-Query holds
 *   at most 255 bytes with "ep=", so this bound only matters on other bindings.)
 * - `lt`: decimal 0..2^32-1, leading zeros tolerated. 0 is accepted and means the registration
 *   never expires (/1/x/1: "If the value is set to 0, the lifetime is infinite"), see
 *   INFINITE_LIFETIME. Absent: 86400 for 1.0, a 'missing-parameter' 4.00 from 1.1.
 * - `lwm2m`: absent means 1.0; `1.2.1` is accepted and stands for 1.2 (see version.ts); a well
 *   formed version not served is 4.12, a malformed one 4.00.
 * - `b`: letters U, T, S, N, M, H, each at most once, kept in the client's order. A `Q` inside `b`
 *   (the 1.0 forms UQ, SQ, UQS) is accepted from any version and sets queue mode, since a server
 *   "should parse these legacy values". Letters are not checked against the version.
 * - `Q` is a flag: `Q=…` is refused (4.00).
 * - `sms`: an MSISDN of 1..15 digits without "+", or an External Identifier `local@domain`.
 * - `pid`: accepted from any version (a pre-1.2 client will not send it).
 * - Update: `lt`, `b`, `Q`, `sms`, `pid`. `ep` and `lwm2m` cannot change without a new Register,
 *   so they are 'unknown-parameter' (4.00) on an Update, or dropped with allowUnknownParameters.
 * - Any parameter twice is 'bad-parameter' (4.00); unknown parameters 'unknown-parameter' (4.00)
 *   unless allowUnknownParameters, which keeps them in extraParameters (Register) or drops them.
 */

/** `lt=0`: the registration never expires (/1/x/1 Lifetime, 0 = infinite). */
export const INFINITE_LIFETIME = 0;
/** The Register lifetime of a 1.0 client that sends no `lt` (Core 1.0 default). */
export const DEFAULT_LIFETIME_1_0 = 86400;
export const MAX_LIFETIME = 0xffff_ffff;
export const MAX_ENDPOINT_NAME_BYTES = 255;
/** The binding when `b` is absent (Core §6.2.1). */
export const DEFAULT_BINDING = 'U';
/** Binding letters (LWM2M-1.2.md §3.1): UDP, TCP, SMS, Non-IP, MQTT (1.2), HTTP (1.2). */
export const BINDING_LETTERS = Object.freeze(['U', 'T', 'S', 'N', 'M', 'H'] as const);

export interface RegistrationParameterOptions {
  /** Keep parameters the spec does not define instead of refusing them (4.00). */
  readonly allowUnknownParameters?: boolean;
  /** Enabler versions served (default all of SUPPORTED_LWM2M_VERSIONS); others get 4.12. */
  readonly supportedVersions?: readonly string[];
}

export interface UpdateParameterOptions {
  readonly allowUnknownParameters?: boolean;
  /**
   * The registration's enabler version. For 1.0, queue mode lives in `b`, so an Update whose `b`
   * has no `Q` turns queue mode off; from 1.1 an absent `Q` means "unchanged".
   */
  readonly lwm2mVersion?: string;
}

function bad(message: string): never {
  throw new OperationError('bad-parameter', '4.00', message);
}

function clip(text: string): string {
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

type QueryValue = string | true;

/** Splits query items at the first "=" (value-less items map to true); a name twice is 4.00. */
function splitQuery(query: readonly string[]): Map<string, QueryValue> {
  const out = new Map<string, QueryValue>();
  for (const item of query) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (name === '') bad(`query item "${clip(item)}" has no parameter name`);
    if (out.has(name)) bad(`parameter "${clip(name)}" given twice`);
    out.set(name, eq < 0 ? true : item.slice(eq + 1));
  }
  return out;
}

function valueOf(name: string, value: QueryValue): string {
  if (value === true) bad(`parameter "${name}" needs a value`);
  if (value === '') bad(`parameter "${name}" has an empty value`);
  return value;
}

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks an endpoint client name (`ep`). */
export function checkEndpointName(ep: string): string {
  if (ep === '') bad('ep: empty endpoint name');
  if (Buffer.byteLength(ep, 'utf8') > MAX_ENDPOINT_NAME_BYTES)
    bad(`ep: longer than ${MAX_ENDPOINT_NAME_BYTES} bytes`);
  if (LONE_SURROGATE_RE.test(ep)) bad('ep: not well-formed Unicode');
  if (CONTROL_RE.test(ep)) bad(`ep: "${clip(ep)}" contains a control character`);
  return ep;
}

/** Parses `lt`: decimal seconds 0..2^32-1. */
export function parseLifetime(text: string): number {
  if (!/^[0-9]{1,10}$/.test(text)) bad(`lt: "${clip(text)}" is not a decimal number of seconds`);
  const n = Number(text);
  if (n > MAX_LIFETIME) bad(`lt: ${n} is larger than ${MAX_LIFETIME}`);
  return n;
}

function checkLifetime(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_LIFETIME) bad(`lt: ${n} is not an integer 0..${MAX_LIFETIME}`);
  return n;
}

export interface ParsedBinding {
  /** The letters without `Q`, in the order given. */
  readonly binding: string;
  /** Whether a legacy 1.0 `Q` was among them. */
  readonly queueMode: boolean;
}

/** Parses `b`: binding letters, with the 1.0 `Q` (UQ, SQ, UQS …) split off into queue mode. */
export function parseBinding(text: string): ParsedBinding {
  if (text === '') bad('b: empty binding');
  if (text.length > BINDING_LETTERS.length + 1) bad(`b: "${clip(text)}" has too many letters`);
  let binding = '';
  let queueMode = false;
  for (const letter of text) {
    if (letter === 'Q') {
      if (queueMode) bad(`b: "${text}" has "Q" twice`);
      queueMode = true;
    } else if ((BINDING_LETTERS as readonly string[]).includes(letter)) {
      if (binding.includes(letter)) bad(`b: "${text}" has "${letter}" twice`);
      binding += letter;
    } else bad(`b: "${clip(text)}" has the unknown binding letter "${letter}"`);
  }
  if (binding === '') bad(`b: "${text}" names no binding`);
  return { binding, queueMode };
}

/** Checks a binding string (no `Q`) for formatting. */
function checkBinding(binding: string): string {
  const parsed = parseBinding(binding);
  if (parsed.queueMode) bad(`b: "${binding}" must not contain "Q" (queue mode is a separate flag)`);
  return binding;
}

/**
 * The 1.0 spelling of binding + queue mode (Core 1.0 §5.3.1.1: U, UQ, S, SQ, US, UQS): `Q` right
 * after the letter it qualifies, U first when both U and S are present.
 */
export function formatLegacyBinding(binding: string, queueMode: boolean): string {
  checkBinding(binding);
  if (!queueMode) return binding;
  const i = binding.indexOf('U') >= 0 ? binding.indexOf('U') : 0;
  return `${binding.slice(0, i + 1)}Q${binding.slice(i + 1)}`;
}

const MSISDN_RE = /^[0-9]{1,15}$/;
const EXTERNAL_ID_RE = /^[\x21-\x3f\x41-\x7e]{1,255}@[\x21-\x3f\x41-\x7e]{1,255}$/;

/** Checks `sms`: an MSISDN (digits, no "+") or an External Identifier (`local@domain`). */
export function checkSmsNumber(text: string): string {
  if (text.length > 255 || !(MSISDN_RE.test(text) || EXTERNAL_ID_RE.test(text)))
    bad(`sms: "${clip(text)}" is neither an MSISDN (digits without "+") nor an External Identifier`);
  return text;
}

function flag(name: string, value: QueryValue): true {
  if (value !== true) bad(`${name} is a flag and takes no value (got "${clip(value)}")`);
  return true;
}

/**
 * Parses a Register's query and object list into a RegisterRequest (Core §6.2.1). Throws
 * OperationError: 'bad-parameter' / 'missing-parameter' / 'unknown-parameter' (4.00),
 * 'unsupported-version' (4.12).
 */
export function parseRegisterParameters(
  query: readonly string[],
  payload: RegistrationPayload | undefined,
  options: RegistrationParameterOptions = {},
): RegisterRequest {
  const params = splitQuery(query);
  // The version first: it decides which parameters are mandatory.
  const lwm2mText = params.get('lwm2m');
  let lwm2mVersion: string = DEFAULT_LWM2M_VERSION;
  if (lwm2mText !== undefined) {
    const text = valueOf('lwm2m', lwm2mText);
    const resolved = resolveLwM2mVersion(text, options.supportedVersions ?? SUPPORTED_LWM2M_VERSIONS);
    if (resolved === undefined)
      throw new OperationError('unsupported-version', '4.12', `lwm2m: version ${text} is not supported`);
    lwm2mVersion = resolved;
  } else if (!(options.supportedVersions ?? SUPPORTED_LWM2M_VERSIONS).includes(DEFAULT_LWM2M_VERSION)) {
    throw new OperationError('unsupported-version', '4.12', 'lwm2m: absent (1.0) and 1.0 is not supported');
  }
  const features = versionFeatures(lwm2mVersion);

  let endpoint: string | undefined;
  const common: CommonParameters = {};
  const extraParameters = new Map<string, string | true>();
  for (const [name, value] of params) {
    if (name === 'lwm2m' || readCommonParameter(name, value, common, false)) continue;
    if (name === 'ep') {
      endpoint = checkEndpointName(valueOf(name, value));
      continue;
    }
    if (!options.allowUnknownParameters)
      throw new OperationError('unknown-parameter', '4.00', `unknown Register parameter "${clip(name)}"`);
    extraParameters.set(name, value);
  }
  let lifetime = common.lifetime;
  if (lifetime === undefined) {
    if (features.mandatoryRegisterParameters)
      throw new OperationError('missing-parameter', '4.00', `lt is mandatory for LwM2M ${lwm2mVersion}`);
    lifetime = DEFAULT_LIFETIME_1_0;
  }
  return {
    kind: 'register',
    endpoint,
    lifetime,
    lwm2mVersion,
    binding: common.binding ?? DEFAULT_BINDING,
    queueMode: common.queueMode ?? false,
    sms: common.sms,
    profileIds: common.profileIds ?? [],
    objects: payload,
    extraParameters,
  };
}

/** What Register and Update share: `lt`, `b`, `Q`, `sms`, `pid` (Core §6.2.1, §6.2.2). */
interface CommonParameters {
  lifetime?: number;
  binding?: string;
  queueMode?: boolean;
  sms?: string;
  profileIds?: readonly string[];
}

/**
 * Reads one of the shared parameters into `into`; false for any other name. `legacyB`: a 1.0
 * registration, whose `b` without `Q` turns queue mode off (the mode lives in `b` there).
 */
function readCommonParameter(
  name: string,
  value: QueryValue,
  into: CommonParameters,
  legacyB: boolean,
): boolean {
  switch (name) {
    case 'lt':
      into.lifetime = parseLifetime(valueOf(name, value));
      return true;
    case 'b': {
      const parsed = parseBinding(valueOf(name, value));
      into.binding = parsed.binding;
      if (parsed.queueMode) into.queueMode = true;
      else if (legacyB && into.queueMode === undefined) into.queueMode = false;
      return true;
    }
    case 'Q':
      into.queueMode = flag(name, value);
      return true;
    case 'sms':
      into.sms = checkSmsNumber(valueOf(name, value));
      return true;
    case 'pid':
      into.profileIds = parseProfileIdParameter(valueOf(name, value));
      return true;
    default:
      return false;
  }
}

/**
 * Parses an Update's query and optional object list (Core §6.2.2): only what changed is set.
 * Throws OperationError as parseRegisterParameters does.
 */
export function parseUpdateParameters(
  registrationId: string,
  query: readonly string[],
  payload: RegistrationPayload | undefined,
  options: UpdateParameterOptions = {},
): UpdateRequest {
  const params = splitQuery(query);
  const legacy = options.lwm2mVersion !== undefined && !versionFeatures(options.lwm2mVersion).queueModeFlag;
  const common: CommonParameters = {};
  for (const [name, value] of params) {
    if (readCommonParameter(name, value, common, legacy)) continue;
    if (!options.allowUnknownParameters)
      throw new OperationError(
        'unknown-parameter',
        '4.00',
        name === 'ep' || name === 'lwm2m'
          ? `${name} cannot change in an Update (send a new Register)`
          : `unknown Update parameter "${clip(name)}"`,
      );
  }
  const { lifetime, binding, queueMode, sms, profileIds } = common;
  return {
    kind: 'update',
    registrationId,
    ...(lifetime === undefined ? {} : { lifetime }),
    ...(binding === undefined ? {} : { binding }),
    ...(queueMode === undefined ? {} : { queueMode }),
    ...(sms === undefined ? {} : { sms }),
    ...(profileIds === undefined ? {} : { profileIds }),
    ...(payload === undefined ? {} : { objects: payload }),
  };
}

const SPEC_PARAMETERS: readonly string[] = ['ep', 'lt', 'lwm2m', 'b', 'Q', 'sms', 'pid'];

/**
 * The Uri-Query items of a Register (client side), validated: `ep`, `lt`, `lwm2m`, `b`, `Q`, `sms`,
 * `pid`, then extra parameters. `b` is always written (so the binding is explicit); for a 1.0
 * client queue mode goes into `b` (`UQ`), otherwise it is the `Q` flag. Throws OperationError.
 */
export function formatRegisterQuery(req: RegisterRequest): string[] {
  const version = parseLwM2mVersion(req.lwm2mVersion);
  const legacy = !versionFeatures(version).queueModeFlag;
  const out: string[] = [];
  if (req.endpoint !== undefined) out.push(`ep=${checkEndpointName(req.endpoint)}`);
  out.push(`lt=${checkLifetime(req.lifetime)}`);
  out.push(`lwm2m=${req.lwm2mVersion}`);
  if (legacy) out.push(`b=${formatLegacyBinding(req.binding, req.queueMode)}`);
  else {
    out.push(`b=${checkBinding(req.binding)}`);
    if (req.queueMode) out.push('Q');
  }
  if (req.sms !== undefined) out.push(`sms=${checkSmsNumber(req.sms)}`);
  if (req.profileIds.length > 0) out.push(`pid=${formatProfileIdParameter(req.profileIds)}`);
  for (const [name, value] of req.extraParameters) {
    if (name === '' || name.includes('=') || SPEC_PARAMETERS.includes(name))
      bad(`extra parameter "${clip(name)}" is not a valid extra parameter name`);
    out.push(value === true ? name : `${name}=${value}`);
  }
  return out;
}

/**
 * The Uri-Query items of an Update (client side): only the fields set. With `lwm2mVersion` 1.0,
 * queue mode is written into `b` and so needs the binding. Throws OperationError.
 */
export function formatUpdateQuery(req: UpdateRequest, options: { lwm2mVersion?: string } = {}): string[] {
  const legacy = options.lwm2mVersion !== undefined && !versionFeatures(options.lwm2mVersion).queueModeFlag;
  const out: string[] = [];
  if (req.lifetime !== undefined) out.push(`lt=${checkLifetime(req.lifetime)}`);
  if (legacy) {
    if (req.binding !== undefined) out.push(`b=${formatLegacyBinding(req.binding, req.queueMode ?? false)}`);
    else if (req.queueMode !== undefined)
      bad('a 1.0 Update changes queue mode through b, so it needs the binding');
  } else {
    if (req.binding !== undefined) out.push(`b=${checkBinding(req.binding)}`);
    if (req.queueMode === true) out.push('Q');
  }
  if (req.sms !== undefined) out.push(`sms=${checkSmsNumber(req.sms)}`);
  if (req.profileIds !== undefined && req.profileIds.length > 0)
    out.push(`pid=${formatProfileIdParameter(req.profileIds)}`);
  return out;
}
