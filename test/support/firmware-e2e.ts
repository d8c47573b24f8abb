// The rig of the firmware end-to-end tests (test/server/firmware/firmware-e2e*.test.ts): a real
// LwM2mServer with FirmwareCampaigns and a FirmwareDownloadService, and a real LwM2mClient with
// `firmware`, on 127.0.0.1 sockets. The LwM2M link runs over UDP, DTLS (PSK) or TCP; a UDP fault
// proxy process (udp-fault-proxy.ts) can sit under the datagram links and in front of the download
// service's datagram sides, a TCP proxy (firmware-e2e-tcp-proxy.ts) in front of the TCP ones.
// The client's store records every open and write, so a test can tell that each byte of the image
// reached it once and in order.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import type { FirmwareUpdateOptions } from '../../src/client/firmware/firmware-update-instance.js';
import type {
  FirmwareSnapshot,
  FirmwareStore,
  StoredImage,
} from '../../src/client/firmware/firmware-store.js';
import { MemoryFirmwareStore } from '../../src/client/firmware/firmware-store.js';
import { FileFirmwareStore } from '../../src/client/firmware/file-firmware-store.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { ServerConfig } from '../../src/client/lwm2m-client.js';
import { buildPackage } from '../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../src/firmware/package-verifier.js';
import { serverGateway } from '../../src/server/firmware/campaign-gateway.js';
import { FirmwareCampaigns } from '../../src/server/firmware/firmware-campaigns.js';
import type { CampaignReport, CampaignSpec } from '../../src/server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../../src/server/firmware/firmware-download-service.js';
import type { FirmwareDownloadServiceOptions } from '../../src/server/firmware/firmware-download-service.js';
import type { FirmwareRepository } from '../../src/server/firmware/firmware-repository.js';
import { MemoryFirmwareRepository } from '../../src/server/firmware/firmware-repository.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { startTcpProxy } from './firmware-e2e-tcp-proxy.js';
import type { TcpProxy } from './firmware-e2e-tcp-proxy.js';
import { startFaultProxy } from './udp-fault-proxy.js';
import type { FaultProxy } from './udp-fault-proxy.js';

export const LOOPBACK = '127.0.0.1';
/** Short timers, many retransmissions (as test/soak/lossy-network.test.ts): 30% loss each way. */
export const TRANSMISSION = { ackTimeout: 60, ackRandomFactor: 1.5, maxRetransmit: 16 };
export const FAULTS = { drop: 0.3, duplicate: 0.1, delay: { min: 0, max: 20 } };
/** DTLS flights retransmitted quickly too (the handshake crosses the same lossy proxy). */
export const DTLS_TIMING = { initialTimeout: 100, maxTimeout: 1600, handshakeTimeout: 30_000 };
export const DEVICE_CLASS = 'e2e-meter';
export const PSK_KEY = Buffer.from('5e1ec7ed00112233445566778899aabb', 'hex');

/** The vendor's release key, trusted by every device of the rig. */
export const RELEASE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** A deterministic image of `size` bytes. */
export const imageOf = (size: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed + (i >> 8)) & 0xff);

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A signed package of `image` for DEVICE_CLASS (or what `fields` say), by RELEASE_KEY unless `key`. */
export function packageOf(
  image: Uint8Array,
  fields: { version?: string; deviceClass?: string } = {},
  key = RELEASE_KEY.privateKey,
): Uint8Array {
  return buildPackage(
    image,
    { version: fields.version ?? '2.0.0', name: 'e2e-fw', deviceClass: fields.deviceClass ?? DEVICE_CLASS },
    key,
  );
}

export type StoreEvent =
  | { readonly op: 'open'; readonly offset: number; readonly kept: number }
  | { readonly op: 'write'; readonly at: number; readonly length: number }
  | { readonly op: 'close' | 'discard' };

/** A FirmwareStore that records what the /5 instance does to it. */
export class RecordingStore implements FirmwareStore {
  readonly events: StoreEvent[] = [];
  readonly inner: FirmwareStore;
  #position = 0;

  constructor(inner: FirmwareStore) {
    this.inner = inner;
  }

  get maxSize(): number {
    return this.inner.maxSize;
  }

  async open(offset: number): Promise<number> {
    const kept = await this.inner.open(offset);
    this.#position = kept;
    this.events.push({ op: 'open', offset, kept });
    return kept;
  }

  async write(chunk: Uint8Array): Promise<void> {
    const at = this.#position;
    await this.inner.write(chunk);
    this.#position += chunk.length;
    this.events.push({ op: 'write', at, length: chunk.length });
  }

  async close(): Promise<StoredImage> {
    const image = await this.inner.close();
    this.events.push({ op: 'close' });
    return image;
  }

  async discard(): Promise<void> {
    await this.inner.discard();
    this.events.push({ op: 'discard' });
  }

  image(): Promise<StoredImage | undefined> {
    return this.inner.image();
  }

  kept(): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
    return this.inner.kept?.() ?? [];
  }

  saveState(snapshot: FirmwareSnapshot | undefined): Promise<void> {
    return this.inner.saveState(snapshot);
  }

  loadState(): Promise<FirmwareSnapshot | undefined> {
    return this.inner.loadState();
  }

  /** The opens so far (offset asked, bytes kept). */
  opens(): { offset: number; kept: number }[] {
    return this.events.flatMap((e) => (e.op === 'open' ? [{ offset: e.offset, kept: e.kept }] : []));
  }
}

/**
 * Asserts the writes since the last open of `store` cover [kept, size) exactly once, in order:
 * no block was written twice, none skipped, none out of order.
 */
export function assertWrittenOnceInOrder(store: RecordingStore, size: number): void {
  const last = store.events.map((e) => e.op).lastIndexOf('open');
  assert.ok(last >= 0, 'the store was opened');
  const open = store.events[last] as Extract<StoreEvent, { op: 'open' }>;
  let at = open.kept;
  for (const e of store.events.slice(last + 1)) {
    if (e.op !== 'write') continue;
    assert.equal(e.at, at, `a write at ${e.at} where ${at} was next`);
    at += e.length;
  }
  assert.equal(at, size, `the writes end at ${at}, the image has ${size} bytes`);
}

/** The download service, with the URIs it hands out pointing at proxies in front of its sides. */
export class ProxiedDownloadService extends FirmwareDownloadService {
  /** Scheme → port devices are sent to instead of the one the side listens on. */
  readonly ports = new Map<string, number>();

  override uri(scheme: string, imageId: string, token: string): string | undefined {
    const uri = super.uri(scheme, imageId, token);
    const port = this.ports.get(scheme);
    if (uri === undefined || port === undefined) return uri;
    const u = new URL(uri);
    u.port = String(port);
    return u.href;
  }
}

/** Rejects when `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 20 ms for at most `ms`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export type Link = 'udp' | 'dtls' | 'tcp';

export interface FirmwareRigOptions {
  readonly link: Link;
  /** The UDP fault proxy under the LwM2M link (udp, dtls) and the download service's datagram sides. */
  readonly lossy?: boolean;
  /** A TCP proxy in front of the LwM2M server's TCP side and the download service's (link tcp). */
  readonly tcpProxy?: boolean;
  /** The download service's sides (default: udp only). */
  readonly downloads?: { readonly udp?: boolean; readonly tcp?: boolean; readonly coaps?: boolean };
  /** /5/0/8 of the device (default: every protocol it can fetch with). */
  readonly protocols?: readonly number[];
  /** A file store in this directory (default: a memory store). */
  readonly directory?: string;
  /** The repository (default a memory one). */
  readonly repository?: FirmwareRepository;
  readonly endpoint?: string;
  readonly seed?: number;
  /** Client pull settings. */
  readonly pull?: FirmwareUpdateOptions['pull'];
}

export interface FirmwareRig {
  readonly server: LwM2mServer;
  readonly campaigns: FirmwareCampaigns;
  readonly download: ProxiedDownloadService;
  readonly repository: FirmwareRepository;
  readonly endpoint: string;
  /** The client now (a restart replaces it). */
  client: LwM2mClient;
  /** The store of the client now. */
  store: RecordingStore;
  /** Digests of the images the client installed (from the store, at install time). */
  readonly installed: string[];
  /** The TCP proxies (tcpProxy): the LwM2M link, and the download service's TCP side. */
  readonly linkProxy: TcpProxy | undefined;
  readonly downloadProxy: TcpProxy | undefined;
  /** Datagrams the fault proxies dropped and duplicated so far, all together. */
  faults(): Promise<{ dropped: number; duplicated: number; forwarded: number }>;
  /** Campaign spec defaults of the rig (short polls and back-off). */
  campaign(spec: Pick<CampaignSpec, 'image'> & Partial<CampaignSpec>): Promise<CampaignReport>;
  /** Waits (bounded) for the campaign to end. */
  finished(id: string, ms: number): Promise<CampaignReport>;
  /** Stops the client and starts a new one on the same store directory; resolves once registered. */
  restartClient(): Promise<LwM2mClient>;
  close(): Promise<void>;
}

/** Starts the rig; resolves once the client is registered. */
export async function startFirmwareRig(options: FirmwareRigOptions): Promise<FirmwareRig> {
  const { link } = options;
  const endpoint = options.endpoint ?? `fw-e2e-${link}`;
  const identity = `${endpoint}-id`;
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint, psk: { identity, key: PSK_KEY.toString('hex') } });
  const lossy = options.lossy ?? false;
  const cleanups: (() => Promise<unknown>)[] = [];
  // Node 20 ends a test whose only pending work is unref'd timers: keep the loop alive.
  const keepAlive = setInterval(() => undefined, 1000);
  const close = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    clearInterval(keepAlive);
  };
  try {
    const server = new LwM2mServer({
      udp: { address: LOOPBACK, port: 0 },
      requestTimeout: 30_000,
      coap: { transmission: TRANSMISSION },
      ...(link === 'dtls'
        ? { coaps: { address: LOOPBACK, port: 0, credentials, dtls: { timing: DTLS_TIMING } } }
        : {}),
      ...(link === 'tcp' ? { tcp: { address: LOOPBACK, port: 0 } } : {}),
    });
    await server.start();
    cleanups.push(() => server.stop());

    const repository = options.repository ?? new MemoryFirmwareRepository();
    const sides = options.downloads ?? { udp: true };
    const serviceOptions: FirmwareDownloadServiceOptions = {
      repository,
      udp: sides.udp ? { address: LOOPBACK, port: 0 } : false,
      ...(sides.tcp ? { tcp: { address: LOOPBACK, port: 0 } } : {}),
      ...(sides.coaps
        ? { coaps: { address: LOOPBACK, port: 0, credentials, dtls: { timing: DTLS_TIMING } } }
        : {}),
    };
    const download = new ProxiedDownloadService(serviceOptions);
    await download.start();
    cleanups.push(() => download.stop());

    const faultProxies: FaultProxy[] = [];
    const faultProxy = async (port: number, seed: number): Promise<number> => {
      const proxy: FaultProxy = await startFaultProxy({
        upstream: { address: LOOPBACK, port },
        seed,
        ...FAULTS,
      });
      faultProxies.push(proxy);
      cleanups.push(() => proxy.close());
      return proxy.port;
    };
    const tcpProxy = async (port: number): Promise<TcpProxy> => {
      const proxy = await startTcpProxy({ address: LOOPBACK, port });
      cleanups.push(() => proxy.close());
      return proxy;
    };
    const seed = options.seed ?? 11;
    if (lossy && download.udpAddress)
      download.ports.set('coap', await faultProxy(download.udpAddress.port, seed + 1));
    if (lossy && download.coapsAddress)
      download.ports.set('coaps', await faultProxy(download.coapsAddress.port, seed + 2));
    let downloadProxy: TcpProxy | undefined;
    if (options.tcpProxy && download.tcpAddress) {
      downloadProxy = await tcpProxy(download.tcpAddress.port);
      download.ports.set('coap+tcp', downloadProxy.port);
    }

    const campaigns = new FirmwareCampaigns({ gateway: serverGateway(server), repository, download });
    cleanups.push(async () => {
      await campaigns.close();
    });

    // The LwM2M link, through a proxy when asked.
    const transport = link === 'udp' ? 'udp' : link === 'dtls' ? 'dtls' : 'tcp';
    const local = server.listening(transport);
    assert.ok(local, `the server listens on ${transport}`);
    let linkPort = local.port;
    let linkProxy: TcpProxy | undefined;
    if (lossy && link !== 'tcp') linkPort = await faultProxy(local.port, seed);
    if (options.tcpProxy && link === 'tcp') {
      linkProxy = await tcpProxy(local.port);
      linkPort = linkProxy.port;
    }
    const scheme = link === 'udp' ? 'coap' : link === 'dtls' ? 'coaps' : 'coap+tcp';
    const account: ServerConfig = {
      uri: `${scheme}://${LOOPBACK}:${linkPort}`,
      lifetime: 600,
      ...(link === 'dtls'
        ? { security: { securityMode: 0, publicKeyOrIdentity: identity, secretKey: PSK_KEY } }
        : {}),
    };

    const installed: string[] = [];
    const newStore = (): RecordingStore =>
      new RecordingStore(
        options.directory
          ? new FileFirmwareStore({ directory: options.directory })
          : new MemoryFirmwareStore({ maxSize: 1 << 20 }),
      );
    const newClient = (store: RecordingStore): LwM2mClient =>
      new LwM2mClient({
        endpoint,
        servers: [account],
        udp: { address: LOOPBACK, port: 0 },
        coap: { transmission: TRANSMISSION },
        dtls: { timing: DTLS_TIMING },
        device: { firmwareVersion: '1.0.0' },
        firmware: {
          application: {
            store,
            ...(options.protocols ? { protocols: options.protocols } : {}),
            install: async (image) => {
              const parts: Uint8Array[] = [];
              for await (const c of image.read()) parts.push(c);
              installed.push(sha256(Buffer.concat(parts)));
              return { ok: true };
            },
          },
          verifier: packageVerifier({
            trustAnchors: [RELEASE_KEY.publicKey],
            deviceClass: DEVICE_CLASS,
            requireSignature: true,
          }),
          pull: { blockSize: 1024, retries: 8, retryDelay: 100, timeout: 20_000, ...options.pull },
          reportFailures: false,
        },
      });
    const startClient = async (store: RecordingStore): Promise<LwM2mClient> => {
      const client = newClient(store);
      const registered = once(server, 'registered', { signal: AbortSignal.timeout(30_000) }) as Promise<
        [Registration]
      >;
      const accepted = once(client.registration, 'registered', { signal: AbortSignal.timeout(30_000) });
      await client.start();
      await registered;
      await accepted;
      return client;
    };

    let store = newStore();
    let client = await startClient(store);
    cleanups.push(() => rig.client.stop());

    const rig: FirmwareRig = {
      server,
      campaigns,
      download,
      repository,
      endpoint,
      client,
      store,
      installed,
      linkProxy,
      downloadProxy,
      faults: async () => {
        const total = { dropped: 0, duplicated: 0, forwarded: 0 };
        for (const p of faultProxies) {
          const s = await p.stats();
          total.dropped += s.dropped;
          total.duplicated += s.duplicated;
          total.forwarded += s.forwarded;
        }
        return total;
      },
      campaign: (spec) =>
        campaigns.create({
          targets: [endpoint],
          concurrency: 1,
          retries: 3,
          retryDelay: 200,
          pollInterval: 100,
          timeouts: { request: 30_000, download: 120_000, update: 30_000, wait: 30_000 },
          ...spec,
        }),
      finished: (id, ms) => within(campaigns.finished(id), ms, `campaign ${id}`),
      restartClient: async () => {
        await rig.client.stop();
        store = newStore();
        client = await startClient(store);
        rig.client = client;
        rig.store = store;
        return client;
      },
      close,
    };
    return rig;
  } catch (e) {
    await close();
    throw e;
  }
}
