import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PetrelError } from '../errors.js';
import type { ResourceType } from './data-types.js';
import { normalizeInteger } from './data-types.js';
import { isValidId } from './ids.js';
import type { ObjectDefinition, Operations, ResourceDefinition, ValueRange } from './object-definition.js';

/** Why a DDF could not be read; stable values for callers and tests. */
export type DdfErrorReason =
  'malformed-xml' | 'not-object-definition' | 'missing-element' | 'invalid-value' | 'duplicate' | 'io';

/**
 * A DDF (OMA object definition XML) that cannot be used. The message names the file and the
 * object/resource at fault, so a person can fix the file.
 */
export class DdfError extends PetrelError {
  readonly reason: DdfErrorReason;
  /** The file (or other source label) the XML came from, when known. */
  readonly source: string | undefined;
  constructor(reason: DdfErrorReason, message: string, source?: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_DDF', source === undefined ? message : `${source}: ${message}`, options);
    this.reason = reason;
    this.source = source;
  }
}

/** The outcome of reading one XML text: object definitions, or a file of another kind. */
export type DdfReadResult =
  | { readonly kind: 'definitions'; readonly definitions: ObjectDefinition[] }
  | { readonly kind: 'not-object-definition'; readonly reason: string };

// ---- XML → plain tree ----

// Tag and attribute names are lower-cased so `<objectID>` or `id="3"` in hand-written files still read.
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: false,
  transformTagName: (name) => name.toLowerCase(),
  transformAttributeName: (name) => name.toLowerCase(),
  isArray: (name, jpath) => (name === 'object' && jpath === 'lwm2m.object') || name === 'item',
});

type XmlNode = Record<string, unknown>;

function isNode(v: unknown): v is XmlNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseXml(xml: string, source: string | undefined): XmlNode {
  const text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new DdfError('malformed-xml', `not well-formed XML at line ${line}, column ${col}: ${msg}`, source);
  }
  try {
    const doc: unknown = parser.parse(text);
    if (!isNode(doc)) throw new Error('no document element');
    return doc;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new DdfError('malformed-xml', `unreadable XML: ${detail}`, source, { cause: err });
  }
}

// ---- field readers ----

/** Where we are in the file, for messages: `object 3`, `object 3 resource 11`. */
interface Place {
  readonly source: string | undefined;
  readonly where: string;
}

const ENTITY_RE = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/g;
const NAMED_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/**
 * Decodes the XML predefined entities and character references (`&amp;`, `&#60;`). The parser's own
 * entity handling is off: it is slower, and DOCTYPE-declared entities have no place in a DDF.
 */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(
    ENTITY_RE,
    (ref, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
      if (named !== undefined) return NAMED_ENTITIES[named] ?? ref;
      const cp = hex !== undefined ? parseInt(hex, 16) : Number(dec);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : ref;
    },
  );
}

/**
 * The text of child element `name` (as the DDF spells it; matched in any case), trimmed and with runs
 * of whitespace collapsed, or undefined when absent. An element that repeats or holds elements is an
 * error: we could not tell what it means.
 */
function childText(node: XmlNode, name: string, place: Place): string | undefined {
  const raw = node[name.toLowerCase()];
  if (raw === undefined) return undefined;
  if (Array.isArray(raw))
    throw new DdfError('duplicate', `${place.where}: <${name}> appears more than once`, place.source);
  let text: unknown = raw;
  // An element with attributes comes as {'#text', '@attr'...}; any other key is a child element.
  if (isNode(raw))
    text = Object.keys(raw).every((k) => k === '#text' || k.startsWith('@')) ? (raw['#text'] ?? '') : raw;
  if (typeof text !== 'string') {
    throw new DdfError(
      'invalid-value',
      `${place.where}: <${name}> must hold text, not elements`,
      place.source,
    );
  }
  return decodeEntities(text).replace(/\s+/g, ' ').trim();
}

/** Keys of a DDF value: lower case, no spaces or separators (`Unsigned Integer` → `unsignedinteger`). */
function key(text: string): string {
  return text.toLowerCase().replace(/[\s_-]+/g, '');
}

function parseId(text: string | undefined, what: string, place: Place): number {
  if (text === undefined || text === '') {
    throw new DdfError('missing-element', `${place.where}: ${what} is missing`, place.source);
  }
  const id = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!isValidId(id)) {
    throw new DdfError(
      'invalid-value',
      `${place.where}: ${what} "${clip(text)}" is not an integer in 0..65534`,
      place.source,
    );
  }
  return id;
}

function parseMultiplicity(text: string | undefined, place: Place): boolean {
  if (text === undefined || text === '') return false; // Single is the safe reading of an omission.
  const k = key(text);
  if (k === 'single') return false;
  if (k === 'multiple') return true;
  throw new DdfError(
    'invalid-value',
    `${place.where}: <MultipleInstances> "${clip(text)}" is neither Single nor Multiple`,
    place.source,
  );
}

function parseMandatory(text: string | undefined, place: Place): boolean {
  if (text === undefined || text === '') return false;
  const k = key(text);
  if (k === 'mandatory') return true;
  if (k === 'optional') return false;
  throw new DdfError(
    'invalid-value',
    `${place.where}: <Mandatory> "${clip(text)}" is neither Mandatory nor Optional`,
    place.source,
  );
}

const OPERATIONS: Readonly<Record<string, Operations>> = {
  '': '',
  none: '',
  r: 'R',
  w: 'W',
  rw: 'RW',
  wr: 'RW',
  e: 'E',
};

function parseOperations(text: string | undefined, place: Place): Operations {
  const ops = OPERATIONS[key(text ?? '')];
  if (ops === undefined) {
    throw new DdfError(
      'invalid-value',
      `${place.where}: <Operations> "${clip(text ?? '')}" is not R, W, RW, E or empty`,
      place.source,
    );
  }
  return ops;
}

const TYPES: Readonly<Record<string, ResourceType>> = {
  '': 'none',
  none: 'none',
  string: 'string',
  integer: 'integer',
  unsignedinteger: 'unsigned',
  unsigned: 'unsigned',
  float: 'float',
  boolean: 'boolean',
  opaque: 'opaque',
  time: 'time',
  objlnk: 'objlnk',
  corelnk: 'corelnk',
};

function parseType(text: string | undefined, ops: Operations, place: Place): ResourceType {
  // Executable resources carry no value (Core §5.4.5 Execute), whatever the DDF's Type says; one
  // registry file gives an executable the type String.
  if (ops === 'E') return 'none';
  const type = TYPES[key(text ?? '')];
  if (type === undefined) {
    throw new DdfError(
      'invalid-value',
      `${place.where}: <Type> "${clip(text ?? '')}" is not a LwM2M data type (String, Integer, Unsigned Integer, Float, Boolean, Opaque, Time, Objlnk, Corelnk or empty)`,
      place.source,
    );
  }
  return type;
}

const VERSION_RE = /^([0-9]{1,4})(?:\.([0-9]{1,4}))?$/;

function parseVersion(text: string | undefined, element: string, place: Place): string {
  if (text === undefined || text === '') return '1.0';
  const m = VERSION_RE.exec(text);
  if (!m) {
    throw new DdfError(
      'invalid-value',
      `${place.where}: <${element}> "${clip(text)}" is not a version like 1.0 or 1.2`,
      place.source,
    );
  }
  return `${Number(m[1])}.${Number(m[2] ?? '0')}`;
}

/**
 * The URN the DDF would carry (Core §7.2.2): `urn:oma:lwm2m:{oma|ext|x}:{id}[:{version}]`, with
 * `:1.0` omitted. The namespace follows the OMNA id ranges: OMA below 2048, other standards bodies
 * 2048..10240, vendors and individuals above.
 */
export function objectUrn(objectId: number, version = '1.0'): string {
  const ns = objectId < 2048 ? 'oma' : objectId <= 10240 ? 'ext' : 'x';
  return `urn:oma:lwm2m:${ns}:${objectId}${version === '1.0' ? '' : `:${version}`}`;
}

// ---- RangeEnumeration ----

const NUM = '[+-]?(?:[0-9]{1,30}(?:\\.[0-9]{0,30})?|\\.[0-9]{1,30})';
const SPAN_RE = new RegExp(`^(${NUM})\\s*\\.{2,3}\\s*(${NUM})$`);
// `0-50`: a dash range is only unambiguous between unsigned integers.
const DASH_SPAN_RE = /^([0-9]{1,30})\s*-\s*([0-9]{1,30})$/;
const LIST_RE = new RegExp(`^${NUM}(?:\\s*,\\s*${NUM})+$`);
const BYTES_RE = /\s*bytes?$/i;
// `0: OFF 1: ON`: one `value: label` per line in the DDF.
const LABEL_RE = /(?:^|\s)([0-9]{1,10})\s*:/g;

function num(text: string): number | bigint {
  return /^[+-]?[0-9]+$/.test(text) ? normalizeInteger(BigInt(text)) : Number(text);
}

/** The values of a `0: OFF 1: ON` enumeration, if every colon follows a value. */
function labelledValues(text: string): number[] | undefined {
  if (!/^[0-9]{1,10}\s*:/.test(text)) return undefined;
  const values = [...text.matchAll(LABEL_RE)].map((m) => Number(m[1]));
  return values.length === text.split(':').length - 1 ? values : undefined;
}

function isLengthBound(v: number | bigint): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses a DDF RangeEnumeration into a ValueRange where its meaning is clear, else undefined (the
 * caller keeps only the text). Recognised: `0..255` (also `...` and, between unsigned integers,
 * `0-50`), lists `0,1,2`, and `0: label` enumerations. For String, Opaque and Corelnk the numbers
 * limit the length in bytes (the DDFs mix `0..255` and `0..255 bytes` for the same meaning); a
 * `bytes` suffix on a numeric type is a storage size, not a value range, so it is not parsed.
 * A lone number (`255`) is left unparsed: registry files use it both as a maximum and as an exact
 * size. Boolean, Objlnk, Time and executable resources take no range.
 */
export function parseRangeEnumeration(text: string, type: ResourceType): ValueRange | undefined {
  let t = text.replace(/\s+/g, ' ').trim();
  if (t === '' || t.length > 200) return undefined;
  const lengthType = type === 'string' || type === 'opaque' || type === 'corelnk';
  const numericType = type === 'integer' || type === 'unsigned' || type === 'float';
  if (!lengthType && !numericType) return undefined;
  const hasBytes = BYTES_RE.test(t);
  if (hasBytes) {
    if (!lengthType) return undefined;
    t = t.replace(BYTES_RE, '');
  }
  let range: ValueRange | undefined;
  const span = SPAN_RE.exec(t) ?? DASH_SPAN_RE.exec(t);
  if (span) {
    const min = num(span[1]!);
    const max = num(span[2]!);
    if (min > max) return undefined;
    range = { min, max };
  } else if (LIST_RE.test(t)) {
    const values = t.split(',').map((s) => num(s.trim()));
    if (!values.every((v) => typeof v === 'number')) return undefined;
    range = { values };
  } else if (numericType) {
    const values = labelledValues(t);
    if (values) range = { values };
  }
  if (!range) return undefined;
  if (lengthType) {
    const bounds = range.values ?? [range.min!, range.max!];
    if (!bounds.every((b) => typeof b !== 'string' && isLengthBound(b))) return undefined;
    return { ...range, length: true };
  }
  return range;
}

// ---- objects and resources ----

function readResource(item: XmlNode, objectWhere: string, source: string | undefined): ResourceDefinition {
  const idText = item['@id'];
  const id = parseId(typeof idText === 'string' ? idText.trim() : undefined, 'resource <Item> ID attribute', {
    source,
    where: objectWhere,
  });
  const place: Place = { source, where: `${objectWhere} resource ${id}` };
  const operations = parseOperations(childText(item, 'Operations', place), place);
  const type = parseType(childText(item, 'Type', place), operations, place);
  const rangeText = childText(item, 'RangeEnumeration', place);
  const units = childText(item, 'Units', place);
  const range = rangeText ? parseRangeEnumeration(rangeText, type) : undefined;
  return {
    id,
    name: childText(item, 'Name', place) || `Resource ${id}`,
    operations,
    multiple: parseMultiplicity(childText(item, 'MultipleInstances', place), place),
    mandatory: parseMandatory(childText(item, 'Mandatory', place), place),
    type,
    ...(rangeText ? { rangeText } : {}),
    ...(range ? { range } : {}),
    ...(units ? { units } : {}),
  };
}

function readObject(obj: XmlNode, index: number, source: string | undefined): ObjectDefinition {
  const head: Place = { source, where: `<Object> #${index + 1}` };
  const id = parseId(childText(obj, 'ObjectID', head), '<ObjectID>', head);
  const place: Place = { source, where: `object ${id}` };
  const version = parseVersion(childText(obj, 'ObjectVersion', place), 'ObjectVersion', place);
  const resources = new Map<number, ResourceDefinition>();
  const container = obj['resources'];
  const items: unknown[] = isNode(container) && Array.isArray(container['item']) ? container['item'] : [];
  for (const item of items) {
    if (!isNode(item)) {
      throw new DdfError(
        'invalid-value',
        `${place.where}: a resource <Item> has neither an ID attribute nor content`,
        source,
      );
    }
    const res = readResource(item, place.where, source);
    if (resources.has(res.id)) {
      throw new DdfError('duplicate', `${place.where}: resource ${res.id} is defined twice`, source);
    }
    resources.set(res.id, res);
  }
  return {
    id,
    name: childText(obj, 'Name', place) || `Object ${id}`,
    version,
    lwm2mVersion: parseVersion(childText(obj, 'LWM2MVersion', place), 'LWM2MVersion', place),
    urn: childText(obj, 'ObjectURN', place) || objectUrn(id, version),
    multiple: parseMultiplicity(childText(obj, 'MultipleInstances', place), place),
    mandatory: parseMandatory(childText(obj, 'Mandatory', place), place),
    resources: new Map([...resources].sort((a, b) => a[0] - b[0])),
  };
}

/**
 * Reads one XML text. Files that are well-formed but are not object definitions (the registry's
 * Common.xml of reusable resources, DDF.xml index, senml units list) give `not-object-definition`;
 * broken definitions throw DdfError.
 */
export function readDdf(xml: string, source?: string): DdfReadResult {
  const doc = parseXml(xml, source);
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?'));
  const lwm2m = doc['lwm2m'];
  if (roots.length !== 1 || lwm2m === undefined) {
    return { kind: 'not-object-definition', reason: `root element is <${roots[0] ?? 'none'}>, not <LWM2M>` };
  }
  const objects = (isNode(lwm2m) && Array.isArray(lwm2m['object']) ? lwm2m['object'] : []).filter(isNode);
  // ObjectType is MODefinition for object definitions; Common.xml uses CommonResources.
  const definitions = objects.filter((o) => {
    const t = o['@objecttype'];
    return t === undefined || (typeof t === 'string' && key(t) === 'modefinition');
  });
  if (definitions.length === 0) {
    const types = objects.map((o) => o['@objecttype']).filter((t) => typeof t === 'string');
    const reason =
      objects.length === 0
        ? '<LWM2M> holds no <Object>'
        : `<Object> has ObjectType "${String(types[0])}", not MODefinition`;
    return { kind: 'not-object-definition', reason };
  }
  return { kind: 'definitions', definitions: definitions.map((o, i) => readObject(o, i, source)) };
}

/**
 * Parses a DDF (LWM2M.xsd or LWM2M-v1_1.xsd form) into its object definitions, one per <Object>.
 * Throws DdfError for malformed XML, a missing or invalid ObjectID, an unknown type, and for XML that
 * is not an object definition at all (reason `not-object-definition`).
 */
export function parseDdf(xml: string, source?: string): ObjectDefinition[] {
  const result = readDdf(xml, source);
  if (result.kind === 'not-object-definition') {
    throw new DdfError('not-object-definition', `not an object definition: ${result.reason}`, source);
  }
  return result.definitions;
}

export interface LoadDdfOptions {
  /** Also read sub-folders (the registry keeps old versions in `version_history/`). Default false. */
  recursive?: boolean;
  /** `throw` (default): a broken file stops the load. `skip`: it goes to `skipped` with the error message. */
  onInvalid?: 'throw' | 'skip';
}

export interface LoadDdfResult {
  definitions: ObjectDefinition[];
  /** Files not loaded, relative to the folder, and why. */
  skipped: { file: string; reason: string }[];
}

function listXmlFiles(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const stat = statSync(full);
    if (stat.isDirectory()) {
      if (recursive) out.push(...listXmlFiles(full, true));
    } else if (stat.isFile() && name.toLowerCase().endsWith('.xml')) {
      out.push(full);
    }
  }
  return out;
}

/** Loads every `*.xml` in a folder (in name order); files that are not object definitions are skipped. */
export function loadDdfDirectory(dir: string, options: LoadDdfOptions = {}): LoadDdfResult {
  let files: string[];
  try {
    files = listXmlFiles(dir, options.recursive ?? false);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new DdfError('io', `cannot read the DDF folder: ${detail}`, dir, { cause: err });
  }
  const result: LoadDdfResult = { definitions: [], skipped: [] };
  for (const file of files) {
    const name = relative(dir, file);
    try {
      let xml: string;
      try {
        xml = readFileSync(file, 'utf8');
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        throw new DdfError('io', `cannot read the file: ${detail}`, name, { cause: err });
      }
      const read = readDdf(xml, name);
      if (read.kind === 'definitions') result.definitions.push(...read.definitions);
      else result.skipped.push({ file: name, reason: `not an object definition: ${read.reason}` });
    } catch (err) {
      if (options.onInvalid !== 'skip' || !(err instanceof DdfError)) throw err;
      result.skipped.push({ file: name, reason: err.message });
    }
  }
  return result;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
