import { timingSafeEqual } from 'node:crypto';
import type { PeerIdentity } from '../transport/channel.js';
import { AlertDescription } from './alert.js';
import {
  decodeCertificate,
  decodeCertificateVerify,
  encodeCertificate,
  encodeCertificateRequest,
} from './certificate-messages.js';
import { EMPTY_RENEGOTIATION_INFO_SCSV, cipherSuite, type CipherSuite } from './cipher-suites.js';
import { DtlsConnection, type ConnectionContext } from './dtls-connection.js';
import type { EcdsaCredentials, PeerVerifier } from './dtls-credentials.js';
import { DtlsError } from './dtls-errors.js';
import { MAX_PLAINTEXT } from './record-protection.js';
import {
  ECDSA_SHA256,
  ecdsaSign,
  ecdsaVerify,
  ephemeralKey,
  serverParams,
  serverParamsSignedData,
  type EphemeralKey,
} from './ecdhe.js';
import {
  CertificateType,
  EcPointFormat,
  ExtensionType,
  NamedGroup,
  decodeExtension,
  encodeExtension,
  type RawExtension,
} from './extensions.js';
import { decodeFinished, encodeFinished } from './finished-messages.js';
import { HandshakeType, type HandshakeMessage } from './handshake.js';
import {
  ECDSA_SIGN,
  HandshakeLog,
  certificateForm,
  ownCertificate,
  ownCertificateType,
  receivedCertificate,
  verifyPeer,
  type ReceivedCertificate,
} from './handshake-certificates.js';
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
import { pskKeyHash, sameKey, type CachedSession } from './session-cache.js';

/** The server's PSK store: the key for an identity, or undefined for an unknown identity. */
export type PskLookup = (identity: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>;

/** TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655), the PSK suite LwM2M mandates. */
export const PSK_CCM8 = 0xc0a8;
/** TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (RFC 7251), the certificate suite LwM2M mandates. */
export const ECDHE_ECDSA_CCM8 = 0xc0ae;
/** TLS_PSK_WITH_AES_128_CBC_SHA256 (RFC 5487). */
export const PSK_CBC_SHA256 = 0x00ae;
/** TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 (RFC 5289). */
export const ECDHE_ECDSA_CBC_SHA256 = 0xc023;
/** Our preference order: CCM_8 first (LwM2M mandates it), ECDHE before PSK (forward secrecy). */
export const DEFAULT_CIPHER_SUITES: readonly number[] = [
  ECDHE_ECDSA_CCM8,
  PSK_CCM8,
  ECDHE_ECDSA_CBC_SHA256,
  PSK_CBC_SHA256,
];
/** RFC 4279 §5.3: identities up to 128 bytes must be supported; longer ones are refused. */
export const MAX_PSK_IDENTITY = 128;

export interface ServerHandshakeOptions {
  psk?: PskLookup;
  /** The PSK identity hint (RFC 4279 §2): a ServerKeyExchange is sent only when one is set. */
  hint?: Uint8Array;
  /** Decodes an authenticated identity into the Peer's identity. */
  identity: (identity: Uint8Array) => string;
  /** Our key (and chain) for the ECDHE_ECDSA suites; with it, `verifyPeer` too. */
  certificate?: EcdsaCredentials;
  /** Decides on the client's certificate or raw public key. */
  verifyPeer?: PeerVerifier;
  /** Suites in our order of preference (default DEFAULT_CIPHER_SUITES); ours to choose from. */
  cipherSuites?: readonly number[];
  /** The resumable sessions (RFC 5246 §7.3); without it, no session_id is given and none resumed. */
  sessions?: ServerSessions;
}

/** The server's session cache as a handshake sees it. */
export interface ServerSessions {
  find(sessionId: Uint8Array): CachedSession | undefined;
  save(session: CachedSession): void;
  /** A fresh session_id (32 random bytes). */
  newId(): Uint8Array;
}

type Expecting = 'certificate' | 'client_key_exchange' | 'certificate_verify' | 'finished' | 'done';

/** The ECDHE state of one handshake. */
interface Ecdhe {
  credentials: EcdsaCredentials;
  verifier: PeerVerifier;
  ephemeral: EphemeralKey;
  /** The client certificate type we chose (RFC 7250). */
  clientCertificateType: number;
  serverName: string | undefined;
  log: HandshakeLog;
  peer?: ReceivedCertificate;
}

/**
 * The server side of a full handshake (RFC 6347 §4.2.4 flights 4 and 6), started from a
 * ClientHello whose cookie was already verified (so this object exists only for clients that
 * proved their address). PSK suites (RFC 4279) and ECDHE_ECDSA suites (RFC 8422) with mutual
 * authentication by X.509 certificate or raw public key (RFC 7250), as LwM2M requires. A hello
 * that offers a cached session gets the abbreviated handshake instead (RFC 5246 §7.3).
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
  #peerIdentity: PeerIdentity | undefined;
  #ecdhe: Ecdhe | undefined;
  #serverName: string | undefined;
  /** The session_id of our ServerHello (empty: not resumable). */
  #sessionId: Uint8Array = new Uint8Array(0);
  /** The client's record_size_limit (RFC 8449) or max_fragment_length code (RFC 6066), if sent. */
  #recordSizeLimit: number | undefined;
  #maxFragmentCode: number | undefined;
  /** The cached session an abbreviated handshake resumes. */
  #resumed: CachedSession | undefined;
  #pskKeyHash: Uint8Array | undefined;

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

  /** Whether this is an abbreviated handshake (a resumed session). */
  get resumed(): boolean {
    return this.#resumed !== undefined;
  }

  /** The random of the ClientHello this handshake answers. */
  get clientRandom(): Uint8Array {
    return this.#hello.random;
  }

  /** Answers the ClientHello with flight 4. */
  start(): void {
    try {
      this.#answerHello();
    } catch (e) {
      const alert =
        e instanceof DtlsError && e.alert !== undefined ? e.alert : AlertDescription.handshake_failure;
      this.fail(alert, e instanceof Error ? e.message : 'bad ClientHello', e);
    }
  }

  #add(message: HandshakeMessage): void {
    this.transcript.add(message);
    this.#ecdhe?.log.add(message);
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
    if (!hello.compressionMethods.includes(0))
      throw new DtlsError('unsupported', 'null compression not offered', {
        alert: AlertDescription.illegal_parameter,
      });

    let clientEms = false;
    let clientCid: Uint8Array | undefined;
    let secureRenegotiation = hello.cipherSuites.includes(EMPTY_RENEGOTIATION_INFO_SCSV);
    const offer: ClientEcOffer = {};
    for (const raw of hello.extensions) {
      switch (raw.type) {
        case ExtensionType.extended_master_secret:
          clientEms = true;
          break;
        case ExtensionType.renegotiation_info: {
          const ext = decodeExtension(raw, 'client');
          // RFC 5746 §3.6: an initial handshake carries an empty renegotiated_connection.
          if (ext.type === 'renegotiation_info' && ext.renegotiatedConnection.length > 0)
            throw new DtlsError('malformed', 'renegotiation_info not empty', {
              alert: AlertDescription.handshake_failure,
            });
          secureRenegotiation = true;
          break;
        }
        case ExtensionType.connection_id: {
          const ext = decodeExtension(raw, 'client');
          if (ext.type === 'connection_id') clientCid = ext.cid;
          break;
        }
        case ExtensionType.record_size_limit: {
          const ext = decodeExtension(raw, 'client'); // below 64: illegal_parameter
          if (ext.type === 'record_size_limit') this.#recordSizeLimit = ext.limit;
          break;
        }
        case ExtensionType.max_fragment_length: {
          const ext = decodeExtension(raw, 'client');
          if (ext.type === 'max_fragment_length') {
            // RFC 6066 §4: 1..4 (2^9..2^12); anything else is illegal_parameter.
            if (ext.code < 1 || ext.code > 4)
              throw new DtlsError('malformed', `max_fragment_length code ${ext.code}`, {
                alert: AlertDescription.illegal_parameter,
              });
            this.#maxFragmentCode = ext.code;
          }
          break;
        }
        case ExtensionType.server_name:
        case ExtensionType.supported_groups:
        case ExtensionType.ec_point_formats:
        case ExtensionType.signature_algorithms:
        case ExtensionType.client_certificate_type:
        case ExtensionType.server_certificate_type:
          readEcOffer(offer, decodeExtension(raw, 'client'));
          break;
        default:
          break;
      }
    }
    if (!clientEms && this.ctx.requireExtendedMasterSecret)
      throw new DtlsError('unsupported', 'client does not offer extended_master_secret', {
        alert: AlertDescription.handshake_failure,
      });
    this.#ems = clientEms;
    this.#serverName = offer.serverName;

    const cached = this.#resumable(clientEms, offer.serverName);
    if (cached?.pskIdentity) {
      // A PSK session resumes only while its identity still has the same key (the store may have
      // dropped or changed it since): one more lookup, of the cached identity.
      const key = this.#options.psk!(cached.pskIdentity);
      const go = (k: Uint8Array | undefined): void =>
        this.#respond(
          sameKey(k, cached.pskKeyHash) ? cached : undefined,
          offer,
          clientCid,
          secureRenegotiation,
        );
      if (key instanceof Promise) {
        this.wait(key.then((k) => (this.state === 'handshake' ? go(k) : undefined)));
        return;
      }
      go(key);
      return;
    }
    this.#respond(cached, offer, clientCid, secureRenegotiation);
  }

  /**
   * The cached session the ClientHello may resume, or undefined for a full handshake: its
   * session_id is known and live, its suite is offered and still ours (with credentials), the
   * extended master secret agrees (RFC 7627 §5.3: either way round, a mismatch means a full
   * handshake) and so does the SNI (RFC 6066 §3).
   */
  #resumable(clientEms: boolean, serverName: string | undefined): CachedSession | undefined {
    const id = this.#hello.sessionId;
    const sessions = this.#options.sessions;
    if (!sessions || id.length === 0) return undefined;
    const cached = sessions.find(id);
    if (!cached || cached.extendedMasterSecret !== clientEms || cached.serverName !== serverName)
      return undefined;
    if (!this.#hello.cipherSuites.includes(cached.cipherSuite)) return undefined;
    if (!(this.#options.cipherSuites ?? DEFAULT_CIPHER_SUITES).includes(cached.cipherSuite)) return undefined;
    const suite = cipherSuite(cached.cipherSuite);
    if (!suite) return undefined;
    const held =
      suite.keyExchange === 'psk'
        ? this.#options.psk !== undefined && cached.pskIdentity !== undefined
        : this.#options.certificate !== undefined;
    return held ? cached : undefined;
  }

  /** ServerHello and the rest of our flight: abbreviated for `cached`, else full. */
  #respond(
    cached: CachedSession | undefined,
    offer: ClientEcOffer,
    clientCid: Uint8Array | undefined,
    secureRenegotiation: boolean,
  ): void {
    const hello = this.#hello;
    const choice = cached
      ? { suite: cipherSuite(cached.cipherSuite)! }
      : this.#chooseSuite(hello.cipherSuites, offer);
    this.#suite = choice.suite;

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
    // A constrained client's buffer: record_size_limit (RFC 8449; it wins over max_fragment_length,
    // §5) or max_fragment_length (RFC 6066 §4, echoed). We take any record up to 2^14 ourselves.
    if (this.#recordSizeLimit !== undefined) {
      extensions.push(encodeExtension({ type: 'record_size_limit', limit: MAX_PLAINTEXT }, 'server'));
      this.limitRecordSize(this.#recordSizeLimit);
    } else if (this.#maxFragmentCode !== undefined) {
      extensions.push(
        encodeExtension({ type: 'max_fragment_length', code: this.#maxFragmentCode }, 'server'),
      );
      this.limitRecordSize(2 ** (8 + this.#maxFragmentCode));
    }
    if (choice.ecdhe) {
      // RFC 8422 §5.2: the point formats we accept; RFC 7250 §4.2: the chosen types, echoed.
      if (offer.pointFormats)
        extensions.push(
          encodeExtension({ type: 'ec_point_formats', formats: [EcPointFormat.uncompressed] }, 'server'),
        );
      if (offer.clientCertificateTypes)
        extensions.push(
          encodeExtension(
            { type: 'client_certificate_type', types: [choice.ecdhe.clientCertificateType] },
            'server',
          ),
        );
      if (offer.serverCertificateTypes)
        extensions.push(
          encodeExtension(
            { type: 'server_certificate_type', types: [ownCertificateType(choice.ecdhe.credentials)] },
            'server',
          ),
        );
      this.#ecdhe = choice.ecdhe;
    }

    this.#serverRandom = this.ctx.random.bytes(32);
    // RFC 5246 §7.4.1.3: the same session_id resumes; a new one names a session we may resume later.
    this.#sessionId = cached ? cached.sessionId : (this.#options.sessions?.newId() ?? new Uint8Array(0));
    this.#add(this.#helloMessage);
    const flight = [
      this.message(
        HandshakeType.server_hello,
        encodeServerHello({
          serverVersion: DTLS_1_2,
          random: this.#serverRandom,
          sessionId: this.#sessionId,
          cipherSuite: choice.suite.id,
          compressionMethod: 0,
          extensions,
        }),
      ),
    ];
    if (cached) {
      this.#abbreviated(cached, flight[0]!);
      return;
    }
    if (this.#ecdhe) {
      flight.push(...this.#ecdheFlight(this.#ecdhe));
      this.#expecting = 'certificate';
    } else if (this.#options.hint !== undefined)
      flight.push(
        this.message(
          HandshakeType.server_key_exchange,
          encodeServerKeyExchange({ keyExchange: 'psk', identityHint: this.#options.hint }),
        ),
      );
    flight.push(this.message(HandshakeType.server_hello_done, new Uint8Array(0)));
    for (const m of flight) this.#add(m);
    this.sendFlight(
      flight.map((m) => this.handshakeItem(m)),
      true,
    );
  }

  /**
   * RFC 5246 §7.3 abbreviated handshake: keys from the cached master secret and the new randoms,
   * then ServerHello + ChangeCipherSpec + Finished. This flight is retransmitted on the timer until
   * the client's Finished arrives (here the client sends the last flight).
   */
  #abbreviated(cached: CachedSession, serverHello: HandshakeMessage): void {
    this.#resumed = cached;
    this.#peerIdentity = cached.identity;
    this.#add(serverHello);
    this.#master = cached.masterSecret;
    const suite = this.#suite!;
    const keys = keyBlock(this.#master, this.#hello.random, this.#serverRandom, suite);
    this.installKeys(new RecordProtection(suite, keys.server), new RecordProtection(suite, keys.client));
    const finished = this.message(
      HandshakeType.finished,
      encodeFinished(verifyData(this.#master, 'server', this.transcript.hash())),
    );
    this.transcript.add(finished);
    this.enterWriteEpoch1();
    this.#expecting = 'finished';
    this.sendFlight([this.handshakeItem(serverHello), this.ccsItem(), this.handshakeItem(finished, 1)], true);
  }

  /**
   * The first suite of our preference list that the client offers and we hold credentials for
   * (RFC 5246 §7.4.1.3: the server chooses). An ECDHE suite also needs P-256, uncompressed points,
   * ecdsa_secp256r1_sha256 and certificate types both sides can use.
   */
  #chooseSuite(offered: readonly number[], offer: ClientEcOffer): { suite: CipherSuite; ecdhe?: Ecdhe } {
    const { psk, certificate, verifyPeer: verifier } = this.#options;
    let ecdheProblem: string | undefined;
    for (const id of this.#options.cipherSuites ?? DEFAULT_CIPHER_SUITES) {
      const suite = cipherSuite(id);
      if (!suite || !offered.includes(id)) continue;
      if (suite.keyExchange === 'psk') {
        if (psk) return { suite };
        continue;
      }
      if (!certificate || !verifier) continue;
      ecdheProblem = ecOfferProblem(offer, ownCertificateType(certificate));
      if (ecdheProblem !== undefined) continue;
      return {
        suite,
        ecdhe: {
          credentials: certificate,
          verifier,
          ephemeral: ephemeralKey(),
          clientCertificateType: chooseClientCertificateType(offer, ownCertificateType(certificate)),
          serverName: offer.serverName,
          log: new HandshakeLog(),
        },
      };
    }
    throw new DtlsError(
      'unsupported',
      `no cipher suite in common${ecdheProblem ? ` (${ecdheProblem})` : ''}`,
      {
        alert: AlertDescription.handshake_failure,
      },
    );
  }

  /** Certificate, ServerKeyExchange (signed), CertificateRequest (RFC 8422 §2.1, RFC 5246 §7.4.4). */
  #ecdheFlight(ecdhe: Ecdhe): HandshakeMessage[] {
    const params = serverParams(ecdhe.ephemeral);
    const signature = ecdsaSign(
      ecdhe.credentials.privateKey,
      serverParamsSignedData(this.#hello.random, this.#serverRandom, params),
    );
    return [
      this.message(HandshakeType.certificate, encodeCertificate(ownCertificate(ecdhe.credentials))),
      this.message(
        HandshakeType.server_key_exchange,
        encodeServerKeyExchange({
          keyExchange: 'ecdhe_ecdsa',
          params,
          signed: { scheme: ECDSA_SHA256, signature },
        }),
      ),
      // LwM2M authenticates both ends: the client must send its certificate or raw key.
      this.message(
        HandshakeType.certificate_request,
        encodeCertificateRequest({
          certificateTypes: [ECDSA_SIGN],
          signatureSchemes: [ECDSA_SHA256],
          certificateAuthorities: [],
        }),
      ),
    ];
  }

  protected onHandshakeMessage(message: HandshakeMessage): void | Promise<void> {
    switch (this.#expecting) {
      case 'certificate':
        if (message.msgType === HandshakeType.certificate) return this.#certificate(message);
        // RFC 5246 §7.4.6: a client that skips its certificate when asked gets handshake_failure.
        if (message.msgType === HandshakeType.client_key_exchange) {
          this.fail(AlertDescription.handshake_failure, 'client sent no certificate (mutual authentication)');
          return;
        }
        break;
      case 'client_key_exchange':
        if (message.msgType === HandshakeType.client_key_exchange) return this.#clientKeyExchange(message);
        break;
      case 'certificate_verify':
        if (message.msgType === HandshakeType.certificate_verify) return this.#certificateVerify(message);
        break;
      case 'finished':
        if (message.msgType === HandshakeType.finished) return this.#finished(message);
        break;
      case 'done':
        break;
    }
    this.fail(AlertDescription.unexpected_message, `unexpected handshake message ${message.msgType}`);
  }

  /** The client's Certificate: its key, then the verifier (possibly asynchronous). */
  #certificate(message: HandshakeMessage): void | Promise<void> {
    const ecdhe = this.#ecdhe!;
    this.flightAnswered();
    const received = receivedCertificate(
      decodeCertificate(message.body, certificateForm(ecdhe.clientCertificateType)),
    );
    this.#add(message);
    ecdhe.peer = received;
    this.#expecting = 'client_key_exchange';
    const identity = verifyPeer(ecdhe.verifier, received.credential, { serverName: ecdhe.serverName });
    if (identity instanceof Promise)
      return identity.then((id) => {
        this.#peerIdentity = id;
      });
    this.#peerIdentity = identity;
  }

  #clientKeyExchange(message: HandshakeMessage): void | Promise<void> {
    this.flightAnswered();
    if (this.#ecdhe) {
      const cke = decodeClientKeyExchange(message.body, 'ecdhe_ecdsa');
      if (cke.keyExchange !== 'ecdhe_ecdsa') return;
      const premaster = this.#ecdhe.ephemeral.sharedSecret(cke.publicKey);
      this.#add(message);
      this.#expecting = 'certificate_verify';
      this.#keys(premaster, this.transcript.hash());
      return;
    }
    const cke = decodeClientKeyExchange(message.body, 'psk');
    if (cke.keyExchange !== 'psk') return;
    if (cke.identity.length > MAX_PSK_IDENTITY)
      throw new DtlsError('too-large', 'PSK identity over 128 bytes', {
        alert: AlertDescription.illegal_parameter,
      });
    this.#add(message);
    const sessionHash = this.transcript.hash(); // RFC 7627 §3: up to and including ClientKeyExchange
    this.#identity = cke.identity;
    this.#expecting = 'finished';
    const key = this.#options.psk!(cke.identity);
    if (key instanceof Promise) return key.then((k) => this.#pskKeys(k, sessionHash));
    this.#pskKeys(key, sessionHash);
  }

  #pskKeys(psk: Uint8Array | undefined, sessionHash: Uint8Array): void {
    if (this.state === 'closed') return;
    if (psk === undefined || psk.length === 0) {
      this.fail(AlertDescription.unknown_psk_identity, 'unknown PSK identity'); // RFC 4279 §2
      return;
    }
    this.#pskKeyHash = this.#options.sessions && pskKeyHash(psk);
    this.#keys(pskPremasterSecret(psk), sessionHash);
  }

  #keys(premaster: Uint8Array, sessionHash: Uint8Array): void {
    const suite = this.#suite!;
    this.#master = this.#ems
      ? extendedMasterSecret(premaster, sessionHash)
      : masterSecret(premaster, this.#hello.random, this.#serverRandom);
    const keys = keyBlock(this.#master, this.#hello.random, this.#serverRandom, suite);
    this.installKeys(new RecordProtection(suite, keys.server), new RecordProtection(suite, keys.client));
  }

  /** Proof that the client holds its key: a signature over all messages so far (RFC 5246 §7.4.8). */
  #certificateVerify(message: HandshakeMessage): void {
    const ecdhe = this.#ecdhe!;
    const signed = decodeCertificateVerify(message.body);
    if (signed.scheme !== ECDSA_SHA256)
      throw new DtlsError(
        'unsupported',
        `CertificateVerify with signature scheme 0x${signed.scheme.toString(16)}`,
        {
          alert: AlertDescription.illegal_parameter,
        },
      );
    if (!ecdsaVerify(ecdhe.peer!.publicKey, ecdhe.log.bytes(), signed.signature)) {
      this.fail(AlertDescription.decrypt_error, 'client CertificateVerify does not verify');
      return;
    }
    this.#add(message);
    this.#expecting = 'finished';
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
    if (this.#resumed) {
      // Abbreviated: the client's Finished ends it; our flight needs no more resending.
      this.#expecting = 'done';
      this.forgetFlight();
      this.#establish();
      return;
    }
    const finished = this.message(
      HandshakeType.finished,
      encodeFinished(verifyData(this.#master, 'server', this.transcript.hash())),
    );
    this.enterWriteEpoch1();
    this.#expecting = 'done';
    // Flight 6 is resent only when the client repeats flight 5 (RFC 6347 §4.2.4).
    this.sendFlight([this.ccsItem(), this.handshakeItem(finished, 1)], false);
    const identity = this.#peerIdentity ?? { psk: this.#options.identity(this.#identity!) };
    if (this.#sessionId.length > 0)
      this.#options.sessions?.save({
        sessionId: this.#sessionId,
        masterSecret: this.#master,
        cipherSuite: this.#suite!.id,
        extendedMasterSecret: this.#ems,
        identity,
        ...(this.#identity && this.#pskKeyHash
          ? { pskIdentity: this.#identity, pskKeyHash: this.#pskKeyHash }
          : {}),
        ...(this.#serverName === undefined ? {} : { serverName: this.#serverName }),
      });
    this.#establish(identity);
  }

  #establish(identity = this.#peerIdentity!): void {
    this.establish({ address: this.ctx.peer.address, port: this.ctx.peer.port, identity });
  }
}

/** What the ClientHello says about ECC and certificates (absent fields: extension absent). */
interface ClientEcOffer {
  serverName?: string;
  groups?: number[];
  pointFormats?: number[];
  signatureSchemes?: number[];
  clientCertificateTypes?: number[];
  serverCertificateTypes?: number[];
}

function readEcOffer(offer: ClientEcOffer, ext: ReturnType<typeof decodeExtension>): void {
  switch (ext.type) {
    case 'server_name':
      offer.serverName = ext.hostNames[0];
      break;
    case 'supported_groups':
      offer.groups = ext.groups;
      break;
    case 'ec_point_formats':
      offer.pointFormats = ext.formats;
      break;
    case 'signature_algorithms':
      offer.signatureSchemes = ext.schemes;
      break;
    case 'client_certificate_type':
      offer.clientCertificateTypes = ext.types;
      break;
    case 'server_certificate_type':
      offer.serverCertificateTypes = ext.types;
      break;
    default:
      break;
  }
}

/**
 * Why the client's offer rules out ECDHE_ECDSA with our credentials, or undefined when it does
 * not. An absent extension means its default (RFC 8422 §4: any curve and uncompressed points;
 * RFC 7250 §4.1: X.509). An absent signature_algorithms would mean SHA-1 (RFC 5246 §7.4.1.4.1);
 * Choice: we still sign with SHA-256, as every LwM2M client sends the extension.
 */
function ecOfferProblem(offer: ClientEcOffer, ownType: number): string | undefined {
  if (offer.groups && !offer.groups.includes(NamedGroup.secp256r1)) return 'client does not offer secp256r1';
  if (offer.pointFormats && !offer.pointFormats.includes(EcPointFormat.uncompressed))
    return 'client does not offer uncompressed points';
  if (offer.signatureSchemes && !offer.signatureSchemes.includes(ECDSA_SHA256))
    return 'client does not offer ecdsa_secp256r1_sha256';
  const serverTypes = offer.serverCertificateTypes ?? [CertificateType.x509];
  if (!serverTypes.includes(ownType))
    return `client does not accept a ${ownType === CertificateType.x509 ? 'X.509' : 'raw public key'} server certificate`;
  const clientTypes = offer.clientCertificateTypes ?? [CertificateType.x509];
  if (!clientTypes.some((t) => t === CertificateType.x509 || t === CertificateType.raw_public_key))
    return 'client offers no certificate type we support';
  return undefined;
}

/**
 * The client certificate type (RFC 7250 §4.2): the same kind as our own when the client offers it
 * (an LwM2M security mode is RPK or certificate for both ends), else the first the client lists.
 */
function chooseClientCertificateType(offer: ClientEcOffer, ownType: number): number {
  const types: number[] = (offer.clientCertificateTypes ?? [CertificateType.x509]).filter(
    (t) => t === CertificateType.x509 || t === CertificateType.raw_public_key,
  );
  return types.includes(ownType) ? ownType : (types[0] ?? CertificateType.x509);
}
