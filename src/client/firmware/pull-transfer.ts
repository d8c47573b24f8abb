/**
 * The seam between the /5 instance and a pull download (/5/0/1): a fetcher for one URI scheme
 * reads the package from `offset` on and hands its bytes over in order; the instance stores and
 * verifies them. Fetchers resume after a lost block or connection on their own (bounded retries)
 * and report what ends a download as an Update Result.
 */
import { systemClock } from '../../clock.js';
import type { Clock } from '../../clock.js';
import { PetrelError } from '../../errors.js';

/** /5/0/8 Firmware Update Protocol Support values. */
export const FirmwareProtocol = Object.freeze({
  CoAP: 0,
  CoAPS: 1,
  HTTP: 2,
  HTTPS: 3,
  CoAPTCP: 4,
  CoAPTLS: 5,
} as const);
export type FirmwareProtocolValue = (typeof FirmwareProtocol)[keyof typeof FirmwareProtocol];

/** URI scheme → /5/0/8 protocol. */
export const SCHEME_PROTOCOLS: ReadonlyMap<string, FirmwareProtocolValue> = new Map([
  ['coap:', FirmwareProtocol.CoAP],
  ['coaps:', FirmwareProtocol.CoAPS],
  ['http:', FirmwareProtocol.HTTP],
  ['https:', FirmwareProtocol.HTTPS],
  ['coap+tcp:', FirmwareProtocol.CoAPTCP],
  ['coaps+tcp:', FirmwareProtocol.CoAPTLS],
]);

export interface PullTransfer {
  /** Bytes already stored from an earlier attempt at the same URI (0: none). */
  readonly offset: number;
  /** The tag of the representation those bytes came from (hex CoAP ETag, or the HTTP entity tag). */
  readonly etag: string | undefined;
  /**
   * Says where this attempt's bytes go before the first `write`: `offset` (the same representation
   * continues) or 0 (the instance drops what it had and starts over).
   */
  begin(etag: string | undefined, offset: number): Promise<void>;
  /** The next bytes; rejects when they cannot be kept (the download then ends). */
  write(chunk: Uint8Array): Promise<void>;
  /** Aborted when the download is cancelled or reset. */
  readonly signal: AbortSignal;
}

/** Fetches `uri` into `transfer`; resolves when the whole package was written. */
export type PullFetcher = (uri: URL, transfer: PullTransfer) => Promise<void>;

/** Why a pull ended, as /5/0/5 reports it: 4 connection lost, 7 invalid URI, 9 unsupported protocol. */
export class PullError extends PetrelError {
  readonly updateResult: 4 | 7 | 9;
  constructor(updateResult: 4 | 7 | 9, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_FIRMWARE_PULL', message, options);
    this.updateResult = updateResult;
  }
}

/** Waits `ms` on `clock` unless `signal` aborts first. */
export function pauseUnlessAborted(
  ms: number,
  signal: AbortSignal,
  clock: Clock = systemClock,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = clock.setTimeout(done, ms);
    function done(): void {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
