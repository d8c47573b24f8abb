import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import {
  BERT_SZX,
  CoapOptionError,
  MAX_BLOCK_NUM,
  OPTIONS,
  OptionNumber,
  OptionsBuilder,
  SIGNAL_OPTIONS,
  accept,
  addOption,
  block1,
  block2,
  blockSize,
  checkOptions,
  contentFormat,
  decodeBlock,
  decodeUint,
  decodeUintBig,
  dropIgnored,
  encodeBlock,
  encodeUint,
  firstUnrecognizedCritical,
  getOption,
  getOptions,
  getString,
  getStrings,
  getUint,
  hasOption,
  isCritical,
  isNoCacheKey,
  isUnsafe,
  locationPath,
  locationQuery,
  observe,
  optionDefinition,
  optionDefinitionFor,
  optionName,
  problemCode,
  removeOption,
  setBlock,
  setEmpty,
  setOption,
  setString,
  setUint,
  setUriPath,
  setUriQuery,
  sizeToSzx,
  sortOptions,
  uriPath,
  uriQuery,
  type CoapOptionReason,
  type OptionCheck,
} from '../../src/coap/options.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const message = (options: CoapOption[], code: number = CoapCode.GET): CoapMessage => ({
  type: 'CON',
  code,
  messageId: 1,
  token: new Uint8Array(0),
  options,
  payload: new Uint8Array(0),
});
const opt = (number: number, value: string | Uint8Array): CoapOption => ({
  number,
  value: typeof value === 'string' ? utf8(value) : value,
});
const optionList = (msg: CoapMessage): [number, string][] =>
  msg.options.map((o) => [o.number, toHex(o.value)]);

function assertOptionError(fn: () => unknown, reason: CoapOptionReason): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CoapOptionError, `expected CoapOptionError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.code, 'PETREL_ERR_COAP_OPTION');
    return true;
  });
}

describe('option registry', () => {
  // number, name, format, repeatable, min, max, and the C/U/N flags of the RFC tables.
  const EXPECTED: [number, string, string, boolean, number, number, string][] = [
    [1, 'If-Match', 'opaque', true, 0, 8, 'C'],
    [3, 'Uri-Host', 'string', false, 1, 255, 'CU'],
    [4, 'ETag', 'opaque', true, 1, 8, ''],
    [5, 'If-None-Match', 'empty', false, 0, 0, 'C'],
    [6, 'Observe', 'uint', false, 0, 3, 'U'],
    [7, 'Uri-Port', 'uint', false, 0, 2, 'CU'],
    [8, 'Location-Path', 'string', true, 0, 255, ''],
    [9, 'OSCORE', 'opaque', false, 0, 255, 'C'],
    [11, 'Uri-Path', 'string', true, 0, 255, 'CU'],
    [12, 'Content-Format', 'uint', false, 0, 2, ''],
    [14, 'Max-Age', 'uint', false, 0, 4, 'U'],
    [15, 'Uri-Query', 'string', true, 0, 255, 'CU'],
    [17, 'Accept', 'uint', false, 0, 2, 'C'],
    [20, 'Location-Query', 'string', true, 0, 255, ''],
    [23, 'Block2', 'uint', false, 0, 3, 'CU'],
    [27, 'Block1', 'uint', false, 0, 3, 'CU'],
    [28, 'Size2', 'uint', false, 0, 4, 'N'],
    [35, 'Proxy-Uri', 'string', false, 1, 1034, 'CU'],
    [39, 'Proxy-Scheme', 'string', false, 1, 255, 'CU'],
    [60, 'Size1', 'uint', false, 0, 4, 'N'],
    [252, 'Echo', 'opaque', false, 1, 40, 'N'],
    [258, 'No-Response', 'uint', false, 0, 1, 'U'],
    [292, 'Request-Tag', 'opaque', true, 0, 8, ''],
  ];

  it('holds every option LwM2M needs, in number order, with format, lengths and flags', () => {
    assert.deepEqual(
      OPTIONS.map((d) => [
        d.number,
        d.name,
        d.format,
        d.repeatable,
        d.minLength,
        d.maxLength,
        (d.critical ? 'C' : '') + (d.unsafe ? 'U' : '') + (d.noCacheKey ? 'N' : ''),
      ]),
      EXPECTED,
    );
    for (const [number, name] of EXPECTED) {
      assert.equal(optionDefinition(number)?.name, name);
      assert.equal(optionName(number), name);
    }
  });

  it('derives the flags from the number bits (RFC 7252 §5.4.6)', () => {
    assert.deepEqual([0, 1, 2, 3].map(isCritical), [false, true, false, true]);
    assert.deepEqual([0, 1, 2, 3].map(isUnsafe), [false, false, true, true]);
    // NoCacheKey: bits 1-4 are 0b1110, i.e. number & 0x1e == 0x1c; a NoCacheKey option is always safe.
    assert.deepEqual([28, 29, 60, 61, 252, 30, 24, 12].map(isNoCacheKey), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it('names unknown options by number', () => {
    assert.equal(optionDefinition(2048), undefined);
    assert.equal(optionName(2048), 'Option 2048');
  });

  it('has the signalling options of RFC 8323 §5 per signal code', () => {
    const table = [...SIGNAL_OPTIONS].map(([code, defs]) => [
      code,
      defs.map((d) => [d.number, d.name, d.format, d.repeatable, d.minLength, d.maxLength]),
    ]);
    assert.deepEqual(table, [
      [
        CoapCode.CSM,
        [
          [2, 'Max-Message-Size', 'uint', false, 0, 4],
          [4, 'Block-Wise-Transfer', 'empty', false, 0, 0],
        ],
      ],
      [CoapCode.PING, [[2, 'Custody', 'empty', false, 0, 0]]],
      [CoapCode.PONG, [[2, 'Custody', 'empty', false, 0, 0]]],
      [
        CoapCode.RELEASE,
        [
          [2, 'Alternative-Address', 'string', true, 1, 255],
          [4, 'Hold-Off', 'uint', false, 0, 3],
        ],
      ],
      [CoapCode.ABORT, [[2, 'Bad-CSM-Option', 'uint', false, 0, 2]]],
    ]);
    assert.equal(optionDefinitionFor(CoapCode.CSM, 2)?.name, 'Max-Message-Size');
    assert.equal(optionDefinitionFor(CoapCode.ABORT, 2)?.name, 'Bad-CSM-Option');
    assert.equal(optionDefinitionFor(CoapCode.CSM, 11), undefined, 'Uri-Path is no signalling option');
    assert.equal(optionDefinitionFor(CoapCode.GET, 2), undefined);
    assert.equal(optionName(4, CoapCode.RELEASE), 'Hold-Off');
  });
});

describe('uint values', () => {
  const CASES: [number | bigint, string][] = [
    [0, ''],
    [1, '01'],
    [255, 'ff'],
    [256, '0100'],
    [65535, 'ffff'],
    [65536, '010000'],
    [2 ** 24 - 1, 'ffffff'],
    [2 ** 24, '01000000'],
    [2 ** 32 - 1, 'ffffffff'],
    [2 ** 32, '0100000000'],
    [Number.MAX_SAFE_INTEGER, '1fffffffffffff'],
    [2n ** 56n, '0100000000000000'],
    [2n ** 64n - 1n, 'ffffffffffffffff'],
  ];

  it('encodes in the fewest big-endian bytes, 0 as empty', () => {
    for (const [v, h] of CASES) assert.equal(toHex(encodeUint(v)), h, String(v));
    assert.equal(toHex(encodeUint(300n)), '012c', 'small bigints take the number path');
  });

  it('decodes up to 4 bytes as a number and up to 8 as a bigint, leading zeros allowed', () => {
    for (const [v, h] of CASES) {
      if (h.length <= 8) assert.equal(decodeUint(hex(h)), Number(v), h);
      assert.equal(decodeUintBig(hex(h)), BigInt(v), h);
    }
    assert.equal(decodeUint(hex('0001')), 1);
    assert.equal(decodeUint(hex('00000000')), 0);
    assertOptionError(() => decodeUint(hex('0100000000')), 'bad-length');
    assertOptionError(() => decodeUintBig(hex('010000000000000000')), 'bad-length');
  });

  it('rejects values that are no uint', () => {
    for (const v of [-1, 1.5, NaN, Infinity, 2 ** 53, -1n, 2n ** 64n])
      assertOptionError(() => encodeUint(v), 'bad-value');
  });

  it('round-trips every 32-bit value, minimally', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v) => {
        const bytes = encodeUint(v);
        assert.equal(decodeUint(bytes), v);
        assert.ok(bytes.length === 0 || bytes[0] !== 0, 'no leading zero');
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        const bytes = encodeUint(v);
        assert.equal(decodeUintBig(bytes), v);
        assert.ok(bytes.length === 0 || bytes[0] !== 0, 'no leading zero');
      }),
    );
  });
});

describe('Block option values (RFC 7959 §2.2)', () => {
  it('encodes num, M and SZX in the fewest bytes', () => {
    const cases: [number, boolean, number, string][] = [
      [0, false, 0, ''],
      [0, true, 6, '0e'],
      [1, false, 6, '16'],
      [15, true, 2, 'fa'],
      [16, false, 0, '0100'],
      [4095, true, 7, 'ffff'],
      [4096, false, 1, '010001'],
      [MAX_BLOCK_NUM, true, 6, 'fffffe'],
    ];
    for (const [num, more, szx, h] of cases) {
      assert.equal(toHex(encodeBlock({ num, more, szx })), h, `${num}/${more}/${szx}`);
      assert.deepEqual(decodeBlock(hex(h)), { num, more, szx }, h);
    }
  });

  it('rejects a block number past 20 bits and an SZX past 7', () => {
    assertOptionError(() => encodeBlock({ num: MAX_BLOCK_NUM + 1, more: false, szx: 0 }), 'bad-value');
    assertOptionError(() => encodeBlock({ num: -1, more: false, szx: 0 }), 'bad-value');
    assertOptionError(() => encodeBlock({ num: 0, more: false, szx: 8 }), 'bad-value');
    assertOptionError(() => encodeBlock({ num: 0.5, more: false, szx: 0 }), 'bad-value');
  });

  it('gives no block for a value past 3 bytes', () => {
    assert.equal(decodeBlock(hex('00000016')), undefined);
  });

  it('maps SZX and sizes: 16 .. 1024, and BERT counts in 1024-byte units', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(blockSize), [16, 32, 64, 128, 256, 512, 1024]);
    assert.equal(blockSize(BERT_SZX), 1024);
    assert.deepEqual([16, 32, 64, 128, 256, 512, 1024].map(sizeToSzx), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(sizeToSzx(2048), undefined);
    assert.equal(sizeToSzx(100), undefined);
    assert.equal(sizeToSzx(0), undefined);
  });

  it('round-trips every block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_BLOCK_NUM }),
        fc.boolean(),
        fc.integer({ min: 0, max: 7 }),
        (num, more, szx) => {
          const bytes = encodeBlock({ num, more, szx });
          assert.ok(bytes.length <= 3);
          assert.deepEqual(decodeBlock(bytes), { num, more, szx });
        },
      ),
    );
  });
});

describe('reading options', () => {
  const msg = message([
    opt(6, hex('')),
    opt(11, '3'),
    opt(11, '0'),
    opt(11, '7'),
    opt(12, hex('2d16')),
    opt(15, 'pmin=1'),
    opt(15, 'pmax=5'),
    opt(17, hex('70')),
    opt(23, hex('1e')),
  ]);

  it('reads Uri-Path and Uri-Query in order, and uint options', () => {
    assert.deepEqual(uriPath(msg), ['3', '0', '7']);
    assert.deepEqual(uriQuery(msg), ['pmin=1', 'pmax=5']);
    assert.equal(contentFormat(msg), 11542);
    assert.equal(accept(msg), 112);
    assert.equal(observe(msg), 0, 'an empty Observe is 0');
    assert.deepEqual(block2(msg), { num: 1, more: true, szx: 6 });
    assert.equal(block1(msg), undefined);
    assert.equal(getString(msg, 11), '3');
    assert.deepEqual(getStrings(msg, 11), ['3', '0', '7']);
    assert.equal(toHex(getOption(msg, 12)!), '2d16');
    assert.deepEqual(getOptions(msg, 15).map(toHex), [toHex(utf8('pmin=1')), toHex(utf8('pmax=5'))]);
    assert.equal(hasOption(msg, 6), true);
    assert.equal(hasOption(msg, 5), false);
  });

  it('gives empty lists and undefined for absent options', () => {
    const bare = message([]);
    assert.deepEqual(uriPath(bare), [], 'the root');
    assert.deepEqual(uriQuery(bare), []);
    assert.deepEqual(locationPath(bare), []);
    assert.deepEqual(locationQuery(bare), []);
    assert.equal(getUint(bare, 12), undefined);
    assert.equal(getString(bare, 3), undefined);
    assert.equal(getOption(bare, 3), undefined);
  });

  it('keeps empty segments and a leading BOM, and never throws on bad UTF-8', () => {
    const m = message([opt(11, ''), opt(11, hex('efbbbf61')), opt(11, hex('ff61'))]);
    assert.deepEqual(uriPath(m), ['', '\ufeffa', '\ufffda']);
  });

  it('gives no uint for a value past 4 bytes', () => {
    assert.equal(getUint(message([opt(14, hex('0100000000'))]), 14), undefined);
    assert.equal(getUint(message([opt(14, hex('00000001'))]), 14), 1);
  });

  it('reads Location-Path and Location-Query', () => {
    const m = message([opt(8, 'rd'), opt(8, '0'), opt(20, 'a=1')], CoapCode.CREATED);
    assert.deepEqual(locationPath(m), ['rd', '0']);
    assert.deepEqual(locationQuery(m), ['a=1']);
  });
});

describe('building options', () => {
  it('sorts by number and keeps repeated options in the order given', () => {
    const options = new OptionsBuilder()
      .uriQuery(['b=2'])
      .uint(OptionNumber.ACCEPT, 112)
      .uriPath(['rd', '0'])
      .uriQuery(['a=1'])
      .empty(OptionNumber.IF_NONE_MATCH)
      .block(OptionNumber.BLOCK1, { num: 2, more: true, szx: 4 })
      .add(OptionNumber.ETAG, hex('0102'))
      .string(OptionNumber.URI_HOST, 'example.com')
      .build();
    assert.deepEqual(
      options.map((o) => [o.number, toHex(o.value)]),
      [
        [3, toHex(utf8('example.com'))],
        [4, '0102'],
        [5, ''],
        [11, toHex(utf8('rd'))],
        [11, toHex(utf8('0'))],
        [15, toHex(utf8('b=2'))],
        [15, toHex(utf8('a=1'))],
        [17, '70'],
        [27, '2c'],
      ],
    );
  });

  it('checks lengths and formats against the registry', () => {
    assertOptionError(() => new OptionsBuilder().uint(OptionNumber.URI_PATH, 1), 'format-mismatch');
    assertOptionError(() => new OptionsBuilder().string(OptionNumber.ACCEPT, 'x'), 'format-mismatch');
    assertOptionError(() => new OptionsBuilder().empty(OptionNumber.ETAG), 'format-mismatch');
    assertOptionError(() => new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 65536), 'bad-length');
    assertOptionError(() => new OptionsBuilder().string(OptionNumber.URI_HOST, ''), 'bad-length');
    assertOptionError(() => new OptionsBuilder().add(OptionNumber.ETAG, new Uint8Array(9)), 'bad-length');
    assertOptionError(
      () => new OptionsBuilder().string(OptionNumber.URI_PATH, 'x'.repeat(256)),
      'bad-length',
    );
    assertOptionError(() => new OptionsBuilder().add(65536, hex('')), 'bad-value');
    assertOptionError(() => new OptionsBuilder().add(-1, hex('')), 'bad-value');
    // Unknown numbers take any length the wire carries.
    assert.equal(new OptionsBuilder().add(2048, new Uint8Array(1000)).build().length, 1);
    assertOptionError(() => new OptionsBuilder().add(2048, new Uint8Array(65805)), 'bad-length');
    // Signalling codes use their own table.
    assert.equal(new OptionsBuilder(CoapCode.CSM).uint(2, 1152).build().length, 1);
    assertOptionError(() => new OptionsBuilder(CoapCode.CSM).uint(4, 1), 'format-mismatch');
  });

  it('Uri-Path segments encode as UTF-8 and are checked, whether new or seen before', () => {
    for (let round = 0; round < 2; round++) {
      const segments = ['3303', '', 'é', 'x'.repeat(70), 'a\u{1F600}b'];
      const options = new OptionsBuilder().uriPath(segments).build();
      assert.deepEqual(
        options.map((o) => [o.number, toHex(o.value)]),
        segments.map((s) => [OptionNumber.URI_PATH, toHex(utf8(s))]),
      );
      assertOptionError(() => new OptionsBuilder().uriPath(['ok', 'x'.repeat(256)]), 'bad-length');
      assertOptionError(() => new OptionsBuilder().uriPath(['é'.repeat(128)]), 'bad-length');
    }
    // Signalling messages keep their own table (Uri-Path is not one of their options).
    assert.equal(new OptionsBuilder(CoapCode.CSM).uriPath(['a']).build()[0]!.number, OptionNumber.URI_PATH);
  });

  it('encodes strings as TextEncoder does (the ASCII path included)', () => {
    // Up to 80 code units: the short path ends at 64; 'binary' units include lone surrogates.
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
    );
    fc.assert(
      fc.property(text, (s) => {
        const options = new OptionsBuilder().string(OptionNumber.URI_QUERY, s).build();
        assert.equal(toHex(options[0]!.value), toHex(utf8(s)));
      }),
    );
  });

  it('sortOptions is stable and leaves its input alone', () => {
    const input = [opt(15, 'b'), opt(11, 'x'), opt(15, 'a'), opt(11, 'y'), opt(1, 'z')];
    const sorted = sortOptions(input);
    assert.deepEqual(
      sorted.map((o) => [o.number, new TextDecoder().decode(o.value)]),
      [
        [1, 'z'],
        [11, 'x'],
        [11, 'y'],
        [15, 'b'],
        [15, 'a'],
      ],
    );
    assert.equal(input[0]!.number, 15);
  });
});

describe('changing the options of a message', () => {
  const base = message([opt(11, 'a'), opt(15, 'q=1'), opt(17, hex('28'))]);

  it('adds after the options of the same number, in number order', () => {
    const m = addOption(addOption(base, 11, utf8('b')), 12, hex('6e'));
    assert.deepEqual(optionList(m), [
      [11, toHex(utf8('a'))],
      [11, toHex(utf8('b'))],
      [12, '6e'],
      [15, toHex(utf8('q=1'))],
      [17, '28'],
    ]);
    assert.equal(base.options.length, 3, 'the input is unchanged');
    assert.deepEqual(optionList(addOption(base, 1, [hex('01'), hex('02')])).slice(0, 2), [
      [1, '01'],
      [1, '02'],
    ]);
    assert.deepEqual(optionList(addOption(base, 300, hex('')))[3], [300, '']);
  });

  it('sets, replaces and removes', () => {
    assert.deepEqual(uriPath(setUriPath(base, ['3', '0', '1'])), ['3', '0', '1']);
    assert.deepEqual(uriQuery(setUriQuery(base, [])), []);
    assert.equal(accept(setUint(base, OptionNumber.ACCEPT, 11542)), 11542);
    assert.equal(getString(setString(base, OptionNumber.URI_HOST, 'h'), 3), 'h');
    assert.equal(hasOption(setEmpty(base, OptionNumber.IF_NONE_MATCH), 5), true);
    assert.deepEqual(block1(setBlock(base, 27, { num: 3, more: false, szx: 2 })), {
      num: 3,
      more: false,
      szx: 2,
    });
    assert.deepEqual(optionList(setOption(base, 17, hex('6e'))).at(-1), [17, '6e']);
    assert.deepEqual(optionList(removeOption(base, 15)), [
      [11, toHex(utf8('a'))],
      [17, '28'],
    ]);
    assert.equal(removeOption(base, 99), base, 'nothing to remove: the same message');
    assert.deepEqual(optionList(setOption(base, 11, [])), optionList(removeOption(base, 11)));
  });

  it('refuses values the registry does not allow', () => {
    assertOptionError(() => setString(base, OptionNumber.ACCEPT, 'x'), 'format-mismatch');
    assertOptionError(() => setUint(base, OptionNumber.OBSERVE, 2 ** 24), 'bad-length');
    assertOptionError(() => addOption(base, OptionNumber.ECHO, hex('')), 'bad-length');
    assertOptionError(() => setUint(base, OptionNumber.ACCEPT, -1), 'bad-value');
  });
});

describe('checkOptions (RFC 7252 §5.4)', () => {
  const ok = (c: OptionCheck): void => assert.equal(c.ok, true, c.ok ? '' : c.problem.message);
  const problem = (c: OptionCheck) => {
    assert.equal(c.ok, false);
    return c.ok ? assert.fail() : c.problem;
  };

  it('accepts a request with known options', () => {
    const c = checkOptions(
      message([
        opt(6, hex('')),
        opt(11, 'rd'),
        opt(12, hex('28')),
        opt(15, 'ep=a'),
        opt(15, 'lt=300'),
        opt(23, hex('16')),
      ]),
    );
    ok(c);
    assert.deepEqual(c.ignored, []);
  });

  it('reports the first unrecognised critical option (4.02)', () => {
    const p = problem(checkOptions(message([opt(11, 'a'), opt(2049, ''), opt(4097, '')])));
    assert.equal(p.kind, 'unrecognized');
    assert.equal(p.number, 2049);
    assert.equal(p.index, 1);
    assert.equal(p.critical, true);
    assert.equal(problemCode(p), CoapCode.BAD_OPTION);
    assert.equal(firstUnrecognizedCritical(message([opt(11, 'a'), opt(2049, '')])), 2049);
    assert.equal(firstUnrecognizedCritical(message([opt(11, 'a')])), undefined);
  });

  it('ignores unrecognised elective options, and dropIgnored removes them', () => {
    const m = message([opt(11, 'a'), opt(2048, 'x'), opt(2050, '')]);
    const c = checkOptions(m);
    ok(c);
    assert.deepEqual(
      c.ignored.map((p) => [p.kind, p.number, p.index, p.critical]),
      [
        ['unrecognized', 2048, 1, false],
        ['unrecognized', 2050, 2, false],
      ],
    );
    assert.deepEqual(optionList(dropIgnored(m, c)), [[11, toHex(utf8('a'))]]);
    const clean = message([opt(11, 'a')]);
    assert.equal(dropIgnored(clean, checkOptions(clean)), clean);
  });

  it('treats a bad length like an unrecognised option (§5.4.3)', () => {
    const p = problem(checkOptions(message([opt(3, '')])));
    assert.deepEqual([p.kind, p.number], ['bad-length', 3]);
    assert.equal(problemCode(p), CoapCode.BAD_OPTION);
    assert.equal(problem(checkOptions(message([opt(1, new Uint8Array(9))]))).kind, 'bad-length');
    assert.equal(problem(checkOptions(message([opt(5, hex('00'))]))).kind, 'bad-length');
    assert.equal(problem(checkOptions(message([opt(23, hex('00000000'))]))).kind, 'bad-length');
    assert.equal(problem(checkOptions(message([opt(35, 'x'.repeat(1035))]))).kind, 'bad-length');
    ok(checkOptions(message([opt(35, 'x'.repeat(1034))])));
    // An elective option of a bad length is ignored.
    const c = checkOptions(message([opt(12, hex('000028')), opt(252, new Uint8Array(41))]));
    ok(c);
    assert.deepEqual(
      c.ignored.map((p) => [p.kind, p.number]),
      [
        ['bad-length', 12],
        ['bad-length', 252],
      ],
    );
  });

  it('treats a repeated non-repeatable option like an unrecognised one (§5.4.5)', () => {
    const p = problem(checkOptions(message([opt(17, hex('28')), opt(17, hex('6e'))])));
    assert.deepEqual([p.kind, p.number, p.index], ['not-repeatable', 17, 1]);
    const c = checkOptions(message([opt(12, hex('28')), opt(12, hex('6e'))]));
    ok(c);
    assert.deepEqual(
      c.ignored.map((p) => [p.kind, p.index]),
      [['not-repeatable', 1]],
    );
  });

  it('lets ETag repeat in requests only (§5.10.6)', () => {
    const etags = [opt(4, hex('01')), opt(4, hex('02'))];
    const req = checkOptions(message(etags));
    ok(req);
    assert.deepEqual(req.ignored, []);
    const res = checkOptions(message(etags, CoapCode.CONTENT));
    ok(res);
    assert.deepEqual(
      res.ignored.map((p) => p.kind),
      ['not-repeatable'],
    );
    assert.deepEqual(
      checkOptions(message(etags), { role: 'response' }).ignored.map((p) => p.kind),
      ['not-repeatable'],
    );
  });

  it('reports strings that are not UTF-8 (4.00)', () => {
    const p = problem(checkOptions(message([opt(11, hex('c3'))])));
    assert.equal(p.kind, 'bad-utf8');
    assert.equal(problemCode(p), CoapCode.BAD_REQUEST);
    assert.deepEqual(
      checkOptions(message([opt(8, hex('ff'))], CoapCode.CREATED)).ignored.map((p) => p.kind),
      ['bad-utf8'],
    );
  });

  it('reports Block SZX 7 on UDP (4.00) and accepts it as BERT on reliable transports', () => {
    const m = message([opt(27, hex('0f'))]);
    const p = problem(checkOptions(m));
    assert.deepEqual([p.kind, p.number], ['reserved-szx', 27]);
    assert.equal(problemCode(p), CoapCode.BAD_REQUEST);
    ok(checkOptions(m, { reliable: true }));
    assert.equal(problem(checkOptions(message([opt(23, hex('0107'))]))).kind, 'reserved-szx');
  });

  it('checks signalling messages against their own table', () => {
    const csm = message([opt(2, hex('0480')), opt(4, hex(''))], CoapCode.CSM);
    ok(checkOptions(csm));
    assert.deepEqual(checkOptions(csm).ignored, []);
    const p = problem(checkOptions(message([opt(3, hex(''))], CoapCode.CSM)));
    assert.deepEqual([p.kind, p.number], ['unrecognized', 3]);
    assert.deepEqual(
      checkOptions(message([opt(2, hex('00'))], CoapCode.PING)).ignored.map((x) => [x.kind, x.number]),
      [['bad-length', 2]],
    );
    assert.deepEqual(
      checkOptions(message([opt(2, 'a'), opt(2, 'b')], CoapCode.RELEASE)).ignored,
      [],
      'Alternative-Address repeats',
    );
    // Block1's number means nothing in a signal, and SZX 7 is not looked at there.
    assert.equal(problem(checkOptions(message([opt(27, hex('0f'))], CoapCode.CSM))).kind, 'unrecognized');
  });

  it('firstUnrecognizedCritical agrees with checkOptions on mostly well-formed lists (its no-allocation fast path)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(...OPTIONS).chain((d) =>
            fc.record({
              number: fc.constant(d.number),
              value:
                d.format === 'string'
                  ? fc
                      .string({ minLength: d.minLength, maxLength: Math.min(d.maxLength, 12) })
                      .map((t) => new TextEncoder().encode(t))
                  : fc.uint8Array({ minLength: d.minLength, maxLength: Math.min(d.maxLength + 1, 9) }),
            }),
          ),
          { maxLength: 8 },
        ),
        fc.constantFrom(CoapCode.GET, CoapCode.POST, CoapCode.CONTENT),
        fc.boolean(),
        (options, code, reliable) => {
          const m = message(sortOptions(options), code);
          const c = checkOptions(m, { reliable });
          assert.equal(firstUnrecognizedCritical(m, { reliable }), c.ok ? undefined : c.problem.number);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('checks random option lists without throwing, critical problems first-in-order', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            number: fc.oneof(
              fc.constantFrom(...OPTIONS.map((d) => d.number)),
              fc.integer({ min: 0, max: 400 }),
            ),
            value: fc.uint8Array({ maxLength: 12 }),
          }),
          { maxLength: 10 },
        ),
        fc.constantFrom(CoapCode.GET, CoapCode.CONTENT, CoapCode.CSM, CoapCode.RELEASE),
        (options, code) => {
          const m = message(sortOptions(options), code);
          const c = checkOptions(m);
          for (const p of c.ignored) assert.equal(p.critical, false);
          if (!c.ok) {
            assert.equal(c.problem.critical, true);
            assert.equal(firstUnrecognizedCritical(m), c.problem.number);
          }
          const kept = dropIgnored(m, c);
          assert.deepEqual(checkOptions(kept).ignored, [], 'nothing left to ignore after dropping');
        },
      ),
    );
  });
});
