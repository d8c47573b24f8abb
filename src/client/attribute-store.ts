import {
  applyWriteAttributes,
  resolveEffectiveAttributes,
  type AttributeLevels,
  type NotificationAttributeChanges,
  type NotificationAttributes,
} from '../model/attributes.js';
import type { ResourceType } from '../model/data-types.js';
import { LwM2mPath } from '../model/path.js';

interface Entry {
  readonly path: LwM2mPath;
  readonly attributes: NotificationAttributes;
}

const NONE: NotificationAttributes = Object.freeze({});

/**
 * The attributes each server attached with Write-Attributes, kept per server (ssid) and per level
 * (object, object instance, resource, resource instance). Core §5.1.2: attributes belong to the
 * server that wrote them; another server's Discover or observations never see them.
 */
export class AttributeStore {
  readonly #servers = new Map<number, Map<string, Entry>>();

  /**
   * Applies a Write-Attributes to `path` for `serverId`: numbers set, `null` unsets. The resulting
   * set at that level is validated as a whole (syntax, level, resource type when given,
   * lt < gt, lt + 2·st < gt, epmin < epmax); on AttributeError (answered 4.00) nothing changes.
   */
  apply(
    serverId: number,
    path: LwM2mPath,
    changes: NotificationAttributeChanges,
    resourceType?: ResourceType,
  ): void {
    const key = path.toString();
    const entries = this.#servers.get(serverId);
    const current = entries?.get(key)?.attributes ?? NONE;
    const next = Object.freeze(applyWriteAttributes(current, changes, path, resourceType));
    if (Object.keys(next).length === 0) {
      entries?.delete(key);
      if (entries?.size === 0) this.#servers.delete(serverId);
      return;
    }
    if (entries) entries.set(key, { path, attributes: next });
    else this.#servers.set(serverId, new Map([[key, { path, attributes: next }]]));
  }

  /** What is attached exactly at `path` (not inherited), as Discover shows it. */
  attached(serverId: number, path: LwM2mPath): NotificationAttributes {
    return this.#servers.get(serverId)?.get(path.toString())?.attributes ?? NONE;
  }

  /** Paths below (and at) `under` that carry attributes for `serverId`, in tree order. */
  entries(serverId: number, under: LwM2mPath): { path: LwM2mPath; attributes: NotificationAttributes }[] {
    const out: { path: LwM2mPath; attributes: NotificationAttributes }[] = [];
    for (const e of this.#servers.get(serverId)?.values() ?? [])
      if (under.covers(e.path)) out.push({ path: e.path, attributes: e.attributes });
    return out.sort((a, b) => LwM2mPath.compare(a.path, b.path));
  }

  /** The attributes attached at each level of `path`'s ancestry (and itself). */
  levels(serverId: number, path: LwM2mPath): AttributeLevels {
    const entries = this.#servers.get(serverId);
    if (!entries) return {};
    const at = (depth: number): NotificationAttributes | undefined =>
      path.depth >= depth ? entries.get(ancestorKey(path, depth))?.attributes : undefined;
    return { object: at(1), objectInstance: at(2), resource: at(3), resourceInstance: at(4) };
  }

  /**
   * The attributes in effect at `path` for `serverId`: per attribute, Resource-Instance > Resource >
   * Object-Instance > Object (Core §5.1.2); pmin/pmax fall back to the server's Default Minimum /
   * Maximum Period (/1/x/2, /1/x/3).
   */
  effective(
    serverId: number,
    path: LwM2mPath,
    defaults: { readonly pmin?: number; readonly pmax?: number } = {},
  ): NotificationAttributes {
    return resolveEffectiveAttributes(this.levels(serverId, path), defaults);
  }

  /** Forgets everything `serverId` attached (its account was removed or it registered anew). */
  clear(serverId: number): void {
    this.#servers.delete(serverId);
  }

  /** Drops attributes at and below `path` for every server (the instance or object was deleted). */
  removeBelow(path: LwM2mPath): void {
    for (const [serverId, entries] of this.#servers) {
      for (const [key, e] of entries) if (path.covers(e.path)) entries.delete(key);
      if (entries.size === 0) this.#servers.delete(serverId);
    }
  }
}

/** The text key of `path` cut to `depth` identifiers (same prefix), matching LwM2mPath.toString(). */
function ancestorKey(path: LwM2mPath, depth: number): string {
  const head = path.prefix === undefined ? '' : `/${path.prefix}`;
  return `${head}/${path.ids.slice(0, depth).join('/')}`;
}
