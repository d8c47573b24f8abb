/**
 * When does an observed path notify? The Core §5.1.2 `<NOTIFICATION>` attribute rules as a small
 * pure state machine: one ObservationState per observed path, moved on by `onValue` (the
 * application signalled a change) and `onTimer` (a time the state asked for came). Nothing here
 * holds a timer or sends anything; the NotificationEngine does that.
 *
 * The rules (LWM2M-1.2.md §1.4, Core §5.1.2):
 * - R1 "A notification is sent when (a valid value condition — gt, lt, st, edge — holds and pmin has
 *   elapsed) or pmax has elapsed."
 * - R2 pmin: "A change that happens inside pmin is sent when pmin expires."
 * - R3 pmax: "A notification is due when pmax expires. If pmax < pmin, pmax is ignored" (and pmax 0,
 *   the /1/x/3 "no maximum" default, means none: effectivePmax).
 * - R4 "Each notification restarts the pmin and pmax timers."
 * - R5 gt / lt: "Notify on each crossing of the upper / lower threshold" — up or down.
 * - R6 st: "Notify when the value has moved by at least st since the last notification."
 * - R7 edge (Boolean resources only): "1 = notify on false→true, 0 = notify on true→false".
 * - R8 gt, lt, st are numeric-only and edge Boolean-only: a rule that does not fit the value is
 *   ignored. With no applicable value condition, any change of the value is the condition
 *   (plain Observe, RFC 7641).
 * - R9 epmin: "After epmin the client MAY evaluate the conditions" — the earliest next evaluation;
 *   a change signalled sooner is evaluated (with a fresh sample) when epmin expires.
 * - R10 epmax: "After epmax the client MUST evaluate" — the state asks for a timer then, and the
 *   caller samples the value; this is how silently changing sensors are followed.
 * - R11 "epmin < epmax": when inheritance mixes levels into epmin ≥ epmax, epmin is ignored (the
 *   MUST beats the MAY).
 *
 * Choices where the text leaves room:
 * - gt/lt crossings and edges compare the new sample with the previous *evaluated* sample (so a
 *   rising edge after an unnotified falling edge still counts); st compares with the last
 *   *notified* value, as R6 says.
 * - Once a condition held inside pmin, the notification stays due at pmin expiry (R2) and carries
 *   the value current at that time, even if the value moved back meanwhile.
 * Times are milliseconds on the engine's clock; attribute periods are seconds.
 */
import { effectivePmax, type NotificationAttributes } from '../model/attributes.js';
import { valuesEqual, type LwM2mValue } from '../model/data-types.js';
import type { LwM2mRecord } from '../model/records.js';

/**
 * What one observed path reads as: a single resource (or resource instance) value, the records of a
 * container (object, instance, multiple resource), or undefined when it is absent.
 */
export type Sample = LwM2mValue | readonly LwM2mRecord[] | undefined;

export interface ObservationState {
  readonly attributes: NotificationAttributes;
  /** When the last notification (or the Observe response) went out. */
  readonly lastNotifiedAt: number;
  readonly lastNotifiedValue: Sample;
  /** The previous evaluated sample: the reference for crossings, edges and plain changes. */
  readonly lastValue: Sample;
  readonly lastEvaluatedAt: number;
  /** A value condition held; the notification waits for pmin (R2). */
  readonly pending: boolean;
  /** A change was signalled before epmin allowed evaluating it (R9). */
  readonly deferred: boolean;
}

export interface Transition {
  readonly state: ObservationState;
  /** Send a notification now, with the sample just given (the state already counts it as sent). */
  readonly notify: boolean;
  /** When `onTimer` must be called next; undefined = only a change can move this state. */
  readonly nextCheckAt: number | undefined;
}

/** The periods in force, in milliseconds; undefined = not in force. */
export interface Periods {
  readonly pmin: number;
  readonly pmax: number | undefined;
  readonly epmin: number | undefined;
  readonly epmax: number | undefined;
}

export function periodsOf(attributes: NotificationAttributes): Periods {
  const pmax = effectivePmax(attributes); // R3
  const epmax = attributes.epmax !== undefined && attributes.epmax > 0 ? attributes.epmax : undefined;
  const { epmin } = attributes;
  const epminOk = epmin !== undefined && epmin > 0 && (epmax === undefined || epmin < epmax); // R11
  return {
    pmin: (attributes.pmin ?? 0) * 1000,
    pmax: pmax === undefined ? undefined : pmax * 1000,
    epmin: epminOk ? epmin * 1000 : undefined,
    epmax: epmax === undefined ? undefined : epmax * 1000,
  };
}

/** The state right after the Observe response, which is the first notification (Core §6.4.1). */
export function startObservation(
  attributes: NotificationAttributes,
  sample: Sample,
  now: number,
): ObservationState {
  return {
    attributes,
    lastNotifiedAt: now,
    lastNotifiedValue: sample,
    lastValue: sample,
    lastEvaluatedAt: now,
    pending: false,
    deferred: false,
  };
}

/** The same observation under new attributes (a Write-Attributes mid-observation). */
export function withAttributes(
  state: ObservationState,
  attributes: NotificationAttributes,
): ObservationState {
  return { ...state, attributes };
}

/** The state after a notification carrying `sample` went out at `now` (R4). */
export function markNotified(state: ObservationState, sample: Sample, now: number): ObservationState {
  return { ...state, lastNotifiedAt: now, lastNotifiedValue: sample, lastValue: sample, pending: false };
}

/** The application signalled that the observed value changed; `sample` is its current value. */
export function onValue(state: ObservationState, sample: Sample, now: number): Transition {
  const p = periodsOf(state.attributes);
  // R9: too early to evaluate; remember the change and evaluate at epmin expiry.
  if (p.epmin !== undefined && now < state.lastEvaluatedAt + p.epmin)
    return settle(state.deferred ? state : { ...state, deferred: true }, sample, now);
  return settle(evaluate(state, sample, now), sample, now);
}

/**
 * A time the state asked for (nextCheckAt) came; `sample` is the value now. Evaluates when a
 * deferred evaluation (R9) or epmax (R10) is due, then notifies when R1 says so.
 */
export function onTimer(state: ObservationState, now: number, sample: Sample): Transition {
  const p = periodsOf(state.attributes);
  const deferredDue = state.deferred && now >= state.lastEvaluatedAt + (p.epmin ?? 0);
  const epmaxDue = p.epmax !== undefined && now >= state.lastEvaluatedAt + p.epmax;
  return settle(deferredDue || epmaxDue ? evaluate(state, sample, now) : state, sample, now);
}

/** The earliest time something may become due for this state without a change. */
export function nextCheckAt(state: ObservationState): number | undefined {
  const p = periodsOf(state.attributes);
  let at = Infinity;
  if (state.pending) at = Math.min(at, state.lastNotifiedAt + p.pmin); // R2
  if (p.pmax !== undefined) at = Math.min(at, state.lastNotifiedAt + p.pmax); // R3
  if (state.deferred) at = Math.min(at, state.lastEvaluatedAt + (p.epmin ?? 0)); // R9
  if (p.epmax !== undefined) at = Math.min(at, state.lastEvaluatedAt + p.epmax); // R10
  return at === Infinity ? undefined : at;
}

/** One evaluation of the value conditions against `sample` (R5-R8). */
function evaluate(state: ObservationState, sample: Sample, now: number): ObservationState {
  const holds = valueConditionHolds(state.attributes, state.lastValue, state.lastNotifiedValue, sample);
  return {
    ...state,
    lastValue: sample,
    lastEvaluatedAt: now,
    deferred: false,
    pending: state.pending || holds,
  };
}

/** R1: notify when pending and pmin elapsed, or when pmax elapsed. */
function settle(state: ObservationState, sample: Sample, now: number): Transition {
  const p = periodsOf(state.attributes);
  const due =
    (state.pending && now >= state.lastNotifiedAt + p.pmin) ||
    (p.pmax !== undefined && now >= state.lastNotifiedAt + p.pmax);
  const next = due ? markNotified(state, sample, now) : state;
  return { state: next, notify: due, nextCheckAt: nextCheckAt(next) };
}

/**
 * Whether a value condition holds for `current` (R5-R8). `previous` is the last evaluated sample,
 * `lastNotified` the value the server last received.
 */
export function valueConditionHolds(
  attributes: NotificationAttributes,
  previous: Sample,
  lastNotified: Sample,
  current: Sample,
): boolean {
  const { gt, lt, st, edge } = attributes;
  let applicable = false;
  let holds = false;
  const x = numericOf(current);
  if (x !== undefined) {
    const before = numericOf(previous);
    if (gt !== undefined) {
      applicable = true;
      holds ||= before !== undefined && before > gt !== x > gt; // R5, either direction
    }
    if (lt !== undefined) {
      applicable = true;
      holds ||= before !== undefined && before < lt !== x < lt; // R5, either direction
    }
    if (st !== undefined) {
      applicable = true;
      const last = numericOf(lastNotified);
      // R6; a zero step still needs a move, or every evaluation would notify.
      holds ||= last !== undefined && x !== last && Math.abs(x - last) >= st;
    }
  }
  const b = booleanOf(current);
  if (b !== undefined && edge !== undefined) {
    applicable = true;
    holds ||= booleanOf(previous) === !b && b === (edge === 1); // R7
  }
  return applicable ? holds : !samplesEqual(previous, current); // R8
}

/**
 * The message type of a notification made of parts with these attributes: CON when any part has
 * con=1 ("If any part of a combined notification has con=1, the whole message is CON"); a part
 * without `con` takes the server's Default Notification Mode (/1/x/26: 0 NON, 1 CON; absent = NON).
 */
export function notificationIsConfirmable(
  parts: readonly NotificationAttributes[],
  defaultMode: 0 | 1 | undefined,
): boolean {
  return parts.some((a) => (a.con ?? defaultMode ?? 0) === 1);
}

function numericOf(sample: Sample): number | undefined {
  if (sample === undefined || isRecords(sample)) return undefined;
  switch (sample.type) {
    case 'integer':
    case 'unsigned':
    case 'float':
      return Number(sample.value);
    default:
      return undefined;
  }
}

function booleanOf(sample: Sample): boolean | undefined {
  return sample !== undefined && !isRecords(sample) && sample.type === 'boolean' ? sample.value : undefined;
}

function isRecords(sample: Sample): sample is readonly LwM2mRecord[] {
  return Array.isArray(sample);
}

/** Structural equality of two samples (records: same paths, times and values, in order). */
export function samplesEqual(a: Sample, b: Sample): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (isRecords(a) || isRecords(b)) {
    if (!isRecords(a) || !isRecords(b) || a.length !== b.length) return false;
    return a.every((r, i) => {
      const o = b[i]!;
      if (!r.path.equals(o.path) || r.time !== o.time) return false;
      if (r.value === undefined || o.value === undefined) return r.value === o.value;
      return valuesEqual(r.value, o.value);
    });
  }
  return valuesEqual(a, b);
}
