import type { BootstrapConfigStore } from './bootstrap-config-store.js';
import type { CredentialStore } from './credential-store.js';
import type { EventLog } from './event-log.js';
import type { ObservationStore } from './observation-store.js';
import type { RegistrationStore } from './registration-store.js';
import type { TagStore } from './tag-store.js';

/** Every store the server uses, opened together on one backend (memory, SQLite file, Redis). */
export interface Stores {
  /** `memory`, `sqlite:<file>` or `redis://…`, as opened. */
  readonly kind: 'memory' | 'sqlite' | 'redis';
  readonly registrations: RegistrationStore;
  readonly observations: ObservationStore;
  readonly credentials: CredentialStore;
  readonly bootstrapConfigs: BootstrapConfigStore;
  readonly tags: TagStore;
  readonly events: EventLog;
  /** Closes the backend (database handle, Redis connections). */
  close(): Promise<void>;
}
