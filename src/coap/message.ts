/**
 * The CoAP message model shared by the UDP codec (RFC 7252 §3), the reliable-transport framing
 * (RFC 8323 §3.2) and the endpoint. Option values are kept as raw bytes in wire order, so a parsed
 * message re-encodes byte for byte; typed access goes through coap/options.ts.
 */

/** Message types (RFC 7252 §3): the 2-bit T field. Reliable transports have none. */
export type CoapType = 'CON' | 'NON' | 'ACK' | 'RST';
export const COAP_TYPES: readonly CoapType[] = ['CON', 'NON', 'ACK', 'RST'];

export interface CoapOption {
  readonly number: number;
  readonly value: Uint8Array;
}

export interface CoapMessage {
  /** UDP only; undefined for messages of a reliable transport (TCP, TLS, WebSockets). */
  readonly type?: CoapType;
  /** The code byte: class << 5 | detail (0x01 GET, 0x45 2.05). */
  readonly code: number;
  /** UDP only (16 bits); 0 on reliable transports. */
  readonly messageId: number;
  /** 0 to 8 bytes. */
  readonly token: Uint8Array;
  /** Sorted by option number; repeated options keep their order. */
  readonly options: readonly CoapOption[];
  readonly payload: Uint8Array;
}

/** Codes by name (RFC 7252 §12.1, RFC 8132, RFC 8323 §5). */
export const CoapCode = {
  EMPTY: 0x00,
  GET: 0x01,
  POST: 0x02,
  PUT: 0x03,
  DELETE: 0x04,
  FETCH: 0x05,
  PATCH: 0x06,
  IPATCH: 0x07,
  CREATED: 0x41,
  DELETED: 0x42,
  VALID: 0x43,
  CHANGED: 0x44,
  CONTENT: 0x45,
  CONTINUE: 0x5f,
  BAD_REQUEST: 0x80,
  UNAUTHORIZED: 0x81,
  BAD_OPTION: 0x82,
  FORBIDDEN: 0x83,
  NOT_FOUND: 0x84,
  METHOD_NOT_ALLOWED: 0x85,
  NOT_ACCEPTABLE: 0x86,
  REQUEST_ENTITY_INCOMPLETE: 0x88,
  CONFLICT: 0x89,
  PRECONDITION_FAILED: 0x8c,
  REQUEST_ENTITY_TOO_LARGE: 0x8d,
  UNSUPPORTED_CONTENT_FORMAT: 0x8f,
  UNPROCESSABLE_ENTITY: 0x96,
  TOO_MANY_REQUESTS: 0x9d,
  INTERNAL_SERVER_ERROR: 0xa0,
  NOT_IMPLEMENTED: 0xa1,
  BAD_GATEWAY: 0xa2,
  SERVICE_UNAVAILABLE: 0xa3,
  GATEWAY_TIMEOUT: 0xa4,
  PROXYING_NOT_SUPPORTED: 0xa5,
  CSM: 0xe1,
  PING: 0xe2,
  PONG: 0xe3,
  RELEASE: 0xe4,
  ABORT: 0xe5,
} as const;

/** `2.05` for 0x45. */
export function formatCode(code: number): string {
  // Every response is named by its code: the 256 names are built once.
  return (code >= 0 && code <= 0xff ? CODE_NAMES[code] : undefined) ?? codeName(code);
}

function codeName(code: number): string {
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}

const CODE_NAMES: readonly string[] = Array.from({ length: 256 }, (_, code) => codeName(code));

/** 0x45 for `2.05`; undefined for text that is not `c.dd` with c 0..7 and dd 00..31. */
export function parseCode(text: string): number | undefined {
  const m = /^([0-7])\.([0-9]{2})$/.exec(text);
  if (!m) return undefined;
  const detail = Number(m[2]);
  return detail > 31 ? undefined : (Number(m[1]) << 5) | detail;
}

export const isEmpty = (code: number): boolean => code === 0;
export const isRequest = (code: number): boolean => code >= 1 && code <= 31;
export const isResponse = (code: number): boolean => code >= 64 && code < 192;
export const isSignal = (code: number): boolean => code >= 224;
export const isSuccess = (code: number): boolean => code >> 5 === 2;
