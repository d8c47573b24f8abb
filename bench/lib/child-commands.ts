import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A benchmark's peers in a child process (so the code under test has a process and a core of
 * its own), driven command by command over IPC: the child sends one message when ready, then one
 * reply per command (`{ error }` for a failure), and exits on `{ cmd: 'close' }`.
 */
export class ChildCommands<C extends { readonly cmd: string }> {
  readonly #child: ChildProcess;
  readonly #name: string;
  #waiting: ((reply: unknown) => void) | undefined;

  private constructor(child: ChildProcess, name: string) {
    this.#child = child;
    this.#name = name;
    child.on('message', (reply: unknown) => {
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.(reply);
    });
  }

  /** Forks `script` under tsx (`execArgv` added, e.g. a CPU profile) and waits until it is ready. */
  static async start<C extends { readonly cmd: string }>(
    script: URL,
    name: string,
    options: { args?: string[]; execArgv?: string[] } = {},
  ): Promise<ChildCommands<C>> {
    const child = fork(fileURLToPath(script), options.args ?? [], {
      execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const commands = new ChildCommands<C>(child, name);
    await commands.#reply();
    return commands;
  }

  #reply<T>(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting = (reply) => {
        if (reply !== null && typeof reply === 'object' && 'error' in reply)
          reject(new Error(`${this.#name}: ${String(reply.error)}`));
        else resolve(reply as T);
      };
    });
  }

  command<T>(command: C): Promise<T> {
    const reply = this.#reply<T>();
    this.#child.send(command);
    return reply;
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.send({ cmd: 'close' });
    await exited;
  }
}
