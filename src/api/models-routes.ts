import type { FastifyInstance } from 'fastify';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../model/object-definition.js';
import type { ApiContext } from './api-context.js';
import { ApiError } from './api-errors.js';
import { errorResponses } from './api-schemas.js';

/** What a model can tell about itself beyond lookups (ObjectRegistry does). */
interface ListableModel {
  ids(): number[];
  versions(objectId: number): string[];
}

function isListable(model: ObjectModel): model is ObjectModel & ListableModel {
  const m = model as Partial<ListableModel>;
  return typeof m.ids === 'function' && typeof m.versions === 'function';
}

export interface ObjectSummaryJson {
  readonly id: number;
  readonly name: string;
  readonly version: string;
  readonly versions: readonly string[];
  readonly multiple: boolean;
  readonly mandatory: boolean;
}

/** One entry per object id, at the version used when a client names none, with every known version. */
export function listObjects(model: ObjectModel): ObjectSummaryJson[] {
  const out: ObjectSummaryJson[] = [];
  if (isListable(model)) {
    for (const id of model.ids()) {
      const def = model.object(id);
      if (def) out.push({ ...objectSummary(def), versions: model.versions(id) });
    }
  } else if (Symbol.iterator in model) {
    const byId = new Map<number, ObjectDefinition[]>();
    for (const def of model as Iterable<ObjectDefinition>)
      byId.set(def.id, [...(byId.get(def.id) ?? []), def]);
    for (const [id, defs] of [...byId].sort((a, b) => a[0] - b[0])) {
      const def = model.object(id) ?? defs[defs.length - 1]!;
      out.push({ ...objectSummary(def), versions: defs.map((d) => d.version) });
    }
  }
  return out;
}

function objectSummary(def: ObjectDefinition): Omit<ObjectSummaryJson, 'versions'> {
  return {
    id: def.id,
    name: def.name,
    version: def.version,
    multiple: def.multiple,
    mandatory: def.mandatory,
  };
}

export function resourceJson(r: ResourceDefinition): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    operations: r.operations,
    multiple: r.multiple,
    mandatory: r.mandatory,
    type: r.type,
    ...(r.units === undefined || r.units === '' ? {} : { units: r.units }),
    ...(r.rangeText === undefined || r.rangeText === '' ? {} : { range: r.rangeText }),
  };
}

const summaryProperties = {
  id: { type: 'integer' },
  name: { type: 'string' },
  version: { type: 'string' },
  versions: { type: 'array', items: { type: 'string' } },
  multiple: { type: 'boolean' },
  mandatory: { type: 'boolean' },
} as const;

export function registerModelRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/api/models',
    {
      schema: {
        tags: ['models'],
        summary: 'The object definitions the server knows (one per object id, with its versions)',
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              required: Object.keys(summaryProperties),
              properties: summaryProperties,
            },
          },
          ...errorResponses(),
        },
      },
    },
    () => listObjects(ctx.model),
  );

  app.get<{ Params: { objectId: number }; Querystring: { version?: string } }>(
    '/api/models/:objectId',
    {
      schema: {
        tags: ['models'],
        summary: 'One object definition with its resources',
        params: {
          type: 'object',
          required: ['objectId'],
          properties: { objectId: { type: 'integer', minimum: 0, maximum: 65534 } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            version: {
              type: 'string',
              maxLength: 16,
              description: 'object version (the closest known one of the same major version is used)',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: [...Object.keys(summaryProperties), 'resources'],
            properties: {
              ...summaryProperties,
              urn: { type: 'string' },
              lwm2mVersion: { type: 'string' },
              resources: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'name', 'operations', 'multiple', 'mandatory', 'type'],
                  properties: {
                    id: { type: 'integer' },
                    name: { type: 'string' },
                    operations: { type: 'string', enum: ['', 'R', 'W', 'RW', 'E'] },
                    multiple: { type: 'boolean' },
                    mandatory: { type: 'boolean' },
                    type: { type: 'string' },
                    units: { type: 'string' },
                    range: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errorResponses(400, 404),
        },
      },
    },
    (request) => {
      const { objectId } = request.params;
      const def = ctx.model.object(objectId, request.query.version);
      if (!def) throw new ApiError('UNKNOWN_OBJECT', `object ${objectId} is not in the server's model`);
      return {
        ...objectSummary(def),
        versions: isListable(ctx.model) ? ctx.model.versions(objectId) : [def.version],
        urn: def.urn,
        lwm2mVersion: def.lwm2mVersion,
        resources: [...def.resources.values()].sort((a, b) => a.id - b.id).map(resourceJson),
      };
    },
  );
}
