/** The content formats LwM2M 1.2 uses, by number and canonical name (LWM2M-1.2 §2.1). */
export const CONTENT_FORMATS = [
  { id: 0, name: 'text', mediaType: 'text/plain;charset=utf-8' },
  { id: 40, name: 'link', mediaType: 'application/link-format' },
  { id: 42, name: 'opaque', mediaType: 'application/octet-stream' },
  { id: 60, name: 'cbor', mediaType: 'application/cbor' },
  { id: 110, name: 'senml-json', mediaType: 'application/senml+json' },
  { id: 112, name: 'senml-cbor', mediaType: 'application/senml+cbor' },
  { id: 320, name: 'senml-etch-json', mediaType: 'application/senml-etch+json' },
  { id: 322, name: 'senml-etch-cbor', mediaType: 'application/senml-etch+cbor' },
  { id: 11542, name: 'tlv', mediaType: 'application/vnd.oma.lwm2m+tlv' },
  { id: 11543, name: 'lwm2m-json', mediaType: 'application/vnd.oma.lwm2m+json' },
  { id: 11544, name: 'lwm2m-cbor', mediaType: 'application/vnd.oma.lwm2m+cbor' },
] as const;

export type ContentFormatName = (typeof CONTENT_FORMATS)[number]['name'];
export type ContentFormatId = (typeof CONTENT_FORMATS)[number]['id'];

export interface ContentFormat {
  readonly id: ContentFormatId;
  readonly name: ContentFormatName;
  readonly mediaType: string;
}

const BY_ID = new Map<number, ContentFormat>(CONTENT_FORMATS.map((f) => [f.id, f]));
const BY_NAME = new Map<string, ContentFormat>(CONTENT_FORMATS.map((f) => [f.name, f]));

/** Finds a format by number (`112`, `"112"`) or canonical name (`senml-cbor`); undefined if unknown. */
export function lookupContentFormat(key: number | string): ContentFormat | undefined {
  if (typeof key === 'number') return BY_ID.get(key);
  const trimmed = key.trim().toLowerCase();
  if (/^[0-9]+$/.test(trimmed)) return BY_ID.get(Number(trimmed));
  return BY_NAME.get(trimmed);
}
