import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** A peer program run for an interop test, its stdin open and its stdout+stderr collected. */
export interface PeerProcess {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  /** Resolves once `pattern` appears in the output; fails the test after `ms`. */
  waitFor: (pattern: RegExp, ms?: number) => Promise<void>;
  /** Resolves once the program has exited (at the latest when its time limit kills it). */
  exited: () => Promise<void>;
  /** SIGTERM, then SIGKILL after 2 s; resolves when it has exited. */
  stop: () => Promise<void>;
}

/** Starts a peer program that is killed after `limitMs` at the latest, whatever the test does. */
export function spawnPeer(program: string, args: string[], limitMs = 20_000): PeerProcess {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.on('error', () => {});
  child.on('error', (e) => (out += `\n[spawn error: ${e.message}]`));
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<void>((resolve) =>
    child.once('close', () => {
      clearTimeout(limit);
      resolve();
    }),
  );
  return {
    child,
    output: () => out,
    waitFor: (pattern, ms = 10_000) =>
      waitUntil(
        () => pattern.test(out),
        ms,
        () => `${pattern} in:\n${out}`,
      ),
    exited: () => done,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      }
      return done;
    },
  };
}

/** Polls `test` every 20 ms; fails with `what()` after `ms`. */
export async function waitUntil(test: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
