import type { Registration } from '../server/registration.js';

/** The result of storing a registration: the one it replaced (same endpoint), if any. */
export interface PutResult {
  readonly previous: Registration | undefined;
}

/**
 * Where registrations live (DESIGN.md store/). One endpoint name has at most one registration;
 * storing a new one replaces the old (Core §6.2.1: a new Register replaces the old registration).
 * Implementations: memory here; SQLite and Redis with the product issue, under one contract suite.
 */
export interface RegistrationStore {
  put(registration: Registration): Promise<PutResult>;
  get(endpoint: string): Promise<Registration | undefined>;
  getById(id: string): Promise<Registration | undefined>;
  /** Removes by endpoint; returns what was removed. With `id`, only if the stored one has that id. */
  remove(endpoint: string, id?: string): Promise<Registration | undefined>;
  /** Every registration, in no particular order. */
  all(): AsyncIterable<Registration>;
  /** Registrations whose expiresAt is before `time` (wall-clock ms). */
  expiring(before: number): AsyncIterable<Registration>;
  /**
   * What a restarting server needs of every registration (its expiry timer and peer index), in
   * no particular order. Optional: without it the server reads `all()`. A persistent store gives
   * it cheaply (SQLite: columns and one JSON field, no document parse), so a server on a million
   * registrations is ready in seconds.
   */
  summaries?(): AsyncIterable<RegistrationSummary>;
  readonly size: Promise<number>;
}

export type RegistrationSummary = Pick<Registration, 'endpoint' | 'id' | 'peer' | 'expiresAt'>;
