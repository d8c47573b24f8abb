// petrel-lwm2m/binding/coap: LwM2M operations <-> CoAP messages (both roles), and the server binding.
export * from './format-choice.js';
export * from './downlink-codec.js';
export * from './uplink-codec.js';
export * from './coap-server-binding.js';
