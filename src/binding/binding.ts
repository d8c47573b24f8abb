import { PetrelError } from '../errors.js';
import type { LwM2mRecord } from '../model/records.js';
import type { Peer } from '../transport/channel.js';
import type {
  DownlinkRequest,
  DownlinkResponse,
  Notification,
  ObserveCompositeRequest,
  ObserveRequest,
  UplinkRequest,
  UplinkResponse,
} from '../operations/requests.js';
import type { ResultCode, UplinkOperationName } from '../operations/result-code.js';

/**
 * The seam between a role and a binding (DESIGN.md "binding/"): the role hands typed operations
 * to the binding and receives typed uplinks from it. CoAP (UDP, DTLS, TCP, TLS), MQTT and HTTP
 * each implement it, so the server's logic never sees a CoAP message.
 */

/** What a binding needs to know about the client a downlink goes to. */
export interface DownlinkTarget {
  readonly peer: Peer;
  readonly lwm2mVersion: string;
  /** Formats announced in the Register's root link (`ct=`); undefined when none were. */
  readonly contentFormats: readonly number[] | undefined;
  /** The registration's alternate path (`/lwm2m`); undefined for `/`. */
  readonly alternatePath: string | undefined;
  /** Object versions from `ver=`. */
  readonly objectVersions: ReadonlyMap<number, string>;
}

/** The wire identity of a command once sent (Msg-Iden-001: ties a command to its messages). */
export interface WireIdentity {
  /** Hex of the CoAP token (or the MQTT correlation data). */
  readonly token: string;
  /** CoAP message id of the first transmission, when the transport has one. */
  readonly messageId?: number;
}

export interface DownlinkOptions {
  /** Overall deadline in ms. */
  readonly timeout?: number;
  /** Called when the request leaves (after any queueing in the binding). */
  readonly onSent?: (identity: WireIdentity) => void;
}

export interface NotificationHandlers {
  onNotification(notification: Notification, identity: WireIdentity): void;
  /** The observation ended on the binding side (final response, reset by the peer, binding closed). */
  onEnd?(reason: 'final-response' | 'closed' | 'cancelled'): void;
}

/** An observation the binding holds open. */
export interface BindingObservation {
  /** The first response: the current value (and whether the client accepted the observation). */
  readonly response: DownlinkResponse;
  /** False when the client answered without registering the observation. */
  readonly established: boolean;
  readonly identity: WireIdentity;
  /** Proactive cancel (CoAP: GET/FETCH with Observe=1); resolves with the client's answer. */
  cancel(options?: DownlinkOptions): Promise<DownlinkResponse>;
  /** Reactive cancel: forget it, so the next notification is refused (CoAP: RST). */
  forget(): void;
}

/** Where an uplink came from, as the binding authenticated it. */
export interface UplinkContext {
  readonly peer: Peer;
  /** The binding's transport kind, for the registration's record ('udp', 'dtls', ...). */
  readonly transport: string;
  /** The wire identity of the uplink, for traces. */
  readonly identity: WireIdentity;
}

/** An uplink the binding answered with an error itself, before any handler saw it (a bad Register). */
export interface UplinkRefusal {
  readonly context: UplinkContext;
  /** The operation the message was meant as, when its method and path say so. */
  readonly operation: UplinkOperationName | undefined;
  readonly code: ResultCode;
  readonly diagnostic: string;
}

export type UplinkHandler = (request: UplinkRequest, context: UplinkContext) => Promise<UplinkResponse>;

export interface ServerBinding {
  /** Sets the handler for Register, Update, De-register, Send (and bootstrap uplinks). */
  onUplink(handler: UplinkHandler): void;
  /** Called for each uplink the binding refused on its own (undecodable, bad parameters). */
  onRefused(listener: (refusal: UplinkRefusal) => void): void;
  /** Called for every message from a peer, before any handling: queue mode's "the client is awake". */
  onActivity(listener: (peer: Peer) => void): void;
  /**
   * Called when a peer can no longer be reached without it coming back first: its connection
   * (TCP, TLS) closed. Queue mode's "the client is asleep"; datagram bindings never call it.
   */
  onUnreachable?(listener: (peer: Peer) => void): void;
  send(
    target: DownlinkTarget,
    request: DownlinkRequest,
    options?: DownlinkOptions,
  ): Promise<DownlinkResponse>;
  observe(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    handlers: NotificationHandlers,
    options?: DownlinkOptions,
  ): Promise<BindingObservation>;
  /**
   * Takes back an observation established before a restart (persisted by the server): the
   * binding accepts its notifications again without sending anything. Bindings that cannot
   * (no stable correlation) leave it out, and the server drops such observations on restart.
   */
  restoreObservation?(
    target: DownlinkTarget,
    request: ObserveRequest | ObserveCompositeRequest,
    identity: WireIdentity,
    handlers: NotificationHandlers,
  ): RestoredObservation;
  close(): Promise<void>;
}

/** An observation taken back after a restart: its first response belongs to the previous process. */
export type RestoredObservation = Pick<BindingObservation, 'identity' | 'cancel' | 'forget'>;

export type BindingErrorReason = 'timeout' | 'rejected' | 'closed' | 'decode' | 'too-large';

/** A downlink that failed on the wire: the binding's own errors, named the same for every binding. */
export class BindingError extends PetrelError {
  readonly reason: BindingErrorReason;
  constructor(reason: BindingErrorReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_BINDING_${reason.toUpperCase().replace('-', '_')}`, message, options);
    this.reason = reason;
  }
}

// ---- the client side ----

/** A server the client sends uplinks to. */
export interface UplinkTarget {
  readonly peer: Peer;
  /** The enabler version in use with that server (decides the Register parameters' forms). */
  readonly lwm2mVersion: string;
}

/** Where a downlink came from. */
export interface DownlinkSource {
  readonly peer: Peer;
  readonly transport: string;
  readonly identity: WireIdentity;
}

/** Why the server side of an observation ended. */
export type ObservationEndReason = 'cancelled' | 'reset' | 'timeout' | 'replaced' | 'closed' | 'ended';

/** The client's handle on an observation it accepted: it pushes notifications through it. */
export interface NotificationSink {
  readonly active: boolean;
  notify(
    notification: { readonly records: readonly LwM2mRecord[]; readonly format?: number },
    confirmable: boolean,
  ): void;
  /** Ends the observation from the client's side. */
  end(): void;
  onEnd(listener: (reason: ObservationEndReason) => void): void;
}

/** A client's answer to a downlink; `observe` accepts an Observe request (2.05 only). */
export interface DownlinkAnswer {
  readonly response: DownlinkResponse;
  readonly observe?: (sink: NotificationSink) => void;
}

export type DownlinkHandler = (request: DownlinkRequest, source: DownlinkSource) => Promise<DownlinkAnswer>;

export interface ClientBinding {
  sendUplink(
    target: UplinkTarget,
    request: UplinkRequest,
    options?: DownlinkOptions,
  ): Promise<UplinkResponse>;
  onDownlink(handler: DownlinkHandler): void;
  close(): Promise<void>;
}
