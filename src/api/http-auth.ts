import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './api-errors.js';

/** Server-sent event streams, which browsers open with EventSource (no headers): `?token=` too. */
const SSE_PATHS: ReadonlySet<string> = new Set(['/api/events', '/api/firmware/campaigns/:id/events']);

/** Routes open without a token: the API's description, so a person can find out how to use it. */
export function isOpenPath(path: string): boolean {
  if (path !== '/api' && !path.startsWith('/api/')) return true; // the web UI's static files
  if (path === '/api/firmware/images/:id/content') return true; // needs its own download token (?t=)
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

/**
 * The path that decides whether a request needs the token: the pattern of the route the router
 * matched, not the request target as sent. The router also takes the absolute form
 * (`GET http://host/api/clients`, RFC 9112 §3.2.2) and routes it to /api/clients; a check on the
 * raw URL would see no `/api` there and let it through. With no route matched (the not-found
 * answer), the raw path, without its query, decides.
 */
export function routePath(request: Pick<FastifyRequest, 'url' | 'routeOptions'>): string {
  const route = request.routeOptions.url;
  if (route !== undefined) return route;
  const q = request.url.indexOf('?');
  return q < 0 ? request.url : request.url.slice(0, q);
}

/**
 * Requires the bearer token on every /api route except the open ones. The SSE routes also take
 * `?token=`, since EventSource cannot set headers (request logs redact it). CORS preflights carry no credentials.
 */
export function installTokenAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (request, reply) => {
    const path = routePath(request);
    if (request.method === 'OPTIONS' || isOpenPath(path)) return;
    let given = bearerToken(request.headers.authorization);
    if (given === undefined && SSE_PATHS.has(path)) {
      const q = request.url.indexOf('?');
      given = (q < 0 ? null : new URLSearchParams(request.url.slice(q + 1)).get('token')) ?? undefined;
    }
    if (given !== undefined && tokensEqual(given, token)) return;
    const error = new ApiError(
      'UNAUTHORIZED',
      given === undefined ? 'this API needs "Authorization: Bearer <token>"' : 'wrong token',
    );
    return reply.code(401).header('www-authenticate', 'Bearer').send(error.toJSON());
  });
}
