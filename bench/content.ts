// Content-format benchmark: encode/decode throughput per format for a 50-resource instance and a
// 1000-record pack, against cborg's raw encode/decode of the same data in the same run, and a
// payload-size table (bytes) for single values, the /3/0 instance and a 10-instance object.
import * as cborg from 'cborg';
import type { CodecContext } from '../src/content/content-codec.js';
import { createCodecRegistry } from '../src/content/codec-registry.js';
import type { ContentFormatName } from '../src/content/content-format.js';
import { Value, type LwM2mValue, type ResourceType } from '../src/model/data-types.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../src/model/object-definition.js';
import { createDefaultRegistry } from '../src/model/object-registry.js';
import { LwM2mPath } from '../src/model/path.js';
import type { LwM2mRecord } from '../src/model/records.js';
import { newResult, opsPerSecond, writeResult } from './lib/report.js';

const TYPES: ResourceType[] = [
  'string',
  'integer',
  'float',
  'boolean',
  'opaque',
  'time',
  'objlnk',
  'unsigned',
];

function syntheticObject(id: number, resources: [number, ResourceType, boolean][]): ObjectDefinition {
  const map = new Map<number, ResourceDefinition>();
  for (const [rid, type, multiple] of resources)
    map.set(rid, { id: rid, name: `r${rid}`, operations: 'RW', multiple, mandatory: false, type });
  return {
    id,
    name: `bench-${id}`,
    version: '1.0',
    lwm2mVersion: '1.2',
    urn: `urn:oma:lwm2m:x:${id}`,
    multiple: true,
    mandatory: false,
    resources: map,
  };
}

const INSTANCE_OBJECT = 50000;
const PACK_OBJECT = 50001;
const synthetic = new Map<number, ObjectDefinition>([
  [
    INSTANCE_OBJECT,
    syntheticObject(INSTANCE_OBJECT, [
      ...Array.from({ length: 48 }, (_, i): [number, ResourceType, boolean] => [
        i,
        TYPES[i % TYPES.length]!,
        false,
      ]),
      [48, 'integer', true],
      [49, 'float', true],
    ]),
  ],
  [
    PACK_OBJECT,
    syntheticObject(
      PACK_OBJECT,
      Array.from({ length: 100 }, (_, i): [number, ResourceType, boolean] => [
        i,
        i % 2 ? 'float' : 'integer',
        false,
      ]),
    ),
  ],
]);

const core = createDefaultRegistry();
const model: ObjectModel = {
  object: (id, v) => synthetic.get(id) ?? core.object(id, v),
  resource: (o, r, v) => synthetic.get(o)?.resources.get(r) ?? core.resource(o, r, v),
};

function sampleValue(type: ResourceType, i: number): LwM2mValue {
  switch (type) {
    case 'string':
      return Value.string(`value-${i}`);
    case 'integer':
      return Value.integer(i * 1000 - 7);
    case 'float':
      return Value.float(i + 0.1);
    case 'boolean':
      return Value.boolean(i % 2 === 0);
    case 'opaque':
      return Value.opaque(Uint8Array.from({ length: 16 }, (_, k) => (k * 31 + i) & 0xff));
    case 'time':
      return Value.time(1_700_000_000 + i);
    case 'objlnk':
      return Value.objlnk(3, i % 4);
    case 'unsigned':
      return Value.unsigned(2 ** 40 + i);
    default:
      return Value.none();
  }
}

function instanceRecords(): LwM2mRecord[] {
  const base = LwM2mPath.of(INSTANCE_OBJECT, 0);
  const out: LwM2mRecord[] = [];
  for (const def of synthetic.get(INSTANCE_OBJECT)!.resources.values()) {
    if (def.multiple)
      for (let k = 0; k < 4; k++)
        out.push({ path: base.append(def.id).append(k), value: sampleValue(def.type, k) });
    else out.push({ path: base.append(def.id), value: sampleValue(def.type, def.id) });
  }
  return out;
}

function packRecords(): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  for (let i = 0; i < 10; i++)
    for (let r = 0; r < 100; r++)
      out.push({
        path: LwM2mPath.of(PACK_OBJECT, i, r),
        value: r % 2 ? Value.float(20 + (i * 100 + r) / 8) : Value.integer(i * 100 + r),
      });
  return out;
}

/** The same data as plain JS for cborg: SenML-CBOR-shaped maps (0: name, 2: value / 3, 4, 8 ...). */
function cborgShape(records: LwM2mRecord[]): Map<number, unknown>[] {
  return records.map((r) => {
    const m = new Map<number, unknown>([[0, r.path.toString()]]);
    const v = r.value!;
    switch (v.type) {
      case 'string':
        m.set(3, v.value);
        break;
      case 'boolean':
        m.set(4, v.value);
        break;
      case 'opaque':
        m.set(8, v.value);
        break;
      case 'objlnk':
        m.set(3, `${v.value.objectId}:${v.value.instanceId}`);
        break;
      default:
        m.set(2, v.value);
    }
    return m;
  });
}

const FORMATS_MULTI: ContentFormatName[] = ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'];

export function runContentBench(): void {
  const codecs = createCodecRegistry();
  const result = newResult('content');
  const datasets: [string, LwM2mRecord[], CodecContext][] = [
    ['instance50', instanceRecords(), { path: LwM2mPath.of(INSTANCE_OBJECT, 0), model }],
    ['pack1000', packRecords(), { path: LwM2mPath.of(PACK_OBJECT), model }],
  ];
  for (const [label, records, ctx] of datasets) {
    for (const name of FORMATS_MULTI) {
      const codec = codecs.get(name);
      const bytes = codec.encode(records, ctx);
      const back = codec.decode(bytes, ctx);
      if (back.length !== records.length) throw new Error(`${name} ${label}: ${back.length} records back`);
      result.metrics[`${name}_encode_${label}`] = {
        value: opsPerSecond(() => codec.encode(records, ctx)),
        unit: 'ops/s',
      };
      result.metrics[`${name}_decode_${label}`] = {
        value: opsPerSecond(() => codec.decode(bytes, ctx)),
        unit: 'ops/s',
      };
      result.metrics[`${name}_bytes_${label}`] = { value: bytes.length, unit: 'bytes' };
    }
    const shape = cborgShape(records);
    const raw = cborg.encode(shape);
    const cb = (result.baselines.cborg ??= {});
    cb[`encode_${label}`] = { value: opsPerSecond(() => cborg.encode(shape)), unit: 'ops/s' };
    cb[`decode_${label}`] = {
      value: opsPerSecond(() => cborg.decode(raw, { useMaps: true })),
      unit: 'ops/s',
    };
    cb[`bytes_${label}`] = { value: raw.length, unit: 'bytes' };
    for (const op of ['encode', 'decode'] as const)
      for (const name of ['senml-cbor', 'lwm2m-cbor'] as const)
        result.ratios[`${name}_${op}_${label}_vs_cborg`] =
          result.metrics[`${name}_${op}_${label}`]!.value / cb[`${op}_${label}`]!.value;
  }
  for (const [key, bytes] of Object.entries(payloadSizes(codecs)))
    result.metrics[`size_${key}`] = { value: bytes, unit: 'bytes' };
  writeResult(result);
}

/** Bytes each format needs for the REQUIREMENTS.md ENC-1 cases and two larger payloads. */
export function payloadSizes(codecs = createCodecRegistry()): Record<string, number> {
  const out: Record<string, number> = {};
  const device = LwM2mPath.of(3, 0);
  const single: [string, LwM2mPath, LwM2mValue][] = [
    // /3/0/9 Battery Level is an Integer; /3303/0/5700 Sensor Value is a Float (IPSO temperature).
    ['int123', device.append(9), Value.integer(123)],
    ['float12.34', LwM2mPath.of(3303, 0, 5700), Value.float(12.34)],
  ];
  const all: ContentFormatName[] = [
    'text',
    'cbor',
    'senml-json',
    'senml-cbor',
    'tlv',
    'lwm2m-json',
    'lwm2m-cbor',
  ];
  for (const [label, path, value] of single)
    for (const name of all)
      out[`${label}_${name}`] = codecs.encode(name, [{ path, value }], { path, model }).length;
  const dev = deviceInstance();
  const obj = tenInstances();
  for (const name of FORMATS_MULTI) {
    out[`device_${name}`] = codecs.encode(name, dev, { path: device, model }).length;
    out[`object10_${name}`] = codecs.encode(name, obj, { path: LwM2mPath.of(1), model }).length;
  }
  return out;
}

/** The /3/0 example instance of LWM2M-1.2.md §2.5. */
export function deviceInstance(): LwM2mRecord[] {
  const p = LwM2mPath.of(3, 0);
  const r = (id: number, value: LwM2mValue): LwM2mRecord => ({ path: p.append(id), value });
  const m = (id: number, values: number[]): LwM2mRecord[] =>
    values.map((v, k) => ({ path: p.append(id).append(k), value: Value.integer(v) }));
  return [
    r(0, Value.string('Open Mobile Alliance')),
    r(1, Value.string('Lightweight M2M Client')),
    r(2, Value.string('345000123')),
    r(3, Value.string('1.0')),
    ...m(6, [1, 5]),
    ...m(7, [3800, 5000]),
    ...m(8, [125, 900]),
    r(9, Value.integer(100)),
    r(10, Value.integer(15)),
    ...m(11, [0]),
    r(13, Value.time(1367491215)),
    r(14, Value.string('+02:00')),
    r(16, Value.string('U')),
  ];
}

/** Ten /1 LwM2M Server instances. */
function tenInstances(): LwM2mRecord[] {
  const out: LwM2mRecord[] = [];
  for (let i = 0; i < 10; i++) {
    const p = LwM2mPath.of(1, i);
    out.push(
      { path: p.append(0), value: Value.integer(101 + i) },
      { path: p.append(1), value: Value.integer(86400) },
      { path: p.append(6), value: Value.boolean(true) },
      { path: p.append(7), value: Value.string('U') },
    );
  }
  return out;
}
