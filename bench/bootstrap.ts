// Fleet onboarding through the Bootstrap-Server, in one process over the in-memory network: N
// empty clients (only a Bootstrap-Server account) bootstrap (Bootstrap-Request flow: Discover,
// Writes of /0 and /1, Finish; or one Bootstrap-Pack) and then register with the LwM2M server they
// were given, 32 at a time. The baseline is the same fleet registering directly (its account
// configured in advance), so the ratio is what bootstrapping adds to onboarding.
import { BootstrapServer } from '../src/bootstrap/bootstrap-server.js';
import { LwM2mClient } from '../src/client/lwm2m-client.js';
import { createDefaultRegistry } from '../src/model/object-registry.js';
import { LwM2mServer } from '../src/server/lwm2m-server.js';
import { MemoryBootstrapConfigStore } from '../src/store/memory-bootstrap-config-store.js';
import { MemoryNetwork } from '../src/transport/memory-channel.js';
import { newResult, writeResult } from './lib/report.js';

const FLEET = Number(process.env.PETREL_BENCH_FLEET ?? 400);
const CONCURRENCY = 32;
const DM = 'coap://10.0.0.1:5683';

type Mode = 'direct' | 'request' | 'pack';

/** Onboards the fleet in `mode`; devices registered per second. */
async function onboard(mode: Mode): Promise<number> {
  const model = createDefaultRegistry();
  const network = new MemoryNetwork();
  const configs = new MemoryBootstrapConfigStore();
  const dm = new LwM2mServer({ channel: network.channel('10.0.0.1', 5683), model });
  const bs = new BootstrapServer({ configs, channel: network.channel('10.0.0.5', 5783), model });
  await dm.start();
  await bs.start();
  const endpoint = (i: number): string => `urn:dev:bench-${i}`;
  for (let i = 0; i < FLEET; i++)
    await configs.put(endpoint(i), {
      servers: [{ shortServerId: 1, uri: DM, lifetime: 86_400, security: { mode: 'nosec' } }],
    });
  const clients: LwM2mClient[] = [];
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < FLEET; i = next++) {
          const client = new LwM2mClient({
            endpoint: endpoint(i),
            servers: mode === 'direct' ? [{ uri: DM, shortServerId: 1, lifetime: 86_400 }] : [],
            bootstrap: { server: { uri: 'coap://10.0.0.5:5783' }, packFirst: mode === 'pack' },
            model,
            channel: network.channel(`10.1.${i >> 8}.${i & 255}`, 56830),
          });
          clients.push(client);
          const registered = new Promise<void>((resolve) => client.once('registered', () => resolve()));
          await client.start();
          await registered;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    if (mode !== 'direct') {
      const ok = bs.sessions().filter((s) => s.outcome?.status === 'succeeded').length;
      if (ok < Math.min(FLEET, 100)) throw new Error(`only ${ok} bootstrap sessions succeeded`);
    }
    return FLEET / seconds;
  } finally {
    clearInterval(keepAlive);
    for (const c of clients) await c.stop().catch(() => undefined);
    await bs.stop();
    await dm.stop();
  }
}

export async function runBootstrapBench(): Promise<void> {
  const result = newResult('bootstrap');
  const direct = await onboard('direct');
  const request = await onboard('request');
  const pack = await onboard('pack');
  result.metrics.bootstrap_request_onboardings_per_s = { value: request, unit: 'devices/s' };
  result.metrics.bootstrap_pack_onboardings_per_s = { value: pack, unit: 'devices/s' };
  result.baselines['direct-registration'] = { registrations_per_s: { value: direct, unit: 'devices/s' } };
  result.ratios.request_vs_direct = request / direct;
  result.ratios.pack_vs_direct = pack / direct;
  result.ratios.pack_vs_request = pack / request;
  writeResult(result);
}
