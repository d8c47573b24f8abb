import { createCoapServerBinding } from '../binding/coap/coap-server-binding.js';
import { BootstrapServer } from '../bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../bootstrap/bootstrap-server.js';
import { createCodecRegistry } from '../content/codec-registry.js';
import { DtlsChannel } from '../dtls/dtls-channel.js';
import type { ObjectModel } from '../model/object-definition.js';
import { credentialPskLookup } from '../server/credential-psk-lookup.js';
import { credentialRawKeyCheck } from '../server/credential-raw-key-check.js';
import { devicePeerVerifier } from '../server/device-peer-verifier.js';
import { openStores } from '../store/open-stores.js';
import type { Stores } from '../store/stores.js';
import { ChannelError, describePeer } from '../transport/channel.js';
import { UdpChannel } from '../transport/udp-channel.js';
import { CliError } from './io.js';
import type { LogRateLimiter } from './log-rate-limiter.js';
import type { ServerDtlsIdentity } from './server-dtls-identity.js';

/*
 * The Bootstrap-Server as the CLI runs it, shared by `petrel bootstrap` (alone) and
 * `petrel server --bootstrap-port` (beside the LwM2M server): the coaps:// channel over the
 * store's credentials, the BootstrapServer with its bindings, its log lines, and its stop.
 */

/** One log line per event: `event text`, or with `--json` one JSON object per line. */
export type Log = (event: string, text: string, data: Record<string, unknown>) => void;

/** The log of a long-running command, written to `write` (stdout). */
export function lineLog(write: (text: string) => void, json: boolean): Log {
  return (event, text, data) =>
    write(
      json ? `${JSON.stringify({ time: new Date().toISOString(), event, ...data })}\n` : `${event} ${text}\n`,
    );
}

/**
 * The `listening coap+tcp://…` and `listening coaps+tcp://…` lines of a server's TCP and TLS sides
 * (`bootstrap …` for a Bootstrap-Server's).
 */
export function logStreamListening(
  log: Log,
  listening: (transport: 'tcp' | 'tls') => { address: string; port: number } | undefined,
  options: { bootstrap?: boolean } = {},
): void {
  for (const [transport, scheme] of [
    ['tcp', 'coap+tcp'],
    ['tls', 'coaps+tcp'],
  ] as const) {
    const at = listening(transport);
    if (!at) continue;
    const prefix = options.bootstrap ? 'bootstrap ' : '';
    log('listening', `${prefix}${scheme}://${at.address}:${at.port}`, {
      address: at.address,
      port: at.port,
      ...(options.bootstrap ? { bootstrap: true } : {}),
    });
  }
}

/** The kinds of device credentials a DTLS side accepts with this identity. */
export function dtlsModes(dtls: ServerDtlsIdentity | undefined): string[] {
  const modes = ['PSK'];
  if (dtls?.certificate) modes.push('RPK');
  if (dtls?.certificate && dtls.trustAnchors.length > 0) modes.push('X.509');
  return modes;
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

export interface BootstrapRunnerOptions {
  /** Address of both sides. */
  readonly address: string;
  /** CoAP/UDP port; undefined = no plain side. */
  readonly port: number | undefined;
  /** coaps:// (DTLS) UDP port; undefined = no DTLS side. */
  readonly coapsPort: number | undefined;
  /** coap+tcp:// and coaps+tcp:// ports; undefined = off. */
  readonly tcpPort?: number | undefined;
  readonly tlsPort?: number | undefined;
  /** A broker URL for the MQTT binding's bs interface, and its topic prefix; undefined = off. */
  readonly mqtt?: string | undefined;
  readonly mqttPrefix?: string | undefined;
  readonly pskHint: string | undefined;
  /** DTLS Connection ID length; undefined = the DTLS default. */
  readonly coapsCidLength: number | undefined;
  /** The --coaps-key identity for RPK and X.509 devices; undefined = PSK only. */
  readonly identity: ServerDtlsIdentity | undefined;
  /** Let a NoSec peer bootstrap an endpoint that has credentials. */
  readonly allowNoSec?: boolean;
  /** Configurations to serve, and the credentials of the ep-vs-identity check and the PSKs. */
  readonly stores: Pick<Stores, 'bootstrapConfigs' | 'credentials'>;
  readonly model: ObjectModel;
  readonly log: Log;
  /** A line for stderr, without the `petrel: ` prefix. */
  readonly warn: (line: string) => void;
  /** Where failed handshakes go, rate-limited per kind (shared with the LwM2M server's). */
  readonly handshakeErrors: LogRateLimiter;
}

/** A Bootstrap-Server built from the CLI settings: start it, announce it, stop it. */
export interface BootstrapRunner {
  readonly server: BootstrapServer;
  /** Starts the BootstrapServer (binds the UDP port, when there is one). */
  start(): Promise<void>;
  /** The `listening bootstrap coap://…` and `listening bootstrap coaps://… (DTLS: …)` lines. */
  logListening(): void;
  /** Stops the server and closes the DTLS side; never throws. */
  stop(): Promise<void>;
}

/**
 * The Bootstrap-Server's DTLS channel: PSKs from the store's credentials (the device's bootstrap
 * PSK is the one `PUT /api/security/clients/{ep}` set), and the --coaps-key identity for RPK and
 * X.509 devices, as on the LwM2M server's coaps:// side.
 */
async function bootstrapDtlsChannel(options: BootstrapRunnerOptions, port: number): Promise<DtlsChannel> {
  const inner = await UdpChannel.open({ address: options.address, port });
  const { identity } = options;
  return DtlsChannel.server({
    channel: inner,
    ...(options.coapsCidLength === undefined ? {} : { connectionIdLength: options.coapsCidLength }),
    psk: credentialPskLookup(options.stores.credentials, (e) =>
      options.warn(`bootstrap credential lookup failed: ${(e as Error).message}`),
    ),
    ...(options.pskHint === undefined ? {} : { hint: options.pskHint }),
    ...(identity?.certificate === undefined
      ? {}
      : {
          certificate: identity.certificate,
          // An unknown raw public key fails the handshake (access_denied), before any Bootstrap-Request.
          verifyPeer: devicePeerVerifier(identity.trustAnchors, {
            knownRawKey: credentialRawKeyCheck(options.stores.credentials, (e) =>
              options.warn(`bootstrap credential lookup failed: ${(e as Error).message}`),
            ),
          }),
        }),
  });
}

/**
 * Builds the Bootstrap-Server of the settings, or undefined when neither port is set. The DTLS
 * side's socket is bound here (a port that is taken fails now); the UDP side's on start().
 */
export async function openBootstrapRunner(
  options: BootstrapRunnerOptions,
): Promise<BootstrapRunner | undefined> {
  if (
    options.port === undefined &&
    options.coapsPort === undefined &&
    options.tcpPort === undefined &&
    options.tlsPort === undefined &&
    options.mqtt === undefined
  )
    return undefined;
  const dtls =
    options.coapsPort === undefined ? undefined : await bootstrapDtlsChannel(options, options.coapsPort);
  const { model, identity } = options;
  const secure =
    dtls === undefined
      ? undefined
      : createCoapServerBinding({ channel: dtls, codecs: createCodecRegistry(), model });
  const server = new BootstrapServer({
    configs: options.stores.bootstrapConfigs,
    credentials: options.stores.credentials,
    model,
    ...(options.allowNoSec === undefined ? {} : { allowNoSec: options.allowNoSec }),
    // Without a plain port the first other binding stands in for it (no UDP channel of its own).
    ...(options.port === undefined
      ? secure
        ? { binding: secure }
        : { udp: false as const }
      : {
          udp: { address: options.address, port: options.port },
          ...(secure === undefined ? {} : { bindings: [secure] }),
        }),
    ...(options.tcpPort === undefined ? {} : { tcp: { address: options.address, port: options.tcpPort } }),
    ...(options.tlsPort === undefined
      ? {}
      : {
          tls: {
            address: options.address,
            port: options.tlsPort,
            ...(options.pskHint === undefined ? {} : { hint: options.pskHint }),
            ...(identity?.certificate?.certificateChain ? { certificate: identity.certificate } : {}),
            ...(identity?.trustAnchors.length ? { trustAnchors: identity.trustAnchors } : {}),
          },
        }),
    ...(options.mqtt === undefined
      ? {}
      : {
          mqtt: {
            url: options.mqtt,
            ...(options.mqttPrefix === undefined ? {} : { prefix: options.mqttPrefix }),
          },
        }),
  });
  const { log, warn } = options;
  server.on('session-finished', (s) => log('bootstrap', describeSession(s), { ...s }));
  server.on('error', (e) => warn(`bootstrap: ${e.message}`));
  // Failed handshakes come from outside, one per bad datagram at worst: rate-limited per kind.
  dtls?.onError((e) => {
    if (e instanceof ChannelError && e.peer !== undefined)
      options.handshakeErrors.log(e.code, `bootstrap: ${e.message} (peer ${describePeer(e.peer)})`);
    else warn(`bootstrap: ${e instanceof Error ? e.message : String(e)}`);
  });
  return {
    server,
    start: () => server.start(),
    logListening() {
      const plain = server.address;
      if (plain)
        log('listening', `bootstrap coap://${plain.address}:${plain.port}`, {
          address: plain.address,
          port: plain.port,
          bootstrap: true,
        });
      logStreamListening(log, (t) => server.listening(t), { bootstrap: true });
      if (options.mqtt !== undefined) {
        const topics = `${options.mqttPrefix === undefined ? '' : `${options.mqttPrefix}/`}lwm2m/bs/+`;
        log('listening', `bootstrap ${options.mqtt} (MQTT: ${topics})`, {
          url: options.mqtt,
          bootstrap: true,
          topics,
        });
      }
      const local = dtls?.local;
      if (local) {
        const modes = dtlsModes(options.identity);
        log('listening', `bootstrap coaps://${local.address}:${local.port} (DTLS: ${modes.join(', ')})`, {
          address: local.address,
          port: local.port,
          bootstrap: true,
          secure: true,
          modes,
        });
      }
    },
    async stop() {
      await server.stop().catch(() => undefined);
      // Closed with the bootstrap server once it started; a failed start leaves it open.
      await dtls?.close().catch(() => undefined);
    },
  };
}

/** Opens the stores of `--store`; one that cannot be opened is a CLI error (exit 1) naming it. */
export async function openStoresOrExit(spec: string): Promise<Stores> {
  try {
    return await openStores(spec);
  } catch (e) {
    throw new CliError(`cannot open the store ${spec}: ${(e as Error).message}`, 1);
  }
}
