import { createHash } from 'node:crypto';
import { formatRegistrationPayload } from '../model/registration-payload.js';
import type { RegistrationPayloadInput } from '../model/registration-payload.js';

/** RFC 6920 §9.4 hash suite 6: sha-256 truncated to 32 bits (the spec's `6:1234abcd` example). */
export const PROFILE_HASH_SUITE = 6;

/**
 * The input of the dynamic Profile ID hash (Core §6.2.1 leaves it unspecified; the server treats
 * the id as an opaque cache key). Ours is the object/instance part of the Register payload as
 * formatRegistrationPayload writes it: links sorted by prefix, object id and instance id,
 * duplicate instances dropped, `ver=` on every object that declares a version (1.2.2: the
 * fingerprint includes object versions), no root link (alternate path and content formats are
 * not part of the object list), UTF-8. So the same list in any order gives the same id, and a
 * change of an instance or a version gives another.
 */
export function profileHashInput(objects: RegistrationPayloadInput['objects']): string {
  return formatRegistrationPayload({ objects });
}

/**
 * The dynamic Profile ID of an object list: `6:` + the first 32 bits of sha-256 over
 * profileHashInput, in lowercase hex. Throws LinkPayloadError for an invalid id or version.
 */
export function dynamicProfileId(objects: RegistrationPayloadInput['objects']): string {
  const digest = createHash('sha256').update(profileHashInput(objects), 'utf8').digest();
  return `${PROFILE_HASH_SUITE}:${digest.subarray(0, 4).toString('hex')}`;
}
