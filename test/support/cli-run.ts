// Running `petrel …` in-process for the CLI tests, and waiting on what it prints.
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';

/** Polls `check` until it holds; fails naming `what` after `ms`. */
export async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An in-process CliIo that collects stdout and stderr; `stop` is the shutdown signal (SIGINT/SIGTERM). */
export function cliIo(): { io: CliIo; out: () => string; err: () => string; stop: () => void } {
  let out = '';
  let err = '';
  let stop!: () => void;
  const shutdown = new Promise<void>((resolve) => (stop = resolve));
  return {
    io: {
      readStdin: () => Promise.resolve(new Uint8Array()),
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      shutdown: () => shutdown,
    },
    out: () => out,
    err: () => err,
    stop: () => stop(),
  };
}

/** Runs `petrel <args>` in-process; resolves `exit` with its exit code. */
export function startCli(args: string[]) {
  const c = cliIo();
  const exit = runCli(args, c.io);
  return { exit, out: c.out, err: c.err, stop: c.stop };
}

export type Cli = ReturnType<typeof startCli>;
