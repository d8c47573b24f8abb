import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The shared spec folder (OMA registry, captures): $PETREL_SHARED, default `../shared` beside the
 * repo. Undefined when absent, as on a user's fresh clone.
 */
export function sharedDir(): string | undefined {
  const dir = resolve(repoRoot, process.env.PETREL_SHARED ?? '../shared');
  return existsSync(dir) ? dir : undefined;
}

/**
 * The shared folder, or skips the test with a clear message when it is absent. Under CI=true a
 * missing folder fails the test instead, so CI never passes by skipping.
 */
export function requireShared(t: TestContext): string | undefined {
  const dir = sharedDir();
  if (dir) return dir;
  const msg = `shared spec folder not found (set PETREL_SHARED; looked at ${resolve(repoRoot, process.env.PETREL_SHARED ?? '../shared')})`;
  if (process.env.CI === 'true') throw new Error(msg);
  t.skip(msg);
  return undefined;
}
