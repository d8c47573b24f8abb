import { isUtf8 } from 'node:buffer';
import type { CodecRegistry } from '../../content/codec-registry.js';
import type { CodecContext } from '../../content/content-codec.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import { lookupContentFormat, type ContentFormatId } from '../../content/content-format.js';
import { decodeCreatePayload, encodeCreatePayload } from '../../content/create-payload.js';
import {
  AttributeError,
  checkObserveCompositeAttributes,
  type NotificationAttributeChanges,
  type NotificationAttributes,
} from '../../model/attributes.js';
import { LinkFormatError, formatLinkFormat, parseLinkFormat, type Link } from '../../model/link-format.js';
import type { ObjectModel } from '../../model/object-definition.js';
import { InvalidPathError, LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import { formatExecuteArguments, parseExecuteArguments } from '../../operations/execute-arguments.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  Notification,
  ObserveCompositeRequest,
  ObserveRequest,
} from '../../operations/requests.js';
import { OperationError, isSuccessCode, type ResultCode } from '../../operations/result-code.js';
import { DownlinkDecodeError } from '../coap/downlink-codec.js';
import {
  chooseCompositeAccept,
  chooseResponseFormat,
  chooseWriteFormat,
  type PeerFormats,
  type ValueReadRequest,
} from '../coap/format-choice.js';
import {
  ATTRIBUTE_KEYS,
  BootstrapOperationCode as BS,
  RdOperationCode as RD,
  codeToResult,
  resultToCode,
  type MqttMessage,
} from './mqtt-message-map.js';
import { MqttNotApplicableError } from './mqtt-not-applicable.js';

/*
 * The MQTT mapping of the downlink operations (Transport TS §MQTT, 1.2.2 numbering; LWM2M-1.2.md
 * §3.9): typed request ↔ message map, both sides, pure. Payloads are what the CoAP binding sends
 * (same codecs, same format-choice policy), so roles cannot tell the bindings apart. Choices:
 * - `uri` is the LwM2M path (`/3/0/9`, with a gateway prefix where one applies); the topic
 *   addresses the client, so no alternate path is applied.
 * - `ct` is the payload's format on a request that carries one, and the format asked for (the
 *   Accept) on a request that carries none (Read, Observe, Read-/Observe-Composite: their `paths`
 *   are SenML CBOR by definition, so `ct` is free for the answer's format).
 * - Composite path lists (`paths`) are SenML CBOR names (112); SenML-ETCH CBOR (322) is read too.
 * - Cancel (22) is both cancels; `paths` marks the composite one.
 * - Create's 2.01 names the new instance in `uri`.
 * - Attributes: pmin, pmax, gt, st, epmin, epmax, edge, hqmax have keys; `lt` and `con` have none
 *   and are refused with MqttNotApplicableError. null on a key unsets (Write-Attributes `?pmin`).
 * - Execute arguments are the payload as text (ct 0).
 */

/** The message without its token (the binding adds it). */
export type MqttFields = Omit<MqttMessage, 'token'>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Server side: what the mapping needs to know about the registration a downlink goes to. */
export interface MqttDownlinkContext {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly peer: PeerFormats;
  readonly versions?: ReadonlyMap<number, string>;
}

/** Client side: how the client reads requests and writes its answers. */
export interface MqttClientDownlinkContext {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly versions?: ReadonlyMap<number, string>;
  /** The message came on the `bs` topic: the Bootstrap numbering applies. */
  readonly bootstrap?: boolean;
}

const TEXT = 0;
const LINK_FORMAT = 40;
const SENML_CBOR = 112;
const SENML_ETCH_CBOR = 322;
const COMPOSITE_WRITE_FORMATS: ReadonlySet<number> = new Set([110, 112, 320, 322, 11544]);
const encoder = new TextEncoder();

const codecCtx = (
  path: LwM2mPath,
  ctx: { model: ObjectModel; versions?: ReadonlyMap<number, string> },
): CodecContext => ({
  path,
  model: ctx.model,
  ...(ctx.versions !== undefined ? { versions: ctx.versions } : {}),
});

function encodeError(e: unknown): never {
  if (e instanceof ContentFormatError)
    throw e.coapCode === '4.15'
      ? new OperationError('unsupported-format', '4.15', e.message, { cause: e })
      : new OperationError('bad-payload', '4.00', e.message, { cause: e });
  throw e;
}

/** The attribute keys of a request; `lt` and `con` have none. */
function attributeFields(attrs: NotificationAttributeChanges, composite: boolean): MqttFields {
  for (const name of ['lt', 'con'] as const)
    if (attrs[name] !== undefined)
      throw new MqttNotApplicableError(name, `the MQTT binding has no map key for the ${name} attribute`);
  try {
    if (composite) checkObserveCompositeAttributes(attrs);
  } catch (e) {
    if (e instanceof AttributeError)
      throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
    throw e;
  }
  const out: Record<string, number | null> = {};
  for (const name of ATTRIBUTE_KEYS) {
    const v = attrs[name];
    if (v === undefined) continue;
    if (v !== null && !Number.isFinite(v))
      throw new OperationError('bad-attributes', '4.00', `${name}: ${v} is not a finite number`);
    out[name] = v;
  }
  return out;
}

/** A path list as SenML CBOR names. */
function pathList(paths: readonly LwM2mPath[], ctx: MqttDownlinkContext): Uint8Array {
  try {
    return ctx.codecs.encode(
      SENML_CBOR,
      paths.map((p) => ({ path: p })),
      codecCtx(LwM2mPath.ROOT, ctx),
    );
  } catch (e) {
    return encodeError(e);
  }
}

// ---- server side ----

/**
 * The map for a downlink operation (operation, uri/paths, ct, payload, attributes, depth).
 * Throws OperationError for values the chosen format cannot carry, and MqttNotApplicableError for
 * what the map has no key for.
 */
export function encodeDownlinkRequest(request: DownlinkRequest, ctx: MqttDownlinkContext): MqttFields {
  const encodeAt = (format: number, records: readonly LwM2mRecord[], at: LwM2mPath): Uint8Array => {
    try {
      return ctx.codecs.encode(format, records, codecCtx(at, ctx));
    } catch (e) {
      return encodeError(e);
    }
  };
  const accept = (a: number | undefined): MqttFields => (a === undefined ? {} : { ct: a });
  switch (request.kind) {
    case 'read':
      return { operation: RD.READ, uri: request.path.toString(), ...accept(request.accept) };
    case 'bootstrap-read':
      return { operation: BS.BOOTSTRAP_READ, uri: request.path.toString(), ...accept(request.accept) };
    case 'discover':
      return {
        operation: RD.DISCOVER,
        uri: request.path.toString(),
        ...(request.depth === undefined ? {} : { depth: request.depth }),
      };
    case 'bootstrap-discover':
      return { operation: BS.BOOTSTRAP_DISCOVER, uri: request.path.toString() };
    case 'write':
    case 'bootstrap-write': {
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      const operation =
        request.kind === 'bootstrap-write'
          ? BS.BOOTSTRAP_WRITE
          : request.mode === 'update'
            ? RD.WRITE_PARTIAL
            : RD.WRITE_REPLACE;
      return {
        operation,
        uri: request.path.toString(),
        ct: format,
        payload: encodeAt(format, request.records, request.path),
      };
    }
    case 'write-attributes':
      return {
        operation: RD.WRITE_ATTRIBUTES,
        uri: request.path.toString(),
        ...attributeFields(request.attributes, false),
      };
    case 'execute':
      return {
        operation: RD.EXECUTE,
        uri: request.path.toString(),
        ...(request.arguments === undefined || request.arguments.length === 0
          ? {}
          : { ct: TEXT, payload: encoder.encode(formatExecuteArguments(request.arguments)) }),
      };
    case 'create': {
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      let payload: Uint8Array;
      try {
        payload = encodeCreatePayload(ctx.codecs, format, request.instance, codecCtx(request.path, ctx));
      } catch (e) {
        return encodeError(e);
      }
      return { operation: RD.CREATE, uri: request.path.toString(), ct: format, payload };
    }
    case 'delete':
      return { operation: RD.DELETE, uri: request.path.toString() };
    case 'bootstrap-delete':
      return { operation: BS.BOOTSTRAP_DELETE, uri: request.path.toString() };
    case 'read-composite':
    case 'cancel-observation-composite':
      return {
        operation: request.kind === 'read-composite' ? RD.READ_COMPOSITE : RD.CANCEL,
        paths: pathList(request.paths, ctx),
        ct: request.accept ?? chooseCompositeAccept(ctx.peer),
      };
    case 'observe-composite':
      return {
        operation: RD.OBSERVE_COMPOSITE,
        paths: pathList(request.paths, ctx),
        ct: request.accept ?? chooseCompositeAccept(ctx.peer),
        ...(request.attributes === undefined ? {} : attributeFields(request.attributes, true)),
      };
    case 'write-composite': {
      const format = chooseWriteFormat(request, ctx.peer, ctx.model, ctx.versions);
      if (!COMPOSITE_WRITE_FORMATS.has(format))
        throw new OperationError('unsupported-format', '4.15', `Write-Composite cannot use format ${format}`);
      return {
        operation: RD.WRITE_COMPOSITE,
        ct: format,
        payload: encodeAt(format, request.records, LwM2mPath.ROOT),
      };
    }
    case 'observe':
      return {
        operation: RD.OBSERVE,
        uri: request.path.toString(),
        ...accept(request.accept),
        ...(request.attributes === undefined ? {} : attributeFields(request.attributes, false)),
      };
    case 'cancel-observation':
      return { operation: RD.CANCEL, uri: request.path.toString(), ...accept(request.accept) };
    case 'bootstrap-finish':
      return { operation: BS.BOOTSTRAP_FINISH };
  }
}

/** A diagnostic payload when it is printable UTF-8 text. */
function diagnosticOf(payload: Uint8Array | undefined): string | undefined {
  if (payload === undefined || payload.length === 0 || !isUtf8(payload)) return undefined;
  const text = new TextDecoder().decode(payload);
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

function responseCode(message: MqttMessage): ResultCode {
  const code = message.result === undefined ? undefined : resultToCode(message.result);
  if (code === undefined)
    throw new DownlinkDecodeError('not-a-response', 'the message carries no result', {
      responseCode: String(message.result ?? 'none'),
    });
  return code;
}

function valuesPath(request: ValueReadRequest): LwM2mPath {
  return 'path' in request ? request.path : LwM2mPath.ROOT;
}

/** Values of a 2.05 (or a Notify): as the CoAP binding reads them (text/plain without ct at a resource). */
function decodeValues(
  message: MqttMessage,
  path: LwM2mPath,
  ctx: MqttDownlinkContext,
  code: string,
): LwM2mRecord[] {
  const payload = message.payload;
  if (payload === undefined || payload.length === 0) return [];
  const format = message.ct;
  if (format === undefined && path.depth < 3)
    throw new DownlinkDecodeError('missing-format', `a ${code} payload for ${path.toString()} has no ct`, {
      responseCode: code,
    });
  try {
    return ctx.codecs.decode(format ?? TEXT, payload, codecCtx(path, ctx));
  } catch (e) {
    if (!(e instanceof ContentFormatError)) throw e;
    throw new DownlinkDecodeError(
      'undecodable-payload',
      `${code} payload (ct ${format ?? 'none'}): ${e.message}`,
      {
        responseCode: code,
        format,
        cause: e,
      },
    );
  }
}

function decodeLinks(message: MqttMessage, legacy: boolean, code: string): Link[] {
  if (message.ct !== undefined && message.ct !== LINK_FORMAT)
    throw new DownlinkDecodeError('undecodable-payload', `a Discover answer in ct ${message.ct}`, {
      responseCode: code,
      format: message.ct,
    });
  try {
    return parseLinkFormat(message.payload ?? new Uint8Array(0), { legacyRootParams: legacy });
  } catch (e) {
    if (!(e instanceof LinkFormatError)) throw e;
    throw new DownlinkDecodeError('undecodable-payload', `Discover answer: ${e.message}`, {
      responseCode: code,
      cause: e,
    });
  }
}

function decodeLocation(
  message: MqttMessage,
  request: Extract<DownlinkRequest, { kind: 'create' }>,
  code: string,
): LwM2mPath | undefined {
  if (message.uri === undefined) {
    const id = request.instance.instanceId;
    return id === undefined ? undefined : request.path.append(id);
  }
  const location = LwM2mPath.tryParse(message.uri);
  if (location === undefined || !location.isObjectInstance() || !request.path.covers(location))
    throw new DownlinkDecodeError(
      'bad-location',
      `Create of ${request.path.toString()} answered ${message.uri}`,
      {
        responseCode: code,
      },
    );
  return location;
}

/**
 * The typed answer to a downlink. Throws DownlinkDecodeError (as the CoAP binding does) rather
 * than return values it could not read.
 */
export function decodeDownlinkResponse(
  message: MqttMessage,
  request: DownlinkRequest,
  ctx: MqttDownlinkContext,
): DownlinkResponse {
  const code = responseCode(message);
  const base = message.ct === undefined ? { code } : { code, format: message.ct };
  if (!isSuccessCode(code)) {
    const diagnostic = diagnosticOf(message.payload);
    return diagnostic === undefined ? base : { ...base, diagnostic };
  }
  switch (request.kind) {
    case 'discover':
    case 'bootstrap-discover':
      if (code !== '2.05') return base;
      return { ...base, links: decodeLinks(message, request.kind === 'bootstrap-discover', code) };
    case 'create': {
      if (code !== '2.01') return base;
      const location = decodeLocation(message, request, code);
      return location === undefined ? base : { ...base, location };
    }
    default:
      if (code !== '2.05' || !isValueRead(request)) return base;
      return { ...base, records: decodeValues(message, valuesPath(request), ctx, code) };
  }
}

/** A Notify (operation 23) of an observation: `result` defaults to 2.05. */
export function decodeNotification(
  message: MqttMessage,
  request: ObserveRequest | ObserveCompositeRequest,
  ctx: MqttDownlinkContext,
  sequence: number,
  confirmable: boolean,
): Notification {
  const code = message.result === undefined ? '2.05' : responseCode(message);
  const out = {
    sequence,
    code,
    confirmable,
    ...(message.ct !== undefined ? { format: message.ct } : {}),
  };
  if (code !== '2.05') return out;
  return { ...out, records: decodeValues(message, valuesPath(request), ctx, code) };
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

// ---- client side ----

const badPath = (message: string): OperationError => new OperationError('bad-path', '4.05', message);

function requirePath(message: MqttMessage): LwM2mPath {
  if (message.uri === undefined) throw badPath('the request has no uri');
  try {
    return LwM2mPath.parse(message.uri);
  } catch (e) {
    if (e instanceof InvalidPathError) throw new OperationError('bad-path', '4.05', e.message, { cause: e });
    throw e;
  }
}

function knownFormat(id: number | undefined, code: '4.06' | '4.15'): ContentFormatId | undefined {
  if (id === undefined) return undefined;
  const known = lookupContentFormat(id)?.id;
  if (known === undefined)
    throw new OperationError('unsupported-format', code, `content format ${id} is not a LwM2M format`);
  return known;
}

function payloadError(e: unknown): unknown {
  if (!(e instanceof ContentFormatError)) return e;
  return e.coapCode === '4.15'
    ? new OperationError('unsupported-format', '4.15', e.message, { cause: e })
    : new OperationError('bad-payload', '4.00', e.message, { cause: e });
}

function decodeRequestValues(
  message: MqttMessage,
  path: LwM2mPath,
  ctx: MqttClientDownlinkContext,
  allowed?: ReadonlySet<number>,
): { format: ContentFormatId; records: LwM2mRecord[] } {
  const format = knownFormat(message.ct, '4.15');
  if (format === undefined) throw new OperationError('bad-payload', '4.00', 'a payload without ct');
  if (allowed !== undefined && !allowed.has(format))
    throw new OperationError('unsupported-format', '4.15', `content format ${format} is not allowed here`);
  try {
    return {
      format,
      records: ctx.codecs.decode(format, message.payload ?? new Uint8Array(0), codecCtx(path, ctx)),
    };
  } catch (e) {
    throw payloadError(e);
  }
}

/** The attribute keys of a request as changes (null unsets). */
function attributeChangesOf(message: MqttMessage): NotificationAttributeChanges {
  const out: Record<string, number | null> = {};
  for (const name of ATTRIBUTE_KEYS) {
    const v = message[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function observationAttributes(message: MqttMessage, composite: boolean): NotificationAttributes | undefined {
  const changes = attributeChangesOf(message);
  const entries = Object.entries(changes);
  if (entries.length === 0) return undefined;
  const out: Record<string, number> = {};
  for (const [name, v] of entries) {
    if (v === null)
      throw new OperationError('bad-attributes', '4.00', `observation attribute ${name} needs a value`);
    out[name] = v;
  }
  try {
    if (composite) checkObserveCompositeAttributes(out);
  } catch (e) {
    if (e instanceof AttributeError)
      throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
    throw e;
  }
  return out;
}

function compositePaths(message: MqttMessage, ctx: MqttClientDownlinkContext): LwM2mPath[] {
  if (message.paths === undefined)
    throw new OperationError('bad-payload', '4.00', 'a composite request without paths');
  let records: LwM2mRecord[];
  try {
    records = ctx.codecs.decode(SENML_CBOR, message.paths, codecCtx(LwM2mPath.ROOT, ctx));
  } catch (e) {
    // SenML-ETCH CBOR (322) names the same way; a list written in it is read too.
    try {
      records = ctx.codecs.decode(SENML_ETCH_CBOR, message.paths, codecCtx(LwM2mPath.ROOT, ctx));
    } catch {
      throw payloadError(e);
    }
  }
  if (records.some((r) => r.value !== undefined))
    throw new OperationError('bad-payload', '4.00', 'a composite path list carries values');
  return records.map((r) => r.path);
}

/**
 * Decodes a request a client received (the inverse of encodeDownlinkRequest). Errors are
 * OperationError with the code the client answers (4.05 bad path or unknown operation, 4.00 bad
 * payload or attributes, 4.15 unknown content format, 4.06 unknown format asked for).
 */
export function decodeDownlinkRequest(message: MqttMessage, ctx: MqttClientDownlinkContext): DownlinkRequest {
  const op = message.operation;
  const ask = (): { accept?: ContentFormatId } => {
    const accept = knownFormat(message.ct, '4.06');
    return accept === undefined ? {} : { accept };
  };
  if (ctx.bootstrap) {
    switch (op) {
      case BS.BOOTSTRAP_WRITE: {
        const path = requirePath(message);
        return { kind: 'bootstrap-write', path, ...decodeRequestValues(message, path, ctx) };
      }
      case BS.BOOTSTRAP_READ:
        return { kind: 'bootstrap-read', path: requirePath(message), ...ask() };
      case BS.BOOTSTRAP_DELETE:
        return { kind: 'bootstrap-delete', path: requirePath(message) };
      case BS.BOOTSTRAP_DISCOVER:
        return { kind: 'bootstrap-discover', path: requirePath(message) };
      case BS.BOOTSTRAP_FINISH:
        return { kind: 'bootstrap-finish' };
      default:
        throw badPath(`operation ${op} is not a Bootstrap-Server request`);
    }
  }
  switch (op) {
    case RD.READ:
      return { kind: 'read', path: requirePath(message), ...ask() };
    case RD.DISCOVER: {
      const path = requirePath(message);
      return message.depth === undefined
        ? { kind: 'discover', path }
        : { kind: 'discover', path, depth: message.depth as 0 | 1 | 2 | 3 };
    }
    case RD.WRITE_REPLACE:
    case RD.WRITE_PARTIAL: {
      const path = requirePath(message);
      const mode = op === RD.WRITE_REPLACE ? 'replace' : 'update';
      return { kind: 'write', path, mode, ...decodeRequestValues(message, path, ctx) };
    }
    case RD.WRITE_ATTRIBUTES: {
      const path = requirePath(message);
      const attributes = attributeChangesOf(message);
      return { kind: 'write-attributes', path, attributes };
    }
    case RD.EXECUTE: {
      const path = requirePath(message);
      if (message.ct !== undefined && message.ct !== TEXT)
        throw new OperationError(
          'unsupported-format',
          '4.15',
          `Execute arguments are text, not ct ${message.ct}`,
        );
      const args = message.payload === undefined ? [] : parseExecuteArguments(message.payload);
      return args.length === 0 ? { kind: 'execute', path } : { kind: 'execute', path, arguments: args };
    }
    case RD.CREATE: {
      const path = requirePath(message);
      if (message.payload === undefined || message.payload.length === 0)
        return { kind: 'create', path, instance: { instanceId: undefined, resources: [] } };
      const format = knownFormat(message.ct, '4.15');
      if (format === undefined)
        throw new OperationError('bad-payload', '4.00', 'a Create payload without ct');
      let instances;
      try {
        instances = decodeCreatePayload(ctx.codecs, format, message.payload, codecCtx(path, ctx));
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
    case RD.DELETE:
      return { kind: 'delete', path: requirePath(message) };
    case RD.READ_COMPOSITE:
      return { kind: 'read-composite', paths: compositePaths(message, ctx), format: SENML_CBOR, ...ask() };
    case RD.OBSERVE_COMPOSITE: {
      const attributes = observationAttributes(message, true);
      return {
        kind: 'observe-composite',
        paths: compositePaths(message, ctx),
        format: SENML_CBOR,
        ...(attributes ? { attributes } : {}),
        ...ask(),
      };
    }
    case RD.WRITE_COMPOSITE:
      return {
        kind: 'write-composite',
        ...decodeRequestValues(message, LwM2mPath.ROOT, ctx, COMPOSITE_WRITE_FORMATS),
      };
    case RD.OBSERVE: {
      const attributes = observationAttributes(message, false);
      return { kind: 'observe', path: requirePath(message), ...(attributes ? { attributes } : {}), ...ask() };
    }
    case RD.CANCEL:
      return message.paths !== undefined
        ? {
            kind: 'cancel-observation-composite',
            paths: compositePaths(message, ctx),
            format: SENML_CBOR,
            ...ask(),
          }
        : { kind: 'cancel-observation', path: requirePath(message), ...ask() };
    default:
      throw badPath(`operation ${op} is not a request a client answers`);
  }
}

/**
 * The client's answer map (result, ct, payload, uri): Discover links as link format (40), a
 * Create's new instance in `uri`, values in the response's format, the Accept or format-choice's
 * default, an error's diagnostic as a text payload. Throws OperationError (4.06) when the values
 * do not fit the format.
 */
export function encodeDownlinkResponse(
  response: DownlinkResponse,
  request: DownlinkRequest,
  ctx: MqttClientDownlinkContext,
): MqttFields {
  const result = codeToResult(response.code);
  if (!isSuccessCode(response.code))
    return response.diagnostic === undefined || response.diagnostic === ''
      ? { result }
      : { result, payload: encoder.encode(response.diagnostic) };
  const out: Mutable<MqttFields> = { result };
  if (
    response.links !== undefined &&
    (request.kind === 'discover' || request.kind === 'bootstrap-discover')
  ) {
    out.ct = LINK_FORMAT;
    out.payload = encoder.encode(formatLinkFormat(response.links));
  } else if (response.location !== undefined && request.kind === 'create') {
    out.uri = response.location.toString();
  } else if (response.records !== undefined && isValueRead(request)) {
    const format =
      response.format ?? chooseResponseFormat(request, response.records, ctx.model, ctx.versions);
    out.ct = format;
    if (response.records.length > 0) {
      try {
        out.payload = ctx.codecs.encode(format, response.records, codecCtx(valuesPath(request), ctx));
      } catch (e) {
        if (!(e instanceof ContentFormatError)) throw e;
        throw new OperationError('unsupported-format', '4.06', e.message, { cause: e });
      }
    }
  }
  return out;
}

/** A Notify map of an observation (operation 23, values as in the first answer). */
export function encodeNotification(
  notification: { readonly records: readonly LwM2mRecord[]; readonly format?: number },
  request: ObserveRequest | ObserveCompositeRequest,
  ctx: MqttClientDownlinkContext,
): MqttFields {
  const fields = encodeDownlinkResponse(
    {
      code: '2.05',
      records: notification.records,
      ...(notification.format === undefined ? {} : { format: notification.format }),
    },
    request,
    ctx,
  );
  const { result: _result, ...rest } = fields;
  return { operation: RD.NOTIFY, ...rest };
}
