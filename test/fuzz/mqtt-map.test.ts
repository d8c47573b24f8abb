// Mutation and generation fuzzing of the LwM2M MQTT binding's message map (LwM2M 1.2.2 transport
// §7, the CBOR map): decodeMqttMessage, then the request decoders the client (rd and bs topics) and
// the server (rd and bs topics) run on what it returns. Mutation of valid maps of every operation
// (written with encodeMqttMessage) and generation: CBOR maps whose keys are the map keys (1..22)
// or strays, with values of the right kind or a wrong one (hostile paths, payloads that are other
// formats, attribute values past 64 bits), and raw CBOR heads. Only MqttMessageError may escape
// the map decoder and only OperationError the operation decoders; no call takes over a second.
// (stream-mqtt.test.ts also mutates maps and swaps fields through the response decoders.)
// Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as cborg from 'cborg';
import fc from 'fast-check';
import {
  BootstrapOperationCode,
  MapKey,
  RdOperationCode,
  encodeMqttMessage,
  type MqttMessage,
} from '../../src/binding/mqtt/mqtt-message-map.js';
import {
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  utf8Bytes,
  FUZZ_TIMEOUT_MS,
} from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';

const COUNT = inputsPerKind();

const senmlNames = (paths: string[]): Uint8Array => cborg.encode(paths.map((n) => new Map([[0, n]])));
const senmlValue = cborg.encode([
  new Map<number, unknown>([
    [-2, '/3/0/'],
    [0, '9'],
    [2, 80],
  ]),
]);

/** Valid maps of the operations of both topics, and answers. */
const CORPUS: MqttMessage[] = [
  {
    operation: RdOperationCode.REGISTER,
    token: Uint8Array.of(1),
    ep: 'dev-1',
    lifetime: 300,
    version: '1.2',
    b: 'M',
    payload: utf8Bytes('</1/0>,</3/0>'),
    ct: 40,
  },
  { operation: RdOperationCode.UPDATE, token: 'tok', uri: '/rd/r1', lifetime: 600 },
  { operation: RdOperationCode.DEREGISTER, token: 7, uri: '/rd/r1' },
  { operation: RdOperationCode.READ, token: Uint8Array.of(2, 2), uri: '/3/0/9', ct: 112 },
  {
    operation: RdOperationCode.READ_COMPOSITE,
    token: Uint8Array.of(3),
    paths: senmlNames(['/3/0/9', '/1/0/1']),
    ct: 112,
  },
  { operation: RdOperationCode.DISCOVER, token: Uint8Array.of(4), uri: '/3', depth: 2 },
  {
    operation: RdOperationCode.WRITE_REPLACE,
    token: Uint8Array.of(5),
    uri: '/3/0',
    pct: 112,
    payload: senmlValue,
  },
  {
    operation: RdOperationCode.WRITE_PARTIAL,
    token: Uint8Array.of(6),
    uri: '/1/0/1',
    pct: 0,
    payload: utf8Bytes('60'),
  },
  {
    operation: RdOperationCode.WRITE_ATTRIBUTES,
    token: Uint8Array.of(7),
    uri: '/3/0/9',
    pmin: 1,
    pmax: null,
    gt: 1.5,
    st: 0.5,
    epmin: 2,
    edge: 1,
    hqmax: 4,
  },
  { operation: RdOperationCode.WRITE_COMPOSITE, token: Uint8Array.of(8), pct: 112, payload: senmlValue },
  {
    operation: RdOperationCode.EXECUTE,
    token: Uint8Array.of(9),
    uri: '/1/0/8',
    payload: utf8Bytes("0='M',1"),
  },
  {
    operation: RdOperationCode.CREATE,
    token: Uint8Array.of(10),
    uri: '/3303',
    pct: 11542,
    payload: Uint8Array.of(0xc8, 0x00, 0x01, 0x31),
  },
  { operation: RdOperationCode.DELETE, token: Uint8Array.of(11), uri: '/3303/1' },
  { operation: RdOperationCode.OBSERVE, token: Uint8Array.of(12), uri: '/3/0/9', pmin: 10, ct: 0 },
  { operation: RdOperationCode.OBSERVE_COMPOSITE, token: Uint8Array.of(13), paths: senmlNames(['/3/0/9']) },
  { operation: RdOperationCode.CANCEL, token: Uint8Array.of(14), uri: '/3/0/9' },
  { operation: RdOperationCode.SEND, token: Uint8Array.of(15), pct: 112, payload: senmlValue },
  {
    operation: RdOperationCode.NOTIFY,
    result: 205,
    token: Uint8Array.of(12),
    ct: 0,
    payload: utf8Bytes('80'),
  },
  { result: 205, token: Uint8Array.of(3), ct: 112, payload: senmlValue },
  { result: 404, token: Uint8Array.of(11) },
  { operation: BootstrapOperationCode.BOOTSTRAP_REQUEST, token: Uint8Array.of(20), ep: 'dev-1', pct: 112 },
  {
    operation: BootstrapOperationCode.BOOTSTRAP_WRITE,
    token: Uint8Array.of(21),
    uri: '/0/1',
    pct: 112,
    payload: senmlValue,
  },
  { operation: BootstrapOperationCode.BOOTSTRAP_DISCOVER, token: Uint8Array.of(22), uri: '/' },
  { operation: BootstrapOperationCode.BOOTSTRAP_DELETE, token: Uint8Array.of(23), uri: '/1' },
  { operation: BootstrapOperationCode.BOOTSTRAP_FINISH, token: Uint8Array.of(24) },
];

// ---- generation ----

const pathText = fc.oneof(
  fc.constantFrom(
    '/',
    '/3',
    '/3/0',
    '/3/0/9',
    '/3/0/7/0',
    '/1/0/8',
    '/rd/r1',
    '/rd',
    '',
    '//',
    '/65536',
    '/3/-1',
    '/3/0/9/0/1',
    'rd',
  ),
  fc.array(fc.nat({ max: 70_000 }), { maxLength: 5 }).map((ids) => `/${ids.join('/')}`),
);
const anyLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }),
  fc.boolean(),
  fc.constantFrom(null, undefined),
);
/** A value for a key: mostly of the kind the key takes, sometimes any item. */
function valueFor(key: number): fc.Arbitrary<unknown> {
  const kinds: Record<number, fc.Arbitrary<unknown>> = {
    [MapKey.operation]: fc.oneof(fc.nat({ max: 24 }), fc.constantFrom(255, 256, -1)),
    [MapKey.token]: fc.oneof(fc.uint8Array({ maxLength: 9 }), fc.string({ maxLength: 9 }), fc.nat()),
    [MapKey.ep]: fc.oneof(fc.string({ maxLength: 12 }), fc.constant('x'.repeat(300))),
    [MapKey.uri]: pathText,
    [MapKey.paths]: fc.oneof(
      fc.array(pathText, { maxLength: 4 }).map(senmlNames),
      fc.uint8Array({ maxLength: 10 }),
    ),
    [MapKey.payload]: fc.oneof(
      fc.constantFrom(
        senmlValue,
        utf8Bytes('</1/0>,</3/0>'),
        utf8Bytes("0='x',1"),
        Uint8Array.of(0xc8, 0, 1, 0x31),
      ),
      fc.uint8Array({ maxLength: 20 }),
    ),
    [MapKey.pct]: fc.constantFrom(0, 40, 42, 60, 110, 112, 320, 322, 11542, 11543, 11544, 65535, 70000),
    [MapKey.ct]: fc.constantFrom(0, 40, 42, 60, 110, 112, 11542, 11543, 11544, 65535),
    [MapKey.lifetime]: fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32)),
    [MapKey.version]: fc.constantFrom('1.0', '1.1', '1.2', '1.2.1', '', '9.9'),
    [MapKey.b]: fc.constantFrom('U', 'M', 'T', 'S', 'N', 'Q', 'UQ', '', 'X'),
    [MapKey.result]: fc.constantFrom(201, 202, 204, 205, 231, 400, 404, 405, 406, 500, 599, 600, 0),
    [MapKey.depth]: fc.nat({ max: 5 }),
  };
  const attribute = fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.double(),
    fc.constantFrom(1e300, -1e300, 2 ** 64, -(2 ** 63)),
  );
  return fc.oneof({ weight: 5, arbitrary: kinds[key] ?? attribute }, anyLeaf);
}
const mapEntry = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .constantFrom(...Object.values(MapKey))
      .chain((k) => valueFor(k).map((v) => [k, v] as const)),
  },
  fc.tuple(fc.oneof(fc.integer({ min: -5, max: 40 }), fc.string({ maxLength: 3 })), anyLeaf),
);
/** A valid map with 1-3 entries set to a drawn key and value, or removed. */
const BASES = CORPUS.map(
  (m) => cborg.decode(encodeMqttMessage(m), { useMaps: true }) as Map<unknown, unknown>,
);
const editedMap = fc
  .tuple(
    fc.nat({ max: BASES.length - 1 }),
    fc.array(fc.tuple(mapEntry, fc.boolean()), { minLength: 1, maxLength: 3 }),
  )
  .map(([base, edits]) => {
    const map = new Map(BASES[base]);
    for (const [[k, v], remove] of edits) {
      if (remove) map.delete(k);
      else map.set(k, v);
    }
    return map;
  });
const generatedMap = fc
  .oneof(
    { weight: 6, arbitrary: editedMap },
    { weight: 2, arbitrary: fc.array(mapEntry, { maxLength: 8 }).map((entries) => new Map(entries)) },
    fc.uint8Array({ maxLength: 30 }),
  )
  .map((m) => {
    if (m instanceof Uint8Array) return m;
    try {
      return cborg.encode(m);
    } catch {
      return new Uint8Array(0);
    }
  });

describe(`MQTT map fuzzing (${COUNT} mutated + ${COUNT} generated maps)`, () => {
  const maps = CORPUS.map(encodeMqttMessage);

  it(
    `mqtt-map: mutated maps of every operation (${maps.length} seeds)`,
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      for (const m of maps) fuzzTarget('mqtt-map').call(m);
      const tally = fuzzMutations({
        target: fuzzTarget('mqtt-map'),
        corpus: maps,
        count: COUNT,
        seed: 0x3a01,
        mutate: {
          maxEdits: 3,
          interesting: [0x00, 0x01, 0x07, 0x12, 0x13, 0x40, 0x60, 0xa0, 0xbf, 0xf6, 0xf9, 0xfb, 0xff, 0x1b],
        },
      });
      t.diagnostic(`mqtt-map mutation: ${tally.summary()}`);
      assert.ok(tally.accepted > 0 && tally.refused > 0);
    },
  );

  it('mqtt-map: generated maps', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const tally = fuzzGenerated({
      target: fuzzTarget('mqtt-map'),
      arb: generatedMap,
      count: COUNT,
      seed: 0x3a02,
    });
    t.diagnostic(`mqtt-map generation: ${tally.summary()}`);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });
});
