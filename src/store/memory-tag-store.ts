import { normalizeTags } from './normalize-tags.js';
import type { TagStore } from './tag-store.js';

/** Tags in a map by endpoint, with an index of endpoints per tag. Lost on exit. */
export class MemoryTagStore implements TagStore {
  readonly #tags = new Map<string, readonly string[]>();
  readonly #endpoints = new Map<string, Set<string>>();

  set(endpoint: string, tags: readonly string[]): Promise<readonly string[]> {
    return new Promise((resolve) => resolve(this.#set(endpoint, normalizeTags(endpoint, tags))));
  }

  #set(endpoint: string, next: readonly string[]): readonly string[] {
    for (const tag of this.#tags.get(endpoint) ?? []) {
      const set = this.#endpoints.get(tag);
      set?.delete(endpoint);
      if (set?.size === 0) this.#endpoints.delete(tag);
    }
    if (next.length === 0) {
      this.#tags.delete(endpoint);
      return [];
    }
    this.#tags.set(endpoint, next);
    for (const tag of next) {
      let set = this.#endpoints.get(tag);
      if (!set) this.#endpoints.set(tag, (set = new Set()));
      set.add(endpoint);
    }
    return [...next];
  }

  get(endpoint: string): Promise<readonly string[]> {
    return Promise.resolve([...(this.#tags.get(endpoint) ?? [])]);
  }

  endpointsWith(tag: string): Promise<string[]> {
    return Promise.resolve([...(this.#endpoints.get(tag) ?? [])].sort());
  }

  all(): Promise<Map<string, readonly string[]>> {
    const endpoints = [...this.#tags.keys()].sort();
    return Promise.resolve(new Map(endpoints.map((ep) => [ep, [...(this.#tags.get(ep) ?? [])]])));
  }
}
