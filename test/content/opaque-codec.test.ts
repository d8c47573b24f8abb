import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { opaqueCodec } from '../../src/content/opaque-codec.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { assertReason } from '../support/assert-reason.js';
import { runMutations } from '../support/mutate.js';
import { plain, rec } from '../support/records.js';
import { ctxAt } from '../support/test-model.js';

// The model is the shared test model: the core objects, and /42769 with one resource of every type
// (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable).

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('opaqueCodec: decoding', () => {
  it('decodes the raw bytes of an opaque resource or resource instance', () => {
    assert.deepEqual(plain(opaqueCodec.decode(hex('00 01 fe ff'), ctxAt('/42769/0/3'))), [
      { path: '/42769/0/3', type: 'opaque', value: '0001feff' },
    ]);
    assert.deepEqual(plain(opaqueCodec.decode(hex(''), ctxAt('/42769/0/13/2'))), [
      { path: '/42769/0/13/2', type: 'opaque', value: '' },
    ]);
  });

  it('decodes an unknown resource as opaque, marked inferred', () => {
    assert.deepEqual(plain(opaqueCodec.decode(hex('c3 28'), ctxAt('/31024/0/7'))), [
      { path: '/31024/0/7', type: 'opaque', value: 'c328', inferred: true },
    ]);
  });

  it('copies the bytes, so a reused input buffer does not change the record', () => {
    const input = hex('01 02');
    const [r] = opaqueCodec.decode(input, ctxAt('/42769/0/3'));
    input[0] = 9;
    assert.deepEqual(r?.value, Value.opaque(Uint8Array.of(1, 2)));
  });

  const bad: [label: string, path: string, reason: ContentFormatReason][] = [
    ['string resource', '/3/0/0', 'type-mismatch'],
    ['integer resource', '/3/0/9', 'type-mismatch'],
    ['executable', '/3/0/4', 'type-mismatch'],
    ['multiple opaque resource', '/42769/0/13', 'type-mismatch'],
    ['instance of a single opaque resource', '/42769/0/3/0', 'type-mismatch'],
    ['instance', '/42769/0', 'invalid-path'],
    ['object', '/42769', 'invalid-path'],
    ['root', '/', 'invalid-path'],
  ];
  for (const [label, path, reason] of bad)
    it(`${label} -> ${reason}`, () =>
      assertReason(() => opaqueCodec.decode(hex('01'), ctxAt(path)), reason, label));
});

describe('opaqueCodec: encoding', () => {
  it('writes the bytes of one opaque value', () => {
    assert.equal(
      toHex(opaqueCodec.encode([rec('/42769/0/3', Value.opaque(hex('00 ff')))], ctxAt('/42769/0/3'))),
      '00ff',
    );
    assert.equal(
      toHex(opaqueCodec.encode([rec('/42769/0/13/1', Value.opaque(hex('')))], ctxAt('/42769/0/13/1'))),
      '',
    );
    assert.equal(
      toHex(opaqueCodec.encode([rec('/31024/0/1', Value.opaque(hex('2a')))], ctxAt('/31024/0/1'))),
      '2a',
    );
  });

  it('refuses other types (the 4.06 for Accept 42 on a string resource) and anything but one value', () => {
    const refused: [LwM2mRecord[], string][] = [
      [[rec('/3/0/0', Value.string('Open Mobile Alliance'))], '/3/0/0'],
      [[rec('/3/0/0', Value.opaque(hex('41')))], '/3/0/0'],
      [[rec('/3/0/9', Value.integer(1))], '/3/0/9'],
      [[rec('/42769/0/3', Value.string('AQID'))], '/42769/0/3'],
      [[rec('/31024/0/1', Value.integer(1))], '/31024/0/1'],
      [[], '/42769/0/3'],
      [[rec('/42769/0/3')], '/42769/0/3'],
      [
        [rec('/42769/0/3', Value.opaque(hex('01'))), rec('/42769/0/3', Value.opaque(hex('02')))],
        '/42769/0/3',
      ],
      [[rec('/42769/0/3', Value.opaque(hex('01')))], '/42769/1/3'],
      [[rec('/42769/0/13', Value.opaque(hex('01')))], '/42769/0/13'],
      [[{ path: LwM2mPath.parse('/42769/0/3'), value: Value.opaque(hex('01')), time: 1 }], '/42769/0/3'],
    ];
    for (const [records, path] of refused)
      assertReason(
        () => opaqueCodec.encode(records, ctxAt(path)),
        'not-encodable',
        `${records.length} at ${path}`,
        (e) => assert.equal(e.coapCode, '4.06'),
      );
  });
});

describe('opaqueCodec: round trips', () => {
  it('decode(encode(x)) = x for any bytes, single resource and resource instance', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, multiple) => {
        const path = multiple ? '/42769/1/13/4' : '/42769/1/3';
        const records = [rec(path, Value.opaque(bytes))];
        const encoded = opaqueCodec.encode(records, ctxAt(path));
        assert.equal(toHex(encoded), toHex(bytes));
        assert.deepEqual(plain(opaqueCodec.decode(encoded, ctxAt(path))), plain(records));
      }),
      { numRuns: 200 },
    );
  });
});

// ---- mutation loop ----

describe('opaqueCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const paths = ['/42769/0/3', '/42769/0/13/1', '/31024/0/1', '/3/0/0', '/42769/0'];
    const { decoded } = runMutations({
      seeds: [hex('00 01 02 03 fe ff')],
      seed: 42,
      count: 5000,
      decode: (input, i) => opaqueCodec.decode(input, ctxAt(paths[i % paths.length])),
      check: ([r], input) => assert.equal(toHex(r?.value?.value as Uint8Array), toHex(input)),
    });
    assert.equal(decoded, 3000);
  });
});
