import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BindingChoiceError,
  DEFAULT_CLIENT_PREFERENCE,
  PDN_TYPES,
  chooseTransport,
  isBindingLetter,
  isTransportChoiceFailure,
  needsReconnect,
  parseBindingLetters,
  parseTriggerArgument,
  pdnTypeBindings,
  schemeBinding,
  uriBinding,
} from '../../src/client/binding-choice.js';
import type {
  BindingLetter,
  TransportChoice,
  TransportChoiceInput,
  TransportChoiceResult,
} from '../../src/client/binding-choice.js';
import { parseExecuteQuery } from '../../src/operations/execute-arguments.js';

const LETTERS: readonly BindingLetter[] = ['U', 'T', 'S', 'N', 'M', 'H'];

function ok(r: TransportChoiceResult): TransportChoice {
  if (isTransportChoiceFailure(r))
    assert.fail(`expected a choice, got ${r.error.reason}: ${r.error.message}`);
  return r;
}

function rejects(fn: () => unknown, reason: string, messagePart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BindingChoiceError, `expected BindingChoiceError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_BINDING_CHOICE');
    assert.equal(e.reason, reason, e.message);
    if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
    return true;
  });
}

describe('schemeBinding / uriBinding', () => {
  const table: [string, BindingLetter | undefined][] = [
    ['coap', 'U'],
    ['coaps', 'U'],
    ['coap+tcp', 'T'],
    ['coaps+tcp', 'T'],
    ['mqtt', 'M'],
    ['mqtts', 'M'],
    ['http', 'H'],
    ['https', 'H'],
    ['sms', 'S'],
    ['lorawan', 'N'],
    ['COAPS', 'U'],
    ['coaps:', 'U'],
    ['coap+ws', undefined],
    ['ftp', undefined],
    ['', undefined],
    ['coap'.repeat(10), undefined],
  ];
  for (const [scheme, letter] of table)
    it(`${JSON.stringify(scheme)} -> ${String(letter)}`, () => assert.equal(schemeBinding(scheme), letter));

  it('reads the scheme of a URI', () => {
    assert.equal(uriBinding('coaps+tcp://lwm2m.example:5684'), 'T');
    assert.equal(uriBinding('coap://[::1]:5683'), 'U');
    assert.equal(uriBinding('mqtts://broker.example'), 'M');
    assert.equal(uriBinding('lorawan://2'), 'N');
    assert.equal(uriBinding('sms:+15105550101'), 'S');
    assert.equal(uriBinding('//no-scheme'), undefined);
    assert.equal(uriBinding('1coap://x'), undefined);
    assert.equal(uriBinding(''), undefined);
    assert.equal(uriBinding(42 as unknown as string), undefined);
  });
});

describe('parseBindingLetters', () => {
  const good: [string, string, boolean][] = [
    ['U', 'U', false],
    ['UT', 'UT', false],
    ['UN', 'UN', false],
    ['TU', 'TU', false],
    ['UTSNMH', 'UTSNMH', false],
    // 1.0 forms with queue mode inside (Core 1.0: U, UQ, S, SQ, US, UQS).
    ['UQ', 'U', true],
    ['SQ', 'S', true],
    ['US', 'US', false],
    ['UQS', 'US', true],
  ];
  for (const [text, letters, queue] of good)
    it(`accepts ${text}`, () =>
      assert.deepEqual(parseBindingLetters(text), { letters: [...letters], queue }));

  const bad: [string, string][] = [
    ['', 'empty'],
    ['X', 'unknown binding letter "X"'],
    ['u', 'unknown binding letter "u"'],
    ['UU', '"U" twice'],
    ['UQQ', '"Q" twice'],
    ['Q', 'names no binding'],
    ['UTSNMHQX', 'too many letters'],
    ['U T', 'unknown binding letter " "'],
  ];
  for (const [text, part] of bad)
    it(`refuses ${JSON.stringify(text)}`, () =>
      rejects(() => parseBindingLetters(text), 'bad-binding-letters', part));

  it('refuses a non-string without crashing', () =>
    rejects(() => parseBindingLetters(undefined as unknown as string), 'bad-binding-letters'));
});

describe('pdnTypeBindings', () => {
  it('maps the /11/x/24 values', () => {
    assert.deepEqual(pdnTypeBindings(PDN_TYPES.NON_IP), ['N']);
    for (const t of [PDN_TYPES.IPV4, PDN_TYPES.IPV6, PDN_TYPES.IPV4V6])
      assert.deepEqual(pdnTypeBindings(t), ['U', 'T', 'M', 'H']);
    assert.equal(pdnTypeBindings(4), undefined);
    assert.equal(pdnTypeBindings(-1), undefined);
    assert.equal(pdnTypeBindings(1.5), undefined);
  });
});

const COAP = 'coap://lwm2m.example:5683';
const COAPS = 'coaps://lwm2m.example:5684';
const TCP = 'coaps+tcp://lwm2m.example:5684';
const MQTT = 'mqtts://broker.example:8883';
const HTTP = 'https://lwm2m.example';
const LORA = 'lorawan://2';
const SMS = 'sms:+15105550101';

describe('chooseTransport: the rule, step by step', () => {
  interface Row {
    name: string;
    input: TransportChoiceInput;
    letter: BindingLetter;
    uri: string;
    rule: TransportChoice['rule'];
    reason?: RegExp;
  }
  const rows: Row[] = [
    // Rule 4 and the U assumption.
    {
      name: 'only U everywhere',
      input: { serverUris: [COAP], binding: 'U', supported: 'U' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
    },
    {
      name: '/1/x/7 absent means U',
      input: { serverUris: [COAP, TCP], supported: 'UT' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
    },
    {
      name: 'U assumed on the server although /1/x/7 lists only T (client cannot do T)',
      input: { serverUris: [TCP, COAP], binding: 'T', supported: 'U' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /\+U assumed/,
    },
    {
      name: 'a binding both list, by the default preference (T before M)',
      input: { serverUris: [MQTT, TCP], binding: 'MT', supported: 'TM' },
      letter: 'T',
      uri: TCP,
      rule: 'common-binding',
    },
    {
      name: 'client preference reorders',
      input: { serverUris: [COAP, MQTT], binding: 'UM', supported: 'UM', clientPreference: ['M'] },
      letter: 'M',
      uri: MQTT,
      rule: 'common-binding',
    },
    {
      name: 'a binding listed by both but without a URI is skipped',
      input: { serverUris: [MQTT], binding: 'UTM', supported: 'UTM' },
      letter: 'M',
      uri: MQTT,
      rule: 'common-binding',
    },
    {
      name: 'secondary URI gives another scheme (/0/x/25)',
      input: { serverUris: [COAPS, TCP], binding: 'T', supported: 'T' },
      letter: 'T',
      uri: TCP,
      rule: 'common-binding',
    },
    {
      name: 'the primary URI wins over a secondary of the same binding',
      input: { serverUris: [COAPS, COAP], binding: 'U', supported: 'U' },
      letter: 'U',
      uri: COAPS,
      rule: 'common-binding',
    },
    {
      name: 'URIs with unknown schemes are passed over',
      input: { serverUris: ['coap+ws://x', 'ftp://y', COAP], binding: 'U', supported: 'U' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
    },
    {
      name: '1.0 legacy letters with Q in /1/x/7 and /3/0/16',
      input: { serverUris: [SMS, COAP], binding: 'UQS', supported: 'UQS', clientPreference: ['S'] },
      letter: 'S',
      uri: SMS,
      rule: 'common-binding',
    },
    // Rule 3: PDN type.
    {
      name: 'Non-IP PDN prefers N over the client preference for U',
      input: { serverUris: [COAP, LORA], binding: 'UN', supported: 'UN', pdnType: PDN_TYPES.NON_IP },
      letter: 'N',
      uri: LORA,
      rule: 'pdn-type',
    },
    {
      name: 'IP PDN picks an IP binding over a preferred N',
      input: {
        serverUris: [LORA, TCP],
        binding: 'NT',
        supported: 'NT',
        pdnType: PDN_TYPES.IPV6,
        clientPreference: ['N', 'T'],
      },
      letter: 'T',
      uri: TCP,
      rule: 'pdn-type',
    },
    {
      name: 'PDN binding not in /1/x/7 falls through to rule 4',
      input: { serverUris: [COAP, LORA], binding: 'U', supported: 'UN', pdnType: PDN_TYPES.NON_IP },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /no binding of the \/11\/x\/24 PDN Type 0/,
    },
    {
      name: 'undefined PDN type is skipped with a note',
      input: { serverUris: [COAP], binding: 'U', supported: 'U', pdnType: 9 },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /PDN Type 9 is not defined/,
    },
    // Rule 2: Preferred Transport.
    {
      name: 'Preferred Transport beats the PDN type and the client preference',
      input: {
        serverUris: [COAP, TCP, LORA],
        binding: 'UTN',
        supported: 'UTN',
        preferredTransport: 'T',
        pdnType: PDN_TYPES.NON_IP,
      },
      letter: 'T',
      uri: TCP,
      rule: 'preferred-transport',
    },
    {
      name: 'Preferred Transport U on a Non-IP device although /1/x/7 is N (FOTA)',
      input: { serverUris: [LORA, COAP], binding: 'N', supported: 'UN', preferredTransport: 'U' },
      letter: 'U',
      uri: COAP,
      rule: 'preferred-transport',
    },
    {
      name: 'Preferred Transport need not be in /1/x/7',
      input: { serverUris: [COAP, MQTT], binding: 'U', supported: 'UM', preferredTransport: 'M' },
      letter: 'M',
      uri: MQTT,
      rule: 'preferred-transport',
    },
    {
      name: 'Preferred Transport the client cannot do is skipped',
      input: { serverUris: [COAP, TCP], binding: 'UT', supported: 'U', preferredTransport: 'T' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /Preferred Transport T not possible: the client does not support T/,
    },
    {
      name: 'Preferred Transport without a URI is skipped',
      input: { serverUris: [COAP], binding: 'UT', supported: 'UT', preferredTransport: 'T' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /no server URI has a T scheme/,
    },
    {
      name: 'an invalid Preferred Transport is noted and ignored',
      input: { serverUris: [COAP], binding: 'U', supported: 'U', preferredTransport: 'UT' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /"UT" is not one binding letter/,
    },
    {
      name: 'an empty Preferred Transport means unset',
      input: { serverUris: [COAP], binding: 'U', supported: 'U', preferredTransport: '' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
    },
    // Rule 1: trigger override.
    {
      name: 'trigger argument beats the Preferred Transport',
      input: {
        serverUris: [COAP, TCP],
        binding: 'UT',
        supported: 'UT',
        preferredTransport: 'U',
        triggerOverride: 'T',
      },
      letter: 'T',
      uri: TCP,
      rule: 'trigger',
    },
    {
      name: 'trigger argument U is allowed although /1/x/7 lacks it',
      input: { serverUris: [TCP, COAP], binding: 'T', supported: 'UT', triggerOverride: 'U' },
      letter: 'U',
      uri: COAP,
      rule: 'trigger',
    },
    {
      name: 'trigger argument not in /1/x/7 is ignored',
      input: {
        serverUris: [COAP, MQTT],
        binding: 'U',
        supported: 'UM',
        triggerOverride: 'M',
        preferredTransport: 'U',
      },
      letter: 'U',
      uri: COAP,
      rule: 'preferred-transport',
      reason: /trigger argument M ignored: \/1\/x\/7 "U" does not list M/,
    },
    {
      name: 'trigger argument the client cannot do is ignored',
      input: { serverUris: [COAP, TCP], binding: 'UT', supported: 'U', triggerOverride: 'T' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /trigger argument T ignored: the client does not support T/,
    },
    {
      name: 'trigger argument without a URI is ignored',
      input: { serverUris: [COAP], binding: 'UT', supported: 'UT', triggerOverride: 'T' },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /trigger argument T ignored: no server URI has a T scheme/,
    },
    {
      name: 'a garbage trigger letter is noted and ignored',
      input: { serverUris: [COAP], binding: 'U', supported: 'U', triggerOverride: 'Z' as BindingLetter },
      letter: 'U',
      uri: COAP,
      rule: 'common-binding',
      reason: /trigger argument "Z" is not a binding/,
    },
  ];
  for (const row of rows)
    it(row.name, () => {
      const c = ok(chooseTransport(row.input));
      assert.equal(c.letter, row.letter, c.reason);
      assert.equal(c.uri, row.uri);
      assert.equal(c.rule, row.rule, c.reason);
      if (row.reason) assert.match(c.reason, row.reason);
    });

  it('reasons name the rule that picked', () => {
    assert.match(ok(chooseTransport(rows[0]!.input)).reason, /client's first choice/);
    assert.match(
      ok(chooseTransport({ serverUris: [TCP], binding: 'T', supported: 'T', triggerOverride: 'T' })).reason,
      /Registration Update Trigger argument/,
    );
    assert.match(
      ok(chooseTransport({ serverUris: [TCP], supported: 'T', preferredTransport: 'T' })).reason,
      /\/1\/x\/22 Preferred Transport/,
    );
  });

  it('the trigger override holds for one connection only', () => {
    const config: TransportChoiceInput = { serverUris: [COAP, TCP], binding: 'UT', supported: 'UT' };
    const before = ok(chooseTransport(config));
    const triggered = ok(chooseTransport({ ...config, triggerOverride: 'T' }));
    const after = ok(chooseTransport(config));
    assert.equal(before.letter, 'U');
    assert.equal(triggered.letter, 'T');
    assert.equal(needsReconnect(before.letter, triggered), true);
    assert.equal(after.letter, 'U');
    assert.equal(needsReconnect(triggered.letter, after), true);
  });
});

describe('chooseTransport: failures', () => {
  it('no possible binding', () => {
    const r = chooseTransport({ serverUris: [TCP], binding: 'T', supported: 'U' });
    assert.ok(isTransportChoiceFailure(r));
    assert.equal(r.error.reason, 'no-usable-binding');
    assert.match(r.error.message, /client supports U \(\/3\/0\/16\)/);
    assert.match(r.error.message, /server URIs reach T/);
  });

  it('keeps the notes of skipped rules in the failure message', () => {
    const r = chooseTransport({ serverUris: [LORA], binding: 'N', supported: 'U', triggerOverride: 'N' });
    assert.ok(isTransportChoiceFailure(r));
    assert.match(r.error.message, /trigger argument N ignored: the client does not support N/);
    assert.match(r.error.message, /server URIs reach N/);
  });

  it('no URI with a known scheme', () => {
    const r = chooseTransport({ serverUris: ['ftp://x'], supported: 'U' });
    assert.ok(isTransportChoiceFailure(r));
    assert.equal(r.error.reason, 'no-usable-binding');
    assert.match(r.error.message, /server URIs reach none/);
  });

  it('no URI at all', () => {
    const r = chooseTransport({ serverUris: [], supported: 'U' });
    assert.ok(isTransportChoiceFailure(r));
    assert.equal(r.error.reason, 'no-server-uri');
  });

  it('unparsable /1/x/7 and /3/0/16', () => {
    const b = chooseTransport({ serverUris: [COAP], binding: 'UX', supported: 'U' });
    assert.ok(isTransportChoiceFailure(b));
    assert.equal(b.error.reason, 'bad-binding');
    assert.match(b.error.message, /\/1\/x\/7 Binding: .*unknown binding letter "X"/);
    const s = chooseTransport({ serverUris: [COAP], supported: '' });
    assert.ok(isTransportChoiceFailure(s));
    assert.equal(s.error.reason, 'bad-supported');
  });

  it('odd input types do not throw', () => {
    const odd = [
      { serverUris: 'coap://x', supported: 'U' },
      { serverUris: [null, 7, COAP], supported: 'U', clientPreference: ['Z', 3] },
      { serverUris: [COAP], supported: 'U', pdnType: Number.NaN, preferredTransport: 5 },
    ] as unknown as TransportChoiceInput[];
    const [a, b, c] = odd.map((input) => chooseTransport(input));
    assert.ok(a && isTransportChoiceFailure(a));
    assert.equal(ok(b!).uri, COAP);
    assert.equal(ok(c!).letter, 'U');
  });
});

describe('chooseTransport: properties', () => {
  const letterSet = fc
    .subarray([...LETTERS], { minLength: 0 })
    .chain((ls) => fc.shuffledSubarray(ls, { minLength: ls.length, maxLength: ls.length }));
  const uriFor: Record<BindingLetter, fc.Arbitrary<string>> = {
    U: fc.constantFrom(COAP, COAPS),
    T: fc.constantFrom(TCP, 'coap+tcp://lwm2m.example'),
    M: fc.constantFrom(MQTT, 'mqtt://broker.example'),
    H: fc.constantFrom(HTTP, 'http://lwm2m.example'),
    N: fc.constant(LORA),
    S: fc.constant(SMS),
  };
  const anyUri = fc.oneof(
    ...LETTERS.map((l) => uriFor[l]),
    fc.constantFrom('ftp://x', 'coap+ws://y', 'garbage'),
  );
  const input: fc.Arbitrary<TransportChoiceInput> = fc.record(
    {
      serverUris: fc.array(anyUri, { minLength: 1, maxLength: 5 }),
      preferredTransport: fc.oneof(fc.constantFrom(...LETTERS), fc.constantFrom('', 'X', 'UT')),
      binding: letterSet.filter((ls) => ls.length > 0).map((ls) => ls.join('')),
      supported: letterSet.filter((ls) => ls.length > 0).map((ls) => ls.join('')),
      triggerOverride: fc.constantFrom(...LETTERS),
      pdnType: fc.integer({ min: -1, max: 4 }),
      clientPreference: letterSet,
    },
    { requiredKeys: ['serverUris', 'supported'] },
  );

  it('the chosen letter is supported by the client and the URI has its scheme', () => {
    fc.assert(
      fc.property(input, (i) => {
        const r = chooseTransport(i);
        if (isTransportChoiceFailure(r)) {
          // A failure only when no supported letter has a URI the server side allows.
          const supported = parseBindingLetters(i.supported).letters;
          const server = new Set(['U', ...parseBindingLetters(i.binding ?? 'U').letters]);
          const reachable = new Set(i.serverUris.map(uriBinding));
          const preferredOk =
            isBindingLetter(i.preferredTransport) &&
            supported.includes(i.preferredTransport) &&
            reachable.has(i.preferredTransport);
          assert.ok(!preferredOk);
          assert.ok(!supported.some((l) => server.has(l) && reachable.has(l)));
          return;
        }
        assert.ok(parseBindingLetters(i.supported).letters.includes(r.letter));
        assert.ok(i.serverUris.includes(r.uri));
        assert.equal(uriBinding(r.uri), r.letter);
        // The URI is the first one of that binding (primary before secondaries).
        assert.equal(
          i.serverUris.find((u) => uriBinding(u) === r.letter),
          r.uri,
        );
        // Only the Preferred Transport may pick a letter outside /1/x/7 + U.
        if (r.rule !== 'preferred-transport')
          assert.ok(r.letter === 'U' || parseBindingLetters(i.binding ?? 'U').letters.includes(r.letter));
      }),
      { numRuns: 500 },
    );
  });

  it('a usable trigger argument always wins', () => {
    fc.assert(
      fc.property(input, (i) => {
        const t = i.triggerOverride;
        if (t === undefined) return;
        const usable =
          parseBindingLetters(i.supported).letters.includes(t) &&
          (t === 'U' || parseBindingLetters(i.binding ?? 'U').letters.includes(t)) &&
          i.serverUris.some((u) => uriBinding(u) === t);
        const r = chooseTransport(i);
        if (usable) {
          const c = ok(r);
          assert.equal(c.letter, t);
          assert.equal(c.rule, 'trigger');
        } else if (!isTransportChoiceFailure(r)) assert.notEqual(r.rule, 'trigger');
      }),
      { numRuns: 300 },
    );
  });

  it('default preference is U, T, M, H, N, S', () => {
    assert.deepEqual([...DEFAULT_CLIENT_PREFERENCE], ['U', 'T', 'M', 'H', 'N', 'S']);
    const uris = [SMS, LORA, HTTP, MQTT, TCP, COAP];
    const picks: BindingLetter[] = [];
    let supported = 'UTMHNS';
    for (;;) {
      const r = chooseTransport({ serverUris: uris, binding: supported, supported });
      if (isTransportChoiceFailure(r)) break;
      picks.push(r.letter);
      supported = supported.replace(r.letter, '');
      if (supported === '') break;
    }
    assert.deepEqual(picks, ['U', 'T', 'M', 'H', 'N', 'S']);
  });
});

describe('parseTriggerArgument', () => {
  const good: [string, BindingLetter | undefined][] = [
    ["0='U'", 'U'],
    ["0='T'", 'T'],
    ['0=U', 'U'],
    ['0=M', 'M'],
    ['', undefined],
    ["1='x'", undefined],
    ["1='x',0='S'", 'S'],
    ['5', undefined],
  ];
  for (const [text, letter] of good)
    it(`${JSON.stringify(text)} -> ${String(letter)}`, () => {
      assert.equal(parseTriggerArgument(text), letter);
      assert.equal(parseTriggerArgument(new TextEncoder().encode(text)), letter);
    });

  it('takes parsed arguments, including the ?0=U query form', () => {
    assert.equal(parseTriggerArgument([{ digit: 0, value: 'N' }]), 'N');
    assert.equal(parseTriggerArgument([]), undefined);
    assert.equal(parseTriggerArgument(parseExecuteQuery(['0=U'])), 'U');
    assert.equal(parseTriggerArgument(parseExecuteQuery(["0='H'"])), 'H');
  });

  const bad: [string, string][] = [
    ['0', 'argument 0 has no binding letter'],
    ["0='X'", '"X" is not one binding letter'],
    ["0='u'", '"u" is not one binding letter'],
    ["0='UT'", '"UT" is not one binding letter'],
    ["0=''", '"" is not one binding letter'],
    ['0=Q', '"Q" is not one binding letter'],
    ["0='U',0='T'", 'given twice'],
    ['garbage', 'expected an argument digit'],
    ["0='U", 'unterminated'],
    ['0= U', 'Execute arguments'],
    ["0='U'\n", 'Execute arguments'],
  ];
  for (const [text, part] of bad)
    it(`refuses ${JSON.stringify(text)}`, () =>
      rejects(() => parseTriggerArgument(text), 'bad-trigger-argument', part));

  it('refuses non-ASCII bytes and odd shapes', () => {
    rejects(() => parseTriggerArgument(Uint8Array.of(0x30, 0x3d, 0xff)), 'bad-trigger-argument');
    rejects(() => parseTriggerArgument(42 as unknown as string), 'bad-trigger-argument');
    rejects(
      () => parseTriggerArgument([{ digit: 0, value: 7 }] as unknown as { digit: number }[]),
      'bad-trigger-argument',
    );
    assert.equal(parseTriggerArgument([null] as unknown as { digit: number }[]), undefined);
  });

  it('never throws anything but BindingChoiceError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        try {
          const r = parseTriggerArgument(s);
          assert.ok(r === undefined || isBindingLetter(r));
        } catch (e) {
          assert.ok(e instanceof BindingChoiceError, String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('needsReconnect', () => {
  it('compares the current binding with the chosen one', () => {
    assert.equal(needsReconnect('U', 'U'), false);
    assert.equal(needsReconnect('U', 'T'), true);
    assert.equal(needsReconnect(undefined, 'U'), true);
    const c = ok(chooseTransport({ serverUris: [TCP], binding: 'T', supported: 'T' }));
    assert.equal(needsReconnect('T', c), false);
    assert.equal(needsReconnect('U', c), true);
  });
});
