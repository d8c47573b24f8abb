import type { CodecRegistry } from '../../content/codec-registry.js';
import { ContentFormatError } from '../../content/content-format-error.js';
import { LinkFormatError } from '../../model/link-format.js';
import type { ObjectModel } from '../../model/object-definition.js';
import { LwM2mPath } from '../../model/path.js';
import type { LwM2mRecord } from '../../model/records.js';
import {
  formatRegistrationPayload,
  LinkPayloadError,
  type RegistrationPayload,
} from '../../model/registration-payload.js';
import {
  checkEndpointName,
  formatLegacyBinding,
  formatRegisterQuery,
  formatUpdateQuery,
  parseRegisterParameters,
  parseUpdateParameters,
} from '../../operations/registration-parameters.js';
import type { UplinkRequest, UplinkResponse } from '../../operations/requests.js';
import { OperationError, isSuccessCode } from '../../operations/result-code.js';
import { BOOTSTRAP_PREFERRED_FORMATS, SEND_FORMATS } from '../coap/uplink-codec.js';
import type { MqttFields } from './mqtt-downlink-codec.js';
import {
  BootstrapOperationCode as BS,
  RdOperationCode as RD,
  codeToResult,
  resultToCode,
  type MqttMessage,
} from './mqtt-message-map.js';
import { MqttNotApplicableError } from './mqtt-not-applicable.js';
import type { MqttInterface } from './mqtt-topics.js';
import { sharedRegistrationPayloads } from '../../model/registration-payload-cache.js';

/*
 * The MQTT mapping of the uplink operations (Transport TS §MQTT, 1.2.2 numbering):
 *   Register (rd 6)          ep, lifetime, version, b, sms; payload = object links (ct 40)
 *   Update (rd 7)            uri = registration id; lifetime, b, sms; optional object links
 *   De-register (rd 8)       uri = registration id
 *   Send (rd 24)             ct (110/112/11544), payload
 *   Bootstrap-Request (bs 0) ep, pct
 *   Bootstrap-Pack (bs 6)    ep, ct = the format asked for
 * Register parameters go through the same parser as CoAP's query (registration-parameters.ts),
 * so both bindings give the same typed RegisterRequest. Choices (docs/mqtt.md):
 * - Queue mode has no key: it travels in `b` in the 1.0 spelling (`MQ`), which the parser
 *   accepts from any version.
 * - `pid`, `acc` and extra Register parameters have no key: MqttNotApplicableError (4.00).
 * - A Register's 2.01 carries the registration id in `uri`; Update and De-register send it back
 *   in `uri`. Without one, the binding falls back to what it knows for the topic.
 * - Error answers carry their diagnostic as a UTF-8 payload without ct.
 */

export interface MqttUplinkOptions {
  readonly codecs: CodecRegistry;
  readonly model: ObjectModel;
  readonly allowUnknownParameters?: boolean;
  readonly supportedVersions?: readonly string[];
}

const LINK_FORMAT = 40;
const encoder = new TextEncoder();
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });

function objectList(message: MqttMessage, op: string): RegistrationPayload | undefined {
  if (message.ct !== undefined && message.ct !== LINK_FORMAT)
    throw new OperationError(
      'unsupported-format',
      '4.15',
      `${op} carries its object list as link format (40), not content format ${message.ct}`,
    );
  if (message.payload === undefined || message.payload.length === 0) return undefined;
  try {
    return sharedRegistrationPayloads.parse(message.payload);
  } catch (e) {
    if (e instanceof LinkFormatError || e instanceof LinkPayloadError)
      throw new OperationError('bad-payload', '4.00', `${op} object list: ${e.message}`, { cause: e });
    throw e;
  }
}

function objectListPayload(objects: RegistrationPayload | undefined, op: string): MqttFields {
  if (objects === undefined) return {};
  try {
    return { ct: LINK_FORMAT, payload: encoder.encode(formatRegistrationPayload(objects)) };
  } catch (e) {
    if (e instanceof LinkFormatError || e instanceof LinkPayloadError)
      throw new OperationError('bad-payload', '4.00', `${op} object list: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The keys of the common registration parameters as query items, for the shared parser. */
function commonQuery(message: MqttMessage): string[] {
  const out: string[] = [];
  if (message.lifetime !== undefined) out.push(`lt=${message.lifetime}`);
  if (message.b !== undefined) out.push(`b=${message.b}`);
  if (message.sms !== undefined) out.push(`sms=${message.sms}`);
  return out;
}

/** Which uplink a request on `iface` with this operation code would be, for refusals. */
export function uplinkOperationOf(
  iface: MqttInterface,
  operation: number | undefined,
): UplinkRequest['kind'] | undefined {
  if (iface === 'bs')
    return operation === BS.BOOTSTRAP_REQUEST
      ? 'bootstrap-request'
      : operation === BS.BOOTSTRAP_PACK_REQUEST
        ? 'bootstrap-pack-request'
        : undefined;
  switch (operation) {
    case RD.REGISTER:
      return 'register';
    case RD.UPDATE:
      return 'update';
    case RD.DEREGISTER:
      return 'deregister';
    case RD.SEND:
      return 'send';
    default:
      return undefined;
  }
}

function decodeValues(
  message: MqttMessage,
  options: MqttUplinkOptions,
  op: string,
): { format: number; records: LwM2mRecord[] } {
  const format = message.ct;
  if (format === undefined || !SEND_FORMATS.includes(format))
    throw new OperationError(
      'unsupported-format',
      '4.15',
      `${op} carries SenML JSON, SenML CBOR or LwM2M CBOR, not ${format === undefined ? 'a payload without ct' : `content format ${format}`}`,
    );
  try {
    const records = options.codecs.decode(format, message.payload ?? new Uint8Array(0), {
      path: LwM2mPath.ROOT,
      model: options.model,
    });
    return { format, records };
  } catch (e) {
    if (e instanceof ContentFormatError)
      throw e.coapCode === '4.15'
        ? new OperationError('unsupported-format', '4.15', `${op}: ${e.message}`, { cause: e })
        : new OperationError('bad-payload', '4.00', `${op}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * A client's request as a typed uplink (server side). `registrationId` is the fallback for an
 * Update / De-register without `uri`. Throws OperationError with the code to answer (4.05 for an
 * operation that is not an uplink on this topic).
 */
export function decodeUplinkRequest(
  message: MqttMessage,
  iface: MqttInterface,
  options: MqttUplinkOptions,
  registrationId?: string,
): UplinkRequest {
  const kind = uplinkOperationOf(iface, message.operation);
  const idOf = (): string => {
    const id = message.uri ?? registrationId;
    if (id === undefined || id === '')
      throw new OperationError(
        'not-registered',
        '4.04',
        'no registration id (uri) and none known for the topic',
      );
    return id;
  };
  const allowUnknownParameters = options.allowUnknownParameters ?? false;
  switch (kind) {
    case 'register': {
      const query: string[] = [];
      if (message.ep !== undefined) query.push(`ep=${message.ep}`);
      query.push(...commonQuery(message));
      if (message.version !== undefined) query.push(`lwm2m=${message.version}`);
      return parseRegisterParameters(query, objectList(message, 'Register'), {
        allowUnknownParameters,
        ...(options.supportedVersions === undefined ? {} : { supportedVersions: options.supportedVersions }),
      });
    }
    case 'update':
      return parseUpdateParameters(idOf(), commonQuery(message), objectList(message, 'Update'), {
        allowUnknownParameters,
      });
    case 'deregister':
      return { kind: 'deregister', registrationId: idOf() };
    case 'send': {
      const { format, records } = decodeValues(message, options, 'Send');
      if (records.length === 0) throw new OperationError('bad-payload', '4.00', 'Send carries no values');
      return { kind: 'send', format, records };
    }
    case 'bootstrap-request': {
      const pct = message.pct;
      if (pct !== undefined && !BOOTSTRAP_PREFERRED_FORMATS.includes(pct))
        throw new OperationError('unsupported-format', '4.15', `pct ${pct} is not a Bootstrap-Write format`);
      return {
        kind: 'bootstrap-request',
        endpoint: message.ep === undefined ? undefined : checkEndpointName(message.ep),
        preferredFormat: pct,
      };
    }
    case 'bootstrap-pack-request': {
      if (message.ct !== undefined && !SEND_FORMATS.includes(message.ct))
        throw new OperationError(
          'unsupported-format',
          '4.06',
          `a Bootstrap-Pack comes as SenML JSON, SenML CBOR or LwM2M CBOR, not content format ${message.ct}`,
        );
      return {
        kind: 'bootstrap-pack-request',
        endpoint: message.ep === undefined ? undefined : checkEndpointName(message.ep),
        accept: message.ct,
        accounts: undefined,
      };
    }
    case undefined:
      throw new OperationError(
        'bad-path',
        '4.05',
        `operation ${message.operation} is not an uplink on the ${iface} topic`,
      );
  }
}

/**
 * A typed uplink as a map (client side). `binding` is the client's registered binding, for an
 * Update that turns queue mode on without changing `b`. Throws OperationError and
 * MqttNotApplicableError.
 */
export function encodeUplinkRequest(
  request: UplinkRequest,
  options: MqttUplinkOptions & { readonly lwm2mVersion?: string; readonly binding?: string },
): MqttFields {
  switch (request.kind) {
    case 'register': {
      formatRegisterQuery(request); // the same validation as the CoAP binding
      if (request.profileIds.length > 0)
        throw new MqttNotApplicableError('pid', 'the MQTT binding has no map key for pid');
      if (request.extraParameters.size > 0)
        throw new MqttNotApplicableError(
          'extra-parameters',
          'the MQTT binding carries no extra Register parameters',
        );
      return {
        operation: RD.REGISTER,
        ...(request.endpoint === undefined ? {} : { ep: request.endpoint }),
        lifetime: request.lifetime,
        version: request.lwm2mVersion,
        b: formatLegacyBinding(request.binding, request.queueMode),
        ...(request.sms === undefined ? {} : { sms: request.sms }),
        ...objectListPayload(request.objects, 'Register'),
      };
    }
    case 'update': {
      formatUpdateQuery(
        request,
        options.lwm2mVersion === undefined ? {} : { lwm2mVersion: options.lwm2mVersion },
      );
      if (request.profileIds !== undefined && request.profileIds.length > 0)
        throw new MqttNotApplicableError('pid', 'the MQTT binding has no map key for pid');
      let b: string | undefined;
      if (request.binding !== undefined) b = formatLegacyBinding(request.binding, request.queueMode === true);
      else if (request.queueMode === true) {
        if (options.binding === undefined)
          throw new MqttNotApplicableError(
            'Q',
            'queue mode travels in b over MQTT, and the binding is unknown',
          );
        b = formatLegacyBinding(options.binding, true);
      }
      return {
        operation: RD.UPDATE,
        uri: request.registrationId,
        ...(request.lifetime === undefined ? {} : { lifetime: request.lifetime }),
        ...(b === undefined ? {} : { b }),
        ...(request.sms === undefined ? {} : { sms: request.sms }),
        ...objectListPayload(request.objects, 'Update'),
      };
    }
    case 'deregister':
      return { operation: RD.DEREGISTER, uri: request.registrationId };
    case 'send': {
      if (!SEND_FORMATS.includes(request.format))
        throw new OperationError(
          'unsupported-format',
          '4.15',
          `Send cannot use content format ${request.format}`,
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
      return { operation: RD.SEND, ct: request.format, payload };
    }
    case 'bootstrap-request':
      return {
        operation: BS.BOOTSTRAP_REQUEST,
        ...(request.endpoint === undefined ? {} : { ep: checkEndpointName(request.endpoint) }),
        ...(request.preferredFormat === undefined ? {} : { pct: request.preferredFormat }),
      };
    case 'bootstrap-pack-request':
      if (request.accounts !== undefined && request.accounts.length > 0)
        throw new MqttNotApplicableError('acc', 'the MQTT binding has no map key for acc');
      return {
        operation: BS.BOOTSTRAP_PACK_REQUEST,
        ...(request.endpoint === undefined ? {} : { ep: checkEndpointName(request.endpoint) }),
        ...(request.accept === undefined ? {} : { ct: request.accept }),
      };
  }
}

/**
 * The server's answer map (result; the registration id in `uri` on a Register 2.01; a
 * Bootstrap-Pack's records; an error's diagnostic as text).
 */
export function encodeUplinkResponse(
  response: UplinkResponse,
  request: UplinkRequest,
  options: Pick<MqttUplinkOptions, 'codecs' | 'model'>,
): MqttFields {
  const result = codeToResult(response.code);
  if (!isSuccessCode(response.code))
    return response.diagnostic === undefined || response.diagnostic === ''
      ? { result }
      : { result, payload: encoder.encode(response.diagnostic) };
  if (request.kind === 'register') {
    if (response.registrationId === undefined)
      throw new OperationError('bad-payload', '5.00', 'a successful Register answer needs a registration id');
    return { result, uri: response.registrationId };
  }
  if (request.kind === 'bootstrap-pack-request' && response.records !== undefined) {
    const format = response.format ?? request.accept ?? 112;
    try {
      const payload = options.codecs.encode(format, response.records, {
        path: LwM2mPath.ROOT,
        model: options.model,
      });
      return { result, ct: format, payload };
    } catch (e) {
      if (e instanceof ContentFormatError)
        throw new OperationError('bad-payload', '5.00', `Bootstrap-Pack: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return { result };
}

/**
 * Reads the answer to an uplink (client side). A Register 2.01 without `uri` gets `fallbackId`
 * (the binding uses the endpoint name: the topic identifies the registration).
 */
export function decodeUplinkResponse(
  message: MqttMessage,
  request: UplinkRequest,
  options: Pick<MqttUplinkOptions, 'codecs' | 'model'>,
  fallbackId: string,
): UplinkResponse {
  const code = message.result === undefined ? undefined : resultToCode(message.result);
  if (code === undefined) throw new OperationError('bad-payload', '4.00', 'the answer carries no result');
  const base = message.ct === undefined ? { code } : { code, format: message.ct };
  if (!isSuccessCode(code)) {
    const payload = message.payload;
    return payload === undefined || payload.length === 0
      ? base
      : { ...base, diagnostic: lenient.decode(payload) };
  }
  if (request.kind === 'register') return { ...base, registrationId: message.uri ?? fallbackId };
  if (
    request.kind === 'bootstrap-pack-request' &&
    message.payload !== undefined &&
    message.payload.length > 0
  ) {
    const format = message.ct ?? request.accept;
    if (format === undefined) throw new OperationError('bad-payload', '4.00', 'the Bootstrap-Pack has no ct');
    try {
      const records = options.codecs.decode(format, message.payload, {
        path: LwM2mPath.ROOT,
        model: options.model,
      });
      return { ...base, format, records };
    } catch (e) {
      if (e instanceof ContentFormatError)
        throw new OperationError('bad-payload', e.coapCode, `Bootstrap-Pack: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return base;
}
