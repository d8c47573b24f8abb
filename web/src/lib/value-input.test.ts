import { describe, expect, it } from 'vitest';
import {
  base64ToHex,
  draftFromValue,
  emptyDraft,
  formatValue,
  hexToBase64,
  instancesFromValues,
  normalizeHex,
  numericValue,
  parseDraft,
  parseInstances,
  parseRange,
  parseTimeInput,
  secondsToDateTimeInput,
} from './value-input.js';

const text = (t: string) => ({ kind: 'text', text: t }) as const;

describe('parseDraft per data type', () => {
  it('keeps strings as typed, empty included', () => {
    expect(parseDraft('string', text(' +02:00 '))).toEqual({ ok: true, value: ' +02:00 ' });
    expect(parseDraft('string', text(''))).toEqual({ ok: true, value: '' });
    expect(parseDraft('corelnk', text('</3/0>'))).toEqual({ ok: true, value: '</3/0>' });
  });

  it('reads integers within the signed 64-bit range, past 2^53 as decimal text', () => {
    expect(parseDraft('integer', text('-42'))).toEqual({ ok: true, value: -42 });
    expect(parseDraft('integer', text('+7'))).toEqual({ ok: true, value: 7 });
    expect(parseDraft('integer', text('9223372036854775807'))).toEqual({
      ok: true,
      value: '9223372036854775807',
    });
    expect(parseDraft('integer', text('-9223372036854775808'))).toEqual({
      ok: true,
      value: '-9223372036854775808',
    });
    expect(parseDraft('integer', text('9223372036854775808')).ok).toBe(false);
    expect(parseDraft('integer', text('1.5')).ok).toBe(false);
    expect(parseDraft('integer', text('')).ok).toBe(false);
    expect(parseDraft('integer', text('1e3')).ok).toBe(false);
  });

  it('refuses negative unsigned values and takes up to 2^64-1', () => {
    expect(parseDraft('unsigned', text('-1')).ok).toBe(false);
    expect(parseDraft('unsigned', text('18446744073709551615'))).toEqual({
      ok: true,
      value: '18446744073709551615',
    });
    expect(parseDraft('unsigned', text('18446744073709551616')).ok).toBe(false);
    expect(parseDraft('unsigned', text('300'))).toEqual({ ok: true, value: 300 });
  });

  it('checks the model range', () => {
    const range = parseRange('0..100');
    expect(parseDraft('integer', text('101'), range)).toEqual({ ok: false, error: 'must be at most 100' });
    expect(parseDraft('integer', text('-1'), range)).toEqual({ ok: false, error: 'must be at least 0' });
    expect(parseDraft('float', text('99.5'), range)).toEqual({ ok: true, value: 99.5 });
    expect(parseDraft('float', text('-0.1'), range).ok).toBe(false);
  });

  it('reads floats in decimal and exponent form, refusing non-numbers and infinities', () => {
    expect(parseDraft('float', text('21.5'))).toEqual({ ok: true, value: 21.5 });
    expect(parseDraft('float', text('-1.5e3'))).toEqual({ ok: true, value: -1500 });
    expect(parseDraft('float', text('.5'))).toEqual({ ok: true, value: 0.5 });
    expect(parseDraft('float', text('abc')).ok).toBe(false);
    expect(parseDraft('float', text('1e999')).ok).toBe(false);
    expect(parseDraft('float', text('NaN')).ok).toBe(false);
  });

  it('takes booleans from the toggle only', () => {
    expect(parseDraft('boolean', { kind: 'bool', value: true })).toEqual({ ok: true, value: true });
    expect(parseDraft('boolean', text('true')).ok).toBe(false);
  });

  it('reads opaque as hex (spaces, colons, 0x allowed) or base64 into {hex}', () => {
    expect(parseDraft('opaque', { kind: 'opaque', text: '0xCA FE:01', encoding: 'hex' })).toEqual({
      ok: true,
      value: { hex: 'cafe01' },
    });
    expect(parseDraft('opaque', { kind: 'opaque', text: 'yv4B', encoding: 'base64' })).toEqual({
      ok: true,
      value: { hex: 'cafe01' },
    });
    expect(parseDraft('opaque', { kind: 'opaque', text: 'abc', encoding: 'hex' }).ok).toBe(false);
    expect(parseDraft('opaque', { kind: 'opaque', text: 'zz', encoding: 'hex' }).ok).toBe(false);
    expect(parseDraft('opaque', { kind: 'opaque', text: 'a', encoding: 'base64' }).ok).toBe(false);
    expect(parseDraft('opaque', { kind: 'opaque', text: '', encoding: 'hex' })).toEqual({
      ok: true,
      value: { hex: '' },
    });
  });

  it('reads object links from two ids 0..65535', () => {
    expect(parseDraft('objlnk', { kind: 'objlnk', oid: '3', iid: '0' })).toEqual({ ok: true, value: '3:0' });
    expect(parseDraft('objlnk', { kind: 'objlnk', oid: '65535', iid: '65535' })).toEqual({
      ok: true,
      value: '65535:65535',
    });
    expect(parseDraft('objlnk', { kind: 'objlnk', oid: '65536', iid: '0' }).ok).toBe(false);
    expect(parseDraft('objlnk', { kind: 'objlnk', oid: '3', iid: '' }).ok).toBe(false);
    expect(parseDraft('objlnk', { kind: 'objlnk', oid: '-1', iid: '0' }).ok).toBe(false);
  });

  it('reads time as a UTC date-time or Unix seconds', () => {
    expect(parseDraft('time', { kind: 'time', text: '2023-11-14T22:13:20' })).toEqual({
      ok: true,
      value: 1_700_000_000,
    });
    expect(parseDraft('time', { kind: 'time', text: '2023-11-14T22:13' })).toEqual({
      ok: true,
      value: 1_699_999_980,
    });
    expect(parseDraft('time', { kind: 'time', text: '1700000000' })).toEqual({
      ok: true,
      value: 1_700_000_000,
    });
    expect(parseDraft('time', { kind: 'time', text: '2023-02-30T00:00' }).ok).toBe(false);
    expect(parseDraft('time', { kind: 'time', text: 'yesterday' }).ok).toBe(false);
  });

  it('gives null for executables', () => {
    expect(parseDraft('none', { kind: 'none' })).toEqual({ ok: true, value: null });
  });
});

describe('drafts from read values', () => {
  it('round-trips every type through draftFromValue and parseDraft', () => {
    const cases = [
      ['string', 'Open Mobile Alliance'],
      ['integer', -5],
      ['integer', '-9223372036854775808'],
      ['unsigned', '18446744073709551615'],
      ['float', 21.25],
      ['boolean', true],
      ['boolean', false],
      ['opaque', { hex: 'cafe' }],
      ['objlnk', '3:0'],
      ['time', 1_700_000_000],
    ] as const;
    for (const [type, value] of cases)
      expect(parseDraft(type, draftFromValue(type, value)), `${type} ${JSON.stringify(value)}`).toEqual({
        ok: true,
        value,
      });
  });

  it('starts empty without a value', () => {
    expect(draftFromValue('integer', undefined)).toEqual(emptyDraft('integer'));
    expect(draftFromValue('boolean', null)).toEqual({ kind: 'bool', value: false });
  });
});

describe('helpers', () => {
  it('converts hex and base64 both ways', () => {
    expect(hexToBase64('cafe01')).toBe('yv4B');
    expect(base64ToHex('yv4B')).toEqual({ ok: true, value: 'cafe01' });
    expect(base64ToHex('yv4')).toEqual({ ok: true, value: 'cafe' });
    expect(base64ToHex('yv7_')).toEqual({ ok: true, value: 'cafeff' });
    expect(normalizeHex('0x')).toEqual({ ok: true, value: '' });
  });

  it('formats UTC date-time input values', () => {
    expect(secondsToDateTimeInput(1_700_000_000)).toBe('2023-11-14T22:13:20');
    expect(parseTimeInput(secondsToDateTimeInput(86_399))).toEqual({ ok: true, value: 86_399 });
  });

  it('parses ranges in text and object form', () => {
    expect(parseRange('-40..85')).toEqual({ min: -40, max: 85 });
    expect(parseRange('0..23')).toEqual({ min: 0, max: 23 });
    expect(parseRange({ min: 1 })).toEqual({ min: 1 });
    expect(parseRange('1,2,3')).toBeUndefined();
    expect(parseRange(undefined)).toBeUndefined();
  });

  it('formats values for display by type', () => {
    expect(formatValue('opaque', { hex: 'cafe' })).toBe('0xcafe (2 bytes)');
    expect(formatValue('opaque', { hex: 'ff' })).toBe('0xff (1 byte)');
    expect(formatValue('time', 1_700_000_000)).toBe('2023-11-14T22:13:20Z (1700000000)');
    expect(formatValue('boolean', false)).toBe('false');
    expect(formatValue('none', null)).toBe('—');
    expect(formatValue(undefined, undefined)).toBe('');
    expect(formatValue('float', [{ t: 1_700_000_000, v: 1.5 }])).toBe('2023-11-14T22:13:20.000Z: 1.5');
  });

  it('charts only numeric values', () => {
    expect(numericValue(21.5)).toBe(21.5);
    expect(numericValue('9223372036854775807')).toBe(2 ** 63);
    expect(numericValue('abc')).toBeUndefined();
    expect(numericValue(true)).toBeUndefined();
    expect(numericValue({ hex: '00' })).toBeUndefined();
    expect(numericValue(Number.NaN)).toBeUndefined();
  });
});

describe('multiple resource instances', () => {
  it('flattens rows to paths under the resource', () => {
    const rows = [
      { id: '0', draft: text('3800') },
      { id: '1', draft: text('5000') },
    ];
    expect(parseInstances('integer', '/3/0/7', rows)).toEqual({
      ok: true,
      value: { '/3/0/7/0': 3800, '/3/0/7/1': 5000 },
    });
  });

  it('refuses duplicate or invalid ids and invalid values', () => {
    expect(
      parseInstances('integer', '/3/0/7', [
        { id: '0', draft: text('1') },
        { id: '0', draft: text('2') },
      ]),
    ).toEqual({
      ok: false,
      error: 'instance id 0 appears twice',
    });
    expect(parseInstances('integer', '/3/0/7', [{ id: 'x', draft: text('1') }]).ok).toBe(false);
    expect(parseInstances('integer', '/3/0/7', [{ id: '2', draft: text('one') }])).toEqual({
      ok: false,
      error: 'instance 2: expected a whole number',
    });
  });

  it('reads the instances of a resource out of read values, by id', () => {
    const values = { '/3/0/7/1': 5000, '/3/0/7/0': 3800, '/3/0/70': 1, '/3/0/8/0': 9 };
    expect(instancesFromValues('integer', '/3/0/7', values)).toEqual([
      { id: '0', draft: text('3800') },
      { id: '1', draft: text('5000') },
    ]);
  });
});
