// The rig the console's browser tests share: a current build of the UI, a real LwM2M server, an
// optional Bootstrap-Server, the REST API serving the UI, and a headless Chromium (the skip/fail
// rule for a missing Chromium is `browserSkip` in test/browser/browser-fixture.ts). Also: a page
// that records its errors, a registration waiter, and one bootstrap of a scripted peer.
import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { startApiServer } from '../../src/api/api-server.js';
import type { ApiServerOptions, RunningApiServer } from '../../src/api/api-server.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapServerOptions, BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import type { ObjectModel } from '../../src/model/object-definition.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { BootstrapPeer } from '../bootstrap/bootstrap-peer.js';
import type { Override, PeerProfile } from '../bootstrap/bootstrap-peer.js';
import { currentWebBuild, launchChromium } from '../browser/browser-fixture.js';

export interface ConsoleRigOptions {
  readonly server: LwM2mServerOptions;
  /** A Bootstrap-Server beside the LwM2M server (its configuration store is passed to the API too). */
  readonly bootstrap?: BootstrapServerOptions;
  /** The stores the API is given besides fresh in-memory tags and events. */
  readonly stores?: Pick<ApiServerOptions['stores'], 'credentials' | 'bootstrapConfigs'>;
  readonly model?: ObjectModel;
}

export interface ConsoleRig {
  readonly server: LwM2mServer;
  readonly bootstrap: BootstrapServer | undefined;
  readonly api: RunningApiServer;
  readonly browser: Browser;
}

/** Starts the server, the Bootstrap-Server (if asked), the API on a current UI build and Chromium. */
export async function startConsoleRig(options: ConsoleRigOptions): Promise<ConsoleRig> {
  const webRoot = await currentWebBuild();
  const server = new LwM2mServer(options.server);
  await server.start();
  let bootstrap: BootstrapServer | undefined;
  if (options.bootstrap) {
    bootstrap = new BootstrapServer(options.bootstrap);
    await bootstrap.start();
  }
  const api = await startApiServer({
    server,
    stores: {
      tags: new MemoryTagStore(),
      events: new MemoryEventLog({ capacity: 500 }),
      kind: 'memory',
      ...options.stores,
    },
    ...(bootstrap ? { bootstrap } : {}),
    ...(options.model ? { model: options.model } : {}),
    webRoot,
  });
  const browser = await launchChromium();
  return { server, bootstrap, api, browser };
}

/** Stops what `startConsoleRig` started, the browser first and `devices` before the API; never throws. */
export async function stopConsoleRig(
  rig: ConsoleRig | undefined,
  devices: readonly { stop(): Promise<unknown> }[] = [],
): Promise<void> {
  await rig?.browser.close().catch(() => undefined);
  for (const d of devices) await d.stop().catch(() => undefined);
  await rig?.api.close().catch(() => undefined);
  await rig?.bootstrap?.stop().catch(() => undefined);
  await rig?.server.stop().catch(() => undefined);
}

export interface ConsolePage {
  readonly page: Page;
  /** Uncaught errors of the page's scripts, in order. */
  readonly pageErrors: string[];
}

/** A new page with a 10 s default timeout that records its script errors. */
export async function openConsolePage(
  browser: Browser,
  viewport: { width: number; height: number },
): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(10_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { page, pageErrors };
}

/** Resolves when `endpoint` registers with `server`; rejects after `ms` when `ms` is given. */
export function registration(server: LwM2mServer, endpoint: string, ms?: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer =
      ms === undefined ? undefined : setTimeout(() => reject(new Error(`${endpoint} did not register`)), ms);
    const listener = (reg: { endpoint: string }): void => {
      if (reg.endpoint !== endpoint) return;
      clearTimeout(timer);
      server.off('registered', listener);
      resolve();
    };
    server.on('registered', listener);
  });
}

/** A LwM2M 1.2 device that sends `ep=` in its Bootstrap-Request and has only its BS account. */
export const bootstrapPeerProfile = (endpoint: string): PeerProfile => ({
  endpoint,
  lwm2mVersion: '1.2',
  requestQuery: [`ep=${endpoint}`],
  pack: undefined,
  otherLinks: [],
});

/**
 * One Client-Initiated bootstrap of `endpoint` by a scripted peer at `address` on `network`;
 * resolves with the finished session.
 */
export async function bootstrapOnce(
  bootstrap: BootstrapServer,
  network: MemoryNetwork,
  endpoint: string,
  address: string,
  override?: Override,
): Promise<BootstrapSessionRecord> {
  const finished = new Promise<BootstrapSessionRecord>((resolve) => {
    const on = (s: BootstrapSessionRecord): void => {
      if (s.endpoint !== endpoint) return;
      bootstrap.off('session-finished', on);
      resolve(s);
    };
    bootstrap.on('session-finished', on);
  });
  const peer = new BootstrapPeer(network, bootstrapPeerProfile(endpoint), { address });
  if (override) peer.override = override;
  try {
    const answer = await peer.bootstrapRequest();
    assert.equal(answer.code, 0x44, 'Bootstrap-Request answered 2.04');
    return await finished;
  } finally {
    await peer.close();
  }
}

/** Session `id`'s row in the console, once the (polled) list shows it `status`, not still running. */
export async function settledSessionRow(page: Page, id: string, status: string): Promise<Locator> {
  await page.locator(`[data-testid="session-row"][data-session="${id}"][data-status="${status}"]`).waitFor();
  return page.locator(`[data-testid="session-row"][data-session="${id}"]`);
}
