import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cipherSuite } from '../../src/dtls/cipher-suites.js';
import { keyBlock } from '../../src/dtls/key-schedule.js';
import type { DtlsRecord } from '../../src/dtls/record.js';
import { DTLS_1_2, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { RecordProtection, authenticatedHeader } from '../../src/dtls/record-protection.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const CCM8 = cipherSuite(0xc0a8)!;
const CBC = cipherSuite(0x00ae)!;
const keysFor = (suite: typeof CCM8) =>
  keyBlock(new Uint8Array(48).fill(7), new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), suite).client;

const arbPlain: fc.Arbitrary<DtlsRecord> = fc.record({
  type: fc.constantFrom(21, 22, 23),
  version: fc.constant(DTLS_1_2),
  epoch: fc.integer({ min: 1, max: 0xffff }),
  sequenceNumber: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
  fragment: fc.uint8Array({ maxLength: 400 }),
});

describe('record protection', () => {
  for (const suite of [CCM8, CBC]) {
    const p = new RecordProtection(suite, keysFor(suite));

    it(`${suite.name}: round-trips records, with and without CID and padding`, () => {
      fc.assert(
        fc.property(
          arbPlain,
          fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
          fc.nat(40),
          (plain, cid, padding) => {
            const sealed = p.protect(plain, { cid, padding });
            assert.equal(sealed.type, cid ? 25 : plain.type);
            // Through the wire and back.
            const [onWire] = parseDatagram(encodeRecord(sealed), { cidLength: cid?.length ?? 0 }).records;
            const opened = p.unprotect(onWire!);
            assert.equal(opened.type, plain.type);
            assert.equal(hex(opened.fragment), hex(plain.fragment));
            assert.equal(opened.cid && hex(opened.cid), cid && hex(cid));
          },
        ),
        { numRuns: 60 },
      );
    });

    it(`${suite.name}: any flipped bit in the fragment or header field fails authentication`, () => {
      for (const cid of [undefined, Uint8Array.of(0xc1, 0xd0)]) {
        const sealed = p.protect(
          {
            type: 23,
            version: DTLS_1_2,
            epoch: 1,
            sequenceNumber: 42,
            fragment: Uint8Array.from('hello world', (c) => c.charCodeAt(0)),
          },
          { cid },
        );
        for (let i = 0; i < sealed.fragment.length; i++) {
          const f = Uint8Array.from(sealed.fragment);
          f[i]! ^= 0x01 << (i % 8);
          assert.throws(
            () => p.unprotect({ ...sealed, fragment: f }),
            { reason: 'bad-record-mac' },
            `byte ${i}`,
          );
        }
        for (const change of [
          { epoch: 2 },
          { sequenceNumber: 43 },
          { version: 0xfeff },
          cid ? { cid: Uint8Array.of(0xc1, 0xd1) } : { type: 22 },
        ])
          assert.throws(() => p.unprotect({ ...sealed, ...change }), { reason: 'bad-record-mac' });
        for (const n of [0, 1, 15, 16, sealed.fragment.length - 1])
          assert.throws(() => p.unprotect({ ...sealed, fragment: sealed.fragment.subarray(0, n) }), {
            reason: 'bad-record-mac',
          });
      }
    });

    it(`${suite.name}: the other direction's keys do not open a record`, () => {
      const server = keyBlock(
        new Uint8Array(48).fill(7),
        new Uint8Array(32).fill(1),
        new Uint8Array(32).fill(2),
        suite,
      ).server;
      const sealed = p.protect({
        type: 23,
        version: DTLS_1_2,
        epoch: 1,
        sequenceNumber: 0,
        fragment: new Uint8Array(20),
      });
      assert.throws(() => new RecordProtection(suite, server).unprotect(sealed), {
        reason: 'bad-record-mac',
      });
    });
  }

  it('CCM_8: explicit nonce = epoch || sequence number, then ciphertext, then an 8-byte tag', () => {
    const p = new RecordProtection(CCM8, keysFor(CCM8));
    const sealed = p.protect({
      type: 23,
      version: DTLS_1_2,
      epoch: 3,
      sequenceNumber: 0x0a0b0c,
      fragment: new Uint8Array(5),
    });
    assert.equal(sealed.fragment.length, 8 + 5 + 8);
    assert.equal(hex(sealed.fragment.subarray(0, 8)), '00030000000a0b0c');
  });

  it('CBC: a fresh IV per record, whole blocks, MAC-then-encrypt', () => {
    let n = 0;
    const p = new RecordProtection(CBC, keysFor(CBC), (len) => new Uint8Array(len).fill(++n));
    const plain = { type: 23, version: DTLS_1_2, epoch: 1, sequenceNumber: 0, fragment: new Uint8Array(10) };
    const a = p.protect(plain);
    const b = p.protect(plain);
    assert.equal(hex(a.fragment.subarray(0, 16)), '01'.repeat(16));
    assert.notEqual(hex(a.fragment), hex(b.fragment));
    assert.equal(a.fragment.length, 16 + 48); // 10 + 32 MAC + 1 pad length → 48
    assert.equal(hex(p.unprotect(b).fragment), hex(plain.fragment));
  });

  it('CID: inner plaintext = content || real type || zeros, and an all-zero inner plaintext is refused', () => {
    const p = new RecordProtection(CCM8, keysFor(CCM8));
    const sealed = p.protect(
      { type: 22, version: DTLS_1_2, epoch: 1, sequenceNumber: 1, fragment: Uint8Array.of(0, 0) },
      { cid: Uint8Array.of(5), padding: 3 },
    );
    assert.equal(sealed.fragment.length, 8 + 2 + 1 + 3 + 8);
    const opened = p.unprotect(sealed);
    assert.equal(opened.type, 22);
    assert.equal(
      hex(opened.fragment),
      '0000',
      'zeros of the content survive; only those after the type are padding',
    );
    // A peer whose inner plaintext has no type byte: build it by sealing type 0.
    const zero = p.protect(
      { type: 0, version: DTLS_1_2, epoch: 1, sequenceNumber: 2, fragment: new Uint8Array(0) },
      { cid: Uint8Array.of(5) },
    );
    assert.throws(() => p.unprotect(zero), { reason: 'malformed' });
  });

  it('builds the RFC 9146 §5 AAD for CID records and the classic one otherwise', () => {
    const base = { version: DTLS_1_2, epoch: 1, sequenceNumber: 2, fragment: new Uint8Array(0) };
    assert.equal(
      hex(authenticatedHeader({ ...base, type: 23 }, 5)),
      '0001000000000002' + '17' + 'fefd' + '0005',
    );
    assert.equal(
      hex(authenticatedHeader({ ...base, type: 25, cid: Uint8Array.of(0xab, 0xcd) }, 6)),
      'ffffffffffffffff' + '19' + '02' + '19' + 'fefd' + '0001' + '000000000002' + 'abcd' + '0006',
    );
  });

  it('protectToWire is encodeRecord(protect()) byte for byte, with and without CID, for both suites', () => {
    // CBC draws a random IV per record: pin it so the two calls can be compared.
    for (const suite of [CCM8, CBC]) {
      const p = new RecordProtection(suite, keysFor(suite), (n) => new Uint8Array(n).fill(0x5a));
      fc.assert(
        fc.property(
          arbPlain,
          fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
          fc.nat(20),
          (plain, cid, padding) => {
            assert.equal(
              hex(p.protectToWire(plain, { cid, padding })),
              hex(encodeRecord(p.protect(plain, { cid, padding }))),
            );
          },
        ),
        { numRuns: 80 },
      );
    }
  });

  it('CCM_8 records from protectToWire open with node:crypto aes-128-ccm (an independent AEAD)', () => {
    const keys = keysFor(CCM8);
    const p = new RecordProtection(CCM8, keys);
    fc.assert(
      fc.property(arbPlain, (plain) => {
        const wire = p.protectToWire(plain);
        const fragment = wire.subarray(13);
        const nonce = Buffer.concat([keys.iv, fragment.subarray(0, 8)]);
        const body = fragment.subarray(8, fragment.length - 8);
        const d = createDecipheriv('aes-128-ccm', keys.key, nonce, { authTagLength: 8 });
        d.setAuthTag(fragment.subarray(fragment.length - 8));
        d.setAAD(authenticatedHeader(plain, body.length), { plaintextLength: body.length });
        const opened = d.update(body);
        d.final();
        assert.equal(hex(opened), hex(plain.fragment));
      }),
      { numRuns: 80 },
    );
  });

  it('openWire opens a CCM_8 record where it lies: the fragment unprotect gives, undefined when forged', () => {
    const p = new RecordProtection(CCM8, keysFor(CCM8));
    fc.assert(
      fc.property(
        arbPlain,
        fc.option(fc.uint8Array({ minLength: 1, maxLength: 16 }), { nil: undefined }),
        fc.nat(20),
        fc.nat(),
        (plain, cid, padding, flip) => {
          const wire = p.protectToWire(plain, { cid, padding }).slice();
          const headerLength = 13 + (cid?.length ?? 0);
          const [record] = parseDatagram(wire, { cidLength: cid?.length ?? 0 }).records;
          const opened = p.unprotect(record!);
          const content = p.openWire(wire, headerLength);
          // With a CID, openWire gives the DTLSInnerPlaintext: content, real type, padding.
          const inner = cid
            ? [...opened.fragment, plain.type, ...new Uint8Array(padding)]
            : [...opened.fragment];
          assert.deepEqual([...content!], inner);
          // Any flipped bit after the version (epoch, sequence number, CID, nonce, ciphertext,
          // tag) fails authentication. (The length field is the caller's to check against the
          // datagram: openWire takes the record to fill it.)
          const positions = [...Array(wire.length).keys()].filter(
            (i) => i >= 3 && i !== headerLength - 2 && i !== headerLength - 1,
          );
          const at = positions[flip % positions.length]!;
          wire[at]! ^= 1 << (flip % 8);
          assert.equal(p.openWire(wire, headerLength), undefined, `byte ${at}`);
        },
      ),
      { numRuns: 120 },
    );
  });

  it('refuses to protect more than 2^14 bytes', () => {
    const p = new RecordProtection(CCM8, keysFor(CCM8));
    assert.throws(
      () =>
        p.protect({
          type: 23,
          version: DTLS_1_2,
          epoch: 1,
          sequenceNumber: 0,
          fragment: new Uint8Array(2 ** 14 + 1),
        }),
      { reason: 'too-large' },
    );
  });
});
