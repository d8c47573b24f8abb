// A FirmwareStore for the firmware benchmark's simulated devices: it keeps no image bytes, only
// their count and a running SHA-256, so a thousand devices downloading 256 KiB each stay small
// while every device still proves it received the exact image (the install hook compares digests).
import { createHash, type Hash } from 'node:crypto';
import type {
  FirmwareSnapshot,
  FirmwareStore,
  StoredImage,
} from '../../src/client/firmware/firmware-store.js';
import { FirmwareStoreError } from '../../src/client/firmware/firmware-store.js';

/** A received image as the digest store keeps it: its size and SHA-256 (hex), never its bytes. */
export interface DigestedImage extends StoredImage {
  readonly sha256: string;
}

export class DigestFirmwareStore implements FirmwareStore {
  readonly maxSize: number;
  #hash: Hash | undefined;
  #size = 0;
  #complete: DigestedImage | undefined;
  #snapshot: FirmwareSnapshot | undefined;

  constructor(options: { maxSize?: number } = {}) {
    this.maxSize = options.maxSize ?? 1 << 20;
  }

  /** A hash cannot be cut back: resuming keeps everything only when asked for all of it. */
  open(offset: number): Promise<number> {
    this.#complete = undefined;
    if (this.#hash === undefined || offset !== this.#size) {
      this.#hash = createHash('sha256');
      this.#size = 0;
    }
    return Promise.resolve(this.#size);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#hash === undefined)
      return Promise.reject(new FirmwareStoreError('not-open', 'the image is not open'));
    if (this.#size + chunk.length > this.maxSize)
      return Promise.reject(
        new FirmwareStoreError('full', `the image exceeds the ${this.maxSize} bytes this store takes`),
      );
    this.#hash.update(chunk);
    this.#size += chunk.length;
    return Promise.resolve();
  }

  close(): Promise<StoredImage> {
    const hash = this.#hash;
    if (hash === undefined)
      return Promise.reject(new FirmwareStoreError('not-open', 'the image is not open'));
    this.#hash = undefined;
    this.#complete = { size: this.#size, sha256: hash.digest('hex'), read: () => [] };
    return Promise.resolve(this.#complete);
  }

  discard(): Promise<void> {
    this.#hash = undefined;
    this.#size = 0;
    this.#complete = undefined;
    return Promise.resolve();
  }

  image(): Promise<StoredImage | undefined> {
    return Promise.resolve(this.#complete);
  }

  saveState(snapshot: FirmwareSnapshot | undefined): Promise<void> {
    this.#snapshot = snapshot;
    return Promise.resolve();
  }

  loadState(): Promise<FirmwareSnapshot | undefined> {
    return Promise.resolve(this.#snapshot);
  }
}
