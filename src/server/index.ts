// petrel-lwm2m/server: the LwM2M server role (registrations, every DM/IR operation, observations,
// Send, queue mode) over the CoAP binding, and the registration store interface.
export * from './lwm2m-server.js';
export * from './registration.js';
export * from './operation-result.js';
export * from './observation.js';
export * from './errors.js';
export * from './profile-registry.js';
export type { PutResult, RegistrationStore } from '../store/registration-store.js';
export { MemoryRegistrationStore } from '../store/memory-registration-store.js';
export { OperationError, type ResultCode } from '../operations/result-code.js';
export * from './admission.js';
export * from './firmware/index.js';
