import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Whether `webRoot` holds a built UI (a folder with index.html). */
export function hasWebUi(webRoot: string): boolean {
  try {
    return statSync(webRoot).isDirectory() && existsSync(join(webRoot, 'index.html'));
  } catch {
    return false;
  }
}

/**
 * Serves the built web UI at `/`. A missing file falls through to the app's not-found handler,
 * which answers non-/api GETs with index.html (history fallback), so the UI's own routes
 * (`/clients/dev-1`) survive a reload; /api stays a JSON 404.
 */
export async function registerWebRoutes(app: FastifyInstance, webRoot: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: resolve(webRoot),
    prefix: '/',
    wildcard: true,
    index: ['index.html'],
    // The UI's files are not part of the API document.
    schemaHide: true,
  });
}
