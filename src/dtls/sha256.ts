/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in TypeScript, for the handshake's many small
 * hashes: the PRF (RFC 5246 §5), the Finished and cookie MACs and the running transcript.
 *
 * Why not node:crypto: each `createHmac`/`createHash` is a native object with a weak handle, and
 * a PSK handshake made about 30 of them per side. Creating them cost more than hashing the few
 * hundred bytes involved, and the weak handles made every young-generation GC slower (the DTLS
 * benchmark's profile: hash objects and GC were a third of the server's handshake time). Here a
 * hash state is eight 32-bit words, an HMAC key is two such states (ipad and opad blocks already
 * absorbed), and copying either is cheap. Every function is checked against node:crypto in
 * test/dtls/sha256.test.ts. No data-dependent branches or table lookups (constant time in the
 * data, as HMAC over secrets wants).
 */

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

const IV = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** The message schedule, shared: compression never re-enters. */
const W = new Int32Array(64);

/** Absorbs the 64-byte block at `data[offset]` into the state `h`. */
function compress(h: Int32Array, data: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const o = offset + 4 * i;
    W[i] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!;
    const w2 = W[i - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  let f = h[5]!;
  let g = h[6]!;
  let hh = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + K[i]! + W[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + hh) | 0;
}

/**
 * Absorbs `data` into the state `h` whose partial block is `block[0..blockLength)`; returns the
 * new partial length. Whole blocks of `data` are compressed in place, without copying.
 */
function absorb(h: Int32Array, block: Uint8Array, blockLength: number, data: Uint8Array): number {
  let at = 0;
  const n = data.length;
  if (blockLength > 0) {
    const take = Math.min(64 - blockLength, n);
    block.set(take === n ? data : data.subarray(0, take), blockLength);
    blockLength += take;
    at = take;
    if (blockLength < 64) return blockLength;
    compress(h, block, 0);
    blockLength = 0;
  }
  for (; at + 64 <= n; at += 64) compress(h, data, at);
  if (at < n) {
    block.set(at === 0 ? data : data.subarray(at), 0);
    blockLength = n - at;
  }
  return blockLength;
}

/** Pads and compresses the last block (FIPS 180-4 §5.1.1), writing the digest to `out`; spends `h` and `block`. */
function finish(
  h: Int32Array,
  block: Uint8Array,
  blockLength: number,
  total: number,
  out: Uint8Array,
): Uint8Array {
  let length = blockLength;
  block[length++] = 0x80;
  if (length > 56) {
    block.fill(0, length);
    compress(h, block, 0);
    length = 0;
  }
  block.fill(0, length, 56);
  const bits = total * 8;
  writeWord(block, 56, Math.floor(bits / 0x1_0000_0000));
  writeWord(block, 60, bits >>> 0);
  compress(h, block, 0);
  for (let i = 0; i < 8; i++) writeWord(out, 4 * i, h[i]!);
  return out;
}

/** Scratch state for one-shot hashes and digests of running ones (nothing here re-enters). */
const scratchH = new Int32Array(8);
const scratchBlock = new Uint8Array(64);

/** A running SHA-256: `update` any number of times, `digest` (which does not end it) any time. */
export class Sha256 {
  readonly #h = IV.slice();
  readonly #block = new Uint8Array(64);
  #blockLength = 0;
  /** Bytes absorbed so far (2^53 is far beyond any handshake). */
  #total = 0;

  /** An independent copy of this running hash. */
  copy(): Sha256 {
    const c = new Sha256();
    c.#h.set(this.#h);
    c.#block.set(this.#block);
    c.#blockLength = this.#blockLength;
    c.#total = this.#total;
    return c;
  }

  update(data: Uint8Array): this {
    this.#total += data.length;
    this.#blockLength = absorb(this.#h, this.#block, this.#blockLength, data);
    return this;
  }

  /** The hash of everything absorbed so far, into `out` (32 bytes) or a new array. */
  digest(out: Uint8Array = new Uint8Array(32)): Uint8Array {
    scratchH.set(this.#h);
    scratchBlock.set(this.#block);
    return finish(scratchH, scratchBlock, this.#blockLength, this.#total, out);
  }
}

/** SHA-256 of `data` in one call. */
export function sha256(data: Uint8Array): Uint8Array {
  scratchH.set(IV);
  const length = absorb(scratchH, scratchBlock, 0, data);
  return finish(scratchH, scratchBlock, length, data.length, new Uint8Array(32));
}

/**
 * An HMAC-SHA256 key with its two padded blocks already hashed (RFC 2104 §2): each MAC under it
 * costs the compressions of the message and one for the outer hash, nothing for the key, and
 * allocates only its result.
 */
export class HmacSha256Key {
  readonly #inner = IV.slice();
  readonly #outer = IV.slice();

  constructor(key: Uint8Array) {
    const pad = new Uint8Array(64);
    pad.set(key.length > 64 ? sha256(key) : key);
    for (let i = 0; i < 64; i++) pad[i]! ^= 0x36;
    compress(this.#inner, pad, 0);
    for (let i = 0; i < 64; i++) pad[i]! ^= 0x36 ^ 0x5c;
    compress(this.#outer, pad, 0);
  }

  /** HMAC(key, parts[0] || parts[1] || ...). */
  mac(...parts: Uint8Array[]): Uint8Array {
    scratchH.set(this.#inner);
    let length = 0;
    let total = 64;
    for (const p of parts) {
      length = absorb(scratchH, scratchBlock, length, p);
      total += p.length;
    }
    const out = finish(scratchH, scratchBlock, length, total, new Uint8Array(32));
    scratchH.set(this.#outer);
    scratchBlock.set(out);
    return finish(scratchH, scratchBlock, 32, 96, out);
  }
}

/** HMAC-SHA256 of `data` under `key`, in one call. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return new HmacSha256Key(key).mac(...parts);
}

function writeWord(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}
