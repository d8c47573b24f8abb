/**
 * A Channel over one node:dgram socket: IPv4, IPv6 and dual-stack, multicast groups. Peers are
 * reported with IPv4 addresses in plain form even on a dual-stack socket, and IPv4 peers are
 * reachable from one, so peer keys and replies agree whichever socket family is in use.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import {
  ChannelBindError,
  ChannelClosedError,
  ChannelConfigError,
  ChannelError,
  ChannelEvents,
  ChannelSendError,
  ChannelSocketError,
  ChannelUnsupportedError,
  isMulticastAddress,
  normalizeAddress,
  type Channel,
  type ChannelErrorHandler,
  type LocalAddress,
  type Peer,
  type ReceiveHandler,
} from './channel.js';

export type UdpSocketType = 'udp4' | 'udp6';

/** The address send() is handing to dgram at this moment: an IP literal (#checkTarget made it). */
let sendingTo: string | undefined;

/**
 * dgram's address lookup (createSocket's `lookup`). The literal send() passes comes straight back
 * in the same call. The default, dns.lookup, tests every literal with a regular expression and
 * defers the datagram by a process.nextTick: on a server answering small requests that was a
 * real share of each one's cost. Anything else (a bind address) goes to dns.lookup as before.
 */
const literalLookup = ((
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void => {
  if (hostname === sendingTo) callback(null, hostname, hostname.includes(':') ? 6 : 4);
  else dns.lookup(hostname, options, callback);
}) as dgram.SocketOptions['lookup'];

export interface UdpChannelOptions {
  /** IP literal to bind: `0.0.0.0` / `::` for every interface. */
  readonly address: string;
  /** 0 for an ephemeral port (read it back from `local.port`). */
  readonly port: number;
  /** Defaults to the family of `address`. */
  readonly type?: UdpSocketType;
  /** udp6 only: refuse IPv4 traffic (otherwise `::` also receives IPv4, as `::ffff:a.b.c.d`). */
  readonly ipv6Only?: boolean;
  readonly reuseAddr?: boolean;
  /** SO_REUSEPORT load balancing: Node >= 22.12 / 23.1 on Linux, FreeBSD, Solaris or AIX. */
  readonly reusePort?: boolean;
  /** SO_RCVBUF / SO_SNDBUF in bytes (Linux doubles the figure and caps it at rmem_max / wmem_max). */
  readonly receiveBufferSize?: number;
  readonly sendBufferSize?: number;
}

export interface UdpLocalAddress extends LocalAddress {
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * Sender Peer objects kept for reuse: the senders of the current generation, up to this many, and
 * those of the previous one. A fleet that fits is never rebuilt (10,000 observed devices sending
 * round-robin missed every time with one 4096-entry table that was cleared when full).
 */
const PEER_GENERATION_LIMIT = 32_768;

/** The Node releases whose dgram has `reusePort` (nodejs/node#55403). */
const REUSE_PORT_NODE = 'Node >= 22.12 (22.x) or >= 23.1';
/** Where libuv implements UV_UDP_REUSEPORT; elsewhere binding fails with ENOTSUP. */
const REUSE_PORT_PLATFORMS: ReadonlySet<string> = new Set(['linux', 'freebsd', 'sunos', 'aix']);

export type MulticastOperation =
  'joinGroup' | 'leaveGroup' | 'setMulticastTTL' | 'setMulticastLoopback' | 'setMulticastInterface';

/** A multicast group operation the socket refused (bad group, wrong family, unknown interface). */
export class MulticastError extends ChannelError {
  readonly operation: MulticastOperation;
  constructor(
    operation: MulticastOperation,
    message: string,
    details: { systemCode?: string; cause?: unknown } = {},
  ) {
    super('PETREL_ERR_MULTICAST', `${operation}: ${message}`, details);
    this.operation = operation;
  }
}

export class UdpChannel implements Channel {
  readonly kind = 'udp' as const;
  readonly type: UdpSocketType;
  readonly #socket: dgram.Socket;
  readonly #ipv6Only: boolean;
  readonly #events = new ChannelEvents();
  /** Sender Peer objects by raw address and port (see #peerFor): this generation and the last. */
  #peers: PeerTable = new Map();
  #previousPeers: PeerTable = new Map();
  #cachedPeers = 0;
  /** The dgram address of each Peer object we sent to or received from. */
  readonly #targets = new WeakMap<Peer, string>();
  #local: UdpLocalAddress;
  #closing: Promise<void> | undefined;

  private constructor(socket: dgram.Socket, type: UdpSocketType, ipv6Only: boolean) {
    this.#socket = socket;
    this.type = type;
    this.#ipv6Only = ipv6Only;
    const bound = socket.address();
    this.#local = {
      address: bound.address,
      port: bound.port,
      family: bound.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    socket.on('message', (msg, rinfo) => {
      if (this.#closing) return;
      const peer = this.#peerFor(rinfo.address, rinfo.port);
      // A plain Uint8Array view (no copy), as every channel delivers: Buffer's slice() aliases
      // where Uint8Array's copies, and layers above are written against Uint8Array.
      this.#events.deliver(peer, new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
    });
    socket.on('error', (e) => {
      this.#events.error(new ChannelSocketError(e.message, { systemCode: systemCode(e), cause: e }));
    });
  }

  /**
   * Binds a socket; resolves once it is bound. Rejects with ChannelConfigError for unusable
   * options, ChannelUnsupportedError when reusePort is asked of a Node or OS without it, and
   * ChannelBindError when the OS refuses the address.
   */
  static async open(options: UdpChannelOptions): Promise<UdpChannel> {
    const type = checkOptions(options);
    if (options.reusePort && !UdpChannel.supportsReusePort()) throw reusePortUnsupported();
    const socketOptions: dgram.SocketOptions & { reusePort?: boolean } = { type, lookup: literalLookup };
    if (options.ipv6Only) socketOptions.ipv6Only = true;
    if (options.reuseAddr) socketOptions.reuseAddr = true;
    if (options.reusePort) socketOptions.reusePort = true;
    if (options.receiveBufferSize !== undefined) socketOptions.recvBufferSize = options.receiveBufferSize;
    if (options.sendBufferSize !== undefined) socketOptions.sendBufferSize = options.sendBufferSize;
    const socket = dgram.createSocket(socketOptions);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        socket.close();
        reject(
          new ChannelBindError(options.address, options.port, e.message, {
            systemCode: systemCode(e),
            cause: e,
          }),
        );
      };
      socket.once('error', onError);
      try {
        socket.bind(options.port, options.address, () => {
          socket.off('error', onError);
          resolve();
        });
      } catch (e) {
        // Node validates some things synchronously (e.g. buffer sizes it cannot set).
        socket.off('error', onError);
        onError(e instanceof Error ? e : new Error(String(e)));
      }
    });
    return new UdpChannel(socket, type, options.ipv6Only === true);
  }

  /**
   * Whether `reusePort` can work here: dgram gained it in Node 22.12 and 23.1, and libuv offers
   * it on Linux, FreeBSD, Solaris and AIX only. Older Nodes ignore the option silently, which is
   * why open() refuses it up front rather than binding without it.
   */
  static supportsReusePort(
    nodeVersion: string = process.versions.node,
    platform: string = process.platform,
  ): boolean {
    if (!REUSE_PORT_PLATFORMS.has(platform)) return false;
    const [major = 0, minor = 0] = nodeVersion.replace(/^v/, '').split('.').map(Number);
    if (major === 22) return minor >= 12;
    if (major === 23) return minor >= 1;
    return major >= 24;
  }

  get local(): UdpLocalAddress {
    return this.#local;
  }

  /** The kernel's receive buffer size in bytes (as Linux reports it: twice what was asked). */
  get receiveBufferSize(): number {
    this.#assertOpen('receiveBufferSize');
    return this.#socket.getRecvBufferSize();
  }

  get sendBufferSize(): number {
    this.#assertOpen('sendBufferSize');
    return this.#socket.getSendBufferSize();
  }

  send(peer: Peer, datagram: Uint8Array): void {
    if (this.#closing) throw new ChannelClosedError('udp');
    const target = this.#target(peer);
    if (target instanceof ChannelSendError) {
      this.#events.errorLater(target);
      return;
    }
    sendingTo = target;
    try {
      this.#socket.send(datagram, peer.port, target, (e) => {
        if (e) this.#events.error(sendError(peer, e));
      });
    } catch (e) {
      this.#events.errorLater(sendError(peer, e));
    } finally {
      sendingTo = undefined;
    }
  }

  onReceive(handler: ReceiveHandler): void {
    this.#events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#events.onError(handler);
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#closing;
  }

  // ---- multicast (RFC 7252 §8; LwM2M uses 224.0.1.187, ff02::fd, ff05::fd) ----

  /** Joins `group` on `interfaceAddress` (default: the interface the OS picks). */
  joinGroup(group: string, interfaceAddress?: string): void {
    this.#membership('joinGroup', group, interfaceAddress);
  }

  leaveGroup(group: string, interfaceAddress?: string): void {
    this.#membership('leaveGroup', group, interfaceAddress);
  }

  /** Hop limit of outgoing multicast datagrams, 0..255 (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS). */
  setMulticastTTL(ttl: number): void {
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) {
      throw new MulticastError('setMulticastTTL', `TTL must be an integer 0..255, got ${ttl}`);
    }
    this.#multicastCall('setMulticastTTL', () => this.#socket.setMulticastTTL(ttl));
  }

  /** Whether our own group sends come back to this host's members. */
  setMulticastLoopback(enabled: boolean): void {
    this.#multicastCall('setMulticastLoopback', () => this.#socket.setMulticastLoopback(enabled));
  }

  /** The interface for outgoing group sends: an IPv4 address, or `::%eth0` style for IPv6. */
  setMulticastInterface(interfaceAddress: string): void {
    this.#multicastCall('setMulticastInterface', () => this.#socket.setMulticastInterface(interfaceAddress));
  }

  // ---- internals ----

  /**
   * The Peer object for a sender, one per address and port (bounded), so the layers above can
   * cache what they derive from it (peerKey) instead of recomputing it per datagram. A dual-stack
   * socket sees IPv4 senders as ::ffff:a.b.c.d; peers are always plain IPv4.
   */
  #peerFor(address: string, port: number): Peer {
    let peer = findPeer(this.#peers, address, port);
    if (peer !== undefined) return peer;
    peer = findPeer(this.#previousPeers, address, port);
    if (peer === undefined) {
      peer = Object.freeze({ address: normalizeAddress(address), port });
      this.#targets.set(peer, address);
    }
    // Bounded: a generation that is full becomes the previous one (and the one before is dropped),
    // so a flood of sources (spoofed or not) costs at most two generations.
    if (this.#cachedPeers >= PEER_GENERATION_LIMIT) {
      this.#previousPeers = this.#peers;
      this.#peers = new Map();
      this.#cachedPeers = 0;
    }
    addPeer(this.#peers, address, peer);
    this.#cachedPeers++;
    return peer;
  }

  /** The address to hand dgram for `peer` (cached per Peer object), or why it cannot be reached. */
  #target(peer: Peer): string | ChannelSendError {
    const cached = this.#targets.get(peer);
    if (cached !== undefined) return cached;
    const target = this.#checkTarget(peer);
    if (typeof target === 'string') this.#targets.set(peer, target);
    return target;
  }

  #checkTarget(peer: Peer): string | ChannelSendError {
    if (!Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) {
      return new ChannelSendError('invalid-peer', peer, `port must be 1..65535`);
    }
    const address = normalizeAddress(peer.address);
    const family = isIP(address);
    if (family === 0) return new ChannelSendError('invalid-peer', peer, 'address is not an IP literal');
    if (this.type === 'udp4') {
      return family === 4
        ? address
        : new ChannelSendError('address-family', peer, 'an IPv4 socket cannot reach an IPv6 peer');
    }
    if (family === 6) return address;
    if (this.#ipv6Only) {
      return new ChannelSendError('address-family', peer, 'an IPv6-only socket cannot reach an IPv4 peer');
    }
    // A dual-stack socket reaches IPv4 peers through their IPv4-mapped form (RFC 4291 §2.5.5.2).
    return `::ffff:${address}`;
  }

  #membership(operation: 'joinGroup' | 'leaveGroup', group: string, interfaceAddress?: string): void {
    this.#assertOpen(operation);
    if (!isMulticastAddress(group)) {
      throw new MulticastError(operation, `${group} is not a multicast address (224.0.0.0/4 or ff00::/8)`);
    }
    const family = isIP(group);
    if (family === 6 && this.type === 'udp4') {
      throw new MulticastError(operation, `an IPv4 socket cannot join the IPv6 group ${group}`);
    }
    const call =
      operation === 'joinGroup'
        ? () => this.#socket.addMembership(group, interfaceAddress)
        : () => this.#socket.dropMembership(group, interfaceAddress);
    this.#multicastCall(operation, call, ` ${group}${interfaceAddress ? ` on ${interfaceAddress}` : ''}`);
  }

  #multicastCall(operation: MulticastOperation, call: () => unknown, what = ''): void {
    this.#assertOpen(operation);
    try {
      call();
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      throw new MulticastError(operation, `refused${what}: ${reason}`, {
        systemCode: systemCode(e),
        cause: e,
      });
    }
  }

  #assertOpen(operation: string): void {
    if (this.#closing) throw new ChannelClosedError('udp', operation);
  }
}

/**
 * Peers by the raw address dgram reports: the Peer itself for an address seen with one port (most
 * senders), a map by port once it shows several (devices behind one NAT).
 */
type PeerTable = Map<string, Peer | Map<number, Peer>>;

function findPeer(table: PeerTable, address: string, port: number): Peer | undefined {
  const entry = table.get(address);
  if (entry === undefined) return undefined;
  if (entry instanceof Map) return entry.get(port);
  return entry.port === port ? entry : undefined;
}

function addPeer(table: PeerTable, address: string, peer: Peer): void {
  const entry = table.get(address);
  if (entry === undefined) table.set(address, peer);
  else if (entry instanceof Map) entry.set(peer.port, peer);
  else
    table.set(
      address,
      new Map([
        [entry.port, entry],
        [peer.port, peer],
      ]),
    );
}

function checkOptions(options: UdpChannelOptions): UdpSocketType {
  const family = isIP(options.address);
  if (family === 0) {
    throw new ChannelConfigError(`UDP bind address must be an IP literal, got "${options.address}"`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new ChannelConfigError(`UDP port must be an integer 0..65535, got ${options.port}`);
  }
  const type = options.type ?? (family === 4 ? 'udp4' : 'udp6');
  if ((type === 'udp4') !== (family === 4)) {
    throw new ChannelConfigError(`a ${type} socket cannot bind ${options.address}`);
  }
  if (options.ipv6Only && type !== 'udp6')
    throw new ChannelConfigError('ipv6Only applies to udp6 sockets only');
  for (const key of ['receiveBufferSize', 'sendBufferSize'] as const) {
    const size = options[key];
    if (size !== undefined && (!Number.isInteger(size) || size < 1 || size > 0x7fffffff)) {
      throw new ChannelConfigError(`${key} must be a positive integer, got ${size}`);
    }
  }
  return type;
}

function reusePortUnsupported(): ChannelUnsupportedError {
  const version = process.versions.node;
  if (!REUSE_PORT_PLATFORMS.has(process.platform)) {
    return new ChannelUnsupportedError(
      'reusePort',
      'Linux, FreeBSD, Solaris or AIX',
      `reusePort is not available on ${process.platform} (needs Linux, FreeBSD, Solaris or AIX)`,
    );
  }
  return new ChannelUnsupportedError(
    'reusePort',
    REUSE_PORT_NODE,
    `reusePort needs ${REUSE_PORT_NODE}; this is Node ${version}`,
  );
}

function systemCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function sendError(peer: Peer, e: unknown): ChannelSendError {
  const code = systemCode(e);
  const failure =
    code === 'EMSGSIZE'
      ? 'too-large'
      : code === 'ERR_SOCKET_BAD_PORT' || code === 'ERR_INVALID_ARG_TYPE'
        ? 'invalid-peer'
        : 'network';
  const reason = e instanceof Error ? e.message : String(e);
  return new ChannelSendError(failure, peer, reason, { systemCode: code, cause: e });
}
