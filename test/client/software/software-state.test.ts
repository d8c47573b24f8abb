import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type {
  SoftwareEvent,
  SoftwareResultValue,
  SoftwareStateValue,
  SoftwareStatus,
} from '../../../src/client/software/software-state.js';
import {
  INITIAL_SOFTWARE_STATUS,
  SoftwareResult,
  SoftwareState,
  softwareTransition,
} from '../../../src/client/software/software-state.js';

const { Initial, DownloadStarted, Downloaded, Delivered, Installed } = SoftwareState;
const status = (
  state: SoftwareStateValue,
  result: SoftwareResultValue = 0,
  active = false,
): SoftwareStatus => ({
  state,
  result,
  active,
});

/** Every event, with the Update States that allow it. */
const ALLOWED: readonly (readonly [SoftwareEvent, readonly SoftwareStateValue[]])[] = [
  [{ type: 'download', delivery: 'push' }, [Initial]],
  [{ type: 'download', delivery: 'pull' }, [Initial]],
  [{ type: 'download-complete' }, [DownloadStarted]],
  ...([50, 51, 52, 56, 57] as const).map(
    (result) => [{ type: 'download-failed', result }, [DownloadStarted, Downloaded]] as const,
  ),
  [{ type: 'verified' }, [Downloaded]],
  [{ type: 'verify-failed', result: 53 }, [Downloaded]],
  [{ type: 'verify-failed', result: 54 }, [Downloaded]],
  [{ type: 'install' }, [Delivered]],
  [{ type: 'install-succeeded' }, [Delivered]],
  [{ type: 'install-failed' }, [Delivered]],
  [{ type: 'uninstall', forUpdate: false }, [Delivered, Installed]],
  [{ type: 'uninstall', forUpdate: true }, [Installed]],
  [{ type: 'uninstall-failed' }, [Delivered, Installed]],
  [{ type: 'activate' }, [Installed]],
  [{ type: 'deactivate' }, [Installed]],
];
const STATES: readonly SoftwareStateValue[] = [Initial, DownloadStarted, Downloaded, Delivered, Installed];

describe('softwareTransition (/9 Package Installation and Software Activation)', () => {
  it('allows each event exactly in its states and refuses it elsewhere with 4.05', () => {
    for (const [event, allowed] of ALLOWED)
      for (const state of STATES) {
        const t = softwareTransition(status(state), event);
        const label = `${JSON.stringify(event)} in ${state}`;
        if (allowed.includes(state)) assert.equal(t.ok, true, label);
        else {
          assert.equal(t.ok, false, label);
          if (!t.ok) {
            assert.equal(t.code, '4.05', label);
            assert.match(t.message, new RegExp(`^${event.type} is not allowed in Update State ${state}`));
          }
        }
      }
  });

  it('download: INITIAL → DOWNLOAD STARTED / 1 → DOWNLOADED / 1 → DELIVERED / 3', () => {
    let s = status(Initial, 54);
    const step = (event: SoftwareEvent): SoftwareStatus => {
      const t = softwareTransition(s, event);
      assert.ok(t.ok, JSON.stringify(event));
      return (s = t.status);
    };
    assert.deepEqual(step({ type: 'download', delivery: 'pull' }), status(DownloadStarted, 1));
    assert.deepEqual(step({ type: 'download-complete' }), status(Downloaded, 1));
    assert.deepEqual(step({ type: 'verified' }), status(Delivered, SoftwareResult.Delivered));
  });

  it('download and verification failures go back to INITIAL with their result', () => {
    for (const result of [50, 51, 52, 56, 57] as const) {
      const t = softwareTransition(status(DownloadStarted, 1), { type: 'download-failed', result });
      assert.deepEqual(t.ok && t.status, status(Initial, result));
    }
    for (const result of [53, 54] as const) {
      const t = softwareTransition(status(Downloaded, 1), { type: 'verify-failed', result });
      assert.deepEqual(t.ok && t.status, status(Initial, result));
    }
  });

  it('Install: checked without change; success → INSTALLED / 2 inactive; failure stays DELIVERED / 58', () => {
    const delivered = status(Delivered, 3, true);
    const check = softwareTransition(delivered, { type: 'install' });
    assert.deepEqual(check.ok && check.status, delivered);
    const ok = softwareTransition(delivered, { type: 'install-succeeded' });
    assert.deepEqual(ok.ok && ok.status, status(Installed, 2, false));
    const failed = softwareTransition(delivered, { type: 'install-failed' });
    assert.deepEqual(failed.ok && failed.status, status(Delivered, 58, true));
  });

  it('Uninstall: removal → INITIAL / 0 inactive; ForUpdate keeps the activation; failure → 59', () => {
    const installed = status(Installed, 2, true);
    const removed = softwareTransition(installed, { type: 'uninstall', forUpdate: false });
    assert.deepEqual(removed.ok && removed.status, status(Initial, 0, false));
    const forUpdate = softwareTransition(installed, { type: 'uninstall', forUpdate: true });
    assert.deepEqual(forUpdate.ok && forUpdate.status, status(Initial, 0, true));
    // A delivered package dropped after ForUpdate: the software in place still runs.
    const dropped = softwareTransition(status(Delivered, 3, true), { type: 'uninstall', forUpdate: false });
    assert.deepEqual(dropped.ok && dropped.status, status(Initial, 0, true));
    const failed = softwareTransition(installed, { type: 'uninstall-failed' });
    assert.deepEqual(failed.ok && failed.status, status(Installed, 59, true));
    const refused = softwareTransition(status(Delivered, 3), { type: 'uninstall', forUpdate: true });
    assert.equal(refused.ok, false);
  });

  it('Activate and Deactivate move Activation State only, in INSTALLED', () => {
    const on = softwareTransition(status(Installed, 2, false), { type: 'activate' });
    assert.deepEqual(on.ok && on.status, status(Installed, 2, true));
    const off = softwareTransition(status(Installed, 2, true), { type: 'deactivate' });
    assert.deepEqual(off.ok && off.status, status(Installed, 2, false));
    const again = softwareTransition(status(Installed, 2, true), { type: 'activate' });
    assert.deepEqual(again.ok && again.status, status(Installed, 2, true));
  });

  it('a new package needs INITIAL: INSTALLED says to execute Uninstall ForUpdate first', () => {
    const t = softwareTransition(status(Installed, 2), { type: 'download', delivery: 'push' });
    assert.equal(t.ok, false);
    assert.match(!t.ok ? t.message : '', /ForUpdate/);
  });

  it('any event sequence keeps a valid status, and a refusal leaves it as it was', () => {
    const results = new Set<number>(Object.values(SoftwareResult));
    const events = ALLOWED.map(([e]) => e);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...events), { maxLength: 60 }), (sequence) => {
        let s = INITIAL_SOFTWARE_STATUS;
        for (const event of sequence) {
          const before = { ...s };
          const t = softwareTransition(s, event);
          assert.deepEqual(s, before, 'pure');
          if (!t.ok) continue;
          s = t.status;
          assert.ok(STATES.includes(s.state));
          assert.ok(results.has(s.result));
          // While a download runs Update Result says "downloading".
          if (s.state === DownloadStarted || s.state === Downloaded) assert.equal(s.result, 1);
          // Only installed software (or software kept by ForUpdate) can be active: never after a
          // failed download from a machine that never installed anything.
          if (!sequence.some((e) => e.type === 'install-succeeded')) assert.equal(s.active, false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
