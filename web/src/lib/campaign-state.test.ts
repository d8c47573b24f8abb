import { describe, expect, it } from 'vitest';
import type { CampaignDevice, CampaignEvent, CampaignReport, DevicePhase } from '../api-types.js';
import {
  EMPTY_CAMPAIGN_VIEW,
  campaignViewReducer,
  devicePage,
  devicePercent,
  deviceResultText,
  finishedSeries,
  finishedText,
  isLive,
  percent,
  phaseCounts,
  statusLog,
  totalsOf,
} from './campaign-state.js';
import type { CampaignView } from './campaign-state.js';

const SIZE = 1000;
const T0 = 1_700_000_000_000;

function device(
  endpoint: string,
  phase: DevicePhase,
  at: number,
  extra: Partial<CampaignDevice> = {},
): CampaignDevice {
  const final = ['succeeded', 'failed', 'skipped', 'cancelled'].includes(phase);
  return {
    endpoint,
    phase,
    attempts: 1,
    bytes: 0,
    size: SIZE,
    deferrals: 0,
    timings: { queuedAt: T0, ...(final ? { finishedAt: at } : {}) },
    history: [{ phase: 'queued', at: T0 }, ...(phase === 'queued' ? [] : [{ phase, at }])],
    ...extra,
  };
}

function report(devices: CampaignDevice[], patch: Partial<CampaignReport> = {}): CampaignReport {
  return {
    id: 'c1',
    image: { id: 'ab'.repeat(32), size: SIZE, kind: 'plain' },
    status: 'running',
    createdAt: T0,
    settings: {
      method: 'push',
      concurrency: 10,
      rate: null,
      retries: 2,
      retryDelay: 5000,
      pollInterval: 1000,
      observe: true,
      deferRetry: 60000,
      timeouts: { request: 1, download: 1, update: 1, wait: 1 },
    },
    totals: totalsOf(devices),
    devices,
    timeline: [{ at: T0, event: 'created' }],
    timelineDropped: 0,
    ...patch,
  };
}

let seq = 0;
function deviceEvent(d: CampaignDevice, campaign = 'c1'): CampaignEvent {
  return { campaign, seq: ++seq, at: d.history.at(-1)!.at, type: 'device', device: d, totals: totalsOf([d]) };
}
function statusEvent(status: CampaignReport['status'], at: number, finished = 0, devices = 2): CampaignEvent {
  const totals = { ...totalsOf([]), devices, finished };
  return { campaign: 'c1', seq: ++seq, at, type: 'status', status, totals };
}

const fold = (view: CampaignView, ...events: CampaignEvent[]): CampaignView =>
  campaignViewReducer(view, { type: 'events', events });
const start = (r: CampaignReport): CampaignView =>
  campaignViewReducer(EMPTY_CAMPAIGN_VIEW, { type: 'report', report: r });

describe('campaign view reducer', () => {
  it('folds device events into the snapshot and recomputes the totals', () => {
    let v = start(report([device('a', 'queued', T0), device('b', 'queued', T0)]));
    v = fold(
      v,
      deviceEvent(device('a', 'downloading', T0 + 10)),
      deviceEvent(device('b', 'waiting', T0 + 11)),
    );
    v = fold(v, deviceEvent(device('a', 'succeeded', T0 + 50, { bytes: SIZE })));
    const r = v.report!;
    expect(r.devices.map((d) => [d.endpoint, d.phase])).toEqual([
      ['a', 'succeeded'],
      ['b', 'waiting'],
    ]);
    expect(r.totals.finished).toBe(1);
    expect(r.totals.bytes).toBe(SIZE);
    expect(phaseCounts(r.totals)).toEqual([
      { phase: 'waiting', count: 1 },
      { phase: 'succeeded', count: 1 },
    ]);
    expect(r.timeline.filter((e) => e.event === 'phase').map((e) => [e.endpoint, e.phase])).toEqual([
      ['a', 'downloading'],
      ['b', 'waiting'],
      ['a', 'succeeded'],
    ]);
  });

  it('skips repeated and older events and those of another campaign', () => {
    let v = start(report([device('a', 'queued', T0)]));
    const e = deviceEvent(device('a', 'checking', T0 + 5));
    v = fold(v, e);
    const same = fold(v, e);
    expect(same).toBe(v);
    const other = fold(v, deviceEvent(device('a', 'failed', T0 + 6), 'c2'));
    expect(other.report!.devices[0]!.phase).toBe('checking');
  });

  it('a device missing from the snapshot is appended', () => {
    let v = start(report([device('a', 'queued', T0)]));
    v = fold(v, deviceEvent(device('z', 'waiting', T0 + 1)));
    expect(v.report!.devices.map((d) => d.endpoint)).toEqual(['a', 'z']);
    expect(v.report!.totals.devices).toBe(2);
    v = fold(v, deviceEvent(device('z', 'cancelled', T0 + 2)));
    expect(v.report!.devices.map((d) => d.phase)).toEqual(['queued', 'cancelled']);
  });

  it('status events: paused and resumed, then completed with finishedAt', () => {
    let v = start(report([device('a', 'queued', T0), device('b', 'queued', T0)]));
    v = fold(v, statusEvent('paused', T0 + 1));
    expect(v.report!.status).toBe('paused');
    v = fold(v, statusEvent('running', T0 + 2));
    v = fold(v, statusEvent('completed', T0 + 9, 2, 2));
    expect(v.report!.status).toBe('completed');
    expect(v.report!.finishedAt).toBe(T0 + 9);
    expect(statusLog(v.report!).map((e) => e.event)).toEqual(['created', 'paused', 'resumed', 'completed']);
  });

  it('a cancelled campaign stays cancelled, and is live until its devices end', () => {
    let v = start(report([device('a', 'updating', T0 + 1), device('b', 'queued', T0)]));
    v = fold(v, statusEvent('cancelled', T0 + 2, 0));
    expect(v.report!.finishedAt).toBeUndefined();
    v = fold(v, deviceEvent(device('b', 'cancelled', T0 + 3)));
    expect(isLive(v.report!)).toBe(true);
    v = fold(v, statusEvent('running', T0 + 4));
    expect(v.report!.status).toBe('cancelled');
    v = fold(v, deviceEvent(device('a', 'succeeded', T0 + 5)), statusEvent('cancelled', T0 + 5, 2));
    expect(v.report!.finishedAt).toBe(T0 + 5);
    expect(isLive(v.report!)).toBe(false);
  });

  it('a polled report adds byte counts but does not undo newer events', () => {
    let v = start(report([device('a', 'queued', T0), device('b', 'queued', T0)]));
    v = fold(
      v,
      deviceEvent(device('a', 'downloading', T0 + 10)),
      deviceEvent(device('b', 'updating', T0 + 20)),
    );
    // Sent before b's event arrived: b still downloading there; a has bytes now.
    const polled = report(
      [
        device('a', 'downloading', T0 + 10, { bytes: 400 }),
        device('b', 'downloading', T0 + 12, { bytes: 900 }),
      ],
      { timeline: [{ at: T0, event: 'created' }] },
    );
    v = campaignViewReducer(v, { type: 'report', report: polled });
    const [a, b] = v.report!.devices;
    expect([a!.phase, a!.bytes]).toEqual(['downloading', 400]);
    expect(b!.phase).toBe('updating');
    expect(v.report!.totals.bytes).toBe(400);
    // An older report does not turn a pause back into running.
    v = fold(v, statusEvent('paused', T0 + 30));
    v = campaignViewReducer(v, { type: 'report', report: polled });
    expect(v.report!.status).toBe('paused');
    // A report of a newer resume does.
    const resumed = report(polled.devices.slice(), {
      timeline: [
        { at: T0, event: 'created' },
        { at: T0 + 30, event: 'paused' },
        { at: T0 + 40, event: 'resumed' },
      ],
    });
    v = campaignViewReducer(v, { type: 'report', report: resumed });
    expect(v.report!.status).toBe('running');
  });

  it('a report of another campaign replaces the view', () => {
    let v = start(report([device('a', 'queued', T0)]));
    v = fold(v, deviceEvent(device('a', 'checking', T0 + 1)));
    const next = campaignViewReducer(v, {
      type: 'report',
      report: report([device('x', 'queued', T0)], { id: 'c9' }),
    });
    expect(next.report!.id).toBe('c9');
    expect(next.lastSeq).toBe(0);
    expect(next.report!.devices.map((d) => d.endpoint)).toEqual(['x']);
  });
});

describe('campaign view helpers', () => {
  it('percent is whole, 100 only when done', () => {
    expect(percent(0, 10)).toBe(0);
    expect(percent(9999, 10000)).toBe(99);
    expect(percent(10, 10)).toBe(100);
    expect(percent(5, 0)).toBe(0);
    expect(percent(1, 3)).toBe(33);
  });

  it('a device past its download has all the bytes', () => {
    expect(devicePercent(device('a', 'downloading', T0, { bytes: 250 }))).toBe(25);
    expect(devicePercent(device('a', 'updating', T0, { bytes: 0 }))).toBe(100);
    expect(devicePercent(device('a', 'failed', T0, { bytes: 500 }))).toBe(50);
  });

  it('finished over time: cumulative, thinned to the limit with the last point kept', () => {
    const r = report([
      device('a', 'succeeded', T0 + 300),
      device('b', 'downloading', T0 + 100),
      device('c', 'failed', T0 + 200),
    ]);
    expect(finishedSeries(r)).toEqual([
      { t: T0, v: 0 },
      { t: T0 + 200, v: 1 },
      { t: T0 + 300, v: 2 },
    ]);
    const many = report(Array.from({ length: 1000 }, (_, i) => device(`d${i}`, 'succeeded', T0 + i + 1)));
    const s = finishedSeries(many, 50);
    expect(s).toHaveLength(50);
    expect(s[0]).toEqual({ t: T0, v: 0 });
    expect(s.at(-1)).toEqual({ t: T0 + 1000, v: 1000 });
    expect(s.every((p, i) => i === 0 || p.v >= s[i - 1]!.v)).toBe(true);
  });

  it('pages devices by phase', () => {
    const list = Array.from({ length: 7 }, (_, i) => device(`d${i}`, i % 2 ? 'failed' : 'succeeded', T0 + i));
    expect(devicePage(list, undefined, 5, 5).items.map((d) => d.endpoint)).toEqual(['d5', 'd6']);
    const failed = devicePage(list, 'failed', 0, 2);
    expect([failed.total, failed.items.map((d) => d.endpoint)]).toEqual([3, ['d1', 'd3']]);
  });

  it('says results and totals in words', () => {
    expect(deviceResultText({ updateResult: 1 })).toBe('Update Result 1: firmware updated successfully');
    expect(deviceResultText({ updateResult: 99 })).toBe('Update Result 99: unknown');
    expect(deviceResultText({ updateResult: 5, reason: 'download failed' })).toBe('download failed');
    expect(deviceResultText({})).toBe('');
    const t = totalsOf([
      device('a', 'succeeded', T0),
      device('b', 'cancelled', T0),
      device('c', 'queued', T0),
    ]);
    expect(finishedText(t)).toBe('2 of 3 finished · 1 succeeded · 0 failed · 1 cancelled');
  });
});
