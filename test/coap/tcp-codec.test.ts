import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import { sortOptions } from '../../src/coap/options.js';
import {
  BASE_MAX_MESSAGE_SIZE,
  CoapStreamDecoder,
  DEFAULT_MAX_FRAME_SIZE,
  abort,
  csm,
  decodeCoapTcp,
  encodeCoapTcp,
  ping,
  pong,
  readSignal,
  release,
} from '../../src/coap/tcp-codec.js';
import { CoapFormatError, type CoapFormatReason } from '../../src/coap/udp-codec.js';
import { mulberry32, mutate } from '../support/mutate.js';
import { EMPTY, hex, msg, plain, toHex } from '../support/coap-messages.js';

const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** A message whose frame body (options, marker, payload) is `body` bytes: a payload of body - 1. */
const withBody = (body: number, code: number = CoapCode.CONTENT): CoapMessage =>
  msg({ code, payload: new Uint8Array(body - 1).fill(body & 0xff) });

function assertFormatError(
  fn: () => unknown,
  reason: CoapFormatReason,
  check?: (e: CoapFormatError) => void,
) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CoapFormatError, `expected CoapFormatError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    check?.(e);
    return true;
  });
}

describe('RFC 8323 framing', () => {
  it('writes Len and TKL, the code and token, without type or message id', () => {
    assert.equal(toHex(encodeCoapTcp(ping())), '00e2');
    assert.equal(
      toHex(encodeCoapTcp(msg({ token: hex('01'), options: [{ number: 11, value: hex('61') }] }))),
      '210101b161',
    );
    assert.equal(
      toHex(
        encodeCoapTcp(msg({ code: CoapCode.CONTENT, token: hex('0102030405060708'), payload: hex('aa') })),
      ),
      '2845' + '0102030405060708' + 'ffaa',
    );
    // Type and message id are not on the wire; a decoded frame has none.
    const back = decodeCoapTcp(encodeCoapTcp(msg({ type: 'CON', messageId: 77 })));
    assert.equal(back.type, undefined);
    assert.equal(back.messageId, 0);
  });

  it('uses the shortest length form at 12/13, 268/269, 65804/65805', () => {
    const cases: [number, string][] = [
      [12, 'c0'],
      [13, 'd000'],
      [268, 'd0ff'],
      [269, 'e00000'],
      [65804, 'e0ffff'],
      [65805, 'f000000000'],
      [65806, 'f000000001'],
      [70000, 'f000001063'],
    ];
    for (const [body, header] of cases) {
      const bytes = encodeCoapTcp(withBody(body));
      assert.equal(toHex(bytes.subarray(0, header.length / 2 + 1)), header + '45', `body ${body}`);
      assert.equal(bytes.length, header.length / 2 + 1 + body);
      const back = decodeCoapTcp(bytes);
      assert.equal(back.payload.length, body - 1);
      assert.deepEqual(encodeCoapTcp(back), bytes);
    }
  });

  it('decodes a frame with options and payload', () => {
    const m = decodeCoapTcp(hex('b2 02 abcd b2 7264 0130 11 28 ff 3c2f3e'));
    assert.deepEqual(plain(m), {
      type: undefined,
      code: CoapCode.POST,
      messageId: 0,
      token: 'abcd',
      options: [
        [11, '7264'],
        [11, '30'],
        [12, '28'],
      ],
      payload: '3c2f3e',
    });
  });

  it('rejects malformed frames with a reason', () => {
    assertFormatError(() => decodeCoapTcp(hex('')), 'truncated');
    assertFormatError(() => decodeCoapTcp(hex('d0')), 'truncated');
    assertFormatError(() => decodeCoapTcp(hex('40e12204')), 'truncated');
    assertFormatError(() => decodeCoapTcp(hex('0201aa')), 'truncated');
    assertFormatError(
      () => decodeCoapTcp(hex('00e200')),
      'trailing-bytes',
      (e) => assert.equal(e.offset, 2),
    );
    for (let tkl = 9; tkl <= 15; tkl++)
      assertFormatError(
        () => decodeCoapTcp(hex(`0${tkl.toString(16)}01` + '00'.repeat(tkl))),
        'bad-token-length',
      );
    assertFormatError(() => decodeCoapTcp(hex('1001f0')), 'bad-option-nibble');
    assertFormatError(() => decodeCoapTcp(hex('10010f')), 'bad-option-nibble');
    assertFormatError(() => decodeCoapTcp(hex('1045ff')), 'empty-payload');
    assertFormatError(() => decodeCoapTcp(hex('1001d0')), 'truncated');
    assertFormatError(() => decodeCoapTcp(hex('3001e0ffff')), 'bad-option-number');
    assertFormatError(() => decodeCoapTcp(hex('f0ffffffff45'), 100000), 'too-large');
  });

  it('refuses to encode what the framing cannot carry', () => {
    assertFormatError(() => encodeCoapTcp(msg({ token: new Uint8Array(9) })), 'not-encodable');
    assertFormatError(() => encodeCoapTcp(msg({ code: -1 })), 'not-encodable');
    assertFormatError(
      () => encodeCoapTcp(msg({ options: [{ number: 70000, value: EMPTY }] })),
      'not-encodable',
    );
  });
});

describe('signalling messages (RFC 8323 §5)', () => {
  it('builds CSM with Max-Message-Size and Block-Wise-Transfer', () => {
    const m = csm({ maxMessageSize: 1152, blockWiseTransfer: true });
    assert.equal(toHex(encodeCoapTcp(m)), '40e1' + '220480' + '20');
    assert.deepEqual(readSignal(decodeCoapTcp(encodeCoapTcp(m))), {
      kind: 'csm',
      maxMessageSize: 1152,
      blockWiseTransfer: true,
    });
    assert.equal(toHex(encodeCoapTcp(csm())), '00e1');
    assert.deepEqual(readSignal(csm()), { kind: 'csm', blockWiseTransfer: false });
    assert.equal(toHex(encodeCoapTcp(csm({ maxMessageSize: 2 ** 32 - 1 }))), '50e1' + '24ffffffff');
  });

  it('builds Ping and Pong with Custody and a token', () => {
    assert.equal(toHex(encodeCoapTcp(ping({ custody: true, token: hex('07') }))), '11e20720');
    assert.equal(toHex(encodeCoapTcp(pong({ token: hex('07') }))), '01e307');
    assert.deepEqual(readSignal(decodeCoapTcp(hex('11e20720'))), { kind: 'ping', custody: true });
    assert.deepEqual(readSignal(pong()), { kind: 'pong', custody: false });
  });

  it('builds Release with addresses, Hold-Off and a diagnostic payload', () => {
    const m = release({
      alternativeAddresses: ['coap+tcp://a', 'coap+tcp://b'],
      holdOff: 30,
      diagnostic: 'bye',
    });
    const bytes = encodeCoapTcp(m);
    assert.equal(
      toHex(bytes),
      'd0' +
        '13' +
        'e4' +
        '2c' +
        toHex(Buffer.from('coap+tcp://a')) +
        '0c' +
        toHex(Buffer.from('coap+tcp://b')) +
        '21' +
        '1e' +
        'ff' +
        toHex(Buffer.from('bye')),
    );
    assert.deepEqual(readSignal(decodeCoapTcp(bytes)), {
      kind: 'release',
      alternativeAddresses: ['coap+tcp://a', 'coap+tcp://b'],
      holdOff: 30,
      diagnostic: 'bye',
    });
    assert.deepEqual(readSignal(release()), { kind: 'release', alternativeAddresses: [], diagnostic: '' });
  });

  it('builds Abort with Bad-CSM-Option and a diagnostic', () => {
    const m = abort({ badCsmOption: 2, diagnostic: 'Max-Message-Size too small' });
    assert.equal(toHex(encodeCoapTcp(m)).slice(0, 10), 'd010e5' + '2102');
    assert.deepEqual(readSignal(decodeCoapTcp(encodeCoapTcp(m))), {
      kind: 'abort',
      badCsmOption: 2,
      diagnostic: 'Max-Message-Size too small',
    });
    assert.deepEqual(readSignal(abort()), { kind: 'abort', diagnostic: '' });
  });

  it('reads no signal from other codes, and leaves out values that do not fit', () => {
    assert.equal(readSignal(msg()), undefined);
    assert.equal(readSignal(msg({ code: 0xe6 })), undefined);
    const odd = decodeCoapTcp(hex('60e1' + '250100000000'));
    assert.deepEqual(readSignal(odd), { kind: 'csm', blockWiseTransfer: false });
  });

  it('checks signal option values', () => {
    assert.throws(() => csm({ maxMessageSize: 2 ** 32 }), /Max-Message-Size/);
    assert.throws(() => release({ holdOff: 2 ** 24 }), /Hold-Off/);
    assert.throws(() => release({ alternativeAddresses: [''] }), /Alternative-Address/);
  });
});

// ---- the stream decoder ----

/** Pushes the stream cut at these positions; returns the messages, as plain data. */
function feed(stream: Uint8Array, cuts: readonly number[], decoder = new CoapStreamDecoder()) {
  const out: ReturnType<typeof plain>[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    for (const m of decoder.push(stream.subarray(from, cut))) out.push(plain(m));
    from = cut;
  }
  assert.equal(decoder.buffered, 0, 'nothing left over');
  return out;
}

describe('CoapStreamDecoder', () => {
  const small = [
    ping(),
    pong({ token: hex('aa') }),
    msg({ token: hex('01'), options: [{ number: 11, value: hex('61') }] }),
    csm({ maxMessageSize: 1152, blockWiseTransfer: true }),
  ];

  it('yields the same messages for every chunking of a small stream', () => {
    const stream = concat(small.map(encodeCoapTcp));
    assert.equal(stream.length, 16);
    const expected = small.map((m) => plain(decodeCoapTcp(encodeCoapTcp(m))));
    const positions = stream.length - 1;
    for (let mask = 0; mask < 1 << positions; mask++) {
      const cuts: number[] = [];
      for (let p = 0; p < positions; p++) if (mask & (1 << p)) cuts.push(p + 1);
      assert.deepEqual(feed(stream, cuts), expected, `cuts ${cuts.join(',')}`);
    }
  });

  it('reassembles big frames with 8-, 16- and 32-bit lengths split anywhere', () => {
    const frames = [withBody(300), withBody(100), withBody(70000), ping(), withBody(269), withBody(13)];
    const stream = concat(frames.map(encodeCoapTcp));
    const expected = frames.map((m) => plain(decodeCoapTcp(encodeCoapTcp(m))));
    const limit = 80000;
    // Every cut in the first frames and the header of the 32-bit one, and around every boundary.
    const boundaries: number[] = [];
    let at = 0;
    for (const f of frames) boundaries.push((at += encodeCoapTcp(f).length));
    const positions = new Set<number>();
    for (let p = 1; p < 420; p++) positions.add(p);
    for (const b of boundaries) for (let d = -8; d <= 8; d++) positions.add(b + d);
    for (const p of positions) {
      if (p <= 0 || p >= stream.length) continue;
      assert.deepEqual(
        feed(stream, [p], new CoapStreamDecoder({ maxMessageSize: limit })),
        expected,
        `cut ${p}`,
      );
    }
    // Byte by byte, and all in one chunk.
    const one = new CoapStreamDecoder({ maxMessageSize: limit });
    const got: ReturnType<typeof plain>[] = [];
    for (let i = 0; i < stream.length; i++)
      for (const m of one.push(stream.subarray(i, i + 1))) got.push(plain(m));
    assert.deepEqual(got, expected);
    assert.deepEqual(feed(stream, [], new CoapStreamDecoder({ maxMessageSize: limit })), expected);
  });

  it('yields the messages of random chunkings of random messages', () => {
    const optionArb: fc.Arbitrary<CoapOption> = fc.record({
      number: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 65535 })),
      value: fc.uint8Array({ maxLength: 20 }),
    });
    const messageArb = fc.record({
      code: fc.integer({ min: 0, max: 255 }),
      messageId: fc.constant(0),
      token: fc.uint8Array({ maxLength: 8 }),
      options: fc.array(optionArb, { maxLength: 5 }).map(sortOptions),
      payload: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ minLength: 250, maxLength: 600 })),
    });
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, rawCuts) => {
          const stream = concat(messages.map(encodeCoapTcp));
          const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          assert.deepEqual(
            feed(stream, cuts),
            messages.map(plain).map((p) => ({ ...p, type: undefined })),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps at most one partial frame and reports what it holds', () => {
    const d = new CoapStreamDecoder();
    const frame = encodeCoapTcp(withBody(500));
    assert.deepEqual(d.push(frame.subarray(0, 1)), []);
    assert.equal(d.buffered, 1);
    assert.deepEqual(d.push(frame.subarray(1, 2)), []);
    assert.equal(d.buffered, 2);
    assert.deepEqual(d.push(frame.subarray(2, 300)), []);
    assert.equal(d.buffered, 300);
    assert.equal(d.push(frame.subarray(300)).length, 1);
    assert.equal(d.buffered, 0);
    assert.deepEqual(d.push(EMPTY), []);
  });

  it('accepts frames up to the limit and refuses larger ones as soon as their length is known', () => {
    const d = new CoapStreamDecoder({ maxMessageSize: 100 });
    const fits = encodeCoapTcp(withBody(97)); // 'd0 54 45' + 97
    assert.equal(fits.length, 100);
    assert.equal(d.push(fits).length, 1);
    const over = encodeCoapTcp(withBody(98));
    assert.deepEqual(d.push(over.subarray(0, 1)), [], 'the length byte is not there yet');
    assertFormatError(
      () => d.push(over.subarray(1, 2)),
      'too-large',
      (e) => assert.equal(e.size, 101),
    );
    assert.equal(d.buffered, 0, 'nothing kept');
    // The stream is out of step now: every later push fails with the same error.
    const first = d.failure;
    assert.ok(first);
    assert.throws(
      () => d.push(encodeCoapTcp(ping())),
      (e) => e === first,
    );
  });

  it('refuses a 32-bit length without buffering any of it', () => {
    const d = new CoapStreamDecoder();
    assert.deepEqual(d.push(hex('f0ffff')), []);
    assertFormatError(
      () => d.push(hex('ffff45')),
      'too-large',
      (e) => assert.equal(e.size, 2 + 4 + 65805 + 0xffffffff),
    );
    const whole = new CoapStreamDecoder();
    assertFormatError(() => whole.push(hex('00e2 f0ffffffff45 00')), 'too-large');
  });

  it('defaults to the base Max-Message-Size plus headroom', () => {
    assert.equal(BASE_MAX_MESSAGE_SIZE, 1152);
    const d = new CoapStreamDecoder();
    assert.equal(d.maxMessageSize, DEFAULT_MAX_FRAME_SIZE);
    assert.ok(DEFAULT_MAX_FRAME_SIZE > BASE_MAX_MESSAGE_SIZE);
    const edge = encodeCoapTcp(withBody(DEFAULT_MAX_FRAME_SIZE - 4)); // 'e0 xxxx 45' + body
    assert.equal(edge.length, DEFAULT_MAX_FRAME_SIZE);
    assert.equal(d.push(edge).length, 1);
    assertFormatError(() => d.push(encodeCoapTcp(withBody(DEFAULT_MAX_FRAME_SIZE - 3))), 'too-large');
  });

  it('fails on a bad token length at the first byte, and on a malformed frame', () => {
    assertFormatError(() => new CoapStreamDecoder().push(hex('09')), 'bad-token-length');
    const d = new CoapStreamDecoder();
    assertFormatError(() => d.push(hex('00e2 1001f0 00e2')), 'bad-option-nibble');
    assert.equal(d.failure?.reason, 'bad-option-nibble');
    const split = new CoapStreamDecoder();
    assert.deepEqual(split.push(hex('1045')), []);
    assertFormatError(() => split.push(hex('ff')), 'empty-payload');
  });

  it('throws nothing but CoapFormatError on mutated streams (3000 seeded mutants)', () => {
    const seeds = [
      concat(small.map(encodeCoapTcp)),
      concat([
        encodeCoapTcp(withBody(300)),
        encodeCoapTcp(release({ alternativeAddresses: ['x'], diagnostic: 'd' })),
      ]),
      concat([
        encodeCoapTcp(
          msg({
            token: hex('0102'),
            options: [
              { number: 11, value: hex('3300') },
              { number: 2000, value: new Uint8Array(14) },
            ],
            payload: hex('01'),
          }),
        ),
      ]),
    ];
    const rand = mulberry32(8323);
    let messages = 0;
    for (let i = 0; i < 3000; i++) {
      const input = mutate(seeds[i % seeds.length]!, rand, {
        interesting: [0x00, 0x0d, 0x0e, 0x0f, 0xd0, 0xe0, 0xf0, 0xff, 0x09],
      });
      const d = new CoapStreamDecoder({ maxMessageSize: 2000 });
      const cut = Math.floor(rand() * (input.length + 1));
      try {
        messages += d.push(input.subarray(0, cut)).length;
        messages += d.push(input.subarray(cut)).length;
        assert.ok(d.buffered <= 2000);
      } catch (e) {
        if (!(e instanceof CoapFormatError)) assert.fail(`mutant ${i} (${toHex(input)}) threw ${String(e)}`);
      }
      try {
        const m = decodeCoapTcp(input, 2000);
        assert.deepEqual(encodeCoapTcp(m), input, 're-encodes byte for byte');
      } catch (e) {
        if (!(e instanceof CoapFormatError)) assert.fail(`mutant ${i} (${toHex(input)}) threw ${String(e)}`);
      }
    }
    assert.ok(messages > 1000, `mutants still yield messages (${messages})`);
  });
});
