import { hex } from '../hex.js';
import { Sha256 } from './sha256.js';
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { cryptoRandom, type RandomSource } from '../random.js';
import { TimerQueue, type TimerTask } from '../timer-queue.js';
import {
  ChannelClosedError,
  ChannelConfigError,
  ChannelError,
  ChannelEvents,
  ChannelSendError,
  ChannelSocketError,
  peerKey,
  type Channel,
  type ChannelErrorHandler,
  type LocalAddress,
  type Peer,
  type ReceiveHandler,
} from '../transport/channel.js';
import { CookieJar } from './cookie.js';
import type { ConnectionContext, DtlsConnection, HandshakeTiming } from './dtls-connection.js';
import { DtlsSessionError } from './dtls-session-error.js';
import {
  HandshakeType,
  encodeHandshakeMessage,
  parseHandshakeFragments,
  wholeMessage,
  type HandshakeMessage,
} from './handshake.js';
import { ClientHandshake, type ClientSessions } from './handshake-client.js';
import { HandshakeReassembler } from './handshake-reassembler.js';
import {
  DEFAULT_CIPHER_SUITES,
  MAX_PSK_IDENTITY,
  ServerHandshake,
  type PskLookup,
  type ServerSessions,
} from './handshake-server.js';
import { checkAuthOptions, type DtlsAuthOptions } from './dtls-auth-options.js';
import { decodeClientHello, encodeHelloVerifyRequest, type ClientHello } from './hello-messages.js';
import type { DtlsRecord } from './record.js';
import {
  ContentType,
  DTLS_1_0,
  MAX_RECORD_FRAGMENT,
  RECORD_HEADER_LENGTH,
  encodeRecord,
  parseDatagram,
} from './record.js';
import { MAX_PLAINTEXT } from './record-protection.js';
import { SessionCache, sessionIdKey, type SessionCacheOptions } from './session-cache.js';

export interface DtlsLimits {
  /** Handshakes in progress at most; ClientHellos beyond are dropped. Default 256. */
  maxHandshakes?: number;
  /** Established sessions at most; the least recently active one is closed for a new one. Default 10000. */
  maxSessions?: number;
  /** A session with no traffic for this long is closed (ms). Default 10 minutes. */
  idleTimeout?: number;
  /** Client: datagrams held per peer while its handshake runs. Default 32. */
  maxQueuedDatagrams?: number;
}

export interface DtlsCommonOptions {
  /** The transport (UDP) the records travel over; closed with the DtlsChannel. */
  channel: Channel;
  clock?: Clock;
  random?: RandomSource;
  /** Flight retransmission and handshake timeout (ms); see HandshakeTiming. */
  timing?: Partial<HandshakeTiming>;
  /** Largest datagram a flight is packed into. Default 1200. */
  mtu?: number;
  limits?: DtlsLimits;
  /**
   * Refuse peers that do not negotiate extended_master_secret (RFC 7627). Default false: it is
   * used whenever both sides offer it, and older LwM2M clients without it are still served.
   */
  requireExtendedMasterSecret?: boolean;
}

export interface DtlsServerOptions extends DtlsCommonOptions, DtlsAuthOptions {
  /** The key of a PSK identity, or undefined when it is unknown (the client gets unknown_psk_identity). */
  psk?: PskLookup;
  /** The PSK identity hint; when set, a ServerKeyExchange carries it (RFC 4279 §2). */
  hint?: Uint8Array | string;
  /** The HelloVerifyRequest secret rotates this often (ms). Default 5 minutes. */
  cookieRotation?: number;
  /**
   * Length of the Connection IDs (RFC 9146) the server gives clients that offer the extension:
   * their records then find their session whatever address they come from. 0: no CIDs.
   * Default 6.
   */
  connectionIdLength?: number;
  /**
   * Resumable sessions (RFC 5246 §7.3): each full handshake gets a session_id, and a client that
   * offers it back gets the abbreviated handshake. `false`: no session_id, no resumption.
   * Default on: 10000 sessions (LRU), each resumable for 24 h after its full handshake.
   */
  sessionCache?: SessionCacheOptions | false;
}

export interface DtlsClientOptions extends DtlsCommonOptions, DtlsAuthOptions {
  psk?: { identity: Uint8Array | string; key: Uint8Array };
  /** The server's name: sent as SNI (RFC 6066, not for IP literals) and given to `verifyPeer`. */
  serverName?: string;
  /**
   * Offer record_size_limit (RFC 8449): the largest record plaintext this client takes, 64..2^14.
   * A server that implements it keeps its records (handshake fragments too) within it.
   */
  recordSizeLimit?: number;
  /** Offer max_fragment_length (RFC 6066 §4): 1..4 for records of 2^9..2^12 bytes both ways. */
  maxFragmentLength?: 1 | 2 | 3 | 4;
  /**
   * Offer the connection_id extension (RFC 9146) with a zero-length CID: we put the server's CID
   * on our records, so the server keeps our session when our address changes (NAT rebinding).
   * Default true.
   */
  connectionId?: boolean;
  /**
   * The sessions remembered per server (address, port and our credentials) and offered for
   * resumption in the next handshake with it (RFC 5246 §7.3). A SessionCache (say, the
   * `sessionCache` of an earlier channel) is shared, so a new channel resumes the old one's
   * sessions. `false`: never resume. Default on: 10000 servers, 24 h.
   */
  sessionCache?: SessionCacheOptions | SessionCache | false;
}

export interface DtlsChannelStats {
  handshakes: number;
  sessions: number;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: false });
const toBytes = (v: Uint8Array | string): Uint8Array => (typeof v === 'string' ? encoder.encode(v) : v);

interface Entry {
  /** The peerKey of the address the session is at now (a CID session follows its peer). */
  key: string;
  /** The hex of our CID on the peer's records, when the server gave one. */
  cid: string | undefined;
  connection: DtlsConnection;
  /** Where our records to the peer go: its current address. */
  route: { peer: Peer };
  /** The source of the datagram being handled, for a CID session (it may have moved). */
  incoming: Peer | undefined;
  /** Server, a handshake beside an established session: the client's ChangeCipherSpec came. */
  sawChangeCipherSpec?: boolean;
  /** Client: datagrams waiting for the handshake. */
  queue: Uint8Array[];
  idleTask: TimerTask;
}

/**
 * DTLS 1.2 over a datagram Channel, as a Channel itself (RFC 6347): the CoAP endpoint sends and
 * receives plaintext through it. Server role: `DtlsChannel.server` answers ClientHellos (with a
 * stateless cookie round first) and reports each datagram with the client's authenticated PSK
 * identity. Client role: `DtlsChannel.client` starts a handshake on the first send to a peer and
 * holds the datagrams until it completes. Sessions are keyed by address and port.
 */
export class DtlsChannel implements Channel {
  readonly kind = 'dtls' as const;
  readonly #inner: Channel;
  readonly #role: 'client' | 'server';
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #timers: TimerQueue;
  readonly #timing: HandshakeTiming;
  readonly #mtu: number;
  readonly #limits: Required<DtlsLimits>;
  readonly #requireEms: boolean;
  readonly #events = new ChannelEvents();
  readonly #sessionClosed: ((info: { peer: Peer; reason: DtlsSessionCloseReason }) => void)[] = [];
  readonly #entries = new Map<string, Entry>();
  /** Server: ClientHellos arriving in fragments, by address, until complete (bounded, short-lived). */
  readonly #partialHellos = new Map<string, PartialHello>();
  /**
   * Server: a handshake from the address of an established session, kept beside it until it
   * completes. RFC 6347 §4.2.8: the old association must not go before the client has shown it is
   * reachable, and a late or replayed hello with a still-valid cookie shows nothing.
   */
  readonly #pending = new Map<string, Entry>();
  /** Every session and handshake (a moved CID session may be in #byCid only). */
  readonly #live = new Set<Entry>();
  /** Server: sessions (and handshakes) by the hex of the CID we gave them. */
  readonly #byCid = new Map<string, Entry>();
  /**
   * Established sessions by the Peer object the application was given (applicationPeer): the
   * application sends to that object, and this finds its session without making a key. Only live
   * sessions: #closed and #move take their Peers out.
   */
  readonly #byPeer = new WeakMap<Peer, Entry>();
  /**
   * peerKey of each Peer object seen (Peers are immutable, and the transport and the application
   * hand the same objects back): a datagram or send costs a lookup instead of building the key.
   */
  readonly #keys = new WeakMap<Peer, string>();
  /** Server: the CID length we hand out (0: none). Client: whether we offer the extension. */
  readonly #cidLength: number;
  readonly #offerCid: boolean;
  /** Client: the record size extensions it offers. */
  readonly #recordLimits: { recordSizeLimit?: number; maxFragmentLength?: number } = {};
  #handshakes = 0;
  #closing: Promise<void> | undefined;
  // server
  readonly #cookies: CookieJar | undefined;
  readonly #psk: PskLookup | undefined;
  readonly #hint: Uint8Array | undefined;
  // client
  readonly #credentials: { identity: Uint8Array; key: Uint8Array } | undefined;
  /** Both roles: the certificate options (and client serverName), checked. */
  readonly #auth: DtlsAuthOptions & { serverName?: string };
  /** Both roles: resumable sessions (server: by session_id; client: by server and credentials). */
  readonly #sessions: SessionCache | undefined;
  /** Client: names our credentials in the cache keys (a shared cache may serve other credentials). */
  #credentialTag = '';

  private constructor(
    role: 'client' | 'server',
    options: DtlsCommonOptions,
    server?: DtlsServerOptions,
    client?: DtlsClientOptions,
  ) {
    this.#role = role;
    this.#inner = options.channel;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? cryptoRandom;
    this.#timers = new TimerQueue(this.#clock);
    this.#timing = {
      initialTimeout: options.timing?.initialTimeout ?? 1000,
      maxTimeout: options.timing?.maxTimeout ?? 60_000,
      handshakeTimeout: options.timing?.handshakeTimeout ?? 60_000,
    };
    if (!(this.#timing.initialTimeout > 0 && this.#timing.maxTimeout >= this.#timing.initialTimeout))
      throw new ChannelConfigError('DTLS timing needs 0 < initialTimeout <= maxTimeout');
    this.#mtu = options.mtu ?? 1200;
    if (!(this.#mtu >= 256)) throw new ChannelConfigError('DTLS mtu must be at least 256');
    this.#limits = {
      maxHandshakes: options.limits?.maxHandshakes ?? 256,
      maxSessions: options.limits?.maxSessions ?? 10_000,
      idleTimeout: options.limits?.idleTimeout ?? 10 * 60_000,
      maxQueuedDatagrams: options.limits?.maxQueuedDatagrams ?? 32,
    };
    this.#requireEms = options.requireExtendedMasterSecret ?? false;
    this.#cidLength = server?.connectionIdLength ?? (server ? 6 : 0);
    if (!(Number.isInteger(this.#cidLength) && this.#cidLength >= 0 && this.#cidLength <= 32))
      throw new ChannelConfigError('DTLS connectionIdLength must be an integer 0..32');
    this.#offerCid = client?.connectionId ?? client !== undefined;
    if (client?.recordSizeLimit !== undefined) {
      const limit = client.recordSizeLimit;
      if (!(Number.isInteger(limit) && limit >= 64 && limit <= MAX_PLAINTEXT))
        throw new ChannelConfigError('DTLS recordSizeLimit must be an integer 64..16384 (RFC 8449)');
      this.#recordLimits.recordSizeLimit = limit;
    }
    if (client?.maxFragmentLength !== undefined) {
      if (![1, 2, 3, 4].includes(client.maxFragmentLength))
        throw new ChannelConfigError('DTLS maxFragmentLength must be 1..4 (2^9..2^12 bytes, RFC 6066)');
      this.#recordLimits.maxFragmentLength = client.maxFragmentLength;
    }
    this.#auth = server ?? client!;
    checkAuthOptions(this.#auth);
    if (server) {
      this.#psk = server.psk;
      this.#hint = server.hint === undefined ? undefined : toBytes(server.hint);
      this.#cookies = new CookieJar({
        clock: this.#clock,
        random: this.#random,
        rotateAfterMs: server.cookieRotation,
      });
    }
    if (client?.psk) {
      const identity = toBytes(client.psk.identity);
      if (identity.length === 0 || identity.length > MAX_PSK_IDENTITY)
        throw new ChannelConfigError('PSK identity must be 1..128 bytes');
      if (client.psk.key.length === 0 || client.psk.key.length > 64)
        throw new ChannelConfigError('PSK key must be 1..64 bytes');
      this.#credentials = { identity, key: client.psk.key };
    }
    const cacheOption = server ? server.sessionCache : client?.sessionCache;
    this.#sessions =
      cacheOption === false
        ? undefined
        : cacheOption instanceof SessionCache
          ? cacheOption
          : new SessionCache(this.#clock, cacheOption);
    if (client) this.#credentialTag = credentialTag(this.#credentials, this.#auth);
    this.#inner.onReceive((peer, bytes) => {
      if (this.#closing) return;
      try {
        this.#datagram(peer, bytes);
      } catch (e) {
        this.#events.error(
          e instanceof ChannelError ? e : new ChannelSocketError('DTLS receive failed', { cause: e }),
        );
      }
    });
    this.#inner.onError?.((e) => this.#events.error(e));
  }

  /** A DTLS server over `options.channel`. */
  static server(options: DtlsServerOptions): DtlsChannel {
    return new DtlsChannel('server', options, options, undefined);
  }

  /** A DTLS client over `options.channel`; a send to a peer without a session starts a handshake. */
  static client(options: DtlsClientOptions): DtlsChannel {
    return new DtlsChannel('client', options, undefined, options);
  }

  get local(): LocalAddress | undefined {
    return this.#inner.local;
  }

  /** The resumable sessions (undefined with `sessionCache: false`); a client's may go to a new channel. */
  get sessionCache(): SessionCache | undefined {
    return this.#sessions;
  }

  /** Handshakes in progress and established sessions. */
  get stats(): DtlsChannelStats {
    return { handshakes: this.#handshakes, sessions: this.#live.size - this.#handshakes };
  }

  /** The authenticated Peer of an established session with this address, if any. */
  session(peer: Peer): Peer | undefined {
    const entry = this.#lookup(peer);
    return entry?.connection.state === 'established' ? entry.connection.applicationPeer : undefined;
  }

  send(peer: Peer, datagram: Uint8Array): void {
    if (this.#closing) throw new ChannelClosedError(this.kind);
    let entry = this.#byPeer.get(peer);
    // Only while that session is established and still gives this Peer: then #lookup finds it too.
    if (
      entry === undefined ||
      entry.connection.state !== 'established' ||
      entry.connection.applicationPeer !== peer
    )
      entry = this.#lookup(peer);
    if (entry?.connection.state === 'established') {
      this.#sendData(entry.connection, peer, datagram); // notes the activity
      return;
    }
    if (this.#role === 'server') {
      this.#events.errorLater(new DtlsSessionError('no-session', peer, 'no DTLS session with this peer'));
      return;
    }
    if (!entry) {
      if (this.#handshakes >= this.#limits.maxHandshakes) {
        this.#events.errorLater(new DtlsSessionError('limit', peer, 'too many DTLS handshakes in progress'));
        return;
      }
      const target: Peer = { address: peer.address, port: peer.port };
      const key = this.#keyOf(peer);
      entry = this.#add(
        key,
        target,
        (ctx) =>
          new ClientHandshake(ctx, {
            psk: this.#credentials && {
              ...this.#credentials,
              identityText: utf8.decode(this.#credentials.identity),
            },
            certificate: this.#auth.certificate,
            verifyPeer: this.#auth.verifyPeer,
            cipherSuites: this.#auth.cipherSuites ?? DEFAULT_CIPHER_SUITES,
            serverName: this.#auth.serverName,
            ...(this.#sessions ? { session: this.#clientSessions(key) } : {}),
            ...this.#recordLimits,
          }),
      );
      entry.queue.push(datagram);
      (entry.connection as ClientHandshake).start();
      return;
    }
    if (entry.queue.length >= this.#limits.maxQueuedDatagrams) {
      this.#events.errorLater(new DtlsSessionError('queue-full', peer, 'DTLS handshake queue full'));
      return;
    }
    entry.queue.push(datagram);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#events.onReceive(handler);
  }

  onError(handler: ChannelErrorHandler): void {
    this.#events.onError(handler);
  }

  /**
   * An established session ended: the peer sent close_notify (`peer-closed`), we ended it (idle
   * timeout, eviction, close(): `closed`), or it failed (`failed`, also reported to onError). A
   * client uses it to start a new handshake at once instead of waiting for a retransmission.
   */
  onSessionClosed(handler: (info: { peer: Peer; reason: DtlsSessionCloseReason }) => void): void {
    this.#sessionClosed.push(handler);
  }

  /** Sends close_notify on every session, then closes the transport. */
  close(): Promise<void> {
    if (!this.#closing) {
      for (const entry of [...this.#live]) entry.connection.closeNotify();
      this.#entries.clear();
      this.#byCid.clear();
      this.#pending.clear();
      this.#partialHellos.clear();
      this.#live.clear();
      this.#timers.clear();
      // One turn of the event loop first: a UDP send goes out on the next tick (address lookup),
      // and closing the socket at once would drop the close_notify alerts just sent.
      this.#closing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#inner.close());
    }
    return this.#closing;
  }

  // ---- receive path ----

  #datagram(peer: Peer, bytes: Uint8Array): void {
    if (this.#wireRecord(peer, bytes)) return;
    // Records that do not parse are dropped (RFC 6347 §4.1.2.7).
    let { records } = parseDatagram(bytes, this.#cidLength > 0 ? { cidLength: this.#cidLength } : {});
    if (records.length === 0) return;
    const cid = records.find((r) => r.cid !== undefined)?.cid;
    if (cid) {
      // RFC 9146 §6: the CID, not the address, names the session.
      const byCid = this.#byCid.get(hex(cid));
      if (!byCid) return;
      byCid.incoming = peer;
      byCid.connection.receive(records);
      byCid.incoming = undefined;
      return;
    }
    const key = this.#keyOf(peer);
    const entry = this.#entries.get(key);
    const pending = this.#pending.get(key);
    const helloRecord = this.#role === 'server' ? records.find(isClientHello) : undefined;
    if (helloRecord) {
      const hello = parseClientHello(helloRecord) ?? this.#assembleHello(key, helloRecord);
      if (!hello) return; // malformed or still incomplete: no answer
      // The hello of the current handshake or session, again: in a handshake it is a
      // retransmission (the connection resends its flight); once established it is a late copy or
      // a replay, and must not end the session. A restarted client has a new random.
      const same = [entry?.connection, pending?.connection].find(
        (c) => c instanceof ServerHandshake && equalBytes(c.clientRandom, hello.body.random),
      );
      if (!same) {
        this.#clientHello(peer, key, helloRecord, hello);
        return;
      }
      if (same.state !== 'handshake') return;
    }
    if (pending) {
      // The new handshake takes epoch 0, and epoch 1 from the client's ChangeCipherSpec on (it
      // may sit in the same datagram as the Finished after it, or wait behind a PSK lookup); the
      // established session keeps the rest of epoch 1. Records in datagram order (RFC 6347 §4.1).
      const rest: DtlsRecord[] = [];
      for (const r of records) {
        if (r.epoch === 0 && r.type === ContentType.change_cipher_spec) pending.sawChangeCipherSpec = true;
        if (r.epoch === 0 || pending.sawChangeCipherSpec) pending.connection.receive([r]);
        else rest.push(r);
      }
      if (rest.length === 0) return;
      records = rest;
    }
    if (!entry) return;
    entry.connection.receive(records); // it notes activity only for authenticated records
  }

  /**
   * An established session's usual datagram: one epoch-1 DTLS 1.2 record filling it, either
   * application_data or (server) tls12_cid, handed to its session as it lies (receiveWire) instead
   * of being parsed into objects. Exactly what the general path would do with it; false, having
   * done nothing, for anything else (then the general path takes the datagram).
   */
  #wireRecord(peer: Peer, bytes: Uint8Array): boolean {
    const n = bytes.length;
    if (
      n < RECORD_HEADER_LENGTH ||
      bytes[1] !== 0xfe ||
      bytes[2] !== 0xfd ||
      bytes[3] !== 0 ||
      bytes[4] !== 1
    )
      return false; // not DTLS 1.2 in epoch 1
    const type = bytes[0];
    let headerLength = RECORD_HEADER_LENGTH;
    let entry: Entry | undefined;
    if (type === ContentType.tls12_cid) {
      // RFC 9146 §6: the CID, not the address, names the session.
      if (this.#cidLength === 0 || n < RECORD_HEADER_LENGTH + this.#cidLength) return false;
      headerLength += this.#cidLength;
      entry = this.#byCid.get(hex(bytes, 11, 11 + this.#cidLength));
    } else if (type === ContentType.application_data) {
      const key = this.#keyOf(peer);
      // A handshake beside the session may own epoch-1 records: the general path sorts them.
      if (this.#pending.size > 0 && this.#pending.has(key)) return false;
      entry = this.#entries.get(key);
    } else return false;
    const length = (bytes[headerLength - 2]! << 8) | bytes[headerLength - 1]!;
    if (entry === undefined || length !== n - headerLength || length > MAX_RECORD_FRAGMENT) return false;
    if (type !== ContentType.tls12_cid) return entry.connection.receiveWire(bytes, headerLength);
    entry.incoming = peer;
    const handled = entry.connection.receiveWire(bytes, headerLength);
    entry.incoming = undefined;
    return handled;
  }

  /**
   * A ClientHello from a peer without a handshake in progress. Without a valid cookie it is
   * answered with a HelloVerifyRequest and nothing is stored (RFC 6347 §4.2.1). With one, the
   * client proved its address: a session it had is replaced (RFC 6347 §4.2.8) by a new handshake.
   */
  #clientHello(peer: Peer, key: string, record: DtlsRecord, hello: ParsedHello): void {
    const existing = this.#entries.get(key)?.connection;
    if (!this.#cookies!.verify(peer, hello.body)) {
      const hvr = encodeHandshakeMessage({
        msgType: HandshakeType.hello_verify_request,
        messageSeq: hello.message.messageSeq,
        // RFC 6347 §4.2.1: version 1.0 in the HVR whatever will be negotiated.
        body: encodeHelloVerifyRequest({
          serverVersion: DTLS_1_0,
          cookie: this.#cookies!.cookieFor(peer, hello.body),
        }),
      });
      this.#transmit(
        peer,
        encodeRecord({
          type: ContentType.handshake,
          version: DTLS_1_0,
          epoch: 0,
          sequenceNumber: record.sequenceNumber, // RFC 6347 §4.2.1: echo the hello's
          fragment: hvr,
        }),
      );
      return;
    }
    // Past the limit, silently: the client retries. Replacing a handshake of this peer is no new one.
    const replacing = this.#pending.get(key)?.connection ?? existing;
    if (this.#handshakes >= this.#limits.maxHandshakes && replacing?.state !== 'handshake') return;
    // A handshake in progress gives way to a newer hello; an established session waits for the
    // new handshake to complete (#established).
    const slot = existing?.state === 'established' ? 'pending' : 'entries';
    if (slot === 'pending') this.#pending.get(key)?.connection.close(undefined);
    else existing?.close(undefined);
    const target: Peer = { address: peer.address, port: peer.port };
    const entry = this.#add(
      key,
      target,
      (ctx) =>
        new ServerHandshake(
          ctx,
          {
            psk: this.#psk,
            hint: this.#hint,
            identity: (id) => utf8.decode(id),
            certificate: this.#auth.certificate,
            verifyPeer: this.#auth.verifyPeer,
            cipherSuites: this.#auth.cipherSuites,
            ...(this.#sessions ? { sessions: this.#serverSessions(this.#sessions) } : {}),
          },
          hello.body,
          hello.message,
          record.sequenceNumber,
        ),
      slot,
    );
    (entry.connection as ServerHandshake).start();
  }

  /**
   * A ClientHello split over several records (RFC 6347 §4.2.3: any handshake message may be
   * fragmented). This is state before the cookie, so it is bounded: at most MAX_PARTIAL_HELLOS
   * addresses (the oldest goes), MAX_HELLO_LENGTH bytes each, for PARTIAL_HELLO_LIFETIME ms. A
   * client whose fragments are pushed out retransmits its hello.
   */
  #assembleHello(key: string, record: DtlsRecord): ParsedHello | undefined {
    const now = this.#clock.now();
    try {
      for (const f of parseHandshakeFragments(record.fragment)) {
        if (f.msgType !== HandshakeType.client_hello) continue;
        let partial = this.#partialHellos.get(key);
        if (partial && (partial.messageSeq !== f.messageSeq || partial.expires <= now)) {
          this.#partialHellos.delete(key);
          partial = undefined;
        }
        if (!partial) {
          for (const [k, p] of this.#partialHellos)
            if (p.expires <= now || this.#partialHellos.size >= MAX_PARTIAL_HELLOS)
              this.#partialHellos.delete(k);
            else break;
          partial = {
            messageSeq: f.messageSeq,
            expires: now + PARTIAL_HELLO_LIFETIME,
            reassembler: new HandshakeReassembler({
              nextSeq: f.messageSeq,
              maxMessageLength: MAX_HELLO_LENGTH,
              maxPendingMessages: 1,
            }),
          };
          this.#partialHellos.set(key, partial);
        }
        const message = partial.reassembler.add(f).messages[0];
        if (message) {
          this.#partialHellos.delete(key);
          return { message, body: decodeClientHello(message.body) };
        }
      }
    } catch {
      this.#partialHellos.delete(key); // contradicting or malformed fragments: start over
    }
    return undefined;
  }

  // ---- session resumption ----

  #serverSessions(cache: SessionCache): ServerSessions {
    return {
      find: (id) => cache.get(sessionIdKey(id)),
      save: (session) => cache.set(sessionIdKey(session.sessionId), session),
      // Not from the injected RandomSource: a session_id must stay unique across restarts (a
      // client may still offer an old one), which a seeded source restarted with its seed is not.
      newId: () => new Uint8Array(randomBytes(32)),
    };
  }

  /** The client's cache entry for the server at `key`, with our credentials. */
  #clientSessions(key: string): ClientSessions {
    const cache = this.#sessions!;
    const slot = `${key}|${this.#credentialTag}`;
    return {
      offer: () => cache.get(slot),
      save: (session) => cache.set(slot, session),
      forget: () => cache.delete(slot),
    };
  }

  // ---- bookkeeping ----

  /** The session or handshake a send to `peer` goes through: by its CID, else by its address. */
  #lookup(peer: Peer): Entry | undefined {
    if (peer.connectionId !== undefined) {
      const entry = this.#byCid.get(hex(peer.connectionId));
      if (entry) return entry;
    }
    return this.#entries.get(this.#keyOf(peer));
  }

  #keyOf(peer: Peer): string {
    let key = this.#keys.get(peer);
    if (key === undefined) {
      key = peerKey(peer);
      this.#keys.set(peer, key);
    }
    return key;
  }

  #add(
    key: string,
    target: Peer,
    make: (ctx: ConnectionContext) => DtlsConnection,
    slot: 'entries' | 'pending' = 'entries',
  ): Entry {
    const cid = this.#role === 'server' && this.#cidLength > 0 ? this.#newConnectionId() : undefined;
    const entry: Entry = {
      key,
      cid: cid && hex(cid),
      connection: undefined as unknown as DtlsConnection, // set right below, before any use
      route: { peer: target },
      incoming: undefined,
      queue: [],
      idleTask: {
        due: 0,
        seq: 0,
        heapIndex: -1,
        cancelled: true,
        run: () => this.#idleCheck(entry),
      },
    };
    entry.connection = make(this.#context(entry, cid));
    (slot === 'entries' ? this.#entries : this.#pending).set(key, entry);
    this.#live.add(entry);
    if (entry.cid) this.#byCid.set(entry.cid, entry);
    this.#handshakes++;
    return entry;
  }

  /** A CID unique among our sessions (RFC 9146 §3: the server chooses it). */
  #newConnectionId(): Uint8Array {
    for (;;) {
      const cid = this.#random.bytes(this.#cidLength);
      if (!this.#byCid.has(hex(cid))) return cid;
    }
  }

  /**
   * A CID session's newest authenticated record came from another address (NAT rebinding): the
   * session moves there, and so do our records and the Peer the application sees (RFC 9146 §6).
   * A session still bound to that address without a CID is unreachable now and goes quietly; one
   * with a CID stays reachable by it.
   */
  #move(entry: Entry, { key, peer: source }: { key: string; peer: Peer }): void {
    const other = this.#entries.get(key);
    if (other && other !== entry) {
      this.#entries.delete(key);
      if (!other.cid) other.connection.close(undefined);
    }
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    entry.key = key;
    this.#entries.set(key, entry);
    entry.route.peer = { address: source.address, port: source.port };
    const app = entry.connection.applicationPeer;
    if (app) {
      const moved = { ...app, address: source.address, port: source.port };
      entry.connection.applicationPeer = moved;
      this.#byPeer.delete(app);
      this.#byPeer.set(moved, entry);
    }
  }

  #idleCheck(entry: Entry): void {
    const idle = this.#clock.now() - entry.connection.lastActivity;
    if (idle >= this.#limits.idleTimeout) entry.connection.closeNotify();
    else this.#timers.scheduleTask(entry.idleTask, this.#limits.idleTimeout - idle);
  }

  #context(entry: Entry, cid: Uint8Array | undefined): ConnectionContext {
    // The server's own CID, or a client's zero-length offer (RFC 9146 §3).
    const connectionId = cid ?? (this.#offerCid ? new Uint8Array(0) : undefined);
    return {
      get peer() {
        return entry.route.peer;
      },
      clock: this.#clock,
      timers: this.#timers,
      random: this.#random,
      timing: this.#timing,
      mtu: this.#mtu,
      requireExtendedMasterSecret: this.#requireEms,
      transmit: (bytes) => this.#transmit(entry.route.peer, bytes),
      established: (c) => this.#established(entry, c),
      newestRecord: () => {
        const from = entry.incoming;
        if (from === undefined) return;
        const at = entry.route.peer;
        if (from.address === at.address && from.port === at.port) return; // the usual case
        const key = this.#keyOf(from);
        if (key !== entry.key) this.#move(entry, { key, peer: from });
      },
      data: (c, bytes) => {
        if (c.applicationPeer) this.#events.deliver(c.applicationPeer, bytes);
      },
      closed: (c, error) => this.#closed(entry, c, error),
      ...(connectionId === undefined ? {} : { connectionId }),
    };
  }

  #established(entry: Entry, connection: DtlsConnection): void {
    if (entry.connection !== connection || connection.state === 'closed') return;
    if (this.#pending.get(entry.key) === entry) {
      // The client completed a new handshake from this address: it replaces the old session.
      this.#pending.delete(entry.key);
      const old = this.#entries.get(entry.key);
      this.#entries.set(entry.key, entry);
      old?.connection.close(undefined);
    }
    // The application keys a CID session by its CID, so it survives an address change.
    const cid = connection.readConnectionId;
    if (cid && connection.applicationPeer)
      connection.applicationPeer = { ...connection.applicationPeer, connectionId: cid };
    if (connection.applicationPeer) this.#byPeer.set(connection.applicationPeer, entry);
    this.#handshakes--;
    this.#timers.scheduleTask(entry.idleTask, this.#limits.idleTimeout);
    const queued = entry.queue;
    entry.queue = [];
    for (const datagram of queued) this.#sendData(connection, connection.applicationPeer!, datagram);
    if (this.#live.size - this.#handshakes > this.#limits.maxSessions) this.#evictOldest(connection);
  }

  #evictOldest(keep: DtlsConnection): void {
    let oldest: DtlsConnection | undefined;
    for (const { connection } of this.#live)
      if (
        connection !== keep &&
        connection.state === 'established' &&
        (!oldest || connection.lastActivity < oldest.lastActivity)
      )
        oldest = connection;
    oldest?.closeNotify();
  }

  #closed(entry: Entry, connection: DtlsConnection, error: DtlsSessionError | undefined): void {
    if (entry.connection === connection && this.#live.delete(entry)) {
      if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
      if (this.#pending.get(entry.key) === entry) this.#pending.delete(entry.key);
      if (entry.cid !== undefined && this.#byCid.get(entry.cid) === entry) this.#byCid.delete(entry.cid);
      this.#timers.cancel(entry.idleTask);
      // The application may hold its Peer for long (a registration): it must not hold the session.
      if (connection.applicationPeer) this.#byPeer.delete(connection.applicationPeer);
      // `state` is already 'closed': a handshake is one that never reached establish().
      if (!connection.applicationPeer) this.#handshakes--;
      const peer = connection.applicationPeer;
      if (peer !== undefined) {
        const reason: DtlsSessionCloseReason = error
          ? 'failed'
          : connection.closedByPeer
            ? 'peer-closed'
            : 'closed';
        for (const handler of this.#sessionClosed)
          try {
            handler({ peer, reason });
          } catch (e) {
            this.#events.errorLater(new ChannelSocketError('a session-closed handler failed', { cause: e }));
          }
      }
    }
    if (error) this.#events.error(error);
  }

  /** Application data in one record; one over 2^14 bytes is refused like an oversized UDP datagram. */
  #sendData(connection: DtlsConnection, peer: Peer, datagram: Uint8Array): void {
    const max = connection.maxPlaintext;
    if (datagram.length > max) {
      const why = max === MAX_PLAINTEXT ? 'a DTLS record (2^14)' : `the peer's record size limit (${max})`;
      this.#events.errorLater(
        new ChannelSendError('too-large', peer, `${datagram.length} bytes exceed ${why}`, {
          systemCode: 'EMSGSIZE',
        }),
      );
      return;
    }
    connection.sendApplicationData(datagram);
  }

  #transmit(peer: Peer, bytes: Uint8Array): void {
    try {
      this.#inner.send(peer, bytes);
    } catch (e) {
      this.#events.errorLater(
        e instanceof ChannelError ? e : new ChannelSocketError('DTLS send failed', { cause: e }),
      );
    }
  }
}

/** Why an established session ended (DtlsChannel.onSessionClosed). */
export type DtlsSessionCloseReason = 'peer-closed' | 'closed' | 'failed';

interface PartialHello {
  messageSeq: number;
  expires: number;
  reassembler: HandshakeReassembler;
}

/** Bounds on ClientHellos in fragments (state before the cookie round). */
const MAX_PARTIAL_HELLOS = 64;
const MAX_HELLO_LENGTH = 8192;
const PARTIAL_HELLO_LIFETIME = 5000;

interface ParsedHello {
  message: HandshakeMessage;
  body: ClientHello;
}

/** The ClientHello of an epoch-0 record, or undefined when it is malformed or fragmented. */
function parseClientHello(record: DtlsRecord): ParsedHello | undefined {
  try {
    const first = parseHandshakeFragments(record.fragment)[0];
    const message = first && wholeMessage(first); // fragments: see #assembleHello
    if (!message || message.msgType !== HandshakeType.client_hello) return undefined;
    return { message, body: decodeClientHello(message.body) };
  } catch {
    return undefined;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function isClientHello(record: DtlsRecord): boolean {
  return (
    record.epoch === 0 &&
    record.type === ContentType.handshake &&
    record.fragment[0] === HandshakeType.client_hello
  );
}

/** A digest of a client's credentials (never the key itself) for its session cache keys. */
function credentialTag(
  psk: { identity: Uint8Array; key: Uint8Array } | undefined,
  auth: DtlsAuthOptions,
): string {
  const h = new Sha256();
  if (psk) h.update(utf8Bytes('psk')).update(psk.identity).update(utf8Bytes(':')).update(psk.key);
  const key = auth.certificate?.privateKey;
  if (key) h.update(utf8Bytes('ecdsa')).update(key.export({ format: 'der', type: 'pkcs8' }));
  return hex(h.digest()).slice(0, 32);
}

function utf8Bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
