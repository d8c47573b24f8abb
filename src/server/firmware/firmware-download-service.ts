// The firmware repository as devices pull from it (/5/0/1, LWM2M-1.2.md §6): a CoAP server of its
// own answering GET /fw/<image id>?t=<token> with Block2 (RFC 7959), over UDP and optionally TCP
// (RFC 8323) and DTLS (coaps://, the credentials of the LwM2M server's coaps:// side), and the
// token check the REST API's HTTP download uses too.
//
// Blocks are cut from the repository per request: nothing is kept per transfer, so a thousand
// devices pulling at once cost no memory beyond their requests. (The BlockwiseLayer caches a whole
// response per peer to serve its later blocks, which would hold one image per device.)
import { EventEmitter } from 'node:events';
import type { CoapMessaging } from '../../coap/coap-messaging.js';
import { CoapEndpoint } from '../../coap/endpoint.js';
import type { CoapResponse, IncomingRequest } from '../../coap/endpoint.js';
import { CoapCode } from '../../coap/message.js';
import { CoapReliableEndpoint } from '../../coap/reliable-endpoint.js';
import { OptionNumber, OptionsBuilder, block2, blockSize, uriPath, uriQuery } from '../../coap/options.js';
import type { RandomSource } from '../../random.js';
import type { Channel } from '../../transport/channel.js';
import type { DtlsCommonOptions, DtlsServerOptions } from '../../dtls/dtls-channel.js';
import type { EcdsaCredentials } from '../../dtls/dtls-credentials.js';
import type { CredentialStore } from '../../store/credential-store.js';
import { TcpChannel } from '../../transport/tcp-channel.js';
import { UdpChannel } from '../../transport/udp-channel.js';
import { credentialPskLookup } from '../credential-psk-lookup.js';
import { credentialRawKeyCheck } from '../credential-raw-key-check.js';
import { devicePeerVerifier } from '../device-peer-verifier.js';
import type { DownloadGrant } from './download-grants.js';
import { DownloadGrants } from './download-grants.js';
import type { FirmwareImageInfo, FirmwareRepository } from './firmware-repository.js';
import { isImageId } from './firmware-repository.js';

/** The URI schemes of /5/0/8 by protocol number (object 5 v1.1+: 0 CoAP … 5 CoAP over TLS). */
export const PROTOCOL_SCHEMES: readonly string[] = [
  'coap',
  'coaps',
  'http',
  'https',
  'coap+tcp',
  'coaps+tcp',
];

/** Bytes of the ETag: a prefix of the image's SHA-256 (RFC 7252 §5.10.6 allows 1-8). */
export const ETAG_BYTES = 8;

const DEFAULT_BLOCK = 1024;
const OCTET_STREAM = 42;

/** A block (or an HTTP range) handed to a device, for progress reports. */
export interface DownloadProgress {
  readonly grant: DownloadGrant;
  /** The offset after the bytes just served. */
  readonly offset: number;
  readonly size: number;
  /** The last byte of the image was served. */
  readonly complete: boolean;
}

export interface FirmwareDownloadServiceEvents {
  progress: [progress: DownloadProgress];
  /** A request refused for want of a valid token (its image id as asked). */
  refused: [imageId: string, reason: string];
  error: [error: unknown];
}

/**
 * The coaps:// side: DTLS 1.2 with the credentials of the LwM2M server's coaps:// side (the
 * device's PSK, raw public key or certificate), so a device pulls with the /0 credentials of the
 * server that wrote the URI (LWM2M-1.2.md §6: the download is protected like the server link).
 * The download token is checked as on the other sides.
 */
export interface DownloadCoapsOptions {
  /** Where DTLS listens over UDP (`port: 0` picks one; default 0). */
  readonly address?: string;
  readonly port?: number;
  /** Run DTLS over this datagram channel instead of a UDP socket (tests); closed with the service. */
  readonly channel?: Channel;
  /** PSKs by identity and known raw public keys: the LwM2M server's credential store. */
  readonly credentials: CredentialStore;
  /** PSK identity hint (RFC 4279 §2). */
  readonly hint?: string;
  /** The server's P-256 key pair (RPK, or X.509 with a chain) for the ECDHE_ECDSA suites. */
  readonly certificate?: EcdsaCredentials;
  /** CAs (DER) of device certificates; without them X.509 devices are refused. */
  readonly trustAnchors?: readonly Uint8Array[];
  /** DTLS settings (timing, limits, mtu, Connection ID length, cipher suites). */
  readonly dtls?: Omit<DtlsCommonOptions, 'channel'> &
    Pick<DtlsServerOptions, 'connectionIdLength' | 'cipherSuites' | 'cookieRotation'>;
}

export interface FirmwareDownloadServiceOptions {
  readonly repository: FirmwareRepository;
  /** Where the CoAP/UDP side listens (`port: 0` picks one); `false`: no UDP side. */
  readonly udp?: { readonly address?: string; readonly port?: number } | false;
  /** Serve CoAP over this channel instead of a UDP socket (in-memory tests). */
  readonly channel?: Channel;
  /** Also serve coap+tcp:// here. */
  readonly tcp?: { readonly address?: string; readonly port?: number };
  /** Also serve coaps:// (DTLS). */
  readonly coaps?: DownloadCoapsOptions;
  /**
   * The host devices reach the service at, as it goes into URIs (default: the bound address, or
   * 127.0.0.1 when bound to every interface).
   */
  readonly publicHost?: string;
  /**
   * Base URL of the REST API (`http://10.0.0.1:8080`) when it serves
   * `/api/firmware/images/{id}/content`: then http(s) URIs are offered too.
   */
  readonly httpBase?: string;
  /** Lifetime of a download token, ms (default 24 h). */
  readonly tokenLifetime?: number;
  readonly now?: () => number;
  readonly random?: RandomSource;
}

/** Splits `t=<token>` out of the Uri-Query options. */
function tokenOf(queries: readonly string[]): string | undefined {
  for (const q of queries) if (q.startsWith('t=')) return q.slice(2);
  return undefined;
}

const hostOf = (address: string): string => (address.includes(':') ? `[${address}]` : address);

export class FirmwareDownloadService extends EventEmitter<FirmwareDownloadServiceEvents> {
  readonly repository: FirmwareRepository;
  readonly grants: DownloadGrants;
  readonly #options: FirmwareDownloadServiceOptions;
  #udp: { endpoint: CoapMessaging; channel: Channel; owned: boolean } | undefined;
  #tcp: { endpoint: CoapMessaging; channel: TcpChannel } | undefined;
  #coaps: { endpoint: CoapMessaging; channel: Channel } | undefined;
  #served = 0;
  /** Base URL of the REST API serving `/api/firmware/images/{id}/content` (set once it listens). */
  httpBase: string | undefined;

  constructor(options: FirmwareDownloadServiceOptions) {
    super();
    this.#options = options;
    this.repository = options.repository;
    this.httpBase = options.httpBase;
    this.grants = new DownloadGrants({
      ...(options.tokenLifetime === undefined ? {} : { lifetime: options.tokenLifetime }),
      ...(options.now ? { now: options.now } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /** Bytes served so far, every device together. */
  get bytesServed(): number {
    return this.#served;
  }

  async start(): Promise<void> {
    const o = this.#options;
    if (o.channel || o.udp !== false) {
      const udp = o.udp === false ? {} : (o.udp ?? {});
      const channel =
        o.channel ?? (await UdpChannel.open({ address: udp.address ?? '0.0.0.0', port: udp.port ?? 5685 }));
      const endpoint = new CoapEndpoint({
        channel,
        ...(o.random ? { random: o.random } : {}),
        onError: (e) => this.#error(e),
      });
      endpoint.onRequest((r) => this.#handle(r));
      this.#udp = { endpoint, channel, owned: o.channel === undefined };
    }
    if (o.tcp) {
      const channel = await TcpChannel.listen({ address: o.tcp.address ?? '0.0.0.0', port: o.tcp.port ?? 0 });
      const endpoint = new CoapReliableEndpoint({ channel, onError: (e) => this.#error(e) });
      endpoint.onRequest((r) => this.#handle(r));
      this.#tcp = { endpoint, channel };
    }
    if (o.coaps) this.#coaps = await this.#coapsSide(o.coaps);
  }

  async #coapsSide(coaps: DownloadCoapsOptions): Promise<{ endpoint: CoapMessaging; channel: Channel }> {
    const { DtlsChannel } = await import('../../dtls/dtls-channel.js');
    const inner =
      coaps.channel ??
      (await UdpChannel.open({ address: coaps.address ?? '0.0.0.0', port: coaps.port ?? 0 }));
    const onError = (e: unknown): void => this.#error(e);
    const channel = DtlsChannel.server({
      ...(this.#options.random ? { random: this.#options.random } : {}),
      ...coaps.dtls,
      channel: inner,
      psk: credentialPskLookup(coaps.credentials, onError),
      ...(coaps.hint === undefined ? {} : { hint: coaps.hint }),
      ...(coaps.certificate === undefined
        ? {}
        : {
            certificate: coaps.certificate,
            verifyPeer: devicePeerVerifier(coaps.trustAnchors, {
              knownRawKey: credentialRawKeyCheck(coaps.credentials, onError),
            }),
          }),
    });
    channel.onError(onError);
    const endpoint = new CoapEndpoint({
      channel,
      ...(this.#options.random ? { random: this.#options.random } : {}),
      onError,
    });
    endpoint.onRequest((r) => this.#handle(r));
    return { endpoint, channel };
  }

  async stop(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    const coaps = this.#coaps;
    this.#udp = undefined;
    this.#tcp = undefined;
    this.#coaps = undefined;
    await udp?.endpoint.close();
    if (udp?.owned) await udp.channel.close();
    await tcp?.endpoint.close();
    await tcp?.channel.close();
    // The DTLS channel closes the datagram channel under it.
    await coaps?.endpoint.close();
    await coaps?.channel.close();
  }

  /** Where the CoAP/UDP side listens. */
  get udpAddress(): { address: string; port: number } | undefined {
    return this.#udp?.channel.local;
  }

  get tcpAddress(): { address: string; port: number } | undefined {
    return this.#tcp?.channel.local;
  }

  /** Where the coaps:// (DTLS) side listens. */
  get coapsAddress(): { address: string; port: number } | undefined {
    return this.#coaps?.channel.local;
  }

  /** The schemes this service can put into a URI, in order of preference. */
  schemes(): string[] {
    const out: string[] = [];
    if (this.#udp) out.push('coap');
    if (this.#tcp) out.push('coap+tcp');
    // After the plain ones: a device that lists coaps in /5/0/8 but has no DTLS credentials for
    // this host would fail (Update Result 9); a device that wants only coaps lists only it.
    if (this.#coaps) out.push('coaps');
    const base = this.httpBase;
    if (base !== undefined) out.push(base.startsWith('https:') ? 'https' : 'http');
    return out;
  }

  /** The URI of `imageId` under `scheme` carrying `token`; undefined when the scheme is not served. */
  uri(scheme: string, imageId: string, token: string): string | undefined {
    const t = encodeURIComponent(token);
    const coapUri = (s: string, local: { address: string; port: number } | undefined): string | undefined => {
      if (!local) return undefined;
      const host =
        this.#options.publicHost ??
        (local.address === '0.0.0.0' || local.address === '::' ? '127.0.0.1' : local.address);
      return `${s}://${hostOf(host)}:${local.port}/fw/${imageId}?t=${t}`;
    };
    if (scheme === 'coap') return coapUri('coap', this.udpAddress);
    if (scheme === 'coap+tcp') return coapUri('coap+tcp', this.tcpAddress);
    if (scheme === 'coaps') return coapUri('coaps', this.coapsAddress);
    const base = this.httpBase;
    if ((scheme === 'http' || scheme === 'https') && base !== undefined && base.startsWith(`${scheme}:`))
      return `${base.replace(/\/+$/, '')}/api/firmware/images/${imageId}/content?t=${t}`;
    return undefined;
  }

  /** Issues a token for `endpoint` to fetch `imageId`. */
  issue(imageId: string, endpoint: string): DownloadGrant {
    return this.grants.issue(imageId, endpoint);
  }

  /** The grant a request's token gives for `imageId`, or undefined (a `refused` event is emitted). */
  authorize(imageId: string, token: string | undefined): DownloadGrant | undefined {
    const grant = this.grants.check(imageId, token);
    if (!grant) this.emit('refused', imageId, token === undefined ? 'no token' : 'invalid token');
    return grant;
  }

  /** Counts bytes served under a grant (the HTTP side reports its ranges here). */
  served(grant: DownloadGrant, offset: number, size: number, bytes: number): void {
    this.#served += bytes;
    this.emit('progress', { grant, offset, size, complete: offset >= size });
  }

  async #handle({ message }: IncomingRequest): Promise<CoapResponse> {
    const path = uriPath(message);
    if (path.length !== 2 || path[0] !== 'fw') return { code: CoapCode.NOT_FOUND };
    const id = path[1]!;
    if (message.code !== CoapCode.GET) return { code: CoapCode.METHOD_NOT_ALLOWED };
    if (!isImageId(id)) return { code: CoapCode.NOT_FOUND };
    const grant = this.authorize(id, tokenOf(uriQuery(message)));
    if (!grant) return { code: CoapCode.UNAUTHORIZED, payload: Buffer.from('a download token is required') };
    const info = await this.repository.get(id);
    if (!info) return { code: CoapCode.NOT_FOUND };
    const asked = block2(message);
    // UDP has no BERT (RFC 8323 §6): SZX 7 is served as 1024-byte blocks.
    const size = asked ? Math.min(blockSize(Math.min(asked.szx, 6)), DEFAULT_BLOCK) : DEFAULT_BLOCK;
    const num = asked?.num ?? 0;
    const offset = num * size;
    if (offset >= info.size && !(offset === 0 && info.size === 0))
      return { code: CoapCode.BAD_OPTION, payload: Buffer.from(`block ${num} is past the image`) };
    const bytes = await this.repository.read(id, offset, offset + size);
    if (!bytes) return { code: CoapCode.NOT_FOUND };
    const end = offset + bytes.length;
    const more = end < info.size;
    const whole = !asked && !more;
    this.served(grant, end, info.size, bytes.length);
    const options = new OptionsBuilder()
      .add(OptionNumber.ETAG, etagOf(info))
      .uint(OptionNumber.CONTENT_FORMAT, OCTET_STREAM);
    if (!whole) options.block(OptionNumber.BLOCK2, { num, more, szx: Math.log2(size) - 4 });
    // Size2 tells the device the whole size up front (RFC 7959 §4).
    options.uint(OptionNumber.SIZE2, info.size);
    return { code: CoapCode.CONTENT, options: options.build(), payload: bytes };
  }

  #error(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}

/** The ETag of an image: the first bytes of its id (its SHA-256). */
export function etagOf(info: Pick<FirmwareImageInfo, 'id'>): Uint8Array {
  return Uint8Array.from(Buffer.from(info.id.slice(0, ETAG_BYTES * 2), 'hex'));
}
