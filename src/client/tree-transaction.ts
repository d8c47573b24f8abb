import type { LwM2mPath } from '../model/path.js';
import { LwM2mPath as Path } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { InstanceEnabler } from './instance.js';
import type { ObjectTree } from './object-tree.js';

const key = (objectId: number, instanceId: number): string => `${objectId}/${instanceId}`;

interface Guarded {
  readonly objectId: number;
  readonly instanceId: number;
  /** The enabler before the session (undefined: the instance did not exist). */
  readonly original?: InstanceEnabler;
  /** Its values then. */
  readonly values: readonly LwM2mRecord[];
}

/**
 * An undo log over the object tree for one bootstrap session. Before the session first changes an
 * instance it calls `guard`, which notes the enabler and its values; changes land on the enabler
 * itself (an application's /3/0 keeps its Reboot handler and the application keeps its
 * reference). `rollback` puts every instance back as it was (a Finish answered 4.06, a timeout, a
 * lost session: Core §6.1.7.6 keeps the pre-bootstrap configuration): created instances go,
 * removed ones come back, changed ones get their old values; `commit` forgets the log.
 */
export class TreeTransaction {
  readonly #tree: ObjectTree;
  readonly #guarded = new Map<string, Guarded>();

  constructor(tree: ObjectTree) {
    this.#tree = tree;
  }

  get touched(): number {
    return this.#guarded.size;
  }

  /** Call before the session writes, creates or deletes /objectId/instanceId. */
  guard(objectId: number, instanceId: number): void {
    const k = key(objectId, instanceId);
    if (this.#guarded.has(k)) return;
    const original = this.#tree.instance(objectId, instanceId);
    this.#guarded.set(k, {
      objectId,
      instanceId,
      values: original?.read() ?? [],
      ...(original ? { original } : {}),
    });
  }

  /** Puts every guarded instance back as it was before the session, newest change first. */
  rollback(): void {
    for (const { objectId, instanceId, original, values } of [...this.#guarded.values()].reverse()) {
      const current = this.#tree.instance(objectId, instanceId);
      if (current !== original) {
        if (current) this.#tree.removeInstance(objectId, instanceId);
        if (original) this.#tree.addInstance(original);
      }
      if (original) restoreValues(this.#tree, original, values);
    }
    this.#guarded.clear();
  }

  /** Keeps the session's changes. */
  commit(): void {
    this.#guarded.clear();
  }
}

/** Writes `values` back over an instance; resources it gained since go (valueless records). */
function restoreValues(tree: ObjectTree, inst: InstanceEnabler, values: readonly LwM2mRecord[]): void {
  const had = new Set(values.map((r) => r.path.resourceId));
  const gained = new Set(
    inst
      .read()
      .map((r) => r.path.resourceId)
      .filter((rid): rid is number => rid !== undefined && !had.has(rid)),
  );
  const removals = [...gained].map((rid) => ({ path: Path.of(inst.objectId, inst.instanceId, rid) }));
  const result = inst.write([...values, ...removals], 'replace');
  if (!result.ok) return; // an application enabler that refuses: its values stay as they are
  const paths: LwM2mPath[] = [...had, ...gained]
    .filter((rid): rid is number => rid !== undefined)
    .map((rid) => Path.of(inst.objectId, inst.instanceId, rid));
  if (paths.length > 0) tree.changed(paths);
}
