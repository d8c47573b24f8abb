// A Clock (src/clock.ts) that counts the timers it holds. The server's timers are unref'd (they
// never keep the process alive), and Node's process.getActiveResourcesInfo() lists only ref'd
// ones, so the soak run gives the server this clock to see its timers among the handles.
import { systemClock, type Clock, type TimerHandle } from '../src/clock.js';

export class CountingClock implements Clock {
  /** Live timers and the delay each was set with (tells a stray one's purpose in a report). */
  readonly #live = new Map<TimerHandle, number>();

  /** Timers set and neither fired nor cleared yet. */
  get liveTimers(): number {
    return this.#live.size;
  }

  /** Live timers by the delay they were set with, ms (rounded). */
  liveDelays(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const ms of this.#live.values()) {
      const key = String(Math.round(ms));
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  now(): number {
    return systemClock.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = systemClock.setTimeout(() => {
      this.#live.delete(handle);
      fn();
    }, ms);
    this.#live.set(handle, ms);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle);
    systemClock.clearTimeout(handle);
  }
}
