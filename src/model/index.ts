// `petrel-lwm2m/model`: identifiers, paths, values, records and trees, and the object definitions.
export * from './ids.js';
export * from './path.js';
export * from './data-types.js';
export * from './records.js';
export * from './node-tree.js';
export * from './object-definition.js';
export * from './ddf-loader.js';
export * from './object-registry.js';
export * from './core-objects.js';
export * from './link-format.js';
export * from './attributes.js';
export * from './registration-payload.js';
export * from './value-json.js';
export * from './records-json.js';
