import type { DownlinkAnswer } from '../binding/binding.js';
import type { LinkParam, Link } from '../model/link-format.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { DownlinkRequest } from '../operations/requests.js';
import type { ResultCode } from '../operations/result-code.js';
import type { InstanceEnabler } from './instance.js';
import type { ObjectTree, TreeResult } from './object-tree.js';
import { parseServerAddress } from './security-credentials.js';
import { TreeTransaction } from './tree-transaction.js';

const SECURITY = 0;
const SERVER = 1;
const ACCESS_CONTROL = 2;
const DEVICE = 3;
const OSCORE = 21;

/** Who provisioned an instance of /0 or /1 (BOOT-PROV-001). */
export type ProvisioningSource = 'smartcard' | 'factory' | 'network';

/**
 * Per-source access control on /0 and /1 (BOOT-PROV-002): which sources' instances a network
 * Bootstrap-Server may overwrite or delete. Default: neither the smartcard's nor the factory's.
 */
export interface ProvisioningPolicy {
  readonly networkMayChange?: readonly ('smartcard' | 'factory')[];
}

export interface BootstrapSessionOptions {
  readonly tree: ObjectTree;
  /** The enabler version the client speaks (Discover's `lwm2m=`). */
  readonly lwm2mVersion: string;
  /** The source of an instance of /0 or /1 (undefined: network or unknown). */
  readonly sourceOf: (objectId: number, instanceId: number) => ProvisioningSource | undefined;
  readonly policy?: ProvisioningPolicy;
  /** The format of a Bootstrap-Read without Accept (the Bootstrap-Request's `pct`). */
  readonly readFormat?: number;
  /** The version each object is announced with (`ver=`), when not the one `lwm2mVersion` implies. */
  readonly announcedVersion?: (objectId: number) => string | undefined;
}

type Answer = DownlinkAnswer;
const fail = (code: ResultCode, diagnostic: string): Answer => ({ response: { code, diagnostic } });
const ok = (code: ResultCode): Answer => ({ response: { code } });

function valueOf(inst: InstanceEnabler | undefined, rid: number): unknown {
  return inst?.read().find((r) => r.path.resourceId === rid && r.path.depth === 3)?.value?.value;
}

/** /0/x/1: the Bootstrap-Server account. */
export function isBootstrapAccount(inst: InstanceEnabler | undefined): boolean {
  return valueOf(inst, 1) === true;
}

/** /0/x/10 or /1/x/0 (both are the Short Server ID). */
function ssidOf(inst: InstanceEnabler | undefined, objectId: number): number | undefined {
  const v = valueOf(inst, objectId === SECURITY ? 10 : 0);
  return typeof v === 'number' ? v : undefined;
}

/**
 * One bootstrap session on the client (Core §6.1.7): the Bootstrap-Write, -Read, -Discover and
 * -Delete of a Bootstrap-Server, applied to the tree inside a TreeTransaction, the Finish checks,
 * and a Bootstrap-Pack applied the same way. Nothing reaches the registration engine until the
 * caller commits; a rollback restores the configuration the client had before.
 */
export class BootstrapSession {
  readonly #o: BootstrapSessionOptions;
  readonly #tx: TreeTransaction;
  /** Short Server IDs whose accounts the session deleted (their observations end at commit). */
  readonly removedServers = new Set<number>();

  constructor(options: BootstrapSessionOptions) {
    this.#o = options;
    this.#tx = new TreeTransaction(options.tree);
  }

  commit(): void {
    this.#tx.commit();
  }

  rollback(): void {
    this.#tx.rollback();
    this.removedServers.clear();
  }

  handle(request: DownlinkRequest): Answer {
    switch (request.kind) {
      case 'bootstrap-write':
        return this.#write(request.path, request.records);
      case 'bootstrap-read':
        return this.#read(request.path, request.accept);
      case 'bootstrap-discover':
        return this.#discover(request.path);
      case 'bootstrap-delete':
        return this.#delete(request.path);
      default:
        return fail('4.05', `${request.kind} is not a Bootstrap operation`);
    }
  }

  // ---- per-source protection (BOOT-PROV-002) ----

  #protectedBy(objectId: number, instanceId: number): ProvisioningSource | undefined {
    if (objectId !== SECURITY && objectId !== SERVER) return undefined;
    const source = this.#o.sourceOf(objectId, instanceId);
    if (source === undefined || source === 'network') return undefined;
    return (this.#o.policy?.networkMayChange ?? []).includes(source) ? undefined : source;
  }

  // ---- Bootstrap-Write ----

  #write(path: LwM2mPath, records: readonly LwM2mRecord[]): Answer {
    const { tree } = this.#o;
    const [oid, iid] = path.ids;
    if (oid === undefined) return fail('4.00', 'Bootstrap-Write needs an object, instance or resource path');
    if (oid === DEVICE && iid !== undefined && iid !== 0) return fail('4.00', '/3 has only instance 0');
    if (!tree.hasObject(oid)) return fail('4.04', `object ${oid} is not supported`);
    const instances =
      iid !== undefined
        ? [iid]
        : [...new Set(records.map((r) => r.path.instanceId).filter((i) => i !== undefined))];
    for (const i of instances) {
      const source = this.#protectedBy(oid, i);
      if (source !== undefined)
        return fail('4.01', `/${oid}/${i} was provisioned by the ${source} and is protected`);
    }
    for (const i of instances) this.#tx.guard(oid, i);
    // An instance that exists is updated (resources the payload leaves out keep their values:
    // a Bootstrap-Server may rotate one key); one that does not is created with what came. A
    // Write that fails half-way (an object-level one, instance by instance) changes nothing.
    const attempt = new TreeTransaction(tree);
    for (const i of instances) attempt.guard(oid, i);
    const result = tree.write(path, records, 'update', { bootstrap: true });
    if (result.ok) return ok('2.04');
    attempt.rollback();
    return fail(result.code, result.message);
  }

  // ---- Bootstrap-Read (1.1+: /1 and /2 only, Core §6.1.7.2) ----

  #read(path: LwM2mPath, accept: number | undefined): Answer {
    const oid = path.objectId;
    if (oid !== SERVER && oid !== ACCESS_CONTROL)
      return fail('4.01', 'Bootstrap-Read reaches only /1 (Server) and /2 (Access Control)');
    if (path.depth > 2) return fail('4.00', 'Bootstrap-Read addresses an object or an instance');
    const read = this.#o.tree.read(path);
    if (!read.ok) return fail(read.code, read.message);
    // Without an Accept, the answer comes in the format the client asked for with `pct`.
    const format = accept ?? this.#o.readFormat;
    return { response: { code: '2.05', records: read.value, ...(format === undefined ? {} : { format }) } };
  }

  // ---- Bootstrap-Discover (Core §6.1.7.5) ----

  #discover(path: LwM2mPath): Answer {
    const { tree } = this.#o;
    if (path.depth > 1) return fail('4.00', 'Bootstrap-Discover addresses / or an object');
    const oid = path.objectId;
    if (oid !== undefined && !tree.hasObject(oid)) return fail('4.04', `object ${oid} is not supported`);
    const links: Link[] = [];
    if (oid === undefined)
      links.push({ target: '/', params: [{ name: 'lwm2m', value: this.#o.lwm2mVersion }] });
    for (const o of oid === undefined ? tree.objectIds() : [oid]) {
      const version = this.#o.announcedVersion?.(o);
      const iids = tree.instanceIds(o);
      if (version !== undefined) links.push({ target: `/${o}`, params: [{ name: 'ver', value: version }] });
      else if (iids.length === 0 || oid !== undefined) links.push({ target: `/${o}`, params: [] });
      for (const i of iids) links.push({ target: `/${o}/${i}`, params: this.#instanceParams(o, i) });
    }
    return { response: { code: '2.05', links } };
  }

  #instanceParams(objectId: number, instanceId: number): LinkParam[] {
    const inst = this.#o.tree.instance(objectId, instanceId);
    if (objectId === SECURITY) {
      if (isBootstrapAccount(inst)) return [];
      const ssid = ssidOf(inst, SECURITY);
      const uri = valueOf(inst, 0);
      return [
        ...(ssid === undefined ? [] : [{ name: 'ssid', value: ssid }]),
        ...(typeof uri === 'string' && uri !== '' ? [{ name: 'uri', value: uri }] : []),
      ];
    }
    if (objectId === SERVER || objectId === OSCORE) {
      const ssid = objectId === SERVER ? ssidOf(inst, SERVER) : this.#oscoreSsid(instanceId);
      return ssid === undefined ? [] : [{ name: 'ssid', value: ssid }];
    }
    return [];
  }

  /** The Short Server ID of the /0 instance that links this /21 instance (/0/x/17). */
  #oscoreSsid(instanceId: number): number | undefined {
    for (const iid of this.#o.tree.instanceIds(SECURITY)) {
      const inst = this.#o.tree.instance(SECURITY, iid);
      const link = valueOf(inst, 17) as { objectId?: number; instanceId?: number } | undefined;
      if (link?.objectId === OSCORE && link.instanceId === instanceId) return ssidOf(inst, SECURITY);
    }
    return undefined;
  }

  // ---- Bootstrap-Delete (Core §6.1.7.4) and unbootstrapping ----

  /** The BS account's /0 instance and the /21 instance it links: Delete `/` keeps them. */
  #keptInstances(): Set<string> {
    const kept = new Set<string>([`${DEVICE}/0`]);
    const { tree } = this.#o;
    for (const iid of tree.instanceIds(SECURITY)) {
      const inst = tree.instance(SECURITY, iid);
      if (!isBootstrapAccount(inst)) continue;
      kept.add(`${SECURITY}/${iid}`);
      const link = valueOf(inst, 17) as { objectId?: number; instanceId?: number } | undefined;
      if (link?.objectId === OSCORE && link.instanceId !== undefined)
        kept.add(`${OSCORE}/${link.instanceId}`);
    }
    return kept;
  }

  #delete(path: LwM2mPath, unbootstrap = true): Answer {
    const { tree } = this.#o;
    if (path.depth > 2) return fail('4.00', 'Bootstrap-Delete addresses /, an object or an instance');
    const [oid, iid] = path.ids;
    if (oid !== undefined && iid !== undefined) {
      if (oid === DEVICE && iid === 0) return fail('4.00', '/3/0 cannot be deleted');
      const source = this.#protectedBy(oid, iid);
      if (source !== undefined)
        return fail('4.01', `/${oid}/${iid} was provisioned by the ${source} and is protected`);
      // Deleting what is not there is done already (the BS deletes before writing).
      if (tree.instance(oid, iid)) this.#remove(oid, iid, unbootstrap);
      return ok('2.02');
    }
    // `/` or `/o`: everything but the BS account (+ its /21) and /3/0, and what a source protects.
    const kept = this.#keptInstances();
    for (const o of oid === undefined ? tree.objectIds() : [oid])
      for (const i of tree.instanceIds(o))
        if (!kept.has(`${o}/${i}`) && this.#protectedBy(o, i) === undefined && tree.instance(o, i))
          this.#remove(o, i, unbootstrap);
    return ok('2.02');
  }

  /**
   * Removes an instance; a /0 instance of a LwM2M Server also takes its /1 instance, that server's
   * ACL entries and observations (T12 §Unbootstrapping).
   */
  #remove(objectId: number, instanceId: number, unbootstrap = true): void {
    const { tree } = this.#o;
    const inst = tree.instance(objectId, instanceId);
    const ssid = objectId === SECURITY && !isBootstrapAccount(inst) ? ssidOf(inst, SECURITY) : undefined;
    this.#tx.guard(objectId, instanceId);
    tree.removeInstance(objectId, instanceId);
    if (objectId === SERVER) {
      const s = ssidOf(inst, SERVER);
      if (s !== undefined) this.removedServers.add(s);
    }
    if (ssid === undefined) return;
    this.removedServers.add(ssid);
    if (!unbootstrap) return;
    for (const iid of tree.instanceIds(SERVER))
      if (
        ssidOf(tree.instance(SERVER, iid), SERVER) === ssid &&
        this.#protectedBy(SERVER, iid) === undefined
      ) {
        this.#tx.guard(SERVER, iid);
        tree.removeInstance(SERVER, iid);
      }
    this.#unbootstrapAccess(ssid);
  }

  /**
   * The ACL side of unbootstrapping: `ssid`'s entries go; an instance only `ssid` could reach
   * goes with its /2 instance; an owner `ssid` passes to the server with the most W+D rights.
   */
  #unbootstrapAccess(ssid: number): void {
    const { tree } = this.#o;
    for (const iid of tree.instanceIds(ACCESS_CONTROL)) {
      const acl = tree.instance(ACCESS_CONTROL, iid);
      if (!acl) continue;
      const records = acl.read();
      const target = { o: valueOf(acl, 0), i: valueOf(acl, 1) };
      const rights = records.filter((r) => r.path.resourceId === 2 && r.path.depth === 4);
      const others = rights.filter(
        (r) => r.path.resourceInstanceId !== ssid && r.path.resourceInstanceId !== 0,
      );
      const mine = rights.some((r) => r.path.resourceInstanceId === ssid);
      const owner = valueOf(acl, 3);
      if (!mine && owner !== ssid) continue;
      this.#tx.guard(ACCESS_CONTROL, iid);
      // Another server can still reach the target through its own entry, a default entry (ACL
      // 0) that grants something, or by owning it.
      const defaultRights = rights.find((r) => r.path.resourceInstanceId === 0)?.value?.value;
      const reachable =
        others.some((r) => Number(r.value?.value ?? 0) !== 0) ||
        Number(defaultRights ?? 0) !== 0 ||
        (typeof owner === 'number' && owner !== ssid && owner !== 65535);
      if (!reachable && typeof target.o === 'number' && typeof target.i === 'number') {
        if (
          target.i !== 65535 &&
          tree.instance(target.o, target.i) &&
          !(target.o === DEVICE && target.i === 0)
        ) {
          this.#tx.guard(target.o, target.i);
          tree.removeInstance(target.o, target.i);
        }
        tree.removeInstance(ACCESS_CONTROL, iid);
        continue;
      }
      const keep = records.filter(
        (r) =>
          !(r.path.resourceId === 2 && r.path.resourceInstanceId === ssid) &&
          !(owner === ssid && r.path.resourceId === 3),
      );
      if (owner === ssid) {
        const next = [...others].sort((a, b) => wd(b) - wd(a))[0]?.path.resourceInstanceId;
        if (next !== undefined)
          keep.push({ path: LwM2mPath.of(ACCESS_CONTROL, iid, 3), value: { type: 'integer', value: next } });
      }
      tree.write(LwM2mPath.of(ACCESS_CONTROL, iid), keep, 'replace', { bootstrap: true });
    }
  }

  // ---- Bootstrap-Pack (Core §6.1.7.7) ----

  /**
   * Applies a Pack: for each object it names, every instance goes (but the BS account, its /21
   * and /3/0) and the Pack's instances are written. A 4.xx result leaves the caller to roll back.
   */
  applyPack(records: readonly LwM2mRecord[]): TreeResult<void> {
    const byObject = new Map<number, LwM2mRecord[]>();
    for (const r of records) {
      const oid = r.path.objectId;
      if (oid === undefined || r.path.instanceId === undefined)
        return {
          ok: false,
          code: '4.00',
          message: `the Pack holds ${r.path.toString()}, not an instance's value`,
        };
      byObject.set(oid, [...(byObject.get(oid) ?? []), r]);
    }
    if (!byObject.has(SECURITY) || !byObject.has(SERVER))
      return { ok: false, code: '4.00', message: 'a Pack must hold at least one Server Account (/0 and /1)' };
    for (const [oid, recs] of [...byObject].sort(([a], [b]) => a - b)) {
      // Objects the Pack leaves out stay untouched (Core §6.1.7.7): no unbootstrapping cascade.
      const cleared = this.#delete(LwM2mPath.of(oid), false);
      if (cleared.response.code !== '2.02')
        return { ok: false, code: cleared.response.code, message: `/${oid}` };
      const written = this.#write(LwM2mPath.of(oid), recs);
      if (written.response.code !== '2.04')
        return { ok: false, code: written.response.code, message: written.response.diagnostic ?? `/${oid}` };
    }
    return { ok: true, value: undefined };
  }

  // ---- Bootstrap-Finish checks (Core §6.1.7.6) ----

  /**
   * Whether the configuration can be used: at most one Bootstrap-Server account and a usable URI
   * for it; every LwM2M Server account a /0 with a unique Short Server ID, a usable URI and its
   * /1; every /1 a /0; and at least one account of either kind. The message names the first fault.
   */
  check(): TreeResult<void> {
    const { tree } = this.#o;
    const bad = (message: string): TreeResult<void> => ({ ok: false, code: '4.06', message });
    let bootstrapAccounts = 0;
    const security = new Map<number, number>();
    for (const iid of tree.instanceIds(SECURITY)) {
      const inst = tree.instance(SECURITY, iid);
      const uri = valueOf(inst, 0);
      if (typeof uri !== 'string' || uri === '') return bad(`/0/${iid} has no Server URI`);
      try {
        parseServerAddress(uri);
      } catch (e) {
        return bad(`/0/${iid}/0: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (isBootstrapAccount(inst)) {
        bootstrapAccounts++;
        continue;
      }
      const ssid = ssidOf(inst, SECURITY);
      if (ssid === undefined || ssid < 1 || ssid > 65534)
        return bad(`/0/${iid} has no Short Server ID (/0/${iid}/10)`);
      if (security.has(ssid))
        return bad(`/0/${security.get(ssid)} and /0/${iid} share Short Server ID ${ssid}`);
      security.set(ssid, iid);
    }
    if (bootstrapAccounts > 1) return bad('more than one Bootstrap-Server account');
    const servers = new Set<number>();
    for (const iid of tree.instanceIds(SERVER)) {
      const ssid = ssidOf(tree.instance(SERVER, iid), SERVER);
      if (ssid === undefined) return bad(`/1/${iid} has no Short Server ID`);
      if (!security.has(ssid)) return bad(`/1/${iid} (server ${ssid}) has no /0 instance`);
      if (servers.has(ssid)) return bad(`two /1 instances for server ${ssid}`);
      servers.add(ssid);
    }
    for (const [ssid, iid] of security)
      if (!servers.has(ssid)) return bad(`/0/${iid} (server ${ssid}) has no /1 instance`);
    if (servers.size === 0 && bootstrapAccounts === 0)
      return bad('no LwM2M Server account and no Bootstrap-Server account');
    return { ok: true, value: undefined };
  }
}

/** W + D rights of an ACL entry (Unbootstrapping's rule for the next owner). */
function wd(r: LwM2mRecord): number {
  const v = r.value?.value;
  const n = typeof v === 'number' ? v : 0;
  return (n & 2 ? 1 : 0) + (n & 8 ? 1 : 0);
}

export const BootstrapObjects = { SECURITY, SERVER, ACCESS_CONTROL, DEVICE, OSCORE } as const;

/** The instances a session touched, for the caller's source bookkeeping. */
export function instanceKey(objectId: number, instanceId: number): string {
  return `/${objectId}/${instanceId}`;
}
