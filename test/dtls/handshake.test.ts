import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { HandshakeFragment, HandshakeMessage } from '../../src/dtls/handshake.js';
import {
  HANDSHAKE_HEADER_LENGTH,
  encodeHandshakeFragment,
  encodeHandshakeMessage,
  fragmentHandshakeMessage,
  parseHandshakeFragments,
} from '../../src/dtls/handshake.js';
import { HandshakeReassembler } from '../../src/dtls/handshake-reassembler.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const arbMessage = (seq: number): fc.Arbitrary<HandshakeMessage> =>
  fc.record({
    msgType: fc.constantFrom(1, 2, 11, 12, 14, 16, 20),
    messageSeq: fc.constant(seq),
    body: fc.uint8Array({ maxLength: 700 }),
  });

describe('DTLS handshake header and fragments', () => {
  it('encodes the 12-byte header of RFC 6347 §4.2.2', () => {
    const f: HandshakeFragment = {
      msgType: 11,
      length: 0x010203,
      messageSeq: 5,
      fragmentOffset: 0x10,
      body: Uint8Array.of(7, 7),
    };
    assert.equal(hex(encodeHandshakeFragment(f)), '0b010203' + '0005' + '000010' + '000002' + '0707');
  });

  it('round-trips several fragments in one record', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage(3), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 13, max: 200 }),
        (msgs, mtu) => {
          const fragments = msgs.flatMap((m) => fragmentHandshakeMessage(m, mtu));
          const wire = Buffer.concat(fragments.map(encodeHandshakeFragment));
          const parsed = parseHandshakeFragments(wire);
          assert.deepEqual(
            parsed.map((f) => [f.msgType, f.length, f.fragmentOffset, hex(f.body)]),
            fragments.map((f) => [f.msgType, f.length, f.fragmentOffset, hex(f.body)]),
          );
          for (const f of fragments) assert.ok(f.body.length + HANDSHAKE_HEADER_LENGTH <= mtu);
        },
      ),
    );
  });

  it('refuses a fragment past its message length, and a truncated one', () => {
    const ok = encodeHandshakeFragment({
      msgType: 1,
      length: 4,
      messageSeq: 0,
      fragmentOffset: 2,
      body: Uint8Array.of(1, 2),
    });
    const bad = Uint8Array.from(ok);
    bad[11] = 3; // fragment_length 3 at offset 2 > length 4
    assert.throws(() => parseHandshakeFragments(bad), { reason: 'malformed' });
    assert.throws(() => parseHandshakeFragments(ok.subarray(0, 13)), { reason: 'truncated' });
    assert.throws(
      () => fragmentHandshakeMessage({ msgType: 1, messageSeq: 0, body: new Uint8Array(1) }, 12),
      { reason: 'too-large' },
    );
  });

  it('reassembles fragmented flights delivered shuffled, duplicated and overlapping', () => {
    fc.assert(
      fc.property(
        fc.tuple(arbMessage(1), arbMessage(2), arbMessage(3)),
        fc.integer({ min: 20, max: 300 }),
        fc.integer({ min: 20, max: 300 }),
        fc.infiniteStream(fc.nat()),
        (msgs, mtu1, mtu2, rnd) => {
          // Two fragmentations of the same flight overlap each other (a retransmission with another MTU).
          const fragments = [
            ...msgs.flatMap((m) => fragmentHandshakeMessage(m, mtu1)),
            ...msgs.flatMap((m) => fragmentHandshakeMessage(m, mtu2)),
          ];
          const order = fragments
            .map((f) => ({ f, k: rnd.next().value as number }))
            .sort((a, b) => a.k - b.k);
          const r = new HandshakeReassembler({ nextSeq: 1 });
          const out: HandshakeMessage[] = [];
          for (const { f } of order) out.push(...r.add(f).messages);
          assert.deepEqual(
            out.map((m) => [m.msgType, m.messageSeq, hex(m.body)]),
            msgs.map((m) => [m.msgType, m.messageSeq, hex(m.body)]),
          );
          assert.equal(r.nextSeq, 4);
          // Every fragment now belongs to a delivered message: stale (the peer retransmitted).
          assert.ok(r.add(fragments[0]!).stale);
        },
      ),
    );
  });

  it('holds a later message until the earlier one completes', () => {
    const r = new HandshakeReassembler();
    const a = { msgType: 1, messageSeq: 0, body: Uint8Array.of(1, 2, 3, 4) };
    const b = { msgType: 14, messageSeq: 1, body: new Uint8Array(0) };
    const [a1, a2] = fragmentHandshakeMessage(a, 14);
    assert.deepEqual(r.add(fragmentHandshakeMessage(b, 100)[0]!).messages, []);
    assert.deepEqual(r.add(a1!).messages, []);
    assert.ok(r.add(a1!).ignored, 'a duplicate adds nothing');
    assert.deepEqual(
      r.add(a2!).messages.map((m) => m.messageSeq),
      [0, 1],
    );
  });

  it('refuses inconsistent fragments and oversized messages, and ignores far-future ones', () => {
    const r = new HandshakeReassembler({ maxMessageLength: 100, maxPendingMessages: 2 });
    r.add({ msgType: 11, length: 50, messageSeq: 0, fragmentOffset: 0, body: new Uint8Array(10) });
    assert.throws(
      () => r.add({ msgType: 12, length: 50, messageSeq: 0, fragmentOffset: 10, body: new Uint8Array(10) }),
      { reason: 'inconsistent-fragment' },
    );
    assert.throws(
      () => r.add({ msgType: 11, length: 60, messageSeq: 0, fragmentOffset: 10, body: new Uint8Array(10) }),
      { reason: 'inconsistent-fragment' },
    );
    assert.throws(
      () => r.add({ msgType: 11, length: 101, messageSeq: 1, fragmentOffset: 0, body: new Uint8Array(1) }),
      { reason: 'too-large' },
    );
    assert.ok(
      r.add({ msgType: 11, length: 5, messageSeq: 2, fragmentOffset: 0, body: new Uint8Array(5) }).ignored,
    );
  });

  it('drops fragments that would leave more than 64 holes', () => {
    const r = new HandshakeReassembler();
    const len = 1000;
    let ignored = 0;
    for (let off = 0; off < len; off += 2)
      if (
        r.add({ msgType: 11, length: len, messageSeq: 0, fragmentOffset: off, body: Uint8Array.of(1) })
          .ignored
      )
        ignored++;
    assert.ok(ignored > 400);
  });

  it('encodes a whole message as one fragment (the handshake hash form)', () => {
    assert.equal(
      hex(encodeHandshakeMessage({ msgType: 20, messageSeq: 3, body: new Uint8Array(12) })),
      '1400000c000300000000000c' + '00'.repeat(12),
    );
  });
});
