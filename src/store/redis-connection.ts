import { Redis } from 'ioredis';
import { StoreUnavailableError } from './store-errors.js';

/** How long opening a Redis store may take before it fails (connect, then PING). */
export const REDIS_CONNECT_TIMEOUT_MS = 3000;

/**
 * Connects to the Redis at `url` (`redis://` or `rediss://`) and checks it answers PING, failing
 * within REDIS_CONNECT_TIMEOUT_MS with a StoreUnavailableError rather than retrying forever.
 * Once open, a lost connection is retried in the background (commands fail meanwhile, after a few
 * retries each, instead of queueing without bound). Connection errors go to `onError`.
 */
export async function connectRedis(url: string, onError?: (error: unknown) => void): Promise<Redis> {
  let opened = false;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 2,
    // No retry while opening: a failed first connection ends the client (no timer left behind);
    // once open, a lost connection is retried.
    retryStrategy: (attempt) => (opened ? Math.min(attempt * 200, 2000) : null),
    // ioredis arms this timer even for a socket already closed; keep what it holds up short.
    disconnectTimeout: 200,
  });
  // While opening, the 'error' event carries the cause (ECONNREFUSED, NOAUTH); connect() only
  // reports "Connection is closed".
  let cause: unknown;
  redis.on('error', (e: unknown) => {
    if (opened) onError?.(e);
    else cause = e;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${REDIS_CONNECT_TIMEOUT_MS} ms`)),
        REDIS_CONNECT_TIMEOUT_MS,
      );
    });
    await Promise.race([redis.connect().then(() => redis.ping()), deadline]);
    opened = true;
    return redis;
  } catch (e) {
    if (redis.status !== 'end') redis.disconnect();
    const reason = cause ?? e;
    throw new StoreUnavailableError(
      `cannot reach Redis at ${redactPassword(url)}: ${reason instanceof Error ? reason.message : String(reason)}`,
      { cause: reason },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Closes an ioredis connection: QUIT when it is up (pending replies arrive first), else at once. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  // A QUIT that gets no answer (the server vanished) must not hold the close up.
  const timer = setTimeout(() => redis.disconnect(), 1000);
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/** The URL as it may appear in a message: any password replaced. */
export function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable URL>';
  }
}
