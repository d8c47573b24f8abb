import { EventEmitter } from 'node:events';
import type { NotificationAttributes } from '../model/attributes.js';
import type { LwM2mPath } from '../model/path.js';
import type { RestoredObservation } from '../binding/binding.js';
import type { OperationResult } from './operation-result.js';

/** Why an observation ended. */
export type ObservationEndReason =
  | 'cancelled' // the application cancelled it
  | 'rejected' // the client answered without accepting it, or ended it with an error
  | 'deregistered' // the client de-registered
  | 'expired' // the registration's lifetime ran out
  | 'replaced' // a new Register made it void (Core §6.4: observations do not survive a Register)
  | 'stopped' // the server stopped
  | 'rate-limited'; // notificationRateLimit.cancelAfter: too many of its notifications were dropped

export interface ObservationNotification {
  readonly observation: Observation;
  /** Notification count (CoAP Observe sequence) as the client numbered it. */
  readonly sequence: number | undefined;
  readonly confirmable: boolean;
  /** Decoded like any response: code, records, tree, values. */
  readonly result: OperationResult;
}

/** The RequestOptions of a cancel (lwm2m-server.ts): its deadline, and the queue-mode signal. */
export interface ObservationCancelOptions {
  readonly timeout?: number;
  readonly onQueued?: () => void;
}

interface ObservationEvents {
  notification: [ObservationNotification];
  end: [ObservationEndReason];
  /** Re-established on a new registration (only with `resume`). */
  resumed: [OperationResult];
}

/**
 * An Observe or Observe-Composite the server holds with a client (Core §6.4). Emits
 * 'notification' for each Notify and 'end' once. `cancel()` sends the proactive cancel.
 */
export class Observation extends EventEmitter<ObservationEvents> {
  /** The message identity of the Observe command (shared by its notifications). */
  readonly id: string;
  readonly endpoint: string;
  readonly paths: readonly LwM2mPath[];
  readonly composite: boolean;
  readonly attributes: NotificationAttributes | undefined;
  /** Re-observe after the client registers again. */
  readonly resume: boolean;
  /**
   * The answer to the Observe: the first value. Replaced when the observation resumes. For an
   * observation taken back after a server restart (`restored`), an empty 2.05: the first value
   * went to the previous process.
   */
  response: OperationResult;
  /** Taken back from the observation store after a server restart. */
  readonly restored: boolean;
  /** Wall-clock ms when it was established. */
  readonly createdAt: number;
  registrationId: string;
  #binding: RestoredObservation | undefined;
  #active = true;
  #dropped = 0;
  readonly #cancel: (
    observation: Observation,
    options?: ObservationCancelOptions,
  ) => Promise<OperationResult | undefined>;

  /** @internal Built by LwM2mServer. */
  constructor(init: {
    id: string;
    endpoint: string;
    registrationId: string;
    paths: readonly LwM2mPath[];
    composite: boolean;
    attributes: NotificationAttributes | undefined;
    resume: boolean;
    response: OperationResult;
    binding: RestoredObservation;
    restored?: boolean;
    createdAt: number;
    cancel: (
      observation: Observation,
      options?: ObservationCancelOptions,
    ) => Promise<OperationResult | undefined>;
  }) {
    super();
    this.id = init.id;
    this.endpoint = init.endpoint;
    this.registrationId = init.registrationId;
    this.paths = init.paths;
    this.composite = init.composite;
    this.attributes = init.attributes;
    this.resume = init.resume;
    this.response = init.response;
    this.restored = init.restored ?? false;
    this.createdAt = init.createdAt;
    this.#binding = init.binding;
    this.#cancel = init.cancel;
  }

  get active(): boolean {
    return this.#active;
  }

  /**
   * Its notifications dropped by the server's `notificationRateLimit` (fresh ones the device sent
   * over its budget; never decoded nor emitted).
   */
  get droppedNotifications(): number {
    return this.#dropped;
  }

  /** @internal Counts one dropped notification; returns the count. */
  countDropped(): number {
    return ++this.#dropped;
  }

  /** The observed path (the first one of a composite). */
  get path(): LwM2mPath {
    return this.paths[0]!;
  }

  /**
   * Proactive cancel (CoAP GET/FETCH Observe=1); resolves with the client's answer, if one was
   * sent. `options` as for any request (default: the Observe's timeout).
   */
  cancel(options?: ObservationCancelOptions): Promise<OperationResult | undefined> {
    return this.#cancel(this, options);
  }

  /** @internal */
  get bindingObservation(): RestoredObservation | undefined {
    return this.#binding;
  }

  /** @internal Swaps in the binding observation of a resumed observation. */
  rebind(binding: RestoredObservation, registrationId: string, response: OperationResult): void {
    this.#binding = binding;
    this.registrationId = registrationId;
    this.response = response;
    this.emit('resumed', response);
  }

  /** @internal Ends it once: forgets the binding side (later notifications get RST) and emits 'end'. */
  end(reason: ObservationEndReason, forget = true): boolean {
    if (!this.#active) return false;
    this.#active = false;
    if (forget) this.#binding?.forget();
    this.emit('end', reason);
    return true;
  }

  /** @internal Detaches from a registration that ended, keeping the observation alive to resume. */
  suspend(): void {
    this.#binding?.forget();
    this.#binding = undefined;
  }
}
