import { ByteWriter } from './byte-writer.js';
import type { CipherSuite } from './cipher-suites.js';
import { keyBlockLength } from './cipher-suites.js';
import { HmacSha256Key } from './sha256.js';

const encoder = new TextEncoder();

/**
 * PRF(secret, label, seed) = P_SHA256(secret, label + seed), truncated to `length` bytes
 * (RFC 5246 §5): A(0) = label+seed, A(i) = HMAC(secret, A(i-1)), output HMAC(secret, A(i) + label+seed).
 */
export function prf(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array {
  const labelSeed = concat(encoder.encode(label), seed);
  const key = new HmacSha256Key(secret);
  const out = new Uint8Array(length);
  let a: Uint8Array = labelSeed;
  let at = 0;
  while (at < length) {
    a = key.mac(a);
    const block = key.mac(a, labelSeed);
    out.set(length - at >= block.length ? block : block.subarray(0, length - at), at);
    at += block.length;
  }
  return out;
}

/**
 * The PSK premaster secret (RFC 4279 §2): other_secret<0..2^16-1> || psk<0..2^16-1>, where
 * plain PSK suites use N zero bytes as other_secret (N = the PSK's length).
 */
export function pskPremasterSecret(psk: Uint8Array, otherSecret?: Uint8Array): Uint8Array {
  return new ByteWriter()
    .vector(2, otherSecret ?? new Uint8Array(psk.length), 'other_secret')
    .vector(2, psk, 'psk')
    .finish();
}

/** master_secret = PRF(pms, "master secret", client_random + server_random)[0..47] (RFC 5246 §8.1). */
export function masterSecret(
  premaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): Uint8Array {
  return prf(premaster, 'master secret', concat(clientRandom, serverRandom), 48);
}

/**
 * The extended master secret (RFC 7627 §4): PRF(pms, "extended master secret", session_hash),
 * session_hash being the transcript hash up to and including ClientKeyExchange.
 */
export function extendedMasterSecret(premaster: Uint8Array, sessionHash: Uint8Array): Uint8Array {
  return prf(premaster, 'extended master secret', sessionHash, 48);
}

/** The write keys of one direction. */
export interface DirectionKeys {
  macKey: Uint8Array;
  key: Uint8Array;
  /** The fixed (implicit) IV; empty for CBC suites. */
  iv: Uint8Array;
}

export interface KeyBlock {
  client: DirectionKeys;
  server: DirectionKeys;
}

/**
 * key_block = PRF(master, "key expansion", server_random + client_random), cut into
 * client MAC, server MAC, client key, server key, client IV, server IV (RFC 5246 §6.3).
 */
export function keyBlock(
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  suite: CipherSuite,
): KeyBlock {
  const block = prf(master, 'key expansion', concat(serverRandom, clientRandom), keyBlockLength(suite));
  let at = 0;
  const take = (n: number): Uint8Array => block.slice(at, (at += n));
  const clientMac = take(suite.macKeyLength);
  const serverMac = take(suite.macKeyLength);
  const clientKey = take(suite.keyLength);
  const serverKey = take(suite.keyLength);
  const clientIv = take(suite.fixedIvLength);
  const serverIv = take(suite.fixedIvLength);
  return {
    client: { macKey: clientMac, key: clientKey, iv: clientIv },
    server: { macKey: serverMac, key: serverKey, iv: serverIv },
  };
}

/**
 * Finished.verify_data = PRF(master, "client finished" | "server finished", Hash(handshake
 * messages))[0..11] (RFC 5246 §7.4.9).
 */
export function verifyData(
  master: Uint8Array,
  sender: 'client' | 'server',
  handshakeHash: Uint8Array,
): Uint8Array {
  return prf(master, `${sender} finished`, handshakeHash, 12);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
