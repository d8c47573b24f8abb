// The client's /5 Firmware Update (docs/firmware-client.md): state machine, instance, stores and
// pull fetchers. Re-exported by the client entry point.
export * from './firmware-state.js';
export * from './firmware-update-instance.js';
export * from './firmware-store.js';
export * from './file-firmware-store.js';
export * from './plain-image-verifier.js';
export * from './pull-transfer.js';
export * from './coap-pull.js';
export * from './http-pull.js';
export * from './update-diagnostics-instance.js';
export * from './firmware-model.js';
export * from '../../firmware/update-diagnostics-object.js';
