// The server side of firmware updates (docs/firmware-server.md).
export * from './campaign-gateway.js';
export * from './download-grants.js';
export * from './firmware-campaigns.js';
export * from './firmware-download-service.js';
export * from './firmware-repository.js';
export * from './campaign-store.js';
