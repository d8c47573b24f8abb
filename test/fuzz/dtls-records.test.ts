// Mutation fuzzing of the DTLS record layer and handshake decoders: valid datagrams (synthetic ones,
// plus the real capture when ../shared is present), mutated by bit flips, insertions, deletions,
// truncations and splices, run through every parser and decoder. Only DtlsError may escape, and
// nothing may hang. Budget: PETREL_FUZZ_BUDGET mutants (default 2000; `npm run fuzz` 200000).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeAlert } from '../../src/dtls/alert.js';
import {
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
} from '../../src/dtls/certificate-messages.js';
import { cipherSuite } from '../../src/dtls/cipher-suites.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import { decodeExtensions } from '../../src/dtls/extensions.js';
import {
  decodeChangeCipherSpec,
  decodeFinished,
  decodeNewSessionTicket,
} from '../../src/dtls/finished-messages.js';
import { HandshakeReassembler } from '../../src/dtls/handshake-reassembler.js';
import {
  HandshakeType,
  encodeHandshakeMessage,
  fragmentHandshakeMessage,
  encodeHandshakeFragment,
  parseHandshakeFragments,
} from '../../src/dtls/handshake.js';
import type { HandshakeMessage } from '../../src/dtls/handshake.js';
import {
  decodeClientHello,
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
  encodeClientHello,
  encodeServerHello,
} from '../../src/dtls/hello-messages.js';
import {
  decodeClientKeyExchange,
  decodeServerKeyExchange,
  encodeServerKeyExchange,
} from '../../src/dtls/key-exchange-messages.js';
import { keyBlock } from '../../src/dtls/key-schedule.js';
import type { DtlsRecord } from '../../src/dtls/record.js';
import { ContentType, DTLS_1_2, encodeDatagram, parseDatagram } from '../../src/dtls/record.js';
import { RecordProtection } from '../../src/dtls/record-protection.js';
import { mulberry32, mutate } from '../support/mutate.js';
import { sharedDir } from '../support/shared.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 2000);
const CID_LENGTH = 4;

const ccm = cipherSuite(0xc0a8)!;
const cbc = cipherSuite(0x00ae)!;
const master = new Uint8Array(48).fill(5);
const rnd = new Uint8Array(32).fill(6);
const ccmKeys = keyBlock(master, rnd, rnd, ccm).client;
const cbcKeys = keyBlock(master, rnd, rnd, cbc).client;
const protections = [new RecordProtection(ccm, ccmKeys), new RecordProtection(cbc, cbcKeys)];

/** Every decoder a handshake message of this type could meet. */
function decodeBody(m: HandshakeMessage): void {
  const attempts: (() => unknown)[] = [];
  switch (m.msgType) {
    case HandshakeType.client_hello:
      attempts.push(() => decodeExtensions(decodeClientHello(m.body).extensions, 'client'));
      break;
    case HandshakeType.server_hello:
      attempts.push(() => decodeExtensions(decodeServerHello(m.body).extensions, 'server'));
      break;
    case HandshakeType.hello_verify_request:
      attempts.push(() => decodeHelloVerifyRequest(m.body));
      break;
    case HandshakeType.new_session_ticket:
      attempts.push(() => decodeNewSessionTicket(m.body));
      break;
    case HandshakeType.certificate:
      attempts.push(
        () => decodeCertificate(m.body, 'x509'),
        () => decodeCertificate(m.body, 'raw_public_key'),
      );
      break;
    case HandshakeType.server_key_exchange:
      attempts.push(
        () => decodeServerKeyExchange(m.body, 'psk'),
        () => decodeServerKeyExchange(m.body, 'ecdhe_ecdsa'),
      );
      break;
    case HandshakeType.certificate_request:
      attempts.push(() => decodeCertificateRequest(m.body));
      break;
    case HandshakeType.server_hello_done:
      attempts.push(() => decodeServerHelloDone(m.body));
      break;
    case HandshakeType.certificate_verify:
      attempts.push(() => decodeCertificateVerify(m.body));
      break;
    case HandshakeType.client_key_exchange:
      attempts.push(
        () => decodeClientKeyExchange(m.body, 'psk'),
        () => decodeClientKeyExchange(m.body, 'ecdhe_ecdsa'),
      );
      break;
    case HandshakeType.finished:
      attempts.push(() => decodeFinished(m.body));
      break;
  }
  for (const a of attempts) guard(a);
}

const reasons = new Map<string, number>();
function guard(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof DtlsError)) throw e;
    reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
  }
}

/** The whole receive path of one datagram, as far as the pure layer goes. */
function receive(datagram: Uint8Array): number {
  const { records, errors } = parseDatagram(datagram, { cidLength: CID_LENGTH });
  for (const e of errors) reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
  const reassembler = new HandshakeReassembler({ maxMessageLength: 4096 });
  for (const record of records) {
    if (record.epoch > 0) {
      for (const p of protections) guard(() => p.unprotect(record));
      continue;
    }
    if (record.type === ContentType.handshake)
      guard(() => {
        for (const f of parseHandshakeFragments(record.fragment)) {
          decodeBody({ msgType: f.msgType, messageSeq: f.messageSeq, body: f.body });
          for (const m of reassembler.add(f).messages) decodeBody(m);
        }
      });
    else if (record.type === ContentType.alert) guard(() => decodeAlert(record.fragment));
    else if (record.type === ContentType.change_cipher_spec)
      guard(() => decodeChangeCipherSpec(record.fragment));
  }
  return records.length;
}

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

function seeds(): Uint8Array[] {
  const random = new Uint8Array(32).fill(0x42);
  const hello = encodeClientHello({
    clientVersion: DTLS_1_2,
    random,
    sessionId: new Uint8Array(0),
    cookie: new Uint8Array(20).fill(1),
    cipherSuites: [0xc0a8, 0xc0ae, 0x00ff],
    compressionMethods: [0],
    extensions: [
      { type: 23, data: new Uint8Array(0) },
      { type: 10, data: Uint8Array.of(0, 2, 0, 23) },
      { type: 13, data: Uint8Array.of(0, 2, 4, 3) },
      { type: 54, data: Uint8Array.of(0) },
      { type: 0, data: Uint8Array.of(0, 6, 0, 0, 3, 0x61, 0x62, 0x63) },
      { type: 19, data: Uint8Array.of(1, 2) },
    ],
  });
  const serverHello = encodeServerHello({
    serverVersion: DTLS_1_2,
    random,
    sessionId: new Uint8Array(32).fill(3),
    cipherSuite: 0xc0ae,
    compressionMethod: 0,
    extensions: [
      { type: 23, data: new Uint8Array(0) },
      { type: 0xff01, data: Uint8Array.of(0) },
      { type: 54, data: Uint8Array.of(4, 1, 2, 3, 4) },
      { type: 20, data: Uint8Array.of(2) },
    ],
  });
  const ske = encodeServerKeyExchange({
    keyExchange: 'ecdhe_ecdsa',
    params: { namedCurve: 23, publicKey: new Uint8Array(65).fill(4) },
    signed: { scheme: 0x0403, signature: new Uint8Array(71).fill(9) },
  });
  const cert = Uint8Array.of(0, 0, 10, 0, 0, 7, 0x30, 5, 1, 2, 3, 4, 5);
  const sealedCcm = protections[0]!.protect({
    type: 23,
    version: DTLS_1_2,
    epoch: 1,
    sequenceNumber: 1,
    fragment: new Uint8Array(30).fill(7),
  });
  const sealedCid = protections[0]!.protect(
    { type: 23, version: DTLS_1_2, epoch: 1, sequenceNumber: 2, fragment: new Uint8Array(10) },
    { cid: Uint8Array.of(1, 2, 3, 4), padding: 2 },
  );
  const sealedCbc = protections[1]!.protect({
    type: 22,
    version: DTLS_1_2,
    epoch: 1,
    sequenceNumber: 3,
    fragment: encodeHandshakeMessage({ msgType: 20, messageSeq: 4, body: new Uint8Array(12) }),
  });
  const out = [
    encodeDatagram([handshakeRecord(0, HandshakeType.client_hello, hello)]),
    encodeDatagram([handshakeRecord(0, HandshakeType.client_hello, hello, 60)]),
    encodeDatagram([
      handshakeRecord(1, HandshakeType.server_hello, serverHello),
      handshakeRecord(2, HandshakeType.certificate, cert),
      handshakeRecord(3, HandshakeType.server_key_exchange, ske, 50),
      handshakeRecord(4, HandshakeType.certificate_request, Uint8Array.of(1, 64, 0, 2, 4, 3, 0, 0)),
      handshakeRecord(5, HandshakeType.server_hello_done, new Uint8Array(0)),
    ]),
    encodeDatagram([
      handshakeRecord(0, HandshakeType.client_key_exchange, Uint8Array.of(0, 3, 0x61, 0x62, 0x63)),
      {
        type: ContentType.change_cipher_spec,
        version: DTLS_1_2,
        epoch: 0,
        sequenceNumber: 1,
        fragment: Uint8Array.of(1),
      },
      sealedCbc,
    ]),
    encodeDatagram([
      {
        type: ContentType.alert,
        version: DTLS_1_2,
        epoch: 0,
        sequenceNumber: 9,
        fragment: Uint8Array.of(2, 40),
      },
      sealedCcm,
      sealedCid,
    ]),
  ];
  const dir = sharedDir();
  if (dir)
    for (const line of readFileSync(join(dir, 'captures', 'dtls12-psk-ccm8.jsonl'), 'utf8').split('\n'))
      if (line.trim())
        out.push(new Uint8Array(Buffer.from((JSON.parse(line) as { hex: string }).hex, 'hex')));
  return out;
}

describe(`DTLS record/handshake mutation fuzzing (${BUDGET} datagrams)`, () => {
  it('lets only DtlsError escape and never hangs', { timeout: 10 * 60_000 }, () => {
    const corpus = seeds();
    for (const s of corpus) assert.ok(receive(s) > 0, 'every seed parses');
    reasons.clear();
    const rand = mulberry32(0xd715);
    let records = 0;
    for (let i = 0; i < BUDGET; i++) {
      const input = mutate(corpus[i % corpus.length]!, rand, {
        maxEdits: 4,
        interesting: [0x00, 0x01, 0x16, 0x17, 0x19, 0xfe, 0xfd, 0xff, 0x80],
        donors: corpus,
      });
      try {
        records += receive(input);
      } catch (e) {
        assert.fail(`mutant ${i} (${Buffer.from(input).toString('hex')}) threw ${String(e)}`);
      }
    }
    assert.ok(records > 0, 'some mutants still frame');
    for (const reason of ['truncated', 'bad-record-mac', 'malformed'])
      assert.ok(reasons.has(reason), `no ${reason} seen`);
  });
});
