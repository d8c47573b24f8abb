// What the server side does to the fleet during the soak run, in the server's process: Reads of
// /3303/0/5700 at a steady rate to random devices (queued for sleeping queue-mode devices), and an
// observation of /3303/0/5700 on every device of the observed share, made again after each new
// Register (a Register voids the old one, Core §6.4). Counts outcomes only: nothing grows with
// the run's length.
import { ServerRequestError } from '../src/server/errors.js';
import type { LwM2mServer } from '../src/server/lwm2m-server.js';
import type { Observation } from '../src/server/observation.js';
import type { Registration } from '../src/server/registration.js';

const PATH = '/3303/0/5700';

export interface ServerLoadOptions {
  readonly server: LwM2mServer;
  /** Every endpoint of the fleet (Reads pick from these). */
  readonly endpoints: readonly string[];
  /** Whether an endpoint is in the observed share. */
  readonly observed: (endpoint: string) => boolean;
  readonly readsPerSecond: number;
  readonly maxReadsInFlight: number;
  /** Deadline of each Read and Observe once sent, ms. */
  readonly timeout: number;
}

export interface ServerLoadStats {
  reads: number;
  readsOk: number;
  /** Reads that failed, by reason (timeout, not-registered, registration-ended, a code...). */
  readFailures: Record<string, number>;
  observes: number;
  observesOk: number;
  observeFailures: Record<string, number>;
  notifications: number;
  observationsNow: number;
  readsInFlightNow: number;
}

export class ServerLoad {
  readonly #o: ServerLoadOptions;
  readonly #observations = new Map<string, Observation>();
  /** Observed endpoints whose Observe is being made. */
  readonly #observing = new Set<string>();
  #readsInFlight = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #credit = 0;
  readonly stats: Omit<ServerLoadStats, 'observationsNow' | 'readsInFlightNow'> = {
    reads: 0,
    readsOk: 0,
    readFailures: {},
    observes: 0,
    observesOk: 0,
    observeFailures: {},
    notifications: 0,
  };

  constructor(options: ServerLoadOptions) {
    this.#o = options;
    options.server.on('registered', (reg) => {
      if (options.observed(reg.endpoint)) void this.#observe(reg);
    });
    options.server.on('notification', () => this.stats.notifications++);
  }

  snapshot(): ServerLoadStats {
    return {
      ...this.stats,
      readFailures: { ...this.stats.readFailures },
      observeFailures: { ...this.stats.observeFailures },
      observationsNow: this.#observations.size,
      readsInFlightNow: this.#readsInFlight,
    };
  }

  /** Starts (or resumes) the Reads. */
  resume(): void {
    if (this.#timer) return;
    const tickMs = 100;
    this.#timer = setInterval(() => {
      this.#credit = Math.min(
        this.#credit + (this.#o.readsPerSecond * tickMs) / 1000,
        this.#o.maxReadsInFlight,
      );
      while (this.#credit >= 1 && this.#readsInFlight < this.#o.maxReadsInFlight) {
        this.#credit--;
        void this.#read();
      }
    }, tickMs);
  }

  /** Stops making Reads; those in flight finish (see `idle`). */
  pause(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#credit = 0;
  }

  /** Waits until no Read or Observe is in flight (false if `timeoutMs` passed first). */
  async idle(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.#readsInFlight > 0 || this.#observing.size > 0) {
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  }

  /**
   * Observes every registered device of the observed share that has no live observation (one
   * whose Observe failed under loss), then waits for those Observes; returns how many were missing.
   */
  async completeObservations(registrations: readonly Registration[], timeoutMs: number): Promise<number> {
    let missing = 0;
    for (const reg of registrations)
      if (
        this.#o.observed(reg.endpoint) &&
        !this.#observations.has(reg.endpoint) &&
        !this.#observing.has(reg.endpoint)
      ) {
        missing++;
        void this.#observe(reg);
      }
    await this.idle(timeoutMs);
    return missing;
  }

  async #read(): Promise<void> {
    const endpoints = this.#o.endpoints;
    const endpoint = endpoints[Math.floor(Math.random() * endpoints.length)]!;
    this.#readsInFlight++;
    this.stats.reads++;
    try {
      const result = await this.#o.server.read(endpoint, PATH, { timeout: this.#o.timeout });
      if (result.code === '2.05') this.stats.readsOk++;
      else count(this.stats.readFailures, result.code);
    } catch (e) {
      count(this.stats.readFailures, reasonOf(e));
    } finally {
      this.#readsInFlight--;
    }
  }

  async #observe(reg: Registration): Promise<void> {
    const endpoint = reg.endpoint;
    if (this.#observing.has(endpoint)) return;
    this.#observing.add(endpoint);
    this.stats.observes++;
    try {
      const observation = await this.#o.server.observe(endpoint, PATH, { timeout: this.#o.timeout });
      if (observation.response.code !== '2.05') {
        count(this.stats.observeFailures, observation.response.code);
        return;
      }
      this.stats.observesOk++;
      if (!observation.active) return; // the registration ended while the answer came back
      this.#observations.set(endpoint, observation);
      observation.once('end', () => {
        if (this.#observations.get(endpoint) === observation) this.#observations.delete(endpoint);
      });
    } catch (e) {
      count(this.stats.observeFailures, reasonOf(e));
    } finally {
      this.#observing.delete(endpoint);
    }
  }
}

function count(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

function reasonOf(e: unknown): string {
  if (e instanceof ServerRequestError) return e.reason;
  if (e instanceof Error && 'code' in e) return String(e.code);
  return 'error';
}
