import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { startApiServer } from '../api/api-server.js';
import type { RunningApiServer } from '../api/api-server.js';
import type { ServerSecurityInfo } from '../api/api-context.js';
import type { BootstrapServer } from '../bootstrap/bootstrap-server.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { LwM2mServer, NotificationDecodeError } from '../server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../server/lwm2m-server.js';
import type { Stores } from '../store/stores.js';
import type { Registration } from '../server/registration.js';
import {
  ConfigError,
  SERVER_DEFAULTS,
  addServerOptions,
  resolveServerConfig,
  serverConfigWarnings,
  settingOrigin,
} from './config.js';
import type { ServerConfig, ServerSettings } from './config.js';
import { startFleet } from './fleet.js';
import type { Fleet } from './fleet.js';
import { ChannelError, describePeer } from '../transport/channel.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import {
  dtlsModes,
  lineLog,
  logStreamListening,
  openBootstrapRunner,
  openStoresOrExit,
} from './bootstrap-runner.js';
import type { BootstrapRunner, Log } from './bootstrap-runner.js';
import { dtlsIdentityFor } from './server-dtls-identity.js';
import { TEMPERATURE_DEFINITION } from './simulated-device.js';
import { waitForSignal } from './signals.js';
import { CliError, type CliIo } from './io.js';
import { watchCredentialWrites } from '../server/psk-cache.js';
import { startEmbeddedBroker } from '../binding/mqtt/embedded-broker.js';
import type { FirmwareApi } from '../api/firmware-routes.js';
import { serverGateway } from '../server/firmware/campaign-gateway.js';
import { DirectoryCampaignStore } from '../server/firmware/campaign-store.js';
import { FirmwareCampaigns } from '../server/firmware/firmware-campaigns.js';
import { FirmwareDownloadService } from '../server/firmware/firmware-download-service.js';
import { DirectoryFirmwareRepository } from '../server/firmware/firmware-repository.js';

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
export function reachableHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '[::1]';
  return address.includes(':') ? `[${address}]` : address;
}

/**
 * `--firmware-dir`, `--firmware-port`, `--firmware-coaps-port`, `--firmware-host`: firmware
 * repository, downloads, campaigns.
 */
function firmwareOptions(cmd: Command): Command {
  return cmd
    .option(
      '--firmware-dir <dir>',
      'keep firmware images in <dir> and run the download service and campaigns (/api/firmware; docs/firmware-server.md)',
    )
    .option('--firmware-port <port>', 'UDP port of the firmware download service (coap://…/fw/<id>)', '5685')
    .option(
      '--firmware-coaps-port <port>',
      'also serve firmware downloads over DTLS (coaps://…/fw/<id>) with the coaps:// side’s credentials',
    )
    .option('--firmware-host <host>', 'host name or address devices reach the download service at');
}

/** `--notification-rate`'s default: far above what pmin/pmax let a constrained device send. */
export const DEFAULT_NOTIFICATION_RATE = SERVER_DEFAULTS.notificationRate;

/**
 * The `notificationRateLimit` (docs/security.md) the notification settings ask for; undefined
 * when the rate is 0 (no limit). A burst or a cancel-after without a rate is refused, naming the
 * flag, variable or file key that set it (`sources`; flags when absent).
 */
export function notificationRateLimitOf(
  settings: Pick<ServerSettings, 'notificationRate' | 'notificationBurst' | 'notificationCancelAfter'> &
    Partial<Pick<ServerConfig, 'sources' | 'configFile'>>,
): LwM2mServerOptions['notificationRateLimit'] {
  const { notificationRate: rate, notificationBurst: burst, notificationCancelAfter: cancelAfter } = settings;
  if (rate === 0) {
    const set = (['notificationBurst', 'notificationCancelAfter'] as const).filter(
      (name) => settings[name] !== undefined,
    );
    if (set.length > 0)
      throw new ConfigError(
        set.map((name) => settingOrigin(settings, name)).join(' and '),
        `need${set.length === 1 ? 's' : ''} a --notification-rate above 0 ` +
          `(${settingOrigin(settings, 'notificationRate')} is 0: no limit)`,
      );
    return undefined;
  }
  return {
    rate,
    ...(burst === undefined ? {} : { burst }),
    ...(cancelAfter === undefined ? {} : { cancelAfter }),
  };
}

/**
 * `petrel server`: the LwM2M server on CoAP/UDP with its REST API and web UI on HTTP, its state
 * in a store (SQLite by default), logging what clients do until SIGINT/SIGTERM (or the injected
 * shutdown). `--demo` adds a few simulated devices in the same process.
 */
export function serverCommand(io: CliIo): Command {
  return addServerOptions(
    firmwareOptions(
      new Command('server').description(
        'run a LwM2M 1.2 server (CoAP over UDP; DTLS, TCP, TLS and MQTT with --coaps-port, --tcp-port, --tls-port, --mqtt) with its REST API and web UI, and log what clients do',
      ),
    ),
  ).action(async (_opts: unknown, cmd: Command) => {
    const config = resolveServerConfig(cmd, process.env);
    const fwOpts = cmd.opts<{
      firmwareDir?: string;
      firmwarePort: string;
      firmwareCoapsPort?: string;
      firmwareHost?: string;
    }>();
    const firmwarePort = Number(fwOpts.firmwarePort);
    if (!Number.isInteger(firmwarePort) || firmwarePort < 0 || firmwarePort > 65535)
      throw new CliError(`--firmware-port ${fwOpts.firmwarePort}: expected 0 .. 65535`);
    const firmwareCoapsPort =
      fwOpts.firmwareCoapsPort === undefined ? undefined : Number(fwOpts.firmwareCoapsPort);
    if (
      firmwareCoapsPort !== undefined &&
      (!Number.isInteger(firmwareCoapsPort) || firmwareCoapsPort < 0 || firmwareCoapsPort > 65535)
    )
      throw new CliError(`--firmware-coaps-port ${fwOpts.firmwareCoapsPort}: expected 0 .. 65535`);
    const notificationRateLimit = notificationRateLimitOf(config);
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
    const dtls = dtlsIdentityFor(
      config,
      config.coapsPort !== undefined ||
        config.bootstrapCoapsPort !== undefined ||
        config.tlsPort !== undefined ||
        (fwOpts.firmwareDir !== undefined && firmwareCoapsPort !== undefined),
    );
    const stores = await openStoresOrExit(config.store);
    // --mqtt embedded: a broker in this process (aedes, MQTT 3.1.1) for devices on the MQTT binding.
    let broker: { url: string; close(): Promise<void> } | undefined;
    if (config.mqtt === 'embedded') {
      try {
        broker = await startEmbeddedBroker({ address: config.address, port: config.mqttPort ?? 1883 });
      } catch (e) {
        await stores.close().catch(() => undefined);
        throw new CliError(`cannot start the embedded MQTT broker: ${(e as Error).message}`, 1);
      }
    }
    // The server's own session reaches an embedded broker on a wildcard address over loopback.
    const mqttUrl = broker
      ? broker.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:')
      : config.mqtt;
    const server = new LwM2mServer({
      udp: { address: config.address, port: config.coapPort },
      model,
      lifetimeGrace: config.lifetimeGrace,
      ...(config.peerRate > 0
        ? {
            peerRateLimit: {
              rate: config.peerRate,
              ...(config.peerBurst === undefined ? {} : { burst: config.peerBurst }),
            },
          }
        : {}),
      ...(notificationRateLimit ? { notificationRateLimit } : {}),
      store: stores.registrations,
      observationStore: stores.observations,
      // A server restarting on a million stored registrations serves at once (docs/server.md).
      restore: 'background',
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
      ...(config.tcpPort === undefined ? {} : { tcp: { address: config.address, port: config.tcpPort } }),
      ...(config.tlsPort === undefined
        ? {}
        : {
            tls: {
              address: config.address,
              port: config.tlsPort,
              credentials: stores.credentials,
              ...(config.pskHint === undefined ? {} : { hint: config.pskHint }),
              ...(dtls?.certificate?.certificateChain ? { certificate: dtls.certificate } : {}),
              trustAnchors: dtls?.trustAnchors ?? [],
            },
          }),
      ...(mqttUrl === undefined
        ? {}
        : {
            mqtt: {
              url: mqttUrl,
              ...(config.mqttPrefix === undefined ? {} : { prefix: config.mqttPrefix }),
            },
          }),
    });
    const log = lineLog((text) => io.stdout(text), config.json);
    logServerEvents(server, log);
    // Failed handshakes and undecodable notifications come from outside, one per bad datagram at
    // worst: rate-limited per kind.
    const errors = new LogRateLimiter((line) => io.stderr(`petrel: ${line}\n`));
    server.on('error', (e) => {
      if (e instanceof ChannelError && e.peer !== undefined)
        errors.log(e.code, `${e.message} (peer ${describePeer(e.peer)})`);
      // A device can send a bad notification as often as its notification rate allows: per device.
      else if (e instanceof NotificationDecodeError) errors.log(`${e.code} ${e.endpoint}`, e.message);
      else io.stderr(`petrel: ${e.message}\n`);
    });
    // The Bootstrap-Server shares the stores: configurations PUT through the API, and the
    // credentials for the ep-vs-identity check.
    let bootstrap: BootstrapRunner | undefined;
    try {
      bootstrap = await openBootstrapRunner({
        address: config.address,
        port: config.bootstrapPort,
        coapsPort: config.bootstrapCoapsPort,
        // The MQTT binding's bs topics on the same broker, when a Bootstrap-Server runs.
        ...(mqttUrl !== undefined &&
        (config.bootstrapPort !== undefined || config.bootstrapCoapsPort !== undefined)
          ? { mqtt: mqttUrl, mqttPrefix: config.mqttPrefix }
          : {}),
        pskHint: config.pskHint,
        coapsCidLength: config.coapsCidLength,
        identity: dtls,
        stores,
        model,
        log,
        warn: (line) => io.stderr(`petrel: ${line}\n`),
        handshakeErrors: errors,
      });
    } catch (e) {
      await stores.close().catch(() => undefined);
      throw new CliError(`cannot start the bootstrap server: ${(e as Error).message}`, 1);
    }
    // Listen for the stop signal before announcing anything: a supervisor that reacts to the
    // "listening" line must not be able to kill the process before the handler exists.
    const shutdown = (io.shutdown ?? waitForSignal)();
    let api: RunningApiServer | undefined;
    let fleet: Fleet | undefined;
    let firmware: (FirmwareApi & { download: FirmwareDownloadService }) | undefined;
    const release = async (): Promise<void> => {
      await fleet?.stop().catch(() => undefined);
      await firmware?.campaigns.close().catch(() => undefined);
      await firmware?.download.stop().catch(() => undefined);
      await api?.close().catch(() => undefined);
      await bootstrap?.stop();
      await server.stop().catch(() => undefined);
      await broker?.close().catch(() => undefined);
      await stores.close().catch(() => undefined);
    };
    try {
      await server.start();
      await bootstrap?.start();
      // Credentials written through the API reach the TLS side's PSK cache at once.
      const watched = {
        ...stores,
        credentials: watchCredentialWrites(
          stores.credentials,
          (ids) => void server.refreshPskIdentities(ids),
        ),
      };
      if (fwOpts.firmwareDir !== undefined) {
        // --firmware-dir: the repository, the download service devices pull from, and campaigns.
        const repository = new DirectoryFirmwareRepository(fwOpts.firmwareDir);
        await repository.list();
        const download = new FirmwareDownloadService({
          repository,
          udp: { address: config.address, port: firmwarePort },
          ...(fwOpts.firmwareHost === undefined ? {} : { publicHost: fwOpts.firmwareHost }),
          // coaps:// with the LwM2M server's own DTLS identity and credential store.
          ...(firmwareCoapsPort === undefined
            ? {}
            : {
                coaps: {
                  address: config.address,
                  port: firmwareCoapsPort,
                  credentials: stores.credentials,
                  ...(config.pskHint === undefined ? {} : { hint: config.pskHint }),
                  ...(dtls?.certificate === undefined ? {} : { certificate: dtls.certificate }),
                  trustAnchors: dtls?.trustAnchors ?? [],
                },
              }),
        });
        // Campaigns are kept beside the images and go on after a restart (docs/firmware-server.md).
        const campaigns = new FirmwareCampaigns({
          gateway: serverGateway(server),
          repository,
          download,
          tags: stores.tags,
          store: new DirectoryCampaignStore(join(fwOpts.firmwareDir, 'campaigns'), {
            onSkip: (file, reason) =>
              io.stderr(`petrel: warning: campaign file ${file} skipped: ${reason}\n`),
          }),
        });
        firmware = { repository, download, campaigns };
        await download.start();
      }
      api = await startHttp(config, server, watched, model, dtls?.view, bootstrap?.server, firmware);
      if (firmware) {
        firmware.download.httpBase = `http://${fwOpts.firmwareHost ?? reachableHost(api.address)}:${api.port}`;
        const fw = firmware.download.udpAddress!;
        log(
          'listening',
          `coap://${fw.address}:${fw.port}/fw (firmware downloads; images in ${fwOpts.firmwareDir})`,
          {
            address: fw.address,
            port: fw.port,
            firmware: true,
            directory: fwOpts.firmwareDir,
          },
        );
        const fws = firmware.download.coapsAddress;
        if (fws)
          log('listening', `coaps://${fws.address}:${fws.port}/fw (firmware downloads over DTLS)`, {
            address: fws.address,
            port: fws.port,
            firmware: true,
            secure: true,
          });
        // After the registrations: a device of a restored campaign is found registered, not waited for.
        const campaigns = firmware.campaigns;
        void server.restored
          .then(() => campaigns.restore())
          .then((restored) => {
            const open = restored.filter((c) => c.status === 'running' || c.status === 'paused');
            if (restored.length > 0)
              log('campaigns', `${restored.length} firmware campaigns restored, ${open.length} going on`, {
                restored: restored.length,
                open: open.length,
              });
          })
          .catch((e: unknown) =>
            io.stderr(`petrel: cannot restore firmware campaigns: ${(e as Error).message}\n`),
          );
      }
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
    logStreamListening(log, (t) => server.listening(t));
    if (mqttUrl !== undefined) {
      const topics = `${config.mqttPrefix === undefined ? '' : `${config.mqttPrefix}/`}lwm2m/rd/+`;
      const shown = broker ? broker.url : mqttUrl;
      log('listening', `${shown} (MQTT${broker ? ', embedded broker' : ''}: ${topics})`, {
        url: shown,
        embedded: broker !== undefined,
        topics,
      });
    }
    bootstrap?.logListening();
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

// Kept here too: `describeSession` was first exported by this module.
export { describeSession } from './bootstrap-runner.js';

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
  // At most one line per device and report interval (10 s), however hard it floods.
  server.on('notificationsDropped', (e) =>
    log(
      'notifications-dropped',
      `ep=${e.endpoint} dropped=${e.dropped} total=${e.total}` +
        (e.cancelled ? ` (observation ${e.cancelled.paths.join(',')} cancelled)` : ''),
      {
        endpoint: e.endpoint,
        dropped: e.dropped,
        total: e.total,
        ...(e.cancelled ? { cancelled: e.cancelled.paths.map((p) => p.toString()) } : {}),
      },
    ),
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
  firmware?: FirmwareApi,
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
    ...(firmware === undefined ? {} : { firmware }),
  });
}
