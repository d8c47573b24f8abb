import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import type { KeyExchange } from './cipher-suites.js';
import { DtlsError } from './dtls-errors.js';

/** A signature with its algorithm (RFC 5246 §4.7 digitally-signed, §7.4.1.4.1). */
export interface DigitallySigned {
  /** SignatureAndHashAlgorithm as hash << 8 | signature (0x0403 = ecdsa_secp256r1_sha256). */
  scheme: number;
  signature: Uint8Array;
}

/** ECParameters for a named curve plus the server's ephemeral point (RFC 8422 §5.4). */
export interface ServerEcdhParams {
  namedCurve: number;
  /** The encoded point (uncompressed: 0x04 || x || y). */
  publicKey: Uint8Array;
}

export type ServerKeyExchange =
  /** RFC 4279 §2: the PSK identity hint (may be empty). */
  | { keyExchange: 'psk'; identityHint: Uint8Array }
  | { keyExchange: 'ecdhe_ecdsa'; params: ServerEcdhParams; signed: DigitallySigned };

export type ClientKeyExchange =
  /** RFC 4279 §2: the PSK identity (RFC 4279 §5.3: up to 128 bytes). */
  | { keyExchange: 'psk'; identity: Uint8Array }
  /** RFC 8422 §5.7: the client's ephemeral point. */
  | { keyExchange: 'ecdhe_ecdsa'; publicKey: Uint8Array };

const NAMED_CURVE = 3; // ECCurveType.named_curve (RFC 8422 §5.4)

export function readDigitallySigned(r: ByteReader): DigitallySigned {
  return { scheme: r.u16('signature_algorithm'), signature: r.vector(2, 'signature') };
}

export function writeDigitallySigned(w: ByteWriter, s: DigitallySigned): ByteWriter {
  return w.u16(s.scheme).vector(2, s.signature, 'signature');
}

/**
 * The ServerECDHParams bytes exactly as signed: the ECDSA signature covers client_random +
 * server_random + these bytes (RFC 8422 §5.4).
 */
export function encodeServerEcdhParams(p: ServerEcdhParams): Uint8Array {
  return new ByteWriter().u8(NAMED_CURVE).u16(p.namedCurve).vector(1, p.publicKey, 'point').finish();
}

export function decodeServerKeyExchange(body: Uint8Array, keyExchange: KeyExchange): ServerKeyExchange {
  const r = new ByteReader(body, 'ServerKeyExchange');
  let out: ServerKeyExchange;
  if (keyExchange === 'psk') {
    out = { keyExchange, identityHint: r.vector(2, 'psk_identity_hint') };
  } else {
    const curveType = r.u8('curve_type');
    if (curveType !== NAMED_CURVE)
      throw new DtlsError('unsupported', `ECCurveType ${curveType} (only named_curve)`, {
        alert: AlertDescription.illegal_parameter,
      });
    const namedCurve = r.u16('namedcurve');
    const publicKey = r.vector(1, 'point', 1);
    out = { keyExchange, params: { namedCurve, publicKey }, signed: readDigitallySigned(r) };
  }
  r.end();
  return out;
}

export function encodeServerKeyExchange(m: ServerKeyExchange): Uint8Array {
  if (m.keyExchange === 'psk')
    return new ByteWriter().vector(2, m.identityHint, 'psk_identity_hint').finish();
  const w = new ByteWriter().bytes(encodeServerEcdhParams(m.params));
  return writeDigitallySigned(w, m.signed).finish();
}

export function decodeClientKeyExchange(body: Uint8Array, keyExchange: KeyExchange): ClientKeyExchange {
  const r = new ByteReader(body, 'ClientKeyExchange');
  const out: ClientKeyExchange =
    keyExchange === 'psk'
      ? { keyExchange, identity: r.vector(2, 'psk_identity') }
      : { keyExchange, publicKey: r.vector(1, 'ecdh_Yc', 1) };
  r.end();
  return out;
}

export function encodeClientKeyExchange(m: ClientKeyExchange): Uint8Array {
  return m.keyExchange === 'psk'
    ? new ByteWriter().vector(2, m.identity, 'psk_identity').finish()
    : new ByteWriter().vector(1, m.publicKey, 'ecdh_Yc').finish();
}
