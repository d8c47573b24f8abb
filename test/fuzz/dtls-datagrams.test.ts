// Mutation and generation fuzzing of the DTLS 1.2 receive path at the byte level (RFC 6347 §4.1
// records, §4.2 handshake messages; RFC 9146 tls12_cid): parseDatagram, handshake fragment parsing
// and reassembly, every handshake body decoder, alerts, ChangeCipherSpec, and record decryption
// (AES-CCM-8 and AES-CBC under fixed keys). Mutation of valid flights (built with the encoders, plus
// the real OpenSSL capture) and generation: datagrams of records whose headers, lengths, CIDs and
// fragments are drawn (handshake fragments with lying lengths and offsets, ClientHellos with
// random extensions, validly protected records with random plaintext). Only DtlsError may escape;
// no call takes over a second. (dtls-records.test.ts mutates its own seeds; dtls-handshake.test.ts
// runs the state machines.) Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeExtensions } from '../../src/dtls/extensions.js';
import {
  encodeHandshakeFragment,
  fragmentHandshakeMessage,
  HandshakeType,
} from '../../src/dtls/handshake.js';
import {
  encodeClientHello,
  encodeHelloVerifyRequest,
  encodeServerHello,
} from '../../src/dtls/hello-messages.js';
import { encodeServerKeyExchange } from '../../src/dtls/key-exchange-messages.js';
import { ContentType, DTLS_1_0, DTLS_1_2, encodeDatagram, type DtlsRecord } from '../../src/dtls/record.js';
import { fuzzGenerated, fuzzMutations, inputsPerKind, FUZZ_TIMEOUT_MS } from '../support/fuzz-harness.js';
import {
  DTLS_CID_LENGTH,
  DTLS_PROTECTIONS,
  DTLS_REASONS,
  fuzzTarget,
  receiveDtlsDatagram,
} from '../support/fuzz-targets.js';
import { sharedDir } from '../support/shared.js';

const COUNT = inputsPerKind();

// ---- corpus: valid flights ----

function handshakeRecord(seq: number, msgType: number, body: Uint8Array, mtu = 1200): DtlsRecord {
  const fragments = fragmentHandshakeMessage({ msgType, messageSeq: seq, body }, mtu);
  return {
    type: ContentType.handshake,
    version: DTLS_1_2,
    epoch: 0,
    sequenceNumber: seq,
    fragment: Buffer.concat(fragments.map(encodeHandshakeFragment)),
  };
}

function corpus(): { datagrams: Uint8Array[]; captured: number } {
  const random = new Uint8Array(32).fill(0x42);
  const hello = encodeClientHello({
    clientVersion: DTLS_1_2,
    random,
    sessionId: new Uint8Array(0),
    cookie: new Uint8Array(20).fill(1),
    cipherSuites: [0xc0a8, 0xc0ae, 0x00ae, 0x00ff],
    compressionMethods: [0],
    extensions: [
      { type: 23, data: new Uint8Array(0) },
      { type: 10, data: Uint8Array.of(0, 2, 0, 23) },
      { type: 11, data: Uint8Array.of(1, 0) },
      { type: 13, data: Uint8Array.of(0, 2, 4, 3) },
      { type: 54, data: Uint8Array.of(0) },
      { type: 0, data: Uint8Array.of(0, 6, 0, 0, 3, 0x61, 0x62, 0x63) },
      { type: 19, data: Uint8Array.of(1, 2) },
      { type: 20, data: Uint8Array.of(1, 2) },
      { type: 35, data: new Uint8Array(0) },
    ],
  });
  const serverHello = encodeServerHello({
    serverVersion: DTLS_1_2,
    random,
    sessionId: new Uint8Array(32).fill(3),
    cipherSuite: 0xc0a8,
    compressionMethod: 0,
    extensions: [
      { type: 23, data: new Uint8Array(0) },
      { type: 0xff01, data: Uint8Array.of(0) },
      { type: 54, data: Uint8Array.of(4, 1, 2, 3, 4) },
    ],
  });
  const psk = encodeServerKeyExchange({ keyExchange: 'psk', identityHint: Uint8Array.of(0x68) });
  const sealed = (type: number, fragment: Uint8Array, k: number, cid?: Uint8Array): DtlsRecord =>
    DTLS_PROTECTIONS[k]!.protect({ type, version: DTLS_1_2, epoch: 1, sequenceNumber: 5, fragment }, { cid });
  const datagrams = [
    encodeDatagram([handshakeRecord(0, HandshakeType.client_hello, hello)]),
    encodeDatagram([handshakeRecord(0, HandshakeType.client_hello, hello, 40)]),
    encodeDatagram([
      handshakeRecord(
        0,
        HandshakeType.hello_verify_request,
        encodeHelloVerifyRequest({ serverVersion: DTLS_1_0, cookie: new Uint8Array(16).fill(7) }),
      ),
    ]),
    encodeDatagram([
      handshakeRecord(1, HandshakeType.server_hello, serverHello),
      handshakeRecord(2, HandshakeType.server_key_exchange, psk),
      handshakeRecord(3, HandshakeType.server_hello_done, new Uint8Array(0)),
    ]),
    encodeDatagram([
      handshakeRecord(2, HandshakeType.client_key_exchange, Uint8Array.of(0, 3, 0x61, 0x62, 0x63)),
      {
        type: ContentType.change_cipher_spec,
        version: DTLS_1_2,
        epoch: 0,
        sequenceNumber: 3,
        fragment: Uint8Array.of(1),
      },
      sealed(
        ContentType.handshake,
        encodeHandshakeFragment({
          msgType: 20,
          length: 12,
          messageSeq: 3,
          fragmentOffset: 0,
          body: new Uint8Array(12),
        }),
        0,
      ),
    ]),
    encodeDatagram([
      sealed(ContentType.application_data, new Uint8Array(24).fill(0x44), 0),
      sealed(ContentType.application_data, new Uint8Array(8), 0, Uint8Array.of(1, 2, 3, 4)),
      sealed(ContentType.alert, Uint8Array.of(1, 0), 1),
    ]),
    encodeDatagram([
      {
        type: ContentType.alert,
        version: DTLS_1_2,
        epoch: 0,
        sequenceNumber: 9,
        fragment: Uint8Array.of(2, 40),
      },
    ]),
  ];
  let captured = 0;
  const dir = sharedDir();
  if (dir)
    for (const line of readFileSync(join(dir, 'captures', 'dtls12-psk-ccm8.jsonl'), 'utf8').split('\n'))
      if (line.trim()) {
        datagrams.push(new Uint8Array(Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex')));
        captured++;
      }
  return { datagrams, captured };
}

// ---- generation ----

const u8 = (n: number): number[] => [n & 0xff];
const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number): number[] => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const u48 = (n: number): number[] => [
  ...u16(Math.floor(n / 2 ** 32)),
  ...u16(Math.floor(n / 65536) & 0xffff),
  ...u16(n & 0xffff),
];
const lie = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, fc.integer({ min: -4, max: 5000 }));

const extension = fc.record({
  type: fc.oneof(fc.constantFrom(0, 10, 11, 13, 19, 20, 22, 23, 35, 43, 54, 0xff01), fc.nat({ max: 0xffff })),
  data: fc.oneof(
    fc.uint8Array({ maxLength: 12 }),
    fc
      .array(fc.nat({ max: 0xffff }), { maxLength: 4 })
      .map((xs) => Uint8Array.from([...u16(xs.length * 2), ...xs.flatMap(u16)])),
    fc.array(fc.nat({ max: 255 }), { maxLength: 4 }).map((xs) => Uint8Array.from([xs.length, ...xs])),
  ),
});
const clientHelloBody = fc
  .record({
    version: fc.constantFrom(DTLS_1_2, DTLS_1_0, 0x0303, 0xfefc),
    sessionId: fc.uint8Array({ maxLength: 32 }),
    cookie: fc.uint8Array({ maxLength: 40 }),
    suites: fc.array(
      fc.oneof(fc.constantFrom(0xc0a8, 0xc0ae, 0x00ae, 0x00ff, 0xc0ac), fc.nat({ max: 0xffff })),
      { maxLength: 6 },
    ),
    compression: fc.array(fc.nat({ max: 3 }), { maxLength: 3 }),
    extensions: fc.array(extension, { maxLength: 6 }),
  })
  .map((h) =>
    encodeClientHello({
      clientVersion: h.version,
      random: new Uint8Array(32).fill(9),
      sessionId: h.sessionId,
      cookie: h.cookie,
      cipherSuites: h.suites,
      compressionMethods: h.compression,
      extensions: h.extensions,
    }),
  );
const anyBody = fc.oneof(
  { weight: 2, arbitrary: clientHelloBody },
  fc.uint8Array({ maxLength: 80 }),
  fc.array(extension, { maxLength: 4 }).map((es) => encodeExtensions(es)),
);

/** A handshake fragment whose length, offset and fragment length may lie about its body. */
const handshakeFragment = fc
  .record({
    msgType: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20), fc.nat({ max: 255 })),
    seq: fc.nat({ max: 6 }),
    body: anyBody,
    lengthLie: lie,
    offset: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.nat({ max: 5000 })),
    fragLie: lie,
  })
  .map((f) => [
    f.msgType,
    ...u24(Math.max(0, f.body.length + f.lengthLie)),
    ...u16(f.seq),
    ...u24(f.offset),
    ...u24(Math.max(0, f.body.length + f.fragLie)),
    ...f.body,
  ]);

const recordType = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(20, 21, 22, 23, 25) },
  fc.nat({ max: 255 }),
);
/** One record: a drawn header (CID for type 25), a fragment of handshake fragments or bytes, a length that may lie. */
const rawRecord = fc
  .record({
    type: recordType,
    version: fc.oneof(
      { weight: 6, arbitrary: fc.constant(DTLS_1_2) },
      fc.constantFrom(DTLS_1_0, 0x0303, 0),
      fc.nat({ max: 0xffff }),
    ),
    epoch: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.constantFrom(1, 2, 0xffff)),
    seq: fc.oneof(fc.nat({ max: 1000 }), fc.constant(2 ** 48 - 1)),
    fragment: fc.oneof(
      {
        weight: 3,
        arbitrary: fc.array(handshakeFragment, { minLength: 1, maxLength: 3 }).map((fs) => fs.flat()),
      },
      fc.uint8Array({ maxLength: 60 }).map((b) => [...b]),
      fc.constantFrom([1], [2, 40], [1, 0], []),
    ),
    lengthLie: lie,
  })
  .map((r) => [
    ...u8(r.type),
    ...u16(r.version),
    ...u16(r.epoch),
    ...u48(r.seq),
    ...(r.type === 25 ? [1, 2, 3, 4].slice(0, DTLS_CID_LENGTH) : []),
    ...u16(Math.max(0, Math.min(0xffff, r.fragment.length + r.lengthLie))),
    ...r.fragment,
  ]);

/** A record protected under the fixed keys (valid MAC), with drawn plaintext and inner type. */
const protectedRecord = fc
  .record({
    type: recordType,
    plain: fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      handshakeFragment.map((f) => Uint8Array.from(f)),
    ),
    suite: fc.nat({ max: DTLS_PROTECTIONS.length - 1 }),
    cid: fc.boolean(),
    padding: fc.nat({ max: 3 }),
  })
  .map((r) => [
    ...encodeDatagram([
      DTLS_PROTECTIONS[r.suite]!.protect(
        {
          type: r.type === 25 ? 23 : r.type,
          version: DTLS_1_2,
          epoch: 1,
          sequenceNumber: 7,
          fragment: r.plain,
        },
        r.cid ? { cid: Uint8Array.of(1, 2, 3, 4), padding: r.padding } : {},
      ),
    ]),
  ]);

const datagram = fc
  .array(fc.oneof({ weight: 4, arbitrary: rawRecord }, protectedRecord), { minLength: 1, maxLength: 4 })
  .map((rs) => Uint8Array.from(rs.flat()));

/** The DtlsError reasons met inside the receive path, most frequent first. */
function reasons(): string {
  return [...DTLS_REASONS.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');
}

describe(`DTLS datagram fuzzing (${COUNT} mutated + ${COUNT} generated datagrams)`, () => {
  const { datagrams, captured } = corpus();

  it(
    `dtls-datagram: mutated flights (${datagrams.length} seeds, ${captured} captured)`,
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      for (const d of datagrams) assert.ok(receiveDtlsDatagram(d) > 0, 'every seed frames');
      DTLS_REASONS.clear();
      const tally = fuzzMutations({
        target: fuzzTarget('dtls-datagram'),
        corpus: datagrams,
        count: COUNT,
        seed: 0xd7a1,
        mutate: { interesting: [0x00, 0x01, 0x14, 0x15, 0x16, 0x17, 0x19, 0xfe, 0xfd, 0xff, 0x80] },
      });
      t.diagnostic(`dtls-datagram mutation: ${tally.summary()}; DtlsError inside: ${reasons()}`);
      assert.equal(tally.inputs, COUNT);
      for (const reason of ['truncated', 'bad-record-mac', 'malformed'])
        assert.ok(DTLS_REASONS.has(reason), `no ${reason} seen`);
    },
  );

  it('dtls-datagram: generated datagrams', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    let records = 0;
    DTLS_REASONS.clear();
    const tally = fuzzGenerated({
      target: fuzzTarget('dtls-datagram'),
      arb: datagram,
      count: COUNT,
      seed: 0xd7a2,
      check: (n) => void (records += n as number),
    });
    t.diagnostic(
      `dtls-datagram generation: ${tally.summary()}; ${records} records framed; DtlsError inside: ${reasons()}`,
    );
    for (const reason of ['truncated', 'malformed']) assert.ok(DTLS_REASONS.has(reason), `no ${reason} seen`);
    assert.ok(records > COUNT / 2, 'most generated datagrams frame some records');
  });
});
