import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FirmwareSnapshot, FirmwareStore, StoredImage } from './firmware-store.js';
import { FirmwareStoreError } from './firmware-store.js';

const IMAGE = 'firmware.bin';
const STATE = 'firmware-state.json';
const COMPLETE = 'firmware.complete';

const isMissing = (e: unknown): boolean => (e as { code?: string }).code === 'ENOENT';

function ioError(what: string, e: unknown): FirmwareStoreError {
  const code = (e as { code?: string }).code;
  // A full disk is "not enough flash" as much as our own bound is.
  return new FirmwareStoreError(code === 'ENOSPC' ? 'full' : 'io', `${what}: ${String(e)}`, { cause: e });
}

/**
 * The image in `<directory>/firmware.bin` (bounded by maxSize, default 64 MiB), written as it
 * arrives; the /5 snapshot in `firmware-state.json` (written atomically), and a marker file once
 * the image is complete.
 */
export class FileFirmwareStore implements FirmwareStore {
  readonly maxSize: number;
  readonly directory: string;
  #file: FileHandle | undefined;
  #size = 0;
  /** Image operations run one after another: a discard never races the next download's open. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { directory: string; maxSize?: number }) {
    this.directory = options.directory;
    this.maxSize = options.maxSize ?? 64 << 20;
  }

  get #image(): string {
    return join(this.directory, IMAGE);
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  open(offset: number): Promise<number> {
    return this.#serial(() => this.#open(offset));
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#serial(() => this.#write(chunk));
  }

  close(): Promise<StoredImage> {
    return this.#serial(() => this.#close());
  }

  discard(): Promise<void> {
    return this.#serial(() => this.#discard());
  }

  image(): Promise<StoredImage | undefined> {
    return this.#serial(() => this.#completeImage());
  }

  /** The bytes the last open kept (read before any write: the pull replays them first). */
  async *kept(): AsyncIterable<Uint8Array> {
    const size = this.#size;
    if (size === 0) return;
    for await (const chunk of createReadStream(this.#image, { start: 0, end: size - 1 }))
      yield chunk as Uint8Array;
  }

  async #open(offset: number): Promise<number> {
    await this.#closeFile();
    try {
      await mkdir(this.directory, { recursive: true });
      await rm(join(this.directory, COMPLETE), { force: true });
      let kept = 0;
      if (offset > 0) {
        try {
          kept = Math.min(offset, (await stat(this.#image)).size);
        } catch (e) {
          if (!isMissing(e)) throw e;
        }
      }
      this.#file = await open(this.#image, kept > 0 ? 'r+' : 'w');
      if (kept > 0) await truncate(this.#image, kept);
      this.#size = kept;
      return kept;
    } catch (e) {
      throw ioError('opening the image', e);
    }
  }

  async #write(chunk: Uint8Array): Promise<void> {
    const file = this.#file;
    if (!file) throw new FirmwareStoreError('not-open', 'the image is not open');
    if (this.#size + chunk.length > this.maxSize)
      throw new FirmwareStoreError('full', `the image exceeds the ${this.maxSize} bytes this store takes`);
    try {
      await file.write(chunk, 0, chunk.length, this.#size);
    } catch (e) {
      throw ioError('writing the image', e);
    }
    this.#size += chunk.length;
  }

  async #close(): Promise<StoredImage> {
    if (!this.#file) throw new FirmwareStoreError('not-open', 'the image is not open');
    try {
      await this.#file.sync();
      await this.#closeFile();
      await writeFile(join(this.directory, COMPLETE), String(this.#size));
    } catch (e) {
      throw ioError('closing the image', e);
    }
    return this.#stored(this.#size);
  }

  async #discard(): Promise<void> {
    await this.#closeFile();
    this.#size = 0;
    await rm(join(this.directory, COMPLETE), { force: true });
    await rm(this.#image, { force: true });
  }

  async #completeImage(): Promise<StoredImage | undefined> {
    try {
      const size = Number(await readFile(join(this.directory, COMPLETE), 'utf8'));
      if ((await stat(this.#image)).size !== size) return undefined;
      return this.#stored(size);
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw ioError('reading the image', e);
    }
  }

  async saveState(snapshot: FirmwareSnapshot | undefined): Promise<void> {
    const path = join(this.directory, STATE);
    if (!snapshot) {
      await rm(path, { force: true });
      return;
    }
    await mkdir(this.directory, { recursive: true });
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(snapshot));
    await rename(tmp, path);
  }

  async loadState(): Promise<FirmwareSnapshot | undefined> {
    try {
      return JSON.parse(await readFile(join(this.directory, STATE), 'utf8')) as FirmwareSnapshot;
    } catch (e) {
      // A missing or damaged state file: start from Idle.
      if (isMissing(e) || e instanceof SyntaxError) return undefined;
      throw e;
    }
  }

  async #closeFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
  }

  #stored(size: number): StoredImage {
    const path = this.#image;
    return {
      size,
      path,
      async *read() {
        for await (const chunk of createReadStream(path)) yield chunk as Uint8Array;
      },
    };
  }
}
