/**
 * Pulls a package over HTTP/1.1 or HTTPS (node:http/https), streaming the body into the
 * transfer. A dropped connection resumes with `Range: bytes=<stored>-` and `If-Range` (RFC 9110
 * §14.2, §13.1.5): a 206 continues, a 200 means the server sent the whole (possibly changed)
 * representation, so the download starts over.
 */
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { request as httpsRequest } from 'node:https';
import type { Clock } from '../../clock.js';
import type { PullTransfer } from './pull-transfer.js';
import { PullError, pauseUnlessAborted } from './pull-transfer.js';

export interface HttpPullOptions {
  /** Failed attempts in a row before Update Result 4 (default 4). */
  readonly retries?: number;
  /** Pause before each retry, ms (default 1000). */
  readonly retryDelay?: number;
  /** The clock of those pauses (default the system's). */
  readonly clock?: Clock;
  /** Socket inactivity that counts as a lost connection, ms (default 30 000). */
  readonly timeout?: number;
  /** Redirects followed (default 3). */
  readonly maxRedirects?: number;
  /** TLS settings for https:// (trust anchors, client certificate...). */
  readonly tls?: Pick<HttpsRequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
}

/** `bytes <first>-<last>/<total>` → first (undefined when unparsable). */
function rangeStart(header: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header ?? '');
  return m ? Number(m[1]) : undefined;
}

function get(uri: URL, headers: Record<string, string>, options: HttpPullOptions, signal: AbortSignal) {
  const send = uri.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(uri, {
      method: 'GET',
      headers,
      signal,
      ...(uri.protocol === 'https:' ? options.tls : {}),
    });
    req.setTimeout(options.timeout ?? 30_000, () => req.destroy(new Error('connection timed out')));
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });
}

export async function httpPull(
  start: URL,
  transfer: PullTransfer,
  options: HttpPullOptions = {},
): Promise<void> {
  const retries = options.retries ?? 4;
  const signal = transfer.signal;
  let uri = start;
  let offset = transfer.offset;
  let etag = transfer.etag;
  let begun = false;
  let failures = 0;
  let redirects = 0;
  while (!signal.aborted) {
    // Without a validator a changed file would be spliced onto the old bytes: start over instead.
    if (etag === undefined) offset = 0;
    const headers: Record<string, string> =
      offset > 0 && etag !== undefined ? { range: `bytes=${offset}-`, 'if-range': etag } : {};
    let res: IncomingMessage;
    try {
      res = await get(uri, headers, options, signal);
    } catch (e) {
      if (signal.aborted) return;
      if (++failures > retries)
        throw new PullError(4, `no answer from ${uri.host} after ${failures} attempts: ${String(e)}`, {
          cause: e,
        });
      await pauseUnlessAborted(options.retryDelay ?? 1000, signal, options.clock);
      continue;
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      res.resume();
      const next = new URL(location, uri);
      if (
        ++redirects > (options.maxRedirects ?? 3) ||
        (next.protocol !== 'http:' && next.protocol !== 'https:')
      )
        throw new PullError(7, `${uri.href} redirects too often or to ${next.protocol}`);
      uri = next;
      continue;
    }
    if (status === 416) {
      // The stored bytes no longer fit the representation: start over.
      res.resume();
      offset = 0;
      etag = undefined;
      begun = false;
      continue;
    }
    if (status !== 200 && status !== 206) {
      res.resume();
      if (status >= 500 && ++failures <= retries) {
        await pauseUnlessAborted(options.retryDelay ?? 1000, signal, options.clock);
        continue;
      }
      throw new PullError(status >= 500 ? 4 : 7, `${uri.href} answered HTTP ${status}`);
    }
    const tag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
    const at = status === 206 ? rangeStart(res.headers['content-range']) : 0;
    if (at === undefined || (at !== offset && at !== 0)) {
      res.resume();
      throw new PullError(4, `${uri.href} sent an unexpected range ${res.headers['content-range']}`);
    }
    if (!begun || at !== offset) {
      await transfer.begin(tag, at);
      begun = true;
    }
    offset = at;
    etag = tag;
    const length = Number(res.headers['content-length'] ?? NaN);
    const expected = Number.isFinite(length) ? offset + length : undefined;
    try {
      for await (const chunk of res) {
        await transfer.write(chunk as Uint8Array);
        offset += (chunk as Uint8Array).length;
        failures = 0;
      }
    } catch (e) {
      res.destroy();
      if (signal.aborted) return;
      // A write the instance refused (store full) ends the download; a lost connection resumes.
      if (!(e instanceof Error) || !isConnectionLoss(e)) throw e;
    }
    if (!res.complete || (expected !== undefined && offset < expected)) {
      if (++failures > retries)
        throw new PullError(4, `the connection to ${uri.host} was lost ${failures} times`);
      await pauseUnlessAborted(options.retryDelay ?? 1000, signal, options.clock);
      continue;
    }
    return;
  }
}

function isConnectionLoss(e: Error): boolean {
  const code = (e as { code?: string }).code;
  return (
    e.message === 'aborted' ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'EPIPE'
  );
}
