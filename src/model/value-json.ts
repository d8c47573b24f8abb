import { PetrelError } from '../errors.js';
import type { LwM2mValue, ResourceType } from './data-types.js';
import { Value, formatObjLink, parseObjLink, valueFromText } from './data-types.js';

/**
 * The JSON form of values used by the CLI and, later, the REST API: strings as strings, numbers as
 * numbers (integers past 2^53 as decimal strings, so nothing is rounded), booleans, opaque as
 * `{"hex": "…"}`, object links as `"oid:iid"`, time as Unix seconds, executables as null.
 */
export type JsonValue = string | number | boolean | null | { hex: string };

export class JsonValueError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_JSON_VALUE', message);
  }
}

export function valueToJson(v: LwM2mValue): JsonValue {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      return v.value;
    case 'integer':
    case 'unsigned':
    case 'time':
      return typeof v.value === 'bigint' ? v.value.toString() : v.value;
    case 'float':
      // JSON has no NaN/Infinity; keep them readable as text.
      return Number.isFinite(v.value) ? v.value : String(v.value);
    case 'boolean':
      return v.value;
    case 'opaque':
      return { hex: Buffer.from(v.value).toString('hex') };
    case 'objlnk':
      return formatObjLink(v.value);
    case 'none':
      return null;
  }
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

/** A value for an error message; JSON.stringify cannot show a bigint (it throws). */
function describeJson(json: unknown): string {
  if (typeof json === 'bigint') return `${json}n`;
  try {
    return JSON.stringify(json) ?? String(json);
  } catch {
    return String(json);
  }
}

/** Reads the JSON form back as a value of `type` (from the model); a bigint is accepted for integers. */
export function valueFromJson(type: ResourceType, json: unknown, where = 'value'): LwM2mValue {
  const fail = (expected: string): never => {
    throw new JsonValueError(
      `${where}: expected ${expected} for a ${type} resource, got ${describeJson(json)}`,
    );
  };
  switch (type) {
    case 'string':
    case 'corelnk':
      return typeof json === 'string'
        ? type === 'string'
          ? Value.string(json)
          : Value.corelnk(json)
        : fail('a string');
    case 'integer':
    case 'unsigned':
    case 'time':
    case 'float':
    case 'boolean':
      // A bigint is how a caller in JavaScript holds a 64-bit integer past 2^53.
      if (typeof json === 'bigint' && type !== 'boolean') json = json.toString();
      if (typeof json === 'number' || typeof json === 'string') {
        if (type === 'boolean' && typeof json === 'number')
          return json === 0 || json === 1 ? Value.boolean(json === 1) : fail('true/false');
        if (type === 'float' && typeof json === 'number') return Value.float(json);
        try {
          return valueFromText(type, typeof json === 'number' ? numberText(json) : json);
        } catch (e) {
          throw new JsonValueError(`${where}: ${(e as Error).message}`);
        }
      }
      if (type === 'boolean' && typeof json === 'boolean') return Value.boolean(json);
      return fail(type === 'boolean' ? 'true/false' : 'a number');
    case 'opaque':
      if (json !== null && typeof json === 'object' && typeof (json as { hex?: unknown }).hex === 'string') {
        const hex = (json as { hex: string }).hex;
        if (!HEX_RE.test(hex)) return fail('{"hex": "<even number of hex digits>"}');
        return Value.opaque(new Uint8Array(Buffer.from(hex, 'hex')));
      }
      return fail('{"hex": "…"}');
    case 'objlnk': {
      const link = typeof json === 'string' ? parseObjLink(json) : undefined;
      return link ? { type: 'objlnk', value: link } : fail('"oid:iid"');
    }
    case 'none':
      return json === null ? Value.none() : fail('null');
  }
}

/** The type a JSON value suggests when the model does not know the resource. */
export function inferJsonType(json: unknown): ResourceType {
  if (typeof json === 'boolean') return 'boolean';
  if (typeof json === 'number') return Number.isInteger(json) ? 'integer' : 'float';
  if (json !== null && typeof json === 'object' && 'hex' in json) return 'opaque';
  if (typeof json === 'string' && parseObjLink(json)) return 'objlnk';
  if (json === null) return 'none';
  return 'string';
}

function numberText(n: number): string {
  if (Number.isInteger(n) && !Number.isSafeInteger(n))
    throw new JsonValueError(`${n} is past 2^53 and was rounded by JSON; give it as a decimal string`);
  return String(n);
}
