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

type Early<T> = { settled: true; value: T } | { settled: true; error: unknown } | { settled: false };

/**
 * Whether `promise` settles before the event loop turns: what the server refuses before queueing
 * (a bad path, a wrong type, a full queue) does, as long as the registration store answers from
 * memory; a request that went into a sleeping client's queue does not.
 */
function settledNow<T>(promise: Promise<T>): Promise<Early<T>> {
  return new Promise((resolve) => {
    const timer = setImmediate(() => resolve({ settled: false }));
    promise.then(
      (value) => {
        clearImmediate(timer);
        resolve({ settled: true, value });
      },
      (error: unknown) => {
        clearImmediate(timer);
        resolve({ settled: true, error });
      },
    );
  });
}

/**
 * Runs one operation for a route. For a queue-mode client that sleeps now (Transport TS §Queue
 * Mode) the request is started, the route answers 202 with a requestId, and the outcome is
 * appended to the event log as `queued-result` when the client wakes and answers (or the request
 * expires). Otherwise the route waits for the answer.
 */
export async function runOperation(
  ctx: ApiContext,
  reply: FastifyReply,
  target: OperationTarget,
  run: () => Promise<OperationResponseJson>,
): Promise<OperationResponseJson | QueuedResponseJson> {
  const reg = await requireRegistration(ctx, target.endpoint);
  if (!reg.queueMode || ctx.server.isAwake(target.endpoint)) return run();
  const promise = run();
  const early = await settledNow(promise);
  if (early.settled) {
    if ('error' in early) throw early.error;
    return early.value;
  }
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
