import type { FastifyInstance } from 'fastify';
import { MAX_PSK_IDENTITY } from '../dtls/handshake-server.js';
import type { CredentialStore, SecurityInfo } from '../store/credential-store.js';
import type { BootstrapApiContext, ServerSecurityInfo } from './api-context.js';
import { clipName } from './api-context.js';
import { ApiError } from './api-errors.js';
import { endpointParams, errorResponses } from './api-schemas.js';
import {
  DEFAULT_GENERATED_PSK,
  MAX_PSK_KEY,
  MAX_SPKI_BYTES,
  MIN_GENERATED_PSK,
  canonicalP256PublicKey,
  generateP256KeyPair,
  generatePsk,
} from './security-keys.js';

const TAG = ['security'];

const hexString = (description: string, maxBytes: number) =>
  ({ type: 'string', pattern: `^([0-9a-fA-F]{2}){1,${maxBytes}}$`, description }) as const;

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
    key: hexString(`the pre-shared key in hex, 1-${MAX_PSK_KEY} bytes`, MAX_PSK_KEY),
  },
} as const;

const rpkBody = {
  type: 'object',
  additionalProperties: false,
  required: ['publicKey'],
  properties: {
    publicKey: hexString(
      'the raw public key the device must present (RFC 7250): SubjectPublicKeyInfo, DER, hex; EC P-256',
      MAX_SPKI_BYTES,
    ),
  },
} as const;

const x509Body = {
  type: 'object',
  additionalProperties: false,
  properties: {},
  description: "`{}`: the device's certificate subject CN must equal the endpoint name",
} as const;

const nextPskBody = {
  ...pskBody,
  description:
    'a PSK being rotated in: while set, it authenticates the device as well as the current ' +
    'credentials; its identity must differ from `psk`',
} as const;

const putBody = {
  type: 'object',
  additionalProperties: false,
  description: 'Exactly one of `psk`, `rpk`, `x509`; optionally `nextPsk` beside it.',
  properties: { psk: pskBody, rpk: rpkBody, x509: x509Body, nextPsk: nextPskBody },
} as const;

type PutBody = {
  psk?: { identity: string; key: string };
  rpk?: { publicKey: string };
  x509?: Record<string, never>;
  nextPsk?: { identity: string; key: string };
};

export type SecurityMode = 'psk' | 'rpk' | 'x509' | 'none';

const pskViewSchema = {
  type: 'object',
  required: ['identity', 'keyLength'],
  properties: {
    identity: { type: 'string' },
    keyLength: { type: 'integer', description: 'length of the key in bytes (the key is never shown)' },
  },
} as const;

/** What the API shows of a device's security information: never the key itself. */
const securitySchema = {
  type: 'object',
  required: ['endpoint', 'mode'],
  properties: {
    endpoint: { type: 'string' },
    mode: { type: 'string', enum: ['psk', 'rpk', 'x509', 'none'] },
    psk: pskViewSchema,
    nextPsk: {
      ...pskViewSchema,
      description: 'a PSK being rotated in: it authenticates the device as well, until promoted or cancelled',
    },
    rpk: {
      type: 'object',
      required: ['publicKey'],
      properties: { publicKey: { type: 'string', description: 'SubjectPublicKeyInfo, DER, hex' } },
    },
    x509: {
      type: 'object',
      required: ['commonName'],
      properties: {
        commonName: { type: 'string', description: "the subject CN the device's certificate must have" },
      },
    },
  },
} as const;

const serverSecuritySchema = {
  type: 'object',
  description: "The server's own DTLS identity; `{}` when it has none configured.",
  properties: {
    pskHint: { type: 'string', description: 'PSK identity hint (RFC 4279 §2)' },
    publicKey: { type: 'string', description: 'raw public key: SubjectPublicKeyInfo, DER, hex' },
    certificate: {
      type: 'object',
      required: ['subject', 'der'],
      properties: { subject: { type: 'string' }, der: { type: 'string', description: 'DER, hex' } },
    },
  },
} as const;

const generatedPskSchema = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', description: 'random bytes, hex' } },
} as const;

const generatedKeyPairSchema = {
  type: 'object',
  required: ['publicKey', 'privateKey', 'publicKeyPem', 'privateKeyPem'],
  properties: {
    publicKey: { type: 'string', description: 'SubjectPublicKeyInfo, DER, hex (the rpk.publicKey to PUT)' },
    privateKey: { type: 'string', description: 'PKCS#8, DER, hex (for the device; not kept)' },
    publicKeyPem: { type: 'string' },
    privateKeyPem: { type: 'string' },
  },
} as const;

export interface SecurityView {
  readonly endpoint: string;
  readonly mode: SecurityMode;
  readonly psk?: PskView;
  readonly rpk?: { readonly publicKey: string };
  readonly x509?: { readonly commonName: string };
  /** A PSK being rotated in (SecurityInfo.nextPsk), whatever the mode. */
  readonly nextPsk?: PskView;
}

export interface PskView {
  readonly identity: string;
  readonly keyLength: number;
}

function pskView(psk: { readonly identity: string; readonly key: string }): PskView {
  return { identity: psk.identity, keyLength: psk.key.length / 2 };
}

/** A device's security information as the API shows it: PSK identities and lengths, not the keys. */
export function securityView(info: SecurityInfo): SecurityView {
  const next = info.nextPsk ? { nextPsk: pskView(info.nextPsk) } : {};
  if (info.psk) return { endpoint: info.endpoint, mode: 'psk', psk: pskView(info.psk), ...next };
  if (info.rpk)
    return { endpoint: info.endpoint, mode: 'rpk', rpk: { publicKey: info.rpk.publicKey }, ...next };
  if (info.x509)
    return { endpoint: info.endpoint, mode: 'x509', x509: { commonName: info.endpoint }, ...next };
  return { endpoint: info.endpoint, mode: 'none', ...next };
}

/** A PSK from a PUT body: the identity's length checked in bytes, the key lower-cased. */
function pskFromBody(psk: { identity: string; key: string }, field: string) {
  if (Buffer.byteLength(psk.identity, 'utf8') > MAX_PSK_IDENTITY)
    throw new ApiError(
      'BAD_REQUEST',
      `the ${field} identity is longer than ${MAX_PSK_IDENTITY} bytes of UTF-8`,
    );
  return { identity: psk.identity, key: psk.key.toLowerCase() };
}

/**
 * The security information a PUT body asks for: exactly one mode, each checked (PSK identity
 * length in bytes, the public key a P-256 SPKI), and an optional `nextPsk` checked like `psk`
 * with an identity other than `psk`'s; 400 BAD_REQUEST otherwise.
 */
export function securityInfoFromBody(endpoint: string, body: PutBody): SecurityInfo {
  const mode = modeFromBody(endpoint, body);
  if (!body.nextPsk) return mode;
  const nextPsk = pskFromBody(body.nextPsk, 'nextPsk');
  if (nextPsk.identity === mode.psk?.identity)
    throw new ApiError('BAD_REQUEST', 'nextPsk needs an identity of its own, not the identity of psk');
  return { ...mode, nextPsk };
}

function modeFromBody(endpoint: string, body: PutBody): SecurityInfo {
  const given = (['psk', 'rpk', 'x509'] as const).filter((m) => body[m] !== undefined);
  if (given.length !== 1)
    throw new ApiError(
      'BAD_REQUEST',
      given.length === 0
        ? 'give one of psk, rpk or x509'
        : `give only one of psk, rpk or x509, not ${given.join(' and ')}`,
    );
  if (body.psk) return { endpoint, psk: pskFromBody(body.psk, 'PSK') };
  if (body.rpk) return { endpoint, rpk: { publicKey: canonicalP256PublicKey(body.rpk.publicKey) } };
  return { endpoint, x509: true };
}

/** The server's own identity as GET /api/security/server shows it: only the fields it has. */
export function serverSecurityView(info: ServerSecurityInfo | undefined): ServerSecurityInfo {
  if (!info) return {};
  return {
    ...(info.pskHint === undefined ? {} : { pskHint: info.pskHint }),
    ...(info.publicKey === undefined ? {} : { publicKey: info.publicKey }),
    ...(info.certificate === undefined
      ? {}
      : { certificate: { subject: info.certificate.subject, der: info.certificate.der } }),
  };
}

function requireStore(ctx: BootstrapApiContext): CredentialStore {
  if (!ctx.credentials) throw new ApiError('UNAVAILABLE', 'this server has no credential store');
  return ctx.credentials;
}

/**
 * Per-device credentials for coaps:// (Core §7.1): a PSK, a raw public key or an X.509 rule,
 * bound to the endpoint name; fresh keys to provision; and the server's own identity.
 */
export function registerSecurityRoutes(app: FastifyInstance, ctx: BootstrapApiContext): void {
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

  app.put<{ Params: { ep: string }; Body: PutBody }>(
    '/api/security/clients/:ep',
    {
      schema: {
        tags: TAG,
        summary: "Sets or replaces a device's credentials: a PSK, a raw public key, or X.509",
        description:
          'Exactly one of `psk` ({identity, key in hex}), `rpk` ({publicKey: hex SPKI DER of an EC ' +
          'P-256 key}) or `x509` ({}: the certificate subject CN must equal the endpoint); optionally ' +
          "`nextPsk` ({identity, key in hex}, an identity other than psk's): a PSK being rotated in, " +
          'which authenticates the device as well until a PUT without it (cancel, or promote by ' +
          'sending it as `psk`). A PSK identity (psk or nextPsk) another endpoint holds as its psk ' +
          'or nextPsk is 409 CONFLICT. Sessions already established keep their credentials; the ' +
          'next handshake uses the new ones.',
        params: endpointParams,
        body: putBody,
        response: { 200: securitySchema, ...errorResponses(400, 409, 503) },
      },
    },
    async (request) => {
      const store = requireStore(ctx);
      const info = securityInfoFromBody(request.params.ep, request.body);
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

  app.post<{ Querystring: { bytes: number } }>(
    '/api/security/generate/psk',
    {
      schema: {
        tags: TAG,
        summary: 'A fresh random pre-shared key (nothing is stored)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            bytes: {
              type: 'integer',
              minimum: MIN_GENERATED_PSK,
              maximum: MAX_PSK_KEY,
              default: DEFAULT_GENERATED_PSK,
              description: 'key length in bytes',
            },
          },
        },
        response: { 200: generatedPskSchema, ...errorResponses(400) },
      },
    },
    (request) => ({ key: generatePsk(request.query.bytes) }),
  );

  app.post(
    '/api/security/generate/keypair',
    {
      schema: {
        tags: TAG,
        summary: 'A fresh EC P-256 key pair for a device (nothing is stored; the private key is shown once)',
        response: { 200: generatedKeyPairSchema },
      },
    },
    () => generateP256KeyPair(),
  );

  app.get(
    '/api/security/server',
    {
      schema: {
        tags: TAG,
        summary: "The server's own DTLS identity: PSK hint, public key, certificate ({} when none)",
        response: { 200: serverSecuritySchema },
      },
    },
    () => serverSecurityView(ctx.serverSecurity),
  );
}
