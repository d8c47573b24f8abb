import { timingSafeEqual } from 'node:crypto';
import { AlertDescription } from './alert.js';
import { cipherSuite } from './cipher-suites.js';
import { DtlsConnection, type ConnectionContext } from './dtls-connection.js';
import { DtlsError } from './dtls-errors.js';
import { ExtensionType, decodeExtension, encodeExtension } from './extensions.js';
import { decodeFinished, encodeFinished } from './finished-messages.js';
import { HandshakeType, type HandshakeMessage } from './handshake.js';
import {
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
  encodeClientHello,
  type ClientHello,
} from './hello-messages.js';
import { PSK_CCM8 } from './handshake-server.js';
import { decodeServerKeyExchange, encodeClientKeyExchange } from './key-exchange-messages.js';
import {
  extendedMasterSecret,
  keyBlock,
  masterSecret,
  pskPremasterSecret,
  verifyData,
} from './key-schedule.js';
import { DTLS_1_2 } from './record.js';
import { RecordProtection } from './record-protection.js';

export interface ClientHandshakeOptions {
  identity: Uint8Array;
  key: Uint8Array;
  /** The identity reported on the Peer of this session (the PSK identity that authenticated it). */
  identityText: string;
}

type Expecting = 'server_hello' | 'server_hello_done' | 'finished' | 'done';

/** HelloVerifyRequests answered at most (a server asking again and again is broken). */
const MAX_COOKIE_ROUNDS = 2;

/**
 * The client side of a full PSK handshake (RFC 6347 §4.2.4 flights 1, 3 and 5): ClientHello,
 * the cookie round, ClientKeyExchange + ChangeCipherSpec + Finished, then the server's Finished.
 */
export class ClientHandshake extends DtlsConnection {
  readonly #options: ClientHandshakeOptions;
  #hello: ClientHello | undefined;
  #helloMessage: HandshakeMessage | undefined;
  #expecting: Expecting = 'server_hello';
  #cookieRounds = 0;
  #serverRandom: Uint8Array = new Uint8Array(32);
  #ems = false;
  #master: Uint8Array | undefined;

  constructor(ctx: ConnectionContext, options: ClientHandshakeOptions) {
    super(ctx);
    this.#options = options;
  }

  /** Sends the first ClientHello. */
  start(): void {
    this.#hello = {
      clientVersion: DTLS_1_2,
      random: this.ctx.random.bytes(32),
      sessionId: new Uint8Array(0),
      cookie: new Uint8Array(0),
      cipherSuites: [PSK_CCM8],
      compressionMethods: [0],
      extensions: [
        encodeExtension({ type: 'extended_master_secret' }, 'client'),
        encodeExtension({ type: 'renegotiation_info', renegotiatedConnection: new Uint8Array(0) }, 'client'),
        // RFC 9146 §3: the CID we want on the records sent to us (zero-length: none, but we can send one).
        ...(this.ctx.connectionId === undefined
          ? []
          : [encodeExtension({ type: 'connection_id', cid: this.ctx.connectionId }, 'client')]),
      ],
    };
    this.#sendHello();
  }

  #sendHello(): void {
    const hello = this.#hello!;
    this.#helloMessage = this.message(HandshakeType.client_hello, encodeClientHello(hello));
    // The server's answer carries the hello's message_seq (RFC 6347 §4.2.2).
    this.reassembler.reset(this.#helloMessage.messageSeq);
    this.sendFlight([this.handshakeItem(this.#helloMessage)], true);
  }

  protected onHandshakeMessage(message: HandshakeMessage): void {
    switch (this.#expecting) {
      case 'server_hello':
        if (message.msgType === HandshakeType.hello_verify_request) return this.#helloVerifyRequest(message);
        if (message.msgType === HandshakeType.server_hello) return this.#serverHello(message);
        break;
      case 'server_hello_done':
        if (message.msgType === HandshakeType.server_key_exchange) {
          decodeServerKeyExchange(message.body, 'psk'); // the hint: we have one identity per server
          this.transcript.add(message);
          return;
        }
        if (message.msgType === HandshakeType.server_hello_done) return this.#serverHelloDone(message);
        break;
      case 'finished':
        if (message.msgType === HandshakeType.finished) return this.#finished(message);
        break;
      case 'done':
        break;
    }
    this.fail(AlertDescription.unexpected_message, `unexpected handshake message ${message.msgType}`);
  }

  #helloVerifyRequest(message: HandshakeMessage): void {
    const hvr = decodeHelloVerifyRequest(message.body);
    if (++this.#cookieRounds > MAX_COOKIE_ROUNDS) {
      this.fail(AlertDescription.handshake_failure, 'too many HelloVerifyRequests');
      return;
    }
    // RFC 6347 §4.2.1: the same hello again, with the cookie; neither is in the transcript.
    this.#hello = { ...this.#hello!, cookie: hvr.cookie };
    this.#sendHello();
  }

  #serverHello(message: HandshakeMessage): void {
    const sh = decodeServerHello(message.body);
    if (sh.serverVersion !== DTLS_1_2)
      throw new DtlsError('bad-version', 'server did not choose DTLS 1.2', {
        alert: AlertDescription.protocol_version,
      });
    if (sh.cipherSuite !== PSK_CCM8 || sh.compressionMethod !== 0)
      throw new DtlsError('unsupported', 'server chose a suite we did not offer', {
        alert: AlertDescription.illegal_parameter,
      });
    for (const raw of sh.extensions) {
      if (raw.type === ExtensionType.extended_master_secret) this.#ems = true;
      else if (raw.type === ExtensionType.renegotiation_info) {
        const ext = decodeExtension(raw, 'server');
        if (ext.type === 'renegotiation_info' && ext.renegotiatedConnection.length > 0)
          throw new DtlsError('malformed', 'renegotiation_info not empty', {
            alert: AlertDescription.handshake_failure,
          });
      } else if (raw.type === ExtensionType.connection_id && this.ctx.connectionId !== undefined) {
        // CID negotiated: the server's CID goes on our records, ours on its (RFC 9146 §3).
        const ext = decodeExtension(raw, 'server');
        if (ext.type === 'connection_id') this.useConnectionIds(this.ctx.connectionId, ext.cid);
      } else {
        // RFC 5246 §7.4.1.4: a server must not send an extension the client did not offer.
        throw new DtlsError('unsupported', `server sent extension ${raw.type}`, {
          alert: AlertDescription.unsupported_extension,
        });
      }
    }
    if (!this.#ems && this.ctx.requireExtendedMasterSecret)
      throw new DtlsError('unsupported', 'server does not use extended_master_secret', {
        alert: AlertDescription.handshake_failure,
      });
    this.flightAnswered();
    this.#serverRandom = sh.random;
    // The hello that got this answer (the one with the cookie) starts the transcript (RFC 6347 §4.2.1).
    this.transcript.add(this.#helloMessage!).add(message);
    this.#expecting = 'server_hello_done';
  }

  #serverHelloDone(message: HandshakeMessage): void {
    decodeServerHelloDone(message.body);
    this.transcript.add(message);
    const suite = cipherSuite(PSK_CCM8)!;
    const cke = this.message(
      HandshakeType.client_key_exchange,
      encodeClientKeyExchange({ keyExchange: 'psk', identity: this.#options.identity }),
    );
    this.transcript.add(cke);
    const premaster = pskPremasterSecret(this.#options.key);
    const clientRandom = this.#hello!.random;
    this.#master = this.#ems
      ? extendedMasterSecret(premaster, this.transcript.hash())
      : masterSecret(premaster, clientRandom, this.#serverRandom);
    const keys = keyBlock(this.#master, clientRandom, this.#serverRandom, suite);
    this.installKeys(new RecordProtection(suite, keys.client), new RecordProtection(suite, keys.server));
    const finished = this.message(
      HandshakeType.finished,
      encodeFinished(verifyData(this.#master, 'client', this.transcript.hash())),
    );
    this.transcript.add(finished);
    this.enterWriteEpoch1();
    this.#expecting = 'finished';
    this.sendFlight([this.handshakeItem(cke), this.ccsItem(), this.handshakeItem(finished, 1)], true);
  }

  #finished(message: HandshakeMessage): void {
    if (this.readEpoch !== 1 || !this.#master) {
      this.fail(AlertDescription.unexpected_message, 'Finished before ChangeCipherSpec');
      return;
    }
    const expected = verifyData(this.#master, 'server', this.transcript.hash());
    if (!timingSafeEqual(decodeFinished(message.body), expected)) {
      this.fail(AlertDescription.decrypt_error, 'server Finished does not verify');
      return;
    }
    this.#expecting = 'done';
    this.forgetFlight();
    this.establish({
      address: this.ctx.peer.address,
      port: this.ctx.peer.port,
      identity: { psk: this.#options.identityText },
    });
  }
}
