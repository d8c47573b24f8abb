// The console's client of the Petrel REST API (docs/rest-api.md): one method per route, typed
// against the contract. HTTP errors become ApiError with the body's stable code; an LwM2M error
// answer (4.04 ...) is a normal OperationResponse with success false.
import type {
  ApiErrorBody,
  AttributesBody,
  CampaignReport,
  CampaignSpec,
  CampaignSummary,
  ClientDetail,
  ClientPage,
  ClientQuery,
  FirmwareImage,
  GeneratedKeyPair,
  JsonValue,
  ObjectModelInfo,
  ObjectSummary,
  ObservationInfo,
  OperationOutcome,
  QueuedResponse,
  SecurityBody,
  SecurityView,
  ServerInfo,
  ServerSecurity,
  StoredEvent,
} from './api-types.js';
import { clientUrl, pathUrl, queryString } from './lib/api-paths.js';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export const isQueued = (o: OperationOutcome): o is QueuedResponse => 'queued' in o && o.queued === true;

export interface ApiClientOptions {
  /** Origin of the API; default: the page's own. */
  readonly baseUrl?: string;
  readonly getToken: () => string | undefined;
  /** Called on every 401, before the ApiError is thrown (the console asks for a token). */
  readonly onUnauthorized?: () => void;
  readonly fetch?: typeof fetch;
}

export interface ReadOptions {
  readonly format?: string;
  readonly timeout?: number;
}

export type WriteBody = { value: JsonValue } | { values: Record<string, JsonValue> };

export interface CreateBody {
  instanceId?: number;
  values: Record<string, JsonValue>;
}

export interface EventQuery {
  readonly endpoint?: string;
  readonly types?: readonly string[];
  readonly limit?: number;
  /** Stream: replay what came after this seq first (the browser's own reconnects send Last-Event-ID). */
  readonly lastEventId?: number;
}

function errorFrom(status: number, body: unknown): ApiError {
  const b = body as Partial<ApiErrorBody> | null;
  const code = typeof b?.code === 'string' ? b.code : `HTTP_${status}`;
  const message = typeof b?.message === 'string' ? b.message : `HTTP ${status}`;
  return new ApiError(status, code, message);
}

export class ApiClient {
  readonly #base: string;
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.#base = options.baseUrl ?? '';
    this.#options = options;
  }

  /** One JSON request; resolves with the parsed body of a 2xx answer, else rejects with ApiError. */
  request<T>(method: string, url: string, body?: unknown): Promise<T> {
    return this.#send<T>(
      method,
      url,
      body === undefined ? undefined : { body: JSON.stringify(body), type: 'application/json' },
    );
  }

  /** The answer of one request (auth header set); a network failure becomes ApiError NETWORK. */
  async #fetch(
    method: string,
    url: string,
    accept: string,
    body?: { body: BodyInit; type: string },
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept };
    const token = this.#options.getToken();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = body.type;
    const doFetch = this.#options.fetch ?? fetch;
    try {
      return await doFetch(`${this.#base}${url}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: body.body }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `API unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async #send<T>(method: string, url: string, body?: { body: BodyInit; type: string }): Promise<T> {
    const res = await this.#fetch(method, url, 'application/json', body);
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (res.status === 401) this.#options.onUnauthorized?.();
    if (!res.ok) throw errorFrom(res.status, parsed);
    return parsed as T;
  }

  server(): Promise<ServerInfo> {
    return this.request('GET', '/api/server');
  }

  models(): Promise<ObjectSummary[]> {
    return this.request('GET', '/api/models');
  }

  model(objectId: number, version?: string): Promise<ObjectModelInfo> {
    return this.request('GET', `/api/models/${objectId}${queryString({ version })}`);
  }

  clients(query: ClientQuery = {}): Promise<ClientPage> {
    const q = queryString({
      search: query.search,
      tag: query.tags,
      status: query.status,
      version: query.version,
      binding: query.binding,
      offset: query.offset,
      limit: query.limit,
    });
    return this.request('GET', `/api/clients${q}`);
  }

  client(endpoint: string): Promise<ClientDetail> {
    return this.request('GET', clientUrl(endpoint));
  }

  setTags(endpoint: string, tags: readonly string[]): Promise<{ endpoint: string; tags: string[] }> {
    return this.request('PUT', `${clientUrl(endpoint)}/tags`, { tags });
  }

  read(endpoint: string, path: string, options: ReadOptions = {}): Promise<OperationOutcome> {
    return this.request('GET', `${pathUrl(endpoint, path)}${queryString({ ...options })}`);
  }

  write(
    endpoint: string,
    path: string,
    body: WriteBody,
    options: { mode?: 'replace' | 'update'; format?: string } = {},
  ): Promise<OperationOutcome> {
    return this.request('PUT', `${pathUrl(endpoint, path)}${queryString({ ...options })}`, body);
  }

  execute(endpoint: string, path: string, args?: string): Promise<OperationOutcome> {
    return this.request(
      'POST',
      pathUrl(endpoint, path, 'execute'),
      args === undefined || args === '' ? {} : { arguments: args },
    );
  }

  create(endpoint: string, objectPath: string, body: CreateBody): Promise<OperationOutcome> {
    return this.request('POST', pathUrl(endpoint, objectPath), body);
  }

  delete(endpoint: string, path: string): Promise<OperationOutcome> {
    return this.request('DELETE', pathUrl(endpoint, path));
  }

  discover(endpoint: string, path: string, depth?: number): Promise<OperationOutcome> {
    return this.request('GET', `${pathUrl(endpoint, path, 'discover')}${queryString({ depth })}`);
  }

  writeAttributes(endpoint: string, path: string, attributes: AttributesBody): Promise<OperationOutcome> {
    return this.request('PUT', pathUrl(endpoint, path, 'attributes'), attributes);
  }

  readComposite(endpoint: string, paths: readonly string[], format?: string): Promise<OperationOutcome> {
    return this.request('POST', `${clientUrl(endpoint)}/composite/read`, {
      paths,
      ...(format ? { format } : {}),
    });
  }

  writeComposite(
    endpoint: string,
    values: Record<string, JsonValue>,
    format?: string,
  ): Promise<OperationOutcome> {
    return this.request('POST', `${clientUrl(endpoint)}/composite/write`, {
      values,
      ...(format ? { format } : {}),
    });
  }

  observe(
    endpoint: string,
    path: string,
    attributes?: AttributesBody,
    format?: string,
  ): Promise<OperationOutcome> {
    return this.request('POST', pathUrl(endpoint, path, 'observe'), {
      ...(attributes && Object.keys(attributes).length > 0 ? { attributes } : {}),
      ...(format ? { format } : {}),
    });
  }

  cancelObserve(endpoint: string, path: string): Promise<OperationOutcome> {
    return this.request('DELETE', pathUrl(endpoint, path, 'observe'));
  }

  observeComposite(
    endpoint: string,
    paths: readonly string[],
    attributes?: AttributesBody,
    format?: string,
  ): Promise<OperationOutcome> {
    return this.request('POST', `${clientUrl(endpoint)}/composite/observe`, {
      paths,
      ...(attributes && Object.keys(attributes).length > 0 ? { attributes } : {}),
      ...(format ? { format } : {}),
    });
  }

  observations(endpoint: string): Promise<ObservationInfo[]> {
    return this.request('GET', `${clientUrl(endpoint)}/observations`);
  }

  cancelObservation(endpoint: string, id: string): Promise<OperationOutcome> {
    return this.request('DELETE', `${clientUrl(endpoint)}/observations/${encodeURIComponent(id)}`);
  }

  securityClients(): Promise<{ items: SecurityView[] }> {
    return this.request('GET', '/api/security/clients');
  }

  setSecurity(endpoint: string, body: SecurityBody): Promise<SecurityView> {
    return this.request('PUT', `/api/security/clients/${encodeURIComponent(endpoint)}`, body);
  }

  removeSecurity(endpoint: string): Promise<void> {
    return this.request('DELETE', `/api/security/clients/${encodeURIComponent(endpoint)}`);
  }

  generatePsk(bytes?: number): Promise<{ key: string }> {
    return this.request('POST', `/api/security/generate/psk${queryString({ bytes })}`);
  }

  generateKeyPair(): Promise<GeneratedKeyPair> {
    return this.request('POST', '/api/security/generate/keypair');
  }

  serverSecurity(): Promise<ServerSecurity> {
    return this.request('GET', '/api/security/server');
  }

  recentEvents(query: EventQuery = {}): Promise<StoredEvent[]> {
    const q = queryString({ limit: query.limit, endpoint: query.endpoint, types: query.types?.join(',') });
    return this.request('GET', `/api/events/recent${q}`);
  }

  // ---- firmware (docs/firmware-server.md) ----

  firmwareImages(): Promise<FirmwareImage[]> {
    return this.request('GET', '/api/firmware/images');
  }

  /** Adds an image: the raw bytes as application/octet-stream, `label` (the file name) beside them. */
  uploadFirmwareImage(bytes: Blob | ArrayBuffer, label?: string): Promise<FirmwareImage> {
    return this.#send('POST', `/api/firmware/images${queryString({ label })}`, {
      body: bytes,
      type: 'application/octet-stream',
    });
  }

  deleteFirmwareImage(id: string): Promise<void> {
    return this.request('DELETE', `/api/firmware/images/${encodeURIComponent(id)}`);
  }

  firmwareCampaigns(): Promise<CampaignSummary[]> {
    return this.request('GET', '/api/firmware/campaigns');
  }

  firmwareCampaign(id: string): Promise<CampaignReport> {
    return this.request('GET', `/api/firmware/campaigns/${encodeURIComponent(id)}`);
  }

  createFirmwareCampaign(spec: CampaignSpec): Promise<CampaignReport> {
    return this.request('POST', '/api/firmware/campaigns', spec);
  }

  campaignAction(id: string, action: 'pause' | 'resume' | 'cancel'): Promise<CampaignReport> {
    return this.request('POST', `/api/firmware/campaigns/${encodeURIComponent(id)}/${action}`);
  }

  /**
   * Opens a campaign's progress stream (text/event-stream). Fetched rather than an EventSource so
   * the bearer token goes in the header (the route takes no `?token=`); the caller reads the body.
   */
  async campaignEvents(id: string, signal: AbortSignal): Promise<Response> {
    const res = await this.#fetch(
      'GET',
      `/api/firmware/campaigns/${encodeURIComponent(id)}/events`,
      'text/event-stream',
      undefined,
      signal,
    );
    if (res.status === 401) this.#options.onUnauthorized?.();
    if (!res.ok) {
      const body: unknown = await res.json().catch(() => undefined);
      throw errorFrom(res.status, body);
    }
    return res;
  }

  /** The SSE URL; EventSource cannot send headers, so the token rides in the query. */
  eventsUrl(query: EventQuery = {}): string {
    const q = queryString({
      endpoint: query.endpoint,
      types: query.types?.join(','),
      lastEventId: query.lastEventId,
      token: this.#options.getToken(),
    });
    return `${this.#base}/api/events${q}`;
  }
}
