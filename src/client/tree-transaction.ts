import type { InstanceEnabler } from './instance.js';
import type { ObjectTree } from './object-tree.js';

const key = (objectId: number, instanceId: number): string => `${objectId}/${instanceId}`;

/**
 * An undo log over the object tree for one bootstrap session. Before the session first changes an
 * instance it calls `guard`: the original enabler is set aside and a copy built from its values
 * takes its place, so whatever the Bootstrap-Server writes or deletes lands on the copy. `rollback`
 * puts every original back (a Finish answered 4.06, a timeout, a lost session: Core §6.1.7.6 keeps
 * the pre-bootstrap configuration); `commit` forgets them.
 *
 * An instance the factory cannot copy (an application enabler) is changed in place: its new values
 * survive a rollback, its removal does not (the original enabler is re-added).
 */
export class TreeTransaction {
  readonly #tree: ObjectTree;
  /** Original enabler per instance touched (undefined: the instance did not exist). */
  readonly #originals = new Map<
    string,
    { objectId: number; instanceId: number; original?: InstanceEnabler }
  >();

  constructor(tree: ObjectTree) {
    this.#tree = tree;
  }

  get touched(): number {
    return this.#originals.size;
  }

  /** Call before the session writes, creates or deletes /objectId/instanceId. */
  guard(objectId: number, instanceId: number): void {
    const k = key(objectId, instanceId);
    if (this.#originals.has(k)) return;
    const original = this.#tree.instance(objectId, instanceId);
    this.#originals.set(k, { objectId, instanceId, ...(original ? { original } : {}) });
    if (!original) return;
    const copy = this.#tree.instantiate(objectId, instanceId, original.read());
    if (!copy.ok) return; // changed in place (see the class comment)
    this.#tree.removeInstance(objectId, instanceId);
    this.#tree.addInstance(copy.value);
  }

  /** Puts every guarded instance back as it was before the session. */
  rollback(): void {
    for (const { objectId, instanceId, original } of this.#originals.values()) {
      const current = this.#tree.instance(objectId, instanceId);
      if (current === original) continue;
      if (current) this.#tree.removeInstance(objectId, instanceId);
      if (original) this.#tree.addInstance(original);
    }
    this.#originals.clear();
  }

  /** Keeps the session's changes. */
  commit(): void {
    this.#originals.clear();
  }
}
