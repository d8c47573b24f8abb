import type { Channel, ChannelErrorHandler, Peer, ReceiveHandler } from '../../src/transport/channel.js';

/**
 * A client's socket behind a NAT that rebinds: it sends from its current inner channel, and
 * `rebind` switches to another (a new public address and port) while the DTLS session on top
 * stays. Datagrams reaching any of its channels are received.
 */
export class RebindableChannel implements Channel {
  readonly kind = 'memory' as const;
  readonly #channels: Channel[];
  #current: Channel;
  #handler: ReceiveHandler | undefined;
  #errorHandler: ChannelErrorHandler | undefined;

  constructor(first: Channel) {
    this.#channels = [first];
    this.#current = first;
    first.onReceive((peer, bytes) => this.#handler?.(peer, bytes));
    first.onError?.((e) => this.#errorHandler?.(e));
  }

  get local() {
    return this.#current.local;
  }

  /** From now on, datagrams leave from `next`. */
  rebind(next: Channel): void {
    this.#channels.push(next);
    this.#current = next;
    next.onReceive((peer, bytes) => this.#handler?.(peer, bytes));
    next.onError?.((e) => this.#errorHandler?.(e));
  }

  /** While set, datagrams sent are kept here instead of leaving (a test sends them as it likes). */
  held: Uint8Array[] | undefined;

  send(peer: Peer, bytes: Uint8Array): void {
    if (this.held) this.held.push(bytes.slice());
    else this.#current.send(peer, bytes);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#handler = handler;
  }

  onError(handler: ChannelErrorHandler): void {
    this.#errorHandler = handler;
  }

  async close(): Promise<void> {
    await Promise.all(this.#channels.map((c) => c.close()));
  }
}
