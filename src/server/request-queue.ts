import type { QueuedTimer, TimerQueue } from '../timer-queue.js';
import { ServerRequestError } from './errors.js';

interface Job<T> {
  readonly run: () => Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  expiry: QueuedTimer | undefined;
}

export interface RequestQueueOptions {
  readonly endpoint: string;
  readonly timers: TimerQueue;
  /** Most requests waiting; one more is refused with 'queue-full'. */
  readonly maxQueued: number;
  /** How long the client stays awake after its last message (ms); Transport TS: MAX_TRANSMIT_WAIT. */
  readonly awakeTime: number;
  readonly onAwake: () => void;
  readonly onSleeping: () => void;
}

/**
 * Queue mode for one client (Transport TS §Queue Mode; LWM2M-1.2.md §3.3): the client is reachable
 * only for `awakeTime` after it last sent something. Requests made while it sleeps wait here;
 * once it wakes they go one at a time, each after the previous one's answer. A request that
 * waits past its own deadline is rejected with 'queue-expired'. A timeout while awake means the
 * client went to sleep early: the queue stops until the next uplink.
 */
export class RequestQueue {
  readonly #options: RequestQueueOptions;
  readonly #jobs: Job<unknown>[] = [];
  #awake = false;
  #awakeTimer: QueuedTimer | undefined;
  #running = false;
  #closed = false;
  /** Queue mode off (the client left it): always awake until what waits has gone. */
  #draining = false;
  readonly #idle: (() => void)[] = [];

  constructor(options: RequestQueueOptions) {
    this.#options = options;
  }

  get awake(): boolean {
    return this.#awake;
  }

  get size(): number {
    return this.#jobs.length;
  }

  /** A request of this queue is in flight. */
  get busy(): boolean {
    return this.#running;
  }

  /** Resolves once nothing waits and nothing is in flight (at once if so already). */
  idle(): Promise<void> {
    if (!this.#running && this.#jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * The client sent something while awake: it stays awake for another awakeTime. Does not wake a
   * sleeping client: only a completed Register/Update (or a notification) does, so a queued
   * request never overtakes the answer to the uplink that woke the client.
   */
  touch(): void {
    if (this.#awake && !this.#draining) this.wake();
  }

  /**
   * The client left queue mode: it is reachable from now on. What waits goes out in order, one at
   * a time; new requests queue behind it, so none overtakes an older one.
   */
  drain(): void {
    this.#draining = true;
    this.#options.timers.cancel(this.#awakeTimer);
    this.#awakeTimer = undefined;
    this.#awake = true;
    this.#pump();
  }

  /** The client sent something: it is awake for another awakeTime. */
  wake(): void {
    if (this.#closed) return;
    if (this.#draining) return this.#pump();
    const { timers, awakeTime } = this.#options;
    timers.cancel(this.#awakeTimer);
    this.#awakeTimer = timers.schedule(() => this.sleep(), awakeTime);
    if (!this.#awake) {
      this.#awake = true;
      this.#options.onAwake();
    }
    this.#pump();
  }

  /** The client is no longer reachable (awake time over, or a request timed out). */
  sleep(): void {
    if (this.#draining) return;
    this.#options.timers.cancel(this.#awakeTimer);
    this.#awakeTimer = undefined;
    if (!this.#awake) return;
    this.#awake = false;
    if (!this.#closed) this.#options.onSleeping();
  }

  /**
   * Runs `run` when the client is awake and no other request of this queue is in flight.
   * `deadline` (ms from now) bounds the wait for the client to wake; undefined waits until the
   * registration ends.
   */
  enqueue<T>(run: () => Promise<T>, deadline: number | undefined): Promise<T> {
    const { endpoint, maxQueued, timers } = this.#options;
    if (this.#closed)
      return Promise.reject(
        new ServerRequestError('registration-ended', endpoint, `${endpoint} is not registered`),
      );
    if (this.#jobs.length >= maxQueued)
      return Promise.reject(
        new ServerRequestError(
          'queue-full',
          endpoint,
          `${maxQueued} requests already wait for ${endpoint} to wake up`,
        ),
      );
    return new Promise<T>((resolve, reject) => {
      const job: Job<T> = { run, resolve, reject, expiry: undefined };
      if (deadline !== undefined)
        job.expiry = timers.schedule(() => {
          const i = this.#jobs.indexOf(job as Job<unknown>);
          if (i < 0) return;
          this.#jobs.splice(i, 1);
          reject(
            new ServerRequestError(
              'queue-expired',
              endpoint,
              `${endpoint} did not wake up within ${deadline} ms; the queued request was dropped`,
            ),
          );
        }, deadline);
      this.#jobs.push(job as Job<unknown>);
      this.#pump();
    });
  }

  /** Rejects everything waiting (the registration ended) and stops the timers. */
  close(error: ServerRequestError): void {
    this.#closed = true;
    this.#draining = false;
    this.sleep();
    for (const job of this.#jobs.splice(0)) {
      this.#options.timers.cancel(job.expiry);
      job.reject(error);
    }
    if (!this.#running) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #pump(): void {
    if (this.#running) return;
    if (this.#jobs.length === 0 || this.#closed) {
      for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    if (!this.#awake) return;
    const job = this.#jobs.shift();
    if (!job) return;
    this.#options.timers.cancel(job.expiry);
    this.#running = true;
    // A job that throws synchronously is a rejection, not a jammed queue.
    let run: Promise<unknown>;
    try {
      run = job.run();
    } catch (e) {
      run = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    run
      .then(job.resolve, (e: unknown) => {
        if (e instanceof ServerRequestError && e.reason === 'timeout') this.sleep();
        job.reject(e);
      })
      .finally(() => {
        this.#running = false;
        this.#pump();
      });
  }
}
