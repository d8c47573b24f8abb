import { Value } from '../../src/model/data-types.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { rec } from './records.js';

/**
 * The /3/0 Device instance of the spec's TLV and LwM2M CBOR examples (LWM2M-1.2 §2.3, §2.5), in
 * the order those payloads carry it.
 */
export const DEVICE_EXAMPLE: readonly LwM2mRecord[] = [
  rec('/3/0/0', Value.string('Open Mobile Alliance')),
  rec('/3/0/1', Value.string('Lightweight M2M Client')),
  rec('/3/0/2', Value.string('345000123')),
  rec('/3/0/3', Value.string('1.0')),
  rec('/3/0/6/0', Value.integer(1)),
  rec('/3/0/6/1', Value.integer(5)),
  rec('/3/0/7/0', Value.integer(3800)),
  rec('/3/0/7/1', Value.integer(5000)),
  rec('/3/0/8/0', Value.integer(125)),
  rec('/3/0/8/1', Value.integer(900)),
  rec('/3/0/9', Value.integer(100)),
  rec('/3/0/10', Value.integer(15)),
  rec('/3/0/11/0', Value.integer(0)),
  rec('/3/0/13', Value.time(1367491215)),
  rec('/3/0/14', Value.string('+02:00')),
  rec('/3/0/16', Value.string('U')),
];
