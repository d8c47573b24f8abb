import type { Redis } from 'ioredis';

/**
 * The fields and values of a Redis hash, HSCAN page by page (bounded replies however large the
 * fleet). HSCAN may return a field twice while the hash is rehashed; each field is yielded once.
 */
export async function* scanHash(redis: Redis, key: string): AsyncIterable<readonly [string, string]> {
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 500);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i] ?? '';
      if (seen.has(field)) continue;
      seen.add(field);
      yield [field, flat[i + 1] ?? ''] as const;
    }
  } while (cursor !== '0');
}
