/**
 * A small LwM2M device for server tests: a CoapEndpoint on a MemoryNetwork channel that registers
 * with a server and keeps an object tree it really changes. It decodes each downlink with the
 * client-side mapping (decodeDownlinkRequest), applies it to its tree the way the spec says (Core
 * §6.3, §6.4; LWM2M-1.2.md §1.3-1.4) and answers with encodeDownlinkResponse. A test can force a
 * result code for an operation (and path) and make the device refuse formats, as real clients do.
 *
 * Choices: Partial Update merges resource instances at every level (it never deletes, §1.3);
 * Replace of an instance leaves exactly the payload's resources; Discover shows the attributes
 * attached at each listed path (not the inherited ones) and `dim=` on multiple resources; end
 * devices behind a gateway prefix are held in their own trees and left out of the Register.
 */
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { CoapResponse, ObserveRelation } from '../../src/coap/endpoint.js';
import { CoapCode, parseCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, contentFormat, locationPath } from '../../src/coap/options.js';
import {
  decodeDownlinkRequest,
  encodeDownlinkResponse,
  encodeNotification,
} from '../../src/binding/coap/downlink-codec.js';
import type { ClientDownlinkContext } from '../../src/binding/coap/downlink-codec.js';
import { chooseResponseFormat } from '../../src/binding/coap/format-choice.js';
import type { ValueReadRequest } from '../../src/binding/coap/format-choice.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { placeCreateInstance } from '../../src/content/create-payload.js';
import { AttributeError, applyWriteAttributes, attributesToLinkParams } from '../../src/model/attributes.js';
import type { NotificationAttributes } from '../../src/model/attributes.js';
import { INT64_MIN, UINT64_MAX, Value } from '../../src/model/data-types.js';
import type { LwM2mValue } from '../../src/model/data-types.js';
import type { Link, LinkParam } from '../../src/model/link-format.js';
import { buildTree, flattenNode } from '../../src/model/node-tree.js';
import type { InstanceNode, LwM2mNode, NodeTree } from '../../src/model/node-tree.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../../src/model/object-definition.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { formatRegistrationPayload } from '../../src/model/registration-payload.js';
import { recordsToJson } from '../../src/model/records-json.js';
import type { RecordsJson } from '../../src/model/records-json.js';
import type { DownlinkRequest, DownlinkResponse, ExecuteArgument } from '../../src/operations/requests.js';
import { OperationError, isSuccessCode } from '../../src/operations/result-code.js';
import type { DownlinkOperationName, ResultCode } from '../../src/operations/result-code.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { rec } from './records.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from './test-model.js';

const TLV = 11542;
const LINK_FORMAT = 40;
const utf8 = new TextEncoder();

function sensorResource(id: number, name: string, operations: 'R' | 'E', type: ResourceDefinition['type']) {
  return { id, name, operations, multiple: false, mandatory: id === 5700, type } satisfies ResourceDefinition;
}

/** /3303 Temperature (OMA registry, IPSO): the resources the tests use. */
export const TEMPERATURE_DEFINITION: ObjectDefinition = {
  id: 3303,
  name: 'Temperature',
  version: '1.1',
  lwm2mVersion: '1.0',
  urn: 'urn:oma:lwm2m:ext:3303:1.1',
  multiple: true,
  mandatory: false,
  resources: new Map(
    [
      sensorResource(5601, 'Min Measured Value', 'R', 'float'),
      sensorResource(5602, 'Max Measured Value', 'R', 'float'),
      sensorResource(5605, 'Reset Min and Max Measured Values', 'E', 'none'),
      sensorResource(5700, 'Sensor Value', 'R', 'float'),
      sensorResource(5701, 'Sensor Units', 'R', 'string'),
    ].map((r) => [r.id, r]),
  ),
};

/** The model both the device and the server under test use: core objects, /3303, TEST_OBJECT. */
export const deviceModel = createDefaultRegistry().add(TEST_OBJECT_DEFINITION).add(TEMPERATURE_DEFINITION);

/**
 * The default tree: /1/0 Server, /3/0 Device (multiple /3/0/7), /3303/0 Temperature, TEST_OBJECT
 * /42769/0 (opaque /3, multiple string /15) and /42769/1 (every data type).
 */
export const DEFAULT_DEVICE_RECORDS: readonly LwM2mRecord[] = [
  rec('/1/0/0', Value.integer(1)),
  rec('/1/0/1', Value.integer(300)),
  rec('/1/0/6', Value.boolean(false)),
  rec('/1/0/7', Value.string('U')),
  rec('/3/0/0', Value.string('Petrel')),
  rec('/3/0/1', Value.string('Model Device')),
  rec('/3/0/7/0', Value.integer(3800)),
  rec('/3/0/7/1', Value.integer(5000)),
  rec('/3/0/9', Value.integer(95)),
  rec('/3/0/13', Value.time(1_700_000_000)),
  rec('/3303/0/5700', Value.float(21.5)),
  rec('/3303/0/5701', Value.string('Cel')),
  rec(`/${TEST_OBJECT}/0/3`, Value.opaque(Uint8Array.of(0xca, 0xfe))),
  rec(`/${TEST_OBJECT}/0/5`, Value.string('hello')),
  rec(`/${TEST_OBJECT}/0/15/0`, Value.string('Red')),
  rec(`/${TEST_OBJECT}/0/15/1`, Value.string('Green')),
  // One value of every data type, at the limits of the 64-bit ones.
  rec(`/${TEST_OBJECT}/1/0`, Value.float(-1.5e300)),
  rec(`/${TEST_OBJECT}/1/1`, Value.objlnk(3, 0)),
  rec(`/${TEST_OBJECT}/1/2`, Value.boolean(true)),
  rec(`/${TEST_OBJECT}/1/4`, Value.unsigned(UINT64_MAX)),
  rec(`/${TEST_OBJECT}/1/6`, Value.integer(INT64_MIN)),
  rec(`/${TEST_OBJECT}/1/7`, Value.time(4_102_444_800)),
  rec(`/${TEST_OBJECT}/1/8`, Value.corelnk('</3/0>;ver=1.2')),
  rec(`/${TEST_OBJECT}/1/10/0`, Value.float(0.1)),
  rec(`/${TEST_OBJECT}/1/10/7`, Value.float(-2.25)),
  rec(`/${TEST_OBJECT}/1/12/0`, Value.boolean(false)),
  rec(`/${TEST_OBJECT}/1/13/3`, Value.opaque(Uint8Array.of(0, 1, 2))),
];

/** Content formats a device of each enabler version does not know (it refuses them, 4.06/4.15). */
const UNKNOWN_FORMATS: Readonly<Record<'1.0' | '1.1' | '1.2', readonly number[]>> = {
  '1.0': [60, 110, 112, 320, 322, 11544],
  '1.1': [320, 322, 11544],
  '1.2': [],
};

export interface ModelDeviceOptions {
  readonly network: MemoryNetwork;
  /** Where to register. */
  readonly server: Peer;
  readonly address?: string;
  readonly endpoint?: string;
  readonly version?: '1.0' | '1.1' | '1.2';
  readonly lifetime?: number;
  /** The root link's `ct=` list; none when undefined. */
  readonly contentFormats?: readonly number[];
  /** `/lwm2m`: registered as `</lwm2m>;rt="oma.lwm2m"`; DM requests must come under it. */
  readonly alternatePath?: string;
  /** The initial tree; a record path with a gateway prefix (`/d01/3303/0/5700`) is an end device's. */
  readonly records?: readonly LwM2mRecord[];
  readonly model?: ObjectModel;
  /** Accept formats answered 4.06 (default: those the version lacks). */
  readonly refuseAccept?: readonly number[];
  /** Content-Formats answered 4.15 (default: those the version lacks). */
  readonly refuseContent?: readonly number[];
}

/** A result a test makes the device answer instead of doing the operation. */
export interface ForcedResult {
  readonly operation: DownlinkOperationName;
  /** Only for this target (`/3/0`); any target when undefined. */
  readonly path?: string;
  readonly code: ResultCode;
  readonly diagnostic?: string;
}

export interface ExecuteCall {
  readonly path: string;
  readonly arguments: readonly ExecuteArgument[];
}

type ObserveLike = Extract<DownlinkRequest, { kind: 'observe' | 'observe-composite' }>;

const fail = (code: ResultCode, diagnostic: string): DownlinkResponse => ({ code, diagnostic });

export class ModelDevice {
  readonly endpoint: CoapEndpoint;
  readonly name: string;
  /** Every request the device received, as sent. */
  readonly received: CoapMessage[] = [];
  /** The requests it could decode, as typed operations. */
  readonly requests: DownlinkRequest[] = [];
  readonly executed: ExecuteCall[] = [];
  readonly forced: ForcedResult[] = [];
  /** The registration Location (`['rd', id]`). */
  location: string[] = [];
  readonly #options: ModelDeviceOptions;
  readonly #ctx: ClientDownlinkContext;
  /** Trees by gateway prefix; '' is the device's own. */
  readonly #trees = new Map<string, NodeTree>();
  readonly #attributes = new Map<string, NotificationAttributes>();
  readonly #observers: { request: ObserveLike; relation: ObserveRelation }[] = [];
  readonly #refuseAccept: ReadonlySet<number>;
  readonly #refuseContent: ReadonlySet<number>;

  constructor(options: ModelDeviceOptions) {
    this.#options = options;
    this.name = options.endpoint ?? 'dev';
    const version = options.version ?? '1.2';
    this.#refuseAccept = new Set(options.refuseAccept ?? UNKNOWN_FORMATS[version]);
    this.#refuseContent = new Set(options.refuseContent ?? UNKNOWN_FORMATS[version]);
    this.#ctx = {
      codecs: createCodecRegistry(),
      model: options.model ?? deviceModel,
      ...(options.alternatePath === undefined ? {} : { alternatePath: options.alternatePath }),
    };
    for (const r of options.records ?? DEFAULT_DEVICE_RECORDS) this.#put(r);
    this.endpoint = new CoapEndpoint({
      channel: options.network.channel(options.address ?? '10.0.0.2', 56830),
      random: seededRandom(11),
    });
    this.endpoint.onRequest(({ message }) => this.#handle(message));
  }

  /** Register (POST /rd) with the own tree's objects; remembers the Location. */
  async register(): Promise<CoapMessage> {
    const o = this.#options;
    const objects = [...this.#tree('').values()].map((obj) => ({
      id: obj.id,
      instances: [...obj.instances.keys()],
    }));
    const payload = formatRegistrationPayload({
      alternatePath: o.alternatePath,
      contentFormats: o.contentFormats,
      objects,
    });
    const options = new OptionsBuilder()
      .uriPath(['rd'])
      .uint(OptionNumber.CONTENT_FORMAT, LINK_FORMAT)
      .uriQuery([`ep=${this.name}`, `lt=${o.lifetime ?? 300}`, `lwm2m=${o.version ?? '1.2'}`, 'b=U'])
      .build();
    const res = await this.endpoint.request(
      o.server,
      { code: CoapCode.POST, options, payload: utf8.encode(payload) },
      { timeout: 5000 },
    );
    if (res.code === CoapCode.CREATED) this.location = locationPath(res);
    return res;
  }

  /** Makes the device answer `code` to `operation` (on `path` only, when given). */
  force(
    operation: DownlinkOperationName,
    code: ResultCode,
    more: { path?: string; diagnostic?: string } = {},
  ): void {
    this.forced.push({ operation, code, ...more });
  }

  /** The values at or below `path` (`/d01/3303` for an end device). */
  records(path = '/'): LwM2mRecord[] {
    const p = LwM2mPath.parse(path);
    return this.#valuesAt(p) ?? [];
  }

  values(path = '/'): RecordsJson {
    return recordsToJson(this.records(path));
  }

  /** The attributes attached at `path` (Write-Attributes). */
  attributes(path: string): NotificationAttributes {
    return this.#attributes.get(path) ?? {};
  }

  /** Changes a resource (instance) value and notifies the observations that cover it. */
  change(path: string, value: LwM2mValue): void {
    const p = LwM2mPath.parse(path);
    this.#put({ path: p, value });
    for (const o of this.#observers) {
      if (!o.relation.active) continue;
      const paths = o.request.kind === 'observe' ? [o.request.path] : o.request.paths;
      if (!paths.some((q) => q.covers(p) || p.covers(q))) continue;
      const records = this.#readAll(paths);
      o.relation.notify(
        encodeNotification(
          { code: '2.05', records, format: this.#format(o.request, records) },
          o.request,
          this.#ctx,
        ),
      );
    }
  }

  /** Observe relations the device holds now. */
  get observers(): number {
    return this.#observers.filter((o) => o.relation.active).length;
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }

  // ---- request handling ----

  #handle(message: CoapMessage): CoapResponse {
    this.received.push(message);
    let request: DownlinkRequest;
    try {
      const cf = contentFormat(message);
      if (cf !== undefined && this.#refuseContent.has(cf))
        throw new OperationError('unsupported-format', '4.15', `this device does not read format ${cf}`);
      request = decodeDownlinkRequest(message, this.#ctx);
    } catch (e) {
      return errorResponse(e);
    }
    this.requests.push(request);
    try {
      const response = this.#forcedResult(request) ?? this.#apply(request);
      const coap = encodeDownlinkResponse(response, request, this.#ctx);
      if (
        (request.kind === 'observe' || request.kind === 'observe-composite') &&
        isSuccessCode(response.code)
      )
        return { ...coap, observe: (relation) => void this.#observers.push({ request, relation }) };
      return coap;
    } catch (e) {
      return errorResponse(e);
    }
  }

  #forcedResult(request: DownlinkRequest): DownlinkResponse | undefined {
    const target = 'path' in request ? request.path.toString() : undefined;
    const f = this.forced.find(
      (x) => x.operation === request.kind && (x.path === undefined || x.path === target),
    );
    if (!f) return undefined;
    return f.diagnostic === undefined ? { code: f.code } : { code: f.code, diagnostic: f.diagnostic };
  }

  #apply(request: DownlinkRequest): DownlinkResponse {
    switch (request.kind) {
      case 'read':
      case 'observe':
      case 'cancel-observation':
        return this.#read(request, [request.path], true);
      case 'read-composite':
      case 'observe-composite':
      case 'cancel-observation-composite':
        return this.#read(request, request.paths, false);
      case 'discover':
        return this.#discover(request.path, request.depth);
      case 'write':
        return this.#write(request.path, request.mode, request.records);
      case 'write-attributes': {
        if (!this.#node(request.path)) return fail('4.04', `${request.path.toString()} does not exist`);
        const key = request.path.toString();
        const type = this.#ctx.model.resource(request.path.objectId!, request.path.resourceId ?? -1)?.type;
        try {
          this.#attributes.set(
            key,
            applyWriteAttributes(this.attributes(key), request.attributes, request.path, type),
          );
        } catch (e) {
          if (e instanceof AttributeError) return fail('4.00', e.message);
          throw e;
        }
        return { code: '2.04' };
      }
      case 'execute': {
        const { path } = request;
        if (!this.#instance(path)) return fail('4.04', `${path.parent().toString()} does not exist`);
        const def = this.#ctx.model.resource(path.objectId!, path.resourceId!);
        if (this.#node(path) || (def !== undefined && def.operations !== 'E'))
          return fail('4.05', `${path.toString()} is not executable`);
        this.executed.push({ path: path.toString(), arguments: request.arguments ?? [] });
        return { code: '2.04' };
      }
      case 'create':
        return this.#create(request);
      case 'delete':
        return this.#delete(request.path);
      case 'write-composite':
        return this.#writeComposite(request.records);
      default:
        return fail('4.05', `${request.kind} is not for this device`);
    }
  }

  #read(request: ValueReadRequest, paths: readonly LwM2mPath[], single: boolean): DownlinkResponse {
    if (request.accept !== undefined && this.#refuseAccept.has(request.accept))
      return fail('4.06', `this device does not write format ${request.accept}`);
    if (single && !this.#node(paths[0]!)) return fail('4.04', `${paths[0]!.toString()} does not exist`);
    const records = this.#readAll(paths);
    return { code: '2.05', records, format: this.#format(request, records) };
  }

  /** Values of every path that exists (Read-Composite is best effort: missing ones are left out). */
  #readAll(paths: readonly LwM2mPath[]): LwM2mRecord[] {
    const seen = new Map<string, LwM2mRecord>();
    for (const p of paths) for (const r of this.#valuesAt(p) ?? []) seen.set(r.path.toString(), r);
    return [...seen.values()];
  }

  /** The request's Accept, or the default answer format when the device knows it, else TLV. */
  #format(request: ValueReadRequest, records: readonly LwM2mRecord[]): number {
    const f = chooseResponseFormat(request, records, this.#ctx.model);
    return request.accept === undefined && this.#refuseAccept.has(f) ? TLV : f;
  }

  #discover(path: LwM2mPath, depth: 0 | 1 | 2 | 3 | undefined): DownlinkResponse {
    const node = this.#node(path);
    if (!node) return fail('4.04', `${path.toString()} does not exist`);
    const deepest = Math.min(4, path.depth + (depth ?? (path.isObject() ? 2 : 1)));
    const links: Link[] = [];
    const visit = (p: LwM2mPath, n: LwM2mNode): void => {
      // Discover with a gateway prefix answers links without it (Gateway TS).
      const params: LinkParam[] = [];
      if (n.kind === 'multiple') params.push({ name: 'dim', value: n.instances.size });
      params.push(...attributesToLinkParams(this.attributes(p.toString())));
      links.push({ target: new LwM2mPath(p.ids).toString(), params });
      if (p.depth >= deepest) return;
      const children: [number, LwM2mNode][] =
        n.kind === 'object'
          ? [...n.instances]
          : n.kind === 'instance'
            ? [...n.resources]
            : n.kind === 'multiple'
              ? [...n.instances].map(([id, value]) => [id, { kind: 'single', id, value }])
              : [];
      for (const [id, child] of children.sort((a, b) => a[0] - b[0])) visit(p.append(id), child);
    };
    visit(path, node);
    return { code: '2.05', links };
  }

  #write(path: LwM2mPath, mode: 'replace' | 'update', records: readonly LwM2mRecord[]): DownlinkResponse {
    const inst = this.#instance(path);
    if (!inst) return fail('4.04', `${path.toString()} does not exist`);
    if (mode === 'replace') {
      if (path.depth === 2) inst.resources.clear();
      if (path.depth === 3) inst.resources.delete(path.resourceId!);
    }
    for (const r of records) this.#put(r);
    return { code: '2.04' };
  }

  #create(request: Extract<DownlinkRequest, { kind: 'create' }>): DownlinkResponse {
    const obj = this.#tree(request.path.prefix ?? '').get(request.path.objectId!);
    if (!obj) return fail('4.04', `object ${request.path.toString()} is not on this device`);
    const given = request.instance.instanceId;
    if (given !== undefined && obj.instances.has(given))
      return fail('4.00', `${request.path.append(given).toString()} already exists`);
    let id = given ?? 0;
    while (given === undefined && obj.instances.has(id)) id++;
    obj.instances.set(id, { kind: 'instance', id, resources: new Map() });
    for (const r of placeCreateInstance(request.path, id, request.instance.resources)) this.#put(r);
    // Location only when the device chose the id (Core §6.3.7).
    return given === undefined ? { code: '2.01', location: request.path.append(id) } : { code: '2.01' };
  }

  #delete(path: LwM2mPath): DownlinkResponse {
    if (!this.#node(path)) return fail('4.04', `${path.toString()} does not exist`);
    if (path.depth === 2) {
      if (path.objectId === 3 && path.prefix === undefined) return fail('4.05', '/3/0 cannot be deleted');
      this.#tree(path.prefix ?? '')
        .get(path.objectId!)!
        .instances.delete(path.instanceId!);
    } else {
      const res = this.#instance(path)!.resources.get(path.resourceId!);
      if (res?.kind === 'multiple') res.instances.delete(path.resourceInstanceId!);
    }
    return { code: '2.02' };
  }

  /** Atomic (Core §6.3.4): every target is checked before anything changes. */
  #writeComposite(records: readonly LwM2mRecord[]): DownlinkResponse {
    for (const r of records) {
      const missing = r.value === undefined ? !this.#node(r.path) : !this.#instance(r.path);
      if (missing) return fail('4.04', `${r.path.toString()} does not exist`);
    }
    for (const r of records) this.#put(r);
    return { code: '2.04' };
  }

  // ---- the tree ----

  #tree(prefix: string): NodeTree {
    let tree = this.#trees.get(prefix);
    if (!tree) this.#trees.set(prefix, (tree = buildTree([])));
    return tree;
  }

  #instance(path: LwM2mPath): InstanceNode | undefined {
    const [o, i] = path.ids;
    return o === undefined || i === undefined
      ? undefined
      : this.#trees
          .get(path.prefix ?? '')
          ?.get(o)
          ?.instances.get(i);
  }

  #node(path: LwM2mPath): LwM2mNode | undefined {
    const [o, , r, ri] = path.ids;
    if (o === undefined) return undefined;
    if (path.depth === 1) return this.#trees.get(path.prefix ?? '')?.get(o);
    const inst = this.#instance(path);
    if (r === undefined) return inst;
    const res = inst?.resources.get(r);
    if (ri === undefined) return res;
    const value = res?.kind === 'multiple' ? res.instances.get(ri) : undefined;
    return value === undefined ? undefined : { kind: 'single', id: ri, value };
  }

  /** Valued records at or below `path` (the root: the own tree); undefined when it does not exist. */
  #valuesAt(path: LwM2mPath): LwM2mRecord[] | undefined {
    if (path.isRoot()) {
      const tree = this.#tree(path.prefix ?? '');
      return [...tree.values()]
        .sort((a, b) => a.id - b.id)
        .flatMap((obj) => flattenNode(new LwM2mPath([obj.id], path.prefix), obj))
        .filter((r) => r.value !== undefined);
    }
    const node = this.#node(path);
    return node && flattenNode(path, node).filter((r) => r.value !== undefined);
  }

  /**
   * Sets one record: a value at a resource (single) or resource instance (into its multiple
   * resource); a resource without value is an empty multiple resource; a resource instance without
   * value is deleted (SenML-ETCH null). Missing objects and instances are made.
   */
  #put(r: LwM2mRecord): void {
    const [o, i, rid, ri] = r.path.ids;
    if (o === undefined) return;
    const tree = this.#tree(r.path.prefix ?? '');
    let obj = tree.get(o);
    if (!obj) tree.set(o, (obj = { kind: 'object', id: o, instances: new Map() }));
    if (i === undefined) return;
    let inst = obj.instances.get(i);
    if (!inst) obj.instances.set(i, (inst = { kind: 'instance', id: i, resources: new Map() }));
    if (rid === undefined) return;
    if (ri === undefined) {
      if (r.value !== undefined) inst.resources.set(rid, { kind: 'single', id: rid, value: r.value });
      else if (inst.resources.get(rid)?.kind !== 'multiple')
        inst.resources.set(rid, { kind: 'multiple', id: rid, instances: new Map() });
      return;
    }
    let res = inst.resources.get(rid);
    if (res?.kind !== 'multiple')
      inst.resources.set(rid, (res = { kind: 'multiple', id: rid, instances: new Map() }));
    if (r.value === undefined) res.instances.delete(ri);
    else res.instances.set(ri, r.value);
  }
}

/** An OperationError as its result code with the message as diagnostic; anything else is 5.00. */
function errorResponse(e: unknown): CoapResponse {
  const code = e instanceof OperationError ? e.resultCode : '5.00';
  const text = e instanceof Error ? e.message : String(e);
  return { code: parseCode(code)!, payload: utf8.encode(text) };
}
