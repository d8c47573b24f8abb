// Mutation fuzzing of the byte parsers of the stream and MQTT bindings: CoAP over TCP frames
// (decodeCoapTcp, coapTcpFrameLength, CoapStreamDecoder fed in random chunks), the LwM2M MQTT
// map (decodeMqttMessage) and the operation decoders the MQTT bindings run on incoming maps, and
// CoapReliableEndpoint fed mutated frames over in-memory connections. Only the typed errors of
// each layer may escape, nothing hangs, the stream decoder never holds more than its limit and
// no chunking of a stream changes what it decodes. Seeded: a failure names seed and index.
// Budget: PETREL_FUZZ_BUDGET mutants per part (default 1500; `npm run fuzz` scales it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeDownlinkRequest,
  decodeDownlinkResponse,
  decodeNotification,
  encodeDownlinkRequest,
  encodeDownlinkResponse,
  encodeNotification,
  type MqttDownlinkContext,
} from '../../src/binding/mqtt/mqtt-downlink-codec.js';
import {
  MqttMessageError,
  decodeMqttMessage,
  encodeMqttMessage,
  type MqttMessage,
} from '../../src/binding/mqtt/mqtt-message-map.js';
import {
  decodeUplinkRequest,
  decodeUplinkResponse,
  encodeUplinkRequest,
  encodeUplinkResponse,
} from '../../src/binding/mqtt/mqtt-uplink-codec.js';
import { DownlinkDecodeError } from '../../src/binding/coap/downlink-codec.js';
import { FakeClock } from '../../src/clock.js';
import { CoapCode, type CoapMessage, type CoapOption } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { CoapReliableEndpoint, CoapReliableProtocolError } from '../../src/coap/reliable-endpoint.js';
import {
  CoapStreamDecoder,
  abort,
  coapTcpFrameLength,
  csm,
  decodeCoapTcp,
  encodeCoapTcp,
  ping,
  pong,
  release,
} from '../../src/coap/tcp-codec.js';
import { CoapFormatError } from '../../src/coap/udp-codec.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { DownlinkRequest, UplinkRequest } from '../../src/operations/requests.js';
import { OperationError } from '../../src/operations/result-code.js';
import { seededRandom, type RandomSource } from '../../src/random.js';
import type { ConnectionChannel, Peer } from '../../src/transport/channel.js';
import { settle } from '../support/coap-driver.js';
import { MemoryConnectionNetwork } from '../support/memory-connection.js';
import { mutate } from '../support/mutate.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 1500);
/** Mutated frames sent to the reliable endpoint, each on a fresh connection. */
const CONNECTIONS = Math.max(50, Math.floor(BUDGET / 100));

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** A message as comparable text (views and copies of the same bytes read the same). */
function show(m: CoapMessage): string {
  const options = m.options.map((o) => `${o.number}=${hex(o.value)}`).join(',');
  return `${m.code}|${hex(m.token)}|${options}|${hex(m.payload)}`;
}

// ---- CoAP over TCP corpus ----

function message(code: number, token: Uint8Array, options: CoapOption[], payload: Uint8Array): CoapMessage {
  return { code, messageId: 0, token, options, payload };
}

/** Valid messages of every length class (Len nibble, 1- and 2-byte extended length) and signals. */
function coapCorpus(): CoapMessage[] {
  const t = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => 0xa0 + i);
  return [
    message(CoapCode.GET, t(0), [], new Uint8Array(0)),
    message(CoapCode.GET, t(4), new OptionsBuilder().uriPath(['rd', 'abc']).build(), new Uint8Array(0)),
    message(
      CoapCode.GET,
      t(8),
      new OptionsBuilder()
        .uint(OptionNumber.OBSERVE, 0)
        .uriPath(['3', '0', '9'])
        .uint(OptionNumber.ACCEPT, 112)
        .build(),
      new Uint8Array(0),
    ),
    message(
      CoapCode.POST,
      t(2),
      new OptionsBuilder()
        .uriPath(['rd'])
        .uint(OptionNumber.CONTENT_FORMAT, 40)
        .uriQuery(['ep=dev-1', 'lt=300', 'lwm2m=1.2', 'b=T'])
        .build(),
      text('</1/0>,</3/0>,</3303/0>,</3303/1>'),
    ),
    message(
      CoapCode.PUT,
      t(3),
      new OptionsBuilder()
        .uriPath(['1', '0', '1'])
        .uint(OptionNumber.CONTENT_FORMAT, 0)
        .block(OptionNumber.BLOCK1, { num: 2, more: true, szx: 7 })
        .build(),
      new Uint8Array(300).fill(0x35),
    ),
    message(
      CoapCode.CONTENT,
      t(8),
      new OptionsBuilder()
        .uint(OptionNumber.OBSERVE, 70000)
        .uint(OptionNumber.CONTENT_FORMAT, 11542)
        .block(OptionNumber.BLOCK2, { num: 0, more: true, szx: 6 })
        .build(),
      Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff),
    ),
    message(CoapCode.CHANGED, t(1), [], new Uint8Array(0)),
    message(CoapCode.BAD_OPTION, t(5), [], text('unrecognized critical option 9')),
    message(CoapCode.EMPTY, t(0), [], new Uint8Array(0)),
    csm({ maxMessageSize: 8448, blockWiseTransfer: true }),
    csm(),
    ping({ custody: true, token: t(2) }),
    pong({ token: t(2) }),
    release({ alternativeAddresses: ['coap+tcp://h:5683'], holdOff: 30, diagnostic: 'bye' }),
    abort({ badCsmOption: 2, diagnostic: 'bad CSM' }),
  ];
}

const FRAME_INTERESTING = [0x00, 0x0f, 0x08, 0x09, 0xd0, 0xe0, 0xf0, 0xff, 0xe1, 0x45, 0x01, 0xc0];

/** Cuts `bytes` into chunks of random sizes (often tiny, sometimes large), as a socket would. */
function chunks(bytes: Uint8Array, rand: RandomSource): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const r = rand.next();
    const size = r < 0.4 ? 1 + rand.int(3) : r < 0.8 ? 1 + rand.int(64) : 1 + rand.int(2048);
    out.push(bytes.subarray(i, i + size));
    i += size;
  }
  return out;
}

interface StreamRun {
  readonly messages: string[];
  readonly failure: CoapFormatError | undefined;
}

/**
 * Feeds `parts` to a fresh decoder, checking after every push that it holds no more than its
 * limit and that once failed it keeps failing with a CoapFormatError.
 */
function feed(parts: readonly Uint8Array[], maxMessageSize: number, where: string): StreamRun {
  const decoder = new CoapStreamDecoder({ maxMessageSize });
  const messages: string[] = [];
  let failure: CoapFormatError | undefined;
  for (const part of parts) {
    try {
      for (const m of decoder.push(part)) messages.push(show(m));
      assert.equal(failure, undefined, `${where}: a push succeeded after the stream failed`);
    } catch (e) {
      if (!(e instanceof CoapFormatError)) assert.fail(`${where}: push threw ${String(e)}`);
      failure ??= e;
      assert.equal(decoder.failure, failure, `${where}: failure not kept`);
    }
    assert.ok(
      decoder.buffered <= maxMessageSize,
      `${where}: ${decoder.buffered} bytes buffered, limit ${maxMessageSize}`,
    );
  }
  return { messages, failure };
}

describe(`CoAP over TCP mutation fuzzing (${BUDGET} mutants per part)`, () => {
  const corpus = coapCorpus();
  const frames = corpus.map(encodeCoapTcp);

  it('decodeCoapTcp on single mutated frames throws only CoapFormatError', () => {
    for (const f of frames) decodeCoapTcp(f); // every seed decodes
    const seed = 0x7c01;
    const rand = seededRandom(seed);
    const reasons = new Map<string, number>();
    let decoded = 0;
    for (let i = 0; i < BUDGET; i++) {
      const input = mutate(frames[i % frames.length]!, () => rand.next(), {
        maxEdits: 3,
        interesting: FRAME_INTERESTING,
        donors: frames,
      });
      const where = `seed ${seed} mutant ${i} (${hex(input)})`;
      let m: CoapMessage;
      try {
        m = decodeCoapTcp(input, rand.next() < 0.2 ? 64 : undefined);
      } catch (e) {
        if (!(e instanceof CoapFormatError)) assert.fail(`${where} threw ${String(e)}`);
        reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
        continue;
      }
      decoded++;
      // The frame length agrees with the decoder, and a decoded frame re-encodes to a frame that
      // decodes to the same message.
      assert.equal(coapTcpFrameLength(input, 0, input.length, input.length), input.length, where);
      let again: Uint8Array;
      try {
        again = encodeCoapTcp(m);
      } catch (e) {
        if (!(e instanceof CoapFormatError)) assert.fail(`${where}: re-encoding threw ${String(e)}`);
        continue;
      }
      assert.equal(show(decodeCoapTcp(again)), show(m), `${where}: re-encoded`);
    }
    assert.ok(decoded > 0, 'some mutants still decode');
    for (const reason of ['truncated', 'trailing-bytes', 'bad-token-length'])
      assert.ok(reasons.has(reason), `no ${reason} seen: ${[...reasons.keys()].join(' ')}`);
  });

  it('coapTcpFrameLength at any offset of mutated bytes: -1, a size within the limit, or CoapFormatError', () => {
    const seed = 0x7c02;
    const rand = seededRandom(seed);
    for (let i = 0; i < BUDGET; i++) {
      const input = mutate(frames[i % frames.length]!, () => rand.next(), {
        interesting: FRAME_INTERESTING,
        donors: frames,
      });
      const offset = rand.int(input.length + 1);
      const end = offset + rand.int(input.length - offset + 1);
      const limit = rand.next() < 0.5 ? 1216 : 1 + rand.int(300);
      const where = `seed ${seed} mutant ${i} [${offset}, ${end}) limit ${limit} (${hex(input)})`;
      try {
        const n = coapTcpFrameLength(input, offset, end, limit);
        assert.ok(n === -1 || (n >= 2 && n <= limit), `${where}: length ${n}`);
        // -1 only while the length fields are incomplete (at most 5 bytes).
        if (n === -1) assert.ok(end - offset < 5, `${where}: -1 with ${end - offset} bytes`);
      } catch (e) {
        if (!(e instanceof CoapFormatError)) assert.fail(`${where} threw ${String(e)}`);
      }
    }
  });

  it('decodes a valid stream to the same messages however it is split', () => {
    const seed = 0x7c03;
    const rand = seededRandom(seed);
    // One frame with a 4-byte extended length (body past 65804 bytes) joins the corpus here.
    const big = message(CoapCode.CONTENT, Uint8Array.of(9), [], new Uint8Array(70_000).fill(7));
    const runs = Math.max(50, Math.floor(BUDGET / 5));
    for (let i = 0; i < runs; i++) {
      const picked = Array.from({ length: 1 + rand.int(8) }, () => corpus[rand.int(corpus.length)]!);
      if (i % 10 === 0) picked.splice(rand.int(picked.length + 1), 0, big);
      const stream = Buffer.concat(picked.map(encodeCoapTcp));
      const expected = picked.map(show);
      const where = `seed ${seed} stream ${i}`;
      const run = feed(chunks(stream, rand), 80_000, where);
      assert.equal(run.failure, undefined, `${where}: ${String(run.failure)}`);
      assert.deepEqual(run.messages, expected, where);
      // Split at one random point: still the same messages.
      const at = rand.int(stream.length + 1);
      assert.deepEqual(
        feed([stream.subarray(0, at), stream.subarray(at)], 80_000, `${where} at ${at}`).messages,
        expected,
      );
    }
  });

  it('mutated streams in random chunks: only CoapFormatError, bounded, and chunking changes nothing', () => {
    const seed = 0x7c04;
    const rand = seededRandom(seed);
    const reasons = new Map<string, number>();
    let clean = 0;
    for (let i = 0; i < BUDGET; i++) {
      const picked = Array.from({ length: 1 + rand.int(5) }, () => frames[rand.int(frames.length)]!);
      const stream = mutate(Buffer.concat(picked), () => rand.next(), {
        maxEdits: 4,
        interesting: FRAME_INTERESTING,
        donors: frames,
      });
      const limit = rand.next() < 0.3 ? 16 + rand.int(200) : 1216;
      const where = `seed ${seed} stream ${i} limit ${limit} (${hex(stream)})`;
      // Byte by byte is the reference; random chunks and the whole stream at once must agree.
      const reference = feed(
        Array.from(stream, (_, k) => stream.subarray(k, k + 1)),
        limit,
        `${where} bytewise`,
      );
      const chunked = feed(chunks(stream, rand), limit, `${where} chunked`);
      const whole = feed([stream], limit, `${where} whole`);
      for (const [name, run] of [
        ['chunked', chunked],
        ['whole', whole],
      ] as const) {
        assert.equal(run.failure?.reason, reference.failure?.reason, `${where}: ${name} failure`);
        // A push that fails drops what it completed before the fault: a prefix is all one gets.
        if (reference.failure)
          assert.deepEqual(
            run.messages,
            reference.messages.slice(0, run.messages.length),
            `${where}: ${name}`,
          );
        else assert.deepEqual(run.messages, reference.messages, `${where}: ${name}`);
      }
      if (reference.failure)
        reasons.set(reference.failure.reason, (reasons.get(reference.failure.reason) ?? 0) + 1);
      else clean++;
    }
    assert.ok(clean > 0, 'some mutated streams still decode');
    assert.ok(reasons.has('too-large') && reasons.has('bad-token-length'), [...reasons.keys()].join(' '));
  });

  it('refuses a frame announcing 4 GiB at its header, before buffering any of it', () => {
    const decoder = new CoapStreamDecoder();
    for (const b of [0xf0, 0xff, 0xff]) assert.deepEqual(decoder.push(Uint8Array.of(b)), []);
    assert.ok(decoder.buffered <= 5);
    assert.throws(
      () => decoder.push(Uint8Array.of(0xff, 0xff, 0x01)),
      (e: unknown) => {
        assert.ok(e instanceof CoapFormatError);
        assert.equal(e.reason, 'too-large');
        return true;
      },
    );
    assert.equal(decoder.buffered, 0);
    assert.throws(() => decoder.push(encodeCoapTcp(csm())), CoapFormatError);
  });
});

// ---- MQTT ----

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const p = (s: string): LwM2mPath => LwM2mPath.parse(s);
const serverCtx: MqttDownlinkContext = {
  codecs,
  model,
  peer: { lwm2mVersion: '1.2', contentFormats: undefined },
};
const clientCtx = { codecs, model };

const DOWNLINKS: DownlinkRequest[] = [
  { kind: 'read', path: p('/3/0/9') },
  { kind: 'read', path: p('/3/0'), accept: 112 },
  { kind: 'discover', path: p('/3'), depth: 1 },
  {
    kind: 'write',
    path: p('/1/0/1'),
    mode: 'replace',
    records: [{ path: p('/1/0/1'), value: Value.integer(60) }],
  },
  {
    kind: 'write',
    path: p('/1/0'),
    mode: 'update',
    records: [
      { path: p('/1/0/1'), value: Value.integer(5) },
      { path: p('/1/0/7'), value: Value.string('U') },
    ],
    format: 112,
  },
  {
    kind: 'write-attributes',
    path: p('/3/0/9'),
    attributes: { pmin: 1, pmax: null, gt: 1.5, epmin: 2, hqmax: 4 },
  },
  { kind: 'execute', path: p('/1/0/8'), arguments: [{ digit: 0, value: 'M' }] },
  { kind: 'delete', path: p('/1/3') },
  { kind: 'observe', path: p('/3/0/9'), attributes: { pmin: 10, st: 0.5, edge: 0 }, accept: 0 },
  { kind: 'cancel-observation', path: p('/3/0/9') },
  { kind: 'read-composite', paths: [p('/3/0/9'), p('/1/0/1')] },
  { kind: 'observe-composite', paths: [p('/3/0/9'), p('/3303/0/5700')] },
  { kind: 'cancel-observation-composite', paths: [p('/3/0/9'), p('/1/0/1')] },
  {
    kind: 'write-composite',
    records: [
      { path: p('/1/0/1'), value: Value.integer(30) },
      { path: p('/3303/0/5700'), value: Value.float(21.5) },
    ],
  },
  {
    kind: 'create',
    path: p('/3303'),
    instance: { instanceId: 1, resources: [{ path: p('/5700'), value: Value.float(2.5) }] },
  },
  { kind: 'bootstrap-finish' },
  { kind: 'bootstrap-discover', path: p('/0') },
  { kind: 'bootstrap-delete', path: p('/1') },
  { kind: 'bootstrap-read', path: p('/1') },
  {
    kind: 'bootstrap-write',
    path: p('/1/0'),
    records: [
      { path: p('/1/0/0'), value: Value.integer(1) },
      { path: p('/1/0/1'), value: Value.integer(300) },
    ],
  },
];

const UPLINKS: UplinkRequest[] = [
  {
    kind: 'register',
    endpoint: 'ep1',
    lifetime: 60,
    lwm2mVersion: '1.2',
    binding: 'M',
    queueMode: true,
    sms: '4912345',
    profileIds: [],
    objects: undefined,
    extraParameters: new Map(),
  },
  {
    kind: 'update',
    registrationId: 'r1',
    lifetime: 90,
    sms: undefined,
    binding: undefined,
    objects: undefined,
  },
  { kind: 'deregister', registrationId: 'r1' },
  {
    kind: 'send',
    format: 112,
    records: [
      { path: p('/3303/0/5700'), value: Value.float(20.5), time: 1_700_000_000 },
      { path: p('/3/0/9'), value: Value.integer(80) },
    ],
  },
  { kind: 'bootstrap-request', endpoint: 'ep1', preferredFormat: 112 },
  { kind: 'bootstrap-pack-request', endpoint: 'ep1', accept: 112, accounts: undefined },
];

/** Valid maps of every operation and answer, with their token. */
function mqttCorpus(): MqttMessage[] {
  const out: MqttMessage[] = [];
  const tokens = [Uint8Array.of(1, 2, 3, 4), 'tok', 77];
  const add = (fields: Omit<MqttMessage, 'token'>): void => {
    out.push({ ...fields, token: tokens[out.length % tokens.length]! });
  };
  for (const r of DOWNLINKS) add(encodeDownlinkRequest(r, serverCtx));
  for (const r of UPLINKS) add(encodeUplinkRequest(r, clientCtx));
  const values = [{ path: p('/3/0/9'), value: Value.integer(80) }];
  add(
    encodeDownlinkResponse({ code: '2.05', records: values }, { kind: 'read', path: p('/3/0/9') }, clientCtx),
  );
  add(
    encodeDownlinkResponse(
      {
        code: '2.05',
        records: [...values, { path: p('/3/0/0'), value: Value.string('Petrel') }],
        format: 112,
      },
      { kind: 'read', path: p('/3/0') },
      clientCtx,
    ),
  );
  add(
    encodeDownlinkResponse(
      { code: '2.05', links: [{ target: '/3/0', params: [] }] } as never,
      { kind: 'discover', path: p('/3') },
      clientCtx,
    ),
  );
  add(
    encodeDownlinkResponse(
      { code: '2.01', location: p('/3303/1') },
      { kind: 'create', path: p('/3303'), instance: { instanceId: undefined, resources: [] } },
      clientCtx,
    ),
  );
  add(
    encodeDownlinkResponse(
      { code: '4.04', diagnostic: 'no such object' },
      { kind: 'delete', path: p('/9') },
      clientCtx,
    ),
  );
  add(encodeNotification({ records: values }, { kind: 'observe', path: p('/3/0/9') }, clientCtx));
  add(encodeUplinkResponse({ code: '2.01', registrationId: 'r1' }, UPLINKS[0]!, clientCtx));
  add(encodeUplinkResponse({ code: '2.04' }, UPLINKS[1]!, clientCtx));
  add(
    encodeUplinkResponse(
      { code: '2.05', records: [{ path: p('/1/0/1'), value: Value.integer(300) }], format: 112 },
      UPLINKS[5]!,
      clientCtx,
    ),
  );
  return out;
}

/** What the MQTT bindings do with an incoming map, each with the errors it may throw. */
function bindingDecoders(m: MqttMessage): [string, () => unknown, (e: unknown) => boolean][] {
  const operation = (e: unknown): boolean => e instanceof OperationError; // MqttNotApplicableError too
  const answer = (e: unknown): boolean => e instanceof DownlinkDecodeError;
  const out: [string, () => unknown, (e: unknown) => boolean][] = [
    ['decodeDownlinkRequest rd', () => decodeDownlinkRequest(m, clientCtx), operation],
    [
      'decodeDownlinkRequest bs',
      () => decodeDownlinkRequest(m, { ...clientCtx, bootstrap: true }),
      operation,
    ],
    ['decodeUplinkRequest rd', () => decodeUplinkRequest(m, 'rd', clientCtx, 'r1'), operation],
    ['decodeUplinkRequest bs', () => decodeUplinkRequest(m, 'bs', clientCtx), operation],
  ];
  for (const r of UPLINKS)
    out.push([
      `decodeUplinkResponse ${r.kind}`,
      () => decodeUplinkResponse(m, r, clientCtx, 'ep1'),
      operation,
    ]);
  for (const r of DOWNLINKS)
    out.push([`decodeDownlinkResponse ${r.kind}`, () => decodeDownlinkResponse(m, r, serverCtx), answer]);
  for (const r of DOWNLINKS)
    if (r.kind === 'observe' || r.kind === 'observe-composite')
      out.push([`decodeNotification ${r.kind}`, () => decodeNotification(m, r, serverCtx, 1, false), answer]);
  return out;
}

function runDecoders(m: MqttMessage, where: string): number {
  let decoded = 0;
  for (const [name, run, typed] of bindingDecoders(m)) {
    try {
      run();
      decoded++;
    } catch (e) {
      if (!typed(e)) assert.fail(`${where}: ${name} threw ${String(e)}`);
    }
  }
  return decoded;
}

describe(`MQTT map mutation fuzzing (${BUDGET} mutants per part)`, () => {
  const corpus = mqttCorpus();
  const maps = corpus.map(encodeMqttMessage);

  it('decodeMqttMessage throws only MqttMessageError; the operation decoders only their typed errors', () => {
    for (const m of maps) runDecoders(decodeMqttMessage(m), 'seed map');
    const seed = 0x3071;
    const rand = seededRandom(seed);
    const reasons = new Map<string, number>();
    let decoded = 0;
    for (let i = 0; i < BUDGET; i++) {
      const input = mutate(maps[i % maps.length]!, () => rand.next(), {
        maxEdits: 3,
        // CBOR heads: small uints (keys), text/bytes of length n, null, floats, maps, indefinite.
        interesting: [0x00, 0x01, 0x07, 0x12, 0x13, 0x40, 0x60, 0xa0, 0xbf, 0xf6, 0xf9, 0xfb, 0xff, 0x1b],
        donors: maps,
      });
      const where = `seed ${seed} mutant ${i} (${hex(input)})`;
      let m: MqttMessage;
      try {
        m = decodeMqttMessage(input, { maxBytes: rand.next() < 0.1 ? 32 : undefined });
      } catch (e) {
        if (!(e instanceof MqttMessageError)) assert.fail(`${where} threw ${String(e)}`);
        reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
        continue;
      }
      decoded++;
      runDecoders(m, where);
    }
    assert.ok(decoded > 0, 'some mutants still decode');
    for (const reason of ['not-cbor', 'bad-value'])
      assert.ok(reasons.has(reason), `no ${reason} seen: ${[...reasons.keys()].join(' ')}`);
  });

  it('decoded maps with fields swapped between messages: the operation decoders throw only typed errors', () => {
    // Field-level splicing: every key takes a value some other valid map (or a hostile one) had,
    // then goes through the reader's validation (encode + decode) as a broker would deliver it.
    const pool = new Map<string, unknown[]>();
    for (const m of corpus) for (const [k, v] of Object.entries(m)) pool.set(k, [...(pool.get(k) ?? []), v]);
    const hostile: Record<string, unknown[]> = {
      operation: [0, 5, 6, 9, 10, 14, 16, 17, 21, 22, 23, 24, 255],
      uri: ['', '/', '//', '/3/0/9/0/1', '/65536', '/3/-1', 'rd', '/0/0/0/0', '/3303'],
      ct: [0, 40, 42, 60, 110, 112, 320, 322, 11542, 11543, 11544, 65535],
      pct: [0, 110, 112, 11542, 65535],
      payload: [new Uint8Array(0), Uint8Array.of(0xff), text("0='x',1"), text('</3/0>;ver=9.9,<')],
      paths: [new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0x81, 0xa1, 0x00, 0x61, 0x2f)],
      ep: ['', 'a\u0000b', 'x'.repeat(255)],
      version: ['', '1', '9.9', '1.2.3'],
      b: ['', 'Q', 'UQS', 'TN'],
      lifetime: [0, 0xffff_ffff],
      depth: [0, 3],
      result: [200, 231, 299, 400, 415, 599],
      pmin: [null, 0, 2 ** 53 - 1],
      // Integral values past 64 bits (1e300) go as floats (the regression below).
      gt: [null, -1.5e10, 0.1, -(2 ** 63), 1e300, -1e300],
      st: [null, 0, 1e19, 2.5, 2 ** 64],
    };
    for (const [k, vs] of Object.entries(hostile)) pool.set(k, [...(pool.get(k) ?? []), ...vs]);
    const keys = [...pool.keys()].filter((k) => k !== 'token');
    const seed = 0x3072;
    const rand = seededRandom(seed);
    let accepted = 0;
    for (let i = 0; i < BUDGET; i++) {
      const fields: Record<string, unknown> = { ...corpus[i % corpus.length]! };
      for (let e = 1 + rand.int(4); e > 0; e--) {
        const k = keys[rand.int(keys.length)]!;
        if (rand.next() < 0.2) delete fields[k];
        else {
          const vs = pool.get(k)!;
          fields[k] = vs[rand.int(vs.length)];
        }
      }
      const where = `seed ${seed} map ${i} (${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v))})`;
      let m: MqttMessage;
      try {
        m = decodeMqttMessage(encodeMqttMessage(fields as unknown as MqttMessage));
      } catch (e) {
        if (!(e instanceof MqttMessageError)) assert.fail(`${where}: the map threw ${String(e)}`);
        continue;
      }
      accepted++;
      runDecoders(m, where);
    }
    assert.ok(accepted > BUDGET / 4, `only ${accepted} maps valid`);
  });
});

describe('MQTT map regressions found by fuzzing', () => {
  it('encodes an integral attribute past 64 bits (gt 1e300) as a float (it threw a RangeError from the CBOR writer)', () => {
    const fields = encodeDownlinkRequest(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { gt: 1e300, pmax: 60 } },
      serverCtx,
    );
    const back = decodeMqttMessage(encodeMqttMessage({ ...fields, token: 'a' }));
    assert.equal(back.gt, 1e300);
    assert.equal(
      decodeMqttMessage(encodeMqttMessage({ operation: 14, token: 'b', st: 2 ** 70 })).st,
      2 ** 70,
    );
  });
});

// ---- CoapReliableEndpoint ----

const SERVER: Peer = { address: '10.0.0.1', port: 5684 };

describe(`CoapReliableEndpoint fed mutated frames (${CONNECTIONS} connections)`, () => {
  it('reports only protocol errors, never throws from receive, and keeps serving new connections', async () => {
    const net = new MemoryConnectionNetwork();
    const listener = net.listen(SERVER.address, SERVER.port);
    // Anything the endpoint's receive handler throws: ChannelEvents would turn it into an error.
    const thrown: unknown[] = [];
    const wrapped: ConnectionChannel = {
      kind: listener.kind,
      connectionOriented: true,
      send: (peer, frame) => listener.send(peer, frame),
      onReceive: (handler) =>
        listener.onReceive((peer, bytes) => {
          try {
            handler(peer, bytes);
          } catch (e) {
            thrown.push(e);
          }
        }),
      onError: (handler) => listener.onError(handler),
      onConnect: (handler) => listener.onConnect(handler),
      onDisconnect: (handler) => listener.onDisconnect(handler),
      disconnect: (peer) => listener.disconnect(peer),
      close: () => listener.close(),
    };
    const errors: unknown[] = [];
    const endpoint = new CoapReliableEndpoint({
      channel: wrapped,
      clock: new FakeClock(),
      random: seededRandom(11),
      onError: (e) => errors.push(e),
    });
    endpoint.onRequest(({ message: m }) =>
      m.code === CoapCode.GET ? { code: CoapCode.CONTENT, payload: text('ok') } : { code: CoapCode.CHANGED },
    );
    const frames = coapCorpus()
      .filter((m) => m.code !== CoapCode.CSM)
      .map(encodeCoapTcp);
    const hello = encodeCoapTcp(csm({ maxMessageSize: 4096 }));
    const seed = 0x7e11;
    const rand = seededRandom(seed);
    const get = encodeCoapTcp(
      message(
        CoapCode.GET,
        Uint8Array.of(0x5a, 1),
        new OptionsBuilder().uriPath(['x']).build(),
        new Uint8Array(0),
      ),
    );

    /** A fresh connection sending `sent`; what it got back (undecodable frames fail the test). */
    const exchange = async (port: number, sent: Uint8Array[], where: string): Promise<CoapMessage[]> => {
      const dialler = net.dialler('10.0.0.2', port);
      const got: CoapMessage[] = [];
      dialler.onReceive((_p, b) => {
        try {
          got.push(decodeCoapTcp(b));
        } catch (e) {
          assert.fail(`${where}: the endpoint sent an undecodable frame ${hex(b)}: ${String(e)}`);
        }
      });
      for (const f of sent) dialler.send(SERVER, f);
      await settle(8);
      await dialler.close();
      await settle(4);
      return got;
    };

    let served = 0;
    for (let i = 0; i < CONNECTIONS; i++) {
      const input = mutate(frames[i % frames.length]!, () => rand.next(), {
        maxEdits: 3,
        interesting: FRAME_INTERESTING,
        donors: frames,
      });
      // Half the mutants come first on their connection (in place of the CSM), half after it;
      // a valid request follows each, served or not depending on whether the connection survived.
      const sent = rand.next() < 0.5 ? [input, get] : [hello, input, get];
      const where = `seed ${seed} connection ${i} (${hex(input)})`;
      const got = await exchange(20_000 + i, sent, where);
      if (got.some((m) => m.code === CoapCode.CONTENT)) served++;
      assert.deepEqual(thrown, [], where);
      const bad = errors.filter((e) => !(e instanceof CoapReliableProtocolError));
      assert.deepEqual(bad.map(String), [], where);
    }
    // Both outcomes occur: connections aborted for a malformed frame, and connections that
    // survived their mutant and served the request after it.
    assert.ok(
      endpoint.stats.malformed > 0 && served > 0,
      `malformed ${endpoint.stats.malformed}, served ${served}`,
    );
    // Every connection ended: the endpoint keeps nothing of them.
    assert.equal(endpoint.tableSizes().connections, 0);
    // And a valid request on a new connection is still served.
    const answers = await exchange(19_999, [hello, get], 'after the fuzzing');
    const response = answers.find((m) => m.code === CoapCode.CONTENT);
    assert.ok(response, `no 2.05 after the fuzzing: ${answers.map(show).join(' ')}`);
    assert.equal(new TextDecoder().decode(response.payload), 'ok');
    await endpoint.close();
  });
});
