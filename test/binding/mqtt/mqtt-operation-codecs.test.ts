import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeDownlinkRequest,
  decodeDownlinkResponse,
  encodeDownlinkRequest,
  encodeDownlinkResponse,
  encodeNotification,
  type MqttDownlinkContext,
} from '../../../src/binding/mqtt/mqtt-downlink-codec.js';
import { DownlinkDecodeError } from '../../../src/binding/coap/downlink-codec.js';
import { MqttNotApplicableError } from '../../../src/binding/mqtt/mqtt-not-applicable.js';
import {
  decodeUplinkRequest,
  decodeUplinkResponse,
  encodeUplinkRequest,
  encodeUplinkResponse,
} from '../../../src/binding/mqtt/mqtt-uplink-codec.js';
import type { MqttMessage } from '../../../src/binding/mqtt/mqtt-message-map.js';
import { createCodecRegistry } from '../../../src/content/codec-registry.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { DownlinkRequest, RegisterRequest } from '../../../src/operations/requests.js';
import { OperationError } from '../../../src/operations/result-code.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const T = new Uint8Array([7]);
const p = (text: string): LwM2mPath => LwM2mPath.parse(text);
const server: MqttDownlinkContext = {
  codecs,
  model,
  peer: { lwm2mVersion: '1.2', contentFormats: undefined },
};
const client = { codecs, model };
const msg = (fields: Omit<MqttMessage, 'token'>): MqttMessage => ({ ...fields, token: T });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** JSON with paths as text (LwM2mPath memoises its text form, so deepEqual would see that). */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x instanceof LwM2mPath ? x.toString() : x));

function assertOperationError(fn: () => unknown, code: string, reason?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, String(e));
    assert.equal(e.resultCode, code, e.message);
    if (reason !== undefined) assert.equal(e.reason, reason);
    return true;
  });
}

describe('MQTT downlink mapping', () => {
  it('writes the 1.2.2 operation codes and keys', () => {
    assert.deepEqual(encodeDownlinkRequest({ kind: 'read', path: p('/3/0/9') }, server), {
      operation: 9,
      uri: '/3/0/9',
    });
    assert.deepEqual(encodeDownlinkRequest({ kind: 'read', path: p('/3/0'), accept: 112 }, server), {
      operation: 9,
      uri: '/3/0',
      ct: 112,
    });
    assert.deepEqual(encodeDownlinkRequest({ kind: 'delete', path: p('/3303/1') }, server), {
      operation: 18,
      uri: '/3303/1',
    });
    assert.deepEqual(encodeDownlinkRequest({ kind: 'cancel-observation', path: p('/3/0/9') }, server), {
      operation: 22,
      uri: '/3/0/9',
    });
    assert.deepEqual(encodeDownlinkRequest({ kind: 'bootstrap-finish' }, server), { operation: 5 });
    assert.deepEqual(encodeDownlinkRequest({ kind: 'bootstrap-discover', path: p('/0') }, server), {
      operation: 4,
      uri: '/0',
    });
    const execute = encodeDownlinkRequest(
      { kind: 'execute', path: p('/1/0/8'), arguments: [{ digit: 0, value: 'M' }] },
      server,
    );
    assert.deepEqual(execute, { operation: 16, uri: '/1/0/8', ct: 0, payload: text("0='M'") });
  });

  it('writes a single value as text/plain, like the CoAP binding', () => {
    const fields = encodeDownlinkRequest(
      {
        kind: 'write',
        path: p('/1/0/1'),
        mode: 'replace',
        records: [{ path: p('/1/0/1'), value: Value.integer(60) }],
      },
      server,
    );
    assert.deepEqual(fields, { operation: 12, uri: '/1/0/1', ct: 0, payload: text('60') });
  });

  it('round-trips every DM/IR request through the client-side decoder', () => {
    const requests: DownlinkRequest[] = [
      { kind: 'read', path: p('/3/0'), accept: 11544 },
      { kind: 'discover', path: p('/3'), depth: 1 },
      {
        kind: 'write',
        path: p('/1/0'),
        mode: 'update',
        records: [{ path: p('/1/0/1'), value: Value.integer(5) }],
        format: 112,
      },
      {
        kind: 'write-attributes',
        path: p('/3/0/9'),
        attributes: { pmin: 1, pmax: null, gt: 1.5, epmin: 2, hqmax: 4 },
      },
      { kind: 'execute', path: p('/3/0/4') },
      { kind: 'delete', path: p('/1/3') },
      { kind: 'observe', path: p('/3/0/9'), attributes: { pmin: 10, st: 0.5, edge: 0 }, accept: 0 },
      { kind: 'cancel-observation', path: p('/3/0/9') },
    ];
    for (const request of requests) {
      const decoded = decodeDownlinkRequest(msg(encodeDownlinkRequest(request, server)), client);
      assert.deepEqual(JSON.parse(canonical(decoded)), JSON.parse(canonical(request)), request.kind);
    }
    const composite = decodeDownlinkRequest(
      msg(
        encodeDownlinkRequest(
          { kind: 'cancel-observation-composite', paths: [p('/3/0/9'), p('/1/0/1')] },
          server,
        ),
      ),
      client,
    );
    assert.equal(composite.kind, 'cancel-observation-composite');
    assert.deepEqual(composite.kind === 'cancel-observation-composite' ? composite.paths.map(String) : [], [
      '/3/0/9',
      '/1/0/1',
    ]);
  });

  it('reads bs-topic numbers only in bootstrap mode', () => {
    assert.deepEqual(decodeDownlinkRequest(msg({ operation: 5 }), { ...client, bootstrap: true }), {
      kind: 'bootstrap-finish',
    });
    assertOperationError(() => decodeDownlinkRequest(msg({ operation: 5 }), client), '4.05', 'bad-path');
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 9, uri: '/3/0' }), { ...client, bootstrap: true }),
      '4.05',
    );
  });

  it('refuses bad requests with the code the client answers', () => {
    assertOperationError(() => decodeDownlinkRequest(msg({ operation: 9 }), client), '4.05', 'bad-path');
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 9, uri: '/a/b' }), client),
      '4.05',
      'bad-path',
    );
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 9, uri: '/3/0', ct: 9999 }), client),
      '4.06',
    );
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 12, uri: '/1/0/1', payload: text('5') }), client),
      '4.00',
      'bad-payload',
    );
    assertOperationError(
      () =>
        decodeDownlinkRequest(
          msg({ operation: 12, uri: '/1/0', ct: 11542, payload: new Uint8Array([0xff]) }),
          client,
        ),
      '4.00',
    );
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 16, uri: '/3/0/4', payload: text('x') }), client),
      '4.00',
      'bad-arguments',
    );
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 20, uri: '/3/0/9', pmin: null }), client),
      '4.00',
      'bad-attributes',
    );
    assertOperationError(
      () => decodeDownlinkRequest(msg({ operation: 21, paths: new Uint8Array([0x80]), gt: 1 }), client),
      '4.00',
      'bad-attributes',
    );
    assertOperationError(() => decodeDownlinkRequest(msg({ operation: 99, uri: '/3' }), client), '4.05');
  });

  it('refuses lt and con: the map has no key for them', () => {
    for (const attributes of [{ lt: 1 }, { con: 1 }])
      assert.throws(
        () => encodeDownlinkRequest({ kind: 'write-attributes', path: p('/3/0/9'), attributes }, server),
        (e: unknown) =>
          e instanceof MqttNotApplicableError && e.resultCode === '4.00' && e.reason === 'bad-attributes',
      );
  });

  it('answers: values, links, locations and diagnostics', () => {
    const read: DownlinkRequest = { kind: 'read', path: p('/3/0/9') };
    const answer = encodeDownlinkResponse(
      { code: '2.05', records: [{ path: p('/3/0/9'), value: Value.integer(50) }] },
      read,
      client,
    );
    assert.deepEqual(answer, { result: 205, ct: 0, payload: text('50') });
    assert.deepEqual(
      decodeDownlinkResponse(msg(answer), read, server).records?.[0]?.value,
      Value.integer(50),
    );

    const create: DownlinkRequest = {
      kind: 'create',
      path: p('/3303'),
      instance: { instanceId: undefined, resources: [] },
    };
    const created = encodeDownlinkResponse({ code: '2.01', location: p('/3303/4') }, create, client);
    assert.deepEqual(created, { result: 201, uri: '/3303/4' });
    assert.equal(decodeDownlinkResponse(msg(created), create, server).location?.toString(), '/3303/4');
    assert.throws(
      () => decodeDownlinkResponse(msg({ result: 201, uri: '/3/0' }), create, server),
      (e: unknown) => e instanceof DownlinkDecodeError && e.reason === 'bad-location',
    );

    const failed = encodeDownlinkResponse({ code: '4.04', diagnostic: 'no such instance' }, read, client);
    assert.deepEqual(failed, { result: 404, payload: text('no such instance') });
    assert.deepEqual(decodeDownlinkResponse(msg(failed), read, server), {
      code: '4.04',
      diagnostic: 'no such instance',
    });

    assert.throws(
      () =>
        decodeDownlinkResponse(
          msg({ result: 205, payload: text('x') }),
          { kind: 'read', path: p('/3/0') },
          server,
        ),
      (e: unknown) => e instanceof DownlinkDecodeError && e.reason === 'missing-format',
    );
  });

  it('writes a Notify as operation 23 without result', () => {
    const fields = encodeNotification(
      { records: [{ path: p('/3/0/9'), value: Value.integer(3) }] },
      { kind: 'observe', path: p('/3/0/9') },
      client,
    );
    assert.deepEqual(fields, { operation: 23, ct: 0, payload: text('3') });
  });
});

describe('MQTT uplink mapping', () => {
  const register: RegisterRequest = {
    kind: 'register',
    endpoint: 'ep1',
    lifetime: 60,
    lwm2mVersion: '1.1',
    binding: 'MU',
    queueMode: true,
    sms: '4912345',
    profileIds: [],
    objects: undefined,
    extraParameters: new Map(),
  };

  it('writes Register keys, queue mode inside b', () => {
    assert.deepEqual(encodeUplinkRequest(register, client), {
      operation: 6,
      ep: 'ep1',
      lifetime: 60,
      version: '1.1',
      b: 'MUQ',
      sms: '4912345',
    });
    const decoded = decodeUplinkRequest(msg(encodeUplinkRequest(register, client)), 'rd', client);
    assert.deepEqual(decoded, register);
  });

  it('refuses pid, acc and extra parameters: no key', () => {
    assert.throws(
      () => encodeUplinkRequest({ ...register, profileIds: ['oma:1'] }, client),
      MqttNotApplicableError,
    );
    assert.throws(
      () => encodeUplinkRequest({ ...register, extraParameters: new Map([['x', '1']]) }, client),
      MqttNotApplicableError,
    );
    assert.throws(
      () =>
        encodeUplinkRequest(
          { kind: 'bootstrap-pack-request', endpoint: 'e', accept: 112, accounts: [p('/0/1')] },
          client,
        ),
      MqttNotApplicableError,
    );
  });

  it('an Update setting queue mode alone uses the registered binding', () => {
    assert.deepEqual(
      encodeUplinkRequest(
        { kind: 'update', registrationId: 'r', queueMode: true },
        { ...client, binding: 'M' },
      ),
      { operation: 7, uri: 'r', b: 'MQ' },
    );
    assert.throws(
      () => encodeUplinkRequest({ kind: 'update', registrationId: 'r', queueMode: true }, client),
      MqttNotApplicableError,
    );
  });

  it('takes the registration id from uri, else from the topic fallback', () => {
    assert.deepEqual(decodeUplinkRequest(msg({ operation: 8, uri: 'abc' }), 'rd', client, 'zzz'), {
      kind: 'deregister',
      registrationId: 'abc',
    });
    assert.deepEqual(decodeUplinkRequest(msg({ operation: 8 }), 'rd', client, 'zzz'), {
      kind: 'deregister',
      registrationId: 'zzz',
    });
    assertOperationError(
      () => decodeUplinkRequest(msg({ operation: 7 }), 'rd', client),
      '4.04',
      'not-registered',
    );
  });

  it('tells Register (rd 6) from Bootstrap-Pack-Request (bs 6) by the topic', () => {
    assert.equal(
      decodeUplinkRequest(msg({ operation: 6, ep: 'e', ct: 112 }), 'bs', client).kind,
      'bootstrap-pack-request',
    );
    assert.equal(
      decodeUplinkRequest(msg({ operation: 6, ep: 'e', lifetime: 30, version: '1.2' }), 'rd', client).kind,
      'register',
    );
    assertOperationError(
      () => decodeUplinkRequest(msg({ operation: 9, uri: '/3' }), 'rd', client),
      '4.05',
      'bad-path',
    );
    assertOperationError(() => decodeUplinkRequest(msg({ operation: 7 }), 'bs', client), '4.05');
  });

  it('validates Register parameters like the CoAP binding', () => {
    assertOperationError(
      () => decodeUplinkRequest(msg({ operation: 6, ep: 'e', version: '1.2' }), 'rd', client),
      '4.00',
      'missing-parameter',
    );
    assertOperationError(
      () => decodeUplinkRequest(msg({ operation: 6, ep: 'e', lifetime: 5, version: '9.9' }), 'rd', client),
      '4.12',
    );
    assertOperationError(
      () =>
        decodeUplinkRequest(
          msg({ operation: 6, ep: 'e', lifetime: 5, version: '1.2', b: 'X' }),
          'rd',
          client,
        ),
      '4.00',
      'bad-parameter',
    );
    assertOperationError(
      () =>
        decodeUplinkRequest(
          msg({ operation: 6, ep: 'e', lifetime: 5, version: '1.2', ct: 112, payload: text('x') }),
          'rd',
          client,
        ),
      '4.15',
    );
    assertOperationError(
      () => decodeUplinkRequest(msg({ operation: 24, ct: 0, payload: text('1') }), 'rd', client),
      '4.15',
    );
    assertOperationError(() => decodeUplinkRequest(msg({ operation: 0, pct: 40 }), 'bs', client), '4.15');
  });

  it('answers Register with the registration id in uri, errors with a diagnostic', () => {
    const fields = encodeUplinkResponse({ code: '2.01', registrationId: 'r9' }, register, client);
    assert.deepEqual(fields, { result: 201, uri: 'r9' });
    assert.deepEqual(decodeUplinkResponse(msg(fields), register, client, 'ep1'), {
      code: '2.01',
      registrationId: 'r9',
    });
    assert.deepEqual(decodeUplinkResponse(msg({ result: 201 }), register, client, 'ep1'), {
      code: '2.01',
      registrationId: 'ep1',
    });
    const refused = encodeUplinkResponse({ code: '4.12', diagnostic: 'version' }, register, client);
    assert.deepEqual(decodeUplinkResponse(msg(refused), register, client, 'ep1'), {
      code: '4.12',
      diagnostic: 'version',
    });
  });
});

describe('MQTT operation decoders on arbitrary maps', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 24 }),
    fc.constantFrom(
      text('</1/0>,</3/0>'),
      text("0='x'"),
      new Uint8Array([0x81, 0xa1, 0x00, 0x66, 0x2f, 0x33, 0x2f, 0x30, 0x2f, 0x39]), // [{0: "/3/0/9"}]
    ),
  );
  const attr = fc.option(
    fc.oneof(fc.integer({ min: 0, max: 100 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
    {
      nil: null,
    },
  );
  const message: fc.Arbitrary<MqttMessage> = fc.record(
    {
      operation: fc.integer({ min: 0, max: 30 }),
      token: fc.constant(T),
      result: fc.constantFrom(201, 202, 204, 205, 400, 404, 500),
      ep: fc.string({ maxLength: 6 }),
      pct: fc.constantFrom(0, 40, 112, 11542, 11544, 9999),
      uri: fc.constantFrom('/', '/3', '/3/0', '/3/0/9', '/3/0/9/1', '/3303', 'x', '/a/3/0', ''),
      paths: bytes,
      payload: bytes,
      lifetime: fc.integer({ min: 0, max: 100000 }),
      version: fc.constantFrom('1.0', '1.1', '1.2', '2', 'x'),
      b: fc.constantFrom('U', 'M', 'MQ', 'QQ', ''),
      sms: fc.constantFrom('123', 'abc', ''),
      pmin: attr,
      gt: attr,
      st: attr,
      edge: fc.constantFrom(0, 1, null),
      ct: fc.constantFrom(0, 40, 42, 110, 112, 320, 322, 11542, 11544, 9999),
      depth: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ['token'] },
  );

  it('throw only OperationError (requests) and DownlinkDecodeError (answers)', () => {
    const requests: DownlinkRequest[] = [
      { kind: 'read', path: p('/3/0') },
      { kind: 'discover', path: p('/3') },
      { kind: 'create', path: p('/3303'), instance: { instanceId: undefined, resources: [] } },
      { kind: 'read-composite', paths: [p('/3/0/9')] },
      { kind: 'observe', path: p('/3/0/9') },
    ];
    fc.assert(
      fc.property(message, (m) => {
        for (const run of [
          () => decodeDownlinkRequest(m, client),
          () => decodeDownlinkRequest(m, { ...client, bootstrap: true }),
          () => decodeUplinkRequest(m, 'rd', client),
          () => decodeUplinkRequest(m, 'bs', client, 'r'),
          () =>
            decodeUplinkResponse(
              m,
              { kind: 'bootstrap-pack-request', endpoint: 'e', accept: undefined, accounts: undefined },
              client,
              'e',
            ),
        ])
          try {
            run();
          } catch (e) {
            if (!(e instanceof OperationError)) throw e;
          }
        for (const request of requests)
          try {
            decodeDownlinkResponse(m, request, server);
          } catch (e) {
            if (!(e instanceof DownlinkDecodeError)) throw e;
          }
      }),
      { numRuns: 3000 },
    );
  });
});
