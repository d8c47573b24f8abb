import { formatObjLink, type LwM2mValue } from '../../model/data-types.js';
import type { CborWriter } from './cbor-writer.js';

/**
 * Writes one LwM2M value as a CBOR item, the mapping CBOR (60) and LwM2M CBOR (11544) share (Core
 * Appendix C): text for String/Corelnk/Objlnk (`"oid:iid"`), an integer for Integer/Unsigned/Time
 * (Time under tag 1 when `tagTime`, so its type survives for resources the reader does not know),
 * the smallest exact float, a boolean, a byte string for Opaque, null for `none`.
 */
export function writeLwM2mValue(w: CborWriter, v: LwM2mValue, tagTime = false): void {
  switch (v.type) {
    case 'string':
    case 'corelnk':
      w.text(v.value);
      return;
    case 'integer':
    case 'unsigned':
      w.int(v.value);
      return;
    case 'time':
      if (tagTime) w.tag(1);
      w.int(v.value);
      return;
    case 'float':
      w.float(v.value);
      return;
    case 'boolean':
      w.bool(v.value);
      return;
    case 'opaque':
      w.bytes(v.value);
      return;
    case 'objlnk':
      w.text(formatObjLink(v.value));
      return;
    case 'none':
      w.null();
      return;
  }
}
