// `petrel firmware campaign watch <id>`: a campaign's progress in the terminal until it ends. On a
// terminal, two progress bars (devices finished, bytes delivered) with the counts per phase; else
// a line each time the totals change. The report is read from the REST API every interval.
import { MultiBar, Presets } from 'cli-progress';
import type { SingleBar } from 'cli-progress';
import type { CliIo } from './io.js';

export interface WatchedCampaign {
  readonly id: string;
  readonly status: string;
  readonly finishedAt?: number;
  readonly image: { readonly size: number };
  readonly totals: {
    readonly devices: number;
    readonly finished: number;
    readonly bytes: number;
    readonly phases: Readonly<Record<string, number>>;
  };
}

/** Phases with devices in them, in the engine's order, e.g. `succeeded 3, downloading 2`. */
export function phaseSummary(phases: Readonly<Record<string, number>>): string {
  const parts = Object.entries(phases)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${p} ${n}`);
  return parts.length === 0 ? 'no devices' : parts.join(', ');
}

/** The plain line for one state of the campaign. */
export function watchLine(c: WatchedCampaign): string {
  const t = c.totals;
  const expected = t.devices * c.image.size;
  const pct = expected === 0 ? 100 : Math.floor((t.bytes / expected) * 100);
  return `${c.id} ${c.status}: ${t.finished}/${t.devices} finished (${phaseSummary(t.phases)}); ${t.bytes} bytes (${pct}%)\n`;
}

/** Whether the campaign is over: every device in a final phase. */
export const campaignEnded = (c: WatchedCampaign): boolean => c.finishedAt !== undefined;

/** Failed devices, the watch's exit status: 0 when none failed. */
export const failedDevices = (c: WatchedCampaign): number => c.totals.phases.failed ?? 0;

export interface WatchView {
  show(c: WatchedCampaign): void;
  stop(): void;
}

export function watchView(io: CliIo, json: boolean): WatchView {
  const stream = json ? undefined : io.progressStream?.();
  if (stream) return barView(stream);
  let last = '';
  return {
    show(c) {
      const line = json ? `${JSON.stringify({ ...c, devices: undefined })}\n` : watchLine(c);
      if (line !== last) io.stdout(line);
      last = line;
    },
    stop: () => undefined,
  };
}

function barView(stream: NodeJS.WritableStream): WatchView {
  const multi = new MultiBar({ stream, hideCursor: true, format: '{bar}' }, Presets.shades_classic);
  let devices: SingleBar | undefined;
  let bytes: SingleBar | undefined;
  return {
    show(c) {
      const t = c.totals;
      devices ??= multi.create(
        t.devices,
        0,
        { phases: '' },
        {
          format: 'devices [{bar}] {percentage}% | {value}/{total} finished | {phases}',
        },
      );
      bytes ??= multi.create(
        Math.max(1, t.devices * c.image.size),
        0,
        {},
        {
          format: 'bytes   [{bar}] {percentage}% | {value}/{total}',
        },
      );
      devices.update(t.finished, { phases: phaseSummary(t.phases) });
      bytes.update(Math.min(t.bytes, t.devices * c.image.size));
    },
    stop: () => multi.stop(),
  };
}

/**
 * Reads the campaign every `intervalMs` and shows it until it ends (or `signal` aborts); resolves
 * with the last report.
 */
export async function watchCampaign(
  read: () => Promise<WatchedCampaign>,
  view: WatchView,
  options: { intervalMs: number; signal?: AbortSignal },
): Promise<WatchedCampaign> {
  try {
    for (;;) {
      const c = await read();
      view.show(c);
      if (campaignEnded(c) || options.signal?.aborted) return c;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs);
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
  } finally {
    view.stop();
  }
}
