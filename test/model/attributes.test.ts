import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  applyWriteAttributes,
  attributeLevelOf,
  AttributeError,
  attributesFromLinkParams,
  attributesToLinkParams,
  checkObserveCompositeAttributes,
  effectivePmax,
  filterAttributesForVersion,
  formatAttributeNumber,
  formatAttributeQuery,
  isNotificationAttributeName,
  isObserveCompositeAttribute,
  NOTIFICATION_ATTRIBUTE_NAMES,
  OBSERVE_COMPOSITE_ATTRIBUTES,
  parseAttributeQuery,
  parseNotificationAttributeValue,
  resolveEffectiveAttributes,
  validateNotificationAttributes,
} from '../../src/model/attributes.js';
import type {
  AttributeErrorReason,
  NotificationAttributeName,
  NotificationAttributes,
} from '../../src/model/attributes.js';
import type { ResourceType } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';

function rejects(fn: () => unknown, reason: AttributeErrorReason, attribute?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AttributeError, `expected AttributeError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_ATTRIBUTE');
    assert.equal(e.coapCode, '4.00');
    assert.equal(e.reason, reason, e.message);
    if (attribute !== undefined) assert.equal(e.attribute, attribute, e.message);
    return true;
  });
}

const RES = LwM2mPath.of(3, 0, 9);
const RI = LwM2mPath.of(3, 0, 7, 0);
const OI = LwM2mPath.of(3, 0);
const OBJ = LwM2mPath.of(3);

describe('parseAttributeQuery', () => {
  it('parses values and the value-less unset form', () => {
    assert.deepEqual(parseAttributeQuery(['pmin=1', 'pmax=5', 'gt=50']), { pmin: 1, pmax: 5, gt: 50 });
    assert.deepEqual(parseAttributeQuery(['pmin', 'gt=-2.5', 'st=0.5', 'edge=1', 'con=0', 'hqmax=10']), {
      pmin: null,
      gt: -2.5,
      st: 0.5,
      edge: 1,
      con: 0,
      hqmax: 10,
    });
    assert.deepEqual(parseAttributeQuery([]), {});
    assert.deepEqual(parseAttributeQuery(['depth=2', 'pmin=3'], { ignore: ['depth'] }), { pmin: 3 });
  });

  it('refuses unknown names, duplicates and bad syntax', () => {
    rejects(() => parseAttributeQuery(['foo=1']), 'unknown-attribute', 'foo');
    rejects(() => parseAttributeQuery(['depth=1']), 'unknown-attribute', 'depth');
    rejects(() => parseAttributeQuery(['PMIN=1']), 'unknown-attribute');
    rejects(() => parseAttributeQuery(['pmin=1', 'pmin=2']), 'duplicate-attribute', 'pmin');
    rejects(() => parseAttributeQuery(['pmin', 'pmin=2']), 'duplicate-attribute', 'pmin');
    rejects(() => parseAttributeQuery(['pmin=']), 'bad-value', 'pmin');
  });

  it('checks each syntax on both sides of its boundary', () => {
    const table: [NotificationAttributeName, string[], string[]][] = [
      // name, accepted, refused
      [
        'pmin',
        ['0', '1', '007', '9007199254740991'],
        ['-1', '1.0', '+1', ' 1', '1e3', 'a', '', '9007199254740992'],
      ],
      ['pmax', ['0', '60'], ['-60', '6.5']],
      ['epmin', ['0', '5'], ['-5', '0.1']],
      ['epmax', ['0', '5'], ['-5', '0x5']],
      ['hqmax', ['0', '100'], ['-1', '1.5']],
      [
        'gt',
        ['50', '50.0', '-50', '-0.25', '0'],
        ['50.', '.5', '+5', '1e3', '--1', 'NaN', 'Infinity', '1' + '0'.repeat(400)],
      ],
      ['lt', ['42.2', '-42.2'], ['4,2', '42.2.2']],
      ['st', ['0', '0.5', '10'], ['-0.5', '-1', '.5']],
      ['edge', ['0', '1'], ['2', '-1', '01', 'true', '']],
      ['con', ['0', '1'], ['2', '1.0']],
    ];
    for (const [name, ok, bad] of table) {
      for (const text of ok)
        assert.equal(parseNotificationAttributeValue(name, text), Number(text), `${name}=${text}`);
      for (const text of bad) rejects(() => parseNotificationAttributeValue(name, text), 'bad-value', name);
    }
  });
});

describe('formatting attributes', () => {
  it('writes query items in table order, unset as the bare name', () => {
    assert.deepEqual(formatAttributeQuery({ gt: 50, pmax: 5, pmin: null, st: 0.5, con: 1 }), [
      'pmin',
      'pmax=5',
      'gt=50',
      'st=0.5',
      'con=1',
    ]);
    rejects(() => formatAttributeQuery({ pmin: -1 }), 'bad-value', 'pmin');
    rejects(() => formatAttributeQuery({ edge: 0.5 }), 'bad-value', 'edge');
  });

  it('writes numbers in plain decimal, never exponent notation', () => {
    assert.equal(formatAttributeNumber(50), '50');
    assert.equal(formatAttributeNumber(-0), '0');
    assert.equal(formatAttributeNumber(42.2), '42.2');
    assert.equal(formatAttributeNumber(1e21), '1000000000000000000000');
    assert.equal(formatAttributeNumber(-1.5e22), '-15000000000000000000000');
    assert.equal(formatAttributeNumber(1e-7), '0.0000001');
    assert.equal(formatAttributeNumber(-1.25e-7), '-0.000000125');
    assert.equal(formatAttributeNumber(1.2345e21), '1234500000000000000000');
    rejects(() => formatAttributeNumber(NaN), 'bad-value');
    rejects(() => formatAttributeNumber(Infinity), 'bad-value');
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        const text = formatAttributeNumber(d);
        assert.match(text, /^-?[0-9]+(\.[0-9]+)?$/);
        assert.equal(parseNotificationAttributeValue('gt', text), Object.is(d, -0) ? 0 : d);
      }),
      { numRuns: 1000 },
    );
  });

  it('query round trip (property)', () => {
    const arb = fc.record(
      {
        pmin: fc.option(fc.nat(), { nil: null }),
        pmax: fc.nat(),
        gt: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
        st: fc
          .double({ min: 0, noNaN: true, noDefaultInfinity: true })
          .map((d) => (Object.is(d, -0) ? 0 : d)),
        edge: fc.constantFrom(0, 1),
        hqmax: fc.option(fc.nat(), { nil: null }),
      },
      { requiredKeys: [], noNullPrototype: true },
    );
    fc.assert(
      fc.property(arb, (changes) => {
        assert.deepEqual(parseAttributeQuery(formatAttributeQuery(changes)), changes);
      }),
      { numRuns: 300 },
    );
  });

  it('converts to and from link params', () => {
    const attrs: NotificationAttributes = { pmin: 1, pmax: 5, gt: 50 };
    assert.deepEqual(attributesToLinkParams(attrs), [
      { name: 'pmin', value: 1 },
      { name: 'pmax', value: 5 },
      { name: 'gt', value: 50 },
    ]);
    assert.deepEqual(
      attributesFromLinkParams([
        { name: 'dim', value: 2 },
        { name: 'pmin', value: 1 },
        { name: 'lt', value: '42.5' },
        { name: 'pmin', value: 9 },
      ]),
      { pmin: 1, lt: 42.5 },
    );
    rejects(() => attributesFromLinkParams([{ name: 'pmin', value: true }]), 'bad-value', 'pmin');
    rejects(() => attributesToLinkParams({ st: -1 }), 'bad-value', 'st');
  });
});

describe('validateNotificationAttributes', () => {
  it('knows the levels of paths', () => {
    assert.equal(attributeLevelOf(LwM2mPath.ROOT), undefined);
    assert.equal(attributeLevelOf(OBJ), 'object');
    assert.equal(attributeLevelOf(OI), 'object-instance');
    assert.equal(attributeLevelOf(RES), 'resource');
    assert.equal(attributeLevelOf(RI), 'resource-instance');
  });

  it('allows gt, lt, st and edge only on resources and resource instances', () => {
    for (const name of ['gt', 'lt', 'st', 'edge'] as const) {
      const attrs = { [name]: 1 };
      validateNotificationAttributes(attrs, RES);
      validateNotificationAttributes(attrs, RI);
      validateNotificationAttributes(attrs, 'resource');
      rejects(() => validateNotificationAttributes(attrs, OI), 'bad-level', name);
      rejects(() => validateNotificationAttributes(attrs, OBJ), 'bad-level', name);
      rejects(() => validateNotificationAttributes(attrs, 'object'), 'bad-level', name);
    }
    for (const name of ['pmin', 'pmax', 'epmin', 'epmax', 'con', 'hqmax'] as const) {
      for (const p of [OBJ, OI, RES, RI]) validateNotificationAttributes({ [name]: 1 }, p);
      rejects(() => validateNotificationAttributes({ [name]: 1 }, LwM2mPath.ROOT), 'bad-level', name);
    }
    validateNotificationAttributes({}, LwM2mPath.ROOT);
  });

  it('allows gt/lt/st only on numeric types and edge only on Boolean', () => {
    const numeric: ResourceType[] = ['integer', 'unsigned', 'float'];
    const others: ResourceType[] = ['string', 'boolean', 'opaque', 'time', 'objlnk', 'corelnk', 'none'];
    for (const name of ['gt', 'lt', 'st'] as const) {
      for (const t of numeric) validateNotificationAttributes({ [name]: 1 }, RES, t);
      for (const t of others)
        rejects(() => validateNotificationAttributes({ [name]: 1 }, RES, t), 'bad-type', name);
    }
    validateNotificationAttributes({ edge: 1 }, RI, 'boolean');
    for (const t of [...numeric, 'string', 'none'] as ResourceType[])
      rejects(() => validateNotificationAttributes({ edge: 0 }, RES, t), 'bad-type', 'edge');
    // pmin and friends do not depend on the type.
    validateNotificationAttributes({ pmin: 1, con: 1 }, RES, 'string');
  });

  it('checks lt < gt, lt + 2*st < gt and epmin < epmax on both sides', () => {
    validateNotificationAttributes({ lt: 10, gt: 10.5 }, RES);
    rejects(() => validateNotificationAttributes({ lt: 10, gt: 10 }, RES), 'inconsistent', 'lt');
    rejects(() => validateNotificationAttributes({ lt: 11, gt: 10 }, RES), 'inconsistent', 'lt');
    validateNotificationAttributes({ lt: -5, gt: -4 }, RES);
    // lt + 2*st < gt: 10 + 2*2 = 14
    validateNotificationAttributes({ lt: 10, st: 2, gt: 14.01 }, RES);
    rejects(() => validateNotificationAttributes({ lt: 10, st: 2, gt: 14 }, RES), 'inconsistent', 'st');
    rejects(() => validateNotificationAttributes({ lt: 10, st: 3, gt: 14 }, RES), 'inconsistent', 'st');
    // st alone, or with only one threshold, is not constrained.
    validateNotificationAttributes({ st: 100, gt: 1 }, RES);
    validateNotificationAttributes({ st: 100, lt: 1 }, RES);
    validateNotificationAttributes({ epmin: 1, epmax: 2 }, OI);
    rejects(() => validateNotificationAttributes({ epmin: 2, epmax: 2 }, OI), 'inconsistent', 'epmin');
    rejects(() => validateNotificationAttributes({ epmin: 3, epmax: 2 }, OI), 'inconsistent', 'epmin');
    // pmax < pmin is not an error.
    validateNotificationAttributes({ pmin: 10, pmax: 5 }, OBJ);
  });

  it('checks programmatic values', () => {
    rejects(() => validateNotificationAttributes({ pmin: 1.5 }, OBJ), 'bad-value', 'pmin');
    rejects(() => validateNotificationAttributes({ pmax: -1 }, OBJ), 'bad-value', 'pmax');
    rejects(() => validateNotificationAttributes({ gt: NaN }, RES), 'bad-value', 'gt');
    rejects(() => validateNotificationAttributes({ st: -0.1 }, RES), 'bad-value', 'st');
    rejects(() => validateNotificationAttributes({ con: 2 }, RES), 'bad-value', 'con');
  });
});

describe('applyWriteAttributes', () => {
  it('sets and unsets, leaving the current set untouched', () => {
    const current: NotificationAttributes = { pmin: 1, pmax: 5, gt: 50 };
    const next = applyWriteAttributes(current, { pmin: null, lt: 10, st: 1 }, RES, 'float');
    assert.deepEqual(next, { pmax: 5, gt: 50, lt: 10, st: 1 });
    assert.deepEqual(current, { pmin: 1, pmax: 5, gt: 50 });
    assert.deepEqual(applyWriteAttributes(next, { hqmax: null }, RES), next);
  });

  it('refuses a write that leaves an inconsistent combination', () => {
    const current: NotificationAttributes = { gt: 50 };
    rejects(() => applyWriteAttributes(current, { lt: 60 }, RES), 'inconsistent', 'lt');
    rejects(() => applyWriteAttributes({ lt: 10, gt: 50 }, { st: 20 }, RES), 'inconsistent', 'st');
    rejects(() => applyWriteAttributes({ epmax: 5 }, { epmin: 5 }, OBJ), 'inconsistent', 'epmin');
    // Unsetting one side makes it consistent again.
    assert.deepEqual(applyWriteAttributes({ lt: 10, gt: 50 }, { gt: null, lt: 60 }, RES), { lt: 60 });
  });

  it('refuses attributes at the wrong level or type', () => {
    rejects(() => applyWriteAttributes({}, { gt: 1 }, OI), 'bad-level', 'gt');
    rejects(() => applyWriteAttributes({}, { edge: 1 }, RES, 'integer'), 'bad-type', 'edge');
    assert.deepEqual(applyWriteAttributes({}, { edge: 1 }, RES, 'boolean'), { edge: 1 });
  });
});

describe('resolveEffectiveAttributes', () => {
  it('takes each attribute from the most specific level', () => {
    const eff = resolveEffectiveAttributes({
      object: { pmin: 1, pmax: 100, con: 1, hqmax: 4 },
      objectInstance: { pmin: 2, epmin: 3 },
      resource: { pmin: 3, gt: 50, st: 1 },
      resourceInstance: { gt: 60 },
    });
    assert.deepEqual(eff, { pmin: 3, pmax: 100, gt: 60, st: 1, epmin: 3, con: 1, hqmax: 4 });
    assert.deepEqual(resolveEffectiveAttributes({}), {});
  });

  it('ignores R-attributes found on object levels and fills pmin/pmax defaults', () => {
    const eff = resolveEffectiveAttributes(
      { object: { gt: 1, pmax: 30 }, objectInstance: { edge: 1 } },
      { pmin: 7, pmax: 60 },
    );
    assert.deepEqual(eff, { pmin: 7, pmax: 30 });
  });
});

describe('effectivePmax', () => {
  it('ignores pmax below pmin, zero or absent', () => {
    assert.equal(effectivePmax({ pmin: 5, pmax: 10 }), 10);
    assert.equal(effectivePmax({ pmin: 10, pmax: 10 }), 10);
    assert.equal(effectivePmax({ pmin: 11, pmax: 10 }), undefined);
    assert.equal(effectivePmax({ pmax: 10 }), 10);
    assert.equal(effectivePmax({ pmax: 0 }), undefined);
    assert.equal(effectivePmax({ pmin: 3 }), undefined);
  });
});

describe('Observe-Composite and version filters', () => {
  it('allows only pmin, pmax, epmin, epmax and con on Observe-Composite', () => {
    assert.deepEqual([...OBSERVE_COMPOSITE_ATTRIBUTES].sort(), ['con', 'epmax', 'epmin', 'pmax', 'pmin']);
    for (const name of NOTIFICATION_ATTRIBUTE_NAMES) {
      const allowed = ['pmin', 'pmax', 'epmin', 'epmax', 'con'].includes(name);
      assert.equal(isObserveCompositeAttribute(name), allowed, name);
      if (allowed) checkObserveCompositeAttributes({ [name]: 1 });
      else rejects(() => checkObserveCompositeAttributes({ [name]: 1 }), 'not-allowed', name);
    }
    checkObserveCompositeAttributes({ pmin: null });
    assert.equal(isObserveCompositeAttribute('depth'), false);
  });

  it('drops attributes newer than the peer version', () => {
    const all = { pmin: 1, pmax: 2, gt: 3, lt: 1, st: 0, epmin: 1, epmax: 2, edge: 1, con: 1, hqmax: 5 };
    assert.deepEqual(filterAttributesForVersion(all, '1.2'), all);
    assert.deepEqual(filterAttributesForVersion(all, '1.3'), all);
    assert.deepEqual(filterAttributesForVersion(all, '1.1'), {
      pmin: 1,
      pmax: 2,
      gt: 3,
      lt: 1,
      st: 0,
      epmin: 1,
      epmax: 2,
    });
    assert.deepEqual(filterAttributesForVersion(all, '1.0'), { pmin: 1, pmax: 2, gt: 3, lt: 1, st: 0 });
    assert.deepEqual(filterAttributesForVersion({ con: null, pmin: null }, '1.1'), { pmin: null });
    assert.deepEqual(filterAttributesForVersion(all, 'bogus'), all);
  });

  it('recognises attribute names', () => {
    assert.equal(NOTIFICATION_ATTRIBUTE_NAMES.length, 10);
    for (const name of NOTIFICATION_ATTRIBUTE_NAMES) assert.ok(isNotificationAttributeName(name));
    assert.equal(isNotificationAttributeName('dim'), false);
    assert.equal(isNotificationAttributeName('toString'), false);
  });
});
