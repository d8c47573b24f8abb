import { BindingError } from '../binding.js';
import { BlockwiseError } from '../../coap/blockwise.js';
import {
  CoapConnectionClosedError,
  CoapLimitError,
  CoapResetError,
  CoapTimeoutError,
  EndpointClosedError,
} from '../../coap/errors.js';
import { CoapMessageTooLargeError } from '../../coap/reliable-endpoint.js';

/** Turns the CoAP layer's failures into the binding-neutral BindingError. */
export function bindingError(e: unknown): unknown {
  if (e instanceof CoapTimeoutError) return new BindingError('timeout', e.message, { cause: e });
  if (e instanceof CoapResetError) return new BindingError('rejected', e.message, { cause: e });
  if (e instanceof EndpointClosedError) return new BindingError('closed', e.message, { cause: e });
  if (e instanceof CoapLimitError) return new BindingError('rejected', e.message, { cause: e });
  if (e instanceof CoapConnectionClosedError) return new BindingError('closed', e.message, { cause: e });
  if (e instanceof CoapMessageTooLargeError) return new BindingError('too-large', e.message, { cause: e });
  if (e instanceof BlockwiseError)
    return new BindingError(e.reason === 'too-large' ? 'too-large' : 'decode', e.message, { cause: e });
  return e;
}
