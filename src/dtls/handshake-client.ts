import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { PeerIdentity } from '../transport/channel.js';
import { AlertDescription } from './alert.js';
import {
  decodeCertificate,
  decodeCertificateRequest,
  encodeCertificate,
  encodeCertificateVerify,
} from './certificate-messages.js';
import { cipherSuite, type CipherSuite } from './cipher-suites.js';
import { DtlsConnection, type ConnectionContext } from './dtls-connection.js';
import type { EcdsaCredentials, PeerVerifier } from './dtls-credentials.js';
import { DtlsError } from './dtls-errors.js';
import { ECDSA_SHA256, ecdsaSign, ecdsaVerify, ephemeralKey, serverParamsSignedData } from './ecdhe.js';
import {
  CertificateType,
  EcPointFormat,
  NamedGroup,
  decodeExtension,
  encodeExtension,
  type RawExtension,
} from './extensions.js';
import { decodeFinished, encodeFinished } from './finished-messages.js';
import { HandshakeType, type HandshakeMessage } from './handshake.js';
import {
  HandshakeLog,
  certificateForm,
  ownCertificate,
  ownCertificateType,
  receivedCertificate,
  verifyPeer,
} from './handshake-certificates.js';
import {
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
  encodeClientHello,
  type ClientHello,
} from './hello-messages.js';
import {
  decodeServerKeyExchange,
  encodeClientKeyExchange,
  type ServerEcdhParams,
} from './key-exchange-messages.js';
import {
  extendedMasterSecret,
  keyBlock,
  masterSecret,
  pskPremasterSecret,
  verifyData,
} from './key-schedule.js';
import { DTLS_1_2 } from './record.js';
import { RecordProtection } from './record-protection.js';
import type { CachedSession } from './session-cache.js';

export interface ClientHandshakeOptions {
  /** Our PSK credentials; the identity text is reported on the Peer of a PSK session. */
  psk?: { identity: Uint8Array; key: Uint8Array; identityText: string };
  /** Our key (and chain) for the ECDHE_ECDSA suites; with it, `verifyPeer` too. */
  certificate?: EcdsaCredentials;
  /** Decides on the server's certificate or raw public key. */
  verifyPeer?: PeerVerifier;
  /** The suites offered, in order; only those we hold credentials for are sent. */
  cipherSuites: readonly number[];
  /** Sent as server_name (RFC 6066 §3, not for IP literals) and given to the verifier. */
  serverName?: string;
  /** The session we remember with this server (RFC 5246 §7.3), offered for resumption. */
  session?: ClientSessions;
  /** Offer record_size_limit (RFC 8449): the largest record plaintext we take (64..2^14). */
  recordSizeLimit?: number;
  /** Offer max_fragment_length (RFC 6066 §4): 1..4 for 2^9..2^12 bytes, both directions. */
  maxFragmentLength?: number;
}

/** The client's memory of its session with one server. */
export interface ClientSessions {
  /** The session to offer, if any. */
  offer(): CachedSession | undefined;
  /** A full handshake gave a resumable session. */
  save(session: CachedSession): void;
  /** The offered session was not resumed, or its resumption failed: forget it. */
  forget(): void;
}

type Expecting =
  'server_hello' | 'certificate' | 'server_key_exchange' | 'server_hello_done' | 'finished' | 'done';

/** HelloVerifyRequests answered at most (a server asking again and again is broken). */
const MAX_COOKIE_ROUNDS = 2;

/** The ECDHE state of one handshake. */
interface Ecdhe {
  log: HandshakeLog;
  serverCertificateType: number;
  serverKey?: KeyObject;
  serverParams?: ServerEcdhParams;
  certificateRequested: boolean;
}

/**
 * The client side of a full handshake (RFC 6347 §4.2.4 flights 1, 3 and 5): ClientHello, the
 * cookie round, [Certificate] + ClientKeyExchange + [CertificateVerify] + ChangeCipherSpec +
 * Finished, then the server's Finished. PSK (RFC 4279) or ECDHE_ECDSA (RFC 8422) with X.509 or
 * raw public keys (RFC 7250). With a remembered session, the hello offers it, and a ServerHello
 * with its session_id starts the abbreviated handshake (RFC 5246 §7.3).
 */
export class ClientHandshake extends DtlsConnection {
  readonly #options: ClientHandshakeOptions;
  #hello: ClientHello | undefined;
  #helloMessage: HandshakeMessage | undefined;
  #expecting: Expecting = 'server_hello';
  #cookieRounds = 0;
  #serverRandom: Uint8Array = new Uint8Array(32);
  #sessionId: Uint8Array = new Uint8Array(0);
  #ems = false;
  #master: Uint8Array | undefined;
  #suite: CipherSuite | undefined;
  #ecdhe: Ecdhe | undefined;
  #peerIdentity: PeerIdentity | undefined;
  /** Extensions we sent that the server may answer (RFC 5246 §7.4.1.4). */
  readonly #offered = new Set<number>();
  /** The session offered in our ClientHello, and whether the server resumed it. */
  #offeredSession: CachedSession | undefined;
  #resumed = false;

  constructor(ctx: ConnectionContext, options: ClientHandshakeOptions) {
    super(ctx);
    this.#options = options;
  }

  /** Whether the server resumed our session (an abbreviated handshake). */
  get resumed(): boolean {
    return this.#resumed;
  }

  /** Sends the first ClientHello. */
  start(): void {
    const { psk, certificate, verifyPeer: verifier } = this.#options;
    const suites = this.#options.cipherSuites.filter((id) => {
      const suite = cipherSuite(id);
      if (!suite) return false;
      return suite.keyExchange === 'psk'
        ? psk !== undefined
        : certificate !== undefined && verifier !== undefined;
    });
    const extensions: RawExtension[] = [
      encodeExtension({ type: 'extended_master_secret' }, 'client'),
      encodeExtension({ type: 'renegotiation_info', renegotiatedConnection: new Uint8Array(0) }, 'client'),
    ];
    // RFC 9146 §3: the CID we want on the records sent to us (zero-length: none, but we can send one).
    if (this.ctx.connectionId !== undefined)
      extensions.push(encodeExtension({ type: 'connection_id', cid: this.ctx.connectionId }, 'client'));
    if (this.#options.maxFragmentLength !== undefined)
      extensions.push(
        encodeExtension({ type: 'max_fragment_length', code: this.#options.maxFragmentLength }, 'client'),
      );
    if (this.#options.recordSizeLimit !== undefined)
      extensions.push(
        encodeExtension({ type: 'record_size_limit', limit: this.#options.recordSizeLimit }, 'client'),
      );
    const name = this.#options.serverName;
    if (name !== undefined && isIP(name) === 0)
      extensions.push(encodeExtension({ type: 'server_name', hostNames: [name] }, 'client'));
    if (certificate && suites.some((id) => cipherSuite(id)!.keyExchange === 'ecdhe_ecdsa')) {
      extensions.push(
        encodeExtension({ type: 'supported_groups', groups: [NamedGroup.secp256r1] }, 'client'),
        encodeExtension({ type: 'ec_point_formats', formats: [EcPointFormat.uncompressed] }, 'client'),
        encodeExtension({ type: 'signature_algorithms', schemes: [ECDSA_SHA256] }, 'client'),
      );
      // Choice: an LwM2M security mode is RPK or certificate for both ends, so with a raw key we
      // ask for raw keys both ways (RFC 7250 §4.1); with X.509 we send neither (X.509 is the default).
      if (ownCertificateType(certificate) === CertificateType.raw_public_key)
        extensions.push(
          encodeExtension(
            { type: 'client_certificate_type', types: [CertificateType.raw_public_key] },
            'client',
          ),
          encodeExtension(
            { type: 'server_certificate_type', types: [CertificateType.raw_public_key] },
            'client',
          ),
        );
    }
    for (const e of extensions) this.#offered.add(e.type);
    // Offered only when its suite is still among ours (RFC 5246 §7.4.1.2: the hello must offer it).
    const session = this.#options.session?.offer();
    this.#offeredSession = session && suites.includes(session.cipherSuite) ? session : undefined;
    this.#hello = {
      clientVersion: DTLS_1_2,
      random: this.ctx.random.bytes(32),
      sessionId: this.#offeredSession?.sessionId ?? new Uint8Array(0),
      cookie: new Uint8Array(0),
      cipherSuites: suites,
      compressionMethods: [0],
      extensions,
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

  #add(message: HandshakeMessage): void {
    this.transcript.add(message);
    this.#ecdhe?.log.add(message);
  }

  protected onHandshakeMessage(message: HandshakeMessage): void | Promise<void> {
    switch (this.#expecting) {
      case 'server_hello':
        if (message.msgType === HandshakeType.hello_verify_request) return this.#helloVerifyRequest(message);
        if (message.msgType === HandshakeType.server_hello) return this.#serverHello(message);
        break;
      case 'certificate':
        if (message.msgType === HandshakeType.certificate) return this.#certificate(message);
        break;
      case 'server_key_exchange':
        if (message.msgType === HandshakeType.server_key_exchange) return this.#serverKeyExchange(message);
        break;
      case 'server_hello_done':
        if (message.msgType === HandshakeType.server_key_exchange && !this.#ecdhe) {
          decodeServerKeyExchange(message.body, 'psk'); // the hint: we have one identity per server
          this.#add(message);
          return;
        }
        if (message.msgType === HandshakeType.certificate_request && this.#ecdhe) {
          decodeCertificateRequest(message.body); // we have one key; the server checks it
          this.#ecdhe.certificateRequested = true;
          this.#add(message);
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
    const suite = cipherSuite(sh.cipherSuite);
    if (!suite || !this.#hello!.cipherSuites.includes(sh.cipherSuite) || sh.compressionMethod !== 0)
      throw new DtlsError('unsupported', 'server chose a suite we did not offer', {
        alert: AlertDescription.illegal_parameter,
      });
    let serverCertificateType: number = CertificateType.x509;
    let clientCertificateType: number = CertificateType.x509;
    for (const raw of sh.extensions) {
      // RFC 5246 §7.4.1.4: a server must not send an extension the client did not offer.
      if (!this.#offered.has(raw.type))
        throw new DtlsError('unsupported', `server sent extension ${raw.type}`, {
          alert: AlertDescription.unsupported_extension,
        });
      const ext = decodeExtension(raw, 'server');
      switch (ext.type) {
        case 'extended_master_secret':
          this.#ems = true;
          break;
        case 'renegotiation_info':
          if (ext.renegotiatedConnection.length > 0)
            throw new DtlsError('malformed', 'renegotiation_info not empty', {
              alert: AlertDescription.handshake_failure,
            });
          break;
        case 'connection_id':
          // CID negotiated: the server's CID goes on our records, ours on its (RFC 9146 §3).
          this.useConnectionIds(this.ctx.connectionId!, ext.cid);
          break;
        case 'ec_point_formats':
          if (!ext.formats.includes(EcPointFormat.uncompressed))
            throw new DtlsError('unsupported', 'server does not accept uncompressed points', {
              alert: AlertDescription.illegal_parameter,
            });
          break;
        case 'server_certificate_type':
          serverCertificateType = ext.types[0]!;
          break;
        case 'client_certificate_type':
          clientCertificateType = ext.types[0]!;
          break;
        case 'record_size_limit':
          this.limitRecordSize(ext.limit); // what the server takes (RFC 8449 §4)
          break;
        case 'max_fragment_length':
          // RFC 6066 §4: the server echoes our code, which then limits both directions.
          if (ext.code !== this.#options.maxFragmentLength)
            throw new DtlsError('malformed', 'server answered another max_fragment_length', {
              alert: AlertDescription.illegal_parameter,
            });
          this.limitRecordSize(2 ** (8 + ext.code));
          break;
        default:
          break; // server_name (empty: the server used our SNI)
      }
    }
    if (!this.#ems && this.ctx.requireExtendedMasterSecret)
      throw new DtlsError('unsupported', 'server does not use extended_master_secret', {
        alert: AlertDescription.handshake_failure,
      });
    this.#suite = suite;
    const offered = this.#offeredSession;
    if (offered && sh.sessionId.length > 0 && equalBytes(sh.sessionId, offered.sessionId)) {
      this.#resume(offered, sh.random, message);
      return;
    }
    // Not resumed: the server may have forgotten the session, it is of no more use.
    if (offered) this.#options.session?.forget();
    this.#sessionId = sh.sessionId;
    if (suite.keyExchange === 'ecdhe_ecdsa') {
      // RFC 7250 §4.2: the server may only choose a type we offered; ours is fixed by our key.
      const ownType = ownCertificateType(this.#options.certificate!);
      const acceptable = ownType === CertificateType.raw_public_key ? ownType : CertificateType.x509;
      if (serverCertificateType !== acceptable || clientCertificateType !== acceptable)
        throw new DtlsError('unsupported', 'server chose a certificate type we did not offer', {
          alert: AlertDescription.unsupported_certificate,
        });
      this.#ecdhe = { log: new HandshakeLog(), serverCertificateType, certificateRequested: false };
      this.#expecting = 'certificate';
    } else this.#expecting = 'server_hello_done';
    this.flightAnswered();
    this.#serverRandom = sh.random;
    // The hello that got this answer (the one with the cookie) starts the transcript (RFC 6347 §4.2.1).
    this.#add(this.#helloMessage!);
    this.#add(message);
  }

  /**
   * The server resumed our session (RFC 5246 §7.3): the same suite and extended master secret as
   * before (RFC 7627 §5.3), keys from the cached master secret and the new randoms; the server's
   * CCS + Finished come next, and our own CCS + Finished end the handshake.
   */
  #resume(session: CachedSession, serverRandom: Uint8Array, serverHello: HandshakeMessage): void {
    if (this.#suite!.id !== session.cipherSuite)
      throw new DtlsError('unsupported', 'resumed session with another cipher suite', {
        alert: AlertDescription.illegal_parameter,
      });
    if (this.#ems !== session.extendedMasterSecret)
      throw new DtlsError('unsupported', 'resumed session with another extended_master_secret', {
        alert: AlertDescription.handshake_failure,
      });
    this.#resumed = true;
    this.flightAnswered();
    this.#serverRandom = serverRandom;
    this.#master = session.masterSecret;
    this.#peerIdentity = session.identity;
    this.#add(this.#helloMessage!);
    this.#add(serverHello);
    const keys = keyBlock(this.#master, this.#hello!.random, serverRandom, this.#suite!);
    this.installKeys(
      new RecordProtection(this.#suite!, keys.client),
      new RecordProtection(this.#suite!, keys.server),
    );
    this.#expecting = 'finished';
  }

  /** The server's Certificate: its key, then the verifier (possibly asynchronous). */
  #certificate(message: HandshakeMessage): void | Promise<void> {
    const ecdhe = this.#ecdhe!;
    const received = receivedCertificate(
      decodeCertificate(message.body, certificateForm(ecdhe.serverCertificateType)),
    );
    this.#add(message);
    ecdhe.serverKey = received.publicKey;
    this.#expecting = 'server_key_exchange';
    const identity = verifyPeer(this.#options.verifyPeer!, received.credential, {
      serverName: this.#options.serverName,
    });
    if (identity instanceof Promise)
      return identity.then((id) => {
        this.#peerIdentity = id;
      });
    this.#peerIdentity = identity;
  }

  /** The signed ephemeral key (RFC 8422 §5.4): the signature proves the server holds its key. */
  #serverKeyExchange(message: HandshakeMessage): void {
    const ecdhe = this.#ecdhe!;
    const ske = decodeServerKeyExchange(message.body, 'ecdhe_ecdsa');
    if (ske.keyExchange !== 'ecdhe_ecdsa') return;
    if (ske.params.namedCurve !== NamedGroup.secp256r1)
      throw new DtlsError('unsupported', `server chose curve ${ske.params.namedCurve}, not secp256r1`, {
        alert: AlertDescription.illegal_parameter,
      });
    if (ske.signed.scheme !== ECDSA_SHA256)
      throw new DtlsError(
        'unsupported',
        `ServerKeyExchange signed with 0x${ske.signed.scheme.toString(16)}`,
        {
          alert: AlertDescription.illegal_parameter,
        },
      );
    const data = serverParamsSignedData(this.#hello!.random, this.#serverRandom, ske.params);
    if (!ecdsaVerify(ecdhe.serverKey!, data, ske.signed.signature)) {
      this.fail(AlertDescription.decrypt_error, 'ServerKeyExchange signature does not verify');
      return;
    }
    ecdhe.serverParams = ske.params;
    this.#add(message);
    this.#expecting = 'server_hello_done';
  }

  #serverHelloDone(message: HandshakeMessage): void {
    decodeServerHelloDone(message.body);
    const suite = this.#suite!;
    const ecdhe = this.#ecdhe;
    if (ecdhe && !ecdhe.serverParams) {
      this.fail(AlertDescription.unexpected_message, 'ServerHelloDone before ServerKeyExchange');
      return;
    }
    this.#add(message);
    const flight: HandshakeMessage[] = [];
    let premaster: Uint8Array;
    if (ecdhe) {
      const certificate = this.#options.certificate!;
      if (ecdhe.certificateRequested) {
        const m = this.message(HandshakeType.certificate, encodeCertificate(ownCertificate(certificate)));
        this.#add(m);
        flight.push(m);
      }
      const ephemeral = ephemeralKey();
      premaster = ephemeral.sharedSecret(ecdhe.serverParams!.publicKey);
      const cke = this.message(
        HandshakeType.client_key_exchange,
        encodeClientKeyExchange({ keyExchange: 'ecdhe_ecdsa', publicKey: ephemeral.point }),
      );
      this.#add(cke);
      flight.push(cke);
    } else {
      const psk = this.#options.psk!;
      const cke = this.message(
        HandshakeType.client_key_exchange,
        encodeClientKeyExchange({ keyExchange: 'psk', identity: psk.identity }),
      );
      this.#add(cke);
      flight.push(cke);
      premaster = pskPremasterSecret(psk.key);
    }
    const clientRandom = this.#hello!.random;
    // RFC 7627 §3: the session hash ends with ClientKeyExchange (before CertificateVerify).
    this.#master = this.#ems
      ? extendedMasterSecret(premaster, this.transcript.hash())
      : masterSecret(premaster, clientRandom, this.#serverRandom);
    if (ecdhe?.certificateRequested) {
      // RFC 5246 §7.4.8: a signature over every handshake message so far.
      const signature = ecdsaSign(this.#options.certificate!.privateKey, ecdhe.log.bytes());
      const cv = this.message(
        HandshakeType.certificate_verify,
        encodeCertificateVerify({ scheme: ECDSA_SHA256, signature }),
      );
      this.#add(cv);
      flight.push(cv);
    }
    const keys = keyBlock(this.#master, clientRandom, this.#serverRandom, suite);
    this.installKeys(new RecordProtection(suite, keys.client), new RecordProtection(suite, keys.server));
    const finished = this.message(
      HandshakeType.finished,
      encodeFinished(verifyData(this.#master, 'client', this.transcript.hash())),
    );
    this.transcript.add(finished);
    this.enterWriteEpoch1();
    this.#expecting = 'finished';
    this.sendFlight(
      [...flight.map((m) => this.handshakeItem(m)), this.ccsItem(), this.handshakeItem(finished, 1)],
      true,
    );
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
    if (this.#resumed) {
      this.transcript.add(message);
      const finished = this.message(
        HandshakeType.finished,
        encodeFinished(verifyData(this.#master, 'client', this.transcript.hash())),
      );
      this.enterWriteEpoch1();
      // Our flight is the last: resent only when the server repeats its own (RFC 6347 §4.2.4).
      this.sendFlight([this.ccsItem(), this.handshakeItem(finished, 1)], false);
      this.establish({
        address: this.ctx.peer.address,
        port: this.ctx.peer.port,
        identity: this.#peerIdentity!,
      });
      return;
    }
    this.forgetFlight();
    const identity = this.#peerIdentity ?? { psk: this.#options.psk!.identityText };
    if (this.#sessionId.length > 0)
      this.#options.session?.save({
        sessionId: this.#sessionId,
        masterSecret: this.#master,
        cipherSuite: this.#suite!.id,
        extendedMasterSecret: this.#ems,
        identity,
      });
    this.establish({
      address: this.ctx.peer.address,
      port: this.ctx.peer.port,
      // ECDHE: who the server is, as our verifier says; PSK: our own identity (RFC 4279).
      identity,
    });
  }

  /** A resumption that fails leaves a session not to offer again (RFC 5246 §7.2.2). */
  override close(error: Parameters<DtlsConnection['close']>[0]): void {
    if (error && this.state === 'handshake' && this.#offeredSession) this.#options.session?.forget();
    super.close(error);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
