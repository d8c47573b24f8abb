import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './api-context.js';
import { errorResponses } from './api-schemas.js';

function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The package version, for /api/server and the OpenAPI document. */
export const PETREL_VERSION = packageVersion();

const addressSchema = {
  type: ['object', 'null'],
  properties: { address: { type: 'string' }, port: { type: 'integer' } },
} as const;

/** Where the HTTP server listens, once it does. */
function httpAddress(app: FastifyInstance): { address: string; port: number } | null {
  const address = app.server.address();
  if (address === null || typeof address === 'string') return null;
  return { address: address.address, port: address.port };
}

export function registerServerRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/api/server',
    {
      schema: {
        tags: ['server'],
        summary: 'The server: version, endpoints, store, counts and rates over the last 10 s',
        response: {
          200: {
            type: 'object',
            required: [
              'name',
              'version',
              'lwm2mVersions',
              'startedAt',
              'uptimeS',
              'endpoints',
              'store',
              'counts',
              'rates',
            ],
            properties: {
              name: { type: 'string' },
              version: { type: 'string' },
              lwm2mVersions: { type: 'array', items: { type: 'string' } },
              startedAt: { type: 'string', format: 'date-time' },
              uptimeS: { type: 'number' },
              endpoints: {
                type: 'object',
                properties: { coap: addressSchema, http: addressSchema },
              },
              store: { type: 'string', enum: ['memory', 'sqlite', 'redis'] },
              counts: {
                type: 'object',
                properties: {
                  registrations: { type: 'integer' },
                  awake: { type: 'integer' },
                  sleeping: { type: 'integer' },
                  observations: { type: 'integer' },
                },
              },
              rates: {
                type: 'object',
                properties: {
                  uplinksPerS: { type: 'number' },
                  requestsPerS: { type: 'number' },
                  notificationsPerS: { type: 'number' },
                },
              },
            },
          },
          ...errorResponses(),
        },
      },
    },
    async () => {
      const registrations = await ctx.server.registrations();
      let sleeping = 0;
      let observations = 0;
      for (const reg of registrations) {
        if (reg.queueMode && !ctx.server.isAwake(reg.endpoint)) sleeping++;
        observations += ctx.server.observations(reg.endpoint).length;
      }
      const local = ctx.server.address;
      return {
        name: 'petrel',
        version: PETREL_VERSION,
        lwm2mVersions: ['1.0', '1.1', '1.2'],
        startedAt: ctx.startedAt.toISOString(),
        uptimeS: Math.max(0, Math.round((ctx.now() - ctx.startedAt.getTime()) / 100) / 10),
        endpoints: {
          coap: ctx.coap ?? (local ? { address: local.address, port: local.port } : null),
          http: httpAddress(app),
        },
        store: ctx.storeKind,
        counts: {
          registrations: registrations.length,
          awake: registrations.length - sleeping,
          sleeping,
          observations,
        },
        rates: {
          uplinksPerS: ctx.monitor.uplinks.perSecond(),
          requestsPerS: ctx.monitor.requests.perSecond(),
          notificationsPerS: ctx.monitor.notifications.perSecond(),
        },
      };
    },
  );
}
