import { timingSafeEqual } from 'node:crypto';
import { AlertDescription } from './alert.js';
import { EMPTY_RENEGOTIATION_INFO_SCSV, cipherSuite, type CipherSuite } from './cipher-suites.js';
import { DtlsConnection, type ConnectionContext } from './dtls-connection.js';
import { DtlsError } from './dtls-errors.js';
import { ExtensionType, decodeExtension, encodeExtension, type RawExtension } from './extensions.js';
import { decodeFinished, encodeFinished } from './finished-messages.js';
import { HandshakeType, type HandshakeMessage } from './handshake.js';
import { encodeServerHello, type ClientHello } from './hello-messages.js';
import { decodeClientKeyExchange, encodeServerKeyExchange } from './key-exchange-messages.js';
import {
  extendedMasterSecret,
  keyBlock,
  masterSecret,
  pskPremasterSecret,
  verifyData,
} from './key-schedule.js';
import { DTLS_1_2 } from './record.js';
import { RecordProtection } from './record-protection.js';

/** The server's PSK store: the key for an identity, or undefined for an unknown identity. */
export type PskLookup = (identity: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/** TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655), the PSK suite LwM2M mandates. */
export const PSK_CCM8 = 0xc0a8;
/** RFC 4279 §5.3: identities up to 128 bytes must be supported; longer ones are refused. */
export const MAX_PSK_IDENTITY = 128;

export interface ServerHandshakeOptions {
  psk: PskLookup;
  /** The PSK identity hint (RFC 4279 §2): a ServerKeyExchange is sent only when one is set. */
  hint?: Uint8Array;
  /** Decodes an authenticated identity into the Peer's identity. */
  identity: (identity: Uint8Array) => string;
}

type Expecting = 'client_key_exchange' | 'finished' | 'done';

/**
 * The server side of a full PSK handshake (RFC 6347 §4.2.4 flights 4 and 6), started from a
 * ClientHello whose cookie was already verified (so this object exists only for clients that
 * proved their address).
 */
export class ServerHandshake extends DtlsConnection {
  readonly #options: ServerHandshakeOptions;
  readonly #hello: ClientHello;
  readonly #helloMessage: HandshakeMessage;
  readonly #helloRecordSeq: number;
  #expecting: Expecting = 'client_key_exchange';
  #suite: CipherSuite | undefined;
  #serverRandom: Uint8Array = new Uint8Array(32);
  #ems = false;
  #master: Uint8Array | undefined;
  #identity: Uint8Array | undefined;

  constructor(
    ctx: ConnectionContext,
    options: ServerHandshakeOptions,
    hello: ClientHello,
    helloMessage: HandshakeMessage,
    helloRecordSeq: number,
  ) {
    super(ctx);
    this.#options = options;
    this.#hello = hello;
    this.#helloMessage = helloMessage;
    this.#helloRecordSeq = helloRecordSeq;
  }

  /** The random of the ClientHello this handshake answers. */
  get clientRandom(): Uint8Array {
    return this.#hello.random;
  }

  /** Answers the ClientHello with ServerHello, [ServerKeyExchange], ServerHelloDone. */
  start(): void {
    try {
      this.#answerHello();
    } catch (e) {
      const alert =
        e instanceof DtlsError && e.alert !== undefined ? e.alert : AlertDescription.handshake_failure;
      this.fail(alert, e instanceof Error ? e.message : 'bad ClientHello', e);
    }
  }

  #answerHello(): void {
    const hello = this.#hello;
    // RFC 6347 §4.2.1: our epoch-0 numbers continue from the hello (no duplicate of the HVR's);
    // RFC 6347 §4.2.2: our message_seq starts at the hello's.
    this.setInitialSequence(this.#helloRecordSeq + 1);
    this.nextMessageSeq = this.#helloMessage.messageSeq;
    this.reassembler.reset(this.#helloMessage.messageSeq + 1);
    // Lower is newer in DTLS; we speak 1.2 only (RFC 6347 §4.1).
    if (hello.clientVersion > DTLS_1_2)
      throw new DtlsError('bad-version', 'client does not offer DTLS 1.2', {
        alert: AlertDescription.protocol_version,
      });
    if (!hello.cipherSuites.includes(PSK_CCM8))
      throw new DtlsError('unsupported', 'no cipher suite in common', {
        alert: AlertDescription.handshake_failure,
      });
    if (!hello.compressionMethods.includes(0))
      throw new DtlsError('unsupported', 'null compression not offered', {
        alert: AlertDescription.illegal_parameter,
      });
    this.#suite = cipherSuite(PSK_CCM8)!;

    let clientEms = false;
    let clientCid: Uint8Array | undefined;
    let secureRenegotiation = hello.cipherSuites.includes(EMPTY_RENEGOTIATION_INFO_SCSV);
    for (const raw of hello.extensions) {
      if (raw.type === ExtensionType.extended_master_secret) clientEms = true;
      if (raw.type === ExtensionType.renegotiation_info) {
        const ext = decodeExtension(raw, 'client');
        // RFC 5746 §3.6: an initial handshake carries an empty renegotiated_connection.
        if (ext.type === 'renegotiation_info' && ext.renegotiatedConnection.length > 0)
          throw new DtlsError('malformed', 'renegotiation_info not empty', {
            alert: AlertDescription.handshake_failure,
          });
        secureRenegotiation = true;
      }
      if (raw.type === ExtensionType.connection_id) {
        const ext = decodeExtension(raw, 'client');
        if (ext.type === 'connection_id') clientCid = ext.cid;
      }
    }
    if (!clientEms && this.ctx.requireExtendedMasterSecret)
      throw new DtlsError('unsupported', 'client does not offer extended_master_secret', {
        alert: AlertDescription.handshake_failure,
      });
    this.#ems = clientEms;

    // Only what we implement is echoed: not encrypt_then_mac (22), session_ticket, ...
    const extensions: RawExtension[] = [];
    if (secureRenegotiation)
      extensions.push(
        encodeExtension({ type: 'renegotiation_info', renegotiatedConnection: new Uint8Array(0) }, 'server'),
      );
    if (this.#ems) extensions.push(encodeExtension({ type: 'extended_master_secret' }, 'server'));
    // RFC 9146 §3: CIDs are used only when both hellos carry the extension; the client's CID goes
    // on our records (zero-length: none), ours on the client's.
    const ownCid = this.ctx.connectionId;
    if (clientCid !== undefined && ownCid !== undefined) {
      extensions.push(encodeExtension({ type: 'connection_id', cid: ownCid }, 'server'));
      this.useConnectionIds(ownCid, clientCid);
    }

    this.#serverRandom = this.ctx.random.bytes(32);
    this.transcript.add(this.#helloMessage);
    const serverHello = this.message(
      HandshakeType.server_hello,
      encodeServerHello({
        serverVersion: DTLS_1_2,
        random: this.#serverRandom,
        sessionId: new Uint8Array(0), // no resumption yet
        cipherSuite: PSK_CCM8,
        compressionMethod: 0,
        extensions,
      }),
    );
    const flight = [serverHello];
    if (this.#options.hint !== undefined)
      flight.push(
        this.message(
          HandshakeType.server_key_exchange,
          encodeServerKeyExchange({ keyExchange: 'psk', identityHint: this.#options.hint }),
        ),
      );
    flight.push(this.message(HandshakeType.server_hello_done, new Uint8Array(0)));
    for (const m of flight) this.transcript.add(m);
    this.sendFlight(
      flight.map((m) => this.handshakeItem(m)),
      true,
    );
  }

  protected onHandshakeMessage(message: HandshakeMessage): void | Promise<void> {
    if (this.#expecting === 'client_key_exchange' && message.msgType === HandshakeType.client_key_exchange)
      return this.#clientKeyExchange(message);
    if (this.#expecting === 'finished' && message.msgType === HandshakeType.finished) {
      this.#finished(message);
      return;
    }
    this.fail(AlertDescription.unexpected_message, `unexpected handshake message ${message.msgType}`);
  }

  #clientKeyExchange(message: HandshakeMessage): void | Promise<void> {
    const cke = decodeClientKeyExchange(message.body, 'psk');
    if (cke.keyExchange !== 'psk') return;
    if (cke.identity.length > MAX_PSK_IDENTITY)
      throw new DtlsError('too-large', 'PSK identity over 128 bytes', {
        alert: AlertDescription.illegal_parameter,
      });
    this.flightAnswered();
    this.transcript.add(message);
    const sessionHash = this.transcript.hash(); // RFC 7627 §3: up to and including ClientKeyExchange
    this.#identity = cke.identity;
    this.#expecting = 'finished';
    const key = this.#options.psk(cke.identity);
    if (key instanceof Promise) return key.then((k) => this.#keys(k, sessionHash));
    this.#keys(key, sessionHash);
  }

  #keys(psk: Uint8Array | undefined, sessionHash: Uint8Array): void {
    if (this.state === 'closed') return;
    if (psk === undefined || psk.length === 0) {
      this.fail(AlertDescription.unknown_psk_identity, 'unknown PSK identity'); // RFC 4279 §2
      return;
    }
    const suite = this.#suite!;
    const premaster = pskPremasterSecret(psk);
    this.#master = this.#ems
      ? extendedMasterSecret(premaster, sessionHash)
      : masterSecret(premaster, this.#hello.random, this.#serverRandom);
    const keys = keyBlock(this.#master, this.#hello.random, this.#serverRandom, suite);
    this.installKeys(new RecordProtection(suite, keys.server), new RecordProtection(suite, keys.client));
  }

  #finished(message: HandshakeMessage): void {
    // The Finished must come under the new keys (RFC 5246 §7.4.9).
    if (this.readEpoch !== 1 || !this.#master) {
      this.fail(AlertDescription.unexpected_message, 'Finished before ChangeCipherSpec');
      return;
    }
    const received = decodeFinished(message.body);
    const expected = verifyData(this.#master, 'client', this.transcript.hash());
    if (!timingSafeEqual(received, expected)) {
      this.fail(AlertDescription.decrypt_error, 'client Finished does not verify');
      return;
    }
    this.transcript.add(message);
    const finished = this.message(
      HandshakeType.finished,
      encodeFinished(verifyData(this.#master, 'server', this.transcript.hash())),
    );
    this.enterWriteEpoch1();
    this.#expecting = 'done';
    // Flight 6 is resent only when the client repeats flight 5 (RFC 6347 §4.2.4).
    this.sendFlight([this.ccsItem(), this.handshakeItem(finished, 1)], false);
    this.establish({
      address: this.ctx.peer.address,
      port: this.ctx.peer.port,
      identity: { psk: this.#options.identity(this.#identity!) },
    });
  }
}
