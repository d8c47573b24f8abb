import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';
import type { FastifyInstance, FastifySchema, FastifyServerOptions } from 'fastify';
import type { BootstrapServer } from '../bootstrap/bootstrap-server.js';
import type { ObjectModel } from '../model/object-definition.js';
import type { LwM2mServer } from '../server/lwm2m-server.js';
import type { Stores } from '../store/stores.js';
import type { ApiContext, BootstrapApiContext, ServerSecurityInfo } from './api-context.js';
import { registerBootstrapRoutes } from './bootstrap-routes.js';
import { ApiError, MAX_PARAM_LENGTH, frameworkErrorHandler, installErrorHandler } from './api-errors.js';
import { registerClientRoutes } from './clients-routes.js';
import { recordServerEvents } from './event-recorder.js';
import type { RecordEventsOptions } from './event-recorder.js';
import { registerEventRoutes } from './events-routes.js';
import { registerFirmwareRoutes, type FirmwareApi } from './firmware-routes.js';
import { installTokenAuth } from './http-auth.js';
import { installCors } from './http-cors.js';
import { registerModelRoutes } from './models-routes.js';
import { registerOperationRoutes } from './operation-routes.js';
import { registerSecurityRoutes } from './security-routes.js';
import { PETREL_VERSION, registerServerRoutes } from './server-routes.js';
import { ServerMonitor } from './server-monitor.js';
import { hasWebUi, registerWebRoutes } from './web-routes.js';

export interface ApiServerOptions {
  /**
   * The LwM2M server the API manages. Without it (`petrel bootstrap`: a Bootstrap-Server alone)
   * only the /api/security and /api/bootstrap routes are served, with the API reference.
   */
  readonly server?: LwM2mServer;
  /**
   * Tags, the event log and (for /api/security) the credential store: the server's own stores
   * bundle will do.
   */
  readonly stores: Pick<Stores, 'tags' | 'events' | 'kind'> &
    Partial<Pick<Stores, 'credentials' | 'bootstrapConfigs'>>;
  /** The Bootstrap-Server running beside the LwM2M server, shown by /api/bootstrap/sessions. */
  readonly bootstrap?: BootstrapServer;
  /** Object definitions for /api/models (default: the server's model). */
  readonly model?: ObjectModel;
  /** Require `Authorization: Bearer <token>` on /api (not on /api/openapi.json and /api/docs). */
  readonly token?: string;
  /** Origins allowed to call the API from a browser (`*` for any); CORS is off without it. */
  readonly cors?: readonly string[];
  /** Folder of the built web UI, served at `/` when it holds an index.html. */
  readonly webRoot?: string;
  readonly logger?: FastifyServerOptions['logger'];
  /** Shown by /api/server (default: when the API was created). */
  readonly startedAt?: Date;
  /** The CoAP address to report (default: where the server's own UDP channel listens). */
  readonly endpoints?: { readonly coap?: { readonly address: string; readonly port: number } };
  /** The server's own DTLS identity, shown by GET /api/security/server. */
  readonly serverSecurity?: ServerSecurityInfo;
  /** Wall clock in ms (default Date.now). */
  readonly now?: () => number;
  /**
   * Record the server's events into `stores.events` (default true). Turn it off when something
   * else records them (several API processes on one server).
   */
  readonly record?: boolean | Omit<RecordEventsOptions, 'now' | 'tags'>;
  /** Largest request body, bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  /** Milliseconds between SSE heartbeat comments (default 15 000). */
  readonly heartbeatMs?: number;
  /**
   * Most event streams (`/api/events`) open at once (default 256); each holds a subscription, a
   * timer and up to 1 MiB of unsent events, so their number is bounded. One more gets 503.
   */
  readonly maxEventStreams?: number;
  /** Firmware repository, download service and campaigns: serves /api/firmware (docs/firmware-server.md). */
  readonly firmware?: FirmwareApi;
}

/**
 * OpenAPI has no wildcard path parameter: `/api/clients/{ep}/*` is documented as
 * `/api/clients/{ep}/{path}`, the LwM2M path (slashes allowed).
 */
function documentWildcard({ schema, url }: { schema: FastifySchema; url: string }): {
  schema: FastifySchema;
  url: string;
} {
  if (!url.endsWith('/*')) return { schema, url };
  const params = schema.params as { properties?: Record<string, unknown>; required?: string[] } | undefined;
  if (!params?.properties) return { schema, url: `${url.slice(0, -1)}:path` };
  const { '*': wildcard, ...rest } = params.properties;
  return {
    schema: {
      ...schema,
      params: {
        ...params,
        properties: { ...rest, path: wildcard },
        required: (params.required ?? []).map((p) => (p === '*' ? 'path' : p)),
      },
    },
    url: `${url.slice(0, -1)}:path`,
  };
}

/** `?token=…` (the API token) and `?t=…` (a firmware download token) in a logged URL become `[redacted]`: request logs must not hold secrets. */
export function redactToken(url: string): string {
  return url.replace(/([?&](?:token|t)=)[^&#]*/gi, '$1[redacted]');
}

interface LoggedRequest {
  method: string;
  url: string;
  hostname?: string;
  ip?: string;
}

function redactingLogger(logger: FastifyServerOptions['logger']): FastifyServerOptions['logger'] {
  if (logger === undefined || logger === false) return false;
  const base = logger === true ? {} : logger;
  return {
    ...base,
    serializers: {
      ...(base.serializers ?? {}),
      req: (request: LoggedRequest) => ({
        method: request.method,
        url: redactToken(request.url),
        host: request.hostname,
        remoteAddress: request.ip,
      }),
    },
  };
}

/**
 * Ajv coerces `1e400` in a URL to Infinity and then skips `minimum`/`maximum` for a number that is
 * not finite: such a `timeout` or `limit` would pass validation. Numbers in the URL must be finite.
 */
function nonFiniteField(fields: unknown, where: string): ApiError | undefined {
  if (fields === null || typeof fields !== 'object') return undefined;
  for (const [name, value] of Object.entries(fields)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && !Number.isFinite(v)))
      return new ApiError('BAD_REQUEST', `${where}/${name.slice(0, 64)} must be a finite number`);
  }
  return undefined;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_EVENT_STREAMS = 256;

/**
 * Builds the REST API of a running LwM2mServer (docs/rest-api.md) as a Fastify instance, ready
 * for `inject()` or `listen()` (the caller listens). Closing the app stops its event recording
 * and ends open event streams; it does not stop the LwM2M server or close the stores.
 */
export async function createApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const now = options.now ?? Date.now;
  const app = Fastify({
    logger: redactingLogger(options.logger),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // A HEAD on a read route would perform the LwM2M Read: no implicit HEAD routes.
    exposeHeadRoutes: false,
    // Endpoint names can be long (URNs); the router's default cap is 100 characters.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // An undecodable URL or an over-long parameter is refused before routing: as {code, message} too.
    frameworkErrors: frameworkErrorHandler,
    ajv: {
      customOptions: {
        // Unknown fields are an error (BAD_REQUEST naming them), not silently dropped.
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false,
      },
    },
  });
  const streams = new Set<ServerResponse>();
  const server = options.server;
  const monitor = server ? new ServerMonitor(server, { now }) : undefined;
  // What the security and bootstrap routes use: all they need when no LwM2M server runs.
  const bootstrapCtx: BootstrapApiContext = {
    credentials: options.stores.credentials,
    ...(options.stores.bootstrapConfigs ? { bootstrapConfigs: options.stores.bootstrapConfigs } : {}),
    ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
    ...(options.serverSecurity ? { serverSecurity: options.serverSecurity } : {}),
  };
  const reportError = (e: unknown): void => app.log.error({ err: e }, 'REST API background error');
  const ctx: ApiContext | undefined =
    server && monitor
      ? {
          ...bootstrapCtx,
          server,
          tags: options.stores.tags,
          events: options.stores.events,
          storeKind: options.stores.kind,
          model: options.model ?? server.model,
          monitor,
          now,
          startedAt: options.startedAt ?? new Date(now()),
          coap: options.endpoints?.coap ?? null,
          heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
          streams,
          maxStreams: options.maxEventStreams ?? DEFAULT_MAX_EVENT_STREAMS,
          newId: () => randomBytes(8).toString('hex'),
          reportError,
        }
      : undefined;

  const record = options.record ?? true;
  const recorder =
    record && server
      ? recordServerEvents(server, options.stores.events, {
          ...(typeof record === 'object' ? record : {}),
          now,
          tags: options.stores.tags,
          ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
          onError: reportError,
        })
      : undefined;

  app.addHook('preClose', (done) => {
    for (const raw of streams) raw.end();
    streams.clear();
    done();
  });
  app.addHook('onClose', async () => {
    recorder?.();
    monitor?.close();
    await recorder?.flush();
  });

  installErrorHandler(app);
  // Bodies are JSON (415 for anything else): Fastify's default text/plain parser would hand a
  // string to routes that expect an object.
  app.removeContentTypeParser('text/plain');
  if (options.cors && options.cors.length > 0) installCors(app, options.cors);
  if (options.token !== undefined && options.token !== '') installTokenAuth(app, options.token);
  // A POST or PUT without a body means "no fields" (POST …/execute, …/observe).
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined && (request.method === 'POST' || request.method === 'PUT'))
      request.body = {};
    done();
  });
  app.addHook('preHandler', (request, _reply, done) => {
    done(nonFiniteField(request.params, 'params') ?? nonFiniteField(request.query, 'querystring'));
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Petrel LwM2M server REST API',
        version: PETREL_VERSION,
        description:
          'Device management of the LwM2M clients registered with a Petrel server. See docs/rest-api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(options.token ? { security: [{ bearer: [] }] } : {}),
    },
    transform: documentWildcard,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/api/docs',
    // No call to the online validator: the docs work offline.
    uiConfig: { validatorUrl: null },
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, () => app.swagger());

  if (ctx) {
    registerServerRoutes(app, ctx);
    registerModelRoutes(app, ctx);
    registerClientRoutes(app, ctx);
    registerOperationRoutes(app, ctx);
    registerEventRoutes(app, ctx);
    if (options.firmware) registerFirmwareRoutes(app, ctx, options.firmware);
  }
  registerSecurityRoutes(app, ctx ?? bootstrapCtx);
  // Without a LwM2M server the trigger route only records the reason (it cannot execute /1/x/9).
  registerBootstrapRoutes(app, ctx ?? bootstrapCtx);

  // The web UI is the LwM2M server's console: not served without one.
  const webRoot =
    ctx !== undefined && options.webRoot !== undefined && hasWebUi(options.webRoot)
      ? options.webRoot
      : undefined;
  if (webRoot !== undefined) await registerWebRoutes(app, webRoot);

  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0]!;
    const isApi = path === '/api' || path.startsWith('/api/');
    if (webRoot !== undefined && !isApi && (request.method === 'GET' || request.method === 'HEAD'))
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    const error = new ApiError('NOT_FOUND', `no route ${request.method} ${path.slice(0, 200)}`);
    return reply.code(404).send(error.toJSON());
  });
  return app;
}

export interface RunningApiServer {
  readonly app: FastifyInstance;
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Creates the API and listens on `address:port` (port 0: any free one). */
export async function startApiServer(
  options: ApiServerOptions & { readonly address?: string; readonly port?: number },
): Promise<RunningApiServer> {
  const app = await createApiServer(options);
  try {
    await app.listen({ host: options.address ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (e) {
    await app.close();
    throw e;
  }
  const bound = app.server.address() as AddressInfo;
  return { app, address: bound.address, port: bound.port, close: () => app.close() };
}
