import { Command } from 'commander';
import { startApiServer } from '../api/api-server.js';
import type { RunningApiServer } from '../api/api-server.js';
import { createDefaultRegistry } from '../model/object-registry.js';
import { lineLog, openBootstrapRunner, openStoresOrExit } from './bootstrap-runner.js';
import type { BootstrapRunner } from './bootstrap-runner.js';
import {
  addBootstrapOptions,
  bootstrapConfigWarnings,
  bootstrapEnvName,
  resolveBootstrapConfig,
} from './config.js';
import { CliError, type CliIo } from './io.js';
import { LogRateLimiter } from './log-rate-limiter.js';
import { reachableHost } from './server-command.js';
import { dtlsIdentityFor } from './server-dtls-identity.js';
import { waitForSignal } from './signals.js';

/**
 * `petrel bootstrap`: a LwM2M Bootstrap-Server alone (Core §6.1), on CoAP/UDP (--port) and/or
 * coaps:// (--coaps-port), configuring devices from the store's bootstrap configurations, with
 * the REST API's bootstrap and security routes on --http-port, logging each finished session
 * until SIGINT/SIGTERM (or the injected shutdown).
 */
export function bootstrapCommand(io: CliIo): Command {
  return addBootstrapOptions(
    new Command('bootstrap').description(
      'run a LwM2M Bootstrap-Server (CoAP over UDP with --port, DTLS with --coaps-port, TCP/TLS with --tcp-port/--tls-port, MQTT with --mqtt) that configures devices from the store, with its REST API on --http-port',
    ),
  ).action(async (_opts: unknown, cmd: Command) => {
    const config = resolveBootstrapConfig(cmd, process.env);
    // No default port: a Bootstrap-Server hands out credentials, so it opens only the ports asked for.
    if (
      config.port === undefined &&
      config.coapsPort === undefined &&
      config.tcpPort === undefined &&
      config.tlsPort === undefined &&
      config.mqtt === undefined
    )
      throw new CliError(
        `no port to listen on: give --port <udp port> (e.g. 5683) and/or --coaps-port <port> (e.g. 5684), ` +
          `--tcp-port, --tls-port or --mqtt <broker>, or ${bootstrapEnvName('port')} / ${bootstrapEnvName('coapsPort')}`,
      );
    for (const warning of bootstrapConfigWarnings(config)) io.stderr(`petrel: warning: ${warning}\n`);
    const identity = dtlsIdentityFor(config, config.coapsPort !== undefined || config.tlsPort !== undefined);
    const stores = await openStoresOrExit(config.store);
    const log = lineLog((text) => io.stdout(text), config.json);
    const warn = (line: string): void => io.stderr(`petrel: ${line}\n`);
    let runner: BootstrapRunner | undefined;
    try {
      runner = await openBootstrapRunner({
        address: config.address,
        port: config.port,
        coapsPort: config.coapsPort,
        tcpPort: config.tcpPort,
        tlsPort: config.tlsPort,
        mqtt: config.mqtt,
        mqttPrefix: config.mqttPrefix,
        pskHint: config.pskHint,
        coapsCidLength: config.coapsCidLength,
        identity,
        allowNoSec: config.allowNosec,
        stores,
        model: createDefaultRegistry(),
        log,
        warn,
        handshakeErrors: new LogRateLimiter(warn),
      });
    } catch (e) {
      await stores.close().catch(() => undefined);
      throw new CliError(`cannot start the bootstrap server: ${(e as Error).message}`, 1);
    }
    // Checked above: with a port there is a runner.
    if (runner === undefined) throw new CliError('no port to listen on');
    const bootstrap = runner;
    // Listen for the stop signal before announcing anything (see signals.ts).
    const shutdown = (io.shutdown ?? waitForSignal)();
    let api: RunningApiServer | undefined;
    const release = async (): Promise<void> => {
      await api?.close().catch(() => undefined);
      await bootstrap.stop();
      await stores.close().catch(() => undefined);
    };
    try {
      await bootstrap.start();
      if (config.httpPort !== undefined)
        // No LwM2M server here: the API serves the bootstrap and security routes only.
        api = await startApiServer({
          stores,
          bootstrap: bootstrap.server,
          address: config.httpAddress,
          port: config.httpPort,
          ...(config.token === undefined ? {} : { token: config.token }),
          ...(config.cors.length > 0 ? { cors: config.cors } : {}),
          ...(identity === undefined ? {} : { serverSecurity: identity.view }),
        });
    } catch (e) {
      await release();
      throw new CliError(`cannot start the bootstrap server: ${(e as Error).message}`, 1);
    }
    bootstrap.logListening();
    if (api) {
      const url = `http://${reachableHost(api.address)}:${api.port}/`;
      log('http', `${url}api (REST API: /api/bootstrap, /api/security; reference at ${url}api/docs)`, {
        url: `${url}api`,
        address: api.address,
        port: api.port,
      });
    }
    await shutdown;
    await release();
    log('stopped', '', {});
  });
}
