// The LwM2M Bootstrap-Server (issue 8, first slice): configurations, the session plan, and the
// server that runs Bootstrap-Request sessions and answers Bootstrap-Pack-Request.
export * from './bootstrap-config.js';
export * from './bootstrap-server.js';
