// petrel-lwm2m/store: where the server keeps its state. One interface per concern, a memory and an
// SQLite and a Redis implementation, one contract suite for all.
export * from './registration-store.js';
export * from './memory-registration-store.js';
export * from './sqlite-registration-store.js';
export * from './registration-json.js';
export * from './redis-registration-store.js';
