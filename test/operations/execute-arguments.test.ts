import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatExecuteArguments,
  isExecuteArgumentChar,
  parseExecuteArguments,
  parseExecuteQuery,
} from '../../src/operations/execute-arguments.js';
import type { ExecuteArgument } from '../../src/operations/requests.js';
import { OperationError } from '../../src/operations/result-code.js';

function rejects(fn: () => unknown, messagePart?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.reason, 'bad-arguments', e.message);
    assert.equal(e.resultCode, '4.00');
    if (typeof messagePart === 'string') assert.ok(e.message.includes(messagePart), e.message);
    else if (messagePart) assert.match(e.message, messagePart);
    return true;
  });
}

describe('parseExecuteArguments', () => {
  it('reads the spec examples', () => {
    assert.deepEqual(parseExecuteArguments('5'), [{ digit: 5 }]);
    assert.deepEqual(parseExecuteArguments("2='10.3'"), [{ digit: 2, value: '10.3' }]);
    assert.deepEqual(
      parseExecuteArguments('0,1,2,3,4'),
      [0, 1, 2, 3, 4].map((digit) => ({ digit })),
    );
    assert.deepEqual(parseExecuteArguments("0='U',7,9=''"), [
      { digit: 0, value: 'U' },
      { digit: 7 },
      { digit: 9, value: '' },
    ]);
  });

  it('reads bytes as well as text', () => {
    assert.deepEqual(parseExecuteArguments(new TextEncoder().encode("1='a!#~',2")), [
      { digit: 1, value: 'a!#~' },
      { digit: 2 },
    ]);
    assert.deepEqual(parseExecuteArguments(new Uint8Array(0)), []);
  });

  it('empty text means no arguments', () => {
    assert.deepEqual(parseExecuteArguments(''), []);
  });

  it('refuses text outside the grammar, naming the offset', () => {
    rejects(() => parseExecuteArguments('a'), 'offset 0');
    rejects(() => parseExecuteArguments('10'), 'offset 1');
    rejects(() => parseExecuteArguments('1,'), 'offset 2');
    rejects(() => parseExecuteArguments(',1'), 'offset 0');
    rejects(() => parseExecuteArguments('1;2'), 'offset 1');
    rejects(() => parseExecuteArguments(' 1'), 'offset 0');
    rejects(() => parseExecuteArguments('1=2'), 'offset 2');
    rejects(() => parseExecuteArguments("1='abc"), 'unterminated');
    rejects(() => parseExecuteArguments("1='a b'"), /"?0x20"? at offset 4/);
    rejects(() => parseExecuteArguments("1='a\"b'"), 'offset 4');
    rejects(() => parseExecuteArguments("1='a\\b'"), 'offset 4');
    rejects(() => parseExecuteArguments("1='é'"), 'offset 3');
    rejects(() => parseExecuteArguments(Uint8Array.of(0x31, 0x3d, 0x27, 0xc3, 0xa9, 0x27)), 'offset 3');
    rejects(() => parseExecuteArguments("1='a'x"), 'offset 5');
  });

  it('refuses a digit given twice (1.2.1)', () => {
    rejects(() => parseExecuteArguments('1,2,1'), 'twice');
    rejects(() => parseExecuteArguments("0='a',0='b'"), 'twice');
  });
});

describe('isExecuteArgumentChar', () => {
  it('is the CHAR rule', () => {
    const allowed: number[] = [];
    for (let c = 0; c < 0x100; c++) if (isExecuteArgumentChar(c)) allowed.push(c);
    assert.equal(allowed.length, 0x7e - 0x21 + 1 - 3); // printable ASCII but '"', "'" and '\'
    for (const c of [0x20, 0x22, 0x27, 0x5c, 0x7f, 0x00]) assert.equal(isExecuteArgumentChar(c), false);
  });
});

const charArb = fc
  .integer({ min: 0x21, max: 0x7e })
  .filter((c) => isExecuteArgumentChar(c))
  .map((c) => String.fromCharCode(c));
const argsArb: fc.Arbitrary<ExecuteArgument[]> = fc
  .uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: 10 })
  .chain((digits) =>
    fc.tuple(
      ...digits.map((digit) =>
        fc
          .option(
            fc.array(charArb, { maxLength: 12 }).map((cs) => cs.join('')),
            { nil: undefined },
          )
          .map((value): ExecuteArgument => (value === undefined ? { digit } : { digit, value })),
      ),
    ),
  );

describe('formatExecuteArguments', () => {
  it('writes the grammar', () => {
    assert.equal(formatExecuteArguments([]), '');
    assert.equal(formatExecuteArguments([{ digit: 0, value: 'U' }, { digit: 3 }]), "0='U',3");
  });

  it('refuses what cannot be written', () => {
    rejects(() => formatExecuteArguments([{ digit: 10 }]), 'not a digit');
    rejects(() => formatExecuteArguments([{ digit: -1 }]));
    rejects(() => formatExecuteArguments([{ digit: 1.5 }]));
    rejects(() => formatExecuteArguments([{ digit: 1 }, { digit: 1 }]), 'twice');
    rejects(() => formatExecuteArguments([{ digit: 1, value: "it's" }]), 'offset 2');
    rejects(() => formatExecuteArguments([{ digit: 1, value: 'a b' }]));
  });

  it('round-trips through parseExecuteArguments', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        assert.deepEqual(parseExecuteArguments(formatExecuteArguments(args)), args);
      }),
    );
  });

  it('never throws anything but OperationError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        try {
          const args = parseExecuteArguments(text);
          assert.equal(formatExecuteArguments(args), text);
        } catch (e) {
          assert.ok(e instanceof OperationError);
        }
      }),
    );
  });
});

describe('parseExecuteQuery', () => {
  it('reads the Transport TS trigger form ?0=U, quoted values and bare digits', () => {
    assert.deepEqual(parseExecuteQuery(['0=U']), [{ digit: 0, value: 'U' }]);
    assert.deepEqual(parseExecuteQuery(["0='T'", '3']), [{ digit: 0, value: 'T' }, { digit: 3 }]);
    assert.deepEqual(parseExecuteQuery([]), []);
  });
  it('refuses names that are not one digit, bad values and repeats', () => {
    rejects(() => parseExecuteQuery(['pmin=1']));
    rejects(() => parseExecuteQuery(['10=U']));
    rejects(() => parseExecuteQuery(['0=a b']));
    rejects(() => parseExecuteQuery(['0=U', '0=T']), 'twice');
  });
});
