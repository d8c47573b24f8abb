import type { BootstrapConfig, BootstrapConfigStore } from './bootstrap-config-store.js';

/**
 * Bootstrap configurations in a map by endpoint. Lost on exit. A configuration is a document of
 * unknown depth, so it is copied in and out: a caller changing it afterwards changes no stored one
 * (as with the persistent stores).
 */
export class MemoryBootstrapConfigStore implements BootstrapConfigStore {
  readonly #configs = new Map<string, BootstrapConfig>();

  put(endpoint: string, config: BootstrapConfig): Promise<void> {
    this.#configs.set(endpoint, structuredClone(config));
    return Promise.resolve();
  }

  get(endpoint: string): Promise<BootstrapConfig | undefined> {
    const config = this.#configs.get(endpoint);
    return Promise.resolve(config && structuredClone(config));
  }

  remove(endpoint: string): Promise<BootstrapConfig | undefined> {
    const config = this.#configs.get(endpoint);
    this.#configs.delete(endpoint);
    return Promise.resolve(config);
  }

  async *all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }> {
    for (const [endpoint, config] of [...this.#configs])
      yield await Promise.resolve({ endpoint, config: structuredClone(config) });
  }
}
