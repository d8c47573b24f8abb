import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BootstrapConfigError, parseBootstrapConfig } from '../../src/bootstrap/bootstrap-config.js';
import {
  checkTemplateValues,
  isTemplateReference,
  parseTemplate,
  parseTemplateReference,
  placeholdersOf,
  redactTemplate,
  resolveConfigDocument,
  resolveTemplate,
  secretPlaceholders,
} from '../../src/bootstrap/bootstrap-template.js';
import type { TemplateValue } from '../../src/bootstrap/bootstrap-template.js';

const PSK = '00112233445566778899aabbccddeeff';

/** A device type: PSK account per device, lifetime per device, identity = endpoint. */
const SENSOR = {
  servers: [
    {
      shortServerId: 101,
      uri: 'coaps://${host}:5684',
      lifetime: '${lifetime}',
      binding: 'U',
      security: { mode: 'psk', identity: '${endpoint}', key: '${psk}' },
    },
  ],
  deleteFirst: '${wipe}',
};

/** BootstrapConfigError with this field (and message), for assert.throws. */
function configError(field: string, message?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof BootstrapConfigError, String(e));
    assert.equal(e.field, field, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

describe('placeholdersOf', () => {
  it('lists each appearance with its field and whether it is the whole string', () => {
    assert.deepEqual(placeholdersOf(SENSOR), [
      { name: 'host', field: 'servers[0].uri', whole: false },
      { name: 'lifetime', field: 'servers[0].lifetime', whole: true },
      { name: 'endpoint', field: 'servers[0].security.identity', whole: true },
      { name: 'psk', field: 'servers[0].security.key', whole: true },
      { name: 'wipe', field: 'deleteFirst', whole: true },
    ]);
    assert.deepEqual(placeholdersOf({ a: ['x${b}y${c}', 'none', 1, true, null] }), [
      { name: 'b', field: 'a[0]', whole: false },
      { name: 'c', field: 'a[0]', whole: false },
    ]);
  });

  it('refuses malformed placeholders, naming the field', () => {
    for (const bad of ['${}', '${1a}', '${a-b}', 'x${open', '${a b}', `\${${'a'.repeat(65)}}`])
      assert.throws(
        () => placeholdersOf({ servers: [{ uri: bad }] }),
        configError('servers[0].uri', /malformed placeholder/),
        bad,
      );
    // A lone $ or { is text.
    assert.deepEqual(placeholdersOf({ a: '$5 {x} $ {y}' }), []);
    assert.equal(placeholdersOf({ a: `\${${'a'.repeat(64)}}` }).length, 1);
  });

  it('finds the placeholders of secret fields', () => {
    assert.deepEqual(
      [
        ...secretPlaceholders({
          servers: [{ security: { key: '${psk}', identity: '${id}' } }],
          bootstrapServer: { security: { privateKey: '30${bsKey}', certificate: '${cert}' } },
        }),
      ],
      ['psk', 'bsKey'],
    );
  });
});

describe('resolveTemplate', () => {
  const values = { host: 'lwm2m.example', lifetime: 300, psk: PSK.toUpperCase(), wipe: false };

  it('fills in values and ${endpoint}, whole placeholders taking the value’s type, then parses', () => {
    assert.deepEqual(resolveTemplate(SENSOR, values, 'urn:dev:1'), {
      servers: [
        {
          shortServerId: 101,
          uri: 'coaps://lwm2m.example:5684',
          lifetime: 300,
          binding: 'U',
          security: { mode: 'psk', identity: 'urn:dev:1', key: PSK },
        },
      ],
      deleteFirst: false,
    });
  });

  it('uses a value’s text inside a longer string, and ignores values no placeholder uses', () => {
    const t = {
      servers: [{ shortServerId: 1, uri: 'coap://h${n}.example:${port}/x', security: { mode: 'nosec' } }],
    };
    const got = resolveTemplate(t, { n: 7, port: 5683, unused: true }, 'ep');
    assert.equal(got.servers[0]?.uri, 'coap://h7.example:5683/x');
  });

  it('names the field of a placeholder without a value', () => {
    const { psk: _psk, ...noPsk } = values;
    assert.throws(
      () => resolveTemplate(SENSOR, noPsk, 'ep'),
      configError('servers[0].security.key', /^servers\[0\]\.security\.key: no value for \$\{psk\}$/),
    );
    assert.throws(() => resolveTemplate(SENSOR, {}, 'ep'), configError('servers[0].uri', /\$\{host\}/));
  });

  it('a value that does not fit fails as the resolved document’s parse error', () => {
    assert.throws(
      () => resolveTemplate(SENSOR, { ...values, psk: 'xyz' }, 'ep'),
      configError('servers[0].security.key', /must be hex/),
    );
    // Whole placeholders keep the value's type: a string where a number is wanted.
    assert.throws(
      () => resolveTemplate(SENSOR, { ...values, lifetime: '300' }, 'ep'),
      configError('servers[0].lifetime', /integer/),
    );
    assert.throws(
      () => resolveTemplate(SENSOR, { ...values, host: 'a b' }, 'ep'),
      configError('servers[0].uri'),
    );
  });

  it('checks the values: names, types, sizes, and no value for the built-in ${endpoint}', () => {
    const cases: [unknown, string][] = [
      [{ 'bad-name': 'x' }, 'values.bad-name'],
      [{ endpoint: 'x' }, 'values.endpoint'],
      [{ a: null }, 'values.a'],
      [{ a: { nested: 1 } }, 'values.a'],
      [{ a: Number.NaN }, 'values.a'],
      [{ a: 'f'.repeat(16_385) }, 'values.a'],
      [[1], 'values'],
    ];
    for (const [v, field] of cases)
      assert.throws(
        () => resolveTemplate(SENSOR, v as Record<string, TemplateValue>, 'ep'),
        configError(field),
        field,
      );
    const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`v${i}`, i]));
    assert.throws(() => checkTemplateValues(many), configError('values', /more than 256/));
  });

  it('bounds the resolved size however often a large value is used', () => {
    const t = { servers: [{ uri: Array.from({ length: 100 }, () => '${big}').join('') }] };
    assert.throws(
      () => resolveTemplate(t, { big: 'a'.repeat(16_000) }, 'ep'),
      configError('servers[0].uri', /too large/),
    );
  });

  it('refuses documents nested deeper than any configuration', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.throws(
      () => resolveTemplate({ servers: deep }, {}, 'ep'),
      configError('servers' + '[0]'.repeat(8)),
    );
    assert.throws(() => parseTemplate({ servers: deep }), BootstrapConfigError);
  });
});

describe('parseTemplate', () => {
  it('accepts a template whose placeholders stand where values can fit', () => {
    const t = parseTemplate(SENSOR);
    assert.equal(t.document, SENSOR);
    assert.deepEqual(
      t.placeholders.map((p) => p.name),
      ['host', 'lifetime', 'endpoint', 'psk', 'wipe'],
    );
    // Placeholders in every kind of field at once: numbers, scheme, hex halves, versions, bindings.
    parseTemplate({
      servers: [
        {
          shortServerId: '${ssid}',
          uri: '${uri}',
          lifetime: '${lt}',
          binding: 'U${queue}',
          defaultMinPeriod: 60,
          defaultMaxPeriod: '${pmax}',
          notificationStoring: '${store}',
          supportedServerVersions: ['${v}', '1.${minor}'],
          security: { mode: 'rpk', publicKey: '3059${pub}', privateKey: '${priv}0', serverPublicKey: 'ab' },
        },
        { shortServerId: 65534, uri: 'coap://${h}', security: { mode: 'nosec' } },
      ],
      bootstrapServer: {
        uri: 'coaps://bs.example:${port}',
        security: {
          mode: 'x509',
          certificate: '${cert}',
          privateKey: '${bsKey}',
          serverCertificate: 'cafe',
          certificateUsage: '${usage}',
        },
        clientHoldOffTime: '${holdOff}',
        accountTimeout: 0,
      },
      deleteFirst: '${wipe}',
    });
  });

  it('still checks everything the placeholders leave alone, naming the field', () => {
    const cases: [unknown, string, RegExp?][] = [
      [{ ...SENSOR, extra: '${x}' }, 'extra', /is not a field/],
      [{ servers: [{ ...SENSOR.servers[0], lifetme: '${x}' }] }, 'servers[0].lifetme'],
      [{ servers: [{ ...SENSOR.servers[0], binding: 'X${q}' }] }, 'servers[0].binding'],
      [{ servers: [{ ...SENSOR.servers[0], uri: 'coap://${host}' }] }, 'servers[0].uri', /needs a secure/],
      [{ servers: [{ ...SENSOR.servers[0], shortServerId: 'ssid-${n}' }] }, 'servers[0].shortServerId'],
      [
        { servers: [{ ...SENSOR.servers[0], security: { mode: '${mode}', key: '${k}' } }] },
        'servers[0].security.mode',
        /cannot be a placeholder/,
      ],
      [
        { servers: [{ ...SENSOR.servers[0], security: { mode: 'psk', key: '${k}' } }] },
        'servers[0].security.identity',
      ],
      [{ servers: [] }, 'servers'],
      [{ template: 'other', values: {} }, 'template', /is not a field/],
    ];
    for (const [doc, field, message] of cases)
      assert.throws(() => parseTemplate(doc), configError(field, message), field);
    assert.throws(() => parseTemplate('x'), configError('(template)'));
  });

  it('keeps stand-in Short Server IDs clear of the literal ones', () => {
    const servers = [
      { shortServerId: 65534, uri: 'coap://a', security: { mode: 'nosec' } },
      { shortServerId: '${s1}', uri: 'coap://b', security: { mode: 'nosec' } },
      { shortServerId: '${s2}', uri: 'coap://c', security: { mode: 'nosec' } },
      { shortServerId: 65532, uri: 'coap://d', security: { mode: 'nosec' } },
    ];
    parseTemplate({ servers });
  });
});

describe('template references', () => {
  it('tells a reference from a configuration and validates it', () => {
    assert.equal(isTemplateReference({ template: 'sensor' }), true);
    assert.equal(isTemplateReference({ servers: [] }), false);
    assert.equal(isTemplateReference(null), false);
    assert.deepEqual(parseTemplateReference({ template: 'sensor-v1.2' }), {
      template: 'sensor-v1.2',
      values: {},
    });
    assert.deepEqual(parseTemplateReference({ template: 's', values: { a: 1 } }), {
      template: 's',
      values: { a: 1 },
    });
    assert.throws(() => parseTemplateReference({ template: 's', servers: [] }), configError('servers'));
    assert.throws(() => parseTemplateReference({ template: 1 }), configError('template'));
    assert.throws(() => parseTemplateReference({ template: '../x' }), configError('template'));
    assert.throws(
      () => parseTemplateReference({ template: 's', values: { a: [] } }),
      configError('values.a'),
    );
  });

  it('resolveConfigDocument resolves through the lookup; an unknown template is `template: …`', async () => {
    const lookup = (name: string) => Promise.resolve(name === 'sensor' ? SENSOR : undefined);
    const values = { host: 'h.example', lifetime: 60, psk: PSK, wipe: true };
    const got = await resolveConfigDocument({ template: 'sensor', values }, 'dev-9', lookup);
    assert.equal(got.servers[0]?.security.mode === 'psk' && got.servers[0].security.identity, 'dev-9');
    const plain = { servers: [{ shortServerId: 1, uri: 'coap://a', security: { mode: 'nosec' } }] };
    assert.deepEqual(await resolveConfigDocument(plain, 'x', lookup), parseBootstrapConfig(plain));
    await assert.rejects(
      resolveConfigDocument({ template: 'meter', values }, 'x', lookup),
      configError('template', /no template "meter"/),
    );
  });
});

describe('redactTemplate', () => {
  it('shows placeholders in secret fields but no fixed secret text', () => {
    const t = {
      servers: [{ security: { mode: 'psk', identity: 'id-${endpoint}', key: '${psk}' } }],
      bootstrapServer: { security: { privateKey: '3041${tail}', certificate: 'cafe' } },
    };
    assert.deepEqual(redactTemplate(t), {
      servers: [{ security: { mode: 'psk', identity: 'id-${endpoint}', key: '${psk}' } }],
      bootstrapServer: { security: { privateKey: '****${tail}', certificate: 'cafe' } },
    });
    assert.deepEqual(redactTemplate({ key: PSK, privateKey: '${bad' }), {
      key: '*'.repeat(32),
      privateKey: '*****',
    });
  });
});

// ---- property: a template resolved with values is the document written out by hand ----

const hexString = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 20 })
  .map((b) => Buffer.from(b).toString('hex'));
const host = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}\.example$/);

const securityArb = fc.oneof(
  fc.record({
    mode: fc.constant('psk'),
    identity: fc.stringMatching(/^[A-Za-z0-9:._-]{1,32}$/),
    key: hexString,
  }),
  fc.record({
    mode: fc.constant('rpk'),
    publicKey: hexString,
    privateKey: hexString,
    serverPublicKey: hexString,
  }),
  fc.record(
    {
      mode: fc.constant('x509'),
      certificate: hexString,
      privateKey: hexString,
      serverCertificate: hexString,
      certificateUsage: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ['mode', 'certificate', 'privateKey', 'serverCertificate'] },
  ),
);

const serverArb = fc
  .record(
    {
      uri: fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `coaps://${h}:${p}`),
      lifetime: fc.integer({ min: 0, max: 0xffff_ffff }),
      binding: fc.constantFrom('U', 'UQ', 'T', 'UT'),
      periods: fc.tuple(fc.nat(1000), fc.nat(1000)),
      notificationStoring: fc.boolean(),
      supportedServerVersions: fc.array(fc.constantFrom('1.0', '1.1', '1.2', '1.2.1'), { maxLength: 3 }),
      security: securityArb,
    },
    { requiredKeys: ['uri', 'security'] },
  )
  .map(({ periods, ...s }) =>
    periods === undefined
      ? s
      : { ...s, defaultMinPeriod: Math.min(...periods), defaultMaxPeriod: Math.max(...periods) },
  );

const bootstrapArb = fc.record(
  {
    uri: host.map((h) => `coaps://${h}`),
    security: securityArb,
    clientHoldOffTime: fc.nat(),
    accountTimeout: fc.nat(),
  },
  { requiredKeys: ['uri', 'security'] },
);

const configArb = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 65534 }), { minLength: 1, maxLength: 3 }),
    fc.option(fc.boolean(), { nil: undefined }),
    fc.option(bootstrapArb, { nil: undefined }),
  )
  .chain(([ssids, deleteFirst, bootstrapServer]) =>
    fc.tuple(...ssids.map(() => serverArb)).map((servers) => ({
      servers: servers.map((s, i) => ({ shortServerId: ssids[i], ...s })),
      ...(deleteFirst === undefined ? {} : { deleteFirst }),
      ...(bootstrapServer === undefined ? {} : { bootstrapServer }),
    })),
  );

/** Choices that turn leaves into placeholders: [replace?, start, end] per leaf. */
const choicesArb = fc.array(fc.tuple(fc.boolean(), fc.nat(), fc.nat()), { minLength: 64, maxLength: 64 });

/** The document with some leaves (never `mode`) replaced by placeholders, and the values for them. */
function templatize(
  doc: unknown,
  choices: readonly [boolean, number, number][],
): { template: unknown; values: Record<string, TemplateValue> } {
  const values: Record<string, TemplateValue> = {};
  let n = 0;
  const walk = (v: unknown, key: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, key));
    if (typeof v === 'object' && v !== null)
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    const [replace, a, b] = choices[n % choices.length]!;
    const name = `v${n++}`;
    if (!replace || key === 'mode') return v;
    if (typeof v !== 'string' || a % 3 === 0) {
      values[name] = v as TemplateValue;
      return `\${${name}}`;
    }
    // A part of the string: text, placeholder, text.
    const i = a % v.length;
    const j = i + 1 + (b % (v.length - i));
    values[name] = v.slice(i, j);
    return `${v.slice(0, i)}\${${name}}${v.slice(j)}`;
  };
  return { template: walk(doc, ''), values };
}

describe('template property', () => {
  it('a template resolved with values equals the same document written out by hand', () => {
    fc.assert(
      fc.property(configArb, choicesArb, (doc, choices) => {
        const { template, values } = templatize(doc, choices);
        const expected = parseBootstrapConfig(doc);
        // The template passes validation, and resolves to what the hand-written document parses to.
        parseTemplate(template);
        assert.deepEqual(resolveTemplate(template, values, 'ep'), expected);
        // With one value missing, the error names a field where that placeholder stands.
        const uses = placeholdersOf(template);
        const first = uses[0];
        if (first !== undefined) {
          const { [first.name]: _dropped, ...fewer } = values;
          assert.throws(() => resolveTemplate(template, fewer, 'ep'), configError(first.field));
        }
      }),
      { numRuns: 300 },
    );
  });
});

// parseBootstrapConfig's option for factory configurations (src/client/provisioning.ts); here
// because this file's owner added it beside the template work.
describe('parseBootstrapConfig allowNoServers', () => {
  const bs = { uri: 'coap://bs.example:5683', security: { mode: 'nosec' } };

  it('lets a configuration with a bootstrapServer have no servers', () => {
    for (const doc of [{ bootstrapServer: bs }, { servers: [], bootstrapServer: bs }])
      assert.deepEqual(parseBootstrapConfig(doc, { allowNoServers: true }), {
        servers: [],
        bootstrapServer: bs,
        deleteFirst: true,
      });
  });

  it('still needs servers without a bootstrapServer, and without the option', () => {
    assert.throws(
      () => parseBootstrapConfig({}, { allowNoServers: true }),
      configError('servers', /required/),
    );
    assert.throws(
      () => parseBootstrapConfig({ servers: [] }, { allowNoServers: true }),
      configError('servers', /at least one/),
    );
    assert.throws(() => parseBootstrapConfig({ bootstrapServer: bs }), configError('servers', /required/));
    assert.throws(
      () => parseBootstrapConfig({ bootstrapServer: bs, servers: 'x' }, { allowNoServers: true }),
      configError('servers', /must be a list/),
    );
  });
});
