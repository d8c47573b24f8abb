import { describe, expect, it } from 'vitest';
import type { BootstrapConfigView, BootstrapSession } from '../api-types.js';
import {
  EMPTY_CONFIG_FORM,
  EMPTY_SECURITY,
  checkServerUri,
  configBody,
  failureText,
  formFromView,
  formatName,
  integerField,
  keyHex,
  newServerForm,
  secretsToReenter,
  securitySummary,
  serverLines,
  sessionStatus,
  sessionsNewestFirst,
  splitFieldError,
  stepRow,
} from './bootstrap-form.js';
import type { ConfigForm, SecurityForm, ServerForm } from './bootstrap-form.js';

const nosecServer: ServerForm = {
  ...newServerForm(),
  shortServerId: '101',
  uri: 'coap://192.0.2.10:5683',
  lifetime: '300',
};

const pskServer: ServerForm = {
  ...newServerForm(),
  shortServerId: '102',
  uri: 'coaps://lwm2m.example:5684',
  security: { ...EMPTY_SECURITY, mode: 'psk', identity: 'dev-1', key: '00:11 AA bb' },
};

const form = (patch: Partial<ConfigForm> = {}): ConfigForm => ({
  ...EMPTY_CONFIG_FORM,
  endpoint: 'dev-1',
  servers: [nosecServer],
  ...patch,
});

const errorFields = (f: ConfigForm): string[] => {
  const r = configBody(f);
  return r.ok ? [] : r.errors.map((e) => e.field);
};

/** The fields the check names for a PSK server account given `security` over an empty one. */
const securityErrors = (security: Partial<SecurityForm>): string[] =>
  errorFields(form({ servers: [{ ...pskServer, security: { ...EMPTY_SECURITY, ...security } }] }));

describe('configBody', () => {
  it('makes the PUT body: numbers parsed, hex lower-cased, defaults left out', () => {
    expect(configBody(form({ servers: [nosecServer, pskServer] }))).toEqual({
      ok: true,
      body: {
        servers: [
          { shortServerId: 101, uri: 'coap://192.0.2.10:5683', lifetime: 300, security: { mode: 'nosec' } },
          {
            shortServerId: 102,
            uri: 'coaps://lwm2m.example:5684',
            security: { mode: 'psk', identity: 'dev-1', key: '0011aabb' },
          },
        ],
        deleteFirst: true,
      },
    });
  });

  it('sends the optional server settings and the Bootstrap-Server account when set', () => {
    const server: ServerForm = {
      ...nosecServer,
      binding: 'UQ',
      defaultMinPeriod: '1',
      defaultMaxPeriod: '60',
      notificationStoring: false,
      supportedServerVersions: '1.1, 1.2',
    };
    const r = configBody(
      form({
        servers: [server],
        deleteFirst: false,
        bootstrapServer: {
          enabled: true,
          uri: 'coaps://bs.example:5684',
          clientHoldOffTime: '5',
          accountTimeout: '',
          security: {
            ...EMPTY_SECURITY,
            mode: 'x509',
            certificate: 'D4D4',
            privateKey: 'a1a1',
            serverCertificate: 'e5e5',
            certificateUsage: '3',
          },
        },
      }),
    );
    expect(r).toEqual({
      ok: true,
      body: {
        servers: [
          {
            shortServerId: 101,
            uri: 'coap://192.0.2.10:5683',
            lifetime: 300,
            binding: 'UQ',
            defaultMinPeriod: 1,
            defaultMaxPeriod: 60,
            notificationStoring: false,
            supportedServerVersions: ['1.1', '1.2'],
            security: { mode: 'nosec' },
          },
        ],
        bootstrapServer: {
          uri: 'coaps://bs.example:5684',
          clientHoldOffTime: 5,
          security: {
            mode: 'x509',
            certificate: 'd4d4',
            privateKey: 'a1a1',
            serverCertificate: 'e5e5',
            certificateUsage: 3,
          },
        },
        deleteFirst: false,
      },
    });
  });

  it('names every bad field the way the API does', () => {
    const bad = form({
      endpoint: ' ',
      servers: [
        { ...pskServer, security: { ...pskServer.security, key: 'abc' } },
        { ...nosecServer, shortServerId: '102', uri: 'http://x', lifetime: '-1', binding: 'UU' },
        { ...nosecServer, shortServerId: '0', defaultMinPeriod: '10', defaultMaxPeriod: '5' },
      ],
    });
    expect(errorFields(bad)).toEqual([
      'endpoint',
      'servers[0].security.key',
      'servers[1].uri',
      'servers[1].lifetime',
      'servers[1].binding',
      'servers[2].shortServerId',
      'servers[2].defaultMaxPeriod',
      'servers[1].shortServerId',
    ]);
    const r = configBody(bad);
    expect(r.ok ? undefined : r.errors[1]).toEqual({
      field: 'servers[0].security.key',
      message: 'must be hex with an even number of digits',
    });
  });

  it('checks that the scheme fits the mode, PSK limits, RPK keys and certificate usage', () => {
    expect(
      errorFields(form({ servers: [{ ...pskServer, uri: 'coap://h' }] })).concat(
        errorFields(form({ servers: [{ ...nosecServer, uri: 'coaps://h' }] })),
      ),
    ).toEqual(['servers[0].uri', 'servers[0].uri']);
    expect(
      errorFields(
        form({
          servers: [
            {
              ...pskServer,
              security: { ...pskServer.security, identity: 'é'.repeat(65), key: 'ab'.repeat(65) },
            },
          ],
        }),
      ),
    ).toEqual(['servers[0].security.identity', 'servers[0].security.key']);
    expect(securityErrors({ mode: 'rpk', publicKey: 'zz', privateKey: 'ab', serverPublicKey: '' })).toEqual([
      'servers[0].security.publicKey',
      'servers[0].security.serverPublicKey',
    ]);
    expect(
      securityErrors({
        mode: 'x509',
        certificate: 'ab',
        privateKey: 'ab',
        serverCertificate: 'ab',
        certificateUsage: '4',
      }),
    ).toEqual(['servers[0].security.certificateUsage']);
    expect(errorFields(form({ servers: [] }))).toEqual(['servers']);
    expect(errorFields(form({ servers: [{ ...nosecServer, supportedServerVersions: '1.2, v2' }] }))).toEqual([
      'servers[0].supportedServerVersions',
    ]);
  });

  it('asks for a stored secret again instead of sending anything in its place', () => {
    const edited = formFromView({
      endpoint: 'dev-1',
      servers: [
        {
          shortServerId: 1,
          uri: 'coaps://lwm2m.example:5684',
          security: { mode: 'psk', identity: 'dev-psk', keyLength: 16 },
        },
      ],
      deleteFirst: true,
    });
    expect(secretsToReenter(edited)).toEqual(['servers[0].security.key']);
    const r = configBody(edited);
    expect(r.ok ? [] : r.errors).toEqual([
      { field: 'servers[0].security.key', message: 'enter it again: the stored one is never shown' },
    ]);
    const filled: ConfigForm = {
      ...edited,
      servers: [{ ...edited.servers[0]!, security: { ...edited.servers[0]!.security, key: '0102' } }],
    };
    expect(secretsToReenter(filled)).toEqual([]);
    expect(configBody(filled)).toMatchObject({
      ok: true,
      body: { servers: [{ security: { mode: 'psk', identity: 'dev-psk', key: '0102' } }] },
    });
  });
});

describe('formFromView', () => {
  it('fills every shown field, leaves secrets empty and remembers their length', () => {
    const view: BootstrapConfigView = {
      endpoint: 'dev-2',
      servers: [
        {
          shortServerId: 2,
          uri: 'coaps://other.example:5684',
          lifetime: 60,
          binding: 'U',
          notificationStoring: false,
          supportedServerVersions: ['1.1', '1.2'],
          security: { mode: 'rpk', publicKey: 'b2b2', serverPublicKey: 'c3c3', privateKeyLength: 40 },
        },
      ],
      bootstrapServer: {
        uri: 'coaps://bs.example:5684',
        accountTimeout: 0,
        security: {
          mode: 'x509',
          certificate: 'd4',
          serverCertificate: 'e5',
          certificateUsage: 3,
          privateKeyLength: 40,
        },
      },
      deleteFirst: false,
    };
    const f = formFromView(view);
    expect(f.editing).toBe(true);
    expect(f.deleteFirst).toBe(false);
    expect(f.servers[0]).toEqual({
      shortServerId: '2',
      uri: 'coaps://other.example:5684',
      lifetime: '60',
      binding: 'U',
      defaultMinPeriod: '',
      defaultMaxPeriod: '',
      notificationStoring: false,
      supportedServerVersions: '1.1, 1.2',
      security: {
        ...EMPTY_SECURITY,
        mode: 'rpk',
        publicKey: 'b2b2',
        serverPublicKey: 'c3c3',
        storedSecretLength: 40,
      },
    });
    expect(f.bootstrapServer).toMatchObject({
      enabled: true,
      accountTimeout: '0',
      clientHoldOffTime: '',
      security: { mode: 'x509', certificateUsage: '3', privateKey: '', storedSecretLength: 40 },
    });
    expect(secretsToReenter(f)).toEqual([
      'servers[0].security.privateKey',
      'bootstrapServer.security.privateKey',
    ]);
  });

  it('gives an invalid stored document a fresh server account to replace it', () => {
    const f = formFromView({ endpoint: 'broken', error: 'servers: needs at least one server' });
    expect(f.endpoint).toBe('broken');
    expect(f.servers).toHaveLength(1);
    expect(f.bootstrapServer.enabled).toBe(false);
  });
});

describe('field helpers', () => {
  it('keyHex takes hex as pasted or a PEM block', () => {
    expect(keyHex(' 0xAB:cd ef01 ', 8)).toEqual({ ok: true, value: 'abcdef01' });
    const pem = `-----BEGIN CERTIFICATE-----\n${btoa('\x30\x03\x02\x01\x05')}\n-----END CERTIFICATE-----`;
    expect(keyHex(pem, 8)).toEqual({ ok: true, value: '3003020105' });
    expect(keyHex('', 8)).toEqual({ ok: false, message: 'is required' });
    expect(keyHex('abc', 8).ok).toBe(false);
    expect(keyHex('ab'.repeat(9), 8)).toEqual({ ok: false, message: 'is longer than 8 bytes' });
    expect(keyHex('-----BEGIN X-----\n!!\n-----END X-----', 8).ok).toBe(false);
  });

  it('integerField and checkServerUri', () => {
    expect(integerField('', 0, 5)).toEqual({ ok: true, value: undefined });
    expect(integerField(' 5 ', 0, 5)).toEqual({ ok: true, value: 5 });
    expect(integerField('6', 0, 5).ok).toBe(false);
    expect(integerField('1.5', 0, 5).ok).toBe(false);
    expect(checkServerUri('coaps+tcp://h:5684/x', 'psk')).toEqual({
      ok: true,
      value: 'coaps+tcp://h:5684/x',
    });
    expect(checkServerUri('coap://h', 'nosec').ok).toBe(true);
    expect(checkServerUri(`coap://${'h'.repeat(250)}`, 'nosec').ok).toBe(false);
    expect(checkServerUri('coap:/h', 'nosec').ok).toBe(false);
  });

  it('newServerForm takes the lowest free Short Server ID', () => {
    expect(
      newServerForm([
        { ...nosecServer, shortServerId: '1' },
        { ...nosecServer, shortServerId: '2' },
      ]).shortServerId,
    ).toBe('3');
  });

  it('splitFieldError finds the field of an API message', () => {
    expect(splitFieldError('servers[0].security.key: must be hex with an even number of digits')).toEqual({
      field: 'servers[0].security.key',
      message: 'must be hex with an even number of digits',
    });
    expect(splitFieldError('bootstrapServer.uri: a coaps:// server needs credentials')).toEqual({
      field: 'bootstrapServer.uri',
      message: 'a coaps:// server needs credentials',
    });
    expect(splitFieldError('API unreachable: Failed to fetch')).toEqual({
      field: '',
      message: 'API unreachable: Failed to fetch',
    });
    expect(splitFieldError('no bootstrap configuration for "x"')).toEqual({
      field: '',
      message: 'no bootstrap configuration for "x"',
    });
  });
});

describe('summaries', () => {
  it('never shows a secret', () => {
    expect(securitySummary({ mode: 'psk', identity: 'dev', keyLength: 16 })).toBe('PSK dev (16-byte key)');
    expect(securitySummary({ mode: 'nosec' })).toBe('NoSec');
    expect(
      securitySummary({
        mode: 'x509',
        certificate: 'd4',
        serverCertificate: 'e5',
        certificateUsage: 3,
        privateKeyLength: 40,
      }),
    ).toBe('X.509 usage 3 (40-byte private key)');
    expect(
      serverLines({
        endpoint: 'e',
        servers: [{ shortServerId: 101, uri: 'coap://h:5683', security: { mode: 'nosec' } }],
      }),
    ).toEqual(['101 → coap://h:5683 · NoSec']);
  });
});

describe('sessions', () => {
  const session = (
    id: string,
    startedAt: number,
    outcome?: BootstrapSession['outcome'],
  ): BootstrapSession => ({
    id,
    endpoint: 'dev',
    kind: 'request',
    peer: '10.0.0.2:56830',
    transport: 'udp',
    startedAt,
    reason: 'reconfigure',
    steps: [],
    ...(outcome ? { outcome } : {}),
  });

  it('lists newest first and tells running, succeeded and failed apart', () => {
    const items = [
      session('a', 1),
      session('b', 3, { status: 'succeeded' }),
      session('c', 2, { status: 'failed', reason: 'timeout', message: 'no answer' }),
    ];
    expect(sessionsNewestFirst(items).map((s) => s.id)).toEqual(['b', 'c', 'a']);
    expect(items.map(sessionStatus)).toEqual(['running', 'succeeded', 'failed']);
  });

  it('failureText names the reason, step and code', () => {
    expect(
      failureText(
        session('x', 1, {
          status: 'failed',
          reason: 'error-code',
          operation: 'bootstrap-write',
          path: '/0/1',
          code: '4.00',
          message: 'the client answered 4.00',
        }),
      ),
    ).toBe('error-code: bootstrap-write /0/1 → 4.00 (the client answered 4.00)');
    expect(failureText(session('y', 1, { status: 'failed', reason: 'replaced', message: '' }))).toBe(
      'replaced',
    );
    expect(failureText(session('z', 1, { status: 'succeeded' }))).toBeUndefined();
  });

  it('stepRow formats a step', () => {
    expect(
      stepRow({ operation: 'bootstrap-write', path: '/0/1', code: '2.04', format: 112, latencyMs: 3.25 }),
    ).toEqual({
      operation: 'Write',
      path: '/0/1',
      code: '2.04',
      format: 'SenML CBOR (112)',
      latency: '3.3 ms',
      error: '',
    });
    expect(stepRow({ operation: 'bootstrap-finish', latencyMs: 300, error: 'timeout' })).toMatchObject({
      operation: 'Finish',
      path: '',
      code: '',
      latency: '300 ms',
      error: 'timeout',
    });
    expect(formatName(99)).toBe('99');
  });
});
