import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  COAP_TYPES,
  CoapCode,
  type CoapMessage,
  type CoapOption,
  type CoapType,
} from '../../src/coap/message.js';
import { sortOptions } from '../../src/coap/options.js';
import {
  CoapFormatError,
  decodeCoapUdp,
  encodeCoapUdp,
  type CoapFormatReason,
} from '../../src/coap/udp-codec.js';
import { PetrelError } from '../../src/errors.js';
import { mulberry32, mutate } from '../support/mutate.js';
import { EMPTY, hex, msg as baseMsg, plain, toHex } from '../support/coap-messages.js';

const msg = (fields: Partial<CoapMessage> = {}): CoapMessage => baseMsg({ type: 'CON', ...fields });

function assertFormatError(
  bytes: string | Uint8Array,
  reason: CoapFormatReason,
  header?: { type: CoapType; messageId: number },
): void {
  const input = typeof bytes === 'string' ? hex(bytes) : bytes;
  assert.throws(
    () => decodeCoapUdp(input),
    (e: unknown) => {
      assert.ok(e instanceof CoapFormatError, `expected CoapFormatError, got ${String(e)}`);
      assert.ok(e instanceof PetrelError);
      assert.equal(e.code, 'PETREL_ERR_COAP_FORMAT');
      assert.equal(e.reason, reason, e.message);
      assert.equal(e.type, header?.type, 'type');
      assert.equal(e.messageId, header?.messageId, 'messageId');
      return true;
    },
    typeof bytes === 'string' ? bytes : toHex(bytes),
  );
}

function assertEncodeError(m: CoapMessage, reason: CoapFormatReason): void {
  assert.throws(
    () => encodeCoapUdp(m),
    (e: unknown) => e instanceof CoapFormatError && e.reason === reason,
  );
}

describe('UDP header (RFC 7252 §3)', () => {
  it('encodes version 1, the type, TKL, code and message id', () => {
    assert.equal(toHex(encodeCoapUdp(msg())), '40010000');
    const types: [CoapType, string][] = [
      ['CON', '40'],
      ['NON', '50'],
      ['ACK', '60'],
      ['RST', '70'],
    ];
    for (const [type, b0] of types) {
      const bytes = encodeCoapUdp(msg({ type, code: CoapCode.EMPTY, messageId: 0x1234 }));
      assert.equal(toHex(bytes), `${b0}001234`);
      assert.equal(decodeCoapUdp(bytes).type, type);
    }
    assert.equal(toHex(encodeCoapUdp(msg({ messageId: 0xffff, code: 0xff }))), '40ffffff');
    assert.equal(
      toHex(encodeCoapUdp(msg({ token: hex('0102030405060708'), code: CoapCode.CONTENT }))),
      '48450000' + '0102030405060708',
    );
  });

  it('decodes the header fields at their boundaries', () => {
    assert.deepEqual(plain(decodeCoapUdp(hex('40010000'))), plain(msg()));
    assert.deepEqual(
      plain(decodeCoapUdp(hex('68a4ffff0102030405060708'))),
      plain(
        msg({
          type: 'ACK',
          code: CoapCode.GATEWAY_TIMEOUT,
          messageId: 0xffff,
          token: hex('0102030405060708'),
        }),
      ),
    );
    assert.equal(decodeCoapUdp(hex('41010000aa')).token.length, 1);
    assert.equal(decodeCoapUdp(hex('40ff0000')).code, 0xff, 'reserved codes are left to the endpoint');
  });

  it('accepts the empty message of every type', () => {
    for (const b0 of ['40', '50', '60', '70']) {
      const m = decodeCoapUdp(hex(`${b0}00abcd`));
      assert.equal(m.code, CoapCode.EMPTY);
      assert.equal(m.messageId, 0xabcd);
    }
  });
});

describe('malformed datagrams', () => {
  it('is truncated below 4 bytes, without header fields', () => {
    for (const h of ['', '40', '4001', '400100']) assertFormatError(h, 'truncated');
  });

  it('rejects versions other than 1 without header fields (silently ignored, §3)', () => {
    for (const b0 of ['00', '80', 'c0', 'b1']) assertFormatError(`${b0}010001`, 'bad-version');
  });

  it('rejects TKL 9 to 15 and keeps type and message id for a RST', () => {
    for (let tkl = 9; tkl <= 15; tkl++)
      assertFormatError(`4${tkl.toString(16)}011234` + '00'.repeat(16), 'bad-token-length', {
        type: 'CON',
        messageId: 0x1234,
      });
  });

  it('rejects a token cut off', () => {
    assertFormatError('48010001aabbccdd', 'truncated', { type: 'CON', messageId: 1 });
    assertFormatError('51010002', 'truncated', { type: 'NON', messageId: 2 });
  });

  it('rejects an empty message with a token, options or payload (§4.1)', () => {
    const h = { type: 'CON' as const, messageId: 7 };
    assertFormatError('41000007aa', 'bad-empty-message', h);
    assertFormatError('41000007', 'bad-empty-message', h);
    assertFormatError('40000007b161', 'bad-empty-message', h);
    assertFormatError('40000007ff01', 'bad-empty-message', h);
    assertFormatError('40000007ff', 'bad-empty-message', h);
  });

  it('rejects a payload marker with nothing after it', () => {
    assertFormatError('40010009ff', 'empty-payload', { type: 'CON', messageId: 9 });
    assertFormatError('40010009b161ff', 'empty-payload', { type: 'CON', messageId: 9 });
  });

  it('rejects the nibble 15 outside the payload marker', () => {
    const h = { type: 'CON' as const, messageId: 1 };
    assertFormatError('40010001f0', 'bad-option-nibble', h); // delta 15, length 0
    assertFormatError('40010001f5aabbccddee', 'bad-option-nibble', h);
    assertFormatError('400100010f', 'bad-option-nibble', h); // length 15
    assertFormatError('40010001bf' + '61'.repeat(20), 'bad-option-nibble', h);
    assertFormatError('40010001df00', 'bad-option-nibble', h);
  });

  it('rejects extended fields and values cut off', () => {
    const h = { type: 'CON' as const, messageId: 1 };
    assertFormatError('40010001d0', 'truncated', h); // 8-bit delta missing
    assertFormatError('40010001e000', 'truncated', h); // 16-bit delta half there
    assertFormatError('400100010d', 'truncated', h); // 8-bit length missing
    assertFormatError('400100010e01', 'truncated', h); // 16-bit length half there
    assertFormatError('40010001d100', 'truncated', h); // delta 13, length 1, value missing
    assertFormatError('40010001b3616263' + 'b4616263', 'truncated', h); // second value one byte short
    assertFormatError('400100010e0000' + '00'.repeat(268), 'truncated', h); // length 269, 268 there
  });

  it('rejects option numbers past 65535', () => {
    const h = { type: 'CON' as const, messageId: 1 };
    assertFormatError('40010001e0ffff', 'bad-option-number', h); // delta 65804
    assertFormatError('40010001e0fef2' + '10', 'bad-option-number', h); // 65535, then 65536
    assert.equal(decodeCoapUdp(hex('40010001e0fef2')).options[0]!.number, 65535);
  });
});

describe('options on the wire', () => {
  const encodeOption = (number: number, length: number): string =>
    toHex(encodeCoapUdp(msg({ options: [{ number, value: new Uint8Array(length).fill(0x61) }] }))).slice(8);

  it('uses the shortest delta form at 12/13, 268/269 and the top', () => {
    assert.equal(encodeOption(12, 0), 'c0');
    assert.equal(encodeOption(13, 0), 'd000');
    assert.equal(encodeOption(268, 0), 'd0ff');
    assert.equal(encodeOption(269, 0), 'e00000');
    assert.equal(encodeOption(65535, 0), 'e0fef2');
  });

  it('uses the shortest length form at 12/13, 268/269 and 65804', () => {
    const a = (n: number): string => '61'.repeat(n);
    assert.equal(encodeOption(1, 12), '1c' + a(12));
    assert.equal(encodeOption(1, 13), '1d00' + a(13));
    assert.equal(encodeOption(1, 268), '1dff' + a(268));
    assert.equal(encodeOption(1, 269), '1e0000' + a(269));
    assert.equal(encodeOption(1, 65804), '1effff' + a(65804));
    assertEncodeError(msg({ options: [{ number: 1, value: new Uint8Array(65805) }] }), 'not-encodable');
  });

  it('decodes every delta and length form back', () => {
    for (const number of [0, 1, 12, 13, 14, 268, 269, 270, 65535]) {
      for (const length of [0, 1, 12, 13, 268, 269, 65804]) {
        const m = msg({ options: [{ number, value: new Uint8Array(length).fill(number & 0xff) }] });
        const bytes = encodeCoapUdp(m);
        const back = decodeCoapUdp(bytes);
        assert.equal(back.options.length, 1);
        assert.equal(back.options[0]!.number, number);
        assert.equal(back.options[0]!.value.length, length);
        assert.deepEqual(encodeCoapUdp(back), bytes);
      }
    }
  });

  it('combines both extended forms in one option header', () => {
    const m = msg({ options: [{ number: 300, value: new Uint8Array(300) }] });
    assert.equal(toHex(encodeCoapUdp(m)).slice(8, 18), 'ee001f001f');
  });

  it('writes deltas between options, repeated options with delta 0, in the order given', () => {
    const options: CoapOption[] = [
      { number: 15, value: hex('62') },
      { number: 11, value: hex('33') },
      { number: 15, value: hex('61') },
      { number: 11, value: hex('30') },
      { number: 60, value: hex('') },
    ];
    const bytes = encodeCoapUdp(msg({ options, payload: hex('01') }));
    // Size1 (60) after Uri-Query (15): delta 45 = 13 + 0x20.
    assert.equal(toHex(bytes), '40010000' + 'b133' + '0130' + '4162' + '0161' + 'd020' + 'ff01');
    assert.deepEqual(
      decodeCoapUdp(bytes).options.map((o) => [o.number, toHex(o.value)]),
      sortOptions(options).map((o) => [o.number, toHex(o.value)]),
    );
  });

  it('decodes a real LwM2M request and response', () => {
    const req = decodeCoapUdp(hex('44013f6cc0393ee2b1330130'));
    assert.deepEqual(plain(req), {
      type: 'CON',
      code: CoapCode.GET,
      messageId: 16236,
      token: 'c0393ee2',
      options: [
        [11, '33'],
        [11, '30'],
      ],
      payload: '',
    });
    const res = decodeCoapUdp(hex('6841df016843d0ee03c032998272640130'));
    assert.deepEqual(plain(res).options, [
      [8, '7264'],
      [8, '30'],
    ]);
  });
});

describe('encoding refuses what the format cannot carry', () => {
  it('needs a type, a 16-bit message id, a token of 8 bytes at most and a code byte', () => {
    assertEncodeError({ ...msg(), type: undefined }, 'not-encodable');
    assertEncodeError(msg({ messageId: 65536 }), 'not-encodable');
    assertEncodeError(msg({ messageId: -1 }), 'not-encodable');
    assertEncodeError(msg({ messageId: 1.5 }), 'not-encodable');
    assertEncodeError(msg({ token: new Uint8Array(9) }), 'not-encodable');
    assertEncodeError(msg({ code: 256 }), 'not-encodable');
    assertEncodeError(msg({ options: [{ number: 65536, value: EMPTY }] }), 'not-encodable');
    assertEncodeError(msg({ options: [{ number: -1, value: EMPTY }] }), 'not-encodable');
  });

  it('keeps the empty message empty', () => {
    assertEncodeError(msg({ code: 0, token: hex('01') }), 'bad-empty-message');
    assertEncodeError(msg({ code: 0, payload: hex('01') }), 'bad-empty-message');
    assertEncodeError(msg({ code: 0, options: [{ number: 11, value: EMPTY }] }), 'bad-empty-message');
  });
});

// ---- properties ----

const optionArb: fc.Arbitrary<CoapOption> = fc.record({
  number: fc.oneof(
    fc.constantFrom(0, 1, 11, 12, 13, 14, 15, 268, 269, 270, 537, 65535),
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 65535 }),
  ),
  value: fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 14 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 260, maxLength: 280 }) },
  ),
});

const messageArb: fc.Arbitrary<CoapMessage> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record({
      type: fc.constantFrom(...COAP_TYPES),
      code: fc.integer({ min: 1, max: 255 }),
      messageId: fc.integer({ min: 0, max: 0xffff }),
      token: fc.uint8Array({ maxLength: 8 }),
      options: fc.array(optionArb, { maxLength: 8 }).map(sortOptions),
      payload: fc.uint8Array({ maxLength: 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constantFrom(...COAP_TYPES),
      code: fc.constant(0),
      messageId: fc.integer({ min: 0, max: 0xffff }),
      token: fc.constant(EMPTY),
      options: fc.constant([]),
      payload: fc.constant(EMPTY),
    }),
  },
);

/** Only CoapFormatError, and whatever decodes re-encodes to the same bytes. */
function decodeOrFormatError(bytes: Uint8Array): CoapMessage | CoapFormatError {
  let m: CoapMessage;
  try {
    m = decodeCoapUdp(bytes);
  } catch (e) {
    if (!(e instanceof CoapFormatError)) assert.fail(`${toHex(bytes)} threw ${String(e)}`);
    // The header fields are there exactly when the header was readable.
    const readable = bytes.length >= 4 && bytes[0]! >> 6 === 1;
    assert.equal(e.type !== undefined, readable, `${e.reason} ${toHex(bytes)}`);
    assert.equal(e.messageId !== undefined, readable);
    return e;
  }
  assert.deepEqual(encodeCoapUdp(m), bytes, `re-encodes ${toHex(bytes)}`);
  return m;
}

describe('round trips', () => {
  it('decode(encode(message)) is the message', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        assert.deepEqual(plain(decodeCoapUdp(encodeCoapUdp(m))), plain(m));
      }),
      { numRuns: 500 },
    );
  });

  it('encode(decode(bytes)) is the bytes for every datagram that decodes', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 0, max: 1000 }), (m, cut) => {
        const bytes = encodeCoapUdp(m);
        assert.deepEqual(encodeCoapUdp(decodeCoapUdp(bytes)), bytes);
        // Every prefix either decodes (and re-encodes to itself) or is a format error.
        decodeOrFormatError(bytes.subarray(0, Math.min(cut, bytes.length)));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        decodeOrFormatError(Uint8Array.from([0x40 | ((bytes[0] ?? 0) & 0x3f), ...bytes.subarray(1)]));
        decodeOrFormatError(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts unsorted options stably when encoding', () => {
    fc.assert(
      fc.property(fc.array(optionArb, { maxLength: 8 }), (options) => {
        const m = msg({ options });
        assert.deepEqual(
          plain(decodeCoapUdp(encodeCoapUdp(m))).options,
          plain(msg({ options: sortOptions(options) })).options,
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('mutated datagrams', () => {
  it('throw nothing but CoapFormatError, in bounded time (5000 seeded mutants)', () => {
    const seeds = [
      '4802df016843d0ee03c03299b272641128396c776d326d3d312e320d0a65703d75726e3a6465763a636c69656e742d612d303031066c743d333030ff3c2f312f313e',
      '6841df016843d0ee03c032998272640130',
      '44013f6cc0393ee2b1330130',
      '60001234',
      '58450001' + '0102030405060708' + '60' + 'c16e' + 'd10a16' + 'e1001f0c' + 'ff' + 'a1616101',
      toHex(
        encodeCoapUdp(
          msg({
            options: [
              { number: 11, value: new Uint8Array(300).fill(0x61) },
              { number: 292, value: hex('01') },
              { number: 2000, value: new Uint8Array(20) },
            ],
            payload: hex('00ff'),
          }),
        ),
      ),
    ].map(hex);
    const rand = mulberry32(0xc0a9);
    const reasons = new Map<string, number>();
    let decoded = 0;
    const started = Date.now();
    for (let i = 0; i < 5000; i++) {
      const input = mutate(seeds[i % seeds.length]!, rand, {
        interesting: [0x00, 0x0d, 0x0e, 0x0f, 0xd0, 0xe0, 0xf0, 0xff, 0x40, 0x49, 0x4f],
      });
      const r = decodeOrFormatError(input);
      if (r instanceof CoapFormatError) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
      else decoded++;
    }
    assert.ok(decoded > 500, `some mutants still decode (${decoded})`);
    for (const reason of [
      'truncated',
      'bad-version',
      'bad-token-length',
      'bad-option-nibble',
      'empty-payload',
    ])
      assert.ok(reasons.has(reason), `mutants hit ${reason}: ${JSON.stringify([...reasons])}`);
    assert.ok(Date.now() - started < 3000, 'fast');
  });
});

describe('buffers', () => {
  const message = (payload: Uint8Array): CoapMessage => ({
    type: 'CON',
    code: CoapCode.POST,
    messageId: 0x1234,
    token: Uint8Array.of(1, 2, 3, 4),
    options: [{ number: 11, value: new TextEncoder().encode('rd') }],
    payload,
  });

  it('decoded token and small values are copies; a large payload may be a view, with the right bytes', () => {
    const big = new Uint8Array(200).map((_, i) => i);
    for (const payload of [Uint8Array.of(9, 8, 7), big]) {
      const bytes = encodeCoapUdp(message(payload)).slice();
      const m = decodeCoapUdp(bytes);
      bytes.fill(0xee, 4); // the caller reuses its buffer
      assert.deepEqual([...m.token], [1, 2, 3, 4]);
      assert.equal(new TextDecoder().decode(m.options[0]!.value), 'rd');
      if (payload.length <= 64) assert.deepEqual([...m.payload], [...payload]);
      else assert.equal(m.payload.length, payload.length);
    }
    const m = decodeCoapUdp(encodeCoapUdp(message(big)));
    assert.deepEqual([...m.payload], [...big]);
  });

  it('each encoded datagram is its own exact region: writing one never touches another', () => {
    const all = Array.from({ length: 3000 }, (_, i) =>
      encodeCoapUdp(message(new Uint8Array(i % 40).fill(i & 0xff))),
    );
    const copies = all.map((b) => b.slice());
    // A distinct mark in each: if two regions overlapped, the later fill would show in the earlier one.
    for (const [i, b] of all.entries()) b.fill(i & 0xff);
    for (const [i, b] of all.entries()) {
      assert.equal(b.length, copies[i]!.length);
      assert.ok(
        b.every((x) => x === (i & 0xff)),
        `datagram ${i} kept its mark`,
      );
    }
    const fresh = all.map((_, i) => encodeCoapUdp(message(new Uint8Array(i % 40).fill(i & 0xff))));
    assert.deepEqual(
      fresh.map((b) => toHex(b)),
      copies.map((b) => toHex(b)),
    );
    assert.ok(copies.every((b) => decodeCoapUdp(b).messageId === 0x1234));
  });
});
