import type { CoapResponse } from '../../coap/endpoint.js';
import { parseCode } from '../../coap/message.js';

/**
 * An error answer with a diagnostic payload (RFC 7252 §5.5.2: UTF-8 text, no Content-Format), for
 * requests a binding refuses before any handler sees them.
 */
export function errorResponse(code: string, diagnostic: string): CoapResponse {
  return { code: parseCode(code) ?? 0xa0, payload: new TextEncoder().encode(diagnostic) };
}
