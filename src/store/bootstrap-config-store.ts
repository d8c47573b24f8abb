/**
 * What the bootstrap server writes to one device (servers, security, ACLs), stored per endpoint.
 * The configuration's shape is set by the bootstrap issue; the store keeps it as a JSON document
 * and never interprets it.
 */
export type BootstrapConfig = Readonly<Record<string, unknown>>;

export interface BootstrapConfigStore {
  put(endpoint: string, config: BootstrapConfig): Promise<void>;
  get(endpoint: string): Promise<BootstrapConfig | undefined>;
  remove(endpoint: string): Promise<BootstrapConfig | undefined>;
  /** Every endpoint with a configuration, with it. */
  all(): AsyncIterable<{ readonly endpoint: string; readonly config: BootstrapConfig }>;
}
