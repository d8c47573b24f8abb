import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BootstrapConfigError,
  MAX_SERVER_ACCOUNTS,
  parseBootstrapConfig,
} from '../../src/bootstrap/bootstrap-config.js';

const nosec = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  shortServerId: 1,
  uri: 'coap://127.0.0.1:5683',
  security: { mode: 'nosec' },
  ...over,
});
const psk = { mode: 'psk', identity: 'dev-1', key: '0123456789ABCDEF' };

describe('parseBootstrapConfig', () => {
  it('reads a minimal configuration and defaults deleteFirst to true', () => {
    const config = parseBootstrapConfig({ servers: [nosec()] });
    assert.deepEqual(config, {
      servers: [{ shortServerId: 1, uri: 'coap://127.0.0.1:5683', security: { mode: 'nosec' } }],
      deleteFirst: true,
    });
  });

  it('reads every field, lower-casing hex', () => {
    const config = parseBootstrapConfig({
      servers: [
        nosec({
          uri: 'coaps://lwm2m.example:5684',
          lifetime: 300,
          binding: 'UQ',
          defaultMinPeriod: 1,
          defaultMaxPeriod: 60,
          notificationStoring: false,
          supportedServerVersions: ['1.1', '1.2.1'],
          security: psk,
        }),
        {
          shortServerId: 2,
          uri: 'coaps+tcp://b.example',
          security: {
            mode: 'x509',
            certificate: 'AA',
            privateKey: 'bb',
            serverCertificate: 'cc',
            certificateUsage: 3,
          },
        },
      ],
      bootstrapServer: {
        uri: 'coaps://bs.example',
        security: { mode: 'rpk', publicKey: '01', privateKey: '02', serverPublicKey: '03' },
        clientHoldOffTime: 5,
        accountTimeout: 0,
      },
      deleteFirst: false,
    });
    assert.equal(config.deleteFirst, false);
    assert.deepEqual(config.servers[0]!.security, {
      mode: 'psk',
      identity: 'dev-1',
      key: '0123456789abcdef',
    });
    assert.equal(config.servers[0]!.binding, 'UQ');
    assert.deepEqual(config.servers[0]!.supportedServerVersions, ['1.1', '1.2.1']);
    assert.deepEqual(config.servers[1]!.security, {
      mode: 'x509',
      certificate: 'aa',
      privateKey: 'bb',
      serverCertificate: 'cc',
      certificateUsage: 3,
    });
    assert.equal(config.bootstrapServer?.clientHoldOffTime, 5);
    assert.equal(config.bootstrapServer?.accountTimeout, 0);
  });

  const bad: [string, unknown, string, BootstrapConfigError['reason']][] = [
    ['not an object', [], '(configuration)', 'wrong-type'],
    ['no servers', {}, 'servers', 'missing'],
    ['servers not a list', { servers: {} }, 'servers', 'wrong-type'],
    ['an empty server list', { servers: [] }, 'servers', 'missing'],
    [
      'too many servers',
      { servers: Array.from({ length: MAX_SERVER_ACCOUNTS + 1 }, (_, i) => nosec({ shortServerId: i + 1 })) },
      'servers',
      'out-of-range',
    ],
    ['an unknown top-level field', { servers: [nosec()], delete: true }, 'delete', 'unknown-field'],
    [
      'a misspelt server field',
      { servers: [nosec({ lifetme: 300 })] },
      'servers[0].lifetme',
      'unknown-field',
    ],
    ['a server that is not an object', { servers: ['x'] }, 'servers[0]', 'wrong-type'],
    ['SSID 0', { servers: [nosec({ shortServerId: 0 })] }, 'servers[0].shortServerId', 'out-of-range'],
    [
      'SSID 65535',
      { servers: [nosec({ shortServerId: 65535 })] },
      'servers[0].shortServerId',
      'out-of-range',
    ],
    [
      'a fractional SSID',
      { servers: [nosec({ shortServerId: 1.5 })] },
      'servers[0].shortServerId',
      'wrong-type',
    ],
    [
      'a missing SSID',
      { servers: [{ uri: 'coap://a', security: { mode: 'nosec' } }] },
      'servers[0].shortServerId',
      'missing',
    ],
    ['a duplicate SSID', { servers: [nosec(), nosec()] }, 'servers[1].shortServerId', 'invalid'],
    ['an http URI', { servers: [nosec({ uri: 'http://a.example' })] }, 'servers[0].uri', 'invalid'],
    ['a URI without host', { servers: [nosec({ uri: 'coap://' })] }, 'servers[0].uri', 'invalid'],
    [
      'a URI over 255 characters',
      { servers: [nosec({ uri: `coap://${'a'.repeat(250)}` })] },
      'servers[0].uri',
      'out-of-range',
    ],
    ['NoSec with coaps://', { servers: [nosec({ uri: 'coaps://a.example' })] }, 'servers[0].uri', 'invalid'],
    ['PSK with coap://', { servers: [nosec({ security: psk })] }, 'servers[0].uri', 'invalid'],
    ['no security', { servers: [{ shortServerId: 1, uri: 'coap://a' }] }, 'servers[0].security', 'missing'],
    [
      'an unknown mode',
      { servers: [nosec({ security: { mode: 'oscore' } })] },
      'servers[0].security.mode',
      'invalid',
    ],
    [
      'a PSK without identity',
      { servers: [nosec({ uri: 'coaps://a', security: { mode: 'psk', key: '00' } })] },
      'servers[0].security.identity',
      'missing',
    ],
    [
      'a PSK key of odd length',
      { servers: [nosec({ uri: 'coaps://a', security: { ...psk, key: 'abc' } })] },
      'servers[0].security.key',
      'invalid',
    ],
    [
      'a PSK key that is not hex',
      { servers: [nosec({ uri: 'coaps://a', security: { ...psk, key: 'zz' } })] },
      'servers[0].security.key',
      'invalid',
    ],
    [
      'a PSK key over 64 bytes',
      { servers: [nosec({ uri: 'coaps://a', security: { ...psk, key: '00'.repeat(65) } })] },
      'servers[0].security.key',
      'out-of-range',
    ],
    [
      'a PSK identity over 128 bytes',
      { servers: [nosec({ uri: 'coaps://a', security: { ...psk, identity: 'é'.repeat(65) } })] },
      'servers[0].security.identity',
      'out-of-range',
    ],
    [
      'an extra field in nosec',
      { servers: [nosec({ security: { mode: 'nosec', key: '00' } })] },
      'servers[0].security.key',
      'unknown-field',
    ],
    [
      'an RPK without server key',
      {
        servers: [nosec({ uri: 'coaps://a', security: { mode: 'rpk', publicKey: '01', privateKey: '02' } })],
      },
      'servers[0].security.serverPublicKey',
      'missing',
    ],
    [
      'certificate usage 4',
      {
        servers: [
          nosec({
            uri: 'coaps://a',
            security: {
              mode: 'x509',
              certificate: '01',
              privateKey: '02',
              serverCertificate: '03',
              certificateUsage: 4,
            },
          }),
        ],
      },
      'servers[0].security.certificateUsage',
      'out-of-range',
    ],
    ['a repeated binding letter', { servers: [nosec({ binding: 'UU' })] }, 'servers[0].binding', 'invalid'],
    ['an unknown binding letter', { servers: [nosec({ binding: 'X' })] }, 'servers[0].binding', 'invalid'],
    ['a negative lifetime', { servers: [nosec({ lifetime: -1 })] }, 'servers[0].lifetime', 'out-of-range'],
    [
      'pmax below pmin',
      { servers: [nosec({ defaultMinPeriod: 10, defaultMaxPeriod: 5 })] },
      'servers[0].defaultMaxPeriod',
      'invalid',
    ],
    [
      'a text storing flag',
      { servers: [nosec({ notificationStoring: 'yes' })] },
      'servers[0].notificationStoring',
      'wrong-type',
    ],
    [
      'a bad server version',
      { servers: [nosec({ supportedServerVersions: ['1'] })] },
      'servers[0].supportedServerVersions[0]',
      'invalid',
    ],
    [
      'server versions not a list',
      { servers: [nosec({ supportedServerVersions: '1.2' })] },
      'servers[0].supportedServerVersions',
      'wrong-type',
    ],
    ['a text deleteFirst', { servers: [nosec()], deleteFirst: 'no' }, 'deleteFirst', 'wrong-type'],
    [
      'a BS account without security',
      { servers: [nosec()], bootstrapServer: { uri: 'coap://bs' } },
      'bootstrapServer.security',
      'missing',
    ],
    [
      'a BS account with a bad URI',
      { servers: [nosec()], bootstrapServer: { uri: 'bs', security: { mode: 'nosec' } } },
      'bootstrapServer.uri',
      'invalid',
    ],
  ];
  for (const [what, input, field, reason] of bad)
    it(`refuses ${what} (${field})`, () => {
      assert.throws(
        () => parseBootstrapConfig(input),
        (e: unknown) => {
          assert.ok(e instanceof BootstrapConfigError, String(e));
          assert.equal(e.field, field);
          assert.equal(e.reason, reason);
          assert.equal(e.code, `PETREL_ERR_BOOTSTRAP_CONFIG_${reason.toUpperCase().replace('-', '_')}`);
          assert.ok(e.message.startsWith(`${field}: `));
          return true;
        },
      );
    });

  it('throws nothing but BootstrapConfigError on arbitrary JSON', () => {
    const server = fc.record(
      {
        shortServerId: fc.oneof(fc.integer({ min: -2, max: 70000 }), fc.string()),
        uri: fc.oneof(fc.constantFrom('coap://a', 'coaps://a', 'x'), fc.string()),
        lifetime: fc.oneof(fc.integer(), fc.double()),
        binding: fc.string({ maxLength: 4 }),
        security: fc.oneof(
          fc.constant({ mode: 'nosec' }),
          fc.record({ mode: fc.constant('psk'), identity: fc.string(), key: fc.string() }),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ servers: fc.array(server, { maxLength: 3 }) })),
        (doc) => {
          try {
            parseBootstrapConfig(doc);
          } catch (e) {
            assert.ok(e instanceof BootstrapConfigError, String(e));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
