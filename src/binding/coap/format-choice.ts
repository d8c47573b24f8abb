import type { ContentFormatId } from '../../content/content-format.js';
import type { ObjectModel } from '../../model/object-definition.js';
import type { LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import type {
  BootstrapReadRequest,
  BootstrapWriteRequest,
  CancelObservationCompositeRequest,
  CancelObservationRequest,
  ObserveCompositeRequest,
  ObserveRequest,
  ReadCompositeRequest,
  ReadRequest,
  CreateRequest,
  WriteCompositeRequest,
  WriteRequest,
} from '../../operations/requests.js';

/**
 * Which content format a server uses when a request leaves it open. The policy, in one place so it
 * can change (LWM2M-1.2.md §2.1 "Format negotiation", §5 version compatibility):
 *
 * - Single values (a Write Replace or Bootstrap-Write of exactly one value at the target resource
 *   or resource instance): text/plain (0), or opaque (42) for an Opaque resource. Every client
 *   MUST support both (§2.1); Partial Update (POST) never uses them (§1.3 table).
 * - Several values (Write of an instance or a multiple resource, Create, Bootstrap-Write):
 *   1.0 → TLV (11542), the only 1.0 multi-value format every client has;
 *   1.1 → SenML CBOR (112) if the client announced it in `ct=`, else SenML JSON (110) if
 *   announced, else TLV (a 1.1 client that announces nothing may still only know TLV);
 *   1.2 → LwM2M CBOR (11544), SenML CBOR, SenML JSON, in that order of what `ct=` announces,
 *   else SenML CBOR (client A of the captures announces nothing and accepts every format).
 * - Create without an instance id: only TLV and LwM2M CBOR can leave the id to the client (Core
 *   §6.3.7), so a SenML choice becomes TLV there.
 * - Write-Composite: SenML, SenML-ETCH or LwM2M CBOR, never TLV (§1.3 table): the order above,
 *   SenML JSON when a 1.1 client announces nothing. A pack that deletes resource instances (records
 *   without a value) needs SenML-ETCH (RFC 8790): 322 in the CBOR family, 320 in the JSON one.
 * - Composite path lists (Read-/Observe-Composite body): 1.2 → SenML-ETCH JSON (320), or 322
 *   when `ct=` lists it; 1.1 (no ETCH) → SenML JSON (110), or 112 when `ct=` lists 112 but not 110.
 * - Accept of composites: SenML CBOR (112) unless `ct=` says otherwise (1.2: then LwM2M CBOR or
 *   SenML JSON, whichever is announced; 1.1: SenML JSON when only that is announced).
 * - Read and Observe send no Accept unless the caller asks: the client picks its preferred format.
 *
 * And on the client side, the format of an answer to a Read/Observe without Accept
 * (chooseResponseFormat): text/plain (opaque for Opaque) for one value at a single resource or
 * resource instance, SenML CBOR (112) for everything else, as client A of the captures does. A
 * client that registers as 1.2 talks only to servers of 1.1 or later, which MUST read SenML CBOR.
 */

/** What the server knows about a client's formats (from its Register). */
export interface PeerFormats {
  /** The `lwm2m=` enabler version (`'1.0'` when the Register had none). */
  readonly lwm2mVersion: string;
  /** The root link `ct=` list from Register/Update, when the client announced one. */
  readonly contentFormats: readonly number[] | undefined;
}

const TEXT = 0;
const OPAQUE = 42;
const SENML_JSON = 110;
const SENML_CBOR = 112;
const SENML_ETCH_JSON = 320;
const SENML_ETCH_CBOR = 322;
const TLV = 11542;
const LWM2M_CBOR = 11544;

/** The enabler minor version the policy applies: 0, 1 or 2 (a later 1.x counts as 1.2). */
function minorOf(version: string): 0 | 1 | 2 {
  const m = /^1\.([0-9]{1,4})(?:\.[0-9]{1,4})?$/.exec(version.trim());
  if (!m) return /^[2-9]/.test(version.trim()) ? 2 : 0;
  const minor = Number(m[1]);
  return minor >= 2 ? 2 : minor === 1 ? 1 : 0;
}

const announces = (peer: PeerFormats, format: number): boolean =>
  peer.contentFormats?.includes(format) === true;

/** The multi-value format for a peer (see the policy above); `composite` rules out TLV. */
function multiValueFormat(peer: PeerFormats, composite: boolean): ContentFormatId {
  const minor = minorOf(peer.lwm2mVersion);
  if (minor === 2) {
    for (const f of [LWM2M_CBOR, SENML_CBOR, SENML_JSON] as const) if (announces(peer, f)) return f;
    return SENML_CBOR;
  }
  if (minor === 1) {
    for (const f of [SENML_CBOR, SENML_JSON] as const) if (announces(peer, f)) return f;
    return composite ? SENML_JSON : TLV;
  }
  return composite ? SENML_JSON : TLV;
}

/** Whether `records` are exactly one value at `path`, a single resource or resource instance. */
function singleValue(
  path: LwM2mPath,
  records: readonly LwM2mRecord[],
  model: ObjectModel,
  versions?: ReadonlyMap<number, string>,
): 'text' | 'opaque' | undefined {
  const record: LwM2mRecord | undefined = records.length === 1 ? records[0] : undefined;
  if (record?.value === undefined || record.time !== undefined || !record.path.equals(path)) return undefined;
  if (path.depth < 3 || record.value.type === 'none') return undefined;
  const oid = path.objectId!;
  const def = model.resource(oid, path.resourceId!, versions?.get(oid));
  if (def !== undefined && def.multiple !== (path.depth === 4)) return undefined;
  return (def?.type ?? record.value.type) === 'opaque' ? 'opaque' : 'text';
}

/**
 * The Content-Format of a request that carries values: `request.format` when set, otherwise the
 * policy above.
 */
export function chooseWriteFormat(
  request: WriteRequest | CreateRequest | WriteCompositeRequest | BootstrapWriteRequest,
  peer: PeerFormats,
  model: ObjectModel,
  versions?: ReadonlyMap<number, string>,
): ContentFormatId {
  if (request.format !== undefined) return request.format;
  switch (request.kind) {
    case 'write-composite': {
      const f = multiValueFormat(peer, true);
      if (request.records.every((r) => r.value !== undefined)) return f;
      return f === SENML_JSON ? SENML_ETCH_JSON : SENML_ETCH_CBOR;
    }
    case 'create': {
      const f = multiValueFormat(peer, false);
      return request.instance.instanceId === undefined && f !== LWM2M_CBOR ? TLV : f;
    }
    default: {
      const replace = request.kind === 'bootstrap-write' || request.mode === 'replace';
      const single = replace ? singleValue(request.path, request.records, model, versions) : undefined;
      if (single !== undefined) return single === 'opaque' ? OPAQUE : TEXT;
      return multiValueFormat(peer, false);
    }
  }
}

/** The format of a Read-Composite / Observe-Composite path list. */
export function chooseCompositeRequestFormat(peer: PeerFormats): ContentFormatId {
  if (minorOf(peer.lwm2mVersion) === 2)
    return announces(peer, SENML_ETCH_CBOR) ? SENML_ETCH_CBOR : SENML_ETCH_JSON;
  return announces(peer, SENML_CBOR) && !announces(peer, SENML_JSON) ? SENML_CBOR : SENML_JSON;
}

/** The Accept of a Read-Composite / Observe-Composite. */
export function chooseCompositeAccept(peer: PeerFormats): ContentFormatId {
  if (peer.contentFormats === undefined || announces(peer, SENML_CBOR)) return SENML_CBOR;
  if (minorOf(peer.lwm2mVersion) === 2 && announces(peer, LWM2M_CBOR)) return LWM2M_CBOR;
  if (announces(peer, SENML_JSON)) return SENML_JSON;
  return SENML_CBOR;
}

/** A request answered with values (Read, Observe, their composites and cancels, Bootstrap-Read). */
export type ValueReadRequest =
  | ReadRequest
  | ObserveRequest
  | CancelObservationRequest
  | ReadCompositeRequest
  | ObserveCompositeRequest
  | CancelObservationCompositeRequest
  | BootstrapReadRequest;

/**
 * Client side: the format of the values answering `request`: its Accept when set, otherwise the
 * policy above (text/opaque for one value at a resource, SenML CBOR otherwise).
 */
export function chooseResponseFormat(
  request: ValueReadRequest,
  records: readonly LwM2mRecord[],
  model: ObjectModel,
  versions?: ReadonlyMap<number, string>,
): ContentFormatId {
  if (request.accept !== undefined) return request.accept;
  if ('path' in request) {
    const single = singleValue(request.path, records, model, versions);
    if (single !== undefined) return single === 'opaque' ? OPAQUE : TEXT;
  }
  return SENML_CBOR;
}
