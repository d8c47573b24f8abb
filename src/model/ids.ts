/** LwM2M identifiers (object, instance, resource, resource instance) are uint16; 65535 is reserved (MAX_ID). */
export const MAX_ID = 65535;

/** The null object link is `65535:65535`; LwM2M CBOR uses instance 65535 for "client assigns" in Create. */
export const NULL_ID = MAX_ID;

/** True for a usable identifier: an integer in 0..65534. */
export function isValidId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < MAX_ID;
}

/** Short Server IDs are 1..65534. */
export function isValidShortServerId(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id < MAX_ID;
}
