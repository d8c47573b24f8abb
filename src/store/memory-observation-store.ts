import type { ObservationStore, PersistedObservation } from './observation-store.js';

/** Observations in a map by id, with an index of ids per endpoint. Lost on exit. */
export class MemoryObservationStore implements ObservationStore {
  readonly #byId = new Map<string, PersistedObservation>();
  readonly #idsByEndpoint = new Map<string, Set<string>>();

  put(observation: PersistedObservation): Promise<void> {
    this.#unlink(observation.id);
    this.#byId.set(observation.id, observation);
    let ids = this.#idsByEndpoint.get(observation.endpoint);
    if (!ids) this.#idsByEndpoint.set(observation.endpoint, (ids = new Set()));
    ids.add(observation.id);
    return Promise.resolve();
  }

  get(id: string): Promise<PersistedObservation | undefined> {
    return Promise.resolve(this.#byId.get(id));
  }

  remove(id: string): Promise<PersistedObservation | undefined> {
    return Promise.resolve(this.#unlink(id));
  }

  byEndpoint(endpoint: string): Promise<PersistedObservation[]> {
    const out: PersistedObservation[] = [];
    for (const id of this.#idsByEndpoint.get(endpoint) ?? []) {
      const obs = this.#byId.get(id);
      if (obs) out.push(obs);
    }
    return Promise.resolve(out.sort(oldestFirst));
  }

  removeByEndpoint(endpoint: string): Promise<number> {
    const ids = [...(this.#idsByEndpoint.get(endpoint) ?? [])];
    for (const id of ids) this.#unlink(id);
    return Promise.resolve(ids.length);
  }

  async *all(): AsyncIterable<PersistedObservation> {
    for (const obs of [...this.#byId.values()]) yield await Promise.resolve(obs);
  }

  /** Drops an observation from both maps; returns it. */
  #unlink(id: string): PersistedObservation | undefined {
    const obs = this.#byId.get(id);
    if (!obs) return undefined;
    this.#byId.delete(id);
    const ids = this.#idsByEndpoint.get(obs.endpoint);
    ids?.delete(id);
    if (ids?.size === 0) this.#idsByEndpoint.delete(obs.endpoint);
    return obs;
  }
}

/** The order byEndpoint lists in, in every store: createdAt, then id (SQL and Redis order ties by id too). */
function oldestFirst(a: PersistedObservation, b: PersistedObservation): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
