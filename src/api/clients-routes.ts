import type { FastifyInstance } from 'fastify';
import { MAX_TAGS, TAG_PATTERN } from '../store/tag-store.js';
import type { ApiContext } from './api-context.js';
import { clientState, requireRegistration } from './api-context.js';
import {
  pageSchema,
  pagingProperties,
  clientDetailsSchema,
  clientSummarySchema,
  endpointParams,
  errorResponses,
} from './api-schemas.js';
import { clientDetails, clientSummary, matchesClient } from './client-summary.js';
import type { ClientFilter } from './client-summary.js';

interface ListQuery {
  search?: string;
  tag?: string[];
  status?: 'awake' | 'sleeping';
  version?: string;
  binding?: string;
  offset: number;
  limit: number;
}

const TAG = ['clients'];
const tagsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['tags'],
  properties: {
    tags: {
      type: 'array',
      maxItems: MAX_TAGS,
      items: { type: 'string', pattern: TAG_PATTERN.source },
      description: `at most ${MAX_TAGS} tags of 1-64 printable characters without spaces or commas`,
    },
  },
} as const;
const tagsResponse = {
  type: 'object',
  required: ['endpoint', 'tags'],
  properties: { endpoint: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
} as const;

export function registerClientRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: ListQuery }>(
    '/api/clients',
    {
      schema: {
        tags: TAG,
        summary: 'Registered clients, sorted by endpoint, filtered and paged',
        description:
          '`search`: substring of the endpoint (case-insensitive); `tag` may repeat (all must match); ' +
          '`binding`: every letter must be among the client’s binding letters.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            search: { type: 'string', maxLength: 256 },
            tag: { type: 'array', maxItems: MAX_TAGS, items: { type: 'string', maxLength: 64 } },
            status: { type: 'string', enum: ['awake', 'sleeping'] },
            version: { type: 'string', maxLength: 16 },
            binding: { type: 'string', maxLength: 8 },
            ...pagingProperties,
          },
        },
        response: {
          200: pageSchema(clientSummarySchema),
          ...errorResponses(400),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const [registrations, tagged] = await Promise.all([ctx.server.registrations(), ctx.tags.all()]);
      const filter: ClientFilter = {
        ...(q.search ? { search: q.search } : {}),
        ...(q.tag && q.tag.length > 0 ? { tags: q.tag } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.version ? { version: q.version } : {}),
        ...(q.binding ? { binding: q.binding } : {}),
      };
      // Filter and sort on the few fields the filters read; build full summaries (dates as
      // text, addresses) only for the page: a fleet of 100k lists as fast as one of 100.
      const matching = [];
      for (const reg of registrations) {
        const tags = tagged.get(reg.endpoint) ?? [];
        const fields = {
          endpoint: reg.endpoint,
          tags,
          status:
            reg.queueMode && !ctx.server.isAwake(reg.endpoint) ? ('sleeping' as const) : ('awake' as const),
          lwm2mVersion: reg.lwm2mVersion,
          binding: reg.binding,
        };
        if (matchesClient(fields, filter)) matching.push({ reg, tags });
      }
      matching.sort((a, b) =>
        a.reg.endpoint < b.reg.endpoint ? -1 : a.reg.endpoint > b.reg.endpoint ? 1 : 0,
      );
      return {
        total: matching.length,
        offset: q.offset,
        limit: q.limit,
        items: matching
          .slice(q.offset, q.offset + q.limit)
          .map(({ reg, tags }) => clientSummary(reg, clientState(ctx, reg, tags))),
      };
    },
  );

  app.get<{ Params: { ep: string } }>(
    '/api/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: 'One client: its registration, tags and observation count',
        params: endpointParams,
        response: { 200: clientDetailsSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const reg = await requireRegistration(ctx, request.params.ep);
      const tags = await ctx.tags.get(reg.endpoint);
      return clientDetails(reg, clientState(ctx, reg, tags), ctx.server.observations(reg.endpoint).length);
    },
  );

  app.get<{ Params: { ep: string } }>(
    '/api/clients/:ep/tags',
    {
      schema: {
        tags: TAG,
        summary: 'The tags of an endpoint (registered or not)',
        params: endpointParams,
        response: { 200: tagsResponse, ...errorResponses() },
      },
    },
    async (request) => ({ endpoint: request.params.ep, tags: await ctx.tags.get(request.params.ep) }),
  );

  app.put<{ Params: { ep: string }; Body: { tags: string[] } }>(
    '/api/clients/:ep/tags',
    {
      schema: {
        tags: TAG,
        summary: 'Replace the tags of an endpoint (registered or not); [] removes them',
        params: endpointParams,
        body: tagsBody,
        response: { 200: tagsResponse, ...errorResponses(400) },
      },
    },
    async (request) => {
      const endpoint = request.params.ep;
      const tags = [...(await ctx.tags.set(endpoint, request.body.tags))];
      await ctx.events
        .append({ type: 'tags', time: ctx.now(), endpoint, data: { endpoint, tags } })
        .catch((e: unknown) => ctx.reportError(e));
      return { endpoint, tags };
    },
  );
}
