// petrel-lwm2m/content: one codec per LwM2M content format, behind one interface.
export * from './content-format.js';
export * from './content-format-error.js';
export * from './content-codec.js';
export * from './codec-registry.js';
export { lookupResource, numberAs, inferNumber } from './typing.js';
export { textCodec } from './text-codec.js';
export { opaqueCodec } from './opaque-codec.js';
export { cborCodec } from './cbor-codec.js';
export { senmlJsonCodec, senmlEtchJsonCodec } from './senml-json-codec.js';
export { senmlCborCodec, senmlEtchCborCodec } from './senml-cbor-codec.js';
export { tlvCodec } from './tlv-codec.js';
export { lwm2mJsonCodec } from './lwm2m-json-codec.js';
export { lwm2mCborCodec } from './lwm2m-cbor-codec.js';
export {
  decodeCbor,
  CborReader,
  CborFloat,
  CborMap,
  CborTagged,
  type CborValue,
} from './cbor/cbor-reader.js';
export { CborWriter, encodeCbor } from './cbor/cbor-writer.js';
export * from './create-payload.js';
