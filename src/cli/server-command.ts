import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { startApiServer } from '../api/api-server.js';
import type { RunningApiServer } from '../api/api-server.js';
import type { ServerSecurityInfo } from '../api/api-context.js';
import { createCoapServerBinding } from '../binding/coap/coap-server-binding.js';
import { BootstrapServer } from '../bootstrap/bootstrap-server.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import { DtlsChannel } from '../dtls/dtls-channel.js';
import { credentialPskLookup } from '../server/credential-psk-lookup.js';
import { devicePeerVerifier } from '../server/device-peer-verifier.js';
import { UdpChannel } from '../transport/udp-channel.js';
import type { BootstrapSessionRecord } from '../bootstrap/bootstrap-server.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mServer } from '../server/lwm2m-server.js';
import { openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import type { Registration } from '../server/registration.js';
import { addServerOptions, resolveServerConfig, serverConfigWarnings } from './config.js';
import type { ServerConfig } from './config.js';
import { startFleet } from './fleet.js';
import type { Fleet } from './fleet.js';
import { ChannelError, describePeer } from '../transport/channel.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import { loadServerDtlsIdentity, type ServerDtlsIdentity } from './server-dtls-identity.js';
import { TEMPERATURE_DEFINITION } from './simulated-device.js';
import { waitForSignal } from './signals.js';
import { CliError, type CliIo } from './io.js';

function describe(reg: Registration): string {
  const objects = reg.objects.map((o) => (o.version ? `${o.id}@${o.version}` : `${o.id}`)).join(',');
  return (
    `ep=${reg.endpoint} id=${reg.id} lwm2m=${reg.lwm2mVersion} lt=${reg.lifetime} b=${reg.binding}` +
    `${reg.queueMode ? ' Q' : ''} from ${reg.peer.address}:${reg.peer.port} objects=${objects || '-'}`
  );
}

/** How many simulated devices `--demo` starts. */
export const DEMO_DEVICES = 3;

/**
 * The built web UI: dist/web beside the compiled CLI (dist/cli), or, when the CLI runs from
 * src/ through tsx, the repository's dist/web.
 */
export function packagedWebRoot(): string | undefined {
  for (const candidate of ['../web/', '../../dist/web/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/** A URL a person can open: a wildcard address becomes the loopback one. */
function reachableHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * `petrel server`: the LwM2M server on CoAP/UDP with its REST API and web UI on HTTP, its state
 * in a store (SQLite by default), logging what clients do until SIGINT/SIGTERM (or the injected
 * shutdown). `--demo` adds a few simulated devices in the same process.
 */
export function serverCommand(io: CliIo): Command {
  return addServerOptions(
    new Command('server').description(
      'run a LwM2M 1.2 server (CoAP over UDP, and DTLS with --coaps-port) with its REST API and web UI, and log what clients do',
    ),
  ).action(async (_opts: unknown, cmd: Command) => {
    const config = resolveServerConfig(cmd, process.env);
    for (const warning of serverConfigWarnings(config)) io.stderr(`petrel: warning: ${warning}\n`);
    const model = createDefaultRegistry();
    for (const dir of config.models) {
      try {
        const loaded = model.loadDirectory(dir, { onInvalid: 'skip' });
        io.stderr(
          `petrel: loaded ${loaded.definitions.length} object definitions from ${dir}` +
            `${loaded.skipped.length > 0 ? ` (${loaded.skipped.length} files skipped)` : ''}\n`,
        );
      } catch (e) {
        throw new CliError(`cannot load models from ${dir}: ${(e as Error).message}`, 1);
      }
    }
    // The IPSO temperature sensor the simulated devices carry: named in the UI unless a models
    // folder brought its own definition.
    if (!model.object(TEMPERATURE_DEFINITION.id)) model.add(TEMPERATURE_DEFINITION);
    let dtls: ServerDtlsIdentity | undefined;
    try {
      if (config.coapsPort !== undefined || config.bootstrapCoapsPort !== undefined)
        dtls = loadServerDtlsIdentity(config);
    } catch (e) {
      throw new CliError(`cannot set up coaps://: ${(e as Error).message}`, 1);
    }
    let stores: Stores;
    try {
      stores = await openStores(config.store);
    } catch (e) {
      throw new CliError(`cannot open the store ${config.store}: ${(e as Error).message}`, 1);
    }
    const server = new LwM2mServer({
      udp: { address: config.address, port: config.coapPort },
      model,
      lifetimeGrace: config.lifetimeGrace,
      store: stores.registrations,
      observationStore: stores.observations,
      ...(config.coapsPort === undefined
        ? {}
        : {
            coaps: {
              address: config.address,
              port: config.coapsPort,
              credentials: stores.credentials,
              ...(config.pskHint === undefined ? {} : { hint: config.pskHint }),
              ...(dtls?.certificate === undefined ? {} : { certificate: dtls.certificate }),
              trustAnchors: dtls?.trustAnchors ?? [],
              refuseNoSec: config.secureOnly,
              ...(config.coapsCidLength === undefined
                ? {}
                : { dtls: { connectionIdLength: config.coapsCidLength } }),
            },
          }),
    });
    const log = (event: string, text: string, data: Record<string, unknown>): void => {
      io.stdout(
        config.json
          ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n`
          : `${event} ${text}\n`,
      );
    };
    logServerEvents(server, log);
    // The Bootstrap-Server shares the stores: configurations PUT through the API, and the
    // credentials for the ep-vs-identity check.
    let bootstrap: BootstrapServer | undefined;
    let bootstrapDtls: DtlsChannel | undefined;
    try {
      if (config.bootstrapCoapsPort !== undefined)
        bootstrapDtls = await bootstrapDtlsChannel(config, config.bootstrapCoapsPort, stores, dtls, (e) =>
          io.stderr(`petrel: bootstrap credential lookup failed: ${(e as Error).message}\n`),
        );
    } catch (e) {
      await stores.close().catch(() => undefined);
      throw new CliError(`cannot start the bootstrap server: ${(e as Error).message}`, 1);
    }
    const secure =
      bootstrapDtls === undefined
        ? undefined
        : createCoapServerBinding({ channel: bootstrapDtls, codecs: createCodecRegistry(), model });
    if (config.bootstrapPort !== undefined || secure !== undefined)
      bootstrap = new BootstrapServer({
        configs: stores.bootstrapConfigs,
        credentials: stores.credentials,
        model,
        // Without a plain port the DTLS binding is the only one (no UDP channel of its own).
        ...(config.bootstrapPort === undefined
          ? { binding: secure! }
          : {
              udp: { address: config.address, port: config.bootstrapPort },
              ...(secure === undefined ? {} : { bindings: [secure] }),
            }),
      });
    if (bootstrap) {
      bootstrap.on('session-finished', (s) => log('bootstrap', describeSession(s), { ...s }));
      bootstrap.on('error', (e) => io.stderr(`petrel: bootstrap: ${e.message}\n`));
    }
    // Failed handshakes come from outside, one per bad datagram at worst: rate-limited per kind.
    const errors = new LogRateLimiter((line) => io.stderr(`petrel: ${line}\n`));
    server.on('error', (e) => {
      if (e instanceof ChannelError && e.peer !== undefined)
        errors.log(e.code, `${e.message} (peer ${describePeer(e.peer)})`);
      else io.stderr(`petrel: ${e.message}\n`);
    });
    bootstrapDtls?.onError((e) => {
      if (e instanceof ChannelError && e.peer !== undefined)
        errors.log(e.code, `bootstrap: ${e.message} (peer ${describePeer(e.peer)})`);
      else io.stderr(`petrel: bootstrap: ${e instanceof Error ? e.message : String(e)}\n`);
    });
    // Listen for the stop signal before announcing anything: a supervisor that reacts to the
    // "listening" line must not be able to kill the process before the handler exists.
    const shutdown = (io.shutdown ?? waitForSignal)();
    let api: RunningApiServer | undefined;
    let fleet: Fleet | undefined;
    const release = async (): Promise<void> => {
      await fleet?.stop().catch(() => undefined);
      await api?.close().catch(() => undefined);
      await bootstrap?.stop().catch(() => undefined);
      // Closed with the bootstrap server once it started; a failed start leaves it open.
      await bootstrapDtls?.close().catch(() => undefined);
      await server.stop().catch(() => undefined);
      await stores.close().catch(() => undefined);
    };
    try {
      await server.start();
      await bootstrap?.start();
      api = await startHttp(config, server, stores, model, dtls?.view, bootstrap);
    } catch (e) {
      await release();
      throw new CliError(`cannot start the server: ${(e as Error).message}`, 1);
    }
    const coap = server.address;
    const coapPort = coap?.port ?? config.coapPort;
    log('listening', `coap://${coap?.address ?? config.address}:${coapPort}`, {
      address: coap?.address,
      port: coapPort,
      store: config.store,
    });
    const coaps = server.secureAddress;
    if (coaps) {
      const modes = dtlsModes(dtls);
      log('listening', `coaps://${coaps.address}:${coaps.port} (DTLS: ${modes.join(', ')})`, {
        address: coaps.address,
        port: coaps.port,
        secure: true,
        modes,
      });
    }
    const bs = bootstrap?.address;
    if (bs)
      log('listening', `bootstrap coap://${bs.address}:${bs.port}`, {
        address: bs.address,
        port: bs.port,
        bootstrap: true,
      });
    const bsSecure = bootstrapDtls?.local;
    if (bsSecure)
      log(
        'listening',
        `bootstrap coaps://${bsSecure.address}:${bsSecure.port} (DTLS: ${dtlsModes(dtls).join(', ')})`,
        {
          address: bsSecure.address,
          port: bsSecure.port,
          bootstrap: true,
          secure: true,
          modes: dtlsModes(dtls),
        },
      );
    const url = `http://${reachableHost(api.address)}:${api.port}/`;
    log('http', `${url} (web UI; REST API at ${url}api, reference at ${url}api/docs)`, {
      url,
      address: api.address,
      port: api.port,
    });
    if (config.demo) {
      fleet = await startFleet({
        count: DEMO_DEVICES,
        server: `coap://${reachableHost(coap?.address ?? config.address)}:${coapPort}`,
        prefix: 'demo-',
        interval: 2,
        registrationTimeout: 10_000,
      });
      log('demo', `${fleet.registered} simulated devices (demo-1..demo-${DEMO_DEVICES})`, {
        devices: fleet.devices.map((d) => d.endpoint),
        registered: fleet.registered,
      });
    }
    await shutdown;
    await release();
    log('stopped', '', {});
  });
}

type Log = (event: string, text: string, data: Record<string, unknown>) => void;

/** The kinds of device credentials a DTLS side accepts with this identity. */
function dtlsModes(dtls: ServerDtlsIdentity | undefined): string[] {
  const modes = ['PSK'];
  if (dtls?.certificate) modes.push('RPK');
  if (dtls?.certificate && dtls.trustAnchors.length > 0) modes.push('X.509');
  return modes;
}

/**
 * The Bootstrap-Server's DTLS channel: PSKs from the store's credentials (the device's bootstrap
 * PSK is the one `PUT /api/security/clients/{ep}` set), and the --coaps-key identity for RPK and
 * X.509 devices, as on the LwM2M server's coaps:// side.
 */
async function bootstrapDtlsChannel(
  config: ServerConfig,
  port: number,
  stores: Stores,
  dtls: ServerDtlsIdentity | undefined,
  onError: (e: unknown) => void,
): Promise<DtlsChannel> {
  const inner = await UdpChannel.open({ address: config.address, port });
  return DtlsChannel.server({
    channel: inner,
    ...(config.coapsCidLength === undefined ? {} : { connectionIdLength: config.coapsCidLength }),
    psk: credentialPskLookup(stores.credentials, onError),
    ...(config.pskHint === undefined ? {} : { hint: config.pskHint }),
    ...(dtls?.certificate === undefined
      ? {}
      : { certificate: dtls.certificate, verifyPeer: devicePeerVerifier(dtls.trustAnchors) }),
  });
}

/** `ep=dev succeeded`, or `ep=dev failed at bootstrap-write /1/0: 4.00 (…)`. */
export function describeSession(s: BootstrapSessionRecord): string {
  const kind = s.kind === 'pack' ? ' (pack)' : '';
  const o = s.outcome;
  if (o === undefined) return `ep=${s.endpoint}${kind} running`;
  if (o.status === 'succeeded') return `ep=${s.endpoint}${kind} succeeded`;
  const at = o.operation === undefined ? '' : ` at ${o.operation}${o.path === undefined ? '' : ` ${o.path}`}`;
  return `ep=${s.endpoint}${kind} failed${at}: ${o.code ?? o.reason} (${o.message})`;
}

function logServerEvents(server: LwM2mServer, log: Log): void {
  const regData = (r: Registration): Record<string, unknown> => ({
    endpoint: r.endpoint,
    id: r.id,
    lwm2m: r.lwm2mVersion,
    lifetime: r.lifetime,
    binding: r.binding,
    queueMode: r.queueMode,
    peer: `${r.peer.address}:${r.peer.port}`,
    objects: r.objects.map((o) => o.id),
  });
  server.on('registered', (r) => log('registered', describe(r), regData(r)));
  server.on('updated', (r) => log('updated', describe(r), regData(r)));
  server.on('deregistered', (r) => log('deregistered', `ep=${r.endpoint}`, { endpoint: r.endpoint }));
  server.on('expired', (r) => log('expired', `ep=${r.endpoint}`, { endpoint: r.endpoint }));
  server.on('send', (e) =>
    log('send', `ep=${e.registration.endpoint} ${JSON.stringify(e.result.values)}`, {
      endpoint: e.registration.endpoint,
      values: e.result.values,
    }),
  );
  server.on('uplink', (e) => {
    if (e.code.startsWith('2.')) return;
    log('refused', `${e.operation ?? 'request'} from ${e.peer}: ${e.code} ${e.diagnostic ?? ''}`.trimEnd(), {
      ...e,
    });
  });
}

function startHttp(
  config: ServerConfig,
  server: LwM2mServer,
  stores: Stores,
  model: ReturnType<typeof createDefaultRegistry>,
  serverSecurity: ServerSecurityInfo | undefined,
  bootstrap: BootstrapServer | undefined,
): Promise<RunningApiServer> {
  const webRoot = config.webRoot ?? packagedWebRoot();
  return startApiServer({
    server,
    stores,
    model,
    address: config.httpAddress,
    port: config.httpPort,
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.cors.length > 0 ? { cors: config.cors } : {}),
    ...(webRoot === undefined ? {} : { webRoot }),
    ...(serverSecurity === undefined ? {} : { serverSecurity }),
    ...(bootstrap === undefined ? {} : { bootstrap }),
  });
}
