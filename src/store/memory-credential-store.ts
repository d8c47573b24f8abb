import { type CredentialStore, type SecurityInfo, pskIdentitiesOf } from './credential-store.js';
import { CredentialConflictError } from './store-errors.js';

/**
 * Security information in a map by endpoint, with one index by PSK identity for both `psk` and
 * `nextPsk` (one namespace: an identity names one key of one endpoint). Lost on exit.
 */
export class MemoryCredentialStore implements CredentialStore {
  readonly #byEndpoint = new Map<string, SecurityInfo>();
  readonly #endpointByIdentity = new Map<string, string>();

  put(info: SecurityInfo): Promise<void> {
    // A throw in the executor (a conflict) rejects: nothing has changed by then.
    return new Promise((resolve) => {
      const identities = pskIdentitiesOf(info);
      for (const identity of identities) {
        const holder = this.#endpointByIdentity.get(identity);
        if (holder !== undefined && holder !== info.endpoint)
          throw new CredentialConflictError(identity, holder, info.endpoint);
      }
      this.#unlink(info.endpoint);
      this.#byEndpoint.set(info.endpoint, info);
      for (const identity of identities) this.#endpointByIdentity.set(identity, info.endpoint);
      resolve();
    });
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
    for (const psk of [info.psk, info.nextPsk]) if (psk) this.#endpointByIdentity.delete(psk.identity);
    return info;
  }
}
