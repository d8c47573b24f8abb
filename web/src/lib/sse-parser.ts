// An incremental parser of a text/event-stream body (HTML Living Standard, "Server-sent events",
// interpreting an event stream): the console reads a campaign's progress with fetch, so the
// bearer token can go in a header, and this turns the decoded chunks into messages.

export interface SseMessage {
  /** The `event:` field; `message` when the server named none. */
  readonly event: string;
  /** The `data:` lines joined with LF. */
  readonly data: string;
  /** The last `id:` seen so far in the stream, if any. */
  readonly id?: string;
}

/** Past this many characters in one message (or one line) the parser gives up: see `push`. */
export const DEFAULT_MAX_MESSAGE_CHARS = 64 * 1024 * 1024;

export class SseParseError extends Error {
  readonly code = 'SSE_TOO_LARGE';
}

export class SseParser {
  readonly #max: number;
  #buffer = '';
  /** The previous chunk ended in CR: an LF at the start of this one belongs to that line end. */
  #afterCr = false;
  #event = '';
  #data: string[] = [];
  #dataChars = 0;
  #id: string | undefined;

  constructor(options: { maxMessageChars?: number } = {}) {
    this.#max = options.maxMessageChars ?? DEFAULT_MAX_MESSAGE_CHARS;
  }

  /**
   * Feeds decoded text; returns the messages it completed. Throws SseParseError when a message
   * outgrows the limit (the caller drops the stream and reconnects), so memory stays bounded.
   */
  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (this.#afterCr && text.startsWith('\n')) text = text.slice(1);
    this.#afterCr = false;
    const out: SseMessage[] = [];
    let start = 0;
    let buffer = this.#buffer;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = buffer + text.slice(start, i);
      buffer = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else this.#afterCr = true;
      }
      start = i + 1;
      const message = this.#line(line);
      if (message) out.push(message);
    }
    this.#buffer = buffer + text.slice(start);
    if (this.#buffer.length + this.#dataChars > this.#max) {
      this.reset();
      throw new SseParseError(`an event-stream message over ${this.#max} characters`);
    }
    return out;
  }

  /** Forgets a partial message (a new connection starts clean; the last id is kept). */
  reset(): void {
    this.#buffer = '';
    this.#afterCr = false;
    this.#event = '';
    this.#data = [];
    this.#dataChars = 0;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        this.#dataChars += value.length + 1;
        if (this.#dataChars > this.#max) {
          this.reset();
          throw new SseParseError(`an event-stream message over ${this.#max} characters`);
        }
        break;
      case 'id':
        // An id with NULL is ignored (the standard's rule).
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        // `retry` and unknown fields: the console keeps its own reconnect delay.
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const data = this.#data;
    const event = this.#event === '' ? 'message' : this.#event;
    this.#event = '';
    this.#data = [];
    this.#dataChars = 0;
    if (data.length === 0) return undefined;
    return { event, data: data.join('\n'), ...(this.#id === undefined ? {} : { id: this.#id }) };
  }
}
