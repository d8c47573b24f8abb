import type { CredentialStore, SecurityInfo } from './credential-store.js';
import { CredentialConflictError } from './store-errors.js';

/** Security information in a map by endpoint, with an index by PSK identity. Lost on exit. */
export class MemoryCredentialStore implements CredentialStore {
  readonly #byEndpoint = new Map<string, SecurityInfo>();
  readonly #endpointByIdentity = new Map<string, string>();

  put(info: SecurityInfo): Promise<void> {
    const identity = info.psk?.identity;
    if (identity !== undefined) {
      const holder = this.#endpointByIdentity.get(identity);
      if (holder !== undefined && holder !== info.endpoint)
        return Promise.reject(new CredentialConflictError(identity, holder, info.endpoint));
    }
    this.#unlink(info.endpoint);
    this.#byEndpoint.set(info.endpoint, info);
    if (identity !== undefined) this.#endpointByIdentity.set(identity, info.endpoint);
    return Promise.resolve();
  }

  get(endpoint: string): Promise<SecurityInfo | undefined> {
    return Promise.resolve(this.#byEndpoint.get(endpoint));
  }

  getByPskIdentity(identity: string): Promise<SecurityInfo | undefined> {
    const endpoint = this.#endpointByIdentity.get(identity);
    return Promise.resolve(endpoint === undefined ? undefined : this.#byEndpoint.get(endpoint));
  }

  remove(endpoint: string): Promise<SecurityInfo | undefined> {
    return Promise.resolve(this.#unlink(endpoint));
  }

  async *all(): AsyncIterable<SecurityInfo> {
    for (const info of [...this.#byEndpoint.values()]) yield await Promise.resolve(info);
  }

  #unlink(endpoint: string): SecurityInfo | undefined {
    const info = this.#byEndpoint.get(endpoint);
    if (!info) return undefined;
    this.#byEndpoint.delete(endpoint);
    if (info.psk) this.#endpointByIdentity.delete(info.psk.identity);
    return info;
  }
}
