import type { CreateInstance } from '../content/create-payload.js';
import type { NotificationAttributes } from '../model/attributes.js';
import { CORE_OBJECT_VERSIONS } from '../model/core-objects.js';
import type { LwM2mValue, ObjLink } from '../model/data-types.js';
import { TypeConversionError, convertValue } from '../model/data-types.js';
import { MAX_ID, isValidId } from '../model/ids.js';
import type { Link } from '../model/link-format.js';
import type {
  ObjectDefinition,
  ObjectModel,
  ResourceDefinition,
  ValueRange,
} from '../model/object-definition.js';
import { compareObjectVersions } from '../model/object-registry.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { findConflict } from '../model/records.js';
import type { DiscoverEntry, RegistrationPayloadInput } from '../model/registration-payload.js';
import type { ResultCode } from '../operations/result-code.js';
import type { ExecuteArgumentInput, InstanceEnabler, TreeResult } from './instance.js';
import { MemoryInstance, ObjectTreeError, treeFail, treeOk } from './instance.js';

export type { TreeResult } from './instance.js';
export { ObjectTreeError } from './instance.js';

/** `values`: resource values changed; `structure`: objects or instances appeared or went away. */
export type TreeChangeKind = 'values' | 'structure';

/**
 * Paths that changed: resource paths (`/o/i/r`) for value changes, instance or object paths for
 * structure changes (the registration engine sends an Update with the new object list on those).
 */
export type TreeChangeListener = (paths: readonly LwM2mPath[], kind: TreeChangeKind) => void;

/** Builds the enabler of an instance a server creates (or a Bootstrap-Write brings). */
export type InstanceFactory = (
  instanceId: number,
  records: readonly LwM2mRecord[],
  definition: ObjectDefinition | undefined,
) => InstanceEnabler;

export interface ObjectOptions {
  /** The object version this client implements (`ver=`); default: `versions` of the tree, else the model's. */
  version?: string;
  /** Multi-instance or not, for objects the model does not know (default: the definition's, else true). */
  multiple?: boolean;
  /**
   * Values a Create fills in when the payload omits them (1.2 Create), paths relative to the
   * instance (`/r`, `/r/ri`) as in CreateInstance.
   */
  defaults?: readonly LwM2mRecord[];
  /** Builds created instances; default: a MemoryInstance. */
  factory?: InstanceFactory;
}

export interface ObjectTreeOptions {
  model: ObjectModel;
  /** Object versions this client implements, by object id. */
  versions?: ReadonlyMap<number, string>;
  /** The application may refuse a Create (DMSE-001): return the result code, or undefined to accept. */
  onCreate?(objectId: number, instance: CreateInstance): ResultCode | undefined;
  /** The application may refuse a Delete of an instance or resource instance (DMSE-001). */
  onDelete?(path: LwM2mPath): ResultCode | undefined;
  /** Where a throwing change listener's error goes; default: rethrown asynchronously. */
  onListenerError?(error: unknown): void;
}

interface ObjectEntry {
  readonly id: number;
  version: string | undefined;
  multiple: boolean | undefined;
  defaults: readonly LwM2mRecord[];
  factory: InstanceFactory | undefined;
  readonly instances: Map<number, InstanceEnabler>;
  readonly unsubscribe: Map<number, () => void>;
}

/** Objects never listed in Register/Update (Core 1.2 §6.2.1: Security, OSCORE, COSE). */
const UNREGISTERED_OBJECTS: ReadonlySet<number> = new Set([0, 21, 23]);

const byNumber = (a: number, b: number): number => a - b;

function readable(def: ResourceDefinition | undefined): boolean {
  // '' is a bootstrap-only resource (e.g. /0): readable by Bootstrap-Read; the handler keeps DM out.
  return def === undefined || def.operations === 'R' || def.operations === 'RW' || def.operations === '';
}

function writable(def: ResourceDefinition | undefined, bootstrap: boolean): boolean {
  if (def === undefined) return true;
  if (def.operations === 'W' || def.operations === 'RW') return true;
  return bootstrap && def.operations !== 'E';
}

function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  const integral = (x: number | bigint) => typeof x === 'bigint' || Number.isInteger(x);
  if (integral(a) && integral(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Number(a) - Number(b);
}

/** The number a range limits: the value, or the byte length for String/Opaque/Corelnk ranges. */
function rangedNumber(value: LwM2mValue, range: ValueRange): number | bigint | undefined {
  if (range.length) {
    if (value.type === 'opaque') return value.value.length;
    if (value.type === 'string' || value.type === 'corelnk') return Buffer.byteLength(value.value, 'utf8');
    return undefined;
  }
  if (value.type === 'integer' || value.type === 'unsigned' || value.type === 'float') return value.value;
  return undefined;
}

function inRange(value: LwM2mValue, range: ValueRange | undefined): boolean {
  if (!range) return true;
  const n = rangedNumber(value, range);
  if (n === undefined) return true;
  if (range.values) return range.values.some((v) => typeof v !== 'string' && compareNumbers(n, v) === 0);
  if (range.min !== undefined && compareNumbers(n, range.min) < 0) return false;
  if (range.max !== undefined && compareNumbers(n, range.max) > 0) return false;
  return true;
}

const same = (a: LwM2mPath, b: LwM2mPath): boolean =>
  a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i]);
const under = (parent: LwM2mPath, child: LwM2mPath): boolean =>
  parent.ids.length <= child.ids.length && parent.ids.every((id, i) => id === child.ids[i]);

/**
 * The client's object tree: the objects and instances it announces, and the DM operations on them
 * as LWM2M-1.2.md §1.3 lays them out. It answers with values and LwM2M result codes; access
 * control (AccessControl) and the bootstrap-only objects are the request handler's concern.
 */
export class ObjectTree {
  readonly #model: ObjectModel;
  readonly #versions: ReadonlyMap<number, string>;
  readonly #options: ObjectTreeOptions;
  readonly #objects = new Map<number, ObjectEntry>();
  readonly #listeners = new Set<TreeChangeListener>();

  constructor(options: ObjectTreeOptions) {
    this.#model = options.model;
    this.#versions = options.versions ?? new Map();
    this.#options = options;
  }

  // ---- building the tree (application side) ----

  /** Adds an object; it is announced in Register even without instances. Later calls update its options. */
  addObject(objectId: number, options: ObjectOptions = {}): this {
    if (!isValidId(objectId)) throw new ObjectTreeError('bad-id', `object id ${objectId} is not 0..65534`);
    let entry = this.#objects.get(objectId);
    const isNew = entry === undefined;
    if (!entry) {
      entry = {
        id: objectId,
        version: undefined,
        multiple: undefined,
        defaults: [],
        factory: undefined,
        instances: new Map(),
        unsubscribe: new Map(),
      };
      this.#objects.set(objectId, entry);
    }
    if (options.version !== undefined) entry.version = options.version;
    if (options.multiple !== undefined) entry.multiple = options.multiple;
    if (options.defaults !== undefined) entry.defaults = options.defaults;
    if (options.factory !== undefined) entry.factory = options.factory;
    if (isNew) this.#emit([LwM2mPath.of(objectId)], 'structure');
    return this;
  }

  /** Adds an instance (adding its object if needed). Throws ObjectTreeError if the id is taken. */
  addInstance(instance: InstanceEnabler): this {
    const { objectId, instanceId } = instance;
    if (!isValidId(objectId) || !isValidId(instanceId))
      throw new ObjectTreeError('bad-id', `instance /${objectId}/${instanceId}: ids are 0..65534`);
    if (!this.#objects.has(objectId)) this.addObject(objectId);
    const entry = this.#objects.get(objectId)!;
    if (entry.instances.has(instanceId))
      throw new ObjectTreeError('duplicate-instance', `/${objectId}/${instanceId} already exists`);
    if (!this.#isMultiple(objectId) && entry.instances.size > 0)
      throw new ObjectTreeError('single-instance', `object ${objectId} is single-instance`);
    entry.instances.set(instanceId, instance);
    const off = instance.onChange?.((paths) => this.#emit(paths, 'values'));
    if (off) entry.unsubscribe.set(instanceId, off);
    this.#emit([LwM2mPath.of(objectId, instanceId)], 'structure');
    return this;
  }

  /** Removes an instance (application side; a server's Delete goes through `delete`). */
  removeInstance(objectId: number, instanceId: number): boolean {
    const entry = this.#objects.get(objectId);
    if (!entry?.instances.delete(instanceId)) return false;
    entry.unsubscribe.get(instanceId)?.();
    entry.unsubscribe.delete(instanceId);
    if (isValidId(objectId) && isValidId(instanceId))
      this.#emit([LwM2mPath.of(objectId, instanceId)], 'structure');
    return true;
  }

  /** Removes an object and its instances. */
  removeObject(objectId: number): boolean {
    const entry = this.#objects.get(objectId);
    if (!entry) return false;
    for (const off of entry.unsubscribe.values()) off();
    this.#objects.delete(objectId);
    this.#emit([LwM2mPath.of(objectId)], 'structure');
    return true;
  }

  objectIds(): number[] {
    return [...this.#objects.keys()].sort(byNumber);
  }

  instanceIds(objectId: number): number[] {
    return [...(this.#objects.get(objectId)?.instances.keys() ?? [])].sort(byNumber);
  }

  instance(objectId: number, instanceId: number): InstanceEnabler | undefined {
    return this.#objects.get(objectId)?.instances.get(instanceId);
  }

  hasObject(objectId: number): boolean {
    return this.#objects.has(objectId);
  }

  /** The object version this client implements: its own setting, else the tree's, else the model's. */
  version(objectId: number): string | undefined {
    return (
      this.#objects.get(objectId)?.version ??
      this.#versions.get(objectId) ??
      this.#model.object(objectId)?.version
    );
  }

  definition(objectId: number): ObjectDefinition | undefined {
    return this.#model.object(objectId, this.#objects.get(objectId)?.version ?? this.#versions.get(objectId));
  }

  #resourceDef(objectId: number, resourceId: number): ResourceDefinition | undefined {
    return this.definition(objectId)?.resources.get(resourceId);
  }

  #isMultiple(objectId: number): boolean {
    return this.#objects.get(objectId)?.multiple ?? this.definition(objectId)?.multiple ?? true;
  }

  // ---- change events ----

  /** Subscribes to changes (application `set`s, and writes, creates and deletes through the tree). */
  onChange(listener: TreeChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reports changes a custom enabler made by itself (one without `onChange`). */
  changed(paths: readonly LwM2mPath[], kind: TreeChangeKind = 'values'): void {
    if (paths.length > 0) this.#emit(paths, kind);
  }

  #emit(paths: readonly LwM2mPath[], kind: TreeChangeKind): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(paths, kind);
      } catch (e) {
        if (this.#options.onListenerError) this.#options.onListenerError(e);
        else
          queueMicrotask(() => {
            throw e;
          });
      }
    }
  }

  // ---- Read ----

  /**
   * Read (Core §6.3.1): 4.04 for a missing object, instance, resource or resource instance (a
   * resource-instance id on a single resource included); 4.05 for a resource that is not readable
   * (executable or write-only). Object and instance reads skip such resources silently. An object
   * without instances reads as no records; an instance without readable resources as one record
   * `/o/i` without value. The root path reads every object.
   */
  read(path: LwM2mPath): TreeResult<LwM2mRecord[]> {
    const [oid, iid, rid, riid] = path.ids;
    if (oid === undefined) return treeOk(this.objectIds().flatMap((o) => this.#readObject(o)));
    const entry = this.#objects.get(oid);
    if (!entry) return treeFail('4.04', `object ${oid} not found`);
    if (iid === undefined) return treeOk(this.#readObject(oid));
    const inst = entry.instances.get(iid);
    if (!inst) return treeFail('4.04', `/${oid}/${iid} not found`);
    if (rid === undefined) return treeOk(this.#readInstance(inst));
    const def = this.#resourceDef(oid, rid);
    if (def && !readable(def)) return treeFail('4.05', `/${oid}/${iid}/${rid} is not readable`);
    const target = LwM2mPath.of(...path.ids);
    const records = (inst.readResource ? inst.readResource(rid) : inst.read()).filter((r) =>
      under(target, r.path),
    );
    if (records.length === 0) {
      if (riid !== undefined && def && !def.multiple)
        return treeFail('4.04', `/${oid}/${iid}/${rid} is a single resource: it has no instance ${riid}`);
      return treeFail('4.04', `${target.toString()} not found`);
    }
    return treeOk(records);
  }

  #readObject(objectId: number): LwM2mRecord[] {
    return this.instanceIds(objectId).flatMap((iid) => this.#readInstance(this.instance(objectId, iid)!));
  }

  #readInstance(inst: InstanceEnabler): LwM2mRecord[] {
    const def = this.definition(inst.objectId);
    const records = inst
      .read()
      .filter((r) => r.path.resourceId !== undefined && readable(def?.resources.get(r.path.resourceId)));
    return records.length > 0 ? records : [{ path: LwM2mPath.of(inst.objectId, inst.instanceId) }];
  }

  /**
   * Read-Composite (Core §6.3.2): best effort, missing or unreadable targets are left out, and so are
   * instances `filter` rejects (the handler passes access rights and the bootstrap-only objects).
   * `/` reads everything. Each record appears once.
   */
  readComposite(
    paths: readonly LwM2mPath[],
    options: { filter?: (objectId: number, instanceId: number) => boolean } = {},
  ): LwM2mRecord[] {
    const seen = new Set<string>();
    const out: LwM2mRecord[] = [];
    for (const path of paths) {
      const result = this.read(path);
      if (!result.ok) continue;
      for (const r of result.value) {
        const [oid, iid] = r.path.ids;
        if (options.filter && oid !== undefined && iid !== undefined && !options.filter(oid, iid)) continue;
        const key = r.path.toString();
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(r);
      }
    }
    return out;
  }

  // ---- Write ----

  /**
   * Write (Core §6.3.4) of `/o/i`, `/o/i/r` or `/o/i/r/ri`. Replace (PUT) replaces the whole
   * instance or the whole array of a multiple resource; Partial Update (POST) creates or overwrites
   * what it names and never deletes (LWM2M-1.2.md §1.3, the /34 example). Instance Replace: every
   * OPTIONAL writable resource the payload leaves out is removed (a multiple one emptied); mandatory
   * ones the payload leaves out keep their values, so the instance stays valid.
   * Codes: 4.04 missing instance, or a resource the object does not define as the target; 4.05 a
   * non-writable resource in the payload (unless `bootstrap`); 4.00 a wrong type, a value out of
   * range, an object link to nothing, a record outside the target, duplicate records, a resource
   * instance of a single resource or a single value for a multiple one. Unknown resources inside
   * an instance write are ignored. `bootstrap` (Bootstrap-Write) may also write read-only resources,
   * address a whole object, and creates missing instances.
   */
  write(
    path: LwM2mPath,
    records: readonly LwM2mRecord[],
    mode: 'replace' | 'update',
    options: { bootstrap?: boolean } = {},
  ): TreeResult<void> {
    const bootstrap = options.bootstrap ?? false;
    const target = LwM2mPath.of(...path.ids);
    const [oid, iid] = target.ids;
    if (oid === undefined) return treeFail('4.05', 'the root cannot be written');
    if (iid === undefined && !bootstrap)
      return treeFail('4.05', `object-level Write of /${oid} is not possible (it would be a Create)`);
    const entry = this.#objects.get(oid);
    if (!entry) return treeFail('4.04', `object ${oid} not found`);
    const conflict = findConflict(records.map((r) => ({ path: r.path, value: r.value })));
    if (conflict) return treeFail('4.00', `${conflict.reason} record ${conflict.record.path.toString()}`);
    for (const r of records)
      if (!under(target, r.path))
        return treeFail('4.00', `record ${r.path.toString()} is outside ${target.toString()}`);

    if (iid === undefined) {
      // Bootstrap-Write of a whole object: one write per instance.
      const iids = [...new Set(records.map((r) => r.path.instanceId).filter((i) => i !== undefined))];
      for (const i of iids.sort(byNumber)) {
        const result = this.write(
          target.append(i),
          records.filter((r) => r.path.instanceId === i),
          mode,
          options,
        );
        if (!result.ok) return result;
      }
      return treeOk();
    }

    let inst = entry.instances.get(iid);
    if (!inst && !bootstrap) return treeFail('4.04', `/${oid}/${iid} not found`);
    const checked = this.#checkWrite(target, records, bootstrap);
    if (!checked.ok) return checked;
    const values = checked.value;

    if (!inst) {
      if (!this.#isMultiple(oid) && entry.instances.size > 0)
        return treeFail('4.00', `object ${oid} is single-instance: /${oid}/${iid} cannot be created`);
      const created = this.#instantiate(entry, iid, values);
      if (!created.ok) return created;
      inst = created.value;
      this.addInstance(inst);
      return treeOk();
    }

    if (target.depth >= 3 && !values.some((r) => r.value !== undefined || r.path.depth === 3)) {
      const def = this.#resourceDef(oid, target.resourceId!);
      if (target.depth === 4 || !(def?.multiple ?? true) || mode === 'update')
        return treeFail('4.00', `the Write of ${target.toString()} carries no value`);
    }
    let applied: LwM2mRecord[] = values;
    let enablerMode: 'replace' | 'update' = mode;
    const rid = target.resourceId;
    if (target.depth === 4) enablerMode = 'update';
    else if (target.depth === 3) {
      const def = this.#resourceDef(oid, rid!);
      const multiple = def?.multiple ?? values.some((r) => r.path.depth === 4);
      if (!multiple) enablerMode = 'update';
      else if (mode === 'replace' && values.length === 0) applied = [{ path: target }];
    } else if (mode === 'replace') {
      applied = [...values, ...this.#replaceRemovals(inst, values)];
    }
    const result = inst.write(applied, enablerMode);
    if (!result.ok) return result;
    this.#emitResources(applied);
    return treeOk();
  }

  /** Valueless records for the optional writable resources an instance Replace leaves out. */
  #replaceRemovals(inst: InstanceEnabler, values: readonly LwM2mRecord[]): LwM2mRecord[] {
    const def = this.definition(inst.objectId);
    if (!def) return [];
    const named = new Set(values.map((r) => r.path.resourceId));
    const present = new Set(inst.read().map((r) => r.path.resourceId));
    const out: LwM2mRecord[] = [];
    for (const res of def.resources.values()) {
      if (res.mandatory || !writable(res, false) || named.has(res.id) || !present.has(res.id)) continue;
      out.push({ path: LwM2mPath.of(inst.objectId, inst.instanceId, res.id) });
    }
    return out;
  }

  #emitResources(records: readonly LwM2mRecord[]): void {
    const seen = new Map<string, LwM2mPath>();
    for (const r of records) {
      if (r.path.depth < 3) continue;
      const p = LwM2mPath.of(...r.path.ids.slice(0, 3));
      seen.set(p.toString(), p);
    }
    if (seen.size > 0) this.#emit([...seen.values()], 'values');
  }

  /**
   * Validates and types the records of a write below one instance. Returns the records to apply
   * (typed, unknown resources dropped).
   */
  #checkWrite(
    target: LwM2mPath,
    records: readonly LwM2mRecord[],
    bootstrap: boolean,
  ): TreeResult<LwM2mRecord[]> {
    const [oid] = target.ids as [number];
    const objectDef = this.definition(oid);
    const out: LwM2mRecord[] = [];
    if (target.depth >= 3 && objectDef && !objectDef.resources.has(target.resourceId!))
      return treeFail('4.04', `object ${oid} has no resource ${target.resourceId}`);
    for (const r of records) {
      const [, , rid, riid] = r.path.ids;
      if (rid === undefined) {
        if (r.value !== undefined) return treeFail('4.00', `${r.path.toString()} cannot hold a value`);
        continue; // names the instance itself
      }
      const def = objectDef?.resources.get(rid);
      if (objectDef && !def) continue; // unknown optional resource: not an error
      if (!writable(def, bootstrap)) return treeFail('4.05', `${r.path.toString()} is not writable`);
      const checked = this.#checkRecord(r, def, bootstrap);
      if (!checked.ok) return checked;
      if (riid === undefined && r.value === undefined && !def?.multiple)
        return treeFail('4.00', `${r.path.toString()} has no value`);
      out.push(checked.value);
    }
    return treeOk(out);
  }

  /** Shape, type, range and object-link checks of one record (paths absolute, depth 3 or 4). */
  #checkRecord(
    r: LwM2mRecord,
    def: ResourceDefinition | undefined,
    bootstrap: boolean,
  ): TreeResult<LwM2mRecord> {
    const path = LwM2mPath.of(...r.path.ids);
    if (def) {
      if (path.depth === 4 && !def.multiple)
        return treeFail('4.00', `${path.toString()}: resource ${def.id} is single, it has no instances`);
      if (path.depth === 3 && def.multiple && r.value !== undefined)
        return treeFail(
          '4.00',
          `${path.toString()}: resource ${def.id} is multiple, values go to its instances`,
        );
    }
    if (r.value === undefined) return treeOk({ path });
    let value = r.value;
    if (def && value.type !== def.type) {
      try {
        value = convertValue(value, def.type);
      } catch (e) {
        if (!(e instanceof TypeConversionError)) throw e;
        return treeFail('4.00', `${path.toString()}: ${e.message}`);
      }
    }
    if (def && !inRange(value, def.range))
      return treeFail('4.00', `${path.toString()}: value out of range ${def.rangeText ?? ''}`.trimEnd());
    if (value.type === 'objlnk' && !bootstrap && !this.#linkTargetExists(value.value))
      return treeFail(
        '4.00',
        `${path.toString()}: object link ${value.value.objectId}:${value.value.instanceId} points to nothing`,
      );
    return treeOk({ path, value });
  }

  /** An object link must be the null link, name a present object (`oid:65535`) or an existing instance. */
  #linkTargetExists(link: ObjLink): boolean {
    if (link.objectId === MAX_ID) return link.instanceId === MAX_ID;
    if (!this.#objects.has(link.objectId)) return false;
    return link.instanceId === MAX_ID || this.instance(link.objectId, link.instanceId) !== undefined;
  }

  /**
   * Write-Composite (Core §6.3.8): atomic. Every record must target an existing resource
   * (`/o/i/r`) or resource instance the server may write, with a valid value, before anything is
   * written; a record without value deletes that resource instance (SenML-ETCH null). Resources not
   * listed stay untouched. If an enabler refuses while applying, the instances already written get
   * their previous values back.
   */
  writeComposite(records: readonly LwM2mRecord[], options: { bootstrap?: boolean } = {}): TreeResult<void> {
    const bootstrap = options.bootstrap ?? false;
    const conflict = findConflict(records.map((r) => ({ path: r.path, value: r.value })));
    if (conflict) return treeFail('4.00', `${conflict.reason} record ${conflict.record.path.toString()}`);
    const groups = new Map<InstanceEnabler, { writes: LwM2mRecord[]; deletes: LwM2mPath[] }>();
    for (const r of records) {
      const [oid, iid, rid, riid] = r.path.ids;
      if (oid === undefined || iid === undefined || rid === undefined)
        return treeFail('4.00', `Write-Composite targets resources, not ${r.path.toString()}`);
      const inst = this.instance(oid, iid);
      if (!inst) return treeFail('4.04', `/${oid}/${iid} not found`);
      const objectDef = this.definition(oid);
      const def = objectDef?.resources.get(rid);
      if (objectDef && !def) return treeFail('4.04', `object ${oid} has no resource ${rid}`);
      if (!writable(def, bootstrap)) return treeFail('4.05', `${r.path.toString()} is not writable`);
      const group = groups.get(inst) ?? { writes: [], deletes: [] };
      groups.set(inst, group);
      if (r.value === undefined) {
        if (riid === undefined)
          return treeFail('4.00', `${r.path.toString()}: only resource instances can be deleted`);
        const path = LwM2mPath.of(oid, iid, rid, riid);
        if (!inst.read().some((x) => same(x.path, path)))
          return treeFail('4.04', `${path.toString()} not found`);
        if (!inst.deleteResourceInstance) return treeFail('4.05', `${path.toString()} cannot be deleted`);
        group.deletes.push(path);
        continue;
      }
      const checked = this.#checkRecord(r, def, bootstrap);
      if (!checked.ok) return checked;
      group.writes.push(checked.value);
    }
    const done: { inst: InstanceEnabler; before: LwM2mRecord[]; rids: Set<number> }[] = [];
    for (const [inst, group] of groups) {
      const rids = new Set(
        [...group.writes, ...group.deletes.map((path) => ({ path }))].map((r) => r.path.resourceId!),
      );
      const before = inst.read().filter((r) => rids.has(r.path.resourceId!));
      done.push({ inst, before, rids });
      let result = group.writes.length > 0 ? inst.write(group.writes, 'update') : treeOk();
      for (const p of group.deletes) {
        if (!result.ok) break;
        result = inst.deleteResourceInstance!(p.resourceId!, p.resourceInstanceId!);
      }
      if (!result.ok) {
        for (const d of done) restore(d.inst, d.before, d.rids);
        return result;
      }
    }
    this.#emitResources(
      [...groups.values()].flatMap((g) => [...g.writes, ...g.deletes.map((path) => ({ path }))]),
    );
    return treeOk();
  }

  // ---- Execute ----

  /** Execute (Core §6.3.5) on `/o/i/r`: 4.04 missing, 4.05 not executable, 5.00 if the handler throws. */
  async execute(path: LwM2mPath, args: readonly ExecuteArgumentInput[] = []): Promise<TreeResult<void>> {
    const [oid, iid, rid] = path.ids;
    if (path.depth !== 3 || oid === undefined || iid === undefined || rid === undefined)
      return treeFail('4.05', `Execute addresses a resource, not ${path.toString()}`);
    const inst = this.instance(oid, iid);
    if (!inst) return treeFail('4.04', `/${oid}/${iid} not found`);
    const objectDef = this.definition(oid);
    const def = objectDef?.resources.get(rid);
    if (objectDef && !def) return treeFail('4.04', `object ${oid} has no resource ${rid}`);
    if (def && def.operations !== 'E') return treeFail('4.05', `/${oid}/${iid}/${rid} is not executable`);
    if (!this.#resourceIds(inst).includes(rid)) return treeFail('4.04', `/${oid}/${iid}/${rid} not found`);
    try {
      return await inst.execute(rid, args);
    } catch (e) {
      return treeFail('5.00', `/${oid}/${iid}/${rid}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The resources an instance has, executable ones included. */
  #resourceIds(inst: InstanceEnabler): number[] {
    if (inst.resourceIds) return inst.resourceIds();
    const ids = new Set(inst.read().map((r) => r.path.resourceId!));
    for (const res of this.definition(inst.objectId)?.resources.values() ?? [])
      if (res.operations === 'E' && res.mandatory) ids.add(res.id);
    return [...ids].sort(byNumber);
  }

  // ---- Create ----

  /**
   * Create (Core §6.3.7 with the 1.2 relaxations): missing resources are filled from the object's
   * `defaults`; 4.00 if a mandatory (non-executable) resource is still missing. Read-only and
   * unknown resources in the payload are ignored; values are type- and range-checked (4.00). The
   * instance id: the payload's (4.00 if taken); 0 for a single-instance object (4.00 if it exists,
   * or if the payload names another id); otherwise the lowest free id. 4.04 for an object not in the
   * tree. `onCreate` may refuse. On any error nothing is created. Returns the new instance id.
   */
  create(objectPath: LwM2mPath, instance: CreateInstance): TreeResult<number> {
    const [oid] = objectPath.ids;
    if (objectPath.depth !== 1 || oid === undefined)
      return treeFail('4.05', `Create addresses an object, not ${objectPath.toString()}`);
    const entry = this.#objects.get(oid);
    if (!entry) return treeFail('4.04', `object ${oid} not found`);
    const multiple = this.#isMultiple(oid);
    let iid = instance.instanceId;
    if (iid !== undefined && !isValidId(iid)) iid = undefined; // 65535: the client assigns
    if (!multiple) {
      if (iid !== undefined && iid !== 0)
        return treeFail('4.00', `object ${oid} is single-instance: its instance is 0, not ${iid}`);
      iid = 0;
    }
    if (iid !== undefined && entry.instances.has(iid))
      return treeFail('4.00', `/${oid}/${iid} already exists`);
    if (iid === undefined) {
      let free = 0;
      while (entry.instances.has(free)) free++;
      if (free >= MAX_ID) return treeFail('4.00', `object ${oid} has no free instance id`);
      iid = free;
    }
    const base = LwM2mPath.of(oid, iid);
    const payload: LwM2mRecord[] = [];
    const objectDef = this.definition(oid);
    for (const r of instance.resources) {
      const [rid, riid] = r.path.ids;
      if (rid === undefined || r.path.depth > 2)
        return treeFail('4.00', `bad resource path ${r.path.toString()} in a Create`);
      const def = objectDef?.resources.get(rid);
      if (objectDef && !def) continue; // unknown optional resource
      if (!writable(def, false)) continue; // read-only (or executable) values are ignored (1.2)
      const path = riid === undefined ? base.append(rid) : base.append(rid).append(riid);
      const checked = this.#checkRecord({ path, value: r.value }, def, false);
      if (!checked.ok) return checked;
      if (riid === undefined && r.value === undefined && !def?.multiple) continue;
      payload.push(checked.value);
    }
    const given = new Set(payload.map((r) => r.path.resourceId));
    const filled = [
      ...entry.defaults
        .filter((d) => d.path.ids[0] !== undefined && !given.has(d.path.ids[0]))
        .map((d) => ({ ...d, path: new LwM2mPath([...base.ids, ...d.path.ids]) })),
      ...payload,
    ];
    if (objectDef) {
      const present = new Set(filled.map((r) => r.path.resourceId));
      for (const res of objectDef.resources.values())
        if (res.mandatory && res.operations !== 'E' && !present.has(res.id))
          return treeFail('4.00', `mandatory resource /${oid}/${iid}/${res.id} (${res.name}) is missing`);
    }
    const refusal = this.#options.onCreate?.(oid, {
      instanceId: iid,
      resources: filled.map((r) => ({ ...r, path: new LwM2mPath(r.path.ids.slice(2)) })),
    });
    if (refusal !== undefined) return treeFail(refusal, `the client refused to create /${oid}/${iid}`);
    const created = this.#instantiate(entry, iid, filled);
    if (!created.ok) return created;
    this.addInstance(created.value);
    return treeOk(iid);
  }

  #instantiate(
    entry: ObjectEntry,
    iid: number,
    records: readonly LwM2mRecord[],
  ): TreeResult<InstanceEnabler> {
    const def = this.definition(entry.id);
    try {
      const inst = entry.factory
        ? entry.factory(iid, records, def)
        : new MemoryInstance(def, entry.id, iid, records);
      if (inst.objectId !== entry.id || inst.instanceId !== iid)
        return treeFail(
          '5.00',
          `the factory of object ${entry.id} built /${inst.objectId}/${inst.instanceId}`,
        );
      return treeOk(inst);
    } catch (e) {
      return treeFail(
        '5.00',
        `cannot create /${entry.id}/${iid}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  // ---- Delete ----

  /**
   * Delete (Core §6.3.6) of `/o/i` or `/o/i/r/ri`. /3/0 gets 4.05 (the spec says it SHALL NOT be
   * deleted, without a code; 4.05 Method Not Allowed is the closest). Other paths 4.05; 4.04 when
   * the target is missing; a resource instance of a non-writable resource 4.05; `onDelete` may
   * refuse. The /2 instance of a deleted instance is AccessControl's (`onDeleted`).
   */
  delete(path: LwM2mPath): TreeResult<void> {
    const [oid, iid, rid, riid] = path.ids;
    if (oid === undefined || iid === undefined || path.depth === 3)
      return treeFail('4.05', `Delete addresses an instance or resource instance, not ${path.toString()}`);
    const target = LwM2mPath.of(...path.ids);
    if (oid === 3 && iid === 0 && rid === undefined)
      return treeFail('4.05', '/3/0 (Device) cannot be deleted');
    const inst = this.instance(oid, iid);
    if (!inst) return treeFail('4.04', `/${oid}/${iid} not found`);
    if (rid !== undefined && riid !== undefined) {
      const def = this.#resourceDef(oid, rid);
      if (!inst.read().some((r) => same(r.path, target)))
        return treeFail('4.04', `${target.toString()} not found`);
      if (!writable(def, false) || !inst.deleteResourceInstance)
        return treeFail('4.05', `instances of /${oid}/${iid}/${rid} cannot be deleted`);
      const refusal = this.#options.onDelete?.(target);
      if (refusal !== undefined)
        return treeFail(refusal, `the client refused to delete ${target.toString()}`);
      const result = inst.deleteResourceInstance(rid, riid);
      if (!result.ok) return result;
      this.#emit([LwM2mPath.of(oid, iid, rid)], 'values');
      return treeOk();
    }
    const refusal = this.#options.onDelete?.(target);
    if (refusal !== undefined) return treeFail(refusal, `the client refused to delete ${target.toString()}`);
    this.removeInstance(oid, iid);
    return treeOk();
  }

  // ---- Discover and Register ----

  /** The version to announce with `ver=`, or undefined when it is the one a 1.2 client implies. */
  #announcedVersion(objectId: number, implied: ReadonlyMap<number, string>): string | undefined {
    const version = this.version(objectId);
    if (version === undefined) return undefined;
    return compareObjectVersions(version, implied.get(objectId) ?? '1.0') === 0 ? undefined : version;
  }

  /**
   * Discover (Core §6.3.3) as entries, with empty attributes for the caller to fill. Depth (default 2
   * for an object, 1 otherwise; values above 3 act as 3): object → instances → resources → resource
   * instances. `ver=` on the object link when not the 1.2 default version, `dim=` on multiple
   * resources. 4.04 for a missing target, 4.05 for a resource instance or the root. `implied`: the
   * object versions the registered enabler version implies (default LwM2M 1.2's).
   */
  discoverEntries(
    path: LwM2mPath,
    depth?: number,
    implied: ReadonlyMap<number, string> = CORE_OBJECT_VERSIONS,
  ): TreeResult<DiscoverEntry[]> {
    const [oid, iid, rid] = path.ids;
    if (oid === undefined || path.depth > 3)
      return treeFail('4.05', `Discover addresses an object, instance or resource, not ${path.toString()}`);
    const levels = Math.max(0, Math.min(depth ?? (path.depth === 1 ? 2 : 1), 3));
    const last = path.depth + levels; // the deepest path depth listed
    const entry = this.#objects.get(oid);
    if (!entry) return treeFail('4.04', `object ${oid} not found`);
    const out: DiscoverEntry[] = [];
    const attributes: NotificationAttributes = {};
    const add = (p: LwM2mPath, extra: { version?: string; dim?: number } = {}) =>
      out.push({ path: p, attributes, extraParams: [], ...extra });
    if (path.depth === 1) {
      const version = this.#announcedVersion(oid, implied);
      add(LwM2mPath.of(oid), version === undefined ? {} : { version });
    }
    const iids = iid === undefined ? this.instanceIds(oid) : [iid];
    for (const i of iids) {
      const inst = entry.instances.get(i);
      if (!inst) return treeFail('4.04', `/${oid}/${i} not found`);
      const ipath = LwM2mPath.of(oid, i);
      if (path.depth <= 2 && last >= 2) add(ipath);
      if (last < 3 && path.depth < 3) continue;
      const records = inst.read();
      const rids = rid === undefined ? this.#resourceIds(inst) : [rid];
      if (rid !== undefined && !this.#resourceIds(inst).includes(rid))
        return treeFail('4.04', `/${oid}/${i}/${rid} not found`);
      for (const r of rids) {
        const rpath = ipath.append(r);
        const def = this.#resourceDef(oid, r);
        const instances = records.filter((x) => x.path.depth === 4 && x.path.resourceId === r);
        const multiple =
          def?.multiple ??
          (instances.length > 0 || records.some((x) => same(x.path, rpath) && x.value === undefined));
        add(rpath, multiple ? { dim: instances.length } : {});
        if (last >= 4) for (const x of instances) add(LwM2mPath.of(...x.path.ids));
      }
    }
    return treeOk(out);
  }

  /** Discover as links (targets without alternate path); the caller adds attributes. */
  discover(
    path: LwM2mPath,
    depth?: number,
    implied: ReadonlyMap<number, string> = CORE_OBJECT_VERSIONS,
  ): TreeResult<Link[]> {
    const result = this.discoverEntries(path, depth, implied);
    if (!result.ok) return result;
    return treeOk(
      result.value.map((e) => ({
        target: e.path.toString(),
        params: [
          ...(e.version === undefined ? [] : [{ name: 'ver', value: e.version }]),
          ...(e.dim === undefined ? [] : [{ name: 'dim', value: e.dim }]),
        ],
      })),
    );
  }

  /**
   * The object list of Register/Update (Core §6.2.1): every object with `ver=` when it differs from
   * the version the client's enabler implies (`implied`, default: the LwM2M 1.2 versions) and its
   * instances; never /0, /21 or /23.
   */
  registrationObjects(
    implied: ReadonlyMap<number, string> = CORE_OBJECT_VERSIONS,
  ): RegistrationPayloadInput['objects'] {
    return this.objectIds()
      .filter((oid) => !UNREGISTERED_OBJECTS.has(oid))
      .map((oid) => {
        const version = this.#announcedVersion(oid, implied);
        return { id: oid, ...(version === undefined ? {} : { version }), instances: this.instanceIds(oid) };
      });
  }
}

/** Puts back the resources a failed Write-Composite had touched on one instance. */
function restore(inst: InstanceEnabler, before: readonly LwM2mRecord[], rids: ReadonlySet<number>): void {
  const had = new Set(before.map((r) => r.path.resourceId));
  const removals = [...rids]
    .filter((rid) => !had.has(rid))
    .map((rid) => ({ path: LwM2mPath.of(inst.objectId, inst.instanceId, rid) }));
  inst.write([...before, ...removals], 'replace');
}
