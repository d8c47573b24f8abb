/**
 * Where the client keeps a firmware image while it downloads and until it is installed: a
 * bounded sink the download streams into (never one buffer of the whole package unless the
 * application chose the memory store), plus a small saved state so a download can resume after
 * a restart. FileFirmwareStore (file-firmware-store.ts) is the default; MemoryFirmwareStore is
 * for tests and devices without a file system.
 */
import { PetrelError } from '../../errors.js';
import type { PackageFacts } from '../../firmware/package-stream.js';
import type { FirmwareStatus } from './firmware-state.js';

export type FirmwareStoreErrorReason =
  | 'full' // the image would exceed maxSize (Update Result 2)
  | 'io' // the medium failed (Update Result 2)
  | 'not-open'; // write/close without open (a programming error)

export class FirmwareStoreError extends PetrelError {
  readonly reason: FirmwareStoreErrorReason;
  constructor(reason: FirmwareStoreErrorReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_FIRMWARE_STORE_${reason.toUpperCase().replaceAll('-', '_')}`, message, options);
    this.reason = reason;
  }
}

/** A complete image, handed to FirmwareApplication.install. */
export interface StoredImage {
  readonly size: number;
  /** The file holding it (file store). */
  readonly path?: string;
  /** Its bytes in chunks, from the start (`for await` takes either kind). */
  read(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** What the /5 instance saves to resume after a restart (JSON-safe). */
export interface FirmwareSnapshot {
  readonly status: FirmwareStatus;
  readonly delivery?: 'push' | 'pull';
  /** /5/0/1 of a pull. */
  readonly uri?: string;
  /** Transfer bytes taken so far (the offset a resumed pull asks for). */
  readonly received?: number;
  /** The representation's ETag (hex, CoAP) or entity tag (HTTP), to resume only the same one. */
  readonly etag?: string;
  readonly facts?: { readonly name?: string; readonly version?: string };
  /**
   * Base64 of the PackageStream checkpoint of a pull under way (the package's envelope before
   * the image): a resumed pull replays it and the stored image bytes through a fresh stream.
   */
  readonly checkpoint?: string;
  /** /5/0/11, /5/0/13 and /5/0/14 as the server last wrote them. */
  readonly settings?: {
    readonly severity?: number;
    readonly maxDeferPeriod?: number;
    readonly automaticUpgrade?: boolean;
  };
  /** Why the last attempt failed (FirmwareUpdateInstance.lastError). */
  readonly lastError?: {
    readonly phase: string;
    readonly code: string;
    readonly updateResult: number;
    readonly message: string;
    readonly at: number;
  };
  /** Downloads and updates started, and failed, since the last successful update. */
  readonly attempts?: number;
  readonly failures?: number;
}

export interface FirmwareStore {
  /** The largest image it takes, bytes. */
  readonly maxSize: number;
  /**
   * Opens the image for writing after its first `offset` bytes (0: a new image). Resolves with the
   * bytes actually kept: fewer than `offset` when fewer were stored.
   */
  open(offset: number): Promise<number>;
  /** Appends bytes (copies them). Rejects with FirmwareStoreError 'full' past maxSize, 'io'. */
  write(chunk: Uint8Array): Promise<void>;
  /** The image is complete. */
  close(): Promise<StoredImage>;
  /** Drops the image (and anything open). */
  discard(): Promise<void>;
  /** The complete image kept from before, if any (after a restart in Downloaded). */
  image(): Promise<StoredImage | undefined>;
  /**
   * The bytes the last `open(offset)` kept, from the start: a pull of a signed package resumed
   * after a restart replays them through the verifier (hash). Without it such a pull starts over.
   */
  kept?(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  saveState(snapshot: FirmwareSnapshot | undefined): Promise<void>;
  loadState(): Promise<FirmwareSnapshot | undefined>;
}

/** The facts /5/0/6 and /5/0/7 show, in the snapshot's form. */
export function snapshotFacts(facts: PackageFacts | undefined): FirmwareSnapshot['facts'] {
  if (!facts || (facts.name === undefined && facts.version === undefined)) return undefined;
  return {
    ...(facts.name === undefined ? {} : { name: facts.name }),
    ...(facts.version === undefined ? {} : { version: facts.version }),
  };
}

/** An image in memory, bounded by maxSize (default 1 MiB). Keep one store to "restart" with it. */
export class MemoryFirmwareStore implements FirmwareStore {
  readonly maxSize: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #open = false;
  #complete = false;
  #snapshot: FirmwareSnapshot | undefined;

  constructor(options: { maxSize?: number } = {}) {
    this.maxSize = options.maxSize ?? 1 << 20;
  }

  /** Bytes held now (tests). */
  get size(): number {
    return this.#size;
  }

  open(offset: number): Promise<number> {
    const keep = Math.max(0, Math.min(offset, this.#size));
    const bytes = this.#joined().subarray(0, keep);
    this.#chunks = keep > 0 ? [bytes] : [];
    this.#size = keep;
    this.#open = true;
    this.#complete = false;
    return Promise.resolve(keep);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (!this.#open) return Promise.reject(new FirmwareStoreError('not-open', 'the image is not open'));
    if (this.#size + chunk.length > this.maxSize)
      return Promise.reject(
        new FirmwareStoreError('full', `the image exceeds the ${this.maxSize} bytes this store takes`),
      );
    this.#chunks.push(chunk.slice());
    this.#size += chunk.length;
    return Promise.resolve();
  }

  close(): Promise<StoredImage> {
    if (!this.#open) return Promise.reject(new FirmwareStoreError('not-open', 'the image is not open'));
    this.#open = false;
    this.#complete = true;
    return Promise.resolve(this.#image());
  }

  discard(): Promise<void> {
    this.#chunks = [];
    this.#size = 0;
    this.#open = false;
    this.#complete = false;
    return Promise.resolve();
  }

  image(): Promise<StoredImage | undefined> {
    return Promise.resolve(this.#complete ? this.#image() : undefined);
  }

  *kept(): Iterable<Uint8Array> {
    const bytes = this.#joined();
    for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
  }

  saveState(snapshot: FirmwareSnapshot | undefined): Promise<void> {
    this.#snapshot = snapshot && structuredClone(snapshot);
    return Promise.resolve();
  }

  loadState(): Promise<FirmwareSnapshot | undefined> {
    return Promise.resolve(this.#snapshot && structuredClone(this.#snapshot));
  }

  /** The whole image (tests). */
  bytes(): Uint8Array {
    return this.#joined();
  }

  #joined(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    this.#chunks = this.#size > 0 ? [out] : [];
    return out;
  }

  #image(): StoredImage {
    const bytes = this.#joined();
    return {
      size: bytes.length,
      *read() {
        for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
      },
    };
  }
}
