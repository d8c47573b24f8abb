/**
 * An in-memory network for tests: channels bound to IP addresses and ports that deliver to each
 * other asynchronously, in the order sent, with UDP's manners (a datagram to nobody vanishes,
 * one too large is refused). Delivery runs on an injectable scheduler, so a test can step it.
 */
import { isIP } from 'node:net';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelEvents,
  ChannelSendError,
  normalizeAddress,
  peerKey,
  type Channel,
  type ChannelErrorHandler,
  type ChannelKind,
  type LocalAddress,
  type Peer,
  type PeerIdentity,
  type ReceiveHandler,
} from './channel.js';

/** Runs `task` later (never synchronously). */
export type Scheduler = (task: () => void) => void;

export interface MemoryNetworkOptions {
  /** How delivery is deferred; default setImmediate (lets timers and I/O run between rounds). */
  readonly schedule?: Scheduler;
  /** Datagrams larger than this fail with EMSGSIZE, as on UDP (default 65507, the IPv4 limit). */
  readonly maxDatagramSize?: number;
}

export interface MemoryChannelOptions {
  /** Attached to every datagram this channel sends, as a DTLS/TLS channel would authenticate it. */
  readonly identity?: PeerIdentity;
  /** What the channel reports as its kind (default 'memory'), e.g. to pose as a secure transport. */
  readonly kind?: ChannelKind;
}

export interface MemoryNetworkStats {
  /** Datagrams accepted by send(). */
  sent: number;
  /** Datagrams handed to a bound channel. */
  delivered: number;
  /** Datagrams for an address and port nobody was bound to when they arrived. */
  undeliverable: number;
}

interface InFlight {
  readonly from: Peer;
  readonly toKey: string;
  readonly bytes: Uint8Array;
}

const FIRST_EPHEMERAL_PORT = 49152; // RFC 6335 §6

/** What a channel holds of its network: how to send, how big a datagram may be, how to leave. */
export interface MemoryLink {
  readonly maxDatagramSize: number;
  enqueue(from: Peer, to: Peer, bytes: Uint8Array): void;
  /** Called once by the channel's constructor: how the network hands it datagrams. */
  attach(deliver: (from: Peer, bytes: Uint8Array) => void): void;
  unbind(): void;
}

export class MemoryNetwork {
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, undeliverable: 0 };
  readonly maxDatagramSize: number;
  readonly #schedule: Scheduler;
  readonly #bound = new Map<string, (from: Peer, bytes: Uint8Array) => void>();
  #queue: InFlight[] = [];
  #scheduled = false;

  constructor(options: MemoryNetworkOptions = {}) {
    this.#schedule = options.schedule ?? ((task) => void setImmediate(task));
    this.maxDatagramSize = options.maxDatagramSize ?? 65507;
  }

  /**
   * A channel bound to `address` (an IP literal) and `port` (0: the next free port from 49152).
   * Throws ChannelBindError when that address and port are taken.
   */
  channel(address: string, port = 0, options: MemoryChannelOptions = {}): MemoryChannel {
    if (isIP(address) === 0)
      throw new ChannelConfigError(`memory channel address must be an IP literal, got "${address}"`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ChannelConfigError(`memory channel port must be an integer 0..65535, got ${port}`);
    }
    const canonical = normalizeAddress(address);
    const chosen = port === 0 ? this.#freePort(canonical) : port;
    const key = peerKey({ address: canonical, port: chosen });
    if (this.#bound.has(key))
      throw new ChannelBindError(canonical, chosen, 'address in use', { systemCode: 'EADDRINUSE' });
    const link: MemoryLink = {
      maxDatagramSize: this.maxDatagramSize,
      enqueue: (from, to, bytes) => this.#enqueue({ from, toKey: peerKey(to), bytes }),
      attach: (deliver) => void this.#bound.set(key, deliver),
      unbind: () => void this.#bound.delete(key),
    };
    return new MemoryChannel({ address: canonical, port: chosen }, options, link);
  }

  /** Datagrams sent and not yet delivered. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Delivers every datagram queued so far, now, in order; those sent by the handlers meanwhile
   * wait for the next round. Returns how many were taken from the queue.
   */
  flush(): number {
    const batch = this.#queue;
    this.#queue = [];
    for (const item of batch) {
      const deliver = this.#bound.get(item.toKey);
      if (deliver) {
        this.stats.delivered++;
        deliver(item.from, item.bytes);
      } else {
        this.stats.undeliverable++;
      }
    }
    return batch.length;
  }

  #enqueue(item: InFlight): void {
    this.stats.sent++;
    this.#queue.push(item);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#schedule(() => this.#round());
  }

  #round(): void {
    this.#scheduled = false;
    this.flush();
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => this.#round());
    }
  }

  #freePort(address: string): number {
    for (let port = FIRST_EPHEMERAL_PORT; port <= 65535; port++) {
      if (!this.#bound.has(peerKey({ address, port }))) return port;
    }
    throw new ChannelBindError(address, 0, 'no free ephemeral port', { systemCode: 'EADDRINUSE' });
  }
}

export class MemoryChannel implements Channel {
  readonly kind: ChannelKind;
  readonly local: LocalAddress;
  readonly #link: MemoryLink;
  readonly #from: Peer;
  readonly #events = new ChannelEvents();
  #closed: Promise<void> | undefined;

  /** Made by MemoryNetwork.channel(). */
  constructor(local: LocalAddress, options: MemoryChannelOptions, link: MemoryLink) {
    this.local = local;
    this.kind = options.kind ?? 'memory';
    this.#link = link;
    this.#from = options.identity
      ? { address: local.address, port: local.port, identity: options.identity }
      : { address: local.address, port: local.port };
    link.attach((from, bytes) => {
      if (!this.#closed) this.#events.deliver(from, bytes);
    });
  }

  send(peer: Peer, datagram: Uint8Array): void {
    if (this.#closed) throw new ChannelClosedError(this.kind);
    if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) {
      this.#events.errorLater(new ChannelSendError('invalid-peer', peer, 'port must be 1..65535'));
      return;
    }
    if (isIP(peer.address) === 0) {
      this.#events.errorLater(new ChannelSendError('invalid-peer', peer, 'address is not an IP literal'));
      return;
    }
    const max = this.#link.maxDatagramSize;
    if (datagram.length > max) {
      this.#events.errorLater(
        new ChannelSendError('too-large', peer, `${datagram.length} bytes exceed ${max}`, {
          systemCode: 'EMSGSIZE',
        }),
      );
      return;
    }
    // A copy, as a wire would make: a sender that reuses its buffer cannot change what arrives.
    this.#link.enqueue({ ...this.#from }, peer, datagram.slice());
  }

  onReceive(handler: ReceiveHandler): void {
    this.#events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#events.onError(handler);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#link.unbind();
      this.#closed = Promise.resolve();
    }
    return this.#closed;
  }
}
