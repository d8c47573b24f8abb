// petrel-lwm2m/binding/mqtt: the LwM2M 1.2 MQTT binding (docs/mqtt.md): the 1.2.2 message map,
// topics, operations <-> maps (both roles), the server and client bindings, an embedded broker.
export * from './mqtt-message-map.js';
export * from './mqtt-topics.js';
export * from './mqtt-not-applicable.js';
export * from './mqtt-connection.js';
export * from './mqtt-downlink-codec.js';
export * from './mqtt-uplink-codec.js';
export * from './mqtt-server-binding.js';
export * from './mqtt-client-binding.js';
export * from './embedded-broker.js';
