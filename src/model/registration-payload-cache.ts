import type { Link } from './link-format.js';
import type { RegistrationPayload } from './registration-payload.js';
import { parseRegistrationPayload } from './registration-payload.js';

/** Payloads remembered (most recently used kept); a fleet has a few device types, not thousands. */
const DEFAULT_ENTRIES = 512;
/** Longer object lists are parsed every time: they are rare and would make the cache large. */
const MAX_CACHED_BYTES = 2048;

/**
 * Parses Register/Update object lists, handing out one deeply frozen RegistrationPayload per
 * distinct payload. A fleet's devices of one type send the same bytes, so their registrations
 * share one object list instead of holding a copy each (issue 10: 1M registrations within
 * 1 KiB of heap each), and a repeated payload is not parsed again. Payloads that fail to parse
 * are not cached: the error is thrown each time, as by parseRegistrationPayload.
 */
export class RegistrationPayloadCache {
  readonly #entries = new Map<string, RegistrationPayload>();
  readonly #max: number;

  constructor(maxEntries = DEFAULT_ENTRIES) {
    this.#max = Math.max(0, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  parse(payload: Uint8Array): RegistrationPayload {
    if (payload.length > MAX_CACHED_BYTES || this.#max === 0) return parseRegistrationPayload(payload);
    // latin1: one char per byte, so distinct byte strings give distinct keys.
    const key = Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('latin1');
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const parsed = freezePayload(parseRegistrationPayload(payload));
    this.#entries.set(key, parsed);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return parsed;
  }
}

/** The links of a registration that name objects (not the root or alternate-path link), memoised. */
const objectLinkLists = new WeakMap<RegistrationPayload, readonly Link[]>();

export function registeredObjectLinks(payload: RegistrationPayload | undefined): readonly Link[] {
  if (payload === undefined) return NO_LINKS;
  let links = objectLinkLists.get(payload);
  if (links === undefined) {
    const alt = payload.alternatePath;
    links = Object.freeze(payload.links.filter((l) => l.target !== '/' && l.target !== alt));
    objectLinkLists.set(payload, links);
  }
  return links;
}

const NO_LINKS: readonly Link[] = Object.freeze([]);

function freezePayload(payload: RegistrationPayload): RegistrationPayload {
  deepFreeze(payload);
  return payload;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

/** The cache the uplink codecs share (CoAP and MQTT bindings). */
export const sharedRegistrationPayloads = new RegistrationPayloadCache();
