import type { Redis } from 'ioredis';
import { MemoryBootstrapConfigStore } from './memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from './memory-credential-store.js';
import { MemoryEventLog } from './memory-event-log.js';
import { MemoryObservationStore } from './memory-observation-store.js';
import { MemoryRegistrationStore } from './memory-registration-store.js';
import { MemoryTagStore } from './memory-tag-store.js';
import { RedisBootstrapConfigStore } from './redis-bootstrap-config-store.js';
import { closeRedis, connectRedis } from './redis-connection.js';
import { RedisCredentialStore } from './redis-credential-store.js';
import { RedisEventLog } from './redis-event-log.js';
import { RedisObservationStore } from './redis-observation-store.js';
import { RedisRegistrationStore } from './redis-registration-store.js';
import { RedisTagStore } from './redis-tag-store.js';
import { SqliteBootstrapConfigStore } from './sqlite-bootstrap-config-store.js';
import { SqliteCredentialStore } from './sqlite-credential-store.js';
import { openSqliteDatabase } from './sqlite-database.js';
import type { SqlDatabase } from './sqlite-driver.js';
import { SqliteEventLog } from './sqlite-event-log.js';
import { SqliteObservationStore } from './sqlite-observation-store.js';
import { SqliteRegistrationStore } from './sqlite-registration-store.js';
import { SqliteTagStore } from './sqlite-tag-store.js';
import { StoreSpecError } from './store-errors.js';
import type { Stores } from './stores.js';
import { resolveCapacity } from './event-log-rules.js';

export interface OpenStoresOptions {
  /** Redis key prefix (default `{petrel}:`); ignored by the other backends. */
  readonly prefix?: string;
  /** Most events the event log keeps (default 10 000). */
  readonly eventCapacity?: number;
  /** Backend errors nobody awaits: Redis connection drops, a throwing event listener. */
  readonly onError?: (error: unknown) => void;
}

/** A store spec taken apart: which backend, and where. */
export type StoreSpec =
  | { readonly kind: 'memory' }
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'redis'; readonly url: string };

/** Reads `memory`, `sqlite:<file>`, `redis://…` or `rediss://…`; anything else is a StoreSpecError. */
export function parseStoreSpec(spec: string): StoreSpec {
  if (spec === 'memory') return { kind: 'memory' };
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length);
    if (file === '') throw new StoreSpecError(spec, 'sqlite: needs a file');
    return { kind: 'sqlite', file };
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    let url: URL;
    try {
      url = new URL(spec);
    } catch {
      throw new StoreSpecError(spec, 'not a valid URL');
    }
    if (url.hostname === '') throw new StoreSpecError(spec, 'the Redis URL has no host');
    if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,5}$/.test(url.pathname))
      throw new StoreSpecError(spec, `the database must be a number (/0, /1, …), got ${url.pathname}`);
    return { kind: 'redis', url: spec };
  }
  throw new StoreSpecError(spec, spec.includes('://') ? 'unknown scheme' : 'unknown store');
}

/**
 * Opens every store the server uses on one backend: `memory`, `sqlite:<file>` (one database file,
 * WAL) or a Redis URL (one connection shared by the stores, one more for event subscribers).
 * Fails with StoreSpecError for a bad spec and StoreUnavailableError when the backend cannot be
 * opened or reached (Redis: within about 3 s). `close()` closes what was opened, once.
 */
export async function openStores(spec: string, options: OpenStoresOptions = {}): Promise<Stores> {
  const parsed = parseStoreSpec(spec);
  const capacity = resolveCapacity(options.eventCapacity);
  const events = { capacity, onError: options.onError };
  switch (parsed.kind) {
    case 'memory':
      return bundle('memory', {
        registrations: new MemoryRegistrationStore(),
        observations: new MemoryObservationStore(),
        credentials: new MemoryCredentialStore(),
        bootstrapConfigs: new MemoryBootstrapConfigStore(),
        tags: new MemoryTagStore(),
        events: new MemoryEventLog(events),
        close: () => Promise.resolve(),
      });
    case 'sqlite':
      return openSqlite(openSqliteDatabase(parsed.file), events);
    case 'redis':
      return openRedis(await connectRedis(parsed.url, options.onError), options.prefix, events);
  }
}

type Parts = Omit<Stores, 'kind'>;

function bundle(kind: Stores['kind'], parts: Parts): Stores {
  let closing: Promise<void> | undefined;
  return {
    kind,
    ...parts,
    close: () => (closing ??= parts.close()),
  };
}

function openSqlite(
  db: SqlDatabase,
  events: { capacity: number; onError: ((error: unknown) => void) | undefined },
): Stores {
  try {
    return bundle('sqlite', {
      registrations: new SqliteRegistrationStore({ db }),
      observations: new SqliteObservationStore({ db }),
      credentials: new SqliteCredentialStore({ db }),
      bootstrapConfigs: new SqliteBootstrapConfigStore({ db }),
      tags: new SqliteTagStore({ db }),
      events: new SqliteEventLog({ db, ...events }),
      close: () => {
        db.close();
        return Promise.resolve();
      },
    });
  } catch (e) {
    db.close();
    throw e;
  }
}

function openRedis(
  redis: Redis,
  prefix: string | undefined,
  events: { capacity: number; onError: ((error: unknown) => void) | undefined },
): Stores {
  const options = prefix === undefined ? { redis } : { redis, prefix };
  const log = new RedisEventLog({ ...options, ...events });
  return bundle('redis', {
    registrations: new RedisRegistrationStore(options),
    observations: new RedisObservationStore(options),
    credentials: new RedisCredentialStore(options),
    bootstrapConfigs: new RedisBootstrapConfigStore(options),
    tags: new RedisTagStore(options),
    events: log,
    close: async () => {
      await log.close();
      await closeRedis(redis);
    },
  });
}
