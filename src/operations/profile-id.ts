import { OperationError } from './result-code.js';

/*
 * The 1.2 registration parameter `pid` (Core §6.2.1; LWM2M-1.2.md §1.2):
 *   pid         = profileID / DQUOTE profileID *("," profileID) DQUOTE
 *   profileID   = dynamicID / preConfigID
 *   dynamicID   = 1*DIGIT ":" 1*(DIGIT / "a"-"f")        RFC 6920 suite id, hex hash
 *   preConfigID = ("oma" / "v") ":" 1*(ALPHA / DIGIT / "-")
 * A dynamic hash is at least 32 bits (8 hex digits).
 *
 * Choices: ABNF quoted strings are case-insensitive, so `OMA:` and `V:` are accepted and written
 * back lowercase; hex digits are accepted in either case and kept lowercase, so one hash is one
 * cache key. The suite id is bounded to 0..255 (the range of /1/x/27 Profile ID Hash Algorithm),
 * the hash to 512 bits, a name to 64 characters and a parameter to 32 ids.
 */

export type ProfileIdKind = 'pre-configured' | 'dynamic';

export type ProfileId =
  | {
      readonly kind: 'pre-configured';
      /** The id in canonical form (`oma:basic-sensor`). */
      readonly text: string;
      /** `oma` (OMNA-registered) or `v` (vendor). */
      readonly namespace: 'oma' | 'v';
      readonly name: string;
    }
  | {
      readonly kind: 'dynamic';
      readonly text: string;
      /** RFC 6920 hash suite id (e.g. 6 = sha-256 truncated to 32 bits). */
      readonly suite: number;
      /** The hash, lowercase hex. */
      readonly hash: string;
    };

export const MIN_DYNAMIC_HASH_HEX_DIGITS = 8;
const MAX_HASH_HEX_DIGITS = 128;
const MAX_NAME_LENGTH = 64;
export const MAX_PROFILE_IDS = 32;

const PRECONFIG_RE = /^(oma|v):([A-Za-z0-9-]+)$/i;
const DYNAMIC_RE = /^([0-9]+):([0-9A-Fa-f]+)$/;

function fail(message: string): never {
  throw new OperationError('bad-parameter', '4.00', `pid: ${message}`);
}

function shown(text: string): string {
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

/** Parses and classifies one profile id. Throws OperationError('bad-parameter', 4.00). */
export function parseProfileId(text: string): ProfileId {
  const pre = PRECONFIG_RE.exec(text);
  if (pre) {
    const namespace = pre[1]!.toLowerCase() as 'oma' | 'v';
    const name = pre[2]!;
    if (name.length > MAX_NAME_LENGTH) fail(`name of "${shown(text)}" is longer than ${MAX_NAME_LENGTH}`);
    return { kind: 'pre-configured', text: `${namespace}:${name}`, namespace, name };
  }
  const dyn = DYNAMIC_RE.exec(text);
  if (dyn) {
    const suiteText = dyn[1]!;
    const suite = suiteText.length <= 3 ? Number(suiteText) : Number.NaN;
    if (!(suite <= 255)) fail(`suite id of "${shown(text)}" is not 0..255`);
    const hash = dyn[2]!.toLowerCase();
    if (hash.length < MIN_DYNAMIC_HASH_HEX_DIGITS)
      fail(`hash of "${shown(text)}" is shorter than 32 bits (${MIN_DYNAMIC_HASH_HEX_DIGITS} hex digits)`);
    if (hash.length > MAX_HASH_HEX_DIGITS) fail(`hash of "${shown(text)}" is longer than 512 bits`);
    return { kind: 'dynamic', text: `${suite}:${hash}`, suite, hash };
  }
  fail(`"${shown(text)}" is neither oma:/v: + name nor suite:hexhash`);
}

export function classifyProfileId(text: string): ProfileIdKind {
  return parseProfileId(text).kind;
}

/**
 * Parses the value of a `pid` parameter: one id, or a DQUOTEd comma list (`"oma:a,6:1234abcd"`).
 * Returns the ids in canonical form, in order. A repeated id is refused (it is surely a fault).
 */
export function parseProfileIdParameter(value: string): string[] {
  let body = value;
  if (value.startsWith('"')) {
    if (value.length < 2 || !value.endsWith('"')) fail('unterminated quoted list');
    body = value.slice(1, -1);
  }
  if (body === '') fail('empty value');
  const parts = body.split(',', MAX_PROFILE_IDS + 1);
  if (parts.length > MAX_PROFILE_IDS) fail(`more than ${MAX_PROFILE_IDS} ids`);
  if (parts.length > 1 && body === value) fail('a list of several ids must be in double quotes');
  const out: string[] = [];
  for (const part of parts) {
    const id = parseProfileId(part).text;
    if (out.includes(id)) fail(`"${shown(id)}" given twice`);
    out.push(id);
  }
  return out;
}

/** Formats ids as a `pid` value: a single id bare, several as a DQUOTEd comma list. */
export function formatProfileIdParameter(ids: readonly string[]): string {
  if (ids.length === 0) fail('no ids to format');
  if (ids.length > MAX_PROFILE_IDS) fail(`more than ${MAX_PROFILE_IDS} ids`);
  const canonical = ids.map((id) => parseProfileId(id).text);
  if (new Set(canonical).size !== canonical.length) fail('an id given twice');
  return canonical.length === 1 ? canonical[0]! : `"${canonical.join(',')}"`;
}
