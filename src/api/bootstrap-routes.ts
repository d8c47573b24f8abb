import type { FastifyInstance } from 'fastify';
import { BootstrapConfigError, parseBootstrapConfig } from '../bootstrap/bootstrap-config.js';
import type {
  BootstrapAccountConfig,
  BootstrapConfiguration,
  SecurityConfig,
  ServerAccountConfig,
} from '../bootstrap/bootstrap-config.js';
import { BOOTSTRAP_REASONS, BootstrapServerError } from '../bootstrap/bootstrap-server.js';
import type {
  BootstrapReason,
  BootstrapServer,
  BootstrapSessionRecord,
} from '../bootstrap/bootstrap-server.js';
import type { LwM2mServer } from '../server/lwm2m-server.js';
import {
  TEMPLATE_NAME_RE,
  isTemplateReference,
  parseTemplate,
  parseTemplateReference,
  placeholdersOf,
  redactTemplate,
  resolveConfigDocument,
  resolveTemplate,
  secretPlaceholders,
} from '../bootstrap/bootstrap-template.js';
import type { TemplateLookup, TemplateValues } from '../bootstrap/bootstrap-template.js';
import type {
  BootstrapConfig,
  BootstrapConfigStore,
  BootstrapTemplateDocument,
} from '../store/bootstrap-config-store.js';
import type { BootstrapApiContext } from './api-context.js';
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

/** A value as shown: as given, or (a secret: its placeholder stands in a key field) by length only. */
export type TemplateValueView = string | number | boolean | { readonly length: number };

/** A device whose configuration is a template with values. */
export interface TemplatedConfigView {
  readonly endpoint: string;
  readonly template: string;
  readonly values: Readonly<Record<string, TemplateValueView>>;
  /** The configuration the template gives the device, or the error that keeps it from one. */
  readonly resolved: BootstrapConfigView;
}

export interface TemplateView {
  readonly name: string;
  /** Distinct placeholder names in document order (`endpoint` is filled in by the server). */
  readonly placeholders: readonly string[];
  /** Placeholders in key fields: their values are secrets and shown by length only. */
  readonly secretPlaceholders: readonly string[];
  /** The template; fixed text in key fields shown as `*`. */
  readonly template: BootstrapTemplateDocument;
  /** How many devices' configurations name it. */
  readonly clients: number;
  /** Set instead of `placeholders` when the stored document is not a valid template. */
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
async function storedView(
  endpoint: string,
  doc: BootstrapConfig,
  lookup: TemplateLookup,
): Promise<BootstrapConfigView | TemplatedConfigView> {
  if (isTemplateReference(doc)) return templatedView(endpoint, doc, lookup);
  try {
    return bootstrapConfigView(endpoint, parseBootstrapConfig(doc));
  } catch (e) {
    if (e instanceof BootstrapConfigError) return { endpoint, error: e.message };
    throw e;
  }
}

/** A template-based configuration as shown: the values (secrets by length) and what they resolve to. */
async function templatedView(
  endpoint: string,
  doc: BootstrapConfig,
  lookup: TemplateLookup,
): Promise<TemplatedConfigView> {
  const name = typeof doc['template'] === 'string' ? doc['template'] : '';
  const raw = doc['values'];
  const values: Record<string, unknown> = typeof raw === 'object' && raw !== null ? { ...raw } : {};
  let resolved: BootstrapConfigView;
  let secret: (name: string) => boolean = () => true; // template unknown: every value may be a secret
  try {
    const template = TEMPLATE_NAME_RE.test(name) ? await lookup(name) : undefined;
    if (template !== undefined) {
      const secrets = secretPlaceholdersOrAll(template);
      secret = (n) => secrets === 'all' || secrets.has(n);
    }
    resolved = bootstrapConfigView(endpoint, await resolveConfigDocument(doc, endpoint, lookup));
  } catch (e) {
    if (!(e instanceof BootstrapConfigError)) throw e;
    resolved = { endpoint, error: e.message };
  }
  return { endpoint, template: name, values: valuesView(values, secret), resolved };
}

function secretPlaceholdersOrAll(template: BootstrapTemplateDocument): Set<string> | 'all' {
  try {
    return secretPlaceholders(template);
  } catch (e) {
    if (e instanceof BootstrapConfigError) return 'all';
    throw e;
  }
}

function valuesView(
  values: Readonly<Record<string, unknown>>,
  secret: (name: string) => boolean,
): Record<string, TemplateValueView> {
  const out: Record<string, TemplateValueView> = {};
  for (const [name, v] of Object.entries(values)) {
    const plain = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    out[name] = plain && !secret(name) ? v : { length: String(plain ? v : JSON.stringify(v)).length };
  }
  return out;
}

/** A stored template as shown; `clients`: how many configurations name it. */
export function templateView(
  name: string,
  template: BootstrapTemplateDocument,
  clients: number,
): TemplateView {
  const shown = redactTemplate(template);
  try {
    parseTemplate(template);
    const uses = placeholdersOf(template);
    return {
      name,
      placeholders: [...new Set(uses.map((u) => u.name))],
      secretPlaceholders: [...secretPlaceholders(template)],
      template: shown,
      clients,
    };
  } catch (e) {
    if (!(e instanceof BootstrapConfigError)) throw e;
    return { name, placeholders: [], secretPlaceholders: [], template: shown, clients, error: e.message };
  }
}

/** BootstrapConfigError → 400 naming the field. */
function asBadRequest(e: unknown): unknown {
  return e instanceof BootstrapConfigError ? new ApiError('BAD_REQUEST', e.message, { cause: e }) : e;
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

const resolvedViewSchema = {
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

const configViewSchema = {
  ...resolvedViewSchema,
  description:
    'A configuration, or (a device of a template) `template`, `values` and `resolved` instead of the ' +
    'configuration fields.',
  properties: {
    ...resolvedViewSchema.properties,
    template: { type: 'string', description: 'the template the configuration names' },
    values: {
      type: 'object',
      additionalProperties: true,
      description:
        'the values for the template’s placeholders; a secret (its placeholder stands in a key or ' +
        'privateKey field) is shown as {"length": n} only',
    },
    resolved: {
      ...resolvedViewSchema,
      description: 'the configuration the template gives the device, or `error` when it gives none',
    },
  },
} as const;

const templateNameParams = {
  type: 'object',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      pattern: TEMPLATE_NAME_RE.source,
      description: 'Template name: 1 to 64 letters, digits, ".", "_" or "-"',
    },
  },
} as const;

const templateViewSchema = {
  type: 'object',
  required: ['name', 'placeholders', 'secretPlaceholders', 'template', 'clients'],
  properties: {
    name: { type: 'string' },
    placeholders: {
      type: 'array',
      items: { type: 'string' },
      description: 'distinct placeholder names in document order (`endpoint` is filled in by the server)',
    },
    secretPlaceholders: {
      type: 'array',
      items: { type: 'string' },
      description: 'placeholders in key/privateKey fields: their values are never shown',
    },
    template: {
      type: 'object',
      additionalProperties: true,
      description: 'the template; fixed text in key and privateKey fields is shown as `*`',
    },
    clients: { type: 'integer', description: 'how many devices’ configurations name the template' },
    error: { type: 'string', description: 'why the stored document is not a valid template' },
    unresolved: {
      type: 'array',
      description: 'PUT: devices naming the template that it no longer resolves for (first 10)',
      items: {
        type: 'object',
        required: ['endpoint', 'error'],
        properties: { endpoint: { type: 'string' }, error: { type: 'string' } },
      },
    },
  },
} as const;

const templateBody = {
  ...freeObject,
  description:
    'A bootstrap configuration whose strings may hold `${name}` placeholders (docs/bootstrap.md#templates); ' +
    'a string that is exactly `${name}` may stand for a number or true/false. `${endpoint}` is the ' +
    "device's endpoint name. Security `mode` cannot be a placeholder.",
} as const;

const configBody = {
  ...freeObject,
  description:
    'A bootstrap configuration (docs/bootstrap.md): `servers` (shortServerId, uri, lifetime, binding, ' +
    'security {mode: nosec | psk {identity, key} | rpk {publicKey, privateKey, serverPublicKey} | ' +
    'x509 {certificate, privateKey, serverCertificate, certificateUsage}}, …), optional ' +
    '`bootstrapServer` and `deleteFirst`. Keys are hex. Or `{"template": name, "values": {…}}`: a ' +
    'template (PUT /api/bootstrap/templates/{name}) with the values of its placeholders.',
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
    reason: { type: 'string', enum: ['reconfigure', 'rotate', 'unbootstrap'] },
    rotation: {
      type: 'string',
      enum: ['writing', 'confirmed'],
      description: 'writing: the session writes the next PSK; confirmed: the device used it',
    },
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

/** The bootstrap routes' context: the LwM2M server only when one runs here (it executes /1/x/9). */
type BootstrapRoutesContext = BootstrapApiContext & { readonly server?: LwM2mServer };

function requireConfigs(ctx: BootstrapRoutesContext): BootstrapConfigStore {
  if (!ctx.bootstrapConfigs)
    throw new ApiError('UNAVAILABLE', 'this server has no bootstrap configuration store');
  return ctx.bootstrapConfigs;
}

function requireBootstrap(ctx: BootstrapRoutesContext): BootstrapServer {
  if (!ctx.bootstrap) throw new ApiError('UNAVAILABLE', 'no bootstrap server runs in this process');
  return ctx.bootstrap;
}

const byEndpoint = (a: { endpoint: string }, b: { endpoint: string }): number =>
  a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0;
const byName = (a: { name: string }, b: { name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** Template lookups for one request: each template read from the store once. */
function cachedLookup(store: BootstrapConfigStore): TemplateLookup {
  const seen = new Map<string, Promise<BootstrapTemplateDocument | undefined>>();
  return (name) => {
    let got = seen.get(name);
    if (got === undefined) {
      got = store.getTemplate(name);
      seen.set(name, got);
    }
    return got;
  };
}

/** The endpoints whose stored configuration names a template, by template name, sorted. */
async function clientsByTemplate(store: BootstrapConfigStore): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const { endpoint, config } of store.all()) {
    if (!isTemplateReference(config) || typeof config['template'] !== 'string') continue;
    const list = out.get(config['template']) ?? [];
    list.push(endpoint);
    out.set(config['template'], list);
  }
  for (const list of out.values()) list.sort();
  return out;
}

const MAX_NAMED = 10;

/**
 * Per-endpoint bootstrap configurations (what the Bootstrap-Server writes to a device, Core §6.1),
 * the templates they may name (LightweightM2M-Opt-001), and the sessions of the Bootstrap-Server
 * running in this process.
 */
export function registerBootstrapRoutes(app: FastifyInstance, ctx: BootstrapRoutesContext): void {
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
      const store = requireConfigs(ctx);
      const all: { endpoint: string; config: BootstrapConfig }[] = [];
      for await (const entry of store.all()) all.push(entry);
      all.sort(byEndpoint);
      const lookup = cachedLookup(store);
      const items = [];
      for (const e of all.slice(offset, offset + limit))
        items.push(await storedView(e.endpoint, e.config, lookup));
      return { total: all.length, offset, limit, items };
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
      const store = requireConfigs(ctx);
      const doc = await store.get(request.params.ep);
      if (!doc)
        throw new ApiError('NOT_FOUND', `no bootstrap configuration for "${clipName(request.params.ep)}"`);
      return storedView(request.params.ep, doc, cachedLookup(store));
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
          '(`servers[0].security.key: …`). The next Bootstrap-Request of the device uses it. The ' +
          'template form is refused (400) when the template does not exist or the values leave a ' +
          'placeholder unfilled (`servers[0].security.key: no value for ${psk}`) or do not fit.',
        params: endpointParams,
        body: configBody,
        response: { 200: configViewSchema, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const store = requireConfigs(ctx);
      const endpoint = request.params.ep;
      if (isTemplateReference(request.body)) {
        let ref: { template: string; values: TemplateValues };
        try {
          ref = parseTemplateReference(request.body);
          const template = await store.getTemplate(ref.template);
          if (template === undefined)
            throw new BootstrapConfigError(
              'missing',
              'template',
              `there is no template ${JSON.stringify(ref.template)}`,
            );
          resolveTemplate(template, ref.values, endpoint);
        } catch (e) {
          throw asBadRequest(e);
        }
        // Stored as a reference: a later change of the template reaches the device.
        const doc = { template: ref.template, values: ref.values };
        await store.put(endpoint, doc);
        return templatedView(endpoint, doc, cachedLookup(store));
      }
      let config: BootstrapConfiguration;
      try {
        config = parseBootstrapConfig(request.body);
      } catch (e) {
        throw asBadRequest(e);
      }
      // The normalized form (hex lower-cased, defaults filled in) is what is stored.
      await store.put(endpoint, { ...config });
      return bootstrapConfigView(endpoint, config);
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

  app.get<{ Querystring: { offset: number; limit: number } }>(
    '/api/bootstrap/templates',
    {
      schema: {
        tags: TAG,
        summary: 'Bootstrap configuration templates, sorted by name and paged (fixed secrets never shown)',
        querystring: { type: 'object', additionalProperties: false, properties: { ...pagingProperties } },
        response: { 200: pageSchema(templateViewSchema), ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const { offset, limit } = request.query;
      const store = requireConfigs(ctx);
      const all: { name: string; template: BootstrapTemplateDocument }[] = [];
      for await (const entry of store.templates()) all.push(entry);
      all.sort(byName);
      const users = await clientsByTemplate(store);
      return {
        total: all.length,
        offset,
        limit,
        items: all
          .slice(offset, offset + limit)
          .map((e) => templateView(e.name, e.template, users.get(e.name)?.length ?? 0)),
      };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/bootstrap/templates/:name',
    {
      schema: {
        tags: TAG,
        summary: 'A bootstrap configuration template (fixed secrets never shown)',
        params: templateNameParams,
        response: { 200: templateViewSchema, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const store = requireConfigs(ctx);
      const { name } = request.params;
      const template = await store.getTemplate(name);
      if (!template) throw new ApiError('NOT_FOUND', `no bootstrap template "${clipName(name)}"`);
      const users = await clientsByTemplate(store);
      return templateView(name, template, users.get(name)?.length ?? 0);
    },
  );

  app.put<{ Params: { name: string }; Body: unknown }>(
    '/api/bootstrap/templates/:name',
    {
      schema: {
        tags: TAG,
        summary: 'Sets or replaces a bootstrap configuration template',
        description:
          'The template must be a configuration once each placeholder stands for a value that fits ' +
          'its field; a bad field is 400 BAD_REQUEST naming it. Devices that name the template get ' +
          'the new one at their next bootstrap; `unresolved` lists those it no longer resolves for ' +
          '(a new placeholder without a value, say).',
        params: templateNameParams,
        body: templateBody,
        response: { 200: templateViewSchema, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const store = requireConfigs(ctx);
      const { name } = request.params;
      try {
        parseTemplate(request.body);
      } catch (e) {
        throw asBadRequest(e);
      }
      const template = request.body as BootstrapTemplateDocument;
      await store.putTemplate(name, template);
      const users = (await clientsByTemplate(store)).get(name) ?? [];
      const unresolved: { endpoint: string; error: string }[] = [];
      const lookup: TemplateLookup = (n) => (n === name ? Promise.resolve(template) : store.getTemplate(n));
      for (const endpoint of users) {
        if (unresolved.length >= MAX_NAMED) break;
        const doc = await store.get(endpoint);
        if (doc === undefined) continue;
        try {
          await resolveConfigDocument(doc, endpoint, lookup);
        } catch (e) {
          if (!(e instanceof BootstrapConfigError)) throw e;
          unresolved.push({ endpoint, error: e.message });
        }
      }
      return {
        ...templateView(name, template, users.length),
        ...(unresolved.length === 0 ? {} : { unresolved }),
      };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/bootstrap/templates/:name',
    {
      schema: {
        tags: TAG,
        summary: 'Removes a bootstrap configuration template',
        description:
          'Refused (409 CONFLICT, naming the first devices) while devices’ configurations name it.',
        params: templateNameParams,
        response: {
          204: { type: 'null', description: 'removed' },
          ...errorResponses(400, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const store = requireConfigs(ctx);
      const { name } = request.params;
      if (!(await store.getTemplate(name)))
        throw new ApiError('NOT_FOUND', `no bootstrap template "${clipName(name)}"`);
      const users = (await clientsByTemplate(store)).get(name) ?? [];
      if (users.length > 0) {
        const named = users
          .slice(0, MAX_NAMED)
          .map((e) => JSON.stringify(clipName(e)))
          .join(', ');
        throw new ApiError(
          'CONFLICT',
          `template "${name}" is used by ${users.length} device${users.length === 1 ? '' : 's'}: ${named}${
            users.length > MAX_NAMED ? ', …' : ''
          }`,
        );
      }
      await store.removeTemplate(name);
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

  app.post<{ Params: { ep: string }; Body: TriggerBody }>(
    '/api/bootstrap/clients/:ep/trigger',
    {
      schema: {
        tags: TAG,
        summary: 'Send a device back to bootstrap, recording why (Core-001; rotate = BS-001 PSK rotation)',
        description:
          "Records the reason for the endpoint's next bootstrap and, when the device is registered " +
          'with the LwM2M server of this process, executes its /1/x/9 Bootstrap-Request Trigger. ' +
          '`rotate` stores the next PSK (generated unless given) beside the current one; both ' +
          'authenticate the device until it has used the next one.',
        params: endpointParams,
        body: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: {
            reason: { type: 'string', enum: [...BOOTSTRAP_REASONS] },
            nextPsk: {
              type: 'object',
              required: ['identity', 'key'],
              additionalProperties: false,
              properties: {
                identity: { type: 'string', minLength: 1, maxLength: 128 },
                key: { type: 'string', pattern: '^([0-9a-fA-F]{2}){1,64}$' },
              },
            },
          },
        },
        response: {
          202: {
            type: 'object',
            required: ['endpoint', 'reason', 'requestedAt', 'trigger'],
            properties: {
              endpoint: { type: 'string' },
              reason: { type: 'string' },
              requestedAt: { type: 'number' },
              nextPsk: {
                type: 'object',
                properties: { identity: { type: 'string' }, keyLength: { type: 'integer' } },
              },
              trigger: {
                type: 'object',
                description: 'the Execute of /1/x/9: its code, or why none was sent',
                properties: {
                  path: { type: 'string' },
                  code: { type: 'string' },
                  skipped: { type: 'string' },
                },
              },
            },
          },
          ...errorResponses(400, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const bs = requireBootstrap(ctx);
      const ep = request.params.ep;
      const { reason, nextPsk } = request.body;
      if (nextPsk !== undefined && reason !== 'rotate')
        throw new ApiError('BAD_REQUEST', 'nextPsk goes with reason "rotate"');
      if (reason !== 'unbootstrap' && (await requireConfigs(ctx).get(ep)) === undefined)
        throw new ApiError('NOT_FOUND', `no bootstrap configuration for "${clipName(ep)}"`);
      let next: { identity: string; key: string } | undefined;
      if (reason === 'rotate') {
        try {
          next = await bs.startRotation(
            ep,
            nextPsk === undefined ? undefined : { ...nextPsk, key: nextPsk.key.toLowerCase() },
          );
        } catch (e) {
          if (e instanceof BootstrapServerError)
            throw new ApiError(e.reason === 'no-credentials' ? 'UNAVAILABLE' : 'CONFLICT', e.message);
          throw e;
        }
      }
      const pending =
        reason === 'rotate' ? (await bs.pendingBootstrap(ep))! : await bs.requestBootstrap(ep, reason);
      const trigger = await executeTrigger(ctx.server, ep);
      return reply.code(202).send({
        endpoint: ep,
        reason: pending.reason,
        requestedAt: pending.requestedAt,
        ...(next === undefined
          ? {}
          : { nextPsk: { identity: next.identity, keyLength: next.key.length / 2 } }),
        trigger,
      });
    },
  );
}

interface TriggerBody {
  readonly reason: BootstrapReason;
  readonly nextPsk?: { readonly identity: string; readonly key: string };
}

/**
 * Executes /1/x/9 on the device when it is registered here (its first /1 instance: any of them
 * starts the same Client-Initiated Bootstrap); otherwise says why not. The reason stays recorded
 * either way, for the device's next bootstrap.
 */
async function executeTrigger(
  server: LwM2mServer | undefined,
  endpoint: string,
): Promise<{ path?: string; code?: string; skipped?: string }> {
  if (!server) return { skipped: 'no LwM2M server runs in this process' };
  const registration = await server.getRegistration(endpoint);
  if (!registration) return { skipped: 'the device is not registered here' };
  const instance = registration.objects.find((o) => o.id === 1)?.instances[0];
  if (instance === undefined) return { skipped: 'the device registered no /1 instance' };
  const path = `/1/${instance}/9`;
  try {
    const result = await server.execute(endpoint, path);
    return { path, code: result.code };
  } catch (e) {
    return { path, skipped: e instanceof Error ? e.message : String(e) };
  }
}
