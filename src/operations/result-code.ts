import { PetrelError } from '../errors.js';

/**
 * An LwM2M result code in CoAP's `c.dd` form (`'2.05'`, `'4.04'`). The spec names its result codes
 * after CoAP's (Transport TS), and the MQTT and HTTP bindings map theirs onto the same set, so
 * the roles speak in these strings whatever the binding.
 */
export type ResultCode = `${2 | 4 | 5}.${string}`;

/** The codes LwM2M uses, by name, for readable code at call sites. */
export const ResultCodes = Object.freeze({
  CREATED: '2.01',
  DELETED: '2.02',
  VALID: '2.03',
  CHANGED: '2.04',
  CONTENT: '2.05',
  CONTINUE: '2.31',
  BAD_REQUEST: '4.00',
  UNAUTHORIZED: '4.01',
  BAD_OPTION: '4.02',
  FORBIDDEN: '4.03',
  NOT_FOUND: '4.04',
  METHOD_NOT_ALLOWED: '4.05',
  NOT_ACCEPTABLE: '4.06',
  REQUEST_ENTITY_INCOMPLETE: '4.08',
  CONFLICT: '4.09',
  PRECONDITION_FAILED: '4.12',
  REQUEST_ENTITY_TOO_LARGE: '4.13',
  UNSUPPORTED_CONTENT_FORMAT: '4.15',
  INTERNAL_SERVER_ERROR: '5.00',
  NOT_IMPLEMENTED: '5.01',
  SERVICE_UNAVAILABLE: '5.03',
} as const satisfies Record<string, ResultCode>);

const CODE_RE = /^[245]\.[0-9]{2}$/;

/** True for a well-formed `c.dd` response code of class 2, 4 or 5. */
export function isResultCode(text: string): text is ResultCode {
  return CODE_RE.test(text);
}

export const isSuccessCode = (code: string): boolean => code.startsWith('2.');

/**
 * Every LwM2M operation, by the spec's name (Core §6, LWM2M-1.2.md §1). Downlink ones go from a
 * server to a client; uplink ones from the client.
 */
export type DownlinkOperationName =
  | 'read'
  | 'read-composite'
  | 'discover'
  | 'write'
  | 'write-composite'
  | 'write-attributes'
  | 'execute'
  | 'create'
  | 'delete'
  | 'observe'
  | 'observe-composite'
  | 'cancel-observation'
  | 'cancel-observation-composite'
  | 'bootstrap-write'
  | 'bootstrap-read'
  | 'bootstrap-discover'
  | 'bootstrap-delete'
  | 'bootstrap-finish';

export type UplinkOperationName =
  'register' | 'update' | 'deregister' | 'send' | 'bootstrap-request' | 'bootstrap-pack-request';

export type OperationName = DownlinkOperationName | UplinkOperationName;

/**
 * The only valid result codes of each operation (Transport TS tables, LWM2M-1.2.md §1.1-1.4),
 * success codes first. 5.00 is always allowed besides these: "if no 4.xx code describes a
 * failure, the client MUST return a 5.xx code".
 */
export const ALLOWED_RESULT_CODES: Readonly<Record<OperationName, readonly ResultCode[]>> = Object.freeze({
  read: ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06'],
  'read-composite': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06', '4.15'],
  discover: ['2.05', '4.00', '4.01', '4.04', '4.05'],
  write: ['2.04', '2.31', '4.00', '4.01', '4.04', '4.05', '4.06', '4.08', '4.13', '4.15'],
  'write-composite': ['2.04', '4.00', '4.01', '4.04', '4.05', '4.06', '4.15'],
  'write-attributes': ['2.04', '4.00', '4.01', '4.04', '4.05'],
  execute: ['2.04', '4.00', '4.01', '4.04', '4.05'],
  create: ['2.01', '4.00', '4.01', '4.04', '4.05', '4.06', '4.15'],
  delete: ['2.02', '4.00', '4.01', '4.04', '4.05'],
  observe: ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06'],
  'observe-composite': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06', '4.15'],
  'cancel-observation': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06'],
  'cancel-observation-composite': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06', '4.15'],
  'bootstrap-write': ['2.04', '4.00', '4.15'],
  'bootstrap-read': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06'],
  'bootstrap-discover': ['2.05', '4.00', '4.04'],
  'bootstrap-delete': ['2.02', '4.00'],
  'bootstrap-finish': ['2.04', '4.00', '4.06'],
  register: ['2.01', '4.00', '4.01', '4.03', '4.09', '4.12'],
  update: ['2.04', '4.00', '4.04'],
  deregister: ['2.02', '4.00', '4.04'],
  send: ['2.04', '4.00', '4.04'],
  'bootstrap-request': ['2.04', '4.00', '4.15'],
  'bootstrap-pack-request': ['2.05', '4.00', '4.01', '4.04', '4.05', '4.06', '5.01'],
});

/** Whether `code` is one the spec lets `operation` answer (any 5.xx counts, see above). */
export function isAllowedResultCode(operation: OperationName, code: string): boolean {
  return code.startsWith('5.') || (ALLOWED_RESULT_CODES[operation] as readonly string[]).includes(code);
}

export type OperationErrorReason =
  | 'bad-path' // the target's depth or ids do not fit the operation
  | 'bootstrap-only' // a DM/IR operation on /0, /21, /23 or /24
  | 'bad-arguments' // Execute arguments outside the grammar
  | 'bad-attributes' // notification attributes invalid or inconsistent
  | 'bad-payload' // values that do not fit the operation (e.g. a Write without values)
  | 'bad-parameter' // a registration parameter with a bad value
  | 'missing-parameter' // a mandatory registration parameter absent
  | 'unknown-parameter' // a registration parameter the spec does not define
  | 'unsupported-version' // an lwm2m= version not served (4.12)
  | 'unknown-profile' // a pid the server cannot resolve (4.09)
  | 'not-supported-by-version' // a feature the peer's enabler version lacks (depth, edge, ...)
  | 'unsupported-format' // a content format the operation or peer cannot use
  | 'not-registered' // an operation for a registration that does not exist (4.04)
  | 'not-allowed'; // refused by policy (4.03)

/**
 * A request that breaks an operation's rules. `resultCode` is what a peer receiving it answers
 * (the spec's code); a sender that catches it before sending gets the same explanation locally.
 */
export class OperationError extends PetrelError {
  readonly reason: OperationErrorReason;
  readonly resultCode: ResultCode;
  constructor(
    reason: OperationErrorReason,
    resultCode: ResultCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('PETREL_ERR_OPERATION', message, options);
    this.reason = reason;
    this.resultCode = resultCode;
  }
}
