import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OutgoingRequest } from '../../../src/coap/endpoint.js';
import { CoapCode, type CoapMessage } from '../../../src/coap/message.js';
import {
  OptionNumber,
  OptionsBuilder,
  contentFormat,
  getUint,
  locationPath,
  uriPath,
  uriQuery,
} from '../../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../../src/coap/udp-codec.js';
import {
  decodeUplinkRequest,
  decodeUplinkResponse,
  encodeUplinkRequest,
  encodeUplinkResponse,
} from '../../../src/binding/coap/uplink-codec.js';
import { createCodecRegistry } from '../../../src/content/codec-registry.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { LwM2mRecord } from '../../../src/model/records.js';
import { parseRegistrationPayload } from '../../../src/model/registration-payload.js';
import type {
  RegisterRequest,
  SendRequest,
  UpdateRequest,
  UplinkRequest,
} from '../../../src/operations/requests.js';
import { OperationError } from '../../../src/operations/result-code.js';
import type { OperationErrorReason } from '../../../src/operations/result-code.js';
import { readCapture, type CaptureLine } from '../../support/captures.js';
import { EMPTY, hex, msg } from '../../support/coap-messages.js';
import { requireShared } from '../../support/shared.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const ctx = { codecs, model };
const text = new TextEncoder();

/** A client request as the server receives it. */
function request(
  code: number,
  path: string[],
  query: string[] = [],
  extra: { cf?: number; accept?: number; payload?: Uint8Array | string } = {},
): CoapMessage {
  const b = new OptionsBuilder().uriPath(path).uriQuery(query);
  if (extra.cf !== undefined) b.uint(OptionNumber.CONTENT_FORMAT, extra.cf);
  if (extra.accept !== undefined) b.uint(OptionNumber.ACCEPT, extra.accept);
  const payload = typeof extra.payload === 'string' ? text.encode(extra.payload) : (extra.payload ?? EMPTY);
  return msg({ type: 'CON', code, options: b.build(), payload });
}

/** What the peer receives of an OutgoingRequest, through the UDP codec. */
function onTheWire(out: OutgoingRequest): CoapMessage {
  return decodeCoapUdp(
    encodeCoapUdp({
      type: 'CON',
      code: out.code,
      messageId: 1,
      token: Uint8Array.of(1, 2),
      options: out.options ?? [],
      payload: out.payload ?? EMPTY,
    }),
  );
}

function rejects(fn: () => unknown, reason: OperationErrorReason, code: string, messagePart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.resultCode, code, e.message);
    if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
    return true;
  });
}

/** Records as comparable tuples (paths memoise their text form, so compare that). */
const flat = (records: readonly LwM2mRecord[]) => records.map((r) => [r.path.toString(), r.value, r.time]);

const decode = (m: CoapMessage, options: { allowUnknownParameters?: boolean; rdPath?: string } = {}) =>
  decodeUplinkRequest(m, { ...ctx, ...options });

describe('decodeUplinkRequest: the captured client requests', () => {
  /** Every client->server request to /rd, /dp, /bs, /bspack in a capture, decoded. */
  function uplinks(dir: string, file: string): { line: CaptureLine; request: UplinkRequest }[] {
    return readCapture(dir, file)
      .filter((l) => l.dir === 'client->server' && l.code !== null && /^0\.0[1-7]$/.test(l.code))
      .map((line) => ({ line, message: decodeCoapUdp(hex(line.hex)) }))
      .filter(({ message }) => ['rd', 'dp', 'bs', 'bspack'].includes(uriPath(message)[0] ?? ''))
      .map(({ line, message }) => ({ line, request: decode(message) }));
  }

  it('client A (1.2): Register, empty Updates, Send in SenML CBOR, De-register', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const all = uplinks(dir, 'lwm2m-1.2-client-udp.jsonl');
    assert.deepEqual(
      all.map((u) => u.request.kind),
      ['register', ...Array<string>(8).fill('update'), 'send', 'deregister'],
    );
    const reg = all[0]!.request as RegisterRequest;
    assert.equal(reg.endpoint, 'urn:dev:client-a-001');
    assert.equal(reg.lifetime, 300);
    assert.equal(reg.lwm2mVersion, '1.2');
    assert.equal(reg.binding, 'U'); // no b= sent
    assert.equal(reg.queueMode, false);
    assert.equal(reg.sms, undefined);
    assert.deepEqual(reg.profileIds, []);
    assert.equal(reg.extraParameters.size, 0);
    assert.equal(reg.objects?.contentFormats, undefined);
    assert.equal(reg.objects?.alternatePath, undefined);
    const server = reg.objects?.objects.find((o) => o.id === 1);
    assert.deepEqual(server, { id: 1, version: undefined, instances: [1] }); // Server instance /1/1
    assert.deepEqual(
      reg.objects?.objects.find((o) => o.id === 10),
      { id: 10, version: '1.1', instances: [0] },
    );
    assert.equal(reg.objects?.objects.length, 20);
    for (const u of all.slice(1, 9)) assert.deepEqual(u.request, { kind: 'update', registrationId: '0' });
    const send = all[9]!.request as SendRequest;
    assert.equal(send.format, 112);
    assert.deepEqual(
      send.records.map((r) => [r.path.toString(), r.value]),
      [
        ['/3/0/0', Value.string('client')],
        ['/3/0/9', Value.integer(0)],
        ['/3/0/7/0', Value.integer(32074)],
      ],
    );
    assert.ok(send.records.every((r) => r.time === 1795611919.767774));
    assert.deepEqual(all[10]!.request, { kind: 'deregister', registrationId: '0' });
  });

  it('client B (1.1): b=U, root link ct=110, ver=1.1 on /1; Updates carry the list without Content-Format', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const all = uplinks(dir, 'lwm2m-1.1-client-udp.jsonl');
    assert.deepEqual(
      all.map((u) => u.request.kind),
      ['register', ...Array<string>(5).fill('update'), 'send', 'deregister'],
    );
    const reg = all[0]!.request as RegisterRequest;
    assert.equal(reg.endpoint, 'client-b-001');
    assert.equal(reg.lwm2mVersion, '1.1');
    assert.equal(reg.binding, 'U');
    assert.equal(reg.lifetime, 300);
    assert.deepEqual(reg.objects?.contentFormats, [110]);
    assert.deepEqual(
      reg.objects?.objects.find((o) => o.id === 1),
      { id: 1, version: '1.1', instances: [0] },
    );
    assert.deepEqual(
      reg.objects?.objects.find((o) => o.id === 31024),
      {
        id: 31024,
        version: '1.0',
        instances: [10, 11, 12],
      },
    );
    const firstUpdate = all[1]!.request as UpdateRequest;
    assert.equal(firstUpdate.registrationId, '0');
    assert.equal(firstUpdate.lifetime, undefined);
    assert.deepEqual(firstUpdate.objects?.objects.find((o) => o.id === 31024)?.instances, [10, 11, 12, 99]);
    for (const u of all.slice(1, 6)) assert.ok((u.request as UpdateRequest).objects !== undefined);
    // Send with a zero-length token, SenML JSON [{"bn":"/3/0/","n":"9","v":100}].
    assert.equal(decodeCoapUdp(hex(all[6]!.line.hex)).token.length, 0);
    const send = all[6]!.request as SendRequest;
    assert.equal(send.kind, 'send');
    assert.equal(send.format, 110);
    assert.deepEqual(flat(send.records), [['/3/0/9', Value.integer(100), undefined]]);
    assert.deepEqual(all[7]!.request, { kind: 'deregister', registrationId: '0' });
  });

  it('bootstrap runs: Bootstrap-Pack-Request with Accept 112, Bootstrap-Request pct=112 / pct=110', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const a = uplinks(dir, 'bootstrap-1.2-client.jsonl').map((u) => u.request);
    assert.deepEqual(a[0], {
      kind: 'bootstrap-pack-request',
      endpoint: 'urn:dev:client-a-bs',
      accept: 112,
      accounts: undefined,
    });
    assert.deepEqual(a[1], {
      kind: 'bootstrap-request',
      endpoint: 'urn:dev:client-a-bs',
      preferredFormat: 112,
    });
    assert.deepEqual(
      a.slice(2).map((r) => r.kind),
      ['register', 'deregister'],
    );
    assert.equal((a[2] as RegisterRequest).endpoint, 'urn:dev:client-a-bs');
    const b = uplinks(dir, 'bootstrap-1.1-client.jsonl').map((u) => u.request);
    assert.deepEqual(b[0], { kind: 'bootstrap-request', endpoint: 'client-b-bs', preferredFormat: 110 });
    assert.equal((b[1] as RegisterRequest).lwm2mVersion, '1.1');
    assert.deepEqual((b[1] as RegisterRequest).objects?.objects.find((o) => o.id === 1)?.instances, [1]);
    assert.equal(b[2]!.kind, 'deregister');
  });

  it('the Register and De-register inside the DTLS session', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const plain = readCapture(dir, 'dtls12-psk-ccm8.jsonl')
      .filter((l) => l.dir === 'client->server')
      .flatMap(
        (l) =>
          (l as CaptureLine & { decrypted?: { contentType: number; plaintextHex: string }[] }).decrypted ??
          [],
      )
      .filter((r) => r.contentType === 23)
      .map((r) => decode(decodeCoapUdp(hex(r.plaintextHex))));
    assert.equal(plain.length, 2);
    assert.equal(plain[0]!.kind, 'register');
    assert.equal((plain[0] as RegisterRequest).endpoint, 'urn:dev:client-a-dtls');
    assert.deepEqual(plain[1], { kind: 'deregister', registrationId: '0' });
  });

  it('the server answers decode on the client side: 2.01 Location /rd/0, the refused Pack', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const lines = readCapture(dir, 'lwm2m-1.2-client-udp.jsonl');
    const reg = decode(decodeCoapUdp(hex(lines[0]!.hex)));
    const created = decodeCoapUdp(hex(lines[1]!.hex));
    assert.deepEqual(decodeUplinkResponse(created, reg), { code: '2.01', registrationId: '0' });
    // Our encoder writes the same Location-Path options as the capture's server.
    const ours = encodeUplinkResponse({ code: '2.01', registrationId: '0' }, reg);
    assert.equal(ours.code, created.code);
    assert.deepEqual(ours.options, created.options);
    const bs = readCapture(dir, 'bootstrap-1.2-client.jsonl');
    const pack = decode(decodeCoapUdp(hex(bs[0]!.hex)));
    assert.deepEqual(decodeUplinkResponse(decodeCoapUdp(hex(bs[1]!.hex)), pack), { code: '4.00' });
  });
});

describe('decodeUplinkRequest: routing (4.04, 4.05)', () => {
  it('an unknown path is 4.04', () => {
    for (const path of [[], ['rdx'], ['dp', 'x'], ['bs', '1'], ['3', '0'], ['RD']])
      rejects(() => decode(request(CoapCode.POST, path)), 'bad-path', '4.04');
  });
  it('a known path with the wrong method is 4.05', () => {
    rejects(() => decode(request(CoapCode.GET, ['rd'], ['lt=1', 'lwm2m=1.2'])), 'bad-path', '4.05', 'GET');
    rejects(() => decode(request(CoapCode.DELETE, ['rd'])), 'bad-path', '4.05');
    rejects(() => decode(request(CoapCode.PUT, ['rd', '0'])), 'bad-path', '4.05', 'PUT');
    rejects(() => decode(request(CoapCode.GET, ['rd', '0'])), 'bad-path', '4.05');
    rejects(() => decode(request(CoapCode.GET, ['dp'])), 'bad-path', '4.05');
    rejects(() => decode(request(CoapCode.GET, ['bs'])), 'bad-path', '4.05');
    rejects(() => decode(request(CoapCode.POST, ['bspack'])), 'bad-path', '4.05');
    rejects(() => decode(request(CoapCode.FETCH, ['dp'])), 'bad-path', '4.05', '0.05');
  });
  it('honours another registration path', () => {
    const options = { rdPath: '/lwm2m/rd/' };
    assert.equal(
      decode(request(CoapCode.POST, ['lwm2m', 'rd'], ['lt=1', 'lwm2m=1.2']), options).kind,
      'register',
    );
    assert.deepEqual(decode(request(CoapCode.DELETE, ['lwm2m', 'rd', 'a1']), options), {
      kind: 'deregister',
      registrationId: 'a1',
    });
    rejects(() => decode(request(CoapCode.POST, ['rd'], ['lt=1', 'lwm2m=1.2']), options), 'bad-path', '4.04');
  });
  it('a multi-segment registration id keeps its segments', () => {
    assert.deepEqual(decode(request(CoapCode.DELETE, ['rd', 'a', 'b'])), {
      kind: 'deregister',
      registrationId: 'a/b',
    });
    rejects(() => decode(request(CoapCode.DELETE, ['rd', ''])), 'bad-path', '4.04');
  });
  it('path segments and query items must be UTF-8', () => {
    const bad = msg({
      code: CoapCode.POST,
      options: new OptionsBuilder()
        .uriPath(['rd'])
        .add(OptionNumber.URI_QUERY, Uint8Array.of(0x65, 0x70, 0x3d, 0xff))
        .build(),
    });
    rejects(() => decode(bad), 'bad-parameter', '4.00', 'UTF-8');
  });
});

describe('decodeUplinkRequest: Register and Update', () => {
  const list = '</1/0>,</3/0>';
  it('a Register with a link-format list, or without Content-Format (read as link format)', () => {
    const a = decode(
      request(CoapCode.POST, ['rd'], ['ep=x', 'lt=60', 'lwm2m=1.2'], { cf: 40, payload: list }),
    );
    const b = decode(request(CoapCode.POST, ['rd'], ['ep=x', 'lt=60', 'lwm2m=1.2'], { payload: list }));
    assert.deepEqual(a, b);
    assert.deepEqual((a as RegisterRequest).objects, parseRegistrationPayload(list));
    const none = decode(request(CoapCode.POST, ['rd'], ['ep=x', 'lt=60', 'lwm2m=1.2'], { cf: 40 }));
    assert.equal((none as RegisterRequest).objects, undefined);
  });
  it('another Content-Format is 4.15, a bad list 4.00', () => {
    rejects(
      () => decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.2'], { cf: 110, payload: list })),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['rd', '0'], [], { cf: 0, payload: list })),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.2'], { cf: 40, payload: '</3/0' })),
      'bad-payload',
      '4.00',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.2'], { cf: 40, payload: '</3/0/1>' })),
      'bad-payload',
      '4.00',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['rd', '7'], [], { payload: Uint8Array.of(0x3c, 0xff, 0x3e) })),
      'bad-payload',
      '4.00',
    );
  });
  it('parameter errors carry their codes', () => {
    rejects(
      () => decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.3'])),
      'unsupported-version',
      '4.12',
    );
    rejects(() => decode(request(CoapCode.POST, ['rd'], ['lwm2m=1.2'])), 'missing-parameter', '4.00');
    rejects(
      () => decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.2', 'zz=1'])),
      'unknown-parameter',
      '4.00',
    );
    const kept = decode(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.2', 'zz=1']), {
      allowUnknownParameters: true,
    });
    assert.deepEqual((kept as RegisterRequest).extraParameters, new Map([['zz', '1']]));
    rejects(() => decode(request(CoapCode.POST, ['rd', '0'], ['lt=x'])), 'bad-parameter', '4.00');
    assert.deepEqual(decode(request(CoapCode.POST, ['rd', '0'], ['lt=30', 'Q'])), {
      kind: 'update',
      registrationId: '0',
      lifetime: 30,
      queueMode: true,
    });
  });
  it('served versions can be narrowed', () => {
    rejects(
      () =>
        decodeUplinkRequest(request(CoapCode.POST, ['rd'], ['lt=60', 'lwm2m=1.0']), {
          ...ctx,
          supportedVersions: ['1.1', '1.2'],
        }),
      'unsupported-version',
      '4.12',
    );
  });
});

describe('decodeUplinkRequest: Send', () => {
  const senml = '[{"n":"/3/0/9","v":80}]';
  it('decodes SenML JSON, SenML CBOR and LwM2M CBOR at the root', () => {
    const json = decode(request(CoapCode.POST, ['dp'], [], { cf: 110, payload: senml })) as SendRequest;
    assert.deepEqual(flat(json.records), [['/3/0/9', Value.integer(80), undefined]]);
    for (const cf of [112, 11544]) {
      const bytes = codecs.encode(cf, json.records, { path: LwM2mPath.ROOT, model });
      const back = decode(request(CoapCode.POST, ['dp'], [], { cf, payload: bytes })) as SendRequest;
      assert.equal(back.format, cf);
      assert.deepEqual(flat(back.records), flat(json.records));
    }
  });
  it('other formats are 4.15, an empty or broken payload 4.00', () => {
    rejects(
      () =>
        decode(request(CoapCode.POST, ['dp'], [], { cf: 11542, payload: Uint8Array.of(0xc1, 0x09, 0x50) })),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['dp'], [], { cf: 0, payload: '80' })),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['dp'], [], { payload: senml })),
      'unsupported-format',
      '4.15',
    );
    rejects(() => decode(request(CoapCode.POST, ['dp'], [], { cf: 110 })), 'bad-payload', '4.00');
    rejects(
      () => decode(request(CoapCode.POST, ['dp'], [], { cf: 110, payload: '[{"n":' })),
      'bad-payload',
      '4.00',
    );
    rejects(
      () => decode(request(CoapCode.POST, ['dp'], [], { cf: 110, payload: '[]' })),
      'bad-payload',
      '4.00',
    );
  });
});

describe('decodeUplinkRequest: Bootstrap-Request and Bootstrap-Pack-Request', () => {
  it('pct must be 110, 112, 11544 or 11542 (4.15); ep and pct are optional', () => {
    for (const pct of [110, 112, 11544, 11542])
      assert.deepEqual(decode(request(CoapCode.POST, ['bs'], [`pct=${pct}`])), {
        kind: 'bootstrap-request',
        endpoint: undefined,
        preferredFormat: pct,
      });
    assert.deepEqual(decode(request(CoapCode.POST, ['bs'])), {
      kind: 'bootstrap-request',
      endpoint: undefined,
      preferredFormat: undefined,
    });
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['pct=0'])), 'unsupported-format', '4.15');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['pct=11543'])), 'unsupported-format', '4.15');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['pct=json'])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['pct'])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['ep=a', 'ep=b'])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['ep='])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.POST, ['bs'], ['lt=5'])), 'unknown-parameter', '4.00');
    assert.equal(
      (
        decode(request(CoapCode.POST, ['bs'], ['ep=e', 'lt=5']), { allowUnknownParameters: true }) as {
          endpoint: string;
        }
      ).endpoint,
      'e',
    );
  });
  it('Pack: Accept 110/112/11544 (else 4.06), acc lists BS-account instances', () => {
    const pack = decode(request(CoapCode.GET, ['bspack'], ['ep=e', 'acc=</0/0>,</21/0>'], { accept: 11544 }));
    assert.equal(pack.kind, 'bootstrap-pack-request');
    assert.deepEqual(
      [pack.endpoint, pack.accept, pack.accounts?.map(String)],
      ['e', 11544, ['/0/0', '/21/0']],
    );
    rejects(
      () => decode(request(CoapCode.GET, ['bspack'], [], { accept: 11542 })),
      'unsupported-format',
      '4.06',
    );
    rejects(
      () => decode(request(CoapCode.GET, ['bspack'], ['acc=</0>'])),
      'bad-parameter',
      '4.00',
      'instance',
    );
    rejects(() => decode(request(CoapCode.GET, ['bspack'], ['acc=</0/0'])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.GET, ['bspack'], ['acc=</x/0>'])), 'bad-parameter', '4.00');
    rejects(() => decode(request(CoapCode.GET, ['bspack'], ['pct=112'])), 'unknown-parameter', '4.00');
  });
});

describe('encodeUplinkRequest → decodeUplinkRequest', () => {
  const objects = parseRegistrationPayload('</>;rt="oma.lwm2m";ct="110 112",</1>;ver=1.1,</1/0>,</3/0>,</5>');
  const cases: UplinkRequest[] = [
    {
      kind: 'register',
      endpoint: 'urn:dev:x',
      lifetime: 300,
      lwm2mVersion: '1.2',
      binding: 'UT',
      queueMode: true,
      sms: '12345',
      profileIds: ['oma:a', '6:1234abcd'],
      objects,
      extraParameters: new Map(),
    },
    {
      kind: 'register',
      endpoint: undefined,
      lifetime: 86400,
      lwm2mVersion: '1.0',
      binding: 'U',
      queueMode: true,
      sms: undefined,
      profileIds: [],
      objects: undefined,
      extraParameters: new Map(),
    },
    { kind: 'update', registrationId: '0' },
    { kind: 'update', registrationId: 'ab12', lifetime: 60, binding: 'U', objects },
    { kind: 'deregister', registrationId: '5a3f' },
    {
      kind: 'send',
      format: 112,
      records: [
        { path: LwM2mPath.parse('/3/0/9'), value: Value.integer(42) },
        { path: LwM2mPath.parse('/6/0/0'), value: Value.float(43.61092) },
      ],
    },
    { kind: 'bootstrap-request', endpoint: 'e', preferredFormat: 11544 },
    { kind: 'bootstrap-request', endpoint: undefined, preferredFormat: undefined },
    {
      kind: 'bootstrap-pack-request',
      endpoint: 'e',
      accept: 112,
      accounts: [LwM2mPath.of(0, 1), LwM2mPath.of(21, 0)],
    },
    { kind: 'bootstrap-pack-request', endpoint: undefined, accept: undefined, accounts: undefined },
  ];

  for (const req of cases)
    it(`${req.kind} round-trips`, () => {
      const out = encodeUplinkRequest(req, ctx);
      const back = decode(onTheWire(out));
      if (req.kind === 'register' || req.kind === 'update') {
        // The list is re-parsed, so compare what it says rather than its link objects.
        const { objects: a, ...restA } = back as RegisterRequest;
        const { objects: b, ...restB } = req as RegisterRequest;
        assert.deepEqual(restA, restB);
        assert.deepEqual(a?.objects, b?.objects);
        assert.deepEqual(a?.contentFormats, b?.contentFormats);
      } else if (req.kind === 'send') {
        const { records: a, ...restA } = back as SendRequest;
        assert.deepEqual(restA, { kind: 'send', format: req.format });
        assert.deepEqual(flat(a), flat(req.records));
      } else if (req.kind === 'bootstrap-pack-request') {
        const { accounts, ...rest } = back as typeof req;
        const { accounts: expected, ...restExpected } = req;
        assert.deepEqual(rest, restExpected);
        assert.deepEqual(accounts?.map(String), expected?.map(String));
      } else assert.deepEqual(back, req);
    });

  it('writes the CoAP request the Transport TS names', () => {
    const reg = encodeUplinkRequest(cases[0]!, ctx);
    const m = onTheWire(reg);
    assert.equal(m.code, CoapCode.POST);
    assert.deepEqual(uriPath(m), ['rd']);
    assert.deepEqual(uriQuery(m), [
      'ep=urn:dev:x',
      'lt=300',
      'lwm2m=1.2',
      'b=UT',
      'Q',
      'sms=12345',
      'pid="oma:a,6:1234abcd"',
    ]);
    assert.equal(contentFormat(m), 40);
    assert.deepEqual(uriQuery(onTheWire(encodeUplinkRequest(cases[1]!, ctx))), [
      'lt=86400',
      'lwm2m=1.0',
      'b=UQ',
    ]);
    const upd = onTheWire(encodeUplinkRequest({ kind: 'update', registrationId: '0' }, ctx));
    assert.deepEqual(
      [upd.code, uriPath(upd), uriQuery(upd), upd.payload.length, contentFormat(upd)],
      [CoapCode.POST, ['rd', '0'], [], 0, undefined],
    );
    const del = onTheWire(
      encodeUplinkRequest({ kind: 'deregister', registrationId: '0' }, { ...ctx, rdPath: 'x/rd' }),
    );
    assert.deepEqual([del.code, uriPath(del)], [CoapCode.DELETE, ['x', 'rd', '0']]);
    const bspack = onTheWire(encodeUplinkRequest(cases[8]!, ctx));
    assert.deepEqual(
      [bspack.code, uriPath(bspack), uriQuery(bspack)],
      [CoapCode.GET, ['bspack'], ['ep=e', 'acc=</0/1>,</21/0>']],
    );
    const send = onTheWire(encodeUplinkRequest(cases[5]!, ctx));
    assert.deepEqual([uriPath(send), contentFormat(send)], [['dp'], 112]);
  });

  it('an Update to a 1.0 registration writes queue mode into b', () => {
    const out = onTheWire(
      encodeUplinkRequest(
        { kind: 'update', registrationId: '1', binding: 'S', queueMode: true },
        { ...ctx, lwm2mVersion: '1.0' },
      ),
    );
    assert.deepEqual(uriQuery(out), ['b=SQ']);
  });

  it('a registration id with a leading "/" is a whole location', () => {
    const out = onTheWire(encodeUplinkRequest({ kind: 'deregister', registrationId: '/reg/5' }, ctx));
    assert.deepEqual(uriPath(out), ['reg', '5']);
    rejects(() => encodeUplinkRequest({ kind: 'deregister', registrationId: '' }, ctx), 'bad-path', '4.04');
  });

  it('refuses requests that break the rules', () => {
    rejects(
      () => encodeUplinkRequest({ kind: 'send', format: 11542, records: [] }, ctx),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () => encodeUplinkRequest({ kind: 'send', format: 110, records: [] }, ctx),
      'bad-payload',
      '4.00',
    );
    rejects(
      () => encodeUplinkRequest({ kind: 'bootstrap-request', endpoint: 'e', preferredFormat: 0 }, ctx),
      'unsupported-format',
      '4.15',
    );
    rejects(
      () =>
        encodeUplinkRequest(
          { kind: 'bootstrap-pack-request', endpoint: undefined, accept: 40, accounts: undefined },
          ctx,
        ),
      'unsupported-format',
      '4.06',
    );
    rejects(
      () =>
        encodeUplinkRequest(
          {
            kind: 'bootstrap-pack-request',
            endpoint: undefined,
            accept: undefined,
            accounts: [LwM2mPath.of(0)],
          },
          ctx,
        ),
      'bad-parameter',
      '4.00',
    );
    const long = { ...(cases[0] as RegisterRequest), extraParameters: new Map([['x', 'y'.repeat(300)]]) };
    rejects(() => encodeUplinkRequest(long, ctx), 'bad-parameter', '4.00');
  });
});

describe('encodeUplinkResponse / decodeUplinkResponse', () => {
  const reg = decode(request(CoapCode.POST, ['rd'], ['ep=x', 'lt=60', 'lwm2m=1.2']));
  it('Register 2.01 carries Location-Path rd/{id}', () => {
    const res = encodeUplinkResponse({ code: '2.01', registrationId: '5a3f' }, reg);
    assert.equal(res.code, CoapCode.CREATED);
    const m = msg({ code: res.code, options: res.options ?? [] });
    assert.deepEqual(locationPath(m), ['rd', '5a3f']);
    assert.deepEqual(decodeUplinkResponse(m, reg), { code: '2.01', registrationId: '5a3f' });
    const other = encodeUplinkResponse({ code: '2.01', registrationId: '7' }, reg, { rdPath: 'lwm2m/rd' });
    assert.deepEqual(locationPath(msg({ options: other.options ?? [] })), ['lwm2m', 'rd', '7']);
    rejects(() => encodeUplinkResponse({ code: '2.01' }, reg), 'bad-payload', '5.00');
  });
  it('5.03 carries retryAfter as Max-Age both ways (RFC 7252 §5.9.3.4); other codes do not', () => {
    const res = encodeUplinkResponse({ code: '5.03', diagnostic: 'busy', retryAfter: 42 }, reg);
    const m = msg({ code: res.code, options: res.options ?? [], payload: res.payload ?? new Uint8Array() });
    assert.equal(getUint(m, OptionNumber.MAX_AGE), 42);
    assert.deepEqual(decodeUplinkResponse(m, reg), {
      code: '5.03',
      format: 0,
      diagnostic: 'busy',
      retryAfter: 42,
    });
    const bare = encodeUplinkResponse({ code: '5.03', retryAfter: 7 }, reg);
    assert.equal(bare.payload, undefined);
    assert.deepEqual(decodeUplinkResponse(msg({ code: bare.code, options: bare.options ?? [] }), reg), {
      code: '5.03',
      retryAfter: 7,
    });
    const other = encodeUplinkResponse({ code: '4.00', retryAfter: 7 }, reg);
    assert.equal(getUint(msg({ options: other.options ?? [] }), OptionNumber.MAX_AGE), undefined);
  });
  it('a Location outside the registration path comes back as a whole location', () => {
    const m = msg({
      code: CoapCode.CREATED,
      options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['reg', '5']).build(),
    });
    const res = decodeUplinkResponse(m, reg);
    assert.equal(res.registrationId, '/reg/5');
    const upd = onTheWire(encodeUplinkRequest({ kind: 'update', registrationId: res.registrationId }, ctx));
    assert.deepEqual(uriPath(upd), ['reg', '5']);
    rejects(
      () => decodeUplinkResponse(msg({ code: CoapCode.CREATED }), reg),
      'bad-payload',
      '4.00',
      'Location',
    );
    rejects(
      () =>
        decodeUplinkResponse(
          msg({
            code: CoapCode.CREATED,
            options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', '']).build(),
          }),
          reg,
        ),
      'bad-payload',
      '4.00',
    );
  });
  it('errors carry the diagnostic as text/plain', () => {
    const res = encodeUplinkResponse({ code: '4.12', diagnostic: 'LwM2M 1.3 is not served' }, reg);
    assert.equal(res.code, CoapCode.PRECONDITION_FAILED);
    const m = msg({ code: res.code, options: res.options ?? [], payload: res.payload ?? EMPTY });
    assert.equal(contentFormat(m), 0);
    assert.deepEqual(decodeUplinkResponse(m, reg), {
      code: '4.12',
      format: 0,
      diagnostic: 'LwM2M 1.3 is not served',
    });
    assert.deepEqual(encodeUplinkResponse({ code: '4.04' }, reg), { code: CoapCode.NOT_FOUND });
    assert.deepEqual(encodeUplinkResponse({ code: '2.04' }, { kind: 'update', registrationId: '0' }), {
      code: CoapCode.CHANGED,
    });
    rejects(() => encodeUplinkResponse({ code: '3.00' as '2.04' }, reg), 'bad-payload', '5.00');
    rejects(() => decodeUplinkResponse(msg({ code: 0x61 }), reg), 'bad-payload', '4.00');
  });
  it('a Bootstrap-Pack 2.05 carries the pack in the asked format', () => {
    const pack = { kind: 'bootstrap-pack-request', endpoint: 'e', accept: 110, accounts: undefined } as const;
    const records = [
      { path: LwM2mPath.parse('/1/0/0'), value: Value.integer(1) },
      { path: LwM2mPath.parse('/1/0/1'), value: Value.integer(300) },
    ];
    const res = encodeUplinkResponse({ code: '2.05', records }, pack, ctx);
    const m = msg({ code: res.code, options: res.options ?? [], payload: res.payload ?? EMPTY });
    assert.equal(contentFormat(m), 110);
    const back = decodeUplinkResponse(m, pack, ctx);
    assert.deepEqual([back.code, back.format, flat(back.records ?? [])], ['2.05', 110, flat(records)]);
    rejects(() => encodeUplinkResponse({ code: '2.05', records }, pack), 'bad-payload', '5.00');
    rejects(
      () =>
        decodeUplinkResponse(
          msg({ code: CoapCode.CONTENT, payload: text.encode('[{'), options: m.options }),
          pack,
          ctx,
        ),
      'bad-payload',
      '4.00',
    );
  });
});
