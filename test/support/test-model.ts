// The object model every codec test shares, built once: Petrel's built-in core catalogue plus
// TEST_OBJECT, a synthetic object with one resource of every data type, single and multiple (the
// core objects have no multiple Float, Opaque, Boolean, Time or Corelnk resource, for instance).
import type { CodecContext } from '../../src/content/content-codec.js';
import type { ResourceType } from '../../src/model/data-types.js';
import type { ObjectDefinition, ResourceDefinition } from '../../src/model/object-definition.js';
import { createDefaultRegistry, type ObjectRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';

/** A multi-instance object in the OMA test range (42769..42800) with every type; see TEST_TYPES. */
export const TEST_OBJECT = 42769;
/** An object id in the test range the model does not know: decoders infer its types from the payload. */
export const UNKNOWN_OBJECT = 42800;

/**
 * The value types of TEST_OBJECT: resource k is a single TEST_TYPES[k], resource 10 + k a multiple
 * one, and resource 9 is executable (`none`). So /42769/0/4 is a single Unsigned Integer and
 * /42769/0/14/i the instances of a multiple one.
 */
export const TEST_TYPES = [
  'float',
  'objlnk',
  'boolean',
  'opaque',
  'unsigned',
  'string',
  'integer',
  'time',
  'corelnk',
] as const satisfies readonly ResourceType[];

/** The TEST_OBJECT resource id of a type: `testResourceId('opaque', true)` is 13. */
export function testResourceId(type: ResourceType, multiple = false): number {
  if (type === 'none') return 9;
  const k = (TEST_TYPES as readonly ResourceType[]).indexOf(type);
  return multiple ? 10 + k : k;
}

function resource(id: number, type: ResourceType, multiple: boolean): ResourceDefinition {
  return {
    id,
    name: `${type}${multiple ? '*' : ''}`,
    operations: type === 'none' ? 'E' : 'RW',
    multiple,
    mandatory: false,
    type,
  };
}

export const TEST_OBJECT_DEFINITION: ObjectDefinition = {
  id: TEST_OBJECT,
  name: 'Every Type',
  version: '1.0',
  lwm2mVersion: '1.2',
  urn: `urn:oma:lwm2m:x:${TEST_OBJECT}`,
  multiple: true,
  mandatory: false,
  resources: new Map(
    [
      ...TEST_TYPES.map((type, k) => resource(k, type, false)),
      resource(9, 'none', false),
      ...TEST_TYPES.map((type, k) => resource(10 + k, type, true)),
    ]
      .sort((a, b) => a.id - b.id)
      .map((r) => [r.id, r]),
  ),
};

/** TEST_OBJECT's resources in id order. */
export const TEST_RESOURCES: readonly ResourceDefinition[] = [...TEST_OBJECT_DEFINITION.resources.values()];

/** The core catalogue (default versions) plus TEST_OBJECT. Tests only read it. */
export const testModel: ObjectRegistry = createDefaultRegistry().add(TEST_OBJECT_DEFINITION);

/** A codec context for a request path, on the shared model. */
export function ctxAt(path = '/', extra: Partial<CodecContext> = {}): CodecContext {
  return { path: LwM2mPath.parse(path), model: testModel, ...extra };
}
