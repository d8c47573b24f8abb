import type { Clock } from '../clock.js';
import type { RandomSource } from '../random.js';
import type { TimerQueue, TimerTask } from '../timer-queue.js';
import type { Peer } from '../transport/channel.js';
import { AlertDescription, AlertLevel, decodeAlert, encodeAlert } from './alert.js';
import { DtlsError } from './dtls-errors.js';
import { DtlsSessionError } from './dtls-session-error.js';
import { CHANGE_CIPHER_SPEC, decodeChangeCipherSpec } from './finished-messages.js';
import type { HandshakeMessage } from './handshake.js';
import {
  HANDSHAKE_HEADER_LENGTH,
  encodeHandshakeFragment,
  fragmentHandshakeMessage,
  parseHandshakeFragments,
} from './handshake.js';
import { HandshakeReassembler } from './handshake-reassembler.js';
import { HandshakeTranscript } from './handshake-transcript.js';
import type { DtlsRecord } from './record.js';
import { ContentType, DTLS_1_2, RECORD_HEADER_LENGTH, encodeRecord } from './record.js';
import { MAX_PLAINTEXT, innerContentEnd, type RecordProtection } from './record-protection.js';
import { ReplayWindow } from './replay-window.js';

/** Timing of flight retransmission (RFC 6347 §4.2.4.1) and of the handshake as a whole. */
export interface HandshakeTiming {
  /** First retransmission timeout in ms. Default 1000. */
  initialTimeout: number;
  /** The timeout doubles up to this. Default 60000. */
  maxTimeout: number;
  /** The handshake fails after this long in total. Default 60000. */
  handshakeTimeout: number;
}

/** What a connection needs from its channel. */
export interface ConnectionContext {
  /** The transport address of the peer. */
  readonly peer: Peer;
  readonly clock: Pick<Clock, 'now'>;
  readonly timers: TimerQueue;
  readonly random: RandomSource;
  readonly timing: HandshakeTiming;
  /** Largest datagram a flight is packed into. */
  readonly mtu: number;
  /** Refuse peers that do not negotiate the extended master secret (RFC 7627 §5.2, §5.3). */
  readonly requireExtendedMasterSecret: boolean;
  /**
   * The Connection ID we ask the peer to put on its records (RFC 9146): the server's is unique
   * among its sessions; a client's is usually zero-length (it sends CIDs but needs none).
   * Undefined: we do not offer the extension.
   */
  readonly connectionId?: Uint8Array;
  /** Hands a datagram to the transport. */
  transmit(bytes: Uint8Array): void;
  established(connection: DtlsConnection): void;
  /**
   * An epoch-1 record authenticated with a sequence number newer than any before, before its
   * content is handled: only such a record may move a CID session to a new address (RFC 9146 §6).
   */
  newestRecord?(connection: DtlsConnection): void;
  data(connection: DtlsConnection, bytes: Uint8Array): void;
  /** The connection is over; `error` is absent for a local close. */
  closed(connection: DtlsConnection, error: DtlsSessionError | undefined): void;
}

/** One message or ChangeCipherSpec of a flight, with the epoch it is sent in. */
type FlightItem =
  { kind: 'handshake'; epoch: number; message: HandshakeMessage } | { kind: 'ccs'; epoch: number };

export type ConnectionState = 'handshake' | 'established' | 'closed';

interface WriteEpoch {
  seq: number;
  protection: RecordProtection | undefined;
}

/** Bytes a protected CCM_8 record adds: explicit nonce (8) and tag (8). */
const PROTECTION_OVERHEAD = 16;
/** Records held back while an asynchronous step (a PSK lookup) runs. */
const MAX_BACKLOG = 32;

/**
 * The record layer and flight machinery shared by both roles (RFC 6347 §4): epochs and sequence
 * numbers, the replay window of epoch 1, handshake reassembly and the transcript, flights with
 * their retransmission timer, alerts and application data. The roles (handshake-client.ts,
 * handshake-server.ts) supply `onHandshakeMessage`.
 */
export abstract class DtlsConnection {
  state: ConnectionState = 'handshake';
  /** When the peer last sent an authenticated record, or we sent one (ms, context clock). */
  lastActivity: number;
  /** The Peer handed to the application, with the authenticated identity, once established. */
  applicationPeer: Peer | undefined;
  /** The peer ended the session with close_notify (RFC 5246 §7.2.1). */
  closedByPeer = false;

  protected readonly ctx: ConnectionContext;
  protected readonly transcript = new HandshakeTranscript();
  protected readonly reassembler = new HandshakeReassembler();
  /** message_seq of our next handshake message. */
  protected nextMessageSeq = 0;

  readonly #write: WriteEpoch[] = [
    { seq: 0, protection: undefined },
    { seq: 0, protection: undefined },
  ];
  #writeEpoch = 0;
  #readEpoch = 0;
  #readProtection: RecordProtection | undefined;
  #pendingReadProtection: RecordProtection | undefined;
  readonly #replay = new ReplayWindow();
  /** RFC 9146: the CID on the peer's epoch-1 records, and the one on ours (zero-length: none). */
  #readCid: Uint8Array | undefined;
  #writeCid: Uint8Array | undefined;
  /** Highest authenticated epoch-1 sequence number: only a newer record may move the peer (RFC 9146 §6). */
  #newestSeq = -1;
  /** The largest plaintext the peer takes in a record (RFC 8449 record_size_limit, RFC 6066 MFL). */
  #peerRecordLimit = MAX_PLAINTEXT;

  #flight: FlightItem[] = [];
  #timeout: number;
  readonly #retransmitTask: TimerTask;
  readonly #deadlineTask: TimerTask;
  #resendRequested = false;
  /**
   * message_seq below which the peer's messages belong to flights our current flight answered: a
   * repeat of one of those means our flight was lost. A repeat of the flight we are still taking
   * in (say, while a PSK lookup runs) means no such thing, and answering it would start a
   * resend ping-pong at wire speed with a peer that reasons the same way.
   */
  #answeredBelow = 0;
  #busy = false;
  readonly #inbox: HandshakeMessage[] = [];
  readonly #backlog: DtlsRecord[] = [];

  constructor(ctx: ConnectionContext) {
    this.ctx = ctx;
    this.lastActivity = ctx.clock.now();
    this.#timeout = ctx.timing.initialTimeout;
    this.#retransmitTask = task(() => this.#onRetransmitTimer());
    this.#deadlineTask = task(() => {
      if (this.state === 'handshake')
        this.close(new DtlsSessionError('handshake-timeout', ctx.peer, 'DTLS handshake timed out'));
    });
    ctx.timers.scheduleTask(this.#deadlineTask, ctx.timing.handshakeTimeout);
  }

  /** The CID the peer puts on its records to us, when one was negotiated and is not empty. */
  get readConnectionId(): Uint8Array | undefined {
    return this.#readCid !== undefined && this.#readCid.length > 0 ? this.#readCid : undefined;
  }

  /**
   * The largest datagram the application may send in one record: 2^14, or less when the peer
   * asked (record_size_limit counts a CID record's inner content type too, RFC 8449 §4).
   */
  get maxPlaintext(): number {
    if (this.#peerRecordLimit >= MAX_PLAINTEXT) return MAX_PLAINTEXT;
    return this.#peerRecordLimit - (this.#writeCid && this.#writeCid.length > 0 ? 1 : 0);
  }

  /** The epoch records from the peer are currently read in. */
  get readEpoch(): number {
    return this.#readEpoch;
  }

  /** The role's handshake logic; may return a promise (then later records wait for it). */
  protected abstract onHandshakeMessage(message: HandshakeMessage): void | Promise<void>;

  // ---- receiving ----

  /** Takes the records of one datagram from this peer. Never throws. */
  receive(records: readonly DtlsRecord[]): void {
    this.#resendRequested = false;
    for (const record of records) {
      if (this.state === 'closed') return;
      if (this.#busy) {
        if (this.#backlog.length < MAX_BACKLOG) this.#backlog.push(record);
        continue;
      }
      this.#record(record);
    }
    if (this.#resendRequested && this.state !== 'closed') this.#transmitFlight();
  }

  #record(record: DtlsRecord): void {
    if (record.epoch === 0) {
      this.#plainRecord(record);
      return;
    }
    if (record.epoch !== 1 || this.#readEpoch !== 1 || !this.#readProtection) return; // not readable (yet): drop
    // RFC 9146 §6: with a CID negotiated, epoch-1 records must carry exactly ours; without, none.
    const cid = this.readConnectionId;
    if (cid ? record.cid === undefined || !equalBytes(record.cid, cid) : record.cid !== undefined) return;
    if (!this.#replay.accepts(record.sequenceNumber)) return; // RFC 6347 §4.1.2.6
    let plain: DtlsRecord;
    try {
      plain = this.#readProtection.unprotect(record);
    } catch (e) {
      // RFC 6347 §4.1.2.7: drop silently. Choice: while the handshake waits for the peer's
      // Finished, a record that fails authentication means the keys differ (a wrong PSK), so the
      // handshake fails with bad_record_mac instead of timing out. An attacker gains nothing: an
      // unauthenticated epoch-0 alert could end the handshake just as well.
      if (this.state === 'handshake')
        this.fail(AlertDescription.bad_record_mac, 'record authentication failed', e);
      return;
    }
    this.#authenticated(record.sequenceNumber, plain.type, plain.fragment);
  }

  /** An epoch-1 record authenticated: the replay window and activity move, then its content is handled. */
  #authenticated(seq: number, type: number, fragment: Uint8Array): void {
    this.#replay.mark(seq);
    if (seq > this.#newestSeq) {
      this.#newestSeq = seq;
      this.ctx.newestRecord?.(this);
    }
    this.lastActivity = this.ctx.clock.now();
    switch (type) {
      case ContentType.handshake:
        if (this.state === 'established') this.#afterHandshake(fragment, true);
        else this.#handshakeRecord(fragment);
        break;
      case ContentType.alert:
        this.#alert(fragment);
        break;
      case ContentType.application_data:
        // Application data only after our side is established (RFC 5246 §7.4.9).
        if (this.state === 'established') this.ctx.data(this, fragment);
        break;
      default:
        break; // a retransmitted ChangeCipherSpec, heartbeat: ignored
    }
  }

  /**
   * An established session's usual datagram: one epoch-1 DTLS 1.2 record of a CCM_8 suite that
   * fills `wire`, its header `headerLength` bytes (with the CID for tls12_cid). Handled as
   * receive([parsed record]) would, opened in place without the parse's objects. False, having
   * done nothing, when the record needs the general path (another state, suite or CID); the
   * channel then parses the datagram and calls receive.
   */
  receiveWire(wire: Uint8Array, headerLength: number): boolean {
    const protection = this.#readProtection;
    if (this.state !== 'established' || this.#busy || this.#readEpoch !== 1 || !protection?.isCcm8)
      return false;
    // RFC 9146 §6: with a CID negotiated, epoch-1 records must carry exactly ours; without, none.
    const cid = this.readConnectionId;
    const cidLength = headerLength - RECORD_HEADER_LENGTH;
    if (cid === undefined ? cidLength !== 0 : cidLength !== cid.length) return false;
    for (let i = 0; i < cidLength; i++) if (wire[11 + i] !== cid![i]) return false;
    const seq = (wire[5]! * 0x100 + wire[6]!) * 0x1_0000_0000 + readUint32(wire, 7);
    this.#resendRequested = false;
    if (!this.#replay.accepts(seq)) return true; // RFC 6347 §4.1.2.6
    const content = protection.openWire(wire, headerLength);
    if (content === undefined) return true; // RFC 6347 §4.1.2.7: dropped silently (established)
    if (content.length > MAX_PLAINTEXT + (cidLength > 0 ? 1 + 255 : 0)) return true; // as unprotect
    let type = wire[0]!;
    let fragment = content;
    if (cidLength > 0) {
      const end = innerContentEnd(content);
      if (end < 0) return true; // no content type: unprotect throws, receive drops it
      type = content[end]!;
      fragment = content.subarray(0, end);
    }
    this.#authenticated(seq, type, fragment);
    // (#authenticated may have closed it: an alert.)
    if (this.#resendRequested && (this.state as ConnectionState) !== 'closed') this.#transmitFlight();
    return true;
  }

  #plainRecord(record: DtlsRecord): void {
    if (this.state === 'established') {
      // Unauthenticated: nothing in epoch 0 can change or end a session. A handshake fragment
      // may only show that the peer repeated its last flight.
      if (record.type === ContentType.handshake) this.#afterHandshake(record.fragment, false);
      return;
    }
    switch (record.type) {
      case ContentType.handshake:
        this.#handshakeRecord(record.fragment);
        break;
      case ContentType.change_cipher_spec:
        this.#changeCipherSpec(record.fragment);
        break;
      case ContentType.alert:
        this.#alert(record.fragment);
        break;
      default:
        break; // epoch-0 application data: never valid, dropped
    }
  }

  #handshakeRecord(fragment: Uint8Array): void {
    try {
      for (const f of parseHandshakeFragments(fragment)) {
        const result = this.reassembler.add(f);
        // The peer repeated a flight we answered: ours was probably lost (RFC 6347 §4.2.4).
        if (result.stale && f.messageSeq < this.#answeredBelow) this.#resendRequested = true;
        this.#inbox.push(...result.messages);
      }
    } catch (e) {
      this.#failOn(e);
      return;
    }
    this.#pump();
  }

  /**
   * A handshake record on an established session: a repeated final flight of the peer makes us
   * resend ours (RFC 6347 §4.2.4); a new handshake (renegotiation) in epoch 1 gets a
   * no_renegotiation warning (RFC 5746 §4.4: we never renegotiate); anything else is dropped.
   */
  #afterHandshake(fragment: Uint8Array, authenticated: boolean): void {
    let fragments;
    try {
      fragments = parseHandshakeFragments(fragment);
    } catch {
      return;
    }
    for (const f of fragments) {
      if (f.messageSeq < this.reassembler.nextSeq) {
        if (f.messageSeq < this.#answeredBelow) this.#resendRequested = true;
      } else if (authenticated) {
        this.#sendAlert(AlertLevel.warning, AlertDescription.no_renegotiation);
        return;
      }
    }
  }

  #pump(): void {
    while (!this.#busy && this.state !== 'closed' && this.#inbox.length > 0) {
      const message = this.#inbox.shift()!;
      let result: void | Promise<void>;
      try {
        result = this.onHandshakeMessage(message);
      } catch (e) {
        this.#failOn(e);
        return;
      }
      if (result instanceof Promise) {
        this.#busy = true;
        result.then(
          () => this.#resume(),
          (e: unknown) => {
            this.#busy = false;
            this.#failOn(e);
          },
        );
      }
    }
  }

  /**
   * Holds later records back until `step` settles (an asynchronous lookup outside a handshake
   * message, such as the PSK check of a resumption); a rejection fails the handshake.
   */
  protected wait(step: Promise<void>): void {
    this.#busy = true;
    step.then(
      () => this.#resume(),
      (e: unknown) => {
        this.#busy = false;
        this.#failOn(e);
      },
    );
  }

  #resume(): void {
    this.#busy = false;
    this.#pump();
    while (!this.#busy && this.state !== 'closed' && this.#backlog.length > 0)
      this.#record(this.#backlog.shift()!);
  }

  #changeCipherSpec(fragment: Uint8Array): void {
    try {
      decodeChangeCipherSpec(fragment);
    } catch (e) {
      this.#failOn(e);
      return;
    }
    // A CCS before we hold the keys is out of order (or a retransmission): drop, the peer repeats.
    if (!this.#pendingReadProtection) return;
    this.#readProtection = this.#pendingReadProtection;
    this.#pendingReadProtection = undefined;
    this.#readEpoch = 1;
    this.#replay.reset();
    this.#newestSeq = -1;
  }

  #alert(fragment: Uint8Array): void {
    let alert;
    try {
      alert = decodeAlert(fragment);
    } catch {
      return;
    }
    if (alert.description === AlertDescription.close_notify) {
      // A clean end (RFC 5246 §7.2.1), not an error: the session goes without a report.
      this.closedByPeer = true;
      this.close(undefined);
    } else if (alert.level === AlertLevel.fatal || this.state === 'handshake') {
      this.close(
        new DtlsSessionError('alert-received', this.ctx.peer, 'peer sent an alert', {
          alert: alert.description,
        }),
      );
    }
    // Other warnings on an established session (no_renegotiation ...) change nothing.
  }

  // ---- sending ----

  /** Queues a handshake message in the current flight, with the next message_seq. */
  protected message(msgType: number, body: Uint8Array): HandshakeMessage {
    return { msgType, messageSeq: this.nextMessageSeq++, body };
  }

  /**
   * Sends a new flight. `retransmit`: arm the timer (every flight but the last one of the
   * handshake, which is only resent when the peer repeats its own, RFC 6347 §4.2.4: the server's
   * flight 6 in a full handshake, the client's CCS+Finished in an abbreviated one, RFC 5246 §7.3).
   */
  protected sendFlight(items: FlightItem[], retransmit: boolean): void {
    this.#answeredBelow = this.reassembler.nextSeq;
    this.#flight = items;
    this.#timeout = this.ctx.timing.initialTimeout;
    this.ctx.timers.cancel(this.#retransmitTask);
    this.#transmitFlight();
    if (retransmit) this.ctx.timers.scheduleTask(this.#retransmitTask, this.#timeout);
  }

  protected handshakeItem(message: HandshakeMessage, epoch = 0): FlightItem {
    return { kind: 'handshake', epoch, message };
  }

  protected ccsItem(): FlightItem {
    return { kind: 'ccs', epoch: 0 };
  }

  /** The peer answered our flight: stop retransmitting it. */
  protected flightAnswered(): void {
    this.ctx.timers.cancel(this.#retransmitTask);
  }

  /**
   * The negotiated CIDs (RFC 9146 §3), used from epoch 1 on: `read` on the peer's records,
   * `write` (the peer's choice; zero-length: none) on ours.
   */
  protected useConnectionIds(read: Uint8Array, write: Uint8Array): void {
    this.#readCid = read;
    this.#writeCid = write;
  }

  /**
   * The peer takes records of at most `limit` bytes of plaintext (RFC 8449, RFC 6066 §4): our
   * handshake fragments and application data stay within it from now on.
   */
  protected limitRecordSize(limit: number): void {
    this.#peerRecordLimit = Math.min(limit, MAX_PLAINTEXT);
  }

  /** Keys for epoch 1: ours take effect with our ChangeCipherSpec, the peer's with theirs. */
  protected installKeys(write: RecordProtection, read: RecordProtection): void {
    this.#write[1]!.protection = write;
    this.#pendingReadProtection = read;
  }

  #onRetransmitTimer(): void {
    if (this.state === 'closed') return;
    this.#transmitFlight();
    this.#timeout = Math.min(this.#timeout * 2, this.ctx.timing.maxTimeout);
    this.ctx.timers.scheduleTask(this.#retransmitTask, this.#timeout);
  }

  /** Sends the current flight again, with fresh sequence numbers, packed into MTU-sized datagrams. */
  #transmitFlight(): void {
    if (this.#flight.length === 0) return;
    const records: Uint8Array[] = [];
    for (const item of this.#flight) {
      if (item.kind === 'ccs') {
        records.push(this.#seal(ContentType.change_cipher_spec, item.epoch, CHANGE_CIPHER_SPEC));
        continue;
      }
      const room =
        this.ctx.mtu -
        RECORD_HEADER_LENGTH -
        (item.epoch > 0 ? PROTECTION_OVERHEAD + (this.#writeCid ? this.#writeCid.length + 1 : 0) : 0);
      const fragmentSize = Math.min(room, this.#peerRecordLimit);
      for (const f of fragmentHandshakeMessage(
        item.message,
        Math.max(fragmentSize, HANDSHAKE_HEADER_LENGTH + 1),
      ))
        records.push(this.#seal(ContentType.handshake, item.epoch, encodeHandshakeFragment(f)));
    }
    let datagram: Uint8Array[] = [];
    let size = 0;
    for (const r of records) {
      if (size + r.length > this.ctx.mtu && datagram.length > 0) {
        this.ctx.transmit(Buffer.concat(datagram));
        datagram = [];
        size = 0;
      }
      datagram.push(r);
      size += r.length;
    }
    if (datagram.length > 0) this.ctx.transmit(Buffer.concat(datagram));
  }

  /** One record in `epoch` with the next sequence number, protected from epoch 1 on. */
  #seal(type: number, epoch: number, fragment: Uint8Array): Uint8Array {
    const state = this.#write[epoch]!;
    const plain: DtlsRecord = { type, version: DTLS_1_2, epoch, sequenceNumber: state.seq++, fragment };
    if (!state.protection) return encodeRecord(plain);
    return state.protection.protectToWire(plain, this.#writeCid ? { cid: this.#writeCid } : undefined);
  }

  /**
   * Our flight needs no more resending: the client's flight 5 once the server's Finished arrived,
   * the server's ServerHello+CCS+Finished of an abbreviated handshake once the client's did.
   */
  protected forgetFlight(): void {
    this.ctx.timers.cancel(this.#retransmitTask);
    this.#flight = [];
  }

  /** The first sequence number of epoch 0 (the server continues from the client's hello). */
  protected setInitialSequence(seq: number): void {
    this.#write[0]!.seq = seq;
  }

  /** Marks that we sent ChangeCipherSpec: our later records go out in epoch 1. */
  protected enterWriteEpoch1(): void {
    this.#writeEpoch = 1;
  }

  /** Sends application data in an epoch-1 record (only when established). */
  sendApplicationData(bytes: Uint8Array): void {
    if (this.state !== 'established') return;
    this.lastActivity = this.ctx.clock.now();
    this.ctx.transmit(this.#seal(ContentType.application_data, 1, bytes));
  }

  #sendAlert(level: number, description: number): void {
    try {
      this.ctx.transmit(this.#seal(ContentType.alert, this.#writeEpoch, encodeAlert({ level, description })));
    } catch {
      // nothing more to do: the connection ends either way
    }
  }

  // ---- ending ----

  /** The handshake is complete: stop the timers and tell the channel. */
  protected establish(peer: Peer): void {
    this.state = 'established';
    this.applicationPeer = peer;
    this.lastActivity = this.ctx.clock.now();
    this.ctx.timers.cancel(this.#deadlineTask);
    this.ctx.established(this);
  }

  /** Fails the handshake with a fatal alert (RFC 5246 §7.2). */
  protected fail(alert: number, message: string, cause?: unknown): void {
    if (this.state === 'closed') return;
    this.#sendAlert(AlertLevel.fatal, alert);
    this.close(new DtlsSessionError('handshake-failed', this.ctx.peer, message, { alert, cause }));
  }

  #failOn(e: unknown): void {
    if (e instanceof DtlsError) this.fail(e.alert ?? AlertDescription.decode_error, e.message, e);
    else this.fail(AlertDescription.internal_error, 'internal error', e);
  }

  /** Sends close_notify (RFC 5246 §7.2.1) and closes. */
  closeNotify(): void {
    if (this.state === 'closed') return;
    this.#sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.close(undefined);
  }

  /** Ends the connection without a word to the peer. */
  close(error: DtlsSessionError | undefined): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.timers.cancel(this.#retransmitTask);
    this.ctx.timers.cancel(this.#deadlineTask);
    this.#flight = [];
    this.#inbox.length = 0;
    this.#backlog.length = 0;
    this.#write[1]!.protection?.release();
    this.#readProtection?.release();
    this.#pendingReadProtection?.release();
    this.ctx.closed(this, error);
  }
}

function task(run: () => void): TimerTask {
  return { due: 0, seq: 0, heapIndex: -1, cancelled: true, run };
}

function readUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
