import type { FastifyInstance, FastifyReply } from 'fastify';
import { OptionNumber, optionDefinition } from '../coap/options.js';
import type { NotificationAttributeChanges, NotificationAttributes } from '../model/attributes.js';
import { NOTIFICATION_ATTRIBUTE_NAMES, formatAttributeQuery } from '../model/attributes.js';
import { LwM2mPath } from '../model/path.js';
import type { Observation } from '../server/observation.js';
import type { OperationResult } from '../server/operation-result.js';
import type { ApiContext } from './api-context.js';
import { clipName, requireRegistration } from './api-context.js';
import { ApiError } from './api-errors.js';
import type { ApiAction } from './api-path.js';
import { parseApiPath } from './api-path.js';
import {
  MAX_PATHS,
  attributesProperties,
  attributesSchema,
  endpointParams,
  errorResponses,
  formatSchema,
  jsonValueSchema,
  operationResponseSchema,
  operationResponses,
  pathParams,
  timeoutSchema,
  valuesSchema,
} from './api-schemas.js';
import type { ApiOperation, OperationResponseJson } from './operation-response.js';
import { operationResponse } from './operation-response.js';
import { runOperation } from './queued-operation.js';
import type { QueueSignal } from './queued-operation.js';

interface PathParams {
  ep: string;
  '*': string;
}
interface EpParams {
  ep: string;
}
interface CommonQuery {
  format?: string;
  timeout?: number;
}

const TAG = ['operations'];

/** `'112'` → 112 (a format by number), a name stays a name. */
function formatOption(format: string | undefined): { format?: string | number } {
  if (format === undefined) return {};
  return { format: /^[0-9]{1,5}$/.test(format) ? Number(format) : format };
}

function timeoutOption(timeout: number | undefined): { timeout?: number } {
  return timeout === undefined ? {} : { timeout };
}

function methodHint(action: ApiAction | undefined, method: string): ApiError {
  const takes: Record<ApiAction, string> = {
    execute: 'POST …/execute',
    discover: 'GET …/discover',
    attributes: 'PUT …/attributes',
    observe: 'POST …/observe (DELETE …/observe cancels)',
  };
  return new ApiError(
    'NOT_ALLOWED',
    action === undefined
      ? `${method} needs an action after the path here`
      : `${method} …/${action} is not an operation: use ${takes[action]}`,
  );
}

const JSON_SCALAR_TYPES = new Set(['string', 'number', 'boolean']);

/** A body `value` must be one JSON value of the codec convention, not a map of paths. */
function checkJsonValue(value: unknown): void {
  if (value === null || JSON_SCALAR_TYPES.has(typeof value)) return;
  if (
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    typeof (value as { hex?: unknown }).hex === 'string'
  )
    return;
  throw new ApiError(
    'BAD_VALUE',
    'value: expected a string, number, boolean, null or {"hex": "…"} (use "values" for several paths)',
  );
}

/** Create values keyed relative to the new instance (`"5700"`, `"/5700"`) or absolute. */
function createValues(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) out[key.startsWith('/') ? key : `/${key}`] = value;
  return out;
}

/**
 * Create keys of three ids or more are absolute: they must lie in the instance being created (its
 * object, its instance id when given, its gateway prefix). The server places a resource by its ids
 * below the instance, so `/3/0/1` in a Create of /3303 would otherwise become /3303/…/1, and
 * `5700/0/9` (too deep to be relative) the resource 9.
 */
function checkCreateKeys(target: LwM2mPath, values: Record<string, unknown>): void {
  for (const key of Object.keys(values)) {
    let path: LwM2mPath;
    try {
      path = LwM2mPath.parse(key);
    } catch {
      continue; // not a path: the server names it
    }
    if (path.depth < 3) continue;
    const inside =
      path.prefix === target.prefix &&
      path.objectId === target.objectId &&
      (target.instanceId === undefined || path.instanceId === target.instanceId);
    if (!inside)
      throw new ApiError(
        'BAD_PATH',
        `Create of ${target.toString()}: "${clipName(key)}" is not a resource of the new instance ` +
          '(give resource ids relative to it, like "5700" or "5700/0", or absolute paths in it)',
      );
  }
}

function definedAttributes<T>(body: Record<string, unknown>): { [name: string]: T } {
  const out: { [name: string]: T } = {};
  for (const name of NOTIFICATION_ATTRIBUTE_NAMES) if (body[name] !== undefined) out[name] = body[name] as T;
  return out;
}

const MAX_URI_QUERY = optionDefinition(OptionNumber.URI_QUERY)?.maxLength ?? 255;

/**
 * Attributes travel as Uri-Query options of at most 255 bytes (RFC 7252 §5.10), written out in
 * plain decimal (Core §5.1.2): `gt=1e308` would be 309 digits. Such a value is refused naming the
 * attribute, before anything is sent. (Out-of-range values are left to the server's own checks.)
 */
function checkAttributeLengths(attributes: NotificationAttributeChanges | undefined): void {
  if (attributes === undefined) return;
  for (const name of NOTIFICATION_ATTRIBUTE_NAMES) {
    const value = attributes[name];
    if (typeof value !== 'number') continue;
    let query: string;
    try {
      [query = ''] = formatAttributeQuery({ [name]: value });
    } catch {
      continue; // out of range: the server says so in its own words
    }
    const size = Buffer.byteLength(query);
    if (size > MAX_URI_QUERY)
      throw new ApiError(
        'BAD_ATTRIBUTES',
        `${name}: ${value} written out in decimal is ${size} bytes, more than a CoAP Uri-Query holds (${MAX_URI_QUERY})`,
      );
  }
}

export function registerOperationRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const respond = (
    result: OperationResult,
    operation: ApiOperation,
    paths: readonly string[],
    observationId?: string,
  ): OperationResponseJson => {
    const latencyMs = ctx.monitor.latency(result.id);
    return operationResponse(result, {
      operation,
      paths,
      ...(latencyMs === undefined ? {} : { latencyMs }),
      ...(observationId === undefined ? {} : { observationId }),
    });
  };

  const observed = (
    o: Observation,
    operation: ApiOperation,
    paths: readonly string[],
  ): OperationResponseJson => {
    ctx.monitor.observation(o);
    return respond(o.response, operation, paths, o.active ? o.id : undefined);
  };

  const run = (
    reply: FastifyReply,
    endpoint: string,
    operation: ApiOperation,
    paths: readonly string[],
    body: (signal: QueueSignal) => Promise<OperationResponseJson>,
  ) => runOperation(ctx, reply, { endpoint, operation, paths }, body);

  // ---- GET: Read, Discover ----
  app.get<{ Params: PathParams; Querystring: CommonQuery & { depth?: number } }>(
    '/api/clients/:ep/*',
    {
      schema: {
        tags: TAG,
        summary: 'Read (…/{path}) or Discover (…/{path}/discover)',
        description:
          'Read: `GET /api/clients/{ep}/3/0`. Discover: `GET /api/clients/{ep}/3/discover?depth=1`. ' +
          '`format` sets the Accept of a Read; `depth` (0..3) belongs to Discover.',
        params: pathParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            format: formatSchema,
            timeout: timeoutSchema,
            depth: { type: 'integer', minimum: 0, maximum: 3 },
          },
        },
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const { path, action } = parseApiPath(request.params['*']);
      const { format, timeout, depth } = request.query;
      const paths = [path.toString()];
      if (action === 'discover') {
        if (format !== undefined)
          throw new ApiError('BAD_REQUEST', 'Discover answers in link format: no format');
        return run(reply, ep, 'discover', paths, async (signal) =>
          respond(
            await ctx.server.discover(ep, path, {
              ...signal,
              ...timeoutOption(timeout),
              ...(depth === undefined ? {} : { depth: depth as 0 | 1 | 2 | 3 }),
            }),
            'discover',
            paths,
          ),
        );
      }
      if (action !== undefined) throw methodHint(action, 'GET');
      if (depth !== undefined) throw new ApiError('BAD_REQUEST', 'depth belongs to Discover (…/discover)');
      return run(reply, ep, 'read', paths, async (signal) =>
        respond(
          await ctx.server.read(ep, path, { ...signal, ...formatOption(format), ...timeoutOption(timeout) }),
          'read',
          paths,
        ),
      );
    },
  );

  // ---- PUT: Write, Write-Attributes ----
  app.put<{
    Params: PathParams;
    Querystring: CommonQuery & { mode?: 'replace' | 'update' };
    Body: Record<string, unknown>;
  }>(
    '/api/clients/:ep/*',
    {
      schema: {
        tags: TAG,
        summary: 'Write (…/{path}) or Write-Attributes (…/{path}/attributes)',
        description:
          'Write: body `{"value": …}` for one resource or resource instance, or `{"values": {"/3/0/14": "+02"}}` ' +
          '(paths absolute or relative to {path}); `mode=replace` (default) or `update` (Partial Update). ' +
          'Write-Attributes: body with any of pmin, pmax, gt, lt, st, epmin, epmax, edge, con, hqmax; null unsets.',
        params: pathParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            mode: { type: 'string', enum: ['replace', 'update'] },
            format: formatSchema,
            timeout: timeoutSchema,
          },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            value: jsonValueSchema,
            values: valuesSchema,
            ...attributesProperties(true),
          },
        },
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const { path, action } = parseApiPath(request.params['*']);
      const { format, timeout, mode } = request.query;
      const body = request.body;
      const paths = [path.toString()];
      const attributes = definedAttributes<number | null>(body);
      const hasValue = Object.hasOwn(body, 'value');
      const hasValues = body.values !== undefined;
      if (action === 'attributes') {
        if (hasValue || hasValues)
          throw new ApiError('BAD_REQUEST', 'Write-Attributes takes attributes, not "value"/"values"');
        if (mode !== undefined || format !== undefined)
          throw new ApiError('BAD_REQUEST', 'mode and format belong to Write');
        if (Object.keys(attributes).length === 0)
          throw new ApiError(
            'BAD_ATTRIBUTES',
            'no attribute given (pmin, pmax, gt, lt, st, epmin, epmax, edge, con, hqmax)',
          );
        checkAttributeLengths(attributes);
        return run(reply, ep, 'write-attributes', paths, async (signal) =>
          respond(
            await ctx.server.writeAttributes(ep, path, attributes, { ...signal, ...timeoutOption(timeout) }),
            'write-attributes',
            paths,
          ),
        );
      }
      if (action !== undefined) throw methodHint(action, 'PUT');
      if (Object.keys(attributes).length > 0)
        throw new ApiError('BAD_REQUEST', 'attributes are written with PUT …/{path}/attributes');
      if (hasValue === hasValues)
        throw new ApiError('BAD_REQUEST', 'give either "value" (one resource) or "values" (a map of paths)');
      if (hasValue) checkJsonValue(body.value);
      const operation: ApiOperation = mode === 'update' ? 'write-update' : 'write';
      return run(reply, ep, operation, paths, async (signal) =>
        respond(
          await ctx.server.write(ep, path, (hasValue ? body.value : body.values) as never, {
            ...signal,
            mode: mode ?? 'replace',
            ...formatOption(format),
            ...timeoutOption(timeout),
          }),
          operation,
          paths,
        ),
      );
    },
  );

  // ---- POST: Execute, Observe, Create ----
  app.post<{ Params: PathParams; Querystring: CommonQuery; Body: Record<string, unknown> }>(
    '/api/clients/:ep/*',
    {
      schema: {
        tags: TAG,
        summary: 'Execute (…/{path}/execute), Observe (…/{path}/observe) or Create (…/{objectId})',
        description:
          'Execute: body `{"arguments": "0=\'abc\',1"}` (optional). Observe: body `{"attributes": {…}, "format": …}` ' +
          '(both optional); the answer carries `observationId`. Create: `POST /api/clients/{ep}/3303` with ' +
          '`{"instanceId": 1, "values": {"5700": 21.5}}` (resource ids relative to the new instance, or absolute paths).',
        params: pathParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { timeout: timeoutSchema },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            arguments: {
              type: 'string',
              maxLength: 65_536,
              description: 'Execute arguments (Core §5.4.1 grammar)',
            },
            instanceId: {
              type: 'integer',
              minimum: 0,
              maximum: 65534,
              description: 'Create: the new instance id',
            },
            values: valuesSchema,
            attributes: attributesSchema,
            format: formatSchema,
          },
        },
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const { path, action } = parseApiPath(request.params['*']);
      const { timeout } = request.query;
      const body = request.body;
      const fields = Object.keys(body).filter((k) => body[k] !== undefined);
      const only = (allowed: readonly string[], what: string): void => {
        const extra = fields.filter((f) => !allowed.includes(f));
        if (extra.length > 0) throw new ApiError('BAD_REQUEST', `${what} takes no "${extra.join('", "')}"`);
      };
      const paths = [path.toString()];
      switch (action) {
        case 'execute': {
          only(['arguments'], 'Execute');
          const args = body.arguments as string | undefined;
          return run(reply, ep, 'execute', paths, async (signal) =>
            respond(
              await ctx.server.execute(ep, path, args, { ...signal, ...timeoutOption(timeout) }),
              'execute',
              paths,
            ),
          );
        }
        case 'observe': {
          only(['attributes', 'format'], 'Observe');
          const attributes = body.attributes as NotificationAttributes | undefined;
          checkAttributeLengths(attributes);
          return run(reply, ep, 'observe', paths, async (signal) =>
            observed(
              await ctx.server.observe(ep, path, {
                ...signal,
                ...(attributes && Object.keys(attributes).length > 0 ? { attributes } : {}),
                ...formatOption(body.format as string | undefined),
                ...timeoutOption(timeout),
              }),
              'observe',
              paths,
            ),
          );
        }
        case undefined: {
          only(['instanceId', 'values', 'format'], 'Create');
          const instanceId = body.instanceId as number | undefined;
          if (instanceId !== undefined && path.depth !== 1)
            throw new ApiError('BAD_REQUEST', 'give the new instance id either in the path or as instanceId');
          const target = instanceId === undefined ? path : path.append(instanceId);
          const values = createValues((body.values as Record<string, unknown> | undefined) ?? {});
          checkCreateKeys(target, values);
          return run(reply, ep, 'create', [target.toString()], async (signal) =>
            respond(
              await ctx.server.create(ep, target, values, {
                ...signal,
                ...formatOption(body.format as string | undefined),
                ...timeoutOption(timeout),
              }),
              'create',
              [target.toString()],
            ),
          );
        }
        default:
          throw methodHint(action, 'POST');
      }
    },
  );

  // ---- DELETE: Delete, cancel observations of a path ----
  app.delete<{ Params: PathParams; Querystring: { timeout?: number } }>(
    '/api/clients/:ep/*',
    {
      schema: {
        tags: TAG,
        summary: 'Delete (…/{path}) or cancel the observations of a path (…/{path}/observe)',
        description:
          'Cancel sends the proactive cancel of every (non-composite) observation of exactly that path; ' +
          '404 UNKNOWN_OBSERVATION when there is none. `code` is null when no message had to be sent.',
        params: pathParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { timeout: timeoutSchema },
        },
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const { path, action } = parseApiPath(request.params['*']);
      const { timeout } = request.query;
      const paths = [path.toString()];
      if (action === 'observe') {
        await requireRegistration(ctx, ep);
        const targets = ctx.server.observations(ep).filter((o) => !o.composite && o.path.equals(path));
        if (targets.length === 0)
          throw new ApiError(
            'UNKNOWN_OBSERVATION',
            `no observation of ${path.toString()} with "${clipName(ep)}"`,
          );
        return run(reply, ep, 'cancel-observation', paths, (signal) => cancelAll(targets, paths, signal));
      }
      if (action !== undefined) throw methodHint(action, 'DELETE');
      return run(reply, ep, 'delete', paths, async (signal) =>
        respond(await ctx.server.delete(ep, path, { ...signal, ...timeoutOption(timeout) }), 'delete', paths),
      );
    },
  );

  /** Cancels each observation in turn; answers with the last cancel (and how many there were). */
  const cancelAll = async (
    targets: readonly Observation[],
    paths: readonly string[],
    signal: QueueSignal,
  ): Promise<OperationResponseJson> => {
    let last: OperationResponseJson | undefined;
    for (const o of targets) {
      const result = await o.cancel(signal);
      last = result
        ? respond(result, 'cancel-observation', paths, o.id)
        : {
            endpoint: o.endpoint,
            operation: 'cancel-observation',
            paths: [...paths],
            code: null,
            success: true,
            observationId: o.id,
          };
    }
    return { ...last!, cancelled: targets.length } as OperationResponseJson;
  };

  // ---- composite ----
  const compositeBody = (extra: Record<string, unknown>, required: string[]) => ({
    type: 'object',
    additionalProperties: false,
    required,
    properties: { ...extra, format: formatSchema },
  });
  const pathList = {
    type: 'array',
    minItems: 1,
    maxItems: MAX_PATHS,
    items: { type: 'string', maxLength: 256 },
    description: 'absolute LwM2M paths, e.g. ["/3/0/9", "/3303/0/5700"]',
  };
  const compositeQuery = {
    type: 'object',
    additionalProperties: false,
    properties: { timeout: timeoutSchema },
  };
  const parsePaths = (texts: readonly string[]): LwM2mPath[] => texts.map((t) => parseAbsolute(t));

  app.post<{
    Params: EpParams;
    Querystring: { timeout?: number };
    Body: { paths: string[]; format?: string };
  }>(
    '/api/clients/:ep/composite/read',
    {
      schema: {
        tags: TAG,
        summary: 'Read-Composite',
        params: endpointParams,
        querystring: compositeQuery,
        body: compositeBody({ paths: pathList }, ['paths']),
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const parsed = parsePaths(request.body.paths);
      const paths = parsed.map(String);
      return run(reply, ep, 'read-composite', paths, async (signal) =>
        respond(
          await ctx.server.readComposite(ep, parsed, {
            ...signal,
            ...formatOption(request.body.format),
            ...timeoutOption(request.query.timeout),
          }),
          'read-composite',
          paths,
        ),
      );
    },
  );

  app.post<{
    Params: EpParams;
    Querystring: { timeout?: number };
    Body: { values: Record<string, unknown>; format?: string };
  }>(
    '/api/clients/:ep/composite/write',
    {
      schema: {
        tags: TAG,
        summary: 'Write-Composite',
        description: 'Body `{"values": {"/3/0/14": "+02", "/1/0/1": 300}}`; null deletes (SenML-ETCH).',
        params: endpointParams,
        querystring: compositeQuery,
        body: compositeBody({ values: { ...valuesSchema, minProperties: 1 } }, ['values']),
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const paths = Object.keys(request.body.values).map((p) => parseAbsolute(p).toString());
      return run(reply, ep, 'write-composite', paths, async (signal) =>
        respond(
          await ctx.server.writeComposite(ep, request.body.values, {
            ...signal,
            ...formatOption(request.body.format),
            ...timeoutOption(request.query.timeout),
          }),
          'write-composite',
          paths,
        ),
      );
    },
  );

  app.post<{
    Params: EpParams;
    Querystring: { timeout?: number };
    Body: { paths: string[]; attributes?: NotificationAttributes; format?: string };
  }>(
    '/api/clients/:ep/composite/observe',
    {
      schema: {
        tags: TAG,
        summary: 'Observe-Composite',
        description: 'Attributes allowed: pmin, pmax, epmin, epmax, con (Core §6.4).',
        params: endpointParams,
        querystring: compositeQuery,
        body: compositeBody({ paths: pathList, attributes: attributesSchema }, ['paths']),
        response: operationResponses,
      },
    },
    async (request, reply) => {
      const { ep } = request.params;
      const parsed = parsePaths(request.body.paths);
      const paths = parsed.map(String);
      const { attributes } = request.body;
      checkAttributeLengths(attributes);
      return run(reply, ep, 'observe-composite', paths, async (signal) =>
        observed(
          await ctx.server.observeComposite(ep, parsed, {
            ...signal,
            ...(attributes && Object.keys(attributes).length > 0 ? { attributes } : {}),
            ...formatOption(request.body.format),
            ...timeoutOption(request.query.timeout),
          }),
          'observe-composite',
          paths,
        ),
      );
    },
  );

  // ---- observations ----
  app.get<{ Params: EpParams }>(
    '/api/clients/:ep/observations',
    {
      schema: {
        tags: ['observations'],
        summary: 'The observations held with a client',
        params: endpointParams,
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              required: ['id', 'paths', 'composite', 'attributes', 'createdAt', 'restored', 'notifications'],
              properties: {
                id: { type: 'string' },
                paths: { type: 'array', items: { type: 'string' } },
                composite: { type: 'boolean' },
                attributes: attributesSchema,
                createdAt: {
                  type: 'string',
                  format: 'date-time',
                  description: 'when the Observe was established (kept across a server restart)',
                },
                restored: {
                  type: 'boolean',
                  description: 'taken back from the observation store by this server process after a restart',
                },
                notifications: { type: 'integer', description: 'notifications this process received' },
                lastNotificationAt: { type: ['string', 'null'], format: 'date-time' },
                lastValues: valuesSchema,
              },
            },
          },
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const { ep } = request.params;
      await requireRegistration(ctx, ep);
      return ctx.server.observations(ep).map((o) => {
        const stats = ctx.monitor.observation(o);
        return {
          id: o.id,
          paths: o.paths.map(String),
          composite: o.composite,
          attributes: { ...(o.attributes ?? {}) },
          createdAt: new Date(o.createdAt).toISOString(),
          restored: o.restored,
          notifications: stats.notifications,
          lastNotificationAt:
            stats.lastNotificationAt === undefined ? null : new Date(stats.lastNotificationAt).toISOString(),
          lastValues: stats.lastValues,
        };
      });
    },
  );

  app.delete<{ Params: EpParams & { id: string }; Querystring: { timeout?: number } }>(
    '/api/clients/:ep/observations/:id',
    {
      schema: {
        tags: ['observations'],
        summary: 'Cancel one observation (composite included)',
        params: {
          type: 'object',
          required: ['ep', 'id'],
          properties: { ep: endpointParams.properties.ep, id: { type: 'string', maxLength: 64 } },
        },
        querystring: compositeQuery,
        response: { ...operationResponses, 200: operationResponseSchema },
      },
    },
    async (request, reply) => {
      const { ep, id } = request.params;
      await requireRegistration(ctx, ep);
      const o = ctx.server.observations(ep).find((x) => x.id === id);
      if (!o)
        throw new ApiError('UNKNOWN_OBSERVATION', `no observation "${clipName(id)}" with "${clipName(ep)}"`);
      const paths = o.paths.map(String);
      return run(reply, ep, 'cancel-observation', paths, (signal) => cancelAll([o], paths, signal));
    },
  );
}

/** A path in a body: absolute, numeric or behind a gateway prefix. BAD_PATH otherwise. */
function parseAbsolute(text: string): LwM2mPath {
  try {
    return LwM2mPath.parse(text);
  } catch (e) {
    throw new ApiError('BAD_PATH', (e as Error).message, { cause: e });
  }
}
