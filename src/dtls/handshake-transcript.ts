import type { HandshakeMessage } from './handshake.js';
import { Sha256 } from './sha256.js';

/**
 * The running SHA-256 over the handshake messages (RFC 5246 §7.4.9), each as if sent in one
 * fragment with its 12-byte DTLS header (RFC 6347 §4.2.6). The initial ClientHello and the
 * HelloVerifyRequest are left out by the caller (RFC 6347 §4.2.1). `hash()` can be taken at any
 * point (the extended master secret after ClientKeyExchange, each Finished) without ending it.
 */
export class HandshakeTranscript {
  private readonly sha = new Sha256();
  /** msg_type, length, message_seq, fragment_offset (always 0), fragment_length (= length). */
  readonly #header = new Uint8Array(12);

  /** Adds a message (encoded with its header) to the transcript. */
  add(message: HandshakeMessage): this {
    // The 12-byte header of a single whole fragment, then the body: no copy of the message.
    const h = this.#header;
    const n = message.body.length;
    h[0] = message.msgType;
    h[1] = h[9] = n >>> 16;
    h[2] = h[10] = (n >>> 8) & 0xff;
    h[3] = h[11] = n & 0xff;
    h[4] = (message.messageSeq >>> 8) & 0xff;
    h[5] = message.messageSeq & 0xff;
    this.sha.update(h).update(message.body);
    return this;
  }

  /** Adds bytes already in transcript form (header + body). */
  addEncoded(bytes: Uint8Array): this {
    this.sha.update(bytes);
    return this;
  }

  /** The hash of everything added so far. */
  hash(): Uint8Array {
    return this.sha.digest();
  }
}
