// The LwM2M Bootstrap-Server (issue 8): configurations and templates, the session plan, and the
// server that runs Bootstrap-Request sessions and answers Bootstrap-Pack-Request.
export * from './bootstrap-config.js';
export * from './bootstrap-template.js';
export * from './bootstrap-server.js';
