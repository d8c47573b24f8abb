// The console's live state, folded from the server's events (/api/events, SSE) and from the
// answers of the operations the console itself runs: which clients are there and in what state,
// the message trace (request/response pairs by command id, uplinks, notifications), the latest
// value of each resource and the time series the charts draw.
import type { ClientSummary, OperationResponse, StoredEvent, ValuesJson } from '../api-types.js';
import { appendPoint } from './chart-scale.js';
import type { Point } from './chart-scale.js';
import { numericValue } from './value-input.js';

export type LiveStatus = 'awake' | 'sleeping' | 'expired' | 'deregistered';

export interface LiveClient {
  readonly endpoint: string;
  readonly status: LiveStatus;
  /** The last full summary seen (from `registered`/`updated` or the list). */
  readonly summary?: ClientSummary;
  readonly tags?: readonly string[];
  /** Wall-clock ms of the last event about this client. */
  readonly lastEventAt: number;
}

export type TraceDirection = 'down' | 'up' | 'notify' | 'send';

export interface TraceRow {
  /** Unique within the trace (command id, or the event's seq). */
  readonly key: string;
  readonly time: number;
  readonly endpoint?: string;
  readonly direction: TraceDirection;
  readonly operation: string;
  readonly paths: readonly string[];
  readonly commandId?: string;
  readonly token?: string;
  readonly messageId?: number;
  readonly code?: string;
  readonly latencyMs?: number;
  readonly bytes?: number;
  readonly error?: string;
  readonly detail?: string;
  /** A request whose response has not arrived. */
  readonly pending: boolean;
}

export interface LatestValue {
  readonly value: unknown;
  readonly time: number;
}

export interface QueuedOutcome {
  readonly result?: OperationResponse;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface ConsoleState {
  readonly lastSeq: number;
  readonly connection: 'connecting' | 'open' | 'error';
  readonly clients: Readonly<Record<string, LiveClient>>;
  /** Bumped by every registration-related event: lists re-fetch when it changes. */
  readonly registrationVersion: number;
  /** Bumped per endpoint by notifications and observation changes. */
  readonly observationVersion: Readonly<Record<string, number>>;
  readonly trace: readonly TraceRow[];
  /** `seriesKey(endpoint, path)` -> points, oldest first. */
  readonly series: Readonly<Record<string, readonly Point[]>>;
  readonly latest: Readonly<Record<string, LatestValue>>;
  readonly queued: Readonly<Record<string, QueuedOutcome>>;
}

export const MAX_TRACE = 500;
export const MAX_POINTS = 500;

export const initialState: ConsoleState = {
  lastSeq: 0,
  connection: 'connecting',
  clients: {},
  registrationVersion: 0,
  observationVersion: {},
  trace: [],
  series: {},
  latest: {},
  queued: {},
};

export const seriesKey = (endpoint: string, path: string): string => `${endpoint} ${path}`;

export type ConsoleAction =
  | { readonly type: 'event'; readonly event: StoredEvent }
  | { readonly type: 'connection'; readonly state: ConsoleState['connection'] }
  /** Values an operation answered with; `chart` also appends numeric ones to their series. */
  | {
      readonly type: 'values';
      readonly endpoint: string;
      readonly values: ValuesJson;
      readonly time: number;
      readonly chart?: boolean;
    }
  | { readonly type: 'clear-series'; readonly endpoint: string; readonly path: string }
  | { readonly type: 'clear-trace' };

/** Event time as ms (the API gives ms; ISO text is accepted too). */
export function eventTime(time: number | string | undefined, fallback = Date.now()): number {
  if (typeof time === 'number' && Number.isFinite(time)) return time;
  if (typeof time === 'string') {
    const ms = Date.parse(time);
    if (!Number.isNaN(ms)) return ms;
  }
  return fallback;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

function withClient(
  state: ConsoleState,
  endpoint: string,
  change: (old: LiveClient | undefined) => LiveClient,
): ConsoleState {
  return {
    ...state,
    clients: { ...state.clients, [endpoint]: change(state.clients[endpoint]) },
    registrationVersion: state.registrationVersion + 1,
  };
}

function pushTrace(trace: readonly TraceRow[], row: TraceRow): TraceRow[] {
  const next = [...trace, row];
  return next.length > MAX_TRACE ? next.slice(next.length - MAX_TRACE) : next;
}

/** Folds values into `latest` and, when charting, into the numeric series. */
function foldValues(
  state: ConsoleState,
  endpoint: string,
  values: unknown,
  time: number,
  chart: boolean,
): ConsoleState {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return state;
  // Payloads over the server's limit are logged as {truncated, size}: there is nothing to fold.
  if ((values as { truncated?: unknown }).truncated === true) return state;
  const latest = { ...state.latest };
  const series = { ...state.series };
  for (const [path, value] of Object.entries(values as Record<string, unknown>)) {
    const key = seriesKey(endpoint, path);
    // Historical records (SenML `t`, seconds) come as [{t, v}] in payload order.
    const entries: { t: number; v: unknown }[] = Array.isArray(value)
      ? value
          .filter((e): e is { t: number; v: unknown } => typeof (e as { t?: unknown } | null)?.t === 'number')
          .map((e) => ({ t: e.t * 1000, v: e.v }))
      : [{ t: time, v: value }];
    for (const e of entries) {
      latest[key] = { value: e.v, time: e.t };
      const n = chart ? numericValue(e.v) : undefined;
      if (n !== undefined) series[key] = appendPoint(series[key] ?? [], { t: e.t, v: n }, MAX_POINTS);
    }
  }
  return { ...state, latest, series };
}

function bump(state: ConsoleState, endpoint: string | undefined): Readonly<Record<string, number>> {
  if (endpoint === undefined) return state.observationVersion;
  return { ...state.observationVersion, [endpoint]: (state.observationVersion[endpoint] ?? 0) + 1 };
}

function applyEvent(state: ConsoleState, event: StoredEvent): ConsoleState {
  const time = eventTime(event.time);
  const d = event.data ?? {};
  const endpoint = event.endpoint ?? str(d.endpoint);
  switch (event.type) {
    case 'registered':
    case 'updated': {
      if (endpoint === undefined) return state;
      const summary = d as unknown as ClientSummary;
      const status: LiveStatus = d.status === 'sleeping' ? 'sleeping' : 'awake';
      return withClient(state, endpoint, (old) => ({
        endpoint,
        status,
        summary: { ...old?.summary, ...summary, endpoint },
        tags: Array.isArray(d.tags) ? strings(d.tags) : old?.tags,
        lastEventAt: time,
      }));
    }
    case 'deregistered':
    case 'expired':
      if (endpoint === undefined) return state;
      return {
        ...withClient(state, endpoint, (old) => ({
          ...old,
          endpoint,
          status: event.type as LiveStatus,
          lastEventAt: time,
        })),
        observationVersion: bump(state, endpoint),
      };
    case 'awake':
    case 'sleeping':
      if (endpoint === undefined) return state;
      return withClient(state, endpoint, (old) => ({
        ...old,
        endpoint,
        status: event.type as LiveStatus,
        lastEventAt: time,
      }));
    case 'tags':
      if (endpoint === undefined) return state;
      return withClient(state, endpoint, (old) => ({
        endpoint,
        status: old?.status ?? 'awake',
        ...(old?.summary ? { summary: old.summary } : {}),
        tags: strings(d.tags),
        lastEventAt: old?.lastEventAt ?? time,
      }));
    case 'request': {
      const commandId = str(d.commandId);
      const row: TraceRow = {
        key: commandId ?? `seq-${event.seq}`,
        time,
        endpoint,
        direction: 'down',
        operation: str(d.operation) ?? '?',
        paths: strings(d.paths),
        commandId,
        token: str(d.token),
        messageId: num(d.messageId),
        bytes: num(d.bytes),
        pending: true,
      };
      return { ...state, trace: pushTrace(state.trace, row) };
    }
    case 'response': {
      const commandId = str(d.commandId);
      const latencyMs = num(d.latencyMs) ?? num(d.durationMs);
      const error = str(d.error) ?? str((d.error as { message?: unknown } | undefined)?.message);
      const i = commandId === undefined ? -1 : state.trace.findLastIndex((r) => r.commandId === commandId);
      if (i >= 0) {
        const old = state.trace[i]!;
        const trace = [...state.trace];
        trace[i] = {
          ...old,
          code: str(d.code) ?? old.code,
          latencyMs,
          error,
          token: str(d.token) ?? old.token,
          messageId: num(d.messageId) ?? old.messageId,
          bytes: num(d.bytes) ?? old.bytes,
          pending: false,
        };
        return { ...state, trace };
      }
      const row: TraceRow = {
        key: commandId ?? `seq-${event.seq}`,
        time,
        endpoint,
        direction: 'down',
        operation: str(d.operation) ?? '?',
        paths: strings(d.paths),
        commandId,
        token: str(d.token),
        messageId: num(d.messageId),
        code: str(d.code),
        latencyMs,
        bytes: num(d.bytes),
        error,
        pending: false,
      };
      return { ...state, trace: pushTrace(state.trace, row) };
    }
    case 'uplink': {
      const row: TraceRow = {
        key: `seq-${event.seq}`,
        time,
        endpoint,
        direction: 'up',
        operation: str(d.operation) ?? '?',
        paths: strings(d.paths),
        token: str(d.token),
        messageId: num(d.messageId),
        code: str(d.code),
        bytes: num(d.bytes),
        detail: [str(d.peer), str(d.diagnostic)].filter(Boolean).join(' '),
        pending: false,
      };
      return { ...state, trace: pushTrace(state.trace, row) };
    }
    case 'notification': {
      const row: TraceRow = {
        key: `seq-${event.seq}`,
        time,
        endpoint,
        direction: 'notify',
        operation: 'notify',
        paths: strings(d.paths),
        token: str(d.token),
        messageId: num(d.messageId),
        code: str(d.code),
        bytes: num(d.bytes),
        detail:
          d.truncated === true
            ? `values not logged (${num(d.size) ?? '?'} bytes)`
            : num(d.sequence) === undefined
              ? undefined
              : `#${num(d.sequence)}`,
        pending: false,
      };
      const next = {
        ...state,
        trace: pushTrace(state.trace, row),
        observationVersion: bump(state, endpoint),
      };
      return endpoint === undefined ? next : foldValues(next, endpoint, d.values, time, true);
    }
    case 'send': {
      const row: TraceRow = {
        key: `seq-${event.seq}`,
        time,
        endpoint,
        direction: 'send',
        operation: 'send',
        paths: d.values && typeof d.values === 'object' ? Object.keys(d.values) : [],
        pending: false,
      };
      const next = { ...state, trace: pushTrace(state.trace, row) };
      return endpoint === undefined ? next : foldValues(next, endpoint, d.values, time, true);
    }
    case 'queued-result': {
      const requestId = str(d.requestId);
      if (requestId === undefined) return state;
      const outcome: QueuedOutcome = d.error
        ? { error: d.error as QueuedOutcome['error'] }
        : { result: d.result as OperationResponse };
      return { ...state, queued: { ...state.queued, [requestId]: outcome } };
    }
    default:
      return state;
  }
}

export function consoleReducer(state: ConsoleState, action: ConsoleAction): ConsoleState {
  switch (action.type) {
    case 'event': {
      const { event } = action;
      // Replays (Last-Event-ID, a recent-events seed) may repeat what was already folded.
      if (typeof event.seq === 'number' && event.seq <= state.lastSeq) return state;
      const next = applyEvent(state, event);
      return typeof event.seq === 'number' ? { ...next, lastSeq: event.seq } : next;
    }
    case 'connection':
      return state.connection === action.state ? state : { ...state, connection: action.state };
    case 'values':
      return foldValues(state, action.endpoint, action.values, action.time, action.chart === true);
    case 'clear-series': {
      const series = { ...state.series };
      delete series[seriesKey(action.endpoint, action.path)];
      return { ...state, series };
    }
    case 'clear-trace':
      return { ...state, trace: [] };
  }
}

/** Trace rows of one endpoint (all when undefined), newest first. */
export function traceFor(trace: readonly TraceRow[], endpoint?: string): TraceRow[] {
  const rows = endpoint === undefined ? trace : trace.filter((r) => r.endpoint === endpoint);
  return [...rows].reverse();
}

/** Series of one endpoint: path -> points. */
export function seriesFor(series: ConsoleState['series'], endpoint: string): [string, readonly Point[]][] {
  const prefix = `${endpoint} `;
  return Object.entries(series)
    .filter(([k]) => k.startsWith(prefix))
    .map(([k, v]) => [k.slice(prefix.length), v] as [string, readonly Point[]])
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
}
