import type { FastifyReply } from 'fastify';
import type { ApiContext } from './api-context.js';
import { requireRegistration } from './api-context.js';
import { toApiError } from './api-errors.js';
import type { ApiOperation, OperationResponseJson } from './operation-response.js';

/** The 202 answer for a request that waits for a sleeping queue-mode client. */
export interface QueuedResponseJson {
  readonly queued: true;
  readonly requestId: string;
  readonly endpoint: string;
  readonly operation: ApiOperation;
  readonly paths: readonly string[];
}

export interface OperationTarget {
  readonly endpoint: string;
  readonly operation: ApiOperation;
  readonly paths: readonly string[];
}

/** What a route's operation gets: the server's queue-mode signal, to pass to the LwM2mServer call. */
export interface QueueSignal {
  readonly onQueued: () => void;
}

/**
 * Runs one operation for a route. The route passes `signal` on to the server (RequestOptions
 * onQueued): when the request goes into a sleeping queue-mode client's queue (Transport TS §Queue
 * Mode) the route answers 202 with a requestId at once, and the outcome is appended to the event
 * log as `queued-result` when the client wakes and answers (or the request expires). Otherwise
 * — sent at once, or refused before queueing — the route waits for the answer or the error. The
 * server says so itself, so this holds whatever the registration store's latency.
 */
export async function runOperation(
  ctx: ApiContext,
  reply: FastifyReply,
  target: OperationTarget,
  run: (signal: QueueSignal) => Promise<OperationResponseJson>,
): Promise<OperationResponseJson | QueuedResponseJson> {
  await requireRegistration(ctx, target.endpoint);
  let queued!: () => void;
  const wasQueued = new Promise<'queued'>((resolve) => (queued = () => resolve('queued')));
  let promise: Promise<OperationResponseJson>;
  try {
    promise = run({ onQueued: () => queued() });
  } catch (e) {
    promise = Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  const first = await Promise.race([promise, wasQueued]);
  if (first !== 'queued') return first;
  const requestId = ctx.newId();
  const append = (data: Record<string, unknown>): void => {
    ctx.events
      .append({
        type: 'queued-result',
        time: ctx.now(),
        endpoint: target.endpoint,
        data: { requestId, ...data },
      })
      .catch((e: unknown) => ctx.reportError(e));
  };
  promise.then(
    (result) => append({ result }),
    (e: unknown) => append({ error: toApiError(e).toJSON() }),
  );
  void reply.code(202);
  return {
    queued: true,
    requestId,
    endpoint: target.endpoint,
    operation: target.operation,
    paths: [...target.paths],
  };
}
