import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SliceOptions, SliceRegistration, SliceStatus, SliceStopped } from './fleet-slice.js';

/** Parent → worker. */
export type ToWorker =
  | { readonly type: 'start'; readonly options: SliceOptions; readonly statusEveryMs: number }
  | { readonly type: 'abort' }
  | { readonly type: 'stop'; readonly timeoutMs: number };

/** Worker → parent. */
export type FromWorker =
  | { readonly type: 'status'; readonly status: SliceStatus }
  | { readonly type: 'registration'; readonly registration: SliceRegistration }
  | { readonly type: 'stopped'; readonly stopped: SliceStopped }
  | { readonly type: 'error'; readonly message: string };

/** What the coordinator needs of a slice, in this process (FleetSlice) or another (WorkerSlice). */
export interface SliceHandle {
  readonly registration: Promise<SliceRegistration>;
  /** The latest status (a worker's: as of its last report). */
  status(): SliceStatus | undefined;
  abortRegistration(): void;
  stop(timeoutMs: number): Promise<SliceStopped>;
}

/**
 * The worker entry and the Node flags it needs: the built .js next to this module, else the .ts
 * source through tsx (tests and `npm run` from a checkout). A --max-old-space-size given to the
 * parent goes to the workers too.
 */
function workerEntry(): { path: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
  const heap = process.execArgv.filter((a) => a.startsWith('--max-old-space-size'));
  if (existsSync(js)) return { path: js, execArgv: heap };
  return { path: js.replace(/\.js$/, '.ts'), execArgv: ['--import', 'tsx', ...heap] };
}

/** A slice in a forked worker process (fleet-worker.ts), driven over IPC. */
export class WorkerSlice implements SliceHandle {
  readonly registration: Promise<SliceRegistration>;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #status: SliceStatus | undefined;
  #onStopped: ((s: SliceStopped) => void) | undefined;
  #stopping: Promise<SliceStopped> | undefined;
  #failure: string | undefined;

  constructor(options: SliceOptions, statusEveryMs: number) {
    const { path, execArgv } = workerEntry();
    this.#child = fork(path, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let resolveRegistration!: (r: SliceRegistration) => void;
    let rejectRegistration!: (e: Error) => void;
    this.registration = new Promise((resolve, reject) => {
      resolveRegistration = resolve;
      rejectRegistration = reject;
    });
    // The coordinator may never look at a failed registration (a stop came first).
    this.registration.catch(() => undefined);
    this.#child.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'status':
          this.#status = m.status;
          break;
        case 'registration':
          resolveRegistration(m.registration);
          break;
        case 'stopped':
          this.#status = m.stopped.status;
          this.#onStopped?.(m.stopped);
          break;
        case 'error':
          this.#failure = m.message;
          rejectRegistration(new Error(`fleet worker: ${m.message}`));
          break;
      }
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        rejectRegistration(
          new Error(
            `fleet worker ${this.#child.pid} exited (${signal ?? code})${this.#failure ? `: ${this.#failure}` : ''}`,
          ),
        );
        resolve();
      });
    });
    this.#send({ type: 'start', options, statusEveryMs });
  }

  status(): SliceStatus | undefined {
    return this.#status;
  }

  abortRegistration(): void {
    this.#send({ type: 'abort' });
  }

  /** Asks the worker to de-register and exit; past `timeoutMs` + 5 s the worker is killed. */
  stop(timeoutMs: number): Promise<SliceStopped> {
    this.#stopping ??= (async () => {
      const stopped = new Promise<SliceStopped>((resolve) => (this.#onStopped = resolve));
      this.#send({ type: 'stop', timeoutMs });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<undefined>(
        (resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs + 5000)),
      );
      const result = await Promise.race([stopped, this.#exited.then(() => undefined), late]);
      clearTimeout(timer);
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        if (result === undefined) this.#child.kill('SIGKILL');
        await this.#exited;
      }
      return (
        result ?? {
          result: { registered: this.#status?.registered ?? 0, deregistered: 0, elapsedMs: timeoutMs },
          status: this.#status ?? emptyStatus(),
        }
      );
    })();
    return this.#stopping;
  }

  #send(message: ToWorker): void {
    if (this.#child.connected) this.#child.send(message);
  }
}

function emptyStatus(): SliceStatus {
  const op = { ok: 0, failed: 0, latency: { count: 0, sum: 0, min: 0, max: 0, buckets: [] }, errors: [] };
  return {
    phase: 'stopped',
    total: 0,
    started: 0,
    firstRegistered: 0,
    firstFailed: 0,
    registered: 0,
    asleep: 0,
    unregistered: 0,
    stats: { register: op, update: op, wake: op, sleep: op, deregister: op, served: op },
  };
}
