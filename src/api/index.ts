// petrel-lwm2m/api: the REST API of the LwM2M server (docs/rest-api.md).
export * from './api-server.js';
export * from './api-errors.js';
export * from './api-path.js';
export * from './event-recorder.js';
export * from './operation-response.js';
export * from './client-summary.js';
export * from './rates.js';
