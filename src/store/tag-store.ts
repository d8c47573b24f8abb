/**
 * Free labels an operator puts on devices (`site:paris`, `fw-beta`), for filtering and campaigns.
 * They belong to the endpoint, not to a registration: they survive re-registration and expiry.
 */
export interface TagStore {
  /**
   * Replaces the endpoint's tags (deduplicated, first places kept) and returns them; an empty list
   * removes them. A tag breaking TAG_PATTERN, or more than MAX_TAGS distinct ones, is a TagError
   * (store-errors.ts) naming the tag and why, and changes nothing.
   */
  set(endpoint: string, tags: readonly string[]): Promise<readonly string[]>;
  get(endpoint: string): Promise<readonly string[]>;
  /** Endpoints carrying the tag, sorted (JavaScript string order). */
  endpointsWith(tag: string): Promise<string[]>;
  /** Every tagged endpoint with its tags, in endpoint order. */
  all(): Promise<Map<string, readonly string[]>>;
}

/** The rules a tag follows: 1-64 printable characters, no spaces or commas (they separate tags in queries). */
export const TAG_PATTERN = /^[\x21-\x2b\x2d-\x7e]{1,64}$/;
/** Most tags on one endpoint. */
export const MAX_TAGS = 32;
