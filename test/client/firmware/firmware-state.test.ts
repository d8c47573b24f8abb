import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  FirmwareEvent,
  FirmwareStatus,
  FirmwareStateValue,
  UpdateResultValue,
} from '../../../src/client/firmware/firmware-state.js';
import {
  FirmwareState,
  INITIAL_FIRMWARE_STATUS,
  UpdateResult,
  firmwareTransition,
} from '../../../src/client/firmware/firmware-state.js';

const { Idle, Downloading, Downloaded, Updating } = FirmwareState;
const status = (
  state: FirmwareStateValue,
  result: UpdateResultValue = 0,
  lastStateChange = 100,
): FirmwareStatus => ({
  state,
  result,
  lastStateChange,
});

const EVENTS: readonly FirmwareEvent[] = [
  { type: 'download', delivery: 'push' },
  { type: 'download', delivery: 'pull' },
  { type: 'download-complete' },
  ...([2, 3, 4, 5, 6, 7, 9] as const).map((result) => ({ type: 'download-failed' as const, result })),
  { type: 'update' },
  { type: 'defer' },
  { type: 'install' },
  { type: 'refuse' },
  { type: 'update-succeeded' },
  { type: 'update-failed', result: 5 },
  { type: 'update-failed', result: 8 },
  { type: 'reset' },
  { type: 'cancel' },
];

/** The expected [state, result] after `event` from `from`, or '4.05' (LWM2M-1.2.md §6). */
function expected(from: FirmwareStatus, e: FirmwareEvent): readonly [number, number] | '4.05' {
  const s = from.state;
  switch (e.type) {
    case 'download':
      return s === Idle ? [Downloading, 0] : '4.05';
    case 'download-complete':
      return s === Downloading ? [Downloaded, 0] : '4.05';
    case 'download-failed':
      return s === Downloading ? [Idle, e.result] : '4.05';
    case 'update':
      return s === Downloaded ? [Downloaded, from.result] : '4.05';
    case 'defer':
      return s === Downloaded ? [Downloaded, 11] : '4.05';
    case 'install':
      return s === Downloaded ? [Updating, 0] : '4.05';
    case 'refuse':
      return s === Downloaded ? [Downloaded, 8] : '4.05';
    case 'update-succeeded':
      return s === Updating ? [Idle, 1] : '4.05';
    case 'update-failed':
      return s === Updating ? [e.result === 5 ? Idle : Downloaded, e.result] : '4.05';
    case 'reset':
      return s === Updating ? '4.05' : [Idle, 0];
    case 'cancel':
      return s === Updating || (s === Idle && from.result === 1) ? '4.05' : [Idle, 10];
  }
}

const FROM: readonly FirmwareStatus[] = [
  status(Idle, 0),
  status(Idle, 1),
  status(Idle, 4),
  status(Downloading),
  status(Downloaded),
  status(Downloaded, 11),
  status(Updating),
];

describe('firmware state machine', () => {
  it('starts Idle with Update Result 0 and no Last State Change Time', () => {
    assert.deepEqual(INITIAL_FIRMWARE_STATUS, { state: 0, result: 0, lastStateChange: undefined });
  });

  for (const from of FROM)
    for (const event of EVENTS) {
      const want = expected(from, event);
      const name = `${JSON.stringify(event)} in State ${from.state} / Result ${from.result} → ${want === '4.05' ? '4.05' : want.join('/')}`;
      it(name, () => {
        const t = firmwareTransition(from, event, 200);
        if (want === '4.05') {
          assert.equal(t.ok, false);
          if (!t.ok) {
            assert.equal(t.code, '4.05');
            assert.match(t.message, new RegExp(`^${event.type} is not allowed in State ${from.state}`));
          }
          return;
        }
        assert.ok(t.ok);
        assert.equal(t.status.state, want[0]);
        assert.equal(t.status.result, want[1]);
        // /5/0/12 is set before every State change, and only then.
        assert.equal(t.status.lastStateChange, want[0] === from.state ? from.lastStateChange : 200);
      });
    }

  it('walks the push path Idle → Downloading → Downloaded → Updating → Idle/1', () => {
    let s = INITIAL_FIRMWARE_STATUS;
    const times: (number | undefined)[] = [];
    const steps: FirmwareEvent[] = [
      { type: 'download', delivery: 'push' },
      { type: 'download-complete' },
      { type: 'update' },
      { type: 'install' },
      { type: 'update-succeeded' },
    ];
    for (const [i, e] of steps.entries()) {
      const t = firmwareTransition(s, e, 1000 + i);
      assert.ok(t.ok, e.type);
      s = t.status;
      times.push(s.lastStateChange);
    }
    assert.deepEqual([s.state, s.result], [Idle, UpdateResult.Success]);
    assert.deepEqual(times, [1000, 1001, 1001, 1003, 1004]);
  });

  it('defers then installs: Downloaded/11 keeps its time, Updating resets the result to 0', () => {
    let t = firmwareTransition(status(Downloaded, 0, 5), { type: 'defer' }, 50);
    assert.ok(t.ok);
    assert.deepEqual(t.status, { state: Downloaded, result: 11, lastStateChange: 5 });
    t = firmwareTransition(t.status, { type: 'install' }, 60);
    assert.ok(t.ok);
    assert.deepEqual(t.status, { state: Updating, result: 0, lastStateChange: 60 });
  });

  it('a new download after a failure clears the failure', () => {
    const t = firmwareTransition(
      status(Idle, UpdateResult.IntegrityCheckFailure),
      { type: 'download', delivery: 'pull' },
      7,
    );
    assert.ok(t.ok);
    assert.deepEqual([t.status.state, t.status.result], [Downloading, 0]);
  });
});
