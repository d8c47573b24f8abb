import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext, ContentCodec } from '../../src/content/content-codec.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { senmlEtchJsonCodec, senmlJsonCodec } from '../../src/content/senml-json-codec.js';
import { INT64_MIN, UINT64_MAX, valuesEqual, type ResourceType } from '../../src/model/data-types.js';
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
// of every type (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable). /4 is a core
// object; /72, /30000 and /33605 are not in the model.

const ROOT = ctxAt('/');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const p = (s: string): LwM2mPath => LwM2mPath.parse(s);

function decodeJson(json: string, ctx = ROOT, codec: ContentCodec = senmlJsonCodec): LwM2mRecord[] {
  return codec.decode(utf8(json), ctx);
}

// ---- spec examples ----

describe('SenML JSON: spec examples (Core §Read-Composite, §Send, §Information Reporting)', () => {
  it('Read-Composite fetch pack of names', () => {
    const records = decodeJson('[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]');
    assert.deepEqual(showRecords(records), ['/3/0/0', '/3/0/9', '/1/0/1']);
    assert.equal(
      text(senmlJsonCodec.encode(records, ROOT)),
      '[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]',
    );
  });

  it('base names change within a pack', () => {
    const records = decodeJson('[{"bn":"/4/0/","n":"0"},{"n":"1"},{"bn":"/6/","n":"0"}]');
    assert.deepEqual(showRecords(records), ['/4/0/0', '/4/0/1', '/6/0']);
  });

  it('[{"n":"/"}] names everything', () => {
    const records = decodeJson('[{"n":"/"}]');
    assert.equal(records.length, 1);
    assert.ok(records[0]!.path.isRoot());
  });

  it('the Send example types every value by the model (/4/0/2: Radio Signal Strength)', () => {
    const records = decodeJson(
      '[{"n":"/6/0/0","v":43.61092},{"n":"/6/0/1","v":3.87723},{"n":"/4/0/2","v":-49}]',
    );
    assert.deepEqual(showRecords(records), [
      '/6/0/0 = float:43.61092',
      '/6/0/1 = float:3.87723',
      '/4/0/2 = integer:-49',
    ]);
    assert.equal(
      text(senmlJsonCodec.encode(records, ROOT)),
      '[{"n":"/6/0/0","v":43.61092},{"n":"/6/0/1","v":3.87723},{"n":"/4/0/2","v":-49}]',
    );
  });

  it('the historical example: two records /72/1/2 at 25462629 and 25462604', () => {
    const records = decodeJson(
      '[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30}]',
    );
    assert.deepEqual(showRecords(records), [
      '/72/1/2@25462629 = float?:22.4',
      '/72/1/2@25462604 = float?:22.9',
    ]);
    // Encoding: one distinct name -> no bn; every record timed -> bt once, relative t after.
    assert.equal(
      text(senmlJsonCodec.encode(records, ROOT)),
      '[{"bt":25462629,"n":"/72/1/2","v":22.4},{"n":"/72/1/2","v":22.9,"t":-25}]',
    );
    assertSameRecords(decodeJson(text(senmlJsonCodec.encode(records, ROOT))), records);
  });

  it('base name rule: shared leading segments, as the Core examples write /3/0/', () => {
    const records: LwM2mRecord[] = [
      { path: p('/3/0/0'), value: { type: 'string', value: 'Open Mobile Alliance' } },
      { path: p('/3/0/9'), value: { type: 'integer', value: 100 } },
      { path: p('/3/0/7/0'), value: { type: 'integer', value: 3800 } },
    ];
    assert.equal(
      text(senmlJsonCodec.encode(records, ctxAt('/3/0'))),
      '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"7/0","v":3800}]',
    );
    // A name that is a prefix of another never leaves an empty n.
    const names: LwM2mRecord[] = [{ path: p('/3/0') }, { path: p('/3/0/9') }];
    assert.equal(text(senmlJsonCodec.encode(names, ROOT)), '[{"bn":"/3/","n":"0"},{"n":"0/9"}]');
  });

  it('t without bt, and mixed timed/untimed records use absolute t', () => {
    const records = decodeJson('[{"n":"/3/0/9","v":1,"t":1700000000},{"n":"/3/0/0","vs":"x"}]');
    assert.deepEqual(showRecords(records), ['/3/0/9@1700000000 = integer:1', '/3/0/0 = string:x']);
    assert.equal(
      text(senmlJsonCodec.encode(records, ROOT)),
      '[{"bn":"/3/0/","n":"9","v":1,"t":1700000000},{"n":"0","vs":"x"}]',
    );
  });

  it('bt alone gives every later record that time (client A notifications)', () => {
    const records = decodeJson('[{"bn":"/3/0","bt":1795611888.5,"n":"/0","vs":"c"},{"n":"/9","v":5}]');
    assert.deepEqual(showRecords(records), [
      '/3/0/0@1795611888.5 = string:c',
      '/3/0/9@1795611888.5 = integer:5',
    ]);
  });
});

describe('SenML JSON: typing by the model', () => {
  it('every type, from the field the model expects', () => {
    const records = decodeJson(
      JSON.stringify([
        { bn: `/${TEST_OBJECT}/0/`, n: '3', vd: 'AQL_' },
        { n: '1', vlo: '3:0' },
        { n: '4', v: 7 },
        { n: '8', vs: '</3/0>' },
        { n: '15/0', vs: 'a' },
        { n: '7', v: 1700000000 },
        { n: '10/1', v: 2 },
        { n: '2', vb: true },
      ]),
    );
    assert.deepEqual(showRecords(records), [
      `/${TEST_OBJECT}/0/3 = opaque:0102ff`,
      `/${TEST_OBJECT}/0/1 = objlnk:3:0`,
      `/${TEST_OBJECT}/0/4 = unsigned:7`,
      `/${TEST_OBJECT}/0/8 = corelnk:</3/0>`,
      `/${TEST_OBJECT}/0/15/0 = string:a`,
      `/${TEST_OBJECT}/0/7 = time:1700000000`,
      `/${TEST_OBJECT}/0/10/1 = float:2`,
      `/${TEST_OBJECT}/0/2 = boolean:true`,
    ]);
  });

  it('integers beyond 2^53 stay exact (JSON numbers read from their digits)', () => {
    const records = decodeJson(
      `[{"n":"/${TEST_OBJECT}/0/4","v":18446744073709551615},{"n":"/3/0/9","v":-9223372036854775808},` +
        `{"n":"/1/0/1","v":9007199254740993},{"n":"/3/0/13","v":9.007199254740993e15}]`,
    );
    assert.deepEqual(
      records.map((r) => r.value?.value),
      [UINT64_MAX, INT64_MIN, 9007199254740993n, 9007199254740993n],
    );
    const out = text(senmlJsonCodec.encode(records.slice(0, 3), ROOT));
    assert.match(out, /"v":18446744073709551615/);
    assert.match(out, /"v":-9223372036854775808/);
    assert.match(out, /"v":9007199254740993/);
  });

  it('integral numbers in float or exponent form fit integer resources; fractions do not', () => {
    assert.deepEqual(showRecords(decodeJson('[{"n":"/3/0/9","v":1.0e2}]')), ['/3/0/9 = integer:100']);
    assert.deepEqual(showRecords(decodeJson('[{"n":"/3/0/9","v":12500e-2}]')), ['/3/0/9 = integer:125']);
    assertReason(() => decodeJson('[{"n":"/3/0/9","v":1.5}]'), 'type-mismatch');
    assertReason(() => decodeJson('[{"n":"/3/0/9","v":1e25}]'), 'out-of-range');
  });

  it('unknown resources infer from the field and are marked inferred', () => {
    const records = decodeJson(
      '[{"bn":"/33605/5","n":"/0","v":1795611918},{"n":"/5","vd":""},{"n":"/13","vb":false},{"n":"/15","vs":""},' +
        '{"n":"/16","vlo":"0:0"},{"n":"/17","v":1.5},{"n":"/18","v":2.0},{"n":"/19","v":18446744073709551615}]',
    );
    assert.ok(records.every((r) => r.inferred === true));
    assert.deepEqual(
      records.map((r) => r.value?.type),
      ['integer', 'opaque', 'boolean', 'string', 'objlnk', 'float', 'float', 'unsigned'],
    );
  });

  it('FFFF:FFFF is read as the null object link', () => {
    assert.deepEqual(showRecords(decodeJson(`[{"n":"/${TEST_OBJECT}/0/1","vlo":"FFFF:FFFF"}]`)), [
      `/${TEST_OBJECT}/0/1 = objlnk:65535:65535`,
    ]);
  });

  it('vd accepts base64 and base64url, with or without padding; writes base64url unpadded', () => {
    for (const vd of ['+/8=', '+/8', '-_8', '-_8=']) {
      const [r] = decodeJson(`[{"n":"/${TEST_OBJECT}/0/3","vd":"${vd}"}]`);
      assert.deepEqual(r?.value, { type: 'opaque', value: new Uint8Array([0xfb, 0xff]) }, vd);
    }
    const out = senmlJsonCodec.encode(
      [{ path: p(`/${TEST_OBJECT}/0/3`), value: { type: 'opaque', value: new Uint8Array([0xfb, 0xff]) } }],
      ROOT,
    );
    assert.equal(text(out), `[{"n":"/${TEST_OBJECT}/0/3","vd":"-_8"}]`);
  });

  it('bv adds to v (RFC 8428 §4.5.1), exactly; s and bs are checked and dropped', () => {
    const records = decodeJson(
      '[{"bn":"/3/0/","bv":9007199254740992,"n":"9","v":1},{"n":"7/0","v":2,"s":5,"bs":1}]',
    );
    assert.deepEqual(
      records.map((r) => r.value?.value),
      [9007199254740993n, 9007199254740994n],
    );
  });

  it('unknown fields are ignored, must-understand fields (ending in _) refused', () => {
    assert.deepEqual(showRecords(decodeJson('[{"n":"/3/0/9","v":1,"u":"%","x":"y","ut":5}]')), [
      '/3/0/9 = integer:1',
    ]);
    assertReason(() => decodeJson('[{"n":"/3/0/9","v":1,"foo_":1}]'), 'malformed');
  });

  it('names may carry a gateway prefix and the request alternate path', () => {
    assert.deepEqual(showRecords(decodeJson('[{"n":"/d01/3/0/9","v":5},{"n":"/3/0/9","v":6}]')), [
      '/d01/3/0/9 = integer:5',
      '/3/0/9 = integer:6',
    ]);
    const gw: CodecContext = { path: p('/d01/3/0'), model: testModel };
    assertReason(() => decodeJson('[{"n":"/3/0/9","v":6}]', gw), 'invalid-path');
    assert.deepEqual(showRecords(decodeJson('[{"bn":"/d01/3/0/","n":"9","v":5}]', gw)), [
      '/d01/3/0/9 = integer:5',
    ]);
    const alt: CodecContext = {
      path: LwM2mPath.parse('/lwm2m/3/0', { alternatePath: '/lwm2m' }),
      model: testModel,
    };
    const records = decodeJson('[{"bn":"/lwm2m/3/0/","n":"9","v":5}]', alt);
    assert.deepEqual(showRecords(records), ['/3/0/9 = integer:5']);
    assert.equal(text(senmlJsonCodec.encode(records, alt)), '[{"n":"/lwm2m/3/0/9","v":5}]');
  });

  it('an empty pack is no records; whitespace and a BOM are fine', () => {
    assert.deepEqual(decodeJson('[]'), []);
    assert.deepEqual(showRecords(decodeJson(' \n[ { "n" : "/3/0/9" , "v" : 1 } ]\t')), [
      '/3/0/9 = integer:1',
    ]);
    assert.equal(senmlJsonCodec.decode(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('[]')]), ROOT).length, 0);
  });

  it('strings with escapes and non-ASCII', () => {
    const [r] = decodeJson('[{"n":"/3/0/0","vs":"a\\"b\\\\c\\u00e9\\ud83d\\ude00\\n zürich"}]');
    assert.deepEqual(r?.value, { type: 'string', value: 'a"b\\c\u00e9\u{1F600}\n zürich' });
    assertSameRecords(decodeJson(text(senmlJsonCodec.encode([r], ROOT))), [r]);
  });
});

describe('SenML JSON: encoding rules', () => {
  it('converts to the model type exactly, refuses lossy conversions and none', () => {
    const out = senmlJsonCodec.encode([{ path: p('/6/0/0'), value: { type: 'integer', value: 5 } }], ROOT);
    assert.equal(text(out), '[{"n":"/6/0/0","v":5.0}]');
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/3/0/9'), value: { type: 'float', value: 1.5 } }], ROOT),
      'not-encodable',
    );
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/3/0/4'), value: { type: 'none', value: null } }], ROOT),
      'not-encodable',
    );
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/99/0/4'), value: { type: 'none', value: null } }], ROOT),
      'not-encodable',
    );
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/6/0/0'), value: { type: 'float', value: NaN } }], ROOT),
      'not-encodable',
    );
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/3/0'), value: { type: 'integer', value: 1 } }], ROOT),
      'not-encodable',
    );
    assertReason(
      () => senmlJsonCodec.encode([{ path: p('/3/0/0'), value: { type: 'string', value: 'a\ud800' } }], ROOT),
      'not-encodable',
    );
  });

  it('refuses duplicates and paths outside the request path', () => {
    const r: LwM2mRecord = { path: p('/3/0/9'), value: { type: 'integer', value: 1 } };
    assertReason(() => senmlJsonCodec.encode([r, r], ROOT), 'duplicate');
    assertReason(() => senmlJsonCodec.encode([r], ctxAt('/1/0')), 'invalid-path');
  });

  it('valueless records are names (empty containers); plain SenML never writes null', () => {
    assert.equal(text(senmlJsonCodec.encode([{ path: p('/3/0/7') }], ROOT)), '[{"n":"/3/0/7"}]');
    assertReason(() => decodeJson('[{"n":"/3/0/7/0","v":null}]'), 'malformed');
  });
});

// ---- malformed input ----

describe('SenML JSON: malformed input (reason asserted)', () => {
  const cases: [string, string, ContentFormatReason, string?][] = [
    ['empty payload', '', 'truncated'],
    ['not an array (object)', '{"n":"/3/0/9","v":1}', 'malformed'],
    ['not an array (number)', '5', 'malformed'],
    ['not an array (string)', '"[]"', 'malformed'],
    ['record not an object', '[1]', 'malformed'],
    ['record is null', '[null]', 'malformed'],
    ['record is a nested array', '[[{"n":"/3/0/9"}]]', 'malformed'],
    ['nested value (array)', '[{"n":"/3/0/9","v":[1]}]', 'malformed'],
    ['nested value (object)', '[{"n":{"a":"/3/0/9"}}]', 'malformed'],
    ['two value fields', '[{"n":"/3/0/9","v":1,"vs":"1"}]', 'malformed'],
    ['the same field twice', '[{"n":"/3/0/9","n":"/3/0/9","v":1}]', 'malformed'],
    ['no name', '[{"v":1}]', 'malformed'],
    ['n is not a string', '[{"n":9,"v":1}]', 'malformed'],
    ['v is not a number', '[{"n":"/3/0/9","v":"1"}]', 'malformed'],
    ['vb is not a boolean', '[{"n":"/1/0/6","vb":1}]', 'malformed'],
    ['t is not a number', '[{"n":"/3/0/9","v":1,"t":"now"}]', 'malformed'],
    ['bad base64 in vd', `[{"n":"/${TEST_OBJECT}/0/3","vd":"!!!!"}]`, 'bad-base64'],
    ['bad base64 length', `[{"n":"/${TEST_OBJECT}/0/3","vd":"A"}]`, 'bad-base64'],
    ['name not absolute', '[{"n":"3/0/9","v":1}]', 'invalid-path'],
    ['name with a letter', '[{"n":"/3/0/x9","v":1}]', 'invalid-path'],
    ['name with reserved id 65535', '[{"n":"/3/0/65535","v":1}]', 'invalid-path'],
    ['name with a trailing slash', '[{"bn":"/3/0/","v":1}]', 'invalid-path'],
    ['name too deep', '[{"n":"/3/0/7/0/1","v":1}]', 'invalid-path'],
    ['name outside the request path', '[{"n":"/1/0/1","v":1}]', 'invalid-path', '/3/0'],
    ['value on an instance', '[{"n":"/3/0","v":1}]', 'invalid-path'],
    ['multiple resource without instance id', '[{"n":"/3/0/7","v":1}]', 'invalid-path'],
    ['single resource with an instance id', '[{"n":"/3/0/9/0","v":1}]', 'invalid-path'],
    ['duplicate', '[{"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]', 'duplicate'],
    ['duplicate at the same time', '[{"bt":5,"n":"/3/0/9","v":1},{"n":"/3/0/9","v":2}]', 'duplicate'],
    ['duplicate names in a fetch pack', '[{"n":"/3/0/9"},{"n":"/3/0/9"}]', 'duplicate'],
    ['string for an integer', '[{"n":"/3/0/9","vs":"1"}]', 'type-mismatch'],
    ['number for a string', '[{"n":"/3/0/0","v":1}]', 'type-mismatch'],
    ['boolean for a float', '[{"n":"/6/0/0","vb":true}]', 'type-mismatch'],
    ['opaque for a string', '[{"n":"/3/0/0","vd":"AA"}]', 'type-mismatch'],
    ['objlnk for an integer', '[{"n":"/3/0/9","vlo":"1:2"}]', 'type-mismatch'],
    ['bad objlnk text', `[{"n":"/${TEST_OBJECT}/0/1","vlo":"1-2"}]`, 'type-mismatch'],
    ['objlnk id too large', `[{"n":"/${TEST_OBJECT}/0/1","vlo":"70000:1"}]`, 'type-mismatch'],
    ['value for an executable', '[{"n":"/3/0/4","vs":""}]', 'type-mismatch'],
    ['fraction for an integer', '[{"n":"/3/0/9","v":0.5}]', 'type-mismatch'],
    ['integer beyond int64', '[{"n":"/3/0/9","v":9223372036854775808}]', 'out-of-range'],
    ['negative unsigned', `[{"n":"/${TEST_OBJECT}/0/4","v":-1}]`, 'out-of-range'],
    ['unsigned beyond uint64', `[{"n":"/${TEST_OBJECT}/0/4","v":18446744073709551616}]`, 'out-of-range'],
    ['number beyond double', '[{"n":"/6/0/0","v":1e400}]', 'out-of-range'],
    ['JSON null outside ETCH', '[{"n":"/3/0/7/0","v":null}]', 'malformed'],
    ['must-understand field', '[{"n":"/3/0/9","v":1,"x_":1}]', 'malformed'],
    ['SenML version too new', '[{"bver":11,"n":"/3/0/9","v":1}]', 'malformed'],
    ['truncated inside a record', '[{"n":"/3/0/9"', 'truncated'],
    ['truncated inside a string', '[{"n":"/3/0', 'truncated'],
    ['truncated after the comma', '[{"n":"/3/0/9"},', 'truncated'],
    ['trailing bytes', '[]x', 'trailing-bytes'],
    ['two packs', '[][]', 'trailing-bytes'],
    ['trailing comma', '[{"n":"/3/0/9"},]', 'malformed'],
    ['single quotes', "[{'n':'/3/0/9'}]", 'malformed'],
    ['leading zero', '[{"n":"/3/0/9","v":01}]', 'malformed'],
    ['bare dot', '[{"n":"/3/0/9","v":1.}]', 'malformed'],
    ['plus sign', '[{"n":"/3/0/9","v":+1}]', 'malformed'],
    ['NaN word', '[{"n":"/6/0/0","v":NaN}]', 'malformed'],
    ['bad literal', '[{"n":"/1/0/6","vb":tru}]', 'malformed'],
    ['raw control character', '[{"n":"/3/0/0","vs":"a\tb"}]', 'malformed'],
    ['bad escape', '[{"n":"/3/0/0","vs":"\\x41"}]', 'malformed'],
    ['short \\u escape', '[{"n":"/3/0/0","vs":"\\u12"}]', 'malformed'],
    ['lone surrogate escape', '[{"n":"/3/0/0","vs":"\\ud800"}]', 'malformed'],
  ];
  for (const [name, json, reason, path] of cases) {
    it(`${name} -> ${reason}`, () => assertReason(() => decodeJson(json, ctxAt(path)), reason));
  }

  it('bad UTF-8 inside a string -> bad-utf8', () => {
    const bytes = new Uint8Array([...utf8('[{"n":"/3/0/0","vs":"'), 0xc3, 0x28, ...utf8('"}]')]);
    assertReason(() => senmlJsonCodec.decode(bytes, ROOT), 'bad-utf8');
  });

  it('more records than the limit -> too-large', () => {
    const ctx: CodecContext = { ...ROOT, limits: { maxRecords: 2 } };
    assertReason(() => decodeJson('[{"n":"/3/0/9"},{"n":"/3/0/0"},{"n":"/3/0/16"}]', ctx), 'too-large');
    assert.equal(decodeJson('[{"n":"/3/0/9"},{"n":"/3/0/0"}]', ctx).length, 2);
  });

  it('a huge number or deep brackets are refused without recursion', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    assertReason(() => decodeJson(deep), 'malformed');
    const big = `[{"n":"/3/0/9","v":${'9'.repeat(200_000)}}]`;
    assertReason(() => decodeJson(big), 'out-of-range');
    const bigFloat = `[{"n":"/6/0/0","v":0.${'1'.repeat(200_000)}e-5}]`;
    assert.equal(decodeJson(bigFloat)[0]?.value?.type, 'float');
  });
});

// ---- round trips ----

/** Valued records of /0, /1, /3, /6 and every type, some historical (JSON cannot carry NaN or infinities). */
const recordsArb = valuedRecordsArb({
  objects: [0, 1, 3, 6, TEST_OBJECT],
  values: { nonFinite: false },
  time: timeArb,
});

describe('SenML JSON: round trips (property)', () => {
  it('decode(encode(records)) gives the records back, every type and bigint edge', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        assertSameRecords(decodeJson(text(senmlJsonCodec.encode(records, ROOT))), records);
      }),
      { numRuns: 300 },
    );
  });

  it('historical series of one resource keep every record, in order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 40 }), { minLength: 2, maxLength: 8 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        (times, v) => {
          const records = times.map((time): LwM2mRecord => ({
            path: p('/6/0/0'),
            value: { type: 'float', value: v },
            time,
          }));
          assertSameRecords(decodeJson(text(senmlJsonCodec.encode(records, ROOT))), records);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('unknown resources round-trip with the inferred type', () => {
    const types: ResourceType[] = ['integer', 'float', 'string', 'boolean', 'opaque', 'objlnk'];
    const arb = fc
      .constantFrom(...types)
      .chain((type) => valueArb(type, { nonFinite: false }).map((value) => ({ type, value })));
    fc.assert(
      fc.property(arb, ({ value }) => {
        const [r] = decodeJson(text(senmlJsonCodec.encode([{ path: p('/30000/0/1'), value }], ROOT)));
        assert.equal(r?.inferred, true);
        assert.ok(r?.value && valuesEqual(r.value, value), `${value.type}: ${showRecords([r])[0]}`);
      }),
      { numRuns: 200 },
    );
  });
});

// ---- captures ----

describe('SenML JSON: real captures', () => {
  it('every SenML JSON (110) and SenML-ETCH JSON (320) payload decodes', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    let count = 0;
    for (const file of CAPTURE_FILES) {
      for (const c of capturedPayloads(shared, file)) {
        const codec =
          c.contentFormat === 110 ? senmlJsonCodec : c.contentFormat === 320 ? senmlEtchJsonCodec : undefined;
        if (!codec) continue;
        const path = targetPath(c);
        const records = codec.decode(c.payload, { path, model: testModel });
        assert.ok(records.length > 0, `${file} seq ${c.line.seq}`);
        // Re-encoding and decoding again gives the same records.
        assertSameRecords(
          codec.decode(codec.encode(records, { path, model: testModel }), { path, model: testModel }),
          records,
        );
        count++;
      }
    }
    assert.ok(count >= 40, `only ${count} payloads`);
  });

  it("client B's Send and Read /3/0, bootstrap SenML JSON writes", (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const payloads = capturedPayloads(shared, 'lwm2m-1.1-client-udp.jsonl');
    const send = payloads.find((c) => c.requestPath === '/dp' && c.contentFormat === 110);
    assert.ok(send);
    assert.equal(text(send.payload), '[{"bn":"/3/0/","n":"9","v":100}]');
    assert.deepEqual(
      showRecords(senmlJsonCodec.decode(send.payload, { path: LwM2mPath.ROOT, model: testModel })),
      ['/3/0/9 = integer:100'],
    );

    const read = payloads.find((c) => c.requestPath === '/3/0' && c.contentFormat === 110 && !c.isRequest);
    assert.ok(read);
    const records = senmlJsonCodec.decode(read.payload, { path: p('/3/0'), model: testModel });
    assert.ok(showRecords(records).includes('/3/0/0 = string:Open Mobile Alliance'));
    assert.ok(showRecords(records).includes('/3/0/7/1 = integer:5000'));
    assert.ok(showRecords(records).includes('/3/0/13 = time:3163103356'));

    const bs = capturedPayloads(shared, 'bootstrap-1.1-client.jsonl').filter(
      (c) => c.contentFormat === 110 && c.isRequest,
    );
    assert.deepEqual(
      bs.map((c) => c.requestPath),
      ['/0/1', '/1/1'],
    );
    assert.deepEqual(
      showRecords(senmlJsonCodec.decode(bs[0]!.payload, { path: p('/0/1'), model: testModel })),
      [
        '/0/1/0 = string:coap://127.0.0.1:5683',
        '/0/1/1 = boolean:false',
        '/0/1/10 = integer:1',
        '/0/1/2 = integer:3',
      ],
    );
  });
});

// ---- mutation loop ----

describe('SenML JSON: seeded mutation loop', () => {
  const seeds = [
    '[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]',
    '[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30}]',
    `[{"bn":"/${TEST_OBJECT}/0/","n":"3","vd":"AQL_"},{"n":"1","vlo":"3:0"},{"n":"4","v":18446744073709551615},{"n":"15/0","vs":"a\\u00e9"},{"n":"2","vb":true}]`,
    '[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"7/0","v":3800},{"n":"13","v":1.5e9}]',
    '[{"n":"/3/0/7/0","v":null},{"n":"/3/0/9","v":1}]',
  ].map(utf8);
  const tokens = [
    '[',
    ']',
    '{',
    '}',
    '"',
    ':',
    ',',
    'null',
    '-',
    '1e999',
    '"v":',
    '"vs":',
    '\\u',
    '\\',
    '/',
    '0',
    'e',
  ]
    .map(utf8)
    .concat([new Uint8Array([0xff]), new Uint8Array([0xc3])]);

  for (const codec of [senmlJsonCodec, senmlEtchJsonCodec])
    it(`${codec.format.name}: 5000 mutated inputs throw only ContentFormatError`, () => {
      const atRoot = seeds.map((s) => [s, '/'] as const);
      const { decoded } = mutateCodec(codec, atRoot, codec.format.id, { mutate: { tokens } });
      assert.ok(decoded > 0, 'some mutations should still decode');
    });
});
