/** How the premaster secret is agreed (RFC 4279 PSK, RFC 8422 ECDHE with ECDSA signatures). */
export type KeyExchange = 'psk' | 'ecdhe_ecdsa';
/** The record protection: AES-128-CCM with an 8-byte tag (RFC 6655/7251), or AES-128-CBC + HMAC-SHA256. */
export type BulkCipher = 'aes-128-ccm8' | 'aes-128-cbc-sha256';

/**
 * A cipher suite's parameters (RFC 5246 §6.1 SecurityParameters, Appendix C). All four use the
 * SHA-256 PRF and 12-byte verify_data.
 */
export interface CipherSuite {
  id: number;
  name: string;
  keyExchange: KeyExchange;
  cipher: BulkCipher;
  /** enc_key_length. */
  keyLength: number;
  /** fixed_iv_length: the implicit nonce part in the key block (AEAD only, RFC 5246 §6.3). */
  fixedIvLength: number;
  /** record_iv_length: explicit nonce (CCM, 8) or explicit CBC IV (16) at the start of each fragment. */
  recordIvLength: number;
  /** mac_key_length (CBC only). */
  macKeyLength: number;
  /** mac_length for CBC, the tag length for CCM_8. */
  macLength: number;
}

const ccm8 = {
  cipher: 'aes-128-ccm8',
  keyLength: 16,
  fixedIvLength: 4,
  recordIvLength: 8,
  macKeyLength: 0,
  macLength: 8,
} as const;
const cbc = {
  cipher: 'aes-128-cbc-sha256',
  keyLength: 16,
  fixedIvLength: 0,
  recordIvLength: 16,
  macKeyLength: 32,
  macLength: 32,
} as const;

/** The suites Petrel implements (LwM2M mandates the two CCM_8 ones). */
export const CIPHER_SUITES: readonly CipherSuite[] = [
  { id: 0xc0a8, name: 'TLS_PSK_WITH_AES_128_CCM_8', keyExchange: 'psk', ...ccm8 }, // RFC 6655
  { id: 0xc0ae, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', keyExchange: 'ecdhe_ecdsa', ...ccm8 }, // RFC 7251
  { id: 0x00ae, name: 'TLS_PSK_WITH_AES_128_CBC_SHA256', keyExchange: 'psk', ...cbc }, // RFC 5487
  { id: 0xc023, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', keyExchange: 'ecdhe_ecdsa', ...cbc }, // RFC 5289
];

const byId = new Map(CIPHER_SUITES.map((s) => [s.id, s]));

/** The suite with this code point, or undefined when Petrel does not implement it. */
export function cipherSuite(id: number): CipherSuite | undefined {
  return byId.get(id);
}

/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): a signal in the suite list, not a suite. */
export const EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

/** Total key_block length: two MAC keys, two encryption keys, two fixed IVs (RFC 5246 §6.3). */
export function keyBlockLength(suite: CipherSuite): number {
  return 2 * (suite.macKeyLength + suite.keyLength + suite.fixedIvLength);
}
