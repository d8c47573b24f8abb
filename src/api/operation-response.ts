import type { Link, LinkParamValue } from '../model/link-format.js';
import type { LwM2mRecord } from '../model/records.js';
import type { RecordsJson } from '../model/records-json.js';
import { valueToJson } from '../model/value-json.js';
import type { JsonValue } from '../model/value-json.js';
import type { OperationResult } from '../server/operation-result.js';
import { redactRecordValue, redactValues } from './secret-redaction.js';

/** The operation names the API reports (`write-update` is a Write in Partial Update mode). */
export type ApiOperation =
  | 'read'
  | 'write'
  | 'write-update'
  | 'execute'
  | 'create'
  | 'delete'
  | 'discover'
  | 'write-attributes'
  | 'read-composite'
  | 'write-composite'
  | 'observe'
  | 'observe-composite'
  | 'cancel-observation';

/** One typed record: its path, its data type and value (JSON convention), its time when historical. */
export interface RecordJson {
  readonly path: string;
  readonly type?: string;
  readonly value?: JsonValue;
  readonly time?: number;
}

export interface LinkJson {
  readonly target: string;
  readonly params: Record<string, string | number | true | readonly number[]>;
}

/** Msg-Iden-001: the command's id and the CoAP token and message id it went out with. */
export interface MessageIdentityJson {
  readonly commandId: string;
  readonly token?: string;
  readonly messageId?: number;
}

/** The answer of every LwM2M operation route (docs/rest-api.md "Operation response"). */
export interface OperationResponseJson {
  readonly endpoint: string;
  readonly operation: ApiOperation;
  readonly paths: readonly string[];
  /** The client's result code; null when no message was sent (a cancel of a gone registration). */
  readonly code: string | null;
  readonly success: boolean;
  readonly diagnostic?: string;
  readonly format?: string | number;
  readonly values?: RecordsJson;
  readonly records?: readonly RecordJson[];
  readonly links?: readonly LinkJson[];
  readonly location?: string;
  readonly observationId?: string;
  readonly identity?: MessageIdentityJson;
  readonly latencyMs?: number;
}

export function recordsToApiJson(records: readonly LwM2mRecord[]): RecordJson[] {
  return records.map((r) => ({
    path: r.path.toString(),
    ...(r.value === undefined
      ? {}
      : { type: r.value.type, value: redactRecordValue(r.path.toString(), valueToJson(r.value)) }),
    ...(r.time === undefined ? {} : { time: r.time }),
  }));
}

/** Link params as one object; the first of a repeated name wins. */
export function linkToJson(link: Link): LinkJson {
  const params: Record<string, LinkParamValue> = {};
  for (const p of link.params) if (!Object.hasOwn(params, p.name)) params[p.name] = p.value;
  return { target: link.target, params };
}

export interface OperationContext {
  readonly operation: ApiOperation;
  readonly paths: readonly string[];
  readonly latencyMs?: number;
  readonly observationId?: string;
}

/** An OperationResult in the API's JSON form. */
export function operationResponse(result: OperationResult, context: OperationContext): OperationResponseJson {
  const hasRecords = result.records.length > 0;
  return {
    endpoint: result.endpoint,
    operation: context.operation,
    paths: [...context.paths],
    code: result.code,
    success: result.success,
    ...(result.diagnostic === undefined ? {} : { diagnostic: result.diagnostic }),
    ...(result.format === undefined ? {} : { format: result.format }),
    ...(hasRecords ? { values: redactValues(result.values), records: recordsToApiJson(result.records) } : {}),
    ...(result.links === undefined ? {} : { links: result.links.map(linkToJson) }),
    ...(result.location === undefined ? {} : { location: result.location }),
    ...(context.observationId === undefined ? {} : { observationId: context.observationId }),
    identity: {
      commandId: result.id,
      ...(result.token === undefined ? {} : { token: result.token }),
      ...(result.messageId === undefined ? {} : { messageId: result.messageId }),
    },
    ...(context.latencyMs === undefined ? {} : { latencyMs: roundMs(context.latencyMs) }),
  };
}

/** Milliseconds to 0.1 ms: more digits only claim a precision the measurement lacks. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}
