// The byte parsers Petrel runs on input from outside, as fuzz targets: one synchronous call per
// parser and the typed errors it may throw. The fuzz files (test/fuzz/*.test.ts) drive them with
// mutated corpora and fast-check generation; test/fuzz/regressions.test.ts replays the inputs kept
// in test/fuzz/regressions/ through the same calls. A target's `arg` is the request path a content
// codec decodes at (ignored by the others).
import assert from 'node:assert/strict';
import { CoapFormatError, decodeCoapUdp } from '../../src/coap/udp-codec.js';
import { CoapStreamDecoder, coapTcpFrameLength, decodeCoapTcp } from '../../src/coap/tcp-codec.js';
import { decodeDownlinkRequest } from '../../src/binding/mqtt/mqtt-downlink-codec.js';
import { decodeMqttMessage, MqttMessageError } from '../../src/binding/mqtt/mqtt-message-map.js';
import { decodeUplinkRequest } from '../../src/binding/mqtt/mqtt-uplink-codec.js';
import { OperationError } from '../../src/operations/result-code.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import type { ContentFormatName } from '../../src/content/content-format.js';
import { decodeAlert } from '../../src/dtls/alert.js';
import {
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
} from '../../src/dtls/certificate-messages.js';
import { cipherSuite } from '../../src/dtls/cipher-suites.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import { decodeExtensions } from '../../src/dtls/extensions.js';
import {
  decodeChangeCipherSpec,
  decodeFinished,
  decodeNewSessionTicket,
} from '../../src/dtls/finished-messages.js';
import { HandshakeReassembler } from '../../src/dtls/handshake-reassembler.js';
import { HandshakeType, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import {
  decodeClientHello,
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
} from '../../src/dtls/hello-messages.js';
import { decodeClientKeyExchange, decodeServerKeyExchange } from '../../src/dtls/key-exchange-messages.js';
import { keyBlock } from '../../src/dtls/key-schedule.js';
import { RecordProtection } from '../../src/dtls/record-protection.js';
import { ContentType, parseDatagram } from '../../src/dtls/record.js';
import { AttributeError, parseAttributeQuery } from '../../src/model/attributes.js';
import { parseExecuteArguments, parseExecuteQuery } from '../../src/operations/execute-arguments.js';
import {
  parseRegisterParameters,
  parseUpdateParameters,
} from '../../src/operations/registration-parameters.js';
import { DdfError, readDdf } from '../../src/model/ddf-loader.js';
import { LinkFormatError, parseLinkFormat } from '../../src/model/link-format.js';
import { InvalidPathError, LwM2mPath } from '../../src/model/path.js';
import {
  LinkPayloadError,
  parseDiscoverPayload,
  parseRegistrationPayload,
} from '../../src/model/registration-payload.js';
import { testModel } from './test-model.js';

/** A parser under fuzz: `call` runs it on one input; only errors `typed` accepts may escape. */
export interface FuzzTarget {
  readonly name: string;
  /** The typed errors this parser may throw, by class name (for docs and messages). */
  readonly errors: readonly string[];
  typed(e: unknown): e is Error & { reason?: string };
  call(input: Uint8Array, arg?: string): unknown;
}

function target(
  name: string,
  classes: readonly (abstract new (...args: never[]) => Error)[],
  call: (input: Uint8Array, arg?: string) => unknown,
): FuzzTarget {
  return {
    name,
    errors: classes.map((c) => c.name),
    typed: (e): e is Error & { reason?: string } => classes.some((c) => e instanceof c),
    call,
  };
}

const utf8 = new TextDecoder();
const codecs = createCodecRegistry();

// ---- DTLS: the pure receive path of one datagram (record layer, handshake, alerts, decryption) ----

const ccm = cipherSuite(0xc0a8)!;
const cbc = cipherSuite(0x00ae)!;
const fixedSecret = new Uint8Array(48).fill(5);
const fixedRandom = new Uint8Array(32).fill(6);
/** Record protection under fixed keys, so epoch-1 records reach decryption and its checks. */
export const DTLS_PROTECTIONS = [
  new RecordProtection(ccm, keyBlock(fixedSecret, fixedRandom, fixedRandom, ccm).client),
  new RecordProtection(cbc, keyBlock(fixedSecret, fixedRandom, fixedRandom, cbc).client),
];
/** The Connection ID length the datagram parser assumes (tls12_cid records). */
export const DTLS_CID_LENGTH = 4;

/** Every decoder a handshake body of this type could meet (both key exchanges, both cert types). */
function decodeHandshakeBody(msgType: number, body: Uint8Array): void {
  const attempts: (() => unknown)[] = [];
  switch (msgType) {
    case HandshakeType.client_hello:
      attempts.push(() => decodeExtensions(decodeClientHello(body).extensions, 'client'));
      break;
    case HandshakeType.server_hello:
      attempts.push(() => decodeExtensions(decodeServerHello(body).extensions, 'server'));
      break;
    case HandshakeType.hello_verify_request:
      attempts.push(() => decodeHelloVerifyRequest(body));
      break;
    case HandshakeType.new_session_ticket:
      attempts.push(() => decodeNewSessionTicket(body));
      break;
    case HandshakeType.certificate:
      attempts.push(
        () => decodeCertificate(body, 'x509'),
        () => decodeCertificate(body, 'raw_public_key'),
      );
      break;
    case HandshakeType.server_key_exchange:
      attempts.push(
        () => decodeServerKeyExchange(body, 'psk'),
        () => decodeServerKeyExchange(body, 'ecdhe_ecdsa'),
      );
      break;
    case HandshakeType.certificate_request:
      attempts.push(() => decodeCertificateRequest(body));
      break;
    case HandshakeType.server_hello_done:
      attempts.push(() => decodeServerHelloDone(body));
      break;
    case HandshakeType.certificate_verify:
      attempts.push(() => decodeCertificateVerify(body));
      break;
    case HandshakeType.client_key_exchange:
      attempts.push(
        () => decodeClientKeyExchange(body, 'psk'),
        () => decodeClientKeyExchange(body, 'ecdhe_ecdsa'),
      );
      break;
    case HandshakeType.finished:
      attempts.push(() => decodeFinished(body));
      break;
  }
  for (const attempt of attempts) dtlsGuard(attempt);
}

/** The DtlsError reasons the receive path met, by reason (the path goes on after each). */
export const DTLS_REASONS = new Map<string, number>();

/** Runs one DTLS decode step; a DtlsError ends that step only (the receive path goes on). */
function dtlsGuard(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof DtlsError)) throw e;
    DTLS_REASONS.set(e.reason, (DTLS_REASONS.get(e.reason) ?? 0) + 1);
  }
}

/** One datagram through parseDatagram and every decoder its records reach. Returns the record count. */
export function receiveDtlsDatagram(datagram: Uint8Array): number {
  const { records, errors } = parseDatagram(datagram, { cidLength: DTLS_CID_LENGTH });
  for (const e of errors) DTLS_REASONS.set(e.reason, (DTLS_REASONS.get(e.reason) ?? 0) + 1);
  const reassembler = new HandshakeReassembler({ maxMessageLength: 4096 });
  for (const record of records) {
    if (record.epoch > 0) {
      for (const p of DTLS_PROTECTIONS) dtlsGuard(() => p.unprotect(record));
      continue;
    }
    if (record.type === ContentType.handshake)
      dtlsGuard(() => {
        for (const f of parseHandshakeFragments(record.fragment)) {
          decodeHandshakeBody(f.msgType, f.body);
          for (const m of reassembler.add(f).messages) decodeHandshakeBody(m.msgType, m.body);
        }
      });
    else if (record.type === ContentType.alert) dtlsGuard(() => decodeAlert(record.fragment));
    else if (record.type === ContentType.change_cipher_spec)
      dtlsGuard(() => decodeChangeCipherSpec(record.fragment));
  }
  return records.length;
}

/** decodeCoapTcp on one frame, and the frame-length check a stream reader runs on its header. */
function decodeCoapTcpFrame(input: Uint8Array): unknown {
  let refused: CoapFormatError | undefined;
  let message: unknown;
  try {
    message = decodeCoapTcp(input);
  } catch (e) {
    if (!(e instanceof CoapFormatError)) throw e;
    refused = e;
  }
  coapTcpFrameLength(input, 0, input.length, 1152);
  if (refused) throw refused;
  return message;
}

// ---- CoAP over TCP: a stream cut in two places, so the decoder's buffering is exercised too ----

function decodeCoapTcpStream(input: Uint8Array): number {
  const decoder = new CoapStreamDecoder({ maxMessageSize: 1152 });
  const a = input.length >> 2;
  const b = input.length >> 1;
  let n = 0;
  for (const part of [input.subarray(0, a), input.subarray(a, b), input.subarray(b)])
    n += decoder.push(part).length;
  assert.ok(decoder.buffered <= 1152, `the stream decoder holds ${decoder.buffered} bytes`);
  return n;
}

// ---- MQTT: the map, then the request decoders both bindings run on it ----

const mqttOptions = { codecs, model: testModel };

/**
 * decodeMqttMessage, then what the client (rd and bs topics) and the server (rd and bs topics) do
 * with a request map; those decoders may refuse only with OperationError (the code to answer).
 */
function decodeMqttRequest(input: Uint8Array): unknown {
  const message = decodeMqttMessage(input);
  const steps: (() => unknown)[] = [
    () => decodeDownlinkRequest(message, mqttOptions),
    () => decodeDownlinkRequest(message, { ...mqttOptions, bootstrap: true }),
    () => decodeUplinkRequest(message, 'rd', mqttOptions, 'r1'),
    () => decodeUplinkRequest(message, 'bs', mqttOptions),
  ];
  for (const step of steps)
    try {
      step();
    } catch (e) {
      if (!(e instanceof OperationError)) throw e;
    }
  return message;
}

// ---- the table ----

/** The value codecs (Content-Formats with resource values) by name. */
export const CONTENT_FORMATS = [
  'text',
  'opaque',
  'cbor',
  'tlv',
  'senml-json',
  'senml-cbor',
  'senml-etch-json',
  'senml-etch-cbor',
  'lwm2m-json',
  'lwm2m-cbor',
] as const satisfies readonly ContentFormatName[];
export type FuzzContentFormat = (typeof CONTENT_FORMATS)[number];

function contentTarget(format: FuzzContentFormat): FuzzTarget {
  const contexts = new Map<string, { path: LwM2mPath; model: typeof testModel }>();
  return target(`content:${format}`, [ContentFormatError], (input, arg = '/') => {
    let ctx = contexts.get(arg);
    if (!ctx) {
      ctx = { path: LwM2mPath.parse(arg), model: testModel };
      contexts.set(arg, ctx);
    }
    return codecs.decode(format, input, ctx);
  });
}

/** Splits text the way a CoAP query arrives: one Uri-Query option per `&`-separated item. */
export function queryItems(input: Uint8Array): string[] {
  const text = utf8.decode(input);
  return text === '' ? [] : text.split('&');
}

export const FUZZ_TARGETS: Readonly<Record<string, FuzzTarget>> = Object.freeze(
  Object.fromEntries(
    [
      target('coap-udp', [CoapFormatError], (input) => decodeCoapUdp(input)),
      target('coap-tcp', [CoapFormatError], decodeCoapTcpFrame),
      target('coap-tcp-stream', [CoapFormatError], decodeCoapTcpStream),
      target('dtls-datagram', [DtlsError], receiveDtlsDatagram),
      target('link-format', [LinkFormatError], (input) => parseLinkFormat(input)),
      target('registration-payload', [LinkFormatError, LinkPayloadError], (input) =>
        parseRegistrationPayload(input),
      ),
      target('discover-payload', [LinkFormatError, LinkPayloadError], (input) => parseDiscoverPayload(input)),
      target('attribute-query', [AttributeError], (input) =>
        parseAttributeQuery(queryItems(input), { ignore: ['depth'] }),
      ),
      target('mqtt-map', [MqttMessageError], decodeMqttRequest),
      target('register-query', [OperationError], (input) =>
        parseRegisterParameters(queryItems(input), undefined),
      ),
      target('update-query', [OperationError], (input) =>
        parseUpdateParameters('r1', queryItems(input), undefined),
      ),
      target('execute-arguments', [OperationError], (input) => parseExecuteArguments(input)),
      target('execute-query', [OperationError], (input) => parseExecuteQuery(queryItems(input))),
      target('lwm2m-path', [InvalidPathError], (input) => {
        const text = utf8.decode(input);
        try {
          LwM2mPath.parse(text, { alternatePath: '/lwm2m' });
        } catch (e) {
          if (!(e instanceof InvalidPathError)) throw e;
        }
        return LwM2mPath.parse(text);
      }),
      target('ddf-xml', [DdfError], (input) => readDdf(utf8.decode(input), 'fuzz.xml')),
      ...CONTENT_FORMATS.map(contentTarget),
    ].map((t) => [t.name, t]),
  ),
);

export function fuzzTarget(name: string): FuzzTarget {
  const t = FUZZ_TARGETS[name];
  if (!t) throw new Error(`no fuzz target "${name}"`);
  return t;
}
