import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborFloat, CborMap, CborTagged, type CborValue } from '../../src/content/cbor/cbor-reader.js';
import { CborWriter, encodeCbor } from '../../src/content/cbor/cbor-writer.js';
import { cborCodec } from '../../src/content/cbor-codec.js';
import type { CodecContext, ContentCodec } from '../../src/content/content-codec.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { senmlCborCodec, senmlEtchCborCodec } from '../../src/content/senml-cbor-codec.js';
import { senmlJsonCodec } from '../../src/content/senml-json-codec.js';
import {
  INT64_MAX,
  INT64_MIN,
  UINT64_MAX,
  valuesEqual,
  type ResourceType,
} from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { timeArb, valueArb, valuedRecordsArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { CAPTURE_FILES, capturedPayloads, targetPath } from '../support/captures.js';
import { mutateCodec } from '../support/mutate.js';
import { assertSameRecords, showRecords } from '../support/records.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, ctxAt, testModel } from '../support/test-model.js';

// The model is the shared test model: the core objects, and TEST_OBJECT (/42769) with one resource
// of every type (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable). /72 and /30000
// are not in the model.

const ROOT = ctxAt('/');
const p = (s: string): LwM2mPath => LwM2mPath.parse(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const map = (...entries: [CborValue, CborValue][]): CborMap => new CborMap(entries);

const decode = (v: CborValue, ctx = ROOT, codec: ContentCodec = senmlCborCodec): LwM2mRecord[] =>
  codec.decode(encodeCbor(v), ctx);

// ---- spec examples, in CBOR ----

describe('SenML CBOR: spec examples and labels (RFC 8428 §6)', () => {
  it('the Send example encodes with integer labels and decodes back', () => {
    const records = senmlJsonCodec.decode(
      new TextEncoder().encode(
        '[{"n":"/6/0/0","v":43.61092},{"n":"/6/0/1","v":3.87723},{"n":"/4/0/2","v":-49}]',
      ),
      ROOT,
    );
    const bytes = senmlCborCodec.encode(records, ROOT);
    assert.equal(
      hex(bytes),
      '83' +
        'a200662f362f302f3002fb4045ce32a0663c75' +
        'a200662f362f302f3102fb400f049129888f86' +
        'a200662f342f302f32023830',
    );
    assertSameRecords(senmlCborCodec.decode(bytes, ROOT), records);
  });

  it('the historical example: bn, bt, relative t', () => {
    const pack = [
      map([-2, '/72/'], [-3, 25462634], [0, '1/2'], [2, new CborFloat(22.4)], [6, -5]),
      map([0, '1/2'], [2, new CborFloat(22.9)], [6, -30]),
    ];
    assert.deepEqual(showRecords(decode(pack)), [
      '/72/1/2@25462629 = float?:22.4',
      '/72/1/2@25462604 = float?:22.9',
    ]);
  });

  it('a fetch pack of names, with changing base names', () => {
    const pack = [map([-2, '/4/0/'], [0, '0']), map([0, '1']), map([-2, '/6/'], [0, '0'])];
    assert.deepEqual(showRecords(decode(pack)), ['/4/0/0', '/4/0/1', '/6/0']);
  });

  it('every value field: v, vs, vb, vd (byte string), "vlo" (text key)', () => {
    const o = `/${TEST_OBJECT}/0/`;
    const pack = [
      map([-2, o], [0, '3'], [8, unhex('0102ff')]),
      map([0, '1'], ['vlo', '3:0']),
      map([0, '4'], [2, UINT64_MAX]),
      map([0, '8'], [3, '</3/0>']),
      map([0, '15/0'], [3, 'a']),
      map([0, '7'], [2, 1700000000]),
      map([0, '10/1'], [2, 2]),
      map([0, '2'], [4, true]),
    ];
    const records = decode(pack);
    assert.deepEqual(showRecords(records), [
      `${o}3 = opaque:0102ff`,
      `${o}1 = objlnk:3:0`,
      `${o}4 = unsigned:${UINT64_MAX}`,
      `${o}8 = corelnk:</3/0>`,
      `${o}15/0 = string:a`,
      `${o}7 = time:1700000000`,
      `${o}10/1 = float:2`,
      `${o}2 = boolean:true`,
    ]);
    // Re-encoded: bn shared, same labels, objlnk under the text key.
    const again = senmlCborCodec.encode(records, ROOT);
    assert.ok(hex(again).includes(hex(encodeCbor('vlo'))));
    assert.ok(hex(again).includes('1bffffffffffffffff'), 'Unsigned max as uint64');
    assertSameRecords(senmlCborCodec.decode(again, ROOT), records);
  });

  it('tolerates bver, bu, u, ut, s, bs; bv adds to v exactly', () => {
    const pack = [
      map(
        [-1, 10],
        [-4, 'V'],
        [-5, 9007199254740992],
        [-6, 1],
        [-2, '/3/0/'],
        [0, '9'],
        [1, 'V'],
        [2, 1],
        [5, 3],
        [7, 60],
      ),
      map([0, '7/0'], [2, 1]),
    ];
    assert.deepEqual(
      decode(pack).map((r) => r.value?.value),
      [9007199254740993n, 9007199254740993n],
    );
    assert.deepEqual(
      showRecords(decode([map([-5, new CborFloat(0.5)], [0, '/6/0/0'], [2, new CborFloat(0.25)])])),
      ['/6/0/0 = float:0.75'],
    );
  });

  it('unknown integer labels and text keys are ignored (RFC 8428 §4.4)', () => {
    assert.deepEqual(showRecords(decode([map([0, '/3/0/9'], [2, 1], [42, 'x'], ['note', 'y'], [-99, 1])])), [
      '/3/0/9 = integer:1',
    ]);
  });

  it('tag 1 (epoch time) around v: Time resources and inference; refused elsewhere', () => {
    assert.deepEqual(showRecords(decode([map([0, '/3/0/13'], [2, new CborTagged(1, 1700000000)])])), [
      '/3/0/13 = time:1700000000',
    ]);
    assert.deepEqual(
      showRecords(decode([map([0, '/3/0/13'], [2, new CborTagged(1, new CborFloat(1700000000.75))])])),
      ['/3/0/13 = time:1700000000'],
    );
    assert.deepEqual(showRecords(decode([map([0, '/30000/0/1'], [2, new CborTagged(1, 5)])])), [
      '/30000/0/1 = time?:5',
    ]);
    assertReason(() => decode([map([0, '/3/0/9'], [2, new CborTagged(1, 5)])]), 'type-mismatch');
    assertReason(() => decode([map([0, '/6/0/0'], [2, new CborTagged(1, 5)])]), 'type-mismatch');
    assertReason(
      () => decode([map([0, '/3/0/13'], [2, new CborTagged(0, '2020-01-01T00:00:00Z')])]),
      'malformed',
    );
  });

  it('floats use the smallest exact width: 16, 32 or 64 bits', () => {
    const size = (value: number): number =>
      senmlCborCodec.encode([{ path: p('/6/0/0'), value: { type: 'float', value } }], ROOT).length;
    const base = size(1.5) - 3; // 1.5 is a half float: f9 3e00
    assert.equal(size(1.5), base + 3);
    assert.equal(size(100000), base + 5);
    assert.equal(size(12.34), base + 9);
    assert.equal(size(5), base + 3, 'an integral float stays a float (f9 4500)');
    // Integers are CBOR ints in their shortest form.
    const intSize = (value: number | bigint): number =>
      senmlCborCodec.encode([{ path: p('/3/0/9'), value: { type: 'integer', value } }], ROOT).length;
    assert.deepEqual(
      [intSize(23), intSize(24), intSize(-24), intSize(-25), intSize(INT64_MIN)].map((n) => n - intSize(0)),
      [0, 1, 0, 1, 8],
    );
  });
});

// ---- payload sizes (REQUIREMENTS.md, ENC-1) ----

describe('payload sizes', () => {
  it('payload sizes', () => {
    // Our encoders with a six-character name like /3/0/9 (integer 123) and /6/0/0 (float 12.34).
    const int123: LwM2mRecord[] = [{ path: p('/3/0/9'), value: { type: 'integer', value: 123 } }];
    const float1234: LwM2mRecord[] = [{ path: p('/6/0/0'), value: { type: 'float', value: 12.34 } }];
    const json = (r: LwM2mRecord[]) => senmlJsonCodec.encode(r, ROOT);
    const cbor = (r: LwM2mRecord[]) => senmlCborCodec.encode(r, ROOT);

    // SenML JSON: `[{"n":"/3/0/9","v":123}]` = 24 bytes and `[{"n":"/6/0/0","v":12.34}]` = 26 bytes:
    // exactly the REQUIREMENTS.md figures (24 or 26), which therefore assume the name "/3/0/9" in `n`.
    assert.equal(new TextDecoder().decode(json(int123)), '[{"n":"/3/0/9","v":123}]');
    assert.equal(json(int123).length, 24);
    assert.equal(json(float1234).length, 26);

    // SenML CBOR: 81 a2 00 66"/3/0/9" 02 187b = 13 bytes; with 12.34 = 20 bytes, because 12.34 has no
    // exact half or single form and takes a 9-byte double.
    assert.equal(hex(cbor(int123)), '81a200662f332f302f3902187b');
    assert.equal(cbor(int123).length, 13);
    assert.equal(cbor(float1234).length, 20);
    assert.notEqual(Math.fround(12.34), 12.34);

    // REQUIREMENTS.md says 7 or 14: our packs minus the 6 name characters, i.e. one record whose name
    // is empty (the target implied by the request), 123 as a 2-byte uint, 12.34 as a 9-byte double.
    const emptyName = (v: CborValue): Uint8Array => new CborWriter().value([map([0, ''], [2, v])]).finish();
    assert.equal(emptyName(123).length, 7);
    assert.equal(emptyName(new CborFloat(12.34)).length, 14);
    assert.equal(cbor(int123).length - '/3/0/9'.length, 7);
    assert.equal(cbor(float1234).length - '/6/0/0'.length, 14);

    // For comparison, CBOR (60) carries the bare value: 2 bytes (18 7b) and 9 bytes.
    assert.equal(cborCodec.encode(int123, ctxAt('/3/0/9')).length, 2);
    assert.equal(cborCodec.encode(float1234, ctxAt('/6/0/0')).length, 9);
  });
});

// ---- malformed input ----

describe('SenML CBOR: malformed input (reason asserted)', () => {
  const r9 = (...extra: [CborValue, CborValue][]): CborMap => map([0, '/3/0/9'], ...extra);
  const cases: [string, CborValue, ContentFormatReason, string?][] = [
    ['not an array (map)', r9([2, 1]), 'malformed'],
    ['not an array (int)', 5, 'malformed'],
    ['record not a map', [1], 'malformed'],
    ['record is a nested array', [[r9()]], 'malformed'],
    ['two value fields', [r9([2, 1], [3, '1'])], 'malformed'],
    ['the same label twice', [map([0, '/3/0/9'], [0, '/3/0/9'], [2, 1])], 'malformed'],
    ['no name', [map([2, 1])], 'malformed'],
    ['name is not text', [map([0, 9], [2, 1])], 'malformed'],
    ['key is a float', [map([new CborFloat(0), '/3/0/9'])], 'malformed'],
    ['key is an array', [map([[0], '/3/0/9'])], 'malformed'],
    ['vd as base64 text', [map([0, `/${TEST_OBJECT}/0/3`], [8, 'AAAA'])], 'malformed'],
    ['v as text', [r9([2, '1'])], 'malformed'],
    ['v is undefined', [r9([2, undefined])], 'malformed'],
    ['v is nested', [r9([2, [1]])], 'malformed'],
    ['vb is not a boolean', [map([0, '/1/0/6'], [4, 1])], 'malformed'],
    ['t is text', [r9([2, 1], [6, 'now'])], 'malformed'],
    ['bignum tag around v', [r9([2, new CborTagged(2, unhex('01'))])], 'malformed'],
    ['null outside ETCH', [map([0, '/3/0/7/0'], [2, null])], 'malformed'],
    ['must-understand text key', [r9([2, 1], ['x_', 1])], 'malformed'],
    ['SenML version too new', [r9([-1, 11], [2, 1])], 'malformed'],
    ['name not a path', [map([0, '3/0/9'], [2, 1])], 'invalid-path'],
    ['name with reserved id', [map([0, '/3/65535/9'], [2, 1])], 'invalid-path'],
    ['name outside the request path', [map([0, '/1/0/1'], [2, 1])], 'invalid-path', '/3'],
    ['multiple resource without instance', [map([0, '/3/0/7'], [2, 1])], 'invalid-path'],
    ['duplicate', [r9([2, 1]), r9([2, 1])], 'duplicate'],
    ['duplicate at the same time', [r9([2, 1], [6, 5]), r9([2, 2], [6, 5])], 'duplicate'],
    [
      'value below a valued path',
      [map([0, '/30000/0/1'], [2, 1]), map([0, '/30000/0/1/0'], [2, 1])],
      'duplicate',
    ],
    ['text for an integer', [r9([3, '1'])], 'type-mismatch'],
    ['bytes for a string', [map([0, '/3/0/0'], [8, unhex('00')])], 'type-mismatch'],
    ['float fraction for an integer', [r9([2, new CborFloat(1.5)])], 'type-mismatch'],
    ['NaN for an integer', [r9([2, new CborFloat(NaN)])], 'type-mismatch'],
    ['value for an executable', [map([0, '/3/0/4'], [4, true])], 'type-mismatch'],
    ['bad objlnk', [map([0, `/${TEST_OBJECT}/0/1`], ['vlo', '3'])], 'type-mismatch'],
    ['integer beyond int64', [r9([2, INT64_MAX + 1n])], 'out-of-range'],
    ['negative unsigned', [map([0, `/${TEST_OBJECT}/0/4`], [2, -1])], 'out-of-range'],
    ['infinite float for an integer', [r9([2, new CborFloat(Infinity)])], 'type-mismatch'],
  ];
  for (const [name, value, reason, path] of cases) {
    it(`${name} -> ${reason}`, () => assertReason(() => decode(value, ctxAt(path)), reason));
  }

  const raw: [string, string, ContentFormatReason][] = [
    ['empty payload', '', 'truncated'],
    ['bad UTF-8 in a name', '81a10062c328', 'bad-utf8'],
    ['bad UTF-8 in vs', '81a200662f332f302f300362c328', 'bad-utf8'],
    ['truncated inside a record', '81a1021901', 'truncated'],
    ['trailing bytes', '80ff', 'trailing-bytes'],
    ['declared length beyond input', '9bffffffffffffffff', 'too-large'],
    ['reserved additional information', '81a1001c', 'malformed'],
    ['deep nesting', '81'.repeat(40) + '80', 'too-deep'],
  ];
  for (const [name, h, reason] of raw) {
    it(`${name} -> ${reason}`, () => assertReason(() => senmlCborCodec.decode(unhex(h), ROOT), reason));
  }

  it('more records than the limit -> too-large', () => {
    const ctx: CodecContext = { ...ROOT, limits: { maxRecords: 1 } };
    assertReason(() => decode([r9(), map([0, '/3/0/0'])], ctx), 'too-large');
  });
});

// ---- round trips ----

/** Valued records of /0, /1, /3, /6 and every type, some historical; NaN and infinities too. */
const recordsArb = valuedRecordsArb({ objects: [0, 1, 3, 6, TEST_OBJECT], time: timeArb });

describe('SenML CBOR: round trips (property)', () => {
  it('decode(encode(records)) gives the records back, every type, bigint edges, NaN and infinities', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        assertSameRecords(senmlCborCodec.decode(senmlCborCodec.encode(records, ROOT), ROOT), records);
      }),
      { numRuns: 300 },
    );
  });

  it('historical series keep every record in order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.double({ min: -1e10, max: 1e10, noNaN: true }).map((t) => (t === 0 ? 0 : t)),
          { minLength: 2, maxLength: 8 },
        ),
        (times) => {
          const records = times.map((time, i): LwM2mRecord => ({
            path: p('/3/0/9'),
            value: { type: 'integer', value: i },
            time,
          }));
          assertSameRecords(senmlCborCodec.decode(senmlCborCodec.encode(records, ROOT), ROOT), records);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('unknown resources round-trip with the inferred type', () => {
    const types: ResourceType[] = ['integer', 'float', 'string', 'boolean', 'opaque', 'objlnk'];
    const arb = fc.constantFrom(...types).chain((type) => valueArb(type));
    fc.assert(
      fc.property(arb, (value) => {
        const [r] = senmlCborCodec.decode(
          senmlCborCodec.encode([{ path: p('/30000/0/1'), value }], ROOT),
          ROOT,
        );
        assert.equal(r?.inferred, true);
        assert.ok(r?.value && valuesEqual(r.value, value), `${value.type}: ${showRecords([r])[0]}`);
      }),
      { numRuns: 200 },
    );
  });
});

// ---- captures ----

describe('SenML CBOR: real captures', () => {
  it('every SenML CBOR (112) payload decodes, and re-encodes to the same records', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    let count = 0;
    for (const file of CAPTURE_FILES) {
      for (const c of capturedPayloads(shared, file)) {
        if (c.contentFormat !== 112 && c.contentFormat !== 322) continue;
        const ctx: CodecContext = { path: targetPath(c), model: testModel };
        const codec = c.contentFormat === 112 ? senmlCborCodec : senmlEtchCborCodec;
        const records = codec.decode(c.payload, ctx);
        assert.ok(records.length > 0, `${file} seq ${c.line.seq}`);
        assertSameRecords(codec.decode(codec.encode(records, ctx), ctx), records);
        count++;
      }
    }
    assert.ok(count >= 25, `only ${count} payloads`);
  });

  it("client A's Read /3/0 in 112: Manufacturer string, /3/0/7 multiple with instances", (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const read = capturedPayloads(shared, 'lwm2m-1.2-client-udp.jsonl').find(
      (c) => !c.isRequest && c.requestPath === '/3/0' && c.contentFormat === 112,
    );
    assert.ok(read);
    const records = senmlCborCodec.decode(read.payload, { path: p('/3/0'), model: testModel });
    assert.deepEqual(showRecords(records.filter((r) => r.path.resourceId === 0)), ['/3/0/0 = string:client']);
    const voltages = records.filter((r) => r.path.resourceId === 7);
    assert.ok(voltages.length >= 1);
    for (const r of voltages) {
      assert.ok(r.path.isResourceInstance(), r.path.toString());
      assert.equal(r.value?.type, 'integer');
      assert.equal(r.inferred, undefined);
    }
    assert.equal(records.find((r) => r.path.resourceId === 13)?.value?.type, 'time');
    // The core catalogue knows /3/0/22 (Objlnk, multiple), so the vlo is typed, not inferred.
    assert.deepEqual(showRecords(records.filter((r) => r.path.resourceId === 22)), [
      '/3/0/22/0 = objlnk:33606:0',
    ]);
  });

  it("client A's Send in 112 carries /3/0/0, /3/0/9, /3/0/7 with a base time", (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const send = capturedPayloads(shared, 'lwm2m-1.2-client-udp.jsonl').find((c) => c.requestPath === '/dp');
    assert.ok(send);
    assert.equal(send.contentFormat, 112);
    const records = senmlCborCodec.decode(send.payload, { path: LwM2mPath.ROOT, model: testModel });
    assert.deepEqual(
      records.map((r) => r.path.toString()),
      ['/3/0/0', '/3/0/9', '/3/0/7/0'],
    );
    assert.deepEqual(records[0]?.value, { type: 'string', value: 'client' });
    const time = records[0]?.time;
    assert.ok(time !== undefined && time > 1.7e9, 'bt carries to every record');
    assert.ok(records.every((r) => r.time === time));
  });

  it('bootstrap captures: SenML CBOR Bootstrap-Write /0/1 and /1/1, Bootstrap-Read /1', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const payloads = capturedPayloads(shared, 'bootstrap-1.2-client.jsonl').filter(
      (c) => c.contentFormat === 112,
    );
    const write01 = payloads.find((c) => c.isRequest && c.requestPath === '/0/1');
    const write11 = payloads.find((c) => c.isRequest && c.requestPath === '/1/1');
    assert.ok(write01 && write11);
    assert.deepEqual(
      showRecords(senmlCborCodec.decode(write01.payload, { path: p('/0/1'), model: testModel })),
      [
        '/0/1/0 = string:coap://127.0.0.1:5683',
        '/0/1/1 = boolean:false',
        '/0/1/10 = integer:1',
        '/0/1/2 = integer:3',
      ],
    );
    assert.deepEqual(
      showRecords(senmlCborCodec.decode(write11.payload, { path: p('/1/1'), model: testModel })),
      ['/1/1/0 = integer:1', '/1/1/1 = integer:300', '/1/1/6 = boolean:false', '/1/1/7 = string:U'],
    );
    const read = payloads.find((c) => !c.isRequest && c.requestPath === '/1');
    assert.ok(read);
    const records = senmlCborCodec.decode(read.payload, { path: p('/1'), model: testModel });
    assert.ok(showRecords(records).includes('/1/1/1 = integer:300'));
  });
});

// ---- mutation loop ----

describe('SenML CBOR: seeded mutation loop', () => {
  const seeds = [
    // client A: Read /3/0/7, Send, Observe-Composite notification; Bootstrap-Write /0/1
    '81a321662f332f302f3700622f3002197e90',
    '83a421642f332f3000622f3022fb41dac1b743f123360366636c69656e74a200622f390200a200642f372f3002197d4a',
    '82a421642f332f3000632f313322fb41dac1b742a8203e021a6b06dd0aa200622f390200',
    '84a321652f302f312f0061300375636f61703a2f2f3132372e302e302e313a35363833a200613104f4a2006231300201a20061320203',
    hex(
      encodeCbor([
        map([-2, `/${TEST_OBJECT}/0/`], [0, '3'], [8, unhex('0102')]),
        map([0, '1'], ['vlo', '3:0']),
        map([0, '4'], [2, UINT64_MAX]),
      ]),
    ),
    hex(encodeCbor([map([0, '/3/0/7/0'], [2, null]), map([0, '/3/0/13'], [2, new CborTagged(1, 5)])])),
  ].map(unhex);
  const tokens = [
    '80',
    '81',
    'a1',
    'a2',
    'f6',
    'f7',
    'ff',
    '9f',
    'bf',
    '5f',
    '7f',
    'c1',
    'fb',
    '1b',
    '3b',
    '21',
    '63766c6f',
    '60',
  ].map(unhex);

  for (const codec of [senmlCborCodec, senmlEtchCborCodec])
    it(`${codec.format.name}: 5000 mutated inputs throw only ContentFormatError`, () => {
      const atRoot = seeds.map((s) => [s, '/'] as const);
      const { decoded } = mutateCodec(codec, atRoot, codec.format.id, { mutate: { tokens } });
      assert.ok(decoded > 0, 'some mutations should still decode');
    });
});
