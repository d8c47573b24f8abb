import type { Registration } from '../server/registration.js';
import { documentFromJson, documentToJson } from './document-json.js';

/**
 * A registration as JSON text, for stores that keep it as a document (SQLite, Redis): byte
 * arrays (a raw public key, a certificate, a DTLS Connection ID; Buffers included) become
 * `{"$bytes": base64}` and an infinite expiry (lifetime 0) becomes `{"$number": "Infinity"}`, so
 * the value comes back exactly as it was stored (document-json.ts).
 */
export function registrationToJson(reg: Registration): string {
  return documentToJson(reg);
}

export function registrationFromJson(text: string): Registration {
  return documentFromJson<Registration>(text);
}
