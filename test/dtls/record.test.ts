import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DtlsRecord } from '../../src/dtls/record.js';
import {
  ContentType,
  DTLS_1_0,
  DTLS_1_2,
  MAX_SEQUENCE_NUMBER,
  encodeDatagram,
  encodeRecord,
  parseDatagram,
  recordSequence,
} from '../../src/dtls/record.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const plainTypes = [20, 21, 22, 23, 24];

const arbRecord = (cidLength: number): fc.Arbitrary<DtlsRecord> =>
  fc
    .record({
      type: fc.constantFrom(...plainTypes, 25),
      version: fc.constantFrom(DTLS_1_2, DTLS_1_0),
      epoch: fc.integer({ min: 0, max: 0xffff }),
      sequenceNumber: fc.integer({ min: 0, max: MAX_SEQUENCE_NUMBER }),
      fragment: fc.uint8Array({ maxLength: 300 }),
      cid: fc.uint8Array({ minLength: cidLength, maxLength: cidLength }),
    })
    .map(({ cid, ...r }) => (r.type === ContentType.tls12_cid ? { ...r, cid } : r));

const norm = (r: DtlsRecord) => ({ ...r, fragment: hex(r.fragment), cid: r.cid && hex(r.cid) });

describe('DTLS record layer', () => {
  it('round-trips datagrams of several records, with and without CIDs', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 0, max: 8 })
          .chain((n) => fc.tuple(fc.constant(n), fc.array(arbRecord(n), { minLength: 1, maxLength: 6 }))),
        ([cidLength, records]) => {
          const parsed = parseDatagram(encodeDatagram(records), { cidLength });
          assert.deepEqual(parsed.errors, []);
          assert.deepEqual(parsed.records.map(norm), records.map(norm));
        },
      ),
    );
  });

  it('encodes the 13-byte header of RFC 6347 §4.1 and a CID record header of RFC 9146 §4', () => {
    const plain = encodeRecord({
      type: 23,
      version: DTLS_1_2,
      epoch: 1,
      sequenceNumber: 0x010203040506,
      fragment: Uint8Array.of(0xaa),
    });
    assert.equal(hex(plain), '17fefd0001010203040506' + '0001aa');
    const cid = encodeRecord({
      type: 25,
      version: DTLS_1_2,
      epoch: 2,
      sequenceNumber: 7,
      cid: Uint8Array.of(9, 8),
      fragment: new Uint8Array(0),
    });
    assert.equal(hex(cid), '19fefd0002000000000007' + '0908' + '0000');
    assert.equal(hex(recordSequence(1, 2 ** 48 - 1)), '0001ffffffffffff');
  });

  it('skips a record with an unknown content type or version and goes on with the next', () => {
    const good = { type: 23, version: DTLS_1_2, epoch: 1, sequenceNumber: 1, fragment: Uint8Array.of(1) };
    const dg = encodeDatagram([{ ...good, type: 99 }, { ...good, version: 0x0303 }, good]);
    const { records, errors } = parseDatagram(dg);
    assert.equal(records.length, 1);
    assert.deepEqual(
      errors.map((e) => e.reason),
      ['unknown-content-type', 'bad-version'],
    );
    assert.equal(errors[0]!.code, 'PETREL_ERR_DTLS');
  });

  it('accepts any record version on an epoch-0 ClientHello only (capture quirk 0xfe00)', () => {
    const hello = {
      type: 22,
      version: 0xfe00,
      epoch: 0,
      sequenceNumber: 0,
      fragment: Uint8Array.of(1, 0, 0, 0),
    };
    assert.equal(parseDatagram(encodeRecord(hello)).records.length, 1);
    for (const bad of [
      { ...hello, fragment: Uint8Array.of(2) }, // ServerHello
      { ...hello, epoch: 1 },
      { ...hello, type: 23 },
    ])
      assert.deepEqual(
        parseDatagram(encodeRecord(bad)).errors.map((e) => e.reason),
        ['bad-version'],
      );
  });

  it('stops at a truncated record and keeps what parsed before it', () => {
    const rec = { type: 22, version: DTLS_1_2, epoch: 0, sequenceNumber: 3, fragment: new Uint8Array(20) };
    const dg = encodeDatagram([rec, rec]);
    for (const cut of [1, 5, 13, 20]) {
      const { records, errors } = parseDatagram(dg.subarray(0, dg.length - cut));
      assert.equal(records.length, 1);
      assert.deepEqual(
        errors.map((e) => e.reason),
        ['truncated'],
      );
    }
  });

  it('refuses tls12_cid records when no CID length is configured', () => {
    const dg = encodeRecord({
      type: 25,
      version: DTLS_1_2,
      epoch: 1,
      sequenceNumber: 0,
      cid: Uint8Array.of(1),
      fragment: Uint8Array.of(5),
    });
    assert.deepEqual(
      parseDatagram(dg).errors.map((e) => e.reason),
      ['unexpected-cid'],
    );
    assert.equal(parseDatagram(dg, { cidLength: 1 }).records[0]!.cid![0], 1);
  });

  it('bounds the records per datagram and the fragment length', () => {
    const tiny = { type: 23, version: DTLS_1_2, epoch: 1, sequenceNumber: 0, fragment: new Uint8Array(0) };
    const { records, errors } = parseDatagram(encodeDatagram(Array(10).fill(tiny)), { maxRecords: 4 });
    assert.equal(records.length, 4);
    assert.deepEqual(
      errors.map((e) => e.reason),
      ['too-many'],
    );
    const big = parseDatagram(encodeRecord({ ...tiny, fragment: new Uint8Array(2 ** 14 + 2049) }));
    assert.deepEqual(
      big.errors.map((e) => e.reason),
      ['too-large'],
    );
  });

  it('refuses to encode a sequence number past 48 bits or a CID record without a cid', () => {
    const r = { type: 23, version: DTLS_1_2, epoch: 0, sequenceNumber: 2 ** 48, fragment: new Uint8Array(0) };
    assert.throws(() => encodeRecord(r), { reason: 'too-large' });
    assert.throws(() => encodeRecord({ ...r, type: 25, sequenceNumber: 0 }), { reason: 'malformed' });
  });
});
