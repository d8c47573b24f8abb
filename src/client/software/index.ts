// The client's /9 Software Management (docs/software-client.md): state machines, instance and its
// state store. Re-exported by the client entry point.
export * from './software-state.js';
export * from './software-state-store.js';
export * from './software-management-instance.js';
