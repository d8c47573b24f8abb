import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CodecContext } from '../../src/content/content-codec.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import type { ContentFormatReason } from '../../src/content/content-format-error.js';
import { textCodec } from '../../src/content/text-codec.js';
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
const decode = (text: string, path: string): unknown[] => plain(textCodec.decode(utf8(text), ctx(path)));
const encode = (records: LwM2mRecord[], path: string): string =>
  new TextDecoder().decode(textCodec.encode(records, ctx(path)));

describe('textCodec: decoding', () => {
  it('decodes one value typed by the model', () => {
    const cases: [path: string, text: string, type: string, value: unknown][] = [
      ['/3/0/0', 'Open Mobile Alliance', 'string', 'Open Mobile Alliance'],
      ['/3/0/9', '100', 'integer', '100'],
      ['/3/0/9', '-9223372036854775808', 'integer', '-9223372036854775808'],
      ['/3/0/9', '9007199254740993', 'integer', '9007199254740993'],
      ['/3/0/13', '1367491215', 'time', '1367491215'],
      ['/3/0/7/1', '5000', 'integer', '5000'],
      ['/99/0/0', '12.34', 'float', '12.34'],
      ['/99/0/0', '-1e-7', 'float', '-1e-7'],
      ['/99/0/1', '3:0', 'objlnk', { objectId: 3, instanceId: 0 }],
      ['/99/0/1', '65535:65535', 'objlnk', { objectId: 65535, instanceId: 65535 }],
      ['/99/0/2', '1', 'boolean', true],
      ['/99/0/2', '0', 'boolean', false],
      ['/99/0/3', 'AQID/w==', 'opaque', '010203ff'],
      ['/99/0/3', '', 'opaque', ''],
      ['/99/0/4', '18446744073709551615', 'unsigned', '18446744073709551615'],
      ['/99/0/5', '', 'string', ''],
      ['/99/0/5', 'é😀', 'string', 'é😀'],
      ['/99/0/8', '</3/0>', 'corelnk', '</3/0>'],
      ['/99/0/9', '', 'none', null],
      ['/99/0/16/4', '-5', 'integer', '-5'],
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
    assert.deepEqual(plain(textCodec.decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41), ctx('/3/0/0'))), [
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
    ['boolean word', 'true', '/99/0/2', 'type-mismatch'],
    ['boolean 2', '2', '/99/0/2', 'type-mismatch'],
    ['float word', 'twelve', '/99/0/0', 'type-mismatch'],
    ['objlnk without colon', '3', '/99/0/1', 'type-mismatch'],
    ['objlnk beyond uint16', '70000:0', '/99/0/1', 'type-mismatch'],
    ['value for an executable', 'go', '/3/0/4', 'type-mismatch'],
    ['integer beyond int64', '9223372036854775808', '/3/0/9', 'out-of-range'],
    ['time beyond int64', '-9223372036854775809', '/3/0/13', 'out-of-range'],
    ['negative unsigned', '-1', '/99/0/4', 'out-of-range'],
    ['unsigned beyond uint64', '18446744073709551616', '/99/0/4', 'out-of-range'],
    ['float beyond a double', '1e400', '/99/0/0', 'out-of-range'],
    ['opaque not base64', 'a!b', '/99/0/3', 'bad-base64'],
    ['opaque of one base64 char', 'A', '/99/0/3', 'bad-base64'],
    ['lone continuation byte', Uint8Array.of(0x31, 0x80), '/3/0/0', 'bad-utf8'],
    ['overlong encoding', Uint8Array.of(0xc0, 0xaf), '/3/0/0', 'bad-utf8'],
    ['encoded surrogate', Uint8Array.of(0xed, 0xa0, 0x80), '/3/0/0', 'bad-utf8'],
    ['cut sequence', Uint8Array.of(0xe2, 0x82), '/31024/0/1', 'bad-utf8'],
  ];
  for (const [label, input, path, reason] of bad)
    it(`${label} -> ${reason}`, () =>
      assertReason(
        () => textCodec.decode(typeof input === 'string' ? utf8(input) : input, ctx(path)),
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
    assert.equal(encode([rec('/99/0/0', Value.float(12.34))], '/99/0/0'), '12.34');
    assert.equal(encode([rec('/99/0/1', Value.objlnk(3, 0))], '/99/0/1'), '3:0');
    assert.equal(encode([rec('/99/0/2', Value.boolean(true))], '/99/0/2'), '1');
    assert.equal(encode([rec('/99/0/3', Value.opaque(Uint8Array.of(1, 2, 3, 255)))], '/99/0/3'), 'AQID/w==');
    assert.equal(encode([rec('/99/0/4', Value.unsigned(UINT64_MAX))], '/99/0/4'), '18446744073709551615');
    assert.equal(encode([rec('/3/0/7/1', Value.integer(5000))], '/3/0/7/1'), '5000');
    assert.equal(encode([rec('/31024/0/1', Value.float(1.5))], '/31024/0/1'), '1.5');
  });

  it('converts a value to the model type first', () => {
    assert.equal(encode([rec('/3/0/9', Value.string('100'))], '/3/0/9'), '100');
    assert.equal(encode([rec('/99/0/2', Value.integer(1))], '/99/0/2'), '1');
    assert.equal(encode([rec('/99/0/0', Value.integer(3))], '/99/0/0'), '3');
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
        () => textCodec.encode(records, ctx(path)),
        'not-encodable',
        `${JSON.stringify(plain(records))} at ${path}`,
      );
  });
});

// ---- property tests ----

const arbValue: Record<Exclude<ResourceType, 'none'>, fc.Arbitrary<LwM2mValue>> = {
  string: fc.string({ unit: 'binary', maxLength: 40 }).map((v) => Value.string(v)),
  corelnk: fc.string({ maxLength: 40 }).map((v) => Value.corelnk(v)),
  integer: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }).map((v) => Value.integer(v)),
  time: fc.oneof(fc.integer(), fc.bigInt({ min: INT64_MIN, max: INT64_MAX })).map((v) => Value.time(v)),
  unsigned: fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: UINT64_MAX })).map((v) => Value.unsigned(v)),
  // formatFloat writes -0 as "0", so negative zero does not survive text/plain
  float: fc
    .double()
    .filter((f) => !Object.is(f, -0))
    .map((v) => Value.float(v)),
  boolean: fc.boolean().map((v) => Value.boolean(v)),
  opaque: fc.uint8Array({ maxLength: 100 }).map((v) => Value.opaque(v)),
  objlnk: fc
    .tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .map(([o, i]) => Value.objlnk(o, i)),
};

describe('textCodec: round trips', () => {
  it('decode(encode(x)) = x for every type, single and multiple', () => {
    for (const def of TYPED) {
      if (def.type === 'none') continue;
      fc.assert(
        fc.property(arbValue[def.type], fc.integer({ min: 0, max: 65534 }), (value, id) => {
          const path = def.multiple ? `/99/${id}/${def.id}/${id}` : `/99/${id}/${def.id}`;
          const bytes = textCodec.encode([rec(path, value)], ctx(path));
          assert.deepEqual(plain(textCodec.decode(bytes, ctx(path))), plain([rec(path, value)]));
        }),
        { numRuns: 60 },
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

describe('textCodec: mutated input', () => {
  it('throws nothing but ContentFormatError on 5000 mutated payloads', () => {
    const seeds: [string, string][] = [
      ['Open Mobile Alliance é', '/3/0/0'],
      ['-9223372036854775808', '/3/0/9'],
      ['12.5e3', '/99/0/0'],
      ['33606:0', '/99/0/1'],
      ['1', '/99/0/2'],
      ['AQID/w==', '/99/0/3'],
      ['18446744073709551615', '/99/0/4'],
      ['', '/99/0/9'],
      ['x', '/31024/0/1'],
    ];
    const rand = prng(0);
    let decoded = 0;
    for (let i = 0; i < 5000; i++) {
      const [text, path] = seeds[i % seeds.length] as [string, string];
      const input = mutate(utf8(text), rand);
      try {
        textCodec.decode(input, ctx(path));
        decoded++;
      } catch (e) {
        assert.ok(
          e instanceof ContentFormatError,
          `input ${Buffer.from(input).toString('hex')} at ${path} threw ${String(e)}`,
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

describe('textCodec: real captures', () => {
  it('decodes the text/plain payloads of both clients', (t) => {
    const dir = requireShared(t);
    if (dir === undefined) return;
    const values = new Map<string, LwM2mValue[]>();
    let count = 0;
    for (const file of ['lwm2m-1.1-client-udp.jsonl', 'lwm2m-1.2-client-udp.jsonl']) {
      for (const p of capturedPayloads(join(dir, 'captures', file), 0)) {
        const records = textCodec.decode(p.payload, ctx(p.path));
        assert.equal(records.length, 1);
        const [r] = records as [LwM2mRecord];
        assert.equal(r.path.toString(), p.path);
        assert.equal(r.inferred, undefined);
        values.set(p.path, [...(values.get(p.path) ?? []), r.value as LwM2mValue]);
        assert.equal(toHex(textCodec.encode(records, ctx(p.path))), toHex(p.payload), `seq ${p.seq}`);
        count++;
      }
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
