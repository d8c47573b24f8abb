// petrel-lwm2m/operations: LwM2M operations as typed values, their rules and result codes. Pure:
// the seam bindings implement (it names transport peers) lives in binding/binding.ts.
export * from './requests.js';
export * from './result-code.js';
export * from './version.js';
export * from './execute-arguments.js';
export * from './profile-id.js';
export * from './registration-parameters.js';
export * from './validation.js';
