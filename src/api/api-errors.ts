import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PetrelError } from '../errors.js';
import { BindingError } from '../binding/binding.js';
import { CoapOptionError } from '../coap/options.js';
import { ContentFormatError } from '../content/content-format-error.js';
import { AttributeError } from '../model/attributes.js';
import { TypeConversionError } from '../model/data-types.js';
import { NodeTreeError } from '../model/node-tree.js';
import { InvalidPathError } from '../model/path.js';
import { RecordsJsonError } from '../model/records-json.js';
import { JsonValueError } from '../model/value-json.js';
import { OperationError } from '../operations/result-code.js';
import { ServerRequestError } from '../server/errors.js';
import { CredentialConflictError, StoreUnavailableError, TagError } from '../store/store-errors.js';

/** The stable error codes of the REST API (docs/rest-api.md), with their HTTP status. */
export const API_ERROR_STATUS = Object.freeze({
  BAD_REQUEST: 400,
  BAD_PATH: 400,
  BAD_VALUE: 400,
  BAD_ATTRIBUTES: 400,
  NOT_ALLOWED: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  UNKNOWN_CLIENT: 404,
  UNKNOWN_OBSERVATION: 404,
  UNKNOWN_OBJECT: 404,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
  CLIENT_UNREACHABLE: 502,
  BAD_RESPONSE: 502,
  QUEUE_FULL: 503,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const);

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

/** The body of every 4xx/5xx answer. */
export interface ApiErrorBody {
  readonly code: ApiErrorCode;
  readonly message: string;
}

/** An error the API answers with: a stable `code` and the HTTP `status` that goes with it. */
export class ApiError extends PetrelError {
  declare readonly code: ApiErrorCode;
  readonly status: number;
  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = API_ERROR_STATUS[code];
  }

  toJSON(): ApiErrorBody {
    return { code: this.code, message: this.message };
  }
}

function serverRequestCode(e: ServerRequestError): ApiErrorCode {
  switch (e.reason) {
    case 'not-registered':
      return 'UNKNOWN_CLIENT';
    case 'timeout':
    case 'queue-expired':
      return 'TIMEOUT';
    case 'rejected':
    case 'registration-ended':
      return 'CLIENT_UNREACHABLE';
    case 'queue-full':
      return 'QUEUE_FULL';
    case 'stopped':
      return 'UNAVAILABLE';
    case 'decode':
      return 'BAD_RESPONSE';
  }
}

function operationCode(e: OperationError): ApiErrorCode {
  switch (e.reason) {
    case 'bad-path':
    case 'bootstrap-only':
    case 'not-supported-by-version':
    case 'not-allowed':
      return 'NOT_ALLOWED';
    case 'bad-attributes':
      return 'BAD_ATTRIBUTES';
    case 'bad-payload':
      return 'BAD_VALUE';
    case 'not-registered':
      return 'UNKNOWN_CLIENT';
    default:
      // bad-arguments, unsupported-format and the registration reasons: the request is malformed.
      return 'BAD_REQUEST';
  }
}

/**
 * Maps whatever a route threw to the API's error: Petrel's typed errors by class and reason,
 * anything else to INTERNAL (its message is not shown: it may carry internals).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ServerRequestError) return new ApiError(serverRequestCode(e), e.message, { cause: e });
  if (e instanceof OperationError) return new ApiError(operationCode(e), e.message, { cause: e });
  if (e instanceof BindingError)
    return new ApiError(e.reason === 'timeout' ? 'TIMEOUT' : 'CLIENT_UNREACHABLE', e.message, { cause: e });
  if (e instanceof InvalidPathError) return new ApiError('BAD_PATH', e.message, { cause: e });
  if (e instanceof AttributeError) return new ApiError('BAD_ATTRIBUTES', e.message, { cause: e });
  if (
    e instanceof TypeConversionError ||
    e instanceof JsonValueError ||
    e instanceof RecordsJsonError ||
    e instanceof ContentFormatError ||
    e instanceof NodeTreeError
  )
    return new ApiError('BAD_VALUE', e.message, { cause: e });
  if (e instanceof TagError) return new ApiError('BAD_REQUEST', e.message, { cause: e });
  if (e instanceof CredentialConflictError) return new ApiError('CONFLICT', e.message, { cause: e });
  if (e instanceof StoreUnavailableError) return new ApiError('UNAVAILABLE', e.message, { cause: e });
  // A request that cannot be put into a CoAP message (an option over its length): the caller's input.
  if (e instanceof CoapOptionError)
    return new ApiError('BAD_REQUEST', `the request does not fit in a CoAP message: ${e.message}`, {
      cause: e,
    });
  return new ApiError('INTERNAL', 'internal error', { cause: e });
}

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** A schema validation failure as one sentence: where, what, and the offending name or choices. */
export function validationMessage(context: string | undefined, issues: readonly ValidationIssue[]): string {
  const issue = issues[0];
  if (!issue) return `${context ?? 'request'} is invalid`;
  const where = `${context ?? 'request'}${issue.instancePath ?? ''}`;
  let message = `${where} ${issue.message ?? 'is invalid'}`;
  const params = issue.params ?? {};
  if (issue.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string')
    message += `: "${params.additionalProperty.slice(0, 64)}"`;
  else if (issue.keyword === 'enum' && Array.isArray(params.allowedValues))
    message += `: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return message;
}

function isFastifyError(e: unknown): e is FastifyError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

/** Text from a request in a message: cut short, so a huge input makes no huge message. */
function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Fastify's own errors (validation, body parsing, size limits, undecodable URLs) in the API's
 * terms. `request` names what was wrong with it where Fastify's message does not.
 */
export function fromFastifyError(
  e: unknown,
  request?: Pick<FastifyRequest, 'url' | 'headers'>,
): ApiError | undefined {
  if (!isFastifyError(e)) return undefined;
  if (e.validation)
    return new ApiError('BAD_REQUEST', validationMessage(e.validationContext, e.validation), { cause: e });
  const status = e.statusCode;
  if (status === undefined || !e.code.startsWith('FST_')) return undefined;
  const url = request === undefined ? '' : `: ${clip(request.url)}`;
  switch (e.code) {
    case 'FST_ERR_BAD_URL':
      return new ApiError('BAD_REQUEST', `the URL has a malformed %-encoding${url}`, { cause: e });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // 414 is not among the API's statuses: a too long endpoint name is a bad request like any other.
      return new ApiError(
        'BAD_REQUEST',
        `a URL segment is longer than ${MAX_PARAM_LENGTH} characters${url}`,
        {
          cause: e,
        },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request?.headers['content-type'];
      return new ApiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `a body of type "${clip(String(type ?? ''), 100)}" is not JSON: send application/json`,
        { cause: e },
      );
    }
  }
  if (status === 413) return new ApiError('TOO_LARGE', clip(e.message), { cause: e });
  if (status === 415) return new ApiError('UNSUPPORTED_MEDIA_TYPE', clip(e.message), { cause: e });
  if (status >= 400 && status < 500) return new ApiError('BAD_REQUEST', clip(e.message), { cause: e });
  return undefined;
}

/** Longest path parameter (endpoint name, observation id) the router takes. */
export const MAX_PARAM_LENGTH = 1024;

function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const api = fromFastifyError(error, request) ?? toApiError(error);
  if (api.status >= 500 && api.code === 'INTERNAL') request.log.error({ err: error }, 'REST API error');
  void reply.status(api.status).send(api.toJSON());
}

/**
 * Installs the error handler that answers `{code, message}`. Errors the router meets before any
 * route (an undecodable URL, an over-long parameter) go through `frameworkErrors`, which the
 * Fastify constructor takes: pass it this function.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
}

/** For the Fastify constructor's `frameworkErrors`: router errors as `{code, message}` too. */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  sendError(error, request, reply);
}
