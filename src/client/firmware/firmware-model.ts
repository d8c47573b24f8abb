import {
  UPDATE_DIAGNOSTICS_OBJECT,
  UPDATE_DIAGNOSTICS_OBJECT_ID,
} from '../../firmware/update-diagnostics-object.js';
import type { ObjectDefinition, ObjectModel, ResourceDefinition } from '../../model/object-definition.js';

/**
 * The client's model with Petrel Update Diagnostics (object 33000) in it: the model as given when
 * it knows the object already (the user's definition wins), else a view that adds it, so the
 * user's registry is left as it was.
 */
export function withUpdateDiagnostics(model: ObjectModel): ObjectModel {
  if (model.object(UPDATE_DIAGNOSTICS_OBJECT_ID) !== undefined) return model;
  const own = (objectId: number): ObjectDefinition | undefined =>
    objectId === UPDATE_DIAGNOSTICS_OBJECT_ID ? UPDATE_DIAGNOSTICS_OBJECT : undefined;
  return {
    object: (objectId: number, version?: string): ObjectDefinition | undefined =>
      own(objectId) ?? model.object(objectId, version),
    resource: (objectId: number, resourceId: number, version?: string): ResourceDefinition | undefined =>
      own(objectId)?.resources.get(resourceId) ?? model.resource(objectId, resourceId, version),
  };
}
