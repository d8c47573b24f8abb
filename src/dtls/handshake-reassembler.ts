import { AlertDescription } from './alert.js';
import { DtlsError } from './dtls-errors.js';
import type { HandshakeFragment, HandshakeMessage } from './handshake.js';

export interface ReassemblerOptions {
  /** message_seq of the first message expected (RFC 6347 §4.2.2: next_receive_seq). Default 0. */
  nextSeq?: number;
  /** Largest message body accepted. Default 64 KiB (certificate chains are the big ones). */
  maxMessageLength?: number;
  /** Messages beyond nextSeq buffered at most (a flight's worth). Default 8. */
  maxPendingMessages?: number;
}

export interface ReassemblyResult {
  /** Messages completed by this fragment, in message_seq order, each delivered once. */
  messages: HandshakeMessage[];
  /**
   * The fragment belongs to a message already delivered: the peer retransmitted its last flight,
   * so ours was probably lost (RFC 6347 §4.2.4 — the state machine decides whether to resend).
   */
  stale: boolean;
  /** The fragment was ignored: beyond the pending window, or a duplicate of bytes already held. */
  ignored: boolean;
}

const MAX_HOLES = 64;

interface Pending {
  msgType: number;
  body: Uint8Array;
  /** Received byte ranges [start, end), sorted, disjoint and not touching. */
  ranges: [number, number][];
}

/**
 * Rebuilds handshake messages from fragments that may arrive out of order, duplicated or
 * overlapping (RFC 6347 §4.2.3), and hands them out in message_seq order. Memory is bounded by
 * maxPendingMessages × maxMessageLength.
 */
export class HandshakeReassembler {
  private next: number;
  private readonly maxLength: number;
  private readonly maxPending: number;
  private readonly pending = new Map<number, Pending>();

  constructor(options: ReassemblerOptions = {}) {
    this.next = options.nextSeq ?? 0;
    this.maxLength = options.maxMessageLength ?? 65536;
    this.maxPending = options.maxPendingMessages ?? 8;
  }

  /** The message_seq the next delivered message will carry. */
  get nextSeq(): number {
    return this.next;
  }

  /**
   * Takes one fragment. Throws DtlsError when it contradicts earlier fragments of the same
   * message (type or length) or exceeds maxMessageLength.
   */
  add(f: HandshakeFragment): ReassemblyResult {
    if (f.messageSeq < this.next) return { messages: [], stale: true, ignored: true };
    if (f.messageSeq >= this.next + this.maxPending) return { messages: [], stale: false, ignored: true };
    if (f.length > this.maxLength)
      throw new DtlsError('too-large', `handshake message of ${f.length} bytes (limit ${this.maxLength})`, {
        alert: AlertDescription.handshake_failure,
      });
    if (f.fragmentOffset + f.body.length > f.length)
      throw new DtlsError('malformed', 'handshake fragment beyond its message length', {
        alert: AlertDescription.decode_error,
      });
    let p = this.pending.get(f.messageSeq);
    const fresh = !p;
    if (!p) {
      p = { msgType: f.msgType, body: new Uint8Array(f.length), ranges: [] };
      this.pending.set(f.messageSeq, p);
    } else if (p.msgType !== f.msgType || p.body.length !== f.length) {
      throw new DtlsError('inconsistent-fragment', `fragments of message ${f.messageSeq} disagree`, {
        alert: AlertDescription.illegal_parameter,
      });
    }
    // A legitimate peer leaves few holes; a flood of tiny disjoint fragments is dropped instead
    // of growing the range list.
    const ranges = p.ranges.slice();
    const added = addRange(ranges, f.fragmentOffset, f.fragmentOffset + f.body.length) || fresh;
    if (ranges.length > MAX_HOLES) return { messages: [], stale: false, ignored: true };
    p.ranges = ranges;
    p.body.set(f.body, f.fragmentOffset);
    const messages: HandshakeMessage[] = [];
    for (;;) {
      const head = this.pending.get(this.next);
      if (!head || !complete(head)) break;
      messages.push({ msgType: head.msgType, messageSeq: this.next, body: head.body });
      this.pending.delete(this.next);
      this.next++;
    }
    return { messages, stale: false, ignored: !added };
  }

  /** Drops everything buffered (a new flight, or a new handshake), expecting `nextSeq` next. */
  reset(nextSeq: number): void {
    this.pending.clear();
    this.next = nextSeq;
  }
}

function complete(p: Pending): boolean {
  if (p.body.length === 0) return true; // any fragment completes an empty message
  const first = p.ranges[0];
  return p.ranges.length === 1 && first !== undefined && first[0] === 0 && first[1] === p.body.length;
}

/** Merges [start, end) into the sorted disjoint ranges; returns whether it added a new byte. */
function addRange(ranges: [number, number][], start: number, end: number): boolean {
  if (start === end) return false;
  let s = start;
  let e = end;
  let covered = 0;
  const kept: [number, number][] = [];
  for (const range of ranges) {
    const [a, b] = range;
    if (b < s || a > e) {
      kept.push(range);
      continue;
    }
    covered += Math.max(0, Math.min(b, end) - Math.max(a, start));
    s = Math.min(s, a);
    e = Math.max(e, b);
  }
  kept.push([s, e]);
  kept.sort((x, y) => x[0] - y[0]);
  ranges.splice(0, ranges.length, ...kept);
  return covered < end - start;
}
