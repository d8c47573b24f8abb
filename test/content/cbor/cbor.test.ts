import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as cborg from 'cborg';
import { ContentFormatError } from '../../../src/content/content-format-error.js';
import {
  CborFloat,
  CborMap,
  decodeCbor,
  decodeHalf,
  type CborValue,
} from '../../../src/content/cbor/cbor-reader.js';
import { CborWriter, encodeCbor, encodeHalfExact } from '../../../src/content/cbor/cbor-writer.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

describe('CBOR writer: preferred serialisation (RFC 8949 Appendix A vectors)', () => {
  const ints: [number | bigint, string][] = [
    [0, '00'],
    [23, '17'],
    [24, '1818'],
    [255, '18ff'],
    [256, '190100'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [4294967295, '1affffffff'],
    [4294967296, '1b0000000100000000'],
    [2n ** 64n - 1n, '1bffffffffffffffff'],
    [-1, '20'],
    [-24, '37'],
    [-25, '3818'],
    [-256, '38ff'],
    [-257, '390100'],
    [-(2n ** 64n), '3bffffffffffffffff'],
    [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
  ];
  for (const [n, h] of ints) it(`int ${n}`, () => assert.equal(hex(new CborWriter().int(n).finish()), h));

  const floats: [number, string][] = [
    [0.0, 'f90000'],
    [-0.0, 'f98000'],
    [1.0, 'f93c00'],
    [1.5, 'f93e00'],
    [65504.0, 'f97bff'],
    [100000.0, 'fa47c35000'],
    [3.4028234663852886e38, 'fa7f7fffff'],
    [1.0e300, 'fb7e37e43c8800759c'],
    [5.960464477539063e-8, 'f90001'],
    [0.00006103515625, 'f90400'],
    [-4.0, 'f9c400'],
    [-4.1, 'fbc010666666666666'],
    [Infinity, 'f97c00'],
    [-Infinity, 'f9fc00'],
    [NaN, 'f97e00'],
    [12.34, 'fb4028ae147ae147ae'],
  ];
  for (const [f, h] of floats)
    it(`float ${f}`, () => assert.equal(hex(new CborWriter().float(f).finish()), h));

  it('strings, arrays, maps', () => {
    assert.equal(hex(encodeCbor('IETF')), '6449455446');
    assert.equal(hex(encodeCbor('\u00fc')), '62c3bc');
    assert.equal(hex(encodeCbor(unhex('01020304'))), '4401020304');
    assert.equal(hex(encodeCbor([1, [2, 3], [4, 5]])), '8301820203820405');
    assert.equal(
      hex(
        encodeCbor(
          new CborMap([
            [1, 2],
            [3, 4],
          ]),
        ),
      ),
      'a201020304',
    );
  });
});

describe('CBOR reader', () => {
  it('decodes the RFC vectors, including indefinite lengths and half floats', () => {
    assert.equal(decodeCbor(unhex('1b0000000100000000')), 4294967296);
    assert.equal(decodeCbor(unhex('1bffffffffffffffff')), 2n ** 64n - 1n);
    assert.equal(decodeCbor(unhex('3bffffffffffffffff')), -(2n ** 64n));
    assert.equal(decodeCbor(unhex('3b001fffffffffffff')), -(2n ** 53n));
    assert.deepEqual(decodeCbor(unhex('f93e00')), new CborFloat(1.5));
    assert.deepEqual(decodeCbor(unhex('9f018202039f0405ffff')), [1, [2, 3], [4, 5]]);
    assert.deepEqual(decodeCbor(unhex('5f42010243030405ff')), unhex('0102030405'));
    assert.equal(decodeCbor(unhex('7f657374726561646d696e67ff')), 'streaming');
    const m = decodeCbor(unhex('bf61610161629f0203ffff')) as CborMap;
    assert.deepEqual(m.entries, [
      ['a', 1],
      ['b', [2, 3]],
    ]);
    assert.equal(decodeHalf(0x7bff), 65504);
  });

  const bad: [string, string, string][] = [
    ['', 'truncated', 'empty'],
    ['19', 'truncated', 'head cut'],
    ['62c3', 'too-large', 'string longer than input'],
    ['5affffffff', 'too-large', 'absurd byte string'],
    ['9bffffffffffffffff', 'too-large', 'absurd array'],
    ['bb00000000ffffffff', 'too-large', 'absurd map'],
    ['0000', 'trailing-bytes', 'two items'],
    ['1c', 'malformed', 'reserved ai 28'],
    ['ff', 'malformed', 'lone break'],
    ['62c328', 'bad-utf8', 'bad utf-8'],
    ['5f4101610aff', 'malformed', 'text chunk in bytes'],
    ['f800', 'malformed', 'simple value 0 via 24'],
    ['e0', 'malformed', 'unassigned simple'],
    ['9f01', 'truncated', 'indefinite array without break'],
    ['1f', 'malformed', 'indefinite integer'],
  ];
  for (const [h, reason, what] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => decodeCbor(unhex(h)),
        (e: unknown) => e instanceof ContentFormatError && e.reason === reason,
      );
    });
  }

  it('bounds nesting depth and item count', () => {
    const deep = new Uint8Array(100_000).fill(0x81);
    assert.throws(
      () => decodeCbor(deep),
      (e: unknown) => e instanceof ContentFormatError && e.reason === 'too-deep',
    );
    const many = unhex('9f' + '00'.repeat(2000) + 'ff');
    assert.throws(
      () => decodeCbor(many, { maxItems: 1000 }),
      (e: unknown) => e instanceof ContentFormatError && e.reason === 'too-large',
    );
  });

  it('half float detection agrees with a brute-force check of all 65536 halves', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f = decodeHalf(h);
      if (Number.isNaN(f)) continue;
      assert.equal(encodeHalfExact(f), h, `half 0x${h.toString(16)}`);
    }
    assert.equal(encodeHalfExact(1 + 2 ** -11), undefined);
    assert.equal(encodeHalfExact(65519), undefined);
  });
});

const cborValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc
      .bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n })
      .map((b) =>
        b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b,
      ),
    fc.double().map((d) => new CborFloat(d)),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.array(fc.tuple(tie('v'), tie('v')), { maxLength: 4 }).map((e) => new CborMap(e)),
  ),
})).v;

describe('CBOR round trip and agreement with cborg', () => {
  it('decode(encode(v)) equals v', () => {
    fc.assert(
      fc.property(cborValue, (v) => {
        const out = decodeCbor(encodeCbor(v), { maxDepth: 64 });
        assert.deepEqual(normalise(out), normalise(v));
      }),
      { numRuns: 500 },
    );
  });

  it('our bytes decode the same with cborg, and cborg bytes decode the same with ours', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer(),
            fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
            fc.string(),
            fc.boolean(),
          ),
        ),
        (arr) => {
          const ours = encodeCbor(
            arr.map((x) => (typeof x === 'number' && !Number.isInteger(x) ? new CborFloat(x) : x)),
          );
          const theirs = cborg.encode(arr);
          assert.deepEqual(cborg.decode(ours), arr);
          assert.deepEqual(normalise(decodeCbor(theirs)), arr);
          // Both use preferred serialisation, so the bytes agree too.
          assert.equal(hex(ours), hex(theirs));
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** Floats to numbers (for comparing), maps to entry arrays. */
function normalise(v: CborValue): unknown {
  if (v instanceof CborFloat) return v.value;
  if (v instanceof CborMap) return { map: v.entries.map(([k, x]) => [normalise(k), normalise(x)]) };
  if (Array.isArray(v)) return v.map(normalise);
  return v;
}
