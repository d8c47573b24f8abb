import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborFloat, CborMap, CborTagged, type CborValue } from '../../src/content/cbor/cbor-reader.js';
import { encodeCbor } from '../../src/content/cbor/cbor-writer.js';
import { cborCodec } from '../../src/content/cbor-codec.js';
import { parseRfc3339 } from '../../src/content/rfc3339.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import {
  INT64_MAX,
  INT64_MIN,
  UINT64_MAX,
  valueToText,
  valuesEqual,
  type LwM2mValue,
} from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { valueArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { capturedPayloads } from '../support/captures.js';
import { runMutations } from '../support/mutate.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, ctxAt } from '../support/test-model.js';

// The model is the shared test model: the core objects, and TEST_OBJECT (/42769) with one resource
// of every type (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable). /30000 is not in
// the model.

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const T = `/${TEST_OBJECT}/0`;

function decodeAt(path: string, item: CborValue): LwM2mRecord {
  return decodeBytesAt(path, encodeCbor(item));
}

function decodeBytesAt(path: string, bytes: Uint8Array): LwM2mRecord {
  const records = cborCodec.decode(bytes, ctxAt(path));
  assert.equal(records.length, 1);
  assert.ok(records[0]!.path.equals(LwM2mPath.parse(path)));
  return records[0]!;
}

function encodeAt(path: string, value: LwM2mValue): string {
  return hex(cborCodec.encode([{ path: LwM2mPath.parse(path), value }], ctxAt(path)));
}

describe('CBOR (60): decoding typed by the model', () => {
  const cases: [string, string, CborValue, LwM2mValue][] = [
    ['String: text', '/3/0/0', 'client', { type: 'string', value: 'client' }],
    ['Corelnk: text', `${T}/8`, '</3/0>', { type: 'corelnk', value: '</3/0>' }],
    ['Objlnk: "oid:iid" text', `${T}/1`, '3:0', { type: 'objlnk', value: { objectId: 3, instanceId: 0 } }],
    [
      'Objlnk: FFFF:FFFF is the null link',
      `${T}/1`,
      'FFFF:FFFF',
      { type: 'objlnk', value: { objectId: 65535, instanceId: 65535 } },
    ],
    ['Integer: uint', '/3/0/9', 100, { type: 'integer', value: 100 }],
    ['Integer: negative', '/3/0/9', -100, { type: 'integer', value: -100 }],
    ['Integer: int64 min', '/3/0/9', INT64_MIN, { type: 'integer', value: INT64_MIN }],
    ['Integer: resource instance', '/3/0/7/1', 5000, { type: 'integer', value: 5000 }],
    ['Unsigned: uint64 max', `${T}/4`, UINT64_MAX, { type: 'unsigned', value: UINT64_MAX }],
    ['Time: uint', '/3/0/13', 1795611892, { type: 'time', value: 1795611892 }],
    ['Time: negative int', '/3/0/13', -1, { type: 'time', value: -1 }],
    ['Time: tag 1 int', '/3/0/13', new CborTagged(1, 1363896240), { type: 'time', value: 1363896240 }],
    [
      'Time: tag 1 float, floored',
      '/3/0/13',
      new CborTagged(1, new CborFloat(1363896240.5)),
      { type: 'time', value: 1363896240 },
    ],
    [
      'Time: tag 1 negative float, floored',
      '/3/0/13',
      new CborTagged(1, new CborFloat(-1.5)),
      { type: 'time', value: -2 },
    ],
    [
      'Time: tag 0 RFC 3339',
      '/3/0/13',
      new CborTagged(0, '2013-03-21T20:04:00Z'),
      { type: 'time', value: 1363896240 },
    ],
    ['Float: half', '/6/0/0', new CborFloat(1.5), { type: 'float', value: 1.5 }],
    ['Float: double', '/6/0/0', new CborFloat(12.34), { type: 'float', value: 12.34 }],
    ['Float: NaN', '/6/0/0', new CborFloat(NaN), { type: 'float', value: NaN }],
    ['Float: an int is accepted', '/6/0/0', 43, { type: 'float', value: 43 }],
    ['Float: multiple instance', `${T}/10/2`, new CborFloat(-0.5), { type: 'float', value: -0.5 }],
    ['Boolean', '/1/0/6', true, { type: 'boolean', value: true }],
    ['Opaque: byte string', `${T}/3`, unhex('00ff10'), { type: 'opaque', value: unhex('00ff10') }],
    ['Opaque: empty', `${T}/3`, new Uint8Array(0), { type: 'opaque', value: new Uint8Array(0) }],
    ['none: null', '/3/0/4', null, { type: 'none', value: null }],
  ];
  for (const [name, path, item, expected] of cases) {
    it(name, () => {
      const r = decodeAt(path, item);
      assert.ok(
        r.value && valuesEqual(r.value, expected),
        `${JSON.stringify(r.value, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
      assert.equal(r.inferred, undefined);
    });
  }
});

describe('CBOR (60): unknown resources infer from the CBOR type', () => {
  const cases: [CborValue, LwM2mValue][] = [
    [5, { type: 'integer', value: 5 }],
    [-(2n ** 63n), { type: 'integer', value: INT64_MIN }],
    [UINT64_MAX, { type: 'unsigned', value: UINT64_MAX }],
    [new CborFloat(2), { type: 'float', value: 2 }],
    ['x', { type: 'string', value: 'x' }],
    [unhex('01'), { type: 'opaque', value: unhex('01') }],
    [false, { type: 'boolean', value: false }],
    [null, { type: 'none', value: null }],
    [new CborTagged(1, 7), { type: 'time', value: 7 }],
    [new CborTagged(0, '1970-01-01T00:00:07Z'), { type: 'time', value: 7 }],
  ];
  for (const [item, expected] of cases) {
    it(`${expected.type} ${valueToText(expected)}`, () => {
      const r = decodeAt('/30000/0/1', item);
      assert.equal(r.inferred, true);
      assert.ok(r.value && valuesEqual(r.value, expected));
    });
  }
});

describe('CBOR (60): RFC 3339 date-times (tag 0)', () => {
  it('parses offsets, fractions (floored), lowercase t/z, years below 100 literally', () => {
    assert.equal(parseRfc3339('2013-03-21T20:04:00Z'), 1363896240);
    assert.equal(parseRfc3339('2013-03-21T21:04:00+01:00'), 1363896240);
    assert.equal(parseRfc3339('2013-03-21T15:34:00-04:30'), 1363896240);
    assert.equal(parseRfc3339('2013-03-21t20:04:00.999z'), 1363896240);
    assert.equal(parseRfc3339('1969-12-31T23:59:59Z'), -1);
    assert.equal(parseRfc3339('0001-01-01T00:00:00Z'), -62135596800);
    assert.equal(parseRfc3339('2000-02-29T00:00:00Z'), 951782400);
    assert.equal(parseRfc3339('2016-12-31T23:59:60Z'), 1483228800);
  });

  it('refuses impossible dates and other spellings', () => {
    for (const bad of [
      '2021-02-29T00:00:00Z',
      '2100-02-29T00:00:00Z',
      '2021-13-01T00:00:00Z',
      '2021-04-31T00:00:00Z',
      '2021-01-01T24:00:00Z',
      '2021-01-01T00:60:00Z',
      '2021-01-01T00:00:00',
      '2021-01-01 00:00:00Z',
      '2021-01-01T00:00:00+25:00',
      '21-01-01T00:00:00Z',
      '',
    ])
      assert.equal(parseRfc3339(bad), undefined, bad);
    assertReason(() => decodeAt('/3/0/13', new CborTagged(0, '2021-02-29T00:00:00Z')), 'type-mismatch');
  });
});

describe('CBOR (60): refused input (reason asserted)', () => {
  const typed: [string, string, CborValue, ContentFormatReason][] = [
    ['text for an Integer', '/3/0/9', '5', 'type-mismatch'],
    ['float for an Integer (ints only)', '/3/0/9', new CborFloat(5), 'type-mismatch'],
    ['int for a String', '/3/0/0', 5, 'type-mismatch'],
    ['bytes for a String', '/3/0/0', unhex('61'), 'type-mismatch'],
    ['text for Opaque', `${T}/3`, 'AA==', 'type-mismatch'],
    ['int for a Boolean', '/1/0/6', 1, 'type-mismatch'],
    ['bad Objlnk text', `${T}/1`, '3-0', 'type-mismatch'],
    ['Objlnk as an int', `${T}/1`, 3, 'type-mismatch'],
    ['tag 1 for an Integer', '/3/0/9', new CborTagged(1, 5), 'type-mismatch'],
    ['tag 1 around text for a Time', '/3/0/13', new CborTagged(1, 'x'), 'type-mismatch'],
    ['tag 0 around an int for a Time', '/3/0/13', new CborTagged(0, 5), 'type-mismatch'],
    ['tag 1 infinite float', '/3/0/13', new CborTagged(1, new CborFloat(Infinity)), 'type-mismatch'],
    ['float for a Time', '/3/0/13', new CborFloat(5.5), 'type-mismatch'],
    ['non-null for none', '/3/0/4', 0, 'type-mismatch'],
    ['null for a String', '/3/0/0', null, 'type-mismatch'],
    ['undefined', '/3/0/0', undefined, 'type-mismatch'],
    ['an array', '/3/0/9', [1], 'type-mismatch'],
    ['a map', '/3/0/9', new CborMap([[0, 1]]), 'type-mismatch'],
    ['an array, unknown resource', '/30000/0/1', [1], 'type-mismatch'],
    ['a bignum tag, unknown resource', '/30000/0/1', new CborTagged(2, unhex('01')), 'type-mismatch'],
    ['negative Unsigned', `${T}/4`, -1, 'out-of-range'],
    ['Integer beyond int64', '/3/0/9', INT64_MAX + 1n, 'out-of-range'],
    ['Time beyond int64', '/3/0/13', UINT64_MAX, 'out-of-range'],
    ['negative beyond int64, unknown resource', '/30000/0/1', -(2n ** 64n), 'out-of-range'],
  ];
  for (const [name, path, item, reason] of typed)
    it(`${name} -> ${reason}`, () => assertReason(() => decodeAt(path, item), reason));

  it('the request path must be one value', () => {
    assertReason(() => cborCodec.decode(unhex('01'), ctxAt('/3/0')), 'invalid-path');
    assertReason(() => cborCodec.decode(unhex('01'), ctxAt('/')), 'invalid-path');
    assertReason(() => cborCodec.decode(unhex('01'), ctxAt('/3/0/7')), 'type-mismatch');
    assertReason(() => cborCodec.decode(unhex('01'), ctxAt('/3/0/9/0')), 'type-mismatch');
  });

  const raw: [string, string, ContentFormatReason][] = [
    ['empty payload', '', 'truncated'],
    ['truncated uint16', '1901', 'truncated'],
    ['trailing bytes', '0101', 'trailing-bytes'],
    ['bad UTF-8 text', '62c328', 'bad-utf8'],
    ['length beyond the input', '7a00010000', 'too-large'],
    ['reserved simple value', 'f8ff', 'malformed'],
    ['lone break', 'ff', 'malformed'],
    ['deeply nested tags', 'c1'.repeat(10) + '01', 'too-deep'],
    ['deeply nested arrays', '81'.repeat(10) + '01', 'too-deep'],
  ];
  for (const [name, h, reason] of raw)
    it(`${name} -> ${reason}`, () => assertReason(() => cborCodec.decode(unhex(h), ctxAt('/3/0/0')), reason));
});

describe('CBOR (60): encoding', () => {
  it('writes each type as the smallest CBOR item', () => {
    assert.equal(encodeAt('/3/0/0', { type: 'string', value: 'client' }), '66636c69656e74');
    assert.equal(encodeAt('/3/0/9', { type: 'integer', value: 123 }), '187b');
    assert.equal(encodeAt('/3/0/9', { type: 'integer', value: -1 }), '20');
    assert.equal(encodeAt(`${T}/4`, { type: 'unsigned', value: UINT64_MAX }), '1bffffffffffffffff');
    assert.equal(encodeAt('/3/0/13', { type: 'time', value: 1795611892 }), '1a6b06dcf4');
    assert.equal(encodeAt('/6/0/0', { type: 'float', value: 1.5 }), 'f93e00');
    assert.equal(encodeAt('/6/0/0', { type: 'float', value: 100000 }), 'fa47c35000');
    assert.equal(encodeAt('/6/0/0', { type: 'float', value: 12.34 }), 'fb4028ae147ae147ae');
    assert.equal(encodeAt('/1/0/6', { type: 'boolean', value: false }), 'f4');
    assert.equal(encodeAt(`${T}/3`, { type: 'opaque', value: unhex('010203') }), '43010203');
    assert.equal(encodeAt(`${T}/1`, { type: 'objlnk', value: { objectId: 3, instanceId: 0 } }), '63333a30');
    assert.equal(encodeAt(`${T}/8`, { type: 'corelnk', value: '</3>' }), '643c2f333e');
    assert.equal(encodeAt('/3/0/4', { type: 'none', value: null }), 'f6');
  });

  it('converts to the model type exactly, and infers nothing for unknown resources', () => {
    assert.equal(encodeAt('/6/0/0', { type: 'integer', value: 5 }), 'f94500');
    assert.equal(encodeAt('/3/0/9', { type: 'float', value: 5 }), '05');
    assert.equal(encodeAt('/30000/0/1', { type: 'float', value: 5 }), 'f94500');
    assertReason(() => encodeAt('/3/0/9', { type: 'float', value: 5.5 }), 'not-encodable');
    assertReason(() => encodeAt('/3/0/9', { type: 'string', value: 'x' }), 'not-encodable');
  });

  it('refuses what one CBOR item cannot carry', () => {
    const r: LwM2mRecord = { path: LwM2mPath.parse('/3/0/9'), value: { type: 'integer', value: 1 } };
    assertReason(() => cborCodec.encode([], ctxAt('/3/0/9')), 'not-encodable');
    assertReason(() => cborCodec.encode([r, r], ctxAt('/3/0/9')), 'not-encodable');
    assertReason(() => cborCodec.encode([{ path: r.path }], ctxAt('/3/0/9')), 'not-encodable');
    assertReason(() => cborCodec.encode([{ ...r, time: 5 }], ctxAt('/3/0/9')), 'not-encodable');
    assertReason(() => cborCodec.encode([r], ctxAt('/3/0/0')), 'not-encodable');
    assertReason(
      () => cborCodec.encode([{ path: LwM2mPath.parse('/3/0/7'), value: r.value! }], ctxAt('/3/0/7')),
      'not-encodable',
    );
    assertReason(() => encodeAt('/3/0/0', { type: 'string', value: '\udc00' }), 'not-encodable');
  });
});

describe('CBOR (60): round trips (property)', () => {
  const arbs: [string, fc.Arbitrary<LwM2mValue>][] = [
    ['/3/0/0', valueArb('string')],
    [`${T}/8`, valueArb('corelnk')],
    ['/3/0/9', valueArb('integer')],
    [`${T}/4`, valueArb('unsigned')],
    ['/3/0/13', valueArb('time')],
    ['/6/0/0', valueArb('float')],
    ['/1/0/6', valueArb('boolean')],
    [`${T}/3`, valueArb('opaque', { maxBytes: 64 })],
    [`${T}/1`, valueArb('objlnk')],
  ];
  for (const [path, arb] of arbs) {
    it(`${path}: decode(encode(v)) = v, also for an unknown resource by inference`, () => {
      fc.assert(
        fc.property(arb, (value) => {
          const back = decodeBytesAt(
            path,
            cborCodec.encode([{ path: LwM2mPath.parse(path), value }], ctxAt(path)),
          );
          assert.ok(back.value && valuesEqual(back.value, value));
          // Inference: integers come back as integer (or unsigned past int64), text as string.
          const unknown = LwM2mPath.parse('/30000/0/1');
          const inferred = decodeBytesAt(
            '/30000/0/1',
            cborCodec.encode([{ path: unknown, value }], ctxAt('/30000/0/1')),
          );
          assert.equal(inferred.inferred, true);
          const expectType =
            value.type === 'time'
              ? 'integer'
              : value.type === 'corelnk' || value.type === 'objlnk'
                ? 'string'
                : value.type;
          const t = inferred.value?.type;
          assert.ok(
            t === expectType ||
              (expectType === 'unsigned' && t === 'integer') ||
              (expectType === 'integer' && t === 'unsigned'),
          );
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('CBOR (60): real captures', () => {
  it("client A's CBOR (60) answers decode: /3/0/0, /3/0/9, /3/0/13", (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const found = capturedPayloads(shared, 'lwm2m-1.2-client-udp.jsonl').filter(
      (c) => c.contentFormat === 60,
    );
    const decoded = found.map((c) => {
      const [r] = cborCodec.decode(c.payload, ctxAt(c.requestPath));
      return `${c.requestPath} ${r?.value?.type}`;
    });
    assert.deepEqual(decoded, ['/3/0/0 string', '/3/0/9 integer', '/3/0/13 time']);
    const [name] = cborCodec.decode(found[0]!.payload, ctxAt('/3/0/0'));
    assert.deepEqual(name?.value, { type: 'string', value: 'client' });
  });
});

describe('CBOR (60): seeded mutation loop', () => {
  it('5000 mutated inputs at every resource type throw only ContentFormatError', () => {
    const seeds = [
      '66636c69656e74',
      '187b',
      '1bffffffffffffffff',
      'c11a514b67b0',
      'c074323031332d30332d32315432303a30343a30305a',
      'fb4028ae147ae147ae',
      'f5',
      '43010203',
      '63333a30',
      'f6',
    ].map(unhex);
    const paths = [
      '/3/0/0',
      '/3/0/9',
      `${T}/4`,
      '/3/0/13',
      '/6/0/0',
      '/1/0/6',
      `${T}/3`,
      `${T}/1`,
      '/3/0/4',
      '/30000/0/1',
    ];
    // Every seed meets every path in turn, so mutants are also read as the wrong type.
    const { decoded } = runMutations({
      seeds,
      seed: 60,
      count: 5000,
      decode: (input, i) =>
        cborCodec.decode(input, ctxAt(paths[Math.floor(i / seeds.length) % paths.length])),
    });
    assert.ok(decoded > 0);
  });
});
