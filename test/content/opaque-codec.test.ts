import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext } from '../../src/content/content-codec.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { opaqueCodec } from '../../src/content/opaque-codec.js';
import type { LwM2mValue, ResourceType } from '../../src/model/data-types.js';
import { Value } from '../../src/model/data-types.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../../src/model/object-definition.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';

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

// ---- helpers ----

const ctx = (path: string, extra: Partial<CodecContext> = {}): CodecContext => ({
  path: LwM2mPath.parse(path),
  model,
  ...extra,
});
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
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

describe('opaqueCodec: decoding', () => {
  it('decodes the raw bytes of an opaque resource or resource instance', () => {
    assert.deepEqual(plain(opaqueCodec.decode(hex('00 01 fe ff'), ctx('/99/0/3'))), [
      { path: '/99/0/3', type: 'opaque', value: '0001feff' },
    ]);
    assert.deepEqual(plain(opaqueCodec.decode(hex(''), ctx('/99/0/13/2'))), [
      { path: '/99/0/13/2', type: 'opaque', value: '' },
    ]);
  });

  it('decodes an unknown resource as opaque, marked inferred', () => {
    assert.deepEqual(plain(opaqueCodec.decode(hex('c3 28'), ctx('/31024/0/7'))), [
      { path: '/31024/0/7', type: 'opaque', value: 'c328', inferred: true },
    ]);
  });

  it('copies the bytes, so a reused input buffer does not change the record', () => {
    const input = hex('01 02');
    const [r] = opaqueCodec.decode(input, ctx('/99/0/3'));
    input[0] = 9;
    assert.deepEqual(r?.value, Value.opaque(Uint8Array.of(1, 2)));
  });

  const bad: [label: string, path: string, reason: ContentFormatReason][] = [
    ['string resource', '/3/0/0', 'type-mismatch'],
    ['integer resource', '/3/0/9', 'type-mismatch'],
    ['executable', '/3/0/4', 'type-mismatch'],
    ['multiple opaque resource', '/99/0/13', 'type-mismatch'],
    ['instance of a single opaque resource', '/99/0/3/0', 'type-mismatch'],
    ['instance', '/99/0', 'invalid-path'],
    ['object', '/99', 'invalid-path'],
    ['root', '/', 'invalid-path'],
  ];
  for (const [label, path, reason] of bad)
    it(`${label} -> ${reason}`, () =>
      assertReason(() => opaqueCodec.decode(hex('01'), ctx(path)), reason, label));
});

describe('opaqueCodec: encoding', () => {
  it('writes the bytes of one opaque value', () => {
    assert.equal(
      toHex(opaqueCodec.encode([rec('/99/0/3', Value.opaque(hex('00 ff')))], ctx('/99/0/3'))),
      '00ff',
    );
    assert.equal(
      toHex(opaqueCodec.encode([rec('/99/0/13/1', Value.opaque(hex('')))], ctx('/99/0/13/1'))),
      '',
    );
    assert.equal(
      toHex(opaqueCodec.encode([rec('/31024/0/1', Value.opaque(hex('2a')))], ctx('/31024/0/1'))),
      '2a',
    );
  });

  it('refuses other types (the 4.06 for Accept 42 on a string resource) and anything but one value', () => {
    const refused: [LwM2mRecord[], string][] = [
      [[rec('/3/0/0', Value.string('Open Mobile Alliance'))], '/3/0/0'],
      [[rec('/3/0/0', Value.opaque(hex('41')))], '/3/0/0'],
      [[rec('/3/0/9', Value.integer(1))], '/3/0/9'],
      [[rec('/99/0/3', Value.string('AQID'))], '/99/0/3'],
      [[rec('/31024/0/1', Value.integer(1))], '/31024/0/1'],
      [[], '/99/0/3'],
      [[rec('/99/0/3')], '/99/0/3'],
      [[rec('/99/0/3', Value.opaque(hex('01'))), rec('/99/0/3', Value.opaque(hex('02')))], '/99/0/3'],
      [[rec('/99/0/3', Value.opaque(hex('01')))], '/99/1/3'],
      [[rec('/99/0/13', Value.opaque(hex('01')))], '/99/0/13'],
      [[{ path: LwM2mPath.parse('/99/0/3'), value: Value.opaque(hex('01')), time: 1 }], '/99/0/3'],
    ];
    for (const [records, path] of refused) {
      assertReason(
        () => opaqueCodec.encode(records, ctx(path)),
        'not-encodable',
        `${records.length} at ${path}`,
      );
      assert.equal(
        (() => {
          try {
            opaqueCodec.encode(records, ctx(path));
          } catch (e) {
            return (e as ContentFormatError).coapCode;
          }
          return undefined;
        })(),
        '4.06',
      );
    }
  });
});

describe('opaqueCodec: round trips', () => {
  it('decode(encode(x)) = x for any bytes, single resource and resource instance', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, multiple) => {
        const path = multiple ? '/99/1/13/4' : '/99/1/3';
        const records = [rec(path, Value.opaque(bytes))];
        const encoded = opaqueCodec.encode(records, ctx(path));
        assert.equal(toHex(encoded), toHex(bytes));
        assert.deepEqual(plain(opaqueCodec.decode(encoded, ctx(path))), plain(records));
      }),
      { numRuns: 200 },
    );
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

describe('opaqueCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const rand = prng(42);
    const paths = ['/99/0/3', '/99/0/13/1', '/31024/0/1', '/3/0/0', '/99/0'];
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      const path = paths[i % paths.length] as string;
      const input = mutate(hex('00 01 02 03 fe ff'), rand);
      try {
        const [r] = opaqueCodec.decode(input, ctx(path));
        assert.equal(toHex(r?.value?.value as Uint8Array), toHex(input));
        decoded++;
      } catch (e) {
        assert.ok(e instanceof ContentFormatError, `input ${toHex(input)} at ${path} threw ${String(e)}`);
      }
    }
    assert.equal(decoded, 3000);
  });
});
