// Fuzzing of the CoAP message decoders at the byte level: decodeCoapUdp (RFC 7252 §3) and the
// reliable-transport framing (RFC 8323 §3.2: decodeCoapTcp with coapTcpFrameLength, and
// CoapStreamDecoder on the same bytes cut in three). Mutation of a corpus of valid messages (every
// datagram of the real LwM2M captures, and the same messages framed for TCP, plus signals) and
// generation: raw header/option/payload structures with wrong nibbles, extended lengths and token
// lengths, and well-formed messages that must survive encode → decode → encode byte for byte.
// Only CoapFormatError may escape; no call takes over a second.
// Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind and parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { COAP_TYPES, type CoapMessage } from '../../src/coap/message.js';
import { abort, csm, encodeCoapTcp, ping, pong, release } from '../../src/coap/tcp-codec.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { CAPTURE_FILES, readCapture } from '../support/captures.js';
import {
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  toHex,
  utf8Bytes,
  FUZZ_TIMEOUT_MS,
} from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';
import { sharedDir } from '../support/shared.js';

const COUNT = inputsPerKind();

// ---- corpus ----

const SYNTHETIC: CoapMessage[] = [
  {
    type: 'CON',
    code: 0x02,
    messageId: 1,
    token: Uint8Array.of(1, 2, 3, 4),
    options: [],
    payload: new Uint8Array(0),
  },
  {
    type: 'CON',
    code: 0x02,
    messageId: 0x1234,
    token: Uint8Array.of(0xaa, 0xbb),
    options: [
      { number: 11, value: utf8Bytes('rd') },
      { number: 12, value: Uint8Array.of(40) },
      { number: 15, value: utf8Bytes('ep=dev-1') },
      { number: 15, value: utf8Bytes('lt=300') },
      { number: 27, value: Uint8Array.of(0x1e) },
      { number: 2049, value: new Uint8Array(20).fill(0x41) },
    ],
    payload: utf8Bytes('</1/0>,</3/0>'),
  },
  {
    type: 'ACK',
    code: 0x45,
    messageId: 7,
    token: new Uint8Array(8).fill(9),
    options: [
      { number: 6, value: Uint8Array.of(0x01, 0x00, 0x00) },
      { number: 12, value: Uint8Array.of(0x2d, 0x16) },
      { number: 23, value: Uint8Array.of(0x16) },
      { number: 65000, value: new Uint8Array(300).fill(0x33) },
    ],
    payload: new Uint8Array(600).fill(0x5a),
  },
  { type: 'RST', code: 0, messageId: 99, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) },
];

/** Every datagram of the LwM2M captures (third-party clients and bootstrap server). */
function capturedDatagrams(): Uint8Array[] {
  const dir = sharedDir();
  if (!dir) return [];
  return CAPTURE_FILES.flatMap((file) =>
    readCapture(dir, file).map((l) => new Uint8Array(Buffer.from(l.hex, 'hex'))),
  );
}

// ---- generation ----

/** The byte layout of an option header: delta and length nibbles with 13/14 extensions, or raw 15. */
function optionHeader(delta: number, length: number): number[] {
  const nib = (n: number): [number, number[]] =>
    n < 13
      ? [n, []]
      : n < 269
        ? [13, [n - 13]]
        : n < 65805
          ? [14, [(n - 269) >> 8, (n - 269) & 0xff]]
          : [15, []];
  const [d, dx] = nib(delta);
  const [l, lx] = nib(length);
  return [(d << 4) | l, ...dx, ...lx];
}

const rawOption = fc.record({
  delta: fc.oneof(fc.nat({ max: 14 }), fc.constantFrom(12, 13, 14, 268, 269, 270, 65535, 65804, 65805)),
  value: fc.uint8Array({ maxLength: 20 }),
  /** Declared length minus actual: 0 mostly, else a lie. */
  lie: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, fc.integer({ min: -3, max: 300 })),
  raw15: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, fc.constant(true)),
});
const rawOptionsAndPayload = fc
  .tuple(
    fc.array(rawOption, { maxLength: 6 }),
    fc.oneof(fc.constant(undefined), fc.uint8Array({ maxLength: 30 })),
  )
  .map(([options, payload]) => {
    const out: number[] = [];
    for (const o of options) {
      const declared = Math.max(0, o.value.length + o.lie);
      if (o.raw15) out.push(0xf0 | (declared & 0x0f));
      else out.push(...optionHeader(o.delta, declared));
      out.push(...o.value);
    }
    if (payload !== undefined) out.push(0xff, ...payload);
    return out;
  });

/** Raw UDP datagrams: any version/type/TKL, code, message id, token of any length, raw options. */
const rawUdp = fc
  .record({
    version: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, fc.nat({ max: 3 })),
    type: fc.nat({ max: 3 }),
    tkl: fc.nat({ max: 15 }),
    tokenLie: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: -8, max: 8 })),
    code: fc.oneof(
      fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 0x41, 0x44, 0x45, 0x80, 0xa0, 0xe1),
      fc.nat({ max: 255 }),
    ),
    mid: fc.nat({ max: 0xffff }),
    rest: rawOptionsAndPayload,
  })
  .map((g) => {
    const token = new Array<number>(Math.max(0, g.tkl + g.tokenLie)).fill(0x7e);
    return Uint8Array.from([
      (g.version << 6) | (g.type << 4) | g.tkl,
      g.code,
      g.mid >> 8,
      g.mid & 0xff,
      ...token,
      ...g.rest,
    ]);
  });

/** Raw TCP frames: a Len nibble with any extension, possibly lying about the body, TKL, code. */
const rawTcp = fc
  .record({
    tkl: fc.nat({ max: 15 }),
    code: fc.oneof(fc.constantFrom(0, 1, 2, 0x45, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5), fc.nat({ max: 255 })),
    lenForm: fc.constantFrom('exact', 'nibble', 'ext8', 'ext16', 'ext32'),
    lie: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: -5, max: 70_000 })),
    rest: rawOptionsAndPayload,
  })
  .map((g) => {
    const body = g.rest;
    const len = Math.max(0, body.length + g.lie);
    let head: number[];
    const form =
      g.lenForm === 'exact'
        ? len < 13
          ? 'nibble'
          : len < 269
            ? 'ext8'
            : len < 65805
              ? 'ext16'
              : 'ext32'
        : g.lenForm;
    if (form === 'nibble') head = [((len & 0x0f) << 4) | g.tkl];
    else if (form === 'ext8') head = [(13 << 4) | g.tkl, Math.max(0, len - 13) & 0xff];
    else if (form === 'ext16')
      head = [(14 << 4) | g.tkl, (Math.max(0, len - 269) >> 8) & 0xff, Math.max(0, len - 269) & 0xff];
    else {
      const v = Math.max(0, len - 65805);
      head = [(15 << 4) | g.tkl, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    }
    return Uint8Array.from([...head, g.code, ...new Array<number>(g.tkl).fill(0x7e), ...body]);
  });

/** Well-formed messages: any code, token up to 8 bytes, options of any number and length. */
const wellFormed: fc.Arbitrary<CoapMessage> = fc
  .record({
    type: fc.constantFrom(...COAP_TYPES),
    code: fc.integer({ min: 1, max: 255 }),
    messageId: fc.nat({ max: 0xffff }),
    token: fc.uint8Array({ maxLength: 8 }),
    options: fc.array(
      fc.record({
        number: fc.oneof(
          fc.constantFrom(1, 3, 4, 6, 7, 8, 11, 12, 14, 15, 17, 23, 27, 28, 35, 60, 258, 2049),
          fc.integer({ min: 1, max: 65535 }),
        ),
        value: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ minLength: 260, maxLength: 300 })),
      }),
      { maxLength: 8 },
    ),
    payload: fc.uint8Array({ maxLength: 80 }),
  })
  .map((m) => ({ ...m, options: [...m.options].sort((a, b) => a.number - b.number) }));

describe(`CoAP codec fuzzing (${COUNT} mutated + ${COUNT} generated inputs per decoder)`, () => {
  const captured = capturedDatagrams();
  const udpCorpus = [...SYNTHETIC.map(encodeCoapUdp).map((b) => b.slice()), ...captured];
  const tcpCorpus = [
    ...[...SYNTHETIC, ...captured.map(decodeCoapUdp)].map(encodeCoapTcp),
    csm({ maxMessageSize: 8448, blockWiseTransfer: true }),
    ping({ custody: true, token: Uint8Array.of(1, 2) }),
    pong({ token: Uint8Array.of(1, 2) }),
    release({ alternativeAddresses: ['coap+tcp://h:5683'], holdOff: 30, diagnostic: 'bye' }),
    abort({ badCsmOption: 2, diagnostic: 'bad CSM' }),
  ].map((m) => (m instanceof Uint8Array ? m : encodeCoapTcp(m)));
  const interesting = [
    0x00, 0x40, 0x44, 0x48, 0x4f, 0x50, 0x60, 0x70, 0xd0, 0xe0, 0xf0, 0xff, 0x0d, 0x0e, 0x0f, 0x01,
  ];

  it(
    `coap-udp: mutated datagrams (${udpCorpus.length} seeds, ${captured.length} captured)`,
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      const tally = fuzzMutations({
        target: fuzzTarget('coap-udp'),
        corpus: udpCorpus,
        count: COUNT,
        seed: 0xc0a1,
        mutate: { interesting },
      });
      t.diagnostic(`coap-udp mutation: ${tally.summary()}`);
      assert.equal(tally.inputs, COUNT);
      assert.ok(tally.accepted > 0 && tally.refused > 0);
    },
  );

  it('coap-udp: generated raw datagrams', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const tally = fuzzGenerated({ target: fuzzTarget('coap-udp'), arb: rawUdp, count: COUNT, seed: 0xc0a2 });
    t.diagnostic(`coap-udp generation: ${tally.summary()}`);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });

  it(
    'coap-udp: generated well-formed messages re-encode byte for byte',
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      const tally = fuzzGenerated({
        target: fuzzTarget('coap-udp'),
        arb: wellFormed.map((m) => encodeCoapUdp(m).slice()),
        count: Math.ceil(COUNT / 5),
        seed: 0xc0a3,
        check: (result, input) => assert.equal(toHex(encodeCoapUdp(result as CoapMessage)), toHex(input)),
      });
      t.diagnostic(`coap-udp round trip: ${tally.summary()}`);
      assert.equal(tally.refused, 0);
    },
  );

  for (const name of ['coap-tcp', 'coap-tcp-stream']) {
    it(`${name}: mutated frames (${tcpCorpus.length} seeds)`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzMutations({
        target: fuzzTarget(name),
        corpus: tcpCorpus,
        count: COUNT,
        seed: 0xc0b1,
        mutate: { interesting },
      });
      t.diagnostic(`${name} mutation: ${tally.summary()}`);
      assert.ok(tally.accepted > 0 && tally.refused > 0);
    });

    it(`${name}: generated raw frames`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzGenerated({ target: fuzzTarget(name), arb: rawTcp, count: COUNT, seed: 0xc0b2 });
      t.diagnostic(`${name} generation: ${tally.summary()}`);
      assert.ok(tally.accepted > 0 && tally.refused > 0);
    });
  }

  it(
    'coap-tcp: generated well-formed messages re-encode byte for byte',
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      const tally = fuzzGenerated({
        target: fuzzTarget('coap-tcp'),
        arb: wellFormed.map((m) => encodeCoapTcp({ ...m, type: undefined, messageId: 0 })),
        count: Math.ceil(COUNT / 5),
        seed: 0xc0b3,
        check: (result, input) => assert.equal(toHex(encodeCoapTcp(result as CoapMessage)), toHex(input)),
      });
      t.diagnostic(`coap-tcp round trip: ${tally.summary()}`);
      // The target also runs the stream reader's frame check (limit 1152 bytes): big frames stop there.
      assert.deepEqual(
        [...tally.reasons.keys()].filter((r) => r !== 'too-large'),
        [],
      );
      assert.ok(tally.accepted > tally.refused);
    },
  );
});
