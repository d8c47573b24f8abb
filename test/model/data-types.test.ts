import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  INT64_MAX,
  INT64_MIN,
  NULL_OBJLNK,
  RESOURCE_TYPES,
  TypeConversionError,
  UINT64_MAX,
  Value,
  convertValue,
  decodeBase64,
  formatObjLink,
  isInt64,
  isUint64,
  normalizeInteger,
  parseDecimalFloat,
  parseDecimalInteger,
  parseObjLink,
  valueFromText,
  valueToText,
  valuesEqual,
  type LwM2mValue,
  type ResourceType,
} from '../../src/model/data-types.js';
import { anyValueArb } from '../support/arbitraries.js';

const TWO_53 = 2n ** 53n;

/** `from` undefined: any source (a decimal out of range fails in the constructor, as e.g. `integer`). */
function conversionError(from: string | undefined, to: ResourceType): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof TypeConversionError, `expected TypeConversionError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_TYPE_CONVERSION');
    if (from !== undefined) assert.equal(e.from, from);
    assert.equal(e.to, to);
    return true;
  };
}

describe('integers and their bounds', () => {
  it('keeps safe integers as numbers and the rest as bigints', () => {
    assert.equal(normalizeInteger(TWO_53 - 1n), Number.MAX_SAFE_INTEGER);
    assert.equal(normalizeInteger(-(TWO_53 - 1n)), Number.MIN_SAFE_INTEGER);
    assert.equal(normalizeInteger(TWO_53), TWO_53);
    assert.equal(normalizeInteger(-TWO_53), -TWO_53);
    assert.equal(normalizeInteger(7), 7);
    assert.equal(Value.integer(5n).value, 5);
    assert.equal(Value.integer(2 ** 53).value, TWO_53, 'a number past 2^53 becomes an exact bigint');
    assert.equal(Value.unsigned(Number.MAX_SAFE_INTEGER).value, Number.MAX_SAFE_INTEGER);
  });

  it('accepts exactly the 64-bit ranges', () => {
    assert.equal(INT64_MIN, -(2n ** 63n));
    assert.equal(INT64_MAX, 2n ** 63n - 1n);
    assert.equal(UINT64_MAX, 2n ** 64n - 1n);
    assert.ok(
      isInt64(INT64_MIN) && isInt64(INT64_MAX) && !isInt64(INT64_MAX + 1n) && !isInt64(INT64_MIN - 1n),
    );
    assert.ok(isUint64(0n) && isUint64(UINT64_MAX) && !isUint64(UINT64_MAX + 1n) && !isUint64(-1n));
    assert.ok(!isInt64(2 ** 63), '2^63 as a double is one past INT64_MAX');
    assert.ok(isInt64(-(2 ** 63)));
    assert.ok(isUint64(2 ** 63) && !isUint64(2 ** 64));
    assert.ok(!isInt64(1.5) && !isInt64(NaN) && !isInt64(Infinity) && !isUint64(-0.5));
    assert.equal(Value.integer(INT64_MIN).value, INT64_MIN);
    assert.equal(Value.unsigned(UINT64_MAX).value, UINT64_MAX);
    assert.equal(Value.time(-1).value, -1);
  });

  it('refuses values outside them', () => {
    assert.throws(() => Value.integer(INT64_MAX + 1n), conversionError('integer', 'integer'));
    assert.throws(() => Value.integer(2 ** 63), conversionError('integer', 'integer'));
    assert.throws(() => Value.integer(1.5), TypeConversionError);
    assert.throws(() => Value.integer(NaN), TypeConversionError);
    assert.throws(() => Value.unsigned(-1), conversionError('unsigned', 'unsigned'));
    assert.throws(() => Value.unsigned(2n ** 64n), TypeConversionError);
    assert.throws(() => Value.unsigned(2 ** 64), TypeConversionError);
    assert.throws(() => Value.time(Infinity), conversionError('time', 'time'));
    assert.throws(() => Value.objlnk(65536, 0), conversionError('objlnk', 'objlnk'));
    assert.throws(() => Value.objlnk(0, -1), TypeConversionError);
    assert.throws(() => Value.float('1' as unknown as number), conversionError('float', 'float'));
  });
});

describe('text forms (text/plain)', () => {
  it('formats each type', () => {
    const cases: [LwM2mValue, string][] = [
      [Value.string('héllo'), 'héllo'],
      [Value.integer(-42), '-42'],
      [Value.integer(INT64_MIN), '-9223372036854775808'],
      [Value.unsigned(UINT64_MAX), '18446744073709551615'],
      [Value.float(1.5), '1.5'],
      [Value.float(0.1), '0.1'],
      [Value.boolean(true), '1'],
      [Value.boolean(false), '0'],
      [Value.opaque(new Uint8Array([1, 2, 3])), 'AQID'],
      [Value.time(1700000000), '1700000000'],
      [Value.objlnk(3, 0), '3:0'],
      [{ type: 'objlnk', value: NULL_OBJLNK }, '65535:65535'],
      [Value.corelnk('</3/0>'), '</3/0>'],
      [Value.none(), ''],
    ];
    for (const [v, text] of cases) assert.equal(valueToText(v), text, v.type);
  });

  it('encodes only the viewed bytes of an opaque subarray', () => {
    const view = new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 3);
    assert.equal(valueToText(Value.opaque(view)), 'AQI=');
  });

  it('parses each type, exactly at the 64-bit edges', () => {
    assert.deepEqual(valueFromText('integer', ' 42 '), Value.integer(42));
    assert.deepEqual(valueFromText('integer', '+7'), Value.integer(7));
    assert.deepEqual(valueFromText('integer', '9007199254740993'), { type: 'integer', value: TWO_53 + 1n });
    assert.deepEqual(valueFromText('integer', '-9223372036854775808'), { type: 'integer', value: INT64_MIN });
    assert.deepEqual(valueFromText('unsigned', '18446744073709551615'), {
      type: 'unsigned',
      value: UINT64_MAX,
    });
    assert.deepEqual(valueFromText('time', '-5'), Value.time(-5));
    assert.deepEqual(valueFromText('float', '-2.5e3'), Value.float(-2500));
    assert.deepEqual(valueFromText('float', '.5'), Value.float(0.5));
    assert.ok(Number.isNaN(valueFromText('float', 'NaN').value));
    assert.equal(valueFromText('float', '-Infinity').value, -Infinity);
    assert.deepEqual(valueFromText('boolean', '1'), Value.boolean(true));
    assert.deepEqual(valueFromText('boolean', '0'), Value.boolean(false));
    assert.deepEqual(valueFromText('opaque', 'AQID'), Value.opaque(new Uint8Array([1, 2, 3])));
    assert.deepEqual(
      valueFromText('opaque', 'AQI'),
      Value.opaque(new Uint8Array([1, 2])),
      'padding is optional',
    );
    assert.deepEqual(valueFromText('opaque', '-_8'), Value.opaque(new Uint8Array([0xfb, 0xff])), 'base64url');
    assert.deepEqual(valueFromText('objlnk', '65535:65535'), { type: 'objlnk', value: NULL_OBJLNK });
    assert.deepEqual(valueFromText('string', ' kept as is '), Value.string(' kept as is '));
    assert.deepEqual(valueFromText('none', ''), Value.none());
  });

  it('refuses text that is not of the type, with the type named', () => {
    const bad: [ResourceType, string][] = [
      ['integer', '9223372036854775808'],
      ['integer', '-9223372036854775809'],
      ['integer', '1.0'],
      ['integer', '1e3'],
      ['integer', '0x10'],
      ['integer', ''],
      ['unsigned', '18446744073709551616'],
      ['unsigned', '-1'],
      ['time', 'yesterday'],
      ['float', '1,5'],
      ['float', 'inf'],
      ['float', ''],
      ['boolean', 'true'],
      ['boolean', ' 1'],
      ['opaque', 'A'],
      ['opaque', 'a b'],
      ['objlnk', '3'],
      ['objlnk', '65536:0'],
      ['objlnk', '3:-1'],
      ['none', 'x'],
    ];
    for (const [type, text] of bad) {
      const decimal = /^[+-]?[0-9]+$/.test(text); // a decimal, but out of the type's range
      assert.throws(
        () => valueFromText(type, text),
        conversionError(decimal ? undefined : 'text', type),
        `${type} "${text}"`,
      );
    }
  });

  it('round-trips every value through its text form', () => {
    // every type but `none`, with the 64-bit edges and floats of every width, NaN and -0 included
    const value = anyValueArb();
    fc.assert(
      fc.property(value, (v) => {
        assert.ok(valuesEqual(valueFromText(v.type, valueToText(v)), v));
      }),
      { numRuns: 500 },
    );
  });
});

describe('helpers for the text forms', () => {
  it('parses decimal integers exactly and only them', () => {
    assert.equal(parseDecimalInteger('18446744073709551617'), 18446744073709551617n);
    assert.equal(parseDecimalInteger('-0'), 0n);
    for (const text of ['', '+', '1.', '1e2', ' 1', '١'])
      assert.equal(parseDecimalInteger(text), undefined, text);
    assert.equal(parseDecimalFloat('1.'), 1);
    assert.equal(parseDecimalFloat('+Infinity'), Infinity);
    for (const text of ['', '.', 'e5', '1e', '0x1', 'Inf'])
      assert.equal(parseDecimalFloat(text), undefined, text);
  });

  it('parses and formats object links', () => {
    assert.deepEqual(parseObjLink('3:0'), { objectId: 3, instanceId: 0 });
    assert.deepEqual(parseObjLink('65535:65535'), NULL_OBJLNK);
    for (const text of ['', '3', ':0', '3:', '3:0:1', '65536:0', '123456:0', ' 3:0'])
      assert.equal(parseObjLink(text), undefined, text);
    assert.equal(formatObjLink({ objectId: 21, instanceId: 4 }), '21:4');
  });

  it('decodes base64 and base64url, refusing anything else', () => {
    assert.deepEqual(decodeBase64(''), new Uint8Array(0));
    assert.deepEqual(decodeBase64('/+8='), new Uint8Array([0xff, 0xef]));
    assert.deepEqual(decodeBase64('_-8'), new Uint8Array([0xff, 0xef]));
    for (const text of ['A', 'AB=C', '!!!!', 'AQID====', 'AQ ID'])
      assert.equal(decodeBase64(text), undefined, text);
  });

  it('lists every resource type once', () => {
    assert.equal(new Set(RESOURCE_TYPES).size, 10);
    assert.ok(RESOURCE_TYPES.includes('none') && RESOURCE_TYPES.includes('corelnk'));
  });
});

describe('convertValue', () => {
  it('converts without loss', () => {
    assert.deepEqual(convertValue(Value.float(3), 'integer'), Value.integer(3));
    assert.deepEqual(convertValue(Value.float(2 ** 63), 'unsigned'), { type: 'unsigned', value: 2n ** 63n });
    assert.deepEqual(convertValue(Value.integer(TWO_53), 'float'), Value.float(2 ** 53));
    assert.deepEqual(convertValue(Value.integer(-1), 'time'), Value.time(-1));
    assert.deepEqual(convertValue(Value.unsigned(INT64_MAX), 'integer'), {
      type: 'integer',
      value: INT64_MAX,
    });
    assert.deepEqual(convertValue(Value.boolean(true), 'integer'), Value.integer(1));
    assert.deepEqual(convertValue(Value.boolean(false), 'float'), Value.float(0));
    assert.deepEqual(convertValue(Value.string(' 12 '), 'unsigned'), Value.unsigned(12));
    assert.deepEqual(
      convertValue(Value.string('18446744073709551615'), 'unsigned'),
      Value.unsigned(UINT64_MAX),
    );
    assert.deepEqual(convertValue(Value.string('2.5'), 'float'), Value.float(2.5));
    assert.deepEqual(convertValue(Value.string('true'), 'boolean'), Value.boolean(true));
    assert.deepEqual(convertValue(Value.string('0'), 'boolean'), Value.boolean(false));
    assert.deepEqual(convertValue(Value.unsigned(1), 'boolean'), Value.boolean(true));
    assert.deepEqual(convertValue(Value.float(0), 'boolean'), Value.boolean(false));
    assert.deepEqual(convertValue(Value.string('5:1'), 'objlnk'), Value.objlnk(5, 1));
    assert.deepEqual(convertValue(Value.string('hi'), 'opaque'), Value.opaque(new Uint8Array([104, 105])));
    assert.deepEqual(convertValue(Value.opaque(new Uint8Array([104, 105])), 'string'), Value.string('hi'));
    assert.deepEqual(convertValue(Value.objlnk(3, 0), 'string'), Value.string('3:0'));
    assert.deepEqual(convertValue(Value.integer(UINT64_MAX - UINT64_MAX), 'string'), Value.string('0'));
    assert.deepEqual(
      convertValue(Value.unsigned(UINT64_MAX), 'corelnk'),
      Value.corelnk('18446744073709551615'),
    );
    const same = Value.float(1);
    assert.equal(convertValue(same, 'float'), same, 'same type is returned as is');
  });

  it('refuses lossy or out-of-range conversions', () => {
    const bad: [LwM2mValue, ResourceType][] = [
      [Value.float(3.5), 'integer'],
      [Value.float(NaN), 'integer'],
      [Value.float(Infinity), 'unsigned'],
      [Value.float(2 ** 63), 'integer'],
      [Value.float(2 ** 64), 'unsigned'],
      [Value.float(-1), 'unsigned'],
      [Value.integer(TWO_53 + 1n), 'float'],
      [Value.unsigned(UINT64_MAX), 'float'],
      [Value.unsigned(UINT64_MAX), 'integer'],
      [Value.unsigned(INT64_MAX + 1n), 'time'],
      [Value.integer(-1), 'unsigned'],
      [Value.integer(2), 'boolean'],
      [Value.float(0.5), 'boolean'],
      [Value.string('yes'), 'boolean'],
      [Value.string('1.5'), 'integer'],
      [Value.string('abc'), 'float'],
      [Value.string('3'), 'objlnk'],
      [Value.opaque(new Uint8Array([0xff, 0xfe])), 'string'],
      [Value.objlnk(1, 1), 'integer'],
      [Value.integer(1), 'opaque'],
      [Value.integer(1), 'objlnk'],
      [Value.time(1), 'boolean'],
      [Value.none(), 'string'],
      [Value.string(''), 'none'],
    ];
    for (const [v, to] of bad)
      assert.throws(() => convertValue(v, to), conversionError(v.type, to), `${v.type} → ${to}`);
  });
});

describe('valuesEqual', () => {
  it('compares by value, not representation', () => {
    assert.ok(valuesEqual({ type: 'integer', value: 5 }, { type: 'integer', value: 5n }));
    assert.ok(valuesEqual(Value.unsigned(UINT64_MAX), { type: 'unsigned', value: 2n ** 64n - 1n }));
    assert.ok(valuesEqual(Value.float(NaN), Value.float(NaN)));
    assert.ok(valuesEqual(Value.float(0), Value.float(-0)));
    assert.ok(
      valuesEqual(Value.opaque(new Uint8Array([1, 2])), Value.opaque(new Uint8Array([0, 1, 2]).subarray(1))),
    );
    assert.ok(valuesEqual(Value.objlnk(3, 0), { type: 'objlnk', value: { objectId: 3, instanceId: 0 } }));
    assert.ok(valuesEqual(Value.none(), Value.none()));
  });

  it('tells different values and types apart', () => {
    assert.ok(!valuesEqual(Value.integer(1), Value.unsigned(1)));
    assert.ok(!valuesEqual(Value.integer(TWO_53), Value.integer(TWO_53 + 1n)));
    assert.ok(!valuesEqual(Value.opaque(new Uint8Array([1, 2])), Value.opaque(new Uint8Array([1, 2, 3]))));
    assert.ok(!valuesEqual(Value.opaque(new Uint8Array([1, 2])), Value.opaque(new Uint8Array([1, 3]))));
    assert.ok(!valuesEqual(Value.objlnk(3, 0), Value.objlnk(3, 1)));
    assert.ok(!valuesEqual(Value.string('a'), Value.corelnk('a')));
    assert.ok(!valuesEqual(Value.float(1), Value.float(1 + Number.EPSILON)));
  });
});
