// A worker process of `petrel fleet --processes N` (forked by fleet-processes.ts): runs one slice
// of the fleet and reports over IPC. Each process has its own file limit, so N processes hold
// N times the sockets one could.
import { FleetSlice } from './fleet-slice.js';
import type { FromWorker, ToWorker } from './fleet-processes.js';

const send = (m: FromWorker): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined || !process.connected) resolve();
    else process.send(m, undefined, {}, () => resolve());
  });

let slice: FleetSlice | undefined;
let reporter: ReturnType<typeof setInterval> | undefined;

async function stop(timeoutMs: number): Promise<void> {
  clearInterval(reporter);
  if (slice !== undefined) await send({ type: 'stopped', stopped: await slice.stop(timeoutMs) });
  process.exit(0);
}

process.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      if (slice !== undefined) return;
      try {
        slice = new FleetSlice(m.options);
      } catch (e) {
        void send({ type: 'error', message: e instanceof Error ? e.message : String(e) }).then(() =>
          process.exit(1),
        );
        return;
      }
      reporter = setInterval(() => void send({ type: 'status', status: slice!.status() }), m.statusEveryMs);
      slice.registration.then(
        async (registration) => {
          await send({ type: 'status', status: slice!.status() });
          await send({ type: 'registration', registration });
        },
        (e: unknown) => void send({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
      );
      break;
    case 'abort':
      slice?.abortRegistration();
      break;
    case 'stop':
      void stop(m.timeoutMs);
      break;
  }
});
// The parent went away: de-register briefly and exit.
process.on('disconnect', () => void stop(2000));
// Ctrl-C reaches the whole process group: the parent handles it and tells the workers to stop
// (so their devices de-register instead of vanishing).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
