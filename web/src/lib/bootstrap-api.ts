// The /api/bootstrap routes the Bootstrap page calls (docs/rest-api.md, Bootstrap), on the
// console's ApiClient.
import type { ApiClient } from '../api.js';
import type {
  BootstrapClientView,
  BootstrapConfigBody,
  BootstrapConfigPage,
  BootstrapSession,
  BootstrapTemplatePage,
  BootstrapTemplatePutResponse,
  BootstrapTemplateReferenceBody,
  BootstrapTemplateView,
  BootstrapTriggerBody,
  BootstrapTriggerResponse,
} from '../api-types.js';
import { queryString } from './api-paths.js';

const configUrl = (endpoint: string): string => `/api/bootstrap/clients/${encodeURIComponent(endpoint)}`;

export function bootstrapConfigs(
  api: ApiClient,
  page: { offset?: number; limit?: number } = {},
): Promise<BootstrapConfigPage> {
  return api.request('GET', `/api/bootstrap/clients${queryString({ ...page })}`);
}

export function bootstrapConfig(api: ApiClient, endpoint: string): Promise<BootstrapClientView> {
  return api.request('GET', configUrl(endpoint));
}

export function putBootstrapConfig(
  api: ApiClient,
  endpoint: string,
  body: BootstrapConfigBody | BootstrapTemplateReferenceBody,
): Promise<BootstrapClientView> {
  return api.request('PUT', configUrl(endpoint), body);
}

export function deleteBootstrapConfig(api: ApiClient, endpoint: string): Promise<void> {
  return api.request('DELETE', configUrl(endpoint));
}

/** Recent sessions, oldest first (running ones included), optionally of one endpoint. */
export function bootstrapSessions(api: ApiClient, endpoint?: string): Promise<{ items: BootstrapSession[] }> {
  return api.request('GET', `/api/bootstrap/sessions${queryString({ endpoint })}`);
}

/** The running or latest session of a device (404 when it has none). */
export function latestBootstrapSession(api: ApiClient, endpoint: string): Promise<BootstrapSession> {
  return api.request('GET', `/api/bootstrap/sessions/${encodeURIComponent(endpoint)}`);
}

/**
 * Sends a device back to bootstrap for `reason` (Core-001): recorded for its next bootstrap, and
 * /1/x/9 executed when it is registered here (202). 400, 404, 409 and 503 come as ApiError.
 */
export function triggerBootstrap(
  api: ApiClient,
  endpoint: string,
  body: BootstrapTriggerBody,
): Promise<BootstrapTriggerResponse> {
  return api.request('POST', `${configUrl(endpoint)}/trigger`, body);
}

const templateUrl = (name: string): string => `/api/bootstrap/templates/${encodeURIComponent(name)}`;

/** Templates sorted by name, paged (fixed secrets shown as `*`). */
export function bootstrapTemplates(
  api: ApiClient,
  page: { offset?: number; limit?: number } = {},
): Promise<BootstrapTemplatePage> {
  return api.request('GET', `/api/bootstrap/templates${queryString({ ...page })}`);
}

export function bootstrapTemplate(api: ApiClient, name: string): Promise<BootstrapTemplateView> {
  return api.request('GET', templateUrl(name));
}

/** Stores a template; 400 (naming the field) comes as ApiError. */
export function putBootstrapTemplate(
  api: ApiClient,
  name: string,
  template: Readonly<Record<string, unknown>>,
): Promise<BootstrapTemplatePutResponse> {
  return api.request('PUT', templateUrl(name), template);
}

/** Removes a template; 409 while devices name it (the message names them). */
export function deleteBootstrapTemplate(api: ApiClient, name: string): Promise<void> {
  return api.request('DELETE', templateUrl(name));
}
