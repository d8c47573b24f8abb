// The soak run's verdicts, as pure functions over what the run measured.

/** Registrations that do not match between the devices and the server. */
export interface RegistrationComparison {
  /** Devices holding a confirmed registration. */
  readonly believed: number;
  /** Registrations the server holds. */
  readonly held: number;
  /** Endpoints a device believes registered that the server does not hold (lost). */
  readonly missing: readonly string[];
  /** Endpoints whose registration id differs between device and server (lost and replaced, or done twice). */
  readonly mismatched: readonly string[];
  /** Endpoints the server holds twice, or registration ids it uses twice. */
  readonly duplicates: readonly string[];
  /** Endpoints the server holds that no device believes registered (only listed: a device in doubt re-registers). */
  readonly unexpected: readonly string[];
}

/** Compares what the devices believe ([endpoint, id]) with what the server holds. */
export function compareRegistrations(
  believed: readonly (readonly [string, string])[],
  held: readonly { readonly endpoint: string; readonly id: string }[],
): RegistrationComparison {
  const server = new Map<string, string>();
  const ids = new Set<string>();
  const duplicates: string[] = [];
  for (const r of held) {
    if (server.has(r.endpoint) || ids.has(r.id)) duplicates.push(r.endpoint);
    server.set(r.endpoint, r.id);
    ids.add(r.id);
  }
  const missing: string[] = [];
  const mismatched: string[] = [];
  const devices = new Set<string>();
  for (const [endpoint, id] of believed) {
    devices.add(endpoint);
    const at = server.get(endpoint);
    if (at === undefined) missing.push(endpoint);
    else if (at !== id) mismatched.push(endpoint);
  }
  const unexpected = [...server.keys()].filter((e) => !devices.has(e));
  return { believed: believed.length, held: held.length, missing, mismatched, duplicates, unexpected };
}

/** The comparison shows no lost, mismatched, duplicate or unexpected registration. */
export function registrationsIntact(c: RegistrationComparison): boolean {
  return (
    c.missing.length === 0 &&
    c.mismatched.length === 0 &&
    c.duplicates.length === 0 &&
    c.unexpected.length === 0
  );
}

/** |end - base| / base (0 when both are 0). */
export function relativeChange(base: number, end: number): number {
  if (base === 0) return end === 0 ? 0 : Infinity;
  return Math.abs(end - base) / base;
}
