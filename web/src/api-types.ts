// The JSON shapes of the Petrel REST API (docs/rest-api.md), as the console reads them.

export type ResourceType =
  'string' | 'integer' | 'unsigned' | 'float' | 'boolean' | 'opaque' | 'time' | 'objlnk' | 'corelnk' | 'none';

/**
 * A value in the `petrel codec` JSON convention: strings, numbers (64-bit integers past 2^53 as
 * decimal strings), booleans, opaque as `{hex}`, object links as `"oid:iid"`, time as Unix seconds,
 * null for executables and names without a value.
 */
export type JsonValue = string | number | boolean | null | { hex: string };

/** Flat path -> value; a historical (timestamped) record maps to a list of `{t, v}`. */
export type ValuesJson = Record<string, JsonValue | { t: number; v: JsonValue }[]>;

export type Operations = 'R' | 'W' | 'RW' | 'E' | '';

export interface ObjectSummary {
  readonly id: number;
  readonly name: string;
  /** The default version; `versions` lists every one the server knows. */
  readonly version: string;
  readonly versions?: readonly string[];
  readonly multiple: boolean;
  readonly mandatory: boolean;
}

export interface ResourceModel {
  readonly id: number;
  readonly name: string;
  readonly operations: Operations;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly type: ResourceType;
  readonly units?: string;
  /** The registry's range or enumeration, text (`0..100`) or parsed (`{min, max}`). */
  readonly range?: unknown;
  readonly description?: string;
}

export interface ObjectModelInfo extends ObjectSummary {
  readonly description?: string;
  readonly resources: readonly ResourceModel[];
}

export type ClientStatus = 'awake' | 'sleeping';

export interface ClientSummary {
  readonly endpoint: string;
  readonly registrationId: string;
  readonly lwm2mVersion: string;
  readonly binding: string;
  readonly queueMode: boolean;
  readonly lifetime: number;
  readonly status: ClientStatus;
  readonly registeredAt: string;
  readonly lastSeen: string;
  readonly expiresAt: string | null;
  readonly address: string;
  readonly transport: string;
  readonly tags: readonly string[];
  /** Absent only in events logged by a server older than this field. */
  readonly security?: ClientSecurity;
}

/** How a client authenticated (src/api/client-summary.ts ClientSecurity). */
export interface ClientSecurity {
  readonly mode: 'psk' | 'rpk' | 'x509' | 'nosec';
  /** PSK identity, raw public key (SPKI DER, hex) or certificate subject. */
  readonly identity?: string;
}

export interface ObjectLinkJson {
  readonly target: string;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface RegisteredObject {
  readonly id: number;
  readonly version?: string | null;
  readonly instances: readonly number[];
  /** Gateway prefix of an end device's object (`dev1`), when behind one. */
  readonly prefix?: string;
}

export interface ClientDetail extends ClientSummary {
  readonly sms?: string | null;
  readonly profileIds?: readonly string[];
  readonly alternatePath?: string | null;
  readonly contentFormats?: readonly number[] | null;
  readonly objectLinks: readonly ObjectLinkJson[];
  readonly objects: readonly RegisteredObject[];
  readonly extraParameters?: Readonly<Record<string, unknown>>;
  readonly observations: number;
}

export interface ClientPage {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: readonly ClientSummary[];
}

export interface ClientQuery {
  readonly search?: string;
  readonly tags?: readonly string[];
  readonly status?: ClientStatus | '';
  readonly version?: string;
  readonly binding?: string;
  readonly offset?: number;
  readonly limit?: number;
}

export interface TypedRecord {
  readonly path: string;
  readonly type?: ResourceType;
  readonly value?: JsonValue;
  readonly time?: number;
}

export interface LinkJson {
  readonly target: string;
  readonly params?: Readonly<Record<string, unknown>>;
}

export interface MessageIdentity {
  readonly commandId?: string;
  readonly token?: string;
  readonly messageId?: number;
}

export type OperationName =
  | 'read'
  | 'write'
  | 'write-update'
  | 'execute'
  | 'create'
  | 'delete'
  | 'discover'
  | 'write-attributes'
  | 'read-composite'
  | 'write-composite'
  | 'observe'
  | 'observe-composite'
  | 'cancel-observation';

/** What every LwM2M operation route answers (HTTP 200), success or an LwM2M error code. */
export interface OperationResponse {
  readonly endpoint: string;
  /** An OperationName (kept open: a newer server may add operations). */
  readonly operation: string;
  readonly paths: readonly string[];
  /** The client's result code; null when no message was sent (cancel of a gone registration). */
  readonly code: string | null;
  readonly success: boolean;
  readonly diagnostic?: string;
  readonly format?: string | number;
  readonly values?: ValuesJson;
  readonly records?: readonly TypedRecord[];
  readonly links?: readonly LinkJson[];
  readonly location?: string;
  readonly observationId?: string;
  /** Cancel by path: how many observations were cancelled. */
  readonly cancelled?: number;
  readonly identity?: MessageIdentity;
  readonly latencyMs?: number;
}

/** HTTP 202: the client sleeps (queue mode); the answer comes later as a `queued-result` event. */
export interface QueuedResponse {
  readonly queued: true;
  readonly requestId: string;
  readonly endpoint: string;
  readonly operation: string;
  readonly paths: readonly string[];
}

export type OperationOutcome = OperationResponse | QueuedResponse;

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Notification attributes (Core §5.1.2); null clears one in Write-Attributes. */
export interface AttributesBody {
  pmin?: number | null;
  pmax?: number | null;
  gt?: number | null;
  lt?: number | null;
  st?: number | null;
  epmin?: number | null;
  epmax?: number | null;
  edge?: 0 | 1 | null;
  con?: 0 | 1 | null;
  hqmax?: number | null;
}

export interface ObservationInfo {
  readonly id: string;
  readonly paths: readonly string[];
  readonly composite: boolean;
  readonly attributes?: AttributesBody;
  readonly createdAt: string;
  /** Taken back from the store after a server restart. */
  readonly restored?: boolean;
  readonly notifications: number;
  readonly lastNotificationAt: string | null;
  readonly lastValues?: ValuesJson;
}

export interface ServerInfo {
  readonly name: string;
  readonly version: string;
  readonly lwm2mVersions: readonly string[];
  readonly startedAt: string;
  readonly uptimeS: number;
  readonly endpoints: {
    readonly coap: { address: string; port: number } | null;
    readonly http: { address: string; port: number } | null;
  };
  readonly store: string;
  readonly counts: {
    readonly registrations: number;
    readonly awake: number;
    readonly sleeping: number;
    readonly observations: number;
  };
  readonly rates: {
    readonly uplinksPerS: number;
    readonly requestsPerS: number;
    readonly notificationsPerS: number;
  };
}

/** One event of /api/events (SSE) and /api/events/recent. */
export interface StoredEvent {
  readonly seq: number;
  readonly type: string;
  /** Wall-clock ms (or ISO text). */
  readonly time: number | string;
  readonly endpoint?: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export const EVENT_TYPES = [
  'registered',
  'updated',
  'deregistered',
  'expired',
  'awake',
  'sleeping',
  'notification',
  'send',
  'request',
  'response',
  'uplink',
  'queued-result',
  'tags',
] as const;

/** A device's credentials as /api/security/clients shows them: never a PSK key. */
export interface SecurityView {
  readonly endpoint: string;
  readonly mode: 'psk' | 'rpk' | 'x509' | 'none';
  readonly psk?: { readonly identity: string; readonly keyLength: number };
  readonly rpk?: { readonly publicKey: string };
  readonly x509?: { readonly commonName: string };
  /** A PSK being rotated in (BS-001): it authenticates the device as well until promoted. */
  readonly nextPsk?: { readonly identity: string; readonly keyLength: number };
}

/** The body of PUT /api/security/clients/{ep}: exactly one mode. */
export type SecurityBody =
  | { readonly psk: { readonly identity: string; readonly key: string } }
  | { readonly rpk: { readonly publicKey: string } }
  | { readonly x509: Record<string, never> };

/** POST /api/security/generate/keypair: a P-256 pair, nothing kept by the server. */
export interface GeneratedKeyPair {
  readonly publicKey: string;
  readonly privateKey: string;
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** GET /api/security/server: the server's own DTLS identity; `{}` when it has none. */
export interface ServerSecurity {
  readonly pskHint?: string;
  readonly publicKey?: string;
  readonly certificate?: { readonly subject: string; readonly der: string };
}

// ---- /api/bootstrap (src/api/bootstrap-routes.ts, docs/bootstrap.md) ----

/** A bootstrap security mode as the API shows it: identities, public keys, certificates; secrets only by length. */
export type BootstrapSecurityView =
  | { readonly mode: 'nosec' }
  | { readonly mode: 'psk'; readonly identity: string; readonly keyLength: number }
  | {
      readonly mode: 'rpk';
      readonly publicKey: string;
      readonly serverPublicKey: string;
      readonly privateKeyLength: number;
    }
  | {
      readonly mode: 'x509';
      readonly certificate: string;
      readonly serverCertificate: string;
      readonly certificateUsage?: number;
      readonly privateKeyLength: number;
    };

export type BootstrapSecurityMode = BootstrapSecurityView['mode'];

/** One LwM2M Server account of a configuration (/0 and /1 instance). */
export interface BootstrapServerAccountView {
  readonly shortServerId: number;
  readonly uri: string;
  readonly lifetime?: number;
  readonly binding?: string;
  readonly defaultMinPeriod?: number;
  readonly defaultMaxPeriod?: number;
  readonly notificationStoring?: boolean;
  readonly supportedServerVersions?: readonly string[];
  readonly security: BootstrapSecurityView;
}

/** The Bootstrap-Server account rewrite of a configuration. */
export interface BootstrapAccountView {
  readonly uri: string;
  readonly security: BootstrapSecurityView;
  readonly clientHoldOffTime?: number;
  readonly accountTimeout?: number;
}

/** GET /api/bootstrap/clients[/{ep}]: a configuration, or `error` for an invalid stored document. */
export interface BootstrapConfigView {
  readonly endpoint: string;
  readonly servers?: readonly BootstrapServerAccountView[];
  readonly bootstrapServer?: BootstrapAccountView;
  readonly deleteFirst?: boolean;
  readonly error?: string;
}

/** A template value as the API shows it: as given, or (a secret: its placeholder stands in a key field) by length only. */
export type BootstrapTemplateValueView = string | number | boolean | { readonly length: number };

/** GET /api/bootstrap/clients[/{ep}] of a device whose configuration names a template. */
export interface BootstrapTemplatedView {
  readonly endpoint: string;
  readonly template: string;
  readonly values: Readonly<Record<string, BootstrapTemplateValueView>>;
  /** The configuration the template gives the device, or `error` when it gives none. */
  readonly resolved: BootstrapConfigView;
}

/** What GET /api/bootstrap/clients[/{ep}] answers for one device: a configuration or a template with values. */
export type BootstrapClientView = BootstrapConfigView | BootstrapTemplatedView;

export interface BootstrapConfigPage {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: readonly BootstrapClientView[];
}

/** The body of PUT /api/bootstrap/clients/{ep} that names a template. */
export interface BootstrapTemplateReferenceBody {
  readonly template: string;
  readonly values: Readonly<Record<string, string | number | boolean>>;
}

/** GET /api/bootstrap/templates items and /api/bootstrap/templates/{name}. */
export interface BootstrapTemplateView {
  readonly name: string;
  /** Distinct placeholder names in document order (`endpoint` is filled in by the server). */
  readonly placeholders: readonly string[];
  /** Placeholders in key/privateKey fields: their values are secrets, never shown. */
  readonly secretPlaceholders: readonly string[];
  /** The template document; fixed text in key and privateKey fields shown as `*`. */
  readonly template: Readonly<Record<string, unknown>>;
  /** How many devices' configurations name it. */
  readonly clients: number;
  /** Set (and `placeholders` empty) when the stored document is not a valid template. */
  readonly error?: string;
}

/** PUT /api/bootstrap/templates/{name}: the template, and the devices it no longer resolves for (first 10). */
export interface BootstrapTemplatePutResponse extends BootstrapTemplateView {
  readonly unresolved?: readonly { readonly endpoint: string; readonly error: string }[];
}

export interface BootstrapTemplatePage {
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly items: readonly BootstrapTemplateView[];
}

/** A security mode as PUT /api/bootstrap/clients/{ep} takes it (keys hex DER). */
export type BootstrapSecurityBody =
  | { readonly mode: 'nosec' }
  | { readonly mode: 'psk'; readonly identity: string; readonly key: string }
  | {
      readonly mode: 'rpk';
      readonly publicKey: string;
      readonly privateKey: string;
      readonly serverPublicKey: string;
    }
  | {
      readonly mode: 'x509';
      readonly certificate: string;
      readonly privateKey: string;
      readonly serverCertificate: string;
      readonly certificateUsage?: number;
    };

export interface BootstrapServerAccountBody extends Omit<BootstrapServerAccountView, 'security'> {
  readonly security: BootstrapSecurityBody;
}

export interface BootstrapAccountBody extends Omit<BootstrapAccountView, 'security'> {
  readonly security: BootstrapSecurityBody;
}

/** The body of PUT /api/bootstrap/clients/{ep}. */
export interface BootstrapConfigBody {
  readonly servers: readonly BootstrapServerAccountBody[];
  readonly bootstrapServer?: BootstrapAccountBody;
  readonly deleteFirst?: boolean;
}

export type BootstrapOperation =
  'bootstrap-discover' | 'bootstrap-delete' | 'bootstrap-write' | 'bootstrap-read' | 'bootstrap-finish';

/** One request of a bootstrap session and the client's answer. */
export interface BootstrapStep {
  /** A BootstrapOperation (kept open: a newer server may add some). */
  readonly operation: string;
  readonly path?: string;
  /** The client's answer (`2.04`); absent when none came. */
  readonly code?: string;
  /** Content-Format of a Write. */
  readonly format?: number;
  readonly latencyMs: number;
  readonly error?: string;
}

export interface BootstrapOutcome {
  readonly status: 'succeeded' | 'failed';
  /** Why it failed: error-code, timeout, closed, bad-answer, replaced, stopped, internal. */
  readonly reason?: string;
  readonly operation?: string;
  readonly path?: string;
  readonly code?: string;
  readonly message?: string;
}

/** GET /api/bootstrap/sessions items and /api/bootstrap/sessions/{ep}. */
export interface BootstrapSession {
  readonly id: string;
  readonly endpoint: string;
  readonly kind: 'request' | 'pack';
  readonly peer: string;
  readonly transport: string;
  /** Wall-clock ms. */
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly requestedFormat?: number;
  readonly lwm2mVersion?: string;
  /** What the session was for (the reason recorded by a trigger, else reconfigure). */
  readonly reason: BootstrapReason;
  /**
   * Credential rotation (BS-001): 'writing' when the session writes the next PSK, 'confirmed'
   * when the device authenticated with it (the old PSK is retired).
   */
  readonly rotation?: 'writing' | 'confirmed';
  readonly steps: readonly BootstrapStep[];
  /** Absent while the session runs. */
  readonly outcome?: BootstrapOutcome;
}

/** Why a device is sent back to bootstrap (Core-001; rotate = BS-001 PSK rotation). */
export type BootstrapReason = 'reconfigure' | 'rotate' | 'unbootstrap';

/** The body of POST /api/bootstrap/clients/{ep}/trigger (`nextPsk` only with rotate). */
export interface BootstrapTriggerBody {
  readonly reason: BootstrapReason;
  readonly nextPsk?: { readonly identity: string; readonly key: string };
}

/** The Execute of /1/x/9 a trigger sent: its path and code, or why none was sent (`skipped`). */
export interface BootstrapTriggerExecute {
  readonly path?: string;
  readonly code?: string;
  readonly skipped?: string;
}

/** The 202 answer of POST /api/bootstrap/clients/{ep}/trigger. */
export interface BootstrapTriggerResponse {
  readonly endpoint: string;
  readonly reason: BootstrapReason;
  /** Wall-clock ms. */
  readonly requestedAt: number;
  /** rotate: the next PSK stored beside the current one (the key is never shown). */
  readonly nextPsk?: { readonly identity: string; readonly keyLength: number };
  readonly trigger: BootstrapTriggerExecute;
}

// ---- Firmware (docs/firmware-server.md; src/server/firmware, mirrored by hand) ----

/** One image in the repository (GET /api/firmware/images). */
export interface FirmwareImage {
  /** SHA-256 of the bytes a device downloads, hex. */
  readonly id: string;
  readonly size: number;
  /** `package`: a Petrel package (manifest + image); its manifest's fields follow. */
  readonly kind: 'plain' | 'package';
  readonly signed?: boolean;
  readonly name?: string;
  readonly version?: string;
  readonly vendor?: string;
  readonly deviceClass?: string;
  readonly minVersion?: string;
  readonly imageDigest?: string;
  readonly label?: string;
  /** Wall-clock ms. */
  readonly addedAt: number;
}

export type DevicePhase =
  | 'queued'
  | 'waiting'
  | 'checking'
  | 'downloading'
  | 'downloaded'
  | 'updating'
  | 'deferred'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export type CampaignMethod = 'push' | 'pull' | 'auto';
export type CampaignStatus = 'running' | 'paused' | 'cancelled' | 'completed';

export interface CampaignTargetFilter {
  readonly endpointPrefix?: string;
  readonly tags?: readonly string[];
  /** Only devices whose /3/0/3 is this (others end `skipped`). */
  readonly currentVersion?: string;
}

/** The body of POST /api/firmware/campaigns. */
export interface CampaignSpec {
  readonly image: string;
  readonly targets: readonly string[] | CampaignTargetFilter;
  readonly method?: CampaignMethod;
  readonly name?: string;
  readonly concurrency?: number;
  /** Device starts per second. */
  readonly rate?: number;
  readonly retries?: number;
  readonly retryDelay?: number;
  readonly pollInterval?: number;
  readonly observe?: boolean;
  readonly deferRetry?: number;
  readonly timeouts?: {
    readonly request?: number;
    readonly download?: number;
    readonly update?: number;
    readonly wait?: number;
  };
}

export interface CampaignSettings {
  readonly method: CampaignMethod;
  readonly concurrency: number;
  readonly rate: number | null;
  readonly retries: number;
  readonly retryDelay: number;
  readonly pollInterval: number;
  readonly observe: boolean;
  readonly deferRetry: number;
  readonly timeouts: {
    readonly request: number;
    readonly download: number;
    readonly update: number;
    readonly wait: number;
  };
  readonly filter?: CampaignTargetFilter;
}

export interface CampaignTotals {
  readonly devices: number;
  readonly phases: Readonly<Record<DevicePhase, number>>;
  /** Devices in a final phase (succeeded, failed, skipped, cancelled). */
  readonly finished: number;
  readonly bytes: number;
}

/** Wall-clock ms of a device's steps, and the spans between them. */
export interface DeviceTimings {
  readonly queuedAt: number;
  readonly startedAt?: number;
  readonly downloadStartedAt?: number;
  readonly downloadEndedAt?: number;
  readonly executedAt?: number;
  readonly acceptedAt?: number;
  readonly finishedAt?: number;
  readonly downloadMs?: number;
  readonly acceptanceMs?: number;
  readonly updateMs?: number;
}

export interface CampaignDevice {
  readonly endpoint: string;
  readonly phase: DevicePhase;
  readonly method?: 'push' | 'pull';
  readonly scheme?: string;
  readonly attempts: number;
  /** Bytes delivered (push: once the Write completed; pull: as served). */
  readonly bytes: number;
  readonly size: number;
  readonly previousVersion?: string;
  readonly version?: string;
  /** The last /5/0/5 Update Result seen. */
  readonly updateResult?: number;
  readonly reason?: string;
  readonly deferrals: number;
  readonly timings: DeviceTimings;
  readonly history: readonly { readonly phase: DevicePhase; readonly at: number }[];
}

export interface CampaignTimelineEntry {
  readonly at: number;
  readonly event: 'created' | 'paused' | 'resumed' | 'cancelled' | 'completed' | 'ended' | 'phase';
  readonly endpoint?: string;
  readonly phase?: DevicePhase;
}

/** GET /api/firmware/campaigns (a list of these). */
export interface CampaignSummary {
  readonly id: string;
  readonly name?: string;
  readonly image: {
    readonly id: string;
    readonly size: number;
    readonly kind: 'plain' | 'package';
    readonly version?: string;
  };
  readonly status: CampaignStatus;
  readonly createdAt: number;
  readonly finishedAt?: number;
  readonly settings: CampaignSettings;
  readonly totals: CampaignTotals;
}

/** GET /api/firmware/campaigns/{id}, and the SSE `snapshot`. */
export interface CampaignReport extends CampaignSummary {
  readonly devices: readonly CampaignDevice[];
  readonly timeline: readonly CampaignTimelineEntry[];
  readonly timelineDropped: number;
}

/** An SSE `device` or `status` event of GET /api/firmware/campaigns/{id}/events. */
export interface CampaignEvent {
  readonly campaign: string;
  readonly seq: number;
  readonly at: number;
  readonly type: 'device' | 'status';
  readonly status?: CampaignStatus;
  readonly device?: CampaignDevice;
  readonly totals: CampaignTotals;
}
