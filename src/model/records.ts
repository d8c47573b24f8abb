import type { LwM2mValue } from './data-types.js';
import { LwM2mPath } from './path.js';

/**
 * The flat form every content codec reads and writes: one record per value, each with its absolute
 * path. A record without a value names a container that exists but is empty (an instance with no
 * resources, a multiple resource with no instances) or, in a Read-Composite/Fetch request, just a
 * path. `time` (Unix seconds, may be fractional; negative = relative to now, as SenML says) marks
 * historical records: the same path may then appear again with another time.
 */
export interface LwM2mRecord {
  readonly path: LwM2mPath;
  readonly value?: LwM2mValue;
  readonly time?: number;
  /** Set by decoders when the type came from the format itself, not from an object definition. */
  readonly inferred?: boolean;
}

/** What codecs exchange: records in payload order. */
export type NodeSet = readonly LwM2mRecord[];

/** A record key: path plus time, so historical records with distinct times do not collide. */
function recordKey(r: LwM2mRecord): string {
  return r.time === undefined ? r.path.toString() : `${r.path.toString()}@${r.time}`;
}

/**
 * The first record whose path (and time) repeats an earlier one, or that conflicts with one: a value
 * on a path that another record places a value below (`/3/0/7` = 1 and `/3/0/7/0` = 2).
 */
export function findConflict(
  records: NodeSet,
): { record: LwM2mRecord; reason: 'duplicate' | 'overlap' } | undefined {
  const seen = new Set<string>();
  const valued = new Set<string>();
  for (const r of records) {
    const key = recordKey(r);
    if (seen.has(key)) return { record: r, reason: 'duplicate' };
    seen.add(key);
    if (r.value !== undefined) valued.add(key);
  }
  if (valued.size === 0) return undefined;
  // Overlap: a valued record whose ancestor is also valued (same time). Ancestors are text
  // prefixes of the path ending before a '/', so no path objects are built.
  for (const r of records) {
    const suffix = r.time === undefined ? '' : `@${r.time}`;
    let s = r.path.toString();
    for (let i = s.lastIndexOf('/'); i > 0; i = s.lastIndexOf('/')) {
      s = s.slice(0, i);
      if (valued.has(s + suffix)) return { record: r, reason: 'overlap' };
    }
  }
  return undefined;
}

/** Sorts records into tree order (prefix, object, instance, resource, resource instance, then time). */
export function sortRecords(records: NodeSet): LwM2mRecord[] {
  return [...records].sort((a, b) => LwM2mPath.compare(a.path, b.path) || (a.time ?? 0) - (b.time ?? 0));
}
