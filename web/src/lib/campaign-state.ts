// A firmware campaign as the console shows it: the report (GET /api/firmware/campaigns/{id}, or
// the SSE `snapshot`) with the stream's `device` and `status` events folded in, kept pure so it is
// tested without a browser. Also what the view derives from it: totals, progress, the
// finished-over-time series and the per-phase counts.
import type {
  CampaignDevice,
  CampaignEvent,
  CampaignReport,
  CampaignStatus,
  CampaignTimelineEntry,
  CampaignTotals,
  DevicePhase,
} from '../api-types.js';
import type { Point } from './chart-scale.js';

export const DEVICE_PHASES: readonly DevicePhase[] = [
  'queued',
  'waiting',
  'checking',
  'downloading',
  'downloaded',
  'updating',
  'deferred',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
];

export const FINAL_PHASES: ReadonlySet<DevicePhase> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
]);

const isTerminal = (s: CampaignStatus): boolean => s === 'completed' || s === 'cancelled';

export interface CampaignView {
  readonly report: CampaignReport | undefined;
  /** Position of each endpoint in `report.devices` (the order never changes within a campaign). */
  readonly index: ReadonlyMap<string, number>;
  /** The highest event seq folded in: a repeated or older event is skipped. */
  readonly lastSeq: number;
  /** When the status last changed, as far as this view knows (wall-clock ms). */
  readonly statusAt: number;
}

export type CampaignViewAction =
  /** A whole report: the stream's snapshot, or a poll (fresher byte counts). */
  | { readonly type: 'report'; readonly report: CampaignReport }
  /** Stream events, in order (batched: one copy of the device list per batch). */
  | { readonly type: 'events'; readonly events: readonly CampaignEvent[] };

export const EMPTY_CAMPAIGN_VIEW: CampaignView = {
  report: undefined,
  index: new Map(),
  lastSeq: 0,
  statusAt: 0,
};

/** The time of a device's latest phase change (its history's last entry). */
export const deviceChangedAt = (d: CampaignDevice): number => d.history[d.history.length - 1]?.at ?? 0;

/** The totals of a device list (what the server computes, recomputed after a merge). */
export function totalsOf(devices: readonly CampaignDevice[]): CampaignTotals {
  const phases = Object.fromEntries(DEVICE_PHASES.map((p) => [p, 0])) as Record<DevicePhase, number>;
  let finished = 0;
  let bytes = 0;
  for (const d of devices) {
    phases[d.phase] = (phases[d.phase] ?? 0) + 1;
    bytes += d.bytes;
    if (FINAL_PHASES.has(d.phase)) finished++;
  }
  return { devices: devices.length, phases, finished, bytes };
}

/** When the report's status last changed, from its timeline. */
function reportStatusAt(report: CampaignReport): number {
  for (let i = report.timeline.length - 1; i >= 0; i--) {
    const e = report.timeline[i]!;
    if (e.event !== 'phase') return e.at;
  }
  return report.createdAt;
}

/**
 * Of two reports of one device, the newer: the later phase change wins; at the same one, the
 * incoming report (a poll carries fresher byte counts than the event of the phase change).
 */
function newerDevice(current: CampaignDevice, incoming: CampaignDevice): CampaignDevice {
  const a = deviceChangedAt(current);
  const b = deviceChangedAt(incoming);
  if (b > a || (b === a && incoming.history.length >= current.history.length)) return incoming;
  return current;
}

function foldReport(view: CampaignView, report: CampaignReport): CampaignView {
  const old = view.report;
  if (!old || old.id !== report.id) {
    const index = new Map(report.devices.map((d, i) => [d.endpoint, i] as const));
    return { report, index, lastSeq: 0, statusAt: reportStatusAt(report) };
  }
  // A report that answers a request sent before the latest events must not undo them.
  const devices = report.devices.map((d) => {
    const i = view.index.get(d.endpoint);
    const mine = i === undefined ? undefined : old.devices[i];
    return mine ? newerDevice(mine, d) : d;
  });
  const at = reportStatusAt(report);
  const keepStatus = isTerminal(old.status) || (!isTerminal(report.status) && at < view.statusAt);
  const status = keepStatus ? old.status : report.status;
  const finishedAt = report.finishedAt ?? old.finishedAt;
  const timeline = report.timeline.length >= old.timeline.length ? report.timeline : old.timeline;
  return {
    report: {
      ...report,
      status,
      ...(finishedAt === undefined ? {} : { finishedAt }),
      devices,
      timeline,
      totals: totalsOf(devices),
    },
    index: new Map(devices.map((d, i) => [d.endpoint, i] as const)),
    lastSeq: view.lastSeq,
    statusAt: keepStatus ? view.statusAt : at,
  };
}

const STATUS_EVENT: Record<CampaignStatus, CampaignTimelineEntry['event']> = {
  running: 'resumed',
  paused: 'paused',
  cancelled: 'cancelled',
  completed: 'completed',
};

function foldEvents(view: CampaignView, events: readonly CampaignEvent[]): CampaignView {
  const report = view.report;
  if (!report) return view;
  let devices: CampaignDevice[] | undefined;
  let index = view.index;
  let status = report.status;
  let statusAt = view.statusAt;
  let finishedAt = report.finishedAt;
  let lastSeq = view.lastSeq;
  const added: CampaignTimelineEntry[] = [];
  for (const e of events) {
    if (e.campaign !== report.id || !(e.seq > lastSeq)) continue;
    lastSeq = e.seq;
    if (e.type === 'device' && e.device) {
      devices ??= report.devices.slice();
      const d = e.device;
      const i = index.get(d.endpoint);
      if (i === undefined) {
        // Not in the snapshot (it should be): appended, so the table and totals stay whole.
        if (index === view.index) index = new Map(index);
        (index as Map<string, number>).set(d.endpoint, devices.length);
        devices.push(d);
      } else devices[i] = d;
      added.push({ at: deviceChangedAt(d) || e.at, event: 'phase', endpoint: d.endpoint, phase: d.phase });
    } else if (e.type === 'status' && e.status) {
      // A cancelled campaign stays cancelled while its last devices end.
      if (!(isTerminal(status) && !isTerminal(e.status))) {
        if (e.status !== status) added.push({ at: e.at, event: STATUS_EVENT[e.status] });
        status = e.status;
        statusAt = e.at;
      }
      if (isTerminal(e.status) && e.totals.finished === e.totals.devices) finishedAt ??= e.at;
    }
  }
  if (lastSeq === view.lastSeq) return view;
  const list = devices ?? report.devices;
  return {
    report: {
      ...report,
      status,
      ...(finishedAt === undefined ? {} : { finishedAt }),
      devices: list,
      timeline: added.length === 0 ? report.timeline : [...report.timeline, ...added],
      totals: devices ? totalsOf(list) : report.totals,
    },
    index,
    lastSeq,
    statusAt,
  };
}

export function campaignViewReducer(view: CampaignView, action: CampaignViewAction): CampaignView {
  switch (action.type) {
    case 'report':
      return foldReport(view, action.report);
    case 'events':
      return foldEvents(view, action.events);
  }
}

/** Whether devices may still change: running or paused, or cancelled with devices still going. */
export function isLive(report: Pick<CampaignReport, 'status' | 'totals'>): boolean {
  return !isTerminal(report.status) || report.totals.finished < report.totals.devices;
}

/** Whole percent of `part` in `whole`, 0 .. 100 (100 only when all is done; 0 of 0 is 0). */
export function percent(part: number, whole: number): number {
  if (!(whole > 0) || !(part > 0)) return 0;
  if (part >= whole) return 100;
  return Math.min(99, Math.floor((part / whole) * 100));
}

/** A device's share of the image delivered; a device past the download has it all. */
export function devicePercent(d: CampaignDevice): number {
  if (d.phase === 'downloaded' || d.phase === 'updating' || d.phase === 'deferred' || d.phase === 'succeeded')
    return 100;
  return percent(d.bytes, d.size);
}

/** The phases with at least one device, in the campaign's order, with their counts. */
export function phaseCounts(totals: CampaignTotals): { phase: DevicePhase; count: number }[] {
  return DEVICE_PHASES.map((phase) => ({ phase, count: totals.phases[phase] ?? 0 })).filter(
    (p) => p.count > 0,
  );
}

/**
 * Devices finished over time: 0 at the start, then one point per device reaching a final phase
 * (by its finishedAt), at most `maxPoints` (evenly thinned, the last one kept).
 */
export function finishedSeries(report: CampaignReport, maxPoints = 300): Point[] {
  const times = report.devices
    .filter((d) => FINAL_PHASES.has(d.phase))
    .map((d) => d.timings.finishedAt ?? deviceChangedAt(d))
    .sort((a, b) => a - b);
  const points: Point[] = [{ t: report.createdAt, v: 0 }];
  times.forEach((t, i) => points.push({ t: Math.max(t, report.createdAt), v: i + 1 }));
  if (points.length <= maxPoints) return points;
  const step = points.length / (maxPoints - 1);
  const out: Point[] = [];
  for (let i = 0; i < maxPoints - 1; i++) out.push(points[Math.floor(i * step)]!);
  out.push(points[points.length - 1]!);
  return out;
}

/** The campaign's own steps (created, paused, resumed, cancelled, completed, ended), oldest first. */
export function statusLog(report: CampaignReport): CampaignTimelineEntry[] {
  return report.timeline.filter((e) => e.event !== 'phase');
}

/** Devices in `phase` (all for undefined), a page of them, and how many matched. */
export function devicePage(
  devices: readonly CampaignDevice[],
  filter: DevicePhase | undefined,
  offset: number,
  limit: number,
): { items: CampaignDevice[]; total: number } {
  const matched = filter === undefined ? devices : devices.filter((d) => d.phase === filter);
  return { items: matched.slice(offset, offset + limit), total: matched.length };
}

/** What Update Result (/5/0/5) values mean (object 5, LwM2M 1.2 §E.6). */
export const UPDATE_RESULT_TEXT: Readonly<Record<number, string>> = {
  0: 'initial value',
  1: 'firmware updated successfully',
  2: 'not enough flash memory',
  3: 'out of RAM during the download',
  4: 'connection lost during the download',
  5: 'integrity check failure',
  6: 'unsupported package type',
  7: 'invalid URI',
  8: 'firmware update failed',
  9: 'unsupported protocol',
  10: 'firmware update cancelled',
  11: 'firmware update deferred',
};

/** A device's result in words: why it failed (the server's reason), else its last Update Result. */
export function deviceResultText(d: Pick<CampaignDevice, 'reason' | 'updateResult'>): string {
  if (d.reason !== undefined) return d.reason;
  if (d.updateResult === undefined) return '';
  return `Update Result ${d.updateResult}: ${UPDATE_RESULT_TEXT[d.updateResult] ?? 'unknown'}`;
}

/** The totals in words: `3 of 5 finished · 2 succeeded · 1 failed` (+ skipped, cancelled when any). */
export function finishedText(t: CampaignTotals): string {
  const n = (p: DevicePhase): number => t.phases[p] ?? 0;
  const parts = [
    `${t.finished} of ${t.devices} finished`,
    `${n('succeeded')} succeeded`,
    `${n('failed')} failed`,
  ];
  if (n('skipped') > 0) parts.push(`${n('skipped')} skipped`);
  if (n('cancelled') > 0) parts.push(`${n('cancelled')} cancelled`);
  return parts.join(' · ');
}
