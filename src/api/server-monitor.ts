import type { RecordsJson } from '../model/records-json.js';
import type { LwM2mServer, LwM2mServerEvents } from '../server/lwm2m-server.js';
import type { Observation } from '../server/observation.js';
import { SlidingCounter } from './rates.js';

/**
 * What the API knows of one observation beyond the server's Observation object (which has its
 * own `createdAt`): the notifications this process received.
 */
export interface ObservationStats {
  notifications: number;
  lastNotificationAt: number | undefined;
  lastValues: RecordsJson;
}

const MAX_LATENCIES = 1024;
const MAX_ACTIVITY = 100_000;

/**
 * Watches one server's events for what the REST API reports and the server does not keep: rates
 * over the last 10 s, when each client was last heard from, each command's latency (the server's
 * own send-to-answer time), and per-observation notification counts. Process-local by nature.
 */
export class ServerMonitor {
  readonly uplinks: SlidingCounter;
  readonly requests: SlidingCounter;
  readonly notifications: SlidingCounter;
  readonly #now: () => number;
  readonly #activity = new Map<string, number>();
  readonly #latencies = new Map<string, number>();
  readonly #observations = new WeakMap<Observation, ObservationStats>();
  readonly #off: (() => void)[] = [];

  constructor(server: LwM2mServer, options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    const counter = (): SlidingCounter => new SlidingCounter({ now: this.#now });
    this.uplinks = counter();
    this.requests = counter();
    this.notifications = counter();
    const on = <K extends keyof LwM2mServerEvents>(
      event: K,
      listener: (...args: LwM2mServerEvents[K]) => void,
    ): void => {
      const l = listener as (...args: unknown[]) => void;
      (server.on as (e: K, l: (...args: unknown[]) => void) => unknown)(event, l);
      this.#off.push(() => (server.off as (e: K, l: (...args: unknown[]) => void) => unknown)(event, l));
    };
    on('uplink', (e) => {
      this.uplinks.add();
      if (e.endpoint === undefined || !e.code.startsWith('2.')) return;
      // The server logs the De-register's uplink after its 'deregistered': the endpoint has left.
      if (e.operation === 'deregister') this.#activity.delete(e.endpoint);
      else this.#seen(e.endpoint);
    });
    on('request', () => this.requests.add());
    on('response', (e) => {
      if (e.durationMs !== undefined) {
        this.#latencies.set(e.id, e.durationMs);
        if (this.#latencies.size > MAX_LATENCIES)
          this.#latencies.delete(this.#latencies.keys().next().value!);
      }
      if (e.code !== undefined) this.#seen(e.endpoint);
    });
    on('notification', (n) => {
      this.notifications.add();
      this.#seen(n.observation.endpoint);
      const stats = this.observation(n.observation);
      stats.notifications++;
      stats.lastNotificationAt = this.#now();
      stats.lastValues = n.result.values;
    });
    on('deregistered', (reg) => this.#activity.delete(reg.endpoint));
    on('expired', (reg) => this.#activity.delete(reg.endpoint));
  }

  /** Wall-clock ms of the last message from the client, if this process saw one. */
  lastActivity(endpoint: string): number | undefined {
    return this.#activity.get(endpoint);
  }

  /** The server-measured latency of a command (by its id), once it has been answered. */
  latency(commandId: string): number | undefined {
    return this.#latencies.get(commandId);
  }

  /** The stats of an observation, created (none yet) when this process has none. */
  observation(o: Observation): ObservationStats {
    let stats = this.#observations.get(o);
    if (!stats) {
      stats = {
        notifications: 0,
        lastNotificationAt: undefined,
        lastValues: o.response.values,
      };
      this.#observations.set(o, stats);
    }
    return stats;
  }

  close(): void {
    for (const off of this.#off.splice(0)) off();
  }

  #seen(endpoint: string): void {
    this.#activity.delete(endpoint);
    this.#activity.set(endpoint, this.#now());
    if (this.#activity.size > MAX_ACTIVITY) this.#activity.delete(this.#activity.keys().next().value!);
  }
}
