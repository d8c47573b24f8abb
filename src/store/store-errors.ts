import { PetrelError } from '../errors.js';

/** A PSK identity is bound to one endpoint only: the DTLS handshake finds the device by it. */
export class CredentialConflictError extends PetrelError {
  /** The identity asked for, and the endpoint that already holds it. */
  readonly identity: string;
  readonly holder: string;
  constructor(identity: string, holder: string, endpoint: string) {
    super(
      'PETREL_ERR_CREDENTIAL_CONFLICT',
      `PSK identity ${quote(identity)} of endpoint ${quote(endpoint)} is already bound to endpoint ${quote(holder)}`,
    );
    this.identity = identity;
    this.holder = holder;
  }
}

/** A tag list the TagStore refuses (a tag breaking TAG_PATTERN, or more than MAX_TAGS). */
export class TagError extends PetrelError {
  /** The offending tag, when one tag is the reason. */
  readonly tag: string | undefined;
  constructor(message: string, tag?: string) {
    super('PETREL_ERR_TAG', message);
    this.tag = tag;
  }
}

/** A store spec (`memory`, `sqlite:<file>`, `redis://…`) that names no store Petrel can open. */
export class StoreSpecError extends PetrelError {
  constructor(spec: string, detail: string) {
    super(
      'PETREL_ERR_STORE_SPEC',
      `invalid store ${quote(spec)}: ${detail}; expected memory, sqlite:<file> (e.g. sqlite:./data/petrel.db) or redis://[user:password@]host:port[/db] (rediss:// for TLS)`,
    );
  }
}

/** A store option out of range (an event log capacity that is not a positive integer, ...). */
export class StoreOptionError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_STORE_OPTION', message);
  }
}

/** The backend cannot be opened or reached (an unwritable SQLite file, Redis down). */
export class StoreUnavailableError extends PetrelError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_STORE_UNAVAILABLE', message, options);
  }
}

/** A user-given string in a message: JSON-quoted and cut short, so a huge input makes no huge message. */
export function quote(text: string): string {
  return text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}…` : JSON.stringify(text);
}
