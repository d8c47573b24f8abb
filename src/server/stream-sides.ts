/**
 * The server's CoAP over TCP (`coap+tcp://`) and TLS (`coaps+tcp://`) listeners (RFC 8323): the
 * channels the CoAP binding runs over, with the frame limit matching what the endpoint announces.
 */
import type { Clock } from '../clock.js';
import { STREAM_FRAME_LIMIT } from '../binding/coap/coap-stack.js';
import type { EcdsaCredentials } from '../dtls/dtls-credentials.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { ConnectionChannel } from '../transport/channel.js';
import type { StreamLimits } from '../transport/stream-connections.js';
import { PskCache } from './psk-cache.js';

export interface TcpSideOptions {
  /** Where to listen (default `0.0.0.0:5683`, TCP). */
  readonly address?: string;
  readonly port?: number;
  /** Run over this channel instead (tests); closed with the server. */
  readonly channel?: ConnectionChannel;
  /** Connection limits (count, idle timeout, buffers). */
  readonly limits?: StreamLimits;
}

export interface TlsSideOptions extends TcpSideOptions {
  /** PSKs by identity and the endpoints they stand for; default: the coaps:// side's store. */
  readonly credentials?: CredentialStore;
  /** PSK identity hint (TLS 1.2 ServerKeyExchange). */
  readonly hint?: string;
  /**
   * The server's key and certificate chain (leaf first) for certificate mode; default: the
   * coaps:// side's when it has a chain. TLS has no raw public keys (RFC 7250 is not in node:tls).
   */
  readonly certificate?: EcdsaCredentials;
  /** CAs (DER) of device certificates; the chain's CN is the endpoint name (as over DTLS). */
  readonly trustAnchors?: readonly Uint8Array[];
  /** Default 'TLSv1.2' and 'TLSv1.3'. */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

const DEFAULT_LIMITS: StreamLimits = {
  maxFrameSize: STREAM_FRAME_LIMIT,
  // A device in queue mode keeps its connection while it sleeps only if the NAT does: a day is
  // the same patience the DTLS side has; beyond it the device reconnects to wake (Update).
  idleTimeout: 24 * 3600_000,
};

export async function openTcpChannel(options: TcpSideOptions): Promise<ConnectionChannel> {
  if (options.channel) return options.channel;
  const { TcpChannel } = await import('../transport/tcp-channel.js');
  return TcpChannel.listen({
    address: options.address ?? '0.0.0.0',
    port: options.port ?? 5683,
    ...DEFAULT_LIMITS,
    ...options.limits,
  });
}

/**
 * The TLS listener. PSKs come from the credential store through a PskCache (node:tls asks for a
 * key synchronously); it is loaded before the listener opens.
 */
export async function openTlsChannel(
  options: TlsSideOptions,
  context: {
    readonly credentials: CredentialStore | undefined;
    readonly clock: Pick<Clock, 'now'>;
    readonly onError: (e: unknown) => void;
  },
): Promise<{ channel: ConnectionChannel; cache: PskCache | undefined }> {
  const credentials = options.credentials ?? context.credentials;
  const chain = options.certificate?.certificateChain;
  if (!options.channel && !credentials && !chain?.length)
    throw new TypeError('a coaps+tcp:// side needs a credential store (PSK) or a certificate chain');
  let cache: PskCache | undefined;
  if (credentials) {
    cache = new PskCache(credentials, context.clock, { onError: context.onError });
    await cache.load();
  }
  if (options.channel) return { channel: options.channel, cache };
  const { TlsChannel } = await import('../transport/tls-channel.js');
  const channel = await TlsChannel.listen({
    address: options.address ?? '0.0.0.0',
    port: options.port ?? 5684,
    ...DEFAULT_LIMITS,
    ...options.limits,
    ...(cache ? { pskLookup: (identity: string) => cache.lookup(identity) } : {}),
    ...(options.hint === undefined ? {} : { pskIdentityHint: options.hint }),
    ...(chain?.length && options.certificate
      ? { key: options.certificate.privateKey, cert: chain.map((c) => new Uint8Array(c)) }
      : {}),
    ...(options.trustAnchors?.length ? { ca: options.trustAnchors.map((c) => new Uint8Array(c)) } : {}),
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  });
  return { channel, cache };
}
