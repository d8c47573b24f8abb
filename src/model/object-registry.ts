import { CORE_OBJECTS, CORE_OBJECT_VERSIONS } from './core-objects.js';
import type { LoadDdfOptions, LoadDdfResult } from './ddf-loader.js';
import { loadDdfDirectory } from './ddf-loader.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from './object-definition.js';

const VERSION_RE = /^([0-9]{1,4})(?:\.([0-9]{1,4}))?$/;

/** `major.minor` of an object version (`1.2`; `1` reads as `1.0`), or undefined if it is not one. */
function parseObjectVersion(version: string): { major: number; minor: number } | undefined {
  const m = VERSION_RE.exec(version.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2] ?? '0') } : undefined;
}

/** The canonical spelling of a version (`01.2` → `1.2`, `2` → `2.0`); other text stays as it is. */
function canonicalVersion(version: string): string {
  const v = parseObjectVersion(version);
  return v ? `${v.major}.${v.minor}` : version;
}

/**
 * Orders object versions numerically (`1.2` < `1.10` < `2.0`); text that is not a version sorts
 * first, by its characters.
 */
export function compareObjectVersions(a: string, b: string): number {
  const va = parseObjectVersion(a);
  const vb = parseObjectVersion(b);
  if (va && vb) return va.major - vb.major || va.minor - vb.minor;
  if (va || vb) return va ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Entry {
  readonly def: ObjectDefinition;
  readonly builtIn: boolean;
}

export interface ObjectRegistryOptions {
  /**
   * The version used when a caller names none (a client that sent no `ver=`). Default: the 1.2-era
   * core versions (CORE_OBJECT_VERSIONS); other objects default to their highest known version.
   */
  defaultVersions?: ReadonlyMap<number, string>;
}

/**
 * The object definitions a server, client or codec works with: many versions per object id, chosen
 * by the version a client declared (Core §5.2 object versioning). Definitions added by the user
 * (`add`, `loadDirectory`) replace built-in ones of the same id and version.
 */
export class ObjectRegistry implements ObjectModel, Iterable<ObjectDefinition> {
  readonly #objects = new Map<number, Map<string, Entry>>();
  /** Resolved lookups by `id@version`; codecs ask once per value, so resolution is cached. Cleared on add. */
  readonly #resolved = new Map<string, ObjectDefinition | undefined>();
  readonly #defaults: ReadonlyMap<number, string>;

  constructor(options: ObjectRegistryOptions = {}) {
    this.#defaults = options.defaultVersions ?? CORE_OBJECT_VERSIONS;
  }

  /** A registry holding Petrel's built-in core object catalogue. */
  static withCoreObjects(options?: ObjectRegistryOptions): ObjectRegistry {
    return new ObjectRegistry(options).addAll(CORE_OBJECTS, { builtIn: true });
  }

  /**
   * Adds a definition. A user definition replaces any earlier one of the same id and version; a
   * built-in one (`builtIn: true`) never replaces a user's.
   */
  add(def: ObjectDefinition, options: { builtIn?: boolean } = {}): this {
    const builtIn = options.builtIn ?? false;
    let versions = this.#objects.get(def.id);
    if (!versions) this.#objects.set(def.id, (versions = new Map<string, Entry>()));
    const key = canonicalVersion(def.version);
    const existing = versions.get(key);
    if (builtIn && existing && !existing.builtIn) return this;
    versions.set(key, { def, builtIn });
    this.#resolved.clear();
    return this;
  }

  addAll(defs: Iterable<ObjectDefinition>, options: { builtIn?: boolean } = {}): this {
    for (const def of defs) this.add(def, options);
    return this;
  }

  /**
   * Adds every object definition in a folder of DDF files (see loadDdfDirectory; DdfError on a broken
   * file unless `onInvalid: 'skip'`). Returns what was loaded and what was skipped.
   */
  loadDirectory(dir: string, options?: LoadDdfOptions): LoadDdfResult {
    const result = loadDdfDirectory(dir, options);
    this.addAll(result.definitions);
    return result;
  }

  /**
   * The definition of `objectId` at `version`: that version if known; else the closest known one of
   * the same major version (the highest lower minor, else the lowest higher minor), since minor
   * versions only add to an object; else the default version. Without `version`, the default: the
   * 1.2-era version for core objects, the highest known one for others.
   */
  object(objectId: number, version?: string): ObjectDefinition | undefined {
    const key = version === undefined ? `${objectId}` : `${objectId}@${version}`;
    if (this.#resolved.has(key)) return this.#resolved.get(key);
    const def = this.resolve(objectId, version);
    this.#resolved.set(key, def);
    return def;
  }

  private resolve(objectId: number, version?: string): ObjectDefinition | undefined {
    const versions = this.#objects.get(objectId);
    if (!versions) return undefined;
    if (version !== undefined) {
      const exact = versions.get(canonicalVersion(version));
      if (exact) return exact.def;
      const wanted = parseObjectVersion(version);
      if (wanted) {
        let below: { minor: number; def: ObjectDefinition } | undefined;
        let above: { minor: number; def: ObjectDefinition } | undefined;
        for (const [key, entry] of versions) {
          const v = parseObjectVersion(key);
          if (!v || v.major !== wanted.major) continue;
          if (v.minor <= wanted.minor) {
            if (!below || v.minor > below.minor) below = { minor: v.minor, def: entry.def };
          } else if (!above || v.minor < above.minor) {
            above = { minor: v.minor, def: entry.def };
          }
        }
        const near = below ?? above;
        if (near) return near.def;
      }
    }
    const fallback = this.defaultVersion(objectId);
    return fallback === undefined ? undefined : versions.get(fallback)?.def;
  }

  resource(objectId: number, resourceId: number, version?: string): ResourceDefinition | undefined {
    return this.object(objectId, version)?.resources.get(resourceId);
  }

  /** The version used for `objectId` when none is asked for, or undefined for an unknown object. */
  defaultVersion(objectId: number): string | undefined {
    const versions = this.#objects.get(objectId);
    if (!versions || versions.size === 0) return undefined;
    const pinned = this.#defaults.get(objectId);
    if (pinned !== undefined && versions.has(canonicalVersion(pinned))) return canonicalVersion(pinned);
    return [...versions.keys()].sort(compareObjectVersions).at(-1);
  }

  /** The known versions of an object, oldest first. */
  versions(objectId: number): string[] {
    return [...(this.#objects.get(objectId)?.keys() ?? [])].sort(compareObjectVersions);
  }

  /** True if the object is known (at exactly `version`, when given). */
  has(objectId: number, version?: string): boolean {
    const versions = this.#objects.get(objectId);
    if (!versions) return false;
    return version === undefined || versions.has(canonicalVersion(version));
  }

  /** True if the definition at this id and version is Petrel's own, not one the user added. */
  isBuiltIn(objectId: number, version: string): boolean {
    return this.#objects.get(objectId)?.get(canonicalVersion(version))?.builtIn ?? false;
  }

  /** Known object ids, ascending. */
  ids(): number[] {
    return [...this.#objects.keys()].sort((a, b) => a - b);
  }

  /** The number of definitions (all versions). */
  get size(): number {
    let n = 0;
    for (const versions of this.#objects.values()) n += versions.size;
    return n;
  }

  /** Every definition, by object id and then version. */
  *[Symbol.iterator](): Iterator<ObjectDefinition> {
    for (const id of this.ids()) {
      for (const version of this.versions(id)) yield this.#objects.get(id)!.get(version)!.def;
    }
  }
}

/** A registry with the built-in core objects, ready for user DDF folders (`loadDirectory`). */
export function createDefaultRegistry(options?: ObjectRegistryOptions): ObjectRegistry {
  return ObjectRegistry.withCoreObjects(options);
}
