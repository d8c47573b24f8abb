// petrel-lwm2m/binding/coap: LwM2M operations <-> CoAP messages (both roles), the server and client
// bindings, and the binding seam every transport implements (binding/binding.ts).
export * from '../binding.js';
export * from './format-choice.js';
export * from './downlink-codec.js';
export * from './uplink-codec.js';
export * from './coap-server-binding.js';
