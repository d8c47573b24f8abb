/**
 * What the bootstrap server writes to one device (servers, security, ACLs), stored per endpoint.
 * The configuration's shape is set by the bootstrap issue; the store keeps it as a JSON document
 * and never interprets it.
 */
export type BootstrapConfig = Readonly<Record<string, unknown>>;

/**
 * A bootstrap configuration template for a device type (LightweightM2M-Opt-001): a configuration
 * document with `${name}` placeholders, stored by name. Like a configuration, the store keeps it
 * as a JSON document and never interprets it (src/bootstrap/bootstrap-template.ts does).
 */
export type BootstrapTemplateDocument = Readonly<Record<string, unknown>>;

export interface BootstrapConfigStore {
  put(endpoint: string, config: BootstrapConfig): Promise<void>;
  get(endpoint: string): Promise<BootstrapConfig | undefined>;
  remove(endpoint: string): Promise<BootstrapConfig | undefined>;
  /** Every endpoint with a configuration, with it. */
  all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }>;

  /** Sets or replaces the template called `name`. */
  putTemplate(name: string, template: BootstrapTemplateDocument): Promise<void>;
  getTemplate(name: string): Promise<BootstrapTemplateDocument | undefined>;
  /** Removes a template, returning it; per-endpoint configurations that name it are left alone. */
  removeTemplate(name: string): Promise<BootstrapTemplateDocument | undefined>;
  /** Every template, with its name. */
  templates(): AsyncIterable<{ readonly name: string; readonly template: BootstrapTemplateDocument }>;
}
