/**
 * An observation the server holds with a client, as persisted so it outlives a server restart
 * (issue 6: after a SIGKILL the clients keep notifying without re-registering). It carries what
 * the binding needs to take notifications again (the token, the request's formats) and what the
 * server needs to rebuild its Observation (paths, attributes, resume).
 */
export interface PersistedObservation {
  /** The Observation's id (the message identity of its Observe command). */
  readonly id: string;
  readonly endpoint: string;
  /** The registration it belongs to; a new Register voids it (Core §6.4). */
  readonly registrationId: string;
  /** The CoAP token of the Observe (hex), the key notifications arrive under. */
  readonly token: string;
  /** Absolute paths as text (`/3/0/9`); one for Observe, several for Observe-Composite. */
  readonly paths: readonly string[];
  readonly composite: boolean;
  /** Notification attributes given with it (pmin, pmax, gt, ...), as plain JSON. */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Request formats: Accept and (composite) Content-Format ids. */
  readonly accept?: number;
  readonly format?: number;
  /** Re-observe after the client registers again. */
  readonly resume: boolean;
  /** Wall-clock ms when it was established. */
  readonly createdAt: number;
}

/** Where the server's observations live. Keyed by id; listed by endpoint. */
export interface ObservationStore {
  /** Stores or replaces (same id; a replacement may name another endpoint and moves there). */
  put(observation: PersistedObservation): Promise<void>;
  get(id: string): Promise<PersistedObservation | undefined>;
  /** Removes one; returns it when it was there. */
  remove(id: string): Promise<PersistedObservation | undefined>;
  /** The observations of one endpoint, oldest first (by createdAt, ties by id). */
  byEndpoint(endpoint: string): Promise<PersistedObservation[]>;
  /** Removes every observation of an endpoint; returns how many went. */
  removeByEndpoint(endpoint: string): Promise<number>;
  /** Every observation, in no particular order. */
  all(): AsyncIterable<PersistedObservation>;
}
