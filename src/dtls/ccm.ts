import { createCipheriv, type Cipher } from 'node:crypto';

/**
 * AES-128-CCM with an 8-byte tag and a 12-byte nonce (RFC 3610 with M = 8, L = 3; the CCM_8
 * suites of RFC 6655 and RFC 7251), built from two long-lived native AES contexts per key.
 *
 * Why not `createCipheriv('aes-128-ccm')`: node:crypto cannot re-key a CCM context with a new
 * nonce, so every record paid for a new native cipher object (key schedule, wrapper, weak handle)
 * and its garbage; those were most of a small record's cost. CCM is CBC-MAC plus CTR, and both
 * need AES only:
 * - CBC-MAC is the last block of an AES-CBC encryption with a zero IV. One CBC context runs for
 *   the life of the key; its chaining value carries over from the previous record, so the first
 *   block of each record is XORed with it, which is the same as starting from a zero IV.
 * - The CTR keystream is AES-ECB over the counter blocks, all of them in one call.
 * So a record costs two native calls on contexts made once. AES itself stays in OpenSSL (AES-NI,
 * constant time); only XORs and the constant-time tag comparison are done here.
 *
 * Contexts are held for at most MAX_KEYS_WITH_CONTEXTS keys (least recently used first out) so a
 * server with many sessions keeps bounded native memory; a key whose contexts were dropped makes
 * them again on its next record.
 */
export const CCM8_TAG_LENGTH = 8;
const NONCE_LENGTH = 12;
const BLOCK = 16;
/** B0 flags: Adata, M' = (8 - 2) / 2, L' = 3 - 1 (RFC 3610 §2.2). */
const FLAGS_B0_WITH_AAD = 0x40 | (3 << 3) | 2;
const FLAGS_B0_NO_AAD = (3 << 3) | 2;
/** A_i flags: L' only (RFC 3610 §2.3). */
const FLAGS_A = 2;
/** Largest l(a) with the 2-byte length form (RFC 3610 §2.2); records' AAD is far shorter. */
const MAX_SHORT_AAD = 0xfeff;
/** L = 3: a message of at most 2^24 - 1 bytes. */
const MAX_MESSAGE = 0xffffff;

/** Keys whose native contexts are kept (4 KiB or so each). */
export const MAX_KEYS_WITH_CONTEXTS = 4096;

interface Contexts {
  readonly cbc: Cipher;
  readonly ecb: Cipher;
  /** The CBC context's chaining value: the last ciphertext block it produced (also the tag). */
  readonly chain: Uint8Array;
  /** Keystreams made ahead for the nonces after the last one (see keystreamFor); none: undefined. */
  ahead: Keystreams | undefined;
  /** The last nonce's first 6 bytes (fixed IV, epoch) and its counter (sequence number). */
  lastPrefix: Uint8Array;
  lastCounter: number;
}

/** Keystreams for the nonces prefix || counter ... counter + count - 1, `blocks` blocks each. */
interface Keystreams {
  readonly prefix: Uint8Array;
  readonly counter: number;
  readonly count: number;
  readonly blocks: number;
  readonly bytes: Uint8Array;
}

/** Records whose keystreams are made in one call once a key's nonces run in sequence. */
const AHEAD = 8;
/** Blocks made per record ahead: S_0 and 64 bytes of payload at least. */
const AHEAD_MIN_BLOCKS = 5;

/** Keys holding contexts, least recently moved first (Map iteration order). */
const withContexts = new Map<Ccm8Key, true>();
/** Moves to the end of withContexts so far. */
let moves = 0;
/**
 * A key is moved to the end of withContexts on a use only once this many other moves passed
 * since its last: a server's records interleave over many sessions, and moving on every use cost
 * a Map delete and insert per record. At most MOVE_AFTER keys were moved behind a key since its
 * last move, so a full map holds at least as many before it, and eviction (from the head, one
 * key per new key) reaches it only after more moves than that, by when its next use moves it
 * again: least-recently-used eviction still, at half-capacity granularity.
 */
const MOVE_AFTER = MAX_KEYS_WITH_CONTEXTS / 2;

export class Ccm8Key {
  readonly #key: Uint8Array;
  /** `moves` when this key was last moved to the end of withContexts. */
  #movedAt = 0;
  #contexts: Contexts | undefined;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`AES-128-CCM_8 takes a 16-byte key, not ${key.length} bytes`);
    this.#key = Uint8Array.from(key);
  }

  /**
   * ciphertext || tag of `plaintext` under `nonce` (12 bytes) and `aad`, written to `out` at `at`.
   * `plaintext` may be the same bytes as `out` at `at` (sealed in place): the MAC is taken first,
   * and each byte is read before it is overwritten.
   */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, at = 0): void {
    checkLengths(nonce, aad, plaintext.length);
    const c = this.#use();
    const keystream = keystreamFor(c, nonce, plaintext.length);
    const k = keystreamAt;
    const tag = cbcMac(c, nonce, aad, plaintext);
    const n = plaintext.length;
    for (let i = 0; i < n; i++) out[at + i] = plaintext[i]! ^ keystream[k + BLOCK + i]!;
    for (let i = 0; i < CCM8_TAG_LENGTH; i++) out[at + n + i] = tag[i]! ^ keystream[k + i]!;
  }

  /**
   * The plaintext of `sealed[start..end)` (ciphertext || tag), or undefined when it does not
   * authenticate. The bounds let a record be opened where it lies in its datagram, without a view.
   */
  open(
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    start = 0,
    end = sealed.length,
  ): Uint8Array | undefined {
    if (end - start < CCM8_TAG_LENGTH) return undefined;
    const n = end - start - CCM8_TAG_LENGTH;
    checkLengths(nonce, aad, n);
    const c = this.#use();
    const keystream = keystreamFor(c, nonce, n);
    const k = keystreamAt;
    // Its own buffer, not a slab's: the application may keep what it decodes from it.
    const plaintext = new Uint8Array(n);
    for (let i = 0; i < n; i++) plaintext[i] = sealed[start + i]! ^ keystream[k + BLOCK + i]!;
    const tag = cbcMac(c, nonce, aad, plaintext);
    let diff = 0;
    for (let i = 0, t = start + n; i < CCM8_TAG_LENGTH; i++)
      diff |= tag[i]! ^ keystream[k + i]! ^ sealed[t + i]!;
    return diff === 0 ? plaintext : undefined;
  }

  /**
   * Frees the native contexts now (the session ended); a later use makes them again. Without
   * this, keys of closed sessions would hold theirs until the LRU pushed them out.
   */
  release(): void {
    if (this.#contexts === undefined) return;
    withContexts.delete(this);
    this.#contexts = undefined;
  }

  #use(): Contexts {
    let c = this.#contexts;
    if (c !== undefined) {
      if (moves - this.#movedAt > MOVE_AFTER) {
        withContexts.delete(this);
        withContexts.set(this, true);
        this.#movedAt = ++moves;
      }
      return c;
    }
    const cbc = createCipheriv('aes-128-cbc', this.#key, new Uint8Array(BLOCK)).setAutoPadding(false);
    const ecb = createCipheriv('aes-128-ecb', this.#key, null).setAutoPadding(false);
    c = {
      cbc,
      ecb,
      chain: new Uint8Array(BLOCK),
      ahead: undefined,
      lastPrefix: new Uint8Array(6),
      lastCounter: -2,
    };
    this.#contexts = c;
    withContexts.set(this, true);
    this.#movedAt = ++moves;
    if (withContexts.size > MAX_KEYS_WITH_CONTEXTS) {
      const oldest = withContexts.keys().next().value!;
      withContexts.delete(oldest);
      oldest.#contexts = undefined;
    }
    return c;
  }
}

/**
 * Bytes holding S_0 || S_1 || ... covering `length` bytes (RFC 3610 §2.3), from keystreamAt on.
 * A record protection's nonces are fixed IV || epoch || sequence number, and a session's sequence
 * numbers mostly run one by one in each direction: once a key sees the nonce after its last one,
 * the keystreams of the next AHEAD nonces are made in the same native call and later records take
 * theirs from it. Any other nonce (a gap, a retransmission, a test's random nonce) gets its own,
 * as before. The keystream only depends on key and nonce, so making it early changes nothing on
 * the wire.
 */
function keystreamFor(c: Contexts, nonce: Uint8Array, length: number): Uint8Array {
  const blocks = 1 + Math.ceil(length / BLOCK);
  const counter = counterOf(nonce);
  const ahead = c.ahead;
  if (ahead !== undefined && blocks <= ahead.blocks && samePrefix(ahead.prefix, nonce)) {
    const i = counter - ahead.counter;
    if (i >= 0 && i < ahead.count) {
      noteNonce(c, nonce, counter);
      keystreamAt = i * ahead.blocks * BLOCK;
      return ahead.bytes;
    }
  }
  const sequential = counter === c.lastCounter + 1 && samePrefix(c.lastPrefix, nonce);
  noteNonce(c, nonce, counter);
  keystreamAt = 0;
  if (!sequential) {
    c.ahead = undefined;
    return c.ecb.update(counterBlocks(nonce, counter, 1, blocks));
  }
  const count = Math.min(AHEAD, MAX_COUNTER - counter + 1);
  const per = Math.max(blocks, AHEAD_MIN_BLOCKS);
  const bytes = c.ecb.update(counterBlocks(nonce, counter, count, per));
  c.ahead = { prefix: nonce.slice(0, 6), counter, count, blocks: per, bytes };
  return bytes;
}

/**
 * Where the keystream keystreamFor() just returned starts in the bytes it returned (S_0 there,
 * S_1 sixteen bytes on): an offset rather than a view, because a view of node:crypto's Buffer is a
 * FastBuffer made per record.
 */
let keystreamAt = 0;

/** The largest nonce counter (a 48-bit sequence number). */
const MAX_COUNTER = 2 ** 48 - 1;

/** A_0 ... A_{per-1} for each of `count` nonces: `nonce`'s first 6 bytes, counter, counter + 1, ... */
function counterBlocks(nonce: Uint8Array, counter: number, count: number, per: number): Uint8Array {
  const out = scratch(0, count * per * BLOCK);
  const p0 = nonce[0]!;
  const p1 = nonce[1]!;
  const p2 = nonce[2]!;
  const p3 = nonce[3]!;
  const p4 = nonce[4]!;
  const p5 = nonce[5]!;
  for (let r = 0; r < count; r++) {
    const v = counter + r;
    const high = Math.floor(v / 0x1_0000_0000);
    const low = v >>> 0;
    const c0 = (high >>> 8) & 0xff;
    const c1 = high & 0xff;
    const c2 = low >>> 24;
    const c3 = (low >>> 16) & 0xff;
    const c4 = (low >>> 8) & 0xff;
    const c5 = low & 0xff;
    for (let b = 0, o = r * per * BLOCK; b < per; b++, o += BLOCK) {
      out[o] = FLAGS_A;
      out[o + 1] = p0;
      out[o + 2] = p1;
      out[o + 3] = p2;
      out[o + 4] = p3;
      out[o + 5] = p4;
      out[o + 6] = p5;
      out[o + 7] = c0;
      out[o + 8] = c1;
      out[o + 9] = c2;
      out[o + 10] = c3;
      out[o + 11] = c4;
      out[o + 12] = c5;
      out[o + 13] = b >>> 16;
      out[o + 14] = (b >>> 8) & 0xff;
      out[o + 15] = b & 0xff;
    }
  }
  return out;
}

function noteNonce(c: Contexts, nonce: Uint8Array, counter: number): void {
  const prefix = c.lastPrefix;
  for (let i = 0; i < 6; i++) prefix[i] = nonce[i]!;
  c.lastCounter = counter;
}

/** The nonce's last 6 bytes as a number (the record's sequence number). */
function counterOf(nonce: Uint8Array): number {
  const high = (nonce[6]! << 8) | nonce[7]!;
  const low = ((nonce[8]! << 24) | (nonce[9]! << 16) | (nonce[10]! << 8) | nonce[11]!) >>> 0;
  return high * 0x1_0000_0000 + low;
}

function samePrefix(prefix: Uint8Array, nonce: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (prefix[i] !== nonce[i]) return false;
  return true;
}

/** T: the CBC-MAC of B_0 || encoded aad || plaintext, zero-padded to blocks (RFC 3610 §2.2). */
function cbcMac(c: Contexts, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const a = aad.length;
  const n = plaintext.length;
  const aadEnd = a === 0 ? BLOCK : BLOCK * (1 + Math.ceil((a + 2) / BLOCK));
  const input = scratch(1, aadEnd + BLOCK * Math.ceil(n / BLOCK));
  const chain = c.chain;
  // Byte loops rather than set()/fill(): the pieces are a few bytes, and those builtins cost
  // more per call than the copying. The context chains from its previous output: XORing B_0 with
  // it cancels that, so this MAC starts from a zero IV.
  input[0] = (a === 0 ? FLAGS_B0_NO_AAD : FLAGS_B0_WITH_AAD) ^ chain[0]!;
  for (let i = 0; i < NONCE_LENGTH; i++) input[1 + i] = nonce[i]! ^ chain[1 + i]!;
  input[13] = (n >>> 16) ^ chain[13]!;
  input[14] = ((n >>> 8) & 0xff) ^ chain[14]!;
  input[15] = (n & 0xff) ^ chain[15]!;
  let at = BLOCK;
  if (a > 0) {
    input[16] = a >>> 8;
    input[17] = a & 0xff;
    at = 18;
    for (let i = 0; i < a; i++) input[at++] = aad[i]!;
    while (at < aadEnd) input[at++] = 0;
  }
  if (n > 64) {
    input.set(plaintext, at);
    at += n;
  } else for (let i = 0; i < n; i++) input[at++] = plaintext[i]!;
  while (at < input.length) input[at++] = 0; // the last block's zero padding
  const out = c.cbc.update(input);
  // Copied, not viewed: a view of the Buffer node:crypto returns is a FastBuffer, made per record.
  for (let i = 0, from = out.length - BLOCK; i < BLOCK; i++) chain[i] = out[from + i]!;
  return chain;
}

/**
 * Two scratch buffers (counter blocks, CBC-MAC input), grown as needed: what is written to them
 * goes to a native call at once, so they are never held. Returns a view of `length` bytes (a
 * multiple of 16), not cleared: callers write every byte. The views are kept by length, so a
 * record makes none: lengths are few (records of a session are mostly alike).
 */
const scratchBuffers = [new Uint8Array(1024), new Uint8Array(1024)];
const scratchViews: Array<Array<Uint8Array | undefined>> = [[], []];

function scratch(which: 0 | 1, length: number): Uint8Array {
  let b = scratchBuffers[which]!;
  if (b.length < length) {
    b = new Uint8Array(Math.max(length, 2 * b.length));
    scratchBuffers[which] = b;
    scratchViews[which] = [];
  }
  const views = scratchViews[which]!;
  const blocks = length >>> 4;
  if (blocks > 1024) return b.subarray(0, length); // long records: not worth keeping a view
  return (views[blocks] ??= b.subarray(0, length));
}

function checkLengths(nonce: Uint8Array, aad: Uint8Array, messageLength: number): void {
  if (nonce.length !== NONCE_LENGTH)
    throw new RangeError(`CCM_8 takes a 12-byte nonce, not ${nonce.length} bytes`);
  if (aad.length > MAX_SHORT_AAD)
    throw new RangeError(`CCM_8 additional data of ${aad.length} bytes is too long`);
  if (messageLength > MAX_MESSAGE)
    throw new RangeError(`CCM_8 message of ${messageLength} bytes is too long`);
}

/** The slab pooledBytes cuts from, and where its free part starts. */
const SLAB_SIZE = 32 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/**
 * `length` bytes cut from a shared 32 KiB slab, NOT zeroed: for callers that write every byte,
 * and for bytes that are not kept (a view pins its whole slab), such as a record on its way to the
 * socket. A typed array over 64 bytes of its own costs a native allocation, a large share of a
 * small record's cost; here it is the bump of an offset (8-byte aligned).
 */
export function pooledBytes(length: number): Uint8Array {
  if (length > SLAB_SIZE / 4) return new Uint8Array(length);
  if (slabUsed + length > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, length);
  slabUsed += (length + 7) & ~7;
  return out;
}
