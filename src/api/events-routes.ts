import type { FastifyInstance } from 'fastify';
import type { StoredEvent } from '../store/event-log.js';
import type { ApiContext } from './api-context.js';
import { ApiError } from './api-errors.js';
import { MAX_PAGE_LIMIT, errorResponses, storedEventSchema } from './api-schemas.js';

interface EventFilter {
  readonly endpoint?: string;
  readonly types?: readonly string[];
}

/** `registered,notification` → ['registered', 'notification']; empty → no filter. */
export function parseTypes(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const types = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return types.length > 0 ? types : undefined;
}

export function matchesEvent(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.endpoint !== undefined && event.endpoint !== filter.endpoint) return false;
  if (filter.types !== undefined && !filter.types.includes(event.type)) return false;
  return true;
}

/** One SSE message (WHATWG HTML §9.2): id, event name and the event as one JSON data line. */
export function formatSseMessage(event: StoredEvent): string {
  // JSON.stringify escapes line breaks inside strings; the type is a name, but comes from a store.
  const type = event.type.replace(/[\r\n]/g, ' ');
  return `id: ${event.seq}\nevent: ${type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** A Last-Event-ID as a sequence number; anything else means "no replay". */
export function parseLastEventId(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,15}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

// A subscriber that cannot keep up is disconnected rather than buffered without bound; it
// reconnects with Last-Event-ID and replays from the log.
const MAX_BUFFERED_BYTES = 1024 * 1024;
const MAX_HELD_DURING_REPLAY = 10_000;

const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: { type: 'string', maxLength: 1024 },
    types: { type: 'string', maxLength: 1024, description: 'comma-separated event types' },
  },
} as const;

export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: { endpoint?: string; types?: string; token?: string; lastEventId?: string } }>(
    '/api/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Live events as Server-Sent Events',
        description:
          'text/event-stream: each message has `id: <seq>`, `event: <type>` and `data: <StoredEvent JSON>`. ' +
          'Send `Last-Event-ID` (or `?lastEventId=`) to replay what was missed from the event log. A comment ' +
          'heartbeat keeps the connection open. EventSource cannot set headers: `?token=` is accepted here.',
        querystring: {
          ...eventsQuery,
          properties: {
            ...eventsQuery.properties,
            token: { type: 'string', maxLength: 4096 },
            lastEventId: { type: 'string', maxLength: 20 },
          },
        },
        response: {
          200: {
            description: 'the event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses(400, 503),
        },
      },
    },
    async (request, reply) => {
      if (ctx.streams.size >= ctx.maxStreams)
        throw new ApiError(
          'UNAVAILABLE',
          `${ctx.maxStreams} event streams are open, the most this server keeps: close one or try later`,
        );
      const filter: EventFilter = {
        ...(request.query.endpoint === undefined ? {} : { endpoint: request.query.endpoint }),
        ...(parseTypes(request.query.types) === undefined ? {} : { types: parseTypes(request.query.types)! }),
      };
      const header = request.headers['last-event-id'];
      const after = parseLastEventId(
        (Array.isArray(header) ? header[0] : header) ?? request.query.lastEventId,
      );
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write('retry: 3000\n\n');
      ctx.streams.add(raw);

      let closed = false;
      let lastSeq = after ?? -1;
      const send = (event: StoredEvent): void => {
        if (closed || event.seq <= lastSeq) return;
        lastSeq = event.seq;
        raw.write(formatSseMessage(event));
        if (raw.writableLength > MAX_BUFFERED_BYTES) raw.destroy();
      };
      let held: StoredEvent[] | undefined = after === undefined ? undefined : [];
      const unsubscribe = ctx.events.subscribe((event) => {
        if (closed || !matchesEvent(event, filter)) return;
        if (held) {
          if (held.length < MAX_HELD_DURING_REPLAY) held.push(event);
          else raw.destroy();
        } else send(event);
      });
      const heartbeat = setInterval(() => {
        if (!closed) raw.write(': heartbeat\n\n');
      }, ctx.heartbeatMs);
      const cleanup = (): void => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        ctx.streams.delete(raw);
      };
      raw.on('close', cleanup);
      raw.on('error', cleanup);

      if (after !== undefined) {
        try {
          const past = await ctx.events.recent({
            after,
            limit: ctx.events.capacity,
            ...(filter.endpoint === undefined ? {} : { endpoint: filter.endpoint }),
            ...(filter.types === undefined ? {} : { types: filter.types }),
          });
          for (const event of past) send(event);
        } catch (e) {
          ctx.reportError(e);
        }
        const waiting = held ?? [];
        held = undefined;
        for (const event of waiting) send(event);
      }
    },
  );

  app.get<{ Querystring: { limit: number; endpoint?: string; types?: string } }>(
    '/api/events/recent',
    {
      schema: {
        tags: ['events'],
        summary: 'The most recent logged events, oldest first',
        querystring: {
          ...eventsQuery,
          properties: {
            ...eventsQuery.properties,
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: 100 },
          },
        },
        response: { 200: { type: 'array', items: storedEventSchema }, ...errorResponses(400) },
      },
    },
    async (request) => {
      const { limit, endpoint } = request.query;
      const types = parseTypes(request.query.types);
      return ctx.events.recent({
        limit,
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(types === undefined ? {} : { types }),
      });
    },
  );
}
