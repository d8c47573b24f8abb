// The REST API over real HTTP (127.0.0.1, keep-alive, 32 requests in flight) in front of a real
// server and 32 real clients joined by the in-memory network, each request to the next client
// (one client alone would serialise everything behind CoAP's NSTART = 1): a Read through the API
// against the same Reads through LwM2mServer's own API (the baseline: what HTTP, routing, schemas,
// JSON and the event recorder add), and the client list (one page of 50) with 10,000
// registrations in the memory store.
import { Agent, request } from 'node:http';
import { startApiServer } from '../src/api/api-server.js';
import { LwM2mClient } from '../src/client/lwm2m-client.js';
import { MemoryInstance } from '../src/client/instance.js';
import { TEMPERATURE_DEFINITION } from '../src/cli/simulated-device.js';
import { createDefaultRegistry } from '../src/model/object-registry.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { Registration } from '../src/server/registration.js';
import { openStores } from '../src/store/open-stores.js';
import { MemoryNetwork } from '../src/transport/memory-channel.js';
import { newResult, writeResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 2000);
const CONCURRENCY = 32;
const FLEET = 10_000;

async function rate(op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await op();
        n++;
      }
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

function httpGet(agent: Agent, port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function fakeRegistration(i: number): Registration {
  return {
    id: `f${i.toString(36).padStart(9, '0')}`,
    endpoint: `urn:dev:fleet-${String(i).padStart(5, '0')}`,
    lwm2mVersion: '1.2',
    binding: 'U',
    queueMode: false,
    lifetime: 86_400,
    sms: undefined,
    profileIds: [],
    objectLinks: [{ target: '/3/0', params: [] }],
    objects: [{ id: 3, version: undefined, instances: [0] }],
    alternatePath: undefined,
    contentFormats: undefined,
    peer: { address: '192.0.2.9', port: 10_000 + i },
    transport: 'udp',
    registeredAt: Date.now(),
    lastUpdateAt: Date.now(),
    expiresAt: Date.now() + 86_400_000,
    extraParameters: {},
  };
}

export async function runApiBench(): Promise<void> {
  const result = newResult('api');
  const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION);
  const network = new MemoryNetwork();
  const stores = await openStores('memory');
  const server = new LwM2mServer({
    channel: network.channel('10.0.0.1', 5683),
    model,
    store: stores.registrations,
    observationStore: stores.observations,
  });
  await server.start();
  const api = await startApiServer({ server, stores, model, port: 0 });
  const clients = Array.from(
    { length: CONCURRENCY },
    (_, i) =>
      new LwM2mClient({
        endpoint: `bench-${i}`,
        servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 86_400 }],
        model,
        channel: network.channel(`10.0.1.${i + 1}`, 56830),
        instances: [new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5).set(5701, 'Cel')],
      }),
  );
  const keepAlive = setInterval(() => undefined, 1000);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const endpoint = (): string => `bench-${next++ % CONCURRENCY}`;
  try {
    let registered = 0;
    const all = new Promise<void>((resolve) =>
      server.on('registered', () => {
        if (++registered === CONCURRENCY) resolve();
      }),
    );
    for (const c of clients) await c.start();
    await all;
    const direct = await rate(() => server.read(endpoint(), '/3303/0/5700'));
    const viaApi = await rate(() => httpGet(agent, api.port, `/api/clients/${endpoint()}/3303/0/5700`));
    result.metrics.api_reads_per_s = { value: viaApi, unit: 'req/s' };
    result.baselines['server-api-direct'] = { reads_per_s: { value: direct, unit: 'req/s' } };
    result.ratios.api_reads_vs_direct = viaApi / direct;

    for (let i = 0; i < FLEET; i++) await stores.registrations.put(fakeRegistration(i));
    const list = await rate(() => httpGet(agent, api.port, '/api/clients?limit=50&offset=5000'));
    result.metrics.client_list_page_per_s_10k = { value: list, unit: 'req/s' };
    result.metrics.client_list_page_ms_10k = { value: 1000 / (list / CONCURRENCY), unit: 'ms' };
  } finally {
    clearInterval(keepAlive);
    agent.destroy();
    for (const c of clients) await c.stop().catch(() => undefined);
    await api.close();
    await server.stop();
    await stores.close();
  }
  writeResult(result);
}
