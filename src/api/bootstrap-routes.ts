import type { FastifyInstance } from 'fastify';
import { BootstrapConfigError, parseBootstrapConfig } from '../bootstrap/bootstrap-config.js';
import type {
  BootstrapAccountConfig,
  BootstrapConfiguration,
  SecurityConfig,
  ServerAccountConfig,
} from '../bootstrap/bootstrap-config.js';
import type { BootstrapServer, BootstrapSessionRecord } from '../bootstrap/bootstrap-server.js';
import type { BootstrapConfig, BootstrapConfigStore } from '../store/bootstrap-config-store.js';
import type { ApiContext } from './api-context.js';
import { clipName } from './api-context.js';
import { ApiError } from './api-errors.js';
import { pageSchema, pagingProperties, endpointParams, errorResponses, freeObject } from './api-schemas.js';

const TAG = ['bootstrap'];

// ---- what the API shows of a configuration: never a PSK or a private key ----

/** A security mode as shown: identities, public keys and certificates; secrets only by length. */
export type SecurityView =
  | { readonly mode: 'nosec' }
  | { readonly mode: 'psk'; readonly identity: string; readonly keyLength: number }
  | {
      readonly mode: 'rpk';
      readonly publicKey: string;
      readonly serverPublicKey: string;
      readonly privateKeyLength: number;
    }
  | {
      readonly mode: 'x509';
      readonly certificate: string;
      readonly serverCertificate: string;
      readonly certificateUsage?: number;
      readonly privateKeyLength: number;
    };

export type ServerAccountView = Omit<ServerAccountConfig, 'security'> & { readonly security: SecurityView };
export type BootstrapAccountView = Omit<BootstrapAccountConfig, 'security'> & {
  readonly security: SecurityView;
};

export interface BootstrapConfigView {
  readonly endpoint: string;
  readonly servers?: readonly ServerAccountView[];
  readonly bootstrapServer?: BootstrapAccountView;
  readonly deleteFirst?: boolean;
  /** Set instead of the fields above when the stored document is not a valid configuration. */
  readonly error?: string;
}

const bytes = (hex: string): number => hex.length / 2;

export function securityView(security: SecurityConfig): SecurityView {
  switch (security.mode) {
    case 'nosec':
      return { mode: 'nosec' };
    case 'psk':
      return { mode: 'psk', identity: security.identity, keyLength: bytes(security.key) };
    case 'rpk':
      return {
        mode: 'rpk',
        publicKey: security.publicKey,
        serverPublicKey: security.serverPublicKey,
        privateKeyLength: bytes(security.privateKey),
      };
    case 'x509':
      return {
        mode: 'x509',
        certificate: security.certificate,
        serverCertificate: security.serverCertificate,
        ...(security.certificateUsage === undefined ? {} : { certificateUsage: security.certificateUsage }),
        privateKeyLength: bytes(security.privateKey),
      };
  }
}

/** A validated configuration as GET shows it. */
export function bootstrapConfigView(endpoint: string, config: BootstrapConfiguration): BootstrapConfigView {
  return {
    endpoint,
    servers: config.servers.map((s) => ({ ...s, security: securityView(s.security) })),
    ...(config.bootstrapServer === undefined
      ? {}
      : {
          bootstrapServer: {
            ...config.bootstrapServer,
            security: securityView(config.bootstrapServer.security),
          },
        }),
    deleteFirst: config.deleteFirst,
  };
}

/** A stored document as shown: validated, or (written to the store some other way) its error. */
function storedView(endpoint: string, doc: BootstrapConfig): BootstrapConfigView {
  try {
    return bootstrapConfigView(endpoint, parseBootstrapConfig(doc));
  } catch (e) {
    if (e instanceof BootstrapConfigError) return { endpoint, error: e.message };
    throw e;
  }
}

// ---- schemas ----

const securityViewSchema = {
  type: 'object',
  required: ['mode'],
  description: 'Keys and certificates are hex DER; PSKs and private keys are shown only by length.',
  properties: {
    mode: { type: 'string', enum: ['nosec', 'psk', 'rpk', 'x509'] },
    identity: { type: 'string' },
    keyLength: { type: 'integer', description: 'PSK length in bytes (the key is never shown)' },
    publicKey: { type: 'string' },
    serverPublicKey: { type: 'string' },
    certificate: { type: 'string' },
    serverCertificate: { type: 'string' },
    certificateUsage: { type: 'integer' },
    privateKeyLength: { type: 'integer', description: 'private key length in bytes (never shown)' },
  },
} as const;

const serverAccountSchema = {
  type: 'object',
  required: ['shortServerId', 'uri', 'security'],
  properties: {
    shortServerId: { type: 'integer' },
    uri: { type: 'string' },
    lifetime: { type: 'integer' },
    binding: { type: 'string' },
    defaultMinPeriod: { type: 'integer' },
    defaultMaxPeriod: { type: 'integer' },
    notificationStoring: { type: 'boolean' },
    supportedServerVersions: { type: 'array', items: { type: 'string' } },
    security: securityViewSchema,
  },
} as const;

const configViewSchema = {
  type: 'object',
  required: ['endpoint'],
  properties: {
    endpoint: { type: 'string' },
    servers: { type: 'array', items: serverAccountSchema },
    bootstrapServer: {
      type: 'object',
      required: ['uri', 'security'],
      properties: {
        uri: { type: 'string' },
        security: securityViewSchema,
        clientHoldOffTime: { type: 'integer' },
        accountTimeout: { type: 'integer' },
      },
    },
    deleteFirst: { type: 'boolean' },
    error: { type: 'string', description: 'why the stored document is not a valid configuration' },
  },
} as const;

const configBody = {
  ...freeObject,
  description:
    'A bootstrap configuration (docs/bootstrap.md): `servers` (shortServerId, uri, lifetime, binding, ' +
    'security {mode: nosec | psk {identity, key} | rpk {publicKey, privateKey, serverPublicKey} | ' +
    'x509 {certificate, privateKey, serverCertificate, certificateUsage}}, …), optional ' +
    '`bootstrapServer` and `deleteFirst`. Keys are hex.',
} as const;

const stepSchema = {
  type: 'object',
  required: ['operation', 'latencyMs'],
  properties: {
    operation: { type: 'string' },
    path: { type: 'string' },
    code: { type: 'string', description: "the client's answer, e.g. 2.04" },
    format: { type: 'integer' },
    latencyMs: { type: 'number' },
    error: { type: 'string' },
  },
} as const;

const sessionSchema = {
  type: 'object',
  required: ['id', 'endpoint', 'kind', 'peer', 'transport', 'startedAt', 'steps'],
  properties: {
    id: { type: 'string' },
    endpoint: { type: 'string' },
    kind: { type: 'string', enum: ['request', 'pack'] },
    peer: { type: 'string' },
    transport: { type: 'string' },
    startedAt: { type: 'number', description: 'wall-clock ms' },
    finishedAt: { type: 'number' },
    requestedFormat: { type: 'integer' },
    lwm2mVersion: { type: 'string' },
    steps: { type: 'array', items: stepSchema },
    outcome: {
      type: 'object',
      required: ['status'],
      description: 'absent while the session runs',
      properties: {
        status: { type: 'string', enum: ['succeeded', 'failed'] },
        reason: { type: 'string' },
        operation: { type: 'string' },
        path: { type: 'string' },
        code: { type: 'string' },
        message: { type: 'string' },
      },
    },
  },
} as const;

// ---- routes ----

function requireConfigs(ctx: ApiContext): BootstrapConfigStore {
  if (!ctx.bootstrapConfigs)
    throw new ApiError('UNAVAILABLE', 'this server has no bootstrap configuration store');
  return ctx.bootstrapConfigs;
}

function requireBootstrap(ctx: ApiContext): BootstrapServer {
  if (!ctx.bootstrap) throw new ApiError('UNAVAILABLE', 'no bootstrap server runs in this process');
  return ctx.bootstrap;
}

const byEndpoint = (a: { endpoint: string }, b: { endpoint: string }): number =>
  a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0;

/**
 * Per-endpoint bootstrap configurations (what the Bootstrap-Server writes to a device, Core §6.1)
 * and the sessions of the Bootstrap-Server running in this process.
 */
export function registerBootstrapRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: { offset: number; limit: number } }>(
    '/api/bootstrap/clients',
    {
      schema: {
        tags: TAG,
        summary: 'Bootstrap configurations, sorted by endpoint and paged (secrets are never shown)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pagingProperties,
          },
        },
        response: {
          200: pageSchema(configViewSchema),
          ...errorResponses(400, 503),
        },
      },
    },
    async (request) => {
      const { offset, limit } = request.query;
      const all: { endpoint: string; config: BootstrapConfig }[] = [];
      for await (const entry of requireConfigs(ctx).all()) all.push(entry);
      all.sort(byEndpoint);
      return {
        total: all.length,
        offset,
        limit,
        items: all.slice(offset, offset + limit).map((e) => storedView(e.endpoint, e.config)),
      };
    },
  );

  app.get<{ Params: { ep: string } }>(
    '/api/bootstrap/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "A device's bootstrap configuration (PSKs and private keys are never shown)",
        params: endpointParams,
        response: { 200: configViewSchema, ...errorResponses(404, 503) },
      },
    },
    async (request) => {
      const doc = await requireConfigs(ctx).get(request.params.ep);
      if (!doc)
        throw new ApiError('NOT_FOUND', `no bootstrap configuration for "${clipName(request.params.ep)}"`);
      return storedView(request.params.ep, doc);
    },
  );

  app.put<{ Params: { ep: string }; Body: unknown }>(
    '/api/bootstrap/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "Sets or replaces a device's bootstrap configuration",
        description:
          'Validated as the Bootstrap-Server reads it; a bad field is 400 BAD_REQUEST naming it ' +
          '(`servers[0].security.key: …`). The next Bootstrap-Request of the device uses it.',
        params: endpointParams,
        body: configBody,
        response: { 200: configViewSchema, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const store = requireConfigs(ctx);
      let config: BootstrapConfiguration;
      try {
        config = parseBootstrapConfig(request.body);
      } catch (e) {
        if (e instanceof BootstrapConfigError) throw new ApiError('BAD_REQUEST', e.message, { cause: e });
        throw e;
      }
      // The normalized form (hex lower-cased, defaults filled in) is what is stored.
      await store.put(request.params.ep, { ...config });
      return bootstrapConfigView(request.params.ep, config);
    },
  );

  app.delete<{ Params: { ep: string } }>(
    '/api/bootstrap/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "Removes a device's bootstrap configuration",
        params: endpointParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(404, 503) },
      },
    },
    async (request, reply) => {
      const removed = await requireConfigs(ctx).remove(request.params.ep);
      if (!removed)
        throw new ApiError('NOT_FOUND', `no bootstrap configuration for "${clipName(request.params.ep)}"`);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { endpoint?: string } }>(
    '/api/bootstrap/sessions',
    {
      schema: {
        tags: TAG,
        summary: 'Recent bootstrap sessions, oldest first (running ones included), with their steps',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { endpoint: { type: 'string', maxLength: 1024, description: 'only this endpoint' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: sessionSchema } },
          },
          ...errorResponses(400, 503),
        },
      },
    },
    (request) => {
      const { endpoint } = request.query;
      const items: BootstrapSessionRecord[] = requireBootstrap(ctx).sessions();
      return { items: endpoint === undefined ? items : items.filter((s) => s.endpoint === endpoint) };
    },
  );

  app.get<{ Params: { ep: string } }>(
    '/api/bootstrap/sessions/:ep',
    {
      schema: {
        tags: TAG,
        summary: 'The running or latest bootstrap session of a device',
        params: endpointParams,
        response: { 200: sessionSchema, ...errorResponses(404, 503) },
      },
    },
    (request) => {
      const session = requireBootstrap(ctx).session(request.params.ep);
      if (!session)
        throw new ApiError('NOT_FOUND', `no bootstrap session of "${clipName(request.params.ep)}"`);
      return session;
    },
  );
}
