/**
 * Resolves on the first SIGINT/SIGTERM; a second one exits at once (a stop that hangs). The
 * listeners stay installed: removing them would let a loader's own handler (tsx re-raises a
 * signal nobody else listens to) kill the process in the middle of the graceful stop. Call it
 * before announcing that a long-running command is up, so a supervisor reacting to that line
 * cannot kill the process before the handler exists.
 */
export function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
      stopping = true;
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
