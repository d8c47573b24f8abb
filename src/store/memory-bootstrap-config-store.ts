import type {
  BootstrapConfig,
  BootstrapConfigStore,
  BootstrapTemplateDocument,
  PendingBootstrapRecord,
} from './bootstrap-config-store.js';

/**
 * Bootstrap configurations in a map by endpoint (templates in one by name, pending bootstrap
 * reasons in another by endpoint). Lost on exit. A configuration is a document of
 * unknown depth, so it is copied in and out: a caller changing it afterwards changes no stored one
 * (as with the persistent stores).
 */
export class MemoryBootstrapConfigStore implements BootstrapConfigStore {
  readonly #configs = new Map<string, BootstrapConfig>();
  readonly #templates = new Map<string, BootstrapTemplateDocument>();
  readonly #pending = new Map<string, PendingBootstrapRecord>();

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

  putTemplate(name: string, template: BootstrapTemplateDocument): Promise<void> {
    this.#templates.set(name, structuredClone(template));
    return Promise.resolve();
  }

  getTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    const template = this.#templates.get(name);
    return Promise.resolve(template && structuredClone(template));
  }

  removeTemplate(name: string): Promise<BootstrapTemplateDocument | undefined> {
    const template = this.#templates.get(name);
    this.#templates.delete(name);
    return Promise.resolve(template);
  }

  async *templates(): AsyncIterable<{ readonly name: string; readonly template: BootstrapTemplateDocument }> {
    for (const [name, template] of [...this.#templates])
      yield await Promise.resolve({ name, template: structuredClone(template) });
  }

  setPending(endpoint: string, pending: PendingBootstrapRecord): Promise<void> {
    this.#pending.set(endpoint, { reason: pending.reason, requestedAt: pending.requestedAt });
    return Promise.resolve();
  }

  getPending(endpoint: string): Promise<PendingBootstrapRecord | undefined> {
    const pending = this.#pending.get(endpoint);
    return Promise.resolve(pending && { ...pending });
  }

  removePending(endpoint: string): Promise<boolean> {
    return Promise.resolve(this.#pending.delete(endpoint));
  }
}
