import type { Registration } from '../server/registration.js';

/**
 * A registration as JSON text, for stores that keep it as a document (SQLite, Redis): byte
 * arrays (a raw public key, a certificate, a DTLS Connection ID) become `{"$bytes": base64}` and
 * an infinite expiry (lifetime 0) becomes `{"$number": "Infinity"}`, so the value comes back
 * exactly as it was stored.
 */
export function registrationToJson(reg: Registration): string {
  return JSON.stringify(reg, (_key, value: unknown) => {
    if (value instanceof Uint8Array)
      return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
    if (typeof value === 'number' && !Number.isFinite(value)) return { $number: String(value) };
    return value;
  });
}

export function registrationFromJson(text: string): Registration {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === '$bytes')
        return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'));
      if (keys.length === 1 && keys[0] === '$number') return Number((value as { $number: string }).$number);
    }
    return value;
  }) as Registration;
}
