import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext } from '../../src/content/content-codec.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { lwm2mJsonCodec } from '../../src/content/lwm2m-json-codec.js';
import type { LwM2mValue } from '../../src/model/data-types.js';
import { INT64_MIN, UINT64_MAX, Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { idArb, valueArb, valuedRecordsArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { capturedPayloadsOf } from '../support/captures.js';
import { mutateCodec } from '../support/mutate.js';
import { plain, rec } from '../support/records.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, TEST_RESOURCES, ctxAt, testModel } from '../support/test-model.js';

// The model is the shared test model: the core objects, and /42769 with one resource of every type
// (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable).

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (text: string, path: string, extra?: Partial<CodecContext>): unknown[] =>
  plain(lwm2mJsonCodec.decode(utf8(text), ctxAt(path, extra)));
const encode = (records: LwM2mRecord[], path: string): string =>
  new TextDecoder().decode(lwm2mJsonCodec.encode(records, ctxAt(path)));

const DEVICE_JSON =
  '{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},' +
  '{"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"9","v":100},{"n":"13","v":1367491215},{"n":"22/0","ov":"33606:0"}]}';
const DEVICE_RECORDS = [
  rec('/3/0/0', Value.string('Open Mobile Alliance')),
  rec('/3/0/1', Value.string('Lightweight M2M Client')),
  rec('/3/0/7/0', Value.integer(3800)),
  rec('/3/0/7/1', Value.integer(5000)),
  rec('/3/0/9', Value.integer(100)),
  rec('/3/0/13', Value.time(1367491215)),
  rec('/3/0/22/0', Value.objlnk(33606, 0)),
];

describe('lwm2mJsonCodec: decoding', () => {
  it('decodes an instance typed by the model', () => {
    assert.deepEqual(decode(DEVICE_JSON, '/3/0'), plain(DEVICE_RECORDS));
    assert.deepEqual(decode(DEVICE_JSON, '/3'), plain(DEVICE_RECORDS));
    assert.deepEqual(decode(DEVICE_JSON, '/'), plain(DEVICE_RECORDS));
  });

  it('decodes every value key: v, sv (also opaque as base64), bv, ov', () => {
    const text =
      '{"bn":"/42769/0/","e":[{"n":"0","v":1.5},{"n":"1","ov":"3:0"},{"n":"2","bv":true},{"n":"3","sv":"AQID"},' +
      '{"n":"4","v":18446744073709551615},{"n":"5","sv":"x"},{"n":"6","v":-9223372036854775808},{"n":"7","v":-5},' +
      '{"n":"8","sv":"</3>"},{"n":"10/0","v":2}]}';
    assert.deepEqual(decode(text, '/42769/0'), [
      { path: '/42769/0/0', type: 'float', value: '1.5' },
      { path: '/42769/0/1', type: 'objlnk', value: { objectId: 3, instanceId: 0 } },
      { path: '/42769/0/2', type: 'boolean', value: true },
      { path: '/42769/0/3', type: 'opaque', value: '010203' },
      { path: '/42769/0/4', type: 'unsigned', value: '18446744073709551615' },
      { path: '/42769/0/5', type: 'string', value: 'x' },
      { path: '/42769/0/6', type: 'integer', value: '-9223372036854775808' },
      { path: '/42769/0/7', type: 'time', value: '-5' },
      { path: '/42769/0/8', type: 'corelnk', value: '</3>' },
      { path: '/42769/0/10/0', type: 'float', value: '2' },
    ]);
    // base64url without padding is accepted as well
    assert.deepEqual(decode('{"bn":"/42769/0/3","e":[{"sv":"-_8"}]}', '/42769/0/3'), [
      { path: '/42769/0/3', type: 'opaque', value: 'fbff' },
    ]);
  });

  it('reads integers beyond 2^53 exactly from the source text', () => {
    const [r] = lwm2mJsonCodec.decode(
      utf8('{"bn":"/3/0/","e":[{"n":"9","v":9007199254740993}]}'),
      ctxAt('/3/0'),
    );
    assert.equal(r?.value?.value, 9007199254740993n);
    // escapes in keys do not hide the "v" from the source scan
    const [e] = lwm2mJsonCodec.decode(
      utf8('{"bn":"/3/0/","e":[{"n":"9","\\u0076":9007199254740993}]}'),
      ctxAt('/3/0'),
    );
    assert.equal(e?.value?.value, 9007199254740993n);
    // an integral value written as a decimal or exponent is still an integer
    assert.deepEqual(decode('{"bn":"/3/0/","e":[{"n":"9","v":1e2},{"n":"10","v":15.0}]}', '/3/0'), [
      { path: '/3/0/9', type: 'integer', value: '100' },
      { path: '/3/0/10', type: 'integer', value: '15' },
    ]);
    // strings and numbers in other places do not shift which number belongs to which entry
    assert.deepEqual(
      decode(
        '{"x":[1,{"v":2}],"bn":"/3/0/","e":[{"t":1,"n":"9","v":12345678901234567},{"v":3,"n":"10"}],"y":4}',
        '/3/0',
      ),
      [
        { path: '/3/0/9', type: 'integer', value: '12345678901234567', time: 1 },
        { path: '/3/0/10', type: 'integer', value: '3' },
      ],
    );
  });

  it('resolves names as bn + n, in both styles seen in the field, and relative to the request without bn', () => {
    const expected = plain([rec('/3/0/7/0', Value.integer(1))]);
    assert.deepEqual(decode('{"bn":"/3/0/","e":[{"n":"7/0","v":1}]}', '/3/0'), expected);
    assert.deepEqual(decode('{"bn":"/3/0","e":[{"n":"/7/0","v":1}]}', '/3/0'), expected);
    assert.deepEqual(decode('{"bn":"/3/0/7/0","e":[{"v":1}]}', '/3/0/7/0'), expected);
    assert.deepEqual(decode('{"e":[{"n":"7/0","v":1}]}', '/3/0'), expected);
    assert.deepEqual(decode('{"e":[{"n":"/7/0","v":1}]}', '/3/0'), expected);
    assert.deepEqual(decode('{"e":[{"v":1}]}', '/3/0/7/0'), expected);
    assert.deepEqual(decode('{"e":[{"n":"3/0/7/0","v":1}]}', '/'), expected);
  });

  it('keeps the gateway prefix of the request, and strips its alternate path', () => {
    const expected = [{ path: '/d01/3/0/9', type: 'integer', value: '100' }];
    assert.deepEqual(decode('{"bn":"/d01/3/0/","e":[{"n":"9","v":100}]}', '/d01/3/0'), expected);
    assert.deepEqual(decode('{"bn":"/3/0/","e":[{"n":"9","v":100}]}', '/d01/3/0'), expected);
    assert.equal(
      encode([rec('/d01/3/0/9', Value.integer(100))], '/d01/3/0'),
      '{"bn":"/d01/3/0/","e":[{"n":"9","v":100}]}',
    );
    const alt: CodecContext = {
      path: LwM2mPath.parse('/lwm2m/3/0', { alternatePath: '/lwm2m' }),
      model: testModel,
    };
    const [r] = lwm2mJsonCodec.decode(utf8('{"bn":"/lwm2m/3/0/","e":[{"n":"9","v":100}]}'), alt);
    assert.equal(r?.path.toUriPath(), '/lwm2m/3/0/9');
  });

  it('decodes unknown resources by their value key, marked inferred', () => {
    const text =
      '{"bn":"/31024/0/","e":[{"n":"1","v":42},{"n":"2","v":1.5},{"n":"3","v":18446744073709551615},' +
      '{"n":"4","v":9007199254740993},{"n":"5","v":1e30},{"n":"6","sv":"s"},{"n":"7","bv":false},{"n":"8/3","ov":"1:2"}]}';
    assert.deepEqual(decode(text, '/31024/0'), [
      { path: '/31024/0/1', type: 'integer', value: '42', inferred: true },
      { path: '/31024/0/2', type: 'float', value: '1.5', inferred: true },
      { path: '/31024/0/3', type: 'unsigned', value: '18446744073709551615', inferred: true },
      { path: '/31024/0/4', type: 'integer', value: '9007199254740993', inferred: true },
      { path: '/31024/0/5', type: 'float', value: '1e+30', inferred: true },
      { path: '/31024/0/6', type: 'string', value: 's', inferred: true },
      { path: '/31024/0/7', type: 'boolean', value: false, inferred: true },
      { path: '/31024/0/8/3', type: 'objlnk', value: { objectId: 1, instanceId: 2 }, inferred: true },
    ]);
  });

  it('adds bt to t, and keeps a historical series of one name', () => {
    const text =
      '{"bn":"/3/0/","bt":1000,"e":[{"n":"9","v":90,"t":-5},{"n":"9","v":95,"t":-1},{"n":"9","v":99}]}';
    assert.deepEqual(decode(text, '/3/0'), [
      { path: '/3/0/9', type: 'integer', value: '90', time: 995 },
      { path: '/3/0/9', type: 'integer', value: '95', time: 999 },
      { path: '/3/0/9', type: 'integer', value: '99', time: 1000 },
    ]);
    assert.deepEqual(decode('{"e":[{"n":"9","v":1,"t":7.5}]}', '/3/0'), [
      { path: '/3/0/9', type: 'integer', value: '1', time: 7.5 },
    ]);
  });

  it('ignores unknown keys, and decodes an empty list to no records', () => {
    assert.deepEqual(decode('{"bn":"/3/0/","ver":1,"e":[{"n":"9","v":1,"u":"%","x":{"y":[1]}}]}', '/3/0'), [
      { path: '/3/0/9', type: 'integer', value: '1' },
    ]);
    assert.deepEqual(decode('{"bn":"/3/","e":[]}', '/3'), []);
    assert.deepEqual(decode('{"e":[]}', '/'), []);
  });

  it('does not overflow the stack on deep nesting', () => {
    const deep = `{"e":[],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    assertReason(() => lwm2mJsonCodec.decode(utf8(deep), ctxAt('/3/0')), 'too-deep');
    assertReason(
      () => lwm2mJsonCodec.decode(utf8('{"e":[],"x":[[1]]}'), ctxAt('/3/0', { limits: { maxDepth: 2 } })),
      'too-deep',
    );
  });
});

describe('lwm2mJsonCodec: malformed input', () => {
  const cases: [label: string, text: string, path: string, reason: ContentFormatReason][] = [
    ['not JSON', '{"e":[', '/3/0', 'malformed'],
    ['trailing garbage', '{"e":[]} x', '/3/0', 'malformed'],
    ['top level array', '[{"n":"9","v":1}]', '/3/0', 'malformed'],
    ['top level null', 'null', '/3/0', 'malformed'],
    ['no e', '{"bn":"/3/0/"}', '/3/0', 'malformed'],
    ['e not an array', '{"e":{"n":"9","v":1}}', '/3/0', 'malformed'],
    ['bn not a string', '{"bn":3,"e":[]}', '/3/0', 'malformed'],
    ['bt not a number', '{"bt":"1","e":[]}', '/3/0', 'malformed'],
    ['entry not an object', '{"e":[1]}', '/3/0', 'malformed'],
    ['n not a string', '{"e":[{"n":9,"v":1}]}', '/3/0', 'malformed'],
    ['t not a number', '{"e":[{"n":"9","v":1,"t":"1"}]}', '/3/0', 'malformed'],
    ['no value', '{"e":[{"n":"9"}]}', '/3/0', 'malformed'],
    ['two values', '{"e":[{"n":"9","v":1,"sv":"1"}]}', '/3/0', 'malformed'],
    ['v holds a string', '{"e":[{"n":"9","v":"1"}]}', '/3/0', 'malformed'],
    ['bv holds a number', '{"e":[{"n":"9","bv":1}]}', '/3/0', 'malformed'],
    ['null value', '{"e":[{"n":"9","v":null}]}', '/3/0', 'malformed'],
    ['duplicate key in an entry', '{"e":[{"n":"9","v":1,"v":2}]}', '/3/0', 'malformed'],
    ['duplicate top-level key', '{"e":[],"e":[]}', '/3/0', 'malformed'],
    ['must-understand key', '{"e":[{"n":"9","v":1,"x_":1}]}', '/3/0', 'malformed'],
    ['must-understand top key', '{"bn_":"/","e":[]}', '/3/0', 'malformed'],
    ['value and container at once', '{"e":[{"n":"5","v":1},{"n":"5/0","v":2}]}', '/31024/0', 'malformed'],
    ['same name twice', '{"e":[{"n":"9","v":1},{"n":"9","v":2}]}', '/3/0', 'duplicate'],
    ['same name and time twice', '{"bt":5,"e":[{"n":"9","v":1},{"n":"9","v":2,"t":0}]}', '/3/0', 'duplicate'],
    ['name outside the request', '{"bn":"/3/1/","e":[{"n":"9","v":1}]}', '/3/0', 'invalid-path'],
    ['name not a path', '{"bn":"/3/0/","e":[{"n":"x","v":1}]}', '/3/0', 'invalid-path'],
    ['leading zero', '{"bn":"/3/0/","e":[{"n":"09","v":1}]}', '/3/0', 'invalid-path'],
    ['reserved id', '{"bn":"/3/0/","e":[{"n":"65535","v":1}]}', '/3/0', 'invalid-path'],
    ['value on an instance', '{"bn":"/3/","e":[{"n":"0","v":1}]}', '/3', 'invalid-path'],
    ['concatenation without slash', '{"bn":"/3/0","e":[{"n":"9","v":1}]}', '/3/0', 'invalid-path'],
    ['other gateway prefix', '{"bn":"/d02/3/0/","e":[{"n":"9","v":1}]}', '/3/0', 'invalid-path'],
    ['sv for an integer', '{"e":[{"n":"9","sv":"1"}]}', '/3/0', 'type-mismatch'],
    ['v for a string', '{"e":[{"n":"0","v":1}]}', '/3/0', 'type-mismatch'],
    ['bv for an integer', '{"e":[{"n":"9","bv":true}]}', '/3/0', 'type-mismatch'],
    ['ov for a string', '{"e":[{"n":"0","ov":"1:1"}]}', '/3/0', 'type-mismatch'],
    ['v for a boolean', '{"e":[{"n":"2","v":1}]}', '/42769/0', 'type-mismatch'],
    ['sv for an objlnk', '{"e":[{"n":"1","sv":"1:1"}]}', '/42769/0', 'type-mismatch'],
    ['bad objlnk text', '{"e":[{"n":"1","ov":"1-1"}]}', '/42769/0', 'type-mismatch'],
    ['objlnk beyond uint16', '{"e":[{"n":"1","ov":"65536:0"}]}', '/42769/0', 'type-mismatch'],
    ['bad inferred objlnk', '{"e":[{"n":"1","ov":"x"}]}', '/31024/0', 'type-mismatch'],
    ['fraction for an integer', '{"e":[{"n":"9","v":1.5}]}', '/3/0', 'type-mismatch'],
    ['value for an executable', '{"e":[{"n":"4","v":1}]}', '/3/0', 'type-mismatch'],
    ['value on a multiple resource', '{"e":[{"n":"7","v":1}]}', '/3/0', 'type-mismatch'],
    ['instance of a single resource', '{"e":[{"n":"9/0","v":1}]}', '/3/0', 'type-mismatch'],
    ['integer beyond int64', '{"e":[{"n":"9","v":9223372036854775808}]}', '/3/0', 'out-of-range'],
    ['negative unsigned', '{"e":[{"n":"4","v":-1}]}', '/42769/0', 'out-of-range'],
    ['unsigned beyond uint64', '{"e":[{"n":"4","v":18446744073709551616}]}', '/42769/0', 'out-of-range'],
    ['float beyond a double', '{"e":[{"n":"0","v":1e400}]}', '/42769/0', 'out-of-range'],
    ['inferred number beyond a double', '{"e":[{"n":"0","v":-1e400}]}', '/31024/0', 'out-of-range'],
    ['opaque not base64', '{"e":[{"n":"3","sv":"!!"}]}', '/42769/0', 'bad-base64'],
  ];
  for (const [label, text, path, reason] of cases)
    it(`${label} -> ${reason}`, () =>
      assertReason(() => lwm2mJsonCodec.decode(utf8(text), ctxAt(path)), reason, label));

  it('refuses bad UTF-8 and too many entries', () => {
    assertReason(() => lwm2mJsonCodec.decode(Uint8Array.of(0x7b, 0xff, 0x7d), ctxAt('/3/0')), 'bad-utf8');
    const two = '{"e":[{"n":"9","v":1},{"n":"10","v":1}]}';
    assertReason(
      () => lwm2mJsonCodec.decode(utf8(two), ctxAt('/3/0', { limits: { maxRecords: 1 } })),
      'too-large',
    );
  });
});

describe('lwm2mJsonCodec: encoding', () => {
  it('writes bn as the request path and names relative to it', () => {
    assert.equal(
      encode(DEVICE_RECORDS, '/3/0'),
      '{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},' +
        '{"n":"7/0","v":3800},{"n":"7/1","v":5000},{"n":"9","v":100},{"n":"13","v":1367491215},{"n":"22/0","ov":"33606:0"}]}',
    );
    assert.equal(encode(DEVICE_RECORDS.slice(4, 5), '/3'), '{"bn":"/3/","e":[{"n":"0/9","v":100}]}');
    assert.equal(encode(DEVICE_RECORDS.slice(4, 5), '/'), '{"bn":"/","e":[{"n":"3/0/9","v":100}]}');
    assert.equal(encode([], '/3'), '{"bn":"/3/","e":[]}');
  });

  it('names a value at the request path from its parent, as clients do', () => {
    assert.equal(
      encode([rec('/3/0/9', Value.integer(100))], '/3/0/9'),
      '{"bn":"/3/0/","e":[{"n":"9","v":100}]}',
    );
    assert.equal(
      encode([rec('/3/0/7/1', Value.integer(5))], '/3/0/7/1'),
      '{"bn":"/3/0/7/","e":[{"n":"1","v":5}]}',
    );
    assert.equal(
      encode(DEVICE_RECORDS.slice(2, 4), '/3/0/7'),
      '{"bn":"/3/0/7/","e":[{"n":"0","v":3800},{"n":"1","v":5000}]}',
    );
  });

  it('writes every type, exact 64-bit integers, and times', () => {
    const records: LwM2mRecord[] = [
      rec('/42769/0/0', Value.float(0.1)),
      rec('/42769/0/1', Value.objlnk(65535, 65535)),
      rec('/42769/0/2', Value.boolean(false)),
      rec('/42769/0/3', Value.opaque(Uint8Array.of(1, 2, 3, 255))),
      rec('/42769/0/4', Value.unsigned(UINT64_MAX)),
      rec('/42769/0/5', Value.string('a"\\\u0001é')),
      rec('/42769/0/6', Value.integer(INT64_MIN)),
      rec('/42769/0/7', Value.time(1), 1700000000.5),
      rec('/42769/0/8', Value.corelnk('</3/0>')),
    ];
    const text = encode(records, '/42769/0');
    assert.equal(
      text,
      '{"bn":"/42769/0/","e":[{"n":"0","v":0.1},{"n":"1","ov":"65535:65535"},{"n":"2","bv":false},{"n":"3","sv":"AQID/w=="},' +
        '{"n":"4","v":18446744073709551615},{"n":"5","sv":"a\\"\\\\\\u0001é"},{"n":"6","v":-9223372036854775808},' +
        '{"n":"7","v":1,"t":1700000000.5},{"n":"8","sv":"</3/0>"}]}',
    );
    assert.deepEqual(plain(lwm2mJsonCodec.decode(utf8(text), ctxAt('/42769/0'))), plain(records));
  });

  it('converts values to the model type, leaves empty containers out, refuses what it cannot carry', () => {
    assert.equal(
      encode([rec('/3/0/9', Value.string('7'))], '/3/0/9'),
      '{"bn":"/3/0/","e":[{"n":"9","v":7}]}',
    );
    assert.equal(encode([rec('/3/0/11'), rec('/3/1')], '/3'), '{"bn":"/3/","e":[]}');
    const refused: [LwM2mRecord[], string][] = [
      [[rec('/3/0/9', Value.string('x'))], '/3/0'],
      [[rec('/42769/0/0', Value.float(NaN))], '/42769/0'],
      [[rec('/42769/0/0', Value.float(Infinity))], '/42769/0'],
      [[rec('/3/0/9', Value.integer(1), NaN)], '/3/0'],
      [[rec('/42769/0/9', Value.none())], '/42769/0'],
      [[rec('/3/0/9', Value.integer(1))], '/3/1'],
      [[rec('/3/0/7', Value.integer(1))], '/3/0'],
      [[rec('/3/0/9/0', Value.integer(1))], '/3/0'],
      [[rec('/3/0', Value.integer(1))], '/3'],
      [[rec('/3/0/9', Value.integer(1)), rec('/3/0/9', Value.integer(2))], '/3/0'],
    ];
    for (const [records, path] of refused)
      assertReason(
        () => lwm2mJsonCodec.encode(records, ctxAt(path)),
        'not-encodable',
        `${plain(records).length} at ${path}`,
      );
  });

  it('keeps a historical series', () => {
    const records = [
      rec('/3/0/9', Value.integer(90), 995),
      rec('/3/0/9', Value.integer(95), 999),
      rec('/3/0/9', Value.integer(99)),
    ];
    const text = encode(records, '/3/0');
    assert.equal(
      text,
      '{"bn":"/3/0/","e":[{"n":"9","v":90,"t":995},{"n":"9","v":95,"t":999},{"n":"9","v":99}]}',
    );
    assert.deepEqual(plain(lwm2mJsonCodec.decode(utf8(text), ctxAt('/3/0'))), plain(records));
  });
});

// ---- property tests ----

// JSON has no NaN, infinities or negative zero.
const VALUES = { nonFinite: false, negativeZero: false, maxBytes: 100, maxChars: 40 };

/** Valued records of one random /42769 instance, some with times (so names may repeat). */
function arbRecords(iid: number): fc.Arbitrary<LwM2mRecord[]> {
  return valuedRecordsArb({
    objects: [TEST_OBJECT],
    instanceId: fc.constant(iid),
    resourceInstanceId: idArb,
    values: VALUES,
    // any finite time, -0 written as 0 (the same instant)
    time: fc
      .oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
      .map((t) => (t === 0 ? 0 : t)),
  });
}

describe('lwm2mJsonCodec: round trips', () => {
  it('decode(encode(x)) = x at instance, object and root level', () => {
    const arb = idArb.chain((iid) => arbRecords(iid).map((records) => ({ iid, records })));
    fc.assert(
      fc.property(arb, ({ iid, records }) => {
        const expected = plain(records);
        for (const path of [`/42769/${iid}`, '/42769', '/']) {
          const bytes = lwm2mJsonCodec.encode(records, ctxAt(path));
          assert.deepEqual(plain(lwm2mJsonCodec.decode(bytes, ctxAt(path))), expected);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('decode(encode(x)) = x for one value of every type at its own path', () => {
    for (const def of TEST_RESOURCES) {
      if (def.type === 'none') continue;
      const path = def.multiple ? `/42769/2/${def.id}/7` : `/42769/2/${def.id}`;
      fc.assert(
        fc.property(valueArb(def.type, VALUES), (value) => {
          const records = [rec(path, value)];
          const bytes = lwm2mJsonCodec.encode(records, ctxAt(path));
          assert.deepEqual(plain(lwm2mJsonCodec.decode(bytes, ctxAt(path))), plain(records));
        }),
        { numRuns: 40 },
      );
    }
  });
});

// ---- mutation loop ----

describe('lwm2mJsonCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const seeds: [string, string][] = [
      [DEVICE_JSON, '/3/0'],
      [
        '{"bn":"/42769/0/","bt":5,"e":[{"n":"0","v":1.5,"t":-1},{"n":"1","ov":"3:0"},{"n":"2","bv":true},{"n":"3","sv":"AQID"},{"n":"4","v":18446744073709551615}]}',
        '/42769',
      ],
      [
        '{"bn":"/31024/0","e":[{"n":"/1","v":12},{"n":"/2/0","sv":"x\\u00e9"},{"n":"/3","bv":false}]}',
        '/31024/0',
      ],
      ['{"bn":"/3/0/9","e":[{"v":100}]}', '/3/0/9'],
    ];
    const { decoded } = mutateCodec(
      lwm2mJsonCodec,
      seeds.map(([text, path]) => [utf8(text), path] as const),
      11543,
    );
    assert.ok(decoded > 0 && decoded < 5000, `decoded ${decoded}`);
  });
});

// ---- real captures ----

describe('lwm2mJsonCodec: real captures', () => {
  it('decodes the LwM2M JSON payloads of both clients', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const values = new Map<string, LwM2mValue[]>();
    let count = 0;
    for (const p of capturedPayloadsOf(dir, 11543, [
      'lwm2m-1.1-client-udp.jsonl',
      'lwm2m-1.2-client-udp.jsonl',
    ])) {
      const ctx = ctxAt(p.requestPath);
      const records = lwm2mJsonCodec.decode(p.payload, ctx);
      assert.ok(records.length > 0, `seq ${p.line.seq}`);
      for (const r of records) {
        assert.equal(r.inferred, undefined, `${r.path.toString()} is in the model`);
        if (r.value) values.set(r.path.toString(), [...(values.get(r.path.toString()) ?? []), r.value]);
      }
      const again = lwm2mJsonCodec.decode(lwm2mJsonCodec.encode(records, ctx), ctx);
      assert.deepEqual(plain(again), plain(records), `seq ${p.line.seq}`);
      count++;
    }
    assert.equal(count, 16);
    const manufacturers = values.get('/3/0/0') ?? [];
    assert.deepEqual(new Set(manufacturers.map((v) => v.value)), new Set(['Open Mobile Alliance', 'client']));
    const battery = values.get('/3/0/9') ?? [];
    assert.ok(battery.length >= 6);
    for (const v of battery)
      assert.ok(v.type === 'integer' && Number(v.value) >= 0 && Number(v.value) <= 100);
    assert.ok((values.get('/1/0/1') ?? []).length >= 2);
    for (const path of ['/1/0/1', '/1/1/1'])
      for (const v of values.get(path) ?? []) assert.deepEqual(v, Value.integer(300));
    for (const v of values.get('/3/0/13') ?? [])
      assert.ok(v.type === 'time' && Number(v.value) > 1_600_000_000);
    assert.deepEqual(values.get('/1/1/6')?.[0], Value.boolean(true));
    assert.deepEqual(values.get('/1/1/17')?.[0], Value.unsigned(5));
    assert.deepEqual(values.get('/3/0/22/0')?.[0], Value.objlnk(33606, 0));
    assert.deepEqual(values.get('/3/0/7/1')?.[0], Value.integer(5000));
    assert.deepEqual(values.get('/3/0/17')?.[0], Value.string(''));
  });
});
