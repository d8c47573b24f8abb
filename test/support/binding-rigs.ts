/**
 * Our client registered with our server over one transport binding, on real loopback sockets:
 * the rig every case of test/bindings/binding-matrix.test.ts runs on. UDP (`coap://`), DTLS with a
 * PSK (`coaps://`), TCP (`coap+tcp://`), TLS with a PSK (`coaps+tcp://`), and MQTT through an
 * embedded broker (`mqtt://`).
 */
import { once } from 'node:events';
import type { ServerBinding } from '../../src/binding/binding.js';
import { createCoapServerBinding } from '../../src/binding/coap/coap-server-binding.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapSessionRecord } from '../../src/bootstrap/bootstrap-server.js';
import { startEmbeddedBroker } from '../../src/binding/mqtt/embedded-broker.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { ServerConfig, ServerSecurityConfig } from '../../src/client/lwm2m-client.js';
import { MemoryInstance } from '../../src/client/instance.js';
import type { ExecuteArgumentInput } from '../../src/client/instance.js';
import { systemClock } from '../../src/clock.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import type { ObjectRegistry } from '../../src/model/object-registry.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { credentialPskLookup } from '../../src/server/credential-psk-lookup.js';
import { openTcpChannel, openTlsChannel } from '../../src/server/stream-sides.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Channel } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { BINDING_LETTER } from './binding-capabilities.js';
import type { BindingName } from './binding-capabilities.js';
import { TEMPERATURE_DEFINITION } from './model-device.js';
import { recordingChannel } from './recording-channel.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from './test-model.js';

/** Core objects, /3303 Temperature and TEST_OBJECT (every data type): a target for every operation. */
export const rigModel: ObjectRegistry = createDefaultRegistry()
  .add(TEMPERATURE_DEFINITION)
  .add(TEST_OBJECT_DEFINITION);

const LOOPBACK = '127.0.0.1';
/** The PSK both secure bindings use (hex, as the credential store keeps it). */
const PSK_KEY_HEX = '000102030405060708090a0b0c0d0e0f';

export interface RigOptions {
  /** Register in queue mode (`Q`); the client sleeps after `awakeTime` ms of silence. */
  readonly queueMode?: boolean;
  /** Queue mode: ms of silence before the client sleeps (and the server thinks it does). */
  readonly awakeTime?: number;
  /** Register by Profile ID ('dynamic' or a pre-configured id). */
  readonly profileId?: string;
  /** Told apart from the other rigs of the same binding (default `matrix-<binding>`). */
  readonly endpoint?: string;
  /** Server request deadline, ms (default 5000: a lost answer fails the case, not the run). */
  readonly requestTimeout?: number;
}

export interface BindingRig {
  readonly binding: BindingName;
  readonly server: LwM2mServer;
  readonly client: LwM2mClient;
  readonly endpoint: string;
  /** The registration the server made of the client's first Register. */
  readonly registration: Registration;
  /** The server's PSKs (dtls, tls): identity `<endpoint>-id` for the rig's client. */
  readonly credentials: MemoryCredentialStore;
  /** /3303/0: 5700 (float, observable) and 5701. */
  readonly temperature: MemoryInstance;
  /** TEST_OBJECT /42769/0: 0 float, 3 opaque, 5 string, 15 multiple string; 9 executable. */
  readonly testInstance: MemoryInstance;
  /**
   * Every CoAP message the client sent, as bytes (before DTLS protection), over the datagram
   * bindings (udp, dtls); undefined over the others.
   */
  readonly clientMessages: readonly Uint8Array[] | undefined;
  /** The arguments of every Execute of /42769/0/9, in order. */
  readonly executions: (readonly ExecuteArgumentInput[])[];
  /** Stops client (de-registering if still registered) and server; idempotent. */
  close(): Promise<void>;
}

/** How the server side of each CoAP binding is opened, and the URI the client dials. */
interface CoapSide {
  readonly serverOptions: Partial<LwM2mServerOptions>;
  readonly uri: (server: LwM2mServer) => string;
  readonly secure: boolean;
}

function coapSide(binding: Exclude<BindingName, 'mqtt'>, credentials: MemoryCredentialStore): CoapSide {
  const at = { address: LOOPBACK, port: 0 };
  const port = (server: LwM2mServer, transport: string): number => {
    const local = server.listening(transport);
    if (!local) throw new Error(`the server has no ${transport} side`);
    return local.port;
  };
  switch (binding) {
    case 'udp':
      return { serverOptions: {}, uri: (s) => `coap://${LOOPBACK}:${port(s, 'udp')}`, secure: false };
    case 'dtls':
      return {
        serverOptions: { coaps: { ...at, credentials } },
        uri: (s) => `coaps://${LOOPBACK}:${port(s, 'dtls')}`,
        secure: true,
      };
    case 'tcp':
      return {
        serverOptions: { tcp: at },
        uri: (s) => `coap+tcp://${LOOPBACK}:${port(s, 'tcp')}`,
        secure: false,
      };
    case 'tls':
      return {
        serverOptions: { tls: { ...at, credentials } },
        uri: (s) => `coaps+tcp://${LOOPBACK}:${port(s, 'tls')}`,
        secure: true,
      };
  }
}

/** Starts server and client over `binding` and resolves once the server has the registration. */
export async function startRig(binding: BindingName, options: RigOptions = {}): Promise<BindingRig> {
  const endpoint = options.endpoint ?? `matrix-${binding}`;
  const credentials = new MemoryCredentialStore();
  const identity = `${endpoint}-id`;
  await credentials.put({ endpoint, psk: { identity, key: PSK_KEY_HEX } });
  // MQTT: an embedded broker for this rig, the server's MQTT side and an mqtt:// account.
  const broker = binding === 'mqtt' ? await startEmbeddedBroker({ address: LOOPBACK, port: 0 }) : undefined;
  const side: CoapSide = broker
    ? { serverOptions: { mqtt: { url: broker.url } }, uri: () => broker.url, secure: false }
    : coapSide(binding as Exclude<BindingName, 'mqtt'>, credentials);

  const server = new LwM2mServer({
    udp: { address: LOOPBACK, port: 0 },
    model: rigModel,
    requestTimeout: options.requestTimeout ?? 5000,
    ...(options.queueMode ? { queueMode: { awakeTime: options.awakeTime ?? 300 } } : {}),
    ...side.serverOptions,
  });
  await server.start();

  const executions: (readonly ExecuteArgumentInput[])[] = [];
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 21.5).set(5701, 'Cel');
  const testInstance = new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0)
    .set(0, 1.5)
    .set(3, Uint8Array.of(0xca, 0xfe))
    .set(5, 'hello')
    .set(15, ['Red', 'Green'])
    .onExecute(9, (args) => {
      executions.push(args);
    });
  // /0 credentials as the Security object holds them: mode 0 (PSK), identity, key bytes.
  const security: ServerSecurityConfig | undefined = side.secure
    ? { securityMode: 0, publicKeyOrIdentity: identity, secretKey: Buffer.from(PSK_KEY_HEX, 'hex') }
    : undefined;
  const account: ServerConfig = {
    uri: side.uri(server),
    lifetime: 300,
    ...(security ? { security } : {}),
    ...(options.queueMode ? { queueMode: true } : {}),
  };
  // Over the datagram bindings, a copy of each message the client sends (block-wise shows there).
  const clientMessages: Uint8Array[] | undefined = binding === 'udp' || binding === 'dtls' ? [] : undefined;
  const channel =
    binding === 'udp' && clientMessages
      ? recordingChannel(await UdpChannel.open({ address: LOOPBACK, port: 0 }), clientMessages)
      : undefined;
  const client = new LwM2mClient({
    endpoint,
    servers: [account],
    udp: { address: LOOPBACK },
    ...(channel ? { channel } : {}),
    ...(binding === 'dtls' && clientMessages
      ? { wrapSecureChannel: (dtls: Channel) => recordingChannel(dtls, clientMessages) }
      : {}),
    model: rigModel,
    device: { manufacturer: 'Petrel', modelNumber: 'matrix', supportedBindings: 'UTM' },
    instances: [temperature, testInstance],
    ...(options.queueMode ? { awakeTime: options.awakeTime ?? 300 } : {}),
    ...(options.profileId ? { profileId: options.profileId } : {}),
  });

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      await client.stop();
    } finally {
      await channel?.close();
      await server.stop();
      await broker?.close();
    }
  };
  try {
    const registered = once(server, 'registered', { signal: AbortSignal.timeout(5000) }) as Promise<
      [Registration]
    >;
    await client.start();
    const [registration] = await registered;
    return {
      binding,
      server,
      client,
      endpoint,
      registration,
      credentials,
      temperature,
      testInstance,
      clientMessages,
      executions,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** A client that bootstrapped over a binding and then registered with a rig's server. */
export interface BootstrapRun {
  readonly session: BootstrapSessionRecord;
  /** Its registration with the target rig's server, over the same binding. */
  readonly registration: Registration;
  close(): Promise<void>;
}

/** The URI scheme of each CoAP binding. */
const SCHEME: Readonly<Record<Exclude<BindingName, 'mqtt'>, string>> = {
  udp: 'coap',
  dtls: 'coaps',
  tcp: 'coap+tcp',
  tls: 'coaps+tcp',
};

/** The Bootstrap-Server's binding over `binding`, and the channels to close after it. */
async function bootstrapSide(
  binding: Exclude<BindingName, 'mqtt'>,
  credentials: MemoryCredentialStore,
): Promise<{ binding: ServerBinding | undefined; channel: Channel | undefined; owned: Channel[] }> {
  const coap = (channel: Channel): ServerBinding =>
    createCoapServerBinding({ channel, codecs: createCodecRegistry(), model: rigModel });
  const at = { address: LOOPBACK, port: 0 };
  switch (binding) {
    case 'udp':
      return { binding: undefined, channel: undefined, owned: [] };
    case 'dtls': {
      const udp = await UdpChannel.open(at);
      const dtls = DtlsChannel.server({
        channel: udp,
        psk: credentialPskLookup(credentials, () => undefined),
      });
      return { binding: coap(dtls), channel: udp, owned: [dtls, udp] };
    }
    case 'tcp': {
      const tcp = await openTcpChannel(at);
      return { binding: coap(tcp), channel: tcp, owned: [tcp] };
    }
    case 'tls': {
      const { channel } = await openTlsChannel(
        { ...at, credentials },
        { credentials, clock: systemClock, onError: () => undefined },
      );
      return { binding: coap(channel), channel, owned: [channel] };
    }
  }
}

/**
 * A Bootstrap-Server over `binding` whose configuration sends the client to `target`'s server
 * over the same binding (with a PSK of its own over DTLS/TLS); a client with no server account
 * bootstraps from it, then registers.
 */
export async function runBootstrap(binding: BindingName, target: BindingRig): Promise<BootstrapRun> {
  if (binding === 'mqtt') throw new Error('bootstrap rig: not over mqtt yet');
  const endpoint = `${target.endpoint}-bs`;
  const local = target.server.listening(binding);
  if (!local) throw new Error(`the target server has no ${binding} side`);
  const secure = binding === 'dtls' || binding === 'tls';
  // Two accounts, two PSKs: one for the Bootstrap-Server, one for the LwM2M Server it hands out.
  const bsIdentity = `${endpoint}-bs-id`;
  const dmIdentity = `${endpoint}-id`;
  const bsCredentials = new MemoryCredentialStore();
  if (secure) {
    await bsCredentials.put({ endpoint, psk: { identity: bsIdentity, key: PSK_KEY_HEX } });
    await target.credentials.put({ endpoint, psk: { identity: dmIdentity, key: PSK_KEY_HEX } });
    await target.server.refreshPskIdentities([dmIdentity]);
  }
  const configs = new MemoryBootstrapConfigStore();
  await configs.put(endpoint, {
    servers: [
      {
        shortServerId: 1,
        uri: `${SCHEME[binding]}://${LOOPBACK}:${local.port}`,
        lifetime: 300,
        binding: BINDING_LETTER[binding],
        supportedServerVersions: ['1.2'],
        security: secure ? { mode: 'psk', identity: dmIdentity, key: PSK_KEY_HEX } : { mode: 'nosec' },
      },
    ],
  });
  const side = await bootstrapSide(binding, bsCredentials);
  const bs = new BootstrapServer({
    configs,
    credentials: bsCredentials,
    model: rigModel,
    udp: { address: LOOPBACK, port: 0 },
    requestTimeout: 5000,
    ...(side.binding ? { binding: side.binding } : {}),
  });
  try {
    await bs.start();
  } catch (e) {
    for (const channel of side.owned) await channel.close();
    throw e;
  }
  const bsPort = side.channel ? side.channel.local?.port : bs.address?.port;
  const client = new LwM2mClient({
    endpoint,
    servers: [],
    bootstrap: {
      server: {
        uri: `${SCHEME[binding]}://${LOOPBACK}:${bsPort}`,
        ...(secure
          ? {
              security: {
                securityMode: 0,
                publicKeyOrIdentity: bsIdentity,
                secretKey: Buffer.from(PSK_KEY_HEX, 'hex'),
              },
            }
          : {}),
      },
    },
    udp: { address: LOOPBACK },
    model: rigModel,
    device: { supportedBindings: 'UT' },
  });
  const close = async (): Promise<void> => {
    try {
      await client.stop();
    } finally {
      await bs.stop();
      for (const channel of side.owned) await channel.close();
    }
  };
  try {
    const signal = AbortSignal.timeout(5000);
    const finished = once(bs, 'session-finished', { signal }) as Promise<[BootstrapSessionRecord]>;
    const registered = new Promise<Registration>((resolve) => {
      const listener = (reg: Registration): void => {
        if (reg.endpoint !== endpoint) return;
        target.server.off('registered', listener);
        resolve(reg);
      };
      target.server.on('registered', listener);
    });
    await client.start();
    const [session] = await finished;
    const registration = await Promise.race([
      registered,
      once(signal, 'abort').then(() => Promise.reject(new Error(`${endpoint} did not register`))),
    ]);
    return { session, registration, close };
  } catch (e) {
    await close();
    throw e;
  }
}
