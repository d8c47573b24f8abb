import type { Registration } from '../server/registration.js';
import type { PeerIdentity } from '../transport/channel.js';
import type { LinkJson } from './operation-response.js';
import { linkToJson } from './operation-response.js';

/** One registered client as lists show it (docs/rest-api.md "ClientSummary"). */
export interface ClientSummary {
  readonly endpoint: string;
  readonly registrationId: string;
  readonly lwm2mVersion: string;
  readonly binding: string;
  readonly queueMode: boolean;
  readonly lifetime: number;
  readonly status: 'awake' | 'sleeping';
  readonly registeredAt: string;
  readonly lastSeen: string;
  readonly expiresAt: string | null;
  readonly address: string;
  readonly transport: string;
  readonly tags: readonly string[];
  readonly security: ClientSecurity;
}

/**
 * How the client authenticated, from the identity its (D)TLS handshake proved: the PSK identity,
 * the raw public key (SubjectPublicKeyInfo, DER, hex: the form /api/security/clients shows), or
 * the certificate subject. A client on plain CoAP has none: `nosec`.
 */
export interface ClientSecurity {
  readonly mode: 'psk' | 'rpk' | 'x509' | 'nosec';
  readonly identity?: string;
}

/** ClientSummary plus everything the Register/Update said. */
export interface ClientDetails extends ClientSummary {
  readonly sms: string | null;
  readonly profileIds: readonly string[];
  readonly alternatePath: string | null;
  readonly contentFormats: readonly number[] | null;
  readonly objectLinks: readonly LinkJson[];
  readonly objects: readonly {
    id: number;
    version: string | null;
    instances: readonly number[];
    prefix?: string;
  }[];
  readonly extraParameters: Readonly<Record<string, string | true>>;
  readonly observations: number;
}

export interface ClientState {
  /** server.isAwake(endpoint): false only for a sleeping queue-mode client. */
  readonly awake: boolean;
  readonly tags: readonly string[];
  /** Wall-clock ms of the last message seen from the client, when known. */
  readonly lastActivity?: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `ip:port`, with brackets around an IPv6 address. */
export function formatAddress(peer: { readonly address: string; readonly port: number }): string {
  return peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
}

export function clientSecurity(identity: PeerIdentity | undefined): ClientSecurity {
  if (identity === undefined) return { mode: 'nosec' };
  if ('psk' in identity) return { mode: 'psk', identity: identity.psk };
  if ('rpk' in identity) return { mode: 'rpk', identity: Buffer.from(identity.rpk).toString('hex') };
  return { mode: 'x509', identity: identity.x509.subject };
}

export function clientSummary(reg: Registration, state: ClientState): ClientSummary {
  const lastSeen = Math.max(reg.lastUpdateAt, state.lastActivity ?? 0);
  return {
    endpoint: reg.endpoint,
    registrationId: reg.id,
    lwm2mVersion: reg.lwm2mVersion,
    binding: reg.binding,
    queueMode: reg.queueMode,
    lifetime: reg.lifetime,
    status: reg.queueMode && !state.awake ? 'sleeping' : 'awake',
    registeredAt: iso(reg.registeredAt),
    lastSeen: iso(lastSeen),
    expiresAt: Number.isFinite(reg.expiresAt) ? iso(reg.expiresAt) : null,
    address: formatAddress(reg.peer),
    transport: reg.transport,
    tags: [...state.tags],
    security: clientSecurity(reg.peer.identity),
  };
}

export function clientDetails(reg: Registration, state: ClientState, observations: number): ClientDetails {
  return {
    ...clientSummary(reg, state),
    sms: reg.sms ?? null,
    profileIds: [...reg.profileIds],
    alternatePath: reg.alternatePath ?? null,
    contentFormats: reg.contentFormats === undefined ? null : [...reg.contentFormats],
    objectLinks: reg.objectLinks.map(linkToJson),
    objects: reg.objects.map((o) => ({
      id: o.id,
      version: o.version ?? null,
      instances: [...o.instances],
      ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
    })),
    extraParameters: { ...reg.extraParameters },
    observations,
  };
}

export interface ClientFilter {
  readonly search?: string;
  readonly tags?: readonly string[];
  readonly status?: 'awake' | 'sleeping';
  readonly version?: string;
  /** Every letter must be among the client's binding letters (`U` matches `UT`). */
  readonly binding?: string;
}

/** Whether a summary passes the list filters (docs/rest-api.md GET /api/clients). */
export function matchesClient(
  summary: Pick<ClientSummary, 'endpoint' | 'tags' | 'status' | 'lwm2mVersion' | 'binding'>,
  filter: ClientFilter,
): boolean {
  if (filter.search && !summary.endpoint.toLowerCase().includes(filter.search.toLowerCase())) return false;
  if (filter.tags && !filter.tags.every((t) => summary.tags.includes(t))) return false;
  if (filter.status && summary.status !== filter.status) return false;
  if (filter.version && summary.lwm2mVersion !== filter.version) return false;
  if (filter.binding && ![...filter.binding].every((letter) => summary.binding.includes(letter)))
    return false;
  return true;
}
