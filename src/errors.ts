/**
 * The base of every error Petrel throws on purpose. `code` is stable (like fastify's FST_ERR_*),
 * so callers branch on it, never on the message.
 */
export class PetrelError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
