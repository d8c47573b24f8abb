import type { Redis } from 'ioredis';
import { documentFromJson, documentToJson } from './document-json.js';
import type { EventLog, EventQuery, LoggedEvent, StoredEvent } from './event-log.js';
import {
  EventListeners,
  type EventLogOptions,
  matchesQuery,
  resolveCapacity,
  resolveQuery,
  storedEvent,
} from './event-log-rules.js';
import { closeRedis } from './redis-connection.js';
import type { RedisStoreOptions } from './redis-registration-store.js';

// Keys below the prefix: events → stream, entry id `<seq>-0` with one field `e` (the event's
// JSON without seq), trimmed to capacity; events:seq → the last seq handed out. Channel
// `<prefix>events` carries `<seq> <json>` for every append.

/**
 * append: the next seq (never below the stream's last one, should the counter have been lost),
 * the entry, the trim and the publish, all in one script: seq order is stream order is channel order.
 */
const APPEND = `
local p, cap, json = ARGV[1], ARGV[2], ARGV[3]
local seq = redis.call('INCR', p .. 'events:seq')
local last = redis.call('XREVRANGE', p .. 'events', '+', '-', 'COUNT', 1)[1]
if last then
  local lastSeq = tonumber(string.match(last[1], '^(%d+)'))
  if lastSeq >= seq then
    seq = lastSeq + 1
    redis.call('SET', p .. 'events:seq', seq)
  end
end
redis.call('XADD', p .. 'events', 'MAXLEN', cap, seq .. '-0', 'e', json)
redis.call('PUBLISH', p .. 'events', seq .. ' ' .. json)
return seq`;

const PAGE = 200;

/**
 * The event log in a Redis stream shared by every server process on the same Redis and prefix.
 * Live events travel by pub/sub: the first subscribe opens a subscriber connection (a duplicate
 * of the client), the last unsubscribe closes it. Every event, this process's own included, is
 * delivered from the channel only, so each exactly once; an append waits until a pending
 * subscription is active, so a listener subscribed before an append always gets it. Pub/sub is
 * at-most-once across a lost connection: a consumer that must not miss any resumes with
 * `recent({ after })`.
 */
export class RedisEventLog implements EventLog {
  readonly capacity: number;
  readonly #redis: Redis;
  readonly #p: string;
  readonly #listeners: EventListeners;
  readonly #onError: ((error: unknown) => void) | undefined;
  #subscriber: Redis | undefined;
  #subscribed: Promise<void> | undefined;

  constructor(options: RedisStoreOptions & EventLogOptions) {
    this.#redis = options.redis;
    this.#p = options.prefix ?? '{petrel}:';
    this.capacity = resolveCapacity(options.capacity);
    this.#onError = options.onError;
    this.#listeners = new EventListeners(options.onError);
  }

  async append(event: LoggedEvent): Promise<StoredEvent> {
    if (this.#subscribed) await this.#subscribed.catch(() => undefined);
    const json = documentToJson(wireEvent(event));
    const seq = (await this.#redis.eval(APPEND, 0, this.#p, String(this.capacity), json)) as number;
    return storedEvent(seq, event);
  }

  async recent(query?: EventQuery): Promise<StoredEvent[]> {
    const q = resolveQuery(query, this.capacity);
    const out: StoredEvent[] = [];
    const start = q.after === undefined || q.after < 0 ? '-' : `(${q.after}-0`;
    let end = '+';
    // Newest first, a page at a time, until the limit is met or the range runs out.
    while (out.length < q.limit) {
      const page = await this.#redis.xrevrange(`${this.#p}events`, end, start, 'COUNT', PAGE);
      for (const [id, fields] of page) {
        const event = parseEntry(id, fields);
        if (event && matchesQuery(event, q)) out.push(event);
        if (out.length === q.limit) break;
      }
      const last = page.at(-1);
      if (page.length < PAGE || !last) break;
      end = `(${last[0]}`;
    }
    return out.reverse();
  }

  subscribe(listener: (event: StoredEvent) => void): () => void {
    const remove = this.#listeners.add(listener);
    if (!this.#subscriber) this.#openSubscriber();
    return () => {
      remove();
      if (this.#listeners.size === 0) void this.#closeSubscriber();
    };
  }

  /** Resolves once live events flow to this process's listeners (a subscription is active). */
  async whenSubscribed(): Promise<void> {
    await this.#subscribed;
  }

  /** Drops every listener and closes the subscriber connection (the client itself stays open). */
  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#closeSubscriber();
  }

  #openSubscriber(): void {
    const channel = `${this.#p}events`;
    const subscriber = this.#redis.duplicate();
    subscriber.on('error', (e: unknown) => this.#onError?.(e));
    subscriber.on('message', (from: string, message: string) => {
      // A connection still closing (the last listener left, a new one came) delivers nothing.
      if (from !== channel || this.#subscriber !== subscriber) return;
      const event = parseMessage(message);
      if (event) this.#listeners.emit(event);
      else this.#onError?.(new Error(`ignored a malformed message on ${channel}`));
    });
    this.#subscriber = subscriber;
    this.#subscribed = subscriber.subscribe(channel).then(() => undefined);
    // Reported by whenSubscribed/append's caller if anyone waits; never an unhandled rejection.
    this.#subscribed.catch((e: unknown) => this.#onError?.(e));
  }

  async #closeSubscriber(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    this.#subscribed = undefined;
    if (!subscriber) return;
    await closeRedis(subscriber);
  }
}

/** What goes into the stream and on the channel: the event without seq. */
function wireEvent(event: LoggedEvent): LoggedEvent {
  return event.endpoint === undefined
    ? { type: event.type, time: event.time, data: event.data }
    : { type: event.type, time: event.time, endpoint: event.endpoint, data: event.data };
}

function parseEntry(id: string, fields: readonly string[]): StoredEvent | undefined {
  const i = fields.indexOf('e');
  const json = i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
  return json === undefined ? undefined : decode(Number.parseInt(id, 10), json);
}

function parseMessage(message: string): StoredEvent | undefined {
  const space = message.indexOf(' ');
  return space <= 0 ? undefined : decode(Number(message.slice(0, space)), message.slice(space + 1));
}

function decode(seq: number, json: string): StoredEvent | undefined {
  if (!Number.isSafeInteger(seq)) return undefined;
  try {
    const event = documentFromJson<LoggedEvent>(json);
    return storedEvent(seq, event);
  } catch {
    return undefined;
  }
}
