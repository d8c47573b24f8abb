import type { FastifyInstance } from 'fastify';
import { MAX_PSK_IDENTITY } from '../dtls/handshake-server.js';
import type { CredentialStore, SecurityInfo } from '../store/credential-store.js';
import type { ApiContext } from './api-context.js';
import { clipName } from './api-context.js';
import { ApiError } from './api-errors.js';
import { endpointParams, errorResponses } from './api-schemas.js';

/** RFC 4279 §5.3 and the LwM2M Security object: keys up to 64 bytes. */
const MAX_PSK_KEY = 64;

const TAG = ['security'];

const pskBody = {
  type: 'object',
  additionalProperties: false,
  required: ['identity', 'key'],
  properties: {
    identity: {
      type: 'string',
      minLength: 1,
      maxLength: MAX_PSK_IDENTITY,
      description: `PSK identity, 1-${MAX_PSK_IDENTITY} bytes of UTF-8`,
    },
    key: {
      type: 'string',
      pattern: `^([0-9a-fA-F]{2}){1,${MAX_PSK_KEY}}$`,
      description: `the pre-shared key in hex, 1-${MAX_PSK_KEY} bytes`,
    },
  },
} as const;

const putBody = {
  type: 'object',
  additionalProperties: false,
  required: ['psk'],
  properties: { psk: pskBody },
} as const;

/** What the API shows of a device's security information: never the key itself. */
const securitySchema = {
  type: 'object',
  required: ['endpoint', 'mode'],
  properties: {
    endpoint: { type: 'string' },
    mode: { type: 'string', enum: ['psk', 'rpk', 'x509', 'none'] },
    psk: {
      type: 'object',
      required: ['identity', 'keyLength'],
      properties: {
        identity: { type: 'string' },
        keyLength: { type: 'integer', description: 'length of the key in bytes (the key is never shown)' },
      },
    },
    rpk: { type: 'object', properties: { publicKey: { type: 'string' } } },
  },
} as const;

export interface SecurityView {
  readonly endpoint: string;
  readonly mode: 'psk' | 'rpk' | 'x509' | 'none';
  readonly psk?: { readonly identity: string; readonly keyLength: number };
  readonly rpk?: { readonly publicKey: string };
}

/** A device's security information as the API shows it: the PSK's identity and length, not the key. */
export function securityView(info: SecurityInfo): SecurityView {
  if (info.psk)
    return {
      endpoint: info.endpoint,
      mode: 'psk',
      psk: { identity: info.psk.identity, keyLength: info.psk.key.length / 2 },
    };
  if (info.rpk) return { endpoint: info.endpoint, mode: 'rpk', rpk: { publicKey: info.rpk.publicKey } };
  return { endpoint: info.endpoint, mode: info.x509 ? 'x509' : 'none' };
}

function requireStore(ctx: ApiContext): CredentialStore {
  if (!ctx.credentials) throw new ApiError('UNAVAILABLE', 'this server has no credential store');
  return ctx.credentials;
}

/** Per-device credentials for coaps:// (Core §7.1.3): the PSK and the endpoint it is bound to. */
export function registerSecurityRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get(
    '/api/security/clients',
    {
      schema: {
        tags: TAG,
        summary: 'Security information of every device, sorted by endpoint (keys are never shown)',
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: securitySchema } },
          },
          ...errorResponses(503),
        },
      },
    },
    async () => {
      const items: SecurityView[] = [];
      for await (const info of requireStore(ctx).all()) items.push(securityView(info));
      items.sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
      return { items };
    },
  );

  app.get<{ Params: { ep: string } }>(
    '/api/security/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "A device's security information (the key is never shown)",
        params: endpointParams,
        response: { 200: securitySchema, ...errorResponses(404, 503) },
      },
    },
    async (request) => {
      const info = await requireStore(ctx).get(request.params.ep);
      if (!info)
        throw new ApiError('NOT_FOUND', `no security information for "${clipName(request.params.ep)}"`);
      return securityView(info);
    },
  );

  app.put<{ Params: { ep: string }; Body: { psk: { identity: string; key: string } } }>(
    '/api/security/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "Sets or replaces a device's PSK; the identity is bound to this endpoint",
        description:
          'The identity must be unique: one bound to another endpoint is 409 CONFLICT. Sessions already ' +
          'established keep their key; the next handshake uses the new one.',
        params: endpointParams,
        body: putBody,
        response: { 200: securitySchema, ...errorResponses(400, 409, 503) },
      },
    },
    async (request) => {
      const store = requireStore(ctx);
      const { identity, key } = request.body.psk;
      if (Buffer.byteLength(identity, 'utf8') > MAX_PSK_IDENTITY)
        throw new ApiError(
          'BAD_REQUEST',
          `the PSK identity is longer than ${MAX_PSK_IDENTITY} bytes of UTF-8`,
        );
      const info: SecurityInfo = {
        endpoint: request.params.ep,
        psk: { identity, key: key.toLowerCase() },
      };
      await store.put(info);
      return securityView(info);
    },
  );

  app.delete<{ Params: { ep: string } }>(
    '/api/security/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "Removes a device's security information",
        params: endpointParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(404, 503) },
      },
    },
    async (request, reply) => {
      const removed = await requireStore(ctx).remove(request.params.ep);
      if (!removed)
        throw new ApiError('NOT_FOUND', `no security information for "${clipName(request.params.ep)}"`);
      return reply.code(204).send();
    },
  );
}
