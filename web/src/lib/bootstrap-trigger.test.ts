import { describe, expect, it } from 'vitest';
import type { BootstrapTriggerResponse } from '../api-types.js';
import {
  REASON_CHOICES,
  confirmText,
  describeTrigger,
  nextPskText,
  reasonChoice,
  rotationText,
  sessionReasonLabel,
  triggerBody,
} from './bootstrap-trigger.js';

const answer = (
  trigger: BootstrapTriggerResponse['trigger'],
  extra: Partial<BootstrapTriggerResponse> = {},
): BootstrapTriggerResponse => ({
  endpoint: 'dev-1',
  reason: 'reconfigure',
  requestedAt: 1_700_000_000_000,
  trigger,
  ...extra,
});

describe('reasons', () => {
  it('offers the three reasons of the API, confirming the ones that change credentials or accounts', () => {
    expect(REASON_CHOICES.map((c) => [c.reason, c.label, c.confirm])).toEqual([
      ['reconfigure', 'Reconfigure', false],
      ['rotate', 'Rotate PSK', true],
      ['unbootstrap', 'Unbootstrap', true],
    ]);
    expect(reasonChoice('rotate').description).toMatch(/new PSK \(generated\).*retire the old/);
    expect(reasonChoice('unbootstrap').description).toMatch(/remove every LwM2M Server account/);
  });

  it('reads an unknown reason as itself, and asks before sending it', () => {
    expect(reasonChoice('reboot')).toMatchObject({ label: 'reboot', confirm: true });
  });

  it('sends only the reason: the server generates the next PSK', () => {
    expect(triggerBody('rotate')).toEqual({ reason: 'rotate' });
  });

  it('asks a question that names the endpoint and what happens', () => {
    expect(confirmText('rotate', 'dev-1')).toMatch(/^Rotate the PSK of dev-1\?.*retired once/);
    expect(confirmText('unbootstrap', 'dev-1')).toMatch(/^Unbootstrap dev-1\?.*every LwM2M Server account/);
    expect(confirmText('reconfigure', 'dev-1')).toMatch(/^Send dev-1 to bootstrap/);
  });
});

describe('describeTrigger', () => {
  it('says /1/x/9 was executed when the device answered 2.04', () => {
    expect(describeTrigger(answer({ path: '/1/0/9', code: '2.04' }))).toEqual([
      'Recorded; /1/0/9 executed: 2.04',
    ]);
  });

  it('says the reason waits for the next bootstrap when no Execute was sent, and why', () => {
    expect(describeTrigger(answer({ skipped: 'the device is not registered here' }))).toEqual([
      "Recorded for the device's next bootstrap: the device is not registered here",
    ]);
    expect(describeTrigger(answer({}))).toEqual([
      "Recorded for the device's next bootstrap: no trigger was sent",
    ]);
  });

  it('says so when the Execute was refused or got no answer', () => {
    expect(describeTrigger(answer({ path: '/1/3/9', code: '4.05' }))).toEqual([
      "Recorded for the device's next bootstrap: /1/3/9 answered 4.05",
    ]);
    expect(describeTrigger(answer({ path: '/1/3/9', skipped: 'timed out' }))).toEqual([
      "Recorded for the device's next bootstrap: /1/3/9 failed: timed out",
    ]);
  });

  it('names the next PSK of a rotation by identity and length only', () => {
    const lines = describeTrigger(
      answer(
        { skipped: 'the device is not registered here' },
        { reason: 'rotate', nextPsk: { identity: 'dev-1~0a1b2c3d', keyLength: 16 } },
      ),
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^Next PSK identity dev-1~0a1b2c3d \(16 bytes\) stored beside the current one/);
  });
});

describe('sessions and credentials', () => {
  it('keeps reconfigure quiet and labels the others', () => {
    expect(sessionReasonLabel({ reason: 'reconfigure' })).toBeUndefined();
    expect(sessionReasonLabel({ reason: 'rotate' })).toBe('Rotate PSK');
    expect(sessionReasonLabel({ reason: 'unbootstrap' })).toBe('Unbootstrap');
  });

  it('tells the rotation states apart', () => {
    expect(rotationText({})).toBeUndefined();
    expect(rotationText({ rotation: 'writing' })).toBe('rotation: writing the next PSK');
    expect(rotationText({ rotation: 'confirmed' })).toBe('rotation confirmed: old PSK retired');
  });

  it('shows a pending next PSK by identity and length', () => {
    expect(nextPskText(undefined)).toBeUndefined();
    expect(nextPskText({ identity: 'dev-1~aa', keyLength: 32 })).toBe(
      'rotation pending: next identity dev-1~aa (32 bytes)',
    );
  });
});
