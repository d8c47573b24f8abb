// Where firmware campaigns are kept across restarts. A campaign is saved whole (its spec, settings,
// status, every device's phase, timings and history, and its timeline) as one document; the
// engine saves it at most once per save interval while devices move, and at once when its status
// changes. `petrel server --firmware-dir` keeps them beside the images, in `<dir>/campaigns/`.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PetrelError } from '../../errors.js';

/** One device of a stored campaign (what the engine needs to go on and to report). */
export interface StoredDevice {
  readonly endpoint: string;
  readonly phase: string;
  readonly method?: 'push' | 'pull';
  readonly scheme?: string;
  readonly attempts: number;
  readonly bytes: number;
  readonly previousVersion?: string;
  readonly version?: string;
  readonly updateResult?: number;
  readonly reason?: string;
  readonly deferrals: number;
  readonly timings: Readonly<Record<string, number>>;
  readonly history: readonly { readonly phase: string; readonly at: number }[];
}

export interface StoredCampaign {
  /** Format of this document. */
  readonly format: 1;
  readonly id: string;
  /** The CampaignSpec as given (plain JSON). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly imageId: string;
  /** The image's facts when the campaign was saved (it may leave the repository). */
  readonly image?: {
    readonly id: string;
    readonly size: number;
    readonly kind: 'plain' | 'package';
    readonly version?: string;
  };
  readonly status: string;
  readonly createdAt: number;
  readonly finishedAt?: number;
  readonly devices: readonly StoredDevice[];
  readonly timeline: readonly Readonly<Record<string, unknown>>[];
  readonly timelineDropped: number;
}

export interface CampaignStore {
  /** Every stored campaign (unreadable documents are skipped and reported through `onSkip`). */
  load(): Promise<StoredCampaign[]>;
  save(campaign: StoredCampaign): Promise<void>;
  delete(id: string): Promise<void>;
}

export class CampaignStoreError extends PetrelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_CAMPAIGN_STORE', message, options);
  }
}

/** Campaign ids are made by the engine (`c<n>-<base36 time>`); nothing else names a file. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;

function checkId(id: string): void {
  if (!ID.test(id)) throw new CampaignStoreError(`not a campaign id: ${JSON.stringify(id.slice(0, 80))}`);
}

/** Structural check of a document read back (a file may be truncated or edited by hand). */
export function isStoredCampaign(v: unknown): v is StoredCampaign {
  if (v === null || typeof v !== 'object') return false;
  const c = v as Record<string, unknown>;
  return (
    c.format === 1 &&
    typeof c.id === 'string' &&
    ID.test(c.id) &&
    typeof c.imageId === 'string' &&
    typeof c.status === 'string' &&
    typeof c.createdAt === 'number' &&
    c.spec !== null &&
    typeof c.spec === 'object' &&
    c.settings !== null &&
    typeof c.settings === 'object' &&
    Array.isArray(c.devices) &&
    c.devices.every(
      (d: unknown) =>
        d !== null &&
        typeof d === 'object' &&
        typeof (d as StoredDevice).endpoint === 'string' &&
        typeof (d as StoredDevice).phase === 'string' &&
        Array.isArray((d as StoredDevice).history),
    ) &&
    Array.isArray(c.timeline) &&
    typeof c.timelineDropped === 'number'
  );
}

/** Keeps copies in memory (tests, and a server without a firmware directory). */
export class MemoryCampaignStore implements CampaignStore {
  readonly #docs = new Map<string, string>();

  load(): Promise<StoredCampaign[]> {
    return Promise.resolve([...this.#docs.values()].map((s) => JSON.parse(s) as StoredCampaign));
  }

  save(campaign: StoredCampaign): Promise<void> {
    checkId(campaign.id);
    this.#docs.set(campaign.id, JSON.stringify(campaign));
    return Promise.resolve();
  }

  delete(id: string): Promise<void> {
    this.#docs.delete(id);
    return Promise.resolve();
  }
}

/** One JSON file per campaign in a directory, each replaced atomically (write, then rename). */
export class DirectoryCampaignStore implements CampaignStore {
  readonly directory: string;
  readonly #onSkip: ((file: string, reason: string) => void) | undefined;
  #made = false;

  constructor(directory: string, options: { onSkip?: (file: string, reason: string) => void } = {}) {
    this.directory = directory;
    this.#onSkip = options.onSkip;
  }

  async #ensure(): Promise<void> {
    if (this.#made) return;
    await mkdir(this.directory, { recursive: true });
    this.#made = true;
  }

  async load(): Promise<StoredCampaign[]> {
    await this.#ensure();
    const out: StoredCampaign[] = [];
    for (const name of (await readdir(this.directory)).sort()) {
      if (!name.endsWith('.json')) continue;
      let doc: unknown;
      try {
        doc = JSON.parse(await readFile(join(this.directory, name), 'utf8'));
      } catch (e) {
        this.#onSkip?.(name, `unreadable: ${(e as Error).message}`);
        continue;
      }
      if (!isStoredCampaign(doc) || `${doc.id}.json` !== name) {
        this.#onSkip?.(name, 'not a stored campaign');
        continue;
      }
      out.push(doc);
    }
    return out;
  }

  async save(campaign: StoredCampaign): Promise<void> {
    checkId(campaign.id);
    await this.#ensure();
    const file = join(this.directory, `${campaign.id}.json`);
    // Two saves of one campaign never overlap (the engine chains them), so one temp name is safe.
    await writeFile(`${file}.tmp`, JSON.stringify(campaign));
    await rename(`${file}.tmp`, file);
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    await rm(join(this.directory, `${id}.json`), { force: true });
  }
}
