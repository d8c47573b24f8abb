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

/** Why a Bootstrap-Server has a device bootstrap again (Bootstrap-Request Trigger, /1/x/9; issue 8 Core-001). */
export const PENDING_BOOTSTRAP_REASONS = ['reconfigure', 'rotate', 'unbootstrap'] as const;

/** Why an endpoint's next bootstrap happens (recorded before the server executes /1/x/9). */
export interface PendingBootstrapRecord {
  readonly reason: (typeof PENDING_BOOTSTRAP_REASONS)[number];
  /** When it was asked for (ms since the epoch). */
  readonly requestedAt: number;
}

/** The JSON text persistent stores keep a pending record as: its two members, nothing else. */
export function pendingBootstrapToJson(pending: PendingBootstrapRecord): string {
  return JSON.stringify({ reason: pending.reason, requestedAt: pending.requestedAt });
}

/**
 * A stored pending record, or undefined when the text is not one (a hand-edited row or field):
 * a record the server cannot read is as good as none, and must not stop it from starting.
 */
export function pendingBootstrapFromJson(text: string): PendingBootstrapRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { reason, requestedAt } = parsed as Record<string, unknown>;
  if (!PENDING_BOOTSTRAP_REASONS.some((known) => known === reason)) return undefined;
  if (typeof requestedAt !== 'number' || !Number.isFinite(requestedAt)) return undefined;
  return { reason: reason as PendingBootstrapRecord['reason'], requestedAt };
}

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

  /**
   * Sets or replaces why `endpoint`'s next bootstrap happens (Core-001: the reason is part of the
   * Bootstrap-Server's per-endpoint state, so it survives a restart). Kept apart from the
   * configuration: removing the configuration leaves it (an unbootstrap needs no configuration).
   */
  setPending(endpoint: string, pending: PendingBootstrapRecord): Promise<void>;
  /** The pending record, or undefined when there is none or the stored one does not parse. */
  getPending(endpoint: string): Promise<PendingBootstrapRecord | undefined>;
  /** Removes it; true when there was one. */
  removePending(endpoint: string): Promise<boolean>;
}
