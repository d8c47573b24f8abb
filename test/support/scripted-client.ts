/**
 * A scripted LwM2M client for server tests: it plays a real client's capture (client A, LwM2M 1.2;
 * client B, 1.1) over any Channel with our CoapEndpoint. It sends the captured uplinks (Register,
 * Update, Send, De-register) with fresh tokens and message ids, answers every server request from
 * the capture's answer table, replays the captured notifications of an accepted Observe on demand,
 * and reproduces the clients' quirks: an Update right after the answers that set one off (client
 * A's writes to /1/1 and Execute /1/1/8, client B's Create and Delete), client B's Send with a
 * zero-length token, and client B's FETCH/iPATCH that get an empty ACK and never a response.
 *
 * A request the capture has no answer for gets 5.00 and is logged `matched: 'none'`, so a test
 * can assert that the server under test sent nothing the real client was never asked.
 */
import { systemClock, type Clock } from '../../src/clock.js';
import {
  CoapEndpoint,
  type CoapResponse,
  type IncomingRequest,
  type ObserveEndReason,
  type ObserveRelation,
  type OutgoingRequest,
  type RequestOptions,
} from '../../src/coap/endpoint.js';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import {
  OptionNumber,
  decodeString,
  encodeString,
  encodeUint,
  locationPath,
  observe,
  sortOptions,
  uriPath,
} from '../../src/coap/options.js';
import type { TransmissionParameters } from '../../src/coap/transmission.js';
import { PetrelError } from '../../src/errors.js';
import { cryptoRandom, type RandomSource } from '../../src/random.js';
import type { Channel, Peer } from '../../src/transport/channel.js';
import {
  requestKey,
  type ClientScript,
  type ScriptedAnswer,
  type ScriptedNotification,
  type ScriptedUplink,
  type UplinkKind,
} from './scripted-script.js';

export {
  loadScript,
  parseScript,
  requestKey,
  ScriptError,
  type ClientScript,
  type ScriptedAnswer,
  type ScriptedNotification,
  type ScriptedResponse,
  type ScriptedUplink,
  type ScriptLine,
  type UplinkKind,
} from './scripted-script.js';

/** How a server request was matched against the capture. */
export type MatchKind = 'exact' | 'loose' | 'none';

/** One request the scripted client received, and what it answered. */
export interface ReceivedRequest {
  readonly peer: Peer;
  readonly request: CoapMessage;
  /**
   * `exact`: method, path, query, Accept, Content-Format, Observe and payload as captured;
   * `loose`: the same without the payload (or, failing that, without Observe: a plain answer);
   * `none`: not in the capture, answered 5.00.
   */
  readonly matched: MatchKind;
  readonly answer: ScriptedAnswer | undefined;
  /**
   * What we answered: ACK (piggybacked, with the request's message id) to a CON, NON to a NON. The
   * endpoint adds the Observe option when it accepts an observation; that is not shown here.
   * Undefined for a request the client never answers (only its empty ACK goes out).
   */
  readonly response: CoapMessage | undefined;
}

/** One uplink request the scripted client sent, with its outcome once settled. */
export interface SentUplink {
  readonly kind: UplinkKind | 'raw';
  readonly request: OutgoingRequest;
  /** The server request whose answer set this uplink off (follow-up Updates). */
  readonly trigger: CoapMessage | undefined;
  response?: CoapMessage;
  error?: unknown;
}

/** An observation the scripted client accepted (server role). */
export interface ScriptedObservation {
  /** The Uri-Path of the Observe request: `/3/0/13`, or `/` for Observe-Composite. */
  readonly path: string;
  readonly token: Uint8Array;
  readonly answer: ScriptedAnswer;
  readonly relation: ObserveRelation;
  /** Notifications sent so far. */
  readonly sent: number;
  readonly active: boolean;
  readonly endReason: ObserveEndReason | undefined;
}

export interface UpdateOptions {
  /** Uri-Query parameters (`lt=60`, `b=U` ...); default none, as client A sends. */
  readonly query?: readonly string[];
  readonly payload?: Uint8Array;
  readonly contentFormat?: number;
}

export interface ScriptedClientOptions {
  readonly script: ClientScript;
  readonly channel: Channel;
  /** The LwM2M server under test. */
  readonly server: Peer;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** Replaces `ep=` in the Register (several clients from one capture). */
  readonly endpointName?: string;
  /** Replaces `lt=` in the Register. */
  readonly lifetime?: number;
  readonly transmission?: Partial<TransmissionParameters>;
  /** How long before a request the client never answers gets its empty ACK (ms, default 1). */
  readonly silentAckDelay?: number;
  /** Send the Updates that followed an answer in the capture (default true). */
  readonly followUps?: boolean;
}

/** The peer side of the static ScriptedClient.raw. */
export interface RawPeerOptions {
  readonly channel: Channel;
  readonly server: Peer;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly transmission?: Partial<TransmissionParameters>;
}

/** A call that needs a registration (Update, De-register) before the server gave a location. */
export class NotRegisteredError extends PetrelError {
  constructor(operation: string) {
    super('PETREL_ERR_TEST_NOT_REGISTERED', `${operation}: the scripted client is not registered`);
  }
}

/** The entries of a key in the answer table, and which one answers next. */
interface Slot {
  readonly answers: ScriptedAnswer[];
  next: number;
}

interface ObservationState {
  readonly path: string;
  readonly token: Uint8Array;
  readonly answer: ScriptedAnswer;
  readonly relation: ObserveRelation;
  sent: number;
  endReason: ObserveEndReason | undefined;
}

const EMPTY = new Uint8Array(0);

function index(answers: readonly ScriptedAnswer[], key: (a: ScriptedAnswer) => string): Map<string, Slot> {
  const map = new Map<string, Slot>();
  for (const a of answers) {
    const k = key(a);
    const slot = map.get(k);
    if (slot) slot.answers.push(a);
    else map.set(k, { answers: [a], next: 0 });
  }
  return map;
}

/** The next answer of a slot: in capture order, then the last one again. */
function take(slot: Slot | undefined): ScriptedAnswer | undefined {
  if (!slot) return undefined;
  const answer = slot.answers[Math.min(slot.next, slot.answers.length - 1)];
  slot.next++;
  return answer;
}

function replaceParam(query: string[], key: string, value: string | number | undefined): string[] {
  if (value === undefined) return query;
  return query.map((q) => (q.startsWith(`${key}=`) ? `${key}=${value}` : q));
}

/** The options with every Uri-Path replaced by `path`, still sorted. */
function withUriPath(options: readonly CoapOption[], path: readonly string[]): CoapOption[] {
  return sortOptions([
    ...options.filter((o) => o.number !== OptionNumber.URI_PATH),
    ...path.map((s) => ({ number: OptionNumber.URI_PATH, value: encodeString(s) })),
  ]);
}

const settle = async (rounds: number): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
};

export class ScriptedClient {
  readonly script: ClientScript;
  readonly endpoint: CoapEndpoint;
  readonly server: Peer;
  /** Every server request received (retransmissions excluded), in order. */
  readonly received: ReceivedRequest[] = [];
  /** Every uplink sent (Register, Updates, Send, De-register, raw), in order. */
  readonly sent: SentUplink[] = [];
  /** Faults the endpoint reported (unacknowledged separate responses ...). */
  readonly errors: unknown[] = [];
  readonly #clock: Clock;
  readonly #exact: Map<string, Slot>;
  readonly #loose: Map<string, Slot>;
  readonly #plainExact: Map<string, Slot>;
  readonly #plainLoose: Map<string, Slot>;
  readonly #observations: ObservationState[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  readonly #endpointName: string | undefined;
  readonly #lifetime: number | undefined;
  readonly #followUps: boolean;
  #location: string[] | undefined;

  constructor(options: ScriptedClientOptions) {
    this.script = options.script;
    this.server = options.server;
    this.#clock = options.clock ?? systemClock;
    this.#endpointName = options.endpointName;
    this.#lifetime = options.lifetime;
    this.#followUps = options.followUps ?? true;
    const answers = this.script.answers;
    this.#exact = index(answers, (a) => a.exactKey);
    this.#loose = index(answers, (a) => a.looseKey);
    // For a request whose Observe the capture never saw: the same request without Observe.
    const plain = answers.filter((a) => observe(a.request) === undefined);
    this.#plainExact = index(plain, (a) => requestKey(a.request, 'exact', false));
    this.#plainLoose = index(plain, (a) => requestKey(a.request, 'loose', false));
    // Fresh tokens of the captured length (client A: 8 bytes, client B: 4).
    const tokenLength = Math.min(8, Math.max(1, this.script.register.captured.token.length));
    this.endpoint = new CoapEndpoint({
      channel: options.channel,
      clock: this.#clock,
      random: options.random ?? cryptoRandom,
      transmission: options.transmission,
      tokenLength,
      // Answers are synchronous, so this only delays the empty ACK of a request never answered.
      piggybackTimeout: options.silentAckDelay ?? 1,
      onError: (e) => this.errors.push(e),
    });
    this.endpoint.onRequest((request) => this.#answer(request));
  }

  /** The Location-Path the server gave at Register (undefined before, and after De-register). */
  get location(): readonly string[] | undefined {
    return this.#location;
  }

  /** Observations accepted so far, in order (ended ones included). */
  get observations(): readonly ScriptedObservation[] {
    return this.#observations.map((o) => ({
      path: o.path,
      token: o.token,
      answer: o.answer,
      relation: o.relation,
      sent: o.sent,
      active: o.relation.active,
      endReason: o.endReason,
    }));
  }

  /** Uplinks sent and not yet settled (follow-up Updates included): for drive()'s done test. */
  get pendingUplinks(): number {
    return this.#pending.size;
  }

  /** Resolves when every uplink started so far has settled (with real time, or a driven clock). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /** The Register request as captured, with `ep=` and `lt=` overridden when asked (tests may edit it). */
  registerRequest(): OutgoingRequest {
    const captured = this.script.register.request;
    const options = captured.options ?? [];
    let query = options.filter((o) => o.number === OptionNumber.URI_QUERY).map((o) => decodeString(o.value));
    query = replaceParam(query, 'ep', this.#endpointName);
    query = replaceParam(query, 'lt', this.#lifetime);
    return {
      ...captured,
      options: sortOptions([
        ...options.filter((o) => o.number !== OptionNumber.URI_QUERY),
        ...query.map((q) => ({ number: OptionNumber.URI_QUERY, value: encodeString(q) })),
      ]),
    };
  }

  /** Sends the captured Register; a 2.01's Location-Path is where later Updates go. */
  async register(options?: RequestOptions): Promise<CoapMessage> {
    const response = await this.#uplink('register', this.registerRequest(), undefined, options);
    if (response.code === CoapCode.CREATED) this.#location = locationPath(response);
    return response;
  }

  /** Sends a Registration Update to the location (default: no query, no payload, as client A). */
  update(update: UpdateOptions = {}, options?: RequestOptions): Promise<CoapMessage> {
    const location = this.#requireLocation('update');
    const list: CoapOption[] = location.map((s) => ({
      number: OptionNumber.URI_PATH,
      value: encodeString(s),
    }));
    if (update.contentFormat !== undefined)
      list.push({ number: OptionNumber.CONTENT_FORMAT, value: encodeUint(update.contentFormat) });
    for (const q of update.query ?? []) list.push({ number: OptionNumber.URI_QUERY, value: encodeString(q) });
    return this.#uplink(
      'update',
      { code: CoapCode.POST, options: sortOptions(list), payload: update.payload ?? EMPTY },
      undefined,
      options,
    );
  }

  /** Replays the captured Send number `which` (client B's with its zero-length token). */
  send(which = 0, options?: RequestOptions): Promise<CoapMessage> {
    const send = this.script.sends[which];
    if (!send) return Promise.reject(new RangeError(`${this.script.name} has no Send #${which}`));
    const request = send.emptyToken ? { ...send.request, token: EMPTY } : send.request;
    return this.#uplink('send', request, undefined, options);
  }

  /** Sends the De-register (DELETE to the location); a 2.02 forgets the location. */
  async deregister(options?: RequestOptions): Promise<CoapMessage> {
    const location = this.#requireLocation('deregister');
    const captured = this.script.deregister?.request ?? { code: CoapCode.DELETE };
    const request = { ...captured, options: withUriPath(captured.options ?? [], location) };
    const response = await this.#uplink('deregister', request, undefined, options);
    if (response.code === CoapCode.DELETED) this.#location = undefined;
    return response;
  }

  /** Sends any request from this client (a Register without `lt=` ...) and returns the response. */
  raw(request: OutgoingRequest, options?: RequestOptions): Promise<CoapMessage> {
    return this.#uplink('raw', request, undefined, options);
  }

  /** One request from a throwaway endpoint on `peer.channel` (closed afterwards, channel included). */
  static async raw(
    peer: RawPeerOptions,
    request: OutgoingRequest,
    options?: RequestOptions,
  ): Promise<CoapMessage> {
    const endpoint = new CoapEndpoint({
      channel: peer.channel,
      clock: peer.clock,
      random: peer.random,
      transmission: peer.transmission,
    });
    try {
      return await endpoint.request(peer.server, request, options);
    } finally {
      await endpoint.close();
    }
  }

  /**
   * Sends the next captured notification of an observation: `target` is its path (`/3/0/13`, `/`
   * for a composite; the latest observation of that path) or its index in `observations`. Past the
   * end of the capture it repeats the last notification. False when the observation is not active
   * or the capture has no notification for it.
   */
  notify(target: string | number): boolean {
    const o = this.#find(target);
    if (!o || !o.relation.active) return false;
    const n: ScriptedNotification | undefined =
      o.answer.notifications[Math.min(o.sent, o.answer.notifications.length - 1)];
    if (!n) return false;
    o.relation.notify(
      { code: n.code, options: n.options, payload: n.payload },
      { confirmable: n.confirmable },
    );
    o.sent++;
    return true;
  }

  /**
   * Sends the captured notifications of an observation not sent yet (or `count` of them), NON or
   * CON as captured, stopping when the observation ends (a RST from the server). Between two it
   * waits `gapMs` on the client's clock (a FakeClock must be driven), or by default lets a few
   * event-loop rounds run, enough for an in-memory RST to come back. Returns how many went out.
   */
  async playNotifications(
    target: string | number,
    options: { count?: number; gapMs?: number } = {},
  ): Promise<number> {
    const o = this.#find(target);
    if (!o) return 0;
    const count = options.count ?? Math.max(0, o.answer.notifications.length - o.sent);
    let sent = 0;
    for (let i = 0; i < count; i++) {
      if (i > 0) await this.#gap(options.gapMs);
      if (!this.notify(target)) break;
      sent++;
    }
    return sent;
  }

  /** Closes the endpoint (and its channel); observations end, nothing more is sent. */
  stop(): Promise<void> {
    return this.endpoint.close();
  }

  #find(target: string | number): ObservationState | undefined {
    if (typeof target === 'number') return this.#observations[target];
    const path = target === '' ? '/' : target;
    const all = this.#observations.filter((o) => o.path === path);
    return all.filter((o) => o.relation.active).at(-1) ?? all.at(-1);
  }

  async #gap(gapMs: number | undefined): Promise<void> {
    if (gapMs === undefined || gapMs <= 0) return settle(5);
    await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, gapMs));
  }

  #requireLocation(operation: string): readonly string[] {
    if (!this.#location) throw new NotRegisteredError(operation);
    return this.#location;
  }

  #uplink(
    kind: SentUplink['kind'],
    request: OutgoingRequest,
    trigger: CoapMessage | undefined,
    options?: RequestOptions,
  ): Promise<CoapMessage> {
    const entry: SentUplink = { kind, request, trigger };
    this.sent.push(entry);
    const p = this.endpoint.request(this.server, request, options).then(
      (response) => {
        entry.response = response;
        return response;
      },
      (e: unknown) => {
        entry.error = e;
        throw e;
      },
    );
    this.#track(p);
    return p;
  }

  /** Looks a request up: exact, then loose (no payload), then as a request without Observe. */
  #match(request: CoapMessage): { answer: ScriptedAnswer; matched: MatchKind } | undefined {
    const exact = take(this.#exact.get(requestKey(request, 'exact')));
    if (exact) return { answer: exact, matched: 'exact' };
    const loose =
      take(this.#loose.get(requestKey(request, 'loose'))) ??
      (observe(request) === undefined
        ? undefined
        : (take(this.#plainExact.get(requestKey(request, 'exact', false))) ??
          take(this.#plainLoose.get(requestKey(request, 'loose', false)))));
    return loose ? { answer: loose, matched: 'loose' } : undefined;
  }

  #answer({ peer, message }: IncomingRequest): CoapResponse | Promise<CoapResponse> {
    const found = this.#match(message);
    const answered = (response: CoapResponse | undefined): CoapMessage | undefined =>
      response && {
        type: message.type === 'NON' ? 'NON' : 'ACK',
        code: response.code,
        messageId: message.messageId,
        token: message.token,
        options: response.options ?? [],
        payload: response.payload ?? EMPTY,
      };
    if (!found) {
      const response: CoapResponse = { code: CoapCode.INTERNAL_SERVER_ERROR };
      this.received.push({
        peer,
        request: message,
        matched: 'none',
        answer: undefined,
        response: answered(response),
      });
      return response;
    }
    const { answer, matched } = found;
    if (!answer.response) {
      // The client acknowledged and never answered (client B's FETCH and iPATCH): the endpoint
      // sends the empty ACK after silentAckDelay; this promise never settles.
      this.received.push({ peer, request: message, matched, answer, response: undefined });
      return new Promise<CoapResponse>(() => {});
    }
    const r = answer.response;
    const response: CoapResponse = {
      code: r.code,
      options: r.options,
      payload: r.payload,
      observe: r.observe ? (relation) => this.#observed(message, answer, relation) : undefined,
    };
    this.received.push({ peer, request: message, matched, answer, response: answered(response) });
    if (this.#followUps && answer.followUps.length > 0) {
      // The response is transmitted when this handler returns; the Updates go out right after.
      queueMicrotask(() => this.#sendFollowUps(answer.followUps, message));
    }
    return response;
  }

  #observed(request: CoapMessage, answer: ScriptedAnswer, relation: ObserveRelation): void {
    const state: ObservationState = {
      path: '/' + uriPath(request).join('/'),
      token: request.token,
      answer,
      relation,
      sent: 0,
      endReason: undefined,
    };
    relation.onEnd((reason) => (state.endReason = reason));
    this.#observations.push(state);
  }

  #sendFollowUps(followUps: readonly ScriptedUplink[], trigger: CoapMessage): void {
    const location = this.#location;
    if (!location) return; // not registered (any more): a real client would not update either
    const run = async (): Promise<void> => {
      for (const f of followUps) {
        const request: OutgoingRequest =
          f.kind === 'update' || f.kind === 'deregister'
            ? { ...f.request, options: withUriPath(f.request.options ?? [], location) }
            : f.request;
        await this.#uplink(f.kind, request, trigger).catch(() => {});
      }
    };
    this.#track(run());
  }

  #track(p: Promise<unknown>): void {
    const tracked: Promise<unknown> = p.catch(() => {}).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }
}
