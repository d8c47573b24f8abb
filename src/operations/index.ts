// petrel-lwm2m/operations: LwM2M operations as typed values, their rules and result codes, and the
// binding seam every transport implements.
export * from './requests.js';
export * from './result-code.js';
export * from './binding.js';
export * from './version.js';
export * from './execute-arguments.js';
export * from './profile-id.js';
export * from './registration-parameters.js';
export * from './validation.js';
