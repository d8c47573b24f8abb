// The REST API against a real LwM2mServer and a real LwM2mClient on an in-memory network
// (test/support/client-rig.ts), with the memory tag store and event log.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createApiServer } from '../../src/api/api-server.js';
import type { ApiServerOptions } from '../../src/api/api-server.js';
import type { StoredEvent } from '../../src/store/event-log.js';
import { MemoryEventLog } from '../../src/store/memory-event-log.js';
import { MemoryTagStore } from '../../src/store/memory-tag-store.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import { seededRandom } from '../../src/random.js';
import { SERVER_ADDRESS, clientRig, rigModel } from '../support/client-rig.js';
import type { ClientRig, ClientRigOptions } from '../support/client-rig.js';

export interface ApiFixture {
  readonly rig: ClientRig;
  readonly app: FastifyInstance;
  readonly tags: MemoryTagStore;
  readonly events: MemoryEventLog;
  /** inject() with a JSON body, answering the parsed JSON too. */
  call(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'OPTIONS',
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, read by assertions
  ): Promise<{ status: number; json: any; response: LightMyRequestResponse }>;
  /** Another real client on the rig's network, registered when this resolves (stopped by close). */
  addClient(endpoint: string, address: string, options?: Partial<LwM2mClientOptions>): Promise<LwM2mClient>;
  /** Resolves with the first logged event that passes `match`, or rejects after `ms`. */
  waitForEvent(match: (e: StoredEvent) => boolean, ms?: number): Promise<StoredEvent>;
  close(): Promise<void>;
}

export async function apiFixture(
  options: { rig?: ClientRigOptions; api?: Partial<ApiServerOptions> } = {},
): Promise<ApiFixture> {
  // The API exists before the client registers, so `registered` is in the event log.
  const rig = await clientRig({ ...options.rig, noStart: true });
  const tags = new MemoryTagStore();
  const events = new MemoryEventLog({ capacity: 1000 });
  let app: FastifyInstance | undefined;
  try {
    app = await createApiServer({
      server: rig.server,
      stores: { tags, events, kind: 'memory' },
      ...options.api,
    });
    if (!options.rig?.noStart) await rig.start();
  } catch (e) {
    await app?.close();
    await rig.close();
    throw e;
  }
  const api = app;
  const extra: LwM2mClient[] = [];
  return {
    rig,
    app: api,
    tags,
    events,
    async call(method, url, body, headers = {}) {
      const response = await api.inject({
        method,
        url,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      let json: unknown;
      try {
        json = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        json = undefined;
      }
      return { status: response.statusCode, json, response };
    },
    async addClient(endpoint, address, clientOptions = {}) {
      const client = new LwM2mClient({
        endpoint,
        servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300 }],
        model: rigModel,
        channel: clientOptions.channel ?? rig.network.channel(address, 56830),
        random: seededRandom(extra.length + 21),
        ...clientOptions,
      });
      extra.push(client);
      const registered = new Promise<void>((resolve) => {
        const listener = (reg: { endpoint: string }): void => {
          if (reg.endpoint !== endpoint) return;
          rig.server.off('registered', listener);
          resolve();
        };
        rig.server.on('registered', listener);
      });
      await client.start();
      await registered;
      return client;
    },
    waitForEvent(match, ms = 3000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error(`no matching event within ${ms} ms`));
        }, ms);
        const off = events.subscribe((e) => {
          if (!match(e)) return;
          clearTimeout(timer);
          off();
          resolve(e);
        });
        void events.recent({ limit: 1000 }).then((past) => {
          const hit = past.find(match);
          if (hit) {
            clearTimeout(timer);
            off();
            resolve(hit);
          }
        });
      });
    },
    async close() {
      await api.close();
      for (const c of extra) await c.stop().catch(() => undefined);
      await rig.close();
    },
  };
}
