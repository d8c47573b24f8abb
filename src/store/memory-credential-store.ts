import { type CredentialStore, type SecurityInfo, pskIdentitiesOf, publicKeyOf } from './credential-store.js';
import { PublicKeyConflictError, canonicalSpkiHex } from './public-key.js';
import { CredentialConflictError } from './store-errors.js';

/**
 * Security information in a map by endpoint, with one index by PSK identity for both `psk` and
 * `nextPsk` (one namespace: an identity names one key of one endpoint) and one by raw public key
 * (canonical hex). Lost on exit.
 */
export class MemoryCredentialStore implements CredentialStore {
  readonly #byEndpoint = new Map<string, SecurityInfo>();
  readonly #endpointByIdentity = new Map<string, string>();
  readonly #endpointByKey = new Map<string, string>();

  put(info: SecurityInfo): Promise<void> {
    // A throw in the executor (a conflict) rejects: nothing has changed by then.
    return new Promise((resolve) => {
      const identities = pskIdentitiesOf(info);
      for (const identity of identities) {
        const holder = this.#endpointByIdentity.get(identity);
        if (holder !== undefined && holder !== info.endpoint)
          throw new CredentialConflictError(identity, holder, info.endpoint);
      }
      const key = publicKeyOf(info);
      const keyHolder = key === undefined ? undefined : this.#endpointByKey.get(key);
      if (key !== undefined && keyHolder !== undefined && keyHolder !== info.endpoint)
        throw new PublicKeyConflictError(key, keyHolder, info.endpoint);
      this.#unlink(info.endpoint);
      this.#byEndpoint.set(info.endpoint, info);
      for (const identity of identities) this.#endpointByIdentity.set(identity, info.endpoint);
      if (key !== undefined) this.#endpointByKey.set(key, info.endpoint);
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

  getByPublicKey(spkiHex: string): Promise<SecurityInfo | undefined> {
    const key = canonicalSpkiHex(spkiHex);
    const endpoint = key === undefined ? undefined : this.#endpointByKey.get(key);
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
    const key = publicKeyOf(info);
    if (key !== undefined) this.#endpointByKey.delete(key);
    return info;
  }
}
