// petrel-lwm2m/client: the LwM2M client role (object tree, access control, registration and
// notification engines) over the CoAP binding.
export * from './lwm2m-client.js';
export * from './object-tree.js';
export * from './instance.js';
export * from './core-instances.js';
export * from './access-control.js';
export * from './attribute-store.js';
export * from './notification-engine.js';
export * from './registration-engine.js';
export * from './server-account.js';
export * from './profile-hash.js';
export * from './request-handler.js';
export * from './security-credentials.js';
export * from './firmware/index.js';
export * from './software/index.js';
