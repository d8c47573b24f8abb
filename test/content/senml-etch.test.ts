import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborFloat, CborMap, decodeCbor, type CborValue } from '../../src/content/cbor/cbor-reader.js';
import { encodeCbor } from '../../src/content/cbor/cbor-writer.js';
import type { ContentCodec } from '../../src/content/content-codec.js';
import { senmlCborCodec, senmlEtchCborCodec } from '../../src/content/senml-cbor-codec.js';
import { senmlEtchJsonCodec, senmlJsonCodec } from '../../src/content/senml-json-codec.js';
import type { LwM2mValue } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { valueArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { CAPTURE_FILES, capturedPayloads } from '../support/captures.js';
import { assertSameRecords, showRecords } from '../support/records.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, ctxAt } from '../support/test-model.js';

// The model is the shared test model: the core objects, and TEST_OBJECT (/42769) with one resource
// of every type (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable).

const ROOT = ctxAt('/');
const p = (s: string): LwM2mPath => LwM2mPath.parse(s);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const map = (...entries: [CborValue, CborValue][]): CborMap => new CborMap(entries);

const etchJson = (json: string, ctx = ROOT): LwM2mRecord[] => senmlEtchJsonCodec.decode(utf8(json), ctx);
const etchCbor = (v: CborValue, ctx = ROOT): LwM2mRecord[] => senmlEtchCborCodec.decode(encodeCbor(v), ctx);

describe('SenML-ETCH Fetch pack (RFC 8790 §3): names only', () => {
  it('the Read-Composite examples, JSON and CBOR', () => {
    assert.deepEqual(showRecords(etchJson('[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]')), [
      '/3/0/0',
      '/3/0/9',
      '/1/0/1',
    ]);
    assert.deepEqual(showRecords(etchJson('[{"bn":"/4/0/","n":"0"},{"n":"1"},{"bn":"/6/","n":"0"}]')), [
      '/4/0/0',
      '/4/0/1',
      '/6/0',
    ]);
    assert.deepEqual(
      showRecords(etchCbor([map([-2, '/4/0/'], [0, '0']), map([0, '1']), map([-2, '/6/'], [0, '0'])])),
      ['/4/0/0', '/4/0/1', '/6/0'],
    );
    const all = etchJson('[{"n":"/"}]');
    assert.equal(all.length, 1);
    assert.ok(all[0]!.path.isRoot());
  });

  it('t, bt, u, bu and bver are allowed in a Fetch pack', () => {
    assert.deepEqual(
      showRecords(etchJson('[{"bver":10,"bn":"/3/0/","bt":100,"bu":"V","n":"9","u":"%","t":-5}]')),
      ['/3/0/9@95'],
    );
    assert.deepEqual(
      showRecords(
        etchCbor([map([-1, 10], [-2, '/3/0/'], [-3, 100], [-4, 'V'], [0, '9'], [1, '%'], [6, -5])]),
      ),
      ['/3/0/9@95'],
    );
  });

  it('sums and base values are refused in a Fetch pack', () => {
    assertReason(() => etchJson('[{"n":"/3/0/9","s":1}]'), 'malformed');
    assertReason(() => etchJson('[{"n":"/3/0/9","bv":1}]'), 'malformed');
    assertReason(() => etchCbor([map([0, '/3/0/9'], [-6, 1])]), 'malformed');
  });

  it('duplicate names are refused; names must lie below the request path', () => {
    assertReason(() => etchJson('[{"n":"/3/0/9"},{"bn":"/3/0/","n":"9"}]'), 'duplicate');
    assertReason(() => etchJson('[{"n":"/1/0/1"}]', ctxAt('/3')), 'invalid-path');
  });

  it('encodes valueless records as a Fetch pack with a shared base name', () => {
    const records = [{ path: p('/3/0/0') }, { path: p('/3/0/9') }, { path: p('/3/0/7/0') }];
    assert.equal(
      text(senmlEtchJsonCodec.encode(records, ROOT)),
      '[{"bn":"/3/0/","n":"0"},{"n":"9"},{"n":"7/0"}]',
    );
    const cbor = senmlEtchCborCodec.encode(records, ROOT);
    assert.deepEqual(decodeCbor(cbor), [map([-2, '/3/0/'], [0, '0']), map([0, '9']), map([0, '7/0'])]);
    assert.deepEqual(showRecords(senmlEtchCborCodec.decode(cbor, ROOT)), ['/3/0/0', '/3/0/9', '/3/0/7/0']);
  });
});

describe('SenML-ETCH Patch pack (RFC 8790 §4): values, and null deletes a resource instance', () => {
  it('"v": null (any value field) is a record without value at that resource instance', () => {
    const records = etchJson(
      '[{"bn":"/3/0/","n":"7/1","v":null},{"n":"9","v":5},{"n":"16","vs":"U"},' +
        `{"bn":"/${TEST_OBJECT}/0/","n":"15/2","vs":null},{"n":"13/0","vd":null},{"n":"12/0","vb":null},{"n":"11/0","vlo":null}]`,
    );
    assert.deepEqual(showRecords(records), [
      '/3/0/7/1',
      '/3/0/9 = integer:5',
      '/3/0/16 = string:U',
      `/${TEST_OBJECT}/0/15/2`,
      `/${TEST_OBJECT}/0/13/0`,
      `/${TEST_OBJECT}/0/12/0`,
      `/${TEST_OBJECT}/0/11/0`,
    ]);
    assert.ok(records.filter((r) => r.value === undefined).every((r) => r.path.isResourceInstance()));
  });

  it('CBOR null deletes the same way', () => {
    const records = etchCbor([map([0, '/3/0/7/1'], [2, null]), map([0, '/6/0/0'], [2, new CborFloat(1.5)])]);
    assert.deepEqual(showRecords(records), ['/3/0/7/1', '/6/0/0 = float:1.5']);
  });

  it('every record of a Patch pack needs a value; null deletes resource instances only', () => {
    assertReason(() => etchJson('[{"n":"/3/0/9","v":5},{"n":"/3/0/0"}]'), 'malformed');
    assertReason(() => etchJson('[{"n":"/3/0/9","v":null}]'), 'invalid-path');
    assertReason(() => etchJson('[{"n":"/3/0","v":null}]'), 'invalid-path');
    assertReason(() => etchCbor([map([0, '/3/0/9'], [2, 1]), map([0, '/3/0/0'])]), 'malformed');
    assertReason(() => etchJson('[{"n":"/3/0/7/1","v":null,"vs":"x"}]'), 'malformed');
    assertReason(() => etchJson('[{"n":"/3/0/7/1","v":null},{"n":"/3/0/7/1","v":3}]'), 'duplicate');
  });

  it('plain SenML (110, 112) refuses null values', () => {
    assertReason(() => senmlJsonCodec.decode(utf8('[{"n":"/3/0/7/1","v":null}]'), ROOT), 'malformed');
    assertReason(
      () => senmlCborCodec.decode(encodeCbor([map([0, '/3/0/7/1'], [2, null])]), ROOT),
      'malformed',
    );
  });

  it('encodes valueless resource-instance records as "v": null when the pack has values', () => {
    const records: LwM2mRecord[] = [
      { path: p('/3/0/9'), value: { type: 'integer', value: 5 } },
      { path: p('/3/0/7/1') },
    ];
    assert.equal(
      text(senmlEtchJsonCodec.encode(records, ROOT)),
      '[{"bn":"/3/0/","n":"9","v":5},{"n":"7/1","v":null}]',
    );
    const cbor = senmlEtchCborCodec.encode(records, ROOT);
    assert.deepEqual(decodeCbor(cbor), [map([-2, '/3/0/'], [0, '9'], [2, 5]), map([0, '7/1'], [2, null])]);
    assertSameRecords(senmlEtchCborCodec.decode(cbor, ROOT), records);
    // Plain SenML writes the same records as a value and a name.
    assert.equal(text(senmlJsonCodec.encode(records, ROOT)), '[{"bn":"/3/0/","n":"9","v":5},{"n":"7/1"}]');
  });

  it('a Patch pack cannot carry a valueless record above a resource instance', () => {
    const records: LwM2mRecord[] = [
      { path: p('/3/0/9'), value: { type: 'integer', value: 5 } },
      { path: p('/3/0/7') },
    ];
    assertReason(() => senmlEtchJsonCodec.encode(records, ROOT), 'not-encodable');
    assertReason(() => senmlEtchCborCodec.encode(records, ROOT), 'not-encodable');
  });
});

describe('SenML-ETCH: round trips (property)', () => {
  // JSON has no NaN or infinities.
  const valueFor: Record<string, fc.Arbitrary<LwM2mValue>> = {
    '/3/0/9': valueArb('integer'),
    '/3/0/16': valueArb('string'),
    '/6/0/0': valueArb('float', { nonFinite: false }),
    '/1/0/6': valueArb('boolean'),
  };
  const instance = fc
    .tuple(fc.constantFrom(7, 15, 13, 12), fc.integer({ min: 0, max: 4 }))
    .map(([rid, ri]) => (rid === 7 ? LwM2mPath.of(3, 0, 7, ri) : LwM2mPath.of(TEST_OBJECT, 0, rid, ri)));
  const valued = fc
    .constantFrom(...Object.keys(valueFor))
    .chain((path) => valueFor[path]!.map((value): LwM2mRecord => ({ path: p(path), value })));
  const patch = fc
    .tuple(
      fc.uniqueArray(valued, { minLength: 1, maxLength: 4, selector: (r) => r.path.toString() }),
      fc.uniqueArray(instance, { maxLength: 4, selector: (x) => x.toString() }),
    )
    .map(([values, deletes]) => [...values, ...deletes.map((path): LwM2mRecord => ({ path }))]);
  const fetch = fc.uniqueArray(
    fc.oneof(instance, fc.constantFrom(p('/'), p('/3'), p('/3/0'), p('/3/0/9'), p('/1/0/1'), p('/6/0'))),
    { minLength: 1, maxLength: 6, selector: (x) => x.toString() },
  );

  for (const [name, codec] of [
    ['senml-etch-json', senmlEtchJsonCodec],
    ['senml-etch-cbor', senmlEtchCborCodec],
  ] as [string, ContentCodec][]) {
    it(`${name}: Patch packs (values and deletes) round-trip`, () => {
      fc.assert(
        fc.property(patch, (records) =>
          assertSameRecords(codec.decode(codec.encode(records, ROOT), ROOT), records),
        ),
        { numRuns: 150 },
      );
    });
    it(`${name}: Fetch packs round-trip`, () => {
      fc.assert(
        fc.property(fetch, (paths) => {
          const records = paths.map((path): LwM2mRecord => ({ path }));
          assertSameRecords(codec.decode(codec.encode(records, ROOT), ROOT), records);
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('SenML-ETCH: real captures', () => {
  it('every SenML-ETCH JSON (320) Read-/Observe-Composite body decodes as a Fetch pack', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    let count = 0;
    for (const file of CAPTURE_FILES) {
      for (const c of capturedPayloads(shared, file)) {
        if (c.contentFormat !== 320) continue;
        assert.equal(c.requestCode, '0.05', 'ETCH bodies here are FETCH requests');
        const records = senmlEtchJsonCodec.decode(c.payload, ROOT);
        assert.ok(records.length >= 2, `${file} seq ${c.line.seq}`);
        assert.ok(records.every((r) => r.value === undefined && r.path.isResource()));
        assertSameRecords(senmlEtchJsonCodec.decode(senmlEtchJsonCodec.encode(records, ROOT), ROOT), records);
        count++;
      }
    }
    assert.ok(count >= 10, `only ${count} payloads`);
  });
});
