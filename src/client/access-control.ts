import { MAX_ID } from '../model/ids.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { createAccessControlInstance } from './core-instances.js';
import type { TreeResult } from './instance.js';
import { treeFail, treeOk } from './instance.js';
import type { ObjectTree } from './object-tree.js';

/** The /2 ACL bits (Core §E.3, LWM2M-1.2.md §1.3). */
export const AccessRights = Object.freeze({
  READ: 1,
  WRITE: 2,
  EXECUTE: 4,
  DELETE: 8,
  CREATE: 16,
} as const);

const INSTANCE_RIGHTS = AccessRights.READ | AccessRights.WRITE | AccessRights.EXECUTE | AccessRights.DELETE;
const ALL_RIGHTS = INSTANCE_RIGHTS | AccessRights.CREATE;
/** The Access Control Owner value that means "managed by the Bootstrap-Server". */
const BOOTSTRAP_OWNER = MAX_ID;
const ACCESS_CONTROL_OBJECT = 2;

export type AccessOperation =
  'read' | 'write' | 'execute' | 'delete' | 'create' | 'discover' | 'write-attributes' | 'observe';

/** The right each operation needs (Read, Observe and Write-Attributes need R; Discover none). */
const REQUIRED: Readonly<Record<AccessOperation, number>> = Object.freeze({
  read: AccessRights.READ,
  observe: AccessRights.READ,
  'write-attributes': AccessRights.READ,
  write: AccessRights.WRITE,
  execute: AccessRights.EXECUTE,
  delete: AccessRights.DELETE,
  create: AccessRights.CREATE,
  discover: 0,
});

/** One /2 instance, as read from the tree. */
export interface AccessControlEntry {
  /** The /2 instance id. */
  readonly id: number;
  readonly objectId: number;
  /** 65535 for the object-level instance that holds Create rights. */
  readonly instanceId: number;
  /** ACL by Short Server ID; 0 is the default entry. */
  readonly acl: ReadonlyMap<number, number>;
  readonly owner: number;
}

export interface AccessControlOptions {
  /**
   * `auto` (default): Access-Control-Enabled mode when the tree holds /2 instances, which the
   * Bootstrap-Server provisions for a client with several servers; Disabled mode (every server
   * has full rights) otherwise. `enabled`/`disabled` force the mode.
   */
  readonly mode?: 'auto' | 'enabled' | 'disabled';
}

function numeric(record: LwM2mRecord | undefined): number | undefined {
  const v = record?.value;
  if (v && (v.type === 'integer' || v.type === 'unsigned')) return Number(v.value);
  return undefined;
}

/** Reads one /2 instance's records into an entry, or undefined if 0, 1 or 3 is missing. */
function parseEntry(id: number, records: readonly LwM2mRecord[]): AccessControlEntry | undefined {
  const at = (rid: number) => records.find((r) => r.path.depth === 3 && r.path.resourceId === rid);
  const objectId = numeric(at(0));
  const instanceId = numeric(at(1));
  const owner = numeric(at(3));
  if (objectId === undefined || instanceId === undefined || owner === undefined) return undefined;
  const acl = new Map<number, number>();
  for (const r of records) {
    const bits = numeric(r);
    if (r.path.resourceId === 2 && r.path.depth === 4 && bits !== undefined)
      acl.set(r.path.resourceInstanceId!, bits & ALL_RIGHTS);
  }
  return { id, objectId, instanceId, acl, owner };
}

/**
 * Access control over the object tree (the /2 object, Core §E.3 and §7.3). In
 * Access-Control-Enabled mode the rights of a server on an object instance resolve, in this
 * order (LWM2M-1.2.md §1.3): the owner of the instance's /2 entry without an ACL entry of its own
 * has full rights; else its own ACL[ssid]; else the default ACL[0]; else none. An instance without
 * a /2 entry grants nothing. Create needs C in the object-level entry (/2/x/1 = 65535). /2
 * instances themselves: their owner may Read and Write them, nobody else (the owner manages the
 * ACL, Core §E.3).
 */
export class AccessControl {
  readonly #tree: ObjectTree;
  readonly #mode: 'auto' | 'enabled' | 'disabled';
  #cache: { all: AccessControlEntry[]; index: Map<string, AccessControlEntry> } | undefined;
  readonly #unsubscribe: () => void;

  constructor(tree: ObjectTree, options: AccessControlOptions = {}) {
    this.#tree = tree;
    this.#mode = options.mode ?? 'auto';
    this.#unsubscribe = tree.onChange((paths) => {
      if (paths.some((p) => p.objectId === ACCESS_CONTROL_OBJECT)) this.#cache = undefined;
    });
  }

  /** Stops following the tree's changes. */
  dispose(): void {
    this.#unsubscribe();
  }

  enabled(): boolean {
    if (this.#mode !== 'auto') return this.#mode === 'enabled';
    return this.#tree.instanceIds(ACCESS_CONTROL_OBJECT).length > 0;
  }

  /** Every readable /2 instance, by /2 instance id. */
  entries(): AccessControlEntry[] {
    return [...this.#load().all];
  }

  /** The parsed /2 instances and, by `oid/iid`, the one governing each target (the lowest id wins). */
  #load(): { all: AccessControlEntry[]; index: Map<string, AccessControlEntry> } {
    if (this.#cache) return this.#cache;
    const all: AccessControlEntry[] = [];
    const index = new Map<string, AccessControlEntry>();
    for (const id of this.#tree.instanceIds(ACCESS_CONTROL_OBJECT)) {
      const entry = parseEntry(id, this.#tree.instance(ACCESS_CONTROL_OBJECT, id)?.read() ?? []);
      if (!entry) continue;
      all.push(entry);
      const key = `${entry.objectId}/${entry.instanceId}`;
      if (!index.has(key)) index.set(key, entry);
    }
    this.#cache = { all, index };
    return this.#cache;
  }

  /** The /2 entry that governs `/objectId/instanceId` (65535: the object-level one). */
  entry(objectId: number, instanceId: number): AccessControlEntry | undefined {
    return this.#load().index.get(`${objectId}/${instanceId}`);
  }

  /**
   * The rights (bits R=1 W=2 E=4 D=8 C=16) of a server: on an object instance (R, W, E, D), or
   * without `instanceId` on the object (C only, from the object-level entry). Disabled mode: all.
   */
  rights(serverId: number, objectId: number, instanceId?: number): number {
    if (!this.enabled()) return instanceId === undefined ? AccessRights.CREATE : INSTANCE_RIGHTS;
    if (instanceId === undefined) {
      const entry = this.entry(objectId, MAX_ID);
      return entry ? resolve(entry, serverId) & AccessRights.CREATE : 0;
    }
    if (objectId === ACCESS_CONTROL_OBJECT) {
      const acEntry = this.#load().all.find((e) => e.id === instanceId);
      return acEntry && acEntry.owner === serverId ? AccessRights.READ | AccessRights.WRITE : 0;
    }
    const entry = this.entry(objectId, instanceId);
    return entry ? resolve(entry, serverId) & INSTANCE_RIGHTS : 0;
  }

  /** Whether a server may perform `operation` on an object (no `instanceId`) or an instance. */
  allows(serverId: number, operation: AccessOperation, objectId: number, instanceId?: number): boolean {
    const needed = REQUIRED[operation];
    if (needed === 0 || !this.enabled()) return true;
    if (operation === 'create') return (this.rights(serverId, objectId) & needed) !== 0;
    // Object-level Read/Observe/Write-Attributes need no right of their own: the answer carries
    // only the instances the server may read (filterRecords).
    if (instanceId === undefined) return true;
    return (this.rights(serverId, objectId, instanceId) & needed) !== 0;
  }

  /** 4.01 when the server lacks the right `operation` needs on `path`. */
  check(serverId: number, operation: AccessOperation, path: LwM2mPath): TreeResult<void> {
    const [oid, iid] = path.ids;
    if (oid === undefined) return treeOk();
    if (this.allows(serverId, operation, oid, operation === 'create' ? undefined : iid)) return treeOk();
    return treeFail('4.01', `server ${serverId} may not ${operation} ${path.toString()}`);
  }

  /** The records of the instances the server may read (for object-level and composite reads). */
  filterRecords(
    serverId: number,
    records: readonly LwM2mRecord[],
    operation: AccessOperation = 'read',
  ): LwM2mRecord[] {
    if (!this.enabled()) return [...records];
    return records.filter((r) => {
      const [oid, iid] = r.path.ids;
      return oid === undefined || iid === undefined || this.allows(serverId, operation, oid, iid);
    });
  }

  /**
   * After a server created `/objectId/instanceId` in Enabled mode: a /2 instance for it, owned by
   * that server with an empty ACL, so the owner rule gives it full rights (Core §6.3.7). Replaces a
   * stale entry for the same target. Nothing in Disabled mode or without /2 in the tree.
   */
  onCreated(serverId: number, objectId: number, instanceId: number): void {
    if (objectId === ACCESS_CONTROL_OBJECT || !this.enabled() || !this.#tree.hasObject(ACCESS_CONTROL_OBJECT))
      return;
    this.onDeleted(objectId, instanceId);
    const used = new Set(this.#tree.instanceIds(ACCESS_CONTROL_OBJECT));
    let id = 0;
    while (used.has(id)) id++;
    this.#tree.addInstance(
      createAccessControlInstance({
        instanceId: id,
        definition: this.#tree.definition(ACCESS_CONTROL_OBJECT),
        objectId,
        objectInstanceId: instanceId,
        owner: serverId,
      }),
    );
  }

  /** After `/objectId/instanceId` was deleted: removes the /2 instances that governed it. */
  onDeleted(objectId: number, instanceId: number): void {
    if (objectId === ACCESS_CONTROL_OBJECT) return;
    for (const e of this.entries())
      if (e.objectId === objectId && e.instanceId === instanceId)
        this.#tree.removeInstance(ACCESS_CONTROL_OBJECT, e.id);
  }
}

/** The resolution order of LWM2M-1.2.md §1.3: owner without own entry, own entry, default, none. */
function resolve(entry: AccessControlEntry, serverId: number): number {
  const own = entry.acl.get(serverId);
  if (entry.owner === serverId && entry.owner !== BOOTSTRAP_OWNER && own === undefined) return ALL_RIGHTS;
  if (own !== undefined) return own;
  return entry.acl.get(0) ?? 0;
}
