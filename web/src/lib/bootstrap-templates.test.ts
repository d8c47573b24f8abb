import { describe, expect, it } from 'vitest';
import type { BootstrapConfigView, BootstrapTemplateView, BootstrapTemplatedView } from '../api-types.js';
import {
  EMPTY_TEMPLATED_FORM,
  describeValue,
  describeValues,
  hasRedactedSecrets,
  isTemplated,
  parseTemplateText,
  placeholderNames,
  secretsToReenterOf,
  templateInputs,
  templateJson,
  templateReferenceBody,
  templateValue,
  templatedFormFromView,
} from './bootstrap-templates.js';

const SENSOR: BootstrapTemplateView = {
  name: 'sensor',
  placeholders: ['host', 'lifetime', 'endpoint', 'psk', 'store'],
  secretPlaceholders: ['psk'],
  template: {
    servers: [
      {
        shortServerId: 101,
        uri: 'coaps://${host}:5684',
        lifetime: '${lifetime}',
        notificationStoring: '${store}',
        security: { mode: 'psk', identity: '${endpoint}', key: '${psk}' },
      },
    ],
  },
  clients: 0,
};

const TEMPLATED: BootstrapTemplatedView = {
  endpoint: 'dev-7',
  template: 'sensor',
  values: { host: 'h.example', lifetime: 300, psk: { length: 32 }, store: false },
  resolved: { endpoint: 'dev-7', servers: [] },
};

describe('isTemplated', () => {
  it('tells a device of a template from a configuration', () => {
    const plain: BootstrapConfigView = { endpoint: 'a', servers: [], deleteFirst: true };
    expect(isTemplated(TEMPLATED)).toBe(true);
    expect(isTemplated(plain)).toBe(false);
    expect(isTemplated({ endpoint: 'b', error: 'servers: is required' })).toBe(false);
  });
});

describe('templateInputs', () => {
  it('gives one input per placeholder but endpoint, secrets and kinds from the fields', () => {
    expect(templateInputs(SENSOR)).toEqual([
      { name: 'host', secret: false, kind: 'string' },
      { name: 'lifetime', secret: false, kind: 'number' },
      { name: 'psk', secret: true, kind: 'string' },
      { name: 'store', secret: false, kind: 'boolean' },
    ]);
  });

  it('falls back to the document when the view has no placeholder list; a secret by its field', () => {
    const view: BootstrapTemplateView = {
      ...SENSOR,
      placeholders: [],
      secretPlaceholders: [],
      template: {
        servers: [
          { uri: 'coaps://${host}', security: { mode: 'rpk', privateKey: '${pk}', publicKey: '${pub}' } },
        ],
      },
    };
    expect(templateInputs(view)).toEqual([
      { name: 'host', secret: false, kind: 'string' },
      { name: 'pk', secret: true, kind: 'string' },
      { name: 'pub', secret: false, kind: 'string' },
    ]);
  });

  it('a placeholder also used inside text stays a number only when every other use is a number', () => {
    const view: BootstrapTemplateView = {
      ...SENSOR,
      placeholders: ['n'],
      secretPlaceholders: [],
      template: { servers: [{ shortServerId: '${n}', uri: 'coap://h/${n}', binding: '${n}' }] },
    };
    expect(templateInputs(view)).toEqual([{ name: 'n', secret: false, kind: 'string' }]);
    const numeric: BootstrapTemplateView = {
      ...view,
      template: { servers: [{ shortServerId: '${n}', uri: 'coap://h/${n}' }] },
    };
    expect(templateInputs(numeric)[0]?.kind).toBe('number');
  });
});

describe('placeholderNames', () => {
  it('lists distinct names in document order and ignores malformed ones', () => {
    expect(placeholderNames({ a: '${x}-${y}', b: ['${x}', '${1bad}', '${ z}'], c: { d: '${z_1}' } })).toEqual(
      ['x', 'y', 'z_1'],
    );
  });
});

describe('templateValue', () => {
  it('turns numbers and booleans into their type, anything else as typed', () => {
    expect(templateValue(' 300 ', 'number')).toBe(300);
    expect(templateValue('1e3', 'number')).toBe(1000);
    expect(templateValue('soon', 'number')).toBe('soon');
    expect(templateValue('false', 'boolean')).toBe(false);
    expect(templateValue('true', 'boolean')).toBe(true);
    expect(templateValue('yes', 'boolean')).toBe('yes');
    expect(templateValue(' 300 ', 'string')).toBe(' 300 ');
  });
});

describe('templateReferenceBody', () => {
  const inputs = templateInputs(SENSOR);

  it('builds {template, values}, converting kinds and leaving empty inputs out', () => {
    const check = templateReferenceBody(
      {
        ...EMPTY_TEMPLATED_FORM,
        endpoint: ' dev-7 ',
        template: 'sensor',
        values: { host: 'h.example', lifetime: '600', psk: '00ff', store: '', stray: 'x' },
      },
      inputs,
    );
    expect(check).toEqual({
      ok: true,
      endpoint: 'dev-7',
      body: { template: 'sensor', values: { host: 'h.example', lifetime: 600, psk: '00ff' } },
    });
  });

  it('needs an endpoint and a template', () => {
    const check = templateReferenceBody(EMPTY_TEMPLATED_FORM, inputs);
    expect(check).toEqual({
      ok: false,
      errors: [
        { field: 'endpoint', message: 'is required' },
        { field: 'template', message: 'choose a template' },
      ],
    });
    const bad = templateReferenceBody({ ...EMPTY_TEMPLATED_FORM, endpoint: 'e', template: '.x' }, inputs);
    expect(bad.ok).toBe(false);
  });
});

describe('editing a device of a template', () => {
  it('pre-fills plain values, never secrets, and asks for the secrets again', () => {
    const form = templatedFormFromView(TEMPLATED);
    expect(form).toEqual({
      endpoint: 'dev-7',
      editing: true,
      template: 'sensor',
      values: { host: 'h.example', lifetime: '300', store: 'false' },
      storedSecrets: { psk: 32 },
    });
    const inputs = templateInputs(SENSOR);
    expect(secretsToReenterOf(form, inputs)).toEqual(['psk']);
    expect(secretsToReenterOf({ ...form, values: { ...form.values, psk: 'aa' } }, inputs)).toEqual([]);
  });
});

describe('describeValue(s)', () => {
  it('shows secrets by length only', () => {
    expect(describeValue({ length: 32 })).toBe('32 characters (not shown)');
    expect(describeValue(300)).toBe('300');
    expect(describeValue(false)).toBe('false');
    expect(describeValues(TEMPLATED.values)).toBe(
      'host = h.example · lifetime = 300 · psk = 32 characters (not shown) · store = false',
    );
  });
});

describe('template text', () => {
  it('parses an object and refuses other JSON and non-JSON', () => {
    expect(parseTemplateText('{"servers": []}')).toEqual({ ok: true, document: { servers: [] } });
    expect(parseTemplateText('[1]')).toEqual({
      ok: false,
      error: 'a template is a JSON object (a configuration document)',
    });
    const bad = parseTemplateText('{servers');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.startsWith('not JSON: ')).toBe(true);
  });

  it('round-trips a template through its text', () => {
    expect(parseTemplateText(templateJson(SENSOR.template))).toEqual({ ok: true, document: SENSOR.template });
  });

  it('finds fixed secrets the API shows as *', () => {
    expect(hasRedactedSecrets(SENSOR.template)).toBe(false);
    expect(hasRedactedSecrets({ servers: [{ security: { key: '********' } }] })).toBe(true);
    expect(hasRedactedSecrets({ servers: [{ security: { privateKey: '**${pk}' } }] })).toBe(true);
    expect(hasRedactedSecrets({ servers: [{ uri: 'coap://*' }] })).toBe(false);
  });
});
