import type { Registration } from '../server/registration.js';
import type { PutResult, RegistrationStore } from './registration-store.js';

/** Registrations in two maps (by endpoint and by id); the default store and the tests' one. */
export class MemoryRegistrationStore implements RegistrationStore {
  readonly #byEndpoint = new Map<string, Registration>();
  readonly #byId = new Map<string, Registration>();

  put(registration: Registration): Promise<PutResult> {
    const previous = this.#byEndpoint.get(registration.endpoint);
    if (previous) this.#byId.delete(previous.id);
    // An id reused by another endpoint would leave two owners; the server never does this, but a
    // store must not corrupt itself if a caller does.
    const clash = this.#byId.get(registration.id);
    if (clash && clash.endpoint !== registration.endpoint) this.#byEndpoint.delete(clash.endpoint);
    this.#byEndpoint.set(registration.endpoint, registration);
    this.#byId.set(registration.id, registration);
    return Promise.resolve({ previous });
  }

  get(endpoint: string): Promise<Registration | undefined> {
    return Promise.resolve(this.#byEndpoint.get(endpoint));
  }

  getById(id: string): Promise<Registration | undefined> {
    return Promise.resolve(this.#byId.get(id));
  }

  remove(endpoint: string, id?: string): Promise<Registration | undefined> {
    const reg = this.#byEndpoint.get(endpoint);
    if (!reg || (id !== undefined && reg.id !== id)) return Promise.resolve(undefined);
    this.#byEndpoint.delete(endpoint);
    this.#byId.delete(reg.id);
    return Promise.resolve(reg);
  }

  async *all(): AsyncIterable<Registration> {
    for (const reg of [...this.#byEndpoint.values()]) yield await Promise.resolve(reg);
  }

  async *expiring(before: number): AsyncIterable<Registration> {
    for (const reg of [...this.#byEndpoint.values()])
      if (reg.expiresAt < before) yield await Promise.resolve(reg);
  }

  get size(): Promise<number> {
    return Promise.resolve(this.#byEndpoint.size);
  }
}
