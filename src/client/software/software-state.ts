/**
 * The /9 Software Management state machines (LWM2M-1.2.md §4.8; the 9.xml DDF, object 1.0),
 * pure: a status and an event in, the next status or the result code refusing the event out.
 * Two machines share one status: Package Installation (/9/x/7 Update State with /9/x/9 Update
 * Result) and Software Activation (/9/x/12 Activation State), which only moves in INSTALLED. The
 * instance (software-management-instance.ts) feeds it what the download, the application and the
 * server do.
 */

/** /9/x/7 Update State. */
export const SoftwareState = Object.freeze({
  Initial: 0,
  DownloadStarted: 1,
  Downloaded: 2,
  Delivered: 3,
  Installed: 4,
} as const);
export type SoftwareStateValue = (typeof SoftwareState)[keyof typeof SoftwareState];

/** /9/x/9 Update Result (4-49 and 60-200 are reserved for expansion; 55 is unassigned). */
export const SoftwareResult = Object.freeze({
  Initial: 0,
  Downloading: 1,
  Installed: 2,
  Delivered: 3,
  NotEnoughStorage: 50,
  OutOfMemory: 51,
  ConnectionLost: 52,
  IntegrityCheckFailure: 53,
  UnsupportedPackageType: 54,
  InvalidUri: 56,
  DeviceError: 57,
  InstallationFailure: 58,
  UninstallationFailure: 59,
} as const);
export type SoftwareResultValue = (typeof SoftwareResult)[keyof typeof SoftwareResult];

/** The results a failed download ends with (DOWNLOAD STARTED → INITIAL). */
export type SoftwareDownloadFailure = 50 | 51 | 52 | 56 | 57;
/** The results a refused package ends with (DOWNLOADED → INITIAL). */
export type SoftwareVerifyFailure = 53 | 54;

export interface SoftwareStatus {
  readonly state: SoftwareStateValue;
  readonly result: SoftwareResultValue;
  /** /9/x/12: the Software Activation machine is ACTIVE. */
  readonly active: boolean;
}

export const INITIAL_SOFTWARE_STATUS: SoftwareStatus = Object.freeze({
  state: SoftwareState.Initial,
  result: SoftwareResult.Initial,
  active: false,
});

export type SoftwareEvent =
  /** A Write to /9/x/2 (push) or of a URI to /9/x/3 (pull). */
  | { readonly type: 'download'; readonly delivery: 'push' | 'pull' }
  /** Every byte is stored; the integrity check runs next. */
  | { readonly type: 'download-complete' }
  | { readonly type: 'download-failed'; readonly result: SoftwareDownloadFailure }
  /** The package passed the integrity check (signature, digest, size, device checks). */
  | { readonly type: 'verified' }
  | { readonly type: 'verify-failed'; readonly result: SoftwareVerifyFailure }
  /** Execute /9/x/4: may the installation start? (no change of status) */
  | { readonly type: 'install' }
  | { readonly type: 'install-succeeded' }
  | { readonly type: 'install-failed' }
  /** Execute /9/x/6 (0: remove; 1: ForUpdate), applied once the device has done it. */
  | { readonly type: 'uninstall'; readonly forUpdate: boolean }
  | { readonly type: 'uninstall-failed' }
  /** Execute /9/x/10 and /9/x/11, applied once the device has done it. */
  | { readonly type: 'activate' }
  | { readonly type: 'deactivate' };

/** The result code refusing an event in the state it came in: 4.05 Method Not Allowed. */
export interface SoftwareRefusal {
  readonly ok: false;
  readonly code: '4.05';
  readonly message: string;
}

export type SoftwareTransition = { readonly ok: true; readonly status: SoftwareStatus } | SoftwareRefusal;

const STATE_NAMES = ['INITIAL', 'DOWNLOAD STARTED', 'DOWNLOADED', 'DELIVERED', 'INSTALLED'] as const;

export function softwareStateName(state: SoftwareStateValue): string {
  return STATE_NAMES[state];
}

const refuse = (event: SoftwareEvent, status: SoftwareStatus, why?: string): SoftwareRefusal => ({
  ok: false,
  code: '4.05',
  message: `${event.type} is not allowed in Update State ${status.state} (${softwareStateName(status.state)})${why ? `: ${why}` : ''}`,
});

const to = (
  status: SoftwareStatus,
  state: SoftwareStateValue,
  result: SoftwareResultValue,
  active = status.active,
): SoftwareTransition => ({ ok: true, status: { state, result, active } });

/**
 * The next status after `event`. Events the current Update State does not allow are refused with
 * 4.05; docs/software-client.md has the table.
 */
export function softwareTransition(status: SoftwareStatus, event: SoftwareEvent): SoftwareTransition {
  const { state } = status;
  const { Initial, DownloadStarted, Downloaded, Delivered, Installed } = SoftwareState;
  switch (event.type) {
    case 'download':
      // Only from INITIAL: an installed component is first put back there by Uninstall (with
      // argument 1, ForUpdate, when the new package upgrades it). Update Result 1 while it runs.
      return state === Initial
        ? to(status, DownloadStarted, SoftwareResult.Downloading)
        : refuse(event, status, state === Installed ? 'execute Uninstall (1, ForUpdate) first' : undefined);
    case 'download-complete':
      return state === DownloadStarted
        ? to(status, Downloaded, SoftwareResult.Downloading)
        : refuse(event, status);
    case 'download-failed':
      return state === DownloadStarted || state === Downloaded
        ? to(status, Initial, event.result)
        : refuse(event, status);
    case 'verified':
      return state === Downloaded ? to(status, Delivered, SoftwareResult.Delivered) : refuse(event, status);
    case 'verify-failed':
      return state === Downloaded ? to(status, Initial, event.result) : refuse(event, status);
    case 'install':
      // "only executable when the value of the State Resource is DELIVERED"
      return state === Delivered
        ? { ok: true, status }
        : refuse(event, status, 'Install is executable only in DELIVERED');
    case 'install-succeeded':
      // A new installation starts INACTIVE: Activate is the server's (or the device's) next step.
      return state === Delivered
        ? to(status, Installed, SoftwareResult.Installed, false)
        : refuse(event, status);
    case 'install-failed':
      // "If executing the Install Resource failed, the state remains at DELIVERED."
      return state === Delivered
        ? to(status, Delivered, SoftwareResult.InstallationFailure)
        : refuse(event, status);
    case 'uninstall':
      if (event.forUpdate)
        // ForUpdate: the software in place stays (and keeps running) until the new package replaces it.
        return state === Installed
          ? to(status, Initial, SoftwareResult.Initial)
          : refuse(event, status, 'ForUpdate needs installed software');
      // Removes the installed software, or drops a delivered package before it was installed.
      // (a package dropped after ForUpdate leaves the software in place as active as it was).
      if (state === Installed) return to(status, Initial, SoftwareResult.Initial, false);
      return state === Delivered
        ? to(status, Initial, SoftwareResult.Initial)
        : refuse(event, status, 'nothing to uninstall');
    case 'uninstall-failed':
      return state === Installed || state === Delivered
        ? to(status, state, SoftwareResult.UninstallationFailure)
        : refuse(event, status);
    case 'activate':
    case 'deactivate':
      // The Software Activation machine exists only in INSTALLED.
      return state === Installed
        ? to(status, Installed, status.result, event.type === 'activate')
        : refuse(event, status, 'Activate and Deactivate need INSTALLED');
  }
}
