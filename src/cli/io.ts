/** What a command needs from the outside world; injected so tests run commands in-process. */
export interface CliIo {
  readStdin(): Promise<Uint8Array>;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Resolves when a long-running command (`petrel server`) should stop; default SIGINT/SIGTERM. */
  shutdown?(): Promise<void>;
  /** Input lines of an interactive command (`petrel client`); default: stdin line by line. */
  readLines?(): AsyncIterable<string>;
  /**
   * A terminal to draw progress bars on (`petrel fleet`), or undefined when stderr is not a
   * terminal: then commands print a plain line now and then instead.
   */
  progressStream?(): NodeJS.WritableStream | undefined;
}

export const processIo: CliIo = {
  async readStdin() {
    if (process.stdin.isTTY) return new Uint8Array();
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return new Uint8Array(Buffer.concat(chunks));
  },
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  progressStream: () => (process.stderr.isTTY ? process.stderr : undefined),
};

/** A usage or input problem the user can fix; the CLI prints the message and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}
