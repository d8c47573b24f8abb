import { MAX_ID } from '../model/ids.js';
import { LwM2mPath } from '../model/path.js';
import type { LwM2mRecord } from '../model/records.js';
import type { CodecRegistry } from './codec-registry.js';
import type { CodecContext } from './content-codec.js';
import { ContentFormatError } from './content-format-error.js';
import { lookupContentFormat } from './content-format.js';
import { decodeLwm2mCborCreate, encodeLwm2mCborCreate } from './lwm2m-cbor-codec.js';

/**
 * One object instance in a Create request (POST /o). `instanceId` is undefined when the payload
 * leaves the id to the client: TLV without an Object Instance wrapper, LwM2M CBOR instance key
 * 65535. Because the id may be unknown, `resources` carry paths RELATIVE TO THE INSTANCE (`/r`,
 * `/r/ri`); `placeCreateInstance` puts them under `/o/i` once the id is chosen.
 */
export interface CreateInstance {
  readonly instanceId: number | undefined;
  readonly resources: LwM2mRecord[];
}

function relative(records: LwM2mRecord[], depth: number): LwM2mRecord[] {
  return records
    .filter((r) => r.path.depth > depth)
    .map((r) => ({ ...r, path: new LwM2mPath(r.path.ids.slice(depth)) }));
}

/** Groups records decoded at an object path by instance. */
function byInstance(records: LwM2mRecord[]): CreateInstance[] {
  const groups = new Map<number, LwM2mRecord[]>();
  for (const r of records) {
    const iid = r.path.instanceId;
    if (iid === undefined) continue;
    const list = groups.get(iid) ?? [];
    list.push(r);
    groups.set(iid, list);
  }
  return [...groups].map(([instanceId, list]) => ({ instanceId, resources: relative(list, 2) }));
}

/**
 * Decodes a Create payload for the object at `ctx.path` (Core §6.3.7): every instance it creates,
 * with or without an id. Core 1.2 lets the payload be empty (the client fills defaults).
 */
export function decodeCreatePayload(
  codecs: CodecRegistry,
  format: number | string,
  bytes: Uint8Array,
  ctx: CodecContext,
): CreateInstance[] {
  const f = lookupContentFormat(format);
  if (!ctx.path.isObject())
    throw new ContentFormatError('invalid-path', `Create targets an object, not ${ctx.path.toString()}`, {
      format: f?.name,
    });
  if (bytes.length === 0) return [{ instanceId: undefined, resources: [] }];
  switch (f?.name) {
    case 'lwm2m-cbor':
      return [decodeLwm2mCborCreate(bytes, ctx)];
    case 'tlv': {
      // An Object Instance TLV has type bits 00; without that wrapper the resources are bare and
      // the client assigns the id. Decode them below a placeholder instance and take them back out.
      if (bytes[0]! >> 6 === 0) return byInstance(codecs.decode('tlv', bytes, ctx));
      const placeholder = ctx.path.append(0);
      return [
        {
          instanceId: undefined,
          resources: relative(codecs.decode('tlv', bytes, { ...ctx, path: placeholder }), 2),
        },
      ];
    }
    default:
      return byInstance(codecs.decode(format, bytes, ctx));
  }
}

/** The records of a Create instance placed at `/o/instanceId`. */
export function placeCreateInstance(
  objectPath: LwM2mPath,
  instanceId: number,
  resources: LwM2mRecord[],
): LwM2mRecord[] {
  const base = objectPath.append(instanceId);
  return resources.map((r) => ({
    ...r,
    path: new LwM2mPath([...base.ids, ...r.path.ids], base.prefix, base.alternatePath),
  }));
}

/**
 * Encodes a Create payload (server side). Without an instance id, TLV leaves out the instance
 * wrapper and LwM2M CBOR uses the instance key 65535; SenML needs a concrete id in its names.
 */
export function encodeCreatePayload(
  codecs: CodecRegistry,
  format: number | string,
  instance: CreateInstance,
  ctx: CodecContext,
): Uint8Array {
  const f = lookupContentFormat(format);
  if (f?.name === 'lwm2m-cbor')
    return encodeLwm2mCborCreate({ instanceId: instance.instanceId, resources: instance.resources }, ctx);
  if (instance.instanceId === undefined) {
    if (f?.name !== 'tlv')
      throw new ContentFormatError(
        'not-encodable',
        `${f?.name ?? format} cannot leave the instance id to the client; use tlv or lwm2m-cbor`,
        {
          format: f?.name,
        },
      );
    const placeholder = ctx.path.append(0);
    return codecs.encode('tlv', placeCreateInstance(ctx.path, 0, instance.resources), {
      ...ctx,
      path: placeholder,
    });
  }
  if (instance.instanceId >= MAX_ID)
    throw new ContentFormatError('invalid-path', `instance id ${instance.instanceId} is reserved`);
  // An instance with no resources (1.2 Create without values) is written as the empty instance
  // itself (TLV `00 iid`, SenML `{"n":"/o/i"}`), or the payload would carry no id at all. LwM2M
  // JSON has no record without a value, so it cannot say it.
  if (instance.resources.length === 0 && f?.name === 'lwm2m-json')
    throw new ContentFormatError(
      'not-encodable',
      'lwm2m-json cannot carry an instance without resources; use tlv, senml or lwm2m-cbor',
      { format: f.name },
    );
  const records =
    instance.resources.length === 0
      ? [{ path: ctx.path.append(instance.instanceId) }]
      : placeCreateInstance(ctx.path, instance.instanceId, instance.resources);
  return codecs.encode(format, records, ctx);
}
