import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError, fromFastifyError, toApiError, validationMessage } from '../../src/api/api-errors.js';
import { BindingError } from '../../src/binding/binding.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import { AttributeError } from '../../src/model/attributes.js';
import { TypeConversionError } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { RecordsJsonError } from '../../src/model/records-json.js';
import { JsonValueError } from '../../src/model/value-json.js';
import { OperationError } from '../../src/operations/result-code.js';
import { ServerRequestError } from '../../src/server/errors.js';
import type { ServerRequestErrorReason } from '../../src/server/errors.js';
import { TagError } from '../../src/store/store-errors.js';

function mapped(e: unknown): [string, number] {
  const api = toApiError(e);
  return [api.code, api.status];
}

describe('toApiError', () => {
  it('maps every ServerRequestError reason', () => {
    const expected: Record<ServerRequestErrorReason, [string, number]> = {
      'not-registered': ['UNKNOWN_CLIENT', 404],
      timeout: ['TIMEOUT', 504],
      'queue-expired': ['TIMEOUT', 504],
      rejected: ['CLIENT_UNREACHABLE', 502],
      'registration-ended': ['CLIENT_UNREACHABLE', 502],
      'queue-full': ['QUEUE_FULL', 503],
      stopped: ['UNAVAILABLE', 503],
      decode: ['BAD_RESPONSE', 502],
    };
    for (const [reason, want] of Object.entries(expected)) {
      const e = new ServerRequestError(reason as ServerRequestErrorReason, 'ep', `msg ${reason}`);
      assert.deepEqual(mapped(e), want, reason);
      assert.equal(toApiError(e).message, `msg ${reason}`);
    }
  });

  it('maps OperationError reasons to what the caller did wrong', () => {
    assert.deepEqual(mapped(new OperationError('bad-path', '4.05', 'execute on an object')), [
      'NOT_ALLOWED',
      400,
    ]);
    assert.deepEqual(mapped(new OperationError('bootstrap-only', '4.01', 'x')), ['NOT_ALLOWED', 400]);
    assert.deepEqual(mapped(new OperationError('not-supported-by-version', '4.00', 'x')), [
      'NOT_ALLOWED',
      400,
    ]);
    assert.deepEqual(mapped(new OperationError('bad-attributes', '4.00', 'x')), ['BAD_ATTRIBUTES', 400]);
    assert.deepEqual(mapped(new OperationError('bad-payload', '4.00', 'x')), ['BAD_VALUE', 400]);
    assert.deepEqual(mapped(new OperationError('bad-arguments', '4.00', 'x')), ['BAD_REQUEST', 400]);
    assert.deepEqual(mapped(new OperationError('unsupported-format', '4.15', 'x')), ['BAD_REQUEST', 400]);
  });

  it('maps model and binding errors', () => {
    assert.deepEqual(mapped(new BindingError('timeout', 'x')), ['TIMEOUT', 504]);
    assert.deepEqual(mapped(new BindingError('rejected', 'x')), ['CLIENT_UNREACHABLE', 502]);
    let pathError: unknown;
    try {
      LwM2mPath.parse('/3/x');
    } catch (e) {
      pathError = e;
    }
    assert.deepEqual(mapped(pathError), ['BAD_PATH', 400]);
    assert.deepEqual(mapped(new AttributeError('inconsistent', 'lt', 'x')), ['BAD_ATTRIBUTES', 400]);
    assert.deepEqual(mapped(new TypeConversionError('text', 'float', 'x')), ['BAD_VALUE', 400]);
    assert.deepEqual(mapped(new JsonValueError('x')), ['BAD_VALUE', 400]);
    assert.deepEqual(mapped(new RecordsJsonError('x')), ['BAD_VALUE', 400]);
    assert.deepEqual(mapped(new ContentFormatError('type-mismatch', 'x')), ['BAD_VALUE', 400]);
    assert.deepEqual(mapped(new TagError('bad tag')), ['BAD_REQUEST', 400]);
  });

  it('hides the message of unexpected errors', () => {
    const api = toApiError(new Error('secret internals at /home/x'));
    assert.equal(api.code, 'INTERNAL');
    assert.equal(api.status, 500);
    assert.equal(api.message, 'internal error');
    assert.deepEqual(api.toJSON(), { code: 'INTERNAL', message: 'internal error' });
  });

  it('keeps an ApiError as it is', () => {
    const e = new ApiError('QUEUE_FULL', 'full');
    assert.equal(toApiError(e), e);
    assert.equal(e.status, 503);
  });
});

describe('validation messages', () => {
  it('names where, what and the offending field', () => {
    assert.equal(
      validationMessage('body', [
        {
          instancePath: '',
          keyword: 'additionalProperties',
          message: 'must NOT have additional properties',
          params: { additionalProperty: 'valu' },
        },
      ]),
      'body must NOT have additional properties: "valu"',
    );
    assert.equal(
      validationMessage('querystring', [
        {
          instancePath: '/mode',
          keyword: 'enum',
          message: 'must be equal to one of the allowed values',
          params: { allowedValues: ['replace', 'update'] },
        },
      ]),
      'querystring/mode must be equal to one of the allowed values: "replace", "update"',
    );
    assert.equal(validationMessage(undefined, []), 'request is invalid');
  });

  it('maps fastify errors by status', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    assert.equal(fromFastifyError(tooLarge)?.code, 'TOO_LARGE');
    const badJson = Object.assign(new Error('Unexpected token'), {
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      statusCode: 400,
    });
    assert.equal(fromFastifyError(badJson)?.code, 'BAD_REQUEST');
    assert.equal(fromFastifyError(new Error('plain')), undefined);
  });
});
