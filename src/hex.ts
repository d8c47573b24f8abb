/** Char codes of the lower-case hex digits. */
const DIGITS = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** Reused for the char codes of one call (nothing here re-enters). */
const codes: number[] = [];

/**
 * Lower-case hex of a short byte string (a CID, a token, a session id) in one
 * `String.fromCharCode`: a `Buffer` round trip allocated a Buffer per call, on paths that name a
 * session or an exchange for every datagram. Long inputs take the Buffer path. `start`/`end`:
 * the hex of those bytes only, without a view (a CID read where it lies in a record).
 */
export function hex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end - start > 64)
    return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('hex');
  codes.length = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    codes.push(DIGITS[b >> 4]!, DIGITS[b & 15]!);
  }
  return String.fromCharCode.apply(null, codes);
}
