import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../api-types.js';
import type { ConsoleState } from './console-state.js';
import {
  MAX_TRACE,
  consoleReducer,
  eventTime,
  initialState,
  seriesFor,
  seriesKey,
  traceFor,
} from './console-state.js';

let seq = 0;
function ev(type: string, data: Record<string, unknown>, endpoint = 'dev-1', time = 1_000): StoredEvent {
  return { seq: ++seq, type, time, endpoint, data };
}
const fold = (events: StoredEvent[], state: ConsoleState = initialState): ConsoleState =>
  events.reduce((s, event) => consoleReducer(s, { type: 'event', event }), state);

const summary = {
  endpoint: 'dev-1',
  registrationId: 'abc',
  lwm2mVersion: '1.2',
  binding: 'U',
  queueMode: false,
  lifetime: 300,
  status: 'awake',
  registeredAt: '2024-01-01T00:00:00.000Z',
  lastSeen: '2024-01-01T00:00:00.000Z',
  expiresAt: null,
  address: '127.0.0.1:5000',
  transport: 'udp',
  tags: ['beta'],
};

describe('clients', () => {
  it('follows a client through register, sleep, wake, tags and expiry', () => {
    let s = fold([ev('registered', summary)]);
    expect(s.clients['dev-1']).toMatchObject({ status: 'awake', tags: ['beta'] });
    expect(s.clients['dev-1']?.summary?.lwm2mVersion).toBe('1.2');
    const v = s.registrationVersion;
    s = fold([ev('sleeping', { endpoint: 'dev-1' })], s);
    expect(s.clients['dev-1']?.status).toBe('sleeping');
    expect(s.registrationVersion).toBe(v + 1);
    s = fold([ev('awake', { endpoint: 'dev-1' }), ev('tags', { endpoint: 'dev-1', tags: ['a', 'b'] })], s);
    expect(s.clients['dev-1']).toMatchObject({ status: 'awake', tags: ['a', 'b'] });
    s = fold([ev('expired', { endpoint: 'dev-1', registrationId: 'abc' })], s);
    expect(s.clients['dev-1']?.status).toBe('expired');
    // The last summary stays, so the list can still show the gone client.
    expect(s.clients['dev-1']?.summary?.binding).toBe('U');
  });

  it('ignores events already folded (replays by seq)', () => {
    const e = ev('registered', summary);
    const s = fold([e]);
    expect(consoleReducer(s, { type: 'event', event: e })).toBe(s);
  });
});

describe('trace', () => {
  it('pairs a response with its request by command id', () => {
    const s = fold([
      ev('request', { commandId: 'c1', operation: 'read', paths: ['/3/0/9'], token: 'a1b2', messageId: 7 }),
      ev('uplink', { operation: 'update', peer: '127.0.0.1:5000', code: '2.04', token: 'ff', messageId: 9 }),
      ev('response', { commandId: 'c1', operation: 'read', paths: ['/3/0/9'], code: '2.05', latencyMs: 3.2 }),
    ]);
    expect(s.trace).toHaveLength(2);
    expect(s.trace[0]).toMatchObject({
      direction: 'down',
      operation: 'read',
      token: 'a1b2',
      messageId: 7,
      code: '2.05',
      latencyMs: 3.2,
      pending: false,
    });
    expect(s.trace[1]).toMatchObject({
      direction: 'up',
      operation: 'update',
      code: '2.04',
      detail: '127.0.0.1:5000',
    });
    expect(traceFor(s.trace, 'dev-1').map((r) => r.direction)).toEqual(['up', 'down']);
    expect(traceFor(s.trace, 'other')).toEqual([]);
  });

  it('keeps a request pending until its response, and a lone response as its own row', () => {
    let s = fold([ev('request', { commandId: 'c2', operation: 'execute', paths: ['/3/0/4'] })]);
    expect(s.trace[0]?.pending).toBe(true);
    s = fold(
      [ev('response', { commandId: 'c3', operation: 'read', paths: [], error: 'timeout', latencyMs: 60000 })],
      s,
    );
    expect(s.trace).toHaveLength(2);
    expect(s.trace[1]).toMatchObject({ pending: false, error: 'timeout' });
  });

  it('stays bounded', () => {
    const events = Array.from({ length: MAX_TRACE + 20 }, (_, i) =>
      ev('uplink', { operation: 'update', code: '2.04', messageId: i }),
    );
    const s = fold(events);
    expect(s.trace).toHaveLength(MAX_TRACE);
    expect(s.trace[s.trace.length - 1]?.messageId).toBe(MAX_TRACE + 19);
  });
});

describe('values and series', () => {
  it('charts numeric notification values and keeps the latest of each path', () => {
    const s = fold([
      ev(
        'notification',
        {
          observationId: 'o1',
          paths: ['/3303/0'],
          code: '2.05',
          sequence: 1,
          values: { '/3303/0/5700': 21.5, '/3303/0/5701': 'Cel' },
        },
        'dev-1',
        1000,
      ),
      ev(
        'notification',
        {
          observationId: 'o1',
          paths: ['/3303/0'],
          code: '2.05',
          sequence: 2,
          values: { '/3303/0/5700': 21.9 },
        },
        'dev-1',
        2000,
      ),
    ]);
    expect(s.series[seriesKey('dev-1', '/3303/0/5700')]).toEqual([
      { t: 1000, v: 21.5 },
      { t: 2000, v: 21.9 },
    ]);
    expect(s.series[seriesKey('dev-1', '/3303/0/5701')]).toBeUndefined();
    expect(s.latest[seriesKey('dev-1', '/3303/0/5701')]).toEqual({ value: 'Cel', time: 1000 });
    expect(seriesFor(s.series, 'dev-1').map(([p]) => p)).toEqual(['/3303/0/5700']);
    expect(s.trace.map((r) => r.detail)).toEqual(['#1', '#2']);
    expect(s.observationVersion['dev-1']).toBe(2);
  });

  it('skips values the server left out as too large', () => {
    const s = fold([
      ev('notification', {
        observationId: 'o',
        paths: ['/5/0/0'],
        code: '2.05',
        sequence: 3,
        truncated: true,
        size: 70000,
      }),
      ev('notification', {
        observationId: 'o',
        paths: ['/5/0'],
        code: '2.05',
        values: { truncated: true, size: 9 },
      }),
    ]);
    expect(s.latest).toEqual({});
    expect(s.series).toEqual({});
    expect(s.trace[0]?.detail).toBe('values not logged (70000 bytes)');
  });

  it('charts historical records at their own times (seconds)', () => {
    const s = fold([
      ev('send', {
        values: {
          '/3303/0/5700': [
            { t: 10, v: 1 },
            { t: 20, v: 2 },
          ],
        },
      }),
    ]);
    expect(s.series[seriesKey('dev-1', '/3303/0/5700')]).toEqual([
      { t: 10_000, v: 1 },
      { t: 20_000, v: 2 },
    ]);
  });

  it('folds values of operations: reads update the latest only, observes chart too', () => {
    let s = consoleReducer(initialState, {
      type: 'values',
      endpoint: 'd',
      values: { '/3/0/9': 95 },
      time: 5,
    });
    expect(s.latest[seriesKey('d', '/3/0/9')]).toEqual({ value: 95, time: 5 });
    expect(s.series).toEqual({});
    s = consoleReducer(s, { type: 'values', endpoint: 'd', values: { '/3/0/9': 94 }, time: 6, chart: true });
    expect(s.series[seriesKey('d', '/3/0/9')]).toEqual([{ t: 6, v: 94 }]);
    s = consoleReducer(s, { type: 'clear-series', endpoint: 'd', path: '/3/0/9' });
    expect(s.series).toEqual({});
  });
});

describe('queued results', () => {
  it('keeps the outcome of a queued request by its id', () => {
    const result = { endpoint: 'dev-1', operation: 'read', paths: ['/3/0'], code: '2.05', success: true };
    const s = fold([
      ev('queued-result', { requestId: 'r1', result }),
      ev('queued-result', { requestId: 'r2', error: { code: 'TIMEOUT', message: 'no answer' } }),
    ]);
    expect(s.queued.r1?.result?.code).toBe('2.05');
    expect(s.queued.r2?.error?.code).toBe('TIMEOUT');
  });
});

describe('eventTime', () => {
  it('takes ms or ISO text', () => {
    expect(eventTime(5)).toBe(5);
    expect(eventTime('1970-01-01T00:00:01.000Z')).toBe(1000);
    expect(eventTime('nonsense', 42)).toBe(42);
  });
});
