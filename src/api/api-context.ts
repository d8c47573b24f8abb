import type { ServerResponse } from 'node:http';
import type { BootstrapServer } from '../bootstrap/bootstrap-server.js';
import type { ObjectModel } from '../model/object-definition.js';
import type { LwM2mServer } from '../server/lwm2m-server.js';
import type { Registration } from '../server/registration.js';
import type { BootstrapConfigStore } from '../store/bootstrap-config-store.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { EventLog } from '../store/event-log.js';
import type { Stores } from '../store/stores.js';
import type { TagStore } from '../store/tag-store.js';
import { ApiError } from './api-errors.js';
import type { ClientState } from './client-summary.js';
import type { ServerMonitor } from './server-monitor.js';

/** The server's own (D)TLS identity as devices see it: never a private key or a PSK. */
export interface ServerSecurityInfo {
  /** The PSK identity hint the server sends in ServerKeyExchange (RFC 4279 §2). */
  readonly pskHint?: string;
  /** The server's raw public key (RFC 7250): SubjectPublicKeyInfo, DER, hex. */
  readonly publicKey?: string;
  /** The server's certificate: its subject and the DER, hex. */
  readonly certificate?: { readonly subject: string; readonly der: string };
}

/**
 * What the security and bootstrap routes work with: all an API needs beside a Bootstrap-Server
 * that runs without a LwM2M server (`petrel bootstrap`).
 */
export interface BootstrapApiContext {
  /** Devices' security information; the /api/security routes answer 503 without it. */
  readonly credentials: CredentialStore | undefined;
  /** Per-endpoint bootstrap configurations; the /api/bootstrap/clients routes answer 503 without it. */
  readonly bootstrapConfigs?: BootstrapConfigStore;
  /** The Bootstrap-Server of this process; /api/bootstrap/sessions answers 503 without it. */
  readonly bootstrap?: BootstrapServer;
  /** The server's own DTLS identity, shown by GET /api/security/server (none: `{}`). */
  readonly serverSecurity?: ServerSecurityInfo;
}

/** What every route module works with: the server, the stores, and the process's observations of them. */
export interface ApiContext extends BootstrapApiContext {
  readonly server: LwM2mServer;
  readonly tags: TagStore;
  readonly events: EventLog;
  readonly storeKind: Stores['kind'];
  readonly model: ObjectModel;
  readonly monitor: ServerMonitor;
  /** Wall-clock ms. */
  readonly now: () => number;
  readonly startedAt: Date;
  readonly coap: { readonly address: string; readonly port: number } | null;
  /** Milliseconds between SSE heartbeat comments. */
  readonly heartbeatMs: number;
  /** Open SSE responses, ended when the app closes. */
  readonly streams: Set<ServerResponse>;
  /** Most SSE responses open at once; one more is refused with 503 UNAVAILABLE. */
  readonly maxStreams: number;
  /** A fresh id for a queued request. */
  newId(): string;
  /** Logs an error no caller waits for (an event append that failed). */
  reportError(error: unknown): void;
}

/** The registration of `endpoint`, or 404 UNKNOWN_CLIENT. */
export async function requireRegistration(ctx: ApiContext, endpoint: string): Promise<Registration> {
  const reg = await ctx.server.getRegistration(endpoint);
  if (!reg) throw new ApiError('UNKNOWN_CLIENT', `no client "${clipName(endpoint)}" is registered`);
  return reg;
}

/** The live state of a registered client as summaries show it. */
export function clientState(ctx: ApiContext, reg: Registration, tags: readonly string[]): ClientState {
  const lastActivity = ctx.monitor.lastActivity(reg.endpoint);
  return {
    awake: ctx.server.isAwake(reg.endpoint),
    tags,
    ...(lastActivity === undefined ? {} : { lastActivity }),
  };
}

/** A name from a URL in a message: cut short, so a huge input makes no huge message. */
export function clipName(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
