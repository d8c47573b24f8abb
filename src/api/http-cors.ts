import type { FastifyInstance } from 'fastify';

const ALLOWED_METHODS = 'GET, PUT, POST, DELETE, OPTIONS';
const ALLOWED_HEADERS = 'authorization, content-type, last-event-id';

/** Whether `origin` is allowed: listed exactly, or `*` allows every origin. */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  return allowed.includes('*') || allowed.includes(origin);
}

/**
 * CORS (Fetch standard §3.2) for the configured origins only: the allowed Origin is echoed (with
 * `Vary: Origin`), and a preflight OPTIONS is answered 204 before any route or token check.
 * Other origins get no CORS headers, so browsers keep their answers from the page.
 */
export function installCors(app: FastifyInstance, allowed: readonly string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined || !originAllowed(origin, allowed)) return;
    void reply.header('access-control-allow-origin', origin).header('vary', 'Origin');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      return reply
        .code(204)
        .header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', '600')
        .send();
    }
  });
  // Preflights of routes that have no OPTIONS handler must reach the hook above rather than 404.
  app.options('/api/*', { schema: { hide: true } }, async (_request, reply) => reply.code(204).send());
}
