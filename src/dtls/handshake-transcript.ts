import type { HandshakeMessage } from './handshake.js';
import { encodeHandshakeMessage } from './handshake.js';
import { Sha256 } from './sha256.js';

/**
 * The running SHA-256 over the handshake messages (RFC 5246 §7.4.9), each as if sent in one
 * fragment with its 12-byte DTLS header (RFC 6347 §4.2.6). The initial ClientHello and the
 * HelloVerifyRequest are left out by the caller (RFC 6347 §4.2.1). `hash()` can be taken at any
 * point (the extended master secret after ClientKeyExchange, each Finished) without ending it.
 */
export class HandshakeTranscript {
  private readonly sha = new Sha256();

  /** Adds a message (encoded with its header) to the transcript. */
  add(message: HandshakeMessage): this {
    this.sha.update(encodeHandshakeMessage(message));
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
