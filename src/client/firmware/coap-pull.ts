/**
 * Pulls a package over CoAP with Block2 (RFC 7959), block by block straight into the transfer:
 * nothing is reassembled. A lost block is asked for again; a repeated loss resumes from the last
 * byte stored (a new session for the stream schemes); an ETag that changes means another
 * representation, so the download starts over.
 */
import type { CoapMessaging } from '../../coap/coap-messaging.js';
import { CoapCode, formatCode, isSuccess } from '../../coap/message.js';
import type { CoapMessage } from '../../coap/message.js';
import {
  MAX_BLOCK_NUM,
  OptionNumber,
  OptionsBuilder,
  blockSize,
  block2,
  encodeBlock,
  getOption,
  sizeToSzx,
} from '../../coap/options.js';
import type { Peer } from '../../transport/channel.js';
import type { Clock } from '../../clock.js';
import type { PullTransfer } from './pull-transfer.js';
import { PullError, pauseUnlessAborted } from './pull-transfer.js';

/** A CoAP endpoint that reaches the URI's host, and how to let go of it. */
export interface CoapPullSession {
  readonly messaging: CoapMessaging;
  readonly peer: Peer;
  close?(): Promise<void>;
}

export interface CoapPullOptions {
  /** Opens (or lends) an endpoint for the URI's scheme and host. */
  readonly session: (uri: URL) => Promise<CoapPullSession>;
  /** Block size asked for (16 .. 1024; default 1024). */
  readonly blockSize?: number;
  /** Failed exchanges in a row before the download fails with Update Result 4 (default 4). */
  readonly retries?: number;
  /** Pause before each retry, ms (default 1000). */
  readonly retryDelay?: number;
  /** The clock of those pauses (default the system's). */
  readonly clock?: Clock;
  /** Deadline of one block exchange, ms (default the endpoint's). */
  readonly timeout?: number;
}

const hex = (b: Uint8Array | undefined): string | undefined =>
  b && Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Uri-Path and Uri-Query of a URI (percent-decoded segments, RFC 7252 §6.4). */
function targetOptions(uri: URL): OptionsBuilder {
  const builder = new OptionsBuilder();
  const path = uri.pathname.split('/').slice(1);
  if (path.length > 0 && path[path.length - 1] === '') path.pop();
  builder.uriPath(path.map((s) => decodeURIComponent(s)));
  if (uri.search.length > 1)
    builder.uriQuery(
      uri.search
        .slice(1)
        .split('&')
        .map((q) => decodeURIComponent(q)),
    );
  return builder;
}

/** The largest block size at most `preferred` that `offset` is a multiple of (undefined below 16). */
function resumeSize(offset: number, preferred: number): number | undefined {
  let size = preferred;
  while (size >= 16 && offset % size !== 0) size /= 2;
  return size >= 16 ? size : undefined;
}

function refusalResult(code: number): 4 | 7 {
  // The URI names nothing this client may fetch: Invalid URI. A server error may pass: retry.
  return code >= CoapCode.INTERNAL_SERVER_ERROR ? 4 : 7;
}

export async function coapPull(uri: URL, transfer: PullTransfer, options: CoapPullOptions): Promise<void> {
  const preferred = options.blockSize ?? 1024;
  if (sizeToSzx(preferred) === undefined || preferred > 1024)
    throw new PullError(4, `block size ${preferred} is not 16 .. 1024`);
  const retries = options.retries ?? 4;
  const target = targetOptions(uri).build();
  let offset = transfer.offset;
  let etag = transfer.etag;
  let size = resumeSize(offset, preferred);
  if (size === undefined) {
    offset = 0;
    size = preferred;
  }
  let begun = false;
  let failures = 0;
  let session: CoapPullSession | undefined;
  const signal = transfer.signal;
  try {
    while (!signal.aborted) {
      const num = offset / size;
      if (num > MAX_BLOCK_NUM) throw new PullError(4, 'the package needs more than 2^20 blocks');
      let response: CoapMessage;
      try {
        session ??= await options.session(uri);
        response = await session.messaging.request(
          session.peer,
          {
            code: CoapCode.GET,
            options: [
              ...target,
              {
                number: OptionNumber.BLOCK2,
                value: encodeBlock({ num, more: false, szx: sizeToSzx(size)! }),
              },
            ].sort((a, b) => a.number - b.number),
          },
          options.timeout === undefined ? {} : { timeout: options.timeout },
        );
      } catch (e) {
        if (e instanceof PullError) throw e;
        if (++failures > retries)
          throw new PullError(4, `no answer from ${uri.host} after ${failures} attempts: ${String(e)}`, {
            cause: e,
          });
        await session?.close?.().catch(() => undefined);
        session = undefined;
        await pauseUnlessAborted(options.retryDelay ?? 1000, signal, options.clock);
        continue;
      }
      if (signal.aborted) return;
      if (!isSuccess(response.code)) {
        const result = refusalResult(response.code);
        if (result === 4 && ++failures <= retries) {
          await pauseUnlessAborted(options.retryDelay ?? 1000, signal, options.clock);
          continue;
        }
        throw new PullError(result, `${uri.href} answered ${formatCode(response.code)}`);
      }
      const got = block2(response);
      const tag = hex(getOption(response, OptionNumber.ETAG));
      const at = got ? got.num * blockSize(got.szx) : 0;
      // Another representation than the bytes stored, or a server that cannot serve from the
      // offset (a whole body, or another block): start over from the first block.
      if (
        (!begun && offset > 0 && (at !== offset || (etag !== undefined && tag !== etag))) ||
        (begun && tag !== etag)
      ) {
        offset = 0;
        size = preferred;
        begun = false;
        etag = undefined;
        continue;
      }
      if (at !== offset) throw new PullError(4, `asked for offset ${offset}, got ${at}`);
      if (got && got.more && response.payload.length !== blockSize(got.szx))
        throw new PullError(4, `block ${got.num} of ${response.payload.length} bytes (SZX ${got.szx})`);
      if (!begun) {
        await transfer.begin(tag, offset);
        begun = true;
        etag = tag;
      }
      await transfer.write(response.payload);
      offset += response.payload.length;
      failures = 0;
      if (!got?.more) return;
      // The server may serve smaller blocks than asked (RFC 7959 §2.4): follow it.
      if (blockSize(got.szx) < size) size = blockSize(got.szx);
    }
  } finally {
    await session?.close?.().catch(() => undefined);
  }
}
