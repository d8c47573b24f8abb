// The CoAP mapping of the downlink operations: each operation's request encoding (method, options in
// number order, payload), round trips through the client-side decoder and back, response decoding,
// and the real captures: every request the servers sent and every answer the two clients gave.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DownlinkDecodeError,
  decodeDownlinkRequest,
  decodeDownlinkResponse,
  decodeNotification,
  encodeDownlinkRequest,
  encodeDownlinkResponse,
  encodeNotification,
  type ClientDownlinkContext,
  type DownlinkContext,
} from '../../../src/binding/coap/downlink-codec.js';
import type { CoapResponse, OutgoingRequest } from '../../../src/coap/endpoint.js';
import { CoapCode, type CoapMessage, type CoapType } from '../../../src/coap/message.js';
import {
  OptionNumber,
  decodeString,
  decodeUint,
  encodeUint,
  optionDefinition,
} from '../../../src/coap/options.js';
import { decodeCoapUdp } from '../../../src/coap/udp-codec.js';
import { createCodecRegistry } from '../../../src/content/codec-registry.js';
import { ContentFormatError } from '../../../src/content/content-format-error.js';
import type { ContentFormatId } from '../../../src/content/content-format.js';
import type { NotificationAttributes } from '../../../src/model/attributes.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { LwM2mRecord } from '../../../src/model/records.js';
import type { DownlinkRequest, DownlinkResponse } from '../../../src/operations/requests.js';
import { OperationError } from '../../../src/operations/result-code.js';
import { instanceRecordsArb, valuedRecordsArb } from '../../support/arbitraries.js';
import { EMPTY, hex, toHex } from '../../support/coap-messages.js';
import { CAPTURE_FILES, readCapture, type CaptureLine } from '../../support/captures.js';
import { assertSameRecords, plain, rec } from '../../support/records.js';
import { requireShared } from '../../support/shared.js';
import { TEST_OBJECT, testModel } from '../../support/test-model.js';

const codecs = createCodecRegistry();
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b ?? EMPTY);

function serverCtx(extra: Partial<DownlinkContext> = {}): DownlinkContext {
  return { codecs, model: testModel, peer: { lwm2mVersion: '1.2', contentFormats: undefined }, ...extra };
}
function clientCtx(extra: Partial<ClientDownlinkContext> = {}): ClientDownlinkContext {
  return { codecs, model: testModel, ...extra };
}

/** An OutgoingRequest as the message the client receives. */
function asRequest(out: OutgoingRequest): CoapMessage {
  return {
    type: 'CON',
    code: out.code,
    messageId: 7,
    token: hex('a1b2'),
    options: out.options ?? [],
    payload: out.payload ?? EMPTY,
  };
}

/** A CoapResponse as the message the server receives. */
function asResponse(r: CoapResponse, type: CoapType = 'ACK', observe?: number): CoapMessage {
  const options = [...(r.options ?? [])];
  if (observe !== undefined) options.unshift({ number: OptionNumber.OBSERVE, value: encodeUint(observe) });
  return { type, code: r.code, messageId: 7, token: hex('a1b2'), options, payload: r.payload ?? EMPTY };
}

/** Options as `[number, value]` with uint and string options decoded. */
function shown(options: readonly { number: number; value: Uint8Array }[] | undefined): [number, unknown][] {
  return (options ?? []).map((o) => {
    const format = optionDefinition(o.number)?.format;
    return [
      o.number,
      format === 'uint' ? decodeUint(o.value) : format === 'string' ? decodeString(o.value) : toHex(o.value),
    ];
  });
}

/** A request or response as plain data: paths as text, records via plain(), bytes as hex. */
function norm(v: unknown): unknown {
  if (v instanceof LwM2mPath) return `path:${v.toString()}`;
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) {
    if (v.length > 0 && (v[0] as { path?: unknown }).path instanceof LwM2mPath)
      return plain(v as LwM2mRecord[]);
    return v.map(norm);
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = k === 'resources' ? plain(x as LwM2mRecord[]) : norm(x);
    }
    return out;
  }
  return v;
}

const ALL_PATHS = [
  '/3/0',
  '/3/0/0',
  '/1/0/1',
  '/3/0/7/1',
  `/${TEST_OBJECT}`,
  `/${TEST_OBJECT}/2/5`,
  '/d01/3303/0/5700',
  '/d02/3',
];

// ---- encoding ----

describe('encodeDownlinkRequest', () => {
  const ctx = serverCtx();

  it('Read: GET, Uri-Path, Accept only when asked', () => {
    const out = encodeDownlinkRequest({ kind: 'read', path: LwM2mPath.of(3, 0, 0) }, ctx);
    assert.equal(out.code, CoapCode.GET);
    assert.equal(out.confirmable, true);
    assert.deepEqual(shown(out.options), [
      [11, '3'],
      [11, '0'],
      [11, '0'],
    ]);
    assert.equal(out.payload, undefined);
    const acc = encodeDownlinkRequest({ kind: 'read', path: LwM2mPath.of(3), accept: 11542 }, ctx);
    assert.deepEqual(shown(acc.options), [
      [11, '3'],
      [17, 11542],
    ]);
  });

  it('Discover: GET with depth and Accept 40', () => {
    const out = encodeDownlinkRequest({ kind: 'discover', path: LwM2mPath.of(3), depth: 0 }, ctx);
    assert.equal(out.code, CoapCode.GET);
    assert.deepEqual(shown(out.options), [
      [11, '3'],
      [15, 'depth=0'],
      [17, 40],
    ]);
    const plainDiscover = encodeDownlinkRequest({ kind: 'discover', path: LwM2mPath.of(3, 0) }, ctx);
    assert.deepEqual(shown(plainDiscover.options), [
      [11, '3'],
      [11, '0'],
      [17, 40],
    ]);
  });

  it('Write: PUT replace / POST update with Content-Format and payload', () => {
    const single = encodeDownlinkRequest(
      {
        kind: 'write',
        path: LwM2mPath.of(1, 1, 1),
        mode: 'replace',
        records: [rec('/1/1/1', Value.integer(300))],
      },
      ctx,
    );
    assert.equal(single.code, CoapCode.PUT);
    assert.deepEqual(shown(single.options), [
      [11, '1'],
      [11, '1'],
      [11, '1'],
      [12, 0],
    ]);
    assert.equal(text(single.payload), '300');
    const update = encodeDownlinkRequest(
      {
        kind: 'write',
        path: LwM2mPath.of(1, 1),
        mode: 'update',
        records: [rec('/1/1/1', Value.integer(300))],
        format: 11542,
      },
      ctx,
    );
    assert.equal(update.code, CoapCode.POST);
    assert.deepEqual(shown(update.options).at(-1), [12, 11542]);
    assert.equal(toHex(update.payload!), 'c201012c');
    const senml = encodeDownlinkRequest(
      {
        kind: 'write',
        path: LwM2mPath.of(1, 1),
        mode: 'update',
        records: [rec('/1/1/1', Value.integer(300))],
        format: 110,
      },
      ctx,
    );
    assert.equal(text(senml.payload), '[{"n":"/1/1/1","v":300}]');
  });

  it('Write-Attributes: PUT with the query, no payload', () => {
    const out = encodeDownlinkRequest(
      {
        kind: 'write-attributes',
        path: LwM2mPath.of(3, 0, 9),
        attributes: { pmin: 1, pmax: 5, gt: 50, st: null },
      },
      ctx,
    );
    assert.equal(out.code, CoapCode.PUT);
    assert.deepEqual(shown(out.options), [
      [11, '3'],
      [11, '0'],
      [11, '9'],
      [15, 'pmin=1'],
      [15, 'pmax=5'],
      [15, 'gt=50'],
      [15, 'st'],
    ]);
    assert.equal(out.payload, undefined);
  });

  it('Execute: POST, text/plain arguments only when there are some', () => {
    const bare = encodeDownlinkRequest({ kind: 'execute', path: LwM2mPath.of(1, 1, 8) }, ctx);
    assert.equal(bare.code, CoapCode.POST);
    assert.deepEqual(shown(bare.options), [
      [11, '1'],
      [11, '1'],
      [11, '8'],
    ]);
    assert.equal(bare.payload, undefined);
    const args = encodeDownlinkRequest(
      {
        kind: 'execute',
        path: LwM2mPath.of(5, 0, 2),
        arguments: [{ digit: 0 }, { digit: 2, value: '10.3,x' }],
      },
      ctx,
    );
    assert.deepEqual(shown(args.options).at(-1), [12, 0]);
    assert.equal(text(args.payload), "0,2='10.3,x'");
    assert.throws(
      () =>
        encodeDownlinkRequest(
          { kind: 'execute', path: LwM2mPath.of(5, 0, 2), arguments: [{ digit: 1, value: "'" }] },
          ctx,
        ),
      (e: unknown) => e instanceof OperationError && e.reason === 'bad-arguments',
    );
  });

  it('Create: POST /o with the instance payload', () => {
    const tlv = encodeDownlinkRequest(
      {
        kind: 'create',
        path: LwM2mPath.of(33605),
        instance: { instanceId: 5, resources: [rec('/12', Value.integer(42))] },
        format: 11542,
      },
      ctx,
    );
    assert.equal(tlv.code, CoapCode.POST);
    assert.deepEqual(shown(tlv.options), [
      [11, '33605'],
      [12, 11542],
    ]);
    assert.equal(toHex(tlv.payload!), '0305c10c2a');
    // Without an id, a 1.2 peer that announced nothing gets TLV without an instance wrapper.
    const noId = encodeDownlinkRequest(
      {
        kind: 'create',
        path: LwM2mPath.of(33605),
        instance: { instanceId: undefined, resources: [rec('/12', Value.integer(42))] },
      },
      ctx,
    );
    assert.deepEqual(shown(noId.options).at(-1), [12, 11542]);
    assert.equal(toHex(noId.payload!), 'c10c2a');
  });

  it('Delete and the Bootstrap operations (never under the alternate path)', () => {
    const alt = serverCtx({ alternatePath: '/lwm2m' });
    const del = encodeDownlinkRequest({ kind: 'delete', path: LwM2mPath.of(33605, 5) }, alt);
    assert.equal(del.code, CoapCode.DELETE);
    assert.deepEqual(shown(del.options), [
      [11, 'lwm2m'],
      [11, '33605'],
      [11, '5'],
    ]);
    const bsDel = encodeDownlinkRequest({ kind: 'bootstrap-delete', path: LwM2mPath.ROOT }, alt);
    assert.equal(bsDel.code, CoapCode.DELETE);
    assert.deepEqual(shown(bsDel.options), []);
    const bsRead = encodeDownlinkRequest({ kind: 'bootstrap-read', path: LwM2mPath.of(1) }, alt);
    assert.equal(bsRead.code, CoapCode.GET);
    assert.deepEqual(shown(bsRead.options), [[11, '1']]);
    const bsDisc = encodeDownlinkRequest({ kind: 'bootstrap-discover', path: LwM2mPath.ROOT }, alt);
    assert.deepEqual(shown(bsDisc.options), [[17, 40]]);
    const bsWrite = encodeDownlinkRequest(
      { kind: 'bootstrap-write', path: LwM2mPath.of(1, 1), records: [rec('/1/1/1', Value.integer(300))] },
      serverCtx({ alternatePath: '/lwm2m', peer: { lwm2mVersion: '1.1', contentFormats: [110] } }),
    );
    assert.equal(bsWrite.code, CoapCode.PUT);
    assert.deepEqual(shown(bsWrite.options), [
      [11, '1'],
      [11, '1'],
      [12, 110],
    ]);
    const finish = encodeDownlinkRequest({ kind: 'bootstrap-finish' }, alt);
    assert.equal(finish.code, CoapCode.POST);
    assert.deepEqual(shown(finish.options), [[11, 'bs']]);
  });

  it('Read-Composite: FETCH on the root with a name-only path list', () => {
    const out = encodeDownlinkRequest(
      { kind: 'read-composite', paths: [LwM2mPath.of(3, 0, 0), LwM2mPath.of(1, 1, 1)] },
      ctx,
    );
    assert.equal(out.code, CoapCode.FETCH);
    assert.deepEqual(shown(out.options), [
      [12, 320],
      [17, 112],
    ]);
    // Byte for byte what the capture's server sent.
    assert.equal(text(out.payload), '[{"n":"/3/0/0"},{"n":"/1/1/1"}]');
    const cbor = encodeDownlinkRequest(
      { kind: 'read-composite', paths: [LwM2mPath.of(3, 0, 0)], format: 112, accept: 11544 },
      serverCtx({ alternatePath: '/a/b' }),
    );
    assert.deepEqual(shown(cbor.options), [
      [11, 'a'],
      [11, 'b'],
      [12, 112],
      [17, 11544],
    ]);
    assert.equal(toHex(cbor.payload!), '81a100662f332f302f30');
    assert.throws(
      () => encodeDownlinkRequest({ kind: 'read-composite', paths: [LwM2mPath.of(3)], format: 11542 }, ctx),
      (e: unknown) => e instanceof OperationError && e.resultCode === '4.15',
    );
  });

  it('Write-Composite: iPATCH on the root', () => {
    const out = encodeDownlinkRequest(
      { kind: 'write-composite', records: [rec('/1/1/1', Value.integer(300))], format: 110 },
      ctx,
    );
    assert.equal(out.code, CoapCode.IPATCH);
    assert.deepEqual(shown(out.options), [[12, 110]]);
    assert.equal(text(out.payload), '[{"n":"/1/1/1","v":300}]');
    assert.throws(
      () =>
        encodeDownlinkRequest(
          { kind: 'write-composite', records: [rec('/1/1/1', Value.integer(1))], format: 11542 },
          ctx,
        ),
      (e: unknown) => e instanceof OperationError && e.reason === 'unsupported-format',
    );
  });

  it('Observe and its cancel: GET with Observe 0/1, attributes as query', () => {
    const out = encodeDownlinkRequest(
      { kind: 'observe', path: LwM2mPath.of(3, 0, 13), attributes: { pmin: 1, con: 1 }, accept: 0 },
      ctx,
    );
    assert.equal(out.code, CoapCode.GET);
    assert.deepEqual(shown(out.options), [
      [6, 0],
      [11, '3'],
      [11, '0'],
      [11, '13'],
      [15, 'pmin=1'],
      [15, 'con=1'],
      [17, 0],
    ]);
    const cancel = encodeDownlinkRequest({ kind: 'cancel-observation', path: LwM2mPath.of(3, 0, 13) }, ctx);
    assert.deepEqual(shown(cancel.options), [
      [6, 1],
      [11, '3'],
      [11, '0'],
      [11, '13'],
    ]);
  });

  it('Observe-Composite and its cancel: FETCH with Observe 0/1 and the same path list', () => {
    const paths = [LwM2mPath.of(3, 0, 13), LwM2mPath.of(3, 0, 9)];
    const out = encodeDownlinkRequest({ kind: 'observe-composite', paths, attributes: { pmax: 60 } }, ctx);
    assert.equal(out.code, CoapCode.FETCH);
    assert.deepEqual(shown(out.options), [
      [6, 0],
      [12, 320],
      [15, 'pmax=60'],
      [17, 112],
    ]);
    assert.equal(text(out.payload), '[{"bn":"/3/0/","n":"13"},{"n":"9"}]');
    const cancel = encodeDownlinkRequest({ kind: 'cancel-observation-composite', paths }, ctx);
    assert.deepEqual(shown(cancel.options), [
      [6, 1],
      [12, 320],
      [17, 112],
    ]);
    assert.deepEqual(cancel.payload, out.payload);
    assert.throws(
      () => encodeDownlinkRequest({ kind: 'observe-composite', paths, attributes: { gt: 1 } }, ctx),
      (e: unknown) => e instanceof OperationError && e.reason === 'bad-attributes',
    );
  });

  it('puts the alternate path and the gateway prefix in Uri-Path', () => {
    const out = encodeDownlinkRequest(
      { kind: 'read', path: LwM2mPath.parse('/d01/3303/0/5700') },
      serverCtx({ alternatePath: '/lwm2m' }),
    );
    assert.deepEqual(shown(out.options), [
      [11, 'lwm2m'],
      [11, 'd01'],
      [11, '3303'],
      [11, '0'],
      [11, '5700'],
    ]);
    const root = encodeDownlinkRequest(
      { kind: 'write-composite', records: [], format: 110 },
      serverCtx({ alternatePath: '/lwm2m' }),
    );
    assert.deepEqual(shown(root.options), [
      [11, 'lwm2m'],
      [12, 110],
    ]);
  });

  it('refuses values the chosen format cannot carry', () => {
    assert.throws(
      () =>
        encodeDownlinkRequest(
          {
            kind: 'write',
            path: LwM2mPath.of(1, 1, 1),
            mode: 'replace',
            records: [rec('/1/1/1', Value.string('x'))],
            format: 0,
          },
          ctx,
        ),
      (e: unknown) => e instanceof OperationError && e.cause instanceof ContentFormatError,
    );
  });
});

// ---- round trips: server encodes, client decodes ----

const P = (text: string): LwM2mPath => LwM2mPath.parse(text);
const T = TEST_OBJECT;

const DM_SAMPLES: DownlinkRequest[] = [
  { kind: 'read', path: P('/3/0') },
  { kind: 'read', path: P('/d01/3303/0'), accept: 11544 },
  { kind: 'read', path: P('/3/0/7/0'), accept: 0 },
  { kind: 'discover', path: P('/3'), depth: 3 },
  { kind: 'discover', path: P('/3/0/7') },
  { kind: 'write', path: P('/1/0/1'), mode: 'replace', records: [rec('/1/0/1', Value.integer(300))] },
  {
    kind: 'write',
    path: P(`/${T}/0/3`),
    mode: 'replace',
    records: [rec(`/${T}/0/3`, Value.opaque(hex('00ff')))],
  },
  {
    kind: 'write',
    path: P('/3/0/7'),
    mode: 'update',
    records: [rec('/3/0/7/0', Value.integer(1)), rec('/3/0/7/4', Value.integer(2))],
  },
  {
    kind: 'write',
    path: P('/1/0'),
    mode: 'update',
    records: [rec('/1/0/1', Value.integer(60)), rec('/1/0/6', Value.boolean(true))],
    format: 11544,
  },
  {
    kind: 'write',
    path: P(`/${T}/1`),
    mode: 'replace',
    records: [rec(`/${T}/1/5`, Value.string('a b'))],
    format: 110,
  },
  { kind: 'write-attributes', path: P('/3/0/9'), attributes: { pmin: 1, gt: 50.5, lt: null } },
  { kind: 'write-attributes', path: P('/3/0'), attributes: {} },
  { kind: 'execute', path: P('/1/0/8') },
  { kind: 'execute', path: P('/5/0/2'), arguments: [{ digit: 0 }, { digit: 3, value: 'a,b=c' }] },
  {
    kind: 'create',
    path: P(`/${T}`),
    instance: { instanceId: 4, resources: [rec('/4', Value.unsigned(7))] },
  },
  {
    kind: 'create',
    path: P(`/${T}`),
    instance: { instanceId: undefined, resources: [rec('/6', Value.integer(-1))] },
  },
  { kind: 'create', path: P(`/${T}`), instance: { instanceId: undefined, resources: [] } },
  {
    kind: 'create',
    path: P(`/${T}`),
    instance: {
      instanceId: 2,
      resources: [rec('/2', Value.boolean(false)), rec('/15/3', Value.string('x'))],
    },
    format: 110,
  },
  { kind: 'delete', path: P('/3/0/7/1') },
  { kind: 'delete', path: P('/d01/3303/0') },
  { kind: 'read-composite', paths: [P('/3/0/0'), P('/1/0/1'), P('/d01/3303')] },
  { kind: 'read-composite', paths: [P('/3/0')], format: 322, accept: 11544 },
  { kind: 'read-composite', paths: [P('/3/0'), P('/4')], format: 110, accept: 110 },
  {
    kind: 'write-composite',
    records: [rec('/1/0/1', Value.integer(300)), rec('/3/0/13', Value.time(1700000000))],
  },
  { kind: 'write-composite', records: [rec('/3/0/7/1')], format: 320 },
  { kind: 'write-composite', records: [rec('/1/0/1', Value.integer(300))], format: 11544 },
  { kind: 'observe', path: P('/3/0/13') },
  {
    kind: 'observe',
    path: P('/3/0/9'),
    attributes: { pmin: 1, pmax: 10, gt: 5, edge: 1, hqmax: 3 },
    accept: 112,
  },
  { kind: 'observe-composite', paths: [P('/3/0/13'), P('/3/0/9')] },
  {
    kind: 'observe-composite',
    paths: [P('/3/0')],
    attributes: { pmin: 2, epmax: 30, con: 1 },
    format: 110,
    accept: 110,
  },
  { kind: 'cancel-observation', path: P('/3/0/13') },
  { kind: 'cancel-observation', path: P('/3/0'), accept: 112 },
  { kind: 'cancel-observation-composite', paths: [P('/3/0/13'), P('/3/0/9')] },
  { kind: 'bootstrap-finish' },
];

const BS_SAMPLES: DownlinkRequest[] = [
  {
    kind: 'bootstrap-write',
    path: P('/1/1'),
    records: [rec('/1/1/0', Value.integer(1)), rec('/1/1/1', Value.integer(300))],
  },
  { kind: 'bootstrap-write', path: P('/0/1/0'), records: [rec('/0/1/0', Value.string('coap://h'))] },
  { kind: 'bootstrap-read', path: P('/1') },
  { kind: 'bootstrap-read', path: P('/2/0'), accept: 110 },
  { kind: 'bootstrap-discover', path: P('/') },
  { kind: 'bootstrap-discover', path: P('/0') },
  { kind: 'bootstrap-delete', path: P('/') },
  { kind: 'bootstrap-delete', path: P('/0/1') },
  { kind: 'bootstrap-finish' },
];

/** The request as the client should read it: with the format and Accept the encoding chose. */
function expectedDecoding(request: DownlinkRequest, out: OutgoingRequest): unknown {
  const opts = shown(out.options);
  const cf = opts.find(([n]) => n === 12)?.[1] as ContentFormatId | undefined;
  const acc = opts.find(([n]) => n === 17)?.[1] as ContentFormatId | undefined;
  const filled: Record<string, unknown> = { ...request };
  if ('records' in request || request.kind === 'create' || 'paths' in request) filled.format ??= cf;
  if ('paths' in request) filled.accept ??= acc;
  return norm(filled);
}

describe('request round trips (encodeDownlinkRequest → decodeDownlinkRequest)', () => {
  const ctxs: [string, Partial<DownlinkContext>][] = [
    ['1.2 peer', {}],
    ['1.1 peer, ct=110', { peer: { lwm2mVersion: '1.1', contentFormats: [110] } }],
    [
      '1.0 peer under /lwm2m',
      { peer: { lwm2mVersion: '1.0', contentFormats: undefined }, alternatePath: '/lwm2m' },
    ],
    [
      '1.2 peer, ct=11544, under /a/b',
      { peer: { lwm2mVersion: '1.2', contentFormats: [11544] }, alternatePath: '/a/b' },
    ],
  ];
  for (const [label, extra] of ctxs) {
    it(`every DM/IR operation, ${label}`, () => {
      const s = serverCtx(extra);
      const c = clientCtx(extra.alternatePath === undefined ? {} : { alternatePath: extra.alternatePath });
      for (const request of DM_SAMPLES) {
        const out = encodeDownlinkRequest(request, s);
        const decoded = decodeDownlinkRequest(asRequest(out), c);
        assert.deepEqual(
          norm(decoded),
          expectedDecoding(request, out),
          `${request.kind} ${JSON.stringify(norm(request))}`,
        );
      }
    });
    it(`every Bootstrap operation, ${label}`, () => {
      const s = serverCtx(extra);
      const c = clientCtx({
        bootstrap: true,
        ...(extra.alternatePath === undefined ? {} : { alternatePath: extra.alternatePath }),
      });
      for (const request of BS_SAMPLES) {
        const out = encodeDownlinkRequest(request, s);
        const decoded = decodeDownlinkRequest(asRequest(out), c);
        assert.deepEqual(
          norm(decoded),
          expectedDecoding(request, out),
          `${request.kind} ${JSON.stringify(norm(request))}`,
        );
      }
    });
  }

  const alternatePath = fc.constantFrom(undefined, '/lwm2m', '/x/y');
  const values = { nonFinite: false };

  it('Write of an instance in every multi-value format (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65534 }).chain((iid) =>
          fc.tuple(
            fc.constant(iid),
            instanceRecordsArb(T, iid, { values }).filter((r) => r.length > 0),
          ),
        ),
        fc.constantFrom('replace' as const, 'update' as const),
        fc.constantFrom(11542, 110, 112, 11543, 11544),
        alternatePath,
        ([iid, records], mode, format, alt) => {
          const request: DownlinkRequest = {
            kind: 'write',
            path: LwM2mPath.of(T, iid),
            mode,
            records,
            format: format as ContentFormatId,
          };
          const altCtx = alt === undefined ? {} : { alternatePath: alt };
          const decoded = decodeDownlinkRequest(
            asRequest(encodeDownlinkRequest(request, serverCtx(altCtx))),
            clientCtx(altCtx),
          );
          assert.equal(decoded.kind, 'write');
          if (decoded.kind !== 'write') return;
          assert.equal(decoded.mode, mode);
          assert.equal(decoded.format, format);
          assert.ok(decoded.path.equals(request.path));
          assertSameRecords(decoded.records, records, { sort: true });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('Create in every Create format, with and without an instance id (property)', () => {
    fc.assert(
      fc.property(
        instanceRecordsArb(T, 0, { values }),
        fc.constantFrom(11542, 110, 112, 11544),
        fc.option(fc.integer({ min: 0, max: 65534 }), { nil: undefined }),
        alternatePath,
        (records, format, id, alt) => {
          const instanceId = id === undefined && (format === 110 || format === 112) ? 1 : id;
          const resources = records.map((r) => ({ ...r, path: new LwM2mPath(r.path.ids.slice(2)) }));
          const request: DownlinkRequest = {
            kind: 'create',
            path: LwM2mPath.of(T),
            instance: { instanceId, resources },
            format: format as ContentFormatId,
          };
          const altCtx = alt === undefined ? {} : { alternatePath: alt };
          const decoded = decodeDownlinkRequest(
            asRequest(encodeDownlinkRequest(request, serverCtx(altCtx))),
            clientCtx(altCtx),
          );
          assert.equal(decoded.kind, 'create');
          if (decoded.kind !== 'create') return;
          assert.equal(decoded.instance.instanceId, instanceId);
          assertSameRecords(decoded.instance.resources, resources, { sort: true });
        },
      ),
      { numRuns: 120 },
    );
  });

  it('Read-Composite and Observe-Composite path lists in every path-list format (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...ALL_PATHS), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(110, 112, 320, 322),
        fc.constantFrom(
          'read-composite' as const,
          'observe-composite' as const,
          'cancel-observation-composite' as const,
        ),
        alternatePath,
        (texts, format, kind, alt) => {
          const paths = texts.map(P);
          const request = { kind, paths, format: format as ContentFormatId, accept: 112 as const };
          const altCtx = alt === undefined ? {} : { alternatePath: alt };
          const decoded = decodeDownlinkRequest(
            asRequest(encodeDownlinkRequest(request, serverCtx(altCtx))),
            clientCtx(altCtx),
          );
          assert.deepEqual(norm(decoded), norm(request));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('Write-Composite in every Write-Composite format (property)', () => {
    fc.assert(
      fc.property(
        valuedRecordsArb({ objects: [T, 3, 1], values }).filter((r) => r.length > 0),
        fc.constantFrom(110, 112, 320, 322, 11544),
        alternatePath,
        (records, format, alt) => {
          const request: DownlinkRequest = {
            kind: 'write-composite',
            records,
            format: format as ContentFormatId,
          };
          const altCtx = alt === undefined ? {} : { alternatePath: alt };
          const decoded = decodeDownlinkRequest(
            asRequest(encodeDownlinkRequest(request, serverCtx(altCtx))),
            clientCtx(altCtx),
          );
          assert.equal(decoded.kind, 'write-composite');
          if (decoded.kind !== 'write-composite') return;
          assert.equal(decoded.format, format);
          assertSameRecords(decoded.records, records, { sort: true });
        },
      ),
      { numRuns: 120 },
    );
  });

  it('observation attributes (property)', () => {
    const attr = fc.option(fc.integer({ min: 0, max: 100000 }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({
          pmin: attr,
          pmax: attr,
          epmin: attr,
          epmax: attr,
          hqmax: attr,
          con: fc.option(fc.constantFrom(0, 1), { nil: undefined }),
        }),
        (raw) => {
          const attributes = Object.fromEntries(
            Object.entries(raw).filter(([, v]) => v !== undefined),
          ) as NotificationAttributes;
          const request: DownlinkRequest = { kind: 'observe', path: P('/3/0/13'), attributes };
          const decoded = decodeDownlinkRequest(
            asRequest(encodeDownlinkRequest(request, serverCtx())),
            clientCtx(),
          );
          const expected =
            Object.keys(attributes).length === 0 ? { kind: 'observe', path: request.path } : request;
          assert.deepEqual(norm(decoded), norm(expected));
        },
      ),
    );
  });
});

// ---- round trips: client answers, server decodes ----

function answer(
  request: DownlinkRequest,
  response: DownlinkResponse,
  c: ClientDownlinkContext = clientCtx(),
  s: DownlinkContext = serverCtx(),
): { wire: CoapResponse; decoded: DownlinkResponse } {
  const wire = encodeDownlinkResponse(response, request, c);
  return { wire, decoded: decodeDownlinkResponse(asResponse(wire), request, s) };
}

describe('response round trips (encodeDownlinkResponse → decodeDownlinkResponse)', () => {
  it('Read: the chosen or asked format, values back', () => {
    const single = answer(
      { kind: 'read', path: P('/3/0/0') },
      { code: '2.05', records: [rec('/3/0/0', Value.string('client'))] },
    );
    assert.equal(single.wire.code, CoapCode.CONTENT);
    assert.deepEqual(shown(single.wire.options), [[12, 0]]);
    assert.equal(text(single.wire.payload), 'client');
    assert.deepEqual(
      norm(single.decoded),
      norm({ code: '2.05', format: 0, records: [rec('/3/0/0', Value.string('client'))] }),
    );

    for (const accept of [0, 60, 110, 112, 11542, 11543, 11544] as const) {
      const request: DownlinkRequest = { kind: 'read', path: P('/3/0/9'), accept };
      const { wire, decoded } = answer(request, {
        code: '2.05',
        records: [rec('/3/0/9', Value.integer(87))],
      });
      assert.deepEqual(shown(wire.options), [[12, accept]], `accept ${accept}`);
      assert.deepEqual(
        norm(decoded),
        norm({ code: '2.05', format: accept, records: [rec('/3/0/9', Value.integer(87))] }),
      );
    }
    const object = answer({ kind: 'read', path: P('/3') }, { code: '2.05', records: [] });
    assert.deepEqual(norm(object.decoded), { code: '2.05', format: 112, records: [] });
  });

  it('Read of an instance in every multi-value format (property)', () => {
    fc.assert(
      fc.property(
        instanceRecordsArb(T, 3, { values: { nonFinite: false } }),
        fc.constantFrom(11542, 110, 112, 11543, 11544),
        (records, format) => {
          const request: DownlinkRequest = { kind: 'read', path: P(`/${T}/3`) };
          const { decoded } = answer(request, { code: '2.05', format, records });
          assert.equal(decoded.code, '2.05');
          assertSameRecords(decoded.records ?? [], records, { sort: true });
        },
      ),
      { numRuns: 120 },
    );
  });

  it('Discover and Bootstrap-Discover: link-format, targets under the alternate path on the wire only', () => {
    const links = [
      { target: '/3', params: [] },
      { target: '/3/0/7', params: [{ name: 'dim', value: 2 }] },
      {
        target: '/3/0/9',
        params: [
          { name: 'pmin', value: 1 },
          { name: 'gt', value: 50.5 },
        ],
      },
    ];
    const request: DownlinkRequest = { kind: 'discover', path: P('/3') };
    const { wire, decoded } = answer(
      request,
      { code: '2.05', links },
      clientCtx({ alternatePath: '/lwm2m' }),
      serverCtx({ alternatePath: '/lwm2m' }),
    );
    assert.deepEqual(shown(wire.options), [[12, 40]]);
    assert.equal(text(wire.payload), '</lwm2m/3>,</lwm2m/3/0/7>;dim=2,</lwm2m/3/0/9>;pmin=1;gt=50.5');
    assert.deepEqual(decoded, { code: '2.05', format: 40, links });

    const bsLinks = [
      { target: '/', params: [{ name: 'lwm2m', value: '1.2' }] },
      {
        target: '/0/1',
        params: [
          { name: 'ssid', value: 1 },
          { name: 'uri', value: 'coap://h' },
        ],
      },
    ];
    const bs = answer(
      { kind: 'bootstrap-discover', path: P('/') },
      { code: '2.05', links: bsLinks },
      clientCtx({ bootstrap: true, alternatePath: '/lwm2m' }),
      serverCtx({ alternatePath: '/lwm2m' }),
    );
    assert.equal(text(bs.wire.payload), '</>;lwm2m=1.2,</0/1>;ssid=1;uri="coap://h"');
    assert.deepEqual(bs.decoded, { code: '2.05', format: 40, links: bsLinks });
  });

  it('Create: Location-Path under the alternate path, the instance back', () => {
    const request: DownlinkRequest = {
      kind: 'create',
      path: P('/33605'),
      instance: { instanceId: undefined, resources: [] },
    };
    const { wire, decoded } = answer(
      request,
      { code: '2.01', location: P('/33605/5') },
      clientCtx({ alternatePath: '/lwm2m' }),
      serverCtx({ alternatePath: '/lwm2m' }),
    );
    assert.equal(wire.code, CoapCode.CREATED);
    assert.deepEqual(shown(wire.options), [
      [8, 'lwm2m'],
      [8, '33605'],
      [8, '5'],
    ]);
    assert.deepEqual(norm(decoded), { code: '2.01', location: 'path:/33605/5' });
    const gw = answer(
      { kind: 'create', path: P('/d01/3303'), instance: { instanceId: 1, resources: [] } },
      { code: '2.01', location: P('/d01/3303/1') },
    );
    assert.deepEqual(shown(gw.wire.options), [
      [8, 'd01'],
      [8, '3303'],
      [8, '1'],
    ]);
    assert.deepEqual(norm(gw.decoded), { code: '2.01', location: 'path:/d01/3303/1' });
  });

  it('codes without values, and diagnostics on errors', () => {
    const cases: [DownlinkRequest, DownlinkResponse][] = [
      [DM_SAMPLES.find((r) => r.kind === 'write')!, { code: '2.04' }],
      [{ kind: 'execute', path: P('/1/0/8') }, { code: '2.04' }],
      [{ kind: 'delete', path: P('/3/0/7/1') }, { code: '2.02' }],
      [{ kind: 'write-attributes', path: P('/3/0/9'), attributes: { pmin: 1 } }, { code: '2.04' }],
      [{ kind: 'write-composite', records: [] }, { code: '2.04' }],
      [{ kind: 'bootstrap-finish' }, { code: '2.04' }],
      [{ kind: 'bootstrap-delete', path: P('/') }, { code: '2.02' }],
      [{ kind: 'read', path: P('/3/1') }, { code: '4.04' }],
      [
        { kind: 'read', path: P('/3/0/0'), accept: 42 },
        { code: '4.06', diagnostic: 'no opaque form' },
      ],
      [{ kind: 'bootstrap-finish' }, { code: '4.06', diagnostic: 'inconsistent configuration' }],
      [{ kind: 'execute', path: P('/1/0/8') }, { code: '5.00' }],
    ];
    for (const [request, response] of cases) {
      const { wire, decoded } = answer(request, response);
      assert.equal(wire.options, undefined);
      assert.deepEqual(decoded, response, `${request.kind} ${response.code}`);
    }
  });

  it('composites, observations and Bootstrap-Read: values at the right path', () => {
    const records = [rec('/3/0/0', Value.string('client')), rec('/1/0/1', Value.integer(300))];
    for (const request of [
      { kind: 'read-composite', paths: [P('/3/0/0'), P('/1/0/1')] },
      { kind: 'observe-composite', paths: [P('/3/0/0'), P('/1/0/1')], accept: 11544 },
      { kind: 'cancel-observation-composite', paths: [P('/3/0/0'), P('/1/0/1')], accept: 110 },
    ] as DownlinkRequest[]) {
      const { decoded } = answer(request, { code: '2.05', records });
      assert.deepEqual(plain(decoded.records!), plain(records), request.kind);
    }
    const inst = [rec('/1/0/0', Value.integer(1)), rec('/1/0/1', Value.integer(300))];
    for (const request of [
      { kind: 'observe', path: P('/1/0') },
      { kind: 'cancel-observation', path: P('/1/0') },
      { kind: 'bootstrap-read', path: P('/1'), accept: 11542 },
    ] as DownlinkRequest[]) {
      const { decoded } = answer(request, { code: '2.05', records: inst });
      assert.deepEqual(plain(decoded.records!), plain(inst), request.kind);
    }
  });

  it('refuses values the answer format cannot carry (4.06)', () => {
    assert.throws(
      () =>
        encodeDownlinkResponse(
          { code: '2.05', records: [rec('/3/0/0', Value.string('x'))] },
          { kind: 'read', path: P('/3/0/0'), accept: 42 },
          clientCtx(),
        ),
      (e: unknown) => e instanceof OperationError && e.resultCode === '4.06',
    );
  });

  it('notifications: sequence from Observe, CON or NON', () => {
    const request = { kind: 'observe' as const, path: P('/3/0/13') };
    const wire = encodeNotification(
      { code: '2.05', records: [rec('/3/0/13', Value.time(1795611898))] },
      request,
      clientCtx(),
    );
    const non = decodeNotification(asResponse(wire, 'NON', 12), request, serverCtx());
    assert.deepEqual(
      norm(non),
      norm({
        sequence: 12,
        code: '2.05',
        confirmable: false,
        format: 0,
        records: [rec('/3/0/13', Value.time(1795611898))],
      }),
    );
    const con = decodeNotification(asResponse(wire, 'CON', 13), request, serverCtx());
    assert.equal(con.confirmable, true);
    assert.equal(con.sequence, 13);
    const composite = { kind: 'observe-composite' as const, paths: [P('/3/0/13'), P('/3/0/9')] };
    const records = [rec('/3/0/13', Value.time(5)), rec('/3/0/9', Value.integer(80))];
    const cw = encodeNotification({ code: '2.05', records }, composite, clientCtx());
    const cn = decodeNotification(asResponse(cw, 'NON', 2), composite, serverCtx());
    assert.deepEqual(plain(cn.records!), plain(records));
    assert.equal(cn.format, 112);
    const gone = decodeNotification(asResponse({ code: CoapCode.NOT_FOUND }, 'CON'), request, serverCtx());
    assert.deepEqual(gone, { sequence: undefined, code: '4.04', confirmable: true });
  });
});

// ---- decoding faults ----

function response(
  code: number,
  options: [number, number | string][] = [],
  payload: Uint8Array = EMPTY,
): CoapMessage {
  return {
    type: 'ACK',
    code,
    messageId: 1,
    token: EMPTY,
    options: options.map(([number, v]) => ({
      number,
      value: typeof v === 'number' ? encodeUint(v) : utf8(v),
    })),
    payload,
  };
}

function assertDecodeError(
  fn: () => unknown,
  reason: string,
  check?: (e: DownlinkDecodeError) => void,
): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DownlinkDecodeError, String(e));
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.code, 'PETREL_ERR_DOWNLINK_DECODE');
    check?.(e);
    return true;
  });
}

describe('decodeDownlinkResponse faults and choices', () => {
  const s = serverCtx();
  const read = (path: string): DownlinkRequest => ({ kind: 'read', path: P(path) });

  it('an undecodable 2.05 is an error with the cause, never garbage', () => {
    assertDecodeError(
      () => decodeDownlinkResponse(response(CoapCode.CONTENT, [[12, 112]], hex('a1ff')), read('/3/0'), s),
      'undecodable-payload',
      (e) => {
        assert.ok(e.cause instanceof ContentFormatError);
        assert.equal(e.responseCode, '2.05');
        assert.equal(e.format, 112);
      },
    );
    assertDecodeError(
      () => decodeDownlinkResponse(response(CoapCode.CONTENT, [[12, 9999]], hex('00')), read('/3/0'), s),
      'undecodable-payload',
    );
    assertDecodeError(
      () =>
        decodeDownlinkResponse(
          response(CoapCode.CONTENT, [[12, 0]], utf8('</3>')),
          { kind: 'discover', path: P('/3') },
          s,
        ),
      'undecodable-payload',
    );
    assertDecodeError(
      () =>
        decodeDownlinkResponse(
          response(CoapCode.CONTENT, [[12, 40]], utf8('</3>;x="')),
          { kind: 'discover', path: P('/3') },
          s,
        ),
      'undecodable-payload',
    );
  });

  it('a payload without Content-Format: text for one resource, refused elsewhere', () => {
    const r = decodeDownlinkResponse(response(CoapCode.CONTENT, [], utf8('42')), read('/3/0/9'), s);
    assert.deepEqual(norm(r), norm({ code: '2.05', records: [rec('/3/0/9', Value.integer(42))] }));
    assertDecodeError(
      () => decodeDownlinkResponse(response(CoapCode.CONTENT, [], utf8('42')), read('/3/0'), s),
      'missing-format',
    );
  });

  it('an empty 2.05 is no values; a link answer without Content-Format is still links', () => {
    assert.deepEqual(decodeDownlinkResponse(response(CoapCode.CONTENT, [[12, 11542]]), read('/3'), s), {
      code: '2.05',
      format: 11542,
      records: [],
    });
    assert.deepEqual(decodeDownlinkResponse(response(CoapCode.CONTENT), read('/3'), s), {
      code: '2.05',
      records: [],
    });
    const links = decodeDownlinkResponse(
      response(CoapCode.CONTENT, [], utf8('</3>,</3/0>')),
      { kind: 'discover', path: P('/3') },
      s,
    );
    assert.deepEqual(
      links.links?.map((l) => l.target),
      ['/3', '/3/0'],
    );
  });

  it('the 1.0 Bootstrap-Discover form without a root target', () => {
    const r = decodeDownlinkResponse(
      response(CoapCode.CONTENT, [[12, 40]], utf8('lwm2m="1.0",</0/0>')),
      { kind: 'bootstrap-discover', path: P('/') },
      s,
    );
    assert.deepEqual(r.links, [
      { target: '/', params: [{ name: 'lwm2m', value: '1.0' }] },
      { target: '/0/0', params: [] },
    ]);
  });

  it('Create: location from the request when the client sent none; a bad Location is an error', () => {
    const create = (instanceId: number | undefined): DownlinkRequest => ({
      kind: 'create',
      path: P('/33605'),
      instance: { instanceId, resources: [] },
    });
    assert.deepEqual(norm(decodeDownlinkResponse(response(CoapCode.CREATED), create(3), s)), {
      code: '2.01',
      location: 'path:/33605/3',
    });
    assert.deepEqual(decodeDownlinkResponse(response(CoapCode.CREATED), create(undefined), s), {
      code: '2.01',
    });
    for (const location of [
      ['rd', '5'],
      ['33605', '5', '1'],
      ['3303', '5'],
      ['33605', 'x'],
    ]) {
      assertDecodeError(
        () =>
          decodeDownlinkResponse(
            response(
              CoapCode.CREATED,
              location.map((l) => [8, l]),
            ),
            create(undefined),
            s,
          ),
        'bad-location',
      );
    }
    // Without the alternate path on the location: still understood.
    const altCtx = serverCtx({ alternatePath: '/lwm2m' });
    assert.deepEqual(
      norm(
        decodeDownlinkResponse(
          response(CoapCode.CREATED, [
            [8, '33605'],
            [8, '2'],
          ]),
          create(undefined),
          altCtx,
        ),
      ),
      {
        code: '2.01',
        location: 'path:/33605/2',
      },
    );
  });

  it('an empty message or a request is not a response; binary error payloads are no diagnostic', () => {
    assertDecodeError(() => decodeDownlinkResponse(response(0), read('/3'), s), 'not-a-response');
    assertDecodeError(() => decodeDownlinkResponse(response(CoapCode.GET), read('/3'), s), 'not-a-response');
    assertDecodeError(
      () => decodeNotification(response(0), { kind: 'observe', path: P('/3') }, s),
      'not-a-response',
    );
    assert.deepEqual(
      decodeDownlinkResponse(response(CoapCode.BAD_REQUEST, [], hex('00ff01')), read('/3'), s),
      { code: '4.00' },
    );
    assert.deepEqual(
      decodeDownlinkResponse(response(CoapCode.BAD_REQUEST, [], utf8('bad\u0007')), read('/3'), s),
      { code: '4.00' },
    );
  });
});

function request(
  code: number,
  options: [number, number | string][] = [],
  payload: Uint8Array = EMPTY,
): CoapMessage {
  return { ...response(code, options, payload), type: 'CON' };
}

function assertOperationError(fn: () => unknown, reason: string, resultCode: string, label = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `${label}: ${String(e)}`);
    assert.equal(e.reason, reason, `${label}: ${e.message}`);
    assert.equal(e.resultCode, resultCode, `${label}: ${e.message}`);
    return true;
  });
}

describe('decodeDownlinkRequest faults and choices', () => {
  const c = clientCtx();
  const path = (...segs: string[]): [number, string][] => segs.map((s) => [11, s]);

  it('answers each fault with the code the client sends', () => {
    const cases: [string, CoapMessage, string, string, ClientDownlinkContext?][] = [
      ['non-numeric id', request(CoapCode.GET, path('3', 'x')), 'bad-path', '4.05'],
      ['too deep', request(CoapCode.GET, path('3', '0', '7', '1', '2')), 'bad-path', '4.05'],
      ['reserved id', request(CoapCode.GET, path('3', '65535')), 'bad-path', '4.05'],
      ['leading zero', request(CoapCode.GET, path('3', '01')), 'bad-path', '4.05'],
      ['slash in a segment', request(CoapCode.GET, path('3/0')), 'bad-path', '4.05'],
      [
        'outside the alternate path',
        request(CoapCode.GET, path('3', '0')),
        'bad-path',
        '4.04',
        clientCtx({ alternatePath: '/lwm2m' }),
      ],
      ['POST on a resource instance', request(CoapCode.POST, path('3', '0', '7', '1')), 'bad-path', '4.05'],
      ['POST on the root', request(CoapCode.POST), 'bad-path', '4.05'],
      ['PATCH', request(CoapCode.PATCH, path('3', '0')), 'bad-path', '4.05'],
      [
        'FETCH below the root',
        request(CoapCode.FETCH, [...path('3'), [12, 110]], utf8('[]')),
        'bad-path',
        '4.05',
      ],
      [
        'iPATCH below the root',
        request(CoapCode.IPATCH, [...path('3'), [12, 110]], utf8('[]')),
        'bad-path',
        '4.05',
      ],
      [
        'POST in bootstrap',
        request(CoapCode.POST, path('1', '0')),
        'bad-path',
        '4.05',
        clientCtx({ bootstrap: true }),
      ],
      [
        'unknown Content-Format',
        request(CoapCode.PUT, [...path('1', '0', '1'), [12, 9999]], utf8('1')),
        'unsupported-format',
        '4.15',
      ],
      [
        'link-format write',
        request(CoapCode.PUT, [...path('1', '0', '1'), [12, 40]], utf8('</1>')),
        'unsupported-format',
        '4.15',
      ],
      ['TLV path list', request(CoapCode.FETCH, [[12, 11542]], hex('c10100')), 'unsupported-format', '4.15'],
      [
        'TLV Write-Composite',
        request(CoapCode.IPATCH, [[12, 11542]], hex('c10100')),
        'unsupported-format',
        '4.15',
      ],
      [
        'unknown Accept',
        request(CoapCode.GET, [...path('3', '0'), [17, 9999]]),
        'unsupported-format',
        '4.06',
      ],
      ['bad TLV', request(CoapCode.PUT, [...path('1', '0'), [12, 11542]], hex('c8')), 'bad-payload', '4.00'],
      [
        'text on an instance',
        request(CoapCode.PUT, [...path('1', '0'), [12, 0]], utf8('1')),
        'bad-payload',
        '4.00',
      ],
      [
        'PUT payload without Content-Format',
        request(CoapCode.PUT, path('1', '0', '1'), utf8('300')),
        'bad-payload',
        '4.00',
      ],
      [
        'POST update without Content-Format',
        request(CoapCode.POST, path('1', '0'), utf8('300')),
        'bad-payload',
        '4.00',
      ],
      [
        'Create without Content-Format',
        request(CoapCode.POST, path('1'), hex('0000')),
        'bad-payload',
        '4.00',
      ],
      [
        'Create of two instances',
        request(CoapCode.POST, [...path(String(T)), [12, 11542]], hex('00010002')),
        'bad-payload',
        '4.00',
      ],
      [
        'values in a path list',
        request(CoapCode.FETCH, [[12, 110]], utf8('[{"n":"/3/0/0","vs":"x"}]')),
        'bad-payload',
        '4.00',
      ],
      [
        'bad Execute arguments',
        request(CoapCode.POST, path('1', '0', '8'), utf8('1,1')),
        'bad-arguments',
        '4.00',
      ],
      [
        'unknown attribute',
        request(CoapCode.PUT, [...path('3', '0', '9'), [15, 'foo=1']]),
        'bad-attributes',
        '4.00',
      ],
      [
        'bad attribute value',
        request(CoapCode.PUT, [...path('3', '0', '9'), [15, 'pmin=-1']]),
        'bad-attributes',
        '4.00',
      ],
      [
        'value-less observation attribute',
        request(CoapCode.GET, [[6, 0], ...path('3', '0', '9'), [15, 'pmin']]),
        'bad-attributes',
        '4.00',
      ],
      [
        'gt on Observe-Composite',
        request(
          CoapCode.FETCH,
          [
            [6, 0],
            [12, 110],
            [15, 'gt=1'],
          ],
          utf8('[{"n":"/3/0/9"}]'),
        ),
        'bad-attributes',
        '4.00',
      ],
      ['Observe=2', request(CoapCode.GET, [[6, 2], ...path('3', '0', '9')]), 'bad-parameter', '4.00'],
      ['depth=4', request(CoapCode.GET, [...path('3'), [15, 'depth=4'], [17, 40]]), 'bad-parameter', '4.00'],
      [
        'Discover with pmin',
        request(CoapCode.GET, [...path('3'), [15, 'pmin=1'], [17, 40]]),
        'bad-parameter',
        '4.00',
      ],
    ];
    for (const [label, message, reason, code, ctx] of cases)
      assertOperationError(() => decodeDownlinkRequest(message, ctx ?? c), reason, code, label);
  });

  it('POST on a resource: Execute unless the Content-Format says Partial Update', () => {
    assert.deepEqual(norm(decodeDownlinkRequest(request(CoapCode.POST, path('1', '0', '8')), c)), {
      kind: 'execute',
      path: 'path:/1/0/8',
    });
    assert.deepEqual(
      norm(
        decodeDownlinkRequest(request(CoapCode.POST, [...path('5', '0', '2'), [12, 0]], utf8("3='x'")), c),
      ),
      {
        kind: 'execute',
        path: 'path:/5/0/2',
        arguments: [{ digit: 3, value: 'x' }],
      },
    );
    // The Registration Update Trigger's query form (Transport TS).
    assert.deepEqual(
      norm(decodeDownlinkRequest(request(CoapCode.POST, [...path('1', '0', '8'), [15, '0=U']]), c)),
      {
        kind: 'execute',
        path: 'path:/1/0/8',
        arguments: [{ digit: 0, value: 'U' }],
      },
    );
    const update = decodeDownlinkRequest(
      request(CoapCode.POST, [...path('3', '0', '7'), [12, 110]], utf8('[{"n":"/3/0/7/2","v":5}]')),
      c,
    );
    assert.deepEqual(
      norm(update),
      norm({
        kind: 'write',
        path: P('/3/0/7'),
        mode: 'update',
        format: 110,
        records: [rec('/3/0/7/2', Value.integer(5))],
      }),
    );
  });

  it('PUT without Content-Format and payload is Write-Attributes; the alternate path is stripped', () => {
    const alt = clientCtx({ alternatePath: '/lwm2m' });
    assert.deepEqual(norm(decodeDownlinkRequest(request(CoapCode.PUT, path('lwm2m', '3', '0')), alt)), {
      kind: 'write-attributes',
      path: 'path:/3/0',
      attributes: {},
    });
    assert.deepEqual(norm(decodeDownlinkRequest(request(CoapCode.GET, path('lwm2m')), alt)), {
      kind: 'read',
      path: 'path:/',
    });
    assert.deepEqual(norm(decodeDownlinkRequest(request(CoapCode.POST, path('bs')), alt)), {
      kind: 'bootstrap-finish',
    });
  });
});

// ---- the real captures ----

/** The operation a capture line's `note` names. */
function kindOfNote(note: string): DownlinkRequest['kind'] {
  const rules: [RegExp, DownlinkRequest['kind']][] = [
    [/^Bootstrap-Delete/, 'bootstrap-delete'],
    [/^Bootstrap-Write/, 'bootstrap-write'],
    [/^Bootstrap-Discover/, 'bootstrap-discover'],
    [/^Bootstrap-Read/, 'bootstrap-read'],
    [/^Bootstrap-Finish/, 'bootstrap-finish'],
    [/^Read-Composite/, 'read-composite'],
    [/^Observe-Composite.* - can/, 'cancel-observation-composite'],
    [/^Observe-Composite/, 'observe-composite'],
    [/^Write-Composite/, 'write-composite'],
    [/^Write-Attributes/, 'write-attributes'],
    [/^Write \(/, 'write'],
    [/^Observe.* - cancel/, 'cancel-observation'],
    [/^Observe/, 'observe'],
    [/^Read/, 'read'],
    [/^Discover/, 'discover'],
    [/^Execute/, 'execute'],
    [/^Create/, 'create'],
    [/^Delete/, 'delete'],
  ];
  const hit = rules.find(([re]) => re.test(note));
  assert.ok(hit, `no operation for note "${note}"`);
  return hit[1];
}

const uriPathOf = (line: CaptureLine): string =>
  '/' +
  (line.options ?? [])
    .filter((o) => o.number === 11)
    .map((o) => String(o.value))
    .join('/');
const locationOf = (line: CaptureLine): string =>
  '/' +
  (line.options ?? [])
    .filter((o) => o.number === 8)
    .map((o) => String(o.value))
    .join('/');
const acceptOf = (line: CaptureLine): number | undefined =>
  (line.options ?? []).find((o) => o.number === 17)?.value as number | undefined;

interface Exchange {
  line: CaptureLine;
  requestLine: CaptureLine;
  request: DownlinkRequest;
  response: DownlinkResponse;
}

/** Every downlink of a capture file decoded as the client reads it, and every answer as the server reads it. */
let registry: { dir: string; model: ReturnType<typeof createDefaultRegistry> } | undefined;
function replay(shared: string, file: string) {
  if (registry?.dir !== shared) {
    const model = createDefaultRegistry();
    model.loadDirectory(join(shared, 'lwm2m-registry'));
    registry = { dir: shared, model };
  }
  const model = registry.model;
  const lines = readCapture(shared, file);
  const register = lines.find((l) => l.dir === 'client->server' && l.summary.includes('/rd?'));
  const version = /lwm2m=([0-9.]+)/.exec(register?.summary ?? '')?.[1] ?? '1.0';
  const ct = /ct=([0-9]+)/.exec(register?.payloadText ?? '');
  const s = serverCtx({
    model,
    peer: { lwm2mVersion: version, contentFormats: ct ? [Number(ct[1])] : undefined },
  });
  const pending = new Map<string, { line: CaptureLine; request: DownlinkRequest }>();
  const exchanges: Exchange[] = [];
  const notifications: {
    line: CaptureLine;
    sequence: number | undefined;
    confirmable: boolean;
    records: number;
  }[] = [];
  let requests = 0;
  let emptyAcks = 0;
  for (const line of lines) {
    const message = decodeCoapUdp(Uint8Array.from(Buffer.from(line.hex, 'hex')));
    const where = `${file} #${line.seq} (${line.summary})`;
    if (
      line.dir === 'server->client' &&
      line.code !== null &&
      line.code.startsWith('0.') &&
      line.code !== '0.00'
    ) {
      const bootstrap = line.peer === 'bootstrap-server';
      const request = decodeDownlinkRequest(message, clientCtx({ model, bootstrap }));
      assert.equal(request.kind, kindOfNote(line.note ?? ''), where);
      if ('path' in request) assert.equal(request.path.toString(), uriPathOf(line), where);
      if ('accept' in request) assert.equal(request.accept, acceptOf(line), where);
      pending.set(line.token ?? '', { line, request });
      requests++;
      continue;
    }
    if (line.dir !== 'client->server' || line.code === null || line.code.startsWith('0.')) {
      if (line.dir === 'client->server' && line.code === '0.00' && line.type === 'ACK') {
        emptyAcks++;
        const request = [...pending.values()].at(-1)!.request;
        assertDecodeError(() => decodeDownlinkResponse(message, request, s), 'not-a-response');
      }
      continue;
    }
    const sent = pending.get(line.token ?? '');
    if (!sent) continue; // an answer to an uplink
    const { request } = sent;
    if ((request.kind === 'observe' || request.kind === 'observe-composite') && line.type !== 'ACK') {
      const n = decodeNotification(message, request, s);
      assert.equal(n.code, line.code, where);
      notifications.push({
        line,
        sequence: n.sequence,
        confirmable: n.confirmable,
        records: n.records?.length ?? 0,
      });
      continue;
    }
    const response = decodeDownlinkResponse(message, request, s);
    assert.equal(response.code, line.code, where);
    assert.equal(response.format, line.contentFormat ?? undefined, where);
    if (request.kind === 'create' && line.code === '2.01')
      assert.equal(response.location?.toString(), locationOf(line), where);
    exchanges.push({ line, requestLine: sent.line, request, response });
  }
  return { exchanges, notifications, requests, emptyAcks, lines };
}

const STABLE = [
  '/3/0/0',
  '/3/0/1',
  '/3/0/2',
  '/3/0/3',
  '/3/0/16',
  '/1/1/0',
  '/1/1/7',
  '/1/0/0',
  '/1/0/7',
  '/1/1/1',
  '/1/0/1',
];

describe('real captures', () => {
  for (const file of CAPTURE_FILES) {
    it(`every downlink of ${file} decodes to its operation, every answer to its code`, (t) => {
      const shared = requireShared(t);
      if (!shared) return;
      const { exchanges, requests, lines } = replay(shared, file);
      const downlinks = lines.filter(
        (l) => l.dir === 'server->client' && /^0\.0[1-7]$/.test(l.code ?? ''),
      ).length;
      assert.equal(requests, downlinks);
      assert.ok(requests > 0);
      // Every downlink that got an answer was matched with it.
      const answered = lines.filter(
        (l) => l.dir === 'client->server' && l.type === 'ACK' && l.code !== '0.00',
      ).length;
      assert.equal(exchanges.length, answered);
      for (const { line, request, response } of exchanges) {
        const where = `${file} #${line.seq}`;
        if (response.code !== '2.05') continue;
        if (request.kind === 'discover' || request.kind === 'bootstrap-discover') {
          assert.ok(response.links && response.links.length > 0, where);
          const targets = [...(line.payloadText ?? '').matchAll(/<([^>]*)>/g)].map((m) => m[1]);
          assert.deepEqual(
            response.links.map((l) => l.target),
            targets,
            where,
          );
        } else if (!('paths' in request && request.paths.some((p) => p.toString() === '/1/9/1'))) {
          assert.ok(response.records && response.records.length > 0, `${where}: no records`);
        }
      }
    });
  }

  it('client A: the same Read in every format agrees; Discover depths; Create locations; 4.04', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const { exchanges, notifications } = replay(shared, 'lwm2m-1.2-client-udp.jsonl');
    const reads = exchanges.filter((e) => e.request.kind === 'read' && e.response.code === '2.05');
    const byPath = new Map<string, Exchange[]>();
    for (const e of reads) {
      const key = (e.request as { path: LwM2mPath }).path.toString();
      byPath.set(key, [...(byPath.get(key) ?? []), e]);
    }
    const formats = (byPath.get('/3/0') ?? []).map((e) => e.response.format);
    assert.deepEqual([...new Set(formats)].sort(), [110, 112, 11542, 11543, 11544]);
    let compared = 0;
    for (const [target, list] of byPath) {
      const [first, ...rest] = list.map((e) => ({
        format: e.response.format,
        recs: new Map(plain(e.response.records!).map((r) => [(r as { path: string }).path, r])),
      }));
      for (const other of rest) {
        assert.deepEqual(
          [...other.recs.keys()].sort(),
          [...first!.recs.keys()].sort(),
          `${target}: ${other.format} vs ${first!.format}`,
        );
        for (const key of STABLE)
          if (first!.recs.has(key))
            assert.deepEqual(
              other.recs.get(key),
              first!.recs.get(key),
              `${target} ${key} in ${other.format}`,
            );
        compared++;
      }
    }
    assert.ok(compared >= 30, `${compared} comparisons`);
    // /3/0/0 is a string in every format.
    for (const e of byPath.get('/3/0/0')!)
      assert.deepEqual(plain(e.response.records!), [{ path: '/3/0/0', type: 'string', value: 'client' }]);

    const discovers = exchanges.filter(
      (e) => e.request.kind === 'discover' && uriPathOf(e.requestLine) === '/3',
    );
    const targets = (depth: number | undefined) =>
      discovers
        .find((e) => (e.request as { depth?: number }).depth === depth)!
        .response.links!.map((l) => l.target);
    assert.deepEqual(targets(0), ['/3']);
    assert.deepEqual(targets(1), ['/3', '/3/0']);
    assert.deepEqual(targets(2), targets(undefined));
    assert.ok(targets(3).includes('/3/0/7/0') && !targets(2).includes('/3/0/7/0'));
    assert.ok(targets(3).length > targets(2).length);
    const dim = exchanges.find(
      (e) => e.request.kind === 'discover' && uriPathOf(e.requestLine) === '/3/0/7',
    )!;
    assert.deepEqual(dim.response.links![0], { target: '/3/0/7', params: [{ name: 'dim', value: 1 }] });
    const attrs = exchanges.find(
      (e) => e.request.kind === 'discover' && uriPathOf(e.requestLine) === '/3/0/9',
    )!;
    assert.deepEqual(attrs.response.links![0]!.params, [
      { name: 'pmin', value: 1 },
      { name: 'pmax', value: 5 },
      { name: 'gt', value: 50 },
    ]);

    const creates = exchanges.filter((e) => e.request.kind === 'create');
    assert.deepEqual(
      creates.map((e) => [e.response.code, e.response.location?.toString()]),
      [
        ['4.05', undefined],
        ['2.01', '/33605/5'],
        ['2.01', '/33605/6'],
        ['2.01', '/33605/0'],
      ],
    );
    assert.deepEqual(
      creates.map((e) => (e.request.kind === 'create' ? e.request.instance.instanceId : null)),
      [7, 5, 6, undefined],
    );
    const missing = exchanges.find((e) => uriPathOf(e.requestLine) === '/3/1')!;
    assert.deepEqual(missing.response, { code: '4.04' });
    for (const e of exchanges.filter((x) => x.line.code === '4.06'))
      assert.equal(e.response.records, undefined);

    // Writes of the lifetime, in five formats: all decode to /1/1/1 = 300 on the client side.
    const writes = exchanges.filter(
      (e) => e.request.kind === 'write' || e.request.kind === 'write-composite',
    );
    assert.equal(writes.length, 7);
    for (const e of writes) {
      const records = 'records' in e.request ? e.request.records : [];
      assert.deepEqual(
        plain(records),
        [{ path: '/1/1/1', type: 'integer', value: '300' }],
        `#${e.requestLine.seq}`,
      );
    }

    const composite = exchanges.filter((e) => e.request.kind === 'read-composite');
    assert.equal(composite.length, 4);
    for (const e of composite.slice(0, 3))
      assert.deepEqual(
        plain(e.response.records!).map((r) => (r as { path: string }).path),
        ['/3/0/0', '/1/1/1'],
        `#${e.line.seq}`,
      );
    assert.deepEqual(
      plain(composite[3]!.response.records!).map((r) => (r as { path: string }).path),
      ['/3/0/0'],
    );

    // Notifications: NON, the Observe sequence, values.
    assert.deepEqual(
      notifications.map((n) => [n.sequence, n.confirmable, n.records > 0]),
      [1, 2, 3, 1, 2, 3, 1, 2].map((seq) => [seq, false, true]),
    );
  });

  it('client B: TLV by default, 4.06 for CBOR, Discover ignores depth, Create locations', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const { exchanges, notifications, emptyAcks } = replay(shared, 'lwm2m-1.1-client-udp.jsonl');
    const defaults = exchanges.filter(
      (e) => e.request.kind === 'read' && acceptOf(e.requestLine) === undefined,
    );
    assert.deepEqual(
      defaults.map((e) => e.response.format),
      [11542, 11542, 11542],
    );
    const inst = exchanges.filter(
      (e) => e.request.kind === 'read' && uriPathOf(e.requestLine) === '/3/0' && e.response.code === '2.05',
    );
    // Every format gives the same records (but the clock, /3/0/13, which moves between reads).
    const [tlv, ...others] = inst.map((e) =>
      plain(e.response.records!.filter((r) => r.path.toString() !== '/3/0/13')),
    );
    assert.equal(others.length, 3);
    for (const o of others) assert.deepEqual(o, tlv);
    const discovers = exchanges.filter(
      (e) => e.request.kind === 'discover' && uriPathOf(e.requestLine) === '/3',
    );
    assert.equal(discovers.length, 5);
    for (const d of discovers) assert.deepEqual(d.response.links, discovers[0]!.response.links);
    const gt = exchanges.find((e) => e.request.kind === 'discover' && uriPathOf(e.requestLine) === '/3/0/9')!;
    assert.deepEqual(
      gt.response.links![0]!.params.find((p) => p.name === 'gt'),
      { name: 'gt', value: 50 },
    );
    assert.deepEqual(
      exchanges.filter((e) => e.request.kind === 'create').map((e) => e.response.location?.toString()),
      ['/31024/99', '/31024/98', '/31024/0'],
    );
    assert.equal(emptyAcks, 9); // 8 FETCH and 1 iPATCH: an empty ACK and no answer
    assert.deepEqual(
      notifications.map((n) => n.sequence),
      [1, 2, 3],
    );
  });

  it('bootstrap: Discover root links and the Bootstrap-Read values', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    for (const [file, version] of [
      ['bootstrap-1.2-client.jsonl', '1.2'],
      ['bootstrap-1.1-client.jsonl', '1.1'],
    ] as const) {
      const { exchanges } = replay(shared, file);
      const discover = exchanges.find((e) => e.request.kind === 'bootstrap-discover')!;
      assert.deepEqual(discover.response.links![0], {
        target: '/',
        params: [{ name: 'lwm2m', value: version }],
      });
      const read = exchanges.find((e) => e.request.kind === 'bootstrap-read')!;
      const lifetime = plain(read.response.records!).find((r) => (r as { path: string }).path === '/1/1/1');
      assert.deepEqual(lifetime, { path: '/1/1/1', type: 'integer', value: '300' }, file);
    }
  });
});
