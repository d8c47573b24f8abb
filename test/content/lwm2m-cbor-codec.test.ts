import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborFloat, CborMap, CborTagged, type CborValue } from '../../src/content/cbor/cbor-reader.js';
import { encodeCbor } from '../../src/content/cbor/cbor-writer.js';
import type { CodecContext } from '../../src/content/content-codec.js';
import { parseRfc3339 } from '../../src/content/rfc3339.js';
import { ContentFormatError, type ContentFormatReason } from '../../src/content/content-format-error.js';
import {
  decodeLwm2mCbor,
  decodeLwm2mCborCreate,
  encodeLwm2mCborCreate,
  lwm2mCborCodec,
  type Lwm2mCborTopLevel,
} from '../../src/content/lwm2m-cbor-codec.js';
import {
  INT64_MAX,
  INT64_MIN,
  UINT64_MAX,
  Value,
  formatObjLink,
  type LwM2mValue,
} from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { compositeRecordsArb, idArb, instanceRecordsArb, valueArb } from '../support/arbitraries.js';
import { assertReason as assertFormatReason } from '../support/assert-reason.js';
import { capturedPayloadsOf } from '../support/captures.js';
import { DEVICE_EXAMPLE } from '../support/device-example.js';
import { runMutations } from '../support/mutate.js';
import { assertSameRecords, rec } from '../support/records.js';
import { requireShared, sharedDir } from '../support/shared.js';
import { TEST_OBJECT, UNKNOWN_OBJECT, ctxAt, testModel } from '../support/test-model.js';

// The model is the shared test model: the core objects, and TEST_OBJECT (/42769) with one resource
// of every type (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable). UNKNOWN_OBJECT
// (/42800) is not in it.

const ROOT = ctxAt('/');

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const m = (...entries: [CborValue, CborValue][]): CborMap => new CborMap(entries);
const cbor = (v: CborValue): Uint8Array => encodeCbor(v);
const p = (s: string): LwM2mPath => LwM2mPath.parse(s);

/** Client A's LwM2M CBOR payloads, both directions. */
const clientA = (dir: string) => capturedPayloadsOf(dir, 11544, ['lwm2m-1.2-client-udp.jsonl']);

function valueText(v: LwM2mValue): string {
  switch (v.type) {
    case 'opaque':
      return `h'${hex(v.value)}'`;
    case 'objlnk':
      return formatObjLink(v.value);
    case 'float':
      return Object.is(v.value, -0) ? '-0' : String(v.value);
    case 'none':
      return 'null';
    default:
      return String(v.value);
  }
}

/** A record as one comparable line: `/3/0/9=integer:100`, `/3/0/7` (valueless), `… (inferred)`. */
function show(r: LwM2mRecord): string {
  const v = r.value === undefined ? '' : `=${r.value.type}:${valueText(r.value)}`;
  return `${r.path.toString()}${v}${r.inferred ? ' (inferred)' : ''}`;
}
const showAll = (rs: readonly LwM2mRecord[]): string[] => rs.map(show);

/** A ContentFormatError with this reason, raised by this codec. */
function assertReason(fn: () => unknown, reason: ContentFormatReason): void {
  assertFormatReason(fn, reason, '', (e) => assert.equal(e.format, 'lwm2m-cbor'));
}

// ---- the spec's examples (LWM2M-1.2 §2.5) ----

const OMA = 'Open Mobile Alliance';

/** The /3/0 instance example, exactly as the spec writes it. */
const DEVICE_INSTANCE_SPEC = m([
  [3, 0],
  m(
    [0, OMA],
    [1, 'Lightweight M2M Client'],
    [2, '345000123'],
    [3, '1.0'],
    [6, m([0, 1], [1, 5])],
    [7, m([0, 3800], [1, 5000])],
    [8, m([0, 125], [1, 900])],
    [9, 100],
    [10, 15],
    [11, m([0, 0])],
    [13, 1367491215],
    [14, '+02:00'],
    [16, 'U'],
  ),
]);

const serverInstance = (ssid: number): CborMap =>
  m([0, ssid], [1, 86400], [2, 300], [3, 6000], [5, 86400], [6, true], [7, 'U']);
const serverRecords = (iid: number, ssid: number): LwM2mRecord[] => [
  rec(`/1/${iid}/0`, Value.integer(ssid)),
  rec(`/1/${iid}/1`, Value.integer(86400)),
  rec(`/1/${iid}/2`, Value.integer(300)),
  rec(`/1/${iid}/3`, Value.integer(6000)),
  rec(`/1/${iid}/5`, Value.integer(86400)),
  rec(`/1/${iid}/6`, Value.boolean(true)),
  rec(`/1/${iid}/7`, Value.string('U')),
];

describe('LwM2M CBOR: the spec examples (LWM2M-1.2 §2.5)', () => {
  it('is the codec for content format 11544', () => {
    assert.equal(lwm2mCborCodec.format.id, 11544);
    assert.equal(lwm2mCborCodec.format.name, 'lwm2m-cbor');
  });

  it('{[3,0,0]: "Open Mobile Alliance"} ≡ {3: {0: {0: "Open Mobile Alliance"}}}', () => {
    const flat = cbor(m([[3, 0, 0], OMA]));
    const nested = cbor(m([3, m([0, m([0, OMA])])]));
    const expected = ['/3/0/0=string:Open Mobile Alliance'];
    for (const ctx of [ROOT, ctxAt('/3'), ctxAt('/3/0'), ctxAt('/3/0/0')]) {
      assert.deepEqual(showAll(lwm2mCborCodec.decode(flat, ctx)), expected);
      assert.deepEqual(showAll(lwm2mCborCodec.decode(nested, ctx)), expected);
    }
    // The encoder picks the flat form (one byte smaller).
    assert.equal(hex(lwm2mCborCodec.encode([rec('/3/0/0', Value.string(OMA))], ctxAt('/3/0/0'))), hex(flat));
    assert.equal(flat.length + 1, nested.length);
  });

  it('the /3/0 instance example is 118 bytes, and the encoder reproduces it byte for byte', () => {
    const specBytes = cbor(DEVICE_INSTANCE_SPEC);
    assert.equal(specBytes.length, 118);
    const ours = lwm2mCborCodec.encode(DEVICE_EXAMPLE, ctxAt('/3/0'));
    assert.equal(ours.length, 118);
    assert.equal(hex(ours), hex(specBytes));
    const decoded = lwm2mCborCodec.decode(specBytes, ctxAt('/3/0'));
    assert.deepEqual(showAll(decoded), showAll(DEVICE_EXAMPLE));
    assert.ok(decoded.every((r) => r.inferred === undefined));
    // The same payload is an absolute one, so a Read of /3 or a composite decodes it too.
    assert.deepEqual(showAll(lwm2mCborCodec.decode(specBytes, ctxAt('/3'))), showAll(DEVICE_EXAMPLE));
  });

  it('the whole-object /1 example', () => {
    const bytes = cbor(m([1, m([0, serverInstance(101)], [1, serverInstance(102)])]));
    const expected = [...serverRecords(0, 101), ...serverRecords(1, 102)];
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ctxAt('/1'))), showAll(expected));
    assert.equal(hex(lwm2mCborCodec.encode(expected, ctxAt('/1'))), hex(bytes));
  });

  it('a composite mixing depths: {[3,0]: {0: "Open Mobile Alliance", 9: 100}, [1,0,1]: 86400}', () => {
    const bytes = cbor(m([[3, 0], m([0, OMA], [9, 100])], [[1, 0, 1], 86400]));
    const records = [
      rec('/3/0/0', Value.string(OMA)),
      rec('/3/0/9', Value.integer(100)),
      rec('/1/0/1', Value.integer(86400)),
    ];
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ROOT)), showAll(records));
    assert.equal(hex(lwm2mCborCodec.encode(records, ROOT)), hex(bytes));
  });

  it('Create with instance key 65535: {[2,65535]: {…}} and {2: {65535: {…}}} (client assigns)', () => {
    const body = m([0, 3], [1, 0], [2, m([0, 15], [101, 1])], [3, 101]);
    const expected = [
      '/0=integer:3',
      '/1=integer:0',
      '/2/0=integer:15',
      '/2/101=integer:1',
      '/3=integer:101',
    ];
    for (const bytes of [
      cbor(m([[2, 65535], body])),
      cbor(m([2, m([65535, body])])),
      cbor(m([65535, body])),
    ]) {
      const create = decodeLwm2mCborCreate(bytes, ctxAt('/2'));
      assert.equal(create.instanceId, undefined);
      assert.deepEqual(showAll(create.resources), expected);
    }
    const explicit = decodeLwm2mCborCreate(cbor(m([[2, 7], body])), ctxAt('/2'));
    assert.equal(explicit.instanceId, 7);
    assert.deepEqual(showAll(explicit.resources), expected);
    // Server side: encode the same body back.
    const encoded = encodeLwm2mCborCreate(
      { instanceId: undefined, resources: explicit.resources },
      ctxAt('/2'),
    );
    assert.equal(hex(encoded), hex(cbor(m([[2, 65535], body]))));
    assert.equal(
      hex(encodeLwm2mCborCreate({ instanceId: 7, resources: explicit.resources }, ctxAt('/2'))),
      hex(cbor(m([[2, 7], body]))),
    );
    // Outside Create, 65535 is a reserved id.
    assertReason(() => lwm2mCborCodec.decode(cbor(m([[2, 65535], body])), ctxAt('/2')), 'invalid-path');
  });

  it('a gateway prefix: {["d01",3,0]: {0: "Company A", 9: 100}}', () => {
    const bytes = cbor(m([['d01', 3, 0], m([0, 'Company A'], [9, 100])]));
    const records = [rec('/d01/3/0/0', Value.string('Company A')), rec('/d01/3/0/9', Value.integer(100))];
    const decoded = lwm2mCborCodec.decode(bytes, ROOT);
    assert.deepEqual(showAll(decoded), showAll(records));
    assert.equal(decoded[0]!.path.prefix, 'd01');
    assert.deepEqual(decoded[0]!.path.ids, [3, 0, 0]);
    assert.equal(hex(lwm2mCborCodec.encode(records, ROOT)), hex(bytes));
    // Addressed to the end device itself, with or without the prefix in the payload.
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ctxAt('/d01/3/0'))), showAll(records));
    assert.deepEqual(
      showAll(lwm2mCborCodec.decode(cbor(m([[3, 0], m([0, 'Company A'], [9, 100])])), ctxAt('/d01/3/0'))),
      showAll(records),
    );
    // A composite may mix the gateway's own objects and several devices.
    const mixed = [rec('/3/0/9', Value.integer(5)), ...records, rec('/d02/3/0/9', Value.integer(7))];
    const mixedBytes = lwm2mCborCodec.encode(mixed, ROOT);
    assert.equal(
      hex(mixedBytes),
      hex(cbor(m([[3, 0, 9], 5], [['d01', 3, 0], m([0, 'Company A'], [9, 100])], [['d02', 3, 0, 9], 7]))),
    );
    assert.deepEqual(showAll(lwm2mCborCodec.decode(mixedBytes, ROOT)), showAll(mixed));
  });
});

describe('LwM2M CBOR decoder: wire forms', () => {
  const expected = ['/3/0/0=string:ab', '/3/0/9=integer:100'];

  it('accepts definite and indefinite maps, array keys and strings alike', () => {
    const forms = [
      'a1 82 03 00 a2 00 62 6162 09 18 64', // definite everywhere
      'bf 82 03 00 a2 00 62 6162 09 18 64 ff', // indefinite top map
      'a1 82 03 00 bf 00 62 6162 09 18 64 ff', // indefinite nested map
      'a1 9f 03 00 ff a2 00 62 6162 09 18 64', // indefinite array key
      'a1 82 03 00 a2 00 7f 61 61 61 62 ff 09 18 64', // chunked text value
      'bf 9f 03 ff bf 9f 00 ff bf 00 62 6162 ff ff 83 03 00 09 18 64 ff', // nested indefinite, merged keys
      'a1 03 a1 00 a2 00 62 6162 09 18 64',
      'a2 83 03 00 00 62 6162 83 03 00 09 18 64',
    ];
    for (const form of forms)
      assert.deepEqual(showAll(lwm2mCborCodec.decode(unhex(form), ROOT)), expected, form);
    // Non-preferred (longer) integer heads in keys are still the same ids.
    assert.deepEqual(showAll(lwm2mCborCodec.decode(unhex('a1 83 190003 1800 1a00000000 62 6162'), ROOT)), [
      '/3/0/0=string:ab',
    ]);
  });

  it('merges containers reached through different key splits', () => {
    const bytes = cbor(
      m([[3, 0], m([0, 'ab'])], [3, m([0, m([9, 100])])], [[3, 0, 7], m([0, 1])], [[3, 0, 7, 1], 2]),
    );
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ROOT)), [
      ...expected,
      '/3/0/7/0=integer:1',
      '/3/0/7/1=integer:2',
    ]);
  });

  it('gives empty maps as valueless records (empty object, instance, multiple resource)', () => {
    const bytes = cbor(
      m([UNKNOWN_OBJECT, m()], [[2, 0], m()], [[3, 0, 7], m()], [[TEST_OBJECT, 1, 15], m()]),
    );
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ROOT)), [
      `/${UNKNOWN_OBJECT}`,
      '/2/0',
      '/3/0/7',
      `/${TEST_OBJECT}/1/15`,
    ]);
  });

  it('takes a text prefix in a prefix-only top-level key', () => {
    const bytes = cbor(m([['d01'], m([[3, 0, 0], 'x'], [[UNKNOWN_OBJECT, 0, 1], 'y'])]));
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ROOT)), [
      '/d01/3/0/0=string:x',
      `/d01/${UNKNOWN_OBJECT}/0/1=string:y (inferred)`,
    ]);
  });
});

describe('LwM2M CBOR decoder: typing by the model', () => {
  const one = (oid: number, rid: number, leaf: CborValue, ctx = ROOT): string[] =>
    showAll(lwm2mCborCodec.decode(cbor(m([[oid, 0, rid], leaf])), ctx));
  const t = TEST_OBJECT;

  it('types every resource type from its CBOR item', () => {
    assert.deepEqual(one(t, 0, new CborFloat(1.5)), [`/${t}/0/0=float:1.5`]);
    assert.deepEqual(one(t, 0, 7), [`/${t}/0/0=float:7`]); // an integer is a valid float value
    assert.deepEqual(one(t, 0, 2n ** 60n), [`/${t}/0/0=float:${2 ** 60}`]);
    assert.deepEqual(one(t, 1, '3:0'), [`/${t}/0/1=objlnk:3:0`]);
    assert.deepEqual(one(t, 1, '65535:65535'), [`/${t}/0/1=objlnk:65535:65535`]);
    assert.deepEqual(one(t, 3, unhex('00ff')), [`/${t}/0/3=opaque:h'00ff'`]);
    assert.deepEqual(one(t, 4, UINT64_MAX), [`/${t}/0/4=unsigned:${UINT64_MAX}`]);
    assert.deepEqual(one(t, 2, false), [`/${t}/0/2=boolean:false`]);
    assert.deepEqual(one(t, 7, -5), [`/${t}/0/7=time:-5`]);
    assert.deepEqual(one(t, 8, '</3/0>'), [`/${t}/0/8=corelnk:</3/0>`]);
    assert.deepEqual(one(t, 5, 'é'), [`/${t}/0/5=string:é`]);
    assert.deepEqual(one(t, 6, INT64_MIN), [`/${t}/0/6=integer:${INT64_MIN}`]);
    assert.deepEqual(one(t, 6, INT64_MAX), [`/${t}/0/6=integer:${INT64_MAX}`]);
    assert.deepEqual(one(t, 6, 2n ** 53n), [`/${t}/0/6=integer:${2n ** 53n}`]);
    assert.deepEqual(one(t, 9, null), [`/${t}/0/9=none:null`]);
  });

  it('keeps 64-bit integers exact: number when safe, bigint past 2^53', () => {
    const [safe] = lwm2mCborCodec.decode(cbor(m([[t, 0, 6], 2 ** 53 - 1])), ROOT);
    assert.equal(safe!.value!.value, 2 ** 53 - 1);
    const [big] = lwm2mCborCodec.decode(cbor(m([[t, 0, 6], -(2n ** 53n) - 1n])), ROOT);
    assert.equal(big!.value!.value, -(2n ** 53n) - 1n);
  });

  it('reads Time as an integer, tag 1 (int or float, floored) or tag 0 (RFC 3339)', () => {
    assert.deepEqual(one(3, 13, 1367491215), ['/3/0/13=time:1367491215']);
    assert.deepEqual(one(3, 13, new CborTagged(1, 1367491215)), ['/3/0/13=time:1367491215']);
    assert.deepEqual(one(3, 13, new CborTagged(1, new CborFloat(1.9))), ['/3/0/13=time:1']);
    assert.deepEqual(one(3, 13, new CborTagged(1, new CborFloat(-1.5))), ['/3/0/13=time:-2']);
    assert.deepEqual(one(3, 13, new CborTagged(0, '2013-05-02T10:40:15Z')), [
      `/3/0/13=time:${Date.UTC(2013, 4, 2, 10, 40, 15) / 1000}`,
    ]);
    assert.deepEqual(one(3, 13, new CborTagged(0, '2013-05-02T12:40:15.75+02:00')), [
      `/3/0/13=time:${Date.UTC(2013, 4, 2, 10, 40, 15) / 1000}`,
    ]);
  });

  it('parses RFC 3339 date-times strictly', () => {
    assert.equal(parseRfc3339('1970-01-01T00:00:00Z'), 0);
    assert.equal(parseRfc3339('2000-02-29T23:59:59-00:30'), Date.UTC(2000, 1, 29, 23, 59, 59) / 1000 + 1800);
    assert.equal(parseRfc3339('1969-12-31T23:59:59Z'), -1);
    assert.equal(parseRfc3339('0001-01-01T00:00:00Z'), -62135596800);
    for (const bad of [
      '2001-02-29T00:00:00Z',
      '2000-13-01T00:00:00Z',
      '2000-01-01 00:00:00Z',
      '2000-01-01T24:00:00Z',
      '2000-01-01T00:00:00',
      'x',
    ])
      assert.equal(parseRfc3339(bad), undefined, bad);
  });

  it('infers types for resources the model does not know, and marks those records', () => {
    const u = UNKNOWN_OBJECT;
    const bytes = cbor(
      m([
        [u, 0],
        m(
          [0, 'text'],
          [1, -7],
          [2, UINT64_MAX],
          [3, new CborFloat(0.5)],
          [4, unhex('01')],
          [5, true],
          [6, null],
          [7, new CborTagged(1, 99)],
          [8, m([0, 1], [3, 'x'])],
        ),
      ]),
    );
    assert.deepEqual(showAll(lwm2mCborCodec.decode(bytes, ctxAt(`/${u}`))), [
      `/${u}/0/0=string:text (inferred)`,
      `/${u}/0/1=integer:-7 (inferred)`,
      `/${u}/0/2=unsigned:${UINT64_MAX} (inferred)`,
      `/${u}/0/3=float:0.5 (inferred)`,
      `/${u}/0/4=opaque:h'01' (inferred)`,
      `/${u}/0/5=boolean:true (inferred)`,
      `/${u}/0/6=none:null (inferred)`,
      `/${u}/0/7=time:99 (inferred)`,
      `/${u}/0/8/0=integer:1 (inferred)`,
      `/${u}/0/8/3=string:x (inferred)`,
    ]);
    // An unknown resource of a known object is inferred too.
    assert.deepEqual(one(3, 30, '3:0'), ['/3/0/30=string:3:0 (inferred)']);
  });

  it('copies byte strings out of the input buffer', () => {
    const bytes = cbor(m([[t, 0, 3], unhex('0102')]));
    const [r] = lwm2mCborCodec.decode(bytes, ROOT);
    bytes.fill(0);
    assert.deepEqual(r!.value, Value.opaque(unhex('0102')));
  });
});

describe('LwM2M CBOR decoder: absolute and relative top-level keys', () => {
  const dec = (v: CborValue, path: string, topLevel?: Lwm2mCborTopLevel): string[] =>
    showAll(decodeLwm2mCbor(cbor(v), ctxAt(path), topLevel ? { topLevel } : {}));

  it("reads absolute keys whatever the request path (the capture's POST /1/1 {1:{1:{1:300}}})", () => {
    assert.deepEqual(dec(m([1, m([1, m([1, 300])])]), '/1/1'), ['/1/1/1=integer:300']);
    assert.deepEqual(dec(m([[3, 0, 7], m([0, 1])]), '/3/0/7'), ['/3/0/7/0=integer:1']);
  });

  it('falls back to keys relative to the request path only when the absolute reading is impossible', () => {
    // A value at object level is impossible, so these are relative (Write/Create, §2.5).
    assert.deepEqual(dec(m([9, 100], [14, '+01:00']), '/3/0'), [
      '/3/0/9=integer:100',
      '/3/0/14=string:+01:00',
    ]);
    assert.deepEqual(dec(m([0, 1], [1, 2]), '/3/0/7'), ['/3/0/7/0=integer:1', '/3/0/7/1=integer:2']);
    assert.deepEqual(dec(m([1, m([1, 300])]), '/1'), ['/1/1/1=integer:300']);
    assert.deepEqual(dec(m([0, m([0, 'x'])]), '/3'), ['/3/0/0=string:x']);
    // Absolute but not below the request path: relative.
    assert.deepEqual(dec(m([[0, 7, 0], 5]), '/3'), ['/3/0/7/0=integer:5']);
    // Both readings possible: absolute wins.
    assert.deepEqual(dec(m([3, m([0, m([0, 'x'])])]), '/3'), ['/3/0/0=string:x']);
    // A gateway device's Write, relative to its prefixed path.
    assert.deepEqual(dec(m([9, 100]), '/d01/3/0'), ['/d01/3/0/9=integer:100']);
  });

  it('honours an explicit topLevel option', () => {
    assertReason(
      () => decodeLwm2mCbor(cbor(m([9, 100])), ctxAt('/3/0'), { topLevel: 'absolute' }),
      'invalid-path',
    );
    assertReason(
      () => decodeLwm2mCbor(cbor(m([1, m([1, m([1, 300])])])), ctxAt('/1/1'), { topLevel: 'relative' }),
      'invalid-path',
    );
    assert.deepEqual(dec(m([[3, 7, 0], 5]), '/3', 'relative'), ['/3/3/7/0=integer:5']);
    // 'auto' takes the absolute reading /3/7/0 (a string resource) here.
    assertReason(() => decodeLwm2mCbor(cbor(m([[3, 7, 0], 5])), ctxAt('/3')), 'type-mismatch');
    assert.deepEqual(dec(m([[3, 0, 9], 1]), '/3', 'absolute'), ['/3/0/9=integer:1']);
  });

  it("reports the absolute reading's fault when neither reading works", () => {
    assert.throws(
      () => lwm2mCborCodec.decode(cbor(m([[1, 0, 1], 5])), ctxAt('/3/0')),
      (e: unknown) =>
        e instanceof ContentFormatError && e.reason === 'invalid-path' && /not below \/3\/0/.test(e.message),
    );
  });
});

// ---- malformed input ----

describe('LwM2M CBOR decoder: rejects malformed input with a reason', () => {
  const big64 = 'ffffffffffffffff';
  const cases: [string, Uint8Array, ContentFormatReason, CodecContext?][] = [
    ['empty payload', new Uint8Array(0), 'truncated'],
    ['payload cut after a key', unhex('a1 83 03 00 00'), 'truncated'],
    ['payload cut inside a head', unhex('a1 83 03 00 00 79 00'), 'truncated'],
    ['trailing bytes', unhex('a1 83 03 00 09 01 00'), 'trailing-bytes'],
    ['top level is an array', cbor([[3, 0, 9], 1]), 'malformed'],
    ['top level is an integer', cbor(3), 'malformed'],
    ['empty top-level map', unhex('a0'), 'malformed'],
    ['empty indefinite top-level map', unhex('bf ff'), 'malformed'],
    ['negative key', cbor(m([-1, m([0, m([0, 1])])])), 'malformed'],
    ['float key', cbor(m([new CborFloat(3), m([0, m([9, 1])])])), 'malformed'],
    ['text key', cbor(m(['3', m([0, m([9, 1])])])), 'malformed'],
    ['byte-string key', cbor(m([unhex('03'), 1])), 'malformed'],
    ['map key', cbor(m([m([3, 0]), 1])), 'malformed'],
    ['empty array key', cbor(m([[], 1])), 'malformed'],
    ['nested array in a key', cbor(m([[3, [0], 9], 1])), 'malformed'],
    ['negative id in an array key', cbor(m([[3, -1, 9], 1])), 'malformed'],
    ['text not first in a key', cbor(m([[3, 'd01', 0, 9], 1])), 'malformed'],
    ['two texts in a key', cbor(m([['d01', 'd02', 3, 0, 9], 1])), 'malformed'],
    ['prefix in a nested key', cbor(m([3, m([['d01', 0, 9], 1])])), 'malformed'],
    ['id 65535', cbor(m([[3, 65535, 9], 1])), 'invalid-path'],
    ['object id 65535', cbor(m([[65535, 0, 9], 1])), 'invalid-path'],
    ['id 65536', cbor(m([[3, 0, 65536], 1])), 'invalid-path'],
    ['64-bit id', unhex(`a1 83 03 00 1b${big64} 01`), 'invalid-path'],
    ['five ids in one key', cbor(m([[3, 0, 7, 0, 1], 1])), 'invalid-path'],
    ['five ids by nesting', cbor(m([[3, 0, 7], m([0, m([1, 5])])])), 'invalid-path'],
    ['an empty map at resource-instance level', cbor(m([[3, 0, 7, 0], m()])), 'invalid-path'],
    ['a value at object level', cbor(m([3, 5])), 'invalid-path'],
    ['a value at instance level', cbor(m([[3, 0], 5])), 'invalid-path'],
    ['a prefix-only key with a value', cbor(m([['d01'], 5])), 'invalid-path'],
    ['a prefix-only key with an empty map', cbor(m([['d01'], m()])), 'invalid-path'],
    ['an invalid gateway prefix', cbor(m([['3x', 3, 0, 9], 1])), 'invalid-path'],
    ['an empty gateway prefix', cbor(m([['', 3, 0, 9], 1])), 'invalid-path'],
    ['a path outside the request path', cbor(m([[1, 0, 1], 5])), 'invalid-path', ctxAt('/3/0')],
    [
      'another device than the request path',
      cbor(m([['d01', 3, 0, 9], 5])),
      'invalid-path',
      ctxAt('/d02/3/0'),
    ],
    [
      'a prefixed path under an unprefixed request',
      cbor(m([['d01', 3, 0, 9], 5])),
      'invalid-path',
      ctxAt('/3/0'),
    ],
    ['the same path twice', cbor(m([[3, 0, 0], 'a'], [3, m([0, m([0, 'b'])])])), 'duplicate'],
    ['the same key twice in one map', cbor(m([[3, 0], m([0, 'a'])], [[3, 0], m([1, 'b'])])), 'duplicate'],
    [
      'the same key, definite and indefinite',
      unhex('a2 82 03 00 a1 00 61 61 9f 03 00 ff a1 01 61 62'),
      'duplicate',
    ],
    ['the same id twice in a nested map', unhex('a1 83 03 00 07 a2 00 01 00 02'), 'duplicate'],
    [
      'a resource instance beside its resource map',
      cbor(m([[3, 0, 7], m([0, 1])], [[3, 0, 7, 0], 2])),
      'duplicate',
    ],
    ['an empty instance and a resource in it', cbor(m([[3, 0], m()], [[3, 0, 0], 'a'])), 'duplicate'],
    ['a resource in an empty instance given later', cbor(m([[3, 0, 0], 'a'], [[3, 0], m()])), 'duplicate'],
    [
      'an empty multiple resource and an instance of it',
      cbor(m([[3, 0, 7], m()], [[3, 0, 7, 0], 1])),
      'duplicate',
    ],
    ['integer for a string', cbor(m([[3, 0, 0], 5])), 'type-mismatch'],
    ['text for an integer', cbor(m([[3, 0, 9], '5'])), 'type-mismatch'],
    ['float for an integer', cbor(m([[3, 0, 9], new CborFloat(5)])), 'type-mismatch'],
    ['text for a time', cbor(m([[3, 0, 13], '1367491215'])), 'type-mismatch'],
    ['integer for a boolean', cbor(m([[TEST_OBJECT, 0, 2], 1])), 'type-mismatch'],
    ['text for an opaque', cbor(m([[TEST_OBJECT, 0, 3], 'AQI='])), 'type-mismatch'],
    ['bytes for a string', cbor(m([[3, 0, 0], unhex('41')])), 'type-mismatch'],
    ['bad object link text', cbor(m([[TEST_OBJECT, 0, 1], '3-0'])), 'type-mismatch'],
    ['object link past 65535', cbor(m([[TEST_OBJECT, 0, 1], '70000:0'])), 'type-mismatch'],
    ['integer for an object link', cbor(m([[TEST_OBJECT, 0, 1], 3])), 'type-mismatch'],
    ['a value for an executable resource', cbor(m([[3, 0, 4], 1])), 'type-mismatch'],
    ['null for a string', cbor(m([[3, 0, 0], null])), 'type-mismatch'],
    ['a multiple resource as a single value', cbor(m([[3, 0, 7], 5])), 'type-mismatch'],
    ['a single resource as a map', cbor(m([[3, 0, 9], m([0, 1])])), 'type-mismatch'],
    ['a single resource as an empty map', cbor(m([[3, 0, 9], m()])), 'type-mismatch'],
    ['a resource instance of a single resource', cbor(m([[3, 0, 9, 0], 1])), 'type-mismatch'],
    ['negative unsigned', cbor(m([[TEST_OBJECT, 0, 4], -1])), 'out-of-range'],
    ['integer past INT64_MAX', cbor(m([[3, 0, 9], INT64_MAX + 1n])), 'out-of-range'],
    ['integer below INT64_MIN', cbor(m([[3, 0, 9], INT64_MIN - 1n])), 'out-of-range'],
    ['time past INT64_MAX', cbor(m([[3, 0, 13], UINT64_MAX])), 'out-of-range'],
    ['unknown integer below INT64_MIN', unhex(`a1 83 ${'19a7f0'} 00 00 3b${big64}`), 'out-of-range'],
    [
      'time tag 1 with infinity',
      cbor(m([[3, 0, 13], new CborTagged(1, new CborFloat(Infinity))])),
      'out-of-range',
    ],
    ['time tag 1 with NaN', cbor(m([[3, 0, 13], new CborTagged(1, new CborFloat(NaN))])), 'out-of-range'],
    ['time tag 1 past 2^63', cbor(m([[3, 0, 13], new CborTagged(1, new CborFloat(1e19))])), 'out-of-range'],
    ['an array as a value', cbor(m([[3, 0, 9], [1]])), 'malformed'],
    ['undefined as a value', cbor(m([[3, 0, 9], undefined])), 'malformed'],
    ['a bignum tag', cbor(m([[3, 0, 9], new CborTagged(2, unhex('01'))])), 'malformed'],
    [
      'an unknown tag on an unknown resource',
      cbor(m([[UNKNOWN_OBJECT, 0, 0], new CborTagged(32, 'http://x')])),
      'malformed',
    ],
    ['tag 1 holding text', cbor(m([[3, 0, 13], new CborTagged(1, '1')])), 'malformed'],
    ['tag 0 holding an integer', cbor(m([[3, 0, 13], new CborTagged(0, 1)])), 'malformed'],
    ['tag 0 with a bad date', cbor(m([[3, 0, 13], new CborTagged(0, '2013-02-30T00:00:00Z')])), 'malformed'],
    ['invalid UTF-8 in a value', unhex('a1 83 03 00 00 62 c328'), 'bad-utf8'],
    ['invalid UTF-8 in a prefix', unhex('a1 84 62 c328 03 00 09 01'), 'bad-utf8'],
    ['a declared length past the input', unhex('a1 83 03 00 00 7a 7fffffff'), 'too-large'],
    ['a reserved additional information', unhex('a1 83 03 00 09 1c'), 'malformed'],
    ['a stray break', unhex('a1 83 03 00 09 ff'), 'malformed'],
    [
      'nesting past maxDepth',
      cbor(m([3, m([0, m([9, 1])])])),
      'too-deep',
      ctxAt('/', { limits: { maxDepth: 2 } }),
    ],
    ['deep indefinite arrays', unhex('a1' + '9f'.repeat(200)), 'too-deep'],
    [
      'more records than maxRecords',
      cbor(m([[3, 0], m([0, 'a'], [1, 'b'], [2, 'c'])])),
      'too-large',
      ctxAt('/', { limits: { maxRecords: 2 } }),
    ],
  ];
  for (const [name, bytes, reason, ctx] of cases)
    it(`${name} → ${reason}`, () => assertReason(() => lwm2mCborCodec.decode(bytes, ctx ?? ROOT), reason));

  it('Create bodies: one instance, below an object', () => {
    const body = m([0, 3]);
    const create = (v: CborValue | Uint8Array, path = '/2'): unknown =>
      decodeLwm2mCborCreate(v instanceof Uint8Array ? v : cbor(v), ctxAt(path));
    assertReason(() => create(m([[2, 65535], body], [[2, 1], body])), 'invalid-path');
    assertReason(() => create(m([2, m([0, body], [1, body])])), 'invalid-path');
    assertReason(() => create(m([2, m()])), 'invalid-path');
    assertReason(() => create(m([[2, 65535], body]), '/2/0'), 'invalid-path');
    assertReason(() => create(m([[2, 65535, 65535], 1])), 'invalid-path');
    assertReason(() => create(m([[3, 65535], body])), 'invalid-path');
    assertReason(() => create(m([[2, 65535], m([0, 'x'])])), 'type-mismatch');
    assertReason(() => create(m([[2, 65535], m([2, 1])])), 'type-mismatch');
    assertReason(() => create(unhex('a1 82 02 19ffff a2 00 01 00 02')), 'duplicate');
    // An instance without resources is a valid Create body.
    assert.deepEqual(decodeLwm2mCborCreate(cbor(m([[2, 65535], m()])), ctxAt('/2')), {
      instanceId: undefined,
      resources: [],
    });
    assert.deepEqual(decodeLwm2mCborCreate(cbor(m([[2, 4], m()])), ctxAt('/2')), {
      instanceId: 4,
      resources: [],
    });
  });
});

// ---- encoder ----

describe('LwM2M CBOR encoder', () => {
  const enc = (records: LwM2mRecord[], ctx = ROOT): string => hex(lwm2mCborCodec.encode(records, ctx));

  it('writes a single value with one array key: {[3,0,9]: 100}', () => {
    assert.equal(enc([rec('/3/0/9', Value.integer(100))], ctxAt('/3/0/9')), 'a183030009' + '1864');
  });

  it('keeps a multiple resource as a map, and a lone resource instance as one key', () => {
    assert.equal(
      enc([rec('/3/0/7/0', Value.integer(1)), rec('/3/0/7/1', Value.integer(2))]),
      hex(cbor(m([[3, 0, 7], m([0, 1], [1, 2])]))),
    );
    assert.equal(enc([rec('/3/0/7/0', Value.integer(1))]), hex(cbor(m([[3, 0, 7, 0], 1]))));
  });

  it('collapses nested chains of two or more levels and nests single levels', () => {
    const records = [
      rec('/3/0/7/0', Value.integer(5)),
      rec('/3/1/9', Value.integer(100)),
      rec('/3/1/11/0', Value.integer(0)),
    ];
    assert.equal(enc(records), hex(cbor(m([3, m([[0, 7, 0], 5], [1, m([9, 100], [11, m([0, 0])])])]))));
  });

  it('writes valueless records as empty maps', () => {
    assert.equal(enc([rec('/3/0/7')]), hex(cbor(m([[3, 0, 7], m()]))));
    assert.equal(enc([rec(`/${UNKNOWN_OBJECT}`)]), hex(cbor(m([UNKNOWN_OBJECT, m()]))));
    assert.equal(enc([rec('/1/0'), rec('/1/1')]), hex(cbor(m([1, m([0, m()], [1, m()])]))));
    // An empty container with records below it is implied by them.
    assert.equal(enc([rec('/3/0'), rec('/3/0/9', Value.integer(1))]), hex(cbor(m([[3, 0, 9], 1]))));
  });

  it('writes every type in its smallest form', () => {
    const t = TEST_OBJECT;
    const one = (rid: number, v: LwM2mValue): string =>
      enc([rec(`/${t}/0/${rid}`, v)]).slice(hex(cbor([t, 0, rid])).length + 2);
    assert.equal(one(0, Value.float(1.5)), 'f93e00');
    assert.equal(one(0, Value.float(100000)), 'fa47c35000');
    assert.equal(one(0, Value.float(1.1)), 'fb3ff199999999999a');
    assert.equal(one(0, Value.float(-0)), 'f98000');
    assert.equal(one(1, Value.objlnk(3, 0)), '63333a30');
    assert.equal(one(3, Value.opaque(unhex('0102'))), '420102');
    assert.equal(one(4, Value.unsigned(UINT64_MAX)), '1bffffffffffffffff');
    assert.equal(one(2, Value.boolean(true)), 'f5');
    assert.equal(one(7, Value.time(1367491215)), '1a5182428f'); // known Time: a plain integer
    assert.equal(one(8, Value.corelnk('</1>')), '643c2f313e');
    assert.equal(one(6, Value.integer(INT64_MIN)), '3b7fffffffffffffff');
    assert.equal(one(6, Value.integer(-24)), '37');
    assert.equal(one(9, Value.none()), 'f6');
    // A Time the model does not know goes out as tag 1, so the type survives.
    assert.equal(enc([rec(`/${UNKNOWN_OBJECT}/0/0`, Value.time(5))]).slice(-4), 'c105');
  });

  it('converts values to the model type, and refuses what does not convert', () => {
    const t = TEST_OBJECT;
    assert.equal(enc([rec(`/${t}/0/0`, Value.integer(2))]), hex(cbor(m([[t, 0, 0], new CborFloat(2)]))));
    assert.equal(enc([rec('/3/0/9', Value.string('12'))]), hex(cbor(m([[3, 0, 9], 12]))));
    assert.equal(enc([rec(`/${t}/0/1`, Value.string('3:1'))]), hex(cbor(m([[t, 0, 1], '3:1']))));
    assertReason(() => enc([rec('/3/0/9', Value.string('twelve'))]), 'not-encodable');
    assertReason(() => enc([rec(`/${t}/0/4`, Value.integer(-1))]), 'not-encodable');
  });

  it('refuses records LwM2M CBOR cannot carry', () => {
    const bad: [string, LwM2mRecord[]][] = [
      ['no records', []],
      ['a timestamp', [{ path: p('/3/0/9'), value: Value.integer(1), time: 5 }]],
      ['the root', [{ path: LwM2mPath.ROOT }]],
      ['a value on an object', [rec('/3', Value.integer(1))]],
      ['a value on an instance', [rec('/3/0', Value.integer(1))]],
      ['a resource instance without a value', [rec('/3/0/7/0')]],
      ['a single resource without a value', [rec('/3/0/9')]],
      ['a value on a multiple resource', [rec('/3/0/7', Value.integer(1))]],
      ['an instance of a single resource', [rec('/3/0/9/0', Value.integer(1))]],
      ['a duplicate', [rec('/3/0/9', Value.integer(1)), rec('/3/0/9', Value.integer(2))]],
      [
        'an overlap',
        [rec(`/${UNKNOWN_OBJECT}/0/1`, Value.integer(1)), rec(`/${UNKNOWN_OBJECT}/0/1/0`, Value.integer(2))],
      ],
      ['an integer past 64 bits', [{ path: p('/3/0/9'), value: { type: 'integer', value: 2n ** 64n } }]],
      [
        'an unsigned past 64 bits',
        [{ path: p(`/${UNKNOWN_OBJECT}/0/0`), value: { type: 'unsigned', value: -1 } }],
      ],
    ];
    for (const [name, records] of bad)
      assert.throws(
        () => enc(records),
        (e: unknown) => e instanceof ContentFormatError && e.reason === 'not-encodable',
        name,
      );
  });

  it('encodes Create bodies and refuses malformed ones', () => {
    const resources = [
      rec('/0', Value.integer(3)),
      rec('/2/0', Value.integer(15)),
      rec('/2/1', Value.integer(1)),
    ];
    const bytes = encodeLwm2mCborCreate({ instanceId: undefined, resources }, ctxAt('/2'));
    assert.equal(hex(bytes), hex(cbor(m([[2, 65535], m([0, 3], [2, m([0, 15], [1, 1])])]))));
    assert.deepEqual(showAll(decodeLwm2mCborCreate(bytes, ctxAt('/2')).resources), showAll(resources));
    assert.equal(
      hex(encodeLwm2mCborCreate({ resources: [] }, ctxAt('/d01/2'))),
      hex(cbor(m([['d01', 2, 65535], m()]))),
    );
    const notEncodable = (fn: () => unknown): void =>
      assert.throws(fn, (e: unknown) => e instanceof ContentFormatError && e.reason === 'not-encodable');
    notEncodable(() => encodeLwm2mCborCreate({ instanceId: 65535, resources }, ctxAt('/2')));
    notEncodable(() => encodeLwm2mCborCreate({ instanceId: 0, resources }, ctxAt('/2/0')));
    notEncodable(() => encodeLwm2mCborCreate({ resources: [rec('/0/1/2', Value.integer(1))] }, ctxAt('/2')));
    notEncodable(() =>
      encodeLwm2mCborCreate(
        { resources: [rec('/0', Value.integer(1)), rec('/0', Value.integer(2))] },
        ctxAt('/2'),
      ),
    );
    notEncodable(() => encodeLwm2mCborCreate({ resources: [rec('/2', Value.integer(1))] }, ctxAt('/2')));
  });
});

// ---- real third-party payloads ----

describe('LwM2M CBOR decoder: client A capture (lwm2m-1.2-client-udp.jsonl)', () => {
  it('decodes every LwM2M CBOR payload of the capture', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const responses = clientA(dir).filter((c) => c.line.dir === 'client->server');
    const byPath = new Map<string, LwM2mRecord[]>();
    for (const r of responses) {
      const path = r.requestPath;
      const ctx = ctxAt(path);
      const records = lwm2mCborCodec.decode(r.payload, ctx);
      assert.ok(records.length > 0, path);
      for (const record of records)
        assert.ok(ctx.path.covers(record.path), `${record.path.toString()} outside ${path}`);
      // Our own encoding of what we read decodes to the same records.
      const again = lwm2mCborCodec.decode(lwm2mCborCodec.encode(records, ctx), ctx);
      assert.deepEqual(showAll(again), showAll(records));
      byPath.set(path, records);
    }
    assert.deepEqual(
      [...byPath.keys()].sort(),
      ['/', '/1', '/1/1', '/3', '/3/0', '/3/0/0', '/3/0/13', '/3/0/7', '/3/0/7/0', '/3/0/9', '/33605'].sort(),
    );
    const get = (path: string, at: string): string[] =>
      showAll(byPath.get(path)!.filter((r) => r.path.toString() === at));

    // Read /3/0 and /3: the Manufacturer string, multiple resources with their instance ids, Time typed.
    for (const path of ['/3/0', '/3']) {
      assert.deepEqual(get(path, '/3/0/0'), ['/3/0/0=string:client']);
      assert.deepEqual(get(path, '/3/0/1'), ['/3/0/1=string:demo-client']);
      assert.deepEqual(get(path, '/3/0/6/0'), ['/3/0/6/0=integer:0']);
      // The core catalogue types /3/0/22 (Objlnk, multiple): the text item is read as a link.
      assert.deepEqual(get(path, '/3/0/22/0'), ['/3/0/22/0=objlnk:33606:0']);
      const time = byPath.get(path)!.find((r) => r.path.toString() === '/3/0/13')!;
      assert.equal(time.value!.type, 'time');
      assert.ok(Number(time.value!.value) > 1.7e9);
      const voltage = byPath.get(path)!.filter((r) => r.path.parent().toString() === '/3/0/7');
      assert.deepEqual(
        voltage.map((r) => [r.path.resourceInstanceId, r.value?.type]),
        [[0, 'integer']],
      );
    }
    assert.equal(byPath.get('/3/0')!.length, 20);
    // Read /1/1 and /1: lifetime 300 in /1/1/1.
    for (const path of ['/1/1', '/1']) {
      assert.deepEqual(get(path, '/1/1/1'), ['/1/1/1=integer:300']);
      assert.deepEqual(get(path, '/1/1/6'), ['/1/1/6=boolean:true']);
      assert.deepEqual(get(path, '/1/1/7'), ['/1/1/7=string:U']);
      assert.deepEqual(get(path, '/1/1/23'), ['/1/1/23=boolean:false']);
    }
    assert.deepEqual(showAll(byPath.get('/3/0/0')!), ['/3/0/0=string:client']);
    assert.deepEqual(showAll(byPath.get('/3/0/9')!), ['/3/0/9=integer:0']);
    assert.equal(byPath.get('/3/0/13')![0]!.value?.type, 'time');
    assert.deepEqual(
      byPath.get('/3/0/7')!.map((r) => r.path.toString()),
      ['/3/0/7/0'],
    );
    assert.deepEqual(
      byPath.get('/3/0/7/0')!.map((r) => [r.path.toString(), r.value?.type]),
      [['/3/0/7/0', 'integer']],
    );
    // Read-Composite of /3/0/0 and /1/1/1.
    assert.deepEqual(showAll(byPath.get('/')!), ['/3/0/0=string:client', '/1/1/1=integer:300']);
    // The test object: unknown to the model, so every type comes from the CBOR items.
    const test = byPath.get('/33605')!;
    assert.deepEqual([...new Set(test.map((r) => r.path.instanceId))], [0, 6]);
    assert.ok(test.every((r) => r.inferred === true));
    assert.deepEqual(get('/33605', '/33605/0/5'), ["/33605/0/5=opaque:h'' (inferred)"]);
    assert.deepEqual(get('/33605', '/33605/0/14'), ['/33605/0/14=float:0 (inferred)']);
    assert.deepEqual(get('/33605', '/33605/0/16'), ['/33605/0/16=string:0:0 (inferred)']);
    assert.deepEqual(get('/33605', '/33605/0/17'), ['/33605/0/17=boolean:true (inferred)']);
    assert.deepEqual(get('/33605', '/33605/6/12'), ['/33605/6/12=integer:7 (inferred)']);
  });

  it('decodes the server->client Write POST /1/1 in LwM2M CBOR', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const writes = clientA(dir).filter((c) => c.line.dir === 'server->client');
    assert.equal(writes.length, 1);
    const write = writes[0]!;
    assert.match(write.line.summary, /POST \/1\/1 /);
    assert.deepEqual(showAll(lwm2mCborCodec.decode(write.payload, ctxAt('/1/1'))), ['/1/1/1=integer:300']);
    // Our encoder writes the same Write more compactly.
    assert.equal(
      hex(lwm2mCborCodec.encode([rec('/1/1/1', Value.integer(300))], ctxAt('/1/1'))),
      'a1830101011901' + '2c',
    );
  });
});

// ---- round-trip properties ----

/** Values whose type a receiver can tell from the CBOR item alone (for objects the model does not know). */
const selfDescribing = fc.oneof(
  ...(['string', 'integer', 'float', 'boolean', 'opaque', 'time', 'none'] as const).map((t) => valueArb(t)),
  fc.bigInt({ min: INT64_MAX + 1n, max: UINT64_MAX }).map((v) => Value.unsigned(v)),
);

/** Records of random trees over known and unknown objects (42801 too), some behind gateway prefixes. */
const recordsArb = compositeRecordsArb({
  objects: [1, 2, 3, TEST_OBJECT, UNKNOWN_OBJECT, 42801],
  prefixes: ['d01', 'dev_2'],
  executables: true,
  empty: { objects: true, instances: true, multiples: true },
  unknownValues: selfDescribing,
});

/** What decoding gives back: the records, marked inferred where the model does not know the object. */
function expectedOf(records: LwM2mRecord[]): LwM2mRecord[] {
  return records.map((r) =>
    r.value !== undefined && testModel.object(r.path.objectId!) === undefined ? { ...r, inferred: true } : r,
  );
}

/** The same records in tree order, inferred marks and the sign of zero included. */
const assertSame = (actual: LwM2mRecord[], expected: LwM2mRecord[]): void =>
  assertSameRecords(actual, expected, { sort: true, inferred: true, exact: true });

describe('LwM2M CBOR: round trips', () => {
  it('decode(encode(records)) gives the records back, for trees of every type and multiplicity', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        const bytes = lwm2mCborCodec.encode(records, ROOT);
        const decoded = lwm2mCborCodec.decode(bytes, ROOT);
        assertSame(decoded, expectedOf(records));
        // Decoding keeps payload order, so encoding again gives the same bytes.
        assert.equal(hex(lwm2mCborCodec.encode(decoded, ROOT)), hex(bytes));
      }),
      { numRuns: 150 },
    );
  });

  it('the encoding is never larger than one full-path key per record', () => {
    fc.assert(
      fc.property(recordsArb, (records) => {
        const ours = lwm2mCborCodec.encode(records, ROOT).length;
        // Each record alone is `{[full path]: value}`: one map header byte plus its entry.
        const entries = records.reduce((n, r) => n + lwm2mCborCodec.encode([r], ROOT).length - 1, 0);
        const header = records.length < 24 ? 1 : records.length < 256 ? 2 : 3;
        assert.ok(ours <= header + entries, `${ours} > ${header + entries}`);
      }),
      { numRuns: 60 },
    );
  });

  it('reads a subtree relative to its request path, and in an instance-relative Create', () => {
    const arb = idArb.chain((iid) =>
      instanceRecordsArb(TEST_OBJECT, iid, { executables: true, empty: { multiples: true } }).map(
        (absolute) => ({
          iid,
          absolute,
        }),
      ),
    );
    fc.assert(
      fc.property(arb, ({ iid, absolute }) => {
        const resources = absolute.map((r): LwM2mRecord => ({
          ...r,
          path: new LwM2mPath(r.path.ids.slice(2)),
        }));
        if (absolute.length > 0) {
          const ctx = ctxAt(`/${TEST_OBJECT}/${iid}`);
          assertSame(lwm2mCborCodec.decode(lwm2mCborCodec.encode(absolute, ctx), ctx), absolute);
        }
        const create = encodeLwm2mCborCreate(
          { instanceId: iid % 2 ? iid : undefined, resources },
          ctxAt(`/${TEST_OBJECT}`),
        );
        const back = decodeLwm2mCborCreate(create, ctxAt(`/${TEST_OBJECT}`));
        assert.equal(back.instanceId, iid % 2 ? iid : undefined);
        assertSame(back.resources, resources);
      }),
      { numRuns: 80 },
    );
  });
});

// ---- robustness ----

describe('LwM2M CBOR decoder: robustness', () => {
  it('throws only ContentFormatError, quickly, on ~5000 mutated payloads', () => {
    const seeds: Uint8Array[] = [
      cbor(DEVICE_INSTANCE_SPEC),
      cbor(m([1, m([0, serverInstance(101)], [1, serverInstance(102)])])),
      cbor(m([[3, 0], m([0, OMA], [9, 100])], [[1, 0, 1], 86400])),
      cbor(m([['d01', 3, 0], m([0, 'Company A'], [9, 100])])),
      cbor(m([[2, 65535], m([0, 3], [1, 0], [2, m([0, 15])])])),
      cbor(
        m([
          [TEST_OBJECT, 0],
          m(
            [0, new CborFloat(1.1)],
            [1, '3:0'],
            [3, unhex('0102')],
            [4, UINT64_MAX],
            [7, new CborTagged(0, '2013-05-02T10:40:15Z')],
          ),
        ]),
      ),
      unhex('bf 9f 03 ff bf 9f 00 ff bf 00 62 6162 ff ff 83 03 00 09 18 64 ff'),
    ];
    // The loop runs without the shared folder too; the capture payloads only add seeds.
    const dir = sharedDir();
    if (dir) seeds.push(...clientA(dir).map((c) => c.payload));
    // Mostly composite reads (every seed is below `/`), some with tight limits, some as a Create on /2.
    const contexts = [ROOT, ROOT, ctxAt('/', { limits: { maxRecords: 20, maxDepth: 6 } }), ctxAt('/2')];
    const { decoded: accepted, reasons } = runMutations({
      seeds,
      seed: 0x11544,
      count: 5000,
      // CBOR heads worth landing on: length boundaries, indefinite starts, break, tags, floats.
      mutate: { interesting: [0x00, 0x17, 0x18, 0x1b, 0x1f, 0x5f, 0x7f, 0x9f, 0xbf, 0xc1, 0xf7, 0xf9, 0xff] },
      decode: (input, i) => {
        const ctx = contexts[i % contexts.length]!;
        return ctx.path.depth === 1 ? decodeLwm2mCborCreate(input, ctx) : lwm2mCborCodec.decode(input, ctx);
      },
    });
    // The loop must reach past the CBOR reader: some mutants decode, others fail in placement,
    // duplicate detection and typing.
    assert.ok(accepted >= 50, `only ${accepted} mutants decoded`);
    for (const reason of ['truncated', 'malformed', 'invalid-path', 'duplicate', 'type-mismatch'])
      assert.ok(
        reasons.has(reason),
        `no mutant failed with '${reason}' (saw ${[...reasons.keys()].join(', ')})`,
      );
  });

  it('bounds work on adversarial shapes', () => {
    const many = new Uint8Array(200_001);
    many.set([0xbf, 0x9f]);
    many.fill(0x00, 2); // an indefinite array key with 200k ids, never closed
    assertReason(
      () => lwm2mCborCodec.decode(many, ctxAt('/', { limits: { maxRecords: 1000 } })),
      'too-large',
    );
    const wide = cbor(
      m(...Array.from({ length: 3000 }, (_, i): [CborValue, CborValue] => [[UNKNOWN_OBJECT, 0, i], i])),
    );
    assertReason(
      () => lwm2mCborCodec.decode(wide, ctxAt('/', { limits: { maxRecords: 2999 } })),
      'too-large',
    );
    assert.equal(lwm2mCborCodec.decode(wide, ctxAt('/', { limits: { maxRecords: 3000 } })).length, 3000);
  });
});
