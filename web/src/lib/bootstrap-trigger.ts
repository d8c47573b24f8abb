// Sending a device back to bootstrap (POST /api/bootstrap/clients/{ep}/trigger, Core-001) and
// PSK rotation (BS-001) in words: the reasons offered, which ones ask for a confirm, the answer
// of a trigger, and how a session's reason and rotation state and a pending next PSK read.
import type {
  BootstrapReason,
  BootstrapSession,
  BootstrapTriggerBody,
  BootstrapTriggerResponse,
} from '../api-types.js';

export interface ReasonChoice {
  readonly reason: BootstrapReason;
  readonly label: string;
  /** What the next bootstrap does with the reason. */
  readonly description: string;
  /** Changes the device's credentials or accounts: asked again before it is sent. */
  readonly confirm: boolean;
}

export const REASON_CHOICES: readonly ReasonChoice[] = [
  {
    reason: 'reconfigure',
    label: 'Reconfigure',
    description: 'apply this configuration again',
    confirm: false,
  },
  {
    reason: 'rotate',
    label: 'Rotate PSK',
    description: 'give the device a new PSK (generated) and retire the old one once the device has used it',
    confirm: true,
  },
  {
    reason: 'unbootstrap',
    label: 'Unbootstrap',
    description: 'remove every LwM2M Server account; only the Bootstrap-Server account stays',
    confirm: true,
  },
];

/** The choice of a reason (a reason the console does not know reads as itself). */
export function reasonChoice(reason: string): ReasonChoice {
  return (
    REASON_CHOICES.find((c) => c.reason === reason) ?? {
      reason: reason as BootstrapReason,
      label: reason,
      description: '',
      confirm: true,
    }
  );
}

/** The trigger body: the server generates the next PSK of a rotation when none is given. */
export function triggerBody(reason: BootstrapReason): BootstrapTriggerBody {
  return { reason };
}

/** The question asked before a reason that changes credentials or accounts is sent. */
export function confirmText(reason: BootstrapReason, endpoint: string): string {
  switch (reason) {
    case 'rotate':
      return (
        `Rotate the PSK of ${endpoint}? A new PSK is generated and stored beside the current one; ` +
        'the device receives it at its next bootstrap, and the old PSK is retired once the device has used the new one.'
      );
    case 'unbootstrap':
      return (
        `Unbootstrap ${endpoint}? Its next bootstrap removes every LwM2M Server account; ` +
        'the device keeps only its Bootstrap-Server account.'
      );
    case 'reconfigure':
      return `Send ${endpoint} to bootstrap to apply this configuration again?`;
  }
}

const NEXT_BOOTSTRAP = "Recorded for the device's next bootstrap";

/**
 * A trigger's 202 answer in words: whether /1/x/9 was executed (Core §5.1.1: a 2.04 means the
 * device starts a Client-Initiated Bootstrap now) or why the reason waits for the device's next
 * bootstrap; for a rotation, the next PSK (identity and length only).
 */
export function describeTrigger(answer: BootstrapTriggerResponse): string[] {
  const { path, code, skipped } = answer.trigger;
  const lines: string[] = [];
  if (code !== undefined && code.startsWith('2.'))
    lines.push(`Recorded; ${path ?? '/1/x/9'} executed: ${code}`);
  else if (code !== undefined) lines.push(`${NEXT_BOOTSTRAP}: ${path ?? '/1/x/9'} answered ${code}`);
  else if (path !== undefined) lines.push(`${NEXT_BOOTSTRAP}: ${path} failed: ${skipped ?? 'no answer'}`);
  else lines.push(`${NEXT_BOOTSTRAP}: ${skipped ?? 'no trigger was sent'}`);
  if (answer.nextPsk)
    lines.push(
      `Next PSK identity ${answer.nextPsk.identity} (${answer.nextPsk.keyLength} bytes) stored beside ` +
        'the current one; the old PSK is retired once the device has used the new one.',
    );
  return lines;
}

/** A session's reason as a badge text; undefined for reconfigure, the usual case. */
export function sessionReasonLabel(session: Pick<BootstrapSession, 'reason'>): string | undefined {
  // A server older than the trigger sends no reason: that is a reconfigure.
  if (session.reason === undefined || session.reason === 'reconfigure') return undefined;
  return reasonChoice(session.reason).label;
}

/** A session's rotation state (BS-001) in words. */
export function rotationText(session: Pick<BootstrapSession, 'rotation'>): string | undefined {
  switch (session.rotation) {
    case 'writing':
      return 'rotation: writing the next PSK';
    case 'confirmed':
      return 'rotation confirmed: old PSK retired';
    default:
      return undefined;
  }
}

/** A device's pending next PSK (the security view's `nextPsk`) in words. */
export function nextPskText(
  nextPsk: { identity: string; keyLength: number } | undefined,
): string | undefined {
  return nextPsk === undefined
    ? undefined
    : `rotation pending: next identity ${nextPsk.identity} (${nextPsk.keyLength} bytes)`;
}
