/**
 * Where a /9 instance keeps its state across restarts: Update State, Update Result, Activation
 * State, the software in place and the server's settings. The package bytes live in the
 * instance's FirmwareStore (the same bounded stores /5 uses); this is the small JSON beside them.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SoftwareStatus } from './software-state.js';

/** What a /9 instance saves (JSON-safe). */
export interface SoftwareSnapshot {
  readonly status: SoftwareStatus;
  /** The software in place (INSTALLED, or INITIAL after Uninstall ForUpdate). */
  readonly installed?: { readonly name: string; readonly version: string };
  /** PkgName / PkgVersion of the package in hand (DELIVERED). */
  readonly facts?: { readonly name?: string; readonly version?: string };
  /** The last failure, which /9/x/16 Status Reason shows (SoftwareManagementInstance.lastError). */
  readonly lastError?: {
    readonly phase: string;
    readonly code: string;
    readonly updateResult: number;
    readonly message: string;
    readonly at: number;
  };
  /** /9/x/8 as the server last wrote it. */
  readonly updateSupportedObjects?: boolean;
}

export interface SoftwareStateStore {
  save(snapshot: SoftwareSnapshot): Promise<void>;
  load(): Promise<SoftwareSnapshot | undefined>;
}

/** Keeps the snapshot in memory (no restart survives it; keep the object to "restart" in tests). */
export class MemorySoftwareStateStore implements SoftwareStateStore {
  #snapshot: SoftwareSnapshot | undefined;

  save(snapshot: SoftwareSnapshot): Promise<void> {
    this.#snapshot = structuredClone(snapshot);
    return Promise.resolve();
  }

  load(): Promise<SoftwareSnapshot | undefined> {
    return Promise.resolve(this.#snapshot && structuredClone(this.#snapshot));
  }
}

/** The snapshot in one JSON file, replaced atomically (temporary file + rename). */
export class FileSoftwareStateStore implements SoftwareStateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async save(snapshot: SoftwareSnapshot): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(snapshot));
    await rename(tmp, this.path);
  }

  async load(): Promise<SoftwareSnapshot | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      return validSoftwareSnapshot(JSON.parse(text));
    } catch {
      return undefined;
    }
  }
}

const STATES = [0, 1, 2, 3, 4];
const RESULTS = [0, 1, 2, 3, 50, 51, 52, 53, 54, 56, 57, 58, 59];
const optionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';

const PHASES = ['download', 'uri', 'store', 'verify', 'install', 'uninstall', 'activate', 'restart'];

function validError(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    PHASES.includes(e.phase as string) &&
    typeof e.code === 'string' &&
    typeof e.message === 'string' &&
    RESULTS.includes(e.updateResult as number) &&
    Number.isFinite(e.at)
  );
}

/** The snapshot when it has the right shape (a hand-edited or damaged file is ignored). */
export function validSoftwareSnapshot(value: unknown): SoftwareSnapshot | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const s = value as Partial<Record<keyof SoftwareSnapshot, unknown>>;
  const status = s.status as Partial<SoftwareStatus> | undefined;
  const installed = s.installed as { name?: unknown; version?: unknown } | undefined;
  const facts = s.facts as { name?: unknown; version?: unknown } | undefined;
  const ok =
    typeof status === 'object' &&
    status !== null &&
    STATES.includes(status.state as number) &&
    RESULTS.includes(status.result as number) &&
    typeof status.active === 'boolean' &&
    (installed === undefined ||
      (typeof installed === 'object' &&
        installed !== null &&
        typeof installed.name === 'string' &&
        typeof installed.version === 'string')) &&
    (facts === undefined ||
      (typeof facts === 'object' &&
        facts !== null &&
        optionalString(facts.name) &&
        optionalString(facts.version))) &&
    (s.lastError === undefined || validError(s.lastError)) &&
    (s.updateSupportedObjects === undefined || typeof s.updateSupportedObjects === 'boolean');
  return ok ? (value as SoftwareSnapshot) : undefined;
}
