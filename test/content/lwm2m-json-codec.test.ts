import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext } from '../../src/content/content-codec.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { lwm2mJsonCodec } from '../../src/content/lwm2m-json-codec.js';
import type { LwM2mValue, ResourceType } from '../../src/model/data-types.js';
import { INT64_MAX, INT64_MIN, UINT64_MAX, Value } from '../../src/model/data-types.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../../src/model/object-definition.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { requireShared } from '../support/shared.js';

// ---- a tiny in-test model: /1 Server, /3 Device, and /99 with every type, single and multiple ----

/** Resources as `id:type`, with `*` marking a multiple resource. */
function objectDef(id: number, spec: string): ObjectDefinition {
  const resources = new Map<number, ResourceDefinition>();
  for (const item of spec.trim().split(/\s+/)) {
    const [rid, type] = item.replace('*', '').split(':') as [string, ResourceType];
    const def = {
      id: Number(rid),
      name: `r${rid}`,
      operations: 'RW' as const,
      multiple: item.endsWith('*'),
      mandatory: false,
      type,
    };
    resources.set(def.id, def);
  }
  return {
    id,
    name: `o${id}`,
    version: '1.0',
    lwm2mVersion: '1.0',
    urn: `urn:test:${id}`,
    multiple: true,
    mandatory: false,
    resources,
  };
}
const TYPES: ResourceType[] = [
  'float',
  'objlnk',
  'boolean',
  'opaque',
  'unsigned',
  'string',
  'integer',
  'time',
  'corelnk',
];
const OBJECTS = new Map(
  [
    objectDef(
      1,
      `0:integer 1:integer 2:integer 3:integer 4:none 5:integer 6:boolean 7:string 8:none 10:objlnk
      11:unsigned 12:time 13:unsigned 14:unsigned 15:boolean 16:boolean 17:unsigned 18:unsigned 19:unsigned
      20:unsigned 21:boolean 22:string 23:boolean 24:objlnk*`,
    ),
    objectDef(
      3,
      `0:string 1:string 2:string 3:string 4:none 6:integer* 7:integer* 8:integer* 9:integer 10:integer
      11:integer* 13:time 14:string 15:string 16:string 17:string 18:string 19:string 20:integer 21:integer 22:objlnk*`,
    ),
    // /99: resource k is a single TYPES[k], 10+k a multiple TYPES[k], 9 is executable.
    objectDef(99, [...TYPES.map((t, k) => `${k}:${t} ${10 + k}:${t}*`), '9:none'].join(' ')),
  ].map((o) => [o.id, o]),
);
const model: ObjectModel = {
  object: (id) => OBJECTS.get(id),
  resource: (o, r) => OBJECTS.get(o)?.resources.get(r),
};
const TYPED = [...(OBJECTS.get(99)?.resources.values() ?? [])];

// ---- helpers ----

const ctx = (path: string, extra: Partial<CodecContext> = {}): CodecContext => ({
  path: LwM2mPath.parse(path),
  model,
  ...extra,
});
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rec = (path: string, value?: LwM2mValue): LwM2mRecord =>
  value === undefined ? { path: LwM2mPath.parse(path) } : { path: LwM2mPath.parse(path), value };

/** Records as plain data, for deepEqual (opaque as hex, integers as decimal text). */
function plain(records: readonly LwM2mRecord[]): unknown[] {
  return records.map((r) => {
    const out: Record<string, unknown> = { path: r.path.toString() };
    if (r.value !== undefined) {
      out.type = r.value.type;
      const v = r.value.value;
      out.value =
        v instanceof Uint8Array
          ? toHex(v)
          : typeof v === 'bigint' || typeof v === 'number'
            ? Number.isNaN(v)
              ? 'NaN'
              : Object.is(v, -0)
                ? '-0'
                : String(v)
            : v;
    }
    if (r.time !== undefined) out.time = r.time;
    if (r.inferred === true) out.inferred = true;
    return out;
  });
}

function assertReason(fn: () => unknown, reason: ContentFormatReason, label = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ContentFormatError, `${label}: expected ContentFormatError, got ${String(e)}`);
    assert.equal(e.reason, reason, `${label}: ${e.message}`);
    return true;
  });
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (text: string, path: string, extra?: Partial<CodecContext>): unknown[] =>
  plain(lwm2mJsonCodec.decode(utf8(text), ctx(path, extra)));
const encode = (records: LwM2mRecord[], path: string): string =>
  new TextDecoder().decode(lwm2mJsonCodec.encode(records, ctx(path)));
const at = (path: string, value: LwM2mValue, time: number): LwM2mRecord => ({
  path: LwM2mPath.parse(path),
  value,
  time,
});

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
      '{"bn":"/99/0/","e":[{"n":"0","v":1.5},{"n":"1","ov":"3:0"},{"n":"2","bv":true},{"n":"3","sv":"AQID"},' +
      '{"n":"4","v":18446744073709551615},{"n":"5","sv":"x"},{"n":"6","v":-9223372036854775808},{"n":"7","v":-5},' +
      '{"n":"8","sv":"</3>"},{"n":"10/0","v":2}]}';
    assert.deepEqual(decode(text, '/99/0'), [
      { path: '/99/0/0', type: 'float', value: '1.5' },
      { path: '/99/0/1', type: 'objlnk', value: { objectId: 3, instanceId: 0 } },
      { path: '/99/0/2', type: 'boolean', value: true },
      { path: '/99/0/3', type: 'opaque', value: '010203' },
      { path: '/99/0/4', type: 'unsigned', value: '18446744073709551615' },
      { path: '/99/0/5', type: 'string', value: 'x' },
      { path: '/99/0/6', type: 'integer', value: '-9223372036854775808' },
      { path: '/99/0/7', type: 'time', value: '-5' },
      { path: '/99/0/8', type: 'corelnk', value: '</3>' },
      { path: '/99/0/10/0', type: 'float', value: '2' },
    ]);
    // base64url without padding is accepted as well
    assert.deepEqual(decode('{"bn":"/99/0/3","e":[{"sv":"-_8"}]}', '/99/0/3'), [
      { path: '/99/0/3', type: 'opaque', value: 'fbff' },
    ]);
  });

  it('reads integers beyond 2^53 exactly from the source text', () => {
    const [r] = lwm2mJsonCodec.decode(
      utf8('{"bn":"/3/0/","e":[{"n":"9","v":9007199254740993}]}'),
      ctx('/3/0'),
    );
    assert.equal(r?.value?.value, 9007199254740993n);
    // escapes in keys do not hide the "v" from the source scan
    const [e] = lwm2mJsonCodec.decode(
      utf8('{"bn":"/3/0/","e":[{"n":"9","\\u0076":9007199254740993}]}'),
      ctx('/3/0'),
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
    const alt: CodecContext = { path: LwM2mPath.parse('/lwm2m/3/0', { alternatePath: '/lwm2m' }), model };
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
    assertReason(() => lwm2mJsonCodec.decode(utf8(deep), ctx('/3/0')), 'too-deep');
    assertReason(
      () => lwm2mJsonCodec.decode(utf8('{"e":[],"x":[[1]]}'), ctx('/3/0', { limits: { maxDepth: 2 } })),
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
    ['v for a boolean', '{"e":[{"n":"2","v":1}]}', '/99/0', 'type-mismatch'],
    ['sv for an objlnk', '{"e":[{"n":"1","sv":"1:1"}]}', '/99/0', 'type-mismatch'],
    ['bad objlnk text', '{"e":[{"n":"1","ov":"1-1"}]}', '/99/0', 'type-mismatch'],
    ['objlnk beyond uint16', '{"e":[{"n":"1","ov":"65536:0"}]}', '/99/0', 'type-mismatch'],
    ['bad inferred objlnk', '{"e":[{"n":"1","ov":"x"}]}', '/31024/0', 'type-mismatch'],
    ['fraction for an integer', '{"e":[{"n":"9","v":1.5}]}', '/3/0', 'type-mismatch'],
    ['value for an executable', '{"e":[{"n":"4","v":1}]}', '/3/0', 'type-mismatch'],
    ['value on a multiple resource', '{"e":[{"n":"7","v":1}]}', '/3/0', 'type-mismatch'],
    ['instance of a single resource', '{"e":[{"n":"9/0","v":1}]}', '/3/0', 'type-mismatch'],
    ['integer beyond int64', '{"e":[{"n":"9","v":9223372036854775808}]}', '/3/0', 'out-of-range'],
    ['negative unsigned', '{"e":[{"n":"4","v":-1}]}', '/99/0', 'out-of-range'],
    ['unsigned beyond uint64', '{"e":[{"n":"4","v":18446744073709551616}]}', '/99/0', 'out-of-range'],
    ['float beyond a double', '{"e":[{"n":"0","v":1e400}]}', '/99/0', 'out-of-range'],
    ['inferred number beyond a double', '{"e":[{"n":"0","v":-1e400}]}', '/31024/0', 'out-of-range'],
    ['opaque not base64', '{"e":[{"n":"3","sv":"!!"}]}', '/99/0', 'bad-base64'],
  ];
  for (const [label, text, path, reason] of cases)
    it(`${label} -> ${reason}`, () =>
      assertReason(() => lwm2mJsonCodec.decode(utf8(text), ctx(path)), reason, label));

  it('refuses bad UTF-8 and too many entries', () => {
    assertReason(() => lwm2mJsonCodec.decode(Uint8Array.of(0x7b, 0xff, 0x7d), ctx('/3/0')), 'bad-utf8');
    const two = '{"e":[{"n":"9","v":1},{"n":"10","v":1}]}';
    assertReason(
      () => lwm2mJsonCodec.decode(utf8(two), ctx('/3/0', { limits: { maxRecords: 1 } })),
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
      rec('/99/0/0', Value.float(0.1)),
      rec('/99/0/1', Value.objlnk(65535, 65535)),
      rec('/99/0/2', Value.boolean(false)),
      rec('/99/0/3', Value.opaque(Uint8Array.of(1, 2, 3, 255))),
      rec('/99/0/4', Value.unsigned(UINT64_MAX)),
      rec('/99/0/5', Value.string('a"\\\u0001é')),
      rec('/99/0/6', Value.integer(INT64_MIN)),
      at('/99/0/7', Value.time(1), 1700000000.5),
      rec('/99/0/8', Value.corelnk('</3/0>')),
    ];
    const text = encode(records, '/99/0');
    assert.equal(
      text,
      '{"bn":"/99/0/","e":[{"n":"0","v":0.1},{"n":"1","ov":"65535:65535"},{"n":"2","bv":false},{"n":"3","sv":"AQID/w=="},' +
        '{"n":"4","v":18446744073709551615},{"n":"5","sv":"a\\"\\\\\\u0001é"},{"n":"6","v":-9223372036854775808},' +
        '{"n":"7","v":1,"t":1700000000.5},{"n":"8","sv":"</3/0>"}]}',
    );
    assert.deepEqual(plain(lwm2mJsonCodec.decode(utf8(text), ctx('/99/0'))), plain(records));
  });

  it('converts values to the model type, leaves empty containers out, refuses what it cannot carry', () => {
    assert.equal(
      encode([rec('/3/0/9', Value.string('7'))], '/3/0/9'),
      '{"bn":"/3/0/","e":[{"n":"9","v":7}]}',
    );
    assert.equal(encode([rec('/3/0/11'), rec('/3/1')], '/3'), '{"bn":"/3/","e":[]}');
    const refused: [LwM2mRecord[], string][] = [
      [[rec('/3/0/9', Value.string('x'))], '/3/0'],
      [[rec('/99/0/0', Value.float(NaN))], '/99/0'],
      [[rec('/99/0/0', Value.float(Infinity))], '/99/0'],
      [[at('/3/0/9', Value.integer(1), NaN)], '/3/0'],
      [[rec('/99/0/9', Value.none())], '/99/0'],
      [[rec('/3/0/9', Value.integer(1))], '/3/1'],
      [[rec('/3/0/7', Value.integer(1))], '/3/0'],
      [[rec('/3/0/9/0', Value.integer(1))], '/3/0'],
      [[rec('/3/0', Value.integer(1))], '/3'],
      [[rec('/3/0/9', Value.integer(1)), rec('/3/0/9', Value.integer(2))], '/3/0'],
    ];
    for (const [records, path] of refused)
      assertReason(
        () => lwm2mJsonCodec.encode(records, ctx(path)),
        'not-encodable',
        `${plain(records).length} at ${path}`,
      );
  });

  it('keeps a historical series', () => {
    const records = [
      at('/3/0/9', Value.integer(90), 995),
      at('/3/0/9', Value.integer(95), 999),
      rec('/3/0/9', Value.integer(99)),
    ];
    const text = encode(records, '/3/0');
    assert.equal(
      text,
      '{"bn":"/3/0/","e":[{"n":"9","v":90,"t":995},{"n":"9","v":95,"t":999},{"n":"9","v":99}]}',
    );
    assert.deepEqual(plain(lwm2mJsonCodec.decode(utf8(text), ctx('/3/0'))), plain(records));
  });
});

// ---- property tests ----

const arbValue: Record<Exclude<ResourceType, 'none'>, fc.Arbitrary<LwM2mValue>> = {
  string: fc.string({ unit: 'binary', maxLength: 40 }).map((v) => Value.string(v)),
  corelnk: fc.string({ maxLength: 40 }).map((v) => Value.corelnk(v)),
  integer: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map((v) => Value.integer(v)),
  time: fc.oneof(fc.integer(), fc.bigInt({ min: INT64_MIN, max: INT64_MAX })).map((v) => Value.time(v)),
  unsigned: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: UINT64_MAX })).map((v) => Value.unsigned(v)),
  // JSON has no NaN, infinities or negative zero
  float: fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .filter((f) => !Object.is(f, -0))
    .map((v) => Value.float(v)),
  boolean: fc.boolean().map((v) => Value.boolean(v)),
  opaque: fc.uint8Array({ maxLength: 100 }).map((v) => Value.opaque(v)),
  objlnk: fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([o, i]) => Value.objlnk(o, i)),
};
// a time of -0 is written as 0, the same instant
const arbTime = fc.option(
  fc
    .oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
    .filter((t) => !Object.is(t, -0)),
  { nil: undefined },
);

/** Valued records of one random /99 instance, some with times (so names may repeat). */
function arbRecords(iid: number): fc.Arbitrary<LwM2mRecord[]> {
  const one = fc.constantFrom(...TYPED.filter((d) => d.type !== 'none')).chain((def) => {
    const type = def.type as Exclude<ResourceType, 'none'>;
    const ri = def.multiple ? fc.integer({ min: 0, max: 65534 }) : fc.constant(undefined);
    return fc.tuple(ri, arbValue[type], arbTime).map(([r, value, time]): LwM2mRecord => {
      const path = LwM2mPath.of(99, iid, def.id, ...(r === undefined ? [] : [r]));
      return time === undefined ? { path, value } : { path, value, time };
    });
  });
  return fc.uniqueArray(one, { selector: (r) => `${r.path.toString()}@${r.time}`, maxLength: 12 });
}

describe('lwm2mJsonCodec: round trips', () => {
  it('decode(encode(x)) = x at instance, object and root level', () => {
    const arb = fc
      .integer({ min: 0, max: 65534 })
      .chain((iid) => arbRecords(iid).map((records) => ({ iid, records })));
    fc.assert(
      fc.property(arb, ({ iid, records }) => {
        const expected = plain(records);
        for (const path of [`/99/${iid}`, '/99', '/']) {
          const bytes = lwm2mJsonCodec.encode(records, ctx(path));
          assert.deepEqual(plain(lwm2mJsonCodec.decode(bytes, ctx(path))), expected);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('decode(encode(x)) = x for one value of every type at its own path', () => {
    for (const def of TYPED) {
      if (def.type === 'none') continue;
      const path = def.multiple ? `/99/2/${def.id}/7` : `/99/2/${def.id}`;
      fc.assert(
        fc.property(arbValue[def.type], (value) => {
          const records = [rec(path, value)];
          const bytes = lwm2mJsonCodec.encode(records, ctx(path));
          assert.deepEqual(plain(lwm2mJsonCodec.decode(bytes, ctx(path))), plain(records));
        }),
        { numRuns: 40 },
      );
    }
  });
});

// ---- mutation loop ----

/** A small seeded PRNG (mulberry32), so the mutation run is the same every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const bytes = [...input];
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    switch (Math.floor(rand() * 5)) {
      case 0:
        if (at < bytes.length) bytes[at] = (bytes[at] as number) ^ (1 << Math.floor(rand() * 8));
        break;
      case 1:
        bytes.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 2:
        bytes.splice(at, 1);
        break;
      case 3:
        bytes.length = Math.min(bytes.length, at);
        break;
      default:
        if (at < bytes.length) bytes[at] = Math.floor(rand() * 256);
    }
  }
  return Uint8Array.from(bytes);
}

describe('lwm2mJsonCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const seeds: [string, string][] = [
      [DEVICE_JSON, '/3/0'],
      [
        '{"bn":"/99/0/","bt":5,"e":[{"n":"0","v":1.5,"t":-1},{"n":"1","ov":"3:0"},{"n":"2","bv":true},{"n":"3","sv":"AQID"},{"n":"4","v":18446744073709551615}]}',
        '/99',
      ],
      [
        '{"bn":"/31024/0","e":[{"n":"/1","v":12},{"n":"/2/0","sv":"x\\u00e9"},{"n":"/3","bv":false}]}',
        '/31024/0',
      ],
      ['{"bn":"/3/0/9","e":[{"v":100}]}', '/3/0/9'],
    ];
    const rand = prng(11543);
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      const [text, path] = seeds[i % seeds.length] as [string, string];
      const input = mutate(utf8(text), rand);
      try {
        lwm2mJsonCodec.decode(input, ctx(path));
        decoded++;
      } catch (e) {
        assert.ok(
          e instanceof ContentFormatError,
          `input ${Buffer.from(input).toString()} at ${path} threw ${String(e)}`,
        );
      }
    }
    assert.ok(decoded > 0 && decoded < 5000, `decoded ${decoded}`);
  });
});

// ---- real captures ----

interface CaptureLine {
  seq: number;
  dir: string;
  hex: string;
  summary: string;
  token: string;
  contentFormat: number | null;
  payloadLength: number;
}

/** Payloads of `format` with the path of the request they answer (or carry). */
function capturedPayloads(
  file: string,
  format: number,
): { seq: number; dir: string; path: string; payload: Uint8Array }[] {
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CaptureLine);
  const requestPath = new Map<string, string>();
  const out: { seq: number; dir: string; path: string; payload: Uint8Array }[] = [];
  for (const l of lines) {
    const m = /^(?:CON|NON) (?:GET|PUT|POST|FETCH|IPATCH|iPATCH|DELETE) (\/[^\s?]*)/.exec(l.summary);
    if (l.dir === 'server->client' && m) requestPath.set(l.token, m[1] as string);
    if (l.contentFormat !== format || l.payloadLength === 0) continue;
    const path = l.dir === 'server->client' ? m?.[1] : requestPath.get(l.token);
    assert.ok(path, `no request path for seq ${l.seq}`);
    const datagram = Buffer.from(l.hex, 'hex');
    out.push({
      seq: l.seq,
      dir: l.dir,
      path,
      payload: new Uint8Array(datagram.subarray(datagram.length - l.payloadLength)),
    });
  }
  return out;
}

describe('lwm2mJsonCodec: real captures', () => {
  it('decodes the LwM2M JSON payloads of both clients', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const values = new Map<string, LwM2mValue[]>();
    let count = 0;
    for (const file of ['lwm2m-1.1-client-udp.jsonl', 'lwm2m-1.2-client-udp.jsonl']) {
      for (const p of capturedPayloads(join(dir, 'captures', file), 11543)) {
        const records = lwm2mJsonCodec.decode(p.payload, ctx(p.path));
        assert.ok(records.length > 0, `seq ${p.seq}`);
        for (const r of records) {
          assert.equal(r.inferred, undefined, `${r.path.toString()} is in the model`);
          if (r.value) values.set(r.path.toString(), [...(values.get(r.path.toString()) ?? []), r.value]);
        }
        const again = lwm2mJsonCodec.decode(lwm2mJsonCodec.encode(records, ctx(p.path)), ctx(p.path));
        assert.deepEqual(plain(again), plain(records), `seq ${p.seq}`);
        count++;
      }
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
