import { PetrelError } from '../errors.js';
import type { LwM2mValue } from './data-types.js';
import { LwM2mPath } from './path.js';
import type { LwM2mRecord, NodeSet } from './records.js';

/** The LwM2M node tree: objects hold instances, instances hold single or multiple resources. */
export interface ObjectNode {
  readonly kind: 'object';
  readonly id: number;
  readonly instances: Map<number, InstanceNode>;
}
export interface InstanceNode {
  readonly kind: 'instance';
  readonly id: number;
  readonly resources: Map<number, ResourceNode>;
}
export interface SingleResourceNode {
  readonly kind: 'single';
  readonly id: number;
  readonly value: LwM2mValue;
}
export interface MultipleResourceNode {
  readonly kind: 'multiple';
  readonly id: number;
  readonly instances: Map<number, LwM2mValue>;
}
export type ResourceNode = SingleResourceNode | MultipleResourceNode;
export type LwM2mNode = ObjectNode | InstanceNode | ResourceNode;

/** A tree of objects (one device; gateway prefixes are grouped by the caller). */
export type NodeTree = Map<number, ObjectNode>;

export class NodeTreeError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_NODE_TREE', message);
  }
}

/**
 * Builds a tree from records (timeless ones; historical records belong to a time series, not a tree).
 * `multiple` tells whether a resource is multi-instance when the records alone cannot (a resource
 * path with a value is single; a resource-instance path makes its resource multiple).
 */
export function buildTree(records: NodeSet): NodeTree {
  const tree: NodeTree = new Map();
  for (const r of records) {
    if (r.time !== undefined)
      throw new NodeTreeError(`record ${r.path.toString()} carries a time; a tree holds current values only`);
    const [o, i, res, ri] = r.path.ids;
    if (o === undefined) throw new NodeTreeError('a record at the root has no place in a tree');
    let obj = tree.get(o);
    if (!obj) tree.set(o, (obj = { kind: 'object', id: o, instances: new Map() }));
    if (i === undefined) {
      if (r.value !== undefined) throw new NodeTreeError(`object ${r.path.toString()} cannot hold a value`);
      continue;
    }
    let inst = obj.instances.get(i);
    if (!inst) obj.instances.set(i, (inst = { kind: 'instance', id: i, resources: new Map() }));
    if (res === undefined) {
      if (r.value !== undefined) throw new NodeTreeError(`instance ${r.path.toString()} cannot hold a value`);
      continue;
    }
    const existing = inst.resources.get(res);
    if (ri === undefined) {
      if (r.value === undefined) {
        if (existing && existing.kind === 'single')
          throw new NodeTreeError(`${r.path.toString()} is both a single and a multiple resource`);
        if (!existing) inst.resources.set(res, { kind: 'multiple', id: res, instances: new Map() });
        continue;
      }
      if (existing) throw new NodeTreeError(`${r.path.toString()} appears twice`);
      inst.resources.set(res, { kind: 'single', id: res, value: r.value });
      continue;
    }
    if (existing && existing.kind === 'single')
      throw new NodeTreeError(`${r.path.parent().toString()} is both a single and a multiple resource`);
    const multi: MultipleResourceNode = existing ?? { kind: 'multiple', id: res, instances: new Map() };
    if (!existing) inst.resources.set(res, multi);
    if (r.value === undefined) throw new NodeTreeError(`resource instance ${r.path.toString()} has no value`);
    if (multi.instances.has(ri)) throw new NodeTreeError(`${r.path.toString()} appears twice`);
    multi.instances.set(ri, r.value);
  }
  return tree;
}

function sortedKeys(m: Map<number, unknown>): number[] {
  return [...m.keys()].sort((a, b) => a - b);
}

/** Flattens a node (placed at `path`) back to records in tree order, empty containers included. */
export function flattenNode(path: LwM2mPath, node: LwM2mNode): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  const visit = (p: LwM2mPath, n: LwM2mNode): void => {
    switch (n.kind) {
      case 'object':
        if (n.instances.size === 0) out.push({ path: p });
        for (const id of sortedKeys(n.instances)) visit(p.append(id), n.instances.get(id)!);
        return;
      case 'instance':
        if (n.resources.size === 0) out.push({ path: p });
        for (const id of sortedKeys(n.resources)) visit(p.append(id), n.resources.get(id)!);
        return;
      case 'single':
        out.push({ path: p, value: n.value });
        return;
      case 'multiple':
        if (n.instances.size === 0) out.push({ path: p });
        for (const id of sortedKeys(n.instances))
          out.push({ path: p.append(id), value: n.instances.get(id)! });
        return;
    }
  };
  visit(path, node);
  return out;
}

/** Flattens a whole tree to records in tree order. */
export function flattenTree(tree: NodeTree): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  for (const id of [...tree.keys()].sort((a, b) => a - b))
    out.push(...flattenNode(LwM2mPath.of(id), tree.get(id)!));
  return out;
}
