/**
 * Block-wise transfer (RFC 7959) as a layer over a CoapEndpoint, both roles:
 * - client: bodies larger than a block go out as a Block1 sequence (one fresh exchange per block,
 *   Size1 in the first, a Request-Tag per body as RFC 9175 §3.4 advises), and a response with
 *   Block2 M=1 is completed by fetching the following blocks; the caller sees one message.
 * - server: the wrapped handler sees whole bodies. Block1 bodies are reassembled by peer, method,
 *   request target and Request-Tag (never by token: RFC 7959 §2.4 lets every block use its own
 *   token, and libcoap does); a large response is served block by block from a cache.
 * - BERT (RFC 8323 §6), on reliable transports whose endpoint reports both sides announced it in
 *   their CSMs (blockCapacity): SZX 7, NUM counting 1024-byte units, each message carrying as many
 *   1024-byte units as fit the peer's Max-Message-Size. Without it, nothing changes.
 * Every table is bounded in entries, bytes and lifetime; the oldest entry is evicted first.
 */
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { PetrelError } from '../errors.js';
import { cryptoRandom, type RandomSource } from '../random.js';
import { peerKey, type Peer } from '../transport/channel.js';
import type { CoapMessaging } from './coap-messaging.js';
import type {
  CoapResponse,
  IncomingRequest,
  OutgoingRequest,
  RequestHandler,
  RequestOptions,
} from './endpoint.js';
import { CoapCode, isSuccess, type CoapMessage, type CoapOption } from './message.js';
import {
  BERT_SZX,
  MAX_BLOCK_NUM,
  OptionNumber,
  blockSize,
  block1,
  decodeBlock,
  block2,
  encodeBlock,
  encodeUint,
  getOption,
  getUint,
  sizeToSzx,
  sortOptions,
  type BlockOption,
} from './options.js';
import { exchangeLifetime } from './transmission.js';

export interface BlockwiseOptions {
  /** Block size we send and serve (16 .. 1024, a power of two; default 1024). */
  readonly blockSize?: number;
  /** Largest body reassembled or downloaded (default 1 MiB); a larger upload gets 4.13 with Size1. */
  readonly maxBodySize?: number;
  /** Block1 reassemblies and cached Block2 responses kept at once, each (default 100). */
  readonly maxTransfers?: number;
  /** Bytes held by each of those two tables (default 16 MiB). */
  readonly maxBufferedBytes?: number;
  /** How long an idle transfer is kept, in ms (default the endpoint's EXCHANGE_LIFETIME, 247 s). */
  readonly transferLifetime?: number;
  readonly clock?: Clock;
  /** Source of Request-Tag values. */
  readonly random?: RandomSource;
  /**
   * Use BERT (RFC 8323 §6: SZX 7, several 1024-byte blocks per message) with peers for which the
   * endpoint's blockCapacity says both sides support it (default true). Received BERT blocks are
   * always taken.
   */
  readonly bert?: boolean;
  /**
   * Streams chosen Block1 bodies instead of reassembling them (e.g. a firmware image written to
   * /5/0/0, which must not be held in memory whole). Asked for every Block1 request; undefined
   * leaves the request to reassembly and the handler.
   */
  readonly block1Sink?: Block1SinkProvider;
  /**
   * Asked first for every request the handler side receives (each block of a block-wise one): a
   * response answers the request at once (a rate limit's 4.29), undefined lets it through.
   */
  readonly admit?: (peer: Peer, message: CoapMessage) => CoapResponse | undefined;
}

/**
 * Where a streamed Block1 body goes, in order. The layer checks each block's offset against
 * `received`: the next block is handed on (2.31 once `write` resolves), a block already taken is
 * acknowledged again, any other gets 4.08 (RFC 7959 §2.9.2) and the sink stays as it was, so a
 * peer that resends from `received` resumes the body.
 */
export interface Block1Sink {
  /** Bytes taken so far: the offset the next block must start at. */
  readonly received: number;
  /**
   * Takes a block that is not the last (a view into the datagram: copy what is kept). A response
   * refuses it and is sent instead of 2.31.
   */
  write(chunk: Uint8Array): CoapResponse | undefined | Promise<CoapResponse | undefined>;
  /** Takes the last block and answers the whole request (the wrapped handler never sees it). */
  end(chunk: Uint8Array): CoapResponse | Promise<CoapResponse>;
}

/**
 * Decides, for a Block1 request (options as received, `block` its Block1), whether its body is
 * streamed: a sink (the one in progress for `block.num > 0`, a fresh one for num 0), a response
 * that refuses the block at once, or undefined for ordinary reassembly.
 */
export type Block1SinkProvider = (
  peer: Peer,
  request: CoapMessage,
  block: BlockOption,
) => Block1Sink | CoapResponse | undefined;

export interface BlockwiseRequestOptions extends RequestOptions {
  /** Early negotiation (RFC 7959 §2.4): ask for response blocks of this size (16 .. 1024). */
  readonly block2Size?: number;
}

export type BlockwiseErrorReason =
  | 'bad-block' // the peer answered with a block we did not ask for, or one of the wrong size
  | 'etag-mismatch' // the representation changed between blocks (RFC 7959 §2.4)
  | 'too-large' // the response body exceeds maxBodySize
  | 'interrupted' // a block request got a response other than the next block
  | 'bad-option'; // a block size that is not 16 .. 1024

/** A block-wise transfer that could not be completed; `response` is the message at fault. */
export class BlockwiseError extends PetrelError {
  constructor(
    readonly reason: BlockwiseErrorReason,
    message: string,
    readonly response?: CoapMessage,
  ) {
    super('PETREL_ERR_COAP_BLOCKWISE', message);
  }
}

/** Sizes of the layer's tables, for tests and diagnostics. */
export interface BlockwiseTableSizes {
  transfers: number;
  transferBytes: number;
  cached: number;
  cachedBytes: number;
}

interface Upload {
  readonly chunks: Uint8Array[];
  length: number;
  /** Offset of the last block taken, to re-acknowledge a block the client repeats. */
  lastOffset: number;
  expiresAt: number;
}

interface CachedResponse {
  readonly response: CoapResponse;
  expiresAt: number;
}

const EMPTY = new Uint8Array(0);
const NO_OPTIONS: readonly CoapOption[] = Object.freeze([]);
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const utf8 = new TextEncoder();

/** Options that name the request target (RFC 7959 §2.4, RFC 9175 §3.3: the block-wise operation). */
const TARGET_OPTIONS: ReadonlySet<number> = new Set([
  OptionNumber.URI_HOST,
  OptionNumber.URI_PORT,
  OptionNumber.URI_PATH,
  OptionNumber.URI_QUERY,
  OptionNumber.PROXY_URI,
  OptionNumber.PROXY_SCHEME,
]);
/** Options of a request that a block-wise layer owns and the wrapped handler never sees. */
const BLOCK_OPTIONS: ReadonlySet<number> = new Set([
  OptionNumber.BLOCK1,
  OptionNumber.BLOCK2,
  OptionNumber.SIZE1,
  OptionNumber.SIZE2,
]);

function checkedSzx(size: number, what: string): number {
  const szx = sizeToSzx(size);
  if (szx === undefined || szx > 6)
    throw new BlockwiseError('bad-option', `${what} must be 16, 32, 64, 128, 256, 512 or 1024, got ${size}`);
  return szx;
}

/** RFC 8323 §6: a BERT block is a multiple of 1024 bytes (the last one may be shorter). */
function validBlockLength(length: number, szx: number, more: boolean): boolean {
  const size = blockSize(szx);
  if (szx === BERT_SZX) return more ? length > 0 && length % size === 0 : true;
  return more ? length === size : length <= size;
}

/** Bytes a message needs besides its payload: header, token, these options, Block and Size options. */
function overhead(options: readonly CoapOption[]): number {
  let n = 64; // header up to 6, token up to 8, payload marker, Block/Size/ETag options, slack
  for (const o of options) n += o.value.length + 5;
  return Math.max(128, n);
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const without = (options: readonly CoapOption[], numbers: ReadonlySet<number>): CoapOption[] =>
  options.filter((o) => !numbers.has(o.number));

/** The options less the block-wise ones: the same array when it has none (the usual request). */
function withoutBlockOptions(options: readonly CoapOption[]): readonly CoapOption[] {
  return hasBlockOptions(options) ? without(options, BLOCK_OPTIONS) : options;
}

function hasBlockOptions(options: readonly CoapOption[]): boolean {
  for (let i = 0; i < options.length; i++) if (BLOCK_OPTIONS.has(options[i]!.number)) return true;
  return false;
}

/** `message` less its block-wise options: the message itself when it has none. */
function withoutBlocks<M extends { readonly options: readonly CoapOption[] }>(message: M): M {
  const options = withoutBlockOptions(message.options);
  return options === message.options ? message : { ...message, options };
}

const blockOption = (number: number, block: BlockOption): CoapOption => ({
  number,
  value: encodeBlock(block),
});

/**
 * The key of a block-wise operation: peer, method and request target, and for Block1 the
 * Request-Tag (RFC 9175 §3.3). For a Block2 response, Accept and a FETCH body select the
 * representation; the Request-Tag does not (a client need not repeat its upload's tag when it
 * fetches the later blocks of the response, RFC 7959 §3.3).
 */
function operationKey(pk: string, msg: CoapMessage, forResponse: boolean): string {
  let key = `${pk} ${msg.code}`;
  for (const o of msg.options)
    if (
      TARGET_OPTIONS.has(o.number) ||
      (forResponse ? o.number === OptionNumber.ACCEPT : o.number === OptionNumber.REQUEST_TAG)
    )
      key += ` ${o.number}=${hex(o.value)}`;
  if (forResponse && msg.code === CoapCode.FETCH && msg.payload.length > 0)
    key += ` body=${createHash('sha256').update(msg.payload).digest('hex')}`;
  return key;
}

/** Applies `fn` to a value or a promise of it, staying synchronous when the handler was. */
function then<T, U>(value: T | Promise<T>, fn: (v: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

/**
 * RFC 7959 block-wise transfers over a CoAP endpoint (datagram or reliable). Use its `request` instead of the endpoint's
 * and register handlers through its `onRequest`; everything else goes to the endpoint directly.
 */
export class BlockwiseLayer {
  readonly #endpoint: CoapMessaging;
  readonly #szx: number;
  readonly #maxBodySize: number;
  readonly #maxTransfers: number;
  readonly #maxBufferedBytes: number;
  readonly #lifetime: number;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #bert: boolean;
  readonly #block1Sink: Block1SinkProvider | undefined;
  readonly #admit: BlockwiseOptions['admit'];
  #handler: RequestHandler | undefined;
  /** Block1 reassemblies, oldest first (every block moves its transfer to the end). */
  readonly #uploads = new Map<string, Upload>();
  #uploadBytes = 0;
  /** Responses being served in Block2 blocks, oldest first. */
  readonly #responses = new Map<string, CachedResponse>();
  #responseBytes = 0;

  constructor(endpoint: CoapMessaging, options: BlockwiseOptions = {}) {
    this.#endpoint = endpoint;
    this.#szx = checkedSzx(options.blockSize ?? 1024, 'blockSize');
    this.#maxBodySize = options.maxBodySize ?? 1 << 20;
    this.#maxTransfers = options.maxTransfers ?? 100;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 16 << 20;
    this.#lifetime = options.transferLifetime ?? exchangeLifetime(endpoint.transmission);
    for (const [name, v] of [
      ['maxBodySize', this.#maxBodySize],
      ['maxTransfers', this.#maxTransfers],
      ['maxBufferedBytes', this.#maxBufferedBytes],
      ['transferLifetime', this.#lifetime],
    ] as const)
      if (!(Number.isSafeInteger(v) && v >= 1))
        throw new BlockwiseError('bad-option', `${name} must be a positive integer, got ${v}`);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#bert = options.bert ?? true;
    this.#block1Sink = options.block1Sink;
    this.#admit = options.admit;
  }

  /**
   * The payload of one BERT message to `peer` (a multiple of 1024 that fits its Max-Message-Size
   * with `options`), or undefined when BERT is not to be used with it.
   */
  #bertSize(peer: Peer, options: readonly CoapOption[]): number | undefined {
    if (!this.#bert) return undefined;
    const capacity = this.#endpoint.blockCapacity?.(peer);
    if (!capacity?.bert) return undefined;
    const units = Math.floor((capacity.maxMessageSize - overhead(options)) / 1024);
    return Math.max(1, units) * 1024;
  }

  get blockSize(): number {
    return blockSize(this.#szx);
  }

  tableSizes(): BlockwiseTableSizes {
    return {
      transfers: this.#uploads.size,
      transferBytes: this.#uploadBytes,
      cached: this.#responses.size,
      cachedBytes: this.#responseBytes,
    };
  }

  // ---- client role ----

  /**
   * Sends a request, in Block1 blocks when its payload is larger than a block, and resolves with
   * the final response, its Block2 blocks (if any) joined into one payload. `timeout` applies to
   * each block exchange. A request that already carries Block1, or Block2 with num > 0, is the
   * caller's own block-wise exchange and passes through untouched.
   */
  request(peer: Peer, request: OutgoingRequest, options: BlockwiseRequestOptions = {}): Promise<CoapMessage> {
    try {
      // The usual request (no block options of the caller's, a payload that fits one message)
      // goes straight to the endpoint, without an async frame of its own: this runs for every
      // request the server sends.
      const given = request.options ?? NO_OPTIONS;
      if (
        options.block2Size === undefined &&
        !hasBlockOptions(given) &&
        (request.payload?.length ?? 0) <= (this.#bertSize(peer, given) ?? blockSize(this.#szx))
      )
        return this.#endpoint
          .request(peer, request, options)
          .then((first) =>
            getOption(first, OptionNumber.BLOCK2) === undefined
              ? first
              : this.#download(peer, request, first, false, options),
          );
      return this.#request(peer, request, options);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async #request(
    peer: Peer,
    request: OutgoingRequest,
    options: BlockwiseRequestOptions,
  ): Promise<CoapMessage> {
    const given = request.options ?? [];
    const raw2 = given.find((o) => o.number === OptionNumber.BLOCK2);
    const b2 = raw2 && decodeBlock(raw2.value);
    if (given.some((o) => o.number === OptionNumber.BLOCK1) || (raw2 && (!b2 || b2.num > 0)))
      return this.#endpoint.request(peer, request, options);
    // A Block2 num 0 of the caller's is early negotiation, as block2Size is.
    const early = options.block2Size !== undefined ? checkedSzx(options.block2Size, 'block2Size') : b2?.szx;
    const base: OutgoingRequest = { ...request, options: without(given, BLOCK_OPTIONS) };
    const payload = request.payload ?? EMPTY;
    const bert = this.#bertSize(peer, base.options ?? []);
    const uploaded = payload.length > (bert ?? blockSize(this.#szx));
    const first = uploaded
      ? await this.#upload(peer, base, payload, early, options, bert)
      : await this.#endpoint.request(peer, withBlock2(base, early), options);
    return this.#download(peer, base, first, uploaded, options);
  }

  async #upload(
    peer: Peer,
    request: OutgoingRequest,
    payload: Uint8Array,
    early: number | undefined,
    options: RequestOptions,
    bertSize: number | undefined,
  ): Promise<CoapMessage> {
    let base = request.options ?? [];
    // RFC 9175 §3.4: a Request-Tag per body lets a server tell concurrent bodies to one target apart.
    if (!base.some((o) => o.number === OptionNumber.REQUEST_TAG))
      base = [...base, { number: OptionNumber.REQUEST_TAG, value: this.#random.bytes(4) }];
    // With BERT (RFC 8323 §6) a message carries `bert` bytes under SZX 7 and NUM counts 1024s.
    let bert = bertSize;
    let szx = bert === undefined ? this.#szx : BERT_SZX;
    let offset = 0;
    for (let restarts = 0; ;) {
      // A body that started in plain blocks stays in them even when the peer's CSM announces
      // BERT meanwhile: RFC 7959 §2.3 lets block sizes only shrink during a transfer, and libcoap
      // 4.3 answers a switch to SZX 7 with an empty 0.00 message (test/interop/coap-tcp-libcoap).
      const size = bert ?? blockSize(szx);
      const num = offset / blockSize(szx); // sizes only shrink (powers of two), so this stays whole
      if (num > MAX_BLOCK_NUM)
        throw new BlockwiseError('too-large', `body needs more than 2^20 blocks of ${blockSize(szx)}`);
      const chunk = payload.subarray(offset, offset + size);
      const more = offset + chunk.length < payload.length;
      const opts = [...base, blockOption(OptionNumber.BLOCK1, { num, more, szx })];
      if (num === 0) opts.push({ number: OptionNumber.SIZE1, value: encodeUint(payload.length) });
      // RFC 7959 §3.3: early Block2 negotiation rides on the last Block1 block.
      if (!more && early !== undefined)
        opts.push(blockOption(OptionNumber.BLOCK2, { num: 0, more: false, szx: early }));
      const response = await this.#endpoint.request(
        peer,
        { ...request, options: sortOptions(opts), payload: chunk },
        options,
      );
      const ack = block1(response);
      if (response.code === CoapCode.CONTINUE && more) {
        if (!ack || ack.num !== num)
          throw new BlockwiseError('bad-block', `2.31 for block ${num} without a matching Block1`, response);
        offset += chunk.length;
        // RFC 7959 §2.5: the server may ask for smaller blocks; it kept the whole block it got.
        // A server answering a BERT block with SZX < 7 takes no BERT: plain blocks from here.
        if (ack.szx < szx) {
          szx = Math.min(ack.szx, this.#szx);
          bert = undefined;
        }
        continue;
      }
      // RFC 7959 §2.9.3: a 4.13 with Block1 names the largest block size the server takes; start over.
      if (
        response.code === CoapCode.REQUEST_ENTITY_TOO_LARGE &&
        ack &&
        ack.szx < szx &&
        num === 0 &&
        restarts < 7
      ) {
        szx = Math.min(ack.szx, this.#szx);
        bert = undefined;
        restarts++;
        continue;
      }
      return response;
    }
  }

  /**
   * Completes a response that arrived outside `request`, such as an observe notification carrying
   * Block2 M=1 (RFC 7959 §2.6): fetches the later blocks with `request` (Observe is left out) and
   * returns the whole representation. A response without Block2 M=1 is returned as it is.
   */
  fetchRemaining(
    peer: Peer,
    request: OutgoingRequest,
    first: CoapMessage,
    options: RequestOptions = {},
  ): Promise<CoapMessage> {
    const base: OutgoingRequest = { ...request, options: without(request.options ?? [], BLOCK_OPTIONS) };
    return this.#download(peer, base, first, false, options);
  }

  async #download(
    peer: Peer,
    request: OutgoingRequest,
    first: CoapMessage,
    uploaded: boolean,
    options: RequestOptions,
  ): Promise<CoapMessage> {
    const b = block2(first);
    if (!b || !b.more) return first;
    if (b.num !== 0) throw new BlockwiseError('bad-block', `first response carries block ${b.num}`, first);
    const size2 = getUint(first, OptionNumber.SIZE2);
    if (size2 !== undefined && size2 > this.#maxBodySize)
      throw new BlockwiseError('too-large', `Size2 ${size2} exceeds ${this.#maxBodySize}`, first);
    if (!validBlockLength(first.payload.length, b.szx, true))
      throw new BlockwiseError(
        'bad-block',
        `block 0 of ${first.payload.length} bytes with SZX ${b.szx}`,
        first,
      );
    const etag = getOption(first, OptionNumber.ETAG);
    const chunks = [first.payload];
    let total = first.payload.length;
    let szx = b.szx;
    // Later block requests repeat the request without Block1 (and Observe, RFC 7959 §2.6); only a
    // FETCH body that went in one message selects the representation and is sent again.
    const repeatBody = request.code === CoapCode.FETCH && !uploaded;
    const base = without(request.options ?? [], new Set([OptionNumber.OBSERVE]));
    for (;;) {
      const num = total / blockSize(szx);
      if (num > MAX_BLOCK_NUM)
        throw new BlockwiseError('too-large', 'response needs more than 2^20 blocks', first);
      const response = await this.#endpoint.request(
        peer,
        {
          ...request,
          options: sortOptions([...base, blockOption(OptionNumber.BLOCK2, { num, more: false, szx })]),
          payload: repeatBody ? request.payload : EMPTY,
        },
        options,
      );
      const got = block2(response);
      if (!isSuccess(response.code) || !got)
        throw new BlockwiseError(
          'interrupted',
          `block ${num} answered ${response.code >> 5}.${String(response.code & 31).padStart(2, '0')}`,
          response,
        );
      const size = blockSize(got.szx);
      if (got.num * size !== total || !validBlockLength(response.payload.length, got.szx, got.more))
        throw new BlockwiseError(
          'bad-block',
          `asked for offset ${total}, got block ${got.num} of ${response.payload.length} bytes (SZX ${got.szx})`,
          response,
        );
      const tag = getOption(response, OptionNumber.ETAG);
      if (etag !== undefined && (tag === undefined || hex(tag) !== hex(etag)))
        throw new BlockwiseError('etag-mismatch', `ETag changed at block ${got.num}`, response);
      total += response.payload.length;
      if (total > this.#maxBodySize)
        throw new BlockwiseError('too-large', `response body exceeds ${this.#maxBodySize} bytes`, response);
      chunks.push(response.payload);
      if (!got.more) break;
      if (got.szx < szx) szx = got.szx;
      if (response.payload.length === 0)
        throw new BlockwiseError('bad-block', 'empty block with M=1', response);
    }
    return {
      ...first,
      options: without(first.options, new Set([OptionNumber.BLOCK2])),
      payload: concat(chunks, total),
    };
  }

  // ---- server role ----

  /** Sets the handler, which sees whole request bodies and may answer with any size of payload. */
  onRequest(handler: RequestHandler): this {
    this.#handler = handler;
    this.#endpoint.onRequest((req) => this.#handle(req));
    return this;
  }

  /**
   * The first block of a response we send outside a request handler, such as an observe
   * notification (RFC 7959 §2.6): a response larger than a block is cached under `request`
   * (its peer, method and target) so the client's GETs for the later blocks are served from it.
   */
  firstBlock(peer: Peer, request: CoapMessage, response: CoapResponse): CoapResponse {
    const plain = { ...request, options: without(request.options, BLOCK_OPTIONS) };
    return this.#serveFirst(peer, peerKey(peer), plain, response, block2(request)?.szx);
  }

  #handle({ peer, message }: IncomingRequest): CoapResponse | Promise<CoapResponse> {
    const refused = this.#admit?.(peer, message);
    if (refused) return refused;
    const pk = peerKey(peer);
    if (getOption(message, OptionNumber.BLOCK1) !== undefined) return this.#receiveBlock1(peer, pk, message);
    const b2 = block2(message);
    if (b2 && b2.num > 0) return this.#serveLater(peer, pk, message, b2);
    const request = withoutBlocks(message);
    return then(this.#call(peer, request), (response) =>
      this.#serveFirst(peer, pk, request, response, b2?.szx),
    );
  }

  #call(peer: Peer, message: CoapMessage): CoapResponse | Promise<CoapResponse> {
    const handler = this.#handler;
    return handler ? handler({ peer, message }) : { code: CoapCode.NOT_FOUND };
  }

  #receiveBlock1(peer: Peer, pk: string, message: CoapMessage): CoapResponse | Promise<CoapResponse> {
    const b = block1(message);
    if (!b) return { code: CoapCode.BAD_OPTION };
    const size = blockSize(b.szx);
    const { payload } = message;
    // RFC 7959 §2.2: every block but the last is exactly the block size (BERT: a multiple of it).
    if (!validBlockLength(payload.length, b.szx, b.more))
      return {
        code: CoapCode.BAD_REQUEST,
        payload: utf8.encode(`block ${b.num} of ${payload.length} bytes with SZX ${b.szx}`),
      };
    const offset = b.num * size;
    // A BERT block is taken whole; the ack says whether more may come in BERT (RFC 8323 §6).
    const ackSzx = b.szx === BERT_SZX && this.#bert ? BERT_SZX : Math.min(b.szx, this.#szx);
    const sink = this.#block1Sink?.(peer, message, b);
    if (sink !== undefined) return this.#stream(sink, b, offset, payload, ackSzx);
    const key = operationKey(pk, message, false);
    const now = this.#clock.now();
    let upload = this.#uploads.get(key);
    if (upload && upload.expiresAt <= now) {
      this.#dropUpload(key, upload);
      upload = undefined;
    }
    if (b.num === 0) {
      if (upload) this.#dropUpload(key, upload);
      const size1 = getUint(message, OptionNumber.SIZE1);
      if (size1 !== undefined && size1 > this.#maxBodySize) return this.#tooLarge();
      upload = { chunks: [], length: 0, lastOffset: -1, expiresAt: 0 };
    } else if (!upload || offset !== upload.length) {
      // The client repeated the block just taken (with a new message id): acknowledge it again.
      if (upload && offset === upload.lastOffset && b.more && offset + payload.length === upload.length)
        return this.#continue(b.num, ackSzx);
      // RFC 7959 §2.9.2: blocks missing before this one.
      return {
        code: CoapCode.REQUEST_ENTITY_INCOMPLETE,
        payload: utf8.encode(
          upload ? `expected offset ${upload.length}, got ${offset}` : 'no body in progress',
        ),
      };
    }
    if (upload.length + payload.length > this.#maxBodySize) {
      this.#dropUpload(key, upload);
      return this.#tooLarge();
    }
    this.#uploads.delete(key);
    if (b.more) {
      // Copy: the payload is a view into a datagram buffer.
      upload.chunks.push(payload.slice());
      upload.lastOffset = offset;
      upload.length += payload.length;
      this.#uploadBytes += payload.length;
      upload.expiresAt = now + this.#lifetime;
      this.#uploads.set(key, upload);
      this.#evict(
        this.#uploads,
        now,
        () => this.#uploadBytes,
        (u) => (this.#uploadBytes -= u.length),
      );
      return this.#continue(b.num, ackSzx);
    }
    this.#uploadBytes -= upload.length;
    upload.chunks.push(payload);
    const body = concat(upload.chunks, upload.length + payload.length);
    const request: CoapMessage = {
      ...message,
      options: without(message.options, BLOCK_OPTIONS),
      payload: body,
    };
    const early = block2(message)?.szx;
    return then(this.#call(peer, request), (response) => {
      const served = this.#serveFirst(peer, pk, request, response, early);
      const last = blockOption(OptionNumber.BLOCK1, { num: b.num, more: false, szx: b.szx });
      return { ...served, options: sortOptions([...(served.options ?? []), last]) };
    });
  }

  /** One block of a streamed body (BlockwiseOptions.block1Sink). */
  #stream(
    sink: Block1Sink | CoapResponse,
    b: BlockOption,
    offset: number,
    payload: Uint8Array,
    ackSzx: number,
  ): CoapResponse | Promise<CoapResponse> {
    if (!('received' in sink)) return sink;
    if (offset !== sink.received) {
      // The peer repeated a block already taken (its 2.31 was lost): acknowledge it again.
      if (b.more && offset < sink.received && offset + payload.length <= sink.received)
        return this.#continue(b.num, ackSzx);
      return {
        code: CoapCode.REQUEST_ENTITY_INCOMPLETE,
        payload: utf8.encode(`expected offset ${sink.received}, got ${offset}`),
      };
    }
    if (b.more) return then(sink.write(payload), (refusal) => refusal ?? this.#continue(b.num, ackSzx));
    return then(sink.end(payload), (response) => ({
      ...response,
      options: sortOptions([
        ...(response.options ?? []),
        blockOption(OptionNumber.BLOCK1, { num: b.num, more: false, szx: b.szx }),
      ]),
    }));
  }

  #continue(num: number, szx: number): CoapResponse {
    return { code: CoapCode.CONTINUE, options: [blockOption(OptionNumber.BLOCK1, { num, more: true, szx })] };
  }

  #tooLarge(): CoapResponse {
    // RFC 7959 §2.9.3, §4: Size1 in a 4.13 tells the client the largest body we take.
    return {
      code: CoapCode.REQUEST_ENTITY_TOO_LARGE,
      options: [{ number: OptionNumber.SIZE1, value: encodeUint(this.#maxBodySize) }],
    };
  }

  #dropUpload(key: string, upload: Upload): void {
    this.#uploads.delete(key);
    this.#uploadBytes -= upload.length;
  }

  /** The answer to a request without Block2 or with Block2 num 0: the whole response or its first block. */
  #serveFirst(
    peer: Peer,
    pk: string,
    request: CoapMessage,
    response: CoapResponse,
    requestedSzx: number | undefined,
  ): CoapResponse {
    // BERT unless the client asked for a plain block size (early negotiation, RFC 7959 §2.4).
    const bert =
      requestedSzx === undefined || requestedSzx === BERT_SZX
        ? this.#bertSize(peer, response.options ?? [])
        : undefined;
    const szx = bert === undefined ? Math.min(requestedSzx ?? this.#szx, this.#szx) : BERT_SZX;
    const length = response.payload?.length ?? 0;
    if (length <= (bert ?? blockSize(szx))) {
      if (requestedSzx === undefined) return response;
      // The client asked for blocks: say it is all there is (RFC 7959 §2.4).
      return {
        ...response,
        options: sortOptions([
          ...(response.options ?? []),
          blockOption(OptionNumber.BLOCK2, { num: 0, more: false, szx }),
        ]),
      };
    }
    const now = this.#clock.now();
    const key = operationKey(pk, request, true);
    const old = this.#responses.get(key);
    if (old) {
      this.#responses.delete(key);
      this.#responseBytes -= old.response.payload?.length ?? 0;
    }
    this.#responses.set(key, { response, expiresAt: now + this.#lifetime });
    this.#responseBytes += length;
    this.#evict(
      this.#responses,
      now,
      () => this.#responseBytes,
      (c) => (this.#responseBytes -= c.response.payload?.length ?? 0),
    );
    return this.#slice(response, 0, szx, bert);
  }

  /** A request for block num > 0: from the cache, or by running the handler again (GET, FETCH). */
  #serveLater(
    peer: Peer,
    pk: string,
    message: CoapMessage,
    b: BlockOption,
  ): CoapResponse | Promise<CoapResponse> {
    const request = { ...message, options: without(message.options, BLOCK_OPTIONS) };
    const key = operationKey(pk, request, true);
    const now = this.#clock.now();
    const cached = this.#responses.get(key);
    const bert = b.szx === BERT_SZX ? this.#bertSize(peer, cached?.response.options ?? []) : undefined;
    if (cached && cached.expiresAt > now) return this.#slice(cached.response, b.num, b.szx, bert);
    if (cached) {
      this.#responses.delete(key);
      this.#responseBytes -= cached.response.payload?.length ?? 0;
    }
    // RFC 7959 §2.4: a block of a representation we no longer hold; for a safe method just make it
    // again. Anything else (POST, PUT) cannot be repeated: the body is gone.
    if (message.code !== CoapCode.GET && message.code !== CoapCode.FETCH)
      return { code: CoapCode.REQUEST_ENTITY_INCOMPLETE, payload: utf8.encode('response no longer held') };
    return then(this.#call(peer, request), (response) => {
      if (!isSuccess(response.code)) return response;
      const served = this.#serveFirst(peer, pk, request, response, b.szx);
      return b.num === 0 ? served : this.#slice(response, b.num, b.szx, bert);
    });
  }

  /**
   * Block `num` (of size 2^(szx+4) as the client counts; 1024 for BERT) of a response, in at most
   * our block size, or in `bert` bytes under SZX 7 (RFC 8323 §6).
   */
  #slice(response: CoapResponse, num: number, requestedSzx: number, bert?: number): CoapResponse {
    const payload = response.payload ?? EMPTY;
    const offset = num * blockSize(requestedSzx);
    if (num > 0 && offset >= payload.length)
      return { code: CoapCode.BAD_OPTION, payload: utf8.encode(`block ${num} is past the end`) };
    const szx = bert === undefined ? Math.min(requestedSzx, this.#szx) : BERT_SZX;
    const size = bert ?? blockSize(szx);
    const more = offset + size < payload.length;
    const options = without(response.options ?? [], BLOCK_OPTIONS);
    options.push(blockOption(OptionNumber.BLOCK2, { num: offset / blockSize(szx), more, szx }));
    if (offset === 0) options.push({ number: OptionNumber.SIZE2, value: encodeUint(payload.length) });
    return { ...response, options: sortOptions(options), payload: payload.subarray(offset, offset + size) };
  }

  /** Drops expired entries and, past the bounds, the oldest ones (maps are kept oldest first). */
  #evict<T extends { expiresAt: number }>(
    map: Map<string, T>,
    now: number,
    bytes: () => number,
    release: (entry: T) => void,
  ): void {
    for (const [key, entry] of map) {
      if (map.size <= this.#maxTransfers && bytes() <= this.#maxBufferedBytes && entry.expiresAt > now) break;
      map.delete(key);
      release(entry);
    }
  }
}

function withBlock2(request: OutgoingRequest, szx: number | undefined): OutgoingRequest {
  if (szx === undefined) return request;
  return {
    ...request,
    options: sortOptions([
      ...(request.options ?? []),
      blockOption(OptionNumber.BLOCK2, { num: 0, more: false, szx }),
    ]),
  };
}
