import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { textCodec } from '../../src/content/text-codec.js';
import type { LwM2mValue } from '../../src/model/data-types.js';
import { UINT64_MAX, Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { idArb, valueArb } from '../support/arbitraries.js';
import { assertReason } from '../support/assert-reason.js';
import { capturedPayloadsOf } from '../support/captures.js';
import { mutateCodec } from '../support/mutate.js';
import { plain, rec } from '../support/records.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT, TEST_RESOURCES, ctxAt } from '../support/test-model.js';

// The model is the shared test model: the core objects, and /42769 with one resource of every type
// (k: a single TEST_TYPES[k], 10 + k: a multiple one, 9: executable).

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const decode = (text: string, path: string): unknown[] => plain(textCodec.decode(utf8(text), ctxAt(path)));
const encode = (records: LwM2mRecord[], path: string): string =>
  new TextDecoder().decode(textCodec.encode(records, ctxAt(path)));

describe('textCodec: decoding', () => {
  it('decodes one value typed by the model', () => {
    const cases: [path: string, text: string, type: string, value: unknown][] = [
      ['/3/0/0', 'Open Mobile Alliance', 'string', 'Open Mobile Alliance'],
      ['/3/0/9', '100', 'integer', '100'],
      ['/3/0/9', '-9223372036854775808', 'integer', '-9223372036854775808'],
      ['/3/0/9', '9007199254740993', 'integer', '9007199254740993'],
      ['/3/0/13', '1367491215', 'time', '1367491215'],
      ['/3/0/7/1', '5000', 'integer', '5000'],
      ['/42769/0/0', '12.34', 'float', '12.34'],
      ['/42769/0/0', '-1e-7', 'float', '-1e-7'],
      ['/42769/0/1', '3:0', 'objlnk', { objectId: 3, instanceId: 0 }],
      ['/42769/0/1', '65535:65535', 'objlnk', { objectId: 65535, instanceId: 65535 }],
      ['/42769/0/2', '1', 'boolean', true],
      ['/42769/0/2', '0', 'boolean', false],
      ['/42769/0/3', 'AQID/w==', 'opaque', '010203ff'],
      ['/42769/0/3', '', 'opaque', ''],
      ['/42769/0/4', '18446744073709551615', 'unsigned', '18446744073709551615'],
      ['/42769/0/5', '', 'string', ''],
      ['/42769/0/5', 'é😀', 'string', 'é😀'],
      ['/42769/0/8', '</3/0>', 'corelnk', '</3/0>'],
      ['/42769/0/9', '', 'none', null],
      ['/42769/0/16/4', '-5', 'integer', '-5'],
    ];
    for (const [path, text, type, value] of cases)
      assert.deepEqual(decode(text, path), [{ path, type, value }], `${path} "${text}"`);
  });

  it('decodes an unknown resource as a string, marked inferred', () => {
    assert.deepEqual(decode('42', '/31024/0/1'), [
      { path: '/31024/0/1', type: 'string', value: '42', inferred: true },
    ]);
    assert.deepEqual(decode('x', '/31024/0/1/2'), [
      { path: '/31024/0/1/2', type: 'string', value: 'x', inferred: true },
    ]);
  });

  it('keeps a byte order mark as part of a string', () => {
    assert.deepEqual(plain(textCodec.decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41), ctxAt('/3/0/0'))), [
      { path: '/3/0/0', type: 'string', value: '\ufeffA' },
    ]);
  });

  const bad: [label: string, bytes: Uint8Array | string, path: string, reason: ContentFormatReason][] = [
    ['object path', '1', '/3', 'invalid-path'],
    ['instance path', '1', '/3/0', 'invalid-path'],
    ['root', '1', '/', 'invalid-path'],
    ['multiple resource', '1', '/3/0/7', 'type-mismatch'],
    ['instance of a single resource', '1', '/3/0/9/0', 'type-mismatch'],
    ['not a number', 'abc', '/3/0/9', 'type-mismatch'],
    ['fraction for an integer', '1.5', '/3/0/9', 'type-mismatch'],
    ['empty integer', '', '/3/0/9', 'type-mismatch'],
    ['hex integer', '0x10', '/3/0/9', 'type-mismatch'],
    ['boolean word', 'true', '/42769/0/2', 'type-mismatch'],
    ['boolean 2', '2', '/42769/0/2', 'type-mismatch'],
    ['float word', 'twelve', '/42769/0/0', 'type-mismatch'],
    ['objlnk without colon', '3', '/42769/0/1', 'type-mismatch'],
    ['objlnk beyond uint16', '70000:0', '/42769/0/1', 'type-mismatch'],
    ['value for an executable', 'go', '/3/0/4', 'type-mismatch'],
    ['integer beyond int64', '9223372036854775808', '/3/0/9', 'out-of-range'],
    ['time beyond int64', '-9223372036854775809', '/3/0/13', 'out-of-range'],
    ['negative unsigned', '-1', '/42769/0/4', 'out-of-range'],
    ['unsigned beyond uint64', '18446744073709551616', '/42769/0/4', 'out-of-range'],
    ['float beyond a double', '1e400', '/42769/0/0', 'out-of-range'],
    ['opaque not base64', 'a!b', '/42769/0/3', 'bad-base64'],
    ['opaque of one base64 char', 'A', '/42769/0/3', 'bad-base64'],
    ['lone continuation byte', Uint8Array.of(0x31, 0x80), '/3/0/0', 'bad-utf8'],
    ['overlong encoding', Uint8Array.of(0xc0, 0xaf), '/3/0/0', 'bad-utf8'],
    ['encoded surrogate', Uint8Array.of(0xed, 0xa0, 0x80), '/3/0/0', 'bad-utf8'],
    ['cut sequence', Uint8Array.of(0xe2, 0x82), '/31024/0/1', 'bad-utf8'],
  ];
  for (const [label, input, path, reason] of bad)
    it(`${label} -> ${reason}`, () =>
      assertReason(
        () => textCodec.decode(typeof input === 'string' ? utf8(input) : input, ctxAt(path)),
        reason,
        label,
      ));
});

describe('textCodec: encoding', () => {
  it('writes the text form of each type', () => {
    assert.equal(
      encode([rec('/3/0/0', Value.string('Open Mobile Alliance'))], '/3/0/0'),
      'Open Mobile Alliance',
    );
    assert.equal(encode([rec('/3/0/9', Value.integer(2n ** 53n + 1n))], '/3/0/9'), '9007199254740993');
    assert.equal(encode([rec('/42769/0/0', Value.float(12.34))], '/42769/0/0'), '12.34');
    assert.equal(encode([rec('/42769/0/1', Value.objlnk(3, 0))], '/42769/0/1'), '3:0');
    assert.equal(encode([rec('/42769/0/2', Value.boolean(true))], '/42769/0/2'), '1');
    assert.equal(
      encode([rec('/42769/0/3', Value.opaque(Uint8Array.of(1, 2, 3, 255)))], '/42769/0/3'),
      'AQID/w==',
    );
    assert.equal(
      encode([rec('/42769/0/4', Value.unsigned(UINT64_MAX))], '/42769/0/4'),
      '18446744073709551615',
    );
    assert.equal(encode([rec('/3/0/7/1', Value.integer(5000))], '/3/0/7/1'), '5000');
    assert.equal(encode([rec('/31024/0/1', Value.float(1.5))], '/31024/0/1'), '1.5');
  });

  it('converts a value to the model type first', () => {
    assert.equal(encode([rec('/3/0/9', Value.string('100'))], '/3/0/9'), '100');
    assert.equal(encode([rec('/42769/0/2', Value.integer(1))], '/42769/0/2'), '1');
    assert.equal(encode([rec('/42769/0/0', Value.integer(3))], '/42769/0/0'), '3');
  });

  it('refuses anything but exactly one value at the request path', () => {
    const refused: [LwM2mRecord[], string][] = [
      [[], '/3/0/9'],
      [[rec('/3/0/9')], '/3/0/9'],
      [[rec('/3/0/9', Value.integer(1)), rec('/3/0/10', Value.integer(1))], '/3/0/9'],
      [[rec('/3/0/9', Value.integer(1))], '/3/0/10'],
      [[rec('/3/0/9', Value.integer(1))], '/3/0'],
      [[{ path: LwM2mPath.parse('/3/0/9'), value: Value.integer(1), time: 10 }], '/3/0/9'],
      [[rec('/3/0/7', Value.integer(1))], '/3/0/7'],
      [[rec('/3/0/9/0', Value.integer(1))], '/3/0/9/0'],
      [[rec('/3/0/9', Value.string('many'))], '/3/0/9'],
      [[rec('/3/0/0', Value.string('\udc00'))], '/3/0/0'],
    ];
    for (const [records, path] of refused)
      assertReason(
        () => textCodec.encode(records, ctxAt(path)),
        'not-encodable',
        `${JSON.stringify(plain(records))} at ${path}`,
      );
  });
});

// ---- property tests ----

// formatFloat writes -0 as "0", so negative zero does not survive text/plain
const VALUES = { negativeZero: false, maxBytes: 100, maxChars: 40 };

describe('textCodec: round trips', () => {
  it('decode(encode(x)) = x for every type, single and multiple', () => {
    for (const def of TEST_RESOURCES) {
      if (def.type === 'none') continue;
      fc.assert(
        fc.property(valueArb(def.type, VALUES), idArb, (value, id) => {
          const path = def.multiple
            ? `/${TEST_OBJECT}/${id}/${def.id}/${id}`
            : `/${TEST_OBJECT}/${id}/${def.id}`;
          const bytes = textCodec.encode([rec(path, value)], ctxAt(path));
          assert.deepEqual(plain(textCodec.decode(bytes, ctxAt(path))), plain([rec(path, value)]));
        }),
        { numRuns: 60 },
      );
    }
  });
});

// ---- mutation loop ----

describe('textCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const seeds: [string, string][] = [
      ['Open Mobile Alliance é', '/3/0/0'],
      ['-9223372036854775808', '/3/0/9'],
      ['12.5e3', '/42769/0/0'],
      ['33606:0', '/42769/0/1'],
      ['1', '/42769/0/2'],
      ['AQID/w==', '/42769/0/3'],
      ['18446744073709551615', '/42769/0/4'],
      ['', '/42769/0/9'],
      ['x', '/31024/0/1'],
    ];
    const { decoded } = mutateCodec(
      textCodec,
      seeds.map(([text, path]) => [utf8(text), path] as const),
      0,
    );
    assert.ok(decoded > 0 && decoded < 5000, `decoded ${decoded}`);
  });
});

// ---- real captures ----

describe('textCodec: real captures', () => {
  it('decodes the text/plain payloads of both clients', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const values = new Map<string, LwM2mValue[]>();
    let count = 0;
    for (const p of capturedPayloadsOf(dir, 0, [
      'lwm2m-1.1-client-udp.jsonl',
      'lwm2m-1.2-client-udp.jsonl',
    ])) {
      const path = p.requestPath;
      const records = textCodec.decode(p.payload, ctxAt(path));
      assert.equal(records.length, 1);
      const [r] = records as [LwM2mRecord];
      assert.equal(r.path.toString(), path);
      assert.equal(r.inferred, undefined);
      values.set(path, [...(values.get(path) ?? []), r.value as LwM2mValue]);
      assert.equal(toHex(textCodec.encode(records, ctxAt(path))), toHex(p.payload), `seq ${p.line.seq}`);
      count++;
    }
    assert.ok(count >= 20, `only ${count} payloads`);
    assert.deepEqual(
      new Set((values.get('/3/0/0') ?? []).map((v) => v.value)),
      new Set(['Open Mobile Alliance', 'client']),
    );
    const battery = values.get('/3/0/9') ?? [];
    assert.equal(battery.length, 2);
    for (const v of battery)
      assert.ok(v.type === 'integer' && Number(v.value) >= 0 && Number(v.value) <= 100);
    const times = values.get('/3/0/13') ?? [];
    assert.ok(times.length >= 10);
    for (const v of times) assert.ok(v.type === 'time' && Number(v.value) > 1_600_000_000);
    assert.deepEqual(values.get('/1/0/1'), [Value.integer(300)]);
    assert.deepEqual(values.get('/1/1/1'), [Value.integer(300)]);
    assert.equal(values.get('/3/0/7/0')?.[0]?.type, 'integer');
  });
});
