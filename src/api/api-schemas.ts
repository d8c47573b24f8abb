// JSON schemas of the REST API's bodies and answers, shared by the route modules. They validate
// requests, serialize answers (fast-json-stringify keeps only declared properties, so free-form
// objects say additionalProperties: true), and make /api/openapi.json.
import { NOTIFICATION_ATTRIBUTE_NAMES } from '../model/attributes.js';
import { API_ERROR_STATUS } from './api-errors.js';

export const MAX_PAGE_LIMIT = 1000;

/** The `offset` and `limit` query parameters of a paged list. */
export const pagingProperties = {
  offset: { type: 'integer', minimum: 0, default: 0 },
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: 50 },
} as const;

/** A page of a list: `{ total, offset, limit, items }`. */
export function pageSchema(items: unknown) {
  return {
    type: 'object',
    required: ['total', 'offset', 'limit', 'items'],
    properties: {
      total: { type: 'integer' },
      offset: { type: 'integer' },
      limit: { type: 'integer' },
      items: { type: 'array', items },
    },
  } as const;
}
export const MAX_TIMEOUT_MS = 300_000;
export const MAX_PATHS = 256;

export const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', enum: Object.keys(API_ERROR_STATUS) },
    message: { type: 'string' },
  },
} as const;

/** The error answers a route can give, by status. */
export function errorResponses(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const s of [...new Set([...statuses, 401])]) out[s] = { ...errorSchema, description: 'error' };
  return out;
}

export const freeObject = { type: 'object', additionalProperties: true } as const;

export const jsonValueSchema = {
  description:
    'A value in the `petrel codec` JSON convention: string, number (integers past 2^53 as decimal strings), ' +
    'boolean, {"hex": "…"} for opaque, "oid:iid" for an object link, Unix seconds for time, null for none.',
} as const;

export const valuesSchema = {
  type: 'object',
  additionalProperties: true,
  description:
    'Flat map of LwM2M path to value (`petrel codec` convention), e.g. {"/3/0/0": "Petrel", "/3/0/9": 95}.',
} as const;

export const recordSchema = {
  type: 'object',
  required: ['path'],
  properties: {
    path: { type: 'string' },
    type: { type: 'string' },
    value: jsonValueSchema,
    time: { type: 'number' },
  },
} as const;

export const linkSchema = {
  type: 'object',
  required: ['target', 'params'],
  properties: { target: { type: 'string' }, params: freeObject },
} as const;

export const operationNames = [
  'read',
  'write',
  'write-update',
  'execute',
  'create',
  'delete',
  'discover',
  'write-attributes',
  'read-composite',
  'write-composite',
  'observe',
  'observe-composite',
  'cancel-observation',
] as const;

export const operationResponseSchema = {
  type: 'object',
  description: 'The outcome of one LwM2M operation, as the client answered it.',
  required: ['endpoint', 'operation', 'paths', 'code', 'success'],
  properties: {
    endpoint: { type: 'string' },
    operation: { type: 'string', enum: operationNames },
    paths: { type: 'array', items: { type: 'string' } },
    code: { type: ['string', 'null'], description: "LwM2M result code, '2.05', '4.04' …" },
    success: { type: 'boolean' },
    diagnostic: { type: 'string' },
    format: { type: ['string', 'number'] },
    values: valuesSchema,
    records: { type: 'array', items: recordSchema },
    links: { type: 'array', items: linkSchema },
    location: { type: 'string' },
    observationId: { type: 'string' },
    cancelled: { type: 'integer', description: 'cancel by path: how many observations were cancelled' },
    identity: {
      type: 'object',
      required: ['commandId'],
      properties: {
        commandId: { type: 'string' },
        token: { type: 'string' },
        messageId: { type: 'integer' },
      },
    },
    latencyMs: { type: 'number' },
  },
} as const;

export const queuedResponseSchema = {
  type: 'object',
  description:
    'The client sleeps (queue mode): the request waits for it; its outcome arrives as a `queued-result` event.',
  required: ['queued', 'requestId', 'endpoint', 'operation', 'paths'],
  properties: {
    queued: { type: 'boolean' },
    requestId: { type: 'string' },
    endpoint: { type: 'string' },
    operation: { type: 'string', enum: operationNames },
    paths: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** 200 operation response, 202 queued, and the errors every operation can end in. */
export const operationResponses = {
  200: operationResponseSchema,
  202: queuedResponseSchema,
  ...errorResponses(400, 404, 502, 503, 504),
};

const summaryProperties = {
  endpoint: { type: 'string' },
  registrationId: { type: 'string' },
  lwm2mVersion: { type: 'string' },
  binding: { type: 'string' },
  queueMode: { type: 'boolean' },
  lifetime: { type: 'integer' },
  status: { type: 'string', enum: ['awake', 'sleeping'] },
  registeredAt: { type: 'string', format: 'date-time' },
  lastSeen: { type: 'string', format: 'date-time' },
  expiresAt: { type: ['string', 'null'], format: 'date-time' },
  address: { type: 'string' },
  transport: { type: 'string' },
  tags: { type: 'array', items: { type: 'string' } },
  security: {
    type: 'object',
    description:
      'How the client authenticated: the PSK identity, the raw public key (SPKI DER, hex) or the ' +
      'certificate subject its (D)TLS handshake proved; `nosec` on plain CoAP (no identity).',
    required: ['mode'],
    properties: {
      mode: { type: 'string', enum: ['psk', 'rpk', 'x509', 'nosec'] },
      identity: { type: 'string' },
    },
  },
} as const;

export const clientSummarySchema = {
  type: 'object',
  required: Object.keys(summaryProperties),
  properties: summaryProperties,
} as const;

export const clientDetailsSchema = {
  type: 'object',
  required: [...Object.keys(summaryProperties), 'objectLinks', 'objects', 'observations'],
  properties: {
    ...summaryProperties,
    sms: { type: ['string', 'null'] },
    profileIds: { type: 'array', items: { type: 'string' } },
    alternatePath: { type: ['string', 'null'] },
    contentFormats: { type: ['array', 'null'], items: { type: 'integer' } },
    objectLinks: { type: 'array', items: linkSchema },
    objects: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'version', 'instances'],
        properties: {
          id: { type: 'integer' },
          version: { type: ['string', 'null'] },
          instances: { type: 'array', items: { type: 'integer' } },
          prefix: { type: 'string' },
        },
      },
    },
    extraParameters: freeObject,
    observations: { type: 'integer' },
  },
} as const;

export const storedEventSchema = {
  type: 'object',
  required: ['seq', 'type', 'time', 'data'],
  properties: {
    seq: { type: 'integer' },
    type: { type: 'string' },
    time: { type: 'number', description: 'wall-clock ms' },
    endpoint: { type: 'string' },
    data: freeObject,
  },
} as const;

/** Notification attributes as numbers (Observe), or numbers and null (Write-Attributes: null unsets). */
export function attributesProperties(nullable: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of NOTIFICATION_ATTRIBUTE_NAMES)
    out[name] = { type: nullable ? ['number', 'null'] : 'number' };
  return out;
}

export const attributesSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Notification attributes (Core §5.1.2): pmin, pmax, gt, lt, st, epmin, epmax, edge, con, hqmax.',
  properties: attributesProperties(false),
} as const;

export const formatSchema = {
  type: 'string',
  maxLength: 64,
  description: "Content format by name ('senml-cbor', 'lwm2m-cbor', 'tlv', 'text' …) or number ('112').",
} as const;

export const timeoutSchema = {
  type: 'integer',
  minimum: 1,
  maximum: MAX_TIMEOUT_MS,
  description: 'Deadline of the request in ms (default: the server’s request timeout).',
} as const;

export const endpointParams = {
  type: 'object',
  required: ['ep'],
  properties: { ep: { type: 'string', description: 'Endpoint name (URL-encoded)' } },
} as const;

export const pathParams = {
  type: 'object',
  required: ['ep', '*'],
  properties: {
    ep: { type: 'string', description: 'Endpoint name (URL-encoded)' },
    '*': {
      type: 'string',
      description:
        'LwM2M path without the leading slash (`3/0/9`), optionally behind a gateway prefix (`dev1/3/0`; ' +
        '`~` escapes a prefix named composite, observations or tags), then optionally an action word.',
    },
  },
} as const;
