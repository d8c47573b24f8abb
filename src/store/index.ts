// petrel-lwm2m/store: where the server keeps its state. One interface per concern, a memory and an
// SQLite implementation (Redis comes with the product issue), one contract suite for all.
export * from './registration-store.js';
export * from './memory-registration-store.js';
export * from './sqlite-registration-store.js';
export * from './registration-json.js';
