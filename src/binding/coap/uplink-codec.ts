import type { CoapResponse, OutgoingRequest } from '../../coap/endpoint.js';
import { CoapCode, formatCode, parseCode } from '../../coap/message.js';
import type { CoapMessage, CoapOption } from '../../coap/message.js';
import { CoapOptionError, getOptions, getUint, OptionNumber, OptionsBuilder } from '../../coap/options.js';
import { contentFormat as contentFormatOf, accept as acceptOf } from '../../coap/options.js';
import type { CodecRegistry } from '../../content/codec-registry.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import { formatLinkFormat, LinkFormatError, parseLinkFormat } from '../../model/link-format.js';
import type { ObjectModel } from '../../model/object-definition.js';
import { InvalidPathError, LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import { formatRegistrationPayload, LinkPayloadError } from '../../model/registration-payload.js';
import type { RegistrationPayload } from '../../model/registration-payload.js';
import {
  checkEndpointName,
  formatRegisterQuery,
  formatUpdateQuery,
  parseRegisterParameters,
  parseUpdateParameters,
} from '../../operations/registration-parameters.js';
import type {
  BootstrapPackRequest,
  BootstrapRequestRequest,
  SendRequest,
  UplinkRequest,
  UplinkResponse,
} from '../../operations/requests.js';
import { isResultCode, OperationError } from '../../operations/result-code.js';
import { sharedRegistrationPayloads } from '../../model/registration-payload-cache.js';

/*
 * The CoAP mapping of the uplink operations (Transport TS; LWM2M-1.2.md §1.1, §1.2, §1.4):
 *   Register            POST   /rd?ep=&lt=&lwm2m=&b=&Q&sms=&pid=   CF 40 object list
 *   Update              POST   /rd/{id}?lt=&b=&Q&sms=&pid=          optional object list
 *   De-register         DELETE /rd/{id}
 *   Send                POST   /dp                                  CF 110 / 112 / 11544
 *   Bootstrap-Request   POST   /bs?ep=&pct=
 *   Bootstrap-Pack-Req. GET    /bspack?ep=&acc=                     Accept 110 / 112 / 11544
 * Choices:
 * - A Register or Update payload without Content-Format is read as link format (real clients send
 *   Updates that way, see captures/lwm2m-1.1-client-udp.jsonl); any other Content-Format is 4.15.
 *   An empty payload means "no object list".
 * - Errors are OperationError with the code to answer: 4.04 for a path no operation lives at,
 *   4.05 for a known path with the wrong method (both with reason 'bad-path'), 4.00 for bad
 *   parameters or payloads, 4.15 for a content format the operation cannot carry, 4.12 for a
 *   version not served.
 * - Query items and path segments must be valid UTF-8 (4.00 otherwise).
 * - A registration id may hold several segments (`a/b`, from a server's multi-segment Location),
 *   and one starting with "/" is a whole location outside the registration path (a server that
 *   answers Register with `Location-Path: reg/5` is addressed at `/reg/5`).
 * - Bootstrap-Pack-Request `acc` (1.2.1) is a list of CoRE links to instances (`</0/0>,</21/0>`).
 * - Error answers carry their diagnostic as a UTF-8 payload with Content-Format 0 (text/plain).
 */

export const DEFAULT_RD_PATH = 'rd';
/** Formats a Bootstrap-Request may name as `pct` (Core §6.1.7.1). */
export const BOOTSTRAP_PREFERRED_FORMATS: readonly number[] = Object.freeze([110, 112, 11544, 11542]);
/** Formats a Send may carry and a Bootstrap-Pack may be asked in. */
export const SEND_FORMATS: readonly number[] = Object.freeze([110, 112, 11544]);

export interface UplinkDecodeOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly allowUnknownParameters?: boolean;
  /** The registration path, `rd` by default (may have several segments: `lwm2m/rd`). */
  readonly rdPath?: string;
  /** Enabler versions served (default all Petrel supports); a Register with another gets 4.12. */
  readonly supportedVersions?: readonly string[];
}

export interface UplinkEncodeOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly rdPath?: string;
  /** The client's enabler version, for the 1.0 spelling of queue mode in an Update's `b`. */
  readonly lwm2mVersion?: string;
}

export interface UplinkResponseOptions {
  readonly rdPath?: string;
  /** Needed to encode or decode a Bootstrap-Pack. */
  readonly codecs?: CodecRegistry;
  readonly model?: ObjectModel;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

function rdSegments(rdPath: string | undefined): string[] {
  return (rdPath ?? DEFAULT_RD_PATH).split('/').filter((s) => s !== '');
}

function strings(message: CoapMessage, number: number, what: string): string[] {
  return getOptions(message, number).map((bytes, i) => {
    try {
      return utf8.decode(bytes);
    } catch {
      throw new OperationError('bad-parameter', '4.00', `${what} ${i + 1} is not valid UTF-8`);
    }
  });
}

function methodName(code: number): string {
  switch (code) {
    case CoapCode.GET:
      return 'GET';
    case CoapCode.POST:
      return 'POST';
    case CoapCode.PUT:
      return 'PUT';
    case CoapCode.DELETE:
      return 'DELETE';
    default:
      return formatCode(code);
  }
}

function wrongMethod(message: CoapMessage, path: string, allowed: string): never {
  throw new OperationError(
    'bad-path',
    '4.05',
    `${methodName(message.code)} is not allowed on ${path} (only ${allowed})`,
  );
}

/** The object list of a Register or Update: CF 40 or none (read as link format); else 4.15. */
function registrationPayload(message: CoapMessage, op: string): RegistrationPayload | undefined {
  const cf = contentFormatOf(message);
  if (cf !== undefined && cf !== 40)
    throw new OperationError(
      'unsupported-format',
      '4.15',
      `${op} carries its object list as link format (40), not content format ${cf}`,
    );
  if (message.payload.length === 0) return undefined;
  try {
    return sharedRegistrationPayloads.parse(message.payload);
  } catch (e) {
    if (e instanceof LinkFormatError || e instanceof LinkPayloadError)
      throw new OperationError('bad-payload', '4.00', `${op} object list: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Query items of the Bootstrap operations: `ep` plus the ones listed; a name twice is 4.00. */
function bootstrapQuery(
  query: readonly string[],
  known: readonly string[],
  op: string,
  allowUnknown: boolean,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of query) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!known.includes(name)) {
      if (allowUnknown) continue;
      throw new OperationError(
        'unknown-parameter',
        '4.00',
        `unknown ${op} parameter "${name.length > 24 ? `${name.slice(0, 24)}…` : name}"`,
      );
    }
    if (out.has(name)) throw new OperationError('bad-parameter', '4.00', `parameter "${name}" given twice`);
    if (eq < 0 || eq === item.length - 1)
      throw new OperationError('bad-parameter', '4.00', `parameter "${name}" needs a value`);
    out.set(name, item.slice(eq + 1));
  }
  return out;
}

function endpointOf(params: Map<string, string>): string | undefined {
  const ep = params.get('ep');
  return ep === undefined ? undefined : checkEndpointName(ep);
}

function parsePreferredFormat(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(text))
    throw new OperationError(
      'bad-parameter',
      '4.00',
      `pct: "${text.slice(0, 24)}" is not a content format number`,
    );
  const n = Number(text);
  if (!BOOTSTRAP_PREFERRED_FORMATS.includes(n))
    throw new OperationError(
      'unsupported-format',
      '4.15',
      `pct: content format ${n} is not one of ${BOOTSTRAP_PREFERRED_FORMATS.join(', ')}`,
    );
  return n;
}

/** `acc` of Bootstrap-Pack-Request: CoRE links to object instances (`</0/0>,</21/0>`). */
function parseAccounts(text: string | undefined): LwM2mPath[] | undefined {
  if (text === undefined) return undefined;
  try {
    return parseLinkFormat(text).map((link) => {
      const path = LwM2mPath.parse(link.target, { allowPrefix: false });
      if (!path.isObjectInstance())
        throw new OperationError('bad-parameter', '4.00', `acc: <${link.target}> is not an object instance`);
      return path;
    });
  } catch (e) {
    if (e instanceof LinkFormatError || e instanceof InvalidPathError)
      throw new OperationError('bad-parameter', '4.00', `acc: ${e.message}`, { cause: e });
    throw e;
  }
}

function decodeSend(message: CoapMessage, options: UplinkDecodeOptions): SendRequest {
  if (message.payload.length === 0) throw new OperationError('bad-payload', '4.00', 'Send carries no values');
  const format = contentFormatOf(message);
  if (format === undefined || !SEND_FORMATS.includes(format))
    throw new OperationError(
      'unsupported-format',
      '4.15',
      `Send carries SenML JSON, SenML CBOR or LwM2M CBOR, not ${format === undefined ? 'a payload without Content-Format' : `content format ${format}`}`,
    );
  let records: LwM2mRecord[];
  try {
    records = options.codecs.decode(format, message.payload, { path: LwM2mPath.ROOT, model: options.model });
  } catch (e) {
    if (e instanceof ContentFormatError)
      throw e.coapCode === '4.15'
        ? new OperationError('unsupported-format', '4.15', `Send: ${e.message}`, { cause: e })
        : new OperationError('bad-payload', '4.00', `Send: ${e.message}`, { cause: e });
    throw e;
  }
  if (records.length === 0) throw new OperationError('bad-payload', '4.00', 'Send carries no values');
  return { kind: 'send', format, records };
}

function registrationIdOf(segments: readonly string[]): string {
  for (const s of segments)
    if (s === '' || s.includes('/'))
      throw new OperationError('bad-path', '4.04', `"${s.slice(0, 24)}" is not a registration id segment`);
  return segments.join('/');
}

/**
 * Turns a request a client sent into a typed uplink request (server and bootstrap-server side).
 * Throws OperationError carrying the code to answer.
 */
export function decodeUplinkRequest(message: CoapMessage, options: UplinkDecodeOptions): UplinkRequest {
  const path = strings(message, OptionNumber.URI_PATH, 'Uri-Path segment');
  const query = strings(message, OptionNumber.URI_QUERY, 'Uri-Query item');
  const rd = rdSegments(options.rdPath);
  const pathText = `/${path.join('/')}`;
  const allowUnknownParameters = options.allowUnknownParameters ?? false;

  if (path.length >= rd.length && rd.every((s, i) => path[i] === s)) {
    if (path.length === rd.length) {
      if (message.code !== CoapCode.POST) wrongMethod(message, pathText, 'POST: Register');
      return parseRegisterParameters(query, registrationPayload(message, 'Register'), {
        allowUnknownParameters,
        ...(options.supportedVersions === undefined ? {} : { supportedVersions: options.supportedVersions }),
      });
    }
    const registrationId = registrationIdOf(path.slice(rd.length));
    if (message.code === CoapCode.POST)
      return parseUpdateParameters(registrationId, query, registrationPayload(message, 'Update'), {
        allowUnknownParameters,
      });
    if (message.code === CoapCode.DELETE) return { kind: 'deregister', registrationId };
    wrongMethod(message, pathText, 'POST: Update, DELETE: De-register');
  }
  if (path.length === 1) {
    switch (path[0]) {
      case 'dp':
        if (message.code !== CoapCode.POST) wrongMethod(message, pathText, 'POST: Send');
        return decodeSend(message, options);
      case 'bs': {
        if (message.code !== CoapCode.POST) wrongMethod(message, pathText, 'POST: Bootstrap-Request');
        const params = bootstrapQuery(query, ['ep', 'pct'], 'Bootstrap-Request', allowUnknownParameters);
        return {
          kind: 'bootstrap-request',
          endpoint: endpointOf(params),
          preferredFormat: parsePreferredFormat(params.get('pct')),
        };
      }
      case 'bspack': {
        if (message.code !== CoapCode.GET) wrongMethod(message, pathText, 'GET: Bootstrap-Pack-Request');
        const params = bootstrapQuery(query, ['ep', 'acc'], 'Bootstrap-Pack-Request', allowUnknownParameters);
        const accept = acceptOf(message);
        if (accept !== undefined && !SEND_FORMATS.includes(accept))
          throw new OperationError(
            'unsupported-format',
            '4.06',
            `a Bootstrap-Pack comes as SenML JSON, SenML CBOR or LwM2M CBOR, not content format ${accept}`,
          );
        return {
          kind: 'bootstrap-pack-request',
          endpoint: endpointOf(params),
          accept,
          accounts: parseAccounts(params.get('acc')),
        };
      }
    }
  }
  throw new OperationError('bad-path', '4.04', `no LwM2M operation at ${pathText.slice(0, 64)}`);
}

// ---- client side ----

function uriSegmentsFor(registrationId: string, rdPath: string | undefined): string[] {
  const segments = registrationId.startsWith('/')
    ? registrationId.slice(1).split('/')
    : [...rdSegments(rdPath), ...registrationId.split('/')];
  if (registrationId === '' || segments.some((s) => s === ''))
    throw new OperationError('bad-path', '4.04', `"${registrationId}" is not a registration id`);
  return segments;
}

function build(fill: (b: OptionsBuilder) => void): CoapOption[] {
  const builder = new OptionsBuilder();
  try {
    fill(builder);
  } catch (e) {
    // An option past its length limit (a Uri-Query item over 255 bytes).
    if (e instanceof CoapOptionError)
      throw new OperationError('bad-parameter', '4.00', e.message, { cause: e });
    throw e;
  }
  return builder.build();
}

function objectListPayload(objects: RegistrationPayload | undefined, op: string): Uint8Array | undefined {
  if (objects === undefined) return undefined;
  try {
    return encoder.encode(formatRegistrationPayload(objects));
  } catch (e) {
    if (e instanceof LinkFormatError || e instanceof LinkPayloadError)
      throw new OperationError('bad-payload', '4.00', `${op} object list: ${e.message}`, { cause: e });
    throw e;
  }
}

function bootstrapRequestQuery(req: BootstrapRequestRequest): string[] {
  const out: string[] = [];
  if (req.endpoint !== undefined) out.push(`ep=${checkEndpointName(req.endpoint)}`);
  if (req.preferredFormat !== undefined) out.push(`pct=${parsePreferredFormat(String(req.preferredFormat))}`);
  return out;
}

function bootstrapPackQuery(req: BootstrapPackRequest): string[] {
  const out: string[] = [];
  if (req.endpoint !== undefined) out.push(`ep=${checkEndpointName(req.endpoint)}`);
  if (req.accounts !== undefined && req.accounts.length > 0) {
    for (const p of req.accounts)
      if (!p.isObjectInstance() || p.prefix !== undefined)
        throw new OperationError('bad-parameter', '4.00', `acc: ${p.toString()} is not an object instance`);
    out.push(`acc=${formatLinkFormat(req.accounts.map((p) => ({ target: p.toString(), params: [] })))}`);
  }
  return out;
}

/**
 * The CoAP request for an uplink operation (client side): method, Uri-Path, Uri-Query,
 * Content-Format / Accept and payload. Throws OperationError for a request that breaks the rules.
 */
export function encodeUplinkRequest(request: UplinkRequest, options: UplinkEncodeOptions): OutgoingRequest {
  switch (request.kind) {
    case 'register': {
      const query = formatRegisterQuery(request);
      const payload = objectListPayload(request.objects, 'Register');
      const opts = build((b) => {
        b.uriPath(rdSegments(options.rdPath)).uriQuery(query);
        if (payload !== undefined) b.uint(OptionNumber.CONTENT_FORMAT, 40);
      });
      return { code: CoapCode.POST, options: opts, ...(payload === undefined ? {} : { payload }) };
    }
    case 'update': {
      const query = formatUpdateQuery(
        request,
        options.lwm2mVersion === undefined ? {} : { lwm2mVersion: options.lwm2mVersion },
      );
      const payload = objectListPayload(request.objects, 'Update');
      const opts = build((b) => {
        b.uriPath(uriSegmentsFor(request.registrationId, options.rdPath)).uriQuery(query);
        if (payload !== undefined) b.uint(OptionNumber.CONTENT_FORMAT, 40);
      });
      return { code: CoapCode.POST, options: opts, ...(payload === undefined ? {} : { payload }) };
    }
    case 'deregister':
      return {
        code: CoapCode.DELETE,
        options: build((b) => b.uriPath(uriSegmentsFor(request.registrationId, options.rdPath))),
      };
    case 'send': {
      if (!SEND_FORMATS.includes(request.format))
        throw new OperationError(
          'unsupported-format',
          '4.15',
          `Send carries SenML JSON, SenML CBOR or LwM2M CBOR, not content format ${request.format}`,
        );
      if (request.records.length === 0)
        throw new OperationError('bad-payload', '4.00', 'Send carries no values');
      let payload: Uint8Array;
      try {
        payload = options.codecs.encode(request.format, request.records, {
          path: LwM2mPath.ROOT,
          model: options.model,
        });
      } catch (e) {
        if (e instanceof ContentFormatError)
          throw new OperationError('bad-payload', '4.00', `Send: ${e.message}`, { cause: e });
        throw e;
      }
      return {
        code: CoapCode.POST,
        options: build((b) => b.uriPath(['dp']).uint(OptionNumber.CONTENT_FORMAT, request.format)),
        payload,
      };
    }
    case 'bootstrap-request': {
      const query = bootstrapRequestQuery(request);
      return { code: CoapCode.POST, options: build((b) => b.uriPath(['bs']).uriQuery(query)) };
    }
    case 'bootstrap-pack-request': {
      const query = bootstrapPackQuery(request);
      if (request.accept !== undefined && !SEND_FORMATS.includes(request.accept))
        throw new OperationError(
          'unsupported-format',
          '4.06',
          `a Bootstrap-Pack comes as SenML JSON, SenML CBOR or LwM2M CBOR, not content format ${request.accept}`,
        );
      return {
        code: CoapCode.GET,
        options: build((b) => {
          b.uriPath(['bspack']).uriQuery(query);
          if (request.accept !== undefined) b.uint(OptionNumber.ACCEPT, request.accept);
        }),
      };
    }
  }
}

function malformedResponse(message: string): never {
  throw new OperationError('bad-payload', '4.00', message);
}

/**
 * The CoAP answer to an uplink request (server side): the code, Location-Path `rd/{id}` on a
 * successful Register, the pack on a Bootstrap-Pack 2.05, and the diagnostic as a text/plain
 * payload on errors.
 */
export function encodeUplinkResponse(
  response: UplinkResponse,
  request: UplinkRequest,
  options: UplinkResponseOptions = {},
): CoapResponse {
  const code = parseCode(response.code);
  if (code === undefined || !isResultCode(response.code))
    throw new OperationError('bad-payload', '5.00', `"${response.code}" is not a result code`);
  if (response.code.startsWith('2.')) {
    if (request.kind === 'register') {
      if (response.registrationId === undefined)
        throw new OperationError(
          'bad-payload',
          '5.00',
          'a successful Register answer needs a registration id',
        );
      const location = uriSegmentsFor(response.registrationId, options.rdPath);
      return { code, options: build((b) => b.strings(OptionNumber.LOCATION_PATH, location)) };
    }
    if (request.kind === 'bootstrap-pack-request' && response.records !== undefined) {
      const format = response.format ?? request.accept ?? 112;
      if (options.codecs === undefined || options.model === undefined)
        throw new OperationError('bad-payload', '5.00', 'encoding a Bootstrap-Pack needs codecs and a model');
      let payload: Uint8Array;
      try {
        payload = options.codecs.encode(format, response.records, {
          path: LwM2mPath.ROOT,
          model: options.model,
        });
      } catch (e) {
        if (e instanceof ContentFormatError)
          throw new OperationError('bad-payload', '5.00', `Bootstrap-Pack: ${e.message}`, { cause: e });
        throw e;
      }
      return { code, options: build((b) => b.uint(OptionNumber.CONTENT_FORMAT, format)), payload };
    }
    return { code };
  }
  const retryAfter =
    response.code === '5.03' && response.retryAfter !== undefined
      ? Math.max(0, Math.min(0xffffffff, Math.round(response.retryAfter)))
      : undefined;
  const hasDiagnostic = response.diagnostic !== undefined && response.diagnostic !== '';
  if (!hasDiagnostic && retryAfter === undefined) return { code };
  return {
    code,
    options: build((b) => {
      if (hasDiagnostic) b.uint(OptionNumber.CONTENT_FORMAT, 0);
      if (retryAfter !== undefined) b.uint(OptionNumber.MAX_AGE, retryAfter);
    }),
    ...(hasDiagnostic ? { payload: encoder.encode(response.diagnostic) } : {}),
  };
}

/**
 * Reads the answer to an uplink request (client side): the registration id from a Register's
 * Location-Path (the segments after the registration path, or the whole location with a leading
 * "/" when it lies elsewhere), a Bootstrap-Pack's records, an error's diagnostic text.
 * Throws OperationError('bad-payload') for an answer that cannot be read.
 */
export function decodeUplinkResponse(
  message: CoapMessage,
  request: UplinkRequest,
  options: UplinkResponseOptions = {},
): UplinkResponse {
  const code = formatCode(message.code);
  if (!isResultCode(code)) malformedResponse(`${code} is not a response code`);
  const format = contentFormatOf(message);
  const base = { code, ...(format === undefined ? {} : { format }) };
  if (!code.startsWith('2.')) {
    const diagnostic = message.payload.length === 0 ? undefined : lenient.decode(message.payload);
    // 5.03 (an overloaded server) and 4.29 (RFC 8516: this peer sends too much) say when to return.
    const maxAge = code === '5.03' || code === '4.29' ? getUint(message, OptionNumber.MAX_AGE) : undefined;
    return {
      ...base,
      ...(diagnostic === undefined ? {} : { diagnostic }),
      ...(maxAge === undefined ? {} : { retryAfter: maxAge }),
    };
  }
  if (request.kind === 'register') {
    const location = strings(message, OptionNumber.LOCATION_PATH, 'Location-Path segment');
    if (location.length === 0 || location.some((s) => s === '' || s.includes('/')))
      malformedResponse(`the Register answer has no usable Location-Path (${JSON.stringify(location)})`);
    const rd = rdSegments(options.rdPath);
    const underRd = location.length > rd.length && rd.every((s, i) => location[i] === s);
    const registrationId = underRd ? location.slice(rd.length).join('/') : `/${location.join('/')}`;
    return { ...base, registrationId };
  }
  if (request.kind === 'bootstrap-pack-request' && message.payload.length > 0) {
    const cf = format ?? request.accept;
    if (cf === undefined) malformedResponse('the Bootstrap-Pack has no Content-Format');
    if (options.codecs === undefined || options.model === undefined)
      throw new OperationError('bad-payload', '4.00', 'decoding a Bootstrap-Pack needs codecs and a model');
    try {
      const records = options.codecs.decode(cf, message.payload, {
        path: LwM2mPath.ROOT,
        model: options.model,
      });
      return { ...base, format: cf, records };
    } catch (e) {
      if (e instanceof ContentFormatError)
        throw new OperationError('bad-payload', e.coapCode, `Bootstrap-Pack: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return base;
}
