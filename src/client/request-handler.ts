import { chooseResponseFormat } from '../binding/coap/format-choice.js';
import type { ValueReadRequest } from '../binding/coap/format-choice.js';
import type { ContentFormatId } from '../content/content-format.js';
import { AttributeError, attributesToLinkParams } from '../model/attributes.js';
import type { NotificationAttributes } from '../model/attributes.js';
import type { Link } from '../model/link-format.js';
import type { ObjectModel } from '../model/object-definition.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { DownlinkAnswer, NotificationSink } from '../binding/binding.js';
import type { DownlinkRequest, DownlinkResponse } from '../operations/requests.js';
import type { ResultCode } from '../operations/result-code.js';
import { isBootstrapOnlyObject } from '../operations/validation.js';
import { versionFeatures } from '../operations/version.js';
import type { AccessControl } from './access-control.js';
import type { AttributeStore } from './attribute-store.js';
import type { NotificationDefaults, NotificationEngine } from './notification-engine.js';
import type { ObjectTree, TreeResult } from './object-tree.js';

const TLV = 11542;
const SENML_JSON = 110;
const SENML_CBOR = 112;
/** Formats without a time per value: historical (hqmax) records go out as SenML instead. */
const TIMELESS_FORMATS: ReadonlySet<number> = new Set([0, 42, 60, TLV]);

/** What the handler needs to know about the server a request came from. */
export interface RequestingServer {
  readonly shortServerId: number;
  /** The enabler version registered with that server. */
  readonly lwm2mVersion: string;
  /** Defaults for observations: /1/x/2, /1/x/3, /1/x/26. */
  readonly notificationDefaults: () => NotificationDefaults;
}

export interface RequestHandlerOptions {
  readonly tree: ObjectTree;
  readonly model: ObjectModel;
  readonly access: AccessControl;
  readonly attributes: AttributeStore;
  readonly notifications: NotificationEngine;
  /** Errors no request can answer (an application read failing as an observation starts). */
  readonly onError?: (error: unknown) => void;
}

const fail = (code: ResultCode, diagnostic: string): DownlinkAnswer => ({ response: { code, diagnostic } });

function answer<T>(result: TreeResult<T>, success: (value: T) => DownlinkResponse): DownlinkAnswer {
  return result.ok ? { response: success(result.value) } : fail(result.code, result.message);
}

/** The paths a request targets (for the bootstrap-only and access checks). */
function targets(request: DownlinkRequest): readonly LwM2mPath[] {
  if ('paths' in request) return request.paths;
  if ('path' in request) return [request.path];
  if ('records' in request) return request.records.map((r) => r.path);
  return [];
}

let observationSeq = 0;

/**
 * The client's side of the DM and IR interfaces (Core §6.3, §6.4): answers each operation from the
 * object tree, with access control, per-server attributes and the notification engine. Pure of
 * wire details: the binding decodes requests and encodes these answers.
 */
export class RequestHandler {
  readonly #o: RequestHandlerOptions;
  /** The observations each server holds, to end them when its registration ends. */
  readonly #sinks = new Map<number, Set<NotificationSink>>();

  constructor(options: RequestHandlerOptions) {
    this.#o = options;
  }

  /**
   * Ends every observation of a server: its registration ended (De-register, Disable, a new
   * Register), and observations are void then (Core §6.4).
   */
  endServer(shortServerId: number): void {
    for (const sink of [...(this.#sinks.get(shortServerId) ?? [])]) sink.end();
    this.#sinks.delete(shortServerId);
    this.#o.notifications.cancelServer(shortServerId);
  }

  async handle(server: RequestingServer, request: DownlinkRequest): Promise<DownlinkAnswer> {
    for (const path of targets(request))
      if (isBootstrapOnlyObject(path.objectId))
        return fail('4.01', `/${path.objectId} is reachable only by the Bootstrap-Server`);
    const { tree, access, attributes } = this.#o;
    const ssid = server.shortServerId;
    const allowed = (
      operation: Parameters<AccessControl['check']>[1],
      path: LwM2mPath,
    ): DownlinkAnswer | undefined => {
      const check = access.check(ssid, operation, path);
      return check.ok ? undefined : fail(check.code, check.message);
    };
    switch (request.kind) {
      case 'read':
      case 'cancel-observation':
        return (
          allowed('read', request.path) ??
          answer(tree.read(request.path), (records) =>
            // An object read passes the check; the instances this server may not read drop out.
            this.#content(server, request, access.filterRecords(ssid, records)),
          )
        );
      case 'discover': {
        const depth = versionFeatures(server.lwm2mVersion).depth ? request.depth : undefined;
        return answer(tree.discover(request.path, depth), (links) => ({
          code: '2.05',
          links: links.map((link) => this.#withAttributes(ssid, link)),
        }));
      }
      case 'write':
        return (
          allowed('write', request.path) ??
          answer(tree.write(request.path, request.records, request.mode), () => ({ code: '2.04' }))
        );
      case 'write-attributes': {
        const denied = allowed('write-attributes', request.path);
        if (denied) return denied;
        if (!this.#exists(request.path)) return fail('4.04', `${request.path.toString()} does not exist`);
        try {
          // The resource's type decides which attributes fit (gt/lt/st numeric, edge boolean).
          const { objectId, resourceId } = request.path;
          const type =
            objectId !== undefined && resourceId !== undefined
              ? tree.definition(objectId)?.resources.get(resourceId)?.type
              : undefined;
          attributes.apply(ssid, request.path, request.attributes, type);
        } catch (e) {
          if (e instanceof AttributeError) return fail('4.00', e.message);
          throw e;
        }
        // Observations already running pick the new attributes up (their timing state is kept).
        this.#o.notifications.attributesChanged(ssid);
        return { response: { code: '2.04' } };
      }
      case 'execute':
        return (
          allowed('execute', request.path) ??
          answer(await tree.execute(request.path, request.arguments ?? []), () => ({ code: '2.04' }))
        );
      case 'create': {
        const denied = allowed('create', request.path);
        if (denied) return denied;
        const created = tree.create(request.path, request.instance);
        if (created.ok) access.onCreated(ssid, request.path.objectId!, created.value);
        return answer(created, (iid) => ({ code: '2.01', location: request.path.append(iid) }));
      }
      case 'delete': {
        const denied = allowed('delete', request.path);
        if (denied) return denied;
        const deleted = tree.delete(request.path);
        if (deleted.ok && request.path.isObjectInstance()) {
          attributes.removeBelow(request.path);
          access.onDeleted(request.path.objectId!, request.path.instanceId!);
        }
        return answer(deleted, () => ({ code: '2.02' }));
      }
      case 'read-composite':
      case 'cancel-observation-composite': {
        const records = tree.readComposite(request.paths, {
          filter: (oid, iid) => !isBootstrapOnlyObject(oid) && access.allows(ssid, 'read', oid, iid),
        });
        return { response: this.#content(server, request, records) };
      }
      case 'write-composite': {
        for (const r of request.records) {
          const denied = allowed('write', r.path);
          if (denied) return denied;
        }
        return answer(tree.writeComposite(request.records), () => ({ code: '2.04' }));
      }
      case 'observe':
      case 'observe-composite':
        return this.#observe(server, request);
      default:
        return fail('4.05', `${request.kind} is accepted only from the Bootstrap-Server`);
    }
  }

  #observe(
    server: RequestingServer,
    request: Extract<DownlinkRequest, { kind: 'observe' | 'observe-composite' }>,
  ): DownlinkAnswer {
    const ssid = server.shortServerId;
    const { tree, access, notifications } = this.#o;
    // A client that does not support observation attributes MUST reject the Observe (Core §6.4.1).
    if (request.attributes && !versionFeatures(server.lwm2mVersion).observeAttributes)
      return fail('4.00', 'observation attributes are a LwM2M 1.2 feature');
    const paths = request.kind === 'observe' ? [request.path] : request.paths;
    if (paths.length === 0) return fail('4.00', 'Observe-Composite needs at least one path');
    let read: () => LwM2mRecord[];
    if (request.kind === 'observe') {
      const denied = access.check(ssid, 'observe', request.path);
      if (!denied.ok) return fail(denied.code, denied.message);
      const first = tree.read(request.path);
      if (!first.ok) return fail(first.code, first.message);
      read = () => {
        const now = tree.read(request.path);
        return now.ok ? access.filterRecords(ssid, now.value) : [];
      };
    } else {
      read = () =>
        tree.readComposite(paths, {
          filter: (oid, iid) => !isBootstrapOnlyObject(oid) && access.allows(ssid, 'read', oid, iid),
        });
    }
    const records = read();
    const response = this.#content(server, request, records);
    const format = response.format as ContentFormatId | undefined;
    return {
      response,
      observe: (sink: NotificationSink) => {
        const key = `${ssid}:${++observationSeq}`;
        try {
          notifications.observe(ssid, key, [...paths], {
            ...(request.attributes ? { observationAttributes: request.attributes } : {}),
            composite: request.kind === 'observe-composite',
            read,
            send: (values, confirmable) => {
              // Stored notifications (hqmax) carry times: text, opaque, CBOR and TLV cannot say them.
              const timed = values.some((r) => r.time !== undefined);
              const use =
                timed && format !== undefined && TIMELESS_FORMATS.has(format)
                  ? this.#timedFormat(server)
                  : format;
              sink.notify({ records: values, ...(use === undefined ? {} : { format: use }) }, confirmable);
            },
            defaults: server.notificationDefaults,
          });
        } catch (e) {
          // An application read that throws must not take the process down: end the observation.
          sink.end();
          this.#o.onError?.(e);
          return;
        }
        const sinks = this.#sinks.get(ssid) ?? new Set<NotificationSink>();
        this.#sinks.set(ssid, sinks);
        sinks.add(sink);
        sink.onEnd(() => {
          sinks.delete(sink);
          notifications.cancel(key);
        });
      },
    };
  }

  /** SenML CBOR, or SenML JSON for a server whose version has no CBOR. */
  #timedFormat(server: RequestingServer): ContentFormatId {
    return versionFeatures(server.lwm2mVersion).cbor ? SENML_CBOR : SENML_JSON;
  }

  /** A 2.05 with values, in the Accept or the format the server's version expects by default. */
  #content(
    server: RequestingServer,
    request: ValueReadRequest,
    records: readonly LwM2mRecord[],
  ): DownlinkResponse {
    let format = chooseResponseFormat(request, records, this.#o.model);
    if (request.accept === undefined && format !== 0 && format !== 42) {
      const features = versionFeatures(server.lwm2mVersion);
      if (!features.senml) format = TLV;
      else if (!features.cbor) format = SENML_JSON;
    }
    return { code: '2.05', format, records };
  }

  /** Whether a path names something in the tree (executable resources included, unlike read). */
  #exists(path: LwM2mPath): boolean {
    const { tree } = this.#o;
    const [oid, iid, rid, riid] = path.ids;
    if (oid === undefined) return false;
    if (iid === undefined) return tree.hasObject(oid);
    const instance = tree.instance(oid, iid);
    if (!instance) return false;
    if (rid === undefined) return true;
    const ids = instance.resourceIds?.() ?? [];
    if (!ids.includes(rid)) return tree.read(path).ok;
    return riid === undefined || tree.read(path).ok;
  }

  /** A Discover link with the attributes this server attached at that level (Core §6.3.3). */
  #withAttributes(ssid: number, link: Link): Link {
    const path = LwM2mPath.tryParse(link.target);
    if (!path) return link;
    const attrs: NotificationAttributes = this.#o.attributes.attached(ssid, path);
    const params = attributesToLinkParams(attrs);
    return params.length === 0 ? link : { ...link, params: [...link.params, ...params] };
  }
}
