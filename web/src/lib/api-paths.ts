// URLs of the REST API routes (docs/rest-api.md, "Path rules").

/** Words right after `/api/clients/{ep}` that are routes, not a gateway prefix. */
const RESERVED = new Set(['composite', 'observations', 'tags']);

/** An LwM2M path as URL segments: `/3/0/7` -> `3/0/7`; a prefix that is a reserved word gets `~`. */
export function pathSegments(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  return parts
    .map((part, i) => {
      if (i === 0 && !/^[0-9]+$/.test(part) && (RESERVED.has(part) || part.startsWith('~')))
        return encodeURIComponent(`~${part}`);
      return encodeURIComponent(part);
    })
    .join('/');
}

export function clientUrl(endpoint: string): string {
  return `/api/clients/${encodeURIComponent(endpoint)}`;
}

/** `/api/clients/{ep}/{path}[/suffix]`. */
export function pathUrl(endpoint: string, path: string, suffix?: string): string {
  const segments = pathSegments(path);
  const base = segments === '' ? clientUrl(endpoint) : `${clientUrl(endpoint)}/${segments}`;
  return suffix === undefined ? base : `${base}/${suffix}`;
}

/** A query string from the defined, non-empty entries (arrays repeat the key). */
export function queryString(params: Record<string, string | number | readonly string[] | undefined>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const v of value as readonly string[]) q.append(key, v);
    else q.append(key, String(value));
  }
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}

/** The LwM2M path one level up (`/3/0/7` -> `/3/0`), `/` at the top. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/**
 * Numeric ids of a path (`/3/0/7` -> [3, 0, 7]), behind a gateway prefix too (`/dev1/3/0` ->
 * [3, 0]); undefined when another part is not an id.
 */
export function pathIds(path: string): number[] | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length > 0 && !/^[0-9]+$/.test(parts[0]!)) parts.shift();
  const ids = parts.map((p) => (/^[0-9]{1,5}$/.test(p) ? Number(p) : NaN));
  return ids.every((n) => Number.isInteger(n) && n <= 65535) ? ids : undefined;
}
