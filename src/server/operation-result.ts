import { lookupContentFormat } from '../content/content-format.js';
import type { Link } from '../model/link-format.js';
import { buildTree } from '../model/node-tree.js';
import type { NodeTree } from '../model/node-tree.js';
import type { LwM2mRecord } from '../model/records.js';
import { recordsToJson } from '../model/records-json.js';
import type { RecordsJson } from '../model/records-json.js';
import type { DownlinkResponse, Notification } from '../operations/requests.js';
import { isAllowedResultCode, isSuccessCode } from '../operations/result-code.js';
import type { OperationName, ResultCode } from '../operations/result-code.js';

/**
 * What every server request resolves with: the client's result code and what came with it, in
 * three shapes: `records` (flat, typed), `tree` (the node tree) and `values` (the JSON convention
 * of `petrel codec`: `{"/3/0/0": "Acme"}`). `id` is the command's message identity (Msg-Iden-001).
 */
export class OperationResult {
  readonly id: string;
  readonly endpoint: string;
  /** The operation this answers (`'read'`, `'observe'` for notifications, `'send'` for a Send). */
  readonly operation: OperationName;
  readonly code: ResultCode;
  /** The canonical name of the payload's format (`'lwm2m-cbor'`), or its number when unknown. */
  readonly format: string | number | undefined;
  readonly records: readonly LwM2mRecord[];
  readonly links: readonly Link[] | undefined;
  /** Create: the new instance's path (`/3303/1`). */
  readonly location: string | undefined;
  readonly diagnostic: string | undefined;
  /** The CoAP token (hex) and message id of the request, when the binding has them. */
  readonly token: string | undefined;
  readonly messageId: number | undefined;
  #tree: NodeTree | undefined;
  #values: RecordsJson | undefined;

  constructor(
    id: string,
    endpoint: string,
    operation: OperationName,
    response: DownlinkResponse | Notification,
    wire: { token?: string; messageId?: number } = {},
  ) {
    this.id = id;
    this.endpoint = endpoint;
    this.operation = operation;
    this.code = response.code;
    this.format =
      response.format === undefined
        ? undefined
        : (lookupContentFormat(response.format)?.name ?? response.format);
    this.records = response.records ?? [];
    this.links = 'links' in response ? response.links : undefined;
    this.location = 'location' in response ? response.location?.toString() : undefined;
    this.diagnostic = 'diagnostic' in response ? response.diagnostic : undefined;
    this.token = wire.token;
    this.messageId = wire.messageId;
  }

  get success(): boolean {
    return isSuccessCode(this.code);
  }

  /**
   * Whether the client answered with a code the spec allows for the operation (Transport TS: "the
   * only valid response codes"). Real clients stray: client B in the captures answers 5.00 where
   * 4.06 is due, and 4.06 where 4.15 is; the result keeps their code, this flags it.
   */
  get conforms(): boolean {
    return isAllowedResultCode(this.operation, this.code);
  }

  /** The node tree of the timeless records (historical ones belong to `records`/`values`). */
  get tree(): NodeTree {
    this.#tree ??= buildTree(this.records.filter((r) => r.time === undefined));
    return this.#tree;
  }

  get values(): RecordsJson {
    this.#values ??= recordsToJson(this.records);
    return this.#values;
  }

  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      endpoint: this.endpoint,
      operation: this.operation,
      code: this.code,
      ...(this.format === undefined ? {} : { format: this.format }),
      ...(this.records.length > 0 ? { values: this.values } : {}),
      ...(this.links === undefined ? {} : { links: this.links }),
      ...(this.location === undefined ? {} : { location: this.location }),
      ...(this.diagnostic === undefined ? {} : { diagnostic: this.diagnostic }),
    };
  }
}
