// Petrel Update Diagnostics (object 33000, in the company-reserved range 32769-42768 of the OMA
// registry): why the last firmware download or update failed, in more detail than /5/0/5 Update
// Result can say (requirement FW-003). One instance per /5 (or /9) instance it describes; the
// DDF that servers load is ddf/33000.xml (kept equal to this definition by a test).
import { objectUrn, parseRangeEnumeration } from '../model/ddf-loader.js';
import type { ResourceType } from '../model/data-types.js';
import type { ObjectDefinition, ResourceDefinition } from '../model/object-definition.js';

export const UPDATE_DIAGNOSTICS_OBJECT_ID = 33000;

/** Resource ids of object 33000. */
export const UpdateDiagnosticsResource = {
  /** Objlnk: the /5 (or /9) instance these diagnostics describe. */
  Target: 0,
  /** The step that failed: download, uri, store, verify, decide, install, restart ('' = none). */
  Phase: 1,
  /** A stable code within the phase: 'digest', 'signature', 'download-timeout'... ('' = none). */
  Code: 2,
  /** The /5/0/5 Update Result the failure set (0 = none). */
  UpdateResult: 3,
  /** A sentence an operator can act on. */
  Message: 4,
  /** When the failure happened. */
  Time: 5,
  /** Downloads and updates started since the last successful update. */
  AttemptCount: 6,
  /** Of those, the ones that failed. */
  FailureCount: 7,
} as const;

type Row = readonly [id: number, name: string, type: ResourceType, mandatory: boolean, range?: string];

const ROWS: readonly Row[] = [
  [0, 'Target', 'objlnk', true],
  [1, 'Phase', 'string', true],
  [2, 'Code', 'string', true],
  [3, 'Update Result', 'integer', true, '0..11'],
  [4, 'Message', 'string', false],
  [5, 'Time', 'time', false],
  [6, 'Attempt Count', 'integer', true, '0..2147483647'],
  [7, 'Failure Count', 'integer', true, '0..2147483647'],
];

function resource([id, name, type, mandatory, rangeText]: Row): ResourceDefinition {
  const range = rangeText === undefined ? undefined : parseRangeEnumeration(rangeText, type);
  return {
    id,
    name,
    operations: 'R',
    multiple: false,
    mandatory,
    type,
    ...(rangeText === undefined ? {} : { rangeText }),
    ...(range === undefined ? {} : { range }),
  };
}

/** The definition the client's model uses (and a server may add to its registry). */
export const UPDATE_DIAGNOSTICS_OBJECT: ObjectDefinition = Object.freeze({
  id: UPDATE_DIAGNOSTICS_OBJECT_ID,
  name: 'Petrel Update Diagnostics',
  version: '1.0',
  lwm2mVersion: '1.1',
  urn: objectUrn(UPDATE_DIAGNOSTICS_OBJECT_ID),
  multiple: true,
  mandatory: false,
  resources: new Map(ROWS.map((row) => [row[0], resource(row)])),
});
