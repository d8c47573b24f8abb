import { isUtf8 } from 'node:buffer';
import type { CoapMessage } from '../../coap/message.js';
import { CoapCode, formatCode, parseCode } from '../../coap/message.js';
import type { CoapOption } from '../../coap/message.js';
import type { CoapResponse, OutgoingRequest } from '../../coap/endpoint.js';
import {
  OptionNumber,
  OptionsBuilder,
  accept as acceptOption,
  contentFormat as contentFormatOption,
  locationPath,
  observe as observeOption,
  uriPath,
  uriQuery,
} from '../../coap/options.js';
import type { CodecRegistry } from '../../content/codec-registry.js';
import type { CodecContext } from '../../content/content-codec.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import { lookupContentFormat, type ContentFormatId } from '../../content/content-format.js';
import { decodeCreatePayload, encodeCreatePayload } from '../../content/create-payload.js';
import { PetrelError } from '../../errors.js';
import {
  AttributeError,
  checkObserveCompositeAttributes,
  formatAttributeQuery,
  parseAttributeQuery,
  type NotificationAttributeChanges,
  type NotificationAttributes,
} from '../../model/attributes.js';
import { LinkFormatError, formatLinkFormat, parseLinkFormat, type Link } from '../../model/link-format.js';
import type { ObjectModel } from '../../model/object-definition.js';
import { InvalidPathError, LwM2mPath, normalizeAlternatePath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import {
  formatExecuteArguments,
  parseExecuteArguments,
  parseExecuteQuery,
} from '../../operations/execute-arguments.js';
import { OperationError, isResultCode, isSuccessCode } from '../../operations/result-code.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  ExecuteArgument,
  Notification,
  ObserveCompositeRequest,
  ObserveRequest,
} from '../../operations/requests.js';
import {
  chooseCompositeAccept,
  chooseCompositeRequestFormat,
  chooseResponseFormat,
  chooseWriteFormat,
  type PeerFormats,
  type ValueReadRequest,
} from './format-choice.js';

/**
 * The CoAP mapping of the downlink operations (LWM2M-1.2.md §1.1, §1.3, §1.4; Transport TS CoAP
 * binding): typed request → CoAP request and CoAP response → typed response on the server side,
 * and the inverse pair on the client side. Pure: no I/O, no state.
 */

/** Server side: what the mapping needs to know about the registration a downlink goes to. */
export interface DownlinkContext {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly peer: PeerFormats;
  /** The registration's alternate path (`/lwm2m`): DM/IR paths are sent under it (Core §6.2.1). */
  readonly alternatePath?: string;
  /** Object versions from `ver=`, by object id. */
  readonly versions?: ReadonlyMap<number, string>;
}

/** Client side: how the client reads the requests it receives and writes its answers. */
export interface ClientDownlinkContext {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  /** The alternate path this client registered; DM/IR requests must come under it. */
  readonly alternatePath?: string;
  readonly versions?: ReadonlyMap<number, string>;
  /**
   * The sender is the Bootstrap-Server: PUT, GET and DELETE are then Bootstrap-Write, -Read/-Discover
   * and -Delete, and the alternate path does not apply (Core §6.2.1: the BS never uses it).
   */
  readonly bootstrap?: boolean;
}

export type DownlinkDecodeReason =
  | 'not-a-response' // an empty message or a request code where a response was due
  | 'missing-format' // a payload without Content-Format that cannot be guessed
  | 'undecodable-payload' // the payload does not decode in its Content-Format
  | 'bad-location'; // a Create's Location-Path is not an instance of the target object

/** A client's answer the server cannot turn into a typed response; never a partial result. */
export class DownlinkDecodeError extends PetrelError {
  readonly reason: DownlinkDecodeReason;
  /** The CoAP code of the answer (`2.05`). */
  readonly responseCode: string;
  /** Its Content-Format, when it had one. */
  readonly format: number | undefined;
  constructor(
    reason: DownlinkDecodeReason,
    message: string,
    details: { responseCode: string; format?: number | undefined; cause?: unknown },
  ) {
    super('PETREL_ERR_DOWNLINK_DECODE', message, { cause: details.cause });
    this.reason = reason;
    this.responseCode = details.responseCode;
    this.format = details.format;
  }
}

const LINK_FORMAT = 40;
const TEXT = 0;
/** Path-list formats of Read-/Observe-Composite (Core §6.3.2, §6.4.1). */
const COMPOSITE_PATH_FORMATS: ReadonlySet<number> = new Set([110, 112, 320, 322]);
/** Formats of Write-Composite (Core §6.3.4). */
const COMPOSITE_WRITE_FORMATS: ReadonlySet<number> = new Set([110, 112, 320, 322, 11544]);
const EMPTY = new Uint8Array(0);

type BootstrapKind = 'bootstrap-write' | 'bootstrap-read' | 'bootstrap-discover' | 'bootstrap-delete';
const isBootstrap = (request: DownlinkRequest): boolean => request.kind.startsWith('bootstrap-');

// ---- paths ----

function altSegments(alternatePath: string | undefined): string[] {
  const alt = alternatePath === undefined ? '' : normalizeAlternatePath(alternatePath);
  return alt === '' ? [] : alt.slice(1).split('/');
}

/** Uri-Path: alternate path, gateway prefix, identifiers. */
function uriSegments(path: LwM2mPath, alt: readonly string[]): string[] {
  const out = [...alt];
  if (path.prefix !== undefined) out.push(path.prefix);
  for (const id of path.ids) out.push(String(id));
  return out;
}

/** The path as codecs see it: the LwM2M path, without the alternate path (that is Uri-Path only). */
function lwm2mPath(path: LwM2mPath): LwM2mPath {
  return path.alternatePath === undefined ? path : new LwM2mPath(path.ids, path.prefix);
}

function startsWith(segments: readonly string[], head: readonly string[]): boolean {
  return head.length <= segments.length && head.every((s, i) => segments[i] === s);
}

// ---- server side: request encoding ----

function encodeError(e: unknown): never {
  if (e instanceof ContentFormatError)
    throw e.coapCode === '4.15'
      ? new OperationError('unsupported-format', '4.15', e.message, { cause: e })
      : new OperationError('bad-payload', '4.00', e.message, { cause: e });
  throw e;
}

function requireFormat(format: number, allowed: ReadonlySet<number>, what: string): void {
  if (!allowed.has(format))
    throw new OperationError('unsupported-format', '4.15', `${what} cannot use content format ${format}`);
}

/**
 * The CoAP request for a downlink operation (Transport TS CoAP binding tables): method, Uri-Path
 * under the registration's alternate path (never for Bootstrap operations), the options in number
 * order, and the payload in the request's format or the one format-choice picks. Always CON.
 * Throws OperationError for values the chosen format cannot carry or a format the operation
 * does not allow.
 */
export function encodeDownlinkRequest(request: DownlinkRequest, ctx: DownlinkContext): OutgoingRequest {
  const alt = isBootstrap(request) ? [] : altSegments(ctx.alternatePath);
  const opts = new OptionsBuilder();
  const codecCtx = (path: LwM2mPath): CodecContext => ({
    path: lwm2mPath(path),
    model: ctx.model,
    ...(ctx.versions !== undefined ? { versions: ctx.versions } : {}),
  });
  const encodeRecords = (format: number, records: readonly LwM2mRecord[], at: LwM2mPath): Uint8Array => {
    try {
      return ctx.codecs.encode(format, records, codecCtx(at));
    } catch (e) {
      return encodeError(e);
    }
  };
  const pathList = (paths: readonly LwM2mPath[], format: number): Uint8Array => {
    requireFormat(format, COMPOSITE_PATH_FORMATS, 'a composite path list');
    return encodeRecords(
      format,
      paths.map((p) => ({ path: lwm2mPath(p) })),
      LwM2mPath.ROOT,
    );
  };
  const withAccept = (accept: number | undefined): void => {
    if (accept !== undefined) opts.uint(OptionNumber.ACCEPT, accept);
  };
  let code: number;
  let payload: Uint8Array | undefined;

  switch (request.kind) {
    case 'read':
    case 'bootstrap-read':
      code = CoapCode.GET;
      opts.uriPath(uriSegments(request.path, alt));
      withAccept(request.accept);
      break;
    case 'discover':
    case 'bootstrap-discover':
      code = CoapCode.GET;
      opts.uriPath(uriSegments(request.path, alt));
      if (request.kind === 'discover' && request.depth !== undefined)
        opts.uriQuery([`depth=${request.depth}`]);
      opts.uint(OptionNumber.ACCEPT, LINK_FORMAT);
      break;
    case 'write':
    case 'bootstrap-write': {
      code = request.kind === 'write' && request.mode === 'update' ? CoapCode.POST : CoapCode.PUT;
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      opts.uriPath(uriSegments(request.path, alt)).uint(OptionNumber.CONTENT_FORMAT, format);
      payload = encodeRecords(format, request.records, request.path);
      break;
    }
    case 'write-attributes':
      code = CoapCode.PUT;
      opts.uriPath(uriSegments(request.path, alt)).uriQuery(attributeQuery(request.attributes));
      break;
    case 'execute':
      code = CoapCode.POST;
      opts.uriPath(uriSegments(request.path, alt));
      if (request.arguments !== undefined && request.arguments.length > 0) {
        // text/plain (Core §5.4.5); the Content-Format also tells a partial update of a
        // multiple resource (POST /o/i/r with TLV or SenML) from an Execute.
        opts.uint(OptionNumber.CONTENT_FORMAT, TEXT);
        payload = new TextEncoder().encode(formatExecuteArguments(request.arguments));
      }
      break;
    case 'create': {
      code = CoapCode.POST;
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      opts.uriPath(uriSegments(request.path, alt)).uint(OptionNumber.CONTENT_FORMAT, format);
      try {
        payload = encodeCreatePayload(ctx.codecs, format, request.instance, codecCtx(request.path));
      } catch (e) {
        encodeError(e);
      }
      break;
    }
    case 'delete':
    case 'bootstrap-delete':
      code = CoapCode.DELETE;
      opts.uriPath(uriSegments(request.path, alt));
      break;
    case 'read-composite':
    case 'observe-composite':
    case 'cancel-observation-composite': {
      code = CoapCode.FETCH;
      if (request.kind !== 'read-composite')
        opts.uint(OptionNumber.OBSERVE, request.kind === 'observe-composite' ? 0 : 1);
      const format = request.format ?? chooseCompositeRequestFormat(ctx.peer);
      opts.uriPath(alt).uint(OptionNumber.CONTENT_FORMAT, format);
      if (request.kind === 'observe-composite' && request.attributes !== undefined)
        opts.uriQuery(compositeAttributeQuery(request.attributes));
      opts.uint(OptionNumber.ACCEPT, request.accept ?? chooseCompositeAccept(ctx.peer));
      payload = pathList(request.paths, format);
      break;
    }
    case 'write-composite': {
      code = CoapCode.IPATCH;
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      requireFormat(format, COMPOSITE_WRITE_FORMATS, 'Write-Composite');
      opts.uriPath(alt).uint(OptionNumber.CONTENT_FORMAT, format);
      payload = encodeRecords(format, request.records, LwM2mPath.ROOT);
      break;
    }
    case 'observe':
    case 'cancel-observation':
      code = CoapCode.GET;
      opts.uint(OptionNumber.OBSERVE, request.kind === 'observe' ? 0 : 1);
      opts.uriPath(uriSegments(request.path, alt));
      if (request.kind === 'observe' && request.attributes !== undefined)
        opts.uriQuery(attributeQuery(request.attributes));
      withAccept(request.accept);
      break;
    case 'bootstrap-finish':
      code = CoapCode.POST;
      opts.uriPath(['bs']);
      break;
  }
  const out: { code: number; options: CoapOption[]; payload?: Uint8Array; confirmable: boolean } = {
    code,
    options: opts.build(),
    confirmable: true,
  };
  if (payload !== undefined) out.payload = payload;
  return out;
}

function attributeQuery(attrs: NotificationAttributeChanges): string[] {
  try {
    return formatAttributeQuery(attrs);
  } catch (e) {
    if (e instanceof AttributeError)
      throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
    throw e;
  }
}

function compositeAttributeQuery(attrs: NotificationAttributes): string[] {
  try {
    checkObserveCompositeAttributes(attrs);
  } catch (e) {
    if (e instanceof AttributeError)
      throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
    throw e;
  }
  return attributeQuery(attrs);
}

// ---- server side: response decoding ----

/** A diagnostic payload (RFC 7252 §5.5.2) when it is printable UTF-8 text. */
function diagnosticOf(payload: Uint8Array): string | undefined {
  if (payload.length === 0 || !isUtf8(payload)) return undefined;
  const text = new TextDecoder().decode(payload);
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

/** The path a request's values are decoded at: `/` for composites. */
function valuesPath(request: ValueReadRequest): LwM2mPath {
  return 'path' in request ? lwm2mPath(request.path) : LwM2mPath.ROOT;
}

/**
 * The values of a 2.05. An empty payload is no values (an object without instances, Core §6.3.1).
 * Without Content-Format (RFC 7252 §5.10.3: the format is then unknown), a payload answering a
 * single resource or resource instance is read as text/plain, as clients that forget the option
 * mean; anywhere else it is refused.
 */
function decodeValues(
  message: CoapMessage,
  path: LwM2mPath,
  ctx: DownlinkContext,
  code: string,
): LwM2mRecord[] {
  if (message.payload.length === 0) return [];
  const format = contentFormatOption(message);
  if (format === undefined && path.depth < 3)
    throw new DownlinkDecodeError(
      'missing-format',
      `a ${code} payload for ${path.toString()} has no Content-Format`,
      {
        responseCode: code,
      },
    );
  try {
    return ctx.codecs.decode(format ?? TEXT, message.payload, {
      path,
      model: ctx.model,
      ...(ctx.versions !== undefined ? { versions: ctx.versions } : {}),
    });
  } catch (e) {
    if (!(e instanceof ContentFormatError)) throw e;
    throw new DownlinkDecodeError(
      'undecodable-payload',
      `${code} payload (format ${format ?? 'none'}): ${e.message}`,
      {
        responseCode: code,
        format,
        cause: e,
      },
    );
  }
}

function decodeLinks(message: CoapMessage, alt: readonly string[], legacy: boolean, code: string): Link[] {
  const format = contentFormatOption(message);
  if (format !== undefined && format !== LINK_FORMAT)
    throw new DownlinkDecodeError(
      'undecodable-payload',
      `a Discover answer in format ${format}, not link-format`,
      {
        responseCode: code,
        format,
      },
    );
  let links: Link[];
  try {
    links = parseLinkFormat(message.payload, { legacyRootParams: legacy });
  } catch (e) {
    if (!(e instanceof LinkFormatError)) throw e;
    throw new DownlinkDecodeError('undecodable-payload', `Discover answer: ${e.message}`, {
      responseCode: code,
      format,
      cause: e,
    });
  }
  if (alt.length === 0) return links;
  // A client with an alternate path names its links under it, as in its Register payload.
  const head = `/${alt.join('/')}`;
  return links.map((l) =>
    l.target === head
      ? { ...l, target: '/' }
      : l.target.startsWith(`${head}/`)
        ? { ...l, target: l.target.slice(head.length) }
        : l,
  );
}

function decodeLocation(
  message: CoapMessage,
  request: Extract<DownlinkRequest, { kind: 'create' }>,
  alt: readonly string[],
  code: string,
): LwM2mPath | undefined {
  let segments = locationPath(message);
  if (segments.length === 0) {
    const id = request.instance.instanceId;
    return id === undefined ? undefined : lwm2mPath(request.path).append(id);
  }
  if (alt.length > 0 && startsWith(segments, alt)) segments = segments.slice(alt.length);
  const target = lwm2mPath(request.path);
  const location = segments.some((s) => s.includes('/'))
    ? undefined
    : LwM2mPath.tryParse(`/${segments.join('/')}`);
  if (location === undefined || !location.isObjectInstance() || !target.covers(location))
    throw new DownlinkDecodeError(
      'bad-location',
      `Create of ${target.toString()} answered Location /${segments.join('/')}`,
      { responseCode: code },
    );
  return location;
}

/**
 * The typed answer to a downlink request. 2.05 payloads are decoded by their Content-Format at
 * the request path (`/` for composites); Discover answers are links (targets without the
 * alternate path); a Create's 2.01 gives the new instance from Location-Path (or from the request
 * when the client sent none); an error's text payload becomes `diagnostic`. Throws
 * DownlinkDecodeError rather than return values it could not read.
 */
export function decodeDownlinkResponse(
  message: CoapMessage,
  request: DownlinkRequest,
  ctx: DownlinkContext,
): DownlinkResponse {
  const code = formatCode(message.code);
  if (!isResultCode(code))
    throw new DownlinkDecodeError('not-a-response', `code ${code} is not a response`, { responseCode: code });
  const format = contentFormatOption(message);
  const base = format === undefined ? { code } : { code, format };
  if (!isSuccessCode(code)) {
    const diagnostic = diagnosticOf(message.payload);
    return diagnostic === undefined ? base : { ...base, diagnostic };
  }
  const alt = isBootstrap(request) ? [] : altSegments(ctx.alternatePath);
  switch (request.kind) {
    case 'discover':
    case 'bootstrap-discover':
      if (code !== '2.05') return base;
      return { ...base, links: decodeLinks(message, alt, request.kind === 'bootstrap-discover', code) };
    case 'create':
      if (code !== '2.01') return base;
      {
        const location = decodeLocation(message, request, alt, code);
        return location === undefined ? base : { ...base, location };
      }
    default:
      if (code !== '2.05' || !isValueRead(request)) return base;
      return { ...base, records: decodeValues(message, valuesPath(request), ctx, code) };
  }
}

/**
 * A notification of an Observe or Observe-Composite (RFC 7641; Core §6.4.4): the sequence from the
 * Observe option, CON or NON, and the values decoded like the first answer.
 */
export function decodeNotification(
  message: CoapMessage,
  request: ObserveRequest | ObserveCompositeRequest,
  ctx: DownlinkContext,
): Notification {
  const code = formatCode(message.code);
  if (!isResultCode(code))
    throw new DownlinkDecodeError('not-a-response', `code ${code} is not a notification`, {
      responseCode: code,
    });
  const format = contentFormatOption(message);
  const out = {
    sequence: observeOption(message),
    code,
    confirmable: message.type === 'CON',
    ...(format !== undefined ? { format } : {}),
  };
  if (code !== '2.05') return out;
  return { ...out, records: decodeValues(message, valuesPath(request), ctx, code) };
}

// ---- client side: request decoding ----

const badPath = (message: string, code: '4.04' | '4.05' = '4.05'): OperationError =>
  new OperationError('bad-path', code, message);

function knownFormat(id: number): ContentFormatId | undefined {
  return lookupContentFormat(id)?.id;
}

function methodName(code: number): string {
  const entry = Object.entries(CoapCode).find(([, v]) => v === code);
  return entry ? entry[0] : formatCode(code);
}

/**
 * Decodes a request a client received into the operation it asks for (the inverse of
 * encodeDownlinkRequest). Errors are OperationError with the code the client answers:
 * - a path outside the registered alternate path → 4.04; a path that is not a LwM2M path, or a
 *   method the target does not allow → 4.05 ('bad-path');
 * - an unknown Content-Format, or one the operation does not allow → 4.15; an unknown Accept → 4.06
 *   ('unsupported-format');
 * - a payload that does not decode, or a payload without Content-Format → 4.00 ('bad-payload');
 * - bad query attributes → 4.00 ('bad-attributes'); bad Execute arguments → 4.00 ('bad-arguments').
 * Uri-Query parameters of operations that define none (Read, Write, Create ...) are ignored; an
 * Execute without payload takes its arguments from the query. POST `/bs` is Bootstrap-Finish in
 * either mode (the engine checks the sender); in bootstrap mode an Observe option is ignored.
 * Structural checks only: whether the operation suits the target is operations/validation's job.
 */
export function decodeDownlinkRequest(message: CoapMessage, ctx: ClientDownlinkContext): DownlinkRequest {
  const method = message.code;
  const segments = uriPath(message);
  // Bootstrap-Finish (Core §6.1.7.6); the client engine checks it came from the Bootstrap-Server.
  if (method === CoapCode.POST && segments.length === 1 && segments[0] === 'bs')
    return { kind: 'bootstrap-finish' };
  const path = requestPath(segments, ctx);
  const query = uriQuery(message);
  const accept = requestAccept(message);
  const observe = observeOption(message);
  const decode = (at: LwM2mPath) => decodeRequestValues(message, at, ctx);

  if (ctx.bootstrap) {
    const kind = bootstrapKind(method, accept);
    if (kind === undefined) throw badPath(`${methodName(method)} is not a Bootstrap operation`);
    switch (kind) {
      case 'bootstrap-discover':
      case 'bootstrap-delete':
        return { kind, path };
      case 'bootstrap-read':
        return accept === undefined ? { kind, path } : { kind, path, accept };
      case 'bootstrap-write': {
        const { format, records } = decode(path);
        return { kind, path, records, format };
      }
    }
  }

  switch (method) {
    case CoapCode.GET: {
      if (observe === 0 || observe === 1) {
        const withAccept = accept === undefined ? {} : { accept };
        if (observe === 1) return { kind: 'cancel-observation', path, ...withAccept };
        const attributes = observeAttributes(query, false);
        return { kind: 'observe', path, ...(attributes ? { attributes } : {}), ...withAccept };
      }
      if (observe !== undefined)
        throw new OperationError('bad-parameter', '4.00', `Observe=${observe} on a request (0 or 1 only)`);
      if (accept === LINK_FORMAT) {
        const depth = discoverDepth(query);
        return depth === undefined ? { kind: 'discover', path } : { kind: 'discover', path, depth };
      }
      return accept === undefined ? { kind: 'read', path } : { kind: 'read', path, accept };
    }
    case CoapCode.FETCH: {
      if (!path.isRoot() || path.prefix !== undefined)
        throw badPath(`FETCH (composite) targets the root, not ${path.toString()}`);
      if (observe !== undefined && observe !== 0 && observe !== 1)
        throw new OperationError('bad-parameter', '4.00', `Observe=${observe} on a request (0 or 1 only)`);
      const { format, records } = decodeRequestValues(message, LwM2mPath.ROOT, ctx, {
        formats: COMPOSITE_PATH_FORMATS,
        what: 'a composite path list',
      });
      if (records.some((r) => r.value !== undefined))
        throw new OperationError('bad-payload', '4.00', 'a composite path list carries values');
      const paths = records.map((r) => r.path);
      const withAccept = accept === undefined ? {} : { accept };
      if (observe === undefined) return { kind: 'read-composite', paths, format, ...withAccept };
      if (observe === 1) return { kind: 'cancel-observation-composite', paths, format, ...withAccept };
      const attributes = observeAttributes(query, true);
      return {
        kind: 'observe-composite',
        paths,
        format,
        ...(attributes ? { attributes } : {}),
        ...withAccept,
      };
    }
    case CoapCode.IPATCH: {
      if (!path.isRoot() || path.prefix !== undefined)
        throw badPath(`iPATCH (Write-Composite) targets the root, not ${path.toString()}`);
      const { format, records } = decodeRequestValues(message, LwM2mPath.ROOT, ctx, {
        formats: COMPOSITE_WRITE_FORMATS,
        what: 'Write-Composite',
      });
      return { kind: 'write-composite', records, format };
    }
    case CoapCode.PUT: {
      if (contentFormatOption(message) === undefined && message.payload.length === 0)
        return { kind: 'write-attributes', path, attributes: attributeChanges(query) };
      const { format, records } = decode(path);
      return { kind: 'write', path, mode: 'replace', records, format };
    }
    case CoapCode.POST:
      return decodePost(message, path, ctx);
    case CoapCode.DELETE:
      return { kind: 'delete', path };
    default:
      throw badPath(`${methodName(method)} is not a LwM2M method`);
  }
}

function bootstrapKind(method: number, accept: number | undefined): BootstrapKind | undefined {
  switch (method) {
    case CoapCode.GET:
      return accept === LINK_FORMAT ? 'bootstrap-discover' : 'bootstrap-read';
    case CoapCode.PUT:
      return 'bootstrap-write';
    case CoapCode.DELETE:
      return 'bootstrap-delete';
    default:
      return undefined;
  }
}

/** POST: Create on `/o`, Partial Update on `/o/i`, Execute or Partial Update on `/o/i/r`. */
function decodePost(message: CoapMessage, path: LwM2mPath, ctx: ClientDownlinkContext): DownlinkRequest {
  const cf = contentFormatOption(message);
  switch (path.depth) {
    case 1: {
      if (cf === undefined && message.payload.length === 0)
        return { kind: 'create', path, instance: { instanceId: undefined, resources: [] } };
      const format = payloadFormat(message);
      let instances;
      try {
        instances = decodeCreatePayload(ctx.codecs, format, message.payload, codecContext(path, ctx));
      } catch (e) {
        throw payloadError(e);
      }
      const [instance] = instances;
      if (instance === undefined || instances.length > 1)
        throw new OperationError(
          'bad-payload',
          '4.00',
          `a Create carries ${instances.length} instances, not one`,
        );
      return { kind: 'create', path, instance, format };
    }
    case 2: {
      const { format, records } = decodeRequestValues(message, path, ctx);
      return { kind: 'write', path, mode: 'update', records, format };
    }
    case 3: {
      // Execute carries no payload or text/plain arguments; any other format is a Partial Update
      // of a multiple resource (Core §6.3.3 table).
      if (cf === undefined || cf === TEXT) {
        const args = executeArguments(message);
        return args.length === 0 ? { kind: 'execute', path } : { kind: 'execute', path, arguments: args };
      }
      const { format, records } = decodeRequestValues(message, path, ctx);
      return { kind: 'write', path, mode: 'update', records, format };
    }
    default:
      throw badPath(`POST is not allowed on ${path.toString()}`);
  }
}

/**
 * Execute arguments: the text/plain payload (Core §5.4.5), or, without one, the Uri-Query form
 * the Transport TS shows for the Registration Update Trigger (`POST /1/x/8?0=U`).
 */
function executeArguments(message: CoapMessage): ExecuteArgument[] {
  if (message.payload.length > 0) return parseExecuteArguments(message.payload);
  const query = uriQuery(message);
  return query.length === 0 ? [] : parseExecuteQuery(query);
}

function requestPath(segments: readonly string[], ctx: ClientDownlinkContext): LwM2mPath {
  let segs = segments;
  if (!ctx.bootstrap) {
    const alt = altSegments(ctx.alternatePath);
    if (alt.length > 0) {
      if (!startsWith(segs, alt))
        throw badPath(`/${segs.join('/')} is outside the alternate path /${alt.join('/')}`, '4.04');
      segs = segs.slice(alt.length);
    }
  }
  if (segs.some((s) => s.includes('/'))) throw badPath(`a Uri-Path segment holds "/"`);
  try {
    return LwM2mPath.parse(`/${segs.join('/')}`);
  } catch (e) {
    if (e instanceof InvalidPathError) throw badPath(e.message);
    throw e;
  }
}

function requestAccept(message: CoapMessage): ContentFormatId | undefined {
  const accept = acceptOption(message);
  if (accept === undefined) return undefined;
  const known = knownFormat(accept);
  if (known === undefined)
    throw new OperationError('unsupported-format', '4.06', `Accept ${accept} is not a LwM2M content format`);
  return known;
}

/** The Content-Format of a request payload: required (Core §6.3: "MUST be set"), and known. */
function payloadFormat(message: CoapMessage): ContentFormatId {
  const cf = contentFormatOption(message);
  if (cf === undefined) throw new OperationError('bad-payload', '4.00', 'a payload without Content-Format');
  const known = knownFormat(cf);
  if (known === undefined)
    throw new OperationError('unsupported-format', '4.15', `Content-Format ${cf} is not a LwM2M format`);
  return known;
}

function codecContext(path: LwM2mPath, ctx: ClientDownlinkContext): CodecContext {
  return { path, model: ctx.model, ...(ctx.versions !== undefined ? { versions: ctx.versions } : {}) };
}

function payloadError(e: unknown): unknown {
  if (!(e instanceof ContentFormatError)) return e;
  return e.coapCode === '4.15'
    ? new OperationError('unsupported-format', '4.15', e.message, { cause: e })
    : new OperationError('bad-payload', '4.00', e.message, { cause: e });
}

function decodeRequestValues(
  message: CoapMessage,
  path: LwM2mPath,
  ctx: ClientDownlinkContext,
  allowed?: { formats: ReadonlySet<number>; what: string },
): { format: ContentFormatId; records: LwM2mRecord[] } {
  const format = payloadFormat(message);
  if (allowed !== undefined && !allowed.formats.has(format))
    throw new OperationError('unsupported-format', '4.15', `${allowed.what} in format ${format}`);
  try {
    return { format, records: ctx.codecs.decode(format, message.payload, codecContext(path, ctx)) };
  } catch (e) {
    throw payloadError(e);
  }
}

function attributeChanges(query: readonly string[]): NotificationAttributeChanges {
  try {
    return parseAttributeQuery(query);
  } catch (e) {
    if (e instanceof AttributeError)
      throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
    throw e;
  }
}

/** Observation attributes (1.2): values required; composites allow only pmin, pmax, epmin, epmax, con. */
function observeAttributes(query: readonly string[], composite: boolean): NotificationAttributes | undefined {
  if (query.length === 0) return undefined;
  const changes = attributeChanges(query);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(changes)) {
    if (value === null)
      throw new OperationError('bad-attributes', '4.00', `observation attribute ${name} needs a value`);
    if (value !== undefined) out[name] = value;
  }
  if (composite) {
    try {
      checkObserveCompositeAttributes(out);
    } catch (e) {
      if (e instanceof AttributeError)
        throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
      throw e;
    }
  }
  return out;
}

/** `depth=0..3` (1.2 Discover); any other parameter of a Discover is refused. */
function discoverDepth(query: readonly string[]): 0 | 1 | 2 | 3 | undefined {
  let depth: 0 | 1 | 2 | 3 | undefined;
  for (const item of query) {
    const m = /^depth=([0-3])$/.exec(item);
    if (!m || depth !== undefined)
      throw new OperationError(
        'bad-parameter',
        '4.00',
        `Discover query "${item.slice(0, 40)}" (only depth=0..3)`,
      );
    depth = Number(m[1]) as 0 | 1 | 2 | 3;
  }
  return depth;
}

// ---- client side: response encoding ----

/**
 * The CoAP answer of a client to `request`: the code; a Create's 2.01 with Location-Path (under
 * the alternate path); Discover links as link-format (40) with targets under the alternate path;
 * values in `response.format`, the request's Accept, or format-choice's default; an error's
 * `diagnostic` as a text payload. The Observe option of an Observe answer is the endpoint's.
 * Throws OperationError ('unsupported-format' 4.06) when the values do not fit the format.
 */
export function encodeDownlinkResponse(
  response: DownlinkResponse,
  request: DownlinkRequest,
  ctx: ClientDownlinkContext,
): CoapResponse {
  const code = parseCode(response.code);
  if (code === undefined)
    throw new OperationError('bad-parameter', '5.00', `bad result code ${response.code}`);
  if (!isSuccessCode(response.code))
    return response.diagnostic === undefined || response.diagnostic === ''
      ? { code }
      : { code, payload: new TextEncoder().encode(response.diagnostic) };
  const alt = isBootstrap(request) || ctx.bootstrap ? [] : altSegments(ctx.alternatePath);
  const opts = new OptionsBuilder();
  let payload: Uint8Array | undefined;
  if (
    response.links !== undefined &&
    (request.kind === 'discover' || request.kind === 'bootstrap-discover')
  ) {
    const head = alt.length === 0 ? '' : `/${alt.join('/')}`;
    const links =
      head === ''
        ? response.links
        : response.links.map((l) => ({ ...l, target: l.target === '/' ? head : `${head}${l.target}` }));
    opts.uint(OptionNumber.CONTENT_FORMAT, LINK_FORMAT);
    payload = new TextEncoder().encode(formatLinkFormat(links));
  } else if (response.location !== undefined && request.kind === 'create') {
    opts.strings(OptionNumber.LOCATION_PATH, uriSegments(response.location, alt));
  } else if (response.records !== undefined && isValueRead(request)) {
    const format =
      response.format ?? chooseResponseFormat(request, response.records, ctx.model, ctx.versions);
    opts.uint(OptionNumber.CONTENT_FORMAT, format);
    payload = encodeValues(format, response.records, valuesPath(request), ctx);
  }
  const options = opts.build();
  const out: { code: number; options?: CoapOption[]; payload?: Uint8Array } = { code };
  if (options.length > 0) out.options = options;
  if (payload !== undefined && payload.length > 0) out.payload = payload;
  return out;
}

/**
 * A client's notification for an observation (RFC 7641 §4.2: the endpoint adds the Observe
 * sequence): the values in the notification's format or the observation's Accept or the default.
 */
export function encodeNotification(
  notification: Omit<Notification, 'sequence' | 'confirmable'>,
  request: ObserveRequest | ObserveCompositeRequest,
  ctx: ClientDownlinkContext,
): CoapResponse {
  return encodeDownlinkResponse(
    {
      code: notification.code,
      ...(notification.format !== undefined ? { format: notification.format } : {}),
      ...(notification.records !== undefined ? { records: notification.records } : {}),
    },
    request,
    ctx,
  );
}

function isValueRead(request: DownlinkRequest): request is ValueReadRequest {
  switch (request.kind) {
    case 'read':
    case 'observe':
    case 'cancel-observation':
    case 'read-composite':
    case 'observe-composite':
    case 'cancel-observation-composite':
    case 'bootstrap-read':
      return true;
    default:
      return false;
  }
}

function encodeValues(
  format: number,
  records: readonly LwM2mRecord[],
  path: LwM2mPath,
  ctx: ClientDownlinkContext,
): Uint8Array {
  if (records.length === 0) return EMPTY;
  try {
    return ctx.codecs.encode(format, records, codecContext(path, ctx));
  } catch (e) {
    if (!(e instanceof ContentFormatError)) throw e;
    throw new OperationError('unsupported-format', '4.06', e.message, { cause: e });
  }
}
