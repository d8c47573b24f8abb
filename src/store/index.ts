// petrel-lwm2m/store: where the server keeps its state. One interface per concern, a memory and an
// SQLite and a Redis implementation, one contract suite for all.
export * from './registration-store.js';
export * from './memory-registration-store.js';
export * from './sqlite-registration-store.js';
export * from './registration-json.js';
export * from './redis-registration-store.js';
export {
  CredentialConflictError,
  StoreOptionError,
  StoreSpecError,
  StoreUnavailableError,
  TagError,
} from './store-errors.js';
export * from './document-json.js';
export * from './observation-store.js';
export * from './credential-store.js';
export * from './bootstrap-config-store.js';
export * from './tag-store.js';
export * from './normalize-tags.js';
export * from './event-log.js';
export { type EventLogOptions, DEFAULT_EVENT_CAPACITY, DEFAULT_EVENT_LIMIT } from './event-log-rules.js';
export * from './stores.js';
export * from './memory-observation-store.js';
export * from './memory-credential-store.js';
export * from './memory-bootstrap-config-store.js';
export * from './memory-tag-store.js';
export * from './memory-event-log.js';
export {
  type OpenSqliteDatabaseOptions,
  type SqliteDatabaseOptions,
  openSqliteDatabase,
} from './sqlite-database.js';
export * from './sqlite-driver.js';
export * from './sqlite-observation-store.js';
export * from './sqlite-credential-store.js';
export * from './sqlite-bootstrap-config-store.js';
export * from './sqlite-tag-store.js';
export * from './sqlite-event-log.js';
export { REDIS_CONNECT_TIMEOUT_MS, closeRedis, connectRedis } from './redis-connection.js';
export * from './redis-observation-store.js';
export * from './redis-credential-store.js';
export * from './redis-bootstrap-config-store.js';
export * from './redis-tag-store.js';
export * from './redis-event-log.js';
export * from './open-stores.js';
