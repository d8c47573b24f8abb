// The API token the operator typed, kept in localStorage (per origin) so a reload keeps it.

export const TOKEN_KEY = 'petrel.apiToken';

/** Storage as the browser has it; absent (tests, private modes that throw) means nothing is kept. */
function storage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

export function loadToken(): string | undefined {
  const v = storage()?.getItem(TOKEN_KEY);
  return v === null || v === undefined || v === '' ? undefined : v;
}

export function saveToken(token: string | undefined): void {
  const s = storage();
  if (!s) return;
  if (token === undefined || token === '') s.removeItem(TOKEN_KEY);
  else s.setItem(TOKEN_KEY, token);
}
