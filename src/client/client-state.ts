import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PetrelError } from '../errors.js';
import type { ObjectModel } from '../model/object-definition.js';
import type { LwM2mRecord } from '../model/records.js';
import { RecordsJsonError, recordsFromJson, recordsToJson } from '../model/records-json.js';
import type { ProvisioningSource } from './bootstrap-session.js';

/**
 * What a client keeps across restarts (so a bootstrapped device stays bootstrapped): the values
 * of its configuration objects (/0, /1, /2 by default) and which source provisioned each /0 and
 * /1 instance (BOOT-PROV-002 still holds after a reboot).
 */
export interface ClientState {
  /** The objects the state covers: their instances are exactly those in `records`. */
  readonly objects: readonly number[];
  /** Absolute paths; an instance is the set of its records. */
  readonly records: readonly LwM2mRecord[];
  /** `/o/i` → source, for instances a smartcard or the factory provisioned. */
  readonly sources: Readonly<Record<string, ProvisioningSource>>;
}

export interface ClientStateStore {
  /** The saved state, or undefined when none was ever saved. */
  load(model: ObjectModel): Promise<ClientState | undefined>;
  /** Replaces the saved state; on return it survives a power loss. */
  save(state: ClientState): Promise<void>;
}

export type ClientStateErrorReason = 'corrupt' | 'io';

export class ClientStateError extends PetrelError {
  readonly reason: ClientStateErrorReason;
  constructor(reason: ClientStateErrorReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_CLIENT_STATE_${reason.toUpperCase()}`, message, options);
    this.reason = reason;
  }
}

const FORMAT = 'petrel-client-state';
const SOURCES: readonly ProvisioningSource[] = ['smartcard', 'factory', 'network'];

/** The JSON document of a state file. */
export function encodeClientState(state: ClientState): string {
  return `${JSON.stringify(
    {
      format: FORMAT,
      version: 1,
      objects: state.objects,
      sources: state.sources,
      records: recordsToJson(state.records),
    },
    null,
    1,
  )}\n`;
}

export function decodeClientState(text: string, model: ObjectModel, where = 'client state'): ClientState {
  const corrupt = (why: string): ClientStateError =>
    new ClientStateError('corrupt', `${where} is not a Petrel client state: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(e instanceof Error ? e.message : String(e));
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw corrupt('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== FORMAT || d.version !== 1) throw corrupt(`format must be "${FORMAT}" version 1`);
  const objects = d.objects;
  if (!Array.isArray(objects) || !objects.every((o) => Number.isInteger(o) && o >= 0 && o <= 65534))
    throw corrupt('objects must be a list of object ids');
  const sources: Record<string, ProvisioningSource> = {};
  if (d.sources === null || typeof d.sources !== 'object' || Array.isArray(d.sources))
    throw corrupt('sources must be an object');
  for (const [k, v] of Object.entries(d.sources as Record<string, unknown>)) {
    if (!/^\/[0-9]{1,5}\/[0-9]{1,5}$/.test(k) || !SOURCES.includes(v as ProvisioningSource))
      throw corrupt(`sources["${k.slice(0, 20)}"] must map /o/i to smartcard, factory or network`);
    sources[k] = v as ProvisioningSource;
  }
  let records: LwM2mRecord[];
  try {
    records = recordsFromJson(d.records, model).records;
  } catch (e) {
    if (e instanceof RecordsJsonError) throw corrupt(e.message);
    throw e;
  }
  for (const r of records)
    if (r.path.instanceId === undefined || !objects.includes(r.path.objectId))
      throw corrupt(`${r.path.toString()} is not an instance value of the objects listed`);
  return { objects: objects as number[], records, sources };
}

/**
 * A state file, replaced atomically: the new state goes to a temporary file in the same folder,
 * is flushed, then renamed over the old one, so a power loss leaves either the old or the new
 * state, never half of one.
 */
export class FileClientStateStore implements ClientStateStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async load(model: ObjectModel): Promise<ClientState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ClientStateError('io', `cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    return decodeClientState(text, model, this.path);
  }

  async save(state: ClientState): Promise<void> {
    const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      const file = await open(tmp, 'w', 0o600); // it holds keys
      try {
        await file.writeFile(encodeClientState(state));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, this.path);
      // The rename itself must reach the disk too: flush the folder's entry.
      const folder = await open(dirname(this.path), 'r');
      try {
        await folder.sync();
      } finally {
        await folder.close();
      }
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new ClientStateError('io', `cannot save ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** A state kept in memory (tests; a device without storage). */
export class MemoryClientStateStore implements ClientStateStore {
  #text: string | undefined;

  load(model: ObjectModel): Promise<ClientState | undefined> {
    return Promise.resolve(this.#text === undefined ? undefined : decodeClientState(this.#text, model));
  }

  save(state: ClientState): Promise<void> {
    this.#text = encodeClientState(state);
    return Promise.resolve();
  }
}
