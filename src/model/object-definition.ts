import type { ResourceType } from './data-types.js';

/** Operations a resource allows, as the DDF says (`R`, `W`, `RW`, `E`, or '' for none). */
export type Operations = '' | 'R' | 'W' | 'RW' | 'E';

/** A numeric range or length limit parsed from a DDF RangeEnumeration (`0..255`, `1..65534`, `0..255 bytes`). */
export interface ValueRange {
  readonly min?: number | bigint;
  readonly max?: number | bigint;
  /** For String/Opaque: the range limits the length in bytes, not the value. */
  readonly length?: boolean;
  /** Listed discrete values (`0,1,2` or `0-3` forms some DDFs use). */
  readonly values?: readonly (number | string)[];
}

export interface ResourceDefinition {
  readonly id: number;
  readonly name: string;
  readonly operations: Operations;
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly type: ResourceType;
  /** The DDF's RangeEnumeration text as written, e.g. `0..255 bytes`. */
  readonly rangeText?: string;
  readonly range?: ValueRange;
  readonly units?: string;
}

export interface ObjectDefinition {
  readonly id: number;
  readonly name: string;
  /** Object version, `1.0` when the DDF omits it. */
  readonly version: string;
  /** The LwM2M enabler version the object was written for, `1.0` when omitted. */
  readonly lwm2mVersion: string;
  /** `urn:oma:lwm2m:oma:3:1.2`. */
  readonly urn: string;
  /** True for a multi-instance object. */
  readonly multiple: boolean;
  readonly mandatory: boolean;
  readonly resources: ReadonlyMap<number, ResourceDefinition>;
}

/**
 * What codecs and roles ask of the object model. `version` is the object version a client declared
 * (`ver=`); without it the registry's default (the 1.2-era version for core objects) applies.
 */
export interface ObjectModel {
  object(objectId: number, version?: string): ObjectDefinition | undefined;
  resource(objectId: number, resourceId: number, version?: string): ResourceDefinition | undefined;
}
