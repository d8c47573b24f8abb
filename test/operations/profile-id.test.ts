import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  classifyProfileId,
  formatProfileIdParameter,
  MAX_PROFILE_IDS,
  parseProfileId,
  parseProfileIdParameter,
} from '../../src/operations/profile-id.js';
import { OperationError } from '../../src/operations/result-code.js';

function rejects(fn: () => unknown, messagePart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.reason, 'bad-parameter', e.message);
    assert.equal(e.resultCode, '4.00');
    if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
    return true;
  });
}

describe('parseProfileId', () => {
  it('classifies pre-configured ids', () => {
    assert.deepEqual(parseProfileId('oma:basic-sensor-1'), {
      kind: 'pre-configured',
      text: 'oma:basic-sensor-1',
      namespace: 'oma',
      name: 'basic-sensor-1',
    });
    assert.deepEqual(parseProfileId('v:Acme-Meter'), {
      kind: 'pre-configured',
      text: 'v:Acme-Meter',
      namespace: 'v',
      name: 'Acme-Meter',
    });
    // ABNF literals are case-insensitive: the prefix is accepted and written lowercase.
    assert.equal(parseProfileId('OMA:x').text, 'oma:x');
    assert.equal(classifyProfileId('v:x'), 'pre-configured');
  });

  it('classifies dynamic ids (the spec example 6:1234abcd), hash lowercased', () => {
    assert.deepEqual(parseProfileId('6:1234abcd'), {
      kind: 'dynamic',
      text: '6:1234abcd',
      suite: 6,
      hash: '1234abcd',
    });
    assert.deepEqual(parseProfileId('1:ABCDEF0123456789'), {
      kind: 'dynamic',
      text: '1:abcdef0123456789',
      suite: 1,
      hash: 'abcdef0123456789',
    });
    assert.equal(classifyProfileId('255:00000000'), 'dynamic');
  });

  it('refuses ids outside the ABNF and the bounds', () => {
    rejects(() => parseProfileId('6:1234abc'), 'shorter than 32 bits'); // 28 bits
    rejects(() => parseProfileId('256:1234abcd'), '0..255');
    rejects(() => parseProfileId('6:1234abcg'));
    rejects(() => parseProfileId('x:abc'));
    rejects(() => parseProfileId('oma:'));
    rejects(() => parseProfileId('oma:a_b'));
    rejects(() => parseProfileId('oma:a b'));
    rejects(() => parseProfileId(':1234abcd'));
    rejects(() => parseProfileId(''));
    rejects(() => parseProfileId(`6:${'a'.repeat(130)}`), '512 bits');
    rejects(() => parseProfileId(`v:${'a'.repeat(65)}`), 'longer');
  });
});

describe('parseProfileIdParameter', () => {
  it('reads one bare id or a DQUOTEd list', () => {
    assert.deepEqual(parseProfileIdParameter('oma:a'), ['oma:a']);
    assert.deepEqual(parseProfileIdParameter('"oma:a"'), ['oma:a']);
    assert.deepEqual(parseProfileIdParameter('"oma:a,v:b,6:1234abcd"'), ['oma:a', 'v:b', '6:1234abcd']);
  });
  it('refuses empty values, unquoted lists, bad quoting, repeats and long lists', () => {
    rejects(() => parseProfileIdParameter(''), 'empty');
    rejects(() => parseProfileIdParameter('""'), 'empty');
    rejects(() => parseProfileIdParameter('"'));
    rejects(() => parseProfileIdParameter('"oma:a'), 'unterminated');
    rejects(() => parseProfileIdParameter('oma:a,v:b'), 'double quotes');
    rejects(() => parseProfileIdParameter('"oma:a,"'));
    rejects(() => parseProfileIdParameter('"oma:a, v:b"'));
    rejects(() => parseProfileIdParameter('"oma:a,OMA:a"'), 'twice');
    const many = Array.from({ length: MAX_PROFILE_IDS + 1 }, (_, i) => `v:p${i}`);
    rejects(() => parseProfileIdParameter(`"${many.join(',')}"`), `more than ${MAX_PROFILE_IDS}`);
    assert.equal(parseProfileIdParameter(`"${many.slice(1).join(',')}"`).length, MAX_PROFILE_IDS);
  });
});

const idArb = fc.oneof(
  fc
    .tuple(fc.constantFrom('oma', 'v'), fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/))
    .map(([ns, name]) => `${ns}:${name}`),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.stringMatching(/^[0-9a-f]{8,40}$/))
    .map(([suite, hash]) => `${suite}:${hash}`),
);

describe('formatProfileIdParameter', () => {
  it('writes one id bare and several quoted', () => {
    assert.equal(formatProfileIdParameter(['6:1234abcd']), '6:1234abcd');
    assert.equal(formatProfileIdParameter(['oma:a', 'v:b']), '"oma:a,v:b"');
    rejects(() => formatProfileIdParameter([]));
    rejects(() => formatProfileIdParameter(['oma:a', 'oma:a']), 'twice');
    rejects(() => formatProfileIdParameter(['nope']));
  });
  it('round-trips through parseProfileIdParameter', () => {
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { minLength: 1, maxLength: 6 }), (ids) => {
        assert.deepEqual(parseProfileIdParameter(formatProfileIdParameter(ids)), ids);
      }),
    );
  });
});
