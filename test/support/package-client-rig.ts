// What the client suites of firmware update (/5) and software management (/9) share: test images,
// reading a stored package back, a Block1 push from a peer that is no registered server, and a
// client that pulls over coaps:// from a DTLS file server with the PSK of its LwM2M server.
import { once } from 'node:events';
import { createCoapStack } from '../../src/binding/coap/coap-stack.js';
import type { StoredImage } from '../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { ClientRig } from './client-rig.js';

/** `size` bytes of a pattern that `seed` shifts (two images of one size differ). */
export const image = (size: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);

/** The bytes of a package the client stored. */
export async function bytesOf(stored: StoredImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stored.read()) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The first block of a Block1 PUT of 1024 bytes to `path` of the rig's client (10.0.0.2:56830),
 * sent from 10.0.0.66, a peer that is no registered server: the client's answer.
 */
export async function block1FromStranger(
  rig: Pick<ClientRig, 'network'>,
  path: string,
): Promise<CoapMessage> {
  const { endpoint } = createCoapStack({ channel: rig.network.channel('10.0.0.66', 5683) });
  try {
    return await endpoint.request(
      { address: '10.0.0.2', port: 56830 },
      {
        code: CoapCode.PUT,
        options: new OptionsBuilder()
          .uriPath(path.split('/').filter((s) => s !== ''))
          .uint(OptionNumber.CONTENT_FORMAT, 42)
          .block(OptionNumber.BLOCK1, { num: 0, more: true, szx: 6 })
          .build(),
        payload: image(1024),
      },
    );
  } finally {
    await endpoint.close();
  }
}

export interface CoapsPullRigOptions {
  /** The client's endpoint name; its PSK identity is `identity`. */
  readonly endpoint: string;
  readonly identity: string;
  /** What the coaps:// file server at 10.0.0.7:5684 answers every GET with. */
  readonly payload: Uint8Array;
  /** The client's /5 or /9. */
  readonly client: Pick<LwM2mClientOptions, 'firmware' | 'software'>;
}

export interface CoapsPullRig {
  readonly server: LwM2mServer;
  readonly client: LwM2mClient;
  readonly ep: string;
  /** The PSK identities the file server was offered, in order. */
  readonly identities: readonly string[];
}

/**
 * A client registered over coaps:// (10.0.0.1:5684) with a PSK, and a DTLS file server
 * (10.0.0.7:5684) that knows the same PSK: a pull of `coaps://10.0.0.7/…` uses the credentials of
 * the server that wrote the URI.
 */
export async function withCoapsPullRig(
  options: CoapsPullRigOptions,
  body: (rig: CoapsPullRig) => Promise<void>,
): Promise<void> {
  const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const { endpoint, identity } = options;
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  await credentials.put({ endpoint, psk: { identity, key: KEY.toString('hex') } });
  const server = new LwM2mServer({
    channel: network.channel('10.0.0.1', 5683),
    coaps: { channel: network.channel('10.0.0.1', 5684), credentials },
    requestTimeout: 3000,
  });
  const identities: string[] = [];
  const repository = DtlsChannel.server({
    channel: network.channel('10.0.0.7', 5684),
    psk: (offered) => {
      identities.push(new TextDecoder().decode(offered));
      return new TextDecoder().decode(offered) === identity ? KEY : undefined;
    },
  });
  const files = createCoapStack({ channel: repository });
  files.blockwise.onRequest(() => ({ code: CoapCode.CONTENT, payload: options.payload }));
  let port = 40000;
  const client = new LwM2mClient({
    endpoint,
    servers: [
      {
        uri: 'coaps://10.0.0.1:5684',
        security: { securityMode: 0, publicKeyOrIdentity: identity, secretKey: KEY },
      },
    ],
    channel: network.channel('10.0.0.2', 56830),
    secureTransport: () => network.channel('10.0.0.2', port++),
    ...options.client,
  });
  // Timers of the system clock are unref'd and a memory network holds no socket.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await server.start();
    const registered = once(server, 'registered');
    await client.start();
    await registered;
    await body({ server, client, ep: endpoint, identities });
  } finally {
    clearInterval(keepAlive);
    await client.stop().catch(() => undefined);
    await server.stop();
    await files.endpoint.close();
  }
}
