import type { DownlinkTarget } from '../binding/binding.js';
import type { Link } from '../model/link-format.js';
import type { RegisteredObject } from '../model/registration-payload.js';
import type { Peer, PeerIdentity } from '../transport/channel.js';

/**
 * One client's registration on the server (Core §6.2.1): what its Register and later Updates said,
 * where it was sent from, and when it expires. Immutable: an Update produces a new value.
 */
export interface Registration {
  /** The id in the Location-Path the client addresses Updates to (`/rd/{id}`). */
  readonly id: string;
  readonly endpoint: string;
  readonly lwm2mVersion: string;
  /** Binding letters (`U`, `UT`, ...), without the 1.0 queue-mode `Q`. */
  readonly binding: string;
  readonly queueMode: boolean;
  /** Seconds; 0 = never expires. */
  readonly lifetime: number;
  readonly sms: string | undefined;
  readonly profileIds: readonly string[];
  /** The object links in effect: the payload's, or those the Profile IDs stand for, or both. */
  readonly objectLinks: readonly Link[];
  readonly objects: readonly RegisteredObject[];
  readonly alternatePath: string | undefined;
  /** Formats from the root link's `ct=`; undefined when none were announced. */
  readonly contentFormats: readonly number[] | undefined;
  /** Where the last Register/Update came from: every downlink goes there (Core §6.2.1). */
  readonly peer: Peer;
  readonly transport: string;
  /** Wall-clock ms (Date.now()) of the Register and of the last Register/Update. */
  readonly registeredAt: number;
  readonly lastUpdateAt: number;
  /** Wall-clock ms when it expires without an Update; Infinity for lifetime 0. */
  readonly expiresAt: number;
  /** Parameters outside the spec that the server was configured to keep. */
  readonly extraParameters: Readonly<Record<string, string | true>>;
}

/** The object versions a registration declared (`ver=`), by object id. */
export function objectVersions(reg: Registration): ReadonlyMap<number, string> {
  // Object lists are shared by the registrations that sent the same one (RegistrationPayloadCache)
  // and never change, so each one's map is built once, not on every downlink.
  let out = versionMaps.get(reg.objects);
  if (out === undefined) {
    const map = new Map<number, string>();
    for (const o of reg.objects)
      if (o.version !== undefined && o.prefix === undefined) map.set(o.id, o.version);
    out = map;
    versionMaps.set(reg.objects, out);
  }
  return out;
}

const versionMaps = new WeakMap<readonly RegisteredObject[], ReadonlyMap<number, string>>();

/** What the binding needs to reach a registered client. */
export function downlinkTarget(reg: Registration): DownlinkTarget {
  return {
    peer: reg.peer,
    lwm2mVersion: reg.lwm2mVersion,
    contentFormats: reg.contentFormats,
    alternatePath: reg.alternatePath,
    objectVersions: objectVersions(reg),
  };
}

/** Whether the client announced the object (and, when given, the instance) in Register/Update. */
export function hasRegisteredObject(reg: Registration, objectId: number, instanceId?: number): boolean {
  return reg.objects.some(
    (o) =>
      o.prefix === undefined &&
      o.id === objectId &&
      (instanceId === undefined || o.instances.includes(instanceId)),
  );
}

/** Whether two peers authenticated as the same identity (both unauthenticated counts as the same). */
export function sameIdentity(a: PeerIdentity | undefined, b: PeerIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if ('psk' in a) return 'psk' in b && a.psk === b.psk;
  if ('x509' in a) return 'x509' in b && Buffer.compare(a.x509.der, b.x509.der) === 0;
  return 'rpk' in b && Buffer.compare(a.rpk, b.rpk) === 0;
}
