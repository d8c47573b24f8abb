import { PetrelError } from '../errors.js';
import { parseExecuteArguments, parseExecuteQuery } from '../operations/execute-arguments.js';
import type { ExecuteArgument } from '../operations/requests.js';

/*
 * Which transport binding the client uses to reach one LwM2M Server (TRAN-BIND-001..009;
 * LWM2M-1.2.md §3.1). Pure functions over resource values, so the rule lives in one place and the
 * transport layer only opens what it is told. docs/bindings.md "Choosing the binding" is the
 * user-facing description; keep the two in step.
 */

/** Binding letters (Core §6.2.1.2): UDP, TCP, SMS, Non-IP, MQTT (1.2), HTTP (1.2). */
export type BindingLetter = 'U' | 'T' | 'S' | 'N' | 'M' | 'H';

const LETTERS: readonly BindingLetter[] = ['U', 'T', 'S', 'N', 'M', 'H'];

/** The client's order when several bindings would do: IP ones first, UDP the one every server has. */
export const DEFAULT_CLIENT_PREFERENCE: readonly BindingLetter[] = Object.freeze([
  'U',
  'T',
  'M',
  'H',
  'N',
  'S',
]);

export function isBindingLetter(x: unknown): x is BindingLetter {
  return typeof x === 'string' && (LETTERS as readonly string[]).includes(x);
}

export type BindingChoiceErrorReason =
  | 'bad-binding-letters' // a /1/x/7, /3/0/16 or `b` value outside the letter set
  | 'bad-trigger-argument'; // a Registration Update Trigger argument that is not one letter (answer 4.00)

export class BindingChoiceError extends PetrelError {
  readonly reason: BindingChoiceErrorReason;
  constructor(reason: BindingChoiceErrorReason, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_BINDING_CHOICE', message, options);
    this.reason = reason;
  }
}

const clip = (text: string): string => (text.length > 24 ? `${text.slice(0, 24)}…` : text);
/** A value from outside for a message: strings clipped, other types named. */
const shown = (x: unknown): string =>
  clip(typeof x === 'string' ? x : typeof x === 'number' ? String(x) : `(${typeof x})`);

/*
 * URI schemes per binding (LWM2M-1.2.md §3.1 table). `sms` (RFC 5724) and `lorawan` stand for the
 * S and N transports: the caller builds `sms:<MSISDN>` from /0/x/9 when the server has one.
 * coap+ws / coaps+ws (1.2.1, CL122 only) have no letter of their own, so they are not chosen.
 */
const SCHEME_BINDINGS: ReadonlyMap<string, BindingLetter> = new Map<string, BindingLetter>([
  ['coap', 'U'],
  ['coaps', 'U'],
  ['coap+tcp', 'T'],
  ['coaps+tcp', 'T'],
  ['mqtt', 'M'],
  ['mqtts', 'M'],
  ['http', 'H'],
  ['https', 'H'],
  ['sms', 'S'],
  ['lorawan', 'N'],
]);

/** The binding of a URI scheme (`coaps`, `coaps:`, case-insensitive as RFC 3986 §3.1 says). */
export function schemeBinding(scheme: string): BindingLetter | undefined {
  if (typeof scheme !== 'string' || scheme.length > 16) return undefined;
  const name = scheme.endsWith(':') ? scheme.slice(0, -1) : scheme;
  return SCHEME_BINDINGS.get(name.toLowerCase());
}

// RFC 3986 scheme, bounded: no scheme in the table is longer than 9 characters.
const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]{0,15}):/;

/** The binding a server URI (/0/x/0 or /0/x/25) reaches the server over, if Petrel knows its scheme. */
export function uriBinding(uri: string): BindingLetter | undefined {
  if (typeof uri !== 'string') return undefined;
  const scheme = SCHEME_RE.exec(uri)?.[1];
  return scheme === undefined ? undefined : schemeBinding(scheme);
}

export interface BindingLetters {
  /** The binding letters without `Q`, in the order given. */
  readonly letters: readonly BindingLetter[];
  /** Whether a 1.0 queue-mode `Q` was among them (`UQ`, `SQ`, `UQS`). */
  readonly queue: boolean;
}

/**
 * Parses binding letters as /1/x/7, /3/0/16 and `b` hold them: 1.1/1.2 `UT`, `UN` …, and the 1.0
 * forms with queue mode inside (`UQ`, `SQ`, `UQS`), `Q` split off. The same grammar as the
 * Register parameter (registration-parameters.ts parseBinding): a letter twice, an unknown letter,
 * or no binding at all is refused. Throws BindingChoiceError 'bad-binding-letters'.
 */
export function parseBindingLetters(text: string): BindingLetters {
  const bad = (why: string): never => {
    throw new BindingChoiceError('bad-binding-letters', `binding "${shown(text)}": ${why}`);
  };
  if (typeof text !== 'string') bad('not a string');
  if (text === '') bad('empty');
  if (text.length > LETTERS.length + 1) bad('too many letters');
  const letters: BindingLetter[] = [];
  let queue = false;
  for (const c of text) {
    if (c === 'Q') {
      if (queue) bad('"Q" twice');
      queue = true;
    } else if (isBindingLetter(c)) {
      if (letters.includes(c)) bad(`"${c}" twice`);
      letters.push(c);
    } else bad(`unknown binding letter "${c}"`);
  }
  if (letters.length === 0) bad('names no binding');
  return { letters, queue };
}

/** /11/x/24 PDN Type values (OMA registry, object 11 v1.1). */
export const PDN_TYPES = Object.freeze({ NON_IP: 0, IPV4: 1, IPV6: 2, IPV4V6: 3 } as const);

const IP_BINDINGS: readonly BindingLetter[] = ['U', 'T', 'M', 'H'];

/**
 * The bindings a PDN of /11/x/24's type can carry: Non-IP carries N, an IP PDN (IPv4, IPv6,
 * IPv4v6) carries every IP binding (U, T, M, H). SMS travels outside the PDN, so no type gives S.
 * Undefined for a value the registry does not define.
 */
export function pdnTypeBindings(pdnType: number): readonly BindingLetter[] | undefined {
  if (pdnType === PDN_TYPES.NON_IP) return ['N'];
  if (pdnType === PDN_TYPES.IPV4 || pdnType === PDN_TYPES.IPV6 || pdnType === PDN_TYPES.IPV4V6)
    return IP_BINDINGS;
  return undefined;
}

export interface TransportChoiceInput {
  /** /0/x/0 LwM2M Server URI first, then the /0/x/25 Secondary LwM2M Server URIs in instance order. */
  readonly serverUris: readonly string[];
  /** /1/x/22 Preferred Transport: one letter; empty means unset. */
  readonly preferredTransport?: string;
  /** /1/x/7 Binding (1.0 `Q` allowed); absent means `U`. */
  readonly binding?: string;
  /** /3/0/16 Supported Binding and Modes: what the client can do (`Q` allowed). */
  readonly supported: string;
  /** The Registration Update Trigger's argument (/1/x/8 `0='T'`), for the connection it opens. */
  readonly triggerOverride?: BindingLetter;
  /** /11/x/24 PDN Type of the APN in use (/1/x/10): 0 Non-IP, 1 IPv4, 2 IPv6, 3 IPv4v6. */
  readonly pdnType?: number;
  /** The client's order among bindings that would do; letters left out follow in the default order. */
  readonly clientPreference?: readonly BindingLetter[];
}

/** Which step of the rule picked the binding (docs/bindings.md "Choosing the binding"). */
export type TransportRule = 'trigger' | 'preferred-transport' | 'pdn-type' | 'common-binding';

export interface TransportChoice {
  /** The server URI to connect to: the first of serverUris with the chosen binding's scheme. */
  readonly uri: string;
  readonly letter: BindingLetter;
  readonly rule: TransportRule;
  /** For logs: which rule picked it, and why earlier rules did not. */
  readonly reason: string;
}

export type TransportChoiceErrorReason =
  | 'bad-binding' // /1/x/7 does not parse
  | 'bad-supported' // /3/0/16 does not parse
  | 'no-server-uri' // serverUris is empty
  | 'no-usable-binding'; // no binding the client supports, the server offers and a URI reaches

export interface TransportChoiceFailure {
  readonly error: { readonly reason: TransportChoiceErrorReason; readonly message: string };
}

export type TransportChoiceResult = TransportChoice | TransportChoiceFailure;

export function isTransportChoiceFailure(r: TransportChoiceResult): r is TransportChoiceFailure {
  return 'error' in r;
}

function failure(reason: TransportChoiceErrorReason, message: string): TransportChoiceFailure {
  return { error: { reason, message } };
}

/** `clientPreference` made total: its valid letters once each, then the rest in the default order. */
function preferenceOrder(pref: readonly BindingLetter[] | undefined): BindingLetter[] {
  const out: BindingLetter[] = [];
  for (const l of [...(Array.isArray(pref) ? (pref as unknown[]) : []), ...DEFAULT_CLIENT_PREFERENCE])
    if (isBindingLetter(l) && !out.includes(l)) out.push(l);
  return out;
}

const letterList = (ls: Iterable<BindingLetter>): string => [...ls].join('') || 'none';

/**
 * Chooses the binding and URI for a new transport session with one server. One rule, first match
 * wins; "usable" means the client supports the letter (/3/0/16) and a server URI has its scheme,
 * and "the server's bindings" are /1/x/7 plus U, which the client SHALL assume every server has:
 *  1. the Registration Update Trigger's argument, when usable and one of the server's bindings;
 *  2. /1/x/22 Preferred Transport, when usable (it may name a letter /1/x/7 lacks: the server sets
 *     it to reach a device another way, e.g. U for a firmware download on a Non-IP device);
 *  3. a binding the /11/x/24 PDN type carries, among the server's bindings and usable, in the
 *     client's preference order;
 *  4. any of the server's bindings that is usable, in the client's preference order.
 * Otherwise a failure says what each side offered. Bad input never throws: an unparsable /1/x/7
 * or /3/0/16 is a failure, a bad /1/x/22, trigger letter or PDN type is skipped and noted in
 * `reason`. Configuration changes affect only sessions opened afterwards (the caller decides when
 * to call this; see needsReconnect).
 */
export function chooseTransport(input: TransportChoiceInput): TransportChoiceResult {
  let supported: readonly BindingLetter[];
  try {
    supported = parseBindingLetters(input.supported).letters;
  } catch (e) {
    return failure('bad-supported', `/3/0/16 Supported Binding and Modes: ${(e as Error).message}`);
  }
  let configured: readonly BindingLetter[] = ['U'];
  if (input.binding !== undefined) {
    try {
      configured = parseBindingLetters(input.binding).letters;
    } catch (e) {
      return failure('bad-binding', `/1/x/7 Binding: ${(e as Error).message}`);
    }
  }
  const uris = Array.isArray(input.serverUris) ? (input.serverUris as unknown[]) : [];
  if (uris.length === 0) return failure('no-server-uri', 'no LwM2M Server URI (/0/x/0, /0/x/25)');

  // The first URI per binding: the primary URI wins over secondaries of the same binding.
  const uriOf = new Map<BindingLetter, string>();
  for (const uri of uris) {
    if (typeof uri !== 'string') continue;
    const letter = uriBinding(uri);
    if (letter !== undefined && !uriOf.has(letter)) uriOf.set(letter, uri);
  }
  const server = new Set<BindingLetter>(['U', ...configured]);
  const order = preferenceOrder(input.clientPreference);
  const notes: string[] = [];
  const why = (l: BindingLetter, needsServer: boolean): string | undefined => {
    if (!supported.includes(l)) return `the client does not support ${l} (/3/0/16 "${supported.join('')}")`;
    if (needsServer && !server.has(l)) return `/1/x/7 "${configured.join('')}" does not list ${l}`;
    if (!uriOf.has(l)) return `no server URI has a ${l} scheme`;
    return undefined;
  };
  const pick = (letter: BindingLetter, rule: TransportRule, because: string): TransportChoice => ({
    uri: uriOf.get(letter)!,
    letter,
    rule,
    reason: [...notes, because].join('; '),
  });

  // 1. Trigger argument (T12: "the client SHALL use it" if supported and in /1/x/7).
  const trigger: unknown = input.triggerOverride;
  if (trigger !== undefined) {
    if (!isBindingLetter(trigger)) notes.push(`trigger argument "${shown(trigger)}" is not a binding`);
    else {
      const blocked = why(trigger, true);
      if (blocked === undefined)
        return pick(trigger, 'trigger', `${trigger} asked for by the Registration Update Trigger argument`);
      notes.push(`trigger argument ${trigger} ignored: ${blocked}`);
    }
  }

  // 2. Preferred Transport (Core: the client SHALL use it to initiate the connection unless it cannot).
  const preferred: unknown = input.preferredTransport;
  if (preferred !== undefined && preferred !== '') {
    if (!isBindingLetter(preferred))
      notes.push(`/1/x/22 Preferred Transport "${shown(preferred)}" is not one binding letter`);
    else {
      const blocked = why(preferred, false);
      if (blocked === undefined)
        return pick(preferred, 'preferred-transport', `${preferred} is the /1/x/22 Preferred Transport`);
      notes.push(`/1/x/22 Preferred Transport ${preferred} not possible: ${blocked}`);
    }
  }

  // 3. APN PDN type (preferred when /1/x/7 lists it).
  if (input.pdnType !== undefined) {
    const carried = pdnTypeBindings(input.pdnType);
    if (carried === undefined) notes.push(`/11/x/24 PDN Type ${String(input.pdnType)} is not defined`);
    else {
      const letter = order.find((l) => carried.includes(l) && why(l, true) === undefined);
      if (letter !== undefined)
        return pick(
          letter,
          'pdn-type',
          `${letter} fits the /11/x/24 PDN Type ${input.pdnType} and is one of the server's bindings`,
        );
      notes.push(`no binding of the /11/x/24 PDN Type ${input.pdnType} is possible`);
    }
  }

  // 4. A binding both sides have, by the client's preference.
  const letter = order.find((l) => why(l, true) === undefined);
  if (letter !== undefined)
    return pick(
      letter,
      'common-binding',
      `${letter} is the client's first choice among /1/x/7 "${configured.join('')}" (+U assumed) ` +
        `and /3/0/16 "${supported.join('')}" that a server URI reaches`,
    );

  return failure(
    'no-usable-binding',
    [
      ...notes,
      `no usable binding: the client supports ${letterList(supported)} (/3/0/16), ` +
        `the server ${letterList(server)} (/1/x/7 "${configured.join('')}" + U assumed), ` +
        `the server URIs reach ${letterList(order.filter((l) => uriOf.has(l)))}`,
    ].join('; '),
  );
}

/**
 * Whether the chosen binding means releasing the current connection and opening another (T12:
 * a trigger naming a different binding SHALL make the client reconnect at once). No current
 * connection (undefined) always needs one.
 */
export function needsReconnect(
  current: BindingLetter | undefined,
  chosen: BindingLetter | TransportChoice,
): boolean {
  const letter = typeof chosen === 'string' ? chosen : chosen.letter;
  return current !== letter;
}

function badTrigger(message: string, cause?: unknown): never {
  throw new BindingChoiceError(
    'bad-trigger-argument',
    `Registration Update Trigger: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The binding named by a Registration Update Trigger's arguments (Execute /1/x/8), or undefined
 * when argument 0 is absent. Takes the parsed arguments (from the payload or from the `?0=U` query
 * form) or the raw payload: the Execute grammar's `0='U'`, and `0=U` as the Transport TS shows it.
 * Other argument digits are ignored (none is defined). Throws BindingChoiceError
 * 'bad-trigger-argument' (answer 4.00) for text outside both forms, or an argument 0 that is not
 * exactly one binding letter. Whether the client can use the letter is chooseTransport's call.
 */
export function parseTriggerArgument(
  args: string | Uint8Array | readonly ExecuteArgument[],
): BindingLetter | undefined {
  let list: readonly ExecuteArgument[];
  if (Array.isArray(args)) list = args as readonly ExecuteArgument[];
  else if (typeof args === 'string' || args instanceof Uint8Array) list = parsePayload(args);
  else badTrigger('arguments must be text, bytes or parsed arguments');
  const zero: unknown[] = list.filter((a: unknown) => (a as ExecuteArgument | null)?.digit === 0);
  if (zero.length === 0) return undefined;
  if (zero.length > 1) badTrigger('argument 0 given twice');
  const value: unknown = (zero[0] as ExecuteArgument).value;
  if (value === undefined) badTrigger('argument 0 has no binding letter');
  if (!isBindingLetter(value))
    badTrigger(`argument 0 "${shown(value)}" is not one binding letter (U, T, S, N, M, H)`);
  return value;
}

function parsePayload(payload: string | Uint8Array): readonly ExecuteArgument[] {
  try {
    return parseExecuteArguments(payload);
  } catch (strict) {
    // `0=U` (no quotes) is outside the Execute grammar but is how T12 writes the argument.
    const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('latin1');
    try {
      return parseExecuteQuery(text.split(','));
    } catch {
      return badTrigger((strict as Error).message, strict);
    }
  }
}
