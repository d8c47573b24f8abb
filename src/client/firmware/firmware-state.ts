/**
 * The /5 Firmware Update state machine (LWM2M-1.2.md §6; /5 object 1.2 State and Update Result),
 * pure: a status and an event in, the next status or the result code refusing the event out. The
 * instance (firmware-update-instance.ts) feeds it what the download, the application and the
 * server do; nothing here touches bytes, timers or the network.
 */

/** /5/0/3 State. */
export const FirmwareState = Object.freeze({
  Idle: 0,
  Downloading: 1,
  Downloaded: 2,
  Updating: 3,
} as const);
export type FirmwareStateValue = (typeof FirmwareState)[keyof typeof FirmwareState];

/** /5/0/5 Update Result. */
export const UpdateResult = Object.freeze({
  Initial: 0,
  Success: 1,
  NotEnoughFlash: 2,
  OutOfRam: 3,
  ConnectionLost: 4,
  IntegrityCheckFailure: 5,
  UnsupportedPackageType: 6,
  InvalidUri: 7,
  UpdateFailed: 8,
  UnsupportedProtocol: 9,
  Cancelled: 10,
  Deferred: 11,
} as const);
export type UpdateResultValue = (typeof UpdateResult)[keyof typeof UpdateResult];

/** The results a failed download ends with (Downloading → Idle). */
export type DownloadFailureResult = 2 | 3 | 4 | 5 | 6 | 7 | 9;
/** The results a failed update ends with: 5 → Idle (the image is bad), 8 → Downloaded (retry). */
export type UpdateFailureResult = 5 | 8;

export interface FirmwareStatus {
  readonly state: FirmwareStateValue;
  readonly result: UpdateResultValue;
  /** /5/0/12, Unix seconds: when State last changed (undefined before the first change). */
  readonly lastStateChange: number | undefined;
}

export const INITIAL_FIRMWARE_STATUS: FirmwareStatus = Object.freeze({
  state: FirmwareState.Idle,
  result: UpdateResult.Initial,
  lastStateChange: undefined,
});

export type FirmwareEvent =
  /** A Write to /5/0/0 (push) or of a URI to /5/0/1 (pull) starts a download. */
  | { readonly type: 'download'; readonly delivery: 'push' | 'pull' }
  /** Every byte arrived and the package stream accepted it. */
  | { readonly type: 'download-complete' }
  | { readonly type: 'download-failed'; readonly result: DownloadFailureResult }
  /** Execute /5/0/2 (or Automatic Upgrade at Download): asks whether the update may start. */
  | { readonly type: 'update' }
  /** The device (its user) defers the update. */
  | { readonly type: 'defer' }
  /** The device accepts: installation starts. */
  | { readonly type: 'install' }
  /** The device refuses the update (the image stays; the server may execute again). */
  | { readonly type: 'refuse' }
  | { readonly type: 'update-succeeded' }
  | { readonly type: 'update-failed'; readonly result: UpdateFailureResult }
  /** An empty string to /5/0/1 or a single NUL to /5/0/0. */
  | { readonly type: 'reset' }
  /** Execute /5/0/10. */
  | { readonly type: 'cancel' };

/** The result code refusing an event in the state it came in (Core: 4.05 Method Not Allowed). */
export interface FirmwareRefusal {
  readonly ok: false;
  readonly code: '4.05';
  readonly message: string;
}

export type FirmwareTransition = { readonly ok: true; readonly status: FirmwareStatus } | FirmwareRefusal;

const STATE_NAMES = ['Idle', 'Downloading', 'Downloaded', 'Updating'] as const;

export function firmwareStateName(state: FirmwareStateValue): string {
  return STATE_NAMES[state];
}

const refuse = (event: FirmwareEvent, status: FirmwareStatus, why?: string): FirmwareRefusal => ({
  ok: false,
  code: '4.05',
  message: `${event.type} is not allowed in State ${status.state} (${firmwareStateName(status.state)})${why ? `: ${why}` : ''}`,
});

/**
 * Moves to `state` with `result`. /5/0/12 is set before every change of State (object 1.2) and
 * only then; a change of Update Result alone keeps it.
 */
function to(
  status: FirmwareStatus,
  state: FirmwareStateValue,
  result: UpdateResultValue,
  now: number,
): FirmwareTransition {
  const lastStateChange = state === status.state ? status.lastStateChange : now;
  return { ok: true, status: { state, result, lastStateChange } };
}

/**
 * The next status after `event`, `now` in Unix seconds (for Last State Change Time). Events the
 * current State does not allow are refused with 4.05 ("operations not allowed in the current
 * state SHOULD be rejected"); docs/firmware-client.md lists them.
 */
export function firmwareTransition(
  status: FirmwareStatus,
  event: FirmwareEvent,
  now: number,
): FirmwareTransition {
  const { state } = status;
  switch (event.type) {
    case 'download':
      // Idle → Downloading; Update Result resets to 0 when a download starts. A new package in
      // any other State must wait for a reset or Cancel (the image in hand is never overwritten).
      return state === FirmwareState.Idle
        ? to(status, FirmwareState.Downloading, UpdateResult.Initial, now)
        : refuse(event, status, 'reset the state machine (or Cancel) first');
    case 'download-complete':
      return state === FirmwareState.Downloading
        ? to(status, FirmwareState.Downloaded, UpdateResult.Initial, now)
        : refuse(event, status);
    case 'download-failed':
      return state === FirmwareState.Downloading
        ? to(status, FirmwareState.Idle, event.result, now)
        : refuse(event, status);
    case 'update':
      // "This Resource is only executable when the value of the State Resource is Downloaded."
      return state === FirmwareState.Downloaded
        ? { ok: true, status }
        : refuse(event, status, 'Update is executable only in Downloaded');
    case 'defer':
      return state === FirmwareState.Downloaded
        ? to(status, FirmwareState.Downloaded, UpdateResult.Deferred, now)
        : refuse(event, status);
    case 'install':
      // Update Result resets to 0 when an update starts.
      return state === FirmwareState.Downloaded
        ? to(status, FirmwareState.Updating, UpdateResult.Initial, now)
        : refuse(event, status);
    case 'refuse':
      return state === FirmwareState.Downloaded
        ? to(status, FirmwareState.Downloaded, UpdateResult.UpdateFailed, now)
        : refuse(event, status);
    case 'update-succeeded':
      return state === FirmwareState.Updating
        ? to(status, FirmwareState.Idle, UpdateResult.Success, now)
        : refuse(event, status);
    case 'update-failed':
      // An integrity failure leaves nothing to retry (Idle); any other failure keeps the image.
      return state === FirmwareState.Updating
        ? to(
            status,
            event.result === UpdateResult.IntegrityCheckFailure
              ? FirmwareState.Idle
              : FirmwareState.Downloaded,
            event.result,
            now,
          )
        : refuse(event, status);
    case 'reset':
      // Reset works from every State but Updating: an installation under way cannot be undone
      // (the same reason Cancel gets 4.05 there), and Idle 0 would then misreport its outcome.
      return state === FirmwareState.Updating
        ? refuse(event, status, 'the update is being installed')
        : to(status, FirmwareState.Idle, UpdateResult.Initial, now);
    case 'cancel':
      // "If the device is in the process of installing the firmware or has already completed
      // installation it MUST respond with Method Not Allowed."
      if (state === FirmwareState.Updating) return refuse(event, status, 'the update is being installed');
      if (state === FirmwareState.Idle && status.result === UpdateResult.Success)
        return refuse(event, status, 'the update is already installed');
      return to(status, FirmwareState.Idle, UpdateResult.Cancelled, now);
  }
}
