/**
 * In-memory ConnectionChannels for tests of CoAP over reliable transports (RFC 8323): a dialling
 * channel opens a connection on its first send to a listener, both sides see onConnect, frames
 * arrive whole, asynchronously and in order, and a test can cut a connection (loss) to see
 * onDisconnect on both sides.
 */
import {
  ChannelClosedError,
  ChannelEvents,
  ChannelSendError,
  peerKey,
  type ChannelErrorHandler,
  type ConnectionChannel,
  type ConnectionCloseReason,
  type LocalAddress,
  type Peer,
  type PeerIdentity,
  type ReceiveHandler,
} from '../../src/transport/channel.js';

type DisconnectHandler = (peer: Peer, reason: ConnectionCloseReason, error?: Error) => void;

interface Side {
  readonly channel: MemoryConnectionChannel;
  /** The other end, as this side sees it. */
  readonly peer: Peer;
}

/** One connection between a dialler and a listener. */
class MemoryConnection {
  open = true;
  constructor(
    readonly dialler: Side,
    readonly listener: Side,
  ) {}

  /** The other end of the connection, as `channel` sees it. */
  seenFrom(channel: MemoryConnectionChannel): Peer {
    return channel === this.dialler.channel ? this.dialler.peer : this.listener.peer;
  }

  other(channel: MemoryConnectionChannel): Side {
    return channel === this.dialler.channel ? this.listener : this.dialler;
  }
}

export interface MemoryConnectionStats {
  /** Frames accepted by send(). */
  frames: number;
  connects: number;
  disconnects: number;
}

export class MemoryConnectionNetwork {
  readonly stats: MemoryConnectionStats = { frames: 0, connects: 0, disconnects: 0 };
  readonly #listeners = new Map<string, MemoryConnectionChannel>();
  #tasks: (() => void)[] = [];
  #scheduled = false;
  #nextPort = 49152;

  /** A channel that accepts connections at `address`:`port`. */
  listen(address: string, port: number, options: { identity?: PeerIdentity } = {}): MemoryConnectionChannel {
    const channel = new MemoryConnectionChannel(this, { address, port }, false, options.identity);
    this.#listeners.set(peerKey({ address, port }), channel);
    return channel;
  }

  /** A channel that dials listeners on its first send to them (port 0: an ephemeral port). */
  dialler(address: string, port = 0, options: { identity?: PeerIdentity } = {}): MemoryConnectionChannel {
    return new MemoryConnectionChannel(
      this,
      { address, port: port || this.#nextPort++ },
      true,
      options.identity,
    );
  }

  /** Tasks (connects, frames, closes) not yet run. */
  get pending(): number {
    return this.#tasks.length;
  }

  /**
   * Simulates the loss of the connection between the two channels: queued frames are dropped,
   * and both sides see onDisconnect with reason 'error'. Returns false when there was none.
   */
  cut(a: MemoryConnectionChannel, b: MemoryConnectionChannel): boolean {
    const connection = a.connectionTo(b);
    if (!connection) return false;
    this.end(connection, 'error', 'error', new Error('connection lost'));
    return true;
  }

  /** @internal */
  listenerAt(peer: Peer): MemoryConnectionChannel | undefined {
    return this.#listeners.get(peerKey(peer));
  }

  /** @internal */
  unbind(channel: MemoryConnectionChannel): void {
    const key = peerKey(channel.local);
    if (this.#listeners.get(key) === channel) this.#listeners.delete(key);
  }

  /** @internal Ends a connection now (no more frames) and reports it to both sides, later. */
  end(
    connection: MemoryConnection,
    dialReason: ConnectionCloseReason,
    listenReason: ConnectionCloseReason,
    error?: Error,
  ): void {
    if (!connection.open) return;
    connection.open = false;
    this.stats.disconnects++;
    connection.dialler.channel.forget(connection);
    connection.listener.channel.forget(connection);
    this.enqueue(() => {
      connection.dialler.channel.disconnected(connection.dialler.peer, dialReason, error);
      connection.listener.channel.disconnected(connection.listener.peer, listenReason, error);
    });
  }

  /** @internal Runs `task` on a later round, after every task queued before it. */
  enqueue(task: () => void): void {
    this.#tasks.push(task);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#round());
  }

  #round(): void {
    this.#scheduled = false;
    const batch = this.#tasks;
    this.#tasks = [];
    for (const task of batch) task();
    if (this.#tasks.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#round());
    }
  }
}

export class MemoryConnectionChannel implements ConnectionChannel {
  readonly kind = 'memory' as const;
  readonly connectionOriented = true as const;
  readonly local: LocalAddress;
  readonly dials: boolean;
  readonly #network: MemoryConnectionNetwork;
  readonly #self: Peer;
  readonly #events = new ChannelEvents();
  readonly #connect: ((peer: Peer) => void)[] = [];
  readonly #disconnect: DisconnectHandler[] = [];
  /** Open connections by the other end's peer key. */
  readonly #connections = new Map<string, MemoryConnection>();
  #closed: Promise<void> | undefined;

  constructor(
    network: MemoryConnectionNetwork,
    local: LocalAddress,
    dials: boolean,
    identity?: PeerIdentity,
  ) {
    this.#network = network;
    this.local = local;
    this.dials = dials;
    this.#self = identity ? { ...local, identity } : { ...local };
  }

  /** Peers with an open connection. */
  get connections(): number {
    return this.#connections.size;
  }

  send(peer: Peer, frame: Uint8Array): void {
    if (this.#closed) throw new ChannelClosedError(this.kind);
    let connection = this.#connections.get(peerKey(peer));
    if (!connection) {
      const listener = this.dials ? this.#network.listenerAt(peer) : undefined;
      if (!listener) {
        const why = this.dials ? 'connection refused' : 'no connection to this peer';
        this.#events.errorLater(new ChannelSendError('network', peer, why, { systemCode: 'ECONNREFUSED' }));
        return;
      }
      connection = this.#dial(listener, peer);
    }
    this.#network.stats.frames++;
    const to = connection.other(this);
    const bytes = frame.slice(); // as a wire would: later changes by the sender do not travel
    const c = connection;
    this.#network.enqueue(() => {
      if (c.open) to.channel.deliver(to.peer, bytes);
    });
  }

  #dial(listener: MemoryConnectionChannel, peer: Peer): MemoryConnection {
    const connection = new MemoryConnection(
      { channel: this, peer: { ...peer, ...listener.#identityPart() } },
      { channel: listener, peer: this.#self },
    );
    this.#connections.set(peerKey(peer), connection);
    listener.#connections.set(peerKey(this.#self), connection);
    this.#network.stats.connects++;
    this.#network.enqueue(() => {
      if (!connection.open) return;
      listener.#fireConnect(connection.listener.peer);
      this.#fireConnect(connection.dialler.peer);
    });
    return connection;
  }

  #identityPart(): { identity?: PeerIdentity } {
    return this.#self.identity ? { identity: this.#self.identity } : {};
  }

  #fireConnect(peer: Peer): void {
    for (const h of this.#connect) h(peer);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#events.onError(handler);
  }

  onConnect(handler: (peer: Peer) => void): void {
    this.#connect.push(handler);
  }

  onDisconnect(handler: DisconnectHandler): void {
    this.#disconnect.push(handler);
  }

  /** Ends the connection once the frames sent before have arrived. */
  disconnect(peer: Peer): void {
    const connection = this.#connections.get(peerKey(peer));
    if (!connection) return;
    this.#network.enqueue(() => this.#endFromHere(connection));
  }

  #endFromHere(connection: MemoryConnection): void {
    const mine = connection.dialler.channel === this;
    this.#network.end(connection, mine ? 'closed' : 'peer-closed', mine ? 'peer-closed' : 'closed');
  }

  /** The open connection between this channel and `other`, if any. */
  connectionTo(other: MemoryConnectionChannel): MemoryConnection | undefined {
    for (const c of this.#connections.values()) if (c.other(this).channel === other) return c;
    return undefined;
  }

  /** @internal */
  deliver(peer: Peer, frame: Uint8Array): void {
    if (!this.#closed) this.#events.deliver(peer, frame);
  }

  /** @internal */
  forget(connection: MemoryConnection): void {
    const key = peerKey(connection.seenFrom(this));
    if (this.#connections.get(key) === connection) this.#connections.delete(key);
  }

  /** @internal */
  disconnected(peer: Peer, reason: ConnectionCloseReason, error?: Error): void {
    for (const h of this.#disconnect) h(peer, reason, error);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = Promise.resolve();
      this.#network.unbind(this);
      for (const connection of [...this.#connections.values()]) this.#endFromHere(connection);
    }
    return this.#closed;
  }
}
