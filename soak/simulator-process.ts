// The runner's side of one device simulator process (soak/soak-simulator.ts): forks it, asks one
// command at a time and waits for its answer (bounded), and makes sure it does not outlive the run.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimulatorCommand, SimulatorReply } from './soak-protocol.js';

export class SimulatorProcess {
  readonly #child: ChildProcess;
  #waiting: ((reply: SimulatorReply) => void) | undefined;
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (reply: SimulatorReply) => {
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.(reply);
    });
    child.once('exit', () => {
      this.#exited = true;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.({ error: 'the device simulator exited' });
    });
  }

  /** Forks a simulator and waits until it is ready for commands. */
  static async start(): Promise<SimulatorProcess> {
    const child = fork(fileURLToPath(new URL('./soak-simulator.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const sim = new SimulatorProcess(child);
    await sim.#next(30_000);
    return sim;
  }

  /** Sends a command and returns the simulator's answer (rejects after `timeoutMs`). */
  async ask(command: SimulatorCommand, timeoutMs = 30_000): Promise<SimulatorReply> {
    if (this.#exited) throw new Error('the device simulator has exited');
    const answer = this.#next(timeoutMs);
    this.#child.send(command);
    return answer;
  }

  #next(timeoutMs: number): Promise<SimulatorReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new Error(`the device simulator did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = (reply) => {
        clearTimeout(timer);
        if ('error' in reply) reject(new Error(`device simulator: ${reply.error}`));
        else resolve(reply);
      };
    });
  }

  /** Asks the simulator to close its sockets and exit; kills it if it does not within 10 s. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.send({ cmd: 'close' } satisfies SimulatorCommand);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
