import { PetrelError } from '../errors.js';

/**
 * Churn: what the devices do after the registration phase, as `op=rate` pairs separated by
 * commas, e.g. `update=1,sleep=0.5,wake=2,deregister=0.1,register=1`.
 *
 *   update      an Update (registered, awake devices)
 *   sleep       go quiet in queue mode: no message, the server's queue holds its requests
 *   wake        wake up: the Update of Transport §Queue Mode (sleeping devices)
 *   deregister  a De-register; the device stays unregistered until a `register` picks it
 *   register    a new Register (unregistered devices)
 *
 * A bare number is per device and minute: `update=0.5` = each registered, awake device Updates
 * once every two minutes on average (so the fleet-wide rate follows the eligible population). A
 * number with `/s` is fleet-wide per second: `update=200/s` = 200 Updates a second in all, as
 * long as there are devices to do them.
 */
export const CHURN_OPERATIONS = ['update', 'sleep', 'wake', 'deregister', 'register'] as const;
export type ChurnOperation = (typeof CHURN_OPERATIONS)[number];

export interface ChurnRate {
  readonly value: number;
  /** 'device-minute': per eligible device and minute; 'second': fleet-wide per second. */
  readonly per: 'device-minute' | 'second';
}

export type ChurnSpec = Readonly<Partial<Record<ChurnOperation, ChurnRate>>>;

export class ChurnSpecError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_FLEET_CHURN', message);
  }
}

/** Largest rate accepted (per device-minute or per second), to keep the arithmetic sane. */
const MAX_RATE = 1_000_000;
const ITEM = /^([a-z]+)=([0-9]*\.?[0-9]+)(\/s)?$/;

/** Parses a churn spec; throws ChurnSpecError saying what is wrong. Empty text: no churn. */
export function parseChurn(text: string): ChurnSpec {
  const spec: Partial<Record<ChurnOperation, ChurnRate>> = {};
  const trimmed = text.trim();
  if (trimmed === '') return spec;
  if (trimmed.length > 512) throw new ChurnSpecError('churn: too long (at most 512 characters)');
  for (const raw of trimmed.split(',')) {
    const item = raw.trim();
    const m = ITEM.exec(item);
    if (m === null)
      throw new ChurnSpecError(`churn: "${item}" is not op=rate (e.g. update=0.5 or update=100/s)`);
    const op = m[1]!;
    if (!(CHURN_OPERATIONS as readonly string[]).includes(op))
      throw new ChurnSpecError(`churn: unknown operation "${op}" (expected ${CHURN_OPERATIONS.join(', ')})`);
    if (spec[op as ChurnOperation] !== undefined) throw new ChurnSpecError(`churn: "${op}" given twice`);
    const value = Number(m[2]);
    if (!(value <= MAX_RATE)) throw new ChurnSpecError(`churn: ${op} rate above ${MAX_RATE}`);
    spec[op as ChurnOperation] = { value, per: m[3] === undefined ? 'device-minute' : 'second' };
  }
  return spec;
}

/** The spec back as text (for the starting line). */
export function formatChurn(spec: ChurnSpec): string {
  const parts = CHURN_OPERATIONS.flatMap((op) => {
    const r = spec[op];
    return r === undefined ? [] : [`${op}=${r.value}${r.per === 'second' ? '/s' : ''}`];
  });
  return parts.length === 0 ? 'none' : parts.join(',');
}

/**
 * How many `op`s are due over `dtMs` (a fraction: the caller carries the remainder), given
 * `eligible` devices that could do it and this process's `share` of the fleet (fleet-wide rates
 * are split between the processes by their device counts).
 */
export function churnDue(rate: ChurnRate | undefined, eligible: number, dtMs: number, share: number): number {
  if (rate === undefined || eligible <= 0 || dtMs <= 0) return 0;
  return rate.per === 'device-minute'
    ? (rate.value / 60_000) * eligible * dtMs
    : (rate.value * share * dtMs) / 1000;
}

/** Whether the spec uses the queue-mode operations. */
export const churnNeedsQueueMode = (spec: ChurnSpec): boolean =>
  spec.sleep !== undefined || spec.wake !== undefined;
