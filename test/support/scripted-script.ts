/**
 * A capture of a real LwM2M client (../shared/captures, see its README) turned into a script a
 * simulated client can play: its uplink requests in order, and for each request our scripted
 * server sent, the client's answer (response, or only an empty ACK), the notifications that
 * followed an Observe, and the Registration Updates the answer set off. Tokens and message ids
 * are not part of the script: a player uses fresh ones.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { OutgoingRequest } from '../../src/coap/endpoint.js';
import { PetrelError } from '../../src/errors.js';
import {
  CoapCode,
  formatCode,
  isRequest,
  isResponse,
  type CoapMessage,
  type CoapOption,
} from '../../src/coap/message.js';
import {
  OptionNumber,
  accept,
  contentFormat,
  locationPath,
  observe,
  uriPath,
  uriQuery,
} from '../../src/coap/options.js';
import { decodeCoapUdp } from '../../src/coap/udp-codec.js';

/** The fields of a capture line a script needs (test/support/captures.ts CaptureLine has them). */
export interface ScriptLine {
  readonly seq: number;
  readonly dir: 'client->server' | 'server->client';
  readonly peer: string;
  readonly hex: string;
  readonly note?: string | null;
}

/** A capture that cannot be a script (no Register, undecodable datagram). */
export class ScriptError extends PetrelError {
  readonly reason: 'no-register' | 'bad-datagram' | 'bad-line';
  constructor(reason: ScriptError['reason'], message: string) {
    super('PETREL_ERR_TEST_SCRIPT', message);
    this.reason = reason;
  }
}

export type UplinkKind = 'register' | 'update' | 'send' | 'deregister' | 'other';

/** A request the client sent on its own (Register, Update, Send, De-register). */
export interface ScriptedUplink {
  readonly seq: number;
  readonly kind: UplinkKind;
  readonly note: string | undefined;
  /** As captured, with its token and message id (for reference: a player never reuses them). */
  readonly captured: CoapMessage;
  /** What to send: code, options (the captured Uri-Path), payload, CON/NON; no token. */
  readonly request: OutgoingRequest;
  /** The client sent it with a zero-length token (client B's Send), so a replay does too. */
  readonly emptyToken: boolean;
  /** For an Update: the seq of the server request whose response it followed straight away. */
  readonly after: number | undefined;
  /** Our scripted server's answer in the capture. */
  readonly capturedResponse: CoapMessage | undefined;
}

/** The client's response as a handler answers it (the Observe option is left to the endpoint). */
export interface ScriptedResponse {
  readonly code: number;
  /** Content-Format, Location-Path ... as captured, without Observe. */
  readonly options: readonly CoapOption[];
  readonly payload: Uint8Array;
  /** The captured response carried Observe: the client accepted an observation. */
  readonly observe: boolean;
}

export interface ScriptedNotification extends ScriptedResponse {
  readonly seq: number;
  readonly confirmable: boolean;
  /** The Observe number the client used (a player's endpoint numbers its own). */
  readonly capturedObserve: number | undefined;
}

/** One request of our scripted server and how the client answered it. */
export interface ScriptedAnswer {
  readonly seq: number;
  readonly note: string | undefined;
  /** The request as captured (our scripted server's). */
  readonly request: CoapMessage;
  /** requestKey(request, 'exact') and requestKey(request, 'loose'). */
  readonly exactKey: string;
  readonly looseKey: string;
  /** Undefined when the client never answered (client B's FETCH and iPATCH). */
  readonly response: ScriptedResponse | undefined;
  /** The client acknowledged the CON with an empty ACK (then answered separately, or never). */
  readonly emptyAck: boolean;
  /** For an accepted Observe: the notifications the client sent, in order. */
  readonly notifications: readonly ScriptedNotification[];
  /** How our scripted server ended the observation: GET/FETCH with Observe=1, or RST. */
  readonly cancelledBy: 'observe' | 'reset' | undefined;
  /** The uplink requests (Registration Updates) the client sent right after this answer. */
  readonly followUps: readonly ScriptedUplink[];
}

export interface ClientScript {
  /** The capture file name. */
  readonly name: string;
  /** The `ep=` of the Register. */
  readonly endpointName: string | undefined;
  /** The `lwm2m=` of the Register. */
  readonly lwm2mVersion: string | undefined;
  /** The Location-Path our scripted server gave (`['rd', '0']`): Updates and De-register went there. */
  readonly capturedLocation: readonly string[];
  /** Every request the client originated, in wire order (follow-up Updates included). */
  readonly uplinks: readonly ScriptedUplink[];
  readonly register: ScriptedUplink;
  readonly sends: readonly ScriptedUplink[];
  readonly deregister: ScriptedUplink | undefined;
  /** Every request of our scripted server (cancels included), in wire order, with its answer. */
  readonly answers: readonly ScriptedAnswer[];
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * What identifies a server request for the answer table: method, Uri-Path, Uri-Query (sorted),
 * Accept, Content-Format, Observe, and for `exact` the payload bytes. `loose` leaves the payload
 * out (a server may encode a write differently); `observe: false` also leaves Observe out.
 */
export function requestKey(msg: CoapMessage, level: 'exact' | 'loose', withObserve = true): string {
  const parts = [
    formatCode(msg.code),
    '/' + uriPath(msg).join('/'),
    '?' + [...uriQuery(msg)].sort().join('&'),
    `accept=${accept(msg) ?? '-'}`,
    `cf=${contentFormat(msg) ?? '-'}`,
  ];
  if (withObserve) parts.push(`obs=${observe(msg) ?? '-'}`);
  if (level === 'exact') parts.push(`#${toHex(msg.payload)}`);
  return parts.join(' ');
}

const withoutObserve = (options: readonly CoapOption[]): CoapOption[] =>
  options.filter((o) => o.number !== OptionNumber.OBSERVE);

function scriptedResponse(msg: CoapMessage): ScriptedResponse {
  return {
    code: msg.code,
    options: withoutObserve(msg.options),
    payload: msg.payload,
    observe: observe(msg) !== undefined,
  };
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function uplinkKind(msg: CoapMessage, location: readonly string[] | undefined): UplinkKind {
  const path = uriPath(msg);
  if (msg.code === CoapCode.POST && samePath(path, ['rd'])) return 'register';
  if (msg.code === CoapCode.POST && samePath(path, ['dp'])) return 'send';
  const atLocation = location ? samePath(path, location) : path[0] === 'rd' && path.length > 1;
  if (atLocation && msg.code === CoapCode.POST) return 'update';
  if (atLocation && msg.code === CoapCode.DELETE) return 'deregister';
  return 'other';
}

interface AnswerDraft {
  seq: number;
  note: string | undefined;
  request: CoapMessage;
  response: ScriptedResponse | undefined;
  emptyAck: boolean;
  notifications: ScriptedNotification[];
  cancelledBy: 'observe' | 'reset' | undefined;
  followUps: ScriptedUplink[];
}

interface UplinkDraft extends Omit<ScriptedUplink, 'capturedResponse' | 'kind'> {
  kind: UplinkKind;
  capturedResponse: CoapMessage | undefined;
}

/**
 * Builds a script from capture lines in wire order. Only the traffic with our LwM2M server
 * (peer `lwm2m-server`) counts, so the bootstrap captures give their registration part.
 */
export function parseScript(name: string, lines: readonly ScriptLine[]): ClientScript {
  const answers: AnswerDraft[] = [];
  const uplinks: UplinkDraft[] = [];
  const answerByMid = new Map<number, AnswerDraft>(); // server CON/NON requests by message id
  const answerByToken = new Map<string, AnswerDraft>(); // the latest server request per token
  const observing = new Map<string, AnswerDraft>(); // accepted observations per token
  const notificationByMid = new Map<number, AnswerDraft>(); // client notifications by mid, for RSTs
  const uplinkByMid = new Map<number, UplinkDraft>();
  const uplinkByToken = new Map<string, UplinkDraft>();
  let location: readonly string[] | undefined;
  /** The answer the previous datagram (client->server) was a response to, if it was one. */
  let previousAnswer: AnswerDraft | undefined;

  for (const line of lines) {
    if (line.peer !== 'lwm2m-server') continue;
    if (typeof line.hex !== 'string' || (line.dir !== 'client->server' && line.dir !== 'server->client'))
      throw new ScriptError('bad-line', `${name} line ${line.seq}: not a capture line`);
    let msg: CoapMessage;
    try {
      msg = decodeCoapUdp(Uint8Array.from(Buffer.from(line.hex, 'hex')));
    } catch (e) {
      throw new ScriptError('bad-datagram', `${name} line ${line.seq}: ${(e as Error).message}`);
    }
    const note = line.note ?? undefined;
    const token = toHex(msg.token);
    const fromClient = line.dir === 'client->server';
    let answered: AnswerDraft | undefined;

    if (!fromClient) {
      if (isRequest(msg.code)) {
        const draft: AnswerDraft = {
          seq: line.seq,
          note,
          request: msg,
          response: undefined,
          emptyAck: false,
          notifications: [],
          cancelledBy: undefined,
          followUps: [],
        };
        if (observe(msg) === 1) {
          const observed = observing.get(token);
          if (observed) observed.cancelledBy = 'observe';
          observing.delete(token);
        }
        answers.push(draft);
        answerByMid.set(msg.messageId, draft);
        answerByToken.set(token, draft);
      } else if (msg.type === 'RST') {
        const observed = notificationByMid.get(msg.messageId);
        if (observed) observed.cancelledBy = 'reset';
      } else if (isResponse(msg.code)) {
        // Our scripted server's answer to an uplink: piggybacked (by mid) or separate (by token).
        const uplink = msg.type === 'ACK' ? uplinkByMid.get(msg.messageId) : uplinkByToken.get(token);
        if (uplink && !uplink.capturedResponse) {
          uplink.capturedResponse = msg;
          if (uplink.kind === 'register') location = locationPath(msg);
        }
      }
    } else if (isRequest(msg.code)) {
      const kind = uplinkKind(msg, location);
      // Only a Registration Update counts as set off by the answer before it: the Send and the
      // De-register came when our scripted server's script asked for them, not as a reaction.
      const trigger = kind === 'update' ? previousAnswer : undefined;
      const uplink: UplinkDraft = {
        seq: line.seq,
        kind,
        note,
        captured: msg,
        request: {
          code: msg.code,
          options: msg.options,
          payload: msg.payload,
          confirmable: msg.type !== 'NON',
        },
        emptyToken: msg.token.length === 0,
        after: trigger?.seq,
        capturedResponse: undefined,
      };
      trigger?.followUps.push(uplink);
      uplinks.push(uplink);
      uplinkByMid.set(msg.messageId, uplink);
      uplinkByToken.set(token, uplink);
      // A second follow-up belongs to the same answer only if nothing came in between.
      answered = trigger;
    } else if (msg.code === CoapCode.EMPTY && msg.type === 'ACK') {
      const draft = answerByMid.get(msg.messageId);
      if (draft) draft.emptyAck = true;
    } else if (isResponse(msg.code)) {
      const observed = observing.get(token);
      if (msg.type !== 'ACK' && observed && observe(msg) !== undefined) {
        observed.notifications.push({
          ...scriptedResponse(msg),
          seq: line.seq,
          confirmable: msg.type === 'CON',
          capturedObserve: observe(msg),
        });
        notificationByMid.set(msg.messageId, observed);
      } else {
        const draft = msg.type === 'ACK' ? answerByMid.get(msg.messageId) : answerByToken.get(token);
        if (draft && !draft.response) {
          draft.response = scriptedResponse(msg);
          answered = draft;
          if (draft.response.observe && observe(draft.request) === 0) observing.set(token, draft);
        }
      }
    }
    previousAnswer = fromClient ? answered : undefined;
  }

  const register = uplinks.find((u) => u.kind === 'register');
  if (!register) throw new ScriptError('no-register', `${name}: the client never registered`);
  const query = uriQuery(register.captured);
  const param = (key: string): string | undefined =>
    query.find((q) => q.startsWith(`${key}=`))?.slice(key.length + 1);
  return {
    name,
    endpointName: param('ep'),
    lwm2mVersion: param('lwm2m'),
    capturedLocation: location ?? [],
    uplinks,
    register,
    sends: uplinks.filter((u) => u.kind === 'send'),
    deregister: uplinks.find((u) => u.kind === 'deregister'),
    answers: answers.map((a) => ({
      ...a,
      exactKey: requestKey(a.request, 'exact'),
      looseKey: requestKey(a.request, 'loose'),
    })),
  };
}

/** Reads a capture file (JSON Lines, see captures/README.md) into a script. */
export function loadScript(file: string): ClientScript {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as ScriptLine;
      } catch {
        throw new ScriptError('bad-line', `${basename(file)} line ${i + 1}: not JSON`);
      }
    });
  return parseScript(basename(file), lines);
}
