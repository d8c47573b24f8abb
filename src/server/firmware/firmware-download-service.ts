// The firmware repository as devices pull from it (/5/0/1, LWM2M-1.2.md §6): a CoAP server of its
// own answering GET /fw/<image id>?t=<token> with Block2 (RFC 7959), over UDP and optionally TCP
// (RFC 8323), and the token check the REST API's HTTP download uses too.
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
import { TcpChannel } from '../../transport/tcp-channel.js';
import { UdpChannel } from '../../transport/udp-channel.js';
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

export interface FirmwareDownloadServiceOptions {
  readonly repository: FirmwareRepository;
  /** Where the CoAP/UDP side listens (`port: 0` picks one); `false`: no UDP side. */
  readonly udp?: { readonly address?: string; readonly port?: number } | false;
  /** Serve CoAP over this channel instead of a UDP socket (in-memory tests). */
  readonly channel?: Channel;
  /** Also serve coap+tcp:// here. */
  readonly tcp?: { readonly address?: string; readonly port?: number };
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
  }

  async stop(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    await udp?.endpoint.close();
    if (udp?.owned) await udp.channel.close();
    await tcp?.endpoint.close();
    await tcp?.channel.close();
  }

  /** Where the CoAP/UDP side listens. */
  get udpAddress(): { address: string; port: number } | undefined {
    return this.#udp?.channel.local;
  }

  get tcpAddress(): { address: string; port: number } | undefined {
    return this.#tcp?.channel.local;
  }

  /** The schemes this service can put into a URI, in order of preference. */
  schemes(): string[] {
    const out: string[] = [];
    if (this.#udp) out.push('coap');
    if (this.#tcp) out.push('coap+tcp');
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
