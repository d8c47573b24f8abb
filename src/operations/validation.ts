import {
  AttributeError,
  checkObserveCompositeAttributes,
  NOTIFICATION_ATTRIBUTES,
  validateNotificationAttributes,
} from '../model/attributes.js';
import type {
  AttributeLevel,
  NotificationAttributeChanges,
  NotificationAttributeName,
  NotificationAttributes,
} from '../model/attributes.js';
import { isValidId } from '../model/ids.js';
import type { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import { findConflict } from '../model/records.js';
import { formatExecuteArguments } from './execute-arguments.js';
import type { DownlinkRequest } from './requests.js';
import { OperationError } from './result-code.js';
import { versionFeatures } from './version.js';
import type { VersionFeatures } from './version.js';

/*
 * The rules a downlink request must follow before it goes to a client (Core §6.1, §6.3, §6.4;
 * LWM2M-1.2.md §1). A sender checks locally; each error carries the code the client would answer.
 * Choices:
 * - Every path of the wrong depth for its operation is 'bad-path' 4.05: the Transport TS answers
 *   "a path that breaks the Core path rules" with 4.05, and an operation on a level it does not
 *   address is the same kind of fault. That includes Bootstrap-Read outside /1 and /2.
 * - Discover addresses object, instance or resource, not a resource instance (the depth table of
 *   Core §6.3.3 has no resource-instance row).
 * - A format the operation never uses is 'unsupported-format': 4.15 for a payload's format, 4.06
 *   for an Accept. A format the operation uses but the peer's version lacks is
 *   'not-supported-by-version' 4.00, as for every other feature the version lacks.
 * - Resource-instance targets need 1.1 (1.0 paths end at the resource).
 */

/** Objects only the Bootstrap-Server may touch: Security, OSCORE, COSE, MQTT Server (§4.9). */
/** Formats of a Write Partial Update: TLV, LwM2M CBOR, SenML JSON/CBOR (and 1.0/1.1's LwM2M JSON). */
const UPDATE_FORMATS: readonly number[] = [110, 112, 11542, 11543, 11544];

export const BOOTSTRAP_ONLY_OBJECTS: readonly number[] = Object.freeze([0, 21, 23, 24]);

export function isBootstrapOnlyObject(objectId: number | undefined): boolean {
  return objectId !== undefined && BOOTSTRAP_ONLY_OBJECTS.includes(objectId);
}

/** Value formats a single-target Read/Observe may ask for, and a Write may carry. */
const VALUE_FORMATS: readonly number[] = [0, 42, 60, 110, 112, 11542, 11543, 11544];
/** Create: formats that carry a whole instance. */
const CREATE_FORMATS: readonly number[] = [110, 112, 11542, 11543, 11544];
/** Bootstrap-Read answers (TLV, LwM2M CBOR, SenML; LwM2M JSON for a 1.1 client). */
const BOOTSTRAP_READ_FORMATS: readonly number[] = [110, 112, 11542, 11543, 11544];
/** The path list of Read-/Observe-Composite and their cancels. */
const COMPOSITE_PATH_FORMATS: readonly number[] = [110, 112, 320, 322];
/** Answers to the composite reads. */
const COMPOSITE_ACCEPT_FORMATS: readonly number[] = [110, 112, 11544];
const WRITE_COMPOSITE_FORMATS: readonly number[] = [110, 112, 320, 322, 11544];

type Depths = readonly number[];
const DEPTH_NAMES = ['the root', 'an object', 'an object instance', 'a resource', 'a resource instance'];

function badPath(op: string, path: LwM2mPath, allowed: Depths): never {
  const what = allowed.map((d) => DEPTH_NAMES[d]).join(' or ');
  throw new OperationError(
    'bad-path',
    '4.05',
    `${op} addresses ${what}, not ${DEPTH_NAMES[path.depth]} (${path.toString()})`,
  );
}

function notInVersion(features: VersionFeatures, what: string): never {
  throw new OperationError(
    'not-supported-by-version',
    '4.00',
    `${what} is not available to a LwM2M ${features.version} client`,
  );
}

/** Depth, bootstrap-only objects and the 1.0 resource-instance limit of one target path. */
function checkTarget(
  op: string,
  path: LwM2mPath,
  allowed: Depths,
  features: VersionFeatures,
  bootstrap = false,
): void {
  if (!allowed.includes(path.depth)) badPath(op, path, allowed);
  if (!bootstrap && isBootstrapOnlyObject(path.objectId))
    throw new OperationError(
      'bootstrap-only',
      '4.01',
      `${op} on ${path.toString()}: object ${path.objectId} is reachable only through bootstrap`,
    );
  if (path.depth === 4 && !features.resourceInstancePaths)
    notInVersion(features, `${op} on a resource instance (${path.toString()})`);
}

function checkFormat(
  op: string,
  format: number | undefined,
  allowed: readonly number[],
  features: VersionFeatures,
  kind: 'payload' | 'accept',
): void {
  if (format === undefined) return;
  if (!allowed.includes(format))
    throw new OperationError(
      'unsupported-format',
      kind === 'payload' ? '4.15' : '4.06',
      `${op} cannot use content format ${format} ${kind === 'payload' ? 'for its payload' : 'as Accept'}`,
    );
  if (!features.contentFormats.includes(format)) notInVersion(features, `content format ${format}`);
}

function badPayload(message: string): never {
  throw new OperationError('bad-payload', '4.00', message);
}

function checkNoConflict(op: string, records: readonly LwM2mRecord[]): void {
  const conflict = findConflict(records);
  if (conflict)
    badPayload(
      `${op}: ${conflict.record.path.toString()} ${conflict.reason === 'duplicate' ? 'appears twice' : 'overlaps another value'}`,
    );
}

/** Values of a Write or Bootstrap-Write: at least one, all at or below the target. */
function checkRecordsUnder(op: string, path: LwM2mPath, records: readonly LwM2mRecord[]): void {
  if (records.length === 0) badPayload(`${op} of ${path.toString()} carries no values`);
  for (const r of records)
    if (!path.covers(r.path)) badPayload(`${op} of ${path.toString()}: ${r.path.toString()} lies outside it`);
  checkNoConflict(op, records);
}

function checkPathList(op: string, paths: readonly LwM2mPath[], features: VersionFeatures): void {
  if (paths.length === 0) badPayload(`${op} needs at least one path`);
  for (const p of paths) checkTarget(op, p, [0, 1, 2, 3, 4], features);
}

function asBadAttributes(e: unknown): never {
  if (e instanceof AttributeError)
    throw new OperationError('bad-attributes', '4.00', e.message, { cause: e });
  throw e;
}

function checkAttributeVersions(
  names: readonly NotificationAttributeName[],
  features: VersionFeatures,
): void {
  for (const name of names)
    if (!features.attributes.includes(name))
      notInVersion(features, `attribute ${name} (LwM2M ${NOTIFICATION_ATTRIBUTES[name].since})`);
}

function definedNames(attrs: NotificationAttributeChanges): NotificationAttributeName[] {
  return (Object.keys(attrs) as NotificationAttributeName[]).filter((n) => attrs[n] !== undefined);
}

/** Observation attributes (Observe 1.2) or Observe-Composite attributes. */
function checkObserveAttributes(
  attrs: NotificationAttributes | undefined,
  target: LwM2mPath | AttributeLevel,
  features: VersionFeatures,
  composite: boolean,
): void {
  if (attrs === undefined) return;
  const names = definedNames(attrs);
  if (names.length === 0) return;
  if (composite ? !features.observeCompositeAttributes : !features.observeAttributes)
    notInVersion(features, composite ? 'attributes on Observe-Composite' : 'attributes on Observe');
  try {
    if (composite) checkObserveCompositeAttributes(attrs);
    checkAttributeVersions(names, features);
    validateNotificationAttributes(attrs, target);
  } catch (e) {
    asBadAttributes(e);
  }
}

function checkWriteAttributes(
  path: LwM2mPath,
  changes: NotificationAttributeChanges,
  features: VersionFeatures,
): void {
  const names = definedNames(changes);
  if (names.length === 0)
    throw new OperationError('bad-attributes', '4.00', `Write-Attributes on ${path.toString()} sets nothing`);
  checkAttributeVersions(names, features);
  const set: { [K in NotificationAttributeName]?: number } = {};
  for (const name of names) {
    const v = changes[name];
    // An unset (null) still names an attribute that must fit the level.
    if (v === null) {
      if (NOTIFICATION_ATTRIBUTES[name].resourceOnly && path.depth < 3)
        throw new OperationError(
          'bad-attributes',
          '4.00',
          `${name} is only allowed on resources, not on ${path.toString()}`,
        );
    } else if (v !== undefined) set[name] = v;
  }
  try {
    validateNotificationAttributes(set, path);
  } catch (e) {
    asBadAttributes(e);
  }
}

/** An object, instance, resource or resource instance: built once, not per request. */
const ANY_DEPTH: Depths = [1, 2, 3, 4];

/**
 * Checks a downlink request against the operation's rules and the peer's enabler version.
 * Throws OperationError with the client's result code; returns nothing when the request is fine.
 */
export function validateDownlinkRequest(request: DownlinkRequest, peer: { lwm2mVersion: string }): void {
  const f = versionFeatures(peer.lwm2mVersion);
  switch (request.kind) {
    case 'read':
    case 'cancel-observation':
      checkTarget(request.kind, request.path, ANY_DEPTH, f);
      checkFormat(request.kind, request.accept, VALUE_FORMATS, f, 'accept');
      return;
    case 'observe':
      checkTarget(request.kind, request.path, ANY_DEPTH, f);
      checkFormat(request.kind, request.accept, VALUE_FORMATS, f, 'accept');
      checkObserveAttributes(request.attributes, request.path, f, false);
      return;
    case 'discover':
      checkTarget(request.kind, request.path, [1, 2, 3], f);
      if (request.depth !== undefined) {
        if (!f.depth) notInVersion(f, 'Discover depth');
        if (!Number.isInteger(request.depth) || request.depth < 0 || request.depth > 3)
          throw new OperationError(
            'bad-parameter',
            '4.00',
            `Discover depth ${String(request.depth)} is not 0..3`,
          );
      }
      return;
    case 'write':
      checkTarget(request.kind, request.path, request.mode === 'replace' ? [2, 3, 4] : [2, 3], f);
      // A Partial Update is a POST: in text/plain on a resource it would read as an Execute, and
      // the spec allows it only in the multi-value formats (Core §6.3.3 Write table).
      checkFormat(
        request.kind,
        request.format,
        request.mode === 'replace' ? VALUE_FORMATS : UPDATE_FORMATS,
        f,
        'payload',
      );
      checkRecordsUnder('Write', request.path, request.records);
      return;
    case 'write-attributes':
      checkTarget(request.kind, request.path, ANY_DEPTH, f);
      checkWriteAttributes(request.path, request.attributes, f);
      return;
    case 'execute':
      checkTarget(request.kind, request.path, [3], f);
      if (request.arguments !== undefined) formatExecuteArguments(request.arguments);
      return;
    case 'create': {
      checkTarget(request.kind, request.path, [1], f);
      checkFormat(request.kind, request.format, CREATE_FORMATS, f, 'payload');
      const { instanceId, resources } = request.instance;
      if (instanceId !== undefined && !isValidId(instanceId))
        badPayload(`Create: instance id ${instanceId} is not 0..65534`);
      for (const r of resources)
        if (r.path.depth < 1 || r.path.depth > 2 || r.path.prefix !== undefined)
          badPayload(
            `Create: ${r.path.toString()} is not a resource (instance) path relative to the instance`,
          );
      checkNoConflict('Create', resources);
      return;
    }
    case 'delete':
      checkTarget(request.kind, request.path, [2, 4], f);
      return;
    case 'read-composite':
    case 'observe-composite':
    case 'cancel-observation-composite':
      if (!f.compositeOperations) notInVersion(f, request.kind);
      checkPathList(request.kind, request.paths, f);
      checkFormat(request.kind, request.format, COMPOSITE_PATH_FORMATS, f, 'payload');
      checkFormat(request.kind, request.accept, COMPOSITE_ACCEPT_FORMATS, f, 'accept');
      if (request.kind === 'observe-composite') checkObserveAttributes(request.attributes, 'object', f, true);
      return;
    case 'write-composite':
      if (!f.compositeOperations) notInVersion(f, request.kind);
      checkFormat(request.kind, request.format, WRITE_COMPOSITE_FORMATS, f, 'payload');
      if (request.records.length === 0) badPayload('write-composite carries no values');
      for (const r of request.records) {
        if (r.path.depth < 3)
          badPayload(`write-composite: ${r.path.toString()} is not a resource or resource instance`);
        checkTarget(request.kind, r.path, [3, 4], f);
        // A value-less record is a SenML-ETCH delete, which only resource instances allow.
        if (r.value === undefined && r.path.depth !== 4)
          badPayload(
            `write-composite: ${r.path.toString()} has no value (only a resource instance can be deleted)`,
          );
      }
      checkNoConflict('write-composite', request.records);
      return;
    case 'bootstrap-write':
      checkTarget(request.kind, request.path, [1, 2, 3], f, true);
      checkFormat(request.kind, request.format, VALUE_FORMATS, f, 'payload');
      checkRecordsUnder('Bootstrap-Write', request.path, request.records);
      return;
    case 'bootstrap-read':
      if (!f.bootstrapRead) notInVersion(f, 'Bootstrap-Read');
      checkTarget(request.kind, request.path, [1, 2], f, true);
      if (request.path.objectId !== 1 && request.path.objectId !== 2)
        throw new OperationError(
          'bad-path',
          '4.05',
          `Bootstrap-Read addresses only /1 and /2, not ${request.path.toString()}`,
        );
      checkFormat(request.kind, request.accept, BOOTSTRAP_READ_FORMATS, f, 'accept');
      return;
    case 'bootstrap-discover':
      checkTarget(request.kind, request.path, [0, 1], f, true);
      return;
    case 'bootstrap-delete':
      checkTarget(request.kind, request.path, [0, 1, 2], f, true);
      return;
    case 'bootstrap-finish':
      return;
  }
}
