// petrel-lwm2m/coap: CoAP messages, options, and their wire formats (UDP, reliable transports).
export * from './message.js';
export * from './options.js';
export { CoapFormatError, type CoapFormatReason, encodeCoapUdp, decodeCoapUdp } from './udp-codec.js';
export * from './tcp-codec.js';
export * from './endpoint.js';
export * from './reliable-endpoint.js';
export type { CoapMessaging } from './coap-messaging.js';
export * from './errors.js';
export * from './transmission.js';
export * from './echo.js';
export * from './blockwise.js';
