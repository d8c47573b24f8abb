import { PetrelError } from '../errors.js';
import type { LwM2mValue, ObjLink, ResourceType } from '../model/data-types.js';
import { TypeConversionError, Value, convertValue, valuesEqual } from '../model/data-types.js';
import { isValidId } from '../model/ids.js';
import type { ObjectDefinition, ResourceDefinition } from '../model/object-definition.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { ResultCode } from '../operations/result-code.js';

/** The outcome of a tree or instance operation: a value, or the LwM2M result code that refuses it. */
export type TreeResult<T> = { ok: true; value: T } | { ok: false; code: ResultCode; message: string };

export function treeOk(): TreeResult<void>;
export function treeOk<T>(value: T): TreeResult<T>;
export function treeOk<T>(value?: T): TreeResult<T | undefined> {
  return { ok: true, value };
}

export function treeFail<T = never>(code: ResultCode, message: string): TreeResult<T> {
  return { ok: false, code, message };
}

/** One Execute argument (Core §5.4.5): `digit` or `digit='value'`. */
export interface ExecuteArgumentInput {
  readonly digit: number;
  readonly value?: string;
}

/** Called with the paths that changed (resource paths `/o/i/r`). */
export type InstanceChangeListener = (paths: readonly LwM2mPath[]) => void;

/**
 * An object instance the application implements (in the manner of instance enablers). The tree
 * validates every request against the object definition (types, ranges, writability) before it
 * calls `write`, so an enabler only stores and refuses.
 */
export interface InstanceEnabler {
  readonly objectId: number;
  readonly instanceId: number;
  /**
   * Current values at or below this instance: single resources as `/o/i/r`, multiple ones as
   * `/o/i/r/ri` (an empty multiple resource: a record `/o/i/r` without value). Only resources that
   * exist; the tree filters out the ones a server may not read.
   */
  read(): LwM2mRecord[];
  /**
   * Optional: the records of one resource, the same as read() filtered to it (none when absent).
   * The tree reads a single resource through it when present, instead of reading the instance.
   */
  readResource?(resourceId: number): LwM2mRecord[];
  /**
   * Applies values the tree validated. `update` merges: each record sets that resource or resource
   * instance. `replace`: each resource named in `records` is replaced as a whole (a multiple
   * resource keeps exactly the given instances), and a record `/o/i/r` WITHOUT value removes a
   * single resource or empties a multiple one. Resources not named stay. The tree builds the
   * records of an instance-level Replace (LWM2M-1.2.md §1.3) from that. Return a failure to refuse.
   */
  write(records: readonly LwM2mRecord[], mode: 'replace' | 'update'): TreeResult<void>;
  execute(
    resourceId: number,
    args: readonly ExecuteArgumentInput[],
  ): TreeResult<void> | Promise<TreeResult<void>>;
  /** Deletes one resource instance (`/o/i/r/ri`); without it such Deletes get 4.05. */
  deleteResourceInstance?(resourceId: number, resourceInstanceId: number): TreeResult<void>;
  /**
   * The resources this instance has, executable ones included (they have no value, so `read` does
   * not show them). Without it the tree takes the resources `read` returns plus the object's
   * mandatory executable resources.
   */
  resourceIds?(): number[];
  /** Subscribes to changes the application makes (not those made through `write`). */
  onChange?(listener: InstanceChangeListener): () => void;
}

export type ObjectTreeErrorReason =
  | 'bad-id' // an object, instance or resource id outside 0..65534
  | 'wrong-instance' // a path or record that belongs to another instance
  | 'duplicate-instance' // adding an instance whose id is taken
  | 'single-instance' // a second instance of a single-instance object
  | 'not-multiple' // resource-instance values for a single resource, or the reverse
  | 'bad-value'; // a value the resource's type cannot take

/** A programming error in how the application builds its object tree (never a server's request). */
export class ObjectTreeError extends PetrelError {
  readonly reason: ObjectTreeErrorReason;
  constructor(reason: ObjectTreeErrorReason, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_OBJECT_TREE', message, options);
    this.reason = reason;
  }
}

/** What `MemoryInstance.set` accepts for one value: a typed value or a plain one typed by the model. */
export type ValueInput = LwM2mValue | string | number | bigint | boolean | Uint8Array | ObjLink;
/** A resource's content: one value, or for a multiple resource an array (index = instance id) or a map. */
export type ResourceInput = ValueInput | readonly ValueInput[] | ReadonlyMap<number, ValueInput>;

export type ExecuteHandler = (
  args: readonly ExecuteArgumentInput[],
  instance: MemoryInstance,
) => void | TreeResult<void> | Promise<void | TreeResult<void>>;

function isTypedValue(v: ValueInput): v is LwM2mValue {
  return typeof v === 'object' && !(v instanceof Uint8Array) && 'type' in v;
}

/** The type a plain value has by itself, for resources the model does not know. */
function naturalValue(v: Exclude<ValueInput, LwM2mValue>): LwM2mValue {
  if (typeof v === 'string') return Value.string(v);
  if (typeof v === 'boolean') return Value.boolean(v);
  if (typeof v === 'bigint') return v < 0n ? Value.integer(v) : Value.unsigned(v);
  // An integral number past 2^53 is no exact integer: it is a float (1e300).
  if (typeof v === 'number') return Number.isSafeInteger(v) ? Value.integer(v) : Value.float(v);
  if (v instanceof Uint8Array) return Value.opaque(v);
  return Value.objlnk(v.objectId, v.instanceId);
}

/**
 * Types a value for a resource: a plain number becomes the resource's numeric type, text is parsed
 * by the text rules (`convertValue`). Throws TypeConversionError when it cannot.
 */
export function toResourceValue(type: ResourceType | undefined, input: ValueInput): LwM2mValue {
  if (typeof input === 'number' && type === 'float') return Value.float(input);
  const natural = isTypedValue(input) ? input : naturalValue(input);
  if (type === undefined || natural.type === type) return natural;
  if (typeof input === 'number' && (type === 'integer' || type === 'unsigned' || type === 'time')) {
    if (!Number.isInteger(input)) throw new TypeConversionError('float', type, `${input} is not integral`);
    return type === 'integer'
      ? Value.integer(input)
      : type === 'unsigned'
        ? Value.unsigned(input)
        : Value.time(input);
  }
  return convertValue(natural, type);
}

type Stored = LwM2mValue | Map<number, LwM2mValue>;

/**
 * A generic instance that keeps its values in memory: what the tree uses for instances a server
 * creates, and what an application uses for any object from a DDF. `set` is the application side
 * (it fires change events); `write` is the server side (the tree reports those changes itself).
 */
export class MemoryInstance implements InstanceEnabler {
  readonly objectId: number;
  readonly instanceId: number;
  readonly definition: ObjectDefinition | undefined;
  readonly #values = new Map<number, Stored>();
  /**
   * Executable resources this instance supports (a handler of undefined: succeed without doing
   * anything); the definition's shared list until one is declared. A fleet builds many instances
   * and most declare none: they share instead of each holding a Map.
   */
  #executables: Map<number, ExecuteHandler | undefined> | readonly number[] = NO_EXECUTABLES;
  /** Made at the first listener (most instances never get one). */
  #listeners: Set<InstanceChangeListener> | undefined;

  constructor(
    definition: ObjectDefinition | undefined,
    objectId: number,
    instanceId: number,
    initial: readonly LwM2mRecord[] = [],
  ) {
    if (!isValidId(objectId) || !isValidId(instanceId))
      throw new ObjectTreeError('bad-id', `instance /${objectId}/${instanceId}: ids are 0..65534`);
    this.definition = definition;
    this.objectId = objectId;
    this.instanceId = instanceId;
    // Mandatory executable resources (e.g. /3/0/4 Reboot) exist on every instance.
    if (definition) this.#executables = mandatoryExecutables(definition);
    for (const record of initial) {
      const [oid, iid, rid, riid] = record.path.ids;
      if (oid !== objectId || iid !== instanceId || rid === undefined)
        throw new ObjectTreeError(
          'wrong-instance',
          `record ${record.path.toString()} is not a resource of /${objectId}/${instanceId}`,
        );
      if (record.value === undefined) {
        if (riid === undefined) this.#ensureMultiple(rid);
        continue;
      }
      this.#store(rid, riid, record.value);
    }
  }

  #resource(rid: number): ResourceDefinition | undefined {
    return this.definition?.resources.get(rid);
  }

  #ensureMultiple(rid: number): Map<number, LwM2mValue> {
    const current = this.#values.get(rid);
    if (current instanceof Map) return current;
    const map = new Map<number, LwM2mValue>();
    this.#values.set(rid, map);
    return map;
  }

  #typed(rid: number, input: ValueInput): LwM2mValue {
    try {
      return toResourceValue(this.#resource(rid)?.type, input);
    } catch (e) {
      if (!(e instanceof TypeConversionError)) throw e;
      throw new ObjectTreeError('bad-value', `/${this.objectId}/${this.instanceId}/${rid}: ${e.message}`, {
        cause: e,
      });
    }
  }

  #store(rid: number, riid: number | undefined, input: ValueInput): void {
    const def = this.#resource(rid);
    const value = this.#typed(rid, input);
    if (riid === undefined) {
      if (def?.multiple)
        throw new ObjectTreeError('not-multiple', `/${this.objectId}/${this.instanceId}/${rid} is multiple`);
      this.#values.set(rid, value);
      return;
    }
    if (def && !def.multiple)
      throw new ObjectTreeError('not-multiple', `/${this.objectId}/${this.instanceId}/${rid} is single`);
    this.#ensureMultiple(rid).set(riid, value);
  }

  /** The value of a single resource or one resource instance, if present. */
  get(resourceId: number, resourceInstanceId?: number): LwM2mValue | undefined {
    const stored = this.#values.get(resourceId);
    if (stored instanceof Map)
      return resourceInstanceId === undefined ? undefined : stored.get(resourceInstanceId);
    return resourceInstanceId === undefined ? stored : undefined;
  }

  /** The instances of a multiple resource (id → value), if present. */
  getMultiple(resourceId: number): ReadonlyMap<number, LwM2mValue> | undefined {
    const stored = this.#values.get(resourceId);
    return stored instanceof Map ? new Map(stored) : undefined;
  }

  /**
   * Application-side change of a resource (`rid` or `/o/i/r`) or one resource instance
   * (`/o/i/r/ri`); `undefined` removes it. Plain values are typed by the object definition.
   * Fires the change listeners when the content really changed. Throws ObjectTreeError on a value
   * the resource cannot take.
   */
  set(target: number | LwM2mPath, value: ResourceInput | undefined): this {
    const { rid, riid } = this.#target(target);
    // Nobody listens (an instance being built): no before/after comparison to make.
    const listening = this.#listeners !== undefined && this.#listeners.size > 0;
    const before = listening ? this.#snapshot(rid) : undefined;
    if (value === undefined) {
      if (riid === undefined) this.#values.delete(rid);
      else {
        const stored = this.#values.get(rid);
        if (stored instanceof Map) stored.delete(riid);
      }
    } else if (riid !== undefined) {
      this.#store(rid, riid, value as ValueInput);
    } else if (Array.isArray(value) || value instanceof Map) {
      if (this.#resource(rid)?.multiple === false)
        throw new ObjectTreeError('not-multiple', `/${this.objectId}/${this.instanceId}/${rid} is single`);
      const map = new Map<number, LwM2mValue>();
      const entries: Iterable<[number, ValueInput]> =
        value instanceof Map ? value.entries() : (value as readonly ValueInput[]).entries();
      for (const [k, v] of entries) {
        if (!isValidId(k)) throw new ObjectTreeError('bad-id', `resource instance id ${k} is not 0..65534`);
        map.set(k, this.#typed(rid, v));
      }
      this.#values.set(rid, map);
    } else {
      this.#store(rid, undefined, value as ValueInput);
    }
    if (listening && !sameStored(before, this.#snapshot(rid)))
      this.#emit([LwM2mPath.of(this.objectId, this.instanceId, rid)]);
    return this;
  }

  #target(target: number | LwM2mPath): { rid: number; riid: number | undefined } {
    if (typeof target === 'number') {
      if (!isValidId(target)) throw new ObjectTreeError('bad-id', `resource id ${target} is not 0..65534`);
      return { rid: target, riid: undefined };
    }
    const [oid, iid, rid, riid] = target.ids;
    if (oid !== this.objectId || iid !== this.instanceId || rid === undefined)
      throw new ObjectTreeError(
        'wrong-instance',
        `${target.toString()} is not a resource of /${this.objectId}/${this.instanceId}`,
      );
    return { rid, riid };
  }

  #snapshot(rid: number): Stored | undefined {
    const stored = this.#values.get(rid);
    return stored instanceof Map ? new Map(stored) : stored;
  }

  /** Declares an executable resource and what it does (replacing an earlier handler). */
  onExecute(resourceId: number, handler: ExecuteHandler = () => undefined): this {
    this.#ownExecutables().set(resourceId, handler);
    return this;
  }

  /** The executables as this instance's own Map (copied from the shared list at the first change). */
  #ownExecutables(): Map<number, ExecuteHandler | undefined> {
    const current = this.#executables;
    if (current instanceof Map) return current;
    const own = new Map<number, ExecuteHandler | undefined>(current.map((rid) => [rid, undefined]));
    this.#executables = own;
    return own;
  }

  onChange(listener: InstanceChangeListener): () => void {
    const listeners = (this.#listeners ??= new Set());
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  #emit(paths: readonly LwM2mPath[]): void {
    if (this.#listeners) for (const listener of [...this.#listeners]) listener(paths);
  }

  read(): LwM2mRecord[] {
    const out: LwM2mRecord[] = [];
    for (const rid of [...this.#values.keys()].sort((a, b) => a - b)) this.#readInto(out, rid);
    return out;
  }

  /**
   * The records of one resource, as read() has them (none when absent). The tree reads a single
   * resource through it; a subclass that overrides read() is read through read() instead.
   */
  readResource(resourceId: number): LwM2mRecord[] {
    if (this.read !== MemoryInstance.prototype.read)
      return this.read().filter((r) => r.path.resourceId === resourceId);
    const out: LwM2mRecord[] = [];
    if (this.#values.has(resourceId)) this.#readInto(out, resourceId);
    return out;
  }

  #readInto(out: LwM2mRecord[], rid: number): void {
    const stored = this.#values.get(rid)!;
    const path = this.#path(rid);
    if (!(stored instanceof Map)) {
      out.push({ path, value: stored });
      return;
    }
    if (stored.size === 0) out.push({ path });
    for (const riid of [...stored.keys()].sort((a, b) => a - b))
      out.push({ path: this.#path(rid, riid), value: stored.get(riid)! });
  }

  /** The path of a resource or resource instance (LwM2mPath.of checks ids without building text). */
  #path(rid: number, riid?: number): LwM2mPath {
    return riid === undefined
      ? LwM2mPath.of(this.objectId, this.instanceId, rid)
      : LwM2mPath.of(this.objectId, this.instanceId, rid, riid);
  }

  resourceIds(): number[] {
    const executables = this.#executables instanceof Map ? this.#executables.keys() : this.#executables;
    return [...new Set([...this.#values.keys(), ...executables])].sort((a, b) => a - b);
  }

  write(records: readonly LwM2mRecord[], mode: 'replace' | 'update'): TreeResult<void> {
    if (mode === 'replace') {
      // A named multiple resource keeps exactly the instances given.
      for (const r of records) {
        const rid = r.path.resourceId;
        if (rid === undefined) continue;
        const multiple =
          this.#resource(rid)?.multiple ?? (r.path.depth === 4 || this.#values.get(rid) instanceof Map);
        if (multiple) this.#values.set(rid, new Map());
        else if (r.value === undefined) this.#values.delete(rid);
      }
    }
    for (const r of records) {
      const [, , rid, riid] = r.path.ids;
      if (rid === undefined) continue;
      if (r.value === undefined) {
        if (riid === undefined && (this.#resource(rid)?.multiple ?? false)) this.#ensureMultiple(rid);
        continue;
      }
      if (riid === undefined) this.#values.set(rid, r.value);
      else this.#ensureMultiple(rid).set(riid, r.value);
    }
    return treeOk();
  }

  async execute(resourceId: number, args: readonly ExecuteArgumentInput[]): Promise<TreeResult<void>> {
    const executables = this.#executables;
    if (executables instanceof Map ? !executables.has(resourceId) : !executables.includes(resourceId))
      return treeFail('4.04', `/${this.objectId}/${this.instanceId}/${resourceId} is not executable here`);
    const handler = executables instanceof Map ? executables.get(resourceId) : undefined;
    const result = handler ? await handler(args, this) : undefined;
    return result ?? treeOk();
  }

  deleteResourceInstance(resourceId: number, resourceInstanceId: number): TreeResult<void> {
    const stored = this.#values.get(resourceId);
    if (!(stored instanceof Map) || !stored.delete(resourceInstanceId))
      return treeFail(
        '4.04',
        `/${this.objectId}/${this.instanceId}/${resourceId}/${resourceInstanceId} not found`,
      );
    return treeOk();
  }
}

const NO_EXECUTABLES: readonly number[] = Object.freeze([]);

/** The mandatory executable resources of each definition (definitions are immutable, shared). */
const executablesOf = new WeakMap<ObjectDefinition, readonly number[]>();

function mandatoryExecutables(definition: ObjectDefinition): readonly number[] {
  let rids = executablesOf.get(definition);
  if (rids === undefined) {
    rids = Object.freeze(
      [...definition.resources.values()].filter((r) => r.operations === 'E' && r.mandatory).map((r) => r.id),
    );
    executablesOf.set(definition, rids);
  }
  return rids;
}

function sameStored(a: Stored | undefined, b: Stored | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      const w = b.get(k);
      if (w === undefined || !valuesEqual(v, w)) return false;
    }
    return true;
  }
  return valuesEqual(a, b);
}
