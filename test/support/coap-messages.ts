import { CoapCode, type CoapMessage } from '../../src/coap/message.js';

export const EMPTY = new Uint8Array(0);
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A GET with no token, options or payload, overridden by `fields`. */
export const msg = (fields: Partial<CoapMessage> = {}): CoapMessage => ({
  code: CoapCode.GET,
  messageId: 0,
  token: EMPTY,
  options: [],
  payload: EMPTY,
  ...fields,
});

/** A message as plain data, bytes as hex, for deepEqual. */
export const plain = (m: CoapMessage) => ({
  type: m.type,
  code: m.code,
  messageId: m.messageId,
  token: toHex(m.token),
  options: m.options.map((o) => [o.number, toHex(o.value)]),
  payload: toHex(m.payload),
});
