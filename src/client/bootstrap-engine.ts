import { EventEmitter } from 'node:events';
import type { DownlinkAnswer } from '../binding/binding.js';
import type { Clock, TimerHandle } from '../clock.js';
import { PetrelError } from '../errors.js';
import type { LwM2mPath } from '../model/path.js';
import type {
  BootstrapPackRequest,
  BootstrapRequestRequest,
  DownlinkRequest,
  UplinkResponse,
} from '../operations/requests.js';
import type { BootstrapSession } from './bootstrap-session.js';

/** Why a client-initiated bootstrap starts (Core §6.1.4). */
export type BootstrapTrigger =
  /** No LwM2M Server account after the smartcard and factory steps. */
  | 'no-servers'
  /** Registration failed and Bootstrap on Registration Failure (/1/x/16) asks for it. */
  | 'registration-failed'
  /** A server executed /1/x/9 (Server-Initiated Bootstrap). */
  | 'server-initiated'
  /** The application asked. */
  | 'application';

export type BootstrapState = 'idle' | 'holding-off' | 'requesting' | 'in-session' | 'waiting-retry';

export type BootstrapFailureReason =
  /** No Bootstrap-Server account to bootstrap from. */
  | 'no-account'
  /** The Bootstrap-Request was answered with an error code. */
  | 'rejected'
  /** The Bootstrap-Request got no answer, or the link failed. */
  | 'unreachable'
  /** No Bootstrap-Finish within the Finish timeout. */
  | 'finish-timeout'
  /** The Finish found the configuration unusable (answered 4.06). */
  | 'inconsistent'
  | 'stopped';

/** The Bootstrap-Server account as the engine uses it (/0 instance with /0/x/1 true). */
export interface BootstrapAccountInfo {
  readonly instanceId: number;
  readonly uri: string;
  /** /0/x/11 Client Hold Off Time, s. */
  readonly holdOffTime: number;
  /** /0/x/12 Bootstrap-Server Account Timeout, s (0 = never). */
  readonly accountTimeout: number;
}

export interface BootstrapEngineOptions {
  readonly clock: Clock;
  /** `ep` (undefined: the BS takes the security identity). */
  readonly endpoint: string | undefined;
  readonly account: () => BootstrapAccountInfo | undefined;
  /** Sends Bootstrap-Request or Bootstrap-Pack-Request to the Bootstrap-Server. */
  readonly send: (request: BootstrapRequestRequest | BootstrapPackRequest) => Promise<UplinkResponse>;
  /** A session on the client's tree. */
  readonly openSession: () => BootstrapSession;
  /** A session's changes were kept (after the Finish's answer has left, or a Pack applied). */
  readonly onCommitted: (session: BootstrapSession, mode: 'request' | 'pack') => Promise<void>;
  /** Try Bootstrap-Pack-Request first (1.2), falling back to Bootstrap-Request on any error. */
  readonly packFirst?: boolean;
  /** Accept of the Pack (default SenML CBOR 112). */
  readonly packFormat?: number;
  /** `pct` of Bootstrap-Request. */
  readonly preferredFormat?: number;
  /** `acc` of the Pack-Request (1.2.1): the BS account instances, e.g. `</0/0>`. */
  readonly packAccounts?: () => readonly LwM2mPath[] | undefined;
  /** ms without a request from the Bootstrap-Server before the session fails (EXCHANGE_LIFETIME). */
  readonly finishTimeout?: number;
  /** Back-off after a failed bootstrap while the client has no usable server: first and last delay, ms. */
  readonly retry?: { readonly initial?: number; readonly max?: number };
}

export interface BootstrapEngineEvents {
  state: [change: { from: BootstrapState; to: BootstrapState }];
  started: [info: { trigger: BootstrapTrigger; mode: 'request' | 'pack' }];
  /** A Pack failed and the engine falls back to Bootstrap-Request. */
  'pack-fallback': [info: { code: string | undefined; reason: string }];
  succeeded: [info: { trigger: BootstrapTrigger; mode: 'request' | 'pack' }];
  failed: [
    info: { trigger: BootstrapTrigger; reason: BootstrapFailureReason; code?: string; message: string },
  ];
  error: [error: unknown];
}

export class BootstrapEngineError extends PetrelError {
  readonly reason: BootstrapFailureReason;
  constructor(reason: BootstrapFailureReason, message: string, options?: { cause?: unknown }) {
    super(`PETREL_ERR_BOOTSTRAP_${reason.toUpperCase().replaceAll('-', '_')}`, message, options);
    this.reason = reason;
  }
}

/** EXCHANGE_LIFETIME with the default CoAP parameters (RFC 7252 §4.8.2), ms. */
export const DEFAULT_FINISH_TIMEOUT = 247_000;
const DEFAULT_RETRY = { initial: 30_000, max: 3_600_000 };

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The client's Client-Initiated Bootstrap (Core §6.1.4-6.1.7): waits the Client Hold Off Time,
 * tries Bootstrap-Pack-Request when configured and falls back to Bootstrap-Request, opens a
 * BootstrapSession for the Bootstrap-Server's operations, answers the Finish after its checks,
 * and keeps or rolls back the session's changes. A failure leaves the old configuration in place;
 * while the client has no usable server it tries again with a doubling back-off.
 */
export class BootstrapEngine extends EventEmitter<BootstrapEngineEvents> {
  readonly #o: BootstrapEngineOptions;
  #state: BootstrapState = 'idle';
  #trigger: BootstrapTrigger = 'application';
  #timer: TimerHandle | undefined;
  #finishTimer: TimerHandle | undefined;
  #session: BootstrapSession | undefined;
  /** Rises with every attempt; answers and timers of an older attempt are ignored. */
  #attempt = 0;
  #retryDelay: number;
  #stopped = false;
  /** Resolves when the current run ends (succeeded or failed). */
  #waiters: ((ok: boolean) => void)[] = [];

  constructor(options: BootstrapEngineOptions) {
    super();
    this.#o = options;
    this.#retryDelay = options.retry?.initial ?? DEFAULT_RETRY.initial;
  }

  get state(): BootstrapState {
    return this.#state;
  }

  /** True while a Bootstrap-Server's session is open (its operations are accepted). */
  get inSession(): boolean {
    return this.#session !== undefined;
  }

  /**
   * Starts a client-initiated bootstrap unless one is running (then it joins it). Resolves true
   * when this run succeeds, false when it fails (the reason goes out as a `failed` event).
   */
  request(trigger: BootstrapTrigger): Promise<boolean> {
    this.#stopped = false;
    const done = new Promise<boolean>((resolve) => this.#waiters.push(resolve));
    if (this.#state === 'idle' || this.#state === 'waiting-retry') {
      this.#cancelTimer();
      this.#trigger = trigger;
      const account = this.#o.account();
      if (!account) {
        this.#fail('no-account', 'the client has no Bootstrap-Server account (/0 instance with /0/x/1 true)');
        return done;
      }
      const holdOff = Math.max(0, account.holdOffTime) * 1000;
      this.#setState('holding-off');
      const attempt = ++this.#attempt;
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = undefined;
        if (attempt === this.#attempt) void this.#run(attempt);
      }, holdOff);
    }
    return done;
  }

  /** Cancels timers and rolls back an open session. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer();
    if (this.#state !== 'idle') this.#fail('stopped', 'the client stopped');
  }

  /**
   * An operation from the Bootstrap-Server. Outside a session it is refused (4.01: Core §6.1
   * allows Bootstrap operations only after the client asked); Finish runs the checks, answers,
   * and then commits, or rolls back on 4.06.
   */
  handle(request: DownlinkRequest): DownlinkAnswer {
    const session = this.#session;
    if (!session)
      return {
        response: { code: '4.01', diagnostic: 'no bootstrap session: send a Bootstrap-Request first' },
      };
    this.#armFinishTimer();
    if (request.kind !== 'bootstrap-finish') return session.handle(request);
    const attempt = this.#attempt;
    const check = session.check();
    if (!check.ok) {
      session.rollback();
      this.#session = undefined;
      this.#fail('inconsistent', `Bootstrap-Finish: ${check.message}`, '4.06');
      return { response: { code: '4.06', diagnostic: check.message } };
    }
    this.#session = undefined;
    this.#clearFinishTimer();
    session.commit();
    // The Finish's 2.04 leaves first (the binding sends it before the next macrotask); then the
    // client acts on its new configuration.
    setImmediate(() => void this.#committed(session, 'request', attempt));
    return { response: { code: '2.04' } };
  }

  // ---- the run ----

  async #run(attempt: number): Promise<void> {
    if (this.#o.packFirst) {
      this.#setState('requesting');
      this.emit('started', { trigger: this.#trigger, mode: 'pack' });
      const outcome = await this.#pack(attempt);
      if (attempt !== this.#attempt) return;
      if (outcome === 'done') return;
      this.emit('pack-fallback', outcome);
    }
    await this.#bootstrapRequest(attempt);
  }

  /** Bootstrap-Pack-Request: 'done', or why the engine falls back (Core §6.1.7.7). */
  async #pack(attempt: number): Promise<'done' | { code: string | undefined; reason: string }> {
    let response: UplinkResponse;
    try {
      const accounts = this.#o.packAccounts?.();
      response = await this.#o.send({
        kind: 'bootstrap-pack-request',
        endpoint: this.#o.endpoint,
        accept: this.#o.packFormat ?? 112,
        accounts: accounts && accounts.length > 0 ? accounts : undefined,
      });
    } catch (e) {
      return { code: undefined, reason: errorText(e) };
    }
    if (attempt !== this.#attempt) return 'done';
    if (response.code !== '2.05' || !response.records)
      return { code: response.code, reason: response.diagnostic ?? `the Pack-Request got ${response.code}` };
    const session = this.#o.openSession();
    const applied = session.applyPack(response.records);
    const check = applied.ok ? session.check() : applied;
    if (!check.ok) {
      session.rollback();
      return { code: check.code, reason: `the Pack cannot be used: ${check.message}` };
    }
    session.commit();
    await this.#committed(session, 'pack', attempt);
    return 'done';
  }

  async #bootstrapRequest(attempt: number): Promise<void> {
    this.#setState('requesting');
    this.emit('started', { trigger: this.#trigger, mode: 'request' });
    // The Bootstrap-Server may start writing before its 2.04 reaches us: the session opens now.
    this.#session = this.#o.openSession();
    this.#armFinishTimer();
    let response: UplinkResponse;
    try {
      response = await this.#o.send({
        kind: 'bootstrap-request',
        endpoint: this.#o.endpoint,
        preferredFormat: this.#o.preferredFormat,
      });
    } catch (e) {
      // A Finish may have committed while the request's answer was lost: that run succeeded.
      if (attempt !== this.#attempt || !this.#session) return;
      this.#abandonSession();
      this.#fail('unreachable', `Bootstrap-Request: ${errorText(e)}`);
      return;
    }
    if (attempt !== this.#attempt || !this.#session) return;
    if (response.code !== '2.04') {
      this.#abandonSession();
      this.#fail(
        'rejected',
        `Bootstrap-Request answered ${response.code}${response.diagnostic ? `: ${response.diagnostic}` : ''}`,
        response.code,
      );
      return;
    }
    if (this.#session) this.#setState('in-session');
  }

  async #committed(session: BootstrapSession, mode: 'request' | 'pack', attempt: number): Promise<void> {
    try {
      await this.#o.onCommitted(session, mode);
    } catch (e) {
      this.emit('error', e);
    }
    if (attempt !== this.#attempt) return;
    this.#retryDelay = this.#o.retry?.initial ?? DEFAULT_RETRY.initial;
    // Waiters and state first: a listener that asks for another bootstrap starts a new run.
    this.#setState('idle');
    this.#settle(true);
    this.emit('succeeded', { trigger: this.#trigger, mode });
  }

  // ---- failure, retry, timers ----

  #abandonSession(): void {
    this.#clearFinishTimer();
    this.#session?.rollback();
    this.#session = undefined;
  }

  #fail(reason: BootstrapFailureReason, message: string, code?: string): void {
    this.#abandonSession();
    this.#cancelTimer();
    this.#attempt++;
    const trigger = this.#trigger;
    // Server-initiated: the old configuration still works. Otherwise keep trying, more slowly.
    const retry = !this.#stopped && reason !== 'no-account' && trigger !== 'server-initiated';
    // Waiters and state first: a listener that asks for another bootstrap starts a new run.
    this.#settle(false);
    if (retry) {
      const delay = this.#retryDelay;
      this.#retryDelay = Math.min(delay * 2, this.#o.retry?.max ?? DEFAULT_RETRY.max);
      this.#setState('waiting-retry');
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = undefined;
        if (this.#state === 'waiting-retry') void this.request(trigger);
      }, delay);
    } else this.#setState('idle');
    this.emit('failed', { trigger, reason, message, ...(code === undefined ? {} : { code }) });
  }

  #armFinishTimer(): void {
    this.#clearFinishTimer();
    const attempt = this.#attempt;
    this.#finishTimer = this.#o.clock.setTimeout(() => {
      this.#finishTimer = undefined;
      if (attempt === this.#attempt && this.#session)
        this.#fail('finish-timeout', 'no Bootstrap-Finish from the Bootstrap-Server in time');
    }, this.#o.finishTimeout ?? DEFAULT_FINISH_TIMEOUT);
  }

  #clearFinishTimer(): void {
    if (this.#finishTimer !== undefined) this.#o.clock.clearTimeout(this.#finishTimer);
    this.#finishTimer = undefined;
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #settle(ok: boolean): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(ok);
  }

  #setState(to: BootstrapState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.emit('state', { from, to });
  }
}
