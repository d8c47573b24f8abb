// Shared pieces of the browser tests: where Chromium is, a current build of the UI (built with
// Vite when dist/web is missing or older than web/), a headless Chromium, screenshots, polling.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_ROOT = join(ROOT, 'dist', 'web');
export const CHROMIUM = '/usr/bin/chromium';

/** `skip` for describe(): false when Chromium is there (or under CI=true, where its absence fails). */
export const browserSkip: string | false = existsSync(CHROMIUM)
  ? false
  : process.env.CI === 'true'
    ? false
    : `Chromium not found at ${CHROMIUM}: browser test skipped (it fails under CI=true)`;

/** The newest modification time of the files below `dir`, ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/**
 * The folder of a built UI that is current: dist/web when it is newer than every file in web/,
 * else a fresh Vite build into test-artifacts/web-build (not dist/web: another browser test may
 * be serving that one right now). The test needs no prior `npm run build`.
 */
export async function currentWebBuild(): Promise<string> {
  const newest = newestMtime(join(ROOT, 'web'));
  const index = join(WEB_ROOT, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest) return WEB_ROOT;
  const outDir = join(ROOT, 'test-artifacts', 'web-build');
  const { build } = await import('vite');
  await build({
    configFile: join(ROOT, 'web', 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  assert.ok(existsSync(join(outDir, 'index.html')), 'the Vite build wrote index.html');
  return outDir;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A full-page screenshot `name`.png into `test-artifacts/<folder>/`. */
export async function shot(page: Page, folder: string, name: string): Promise<void> {
  const dir = join(ROOT, 'test-artifacts', folder);
  mkdirSync(dir, { recursive: true });
  // A sticky header would be drawn mid-page in a full-page capture.
  await page.addStyleTag({ content: '.top { position: static !important; }' });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** Polls `probe` until it returns true, at most `ms`. */
export async function until(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
