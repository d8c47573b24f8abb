import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './api-errors.js';

/** Routes open without a token: the API's description, so a person can find out how to use it. */
export function isOpenPath(path: string): boolean {
  if (path !== '/api' && !path.startsWith('/api/')) return true; // the web UI's static files
  return path === '/api/openapi.json' || path === '/api/docs' || path.startsWith('/api/docs/');
}

/** Compares in constant time: both sides are hashed first, so their lengths leak nothing either. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** `Authorization: Bearer <token>` (RFC 6750 §2.1), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer[ ]+([^ ].*)$/i.exec(header);
  return m ? m[1]!.trim() : undefined;
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q < 0 ? request.url : request.url.slice(0, q);
}

/**
 * Requires the bearer token on every /api route except the open ones. The SSE route also takes
 * `?token=`, since EventSource cannot set headers. CORS preflights carry no credentials.
 */
export function installTokenAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request);
    if (request.method === 'OPTIONS' || isOpenPath(path)) return;
    let given = bearerToken(request.headers.authorization);
    if (given === undefined && path === '/api/events') {
      const q = new URLSearchParams(request.url.slice(path.length + 1)).get('token');
      given = q ?? undefined;
    }
    if (given !== undefined && tokensEqual(given, token)) return;
    const error = new ApiError(
      'UNAUTHORIZED',
      given === undefined ? 'this API needs "Authorization: Bearer <token>"' : 'wrong token',
    );
    return reply.code(401).header('www-authenticate', 'Bearer').send(error.toJSON());
  });
}
