// A LwM2mServer with real LwM2mClients that have /5 (the `firmware` option), a firmware repository,
// a download service and the campaign engine, all on one in-memory network.
import type {
  FirmwareApplication,
  InstallOutcome,
  UpdateDecision,
} from '../../../src/client/firmware/firmware-update-instance.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { StoredImage } from '../../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import { seededRandom } from '../../../src/random.js';
import { serverGateway } from '../../../src/server/firmware/campaign-gateway.js';
import { FirmwareCampaigns } from '../../../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { LwM2mServer } from '../../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../../src/server/lwm2m-server.js';
import { MemoryNetwork } from '../../../src/transport/memory-channel.js';

export const SERVER = '10.0.0.1';
export const DOWNLOADS = '10.0.0.5';

export const image = (size: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);

async function bytesOf(stored: StoredImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stored.read()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

export interface DeviceApp {
  readonly store: MemoryFirmwareStore;
  readonly installed: Uint8Array[];
  /** Answers of decide, in order (then accept). */
  readonly decisions: UpdateDecision[];
  /** The outcome of the next installs, in order (then success with version 2.0.0). */
  readonly outcomes: InstallOutcome[];
  readonly application: FirmwareApplication;
}

export function deviceApp(
  options: { protocols?: number[]; deliveryMethod?: 0 | 1 | 2; installMs?: number } = {},
): DeviceApp {
  const store = new MemoryFirmwareStore({ maxSize: 512 * 1024 });
  const installed: Uint8Array[] = [];
  const decisions: UpdateDecision[] = [];
  const outcomes: InstallOutcome[] = [];
  return {
    store,
    installed,
    decisions,
    outcomes,
    application: {
      store,
      ...(options.protocols ? { protocols: options.protocols } : {}),
      ...(options.deliveryMethod === undefined ? {} : { deliveryMethod: options.deliveryMethod }),
      decide: () => decisions.shift() ?? { action: 'accept' },
      install: async (stored) => {
        installed.push(await bytesOf(stored));
        await new Promise((r) => setTimeout(r, options.installMs ?? 80));
        return outcomes.shift() ?? { ok: true, version: '2.0.0' };
      },
    },
  };
}

export interface Fleet {
  readonly network: MemoryNetwork;
  readonly server: LwM2mServer;
  readonly repository: MemoryFirmwareRepository;
  readonly download: FirmwareDownloadService;
  readonly campaigns: FirmwareCampaigns;
  readonly apps: Map<string, DeviceApp>;
  readonly clients: Map<string, LwM2mClient>;
  addDevice(
    endpoint: string,
    app?: DeviceApp,
    maxDeferPeriod?: number,
    queueMode?: boolean,
  ): Promise<LwM2mClient>;
  close(): Promise<void>;
}

export async function startFleet(serverOptions: Partial<LwM2mServerOptions> = {}): Promise<Fleet> {
  const network = new MemoryNetwork();
  const server = new LwM2mServer({
    channel: network.channel(SERVER, 5683),
    random: seededRandom(5),
    requestTimeout: 3000,
    ...serverOptions,
  });
  await server.start();
  const repository = new MemoryFirmwareRepository();
  const download = new FirmwareDownloadService({
    repository,
    channel: network.channel(DOWNLOADS, 5685),
    publicHost: DOWNLOADS,
  });
  await download.start();
  const campaigns = new FirmwareCampaigns({ gateway: serverGateway(server), repository, download });
  const apps = new Map<string, DeviceApp>();
  const clients = new Map<string, LwM2mClient>();
  // Timers of the system clock are unref'd and a memory network holds no socket.
  const keepAlive = setInterval(() => undefined, 1000);
  return {
    network,
    server,
    repository,
    download,
    campaigns,
    apps,
    clients,
    async addDevice(endpoint, app = deviceApp(), maxDeferPeriod, queueMode = false) {
      const client = new LwM2mClient({
        endpoint,
        servers: [{ uri: `coap://${SERVER}:5683`, lifetime: 300, queueMode }],
        channel: network.channel(`10.0.1.${clients.size + 2}`, 56830),
        random: seededRandom(clients.size + 21),
        device: { firmwareVersion: '1.0.0' },
        firmware: {
          application: app.application,
          pull: { retryDelay: 20, timeout: 500 },
          ...(maxDeferPeriod === undefined ? {} : { maxDeferPeriod }),
        },
      });
      apps.set(endpoint, app);
      clients.set(endpoint, client);
      const registered = new Promise<void>((resolve) => {
        const listener = (reg: { endpoint: string }): void => {
          if (reg.endpoint !== endpoint) return;
          server.off('registered', listener);
          resolve();
        };
        server.on('registered', listener);
      });
      await client.start();
      await registered;
      return client;
    },
    async close() {
      await campaigns.close();
      for (const c of clients.values()) await c.stop().catch(() => undefined);
      await download.stop();
      await server.stop();
      clearInterval(keepAlive);
    },
  };
}
