import { randomBytes, randomFillSync, randomInt } from 'node:crypto';

/** Randomness, injected: tokens, message ids and retransmission jitter come from here. */
export interface RandomSource {
  /** A float in [0, 1). */
  next(): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** An integer in [0, max). */
  int(max: number): number;
}

/**
 * Cryptographic randomness from a pool: one randomFillSync per 4 KiB instead of one per token,
 * which costs more than the rest of a CoAP exchange (measured by the coap benchmark).
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolOffset = POOL_SIZE;

function take(n: number): Buffer {
  if (n > POOL_SIZE) return randomBytes(n);
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export const cryptoRandom: RandomSource = {
  next: () => take(6).readUIntBE(0, 6) / 2 ** 48,
  bytes: (n) => new Uint8Array(take(n)),
  int: (max) => randomInt(0, max),
};

/** A seeded, reproducible source (mulberry32) for tests and simulations; not for secrets. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    bytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256)),
    int: (max) => Math.floor(next() * max),
  };
}
