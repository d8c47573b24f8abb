import type { Clock } from '../clock.js';
import type { RegistrationPayload } from '../model/registration-payload.js';
import type { UplinkContext } from '../binding/binding.js';
import type { DeregisterRequest, RegisterRequest, UpdateRequest } from '../operations/requests.js';
import { OperationError } from '../operations/result-code.js';
import type { RandomSource } from '../random.js';
import type { RegistrationStore, RegistrationSummary } from '../store/registration-store.js';
import { TimerQueue } from '../timer-queue.js';
import type { TimerTask } from '../timer-queue.js';
import { peerKey } from '../transport/channel.js';
import type { Peer, PeerIdentity } from '../transport/channel.js';
import type { EndpointSecurityCheck } from './endpoint-security.js';
import type { ProfileRegistry } from './profile-registry.js';
import { sameIdentity } from './registration.js';
import type { Registration } from './registration.js';
import { registeredObjectLinks } from '../model/registration-payload-cache.js';

export interface RegistrationServiceOptions {
  readonly store: RegistrationStore;
  readonly profiles: ProfileRegistry;
  readonly clock: Clock;
  /** Wall-clock ms for the registration's timestamps. */
  readonly now: () => number;
  readonly random: RandomSource;
  /** Enabler versions served; others get 4.12. */
  readonly versions: readonly string[];
  /** Extra ms a registration lives past its lifetime, for an Update delayed in the network. */
  readonly lifetimeGrace: number;
  /** Application check on a Register: return a code to refuse it (e.g. '4.03' for an unknown ep). */
  readonly authorize?: (
    request: RegisterRequest,
    context: UplinkContext,
  ) => '4.00' | '4.01' | '4.03' | undefined;
  /** Endpoint binding against the peer's security (endpoint-security.ts); throws to refuse. */
  readonly security?: EndpointSecurityCheck;
  readonly onExpired: (registration: Registration) => void;
  /** Failures no caller can receive (a store that fails while a registration expires). */
  readonly onError?: (error: unknown) => void;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function identityName(identity: PeerIdentity | undefined): string | undefined {
  if (identity === undefined) return undefined;
  if ('psk' in identity) return identity.psk;
  if ('x509' in identity) return /(?:^|,)\s*CN=([^,]+)/.exec(identity.x509.subject)?.[1]?.trim();
  return undefined;
}

/** Registrations restored between two turns of the event loop. */
const RESTORE_SLICE = 2000;

// Shared by every registration that has none (most of a fleet): one object, not a million.
const NO_PROFILE_IDS: readonly string[] = Object.freeze([]);
const NO_EXTRA_PARAMETERS: Readonly<Record<string, string | true>> = Object.freeze({});

/**
 * The Client Registration interface, server side (Core §6.2): Register, Update, De-register, and
 * lifetime expiry. Keeps the store, an index of registrations by peer (for Send and queue mode),
 * and one expiry timer per registration on a shared timer queue.
 */
export class RegistrationService {
  readonly #o: RegistrationServiceOptions;
  readonly #timers: TimerQueue;
  readonly #expiry = new Map<string, ExpiryTask>();
  readonly #byPeer = new Map<string, string>();
  /** The live registration id of each endpoint, known synchronously. */
  readonly #current = new Map<string, string>();
  /** Per endpoint, the tail of its chain of Register/Update/De-register/expiry steps. */
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(options: RegistrationServiceOptions) {
    this.#o = options;
    this.#timers = new TimerQueue(options.clock);
  }

  /** Endpoints with a live registration (known synchronously, whatever the store). */
  get count(): number {
    return this.#current.size;
  }

  /** Whether the endpoint has a live registration. */
  has(endpoint: string): boolean {
    return this.#current.has(endpoint);
  }

  /** The endpoint registered from that peer (its last Register/Update came from there). */
  endpointAt(peer: Peer): string | undefined {
    return this.#byPeer.get(peerKey(peer));
  }

  async register(
    request: RegisterRequest,
    context: UplinkContext,
  ): Promise<{ registration: Registration; previous: Registration | undefined }> {
    const endpoint = request.endpoint ?? identityName(context.peer.identity);
    if (endpoint === undefined || endpoint === '')
      throw new OperationError(
        'missing-parameter',
        '4.00',
        'Register without "ep" from a peer with no security identity',
      );
    if (!this.#o.versions.includes(request.lwm2mVersion))
      throw new OperationError(
        'unsupported-version',
        '4.12',
        `LwM2M ${request.lwm2mVersion} is not served here (served: ${this.#o.versions.join(', ')})`,
      );
    const identity = context.peer.identity;
    if (identity && 'x509' in identity) {
      const cn = identityName(identity);
      if (cn !== undefined && cn !== endpoint)
        throw new OperationError(
          'not-allowed',
          '4.00',
          `ep "${endpoint}" differs from the certificate's CN "${cn}"`,
        );
    }
    await this.#o.security?.(endpoint, context);
    const refused = this.#o.authorize?.(request, context);
    if (refused !== undefined)
      throw new OperationError('not-allowed', refused, `Register of "${endpoint}" refused`);
    const payload = this.#o.profiles.resolve(request.profileIds, request.objects);
    return this.#serial(endpoint, async () => {
      const now = this.#o.now();
      const registration: Registration = {
        id: await this.#newId(),
        endpoint,
        lwm2mVersion: request.lwm2mVersion,
        binding: request.binding,
        queueMode: request.queueMode,
        lifetime: request.lifetime,
        sms: request.sms,
        profileIds: request.profileIds.length === 0 ? NO_PROFILE_IDS : request.profileIds,
        objectLinks: registeredObjectLinks(payload),
        objects: payload?.objects ?? [],
        alternatePath: payload?.alternatePath,
        contentFormats: payload?.contentFormats,
        peer: context.peer,
        transport: context.transport,
        registeredAt: now,
        lastUpdateAt: now,
        expiresAt: request.lifetime === 0 ? Infinity : now + request.lifetime * 1000,
        extraParameters:
          request.extraParameters.size === 0
            ? NO_EXTRA_PARAMETERS
            : Object.fromEntries(request.extraParameters),
      };
      const { previous } = await this.#o.store.put(registration);
      this.#touch(registration.endpoint);
      if (previous) this.#forget(previous);
      this.#track(registration);
      return { registration, previous };
    });
  }

  async update(
    request: UpdateRequest,
    context: UplinkContext,
  ): Promise<{ registration: Registration; previous: Registration }> {
    const found = await this.#owned(request.registrationId, context);
    return this.#serial(found.endpoint, async () => {
      // Read again inside the endpoint's chain: a Register or De-register may have come first.
      const previous = await this.#owned(request.registrationId, context);
      let payload: RegistrationPayload | undefined;
      if (request.objects !== undefined || request.profileIds !== undefined)
        payload = this.#o.profiles.resolve(request.profileIds ?? [], request.objects);
      const now = this.#o.now();
      const lifetime = request.lifetime ?? previous.lifetime;
      const registration: Registration = {
        ...previous,
        lifetime,
        binding: request.binding ?? previous.binding,
        // LwM2M 1.0 carries queue mode in `b` (UQ): a `b` without Q there turns it off.
        queueMode:
          request.queueMode ??
          (request.binding !== undefined && previous.lwm2mVersion === '1.0' ? false : previous.queueMode),
        sms: request.sms ?? previous.sms,
        profileIds: request.profileIds ?? previous.profileIds,
        ...(payload === undefined
          ? {}
          : {
              objectLinks: registeredObjectLinks(payload),
              objects: payload.objects,
              alternatePath: payload.alternatePath,
              contentFormats: payload.contentFormats ?? previous.contentFormats,
            }),
        peer: context.peer,
        transport: context.transport,
        lastUpdateAt: now,
        expiresAt: lifetime === 0 ? Infinity : now + lifetime * 1000,
      };
      await this.#o.store.put(registration);
      this.#touch(registration.endpoint);
      this.#forget(previous);
      this.#track(registration);
      return { registration, previous };
    });
  }

  async deregister(request: DeregisterRequest, context: UplinkContext): Promise<Registration> {
    const found = await this.#owned(request.registrationId, context);
    return this.#serial(found.endpoint, async () => {
      const reg = await this.#owned(request.registrationId, context);
      this.#touch(reg.endpoint);
      await this.#o.store.remove(reg.endpoint, reg.id);
      this.#forget(reg);
      return reg;
    });
  }

  /** Removes a registration on the server's own initiative (e.g. the application evicts a client). */
  remove(endpoint: string): Promise<Registration | undefined> {
    return this.#serial(endpoint, async () => {
      this.#touch(endpoint);
      const reg = await this.#o.store.remove(endpoint);
      if (reg) this.#forget(reg);
      return reg;
    });
  }

  /**
   * Re-arms expiry for registrations already in a store (a server restarted on a persistent
   * store). It may run while the server serves: an endpoint that registered, updated or
   * de-registered since the restore began is skipped (what it did is newer than the store's
   * summary), and the loop lets the event loop turn every RESTORE_SLICE entries.
   */
  async restore(): Promise<number> {
    let n = 0;
    const store = this.#o.store;
    const touched = new Set<string>();
    this.#touched = touched;
    try {
      for await (const reg of store.summaries ? store.summaries() : store.all()) {
        if (!touched.has(reg.endpoint)) this.#track(reg);
        if (++n % RESTORE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#touched = undefined;
    }
    return n;
  }

  /** Endpoints whose registration changed while restore() runs (undefined when it does not). */
  #touched: Set<string> | undefined;

  stop(): void {
    this.#timers.clear();
    this.#expiry.clear();
    this.#byPeer.clear();
    this.#current.clear();
  }

  /** The registration an Update/De-register names, if the sender may act on it (else 4.04). */
  async #owned(id: string, context: UplinkContext): Promise<Registration> {
    const reg = await this.#o.store.getById(id);
    // A registration made over a secure channel answers only to the same identity; an unknown id
    // and a foreign one look alike, so nothing leaks about other clients.
    if (!reg || !sameIdentity(reg.peer.identity, context.peer.identity))
      throw new OperationError('not-registered', '4.04', `no registration /rd/${id}: Register again`);
    return reg;
  }

  /**
   * Whether `reg` is still the endpoint's registration (not replaced, de-registered or expired):
   * follow-ups that run after an answer has left (queue mode, events) check it synchronously.
   */
  isCurrent(reg: Registration): boolean {
    return this.#current.get(reg.endpoint) === reg.id;
  }

  #touch(endpoint: string): void {
    this.#touched?.add(endpoint);
  }

  #track(reg: RegistrationSummary): void {
    this.#current.set(reg.endpoint, reg.id);
    this.#byPeer.set(peerKey(reg.peer), reg.endpoint);
    if (reg.expiresAt === Infinity) return;
    const delay = Math.max(0, reg.expiresAt - this.#o.now()) + this.#o.lifetimeGrace;
    const task = new ExpiryTask(reg.endpoint, reg.id, this.#onExpiryDue);
    this.#timers.scheduleTask(task, delay);
    this.#expiry.set(reg.id, task);
  }

  readonly #onExpiryDue = (endpoint: string, id: string): void => {
    this.#serial(endpoint, () => this.#expire(endpoint, id)).catch((e: unknown) => this.#o.onError?.(e));
  };

  #forget(reg: Registration): void {
    if (this.#current.get(reg.endpoint) === reg.id) this.#current.delete(reg.endpoint);
    this.#timers.cancel(this.#expiry.get(reg.id));
    this.#expiry.delete(reg.id);
    const key = peerKey(reg.peer);
    if (this.#byPeer.get(key) === reg.endpoint) this.#byPeer.delete(key);
  }

  async #expire(endpoint: string, id: string): Promise<void> {
    this.#expiry.delete(id);
    this.#touch(endpoint);
    const removed = await this.#o.store.remove(endpoint, id);
    if (!removed) return;
    this.#forget(removed);
    this.#o.onExpired(removed);
  }

  /**
   * Runs the steps of one endpoint one after another: a Register, an Update, a De-register and an
   * expiry of the same endpoint never interleave across the store's awaits (an Update must not
   * write back a registration a newer Register replaced).
   */
  #serial<T>(endpoint: string, step: () => Promise<T>): Promise<T> {
    const tail = this.#chains.get(endpoint) ?? Promise.resolve();
    const run = tail.then(step, step);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(endpoint, settled);
    void settled.then(() => {
      if (this.#chains.get(endpoint) === settled) this.#chains.delete(endpoint);
    });
    return run;
  }

  /** 10 characters of base32 (50 random bits, short for a constrained device), never one in use. */
  async #newId(): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (attempt === 100) throw new Error('the random source keeps repeating registration ids');
      const bytes = this.#o.random.bytes(10);
      let id = '';
      for (const b of bytes) id += ID_ALPHABET[b & 31];
      if (!(await this.#o.store.getById(id))) return id;
    }
  }
}

/**
 * The expiry timer of one registration, queued as itself (no closure and context per
 * registration: a server holding a million of them counts every object). It names the
 * registration instead of holding it, so a server on a persistent store keeps no copy of it.
 */
class ExpiryTask implements TimerTask {
  due = 0;
  seq = 0;
  heapIndex = -1;
  cancelled = true;

  constructor(
    readonly endpoint: string,
    readonly id: string,
    readonly onDue: (endpoint: string, id: string) => void,
  ) {}

  run(): void {
    this.onDue(this.endpoint, this.id);
  }
}
