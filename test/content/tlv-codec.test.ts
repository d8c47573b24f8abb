import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext } from '../../src/content/content-codec.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { tlvCodec } from '../../src/content/tlv-codec.js';
import type { LwM2mValue } from '../../src/model/data-types.js';
import { INT64_MAX, INT64_MIN, UINT64_MAX, Value, normalizeInteger } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { sortRecords, type LwM2mRecord } from '../../src/model/records.js';
import { idArb, instanceRecordsArb, valueArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { capturedPayloadsOf } from '../support/captures.js';
import { DEVICE_EXAMPLE } from '../support/device-example.js';
import { mutateCodec } from '../support/mutate.js';
import { plain, rec } from '../support/records.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, TEST_RESOURCES, ctxAt } from '../support/test-model.js';

// The model is the shared test model: the core objects, and /42769 with one resource of every type
// (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable).

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

const decode = (h: string, path: string, extra?: Partial<CodecContext>): unknown[] =>
  plain(tlvCodec.decode(hex(h), ctxAt(path, extra)));
const encode = (records: readonly LwM2mRecord[], path: string): string =>
  toHex(tlvCodec.encode(records, ctxAt(path)));

// The /3/0 instance of the spec's example, built from the type-byte rules (the spec's own hex has
// inconsistent lengths, see LWM2M-1.2.md §2.3).
const DEVICE_RESOURCES = [
  'c8 00 14' + ascii('Open Mobile Alliance'),
  'c8 01 16' + ascii('Lightweight M2M Client'),
  'c8 02 09' + ascii('345000123'),
  'c3 03' + ascii('1.0'),
  '86 06  41 00 01  41 01 05', // multiple, inline length 6
  '88 07 08  42 00 0e d8  42 01 13 88', // multiple, 8 bytes: needs the 8-bit length field
  '87 08  41 00 7d  42 01 03 84',
  'c1 09 64',
  'c1 0a 0f',
  '83 0b  41 00 00',
  'c4 0d 51 82 42 8f',
  'c6 0e' + ascii('+02:00'),
  'c1 10 55',
].join('');

describe('tlvCodec: spec examples', () => {
  it('decodes C8 00 14 "Open Mobile Alliance" as resource 0, a string', () => {
    const bytes = 'c8 00 14' + ascii('Open Mobile Alliance');
    const expected = plain([rec('/3/0/0', Value.string('Open Mobile Alliance'))]);
    assert.deepEqual(decode(bytes, '/3/0/0'), expected);
    assert.deepEqual(decode(bytes, '/3/0'), expected);
    assert.equal(encode([rec('/3/0/0', Value.string('Open Mobile Alliance'))], '/3/0/0'), toHex(hex(bytes)));
  });

  it('decodes and re-encodes the /3/0 instance byte for byte', () => {
    assert.deepEqual(decode(DEVICE_RESOURCES, '/3/0'), plain(DEVICE_EXAMPLE));
    assert.equal(encode(DEVICE_EXAMPLE, '/3/0'), toHex(hex(DEVICE_RESOURCES)));
  });

  it('wraps the instance at object level (121 bytes: 8-bit length) and accepts the wrapper at instance level', () => {
    assert.equal(hex(DEVICE_RESOURCES).length, 121);
    const wrapped = '08 00 79' + DEVICE_RESOURCES;
    assert.equal(encode(DEVICE_EXAMPLE, '/3'), toHex(hex(wrapped)));
    assert.deepEqual(decode(wrapped, '/3'), plain(DEVICE_EXAMPLE));
    assert.deepEqual(decode(wrapped, '/3/0'), plain(DEVICE_EXAMPLE));
  });

  it('encodes several instances and an empty instance at object level', () => {
    const records = [rec('/1/0/1', Value.integer(300)), rec('/1/2'), rec('/1/1/6', Value.boolean(true))];
    const bytes = encode(records, '/1');
    assert.equal(bytes, '0400c201012c' + '0301c10601' + '0002');
    assert.deepEqual(decode(bytes, '/1'), plain(sortRecords(records)));
  });

  it('places records below a request path with a gateway prefix', () => {
    const expected = [{ path: '/d01/3/0/9', type: 'integer', value: '100' }];
    assert.deepEqual(decode('c1 09 64', '/d01/3/0'), expected);
    assert.deepEqual(decode('03 00 c1 09 64', '/d01/3'), expected);
    assert.equal(encode([rec('/d01/3/0/9', Value.integer(100))], '/d01/3'), '0300c10964');
  });

  it('encodes the empty object and the empty payload as nothing', () => {
    assert.equal(encode([], '/3'), '');
    assert.equal(encode([rec('/3')], '/3'), '');
    assert.deepEqual(decode('', '/3'), []);
    assert.deepEqual(decode('', '/'), []);
    assert.deepEqual(decode('', '/3/0/9'), []);
  });
});

describe('tlvCodec: multiple resources', () => {
  it('always uses a Multiple Resource TLV, even with 0 or 1 instances', () => {
    assert.equal(encode([rec('/3/0/11')], '/3/0/11'), '800b');
    assert.equal(encode([rec('/3/0/11')], '/3/0'), '800b');
    assert.equal(encode([rec('/3/0/11/0', Value.integer(0))], '/3/0/11'), '830b410000');
    assert.deepEqual(decode('800b', '/3/0/11'), plain([rec('/3/0/11')]));
    assert.deepEqual(decode('830b410000', '/3/0'), plain([rec('/3/0/11/0', Value.integer(0))]));
  });

  it('accepts bare resource-instance TLVs for a multiple resource or one resource instance', () => {
    const expected = plain([rec('/3/0/7/0', Value.integer(3800)), rec('/3/0/7/1', Value.integer(5000))]);
    assert.deepEqual(decode('42000ed8 42011388', '/3/0/7'), expected);
    assert.deepEqual(decode('42011388', '/3/0/7/1'), plain([rec('/3/0/7/1', Value.integer(5000))]));
    assert.equal(encode([rec('/3/0/7/1', Value.integer(5000))], '/3/0/7/1'), '42011388');
  });

  it('refuses a single Resource TLV for a multiple resource and the reverse', () => {
    assertReason(() => tlvCodec.decode(hex('c10700'), ctxAt('/3/0')), 'type-mismatch');
    assertReason(() => tlvCodec.decode(hex('8309410064'), ctxAt('/3/0')), 'type-mismatch');
    assertReason(() => tlvCodec.decode(hex('410064'), ctxAt('/3/0/9')), 'type-mismatch');
    assertReason(() => tlvCodec.encode([rec('/3/0/7', Value.integer(1))], ctxAt('/3/0')), 'not-encodable');
    assertReason(() => tlvCodec.encode([rec('/3/0/9/0', Value.integer(1))], ctxAt('/3/0')), 'not-encodable');
    assertReason(() => tlvCodec.encode([rec('/3/0/9')], ctxAt('/3/0')), 'not-encodable');
  });
});

describe('tlvCodec: header boundaries', () => {
  const lengths: [number, string][] = [
    [0, 'c0'],
    [7, 'c7'],
    [8, 'c8'],
    [255, 'c8'],
    [256, 'd0'],
    [65535, 'd0'],
    [65536, 'd8'],
  ];
  for (const [n, typeByte] of lengths) {
    it(`uses the smallest length form for a ${n}-byte value`, () => {
      const value = new Uint8Array(n).map((_, i) => i & 0xff);
      const records = [rec('/42769/0/3', Value.opaque(value))];
      const bytes = tlvCodec.encode(records, ctxAt('/42769/0/3'));
      const lengthField =
        n < 8
          ? ''
          : n < 256
            ? n.toString(16).padStart(2, '0')
            : n < 65536
              ? n.toString(16).padStart(4, '0')
              : n.toString(16).padStart(6, '0');
      assert.equal(toHex(bytes.subarray(0, 2 + lengthField.length / 2)), typeByte + '03' + lengthField);
      assert.equal(bytes.length, 2 + lengthField.length / 2 + n);
      assert.deepEqual(plain(tlvCodec.decode(bytes, ctxAt('/42769/0'))), plain(records));
    });
  }

  it('uses the 8-bit identifier below 256 and the 16-bit one from 256', () => {
    for (const [id, head] of [
      [0, 'c1 00'],
      [255, 'c1 ff'],
      [256, 'e1 0100'],
      [65534, 'e1 fffe'],
    ] as const) {
      const path = `/31024/0/${id}`;
      const bytes = tlvCodec.encode([rec(path, Value.opaque(Uint8Array.of(9)))], ctxAt('/31024/0'));
      assert.equal(toHex(bytes), toHex(hex(head + '09')));
      assert.deepEqual(plain(tlvCodec.decode(bytes, ctxAt('/31024/0'))), [
        { path, type: 'opaque', value: '09', inferred: true },
      ]);
    }
    // a 16-bit id below 256 is not the smallest form, but it is valid on input
    assert.deepEqual(decode('e1 0009 64', '/3/0'), plain([rec('/3/0/9', Value.integer(100))]));
  });

  it('refuses a value beyond the 24-bit length', () => {
    const big = new Uint8Array(0x1000000);
    assertReason(
      () => tlvCodec.encode([rec('/42769/0/3', Value.opaque(big))], ctxAt('/42769/0/3')),
      'not-encodable',
    );
  });
});

/** A Resource TLV with an 8-bit id around a value given in hex (inline length below 8 bytes). */
const resourceTlv = (id: number, value: string): string => {
  const n = value.length / 2;
  const idHex = id.toString(16).padStart(2, '0');
  return n < 8 ? `c${n}${idHex}${value}` : `c8${idHex}${n.toString(16).padStart(2, '0')}${value}`;
};

describe('tlvCodec: value encodings', () => {
  const widths: [number | bigint, string][] = [
    [0, '00'],
    [127, '7f'],
    [128, '0080'],
    [-128, '80'],
    [-129, 'ff7f'],
    [32767, '7fff'],
    [32768, '00008000'],
    [-32768, '8000'],
    [-32769, 'ffff7fff'],
    [2 ** 31 - 1, '7fffffff'],
    [2 ** 31, '0000000080000000'],
    [-(2 ** 31), '80000000'],
    [-(2 ** 31) - 1, 'ffffffff7fffffff'],
    [2n ** 53n + 1n, '0020000000000001'],
    [INT64_MAX, '7fffffffffffffff'],
    [INT64_MIN, '8000000000000000'],
  ];
  for (const [v, expected] of widths) {
    it(`encodes integer ${v} in ${expected.length / 2} byte(s)`, () => {
      const records = [rec('/3/0/9', Value.integer(v))];
      assert.equal(encode(records, '/3/0/9'), resourceTlv(9, expected));
      const [back] = tlvCodec.decode(tlvCodec.encode(records, ctxAt('/3/0/9')), ctxAt('/3/0/9'));
      assert.deepEqual(back?.value, { type: 'integer', value: normalizeInteger(BigInt(v)) });
      // Time uses the integer encoding.
      assert.equal(encode([rec('/3/0/13', Value.time(v))], '/3/0/13'), resourceTlv(13, expected));
    });
  }

  it('keeps 2^53+1 exact as a bigint', () => {
    const [r] = tlvCodec.decode(hex('c8 09 08 0020000000000001'), ctxAt('/3/0/9'));
    assert.equal(r?.value?.value, 2n ** 53n + 1n);
  });

  it('encodes unsigned values so a signed reader agrees, using 8 bytes only from 2^63', () => {
    const cases: [number | bigint, string][] = [
      [255, '00ff'],
      [127, '7f'],
      [2n ** 63n - 1n, '7fffffffffffffff'],
      [2n ** 63n, '8000000000000000'],
      [UINT64_MAX, 'ffffffffffffffff'],
    ];
    for (const [v, bytes] of cases) {
      assert.equal(encode([rec('/42769/0/4', Value.unsigned(v))], '/42769/0/4'), resourceTlv(4, bytes));
      assert.deepEqual(tlvCodec.decode(hex(resourceTlv(4, bytes)), ctxAt('/42769/0/4'))[0]?.value, {
        type: 'unsigned',
        value: normalizeInteger(BigInt(v)),
      });
    }
    // read as unsigned, one byte 0xff is 255 (not -1)
    assert.deepEqual(decode('c1 04 ff', '/42769/0/4'), [
      { path: '/42769/0/4', type: 'unsigned', value: '255' },
    ]);
  });

  it('uses a 4-byte float only when the float32 is exact', () => {
    const cases: [number, number][] = [
      [1.5, 4],
      [0.1, 8],
      [-0, 4],
      [NaN, 4],
      [Infinity, 4],
      [3.4028234663852886e38, 4],
      [1e39, 8],
      [Number.MIN_VALUE, 8],
    ];
    for (const [f, width] of cases) {
      const bytes = tlvCodec.encode([rec('/42769/0/0', Value.float(f))], ctxAt('/42769/0/0'));
      assert.equal(bytes.length, width === 4 ? 2 + 4 : 3 + 8, `float ${f}`);
      assert.deepEqual(
        plain(tlvCodec.decode(bytes, ctxAt('/42769/0/0'))),
        plain([rec('/42769/0/0', Value.float(f))]),
      );
    }
    assert.equal(encode([rec('/42769/0/0', Value.float(1.5))], '/42769/0/0'), 'c4003fc00000');
  });

  it('encodes booleans, object links, strings, opaque and executables', () => {
    assert.equal(encode([rec('/42769/0/2', Value.boolean(true))], '/42769/0/2'), 'c10201');
    assert.equal(encode([rec('/42769/0/1', Value.objlnk(65535, 65535))], '/42769/0/1'), 'c401ffffffff');
    assert.equal(encode([rec('/42769/0/1', Value.objlnk(3, 258))], '/42769/0/1'), 'c40100030102');
    assert.equal(encode([rec('/42769/0/5', Value.string('é'))], '/42769/0/5'), 'c205c3a9');
    assert.equal(encode([rec('/42769/0/8', Value.corelnk('</3>'))], '/42769/0/8'), 'c408' + ascii('</3>'));
    assert.equal(encode([rec('/42769/0/9', Value.none())], '/42769/0/9'), 'c009');
    assert.deepEqual(decode('c009', '/42769/0/9'), [{ path: '/42769/0/9', type: 'none', value: null }]);
  });

  it('converts a value to the model type before encoding, and refuses what does not convert', () => {
    assert.equal(encode([rec('/3/0/9', Value.string('100'))], '/3/0/9'), 'c10964');
    assert.equal(encode([rec('/42769/0/0', Value.integer(2))], '/42769/0/0'), 'c40040000000');
    assertReason(
      () => tlvCodec.encode([rec('/3/0/9', Value.string('abc'))], ctxAt('/3/0/9')),
      'not-encodable',
    );
    assertReason(
      () => tlvCodec.encode([rec('/42769/0/5', Value.string('\ud800'))], ctxAt('/42769/0/5')),
      'not-encodable',
    );
  });

  it('decodes unknown resources as opaque, marked inferred', () => {
    assert.deepEqual(decode('c1 01 2a', '/31024/0'), [
      { path: '/31024/0/1', type: 'opaque', value: '2a', inferred: true },
    ]);
    // the value of an unknown object is not read further, but the structure still is
    assert.deepEqual(decode('83 05 41 00 07', '/31024/0'), [
      { path: '/31024/0/5/0', type: 'opaque', value: '07', inferred: true },
    ]);
  });
});

describe('tlvCodec: malformed input', () => {
  const cases: [label: string, hex: string, path: string, reason: ContentFormatReason][] = [
    ['header cut after the type byte', 'c1', '/3/0', 'truncated'],
    ['16-bit id cut', 'e1 00', '/3/0', 'truncated'],
    ['length field cut', 'd0 09 00', '/3/0', 'truncated'],
    ['value shorter than declared', 'c4 09 00 00', '/3/0', 'truncated'],
    ['24-bit length far past the end', 'd8 00 ff ff ff 00', '/3/0', 'truncated'],
    ['child longer than its container', '83 07 42 00 0e', '/3/0', 'truncated'],
    ['instance TLV holding a child past its end', '03 00 c4 09 00', '/3', 'truncated'],
    ['trailing lone type byte', 'c1 09 64 c1', '/3/0', 'truncated'],
    ['second TLV for one resource', 'c1 09 64 c1 09 65', '/3/0/9', 'trailing-bytes'],
    ['second TLV for one resource instance', '41 00 01 41 01 02', '/3/0/7/0', 'trailing-bytes'],
    ['resource TLV at object level', 'c1 09 64', '/3', 'malformed'],
    ['resource instance at instance level', '41 00 01', '/3/0', 'malformed'],
    ['instance inside an instance', '02 00 00 01', '/3', 'malformed'],
    ['resource inside a multiple resource', '83 07 c1 00 01', '/3/0', 'malformed'],
    ['multiple inside a multiple resource', '84 07 82 00 41 00', '/3/0', 'malformed'],
    ['instance among resources', 'c1 09 64 00 00', '/3/0', 'malformed'],
    ['instance at resource level', '00 00', '/3/0/9', 'malformed'],
    ['resource at resource-instance level', 'c1 00 01', '/3/0/7/0', 'malformed'],
    ['duplicate resource', 'c1 09 64 c1 09 65', '/3/0', 'duplicate'],
    ['duplicate resource instance', '86 07 41 00 01 41 00 02', '/3/0', 'duplicate'],
    ['duplicate instance', '00 00 00 00', '/3', 'duplicate'],
    ['wrong resource id', 'c1 0a 64', '/3/0/9', 'invalid-path'],
    ['wrong resource instance id', '41 01 01', '/3/0/7/0', 'invalid-path'],
    ['wrapper of another instance', '03 01 c1 09 64', '/3/0', 'invalid-path'],
    ['reserved id 65535', 'e1 ffff 64', '/3/0', 'invalid-path'],
    ['anything at the root', '03 00 c1 09 64', '/', 'invalid-path'],
    ['integer of 3 bytes', 'c3 09 00 00 01', '/3/0', 'type-mismatch'],
    ['integer of 0 bytes', 'c0 09', '/3/0', 'type-mismatch'],
    ['unsigned of 5 bytes', 'c5 04 00 00 00 00 01', '/42769/0', 'type-mismatch'],
    ['float of 2 bytes', 'c2 00 3f c0', '/42769/0', 'type-mismatch'],
    ['boolean of 2 bytes', 'c2 02 00 01', '/42769/0', 'type-mismatch'],
    ['boolean byte 2', 'c1 02 02', '/42769/0', 'type-mismatch'],
    ['objlnk of 3 bytes', 'c3 01 00 00 01', '/42769/0', 'type-mismatch'],
    ['executable with a value', 'c1 09 01', '/42769/0', 'type-mismatch'],
    ['string that is not UTF-8', 'c2 00 c3 28', '/3/0', 'bad-utf8'],
    ['overlong UTF-8', 'c2 00 c0 af', '/3/0', 'bad-utf8'],
  ];
  for (const [label, h, path, reason] of cases)
    it(`${label} -> ${reason}`, () =>
      assertReason(() => tlvCodec.decode(hex(h), ctxAt(path)), reason, label));

  it('enforces the record and depth limits', () => {
    assertReason(
      () => tlvCodec.decode(hex('c1 09 64 c1 0a 0f'), ctxAt('/3/0', { limits: { maxRecords: 1 } })),
      'too-large',
    );
    assertReason(
      () => tlvCodec.decode(hex('05 00 83 07 41 00 01'), ctxAt('/3', { limits: { maxDepth: 2 } })),
      'too-deep',
    );
    assert.equal(
      tlvCodec.decode(hex('05 00 83 07 41 00 01'), ctxAt('/3', { limits: { maxDepth: 3 } })).length,
      1,
    );
  });

  it('refuses records TLV cannot carry', () => {
    assertReason(() => tlvCodec.encode([rec('/3/0/9', Value.integer(1))], ctxAt('/')), 'not-encodable');
    assertReason(() => tlvCodec.encode([rec('/3/0/9', Value.integer(1))], ctxAt('/3/0/10')), 'not-encodable');
    assertReason(() => tlvCodec.encode([rec('/3/0/9', Value.integer(1))], ctxAt('/1')), 'not-encodable');
    assertReason(
      () =>
        tlvCodec.encode(
          [{ path: LwM2mPath.parse('/3/0/9'), value: Value.integer(1), time: 5 }],
          ctxAt('/3/0'),
        ),
      'not-encodable',
    );
    assertReason(
      () =>
        tlvCodec.encode([rec('/3/0/9', Value.integer(1)), rec('/3/0/9', Value.integer(2))], ctxAt('/3/0')),
      'not-encodable',
    );
    assertReason(() => tlvCodec.encode([rec('/3/0', Value.integer(1))], ctxAt('/3')), 'not-encodable');
    assertReason(
      () => tlvCodec.encode([rec('/3/0/7/1', Value.integer(1))], ctxAt('/3/0/7/0')),
      'not-encodable',
    );
  });

  it('does not allocate for a declared length beyond the input', () => {
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 1000; i++)
      assertReason(() => tlvCodec.decode(hex('d8 00 ff ff ff'), ctxAt('/3/0')), 'truncated');
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
  });
});

// ---- property tests ----

// TLV carries every value exactly, NaN and -0 included; opaque values of up to 300 bytes reach the
// 16-bit length field.
const VALUES = { maxBytes: 300, maxChars: 40 };

describe('tlvCodec: round trips', () => {
  it('decode(encode(x)) = x for random instances, at instance and object level', () => {
    const arb = idArb.chain((iid) =>
      instanceRecordsArb(TEST_OBJECT, iid, {
        executables: true,
        empty: { multiples: true },
        values: VALUES,
      }).map((records) => ({ iid, records })),
    );
    fc.assert(
      fc.property(arb, ({ iid, records }) => {
        const expected = plain(sortRecords(records));
        const atInstance = tlvCodec.encode(records, ctxAt(`/42769/${iid}`));
        assert.deepEqual(plain(tlvCodec.decode(atInstance, ctxAt(`/42769/${iid}`))), expected);
        const atObject = tlvCodec.encode(records, ctxAt('/42769'));
        assert.equal(atObject.length === 0, records.length === 0);
        assert.deepEqual(plain(tlvCodec.decode(atObject, ctxAt('/42769'))), expected);
        assert.deepEqual(plain(tlvCodec.decode(atObject, ctxAt(`/42769/${iid}`))), expected);
      }),
      { numRuns: 120 },
    );
  });

  it('decode(encode(x)) = x for one resource of every type and multiplicity', () => {
    for (const { id: rid, type, multiple } of TEST_RESOURCES) {
      if (type === 'none') continue;
      const path = `/42769/3/${rid}`;
      fc.assert(
        fc.property(
          multiple
            ? fc.uniqueArray(fc.tuple(idArb, valueArb(type, VALUES)), {
                selector: ([ri]) => ri,
                maxLength: 5,
              })
            : valueArb(type, VALUES).map((v) => [[-1, v] as [number, LwM2mValue]]),
          (items) => {
            const records = multiple
              ? items.length === 0
                ? [rec(path)]
                : items.map(([ri, v]) => rec(`${path}/${ri}`, v))
              : items.map(([, v]) => rec(path, v));
            const bytes = tlvCodec.encode(records, ctxAt(path));
            assert.deepEqual(plain(tlvCodec.decode(bytes, ctxAt(path))), plain(sortRecords(records)));
          },
        ),
        { numRuns: 60 },
      );
    }
  });
});

// ---- mutation loop ----

describe('tlvCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const seeds: [string, string][] = [
      [DEVICE_RESOURCES, '/3/0'],
      ['08 00 79' + DEVICE_RESOURCES, '/3'],
      ['86 06 41 00 01 41 01 05', '/3/0/6'],
      ['42 00 0e d8 42 01 13 88', '/3/0/7'],
      [
        toHex(
          tlvCodec.encode(
            [
              rec('/42769/1/0', Value.float(0.1)),
              rec('/42769/1/11/2', Value.objlnk(3, 0)),
              rec('/42769/1/3', Value.opaque(new Uint8Array(300))),
            ],
            ctxAt('/42769'),
          ),
        ),
        '/42769',
      ],
      ['c1 01 2a c4 03 3f c0 00 00 c0 05', '/31024/0'],
    ];
    const { decoded } = mutateCodec(
      tlvCodec,
      seeds.map(([h, path]) => [hex(h), path] as const),
      11542,
    );
    assert.ok(decoded > 0 && decoded < 5000, `decoded ${decoded}`);
  });
});

// ---- real captures ----

const CLIENTS_THEN_BOOTSTRAP = [
  'lwm2m-1.1-client-udp.jsonl',
  'lwm2m-1.2-client-udp.jsonl',
  'bootstrap-1.1-client.jsonl',
  'bootstrap-1.2-client.jsonl',
];

describe('tlvCodec: real captures', () => {
  it('decodes every TLV payload of both clients and the bootstrap runs', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const values = new Map<string, LwM2mValue[]>();
    let count = 0;
    for (const p of capturedPayloadsOf(dir, 11542, CLIENTS_THEN_BOOTSTRAP)) {
      // A Create without instance wrapper is decoded at the instance the client assigned.
      const path =
        p.isRequest && p.payload[0]! >> 6 !== 0 && LwM2mPath.parse(p.requestPath).depth === 1
          ? `${p.requestPath}/0`
          : p.requestPath;
      const records = tlvCodec.decode(p.payload, ctxAt(path));
      assert.ok(records.length > 0, `seq ${p.line.seq}`);
      for (const r of records) {
        assert.ok(LwM2mPath.parse(path).covers(r.path));
        if (r.value) values.set(r.path.toString(), [...(values.get(r.path.toString()) ?? []), r.value]);
      }
      // what we decode, we encode back to a payload that decodes the same
      const again = tlvCodec.decode(tlvCodec.encode(records, ctxAt(path)), ctxAt(path));
      assert.deepEqual(plain(again), plain(sortRecords(records)), `seq ${p.line.seq}`);
      count++;
    }
    assert.ok(count >= 25, `only ${count} TLV payloads`);
    const manufacturers = values.get('/3/0/0') ?? [];
    assert.ok(
      manufacturers.length > 0 && manufacturers.every((v) => v.type === 'string' && v.value.length > 0),
    );
    assert.ok(manufacturers.some((v) => v.value === 'Open Mobile Alliance'));
    const battery = values.get('/3/0/9') ?? [];
    assert.ok(battery.length > 0);
    for (const v of battery)
      assert.ok(v.type === 'integer' && Number(v.value) >= 0 && Number(v.value) <= 100);
    assert.ok((values.get('/1/0/1') ?? []).every((v) => v.type === 'integer' && v.value === 300));
    assert.ok((values.get('/1/0/1') ?? []).length >= 3);
    assert.ok((values.get('/1/1/1') ?? []).some((v) => v.type === 'integer' && v.value === 300));
    for (const v of values.get('/3/0/13') ?? [])
      assert.ok(v.type === 'time' && Number(v.value) > 1_600_000_000);
    assert.deepEqual(values.get('/3/0/22/0'), [Value.objlnk(33606, 0), Value.objlnk(33606, 0)]);
    assert.deepEqual(values.get('/3/0/7/1')?.[0], Value.integer(5000));
    // the unknown test object decodes structurally, values as inferred opaque bytes
    assert.deepEqual(values.get('/31024/99/1'), [Value.opaque(Uint8Array.of(42))]);
  });

  it('decodes the Create without wrapper only at an instance path', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const create = capturedPayloadsOf(dir, 11542, ['lwm2m-1.2-client-udp.jsonl']).find(
      (p) => p.line.seq === 206,
    );
    assert.ok(create);
    assertReason(() => tlvCodec.decode(create.payload, ctxAt('/33605')), 'malformed');
    assert.equal(tlvCodec.decode(create.payload, ctxAt('/33605/0')).length, 1);
  });
});
