// The /api/bootstrap routes the Bootstrap page calls (docs/rest-api.md, Bootstrap), on the
// console's ApiClient.
import type { ApiClient } from '../api.js';
import type {
  BootstrapConfigBody,
  BootstrapConfigPage,
  BootstrapConfigView,
  BootstrapSession,
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

export function bootstrapConfig(api: ApiClient, endpoint: string): Promise<BootstrapConfigView> {
  return api.request('GET', configUrl(endpoint));
}

export function putBootstrapConfig(
  api: ApiClient,
  endpoint: string,
  body: BootstrapConfigBody,
): Promise<BootstrapConfigView> {
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
