import type { ContentFormatId } from '../content/content-format.js';
import type { CreateInstance } from '../content/create-payload.js';
import type { NotificationAttributeChanges, NotificationAttributes } from '../model/attributes.js';
import type { Link } from '../model/link-format.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { RegistrationPayload } from '../model/registration-payload.js';
import type { ResultCode } from './result-code.js';

/**
 * The operations of LwM2M 1.2 as typed values (Core §6). Roles speak only in these; a binding
 * (CoAP, MQTT, HTTP) turns them into its messages and back. Paths are absolute LwM2M paths (with
 * a gateway prefix where one applies); the binding adds the registration's alternate path.
 *
 * Content formats are numbers (the registry's ids) at this layer: `format` on a request that
 * carries values is the payload's format; `accept` is the format asked for in the answer.
 * Undefined leaves the choice to the binding (see format-choice in binding/) or the peer.
 */

// ---- Device Management and Service Enablement, Information Reporting (downlink) ----

export interface ReadRequest {
  readonly kind: 'read';
  readonly path: LwM2mPath;
  readonly accept?: ContentFormatId;
}

export interface DiscoverRequest {
  readonly kind: 'discover';
  readonly path: LwM2mPath;
  /** 1.2 `depth` (0..3); undefined = the default (2 for an object, 1 otherwise). */
  readonly depth?: 0 | 1 | 2 | 3;
}

export interface WriteRequest {
  readonly kind: 'write';
  readonly path: LwM2mPath;
  /** Replace (CoAP PUT) or Partial Update (POST). */
  readonly mode: 'replace' | 'update';
  /** Values at or below `path`. */
  readonly records: readonly LwM2mRecord[];
  readonly format?: ContentFormatId;
}

export interface WriteAttributesRequest {
  readonly kind: 'write-attributes';
  readonly path: LwM2mPath;
  /** A number sets an attribute; null unsets it (`?pmin`). */
  readonly attributes: NotificationAttributeChanges;
}

/** One Execute argument: `digit` or `digit='value'` (Core §5.4.5 grammar). */
export interface ExecuteArgument {
  readonly digit: number;
  readonly value?: string;
}

export interface ExecuteRequest {
  readonly kind: 'execute';
  readonly path: LwM2mPath;
  readonly arguments?: readonly ExecuteArgument[];
}

export interface CreateRequest {
  readonly kind: 'create';
  /** The object (`/o`). */
  readonly path: LwM2mPath;
  /** One instance; `instanceId` undefined lets the client choose (answered in Location). */
  readonly instance: CreateInstance;
  readonly format?: ContentFormatId;
}

export interface DeleteRequest {
  readonly kind: 'delete';
  /** An instance (`/o/i`) or a resource instance (`/o/i/r/ri`). */
  readonly path: LwM2mPath;
}

export interface ReadCompositeRequest {
  readonly kind: 'read-composite';
  readonly paths: readonly LwM2mPath[];
  /** Format of the path list (SenML JSON/CBOR, SenML-ETCH JSON/CBOR). */
  readonly format?: ContentFormatId;
  readonly accept?: ContentFormatId;
}

export interface WriteCompositeRequest {
  readonly kind: 'write-composite';
  /** Values to write; a record without a value deletes that resource instance (SenML-ETCH null). */
  readonly records: readonly LwM2mRecord[];
  readonly format?: ContentFormatId;
}

export interface ObserveRequest {
  readonly kind: 'observe';
  readonly path: LwM2mPath;
  /** 1.2 observation attributes (query parameters valid for this observation only). */
  readonly attributes?: NotificationAttributes;
  readonly accept?: ContentFormatId;
}

export interface ObserveCompositeRequest {
  readonly kind: 'observe-composite';
  readonly paths: readonly LwM2mPath[];
  /** Only pmin, pmax, epmin, epmax and con (Core §6.4.1). */
  readonly attributes?: NotificationAttributes;
  readonly format?: ContentFormatId;
  readonly accept?: ContentFormatId;
}

/** Proactive cancel of an observation: the binding identifies it by the original request. */
export interface CancelObservationRequest {
  readonly kind: 'cancel-observation';
  readonly path: LwM2mPath;
  readonly accept?: ContentFormatId;
}

export interface CancelObservationCompositeRequest {
  readonly kind: 'cancel-observation-composite';
  /** Exactly the path list of the observation. */
  readonly paths: readonly LwM2mPath[];
  readonly format?: ContentFormatId;
  readonly accept?: ContentFormatId;
}

// ---- Bootstrap (downlink from the Bootstrap-Server) ----

export interface BootstrapWriteRequest {
  readonly kind: 'bootstrap-write';
  readonly path: LwM2mPath;
  readonly records: readonly LwM2mRecord[];
  readonly format?: ContentFormatId;
}

export interface BootstrapReadRequest {
  readonly kind: 'bootstrap-read';
  readonly path: LwM2mPath;
  readonly accept?: ContentFormatId;
}

export interface BootstrapDiscoverRequest {
  readonly kind: 'bootstrap-discover';
  readonly path: LwM2mPath;
}

export interface BootstrapDeleteRequest {
  readonly kind: 'bootstrap-delete';
  readonly path: LwM2mPath;
}

export interface BootstrapFinishRequest {
  readonly kind: 'bootstrap-finish';
}

export type DownlinkRequest =
  | ReadRequest
  | DiscoverRequest
  | WriteRequest
  | WriteAttributesRequest
  | ExecuteRequest
  | CreateRequest
  | DeleteRequest
  | ReadCompositeRequest
  | WriteCompositeRequest
  | ObserveRequest
  | ObserveCompositeRequest
  | CancelObservationRequest
  | CancelObservationCompositeRequest
  | BootstrapWriteRequest
  | BootstrapReadRequest
  | BootstrapDiscoverRequest
  | BootstrapDeleteRequest
  | BootstrapFinishRequest;

/**
 * The answer to a downlink request. Which fields are set depends on the operation: `records` for
 * Read, Read-Composite, Observe (the first notification) and their cancels; `links` for Discover;
 * `location` for Create. `diagnostic` is the text payload some peers put on an error.
 */
export interface DownlinkResponse {
  readonly code: ResultCode;
  readonly format?: number;
  readonly records?: readonly LwM2mRecord[];
  readonly links?: readonly Link[];
  /** Create: the new instance (`/o/i`) from the Location-Path. */
  readonly location?: LwM2mPath;
  readonly diagnostic?: string;
}

/** An asynchronous Notify of an observation (Core §6.4.4). */
export interface Notification {
  /** Rises with each notification the binding accepted (CoAP Observe sequence, MQTT counter). */
  readonly sequence: number | undefined;
  readonly code: ResultCode;
  readonly format?: number;
  readonly records?: readonly LwM2mRecord[];
  /** Whether the peer asked for an acknowledgement (CoAP CON). */
  readonly confirmable: boolean;
}

// ---- Client Registration and Send (uplink) ----

/** The Register parameters (Core §6.2.1 table), already validated. */
export interface RegisterRequest {
  readonly kind: 'register';
  /** `ep`; undefined when the client relies on its security identity. */
  readonly endpoint: string | undefined;
  /** `lt` in seconds (1.0: 86400 when absent). */
  readonly lifetime: number;
  /** `lwm2m`, e.g. `'1.2'` (1.0 when absent). */
  readonly lwm2mVersion: string;
  /** `b`, the binding letters without the 1.0 `Q` (e.g. `'U'`, `'UT'`); `'U'` when absent. */
  readonly binding: string;
  /** `Q` flag, or a 1.0 `b=UQ`-style binding. */
  readonly queueMode: boolean;
  readonly sms: string | undefined;
  /** `pid` values in order (each pre-configured `oma:`/`v:` or dynamic `suite:hash`). */
  readonly profileIds: readonly string[];
  /** The object list payload; undefined when the request had none. */
  readonly objects: RegistrationPayload | undefined;
  /** Parameters the spec does not define but the request carried (kept for the application). */
  readonly extraParameters: ReadonlyMap<string, string | true>;
}

/** Update: only what changed; undefined = unchanged (Core §6.2.2). */
export interface UpdateRequest {
  readonly kind: 'update';
  /** The registration's id (the last Location-Path segment). */
  readonly registrationId: string;
  readonly lifetime?: number;
  readonly binding?: string;
  readonly queueMode?: boolean;
  readonly sms?: string;
  readonly profileIds?: readonly string[];
  readonly objects?: RegistrationPayload;
}

export interface DeregisterRequest {
  readonly kind: 'deregister';
  readonly registrationId: string;
}

export interface SendRequest {
  readonly kind: 'send';
  readonly format: number;
  readonly records: readonly LwM2mRecord[];
}

export interface BootstrapRequestRequest {
  readonly kind: 'bootstrap-request';
  readonly endpoint: string | undefined;
  /** `pct`: the preferred content format for Bootstrap-Write. */
  readonly preferredFormat: number | undefined;
}

export interface BootstrapPackRequest {
  readonly kind: 'bootstrap-pack-request';
  readonly endpoint: string | undefined;
  readonly accept: number | undefined;
  /** 1.2.1 `acc`: the BS-account instances the client holds. */
  readonly accounts: readonly LwM2mPath[] | undefined;
}

export type UplinkRequest =
  | RegisterRequest
  | UpdateRequest
  | DeregisterRequest
  | SendRequest
  | BootstrapRequestRequest
  | BootstrapPackRequest;

export interface UplinkResponse {
  readonly code: ResultCode;
  /** Register: the registration id the client addresses Update/De-register to (`/rd/{id}`). */
  readonly registrationId?: string;
  /** Bootstrap-Pack: the pack. */
  readonly records?: readonly LwM2mRecord[];
  readonly format?: number;
  /** A short reason for an error, sent as the diagnostic payload. */
  readonly diagnostic?: string;
  /**
   * 5.03 Service Unavailable: seconds after which the client may try again (CoAP Max-Age,
   * RFC 7252 §5.9.3.4). The server's admission limits set it; the client waits at least this long.
   */
  readonly retryAfter?: number;
  /**
   * Called by the binding once the response has left. The server announces a registration only
   * then, so an application's first request never overtakes the 2.01 (Core §6.3: the server
   * SHOULD NOT send requests before it has answered the Register).
   */
  readonly onSent?: () => void;
}
