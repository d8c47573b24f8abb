import type { BootstrapServer, BootstrapSessionRecord } from '../bootstrap/bootstrap-server.js';
import type { LwM2mServer, LwM2mServerEvents } from '../server/lwm2m-server.js';
import type { ObservationNotification } from '../server/observation.js';
import type { Registration } from '../server/registration.js';
import type { EventLog, LoggedEvent } from '../store/event-log.js';
import type { TagStore } from '../store/tag-store.js';
import { toApiError } from './api-errors.js';
import { clientSummary } from './client-summary.js';
import { recordsToApiJson, roundMs } from './operation-response.js';
import { redactValues } from './secret-redaction.js';

/** The server events the recorder logs (docs/rest-api.md "Events"). */
export const RECORDED_EVENT_TYPES = Object.freeze([
  'registered',
  'updated',
  'deregistered',
  'expired',
  'awake',
  'sleeping',
  'notification',
  'send',
  'request',
  'response',
  'uplink',
] as const);

export type RecordedEventType = (typeof RECORDED_EVENT_TYPES)[number];

/**
 * The Bootstrap-Server's finished sessions, logged as `bootstrap` events (one per session: its
 * kind, reason, rotation state, outcome and step count; the steps themselves stay with
 * GET /api/bootstrap/sessions).
 */
export function bootstrapEvent(session: BootstrapSessionRecord, time: number): LoggedEvent {
  const failed = session.outcome?.status === 'failed' ? session.outcome : undefined;
  return {
    type: 'bootstrap',
    time,
    endpoint: session.endpoint,
    data: {
      sessionId: session.id,
      kind: session.kind,
      reason: session.reason,
      ...(session.rotation === undefined ? {} : { rotation: session.rotation }),
      peer: session.peer,
      transport: session.transport,
      lwm2mVersion: session.lwm2mVersion ?? null,
      status: session.outcome?.status ?? 'running',
      steps: session.steps.length,
      ...(failed
        ? {
            failure: {
              reason: failed.reason,
              ...(failed.operation === undefined ? {} : { operation: failed.operation }),
              ...(failed.path === undefined ? {} : { path: failed.path }),
              ...(failed.code === undefined ? {} : { code: failed.code }),
              message: failed.message,
            },
          }
        : {}),
    },
  };
}

export interface RecordEventsOptions {
  /** Also log this Bootstrap-Server's finished sessions (`bootstrap` events). */
  readonly bootstrap?: BootstrapServer;
  /** Wall clock for event times (default Date.now). */
  readonly now?: () => number;
  /** Tags to put in `registered`/`updated` summaries. */
  readonly tags?: TagStore;
  /** Record only these types (default all). */
  readonly types?: readonly RecordedEventType[];
  /** Values of a notification or Send larger than this (bytes of JSON) are left out (default 16 KiB). */
  readonly maxValueBytes?: number;
  /** Most events waiting to be appended; more are dropped while the log is slow (default 10 000). */
  readonly maxPending?: number;
  /** Append failures and dropped events (never thrown into the server). */
  readonly onError?: (error: Error) => void;
}

/** Stops recording; `flush()` resolves once every event recorded so far has been appended. */
export type EventRecorder = (() => void) & { flush(): Promise<void> };

const DEFAULT_MAX_VALUE_BYTES = 16 * 1024;
const DEFAULT_MAX_PENDING = 10_000;

/** Values and typed records of a result, or only their size when they are too large to log. */
export function valuesData(
  result: ObservationNotification['result'],
  maxValueBytes: number,
): Record<string, unknown> {
  const data = { values: redactValues(result.values), records: recordsToApiJson(result.records) };
  const size = Buffer.byteLength(JSON.stringify(data));
  return size <= maxValueBytes ? data : { truncated: true, size };
}

/** Builds the logged form of one server event, or undefined for events not logged. */
export function loggedEvent<K extends RecordedEventType>(
  type: K,
  args: LwM2mServerEvents[K],
  context: { time: number; awake: (endpoint: string) => boolean; maxValueBytes?: number },
): LoggedEvent {
  const { time } = context;
  const maxValueBytes = context.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  switch (type) {
    case 'registered':
    case 'updated': {
      const reg = args[0] as Registration;
      return {
        type,
        time,
        endpoint: reg.endpoint,
        data: { ...clientSummary(reg, { awake: context.awake(reg.endpoint), tags: [] }) },
      };
    }
    case 'deregistered':
    case 'expired': {
      const reg = args[0] as Registration;
      return { type, time, endpoint: reg.endpoint, data: { endpoint: reg.endpoint, registrationId: reg.id } };
    }
    case 'awake':
    case 'sleeping': {
      const reg = args[0] as Registration;
      return { type, time, endpoint: reg.endpoint, data: { endpoint: reg.endpoint } };
    }
    case 'notification': {
      const n = args[0] as LwM2mServerEvents['notification'][0];
      return {
        type,
        time,
        endpoint: n.observation.endpoint,
        data: {
          observationId: n.observation.id,
          paths: n.observation.paths.map(String),
          code: n.result.code,
          sequence: n.sequence ?? null,
          ...valuesData(n.result, maxValueBytes),
        },
      };
    }
    case 'send': {
      const e = args[0] as LwM2mServerEvents['send'][0];
      return {
        type,
        time,
        endpoint: e.registration.endpoint,
        data: { commandId: e.id, ...valuesData(e.result, maxValueBytes) },
      };
    }
    case 'request':
    case 'response': {
      const e = args[0] as LwM2mServerEvents['request'][0];
      return {
        type,
        time,
        endpoint: e.endpoint,
        data: {
          commandId: e.id,
          operation: e.operation,
          paths: [...e.paths],
          token: e.token ?? null,
          messageId: e.messageId ?? null,
          ...(type === 'response'
            ? {
                code: e.code ?? null,
                latencyMs: e.durationMs === undefined ? null : roundMs(e.durationMs),
                ...(e.error === undefined
                  ? {}
                  : { error: e.error.message, errorCode: toApiError(e.error).code }),
              }
            : {}),
        },
      };
    }
    case 'uplink': {
      const e = args[0] as LwM2mServerEvents['uplink'][0];
      return {
        type,
        time,
        ...(e.endpoint === undefined ? {} : { endpoint: e.endpoint }),
        data: {
          commandId: e.id,
          operation: e.operation ?? null,
          peer: e.peer,
          code: e.code,
          token: e.token,
          messageId: e.messageId ?? null,
          ...(e.diagnostic === undefined ? {} : { diagnostic: e.diagnostic }),
        },
      };
    }
  }
  throw new TypeError(`not a recorded event type: ${String(type)}`);
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * Appends every server event to the event log as a LoggedEvent, in order. Never throws into the
 * server: append failures go to `onError`, and while the log is slower than the traffic at most
 * `maxPending` events wait (the rest are dropped and reported). Returns the unsubscribe function.
 */
export function recordServerEvents(
  server: LwM2mServer,
  events: EventLog,
  options: RecordEventsOptions = {},
): EventRecorder {
  const now = options.now ?? Date.now;
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  const report = (e: unknown): void => {
    try {
      options.onError?.(asError(e));
    } catch {
      // A failing error handler must not break the recorder either.
    }
  };
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let dropping = false;
  let stopped = false;

  const enqueue = (event: LoggedEvent, withTags: boolean): void => {
    if (pending >= maxPending) {
      if (!dropping) report(new Error(`event log is behind: dropping events (${maxPending} waiting)`));
      dropping = true;
      return;
    }
    dropping = false;
    pending++;
    chain = chain.then(async () => {
      try {
        let out = event;
        if (withTags && options.tags && event.endpoint !== undefined) {
          const tags = await options.tags.get(event.endpoint).catch((e: unknown) => {
            report(e);
            return [];
          });
          out = { ...event, data: { ...event.data, tags: [...tags] } };
        }
        await events.append(out);
      } catch (e) {
        report(e);
      } finally {
        pending--;
      }
    });
  };

  const offs: (() => void)[] = [];
  for (const type of options.types ?? RECORDED_EVENT_TYPES) {
    const listener = (...args: unknown[]): void => {
      if (stopped) return;
      try {
        const event = loggedEvent(type, args as LwM2mServerEvents[typeof type], {
          time: now(),
          awake: (ep) => server.isAwake(ep),
          ...(options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes }),
        });
        enqueue(event, type === 'registered' || type === 'updated');
      } catch (e) {
        report(e);
      }
    };
    server.on(type, listener);
    offs.push(() => server.off(type, listener));
  }

  const bs = options.bootstrap;
  if (bs) {
    const listener = (session: BootstrapSessionRecord): void => {
      if (stopped) return;
      try {
        enqueue(bootstrapEvent(session, now()), false);
      } catch (e) {
        report(e);
      }
    };
    bs.on('session-finished', listener);
    offs.push(() => bs.off('session-finished', listener));
  }

  const stop = (): void => {
    stopped = true;
    for (const off of offs.splice(0)) off();
  };
  return Object.assign(stop, { flush: () => chain });
}
