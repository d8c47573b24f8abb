import { describe, expect, it } from 'vitest';
import { EMPTY_CAMPAIGN_FORM, campaignSpec, splitEndpoints, splitTags, targetText } from './campaign-form.js';
import type { CampaignForm } from './campaign-form.js';

const IMAGE = 'ab'.repeat(32);
const form = (patch: Partial<CampaignForm>): CampaignForm => ({
  ...EMPTY_CAMPAIGN_FORM,
  image: IMAGE,
  ...patch,
});

describe('campaign form', () => {
  it('splits endpoint lists and tags, dropping repeats', () => {
    expect(splitEndpoints(' dev-1, dev-2\ndev-3 dev-1 ,,')).toEqual(['dev-1', 'dev-2', 'dev-3']);
    expect(splitTags(' site-a , b,,site-a ')).toEqual(['site-a', 'b']);
  });

  it('an endpoint list with defaults: only what was filled is sent', () => {
    expect(campaignSpec(form({ endpoints: 'dev-1 dev-2', name: '  night run ' }))).toEqual({
      ok: true,
      spec: { image: IMAGE, targets: ['dev-1', 'dev-2'], method: 'auto', name: 'night run' },
    });
  });

  it('filters: a prefix (empty = every registered device) or tags, with a current version', () => {
    expect(
      campaignSpec(form({ targetMode: 'prefix', prefix: 'meter-', currentVersion: '1.0', method: 'push' })),
    ).toEqual({
      ok: true,
      spec: { image: IMAGE, targets: { endpointPrefix: 'meter-', currentVersion: '1.0' }, method: 'push' },
    });
    expect(campaignSpec(form({ targetMode: 'prefix' }))).toMatchObject({
      ok: true,
      spec: { targets: { endpointPrefix: '' } },
    });
    expect(campaignSpec(form({ targetMode: 'tags', tags: 'a, b' }))).toMatchObject({
      ok: true,
      spec: { targets: { tags: ['a', 'b'] } },
    });
  });

  it('numbers within the API bounds', () => {
    expect(
      campaignSpec(
        form({ endpoints: 'd', concurrency: '5', rate: '0.5', retries: '0', pollInterval: '250' }),
      ),
    ).toMatchObject({ ok: true, spec: { concurrency: 5, rate: 0.5, retries: 0, pollInterval: 250 } });
    const bad = campaignSpec(
      form({ endpoints: 'd', concurrency: '0', rate: '0', retries: '1.5', pollInterval: 'soon' }),
    );
    expect(bad).toEqual({
      ok: false,
      errors: {
        concurrency: 'must be 1 .. 10000',
        rate: 'must be over 0 and at most 100000',
        retries: 'must be a whole number',
        pollInterval: 'must be a number',
      },
    });
  });

  it('names the missing image, targets and tags', () => {
    expect(campaignSpec({ ...EMPTY_CAMPAIGN_FORM })).toEqual({
      ok: false,
      errors: { image: 'choose an image', endpoints: 'name at least one endpoint' },
    });
    expect(campaignSpec(form({ targetMode: 'tags', tags: ' , ' }))).toEqual({
      ok: false,
      errors: { tags: 'name at least one tag' },
    });
    expect(campaignSpec(form({ endpoints: 'x'.repeat(1025) }))).toMatchObject({ ok: false });
    expect(campaignSpec(form({ endpoints: 'd', name: 'n'.repeat(201) }))).toMatchObject({
      ok: false,
      errors: { name: 'at most 200 characters' },
    });
  });

  it('describes targets', () => {
    expect(targetText(undefined, 1)).toBe('1 device by name');
    expect(targetText({ endpointPrefix: '' }, 3)).toBe('3 devices: every registered device');
    expect(targetText({ tags: ['a', 'b'], currentVersion: '1.0' }, 2)).toBe(
      '2 devices: tags a, b · on version 1.0',
    );
  });
});
