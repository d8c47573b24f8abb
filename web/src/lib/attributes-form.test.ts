import { describe, expect, it } from 'vitest';
import type { AttributeForm, AttributeName } from './attributes-form.js';
import {
  applicableAttributes,
  attributesBody,
  emptyAttributeForm,
  formatAttributes,
  levelOfPath,
} from './attributes-form.js';

function form(fields: Partial<Record<AttributeName, string | null>>): AttributeForm {
  const f = { ...emptyAttributeForm() };
  for (const [k, v] of Object.entries(fields))
    f[k as AttributeName] = v === null ? { text: '', clear: true } : { text: v, clear: false };
  return f;
}

const resource = {
  operation: 'write-attributes',
  level: 'resource',
  resourceType: 'float',
  lwm2mVersion: '1.2',
} as const;

describe('attributesBody', () => {
  it('sends filled fields as numbers and leaves empty ones out', () => {
    expect(attributesBody(form({ pmin: '5', pmax: '60', gt: '30.5', lt: '-10' }), resource)).toEqual({
      ok: true,
      value: { pmin: 5, pmax: 60, gt: 30.5, lt: -10 },
    });
    expect(attributesBody(emptyAttributeForm(), resource)).toEqual({ ok: true, value: {} });
  });

  it('sends null for a cleared field in Write-Attributes only', () => {
    expect(attributesBody(form({ gt: null, pmin: '1' }), resource)).toEqual({
      ok: true,
      value: { pmin: 1, gt: null },
    });
    expect(attributesBody(form({ gt: null }), { ...resource, operation: 'observe' }).ok).toBe(false);
  });

  it('checks each syntax', () => {
    expect(attributesBody(form({ pmin: '1.5' }), resource).ok).toBe(false);
    expect(attributesBody(form({ pmin: '-1' }), resource).ok).toBe(false);
    expect(attributesBody(form({ st: '-1' }), resource).ok).toBe(false);
    expect(attributesBody(form({ edge: '2' }), { ...resource, resourceType: 'boolean' }).ok).toBe(false);
    expect(attributesBody(form({ con: '1' }), resource)).toEqual({ ok: true, value: { con: 1 } });
  });

  it('requires lt < gt, lt + 2·st < gt and epmin < epmax', () => {
    expect(attributesBody(form({ gt: '10', lt: '10' }), resource)).toEqual({
      ok: false,
      error: 'lt (10) must be less than gt (10)',
    });
    expect(attributesBody(form({ gt: '10', lt: '0', st: '5' }), resource).ok).toBe(false);
    expect(attributesBody(form({ gt: '10', lt: '0', st: '4.9' }), resource).ok).toBe(true);
    expect(attributesBody(form({ epmin: '10', epmax: '10' }), resource).ok).toBe(false);
    // pmax < pmin is allowed (pmax is then ignored, Core §5.1.2).
    expect(attributesBody(form({ pmin: '60', pmax: '10' }), resource).ok).toBe(true);
  });

  it('refuses attributes the target or the client version does not take', () => {
    const instance = { operation: 'observe', level: 'object-instance', lwm2mVersion: '1.2' } as const;
    expect(attributesBody(form({ gt: '1' }), instance)).toEqual({
      ok: false,
      error: 'gt does not apply here',
    });
    expect(attributesBody(form({ edge: '1' }), resource).ok).toBe(false);
    expect(attributesBody(form({ hqmax: '3' }), { ...resource, lwm2mVersion: '1.1' }).ok).toBe(false);
    expect(attributesBody(form({ epmin: '3' }), { ...resource, lwm2mVersion: '1.0' }).ok).toBe(false);
    expect(attributesBody(form({ st: '1' }), { ...resource, operation: 'observe-composite' }).ok).toBe(false);
  });
});

describe('applicableAttributes', () => {
  it('offers R-attributes only on numeric resources, edge only on booleans', () => {
    expect(applicableAttributes(resource)).toEqual([
      'pmin',
      'pmax',
      'gt',
      'lt',
      'st',
      'epmin',
      'epmax',
      'con',
      'hqmax',
    ]);
    expect(applicableAttributes({ ...resource, resourceType: 'boolean' })).toContain('edge');
    expect(applicableAttributes({ ...resource, resourceType: 'string' })).toEqual([
      'pmin',
      'pmax',
      'epmin',
      'epmax',
      'con',
      'hqmax',
    ]);
  });

  it('offers the 1.0 set to a 1.0 client and the composite set to Observe-Composite', () => {
    expect(applicableAttributes({ ...resource, lwm2mVersion: '1.0' })).toEqual([
      'pmin',
      'pmax',
      'gt',
      'lt',
      'st',
    ]);
    expect(applicableAttributes({ operation: 'observe-composite', lwm2mVersion: '1.2' })).toEqual([
      'pmin',
      'pmax',
      'epmin',
      'epmax',
      'con',
    ]);
  });
});

describe('helpers', () => {
  it('finds the level of a path, behind a gateway prefix too', () => {
    expect(levelOfPath('/3')).toBe('object');
    expect(levelOfPath('/3/0')).toBe('object-instance');
    expect(levelOfPath('/3/0/7')).toBe('resource');
    expect(levelOfPath('/dev1/3/0/7/1')).toBe('resource-instance');
    expect(levelOfPath('/')).toBeUndefined();
  });

  it('formats attributes as link params', () => {
    expect(formatAttributes({ pmin: 5, gt: null })).toBe('pmin=5&gt');
    expect(formatAttributes(undefined)).toBe('');
  });
});
