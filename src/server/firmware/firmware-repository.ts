// The server's store of firmware images (issue 11): opaque bytes or signed packages
// (docs/firmware.md), named by the SHA-256 of the bytes a device receives. What a package says
// about itself is read once, when it is added, with inspectPackage (no trust is implied: the
// device verifies the signature).
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PetrelError } from '../../errors.js';
import { FirmwarePackageError } from '../../firmware/firmware-package-error.js';
import { inspectPackage } from '../../firmware/package-envelope.js';

export type FirmwareRepositoryErrorReason = 'too-large' | 'full' | 'bad-package' | 'empty' | 'not-found';

export class FirmwareRepositoryError extends PetrelError {
  readonly reason: FirmwareRepositoryErrorReason;
  constructor(reason: FirmwareRepositoryErrorReason, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_FIRMWARE_REPOSITORY', message, options);
    this.reason = reason;
  }
}

/** One stored image, as listed. */
export interface FirmwareImageInfo {
  /** SHA-256 of the whole image (package included), hex: the id in URIs. */
  readonly id: string;
  /** Bytes a device downloads. */
  readonly size: number;
  /** `package` for a Petrel package (manifest + image), else `plain`. */
  readonly kind: 'plain' | 'package';
  /** Packages: whether the manifest is signed (COSE_Sign1). */
  readonly signed?: boolean;
  /** Packages: the manifest's fields (/5/0/6 PkgName, /5/0/7 PkgVersion, ...). */
  readonly name?: string;
  readonly version?: string;
  readonly vendor?: string;
  readonly deviceClass?: string;
  readonly minVersion?: string;
  /** Packages: the SHA-256 of the image inside, hex (the manifest's digest). */
  readonly imageDigest?: string;
  /** Operator's label (the file name, say). */
  readonly label?: string;
  /** Wall-clock ms when it was added. */
  readonly addedAt: number;
}

export interface FirmwareRepository {
  /**
   * Stores an image (the same bytes again: the same entry). Refuses with FirmwareRepositoryError an
   * empty image, one over `maxImageBytes`, one more than the bounds allow, and a package that cannot
   * be read or whose image does not match its manifest (every device would refuse it).
   */
  add(bytes: Uint8Array, options?: { label?: string }): Promise<FirmwareImageInfo>;
  get(id: string): Promise<FirmwareImageInfo | undefined>;
  /** Bytes [start, end) of the image (clipped to its size); undefined when it is not stored. */
  read(id: string, start?: number, end?: number): Promise<Uint8Array | undefined>;
  /** Oldest first. */
  list(): Promise<FirmwareImageInfo[]>;
  /** Whether it was there. */
  delete(id: string): Promise<boolean>;
}

export interface FirmwareRepositoryLimits {
  /** Largest image, bytes (default 64 MiB). */
  readonly maxImageBytes?: number;
  /** Most images kept (default 100). */
  readonly maxImages?: number;
  /** Most bytes kept, all images together (default 1 GiB). */
  readonly maxTotalBytes?: number;
  /** Wall clock, ms (default Date.now). */
  readonly now?: () => number;
}

const DEFAULT_MAX_IMAGE = 64 * 1024 * 1024;
const DEFAULT_MAX_IMAGES = 100;
const DEFAULT_MAX_TOTAL = 1024 * 1024 * 1024;
const ID_PATTERN = /^[0-9a-f]{64}$/;
const MAX_LABEL = 200;

/** Whether `text` can be an image id (64 lowercase hex digits). */
export const isImageId = (text: string): boolean => ID_PATTERN.test(text);

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The facts of an image: its id and, for a package, what the manifest says. */
export function describeImage(bytes: Uint8Array, addedAt: number, label?: string): FirmwareImageInfo {
  if (bytes.length === 0) throw new FirmwareRepositoryError('empty', 'an empty image');
  const id = createHash('sha256').update(bytes).digest('hex');
  const base = {
    id,
    size: bytes.length,
    addedAt,
    ...(label === undefined || label === '' ? {} : { label: label.slice(0, MAX_LABEL) }),
  };
  let inspection;
  try {
    inspection = inspectPackage(bytes);
  } catch (e) {
    if (e instanceof FirmwarePackageError)
      throw new FirmwareRepositoryError(
        'bad-package',
        `the package cannot be read (${e.reason}): ${e.message}`,
        {
          cause: e,
        },
      );
    throw e;
  }
  if (inspection.kind === 'plain') return { ...base, kind: 'plain' };
  if (!inspection.sizeMatches || !inspection.digestMatches)
    throw new FirmwareRepositoryError(
      'bad-package',
      inspection.sizeMatches
        ? 'the SHA-256 of the image is not the digest its manifest states: every device would refuse it'
        : `the image is ${inspection.imageBytes} bytes, its manifest says ${inspection.manifest.size}`,
    );
  const m = inspection.manifest;
  return {
    ...base,
    kind: 'package',
    signed: inspection.signed,
    version: m.version,
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.vendor === undefined ? {} : { vendor: m.vendor }),
    ...(m.deviceClass === undefined ? {} : { deviceClass: m.deviceClass }),
    ...(m.minVersion === undefined ? {} : { minVersion: m.minVersion }),
    imageDigest: hex(m.digest),
  };
}

function clip(size: number, start = 0, end = size): [number, number] {
  const s = Math.max(0, Math.min(size, Math.floor(start)));
  return [s, Math.max(s, Math.min(size, Math.floor(end)))];
}

/** Checks the bounds before an image is added; `existing` are the images already kept. */
function checkRoom(
  info: FirmwareImageInfo,
  existing: readonly FirmwareImageInfo[],
  limits: Required<Omit<FirmwareRepositoryLimits, 'now'>>,
): void {
  if (existing.length >= limits.maxImages)
    throw new FirmwareRepositoryError('full', `the repository holds ${existing.length} images, its most`);
  const total = existing.reduce((n, i) => n + i.size, 0);
  if (total + info.size > limits.maxTotalBytes)
    throw new FirmwareRepositoryError(
      'full',
      `adding ${info.size} bytes would pass the repository's ${limits.maxTotalBytes} bytes`,
    );
}

function resolveLimits(limits: FirmwareRepositoryLimits): Required<Omit<FirmwareRepositoryLimits, 'now'>> {
  return {
    maxImageBytes: limits.maxImageBytes ?? DEFAULT_MAX_IMAGE,
    maxImages: limits.maxImages ?? DEFAULT_MAX_IMAGES,
    maxTotalBytes: limits.maxTotalBytes ?? DEFAULT_MAX_TOTAL,
  };
}

function tooLarge(size: number, max: number): FirmwareRepositoryError {
  return new FirmwareRepositoryError('too-large', `an image of ${size} bytes (the most is ${max})`);
}

/** Images in memory: tests, demos, and servers that re-upload on start. */
export class MemoryFirmwareRepository implements FirmwareRepository {
  readonly #images = new Map<string, { info: FirmwareImageInfo; bytes: Uint8Array }>();
  readonly #limits: Required<Omit<FirmwareRepositoryLimits, 'now'>>;
  readonly #now: () => number;

  constructor(limits: FirmwareRepositoryLimits = {}) {
    this.#limits = resolveLimits(limits);
    this.#now = limits.now ?? Date.now;
  }

  add(bytes: Uint8Array, options: { label?: string } = {}): Promise<FirmwareImageInfo> {
    try {
      if (bytes.length > this.#limits.maxImageBytes) throw tooLarge(bytes.length, this.#limits.maxImageBytes);
      const info = describeImage(bytes, this.#now(), options.label);
      const known = this.#images.get(info.id);
      if (known) return Promise.resolve(known.info);
      checkRoom(
        info,
        [...this.#images.values()].map((e) => e.info),
        this.#limits,
      );
      this.#images.set(info.id, { info, bytes: bytes.slice() });
      return Promise.resolve(info);
    } catch (e) {
      // Typed errors as a rejection, as the directory-backed repository gives them.
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  get(id: string): Promise<FirmwareImageInfo | undefined> {
    return Promise.resolve(this.#images.get(id)?.info);
  }

  read(id: string, start?: number, end?: number): Promise<Uint8Array | undefined> {
    const entry = this.#images.get(id);
    if (!entry) return Promise.resolve(undefined);
    const [s, e] = clip(entry.bytes.length, start, end);
    return Promise.resolve(entry.bytes.subarray(s, e));
  }

  list(): Promise<FirmwareImageInfo[]> {
    return Promise.resolve([...this.#images.values()].map((e) => e.info));
  }

  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.#images.delete(id));
  }
}

/**
 * Images in a folder: `<id>.bin` and `<id>.json` (the facts) per image, written to a temporary
 * name first and renamed, so a crash leaves no half image under its id. The facts are kept in
 * memory; bytes are read from disk per request.
 */
export class DirectoryFirmwareRepository implements FirmwareRepository {
  readonly directory: string;
  readonly #limits: Required<Omit<FirmwareRepositoryLimits, 'now'>>;
  readonly #now: () => number;
  #index: Map<string, FirmwareImageInfo> | undefined;

  constructor(directory: string, limits: FirmwareRepositoryLimits = {}) {
    this.directory = directory;
    this.#limits = resolveLimits(limits);
    this.#now = limits.now ?? Date.now;
  }

  async #load(): Promise<Map<string, FirmwareImageInfo>> {
    if (this.#index) return this.#index;
    await mkdir(this.directory, { recursive: true });
    const index = new Map<string, FirmwareImageInfo>();
    for (const name of await readdir(this.directory)) {
      const id = name.slice(0, -'.json'.length);
      if (!name.endsWith('.json') || !isImageId(id)) continue;
      try {
        const info = JSON.parse(await readFile(join(this.directory, name), 'utf8')) as FirmwareImageInfo;
        const size = (await stat(join(this.directory, `${id}.bin`))).size;
        if (info.id === id && info.size === size) index.set(id, info);
      } catch {
        // A facts file without its image (or unreadable) is not an image.
      }
    }
    this.#index ??= new Map([...index].sort((a, b) => a[1].addedAt - b[1].addedAt));
    return this.#index;
  }

  async add(bytes: Uint8Array, options: { label?: string } = {}): Promise<FirmwareImageInfo> {
    if (bytes.length > this.#limits.maxImageBytes) throw tooLarge(bytes.length, this.#limits.maxImageBytes);
    const index = await this.#load();
    const info = describeImage(bytes, this.#now(), options.label);
    const known = index.get(info.id);
    if (known) return known;
    checkRoom(info, [...index.values()], this.#limits);
    const bin = join(this.directory, `${info.id}.bin`);
    const facts = join(this.directory, `${info.id}.json`);
    await writeFile(`${bin}.tmp`, bytes);
    await rename(`${bin}.tmp`, bin);
    await writeFile(`${facts}.tmp`, JSON.stringify(info));
    await rename(`${facts}.tmp`, facts);
    index.set(info.id, info);
    return info;
  }

  async get(id: string): Promise<FirmwareImageInfo | undefined> {
    return (await this.#load()).get(id);
  }

  async read(id: string, start?: number, end?: number): Promise<Uint8Array | undefined> {
    const info = (await this.#load()).get(id);
    if (!info) return undefined;
    const [s, e] = clip(info.size, start, end);
    const out = new Uint8Array(e - s);
    if (out.length === 0) return out;
    let handle;
    try {
      handle = await open(join(this.directory, `${id}.bin`), 'r');
    } catch {
      return undefined;
    }
    try {
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await handle.read(out, done, out.length - done, s + done);
        if (bytesRead === 0) return undefined;
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  async list(): Promise<FirmwareImageInfo[]> {
    return [...(await this.#load()).values()];
  }

  async delete(id: string): Promise<boolean> {
    const index = await this.#load();
    if (!index.delete(id)) return false;
    await rm(join(this.directory, `${id}.json`), { force: true });
    await rm(join(this.directory, `${id}.bin`), { force: true });
    return true;
  }
}
