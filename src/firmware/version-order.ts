// The order of firmware versions for anti-rollback and minimum-version checks. Only dotted
// numeric versions ("2", "2.4", "2.4.10") are ordered: component by component as integers,
// a missing component counts as 0 (so 2.4 = 2.4.0), leading zeros do not matter (2.04 = 2.4).

const DOTTED = /^[0-9]{1,15}(?:\.[0-9]{1,15}){0,15}$/;

/** The numeric components of a dotted version, or undefined when `text` is not one. */
export function parseDottedVersion(text: string): number[] | undefined {
  return DOTTED.test(text) ? text.split('.').map(Number) : undefined;
}

/**
 * Compares two dotted numeric versions: negative when a < b, 0 when equal, positive when a > b;
 * undefined when either is not a dotted numeric version (the versions cannot be ordered).
 */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parseDottedVersion(a);
  const y = parseDottedVersion(b);
  if (x === undefined || y === undefined) return undefined;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
