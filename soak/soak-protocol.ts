// The IPC conversation between the soak runner (soak/soak-runner.ts) and its device simulator
// processes (soak/soak-simulator.ts). Types only.

/** Device timing: what a churning device does and how often (ms unless named otherwise). */
export interface ChurnProfile {
  /** Registration lifetime sent in `lt`, seconds. */
  readonly lifetime: number;
  /** An awake device acts (Update, De-register, re-Register) every [min, max] ms. */
  readonly actEvery: { readonly min: number; readonly max: number };
  /** Chance an action is a De-register (then a Register after `rejoinAfter`). */
  readonly deregister: number;
  /** Chance an action is a new Register without a De-register (a reboot). */
  readonly reregister: number;
  readonly rejoinAfter: { readonly min: number; readonly max: number };
  /** Share of devices in queue mode (`Q`): they sleep between Updates. */
  readonly queueShare: number;
  /** A queue-mode device sleeps [min, max] ms, then wakes with an Update... */
  readonly sleep: { readonly min: number; readonly max: number };
  /** ...and stays reachable this long after it last sent something. */
  readonly awake: number;
  /** An observed device notifies every [min, max] ms while awake. */
  readonly notifyEvery: { readonly min: number; readonly max: number };
  /** CoAP timing of the device's confirmable messages (RFC 7252 §4.8). */
  readonly ackTimeout: number;
  readonly maxRetransmit: number;
}

export interface StartCommand {
  readonly cmd: 'start';
  readonly server: { readonly address: string; readonly port: number };
  readonly first: number;
  readonly count: number;
  readonly prefix: string;
  readonly seed: number;
  /** The initial Registers are spread over this many ms. */
  readonly rampMs: number;
  readonly profile: ChurnProfile;
}

export type SimulatorCommand =
  | StartCommand
  /**
   * Stop churning: every device registers and wakes, nothing stays in flight; queue-mode devices
   * send a non-confirmable Update every half awake time, so the server delivers what it queued.
   */
  | { readonly cmd: 'settle'; readonly timeoutMs: number }
  /** After settle: no more heartbeats; reply when nothing is in flight, with the registrations. */
  | { readonly cmd: 'quiet'; readonly timeoutMs: number }
  | { readonly cmd: 'resume' }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'close' };

/** What the devices did, counted by the simulator. */
export interface SimulatorStats {
  /** Register exchanges started (each may be retransmitted), and answered 2.01. */
  registersSent: number;
  registered: number;
  updatesSent: number;
  updated: number;
  deregistersSent: number;
  deregistered: number;
  /** Exchanges that got no answer after every retransmission. */
  timeouts: number;
  retransmissions: number;
  /** Answers that are not 2.xx, by code (a 4.04 to an Update of a confirmed location is a lost registration). */
  errorCodes: Record<string, number>;
  /** Updates or De-registers of a location the device had confirmed, answered 4.04. */
  lostRegistrations: number;
  /** The first of those, each with the device's last exchanges. */
  lost: LostRegistration[];
  readsAnswered: number;
  observesAnswered: number;
  notificationsSent: number;
  /** Observations the server ended with a Reset (registration replaced) or the device gave up. */
  observationsDropped: number;
  sleeps: number;
  /** Devices now registered (confirmed) and asleep. */
  registeredNow: number;
  asleepNow: number;
  inFlightNow: number;
}

/** A registration the server lost: what the device did before it got the 4.04. */
export interface LostRegistration {
  readonly endpoint: string;
  readonly location: string;
  readonly kind: string;
  /** "<Date.now()> <event>" lines, oldest first. */
  readonly trace: readonly string[];
}

/** Every counter at zero (a simulator's start, and the runner's sum). */
export function emptySimulatorStats(): SimulatorStats {
  return {
    registersSent: 0,
    registered: 0,
    updatesSent: 0,
    updated: 0,
    deregistersSent: 0,
    deregistered: 0,
    timeouts: 0,
    retransmissions: 0,
    errorCodes: {},
    lostRegistrations: 0,
    lost: [],
    readsAnswered: 0,
    observesAnswered: 0,
    notificationsSent: 0,
    observationsDropped: 0,
    sleeps: 0,
    registeredNow: 0,
    asleepNow: 0,
    inFlightNow: 0,
  };
}

export type SimulatorReply =
  | { readonly ready: true }
  | { readonly started: true }
  | {
      readonly settled: boolean;
      /** [endpoint, registration id] of every device that holds a confirmed registration. */
      readonly registrations: readonly (readonly [string, string])[];
      readonly stats: SimulatorStats;
    }
  | { readonly resumed: true }
  | { readonly stats: SimulatorStats }
  | { readonly closed: true }
  | { readonly error: string };
